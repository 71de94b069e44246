/* jn_kernels.h — junction's FP32 compute kernels, shared by every inference path: the ONNX adapter's Conv
 * (adapters/onnx/ops_nn.c; depthwise ones through ops_conv.c and conv_dw.c) and MatMul/Gemm (ops_nn.c), the built-in
 * fashion-cnn engine and its trainer's forward pass (engines/vision/cnn.c) and the text classifier
 * (engines/text/features.c). One implementation, so a speed-up or a fix reaches all of them.
 *
 * Instruction sets: every kernel is compiled once per level with vectors of that level's register width (GCC
 * vector extensions) and picked at run time, so the binary runs on any x86-64:
 *   JN_K_SSE2   (1) the x86-64 baseline (or any other architecture): 16-byte vectors
 *   JN_K_AVX2   (2) AVX2 + FMA: 32-byte vectors, 16 ymm registers
 *   JN_K_AVX512 (3) AVX-512F: 64-byte vectors, 32 zmm registers
 * jn_k_isa() is the level to use: what the CPU offers, capped by the environment variable JUNCTION_ISA
 * (sse2 | avx2 | avx512, read once per process: benchmarks force each level on one machine) and by
 * jn_k_isa_forced (a test hook). Packed weights record the level they were packed for: a kernel must be run at
 * the level its weights were packed with.
 *
 * Cache sizes: the L1 data and L2 sizes are read once from sysfs (/sys/devices/system/cpu/cpu0/cache), else from
 * cpuid (leaf 4 on Intel, 0x8000001D on AMD), else 32 KB / 512 KB. The dense product's row blocks and the channel-blocked convolution's
 * row chunks are sized from the L2; the L1 size is read for the same purpose but no kernel blocks on it yet (the
 * tiles' working sets are fixed by the register blocking).
 *
 * Ownership: the kernels allocate nothing. Callers own every buffer: packed weights (sized by the *_floats
 * functions), padded inputs, scratch, outputs. Kernels write only into their output and scratch arguments.
 * Thread-safety: all functions are reentrant; packed weights are read-only once packed and may be shared by
 * threads, each with its own scratch and padded input. jn_k_isa_forced must not change while kernels run.
 */
#ifndef JN_KERNELS_H
#define JN_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { JN_K_SSE2 = 1, JN_K_AVX2 = 2, JN_K_AVX512 = 3 };

/* The level kernels run at (see above). */
int jn_k_isa(void);
/* The highest level the CPU offers, ignoring JUNCTION_ISA and jn_k_isa_forced. */
int jn_k_isa_cpu(void);
/* Test hook, 0 = off: caps jn_k_isa() below what the CPU offers. Not for use while kernels run. */
extern int jn_k_isa_forced;
/* "sse2", "avx2", "avx512". */
const char *jn_k_isa_name(int isa);
/* L1 data cache and L2 cache of CPU 0 in bytes. */
size_t jn_k_cache_l1d(void);
size_t jn_k_cache_l2(void);
/* Test hook: the data or unified cache of `level` (1, 2) as cpuid describes it, 0 when it does not. */
size_t jn_k__cpuid_cache(int level);

/* ---- direct 2-D convolution (conv_direct.c) -------------------------------------------------------------------
 * FP32, NCHW, any stride, no dilation, one image (and group) at a time, optionally with the Relu and a 2x2/2
 * MaxPool after it fused in. The caller pads the input with jn_k_conv_pad into a zeroed buffer of
 * jn_k_conv_padded_floats, packs weights [M, K] (K = C*kh*kw, OIHW order) with jn_k_conv_pack into
 * jn_k_conv_packed_floats(isa, M, K) floats and the bias (NULL: zeros) with jn_k_conv_pack_bias into
 * jn_k_conv_bias_floats(isa, M), both for the level it runs at. */
typedef struct jn_k_conv {
    int isa;               /* the level the weights were packed for */
    int64_t C, M;          /* input and output channels (of one group) */
    int64_t kh, kw;        /* kernel */
    int64_t sh, sw;        /* strides; 0 counts as 1 */
    int64_t HP, WP;        /* the padded input plane: H + pads, W + pads */
    int64_t OH, OW;        /* convolution output (before any pooling) */
    const float *w, *bias; /* packed */
    bool relu, pool;       /* pool: 2x2/2 MaxPool after the Relu (relu must be set); output [M][OH/2][OW/2] */
    bool hswish;           /* HardSwish after the bias instead (relu and pool unset) */
} jn_k_conv;
size_t jn_k_conv_packed_floats(int isa, int64_t M, int64_t K);
void jn_k_conv_pack(int isa, const float *w, int64_t M, int64_t K, float *wp);
size_t jn_k_conv_bias_floats(int isa, int64_t M);
void jn_k_conv_pack_bias(int isa, const float *bias, int64_t M, float *bp);
size_t jn_k_conv_padded_floats(const jn_k_conv *d);
/* Copies x [C][H][W] into the padded buffer with pt rows and pl columns of padding before; the rest of the
 * buffer is left as it is (zero from the first call on). */
void jn_k_conv_pad(const jn_k_conv *d, const float *x, int64_t H, int64_t W, int64_t pt, int64_t pl, float *xp);
/* Zeroes every float of the padded planes and their tail that jn_k_conv_pad with the same H, W, pt, pl does not
 * write, so a buffer that was not zeroed (malloc) can be used: the whole buffer need not be cleared per call. */
void jn_k_conv_zero_pads(const jn_k_conv *d, int64_t H, int64_t W, int64_t pt, int64_t pl, float *xp);
/* y: [M][OH][OW], or with pool [M][OH/2][OW/2]. xp's padded planes are read only; the kernel may use the end of
 * the buffer (past the planes and the zero tail) as scratch. */
void jn_k_conv_run(const jn_k_conv *d, float *xp, float *y);

/* ---- depthwise 2-D convolution (conv_dw.c) -------------------------------------------------------------------
 * FP32, one input plane [H][W] to one output plane [OH][OW] (a Conv with one input channel per group), any kernel
 * size up to JN_K_DW_MAX_TAPS taps, any stride and dilation, zero padding pt/pl/pb/pr, bias and optionally Relu or
 * HardSwish fused. The caller checks the geometry with jn_k_dw_valid (the output size must be the convolution's:
 * every output's window starts inside the padded input), copies each input plane with jn_k_dw_pad into a buffer of
 * jn_k_dw_scratch_floats floats that was zeroed before its first use (only the interior is ever written, so the
 * padding stays zero across planes of the same geometry), then runs every output channel that reads that plane with
 * its kh*kw weights (OIHW order, as stored), bias and the tap table of jn_k_dw_taps. */
enum { JN_K_DW_MAX_TAPS = 1024 };
typedef struct jn_k_dw {
    int isa;                    /* the level to run at (jn_k_isa()); no packed state depends on it */
    int64_t H, W;               /* input plane */
    int64_t kh, kw, sh, sw, dh, dw; /* kernel, strides, dilations */
    int64_t pt, pl, pb, pr;     /* zero padding: top, left, bottom, right */
    int64_t OH, OW;             /* output plane */
    bool relu, hswish;          /* the activation after the bias: Relu, HardSwish (x * clamp(x / 6 + 1/2, 0, 1)) */
} jn_k_dw;
bool jn_k_dw_valid(const jn_k_dw *d);
size_t jn_k_dw_scratch_floats(const jn_k_dw *d);
void jn_k_dw_pad(const jn_k_dw *d, const float *x, float *buf);
/* The buffer offset of each of the kh*kw taps (row-major), into `offs` (JN_K_DW_MAX_TAPS entries suffice): once
 * per geometry, for every jn_k_dw_run with it. */
void jn_k_dw_taps(const jn_k_dw *d, int32_t *offs);
void jn_k_dw_run(const jn_k_dw *d, const float *buf, const int32_t *offs, const float *w, float bias, float *y);

/* ---- dense product (gemm_direct.c) ----------------------------------------------------------------------------
 * y [M, N] = x [M, K] . w [K, N] (+ bias [N]) (+ Relu), row-major, with w packed once (jn_k_gemm_pack) into
 * column panels of the level's tile width. jn_k_gemm_fits says whether a product is one the kernel is faster
 * for than OpenBLAS (measured, see gemm_direct.c); any shape computes correctly. scratch holds
 * jn_k_gemm_scratch_floats(isa, M, K) floats (NULL when that is 0). */
bool jn_k_gemm_fits(int64_t M, int64_t N, int64_t K);
size_t jn_k_gemm_packed_floats(int isa, int64_t N, int64_t K);
/* w is [K, N] row-major, or with trans [N, K] (a dense layer's [out, in] weights). */
void jn_k_gemm_pack(int isa, const float *w, int64_t K, int64_t N, bool trans, float *wp);
size_t jn_k_gemm_scratch_floats(int isa, int64_t M, int64_t K);
void jn_k_gemm(int isa, int64_t M, int64_t N, int64_t K, const float *x, const float *wp, const float *bias,
               bool relu, float *y, float *scratch);

/* ---- sparse rows times dense (gemm_direct.c) ------------------------------------------------------------------
 * y [N] = bias [N] (or 0 when NULL) + sum over i < nnz of val[i] * w[idx[i]][0..N), w row-major [*, N]: a dense
 * layer whose input is a sparse vector (the text classifier's hashed features; a dense input row with zeros
 * skipped when idx is NULL: then idx = 0..nnz-1 and val is the row). A skipped zero input contributes nothing even
 * where its weight row holds an infinity or NaN (sgemm would give NaN there). */
void jn_k_sparse_dense(int64_t N, int64_t nnz, const uint32_t *idx, const float *val, const float *w,
                       const float *bias, float *y);

/* ---- integer product (gemm_u8s8.c) ---------------------------------------------------------------------------
 * c [M, N] (int32, row stride ldc) = a [M, K] . b [K, N], a 8-bit rows lda bytes apart, b packed once with
 * jn_k_qgemm_pack into jn_k_qgemm_packed_bytes(isa, N, K) bytes for the level it runs at. No zero points: the
 * caller corrects the raw sums with jn_k_qgemm_colsums / jn_k_qgemm_rowsums. Unsigned a and signed b are taken as
 * they are; signed a counts as a + 128 (unsigned) and unsigned b as b - 128 (signed), in the sums too, so a caller
 * with signed activations adds 128 to their zero point, one with unsigned weights subtracts 128 from theirs. Every
 * level returns the scalar loop's sums bit for bit (int32, wrapping). scratch: jn_k_qgemm_scratch_bytes(isa, K). */
size_t jn_k_qgemm_packed_bytes(int isa, int64_t N, int64_t K);
/* b is [K, N] row-major, or with trans [N, K] (a dense layer's [out, in] weights, a convolution's [M, C*kh*kw]). */
void jn_k_qgemm_pack(int isa, const void *b, bool b_signed, int64_t K, int64_t N, bool trans, void *bp);
/* sums[n] = sum over k of b (k, n), as the kernel sees it (unsigned b shifted by -128). */
void jn_k_qgemm_colsums(const void *b, bool b_signed, int64_t K, int64_t N, bool trans, int32_t *sums);
/* sums[m] = sum over k of a (m, k), as the kernel sees it (signed a shifted by +128). */
void jn_k_qgemm_rowsums(int64_t M, int64_t K, const uint8_t *a, bool a_signed, int64_t lda, int32_t *sums);
size_t jn_k_qgemm_scratch_bytes(int isa, int64_t K);
void jn_k_qgemm(int isa, int64_t M, int64_t N, int64_t K, const uint8_t *a, bool a_signed, int64_t lda,
                const void *bp, int32_t *c, int64_t ldc, void *scratch);
/* The same product with a packed once as well (a convolution's weights, the rows; b is then its im2col, packed
 * per call): jn_k_qgemm_apack converts a [M, K] (rows lda apart; signed a counts as a + 128) into
 * jn_k_qgemm_apack_bytes(isa, M, K) bytes for the level it runs at; jn_k_qgemm_ap needs no scratch. */
size_t jn_k_qgemm_apack_bytes(int isa, int64_t M, int64_t K);
void jn_k_qgemm_apack(int isa, const uint8_t *a, bool a_signed, int64_t lda, int64_t M, int64_t K, void *ap);
void jn_k_qgemm_ap(int isa, int64_t M, int64_t N, int64_t K, const void *ap, const void *bp, int32_t *c, int64_t ldc);
/* ---- 7-bit rows (gemm_s7u8.c) ---------------------------------------------------------------------------------
 * The product jn_k_qgemm_ap computes (same sums, bit for bit, same conventions for signed/unsigned operands), for
 * rows whose every value, as the kernel sees it minus 128, lies in [-64, 64] (signed weights in [-64, 64],
 * unsigned ones in [64, 192]: `junction quantize`'s default 7-bit weights): AVX2 then uses vpmaddubsw, which
 * cannot saturate on such values. jn_k_qgemm_rows_fit7 says whether a [M, K] (rows lda apart) qualifies; rows
 * packed by jn_k_qgemm7_apack into jn_k_qgemm7_apack_bytes(M, K), the columns b [K, N] (row-major, an im2col) by
 * jn_k_qgemm7_pack into jn_k_qgemm7_packed_bytes(N, K) (both layouts the same at every level). jn_k_qgemm7_ap
 * writes c and, when bsum is not NULL, bsum[n] = sum over k of b (k, n) as the kernel sees it (unsigned b shifted
 * by -128): what a row of ones would give. */
bool jn_k_qgemm_rows_fit7(const uint8_t *a, bool a_signed, int64_t lda, int64_t M, int64_t K);
size_t jn_k_qgemm7_apack_bytes(int64_t M, int64_t K);
void jn_k_qgemm7_apack(const uint8_t *a, bool a_signed, int64_t lda, int64_t M, int64_t K, void *ap);
size_t jn_k_qgemm7_packed_bytes(int64_t N, int64_t K);
void jn_k_qgemm7_pack(int isa, const uint8_t *b, bool b_signed, int64_t K, int64_t N, void *bp);
void jn_k_qgemm7_ap(int isa, int64_t M, int64_t N, int64_t K, const void *ap, const void *bp, int32_t *c,
                    int64_t ldc, int32_t *bsum);
/* Requantization of n sums into 8 bits: y[i] = round_half_even(clamp(acc * mult + yz, lo, hi)) with
 * acc = c[i] - za * xsum[i] + cst in wrapping 32-bit arithmetic, computed in double (mul, then add: no FMA); lo and
 * hi are integers within the output type's range, is_signed says which (INT8 stored as its bit pattern). Every
 * level gives the same bits. */
void jn_k_requant(int isa, int64_t n, const int32_t *c, const int32_t *xsum, uint32_t za, uint32_t cst,
                  double mult, double yz, double lo, double hi, bool is_signed, uint8_t *y);
/* Quantization of n floats into 8 bits (QuantizeLinear per tensor): y[i] = saturate(round_half_even(x[i] / scale)
 * + zp), the quotient in FP32 as ONNX defines it, NaN quantized as 0 (then zp); zp within the output type's range,
 * is_signed says which (INT8 stored as its bit pattern). Every level gives the same bits. */
void jn_k_quantize8(int isa, int64_t n, const float *x, float scale, int32_t zp, bool is_signed, uint8_t *y);
/* The 2x2/2 max pooling of one plane [H][W] of the sums jn_k_requant takes, before requantizing: y [H/2][W/2]
 * (an odd last row or column dropped) = the max over each window of acc = c[i] - za * xsum[i] + cst (wrapping
 * 32-bit, as int32); hm is scratch. Requantization with a multiplier >= 0 is monotone, so requantizing the pooled
 * sums (jn_k_requant with za = 0, cst = 0) gives the pooled requantized values, with a quarter of the work. Every
 * level gives the same values. */
void jn_k_qpool2_acc(int isa, int64_t H, int64_t W, const int32_t *c, const int32_t *xsum, uint32_t za, uint32_t cst,
                     int32_t *hm, int32_t *y);
/* The int32 counts jn_k_qpool2_acc's scratch hm and its output y must hold (both have 8 to spare: the vector loop
 * runs past the end of a pooled row). */
#define JN_K_QPOOL2_HM(H, W) ((size_t)((H) / 2 * (W)) + 8)
#define JN_K_QPOOL2_Y(H, W) ((size_t)((H) / 2 * ((W) / 2)) + 8)
/* 2x2 max pooling, stride 2, no padding, of `planes` planes [H][W] of 8-bit values (is_signed: INT8's bit patterns)
 * into [H/2][W/2] each (an odd last row or column dropped). The same bytes on every CPU. */
void jn_k_maxpool2_8(int64_t planes, int64_t H, int64_t W, bool is_signed, const uint8_t *x, uint8_t *y);
/* The kernel that runs at `isa`: "avx512vnni" (AVX-512 with VNNI), "avx2" (AVX2, or AVX-512 without VNNI),
 * "scalar". */
const char *jn_k_qgemm_kernel(int isa);

#endif
