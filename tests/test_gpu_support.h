// test_gpu_support.h — shared by the test_gpu_*.cpp files: GPU / CPU
// parameter sets and the comparison of a GPU run with a CPU run.
#ifndef FKM_TEST_GPU_SUPPORT_H
#define FKM_TEST_GPU_SUPPORT_H
#include <gtest/gtest.h>

#include <algorithm>
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

// Rows (of d values) sorted lexicographically in both, then max |a - b| /
// max |b|: equality of two centroid sets whatever their order.
inline double sorted_rows_rel_diff(const std::vector<float> &a, const std::vector<float> &b,
                                   size_t d) {
    auto rows = [d](const std::vector<float> &v) {
        std::vector<std::vector<float>> r;
        for (size_t i = 0; i + d <= v.size(); i += d) r.emplace_back(v.begin() + i, v.begin() + i + d);
        std::sort(r.begin(), r.end());
        std::vector<float> flat;
        for (auto &x : r) flat.insert(flat.end(), x.begin(), x.end());
        return flat;
    };
    std::vector<float> sa = rows(a), sb = rows(b);
    return max_rel_diff(sa.data(), sb.data(), sa.size());
}

}  // namespace fkmtest
#endif
