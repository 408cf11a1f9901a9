/* update_sort.cu — the centroid update by sort-inverse: one radix sort of
 * the (problem * k + label) keys, values = row indices, groups every
 * centroid's rows in increasing row order (the sort is stable) without
 * moving x. Then each (centroid, dimension) is one thread that adds its
 * rows in that order in fp32, exactly as FAISS's compute_centroids does
 * (c += x, or c += x * w, unfused), so the new centroids are bit-identical
 * to the CPU engine's whenever the assignments agree, and the same on every
 * run. */
#include <cub/device/device_radix_sort.cuh>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "gpu_state.h"

extern "C" size_t fkm_sort_tmp_bytes(size_t items, int end_bit) {
    size_t bytes = 0;
    cub::DeviceRadixSort::SortPairs(NULL, bytes, (const uint32_t *)NULL, (uint32_t *)NULL,
                                    (const uint32_t *)NULL, (uint32_t *)NULL, items, 0,
                                    end_bit);
    return bytes;
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

/* Thread = (group, dimension): consecutive threads read consecutive
 * dimensions of the same row, so each row is one coalesced read. Loads of 4
 * rows go out before their ordered adds. */
template <typename T>
__global__ void centroid_sum_kernel(const T *x, const float *w, const uint32_t *seg,
                                    const uint32_t *order, const float *hassign, size_t groups,
                                    size_t k, size_t k_frozen, size_t d, float *cent) {
    size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (t >= groups * d) return;
    size_t c = t / d, j = t % d;
    if (c % k < k_frozen) return;
    uint32_t p = seg[c], p1 = seg[c + 1];
    float s = 0;
    for (; p + 4 <= p1; p += 4) {
        uint32_t i0 = order[p], i1 = order[p + 1], i2 = order[p + 2], i3 = order[p + 3];
        float v0 = upd_ld(x, (size_t)i0 * d + j), v1 = upd_ld(x, (size_t)i1 * d + j);
        float v2 = upd_ld(x, (size_t)i2 * d + j), v3 = upd_ld(x, (size_t)i3 * d + j);
        if (w) {
            v0 = __fmul_rn(v0, w[i0]); v1 = __fmul_rn(v1, w[i1]);
            v2 = __fmul_rn(v2, w[i2]); v3 = __fmul_rn(v3, w[i3]);
        }
        s = __fadd_rn(s, v0); s = __fadd_rn(s, v1);
        s = __fadd_rn(s, v2); s = __fadd_rn(s, v3);
    }
    for (; p < p1; p++) {
        uint32_t i = order[p];
        float v = upd_ld(x, (size_t)i * d + j);
        if (w) v = __fmul_rn(v, w[i]);
        s = __fadd_rn(s, v);
    }
    float h = hassign[c];
    if (h != 0) s = __fmul_rn(s, __fdiv_rn(1.f, h)); /* FAISS: norm = 1 / h */
    cent[t] = s; /* empty: 0, as FAISS's memset leaves it, until the split */
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
    const size_t threads = groups * s->d;
    const unsigned blocks = (unsigned)((threads + 255) / 256);
    if (s->xdtype == FLASHKM_DTYPE_F32)
        centroid_sum_kernel<float><<<blocks, 256, 0, s->stream>>>(
            (const float *)s->x, s->w, s->seg, s->order, s->hassign, groups, k, k_frozen, s->d, s->cent);
    else if (s->xdtype == FLASHKM_DTYPE_F16)
        centroid_sum_kernel<__half><<<blocks, 256, 0, s->stream>>>(
            (const __half *)s->x, s->w, s->seg, s->order, s->hassign, groups, k, k_frozen, s->d, s->cent);
    else
        centroid_sum_kernel<__nv_bfloat16><<<blocks, 256, 0, s->stream>>>(
            (const __nv_bfloat16 *)s->x, s->w, s->seg, s->order, s->hassign, groups, k, k_frozen,
            s->d, s->cent);
}
