// bridge_train.h — one k-means call as flashkm sees it, and the one place
// where flashkm's statuses become "trained" or "let FAISS do it".
//
// Nothing here touches a FAISS object: the callers (the interposed
// Clustering::train and the C API entry points) build a train_request from
// their arguments, and store a train_result only when run_flashkm says
// `trained`. Otherwise they call FAISS's own code with the untouched
// arguments, so FAISS's results, exceptions and messages reach the user.
#ifndef FLASHKM_BRIDGE_TRAIN_H
#define FLASHKM_BRIDGE_TRAIN_H

#include <cstddef>
#include <vector>

#include "flashkm.h"

namespace flashkm_bridge {

struct train_request {
    size_t n, d, k;
    const float *x;
    const float *weights;        // nullptr: all 1
    const float *init_centroids; // n_init_centroids rows, or nullptr
    size_t n_init_centroids;
    flashkm_metric metric;
    // FAISS's ClusteringParameters.
    int niter, nredo, verbose, spherical, int_centroids, frozen_centroids;
    int min_points_per_centroid, max_points_per_centroid, seed;
};

struct train_result {
    std::vector<float> centroids;              // k * d
    std::vector<flashkm_iteration_stats> stats; // what FAISS appends
};

enum class verdict { trained, use_faiss };

// Applies the engine policy (FLASHKM_ENGINE; without a GPU, auto means
// FAISS) and runs flashkm. `trained`: *result is filled. `use_faiss`: the
// caller must run FAISS's own code: flashkm refused the input (FAISS then
// raises its own error, or computes what it accepts), or failed at run time
// (then one warning line on stderr says why). Never throws.
verdict run_flashkm(const train_request &request, train_result *result);

// With FLASHKM_VERBOSE=1: one stderr line saying FAISS trains this call,
// and why.
void log_passthrough(size_t n, size_t d, size_t k, const char *why);

} // namespace flashkm_bridge

#endif
