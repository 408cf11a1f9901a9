/* update_sort.cu — the centroid update by sort-inverse: one radix sort of
 * the (problem * k + label) keys, values = row indices, groups every
 * centroid's rows in increasing row order (the sort is stable) without
 * moving x; then the groups' boundaries (seg), and the sums in that order
 * (update_sum.cu), which make the new centroids bit-identical to the CPU
 * engine's whenever the assignments agree. After the sort's kernels, two
 * launches: boundaries_kernel, then centroid_sum_kernel (which also does
 * what hassign, chunk-count, scan and fixup kernels used to). */
#include <cub/device/device_radix_sort.cuh>

#include "gpu_state.h"

/* Temporary bytes for the sort (the update's only CUB call). */
extern "C" size_t fkm_sort_tmp_bytes(size_t items, int end_bit) {
    size_t bytes = 0;
    cub::DeviceRadixSort::SortPairs(NULL, bytes, (const uint32_t *)NULL, (uint32_t *)NULL,
                                    (const uint32_t *)NULL, (uint32_t *)NULL, items, 0,
                                    end_bit);
    return bytes;
}

/* seg[c] = first sorted position whose key is >= c, for c in 0 .. groups.
 * Thread i (0 .. items) owns the c in (key[i-1], key[i]] (i = 0: from 0;
 * i = items: up to groups), so every c is written once, empty groups and
 * those past the last key included, in one coalesced pass (a binary search
 * per group was 20 dependent loads: 10 us for 4096 groups). It also zeroes
 * the per-group counters of finished blocks that the sums count on. */
__global__ void boundaries_kernel(const uint32_t *keys, size_t items, size_t groups,
                                  uint32_t *seg, uint32_t *finished) {
    const size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i > items) return;
    const size_t first = i == 0 ? 0 : (size_t)keys[i - 1] + 1;
    const size_t last = i == items ? groups : keys[i];
    for (size_t c = first; c <= last; c++) {
        seg[c] = (uint32_t)i;
        if (c < groups) finished[c] = 0;
    }
}

extern "C" void fkm_launch_update(fkm_gpu_state *s, size_t k, size_t k_frozen) {
    const size_t items = s->batch * s->n, groups = s->batch * k;
    size_t tmp = s->sort_tmp_bytes;
    cub::DeviceRadixSort::SortPairs(s->sort_tmp, tmp, s->keys, s->keys_sorted, s->iota,
                                    s->order, items, 0, fkm_bits_for(groups), s->stream);
    boundaries_kernel<<<(unsigned)((items + 256) / 256), 256, 0, s->stream>>>(
        s->keys_sorted, items, groups, s->seg, s->finished);
    fkm_launch_centroid_sum(s, k, k_frozen, s->finished);
}
