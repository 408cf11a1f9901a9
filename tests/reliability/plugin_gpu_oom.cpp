// plugin_gpu_oom.cpp — data that does not fit on the GPU, through the FAISS
// plugin: FLASHKM_GPU_MEMORY_LIMIT (bytes) set below what the GPU engine
// needs simulates a device too small. Checks:
//   - exactly one warning line: FLASHKM_ERR_OUT_OF_MEMORY naming the bytes
//     asked for and the limit, "training with FAISS instead";
//   - the program gets FAISS's own result bit for bit (FAISS's
//     Clustering::train called directly from libfaiss.so for reference);
//   - device memory is the same before and after (cudaMemGetInfo);
//   - with the limit lifted, the same call is served by the GPU engine
//     (its FLASHKM_VERBOSE line), so the fallback was the limit's doing.
// Usage: LD_PRELOAD=libflashkm_faiss.so FLASHKM_ENGINE=gpu FLASHKM_VERBOSE=1
//        plugin_gpu_oom      (prints SKIP and passes without a CUDA device)
#include "stderr_capture.h"
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <regex>
#include <string>
#include <vector>

#include <faiss/utils/distances.h>

#include "../support/cudart.h"
#include "faiss_jobs.h"

namespace {

using train_fn = void (*)(faiss::Clustering *, faiss::Index::idx_t, const float *, faiss::Index &,
                          const float *);

struct Run {
    std::vector<float> centroids;
    std::vector<std::string> lines;
};

Run train(const std::vector<float> &x, size_t n, size_t d, size_t k, train_fn direct) {
    faiss::ClusteringParameters cp;
    cp.niter = 8;
    cp.max_points_per_centroid = 1 << 20;  // every point
    faiss::Clustering clus(d, k, cp);
    faiss::IndexFlatL2 index(d);
    StderrCapture err;
    err.start();
    if (direct) direct(&clus, (faiss::Index::idx_t)n, x.data(), index, nullptr);
    else clus.train(n, x.data(), index);
    Run r;
    r.lines = err.stop();
    r.centroids = clus.centroids;
    return r;
}

}  // namespace

int main() {
    fkmtest::Cudart rt;
    if (rt.device_count() == 0) {
        std::printf("SKIP: no CUDA device\n");
        return 0;
    }
    // FAISS's own Clustering::train, from libfaiss.so itself (the plugin
    // comes first in the process, so plain symbol lookup finds the plugin's):
    // the library that holds a function only FAISS defines.
    Dl_info where{};
    void *faiss_lib = nullptr;
    if (dladdr(reinterpret_cast<void *>(&faiss::fvec_norm_L2sqr), &where) && where.dli_fname)
        faiss_lib = dlopen(where.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
    train_fn faiss_train = faiss_lib ? reinterpret_cast<train_fn>(dlsym(
        faiss_lib, "_ZN5faiss10Clustering5trainElPKfRNS_5IndexES2_")) : nullptr;
    if (!faiss_train || !rt.ok()) {
        std::printf("FAIL: FAISS's Clustering::train or cudaMemGetInfo not found\n");
        return 1;
    }
    const size_t n = 200000, d = 64, k = 256;  // 51 MB of data
    std::vector<float> x = fkmrel::job_data(n, d, 11, false);
    Run faiss_ref = train(x, n, d, k, faiss_train);

    Run warm = train(x, n, d, k, nullptr);  // the GPU engine, context warm
    const size_t free0 = rt.free_bytes();
    setenv("FLASHKM_GPU_MEMORY_LIMIT", "1048576", 1);
    Run limited = train(x, n, d, k, nullptr);
    unsetenv("FLASHKM_GPU_MEMORY_LIMIT");
    const size_t free1 = rt.free_bytes();
    Run again = train(x, n, d, k, nullptr);

    const std::regex warning("^flashkm: FLASHKM_ERR_OUT_OF_MEMORY: GPU engine needs [0-9]+ "
                             "bytes of device memory, over the limit of 1048576 bytes; "
                             "training with FAISS instead\n$");
    const std::regex served("^flashkm: engine=gpu n=200000 d=64 k=256 .*\n$");
    auto only = [](const Run &r, const std::regex &re) {
        size_t m = 0;
        for (const std::string &l : r.lines)
            if (std::regex_match(l, re)) m++;
        return m == 1 && r.lines.size() == 1;
    };
    for (const std::string &l : limited.lines) std::printf("stderr (limited): %s", l.c_str());
    for (const std::string &l : again.lines) std::printf("stderr (limit lifted): %s", l.c_str());
    bool one_warning = only(limited, warning);
    bool faiss_result = fkmrel::same_bits(limited.centroids, faiss_ref.centroids);
    bool memory_flat = free0 == free1;
    bool gpu_served = only(warm, served) && only(again, served) &&
                      fkmrel::same_bits(again.centroids, warm.centroids);
    std::printf("plugin_gpu_oom: n=%zu d=%zu k=%zu, FLASHKM_GPU_MEMORY_LIMIT=1048576: "
                "%s warning line, result %s FAISS's own; cudaMemGetInfo free %zu -> %zu; "
                "limit lifted: %s\n", n, d, k, one_warning ? "one" : "NOT one",
                faiss_result ? "==" : "!=", free0, free1,
                gpu_served ? "GPU engine served it, same result as before" : "NOT served by GPU");
    bool ok = one_warning && faiss_result && memory_flat && gpu_served;
    std::printf("%s\n", ok ? "PASS" : "FAIL");
    return ok ? 0 : 1;
}
