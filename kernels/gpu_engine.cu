/* gpu_engine.cu — the GPU engine's ops (engine.h): gather, lloyd, assign,
 * and the table the driver calls. The Lloyd loop stays on the device: per
 * iteration, centroid preparation, FlashAssign, sort-inverse update,
 * objective / split / statistics / post-processing are all launches on one
 * stream, timed with events, and the host reads the results once at the
 * end of the run. */
#include <stdlib.h>
#include <string.h>

#include "gpu_open.h"

/* Runs `body` with the engine's device current, restoring the caller's. */
#define FKM_ON_DEVICE(s, body)                                         \
    do {                                                               \
        int fkm_prev_ = 0;                                             \
        cudaGetDevice(&fkm_prev_);                                     \
        cudaError_t fkm_e_ = fkm_ck(cudaSetDevice((s)->device));               \
        flashkm_status fkm_st_ = fkm_e_ == cudaSuccess                 \
                                     ? (body)                          \
                                     : fkm_cuda_status(fkm_e_, "cudaSetDevice"); \
        cudaSetDevice(fkm_prev_);                                      \
        return fkm_st_;                                                \
    } while (0)

static flashkm_status gather_on(fkm_gpu_state *s, const int64_t *rows, size_t count,
                                float *out) {
    if (count == 0) return FLASHKM_OK;
    if (count > s->n) return fkm_set_error(FLASHKM_ERR_INTERNAL, "gpu gather: %zu rows", count);
    flashkm_status st = FLASHKM_OK;
    uint32_t *r32 = (uint32_t *)fkm_alloc(count, sizeof(uint32_t), &st);
    if (!r32) return st;
    for (size_t i = 0; i < count; i++) r32[i] = (uint32_t)rows[i];
    const size_t floats = s->batch * count * s->d;
    float *dst = s->cent, *tmp = NULL;
    cudaError_t e = cudaSuccess;
    if (count > s->k_max) { /* larger than the centroid buffer: a temporary */
        e = fkm_ck(cudaMalloc((void **)&tmp, floats * sizeof(float)));
        dst = tmp;
    }
    if (e == cudaSuccess)
        e = fkm_ck(cudaMemcpyAsync(s->order, r32, count * sizeof(uint32_t),
                                   cudaMemcpyHostToDevice, s->stream));
    if (e == cudaSuccess) {
        fkm_launch_gather_rows_f32(s, s->order, count, dst);
        e = fkm_ck(cudaGetLastError());
    }
    if (e == cudaSuccess)
        e = fkm_ck(cudaMemcpyAsync(out, dst, floats * sizeof(float), cudaMemcpyDeviceToHost, s->stream));
    if (e == cudaSuccess) e = fkm_ck(cudaStreamSynchronize(s->stream));
    if (tmp) cudaFree(tmp);
    free(r32);
    return e == cudaSuccess ? FLASHKM_OK : fkm_cuda_status(e, "gpu gather");
}

static flashkm_status gpu_gather(void *state, const int64_t *rows, size_t count, float *out) {
    fkm_gpu_state *s = (fkm_gpu_state *)state;
    FKM_ON_DEVICE(s, gather_on(s, rows, count, out));
}

/* Host -> device centroids, then their assignment copy and norms. */
static cudaError_t load_centroids(fkm_gpu_state *s, const float *centroids, size_t k) {
    cudaError_t e = fkm_ck(cudaMemcpyAsync(s->cent, centroids,
                                           s->batch * k * s->d * sizeof(float),
                                           cudaMemcpyHostToDevice, s->stream));
    if (e != cudaSuccess) return e;
    fkm_launch_prepare_centroids(s, k);
    return fkm_ck(cudaGetLastError());
}

typedef struct lloyd_events {
    cudaEvent_t start;
    cudaEvent_t *it_begin, *searched, *it_end; /* niter each */
} lloyd_events;

static void events_destroy(lloyd_events *ev, int niter) {
    if (ev->start) cudaEventDestroy(ev->start);
    for (int i = 0; i < niter; i++) {
        if (ev->it_begin && ev->it_begin[i]) cudaEventDestroy(ev->it_begin[i]);
        if (ev->searched && ev->searched[i]) cudaEventDestroy(ev->searched[i]);
        if (ev->it_end && ev->it_end[i]) cudaEventDestroy(ev->it_end[i]);
    }
    free(ev->it_begin);
    free(ev->searched);
    free(ev->it_end);
}

static cudaError_t events_create(lloyd_events *ev, int niter) {
    memset(ev, 0, sizeof *ev);
    ev->it_begin = (cudaEvent_t *)calloc((size_t)niter, sizeof(cudaEvent_t));
    ev->searched = (cudaEvent_t *)calloc((size_t)niter, sizeof(cudaEvent_t));
    ev->it_end = (cudaEvent_t *)calloc((size_t)niter, sizeof(cudaEvent_t));
    if (!ev->it_begin || !ev->searched || !ev->it_end) return cudaErrorMemoryAllocation;
    cudaError_t e = fkm_ck(cudaEventCreate(&ev->start));
    for (int i = 0; i < niter && e == cudaSuccess; i++) {
        e = fkm_ck(cudaEventCreate(&ev->it_begin[i]));
        if (e == cudaSuccess) e = fkm_ck(cudaEventCreate(&ev->searched[i]));
        if (e == cudaSuccess) e = fkm_ck(cudaEventCreate(&ev->it_end[i]));
    }
    return e;
}

/* The iterations, all enqueued without waiting on the host. */
static cudaError_t enqueue_iterations(fkm_gpu_state *s, const fkm_lloyd_config *cfg,
                                      lloyd_events *ev) {
    const size_t k = cfg->k;
    cudaError_t e = fkm_ck(cudaEventRecord(ev->start, s->stream));
    for (int it = 0; it < cfg->niter && e == cudaSuccess; it++) {
        e = fkm_ck(cudaEventRecord(ev->it_begin[it], s->stream));
        if (e != cudaSuccess) break;
        if (it > 0) fkm_launch_prepare_centroids(s, k);
        fkm_launch_assign(s, k, cfg->metric);
        e = fkm_ck(cudaEventRecord(ev->searched[it], s->stream));
        if (e != cudaSuccess) break;
        fkm_launch_update(s, k, cfg->k_frozen);
        fkm_launch_finish_iteration(s, k, cfg->k_frozen, it, cfg->niter, cfg->spherical,
                                    cfg->int_centroids);
        e = fkm_ck(cudaEventRecord(ev->it_end[it], s->stream));
        if (e == cudaSuccess) e = fkm_ck(cudaGetLastError());
    }
    return e;
}

/* Statistics back to the host, with times from the events. */
static flashkm_status report(fkm_gpu_state *s, const fkm_lloyd_config *cfg, lloyd_events *ev,
                             flashkm_iteration_stats *stats, float *objective, double t_start,
                             double t0, double *search0) {
    const size_t nst = s->batch * (size_t)cfg->niter;
    FKM_CUDA_TRY(cudaMemcpy(stats, s->dstats, nst * sizeof *stats, cudaMemcpyDeviceToHost));
    double search = 0;
    for (int it = 0; it < cfg->niter; it++) {
        float ms_search = 0, ms_end = 0;
        FKM_CUDA_TRY(cudaEventElapsedTime(&ms_search, ev->it_begin[it], ev->searched[it]));
        FKM_CUDA_TRY(cudaEventElapsedTime(&ms_end, ev->start, ev->it_end[it]));
        search += ms_search * 1e-3;
        for (size_t b = 0; b < s->batch; b++) {
            flashkm_iteration_stats *st = &stats[b * (size_t)cfg->niter + (size_t)it];
            st->time = (t_start - t0) + ms_end * 1e-3;
            st->time_search = search0[b] + search;
        }
    }
    for (size_t b = 0; b < s->batch; b++) {
        objective[b] = stats[b * (size_t)cfg->niter + (size_t)cfg->niter - 1].objective;
        search0[b] += search;
        if (cfg->on_iteration)
            for (int it = 0; it < cfg->niter; it++)
                cfg->on_iteration(cfg->ctx, b, it, &stats[b * (size_t)cfg->niter + (size_t)it]);
    }
    return FLASHKM_OK;
}

static flashkm_status lloyd_on(fkm_gpu_state *s, const fkm_lloyd_config *cfg, float *centroids,
                               flashkm_iteration_stats *stats, float *objective, double t0,
                               double *search0) {
    if (cfg->k > s->k_max || cfg->k_frozen > cfg->k || cfg->niter > s->niter_cap)
        return fkm_set_error(FLASHKM_ERR_INTERNAL,
                             "gpu lloyd: k = %zu (frozen %zu), niter %d but opened for k %zu, "
                             "niter %d", cfg->k, cfg->k_frozen, cfg->niter, s->k_max, s->niter_cap);
    if (cfg->niter <= 0) {
        for (size_t b = 0; b < s->batch; b++) objective[b] = 0;
        return FLASHKM_OK;
    }
    const double t_start = fkm_now();
    FKM_CUDA_TRY(load_centroids(s, centroids, cfg->k));
    lloyd_events ev;
    cudaError_t e = events_create(&ev, cfg->niter);
    if (e == cudaSuccess) e = enqueue_iterations(s, cfg, &ev);
    if (e == cudaSuccess) e = fkm_ck(cudaStreamSynchronize(s->stream));
    flashkm_status st = e == cudaSuccess ? FLASHKM_OK : fkm_cuda_status(e, "gpu lloyd");
    if (st == FLASHKM_OK) st = report(s, cfg, &ev, stats, objective, t_start, t0, search0);
    if (st == FLASHKM_OK) {
        e = fkm_ck(cudaMemcpy(centroids, s->cent, s->batch * cfg->k * s->d * sizeof(float),
                              cudaMemcpyDeviceToHost));
        if (e != cudaSuccess) st = fkm_cuda_status(e, "centroids download");
    }
    events_destroy(&ev, cfg->niter);
    return st;
}

static flashkm_status gpu_lloyd(void *state, const fkm_lloyd_config *cfg, float *centroids,
                                flashkm_iteration_stats *stats, float *objective, double t0,
                                double *search0) {
    fkm_gpu_state *s = (fkm_gpu_state *)state;
    FKM_ON_DEVICE(s, lloyd_on(s, cfg, centroids, stats, objective, t0, search0));
}

static flashkm_status assign_on(fkm_gpu_state *s, const float *centroids, size_t k,
                                flashkm_metric metric, int64_t *labels, float *distances) {
    if (k > s->k_max) return fkm_set_error(FLASHKM_ERR_INTERNAL, "gpu assign: k = %zu", k);
    const size_t rows = s->batch * s->n;
    FKM_CUDA_TRY(load_centroids(s, centroids, k));
    fkm_launch_assign(s, k, metric);
    FKM_CUDA_TRY(cudaGetLastError());
    if (distances)
        FKM_CUDA_TRY(cudaMemcpyAsync(distances, s->dist, rows * sizeof(float),
                                     cudaMemcpyDeviceToHost, s->stream));
    if (labels) {
        flashkm_status st = FLASHKM_OK;
        uint32_t *keys = (uint32_t *)fkm_alloc(rows, sizeof(uint32_t), &st);
        if (!keys) return st;
        cudaError_t e = fkm_ck(cudaMemcpyAsync(keys, s->keys, rows * sizeof(uint32_t),
                                               cudaMemcpyDeviceToHost, s->stream));
        if (e == cudaSuccess) e = fkm_ck(cudaStreamSynchronize(s->stream));
        if (e == cudaSuccess)
            for (size_t i = 0; i < rows; i++)
                labels[i] = (int64_t)keys[i] - (int64_t)((i / s->n) * k);
        free(keys);
        if (e != cudaSuccess) return fkm_cuda_status(e, "labels download");
    }
    FKM_CUDA_TRY(cudaStreamSynchronize(s->stream));
    return FLASHKM_OK;
}

static flashkm_status gpu_assign(void *state, const float *centroids, size_t k,
                                 flashkm_metric metric, int64_t *labels, float *distances) {
    fkm_gpu_state *s = (fkm_gpu_state *)state;
    FKM_ON_DEVICE(s, assign_on(s, centroids, k, metric, labels, distances));
}

extern "C" {
const fkm_engine_ops fkm_gpu_engine = {
    "gpu", FLASHKM_ENGINE_GPU, fkm_gpu_open, gpu_gather, gpu_lloyd, gpu_assign, fkm_gpu_close,
};

int fkm_gpu_engine_available(void) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return count > 0;
}
}
