// gmm.h — deterministic test data: Gaussian mixtures and data sets with
// duplicated points (which force empty clusters and thus FAISS's split).
#ifndef FKM_TEST_GMM_H
#define FKM_TEST_GMM_H
#include <cstddef>
#include <cstdint>
#include <vector>

namespace fkmtest {

struct MixtureSpec {
    size_t n = 1000;          // points
    size_t d = 8;             // dimensions
    size_t centres = 10;      // true centres K'
    uint64_t seed = 1;
    // Centres are drawn uniformly in [-centre_scale, centre_scale]^d and the
    // noise is unit Gaussian, so clusters overlap a little (k-means has real
    // work to do) while staying far from exact ties.
    float centre_scale = 4.0f;
    // Added to every coordinate: |x|^2 is then much larger than the
    // point-to-centroid distances, as in real embeddings, which exercises
    // the cancellation in |x|^2 - 2<x,c> + |c|^2.
    float offset = 3.0f;
};

// n * d floats, row-major; identical for identical specs on every platform
// (own Box-Muller over std::mt19937_64, no std::normal_distribution).
std::vector<float> gaussian_mixture(const MixtureSpec &spec);

// The common case in one call: n points around `centres` true centres
// spread over [-scale, scale]^d, unit noise.
inline std::vector<float> mixture(size_t n, size_t d, size_t centres,
                                  uint64_t seed, float scale = 4.0f) {
    MixtureSpec s;
    s.n = n;
    s.d = d;
    s.centres = centres;
    s.seed = seed;
    s.centre_scale = scale;
    return gaussian_mixture(s);
}

// n rows that are copies of only `distinct` different Gaussian-mixture rows
// (row i is distinct row i % distinct): with k close to `distinct`,
// several initial centroids coincide and clusters come out empty.
std::vector<float> duplicated_points(size_t n, size_t distinct, size_t d,
                                     uint64_t seed);

// Positive per-point weights in [0.25, 4), deterministic.
std::vector<float> random_weights(size_t n, uint64_t seed);

// Rows L2-normalised in place (for inner-product / spherical cases).
void normalize_rows(std::vector<float> &x, size_t d);

}  // namespace fkmtest
#endif
