// test_gpu_device.cpp — device-resident input (flashkm_train_device, f32
// and f16) and the device-memory limit (params and environment).
#include <dlfcn.h>

#include <cstdlib>
#include <cstring>

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
    Poisoned<float> cent(k * d);
    Poisoned<int64_t> labels(n);
    flashkm_output out;
    std::memset(&out, 0, sizeof out);
    out.centroids = cent.data();
    out.labels = labels.data();
    ASSERT_EQ(flashkm_train_device(&p, n, d, k, dx, FLASHKM_DTYPE_F32, &out), FLASHKM_OK)
        << flashkm_last_error();
    EXPECT_TRUE(same_bits(cent.v.data(), host.centroids.v.data(), k * d * sizeof(float)));
    EXPECT_TRUE(same_bits(labels.v.data(), host.labels.v.data(), n * sizeof(int64_t)));
    EXPECT_EQ(out.objective, host.objective);
    rt.free_(dx);

    // fp16 input: the update reads fp16 values, so the objective is close.
    std::vector<uint16_t> xh(x.size());
    for (size_t i = 0; i < x.size(); i++) xh[i] = to_half(x[i]);
    void *dh = to_device(rt, xh.data(), xh.size() * 2);
    ASSERT_NE(dh, nullptr);
    cent.poison();
    p.precision = FLASHKM_PRECISION_FP16;
    ASSERT_EQ(flashkm_train_device(&p, n, d, k, dh, FLASHKM_DTYPE_F16, &out), FLASHKM_OK)
        << flashkm_last_error();
    EXPECT_TRUE(cent.all_written());
    EXPECT_NEAR(out.objective, host.objective, 1e-3 * std::fabs(host.objective));
    rt.free_(dh);
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

}  // namespace
