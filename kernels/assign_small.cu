/* assign_small.cu — FlashAssign for small d (d <= FKM_SMALL_D = 16: the
 * sub-vectors of product quantizers, d = 4, 8, 12, 16), for tf32, fp16,
 * bf16 and fp32 precision's 3xTF32 (F32X3, which small d always takes:
 * gpu_open.cu). Same results contract as assign_mma.cu: per row the largest
 * x.c s^2 - |c|^2 s^2 / 2 (ties: the lower column), written as v = |c|^2 / 2
 * - x.c by asg_write_row.
 *
 * The general kernels stream d in chunks of 32 words: at d = 8 three
 * quarters of their MMAs multiply padding, and their pipelines are built
 * for rows of hundreds of values (H200, pq-batched: B = 16, N = 65536,
 * d = 8, K = 256, the assignment took 0.29 ms in tf32 and 0.38 ms in fp32
 * of 0.48 and 0.57 ms iterations). Here a row is one MMA k-step (m16n8k16
 * for halves, one or two m16n8k8 for tf32):
 *  - a block walks a few units of SD_BM point rows of one problem (about
 *    two waves of blocks in all); a warp's 32 rows of a unit are A
 *    fragments in registers, the next unit's loads in flight meanwhile;
 *  - the block's 8 warps share centroid tiles of SD_BN rows in shared
 *    memory, rounded (tf32) or split (3xTF32: hi and lo), rows padded to
 *    8 KS + 4 words so that B fragment loads are conflict-free, with their
 *    column biases; where all of k fits one tile (PQ: k = 256) it is loaded
 *    once per block, and the warps then never wait for each other (a
 *    block per unit, each loading its tile, took 120 us in tf32 on
 *    pq-batched, its latencies in series);
 *  - per group of GN n-tiles (8 columns each) the MMAs start from the bias
 *    (single products) or from zero (3xTF32: lo.hi, hi.lo, hi.hi per
 *    k-step as assign_mma.cu, then the bias is added), and the group is
 *    folded by its maxima first, the column searched only where a row's
 *    maximum beats its best (assign_wgmma.cu's fold). */
#include "assign_common.cuh"

#define SD_THREADS 256
#define SD_BM 256 /* point rows per block: 8 warps x 32 */
#define SD_BN 256 /* centroid rows per shared tile (one per thread for the biases) */
static_assert(SD_BN == SD_THREADS, "load_tile writes one column bias per thread");

/* f(mt, ks, i) for every A fragment register of a warp's 32 rows: 2
 * m-tiles, KS k-steps, 4 registers each. */
template <int KS, typename F>
__device__ __forceinline__ void sd_each_fragment(F f) {
#pragma unroll
    for (int mt = 0; mt < 2; mt++)
#pragma unroll
        for (int ks = 0; ks < KS; ks++)
#pragma unroll
            for (int i = 0; i < 4; i++) f(mt, ks, i);
}

/* KS: k-steps per row (tf32 kinds: 8 values each; halves: one of 16). */
template <int KIND, int KS>
__global__ void __launch_bounds__(SD_THREADS, 2)
assign_small_kernel(const AsgArgs A, const uint32_t per_block, const uint32_t mul) {
    constexpr bool HALF = KIND == FKM_ASG_F16 || KIND == FKM_ASG_BF16;
    constexpr bool X3 = KIND == FKM_ASG_F32X3;
    constexpr int GN = X3 ? 4 : 8; /* n-tiles per fold group: its accumulators */
    constexpr int STR = 8 * KS + 4; /* words per centroid row in shared memory */
    constexpr int WPR = HALF ? 8 : 8 * KS; /* words of a centroid row */
    extern __shared__ __align__(16) uint32_t sd_smem[];
    uint32_t *const chi = sd_smem, *const clo = sd_smem + SD_BN * STR; /* clo: X3 only */
    float *const cbias = (float *)(sd_smem + (X3 ? 2 : 1) * SD_BN * STR);

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
    /* the block's units (SD_BM rows each) u0 .. u1 - 1 of problem b */
    const uint32_t bpp = (A.tiles + per_block - 1) / per_block; /* blocks per problem */
    const size_t b = blockIdx.x / bpp;
    const uint32_t u0 = (uint32_t)(blockIdx.x % bpp) * per_block;
    const uint32_t u1 = u0 + per_block < A.tiles ? u0 + per_block : A.tiles;
    const uint32_t k = (uint32_t)A.k, d = (uint32_t)A.d;
    const float s = A.scale[b], s2 = s * s, inv_s2 = 1.f / s2;
    const float M = X3 ? 0.f : __ldg(A.pack_off + b); /* the packed fold's offset */
    const uint32_t top = asg_pack_top(M);

    /* The warp's rows of unit u as A fragments, raw: register i of m-tile
     * mt holds row 16 mt + g + 8 (i & 1); its column is t + 4 (i >> 1) of
     * k-step ks for tf32 (8 ks + ...), the pair 2t + 8 (i >> 1), + 1 for
     * halves. Zero past d and past n. Loaded one unit ahead, so that the
     * loads' latency passes while the unit before is computed. */
    uint32_t raw[2][KS][4];
    auto load_rows = [&](uint32_t u) {
        const size_t p0 = (size_t)u * SD_BM + (size_t)warp * 32;
        sd_each_fragment<KS>([&](int mt, int ks, int i) {
            const size_t row = p0 + mt * 16 + g + 8 * (i & 1);
            const bool ok = row < A.n;
            const size_t base = (b * A.n + (ok ? row : 0)) * d;
            if (HALF) {
                const unsigned short *x = (const unsigned short *)A.x + base;
                const uint32_t e = 2 * t + 8 * (i >> 1);
                const uint32_t lo = ok && e < d ? __ldg(x + e) : 0u;
                const uint32_t hi = ok && e + 1 < d ? __ldg(x + e + 1) : 0u;
                raw[mt][ks][i] = lo | (hi << 16);
            } else {
                const uint32_t e = 8 * ks + t + 4 * (i >> 1);
                raw[mt][ks][i] =
                    ok && e < d ? __ldg((const uint32_t *)A.x + base + e) : 0u;
            }
        });
    };
    load_rows(u0);

    /* Centroid rows n0 .. n0 + SD_BN - 1 into shared memory, with their
     * biases -|c|^2 s^2 / 2 (0 for inner product, -inf past k). */
    auto load_tile = [&](uint32_t n0) {
        __syncthreads(); /* the previous tile is consumed */
        for (uint32_t w = tid; w < SD_BN * WPR; w += SD_THREADS) {
            const uint32_t r = w / WPR, e = w % WPR, col = n0 + r;
            const size_t base = (b * A.k + (col < k ? col : 0)) * d;
            uint32_t v = 0, lo = 0;
            if (HALF) {
                const unsigned short *c = (const unsigned short *)A.c + base;
                v = (col < k && 2 * e < d ? __ldg(c + 2 * e) : 0u) |
                    ((col < k && 2 * e + 1 < d ? __ldg(c + 2 * e + 1) : 0u) << 16);
            } else {
                v = col < k && e < d ? __ldg((const uint32_t *)A.c + base + e) : 0u;
                /* tf32's copy is stored rounded (gpu_upload.cu); 3xTF32 splits */
                if (X3) asg_tf32_split<KIND>(v, lo);
            }
            chi[r * STR + e] = v;
            if (X3) clo[r * STR + e] = lo;
        }
        const uint32_t col = n0 + tid;
        if (X3)
            cbias[tid] = col >= k ? -INFINITY
                         : A.ip   ? 0.f
                                  : -0.5f * s2 * __ldg(A.cnorm + b * A.k + col);
        else /* + M (assign_pack.cu); whole tiles of them per problem */
            cbias[tid] = __ldg(A.bias + b * fkm_bias_cols(A.k) + col);
        __syncthreads();
    };

    for (uint32_t u = u0; u < u1; u++) {
        /* the unit's rows, rounded to tf32 or split (3xTF32); the next
         * unit's loads go out */
        uint32_t a[2][KS][4], al[2][KS][4];
        sd_each_fragment<KS>([&](int mt, int ks, int i) {
            a[mt][ks][i] = raw[mt][ks][i];
            if (!HALF) asg_tf32_split<KIND>(a[mt][ks][i], al[mt][ks][i]);
        });
        if (u + 1 < u1) load_rows(u + 1);
        /* |x|^2 of the rows lane t = 0 writes, asked for now: waited for
         * at the writes, it held ~15 % of the stall samples (pq-batched) */
        const size_t p0 = (size_t)u * SD_BM + (size_t)warp * 32;
        float xn[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
        for (int r = 0; r < 4; r++) {
            const size_t row = p0 + 16 * (r >> 1) + 8 * (r & 1) + g;
            if (t == 0 && !A.ip && row < A.n) xn[r] = __ldg(A.xnorm + b * A.n + row);
        }

        float bv[4];
        uint32_t bi[4];
#pragma unroll
        for (int r = 0; r < 4; r++) {
            bv[r] = -INFINITY;
            bi[r] = 0xffffffffu;
        }
        for (uint32_t n0 = 0; n0 < k; n0 += SD_BN) {
            /* all of k in one tile: loaded once, for the block's first unit */
            if (u == u0 || k > SD_BN) load_tile(n0);
            const uint32_t left = k - n0 < SD_BN ? k - n0 : SD_BN;
            /* the MMAs of the GN n-tiles from column cb of the tile */
            auto mma_group = [&](uint32_t cb, float(&acc)[2][GN][4]) {
#pragma unroll
                for (int nt = 0; nt < GN; nt++) {
                    /* B fragments: centroid cb + 8 nt + g, words t and t + 4
                     * of each k-step */
                    const uint32_t off = (cb + nt * 8 + g) * STR + t;
                    uint32_t bq[KS][2], bl[KS][2];
#pragma unroll
                    for (int ks = 0; ks < KS; ks++) {
                        bq[ks][0] = chi[off + 8 * ks];
                        bq[ks][1] = chi[off + 8 * ks + 4];
                        if (X3) {
                            bl[ks][0] = clo[off + 8 * ks];
                            bl[ks][1] = clo[off + 8 * ks + 4];
                        }
                    }
                    const float2 bb = *(const float2 *)(cbias + cb + nt * 8 + 2 * t);
#pragma unroll
                    for (int mt = 0; mt < 2; mt++) {
                        float *c = acc[mt][nt];
                        if (X3) {
#pragma unroll
                            for (int ks = 0; ks < KS; ks++) {
                                asg_mma<KIND>(c, al[mt][ks], bq[ks], ks == 0);
                                asg_mma<KIND>(c, a[mt][ks], bl[ks], false);
                                asg_mma<KIND>(c, a[mt][ks], bq[ks], false);
                            }
                            c[0] += bb.x; c[1] += bb.y; c[2] += bb.x; c[3] += bb.y;
                        } else {
#pragma unroll
                            for (int ks = 0; ks < KS; ks++)
                                asg_mma_from<KIND>(c, a[mt][ks], bq[ks], ks > 0, bb.x, bb.y);
                        }
                    }
                }
            };
            if constexpr (!X3) {
                /* single products: the packed fold over the tile's 64
                 * columns per row and thread (assign_pack.cu; the MMAs
                 * start from the biases + M), then the row's best */
                uint32_t pk[4] = {0, 0, 0, 0};
#pragma unroll
                for (int grp = 0; grp < SD_BN / (8 * GN); grp++) {
                    if ((uint32_t)grp * 8 * GN >= left) break;
                    float acc[2][GN][4];
                    mma_group(grp * 8 * GN, acc);
#pragma unroll
                    for (int r = 0; r < 4; r++)
#pragma unroll
                        for (int nt = 0; nt < GN; nt++)
#pragma unroll
                            for (int jj = 0; jj < 2; jj++)
                                pk[r] = max(pk[r], asg_pack(acc[r >> 1][nt][2 * (r & 1) + jj], mul,
                                                            2 * (grp * GN + nt) + jj));
                }
#pragma unroll
                for (int r = 0; r < 4; r++) {
                    uint32_t l;
                    const float v = asg_unpack(pk[r], top, M, l);
                    if (v > bv[r]) {
                        bv[r] = v;
                        bi[r] = n0 + 8 * (l >> 1) + 2 * t + (l & 1);
                    }
                }
            } else {
#pragma unroll 1
            for (uint32_t cb = 0; cb < left; cb += 8 * GN) {
                float acc[2][GN][4];
                mma_group(cb, acc);
                /* the group's maxima per row (register 2h + jj of m-tile mt:
                 * row 2 mt + h, column 8 nt + 2t + jj), then the column where
                 * needed */
#pragma unroll
                for (int r = 0; r < 4; r++) {
                    const int mt = r >> 1, h = r & 1;
                    float pm[GN]; /* each n-tile's larger of the two */
#pragma unroll
                    for (int nt = 0; nt < GN; nt++)
                        pm[nt] = fmaxf(acc[mt][nt][2 * h], acc[mt][nt][2 * h + 1]);
                    float m1 = pm[0];
#pragma unroll
                    for (int nt = 1; nt < GN; nt++) m1 = fmaxf(m1, pm[nt]);
                    if (m1 > bv[r]) { /* the lowest n-tile holding m1, then its column */
                        int q = 0;
#pragma unroll
                        for (int nt = GN - 1; nt >= 0; nt--)
                            if (pm[nt] == m1) q = nt;
                        float v0 = acc[mt][0][2 * h];
#pragma unroll
                        for (int nt = 1; nt < GN; nt++)
                            if (q == nt) v0 = acc[mt][nt][2 * h];
                        bv[r] = m1;
                        bi[r] = n0 + cb + 8 * q + 2 * t + (v0 == m1 ? 0 : 1);
                    }
                }
            }
            }
        }
        /* Back to v = |c|^2 / 2 - x.c; the quad's 4 lanes meet; lane t = 0
         * writes its rows. */
#pragma unroll
        for (int r = 0; r < 4; r++) {
            float v = -bv[r] * inv_s2, v2 = 0.f;
            uint32_t i = bi[r];
            asg_quad_reduce<false>(v, i, v2);
            const size_t row = p0 + 16 * (r >> 1) + 8 * (r & 1) + g;
            if (t == 0 && row < A.n) asg_write_best(A, b, row, v, i, xn[r]);
        }
    }
}

/* Units of SD_BM rows per block: about two waves of blocks (2 per SM),
 * each block loading all of a small k once for its units. */
template <int KIND, int KS>
static void sd_launch(AsgArgs A, size_t batch, cudaStream_t stream) {
    constexpr size_t words = (KIND == FKM_ASG_F32X3 ? 2 : 1) * SD_BN * (8 * KS + 4) + SD_BN;
    A.tiles = (unsigned)((A.n + SD_BM - 1) / SD_BM);
    const size_t waves = 2 * 2 * (size_t)fkm_sm_count();
    size_t per = (A.tiles * batch + waves - 1) / waves;
    if (per < 1) per = 1;
    if (per > A.tiles) per = A.tiles;
    const size_t bpp = (A.tiles + per - 1) / per;
    assign_small_kernel<KIND, KS>
        <<<(unsigned)(bpp * batch), SD_THREADS, words * 4, stream>>>(A, (uint32_t)per, 64u);
}

bool fkm_assign_small(AsgArgs A, int kind, size_t batch, cudaStream_t stream) {
    if (A.d > FKM_SMALL_D || A.list) return false;
    if (kind != FKM_ASG_F32X3) fkm_pack_bias(A, batch, stream);
    const bool one = A.d <= 8; /* one tf32 k-step */
    switch (kind) {
    case FKM_ASG_TF32:
        if (one) sd_launch<FKM_ASG_TF32, 1>(A, batch, stream);
        else sd_launch<FKM_ASG_TF32, 2>(A, batch, stream);
        return true;
    case FKM_ASG_F32X3:
        if (one) sd_launch<FKM_ASG_F32X3, 1>(A, batch, stream);
        else sd_launch<FKM_ASG_F32X3, 2>(A, batch, stream);
        return true;
    case FKM_ASG_F16: sd_launch<FKM_ASG_F16, 1>(A, batch, stream); return true;
    case FKM_ASG_BF16: sd_launch<FKM_ASG_BF16, 1>(A, batch, stream); return true;
    default: return false;
    }
}
