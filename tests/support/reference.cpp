#include "support/reference.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>

namespace fkmtest {
namespace {

double sqnorm(const float *v, size_t d) {
    double s = 0;
    for (size_t j = 0; j < d; j++) s += (double)v[j] * v[j];
    return s;
}

// Squared L2 distance or inner product, in float64.
double ref_distance(const float *x, const float *c, size_t d,
                    flashkm_metric metric) {
    double s = 0;
    for (size_t j = 0; j < d; j++) {
        if (metric == FLASHKM_METRIC_INNER_PRODUCT) {
            s += (double)x[j] * c[j];
        } else {
            double t = (double)x[j] - c[j];
            s += t * t;
        }
    }
    return s;
}

bool better(double a, double b, flashkm_metric metric) {
    return metric == FLASHKM_METRIC_INNER_PRODUCT ? a > b : a < b;
}

}  // namespace

RefAssignment ref_assign(const float *x, size_t n, size_t d, const float *c,
                         size_t k, flashkm_metric metric) {
    RefAssignment r;
    r.labels.resize(n);
    r.best.resize(n);
    r.second.resize(n);
    r.scale.resize(n);
    r.tie_rel = tie_rel_for(d);
    const bool ip = metric == FLASHKM_METRIC_INNER_PRODUCT;
    std::vector<double> cnorm(k);
    for (size_t j = 0; j < k; j++) cnorm[j] = sqnorm(c + j * d, d);
    for (size_t i = 0; i < n; i++) {
        const float *xi = x + i * d;
        size_t bi = 0, si = 0;
        double b = ref_distance(xi, c, d, metric), s = b;
        bool have_second = false;
        for (size_t j = 1; j < k; j++) {
            double v = ref_distance(xi, c + j * d, d, metric);
            if (better(v, b, metric)) {
                s = b; si = bi; have_second = true;
                b = v; bi = j;
            } else if (!have_second || better(v, s, metric)) {
                s = v; si = j; have_second = true;
            }
        }
        if (!have_second) s = ip ? -INFINITY : INFINITY;
        r.labels[i] = (int64_t)bi;
        r.best[i] = b;
        r.second[i] = s;
        double cmax = std::max(cnorm[bi], cnorm[si]);
        r.scale[i] = ip ? std::sqrt(sqnorm(xi, d) * cmax) : sqnorm(xi, d) + cmax;
    }
    return r;
}

double tie_rel_for(size_t d) { return (double)(d + 8) * 0x1.0p-23; }

bool is_near_tie(const RefAssignment &r, size_t i) {
    return std::fabs(r.best[i] - r.second[i]) < r.tie_rel * r.scale[i];
}

std::string check_assignment(const RefAssignment &r, const float *x, size_t d,
                             const float *c, flashkm_metric metric,
                             const int64_t *labels, const float *distances,
                             double rel, size_t *ties) {
    std::ostringstream err;
    size_t n = r.labels.size(), bad = 0, nties = 0;
    for (size_t i = 0; i < n; i++) {
        if (is_near_tie(r, i)) nties++;
        size_t lab = labels ? (size_t)labels[i] : (size_t)r.labels[i];
        if (labels && labels[i] != r.labels[i]) {
            double mine = ref_distance(x + i * d, c + lab * d, d, metric);
            bool ok = is_near_tie(r, i) &&
                      std::fabs(mine - r.best[i]) < r.tie_rel * r.scale[i];
            if (!ok && bad++ < 5)
                err << "point " << i << ": label " << labels[i]
                    << " (float64 distance " << mine << "), reference "
                    << r.labels[i] << " (" << r.best[i] << ", runner-up "
                    << r.second[i] << ", scale " << r.scale[i] << ")\n";
            if (!ok) continue;
        }
        if (distances) {
            double want = ref_distance(x + i * d, c + lab * d, d, metric);
            double tol = rel * (r.scale[i] + std::fabs(want));
            if (!(std::fabs(distances[i] - want) <= tol) && bad++ < 5)
                err << "point " << i << ": distance " << distances[i]
                    << ", float64 " << want << " (tolerance " << tol << ")\n";
        }
    }
    if (ties) *ties = nties;
    if (bad) err << bad << " point(s) wrong out of " << n << "\n";
    return err.str();
}

std::vector<double> ref_lloyd_step(const float *x, size_t n, size_t d,
                                   const float *c, size_t k,
                                   const int64_t *labels, const float *weights,
                                   size_t k_frozen, int spherical,
                                   int int_centroids, int *nsplit) {
    std::vector<double> out(c, c + k * d);
    size_t kk = k - k_frozen;
    double *cen = out.data() + k_frozen * d;
    std::vector<double> h(kk, 0.0);
    std::fill(cen, cen + kk * d, 0.0);
    for (size_t i = 0; i < n; i++) {
        if ((size_t)labels[i] < k_frozen) continue;
        size_t ci = (size_t)labels[i] - k_frozen;
        double w = weights ? weights[i] : 1.0;
        h[ci] += w;
        for (size_t j = 0; j < d; j++) cen[ci * d + j] += w * x[i * d + j];
    }
    for (size_t ci = 0; ci < kk; ci++)
        if (h[ci] != 0)
            for (size_t j = 0; j < d; j++) cen[ci * d + j] /= h[ci];
    // FAISS's split_clusters, on the non-frozen centroids only.
    std::mt19937 rng(1234);
    int splits = 0;
    const double eps = 1.0 / 1024;
    for (size_t ci = 0; ci < kk; ci++) {
        if (h[ci] != 0) continue;
        size_t cj = 0;
        for (;; cj = (cj + 1) % kk) {
            float p = (float)((h[cj] - 1.0) / (float)(n - kk));
            float rf = (float)rng() / (float)rng.max();
            if (rf < p) break;
        }
        for (size_t j = 0; j < d; j++) cen[ci * d + j] = cen[cj * d + j];
        for (size_t j = 0; j < d; j++) {
            double a = (j % 2 == 0) ? 1 + eps : 1 - eps;
            cen[ci * d + j] *= a;
            cen[cj * d + j] *= 2 - a;
        }
        h[ci] = h[cj] / 2;
        h[cj] -= h[ci];
        splits++;
    }
    if (nsplit) *nsplit = splits;
    for (size_t ci = 0; ci < k; ci++) {
        double *v = out.data() + ci * d;
        if (spherical) {
            double s = 0;
            for (size_t j = 0; j < d; j++) s += v[j] * v[j];
            if (s > 0)
                for (size_t j = 0; j < d; j++) v[j] /= std::sqrt(s);
        }
        if (int_centroids)
            for (size_t j = 0; j < d; j++) v[j] = std::round(v[j]);
    }
    return out;
}

std::vector<int64_t> faiss_rand_perm_prefix(size_t n, int64_t seed,
                                            size_t count) {
    std::vector<int64_t> perm(n);
    for (size_t i = 0; i < n; i++) perm[i] = (int64_t)i;
    std::mt19937 mt((unsigned int)seed);
    for (size_t i = 0; i + 1 < n && i < count; i++) {
        size_t i2 = i + mt() % (int)(n - i);
        std::swap(perm[i], perm[i2]);
    }
    perm.resize(std::min(count, n));
    return perm;
}

template <class B>
static double max_rel_diff_impl(const float *a, const B *b, size_t count) {
    double num = 0, den = 0;
    for (size_t i = 0; i < count; i++) {
        double diff = std::fabs((double)a[i] - (double)b[i]);
        if (std::isnan(diff)) return INFINITY;  // an unwritten or NaN value
        num = std::max(num, diff);
        den = std::max(den, std::fabs((double)b[i]));
    }
    if (den == 0) return num == 0 ? 0 : INFINITY;
    return num / den;
}

double max_rel_diff(const float *a, const double *b, size_t count) {
    return max_rel_diff_impl(a, b, count);
}
double max_rel_diff(const float *a, const float *b, size_t count) {
    return max_rel_diff_impl(a, b, count);
}

}  // namespace fkmtest
