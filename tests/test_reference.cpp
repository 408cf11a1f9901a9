// test_reference.cpp — flashkm against a float64 reference written here:
// assignment (labels identical except certified near-ties, distances to
// 1e-5 of the computation's scale) and one Lloyd step from the same initial
// centroids (centroids to 1e-5 relative), over odd shapes.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <sstream>

#include "support/gmm.h"
#include "support/reference.h"
#include "support/train_helpers.h"

using namespace fkmtest;

namespace {

struct Shape {
    size_t d, n, k;
};

void PrintTo(const Shape &s, std::ostream *os) {
    *os << "d=" << s.d << " n=" << s.n << " k=" << s.k;
}

std::string shape_name(const testing::TestParamInfo<Shape> &info) {
    std::ostringstream o;
    o << "d" << info.param.d << "_n" << info.param.n << "_k" << info.param.k;
    return o.str();
}

// Centroids that are not data points: another draw of the same mixture.
// In one dimension, random draws put some of 257 centroids a hair apart,
// so most points near them are genuine fp32 ties; a jittered grid over the
// data's range keeps ties rare there too.
std::vector<float> centroids_for(const Shape &sh, uint64_t seed) {
    std::vector<float> c = mixture(sh.k, sh.d, 10, seed);
    if (sh.d == 1)
        for (size_t j = 0; j < sh.k; j++)
            c[j] = -6.0f + 18.0f * ((float)j + 0.5f) / (float)sh.k +
                   0.1f * std::tanh(c[j]) * 18.0f / (float)sh.k;
    return c;
}

void check_assign(const Shape &sh, flashkm_metric metric) {
    std::vector<float> x = mixture(sh.n, sh.d, 10, sh.d * 31 + sh.k);
    std::vector<float> c = centroids_for(sh, 99 + sh.k);
    flashkm_params p = default_params();
    p.metric = metric;
    AssignResult a = run_assign(p, sh.n, sh.d, sh.k, x.data(), c.data());
    ASSERT_EQ(a.status, FLASHKM_OK) << a.error;
    ASSERT_TRUE(a.labels.all_written()) << a.labels.poisoned() << " labels unwritten";
    ASSERT_TRUE(a.distances.all_written()) << a.distances.poisoned() << " distances unwritten";
    RefAssignment ref = ref_assign(x.data(), sh.n, sh.d, c.data(), sh.k, metric);
    size_t ties = 0;
    std::string err = check_assignment(ref, x.data(), sh.d, c.data(), metric,
                                       a.labels.data(), a.distances.data(),
                                       1e-5, &ties);
    EXPECT_EQ(err, "") << "near-ties in the data: " << ties;
    // The tie allowance must stay an exception, or the check proves little.
    EXPECT_LE(ties, sh.n / 50 + 1) << "too many certified near-ties";
    testing::Test::RecordProperty("near_ties", (int)ties);
}

}  // namespace

class AssignShapes : public testing::TestWithParam<Shape> {};

TEST_P(AssignShapes, L2MatchesFloat64) { check_assign(GetParam(), FLASHKM_METRIC_L2); }

TEST_P(AssignShapes, InnerProductMatchesFloat64) {
    check_assign(GetParam(), FLASHKM_METRIC_INNER_PRODUCT);
}

INSTANTIATE_TEST_SUITE_P(
    Reference, AssignShapes,
    testing::Values(Shape{1, 1000, 1}, Shape{1, 1000, 257}, Shape{3, 1000, 7},
                    Shape{3, 4099, 100}, Shape{17, 1000, 2},
                    Shape{17, 4099, 257}, Shape{100, 1000, 100},
                    Shape{100, 4099, 7}, Shape{129, 1000, 257},
                    Shape{129, 4099, 2}, Shape{129, 4099, 1}),
    shape_name);

namespace {

struct StepCase {
    Shape sh;
    flashkm_metric metric;
    int spherical;
    bool weighted;
};

void PrintTo(const StepCase &c, std::ostream *os) {
    PrintTo(c.sh, os);
    *os << (c.metric == FLASHKM_METRIC_INNER_PRODUCT ? " ip" : " l2")
        << (c.spherical ? " spherical" : "") << (c.weighted ? " weighted" : "");
}

std::string step_name(const testing::TestParamInfo<StepCase> &info) {
    const StepCase &c = info.param;
    std::ostringstream o;
    o << "d" << c.sh.d << "_n" << c.sh.n << "_k" << c.sh.k
      << (c.metric == FLASHKM_METRIC_INNER_PRODUCT ? "_ip" : "_l2")
      << (c.spherical ? "_spherical" : "") << (c.weighted ? "_weighted" : "");
    return o.str();
}

}  // namespace

class LloydStep : public testing::TestWithParam<StepCase> {};

// niter = 0 gives the initial centroids; niter = 1 must be one float64 Lloyd
// step from them (with the labels of the same assignment).
TEST_P(LloydStep, OneIterationMatchesFloat64Step) {
    const StepCase &tc = GetParam();
    const size_t n = tc.sh.n, d = tc.sh.d, k = tc.sh.k;
    std::vector<float> x = mixture(n, d, 12, 7 * d + k);
    if (tc.spherical) normalize_rows(x, d);
    std::vector<float> w;
    flashkm_params p = default_params();
    p.metric = tc.metric;
    p.spherical = tc.spherical;
    p.max_points_per_centroid = 1 << 20;  // no subsample: the step sees all x
    if (tc.weighted) {
        w = random_weights(n, k);
        p.weights = w.data();
    }
    p.niter = 0;
    TrainResult init = run_train(p, n, d, k, x.data());
    ASSERT_EQ(init.status, FLASHKM_OK) << init.error;
    ASSERT_TRUE(init.centroids.all_written());
    EXPECT_EQ(init.n_stats, 0u);

    // The initial centroids are rows perm[0..k-1] of FAISS's rand_perm(seed+1).
    std::vector<int64_t> perm = faiss_rand_perm_prefix(n, p.seed + 1, k);
    for (size_t i = 0; i < k; i++) {
        std::vector<float> row(x.begin() + perm[i] * d, x.begin() + (perm[i] + 1) * d);
        if (tc.spherical) normalize_rows(row, d);
        for (size_t j = 0; j < d; j++)
            ASSERT_NEAR(init.centroids.v[i * d + j], row[j],
                        tc.spherical ? 1e-6 : 0.0)
                << "initial centroid " << i << " is not row " << perm[i];
    }

    const float *c0 = init.centroids.data();
    AssignResult a0 = run_assign(p, n, d, k, x.data(), c0);
    ASSERT_EQ(a0.status, FLASHKM_OK) << a0.error;
    RefAssignment r0 = ref_assign(x.data(), n, d, c0, k, tc.metric);
    ASSERT_EQ(check_assignment(r0, x.data(), d, c0, tc.metric, a0.labels.data(),
                               nullptr, 1e-5), "");
    // Certified ties may go either way: the step follows flashkm's choice.
    int want_split = 0;
    std::vector<double> c1 = ref_lloyd_step(x.data(), n, d, c0, k, a0.labels.data(),
                                            p.weights, 0, tc.spherical, 0, &want_split);
    double want_obj = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = (size_t)a0.labels.v[i];
        double s = 0;
        for (size_t j = 0; j < d; j++) {
            double xv = x[i * d + j], cv = c0[l * d + j];
            s += tc.metric == FLASHKM_METRIC_L2 ? (xv - cv) * (xv - cv) : xv * cv;
        }
        want_obj += s;
    }

    p.niter = 1;
    TrainResult one = run_train(p, n, d, k, x.data());
    ASSERT_EQ(one.status, FLASHKM_OK) << one.error;
    ASSERT_TRUE(one.centroids.all_written());
    ASSERT_EQ(one.n_stats, 1u);
    ASSERT_TRUE(one.stats.all_written());
    EXPECT_LE(max_rel_diff(one.centroids.data(), c1.data(), k * d), 1e-5);
    EXPECT_EQ(one.stats.v[0].nsplit, want_split);
    EXPECT_NEAR(one.stats.v[0].objective, want_obj, 1e-5 * std::fabs(want_obj) + 1e-6);
    EXPECT_EQ(one.objective, one.stats.v[0].objective);

    // The labels returned are those of the final centroids.
    ASSERT_TRUE(one.labels.all_written());
    ASSERT_TRUE(one.distances.all_written());
    RefAssignment r1 = ref_assign(x.data(), n, d, one.centroids.data(), k, tc.metric);
    EXPECT_EQ(check_assignment(r1, x.data(), d, one.centroids.data(), tc.metric,
                               one.labels.data(), one.distances.data(), 1e-5), "");
}

INSTANTIATE_TEST_SUITE_P(
    Reference, LloydStep,
    testing::Values(StepCase{{1, 1000, 2}, FLASHKM_METRIC_L2, 0, false},
                    StepCase{{3, 4099, 7}, FLASHKM_METRIC_L2, 0, false},
                    StepCase{{17, 1000, 100}, FLASHKM_METRIC_L2, 0, false},
                    StepCase{{100, 4099, 7}, FLASHKM_METRIC_L2, 0, false},
                    StepCase{{129, 1000, 257}, FLASHKM_METRIC_L2, 0, false},
                    StepCase{{129, 4099, 1}, FLASHKM_METRIC_L2, 0, false},
                    StepCase{{17, 4099, 257}, FLASHKM_METRIC_L2, 0, true},
                    StepCase{{100, 1000, 7}, FLASHKM_METRIC_INNER_PRODUCT, 1, false},
                    StepCase{{3, 1000, 100}, FLASHKM_METRIC_INNER_PRODUCT, 0, true}),
    step_name);

// Empty clusters: duplicated points make coinciding initial centroids; the
// step must split exactly as FAISS's split_clusters does.
TEST(Reference, EmptyClusterSplitStep) {
    const size_t n = 600, d = 5, distinct = 30, k = 28;
    std::vector<float> x = duplicated_points(n, distinct, d, 5);
    flashkm_params p = default_params();
    p.niter = 0;
    TrainResult init = run_train(p, n, d, k, x.data());
    ASSERT_EQ(init.status, FLASHKM_OK) << init.error;
    const float *c0 = init.centroids.data();
    AssignResult a0 = run_assign(p, n, d, k, x.data(), c0);
    ASSERT_EQ(a0.status, FLASHKM_OK) << a0.error;
    RefAssignment r0 = ref_assign(x.data(), n, d, c0, k, FLASHKM_METRIC_L2);
    ASSERT_EQ(check_assignment(r0, x.data(), d, c0, FLASHKM_METRIC_L2,
                               a0.labels.data(), nullptr, 1e-5), "");
    int want_split = 0;
    std::vector<double> c1 = ref_lloyd_step(x.data(), n, d, c0, k, a0.labels.data(),
                                            nullptr, 0, 0, 0, &want_split);
    ASSERT_GT(want_split, 0) << "the data should produce empty clusters";
    p.niter = 1;
    TrainResult one = run_train(p, n, d, k, x.data());
    ASSERT_EQ(one.status, FLASHKM_OK) << one.error;
    EXPECT_EQ(one.stats.v[0].nsplit, want_split);
    EXPECT_LE(max_rel_diff(one.centroids.data(), c1.data(), k * d), 1e-5);
}

// Above k * max_points_per_centroid points, the initial centroids come from
// the subsample rand_perm(n, seed)[0 .. k*max-1], drawn by rand_perm(seed+1).
TEST(Reference, SubsampleAndInitFollowRandPerm) {
    const size_t n = 3001, d = 6, k = 9;
    std::vector<float> x = mixture(n, d, 9, 3);
    flashkm_params p = default_params();
    p.niter = 0;
    p.max_points_per_centroid = 40;
    p.seed = 4321;
    TrainResult init = run_train(p, n, d, k, x.data(), false);
    ASSERT_EQ(init.status, FLASHKM_OK) << init.error;
    const size_t m = k * 40;
    std::vector<int64_t> sub = faiss_rand_perm_prefix(n, p.seed, m);
    std::vector<int64_t> pick = faiss_rand_perm_prefix(m, p.seed + 1, k);
    for (size_t i = 0; i < k; i++)
        ASSERT_TRUE(same_bits(init.centroids.data() + i * d,
                              x.data() + sub[pick[i]] * d, d * sizeof(float)))
            << "centroid " << i << " should be row " << sub[pick[i]];
}

// Frozen input centroids never move; the others follow one float64 step.
TEST(Reference, FrozenInputCentroidsStep) {
    const size_t n = 2000, d = 9, k = 12, nin = 4;
    std::vector<float> x = mixture(n, d, 12, 11);
    std::vector<float> cin = mixture(nin, d, 4, 12);
    flashkm_params p = default_params();
    p.init_centroids = cin.data();
    p.n_init_centroids = nin;
    p.frozen_centroids = 1;
    p.niter = 0;
    TrainResult init = run_train(p, n, d, k, x.data());
    ASSERT_EQ(init.status, FLASHKM_OK) << init.error;
    ASSERT_TRUE(same_bits(init.centroids.data(), cin.data(), nin * d * sizeof(float)));
    // The remaining initial centroids are perm[nin .. k-1].
    std::vector<int64_t> perm = faiss_rand_perm_prefix(n, p.seed + 1, k);
    for (size_t i = nin; i < k; i++)
        ASSERT_TRUE(same_bits(init.centroids.data() + i * d,
                              x.data() + perm[i] * d, d * sizeof(float)))
            << "centroid " << i;
    AssignResult a0 = run_assign(p, n, d, k, x.data(), init.centroids.data());
    ASSERT_EQ(a0.status, FLASHKM_OK) << a0.error;
    std::vector<double> c1 = ref_lloyd_step(x.data(), n, d, init.centroids.data(), k,
                                            a0.labels.data(), nullptr, nin, 0, 0, nullptr);
    p.niter = 1;
    TrainResult one = run_train(p, n, d, k, x.data());
    ASSERT_EQ(one.status, FLASHKM_OK) << one.error;
    EXPECT_TRUE(same_bits(one.centroids.data(), cin.data(), nin * d * sizeof(float)));
    EXPECT_LE(max_rel_diff(one.centroids.data(), c1.data(), k * d), 1e-5);
}
