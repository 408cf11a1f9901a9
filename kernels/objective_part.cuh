/* objective_part.cuh — the objective's partial sums (FKM_OBJ_BLOCKS per
 * problem, in double, a fixed order: deterministic), as blocks of the
 * boundaries launch (update_sort.cu), whose finish_kernel (split.cu) adds
 * them. They need only the search's distances, so they ride along with the
 * update's first launch instead of a launch of their own (H200,
 * pq-batched: 5.3 us alone). */
#ifndef FKM_OBJECTIVE_PART_CUH
#define FKM_OBJECTIVE_PART_CUH
#include "gpu_state.h"

/* Block sums of double in a fixed tree: deterministic. Threads that hold
 * nothing pass 0, which leaves every sum as it was. */
__device__ __forceinline__ double fkm_block_sum_d(double v, double *sh) {
    for (int o = 16; o; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
    __syncthreads();
    v = threadIdx.x < blockDim.x / 32 ? sh[threadIdx.x] : 0;
    if (threadIdx.x < 32)
        for (int o = 16; o; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    __syncthreads();
    return v;
}

/* Threads per partial sum: at least 4 distances each where n allows, 32
 * to 256 (pq-batched's 16 problems of 65536 took 7 us in 4096 blocks of
 * 256, one distance a thread, most of it in four waves of reductions). */
static inline unsigned fkm_obj_threads(size_t n) {
    const size_t per = (n / (4 * FKM_OBJ_BLOCKS) + 31) / 32 * 32;
    return (unsigned)(per < 32 ? 32 : per > 256 ? 256 : per);
}

/* Partial sum bx of problem b by a block of fkm_obj_threads(n) threads:
 * each sums its strided distances in 4 independent partial sums, 4 loads
 * in flight (one chain of dependent double adds took 27 us for 1M
 * distances, 200 us for 8M). The whole block must call it. */
__device__ __forceinline__ void fkm_objective_part(const float *dist, size_t n, double *part,
                                                   size_t b, unsigned bx) {
    __shared__ double sh[32];
    const size_t stride = (size_t)FKM_OBJ_BLOCKS * blockDim.x;
    const float *db = dist + b * n;
    double acc[4] = {0, 0, 0, 0};
    size_t i = bx * (size_t)blockDim.x + threadIdx.x;
    for (; i + 3 * stride < n; i += 4 * stride)
#pragma unroll
        for (int u = 0; u < 4; u++) acc[u] += db[i + u * stride];
    for (; i < n; i += stride) acc[0] += db[i];
    const double sum = fkm_block_sum_d((acc[0] + acc[1]) + (acc[2] + acc[3]), sh);
    if (threadIdx.x == 0) part[b * FKM_OBJ_BLOCKS + bx] = sum;
}
#endif
