/* conv_direct.c — direct FP32 2-D convolution (stride 1, no dilation), optionally with the Relu and a 2x2/2
 * MaxPool that follow it, for ops_nn.c's Conv.
 *
 * Why: the generic path (im2col, then one sgemm per image) was the CNN benchmark's cost at batch 64. For its
 * first layer (K = 1x3x3 = 9) an sgemm is a poor fit, im2col copies rows of 28 or 14 floats, and the 3.2 MB of
 * conv1 activations went out to memory and back three times (bias+Relu, then MaxPool's passes). Measured on the
 * bench machine (2.6 GHz AVX-512 Xeon, one thread, median wall time; numbers in ops_nn.c's conv_direct_fits): the
 * whole bench CNN at batch 64 went from about 2800 us to about 1150 us, at batch 1 from 39 us to 20 us. The inner
 * loop now runs at about two 16-lane FMAs per cycle (perf annotate), the machine's peak. The other instantiations
 * on the same machine, against the generic path with OpenBLAS forced to matching kernels (OPENBLAS_CORETYPE), the
 * CNN at batch 64: AVX2 1960 vs 3550 us, SSE2 4920 vs 7200 us.
 *
 * How: the input plane of one image (and group) is copied into a zero-padded buffer, so every tap is a plain
 * unaligned load with no bounds checks. Output is computed in tiles of TM output channels x 2 output rows x VL
 * output columns (conv_direct_tile.inc, GCC vector extensions), one instantiation per instruction set, picked at
 * run time (jn_k_isa): AVX-512 8 x 2 x 16 (16 zmm accumulators), AVX2+FMA 4 x 2 x 8, baseline SSE2 4 x 2 x 4.
 * For every input channel and kernel tap, two row vectors are loaded and each is multiplied by TM broadcast
 * weights: 2 TM multiply-adds per 2 loads plus TM broadcasts, so the loop is bound by arithmetic, not memory.
 * Weights are packed once (the adapter at load, the CNN engine at load) as [M/TM][C*kh*kw][TM] so a tap's
 * weights are adjacent. Bias seeds the
 * accumulators; Relu and the pooling run on the tile while it is in registers, so a fused Conv+Relu+MaxPool
 * writes only the pooled values.
 *
 * Lanes past the output width (the padded row continues into the next row or the slack) are computed and
 * discarded. The file is compiled with -ffp-contract=fast (CMakeLists.txt) so a*b+c becomes one FMA: results
 * differ from the sgemm path by float rounding only.
 */
#include <stdint.h>
#include <string.h>

#include "direct_vec.h"
#include "jn_kernels.h"


/* The lane-wise larger of a and b (neither NaN: both went through RELU). */
#define VMAX(VI, a, b) ((__typeof__(a))(((VI)(a) & ((a) > (b))) | ((VI)(b) & ~((a) > (b)))))

static int64_t tile_m(int isa)
{
    return isa >= JN_K_AVX512 ? 8 : 4;
}

size_t jn_k_conv_packed_floats(int isa, int64_t M, int64_t K)
{
    int64_t tm = tile_m(isa);
    return (size_t)((M + tm - 1) / tm * tm * K);
}

void jn_k_conv_pack(int isa, const float *w, int64_t M, int64_t K, float *wp)
{
    int64_t tm = tile_m(isa), blocks = (M + tm - 1) / tm;
    for (int64_t b = 0; b < blocks; b++)
        for (int64_t k = 0; k < K; k++)
            for (int64_t o = 0; o < tm; o++) {
                int64_t m = b * tm + o;
                wp[(b * K + k) * tm + o] = m < M ? w[m * K + k] : 0.0f;
            }
}

size_t jn_k_conv_bias_floats(int isa, int64_t M)
{
    int64_t tm = tile_m(isa);
    return (size_t)((M + tm - 1) / tm * tm);
}

void jn_k_conv_pack_bias(int isa, const float *bias, int64_t M, float *bp)
{
    int64_t n = (int64_t)jn_k_conv_bias_floats(isa, M);
    for (int64_t m = 0; m < n; m++)
        bp[m] = bias && m < M ? bias[m] : 0.0f;
}

size_t jn_k_conv_padded_floats(const jn_k_conv *d)
{
    /* One spare row per channel (the second row of a tile when OH is odd) and a tail for the last tile's lanes
     * beyond the row (at most 16 lanes). */
    return (size_t)(d->C * (d->HP + 1) * d->WP + 32);
}

void jn_k_conv_pad(const jn_k_conv *d, const float *x, int64_t H, int64_t W, int64_t pt, int64_t pl,
                        float *xp)
{
    int64_t plane = (d->HP + 1) * d->WP;
    for (int64_t c = 0; c < d->C; c++)
        for (int64_t i = 0; i < H; i++)
            memcpy(xp + c * plane + (i + pt) * d->WP + pl, x + (c * H + i) * W, (size_t)W * sizeof(float));
}

/* Copies n <= 16 floats as fixed-size pieces: a plain loop here is turned into a memcpy call (rep movs), which
 * took half of conv1's time for its 12-column tiles. */
static inline void copy_short(float *dst, const float *src, int64_t n)
{
    int64_t i = 0;
    if (n & 16) {
        memcpy(dst, src, 16 * sizeof(float));
        return;
    }
    if (n & 8) {
        memcpy(dst, src, 8 * sizeof(float));
        i = 8;
    }
    if (n & 4) {
        memcpy(dst + i, src + i, 4 * sizeof(float));
        i += 4;
    }
    if (n & 2) {
        memcpy(dst + i, src + i, 2 * sizeof(float));
        i += 2;
    }
    if (n & 1)
        dst[i] = src[i];
}

#define TILE_FN conv_tiles_sse2
#define TILE_TARGET
#define VF v4f
#define VI v4i
#define VL 4
#define TM 4
#include "conv_direct_tile.inc"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TILE_FN conv_tiles_avx2
#define TILE_TARGET __attribute__((target("avx2,fma")))
#define VF v8f
#define VI v8i
#define VL 8
#define TM 4
#include "conv_direct_tile.inc"

#define TILE_FN conv_tiles_avx512
#define TILE_TARGET __attribute__((target("avx512f")))
#define VF v16f
#define VI v16i
#define VL 16
#define TM 8
#include "conv_direct_tile.inc"
#endif

void jn_k_conv_run(const jn_k_conv *d, const float *xp, float *y)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (d->isa >= JN_K_AVX512) {
        conv_tiles_avx512(d, xp, y);
        return;
    }
    if (d->isa == JN_K_AVX2) {
        conv_tiles_avx2(d, xp, y);
        return;
    }
#endif
    conv_tiles_sse2(d, xp, y);
}
