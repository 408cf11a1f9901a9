/* assign_pack.cu — the biases of the packed fold, and why it is exact
 * enough (wgmma.cuh's wg_fold_packed, which assign_cres.cu and
 * assign_wide.cu fold with, and assign_small.cu's fold).
 *
 * A kernel's fold keeps, per row, the largest v = x.c s^2 - |c|^2 s^2 / 2
 * and its column (ties: the lower). Kept as a float and a column, that is
 * a compare, a select and a max per value, 3 instructions on the ALU pipe,
 * which took as long as the MMAs (assign_cres.cu, ivf-1M-1k fp16: the
 * tensor pipe ~50 % busy). Packed, it is one unsigned max:
 *  - every column's bias carries an offset M = 3 * 2^e, 2^e above the
 *    problem's bound on |v| (below), so every v' = v + M, as the MMA or one
 *    FADD gives it, lies in (2^(e+1), 2^(e+2)): one exponent, and the bits
 *    below the top 6 (sign and exponent bits that are then the same for all)
 *    order as v' does;
 *  - u = bits(v') * 64 + (63 - place), place = the value's index among the
 *    thread's 64 columns of the row (an IMAD, on the FMA pipe);
 *  - the largest u is the largest v' and, among equal v', the lowest place;
 *    v = ((u >> 6) | top bits) - M exactly (asg_unpack), place = 63 - u % 64.
 * v is then known to the ulp of v', 2^(e-22) <= 2^-21 V: values closer
 * than that count as equal. That is far below the 2^-11 (fp16, tf32) or
 * 2^-8 (bf16) rounding of the operands these kernels multiply only where
 * V is not far above a typical row's |x| |c|: one centroid (or point) 10^4
 * times the others' size made V so large that nearly every row of its
 * problem took a wrong label (d = 8: 3981 of 4000, found in review). So
 * each problem is checked where its biases are made: unless half its
 * |x|^2 (pack_rows_kernel, once) and half its |c|^2 (each iteration) lie
 * within 2^-7 (bf16: 2^-10) of the largest (asg_pack_spread), the packing
 * can err by more than an eighth of the operands' rounding at a typical
 * row, and the problem is searched again by the mma.sync kernel, which
 * compares the values themselves (assign_mma.cu). Columns past k get bias
 * 2^(e+1) and zero centroid rows: v' = 2^(e+1), below every column's.
 *
 * The bound: V = s^2 (max|x| max|c| + max|c|^2 / 2) (inner product:
 * s^2 max|x| max|c|), from each problem's largest |x|^2 (xnmax, set when
 * the rows are prepared) and |c|^2, widened 1/32 for the operands'
 * rounding and the fp32 accumulation; 2^e > V. */
#include "assign_common.cuh"

#define PACK_THREADS 256

/* One block per problem: pack_xwide[b] from its rows' |x|^2, once per run;
 * pack_coarse zeroed, for the kernels that do not pack (they leave it). */
__global__ void pack_rows_kernel(const float *xnorm, size_t n, const float *xnmax, int spread,
                                 uint32_t *xwide, uint32_t *coarse) {
    const size_t b = blockIdx.x;
    const uint32_t w = asg_pack_wide(xnorm + b * n, n, xnmax[b], spread);
    if (threadIdx.x == 0) {
        xwide[b] = w;
        coarse[b] = 0;
    }
}

extern "C" void fkm_launch_pack_rows(fkm_gpu_state *s) {
    pack_rows_kernel<<<(unsigned)s->batch, PACK_THREADS, 0, s->stream>>>(
        s->xnorm, s->n, s->xnmax, asg_pack_spread(s->asg), s->pack_xwide, s->pack_coarse);
}

/* One block per problem: M (pack_off[b]), every column's bias + M, and
 * pack_coarse[b]. */
__global__ void pack_bias_kernel(const AsgArgs A, size_t cols, int spread) {
    __shared__ float part[PACK_THREADS / 32];
    const size_t b = blockIdx.x, k = A.k;
    const float *cn = A.cnorm + b * k;
    float cm = 0.f;
    for (size_t c = threadIdx.x; c < k; c += PACK_THREADS) cm = fmaxf(cm, cn[c]);
    cm = asg_block_max<PACK_THREADS>(cm, part);
    const uint32_t wide = asg_pack_wide(cn, k, cm, spread);
    const float s = A.scale[b], M = asg_pack_offset(cm, A.xnmax[b], s * s, A.ip);
    for (size_t c = threadIdx.x; c < cols; c += PACK_THREADS)
        A.bias[b * cols + c] = asg_packed_bias(c, k, c < k ? cn[c] : 0.f, s, A.ip, M);
    if (threadIdx.x == 0) {
        A.pack_off[b] = M;
        A.pack_coarse[b] = wide | A.pack_xwide[b];
    }
}

void fkm_pack_bias(const AsgArgs &A, int kind, size_t batch, cudaStream_t stream) {
    pack_bias_kernel<<<(unsigned)batch, PACK_THREADS, 0, stream>>>(A, fkm_bias_cols(A.k),
                                                                   asg_pack_spread(kind));
}
