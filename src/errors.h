/* errors.h — the thread-local last-error message behind
 * flashkm_last_error(), and helpers every part of the library uses to set
 * it. */
#ifndef FKM_ERRORS_H
#define FKM_ERRORS_H
#include "flashkm.h"
#ifdef __cplusplus
extern "C" {
#endif
/* Format the message and return status (printf-style), for
 * `return fkm_set_error(FLASHKM_ERR_INVALID_ARGUMENT, "k = %zu", k);`. */
flashkm_status fkm_set_error(flashkm_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Clear the message at the start of a public call. */
void fkm_clear_error(void);
/* Monotonic seconds, for the statistics' time fields. */
double fkm_now(void);
/* malloc that sets FLASHKM_ERR_OUT_OF_MEMORY naming the bytes on failure
 * (and on size overflow of count * size). Test builds can make it fail. */
void *fkm_alloc(size_t count, size_t size, flashkm_status *status);
/* The error the GPU engine's CUDA call being made now must report instead
 * of running (a cudaError_t value), or 0: flashkm_test_fail_device_after's
 * countdown (test_hooks.h). */
int fkm_test_device_fault(void);
#ifdef __cplusplus
}
#endif
#endif
