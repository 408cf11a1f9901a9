/* assign_wgmma.cu — FlashAssign on Hopper's warpgroup MMA (wgmma, sm_90a)
 * for the kinds with one product per pair: tf32, fp16, bf16, and fp32
 * precision's certified search (F16HI: the points' F16X3 hi halves, the
 * fp16 centroid copy). Same results contract as assign_mma.cu's kernels
 * (the largest x.c s^2 - |c|^2 s^2 / 2 per row, ties to the lower index;
 * tf32 operands rounded to nearest, as there); what changes is how the
 * products are made.
 *
 * mma.sync (assign_mma.cu) loads every operand fragment into registers
 * with ldmatrix and keeps a warp busy issuing MMAs: on an H200 it stopped
 * at 30-45 % of the GEMM ceiling. wgmma reads both operands straight from
 * shared memory and runs asynchronously, so a warpgroup can fold one
 * centroid tile's values while the tensor cores compute the next tile:
 *  - a block = 2 warpgroups = 256 point rows (2 x 64 each, m64n64k16 or
 *    m64n64k8 for tf32), resident in shared memory for the whole kernel, d
 *    in 128-byte chunks (64 halves, 32 tf32). 256 rather than 128 rows: every block reads all K centroids
 *    from L2, and with 128-row blocks that traffic (8.6 GB per iteration
 *    for N = 1M, K = 4096, d = 128) held the kernel to ~40 % of the MMA
 *    ceiling on an H200;
 *  - a producer warpgroup streams centroid tiles of 64 rows (all of d)
 *    through 2 to 6 cp.async stages, as many as fit, tracked by mbarriers;
 *    the two consumer warpgroups go at their own pace;
 *  - two accumulator sets: tile j's MMAs are issued, then tile j - 1's
 *    values are folded while they run. A tile's MMAs start from zero and
 *    the fold adds -|c|^2 s^2 / 2, and nothing is in flight across a loop
 *    edge: otherwise ptxas serializes the MMAs (its C7514/C7517 notes);
 *  - operands in the 128-byte swizzled K-major layout wgmma reads without
 *    bank conflicts: 16-byte piece p of row r at (p ^ (r % 8)) * 16.
 * Where the rows do not fit (a point tile and two centroid tiles: d up to
 * 256 in halves, 128 in tf32), and wherever k >= 256, assign_wide.cu's
 * kernel runs (see fkm_assign_wgmma); where rows are not 16-byte aligned,
 * or tf32 rows are one chunk (d <= 32), assign_mma.cu's kernels run
 * instead. So this kernel now serves k < 256 with rows that fit. */
#include "wgmma.cuh"

#if FKM_USE_WGMMA
#define WG_BM 256        /* point rows per block: 2 warpgroups x 2 x 64 */
#define WG_BN 64         /* centroids per tile */
#define WG_MAX_STAGES 6
#define WG_ACHUNK_BYTES (WG_BM * WG_ROW_BYTES) /* 32 KB: a chunk of the point rows */
#define WG_BCHUNK_BYTES (WG_BN * WG_ROW_BYTES) /* 8 KB: a chunk of a centroid tile */

/* Each column's bias -|c|^2 s^2 / 2 (0 for inner product, -inf for the
 * padding past k), once per assignment: the kernel's fold adds it to x.c s^2
 * (computing it there cost every thread a multiply and a mask per value;
 * a shared ring filled by the producer cost a hand-off compute-sanitizer's
 * racecheck could not follow). */
__global__ void bias_kernel(const float *cnorm, const float *scale, size_t k, size_t cols,
                            int ip, float *bias) {
    const size_t b = blockIdx.y, c = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (c >= cols) return;
    const float s = scale[b];
    bias[b * cols + c] = c >= k ? -INFINITY : ip ? 0.f : -0.5f * s * s * cnorm[b * k + c];
}

/* KC: chunks of 64 dimensions, a constant (d <= 128: KC = 2, the common
 * case) or 0, read from kchunks; in a run-time loop ptxas re-fences the
 * accumulators before every chunk's MMAs.
 *
 * Persistent: one block per SM walks point tiles u = blockIdx.x,
 * + gridDim.x, ... (all problems of the batch). With a block per tile, each
 * tile's rows were loaded while the SM's tensor cores idled (K = 1024: 16
 * centroid tiles, ~4 of its ~27 us). Now the producer loads tile u's rows
 * as soon as their buffer is free: with two row buffers (nabuf = 2, where
 * they fit: halves with d <= 128) while the consumers still work on the
 * tile before; with one, after its last MMA (the launch and the block's
 * start are saved still). */
template <int KIND, int KC>
__global__ void __launch_bounds__(WG_THREADS, 1)
assign_wgmma_kernel(const AsgArgs A, const uint32_t kchunks_arg, const uint32_t nstages,
                    const uint32_t nabuf, const uint32_t units) {
    constexpr bool TOP2 = KIND == FKM_ASG_F16HI;
    constexpr uint32_t EB = KIND == FKM_ASG_TF32 ? 4 : 2;
    constexpr uint32_t EC = WG_ROW_BYTES / EB, EP = 16 / EB;
    const uint32_t kchunks = KC ? KC : kchunks_arg;
    extern __shared__ __align__(16) uint8_t wg_smem[];
    const uint32_t raw = (uint32_t)__cvta_generic_to_shared(wg_smem);
    const uint32_t tile_bytes = kchunks * WG_BCHUNK_BYTES; /* one centroid tile, all of d */
    const uint32_t rows_bytes = kchunks * WG_ACHUNK_BYTES; /* one buffer of point rows */
    const uint32_t sA = (raw + 1023u) & ~1023u;             /* nabuf buffers of point rows */
    const uint32_t sB = sA + nabuf * rows_bytes;            /* nstages centroid tiles */
    const uint32_t sBar = sB + nstages * tile_bytes;        /* full[], empty[], afull[], aempty[] */
    auto full = [&](uint32_t st) { return sBar + 8 * st; };
    auto empty = [&](uint32_t st) { return sBar + 8 * (WG_MAX_STAGES + st); };
    auto afull = [&](uint32_t ab) { return sBar + 8 * (2 * WG_MAX_STAGES + ab); };
    auto aempty = [&](uint32_t ab) { return sBar + 8 * (2 * WG_MAX_STAGES + 2 + ab); };

    const int tid = threadIdx.x, wg = tid >> 7, w = (tid >> 5) & 3, lane = tid & 31;
    const int g = lane >> 2, t = lane & 3;
    const uint32_t k = (uint32_t)A.k, d = (uint32_t)A.d, xd = TOP2 ? (uint32_t)A.xd : d;
    const uint32_t ntiles = (k + WG_BN - 1) / WG_BN;
    if (tid == 0) {
        for (uint32_t st = 0; st < nstages; st++) {
            mb_init(full(st), WG_THREADS - WG_CONSUMERS); /* each producer thread's copies */
            mb_init(empty(st), WG_CONSUMERS / 32);
        }
        for (uint32_t ab = 0; ab < nabuf; ab++) {
            mb_init(afull(ab), WG_THREADS - WG_CONSUMERS);
            mb_init(aempty(ab), WG_CONSUMERS / 32);
        }
    }
    __syncthreads();
    /* Both roles walk the same units and skip the same ones (F16HI: a
     * problem whose search is skipped, assign_certify.cu), so their counts
     * of row buffers (it) and centroid tiles (jg) agree. */
    auto skipped = [&](size_t b) { return TOP2 && A.cmax[b] < 0.f; };

    /* One warpgroup produces, two consume: each role one branch, so that
     * setmaxnreg moves registers from the producer (a few) to the
     * consumers (two accumulator sets). */
    if (tid >= WG_CONSUMERS) {
        asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;" ::"n"(WG_PRODUCER_REGS));
        const uint32_t pt = tid - WG_CONSUMERS; /* 0 .. 127 */
        uint32_t it = 0, jg = 0;
#pragma unroll 1
        for (uint32_t u = blockIdx.x; u < units; u += gridDim.x) {
            const size_t b = u / A.tiles, p0 = (size_t)(u % A.tiles) * WG_BM;
            if (skipped(b)) continue;
            /* The unit's point rows (rows pt and pt + 128), zero-filled past
             * a row's end and for rows out of range, once their buffer's
             * previous rows are done with. A thread per row here, 2 per
             * centroid row below: with whole-line copies (assign_wide.cu's
             * wd_copy_points) ivf-1M-4k in tf32 took 5.13 ms per iteration
             * instead of 4.36 (H200), large-K in fp16 the same. */
            const uint32_t ab = it % nabuf;
            if (it >= nabuf) mb_wait(aempty(ab), (it / nabuf - 1) & 1);
#pragma unroll 1
            for (uint32_t h = 0; h < 2; h++) {
                const uint32_t r = pt + 128 * h;
                const bool ok_row = p0 + r < A.n;
                const char *xrow = (const char *)A.x + (b * A.n + (ok_row ? p0 + r : 0)) * xd * EB;
#pragma unroll 1
                for (uint32_t c = 0; c < kchunks; c++)
#pragma unroll
                    for (uint32_t p = 0; p < 8; p++) {
                        uint32_t e;
                        const bool ok = wg_xpiece<KIND>(c, p, d, xd, e) && ok_row;
                        cp_async16_s(sA + ab * rows_bytes + c * WG_ACHUNK_BYTES + wg_swz(r, p),
                                     ok ? xrow + e * EB : xrow, ok ? 16 : 0);
                    }
            }
            mb_arrive_cp_async(afull(ab));
            it++;
            /* its centroid tiles: tile j into stage (jg + j) % nstages once
             * the consumers are done with the tile before it there */
            const char *cbase = (const char *)A.c + b * A.k * d * EB;
#pragma unroll 1
            for (uint32_t j = 0; j < ntiles; j++, jg++) {
                const uint32_t st = jg % nstages;
                if (jg >= nstages) mb_wait(empty(st), (jg / nstages - 1) & 1);
                const uint32_t r = pt >> 1, col = j * WG_BN + r;
                const char *crow = cbase + (size_t)(col < k ? col : 0) * d * EB;
#pragma unroll 1
                for (uint32_t c = 0; c < kchunks; c++)
#pragma unroll
                    for (uint32_t q = 0; q < 4; q++) {
                        const uint32_t p = (pt & 1) * 4 + q, e = c * EC + p * EP;
                        const bool ok = col < k && e < d;
                        cp_async16_s(sB + st * tile_bytes + c * WG_BCHUNK_BYTES + wg_swz(r, p),
                                     ok ? crow + e * EB : crow, ok ? 16 : 0);
                    }
                mb_arrive_cp_async(full(st));
            }
        }
        asm volatile("cp.async.wait_all;" ::: "memory");
    } else {
        asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;" ::"n"(WG_CONSUMER_REGS));
        /* Thread (warp w of warpgroup wg, lane 4g + t) holds, for each of its
         * warpgroup's two 64-row MMA tiles mt, rows 16w + g + 8h (h = 0, 1),
         * columns 8i + 2t + jj of the tile: accumulator 32mt + 4i + 2h + jj.
         * Its rows r = 2mt + h. */
        float acc0[64], acc1[64];
        float bv[4], sv[4];
        uint32_t bi[4];
        size_t b = 0;

        /* tile j's values into the thread's 4 rows' bests (wgmma.cuh) */
        const size_t bias_cols = fkm_bias_cols(k);
        auto fold = [&](float (&a)[64], uint32_t j) {
            wg_fold<TOP2, 2, 8>(a, A.bias + b * bias_cols + j * WG_BN + 2 * t, j * WG_BN + 2 * t,
                                bv, sv, bi);
        };
        uint32_t it = 0, jg = 0;
#pragma unroll 1
        for (uint32_t u = blockIdx.x; u < units; u += gridDim.x) {
            b = u / A.tiles;
            const size_t p0 = (size_t)(u % A.tiles) * WG_BM;
            if (skipped(b)) continue;
            const float s = A.scale[b], inv_s2 = 1.f / (s * s);
            const uint32_t ab = it % nabuf;
            mb_wait(afull(ab), (it / nabuf) & 1);
            wg_proxy_fence(); /* tf32: the rows are stored rounded */
#pragma unroll
            for (int r = 0; r < 4; r++) {
                bv[r] = sv[r] = -INFINITY;
                bi[r] = 0xffffffffu;
            }
            /* warpgroup wg's two 64-row tiles of chunk 0, and centroid stage 0 */
            const uint64_t dA = wg_desc(sA + ab * rows_bytes + wg * 128 * WG_ROW_BYTES),
                           dB = wg_desc(sB);
            /* Tile j: once its stage is full, its MMAs into cur (from zero),
             * then, while they run, tile j - 1's values (prev, complete) are
             * folded and its stage handed back to the producer. Nothing is in
             * flight when the iteration ends (ptxas serializes wgmma across
             * loop edges otherwise); the warpgroups go at their own pace, no
             * block-wide barrier. */
            auto tile = [&](float (&cur)[64], float (&prev)[64], uint32_t j) {
                const uint32_t q = jg + j, st = q % nstages;
                mb_wait(full(st), (q / nstages) & 1);
                wg_proxy_fence();
                const uint64_t db = dB + ((st * tile_bytes) >> 4);
                wg_hold(cur);
                wg_fence();
#pragma unroll(KC ? KC : 1)
                for (uint32_t c = 0; c < kchunks; c++)
#pragma unroll
                    for (int kk = 0; kk < 4; kk++) /* 32 bytes per k-step (16 halves, 8 tf32) */
#pragma unroll
                        for (int mt = 0; mt < 2; mt++)
                            wg_mma64<KIND>(cur + 32 * mt,
                                         dA + ((c * WG_ACHUNK_BYTES + mt * 64 * WG_ROW_BYTES + 32 * kk) >> 4),
                                         db + ((c * WG_BCHUNK_BYTES + 32 * kk) >> 4), c > 0 || kk > 0);
                wg_commit();
                /* nothing older is in flight: this only lets ptxas see that
                 * prev is complete (without it, it waits for cur before the
                 * fold) */
                wg_wait<1>();
                wg_hold(prev);
                if (j > 0) {
                    fold(prev, j - 1);
                    wg_release(empty((q - 1) % nstages));
                }
                wg_wait<0>();
                wg_hold(cur);
            };
#pragma unroll 1
            for (uint32_t j = 0; j < ntiles; j += 2) {
                tile(acc0, acc1, j);
                if (j + 1 < ntiles) tile(acc1, acc0, j + 1);
            }
            /* every MMA of the unit is done: its rows' buffer goes back */
            wg_release(aempty(ab));
            it++;
            if (ntiles & 1) fold(acc0, ntiles - 1);
            else fold(acc1, ntiles - 1);
            wg_release(empty((jg + ntiles - 1) % nstages));
            jg += ntiles;

            wg_write_rows<TOP2>(A, b, inv_s2, bv, sv, bi, [&](int r) {
                return p0 + 128 * wg + 64 * (r >> 1) + 16 * w + g + 8 * (r & 1);
            });
        }
    }
}

/* The kernel's launch: its shared memory, and one block per SM (fewer if
 * there are fewer units of 256 rows). */
struct WgLaunch {
    uint32_t kchunks, nstages, nabuf;
    size_t bytes;
};
template <int KIND, int KC>
static void wg_launch_kc(AsgArgs A, size_t batch, cudaStream_t stream, const WgLaunch &L) {
    A.tiles = (unsigned)((A.n + WG_BM - 1) / WG_BM);
    const size_t units = A.tiles * batch;
    const size_t sms = (size_t)fkm_sm_count();
    const unsigned grid = (unsigned)(units < sms ? units : sms);
    cudaFuncSetAttribute(assign_wgmma_kernel<KIND, KC>,
                         cudaFuncAttributeMaxDynamicSharedMemorySize, (int)L.bytes);
    assign_wgmma_kernel<KIND, KC><<<grid, WG_THREADS, L.bytes, stream>>>(
        A, L.kchunks, L.nstages, L.nabuf, (uint32_t)units);
}
/* d = 128 (2 chunks of halves, 4 of tf32) gets its own instance */
template <int KIND>
static void wg_launch(AsgArgs A, size_t batch, cudaStream_t stream, const WgLaunch &L) {
    constexpr int KC128 = KIND == FKM_ASG_TF32 ? 4 : 2;
    if (L.kchunks == KC128) wg_launch_kc<KIND, KC128>(A, batch, stream, L);
    else wg_launch_kc<KIND, 0>(A, batch, stream, L);
}
#endif /* FKM_USE_WGMMA */

void fkm_wgmma_bias(const AsgArgs &A, size_t batch, cudaStream_t stream) {
#if FKM_USE_WGMMA
    const size_t cols = fkm_bias_cols(A.k);
    dim3 grid((unsigned)((cols + 255) / 256), (unsigned)batch);
    bias_kernel<<<grid, 256, 0, stream>>>(A.cnorm, A.scale, A.k, cols, A.ip, A.bias);
#else
    (void)A; (void)batch; (void)stream;
#endif
}

bool fkm_assign_wgmma(AsgArgs A, int kind, size_t batch, cudaStream_t stream) {
#if FKM_USE_WGMMA
    if (kind != FKM_ASG_F16HI && !A.vec_ok) return false; /* 16-byte copies */
    if (kind == FKM_ASG_TF32 && !A.x_tf32) return false;  /* read as stored */
    const size_t eb = kind == FKM_ASG_TF32 ? 4 : 2;
    const size_t kchunks = (A.d * eb + WG_ROW_BYTES - 1) / WG_ROW_BYTES,
                 tile = kchunks * WG_BCHUNK_BYTES, rows = kchunks * WG_ACHUNK_BYTES;
    /* tf32 rows of one chunk (d <= 32): pq-batched (d = 8) went 0.47 ->
     * 0.81 ms per iteration on wgmma (H200), the mma.sync kernel stays */
    if (kind == FKM_ASG_TF32 && kchunks < 2) return false;
    if (kind != FKM_ASG_TF32 && kind != FKM_ASG_F16 && kind != FKM_ASG_BF16 &&
        kind != FKM_ASG_F16HI)
        return false;
    /* assign_wide.cu's kernel wherever k >= 256 (its 256-column tiles;
     * below that they are mostly padding) and where the rows do not fit
     * here (a buffer of them and 2 centroid tiles). On an H200 (v16) it
     * took ivf-1M-1k fp16 from 1.02 to 0.95 ms per iteration, seed-example
     * 2.12 to 1.94, large-N 6.98 to 6.62; tf32 came over in v17, once that
     * kernel kept short rows resident too (ivf-1M-4k 4.55 -> 4.07,
     * ivf-1M-1k 1.60 -> 1.40). */
    const size_t bars = (2 * WG_MAX_STAGES + 4) * 8;
    const bool fits = 1024 + rows + bars + 2 * tile <= WG_SMEM_MAX;
    /* fp16 and bf16 with d <= 128 where the centroids fit two blocks:
     * assign_cres.cu (H200, ivf-1M-1k fp16: 0.91 -> 0.75 ms per
     * iteration) */
    if (A.k >= 256 && fkm_assign_cres(A, kind, batch, stream)) return true;
    if ((!fits || A.k >= 256) && fkm_assign_wide(A, kind, batch, stream))
        return true;
    if (!fits) return false;
    fkm_wgmma_bias(A, batch, stream);
    /* one or two buffers of point rows (two where they leave room for 3
     * centroid tiles), 2 to 6 centroid tiles (as many as fit), the
     * barriers */
    WgLaunch L;
    L.kchunks = (uint32_t)kchunks;
    L.nabuf = 1024 + 2 * rows + bars + 3 * tile <= WG_SMEM_MAX ? 2 : 1;
    const size_t fixed = 1024 + L.nabuf * rows + bars, fit = (WG_SMEM_MAX - fixed) / tile;
    L.nstages = (uint32_t)(fit < WG_MAX_STAGES ? fit : WG_MAX_STAGES);
    L.bytes = fixed + L.nstages * tile;
    switch (kind) {
    case FKM_ASG_F16: wg_launch<FKM_ASG_F16>(A, batch, stream, L); break;
    case FKM_ASG_BF16: wg_launch<FKM_ASG_BF16>(A, batch, stream, L); break;
    case FKM_ASG_F16HI: wg_launch<FKM_ASG_F16HI>(A, batch, stream, L); break;
    default: wg_launch<FKM_ASG_TF32>(A, batch, stream, L); break;
    }
    return true;
#else
    (void)A; (void)kind; (void)batch; (void)stream;
    return false;
#endif
}
