/* engine_cpu_update.c — FAISS's compute_centroids on the CPU.
 *
 * FAISS sums each centroid's points in increasing point order, in float
 * (c += x, or c += x * w), counts in float (h += 1.0 or h += w), then
 * scales by norm = 1 / h. We do the same arithmetic in the same order, so
 * the centroids are bit-identical to FAISS's, and independent of the
 * number of threads: a stable counting sort groups each centroid's points
 * (in point order), then threads take whole centroids. */
#include <string.h>

#include "engine_cpu.h"

/* s->hist = points per centroid; s->order = point indices grouped by
 * centroid, increasing within a group; s->start = group offsets. */
static void group_by_centroid(fkm_cpu_state *s, size_t k) {
    const size_t n = s->n;
    const int64_t *lab = s->labels;
    memset(s->hist, 0, k * sizeof *s->hist);
    for (size_t i = 0; i < n; i++) s->hist[lab[i]]++;
    size_t acc = 0;
    for (size_t c = 0; c < k; c++) {
        s->start[c] = acc;
        acc += (size_t)s->hist[c];
    }
    s->start[k] = acc;
    /* fill using start[c] as cursor, then shift back */
    for (size_t i = 0; i < n; i++) s->order[s->start[lab[i]]++] = i;
    for (size_t c = k; c > 0; c--) s->start[c] = s->start[c - 1];
    s->start[0] = 0;
}

/* One centroid: FAISS's accumulation for the points of group c. */
static float sum_group(const fkm_cpu_state *s, size_t b, size_t c, float *cc) {
    const size_t d = s->d;
    const float *x = s->x + b * s->n * d;
    const float *w = s->w ? s->w + b * s->n : NULL;
    float h = 0;
    memset(cc, 0, d * sizeof *cc);
    for (size_t p = s->start[c]; p < s->start[c + 1]; p++) {
        const size_t i = s->order[p];
        const float *xi = x + i * d;
        if (w) {
            const float wi = w[i];
            h += wi;
            for (size_t j = 0; j < d; j++) cc[j] += xi[j] * wi;
        } else {
            h += 1.0;
            for (size_t j = 0; j < d; j++) cc[j] += xi[j];
        }
    }
    return h;
}

void fkm_cpu_update_problem(fkm_cpu_state *s, size_t b, size_t k,
                            size_t k_frozen, float *cent) {
    const size_t d = s->d;
    group_by_centroid(s, k);
    for (size_t c = 0; c < k_frozen; c++) s->hassign[c] = 0;
#pragma omp parallel for num_threads(s->nthreads) schedule(dynamic, 8)
    for (size_t c = k_frozen; c < k; c++) {
        float *cc = cent + c * d;
        float h = sum_group(s, b, c, cc);
        s->hassign[c] = h;
        if (h == 0) continue;
        float norm = 1 / h;
        for (size_t j = 0; j < d; j++) cc[j] *= norm;
    }
}
