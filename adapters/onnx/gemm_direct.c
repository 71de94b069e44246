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
 * How: tiles of 8 rows x 32 columns, 16 vector accumulators (GCC vector extensions, 16 floats: one AVX-512
 * register, two AVX2 ones). For every k, two vectors of w's row k and 8 broadcast values of x's column k: 16
 * multiply-adds per 10 loads, bound by arithmetic. The row block of x (8 x K floats) stays in L1 while the tile
 * walks across w's columns. The bias seeds the accumulators, the Relu runs on them before the store. A last row
 * block of fewer than 8 rows, or a last panel of fewer than 32 columns, is first copied into a zero-padded scratch
 * buffer (ox_gemm_direct_scratch_floats), so the tile loop never reads outside its operands.
 *
 * Compiled with -ffp-contract=fast (CMakeLists.txt): results differ from sgemm's by float rounding only.
 */
#include <stdint.h>
#include <string.h>

#include "onnx_internal.h"

typedef float v16f __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));

#define TILE_M 8
#define TILE_N 32

#define RELU(v) ((v16f)((v16i)(v) & ((v) > (v16f){0})))

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

size_t ox_gemm_direct_scratch_floats(int64_t M, int64_t N, int64_t K)
{
    size_t n = 0;
    if (M % TILE_M)
        n += (size_t)(TILE_M * K);
    if (N % TILE_N)
        n += (size_t)(TILE_N * K + TILE_N);
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

/* One tile: rows [xb, xb + 8 rows of stride K), columns of wp (row stride ldw) [0, 32). Row k + 8 of w is
 * prefetched (measured about 4 % faster than without). */
#define TILE_LOOP(xb, wp, ldw)                                                                                   \
    for (int64_t k = 0; k < K; k++) {                                                                          \
        v16f w0, w1;                                                                                           \
        memcpy(&w0, (wp) + k * (ldw), sizeof w0);                                                              \
        memcpy(&w1, (wp) + k * (ldw) + 16, sizeof w1);                                                         \
        __builtin_prefetch((wp) + (k + 8) * (ldw));                                                            \
        __builtin_prefetch((wp) + (k + 8) * (ldw) + 16);                                                       \
        _Pragma("GCC unroll 8") for (int o = 0; o < TILE_M; o++)                                               \
        {                                                                                                      \
            float xv = (xb)[o * K + k];                                                                        \
            a[o][0] += xv * w0;                                                                                \
            a[o][1] += xv * w1;                                                                                \
        }                                                                                                      \
    }

OX_HOT void ox_gemm_direct(int64_t M, int64_t N, int64_t K, const float *x, const float *w, const float *bias,
                           bool relu, float *y, float *scratch)
{
    float *xtail = scratch, *wtail = scratch + (M % TILE_M ? TILE_M * K : 0), *btail = wtail + TILE_N * K;
    const int64_t nfull = N / TILE_N * TILE_N;
    if (N % TILE_N) { /* the last columns, zero-padded to a whole panel, and their bias */
        const int64_t nc = N - nfull;
        for (int64_t k = 0; k < K; k++) {
            memset(wtail + k * TILE_N, 0, TILE_N * sizeof(float));
            memcpy(wtail + k * TILE_N, w + k * N + nfull, (size_t)nc * sizeof(float));
        }
        memset(btail, 0, TILE_N * sizeof(float));
        if (bias)
            memcpy(btail, bias + nfull, (size_t)nc * sizeof(float));
    }
    for (int64_t m0 = 0; m0 < M; m0 += TILE_M) {
        const int64_t mc = M - m0 < TILE_M ? M - m0 : TILE_M;
        const float *xb = x + m0 * K;
        if (mc < TILE_M) { /* the last rows, zero-padded to a whole block */
            memset(xtail, 0, (size_t)(TILE_M * K) * sizeof(float));
            memcpy(xtail, xb, (size_t)(mc * K) * sizeof(float));
            xb = xtail;
        }
        for (int64_t n0 = 0; n0 < N; n0 += TILE_N) {
            const bool tail = n0 >= nfull;
            const int64_t nc = tail ? N - nfull : TILE_N;
            const float *b = tail ? btail : bias ? bias + n0 : NULL;
            v16f a[TILE_M][2], b0 = {0}, b1 = {0};
            if (b) {
                memcpy(&b0, b, sizeof b0);
                memcpy(&b1, b + 16, sizeof b1);
            }
#pragma GCC unroll 8
            for (int o = 0; o < TILE_M; o++) {
                a[o][0] = b0;
                a[o][1] = b1;
            }
            if (tail)
                TILE_LOOP(xb, wtail, TILE_N)
            else
                TILE_LOOP(xb, w + n0, N)
            if (relu) {
#pragma GCC unroll 8
                for (int o = 0; o < TILE_M; o++) {
                    a[o][0] = RELU(a[o][0]);
                    a[o][1] = RELU(a[o][1]);
                }
            }
            if (mc == TILE_M && nc == TILE_N) {
#pragma GCC unroll 8
                for (int o = 0; o < TILE_M; o++) {
                    memcpy(y + (m0 + o) * N + n0, &a[o][0], sizeof a[o][0]);
                    memcpy(y + (m0 + o) * N + n0 + 16, &a[o][1], sizeof a[o][1]);
                }
            } else {
                float t[TILE_M][TILE_N];
#pragma GCC unroll 8
                for (int o = 0; o < TILE_M; o++) {
                    memcpy(t[o], &a[o][0], sizeof a[o][0]);
                    memcpy(t[o] + 16, &a[o][1], sizeof a[o][1]);
                }
                for (int64_t o = 0; o < mc; o++)
                    copy_short(y + (m0 + o) * N + n0, t[o], nc);
            }
        }
    }
}
