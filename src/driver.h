/* driver.h — FAISS's Clustering::train_encoded on top of an engine: used by
 * the public entry points in api.c. */
#ifndef FKM_DRIVER_H
#define FKM_DRIVER_H
#include <stddef.h>
#include "engine.h"
#ifdef __cplusplus
extern "C" {
#endif

/* One training request: `batch` problems of n x d (host floats, or device
 * values of dtype when on_device), results in outs[0 .. batch-1]. The
 * arguments have been checked (fkm_check_train). */
typedef struct fkm_train_request {
    const flashkm_params *p;
    size_t batch, n, d, k;
    const void *x;
    flashkm_dtype dtype;
    int on_device;
    flashkm_output *outs;
} fkm_train_request;

/* The engine params->engine asks for: AUTO gives the GPU when usable, else
 * the CPU (or NO_DEVICE when the input is on the device). */
flashkm_status fkm_pick_engine(const flashkm_params *p, int on_device,
                               const fkm_engine_ops **eng);

flashkm_status fkm_train_run(const fkm_train_request *r);
#ifdef __cplusplus
}
#endif
#endif
