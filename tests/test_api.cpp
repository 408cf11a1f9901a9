// test_api.cpp — the API's own promises: defaults, version, the batched
// call, assign after train, optional outputs, stats capacity, engine_used,
// determinism, const inputs, post-processing, n == k, stdout/stderr.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "support/gmm.h"
#include "support/poison.h"
#include "support/reference.h"
#include "support/train_helpers.h"

using namespace fkmtest;

TEST(Api, ParamsInitSetsEveryFieldToTheDocumentedDefault) {
    flashkm_params p;
    std::memset(&p, 0xFF, sizeof p);
    ASSERT_EQ(flashkm_params_init(&p), FLASHKM_OK);
    EXPECT_EQ(p.niter, 25);
    EXPECT_EQ(p.nredo, 1);
    EXPECT_EQ(p.verbose, 0);
    EXPECT_EQ(p.spherical, 0);
    EXPECT_EQ(p.int_centroids, 0);
    EXPECT_EQ(p.frozen_centroids, 0);
    EXPECT_EQ(p.min_points_per_centroid, 39);
    EXPECT_EQ(p.max_points_per_centroid, 256);
    EXPECT_EQ(p.seed, 1234);
    EXPECT_EQ(p.metric, FLASHKM_METRIC_L2);
    EXPECT_EQ(p.weights, nullptr);
    EXPECT_EQ(p.init_centroids, nullptr);
    EXPECT_EQ(p.n_init_centroids, 0u);
    EXPECT_EQ(p.engine, FLASHKM_ENGINE_AUTO);
    EXPECT_EQ(p.precision, FLASHKM_PRECISION_FP32);
    EXPECT_EQ(p.device, 0);
    EXPECT_EQ(p.stream, nullptr);
    EXPECT_EQ(p.num_threads, 0);
    EXPECT_EQ(p.gpu_memory_limit, 0u);
    EXPECT_EQ(p.quiet_warnings, 0);
}

TEST(Api, VersionMatchesHeaderMacros) {
    ASSERT_NE(flashkm_version(), nullptr);
    EXPECT_STREQ(flashkm_version(), FLASHKM_VERSION_STRING);
    std::ostringstream o;
    o << FLASHKM_VERSION_MAJOR << "." << FLASHKM_VERSION_MINOR << "."
      << FLASHKM_VERSION_PATCH;
    EXPECT_EQ(o.str(), FLASHKM_VERSION_STRING);
}

TEST(Api, GpuAvailableIsZeroOrOneAndEngineUsedAgrees) {
    int g = flashkm_gpu_available();
    ASSERT_TRUE(g == 0 || g == 1);
    EXPECT_EQ(g, flashkm_gpu_available()) << "stable across calls";
    std::vector<float> x = mixture(500, 4, 5, 1);
    flashkm_params p;
    flashkm_params_init(&p);
    p.quiet_warnings = 1;
    p.niter = 2;
    TrainResult r = run_train(p, 500, 4, 5, x.data(), false);
    ASSERT_EQ(r.status, FLASHKM_OK) << r.error;
    EXPECT_EQ(r.engine_used, g ? FLASHKM_ENGINE_GPU : FLASHKM_ENGINE_CPU);
    p.engine = FLASHKM_ENGINE_CPU;
    r = run_train(p, 500, 4, 5, x.data(), false);
    ASSERT_EQ(r.status, FLASHKM_OK) << r.error;
    EXPECT_EQ(r.engine_used, FLASHKM_ENGINE_CPU);
}

TEST(Api, BatchEqualsSeparateTrainsBitwise) {
    const size_t B = 3, n = 700, d = 9, k = 12;
    std::vector<float> x = mixture(B * n, d, 15, 2);
    std::vector<float> w = random_weights(B * n, 2);
    std::vector<float> cin = mixture(B * 2, d, 2, 3);
    flashkm_params p = default_params();
    p.niter = 8;
    p.nredo = 2;
    p.weights = w.data();
    p.init_centroids = cin.data();
    p.n_init_centroids = 2;
    std::vector<TrainResult> res(B);
    std::vector<flashkm_output> outs(B);
    const size_t cap = (size_t)p.niter * p.nredo;
    for (size_t b = 0; b < B; b++) {
        res[b].centroids = Poisoned<float>(k * d);
        res[b].labels = Poisoned<int64_t>(n);
        res[b].distances = Poisoned<float>(n);
        res[b].stats = Poisoned<flashkm_iteration_stats>(cap);
        outs[b] = flashkm_output{};
        outs[b].centroids = res[b].centroids.data();
        outs[b].labels = res[b].labels.data();
        outs[b].distances = res[b].distances.data();
        outs[b].stats = res[b].stats.data();
        outs[b].stats_capacity = cap;
    }
    ASSERT_EQ(flashkm_train_batch(&p, B, n, d, k, x.data(), outs.data()), FLASHKM_OK)
        << flashkm_last_error();
    for (size_t b = 0; b < B; b++) {
        res[b].status = FLASHKM_OK;
        res[b].n_stats = outs[b].n_stats;
        res[b].objective = outs[b].objective;
        flashkm_params pb = p;
        pb.weights = w.data() + b * n;
        pb.init_centroids = cin.data() + b * 2 * d;
        TrainResult single = run_train(pb, n, d, k, x.data() + b * n * d, true, cap);
        ASSERT_EQ(single.status, FLASHKM_OK) << single.error;
        EXPECT_TRUE(res[b].centroids.all_written()) << "problem " << b;
        EXPECT_EQ(diff_results(single, res[b]), "") << "problem " << b;
        EXPECT_EQ(outs[b].engine_used, single.engine_used);
    }
}

TEST(Api, BatchOfOneEqualsTrain) {
    const size_t n = 900, d = 5, k = 7;
    std::vector<float> x = mixture(n, d, 7, 4);
    flashkm_params p = default_params();
    p.niter = 5;
    TrainResult single = run_train(p, n, d, k, x.data());
    TrainResult batch;
    batch.centroids = Poisoned<float>(k * d);
    batch.labels = Poisoned<int64_t>(n);
    batch.distances = Poisoned<float>(n);
    batch.stats = Poisoned<flashkm_iteration_stats>(5);
    flashkm_output out{};
    out.centroids = batch.centroids.data();
    out.labels = batch.labels.data();
    out.distances = batch.distances.data();
    out.stats = batch.stats.data();
    out.stats_capacity = 5;
    batch.status = flashkm_train_batch(&p, 1, n, d, k, x.data(), &out);
    ASSERT_EQ(batch.status, FLASHKM_OK) << flashkm_last_error();
    batch.n_stats = out.n_stats;
    batch.objective = out.objective;
    EXPECT_EQ(diff_results(single, batch), "");
}

TEST(Api, AssignAfterTrainEqualsTrainLabels) {
    for (flashkm_metric m : {FLASHKM_METRIC_L2, FLASHKM_METRIC_INNER_PRODUCT}) {
        const size_t n = 2500, d = 14, k = 21;
        std::vector<float> x = mixture(n, d, 21, 5);
        flashkm_params p = default_params();
        p.metric = m;
        if (m == FLASHKM_METRIC_INNER_PRODUCT) {
            normalize_rows(x, d);
            p.spherical = 1;
        }
        TrainResult t = run_train(p, n, d, k, x.data());
        ASSERT_EQ(t.status, FLASHKM_OK) << t.error;
        ASSERT_TRUE(t.labels.all_written() && t.distances.all_written());
        AssignResult a = run_assign(p, n, d, k, x.data(), t.centroids.data());
        ASSERT_EQ(a.status, FLASHKM_OK) << a.error;
        EXPECT_TRUE(same_bits(a.labels.data(), t.labels.data(), n * 8)) << "metric " << m;
        EXPECT_TRUE(same_bits(a.distances.data(), t.distances.data(), n * 4))
            << "metric " << m;
    }
}

TEST(Api, AssignLabelsOnlyAndDistancesOnly) {
    const size_t n = 800, d = 6, k = 9;
    std::vector<float> x = mixture(n, d, 9, 6);
    std::vector<float> c = mixture(k, d, 9, 7);
    flashkm_params p = default_params();
    AssignResult both = run_assign(p, n, d, k, x.data(), c.data());
    ASSERT_EQ(both.status, FLASHKM_OK) << both.error;
    Poisoned<int64_t> lab(n);
    Poisoned<float> dis(n);
    ASSERT_EQ(flashkm_assign(&p, n, d, k, x.data(), c.data(), lab.data(), nullptr),
              FLASHKM_OK);
    EXPECT_TRUE(same_bits(lab.data(), both.labels.data(), n * 8));
    ASSERT_EQ(flashkm_assign(&p, n, d, k, x.data(), c.data(), nullptr, dis.data()),
              FLASHKM_OK);
    EXPECT_TRUE(same_bits(dis.data(), both.distances.data(), n * 4));
}

TEST(Api, TrainOptionalOutputsMayBeNull) {
    const size_t n = 1000, d = 8, k = 10;
    std::vector<float> x = mixture(n, d, 10, 8);
    flashkm_params p = default_params();
    TrainResult full = run_train(p, n, d, k, x.data());
    ASSERT_EQ(full.status, FLASHKM_OK) << full.error;
    Poisoned<float> cen(k * d);
    flashkm_output out{};
    out.centroids = cen.data();
    ASSERT_EQ(flashkm_train(&p, n, d, k, x.data(), &out), FLASHKM_OK) << flashkm_last_error();
    EXPECT_TRUE(same_bits(cen.data(), full.centroids.data(), k * d * 4));
    EXPECT_EQ(out.n_stats, (size_t)p.niter) << "n_stats is reported without a stats buffer";
    EXPECT_EQ(out.objective, full.objective);
    Poisoned<float> dis(n);
    out.distances = dis.data();
    ASSERT_EQ(flashkm_train(&p, n, d, k, x.data(), &out), FLASHKM_OK);
    EXPECT_TRUE(same_bits(dis.data(), full.distances.data(), n * 4));
}

TEST(Api, StatsCapacitySmallerThanNStats) {
    const size_t n = 1200, d = 5, k = 8;
    std::vector<float> x = mixture(n, d, 8, 9);
    flashkm_params p = default_params();
    p.niter = 10;
    TrainResult full = run_train(p, n, d, k, x.data(), false);
    ASSERT_EQ(full.status, FLASHKM_OK) << full.error;
    ASSERT_EQ(full.n_stats, 10u);
    Poisoned<float> cen(k * d);
    Poisoned<flashkm_iteration_stats> st(10);
    flashkm_output out{};
    out.centroids = cen.data();
    out.stats = st.data();
    out.stats_capacity = 3;
    ASSERT_EQ(flashkm_train(&p, n, d, k, x.data(), &out), FLASHKM_OK);
    EXPECT_EQ(out.n_stats, 10u);
    EXPECT_EQ(count_poisoned_bytes(st.data(), 3, sizeof(flashkm_iteration_stats)), 0u);
    EXPECT_EQ(count_poisoned_bytes(st.data() + 3, 7, sizeof(flashkm_iteration_stats)), 7u)
        << "wrote past stats_capacity";
    for (size_t i = 0; i < 3; i++) {
        EXPECT_EQ(st.v[i].objective, full.stats.v[i].objective);
        EXPECT_EQ(st.v[i].nsplit, full.stats.v[i].nsplit);
    }
}

TEST(Api, StatsAreSane) {
    const size_t n = 3000, d = 10, k = 30;
    std::vector<float> x = mixture(n, d, 30, 10);
    flashkm_params p = default_params();
    p.nredo = 2;
    TrainResult r = run_train(p, n, d, k, x.data(), false);
    ASSERT_EQ(r.status, FLASHKM_OK) << r.error;
    ASSERT_TRUE(r.n_stats == 25u || r.n_stats == 50u) << r.n_stats;
    ASSERT_TRUE(r.stats.all_written() || r.n_stats == 25u);
    for (size_t i = 0; i < r.n_stats; i++) {
        const flashkm_iteration_stats &s = r.stats.v[i];
        EXPECT_GE(s.imbalance_factor, 1.0 - 1e-9) << i;
        EXPECT_GE(s.nsplit, 0) << i;
        EXPECT_GE(s.time, 0.0) << i;
        EXPECT_GE(s.time_search, 0.0) << i;
        EXPECT_TRUE(std::isfinite(s.objective) && s.objective > 0) << i;
        if (i > 0) {
            EXPECT_GE(s.time_search, r.stats.v[i - 1].time_search) << "search time accumulates";
            // Without a split, a Lloyd step never increases the objective.
            if (i % 25 != 0 && r.stats.v[i - 1].nsplit == 0) {
                EXPECT_LE(s.objective, r.stats.v[i - 1].objective * (1 + 1e-6))
                    << "objective went up within a run at entry " << i;
            }
        }
    }
    EXPECT_EQ(r.objective, r.stats.v[r.n_stats - 1].objective);
}

TEST(Api, DeterministicAcrossCalls) {
    const size_t n = 2000, d = 12, k = 16;
    std::vector<float> x = mixture(n, d, 16, 11);
    flashkm_params p = default_params();
    TrainResult a = run_train(p, n, d, k, x.data());
    TrainResult b = run_train(p, n, d, k, x.data());
    ASSERT_EQ(a.status, FLASHKM_OK) << a.error;
    EXPECT_EQ(diff_results(a, b), "");
}

TEST(Api, SeedChangesInitialCentroids) {
    const size_t n = 2000, d = 4, k = 10;
    std::vector<float> x = mixture(n, d, 10, 12);
    flashkm_params p = default_params();
    p.niter = 0;
    TrainResult a = run_train(p, n, d, k, x.data(), false);
    p.seed = 99;
    TrainResult b = run_train(p, n, d, k, x.data(), false);
    ASSERT_EQ(a.status, FLASHKM_OK);
    ASSERT_EQ(b.status, FLASHKM_OK);
    EXPECT_FALSE(same_bits(a.centroids.data(), b.centroids.data(), k * d * 4));
}

TEST(Api, InputsAreNotModified) {
    const size_t n = 1500, d = 6, k = 9;
    std::vector<float> x = mixture(n, d, 9, 13);
    std::vector<float> w = random_weights(n, 13);
    std::vector<float> cin = mixture(3, d, 3, 14);
    const std::vector<float> x0 = x, w0 = w, c0 = cin;
    flashkm_params p = default_params();
    p.weights = w.data();
    p.init_centroids = cin.data();
    p.n_init_centroids = 3;
    p.spherical = 1;
    p.nredo = 2;
    p.max_points_per_centroid = 100;
    const flashkm_params p0 = p;
    TrainResult r = run_train(p, n, d, k, x.data());
    ASSERT_EQ(r.status, FLASHKM_OK) << r.error;
    EXPECT_EQ(x, x0);
    EXPECT_EQ(w, w0);
    EXPECT_EQ(cin, c0);
    EXPECT_TRUE(same_bits(&p, &p0, sizeof p));
}

TEST(Api, SphericalGivesUnitCentroids) {
    const size_t n = 2000, d = 16, k = 12;
    std::vector<float> x = mixture(n, d, 12, 15);
    flashkm_params p = default_params();
    p.spherical = 1;
    TrainResult r = run_train(p, n, d, k, x.data(), false);
    ASSERT_EQ(r.status, FLASHKM_OK) << r.error;
    for (size_t c = 0; c < k; c++) {
        double s = 0;
        for (size_t j = 0; j < d; j++) s += (double)r.centroids.v[c * d + j] * r.centroids.v[c * d + j];
        EXPECT_NEAR(s, 1.0, 1e-5) << "centroid " << c;
    }
}

TEST(Api, IntCentroidsAreIntegers) {
    const size_t n = 2000, d = 5, k = 8;
    std::vector<float> x = mixture(n, d, 8, 16, 50.0f);
    flashkm_params p = default_params();
    p.int_centroids = 1;
    TrainResult r = run_train(p, n, d, k, x.data(), false);
    ASSERT_EQ(r.status, FLASHKM_OK) << r.error;
    for (float v : r.centroids.v) EXPECT_EQ(v, std::round(v));
}

TEST(Api, NEqualsKCopiesPoints) {
    const size_t n = 40, d = 6, k = 40;
    std::vector<float> x = mixture(n, d, 40, 17);
    flashkm_params p = default_params();
    TrainResult r = run_train(p, n, d, k, x.data());
    ASSERT_EQ(r.status, FLASHKM_OK) << r.error;
    EXPECT_TRUE(same_bits(r.centroids.data(), x.data(), n * d * 4));
    ASSERT_EQ(r.n_stats, 1u);
    EXPECT_EQ(r.stats.v[0].objective, 0.0f);
    EXPECT_EQ(r.stats.v[0].imbalance_factor, 1.0);
    EXPECT_EQ(r.stats.v[0].nsplit, 0);
    for (size_t i = 0; i < n; i++) EXPECT_EQ(r.labels.v[i], (int64_t)i);
}

TEST(Api, FrozenCentroidsNeverMove) {
    const size_t n = 1500, d = 7, k = 10;
    std::vector<float> x = mixture(n, d, 10, 18);
    std::vector<float> cin = mixture(k, d, 10, 19);  // all k given and frozen
    flashkm_params p = default_params();
    p.init_centroids = cin.data();
    p.n_init_centroids = k;
    p.frozen_centroids = 1;
    TrainResult r = run_train(p, n, d, k, x.data());
    ASSERT_EQ(r.status, FLASHKM_OK) << r.error;
    EXPECT_TRUE(same_bits(r.centroids.data(), cin.data(), k * d * 4));
    RefAssignment ref = ref_assign(x.data(), n, d, cin.data(), k, FLASHKM_METRIC_L2);
    EXPECT_EQ(check_assignment(ref, x.data(), d, cin.data(), FLASHKM_METRIC_L2,
                               r.labels.data(), r.distances.data(), 1e-5), "");
    ASSERT_EQ(r.n_stats, 25u);
    EXPECT_EQ(r.stats.v[0].objective, r.stats.v[24].objective)
        << "nothing moves, so the objective is constant";
}

TEST(Api, QuietByDefaultNothingOnStdout) {
    const size_t n = 600, d = 4, k = 6;
    std::vector<float> x = mixture(n, d, 6, 20);
    flashkm_params p = default_params();
    fflush(stdout);
    testing::internal::CaptureStdout();
    TrainResult r = run_train(p, n, d, k, x.data(), false);
    fflush(stdout);
    std::string s = testing::internal::GetCapturedStdout();
    ASSERT_EQ(r.status, FLASHKM_OK) << r.error;
    EXPECT_EQ(s, "");
}

TEST(Api, FewPointsWarningAndQuietWarnings) {
    const size_t n = 100, d = 3, k = 10;  // 100 < 10 * 39
    std::vector<float> x = mixture(n, d, 10, 21);
    flashkm_params p = default_params();
    p.niter = 2;
    p.quiet_warnings = 0;
    fflush(stderr);
    testing::internal::CaptureStderr();
    TrainResult r = run_train(p, n, d, k, x.data(), false);
    std::string loud = testing::internal::GetCapturedStderr();
    ASSERT_EQ(r.status, FLASHKM_OK) << r.error;
    EXPECT_EQ(loud,
              "WARNING clustering 100 points to 10 centroids: please provide at "
              "least 390 training points\n");
    p.quiet_warnings = 1;
    testing::internal::CaptureStderr();
    r = run_train(p, n, d, k, x.data(), false);
    std::string quiet = testing::internal::GetCapturedStderr();
    EXPECT_EQ(quiet, "");
}

TEST(Api, SuccessfulCallWritesEveryRequestedOutput) {
    const size_t n = 1777, d = 13, k = 23;
    std::vector<float> x = mixture(n, d, 23, 22);
    flashkm_params p = default_params();
    p.niter = 7;
    p.nredo = 3;
    TrainResult r = run_train(p, n, d, k, x.data());
    ASSERT_EQ(r.status, FLASHKM_OK) << r.error;
    EXPECT_TRUE(r.centroids.all_written());
    EXPECT_TRUE(r.labels.all_written());
    EXPECT_TRUE(r.distances.all_written());
    EXPECT_EQ(r.stats.poisoned(), r.stats.size() - r.n_stats)
        << "exactly n_stats entries written";
    for (int64_t l : r.labels.v) EXPECT_TRUE(l >= 0 && l < (int64_t)k);
}

// FAISS clamps squared L2 distances at 0: a point equal to a centroid, far
// from the origin (|x|^2 - 2<x,c> + |c|^2 cancels), never gets a negative.
TEST(Api, L2DistancesAreNeverNegative) {
    const size_t n = 500, d = 31, k = 50;
    std::vector<float> x = mixture(n, d, 5, 23);
    for (float &v : x) v += 1000.0f;
    std::vector<float> c(x.begin(), x.begin() + k * d);
    flashkm_params p = default_params();
    AssignResult a = run_assign(p, n, d, k, x.data(), c.data());
    ASSERT_EQ(a.status, FLASHKM_OK) << a.error;
    for (size_t i = 0; i < n; i++) {
        EXPECT_GE(a.distances.v[i], 0.0f) << "point " << i;
        if (i < k) {
            EXPECT_LE(a.distances.v[i], 1e-6 * 1000 * 1000 * d) << "point " << i;
        }
    }
}

TEST(Api, BatchWithSubsampleAndRedosEqualsSeparate) {
    const size_t B = 2, n = 1500, d = 4, k = 5;
    std::vector<float> x = mixture(B * n, d, 6, 24);
    flashkm_params p = default_params();
    p.niter = 4;
    p.nredo = 3;
    p.max_points_per_centroid = 50;  // 1500 > 250: each problem subsampled
    std::vector<Poisoned<float>> cen;
    std::vector<Poisoned<flashkm_iteration_stats>> st;
    std::vector<flashkm_output> outs(B);
    for (size_t b = 0; b < B; b++) {
        cen.emplace_back(k * d);
        st.emplace_back(12);
    }
    for (size_t b = 0; b < B; b++) {
        outs[b] = flashkm_output{};
        outs[b].centroids = cen[b].data();
        outs[b].stats = st[b].data();
        outs[b].stats_capacity = 12;
    }
    ASSERT_EQ(flashkm_train_batch(&p, B, n, d, k, x.data(), outs.data()), FLASHKM_OK)
        << flashkm_last_error();
    for (size_t b = 0; b < B; b++) {
        TrainResult single = run_train(p, n, d, k, x.data() + b * n * d, false, 12);
        ASSERT_EQ(single.status, FLASHKM_OK) << single.error;
        EXPECT_TRUE(same_bits(cen[b].data(), single.centroids.data(), k * d * 4)) << b;
        EXPECT_EQ(outs[b].n_stats, single.n_stats) << b;
        EXPECT_EQ(outs[b].objective, single.objective) << b;
        for (size_t i = 0; i < single.n_stats; i++)
            EXPECT_EQ(st[b].v[i].objective, single.stats.v[i].objective) << b << "," << i;
    }
}
