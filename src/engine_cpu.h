/* engine_cpu.h — the CPU engine's state, shared by its files:
 * engine_cpu.c (open / gather / close / the ops table),
 * engine_cpu_assign.c (nearest centroid, FAISS's IndexFlat search),
 * engine_cpu_update.c (FAISS's compute_centroids),
 * engine_cpu_lloyd.c (the iterations). */
#ifndef FKM_ENGINE_CPU_H
#define FKM_ENGINE_CPU_H
#include <stddef.h>
#include <stdint.h>
#include "engine.h"
#include "mt19937.h"
#ifdef __cplusplus
extern "C" {
#endif

/* FAISS's blocks for its BLAS search (distance_compute_blas_query_bs x
 * distance_compute_blas_database_bs) and the point count below which it
 * computes distances directly (distance_compute_blas_threshold). Smaller
 * point blocks would keep the products in L2, but every block hands the
 * cores from OpenBLAS' threads to ours and back, and on a loaded machine
 * that hand-off (both pools spin before sleeping) cost up to 20x with 512-
 * or 1024-point blocks; FAISS's 4096 keeps it rare. */
#define FKM_CPU_BLOCK_POINTS 4096
#define FKM_CPU_BLOCK_CENTROIDS 1024
#define FKM_CPU_BLAS_THRESHOLD 20

typedef struct fkm_cpu_state {
    size_t batch, n, d, k_max;
    int nthreads;           /* OpenMP threads for our own loops */
    float *x;               /* batch * n * d, the opened rows */
    float *xnorm;           /* batch * n, FAISS's |x|^2 */
    float *w;               /* batch * n weights, or NULL */
    /* scratch for one problem at a time */
    int64_t *labels;        /* n */
    float *dist;            /* n */
    float *cnorm;           /* k_max */
    float *ipblock;         /* block points * block centroids */
    float *hassign;         /* k_max */
    int *hist;              /* k_max */
    size_t *start;          /* k_max + 1: counting-sort offsets */
    size_t *order;          /* n: points sorted by centroid, stable */
    fkm_mt19937 mt;         /* split_clusters' generator */
} fkm_cpu_state;

/* Nearest centroid of the n opened rows of problem b, exactly as FAISS's
 * IndexFlat search with k = 1. labels and dist: n each (not NULL). */
void fkm_cpu_assign_problem(fkm_cpu_state *s, size_t b, const float *cent,
                            size_t k, flashkm_metric metric, int64_t *labels,
                            float *dist);

/* FAISS's compute_centroids for problem b from s->labels: new centroids
 * k_frozen .. k-1 (the others untouched), s->hassign (frozen entries 0) and
 * s->hist (points per centroid, all k). */
void fkm_cpu_update_problem(fkm_cpu_state *s, size_t b, size_t k,
                            size_t k_frozen, float *cent);

flashkm_status fkm_cpu_lloyd(void *state, const fkm_lloyd_config *cfg,
                             float *centroids, flashkm_iteration_stats *stats,
                             float *objective, double t0, double *search0);
#ifdef __cplusplus
}
#endif
#endif
