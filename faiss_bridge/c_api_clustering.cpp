// c_api_clustering.cpp — the interposed C API entry points of libfaiss_c:
// faiss_Clustering_train and faiss_kmeans_clustering.
//
// With a libfaiss_c.so on top of a shared libfaiss.so the interposed
// Clustering::train already catches these calls; defining them here as
// well covers a libfaiss_c that binds FAISS's symbols internally. Whatever
// flashkm does not take is handed to libfaiss_c's own function (found with
// dlsym(RTLD_NEXT)), so FAISS's error codes and faiss_get_last_error()
// messages are FAISS's own. Nothing C++ crosses into the C caller.
#include <climits>
#include <cstdio>
#include <cstring>

#include "bridge_train.h"
#include "clustering_call.h"
#include "faiss_headers.h"
#include "faiss_origin.h"
#include "passthrough_guard.h"

#if __has_include(<faiss/c_api/Clustering_c.h>)
// The C API's own prototypes: the definitions below must match them.
#include <faiss/c_api/Clustering_c.h>
#include <faiss/c_api/Index_c.h>
#else
extern "C" {
typedef int64_t idx_t;
typedef struct FaissClustering_H FaissClustering;
typedef struct FaissIndex_H FaissIndex;
}
#endif

#define FLASHKM_BRIDGE_EXPORT __attribute__((visibility("default")))

namespace flashkm_bridge {
namespace {

using c_train_fn = int (*)(FaissClustering *, idx_t, const float *,
                           FaissIndex *);
using c_kmeans_fn = int (*)(size_t, size_t, size_t, const float *, float *,
                            float *);
using c_index_fn = int (*)(FaissIndex *);
using c_index_vec_fn = int (*)(FaissIndex *, idx_t, const float *);

int missing(const char *symbol) {
    std::fprintf(stderr, "flashkm: FAISS's own %s was not found in this "
                         "process\n", symbol);
    return -1;
}

// flashkm's centroids into the index through libfaiss_c's own functions:
// a failure there is recorded by libfaiss_c, for faiss_get_last_error().
int fill_index(const faiss::Clustering &clus, FaissIndex *index,
               const void *const *anchors, int n_anchors) {
    auto reset = reinterpret_cast<c_index_fn>(
            faiss_symbol("faiss_Index_reset", anchors, n_anchors));
    auto train = reinterpret_cast<c_index_vec_fn>(
            faiss_symbol("faiss_Index_train", anchors, n_anchors));
    auto add = reinterpret_cast<c_index_vec_fn>(
            faiss_symbol("faiss_Index_add", anchors, n_anchors));
    if (!reset || !train || !add)
        return missing("faiss_Index_reset/train/add");
    idx_t k = (idx_t)clus.k;
    int rc = reset(index);
    if (rc == 0 && index_train_before_add(clus))
        rc = train(index, k, clus.centroids.data());
    if (rc == 0)
        rc = add(index, k, clus.centroids.data());
    return rc;
}

// faiss::kmeans_clustering's call, by flashkm: a Clustering(d, k) with
// FAISS's defaults, verbose above 1 Gflop per iteration, an IndexFlatL2.
bool kmeans_with_flashkm(size_t d, size_t n, size_t k, const float *x,
                         float *centroids, float *q_error,
                         const void *const *anchors, int n_anchors) {
    const char *why = nullptr;
    if (!plugin_active(anchors, n_anchors, &why)) {
    } else if (d == 0 || k == 0 || d > INT_MAX || k > INT_MAX || n < k ||
               x == nullptr || centroids == nullptr) {
        why = "input FAISS checks itself";
    }
    if (why != nullptr) {
        log_passthrough(n, d, k, why);
        return false;
    }
    flashkm_params defaults;
    flashkm_params_init(&defaults);
    train_request rq{};
    rq.n = n;
    rq.d = d;
    rq.k = k;
    rq.x = x;
    rq.metric = FLASHKM_METRIC_L2;
    rq.niter = defaults.niter;
    rq.nredo = defaults.nredo;
    rq.verbose = d * n * k > (size_t(1) << 30);
    rq.spherical = defaults.spherical;
    rq.int_centroids = defaults.int_centroids;
    rq.frozen_centroids = defaults.frozen_centroids;
    rq.min_points_per_centroid = defaults.min_points_per_centroid;
    rq.max_points_per_centroid = defaults.max_points_per_centroid;
    rq.seed = defaults.seed;
    train_result result;
    if (run_flashkm(rq, &result) != verdict::trained || result.stats.empty())
        return false;
    std::memcpy(centroids, result.centroids.data(),
                sizeof(float) * d * k);
    if (q_error)
        *q_error = result.stats.back().objective; // FAISS: the last obj
    return true;
}

} // namespace
} // namespace flashkm_bridge

using namespace flashkm_bridge;

extern "C" FLASHKM_BRIDGE_EXPORT int faiss_Clustering_train(
        FaissClustering *clustering, idx_t n, const float *x,
        FaissIndex *index) {
    auto original = reinterpret_cast<c_train_fn>(
            faiss_symbol("faiss_Clustering_train", nullptr, 0));
    if (original == nullptr)
        return missing("faiss_Clustering_train");
    auto *clus = reinterpret_cast<faiss::Clustering *>(clustering);
    auto *idx = reinterpret_cast<faiss::Index *>(index);
    if (clus != nullptr && idx != nullptr) {
        const void *anchors[] = {reinterpret_cast<const void *>(original),
                                 vtable_of(clus), vtable_of(idx)};
        bool trained = false;
        try {
            trained = train_with_flashkm(*clus, n, x, *idx, nullptr,
                                         anchors, 3);
        } catch (...) { // only allocation failures: FAISS then tries
        }
        if (trained)
            return fill_index(*clus, index, anchors, 3);
    }
    passthrough_guard guard(clus);
    return original(clustering, n, x, index);
}

extern "C" FLASHKM_BRIDGE_EXPORT int faiss_kmeans_clustering(
        size_t d, size_t n, size_t k, const float *x, float *centroids,
        float *q_error) {
    auto original = reinterpret_cast<c_kmeans_fn>(
            faiss_symbol("faiss_kmeans_clustering", nullptr, 0));
    if (original == nullptr)
        return missing("faiss_kmeans_clustering");
    const void *anchors[] = {reinterpret_cast<const void *>(original)};
    try {
        if (kmeans_with_flashkm(d, n, k, x, centroids, q_error, anchors, 1))
            return 0;
    } catch (...) { // only allocation failures: FAISS then tries
    }
    passthrough_guard guard(nullptr); // its Clustering goes straight to FAISS
    return original(d, n, k, x, centroids, q_error);
}
