/*
 * app_common.h — what every FAISS app of these tests shares (C and C++):
 * seeded Gaussian-mixture data and the result file the checker compares.
 *
 * Result file: one record per line, "<kind> <name> <count> <values...>":
 *   floats  — compared within a relative tolerance (centroids, objectives)
 *   ints    — compared exactly (nsplit per iteration: its count is the
 *             iteration_stats length)
 *   recall  — one value, compared within an absolute 0.005
 *   error   — "error <name> <text>", the exception / last-error text,
 *             compared exactly
 */
#ifndef FKM_FAISS_APP_COMMON_H
#define FKM_FAISS_APP_COMMON_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* splitmix64: the same stream in C and C++, no library dependence. */
static inline uint64_t app_rng_next(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline double app_rng_uniform(uint64_t *state) {
    return ((app_rng_next(state) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static inline double app_rng_normal(uint64_t *state) {
    double u = app_rng_uniform(state), v = app_rng_uniform(state);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* n points of dimension d around `modes` random centres (coordinates
 * N(0, 1)), plus N(0, noise^2) noise per coordinate. */
static inline float *app_gmm_noise(size_t n, size_t d, size_t modes,
                                   float noise, uint64_t seed) {
    uint64_t s = seed;
    float *centres = (float *)malloc(sizeof(float) * modes * d);
    float *x = (float *)malloc(sizeof(float) * n * d);
    if (!centres || !x) {
        fprintf(stderr, "app_gmm: out of memory\n");
        exit(2);
    }
    for (size_t i = 0; i < modes * d; i++)
        centres[i] = (float)app_rng_normal(&s);
    for (size_t i = 0; i < n; i++) {
        size_t m = app_rng_next(&s) % modes;
        for (size_t j = 0; j < d; j++)
            x[i * d + j] = centres[m * d + j] + noise * (float)app_rng_normal(&s);
    }
    free(centres);
    return x;
}

/* Noise 0.3: clustered enough for IVF recall to mean something. */
static inline float *app_gmm(size_t n, size_t d, size_t modes, uint64_t seed) {
    return app_gmm_noise(n, d, modes, 0.3f, seed);
}

static inline void app_write_floats(FILE *f, const char *name, size_t n,
                                    const float *v) {
    fprintf(f, "floats %s %zu", name, n);
    for (size_t i = 0; i < n; i++)
        fprintf(f, " %.9g", v[i]);
    fputc('\n', f);
}

static inline void app_write_ints(FILE *f, const char *name, size_t n,
                                  const int *v) {
    fprintf(f, "ints %s %zu", name, n);
    for (size_t i = 0; i < n; i++)
        fprintf(f, " %d", v[i]);
    fputc('\n', f);
}

/* recall@k: the share of the true k nearest found among the k returned. */
static inline double app_recall_at_k(size_t nq, size_t k, const int64_t *found,
                                     const int64_t *truth) {
    size_t hits = 0;
    for (size_t q = 0; q < nq; q++)
        for (size_t i = 0; i < k; i++)
            for (size_t j = 0; j < k; j++)
                if (found[q * k + i] == truth[q * k + j]) {
                    hits++;
                    break;
                }
    return (double)hits / (double)(nq * k);
}

static inline void app_write_recall(FILE *f, const char *name, size_t nq,
                                    size_t k, const int64_t *found,
                                    const int64_t *truth) {
    fprintf(f, "recall %s 1 %.6f\n", name, app_recall_at_k(nq, k, found, truth));
}

/* The text on one line: FAISS's messages hold no newline, but be sure. */
static inline void app_write_error(FILE *f, const char *name,
                                   const char *text) {
    fprintf(f, "error %s ", name);
    for (const char *c = text ? text : "(null)"; *c; c++)
        fputc(*c == '\n' ? ' ' : *c, f);
    fputc('\n', f);
}

#endif
