/* fuzz_capi.c — libFuzzer harness on flashkm's public C API.
 *
 * The input bytes decode into one call: which entry point (train,
 * train_batch, assign, train_device), every flashkm_params field, the sizes
 * (small, so one run takes milliseconds), the data values (specials like
 * NaN/Inf/huge included) and which optional buffers are given. Every buffer
 * is allocated with exactly the length the decoded sizes say, so ASan flags
 * any read or write past it. What must hold, checked here:
 *  - the call returns OK, or a known error status with a non-empty message;
 *  - a failed call wrote nothing into the outputs (they are poisoned first);
 *  - a successful call wrote every centroid and gave labels in [0, k);
 *  - sizes that must be refused (products over 2^40 elements, overflow) are
 *    refused without touching the (tiny) buffers.
 * Crashes, leaks, sanitizer reports and hangs are caught by libFuzzer. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flashkm.h"
#include "fuzz_decode.h"

#define POISON 0xA5

static void fail(const char *what, flashkm_status st) {
    fprintf(stderr, "fuzz_capi: invariant broken: %s (status %s, message \"%s\")\n",
            what, flashkm_status_string(st), flashkm_last_error());
    abort();
}

static int known_error(flashkm_status st) {
    return st <= FLASHKM_ERR_INVALID_ARGUMENT && st >= FLASHKM_ERR_INTERNAL;
}

/* Buffers of exactly `bytes` bytes (NULL for 0), poisoned. */
static void *poisoned(size_t bytes) {
    if (bytes == 0) return NULL;
    void *p = malloc(bytes);
    if (p) memset(p, POISON, bytes);
    return p;
}

static int untouched(const void *p, size_t bytes) {
    const unsigned char *c = p;
    for (size_t i = 0; i < bytes; i++)
        if (c[i] != POISON) return 0;
    return 1;
}

/* Values: mostly small numbers, sometimes the ones that break arithmetic. */
static float decode_value(fz_reader *r) {
    static const float specials[] = {NAN, INFINITY, -INFINITY, 3e38f, -3e38f,
                                     1e-40f, 0.0f, -0.0f, 1e20f, 65504.0f,
                                     1e-30f, 2.5f, -1.0f, 1.0f, 0.5f, 7.0f};
    uint8_t b = fz_value_byte(r);
    if (b < 240) return ((float)b - 120.0f) / 8.0f;
    return specials[b - 240];
}

static float *decode_floats(fz_reader *r, size_t count) {
    float *v = count ? malloc(count * sizeof *v) : NULL;
    for (size_t i = 0; i < count; i++) v[i] = decode_value(r);
    return v;
}

static void decode_params(fz_reader *r, flashkm_params *p) {
    flashkm_params_init(p);
    uint8_t wild = fz_byte(r); /* 1 in 8 calls: fields outside their ranges */
    int w = (wild & 7) == 0;
    p->niter = fz_range(r, w ? -3 : 0, 10);
    p->nredo = fz_range(r, w ? -2 : 1, 3);
    uint8_t flags = fz_byte(r);
    p->verbose = (flags & 1) && (flags & 2);
    p->spherical = (flags >> 2) & 1;
    p->int_centroids = (flags >> 3) & 1;
    p->frozen_centroids = (flags >> 4) & 1;
    p->quiet_warnings = !((flags >> 5) & 1);
    p->min_points_per_centroid = fz_range(r, w ? -2 : 0, 40);
    p->max_points_per_centroid = fz_range(r, w ? -2 : 1, 20);
    p->seed = (int)fz_u32(r);
    p->metric = (flashkm_metric)fz_range(r, w ? -1 : 0, w ? 3 : 1);
    p->engine = (flashkm_engine)fz_range(r, w ? -1 : 0, w ? 4 : 2);
    p->precision = (flashkm_precision)fz_range(r, w ? -1 : 0, w ? 5 : 3);
    p->device = fz_range(r, w ? -1 : 0, 1);
    p->num_threads = fz_range(r, w ? -1 : 0, 3);
    p->gpu_memory_limit = (size_t)fz_range(r, 0, 3) << (8 * fz_range(r, 0, 4));
}

/* Sizes the library must refuse before touching any buffer: one of
 * n * d, k * d is over 2^40 elements or overflows. (batch stays small: the
 * outs array of a batched call is read for `batch` entries by contract.) */
static void decode_absurd(fz_reader *r, int entry, size_t *batch, size_t *n,
                          size_t *d, size_t *k) {
    static const size_t huge[] = {(size_t)1 << 41, SIZE_MAX, SIZE_MAX / 2,
                                  (size_t)1 << 62, ((size_t)1 << 40) + 1,
                                  ((size_t)1 << 32) * 300};
    const size_t nh = sizeof huge / sizeof huge[0];
    *batch = entry == 1 ? (size_t)fz_range(r, 1, 2) : 1;
    *n = (size_t)fz_range(r, 1, 8);
    *d = (size_t)fz_range(r, 1, 8);
    *k = (size_t)fz_range(r, 1, 4);
    size_t h = huge[fz_range(r, 0, (int)nh - 1)];
    switch (fz_range(r, 0, 3)) {
    case 0: *n = h; *k = 1; break;                       /* n * d */
    case 1: *d = h; break;                                /* n * d, k * d */
    case 2: *n = (size_t)1 << 21; *d = (size_t)1 << 20; *k = 2; break;
    default: *n = h; *k = h; break;                       /* k too */
    }
}

typedef struct call {
    int entry;                       /* 0 train, 1 batch, 2 assign, 3 device */
    flashkm_params p;
    const flashkm_params *pp;
    size_t batch, n, d, k;
    int absurd;
    float *x, *weights, *init, *cent_in;
    flashkm_output *outs;
    size_t nouts;
    int64_t *labels;                 /* assign */
    float *dist;                     /* assign */
    size_t lab_bytes, dist_bytes;
} call;

static void decode_outputs(fz_reader *r, call *c) {
    c->nouts = c->batch;
    c->outs = calloc(c->nouts, sizeof *c->outs);
    size_t stats_max = (size_t)(c->p.niter > 0 ? c->p.niter : 0) *
                       (size_t)(c->p.nredo > 0 ? c->p.nredo : 0) + 1;
    for (size_t b = 0; b < c->nouts; b++) {
        flashkm_output *o = &c->outs[b];
        uint8_t f = fz_byte(r);
        if (f != 0xFF) o->centroids = poisoned(c->k * c->d * sizeof(float));
        if (f & 1) o->labels = poisoned(c->n * sizeof(int64_t));
        if (f & 2) o->distances = poisoned(c->n * sizeof(float));
        if (f & 4) {
            o->stats_capacity = (size_t)fz_range(r, 0, (int)stats_max);
            if (f != 0xFE)
                o->stats = poisoned(o->stats_capacity * sizeof *o->stats);
        }
    }
}

static void decode_call(fz_reader *r, call *c) {
    memset(c, 0, sizeof *c);
    c->entry = fz_range(r, 0, 3);
    decode_params(r, &c->p);
    c->pp = fz_byte(r) == 0xFF ? NULL : &c->p;
    c->absurd = fz_byte(r) >= 0xF8;
    if (c->absurd) {
        decode_absurd(r, c->entry, &c->batch, &c->n, &c->d, &c->k);
    } else {
        c->batch = c->entry == 1 ? (size_t)fz_range(r, 0, 3) : 1;
        c->n = (size_t)fz_range(r, 0, 48);
        c->d = (size_t)fz_range(r, 0, 6);
        c->k = (size_t)fz_range(r, 0, (int)c->n + 2);
    }
    /* Tiny stand-ins when the sizes are absurd: any access past them is a
     * bug ASan reports. Otherwise exact lengths. */
    size_t rows = c->absurd ? 1 : c->batch * c->n;
    size_t krows = c->absurd ? 1 : c->batch * c->k;
    size_t dd = c->absurd ? 1 : c->d;
    if (fz_byte(r) != 0xFF) c->x = decode_floats(r, rows * dd);
    uint8_t opt = fz_byte(r);
    if (opt & 1) {
        c->weights = decode_floats(r, rows);
        c->p.weights = c->weights;
    }
    if (opt & 2) {
        size_t kmax = c->absurd ? 1 : c->k;
        c->p.n_init_centroids = (size_t)fz_range(r, 0, (int)(kmax + 1));
        size_t ni = c->absurd ? 1 : c->p.n_init_centroids;
        size_t count = (c->absurd ? 1 : c->batch) * ni * dd;
        if (!(opt & 4)) c->init = decode_floats(r, count);
        c->p.init_centroids = c->init;
    }
    if (c->entry == 2) {
        c->cent_in = (opt & 8) ? NULL : decode_floats(r, krows * dd);
        c->lab_bytes = (opt & 16) ? 0 : rows * sizeof(int64_t);
        c->dist_bytes = (opt & 32) ? 0 : rows * sizeof(float);
        c->labels = poisoned(c->lab_bytes);
        c->dist = poisoned(c->dist_bytes);
    } else if (c->absurd) {
        c->nouts = c->batch;
        c->outs = calloc(c->nouts, sizeof *c->outs);
        for (size_t b = 0; b < c->nouts; b++)
            c->outs[b].centroids = poisoned(sizeof(float));
    } else if (!(opt & 64) || c->batch == 0) {
        decode_outputs(r, c);
    }
}

static flashkm_status run_call(call *c) {
    switch (c->entry) {
    case 0: return flashkm_train(c->pp, c->n, c->d, c->k, c->x, c->outs);
    case 1:
        return flashkm_train_batch(c->pp, c->batch, c->n, c->d, c->k, c->x,
                                   c->outs);
    case 2:
        return flashkm_assign(c->pp, c->n, c->d, c->k, c->x, c->cent_in,
                              c->labels, c->dist);
    default:
        return flashkm_train_device(c->pp, c->n, c->d, c->k, c->x,
                                    FLASHKM_DTYPE_F32, c->outs);
    }
}

static size_t out_bytes(const call *c, const flashkm_output *o, int what) {
    switch (what) {
    case 0: return c->absurd ? sizeof(float) : c->k * c->d * sizeof(float);
    case 1: return c->n * sizeof(int64_t);
    case 2: return c->n * sizeof(float);
    default: return o->stats_capacity * sizeof *o->stats;
    }
}

static void check_failed(const call *c, flashkm_status st) {
    if (!known_error(st)) fail("unknown status", st);
    if (flashkm_last_error()[0] == '\0') fail("error without a message", st);
    if (c->labels && !untouched(c->labels, c->lab_bytes))
        fail("failed assign wrote labels", st);
    if (c->dist && !untouched(c->dist, c->dist_bytes))
        fail("failed assign wrote distances", st);
    for (size_t b = 0; b < c->nouts; b++) {
        const flashkm_output *o = &c->outs[b];
        const void *bufs[4] = {o->centroids, o->labels, o->distances, o->stats};
        for (int i = 0; i < 4; i++)
            if (bufs[i] && !untouched(bufs[i], out_bytes(c, o, i)))
                fail("failed call wrote an output", st);
    }
}

static void check_labels(const int64_t *lab, size_t n, size_t k) {
    for (size_t i = 0; lab && i < n; i++)
        if (lab[i] < 0 || (size_t)lab[i] >= k)
            fail("label out of range", FLASHKM_OK);
}

static void check_ok(const call *c) {
    if (c->absurd) fail("absurd sizes accepted", FLASHKM_OK);
    if (c->entry == 2) {
        check_labels(c->labels, c->n, c->k);
        return;
    }
    for (size_t b = 0; b < c->nouts; b++) {
        const flashkm_output *o = &c->outs[b];
        for (size_t i = 0; i < c->k * c->d; i++) {
            uint32_t bits;
            memcpy(&bits, &o->centroids[i], sizeof bits);
            if (bits == 0xA5A5A5A5u) fail("centroid not written", FLASHKM_OK);
        }
        check_labels(o->labels, c->n, c->k);
        size_t most = (size_t)c->p.niter * (size_t)c->p.nredo;
        if (o->n_stats > (most > 0 ? most : 1))
            fail("more statistics than niter * nredo", FLASHKM_OK);
        if (o->engine_used == FLASHKM_ENGINE_AUTO)
            fail("engine_used left AUTO", FLASHKM_OK);
    }
}

static void free_call(call *c) {
    for (size_t b = 0; b < c->nouts; b++) {
        free(c->outs[b].centroids); free(c->outs[b].labels);
        free(c->outs[b].distances); free(c->outs[b].stats);
    }
    free(c->outs); free(c->x); free(c->weights); free(c->init);
    free(c->cent_in); free(c->labels); free(c->dist);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    /* verbose = 1 prints FAISS's progress lines: keep them off the log */
    if (!freopen("/dev/null", "w", stdout)) return 0;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_reader r = {data, size, 0};
    call c;
    decode_call(&r, &c);
    flashkm_status st = run_call(&c);
    if (st == FLASHKM_OK) check_ok(&c);
    else check_failed(&c, st);
    free_call(&c);
    return 0;
}
