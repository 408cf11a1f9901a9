/* cold_start.c — where a first training from host memory spends its time,
 * as the plugin meets it (one process, data in pageable host memory, the
 * CUDA driver not yet started): driver start, context, the first
 * flashkm_train, then the same call warm, one iteration warm, and the host
 * copies and transfers that the upload is built from.
 *
 * Usage: flashkm_cold_start [N d K niter offset]
 *        (default 1000000 128 4096 10 0: the main job's data, 4096 centres
 *        with N(0,1) coordinates and unit noise; offset is added to every
 *        value, data far from the origin as many embeddings are)
 * Prints one line per phase in milliseconds. */
#include <cuda_runtime_api.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flashkm.h"

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static double train_ms(size_t n, size_t d, size_t k, int niter, const float *x, float *cent) {
    flashkm_params p;
    flashkm_params_init(&p);
    p.niter = niter;
    p.engine = FLASHKM_ENGINE_GPU;
    flashkm_output out = {0};
    out.centroids = cent;
    double t0 = now_ms();
    flashkm_status st = flashkm_train(&p, n, d, k, x, &out);
    double t = now_ms() - t0;
    if (st != FLASHKM_OK) {
        fprintf(stderr, "flashkm_train: %s: %s\n", flashkm_status_string(st), flashkm_last_error());
        exit(1);
    }
    return t;
}

static double normal(void) { /* Box-Muller from rand(): data, not statistics */
    double u = (rand() + 1.0) / (RAND_MAX + 2.0), v = (rand() + 1.0) / (RAND_MAX + 2.0);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

#define PHASE(label, ms) printf("%-44s %9.2f ms\n", label, ms)

int main(int argc, char **argv) {
    size_t n = argc > 1 ? strtoull(argv[1], 0, 10) : 1000000;
    size_t d = argc > 2 ? strtoull(argv[2], 0, 10) : 128;
    size_t k = argc > 3 ? strtoull(argv[3], 0, 10) : 4096;
    int niter = argc > 4 ? atoi(argv[4]) : 10;
    float offset = argc > 5 ? strtof(argv[5], 0) : 0.f;
    size_t bytes = n * d * sizeof(float);
    const size_t modes = 4096;
    float *x = malloc(bytes), *cent = malloc(k * d * sizeof(float));
    float *centres = malloc(modes * d * sizeof(float));
    if (!x || !cent || !centres) return 1;
    srand(1);
    for (size_t i = 0; i < modes * d; i++) centres[i] = (float)normal();
    for (size_t i = 0; i < n; i++) {
        const float *c = centres + (size_t)(rand() % (int)modes) * d;
        for (size_t j = 0; j < d; j++) x[i * d + j] = c[j] + (float)normal() + offset;
    }
    free(centres);
    printf("cold start: n=%zu d=%zu k=%zu niter=%d offset=%g, %.0f MB of input\n", n, d, k,
           niter, offset, bytes / 1e6);

    double t = now_ms();
    int count = 0;
    cudaGetDeviceCount(&count);
    PHASE("driver start (cudaGetDeviceCount)", now_ms() - t);
    t = now_ms();
    cudaSetDevice(0);
    cudaFree(0);
    PHASE("primary context (cudaFree(0))", now_ms() - t);
    PHASE("first flashkm_train", train_ms(n, d, k, niter, x, cent));
    PHASE("same call again", train_ms(n, d, k, niter, x, cent));
    double one = train_ms(n, d, k, 1, x, cent);
    PHASE("one iteration, warm", one);

    float *pinned = NULL;
    t = now_ms();
    cudaHostAlloc((void **)&pinned, 64u << 20, cudaHostAllocDefault);
    PHASE("cudaHostAlloc 64 MiB", now_ms() - t);
    void *dev = NULL;
    t = now_ms();
    cudaMalloc(&dev, 2 * bytes);
    PHASE("cudaMalloc 2x input", now_ms() - t);
    size_t chunk = (64u << 20) / sizeof(float);
    for (int threads = 1; threads <= omp_get_max_threads(); threads *= 2) {
        t = now_ms();
        for (size_t off = 0; off < n * d; off += chunk) {
            size_t c = n * d - off < chunk ? n * d - off : chunk;
#pragma omp parallel for num_threads(threads) schedule(static)
            for (size_t i = 0; i < c; i += 4096)
                memcpy(pinned + i, x + off + i, (c - i < 4096 ? c - i : 4096) * sizeof(float));
        }
        char label[64];
        snprintf(label, sizeof label, "host copy to pinned, %d thread(s)", threads);
        PHASE(label, now_ms() - t);
    }
    t = now_ms();
    for (size_t off = 0; off < bytes; off += 64u << 20) {
        size_t c = bytes - off < (64u << 20) ? bytes - off : (64u << 20);
        cudaMemcpy((char *)dev + off, pinned, c, cudaMemcpyHostToDevice);
    }
    PHASE("pinned -> device, 64 MiB pieces", now_ms() - t);
    t = now_ms();
    cudaMemcpy(dev, x, bytes, cudaMemcpyHostToDevice);
    PHASE("pageable -> device, one cudaMemcpy", now_ms() - t);
    cudaFree(dev);
    cudaFreeHost(pinned);
    free(x);
    free(cent);
    return 0;
}
