/* assign_common.cuh — what the FlashAssign kernels share: the arguments of
 * a launch, the (value, index) order of a row's best, F16HI's rounding
 * bound, the meeting of the 4 lanes that share a row, the write of a row's
 * result, mma.sync's operand forms. assign_mma.cu (mma.sync, any shape),
 * the sm_90a warpgroup-MMA kernels through wgmma.cuh (assign_wgmma.cu:
 * k < 256; assign_wide.cu: k >= 256, 256-column tiles; assign_cres.cu:
 * fp16/bf16 centroids resident), assign_small.cu (d <= 16), assign_pack.cu
 * and assign_certify.cu include it. */
#ifndef FKM_ASSIGN_COMMON_CUH
#define FKM_ASSIGN_COMMON_CUH
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>

#include "cp_async.cuh"
#include "gpu_state.h"

/* fp32 precision's certified search (assign_certify.cu): one fp16 product
 * per pair, the points read from F16X3's hi halves, the centroids from an
 * fp16 copy at the points' scale; keeps the second-best value too. */
#define FKM_ASG_F16HI 5

struct AsgArgs {
    const void *x;        /* batch * n * xd, scaled, in the assignment type */
    const void *c;        /* batch * k * d */
    const float *xnorm;   /* batch * n */
    const float *cnorm;   /* batch * k */
    const float *scale;   /* batch: values were multiplied by scale */
    const float *cinv;    /* F16X3: batch * k, 1 / (scale * centroid's scale) */
    uint32_t *keys;       /* batch * n: b * k + label */
    float *dist;          /* batch * n */
    size_t n, k, d;
    size_t xd;            /* elements per point row (F16HI: F16X3's row) */
    unsigned tiles;       /* point tiles per problem */
    /* mma.sync: 0, a block a (problem, tile); else `walk` blocks a problem
     * walk its tiles, for the problems whose pack_coarse is set */
    size_t walk;
    /* F16X3 over listed rows only: list[b * n + i], i < list_count[b] */
    const uint32_t *list, *list_count;
    /* F16HI: rows it cannot certify go to unc[b * n + unc_count[b]++];
     * cmax[b] the largest |c|^2; dreal the data's d */
    uint32_t *unc, *unc_count;
    const float *cmax;
    float dreal;
    float *bias;          /* wgmma: batch * fkm_bias_cols(k) column biases */
    const float *xnmax;   /* batch: the largest |x|^2 of each problem's rows */
    float *pack_off;      /* batch: the packed fold's offset M (assign_pack.cu) */
    const uint32_t *pack_xwide; /* batch: gpu_state.h */
    uint32_t *pack_coarse; /* batch: 1 where the packed fold is too coarse */
    int vec_ok;           /* rows are 16-byte aligned: vector loads */
    int ip;               /* inner product metric */
    int x_tf32;           /* tf32: the rows are stored rounded (a copy) */
    const void *x_keep;   /* fp32 rows to read at L2 evict_last instead of x, or NULL */
};

__device__ __forceinline__ bool asg_better(float v, uint32_t i, float bv,
                                           uint32_t bi) {
    return v < bv || (v == bv && i < bi);
}

/* F16HI's rounding bound on v = |c|^2 / 2 - x.c for one centroid (|x| = xn,
 * |c| = cn, unscaled; s the points' scale): fp16 rounds x s and c s to
 * 2^-11 each (2^-10 |x||c| with Cauchy-Schwarz), subnormals to 2^-25
 * absolute, and the tensor cores' fp32 accumulation truncates (d * 2^-23
 * of the running sum, which holds |c|^2 / 2 too); each term here is at
 * least twice that, plus F16X3's own ~2^-21 so a certified row is one
 * where F16X3 agrees. */
__device__ __forceinline__ float asg_bound(float xn, float cn, float d, float inv_s) {
    return xn * cn * (0x1p-10f + 0x1p-18f + d * 0x1p-22f) + cn * cn * (0x1p-23f + d * 0x1p-23f) +
           0x1p-24f * sqrtf(d) * (xn + cn) * inv_s;
}

/* The 4 lanes of a quad hold the same point rows over different columns:
 * their bests meet by shuffles (TOP2: the second-best values too). */
template <bool TOP2>
__device__ __forceinline__ void asg_quad_reduce(float &v, uint32_t &i, float &v2) {
#pragma unroll
    for (int off = 1; off < 4; off <<= 1) {
        const float ov = __shfl_xor_sync(0xffffffffu, v, off);
        const uint32_t oi = __shfl_xor_sync(0xffffffffu, i, off);
        const bool other = asg_better(ov, oi, v, i);
        if (TOP2) {
            const float os = __shfl_xor_sync(0xffffffffu, v2, off);
            v2 = fminf(fminf(v2, os), other ? v : ov);
        }
        if (other) { v = ov; i = oi; }
    }
}

/* |x - c|^2 = |x|^2 + 2 v (v = |c|^2 / 2 - x.c), as FAISS: rounding can
 * go below 0, and 0 is kept. */
__device__ __forceinline__ float asg_l2_dist(float xn, float v) {
    const float dv = xn + 2.f * v;
    return dv < 0 ? 0.f : dv;
}

/* Point p of problem b: its best v = |c_i|^2 / 2 - x.c_i (or -x.c_i) at
 * centroid i; writes (key, distance). |x|^2 (xn, unused for inner
 * product) is the caller's: assign_cres.cu asks for it a tile ahead. */
__device__ __forceinline__ void asg_write_best(const AsgArgs &A, size_t b, size_t p, float v,
                                               uint32_t i, float xn) {
    if (i >= A.k) i = 0; /* only if every value was NaN: stay in range */
    A.keys[b * A.n + p] = (uint32_t)(b * A.k) + i;
    A.dist[b * A.n + p] = A.ip ? -v : asg_l2_dist(xn, v);
}
/* The same with |x|^2 read here; TOP2 (F16HI) writes the key and lists
 * the row as uncertain when the runner-up v2 is within the rounding bounds
 * (its distance, like every row's, comes from assign_certify.cu's exact
 * pass). */
template <bool TOP2>
__device__ __forceinline__ void asg_write_row(const AsgArgs &A, size_t b, size_t p, float v,
                                              float v2, uint32_t i) {
    if (!TOP2) {
        asg_write_best(A, b, p, v, i, A.xnorm[b * A.n + p]);
        return;
    }
    if (i >= A.k) i = 0; /* only if every value was NaN: stay in range */
    A.keys[b * A.n + p] = (uint32_t)(b * A.k) + i;
    const float xn = sqrtf(A.xnorm[b * A.n + p]), inv_s = 1.f / A.scale[b];
    const float e = asg_bound(xn, sqrtf(A.cnorm[b * A.k + i]), A.dreal, inv_s) +
                    asg_bound(xn, sqrtf(A.cmax[b]), A.dreal, inv_s);
    if (!(v2 - v > e)) A.unc[b * A.n + atomicAdd(A.unc_count + b, 1u)] = (uint32_t)p;
}

/* The kind of a launch (gpu_state.h's fkm_asg_kind, or FKM_ASG_F16HI):
 * mma.sync's operand forms, shared by assign_mma.cu and assign_small.cu. */
/* A tf32 operand word in place: rounded (fkm_tf32); 3xTF32 (F32X3) also
 * keeps the rounded remainder as its lo word. */
template <int KIND>
__device__ __forceinline__ void asg_tf32_split(uint32_t &w, uint32_t &lo) {
    const float v = __uint_as_float(w);
    const uint32_t hi = fkm_tf32(v);
    if (KIND == FKM_ASG_F32X3) lo = fkm_tf32(v - __uint_as_float(hi));
    w = hi;
}

/* c = a.b + c (acc), or a.b + (c0, c1, c2, c3) (the fragment's registers:
 * columns 2t, 2t + 1 of rows g and g + 8; zeros: from zero): the split
 * kinds start each stage's partial from zero, the small-d kernel from the
 * columns' biases. C is a register quad in SASS: from a quad loaded whole
 * (one LDS.128) it takes no moves, from two scalars it took four per MMA
 * (IMAD.MOV: ~230 of the small-d kernel's ~1250 instructions per warp and
 * unit; its time, latency-bound, did not change without them).
 * Not volatile: pure register work the compiler may schedule. */
#define ASG_MMA(types)                                                            \
    do {                                                                          \
        if (!acc)                                                                 \
            asm("mma.sync.aligned." types " {%0,%1,%2,%3}, {%4,%5,%6,%7}, "      \
                "{%8,%9}, {%10,%11,%12,%13};"                                     \
                : "=f"(c[0]), "=f"(c[1]), "=f"(c[2]), "=f"(c[3])                  \
                : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), \
                  "f"(c0.x), "f"(c0.y), "f"(c0.z), "f"(c0.w));                    \
        else                                                                      \
            asm("mma.sync.aligned." types " {%0,%1,%2,%3}, {%4,%5,%6,%7}, "      \
                "{%8,%9}, {%0,%1,%2,%3};"                                         \
                : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])                  \
                : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1])); \
    } while (0)
template <int KIND>
__device__ __forceinline__ void asg_mma_from(float c[4], const uint32_t a[4], const uint32_t b[2],
                                             bool acc, float4 c0) {
    if constexpr (KIND == FKM_ASG_F32X3 || KIND == FKM_ASG_TF32)
        ASG_MMA("m16n8k8.row.col.f32.tf32.tf32.f32");
    else if constexpr (KIND == FKM_ASG_BF16)
        ASG_MMA("m16n8k16.row.col.f32.bf16.bf16.f32");
    else /* F16, F16X3 */
        ASG_MMA("m16n8k16.row.col.f32.f16.f16.f32");
}
#undef ASG_MMA
/* c = a.b + c, or a.b when `zero` (a compile-time constant at every call) */
template <int KIND>
__device__ __forceinline__ void asg_mma(float c[4], const uint32_t a[4], const uint32_t b[2],
                                        bool zero) {
    asg_mma_from<KIND>(c, a, b, !zero, make_float4(0.f, 0.f, 0.f, 0.f));
}

/* SMs of the current device, for grids of one or two waves (1 when the
 * query fails: a slower launch, still correct). */
static inline int fkm_sm_count() {
    int dev = 0, sms = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess ||
        sms < 1)
        return 1;
    return sms;
}

/* The packed fold (assign_pack.cu): a value v' = v + M of the row's place
 * among the thread's 64 columns, as one unsigned number (mul: a run-time
 * 64, so that the multiply stays an IMAD on the FMA pipe), and back: v and
 * the place, from a maximum of them (top: M's sign and exponent bits). */
__device__ __forceinline__ uint32_t asg_pack(float v, uint32_t mul, uint32_t place) {
    return __float_as_uint(v) * mul + (63u - place);
}
__device__ __forceinline__ float asg_unpack(uint32_t u, uint32_t top, float M, uint32_t &place) {
    place = 63u - (u & 63u);
    return __uint_as_float((u >> 6) | top) - M;
}
/* M's sign and exponent bits: those of every packed v' of its problem */
__device__ __forceinline__ uint32_t asg_pack_top(float M) { return __float_as_uint(M) & 0xfc000000u; }
/* A problem's M = 3 * 2^e from its bound (assign_pack.cu): the largest
 * |c|^2 and |x|^2, the scale's square, inner product or not. |x| |c|
 * as the product of the roots: the squares' product overflows from
 * |x| |c| = 1.8e19, where V itself is still far inside fp32's range. */
__device__ __forceinline__ float asg_pack_offset(float cmax, float xnmax, float s2, int ip) {
    const float V = s2 * (sqrtf(xnmax) * sqrtf(cmax) + (ip ? 0.f : 0.5f * cmax)) * 1.03125f;
    int e = 0;
    frexpf(V, &e); /* V < 2^e */
    if (!(V < 0x1p125f)) e = 125; /* absurd data: keep M finite */
    return ldexpf(3.f, e);
}
/* The packed fold errs by at most 2^-21 V (assign_pack.cu), an eighth of
 * the operands' rounding (2^-11; bf16 2^-8) at a typical row where half a
 * problem's |x|^2 and half its |c|^2 lie within 2^-spread of the largest:
 * V is then at most 2^spread times that row's bound. */
__host__ __device__ constexpr int asg_pack_spread(int kind) {
    return kind == FKM_ASG_BF16 ? 10 : 7;
}
/* 1 where fewer than half of a block's count values (the block's threads
 * taking them in turn) are >= 2^-spread of the largest, vmax. The whole
 * block calls it; every thread gets the answer. */
__device__ __forceinline__ uint32_t asg_pack_wide(const float *v, size_t count, float vmax,
                                                  int spread) {
    const float thr = ldexpf(vmax, -spread);
    size_t big = 0;
    for (size_t i0 = 0; i0 < count; i0 += blockDim.x) {
        const size_t i = i0 + threadIdx.x;
        big += (size_t)__syncthreads_count(i < count && v[i] >= thr);
    }
    return 2 * big < count;
}
/* Column col's bias + M, its centroid's |c|^2 = cn; past k: 2^(e+1), M
 * with its mantissa cleared, below every column's v'. */
__device__ __forceinline__ float asg_packed_bias(size_t col, size_t k, float cn, float s, int ip,
                                                 float M) {
    return col >= k ? __uint_as_float(__float_as_uint(M) & 0xff800000u)
                    : (ip ? 0.f : -0.5f * s * s * cn) + M;
}
/* The largest v of a block of THREADS threads, to each of them; warp_max
 * holds THREADS / 32 floats. The whole block calls it. */
template <unsigned THREADS>
__device__ __forceinline__ float asg_block_max(float v, float *warp_max) {
    static_assert(THREADS % 32 == 0 && THREADS <= 1024, "whole warps");
    for (int o = 16; o; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    if ((threadIdx.x & 31) == 0) warp_max[threadIdx.x >> 5] = v;
    __syncthreads();
#pragma unroll
    for (unsigned w = 0; w < THREADS / 32; w++) v = fmaxf(v, warp_max[w]);
    return v;
}
/* Each column's bias + M, M per problem (pack_off) and pack_coarse for the
 * kind's spread, on the stream. */
void fkm_pack_bias(const AsgArgs &A, int kind, size_t batch, cudaStream_t stream);

/* A wgmma kernel (assign_wgmma.cu, assign_wide.cu or assign_cres.cu,
 * sm_90a) for the kinds they serve (tf32 from rows stored rounded, fp16,
 * bf16, F16HI) where rows are 16-byte aligned; false: not launched, use
 * the mma.sync kernels. */
bool fkm_assign_wgmma(AsgArgs A, int kind, size_t batch, cudaStream_t stream);
/* The small-d kernel (assign_small.cu) for tf32, fp16, bf16 and F32X3 where
 * d <= FKM_SMALL_D and rows are not listed; false: not launched. */
bool fkm_assign_small(AsgArgs A, int kind, size_t batch, cudaStream_t stream);
#endif
