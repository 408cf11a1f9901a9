/* assign_wide.cu — FlashAssign on wgmma (sm_90a) for point rows too long to
 * stay resident in shared memory (assign_wgmma.cu's kernel: d over 256
 * halves or 128 tf32; embeddings of 768 dimensions, say). Same kinds and
 * results contract as there (tf32, fp16, bf16, F16HI; the largest
 * x.c s^2 - |c|^2 s^2 / 2 per row, ties to the lower index).
 *
 * The point rows and the centroids both stream, in 128-byte d chunks, as
 * in a GEMM whose epilogue is the fold: a block's tile is 128 point rows x
 * 256 centroids, its two consumer warpgroups each take 64 rows with one
 * m64n256 accumulator (128 registers per thread), and a producer
 * warpgroup fills a ring of stages, each one chunk of the tile's rows and
 * of its centroids (16 + 32 KB). Wide centroid tiles because every pass
 * over K reads the rows again: per iteration of N = 1M, d = 768, K = 1024
 * that is 4 reads of the rows (12.9 GB in tf32) and N / 128 of the
 * centroids (25.8 GB), from L2 mostly; 64-column tiles (the resident
 * kernel's) would read the rows 16 times. m64n256 also reads the least
 * shared memory per product of the wgmma shapes (A and B both from shared
 * memory: 80 bytes per cycle at the tf32 rate, of the 128 there are).
 *
 * In a tile, chunk c's MMAs are issued, then the group before them is
 * waited for and its stage handed back (one group in flight across the
 * chunk loop, as CUTLASS's mainloops do); after the last chunk every MMA
 * is waited for and the tile's values folded while the other warpgroup's
 * MMAs keep the tensor cores busy. tf32 rows are rounded to nearest in
 * their stage by the warpgroup that reads them (the centroids' copy is
 * stored rounded). Persistent: one block per SM walks units of 128 rows,
 * across all problems of a batch. */
#include "wgmma.cuh"

#if FKM_USE_WGMMA
#define WD_BM 128 /* point rows per unit: 2 warpgroups x 64 */
#define WD_BN 256 /* centroids per tile (FKM_BIAS_TILE) */
#define WD_MAX_STAGES 4
#define WD_ABYTES (WD_BM * WG_ROW_BYTES)  /* 16 KB: a chunk of the rows */
#define WD_BBYTES (WD_BN * WG_ROW_BYTES)  /* 32 KB: a chunk of the centroids */
#define WD_STAGE (WD_ABYTES + WD_BBYTES)
static_assert(WD_BN == FKM_BIAS_TILE, "a tile's biases are one whole bias tile");

template <int KIND>
__global__ void __launch_bounds__(WG_THREADS, 1)
assign_wide_kernel(const AsgArgs A, const uint32_t kchunks, const uint32_t nstages,
                   const uint32_t units) {
    constexpr bool TOP2 = KIND == FKM_ASG_F16HI;
    extern __shared__ __align__(16) uint8_t wd_smem[];
    const uint32_t raw = (uint32_t)__cvta_generic_to_shared(wd_smem);
    const uint32_t sS = (raw + 1023u) & ~1023u;  /* nstages stages: rows, then centroids */
    const uint32_t sBar = sS + nstages * WD_STAGE; /* full[], empty[] */
    auto full = [&](uint32_t st) { return sBar + 8 * st; };
    auto empty = [&](uint32_t st) { return sBar + 8 * (WD_MAX_STAGES + st); };

    const int tid = threadIdx.x, wg = tid >> 7, w = (tid >> 5) & 3, lane = tid & 31;
    const int g = lane >> 2, t = lane & 3;
    const uint32_t k = (uint32_t)A.k, d = (uint32_t)A.d, xd = TOP2 ? (uint32_t)A.xd : d;
    const uint32_t ntiles = (k + WD_BN - 1) / WD_BN;
    if (tid == 0)
        for (uint32_t st = 0; st < nstages; st++) {
            mb_init(full(st), WG_THREADS - WG_CONSUMERS); /* each producer thread's copies */
            mb_init(empty(st), WG_CONSUMERS / 32);
        }
    __syncthreads();
    /* Both roles walk the same units and skip the same ones (F16HI: a
     * problem whose search is skipped, assign_certify.cu), so their stage
     * counts q agree. */
    auto skipped = [&](size_t b) { return TOP2 && A.cmax[b] < 0.f; };

    if (tid >= WG_CONSUMERS) {
        asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;" ::"n"(WG_PRODUCER_REGS));
        const uint32_t pt = tid - WG_CONSUMERS; /* 0 .. 127 */
        uint32_t q = 0;
#pragma unroll 1
        for (uint32_t u = blockIdx.x; u < units; u += gridDim.x) {
            const size_t b = u / A.tiles, p0 = (size_t)(u % A.tiles) * WD_BM;
            if (skipped(b)) continue;
#pragma unroll 1
            for (uint32_t j = 0; j < ntiles; j++) {
#pragma unroll 1
                for (uint32_t c = 0; c < kchunks; c++, q++) {
                    /* stage q % nstages, once the consumers are done with
                     * what it held nstages stages ago; zero-filled past a
                     * row's end, for rows past n and columns past k */
                    const uint32_t st = q % nstages, sa = sS + st * WD_STAGE;
                    if (q >= nstages) mb_wait(empty(st), (q / nstages - 1) & 1);
                    wg_copy_points<KIND, WD_BM>(sa, pt, A, b, p0, c, d, xd);
                    wg_copy_centroids<KIND, WD_BN>(sa + WD_ABYTES, pt, A, b, j * WD_BN, c, d);
                    mb_arrive_cp_async(full(st));
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
        uint32_t q = 0;
#pragma unroll 1
        for (uint32_t u = blockIdx.x; u < units; u += gridDim.x) {
            const size_t b = u / A.tiles, p0 = (size_t)(u % A.tiles) * WD_BM;
            if (skipped(b)) continue;
            const float s = A.scale[b], inv_s2 = 1.f / (s * s);
#pragma unroll
            for (int r = 0; r < 2; r++) {
                bv[r] = sv[r] = -INFINITY;
                bi[r] = 0xffffffffu;
            }
#pragma unroll 1
            for (uint32_t j = 0; j < ntiles; j++) {
#pragma unroll 1
                for (uint32_t c = 0; c < kchunks; c++, q++) {
                    const uint32_t st = q % nstages;
                    const uint32_t sa = sS + st * WD_STAGE + wg * 64 * WG_ROW_BYTES; /* its rows */
                    mb_wait(full(st), (q / nstages) & 1);
                    if (KIND == FKM_ASG_TF32) wg_round_tf32(wd_smem + (sa - raw), 64, wg);
                    else wg_proxy_fence();
                    const uint64_t da = wg_desc(sa), db = wg_desc(sS + st * WD_STAGE + WD_ABYTES);
                    wg_hold(acc);
                    wg_fence();
#pragma unroll
                    for (int kk = 0; kk < 4; kk++) /* 32 bytes per k-step */
                        wg_mma256<KIND>(acc, da + ((32 * kk) >> 4), db + ((32 * kk) >> 4),
                                        c > 0 || kk > 0);
                    wg_commit();
                    /* the chunk before is done: its stage goes back */
                    wg_wait<1>();
                    wg_hold(acc);
                    if (c > 0) wg_release(empty((q - 1) % nstages));
                }
                wg_wait<0>();
                wg_hold(acc);
                wg_release(empty((q - 1) % nstages));
                wg_fold<TOP2, 1, 32>(acc, A.bias + b * bias_cols + j * WD_BN + 2 * t,
                                     j * WD_BN + 2 * t, bv, sv, bi);
            }
            wg_write_rows<TOP2>(A, b, inv_s2, bv, sv, bi, [&](int r) {
                return p0 + 64 * wg + 16 * w + g + 8 * r;
            });
        }
    }
}

template <int KIND>
static void wide_launch(AsgArgs A, size_t batch, cudaStream_t stream, uint32_t kchunks) {
    A.tiles = (unsigned)((A.n + WD_BM - 1) / WD_BM);
    const size_t units = A.tiles * batch, sms = (size_t)fkm_sm_count();
    const unsigned grid = (unsigned)(units < sms ? units : sms);
    const uint32_t nstages = WD_MAX_STAGES;
    const size_t bytes = 1024 + (size_t)nstages * WD_STAGE + 2 * WD_MAX_STAGES * 8;
    static_assert(1024 + WD_MAX_STAGES * WD_STAGE + 2 * WD_MAX_STAGES * 8 <= WG_SMEM_MAX,
                  "the ring fits one block per SM");
    cudaFuncSetAttribute(assign_wide_kernel<KIND>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                         (int)bytes);
    assign_wide_kernel<KIND><<<grid, WG_THREADS, bytes, stream>>>(A, kchunks, nstages,
                                                                  (uint32_t)units);
}
#endif /* FKM_USE_WGMMA */

void fkm_assign_wide(AsgArgs A, int kind, size_t batch, cudaStream_t stream) {
#if FKM_USE_WGMMA
    const size_t eb = kind == FKM_ASG_TF32 ? 4 : 2;
    const uint32_t kchunks = (uint32_t)((A.d * eb + WG_ROW_BYTES - 1) / WG_ROW_BYTES);
    switch (kind) {
    case FKM_ASG_F16: wide_launch<FKM_ASG_F16>(A, batch, stream, kchunks); break;
    case FKM_ASG_BF16: wide_launch<FKM_ASG_BF16>(A, batch, stream, kchunks); break;
    case FKM_ASG_F16HI: wide_launch<FKM_ASG_F16HI>(A, batch, stream, kchunks); break;
    default: wide_launch<FKM_ASG_TF32>(A, batch, stream, kchunks); break;
    }
#else
    (void)A; (void)kind; (void)batch; (void)stream;
#endif
}
