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
 * stored rounded).
 *
 * Blocks go in clusters of two, on units of neighbouring rows of one
 * problem, in step: each block's producer asks the tensor memory
 * accelerator for one half of a stage's centroid chunk, multicast into both
 * blocks' shared memory (a 2-d tensor map over the centroid copy, the
 * 128-byte swizzle done by the copy), so the centroids cross from L2 once
 * per two units: 25.8 of the 38.7 GB above. The point rows come by
 * cp.async, in whole 128-byte lines per 8 lanes (wd_copy_points). A stage
 * is free again only when the consumers of both blocks are done with it.
 * Persistent: one cluster per two SMs (as many as can be resident) walks
 * pairs of units across all problems of a batch. */
#include <cudaTypedefs.h> /* CUtensorMap, the encoder's type: reached through the runtime */

#include "wgmma.cuh"

#if FKM_USE_WGMMA
#define WD_BM 128 /* point rows per unit: 2 warpgroups x 64 */
#define WD_BN 256 /* centroids per tile (FKM_BIAS_TILE) */
#define WD_STAGES 4 /* the ring: 4 x 48 KB */
#define WD_ABYTES (WD_BM * WG_ROW_BYTES)  /* 16 KB: a chunk of the rows */
#define WD_BBYTES (WD_BN * WG_ROW_BYTES)  /* 32 KB: a chunk of the centroids */
#define WD_STAGE (WD_ABYTES + WD_BBYTES)
#define WD_CLUSTER 2
static_assert(WD_BN == FKM_BIAS_TILE, "a tile's biases are one whole bias tile");

__device__ __forceinline__ uint32_t wd_cluster_rank() {
    uint32_t r;
    asm volatile("mov.u32 %0, %%cluster_ctarank;" : "=r"(r));
    return r;
}
__device__ __forceinline__ void wd_cluster_sync() {
    asm volatile("barrier.cluster.arrive.release.aligned;\n"
                 "barrier.cluster.wait.acquire.aligned;" ::: "memory");
}
/* an arrival on the barrier at the same offset in block `cta` of the
 * cluster (this one included) */
__device__ __forceinline__ void wd_arrive_in(uint32_t bar, uint32_t cta) {
    uint32_t remote;
    asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(remote) : "r"(bar), "r"(cta));
    asm volatile("mbarrier.arrive.shared::cluster.b64 _, [%0];" ::"r"(remote) : "memory");
}
/* this thread's arrival, and `bytes` more to land before the phase ends */
__device__ __forceinline__ void wd_arrive_expect(uint32_t bar, uint32_t bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(bar), "r"(bytes)
                 : "memory");
}
/* box (x, y) of the tensor map into dst of every block of the cluster,
 * completing `bar` there */
__device__ __forceinline__ void wd_tma_multicast(uint32_t dst, const CUtensorMap *map, uint32_t x,
                                                 uint32_t y, uint32_t bar) {
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes"
                 ".multicast::cluster [%0], [%1, {%2, %3}], [%4], %5;" ::"r"(dst),
                 "l"((uint64_t)map), "r"(x), "r"(y), "r"(bar),
                 "h"((uint16_t)((1u << WD_CLUSTER) - 1))
                 : "memory");
}

/* Chunk c of the 128 point rows p0.. of problem b into its swizzled place
 * at dst (rows from n on are zeros), by the producer warpgroup (thread pt of
 * 128): piece pt % 8 of rows pt / 8, + 16, ..., so that each warp's copy
 * reads four whole 128-byte lines. (A thread per row read one 16-byte half
 * of 32 sectors per copy, the other halves on the next, every sector
 * crossing from L2 twice: with L2's throughput the limit, embeddings-768
 * tf32 took 14.96 ms per iteration that way, 12.76 this way, before the
 * clusters.) */
template <int KIND>
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
    for (uint32_t i = 0; i < WD_BM / 16; i++) {
        const uint32_t r = (pt >> 3) + 16 * i;
        const bool ok = piece_ok && r < nvalid;
        cp_async16_s(dst + wg_swz(r, p), ok ? src + i * 16 * stride : A.x, ok ? 16 : 0);
    }
}

template <int KIND>
__global__ void __launch_bounds__(WG_THREADS, 1)
assign_wide_kernel(const AsgArgs A, const __grid_constant__ CUtensorMap cmap,
                   const uint32_t kchunks, const uint32_t pairs) {
    constexpr bool TOP2 = KIND == FKM_ASG_F16HI;
    constexpr uint32_t EB = KIND == FKM_ASG_TF32 ? 4 : 2;
    extern __shared__ __align__(16) uint8_t wd_smem[];
    const uint32_t raw = (uint32_t)__cvta_generic_to_shared(wd_smem);
    const uint32_t sS = (raw + 1023u) & ~1023u;   /* the stages: rows, then centroids */
    const uint32_t sBar = sS + WD_STAGES * WD_STAGE; /* full[], empty[] */
    auto full = [&](uint32_t st) { return sBar + 8 * st; };
    auto empty = [&](uint32_t st) { return sBar + 8 * (WD_STAGES + st); };

    const int tid = threadIdx.x, wg = tid >> 7, w = (tid >> 5) & 3, lane = tid & 31;
    const int g = lane >> 2, t = lane & 3;
    const uint32_t k = (uint32_t)A.k, d = (uint32_t)A.d, xd = TOP2 ? (uint32_t)A.xd : d;
    const uint32_t ntiles = (k + WD_BN - 1) / WD_BN;
    const uint32_t rank = wd_cluster_rank(), ncl = gridDim.x / WD_CLUSTER;
    if (tid == 0) {
        for (uint32_t st = 0; st < WD_STAGES; st++) {
            /* each producer thread's row copies, and the centroid bytes */
            mb_init(full(st), WG_THREADS - WG_CONSUMERS + 1);
            mb_init(empty(st), WD_CLUSTER * WG_CONSUMERS / 32); /* both blocks' warps */
        }
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    }
    wd_cluster_sync();
    /* Pair m: units 2 (m % tiles2) + rank of problem m / tiles2 (past n:
     * no rows, the block still takes its half of the centroids). Both roles
     * of both blocks walk the same pairs and skip the same ones (F16HI: a
     * problem whose search is skipped, assign_certify.cu), so their stage
     * counts q agree. */
    const size_t tiles2 = (A.tiles + 1) / 2;
    auto skipped = [&](size_t b) { return TOP2 && A.cmax[b] < 0.f; };

    if (tid >= WG_CONSUMERS) {
        asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;" ::"n"(WG_PRODUCER_REGS));
        const uint32_t pt = tid - WG_CONSUMERS; /* 0 .. 127 */
        uint32_t q = 0;
#pragma unroll 1
        for (uint32_t m = blockIdx.x / WD_CLUSTER; m < pairs; m += ncl) {
            const size_t b = m / tiles2, p0 = (2 * (m % tiles2) + rank) * WD_BM;
            if (skipped(b)) continue;
#pragma unroll 1
            for (uint32_t j = 0; j < ntiles; j++) {
#pragma unroll 1
                for (uint32_t c = 0; c < kchunks; c++, q++) {
                    /* stage q % WD_STAGES, once both blocks' consumers are
                     * done with what it held a ring ago; zero-filled past a
                     * row's end and for rows past n */
                    const uint32_t st = q % WD_STAGES, sa = sS + st * WD_STAGE;
                    if (q >= WD_STAGES) mb_wait(empty(st), (q / WD_STAGES - 1) & 1);
                    wd_copy_points<KIND>(sa, pt, A, b, p0, c, d, xd);
                    mb_arrive_cp_async(full(st));
                    if (pt == 0) { /* this block's half of the centroid rows, to both */
                        wd_arrive_expect(full(st), WD_BBYTES);
                        const uint32_t row = (uint32_t)(b * k) + j * WD_BN +
                                             rank * (WD_BN / WD_CLUSTER);
                        wd_tma_multicast(sa + WD_ABYTES + rank * (WD_BBYTES / WD_CLUSTER), &cmap,
                                         c * (WG_ROW_BYTES / EB), row, full(st));
                    }
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
        /* a stage is done with here: both blocks' producers wait for it */
        auto release = [&](uint32_t bar) {
            __syncwarp();
            if (lane < WD_CLUSTER) wd_arrive_in(bar, lane);
        };
        uint32_t q = 0;
#pragma unroll 1
        for (uint32_t m = blockIdx.x / WD_CLUSTER; m < pairs; m += ncl) {
            const size_t b = m / tiles2, p0 = (2 * (m % tiles2) + rank) * WD_BM;
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
                    const uint32_t st = q % WD_STAGES;
                    const uint32_t sa = sS + st * WD_STAGE + wg * 64 * WG_ROW_BYTES; /* its rows */
                    mb_wait(full(st), (q / WD_STAGES) & 1);
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
                    if (c > 0) release(empty((q - 1) % WD_STAGES));
                }
                wg_wait<0>();
                wg_hold(acc);
                release(empty((q - 1) % WD_STAGES));
                wg_fold<TOP2, 1, 32>(acc, A.bias + b * bias_cols + j * WD_BN + 2 * t,
                                     j * WD_BN + 2 * t, bv, sv, bi);
            }
            wg_write_rows<TOP2>(A, b, inv_s2, bv, sv, bi, [&](int r) {
                return p0 + 64 * wg + 16 * w + g + 8 * r;
            });
        }
    }
    /* no block leaves while its peer may still copy into it or arrive */
    __syncwarp();
    wd_cluster_sync();
}

/* The 2-d tensor map of the centroid copy: batch k rows of d elements
 * (row stride d * eb, 16-byte aligned: vec_ok), boxes of 128 bytes x 128
 * rows (half a stage's centroid chunk) in the 128-byte swizzle; zeros past
 * d and past the last row. A tile's columns past k read the next problem's
 * first centroids: their bias is -inf (bias_kernel), so they never win.
 * False if the driver cannot make one. */
static bool wd_centroid_map(CUtensorMap *map, const AsgArgs &A, size_t batch, size_t eb) {
    static PFN_cuTensorMapEncodeTiled_v12000 encode = [] {
        void *fn = nullptr;
        cudaDriverEntryPointQueryResult q;
        if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000,
                                             cudaEnableDefault, &q) != cudaSuccess ||
            q != cudaDriverEntryPointSuccess)
            fn = nullptr;
        return (PFN_cuTensorMapEncodeTiled_v12000)fn;
    }();
    if (!encode) return false;
    const cuuint64_t dims[2] = {(cuuint64_t)A.d, (cuuint64_t)(batch * A.k)};
    const cuuint64_t strides[1] = {(cuuint64_t)(A.d * eb)};
    const cuuint32_t box[2] = {(cuuint32_t)(WG_ROW_BYTES / eb), WD_BN / WD_CLUSTER};
    const cuuint32_t estr[2] = {1, 1};
    return encode(map, eb == 4 ? CU_TENSOR_MAP_DATA_TYPE_UINT32 : CU_TENSOR_MAP_DATA_TYPE_UINT16,
                  2, (void *)A.c, dims, strides, box, estr, CU_TENSOR_MAP_INTERLEAVE_NONE,
                  CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                  CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

template <int KIND>
static void wide_launch(AsgArgs A, const CUtensorMap &cmap, size_t batch, cudaStream_t stream,
                        uint32_t kchunks) {
    A.tiles = (unsigned)((A.n + WD_BM - 1) / WD_BM);
    const size_t pairs = (A.tiles + 1) / 2 * batch;
    const size_t bytes = 1024 + (size_t)WD_STAGES * WD_STAGE + 2 * WD_STAGES * 8;
    static_assert(1024 + WD_STAGES * WD_STAGE + 2 * WD_STAGES * 8 <= WG_SMEM_MAX,
                  "the ring fits one block per SM");
    cudaFuncSetAttribute(assign_wide_kernel<KIND>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                         (int)bytes);
    cudaLaunchAttribute attr;
    attr.id = cudaLaunchAttributeClusterDimension;
    attr.val.clusterDim.x = WD_CLUSTER;
    attr.val.clusterDim.y = attr.val.clusterDim.z = 1;
    cudaLaunchConfig_t cfg = {};
    cfg.blockDim = dim3(WG_THREADS);
    cfg.dynamicSmemBytes = bytes;
    cfg.stream = stream;
    cfg.attrs = &attr;
    cfg.numAttrs = 1;
    /* as many clusters as can be resident at once (the SMs of a cluster
     * share a GPC: fewer than SMs / 2 on some parts), at most one per pair */
    size_t clusters = (size_t)fkm_sm_count() / WD_CLUSTER;
    cfg.gridDim = dim3((unsigned)(clusters * WD_CLUSTER));
    int active = 0;
    if (cudaOccupancyMaxActiveClusters(&active, assign_wide_kernel<KIND>, &cfg) == cudaSuccess &&
        active > 0 && (size_t)active < clusters)
        clusters = (size_t)active;
    if (clusters > pairs) clusters = pairs;
    cfg.gridDim = dim3((unsigned)(clusters * WD_CLUSTER));
    cudaLaunchKernelEx(&cfg, assign_wide_kernel<KIND>, A, cmap, kchunks, (uint32_t)pairs);
}
#endif /* FKM_USE_WGMMA */

bool fkm_assign_wide(AsgArgs A, int kind, size_t batch, cudaStream_t stream) {
#if FKM_USE_WGMMA
    const size_t eb = kind == FKM_ASG_TF32 ? 4 : 2;
    const uint32_t kchunks = (uint32_t)((A.d * eb + WG_ROW_BYTES - 1) / WG_ROW_BYTES);
    CUtensorMap cmap;
    if (!wd_centroid_map(&cmap, A, batch, eb)) return false;
    fkm_wgmma_bias(A, batch, stream);
    switch (kind) {
    case FKM_ASG_F16: wide_launch<FKM_ASG_F16>(A, cmap, batch, stream, kchunks); break;
    case FKM_ASG_BF16: wide_launch<FKM_ASG_BF16>(A, cmap, batch, stream, kchunks); break;
    case FKM_ASG_F16HI: wide_launch<FKM_ASG_F16HI>(A, cmap, batch, stream, kchunks); break;
    default: wide_launch<FKM_ASG_TF32>(A, cmap, batch, stream, kchunks); break;
    }
    return true;
#else
    (void)A; (void)kind; (void)batch; (void)stream;
    return false;
#endif
}
