/* engine_cpu_lloyd.c — FAISS's inner k-means loop on the CPU, one problem
 * of the batch after the other: assign, objective (a float sum in point
 * order, as FAISS's `float obj`), centroid update, empty-cluster split,
 * statistics, post-processing. */
#include "engine_cpu.h"
#include "errors.h"
#include "postprocess.h"
#include "split_clusters.h"
#include "stats.h"

static float objective_of(const float *dist, size_t n) {
    float obj = 0;
    for (size_t j = 0; j < n; j++) obj += dist[j];
    return obj;
}

static void run_problem(fkm_cpu_state *s, const fkm_lloyd_config *cfg,
                        size_t b, float *cent, flashkm_iteration_stats *stats,
                        float *objective, double t0, double *search) {
    const size_t k = cfg->k, n = s->n, d = s->d;
    float obj = 0;
    for (int it = 0; it < cfg->niter; it++) {
        double t0s = fkm_now();
        fkm_cpu_assign_problem(s, b, cent, k, cfg->metric, s->labels, s->dist);
        *search += fkm_now() - t0s;
        obj = objective_of(s->dist, n);
        fkm_cpu_update_problem(s, b, k, cfg->k_frozen, cent);
        int nsplit = fkm_split_clusters(d, k, n, cfg->k_frozen, s->hassign,
                                        cent, &s->mt);
        flashkm_iteration_stats st;
        st.objective = obj;
        st.time = fkm_now() - t0;
        st.time_search = *search;
        st.imbalance_factor = fkm_imbalance_factor(k, s->hist);
        st.nsplit = nsplit;
        stats[b * (size_t)cfg->niter + (size_t)it] = st;
        if (cfg->on_iteration) cfg->on_iteration(cfg->ctx, b, it, &st);
        fkm_postprocess(cent, k, d, cfg->spherical, cfg->int_centroids);
    }
    objective[b] = obj;
}

flashkm_status fkm_cpu_lloyd(void *state, const fkm_lloyd_config *cfg,
                             float *centroids, flashkm_iteration_stats *stats,
                             float *objective, double t0, double *search0) {
    fkm_cpu_state *s = state;
    if (cfg->k > s->k_max || cfg->k_frozen > cfg->k)
        return fkm_set_error(FLASHKM_ERR_INTERNAL,
                             "cpu lloyd: k = %zu (frozen %zu) but opened for "
                             "%zu", cfg->k, cfg->k_frozen, s->k_max);
    for (size_t b = 0; b < s->batch; b++)
        run_problem(s, cfg, b, centroids + b * cfg->k * s->d, stats,
                    objective, t0, &search0[b]);
    return FLASHKM_OK;
}
