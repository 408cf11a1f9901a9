/* engine_cpu_assign.c — nearest centroid on the CPU, reproducing the float
 * operations of FAISS 1.7.3's IndexFlat::search(k = 1) in Debian's generic
 * x86-64 build, so labels and distances are bit-identical to FAISS's:
 *  - n >= 20 points: blocks of 4096 points x 1024 centroids, the products
 *    from one sgemm_ per block called exactly as FAISS calls it, then
 *    dis = (|x|^2 + |c|^2) - 2 x.c clamped at 0 (L2) or x.c (IP);
 *  - n < 20: direct sums, (x - c)^2 or x * c, in float and in order;
 *  - strict comparison: on ties the lowest centroid index wins.
 *
 * Threads: the sgemm_ runs outside any OpenMP region, so the BLAS uses its
 * own threads (Debian's default libblas is OpenBLAS' pthreads build, which
 * serialises concurrent multi-threaded calls on one lock and cannot be
 * switched to one thread per call safely: calling it from inside our
 * OpenMP threads would either oversubscribe the cores or serialise). Our
 * OpenMP threads then scan the block, one row of products per point. */
#include <float.h>
#include <math.h>
#include <stdint.h>

#include "engine_cpu.h"
#include "postprocess.h"

/* Fortran BLAS, as FAISS declares it (FINTEGER = int). */
extern void sgemm_(const char *transa, const char *transb, const int *m,
                   const int *n, const int *k, const float *alpha,
                   const float *a, const int *lda, const float *b,
                   const int *ldb, const float *beta, float *c,
                   const int *ldc);

static void assign_direct(const fkm_cpu_state *s, const float *x, size_t n,
                          const float *cent, size_t k, flashkm_metric metric,
                          int64_t *labels, float *dist) {
    const size_t d = s->d;
    for (size_t i = 0; i < n; i++) {
        const float *xi = x + i * d;
        float best = metric == FLASHKM_METRIC_L2 ? HUGE_VALF : -FLT_MAX;
        int64_t bl = 0;
        for (size_t j = 0; j < k; j++) {
            const float *cj = cent + j * d;
            float acc = 0;
            if (metric == FLASHKM_METRIC_L2) {
                for (size_t t = 0; t < d; t++) {
                    const float tmp = xi[t] - cj[t];
                    acc += tmp * tmp;
                }
                if (acc < best) { best = acc; bl = (int64_t)j; }
            } else {
                for (size_t t = 0; t < d; t++) acc += xi[t] * cj[t];
                if (acc > best) { best = acc; bl = (int64_t)j; }
            }
        }
        labels[i] = bl;
        dist[i] = best;
    }
}

/* x.c products of points [i0, i1) and centroids [j0, j1) into ip, one row
 * of (j1 - j0) per point: FAISS's sgemm_("Transpose", "Not transpose"). */
static void block_products(const fkm_cpu_state *s, const float *x,
                           const float *cent, size_t i0, size_t i1, size_t j0,
                           size_t j1, float *ip) {
    float one = 1, zero = 0;
    int nyi = (int)(j1 - j0), nxi = (int)(i1 - i0), di = (int)s->d;
    sgemm_("Transpose", "Not transpose", &nyi, &nxi, &di, &one,
           cent + j0 * s->d, &di, x + i0 * s->d, &di, &zero, ip, &nyi);
}

/* Lane-parallel argmin/argmax of one row of products, written so the
 * compiler vectorises it (16 independent lanes, each keeping the first
 * index of its best value under the strict comparison; lanes are then
 * merged by value, ties to the lowest index — the same winner as FAISS's
 * sequential scan). Cloned for AVX-512 / AVX2 / baseline at run time;
 * element-wise IEEE operations round the same in every clone. */
#define FKM_LANES 16
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define FKM_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#define FKM_HAVE_X86_INTRINSICS 1
#include <immintrin.h>
#else
#define FKM_CLONES
#endif

static void merge_lanes(const float *mv, const int32_t *mi, int l2,
                        float *best, int64_t *bl, size_t j0) {
    for (int l = 0; l < FKM_LANES; l++) {
        if (mi[l] < 0) continue;
        int better = l2 ? mv[l] < *best : mv[l] > *best;
        if (better || (mv[l] == *best && (int64_t)(j0 + (size_t)mi[l]) < *bl)) {
            *best = mv[l];
            *bl = (int64_t)(j0 + (size_t)mi[l]);
        }
    }
}

/* After the lane loop: lanes only hold candidates strictly better than
 * *best, so merging them (ties to the lowest index) and then scanning the
 * tail [j, w) in order gives FAISS's sequential scan's winner. */
static void finish_row_l2(const float *ip, const float *cn, size_t j,
                          size_t w, float xn, const float *mv,
                          const int32_t *mi, float *best, int64_t *bl,
                          size_t j0) {
    float b0 = *best;
    int64_t i0 = *bl;
    int any = 0;
    for (int l = 0; l < FKM_LANES; l++) any |= mi[l] >= 0;
    if (any) {
        b0 = HUGE_VALF;
        i0 = INT64_MAX;
        merge_lanes(mv, mi, 1, &b0, &i0, j0);
    }
    for (; j < w; j++) {
        float dis = xn + cn[j] - 2 * ip[j];
        if (dis < 0) dis = 0;
        if (dis < b0) { b0 = dis; i0 = (int64_t)(j0 + j); }
    }
    *best = b0;
    *bl = i0;
}

FKM_CLONES
static void row_l2(const float *ip, const float *cn, size_t w, float xn,
                   float *best, int64_t *bl, size_t j0) {
    float mv[FKM_LANES];
    int32_t mi[FKM_LANES];
    for (int l = 0; l < FKM_LANES; l++) { mv[l] = *best; mi[l] = -1; }
    size_t j = 0;
    for (; j + FKM_LANES <= w; j += FKM_LANES) {
        for (int l = 0; l < FKM_LANES; l++) {
            float dis = xn + cn[j + l] - 2 * ip[j + l];
            dis = dis < 0 ? 0 : dis;
            int take = dis < mv[l];
            mv[l] = take ? dis : mv[l];
            mi[l] = take ? (int32_t)(j + l) : mi[l];
        }
    }
    finish_row_l2(ip, cn, j, w, xn, mv, mi, best, bl, j0);
}

#ifdef FKM_HAVE_X86_INTRINSICS
/* The same lanes in AVX-512 registers (the compiler's version of the loop
 * above keeps them in memory). max(0, dis) is `dis < 0 ? 0 : dis`: vmaxps
 * returns its second operand unless the first is greater. */
__attribute__((target("avx512f")))
static void row_l2_avx512(const float *ip, const float *cn, size_t w,
                          float xn, float *best, int64_t *bl, size_t j0) {
    __m512 mv = _mm512_set1_ps(*best), vxn = _mm512_set1_ps(xn);
    __m512 zero = _mm512_setzero_ps();
    __m512i mi = _mm512_set1_epi32(-1), step = _mm512_set1_epi32(FKM_LANES);
    __m512i idx = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
                                    12, 13, 14, 15);
    size_t j = 0;
    for (; j + FKM_LANES <= w; j += FKM_LANES) {
        __m512 p = _mm512_loadu_ps(ip + j);
        __m512 dis = _mm512_sub_ps(_mm512_add_ps(vxn, _mm512_loadu_ps(cn + j)),
                                   _mm512_add_ps(p, p));
        dis = _mm512_max_ps(zero, dis);
        __mmask16 m = _mm512_cmp_ps_mask(dis, mv, _CMP_LT_OQ);
        mv = _mm512_mask_mov_ps(mv, m, dis);
        mi = _mm512_mask_mov_epi32(mi, m, idx);
        idx = _mm512_add_epi32(idx, step);
    }
    float mvs[FKM_LANES];
    int32_t mis[FKM_LANES];
    _mm512_storeu_ps(mvs, mv);
    _mm512_storeu_si512((void *)mis, mi);
    finish_row_l2(ip, cn, j, w, xn, mvs, mis, best, bl, j0);
}
#endif

FKM_CLONES
static void row_ip(const float *ip, size_t w, float *best, int64_t *bl,
                   size_t j0) {
    float mv[FKM_LANES];
    int32_t mi[FKM_LANES];
    for (int l = 0; l < FKM_LANES; l++) { mv[l] = *best; mi[l] = -1; }
    size_t j = 0;
    for (; j + FKM_LANES <= w; j += FKM_LANES) {
        for (int l = 0; l < FKM_LANES; l++) {
            float v = ip[j + l];
            int take = v > mv[l];
            mv[l] = take ? v : mv[l];
            mi[l] = take ? (int32_t)(j + l) : mi[l];
        }
    }
    float b0 = *best;
    int64_t i0 = *bl;
    int any = 0;
    for (int l = 0; l < FKM_LANES; l++) any |= mi[l] >= 0;
    if (any) {
        b0 = -HUGE_VALF;
        i0 = INT64_MAX;
        merge_lanes(mv, mi, 0, &b0, &i0, j0);
    }
    for (; j < w; j++)
        if (ip[j] > b0) { b0 = ip[j]; i0 = (int64_t)(j0 + j); }
    *best = b0;
    *bl = i0;
}

static void scan_block(const fkm_cpu_state *s, const float *xnorm,
                       size_t i0, size_t i1, size_t j0, size_t j1,
                       flashkm_metric metric, int64_t *labels, float *dist) {
    const float *ipb = s->ipblock;
    const size_t w = j1 - j0;
#ifdef FKM_HAVE_X86_INTRINSICS
    const int avx512 = __builtin_cpu_supports("avx512f");
#endif
#pragma omp parallel for num_threads(s->nthreads) schedule(static)
    for (size_t i = i0; i < i1; i++) {
        const float *ip = ipb + (i - i0) * w;
#ifdef FKM_HAVE_X86_INTRINSICS
        if (metric == FLASHKM_METRIC_L2 && avx512)
            row_l2_avx512(ip, s->cnorm + j0, w, xnorm[i], &dist[i], &labels[i],
                          j0);
        else
#endif
        if (metric == FLASHKM_METRIC_L2)
            row_l2(ip, s->cnorm + j0, w, xnorm[i], &dist[i], &labels[i], j0);
        else
            row_ip(ip, w, &dist[i], &labels[i], j0);
    }
}

void fkm_cpu_assign_problem(fkm_cpu_state *s, size_t b, const float *cent,
                            size_t k, flashkm_metric metric, int64_t *labels,
                            float *dist) {
    const size_t n = s->n, d = s->d;
    const float *x = s->x + b * n * d;
    const float *xnorm = s->xnorm + b * n;
    if (n < FKM_CPU_BLAS_THRESHOLD) {
        assign_direct(s, x, n, cent, k, metric, labels, dist);
        return;
    }
    if (metric == FLASHKM_METRIC_L2) {
#pragma omp parallel for num_threads(s->nthreads) schedule(static)
        for (size_t j = 0; j < k; j++) s->cnorm[j] = fkm_norm_l2sqr(cent + j * d, d);
    }
    const float init = metric == FLASHKM_METRIC_L2 ? HUGE_VALF : -FLT_MAX;
    for (size_t i = 0; i < n; i++) { dist[i] = init; labels[i] = 0; }
    for (size_t i0 = 0; i0 < n; i0 += FKM_CPU_BLOCK_POINTS) {
        size_t i1 = i0 + FKM_CPU_BLOCK_POINTS < n ? i0 + FKM_CPU_BLOCK_POINTS : n;
        for (size_t j0 = 0; j0 < k; j0 += FKM_CPU_BLOCK_CENTROIDS) {
            size_t j1 = j0 + FKM_CPU_BLOCK_CENTROIDS < k
                            ? j0 + FKM_CPU_BLOCK_CENTROIDS : k;
            block_products(s, x, cent, i0, i1, j0, j1, s->ipblock);
            scan_block(s, xnorm, i0, i1, j0, j1, metric, labels, dist);
        }
    }
}
