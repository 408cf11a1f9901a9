#include "support/poison.h"

namespace fkmtest {

size_t count_poisoned_bytes(const void *data, size_t count, size_t elem_size) {
    const unsigned char *p = static_cast<const unsigned char *>(data);
    size_t hits = 0;
    for (size_t i = 0; i < count; i++) {
        size_t j = 0;
        while (j < elem_size && p[i * elem_size + j] == 0xFF) j++;
        hits += (j == elem_size);
    }
    return hits;
}

}  // namespace fkmtest
