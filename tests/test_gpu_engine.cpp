// test_gpu_engine.cpp — the GPU engine against the float64 reference and the
// CPU engine: odd shapes, every output written, fp32 labels equal except at
// certified near-ties, centroids within 1e-5, identical repeated runs.
#include "test_gpu_support.h"

using namespace fkmtest;

namespace {

struct Shape {
    size_t n, d, k;
};

// N and K are multiples of no tile; d covers one partial chunk (1, 3, 17),
// a bit over a chunk boundary (129) and long rows (768, 1000).
const Shape kShapes[] = {{3001, 1, 7},   {2999, 3, 37},  {4097, 17, 130}, {2501, 100, 129},
                         {3333, 129, 61}, {1201, 768, 50}, {777, 1000, 33}};

TEST(GpuEngine, AssignMatchesFloat64ReferenceOnOddShapes) {
    FKM_REQUIRE_GPU();
    for (const Shape &s : kShapes) {
        SCOPED_TRACE("n=" + std::to_string(s.n) + " d=" + std::to_string(s.d) +
                     " k=" + std::to_string(s.k));
        std::vector<float> x = mixture(s.n, s.d, 2 * s.k, 11 + s.d);
        std::vector<float> c(x.begin(), x.begin() + s.k * s.d);
        for (flashkm_metric m : {FLASHKM_METRIC_L2, FLASHKM_METRIC_INNER_PRODUCT}) {
            AssignResult r = run_assign(gpu_params(), s.n, s.d, s.k, x.data(), c.data());
            ASSERT_EQ(r.status, FLASHKM_OK) << r.error;
            flashkm_params p = gpu_params();
            p.metric = m;
            r = run_assign(p, s.n, s.d, s.k, x.data(), c.data());
            ASSERT_EQ(r.status, FLASHKM_OK) << r.error;
            ASSERT_TRUE(r.labels.all_written());
            ASSERT_TRUE(r.distances.all_written());
            RefAssignment ref = ref_assign(x.data(), s.n, s.d, c.data(), s.k, m);
            size_t ties = 0;
            EXPECT_EQ(check_assignment(ref, x.data(), s.d, c.data(), m, r.labels.v.data(),
                                       r.distances.v.data(), 1e-5, &ties),
                      "");
        }
    }
}

TEST(GpuEngine, TrainMatchesCpuEngineInFp32) {
    FKM_REQUIRE_GPU();
    for (const Shape &s : kShapes) {
        SCOPED_TRACE("n=" + std::to_string(s.n) + " d=" + std::to_string(s.d) +
                     " k=" + std::to_string(s.k));
        std::vector<float> x = mixture(s.n, s.d, s.k, 5 + s.k);
        flashkm_params g = gpu_params(), c = cpu_params();
        g.niter = c.niter = 8;
        TrainResult rg = run_train(g, s.n, s.d, s.k, x.data());
        TrainResult rc = run_train(c, s.n, s.d, s.k, x.data());
        ASSERT_EQ(rg.status, FLASHKM_OK) << rg.error;
        ASSERT_EQ(rc.status, FLASHKM_OK) << rc.error;
        EXPECT_EQ(rg.engine_used, FLASHKM_ENGINE_GPU);
        EXPECT_TRUE(rg.centroids.all_written());
        EXPECT_TRUE(rg.labels.all_written());
        EXPECT_TRUE(rg.distances.all_written());
        ASSERT_EQ(rg.n_stats, rc.n_stats);
        EXPECT_TRUE(rg.stats.all_written());
        // A label may flip only at a near-tie, which then moves two
        // centroids by a rounding-sized amount: at most a handful.
        EXPECT_LE(label_mismatches(rg, rc), s.n / 1000 + 1);
        EXPECT_LE(centroid_rel_diff(rg, rc), 1e-5);
        for (size_t i = 0; i < rg.stats_written(); i++) {
            EXPECT_NEAR(rg.stats.v[i].objective, rc.stats.v[i].objective,
                        1e-5 * std::fabs(rc.stats.v[i].objective) + 1e-6);
            EXPECT_EQ(rg.stats.v[i].nsplit, rc.stats.v[i].nsplit);
        }
        EXPECT_NEAR(rg.objective, rc.objective, 1e-5 * std::fabs(rc.objective));
    }
}

TEST(GpuEngine, RepeatedRunsAreIdentical) {
    FKM_REQUIRE_GPU();
    std::vector<float> x = mixture(20011, 33, 50, 3);
    for (flashkm_precision prec : {FLASHKM_PRECISION_FP32, FLASHKM_PRECISION_FP16}) {
        flashkm_params p = gpu_params(prec);
        TrainResult a = run_train(p, 20011, 33, 97, x.data());
        TrainResult b = run_train(p, 20011, 33, 97, x.data());
        ASSERT_EQ(a.status, FLASHKM_OK) << a.error;
        EXPECT_EQ(diff_results(a, b), "");
    }
}

TEST(GpuEngine, SplitsEmptyClustersAsTheCpuEngine) {
    FKM_REQUIRE_GPU();
    const size_t n = 5003, d = 9, k = 64;
    std::vector<float> x = duplicated_points(n, 40, d, 7);
    flashkm_params g = gpu_params(), c = cpu_params();
    g.niter = c.niter = 6;
    TrainResult rg = run_train(g, n, d, k, x.data());
    TrainResult rc = run_train(c, n, d, k, x.data());
    ASSERT_EQ(rg.status, FLASHKM_OK) << rg.error;
    ASSERT_EQ(rc.status, FLASHKM_OK) << rc.error;
    int splits = 0;
    for (size_t i = 0; i < rc.stats_written(); i++) {
        EXPECT_EQ(rg.stats.v[i].nsplit, rc.stats.v[i].nsplit) << "iteration " << i;
        EXPECT_DOUBLE_EQ(rg.stats.v[i].imbalance_factor, rc.stats.v[i].imbalance_factor);
        splits += rc.stats.v[i].nsplit;
    }
    EXPECT_GT(splits, 0) << "the data was meant to force empty clusters";
    // Duplicated points sit exactly between the two halves of a split pair
    // (the split moves them symmetrically), so which half takes them is a
    // true tie that rounding decides: the centroids themselves may then
    // differ, but the first iteration (before any such tie) may not.
    // (Many points coincide with a centroid: their distance is pure
    // cancellation error, clamped at 0, hence 1e-4.)
    EXPECT_NEAR(rg.stats.v[0].objective, rc.stats.v[0].objective,
                1e-4 * std::fabs(rc.stats.v[0].objective));
}

TEST(GpuEngine, WeightsFrozenSphericalAndIntAsCpu) {
    FKM_REQUIRE_GPU();
    const size_t n = 6007, d = 24, k = 41;
    std::vector<float> x = mixture(n, d, k, 21);
    std::vector<float> w = random_weights(n, 4);
    std::vector<float> init(x.begin() + 100 * d, x.begin() + 105 * d);
    for (int variant = 0; variant < 3; variant++) {
        SCOPED_TRACE("variant " + std::to_string(variant));
        flashkm_params g = gpu_params(), c = cpu_params();
        for (flashkm_params *p : {&g, &c}) {
            p->niter = 7;
            p->weights = w.data();
            if (variant == 0) {
                p->init_centroids = init.data();
                p->n_init_centroids = 5;
                p->frozen_centroids = 1;
            } else if (variant == 1) {
                p->metric = FLASHKM_METRIC_INNER_PRODUCT;
                p->spherical = 1;
            } else {
                p->int_centroids = 1;
            }
        }
        TrainResult rg = run_train(g, n, d, k, x.data());
        TrainResult rc = run_train(c, n, d, k, x.data());
        ASSERT_EQ(rg.status, FLASHKM_OK) << rg.error;
        ASSERT_EQ(rc.status, FLASHKM_OK) << rc.error;
        EXPECT_LE(label_mismatches(rg, rc), n / 1000 + 1);
        EXPECT_LE(centroid_rel_diff(rg, rc), 1e-5);
        if (variant == 0)
            for (size_t i = 0; i < 5 * d; i++) EXPECT_EQ(rg.centroids.v[i], init[i]);
    }
}

// A batched call gives each problem exactly what a call of its own gives.
// Small (d = 10: fp32's split products on mma.sync), and at d = 128 with
// 3 x 157 units of 256 rows (on an H100/H200 the persistent wgmma kernel's
// blocks walk units of several problems): fp32's certified fp16 search
// (k d >= 16384) and fp16. d = 264 streams the rows in d chunks there
// (assign_wide.cu: 3 x 157 units of 128 rows, two centroid tiles of 256,
// the second partial) in fp32, tf32 and fp16. fp16 and bf16 with the
// centroids resident (assign_cres.cu): clusters of two blocks walk
// contiguous ranges of all problems' 128-row tiles and load a problem's
// centroids when their range enters it: at n = 3001 (24 tiles a problem,
// 72 over up to 66 clusters) most ranges cross a problem's end.
// A power-of-two k makes the batched update's groups label-major
// (gpu_state.h: the sort orders the label's bits alone), which a run of
// one problem never is: k = 256 at d = 8 (pq's shape, the small-d kernel)
// and k = 32; with weights, frozen centroids and groups over 2048 rows (the
// update's chunked path) in the `extras` runs.
struct BatchExtras {
    bool weights = false;
    size_t frozen = 0;          // init rows given per problem, all frozen
    size_t max_per_centroid = 0; // 0: the default subsampling
    size_t distinct = 0;        // rows drawn from this many points (empty clusters)
};

static void batch_equals_separate_runs(size_t n, size_t d, size_t k, flashkm_precision prec,
                                       const BatchExtras &extras = BatchExtras()) {
    SCOPED_TRACE("n " + std::to_string(n) + " d " + std::to_string(d) + " k " +
                 std::to_string(k) + " precision " + std::to_string((int)prec));
    const size_t B = 3;
    std::vector<float> x, w, init;
    for (size_t b = 0; b < B; b++) {
        std::vector<float> xb = extras.distinct ? duplicated_points(n, extras.distinct, d, 100 + b)
                                                : mixture(n, d, k, 100 + b);
        x.insert(x.end(), xb.begin(), xb.end());
        std::vector<float> wb = random_weights(n, 40 + b);
        w.insert(w.end(), wb.begin(), wb.end());
        init.insert(init.end(), xb.begin() + 7 * d, xb.begin() + (7 + extras.frozen) * d);
    }
    flashkm_params p = gpu_params(prec);
    p.niter = 9;
    if (extras.weights) p.weights = w.data();
    if (extras.frozen) {
        p.init_centroids = init.data();
        p.n_init_centroids = extras.frozen;
        p.frozen_centroids = 1;
    }
    if (extras.max_per_centroid) p.max_points_per_centroid = (int)extras.max_per_centroid;
    std::vector<Poisoned<float>> cents(B, Poisoned<float>(k * d));
    std::vector<Poisoned<int64_t>> labels(B, Poisoned<int64_t>(n));
    std::vector<Poisoned<flashkm_iteration_stats>> stats(B, Poisoned<flashkm_iteration_stats>(9));
    std::vector<flashkm_output> outs(B);
    for (size_t b = 0; b < B; b++) {
        std::memset(&outs[b], 0, sizeof outs[b]);
        outs[b].centroids = cents[b].data();
        outs[b].labels = labels[b].data();
        outs[b].stats = stats[b].data();
        outs[b].stats_capacity = 9;
    }
    ASSERT_EQ(flashkm_train_batch(&p, B, n, d, k, x.data(), outs.data()), FLASHKM_OK)
        << flashkm_last_error();
    for (size_t b = 0; b < B; b++) {
        flashkm_params one_p = p;
        if (extras.weights) one_p.weights = w.data() + b * n;
        if (extras.frozen) one_p.init_centroids = init.data() + b * extras.frozen * d;
        TrainResult one = run_train(one_p, n, d, k, x.data() + b * n * d);
        ASSERT_EQ(one.status, FLASHKM_OK) << one.error;
        EXPECT_TRUE(same_bits(cents[b].v.data(), one.centroids.v.data(), k * d * sizeof(float)))
            << "problem " << b;
        EXPECT_TRUE(same_bits(labels[b].v.data(), one.labels.v.data(), n * sizeof(int64_t)))
            << "problem " << b;
        int splits = 0;
        for (size_t i = 0; i < 9; i++) {
            EXPECT_EQ(stats[b].v[i].objective, one.stats.v[i].objective);
            EXPECT_EQ(stats[b].v[i].imbalance_factor, one.stats.v[i].imbalance_factor);
            EXPECT_EQ(stats[b].v[i].nsplit, one.stats.v[i].nsplit);
            splits += stats[b].v[i].nsplit;
        }
        if (extras.distinct) EXPECT_GT(splits, 0) << "the data was meant to force empty clusters";
    }
}

TEST(GpuEngine, BatchEqualsSeparateRuns) {
    FKM_REQUIRE_GPU();
    batch_equals_separate_runs(4001, 10, 33, FLASHKM_PRECISION_FP32);
    batch_equals_separate_runs(40001, 128, 150, FLASHKM_PRECISION_FP32);
    batch_equals_separate_runs(40001, 128, 150, FLASHKM_PRECISION_FP16);
    for (flashkm_precision prec :
         {FLASHKM_PRECISION_FP32, FLASHKM_PRECISION_TF32, FLASHKM_PRECISION_FP16})
        batch_equals_separate_runs(20001, 264, 300, prec);
    batch_equals_separate_runs(3001, 128, 600, FLASHKM_PRECISION_FP16);
    batch_equals_separate_runs(20001, 64, 1500, FLASHKM_PRECISION_BF16);
    batch_equals_separate_runs(20001, 128, 1024, FLASHKM_PRECISION_FP16);
}

TEST(GpuEngine, BatchWithLabelMajorGroupsEqualsSeparateRuns) {
    FKM_REQUIRE_GPU();
    batch_equals_separate_runs(8001, 8, 256, FLASHKM_PRECISION_TF32);
    batch_equals_separate_runs(8001, 8, 256, FLASHKM_PRECISION_FP32);
    batch_equals_separate_runs(4001, 10, 32, FLASHKM_PRECISION_FP32);
    BatchExtras ex;
    ex.weights = true;
    ex.frozen = 3;
    batch_equals_separate_runs(4001, 10, 32, FLASHKM_PRECISION_FP32, ex);
    ex.frozen = 1;
    ex.max_per_centroid = 1 << 20; // k = 4: groups of ~5000 rows, chunked
    batch_equals_separate_runs(20011, 8, 4, FLASHKM_PRECISION_FP32, ex);
    ex.weights = false;
    batch_equals_separate_runs(20011, 40, 4, FLASHKM_PRECISION_FP16, ex);
    BatchExtras empty; // 64 centroids, 40 distinct points: FAISS's splits
    empty.distinct = 40;
    batch_equals_separate_runs(5003, 9, 64, FLASHKM_PRECISION_FP32, empty);
}

// Groups over FKM_UPD_CHUNK = 2048 rows take the update's split path (chunk
// sums, added in chunk order by the group's last block; weights over the
// whole group); default subsampling (256 points per centroid) never makes
// such groups in the other tests. Rows not 16-byte aligned (d = 5), one
// 128-byte slice (8), two slices (40); with and without weights.
TEST(GpuEngine, LargeGroupsSplitIntoChunksAsCpu) {
    FKM_REQUIRE_GPU();
    const size_t n = 20011, k = 4;
    for (size_t d : {5, 8, 40}) {
        std::vector<float> x = mixture(n, d, k, 31 + d);
        std::vector<float> w = random_weights(n, 9);
        for (int weighted = 0; weighted < 2; weighted++) {
            SCOPED_TRACE("d=" + std::to_string(d) + " weighted=" + std::to_string(weighted));
            flashkm_params g = gpu_params(), c = cpu_params();
            for (flashkm_params *p : {&g, &c}) {
                p->niter = 5;
                p->max_points_per_centroid = 1 << 20; // every row: groups of ~5000
                if (weighted) p->weights = w.data();
            }
            TrainResult rg = run_train(g, n, d, k, x.data());
            TrainResult rc = run_train(c, n, d, k, x.data());
            TrainResult rg2 = run_train(g, n, d, k, x.data());
            ASSERT_EQ(rg.status, FLASHKM_OK) << rg.error;
            ASSERT_EQ(rc.status, FLASHKM_OK) << rc.error;
            EXPECT_LE(label_mismatches(rg, rc), n / 1000 + 1);
            EXPECT_LE(centroid_rel_diff(rg, rc), 1e-5); // chunked sums: within rounding
            EXPECT_EQ(diff_results(rg, rg2), "");       // and deterministic
        }
    }
}

}  // namespace
