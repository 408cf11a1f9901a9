/* mt19937.h — the 32-bit Mersenne Twister exactly as std::mt19937, which is
 * what FAISS's RandomGenerator wraps. Host and device. */
#ifndef FKM_MT19937_H
#define FKM_MT19937_H
#include <stdint.h>
#include "hostdevice.h"

#define FKM_MT_N 624
#define FKM_MT_M 397

typedef struct fkm_mt19937 {
    uint32_t state[FKM_MT_N];
    int index;
} fkm_mt19937;

/* std::mt19937(seed): FAISS seeds with (unsigned int)seed. */
FKM_HD void fkm_mt_seed(fkm_mt19937 *mt, uint32_t seed) {
    mt->state[0] = seed;
    for (int i = 1; i < FKM_MT_N; i++) {
        uint32_t prev = mt->state[i - 1];
        mt->state[i] = 1812433253u * (prev ^ (prev >> 30)) + (uint32_t)i;
    }
    mt->index = FKM_MT_N;
}

FKM_HD void fkm_mt_twist(fkm_mt19937 *mt) {
    for (int i = 0; i < FKM_MT_N; i++) {
        uint32_t y = (mt->state[i] & 0x80000000u) |
                     (mt->state[(i + 1) % FKM_MT_N] & 0x7fffffffu);
        uint32_t v = mt->state[(i + FKM_MT_M) % FKM_MT_N] ^ (y >> 1);
        if (y & 1u) v ^= 0x9908b0dfu;
        mt->state[i] = v;
    }
    mt->index = 0;
}

/* One output of operator(). */
FKM_HD uint32_t fkm_mt_next(fkm_mt19937 *mt) {
    if (mt->index >= FKM_MT_N) fkm_mt_twist(mt);
    uint32_t y = mt->state[mt->index++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

/* RandomGenerator::rand_float(): mt() / float(mt.max()), both rounded to
 * float first, as the C++ expression does. */
FKM_HD float fkm_mt_rand_float(fkm_mt19937 *mt) {
    return (float)fkm_mt_next(mt) / (float)4294967295u;
}

/* RandomGenerator::rand_int(int max): mt() % max. */
FKM_HD uint32_t fkm_mt_rand_int(fkm_mt19937 *mt, uint32_t max) {
    return fkm_mt_next(mt) % max;
}
#endif
