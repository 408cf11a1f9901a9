/* params.h — defaults and the argument checks every public entry point
 * runs before touching any output (so a failed call leaves them as they
 * were). */
#ifndef FKM_PARAMS_H
#define FKM_PARAMS_H
#include <stddef.h>
#include "flashkm.h"
#ifdef __cplusplus
extern "C" {
#endif

/* Element counts above this are refused as "absurd size" before any
 * allocation is tried (2^40 floats = 4 TiB). */
#define FKM_ABSURD_ELEMENTS ((size_t)1 << 40)

/* The fields of *p alone (ranges, enums, pointer pairs). */
flashkm_status fkm_check_params(const flashkm_params *p);

/* Everything flashkm_train / _batch / _device need: params, sizes, x,
 * outs[0 .. batch-1]. */
flashkm_status fkm_check_train(const flashkm_params *p, size_t batch,
                               size_t n, size_t d, size_t k, const void *x,
                               const flashkm_output *outs);

/* flashkm_assign's arguments. */
flashkm_status fkm_check_assign(const flashkm_params *p, size_t n, size_t d,
                                size_t k, const float *x,
                                const float *centroids, const int64_t *labels,
                                const float *distances);
#ifdef __cplusplus
}
#endif
#endif
