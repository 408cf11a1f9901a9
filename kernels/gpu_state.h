/* gpu_state.h — what the GPU engine keeps for one open(): the data on the
 * device, every work buffer (allocated once per open, sized by
 * fkm_gpu_plan), and the launchers of each stage (one .cu file per stage).
 * Shared by the CUDA files of kernels/ only. */
#ifndef FKM_GPU_STATE_H
#define FKM_GPU_STATE_H
#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "errors.h"
#include "mt19937.h"

/* Element type the assignment kernel reads. fp32 precision runs split
 * products: F16X3 (x * s = hi + lo in two fp16 halves, stored split once;
 * rows of chunks [32 hi | 32 lo], padded to 32 elements; centroids with a
 * power-of-two scale of their own) where the data's range allows it, else
 * F32X3 (3xTF32, split in the inner loop). tf32: one product per pair. */
typedef enum fkm_asg_kind {
    FKM_ASG_F32X3 = 0,
    FKM_ASG_TF32 = 1,
    FKM_ASG_F16 = 2,
    FKM_ASG_BF16 = 3,
    FKM_ASG_F16X3 = 4
} fkm_asg_kind;

typedef struct fkm_gpu_state {
    int device;
    cudaStream_t stream;
    int own_stream;
    int host_threads;        /* params->num_threads: the upload's copy */
    size_t batch, n, d, k_max;
    fkm_asg_kind asg;
    flashkm_dtype xdtype;    /* dtype of x (the update reads it) */
    void *x;                 /* batch * n * d opened rows, xdtype */
    void *xa;                /* the assignment's copy (== x when same type) */
    /* tf32 on fp32 rows: xa is a copy stored rounded, which the wgmma
     * kernels need; 0 where memory is short: no copy, the mma.sync kernel
     * rounds the rows itself (gpu_open.cu) */
    int tf32_copy;
    float *scale;            /* per problem: power of two applied to xa, cents */
    float *xnorm;            /* batch * n: |x|^2 of the rows as assigned */
    float *w;                /* batch * n weights or NULL */
    float *cent;             /* batch * k_max * d fp32 centroids */
    void *centa;             /* centroids as the assignment reads them */
    float *cnorm;            /* batch * k_max |c|^2 */
    float *dist;             /* batch * n distance to the nearest */
    uint32_t *keys;          /* batch * n: b * k + label (sort input) */
    uint32_t *keys_sorted;
    uint32_t *iota;          /* 0 .. batch*n-1 (sort values input) */
    uint32_t *order;         /* rows grouped by (problem, centroid) */
    uint32_t *seg;           /* batch * k_max + 1 group offsets (fkm_group_of) */
    uint32_t *finished;      /* batch * k_max: blocks done per group (update_sum.cu) */
    float *part;             /* chunk sums of large groups, chunks_max * d */
    float *hassign;          /* batch * k_max */
    void *sort_tmp;
    size_t sort_tmp_bytes;
    double *obj_part;        /* batch * FKM_OBJ_BLOCKS partial sums */
    flashkm_iteration_stats *dstats; /* batch * niter_max (device) */
    int niter_cap;
    fkm_mt19937 *mt;         /* batch split generators */
    /* F16X3's certified search (assign_certify.cu): centroids in fp16 at
     * the points' scale (batch * k_max rows of d rounded up to 32), the
     * largest |c|^2 per problem, and the rows whose nearest centroid the
     * search could not certify (per problem: a list of n, a count). */
    void *c16;
    float *cmax;
    uint32_t *unc, *unc_count;
    float *bias;             /* batch * fkm_bias_cols(k_max): wgmma's column biases */
    float *xnmax;            /* batch: the largest of each problem's xnorm */
    float *pack_off;         /* batch: the packed fold's offset M (assign_pack.cu) */
    /* batch: 1 where fewer than half the problem's rows have |x|^2 within
     * 2^-asg_pack_spread of its largest; pack_coarse: that, or the same of
     * its centroids, this iteration (assign_pack.cu) */
    uint32_t *pack_xwide, *pack_coarse;
    /* x is small enough to stay in L2 across iterations (gpu_open.cu):
     * the small-d search reads it at evict_last priority, and so the
     * update's gathers of the same rows find more of them there */
    int x_l2_keep;
    void *base;              /* the one allocation all of the above live in */
} fkm_gpu_state;

#define FKM_OBJ_BLOCKS 256
#define FKM_UPD_CHUNK 2048u /* rows per update chunk (see update_sum.cu) */

/* Every group has >= 1 chunk; only groups over FKM_UPD_CHUNK rows more. */
static inline size_t fkm_upd_chunks_max(size_t items, size_t groups) {
    return groups + items / FKM_UPD_CHUNK + 1;
}

#ifdef __cplusplus
extern "C" {
#endif
/* CUDA error -> flashkm status with CUDA's text; `what` names the call. */
flashkm_status fkm_cuda_status(cudaError_t e, const char *what);

/* gpu_upload.cu */
flashkm_status fkm_gpu_upload(fkm_gpu_state *s, const fkm_data *data);
flashkm_status fkm_gpu_prepare_points(fkm_gpu_state *s);
void fkm_launch_gather_rows_f32(const fkm_gpu_state *s, const uint32_t *rows,
                                size_t count, float *out);
void fkm_launch_prepare_centroids(fkm_gpu_state *s, size_t k);
/* assign_pack.cu: pack_xwide after xnorm and xnmax; pack_coarse zeroed */
void fkm_launch_pack_rows(fkm_gpu_state *s);

/* assign_mma.cu: labels into keys (b * k + label) and distances. */
void fkm_launch_assign(fkm_gpu_state *s, size_t k, flashkm_metric metric);

/* assign_certify.cu: before F16X3's certified search, cmax and the
 * uncertain counts; after it, every row's distance to its centroid in fp32
 * from the fp32 rows, as FAISS computes it (|x|^2 + |c|^2 - 2 x.c). */
void fkm_launch_search_setup(fkm_gpu_state *s, size_t k);
void fkm_launch_exact_dist(fkm_gpu_state *s, flashkm_metric metric);

/* update_sort.cu: the update, and the objective's partial sums of the
 * search's distances into obj_part (blocks of the same launch), which
 * fkm_launch_finish_iteration adds up */
size_t fkm_sort_tmp_bytes(size_t items, int end_bit);
void fkm_launch_update(fkm_gpu_state *s, size_t k, size_t k_frozen);
/* update_sum.cu: the sums, counts (hassign) and new centroids, from seg,
 * the sorted keys and order; finished[] must be zero for every group. */
void fkm_launch_centroid_sum(fkm_gpu_state *s, size_t k, size_t k_frozen, uint32_t *finished);

/* split.cu: objective (from fkm_launch_update's obj_part), imbalance,
 * split, stats[it], post-processing. */
void fkm_launch_finish_iteration(fkm_gpu_state *s, size_t k, size_t k_frozen,
                                 int it, int niter, int spherical,
                                 int int_centroids);
#ifdef __cplusplus
}
#endif

/* Every CUDA call the engine acts on goes through fkm_ck, so the tests can
 * make any one of them fail (test_hooks.h) and prove the unwinding. An
 * injected failure replaces the call, as a real one would leave nothing
 * created or copied. (A GNU statement expression: `call` runs only when no
 * failure is injected.) */
#define fkm_ck(call)                                                  \
    __extension__({                                                   \
        int fkm_inj_ = fkm_test_device_fault();                       \
        fkm_inj_ ? (cudaError_t)fkm_inj_ : (call);                    \
    })

#define FKM_CUDA_TRY(call)                                            \
    do {                                                              \
        cudaError_t fkm_e_ = fkm_ck(call);                            \
        if (fkm_e_ != cudaSuccess) return fkm_cuda_status(fkm_e_, #call); \
    } while (0)

#ifdef __CUDACC__
#include <cuda_bf16.h>
#include <cuda_fp16.h>
/* v rounded to tf32, to nearest (ties away), as a tf32 bit pattern: tf32
 * MMAs truncate raw fp32 operands, a bias every product shares low, which
 * the cancellation in |x|^2 + |c|^2 - 2 x.c turns into ~1 % on the
 * objective; every tf32 operand is rounded this way first. */
static __device__ __forceinline__ uint32_t fkm_tf32(float v) {
    uint32_t r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(v));
    return r;
}
/* Element i of x in any input dtype, as float. */
static __device__ __forceinline__ float fkm_ld(const void *p, size_t i, int dt) {
    if (dt == FLASHKM_DTYPE_F32) return ((const float *)p)[i];
    if (dt == FLASHKM_DTYPE_F16) return __half2float(((const __half *)p)[i]);
    return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
}
#endif

/* fp32 precision (F16X3) searches with one fp16 product per pair and
 * certifies (assign_certify.cu) where k times d (rounded up to 32) reaches
 * this: below, the extra passes (setup, re-check launch, exact distances)
 * cost more than the two thirds of the MMAs they save. H200: pq-batched
 * (k d = 8192) went 0.51 -> 0.74 ms per iteration with it; ivf-1M-1k
 * (131072) 3.17 -> 2.19 ms, ivf-1M-4k 11.2 -> 6.6, embeddings-768 27.7 ->
 * 11.6. */
#ifndef FKM_CERTIFY_MIN_WORK
#define FKM_CERTIFY_MIN_WORK 16384
#endif
static inline int fkm_certified(size_t d, size_t k) {
    return k * ((d + 31) / 32 * 32) >= FKM_CERTIFY_MIN_WORK;
}

/* Rows of at most this many values take the small-d assignment
 * (assign_small.cu: a row is one or two MMA k-steps, held in registers);
 * fp32 precision runs 3xTF32 there (F32X3, gpu_open.cu), not F16X3: its
 * rows would be padded to 32 halves and its certified search does not
 * pay at such small k d. */
#define FKM_SMALL_D 16
/* Columns of a problem's row of biases (wgmma.cuh): whole tiles of 256
 * (the widest kernel's, assign_wide.cu), so every tile's loads are in
 * range and 8-byte aligned. */
#define FKM_BIAS_TILE 256
__host__ __device__ static inline size_t fkm_bias_cols(size_t k) {
    return (k + FKM_BIAS_TILE - 1) / FKM_BIAS_TILE * FKM_BIAS_TILE;
}

__host__ __device__ static inline int fkm_bits_for(size_t v) {
    int b = 0;
    while (b < 32 && (((size_t)1) << b) < v) b++;
    return b < 1 ? 1 : b;
}

/* The update's groups (update_sort.cu). Problem-major: the sort orders the
 * keys b k + l whole, and centroid c = b k + l's rows are group c. Label-
 * major, where batch > 1 and k is a power of two: l is the key's low lg =
 * log2 k bits, and the sort orders by those alone (pq-batched: 8 bits, one
 * radix pass instead of two for 12). Stable, it leaves the rows in runs of
 * one label, each run in row order and so in problem order: centroid c's
 * rows are group l batch + b, as contiguous and as ordered as before.
 * lg < 0: problem-major. */
__host__ __device__ static inline int fkm_group_lg(size_t batch, size_t k) {
    return batch < 2 || k < 2 || (k & (k - 1)) != 0 ? -1 : fkm_bits_for(k);
}
__host__ __device__ static inline size_t fkm_group_of(size_t c, size_t k, size_t batch, int lg) {
    return lg < 0 ? c : (c & (k - 1)) * batch + (c >> lg);
}
__host__ __device__ static inline size_t fkm_centroid_of(size_t g, size_t k, size_t batch,
                                                         int lg) {
    return lg < 0 ? g : (g % batch) * k + g / batch;
}
#endif
