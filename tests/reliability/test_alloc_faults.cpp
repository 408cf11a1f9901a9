// test_alloc_faults.cpp — out-of-memory in the middle of calls, many times
// over: 1000 calls of five kinds (train with subsample + redos + input
// centroids + weights, batched train, assign, the n == k shortcut, inner
// product with empty-cluster splits), where call i makes allocation
// number j fail, for every j of that kind of call in turn, and lets the
// call through after the last one. What must hold each time:
//   - a failing call returns FLASHKM_ERR_OUT_OF_MEMORY with a message that
//     names the bytes, and writes none of its outputs;
//   - a passing call gives bit for bit the result of an undisturbed call
//     (a failure leaves no state behind that changes later results);
//   - memory is flat: RSS after the warm-up vs at the end (Release build),
//     and LeakSanitizer finds nothing at exit (ASan build).
// (tests/test_errors.cpp checks each allocation once; this is the long,
// repeated version.)
#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <regex>
#include <string>
#include <vector>

#include "../../src/test_hooks.h"
#include "rss.h"
#include "support/gmm.h"
#include "support/poison.h"
#include "support/train_helpers.h"

using namespace fkmtest;

namespace {

const int kCalls = 1000;
// Allowed RSS growth between the end of the warm-up and the end of the run.
const long kRssGrowthBoundKiB = 2048;

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

    flashkm_status run(Outputs &o) const {
        flashkm_params p = this->p;  // pointers into this scenario's own vectors
        p.weights = weights.empty() ? nullptr : weights.data();
        p.init_centroids = init.empty() ? nullptr : init.data();
        p.n_init_centroids = init.size() / d;
        if (assign)
            return flashkm_assign(&p, n, d, k, x.data(), cent.data(),
                                  o.labels[0].data(), o.distances[0].data());
        if (batch > 1)
            return flashkm_train_batch(&p, batch, n, d, k, x.data(), o.outs.data());
        return flashkm_train(&p, n, d, k, x.data(), o.outs.data());
    }
    Outputs fresh() const { return Outputs(batch, n, k, d, nstats); }
};

std::vector<Scenario> scenarios() {
    std::vector<Scenario> v;
    flashkm_params base = default_params();
    base.engine = FLASHKM_ENGINE_CPU;
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

// Allocations a call of this kind makes that can fail: the first
// countdown at which the call goes through.
long allocations_of(const Scenario &s) {
    for (long j = 0; j < 10000; j++) {
        Outputs o = s.fresh();
        flashkm_test_fail_alloc_after(j);
        flashkm_status st = s.run(o);
        flashkm_test_fail_alloc_after(-1);
        if (st == FLASHKM_OK) return j;
    }
    return -1;
}

}  // namespace

TEST(Reliability, OutOfMemoryAtEveryAllocationOverManyCalls) {
    std::vector<Scenario> sc = scenarios();
    std::vector<long> allocs;
    std::vector<Outputs> refs;
    for (const Scenario &s : sc) {
        allocs.push_back(allocations_of(s));
        ASSERT_GT(allocs.back(), 0) << s.name << ": no allocation to fail";
        refs.push_back(s.fresh());
        ASSERT_EQ(s.run(refs.back()), FLASHKM_OK) << s.name << ": " << flashkm_last_error();
        Outputs again = s.fresh();
        ASSERT_EQ(s.run(again), FLASHKM_OK);
        ASSERT_TRUE(again.same_as(refs.back())) << s.name << ": two undisturbed calls differ";
    }
    const std::regex names_bytes("[0-9]+ bytes");
    long failed = 0, passed = 0, rss_warm = -1, rss_peak = 0;
    const int warmup = kCalls / 5;
    for (int i = 0; i < kCalls; i++) {
        const size_t which = (size_t)i % sc.size();
        const Scenario &s = sc[which];
        const long j = (long)(i / sc.size()) % (allocs[which] + 1);  // A_s: pass
        Outputs o = s.fresh();
        flashkm_test_fail_alloc_after(j);
        flashkm_status st = s.run(o);
        std::string msg = flashkm_last_error();
        long left = flashkm_test_fail_alloc_after(-1);
        if (j < allocs[which]) {
            failed++;
            ASSERT_EQ(st, FLASHKM_ERR_OUT_OF_MEMORY)
                << s.name << ", allocation " << j << ": " << msg;
            EXPECT_EQ(left, -1) << s.name << ": the injected failure did not fire";
            EXPECT_TRUE(std::regex_search(msg, names_bytes))
                << s.name << ", allocation " << j << ": message without bytes: " << msg;
            EXPECT_TRUE(o.untouched()) << s.name << ", allocation " << j
                                       << ": a failed call wrote its outputs";
        } else {
            passed++;
            ASSERT_EQ(st, FLASHKM_OK) << s.name << ": " << msg;
            EXPECT_TRUE(o.same_as(refs[which]))
                << s.name << ": result after " << failed
                << " failed calls differs from an undisturbed call";
        }
        long r = fkmrel::rss_kib();
        if (i == warmup) rss_warm = r;
        if (i >= warmup && r > rss_peak) rss_peak = r;
    }
    long rss_end = fkmrel::rss_kib();
    std::printf("[ reliability ] %d calls: %ld failed (OUT_OF_MEMORY), %ld passed; "
                "allocations per kind:", kCalls, failed, passed);
    for (size_t k = 0; k < sc.size(); k++) std::printf(" %ld", allocs[k]);
    std::printf("\n[ reliability ] VmRSS after %d calls %ld KiB, at the end %ld KiB "
                "(peak %ld KiB), growth %ld KiB%s\n", warmup, rss_warm, rss_end,
                rss_peak, rss_end - rss_warm,
                fkmrel::built_with_asan() ? " (ASan build: leaks are LSan's)" : "");
    EXPECT_GT(failed, kCalls / 2);
    EXPECT_GT(passed, 0);
    if (!fkmrel::built_with_asan() && rss_warm > 0)
        EXPECT_LT(rss_end - rss_warm, kRssGrowthBoundKiB) << "memory grows across calls";
}
