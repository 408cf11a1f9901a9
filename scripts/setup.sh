#!/usr/bin/env bash
# Installs every Debian package flashkm needs to build, test and run its
# FAISS comparisons. Idempotent and quiet: one line per step. The CUDA
# toolkit is not a Debian package here; it comes with the machine, and
# without it the build is CPU-only.
set -euo pipefail

packages=(
  cmake make gcc g++ pkg-config          # the build
  libopenblas-dev                        # the CPU engine's sgemm
  libfaiss-dev                           # FAISS 1.7.3 to test against and to bridge
  libgtest-dev                           # the test suite
  python3 python3-faiss python3-numpy    # the Python FAISS path
  clang libclang-rt-14-dev               # libFuzzer and sanitizer runtimes
  ca-certificates xz-utils               # fetching Debian's faiss source for libfaiss_c
)

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} Debian packages already installed"
else
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "setup: installed ${#missing[@]} packages"
fi

if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
  echo "setup: CUDA toolkit found: the GPU engine will be built"
else
  echo "setup: no CUDA toolkit: the build will be CPU-only"
fi
