// clustering_call.cpp — which Clustering calls flashkm takes, and writing
// its results back.
#include "clustering_call.h"

#include <climits>
#include <cstring>
#include <new>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "bridge_config.h"
#include "faiss_origin.h"

namespace flashkm_bridge {
namespace {

// Exact flat indexes, by their exact dynamic type: a subclass may override
// search (IndexFlat1D does), so dynamic_cast would admit too much — and it
// would need FAISS's typeinfo symbols, which the plugin must not link.
bool is_exact_flat(const faiss::Index &index) {
    static const char *const flat_types[] = {
            "N5faiss9IndexFlatE",          "N5faiss11IndexFlatL2E",
            "N5faiss11IndexFlatIPE",       "N5faiss3gpu12GpuIndexFlatE",
            "N5faiss3gpu14GpuIndexFlatL2E", "N5faiss3gpu14GpuIndexFlatIPE"};
    const char *name = typeid(index).name();
    for (const char *t : flat_types)
        if (std::strcmp(name, t) == 0)
            return true;
    return false;
}

// Options of FAISS versions after 1.7.3 that flashkm does not implement,
// read only where the headers have them (detection idiom): such calls stay
// with FAISS. use_faster_subsampling: splitmix64 sampling; a negative seed:
// "seed from the clock" in recent FAISS.
template <class C, class = void>
struct has_faster_subsampling : std::false_type {};
template <class C>
struct has_faster_subsampling<
        C, std::void_t<decltype(std::declval<C>().use_faster_subsampling)>>
        : std::true_type {};

template <class C>
bool newer_faiss_option(const C &c) {
    bool newer = FAISS_VERSION_MAJOR * 10000 + FAISS_VERSION_MINOR * 100 +
                         FAISS_VERSION_PATCH >
                 10703;
    if (newer && c.seed < 0)
        return true;
    if constexpr (has_faster_subsampling<C>::value)
        return c.use_faster_subsampling;
    return false;
}

// Input FAISS rejects with its own exception, or handles in ways of its own
// (no redo at all, more input centroids than k, a one-point subsample that
// FAISS's n == k shortcut then copies from the unsampled input).
const char *faiss_own_case(const faiss::Clustering &c, faiss::Index::idx_t n,
                           const float *x, const faiss::Index &index) {
    if (c.d == 0 || c.k == 0 || c.d > INT_MAX || c.k > INT_MAX)
        return "d or k out of range";
    if (n < 0 || (size_t)n < c.k)
        return "fewer points than centroids";
    if (x == nullptr)
        return "no input";
    if ((size_t)index.d != c.d)
        return "index dimension differs from d";
    if (c.centroids.size() % c.d != 0)
        return "input centroids not a multiple of d";
    if (c.centroids.size() / c.d > c.k)
        return "more input centroids than k";
    if (c.niter < 0 || c.nredo < 1 || c.max_points_per_centroid < 2)
        return "niter, nredo or max_points_per_centroid out of range";
    if (newer_faiss_option(c))
        return "an option of this FAISS version that flashkm lacks";
    return nullptr;
}

} // namespace

bool plugin_active(const void *const *anchors, int n_anchors,
                   const char **why) {
    if (config().disabled) {
        *why = "FLASHKM_DISABLE=1";
        return false;
    }
    if (config().engine == engine_choice::faiss) {
        *why = "FLASHKM_ENGINE=faiss";
        return false;
    }
    if (!faiss_version_matches(anchors, n_anchors)) {
        *why = "FAISS version differs from the plugin's";
        return false;
    }
    return true;
}

bool request_for(const faiss::Clustering &c, faiss::Index::idx_t n,
                 const float *x, const faiss::Index &index,
                 const float *weights, const void *const *anchors,
                 int n_anchors, train_request *rq, const char **why) {
    if (!plugin_active(anchors, n_anchors, why))
        return false;
    if (!is_exact_flat(index)) {
        *why = "the assigning index is not an exact flat index";
        return false;
    }
    if (index.metric_type != faiss::METRIC_L2 &&
        index.metric_type != faiss::METRIC_INNER_PRODUCT) {
        *why = "metric other than L2 or inner product";
        return false;
    }
    if ((*why = faiss_own_case(c, n, x, index)) != nullptr)
        return false;

    *rq = train_request{};
    rq->n = (size_t)n;
    rq->d = c.d;
    rq->k = c.k;
    rq->x = x;
    rq->weights = weights;
    rq->n_init_centroids = c.centroids.size() / c.d;
    rq->init_centroids = rq->n_init_centroids ? c.centroids.data() : nullptr;
    rq->metric = index.metric_type == faiss::METRIC_INNER_PRODUCT
                         ? FLASHKM_METRIC_INNER_PRODUCT
                         : FLASHKM_METRIC_L2;
    rq->niter = c.niter;
    rq->nredo = c.nredo;
    rq->verbose = c.verbose;
    rq->spherical = c.spherical;
    rq->int_centroids = c.int_centroids;
    rq->frozen_centroids = c.frozen_centroids;
    rq->min_points_per_centroid = c.min_points_per_centroid;
    rq->max_points_per_centroid = c.max_points_per_centroid;
    rq->seed = c.seed;
    return true;
}

bool store_result(faiss::Clustering &clus, train_result &result) {
    // Build the new statistics aside, so a failed allocation changes nothing.
    std::vector<faiss::ClusteringIterationStats> stats;
    try {
        stats.reserve(clus.iteration_stats.size() + result.stats.size());
    } catch (const std::bad_alloc &) {
        return false;
    }
    // Both fit the reservation: no allocation, no throw.
    stats.insert(stats.end(), clus.iteration_stats.begin(),
                 clus.iteration_stats.end());
    for (const flashkm_iteration_stats &s : result.stats)
        stats.push_back({s.objective, s.time, s.time_search,
                         s.imbalance_factor, s.nsplit});
    clus.iteration_stats.swap(stats);
    clus.centroids.swap(result.centroids);
    return true;
}

bool train_with_flashkm(faiss::Clustering &clus, faiss::Index::idx_t n,
                        const float *x, const faiss::Index &index,
                        const float *weights, const void *const *anchors,
                        int n_anchors) {
    train_request request;
    const char *why = nullptr;
    if (!request_for(clus, n, x, index, weights, anchors, n_anchors,
                     &request, &why)) {
        log_passthrough(n > 0 ? (size_t)n : 0, clus.d, clus.k, why);
        return false;
    }
    train_result result;
    return run_flashkm(request, &result) == verdict::trained &&
           store_result(clus, result);
}

} // namespace flashkm_bridge
