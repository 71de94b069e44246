/* conv_direct.c — direct FP32 2-D convolution (stride 1, no dilation), optionally with the Relu and a 2x2/2
 * MaxPool that follow it, for ops_nn.c's Conv.
 *
 * Why: the generic path (im2col, then one sgemm per image) was the CNN benchmark's cost at batch 64. For its
 * first layer (K = 1x3x3 = 9) an sgemm is a poor fit, im2col copies rows of 28 or 14 floats, and the 3.2 MB of
 * conv1 activations went out to memory and back three times (bias+Relu, then MaxPool's passes). Measured on the
 * bench machine (2.6 GHz AVX-512 Xeon, one thread, median wall time; numbers in ops_nn.c's conv_direct_fits): the
 * whole bench CNN at batch 64 went from about 2800 us to about 1150 us, at batch 1 from 39 us to 20 us. The inner
 * loop now runs at about two 16-lane FMAs per cycle (perf annotate), the machine's peak.
 *
 * How: the input plane of one image (and group) is copied into a zero-padded buffer, so every tap is a plain
 * unaligned load with no bounds checks. Output is computed in tiles of 8 output channels x 2 output rows x 16
 * output columns: 16 vector accumulators (GCC vector extensions, 16 floats each: one AVX-512 register, two AVX2
 * ones). For every input channel and kernel tap, two row vectors are loaded and each is multiplied by 8
 * broadcast weights: 16 multiply-adds per 2 loads plus 8 broadcasts, so the loop is bound by arithmetic, not
 * memory. Weights are packed per call as [M/8][C*kh*kw][8] so a tap's 8 weights are adjacent. Bias seeds the
 * accumulators; Relu and the pooling run on the tile while it is in registers, so a fused Conv+Relu+MaxPool
 * writes only the pooled values.
 *
 * Lanes past the output width (the padded row continues into the next row or the slack) are computed and
 * discarded. The file is compiled with -ffp-contract=fast (CMakeLists.txt) so a*b+c becomes one FMA: results
 * differ from the sgemm path by float rounding only.
 */
#include <stdint.h>
#include <string.h>

#include "onnx_internal.h"

typedef float v16f __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));

#define OX_TILE_M 8  /* output channels per tile */
#define OX_TILE_W 16 /* output columns per tile (one v16f) */

/* max(v, 0) lane-wise, NaN -> 0 (as the fused Relu of the other kernels: v > 0 ? v : 0). */
#define RELU(v) ((v16f)((v16i)(v) & ((v) > (v16f){0})))
/* The lane-wise larger of a and b (neither NaN: both went through RELU). */
#define VMAX(a, b) ((v16f)(((v16i)(a) & ((a) > (b))) | ((v16i)(b) & ~((a) > (b)))))

size_t ox_conv_direct_packed_floats(int64_t M, int64_t K)
{
    return (size_t)((M + OX_TILE_M - 1) / OX_TILE_M * OX_TILE_M * K);
}

void ox_conv_direct_pack(const float *w, const float *bias, int64_t M, int64_t K, float *wp, float *bp)
{
    int64_t blocks = (M + OX_TILE_M - 1) / OX_TILE_M;
    for (int64_t b = 0; b < blocks; b++)
        for (int64_t k = 0; k < K; k++)
            for (int64_t o = 0; o < OX_TILE_M; o++) {
                int64_t m = b * OX_TILE_M + o;
                wp[(b * K + k) * OX_TILE_M + o] = m < M ? w[m * K + k] : 0.0f;
            }
    for (int64_t m = 0; m < blocks * OX_TILE_M; m++)
        bp[m] = bias && m < M ? bias[m] : 0.0f;
}

size_t ox_conv_direct_padded_floats(const ox_conv_direct *d)
{
    /* One spare row per channel (the second row of a tile when OH is odd) and a tail for the last tile's lanes
     * beyond the row. */
    return (size_t)(d->C * (d->HP + 1) * d->WP + 2 * OX_TILE_W);
}

void ox_conv_direct_pad(const ox_conv_direct *d, const float *x, int64_t H, int64_t W, int64_t pt, int64_t pl,
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

/* The tile loop. xp: the padded input (ox_conv_direct_pad; pads and tail zero); y: [M][OH][OW], or with pool
 * [M][OH/2][OW/2]. */
OX_HOT void ox_conv_direct_run(const ox_conv_direct *d, const float *xp, float *y)
{
    const int64_t K = d->C * d->kh * d->kw, plane = (d->HP + 1) * d->WP, WP = d->WP;
    const int64_t OH = d->OH, OW = d->OW, PH = OH / 2, PW = OW / 2;
    const int64_t rows = d->pool ? 2 * PH : OH;
    for (int64_t mb = 0; mb < d->M; mb += OX_TILE_M) {
        const int64_t mc = d->M - mb < OX_TILE_M ? d->M - mb : OX_TILE_M;
        const float *wb = d->w + mb * K;
        for (int64_t oy = 0; oy < rows; oy += 2)
            for (int64_t x0 = 0; x0 < OW; x0 += OX_TILE_W) {
                v16f a0[OX_TILE_M], a1[OX_TILE_M];
#pragma GCC unroll 8
                for (int o = 0; o < OX_TILE_M; o++)
                    a0[o] = a1[o] = (v16f){0} + d->bias[mb + o];
                const float *wk = wb;
                for (int64_t c = 0; c < d->C; c++)
                    for (int64_t ky = 0; ky < d->kh; ky++) {
                        const float *r0 = xp + c * plane + (oy + ky) * WP + x0;
                        for (int64_t kx = 0; kx < d->kw; kx++, wk += OX_TILE_M) {
                            v16f v0, v1;
                            memcpy(&v0, r0 + kx, sizeof v0);
                            memcpy(&v1, r0 + WP + kx, sizeof v1);
#pragma GCC unroll 8
                            for (int o = 0; o < OX_TILE_M; o++) {
                                a0[o] += wk[o] * v0;
                                a1[o] += wk[o] * v1;
                            }
                        }
                    }
                /* Epilogue: through a stack tile, so the accumulators are only ever indexed by constants (a
                 * variable index would keep them in memory for the whole loop above). */
                float t0[OX_TILE_M][OX_TILE_W], t1[OX_TILE_M][OX_TILE_W];
                const int64_t cnt = OW - x0 < OX_TILE_W ? OW - x0 : OX_TILE_W;
                if (d->pool) {
#pragma GCC unroll 8
                    for (int o = 0; o < OX_TILE_M; o++) {
                        v16f p = RELU(a0[o]), q = RELU(a1[o]);
                        v16f mx = VMAX(p, q);
                        memcpy(t0[o], &mx, sizeof mx);
                    }
                    const int64_t pc = cnt / 2;
                    for (int64_t o = 0; o < mc; o++) {
                        float *dst = y + ((mb + o) * PH + oy / 2) * PW + x0 / 2;
                        for (int64_t i = 0; i < pc; i++)
                            dst[i] = t0[o][2 * i] > t0[o][2 * i + 1] ? t0[o][2 * i] : t0[o][2 * i + 1];
                    }
                    continue;
                }
                const bool full = cnt == OX_TILE_W && mc == OX_TILE_M, second = oy + 1 < OH;
#pragma GCC unroll 8
                for (int o = 0; o < OX_TILE_M; o++) {
                    v16f p = d->relu ? RELU(a0[o]) : a0[o], q = d->relu ? RELU(a1[o]) : a1[o];
                    float *dst = y + ((mb + o) * OH + oy) * OW + x0;
                    if (full) { /* whole vectors straight out */
                        memcpy(dst, &p, sizeof p);
                        if (second)
                            memcpy(dst + OW, &q, sizeof q);
                    } else {
                        memcpy(t0[o], &p, sizeof p);
                        memcpy(t1[o], &q, sizeof q);
                    }
                }
                if (!full)
                    for (int64_t o = 0; o < mc; o++) {
                        float *dst = y + ((mb + o) * OH + oy) * OW + x0;
                        copy_short(dst, t0[o], cnt);
                        if (second)
                            copy_short(dst + OW, t1[o], cnt);
                    }
            }
    }
}
