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
 *  - a block walks a few units of SD_BM point rows of one problem (one
 *    wave of blocks in all); a warp's 32 rows of a unit are A
 *    fragments in registers, the next unit's loads in flight meanwhile;
 *  - the block's 8 warps share centroid tiles of SD_BN rows in shared
 *    memory, rounded (tf32) or split (3xTF32: hi and lo), rows padded to
 *    8 KS + 4 words so that B fragment loads are conflict-free, with their
 *    column biases; where all of k fits one tile (PQ: k = 256) it is loaded
 *    once per block, and the warps then never wait for each other (a
 *    block per unit, each loading its tile, took 120 us in tf32 on
 *    pq-batched, its latencies in series); there the block also finds the
 *    packed fold's offset M itself, a launch (pack_bias_kernel) less;
 *  - per group of GN n-tiles (8 columns each) the MMAs start from the
 *    biases + M (single products: a C quad of one LDS.128, no moves) and
 *    the packed fold keeps each row's best (assign_pack.cu), or from zero
 *    (3xTF32: lo.hi, hi.lo, hi.hi per k-step as assign_mma.cu, then the
 *    bias is added) and the group is folded by its maxima first, the
 *    column searched only where a row's maximum beats its best;
 *  - fp32 rows that fit L2 are read at evict_last priority (tf32 and
 *    3xTF32 round them here), so that more of them are still there for
 *    the update's gathers (gpu_open.cu: worth ~1 us at pq-batched). */
#include "assign_common.cuh"

#define SD_THREADS 256
#define SD_BM 256 /* point rows per block: 8 warps x 32 */
#define SD_BN 256 /* centroid rows per shared tile (one per thread for the biases) */
static_assert(SD_BN == SD_THREADS, "load_tile writes one column bias per thread");

/* Where all of k is one tile, a block finds the packed fold's offset and
 * biases itself; past that, pack_bias_kernel does, once per problem. */
__host__ __device__ static inline bool sd_biases_in_block(size_t k) { return k <= SD_BN; }

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
    /* the biases as C fragments: column pair p's quad (b 2p, b 2p+1, b 2p,
     * b 2p+1), so that an MMA starts from one LDS.128 */
    float *const cbias = (float *)(sd_smem + (X3 ? 2 : 1) * SD_BN * STR);

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
    auto set_bias = [&](float v) { /* column tid's, twice in its pair's quad */
        cbias[(tid >> 1) * 4 + (tid & 1)] = v;
        cbias[(tid >> 1) * 4 + (tid & 1) + 2] = v;
    };
    /* the block's units (SD_BM rows each) u0 .. u1 - 1 of problem b */
    const uint32_t bpp = (A.tiles + per_block - 1) / per_block; /* blocks per problem */
    const size_t b = blockIdx.x / bpp;
    const uint32_t u0 = (uint32_t)(blockIdx.x % bpp) * per_block;
    const uint32_t u1 = u0 + per_block < A.tiles ? u0 + per_block : A.tiles;
    const uint32_t k = (uint32_t)A.k, d = (uint32_t)A.d;
    const float s = A.scale[b], s2 = s * s, inv_s2 = 1.f / s2;
    /* the packed fold's offset: pack_bias_kernel's where k spans several
     * tiles, else found here with the biases (load_tile), a launch less */
    constexpr bool PACK = !X3;
    const bool own_bias = PACK && sd_biases_in_block(k);
    float M = PACK && !own_bias ? __ldg(A.pack_off + b) : 0.f;

    /* The warp's rows of unit u as A fragments, raw: register i of m-tile
     * mt holds row 16 mt + g + 8 (i & 1); its column is t + 4 (i >> 1) of
     * k-step ks for tf32 (8 ks + ...), the pair 2t + 8 (i >> 1), + 1 for
     * halves. Zero past d and past n. Loaded one unit ahead, so that the
     * loads' latency passes while the unit before is computed. */
    uint32_t raw[2][KS][4];
    const uint64_t keep = fkm_l2_keep_policy();
    /* fp32 rows of exactly the fragments' width (d = 8 or 16): every word
     * of a whole unit is a row's, at a constant offset from the lane's first
     * row. Not for halves: the same path there (pairs as one word) made
     * pq-batched bf16 slower, 0.150 -> 0.152 ms. */
    constexpr uint32_t DW = 8 * KS;
    const bool exact_d = !HALF && d == DW;
    auto load_rows = [&](uint32_t u) {
        const size_t p0 = (size_t)u * SD_BM + (size_t)warp * 32;
        if (exact_d && p0 + 32 <= A.n) {
            /* the common case without a bounds check or a 64-bit index per
             * word (those took 200 of a unit's ~1080 instructions per warp,
             * pq-batched tf32: 65.9 -> 59.1 us): word (mt, ks, i) is column
             * 8 ks + t + 4 (i >> 1) of row 16 mt + g + 8 (i & 1) */
            const size_t first = (b * A.n + p0 + g) * DW + t;
            auto whole = [&](const uint32_t *r0, auto ld) {
                sd_each_fragment<KS>([&](int mt, int ks, int i) {
                    raw[mt][ks][i] = ld(r0 + (2 * mt + (i & 1)) * 8 * DW + 8 * ks + 4 * (i >> 1));
                });
            };
            if (A.x_keep)
                whole((const uint32_t *)A.x_keep + first,
                      [&](const uint32_t *q) { return ldg_keep_u32(q, keep); });
            else whole((const uint32_t *)A.x + first, [](const uint32_t *q) { return __ldg(q); });
            return;
        }
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
                raw[mt][ks][i] = !(ok && e < d) ? 0u
                                 : A.x_keep ? ldg_keep_u32((const uint32_t *)A.x_keep + base + e, keep)
                                            : __ldg((const uint32_t *)A.x + base + e);
            }
        });
    };
    load_rows(u0);

    /* Centroid rows n0 .. n0 + SD_BN - 1 into shared memory, with their
     * biases -|c|^2 s^2 / 2 (0 for inner product, -inf past k), + M for
     * the packed fold. */
    __shared__ float cmax_w[SD_THREADS / 32];
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
        if (X3) {
            set_bias(col >= k ? -INFINITY
                     : A.ip   ? 0.f
                              : -0.5f * s2 * __ldg(A.cnorm + b * A.k + col));
        } else if (own_bias) { /* all of k here: its largest |c|^2, M, the biases */
            const float cn = col < k ? __ldg(A.cnorm + b * A.k + col) : 0.f;
            const float cm = asg_block_max<SD_THREADS>(cn, cmax_w);
            M = asg_pack_offset(cm, __ldg(A.xnmax + b), s2, A.ip);
            set_bias(asg_packed_bias(col, k, cn, s, A.ip, M));
            /* pack_bias_kernel's check; every block of the problem writes it */
            const uint32_t wide = asg_pack_wide(A.cnorm + b * A.k, k, cm, asg_pack_spread(KIND));
            if (tid == 0) A.pack_coarse[b] = wide | __ldg(A.pack_xwide + b);
        } else { /* + M (assign_pack.cu); whole tiles of them per problem */
            set_bias(__ldg(A.bias + b * fkm_bias_cols(A.k) + col));
        }
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
        if (u == u0 && own_bias) load_tile(0); /* M before the fold needs it */
        const uint32_t top = asg_pack_top(M);
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
            if ((u == u0 && !own_bias) || k > SD_BN) load_tile(n0);
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
                    /* 3xTF32 adds (b 2t, b 2t+1) after its products, held
                     * as a pair: the whole quad's 2 more registers spill */
                    const float *bp = cbias + 2 * (cb + nt * 8 + 2 * t);
                    float4 bb;
                    float2 bh;
                    if (X3) bh = *(const float2 *)bp;
                    else bb = *(const float4 *)bp;
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
                            /* the bias after the products (their precision) */
                            c[0] += bh.x; c[1] += bh.y; c[2] += bh.x; c[3] += bh.y;
                        } else {
#pragma unroll
                            for (int ks = 0; ks < KS; ks++)
                                asg_mma_from<KIND>(c, a[mt][ks], bq[ks], ks > 0, bb);
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
                        for (int nt = 0; nt < GN; nt++) {
                            const float *v = &acc[r >> 1][nt][2 * (r & 1)];
                            const uint32_t pl = 2 * (grp * GN + nt);
                            pk[r] = max(pk[r], asg_pack(v[0], mul, pl));
                            pk[r] = max(pk[r], asg_pack(v[1], mul, pl + 1));
                        }
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

/* Units of SD_BM rows per block: one wave of blocks (2 per SM), each
 * block loading all of a small k once for its units. The units are equal
 * work, so a second wave balanced nothing and cost each SM a second block
 * start (H200, pq-batched tf32: 68.1 -> 66.3 us). */
template <int KIND, int KS>
static void sd_launch(AsgArgs A, size_t batch, cudaStream_t stream) {
    constexpr size_t words = (KIND == FKM_ASG_F32X3 ? 2 : 1) * SD_BN * (8 * KS + 4) + 2 * SD_BN;
    A.tiles = (unsigned)((A.n + SD_BM - 1) / SD_BM);
    const size_t slots = 2 * (size_t)fkm_sm_count();
    size_t per = (A.tiles * batch + slots - 1) / slots;
    if (per < 1) per = 1;
    if (per > A.tiles) per = A.tiles;
    const size_t bpp = (A.tiles + per - 1) / per;
    assign_small_kernel<KIND, KS>
        <<<(unsigned)(bpp * batch), SD_THREADS, words * 4, stream>>>(A, (uint32_t)per, 64u);
}

bool fkm_assign_small(AsgArgs A, int kind, size_t batch, cudaStream_t stream) {
    if (A.d > FKM_SMALL_D || A.list) return false;
    if (kind != FKM_ASG_F32X3 && !sd_biases_in_block(A.k)) fkm_pack_bias(A, kind, batch, stream);
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
