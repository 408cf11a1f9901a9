/* finite.h — FAISS's "input contains NaN's or Inf's" check on host data. */
#ifndef FKM_FINITE_H
#define FKM_FINITE_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif

/* 1 when all count values are finite; nthreads OpenMP threads (0: default). */
int fkm_all_finite(const float *x, size_t count, int nthreads);
#ifdef __cplusplus
}
#endif
#endif
