/* gpu_upload.cu — getting the opened rows onto the device once: host rows
 * through pinned staging (gathered by several threads),
 * device rows gathered and checked on the device; then the assignment's
 * copy (fp16/bf16 when asked, scaled by a power of two so fp16 cannot
 * overflow) and the row norms. Also the per-iteration centroid preparation
 * and the fp32 row gather behind the gather op. */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "finite.h"
#include "gpu_state.h"
#include "host_rows.h"

#define FKM_STAGE_BYTES ((size_t)8 << 20)

/* Host fp32 rows: copied (gathering the subset) into pinned staging by
 * several threads, uploaded in pieces, two staging halves alternating so
 * the copy overlaps the transfer. The halves are small because pinning
 * costs ~0.3 ms per MiB (cudaHostAlloc, bench/cold_start.c): 2 x 8 MiB
 * keep a 50 GB/s transfer fed at a few ms of setup. */
static flashkm_status upload_host(fkm_gpu_state *s, const fkm_data *data) {
    const size_t d = s->d, row_bytes = d * sizeof(float);
    const float *x = (const float *)data->x;
    if (data->check_finite &&
        !fkm_all_finite(x, s->batch * data->n_full * d, s->host_threads))
        return fkm_set_error(FLASHKM_ERR_INVALID_ARGUMENT, "input contains NaN's or Inf's");
    size_t rows_per = FKM_STAGE_BYTES / row_bytes;
    if (rows_per == 0) rows_per = 1;
    if (rows_per > s->n) rows_per = s->n;
    float *stage = NULL;
    FKM_CUDA_TRY(cudaHostAlloc((void **)&stage, 2 * rows_per * row_bytes, cudaHostAllocDefault));
    cudaEvent_t done[2] = {NULL, NULL};
    flashkm_status st = FLASHKM_OK;
    for (int i = 0; i < 2 && st == FLASHKM_OK; i++) {
        cudaError_t e = fkm_ck(cudaEventCreateWithFlags(&done[i], cudaEventDisableTiming));
        if (e != cudaSuccess) st = fkm_cuda_status(e, "cudaEventCreateWithFlags");
    }
    int half = 0;
    for (size_t b = 0; b < s->batch && st == FLASHKM_OK; b++) {
        const float *xb = x + b * data->n_full * d;
        for (size_t r0 = 0; r0 < s->n; r0 += rows_per) {
            size_t cnt = s->n - r0 < rows_per ? s->n - r0 : rows_per;
            float *dst = stage + (size_t)half * rows_per * d;
            cudaError_t e = fkm_ck(cudaEventSynchronize(done[half]));
            if (e != cudaSuccess) { st = fkm_cuda_status(e, "cudaEventSynchronize"); break; }
            if (data->rows) fkm_copy_rows(dst, xb, data->rows + r0, cnt, d, s->host_threads);
            else fkm_copy_rows(dst, xb + r0 * d, NULL, cnt, d, s->host_threads);
            float *to = (float *)s->x + (b * s->n + r0) * d;
            e = fkm_ck(cudaMemcpyAsync(to, dst, cnt * row_bytes, cudaMemcpyHostToDevice, s->stream));
            if (e == cudaSuccess) e = fkm_ck(cudaEventRecord(done[half], s->stream));
            if (e != cudaSuccess) { st = fkm_cuda_status(e, "cudaMemcpyAsync"); break; }
            half ^= 1;
        }
    }
    cudaError_t e = fkm_ck(cudaStreamSynchronize(s->stream));
    if (st == FLASHKM_OK && e != cudaSuccess) st = fkm_cuda_status(e, "upload");
    for (int i = 0; i < 2; i++)
        if (done[i]) cudaEventDestroy(done[i]);
    cudaFreeHost(stage);
    return st;
}

__global__ void finite_kernel(const void *x, size_t count, int dt, int *bad) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    size_t stride = (size_t)gridDim.x * blockDim.x;
    int b = 0;
    for (; i < count; i += stride) b |= !isfinite(fkm_ld(x, i, dt));
    if (__syncthreads_or(b) && threadIdx.x == 0) *bad = 1;
}

/* Row r of problem b -> opened row: element-wise copy, same dtype. */
__global__ void gather_dev_kernel(const void *x, size_t n_full, size_t n,
                                  size_t d, size_t elem, const int64_t *rows,
                                  void *out) {
    size_t total = n * d; /* per problem */
    size_t b = blockIdx.y;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        size_t r = i / d, j = i % d;
        size_t src = (b * n_full + (size_t)rows[r]) * d + j, dst = b * total + i;
        if (elem == 4) ((float *)out)[dst] = ((const float *)x)[src];
        else ((unsigned short *)out)[dst] = ((const unsigned short *)x)[src];
    }
}

static flashkm_status upload_device(fkm_gpu_state *s, const fkm_data *data) {
    size_t elem = data->dtype == FLASHKM_DTYPE_F32 ? 4 : 2;
    int *bad = NULL;
    int64_t *rows = NULL;
    flashkm_status st = FLASHKM_OK;
    FKM_CUDA_TRY(cudaMalloc((void **)&bad, sizeof(int)));
    cudaError_t e = fkm_ck(cudaMemsetAsync(bad, 0, sizeof(int), s->stream));
    if (e == cudaSuccess && data->check_finite) {
        finite_kernel<<<1024, 256, 0, s->stream>>>(data->x, s->batch * data->n_full * s->d,
                                                   (int)data->dtype, bad);
        e = fkm_ck(cudaGetLastError());
    }
    if (e == cudaSuccess && data->rows) {
        e = fkm_ck(cudaMalloc((void **)&rows, s->n * sizeof(int64_t)));
        if (e == cudaSuccess)
            e = fkm_ck(cudaMemcpyAsync(rows, data->rows, s->n * sizeof(int64_t),
                                       cudaMemcpyHostToDevice, s->stream));
        if (e == cudaSuccess) {
            dim3 grid(1024, (unsigned)s->batch);
            gather_dev_kernel<<<grid, 256, 0, s->stream>>>(data->x, data->n_full, s->n,
                                                           s->d, elem, rows, s->x);
            e = fkm_ck(cudaGetLastError());
        }
    } else if (e == cudaSuccess) {
        e = fkm_ck(cudaMemcpyAsync(s->x, data->x, s->batch * s->n * s->d * elem,
                                   cudaMemcpyDeviceToDevice, s->stream));
    }
    int hbad = 0;
    if (e == cudaSuccess) e = fkm_ck(cudaMemcpyAsync(&hbad, bad, sizeof(int), cudaMemcpyDeviceToHost, s->stream));
    if (e == cudaSuccess) e = fkm_ck(cudaStreamSynchronize(s->stream));
    if (e != cudaSuccess) st = fkm_cuda_status(e, "device input");
    cudaFree(bad);
    if (rows) cudaFree(rows);
    if (st == FLASHKM_OK && hbad)
        st = fkm_set_error(FLASHKM_ERR_INVALID_ARGUMENT, "input contains NaN's or Inf's");
    return st;
}

static flashkm_status upload_weights(fkm_gpu_state *s, const fkm_data *data) {
    if (!data->weights) return FLASHKM_OK;
    flashkm_status st = FLASHKM_OK;
    float *h = (float *)fkm_alloc(s->batch * s->n, sizeof(float), &st);
    if (!h) return st;
    for (size_t b = 0; b < s->batch; b++)
        for (size_t i = 0; i < s->n; i++)
            h[b * s->n + i] = data->weights[b * data->n_full +
                                            (data->rows ? (size_t)data->rows[i] : i)];
    cudaError_t e = fkm_ck(cudaMemcpy(s->w, h, s->batch * s->n * sizeof(float), cudaMemcpyHostToDevice));
    free(h);
    return e == cudaSuccess ? FLASHKM_OK : fkm_cuda_status(e, "weights upload");
}

extern "C" flashkm_status fkm_gpu_upload(fkm_gpu_state *s, const fkm_data *data) {
    flashkm_status st = data->on_device ? upload_device(s, data) : upload_host(s, data);
    if (st == FLASHKM_OK) st = upload_weights(s, data);
    return st;
}

/* --- the assignment's copy and norms ------------------------------------ */

__global__ void maxabs_kernel(const void *x, size_t per, int dt, unsigned *out) {
    size_t b = blockIdx.y;
    float m = 0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < per;
         i += (size_t)gridDim.x * blockDim.x)
        m = fmaxf(m, fabsf(fkm_ld(x, b * per + i, dt)));
    for (int o = 16; o; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    if ((threadIdx.x & 31) == 0) atomicMax(out + b, __float_as_uint(m));
}

/* fp16 holds at most 65504: scale rows down by a power of two (exact) when
 * the largest value passes 2^14, leaving room for the centroids' means. */
__global__ void scale_kernel(const unsigned *maxbits, size_t batch, int f16, float *scale) {
    size_t b = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (b >= batch) return;
    float m = __uint_as_float(maxbits[b]), s = 1.f;
    if (f16) while (m * s > 16384.f) s *= 0.5f;
    scale[b] = s;
}

__device__ __forceinline__ float fkm_round_to(float v, int asg) {
    if (asg == FKM_ASG_F16) return __half2float(__float2half_rn(fminf(fmaxf(v, -65504.f), 65504.f)));
    if (asg == FKM_ASG_BF16) return __bfloat162float(__float2bfloat16_rn(v));
    return v;
}

/* tf32 copies are stored rounded (fkm_tf32): the wgmma kernel reads them
 * as they are; the norms stay those of the values. */
__device__ __forceinline__ void fkm_store_as(void *out, size_t i, float v, int asg) {
    if (asg == FKM_ASG_F16) {
        ((__half *)out)[i] = __float2half_rn(v);
    } else if (asg == FKM_ASG_BF16) {
        ((__nv_bfloat16 *)out)[i] = __float2bfloat16_rn(v);
    } else if (asg == FKM_ASG_TF32) {
        ((uint32_t *)out)[i] = fkm_tf32(v);
    } else {
        ((float *)out)[i] = v;
    }
}

/* One warp per row: out = round(x * scale) (when out != NULL) and
 * norm = |round(x * scale)|^2 / scale^2, summed in fp32. */
__global__ void rows_prepare_kernel(const void *x, int dt, size_t rows, size_t per_problem,
                                    size_t d, const float *scale, int asg, void *out,
                                    float *norm) {
    size_t r = (blockIdx.x * (size_t)blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (r >= rows) return;
    float s = scale[r / per_problem], acc = 0;
    for (size_t j = lane; j < d; j += 32) {
        float v = fkm_round_to(fkm_ld(x, r * d + j, dt) * s, asg);
        if (out) fkm_store_as(out, r * d + j, v, asg);
        acc = fmaf(v, v, acc);
    }
    for (int o = 16; o; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
    if (lane == 0) norm[r] = acc / (s * s);
}

/* --- fp32 precision by split fp16 products (FKM_ASG_F16X3) ---------------
 * v = x * s = hi + lo, hi = fp16(v), lo = fp16(v - hi): 11 + 11 bits, as
 * 3xTF32's hi/lo, so x.c ~ hi.hi + hi.lo + lo.hi to ~2^-22 per product.
 * The points' scale s (per problem) puts max|x s| in [2^14, 2^15): no
 * overflow, and lo stays a normal fp16 down to |x s| ~ 2^-3 (below, lo
 * loses bits: an absolute error <= 2^-25 per element). Each centroid has a
 * scale t of its own (its row max in [2^14, 2^15)), so only the points can
 * lose precision that way; that stays under fp32's own rounding of the
 * distance while every nonzero row has |x s| >= sqrt(d) / 2 (then
 * 2^-25 |c t|_1 <= 2^-24 |x s| |c t|). A problem with a smaller nonzero
 * row, or out of the exponent range below, runs 3xTF32 instead. */
#define FKM_X3_EMAX 60 /* |log2| of the scales: s * t stays a normal float */

__device__ __forceinline__ int fkm_x3_exp(float m) { /* e: m * 2^e in [2^14, 2^15) */
    int e = 0;
    if (m > 0) frexpf(m, &e); /* m in [2^(e-1), 2^e) */
    return 15 - e;
}

__global__ void split_scale_kernel(const unsigned *maxbits, size_t batch, float *scale, int *bad) {
    size_t b = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (b >= batch) return;
    int e = fkm_x3_exp(__uint_as_float(maxbits[b]));
    if (e < -FKM_X3_EMAX || e > FKM_X3_EMAX) {
        *bad = 1;
        e = e < 0 ? -FKM_X3_EMAX : FKM_X3_EMAX;
    }
    scale[b] = ldexpf(1.f, e);
}

/* One warp per row: chunks of 32 elements as [32 hi | 32 lo] halves, rows
 * padded with zeros to 32 elements; norm = |x|^2 in fp32 (the same sum, in
 * the same order, as rows_prepare_kernel's for 3xTF32). Points (cinv NULL):
 * the problem's scale, *bad set for a row the split cannot carry. Centroids:
 * the row's own scale t, cinv[r] = 1 / (s t), and in c16 (when not NULL)
 * the row in fp16 at the points' scale s for the certified search. */
__global__ void split_rows_kernel(const void *x, int dt, size_t rows, size_t per_problem,
                                  size_t d, const float *scale, __half *out, float *norm,
                                  float *cinv, int *bad, __half *c16) {
    size_t r = (blockIdx.x * (size_t)blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (r >= rows) return;
    const size_t dp = (d + 31) / 32 * 32;
    float s = scale[r / per_problem];
    if (c16)
        for (size_t j = lane; j < dp; j += 32)
            c16[r * dp + j] = __float2half_rn(j < d ? fkm_ld(x, r * d + j, dt) * s : 0.f);
    if (cinv) {
        float m = 0;
        for (size_t j = lane; j < d; j += 32) m = fmaxf(m, fabsf(fkm_ld(x, r * d + j, dt)));
        for (int o = 16; o; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
        int es = 0;
        frexpf(s, &es); /* s = 2^(es - 1) */
        int et = fkm_x3_exp(m);
        et = et < -FKM_X3_EMAX ? -FKM_X3_EMAX : et > FKM_X3_EMAX ? FKM_X3_EMAX : et;
        if (lane == 0) cinv[r] = ldexpf(1.f, -(es - 1 + et));
        s = ldexpf(1.f, et);
    }
    float acc = 0, acc_s = 0;
    __half *o = out + r * 2 * dp + lane;
    for (size_t j0 = 0; j0 < dp; j0 += 32) {
        const size_t j = j0 + lane;
        const float xv = j < d ? fkm_ld(x, r * d + j, dt) : 0.f, v = xv * s;
        const __half hi = __float2half_rn(v);
        o[2 * j0] = hi;
        o[2 * j0 + 32] = __float2half_rn(v - __half2float(hi));
        acc = fmaf(xv, xv, acc);
        acc_s = fmaf(v, v, acc_s);
    }
    for (int k = 16; k; k >>= 1) {
        acc += __shfl_xor_sync(0xffffffffu, acc, k);
        acc_s += __shfl_xor_sync(0xffffffffu, acc_s, k);
    }
    if (lane == 0) {
        norm[r] = acc;
        if (!cinv && acc_s > 0 && acc_s < 0.25f * (float)d) *bad = 1;
    }
}

static void launch_split_rows(const fkm_gpu_state *s, const void *x, int dt, size_t rows,
                              size_t per_problem, float *norm, float *cinv, int *bad,
                              void *out, void *c16) {
    size_t threads = rows * 32;
    unsigned blocks = (unsigned)((threads + 255) / 256);
    split_rows_kernel<<<blocks, 256, 0, s->stream>>>(x, dt, rows, per_problem, s->d, s->scale,
                                                     (__half *)out, norm, cinv, bad,
                                                     (__half *)c16);
}

/* F16X3's point copy; 0 when the data's range sends the run to F32X3. */
static flashkm_status prepare_points_split(fkm_gpu_state *s, const unsigned *maxbits,
                                           int *ok) {
    int *bad = (int *)s->dist; /* scratch: nothing is assigned yet */
    FKM_CUDA_TRY(cudaMemsetAsync(bad, 0, sizeof(int), s->stream));
    split_scale_kernel<<<(unsigned)((s->batch + 255) / 256), 256, 0, s->stream>>>(
        maxbits, s->batch, s->scale, bad);
    launch_split_rows(s, s->x, (int)s->xdtype, s->batch * s->n, s->n, s->xnorm, NULL, bad,
                      s->xa, NULL);
    FKM_CUDA_TRY(cudaGetLastError());
    int hbad = 0;
    FKM_CUDA_TRY(cudaMemcpyAsync(&hbad, bad, sizeof(int), cudaMemcpyDeviceToHost, s->stream));
    FKM_CUDA_TRY(cudaStreamSynchronize(s->stream));
    *ok = !hbad;
    return FLASHKM_OK;
}

static void launch_rows_prepare(const fkm_gpu_state *s, const void *x, int dt, size_t rows,
                                size_t per_problem, void *out, float *norm) {
    size_t threads = rows * 32;
    unsigned blocks = (unsigned)((threads + 255) / 256);
    rows_prepare_kernel<<<blocks, 256, 0, s->stream>>>(x, dt, rows, per_problem, s->d,
                                                       s->scale, (int)s->asg, out, norm);
}

extern "C" flashkm_status fkm_gpu_prepare_points(fkm_gpu_state *s) {
    unsigned *maxbits = (unsigned *)s->hassign; /* scratch: batch <= batch * k_max */
    FKM_CUDA_TRY(cudaMemsetAsync(maxbits, 0, s->batch * sizeof(unsigned), s->stream));
    dim3 grid(256, (unsigned)s->batch);
    maxabs_kernel<<<grid, 256, 0, s->stream>>>(s->x, s->n * s->d, (int)s->xdtype, maxbits);
    if (s->asg == FKM_ASG_F16X3) {
        int ok = 0;
        flashkm_status st = prepare_points_split(s, maxbits, &ok);
        if (st != FLASHKM_OK || ok) return st;
        /* the range is too wide for fp16 halves: 3xTF32 on fp32 rows (the
         * split copy's buffer holds them when x is not fp32 already) */
        s->asg = FKM_ASG_F32X3;
        if (s->xdtype == FLASHKM_DTYPE_F32) s->xa = s->x;
        s->centa = s->cent;
    }
    scale_kernel<<<(unsigned)((s->batch + 255) / 256), 256, 0, s->stream>>>(
        maxbits, s->batch, s->asg == FKM_ASG_F16, s->scale);
    launch_rows_prepare(s, s->x, (int)s->xdtype, s->batch * s->n, s->n,
                        s->xa != s->x ? s->xa : NULL, s->xnorm);
    /* each problem's largest |x|^2 (norms are >= 0: their max |.|) */
    FKM_CUDA_TRY(cudaMemsetAsync(s->xnmax, 0, s->batch * sizeof(float), s->stream));
    maxabs_kernel<<<grid, 256, 0, s->stream>>>(s->xnorm, s->n, FLASHKM_DTYPE_F32,
                                                (unsigned *)s->xnmax);
    fkm_launch_pack_rows(s); /* the packed fold's check of the rows */
    FKM_CUDA_TRY(cudaGetLastError());
    FKM_CUDA_TRY(cudaStreamSynchronize(s->stream));
    return FLASHKM_OK;
}

extern "C" void fkm_launch_prepare_centroids(fkm_gpu_state *s, size_t k) {
    if (s->asg == FKM_ASG_F16X3) {
        launch_split_rows(s, s->cent, FLASHKM_DTYPE_F32, s->batch * k, k, s->cnorm,
                          s->cnorm + s->batch * s->k_max, NULL, s->centa, s->c16);
        return;
    }
    launch_rows_prepare(s, s->cent, FLASHKM_DTYPE_F32, s->batch * k, k,
                        s->centa != (void *)s->cent ? s->centa : NULL, s->cnorm);
}

__global__ void gather_f32_kernel(const void *x, int dt, size_t n, size_t d,
                                  const uint32_t *rows, size_t count, float *out) {
    size_t b = blockIdx.y, total = count * d;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        size_t r = i / d, j = i % d;
        out[b * total + i] = fkm_ld(x, (b * n + rows[r]) * d + j, dt);
    }
}

extern "C" void fkm_launch_gather_rows_f32(const fkm_gpu_state *s, const uint32_t *rows,
                                           size_t count, float *out) {
    dim3 grid(512, (unsigned)s->batch);
    gather_f32_kernel<<<grid, 256, 0, s->stream>>>(s->x, (int)s->xdtype, s->n, s->d, rows,
                                                   count, out);
}
