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
 * 256 in halves, 128 in tf32), or rows are not 16-byte aligned, or tf32
 * rows are one chunk (d <= 32), assign_mma.cu's kernels run instead. */
#include "assign_common.cuh"

#if FKM_USE_WGMMA
#define WG_BM 256        /* point rows per block: 2 warpgroups x 2 x 64 */
#define WG_BN 64         /* centroids per tile (fkm_bias_cols pads to it) */
#define WG_CONSUMERS 256 /* 2 warpgroups: one point row per thread */
#define WG_THREADS (WG_CONSUMERS + 128) /* and one producer warpgroup */
/* Registers per thread. The block starts with 168 each (64K / 384, in
 * steps of 8) and setmaxnreg only moves them between its warpgroups: the
 * producer frees (168 - 40) x 128, the consumers take (232 - 168) x 256,
 * the same number. Taking more than is freed waits forever (48 / 232 hung
 * the GPU tests on an H200). */
#define WG_PRODUCER_REGS 40
#define WG_CONSUMER_REGS 232
#define WG_MAX_STAGES 6
#define WG_ROW_BYTES 128 /* a chunk of a row: 64 halves, one swizzle span */
#define WG_ACHUNK_BYTES (WG_BM * WG_ROW_BYTES) /* 32 KB: a chunk of the point rows */
#define WG_BCHUNK_BYTES (WG_BN * WG_ROW_BYTES) /* 8 KB: a chunk of a centroid tile */
#define WG_SMEM_MAX (227u << 10)             /* one block per SM */

/* Where piece p (16 bytes) of row r of a 128-row chunk lives. */
__device__ __forceinline__ uint32_t wg_swz(uint32_t r, uint32_t p) {
    return r * WG_ROW_BYTES + ((p ^ (r & 7u)) << 4);
}

/* wgmma's shared-memory matrix descriptor: start address, leading offset
 * (unused for swizzled K-major: 1), stride offset between 8-row groups
 * (1024 bytes), 128-byte swizzle; every field in 16-byte units. The tiles
 * are 1024-byte aligned, so the base offset is 0. */
__device__ __forceinline__ uint64_t wg_desc(uint32_t saddr) {
    return (uint64_t)((saddr & 0x3FFFFu) >> 4) | (1ull << 16) | ((uint64_t)(1024 >> 4) << 32) |
           (1ull << 62);
}

__device__ __forceinline__ void wg_fence() { asm volatile("wgmma.fence.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void wg_commit() {
    asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
}
template <int N>
__device__ __forceinline__ void wg_wait() {
    asm volatile("wgmma.wait_group.sync.aligned %0;" ::"n"(N) : "memory");
}
/* cp.async writes are the generic proxy's; wgmma reads through the async
 * proxy: a fence between the two, after the data is known to have landed. */
__device__ __forceinline__ void wg_proxy_fence() {
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
}
/* mbarriers in shared memory: each stage has a "full" barrier (the
 * producer's copies and biases have landed) and an "empty" one (every
 * consumer warp is done with the stage). */
__device__ __forceinline__ void mb_init(uint32_t bar, uint32_t count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void mb_arrive(uint32_t bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(bar) : "memory");
}
/* an arrival once this thread's earlier cp.async have landed */
__device__ __forceinline__ void mb_arrive_cp_async(uint32_t bar) {
    asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];" ::"r"(bar) : "memory");
}
__device__ __forceinline__ void mb_wait(uint32_t bar, uint32_t parity) {
    uint32_t done;
    do {
        asm volatile("{\n.reg .pred p;\n"
                     "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
                     "selp.u32 %0, 1, 0, p;\n}\n"
                     : "=r"(done)
                     : "r"(bar), "r"(parity)
                     : "memory");
    } while (!done);
}
/* a + b, rounded as the compiler's own fp32 add, but never merged with it:
 * the fold's second pass must find the very sums of its first. */
__device__ __forceinline__ float wg_add(float a, float b) {
    float r;
    asm volatile("add.rn.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b));
    return r;
}
/* Keeps the compiler from moving accumulator reads or writes across the
 * asynchronous MMAs (no instruction is emitted). */
__device__ __forceinline__ void wg_hold(float (&d)[64]) {
#pragma unroll
    for (int i = 0; i < 64; i++) asm volatile("" : "+f"(d[i])::"memory");
}

/* d = A (64 x k, K-major) . B (64 x k, K-major)^T (+ d when acc), A and B
 * in shared memory by descriptor, k = 16 halves or 8 tf32 (32 bytes);
 * fp32 accumulators, 32 per thread (d[0] .. d[31]). A tile's first MMA
 * starts from zero this way: no other instruction may write the
 * accumulators while MMAs are in flight, or ptxas serializes them. IMM:
 * the scale (and, 16-bit types only, transpose) immediates. */
#define WG_D32_LIST \
    "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13," \
    "%14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26," \
    "%27, %28, %29, %30, %31}"
#define WG_D32_OPS \
    "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), \
    "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), \
    "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), \
    "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
#define WG_MMA(INSTR, IMM)                                                              \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n" INSTR " " WG_D32_LIST    \
                 ", %32, %33, p, " IMM ";\n}\n"                                         \
                 : WG_D32_OPS                                                          \
                 : "l"(da), "l"(db), "r"(acc))
template <int KIND>
__device__ __forceinline__ void wg_mma(float *d, uint64_t da, uint64_t db, int acc) {
    if constexpr (KIND == FKM_ASG_TF32)
        WG_MMA("wgmma.mma_async.sync.aligned.m64n64k8.f32.tf32.tf32", "1, 1");
    else if constexpr (KIND == FKM_ASG_BF16)
        WG_MMA("wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16", "1, 1, 0, 0");
    else
        WG_MMA("wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16", "1, 1, 0, 0");
}
#undef WG_MMA
#undef WG_D32_OPS
#undef WG_D32_LIST

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
    constexpr uint32_t EB = KIND == FKM_ASG_TF32 ? 4 : 2;       /* bytes per element */
    constexpr uint32_t EC = WG_ROW_BYTES / EB, EP = 16 / EB;     /* per chunk, per piece */
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
             * previous rows are done with. */
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
                        /* F16HI: dimensions 64c.. are the hi halves of F16X3's
                         * blocks 2c and 2c + 1 ([32 hi | 32 lo] halves each) */
                        const uint32_t blk = 2 * c + p / 4;
                        const uint32_t e = TOP2 ? blk * 64 + (p % 4) * 8 : c * EC + p * EP;
                        const bool ok = ok_row && (TOP2 ? blk * 64 < xd : e < d);
                        cp_async16_s(sA + ab * rows_bytes + c * WG_ACHUNK_BYTES + wg_swz(r, p),
                                     ok ? xrow + e * EB : xrow, ok ? 16 : 0);
                    }
            }
            mb_arrive_cp_async(afull(ab));
            it++;
            /* its centroid tiles: tile j into stage (jg + j) % nstages once
             * the consumers are done with the tile before it there (2
             * threads per centroid row) */
            const char *cbase = (const char *)A.c + b * A.k * d * EB;
#pragma unroll 1
            for (uint32_t j = 0; j < ntiles; j++, jg++) {
                const uint32_t st = jg % nstages;
                if (jg >= nstages) mb_wait(empty(st), (jg / nstages - 1) & 1);
                const uint32_t r = pt >> 1, col = j * WG_BN + r; /* 2 threads per row */
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

        /* Tile j's values into each row's running maximum of -v s^2 (TOP2: and
         * second largest) and its column (ties: the lower). The MMAs gave x.c
         * s^2, the biases (bias_kernel, through L1) add -|c|^2 s^2 / 2 (0
         * for inner product, -inf past k). First the tile's maxima alone
         * (fmaxf, 2 independent chains per row: compare-and-select chains per
         * value kept the ALU pipe busy with its latency exposed), and only where
         * a row's tile maximum beats its running best, a second pass for that
         * maximum's lowest column. */
        auto fold = [&](float (&a)[64], uint32_t j) {
            const float *bias = A.bias + b * ntiles * WG_BN + j * WG_BN + 2 * t; /* fkm_bias_cols */
            float2 bb[8];
#pragma unroll
            for (int i = 0; i < 8; i++) bb[i] = __ldg((const float2 *)(bias + 8 * i));
#pragma unroll
            for (int r = 0; r < 4; r++) {
                const int base = (r >> 1) * 32 + (r & 1) * 2;
                float t1[2] = {-INFINITY, -INFINITY}, t2[2] = {-INFINITY, -INFINITY};
#pragma unroll
                for (int i = 0; i < 8; i++)
#pragma unroll
                    for (int jj = 0; jj < 2; jj++) {
                        const float v = a[base + 4 * i + jj] + (jj ? bb[i].y : bb[i].x);
                        if (TOP2) t2[jj] = fmaxf(t2[jj], fminf(v, t1[jj]));
                        t1[jj] = fmaxf(t1[jj], v);
                    }
                /* the tile's two largest */
                const float m1 = fmaxf(t1[0], t1[1]);
                const float m2 = TOP2 ? fmaxf(fmaxf(t2[0], t2[1]), fminf(t1[0], t1[1])) : 0.f;
                if (TOP2) sv[r] = fmaxf(sv[r], fmaxf(m2, fminf(m1, bv[r])));
                if (m1 > bv[r]) { /* the lowest column holding m1, the same sums again */
                    uint32_t col = 0;
#pragma unroll
                    for (int i = 7; i >= 0; i--)
#pragma unroll
                        for (int jj = 1; jj >= 0; jj--)
                            if (wg_add(a[base + 4 * i + jj], jj ? bb[i].y : bb[i].x) == m1)
                                col = j * WG_BN + 2 * t + 8 * i + jj;
                    bv[r] = m1;
                    bi[r] = col;
                }
            }
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
            if (KIND == FKM_ASG_TF32) {
                /* the warpgroup's rows to tf32, rounded to nearest
                 * (fkm_tf32), in place: rounding is per value, so the
                 * layout does not matter, and consecutive threads take
                 * consecutive 16 bytes (a thread per row hit one bank with
                 * all 32 lanes: ~30 us per tile) */
#pragma unroll 1
                for (uint32_t c = 0; c < kchunks; c++) {
                    float4 *v = (float4 *)(wg_smem + (sA - raw) + ab * rows_bytes +
                                           c * WG_ACHUNK_BYTES + wg * 128 * WG_ROW_BYTES);
#pragma unroll
                    for (uint32_t i = tid & 127; i < 128 * WG_ROW_BYTES / 16; i += 128) {
                        float4 q = v[i];
                        q.x = __uint_as_float(fkm_tf32(q.x));
                        q.y = __uint_as_float(fkm_tf32(q.y));
                        q.z = __uint_as_float(fkm_tf32(q.z));
                        q.w = __uint_as_float(fkm_tf32(q.w));
                        v[i] = q;
                    }
                }
                wg_proxy_fence();
                asm volatile("bar.sync %0, 128;" ::"r"(1 + wg) : "memory"); /* the warpgroup */
            } else {
                wg_proxy_fence();
            }
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
                            wg_mma<KIND>(cur + 32 * mt,
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
                    __syncwarp();
                    if (lane == 0) mb_arrive(empty((q - 1) % nstages));
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
            __syncwarp();
            if (lane == 0) mb_arrive(aempty(ab));
            it++;
            if (ntiles & 1) fold(acc0, ntiles - 1);
            else fold(acc1, ntiles - 1);
            __syncwarp();
            if (lane == 0) mb_arrive(empty((jg + ntiles - 1) % nstages));
            jg += ntiles;

            /* Back to v = |c|^2 / 2 - x.c; the quad's 4 lanes meet; lane t = 0
             * writes its rows. */
#pragma unroll
            for (int r = 0; r < 4; r++) {
                float v = -bv[r] * inv_s2, v2 = -sv[r] * inv_s2;
                uint32_t i = bi[r];
                asg_quad_reduce<TOP2>(v, i, v2);
                const size_t row = p0 + 128 * wg + 64 * (r >> 1) + 16 * w + g + 8 * (r & 1);
                if (t == 0 && row < A.n) asg_write_row<TOP2>(A, b, row, v, v2, i);
            }
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

bool fkm_assign_wgmma(AsgArgs A, int kind, size_t batch, cudaStream_t stream) {
#if FKM_USE_WGMMA
    if (kind != FKM_ASG_F16HI && !A.vec_ok) return false; /* 16-byte copies */
    /* one or two buffers of point rows (two where they leave room for 3
     * centroid tiles), 2 to 6 centroid tiles (as many as fit), the
     * barriers */
    const size_t eb = kind == FKM_ASG_TF32 ? 4 : 2;
    const size_t kchunks = (A.d * eb + WG_ROW_BYTES - 1) / WG_ROW_BYTES,
                 tile = kchunks * WG_BCHUNK_BYTES, rows = kchunks * WG_ACHUNK_BYTES;
    const size_t bars = (2 * WG_MAX_STAGES + 4) * 8;
    if (1024 + rows + bars + 2 * tile > WG_SMEM_MAX) return false;
    /* tf32 rows of one chunk (d <= 32): pq-batched (d = 8) went 0.47 ->
     * 0.81 ms per iteration on wgmma (H200), the mma.sync kernel stays */
    if (kind == FKM_ASG_TF32 && kchunks < 2) return false;
    WgLaunch L;
    L.kchunks = (uint32_t)kchunks;
    L.nabuf = 1024 + 2 * rows + bars + 3 * tile <= WG_SMEM_MAX ? 2 : 1;
    const size_t fixed = 1024 + L.nabuf * rows + bars, fit = (WG_SMEM_MAX - fixed) / tile;
    L.nstages = (uint32_t)(fit < WG_MAX_STAGES ? fit : WG_MAX_STAGES);
    L.bytes = fixed + L.nstages * tile;
    const size_t cols = fkm_bias_cols(A.k);
    dim3 bgrid((unsigned)((cols + 255) / 256), (unsigned)batch);
    bias_kernel<<<bgrid, 256, 0, stream>>>(A.cnorm, A.scale, A.k, cols, A.ip, A.bias);
    switch (kind) {
    case FKM_ASG_F16: wg_launch<FKM_ASG_F16>(A, batch, stream, L); return true;
    case FKM_ASG_BF16: wg_launch<FKM_ASG_BF16>(A, batch, stream, L); return true;
    case FKM_ASG_F16HI: wg_launch<FKM_ASG_F16HI>(A, batch, stream, L); return true;
    case FKM_ASG_TF32: wg_launch<FKM_ASG_TF32>(A, batch, stream, L); return true;
    default: return false;
    }
#else
    (void)A; (void)kind; (void)batch; (void)stream;
    return false;
#endif
}
