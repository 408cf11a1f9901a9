/* gpu_open.h — the buffers of one opened GPU engine, in allocation order,
 * and the open/close entry points (gpu_open.cu) used by gpu_engine.cu. */
#ifndef FKM_GPU_OPEN_H
#define FKM_GPU_OPEN_H
#include "gpu_state.h"

enum {
    B_X, B_XA, B_SCALE, B_XNORM, B_W, B_CENT, B_CENTA, B_CNORM, B_DIST, B_KEYS, B_KEYS2,
    B_IOTA, B_ORDER, B_SEG, B_FINISHED, B_PART, B_HASSIGN, B_SORT, B_OBJ, B_STATS, B_MT,
    B_C16, B_CMAX, B_UNC, B_UNCN, B_BIAS, B_XNMAX, FKM_NBUF
};

#ifdef __cplusplus
extern "C" {
#endif
flashkm_status fkm_gpu_open(const flashkm_params *p, const fkm_data *data, size_t k_max,
                            void **state);
void fkm_gpu_close(void *state);
#ifdef __cplusplus
}
#endif
#endif
