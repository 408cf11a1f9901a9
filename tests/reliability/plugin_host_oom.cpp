// plugin_host_oom.cpp — real (not injected) out-of-memory through the FAISS
// plugin, on the CPU: the data fits, flashkm's CPU engine needs a copy of
// it that does not (the address space is capped with RLIMIT_AS just above
// what FAISS itself needs). Checks: flashkm reports OUT_OF_MEMORY naming
// the bytes in exactly one warning line, the plugin falls back to FAISS's
// own code, and the program gets the same centroids as the uncapped run.
// (The GPU version — data over the device's memory or
// FLASHKM_GPU_MEMORY_LIMIT — needs a GPU machine.)
// Usage: LD_PRELOAD=libflashkm_faiss.so FLASHKM_ENGINE=cpu plugin_host_oom
// Not for ASan builds (ASan reserves terabytes of address space).
#include "stderr_capture.h"
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <regex>
#include <string>
#include <vector>

#include "faiss_jobs.h"
#include "rss.h"

namespace {

long vm_size_kib() {
    std::FILE *f = std::fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && std::fgets(line, sizeof line, f))
        if (std::strncmp(line, "VmSize:", 7) == 0) std::sscanf(line + 7, "%ld", &kib);
    if (f) std::fclose(f);
    return kib;
}

std::vector<float> train(const std::vector<float> &x, size_t n, size_t d, size_t k) {
    faiss::ClusteringParameters cp;
    cp.niter = 3;
    cp.max_points_per_centroid = 1 << 20;  // no subsample: all n points
    faiss::Clustering clus(d, k, cp);
    faiss::IndexFlatL2 index(d);
    clus.train(n, x.data(), index);
    return clus.centroids;
}

}  // namespace

int main() {
    if (fkmrel::built_with_asan()) {
        std::printf("SKIP: RLIMIT_AS does not work under AddressSanitizer\n");
        return 0;
    }
    const size_t n = (size_t)1 << 19, d = 32, k = 64;  // 64 MiB of data
    std::vector<float> x = fkmrel::job_data(n, d, 7, false);
    std::vector<float> ref = train(x, n, d, k);  // uncapped: flashkm trains

    // Capture stderr, cap the address space 48 MiB above what is mapped now
    // (FAISS needs about 25 MiB more; flashkm's copy alone is 64 MiB).
    StderrCapture err;
    err.start();
    rlimit old, cap;
    getrlimit(RLIMIT_AS, &old);
    cap = old;
    cap.rlim_cur = (rlim_t)(vm_size_kib() + 48 * 1024) * 1024;
    setrlimit(RLIMIT_AS, &cap);
    std::vector<float> got;
    std::string error;
    try {
        got = train(x, n, d, k);
    } catch (const std::exception &e) {
        error = e.what();
    }
    setrlimit(RLIMIT_AS, &old);
    std::vector<std::string> lines = err.stop();
    const std::regex warning("^flashkm: FLASHKM_ERR_OUT_OF_MEMORY: .*[0-9]+ bytes.*"
                             "training with FAISS instead\n$");
    bool one_line = lines.size() == 1 && std::regex_match(lines[0], warning);
    bool same = error.empty() && fkmrel::same_bits(got, ref);
    for (const std::string &l : lines) std::printf("stderr: %s", l.c_str());
    std::printf("plugin_host_oom: n=%zu d=%zu k=%zu under a 48 MiB cap: %s; warning lines %zu; "
                "result %s the uncapped run's\n", n, d, k,
                error.empty() ? "trained" : ("threw " + error).c_str(), lines.size(),
                same ? "==" : "!=");
    bool ok = one_line && same;
    std::printf("%s\n", ok ? "PASS" : "FAIL");
    return ok ? 0 : 1;
}
