/* rand_perm.c — FAISS's rand_perm, only the prefix that k-means uses.
 *
 * FAISS: perm = identity; for i in 0 .. n-2: i2 = i + mt() % (n - i);
 * swap(perm[i], perm[i2]). Entry i never changes after step i, so the first
 * `count` entries need only `count` steps; positions not yet touched still
 * hold their own index, so a map of the touched ones is enough. */
#include "rand_perm.h"

#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "mt19937.h"

uint32_t fkm_redo_seed(int seed, int redo) {
    int64_t s = (int64_t)seed + 1 + (int64_t)redo * 15486557LL;
    return (uint32_t)(uint64_t)s;
}

/* Open-addressing map position -> value; absent = identity. */
typedef struct perm_map {
    int64_t *keys, *vals; /* keys[i] == -1: empty slot */
    size_t mask;
} perm_map;

static size_t slot_of(const perm_map *m, int64_t key) {
    uint64_t h = (uint64_t)key * 0x9E3779B97F4A7C15ull;
    size_t s = (size_t)(h >> 17) & m->mask;
    while (m->keys[s] != -1 && m->keys[s] != key) s = (s + 1) & m->mask;
    return s;
}

static int64_t map_get(const perm_map *m, int64_t key) {
    size_t s = slot_of(m, key);
    return m->keys[s] == -1 ? key : m->vals[s];
}

static void map_set(perm_map *m, int64_t key, int64_t val) {
    size_t s = slot_of(m, key);
    m->keys[s] = key;
    m->vals[s] = val;
}

/* mt() % (n - i), as FAISS's rand_int(int max) does for n - i < 2^31;
 * larger ranges (where FAISS's int perm already breaks) use 64 bits. */
static size_t draw(fkm_mt19937 *mt, size_t range) {
    return (size_t)fkm_mt_next(mt) % range;
}

static void perm_dense(size_t n, fkm_mt19937 *mt, size_t count, int64_t *perm,
                       int64_t *out) {
    for (size_t i = 0; i < n; i++) perm[i] = (int64_t)i;
    for (size_t i = 0; i < count; i++) {
        if (i + 1 < n) {
            size_t i2 = i + draw(mt, n - i);
            int64_t t = perm[i]; perm[i] = perm[i2]; perm[i2] = t;
        }
        out[i] = perm[i];
    }
}

static void perm_sparse(size_t n, fkm_mt19937 *mt, size_t count, perm_map *m,
                        int64_t *out) {
    for (size_t i = 0; i < count; i++) {
        if (i + 1 < n) {
            size_t i2 = i + draw(mt, n - i);
            int64_t vi = map_get(m, (int64_t)i), v2 = map_get(m, (int64_t)i2);
            map_set(m, (int64_t)i, v2);
            map_set(m, (int64_t)i2, vi);
        }
        out[i] = map_get(m, (int64_t)i);
    }
}

flashkm_status fkm_rand_perm_first(size_t n, uint32_t seed, size_t count,
                                   int64_t *out) {
    flashkm_status st = FLASHKM_OK;
    if (count > n) count = n;
    fkm_mt19937 *mt = fkm_alloc(1, sizeof *mt, &st);
    if (!mt) return st;
    fkm_mt_seed(mt, seed);
    size_t slots = 16;
    while (slots < 4 * count) slots *= 2;
    if (slots >= n) { /* a dense array is as small: use it */
        int64_t *perm = fkm_alloc(n, sizeof *perm, &st);
        if (perm) perm_dense(n, mt, count, perm, out);
        free(perm);
    } else {
        perm_map m = {fkm_alloc(slots, sizeof(int64_t), &st), NULL, slots - 1};
        if (m.keys) m.vals = fkm_alloc(slots, sizeof(int64_t), &st);
        if (m.vals) {
            memset(m.keys, 0xff, slots * sizeof(int64_t));
            perm_sparse(n, mt, count, &m, out);
        }
        free(m.keys);
        free(m.vals);
    }
    free(mt);
    return st;
}
