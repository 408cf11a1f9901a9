#include "support/gmm.h"

#include <cmath>
#include <random>

namespace fkmtest {
namespace {

// Uniform in [0, 1) with 53 random bits, independent of the library.
double uniform01(std::mt19937_64 &g) { return (g() >> 11) * 0x1.0p-53; }

double standard_normal(std::mt19937_64 &g) {
    double u1 = uniform01(g), u2 = uniform01(g);
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

}  // namespace

std::vector<float> gaussian_mixture(const MixtureSpec &s) {
    std::mt19937_64 g(s.seed * 0x9E3779B97F4A7C15ull + 12345);
    size_t nc = s.centres ? s.centres : 1;
    std::vector<double> centres(nc * s.d);
    for (double &c : centres)
        c = (2.0 * uniform01(g) - 1.0) * s.centre_scale + s.offset;
    std::vector<float> x(s.n * s.d);
    for (size_t i = 0; i < s.n; i++) {
        size_t c = g() % nc;
        for (size_t j = 0; j < s.d; j++)
            x[i * s.d + j] = (float)(centres[c * s.d + j] + standard_normal(g));
    }
    return x;
}

std::vector<float> duplicated_points(size_t n, size_t distinct, size_t d,
                                     uint64_t seed) {
    MixtureSpec s;
    s.n = distinct;
    s.d = d;
    s.centres = distinct;
    s.seed = seed;
    std::vector<float> base = gaussian_mixture(s);
    std::vector<float> x(n * d);
    for (size_t i = 0; i < n; i++) {
        size_t r = i % distinct;
        for (size_t j = 0; j < d; j++) x[i * d + j] = base[r * d + j];
    }
    return x;
}

std::vector<float> random_weights(size_t n, uint64_t seed) {
    std::mt19937_64 g(seed + 777);
    std::vector<float> w(n);
    for (float &v : w) v = (float)(0.25 + 3.75 * uniform01(g));
    return w;
}

void normalize_rows(std::vector<float> &x, size_t d) {
    for (size_t i = 0; i + d <= x.size(); i += d) {
        double s = 0;
        for (size_t j = 0; j < d; j++) s += (double)x[i + j] * x[i + j];
        float inv = (float)(1.0 / std::sqrt(s));
        for (size_t j = 0; j < d; j++) x[i + j] *= inv;
    }
}

}  // namespace fkmtest
