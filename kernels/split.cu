/* split.cu — the end of an iteration, on the device: the objective (a
 * double sum in a fixed order, so every run gives the same value), the
 * imbalance factor (exact integer sums, as FAISS's), FAISS's empty-cluster
 * split (fkm_split_clusters from split_clusters.h, one thread per problem,
 * so the random sequence and the arithmetic are the CPU's), the iteration's
 * statistics, then spherical / integer post-processing (bit for bit the
 * CPU's postprocess.c). */
#include <math.h>

#include "gpu_state.h"
#include "objective_part.cuh"
#include "split_clusters.h"

#define FKM_FIN_THREADS 256
#if FKM_FIN_THREADS != FKM_OBJ_BLOCKS
#error "finish_kernel reads one objective partial sum per thread"
#endif

/* One block per problem (FKM_FIN_THREADS == FKM_OBJ_BLOCKS: a thread per
 * partial sum of the objective; thread 0 adding the 256 of them from
 * global memory took ~12 us per iteration, a chain of L2 round trips). */
__global__ void finish_kernel(const double *part, const uint32_t *seg, size_t k,
                              size_t k_frozen, size_t n, size_t d, size_t batch, int lg,
                              float *hassign,
                              float *cent, fkm_mt19937 *mt, flashkm_iteration_stats *stats,
                              int it, int niter) {
    __shared__ unsigned long long sq[FKM_FIN_THREADS];
    __shared__ double sh[32];
    __shared__ int empty_any;
    const size_t b = blockIdx.x;
    const double obj = fkm_block_sum_d(part[b * FKM_OBJ_BLOCKS + threadIdx.x], sh);
    unsigned long long acc = 0;
    int empty = 0;
    if (threadIdx.x == 0) empty_any = 0;
    for (size_t c = threadIdx.x; c < k; c += blockDim.x) {
        const size_t g = fkm_group_of(b * k + c, k, batch, lg); /* its rows: seg[g] .. */
        unsigned long long h = seg[g + 1] - seg[g];
        acc += h * h;
        if (c >= k_frozen && hassign[b * k + c] == 0) empty = 1;
    }
    sq[threadIdx.x] = acc;
    __syncthreads();
    if (empty) empty_any = 1;
    for (int o = blockDim.x / 2; o; o >>= 1) {
        if (threadIdx.x < o) sq[threadIdx.x] += sq[threadIdx.x + o];
        __syncthreads();
    }
    if (threadIdx.x != 0) return;
    const double tot = (double)n;
    int nsplit = 0;
    if (empty_any)
        nsplit = fkm_split_clusters(d, k, n, k_frozen, hassign + b * k, cent + b * k * d, mt + b);
    flashkm_iteration_stats s;
    s.objective = (float)obj;
    s.time = 0;
    s.time_search = 0;
    s.imbalance_factor = (double)sq[0] * (int)k / (tot * tot);
    s.nsplit = nsplit;
    stats[b * niter + it] = s;
}

/* spherical: |c|^2 summed in double over float squares, inv = 1/sqrt in
 * double of a float sqrt, as postprocess.c; int: roundf. */
__global__ void postprocess_kernel(float *cent, size_t rows, size_t d, int spherical,
                                   int int_centroids) {
    size_t r = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (r >= rows) return;
    float *c = cent + r * d;
    if (spherical) {
        double res = 0;
        for (size_t j = 0; j < d; j++) res = __dadd_rn(res, (double)__fmul_rn(c[j], c[j]));
        float nr = (float)res;
        if (nr > 0) {
            const float inv = (float)(1.0 / (double)sqrtf(nr));
            for (size_t j = 0; j < d; j++) c[j] = __fmul_rn(c[j], inv);
        }
    }
    if (int_centroids)
        for (size_t j = 0; j < d; j++) c[j] = roundf(c[j]);
}

extern "C" void fkm_launch_finish_iteration(fkm_gpu_state *s, size_t k, size_t k_frozen, int it,
                                            int niter, int spherical, int int_centroids) {
    /* the objective's partial sums came with the update's boundaries */
    finish_kernel<<<(unsigned)s->batch, FKM_FIN_THREADS, 0, s->stream>>>(
        s->obj_part, s->seg, k, k_frozen, s->n, s->d, s->batch, fkm_group_lg(s->batch, k),
        s->hassign, s->cent, s->mt, s->dstats, it, niter);
    if (spherical || int_centroids) {
        size_t rows = s->batch * k;
        postprocess_kernel<<<(unsigned)((rows + 127) / 128), 128, 0, s->stream>>>(
            s->cent, rows, s->d, spherical, int_centroids);
    }
}
