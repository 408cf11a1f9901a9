/* flashkm_bench.c — time flashkm's Lloyd iterations on the GPU against the
 * floor of BENCH.md, measured in the same run:
 *   floor = max(2 B N K d / GEMM rate of the precision,
 *               2 B N d bytes / device copy rate).
 * Data is resident on the device (generated there); the time of one
 * iteration is the median difference of consecutive iterations' `time`
 * statistics, which the GPU engine takes from CUDA events. Each timed
 * training follows at least WARMUP_S of the same training; data that fits
 * in L2 is timed on L2_SETS input sets.
 *
 * Usage: flashkm_bench [--json FILE] [--shape NAME[,NAME...]] [--prec NAME]
 *                      [--iters N] [--custom B,N,d,K,f16|f32]
 * Precisions: fp16 and bf16 for fp16 input; tf32, fp32 and bf16 for fp32
 * input (--prec keeps one of them).
 * Prints a table; writes every number to FILE as JSON. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_gpu.h"
#include "flashkm.h"

typedef struct shape {
    const char *name;
    size_t B, N, d, K;
    int f16; /* input type */
} shape;

static const shape kShapes[] = {
    {"seed-example", 32, 65536, 128, 1024, 1},
    {"ivf-1M-1k", 1, 1048576, 128, 1024, 0},
    {"ivf-1M-1k", 1, 1048576, 128, 1024, 1},
    {"ivf-1M-4k", 1, 1048576, 128, 4096, 0},
    {"large-K", 1, 4194304, 128, 16384, 1},
    {"embeddings-768", 1, 1048576, 768, 1024, 0},
    {"pq-batched", 16, 65536, 8, 256, 0},
    {"large-N", 1, 8388608, 128, 1024, 1},
};

static const char *prec_name(flashkm_precision p) {
    switch (p) {
    case FLASHKM_PRECISION_TF32: return "tf32";
    case FLASHKM_PRECISION_FP16: return "fp16";
    case FLASHKM_PRECISION_BF16: return "bf16";
    default: return "fp32";
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Warm-up before each timed training: the same training, repeated for at
 * least WARMUP_S of wall time (BENCH.md: warm-up first). The GPU's power
 * controller lowers the SM clock under a heavy shape (1755 MHz during
 * large-K on an H200) and takes ~200 ms to raise it again once the load is
 * light: pq-batched tf32 timed right after large-K ran at 0.150 ms per
 * iteration, 0.138 after 200 ms of idle (v22 in NOTES.md). Warming up puts
 * every shape in its own steady state, heavy shapes at their sustained
 * clock, rather than in the state the previous shape left. */
#define WARMUP_S 0.5
/* Data that fits in L2 is timed on several input sets (BENCH.md); the
 * reported time is the median of their medians. */
#define L2_SETS 3

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* One training on the data at dx: median ms per iteration, or < 0 on
 * failure. */
static double train_timed(const shape *s, flashkm_precision prec, int iters, const void *dx,
                          float *obj) {
    flashkm_params p;
    flashkm_params_init(&p);
    p.engine = FLASHKM_ENGINE_GPU;
    p.precision = prec;
    p.niter = iters;
    p.max_points_per_centroid = 1 << 30; /* no subsampling: all N rows */
    p.quiet_warnings = 1;
    size_t nst = (size_t)iters;
    flashkm_iteration_stats *st = calloc(nst * s->B, sizeof *st);
    float *cent = malloc(s->B * s->K * s->d * sizeof(float));
    flashkm_output *outs = calloc(s->B, sizeof *outs);
    flashkm_status rc;
    for (size_t b = 0; b < s->B; b++) {
        outs[b].centroids = cent + b * s->K * s->d;
        outs[b].stats = st + b * nst;
        outs[b].stats_capacity = nst;
    }
    rc = flashkm_train_batch_device(&p, s->B, s->N, s->d, s->K, dx,
                                    s->f16 ? FLASHKM_DTYPE_F16 : FLASHKM_DTYPE_F32, outs);
    double ms = -1;
    if (rc != FLASHKM_OK) {
        fprintf(stderr, "%s %s: %s: %s\n", s->name, prec_name(prec), flashkm_status_string(rc),
                flashkm_last_error());
    } else {
        double *dt = malloc(nst * sizeof(double));
        int m = 0;
        for (int it = 1; it < iters; it++) dt[m++] = (st[it].time - st[it - 1].time) * 1e3;
        qsort(dt, (size_t)m, sizeof(double), cmp_double);
        ms = dt[m / 2];
        *obj = outs[0].objective;
        free(dt);
    }
    free(st); free(cent); free(outs);
    return ms;
}

/* Median ms per iteration over `sets` input sets (each warmed up, then
 * timed; set_ms gets each set's), or < 0 on failure. The objective is set
 * 0's, whose data is the same as before input sets were added. */
static double time_shape(const shape *s, flashkm_precision prec, int iters, size_t sets,
                         double *set_ms, float *obj) {
    for (size_t k = 0; k < sets; k++) {
        void *dx = bench_make_data(s->B, s->N, s->d, s->f16, 1234 + s->K + 7919 * k);
        if (!dx) { fprintf(stderr, "%s: no device memory for the data\n", s->name); return -1; }
        float o = 0;
        double ms = 0;
        const double t0 = now_s();
        while (ms >= 0 && now_s() - t0 < WARMUP_S) ms = train_timed(s, prec, iters, dx, &o);
        if (ms >= 0) ms = train_timed(s, prec, iters, dx, &o);
        bench_free(dx);
        if (ms < 0) return -1;
        set_ms[k] = ms;
        if (k == 0) *obj = o;
    }
    double sorted[L2_SETS];
    memcpy(sorted, set_ms, sets * sizeof *sorted);
    qsort(sorted, sets, sizeof *sorted, cmp_double);
    return sorted[sets / 2];
}

static double gemm_rate_for(const bench_ceilings *c, flashkm_precision p) {
    switch (p) {
    case FLASHKM_PRECISION_FP16: return c->tflops_fp16;
    case FLASHKM_PRECISION_BF16: return c->tflops_bf16;
    default: return c->tflops_tf32; /* fp32 is compared with the tf32 floor */
    }
}

static void run_one(FILE *js, int *first, const bench_ceilings *c, const bench_device *dev,
                    const shape *s, flashkm_precision prec, int iters) {
    float obj = 0;
    double set_ms[L2_SETS];
    const size_t sets = s->B * s->N * s->d * (s->f16 ? 2 : 4) <= dev->l2_bytes ? L2_SETS : 1;
    double ms = time_shape(s, prec, iters, sets, set_ms, &obj);
    double flops = 2.0 * s->B * s->N * (double)s->K * s->d;
    double bytes = 2.0 * s->B * s->N * s->d * (s->f16 ? 2 : 4);
    double t_math = flops / (gemm_rate_for(c, prec) * 1e12) * 1e3;
    double t_mem = bytes / (c->copy_gbs * 1e9) * 1e3;
    double floor = t_math > t_mem ? t_math : t_mem;
    printf("%-15s %-4s %-4s B=%-3zu N=%-8zu d=%-4zu K=%-6zu %9.3f ms  floor %7.3f ms  ratio %6.2f",
           s->name, s->f16 ? "fp16" : "fp32", prec_name(prec), s->B, s->N, s->d, s->K, ms, floor,
           ms > 0 ? ms / floor : -1);
    if (sets > 1 && ms > 0) {
        printf("  (%zu input sets:", sets);
        for (size_t k = 0; k < sets; k++) printf(" %.3f", set_ms[k]);
        printf(")");
    }
    printf("\n");
    fflush(stdout);
    if (js) {
        fprintf(js, "%s\n    {\"shape\": \"%s\", \"input\": \"%s\", \"precision\": \"%s\", "
                    "\"B\": %zu, \"N\": %zu, \"d\": %zu, \"K\": %zu, \"ms_per_iter\": %.4f, "
                    "\"floor_ms\": %.4f, \"floor_math_ms\": %.4f, \"floor_mem_ms\": %.4f, "
                    "\"ratio\": %.3f, \"objective\": %.6g, \"input_sets_ms\": [",
                *first ? "" : ",", s->name, s->f16 ? "fp16" : "fp32", prec_name(prec), s->B,
                s->N, s->d, s->K, ms, floor, t_math, t_mem, ms > 0 ? ms / floor : -1.0,
                (double)obj);
        for (size_t k = 0; k < sets && ms > 0; k++) fprintf(js, "%s%.4f", k ? ", " : "", set_ms[k]);
        fprintf(js, "]}");
        *first = 0;
    }
}

int main(int argc, char **argv) {
    const char *json = NULL, *only = NULL, *custom = NULL, *only_prec = NULL;
    int iters = 12, ceilings = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else if (!strcmp(argv[i], "--shape") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--prec") && i + 1 < argc) only_prec = argv[++i];
        else if (!strcmp(argv[i], "--iters") && i + 1 < argc) iters = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--custom") && i + 1 < argc) custom = argv[++i];
        else if (!strcmp(argv[i], "--no-ceilings")) ceilings = 0; /* for profiling runs */
        else { fprintf(stderr, "usage: %s [--json F] [--shape NAME] [--prec NAME] [--iters N] "
                               "[--custom B,N,d,K,f16|f32] [--no-ceilings]\n", argv[0]); return 2; }
    }
    if (iters < 3) iters = 3;
    if (!flashkm_gpu_available()) { fprintf(stderr, "no CUDA device\n"); return 1; }
    bench_ceilings c = {3000, 700, 700, 380, 50}; /* placeholders, --no-ceilings only */
    if (ceilings && bench_measure_ceilings(&c)) return 1;
    bench_device dev;
    bench_device_info(&dev);
    printf("GPU %s (%d MHz max SM clock, %d MHz memory), CUDA runtime %d.%d, driver API %d.%d, "
           "flashkm %s\n", dev.name, dev.sm_clock_mhz, dev.mem_clock_mhz, dev.cuda_runtime / 1000,
           dev.cuda_runtime % 1000 / 10, dev.cuda_driver / 1000, dev.cuda_driver % 1000 / 10,
           flashkm_version());
    printf("method: median of the %d differences of %d iterations' times, after %.1f s of "
           "warm-up per training; data that fits in L2 on %d input sets\n", iters - 1, iters,
           WARMUP_S, L2_SETS);
    printf("ceilings: copy %.0f GB/s; GEMM fp16 %.0f, bf16 %.0f, tf32 %.0f, fp32 %.1f TFLOP/s\n",
           c.copy_gbs, c.tflops_fp16, c.tflops_bf16, c.tflops_tf32, c.tflops_fp32);
    FILE *js = json ? fopen(json, "w") : NULL;
    if (js) {
        time_t now = time(NULL);
        char date[32];
        strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
        fprintf(js, "{\n  \"gpu\": \"%s\", \"sm_clock_max_mhz\": %d, \"mem_clock_mhz\": %d, "
                    "\"cuda_runtime\": %d, \"cuda_driver_api\": %d, \"date\": \"%s\", "
                    "\"flashkm\": \"%s\", \"iters\": %d, \"warmup_s\": %.1f, \"l2_input_sets\": %d,\n"
                    "  \"ceilings\": {\"copy_gbs\": %.1f, "
                    "\"fp16_tflops\": %.1f, \"bf16_tflops\": %.1f, \"tf32_tflops\": %.1f, "
                    "\"fp32_tflops\": %.2f},\n  \"results\": [",
                dev.name, dev.sm_clock_mhz, dev.mem_clock_mhz, dev.cuda_runtime, dev.cuda_driver, date,
                flashkm_version(), iters, WARMUP_S, L2_SETS,
                c.copy_gbs, c.tflops_fp16, c.tflops_bf16, c.tflops_tf32, c.tflops_fp32);
    }
    int first = 1;
    shape cs = {"custom", 0, 0, 0, 0, 0};
    if (custom) {
        char type[8] = "f32";
        if (sscanf(custom, "%zu,%zu,%zu,%zu,%7s", &cs.B, &cs.N, &cs.d, &cs.K, type) < 4) return 2;
        cs.f16 = !strcmp(type, "f16");
    }
    static const flashkm_precision for_f16[] = {FLASHKM_PRECISION_FP16, FLASHKM_PRECISION_BF16},
                                   for_f32[] = {FLASHKM_PRECISION_TF32, FLASHKM_PRECISION_FP32,
                                                FLASHKM_PRECISION_BF16};
    const size_t nshapes = custom ? 1 : sizeof kShapes / sizeof *kShapes;
    /* --shape a,b runs a's rows then b's, in one process: how one shape's
     * time depends on what ran before it is measurable */
    const char *name = only;
    do {
        size_t len = name ? strcspn(name, ",") : 0;
        for (size_t i = 0; i < nshapes; i++) {
            const shape *s = custom ? &cs : &kShapes[i];
            if (name && (strlen(s->name) != len || strncmp(name, s->name, len))) continue;
            const flashkm_precision *pl = s->f16 ? for_f16 : for_f32;
            const size_t np = s->f16 ? 2 : 3;
            for (size_t j = 0; j < np; j++)
                if (!only_prec || !strcmp(only_prec, prec_name(pl[j])))
                    run_one(js, &first, &c, &dev, s, pl[j], iters);
        }
        name = name && name[len] ? name + len + 1 : NULL;
    } while (name);
    if (js) {
        fprintf(js, "\n  ]\n}\n");
        fclose(js);
    }
    return 0;
}
