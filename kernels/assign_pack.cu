/* assign_pack.cu — the biases of the packed fold, and why it is exact
 * enough (assign_cres.cu's wg_fold_packed and assign_small.cu's fold).
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
 * v is then known to the ulp of v', 2^(e-22): values closer than that count
 * as equal, far below the 2^-11 (fp16, tf32) or 2^-8 (bf16) rounding of
 * the operands these kernels multiply. Columns past k get bias 2^(e+1) and
 * zero centroid rows: v' = 2^(e+1), below every column's.
 *
 * The bound: V = s^2 (max|x| max|c| + max|c|^2 / 2) (inner product:
 * s^2 max|x| max|c|), from each problem's largest |x|^2 (xnmax, set when
 * the rows are prepared) and |c|^2, widened 1/32 for the operands'
 * rounding and the fp32 accumulation; 2^e > V. */
#include "assign_common.cuh"

#define PACK_THREADS 256

/* One block per problem: M (pack_off[b]) and every column's bias + M. */
__global__ void pack_bias_kernel(const float *cnorm, const float *scale, const float *xnmax,
                                 size_t k, size_t cols, int ip, float *bias, float *pack_off) {
    __shared__ float part[PACK_THREADS / 32];
    const size_t b = blockIdx.x;
    const float *cn = cnorm + b * k;
    float cm = 0.f;
    for (size_t c = threadIdx.x; c < k; c += PACK_THREADS) cm = fmaxf(cm, cn[c]);
    for (int o = 16; o; o >>= 1) cm = fmaxf(cm, __shfl_xor_sync(0xffffffffu, cm, o));
    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = cm;
    __syncthreads();
    for (int w = 0; w < PACK_THREADS / 32; w++) cm = fmaxf(cm, part[w]);
    const float s = scale[b], M = asg_pack_offset(cm, xnmax[b], s * s, ip);
    for (size_t c = threadIdx.x; c < cols; c += PACK_THREADS)
        bias[b * cols + c] = c >= k ? asg_pack_pad(M) : asg_packed_bias(cn[c], s, ip, M);
    if (threadIdx.x == 0) pack_off[b] = M;
}

void fkm_pack_bias(const AsgArgs &A, size_t batch, cudaStream_t stream) {
    pack_bias_kernel<<<(unsigned)batch, PACK_THREADS, 0, stream>>>(A.cnorm, A.scale, A.xnmax, A.k,
                                                          fkm_bias_cols(A.k), A.ip, A.bias,
                                                          A.pack_off);
}
