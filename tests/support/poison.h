// poison.h — output buffers pre-filled with 0xFF bytes, to prove that a
// successful call wrote every element and a failed call wrote none.
// (0xFF..FF is a NaN as a float, -1 as a label, nsplit -1 in a stats entry:
// never a value flashkm may legitimately produce there.)
#ifndef FKM_TEST_POISON_H
#define FKM_TEST_POISON_H
#include <cstddef>
#include <cstring>
#include <vector>

namespace fkmtest {

// Number of elements of v whose bytes are all 0xFF.
size_t count_poisoned_bytes(const void *data, size_t count, size_t elem_size);

template <class T>
struct Poisoned {
    std::vector<T> v;
    explicit Poisoned(size_t count = 0) : v(count) { poison(); }
    void poison() {
        if (!v.empty()) std::memset((void *)v.data(), 0xFF, v.size() * sizeof(T));
    }
    T *data() { return v.empty() ? nullptr : v.data(); }
    size_t size() const { return v.size(); }
    // Elements still holding the poison.
    size_t poisoned() const {
        return count_poisoned_bytes(v.data(), v.size(), sizeof(T));
    }
    bool all_written() const { return poisoned() == 0; }
    bool untouched() const { return poisoned() == v.size(); }
};

}  // namespace fkmtest
#endif
