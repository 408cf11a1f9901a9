/* assign_certify.cu — the two small kernels around fp32 precision's
 * certified search (assign_mma.cu, fkm_launch_assign):
 *
 *   1. search setup: per problem, the largest |c|^2 (the search's error
 *      bound uses it for the second-best centroid, whose index it does not
 *      keep) and a zero count of uncertain rows;
 *   2. one fp16 product per pair over every row (the hi halves of F16X3):
 *      nearest and second-nearest, and the rows whose gap the rounding
 *      bound cannot separate go to a list;
 *   3. F16X3's split products over the listed rows only;
 *   4. exact distances: every row's distance to its centroid in fp32 from
 *      the fp32 rows, |x|^2 + |c|^2 - 2 x.c as FAISS computes it (the
 *      search's own values carry its ~2^-10 rounding).
 * The search costs a third of F16X3's MMAs; a certified row's nearest
 * centroid is the one exact arithmetic gives, and so the one F16X3 picks. */
#include <math.h>

#include "assign_common.cuh"
#include "gpu_state.h"

/* |c|^2 max, or +inf where the search cannot run: a centroid that fp16 at
 * the points' scale s may overflow (its own scale t below s / 2: its
 * largest element times s can pass 2^15) or an infinite norm. A problem
 * whose last search left more than half its rows uncertain skips the
 * search from then on (cmax -1, every row re-checked): on data full of
 * near-ties the search costs more than it saves. */
#define SETUP_THREADS 256
__global__ void search_setup_kernel(const float *cnorm, const float *cinv, const float *scale,
                                    size_t n, size_t k, float *cmax, uint32_t *unc_count) {
    __shared__ float warp_max[SETUP_THREADS / 32];
    const size_t b = blockIdx.x;
    const float s = scale[b], s2 = s * s;
    float m = 0.f;
    for (size_t r = threadIdx.x; r < k; r += blockDim.x) {
        float c = cnorm[b * k + r];
        if (!(c < INFINITY) || s2 * cinv[b * k + r] >= 2.f) c = INFINITY;
        m = fmaxf(m, c);
    }
    m = asg_block_max<SETUP_THREADS>(m, warp_max);
    if (threadIdx.x == 0) {
        const bool skip = unc_count[b] > n / 2;
        cmax[b] = skip ? -1.f : m;
        unc_count[b] = skip ? (uint32_t)n : 0u;
    }
}

extern "C" void fkm_launch_search_setup(fkm_gpu_state *s, size_t k) {
    search_setup_kernel<<<(unsigned)s->batch, SETUP_THREADS, 0, s->stream>>>(
        s->cnorm, s->cnorm + s->batch * s->k_max, s->scale, s->n, k, s->cmax, s->unc_count);
}

/* One warp per row: x.c for its assigned centroid, fp32 FMAs over the
 * lanes' elements, then a shuffle sum. */
__global__ void exact_dist_kernel(const void *x, int dt, const float *cent, const float *xnorm,
                                  const float *cnorm, const uint32_t *keys, size_t rows,
                                  size_t d, int ip, float *dist) {
    const size_t r = (blockIdx.x * (size_t)blockDim.x + threadIdx.x) >> 5;
    const int lane = threadIdx.x & 31;
    if (r >= rows) return;
    const size_t g = keys[r]; /* b * k + label */
    const float *c = cent + g * d;
    float acc = 0.f;
    for (size_t j = lane; j < d; j += 32) acc = fmaf(fkm_ld(x, r * d + j, dt), c[j], acc);
    for (int o = 16; o; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
    if (lane) return;
    float dv = acc;
    if (!ip) {
        dv = xnorm[r] + cnorm[g] - 2.f * acc;
        if (dv < 0) dv = 0; /* as FAISS: rounding can go below 0 */
    }
    dist[r] = dv;
}

extern "C" void fkm_launch_exact_dist(fkm_gpu_state *s, flashkm_metric metric) {
    const size_t rows = s->batch * s->n;
    const unsigned blocks = (unsigned)((rows * 32 + 255) / 256);
    exact_dist_kernel<<<blocks, 256, 0, s->stream>>>(
        s->x, (int)s->xdtype, s->cent, s->xnorm, s->cnorm, s->keys, rows, s->d,
        metric == FLASHKM_METRIC_INNER_PRODUCT, s->dist);
}
