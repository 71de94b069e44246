/* test_conv_kernels.c — the depthwise kernel (kernels/conv_dw.c) and the strided direct convolution
 * (kernels/conv_direct.c at stride > 1), directly and through the ONNX Conv operator (adapters/onnx/ops_conv.c,
 * ops_nn.c), against a plain double-precision reference convolution written here from the ONNX definition (NCHW,
 * OIHW, groups, strides, dilations, zero pads). Many random shapes: odd sizes, 1x1 to 7x7 kernels, asymmetric
 * pads, strides 1 to 3, dilation 1 and 2, channel counts that are not multiples of 8, channel multipliers, batch
 * > 1, bias or none, the fused Relu or HardSwish; at every instruction-set level the CPU has (jn_k_isa_forced), so
 * JUNCTION_ISA=sse2 and avx2 are both covered in one run. Outputs are poisoned with NaN first, so an element a
 * kernel forgets to write fails; the direct kernel's padded buffer is filled with NaN before it is prepared, so a
 * float it reads that nothing wrote fails too. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"
#include "test.h"

typedef struct shape {
    int64_t N, C, M, group, H, W, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, OH, OW;
} shape;

static float frand(void)
{
    return (float)rand() / (float)RAND_MAX - 0.5f;
}

static float *random_floats(int64_t n)
{
    float *v = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    for (int64_t i = 0; i < n; i++)
        v[i] = frand();
    return v;
}

static int64_t irand(int64_t lo, int64_t hi)
{
    return lo + rand() % (hi - lo + 1);
}

/* The activation fused after the bias. */
enum { ACT_NONE, ACT_RELU, ACT_HSWISH };

/* y [N][M][OH][OW] in double, from the ONNX definition (HardSwish: x * max(0, min(1, x / 6 + 1/2))). */
static double *ref_conv(const shape *s, const float *x, const float *w, const float *b, int act)
{
    int64_t Cg = s->C / s->group, Mg = s->M / s->group;
    double *y = malloc((size_t)(s->N * s->M * s->OH * s->OW) * sizeof(double));
    for (int64_t n = 0; n < s->N; n++)
        for (int64_t m = 0; m < s->M; m++)
            for (int64_t oy = 0; oy < s->OH; oy++)
                for (int64_t ox = 0; ox < s->OW; ox++) {
                    double acc = b ? b[m] : 0.0;
                    int64_t g = m / Mg;
                    for (int64_t c = 0; c < Cg; c++)
                        for (int64_t ky = 0; ky < s->kh; ky++)
                            for (int64_t kx = 0; kx < s->kw; kx++) {
                                int64_t iy = oy * s->sh - s->pt + ky * s->dh, ix = ox * s->sw - s->pl + kx * s->dw;
                                if (iy < 0 || iy >= s->H || ix < 0 || ix >= s->W)
                                    continue;
                                acc += (double)x[((n * s->C + g * Cg + c) * s->H + iy) * s->W + ix] *
                                       w[((m * Cg + c) * s->kh + ky) * s->kw + kx];
                            }
                    if (act == ACT_RELU && !(acc > 0))
                        acc = 0.0;
                    if (act == ACT_HSWISH)
                        acc *= fmax(0.0, fmin(1.0, acc / 6.0 + 0.5));
                    y[((n * s->M + m) * s->OH + oy) * s->OW + ox] = acc;
                }
    return y;
}

/* Compares y with the reference; returns the number of bad elements (the first few printed). */
static int64_t compare(const char *what, const shape *s, const float *y, const double *want, int isa)
{
    int64_t count = s->N * s->M * s->OH * s->OW, bad = 0;
    for (int64_t i = 0; i < count; i++)
        if (!(fabs(y[i] - want[i]) <= 1e-5 + 1e-4 * fabs(want[i])) && bad++ < 3)
            fprintf(stderr,
                    "%s isa %d: N %lld C %lld M %lld group %lld %lldx%lld k %lldx%lld s %lld,%lld d %lld,%lld pads "
                    "%lld %lld %lld %lld: y[%lld] %g, want %g\n",
                    what, isa, (long long)s->N, (long long)s->C, (long long)s->M, (long long)s->group,
                    (long long)s->H, (long long)s->W, (long long)s->kh, (long long)s->kw, (long long)s->sh,
                    (long long)s->sw, (long long)s->dh, (long long)s->dw, (long long)s->pt, (long long)s->pl,
                    (long long)s->pb, (long long)s->pr, (long long)i, (double)y[i], want[i]);
    return bad;
}

/* A random geometry with a valid output; `dense`: group 1 (or 2) with several input channels, else depthwise. */
static void random_shape(shape *s, bool dense)
{
    do {
        s->kh = irand(1, 7);
        s->kw = rand() % 4 ? s->kh : irand(1, 7);
        s->sh = irand(1, 3);
        s->sw = rand() % 4 ? s->sh : irand(1, 3);
        s->dh = rand() % 4 ? 1 : 2;
        s->dw = rand() % 4 ? s->dh : irand(1, 2);
        s->H = irand(1, dense ? 23 : 37); /* dense ones smaller: the double reference dominates under ASan */
        s->W = irand(1, dense ? 29 : 45);
        s->pt = irand(0, s->kh - 1);
        s->pb = irand(0, s->kh - 1);
        s->pl = irand(0, s->kw - 1);
        s->pr = irand(0, s->kw - 1);
        s->OH = (s->H + s->pt + s->pb - ((s->kh - 1) * s->dh + 1));
        s->OW = (s->W + s->pl + s->pr - ((s->kw - 1) * s->dw + 1));
    } while (s->OH < 0 || s->OW < 0);
    s->OH = s->OH / s->sh + 1;
    s->OW = s->OW / s->sw + 1;
    s->N = irand(1, 3);
    if (dense) {
        s->group = rand() % 4 ? 1 : 2;
        s->C = s->group * irand(1, 13);
        s->M = s->group * irand(1, 21);
    } else {
        static const int64_t chans[] = {2, 3, 7, 8, 13, 17};
        s->C = s->group = chans[rand() % 6];
        s->M = s->C * (rand() % 4 ? 1 : 2);
    }
}

/* The kernel on its own: every image and output channel through jn_k_dw_pad / jn_k_dw_run. */
static void check_dw_kernel(int isa, const shape *s, bool with_bias, int act)
{
    jn_k_dw d = {.isa = isa, .H = s->H, .W = s->W, .kh = s->kh, .kw = s->kw, .sh = s->sh, .sw = s->sw,
                 .dh = s->dh, .dw = s->dw, .pt = s->pt, .pl = s->pl, .pb = s->pb, .pr = s->pr, .OH = s->OH,
                 .OW = s->OW, .relu = act == ACT_RELU, .hswish = act == ACT_HSWISH};
    JN_REQUIRE(jn_k_dw_valid(&d));
    float *x = random_floats(s->N * s->C * s->H * s->W), *w = random_floats(s->M * s->kh * s->kw);
    float *b = with_bias ? random_floats(s->M) : NULL;
    int64_t count = s->N * s->M * s->OH * s->OW, mult = s->M / s->C;
    float *y = malloc((size_t)count * sizeof(float)), *buf = calloc(jn_k_dw_scratch_floats(&d), sizeof(float));
    for (int64_t i = 0; i < count; i++)
        y[i] = NAN;
    int32_t offs[JN_K_DW_MAX_TAPS];
    jn_k_dw_taps(&d, offs);
    for (int64_t n = 0; n < s->N; n++)
        for (int64_t c = 0; c < s->C; c++) {
            jn_k_dw_pad(&d, x + (n * s->C + c) * s->H * s->W, buf);
            for (int64_t j = 0; j < mult; j++) {
                int64_t m = c * mult + j;
                jn_k_dw_run(&d, buf, offs, w + m * s->kh * s->kw, b ? b[m] : 0.0f, y + (n * s->M + m) * s->OH * s->OW);
            }
        }
    double *want = ref_conv(s, x, w, b, act);
    JN_CHECK_INT_EQ(compare("jn_k_dw", s, y, want, isa), 0);
    free(x);
    free(w);
    free(b);
    free(y);
    free(buf);
    free(want);
}

static void test_dw_kernel(void)
{
    srand(21);
    for (int isa = JN_K_SSE2; isa <= jn_k_isa_cpu(); isa++) {
        srand(21);
        for (int i = 0; i < 300; i++) {
            shape s;
            random_shape(&s, false);
            check_dw_kernel(isa, &s, i % 4 != 0, i % 3);
        }
        /* MobileNetV3's layers: 3x3 and 5x5, stride 1 and 2, pads k/2, at their sizes. */
        static const int64_t mb[][4] = {{16, 112, 3, 2}, {72, 56, 3, 2}, {88, 28, 3, 1}, {96, 28, 5, 2},
                                        {240, 14, 5, 1}, {288, 14, 5, 2}, {576, 7, 5, 1}};
        for (size_t i = 0; i < sizeof mb / sizeof mb[0]; i++) {
            int64_t k = mb[i][2], st = mb[i][3];
            shape s = {.N = 2, .C = mb[i][0], .M = mb[i][0], .group = mb[i][0], .H = mb[i][1], .W = mb[i][1],
                       .kh = k, .kw = k, .sh = st, .sw = st, .dh = 1, .dw = 1, .pt = k / 2, .pl = k / 2,
                       .pb = k / 2, .pr = k / 2};
            s.OH = (s.H + 2 * (k / 2) - k) / st + 1;
            s.OW = s.OH;
            check_dw_kernel(isa, &s, true, (int)(i % 3));
        }
    }
}

/* The direct dense kernel on its own (dilation 1, one group), its padded buffer filled with NaN first: only
 * jn_k_conv_zero_pads and jn_k_conv_pad prepare it, as ops_nn.c does with malloc'd memory, so any float of the
 * planes or the tail that the kernel reads and neither of them wrote shows up as a NaN in y. */
static void check_direct_kernel(int isa, const shape *s, int act)
{
    int64_t K = s->C * s->kh * s->kw;
    jn_k_conv d = {.isa = isa, .C = s->C, .M = s->M, .kh = s->kh, .kw = s->kw, .sh = s->sh, .sw = s->sw,
                   .HP = s->H + s->pt + s->pb, .WP = s->W + s->pl + s->pr, .OH = s->OH, .OW = s->OW,
                   .relu = act == ACT_RELU, .hswish = act == ACT_HSWISH};
    float *x = random_floats(s->N * s->C * s->H * s->W), *w = random_floats(s->M * K), *b = random_floats(s->M);
    float *wp = malloc(jn_k_conv_packed_floats(isa, s->M, K) * sizeof(float));
    float *bp = malloc(jn_k_conv_bias_floats(isa, s->M) * sizeof(float));
    size_t xn = jn_k_conv_padded_floats(&d);
    float *xp = malloc(xn * sizeof(float));
    int64_t count = s->N * s->M * s->OH * s->OW;
    float *y = malloc((size_t)count * sizeof(float));
    for (size_t i = 0; i < xn; i++)
        xp[i] = NAN;
    for (int64_t i = 0; i < count; i++)
        y[i] = NAN;
    jn_k_conv_pack(isa, w, s->M, K, wp);
    jn_k_conv_pack_bias(isa, b, s->M, bp);
    d.w = wp;
    d.bias = bp;
    jn_k_conv_zero_pads(&d, s->H, s->W, s->pt, s->pl, xp);
    for (int64_t n = 0; n < s->N; n++) {
        jn_k_conv_pad(&d, x + n * s->C * s->H * s->W, s->H, s->W, s->pt, s->pl, xp);
        jn_k_conv_run(&d, xp, y + n * s->M * s->OH * s->OW);
    }
    double *want = ref_conv(s, x, w, b, act);
    JN_CHECK_INT_EQ(compare("jn_k_conv", s, y, want, isa), 0);
    free(x);
    free(w);
    free(b);
    free(wp);
    free(bp);
    free(xp);
    free(y);
    free(want);
}

static void test_direct_kernel(void)
{
    for (int isa = JN_K_SSE2; isa <= jn_k_isa_cpu(); isa++) {
        srand(41);
        for (int i = 0; i < 200; i++) {
            shape s;
            do
                random_shape(&s, true);
            while (s.dh != 1 || s.dw != 1);
            s.group = 1;
            if (s.kh * s.kw * s.C < 2 || s.kh * s.kw * s.C > 1152)
                continue;
            check_direct_kernel(isa, &s, i % 3);
        }
        /* The two vision models' strided layers: the stems and DBNet's 16 -> 24 (channel-blocked tiles). */
        shape stem = {.N = 1, .C = 3, .M = 16, .group = 1, .H = 64, .W = 62, .kh = 3, .kw = 3, .sh = 2, .sw = 2,
                      .dh = 1, .dw = 1, .pt = 1, .pl = 1, .pb = 1, .pr = 1, .OH = 32, .OW = 31};
        check_direct_kernel(isa, &stem, ACT_HSWISH);
        shape s16 = {.N = 2, .C = 16, .M = 24, .group = 1, .H = 20, .W = 33, .kh = 3, .kw = 3, .sh = 2, .sw = 2,
                     .dh = 1, .dw = 1, .pt = 1, .pl = 1, .pb = 1, .pr = 1, .OH = 10, .OW = 17};
        check_direct_kernel(isa, &s16, ACT_RELU);
    }
}

/* Geometry the kernel cannot take is refused by jn_k_dw_valid, so callers fall back. */
static void test_dw_valid(void)
{
    jn_k_dw d = {.isa = JN_K_SSE2, .H = 5, .W = 5, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .dh = 1, .dw = 1,
                 .OH = 3, .OW = 3};
    JN_CHECK(jn_k_dw_valid(&d));
    d.OH = 4; /* a window past the padded input */
    JN_CHECK(!jn_k_dw_valid(&d));
    d.OH = 3;
    d.sw = 0;
    JN_CHECK(!jn_k_dw_valid(&d));
    d.sw = 1;
    d.pl = -1;
    JN_CHECK(!jn_k_dw_valid(&d));
    d.pl = 0;
    d.kh = d.kw = 40; /* 1600 taps > JN_K_DW_MAX_TAPS */
    d.H = d.W = 40;
    d.OH = d.OW = 1;
    JN_CHECK(!jn_k_dw_valid(&d));
}

/* The Conv operator on shape s (2-D), with the direct paths on or off (ox_conv_direct_enabled). */
static float *run_conv_op(const shape *s, const float *x, const float *w, const float *b, int act, bool direct)
{
    int64_t pads[4] = {s->pt, s->pl, s->pb, s->pr}, strides[2] = {s->sh, s->sw}, dil[2] = {s->dh, s->dw};
    ox_attr attrs[4] = {{.name = "strides", .type = OX_ATTR_INTS, .ints = strides, .n = 2},
                        {.name = "dilations", .type = OX_ATTR_INTS, .ints = dil, .n = 2},
                        {.name = "group", .type = OX_ATTR_INT, .i = s->group},
                        {.name = "pads", .type = OX_ATTR_INTS, .ints = pads, .n = 4}};
    int in_idx[3] = {0, 1, b ? 2 : -1}, out_idx[1] = {3};
    ox_node n = {.op = ox_op_find("Conv"), .op_type = "Conv", .name = "conv", .n_in = b ? 3 : 2, .n_out = 1,
                 .in = in_idx, .out = out_idx, .attrs = attrs, .n_attrs = 4, .opset = 13, .relu_after = act == ACT_RELU,
                 .hswish_after = act == ACT_HSWISH};
    ox_tensor xt = {.dtype = JN_DTYPE_FP32, .ndim = 4, .shape = {s->N, s->C, s->H, s->W}, .data = (void *)x};
    ox_tensor wt = {.dtype = JN_DTYPE_FP32, .ndim = 4, .shape = {s->M, s->C / s->group, s->kh, s->kw},
                    .data = (void *)w};
    ox_tensor bt = {.dtype = JN_DTYPE_FP32, .ndim = 1, .shape = {s->M}, .data = (void *)b}, yt;
    ox_tensor *in[3] = {&xt, &wt, b ? &bt : NULL}, *out[1] = {&yt};
    jn_err err;
    jn_err_clear(&err);
    memset(&yt, 0, sizeof yt);
    JN_REQUIRE(n.op != NULL);
    JN_REQUIRE(n.op->shape(&n, in, out, &err) == 0);
    JN_CHECK_INT_EQ(yt.shape[2], s->OH);
    JN_CHECK_INT_EQ(yt.shape[3], s->OW);
    int64_t count = ox_count(&yt);
    float *y = malloc((size_t)(count > 0 ? count : 1) * sizeof(float));
    for (int64_t i = 0; i < count; i++)
        y[i] = NAN;
    yt.data = y;
    ox_conv_direct_enabled = direct;
    int rc = n.op->run(&n, in, out, &err);
    ox_conv_direct_enabled = true;
    if (rc)
        fprintf(stderr, "conv: %s\n", err.msg);
    JN_CHECK_INT_EQ(rc, 0);
    return y;
}

/* Depthwise and dense convolutions through the operator, both paths against the reference. */
static void test_conv_op(void)
{
    for (int isa = JN_K_SSE2; isa <= jn_k_isa_cpu(); isa++) {
        jn_k_isa_forced = isa;
        srand(31);
        for (int i = 0; i < 400; i++) {
            shape s;
            random_shape(&s, i % 2 == 1);
            int act = i % 3;
            bool with_bias = i % 5 != 0;
            float *x = random_floats(s.N * s.C * s.H * s.W), *w = random_floats(s.M * s.C / s.group * s.kh * s.kw);
            float *b = with_bias ? random_floats(s.M) : NULL;
            double *want = ref_conv(&s, x, w, b, act);
            for (int direct = 0; direct < 2; direct++) {
                float *y = run_conv_op(&s, x, w, b, act, direct);
                JN_CHECK_INT_EQ(compare(direct ? "Conv (direct)" : "Conv (generic)", &s, y, want, isa), 0);
                free(y);
            }
            free(x);
            free(w);
            free(b);
            free(want);
        }
    }
    jn_k_isa_forced = 0;
}

int main(void)
{
    JN_TEST_RUN(test_dw_valid);
    JN_TEST_RUN(test_dw_kernel);
    JN_TEST_RUN(test_direct_kernel);
    JN_TEST_RUN(test_conv_op);
    return JN_TEST_EXIT();
}
