#!/usr/bin/env bash
# main_job.sh — FAISS trains "IVF<nlist>,Flat" with an unmodified C++ FAISS
# program (tests/faiss_apps/ivf_train_compare.cpp), once as is and once with
# LD_PRELOAD=libflashkm_faiss.so; prints both training times, the speedup,
# how well the coarse centroids agree, and both indexes' recall@10.
#
#   scripts/main_job.sh            IVF1024,Flat on 200000 x 128 (minutes on a
#                                  2-core CPU machine)
#   scripts/main_job.sh --full     IVF4096,Flat on 1000000 x 128 (for GPU
#                                  machines: FAISS's CPU side alone takes
#                                  ~10 minutes on 2 cores)
#   options: --n N --d D --nlist L --nq Q --nprobe P --build-dir DIR
#            --prebuilt DIR  use the program, the plugin and their shared
#                            libraries from DIR (made by
#                            scripts/pack_prebuilt.sh) instead of building:
#                            for GPU machines without Debian's FAISS
#
# Without a GPU, the flashkm run uses flashkm's CPU engine
# (FLASHKM_ENGINE=cpu); with one, the plugin's default (the GPU).
# Extra CMake arguments: FLASHKM_CMAKE_ARGS. Build log: <build-dir>/main_job_build.log
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
n=200000 d=128 nlist=1024 nq=1000 nprobe=16 full=0 prebuilt=
build=$repo/build-main
while [[ $# -gt 0 ]]; do
    case $1 in
    --full) full=1 n=1000000 nlist=4096; shift ;;
    --n) n=$2; shift 2 ;;
    --d) d=$2; shift 2 ;;
    --nlist) nlist=$2; shift 2 ;;
    --nq) nq=$2; shift 2 ;;
    --nprobe) nprobe=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    --prebuilt) prebuilt=$(cd "$2" && pwd); shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | cut -c3-; exit 0 ;;
    *) echo "main_job: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

say() { printf 'main_job: %s\n' "$*"; }
[[ -d /usr/local/cuda/bin ]] && PATH=$PATH:/usr/local/cuda/bin # nvcc, if any

say "IVF$nlist,Flat on ${n}x$d, nprobe $nprobe, $nq queries$(
    [[ $full == 1 ]] || echo " (the full 1M x 4096 run is for GPU machines: --full)")"

# --- build (or take prebuilt): the local shared FAISS, the plugin, the program
if [[ -n $prebuilt ]]; then
    prog=$prebuilt/ivf_train_compare
    plugin=$prebuilt/libflashkm_faiss.so
    export LD_LIBRARY_PATH=$prebuilt${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    say "prebuilt $(basename "$plugin") and $(basename "$prog") from $prebuilt"
else
    "$repo/scripts/build_faiss_local.sh" >/dev/null
    mkdir -p "$build"
    log=$build/main_job_build.log
    # shellcheck disable=SC2086  # FLASHKM_CMAKE_ARGS is a list of arguments
    if ! { cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release \
            -DFLASHKM_TESTS=ON -DFLASHKM_BENCH=OFF \
            -DFLASHKM_FAISS_PREFIX="$repo/.deps/faiss" ${FLASHKM_CMAKE_ARGS:-} &&
           cmake --build "$build" -j "${FLASHKM_JOBS:-2}" \
               --target flashkm_faiss ivf_train_compare; } >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        say "build failed (log: $log)"
        exit 1
    fi
    prog=$build/tests/faiss_apps/ivf_train_compare
    plugin=$build/faiss_bridge/libflashkm_faiss.so
    say "built $(basename "$plugin") and $(basename "$prog") in $build"
fi

engine_env=()
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    say "GPU: $(nvidia-smi -L | head -n1); flashkm uses its default engine"
else
    engine_env=(FLASHKM_ENGINE=cpu)
    say "no GPU: the flashkm run uses flashkm's CPU engine (FLASHKM_ENGINE=cpu)"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
args=(train --n "$n" --d "$d" --nlist "$nlist" --nq "$nq" --nprobe "$nprobe")

# --- the two runs ---------------------------------------------------------------
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" "$2" | tail -n1; }

SECONDS=0
env -u LD_PRELOAD "$prog" "${args[@]}" --centroids "$tmp/faiss.bin" \
    >"$tmp/faiss.out" 2>&1 || { cat "$tmp/faiss.out" >&2; exit 1; }
say "run 1, FAISS alone: ${SECONDS} s (data, train, add, search)"
SECONDS=0
env LD_PRELOAD="$plugin" FLASHKM_VERBOSE=1 "${engine_env[@]}" \
    "$prog" "${args[@]}" --centroids "$tmp/flashkm.bin" \
    >"$tmp/flashkm.out" 2>&1 || { cat "$tmp/flashkm.out" >&2; exit 1; }
say "run 2, FAISS with LD_PRELOAD=$(basename "$plugin"): ${SECONDS} s"
"$prog" compare "$tmp/faiss.bin" "$tmp/flashkm.bin" "$d" >"$tmp/compare.out"

t_faiss=$(field train_s "$tmp/faiss.out")
t_fkm=$(field train_s "$tmp/flashkm.out")
took=$(grep -m1 '^flashkm: engine=' "$tmp/flashkm.out" || true)
[[ -n $took ]] || { cat "$tmp/flashkm.out" >&2; say "the plugin did not take over"; exit 1; }

say "plugin: $took"
printf '\n%-28s %14s %14s\n' "" "FAISS" "FAISS+flashkm"
printf '%-28s %14s %14s\n' "training time (s)" "$t_faiss" "$t_fkm"
printf '%-28s %14s %14s\n' "recall@10 (nprobe $nprobe)" \
    "$(field recall10 "$tmp/faiss.out")" "$(field recall10 "$tmp/flashkm.out")"
printf '%-28s %14s\n' "speedup" "$(awk -v a="$t_faiss" -v b="$t_fkm" \
    'BEGIN { printf "%.2fx", a / b }')"
printf '%-28s %s (relative to the largest coordinate)\n' "centroid agreement" \
    "$(sed 's/^agreement //' "$tmp/compare.out")"
