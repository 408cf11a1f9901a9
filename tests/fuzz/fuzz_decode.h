/* fuzz_decode.h — reading a fuzzer's bytes as numbers. Past the end of the
 * input every control byte reads as 0 (the plainest choice), while data
 * values continue from a small generator seeded by the input's length, so
 * short inputs still describe non-degenerate data. */
#ifndef FKM_FUZZ_DECODE_H
#define FKM_FUZZ_DECODE_H
#include <stddef.h>
#include <stdint.h>

typedef struct fz_reader {
    const uint8_t *data;
    size_t size, pos;
} fz_reader;

static inline uint8_t fz_byte(fz_reader *r) {
    return r->pos < r->size ? r->data[r->pos++] : 0;
}

/* A data value's byte: from the input, else xorshift-generated (< 240, so
 * a normal number, see decode_value). */
static inline uint8_t fz_value_byte(fz_reader *r) {
    if (r->pos < r->size) return r->data[r->pos++];
    uint32_t x = (uint32_t)(r->size * 2654435761u + r->pos++ * 40503u + 1u);
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    return (uint8_t)(x % 240u);
}

static inline uint32_t fz_u32(fz_reader *r) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v = (v << 8) | fz_byte(r);
    return v;
}

/* An int in [lo, hi] (lo <= hi, hi - lo < 256 * 256). */
static inline int fz_range(fz_reader *r, int lo, int hi) {
    unsigned span = (unsigned)(hi - lo) + 1u;
    unsigned v = span > 256 ? ((unsigned)fz_byte(r) << 8) | fz_byte(r)
                            : fz_byte(r);
    return lo + (int)(v % span);
}
#endif
