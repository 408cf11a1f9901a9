#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what is missing, builds
# the local FAISS to test against, then builds and runs every test twice —
# a Release build (with the GPU engine when nvcc is present; its tests skip
# themselves without a GPU) and an AddressSanitizer + UndefinedBehavior-
# Sanitizer build of the host code.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=$(nproc)
[ -d /usr/local/cuda/bin ] && export PATH="$PATH:/usr/local/cuda/bin"

./scripts/setup.sh
./scripts/build_faiss_local.sh

run_config() {  # name, then cmake options
  local name=$1; shift
  local dir="$root/build-$name"
  echo "test: configuring $name"
  cmake -S "$root" -B "$dir" -DFLASHKM_FAISS_PREFIX="$root/.deps/faiss" "$@" >"$dir.configure.log" 2>&1 \
    || { cat "$dir.configure.log"; return 1; }
  grep '^-- flashkm' "$dir.configure.log" || true
  echo "test: building $name"
  cmake --build "$dir" -j "$jobs" >"$dir.build.log" 2>&1 || { tail -50 "$dir.build.log"; return 1; }
  echo "test: running $name"
  (cd "$dir" && ctest --output-on-failure -j "$jobs" --timeout 600)
}

mkdir -p "$root/build-release" "$root/build-asan"
run_config release -DCMAKE_BUILD_TYPE=Release
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  run_config asan -DCMAKE_BUILD_TYPE=Debug -DFLASHKM_CUDA=OFF -DFLASHKM_BENCH=OFF \
    -DFLASHKM_SANITIZE=address,undefined
