/* cpu_vs_faiss.c — flashkm's CPU engine against FAISS's own k-means on the
 * same data, same parameters, same machine: seconds per Lloyd iteration of
 * each, and how far apart their centroids end. FAISS is reached through its
 * C API (libfaiss_c from scripts/build_faiss_local.sh), so this program is C
 * like the rest of bench/.
 *
 *   cpu_vs_faiss [--n N] [--d D] [--k K] [--niter I] [--subsample]
 *                [--json FILE]
 * Defaults: BENCH.md's ivf-1M-1k (N 1048576, d 128, K 1024), 5 iterations,
 * every point used (max_points_per_centroid raised, so both engines iterate
 * over all N; --subsample keeps FAISS's default of 256 per centroid).
 * Threads come from the environment (OMP_NUM_THREADS for the loops,
 * OPENBLAS_NUM_THREADS for the products, read by OpenBLAS at load time),
 * the same for both; the JSON records them. */
#include <faiss/c_api/Clustering_c.h>
#include <faiss/c_api/IndexFlat_c.h>
#include <faiss/c_api/error_c.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flashkm.h"

typedef struct config {
    size_t n, d, k;
    int niter, subsample;
    const char *json;
} config;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Gaussian mixture as BENCH.md asks: 4K true centres spread wide, unit
 * noise; a fixed xorshift generator and Box-Muller so runs repeat. */
static uint64_t rng_state = 88172645463325252ull;
static double uniform(void) {
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return ((rng_state >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}
static float gauss(void) {
    return (float)(sqrt(-2.0 * log(uniform())) * cos(6.283185307179586 * uniform()));
}
static float *make_data(const config *c) {
    size_t centres = 4 * c->k;
    float *means = malloc(centres * c->d * sizeof *means);
    float *x = malloc(c->n * c->d * sizeof *x);
    if (!means || !x) { free(means); free(x); return NULL; }
    for (size_t i = 0; i < centres * c->d; i++) means[i] = 4.0f * gauss();
    for (size_t i = 0; i < c->n; i++) {
        const float *m = means + (size_t)(uniform() * centres) % centres * c->d;
        for (size_t j = 0; j < c->d; j++) x[i * c->d + j] = m[j] + gauss();
    }
    free(means);
    return x;
}

static int max_points(const config *c) { return c->subsample ? 256 : (int)(c->n / c->k + 1); }

static int run_faiss(const config *c, const float *x, float *cent, double *secs) {
    FaissClusteringParameters cp;
    faiss_ClusteringParameters_init(&cp);
    cp.niter = c->niter;
    cp.max_points_per_centroid = max_points(c);
    FaissClustering *clus = NULL;
    FaissIndexFlatL2 *index = NULL;
    int rc = faiss_Clustering_new_with_params(&clus, (int)c->d, (int)c->k, &cp);
    if (!rc) rc = faiss_IndexFlatL2_new_with(&index, (idx_t)c->d);
    double t0 = now();
    if (!rc) rc = faiss_Clustering_train(clus, (idx_t)c->n, x, index);
    *secs = now() - t0;
    if (!rc) {
        float *p; size_t size;
        faiss_Clustering_centroids(clus, &p, &size);
        memcpy(cent, p, c->k * c->d * sizeof *cent);
    } else {
        fprintf(stderr, "cpu_vs_faiss: FAISS: %s\n", faiss_get_last_error());
    }
    if (index) faiss_Index_free(index);
    if (clus) faiss_Clustering_free(clus);
    return rc;
}

static int run_flashkm(const config *c, const float *x, float *cent, double *secs, float *obj) {
    flashkm_params p;
    flashkm_params_init(&p);
    p.niter = c->niter;
    p.max_points_per_centroid = max_points(c);
    p.engine = FLASHKM_ENGINE_CPU;
    flashkm_output out = {0};
    out.centroids = cent;
    double t0 = now();
    flashkm_status st = flashkm_train(&p, c->n, c->d, c->k, x, &out);
    *secs = now() - t0;
    *obj = out.objective;
    if (st) fprintf(stderr, "cpu_vs_faiss: flashkm: %s\n", flashkm_last_error());
    return st;
}

static double max_rel_diff(const float *a, const float *b, size_t len) {
    double diff = 0, scale = 1e-30;
    for (size_t i = 0; i < len; i++) {
        diff = fmax(diff, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs((double)a[i]));
    }
    return diff / scale;
}

static int parse(int argc, char **argv, config *c) {
    *c = (config){1048576, 128, 1024, 5, 0, NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--subsample")) { c->subsample = 1; continue; }
        if (!v) return -1;
        if (!strcmp(a, "--n")) c->n = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--d")) c->d = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--k")) c->k = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--niter")) c->niter = atoi(v);
        else if (!strcmp(a, "--json")) c->json = v;
        else return -1;
        i++;
    }
    return c->n && c->d && c->k && c->niter > 0 && c->n >= c->k ? 0 : -1;
}

int main(int argc, char **argv) {
    config c;
    if (parse(argc, argv, &c)) {
        fprintf(stderr, "usage: cpu_vs_faiss [--n N] [--d D] [--k K] [--niter I] [--subsample] [--json FILE]\n");
        return 2;
    }
    float *x = make_data(&c);
    float *cf = malloc(c.k * c.d * sizeof *cf), *cm = malloc(c.k * c.d * sizeof *cm);
    if (!x || !cf || !cm) { fprintf(stderr, "cpu_vs_faiss: out of memory\n"); return 1; }
    double tf, tm; float obj;
    if (run_faiss(&c, x, cf, &tf) || run_flashkm(&c, x, cm, &tm, &obj)) return 1;
    const char *omp = getenv("OMP_NUM_THREADS"), *blas = getenv("OPENBLAS_NUM_THREADS");
    double diff = max_rel_diff(cf, cm, c.k * c.d);
    printf("N=%zu d=%zu K=%zu niter=%d %s OMP_NUM_THREADS=%s OPENBLAS_NUM_THREADS=%s\n",
           c.n, c.d, c.k, c.niter, c.subsample ? "subsampled" : "all points",
           omp ? omp : "unset", blas ? blas : "unset");
    printf("%-10s %10s %14s\n", "", "seconds", "s/iteration");
    printf("%-10s %10.2f %14.3f\n", "FAISS", tf, tf / c.niter);
    printf("%-10s %10.2f %14.3f\n", "flashkm", tm, tm / c.niter);
    printf("speedup %.2fx, centroids max relative difference %.2e, objective %.9g\n",
           tf / tm, diff, obj);
    if (c.json) {
        FILE *f = fopen(c.json, "w");
        if (!f) { perror(c.json); return 1; }
        fprintf(f, "{\"n\": %zu, \"d\": %zu, \"k\": %zu, \"niter\": %d, \"subsample\": %d, "
                   "\"omp_num_threads\": \"%s\", \"openblas_num_threads\": \"%s\", "
                   "\"faiss_s_per_iter\": %.4f, \"flashkm_cpu_s_per_iter\": %.4f, "
                   "\"centroid_max_rel_diff\": %.3e, \"flashkm_version\": \"%s\"}\n",
                c.n, c.d, c.k, c.niter, c.subsample, omp ? omp : "unset", blas ? blas : "unset",
                tf / c.niter, tm / c.niter, diff, flashkm_version());
        fclose(f);
    }
    free(x); free(cf); free(cm);
    return 0;
}
