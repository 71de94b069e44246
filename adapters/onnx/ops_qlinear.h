/* ops_qlinear.h — the integer product (kernels/gemm_u8s8.c) behind the quantized operators of ops_quant.c
 * (QLinearMatMul, MatMulInteger, QLinearConv, ConvInteger) and the QDQ patterns onnx_fuse.c turns into them.
 *
 * Ownership: constant weights are packed at load into the node's params (one allocation, freed with free() like
 * every node's params); a run at another instruction-set level, or over weights that are not constant, packs into
 * a buffer of its own. Outputs are written into the caller's tensors. Thread-safety: the packed params are
 * read-only after load; runs allocate their own scratch. */
#ifndef OX_OPS_QLINEAR_H
#define OX_OPS_QLINEAR_H

#include "ops_helpers.h"

/* How the int32 sums become outputs: INT32 as they are (MatMulInteger, ConvInteger), else requantized into dtype
 * (8-bit) as round_half_even(acc * mult[col] + yz) saturated, with acc = (sum + bias[col]) and, with relu, the value
 * first raised to at least yz (a Relu on the real values, before the QuantizeLinear). */
typedef struct ox_q_out {
    jn_dtype dtype;
    const float *mult; /* n_mult == 1 or the column count */
    int64_t n_mult;
    double yz;
    const int32_t *bias; /* per column, or NULL */
    bool relu;
} ox_q_out;

/* Zero points of an operand: one value (n == 1) or one per row of A / column of B; NULL tensor: 0. */
typedef struct ox_q_zp {
    const ox_tensor *t;
} ox_q_zp;

/* QLinearMatMul with a ninth input, an INT32 bias per column: what onnx_fuse.c makes of a QDQ MatMul or Gemm
 * (ops_quant.c; not in the operator table, so no model can name it). */
extern const ox_op ox_op_qlinear_matmul_bias;

/* Load time: packs the constant B (input b_index, 2-D [K, N]) of a QLinearMatMul / MatMulInteger, or the constant
 * weights (input b_index, [M, C/group, k...]) of a QLinearConv / ConvInteger; nothing when they are not constant. */
int ox_q_pack_matmul(ox_model *m, ox_node *n, int b_index, jn_err *err);
int ox_q_pack_conv(ox_model *m, ox_node *n, int w_index, int64_t group, jn_err *err);

/* y [M, N] (row i at y + yo + i * N elements) = a [M, K] . b [K, N] with zero points, through the kernel. b is the
 * node's packed input when it matches (b_index's constant), else packed here. */
int ox_q_matmul(const ox_node *n, const ox_tensor *a, int64_t ao, const ox_tensor *b, int64_t bo, int b_index,
                int64_t M, int64_t N, int64_t K, ox_q_zp azp, ox_q_zp bzp, const ox_q_out *q, ox_tensor *y,
                int64_t yo, jn_err *err);

/* The convolution of x [Nb, C, I...] by w [M, C/G, k...] into y [Nb, M, O...] with the window g (1-3 spatial
 * axes), scalar x zero point, w zero point scalar or per output channel. */
int ox_q_conv(const ox_node *n, const ox_tensor *x, const ox_tensor *w, int w_index, int64_t G, const ox_win *g,
              ox_q_zp xzp, ox_q_zp wzp, const ox_q_out *q, ox_tensor *y, jn_err *err);

#endif
