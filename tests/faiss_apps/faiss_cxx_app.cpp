// faiss_cxx_app.cpp — a FAISS user program in C++, linked against a shared
// libfaiss.so, written without any knowledge of flashkm.
//
//   faiss_cxx_app ivfpq   OUT  index_factory "IVF256,PQ16np": coarse and PQ
//                              centroids, recall@10
//   faiss_cxx_app ivfflat OUT  index_factory "IVF1024,Flat": centroids,
//                              recall@10; faiss::kmeans_clustering
//   faiss_cxx_app params  OUT  Clustering with every parameter changed:
//                              redos, inner product + spherical, weights,
//                              input centroids (frozen and not), int
//                              centroids, subsampling, n == k, a second
//                              train() appending to iteration_stats
//   faiss_cxx_app errors  OUT  bad input: FaissException::what()
//   faiss_cxx_app threads OUT  four Clusterings trained at once from four
//                              threads, one of them with bad input
//   faiss_cxx_app hnsw    OUT  Clustering assigned by an IndexHNSWFlat
//   faiss_cxx_app binary  OUT  IndexBinaryIVF (train_encoded with a codec)
#include <faiss/Clustering.h>
#include <faiss/IndexBinaryFlat.h>
#include <faiss/IndexBinaryIVF.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IVFlib.h>
#include <faiss/impl/FaissException.h>
#include <faiss/index_factory.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "app_common.h"

namespace {

using idx_t = faiss::Index::idx_t;

struct dataset {
    size_t d, nt, nb, nq;
    std::vector<float> all;
    const float *xt() const { return all.data(); }
    const float *xb() const { return all.data() + nt * d; }
    const float *xq() const { return all.data() + (nt + nb) * d; }
};

dataset make_data(size_t d, size_t nt, size_t nb, size_t nq, size_t modes) {
    dataset ds{d, nt, nb, nq, {}};
    float *x = app_gmm(nt + nb + nq, d, modes, 7);
    ds.all.assign(x, x + (nt + nb + nq) * d);
    free(x);
    return ds;
}

void write_clustering(FILE *out, const std::string &name,
                      const faiss::Clustering &clus) {
    app_write_floats(out, (name + "_centroids").c_str(), clus.centroids.size(),
                     clus.centroids.data());
    std::vector<int> nsplit;
    std::vector<float> obj;
    for (const auto &s : clus.iteration_stats) {
        nsplit.push_back(s.nsplit);
        obj.push_back(s.obj);
    }
    app_write_ints(out, (name + "_nsplit").c_str(), nsplit.size(), nsplit.data());
    app_write_floats(out, (name + "_obj").c_str(), obj.size(), obj.data());
}

// The index after training holds the final centroids, as FAISS leaves it.
void write_index(FILE *out, const std::string &name, const faiss::Index &index) {
    std::vector<float> v(index.ntotal * index.d);
    index.reconstruct_n(0, index.ntotal, v.data());
    app_write_floats(out, (name + "_index").c_str(), v.size(), v.data());
}

void write_recall(FILE *out, const char *name, const dataset &ds,
                  const faiss::Index &index) {
    const size_t k = 10;
    std::vector<float> dis(ds.nq * k);
    std::vector<idx_t> found(ds.nq * k), truth(ds.nq * k);
    index.search(ds.nq, ds.xq(), k, dis.data(), found.data());
    faiss::IndexFlatL2 exact(ds.d);
    exact.add(ds.nb, ds.xb());
    exact.search(ds.nq, ds.xq(), k, dis.data(), truth.data());
    app_write_recall(out, name, ds.nq, k, found.data(), truth.data());
}

void write_quantizer(FILE *out, const char *name, faiss::Index *index) {
    faiss::IndexIVF *ivf = faiss::ivflib::extract_index_ivf(index);
    std::vector<float> c(ivf->nlist * ivf->d);
    ivf->quantizer->reconstruct_n(0, ivf->nlist, c.data());
    app_write_floats(out, name, c.size(), c.data());
}

void run_ivfpq(FILE *out) {
    dataset ds = make_data(64, 12000, 10000, 200, 100);
    std::unique_ptr<faiss::Index> index(faiss::index_factory(64, "IVF256,PQ16np"));
    index->train(ds.nt, ds.xt());
    index->add(ds.nb, ds.xb());
    faiss::ivflib::extract_index_ivf(index.get())->nprobe = 4;
    write_quantizer(out, "ivf_centroids", index.get());
    auto *pq = dynamic_cast<faiss::IndexIVFPQ *>(index.get());
    app_write_floats(out, "pq_centroids", pq->pq.centroids.size(),
                     pq->pq.centroids.data());
    write_recall(out, "ivfpq_recall10", ds, *index);
}

void run_ivfflat(FILE *out) {
    dataset ds = make_data(16, 41000, 20000, 200, 300);
    std::unique_ptr<faiss::Index> index(faiss::index_factory(16, "IVF1024,Flat"));
    index->train(ds.nt, ds.xt());
    index->add(ds.nb, ds.xb());
    faiss::ivflib::extract_index_ivf(index.get())->nprobe = 2;
    write_quantizer(out, "ivf_centroids", index.get());
    write_recall(out, "ivfflat_recall10", ds, *index);

    std::vector<float> c(16 * 64);
    float err = faiss::kmeans_clustering(16, 10000, 64, ds.xt(), c.data());
    app_write_floats(out, "kmeans_centroids", c.size(), c.data());
    app_write_floats(out, "kmeans_q_error", 1, &err);
}

void run_params(FILE *out) {
    dataset ds = make_data(24, 12000, 0, 0, 50);
    std::vector<float> w(ds.nt);
    for (size_t i = 0; i < ds.nt; i++)
        w[i] = 0.5f + (float)(i % 7) / 4;

    // Redos, inner product, spherical, weights, update_index, a seed.
    faiss::ClusteringParameters cp;
    cp.niter = 9;
    cp.nredo = 3;
    cp.spherical = true;
    cp.update_index = true;
    cp.seed = 4321;
    faiss::Clustering ip(24, 40, cp);
    faiss::IndexFlatIP ip_index(24);
    ip.train(ds.nt, ds.xt(), ip_index, w.data());
    write_clustering(out, "ip", ip);
    write_index(out, "ip", ip_index);

    // Input centroids, then a second train() on the same object: it starts
    // from the first result and appends to iteration_stats.
    faiss::Clustering l2(24, 60);
    l2.niter = 6;
    l2.centroids.assign(ds.xt() + 500 * 24, ds.xt() + 510 * 24); // 10 given
    faiss::IndexFlatL2 l2_index(24);
    l2.train(ds.nt, ds.xt(), l2_index);
    l2.train(ds.nt, ds.xt(), l2_index);
    write_clustering(out, "twice", l2);
    write_index(out, "twice", l2_index);

    // Frozen input centroids, integer centroids, subsampling.
    faiss::Clustering fr(24, 30);
    fr.niter = 8;
    fr.frozen_centroids = true;
    fr.int_centroids = true;
    fr.max_points_per_centroid = 100; // 12000 > 30 * 100: sampled
    fr.centroids.assign(ds.xt(), ds.xt() + 5 * 24);
    faiss::IndexFlatL2 fr_index(24);
    fr.train(ds.nt, ds.xt(), fr_index);
    write_clustering(out, "frozen", fr);

    // Too few points for min_points_per_centroid (FAISS warns), and n == k.
    faiss::Clustering few(24, 100);
    faiss::IndexFlatL2 few_index(24);
    few.train(1000, ds.xt(), few_index);
    write_clustering(out, "few", few);
    faiss::Clustering same(24, 100);
    faiss::IndexFlatL2 same_index(24);
    same.train(100, ds.xt(), same_index);
    write_clustering(out, "n_eq_k", same);
    write_index(out, "n_eq_k", same_index);
}

template <class F>
void record_error(FILE *out, const char *name, F &&f) {
    try {
        f();
        app_write_error(out, name, "(no exception)");
    } catch (const faiss::FaissException &e) {
        app_write_error(out, name, e.what());
    }
}

void run_errors(FILE *out) {
    dataset ds = make_data(16, 3000, 0, 0, 10);
    faiss::IndexFlatL2 index(16), wrong(17);
    record_error(out, "n_lt_k", [&] {
        faiss::Clustering c(16, 100);
        c.train(50, ds.xt(), index);
    });
    record_error(out, "index_d", [&] {
        faiss::Clustering c(16, 10);
        c.train(ds.nt, ds.xt(), wrong);
    });
    record_error(out, "nan", [&] {
        std::vector<float> x(ds.all.begin(), ds.all.end());
        x[777] = INFINITY;
        faiss::Clustering c(16, 10);
        c.train(ds.nt, x.data(), index);
    });
    record_error(out, "centroids_not_multiple", [&] {
        faiss::Clustering c(16, 10);
        c.centroids.assign(20, 0.f);
        c.train(ds.nt, ds.xt(), index);
    });
    record_error(out, "kmeans_n_lt_k", [&] {
        std::vector<float> c(16 * 100);
        faiss::kmeans_clustering(16, 50, 100, ds.xt(), c.data());
    });
}

void run_threads(FILE *out) {
    dataset ds = make_data(16, 8000, 0, 0, 30);
    const int nt = 4;
    std::vector<std::unique_ptr<faiss::Clustering>> clus;
    std::vector<std::string> errors(nt, "(no exception)");
    std::vector<std::thread> threads;
    for (int t = 0; t < nt; t++) {
        clus.emplace_back(new faiss::Clustering(16, 20 + 10 * t));
        clus[t]->niter = 8;
        clus[t]->seed = 100 + t;
    }
    for (int t = 0; t < nt; t++)
        threads.emplace_back([&, t] {
            faiss::IndexFlatL2 index(16);
            try {
                // thread 3: fewer points than centroids
                clus[t]->train(t == 3 ? 10 : ds.nt, ds.xt(), index);
            } catch (const faiss::FaissException &e) {
                errors[t] = e.what();
            }
        });
    for (auto &th : threads)
        th.join();
    for (int t = 0; t < nt; t++) {
        std::string name = "thread" + std::to_string(t);
        write_clustering(out, name, *clus[t]);
        app_write_error(out, (name + "_error").c_str(), errors[t].c_str());
    }
}

void run_hnsw(FILE *out) {
    dataset ds = make_data(16, 5000, 0, 0, 20);
    faiss::Clustering clus(16, 64);
    clus.niter = 5;
    faiss::IndexHNSWFlat hnsw(16, 16);
    clus.train(ds.nt, ds.xt(), hnsw);
    write_clustering(out, "hnsw", clus);
}

void run_binary(FILE *out) {
    const int dbits = 64, nb = 6000, nq = 100, k = 10;
    std::vector<uint8_t> codes((nb + nq) * dbits / 8);
    uint64_t s = 11;
    for (auto &c : codes)
        c = (uint8_t)app_rng_next(&s);
    faiss::IndexBinaryFlat quantizer(dbits);
    faiss::IndexBinaryIVF ivf(&quantizer, dbits, 32);
    ivf.train(nb, codes.data());
    ivf.add(nb, codes.data());
    ivf.nprobe = 4;
    std::vector<int32_t> dis(nq * k);
    std::vector<idx_t> found(nq * k);
    ivf.search(nq, codes.data() + nb * dbits / 8, k, dis.data(), found.data());
    std::vector<int> labels(found.begin(), found.end());
    app_write_ints(out, "binary_labels", labels.size(), labels.data());
    app_write_ints(out, "binary_distances", dis.size(), dis.data());
}

} // namespace

int main(int argc, char **argv) {
    static const struct {
        const char *name;
        void (*run)(FILE *);
    } modes[] = {{"ivfpq", run_ivfpq},   {"ivfflat", run_ivfflat},
                 {"params", run_params}, {"errors", run_errors},
                 {"threads", run_threads},
                 {"hnsw", run_hnsw},     {"binary", run_binary}};
    for (const auto &m : modes) {
        if (argc == 3 && std::strcmp(argv[1], m.name) == 0) {
            FILE *out = std::fopen(argv[2], "w");
            if (!out) {
                std::perror(argv[2]);
                return 2;
            }
            m.run(out);
            return std::fclose(out) == 0 ? 0 : 1;
        }
    }
    std::fprintf(stderr, "usage: %s ivfpq|ivfflat|params|errors|threads|hnsw|binary OUT\n",
                 argv[0]);
    return 2;
}
