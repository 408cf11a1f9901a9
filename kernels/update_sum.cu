/* update_sum.cu — the sums of the centroid update, over the rows that
 * update_sort.cu grouped by centroid in increasing row order. Each
 * (centroid, dimension) is one thread that adds its rows in that order in
 * fp32, exactly as FAISS's compute_centroids does (c += x, or c += x * w,
 * unfused), then multiplies by 1 / h: the new centroids are bit-identical
 * to the CPU engine's whenever the assignments agree, and the same on every
 * run. The same kernel counts each group (hassign: FAISS's chain of the
 * weights, or the count) and finishes the groups it split into chunks. */
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "cp_async.cuh"
#include "gpu_state.h"

template <typename T>
__device__ __forceinline__ float upd_ld(const T *x, size_t i) {
    return (float)x[i];
}
template <>
__device__ __forceinline__ float upd_ld<__half>(const __half *x, size_t i) {
    return __half2float(x[i]);
}
template <>
__device__ __forceinline__ float upd_ld<__nv_bfloat16>(const __nv_bfloat16 *x, size_t i) {
    return __bfloat162float(x[i]);
}

/* FAISS's hassign without weights: the count, which as a float saturates
 * at 2^24 (h += 1.0 stops growing there). */
__device__ __forceinline__ float upd_count(size_t m) {
    return m > (1u << 24) ? 16777216.f : (float)m;
}
/* FAISS: norm = 1 / h; empty (h = 0): left as summed (0, FAISS's memset). */
__device__ __forceinline__ float upd_scale(float s, float h) {
    return h != 0 ? __fmul_rn(s, __fdiv_rn(1.f, h)) : s;
}

/* A block sums UPD_SPAN bytes of each row (one 128-byte line: 32 floats or
 * 64 halves; d is cut into such slices, grid.y) with a thread per column
 * (32 or 64), UPD_ROWS rows per stage of its ring. Slices rather than whole
 * rows: a small d gets small blocks, 32 per SM, with all their lanes
 * loading and their columns' threads summing (the 128-thread blocks with a
 * fixed 40 KB of shared memory ran 8 summing threads of 128 at d = 8, 5
 * blocks per SM); a large d gets many blocks, so the largest groups' blocks
 * are short and the tail with them. */
#define UPD_SPAN 128
#define UPD_ROWS 32     /* <= the threads of a block: one index load each */
#define UPD_VPT 8       /* 16-byte pieces per thread and stage: 32 x 128 / 16 / 32 */
#define UPD_MAX_STAGES 8 /* cp_async_wait_pending (cp_async.cuh) goes to 8 - 2 */
static_assert(UPD_ROWS <= 32 && UPD_ROWS * (UPD_SPAN / 16) <= UPD_VPT * 32,
              "a stage's row indices and 16-byte pieces are one round of a 32-thread block");

struct UpdArgs {
    const void *x;       /* rows, T */
    const float *w;      /* weights or NULL */
    const uint32_t *keys, *seg, *order;
    float *cent, *part, *hassign;
    uint32_t *finished;  /* per group: its blocks done (split groups only) */
    size_t groups, k, k_frozen, d;
    uint32_t stage;      /* bytes of one data stage in shared memory */
    int stages;          /* 3 .. UPD_MAX_STAGES */
    int vec16;           /* rows 16-byte aligned: cp.async pieces */
};

/* One block's rows [p0, p0 + rows) of its slice [j0, j0 + ds): the ring of
 * stages in dynamic shared memory, and the data of each stage's loads. */
template <typename T>
struct UpdChunk {
    const T *x;
    const float *w;
    const uint32_t *order;
    size_t d, j0;
    uint32_t ds, p0, rows, ntiles, stage;
    int ns, vec16;
    unsigned char *tile; /* ns stages of UPD_ROWS x ds values, as in x */
    uint32_t *idx;       /* 2 ns - 1 stages of UPD_ROWS row indices */
    float *wt;           /* ns stages of UPD_ROWS weights */
    uint32_t pr[UPD_VPT], pe[UPD_VPT]; /* this thread's pieces: row, element */
};

template <typename T>
__device__ __forceinline__ uint32_t upd_tile_rows(const UpdChunk<T> &ck, uint32_t kt) {
    const uint32_t left = ck.rows - kt * UPD_ROWS;
    return left < UPD_ROWS ? left : UPD_ROWS;
}

/* The row indices of stage kt (slot kt % (2 ns - 1): filled ns - 1 stages
 * before the data that uses them, so both loads stay in flight). */
template <typename T>
__device__ __forceinline__ void upd_issue_idx(const UpdChunk<T> &ck, uint32_t kt) {
    if (kt >= ck.ntiles) return;
    const uint32_t slot = kt % (2 * ck.ns - 1);
    if (threadIdx.x < upd_tile_rows(ck, kt))
        cp_async4(ck.idx + slot * UPD_ROWS + threadIdx.x,
                  ck.order + ck.p0 + kt * UPD_ROWS + threadIdx.x);
}

/* The data (and weights) of stage kt: 16-byte cp.async pieces, or, for rows
 * not 16-byte aligned, plain loads (8 in flight per thread) and stores. */
template <typename T>
__device__ __forceinline__ void upd_issue_data(const UpdChunk<T> &ck, uint32_t kt) {
    if (kt >= ck.ntiles) return;
    const uint32_t nr = upd_tile_rows(ck, kt), t = threadIdx.x, slot = kt % ck.ns;
    const uint32_t *ix = ck.idx + (kt % (2 * ck.ns - 1)) * UPD_ROWS;
    T *dst = (T *)(ck.tile + slot * ck.stage);
    if (ck.w && t < nr) cp_async4(ck.wt + slot * UPD_ROWS + t, ck.w + ix[t]);
    if (ck.vec16) {
#pragma unroll
        for (int i = 0; i < UPD_VPT; i++)
            if (ck.pr[i] < nr)
                cp_async16(dst + ck.pr[i] * ck.ds + ck.pe[i],
                           ck.x + (size_t)ix[ck.pr[i]] * ck.d + ck.j0 + ck.pe[i]);
        return;
    }
    const uint32_t total = nr * ck.ds;
    for (uint32_t b = t; b < total; b += 8 * blockDim.x) {
        T v[8];
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const uint32_t p = b + i * blockDim.x, r = p / ck.ds;
            if (p < total) v[i] = ck.x[(size_t)ix[r] * ck.d + ck.j0 + (p - r * ck.ds)];
        }
#pragma unroll
        for (int i = 0; i < 8; i++)
            if (b + i * blockDim.x < total) dst[b + i * blockDim.x] = v[i];
    }
}

/* The chunk through an ns-stage ring (the classic multistage loop: one
 * barrier per stage; the stage refilled is the one summed the step before).
 * Thread j < ds adds column j in row order, the exact chain; with weights,
 * h gets the chain of the weights (thread 0's is the group's hassign). */
template <typename T>
__device__ __forceinline__ void upd_sum_chunk(const UpdChunk<T> &ck, float &s, float &h) {
    for (int kt = 0; kt < ck.ns - 1; kt++) upd_issue_idx(ck, kt);
    cp_async_commit();
    cp_async_wait_pending(0);
    __syncthreads();
    for (int kt = 0; kt < ck.ns - 1; kt++) {
        upd_issue_data(ck, kt);
        upd_issue_idx(ck, kt + ck.ns - 1);
        cp_async_commit();
    }
    const uint32_t t = threadIdx.x;
    for (uint32_t kt = 0; kt < ck.ntiles; kt++) {
        cp_async_wait_pending(ck.ns - 2); /* stage kt has landed */
        __syncthreads();                  /* everyone's, and stage kt - 1 is summed */
        upd_issue_data(ck, kt + ck.ns - 1);
        upd_issue_idx(ck, kt + 2 * ck.ns - 2);
        cp_async_commit(); /* always: keeps the group count uniform */
        if (t >= ck.ds) continue;
        const uint32_t nr = upd_tile_rows(ck, kt), slot = kt % ck.ns;
        const T *col = (const T *)(ck.tile + slot * ck.stage) + t;
        if (ck.w) {
            const float *wv = ck.wt + slot * UPD_ROWS;
#pragma unroll 8
            for (uint32_t r = 0; r < nr; r++) {
                const float wr = wv[r];
                s = __fadd_rn(s, __fmul_rn(upd_ld(col + r * ck.ds, 0), wr));
                h = __fadd_rn(h, wr);
            }
        } else {
#pragma unroll 8
            for (uint32_t r = 0; r < nr; r++) s = __fadd_rn(s, upd_ld(col + r * ck.ds, 0));
        }
    }
    cp_async_wait_pending(0); /* nothing is left in flight; this says so */
    __syncthreads();
}

/* The last block of a split group: hassign (the weights' chain over the
 * whole group, staged through shared memory in row order), then the chunk
 * sums added in chunk order, all d dimensions. */
__device__ __forceinline__ void upd_finish_group(const UpdArgs &a, size_t c, uint32_t lo,
                                                 uint32_t hi, uint32_t nq, float *buf,
                                                 uint32_t cap) {
    __shared__ float h_all;
    const uint32_t t = threadIdx.x, nt = blockDim.x;
    float h = 0;
    if (a.w) {
        for (uint32_t b = lo; b < hi; b += cap) {
            const uint32_t nb = hi - b < cap ? hi - b : cap;
            __syncthreads(); /* the previous batch is added */
#pragma unroll 4
            for (uint32_t r = t; r < nb; r += nt) buf[r] = a.w[a.order[b + r]];
            __syncthreads();
            if (t == 0)
                for (uint32_t r = 0; r < nb; r++) h = __fadd_rn(h, buf[r]);
        }
    } else {
        h = upd_count(hi - lo);
    }
    if (t == 0) h_all = a.hassign[c] = h;
    __syncthreads();
    for (size_t j = t; j < a.d; j += nt) {
        float s = 0;
        for (uint32_t q = 0; q < nq; q++) {
            const size_t u = /* chunk q's block: its slot's, past the groups */
                q == 0 ? c : a.groups + (lo + (size_t)q * FKM_UPD_CHUNK) / FKM_UPD_CHUNK;
            s = __fadd_rn(s, __ldcg(a.part + u * a.d + j));
        }
        a.cent[c * a.d + j] = upd_scale(s, h_all);
    }
}

/* Block (u, slice). u < groups: chunk 0 of group u. Above: a slot of
 * FKM_UPD_CHUNK sorted positions, which holds the start of at most one
 * later chunk (q >= 1) of a group over FKM_UPD_CHUNK rows — the group of the
 * slot's first key — so chunks need no scan to be numbered. Groups of at
 * most FKM_UPD_CHUNK rows (all of them in balanced runs) are one chain per
 * dimension: bit-identical to FAISS. Larger ones are split (one SM cannot
 * pull a giant cluster fast enough); their chunk sums go to part, and the
 * last of their blocks (counted in finished) adds them in chunk order:
 * deterministic, within rounding of FAISS's order. */
template <typename T>
__global__ void __launch_bounds__(64, 16) /* 64 registers: 32 blocks of 32 fit an SM */
centroid_sum_kernel(const UpdArgs a) {
    extern __shared__ __align__(16) unsigned char upd_smem[];
    __shared__ float h_sh;
    __shared__ int last_sh;
    const uint32_t t = threadIdx.x, C = FKM_UPD_CHUNK;
    const size_t u = blockIdx.x;
    size_t c = u;
    uint32_t q = 0;
    if (u >= a.groups) {
        const size_t pos = (u - a.groups) * C; /* < items */
        c = a.keys[pos];
        q = (uint32_t)((pos - a.seg[c] + C - 1) / C);
        if (q == 0) return; /* the slot starts a group: its chunk 0 is block c */
    }
    if (c % a.k < a.k_frozen) {
        if (u < a.groups && blockIdx.y == 0 && t == 0) a.hassign[c] = 0;
        return;
    }
    const uint32_t lo = a.seg[c], hi = a.seg[c + 1];
    const size_t p0 = lo + (size_t)q * C;
    if (q > 0 && p0 >= hi) return; /* no chunk starts in this slot */
    const uint32_t nq = hi - lo <= C ? 1 : (hi - lo + C - 1) / C;

    UpdChunk<T> ck;
    constexpr uint32_t EPP = 16 / sizeof(T), SPAN = UPD_SPAN / sizeof(T);
    ck.x = (const T *)a.x;
    ck.w = a.w;
    ck.order = a.order;
    ck.d = a.d;
    ck.j0 = (size_t)blockIdx.y * SPAN;
    ck.ds = (uint32_t)(a.d - ck.j0 < SPAN ? a.d - ck.j0 : SPAN);
    ck.p0 = (uint32_t)p0;
    ck.rows = (uint32_t)(hi - p0 < C ? hi - p0 : C);
    ck.ntiles = (ck.rows + UPD_ROWS - 1) / UPD_ROWS;
    ck.stage = a.stage;
    ck.ns = a.stages;
    ck.vec16 = a.vec16;
    ck.tile = upd_smem;
    ck.idx = (uint32_t *)(upd_smem + (size_t)a.stages * a.stage);
    ck.wt = (float *)(ck.idx + (2 * a.stages - 1) * UPD_ROWS);
    const uint32_t per = ck.ds / EPP; /* 16-byte pieces per row (vec16) */
#pragma unroll
    for (int i = 0; i < UPD_VPT; i++) {
        const uint32_t p = t + i * blockDim.x;
        ck.pr[i] = ck.vec16 && p < UPD_ROWS * per ? p / per : UPD_ROWS; /* UPD_ROWS: none */
        ck.pe[i] = ck.vec16 && p < UPD_ROWS * per ? (p % per) * EPP : 0;
    }
    float s = 0, h = 0;
    upd_sum_chunk(ck, s, h);

    const size_t j = ck.j0 + t;
    if (nq == 1) {
        if (t == 0) {
            h_sh = a.w ? h : upd_count(hi - lo);
            if (blockIdx.y == 0) a.hassign[c] = h_sh;
        }
        __syncthreads();
        if (t < ck.ds) a.cent[c * a.d + j] = upd_scale(s, h_sh);
        return;
    }
    if (t < ck.ds) a.part[u * a.d + j] = s;
    __threadfence(); /* the sums are visible before the count says so */
    __syncthreads();
    if (t == 0) last_sh = atomicAdd(&a.finished[c], 1u) == nq * gridDim.y - 1;
    __syncthreads();
    if (!last_sh) return;
    __threadfence();
    upd_finish_group(a, c, lo, hi, nq, (float *)ck.idx, (2 * a.stages - 1) * UPD_ROWS);
}

/* Stages per block. Rows of 64 bytes or more: up to 8 (128-byte rows: 28
 * KB in flight of 35 KB, 6 blocks per SM, as many bytes in flight per SM as
 * 4 stages with twice the blocks, but a block left alone at the tail pulls
 * twice as fast), and no more than a group's mean rows need (seed-example,
 * 32 x 65536 rows, k = 1024: ~64 rows per group; 8 stages there held 6
 * blocks per SM, each waiting out its index and row loads in series, and
 * its iteration went 2.28 -> 2.63 ms on an H200). Narrower rows: 4, which
 * keeps shared memory under 7 KB, 32 blocks per SM: there the groups are
 * short and the blocks many (pq: 4096 of ~256 rows). */
static int upd_stages(size_t span_bytes, size_t mean_rows) {
    if (span_bytes < 64) return 4;
    const size_t need = (mean_rows + UPD_ROWS - 1) / UPD_ROWS + 1;
    return need < 3 ? 3 : need > UPD_MAX_STAGES ? UPD_MAX_STAGES : (int)need;
}

extern "C" void fkm_launch_centroid_sum(fkm_gpu_state *s, size_t k, size_t k_frozen,
                                        uint32_t *finished) {
    const size_t items = s->batch * s->n, groups = s->batch * k, d = s->d;
    const size_t xel = s->xdtype == FLASHKM_DTYPE_F32 ? 4 : 2, span = UPD_SPAN / xel;
    const size_t ds = d < span ? d : span; /* the widest slice */
    UpdArgs a;
    a.x = s->x;
    a.w = s->w;
    a.keys = s->keys_sorted;
    a.seg = s->seg;
    a.order = s->order;
    a.cent = s->cent;
    a.part = s->part;
    a.hassign = s->hassign;
    a.finished = finished;
    a.groups = groups;
    a.k = k;
    a.k_frozen = k_frozen;
    a.d = d;
    a.stage = (uint32_t)((UPD_ROWS * ds * xel + 15) / 16 * 16);
    a.stages = upd_stages(ds * xel, items / groups);
    a.vec16 = (uintptr_t)s->x % 16 == 0 && d * xel % 16 == 0;
    const size_t smem = a.stages * (size_t)a.stage + (2 * a.stages - 1) * UPD_ROWS * 4 +
                        (s->w ? a.stages * UPD_ROWS * 4 : 0);
    const unsigned threads = ds <= 32 ? 32 : 64;
    dim3 grid((unsigned)(groups + (items + FKM_UPD_CHUNK - 1) / FKM_UPD_CHUNK),
              (unsigned)((d + span - 1) / span));
    if (s->xdtype == FLASHKM_DTYPE_F32)
        centroid_sum_kernel<float><<<grid, threads, smem, s->stream>>>(a);
    else if (s->xdtype == FLASHKM_DTYPE_F16)
        centroid_sum_kernel<__half><<<grid, threads, smem, s->stream>>>(a);
    else
        centroid_sum_kernel<__nv_bfloat16><<<grid, threads, smem, s->stream>>>(a);
}
