/* conv_dw.c — direct FP32 depthwise 2-D convolution (one input channel to one output channel: ONNX Conv with
 * group == input channels), any kernel size, stride and dilation, zero padding, bias and an optional Relu fused,
 * for the ONNX adapter's Conv (adapters/onnx/ops_conv.c).
 *
 * Why: im2col + one sgemm per group is the worst case of the generic path for a depthwise convolution: each group
 * is a 1-row product (M = 1, K = 9 or 25) whose im2col copies the plane kh*kw times, and the stride-1 direct
 * kernel (conv_direct.c) computes 4 output channels per tile, 3 of them discarded when a group has one. They were
 * most of MobileNetV3's time in bench/onnx.sh (measured figures in the commit and bench/README.md).
 *
 * How: the input plane is copied once into a zero-padded buffer split into column phases: padded column j goes to
 * phase j % stride_w, position j / stride_w, each padded row stored as its stride_w phases one after the other.
 * Output column x, tap kx then reads phase (kx*dil_w) % stride_w at x + (kx*dil_w) / stride_w: consecutive output
 * columns are consecutive floats at every stride, so the tile loop (conv_dw_tile.inc) does plain vector loads. One
 * table gives each tap's offset in the buffer. The weights need no packing (a channel's kh*kw taps are already
 * adjacent in OIHW). Instantiations: AVX2+FMA (8 lanes; also used at the AVX-512 level, where it was not measured
 * slower than a 16-lane one could be: no AVX-512 machine to measure on) and the SSE2 baseline (4 lanes). The file
 * is compiled with -ffp-contract=fast (CMakeLists.txt): results differ from the sgemm path by float rounding only.
 */
#include <stdint.h>
#include <string.h>

#include "direct_vec.h"
#include "jn_kernels.h"

#define JN_CAT_(a, b) a##b
#define JN_CAT(a, b) JN_CAT_(a, b)

/* Floats per phase row: enough for every padded column (and every output column's taps). */
static int64_t dw_phase_len(const jn_k_dw *d)
{
    return (d->W + d->pl + d->pr + d->sw - 1) / d->sw;
}

/* Floats per padded row (all its phases). */
static int64_t dw_row_stride(const jn_k_dw *d)
{
    return d->sw * dw_phase_len(d);
}

/* Padded rows: the input's and its pads, and at least every row an output row reads. */
static int64_t dw_rows(const jn_k_dw *d)
{
    int64_t hp = d->H + d->pt + d->pb, need = (d->OH - 1) * d->sh + (d->kh - 1) * d->dh + 1;
    return hp > need ? hp : need;
}

/* Past the last row: the last vector of a row may read up to 16 lanes beyond its phase row. */
enum { DW_TAIL = 32 };

bool jn_k_dw_valid(const jn_k_dw *d)
{
    return d->kh >= 1 && d->kw >= 1 && d->sh >= 1 && d->sw >= 1 && d->dh >= 1 && d->dw >= 1 && d->H >= 1 &&
           d->W >= 1 && d->pt >= 0 && d->pl >= 0 && d->pb >= 0 && d->pr >= 0 && d->OH >= 1 && d->OW >= 1 &&
           (d->OH - 1) * d->sh + (d->kh - 1) * d->dh < d->H + d->pt + d->pb &&
           (d->OW - 1) * d->sw + (d->kw - 1) * d->dw < d->W + d->pl + d->pr && d->kh * d->kw <= JN_K_DW_MAX_TAPS &&
           dw_rows(d) * dw_row_stride(d) < INT32_MAX / 2;
}

size_t jn_k_dw_scratch_floats(const jn_k_dw *d)
{
    return (size_t)(dw_rows(d) * dw_row_stride(d) + DW_TAIL);
}

/* Input row i into its padded row: one memcpy at stride 1; at stride 2 the even and odd columns split with
 * vector shuffles (conv_dw_tile.inc's pad function for the level), else one phase at a time. */
static void dw_pad_row_any(const jn_k_dw *d, const float *src, float *row)
{
    const int64_t Q = dw_phase_len(d), W = d->W, sw = d->sw;
    for (int64_t p = 0; p < sw; p++) {
        /* Input columns ix with (ix + pl) % sw == p, in order: ix = first, first + sw, ... */
        int64_t first = ((p - d->pl) % sw + sw) % sw;
        float *dst = row + p * Q + (first + d->pl) / sw;
        for (int64_t ix = first, k = 0; ix < W; ix += sw, k++)
            dst[k] = src[ix];
    }
}

#define TILE_FN dw_rows_sse2
#define PAD_FN dw_pad_sse2
#define TILE_TARGET
#define VF v4f
#define VI v4i
#define VL 4
#define EVEN_LANES 0, 2, 4, 6
#define ODD_LANES 1, 3, 5, 7
#include "conv_dw_tile.inc"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TILE_FN dw_rows_avx2
#define PAD_FN dw_pad_avx2
#define TILE_TARGET __attribute__((target("avx2,fma")))
#define VF v8f
#define VI v8i
#define VL 8
#define EVEN_LANES 0, 2, 4, 6, 8, 10, 12, 14
#define ODD_LANES 1, 3, 5, 7, 9, 11, 13, 15
#include "conv_dw_tile.inc"
#endif

void jn_k_dw_pad(const jn_k_dw *d, const float *x, float *buf)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (d->isa >= JN_K_AVX2) {
        dw_pad_avx2(d, x, buf);
        return;
    }
#endif
    dw_pad_sse2(d, x, buf);
}

void jn_k_dw_taps(const jn_k_dw *d, int32_t *offs)
{
    const int64_t Q = dw_phase_len(d), RS = dw_row_stride(d);
    /* Tap (ky, kx) reads padded column kx*dw: phase (kx*dw) % sw at (kx*dw) / sw, stepped without dividing. */
    for (int64_t ky = 0, k = 0; ky < d->kh; ky++)
        for (int64_t kx = 0, ph = 0, at = 0; kx < d->kw; kx++) {
            offs[k++] = (int32_t)(ky * d->dh * RS + ph * Q + at);
            ph += d->dw;
            while (ph >= d->sw) {
                ph -= d->sw;
                at++;
            }
        }
}

void jn_k_dw_run(const jn_k_dw *d, const float *buf, const int32_t *offs, const float *w, float bias, float *y)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (d->isa >= JN_K_AVX2) {
        dw_rows_avx2(d, buf, offs, w, bias, y);
        return;
    }
#endif
    dw_rows_sse2(d, buf, offs, w, bias, y);
}
