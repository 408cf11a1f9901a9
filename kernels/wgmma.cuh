/* wgmma.cuh — what the Hopper FlashAssign kernels share: assign_wgmma.cu
 * (k < 256: a block's 256 point rows resident in shared memory, m64n64
 * tiles), assign_wide.cu (k >= 256, and rows too long for that: m64n256
 * tiles, rows of d <= 128 resident, longer ones streamed in d chunks with
 * the centroids) and assign_cres.cu (fp16 / bf16, d <= 128: the centroids
 * resident, the rows streamed). The swizzled operand layout and its
 * descriptors, the warpgroup MMAs, the mbarriers of the producer/consumer
 * rings, the clusters' copies and arrivals, the warpgroups' turns, where a
 * point row's pieces come from, the fold of a tile's values into each
 * row's running best; on the host, the tensor maps and the launch of a
 * persistent kernel in clusters. sm_90a only (FKM_USE_WGMMA). */
#ifndef FKM_WGMMA_CUH
#define FKM_WGMMA_CUH
#include <cudaTypedefs.h> /* CUtensorMap, the encoder's type: reached through the runtime */

#include "assign_common.cuh"

#if FKM_USE_WGMMA
#define WG_ROW_BYTES 128         /* a chunk of a row: 64 halves, one swizzle span */
#define WG_SMEM_MAX (227u << 10) /* one block per SM */
/* A block: 2 consumer warpgroups and a producer. Registers per thread: the
 * block starts with 168 each (64K / 384, in steps of 8) and setmaxnreg only
 * moves them between its warpgroups: the producer frees (168 - 40) x 128,
 * the consumers take (232 - 168) x 256, the same number. Taking more than
 * is freed waits forever (48 / 232 hung the GPU tests on an H200). */
#define WG_CONSUMERS 256
#define WG_THREADS (WG_CONSUMERS + 128)
#define WG_PRODUCER_REGS 40
#define WG_CONSUMER_REGS 232

/* Where piece p (16 bytes) of row r of a chunk lives: 128-byte rows in the
 * 128-byte swizzle wgmma reads without bank conflicts. */
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

__device__ __forceinline__ void wg_fence() {
    asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
}
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
 * producer's copies have landed) and an "empty" one (every consumer warp
 * is done with the stage). */
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
/* Until the barrier's phase of this parity has completed. SLEEP: for long
 * waits (a producer's for a buffer of rows), the thread may sleep up to 20
 * us between checks instead of polling. */
#define WG_TRY_WAIT(HINT)                                                                      \
    "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2" HINT ";\n"       \
    "selp.u32 %0, 1, 0, p;\n}\n"
template <bool SLEEP = false>
__device__ __forceinline__ void mb_wait(uint32_t bar, uint32_t parity) {
    uint32_t done;
    do {
        if constexpr (SLEEP)
            asm volatile(WG_TRY_WAIT(", 20000") : "=r"(done) : "r"(bar), "r"(parity) : "memory");
        else asm volatile(WG_TRY_WAIT("") : "=r"(done) : "r"(bar), "r"(parity) : "memory");
    } while (!done);
}
#undef WG_TRY_WAIT
/* Clusters (both assign_wide.cu's and assign_cres.cu's blocks go in
 * clusters that share their operands through the tensor memory
 * accelerator's multicast). */
__device__ __forceinline__ uint32_t wg_cluster_rank() {
    uint32_t r;
    asm volatile("mov.u32 %0, %%cluster_ctarank;" : "=r"(r));
    return r;
}
__device__ __forceinline__ void wg_cluster_sync() {
    asm volatile("barrier.cluster.arrive.release.aligned;\n"
                 "barrier.cluster.wait.acquire.aligned;" ::: "memory");
}
/* The address of shared-memory address `a` of this block in block `cta`
 * of the cluster. */
__device__ __forceinline__ uint32_t wg_mapa(uint32_t a, uint32_t cta) {
    uint32_t remote;
    asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(remote) : "r"(a), "r"(cta));
    return remote;
}
/* an arrival on the barrier at the same offset in block `cta` of the
 * cluster (this one included) */
__device__ __forceinline__ void wg_arrive_in(uint32_t bar, uint32_t cta) {
    asm volatile("mbarrier.arrive.shared::cluster.b64 _, [%0];" ::"r"(wg_mapa(bar, cta))
                 : "memory");
}
/* 8 bytes (x, y) to shared-memory address `a` of block `cta` of the
 * cluster (the offset of a here), completing 8 bytes of the transaction
 * count of the barrier at offset bar there: no fence, the waiter sees them once its phase
 * completes. */
__device__ __forceinline__ void wg_st_async_in(uint32_t a, uint32_t bar, uint32_t cta, uint32_t x,
                                               uint32_t y) {
    asm volatile("st.async.shared::cluster.mbarrier::complete_tx::bytes.v2.b32 [%0], {%1, %2}, "
                 "[%3];" ::"r"(wg_mapa(a, cta)),
                 "r"(x), "r"(y), "r"(wg_mapa(bar, cta))
                 : "memory");
}
/* A consumer warp is done with a buffer that every block of a cluster of
 * `cl` fills (multicast): one arrival per warp in each block. */
__device__ __forceinline__ void wg_release_all(uint32_t bar, uint32_t cl) {
    __syncwarp();
    if ((threadIdx.x & 31) < cl) wg_arrive_in(bar, threadIdx.x & 31);
}
/* this thread's arrival, and `bytes` more to land before the phase ends */
__device__ __forceinline__ void wg_arrive_expect(uint32_t bar, uint32_t bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(bar), "r"(bytes)
                 : "memory");
}
/* Box (x, y) of a 2-d tensor map into dst, completing `bar`: of every
 * block in `mask` (multicast), or of this block alone (mask 0). */
__device__ __forceinline__ void wg_tma_2d(uint32_t dst, const void *map, uint32_t x, uint32_t y,
                                          uint32_t bar, uint16_t mask) {
    if (mask)
        asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes"
                     ".multicast::cluster [%0], [%1, {%2, %3}], [%4], %5;" ::"r"(dst),
                     "l"((uint64_t)map), "r"(x), "r"(y), "r"(bar), "h"(mask)
                     : "memory");
    else
        asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes"
                     " [%0], [%1, {%2, %3}], [%4];" ::"r"(dst),
                     "l"((uint64_t)map), "r"(x), "r"(y), "r"(bar)
                     : "memory");
}
/* The same from a 3-dimensional map (wg_tensor_map with problems): box
 * (x, y) of problem z; mask as wg_tma_2d's (0: to this block only). */
__device__ __forceinline__ void wg_tma_3d(uint32_t dst, const void *map, uint32_t x, uint32_t y,
                                          uint32_t z, uint32_t bar, uint16_t mask = 0) {
    if (mask)
        asm volatile("cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes"
                     ".multicast::cluster [%0], [%1, {%2, %3, %4}], [%5], %6;" ::"r"(dst),
                     "l"((uint64_t)map), "r"(x), "r"(y), "r"(z), "r"(bar), "h"(mask)
                     : "memory");
    else
        asm volatile("cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes"
                     " [%0], [%1, {%2, %3, %4}], [%5];" ::"r"(dst),
                     "l"((uint64_t)map), "r"(x), "r"(y), "r"(z), "r"(bar)
                     : "memory");
}
/* `bytes` (a multiple of 16, both addresses 16-byte aligned) from global
 * memory into this block's dst, completing `bar`. */
__device__ __forceinline__ void wg_bulk_copy(uint32_t dst, const void *src, uint32_t bytes,
                                             uint32_t bar) {
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes"
                 " [%0], [%1], %2, [%3];" ::"r"(dst), "l"(src), "r"(bytes), "r"(bar)
                 : "memory");
}
/* Named barriers 3 and 4: warpgroup w's turn
 * to issue its tile's MMAs is barrier 3 + w, completed by the other
 * warpgroup's arrival once it has issued its own (CUTLASS's "ping-pong":
 * one folds while the other's MMAs run). */
__device__ __forceinline__ void wg_turn_wait(int wg) {
    asm volatile("bar.sync %0, 256;" ::"r"(3 + wg) : "memory");
}
__device__ __forceinline__ void wg_turn_pass(int wg) {
    asm volatile("bar.arrive %0, 256;" ::"r"(3 + (wg ^ 1)) : "memory");
}
/* A consumer warp is done with a buffer: one arrival per warp. */
__device__ __forceinline__ void wg_release(uint32_t bar) {
    __syncwarp();
    if ((threadIdx.x & 31) == 0) mb_arrive(bar);
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
template <int N>
__device__ __forceinline__ void wg_hold(float (&d)[N]) {
#pragma unroll
    for (int i = 0; i < N; i++) asm volatile("" : "+f"(d[i])::"memory");
}

/* d = A (64 x k, K-major) . B (N x k, K-major)^T (+ d when acc), A and B in
 * shared memory by descriptor, k = 16 halves or 8 tf32 (32 bytes); fp32
 * accumulators, N / 2 per thread: thread (warp w, lane 4g + t) holds rows
 * 16w + g + 8h, columns 8i + 2t + jj in d[4i + 2h + jj]. A tile's first MMA
 * starts from zero this way: no other instruction may write the
 * accumulators while MMAs are in flight, or ptxas serializes them. IMM:
 * the scale (and, 16-bit types only, transpose) immediates. */
#define WG_F8(i)                                                                                   \
    "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]),   \
        "+f"(d[i + 6]), "+f"(d[i + 7])
#define WG_F32(i) WG_F8(i), WG_F8(i + 8), WG_F8(i + 16), WG_F8(i + 24)
#define WG_D32_LIST                                                                           \
    "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15,"                 \
    "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}"
#define WG_D128_LIST \
    "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15," \
    "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31," \
    "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47," \
    "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63," \
    "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79," \
    "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95," \
    "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111," \
    "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}"
/* ARGS: the flag's operand number; the outputs last */
#define WG_MMA(SHAPE, TYPES, IMM, LIST, ARGS, ...)                                            \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %" ARGS ", 0;\n"                          \
                 "wgmma.mma_async.sync.aligned." SHAPE "." TYPES " " LIST ", p, " IMM ";\n}\n" \
                 : __VA_ARGS__                                                               \
                 : "l"(da), "l"(db), "r"(acc))
#define WG_MMA_KINDS(N, LIST, ARGS, ...)                                                      \
    if constexpr (KIND == FKM_ASG_TF32)                                                       \
        WG_MMA("m64n" N "k8", "f32.tf32.tf32", "1, 1", LIST, ARGS, __VA_ARGS__);              \
    else if constexpr (KIND == FKM_ASG_BF16)                                                  \
        WG_MMA("m64n" N "k16", "f32.bf16.bf16", "1, 1, 0, 0", LIST, ARGS, __VA_ARGS__);       \
    else /* F16, F16HI */                                                                     \
        WG_MMA("m64n" N "k16", "f32.f16.f16", "1, 1, 0, 0", LIST, ARGS, __VA_ARGS__)
template <int KIND>
__device__ __forceinline__ void wg_mma64(float *d, uint64_t da, uint64_t db, int acc) {
    WG_MMA_KINDS("64", WG_D32_LIST ", %32, %33", "34", WG_F32(0));
}
template <int KIND>
__device__ __forceinline__ void wg_mma256(float *d, uint64_t da, uint64_t db, int acc) {
    WG_MMA_KINDS("256", WG_D128_LIST ", %128, %129", "130", WG_F32(0), WG_F32(32), WG_F32(64),
                 WG_F32(96));
}
#undef WG_MMA_KINDS
#undef WG_MMA
#undef WG_D128_LIST
#undef WG_D32_LIST
#undef WG_F32
#undef WG_F8

/* Piece p (16 bytes) of chunk c of a point row: its first element e, and
 * whether it holds data (zeros otherwise). F16HI: dimensions 64c.. are the
 * hi halves of F16X3's blocks 2c and 2c + 1 ([32 hi | 32 lo] halves each,
 * xd per row). */
template <int KIND>
__device__ __forceinline__ bool wg_xpiece(uint32_t c, uint32_t p, uint32_t d, uint32_t xd,
                                          uint32_t &e) {
    constexpr uint32_t EB = KIND == FKM_ASG_TF32 ? 4 : 2;
    if (KIND == FKM_ASG_F16HI) {
        const uint32_t blk = 2 * c + p / 4;
        e = blk * 64 + (p % 4) * 8;
        return blk * 64 < xd;
    }
    e = c * (WG_ROW_BYTES / EB) + p * (16 / EB);
    return e < d;
}
/* A tile's values into each of the thread's rows' running maximum of
 * -v s^2 (TOP2: and second largest) and its column (ties: the lower). The
 * MMAs gave x.c s^2, the biases (bias_kernel, through L1; `bias` at the
 * tile's column 2t) add -|c|^2 s^2 / 2 (0 for inner product, -inf past k).
 * MT 64-row MMA tiles of NI 8-column groups: row r = 2mt + h holds
 * a[4 NI mt + 4i + 2h + jj] at column col0 + 8i + jj. First the tile's
 * maxima alone (fmaxf, 2 independent chains per row: compare-and-select
 * chains per value kept the ALU pipe busy with its latency exposed), and
 * only where a row's tile maximum beats its running best, a second pass for
 * that maximum's lowest column. */
template <bool TOP2, int MT, int NI>
__device__ __forceinline__ void wg_fold(const float (&a)[4 * MT * NI], const float *bias,
                                        uint32_t col0, float (&bv)[2 * MT], float (&sv)[2 * MT],
                                        uint32_t (&bi)[2 * MT]) {
    constexpr int R = 2 * MT;
    /* narrow tiles keep their biases in registers for both passes; wide
     * ones (64 values) load them again for the second */
    constexpr bool KEEP = NI <= 8;
    float2 kept[KEEP ? NI : 1];
#pragma unroll
    for (int i = 0; i < (KEEP ? NI : 1); i++)
        kept[i] = KEEP ? __ldg((const float2 *)(bias + 8 * i)) : make_float2(0.f, 0.f);
    auto bias_at = [&](int i) {
        if constexpr (KEEP) return kept[i];
        else return __ldg((const float2 *)(bias + 8 * i));
    };
    float t1[R][2], t2[R][2];
#pragma unroll
    for (int r = 0; r < R; r++) t1[r][0] = t1[r][1] = t2[r][0] = t2[r][1] = -INFINITY;
#pragma unroll
    for (int i = 0; i < NI; i++) {
        const float2 bb = bias_at(i);
#pragma unroll
        for (int r = 0; r < R; r++)
#pragma unroll
            for (int jj = 0; jj < 2; jj++) {
                const float v =
                    a[(r >> 1) * 4 * NI + (r & 1) * 2 + 4 * i + jj] + (jj ? bb.y : bb.x);
                if (TOP2) t2[r][jj] = fmaxf(t2[r][jj], fminf(v, t1[r][jj]));
                t1[r][jj] = fmaxf(t1[r][jj], v);
            }
    }
#pragma unroll
    for (int r = 0; r < R; r++) {
        /* the tile's two largest */
        const float m1 = fmaxf(t1[r][0], t1[r][1]);
        const float m2 =
            TOP2 ? fmaxf(fmaxf(t2[r][0], t2[r][1]), fminf(t1[r][0], t1[r][1])) : 0.f;
        if (TOP2) sv[r] = fmaxf(sv[r], fmaxf(m2, fminf(m1, bv[r])));
        if (m1 > bv[r]) { /* the lowest column holding m1, the same sums again */
            const int base = (r >> 1) * 4 * NI + (r & 1) * 2;
            uint32_t col = 0;
#pragma unroll
            for (int i = NI - 1; i >= 0; i--) {
                const float2 bb = bias_at(i);
#pragma unroll
                for (int jj = 1; jj >= 0; jj--)
                    if (wg_add(a[base + 4 * i + jj], jj ? bb.y : bb.x) == m1)
                        col = col0 + 8 * i + jj;
            }
            bv[r] = m1;
            bi[r] = col;
        }
    }
}

/* The fold in one pass without the second best (F16HI keeps wg_fold), for
 * wide tiles: one 64-row MMA tile of NI 8-column groups, row r = h holds
 * a[4i + 2h + jj] at column col0 + 8i + jj (col0: the tile's first column
 * + 2t, the thread's own). One pass because at K =
 * 1024 some row of a warp beats its running best on nearly every tile, so
 * wg_fold's second pass (a chain of 64 dependent selects per row) ran
 * every time. Each value, with its bias + M (assign_pack.cu), is packed
 * with its place among the thread's 64 columns and kept by one unsigned
 * max, in 4 independent chains per row that meet at the end: per value an
 * FADD and an IMAD on the FMA pipe and one ALU max, where a compare, a
 * select and a max took 3 ALU instructions. bias(i): the biases of the
 * thread's columns 8i + 2t, + 1 (from L1, prefetched at the tile's start:
 * wg_bias_prefetch, or from shared memory). bv, bi: the row's best
 * v = v' - M so far and its column (ties: the lower). */
template <int NI, typename Bias>
__device__ __forceinline__ void wg_fold_packed(const float (&a)[4 * NI], Bias bias,
                                               uint32_t col0, uint32_t mul, float M,
                                               uint32_t top, float (&bv)[2],
                                               uint32_t (&bi)[2]) {
    static_assert(NI <= 32, "a place among 64 columns is 6 bits");
    uint32_t m[2][4];
#pragma unroll
    for (int r = 0; r < 2; r++)
#pragma unroll
        for (int c = 0; c < 4; c++) m[r][c] = 0;
#pragma unroll
    for (int i = 0; i < NI; i++) {
        const float2 bb = bias(i);
#pragma unroll
        for (int r = 0; r < 2; r++)
#pragma unroll
            for (int jj = 0; jj < 2; jj++) {
                const float v = a[4 * i + 2 * r + jj] + (jj ? bb.y : bb.x);
                const int c = 2 * (i & 1) + jj; /* 4 chains per row */
                m[r][c] = max(m[r][c], asg_pack(v, mul, 2 * i + jj));
            }
    }
#pragma unroll
    for (int r = 0; r < 2; r++) {
        uint32_t l;
        const float v = asg_unpack(max(max(m[r][0], m[r][1]), max(m[r][2], m[r][3])), top, M, l);
        const bool better = v > bv[r];
        bv[r] = better ? v : bv[r];
        bi[r] = better ? col0 + 8 * (l >> 1) + (l & 1) : bi[r];
    }
}
/* The L1 lines of a wide tile's biases (256 floats, 8 lines), asked for
 * by the block's first 8 threads when the tile starts, so that its fold
 * does not wait for L2 (the SM's L1 serves both warpgroups). */
__device__ __forceinline__ void wg_bias_prefetch(const float *bias) {
    if (threadIdx.x < 8) asm volatile("prefetch.global.L1 [%0];" ::"l"(bias + 32 * threadIdx.x));
}

/* Back to v = |c|^2 / 2 - x.c for the thread's rows; the quad's 4 lanes
 * meet; lane t = 0 writes. row(r): the point index of the thread's row r. */
template <bool TOP2, int R, typename RowOf>
__device__ __forceinline__ void wg_write_rows(const AsgArgs &A, size_t b, float inv_s2,
                                              const float (&bv)[R], const float (&sv)[R],
                                              const uint32_t (&bi)[R], RowOf row) {
#pragma unroll
    for (int r = 0; r < R; r++) {
        float v = -bv[r] * inv_s2, v2 = -sv[r] * inv_s2;
        uint32_t i = bi[r];
        asg_quad_reduce<TOP2>(v, i, v2);
        const size_t p = row(r);
        if ((threadIdx.x & 3) == 0 && p < A.n) asg_write_row<TOP2>(A, b, p, v, v2, i);
    }
}

/* A 2-d tensor map over `rows` rows of `cols` elements of eb bytes (row
 * stride cols * eb, a multiple of 16 bytes), boxes of 128 bytes x
 * box_rows in the 128-byte swizzle wgmma reads, zeros past a row's end
 * and past the last row; with problems > 0, a 3-d map of that many blocks
 * of `rows` rows (read with wg_tma_3d). False if the driver cannot make
 * one. */
static inline bool wg_tensor_map(CUtensorMap *map, const void *base, size_t eb, size_t cols,
                                 size_t rows, uint32_t box_rows, size_t problems = 0) {
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
    /* problems > 0: rows per problem, problems the third dimension, so a
     * box past a problem's last row reads zeros, not the next problem's */
    const cuuint32_t rank = problems ? 3 : 2;
    const cuuint64_t dims[3] = {(cuuint64_t)cols, (cuuint64_t)rows, (cuuint64_t)problems};
    const cuuint64_t strides[2] = {(cuuint64_t)(cols * eb), (cuuint64_t)(rows * cols * eb)};
    const cuuint32_t box[3] = {(cuuint32_t)(WG_ROW_BYTES / eb), box_rows, 1};
    const cuuint32_t estr[3] = {1, 1, 1};
    return encode(map, eb == 4 ? CU_TENSOR_MAP_DATA_TYPE_UINT32 : CU_TENSOR_MAP_DATA_TYPE_UINT16,
                  rank, (void *)base, dims, strides, box, estr, CU_TENSOR_MAP_INTERLEAVE_NONE,
                  CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                  CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

/* A persistent kernel of WG_THREADS-thread blocks in clusters of `cl`
 * with `bytes` of shared memory: as many clusters as can be resident at
 * once (the SMs of a cluster share a GPC: fewer than SMs / cl on some
 * parts), at most `units` (each cluster walks units of work). */
template <typename Kernel, typename... Args>
static void wg_launch_clusters(Kernel kernel, unsigned cl, size_t bytes, size_t units,
                               cudaStream_t stream, Args... args) {
    cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes);
    cudaLaunchAttribute attr;
    attr.id = cudaLaunchAttributeClusterDimension;
    attr.val.clusterDim.x = cl;
    attr.val.clusterDim.y = attr.val.clusterDim.z = 1;
    cudaLaunchConfig_t cfg = {};
    cfg.blockDim = dim3(WG_THREADS);
    cfg.dynamicSmemBytes = bytes;
    cfg.stream = stream;
    cfg.attrs = &attr;
    cfg.numAttrs = 1;
    size_t clusters = (size_t)fkm_sm_count() / cl;
    if (clusters < 1) clusters = 1; /* the SM query failed: one cluster, slow but right */
    cfg.gridDim = dim3((unsigned)(clusters * cl));
    int active = 0;
    const cudaError_t before = cudaPeekAtLastError();
    if (cudaOccupancyMaxActiveClusters(&active, kernel, &cfg) != cudaSuccess) {
        /* not needed to launch: a failed query is not the run's error
         * (enqueue_iterations checks the last error), an earlier one stays */
        if (before == cudaSuccess) cudaGetLastError();
    } else if (active > 0 && (size_t)active < clusters) {
        clusters = (size_t)active;
    }
    if (clusters > units) clusters = units;
    cfg.gridDim = dim3((unsigned)(clusters * cl));
    cudaLaunchKernelEx(&cfg, kernel, args...);
}
#endif /* FKM_USE_WGMMA */

/* Each column's bias for the wgmma kernels (-|c|^2 s^2 / 2; 0 for inner
 * product, -inf past k), fkm_bias_cols(k) per problem, on the stream. */
void fkm_wgmma_bias(const AsgArgs &A, size_t batch, cudaStream_t stream);
/* The 256-column kernel (assign_wide.cu) for tf32, fp16, bf16, F16HI:
 * any d, rows 16-byte aligned (F16HI: F16X3's padded rows; tf32: stored
 * rounded, A.x_tf32, which fkm_assign_wgmma checks); launches the biases
 * too. False: not launched (no tensor map from the driver). */
bool fkm_assign_wide(AsgArgs A, int kind, size_t batch, cudaStream_t stream);
/* The centroid-resident kernel (assign_cres.cu) for fp16 and bf16 where d
 * <= 128, rows are 16-byte aligned and a problem's centroids fit the
 * shared memory of two blocks; launches the biases too. False: not
 * launched. */
bool fkm_assign_cres(AsgArgs A, int kind, size_t batch, cudaStream_t stream);
#endif
