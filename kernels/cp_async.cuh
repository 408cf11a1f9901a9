/* cp_async.cuh — the asynchronous global -> shared copies (cp.async) the
 * kernels pipeline with: FlashAssign's point and centroid tiles
 * (assign_common.cuh) and the update's row stages (update_sum.cu). */
#ifndef FKM_CP_ASYNC_CUH
#define FKM_CP_ASYNC_CUH
#include <stdint.h>

/* 16 bytes global -> shared (a shared-space address), zero-filled past
 * `bytes` (0 .. 16). */
__device__ __forceinline__ void cp_async16_s(uint32_t dst, const void *src, int bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(src), "r"(bytes));
}
__device__ __forceinline__ void cp_async16(void *dst, const void *src, int bytes = 16) {
    cp_async16_s((uint32_t)__cvta_generic_to_shared(dst), src, bytes);
}
/* 4 bytes (a row index, a weight) */
__device__ __forceinline__ void cp_async4(void *dst, const void *src) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4;" ::"r"(
                     (uint32_t)__cvta_generic_to_shared(dst)), "l"(src));
}
/* The L2 policy of rows worth keeping there from one iteration to the next
 * (fkm_gpu_state.x_l2_keep): evicted after every line of normal priority. */
__device__ __forceinline__ uint64_t fkm_l2_keep_policy() {
    uint64_t p;
    asm("createpolicy.fractional.L2::evict_last.b64 %0, 1.0;" : "=l"(p));
    return p;
}
__device__ __forceinline__ uint32_t ldg_keep_u32(const void *p, uint64_t policy) {
    uint32_t v;
    asm("ld.global.nc.L2::cache_hint.b32 %0, [%1], %2;" : "=r"(v) : "l"(p), "l"(policy));
    return v;
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;"); }
/* Until at most N groups are pending. No memory clobber: every caller
 * meets the other threads at a barrier before reading, which orders it. */
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;" ::"n"(N)); }
/* The same for a run-time n (a stage count - 2), 0 .. 6: compares, the
 * common depths first (the update's rings wait with 1 or 2 pending), not
 * a switch, whose jump table showed in the update's per-stage stalls. */
__device__ __forceinline__ void cp_async_wait_pending(int n) {
    if (n == 2) cp_async_wait<2>();
    else if (n == 1) cp_async_wait<1>();
    else if (n <= 0) cp_async_wait<0>();
    else if (n == 3) cp_async_wait<3>();
    else if (n == 4) cp_async_wait<4>();
    else if (n == 5) cp_async_wait<5>();
    else cp_async_wait<6>();
}
#endif
