/* finite.c — the non-finite input check, parallel since it reads all of x. */
#include "finite.h"

#include <math.h>
#include <omp.h>

int fkm_all_finite(const float *x, size_t count, int nthreads) {
    int bad = 0;
    if (nthreads <= 0) nthreads = omp_get_max_threads();
#pragma omp parallel for num_threads(nthreads) reduction(| : bad) schedule(static)
    for (size_t i = 0; i < count; i++) bad |= !isfinite(x[i]);
    return !bad;
}
