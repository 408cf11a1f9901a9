#!/usr/bin/env bash
# faiss_kit.sh — FAISS for a machine whose image has none (the lent GPU
# machines): the local shared FAISS that build_faiss_local.sh makes from
# Debian's packages (headers, libfaiss.so, libfaiss_c.so) plus the shared
# libraries they need at run time (Debian's OpenBLAS, its Fortran runtime,
# libgomp), in one folder with include/ and lib/. A build there points
# FLASHKM_FAISS_PREFIX at it (scripts/gpu_check.sh does, when it is present).
# Usage: scripts/faiss_kit.sh [DIR]   (default <repo>/.carry/faiss-kit, git-ignored)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=${1:-$repo/.carry/faiss-kit}
"$repo/scripts/build_faiss_local.sh" >/dev/null
rm -rf "$dest" && mkdir -p "$dest/lib"
cp -r "$repo/.deps/faiss/include" "$dest/"
cp "$repo/.deps/faiss/lib/"{libfaiss.so,libfaiss_c.so} "$dest/lib/"
for lib in libopenblas.so.0 libgfortran.so.5 libquadmath.so.0 libgomp.so.1; do
    cp -L "/usr/lib/x86_64-linux-gnu/$lib" "$dest/lib/"
done
echo "faiss_kit: $(du -sh "$dest" | cut -f1) in $dest"
