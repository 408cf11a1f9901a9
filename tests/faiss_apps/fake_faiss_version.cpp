// fake_faiss_version.cpp — pretends the running FAISS is 1.99.0.
//
// faiss::get_version() exists from FAISS 1.7.4 on; preloaded after the
// plugin, this one is what the plugin's version check finds, so the
// faiss_app_cxx_version_mismatch test sees the plugin refuse to touch a
// FAISS it was not built for (one warning, every call to FAISS).
#include <string>

namespace faiss {
__attribute__((visibility("default"))) std::string get_version() {
    return "1.99.0";
}
} // namespace faiss
