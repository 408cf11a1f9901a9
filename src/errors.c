/* errors.c — the per-thread last-error message, status names, the clock
 * and the checked allocator. Per-thread so that concurrent calls never see
 * each other's messages (flashkm.h's thread-safety promise). */
#define _POSIX_C_SOURCE 200809L
#include "errors.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "test_hooks.h"

#define FKM_ERROR_CAP 1024

static _Thread_local char fkm_last_error_buf[FKM_ERROR_CAP];

/* TEST ONLY (see test_hooks.h): countdown of allocations before one fails;
 * -1 = never fail. */
static _Thread_local long fkm_fail_alloc_countdown = -1;
/* ... and of checked CUDA calls before one reports fkm_device_fault_code. */
static _Thread_local long fkm_fail_device_countdown = -1;
static _Thread_local int fkm_device_fault_code;

flashkm_status fkm_set_error(flashkm_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fkm_last_error_buf, sizeof fkm_last_error_buf, fmt, ap);
    va_end(ap);
    return status;
}

void fkm_clear_error(void) { fkm_last_error_buf[0] = '\0'; }

const char *flashkm_last_error(void) { return fkm_last_error_buf; }

const char *flashkm_status_string(flashkm_status status) {
    switch (status) {
    case FLASHKM_OK: return "FLASHKM_OK";
    case FLASHKM_ERR_INVALID_ARGUMENT: return "FLASHKM_ERR_INVALID_ARGUMENT";
    case FLASHKM_ERR_OUT_OF_MEMORY: return "FLASHKM_ERR_OUT_OF_MEMORY";
    case FLASHKM_ERR_NO_DEVICE: return "FLASHKM_ERR_NO_DEVICE";
    case FLASHKM_ERR_DEVICE: return "FLASHKM_ERR_DEVICE";
    case FLASHKM_ERR_UNSUPPORTED: return "FLASHKM_ERR_UNSUPPORTED";
    case FLASHKM_ERR_INTERNAL: return "FLASHKM_ERR_INTERNAL";
    }
    return "FLASHKM_ERR_UNKNOWN";
}

double fkm_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int flashkm_test_fail_alloc_after(long n) {
    long prev = fkm_fail_alloc_countdown;
    fkm_fail_alloc_countdown = n < 0 ? -1 : n;
    return (int)prev;
}

long flashkm_test_fail_device_after(long n, int cuda_error) {
    long prev = fkm_fail_device_countdown;
    fkm_fail_device_countdown = n < 0 ? -1 : n;
    fkm_device_fault_code = cuda_error;
    return prev;
}

int fkm_test_device_fault(void) {
    if (fkm_fail_device_countdown < 0) return 0;
    if (fkm_fail_device_countdown-- > 0) return 0;
    return fkm_device_fault_code; /* countdown is now -1: disarmed */
}

void *fkm_alloc(size_t count, size_t size, flashkm_status *status) {
    if (size != 0 && count > SIZE_MAX / size) {
        *status = fkm_set_error(FLASHKM_ERR_OUT_OF_MEMORY,
                                "could not allocate %zu x %zu bytes of host "
                                "memory: size overflows", count, size);
        return NULL;
    }
    size_t bytes = count * size;
    if (fkm_fail_alloc_countdown == 0) {
        fkm_fail_alloc_countdown = -1;
        *status = fkm_set_error(FLASHKM_ERR_OUT_OF_MEMORY,
                                "could not allocate %zu bytes of host memory "
                                "(injected failure)", bytes);
        return NULL;
    }
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        *status = fkm_set_error(FLASHKM_ERR_OUT_OF_MEMORY,
                                "could not allocate %zu bytes of host memory",
                                bytes);
        return NULL;
    }
    if (fkm_fail_alloc_countdown > 0) fkm_fail_alloc_countdown--;
    return p;
}
