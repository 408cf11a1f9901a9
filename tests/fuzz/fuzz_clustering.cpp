// fuzz_clustering.cpp — libFuzzer harness on the FAISS plugin's reading of
// faiss::Clustering objects. The program links the plugin ahead of
// libfaiss.so, so clus.train() reaches the plugin as under LD_PRELOAD.
//
// The bytes decode into a Clustering with odd fields (negative niter,
// nredo 0 or negative, max/min_points_per_centroid odd, k > n, k = 0,
// input centroids of a size not a multiple of d or more than k, frozen,
// spherical, int_centroids, update_index, weights) and an index (flat L2 /
// IP, of a dimension that may differ from d), and small data. The same
// call is made twice on fresh objects: through the plugin, and through
// FAISS's own Clustering::train (found in libfaiss.so with dlsym). What
// must hold: the same outcome — both throw (FaissException or another
// std::exception, with the same text), or both succeed with the same
// centroids, statistics and index contents, bit for bit. Crashes,
// sanitizer findings and leaks are libFuzzer's to catch.
//
// Left out, as FAISS 1.7.3 itself misbehaves on them (so the plugin, which
// hands such calls to FAISS, cannot do better than crash like FAISS):
// max_points_per_centroid == 0 (FAISS subsamples to 0 points and reads past
// its empty permutation), and data whose objective overflows to Inf with
// nredo > 1 (no redo "improves", FAISS adds its empty best_centroids), and
// frozen_centroids with more input centroids than k (FAISS's
// compute_centroids memsets a negative size), and weights below 1 (when a
// cluster is empty and none weighs more than 1, FAISS's split_clusters
// loops forever; flashkm stops splitting there — src/split_clusters.h —
// and the C-API harness covers such weights on flashkm alone). FAISS's
// split also loops forever when empty clusters outnumber what the points
// can give (few distinct points, frozen centroids taking every point):
// so FAISS's own run happens in a child process with a 3 s alarm, and when
// it hangs the plugin's call must just have ended (with centroids or an
// exception). Run with OMP_NUM_THREADS=1 (scripts/fuzz.sh does): no
// OpenMP pool exists at fork time.
#include <dlfcn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <faiss/Clustering.h>
#include <faiss/IndexFlat.h>
#include <faiss/impl/FaissException.h>

extern "C" {
#include "fuzz_decode.h"
}

namespace {

using idx_t = faiss::Index::idx_t;
using train_fn = void (*)(faiss::Clustering *, idx_t, const float *,
                          faiss::Index &, const float *);

const char *const kTrainSymbol = "_ZN5faiss10Clustering5trainElPKfRNS_5IndexES2_";

[[noreturn]] void fail(const std::string &what) {
    std::fprintf(stderr, "fuzz_clustering: %s\n", what.c_str());
    std::abort();
}

// FAISS's own Clustering::train, in libfaiss.so (not the plugin's).
train_fn faiss_own_train() {
    static train_fn fn = [] {
        void *h = dlopen("libfaiss.so", RTLD_NOW | RTLD_NOLOAD);
        void *s = h ? dlsym(h, kTrainSymbol) : nullptr;
        if (!s) fail("FAISS's own Clustering::train not found in libfaiss.so");
        Dl_info a, b;
        void *used = dlsym(RTLD_DEFAULT, kTrainSymbol);
        if (!used || !dladdr(used, &a) || !dladdr(s, &b) || a.dli_fbase == b.dli_fbase)
            fail("the plugin does not interpose Clustering::train in this program");
        return reinterpret_cast<train_fn>(s);
    }();
    return fn;
}

struct Spec {
    size_t d, k, index_d;
    idx_t n;
    bool ip, weighted;
    faiss::ClusteringParameters cp;
    std::vector<float> x, w, init;
};

Spec decode(fz_reader *r) {
    Spec s;
    uint8_t f = fz_byte(r);
    s.d = (size_t)fz_range(r, 1, 6);
    s.n = fz_range(r, 0, 40);
    s.k = (size_t)fz_range(r, 0, (int)s.n + 3);  // k > n sometimes, k = 0 too
    s.index_d = (f & 1) ? (size_t)fz_range(r, 1, 7) : s.d;
    s.ip = (f >> 1) & 1;
    s.weighted = (f >> 2) & 1;
    s.cp.spherical = (f >> 3) & 1;
    s.cp.int_centroids = (f >> 4) & 1;
    s.cp.frozen_centroids = (f >> 5) & 1;
    s.cp.update_index = (f >> 6) & 1;
    s.cp.verbose = (f >> 7) & 1;
    s.cp.niter = fz_range(r, -2, 6);
    s.cp.nredo = fz_range(r, -1, 3);
    s.cp.min_points_per_centroid = fz_range(r, -2, 40);
    s.cp.max_points_per_centroid = fz_range(r, -2, 20);
    if (s.cp.max_points_per_centroid == 0) s.cp.max_points_per_centroid = 1;
    s.cp.seed = (int)fz_u32(r);
    // Values in [-15, 15] in steps of 1/8: distances never overflow.
    s.x.resize((size_t)s.n * s.d);
    for (float &v : s.x) v = ((float)(fz_value_byte(r) % 241) - 120.0f) / 8.0f;
    if (s.weighted) {
        s.w.resize((size_t)s.n);
        // >= 1: FAISS hangs when no cluster weighs more than 1 (see the top)
        for (float &v : s.w) v = 1.0f + (float)(fz_value_byte(r) % 64) / 8.0f;
    }
    s.init.resize((size_t)fz_range(r, 0, 3 * 6 + 2) * (fz_byte(r) & 1 ? 1 : s.d));
    for (float &v : s.init) v = ((float)(fz_value_byte(r) % 241) - 120.0f) / 8.0f;
    if (s.init.size() % s.d == 0 && s.init.size() / s.d > s.k)
        s.cp.frozen_centroids = false;  // FAISS's own crash, see the top
    return s;
}

struct Outcome {
    bool threw = false;
    std::string what;
    std::vector<float> centroids, index_xb;
    std::vector<float> objectives;
    std::vector<int> nsplits;
    idx_t ntotal = 0;
};

Outcome run(const Spec &s, train_fn fn) {
    Outcome o;
    faiss::Clustering clus(s.d, s.k, s.cp);
    clus.centroids = s.init;
    std::unique_ptr<faiss::IndexFlat> index;
    if (s.ip) index.reset(new faiss::IndexFlatIP(s.index_d));
    else index.reset(new faiss::IndexFlatL2(s.index_d));
    const float *w = s.weighted ? s.w.data() : nullptr;
    const float *x = s.x.empty() ? nullptr : s.x.data();
    try {
        if (fn) fn(&clus, s.n, x, *index, w);
        else clus.train(s.n, x, *index, w);
    } catch (const faiss::FaissException &e) {
        o.threw = true;
        o.what = std::string("FaissException: ") + e.what();
    } catch (const std::exception &e) {
        o.threw = true;
        o.what = std::string("std::exception: ") + e.what();
    }
    o.centroids = clus.centroids;
    for (const auto &st : clus.iteration_stats) {
        o.objectives.push_back(st.obj);
        o.nsplits.push_back(st.nsplit);
    }
    o.ntotal = index->ntotal;
    o.index_xb.assign(index->get_xb(), index->get_xb() + index->ntotal * index->d);
    return o;
}

bool same_floats(const std::vector<float> &a, const std::vector<float> &b) {
    return a.size() == b.size() &&
           (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// Outcome through a pipe: [threw][what][centroids][objectives][nsplits]
// [ntotal][index_xb], each vector as a count then its bytes.
template <class T>
void put(std::string &b, const std::vector<T> &v) {
    size_t n = v.size();
    b.append((const char *)&n, sizeof n);
    if (n) b.append((const char *)v.data(), n * sizeof(T));
}
template <class T>
bool get(const std::string &b, size_t &at, std::vector<T> &v) {
    size_t n;
    if (at + sizeof n > b.size()) return false;
    std::memcpy(&n, b.data() + at, sizeof n);
    at += sizeof n;
    if (n > (b.size() - at) / sizeof(T)) return false;
    v.resize(n);
    if (n) std::memcpy(v.data(), b.data() + at, n * sizeof(T));
    at += n * sizeof(T);
    return true;
}

// A call in a child process (FAISS's own may loop forever): fn as in run()
// (nullptr: through the plugin). False when it did not finish within 3 s.
bool run_isolated(const Spec &s, train_fn fn, Outcome *o) {
    int fds[2];
    if (pipe(fds) != 0) fail("pipe");
    pid_t pid = fork();
    if (pid < 0) fail("fork");
    if (pid == 0) {
        close(fds[0]);
        signal(SIGALRM, SIG_DFL);  // not libFuzzer's timeout handler
        alarm(3);
        Outcome c = run(s, fn);
        std::string b(1, c.threw ? '1' : '0');
        put(b, std::vector<char>(c.what.begin(), c.what.end()));
        put(b, c.centroids);
        put(b, c.objectives);
        put(b, c.nsplits);
        put(b, std::vector<idx_t>{c.ntotal});
        put(b, c.index_xb);
        for (size_t off = 0; off < b.size();) {
            ssize_t w = write(fds[1], b.data() + off, b.size() - off);
            if (w <= 0) _exit(3);
            off += (size_t)w;
        }
        _exit(0);  // no atexit work (LeakSanitizer) in the child
    }
    close(fds[1]);
    std::string b;
    char buf[4096];
    ssize_t got;
    // libFuzzer's periodic SIGALRM (its -timeout) interrupts these: retry.
    while ((got = read(fds[0], buf, sizeof buf)) != 0) {
        if (got > 0) b.append(buf, (size_t)got);
        else if (errno != EINTR) break;
    }
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) return false;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || b.empty())
        fail(std::string(fn ? "FAISS's own" : "the plugin's") +
             " call died in the child (status " + std::to_string(status) + ")");
    size_t at = 1;
    std::vector<char> what;
    std::vector<idx_t> ntotal;
    o->threw = b[0] == '1';
    if (!get(b, at, what) || !get(b, at, o->centroids) || !get(b, at, o->objectives) ||
        !get(b, at, o->nsplits) || !get(b, at, ntotal) || ntotal.size() != 1 ||
        !get(b, at, o->index_xb))
        fail("bad outcome from the child");
    o->what.assign(what.begin(), what.end());
    o->ntotal = ntotal[0];
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    // Without a GPU the plugin leaves every call to FAISS unless told to use
    // flashkm's CPU engine; read once, at the plugin's first call.
    setenv("FLASHKM_ENGINE", "cpu", 0);
    if (!std::freopen("/dev/null", "w", stdout)) return 0;  // verbose lines
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_reader r = {data, size, 0};
    Spec s = decode(&r);
    Outcome faiss;
    if (!run_isolated(s, faiss_own_train(), &faiss)) {
        // FAISS hangs (see the top). The plugin may hand the call to FAISS
        // and hang as FAISS does; it must not crash.
        Outcome plugin;
        run_isolated(s, nullptr, &plugin);
        return 0;
    }
    Outcome plugin = run(s, nullptr);
    std::string where = "d=" + std::to_string(s.d) + " index.d=" + std::to_string(s.index_d) +
                        " n=" + std::to_string(s.n) + " k=" + std::to_string(s.k) +
                        " niter=" + std::to_string(s.cp.niter) +
                        " nredo=" + std::to_string(s.cp.nredo) +
                        " max_ppc=" + std::to_string(s.cp.max_points_per_centroid) +
                        " init=" + std::to_string(s.init.size()) + ": ";
    if (plugin.threw != faiss.threw || plugin.what != faiss.what)
        fail(where + "plugin [" + (plugin.threw ? plugin.what : "ok") + "] vs FAISS [" +
             (faiss.threw ? faiss.what : "ok") + "]");
    if (plugin.threw && plugin.what.back() == ' ')
        fail(where + "exception without a message");
    if (!same_floats(plugin.centroids, faiss.centroids))
        fail(where + "centroids differ");
    if (!same_floats(plugin.objectives, faiss.objectives) || plugin.nsplits != faiss.nsplits)
        fail(where + "iteration statistics differ");
    if (plugin.ntotal != faiss.ntotal || !same_floats(plugin.index_xb, faiss.index_xb))
        fail(where + "index contents differ");
    return 0;
}
