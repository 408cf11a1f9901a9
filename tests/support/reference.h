// reference.h — the float64 reference: nearest-centroid assignment with the
// runner-up (for certifying near-ties) and one FAISS Lloyd step.
#ifndef FKM_TEST_REFERENCE_H
#define FKM_TEST_REFERENCE_H
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "flashkm.h"

namespace fkmtest {

struct RefAssignment {
    std::vector<int64_t> labels;   // best centroid (lowest index on exact ties)
    std::vector<double> best;      // its distance (squared L2 or inner product)
    std::vector<double> second;    // the runner-up's (+-inf when k == 1)
    // Magnitude of the fp32 computation: |x|^2 + max |c|^2 over the two
    // (L2: |x|^2 - 2<x,c> + |c|^2), or |x| * max |c| (inner product).
    std::vector<double> scale;
    double tie_rel = 0;            // tie_rel_for(d)
};

RefAssignment ref_assign(const float *x, size_t n, size_t d, const float *c,
                         size_t k, flashkm_metric metric);

// Relative rounding bound used to certify a near-tie: two centroids whose
// float64 distances to a point differ by less than tie_rel_for(d) * scale
// may come out in either order from fp32 arithmetic. (d + 8) * 2^-23 bounds
// the error of an fp32 dot product of d terms plus the norms, however the
// sums are ordered (blocked, BLAS, tree): a worst case, not a typical one.
double tie_rel_for(size_t d);

bool is_near_tie(const RefAssignment &r, size_t i);

// Checks labels (and distances when given) against the reference. A label
// may differ only at a certified near-tie, and then the label's own float64
// distance must also be within the tie bound of the best. Distances must be
// within rel * (scale + |best|). Returns "" when all is well, else a message
// naming the first offending points. `ties` receives the near-tie count.
std::string check_assignment(const RefAssignment &r, const float *x, size_t d,
                             const float *c, flashkm_metric metric,
                             const int64_t *labels, const float *distances,
                             double rel, size_t *ties = nullptr);

// One FAISS Lloyd step in float64 from centroids c (k * d), given the
// assignment labels (n): weighted means, the first k_frozen untouched,
// FAISS's empty-cluster split (mt19937(1234)), then spherical / int
// post-processing. Returns the new centroids and writes nsplit.
std::vector<double> ref_lloyd_step(const float *x, size_t n, size_t d,
                                   const float *c, size_t k,
                                   const int64_t *labels, const float *weights,
                                   size_t k_frozen, int spherical,
                                   int int_centroids, int *nsplit);

// FAISS's rand_perm(n, seed) first `count` entries (std::mt19937, Fisher-
// Yates with rand_int(max) = mt() % max), written independently of flashkm.
std::vector<int64_t> faiss_rand_perm_prefix(size_t n, int64_t seed,
                                            size_t count);

// max |a - b| / max |b| over all elements (0 when b is all zero and a == b).
double max_rel_diff(const float *a, const double *b, size_t count);
double max_rel_diff(const float *a, const float *b, size_t count);

}  // namespace fkmtest
#endif
