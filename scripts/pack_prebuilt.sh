#!/usr/bin/env bash
# pack_prebuilt.sh — builds here the CUDA-enabled plugin, the main job's
# FAISS program and the C and C++ FAISS apps, and copies them with the shared
# libraries they need (libfaiss.so and libfaiss_c.so from .deps/faiss,
# Debian's OpenBLAS and its Fortran runtime) into one folder, for
# `main_job.sh --prebuilt DIR` and tests/faiss_apps/check_app.py on a GPU
# machine whose image has no Debian FAISS. Usage: scripts/pack_prebuilt.sh [DIR]
# (default <repo>/.carry/prebuilt, git-ignored).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=${1:-$repo/.carry/prebuilt}
build=$repo/build-prebuilt
[[ -d /usr/local/cuda/bin ]] && PATH=$PATH:/usr/local/cuda/bin
"$repo/scripts/build_faiss_local.sh" >/dev/null
cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DFLASHKM_CUDA=ON \
    -DFLASHKM_BENCH=OFF -DFLASHKM_FAISS_PREFIX="$repo/.deps/faiss" >"$build.log" 2>&1
cmake --build "$build" -j "$(nproc)" --target flashkm_faiss ivf_train_compare faiss_c_app faiss_cxx_app >>"$build.log" 2>&1 \
    || { tail -30 "$build.log"; exit 1; }
mkdir -p "$dest"
cp "$build/faiss_bridge/libflashkm_faiss.so" "$build/tests/faiss_apps/"{ivf_train_compare,faiss_c_app,faiss_cxx_app} "$dest/"
cp "$repo/.deps/faiss/lib/"{libfaiss.so,libfaiss_c.so} "$dest/"
for lib in libopenblas.so.0 libgfortran.so.5 libquadmath.so.0 libgomp.so.1; do
    cp -L "/usr/lib/x86_64-linux-gnu/$lib" "$dest/"
done
echo "pack_prebuilt: $(du -sh "$dest" | cut -f1) in $dest"
