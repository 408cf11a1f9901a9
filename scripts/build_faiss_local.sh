#!/usr/bin/env bash
# build_faiss_local.sh — a shared FAISS (libfaiss.so + libfaiss_c.so) from
# Debian's packages, for the FAISS-app tests and the main job.
#
# Why: Debian ships FAISS only as a static PIC archive (libfaiss-dev) and no
# C API library. LD_PRELOAD interposition is shown on the way users really
# link FAISS: a shared libfaiss.so, and libfaiss_c.so on top of it.
#
#   libfaiss.so   = /usr/lib/x86_64-linux-gnu/libfaiss.a, whole archive,
#                   + openblas + gomp
#   libfaiss_c.so = c_api/*.cpp of Debian's faiss source package (fetched
#                   with a private apt source list; the system's lists are
#                   not touched), with an rpath to libfaiss.so
#   include/faiss/**.h (the installed headers: libfaiss.a's own) and
#   include/faiss/c_api/*.h — a self-contained prefix, which can be copied
#   to a machine without libfaiss-dev
#
# Usage: scripts/build_faiss_local.sh [PREFIX]   (default <repo>/.deps/faiss)
# Idempotent: each step is skipped when its output exists. One line per step.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prefix=${1:-$repo/.deps/faiss}
mkdir -p "$prefix/lib" "$prefix/include/faiss" "$prefix/src"
prefix=$(cd "$prefix" && pwd)
archive=/usr/lib/x86_64-linux-gnu/libfaiss.a
CXX=${CXX:-g++}
jobs=${FLASHKM_JOBS:-2}

step() { printf 'build_faiss_local: %s\n' "$*"; }
die() { printf 'build_faiss_local: error: %s\n' "$*" >&2; exit 1; }

# Only the steps with something to do need Debian's packages.
need_dev() {
    [[ -f $archive && -f /usr/include/faiss/Clustering.h ]] ||
        die "$archive or /usr/include/faiss missing (apt-get install libfaiss-dev)"
}

# --- 1. libfaiss.so from the PIC archive ------------------------------------
if [[ -f $prefix/lib/libfaiss.so ]]; then
    step "libfaiss.so: present"
else
    need_dev
    "$CXX" -shared -o "$prefix/lib/libfaiss.so.tmp" -Wl,-soname,libfaiss.so \
        -Wl,--whole-archive "$archive" -Wl,--no-whole-archive \
        -lopenblas -fopenmp -lm -lpthread
    mv "$prefix/lib/libfaiss.so.tmp" "$prefix/lib/libfaiss.so"
    step "libfaiss.so: linked from $archive"
fi

# --- 2. the C API sources (Debian's faiss source package) --------------------
capi_src=$prefix/src/c_api
if [[ -f $capi_src/Clustering_c.cpp ]]; then
    step "c_api sources: present"
else
    work=$prefix/src/apt
    mkdir -p "$work/lists/partial"
    tarball=$(ls "$work"/faiss_*.orig.tar.* 2>/dev/null | head -n1 || true)
    if [[ -z $tarball ]]; then
        cat >"$work/src.sources" <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
        aptopts=(-o Dir::Etc::SourceParts=/dev/null
                 -o "Dir::Etc::sourcelist=$work/src.sources"
                 -o "Dir::State::Lists=$work/lists"
                 -o Debug::NoLocking=1)
        apt-get "${aptopts[@]}" -qq update >"$work/apt.log" 2>&1 ||
            die "apt-get update failed (see $work/apt.log)"
        (cd "$work" && apt-get "${aptopts[@]}" -qq source --download-only \
            faiss >>"$work/apt.log" 2>&1) ||
            die "apt-get source faiss failed (see $work/apt.log)"
        tarball=$(ls "$work"/faiss_*.orig.tar.* | head -n1)
    fi
    rm -rf "$work/x" && mkdir -p "$work/x"
    tar -xf "$tarball" -C "$work/x" --wildcards '*/c_api/*'
    rm -rf "$capi_src"
    mv "$work"/x/*/c_api "$capi_src"
    step "c_api sources: unpacked from $(basename "$tarball")"
fi

# --- 3. headers: the C++ ones libfaiss.a was built from, then the C API's ------
if [[ -f $prefix/include/faiss/Clustering.h ]]; then
    step "faiss headers: present"
else
    need_dev
    (cd /usr/include/faiss && find . -name '*.h' ! -path './c_api/*' -print0 |
        xargs -0 cp --parents -t "$prefix/include/faiss")
    step "faiss headers: copied from /usr/include/faiss"
fi

if [[ -f $prefix/include/faiss/c_api/Clustering_c.h ]]; then
    step "c_api headers: present"
else
    mkdir -p "$prefix/include/faiss/c_api"
    (cd "$capi_src" && find . -name '*.h' ! -path './gpu/*' -print0 |
        xargs -0 cp --parents -t "$prefix/include/faiss/c_api")
    step "c_api headers: installed in $prefix/include/faiss/c_api"
fi

# --- 4. libfaiss_c.so ---------------------------------------------------------
if [[ -f $prefix/lib/libfaiss_c.so ]]; then
    step "libfaiss_c.so: present"
else
    need_dev
    obj=$prefix/src/c_api_obj
    mkdir -p "$obj"
    # c_api/ sources include "faiss_c.h" and <faiss/...>; the installed
    # headers are the ones libfaiss.a was built from.
    find "$capi_src" -maxdepth 2 -name '*.cpp' ! -path '*/gpu/*' -print0 |
        xargs -0 -P "$jobs" -I{} sh -c '
            f={}; o="$2/$(echo "${f#$1/}" | tr / _).o"
            [ -f "$o" ] || $3 -std=c++17 -O2 -fPIC -DNDEBUG -I"$1" -I"$1/.." \
                -c "$f" -o "$o"' _ "$capi_src" "$obj" "$CXX"
    "$CXX" -shared -o "$prefix/lib/libfaiss_c.so.tmp" -Wl,-soname,libfaiss_c.so \
        "$obj"/*.o -L"$prefix/lib" -lfaiss -Wl,-rpath,'$ORIGIN'
    mv "$prefix/lib/libfaiss_c.so.tmp" "$prefix/lib/libfaiss_c.so"
    step "libfaiss_c.so: built from $(ls "$obj"/*.o | wc -l) c_api sources"
fi
step "ready: $prefix"
