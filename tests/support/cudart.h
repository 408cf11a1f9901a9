// cudart.h — the few CUDA runtime calls tests make themselves (device
// buffers for device-input tests, free device memory for leak checks),
// reached through dlopen: test programs link only flashkm, whose CUDA
// runtime is static and hidden, and must still build without CUDA.
#ifndef FKM_TEST_CUDART_H
#define FKM_TEST_CUDART_H
#include <dlfcn.h>

#include <cstddef>
#include <initializer_list>

// In a GoogleTest body: skip, saying why, when the runtime is not there.
#define FKM_REQUIRE_CUDART(rt) \
    if (!(rt).ok()) GTEST_SKIP() << "libcudart.so not found for the test's own CUDA calls"

namespace fkmtest {

struct Cudart {
    void *h = nullptr;
    int (*malloc_)(void **, size_t) = nullptr;
    int (*free_)(void *) = nullptr;
    int (*memcpy_)(void *, const void *, size_t, int) = nullptr;
    int (*mem_get_info_)(size_t *, size_t *) = nullptr;
    int (*get_device_count_)(int *) = nullptr;
    Cudart() {
        for (const char *name : {"libcudart.so", "libcudart.so.13", "libcudart.so.12",
                                 "/usr/local/cuda/lib64/libcudart.so"}) {
            h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
            if (h) break;
        }
        if (!h) return;
        malloc_ = (int (*)(void **, size_t))dlsym(h, "cudaMalloc");
        free_ = (int (*)(void *))dlsym(h, "cudaFree");
        memcpy_ = (int (*)(void *, const void *, size_t, int))dlsym(h, "cudaMemcpy");
        mem_get_info_ = (int (*)(size_t *, size_t *))dlsym(h, "cudaMemGetInfo");
        get_device_count_ = (int (*)(int *))dlsym(h, "cudaGetDeviceCount");
    }
    // CUDA devices present; 0 without a runtime or a driver.
    int device_count() const {
        int c = 0;
        return get_device_count_ && get_device_count_(&c) == 0 ? c : 0;
    }
    bool ok() const { return malloc_ && free_ && memcpy_ && mem_get_info_; }
    // Free device memory in bytes, as the driver counts it for the whole
    // device (every context in this process included); 0 on failure.
    size_t free_bytes() const {
        size_t f = 0, t = 0;
        return mem_get_info_ && mem_get_info_(&f, &t) == 0 ? f : 0;
    }
};

inline void *to_device(Cudart &rt, const void *host, size_t bytes) {
    void *d = nullptr;
    if (rt.malloc_(&d, bytes) != 0) return nullptr;
    rt.memcpy_(d, host, bytes, 1 /* cudaMemcpyHostToDevice */);
    return d;
}

}  // namespace fkmtest
#endif
