/* rand_perm.h — the first entries of FAISS's rand_perm(n, seed) without
 * building the whole permutation. */
#ifndef FKM_RAND_PERM_H
#define FKM_RAND_PERM_H
#include <stddef.h>
#include <stdint.h>
#include "flashkm.h"
#ifdef __cplusplus
extern "C" {
#endif

/* FAISS's seed for the initial centroids of redo `redo`:
 * seed + 1 + redo * 15486557L computed in int64; RandomGenerator then keeps
 * the low 32 bits. */
uint32_t fkm_redo_seed(int seed, int redo);

/* out[0 .. count-1] = rand_perm(n, seed)[0 .. count-1] (count <= n), where
 * rand_perm is FAISS 1.7.3's Fisher-Yates over std::mt19937(seed). O(count)
 * time and memory (a sparse map of the swapped positions) unless count is a
 * large part of n. May fail with OUT_OF_MEMORY. */
flashkm_status fkm_rand_perm_first(size_t n, uint32_t seed, size_t count,
                                   int64_t *out);
#ifdef __cplusplus
}
#endif
#endif
