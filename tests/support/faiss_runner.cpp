#include "support/faiss_runner.h"

#include <faiss/Clustering.h>
#include <faiss/IndexFlat.h>
#include <faiss/impl/FaissException.h>

#include <memory>

namespace fkmtest {

FaissResult faiss_train(const flashkm_params &p, size_t n, size_t d, size_t k,
                        const float *x, bool with_labels) {
    faiss::ClusteringParameters cp;
    cp.niter = p.niter;
    cp.nredo = p.nredo;
    cp.verbose = p.verbose != 0;
    cp.spherical = p.spherical != 0;
    cp.int_centroids = p.int_centroids != 0;
    cp.frozen_centroids = p.frozen_centroids != 0;
    cp.min_points_per_centroid = p.min_points_per_centroid;
    cp.max_points_per_centroid = p.max_points_per_centroid;
    cp.seed = p.seed;
    faiss::Clustering clus((int)d, (int)k, cp);
    if (p.init_centroids && p.n_init_centroids)
        clus.centroids.assign(p.init_centroids,
                              p.init_centroids + p.n_init_centroids * d);
    std::unique_ptr<faiss::IndexFlat> index;
    if (p.metric == FLASHKM_METRIC_INNER_PRODUCT)
        index.reset(new faiss::IndexFlatIP((faiss::Index::idx_t)d));
    else
        index.reset(new faiss::IndexFlatL2((faiss::Index::idx_t)d));
    FaissResult r;
    try {
        clus.train((faiss::Index::idx_t)n, x, *index, p.weights);
    } catch (const faiss::FaissException &e) {
        r.threw = true;
        r.what = e.what();
        return r;
    }
    r.centroids = clus.centroids;
    for (const faiss::ClusteringIterationStats &s : clus.iteration_stats)
        r.stats.push_back({s.obj, s.imbalance_factor, s.nsplit});
    if (with_labels) {
        r.labels.resize(n);
        r.distances.resize(n);
        index->search((faiss::Index::idx_t)n, x, 1, r.distances.data(),
                      r.labels.data());
    }
    return r;
}

FaissDefaults faiss_defaults() {
    faiss::ClusteringParameters cp;
    return {cp.niter, cp.nredo, cp.verbose, cp.spherical, cp.int_centroids,
            cp.frozen_centroids, cp.min_points_per_centroid,
            cp.max_points_per_centroid, cp.seed};
}

}  // namespace fkmtest
