/* engine_gpu_stub.c — the GPU engine of a build without CUDA: present so
 * the driver needs no #ifdefs, and answering FLASHKM_ERR_NO_DEVICE. Only
 * compiled when FLASHKM_HAVE_CUDA is off (see CMakeLists.txt). */
#include "engine.h"
#include "errors.h"

static flashkm_status stub_open(const flashkm_params *p, const fkm_data *data,
                                size_t k_max, void **state) {
    (void)p; (void)data; (void)k_max; (void)state;
    return fkm_set_error(FLASHKM_ERR_NO_DEVICE,
                         "flashkm was built without CUDA");
}

static flashkm_status stub_gather(void *state, const int64_t *rows,
                                  size_t count, float *out) {
    (void)state; (void)rows; (void)count; (void)out;
    return fkm_set_error(FLASHKM_ERR_NO_DEVICE, "flashkm was built without CUDA");
}

static flashkm_status stub_lloyd(void *state, const fkm_lloyd_config *cfg,
                                 float *centroids,
                                 flashkm_iteration_stats *stats,
                                 float *objective, double t0,
                                 double *search0) {
    (void)state; (void)cfg; (void)centroids; (void)stats; (void)objective;
    (void)t0; (void)search0;
    return fkm_set_error(FLASHKM_ERR_NO_DEVICE, "flashkm was built without CUDA");
}

static flashkm_status stub_assign(void *state, const float *centroids,
                                  size_t k, flashkm_metric metric,
                                  int64_t *labels, float *distances) {
    (void)state; (void)centroids; (void)k; (void)metric; (void)labels;
    (void)distances;
    return fkm_set_error(FLASHKM_ERR_NO_DEVICE, "flashkm was built without CUDA");
}

static void stub_close(void *state) { (void)state; }

const fkm_engine_ops fkm_gpu_engine = {
    "gpu", FLASHKM_ENGINE_GPU, stub_open, stub_gather, stub_lloyd,
    stub_assign, stub_close,
};

int fkm_gpu_engine_available(void) { return 0; }
