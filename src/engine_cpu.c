/* engine_cpu.c — the CPU engine's life cycle: open (check, copy the rows it
 * will work on, precompute |x|^2, allocate all scratch so later steps cannot
 * fail half-way), gather, assign, close, and the ops table. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "engine_cpu.h"
#include "errors.h"
#include "finite.h"
#include "postprocess.h"

static void cpu_close(void *state) {
    fkm_cpu_state *s = state;
    if (!s) return;
    free(s->x); free(s->xnorm); free(s->w);
    free(s->labels); free(s->dist); free(s->cnorm); free(s->ipblock);
    free(s->hassign); free(s->hist); free(s->start); free(s->order);
    free(s);
}

static flashkm_status alloc_scratch(fkm_cpu_state *s) {
    flashkm_status st = FLASHKM_OK;
    size_t bx = s->n < FKM_CPU_BLOCK_POINTS ? s->n : FKM_CPU_BLOCK_POINTS;
    size_t by = s->k_max < FKM_CPU_BLOCK_CENTROIDS ? s->k_max
                                                   : FKM_CPU_BLOCK_CENTROIDS;
    if (!(s->labels = fkm_alloc(s->n, sizeof *s->labels, &st))) return st;
    if (!(s->dist = fkm_alloc(s->n, sizeof *s->dist, &st))) return st;
    if (!(s->cnorm = fkm_alloc(s->k_max, sizeof *s->cnorm, &st))) return st;
    if (!(s->ipblock = fkm_alloc(bx * by, sizeof *s->ipblock, &st))) return st;
    if (!(s->hassign = fkm_alloc(s->k_max, sizeof *s->hassign, &st))) return st;
    if (!(s->hist = fkm_alloc(s->k_max, sizeof *s->hist, &st))) return st;
    if (!(s->start = fkm_alloc(s->k_max + 1, sizeof *s->start, &st))) return st;
    if (!(s->order = fkm_alloc(s->n, sizeof *s->order, &st))) return st;
    return st;
}

/* Copy the opened rows (all, or data->rows) of every problem, with their
 * weights, and compute FAISS's |x|^2 of each. */
static void copy_rows(fkm_cpu_state *s, const fkm_data *data) {
    const size_t n = s->n, d = s->d, nf = data->n_full;
    const float *x = data->x;
    for (size_t b = 0; b < s->batch; b++) {
#pragma omp parallel for num_threads(s->nthreads) schedule(static)
        for (size_t i = 0; i < n; i++) {
            size_t src = data->rows ? (size_t)data->rows[i] : i;
            memcpy(s->x + (b * n + i) * d, x + (b * nf + src) * d,
                   d * sizeof(float));
            s->xnorm[b * n + i] = fkm_norm_l2sqr(s->x + (b * n + i) * d, d);
            if (s->w) s->w[b * n + i] = data->weights[b * nf + src];
        }
    }
}

static flashkm_status cpu_open(const flashkm_params *p, const fkm_data *data,
                               size_t k_max, void **state) {
    flashkm_status st = FLASHKM_OK;
    if (data->on_device)
        return fkm_set_error(FLASHKM_ERR_UNSUPPORTED,
                             "device-resident input needs the GPU engine");
    int nthreads = p->num_threads > 0 ? p->num_threads : omp_get_max_threads();
    if (data->check_finite &&
        !fkm_all_finite(data->x, data->batch * data->n_full * data->d, nthreads))
        return fkm_set_error(FLASHKM_ERR_INVALID_ARGUMENT,
                             "input contains NaN's or Inf's");
    fkm_cpu_state *s = fkm_alloc(1, sizeof *s, &st);
    if (!s) return st;
    memset(s, 0, sizeof *s);
    s->batch = data->batch; s->n = data->n; s->d = data->d;
    s->k_max = k_max; s->nthreads = nthreads;
    size_t rows = s->batch * s->n;
    if (!(s->x = fkm_alloc(rows * s->d, sizeof(float), &st)) ||
        !(s->xnorm = fkm_alloc(rows, sizeof(float), &st)) ||
        (data->weights && !(s->w = fkm_alloc(rows, sizeof(float), &st))) ||
        (st = alloc_scratch(s)) != FLASHKM_OK) {
        cpu_close(s);
        return st;
    }
    copy_rows(s, data);
    *state = s;
    return FLASHKM_OK;
}

static flashkm_status cpu_gather(void *state, const int64_t *rows,
                                 size_t count, float *out) {
    fkm_cpu_state *s = state;
    for (size_t b = 0; b < s->batch; b++)
        for (size_t r = 0; r < count; r++)
            memcpy(out + (b * count + r) * s->d,
                   s->x + (b * s->n + (size_t)rows[r]) * s->d,
                   s->d * sizeof(float));
    return FLASHKM_OK;
}

static flashkm_status cpu_assign(void *state, const float *centroids, size_t k,
                                 flashkm_metric metric, int64_t *labels,
                                 float *distances) {
    fkm_cpu_state *s = state;
    if (k > s->k_max)
        return fkm_set_error(FLASHKM_ERR_INTERNAL,
                             "cpu assign: k = %zu but opened for %zu", k,
                             s->k_max);
    for (size_t b = 0; b < s->batch; b++) {
        fkm_cpu_assign_problem(s, b, centroids + b * k * s->d, k, metric,
                               s->labels, s->dist);
        if (labels) memcpy(labels + b * s->n, s->labels, s->n * sizeof *labels);
        if (distances)
            memcpy(distances + b * s->n, s->dist, s->n * sizeof *distances);
    }
    return FLASHKM_OK;
}

const fkm_engine_ops fkm_cpu_engine = {
    "cpu", FLASHKM_ENGINE_CPU, cpu_open, cpu_gather, fkm_cpu_lloyd,
    cpu_assign, cpu_close,
};
