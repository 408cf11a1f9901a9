/* update_sort.cu — the centroid update by sort-inverse: one radix sort of
 * the (problem * k + label) keys (or of the label's bits alone: label-major
 * groups, gpu_state.h), values = row indices, groups every centroid's rows
 * in increasing row order (the sort is stable) without moving x; then the
 * groups' boundaries (seg), and the sums in that order (update_sum.cu),
 * which make the new centroids bit-identical to the CPU engine's whenever
 * the assignments agree. After the sort's kernels, two
 * launches: boundaries_kernel, then centroid_sum_kernel (which also does
 * what hassign, chunk-count, scan and fixup kernels used to). */
#include <cub/device/device_radix_sort.cuh>

#include "gpu_state.h"
#include "objective_part.cuh"

/* Temporary bytes for the sort (the update's only CUB call). */
extern "C" size_t fkm_sort_tmp_bytes(size_t items, int end_bit) {
    size_t bytes = 0;
    cub::DeviceRadixSort::SortPairs(NULL, bytes, (const uint32_t *)NULL, (uint32_t *)NULL,
                                    (const uint32_t *)NULL, (uint32_t *)NULL, items, 0,
                                    end_bit);
    return bytes;
}

/* seg[g] = first sorted position whose group is >= g, for g in 0 ..
 * groups (fkm_group_of: sorted, the groups never decrease). Position i
 * (0 .. items) owns the g in (group[i-1], group[i]] (i = 0: from 0;
 * i = items: up to groups), so every g is written once, empty groups and
 * those past the last key included, in one coalesced pass (a binary search
 * per group was 20 dependent loads: 10 us for 4096 groups); BND_SPAN
 * positions a block, several a thread, a block's width apart (one per
 * thread: 4097 blocks at pq-batched's 1M rows, 5.8 us). It also zeroes the
 * per-group counters of finished blocks that the sums count on.
 * The objective's partial sums (objective_part.cuh) ride along: the blocks
 * past nbnd are theirs (problem-major, FKM_OBJ_BLOCKS per problem), and the
 * launch takes their block size (fkm_obj_threads: 32 .. 256), so their
 * partitions, and their sums, are those of a launch of their own. */
#define BND_SPAN 1024
struct BndObjective {
    const float *dist;
    size_t n;
    double *part;
    unsigned nbnd;
};
__global__ void boundaries_kernel(const uint32_t *keys, size_t items, size_t groups, size_t k,
                                  size_t batch, int lg, uint32_t *seg, uint32_t *finished,
                                  const BndObjective ob) {
    if (blockIdx.x >= ob.nbnd) {
        const unsigned u = blockIdx.x - ob.nbnd;
        fkm_objective_part(ob.dist, ob.n, ob.part, u / FKM_OBJ_BLOCKS, u % FKM_OBJ_BLOCKS);
        return;
    }
#pragma unroll 4
    for (unsigned o = threadIdx.x; o < BND_SPAN; o += blockDim.x) {
        const size_t i = blockIdx.x * (size_t)BND_SPAN + o;
        if (i > items) return;
        const size_t first = i == 0 ? 0 : fkm_group_of(keys[i - 1], k, batch, lg) + 1;
        const size_t last = i == items ? groups : fkm_group_of(keys[i], k, batch, lg);
        for (size_t g = first; g <= last; g++) {
            seg[g] = (uint32_t)i;
            if (g < groups) finished[g] = 0;
        }
    }
}

extern "C" void fkm_launch_update(fkm_gpu_state *s, size_t k, size_t k_frozen) {
    const size_t items = s->batch * s->n, groups = s->batch * k;
    const int lg = fkm_group_lg(s->batch, k);
    size_t tmp = s->sort_tmp_bytes;
    cub::DeviceRadixSort::SortPairs(s->sort_tmp, tmp, s->keys, s->keys_sorted, s->iota,
                                    s->order, items, 0, lg < 0 ? fkm_bits_for(groups) : lg,
                                    s->stream);
    BndObjective ob;
    ob.dist = s->dist;
    ob.n = s->n;
    ob.part = s->obj_part;
    ob.nbnd = (unsigned)((items + BND_SPAN) / BND_SPAN);
    boundaries_kernel<<<ob.nbnd + FKM_OBJ_BLOCKS * (unsigned)s->batch, fkm_obj_threads(s->n), 0,
                        s->stream>>>(
        s->keys_sorted, items, groups, k, s->batch, lg, s->seg, s->finished, ob);
    fkm_launch_centroid_sum(s, k, k_frozen, s->finished);
}
