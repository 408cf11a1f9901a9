#!/usr/bin/python3
"""check_app.py — run one FAISS app without and with libflashkm_faiss.so
(LD_PRELOAD) and compare what it wrote (see app_common.h for the format).

  check_app.py --expect takeover|passthrough --plugin SO
               [--env K=V ...] [--plugin-env K=V ...]
               [--expect-stderr REGEX] [--preload-after SO] -- APP ARGS...
  check_app.py ... --plugin-app APP2 -- APP ARGS...
               (the plugin run runs APP2, APP linked with the plugin, e.g.
               statically with --wrap, instead of preloading)
  check_app.py --skip REASON     (prints it, exits 77: ctest's "skipped")

The app gets its output file as its last argument. Both runs get
FLASHKM_VERBOSE=1 and OMP_NUM_THREADS=1 (unless --env sets it: a loaded
2-core machine makes spinning OpenMP threads slow); the plugin run also
FLASHKM_ENGINE=cpu, then --plugin-env.

takeover:    the plugin's "flashkm: engine=" line is in the plugin run's
             stderr; floats agree within 1e-4 relative (centroids, index
             contents) or 1e-3 (objectives), ints (nsplit per iteration,
             so the iteration_stats length too) and error texts exactly,
             recalls within 0.005.
passthrough: no such line, and the two files are identical byte for byte:
             FAISS's own results, messages and exceptions, unchanged.
Neither run may print the line without the plugin.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

TAKEOVER = re.compile(r'^flashkm: engine=(cpu|gpu) ', re.M)


def parse_env(items):
    env = {}
    for item in items:
        key, _, value = item.partition('=')
        env[key] = value
    return env


def run(cmd, env, out, label):
    start = time.monotonic()
    proc = subprocess.run(cmd + [out], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=600)
    sys.stdout.write('--- %s: exit %d in %.2f s (whole program), stderr:\n%s' %
                     (label, proc.returncode, time.monotonic() - start,
                      proc.stderr))
    if proc.returncode != 0:
        sys.exit('FAIL: %s run exited with %d' % (label, proc.returncode))
    return proc.stderr


def records(path):
    recs = {}
    with open(path) as f:
        for line in f:
            kind, name, rest = line.rstrip('\n').split(' ', 2)
            recs[name] = (kind, rest)
    return recs


def rel_diff(a, b):
    scale = max(max((abs(v) for v in a), default=0.0), 1e-30)
    return max((abs(x - y) for x, y in zip(a, b)), default=0.0) / scale


def compare(base, plug):
    """Returns the list of failures, printing one line per record."""
    fails = []
    if base.keys() != plug.keys():
        return ['records differ: %s vs %s' % (sorted(base), sorted(plug))]
    for name, (kind, rest) in base.items():
        pkind, prest = plug[name]
        ok, note = True, ''
        if kind != pkind:
            ok, note = False, 'kinds %s vs %s' % (kind, pkind)
        elif kind in ('error', 'ints'):
            ok = rest == prest
            note = 'exact' if ok else 'differ'
        else:
            a = [float(v) for v in rest.split()]
            b = [float(v) for v in prest.split()]
            if a[0] != b[0]:
                ok, note = False, 'lengths %d vs %d' % (a[0], b[0])
            elif kind == 'recall':
                ok = abs(a[1] - b[1]) <= 0.005
                note = 'faiss %.4f flashkm %.4f' % (a[1], b[1])
            else:
                tol = 1e-3 if name.endswith(('_obj', '_q_error')) else 1e-4
                d = rel_diff(a[1:], b[1:])
                ok = d <= tol
                note = 'max relative difference %.2e (tolerance %g)' % (d, tol)
        print('%-4s %-8s %-24s %s' % ('ok' if ok else 'FAIL', kind, name, note))
        if not ok:
            fails.append('%s: %s' % (name, note))
    return fails


def main():
    if len(sys.argv) == 3 and sys.argv[1] == '--skip':
        print('SKIPPED: ' + sys.argv[2])
        sys.exit(77)  # ctest's SKIP_RETURN_CODE for these tests
    ap = argparse.ArgumentParser()
    ap.add_argument('--expect', choices=('takeover', 'passthrough'),
                    required=True)
    ap.add_argument('--plugin', required=True)
    ap.add_argument('--env', action='append', default=[])
    ap.add_argument('--plugin-env', action='append', default=[])
    ap.add_argument('--preload-first', default='',
                    help='a sanitizer runtime the plugin needs loaded first')
    ap.add_argument('--preload-after', default='',
                    help='a library preloaded after the plugin')
    ap.add_argument('--plugin-app', default='',
                    help='instead of preloading --plugin, run this program '
                         '(the same app linked with the plugin) in its place')
    ap.add_argument('--expect-stderr', default='',
                    help='a regular expression the plugin run must print')
    ap.add_argument('cmd', nargs='+')
    args = ap.parse_args()

    env = {k: v for k, v in os.environ.items()
           if k != 'LD_PRELOAD' and not k.startswith('FLASHKM_')}
    env.update({'OMP_NUM_THREADS': '1', 'FLASHKM_VERBOSE': '1'})
    env.update(parse_env(args.env))
    plugin_env = dict(env, FLASHKM_ENGINE='cpu')
    plugin_env.update(parse_env(args.plugin_env))
    plugin_cmd = list(args.cmd)
    if args.plugin_app:
        plugin_cmd[0] = args.plugin_app
    else:
        preload = [p for p in (args.preload_first, args.plugin,
                               args.preload_after) if p]
        plugin_env['LD_PRELOAD'] = ':'.join(preload)
        if args.preload_first:
            # The host program (Python, FAISS) is not ours to leak-check.
            plugin_env['ASAN_OPTIONS'] = ':'.join(
                filter(None, [plugin_env.get('ASAN_OPTIONS', ''),
                              'detect_leaks=0']))

    with tempfile.TemporaryDirectory() as tmp:
        base_out = os.path.join(tmp, 'faiss.txt')
        plug_out = os.path.join(tmp, 'flashkm.txt')
        base_err = run(args.cmd, env, base_out, 'FAISS alone')
        plug_err = run(plugin_cmd, plugin_env, plug_out, 'with flashkm')
        fails = []
        if TAKEOVER.search(base_err):
            fails.append('a flashkm line without the plugin')
        took = TAKEOVER.search(plug_err) is not None
        if took != (args.expect == 'takeover'):
            fails.append('plugin run: flashkm line %s, expected %s' %
                         ('present' if took else 'absent', args.expect))
        if args.expect_stderr and not re.search(args.expect_stderr, plug_err):
            fails.append('plugin run did not print %r' % args.expect_stderr)
        if args.expect == 'passthrough':
            with open(base_out, 'rb') as a, open(plug_out, 'rb') as b:
                same = a.read() == b.read()
            print('%s results byte-identical' % ('ok' if same else 'FAIL'))
            if not same:
                compare(records(base_out), records(plug_out))
                fails.append('results differ from FAISS alone')
        else:
            fails += compare(records(base_out), records(plug_out))
    if fails:
        sys.exit('FAIL: ' + '; '.join(fails))
    print('PASS')


if __name__ == '__main__':
    main()
