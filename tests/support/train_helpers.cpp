#include "support/train_helpers.h"

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace fkmtest {

flashkm_params default_params() {
    flashkm_params p;
    flashkm_params_init(&p);
    p.quiet_warnings = 1;
    const char *e = std::getenv("FKM_TEST_ENGINE");
    if (e && std::strcmp(e, "cpu") == 0) p.engine = FLASHKM_ENGINE_CPU;
    if (e && std::strcmp(e, "gpu") == 0) p.engine = FLASHKM_ENGINE_GPU;
    return p;
}

size_t TrainResult::stats_written() const {
    return n_stats < stats.size() ? n_stats : stats.size();
}

TrainResult run_train(const flashkm_params &p, size_t n, size_t d, size_t k,
                      const float *x, bool with_labels, size_t stats_capacity) {
    TrainResult r;
    if (stats_capacity == SIZE_MAX) {
        size_t runs = (size_t)(p.niter > 0 ? p.niter : 0) *
                      (size_t)(p.nredo > 0 ? p.nredo : 0);
        stats_capacity = runs > 0 ? runs : 1;
    }
    r.centroids = Poisoned<float>(k * d);
    if (with_labels) {
        r.labels = Poisoned<int64_t>(n);
        r.distances = Poisoned<float>(n);
    }
    r.stats = Poisoned<flashkm_iteration_stats>(stats_capacity);
    flashkm_output out;
    std::memset(&out, 0, sizeof out);
    out.centroids = r.centroids.data();
    out.labels = r.labels.data();
    out.distances = r.distances.data();
    out.stats = r.stats.data();
    out.stats_capacity = stats_capacity;
    r.status = flashkm_train(&p, n, d, k, x, &out);
    r.error = flashkm_last_error();
    r.n_stats = out.n_stats;
    r.objective = out.objective;
    r.engine_used = out.engine_used;
    return r;
}

AssignResult run_assign(const flashkm_params &p, size_t n, size_t d, size_t k,
                        const float *x, const float *centroids) {
    AssignResult r;
    r.labels = Poisoned<int64_t>(n);
    r.distances = Poisoned<float>(n);
    r.status = flashkm_assign(&p, n, d, k, x, centroids, r.labels.data(),
                              r.distances.data());
    r.error = flashkm_last_error();
    return r;
}

bool same_bits(const void *a, const void *b, size_t bytes) {
    return bytes == 0 || std::memcmp(a, b, bytes) == 0;
}

std::string diff_results(const TrainResult &a, const TrainResult &b) {
    std::ostringstream o;
    if (a.status != b.status) o << "status differs; ";
    if (a.centroids.size() != b.centroids.size() ||
        !same_bits(a.centroids.v.data(), b.centroids.v.data(),
                   a.centroids.size() * sizeof(float)))
        o << "centroids differ; ";
    if (a.labels.size() != b.labels.size() ||
        !same_bits(a.labels.v.data(), b.labels.v.data(),
                   a.labels.size() * sizeof(int64_t)))
        o << "labels differ; ";
    if (a.distances.size() != b.distances.size() ||
        !same_bits(a.distances.v.data(), b.distances.v.data(),
                   a.distances.size() * sizeof(float)))
        o << "distances differ; ";
    if (!same_bits(&a.objective, &b.objective, sizeof(float)))
        o << "objective " << a.objective << " vs " << b.objective << "; ";
    if (a.n_stats != b.n_stats)
        o << "n_stats " << a.n_stats << " vs " << b.n_stats << "; ";
    size_t ns = a.stats_written() < b.stats_written() ? a.stats_written()
                                                      : b.stats_written();
    for (size_t i = 0; i < ns; i++) {
        const flashkm_iteration_stats &s = a.stats.v[i], &t = b.stats.v[i];
        if (!same_bits(&s.objective, &t.objective, sizeof(float)) ||
            s.imbalance_factor != t.imbalance_factor || s.nsplit != t.nsplit) {
            o << "stats[" << i << "] differ (obj " << s.objective << " vs "
              << t.objective << ", nsplit " << s.nsplit << " vs " << t.nsplit
              << "); ";
            break;
        }
    }
    return o.str();
}

std::string status_name(flashkm_status s) {
    const char *n = flashkm_status_string(s);
    return n ? n : "(null)";
}

bool mentions_word(const std::string &msg, const std::string &word) {
    auto ident = [](char c) {
        return std::isalnum((unsigned char)c) || c == '_';
    };
    for (size_t pos = msg.find(word); pos != std::string::npos;
         pos = msg.find(word, pos + 1)) {
        bool left = pos == 0 || !ident(msg[pos - 1]);
        size_t end = pos + word.size();
        bool right = end >= msg.size() || !ident(msg[end]);
        if (left && right) return true;
    }
    return false;
}

}  // namespace fkmtest
