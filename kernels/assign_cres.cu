/* assign_cres.cu — FlashAssign on wgmma (sm_90a) with the centroids
 * resident in shared memory and the point rows streaming past them: fp16
 * and bf16, d <= 128, where a problem's centroids fit one block (k <= 512
 * at d = 128, 1280 at d <= 64) or the two blocks of a cluster (k <= 1024 at
 * d = 128, 2560 at d <= 64). Same results contract as the other wgmma
 * kernels: the largest x.c s^2 - |c|^2 s^2 / 2 per row, ties to the lower
 * index.
 *
 * Why: assign_wide.cu keeps a unit's 128 rows and streams all K centroids
 * past them, so at K = 1024, d = 128 every SM takes in 16 bytes of
 * centroids per point and dimension (256 KB per unit of 128 rows), in 32
 * KB stages handed between the two blocks of a cluster; with the MMAs and
 * the fold removed that data flow alone took 381 of its 640 us
 * (ivf-1M-1k fp16, v17). Here a block loads its centroids once per
 * problem and only the rows move: 2 bytes per point and dimension (4
 * across the pair, at any K), in 32 KB tiles that each carry 2 x 64 x 512 x 128 MMA products per
 * block.
 *
 * The work: a tile is 128 rows of one problem; the two consumer
 * warpgroups take 64 rows each against the block's 256-column slices of
 * centroids in turn (ping-pong: one folds while the other's MMAs run),
 * m64n256 MMAs from shared memory, the fold one unsigned max per value
 * (wg_fold_packed, assign_pack.cu) with the biases + M from shared memory;
 * the centroids come through a 3-d tensor map, so the rows past k of the
 * last slice are zeros (the packed fold's padding needs v' = 2^(e+1)). A
 * cluster of C blocks walks a contiguous range of all problems' tiles (so
 * a batch costs each cluster about one reload of its centroids); its C blocks hold the 1 / C slices of the
 * centroids and get each tile's rows by one multicast (each block's
 * producer asks for 1 / C of the rows for all). With C = 2 a row's best
 * over the two halves meet in the block of the warpgroup's own number:
 * warpgroup w of the other block stores its 64 (value, index) pairs into
 * that block's shared memory (two slots, so that the next tile need not
 * wait), the owner keeps the better (ties: the lower index, block 0's
 * half) and writes the row.
 *
 * A tile's rows are finished (the exchange, |x|^2, the writes) while the
 * next tile's first MMAs run: finished while only the other warpgroup's
 * last MMAs ran, with fenced stores and arrivals at cluster scope for the
 * exchange, they left the tensor cores idle (0.864 against 0.746 ms per
 * iteration, ivf-1M-1k fp16, H200); the pairs now go by st.async, which
 * completes the receiver's barrier without a fence. The fold by compare
 * and select (3 ALU instructions per value) took about as long
 * as the MMAs, the tensor pipes ~50 % busy: packed, the kernel went 542 ->
 * 455 us (ivf-1M-1k fp16, H200), and consumers now wait on their MMAs
 * (WARPGROUP.DEPBAR is the busiest stall after the idle producer warps). */
#include "wgmma.cuh"

#if FKM_USE_WGMMA
#define CR_BM 128                         /* point rows per tile */
#define CR_BN 256                         /* centroid columns per MMA tile */
#define CR_XCHUNK (CR_BM * WG_ROW_BYTES)  /* 16 KB: a 128-byte chunk of a tile's rows */
#define CR_CCHUNK (CR_BN * WG_ROW_BYTES)  /* 32 KB: the same of 256 centroids */
#define CR_MAX_NT 8                       /* 256-column slices per block */
#define CR_MAX_STAGES 4
#define CR_XSLOT (64 * 8)                 /* a warpgroup's 64 (value, index) pairs */
static_assert(CR_BN == FKM_BIAS_TILE, "a slice's biases are one whole bias tile");

/* The block's shared memory: the centroid slices (nt x kchunks chunks),
 * the row stages (stages x kchunks chunks), the slices' biases, the two
 * exchange slots, the barriers. */
struct CrLayout {
    uint32_t cent, rows, bias, xch, bars, bytes;
    __host__ __device__ CrLayout(uint32_t base, uint32_t kchunks, uint32_t nt, uint32_t stages) {
        cent = base;
        rows = cent + nt * kchunks * CR_CCHUNK;
        bias = rows + stages * kchunks * CR_XCHUNK;
        xch = bias + nt * CR_BN * 4;
        bars = xch + 2 * CR_XSLOT;
        bytes = bars + (2 * CR_MAX_STAGES + 6) * 8 - base;
    }
};

/* KC: 128-byte chunks of a row (1 or 2: one MMA sequence, no loop);
 * C: blocks per cluster. */
template <int KIND, int C, uint32_t KC>
__global__ void __launch_bounds__(WG_THREADS, 1)
assign_cres_kernel(const AsgArgs A, const __grid_constant__ CUtensorMap xmap,
                   const __grid_constant__ CUtensorMap cmap, const uint32_t nt,
                   const uint32_t stages, const uint32_t tiles, const uint32_t mul) {
    constexpr uint32_t kchunks = KC;
    extern __shared__ __align__(16) uint8_t cr_smem[];
    const uint32_t raw = (uint32_t)__cvta_generic_to_shared(cr_smem);
    const CrLayout L((raw + 1023u) & ~1023u, kchunks, nt, stages);
    auto full = [&](uint32_t st) { return L.bars + 8 * st; };
    auto empty = [&](uint32_t st) { return L.bars + 8 * (CR_MAX_STAGES + st); };
    const uint32_t cfull = L.bars + 8 * (2 * CR_MAX_STAGES), cempty = cfull + 8;
    auto xfull = [&](uint32_t s) { return cfull + 16 + 8 * s; };
    auto xempty = [&](uint32_t s) { return cfull + 32 + 8 * s; };

    const int tid = threadIdx.x, wg = tid >> 7, w = (tid >> 5) & 3, lane = tid & 31;
    const int g = lane >> 2, t = lane & 3;
    const uint32_t rank = C > 1 ? wg_cluster_rank() : 0;
    /* the block's slices: first .. first + mine - 1 of the problem's */
    const uint32_t k = (uint32_t)A.k, slices = (k + CR_BN - 1) / CR_BN;
    const uint32_t first = rank * nt, mine = slices - first < nt ? slices - first : nt;
    const size_t bias_cols = (size_t)slices * CR_BN;
    const uint32_t tpp = (uint32_t)((A.n + CR_BM - 1) / CR_BM);
    /* the cluster's tiles: a contiguous share of all problems' (tile m:
     * rows 128 (m % tpp) .. of problem m / tpp) */
    const uint32_t cid = blockIdx.x / C, ncl = gridDim.x / C;
    const uint32_t m0 = (uint32_t)((uint64_t)tiles * cid / ncl),
                   m1 = (uint32_t)((uint64_t)tiles * (cid + 1) / ncl);
    if (tid == 0) {
        for (uint32_t st = 0; st < stages; st++) {
            mb_init(full(st), 1);                     /* the producer's expect */
            mb_init(empty(st), C * WG_CONSUMERS / 32); /* every block's consumer warps */
        }
        mb_init(cfull, 1);
        mb_init(cempty, WG_CONSUMERS / 32);
        for (uint32_t s = 0; s < 2; s++) {
            /* the receiving warpgroup's expectation of the 64 pairs (posted
             * here for each slot's first phase), the sending lanes' bytes */
            mb_init(xfull(s), 1);
            mb_init(xempty(s), 4); /* the receiving warpgroup's warps */
        }
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
        if (C > 1)
            for (uint32_t s = 0; s < 2; s++) wg_arrive_expect(xfull(s), CR_XSLOT);
    }
    if (C > 1) wg_cluster_sync();
    else __syncthreads();

    if (tid >= WG_CONSUMERS) {
        asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;" ::"n"(WG_PRODUCER_REGS));
        /* one producer warp: lane 0 asks, the warp waits in step */
        if (tid >= WG_CONSUMERS + 32) goto done;
        uint32_t cur = ~0u, st = 0, ph = 0, loads = 0;
#pragma unroll 1
        for (uint32_t m = m0; m < m1; m++) {
            const uint32_t b = m / tpp, p0 = (m % tpp) * CR_BM;
            if (b != cur) { /* this problem's slices, once the last one's are done with */
                if (loads > 0) mb_wait<true>(cempty, (loads - 1) & 1);
                if (lane == 0) {
                    wg_arrive_expect(cfull, mine * (kchunks * CR_CCHUNK + CR_BN * 4));
                    for (uint32_t j = 0; j < mine; j++)
                        for (uint32_t c = 0; c < kchunks; c++)
                            wg_tma_3d(L.cent + (j * kchunks + c) * CR_CCHUNK, &cmap, c * 64,
                                      (first + j) * CR_BN, b, cfull);
                    wg_bulk_copy(L.bias, A.bias + b * bias_cols + first * CR_BN,
                                 mine * CR_BN * 4, cfull);
                }
                __syncwarp();
                loads++;
                cur = b;
            }
            /* the tile's rows, once every block's consumers are done with
             * what the stage held (a fresh barrier passes parity 1): this
             * block's 1 / C of them, to all */
            mb_wait<true>(empty(st), ph ^ 1);
            if (lane == 0) {
                wg_arrive_expect(full(st), kchunks * CR_XCHUNK);
                for (uint32_t c = 0; c < kchunks; c++)
                    wg_tma_2d(L.rows + (st * kchunks + c) * CR_XCHUNK + rank * (CR_XCHUNK / C),
                              &xmap, c * 64, (uint32_t)(b * A.n + p0) + rank * (CR_BM / C),
                              full(st), C > 1 ? (uint16_t)((1u << C) - 1) : (uint16_t)0);
            }
            __syncwarp();
            if (++st == stages) st = 0, ph ^= 1;
        }
    } else {
        asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;" ::"n"(WG_CONSUMER_REGS));
        /* Thread (warp w of warpgroup wg, lane 4g + t) holds rows
         * 64 wg + 16 w + g + 8h (h = 0, 1) of the tile, columns 8i + 2t + jj
         * of a slice (wgmma.cuh); once the quad has met, lane t < 2
         * carries row h = t: rw of the warpgroup's 64. */
        float acc[128];
        float bv[2], pbv[2];
        uint32_t bi[2], pbi[2];
        const uint32_t own = wg * 64 * WG_ROW_BYTES; /* its rows in a chunk */
        const uint32_t rw = 16 * w + g + 8 * t;
        const bool writes = t < 2 && (C == 1 || (uint32_t)wg == rank);
        const float *sbias = (const float *)(cr_smem + (L.bias - raw)) + 2 * t;
        /* A tile's rows finished: the quad meets; C = 2: the halves meet
         * in the block of the warpgroup's number; the rows are written. */
        auto finish = [&](uint32_t m, float xn, const float(&fv)[2], const uint32_t(&fi)[2]) {
            const uint32_t b = m / tpp, p = (m % tpp) * CR_BM + 64 * wg + rw, q = m - m0;
            const float s = A.scale[b], inv_s2 = 1.f / (s * s);
            float v0 = -fv[0] * inv_s2, v1 = -fv[1] * inv_s2, unused = 0.f;
            uint32_t i0 = fi[0], i1 = fi[1];
            asg_quad_reduce<false>(v0, i0, unused);
            asg_quad_reduce<false>(v1, i1, unused);
            float v = t == 1 ? v1 : v0;
            uint32_t i = t == 1 ? i1 : i0;
            if constexpr (C == 2) {
                const uint32_t slot = q & 1, xph = (q >> 1) & 1;
                const uint32_t xa = L.xch + slot * CR_XSLOT + rw * 8;
                if ((uint32_t)wg != rank) { /* to block wg, which writes these rows */
                    mb_wait(xempty(slot), xph ^ 1);
                    if (t < 2) wg_st_async_in(xa, xfull(slot), wg, __float_as_uint(v), i);
                    return;
                }
                /* the other half's best meets this one; the slot's next
                 * phase expects its bytes */
                mb_wait(xfull(slot), xph);
                if (w == 0 && lane == 0) wg_arrive_expect(xfull(slot), CR_XSLOT);
                if (t < 2) {
                    uint32_t ov, oi;
                    asm volatile("ld.shared.v2.b32 {%0, %1}, [%2];"
                                 : "=r"(ov), "=r"(oi)
                                 : "r"(xa)
                                 : "memory");
                    if (asg_better(__uint_as_float(ov), oi, v, i)) {
                        v = __uint_as_float(ov);
                        i = oi;
                    }
                }
                __syncwarp();
                if (lane == 0) wg_arrive_in(xempty(slot), rank ^ 1);
            }
            if (writes && p < A.n) asg_write_best(A, b, p, v, i, xn);
        };
        /* the tile before (pm), its rows to be finished */
        bool pend = false;
        float pxn = 0.f;
        uint32_t pm = 0, cur = ~0u, st = 0, ph = 0, loads = 0, turns = 0;
        float M = 0.f;     /* the problem's offset in the biases (assign_pack.cu) */
        uint32_t top = 0;  /* and the sign and exponent bits it shares with every v' */
#pragma unroll 1
        for (uint32_t m = m0; m < m1; m++) {
            const uint32_t b = m / tpp, p = (m % tpp) * CR_BM + 64 * wg + rw;
            if (b != cur) { /* every MMA on the old slices was waited for */
                if (loads > 0) wg_release(cempty);
                mb_wait(cfull, loads & 1);
                loads++;
                cur = b;
                M = __ldg(A.pack_off + b);
                top = asg_pack_top(M);
            }
            /* |x|^2 of the row this lane writes, asked for now */
            float xn = 0.f;
            if (writes && !A.ip && p < A.n)
                asm volatile("ld.global.nc.f32 %0, [%1];"
                             : "=f"(xn)
                             : "l"(A.xnorm + (size_t)b * A.n + p));
#pragma unroll
            for (int r = 0; r < 2; r++) {
                bv[r] = -INFINITY;
                bi[r] = 0xffffffffu;
            }
            mb_wait(full(st), ph);
            const uint32_t xa = L.rows + st * kchunks * CR_XCHUNK + own;
            /* The warpgroups take turns issuing a slice's MMAs
             * (ping-pong), so that one folds while the other's run. Two
             * accumulators of 128 columns per warpgroup, each folding one
             * half while the other half's MMAs ran, with no turns, took
             * 0.815 against 0.746 ms per iteration (ivf-1M-1k fp16, H200):
             * both warpgroups' folds then met on the ALU pipe. */
#pragma unroll 1
            for (uint32_t j = 0; j < mine; j++) {
                if (wg == 1 || turns > 0) wg_turn_wait(wg);
                turns++;
                wg_hold(acc);
                wg_fence();
#pragma unroll
                for (uint32_t c = 0; c < kchunks; c++) {
                    const uint64_t da = wg_desc(xa + c * CR_XCHUNK),
                                   db = wg_desc(L.cent + (j * kchunks + c) * CR_CCHUNK);
#pragma unroll
                    for (int kk = 0; kk < 4; kk++) /* 32 bytes per k-step */
                        wg_mma256<KIND>(acc, da + ((32 * kk) >> 4), db + ((32 * kk) >> 4),
                                        c > 0 || kk > 0);
                }
                wg_commit();
                wg_turn_pass(wg);
                if (j == 0 && pend) { /* the tile before's rows, while these MMAs run */
                    finish(pm, pxn, pbv, pbi);
                    pend = false;
                }
                wg_wait<0>();
                wg_hold(acc);
                if (j + 1 == mine) wg_release_all(empty(st), C); /* every block's producer */
                const float *sb = sbias + j * CR_BN;
                wg_fold_packed<32>(
                    acc, [&](int i) { return *(const float2 *)(sb + 8 * i); },
                    (first + j) * CR_BN + 2 * t, mul, M, top, bv, bi);
            }
            if (++st == stages) st = 0, ph ^= 1;
            pend = true;
            pm = m, pxn = xn;
            pbv[0] = bv[0], pbv[1] = bv[1];
            pbi[0] = bi[0], pbi[1] = bi[1];
        }
        if (pend) finish(pm, pxn, pbv, pbi);
        /* warpgroup 1's last pass of the turn */
        if (wg == 0 && turns > 0) wg_turn_wait(0);
    }
done:
    /* no block leaves while its peer may still copy into it or arrive */
    __syncwarp();
    if (C > 1) wg_cluster_sync();
}

/* A block's dynamic shared memory, with room to align its start to 1 KB */
static uint32_t cr_smem_bytes(uint32_t kchunks, uint32_t nt, uint32_t stages) {
    return 1024 + CrLayout(0, kchunks, nt, stages).bytes;
}

template <int KIND, uint32_t KC>
static void cres_launch(const AsgArgs &A, const CUtensorMap &xmap, const CUtensorMap &cmap,
                        unsigned cl, uint32_t nt, uint32_t stages, uint32_t tiles,
                        cudaStream_t stream) {
    const size_t bytes = cr_smem_bytes(KC, nt, stages);
    if (cl == 1)
        wg_launch_clusters(assign_cres_kernel<KIND, 1, KC>, 1, bytes, tiles, stream, A, xmap,
                           cmap, nt, stages, tiles, 64u);
    else
        wg_launch_clusters(assign_cres_kernel<KIND, 2, KC>, 2, bytes, tiles, stream, A, xmap,
                           cmap, nt, stages, tiles, 64u);
}
template <int KIND>
static void cres_pick(const AsgArgs &A, const CUtensorMap &xmap, const CUtensorMap &cmap,
                      unsigned cl, uint32_t kchunks, uint32_t nt, uint32_t stages, uint32_t tiles,
                      cudaStream_t stream) {
    if (kchunks == 1) cres_launch<KIND, 1>(A, xmap, cmap, cl, nt, stages, tiles, stream);
    else cres_launch<KIND, 2>(A, xmap, cmap, cl, nt, stages, tiles, stream);
}
#endif /* FKM_USE_WGMMA */

bool fkm_assign_cres(AsgArgs A, int kind, size_t batch, cudaStream_t stream) {
#if FKM_USE_WGMMA
    if ((kind != FKM_ASG_F16 && kind != FKM_ASG_BF16) || !A.vec_ok) return false;
    const uint32_t kchunks = (uint32_t)((A.d * 2 + WG_ROW_BYTES - 1) / WG_ROW_BYTES);
    /* the tensor maps' row coordinates are 32-bit signed */
    if (kchunks > 2 || batch * A.n >= (1u << 31) || batch * A.k >= (1u << 31)) return false;
    /* the most slices a block holds beside 2 row stages; one block where
     * they take all of k, else two */
    uint32_t ntmax = 0;
    while (ntmax < CR_MAX_NT && cr_smem_bytes(kchunks, ntmax + 1, 2) <= WG_SMEM_MAX) ntmax++;
    const size_t slices = (A.k + CR_BN - 1) / CR_BN;
    const unsigned cl = slices <= ntmax ? 1 : 2;
    if (slices > 2 * (size_t)ntmax) return false;
    const uint32_t nt = (uint32_t)((slices + cl - 1) / cl);
    uint32_t stages = 2;
    while (stages < CR_MAX_STAGES && cr_smem_bytes(kchunks, nt, stages + 1) <= WG_SMEM_MAX)
        stages++;
    CUtensorMap xmap, cmap;
    if (!wg_tensor_map(&xmap, A.x, 2, A.d, batch * A.n, CR_BM / cl) ||
        !wg_tensor_map(&cmap, A.c, 2, A.d, A.k, CR_BN, batch))
        return false;
    fkm_pack_bias(A, kind, batch, stream);
    const uint32_t tiles = (uint32_t)((A.n + CR_BM - 1) / CR_BM * batch);
    if (kind == FKM_ASG_F16)
        cres_pick<FKM_ASG_F16>(A, xmap, cmap, cl, kchunks, nt, stages, tiles, stream);
    else cres_pick<FKM_ASG_BF16>(A, xmap, cmap, cl, kchunks, nt, stages, tiles, stream);
    return true;
#else
    (void)A; (void)kind; (void)batch; (void)stream;
    return false;
#endif
}
