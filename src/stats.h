/* stats.h — FAISS's imbalance factor. */
#ifndef FKM_STATS_H
#define FKM_STATS_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

/* k * sum(h^2) / (sum h)^2 in double over an int histogram of k counts,
 * summed in centroid order exactly as FAISS's imbalance_factor. */
double fkm_imbalance_factor(size_t k, const int *hist);

/* The histogram version FAISS uses inside Clustering: hist (k ints,
 * scratch) of the n labels, then the above. */
double fkm_imbalance_of_labels(size_t n, size_t k, const int64_t *labels,
                               int *hist);
#ifdef __cplusplus
}
#endif
#endif
