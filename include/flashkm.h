/*
 * flashkm.h — exact k-means on the GPU (and CPU), with FAISS's semantics.
 *
 * This header is the manual of flashkm's C API. Every function returns a
 * flashkm_status; FLASHKM_OK (0) on success, a negative value otherwise, and
 * then flashkm_last_error() holds a message naming what went wrong. A failed
 * call leaves every output buffer untouched. Nothing in the library aborts,
 * exits or prints, except the progress lines asked for with `verbose`.
 *
 * The algorithm is FAISS's Clustering::train (1.7.3), step for step: the same
 * subsample (rand_perm(seed)), the same initial centroids
 * (rand_perm(seed + 1 + redo * 15486557)), the same empty-cluster split
 * (mt19937(1234)), the same statistics and the same choice among redos.
 *
 * Thread safety: every function may be called from several threads at once;
 * calls share no mutable state, and the last-error message is per thread.
 *
 * Versioning: FLASHKM_VERSION_* give the header's version, flashkm_version()
 * the library's. Within one major version, structs only grow at their end
 * and enums only gain values; always fill a params struct with
 * flashkm_params_init() before setting fields.
 */
#ifndef FLASHKM_H
#define FLASHKM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FLASHKM_VERSION_MAJOR 0
#define FLASHKM_VERSION_MINOR 2
#define FLASHKM_VERSION_PATCH 0
#define FLASHKM_VERSION_STRING "0.2.0"

#if defined(__GNUC__)
#define FLASHKM_API __attribute__((visibility("default")))
#else
#define FLASHKM_API
#endif

/** Result of every call. */
typedef enum flashkm_status {
    FLASHKM_OK = 0,
    /** A parameter or size is invalid; the message names it. */
    FLASHKM_ERR_INVALID_ARGUMENT = -1,
    /** Host or device memory could not be allocated; the message gives the
     *  bytes asked for and where (host or device). */
    FLASHKM_ERR_OUT_OF_MEMORY = -2,
    /** engine GPU was asked for, but the library was built without CUDA or
     *  no usable CUDA device is present. */
    FLASHKM_ERR_NO_DEVICE = -3,
    /** A CUDA call or kernel failed; the message has CUDA's own text. */
    FLASHKM_ERR_DEVICE = -4,
    /** The request is valid but this build or engine cannot serve it
     *  (device-resident input on the CPU engine, say). */
    FLASHKM_ERR_UNSUPPORTED = -5,
    /** A bug in flashkm: please report the message. */
    FLASHKM_ERR_INTERNAL = -6
} flashkm_status;

/** Distance used to assign points to centroids (FAISS's metric_type). */
typedef enum flashkm_metric {
    /** Squared Euclidean distance; the nearest centroid wins. */
    FLASHKM_METRIC_L2 = 0,
    /** Inner product; the largest product wins (FAISS's
     *  METRIC_INNER_PRODUCT, usually with spherical = 1). */
    FLASHKM_METRIC_INNER_PRODUCT = 1
} flashkm_metric;

/** Which engine runs the iterations. */
typedef enum flashkm_engine {
    /** The GPU when one is usable, else the CPU. */
    FLASHKM_ENGINE_AUTO = 0,
    FLASHKM_ENGINE_CPU = 1,
    /** The GPU or FLASHKM_ERR_NO_DEVICE. */
    FLASHKM_ENGINE_GPU = 2
} flashkm_engine;

/** Arithmetic of the assignment step on the GPU. The CPU engine always
 *  computes in fp32 and accepts every value. Centroid updates are always
 *  accumulated in fp32 or wider. */
typedef enum flashkm_precision {
    /** As accurate as FAISS's fp32 CPU search (the default). */
    FLASHKM_PRECISION_FP32 = 0,
    /** TensorFloat-32 products (10-bit mantissa), fp32 accumulation. */
    FLASHKM_PRECISION_TF32 = 1,
    /** Points and centroids rounded to fp16, fp32 accumulation. */
    FLASHKM_PRECISION_FP16 = 2,
    /** Points and centroids rounded to bf16, fp32 accumulation. */
    FLASHKM_PRECISION_BF16 = 3
} flashkm_precision;

/** Element type of device-resident input (flashkm_train_device). */
typedef enum flashkm_dtype {
    FLASHKM_DTYPE_F32 = 0,
    FLASHKM_DTYPE_F16 = 1,
    FLASHKM_DTYPE_BF16 = 2
} flashkm_dtype;

/** Statistics of one iteration; the same fields as FAISS's
 *  ClusteringIterationStats. */
typedef struct flashkm_iteration_stats {
    /** Sum of the assigned distances (before the centroid update). */
    float objective;
    /** Seconds since the start of the iterations, at the end of this one. */
    double time;
    /** Seconds spent in the assignment step so far, all redos together. */
    double time_search;
    /** k * sum(h^2) / (sum h)^2 over h = points per centroid; 1 is perfect. */
    double imbalance_factor;
    /** Empty clusters split at this iteration. */
    int nsplit;
} flashkm_iteration_stats;

/** What to compute and how. Fill with flashkm_params_init(), then change
 *  the fields you need. Pointers are borrowed for the duration of a call. */
typedef struct flashkm_params {
    /* --- FAISS's ClusteringParameters, same names and defaults --- */
    /** Lloyd iterations per redo (25). */
    int niter;
    /** Independent runs with different initial centroids; the best final
     *  objective is kept (1). */
    int nredo;
    /** Print FAISS's progress lines on stdout (0). */
    int verbose;
    /** L2-normalise the centroids after each iteration (0). */
    int spherical;
    /** Round centroid coordinates to integers after each iteration (0). */
    int int_centroids;
    /** With init_centroids: never update them (0). */
    int frozen_centroids;
    /** Below k * min_points_per_centroid points, FAISS warns on stderr; so
     *  does flashkm, unless quiet_warnings is set (39). */
    int min_points_per_centroid;
    /** Above k * max_points_per_centroid points, train on a random subset of
     *  that many (256). */
    int max_points_per_centroid;
    /** Random seed for the subsample and the initial centroids (1234). */
    int seed;

    /* --- what FAISS takes from the index and the call --- */
    /** Distance for the assignment (FLASHKM_METRIC_L2). */
    flashkm_metric metric;
    /** Optional per-point weights, n floats (batch * n for the batched
     *  call), or NULL for 1 each. */
    const float *weights;
    /** Optional centroids to start from: n_init_centroids rows of d floats
     *  (batch * n_init_centroids rows for the batched call). They become
     *  centroids 0 .. n_init_centroids - 1; the rest are drawn from the data.
     *  NULL when n_init_centroids is 0. */
    const float *init_centroids;
    size_t n_init_centroids;

    /* --- flashkm's own --- */
    /** Engine (FLASHKM_ENGINE_AUTO). */
    flashkm_engine engine;
    /** GPU assignment arithmetic (FLASHKM_PRECISION_FP32). */
    flashkm_precision precision;
    /** CUDA device ordinal (0). */
    int device;
    /** cudaStream_t to run on, or NULL for one the call creates (NULL). */
    void *stream;
    /** Threads for the CPU engine's own loops (argmin, update); 0 uses
     *  OpenMP's default (0). The distance products run in OpenBLAS, called
     *  exactly as FAISS calls it so that results are FAISS's bit for bit;
     *  its threads follow OPENBLAS_NUM_THREADS, since OpenBLAS has no safe
     *  per-call thread count. */
    int num_threads;
    /** Refuse GPU work needing more than this many device bytes, with
     *  FLASHKM_ERR_OUT_OF_MEMORY; 0 means no limit beyond the device's own.
     *  The environment variable FLASHKM_GPU_MEMORY_LIMIT sets it too. (0) */
    size_t gpu_memory_limit;
    /** Do not print FAISS's "WARNING clustering ..." line on stderr (0). */
    int quiet_warnings;
} flashkm_params;

/** Where results go. Set the pointers you want, zero the rest. */
typedef struct flashkm_output {
    /** Required: k * d floats, the final centroids, row-major. */
    float *centroids;
    /** Optional: n labels, each point's nearest final centroid. */
    int64_t *labels;
    /** Optional: n distances to that centroid (squared L2, or the inner
     *  product), as FAISS's IndexFlat search gives them. */
    float *distances;
    /** Optional: room for stats_capacity iteration statistics. FAISS keeps
     *  the statistics of every redo up to and including the best one, so
     *  niter * nredo entries always suffice; fewer are written if fewer fit. */
    flashkm_iteration_stats *stats;
    size_t stats_capacity;

    /* --- written by the call --- */
    /** Statistics entries FAISS would hold (may exceed stats_capacity). */
    size_t n_stats;
    /** Final objective of the kept run (FAISS's last obj). */
    float objective;
    /** The engine that ran (never FLASHKM_ENGINE_AUTO after a call). */
    flashkm_engine engine_used;
} flashkm_output;

/** The library's version, "MAJOR.MINOR.PATCH". */
FLASHKM_API const char *flashkm_version(void);

/** The message of this thread's last failed call ("" if none). Valid until
 *  this thread's next flashkm call. */
FLASHKM_API const char *flashkm_last_error(void);

/** A constant name for a status ("FLASHKM_ERR_OUT_OF_MEMORY", ...). */
FLASHKM_API const char *flashkm_status_string(flashkm_status status);

/** Fill *params with FAISS's defaults (see each field). */
FLASHKM_API flashkm_status flashkm_params_init(flashkm_params *params);

/** 1 when the GPU engine is built in and a CUDA device is usable, else 0.
 *  Never fails; "no driver" counts as no device. */
FLASHKM_API int flashkm_gpu_available(void);

/**
 * Train k centroids on n points of d dimensions.
 *
 * x: n * d floats, row-major, on the host. out->centroids receives k * d
 * floats; labels, distances and stats are filled when given.
 * Errors: INVALID_ARGUMENT for n < k, k == 0, d == 0, NULL pointers, sizes
 * whose product overflows, non-finite input ("input contains NaN's or
 * Inf's"), bad parameter values; OUT_OF_MEMORY; NO_DEVICE; DEVICE.
 */
FLASHKM_API flashkm_status flashkm_train(const flashkm_params *params,
                                         size_t n, size_t d, size_t k,
                                         const float *x, flashkm_output *out);

/**
 * Train `batch` independent problems at once: problem b is the n * d floats
 * at x + b * n * d and writes outs[b]. Each problem behaves exactly as
 * flashkm_train on its own data (same seed for each). weights and
 * init_centroids, when given, hold batch consecutive blocks.
 */
FLASHKM_API flashkm_status flashkm_train_batch(const flashkm_params *params,
                                               size_t batch, size_t n,
                                               size_t d, size_t k,
                                               const float *x,
                                               flashkm_output *outs);

/**
 * As flashkm_train, with x already in GPU memory as n * d values of dtype
 * (row-major, on params->device). Outputs are host memory. Needs the GPU
 * engine.
 */
FLASHKM_API flashkm_status flashkm_train_device(const flashkm_params *params,
                                                size_t n, size_t d, size_t k,
                                                const void *x,
                                                flashkm_dtype dtype,
                                                flashkm_output *out);

/**
 * As flashkm_train_batch, with x already in GPU memory: problem b is the
 * n * d values of dtype at element b * n * d (row-major, on
 * params->device), and writes outs[b] (host memory). Each problem behaves
 * exactly as flashkm_train_device on its own data. Needs the GPU engine.
 * Since 0.2.0.
 */
FLASHKM_API flashkm_status flashkm_train_batch_device(const flashkm_params *params,
                                                      size_t batch, size_t n,
                                                      size_t d, size_t k,
                                                      const void *x,
                                                      flashkm_dtype dtype,
                                                      flashkm_output *outs);

/**
 * Assign n points to their nearest of k centroids (largest inner product
 * with FLASHKM_METRIC_INNER_PRODUCT). Uses params->metric, engine,
 * precision, device, num_threads. labels and distances: n each; either may
 * be NULL, not both.
 */
FLASHKM_API flashkm_status flashkm_assign(const flashkm_params *params,
                                          size_t n, size_t d, size_t k,
                                          const float *x,
                                          const float *centroids,
                                          int64_t *labels, float *distances);

#ifdef __cplusplus
}
#endif

#endif /* FLASHKM_H */
