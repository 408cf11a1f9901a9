// test_errors.cpp — every kind of bad input: the status, a message naming
// the culprit, outputs untouched (poison preserved), no crash. Also the
// status names, the per-thread last error, and out-of-memory injected at
// every allocation of a small training (through src/test_hooks.h).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <thread>

#include "../src/test_hooks.h"
#include "support/gmm.h"
#include "support/train_helpers.h"

// The hook is test-only: a library built without it still links.
#pragma weak flashkm_test_fail_alloc_after

using namespace fkmtest;

namespace {

const size_t kN = 120, kD = 4, kK = 5;

// Everything a flashkm_train call takes, valid until a case spoils it.
struct Call {
    flashkm_params p = default_params();
    const flashkm_params *pp = nullptr;
    size_t n = kN, d = kD, k = kK;
    std::vector<float> x;
    const float *xp = nullptr;
    Poisoned<float> centroids{kK * kD};
    Poisoned<int64_t> labels{kN};
    Poisoned<float> distances{kN};
    Poisoned<flashkm_iteration_stats> stats{25};
    flashkm_output out{};
    flashkm_output *outp = nullptr;
    std::vector<float> init;

    Call() {
        MixtureSpec s;
        s.n = kN;
        s.d = kD;
        s.centres = 5;
        x = gaussian_mixture(s);
        init = std::vector<float>(x.begin(), x.begin() + 2 * kD);
        pp = &p;
        xp = x.data();
        out.centroids = centroids.data();
        out.labels = labels.data();
        out.distances = distances.data();
        out.stats = stats.data();
        out.stats_capacity = stats.size();
        outp = &out;
    }
    flashkm_status run() { return flashkm_train(pp, n, d, k, xp, outp); }
    bool outputs_untouched() const {
        return centroids.untouched() && labels.untouched() &&
               distances.untouched() && stats.untouched();
    }
};

struct ErrorCase {
    const char *name;
    std::function<void(Call &)> spoil;
    flashkm_status want;
    // The message must contain one of these as a word (or, for phrases with
    // spaces, as a substring).
    std::vector<std::string> mentions;
};

bool message_mentions(const std::string &msg, const std::vector<std::string> &any) {
    for (const std::string &w : any) {
        if (w.find(' ') != std::string::npos || w.find('\'') != std::string::npos) {
            if (msg.find(w) != std::string::npos) return true;
        } else if (mentions_word(msg, w)) {
            return true;
        }
    }
    return any.empty();
}

const char *kNaNText = "input contains NaN's or Inf's";

std::vector<ErrorCase> train_cases() {
    const size_t big = std::numeric_limits<size_t>::max();
    return {
        {"NLessThanK", [](Call &c) { c.n = 4; }, FLASHKM_ERR_INVALID_ARGUMENT,
         {"should be at least as large as number of clusters"}},
        {"KZero", [](Call &c) { c.k = 0; }, FLASHKM_ERR_INVALID_ARGUMENT, {"k"}},
        {"DZero", [](Call &c) { c.d = 0; }, FLASHKM_ERR_INVALID_ARGUMENT, {"d"}},
        {"NZero", [](Call &c) { c.n = 0; }, FLASHKM_ERR_INVALID_ARGUMENT,
         {"n", "should be at least as large as number of clusters"}},
        {"NullParams", [](Call &c) { c.pp = nullptr; }, FLASHKM_ERR_INVALID_ARGUMENT,
         {"params"}},
        {"NullX", [](Call &c) { c.xp = nullptr; }, FLASHKM_ERR_INVALID_ARGUMENT, {"x"}},
        {"NullOut", [](Call &c) { c.outp = nullptr; }, FLASHKM_ERR_INVALID_ARGUMENT,
         {"out"}},
        {"NullCentroids", [](Call &c) { c.out.centroids = nullptr; },
         FLASHKM_ERR_INVALID_ARGUMENT, {"centroids"}},
        {"NaNFirst", [](Call &c) { c.x[0] = NAN; }, FLASHKM_ERR_INVALID_ARGUMENT,
         {kNaNText}},
        {"NaNLast", [](Call &c) { c.x.back() = NAN; }, FLASHKM_ERR_INVALID_ARGUMENT,
         {kNaNText}},
        {"InfMiddle", [](Call &c) { c.x[kN * kD / 2 + 1] = INFINITY; },
         FLASHKM_ERR_INVALID_ARGUMENT, {kNaNText}},
        {"NegInf", [](Call &c) { c.x[7] = -INFINITY; }, FLASHKM_ERR_INVALID_ARGUMENT,
         {kNaNText}},
        // FAISS checks all n rows before subsampling: a NaN in a row the
        // subsample would drop is still an error.
        {"NaNOutsideSubsample",
         [](Call &c) {
             c.p.max_points_per_centroid = 2;  // 120 > 5 * 2: subsample of 10
             for (size_t i = 0; i < kN * kD; i += kD * 3) c.x[i] = NAN;
             c.x.back() = NAN;
         },
         FLASHKM_ERR_INVALID_ARGUMENT, {kNaNText}},
        {"NTimesDOverflows", [big](Call &c) { c.n = big / 2 + 1; c.d = 4; },
         FLASHKM_ERR_INVALID_ARGUMENT, {"n", "d", "overflow", "overflows"}},
        {"BytesOverflow", [big](Call &c) { c.n = big / 4 + 1; c.d = 1; },
         FLASHKM_ERR_INVALID_ARGUMENT, {"n", "d", "overflow", "overflows"}},
        {"HugeBoth", [](Call &c) { c.n = (size_t)1 << 40; c.d = (size_t)1 << 40; },
         FLASHKM_ERR_INVALID_ARGUMENT, {"n", "d", "overflow", "overflows"}},
        {"HugeKAndD", [big](Call &c) { c.k = big / 3; c.n = big / 3; c.d = 8; },
         FLASHKM_ERR_INVALID_ARGUMENT, {"n", "d", "k", "overflow", "overflows"}},
        {"NiterNegative", [](Call &c) { c.p.niter = -1; }, FLASHKM_ERR_INVALID_ARGUMENT,
         {"niter"}},
        {"NredoZero", [](Call &c) { c.p.nredo = 0; }, FLASHKM_ERR_INVALID_ARGUMENT,
         {"nredo"}},
        {"NredoNegative", [](Call &c) { c.p.nredo = -3; }, FLASHKM_ERR_INVALID_ARGUMENT,
         {"nredo"}},
        {"MaxPointsZero", [](Call &c) { c.p.max_points_per_centroid = 0; },
         FLASHKM_ERR_INVALID_ARGUMENT, {"max_points_per_centroid"}},
        {"MaxPointsNegative", [](Call &c) { c.p.max_points_per_centroid = -5; },
         FLASHKM_ERR_INVALID_ARGUMENT, {"max_points_per_centroid"}},
        {"MetricOutOfRange", [](Call &c) { c.p.metric = (flashkm_metric)7; },
         FLASHKM_ERR_INVALID_ARGUMENT, {"metric"}},
        {"MetricNegative", [](Call &c) { c.p.metric = (flashkm_metric)-1; },
         FLASHKM_ERR_INVALID_ARGUMENT, {"metric"}},
        {"EngineOutOfRange", [](Call &c) { c.p.engine = (flashkm_engine)9; },
         FLASHKM_ERR_INVALID_ARGUMENT, {"engine"}},
        {"PrecisionOutOfRange", [](Call &c) { c.p.precision = (flashkm_precision)42; },
         FLASHKM_ERR_INVALID_ARGUMENT, {"precision"}},
        {"NInitGreaterThanK",
         [](Call &c) {
             c.init.resize((kK + 1) * kD, 1.0f);
             c.p.init_centroids = c.init.data();
             c.p.n_init_centroids = kK + 1;
         },
         FLASHKM_ERR_INVALID_ARGUMENT, {"n_init_centroids"}},
        {"InitNullWithNInit",
         [](Call &c) {
             c.p.init_centroids = nullptr;
             c.p.n_init_centroids = 2;
         },
         FLASHKM_ERR_INVALID_ARGUMENT, {"init_centroids"}},
        {"NumThreadsNegative", [](Call &c) { c.p.num_threads = -2; },
         FLASHKM_ERR_INVALID_ARGUMENT, {"num_threads"}},
    };
}

// Test names (and ctest's) show the case's name, not its bytes.
void PrintTo(const ErrorCase &c, std::ostream *os) { *os << c.name; }

std::string case_name(const testing::TestParamInfo<ErrorCase> &info) {
    return info.param.name;
}

}  // namespace

class TrainError : public testing::TestWithParam<ErrorCase> {};

TEST_P(TrainError, StatusMessageAndUntouchedOutputs) {
    const ErrorCase &ec = GetParam();
    Call c;
    ec.spoil(c);
    flashkm_status s = c.run();
    std::string msg = flashkm_last_error();
    EXPECT_EQ(s, ec.want) << "got " << status_name(s) << ": " << msg;
    EXPECT_FALSE(msg.empty());
    EXPECT_TRUE(message_mentions(msg, ec.mentions))
        << "message \"" << msg << "\" should name " << ec.mentions[0];
    EXPECT_TRUE(c.outputs_untouched()) << "a failed call wrote outputs";
}

INSTANTIATE_TEST_SUITE_P(Errors, TrainError, testing::ValuesIn(train_cases()),
                         case_name);

TEST(Errors, GpuEngineWithoutDevice) {
    if (flashkm_gpu_available()) GTEST_SKIP() << "a GPU is usable here";
    Call c;
    c.p.engine = FLASHKM_ENGINE_GPU;
    flashkm_status s = c.run();
    EXPECT_EQ(s, FLASHKM_ERR_NO_DEVICE) << status_name(s);
    EXPECT_NE(std::string(flashkm_last_error()), "");
    EXPECT_TRUE(c.outputs_untouched());
}

TEST(Errors, TrainDeviceWithoutDevice) {
    if (flashkm_gpu_available()) GTEST_SKIP() << "a GPU is usable here";
    Call c;
    flashkm_status s = flashkm_train_device(&c.p, c.n, c.d, c.k, c.x.data(),
                                            FLASHKM_DTYPE_F32, &c.out);
    EXPECT_EQ(s, FLASHKM_ERR_NO_DEVICE) << status_name(s);
    EXPECT_NE(std::string(flashkm_last_error()), "");
    EXPECT_TRUE(c.outputs_untouched());
}

TEST(Errors, TrainBatchDeviceWithoutDevice) {
    if (flashkm_gpu_available()) GTEST_SKIP() << "a GPU is usable here";
    Call c;
    flashkm_status s = flashkm_train_batch_device(&c.p, 1, c.n, c.d, c.k, c.x.data(),
                                                  FLASHKM_DTYPE_F16, &c.out);
    EXPECT_EQ(s, FLASHKM_ERR_NO_DEVICE) << status_name(s);
    EXPECT_NE(std::string(flashkm_last_error()), "");
    EXPECT_TRUE(c.outputs_untouched());
}

// Checked before any engine is picked, with or without a GPU.
TEST(Errors, TrainBatchDeviceBadArguments) {
    Call c;
    flashkm_status s = flashkm_train_batch_device(&c.p, 0, c.n, c.d, c.k, c.x.data(),
                                                  FLASHKM_DTYPE_F32, &c.out);
    EXPECT_EQ(s, FLASHKM_ERR_INVALID_ARGUMENT) << status_name(s);
    EXPECT_TRUE(mentions_word(flashkm_last_error(), "batch")) << flashkm_last_error();
    s = flashkm_train_batch_device(&c.p, 1, c.n, c.d, c.k, c.x.data(), (flashkm_dtype)7,
                                   &c.out);
    EXPECT_EQ(s, FLASHKM_ERR_INVALID_ARGUMENT) << status_name(s);
    EXPECT_TRUE(mentions_word(flashkm_last_error(), "dtype")) << flashkm_last_error();
    s = flashkm_train_batch_device(&c.p, 1, c.n, c.d, c.k, nullptr, FLASHKM_DTYPE_F32, &c.out);
    EXPECT_EQ(s, FLASHKM_ERR_INVALID_ARGUMENT) << status_name(s);
    EXPECT_TRUE(c.outputs_untouched());
}

TEST(Errors, AssignGpuEngineWithoutDevice) {
    if (flashkm_gpu_available()) GTEST_SKIP() << "a GPU is usable here";
    Call c;
    c.p.engine = FLASHKM_ENGINE_GPU;
    std::vector<float> cen(c.x.begin(), c.x.begin() + kK * kD);
    flashkm_status s = flashkm_assign(&c.p, kN, kD, kK, c.x.data(), cen.data(),
                                      c.labels.data(), c.distances.data());
    EXPECT_EQ(s, FLASHKM_ERR_NO_DEVICE) << status_name(s);
    EXPECT_TRUE(c.labels.untouched() && c.distances.untouched());
}

namespace {

struct AssignCase {
    const char *name;
    std::function<flashkm_status(Call &, const float *cen)> call;
    std::vector<std::string> mentions;
};

std::vector<AssignCase> assign_cases() {
    return {
        {"BothOutputsNull",
         [](Call &c, const float *cen) {
             return flashkm_assign(&c.p, kN, kD, kK, c.xp, cen, nullptr, nullptr);
         },
         {"labels", "distances"}},
        {"NullCentroids",
         [](Call &c, const float *) {
             return flashkm_assign(&c.p, kN, kD, kK, c.xp, nullptr,
                                   c.labels.data(), c.distances.data());
         },
         {"centroids"}},
        {"NullX",
         [](Call &c, const float *cen) {
             return flashkm_assign(&c.p, kN, kD, kK, nullptr, cen, c.labels.data(),
                                   c.distances.data());
         },
         {"x"}},
        {"NullParams",
         [](Call &c, const float *cen) {
             return flashkm_assign(nullptr, kN, kD, kK, c.xp, cen, c.labels.data(),
                                   c.distances.data());
         },
         {"params"}},
        {"KZero",
         [](Call &c, const float *cen) {
             return flashkm_assign(&c.p, kN, kD, 0, c.xp, cen, c.labels.data(),
                                   c.distances.data());
         },
         {"k"}},
        {"DZero",
         [](Call &c, const float *cen) {
             return flashkm_assign(&c.p, kN, 0, kK, c.xp, cen, c.labels.data(),
                                   c.distances.data());
         },
         {"d"}},
        {"BadMetric",
         [](Call &c, const float *cen) {
             c.p.metric = (flashkm_metric)5;
             return flashkm_assign(&c.p, kN, kD, kK, c.xp, cen, c.labels.data(),
                                   c.distances.data());
         },
         {"metric"}},
        {"SizeOverflow",
         [](Call &c, const float *cen) {
             return flashkm_assign(&c.p, std::numeric_limits<size_t>::max() / 2, kD,
                                   kK, c.xp, cen, c.labels.data(),
                                   c.distances.data());
         },
         {"n", "d", "overflow", "overflows"}},
    };
}

void PrintTo(const AssignCase &c, std::ostream *os) { *os << c.name; }

std::string assign_name(const testing::TestParamInfo<AssignCase> &info) {
    return info.param.name;
}

}  // namespace

class AssignError : public testing::TestWithParam<AssignCase> {};

TEST_P(AssignError, InvalidAndUntouched) {
    Call c;
    std::vector<float> cen(c.x.begin(), c.x.begin() + kK * kD);
    flashkm_status s = GetParam().call(c, cen.data());
    std::string msg = flashkm_last_error();
    EXPECT_EQ(s, FLASHKM_ERR_INVALID_ARGUMENT) << status_name(s) << ": " << msg;
    EXPECT_TRUE(message_mentions(msg, GetParam().mentions)) << msg;
    EXPECT_TRUE(c.labels.untouched());
    EXPECT_TRUE(c.distances.untouched());
}

INSTANTIATE_TEST_SUITE_P(Errors, AssignError, testing::ValuesIn(assign_cases()),
                         assign_name);

// A bad problem in a batch fails the whole call before any output is written.
TEST(Errors, BatchWithNaNInLastProblemWritesNothing) {
    const size_t B = 3, n = 200, d = 4, k = 6;
    MixtureSpec s;
    s.n = B * n;
    s.d = d;
    std::vector<float> x = gaussian_mixture(s);
    x[(B - 1) * n * d + 17] = NAN;
    flashkm_params p = default_params();
    std::vector<Poisoned<float>> cen;
    std::vector<Poisoned<int64_t>> lab;
    std::vector<flashkm_output> outs(B);
    for (size_t b = 0; b < B; b++) {
        cen.emplace_back(k * d);
        lab.emplace_back(n);
    }
    for (size_t b = 0; b < B; b++) {
        outs[b] = flashkm_output{};
        outs[b].centroids = cen[b].data();
        outs[b].labels = lab[b].data();
    }
    flashkm_status st = flashkm_train_batch(&p, B, n, d, k, x.data(), outs.data());
    EXPECT_EQ(st, FLASHKM_ERR_INVALID_ARGUMENT) << status_name(st);
    EXPECT_NE(std::string(flashkm_last_error()).find(kNaNText), std::string::npos)
        << flashkm_last_error();
    for (size_t b = 0; b < B; b++) {
        EXPECT_TRUE(cen[b].untouched()) << "problem " << b;
        EXPECT_TRUE(lab[b].untouched()) << "problem " << b;
    }
}

TEST(Errors, BatchNullOutputs) {
    Call c;
    flashkm_status st = flashkm_train_batch(&c.p, 2, kN / 2, kD, kK, c.x.data(), nullptr);
    EXPECT_EQ(st, FLASHKM_ERR_INVALID_ARGUMENT);
    std::string msg = flashkm_last_error();
    EXPECT_TRUE(mentions_word(msg, "outs") || mentions_word(msg, "out")) << msg;
}

TEST(Errors, BatchOneOutputWithoutCentroids) {
    Call c;
    Poisoned<float> c0(kK * kD);
    flashkm_output outs[2] = {};
    outs[0].centroids = c0.data();
    outs[1].centroids = nullptr;
    flashkm_status st = flashkm_train_batch(&c.p, 2, kN / 2, kD, kK, c.x.data(), outs);
    EXPECT_EQ(st, FLASHKM_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(mentions_word(flashkm_last_error(), "centroids")) << flashkm_last_error();
    EXPECT_TRUE(c0.untouched());
}

TEST(Errors, ParamsInitNull) {
    EXPECT_EQ(flashkm_params_init(nullptr), FLASHKM_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(flashkm_last_error()), "");
}

TEST(Errors, StatusStrings) {
    EXPECT_STREQ(flashkm_status_string(FLASHKM_OK), "FLASHKM_OK");
    EXPECT_STREQ(flashkm_status_string(FLASHKM_ERR_INVALID_ARGUMENT),
                 "FLASHKM_ERR_INVALID_ARGUMENT");
    EXPECT_STREQ(flashkm_status_string(FLASHKM_ERR_OUT_OF_MEMORY),
                 "FLASHKM_ERR_OUT_OF_MEMORY");
    EXPECT_STREQ(flashkm_status_string(FLASHKM_ERR_NO_DEVICE), "FLASHKM_ERR_NO_DEVICE");
    EXPECT_STREQ(flashkm_status_string(FLASHKM_ERR_DEVICE), "FLASHKM_ERR_DEVICE");
    EXPECT_STREQ(flashkm_status_string(FLASHKM_ERR_UNSUPPORTED),
                 "FLASHKM_ERR_UNSUPPORTED");
    EXPECT_STREQ(flashkm_status_string(FLASHKM_ERR_INTERNAL), "FLASHKM_ERR_INTERNAL");
    const char *unknown = flashkm_status_string((flashkm_status)-99);
    ASSERT_NE(unknown, nullptr);
    EXPECT_NE(std::string(unknown), "");
}

TEST(Errors, LastErrorIsPerThread) {
    Call c;
    c.k = 0;
    ASSERT_NE(c.run(), FLASHKM_OK);
    std::string mine = flashkm_last_error();
    ASSERT_FALSE(mine.empty());
    std::string other_before, other_after;
    std::thread t([&] {
        other_before = flashkm_last_error();
        Call c2;
        c2.p.nredo = 0;
        flashkm_train(&c2.p, c2.n, c2.d, c2.k, c2.x.data(), &c2.out);
        other_after = flashkm_last_error();
    });
    t.join();
    EXPECT_EQ(other_before, "") << "a new thread sees no error";
    EXPECT_TRUE(mentions_word(other_after, "nredo")) << other_after;
    EXPECT_EQ(std::string(flashkm_last_error()), mine)
        << "another thread's failure changed this thread's message";
}

TEST(Errors, ConcurrentFailuresKeepTheirOwnMessages) {
    std::vector<std::string> got(4);
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; t++)
        ts.emplace_back([t, &got] {
            for (int rep = 0; rep < 50; rep++) {
                Call c;
                if (t % 2) c.p.nredo = 0; else c.p.niter = -1;
                c.run();
                std::string m = flashkm_last_error();
                if (!mentions_word(m, t % 2 ? "nredo" : "niter")) {
                    got[t] = "wrong message: " + m;
                    return;
                }
            }
            got[t] = "ok";
        });
    for (auto &th : ts) th.join();
    for (int t = 0; t < 4; t++) EXPECT_EQ(got[t], "ok") << "thread " << t;
}

// SQLite-style: make the i-th allocation fail, for every i, and check that
// each such call reports OUT_OF_MEMORY, names the bytes, leaves the outputs
// untouched, and (under ASan) leaks nothing.
TEST(Errors, OutOfMemoryAtEveryAllocation) {
    if (!flashkm_test_fail_alloc_after)
        GTEST_SKIP() << "library built without flashkm_test_fail_alloc_after";
    long failures = 0;
    bool completed = false;
    for (long i = 0; i < 2000 && !completed; i++) {
        Call c;
        c.p.nredo = 2;
        c.p.niter = 3;
        c.p.init_centroids = c.init.data();
        c.p.n_init_centroids = 2;
        c.p.max_points_per_centroid = 20;  // 120 > 100: subsample too
        flashkm_test_fail_alloc_after(i);
        flashkm_status s = c.run();
        std::string msg = flashkm_last_error();
        flashkm_test_fail_alloc_after(-1);
        if (s == FLASHKM_OK) {
            completed = true;
            EXPECT_TRUE(c.centroids.all_written());
            break;
        }
        failures++;
        EXPECT_EQ(s, FLASHKM_ERR_OUT_OF_MEMORY) << "allocation " << i << ": " << msg;
        EXPECT_NE(msg.find("byte"), std::string::npos)
            << "allocation " << i << ": message should give the bytes: " << msg;
        EXPECT_TRUE(c.outputs_untouched()) << "allocation " << i;
    }
    EXPECT_TRUE(completed) << "still failing after 2000 allocations";
    EXPECT_GT(failures, 0) << "the hook never made an allocation fail";
}

TEST(Errors, OutOfMemoryInAssignAndBatch) {
    if (!flashkm_test_fail_alloc_after)
        GTEST_SKIP() << "library built without flashkm_test_fail_alloc_after";
    long assign_failures = 0, batch_failures = 0;
    for (long i = 0; i < 500; i++) {
        Call c;
        std::vector<float> cen(c.x.begin(), c.x.begin() + kK * kD);
        flashkm_test_fail_alloc_after(i);
        flashkm_status s = flashkm_assign(&c.p, kN, kD, kK, c.x.data(), cen.data(),
                                          c.labels.data(), c.distances.data());
        flashkm_test_fail_alloc_after(-1);
        if (s == FLASHKM_OK) break;
        assign_failures++;
        EXPECT_EQ(s, FLASHKM_ERR_OUT_OF_MEMORY);
        EXPECT_TRUE(c.labels.untouched() && c.distances.untouched());
    }
    for (long i = 0; i < 2000; i++) {
        Call c;
        Poisoned<float> c0(kK * kD), c1(kK * kD);
        flashkm_output outs[2] = {};
        outs[0].centroids = c0.data();
        outs[1].centroids = c1.data();
        c.p.niter = 2;
        flashkm_test_fail_alloc_after(i);
        flashkm_status s = flashkm_train_batch(&c.p, 2, kN / 2, kD, kK, c.x.data(), outs);
        flashkm_test_fail_alloc_after(-1);
        if (s == FLASHKM_OK) break;
        batch_failures++;
        EXPECT_EQ(s, FLASHKM_ERR_OUT_OF_MEMORY);
        EXPECT_TRUE(c0.untouched() && c1.untouched()) << "allocation " << i;
    }
    EXPECT_GT(assign_failures + batch_failures, 0);
}
