// faiss_runner.h — the same training done by FAISS 1.7.3 itself
// (faiss::Clustering with IndexFlatL2 / IndexFlatIP), from flashkm params.
#ifndef FKM_TEST_FAISS_RUNNER_H
#define FKM_TEST_FAISS_RUNNER_H
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "flashkm.h"

namespace fkmtest {

struct FaissStats {
    float obj;
    double imbalance_factor;
    int nsplit;
};

struct FaissResult {
    bool threw = false;
    std::string what;                 // the exception's text when threw
    std::vector<float> centroids;     // k * d
    std::vector<FaissStats> stats;    // iteration_stats
    std::vector<int64_t> labels;      // search of x on the final index
    std::vector<float> distances;
};

// Runs faiss::Clustering(d, k, params-as-ClusteringParameters).train(n, x,
// IndexFlat{L2,IP}(d), params.weights), with params.init_centroids copied
// into clus.centroids first. Labels/distances come from searching x in the
// index the training leaves behind (the final centroids).
FaissResult faiss_train(const flashkm_params &p, size_t n, size_t d, size_t k,
                        const float *x, bool with_labels = true);

// FAISS's ClusteringParameters defaults, for comparison with
// flashkm_params_init().
struct FaissDefaults {
    int niter, nredo, verbose, spherical, int_centroids, frozen_centroids;
    int min_points_per_centroid, max_points_per_centroid, seed;
};
FaissDefaults faiss_defaults();

}  // namespace fkmtest
#endif
