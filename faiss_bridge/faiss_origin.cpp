// faiss_origin.cpp — dlsym(RTLD_NEXT), else the library of a vtable.
#include "faiss_origin.h"

#include <dlfcn.h>

#include <cstdio>
#include <mutex>
#include <string>

#include "faiss_headers.h" // FAISS_VERSION_*: the FAISS compiled against

namespace flashkm_bridge {
namespace {

// True when `p` lies in this plugin (so it is our definition, not FAISS's).
bool in_plugin(void *p) {
    Dl_info mine, theirs;
    if (dladdr(reinterpret_cast<void *>(&in_plugin), &mine) == 0 ||
        dladdr(p, &theirs) == 0)
        return false;
    return mine.dli_fbase == theirs.dli_fbase;
}

// The symbol in the shared object that holds the address `anchor`.
void *symbol_near(const char *symbol, const void *anchor) {
    Dl_info info;
    if (dladdr(anchor, &info) == 0 || info.dli_fname == nullptr)
        return nullptr;
    // RTLD_NOLOAD: only a library already in the process; the handle keeps
    // its reference count as it was once closed again.
    void *lib = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
    if (lib == nullptr)
        return nullptr;
    void *p = dlsym(lib, symbol);
    dlclose(lib);
    return p;
}

} // namespace

void *faiss_symbol(const char *symbol, const void *const *anchors,
                   int n_anchors) {
    void *p = dlsym(RTLD_NEXT, symbol);
    if (p != nullptr && !in_plugin(p))
        return p;
    for (int i = 0; i < n_anchors; i++) {
        if (anchors[i] == nullptr)
            continue;
        p = symbol_near(symbol, anchors[i]);
        if (p != nullptr && !in_plugin(p))
            return p;
    }
    return nullptr;
}

bool faiss_version_matches(const void *const *anchors, int n_anchors) {
#ifdef FLASHKM_BRIDGE_WRAP
    // Static form: FAISS is linked into the program from the headers the
    // wrapper was built with (the build checks them); nothing to look up.
    (void)anchors;
    (void)n_anchors;
    return true;
#endif
    static const std::string built =
            std::to_string(FAISS_VERSION_MAJOR) + "." +
            std::to_string(FAISS_VERSION_MINOR) + "." +
            std::to_string(FAISS_VERSION_PATCH);
    // std::string faiss::get_version() (FAISS >= 1.7.4).
    using get_version_fn = std::string (*)();
    auto get_version = reinterpret_cast<get_version_fn>(
            faiss_symbol("_ZN5faiss11get_versionB5cxx11Ev", anchors,
                         n_anchors));
    bool built_has_get_version =
            FAISS_VERSION_MAJOR * 10000 + FAISS_VERSION_MINOR * 100 +
                    FAISS_VERSION_PATCH >=
            10704;
    std::string running;
    bool match;
    if (get_version != nullptr) {
        running = get_version();
        match = running == built;
    } else {
        running = "1.7.3 or older (no faiss::get_version)";
        match = !built_has_get_version;
    }
    if (!match) {
        static std::once_flag warned;
        std::call_once(warned, [&] {
            std::fprintf(stderr,
                         "flashkm: running FAISS %s, plugin built for FAISS "
                         "%s: passing every call to FAISS\n",
                         running.c_str(), built.c_str());
        });
    }
    return match;
}

} // namespace flashkm_bridge
