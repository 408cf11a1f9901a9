/* host_rows.c — the multi-threaded row copy behind the GPU engine's upload. */
#include "host_rows.h"

#include <omp.h>
#include <string.h>

/* Below this a team of threads costs more than it saves. */
#define FKM_COPY_PARALLEL_BYTES ((size_t)1 << 20)

void fkm_copy_rows(float *dst, const float *src, const int64_t *rows, size_t count,
                   size_t d, int nthreads) {
    const size_t row_bytes = d * sizeof(float), total = count * row_bytes;
    if (nthreads <= 0) nthreads = omp_get_max_threads();
    if (total < FKM_COPY_PARALLEL_BYTES) nthreads = 1;
    if (rows) {
#pragma omp parallel for num_threads(nthreads) schedule(static)
        for (size_t i = 0; i < count; i++)
            memcpy(dst + i * d, src + (size_t)rows[i] * d, row_bytes);
        return;
    }
    /* Contiguous: one slice of whole cache lines per thread. */
#pragma omp parallel num_threads(nthreads)
    {
        size_t t = (size_t)omp_get_thread_num(), nt = (size_t)omp_get_num_threads();
        size_t per = (total / nt + 63) & ~(size_t)63;
        size_t lo = t * per < total ? t * per : total;
        size_t hi = lo + per < total ? lo + per : total;
        if (hi > lo) memcpy((char *)dst + lo, (const char *)src + lo, hi - lo);
    }
}
