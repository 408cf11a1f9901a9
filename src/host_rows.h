/* host_rows.h — moving host rows into the GPU engine's pinned staging with
 * several threads: one thread copies about 9 GB/s, the transfer it feeds
 * runs at 50 (H200, bench/cold_start.c). */
#ifndef FKM_HOST_ROWS_H
#define FKM_HOST_ROWS_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

/* dst[i] = row rows[i] of src (row i when rows is NULL), for i in
 * 0 .. count-1, rows of d floats; nthreads OpenMP threads (0: default). */
void fkm_copy_rows(float *dst, const float *src, const int64_t *rows, size_t count,
                   size_t d, int nthreads);
#ifdef __cplusplus
}
#endif
#endif
