/* split_clusters.h — FAISS 1.7.3's empty-cluster split (Clustering.cpp,
 * split_clusters), reproduced operation for operation, including its mixed
 * float/double arithmetic, so that every engine splits the same clusters in
 * the same way. Host and device: the GPU engine runs it in one thread. */
#ifndef FKM_SPLIT_CLUSTERS_H
#define FKM_SPLIT_CLUSTERS_H
#include <stddef.h>
#include "mt19937.h"

/* hassign: k per-centroid weights (counts when unweighted), updated.
 * centroids: k * d, updated. The first k_frozen entries of both are left
 * alone, and n - (k - k_frozen) is the denominator, as in FAISS.
 * mt: scratch generator state (seeded here with 1234, as FAISS does per
 * call). Returns the number of splits. */
FKM_HD int fkm_split_clusters(size_t d, size_t k, size_t n, size_t k_frozen,
                              float *hassign, float *centroids,
                              fkm_mt19937 *mt) {
    const double eps = 1.0 / 1024.0;
    k -= k_frozen;
    centroids += k_frozen * d;
    hassign += k_frozen;
    int nsplit = 0;
    fkm_mt_seed(mt, 1234u);
    for (size_t ci = 0; ci < k; ci++) {
        if (hassign[ci] != 0) continue;
        /* FAISS loops forever when no cluster can give (all weights <= 1,
         * e.g. zero weights); stop splitting instead of hanging. */
        int can_split = 0;
        for (size_t c = 0; c < k && !can_split; c++) can_split = hassign[c] > 1;
        if (!can_split) break;
        size_t cj;
        for (cj = 0; 1; cj = (cj + 1) % k) {
            float p = (float)(((double)hassign[cj] - 1.0) / (double)(float)(n - k));
            float r = fkm_mt_rand_float(mt);
            if (r < p) break;
        }
        for (size_t j = 0; j < d; j++) centroids[ci * d + j] = centroids[cj * d + j];
        for (size_t j = 0; j < d; j++) {
            double up = 1.0 + eps, down = 1.0 - eps;
            if (j % 2 == 0) {
                centroids[ci * d + j] = (float)(centroids[ci * d + j] * up);
                centroids[cj * d + j] = (float)(centroids[cj * d + j] * down);
            } else {
                centroids[ci * d + j] = (float)(centroids[ci * d + j] * down);
                centroids[cj * d + j] = (float)(centroids[cj * d + j] * up);
            }
        }
        hassign[ci] = hassign[cj] / 2;
        hassign[cj] -= hassign[ci];
        nsplit++;
    }
    return nsplit;
}
#endif
