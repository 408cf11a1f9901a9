/* update_sort.cu — the centroid update by sort-inverse: one radix sort of
 * the (problem * k + label) keys, values = row indices, groups every
 * centroid's rows in increasing row order (the sort is stable) without
 * moving x. Then each (centroid, dimension) is one thread that adds its
 * rows in that order in fp32, exactly as FAISS's compute_centroids does
 * (c += x, or c += x * w, unfused), so the new centroids are bit-identical
 * to the CPU engine's whenever the assignments agree, and the same on every
 * run. Groups are processed one block each (see centroid_sum_kernel). */
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_scan.cuh>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "gpu_state.h"

/* Temporary bytes for the sort and for the chunk scan (one buffer serves
 * both, one after the other). */
extern "C" size_t fkm_sort_tmp_bytes(size_t items, size_t groups, int end_bit) {
    size_t bytes = 0, scan = 0;
    cub::DeviceRadixSort::SortPairs(NULL, bytes, (const uint32_t *)NULL, (uint32_t *)NULL,
                                    (const uint32_t *)NULL, (uint32_t *)NULL, items, 0,
                                    end_bit);
    cub::DeviceScan::ExclusiveSum(NULL, scan, (const uint32_t *)NULL, (uint32_t *)NULL,
                                  (int)groups);
    return bytes > scan ? bytes : scan;
}

/* A group of more than FKM_UPD_CHUNK rows is summed in chunks by several
 * blocks (one SM cannot pull a giant cluster fast enough), then the chunk
 * sums are added in chunk order: deterministic, and within rounding of
 * FAISS's order. Groups of at most FKM_UPD_CHUNK rows — all of them in
 * balanced runs — stay bit-identical to FAISS. */
__global__ void chunk_count_kernel(const uint32_t *seg, size_t groups, uint32_t *cnt) {
    size_t c = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (c >= groups) return;
    uint32_t m = seg[c + 1] - seg[c];
    cnt[c] = m <= FKM_UPD_CHUNK ? 1u : (m + FKM_UPD_CHUNK - 1) / FKM_UPD_CHUNK;
}

/* seg[c] = first sorted position whose key is >= c, for c in 0 .. groups. */
__global__ void segments_kernel(const uint32_t *keys, size_t items, size_t groups,
                                uint32_t *seg) {
    size_t c = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (c > groups) return;
    size_t lo = 0, hi = items;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (keys[mid] < c) lo = mid + 1;
        else hi = mid;
    }
    seg[c] = (uint32_t)lo;
}

/* FAISS's hassign: h += w in row order, or h += 1.0 (which saturates at
 * 2^24 in float: the same value the count gives when capped there). */
__global__ void hassign_kernel(const uint32_t *seg, const uint32_t *order, const float *w,
                               size_t groups, size_t k, size_t k_frozen, float *hassign) {
    size_t c = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (c >= groups) return;
    if (c % k < k_frozen) { hassign[c] = 0; return; }
    uint32_t p0 = seg[c], p1 = seg[c + 1];
    float h = 0;
    if (w) {
        for (uint32_t p = p0; p < p1; p++) h = __fadd_rn(h, w[order[p]]);
    } else {
        uint32_t cnt = p1 - p0;
        h = cnt > (1u << 24) ? 16777216.f : (float)cnt;
    }
    hassign[c] = h;
}

template <typename T>
__device__ __forceinline__ float upd_ld(const T *x, size_t i) {
    return (float)x[i];
}
template <>
__device__ __forceinline__ float upd_ld<__half>(const __half *x, size_t i) {
    return __half2float(x[i]);
}
template <>
__device__ __forceinline__ float upd_ld<__nv_bfloat16>(const __nv_bfloat16 *x, size_t i) {
    return __bfloat162float(x[i]);
}

#define UPD_THREADS 128
#define UPD_TILE 8192
#define UPD_MAX_ROWS 1024

/* 16 bytes of a row (4 floats or 8 halves) into 4 or 8 floats of the tile:
 * the same exact conversions as upd_ld. */
template <typename T> /* __half or __nv_bfloat16 */
__device__ __forceinline__ void upd_store16(float *dst, uint4 v) {
    const T *h = (const T *)&v;
    float f[8];
#pragma unroll
    for (int i = 0; i < 8; i++) f[i] = upd_ld(h, i);
    *(float4 *)dst = make_float4(f[0], f[1], f[2], f[3]);
    *(float4 *)(dst + 4) = make_float4(f[4], f[5], f[6], f[7]);
}
template <>
__device__ __forceinline__ void upd_store16<float>(float *dst, uint4 v) {
    *(uint4 *)dst = v;
}

/* The tile's rows gathered in 16-byte pieces (rows 16-byte aligned, as
 * cudaMalloc'd rows of d * sizeof(T) % 16 == 0 are): UPD_VEC pieces in
 * flight per thread, 16 KB per block. With 2-byte loads per lane the
 * gather had 1 KB in flight per warp and ran at ~0.5 TB/s, latency-bound. */
#define UPD_VEC 8
template <typename T>
__device__ __forceinline__ void upd_gather16(float *tile, const T *x, const uint32_t *idx,
                                             size_t nr, size_t dd, size_t d, size_t j0, int t) {
    constexpr uint32_t EPP = 16 / sizeof(T); /* elements per piece */
    const uint32_t per = (uint32_t)(dd / EPP), total = (uint32_t)nr * per;
    for (uint32_t p0 = (uint32_t)t; p0 < total; p0 += UPD_VEC * UPD_THREADS) {
        uint4 v[UPD_VEC];
#pragma unroll
        for (int i = 0; i < UPD_VEC; i++) {
            const uint32_t p = p0 + i * UPD_THREADS, r = p / per, e = (p - r * per) * EPP;
            v[i] = p < total ? __ldg((const uint4 *)(x + (size_t)idx[r] * d + j0 + e))
                             : make_uint4(0, 0, 0, 0);
        }
#pragma unroll
        for (int i = 0; i < UPD_VEC; i++) {
            const uint32_t p = p0 + i * UPD_THREADS, r = p / per, e = (p - r * per) * EPP;
            if (p < total) upd_store16<T>(tile + (size_t)r * dd + e, v[i]);
        }
    }
}

/* Block = (group, 128 dimensions). The group's rows come through shared
 * memory in tiles of up to UPD_TILE values, loaded by all threads at once
 * (many loads in flight, coalesced along each row), then thread j adds
 * column j of the tile in row order: the only sequential part left is the
 * chain of adds, whatever the group's size. */

template <typename T>
__global__ void __launch_bounds__(UPD_THREADS)
centroid_sum_kernel(const T *x, const float *w, const uint32_t *seg, const uint32_t *order,
                    const uint32_t *cnt, const uint32_t *cstart, size_t groups,
                    const float *hassign, size_t k, size_t k_frozen, size_t d, float *cent,
                    float *part, int vec16) {
    __shared__ __align__(16) float tile[UPD_TILE];
    __shared__ uint32_t idx[UPD_MAX_ROWS];
    __shared__ float wt[UPD_MAX_ROWS];
    const size_t u = blockIdx.x, j0 = (size_t)blockIdx.y * UPD_THREADS;
    if (u >= (size_t)cstart[groups - 1] + cnt[groups - 1]) return; /* past the last chunk */
    size_t lo = 0, hi = groups; /* c = last group with cstart[c] <= u */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (cstart[mid] <= u) lo = mid;
        else hi = mid;
    }
    const size_t c = lo;
    if (c % k < k_frozen) return;
    const int t = threadIdx.x;
    const size_t dd = d - j0 < UPD_THREADS ? d - j0 : UPD_THREADS;
    size_t rows = UPD_TILE / dd;
    if (rows > UPD_MAX_ROWS) rows = UPD_MAX_ROWS;
    const uint32_t q0 = (uint32_t)(u - cstart[c]);
    const uint32_t p0 = seg[c] + q0 * FKM_UPD_CHUNK;
    const uint32_t p1 = seg[c + 1] - p0 > FKM_UPD_CHUNK ? p0 + FKM_UPD_CHUNK : seg[c + 1];
    float s = 0;
    for (uint32_t q = p0; q < p1; q += (uint32_t)rows) {
        const size_t nr = p1 - q < rows ? p1 - q : rows;
        __syncthreads(); /* the previous tile is consumed */
        for (size_t r = t; r < nr; r += UPD_THREADS) {
            uint32_t i = order[q + r];
            idx[r] = i;
            if (w) wt[r] = w[i];
        }
        __syncthreads();
        /* unaligned rows: warp per row, lanes along it (coalesced, no
         * index division); 4 rows x 4 columns per lane: 16 loads in flight */
        const int wp = t >> 5, ln = t & 31;
        if (vec16) upd_gather16<T>(tile, x, idx, nr, dd, d, j0, t);
        else for (size_t r0 = (size_t)wp; r0 < nr; r0 += 4 * (UPD_THREADS / 32)) {
            float v[4][4];
#pragma unroll
            for (int u = 0; u < 4; u++) {
                const size_t r = r0 + (size_t)u * (UPD_THREADS / 32);
                const T *row = x + (size_t)idx[r < nr ? r : 0] * d + j0;
#pragma unroll
                for (int q = 0; q < 4; q++) {
                    const size_t j = (size_t)ln + 32 * q;
                    v[u][q] = (r < nr && j < dd) ? upd_ld(row, j) : 0.f;
                }
            }
#pragma unroll
            for (int u = 0; u < 4; u++) {
                const size_t r = r0 + (size_t)u * (UPD_THREADS / 32);
#pragma unroll
                for (int q = 0; q < 4; q++) {
                    const size_t j = (size_t)ln + 32 * q;
                    if (r < nr && j < dd) tile[r * dd + j] = v[u][q];
                }
            }
        }
        __syncthreads();
        if ((size_t)t < dd) {
            const float *col = tile + t;
            if (w) {
#pragma unroll 8
                for (size_t r = 0; r < nr; r++) s = __fadd_rn(s, __fmul_rn(col[r * dd], wt[r]));
            } else {
#pragma unroll 8
                for (size_t r = 0; r < nr; r++) s = __fadd_rn(s, col[r * dd]);
            }
        }
    }
    if ((size_t)t >= dd) return;
    if (cnt[c] > 1) { /* one chunk of several: fixup_kernel finishes */
        part[u * d + j0 + t] = s;
        return;
    }
    float h = hassign[c];
    if (h != 0) s = __fmul_rn(s, __fdiv_rn(1.f, h)); /* FAISS: norm = 1 / h */
    cent[c * d + j0 + t] = s; /* empty: 0, as FAISS's memset leaves it, until the split */
}

/* Groups of several chunks: their sums in chunk order, then 1 / h. */
__global__ void fixup_kernel(const uint32_t *cnt, const uint32_t *cstart, const float *hassign,
                             size_t groups, size_t k, size_t k_frozen, size_t d,
                             const float *part, float *cent) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= groups * d) return;
    size_t c = i / d, j = i % d;
    if (cnt[c] <= 1 || c % k < k_frozen) return;
    float s = 0;
    for (uint32_t q = 0; q < cnt[c]; q++) s = __fadd_rn(s, part[((size_t)cstart[c] + q) * d + j]);
    float h = hassign[c];
    if (h != 0) s = __fmul_rn(s, __fdiv_rn(1.f, h));
    cent[i] = s;
}

extern "C" void fkm_launch_update(fkm_gpu_state *s, size_t k, size_t k_frozen) {
    const size_t items = s->batch * s->n, groups = s->batch * k;
    size_t tmp = s->sort_tmp_bytes;
    cub::DeviceRadixSort::SortPairs(s->sort_tmp, tmp, s->keys, s->keys_sorted, s->iota,
                                    s->order, items, 0, fkm_bits_for(groups), s->stream);
    segments_kernel<<<(unsigned)((groups + 256) / 256), 256, 0, s->stream>>>(
        s->keys_sorted, items, groups, s->seg);
    hassign_kernel<<<(unsigned)((groups + 255) / 256), 256, 0, s->stream>>>(
        s->seg, s->order, s->w, groups, k, k_frozen, s->hassign);
    chunk_count_kernel<<<(unsigned)((groups + 255) / 256), 256, 0, s->stream>>>(s->seg, groups,
                                                                                 s->chunk_cnt);
    tmp = s->sort_tmp_bytes;
    cub::DeviceScan::ExclusiveSum(s->sort_tmp, tmp, s->chunk_cnt, s->chunk_start, (int)groups,
                                  s->stream);
    const size_t chunks = fkm_upd_chunks_max(items, groups);
    const size_t xel = s->xdtype == FLASHKM_DTYPE_F32 ? 4 : 2;
    const int vec16 = (uintptr_t)s->x % 16 == 0 && s->d * xel % 16 == 0;
    dim3 grid((unsigned)chunks, (unsigned)((s->d + UPD_THREADS - 1) / UPD_THREADS));
#define FKM_UPD_ARGS                                                                          \
    s->w, s->seg, s->order, s->chunk_cnt, s->chunk_start, groups, s->hassign, k, k_frozen, s->d, \
        s->cent, s->part, vec16
    if (s->xdtype == FLASHKM_DTYPE_F32)
        centroid_sum_kernel<float><<<grid, UPD_THREADS, 0, s->stream>>>((const float *)s->x,
                                                                         FKM_UPD_ARGS);
    else if (s->xdtype == FLASHKM_DTYPE_F16)
        centroid_sum_kernel<__half><<<grid, UPD_THREADS, 0, s->stream>>>((const __half *)s->x,
                                                                          FKM_UPD_ARGS);
    else
        centroid_sum_kernel<__nv_bfloat16><<<grid, UPD_THREADS, 0, s->stream>>>(
            (const __nv_bfloat16 *)s->x, FKM_UPD_ARGS);
#undef FKM_UPD_ARGS
    const size_t fix = groups * s->d;
    fixup_kernel<<<(unsigned)((fix + 255) / 256), 256, 0, s->stream>>>(
        s->chunk_cnt, s->chunk_start, s->hassign, groups, k, k_frozen, s->d, s->part, s->cent);
}
