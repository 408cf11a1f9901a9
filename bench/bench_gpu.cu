/* bench_gpu.cu — see bench_gpu.h. cuBLAS is used here only, to measure the
 * GEMM ceilings of the floor; the library never needs it. */
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <string.h>

#include "bench_gpu.h"

#define CK(call)                                                                  \
    do {                                                                          \
        cudaError_t e_ = (call);                                                  \
        if (e_ != cudaSuccess) {                                                  \
            fprintf(stderr, "%s: %s\n", #call, cudaGetErrorString(e_));           \
            return -1;                                                            \
        }                                                                         \
    } while (0)

__device__ uint64_t mix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
__device__ float unif(uint64_t h) { return ((h >> 40) + 0.5f) * (1.0f / 16777216.0f); }

/* Row r of problem b belongs to centre hash(b, r) % 4096; value = centre
 * coordinate + Box-Muller noise; all from counters, so no state. */
__global__ void gmm_kernel(void *out, size_t n, size_t d, size_t total, int f16,
                           uint64_t seed) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        size_t row = i / d, j = i % d, b = row / n;
        uint64_t centre = mix64(seed ^ mix64(row * 0x5851f42d4c957f2dull)) % 4096;
        float cj = 8.f * unif(mix64(seed + b * 7919 + centre * 0x9e37 + j * 0x632be5ab)) - 4.f;
        float u1 = unif(mix64(i * 2 + seed * 31)), u2 = unif(mix64(i * 2 + 1 + seed * 31));
        float v = cj + sqrtf(-2.f * logf(u1)) * cospif(2.f * u2);
        if (f16) ((__half *)out)[i] = __float2half_rn(v);
        else ((float *)out)[i] = v;
    }
}

extern "C" void *bench_make_data(size_t batch, size_t n, size_t d, int f16, uint64_t seed) {
    size_t total = batch * n * d;
    void *p = NULL;
    if (cudaMalloc(&p, total * (f16 ? 2 : 4)) != cudaSuccess) return NULL;
    gmm_kernel<<<4096, 256>>>(p, n, d, total, f16, seed);
    if (cudaDeviceSynchronize() != cudaSuccess) {
        cudaFree(p);
        return NULL;
    }
    return p;
}

extern "C" void bench_free(void *dev) { cudaFree(dev); }

/* The clocks by attribute: CUDA 13's cudaDeviceProp no longer has them. A
 * failed query leaves zeros (an L2 of 0 bytes: no data fits in it). */
extern "C" void bench_device_info(bench_device *dev) {
    memset(dev, 0, sizeof *dev);
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) {
        snprintf(dev->name, sizeof dev->name, "%s", prop.name);
        cudaDeviceGetAttribute(&dev->sm_clock_mhz, cudaDevAttrClockRate, 0);
        cudaDeviceGetAttribute(&dev->mem_clock_mhz, cudaDevAttrMemoryClockRate, 0);
        dev->sm_clock_mhz /= 1000; /* kHz */
        dev->mem_clock_mhz /= 1000;
        dev->l2_bytes = (size_t)prop.l2CacheSize;
    } else {
        snprintf(dev->name, sizeof dev->name, "unknown");
    }
    cudaRuntimeGetVersion(&dev->cuda_runtime);
    cudaDriverGetVersion(&dev->cuda_driver);
    cudaGetLastError(); /* a failed query is not the next call's error */
}

static double time_ms(cudaEvent_t a, cudaEvent_t b) {
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    return ms;
}

/* Median of 7 timed repetitions of one GEMM (m = n = k = 8192), random data. */
static int gemm_rate(cublasHandle_t h, cudaDataType t, cublasComputeType_t ct, double *tflops) {
    const int m = 8192;
    size_t elem = (t == CUDA_R_32F) ? 4 : 2;
    void *a = NULL, *b = NULL, *c = NULL;
    CK(cudaMalloc(&a, (size_t)m * m * elem));
    CK(cudaMalloc(&b, (size_t)m * m * elem));
    CK(cudaMalloc(&c, (size_t)m * m * 4));
    gmm_kernel<<<4096, 256>>>(a, m, m, (size_t)m * m, elem == 2, 1);
    gmm_kernel<<<4096, 256>>>(b, m, m, (size_t)m * m, elem == 2, 2);
    if (t == CUDA_R_16BF) { /* reinterpret the fp16 bits as bf16: still random, finite */ }
    float alpha = 1, beta = 0;
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    double best[7];
    for (int r = -2; r < 7; r++) {
        cudaEventRecord(e0);
        cublasStatus_t s = cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, m, m, m, &alpha, a, t, m, b,
                                        t, m, &beta, c, CUDA_R_32F, m, ct, CUBLAS_GEMM_DEFAULT);
        cudaEventRecord(e1);
        cudaEventSynchronize(e1);
        if (s != CUBLAS_STATUS_SUCCESS) {
            fprintf(stderr, "cublasGemmEx failed: %d\n", (int)s);
            return -1;
        }
        if (r >= 0) best[r] = time_ms(e0, e1);
    }
    for (int i = 0; i < 7; i++) /* sort for the median */
        for (int j = i + 1; j < 7; j++)
            if (best[j] < best[i]) { double x = best[i]; best[i] = best[j]; best[j] = x; }
    *tflops = 2.0 * m * (double)m * m / (best[3] * 1e-3) / 1e12;
    cudaFree(a); cudaFree(b); cudaFree(c);
    cudaEventDestroy(e0); cudaEventDestroy(e1);
    return 0;
}

static int copy_rate(double *gbs) {
    const size_t bytes = (size_t)2 << 30;
    void *a = NULL, *b = NULL;
    CK(cudaMalloc(&a, bytes));
    CK(cudaMalloc(&b, bytes));
    CK(cudaMemset(a, 1, bytes));
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    double t[7];
    for (int r = -2; r < 7; r++) {
        cudaEventRecord(e0);
        cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
        cudaEventRecord(e1);
        cudaEventSynchronize(e1);
        if (r >= 0) t[r] = time_ms(e0, e1);
    }
    for (int i = 0; i < 7; i++)
        for (int j = i + 1; j < 7; j++)
            if (t[j] < t[i]) { double x = t[i]; t[i] = t[j]; t[j] = x; }
    *gbs = 2.0 * bytes / (t[3] * 1e-3) / 1e9;
    cudaFree(a); cudaFree(b);
    return 0;
}

extern "C" int bench_measure_ceilings(bench_ceilings *c) {
    cublasHandle_t h;
    if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) return -1;
    int rc = copy_rate(&c->copy_gbs);
    if (!rc) rc = gemm_rate(h, CUDA_R_16F, CUBLAS_COMPUTE_32F, &c->tflops_fp16);
    if (!rc) rc = gemm_rate(h, CUDA_R_16BF, CUBLAS_COMPUTE_32F, &c->tflops_bf16);
    if (!rc) rc = gemm_rate(h, CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32, &c->tflops_tf32);
    if (!rc) rc = gemm_rate(h, CUDA_R_32F, CUBLAS_COMPUTE_32F_PEDANTIC, &c->tflops_fp32);
    cublasDestroy(h);
    return rc;
}
