/* gemm_direct.c — y = x . w (+ bias row) (+ Relu) for row-major FP32 x and weights packed once into column
 * panels (jn_kernels.h); and the sparse-input variant jn_k_sparse_dense.
 *
 * Why: the bench MLP at batch 64 is one 64x784 . 784x256 product. OpenBLAS packs both operands into its panel
 * layout on every call (about 15 % of its time); ONNX Runtime packs constant weights once at load. The first
 * version of this kernel read w in place, which was fast where w (800 KB) stayed in a 2 MB L2 (AVX-512 Xeon), and
 * slow on an AMD EPYC (Zen 3) whose L2 is 512 KB: every row block streamed w from L3 again.
 *
 * How: w is packed at load into panels of TN = 2 vectors of columns, [N/TN][K][TN] (the last one zero-padded), so
 * a tile reads one contiguous stream. Tiles of TR rows x TN columns (gemm_direct_tile.inc, GCC vector
 * extensions), one instantiation per instruction set picked by the caller's isa: AVX-512 8 x 32 (16 of 32 zmm
 * accumulators), AVX2+FMA 6 x 16 (12 of 16 ymm: with the two w vectors and one broadcast, 15 in use; enough
 * independent FMAs to cover the 4-5 cycle FMA latency on two pipes), baseline SSE2 4 x 8 (8 of 16 xmm). For
 * every k: two vectors of the panel and TR broadcast values of x's column k, 2 TR multiply-adds. Loop order:
 * rows of x are taken in blocks of at most half the L2 (jn_k_cache_l2, read at run time), and inside a block
 * the panels are the outer loop: one panel (K x TN floats) is reused from L1/L2 by every row tile while the row
 * block stays in L2, whatever the size of w. The bias seeds the accumulators, the Relu runs on them before the
 * store. A last block of one or two rows (a batch of 1) goes row by row (ROW_FN: bound by loading w, where a
 * zero-padded tile would do TR times the arithmetic); a last block of 3 to TR-1 rows is first copied into a
 * zero-padded scratch buffer.
 *
 * Compiled with -ffp-contract=fast (CMakeLists.txt): results differ from sgemm's by float rounding only.
 */
#include <stdint.h>
#include <string.h>

#include "direct_vec.h"
#include "jn_kernels.h"

/* Tile rows and columns of each instruction set's instantiation. */
static int64_t tile_rows(int isa)
{
    return isa >= JN_K_AVX512 ? 8 : isa == JN_K_AVX2 ? 6 : 4;
}

static int64_t tile_cols(int isa)
{
    return isa >= JN_K_AVX512 ? 32 : isa == JN_K_AVX2 ? 16 : 8;
}

/* Where the direct product beats cblas_sgemm (+ bias + Relu), one thread. On the 2.6 GHz AVX-512 Xeon (2 MB L2):
 * faster for M x N x K = 64x256x784, 16x256x784, 3..6 x256x784, 256x256x784, 64x512x512, 64x768x256,
 * 1000x64x64, 32x128x128; equal within noise for 64x1024x256 and 64x1000x200; slower for M = 2 and 4 (OpenBLAS
 * has fast paths there) and for N = 2048. Hence M > 4, 16 <= N <= 1024 and, since the packed panels no longer
 * need w to stay in L2, K * N up to 4M floats (16 MB: beyond that the one-off packing at load is what it costs).
 * A narrow classifier head over a deep input (8 <= N < 16, K >= 1024) fits too, though its panel is zero-padded to
 * TN columns: the bench CNN's final Gemm (64x10x1568, B transposed) on an AMD EPYC (Zen 3, AVX2), one thread, CPU
 * time of Flatten + Gemm alone: 86-90 us through cblas_sgemm (which packs both operands per call), 48-63 us here.
 * The MLP's 64x10x256 was not measured faster, so it stays on sgemm. */
bool jn_k_gemm_fits(int64_t M, int64_t N, int64_t K)
{
    return M > 4 && (N >= 16 || (N >= 8 && K >= 1024)) && N <= 1024 && K >= 1 && K * N <= (1 << 22);
}

size_t jn_k_gemm_packed_floats(int isa, int64_t N, int64_t K)
{
    int64_t tn = tile_cols(isa);
    return (size_t)((N + tn - 1) / tn * tn * K);
}

void jn_k_gemm_pack(int isa, const float *w, int64_t K, int64_t N, bool trans, float *wp)
{
    int64_t tn = tile_cols(isa), panels = (N + tn - 1) / tn;
    for (int64_t p = 0; p < panels; p++)
        for (int64_t k = 0; k < K; k++) {
            float *dst = wp + (p * K + k) * tn;
            for (int64_t j = 0; j < tn; j++) {
                int64_t n = p * tn + j;
                dst[j] = n >= N ? 0.0f : trans ? w[n * K + k] : w[k * N + n];
            }
        }
}

size_t jn_k_gemm_scratch_floats(int isa, int64_t M, int64_t K)
{
    int64_t tr = tile_rows(isa);
    return M % tr ? (size_t)(tr * K) : 0;
}

/* Copies n <= 32 floats as fixed-size pieces (a plain loop would become a memcpy call, slow for short rows). */
static inline void copy_short(float *dst, const float *src, int64_t n)
{
    int64_t i = 0;
    for (; n - i >= 16; i += 16)
        memcpy(dst + i, src + i, 16 * sizeof(float));
    for (int64_t piece = 8; piece >= 1; piece /= 2)
        if (n - i >= piece) {
            memcpy(dst + i, src + i, (size_t)piece * sizeof(float));
            i += piece;
        }
}

#define TILE_FN gemm_tiles_sse2
#define ROW_FN gemm_row_sse2
#define TILE_TARGET
#define VF v4f
#define VI v4i
#define VL 4
#define TR 4
#include "gemm_direct_tile.inc"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TILE_FN gemm_tiles_avx2
#define ROW_FN gemm_row_avx2
#define TILE_TARGET __attribute__((target("avx2,fma")))
#define VF v8f
#define VI v8i
#define VL 8
#define TR 6
#include "gemm_direct_tile.inc"

#define TILE_FN gemm_tiles_avx512
#define ROW_FN gemm_row_avx512
#define TILE_TARGET __attribute__((target("avx512f")))
#define VF v16f
#define VI v16i
#define VL 16
#define TR 8
#include "gemm_direct_tile.inc"
#endif

void jn_k_gemm(int isa, int64_t M, int64_t N, int64_t K, const float *x, const float *wp, const float *bias,
               bool relu, float *y, float *scratch)
{
    /* Rows per block: the block of x takes at most half the L2, in whole tiles. */
    int64_t tr = tile_rows(isa), mcb = (int64_t)(jn_k_cache_l2() / 2 / sizeof(float)) / (K > 0 ? K : 1);
    mcb = mcb / tr * tr;
    if (mcb < tr)
        mcb = tr;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (isa >= JN_K_AVX512) {
        gemm_tiles_avx512(M, N, K, x, wp, bias, relu, y, scratch, mcb);
        return;
    }
    if (isa == JN_K_AVX2) {
        gemm_tiles_avx2(M, N, K, x, wp, bias, relu, y, scratch, mcb);
        return;
    }
#endif
    gemm_tiles_sse2(M, N, K, x, wp, bias, relu, y, scratch, mcb);
}

/* Row by row: for the text classifier's few classes (N of 2..10) the loop over N is short, so vectorizing it
 * buys little; what matters is touching only the nnz rows of w that the input uses. */
void jn_k_sparse_dense(int64_t N, int64_t nnz, const uint32_t *idx, const float *val, const float *w,
                       const float *bias, float *y)
{
    for (int64_t c = 0; c < N; c++)
        y[c] = bias ? bias[c] : 0.0f;
    for (int64_t i = 0; i < nnz; i++) {
        float v = val[i];
        if (!idx && v == 0.0f)
            continue;
        const float *row = w + (int64_t)(idx ? idx[i] : (uint32_t)i) * N;
        for (int64_t c = 0; c < N; c++)
            y[c] += v * row[c];
    }
}
