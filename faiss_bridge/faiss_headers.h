// faiss_headers.h — FAISS's headers, as the plugin must see them.
//
// The plugin is compiled with hidden visibility, but it defines one of
// FAISS's member functions (Clustering::train), which must be exported to
// interpose libfaiss's. Declaring FAISS's classes with default visibility
// makes that definition exportable; exports.map then exports exactly the
// interposed symbols and keeps everything else (Clustering's vtable, which
// this plugin also emits because train is its key function) local.
#ifndef FLASHKM_BRIDGE_FAISS_HEADERS_H
#define FLASHKM_BRIDGE_FAISS_HEADERS_H

#pragma GCC visibility push(default)
#include <faiss/Clustering.h>
#include <faiss/Index.h>
#pragma GCC visibility pop

#endif
