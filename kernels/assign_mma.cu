/* assign_mma.cu — FlashAssign: every point's nearest centroid (squared L2)
 * or largest inner product, on the tensor cores, without ever writing the
 * N x K distance matrix.
 *
 * A block takes 128 points of one problem and walks all K centroids in
 * tiles of 128 (64 in fp32 precision), d in chunks: the usual kernel is a
 * 3-stage cp.async pipeline of 32-word chunks (32 floats or 64 halves);
 * where the block's 128 point rows fit in shared memory (rows of <= 512
 * bytes for the split kinds and fp16/bf16) they are loaded once and only
 * centroid tiles stream; rows that are not 16-byte aligned take a simpler
 * register-prefetch kernel. mma.sync (m16n8k8 tf32, m16n8k16 f16/bf16);
 * 8 warps = 4 (points) x 2 (centroids), each 32 x 64 (32 x 32 in fp32
 * precision, see below). Single-product kinds start their accumulators at
 * -|c|^2 s^2 / 2, so the fold after each centroid tile is a compare and
 * two selects per value into a running (value, index) best in registers;
 * the two warps sharing a point row meet in shared memory once at the end.
 *
 * fp32 precision uses split products (a = a_hi + a_lo; a.b ~ a_hi.b_hi +
 * a_hi.b_lo + a_lo.b_hi), which keeps about 21 bits of each product, close
 * to fp32's own rounding of the dot product: F16X3 reads hi and lo fp16
 * halves split once in global memory (gpu_upload.cu; 3 m16n8k16 f16 MMAs
 * per 16 dimensions), F32X3 (3xTF32) splits fp32 operands in the inner
 * loop (6 m16n8k8 tf32 MMAs per 16 dimensions) where F16X3 cannot be used.
 *
 * Ties go to the lower centroid index, as FAISS's search does. */
#include "assign_common.cuh"

#define ASG_BM 128
#define ASG_BN 128
#define ASG_KW 16  /* 32-bit words of a row per chunk */
#define ASG_LDW 20 /* padded row stride: conflict-free fragment loads */
#define ASG_THREADS 256

/* 8 words of row `row` starting at element e0 (zero beyond d / invalid). */
template <int EPW>
__device__ __forceinline__ void asg_gload(uint32_t r[8], const void *base,
                                          size_t row, bool valid, size_t e0,
                                          size_t d, int vec_ok) {
    const size_t need = 8 * EPW;
    if (EPW == 1) {
        const uint32_t *p = (const uint32_t *)base + row * d;
        if (valid && vec_ok && e0 + need <= d) {
            uint4 lo = __ldg((const uint4 *)(p + e0));
            uint4 hi = __ldg((const uint4 *)(p + e0 + 4));
            r[0] = lo.x; r[1] = lo.y; r[2] = lo.z; r[3] = lo.w;
            r[4] = hi.x; r[5] = hi.y; r[6] = hi.z; r[7] = hi.w;
            return;
        }
#pragma unroll
        for (int e = 0; e < 8; e++)
            r[e] = (valid && e0 + e < d) ? __ldg(p + e0 + e) : 0u;
    } else {
        const unsigned short *p = (const unsigned short *)base + row * d;
        if (valid && vec_ok && e0 + need <= d) {
            uint4 lo = __ldg((const uint4 *)(p + e0));
            uint4 hi = __ldg((const uint4 *)(p + e0 + 8));
            r[0] = lo.x; r[1] = lo.y; r[2] = lo.z; r[3] = lo.w;
            r[4] = hi.x; r[5] = hi.y; r[6] = hi.z; r[7] = hi.w;
            return;
        }
#pragma unroll
        for (int e = 0; e < 8; e++) {
            uint32_t v0 = (valid && e0 + 2 * e < d) ? __ldg(p + e0 + 2 * e) : 0u;
            uint32_t v1 = (valid && e0 + 2 * e + 1 < d) ? __ldg(p + e0 + 2 * e + 1) : 0u;
            r[e] = v0 | (v1 << 16);
        }
    }
}

__device__ __forceinline__ void ldsm_x4(uint32_t r[4], const uint32_t *p) {
    unsigned a = (unsigned)__cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
}


/* One k-step (8 words) of a warp's 32 x (16 NT) tile (A rows lda words
 * apart, B rows LDW). Fragment word
 * layout is the same for m16n8k8 tf32 and m16n8k16 16-bit types. F16X3:
 * the hi halves at words kw.., the lo halves 16 words further (a stage row
 * is [32 hi | 32 lo] elements). */
template <int KIND, int NT, int LDW>
__device__ __forceinline__ void asg_kstep(float acc[2][NT][4],
                                          const uint32_t *As,
                                          const uint32_t *Bs, int lda, int kw, int wm,
                                          int wn, int g, int t, bool first) {
    constexpr bool SPLIT = KIND == FKM_ASG_F16X3, TF = KIND == FKM_ASG_F32X3 || KIND == FKM_ASG_TF32;
    uint32_t a[2][4], al[2][4];
    const int lane = g * 4 + t;
#pragma unroll
    for (int mt = 0; mt < 2; mt++) {
        /* ldmatrix.x4: lanes 0-7 / 8-15 / 16-23 / 24-31 give the rows of
         * (rows 0-7, words 0-3) / (8-15, 0-3) / (0-7, 4-7) / (8-15, 4-7),
         * which land exactly as the m16n8k8 tf32 and m16n8k16 A fragments. */
        const uint32_t *ap = As + (wm * 32 + mt * 16 + (lane & 15)) * lda + kw + (lane >> 4) * 4;
        ldsm_x4(a[mt], ap);
        if (SPLIT) ldsm_x4(al[mt], ap + 16);
        if (TF) /* round to nearest (fkm_tf32) */
#pragma unroll
            for (int i = 0; i < 4; i++) asg_tf32_split<KIND>(a[mt][i], al[mt][i]);
    }
    uint32_t bq[NT][2], bql[NT][2];
#pragma unroll
    for (int np = 0; np < NT; np += 2) {
        /* two n-tiles per ldmatrix.x4: (tile np, words 0-3 / 4-7), then np+1 */
        const uint32_t *bp = Bs + (wn * NT * 8 + (np + (lane >> 4)) * 8 + (lane & 7)) * LDW +
                             kw + ((lane >> 3) & 1) * 4;
        uint32_t r[4];
        ldsm_x4(r, bp);
        bq[np][0] = r[0]; bq[np][1] = r[1]; bq[np + 1][0] = r[2]; bq[np + 1][1] = r[3];
        if (SPLIT) {
            ldsm_x4(r, bp + 16);
            bql[np][0] = r[0]; bql[np][1] = r[1]; bql[np + 1][0] = r[2]; bql[np + 1][1] = r[3];
        }
    }
    /* Split kinds: the three products of one accumulator depend on each
     * other, so they go in three rounds over all 2 x NT accumulators (each
     * accumulator still sums lo.hi, hi.lo, hi.hi in that order). */
    constexpr int ROUNDS = (SPLIT || KIND == FKM_ASG_F32X3) ? 3 : 1;
#pragma unroll
    for (int p = 0; p < ROUNDS; p++)
#pragma unroll
        for (int nt = 0; nt < NT; nt++) {
            if (TF && p == 0) /* B fragments to tf32 (hi, lo) just before use */
#pragma unroll
                for (int i = 0; i < 2; i++) asg_tf32_split<KIND>(bq[nt][i], bql[nt][i]);
#pragma unroll
            for (int mt = 0; mt < 2; mt++) {
                const uint32_t *af = ROUNDS == 3 && p == 0 ? al[mt] : a[mt];
                const uint32_t *bf = ROUNDS == 3 && p == 1 ? bql[nt] : bq[nt];
                asg_mma<KIND>(acc[mt][nt], af, bf, first && p == 0);
            }
        }
}

/* Single-product kinds (tf32, fp16, bf16): each tile's accumulators start
 * at -|c|^2 s^2 / 2 (0 for inner product, -inf for padded columns), so they
 * end at -v s^2 with v = |c|^2 / 2 - x.c, and the fold only compares. */
template <int NT>
__device__ __forceinline__ void asg_acc_init(const AsgArgs &A, size_t b, uint32_t n0,
                                             float acc[2][NT][4], float s2, int wn, int t) {
    const float *cn = A.cnorm + b * A.k;
    const uint32_t k = (uint32_t)A.k, cbase = (uint32_t)n0 + wn * NT * 8 + 2 * t;
    const float m = -0.5f * s2;
#pragma unroll
    for (int nt = 0; nt < NT; nt++)
#pragma unroll
        for (int j = 0; j < 2; j++) {
            const uint32_t col = cbase + nt * 8 + j;
            const float init = col < k ? (A.ip ? 0.f : m * __ldg(cn + col)) : -INFINITY;
#pragma unroll
            for (int mt = 0; mt < 2; mt++)
#pragma unroll
                for (int h = 0; h < 2; h++) acc[mt][nt][h * 2 + j] = init;
        }
}

/* ... and their fold: the running maxima of -v s^2 (ties: lower column);
 * TOP2 also the second largest value (sv: max(sv, min(v, best))). */
template <int NT, bool TOP2>
__device__ __forceinline__ void asg_fold_max(uint32_t n0, const float acc[2][NT][4], float bv[4],
                                             uint32_t bi[4], float sv[4], int wn, int t) {
    const uint32_t cbase = (uint32_t)n0 + wn * NT * 8 + 2 * t;
#pragma unroll
    for (int nt = 0; nt < NT; nt++)
#pragma unroll
        for (int j = 0; j < 2; j++)
#pragma unroll
            for (int mt = 0; mt < 2; mt++)
#pragma unroll
                for (int h = 0; h < 2; h++) {
                    const float v = acc[mt][nt][h * 2 + j];
                    const int r = mt * 2 + h;
                    if (TOP2) sv[r] = fmaxf(sv[r], fminf(v, bv[r]));
                    if (v > bv[r]) { bv[r] = v; bi[r] = cbase + nt * 8 + j; }
                }
}

/* Split kinds: fold one centroid tile's sums into the running minima. */
template <int KIND, int NT>
__device__ __forceinline__ void asg_fold(const AsgArgs &A, size_t b,
                                         uint32_t n0, float acc[2][NT][4],
                                         float bv[4], uint32_t bi[4],
                                         float inv_s2, int wn, int t) {
    const float *cn = A.cnorm + b * A.k;
    /* 32-bit columns, padded columns at +inf: no 64-bit index arithmetic
     * and no branch in the loop (the fold is the kernel's busiest ALU work) */
    const uint32_t k = (uint32_t)A.k, cbase = (uint32_t)n0 + wn * NT * 8 + 2 * t;
#pragma unroll
    for (int nt = 0; nt < NT; nt++) {
#pragma unroll
        for (int j = 0; j < 2; j++) {
            const uint32_t col = cbase + nt * 8 + j;
            /* v = |c|^2 / 2 - x.c (or -x.c): half of the distance less
             * |x|^2 / 2, exactly scaled, one FMA per value */
            const float cnh = col < k ? (A.ip ? 0.f : 0.5f * __ldg(cn + col)) : INFINITY;
            /* F16X3: each centroid has its own scale */
            const float inv = KIND != FKM_ASG_F16X3 ? inv_s2
                              : col < k ? __ldg(A.cinv + b * A.k + col) : 0.f;
#pragma unroll
            for (int mt = 0; mt < 2; mt++) {
#pragma unroll
                for (int h = 0; h < 2; h++) {
                    float v = fmaf(-acc[mt][nt][h * 2 + j], inv, cnh);
                    int r = mt * 2 + h;
                    if (v < bv[r]) { bv[r] = v; bi[r] = col; }
                }
            }
        }
    }
}

/* The 4 lanes of a group, then the two warps sharing the rows, meet; the
 * winner of each point row is written (asg_write_row). List mode (A.list):
 * block rows are listed rows. */
template <int KIND>
__device__ __forceinline__ void asg_finish(const AsgArgs &A, size_t b, size_t p0, uint32_t cnt,
                                           bool listed, float bv[4], uint32_t bi[4], float sv[4],
                                           float *red_v, uint32_t *red_i, float *red_s,
                                           int wm, int wn, int g, int t) {
    constexpr bool TOP2 = KIND == FKM_ASG_F16HI;
#pragma unroll
    for (int r = 0; r < 4; r++) asg_quad_reduce<TOP2>(bv[r], bi[r], sv[r]);
    /* Then the two warps (wn = 0, 1) that share the rows. */
    const int row_of[4] = {0, 8, 16, 24};
    if (wn == 1 && t == 0) {
#pragma unroll
        for (int r = 0; r < 4; r++) {
            int row = wm * 32 + row_of[r] + g; /* mt*16 + h*8 + g */
            red_v[row] = bv[r];
            red_i[row] = bi[r];
            if (TOP2) red_s[row] = sv[r];
        }
    }
    __syncthreads();
    if (wn == 0 && t == 0) {
#pragma unroll
        for (int r = 0; r < 4; r++) {
            int row = wm * 32 + row_of[r] + g;
            float v = bv[r], v2 = sv[r];
            uint32_t i = bi[r];
            const bool other = asg_better(red_v[row], red_i[row], v, i);
            if (TOP2) v2 = fminf(fminf(v2, red_s[row]), other ? v : red_v[row]);
            if (other) { v = red_v[row]; i = red_i[row]; }
            const size_t q = p0 + row;
            if (q >= cnt) continue;
            const size_t p = KIND == FKM_ASG_F16X3 && listed ? A.list[b * A.n + q] : q;
            asg_write_row<TOP2>(A, b, p, v, v2, i);
        }
    }
}

/* The split kinds restart the MMA accumulators at every stage (see below). */
template <int KIND>
struct AsgKind {
    static constexpr bool EXACT = KIND == FKM_ASG_F32X3 || KIND == FKM_ASG_F16X3;
    static constexpr int EPW = (KIND == FKM_ASG_F32X3 || KIND == FKM_ASG_TF32) ? 1 : 2;
    static constexpr bool TOP2 = KIND == FKM_ASG_F16HI;
    /* only F16X3 re-checks listed rows; only F16HI reads a wider x row */
    static constexpr bool LISTED = KIND == FKM_ASG_F16X3;
    static constexpr bool XWIDE = KIND == FKM_ASG_F16HI;
    static constexpr int NT = EXACT ? 4 : 8;
    /* accumulators start at -|c|^2 s^2 / 2, fold by compare (asg_acc_init) */
    static constexpr bool MAXFOLD = !EXACT;
};

/* One stage of KW words of the current tiles: its MMAs (EXACT: into a fresh
 * partial, added to tot with rounded adds), then the fold after the last
 * chunk of d. F16X3's stage rows hold KW / 2 words of hi, then of lo. */
template <int KIND, int NT, int LDW, int KW>
__device__ __forceinline__ void asg_step(const AsgArgs &A, float acc[2][NT][4],
                                         float tot[2][NT][4], const uint32_t *As, int lda,
                                         const uint32_t *Bs, uint32_t kc, uint32_t kchunks,
                                         size_t b, uint32_t n0, float bv[4], uint32_t bi[4],
                                         float sv[4], float s2, float inv_s2, int wm, int wn,
                                         int g, int t) {
    constexpr bool EXACT = AsgKind<KIND>::EXACT;
    constexpr int KSTEPS = KIND == FKM_ASG_F16X3 ? KW / 2 : KW;
    constexpr bool MAXFOLD = AsgKind<KIND>::MAXFOLD;
    if (kc == 0) {
        if (MAXFOLD) {
            asg_acc_init<NT>(A, b, n0, acc, s2, wn, t);
        } else {
#pragma unroll
            for (int mt = 0; mt < 2; mt++)
#pragma unroll
                for (int nt = 0; nt < NT; nt++)
#pragma unroll
                    for (int i = 0; i < 4; i++) (EXACT ? tot : acc)[mt][nt][i] = 0.f;
        }
    }
    /* EXACT: each stage's first MMAs start from zero */
#pragma unroll
    for (int kw = 0; kw < KSTEPS; kw += 8)
        asg_kstep<KIND, NT, LDW>(acc, As, Bs, lda, kw, wm, wn, g, t, EXACT && kw == 0);
    if (EXACT) {
#pragma unroll
        for (int mt = 0; mt < 2; mt++)
#pragma unroll
            for (int nt = 0; nt < NT; nt++)
#pragma unroll
                for (int i = 0; i < 4; i++) tot[mt][nt][i] += acc[mt][nt][i];
    }
    if (kc == kchunks - 1) {
        if (MAXFOLD) asg_fold_max<NT, AsgKind<KIND>::TOP2>(n0, acc, bv, bi, sv, wn, t);
        else asg_fold<KIND, NT>(A, b, n0, EXACT ? tot : acc, bv, bi, inv_s2, wn, t);
    }
}

/* Running best of a row before the kernel's first tile; and after the last,
 * back to v = |c|^2 / 2 - x.c for asg_finish. */
template <int KIND>
__device__ __forceinline__ void asg_best_init(float bv[4], uint32_t bi[4], float sv[4]) {
#pragma unroll
    for (int r = 0; r < 4; r++) {
        bv[r] = sv[r] = AsgKind<KIND>::MAXFOLD ? -INFINITY : INFINITY;
        bi[r] = 0xffffffffu;
    }
}
template <int KIND>
__device__ __forceinline__ void asg_best_done(float bv[4], float sv[4], float inv_s2) {
    if (AsgKind<KIND>::MAXFOLD)
#pragma unroll
        for (int r = 0; r < 4; r++) {
            bv[r] = -bv[r] * inv_s2;
            sv[r] = -sv[r] * inv_s2;
        }
}

/* The kinds whose small-d and wgmma kernels fold packed values
 * (assign_pack.cu), and so may need these kernels' help (launch_kind). */
template <int KIND>
constexpr bool asg_packs() {
    return KIND == FKM_ASG_TF32 || KIND == FKM_ASG_F16 || KIND == FKM_ASG_BF16;
}

/* The tensor cores' fp32 accumulation truncates (it does not round to
 * nearest), a bias that grows with d. fp32 precision therefore restarts the
 * MMA accumulators at every stage (16 dimensions here, 32 in the cp.async
 * kernel) and adds each stage's partial into a second set of registers with
 * ordinary rounded adds, on a 32 x 32 warp tile (NT = 4) so both sets fit. */
template <int KIND>
__device__ __forceinline__ void asg_sync_block(const AsgArgs &A, size_t blk) {
    constexpr int EPW = AsgKind<KIND>::EPW, NT = AsgKind<KIND>::NT, BN = 16 * NT;
    __shared__ __align__(16) uint32_t As[ASG_BM * ASG_LDW];
    __shared__ __align__(16) uint32_t Bs[ASG_BN * ASG_LDW];
    __shared__ float red_v[ASG_BM], red_s[ASG_BM];
    __shared__ uint32_t red_i[ASG_BM];

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int g = lane >> 2, t = lane & 3, wm = warp & 3, wn = warp >> 2;
    const size_t b = blk / A.tiles;
    const size_t p0 = (size_t)(blk % A.tiles) * ASG_BM;
    const size_t elem = EPW == 2 ? 2 : 4;
    const char *xb = (const char *)A.x + b * A.n * A.d * elem;
    const char *cb = (const char *)A.c + b * A.k * A.d * elem;
    const float s = A.scale[b], s2 = s * s, inv_s2 = 1.f / s2;

    const int lrow = tid >> 1;                  /* row this thread loads */
    const size_t le = (size_t)(tid & 1) * 8 * EPW; /* its element offset */
    const size_t chunk = (size_t)ASG_KW * EPW;  /* elements per chunk */
    const size_t kchunks = (A.d + chunk - 1) / chunk;
    const size_t ntiles = (A.k + BN - 1) / BN;
    const size_t steps = kchunks * ntiles;

    float bv[4], sv[4];
    uint32_t bi[4];
    asg_best_init<KIND>(bv, bi, sv);
    float acc[2][NT][4], tot[2][NT][4];
    uint32_t ra[8], rb[8];
    const bool arow_ok = p0 + lrow < A.n;
    asg_gload<EPW>(ra, xb, p0 + lrow, arow_ok, le, A.d, A.vec_ok);
    asg_gload<EPW>(rb, cb, lrow, lrow < BN && (size_t)lrow < A.k, le, A.d, A.vec_ok);

    for (size_t st = 0; st < steps; st++) {
        const size_t kc = st % kchunks, n0 = (st / kchunks) * BN;
        __syncthreads();
        uint4 *as4 = (uint4 *)(As + lrow * ASG_LDW + (tid & 1) * 8);
        uint4 *bs4 = (uint4 *)(Bs + lrow * ASG_LDW + (tid & 1) * 8);
        as4[0] = make_uint4(ra[0], ra[1], ra[2], ra[3]);
        as4[1] = make_uint4(ra[4], ra[5], ra[6], ra[7]);
        if (lrow < BN) {
            bs4[0] = make_uint4(rb[0], rb[1], rb[2], rb[3]);
            bs4[1] = make_uint4(rb[4], rb[5], rb[6], rb[7]);
        }
        __syncthreads();
        if (st + 1 < steps) { /* next step's tiles, in flight during the MMAs */
            const size_t kn = (st + 1) % kchunks, nn = ((st + 1) / kchunks) * BN;
            asg_gload<EPW>(ra, xb, p0 + lrow, arow_ok, kn * chunk + le, A.d, A.vec_ok);
            asg_gload<EPW>(rb, cb, nn + lrow, lrow < BN && nn + lrow < A.k, kn * chunk + le,
                           A.d, A.vec_ok);
        }
        asg_step<KIND, NT, ASG_LDW, ASG_KW>(A, acc, tot, As, ASG_LDW, Bs, kc, kchunks, b, n0, bv,
                                            bi, sv, s2, inv_s2, wm, wn, g, t);
    }

    asg_best_done<KIND>(bv, sv, inv_s2);
    asg_finish<KIND>(A, b, p0, (uint32_t)A.n, false, bv, bi, sv, red_v, red_i, red_s, wm, wn, g,
                     t);
}
/* A block a (problem, point tile); or, for the packing kinds' fallback
 * (launch_kind), A.walk blocks a problem that walk its tiles where its
 * pack_coarse is set and else return at once. The other kinds do without
 * the loop, whose registers F16X3's resident kernel could not spare. */
template <int KIND, typename Block>
__device__ __forceinline__ void asg_blocks(const AsgArgs &A, Block block) {
    if constexpr (!asg_packs<KIND>()) {
        block(blockIdx.x);
    } else { /* one loop, so that the block's code is inlined once */
        size_t blk = blockIdx.x, step = 1, end = blk + 1;
        if (A.walk) {
            const size_t b = blockIdx.x / A.walk;
            if (!__ldg(A.pack_coarse + b)) return;
            blk = b * A.tiles + blockIdx.x % A.walk;
            step = A.walk;
            end = (b + 1) * A.tiles;
        }
        for (; blk < end; blk += step) {
            block(blk);
            __syncthreads(); /* its shared memory is the next tile's */
        }
    }
}
template <int KIND>
__global__ void __launch_bounds__(ASG_THREADS, 2) assign_mma_kernel(const AsgArgs A) {
    asg_blocks<KIND>(A, [&](size_t blk) { asg_sync_block<KIND>(A, blk); });
}

/* The same computation with a STAGES-deep cp.async pipeline (rows 16-byte
 * aligned: d * element size a multiple of 16): tiles go from global memory
 * straight to shared memory, several steps ahead, one barrier per step. */
#define ASG_STAGES 3
/* Stages of the resident-rows kernel (only centroid tiles stream), per
 * kind: split kinds, tf32 (whose 512-byte rows leave room for 2 at most),
 * fp16/bf16. */
#ifndef ASG_RES_STAGES_X
#define ASG_RES_STAGES_X 3
#endif
#ifndef ASG_RES_STAGES_T
#define ASG_RES_STAGES_T 2
#endif
#ifndef ASG_RES_STAGES_H
#define ASG_RES_STAGES_H 3
#endif
template <int KIND>
constexpr int asg_res_stages() {
    return AsgKind<KIND>::EXACT ? ASG_RES_STAGES_X
           : KIND == FKM_ASG_TF32 ? ASG_RES_STAGES_T : ASG_RES_STAGES_H;
}
#define ASG_KW_A 32  /* words per row per stage: 4 k-steps per barrier */
#define ASG_LDW_A 36 /* padded: conflict-free ldmatrix */
#define ASG_STAGE_WORDS ((ASG_BM + ASG_BN) * ASG_LDW_A)

/* 64 bytes (16 words) of a row from element e0: four 16-byte copies,
 * zero-filled past d or for rows out of range (rowp then any valid address). */
template <int EPW>
__device__ __forceinline__ void asg_async_piece(uint32_t *dst, const char *rowp, bool valid,
                                                uint32_t e0, uint32_t d) {
    constexpr uint32_t elem = EPW == 2 ? 2 : 4;
#pragma unroll
    for (int h = 0; h < 4; h++) {
        const uint32_t e = e0 + h * 4 * EPW; /* 16 bytes = 4 * EPW elements */
        const uint32_t left = valid && d > e ? (d - e) * elem : 0;
        const int bytes = left >= 16 ? 16 : (int)left;
        cp_async16(dst + h * 4, bytes > 0 ? rowp + e * elem : rowp, bytes);
    }
}

/* RES: the block's RES_BM point rows stay resident in shared memory
 * (loaded once, lda = 32 kchunks + 4 words apart) and only centroid tiles
 * stream through the stages; otherwise 128 rows, both streaming, d chunk
 * by d chunk. Resident rows cut the L2 -> SM traffic by the A share: per
 * iteration, point blocks x centroid tiles x (A + B tile) bytes; 256-row
 * blocks (16 warps, one block per SM) halve the B share again. */
#ifndef ASG_RES_BM
#define ASG_RES_BM 128
#endif
#define ASG_RES_THREADS (2 * ASG_RES_BM) /* two threads load a row */
template <int KIND, bool RES>
__device__ __forceinline__ void asg_async_block(const AsgArgs &A, size_t blk) {
    constexpr int EPW = AsgKind<KIND>::EPW, NT = AsgKind<KIND>::NT, BN = 16 * NT;
    constexpr int STAGES = RES ? asg_res_stages<KIND>() : ASG_STAGES;
    constexpr int BM = RES ? ASG_RES_BM : ASG_BM, WM = BM / 32; /* warps along points */
    extern __shared__ __align__(16) uint32_t smem[];
    __shared__ float red_v[BM], red_s[BM];
    __shared__ uint32_t red_i[BM];

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int g = lane >> 2, t = lane & 3, wm = warp % WM, wn = warp / WM;
    const size_t b = blk / A.tiles;
    const size_t p0 = (size_t)(blk % A.tiles) * BM;
    /* list mode: the block's rows are listed rows; none left: done */
    constexpr bool LISTED = AsgKind<KIND>::LISTED;
    uint32_t cnt = (uint32_t)A.n; /* a kernel parameter unless listed */
    bool listed = LISTED && A.list;
    if (listed) {
        cnt = __ldg(A.list_count + b);
        listed = !(A.cmax[b] < 0.f); /* search skipped: every row, in order */
        if (p0 >= cnt) return;
    }
    if (AsgKind<KIND>::TOP2 && A.cmax[b] < 0.f) return; /* skipped (assign_certify.cu) */
    const size_t elem = EPW == 2 ? 2 : 4;
    const char *cb = (const char *)A.c + b * A.k * A.d * elem;
    const float s = A.scale[b], s2 = s * s, inv_s2 = 1.f / s2;
    /* 32-bit step bookkeeping, advanced by increments (no 64-bit division
     * per step): steps = chunks of d x centroid tiles < 2^32 (d <= 4096,
     * k < 2^31 / 128 tiles); rows are addressed from row pointers. */
    const int lrow = tid >> 1;
    const uint32_t d = (uint32_t)A.d, k = (uint32_t)A.k;
    const uint32_t le = (uint32_t)(tid & 1) * 16 * EPW, chunk = ASG_KW_A * EPW;
    const uint32_t kchunks = (d + chunk - 1) / chunk, steps = kchunks * ((k + BN - 1) / BN);
    const size_t row_bytes = A.d * elem;
    constexpr bool XWIDE = AsgKind<KIND>::XWIDE;
    const size_t xrow_bytes = XWIDE ? A.xd * elem : row_bytes;
    const uint32_t xd = XWIDE ? (uint32_t)A.xd : d; /* elements of a point row */
    const char *xb = (const char *)A.x + b * A.n * xrow_bytes;
    const bool arow_ok = p0 + lrow < cnt;
    const size_t arow = !arow_ok ? 0 : listed ? A.list[b * A.n + p0 + lrow] : p0 + lrow;
    const char *xrow = xb + arow * xrow_bytes;
    /* where this thread's piece of chunk c starts in its point row: F16HI
     * takes the hi halves of F16X3's chunks 2c and 2c + 1 */
    auto a_e0 = [&](uint32_t c) {
        return KIND == FKM_ASG_F16HI ? (2 * c + (tid & 1)) * 64 : c * chunk + le;
    };
    const int lda = RES ? (int)kchunks * ASG_KW_A + 4 : ASG_LDW_A;
    /* stage st's tiles */
    constexpr uint32_t STAGE_WORDS = RES ? BN * ASG_LDW_A : ASG_STAGE_WORDS;
    uint32_t *const stages = RES ? smem + BM * lda : smem;
    auto a_tile = [&](uint32_t st) {
        return RES ? smem : stages + (st % STAGES) * STAGE_WORDS;
    };
    auto b_tile = [&](uint32_t st) {
        return stages + (st % STAGES) * STAGE_WORDS + (RES ? 0 : ASG_BM * ASG_LDW_A);
    };
    const uint32_t off = (uint32_t)lrow * ASG_LDW_A + (tid & 1) * 16;
    uint32_t ist = 0, ikc = 0, in0 = 0; /* the next step to issue: its chunk, tile */

    auto issue = [&]() {
        if (ist < steps) {
            const uint32_t e0 = ikc * chunk + le;
            if (!RES) asg_async_piece<EPW>(a_tile(ist) + off, xrow, arow_ok, a_e0(ikc), xd);
            if (lrow < BN) {
                const uint32_t c = in0 + lrow;
                asg_async_piece<EPW>(b_tile(ist) + off, c < k ? cb + (size_t)c * row_bytes : cb,
                                     c < k, e0, d);
            }
            if (++ikc == kchunks) { ikc = 0; in0 += BN; }
        }
        ist++;
        cp_async_commit(); /* always: keeps the group count uniform */
    };

    float bv[4], sv[4];
    uint32_t bi[4];
    asg_best_init<KIND>(bv, bi, sv);
    float acc[2][NT][4], tot[2][NT][4];
    if (RES) /* the whole point tile, in the first group */
        for (uint32_t c = 0; c < kchunks; c++)
            asg_async_piece<EPW>(smem + lrow * lda + c * ASG_KW_A + (tid & 1) * 16, xrow, arow_ok,
                                 a_e0(c), xd);
#pragma unroll
    for (int i = 0; i < STAGES - 1; i++) issue();

    uint32_t kc = 0, n0 = 0;
    for (uint32_t st = 0; st < steps; st++) {
        cp_async_wait<STAGES - 2>();
        __syncthreads(); /* step st has landed; step st - 1's stage is free */
        issue(); /* step st + STAGES - 1 */
        const uint32_t *As = a_tile(st) + (RES ? kc * ASG_KW_A : 0);
        asg_step<KIND, NT, ASG_LDW_A, ASG_KW_A>(A, acc, tot, As, lda, b_tile(st), kc, kchunks, b,
                                                n0, bv, bi, sv, s2, inv_s2, wm, wn, g, t);
        if (++kc == kchunks) { kc = 0; n0 += BN; }
    }
    cp_async_wait<0>();
    asg_best_done<KIND>(bv, sv, inv_s2);
    asg_finish<KIND>(A, b, p0, cnt, listed, bv, bi, sv, red_v, red_i, red_s, wm, wn, g, t);
}
template <int KIND, bool RES>
__global__ void __launch_bounds__(RES ? ASG_RES_THREADS : ASG_THREADS,
                                  RES && ASG_RES_BM > ASG_BM ? 1 : 2)
assign_mma_async_kernel(const AsgArgs A) {
    asg_blocks<KIND>(A, [&](size_t blk) { asg_async_block<KIND, RES>(A, blk); });
}

/* Dynamic shared memory of the cp.async kernel; the resident form when it
 * fits (128-row blocks: with room for two blocks per SM). */
#define ASG_RES_MAX_BYTES (ASG_RES_BM > ASG_BM ? (216u << 10) : (110u << 10))
/* A block per (problem, tile); with `walkers` > 0 (the fallback), that
 * many blocks for all problems, shared out per problem (asg_blocks). */
static unsigned asg_grid(AsgArgs &A, size_t batch, size_t walkers) {
    if (!walkers) {
        A.walk = 0;
        return (unsigned)(A.tiles * batch);
    }
    const size_t per = walkers / batch;
    A.walk = per < 1 ? 1 : per > A.tiles ? A.tiles : per;
    return (unsigned)(A.walk * batch);
}
template <int KIND, bool RES>
static void launch_async(AsgArgs A, size_t batch, cudaStream_t stream, size_t bytes,
                         size_t walkers) {
    const size_t bm = RES ? ASG_RES_BM : ASG_BM;
    A.tiles = (unsigned)((A.n + bm - 1) / bm);
    const unsigned grid = asg_grid(A, batch, walkers);
    cudaFuncSetAttribute(assign_mma_async_kernel<KIND, RES>,
                         cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes);
    assign_mma_async_kernel<KIND, RES>
        <<<grid, RES ? ASG_RES_THREADS : ASG_THREADS, bytes, stream>>>(A);
}

template <int KIND>
static void launch_mma(AsgArgs A, size_t batch, cudaStream_t stream, size_t walkers = 0) {
    constexpr bool PADDED = KIND == FKM_ASG_F16X3 || KIND == FKM_ASG_F16HI;
    if (PADDED || A.vec_ok) { /* F16X3 rows: padded, aligned */
        const size_t chunk = (size_t)ASG_KW_A * AsgKind<KIND>::EPW;
        const size_t kchunks = (A.d + chunk - 1) / chunk;
        const size_t res = ((size_t)ASG_RES_BM * (kchunks * ASG_KW_A + 4) +
                            (size_t)asg_res_stages<KIND>() * 16 * AsgKind<KIND>::NT * ASG_LDW_A) * 4;
        if (res <= ASG_RES_MAX_BYTES)
            launch_async<KIND, true>(A, batch, stream, res, walkers);
        else
            launch_async<KIND, false>(A, batch, stream, (size_t)ASG_STAGES * ASG_STAGE_WORDS * 4,
                                      walkers);
    } else if constexpr (!PADDED) {
        A.tiles = (unsigned)((A.n + ASG_BM - 1) / ASG_BM);
        const unsigned grid = asg_grid(A, batch, walkers);
        assign_mma_kernel<KIND><<<grid, ASG_THREADS, 0, stream>>>(A);
    }
}

/* The small-d or a wgmma kernel where one serves, else mma.sync's. tf32,
 * fp16 and bf16 there fold packed values (assign_pack.cu), whose offset
 * is one per problem: where it is too coarse for the problem's typical
 * rows (one far centroid or point), the mma.sync kernel, which compares
 * the values themselves, searches that problem again over the packed
 * kernel's results, two blocks an SM shared out among the problems;
 * elsewhere they return at once. */
template <int KIND>
static void launch_kind(AsgArgs A, size_t batch, cudaStream_t stream) {
    if (fkm_assign_small(A, KIND, batch, stream) ||
        (AsgKind<KIND>::MAXFOLD && fkm_assign_wgmma(A, KIND, batch, stream))) {
        if constexpr (asg_packs<KIND>())
            launch_mma<KIND>(A, batch, stream, 2 * (size_t)fkm_sm_count());
        return;
    }
    launch_mma<KIND>(A, batch, stream);
}

static void certified_assign(const AsgArgs &A, fkm_gpu_state *s, flashkm_metric metric) {
    fkm_launch_search_setup(s, A.k);
    AsgArgs H = A; /* the search: hi halves of the points, c16 centroids */
    H.c = s->c16;
    H.xd = A.d;
    H.d = A.d / 2; /* c16 rows: d rounded up to 32 halves */
    H.unc = s->unc;
    H.unc_count = s->unc_count;
    H.cmax = s->cmax;
    launch_kind<FKM_ASG_F16HI>(H, s->batch, s->stream);
    AsgArgs L = A; /* split products over the uncertain rows */
    L.list = s->unc;
    L.list_count = s->unc_count;
    L.cmax = s->cmax; /* < 0: the search was skipped, every row */
    launch_kind<FKM_ASG_F16X3>(L, s->batch, s->stream);
    fkm_launch_exact_dist(s, metric);
}

extern "C" void fkm_launch_assign(fkm_gpu_state *s, size_t k,
                                  flashkm_metric metric) {
    AsgArgs A;
    A.x = s->xa;
    A.c = s->centa;
    A.xnorm = s->xnorm;
    A.cnorm = s->cnorm;
    A.scale = s->scale;
    A.cinv = s->cnorm + s->batch * s->k_max; /* F16X3 only (gpu_open.cu) */
    A.keys = s->keys;
    A.dist = s->dist;
    A.n = s->n;
    A.k = k;
    A.d = s->asg == FKM_ASG_F16X3 ? (s->d + 31) / 32 * 64 : s->d; /* F16X3: halves per row */
    A.xd = A.d;
    A.tiles = 0; /* per kernel: launch_kind */
    A.list = A.list_count = NULL;
    A.unc = A.unc_count = NULL;
    A.cmax = NULL;
    A.dreal = (float)s->d;
    A.bias = s->bias;
    A.xnmax = s->xnmax;
    A.pack_off = s->pack_off;
    A.pack_xwide = s->pack_xwide;
    A.pack_coarse = s->pack_coarse;
    A.walk = 0;
    size_t elem = (s->asg == FKM_ASG_F32X3 || s->asg == FKM_ASG_TF32) ? 4 : 2;
    A.vec_ok = (s->d * elem) % 16 == 0;
    A.x_tf32 = s->asg == FKM_ASG_TF32 && s->xa != s->x;
    /* the update's fp32 rows, which tf32 and 3xTF32 round themselves where
     * the kernel takes them (assign_small.cu): one copy in L2, not two */
    A.x_keep = s->x_l2_keep && s->xdtype == FLASHKM_DTYPE_F32 &&
                       (s->asg == FKM_ASG_TF32 || s->asg == FKM_ASG_F32X3) ? s->x : NULL;
    A.ip = metric == FLASHKM_METRIC_INNER_PRODUCT;
    switch (s->asg) {
    case FKM_ASG_F32X3: launch_kind<FKM_ASG_F32X3>(A, s->batch, s->stream); break;
    case FKM_ASG_TF32: launch_kind<FKM_ASG_TF32>(A, s->batch, s->stream); break;
    case FKM_ASG_F16: launch_kind<FKM_ASG_F16>(A, s->batch, s->stream); break;
    case FKM_ASG_BF16: launch_kind<FKM_ASG_BF16>(A, s->batch, s->stream); break;
    case FKM_ASG_F16X3:
        if (fkm_certified(s->d, k)) certified_assign(A, s, metric);
        else launch_kind<FKM_ASG_F16X3>(A, s->batch, s->stream);
        break;
    }
}
