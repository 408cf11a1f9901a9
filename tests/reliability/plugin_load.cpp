// plugin_load.cpp — load through the FAISS plugin: T threads (16) train
// different indexes (Clustering L2 / IP / with input centroids, weights and
// redos, IVF coarse quantizers, PQ codebooks) over and over for --duration
// seconds, while a sampler reads VmRSS every half second. Checks:
//   - every result is bit for bit the serial reference run's (each job is
//     trained once, alone, before the threads start);
//   - the plugin is really in the process and, with FLASHKM_VERBOSE=1, that
//     every training went to flashkm (its per-call lines on stderr are
//     counted: stderr goes to a temporary file for the run);
//   - resident memory is flat: the plateau of the first minute (or of the
//     first third of a shorter run) vs the end; growth under --rss-bound-kib.
// Usage: LD_PRELOAD=libflashkm_faiss.so FLASHKM_ENGINE=cpu FLASHKM_VERBOSE=1 \
//        plugin_load [--threads 16] [--duration 300] [--jobs 20]
//                    [--rss-bound-kib 16384] [--allow-no-plugin]
#include "stderr_capture.h"
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "faiss_jobs.h"
#include "rss.h"

using clock_type = std::chrono::steady_clock;

namespace {

struct Options {
    int threads = 16;
    double duration = 40;
    size_t jobs = 20;
    long rss_bound_kib = 16384;
    bool allow_no_plugin = false;
};

Options parse(int argc, char **argv) {
    Options o;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto next = [&]() -> const char * {
            if (i + 1 >= argc) { std::fprintf(stderr, "%s needs a value\n", a.c_str()); std::exit(2); }
            return argv[++i];
        };
        if (a == "--threads") o.threads = std::atoi(next());
        else if (a == "--duration") o.duration = std::atof(next());
        else if (a == "--jobs") o.jobs = (size_t)std::atol(next());
        else if (a == "--rss-bound-kib") o.rss_bound_kib = std::atol(next());
        else if (a == "--allow-no-plugin") o.allow_no_plugin = true;
        else { std::fprintf(stderr, "unknown option %s\n", a.c_str()); std::exit(2); }
    }
    return o;
}

// The library that defines faiss::Clustering::train in this process.
std::string train_provider() {
    void *sym = dlsym(RTLD_DEFAULT, "_ZN5faiss10Clustering5trainElPKfRNS_5IndexES2_");
    Dl_info info;
    if (!sym || !dladdr(sym, &info) || !info.dli_fname) return "?";
    return info.dli_fname;
}

struct Sample { double t; long kib; };

}  // namespace

int main(int argc, char **argv) {
    Options o = parse(argc, argv);
    std::string provider = train_provider();
    bool plugged = provider.find("flashkm_faiss") != std::string::npos;
    std::printf("plugin_load: Clustering::train from %s\n", provider.c_str());
    if (!plugged && !o.allow_no_plugin) {
        std::printf("FAIL: libflashkm_faiss.so is not loaded (LD_PRELOAD it)\n");
        return 1;
    }
    const char *verbose = std::getenv("FLASHKM_VERBOSE");
    bool counting = plugged && verbose && std::strcmp(verbose, "1") == 0;

    std::vector<fkmrel::Job> jobs = fkmrel::make_jobs(o.jobs);
    StderrCapture cap;
    if (counting) cap.start();
    auto t_ref = clock_type::now();
    std::vector<std::vector<float>> refs;
    for (const fkmrel::Job &j : jobs) refs.push_back(j.train());
    double ref_s = std::chrono::duration<double>(clock_type::now() - t_ref).count();

    std::atomic<bool> stop{false};
    std::atomic<long> done{0}, wrong{0};
    std::mutex report;
    auto t0 = clock_type::now();
    auto elapsed = [&] { return std::chrono::duration<double>(clock_type::now() - t0).count(); };
    std::vector<Sample> samples;
    std::thread sampler([&] {
        while (!stop.load()) {
            samples.push_back({elapsed(), fkmrel::rss_kib()});
            std::this_thread::sleep_for(std::chrono::milliseconds(500));
        }
    });
    std::vector<std::thread> workers;
    for (int t = 0; t < o.threads; t++)
        workers.emplace_back([&, t] {
            for (size_t it = 0; !stop.load(); it++) {
                size_t which = ((size_t)t * 7 + it) % jobs.size();
                std::vector<float> got = jobs[which].train();
                done++;
                if (!fkmrel::same_bits(got, refs[which])) {
                    wrong++;
                    std::lock_guard<std::mutex> g(report);
                    std::printf("FAIL: thread %d, %s: result differs from the serial run\n",
                                t, jobs[which].name.c_str());
                }
            }
        });
    std::this_thread::sleep_for(std::chrono::duration<double>(o.duration));
    stop = true;
    for (auto &w : workers) w.join();
    sampler.join();
    double run_s = elapsed();

    long trained = 0, passed_through = 0;
    if (counting) {
        for (const std::string &l : cap.stop()) {
            if (l.find("flashkm: engine=") == 0) trained++;
            else if (l.find("flashkm: FAISS trains") == 0) passed_through++;
            else if (l.find("WARNING clustering") == std::string::npos)
                std::printf("stderr: %s", l.c_str());
        }
    }

    // Plateau: the highest RSS in the first minute (or first third of a
    // shorter run) after 2 s of start-up; end: the highest in the last 10%.
    double window = std::min(60.0, run_s / 3);
    long plateau = 0, end = 0;
    for (const Sample &s : samples) {
        if (s.t >= std::min(2.0, window / 2) && s.t <= window) plateau = std::max(plateau, s.kib);
        if (s.t >= run_s * 0.9) end = std::max(end, s.kib);
    }
    long growth = end - plateau;
    std::printf("plugin_load: %d threads, %zu jobs, %.1f s: %ld trainings, %ld wrong "
                "(serial reference run %.2f s)\n",
                o.threads, jobs.size(), run_s, done.load(), wrong.load(), ref_s);
    if (counting)
        std::printf("plugin_load: flashkm trained %ld calls, FAISS %ld (plugin verbose lines)\n",
                    trained, passed_through);
    std::printf("plugin_load: VmRSS plateau (first %.0f s) %ld KiB, end %ld KiB, growth %ld KiB "
                "(bound %ld KiB)%s\n", window, plateau, end, growth, o.rss_bound_kib,
                fkmrel::built_with_asan() ? " [ASan build: not asserted]" : "");
    bool ok = wrong == 0 && done > 0;
    if (counting && (passed_through != 0 || trained == 0)) {
        std::printf("FAIL: not every training went to flashkm\n");
        ok = false;
    }
    if (!fkmrel::built_with_asan() && growth > o.rss_bound_kib) {
        std::printf("FAIL: resident memory grew by %ld KiB\n", growth);
        ok = false;
    }
    std::printf("%s\n", ok ? "PASS" : "FAIL");
    return ok ? 0 : 1;
}
