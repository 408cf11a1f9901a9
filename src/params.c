/* params.c — flashkm_params_init (FAISS 1.7.3's ClusteringParameters
 * defaults), the version, and argument validation. */
#include "params.h"

#include <string.h>

#include "errors.h"

const char *flashkm_version(void) { return FLASHKM_VERSION_STRING; }

flashkm_status flashkm_params_init(flashkm_params *p) {
    fkm_clear_error();
    if (!p) return fkm_set_error(FLASHKM_ERR_INVALID_ARGUMENT, "params is NULL");
    memset(p, 0, sizeof *p);
    p->niter = 25;
    p->nredo = 1;
    p->min_points_per_centroid = 39;
    p->max_points_per_centroid = 256;
    p->seed = 1234;
    p->metric = FLASHKM_METRIC_L2;
    p->engine = FLASHKM_ENGINE_AUTO;
    p->precision = FLASHKM_PRECISION_FP32;
    return FLASHKM_OK;
}

#define BAD(...) fkm_set_error(FLASHKM_ERR_INVALID_ARGUMENT, __VA_ARGS__)

flashkm_status fkm_check_params(const flashkm_params *p) {
    if (!p) return BAD("params is NULL");
    if (p->niter < 0) return BAD("params->niter = %d: must be >= 0", p->niter);
    if (p->nredo < 1) return BAD("params->nredo = %d: must be >= 1", p->nredo);
    if (p->min_points_per_centroid < 0)
        return BAD("params->min_points_per_centroid = %d: must be >= 0",
                   p->min_points_per_centroid);
    if (p->max_points_per_centroid < 1)
        return BAD("params->max_points_per_centroid = %d: must be >= 1",
                   p->max_points_per_centroid);
    if ((unsigned)p->metric > FLASHKM_METRIC_INNER_PRODUCT)
        return BAD("params->metric = %d: unknown metric", (int)p->metric);
    if ((unsigned)p->engine > FLASHKM_ENGINE_GPU)
        return BAD("params->engine = %d: unknown engine", (int)p->engine);
    if ((unsigned)p->precision > FLASHKM_PRECISION_BF16)
        return BAD("params->precision = %d: unknown precision",
                   (int)p->precision);
    if (p->num_threads < 0)
        return BAD("params->num_threads = %d: must be >= 0", p->num_threads);
    if (p->device < 0)
        return BAD("params->device = %d: must be >= 0", p->device);
    return FLASHKM_OK;
}

/* a * b * c elements, refusing overflow and absurd totals. */
static flashkm_status check_size(const char *what, size_t a, size_t b,
                                 size_t c) {
    size_t lim = FKM_ABSURD_ELEMENTS;
    if ((b && a > lim / b) || (c && a * b > lim / c))
        return BAD("%s = %zu x %zu x %zu elements: absurd size", what, a, b, c);
    return FLASHKM_OK;
}

static flashkm_status check_problem(const flashkm_params *p, size_t batch,
                                    size_t n, size_t d, size_t k) {
    flashkm_status st;
    if (d == 0) return BAD("d = 0: dimension must be >= 1");
    if (k == 0) return BAD("k = 0: number of clusters must be >= 1");
    if ((st = check_size("batch * n * d", batch, n, d))) return st;
    if ((st = check_size("batch * k * d", batch, k, d))) return st;
    if ((st = check_size("batch * niter * nredo", batch, (size_t)p->niter,
                         (size_t)p->nredo)))
        return st;
    /* BLAS and FAISS take int sizes */
    if (k > 0x7fffffff) return BAD("k = %zu: absurd size", k);
    if (d > 0x7fffffff) return BAD("d = %zu: absurd size", d);
    if (p->n_init_centroids > k)
        return BAD("params->n_init_centroids = %zu exceeds k = %zu",
                   p->n_init_centroids, k);
    if (p->n_init_centroids > 0 && !p->init_centroids)
        return BAD("params->init_centroids is NULL but n_init_centroids = %zu",
                   p->n_init_centroids);
    return FLASHKM_OK;
}

flashkm_status fkm_check_train(const flashkm_params *p, size_t batch,
                               size_t n, size_t d, size_t k, const void *x,
                               const flashkm_output *outs) {
    flashkm_status st = fkm_check_params(p);
    if (st) return st;
    if (batch == 0) return BAD("batch = 0: must be >= 1");
    if (!x) return BAD("x is NULL");
    if (!outs) return BAD("out is NULL");
    for (size_t b = 0; b < batch; b++) {
        if (!outs[b].centroids) return BAD("out[%zu].centroids is NULL", b);
        if (outs[b].stats_capacity > 0 && !outs[b].stats)
            return BAD("out[%zu].stats is NULL but stats_capacity = %zu", b,
                       outs[b].stats_capacity);
    }
    if ((st = check_problem(p, batch, n, d, k))) return st;
    if (n < k)
        return BAD("Number of training points (%zu) should be at least as "
                   "large as number of clusters (%zu)", n, k);
    return FLASHKM_OK;
}

flashkm_status fkm_check_assign(const flashkm_params *p, size_t n, size_t d,
                                size_t k, const float *x,
                                const float *centroids, const int64_t *labels,
                                const float *distances) {
    flashkm_status st = fkm_check_params(p);
    if (st) return st;
    if (!x && n > 0) return BAD("x is NULL");
    if (!centroids) return BAD("centroids is NULL");
    if (!labels && !distances) return BAD("labels and distances are both NULL");
    if (d == 0) return BAD("d = 0: dimension must be >= 1");
    if (k == 0) return BAD("k = 0: number of centroids must be >= 1");
    if ((st = check_size("n * d", 1, n, d))) return st;
    if ((st = check_size("k * d", 1, k, d))) return st;
    if (k > 0x7fffffff) return BAD("k = %zu: absurd size", k);
    if (d > 0x7fffffff) return BAD("d = %zu: absurd size", d);
    return FLASHKM_OK;
}
