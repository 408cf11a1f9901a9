// ivf_train_compare.cpp — the main job's FAISS program: an ordinary FAISS
// user program (index_factory, train, add, search), timed. scripts/
// main_job.sh runs it without and with LD_PRELOAD=libflashkm_faiss.so.
//
//   ivf_train_compare train [--n N] [--d D] [--nlist L] [--nq Q]
//                           [--nprobe P] --centroids FILE
//       Gaussian-mixture data (seeded; 4096 centres, unit noise, as
//       /work/shared/BENCH.md's shapes), "IVF<L>,Flat": train (timed), add
//       the n points, search nq other points; prints one line
//       "result train_s=... recall10=..." and writes the coarse centroids
//       (L * D float32) to FILE.
//   ivf_train_compare compare FILE_A FILE_B
//       prints "agreement max_rel_diff=... rows_over_1e-4=..." for two
//       centroid files.
#include <faiss/IVFlib.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexIVF.h>
#include <faiss/index_factory.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "app_common.h"

namespace {

using idx_t = faiss::Index::idx_t;

struct options {
    size_t n = 200000, d = 128, nlist = 1024, nq = 1000, nprobe = 16;
    std::string centroids;
};

bool parse(int argc, char **argv, options *o) {
    for (int i = 2; i + 1 < argc; i += 2) {
        std::string k = argv[i];
        const char *v = argv[i + 1];
        if (k == "--n")
            o->n = std::stoul(v);
        else if (k == "--d")
            o->d = std::stoul(v);
        else if (k == "--nlist")
            o->nlist = std::stoul(v);
        else if (k == "--nq")
            o->nq = std::stoul(v);
        else if (k == "--nprobe")
            o->nprobe = std::stoul(v);
        else if (k == "--centroids")
            o->centroids = v;
        else
            return false;
    }
    return argc % 2 == 0 && !o->centroids.empty();
}

double recall_at_10(const faiss::Index &index, const float *xb, size_t nb,
                    const float *xq, size_t nq, size_t d) {
    const size_t k = 10;
    std::vector<float> dis(nq * k);
    std::vector<idx_t> found(nq * k), truth(nq * k);
    index.search(nq, xq, k, dis.data(), found.data());
    faiss::IndexFlatL2 exact(d);
    exact.add(nb, xb);
    exact.search(nq, xq, k, dis.data(), truth.data());
    return app_recall_at_k(nq, k, found.data(), truth.data());
}

int train(const options &o) {
    std::unique_ptr<float, decltype(&free)> x(
            app_gmm_noise(o.n + o.nq, o.d, 4096, 1.0f, 2024), &free);
    const float *xq = x.get() + o.n * o.d;
    std::string key = "IVF" + std::to_string(o.nlist) + ",Flat";
    std::unique_ptr<faiss::Index> index(faiss::index_factory(o.d, key.c_str()));

    auto t0 = std::chrono::steady_clock::now();
    index->train(o.n, x.get());
    std::chrono::duration<double> train_s = std::chrono::steady_clock::now() - t0;

    index->add(o.n, x.get());
    faiss::IndexIVF *ivf = faiss::ivflib::extract_index_ivf(index.get());
    ivf->nprobe = o.nprobe;
    double recall = recall_at_10(*index, x.get(), o.n, xq, o.nq, o.d);

    std::vector<float> c(o.nlist * o.d);
    ivf->quantizer->reconstruct_n(0, o.nlist, c.data());
    FILE *f = std::fopen(o.centroids.c_str(), "wb");
    if (!f || std::fwrite(c.data(), sizeof(float), c.size(), f) != c.size() ||
        std::fclose(f) != 0) {
        std::perror(o.centroids.c_str());
        return 1;
    }
    std::printf("result train_s=%.3f recall10=%.4f\n", train_s.count(), recall);
    return 0;
}

std::vector<float> read_floats(const char *path) {
    std::vector<float> v;
    FILE *f = std::fopen(path, "rb");
    if (!f)
        return v;
    float buf[4096];
    size_t got;
    while ((got = std::fread(buf, sizeof(float), 4096, f)) > 0)
        v.insert(v.end(), buf, buf + got);
    std::fclose(f);
    return v;
}

// Relative to the largest coordinate: centroids near the origin make
// per-coordinate ratios meaningless.
int compare(const char *a_path, const char *b_path, size_t d) {
    std::vector<float> a = read_floats(a_path), b = read_floats(b_path);
    if (a.empty() || a.size() != b.size() || a.size() % d != 0) {
        std::fprintf(stderr, "compare: %s and %s differ in size\n", a_path, b_path);
        return 1;
    }
    double scale = 0, worst = 0;
    for (float v : a)
        scale = std::fmax(scale, std::fabs(v));
    size_t rows_over = 0;
    for (size_t r = 0; r < a.size() / d; r++) {
        double row = 0;
        for (size_t j = 0; j < d; j++)
            row = std::fmax(row, std::fabs(a[r * d + j] - b[r * d + j]));
        worst = std::fmax(worst, row);
        rows_over += row > 1e-4 * scale;
    }
    std::printf("agreement max_rel_diff=%.3g rows_over_1e-4=%zu of %zu\n",
                worst / scale, rows_over, a.size() / d);
    return 0;
}

} // namespace

int main(int argc, char **argv) {
    options o;
    if (argc >= 2 && std::strcmp(argv[1], "train") == 0 && parse(argc, argv, &o))
        return train(o);
    if ((argc == 4 || argc == 5) && std::strcmp(argv[1], "compare") == 0)
        return compare(argv[2], argv[3], argc == 5 ? std::stoul(argv[4]) : 1);
    std::fprintf(stderr,
                 "usage: %s train [--n N] [--d D] [--nlist L] [--nq Q] "
                 "[--nprobe P] --centroids FILE\n"
                 "       %s compare FILE_A FILE_B [D]\n",
                 argv[0], argv[0]);
    return 2;
}
