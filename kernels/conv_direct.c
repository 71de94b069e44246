/* conv_direct.c — direct FP32 2-D convolution (any stride, no dilation), optionally with the Relu (or a HardSwish)
 * and a 2x2/2 MaxPool that follow it, for ops_nn.c's Conv.
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
 * Below AVX-512, deep inputs (K = C*kh*kw >= 64, at least 2 vectors of output channels) take a second tile loop
 * instead (conv_direct_cb.inc): 6 output pixels x 2 vectors of output channels (12 of the 16 ymm registers as
 * accumulators, where the row tiles have 8: FMA latency is covered), every lane an output channel, so a 14-wide
 * map does not leave 2 of 16 lanes idle per row. Weights are then packed in groups of 2 vectors of channels.
 * Measured on an AMD EPYC (Zen 3, AVX2, no AVX-512; shared VM, one thread, CPU time): the bench CNN at batch 64
 * 2040-2080 us with the row tiles, 1870-1990 us with conv2 on the channel-blocked ones; fashion-cnn 10.6k -> 11.6k
 * images per CPU-second at batch 1, 12.6k -> 13.9k at batch 32. Their k loop then became one loop over a table of
 * tap offsets instead of nested loops over (c, ky, kx), which left the inner loop every 3 taps: the bench CNN's
 * conv2 alone 1410-1460 -> 1320-1360 us, the whole CNN at batch 64 1790-1930 -> 1710-1750 us (ten alternating
 * runs each). The same table in the row tiles made the 9-tap first layer slower (330 -> 341 us), so they keep the
 * nested loops. For the shallow first layers (K 9 and 25) the row
 * tiles stay faster: the channel-blocked epilogue writes each channel's value to its own plane, and with so few
 * multiply-adds per output that costs more than the row tiles' idle lanes (1930 vs 1890 us for the bench CNN).
 *
 * Strides (issue #15's MobileNetV3 stem and DBNet backbone, 3x3/2): the padded plane is stored in column phases
 * (padded column j at phase j % sw, position j / sw; conv_dw.c's layout and, at stride 2, its vectorized split),
 * so a tile's output columns still read consecutive floats; the row tiles have a separate strided instantiation
 * (the column of tap kx is stepped through the phases) so the stride-1 loops are unchanged, and the channel-blocked
 * tiles only see other offsets in their tap table. At stride 1 the layout is the plain padded plane.
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

/* The channel-blocked tiles (conv_direct_cb.inc): 2 vectors of output channels x 6 pixels; K up to CB_MAX_K (the
 * tap offset table is on the stack). */
enum { CB_NP = 6, CB_MAX_K = 2304 };

static int64_t cb_channels(int isa)
{
    return isa == JN_K_AVX2 ? 16 : 8;
}

/* Which tile loop a convolution takes, decided from the level and the shape alone (packing and running agree):
 * the channel-blocked one for deep inputs (K >= 64) with at least one whole block of output channels, below
 * AVX-512 (where the row tiles already run at the FMA peak; the channel-blocked loop has no AVX-512 instantiation).
 * Measured on an AMD EPYC (Zen 3, AVX2), one thread: see the file comment. */
static bool use_cb(int isa, int64_t M, int64_t K)
{
    return isa <= JN_K_AVX2 && K >= 64 && K <= CB_MAX_K && M >= cb_channels(isa);
}

/* Output channels per packed group: the tile's. */
static int64_t pack_group(int isa, int64_t M, int64_t K)
{
    return use_cb(isa, M, K) ? cb_channels(isa) : tile_m(isa);
}

/* Channel-blocked tiles: whole rows per chunk (even, whole row pairs when pooling), so a chunk's [pixels][CB]
 * buffer takes about a quarter of the L2. */
static int64_t cb_chunk_rows(const jn_k_conv *d)
{
    int64_t rows = d->pool ? d->OH / 2 * 2 : d->OH;
    int64_t fit = (int64_t)(jn_k_cache_l2() / 4 / sizeof(float)) / (d->OW * cb_channels(d->isa));
    fit = fit < 2 ? 2 : fit / 2 * 2;
    return fit < rows ? fit : rows;
}

/* Strides (0 counts as 1). */
static int64_t stride_h(const jn_k_conv *d)
{
    return d->sh > 1 ? d->sh : 1;
}

static int64_t stride_w(const jn_k_conv *d)
{
    return d->sw > 1 ? d->sw : 1;
}

/* The padded plane is stored in column phases (as conv_dw.c's): padded column j at phase j % sw, position j / sw,
 * each padded row as its sw phases of phase_len floats one after the other, so a tile's output columns read
 * consecutive floats at any stride. At stride 1 this is the plain padded plane. */
static int64_t phase_len(const jn_k_conv *d)
{
    return (d->WP + stride_w(d) - 1) / stride_w(d);
}

static int64_t row_stride(const jn_k_conv *d)
{
    return stride_w(d) * phase_len(d);
}

/* Floats per padded channel: its rows and sh spare rows (a tile's second output row when OH is odd reads up to
 * sh rows past the last one the convolution uses). */
static int64_t plane_floats(const jn_k_conv *d)
{
    return (d->HP + stride_h(d)) * row_stride(d);
}

/* Tap (c, ky, kx)'s offset from its output pixel's origin. */
static int64_t tap_offset(const jn_k_conv *d, int64_t c, int64_t ky, int64_t kx)
{
    return c * plane_floats(d) + ky * row_stride(d) + (kx % stride_w(d)) * phase_len(d) + kx / stride_w(d);
}

/* The buffer starts after the padded planes, their spare rows and the 32-float zero tail. */
static int64_t cb_buf_offset(const jn_k_conv *d)
{
    return d->C * plane_floats(d) + 32;
}

size_t jn_k_conv_packed_floats(int isa, int64_t M, int64_t K)
{
    int64_t g = pack_group(isa, M, K);
    return (size_t)((M + g - 1) / g * g * K);
}

void jn_k_conv_pack(int isa, const float *w, int64_t M, int64_t K, float *wp)
{
    int64_t tm = pack_group(isa, M, K), blocks = (M + tm - 1) / tm;
    for (int64_t b = 0; b < blocks; b++)
        for (int64_t k = 0; k < K; k++)
            for (int64_t o = 0; o < tm; o++) {
                int64_t m = b * tm + o;
                wp[(b * K + k) * tm + o] = m < M ? w[m * K + k] : 0.0f;
            }
}

/* Padded to 32 channels: enough for every tile's group. */
size_t jn_k_conv_bias_floats(int isa, int64_t M)
{
    (void)isa;
    return (size_t)((M + 31) / 32 * 32);
}

void jn_k_conv_pack_bias(int isa, const float *bias, int64_t M, float *bp)
{
    int64_t n = (int64_t)jn_k_conv_bias_floats(isa, M);
    for (int64_t m = 0; m < n; m++)
        bp[m] = bias && m < M ? bias[m] : 0.0f;
}

size_t jn_k_conv_padded_floats(const jn_k_conv *d)
{
    /* sh spare rows per channel (the second row of a tile when OH is odd) and a tail for the last tile's lanes
     * beyond the row (at most 16 lanes). */
    size_t n = (size_t)cb_buf_offset(d);
    if (use_cb(d->isa, d->M, d->C * d->kh * d->kw)) /* the channel-blocked tiles' buffer */
        n += (size_t)((cb_chunk_rows(d) * d->OW + CB_NP) * cb_channels(d->isa));
    return n;
}

void jn_k_conv_pad(const jn_k_conv *d, const float *x, int64_t H, int64_t W, int64_t pt, int64_t pl,
                        float *xp)
{
    const int64_t plane = plane_floats(d), RS = row_stride(d), Q = phase_len(d), sw = stride_w(d);
    for (int64_t c = 0; c < d->C; c++)
        for (int64_t i = 0; i < H; i++) {
            const float *src = x + (c * H + i) * W;
            float *row = xp + c * plane + (i + pt) * RS;
            if (sw == 1) {
                memcpy(row + pl, src, (size_t)W * sizeof(float));
                continue;
            }
            if (sw == 2) { /* the depthwise kernel's vectorized split into even and odd columns (same layout) */
                jn_k_dw dd = {.isa = d->isa, .H = 1, .W = W, .sh = 1, .sw = 2, .pl = pl, .pr = d->WP - W - pl};
                jn_k_dw_pad(&dd, src, row);
                continue;
            }
            for (int64_t p = 0; p < sw; p++) { /* input columns ix with (ix + pl) % sw == p */
                int64_t first = ((p - pl) % sw + sw) % sw;
                float *dst = row + p * Q + (first + pl) / sw;
                for (int64_t ix = first, k = 0; ix < W; ix += sw, k++)
                    dst[k] = src[ix];
            }
        }
}

void jn_k_conv_zero_pads(const jn_k_conv *d, int64_t H, int64_t W, int64_t pt, int64_t pl, float *xp)
{
    const int64_t plane = plane_floats(d), RS = row_stride(d), Q = phase_len(d), sw = stride_w(d);
    const int64_t rows = plane / RS;
    for (int64_t c = 0; c < d->C; c++) {
        float *pc = xp + c * plane;
        /* Rows above and below the input (and the spare rows) entirely. */
        memset(pc, 0, (size_t)(pt * RS) * sizeof(float));
        memset(pc + (pt + H) * RS, 0, (size_t)((rows - pt - H) * RS) * sizeof(float));
        /* In the input's rows, each phase's slots before and after the ones jn_k_conv_pad writes. */
        for (int64_t i = pt; i < pt + H; i++)
            for (int64_t p = 0; p < sw; p++) {
                float *ph = pc + i * RS + p * Q;
                int64_t first = ((p - pl) % sw + sw) % sw; /* the first input column of this phase */
                int64_t lo = (first + pl) / sw, n = first < W ? (W - first + sw - 1) / sw : 0;
                if (n == 0)
                    lo = 0;
                memset(ph, 0, (size_t)lo * sizeof(float));
                memset(ph + lo + n, 0, (size_t)(Q - lo - n) * sizeof(float));
            }
    }
    memset(xp + d->C * plane, 0, 32 * sizeof(float)); /* the tail the last tile's lanes may read */
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
#define TILE_STRIDED 0
#include "conv_direct_tile.inc"

#define TILE_FN conv_tiles_s_sse2
#define TILE_TARGET
#define VF v4f
#define VI v4i
#define VL 4
#define TM 4
#define TILE_STRIDED 1
#include "conv_direct_tile.inc"

#define TILE_FN conv_cb_sse2
#define TILE_TARGET
#define VF v4f
#define VI v4i
#define VL 4
#define NP CB_NP
#include "conv_direct_cb.inc"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TILE_FN conv_tiles_avx2
#define TILE_TARGET __attribute__((target("avx2,fma")))
#define VF v8f
#define VI v8i
#define VL 8
#define TM 4
#define TILE_STRIDED 0
#include "conv_direct_tile.inc"

#define TILE_FN conv_tiles_s_avx2
#define TILE_TARGET __attribute__((target("avx2,fma")))
#define VF v8f
#define VI v8i
#define VL 8
#define TM 4
#define TILE_STRIDED 1
#include "conv_direct_tile.inc"

#define TILE_FN conv_cb_avx2
#define TILE_TARGET __attribute__((target("avx2,fma")))
#define VF v8f
#define VI v8i
#define VL 8
#define NP CB_NP
#include "conv_direct_cb.inc"

#define TILE_FN conv_tiles_avx512
#define TILE_TARGET __attribute__((target("avx512f")))
#define VF v16f
#define VI v16i
#define VL 16
#define TM 8
#define TILE_STRIDED 0
#include "conv_direct_tile.inc"

#define TILE_FN conv_tiles_s_avx512
#define TILE_TARGET __attribute__((target("avx512f")))
#define VF v16f
#define VI v16i
#define VL 16
#define TM 8
#define TILE_STRIDED 1
#include "conv_direct_tile.inc"
#endif

void jn_k_conv_run(const jn_k_conv *d, float *xp, float *y)
{
    bool cb = use_cb(d->isa, d->M, d->C * d->kh * d->kw), strided = stride_w(d) > 1;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (cb && d->isa == JN_K_AVX2) {
        conv_cb_avx2(d, xp, y);
        return;
    }
    if (d->isa >= JN_K_AVX512) {
        (strided ? conv_tiles_s_avx512 : conv_tiles_avx512)(d, xp, y);
        return;
    }
    if (d->isa == JN_K_AVX2) {
        (strided ? conv_tiles_s_avx2 : conv_tiles_avx2)(d, xp, y);
        return;
    }
#endif
    if (cb)
        conv_cb_sse2(d, xp, y);
    else
        (strided ? conv_tiles_s_sse2 : conv_tiles_sse2)(d, xp, y);
}
