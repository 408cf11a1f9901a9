// clustering_train.cpp — the interposed faiss::Clustering::train.
//
// Defining FAISS's own member function makes this plugin's definition win
// over libfaiss's for every caller that goes through the dynamic symbol:
// IndexIVF and ProductQuantizer training, faiss::kmeans_clustering (a PLT
// call in Debian's libfaiss), virtual calls through libfaiss's vtable, and
// Python's faiss.Kmeans.
//
// Built with FLASHKM_BRIDGE_WRAP (libflashkm_faiss_wrap.a), it defines
// __wrap_<symbol> instead, for programs linking FAISS statically with
// -Wl,--wrap=<symbol>.
#include <stdexcept>

#include "bridge_train.h"
#include "clustering_call.h"
#include "faiss_headers.h"
#include "faiss_origin.h"
#include "passthrough_guard.h"

namespace flashkm_bridge {
namespace {

using idx_t = faiss::Index::idx_t;
#ifndef FLASHKM_BRIDGE_WRAP
using train_fn = void (*)(faiss::Clustering *, idx_t, const float *,
                          faiss::Index &, const float *);

const char *const train_symbol =
        "_ZN5faiss10Clustering5trainElPKfRNS_5IndexES2_";
#endif

#ifdef FLASHKM_BRIDGE_WRAP
} // namespace
} // namespace flashkm_bridge
// Static form: the program is linked with --wrap=<train_symbol>, so FAISS's
// own definition is reached under the __real_ name.
extern "C" void __real__ZN5faiss10Clustering5trainElPKfRNS_5IndexES2_(
        faiss::Clustering *, faiss::Index::idx_t, const float *,
        faiss::Index &, const float *);
namespace flashkm_bridge {
namespace {

void faiss_train(faiss::Clustering &clus, idx_t n, const float *x,
                 faiss::Index &index, const float *weights) {
    __real__ZN5faiss10Clustering5trainElPKfRNS_5IndexES2_(&clus, n, x, index,
                                                          weights);
}
#else
// FAISS's own Clustering::train, given `this` explicitly (Itanium ABI).
void faiss_train(faiss::Clustering &clus, idx_t n, const float *x,
                 faiss::Index &index, const float *weights) {
    const void *anchors[] = {vtable_of(&clus), vtable_of(&index)};
    auto original =
            reinterpret_cast<train_fn>(faiss_symbol(train_symbol, anchors, 2));
    if (original == nullptr)
        throw std::runtime_error(
                "flashkm: FAISS's own faiss::Clustering::train was not found "
                "in this process");
    original(&clus, n, x, index, weights);
}
#endif

// flashkm's centroids into the index, as FAISS leaves it after training.
void fill_index(const faiss::Clustering &clus, faiss::Index &index) {
    index.reset();
    if (index_train_before_add(clus))
        index.train(clus.k, clus.centroids.data());
    index.add(clus.k, clus.centroids.data());
}

// Exceptions here are FAISS's (from its own code or from the index), as they
// would be without the plugin.
void clustering_train(faiss::Clustering &clus, idx_t n, const float *x,
                      faiss::Index &index, const float *weights) {
    const void *anchors[] = {vtable_of(&clus), vtable_of(&index)};
    if (!passthrough_guard::covers(&clus) &&
        train_with_flashkm(clus, n, x, index, weights, anchors, 2))
        fill_index(clus, index);
    else
        faiss_train(clus, n, x, index, weights);
}

} // namespace
} // namespace flashkm_bridge

#ifdef FLASHKM_BRIDGE_WRAP
extern "C" __attribute__((visibility("default"))) void
__wrap__ZN5faiss10Clustering5trainElPKfRNS_5IndexES2_(
        faiss::Clustering *self, faiss::Index::idx_t n, const float *x,
        faiss::Index &index, const float *weights) {
    flashkm_bridge::clustering_train(*self, n, x, index, weights);
}
#else
void faiss::Clustering::train(idx_t n, const float *x, faiss::Index &index,
                              const float *weights) {
    flashkm_bridge::clustering_train(*this, n, x, index, weights);
}
#endif
