// test_gpu_device.cpp — device-resident input (flashkm_train_device and
// flashkm_train_batch_device, f32 and f16) and the device-memory limit
// (params and environment).
#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <memory>

#include "support/cudart.h"
#include "test_gpu_support.h"

using namespace fkmtest;

namespace {

uint16_t to_half(float f) { // round to nearest even, normal range only (test data)
    uint32_t u;
    std::memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000u;
    int e = (int)((u >> 23) & 0xff) - 127 + 15;
    uint32_t m = u & 0x7fffffu;
    if (e <= 0) return (uint16_t)sign;
    uint32_t h = sign | ((uint32_t)e << 10) | (m >> 13);
    uint32_t rest = m & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++;
    return (uint16_t)h;
}

// Poisoned centroids and labels, and an output that points at them.
struct PoisonedOutput {
    Poisoned<float> cent;
    Poisoned<int64_t> labels;
    flashkm_output out;
    PoisonedOutput(size_t k, size_t d, size_t n) : cent(k * d), labels(n) { reset(); }
    void reset() { // poisoned again, for the next run
        cent.poison();
        labels.poison();
        std::memset(&out, 0, sizeof out);
        out.centroids = cent.data();
        out.labels = labels.data();
    }
    PoisonedOutput(const PoisonedOutput &) = delete; // out points into this object
};

TEST(GpuDevice, DeviceInputGivesTheHostResult) {
    FKM_REQUIRE_GPU();
    Cudart rt;
    FKM_REQUIRE_CUDART(rt);
    const size_t n = 9001, d = 20, k = 45;
    std::vector<float> x = mixture(n, d, k, 31);
    flashkm_params p = gpu_params();
    p.niter = 10;
    TrainResult host = run_train(p, n, d, k, x.data());
    ASSERT_EQ(host.status, FLASHKM_OK) << host.error;

    void *dx = to_device(rt, x.data(), x.size() * sizeof(float));
    ASSERT_NE(dx, nullptr);
    PoisonedOutput po(k, d, n);
    ASSERT_EQ(flashkm_train_device(&p, n, d, k, dx, FLASHKM_DTYPE_F32, &po.out), FLASHKM_OK)
        << flashkm_last_error();
    EXPECT_TRUE(same_bits(po.cent.v.data(), host.centroids.v.data(), k * d * sizeof(float)));
    EXPECT_TRUE(same_bits(po.labels.v.data(), host.labels.v.data(), n * sizeof(int64_t)));
    EXPECT_EQ(po.out.objective, host.objective);
    rt.free_(dx);

    // fp16 input: the update reads fp16 values, so the objective is close.
    std::vector<uint16_t> xh(x.size());
    for (size_t i = 0; i < x.size(); i++) xh[i] = to_half(x[i]);
    void *dh = to_device(rt, xh.data(), xh.size() * 2);
    ASSERT_NE(dh, nullptr);
    po.cent.poison();
    p.precision = FLASHKM_PRECISION_FP16;
    ASSERT_EQ(flashkm_train_device(&p, n, d, k, dh, FLASHKM_DTYPE_F16, &po.out), FLASHKM_OK)
        << flashkm_last_error();
    EXPECT_TRUE(po.cent.all_written());
    EXPECT_NEAR(po.out.objective, host.objective, 1e-3 * std::fabs(host.objective));
    rt.free_(dh);
}

// flashkm_train_batch_device: B problems on the GPU in one call, each the
// same as its own flashkm_train_device call (fp16 rows: the resident
// centroids kernel at k = 300 and 700) and, from f32 rows, the same as the
// host batch.
TEST(GpuDevice, BatchDeviceInputGivesSeparateRuns) {
    FKM_REQUIRE_GPU();
    Cudart rt;
    FKM_REQUIRE_CUDART(rt);
    const size_t B = 3, n = 5003, d = 128;
    for (size_t k : {300, 700}) {
        SCOPED_TRACE("k " + std::to_string(k));
        std::vector<float> x;
        for (size_t b = 0; b < B; b++) {
            std::vector<float> xb = mixture(n, d, k, 500 + b);
            x.insert(x.end(), xb.begin(), xb.end());
        }
        std::vector<uint16_t> xh(x.size());
        for (size_t i = 0; i < x.size(); i++) xh[i] = to_half(x[i]);
        void *dx = to_device(rt, x.data(), x.size() * sizeof(float));
        void *dh = to_device(rt, xh.data(), xh.size() * 2);
        ASSERT_NE(dx, nullptr);
        ASSERT_NE(dh, nullptr);
        flashkm_params p = gpu_params(FLASHKM_PRECISION_FP16);
        p.niter = 8;
        std::vector<std::unique_ptr<PoisonedOutput>> po;
        for (size_t b = 0; b < B; b++) po.emplace_back(new PoisonedOutput(k, d, n));
        std::vector<flashkm_output> outs(B); // the batch API takes them side by side
        auto reset = [&] {
            for (size_t b = 0; b < B; b++) {
                po[b]->reset();
                outs[b] = po[b]->out;
            }
        };
        reset();
        ASSERT_EQ(flashkm_train_batch_device(&p, B, n, d, k, dh, FLASHKM_DTYPE_F16, outs.data()),
                  FLASHKM_OK)
            << flashkm_last_error();
        for (size_t b = 0; b < B; b++) {
            PoisonedOutput one(k, d, n);
            ASSERT_EQ(flashkm_train_device(&p, n, d, k, (const uint16_t *)dh + b * n * d,
                                           FLASHKM_DTYPE_F16, &one.out),
                      FLASHKM_OK)
                << flashkm_last_error();
            EXPECT_TRUE(same_bits(po[b]->cent.v.data(), one.cent.v.data(), k * d * sizeof(float)))
                << "problem " << b;
            EXPECT_TRUE(same_bits(po[b]->labels.v.data(), one.labels.v.data(),
                                  n * sizeof(int64_t)))
                << "problem " << b;
            EXPECT_EQ(outs[b].objective, one.out.objective) << "problem " << b;
        }
        // f32 rows on the GPU: the host batch's results, bit for bit
        std::vector<Poisoned<float>> hc(B, Poisoned<float>(k * d));
        std::vector<flashkm_output> houts(B);
        for (size_t b = 0; b < B; b++) {
            std::memset(&houts[b], 0, sizeof houts[b]);
            houts[b].centroids = hc[b].data();
        }
        ASSERT_EQ(flashkm_train_batch(&p, B, n, d, k, x.data(), houts.data()), FLASHKM_OK)
            << flashkm_last_error();
        reset();
        ASSERT_EQ(flashkm_train_batch_device(&p, B, n, d, k, dx, FLASHKM_DTYPE_F32, outs.data()),
                  FLASHKM_OK)
            << flashkm_last_error();
        for (size_t b = 0; b < B; b++) {
            EXPECT_TRUE(same_bits(po[b]->cent.v.data(), hc[b].v.data(), k * d * sizeof(float)))
                << "problem " << b;
            EXPECT_EQ(outs[b].objective, houts[b].objective) << "problem " << b;
        }
        // a NaN in the last problem: rejected, nothing written
        const float nan = NAN;
        rt.memcpy_((float *)dx + (2 * n + 17) * d + 3, &nan, sizeof nan, 1);
        reset();
        EXPECT_EQ(flashkm_train_batch_device(&p, B, n, d, k, dx, FLASHKM_DTYPE_F32, outs.data()),
                  FLASHKM_ERR_INVALID_ARGUMENT);
        for (size_t b = 0; b < B; b++) {
            EXPECT_TRUE(po[b]->cent.untouched());
            EXPECT_TRUE(po[b]->labels.untouched());
        }
        rt.free_(dx);
        rt.free_(dh);
    }
}

TEST(GpuDevice, DeviceInputWithNaNIsRejected) {
    FKM_REQUIRE_GPU();
    Cudart rt;
    FKM_REQUIRE_CUDART(rt);
    const size_t n = 1000, d = 5, k = 10;
    std::vector<float> x = mixture(n, d, k, 1);
    x[777] = NAN;
    void *dx = to_device(rt, x.data(), x.size() * sizeof(float));
    ASSERT_NE(dx, nullptr);
    Poisoned<float> cent(k * d);
    flashkm_output out;
    std::memset(&out, 0, sizeof out);
    out.centroids = cent.data();
    flashkm_params p = gpu_params();
    EXPECT_EQ(flashkm_train_device(&p, n, d, k, dx, FLASHKM_DTYPE_F32, &out),
              FLASHKM_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(flashkm_last_error()).find("NaN"), std::string::npos);
    EXPECT_TRUE(cent.untouched());
    rt.free_(dx);
}

TEST(GpuDevice, MemoryLimitGivesOutOfMemoryWithBytes) {
    FKM_REQUIRE_GPU();
    const size_t n = 20000, d = 32, k = 100;
    std::vector<float> x = mixture(n, d, k, 8);
    flashkm_params p = gpu_params();
    p.gpu_memory_limit = 1 << 20; // 1 MiB: the data alone is 2.5 MiB
    TrainResult r = run_train(p, n, d, k, x.data());
    EXPECT_EQ(r.status, FLASHKM_ERR_OUT_OF_MEMORY);
    EXPECT_TRUE(mentions_word(r.error, "bytes")) << r.error;
    EXPECT_TRUE(r.centroids.untouched());

    setenv("FLASHKM_GPU_MEMORY_LIMIT", "1048576", 1);
    p.gpu_memory_limit = 0;
    r = run_train(p, n, d, k, x.data());
    unsetenv("FLASHKM_GPU_MEMORY_LIMIT");
    EXPECT_EQ(r.status, FLASHKM_ERR_OUT_OF_MEMORY) << r.error;
    EXPECT_TRUE(mentions_word(r.error, "bytes")) << r.error;

    r = run_train(p, n, d, k, x.data()); // and without a limit it runs
    EXPECT_EQ(r.status, FLASHKM_OK) << r.error;
}

// tf32 on fp32 rows keeps a copy stored rounded for the wgmma kernels;
// where a memory limit leaves no room for it, the run goes without (the
// mma.sync kernel rounds the rows itself) rather than failing.
TEST(GpuDevice, Tf32WithoutRoomForItsRoundedCopyStillTrains) {
    FKM_REQUIRE_GPU();
    const size_t n = 20000, d = 128, k = 300; // wgmma's 256-column kernel when it has the copy
    const size_t rows_bytes = n * d * sizeof(float);
    std::vector<float> x = mixture(n, d, k, 31);
    flashkm_params p = gpu_params();
    p.precision = FLASHKM_PRECISION_TF32;
    TrainResult full = run_train(p, n, d, k, x.data());
    ASSERT_EQ(full.status, FLASHKM_OK) << full.error;

    p.gpu_memory_limit = 1 << 20; // what the run needs at the least, from the error
    TrainResult r = run_train(p, n, d, k, x.data());
    ASSERT_EQ(r.status, FLASHKM_ERR_OUT_OF_MEMORY) << r.error;
    const size_t at = r.error.find("needs ");
    ASSERT_NE(at, std::string::npos) << r.error;
    const size_t need = std::strtoull(r.error.c_str() + at + 6, nullptr, 10);
    EXPECT_GT(need, rows_bytes) << r.error;
    EXPECT_LT(need, rows_bytes + rows_bytes / 2) << "the least it needs holds no rounded copy: "
                                                 << r.error;

    p.gpu_memory_limit = need;
    r = run_train(p, n, d, k, x.data());
    ASSERT_EQ(r.status, FLASHKM_OK) << r.error;
    EXPECT_TRUE(r.centroids.all_written());
    EXPECT_NEAR(r.objective, full.objective, 1e-3 * std::fabs(full.objective));
}

}  // namespace
