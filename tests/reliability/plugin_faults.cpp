// plugin_faults.cpp — flashkm failing in the middle of train calls it serves
// for a FAISS program, through the plugin: --calls (1000) trainings of five
// kinds (Clustering L2 / IP / input centroids + weights + redos, IVF, PQ),
// where call i makes flashkm's allocation number j fail through the
// test-only hook (exported by libflashkm_faiss_faulty.so, the plugin built
// with it), for every j of that kind in turn, some calls not failing.
// Checks:
//   - the program always gets a correct result: FAISS's own when flashkm
//     failed (bit for bit the result of a call where flashkm fails at once),
//     flashkm's when it did not (the undisturbed call's);
//   - each injected failure gives exactly one warning line on stderr,
//     naming the status and the bytes (stderr is captured for the check);
//   - resident memory is flat over the calls (Release build).
// With --device (a GPU machine, FLASHKM_ENGINE=gpu), the failure is a CUDA
// call's instead (flashkm_test_fail_device_after: a kernel fault or a
// device allocation failure, alternately), "allocation" below reads "CUDA
// call", and device memory must also be flat: cudaMemGetInfo's free bytes
// after the warm-up equal those at the end.
// Usage: LD_PRELOAD=libflashkm_faiss_faulty.so FLASHKM_ENGINE=cpu \
//        plugin_faults [--calls 1000] [--rss-bound-kib 4096] [--device]
#include "stderr_capture.h"
#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <regex>
#include <string>
#include <vector>

#include "../support/cudart.h"
#include "faiss_jobs.h"
#include "rss.h"

namespace {

// Arms the failure after n more allocations (or CUDA calls); -1 disarms
// and answers -1 when the armed failure fired.
struct Hook {
    int (*alloc)(long) = nullptr;
    long (*device)(long, int) = nullptr;
    int code = 719;  // cudaErrorLaunchFailure; 2 = cudaErrorMemoryAllocation
    long operator()(long n) const { return device ? device(n, code) : alloc(n); }
};


struct Outcome {
    std::vector<float> result;
    bool fired;                       // the injected failure happened
    std::vector<std::string> warnings;  // stderr lines but FAISS's own warning
};

Outcome run(const fkmrel::Job &job, const Hook &hook, long fail_after) {
    StderrCapture cap;
    cap.start();
    hook(fail_after);
    Outcome o;
    o.result = job.train();
    o.fired = fail_after >= 0 && hook(-1) == -1;
    for (const std::string &l : cap.stop())
        if (l.find("WARNING clustering") == std::string::npos) o.warnings.push_back(l);
    return o;
}

}  // namespace

int main(int argc, char **argv) {
    long calls = 1000, rss_bound = 4096;
    bool device = false;
    for (int i = 1; i < argc; i++) {
        if (!std::strcmp(argv[i], "--device")) device = true;
        else if (i + 1 < argc && !std::strcmp(argv[i], "--calls")) calls = std::atol(argv[++i]);
        else if (i + 1 < argc && !std::strcmp(argv[i], "--rss-bound-kib"))
            rss_bound = std::atol(argv[++i]);
    }
    Hook hook;
    const char *hook_name = device ? "flashkm_test_fail_device_after"
                                   : "flashkm_test_fail_alloc_after";
    void *sym = dlsym(RTLD_DEFAULT, hook_name);
    if (!sym) {
        std::printf("FAIL: %s not in the process (LD_PRELOAD=libflashkm_faiss_faulty.so)\n",
                    hook_name);
        return 1;
    }
    if (device) hook.device = reinterpret_cast<long (*)(long, int)>(sym);
    else hook.alloc = reinterpret_cast<int (*)(long)>(sym);
    fkmtest::Cudart rt;
    if (device && rt.device_count() == 0) {
        std::printf("SKIP: --device: no CUDA device\n");
        return 0;
    }
    if (device && !rt.ok()) {
        std::printf("FAIL: --device: libcudart.so not found for cudaMemGetInfo\n");
        return 1;
    }
    // Kinds small enough for 1000 calls in CI.
    std::vector<fkmrel::Job> jobs = fkmrel::make_jobs(5, true);
    std::vector<Outcome> flashkm_ref, faiss_ref;
    std::vector<long> allocs;
    for (const fkmrel::Job &j : jobs) {
        flashkm_ref.push_back(run(j, hook, -1));
        faiss_ref.push_back(run(j, hook, 0));
        if (!faiss_ref.back().fired) {
            std::printf("FAIL: %s: flashkm did not serve the call (no %s failed): is "
                        "FLASHKM_ENGINE=%s set?\n", j.name.c_str(),
                        device ? "CUDA call" : "allocation", device ? "gpu" : "cpu");
            return 1;
        }
        // Allocations of one flashkm call (IVF/PQ: of the first Clustering
        // call; later ones run undisturbed): the first countdown that passes.
        long a = 1;
        while (run(j, hook, a).fired) a++;
        allocs.push_back(a);
        std::printf("plugin_faults: %s: %ld %s; FAISS's result %s flashkm's\n",
                    j.name.c_str(), a, device ? "CUDA calls" : "allocations",
                    fkmrel::same_bits(flashkm_ref.back().result, faiss_ref.back().result)
                        ? "==" : "!=");
    }
    const std::regex warning(device ? "^flashkm: FLASHKM_ERR_(DEVICE|OUT_OF_MEMORY): .*"
                                      "training with FAISS instead\n$"
                                    : "^flashkm: FLASHKM_ERR_OUT_OF_MEMORY: .*[0-9]+ bytes.*"
                                      "training with FAISS instead\n$");
    long failed = 0, passed = 0, bad = 0, rss_warm = -1;
    const size_t free0 = device ? rt.free_bytes() : 0;
    for (long i = 0; i < calls; i++) {
        size_t which = (size_t)i % jobs.size();
        long j = (i / (long)jobs.size()) % (allocs[which] + 1);
        hook.code = (i / 2) % 2 ? 2 : 719;
        Outcome o = run(jobs[which], hook, j);
        const Outcome &ref = o.fired ? faiss_ref[which] : flashkm_ref[which];
        bool ok = fkmrel::same_bits(o.result, ref.result);
        if (o.fired) {
            failed++;
            ok = ok && o.warnings.size() == 1 && std::regex_match(o.warnings[0], warning);
        } else {
            passed++;
            ok = ok && o.warnings.empty() && j == allocs[which];
        }
        if (!ok) {
            bad++;
            std::printf("FAIL: call %ld, %s, allocation %ld (%s): result %s, %zu stderr lines%s%s",
                        i, jobs[which].name.c_str(), j, o.fired ? "failed" : "not failed",
                        fkmrel::same_bits(o.result, ref.result) ? "right" : "WRONG",
                        o.warnings.size(), o.warnings.empty() ? "\n" : ": ",
                        o.warnings.empty() ? "" : o.warnings[0].c_str());
        }
        if (i == calls / 5) rss_warm = fkmrel::rss_kib();
    }
    long rss_end = fkmrel::rss_kib();
    std::printf("plugin_faults: %ld calls: %ld with flashkm failing mid-call (FAISS's result "
                "returned), %ld served by flashkm, %ld wrong\n", calls, failed, passed, bad);
    std::printf("plugin_faults: VmRSS after %ld calls %ld KiB, at the end %ld KiB, growth %ld KiB "
                "(bound %ld KiB)%s\n", calls / 5, rss_warm, rss_end, rss_end - rss_warm,
                rss_bound, fkmrel::built_with_asan() ? " [ASan build: not asserted]" : "");
    bool ok = bad == 0 && failed > 0 && passed > 0;
    if (device) {
        const size_t free_end = rt.free_bytes();
        std::printf("plugin_faults: cudaMemGetInfo free %zu bytes after the warm-up, %zu at the "
                    "end\n", free0, free_end);
        if (free_end != free0) {
            std::printf("FAIL: device memory changed\n");
            ok = false;
        }
    }
    if (!fkmrel::built_with_asan() && rss_end - rss_warm > rss_bound) {
        std::printf("FAIL: resident memory grew\n");
        ok = false;
    }
    std::printf("%s\n", ok ? "PASS" : "FAIL");
    return ok ? 0 : 1;
}
