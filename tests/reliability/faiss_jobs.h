// faiss_jobs.h — FAISS trainings for the plugin reliability programs: plain
// Clustering (L2, inner product + spherical, redos, input centroids,
// weights), an IVF coarse quantizer and a PQ codebook, each returning what
// training produced (centroids / quantizer vectors / codebooks) so two runs
// can be compared bit for bit. Data is deterministic and shared read-only.
#ifndef FKM_RELIABILITY_FAISS_JOBS_H
#define FKM_RELIABILITY_FAISS_JOBS_H
#include <faiss/Clustering.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/IndexPQ.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace fkmrel {

struct Job {
    std::string name;
    size_t n, d, k;
    int kind;          // 0 Clustering L2, 1 Clustering IP spherical,
                       // 2 Clustering with input centroids + weights + redos,
                       // 3 IVF coarse quantizer, 4 PQ codebooks
    uint64_t seed;
    std::vector<float> x, w;

    std::vector<float> train() const {
        switch (kind) {
        case 3: {
            faiss::IndexFlatL2 q(d);
            faiss::IndexIVFFlat ivf(&q, d, k);
            ivf.cp.seed = (int)seed;
            ivf.train(n, x.data());
            return std::vector<float>(q.get_xb(), q.get_xb() + k * d);
        }
        case 4: {
            // 4 sub-quantizers of 2^nbits centroids (64, or 16 when small)
            faiss::IndexPQ pq(d, 4, k == 64 ? 6 : 4);
            pq.pq.cp.niter = 8;
            pq.train(n, x.data());
            return pq.pq.centroids;
        }
        default:
            break;
        }
        faiss::ClusteringParameters cp;
        cp.niter = 10;
        cp.seed = (int)seed;
        cp.max_points_per_centroid = 64;
        faiss::Clustering clus(d, k, cp);
        if (kind == 1) {
            clus.spherical = true;
            faiss::IndexFlatIP index(d);
            clus.train(n, x.data(), index);
        } else {
            faiss::IndexFlatL2 index(d);
            const float *weights = nullptr;
            if (kind == 2) {
                clus.nredo = 2;
                clus.centroids.assign(x.begin(), x.begin() + 3 * d);
                weights = w.data();
            }
            clus.train(n, x.data(), index, weights);
        }
        return clus.centroids;
    }
};

inline std::vector<float> job_data(size_t n, size_t d, uint64_t seed,
                                   bool unit) {
    std::mt19937_64 g(seed);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    const size_t centres = 24;
    std::vector<float> c(centres * d), x(n * d);
    for (float &v : c) v = 4.0f * u(g);
    for (size_t i = 0; i < n; i++) {
        const float *ci = &c[(g() % centres) * d];
        float nr = 0;
        for (size_t j = 0; j < d; j++) {
            x[i * d + j] = ci[j] + u(g);
            nr += x[i * d + j] * x[i * d + j];
        }
        if (unit)
            for (size_t j = 0; j < d; j++) x[i * d + j] /= std::sqrt(nr);
    }
    return x;
}

// `count` jobs of the five kinds, all different (shapes, seeds, data);
// `small`: about 5x less work each (for the 1000-call fault run).
inline std::vector<Job> make_jobs(size_t count, bool small = false) {
    static const char *const kinds[] = {"clustering-l2", "clustering-ip-spherical",
                                        "clustering-init-weights-redo", "ivf",
                                        "pq"};
    std::vector<Job> jobs;
    for (size_t i = 0; i < count; i++) {
        Job j;
        j.kind = (int)(i % 5);
        j.seed = 1000 + 7 * i;
        j.d = j.kind == 4 ? 16 : 8 + 4 * (i % 4);
        j.k = j.kind == 4 ? (small ? 16 : 64) : (small ? 8 : 16 + 8 * (i % 3));
        j.n = small ? 400 + 50 * (i % 5) : 1500 + 250 * (i % 5);
        j.name = std::string(kinds[j.kind]) + "#" + std::to_string(i) + " n=" +
                 std::to_string(j.n) + " d=" + std::to_string(j.d) +
                 " k=" + std::to_string(j.k);
        j.x = job_data(j.n, j.d, j.seed, j.kind == 1);
        j.w.resize(j.n);
        for (size_t p = 0; p < j.n; p++) j.w[p] = 0.5f + (float)((p * 37) % 11) / 4;
        jobs.push_back(std::move(j));
    }
    return jobs;
}

inline bool same_bits(const std::vector<float> &a, const std::vector<float> &b) {
    return a.size() == b.size() &&
           (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

}  // namespace fkmrel
#endif
