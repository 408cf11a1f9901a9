/* postprocess.c — spherical renormalisation and integer rounding, written
 * with FAISS's exact float/double mix so the results are bit-identical. */
#include "postprocess.h"

#include <math.h>

float fkm_norm_l2sqr(const float *x, size_t d) {
    double res = 0;
    for (size_t i = 0; i < d; i++) res += x[i] * x[i];
    return (float)res;
}

void fkm_postprocess(float *centroids, size_t k, size_t d, int spherical,
                     int int_centroids) {
    if (spherical) {
        for (size_t i = 0; i < k; i++) {
            float *c = centroids + i * d;
            float nr = fkm_norm_l2sqr(c, d);
            if (nr > 0) {
                const float inv_nr = (float)(1.0 / sqrtf(nr));
                for (size_t j = 0; j < d; j++) c[j] *= inv_nr;
            }
        }
    }
    if (int_centroids) {
        for (size_t i = 0; i < k * d; i++) centroids[i] = roundf(centroids[i]);
    }
}
