/* gemm_direct.c — y = x . w (+ bias row) (+ Relu) for row-major FP32 operands whose right-hand side fits in L2,
 * for ops_nn.c's MatMul.
 *
 * Why: the bench MLP at batch 64 is one 64x784 . 784x256 product. OpenBLAS (0.3.21, SKYLAKEX kernels) takes
 * 190-210 us for it here, of which about 15 % is packing both operands into its panel layout on every call
 * (sgemm_itcopy, sgemm_oncopy in perf). ONNX Runtime packs its constant weights once at load and came out a few
 * per cent ahead of us. When w is at most 1 MB it stays in this machine's 2 MB L2 between the row blocks, so the
 * product can read it in place, with no packing at all: 177-186 us for that product, bias and Relu, the inner
 * loop at close to two 16-lane FMAs per cycle (perf annotate). Tried and dropped: splitting K into passes of 192
 * rows so a panel of w stays in L1 (190 us: the partial sums' round trips through y cost more than they save).
 *
 * How: tiles of TR rows x 2 vectors of columns (gemm_direct_tile.inc, GCC vector extensions), one instantiation
 * per instruction set picked at run time (ox_direct_isa): AVX-512 8 x 32 (16 zmm accumulators), AVX2+FMA
 * 6 x 16 (12 ymm), baseline SSE2 4 x 8 (8 xmm). For every k, two vectors of w's row k and TR broadcast values of
 * x's column k: 2 TR multiply-adds per TR + 2 loads, bound by arithmetic. The row block of x (TR x K floats)
 * stays in L1 while the tile walks across w's columns. The bias seeds the accumulators, the Relu runs on them
 * before the store. A last row block of fewer than TR rows, or a last panel of fewer than 2 vectors, is first
 * copied into a zero-padded scratch buffer (ox_gemm_direct_scratch_floats), so the tile loop never reads outside
 * its operands. With OpenBLAS forced to its Haswell (AVX2) kernels, the AVX2 instantiation takes 266 us against
 * sgemm's 270 for the bench product; SSE2 760 against 859 with OpenBLAS's Nehalem kernels.
 *
 * Compiled with -ffp-contract=fast (CMakeLists.txt): results differ from sgemm's by float rounding only.
 */
#include <stdint.h>
#include <string.h>

#include "direct_vec.h"
#include "onnx_internal.h"



/* Tile rows and columns of each instruction set's instantiation. */
static int64_t tile_rows(int isa)
{
    return isa >= 3 ? 8 : isa == 2 ? 6 : 4;
}

static int64_t tile_cols(int isa)
{
    return isa >= 3 ? 32 : isa == 2 ? 16 : 8;
}

/* Measured against cblas_sgemm (+ bias + Relu) on the bench machine, one thread: faster for M x N x K = 64x256x784
 * (177-186 vs 205-218 us), 16x256x784 (47 vs 80), 3, 5 and 6 x256x784 (20-29 vs 30-63), 256x256x784, 64x512x512,
 * 64x768x256, 1000x64x64 (56 vs 82), 32x128x128; equal within noise for 64x1024x256 and 64x1000x200; slower for
 * M = 2 and 4 (OpenBLAS has fast paths there: 21 vs 14 us), for N = 2048 (334 vs 308 us: w's rows stream from
 * L2 once per row block) and by a fraction of a microsecond for products of a few thousand multiply-adds. Hence:
 * M > 4, 16 <= N <= 1024, w at most 1 MB (L2 is 2 MB here). */
bool ox_gemm_direct_fits(int64_t M, int64_t N, int64_t K)
{
    return M > 4 && N >= 16 && N <= 1024 && K >= 1 && K * N <= (1 << 18);
}

size_t ox_gemm_direct_scratch_floats(int isa, int64_t M, int64_t N, int64_t K)
{
    int64_t tr = tile_rows(isa), tn = tile_cols(isa);
    size_t n = 0;
    if (M % tr)
        n += (size_t)(tr * K);
    if (N % tn)
        n += (size_t)(tn * K + tn);
    return n;
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
#define TILE_TARGET
#define VF v4f
#define VI v4i
#define VL 4
#define TR 4
#include "gemm_direct_tile.inc"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TILE_FN gemm_tiles_avx2
#define TILE_TARGET __attribute__((target("avx2,fma")))
#define VF v8f
#define VI v8i
#define VL 8
#define TR 6
#include "gemm_direct_tile.inc"

#define TILE_FN gemm_tiles_avx512
#define TILE_TARGET __attribute__((target("avx512f")))
#define VF v16f
#define VI v16i
#define VL 16
#define TR 8
#include "gemm_direct_tile.inc"
#endif

void ox_gemm_direct(int isa, int64_t M, int64_t N, int64_t K, const float *x, const float *w, const float *bias,
                    bool relu, float *y, float *scratch)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (isa >= 3) {
        gemm_tiles_avx512(M, N, K, x, w, bias, relu, y, scratch);
        return;
    }
    if (isa == 2) {
        gemm_tiles_avx2(M, N, K, x, w, bias, relu, y, scratch);
        return;
    }
#endif
    gemm_tiles_sse2(M, N, K, x, w, bias, relu, y, scratch);
}
