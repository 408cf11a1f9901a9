// train_helpers.h — run flashkm_train / flashkm_assign into poisoned
// vectors and compare results bit for bit.
#ifndef FKM_TEST_TRAIN_HELPERS_H
#define FKM_TEST_TRAIN_HELPERS_H
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "flashkm.h"
#include "support/poison.h"

namespace fkmtest {

// flashkm_params_init() plus quiet_warnings (tests that check the warning
// clear it). The engine comes from FKM_TEST_ENGINE (cpu, gpu, auto; default
// auto), so the same suite checks the GPU engine on a machine with one.
flashkm_params default_params();

struct TrainResult {
    flashkm_status status = FLASHKM_ERR_INTERNAL;
    std::string error;                      // flashkm_last_error() after
    Poisoned<float> centroids;              // k * d
    Poisoned<int64_t> labels;               // n (empty when not asked)
    Poisoned<float> distances;              // n (empty when not asked)
    Poisoned<flashkm_iteration_stats> stats;  // stats_capacity
    size_t n_stats = 0;
    float objective = 0;
    flashkm_engine engine_used = FLASHKM_ENGINE_AUTO;
    // Stats entries actually written: min(n_stats, capacity).
    size_t stats_written() const;
};

// stats_capacity SIZE_MAX means max(1, niter * nredo).
TrainResult run_train(const flashkm_params &p, size_t n, size_t d, size_t k,
                      const float *x, bool with_labels = true,
                      size_t stats_capacity = SIZE_MAX);

// flashkm_assign into poisoned labels and distances (n each).
struct AssignResult {
    flashkm_status status = FLASHKM_ERR_INTERNAL;
    std::string error;
    Poisoned<int64_t> labels;
    Poisoned<float> distances;
};
AssignResult run_assign(const flashkm_params &p, size_t n, size_t d, size_t k,
                        const float *x, const float *centroids);

// Bitwise equality of float/int arrays and of stats (all but the times).
bool same_bits(const void *a, const void *b, size_t bytes);
std::string diff_results(const TrainResult &a, const TrainResult &b);

// Status name, for messages.
std::string status_name(flashkm_status s);

// Words (identifier-like) in a message: "k", "d", "nredo" ...
bool mentions_word(const std::string &msg, const std::string &word);

}  // namespace fkmtest
#endif
