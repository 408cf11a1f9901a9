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
#include "fault_scenarios.h"

using namespace fkmtest;
using namespace fkmrel;

namespace {

const int kCalls = 1000;
// Allowed RSS growth between the end of the warm-up and the end of the run.
const long kRssGrowthBoundKiB = 2048;

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
    std::vector<Scenario> sc = scenarios(FLASHKM_ENGINE_CPU);
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
            ASSERT_TRUE(passed_as_undisturbed(s, st, msg, o, refs[which], failed));
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
