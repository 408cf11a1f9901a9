/* postprocess.h — FAISS's post_process_centroids on host memory, shared by
 * the driver (initial centroids) and the CPU engine (every iteration). */
#ifndef FKM_POSTPROCESS_H
#define FKM_POSTPROCESS_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif

/* FAISS's fvec_norm_L2sqr as Debian's generic x86-64 build computes it:
 * float products summed in double, rounded to float. */
float fkm_norm_l2sqr(const float *x, size_t d);

/* spherical: each of the k rows scaled by (float)(1.0 / sqrtf(|row|^2))
 * when |row|^2 > 0 (fvec_renorm_L2); then int_centroids: roundf. */
void fkm_postprocess(float *centroids, size_t k, size_t d, int spherical,
                     int int_centroids);
#ifdef __cplusplus
}
#endif
#endif
