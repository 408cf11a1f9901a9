/* gpu_open.cu — opening and closing the GPU engine: device and stream,
 * the memory plan (every buffer of the run, counted before anything is
 * allocated and refused with FLASHKM_ERR_OUT_OF_MEMORY naming the bytes
 * when over the device's free memory, params->gpu_memory_limit or
 * FLASHKM_GPU_MEMORY_LIMIT), one allocation carved into the buffers, and
 * the upload. */
#include <stdlib.h>
#include <string.h>

#include "gpu_open.h"

extern "C" flashkm_status fkm_cuda_status(cudaError_t e, const char *what) {
    cudaGetLastError(); /* clear a non-sticky error so later calls work */
    if (e == cudaErrorInsufficientDriver || e == cudaErrorNoDevice)
        return fkm_set_error(FLASHKM_ERR_NO_DEVICE, "no usable CUDA device (%s: %s)", what,
                             cudaGetErrorString(e));
    if (e == cudaErrorMemoryAllocation)
        return fkm_set_error(FLASHKM_ERR_OUT_OF_MEMORY, "device memory allocation failed (%s: %s)",
                             what, cudaGetErrorString(e));
    return fkm_set_error(FLASHKM_ERR_DEVICE, "CUDA error in %s: %s", what, cudaGetErrorString(e));
}

static size_t dtype_bytes(flashkm_dtype t) { return t == FLASHKM_DTYPE_F32 ? 4 : 2; }

static fkm_asg_kind asg_of(flashkm_precision p, size_t d) {
    switch (p) {
    case FLASHKM_PRECISION_TF32: return FKM_ASG_TF32;
    case FLASHKM_PRECISION_FP16: return FKM_ASG_F16;
    case FLASHKM_PRECISION_BF16: return FKM_ASG_BF16;
    default: /* fp32: split fp16 products (F32X3 if they can't); small d: 3xTF32 */
        return d <= FKM_SMALL_D ? FKM_ASG_F32X3 : FKM_ASG_F16X3;
    }
}

/* Bytes of one row as the assignment reads it: F16X3 keeps hi and lo
 * halves, rows padded to 32 elements (see gpu_state.h). */
static size_t asg_row_bytes(fkm_asg_kind a, size_t d) {
    if (a == FKM_ASG_F16X3) return (d + 31) / 32 * 32 * 4;
    return d * (a == FKM_ASG_F16 || a == FKM_ASG_BF16 ? 2 : 4);
}

/* The centroids have their own assignment copy (not the fp32 ones); tf32's
 * is rounded to tf32 (wgmma reads raw fp32 and truncates, see
 * assign_wgmma.cu and assign_wide.cu). */
static int own_centa(fkm_asg_kind a) {
    return a == FKM_ASG_F16 || a == FKM_ASG_BF16 || a == FKM_ASG_F16X3 || a == FKM_ASG_TF32;
}

/* The assignment reads its own copy unless x already has its type. tf32
 * has one, stored rounded (gpu_upload.cu), unless memory is short
 * (allocate): the wgmma kernels read it as it is, where they rounded each
 * buffer of rows in shared memory while the next buffer's copies were in
 * flight (compute-sanitizer's racecheck reported the two writers as
 * racing), and the streamed rows once per 256 centroids. F16X3's copy is at least d fp32 values long, so
 * it can hold F32X3's fp32 copy when the data's range sends the run back to
 * F32X3 (gpu_upload.cu). */
static int needs_xa(const fkm_gpu_state *s) {
    switch (s->asg) {
    case FKM_ASG_F16X3: return 1;
    case FKM_ASG_TF32: return s->xdtype != FLASHKM_DTYPE_F32 || s->tf32_copy;
    case FKM_ASG_F16: return s->xdtype != FLASHKM_DTYPE_F16;
    case FKM_ASG_BF16: return s->xdtype != FLASHKM_DTYPE_BF16;
    default: return s->xdtype != FLASHKM_DTYPE_F32;
    }
}

#define FKM_ALIGN(v) (((v) + 255) & ~(size_t)255)

/* Byte offsets of every buffer in the one allocation; returns the total. */
static size_t plan(fkm_gpu_state *s, int weighted, size_t off[FKM_NBUF]) {
    const size_t rows = s->batch * s->n, groups = s->batch * s->k_max, d = s->d;
    size_t sz[FKM_NBUF] = {0};
    sz[B_X] = rows * d * dtype_bytes(s->xdtype);
    sz[B_XA] = needs_xa(s) ? rows * asg_row_bytes(s->asg, d) : 0;
    sz[B_SCALE] = s->batch * sizeof(float);
    sz[B_XNORM] = rows * sizeof(float);
    sz[B_W] = weighted ? rows * sizeof(float) : 0;
    sz[B_CENT] = groups * d * sizeof(float);
    sz[B_CENTA] = own_centa(s->asg) ? groups * asg_row_bytes(s->asg, d) : 0;
    /* F16X3: |c|^2, then each centroid's 1 / (point scale * its own scale) */
    sz[B_CNORM] = groups * sizeof(float) * (s->asg == FKM_ASG_F16X3 ? 2 : 1);
    sz[B_DIST] = rows * sizeof(float);
    sz[B_KEYS] = sz[B_KEYS2] = sz[B_IOTA] = sz[B_ORDER] = rows * sizeof(uint32_t);
    sz[B_SEG] = (groups + 1) * sizeof(uint32_t);
    sz[B_FINISHED] = groups * sizeof(uint32_t);
    sz[B_PART] = fkm_upd_chunks_max(rows, groups) * d * sizeof(float);
    sz[B_HASSIGN] = groups * sizeof(float) > s->batch * 4 ? groups * sizeof(float) : s->batch * 4;
    sz[B_SORT] = s->sort_tmp_bytes;
    sz[B_OBJ] = s->batch * FKM_OBJ_BLOCKS * sizeof(double);
    sz[B_STATS] = s->batch * (size_t)s->niter_cap * sizeof(flashkm_iteration_stats);
    sz[B_MT] = s->batch * sizeof(fkm_mt19937);
    if (s->asg == FKM_ASG_F16X3) { /* the certified search (assign_certify.cu) */
        sz[B_C16] = groups * ((d + 31) / 32 * 32) * 2;
        sz[B_CMAX] = s->batch * sizeof(float);
        sz[B_UNC] = rows * sizeof(uint32_t);
        sz[B_UNCN] = s->batch * sizeof(uint32_t);
    }
    /* the wgmma kernels' column biases (wgmma.cuh), whole 256-column tiles */
    sz[B_BIAS] = s->batch * fkm_bias_cols(s->k_max) * sizeof(float);
    /* xnmax, pack_off, pack_xwide, pack_coarse */
    sz[B_XNMAX] = 4 * s->batch * sizeof(float);
    size_t total = 0;
    for (int i = 0; i < FKM_NBUF; i++) {
        off[i] = total;
        total += FKM_ALIGN(sz[i]);
    }
    return total;
}

static size_t env_limit(void) {
    const char *v = getenv("FLASHKM_GPU_MEMORY_LIMIT");
    if (!v || !*v) return 0;
    char *end = NULL;
    unsigned long long l = strtoull(v, &end, 10);
    return (end && *end == 0) ? (size_t)l : 0;
}

static flashkm_status check_sizes(const fkm_gpu_state *s) {
    const size_t rows = s->batch * s->n, groups = s->batch * s->k_max;
    if (s->batch > 65535)
        return fkm_set_error(FLASHKM_ERR_UNSUPPORTED, "GPU engine: batch = %zu > 65535", s->batch);
    if (rows >= ((size_t)1 << 32) - 1 || groups >= ((size_t)1 << 31))
        return fkm_set_error(FLASHKM_ERR_UNSUPPORTED,
                             "GPU engine: batch * n = %zu rows or batch * k = %zu centroids "
                             "exceed 32-bit indices", rows, groups);
    if ((s->n + 127) / 128 * s->batch >= ((size_t)1 << 31))
        return fkm_set_error(FLASHKM_ERR_UNSUPPORTED, "GPU engine: too many rows");
    return FLASHKM_OK;
}

static flashkm_status allocate(fkm_gpu_state *s, const flashkm_params *p, int weighted) {
    /* enough for every sort a run may ask for: label-major groups sort
     * fewer bits (gpu_state.h), and CUB's need is not promised monotone */
    s->sort_tmp_bytes = 0;
    for (int bits = 1; bits <= fkm_bits_for(s->batch * s->k_max); bits++) {
        const size_t t = fkm_sort_tmp_bytes(s->batch * s->n, bits);
        if (t > s->sort_tmp_bytes) s->sort_tmp_bytes = t;
    }
    size_t off[FKM_NBUF];
    s->tf32_copy = 1;
    size_t need = plan(s, weighted, off);
    size_t limit = p->gpu_memory_limit, env = env_limit();
    if (env && (!limit || env < limit)) limit = env;
    size_t free_b = 0, total_b = 0;
    FKM_CUDA_TRY(cudaMemGetInfo(&free_b, &total_b));
    if ((limit && need > limit) || need > free_b) {
        /* no room for a copy the search can do without: F16X3 splits in
         * the kernel instead (F32X3), tf32 rounds there (mma.sync) */
        if (s->asg == FKM_ASG_F16X3) s->asg = FKM_ASG_F32X3;
        s->tf32_copy = 0;
        need = plan(s, weighted, off);
    }
    if (limit && need > limit)
        return fkm_set_error(FLASHKM_ERR_OUT_OF_MEMORY,
                             "GPU engine needs %zu bytes of device memory, over the limit of "
                             "%zu bytes", need, limit);
    if (need > free_b)
        return fkm_set_error(FLASHKM_ERR_OUT_OF_MEMORY,
                             "GPU engine needs %zu bytes of device memory, %zu bytes are free "
                             "on device %d", need, free_b, s->device);
    cudaError_t e = fkm_ck(cudaMalloc(&s->base, need));
    if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        return fkm_set_error(FLASHKM_ERR_OUT_OF_MEMORY,
                             "GPU engine: cudaMalloc of %zu bytes failed on device %d", need,
                             s->device);
    }
    if (e != cudaSuccess) return fkm_cuda_status(e, "cudaMalloc");
    char *b = (char *)s->base;
    s->x = b + off[B_X];
    s->xa = needs_xa(s) ? (void *)(b + off[B_XA]) : s->x;
    s->scale = (float *)(b + off[B_SCALE]);
    s->xnorm = (float *)(b + off[B_XNORM]);
    s->w = weighted ? (float *)(b + off[B_W]) : NULL;
    s->cent = (float *)(b + off[B_CENT]);
    s->centa = own_centa(s->asg) ? (void *)(b + off[B_CENTA]) : (void *)s->cent;
    s->cnorm = (float *)(b + off[B_CNORM]);
    s->dist = (float *)(b + off[B_DIST]);
    s->keys = (uint32_t *)(b + off[B_KEYS]);
    s->keys_sorted = (uint32_t *)(b + off[B_KEYS2]);
    s->iota = (uint32_t *)(b + off[B_IOTA]);
    s->order = (uint32_t *)(b + off[B_ORDER]);
    s->seg = (uint32_t *)(b + off[B_SEG]);
    s->finished = (uint32_t *)(b + off[B_FINISHED]);
    s->part = (float *)(b + off[B_PART]);
    s->hassign = (float *)(b + off[B_HASSIGN]);
    s->sort_tmp = b + off[B_SORT];
    s->obj_part = (double *)(b + off[B_OBJ]);
    s->dstats = (flashkm_iteration_stats *)(b + off[B_STATS]);
    s->mt = (fkm_mt19937 *)(b + off[B_MT]);
    s->c16 = b + off[B_C16];
    s->cmax = (float *)(b + off[B_CMAX]);
    s->unc = (uint32_t *)(b + off[B_UNC]);
    s->unc_count = (uint32_t *)(b + off[B_UNCN]);
    s->bias = (float *)(b + off[B_BIAS]);
    s->xnmax = (float *)(b + off[B_XNMAX]);
    s->pack_off = s->xnmax + s->batch;
    s->pack_xwide = (uint32_t *)(s->pack_off + s->batch);
    s->pack_coarse = s->pack_xwide + s->batch;
    return FLASHKM_OK;
}

__global__ void iota_kernel(uint32_t *v, size_t count) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x)
        v[i] = (uint32_t)i;
}

/* Rows of at most 3/4 of L2 are read at evict_last priority by the
 * small-d search where it reads them, so that more of them are still in L2
 * for the update's gathers of random rows instead of in HBM, whose 64-byte
 * fetches a 32-byte row wastes half of. Measured it does little: at
 * pq-batched (32 MB of rows) the update still read 28 MB from DRAM (v21,
 * when its gathers were hinted too; dropped since: the search's hints put
 * the rows at evict_last before the update runs), and the iteration is
 * 2-3 us faster with it (H200, v23: tf32 0.144 against 0.146-0.147 ms
 * with FKM_L2_KEEP=0). */
static int x_fits_l2(const fkm_gpu_state *s) {
    const char *env = getenv("FKM_L2_KEEP"); /* 0: off, to measure it */
    if (env && env[0] == '0') return 0;
    int l2 = 0;
    if (cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, s->device) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return s->batch * s->n * s->d * dtype_bytes(s->xdtype) <= (size_t)l2 / 4 * 3;
}

static flashkm_status open_on_device(fkm_gpu_state *s, const flashkm_params *p,
                                     const fkm_data *data) {
    flashkm_status st = check_sizes(s);
    if (st != FLASHKM_OK) return st;
    if (p->stream) {
        s->stream = (cudaStream_t)p->stream;
    } else {
        FKM_CUDA_TRY(cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking));
        s->own_stream = 1;
    }
    st = allocate(s, p, data->weights != NULL);
    if (st != FLASHKM_OK) return st;
    s->x_l2_keep = x_fits_l2(s);
    iota_kernel<<<1024, 256, 0, s->stream>>>(s->iota, s->batch * s->n);
    FKM_CUDA_TRY(cudaGetLastError());
    if (s->asg == FKM_ASG_F16X3) /* the certified search starts with no rows skipped */
        FKM_CUDA_TRY(cudaMemsetAsync(s->unc_count, 0, s->batch * sizeof(uint32_t), s->stream));
    st = fkm_gpu_upload(s, data);
    if (st == FLASHKM_OK) st = fkm_gpu_prepare_points(s);
    return st;
}

extern "C" void fkm_gpu_close(void *state) {
    fkm_gpu_state *s = (fkm_gpu_state *)state;
    if (!s) return;
    int prev = 0;
    cudaGetDevice(&prev);
    cudaSetDevice(s->device);
    if (s->stream) cudaStreamSynchronize(s->stream);
    if (s->base) cudaFree(s->base);
    if (s->own_stream) cudaStreamDestroy(s->stream);
    cudaSetDevice(prev);
    free(s);
}

extern "C" flashkm_status fkm_gpu_open(const flashkm_params *p, const fkm_data *data,
                                       size_t k_max, void **state) {
    int count = 0;
    cudaError_t e = fkm_ck(cudaGetDeviceCount(&count));
    if (e != cudaSuccess) return fkm_cuda_status(e, "cudaGetDeviceCount");
    if (p->device < 0 || p->device >= count)
        return fkm_set_error(count ? FLASHKM_ERR_INVALID_ARGUMENT : FLASHKM_ERR_NO_DEVICE,
                             "device = %d but %d CUDA device(s) are present", p->device, count);
    flashkm_status st = FLASHKM_OK;
    fkm_gpu_state *s = (fkm_gpu_state *)fkm_alloc(1, sizeof *s, &st);
    if (!s) return st;
    memset(s, 0, sizeof *s);
    s->device = p->device;
    s->host_threads = p->num_threads;
    s->batch = data->batch;
    s->n = data->n;
    s->d = data->d;
    s->k_max = k_max;
    s->asg = asg_of(p->precision, s->d);
    s->xdtype = data->on_device ? data->dtype : FLASHKM_DTYPE_F32;
    s->niter_cap = p->niter > 0 ? p->niter : 1;
    int prev = 0;
    cudaGetDevice(&prev);
    e = fkm_ck(cudaSetDevice(s->device));
    st = e == cudaSuccess ? open_on_device(s, p, data) : fkm_cuda_status(e, "cudaSetDevice");
    cudaSetDevice(prev);
    if (st != FLASHKM_OK) {
        fkm_gpu_close(s);
        return st;
    }
    *state = s;
    return FLASHKM_OK;
}
