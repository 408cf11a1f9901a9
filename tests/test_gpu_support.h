// test_gpu_support.h — shared by the test_gpu_*.cpp files: GPU / CPU
// parameter sets and the comparison of a GPU run with a CPU run.
#ifndef FKM_TEST_GPU_SUPPORT_H
#define FKM_TEST_GPU_SUPPORT_H
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "flashkm.h"
#include "support/gmm.h"
#include "support/reference.h"
#include "support/train_helpers.h"

#define FKM_REQUIRE_GPU() \
    if (!flashkm_gpu_available()) GTEST_SKIP() << "no CUDA device"

namespace fkmtest {

inline flashkm_params gpu_params(flashkm_precision prec = FLASHKM_PRECISION_FP32) {
    flashkm_params p = default_params();
    p.engine = FLASHKM_ENGINE_GPU;
    p.precision = prec;
    return p;
}

inline flashkm_params cpu_params() {
    flashkm_params p = default_params();
    p.engine = FLASHKM_ENGINE_CPU;
    return p;
}

inline std::vector<float> mixture(size_t n, size_t d, size_t centres, uint64_t seed) {
    MixtureSpec s;
    s.n = n;
    s.d = d;
    s.centres = centres;
    s.seed = seed;
    return gaussian_mixture(s);
}

// Number of labels that differ.
inline size_t label_mismatches(const TrainResult &a, const TrainResult &b) {
    size_t m = 0;
    for (size_t i = 0; i < a.labels.size(); i++) m += a.labels.v[i] != b.labels.v[i];
    return m;
}

// max |a - b| / max |b|
inline double centroid_rel_diff(const TrainResult &a, const TrainResult &b) {
    return max_rel_diff(a.centroids.v.data(), b.centroids.v.data(), a.centroids.size());
}

}  // namespace fkmtest
#endif
