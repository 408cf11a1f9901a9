/* engine.h — what a compute engine (CPU in src/engine_cpu*.c, GPU in
 * kernels/) provides to the Lloyd driver (src/driver.c).
 *
 * The driver owns everything FAISS decides on the host and that must be the
 * same for every engine: argument checks, the subsample, the initial
 * centroids, the redo loop and the choice of the best run, verbose lines.
 * An engine owns the data it was opened on and runs whole Lloyd runs on it:
 * assignment, objective, centroid update, empty-cluster split (through
 * split_clusters.h, shared), statistics and post-processing — so the GPU
 * engine keeps every iteration on the device with no host round trip.
 *
 * All entry points return a flashkm_status and set the thread's error
 * message through fkm_set_error() on failure; none aborts. */
#ifndef FKM_ENGINE_H
#define FKM_ENGINE_H
#include <stddef.h>
#include <stdint.h>
#include "flashkm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The data an engine is opened on: `batch` problems of n rows of d values. */
typedef struct fkm_data {
    size_t batch, n, d;
    /* batch * n_full * d values, row-major; on the host (float) unless
     * on_device, then of type dtype on device `device`. */
    const void *x;
    size_t n_full;            /* rows per problem in x */
    flashkm_dtype dtype;
    int on_device;
    /* Optional subset: problem b uses rows rows[0..n-1] of its own block
     * (n <= n_full). NULL: rows 0..n-1 with n == n_full. */
    const int64_t *rows;
    /* Optional weights: batch * n_full floats, host; NULL for 1. */
    const float *weights;
    /* Check that every value of x (all n_full rows) is finite; failure is
     * FLASHKM_ERR_INVALID_ARGUMENT "input contains NaN's or Inf's". */
    int check_finite;
} fkm_data;

/* One Lloyd run (FAISS's inner loop over niter iterations). */
typedef struct fkm_lloyd_config {
    size_t k;
    size_t k_frozen;          /* first k_frozen centroids never move */
    int niter;
    flashkm_metric metric;
    int spherical, int_centroids;
    /* Called by the engine for each finished iteration, possibly all at the
     * end of the run (the GPU engine), in order: problem b, iteration it. */
    void (*on_iteration)(void *ctx, size_t b, int it,
                         const flashkm_iteration_stats *s);
    void *ctx;
} fkm_lloyd_config;

typedef struct fkm_engine_ops {
    const char *name;         /* "cpu", "gpu" */
    flashkm_engine kind;

    /* Open on data (copied or uploaded as the engine needs; the caller may
     * free data->x after open returns) for at most k_max centroids. */
    flashkm_status (*open)(const flashkm_params *p, const fkm_data *data,
                           size_t k_max, void **state);

    /* Copy rows (count indices into each problem's opened rows 0..n-1) as
     * fp32 into out: batch * count * d floats, host. For initial centroids. */
    flashkm_status (*gather)(void *state, const int64_t *rows, size_t count,
                             float *out);

    /* Run cfg->niter iterations from centroids (batch * k * d, host, in and
     * out: final centroids after post-processing). Writes
     * stats[b * niter + it] with time fields relative to t0 (fkm_now()
     * seconds), time_search starting from search0[b] seconds; writes
     * objective[b] (the last iteration's obj, as FAISS's loop leaves it)
     * and adds this run's search seconds to search0[b]. */
    flashkm_status (*lloyd)(void *state, const fkm_lloyd_config *cfg,
                            float *centroids, flashkm_iteration_stats *stats,
                            float *objective, double t0, double *search0);

    /* Nearest centroid of every opened row: labels and/or distances
     * (batch * n each, either may be NULL) for centroids batch * k * d. */
    flashkm_status (*assign)(void *state, const float *centroids, size_t k,
                             flashkm_metric metric, int64_t *labels,
                             float *distances);

    void (*close)(void *state);
} fkm_engine_ops;

/* The CPU engine: always present. */
extern const fkm_engine_ops fkm_cpu_engine;

/* The GPU engine: in kernels/ when built with CUDA; otherwise a stand-in
 * whose open() returns FLASHKM_ERR_NO_DEVICE. */
extern const fkm_engine_ops fkm_gpu_engine;
/* 1 when the GPU engine can run on some device now. */
int fkm_gpu_engine_available(void);

#ifdef __cplusplus
}
#endif
#endif
