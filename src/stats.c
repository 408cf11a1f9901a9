/* stats.c — the imbalance factor of FAISS's iteration statistics. */
#include "stats.h"

#include <string.h>

double fkm_imbalance_factor(size_t k, const int *hist) {
    double tot = 0, uf = 0;
    for (size_t i = 0; i < k; i++) {
        tot += hist[i];
        uf += hist[i] * (double)hist[i];
    }
    return uf * (int)k / (tot * tot);
}

double fkm_imbalance_of_labels(size_t n, size_t k, const int64_t *labels,
                               int *hist) {
    memset(hist, 0, k * sizeof *hist);
    for (size_t i = 0; i < n; i++) hist[labels[i]]++;
    return fkm_imbalance_factor(k, hist);
}
