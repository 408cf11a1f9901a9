/* test_hooks.h — TEST-ONLY entry points of libflashkm. They exist so the
 * test suite can drive failure paths (out-of-memory at every allocation,
 * as SQLite's tests do) that a real machine never reaches on demand.
 * Applications must not call them. */
#ifndef FKM_TEST_HOOKS_H
#define FKM_TEST_HOOKS_H
#include "flashkm.h"
#ifdef __cplusplus
extern "C" {
#endif
/* TEST ONLY. After n more successful fkm_alloc() calls on this thread, the
 * next one fails with FLASHKM_ERR_OUT_OF_MEMORY (then the hook disarms).
 * n = -1 disarms it. Returns the previous setting. Thread-local. */
FLASHKM_API int flashkm_test_fail_alloc_after(long n);
/* TEST ONLY. After n more checked CUDA calls on this thread (the GPU
 * engine's every runtime call), the next one is not made and reports
 * cuda_error instead (a cudaError_t value: 2 = out of memory, 719 = a
 * kernel fault, ...), as a failing driver would; then the hook disarms.
 * n = -1 disarms it. Returns the countdown left (-1: the failure fired, or
 * was never armed). Thread-local. No effect in a build without CUDA. */
FLASHKM_API long flashkm_test_fail_device_after(long n, int cuda_error);
#ifdef __cplusplus
}
#endif
#endif
