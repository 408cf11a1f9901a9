// test_gpu_precision.cpp — reduced-precision assignment (tf32, fp16, bf16;
// labels and distances within their rounding bounds),
// large shapes (K = 65536, d = 2048), fp32's split products at any scale, and
// fp32's certified fp16 search (k d >= 16384) against the reference and on exact ties.
#include "test_gpu_support.h"

using namespace fkmtest;

namespace {

const flashkm_precision kReduced[] = {FLASHKM_PRECISION_TF32, FLASHKM_PRECISION_FP16,
                                      FLASHKM_PRECISION_BF16};
// A product's relative error bound: two roundings to 2^-11 (bf16 2^-8) per
// product, fp32 sums over d.
double product_rel(flashkm_precision prec, size_t d) {
    const double u = prec == FLASHKM_PRECISION_BF16 ? 0x1p-8 : 0x1p-11;
    return 2 * (2 * u + (double)d * 0x1p-23);
}
AssignResult assign_in(flashkm_precision prec, flashkm_metric m, size_t n, size_t d, size_t k,
                       const std::vector<float> &x, const std::vector<float> &c) {
    flashkm_params p = gpu_params(prec);
    p.metric = m;
    return run_assign(p, n, d, k, x.data(), c.data());
}

TEST(GpuPrecision, ReducedPrecisionObjectiveWithin1e3OfFp32) {
    FKM_REQUIRE_GPU();
    const size_t n = 30011, d = 64, k = 101;
    std::vector<float> x = mixture(n, d, k, 9);
    flashkm_params p = gpu_params();
    p.niter = 12;
    TrainResult ref = run_train(p, n, d, k, x.data());
    ASSERT_EQ(ref.status, FLASHKM_OK) << ref.error;
    for (flashkm_precision prec :
         {FLASHKM_PRECISION_TF32, FLASHKM_PRECISION_FP16, FLASHKM_PRECISION_BF16}) {
        SCOPED_TRACE("precision " + std::to_string((int)prec));
        p.precision = prec;
        TrainResult r = run_train(p, n, d, k, x.data());
        ASSERT_EQ(r.status, FLASHKM_OK) << r.error;
        EXPECT_TRUE(r.centroids.all_written());
        EXPECT_TRUE(r.labels.all_written());
        EXPECT_NEAR(r.objective, ref.objective, 1e-3 * std::fabs(ref.objective));
    }
}

// tf32, fp16 and bf16 assignment, one rounded product per pair (on an
// H100/H200, k = 333: fp16 and bf16 at d = 40 and 128 on assign_cres.cu,
// the 2 slices of centroids in one block, 1 and 2 chunks of halves; tf32
// there on assign_wide.cu, rows resident (2 and 4 chunks); rows streamed
// at d = 200, four chunks of halves (the warpgroups taking turns), seven of
// tf32, and at 1000; d = 5 and 12 the small-d kernel (one and two tf32
// k-steps, one of halves), d = 8 and 16 its rows read whole (the width of
// its fragments), the last unit cut short; N = 40001 at d = 128: 313 tiles
// of 128 rows, several per cluster): every label is a centroid whose
// float64 distance is within the precision's rounding bound of the best,
// every distance within that bound of the label's own, with N and K not
// multiples of any tile, both metrics, every output written.
TEST(GpuPrecision, ReducedPrecisionAssignWithinItsRoundingBound) {
    FKM_REQUIRE_GPU();
    const size_t k = 333;
    const std::pair<size_t, size_t> shapes[] = {{9001, 5},    {9001, 8},   {9001, 12},
                                                {9001, 16},   {9001, 40},  {9001, 128},
                                                {9001, 200},  {9001, 1000}, {40001, 128}};
    for (auto [n, d] : shapes) {
        std::vector<float> x = mixture(n, d, k / 3, 70 + d + n);
        std::vector<float> c(x.begin() + 11 * d, x.begin() + (11 + k) * d);
        double cmax = 0;
        for (size_t j = 0; j < k; j++) {
            double s = 0;
            for (size_t e = 0; e < d; e++) s += (double)c[j * d + e] * c[j * d + e];
            cmax = std::max(cmax, std::sqrt(s));
        }
        for (flashkm_metric m : {FLASHKM_METRIC_L2, FLASHKM_METRIC_INNER_PRODUCT}) {
            RefAssignment ref = ref_assign(x.data(), n, d, c.data(), k, m);
            for (flashkm_precision prec : kReduced) {
                const double rel = product_rel(prec, d);
                SCOPED_TRACE("n " + std::to_string(n) + " d " + std::to_string(d) + " precision " +
                             std::to_string((int)prec) + " metric " + std::to_string((int)m));
                AssignResult r = assign_in(prec, m, n, d, k, x, c);
                ASSERT_EQ(r.status, FLASHKM_OK) << r.error;
                ASSERT_TRUE(r.labels.all_written());
                ASSERT_TRUE(r.distances.all_written());
                size_t bad = 0, first = n;
                for (size_t i = 0; i < n; i++) {
                    const int64_t l = r.labels.v[i];
                    if (l < 0 || (size_t)l >= k) { bad++; first = std::min(first, i); continue; }
                    double xx = 0, xc = 0, cc = 0;
                    for (size_t e = 0; e < d; e++) {
                        const double xv = x[i * d + e], cv = c[(size_t)l * d + e];
                        xx += xv * xv; xc += xv * cv; cc += cv * cv;
                    }
                    const double dl = m == FLASHKM_METRIC_L2 ? xx + cc - 2 * xc : xc;
                    const double tol = rel * std::sqrt(xx) * cmax * (m == FLASHKM_METRIC_L2 ? 2 : 1);
                    const bool label_ok = m == FLASHKM_METRIC_L2 ? dl <= ref.best[i] + 2 * tol
                                                                 : dl >= ref.best[i] - 2 * tol;
                    const bool dist_ok = std::fabs(r.distances.v[i] - dl) <= tol + 1e-5 * xx;
                    if (!label_ok || !dist_ok) { bad++; first = std::min(first, i); }
                }
                EXPECT_EQ(bad, 0u) << "first at point " << first << ": label "
                                   << (first < n ? r.labels.v[first] : -1) << ", reference "
                                   << (first < n ? ref.labels[first] : -1);
            }
        }
    }
}

TEST(GpuPrecision, Fp16ScalesLargeValuesInsteadOfOverflowing) {
    FKM_REQUIRE_GPU();
    const size_t n = 5001, d = 16, k = 20;
    std::vector<float> x = mixture(n, d, k, 2);
    for (float &v : x) v *= 1e5f; // far beyond fp16's 65504
    flashkm_params p = gpu_params();
    TrainResult ref = run_train(p, n, d, k, x.data());
    p.precision = FLASHKM_PRECISION_FP16;
    TrainResult r = run_train(p, n, d, k, x.data());
    ASSERT_EQ(r.status, FLASHKM_OK) << r.error;
    EXPECT_TRUE(std::isfinite(r.objective));
    EXPECT_NEAR(r.objective, ref.objective, 1e-3 * std::fabs(ref.objective));
}

// The packed fold's offset (assign_pack.cu) at the edges of its range:
// one centroid 10^3 or one point 10^4 times the size of the rest (the
// offset follows the largest |x| |c|, and its resolution fell far below
// the operands' rounding at every other row: at d = 8 nearly every label
// was wrong), and every value 10^10 (|x| |c| past 1.8e19, where |x|^2
// |c|^2 overflows fp32). Each label must be as good as the rounding of its
// own pairs allows, within rel |x| (|c_label| + |c_best|) of the float64
// best, in the small-d kernel (d = 8, 16), the centroid-resident one
// (fp16/bf16, d = 64, 128) and the 256-column one (tf32).
TEST(GpuPrecision, ReducedPrecisionAssignsBesideFarOutliersAndHugeNorms) {
    FKM_REQUIRE_GPU();
    const std::pair<size_t, size_t> shapes[] = {{8, 256}, {16, 300}, {64, 300}, {128, 1024}};
    const size_t n = 4001;
    for (auto [d, k] : shapes) {
        for (int variant = 0; variant < 3; variant++) {
            std::vector<float> x = mixture(n, d, k / 4, 90 + d);
            std::vector<float> c(x.begin() + 7 * d, x.begin() + (7 + k) * d);
            if (variant == 0) /* fp16's range still holds it, the data's scale being 1 */
                for (size_t e = 0; e < d; e++) c[5 * d + e] *= 1e3f;
            else if (variant == 1)
                for (size_t e = 0; e < d; e++) x[1234 * d + e] *= 1e4f;
            else
                for (std::vector<float> *v : {&x, &c})
                    for (float &e : *v) e *= 1e10f;
            std::vector<double> cn(k);
            for (size_t j = 0; j < k; j++) {
                double s = 0;
                for (size_t e = 0; e < d; e++) s += (double)c[j * d + e] * c[j * d + e];
                cn[j] = std::sqrt(s);
            }
            for (flashkm_metric m : {FLASHKM_METRIC_L2, FLASHKM_METRIC_INNER_PRODUCT}) {
                RefAssignment ref = ref_assign(x.data(), n, d, c.data(), k, m);
                for (flashkm_precision prec : kReduced) {
                    const double rel = product_rel(prec, d);
                    SCOPED_TRACE("d " + std::to_string(d) + " k " + std::to_string(k) +
                                 (variant == 0   ? " far centroid"
                                  : variant == 1 ? " far point"
                                                 : " x 1e10") +
                                 " precision " +
                                 std::to_string((int)prec) + " metric " + std::to_string((int)m));
                    AssignResult r = assign_in(prec, m, n, d, k, x, c);
                    ASSERT_EQ(r.status, FLASHKM_OK) << r.error;
                    ASSERT_TRUE(r.labels.all_written());
                    size_t bad = 0, first = n;
                    for (size_t i = 0; i < n; i++) {
                        const int64_t l = r.labels.v[i];
                        if (l < 0 || (size_t)l >= k) { bad++; first = std::min(first, i); continue; }
                        double xx = 0, xc = 0;
                        for (size_t e = 0; e < d; e++) {
                            xx += (double)x[i * d + e] * x[i * d + e];
                            xc += (double)x[i * d + e] * c[(size_t)l * d + e];
                        }
                        const double dl = m == FLASHKM_METRIC_L2 ? xx + cn[l] * cn[l] - 2 * xc : xc;
                        const double tol = rel * std::sqrt(xx) * (cn[l] + cn[ref.labels[i]]) *
                                           (m == FLASHKM_METRIC_L2 ? 2 : 1);
                        const bool ok = m == FLASHKM_METRIC_L2
                                            ? dl <= ref.best[i] + tol + 1e-5 * xx
                                            : dl >= ref.best[i] - tol;
                        if (!ok) { bad++; first = std::min(first, i); }
                    }
                    EXPECT_EQ(bad, 0u) << "first at point " << first << ": label "
                                       << (first < n ? r.labels.v[first] : -1) << ", reference "
                                       << (first < n ? ref.labels[first] : -1);
                }
            }
        }
    }
}

TEST(GpuPrecision, K65536AssignsAsTheCpuEngine) {
    FKM_REQUIRE_GPU();
    const size_t n = 70001, d = 8, k = 65536;
    std::vector<float> x = mixture(n, d, 4096, 17);
    std::vector<float> c(x.begin(), x.begin() + k * d);
    AssignResult g = run_assign(gpu_params(), n, d, k, x.data(), c.data());
    AssignResult cp = run_assign(cpu_params(), n, d, k, x.data(), c.data());
    ASSERT_EQ(g.status, FLASHKM_OK) << g.error;
    ASSERT_EQ(cp.status, FLASHKM_OK) << cp.error;
    ASSERT_TRUE(g.labels.all_written());
    size_t diff = 0;
    for (size_t i = 0; i < n; i++) {
        if (g.labels.v[i] != cp.labels.v[i]) {
            diff++;
            // a flip is a near-tie: both distances equal to rounding
            EXPECT_NEAR(g.distances.v[i], cp.distances.v[i],
                        1e-5 * (std::fabs(cp.distances.v[i]) + 1));
        }
    }
    EXPECT_LE(diff, n / 1000);
}

TEST(GpuPrecision, D2048AssignMatchesReference) {
    FKM_REQUIRE_GPU();
    const size_t n = 3001, d = 2048, k = 77;
    std::vector<float> x = mixture(n, d, k, 23);
    std::vector<float> c(x.begin() + 17 * d, x.begin() + (17 + k) * d);
    AssignResult r = run_assign(gpu_params(), n, d, k, x.data(), c.data());
    ASSERT_EQ(r.status, FLASHKM_OK) << r.error;
    RefAssignment ref = ref_assign(x.data(), n, d, c.data(), k, FLASHKM_METRIC_L2);
    EXPECT_EQ(check_assignment(ref, x.data(), d, c.data(), FLASHKM_METRIC_L2, r.labels.v.data(),
                               r.distances.v.data(), 1e-5),
              "");
}

// The ranges both fp32 tests run: tiny and huge magnitudes, one outlier,
// rows near the origin among ordinary ones (variant 0 .. 3).
const char *const kRangeNames[] = {"x 1e-15", "x 1e12", "one outlier x 1e4",
                                   "every 7th row x 1e-5"};
void apply_range(std::vector<float> &x, size_t n, size_t d, int variant) {
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) {
            float &v = x[i * d + j];
            if (variant == 0) v *= 1e-15f;
            if (variant == 1) v *= 1e12f;
            if (variant == 2 && i == n - 1) v *= 1e4f;
            if (variant == 3 && i % 7 == 0) v *= 1e-5f;
        }
}

// fp32 on the GPU assigns as the float64 reference: every output written,
// labels equal except at near-ties, distances within 1e-5.
void gpu_assign_as_reference(const std::vector<float> &x, size_t n, size_t d,
                             const std::vector<float> &c, size_t k, flashkm_metric m,
                             AssignResult *out) {
    flashkm_params p = gpu_params();
    p.metric = m;
    *out = run_assign(p, n, d, k, x.data(), c.data());
    ASSERT_EQ(out->status, FLASHKM_OK) << out->error;
    ASSERT_TRUE(out->labels.all_written());
    ASSERT_TRUE(out->distances.all_written());
    RefAssignment ref = ref_assign(x.data(), n, d, c.data(), k, m);
    EXPECT_EQ(check_assignment(ref, x.data(), d, c.data(), m, out->labels.v.data(),
                               out->distances.v.data(), 1e-5),
              "");
}

// fp32 precision runs split fp16 products on power-of-two scaled copies,
// or 3xTF32 where the data's range is too wide for fp16 halves (exponent
// out of range, nonzero rows far below the largest value): either way the
// float64 reference's assignment, at any magnitude, with outliers.
TEST(GpuPrecision, Fp32AssignAtAnyScaleAndRange) {
    FKM_REQUIRE_GPU();
    const size_t n = 4001, k = 45;
    for (size_t d : {37, 11}) // 11: the small-d kernel's 3xTF32
    for (int variant = 0; variant < 4; variant++) {
        SCOPED_TRACE(std::string(kRangeNames[variant]) + " d " + std::to_string(d));
        std::vector<float> x = mixture(n, d, k, 31 + variant);
        apply_range(x, n, d, variant);
        std::vector<float> c(x.begin() + 13 * d, x.begin() + (13 + k) * d);
        for (flashkm_metric m : {FLASHKM_METRIC_L2, FLASHKM_METRIC_INNER_PRODUCT}) {
            AssignResult r;
            gpu_assign_as_reference(x, n, d, c, k, m, &r);
            if (HasFatalFailure()) return;
        }
    }
}

// Where k d >= 16384, fp32 precision searches with one fp16 product per pair and
// re-checks with split products every row whose best and second-best values
// lie within the search's rounding bound (assign_certify.cu). The same
// float64 check at every scale and range, resident and streamed point rows
// (d = 37, 300), and exact ties: small integers, duplicated centroids, where
// every product is exact and the lower index must win as on the CPU.
TEST(GpuPrecision, Fp32CertifiedSearchAsReferenceAndTiesAsCpu) {
    FKM_REQUIRE_GPU();
    const size_t n = 5003, k = 300;
    // variants: -1 the plain mixture, 0 .. 3 the ranges above, 4 integer ties
    for (size_t d : {37, 300}) {
        for (int variant = -1; variant < 5; variant++) {
            SCOPED_TRACE(std::string(variant < 0    ? "mixture"
                                     : variant < 4 ? kRangeNames[variant]
                                                   : "integer ties") +
                         " d=" + std::to_string(d));
            std::vector<float> x = mixture(n, d, k / 2, 42 + variant);
            if (variant >= 0 && variant < 4) apply_range(x, n, d, variant);
            if (variant == 4)
                for (size_t i = 0; i < n; i++)
                    for (size_t j = 0; j < d; j++)
                        x[i * d + j] = (float)((i * 7 + j * 3 + (i / 3) * j) % 3);
            std::vector<float> c(x.begin() + 13 * d, x.begin() + (13 + k) * d);
            if (variant == 4) /* duplicated centroids: exact ties */
                std::copy(c.begin(), c.begin() + 50 * d, c.begin() + 100 * d);
            for (flashkm_metric m : {FLASHKM_METRIC_L2, FLASHKM_METRIC_INNER_PRODUCT}) {
                AssignResult r;
                gpu_assign_as_reference(x, n, d, c, k, m, &r);
                if (HasFatalFailure()) return;
                if (variant != 4) continue;
                flashkm_params pc = cpu_params();
                pc.metric = m;
                AssignResult rc = run_assign(pc, n, d, k, x.data(), c.data());
                ASSERT_EQ(rc.status, FLASHKM_OK) << rc.error;
                size_t differ = 0;
                for (size_t i = 0; i < n; i++) differ += r.labels.v[i] != rc.labels.v[i];
                EXPECT_EQ(differ, 0u);
            }
        }
    }
}

// The reduced precisions break exact ties to the lower index too. Small
// integers make every product and sum exact in tf32, fp16 and bf16 (and
// in the CPU engine), and duplicated centroids make exact ties (centroid
// j + 100 repeats j, j < 50). On an H100/H200, k >= 256 with 16-byte rows:
// tf32 on assign_wide.cu's one-pass fold (d = 64 and 128 its resident
// rows, 264 its streamed ones); fp16 and bf16 on assign_cres.cu where the
// centroids fit (one block at k = 300; two, whose halves meet per row, at
// d = 128 with k = 700 (3 slices of 256: 2 and 1) and 1024, and at d = 64
// with k = 1500), else on assign_wide.cu (d = 264).
TEST(GpuPrecision, ReducedPrecisionTiesGoToTheLowerIndex) {
    FKM_REQUIRE_GPU();
    const size_t n = 5003;
    // d = 8 and 16: the small-d kernel (k = 300: two tiles of centroids)
    const std::pair<size_t, size_t> shapes[] = {{8, 300},   {16, 200},   {64, 300},
                                                {128, 300}, {264, 300},  {128, 700},
                                                {128, 1024}, {64, 1500}};
    for (auto [d, k] : shapes) {
        std::vector<float> x(n * d);
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < d; j++)
                x[i * d + j] = (float)((i * 7 + j * 3 + (i / 3) * j) % 3);
        std::vector<float> c(x.begin() + 13 * d, x.begin() + (13 + k) * d);
        std::copy(c.begin(), c.begin() + 50 * d, c.begin() + 100 * d);
        for (flashkm_metric m : {FLASHKM_METRIC_L2, FLASHKM_METRIC_INNER_PRODUCT}) {
            flashkm_params pc = cpu_params();
            pc.metric = m;
            AssignResult rc = run_assign(pc, n, d, k, x.data(), c.data());
            ASSERT_EQ(rc.status, FLASHKM_OK) << rc.error;
            for (flashkm_precision prec :
                 {FLASHKM_PRECISION_TF32, FLASHKM_PRECISION_FP16, FLASHKM_PRECISION_BF16}) {
                SCOPED_TRACE("d=" + std::to_string(d) + " k=" + std::to_string(k) + " precision " +
                             std::to_string(prec));
                flashkm_params pg = gpu_params(prec);
                pg.metric = m;
                AssignResult r = run_assign(pg, n, d, k, x.data(), c.data());
                ASSERT_EQ(r.status, FLASHKM_OK) << r.error;
                ASSERT_TRUE(r.labels.all_written());
                size_t differ = 0;
                for (size_t i = 0; i < n; i++) differ += r.labels.v[i] != rc.labels.v[i];
                EXPECT_EQ(differ, 0u);
            }
        }
    }
}

}  // namespace
