// test_device_faults.cpp — CUDA failures in the middle of GPU calls, many
// times over: 1000 calls of five kinds on the GPU engine (train with
// subsample + redos + input centroids + weights, batched train, assign,
// inner product with empty-cluster splits, device-resident input), where
// call i makes checked CUDA call number j report a failure — a kernel
// fault (cudaErrorLaunchFailure) or a device allocation failure
// (cudaErrorMemoryAllocation), alternately — for every j of that kind of
// call in turn, and lets the call through after the last one. What must
// hold each time:
//   - the call returns FLASHKM_ERR_DEVICE with CUDA's text, or
//     FLASHKM_ERR_OUT_OF_MEMORY, with a message, and writes no output;
//   - a passing call gives bit for bit the result of an undisturbed call;
//   - device memory is the same before and after: cudaMemGetInfo's free
//     bytes after the warm-up equal those every 100 calls and at the end.
// Without a CUDA device the test skips with "no CUDA device".
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "../../src/test_hooks.h"
#include "fault_scenarios.h"
#include "rss.h"
#include "support/cudart.h"

using namespace fkmtest;
using namespace fkmrel;

namespace {

const int kCalls = 1000;
const int kLaunchFailure = 719;   // cudaErrorLaunchFailure
const int kMemoryAllocation = 2;  // cudaErrorMemoryAllocation

// Checked CUDA calls an undisturbed call of this kind makes.
long cuda_calls_of(const Scenario &s) {
    Outputs o = s.fresh();
    const long big = 1L << 40;
    flashkm_test_fail_device_after(big, kLaunchFailure);
    flashkm_status st = s.run(o);
    long left = flashkm_test_fail_device_after(-1, 0);
    return st == FLASHKM_OK ? big - left : -1;
}

}  // namespace

TEST(Reliability, CudaFailureAtEveryCallOverManyCalls) {
    if (!flashkm_gpu_available()) GTEST_SKIP() << "no CUDA device";
    Cudart rt;
    FKM_REQUIRE_CUDART(rt);

    std::vector<Scenario> sc;
    for (Scenario &s : scenarios(FLASHKM_ENGINE_GPU))
        if (s.n != s.k) sc.push_back(s);  // n == k never reaches the engine
    // Device-resident input: the upload's own CUDA path.
    Scenario dev = sc[0];
    dev.name = "train_device: f32 rows already on the GPU";
    dev.weights.clear();
    dev.init.clear();
    void *dx = to_device(rt, dev.x.data(), dev.x.size() * sizeof(float));
    ASSERT_NE(dx, nullptr);
    dev.dx = dx;
    sc.push_back(dev);

    std::vector<long> calls;
    std::vector<Outputs> refs;
    for (const Scenario &s : sc) {
        calls.push_back(cuda_calls_of(s));
        ASSERT_GT(calls.back(), 0) << s.name << ": " << flashkm_last_error();
        refs.push_back(s.fresh());
        ASSERT_EQ(s.run(refs.back()), FLASHKM_OK) << s.name << ": " << flashkm_last_error();
        Outputs again = s.fresh();
        ASSERT_EQ(s.run(again), FLASHKM_OK);
        ASSERT_TRUE(again.same_as(refs.back())) << s.name << ": two undisturbed calls differ";
    }
    const size_t free0 = rt.free_bytes();
    ASSERT_GT(free0, 0u);

    long failed = 0, passed = 0, device_st = 0, oom_st = 0, free_checks = 0;
    for (int i = 0; i < kCalls; i++) {
        const size_t which = (size_t)i % sc.size();
        const Scenario &s = sc[which];
        const long j = (long)(i / sc.size()) % (calls[which] + 1);  // calls: pass
        const int code = (i / 2) % 2 ? kMemoryAllocation : kLaunchFailure;
        Outputs o = s.fresh();
        flashkm_test_fail_device_after(j, code);
        flashkm_status st = s.run(o);
        std::string msg = flashkm_last_error();
        long left = flashkm_test_fail_device_after(-1, 0);
        if (j < calls[which]) {
            failed++;
            EXPECT_EQ(left, -1) << s.name << ": the injected failure did not fire";
            if (code == kLaunchFailure) {
                device_st += st == FLASHKM_ERR_DEVICE;
                ASSERT_EQ(st, FLASHKM_ERR_DEVICE) << s.name << ", CUDA call " << j << ": " << msg;
                EXPECT_NE(msg.find("CUDA error in "), std::string::npos) << msg;
            } else {
                oom_st += st == FLASHKM_ERR_OUT_OF_MEMORY;
                ASSERT_EQ(st, FLASHKM_ERR_OUT_OF_MEMORY)
                    << s.name << ", CUDA call " << j << ": " << msg;
                EXPECT_FALSE(msg.empty());
            }
            EXPECT_TRUE(o.untouched())
                << s.name << ", CUDA call " << j << ": a failed call wrote its outputs";
        } else {
            passed++;
            ASSERT_TRUE(passed_as_undisturbed(s, st, msg, o, refs[which], failed));
        }
        if (i % 100 == 99) {
            free_checks++;
            ASSERT_EQ(rt.free_bytes(), free0)
                << "device memory changed after " << i + 1 << " calls (" << failed << " failed)";
        }
    }
    const size_t free_end = rt.free_bytes();
    rt.free_(dx);
    std::printf("[ reliability ] %d GPU calls: %ld failed (%ld FLASHKM_ERR_DEVICE, %ld "
                "FLASHKM_ERR_OUT_OF_MEMORY), %ld passed; checked CUDA calls per kind:",
                kCalls, failed, device_st, oom_st, passed);
    for (size_t k = 0; k < sc.size(); k++) std::printf(" %ld", calls[k]);
    std::printf("\n[ reliability ] cudaMemGetInfo free: %zu bytes after the warm-up, %zu at "
                "the end (%ld checks in between, all equal); VmRSS %ld KiB\n",
                free0, free_end, free_checks, rss_kib());
    EXPECT_EQ(free_end, free0);
    EXPECT_GT(failed, kCalls / 2);
    EXPECT_GT(passed, 0);
}
