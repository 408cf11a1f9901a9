// faiss_origin.h — finding FAISS's own code behind the symbols we interpose.
//
// The plugin defines FAISS's symbols, so a plain call would reach itself.
// FAISS's definitions are found with dlsym(RTLD_NEXT) when FAISS sits in the
// global scope (a normal dependency), and otherwise — FAISS loaded
// RTLD_LOCAL, as Python loads its extension modules — in the library that
// holds the vtable of one of the call's FAISS objects (dladdr, then
// dlopen(RTLD_NOLOAD) and dlsym there). Nothing is cached: a lookup costs
// microseconds, a k-means call milliseconds at least.
#ifndef FLASHKM_BRIDGE_FAISS_ORIGIN_H
#define FLASHKM_BRIDGE_FAISS_ORIGIN_H

namespace flashkm_bridge {

// Address of `symbol` in the FAISS that owns the call, never one of the
// plugin's own; nullptr when none is found. `anchors` are addresses inside
// the libraries to search after RTLD_NEXT (see vtable_of); nullptrs are
// skipped.
void *faiss_symbol(const char *symbol, const void *const *anchors,
                   int n_anchors);

// The vtable address of a polymorphic object: it lies in the library that
// built the object (Itanium ABI: the object starts with its vptr).
inline const void *vtable_of(const void *object) {
    return object ? *static_cast<const void *const *>(object) : nullptr;
}

// True when the FAISS that owns the call has the version the plugin was
// compiled against (faiss/Index.h's FAISS_VERSION_*). FAISS >= 1.7.4
// reports it through faiss::get_version(); older ones have no such
// function, and its absence is taken as "1.7.3 or older". The first
// mismatch prints one warning line on stderr.
bool faiss_version_matches(const void *const *anchors, int n_anchors);

} // namespace flashkm_bridge

#endif
