/* assign_wide.cu — FlashAssign on wgmma (sm_90a) in 256-column tiles, for
 * every k >= 256 (assign_wgmma.cu's resident kernel takes smaller k) and
 * for rows too long for that kernel (d over 256 halves or 128 tf32;
 * embeddings of 768 dimensions, say). Same kinds and results contract as
 * there (tf32, fp16, bf16, F16HI; the largest x.c s^2 - |c|^2 s^2 / 2 per
 * row, ties to the lower index).
 *
 * A GEMM whose epilogue is the fold: a block's tile is 128 point rows x
 * 256 centroids, its two consumer warpgroups each take 64 rows with one
 * m64n256 accumulator (128 registers per thread), and a producer
 * warpgroup fills a ring of stages with 128-byte d chunks. m64n256 reads
 * the least shared memory per product of the wgmma shapes (A and B both
 * from shared memory: 80 bytes per cycle at the tf32 rate, of the 128
 * there are). Two ways to feed it (RC, a template argument):
 *  - short rows (d <= 128: 2 chunks of halves, 4 of tf32) stay resident:
 *    a unit's 128 rows are loaded once for all of K into one of two
 *    buffers (the next unit's load in flight), the stages carry centroid
 *    chunks only (32 KB, 5 or 3 of them). Streaming them with the
 *    centroids read them K / 256 times: large-K (K = 16384) went 43.5 ->
 *    38.1 ms per iteration with them resident (v17);
 *  - longer rows stream with the centroids, a chunk of both per stage
 *    (16 + 32 KB, 4 stages): per iteration of N = 1M, d = 768, K = 1024
 *    that is 4 reads of the rows (12.9 GB in tf32) and N / 128 of the
 *    centroids (25.8 GB, from L2 mostly); 64-column tiles would read the
 *    rows 16 times.
 *
 * In a tile, chunk c's MMAs are issued, then the group before them is
 * waited for and its stage handed back (one group in flight across the
 * chunk loop, as CUTLASS's mainloops do); after the last chunk every MMA
 * is waited for and the tile's values folded (wg_fold_packed: one
 * unsigned max per value, assign_pack.cu; F16HI's wg_fold keeps the
 * second best). Where a tile's chunks fit the ring, the two warpgroups
 * issue whole tiles in turn (named barriers; CUTLASS's "ping-pong"), so
 * that one folds while
 * the other's MMAs run: without the turns they drifted into step and
 * folded together, the tensor cores idle meanwhile (ivf-1M-1k fp16: 779
 * against 704 us per assignment). tf32 operands come from copies stored
 * rounded to nearest (the rows', the centroids').
 *
 * Blocks go in clusters of two, on units of neighbouring rows of one
 * problem, in step: each block's producer asks the tensor memory
 * accelerator for one half of a stage's centroid chunk, multicast into both
 * blocks' shared memory (a 2-d tensor map over the centroid copy, the
 * 128-byte swizzle done by the copy), so the centroids cross from L2 once
 * per two units. The point rows come by cp.async, in whole 128-byte lines
 * per 8 lanes (wd_copy_points). A stage is free again only when the
 * consumers of both blocks are done with it. Persistent: one cluster per
 * two SMs (as many as can be resident) walks pairs of units across all
 * problems of a batch.
 *
 * Where the time goes (ivf-1M-1k fp16, Nsight Compute, v17): 704 us; 599
 * without the fold, 452 without the MMAs, 381 with neither: the data flow
 * (TMA round trips, the stage hand-offs of both blocks) alone takes about
 * as long as the MMAs. Clusters of 4 (a quarter of each chunk per block)
 * took 768. */
#include "wgmma.cuh"

#if FKM_USE_WGMMA
#define WD_BM 128 /* point rows per unit: 2 warpgroups x 64 */
#define WD_BN 256 /* centroids per tile (FKM_BIAS_TILE) */
#define WD_MAX_STAGES 6
#define WD_ABYTES (WD_BM * WG_ROW_BYTES)  /* 16 KB: a chunk of the rows */
#define WD_BBYTES (WD_BN * WG_ROW_BYTES)  /* 32 KB: a chunk of the centroids */
#define WD_STAGE (WD_ABYTES + WD_BBYTES)
#define WD_CLUSTER 2 /* 4 (a quarter each, multicast to 4) was slower: 711 -> 768 us */
static_assert(WD_BN == FKM_BIAS_TILE, "a tile's biases are one whole bias tile");

/* Chunk c of the 128 point rows p0.. of problem b into its swizzled place
 * at dst (rows from n on are zeros), by NT producer threads (pt of NT):
 * piece pt % 8 of rows pt / 8, + NT / 8, ..., so that each warp's copy
 * reads four whole 128-byte lines. (A thread per row read one 16-byte half
 * of 32 sectors per copy, the other halves on the next, every sector
 * crossing from L2 twice: with L2's throughput the limit, embeddings-768
 * tf32 took 14.96 ms per iteration that way, 12.76 this way, before the
 * clusters.) */
template <int KIND, uint32_t NT>
__device__ __forceinline__ void wd_copy_points(uint32_t dst, uint32_t pt, const AsgArgs &A,
                                               size_t b, size_t p0, uint32_t c, uint32_t d,
                                               uint32_t xd) {
    constexpr uint32_t EB = KIND == FKM_ASG_TF32 ? 4 : 2;
    const uint32_t p = pt & 7;
    uint32_t e;
    const bool piece_ok = wg_xpiece<KIND>(c, p, d, xd, e);
    const size_t stride = (size_t)xd * EB, nvalid = A.n > p0 ? A.n - p0 : 0;
    const char *src = (const char *)A.x + ((b * A.n + p0 + (pt >> 3)) * xd + e) * EB;
#pragma unroll 1 /* the producer has 40 registers: unrolled, the addresses spilled */
    for (uint32_t i = 0; i < WD_BM * 8 / NT; i++) {
        const uint32_t r = (pt >> 3) + NT / 8 * i;
        const bool ok = piece_ok && r < nvalid;
        cp_async16_s(dst + wg_swz(r, p), ok ? src + i * (NT / 8) * stride : A.x, ok ? 16 : 0);
    }
}

/* RC: 0, the rows stream with the centroids (stages of both); or the
 * chunks of a unit's rows held resident in two buffers (a unit's rows are
 * read once for all K, its successor's load in flight), the stages then
 * carrying centroids only, as many as fit. */
template <int RC>
struct WdRing {
    static constexpr uint32_t rows = RC * WD_ABYTES; /* one buffer of resident rows */
    static constexpr uint32_t stage = RC ? WD_BBYTES : WD_STAGE;
    static constexpr uint32_t fixed = 1024 + 2 * rows + 2 * (WD_MAX_STAGES + 2) * 8;
    static constexpr uint32_t fit = (WG_SMEM_MAX - fixed) / stage;
    static constexpr uint32_t stages = RC ? (fit < WD_MAX_STAGES ? fit : WD_MAX_STAGES) : 4;
    static constexpr uint32_t bytes = fixed + stages * stage;
    static_assert(stages >= 3 && bytes <= WG_SMEM_MAX, "the ring fits one block per SM");
};

template <int KIND, int RC>
__global__ void __launch_bounds__(WG_THREADS, 1)
assign_wide_kernel(const AsgArgs A, const __grid_constant__ CUtensorMap cmap,
                   const uint32_t kchunks, const uint32_t pairs, const uint32_t mul) {
    using Ring = WdRing<RC>;
    constexpr uint32_t S = Ring::stages;
    /* Taking turns needs a whole tile's chunks in the ring: a warpgroup
     * issues all of a tile's MMAs before the other starts its own, and the
     * other must have consumed a stage before it can be refilled. */
    const bool pingpong = kchunks <= S;
    constexpr bool TOP2 = KIND == FKM_ASG_F16HI;
    constexpr uint32_t EB = KIND == FKM_ASG_TF32 ? 4 : 2;
    constexpr uint32_t CB = RC ? 0 : WD_ABYTES; /* a stage's centroids */
    extern __shared__ __align__(16) uint8_t wd_smem[];
    const uint32_t raw = (uint32_t)__cvta_generic_to_shared(wd_smem);
    const uint32_t sR = (raw + 1023u) & ~1023u; /* the resident rows' two buffers */
    const uint32_t sS = sR + 2 * Ring::rows;    /* the stages */
    const uint32_t sBar = sS + S * Ring::stage; /* full[], empty[], rows' full[2], empty[2] */
    auto full = [&](uint32_t st) { return sBar + 8 * st; };
    auto empty = [&](uint32_t st) { return sBar + 8 * (WD_MAX_STAGES + st); };
    auto rfull = [&](uint32_t u) { return sBar + 8 * (2 * WD_MAX_STAGES + (u & 1)); };
    auto rempty = [&](uint32_t u) { return sBar + 8 * (2 * WD_MAX_STAGES + 2 + (u & 1)); };
    auto rbuf = [&](uint32_t u) { return sR + (u & 1) * Ring::rows; };

    const int tid = threadIdx.x, wg = tid >> 7, w = (tid >> 5) & 3, lane = tid & 31;
    const int g = lane >> 2, t = lane & 3;
    const uint32_t k = (uint32_t)A.k, d = (uint32_t)A.d, xd = TOP2 ? (uint32_t)A.xd : d;
    const uint32_t ntiles = (k + WD_BN - 1) / WD_BN;
    const uint32_t rank = wg_cluster_rank(), ncl = gridDim.x / WD_CLUSTER;
    if (tid == 0) {
        for (uint32_t st = 0; st < S; st++) {
            /* streamed: each producer thread's row copies, and the centroid
             * bytes; resident: the centroid bytes */
            mb_init(full(st), RC ? 1 : WG_THREADS - WG_CONSUMERS + 1);
            mb_init(empty(st), WD_CLUSTER * WG_CONSUMERS / 32); /* both blocks' warps */
        }
        for (uint32_t u = 0; u < 2; u++) {
            mb_init(rfull(u), 32); /* the producer's second warp */
            mb_init(rempty(u), WG_CONSUMERS / 32); /* this block's warps */
        }
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    }
    wg_cluster_sync();
    /* Pair m: units 2 (m % tiles2) + rank of problem m / tiles2 (past n:
     * no rows, the block still takes its half of the centroids). Both roles
     * of both blocks walk the same pairs and skip the same ones (F16HI: a
     * problem whose search is skipped, assign_certify.cu), so their stage
     * counts agree. */
    const size_t tiles2 = (A.tiles + WD_CLUSTER - 1) / WD_CLUSTER;
    auto skipped = [&](size_t b) { return TOP2 && A.cmax[b] < 0.f; };

    if (tid >= WG_CONSUMERS) {
        asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;" ::"n"(WG_PRODUCER_REGS));
        const uint32_t pt = tid - WG_CONSUMERS; /* 0 .. 127 */
        /* Resident rows: the producer's first warp loads the centroids
         * (lane 0 asks, the warp waits in step), its second the rows; the
         * other two go to the end at once (their polling of barriers took
         * issue slots from the consumers' folds). */
        const uint32_t pw = pt >> 5;
        if (RC && pw >= 2) goto done;
        uint32_t st = 0, ph = 0, u = 0;
#pragma unroll 1
        for (uint32_t m = blockIdx.x / WD_CLUSTER; m < pairs; m += ncl) {
            const size_t b = m / tiles2, p0 = (WD_CLUSTER * (m % tiles2) + rank) * WD_BM;
            if (skipped(b)) continue;
            if (RC && pw == 1) { /* the unit's rows, once their buffer is free */
                mb_wait<true>(rempty(u), ((u >> 1) & 1) ^ 1);
#pragma unroll 1
                for (uint32_t c = 0; c < kchunks; c++)
                    wd_copy_points<KIND, 32>(rbuf(u) + c * WD_ABYTES, pt & 31, A, b, p0, c, d, xd);
                mb_arrive_cp_async(rfull(u));
                u++;
                continue;
            }
#pragma unroll 1
            for (uint32_t j = 0; j < ntiles; j++) {
#pragma unroll 1
                for (uint32_t c = 0; c < kchunks; c++) {
                    /* stage st, once both blocks' consumers are done with
                     * what it held a ring ago (a fresh barrier passes
                     * parity 1); streamed rows zero-filled past a row's
                     * end and for rows past n */
                    const uint32_t sa = sS + st * Ring::stage;
                    mb_wait(empty(st), ph ^ 1);
                    if (!RC) {
                        wd_copy_points<KIND, 128>(sa, pt, A, b, p0, c, d, xd);
                        mb_arrive_cp_async(full(st));
                    }
                    if (pt == 0) { /* this block's half of the centroid rows, to both */
                        wg_arrive_expect(full(st), WD_BBYTES);
                        wg_tma_3d(sa + CB + rank * (WD_BBYTES / WD_CLUSTER), &cmap,
                                  c * (WG_ROW_BYTES / EB), j * WD_BN + rank * (WD_BN / WD_CLUSTER),
                                  (uint32_t)b, full(st), (1u << WD_CLUSTER) - 1);
                    }
                    if (++st == S) st = 0, ph ^= 1;
                }
            }
        }
        asm volatile("cp.async.wait_all;" ::: "memory");
    } else {
        asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;" ::"n"(WG_CONSUMER_REGS));
        /* Thread (warp w of warpgroup wg, lane 4g + t) holds rows
         * 64 wg + 16 w + g + 8h (h = 0, 1) of the unit, columns 8i + 2t + jj
         * of the tile (wgmma.cuh) */
        float acc[128];
        float bv[2], sv[2];
        uint32_t bi[2];
        const size_t bias_cols = (k + FKM_BIAS_TILE - 1) / FKM_BIAS_TILE * FKM_BIAS_TILE;
        const uint32_t mine = wg * 64 * WG_ROW_BYTES; /* its rows in a chunk */
        uint32_t st = 0, ph = 0, prev = 0, u = 0, turns = 0;
#pragma unroll 1
        for (uint32_t m = blockIdx.x / WD_CLUSTER; m < pairs; m += ncl) {
            const size_t b = m / tiles2, p0 = (WD_CLUSTER * (m % tiles2) + rank) * WD_BM;
            if (skipped(b)) continue;
            const float s = A.scale[b], inv_s2 = 1.f / (s * s);
            /* the packed fold's offset (assign_pack.cu), but for TOP2 */
            const float M = TOP2 ? 0.f : __ldg(A.pack_off + b);
            const uint32_t top = asg_pack_top(M);
#pragma unroll
            for (int r = 0; r < 2; r++) {
                bv[r] = sv[r] = -INFINITY;
                bi[r] = 0xffffffffu;
            }
            const uint32_t rb = rbuf(u);
            if (RC) { /* the unit's rows have landed (tf32: stored rounded) */
                mb_wait(rfull(u), (u >> 1) & 1);
                wg_proxy_fence();
            }
#pragma unroll 1
            for (uint32_t j = 0; j < ntiles; j++) {
                /* ping-pong: the warpgroups issue whole tiles in turn, so
                 * that one folds while the other's MMAs run */
                const float *tbias = A.bias + b * bias_cols + j * WD_BN;
                wg_bias_prefetch(tbias);
                if (pingpong && (wg == 1 || turns > 0)) wg_turn_wait(wg);
                turns++;
#pragma unroll 1
                for (uint32_t c = 0; c < kchunks; c++) {
                    const uint32_t sa = sS + st * Ring::stage;
                    const uint32_t ra = RC ? rb + c * WD_ABYTES + mine : sa + mine;
                    mb_wait(full(st), ph);
                    if (!RC) wg_proxy_fence();
                    const uint64_t da = wg_desc(ra), db = wg_desc(sa + CB);
                    wg_hold(acc);
                    wg_fence();
#pragma unroll
                    for (int kk = 0; kk < 4; kk++) /* 32 bytes per k-step */
                        wg_mma256<KIND>(acc, da + ((32 * kk) >> 4), db + ((32 * kk) >> 4),
                                        c > 0 || kk > 0);
                    wg_commit();
                    if (pingpong && c + 1 == kchunks) wg_turn_pass(wg);
                    /* the chunk before is done: its stage goes back */
                    wg_wait<1>();
                    wg_hold(acc);
                    if (c > 0) wg_release_all(empty(prev), WD_CLUSTER); /* both blocks' */
                    prev = st;
                    if (++st == S) st = 0, ph ^= 1;
                }
                wg_wait<0>();
                wg_hold(acc);
                wg_release_all(empty(prev), WD_CLUSTER);
                if (RC && j + 1 == ntiles) wg_release(rempty(u)); /* the rows' buffer */
                if constexpr (TOP2)
                    wg_fold<TOP2, 1, 32>(acc, tbias + 2 * t, j * WD_BN + 2 * t, bv, sv, bi);
                else
                    wg_fold_packed<32>(
                        acc, [&](int i) { return __ldg((const float2 *)(tbias + 2 * t + 8 * i)); },
                        j * WD_BN + 2 * t, mul, M, top, bv, bi);
            }
            u++;
            wg_write_rows<TOP2>(A, b, inv_s2, bv, sv, bi, [&](int r) {
                return p0 + 64 * wg + 16 * w + g + 8 * r;
            });
        }
        /* warpgroup 1's last pass of the turn */
        if (pingpong && wg == 0 && turns > 0) wg_turn_wait(0);
    }
done:
    /* no block leaves while its peer may still copy into it or arrive */
    __syncwarp();
    wg_cluster_sync();
}

template <int KIND, int RC>
static void wide_launch(AsgArgs A, const CUtensorMap &cmap, size_t batch, cudaStream_t stream,
                        uint32_t kchunks) {
    auto kernel = assign_wide_kernel<KIND, RC>;
    A.tiles = (unsigned)((A.n + WD_BM - 1) / WD_BM);
    const size_t pairs = (A.tiles + WD_CLUSTER - 1) / WD_CLUSTER * batch;
    wg_launch_clusters(kernel, WD_CLUSTER, WdRing<RC>::bytes, pairs, stream, A, cmap, kchunks,
                       (uint32_t)pairs, 64u);
}

/* Resident rows where two buffers of them leave room for 3 stages: d <=
 * 128 halves (2 chunks) for the 16-bit kinds, d <= 128 in tf32 (4). */
template <int KIND>
static void wide_pick(AsgArgs A, const CUtensorMap &cmap, size_t batch, cudaStream_t stream,
                      uint32_t kchunks) {
    constexpr int RC = KIND == FKM_ASG_TF32 ? 4 : 2;
    if (kchunks <= RC) wide_launch<KIND, RC>(A, cmap, batch, stream, kchunks);
    else wide_launch<KIND, 0>(A, cmap, batch, stream, kchunks);
}
#endif /* FKM_USE_WGMMA */

bool fkm_assign_wide(AsgArgs A, int kind, size_t batch, cudaStream_t stream) {
#if FKM_USE_WGMMA
    const size_t eb = kind == FKM_ASG_TF32 ? 4 : 2;
    const uint32_t kchunks = (uint32_t)((A.d * eb + WG_ROW_BYTES - 1) / WG_ROW_BYTES);
    /* the centroid copy, batch problems of k rows of d: boxes of half a
     * stage's chunk, zeros for a tile's columns past k (the packed fold's
     * padding, assign_pack.cu; F16HI's biases there are -inf) */
    CUtensorMap cmap;
    if (!wg_tensor_map(&cmap, A.c, eb, A.d, A.k, WD_BN / WD_CLUSTER, batch)) return false;
    if (kind == FKM_ASG_F16HI) fkm_wgmma_bias(A, batch, stream);
    else fkm_pack_bias(A, kind, batch, stream);
    switch (kind) {
    case FKM_ASG_F16: wide_pick<FKM_ASG_F16>(A, cmap, batch, stream, kchunks); break;
    case FKM_ASG_BF16: wide_pick<FKM_ASG_BF16>(A, cmap, batch, stream, kchunks); break;
    case FKM_ASG_F16HI: wide_pick<FKM_ASG_F16HI>(A, cmap, batch, stream, kchunks); break;
    default: wide_pick<FKM_ASG_TF32>(A, cmap, batch, stream, kchunks); break;
    }
    return true;
#else
    (void)A; (void)kind; (void)batch; (void)stream;
    return false;
#endif
}
