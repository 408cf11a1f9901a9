#!/usr/bin/env bash
# fuzz.sh — build and run flashkm's libFuzzer harnesses (tests/fuzz/).
#
#   scripts/fuzz.sh build                 configure + build build-fuzz/ (clang)
#   scripts/fuzz.sh run [TARGET] [SECS]   fuzz TARGET (capi | clustering,
#                                         default capi) for SECS seconds
#                                         (default 600), niced, one job,
#                                         then merge the minimised corpus
#                                         back into tests/fuzz/corpus/TARGET
#   scripts/fuzz.sh replay [TARGET]       run the committed corpus once
#                                         (no new fuzzing); exit 1 on any
#                                         finding
#
# The fuzz build is its own small CMake project (tests/fuzz/CMakeLists.txt)
# because libFuzzer needs clang and the main build uses gcc. Logs:
# build-fuzz/fuzz-TARGET.log (libFuzzer's final stats at its end).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$repo/build-fuzz
cmd=${1:-run}
target=${2:-capi}
secs=${3:-600}
corpus=$repo/tests/fuzz/corpus/$target
bin=$build/flashkm_fuzz_$target
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

do_build() {
    command -v clang >/dev/null || { echo "fuzz.sh: clang not found" >&2; exit 1; }
    mkdir -p "$build"
    CC=clang CXX=clang++ cmake -S "$repo/tests/fuzz" -B "$build" \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFLASHKM_FUZZ=ON \
        -DFKM_FAISS_PREFIX="$repo/.deps/faiss" >"$build/configure.log" 2>&1 ||
        { cat "$build/configure.log"; exit 1; }
    nice -n 10 cmake --build "$build" -j "${FLASHKM_JOBS:-1}"
}

case $cmd in
build)
    do_build ;;
run)
    do_build
    work=$build/corpus-$target
    mkdir -p "$work" "$corpus"
    cp -n "$corpus"/* "$work"/ 2>/dev/null || true
    # -close_fd_mask=2: the library's own stderr lines (FAISS's warning) stay
    # out of the log; libFuzzer and the sanitizers still report.
    (cd "$build" && nice -n 10 "$bin" -max_total_time="$secs" -jobs=1 \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -close_fd_mask=2 "$work" >"$build/fuzz-$target.run.log" 2>&1) || true
    log=$build/fuzz-0.log
    cp "$log" "$build/fuzz-$target.log"
    if grep -qE 'ERROR: libFuzzer|SUMMARY: (Address|Undefined|Leak)|==ERROR|invariant broken' "$log"; then
        echo "fuzz.sh: FINDING — see $build/fuzz-$target.log" >&2
        ls "$build"/crash-* "$build"/leak-* "$build"/timeout-* 2>/dev/null >&2 || true
        exit 1
    fi
    grep -E '^Done |stat::number_of_executed_units|stat::peak_rss' "$log" || true
    # Keep only inputs that add coverage, as the committed corpus.
    min=$build/corpus-$target.min
    rm -rf "$min" && mkdir -p "$min"
    nice -n 10 "$bin" -merge=1 "$min" "$work" >"$build/merge-$target.log" 2>&1
    rm -f "$corpus"/* && cp "$min"/* "$corpus"/
    echo "fuzz.sh: corpus $corpus: $(ls "$corpus" | wc -l) files," \
         "$(cat "$corpus"/* | wc -c) bytes"
    ;;
replay)
    [[ -x $bin ]] || do_build
    "$bin" -runs=0 "$corpus" 2>&1 | grep -E 'INITED|DONE|ERROR|SUMMARY' ;
    exit "${PIPESTATUS[0]}" ;;
*)
    sed -n '2,17p' "$0"; exit 2 ;;
esac
