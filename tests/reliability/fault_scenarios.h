// fault_scenarios.h — the calls the fault-injection tests repeat (train
// with subsample + redos + input centroids + weights, batched train,
// assign, the n == k shortcut, inner product with empty-cluster splits),
// on a given engine, with poisoned outputs that tell "untouched" and "the
// same result bit for bit" apart. Shared by test_alloc_faults.cpp (host
// allocations) and test_device_faults.cpp (CUDA calls).
#ifndef FKM_REL_FAULT_SCENARIOS_H
#define FKM_REL_FAULT_SCENARIOS_H
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "flashkm.h"
#include "support/gmm.h"
#include "support/poison.h"
#include "support/train_helpers.h"

namespace fkmrel {
using namespace fkmtest;

// The outputs of one call, poisoned: "untouched" and "all written" are
// checkable afterwards.
struct Outputs {
    std::vector<Poisoned<float>> centroids, distances;
    std::vector<Poisoned<int64_t>> labels;
    std::vector<Poisoned<flashkm_iteration_stats>> stats;
    std::vector<flashkm_output> outs;
    Outputs(size_t batch, size_t n, size_t k, size_t d, size_t nstats)
        : centroids(batch, Poisoned<float>(k * d)),
          distances(batch, Poisoned<float>(n)),
          labels(batch, Poisoned<int64_t>(n)),
          stats(batch, Poisoned<flashkm_iteration_stats>(nstats)),
          outs(batch) {
        for (size_t b = 0; b < batch; b++) {
            outs[b] = flashkm_output{};
            outs[b].centroids = centroids[b].data();
            outs[b].labels = labels[b].data();
            outs[b].distances = distances[b].data();
            outs[b].stats = stats[b].data();
            outs[b].stats_capacity = nstats;
        }
    }
    bool untouched() const {
        for (size_t b = 0; b < outs.size(); b++)
            if (!centroids[b].untouched() || !labels[b].untouched() ||
                !distances[b].untouched() || !stats[b].untouched())
                return false;
        return true;
    }
    // Results bit for bit, statistics without their times.
    bool same_as(const Outputs &o) const {
        for (size_t b = 0; b < outs.size(); b++) {
            if (!same_bits(centroids[b].v.data(), o.centroids[b].v.data(),
                           centroids[b].size() * sizeof(float)) ||
                !same_bits(labels[b].v.data(), o.labels[b].v.data(),
                           labels[b].size() * sizeof(int64_t)) ||
                !same_bits(distances[b].v.data(), o.distances[b].v.data(),
                           distances[b].size() * sizeof(float)) ||
                outs[b].n_stats != o.outs[b].n_stats)
                return false;
            size_t ns = std::min(outs[b].n_stats, stats[b].size());
            for (size_t i = 0; i < ns; i++) {
                const flashkm_iteration_stats &x = stats[b].v[i], &y = o.stats[b].v[i];
                if (!same_bits(&x.objective, &y.objective, sizeof x.objective) ||
                    x.imbalance_factor != y.imbalance_factor || x.nsplit != y.nsplit)
                    return false;
            }
        }
        return true;
    }
};

// One kind of call: its data, and how to run it into fresh outputs.
struct Scenario {
    std::string name;
    size_t batch, n, d, k, nstats;
    flashkm_params p;
    std::vector<float> x, weights, init, cent;
    bool assign = false;
    const void *dx = nullptr;  // data already on the GPU (train_device), f32

    flashkm_status run(Outputs &o) const {
        flashkm_params p = this->p;  // pointers into this scenario's own vectors
        p.weights = weights.empty() ? nullptr : weights.data();
        p.init_centroids = init.empty() ? nullptr : init.data();
        p.n_init_centroids = init.size() / d;
        if (assign)
            return flashkm_assign(&p, n, d, k, x.data(), cent.data(),
                                  o.labels[0].data(), o.distances[0].data());
        if (dx)
            return flashkm_train_device(&p, n, d, k, dx, FLASHKM_DTYPE_F32, o.outs.data());
        if (batch > 1)
            return flashkm_train_batch(&p, batch, n, d, k, x.data(), o.outs.data());
        return flashkm_train(&p, n, d, k, x.data(), o.outs.data());
    }
    Outputs fresh() const { return Outputs(batch, n, k, d, nstats); }
};

inline std::vector<Scenario> scenarios(flashkm_engine engine) {
    std::vector<Scenario> v;
    flashkm_params base = default_params();
    base.engine = engine;
    base.num_threads = 2;

    Scenario a{"train: subsample, 2 redos, 2 input centroids, weights",
               1, 600, 6, 9, 8, base, mixture(600, 6, 9, 11), {}, {}, {}};
    a.p.niter = 4;
    a.p.nredo = 2;
    a.p.max_points_per_centroid = 40;  // 600 > 9 * 40: subsample
    a.weights = random_weights(600, 3);
    a.init.assign(a.x.begin() + 6 * 10, a.x.begin() + 6 * 12);
    v.push_back(a);

    Scenario b{"train_batch: 3 problems", 3, 200, 5, 7, 3, base,
               mixture(600, 5, 7, 12), {}, {}, {}};
    b.p.niter = 3;
    v.push_back(b);

    Scenario c{"assign", 1, 300, 6, 9, 0, base, mixture(300, 6, 9, 13), {}, {}, {}};
    c.cent.assign(c.x.begin(), c.x.begin() + 9 * 6);
    c.assign = true;
    v.push_back(c);

    Scenario d{"train: n == k shortcut", 1, 7, 3, 7, 25, base,
               mixture(7, 3, 2, 14), {}, {}, {}};
    v.push_back(d);

    Scenario e{"train: inner product, spherical, empty-cluster splits", 1,
               240, 4, 12, 5, base, duplicated_points(240, 6, 4, 15), {}, {}, {}};
    normalize_rows(e.x, 4);
    e.p.metric = FLASHKM_METRIC_INNER_PRODUCT;
    e.p.spherical = 1;
    e.p.niter = 5;
    v.push_back(e);
    return v;
}

// A call that no injected failure stopped: OK, and bit for bit the
// undisturbed call's result although `failed` calls failed before it.
inline ::testing::AssertionResult passed_as_undisturbed(const Scenario &s, flashkm_status st,
                                                       const std::string &msg,
                                                       const Outputs &o, const Outputs &ref,
                                                       long failed) {
    if (st != FLASHKM_OK)
        return ::testing::AssertionFailure() << s.name << ": " << flashkm_status_string(st)
                                             << ": " << msg;
    if (!o.same_as(ref))
        return ::testing::AssertionFailure() << s.name << ": result after " << failed
                                             << " failed calls differs from an undisturbed call";
    return ::testing::AssertionSuccess();
}

}  // namespace fkmrel
#endif
