/* driver.c — FAISS 1.7.3's Clustering::train_encoded, step for step, on top
 * of an engine (engine.h): subsample, corner case n == k, initial centroids
 * per redo, the redo loop with FAISS's choice of the best run and its
 * statistics quirk, then the labels of all points. Every result is built in
 * buffers of our own and copied to the caller's outputs only at the end, so
 * a failed call leaves them untouched. */
#include "driver.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "finite.h"
#include "postprocess.h"
#include "rand_perm.h"

/* Everything one call owns; freed by run_free. */
typedef struct run {
    const fkm_train_request *r;
    const fkm_engine_ops *eng;
    void *state;
    size_t nx;                    /* training rows per problem */
    size_t stride;                /* all_stats entries per problem */
    int64_t *sub_rows;            /* nx subsampled rows, or NULL */
    float *cur, *best;            /* batch * k * d */
    flashkm_iteration_stats *run_stats;   /* batch * niter, one redo */
    flashkm_iteration_stats *all_stats;   /* batch * nredo * niter */
    float *obj, *best_obj;        /* batch */
    int *best_redo;               /* batch */
    size_t *n_stats;              /* batch */
    double *search;               /* batch */
    int64_t *labels;              /* batch * n, when asked */
    float *dist;                  /* batch * n, when asked */
} run;

static void run_free(run *R) {
    if (R->state) R->eng->close(R->state);
    free(R->sub_rows); free(R->cur); free(R->best); free(R->run_stats);
    free(R->all_stats); free(R->obj); free(R->best_obj); free(R->best_redo);
    free(R->n_stats); free(R->search); free(R->labels); free(R->dist);
}

static void verbose_iteration(void *ctx, size_t b, int it,
                              const flashkm_iteration_stats *s) {
    (void)ctx; (void)b;
    printf("  Iteration %d (%.2f s, search %.2f s): "
           "objective=%g imbalance=%.3f nsplit=%d       \r",
           it, s->time, s->time_search, s->objective, s->imbalance_factor,
           s->nsplit);
    fflush(stdout);
}

static int wants_labels(const fkm_train_request *r) {
    for (size_t b = 0; b < r->batch; b++)
        if (r->outs[b].labels || r->outs[b].distances) return 1;
    return 0;
}

static flashkm_status alloc_run(run *R) {
    const fkm_train_request *r = R->r;
    const size_t B = r->batch, kd = r->k * r->d;
    const size_t niter = (size_t)r->p->niter, nredo = (size_t)r->p->nredo;
    flashkm_status st = FLASHKM_OK;
    R->stride = niter * nredo > 0 ? niter * nredo : 1;
    if (!(R->cur = fkm_alloc(B * kd, sizeof(float), &st)) ||
        (nredo > 1 && !(R->best = fkm_alloc(B * kd, sizeof(float), &st))) ||
        !(R->run_stats = fkm_alloc(B * niter, sizeof *R->run_stats, &st)) ||
        !(R->all_stats = fkm_alloc(B * R->stride, sizeof *R->all_stats, &st)) ||
        !(R->obj = fkm_alloc(B, sizeof(float), &st)) ||
        !(R->best_obj = fkm_alloc(B, sizeof(float), &st)) ||
        !(R->best_redo = fkm_alloc(B, sizeof(int), &st)) ||
        !(R->n_stats = fkm_alloc(B, sizeof(size_t), &st)) ||
        !(R->search = fkm_alloc(B, sizeof(double), &st)))
        return st;
    if (wants_labels(r) &&
        (!(R->labels = fkm_alloc(B * r->n, sizeof(int64_t), &st)) ||
         !(R->dist = fkm_alloc(B * r->n, sizeof(float), &st))))
        return st;
    return FLASHKM_OK;
}

/* FAISS's subsample (rows perm[0 .. k*max-1] of rand_perm(n, seed)) or its
 * warning about too few points. */
static flashkm_status subsample(run *R) {
    const fkm_train_request *r = R->r;
    const flashkm_params *p = r->p;
    const size_t cap = r->k * (size_t)p->max_points_per_centroid;
    flashkm_status st = FLASHKM_OK;
    R->nx = r->n;
    if (r->n > cap) {
        if (p->verbose)
            printf("Sampling a subset of %zd / %" PRId64 " for training\n",
                   cap, (int64_t)r->n);
        if (!(R->sub_rows = fkm_alloc(cap, sizeof(int64_t), &st))) return st;
        if ((st = fkm_rand_perm_first(r->n, (uint32_t)p->seed, cap,
                                      R->sub_rows)))
            return st;
        R->nx = cap;
    } else if (r->n < r->k * (size_t)p->min_points_per_centroid &&
               !p->quiet_warnings) {
        fprintf(stderr,
                "WARNING clustering %" PRId64 " points to %zd centroids: "
                "please provide at least %" PRId64 " training points\n",
                (int64_t)r->n, r->k,
                (int64_t)r->k * p->min_points_per_centroid);
    }
    return FLASHKM_OK;
}

static flashkm_status open_engine(run *R, const int64_t *rows, size_t n,
                                  int first) {
    const fkm_train_request *r = R->r;
    /* host data was checked already; the engine checks device data */
    fkm_data data = {r->batch, n, r->d, r->x, r->n, r->dtype, r->on_device,
                     rows, r->p->weights, first && r->on_device};
    return R->eng->open(r->p, &data, r->k, &R->state);
}

/* FAISS's corner case nx == k: the centroids are the first k rows of the
 * ORIGINAL input (even after a subsample), one fake iteration. */
static flashkm_status corner_case(run *R) {
    const fkm_train_request *r = R->r;
    flashkm_status st = FLASHKM_OK;
    if (r->p->verbose)
        printf("Number of training points (%" PRId64 ") same as number of "
               "clusters, just copying\n", (int64_t)R->nx);
    int64_t *rows = fkm_alloc(r->k, sizeof *rows, &st);
    if (!rows) return st;
    for (size_t i = 0; i < r->k; i++) rows[i] = (int64_t)i;
    st = R->eng->gather(R->state, rows, r->k, R->cur);
    free(rows);
    if (st) return st;
    flashkm_iteration_stats fake = {0.0f, 0.0, 0.0, 1.0, 0};
    for (size_t b = 0; b < r->batch; b++) {
        R->all_stats[b * R->stride] = fake;
        R->n_stats[b] = 1;
        R->best_obj[b] = 0;
    }
    return FLASHKM_OK;
}

/* Redo `redo`'s initial centroids: rows n_init .. k-1 are points
 * perm[i] (same index i) of rand_perm(nx, seed + 1 + redo * 15486557);
 * rows 0 .. n_init-1 keep what they hold (the input centroids at redo 0,
 * and — FAISS quirk — what the previous redo left there afterwards). */
static flashkm_status init_centroids(run *R, int redo) {
    const fkm_train_request *r = R->r;
    const size_t k = r->k, d = r->d, n_init = r->p->n_init_centroids;
    const size_t count = k - n_init;
    flashkm_status st = FLASHKM_OK;
    int64_t *perm = NULL;
    float *rows = NULL;
    if (count > 0) {
        if (!(perm = fkm_alloc(k, sizeof *perm, &st)) ||
            (st = fkm_rand_perm_first(R->nx, fkm_redo_seed(r->p->seed, redo),
                                      k, perm)) ||
            !(rows = fkm_alloc(r->batch * count * d, sizeof *rows, &st)) ||
            (st = R->eng->gather(R->state, perm + n_init, count, rows))) {
            free(perm);
            free(rows);
            return st;
        }
        for (size_t b = 0; b < r->batch; b++)
            memcpy(R->cur + (b * k + n_init) * d, rows + b * count * d,
                   count * d * sizeof(float));
    }
    for (size_t b = 0; b < r->batch; b++)
        fkm_postprocess(R->cur + b * k * d, k, d, r->p->spherical,
                        r->p->int_centroids);
    free(perm);
    free(rows);
    return FLASHKM_OK;
}

/* After a redo: FAISS keeps a run when its objective is strictly better
 * (lower for L2, higher for IP), together with every statistics entry
 * recorded so far. */
static void keep_if_better(run *R, int redo) {
    const fkm_train_request *r = R->r;
    const size_t kd = r->k * r->d, niter = (size_t)r->p->niter;
    int lower = r->p->metric != FLASHKM_METRIC_INNER_PRODUCT;
    for (size_t b = 0; b < r->batch; b++) {
        memcpy(R->all_stats + b * R->stride + (size_t)redo * niter,
               R->run_stats + b * niter, niter * sizeof *R->run_stats);
        if (r->p->nredo == 1) {
            R->best_obj[b] = R->obj[b];
            R->n_stats[b] = niter;
            continue;
        }
        float o = R->obj[b];
        if ((lower && o < R->best_obj[b]) || (!lower && o > R->best_obj[b])) {
            if (r->p->verbose) printf("Objective improved: keep new clusters\n");
            memcpy(R->best + b * kd, R->cur + b * kd, kd * sizeof(float));
            R->best_obj[b] = o;
            R->best_redo[b] = redo;
            R->n_stats[b] = ((size_t)redo + 1) * niter;
        }
    }
}

static void print_header(const run *R, double t_start) {
    const fkm_train_request *r = R->r;
    const flashkm_params *p = r->p;
    printf("Clustering %" PRId64 " points in %zdD to %zd clusters, "
           "redo %d times, %d iterations\n",
           (int64_t)R->nx, r->d, r->k, p->nredo, p->niter);
    if (p->n_init_centroids > 0)
        printf("  Using %zd centroids provided as input (%sfrozen)\n",
               p->n_init_centroids, p->frozen_centroids ? "" : "not ");
    printf("  Preprocessing in %.2f s\n", fkm_now() - t_start);
}

static flashkm_status lloyd_redos(run *R, double t_start) {
    const fkm_train_request *r = R->r;
    const flashkm_params *p = r->p;
    const size_t k = r->k, d = r->d, n_init = p->n_init_centroids;
    flashkm_status st;
    if (p->verbose) print_header(R, t_start);
    double t0 = fkm_now();
    for (size_t b = 0; b < r->batch; b++) {
        if (n_init > 0) /* init_centroids may be NULL then: no NULL + 0 */
            memcpy(R->cur + b * k * d, p->init_centroids + b * n_init * d,
                   n_init * d * sizeof(float));
        R->search[b] = 0;
        R->best_redo[b] = -1;
        R->n_stats[b] = 0;
        R->best_obj[b] = p->metric == FLASHKM_METRIC_INNER_PRODUCT ? -HUGE_VALF
                                                                   : HUGE_VALF;
    }
    fkm_lloyd_config cfg = {k, p->frozen_centroids ? n_init : 0, p->niter,
                            p->metric, p->spherical, p->int_centroids,
                            p->verbose ? verbose_iteration : NULL, NULL};
    for (int redo = 0; redo < p->nredo; redo++) {
        if (p->verbose && p->nredo > 1)
            printf("Outer iteration %d / %d\n", redo, p->nredo);
        if ((st = init_centroids(R, redo))) return st;
        if ((st = R->eng->lloyd(R->state, &cfg, R->cur, R->run_stats, R->obj,
                                t0, R->search)))
            return st;
        if (p->verbose) printf("\n");
        keep_if_better(R, redo);
    }
    /* The kept run's centroids; a problem whose objective never compared
     * better (NaN) keeps its last run. */
    for (size_t b = 0; p->nredo > 1 && b < r->batch; b++)
        if (R->best_redo[b] >= 0)
            memcpy(R->cur + b * k * d, R->best + b * k * d,
                   k * d * sizeof(float));
    return FLASHKM_OK;
}

/* Labels and distances of all n points with the final centroids, on the
 * full data (re-opened when training used a subsample). */
static flashkm_status final_assign(run *R) {
    const fkm_train_request *r = R->r;
    flashkm_status st;
    if (!R->labels) return FLASHKM_OK;
    if (R->nx != r->n || R->sub_rows) {
        R->eng->close(R->state);
        R->state = NULL;
        if ((st = open_engine(R, NULL, r->n, 0))) return st;
    }
    return R->eng->assign(R->state, R->cur, r->k, r->p->metric, R->labels,
                          R->dist);
}

static void copy_out(const run *R) {
    const fkm_train_request *r = R->r;
    const size_t kd = r->k * r->d;
    for (size_t b = 0; b < r->batch; b++) {
        flashkm_output *o = &r->outs[b];
        memcpy(o->centroids, R->cur + b * kd, kd * sizeof(float));
        size_t ns = R->n_stats[b] < o->stats_capacity ? R->n_stats[b]
                                                      : o->stats_capacity;
        if (ns) memcpy(o->stats, R->all_stats + b * R->stride, ns * sizeof *o->stats);
        o->n_stats = R->n_stats[b];
        o->objective = R->best_obj[b];
        o->engine_used = R->eng->kind;
        if (o->labels)
            memcpy(o->labels, R->labels + b * r->n, r->n * sizeof(int64_t));
        if (o->distances)
            memcpy(o->distances, R->dist + b * r->n, r->n * sizeof(float));
    }
}

flashkm_status fkm_train_run(const fkm_train_request *r) {
    double t_start = fkm_now();
    run R;
    memset(&R, 0, sizeof R);
    R.r = r;
    flashkm_status st = fkm_pick_engine(r->p, r->on_device, &R.eng);
    if (st) goto done;
    /* FAISS checks the values before anything else (no warning printed for
     * bad input); device input is checked by the engine when it opens. */
    if (!r->on_device &&
        !fkm_all_finite(r->x, r->batch * r->n * r->d, r->p->num_threads)) {
        st = fkm_set_error(FLASHKM_ERR_INVALID_ARGUMENT,
                           "input contains NaN's or Inf's");
        goto done;
    }
    if ((st = alloc_run(&R)) || (st = subsample(&R))) goto done;
    if (R.nx == r->k) {
        /* gather rows 0..k-1 of the original: open on all rows */
        if ((st = open_engine(&R, NULL, r->n, 1)) || (st = corner_case(&R)))
            goto done;
        R.nx = r->n;   /* opened rows are the full data: no re-open below */
        free(R.sub_rows);
        R.sub_rows = NULL;
    } else if ((st = open_engine(&R, R.sub_rows, R.nx, 1)) ||
               (st = lloyd_redos(&R, t_start))) {
        goto done;
    }
    if ((st = final_assign(&R))) goto done;
    copy_out(&R);
done:
    run_free(&R);
    return st;
}
