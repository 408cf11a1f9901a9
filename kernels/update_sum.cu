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

/* A block sums up to UPD_SPAN bytes of each row (128 floats or 256 halves;
 * a wider d is cut into such slices, the fastest index of blockIdx.x, so
 * one row's slices are asked for at about the same time) with a thread per
 * column, UPD_ROWS rows per stage of its ring. Whole rows rather than
 * 128-byte slices in blocks of their own: the rows are gathered in random
 * order, and HBM serves a random 256- or 512-byte piece better than two or
 * four 128-byte ones fetched apart (H200, ivf-1M-1k: 157 -> 125 us with
 * fp16 rows, 240 -> 180 us with fp32 rows; DRAM 36 -> 45 % and 47 -> 63 %
 * busy). Slices still: a small d gets small blocks, up to 32 per SM, with
 * all their lanes loading and their columns' threads summing; a large d
 * gets many blocks, so the largest groups' blocks are short and the tail
 * with them. */
#define UPD_SPAN 512
#define UPD_ROWS 32     /* <= the threads of a block: one index load each */
#define UPD_MAX_STAGES 8 /* cp_async_wait_pending (cp_async.cuh) goes to 8 - 2 */
#define UPD_RING_BYTES (32 * 1024) /* what a block's stages hold at most, past 3 */
static_assert(UPD_ROWS <= 32, "a stage's row indices are one round of a block");

struct UpdArgs {
    const void *x;       /* rows, T */
    const float *w;      /* weights or NULL */
    const uint32_t *keys, *seg, *order;
    float *cent, *part, *hassign;
    uint32_t *finished;  /* per group: its blocks done (split groups only) */
    size_t groups, k, k_frozen, d, batch;
    int lg;              /* the groups' layout: fkm_group_of */
    uint32_t span;       /* values per slice */
    uint32_t slices;     /* per row; a block's slice is the fastest index of blockIdx.x */
    uint32_t stage;      /* bytes of one data stage in shared memory */
    int stages;          /* 3 .. UPD_MAX_STAGES */
    int vec16;           /* rows 16-byte aligned: cp.async pieces */
    int planes;          /* the stages' layout (UpdChunk) */
};

/* One block's rows [p0, p0 + rows) of its slice [j0, j0 + ds): the ring of
 * stages in dynamic shared memory, and the data of each stage's loads.
 * Value (r, c) of a stage is at c / EPP * pl + r * rs + c % EPP:
 *  - rows of at most UPD_PLANES_BYTES (PQ's sub-vectors): by 16-byte
 *    planes, pl = UPD_ROWS * EPP + EPP, rs = EPP. Plane q holds columns
 *    EPP q .. of all UPD_ROWS rows, then a 16-byte pad; a row's 16-byte
 *    piece is still one cp.async, while column j's rows are a constant 16
 *    bytes apart, so the sum loop's loads take immediate offsets (row-major
 *    stages cost an address add per row), and a warp's columns fall in
 *    distinct banks (the pad);
 *  - wider rows: row after row, pl = EPP, rs = ds. There planes made the
 *    update slower (H200, ivf-1M-1k: 181 -> 291 us with fp32 rows), and
 *    its sums are a small part of those blocks' time. */
#define UPD_PLANES_BYTES 64
template <typename T>
struct UpdChunk {
    static constexpr uint32_t EPP = 16 / sizeof(T); /* values per 16-byte piece */
    const T *x;
    const float *w;
    const uint32_t *order;
    size_t d, j0;
    uint32_t ds, p0, rows, ntiles, stage;
    int ns, vec16;
    unsigned char *tile; /* ns stages, each laid out as above */
    uint32_t *idx;       /* 2 ns - 1 stages of UPD_ROWS row indices */
    float *wt;           /* ns stages of UPD_ROWS weights */
    uint32_t per;        /* 16-byte pieces per row (vec16): ds / EPP, 1 .. 32 */
    uint32_t per_inv;    /* ceil(2^16 / per): piece p's row is (p * per_inv) >> 16 */
    uint32_t pl, rs;     /* the stage layout (above) */
    /* where value (r, c) of a stage lives */
    __device__ __forceinline__ uint32_t at(uint32_t r, uint32_t c) const {
        return c / EPP * pl + r * rs + c % EPP;
    }
};

template <typename T>
__device__ __forceinline__ uint32_t upd_tile_rows(const UpdChunk<T> &ck, uint32_t kt) {
    const uint32_t left = ck.rows - kt * UPD_ROWS;
    return left < UPD_ROWS ? left : UPD_ROWS;
}

/* The ring's slots, carried from stage to stage rather than taken modulo
 * the stage count (a run-time division each, most of a small row's stage):
 * at step kt the sum reads data slot kt % ns, the data of stage kt + ns - 1
 * goes to the slot summed the step before and takes its indices from slot
 * (kt + ns - 1) % (2 ns - 1), and the indices of stage kt + 2 ns - 2 go to
 * the slot that held stage kt - 1's. */
struct UpdSlots {
    uint32_t sum, fill, idx_use, idx_fill;
};
__device__ __forceinline__ uint32_t upd_next(uint32_t s, uint32_t n) { return s + 1 == n ? 0 : s + 1; }

/* The row indices of stage kt into idx slot `slot` (filled ns - 1 stages
 * before the data that uses them, so both loads stay in flight). */
template <typename T>
__device__ __forceinline__ void upd_issue_idx(const UpdChunk<T> &ck, uint32_t kt, uint32_t slot) {
    if (kt >= ck.ntiles) return;
    if (threadIdx.x < upd_tile_rows(ck, kt))
        cp_async4(ck.idx + slot * UPD_ROWS + threadIdx.x,
                  ck.order + ck.p0 + kt * UPD_ROWS + threadIdx.x);
}

/* The data (and weights) of stage kt into data slot `slot`, its row indices
 * from idx slot `islot`: 16-byte cp.async pieces, or, for rows not 16-byte
 * aligned, plain loads (8 in flight per thread) and stores. */
template <typename T>
__device__ __forceinline__ void upd_issue_data(const UpdChunk<T> &ck, uint32_t kt, uint32_t slot,
                                               uint32_t islot) {
    if (kt >= ck.ntiles) return;
    constexpr uint32_t EPP = UpdChunk<T>::EPP;
    const uint32_t nr = upd_tile_rows(ck, kt), t = threadIdx.x;
    const uint32_t *ix = ck.idx + islot * UPD_ROWS;
    T *dst = (T *)(ck.tile + slot * ck.stage);
    if (ck.w && t < nr) cp_async4(ck.wt + slot * UPD_ROWS + t, ck.w + ix[t]);
    if (ck.vec16) {
        /* only the stage's pieces, nr x per of them: a loop over all a
         * thread might hold, predicated, was most of the instructions of
         * the small rows' blocks (pq-batched: 2 live pieces of 8) */
        const uint32_t pieces = nr * ck.per;
        for (uint32_t p = t; p < pieces; p += blockDim.x) {
            const uint32_t r = (p * ck.per_inv) >> 16, q = p - r * ck.per;
            const T *from = ck.x + (size_t)ix[r] * ck.d + ck.j0 + q * EPP;
            T *to = dst + q * ck.pl + r * ck.rs;
            cp_async16(to, from);
        }
        return;
    }
    const uint32_t total = nr * ck.ds;
    for (uint32_t b = t; b < total; b += 8 * blockDim.x) {
        T v[8];
        uint32_t to[8];
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const uint32_t p = b + i * blockDim.x, r = p / ck.ds, c = p - r * ck.ds;
            if (p < total) {
                v[i] = ck.x[(size_t)ix[r] * ck.d + ck.j0 + c];
                to[i] = ck.at(r, c);
            }
        }
#pragma unroll
        for (int i = 0; i < 8; i++)
            if (b + i * blockDim.x < total) dst[to[i]] = v[i];
    }
}

/* The chunk through an ns-stage ring (the classic multistage loop: one
 * barrier per stage; the stage refilled is the one summed the step before).
 * Thread j < ds adds column j in row order, the exact chain; with weights,
 * h gets the chain of the weights (thread 0's is the group's hassign). */
template <typename T>
__device__ __forceinline__ void upd_sum_chunk(const UpdChunk<T> &ck, float &s, float &h) {
    const uint32_t ns = (uint32_t)ck.ns, ni = 2 * ns - 1;
    for (uint32_t kt = 0; kt < ns - 1; kt++) upd_issue_idx(ck, kt, kt);
    cp_async_commit();
    cp_async_wait_pending(0);
    __syncthreads();
    for (uint32_t kt = 0; kt < ns - 1; kt++) {
        upd_issue_data<T>(ck, kt, kt, kt);
        upd_issue_idx(ck, kt + ns - 1, kt + ns - 1);
        cp_async_commit();
    }
    const uint32_t t = threadIdx.x;
    UpdSlots sl = {0, ns - 1, ns - 1, ni - 1};
    const T *colt = (const T *)ck.tile + ck.at(0, t); /* column t of slot 0 */
    for (uint32_t kt = 0; kt < ck.ntiles; kt++) {
        cp_async_wait_pending(ck.ns - 2); /* stage kt has landed */
        __syncthreads();                  /* everyone's, and stage kt - 1 is summed */
        upd_issue_data<T>(ck, kt + ns - 1, sl.fill, sl.idx_use);
        upd_issue_idx(ck, kt + 2 * ns - 2, sl.idx_fill);
        cp_async_commit(); /* always: keeps the group count uniform */
        const uint32_t slot = sl.sum;
        sl.fill = slot; /* next step refills what this one sums */
        sl.sum = upd_next(slot, ns);
        sl.idx_use = upd_next(sl.idx_use, ni);
        sl.idx_fill = upd_next(sl.idx_fill, ni);
        if (t >= ck.ds) continue;
        const uint32_t nr = upd_tile_rows(ck, kt);
        const T *col = (const T *)((const unsigned char *)colt + slot * ck.stage);
        constexpr uint32_t EPP = UpdChunk<T>::EPP;
        if (ck.w) {
            const float *wv = ck.wt + slot * UPD_ROWS;
#pragma unroll 8
            for (uint32_t r = 0; r < nr; r++) {
                const float wr = wv[r];
                s = __fadd_rn(s, __fmul_rn(upd_ld(col + r * ck.rs, 0), wr));
                h = __fadd_rn(h, wr);
            }
        } else if (ck.rs == EPP) { /* planes: the stride a constant */
#pragma unroll 8
            for (uint32_t r = 0; r < nr; r++) s = __fadd_rn(s, upd_ld(col + r * EPP, 0));
        } else {
#pragma unroll 8
            for (uint32_t r = 0; r < nr; r++) s = __fadd_rn(s, upd_ld(col + r * ck.rs, 0));
        }
    }
    cp_async_wait_pending(0); /* nothing is left in flight; this says so */
    __syncthreads();
}

/* The last block of split group g (centroid c): hassign (the weights'
 * chain over the whole group, staged through shared memory in row order),
 * then the chunk sums added in chunk order, all d dimensions. */
__device__ __forceinline__ void upd_finish_group(const UpdArgs &a, size_t c, size_t g,
                                                 uint32_t lo, uint32_t hi, uint32_t nq,
                                                 float *buf, uint32_t cap) {
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
                q == 0 ? g : a.groups + (lo + (size_t)q * FKM_UPD_CHUNK) / FKM_UPD_CHUNK;
            s = __fadd_rn(s, __ldcg(a.part + u * a.d + j));
        }
        a.cent[c * a.d + j] = upd_scale(s, h_all);
    }
}

/* Block (u, slice). u < groups: chunk 0 of group u (centroid
 * fkm_centroid_of(u): the sums go to centroid rows, seg and the counters
 * are the groups'). Above: a slot of
 * FKM_UPD_CHUNK sorted positions, which holds the start of at most one
 * later chunk (q >= 1) of a group over FKM_UPD_CHUNK rows — the group of the
 * slot's first key — so chunks need no scan to be numbered. Groups of at
 * most FKM_UPD_CHUNK rows (all of them in balanced runs) are one chain per
 * dimension: bit-identical to FAISS. Larger ones are split (one SM cannot
 * pull a giant cluster fast enough); their chunk sums go to part, and the
 * last of their blocks (counted in finished) adds them in chunk order:
 * deterministic, within rounding of FAISS's order. */
template <typename T>
__global__ void __launch_bounds__(256, 4) /* 64 registers: 32 blocks of 32, 8 of 128 fit an SM */
centroid_sum_kernel(const UpdArgs a) {
    extern __shared__ __align__(16) unsigned char upd_smem[];
    __shared__ float h_sh;
    __shared__ int last_sh;
    const uint32_t t = threadIdx.x, C = FKM_UPD_CHUNK, slice = blockIdx.x % a.slices;
    const size_t u = blockIdx.x / a.slices;
    size_t g = u;
    uint32_t q = 0;
    if (u >= a.groups) {
        const size_t pos = (u - a.groups) * C; /* < items */
        g = fkm_group_of(a.keys[pos], a.k, a.batch, a.lg);
        q = (uint32_t)((pos - a.seg[g] + C - 1) / C);
        if (q == 0) return; /* the slot starts a group: its chunk 0 is block g */
    }
    const size_t c = fkm_centroid_of(g, a.k, a.batch, a.lg);
    if (c % a.k < a.k_frozen) {
        if (u < a.groups && slice == 0 && t == 0) a.hassign[c] = 0;
        return;
    }
    const uint32_t lo = a.seg[g], hi = a.seg[g + 1];
    const size_t p0 = lo + (size_t)q * C;
    if (q > 0 && p0 >= hi) return; /* no chunk starts in this slot */
    const uint32_t nq = hi - lo <= C ? 1 : (hi - lo + C - 1) / C;

    UpdChunk<T> ck;
    constexpr uint32_t EPP = UpdChunk<T>::EPP;
    const uint32_t SPAN = a.span;
    ck.x = (const T *)a.x;
    ck.w = a.w;
    ck.order = a.order;
    ck.d = a.d;
    ck.j0 = (size_t)slice * SPAN;
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
    ck.per = ck.vec16 ? ck.ds / EPP : 1;
    ck.per_inv = (65536u + ck.per - 1) / ck.per; /* exact for p < 2^16 / 32 >= 32 x 32 pieces */
    ck.pl = a.planes ? UPD_ROWS * EPP + EPP : EPP;
    ck.rs = a.planes ? EPP : ck.ds;
    float s = 0, h = 0;
    upd_sum_chunk<T>(ck, s, h);

    const size_t j = ck.j0 + t;
    if (nq == 1) {
        if (t == 0) {
            h_sh = a.w ? h : upd_count(hi - lo);
            if (slice == 0) a.hassign[c] = h_sh;
        }
        __syncthreads();
        if (t < ck.ds) a.cent[c * a.d + j] = upd_scale(s, h_sh);
        return;
    }
    if (t < ck.ds) a.part[u * a.d + j] = s;
    __threadfence(); /* the sums are visible before the count says so */
    __syncthreads();
    if (t == 0) last_sh = atomicAdd(&a.finished[g], 1u) == nq * a.slices - 1;
    __syncthreads();
    if (!last_sh) return;
    __threadfence();
    upd_finish_group(a, c, g, lo, hi, nq, (float *)ck.idx, (2 * a.stages - 1) * UPD_ROWS);
}

/* Stages per block: no more than a group's mean rows need (seed-example,
 * 32 x 65536 rows, k = 1024: ~64 rows per group; 8 stages there held 6
 * blocks per SM, each waiting out its index and row loads in series, and
 * its iteration went 2.28 -> 2.63 ms on an H200), at least 3, and at most
 * UPD_RING_BYTES of them (fp16 rows of 256 bytes: 4 stages, fp32 rows of
 * 512: 3, 48 KB, the best of 3 .. 8 measured there). Rows under 64 bytes:
 * 4, 5 KB of shared memory for pq-batched's rows of 32 bytes (32 blocks an
 * SM), 10 KB at 60: there the groups are short and the blocks many (pq:
 * 4096 of ~256 rows). */
static int upd_stages(size_t stage_bytes, size_t span_bytes, size_t mean_rows) {
    if (span_bytes < 64) return 4;
    const size_t need = (mean_rows + UPD_ROWS - 1) / UPD_ROWS + 1,
                 fit = UPD_RING_BYTES / stage_bytes;
    const size_t cap = fit < 3 ? 3 : fit > UPD_MAX_STAGES ? UPD_MAX_STAGES : fit;
    return (int)(need < 3 ? 3 : need > cap ? cap : need);
}

/* fp32 rows of 512 bytes take 3 stages of 16 KB: past the default 48 KB */
template <typename T>
static void upd_launch(dim3 grid, unsigned threads, size_t smem, cudaStream_t stream,
                       const UpdArgs &a) {
    if (smem > 48 * 1024)
        cudaFuncSetAttribute(centroid_sum_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             (int)smem);
    centroid_sum_kernel<T><<<grid, threads, smem, stream>>>(a);
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
    a.batch = s->batch;
    a.lg = fkm_group_lg(s->batch, k);
    a.span = (uint32_t)span;
    a.slices = (uint32_t)((d + span - 1) / span);
    a.planes = ds * xel <= UPD_PLANES_BYTES;
    a.stage = (uint32_t)(a.planes ? (ds * xel + 15) / 16 * (UPD_ROWS + 1) * 16 /* + pads */
                                  : (UPD_ROWS * ds * xel + 15) / 16 * 16);
    a.stages = upd_stages(a.stage, ds * xel, items / groups);
    a.vec16 = (uintptr_t)s->x % 16 == 0 && d * xel % 16 == 0;
    const size_t smem = a.stages * (size_t)a.stage + (2 * a.stages - 1) * UPD_ROWS * 4 +
                        (s->w ? a.stages * UPD_ROWS * 4 : 0);
    const unsigned threads = (unsigned)((ds + 31) / 32 * 32);
    const dim3 grid((unsigned)((groups + (items + FKM_UPD_CHUNK - 1) / FKM_UPD_CHUNK) * a.slices));
    if (s->xdtype == FLASHKM_DTYPE_F32) upd_launch<float>(grid, threads, smem, s->stream, a);
    else if (s->xdtype == FLASHKM_DTYPE_F16) upd_launch<__half>(grid, threads, smem, s->stream, a);
    else upd_launch<__nv_bfloat16>(grid, threads, smem, s->stream, a);
}
