/* api.c — the public entry points: check everything, then hand over to the
 * driver (training) or straight to an engine (assignment). */
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "errors.h"
#include "params.h"

int flashkm_gpu_available(void) { return fkm_gpu_engine_available(); }

flashkm_status fkm_pick_engine(const flashkm_params *p, int on_device,
                               const fkm_engine_ops **eng) {
    int gpu_ok = fkm_gpu_engine_available();
    if (p->engine == FLASHKM_ENGINE_CPU) {
        if (on_device)
            return fkm_set_error(FLASHKM_ERR_UNSUPPORTED,
                                 "device-resident input needs the GPU engine "
                                 "(params->engine is FLASHKM_ENGINE_CPU)");
        *eng = &fkm_cpu_engine;
        return FLASHKM_OK;
    }
    if (gpu_ok) {
        *eng = &fkm_gpu_engine;
        return FLASHKM_OK;
    }
    if (p->engine == FLASHKM_ENGINE_AUTO && !on_device) {
        *eng = &fkm_cpu_engine;
        return FLASHKM_OK;
    }
#ifdef FKM_HAVE_CUDA
    return fkm_set_error(FLASHKM_ERR_NO_DEVICE, "no usable CUDA device");
#else
    return fkm_set_error(FLASHKM_ERR_NO_DEVICE, "flashkm was built without CUDA");
#endif
}

flashkm_status flashkm_train_batch(const flashkm_params *params, size_t batch,
                                   size_t n, size_t d, size_t k,
                                   const float *x, flashkm_output *outs) {
    fkm_clear_error();
    flashkm_status st = fkm_check_train(params, batch, n, d, k, x, outs);
    if (st) return st;
    fkm_train_request r = {params, batch, n, d, k, x, FLASHKM_DTYPE_F32, 0,
                           outs};
    return fkm_train_run(&r);
}

flashkm_status flashkm_train(const flashkm_params *params, size_t n, size_t d,
                             size_t k, const float *x, flashkm_output *out) {
    return flashkm_train_batch(params, 1, n, d, k, x, out);
}

flashkm_status flashkm_train_batch_device(const flashkm_params *params, size_t batch,
                                          size_t n, size_t d, size_t k, const void *x,
                                          flashkm_dtype dtype, flashkm_output *outs) {
    fkm_clear_error();
    flashkm_status st = fkm_check_train(params, batch, n, d, k, x, outs);
    if (st) return st;
    if ((unsigned)dtype > FLASHKM_DTYPE_BF16)
        return fkm_set_error(FLASHKM_ERR_INVALID_ARGUMENT,
                             "dtype = %d: unknown dtype", (int)dtype);
    fkm_train_request r = {params, batch, n, d, k, x, dtype, 1, outs};
    return fkm_train_run(&r);
}

flashkm_status flashkm_train_device(const flashkm_params *params, size_t n,
                                    size_t d, size_t k, const void *x,
                                    flashkm_dtype dtype, flashkm_output *out) {
    return flashkm_train_batch_device(params, 1, n, d, k, x, dtype, out);
}

flashkm_status flashkm_assign(const flashkm_params *params, size_t n, size_t d,
                              size_t k, const float *x, const float *centroids,
                              int64_t *labels, float *distances) {
    fkm_clear_error();
    flashkm_status st = fkm_check_assign(params, n, d, k, x, centroids, labels,
                                         distances);
    if (st || n == 0) return st;
    const fkm_engine_ops *eng = NULL;
    if ((st = fkm_pick_engine(params, 0, &eng))) return st;
    fkm_data data = {1, n, d, x, n, FLASHKM_DTYPE_F32, 0, NULL, NULL, 1};
    void *state = NULL;
    int64_t *lab = NULL;
    float *dis = NULL;
    if ((st = eng->open(params, &data, k, &state))) return st;
    if ((lab = fkm_alloc(n, sizeof *lab, &st)) &&
        (dis = fkm_alloc(n, sizeof *dis, &st)))
        st = eng->assign(state, centroids, k, params->metric, lab, dis);
    eng->close(state);
    if (st == FLASHKM_OK) { /* outputs only once everything succeeded */
        if (labels) memcpy(labels, lab, n * sizeof *lab);
        if (distances) memcpy(distances, dis, n * sizeof *dis);
    }
    free(lab);
    free(dis);
    return st;
}
