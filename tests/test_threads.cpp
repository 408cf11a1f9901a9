// test_threads.cpp — results must not depend on the CPU engine's thread
// count (bit for bit), and concurrent calls from several std::threads must
// each give exactly their serial result.
#include <gtest/gtest.h>

#include <thread>

#include "support/gmm.h"
#include "support/train_helpers.h"

using namespace fkmtest;

namespace {

struct Problem {
    size_t n, d, k;
    std::vector<float> x, w;
    flashkm_params p;
};

Problem make_problem(uint64_t seed, size_t n, size_t d, size_t k,
                     flashkm_metric metric = FLASHKM_METRIC_L2,
                     bool weighted = false) {
    Problem pr{n, d, k, {}, {}, default_params()};
    MixtureSpec s;
    s.n = n;
    s.d = d;
    s.centres = k + 3;
    s.seed = seed;
    pr.x = gaussian_mixture(s);
    if (metric == FLASHKM_METRIC_INNER_PRODUCT) {
        normalize_rows(pr.x, d);
        pr.p.spherical = 1;
    }
    pr.p.metric = metric;
    pr.p.engine = FLASHKM_ENGINE_CPU;
    pr.p.niter = 10;
    if (weighted) {
        pr.w = random_weights(n, seed);
        pr.p.weights = pr.w.data();
    }
    return pr;
}

TrainResult train_with_threads(const Problem &pr, int threads) {
    flashkm_params p = pr.p;
    p.num_threads = threads;
    return run_train(p, pr.n, pr.d, pr.k, pr.x.data());
}

void expect_thread_count_invariant(const Problem &pr) {
    TrainResult one = train_with_threads(pr, 1);
    ASSERT_EQ(one.status, FLASHKM_OK) << one.error;
    ASSERT_TRUE(one.centroids.all_written());
    for (int t : {2, 3, 0}) {
        TrainResult many = train_with_threads(pr, t);
        ASSERT_EQ(many.status, FLASHKM_OK) << many.error;
        EXPECT_EQ(diff_results(one, many), "") << "num_threads " << t << " vs 1";
    }
}

}  // namespace

TEST(Threads, L2ResultIndependentOfThreadCount) {
    expect_thread_count_invariant(make_problem(1, 4099, 17, 37));
}

TEST(Threads, WeightedResultIndependentOfThreadCount) {
    expect_thread_count_invariant(make_problem(2, 3001, 9, 20, FLASHKM_METRIC_L2, true));
}

TEST(Threads, InnerProductResultIndependentOfThreadCount) {
    expect_thread_count_invariant(
        make_problem(3, 2500, 24, 30, FLASHKM_METRIC_INNER_PRODUCT));
}

TEST(Threads, EmptyClustersIndependentOfThreadCount) {
    Problem pr = make_problem(4, 600, 6, 36);
    pr.x = duplicated_points(600, 40, 6, 4);
    expect_thread_count_invariant(pr);
}

TEST(Threads, AssignIndependentOfThreadCount) {
    Problem pr = make_problem(5, 4099, 33, 65);
    std::vector<float> cen(pr.x.begin(), pr.x.begin() + pr.k * pr.d);
    flashkm_params p = pr.p;
    p.num_threads = 1;
    AssignResult a = run_assign(p, pr.n, pr.d, pr.k, pr.x.data(), cen.data());
    ASSERT_EQ(a.status, FLASHKM_OK) << a.error;
    for (int t : {2, 3}) {
        p.num_threads = t;
        AssignResult b = run_assign(p, pr.n, pr.d, pr.k, pr.x.data(), cen.data());
        ASSERT_EQ(b.status, FLASHKM_OK) << b.error;
        EXPECT_TRUE(same_bits(a.labels.data(), b.labels.data(), pr.n * 8)) << t;
        EXPECT_TRUE(same_bits(a.distances.data(), b.distances.data(), pr.n * 4)) << t;
    }
}

namespace {

// Runs problems[i] on its own std::thread, all at once, and compares each
// with its serial result.
void expect_concurrent_equals_serial(const std::vector<Problem> &problems,
                                     int threads_each) {
    std::vector<TrainResult> serial;
    for (const Problem &pr : problems) {
        serial.push_back(train_with_threads(pr, threads_each));
        ASSERT_EQ(serial.back().status, FLASHKM_OK) << serial.back().error;
    }
    for (int round = 0; round < 2; round++) {
        std::vector<TrainResult> par(problems.size());
        std::vector<std::thread> ts;
        for (size_t i = 0; i < problems.size(); i++)
            ts.emplace_back([&, i] { par[i] = train_with_threads(problems[i], threads_each); });
        for (auto &t : ts) t.join();
        for (size_t i = 0; i < problems.size(); i++) {
            ASSERT_EQ(par[i].status, FLASHKM_OK) << par[i].error;
            EXPECT_EQ(diff_results(serial[i], par[i]), "")
                << "problem " << i << ", round " << round;
        }
    }
}

}  // namespace

TEST(Threads, TwoConcurrentTrainings) {
    expect_concurrent_equals_serial(
        {make_problem(10, 3000, 16, 25), make_problem(11, 2000, 7, 13, FLASHKM_METRIC_L2, true)},
        2);
}

TEST(Threads, FourConcurrentTrainings) {
    expect_concurrent_equals_serial(
        {make_problem(20, 2000, 16, 25), make_problem(21, 1500, 5, 9),
         make_problem(22, 1800, 12, 17, FLASHKM_METRIC_INNER_PRODUCT),
         make_problem(23, 2200, 3, 40, FLASHKM_METRIC_L2, true)},
        1);
}

TEST(Threads, FourConcurrentSameProblemDefaultThreads) {
    Problem pr = make_problem(30, 2500, 10, 20);
    expect_concurrent_equals_serial({pr, pr, pr, pr}, 0);
}
