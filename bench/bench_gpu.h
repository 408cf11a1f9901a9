/* bench_gpu.h — the benchmark's device helpers (bench_gpu.cu): Gaussian-
 * mixture data generated on the device, and the ceilings measured in the
 * same run (cuBLAS GEMM rates, device-to-device copy bandwidth). */
#ifndef FKM_BENCH_GPU_H
#define FKM_BENCH_GPU_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
typedef struct bench_ceilings {
    double copy_gbs;                 /* bytes read + written per second / 1e9 */
    double tflops_fp16, tflops_bf16, tflops_tf32, tflops_fp32;
} bench_ceilings;

/* 0 on success; prints CUDA/cuBLAS errors itself. */
int bench_measure_ceilings(bench_ceilings *c);
/* batch * n * d values (fp32 when f16 == 0, else fp16) on the device:
 * centres drawn uniformly in [-4, 4]^d (4096 per problem), unit noise. */
void *bench_make_data(size_t batch, size_t n, size_t d, int f16, uint64_t seed);
void bench_free(void *dev);
/* What the results record of the GPU (device 0) */
typedef struct bench_device {
    char name[256];
    int sm_clock_mhz, mem_clock_mhz; /* maximum */
    size_t l2_bytes;
    int cuda_runtime, cuda_driver; /* 1000 * major + 10 * minor */
} bench_device;
void bench_device_info(bench_device *dev);
#ifdef __cplusplus
}
#endif
#endif
