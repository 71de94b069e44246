/* test_direct_kernels.c — the direct product (gemm_direct.c) against a plain triple loop, and the direct
 * convolution kernel (conv_direct.c) against the generic im2col + sgemm path of
 * the Conv operator, on odd shapes: pads (asymmetric, SAME_UPPER), groups (depthwise too), channel counts and
 * widths that are not multiples of 8 or 16, odd heights, 1-D, with and without bias, the fused Relu and the fused
 * 2x2/2 MaxPool, strides (the column-phase layout; test_conv_kernels.c checks many more against a reference).
 * Shapes the direct kernel does not take (dilations, 1x1) must give the same results through both settings of the
 * switch too. Outputs are poisoned with NaN before each run, so an element a kernel
 * forgets to write fails the comparison. The built-in engines' forward passes, which run on the same kernels
 * (kernels/jn_kernels.h), are checked at every level too: the fashion-cnn CNN (serving and training forward, odd
 * architectures, one and two input channels) and the text classifier's sparse dense layer, against
 * double-precision loops written from the checkpoint layouts (NHWC, OHWI) independently of the kernels. */
#define _GNU_SOURCE /* sched_setaffinity */
#include <math.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"
#include "test.h"
#include "text/text.h"
#include "vision/cnn.h"

typedef struct conv_case {
    const char *label;
    int sd; /* spatial dims: 1 or 2 */
    int64_t N, C, H, W, M, kh, kw, group;
    int64_t pads[4]; /* 2-D: top, left, bottom, right; 1-D: left, right */
    int64_t stride, dilation;
    const char *auto_pad; /* NULL: NOTSET with pads */
} conv_case;

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

/* Runs the Conv op on the case with the direct kernel on or off; the output (malloc'd) and its shape. */
static float *run_conv(const conv_case *c, const float *x, const float *w, const float *b, bool relu, bool pool,
                       bool direct, ox_tensor *yt)
{
    int64_t pads[4], strides[2] = {c->stride, c->stride}, dil[2] = {c->dilation, c->dilation};
    int64_t group = c->group;
    size_t sd = (size_t)c->sd;
    memcpy(pads, c->pads, sizeof pads);
    ox_attr attrs[5];
    size_t na = 0;
    attrs[na++] = (ox_attr){.name = "strides", .type = OX_ATTR_INTS, .ints = strides, .n = sd};
    attrs[na++] = (ox_attr){.name = "dilations", .type = OX_ATTR_INTS, .ints = dil, .n = sd};
    attrs[na++] = (ox_attr){.name = "group", .type = OX_ATTR_INT, .i = group};
    if (c->auto_pad)
        attrs[na++] = (ox_attr){.name = "auto_pad", .type = OX_ATTR_STRING, .s = (char *)c->auto_pad};
    else
        attrs[na++] = (ox_attr){.name = "pads", .type = OX_ATTR_INTS, .ints = pads, .n = 2 * sd};
    int in_idx[3] = {0, 1, b ? 2 : -1}, out_idx[1] = {3};
    ox_node n = {.op = ox_op_find("Conv"),
                 .op_type = "Conv",
                 .name = (char *)c->label,
                 .n_in = b ? 3 : 2,
                 .n_out = 1,
                 .in = in_idx,
                 .out = out_idx,
                 .attrs = attrs,
                 .n_attrs = na,
                 .opset = 13,
                 .relu_after = relu,
                 .maxpool2_after = pool};
    ox_tensor xt = {.dtype = JN_DTYPE_FP32, .ndim = 2 + c->sd, .data = (void *)x};
    ox_tensor wt = {.dtype = JN_DTYPE_FP32, .ndim = 2 + c->sd, .data = (void *)w};
    ox_tensor bt = {.dtype = JN_DTYPE_FP32, .ndim = 1, .shape = {c->M}, .data = (void *)b};
    xt.shape[0] = c->N;
    xt.shape[1] = c->C;
    wt.shape[0] = c->M;
    wt.shape[1] = c->C / c->group;
    if (c->sd == 2) {
        xt.shape[2] = c->H;
        xt.shape[3] = c->W;
        wt.shape[2] = c->kh;
        wt.shape[3] = c->kw;
    } else {
        xt.shape[2] = c->W;
        wt.shape[2] = c->kw;
    }
    ox_tensor *in[3] = {&xt, &wt, b ? &bt : NULL}, *out[1] = {yt};
    jn_err err;
    jn_err_clear(&err);
    memset(yt, 0, sizeof *yt);
    JN_REQUIRE(n.op != NULL);
    JN_REQUIRE(n.op->shape(&n, in, out, &err) == 0);
    int64_t count = ox_count(yt);
    float *y = malloc((size_t)(count > 0 ? count : 1) * sizeof(float));
    for (int64_t i = 0; i < count; i++)
        y[i] = NAN;
    yt->data = y;
    ox_conv_direct_enabled = direct;
    int rc = n.op->run(&n, in, out, &err);
    ox_conv_direct_enabled = true;
    if (rc)
        fprintf(stderr, "%s: %s\n", c->label, err.msg);
    JN_CHECK_INT_EQ(rc, 0);
    return y;
}

static void compare(const conv_case *c, bool bias, bool relu, bool pool)
{
    int64_t Cg = c->C / c->group, taps = c->sd == 2 ? c->kh * c->kw : c->kw;
    float *x = random_floats(c->N * c->C * (c->sd == 2 ? c->H : 1) * c->W);
    float *w = random_floats(c->M * Cg * taps);
    float *b = bias ? random_floats(c->M) : NULL;
    ox_tensor yd, yg;
    float *d = run_conv(c, x, w, b, relu, pool, true, &yd);
    float *g = run_conv(c, x, w, b, relu, pool, false, &yg);
    JN_CHECK_INT_EQ(yd.ndim, yg.ndim);
    for (int i = 0; i < yd.ndim; i++)
        JN_CHECK_INT_EQ(yd.shape[i], yg.shape[i]);
    int64_t count = ox_count(&yg), bad = 0;
    for (int64_t i = 0; i < count; i++) {
        float tol = 1e-5f + 1e-4f * fabsf(g[i]);
        if (!(fabsf(d[i] - g[i]) <= tol)) { /* NaN (unwritten) fails too */
            if (bad++ < 3)
                fprintf(stderr, "%s (isa %d bias %d relu %d pool %d): element %lld: direct %g, generic %g\n",
                        c->label, jn_k_isa(), bias, relu, pool, (long long)i, (double)d[i], (double)g[i]);
        }
    }
    JN_CHECK_INT_EQ(bad, 0);
    if (relu)
        for (int64_t i = 0; i < count; i++)
            JN_CHECK(!(g[i] < 0.0f));
    free(x);
    free(w);
    free(b);
    free(d);
    free(g);
}

static const conv_case cases[] = {
    {"3x3 pad 1, C 3, W 19", 2, 2, 3, 7, 19, 5, 3, 3, 1, {1, 1, 1, 1}, 1, 1, NULL},
    {"bench conv1 shape", 2, 3, 1, 28, 28, 16, 3, 3, 1, {1, 1, 1, 1}, 1, 1, NULL},
    {"bench conv2 shape", 2, 2, 16, 14, 14, 32, 3, 3, 1, {1, 1, 1, 1}, 1, 1, NULL},
    {"3x5 asymmetric pads, group 2", 2, 1, 4, 6, 33, 10, 3, 5, 2, {0, 2, 1, 1}, 1, 1, NULL},
    {"2x2 no pads, odd size", 2, 2, 5, 5, 5, 9, 2, 2, 1, {0, 0, 0, 0}, 1, 1, NULL},
    {"depthwise 3x3, W 40, H 9", 2, 2, 6, 9, 40, 6, 3, 3, 6, {1, 1, 1, 1}, 1, 1, NULL},
    {"5x5 SAME_UPPER, W 17", 2, 1, 7, 11, 17, 13, 5, 5, 1, {0, 0, 0, 0}, 1, 1, "SAME_UPPER"},
    {"7x1, H 12, W 3", 2, 2, 2, 12, 3, 8, 7, 1, 1, {3, 0, 3, 0}, 1, 1, NULL},
    /* K >= 64 with a whole block of output channels: the channel-blocked tiles below AVX-512 */
    {"C 8 3x3 K 72, M 20, H 9 W 13, pads 1 0 1 1", 2, 2, 8, 9, 13, 20, 3, 3, 1, {1, 0, 1, 1}, 1, 1, NULL},
    {"C 12 5x5 K 300 SAME_UPPER, M 33, H 7 W 30", 2, 1, 12, 7, 30, 33, 5, 5, 1, {0, 0, 0, 0}, 1, 1, "SAME_UPPER"},
    {"fashion conv2: C 16 5x5, M 32, 14x14", 2, 2, 16, 14, 14, 32, 5, 5, 1, {2, 2, 2, 2}, 1, 1, NULL},
    {"C 16 3x3 group 2, M 48, H 5 W 3", 2, 1, 16, 5, 3, 48, 3, 3, 2, {1, 1, 1, 1}, 1, 1, NULL},
    {"1-D k 9, C 16, M 16, W 41", 1, 2, 16, 1, 41, 16, 1, 9, 1, {4, 4, 0, 0}, 1, 1, NULL},
    {"large K 130x3x3 (generic)", 2, 1, 130, 5, 6, 9, 3, 3, 1, {1, 1, 1, 1}, 1, 1, NULL},
    {"stride 2", 2, 2, 3, 9, 11, 5, 3, 3, 1, {1, 1, 1, 1}, 2, 1, NULL},
    {"dilation 2 (generic)", 2, 1, 3, 9, 11, 5, 3, 3, 1, {2, 2, 2, 2}, 1, 2, NULL},
    {"1x1 (generic)", 2, 2, 5, 6, 7, 3, 1, 1, 1, {0, 0, 0, 0}, 1, 1, NULL},
    {"1-D k 5 pad 2, W 23", 1, 2, 3, 1, 23, 7, 1, 5, 1, {2, 2, 0, 0}, 1, 1, NULL},
    {"1-D k 3, group 3, W 50", 1, 1, 9, 1, 50, 6, 1, 3, 3, {0, 1, 0, 0}, 1, 1, NULL},
};

/* Every instruction-set instantiation the CPU can run (AVX-512, AVX2, baseline). */
static void test_direct_matches_generic(void)
{
    srand(7);
    int native = jn_k_isa();
    for (int isa = 1; isa <= native; isa++) {
        jn_k_isa_forced = isa;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            for (int bias = 0; bias < 2; bias++)
                for (int relu = 0; relu < 2; relu++) {
                    compare(&cases[i], bias, relu, false);
                    if (relu && cases[i].sd == 2)
                        compare(&cases[i], bias, true, true);
                }
    }
    jn_k_isa_forced = 0;
}

/* A Relu'd conv output with NaN in it (NaN input): the fused Relu turns NaN into 0 in both paths, and the fused
 * pool then sees no NaN. */
static void test_nan_input(void)
{
    const conv_case *c = &cases[0];
    int64_t nx = c->N * c->C * c->H * c->W;
    float *x = random_floats(nx), *w = random_floats(c->M * c->C * 9), *b = random_floats(c->M);
    x[5] = NAN;
    ox_tensor yd, yg;
    float *d = run_conv(c, x, w, b, true, true, true, &yd);
    float *g = run_conv(c, x, w, b, true, true, false, &yg);
    for (int64_t i = 0; i < ox_count(&yg); i++)
        JN_CHECK(fabsf(d[i] - g[i]) <= 1e-5f + 1e-4f * fabsf(g[i]));
    free(x);
    free(w);
    free(b);
    free(d);
    free(g);
}

/* y = x . w (+ bias) (+ Relu) for sizes around the tiles (8 x 32, 6 x 16, 4 x 8): partial row blocks and
 * panels, K of 1, with every instruction set the CPU has. Against a double-precision loop; y poisoned with NaN
 * first. */
static void check_gemm(int isa, int64_t M, int64_t N, int64_t K, bool with_bias, bool relu)
{
    JN_CHECK(jn_k_gemm_fits(M, N, K));
    float *x = random_floats(M * K), *w = random_floats(K * N), *bias = random_floats(N);
    float *y = malloc((size_t)(M * N) * sizeof(float));
    size_t sn = jn_k_gemm_scratch_floats(isa, M, K);
    float *scratch = malloc((sn ? sn : 1) * sizeof(float));
    float *wp = malloc(jn_k_gemm_packed_floats(isa, N, K) * sizeof(float));
    for (int64_t i = 0; i < M * N; i++)
        y[i] = NAN;
    jn_k_gemm_pack(isa, w, K, N, false, wp);
    jn_k_gemm(isa, M, N, K, x, wp, with_bias ? bias : NULL, relu, y, scratch);
    int64_t bad = 0;
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double want = with_bias ? bias[j] : 0.0;
            for (int64_t k = 0; k < K; k++)
                want += (double)x[i * K + k] * w[k * N + j];
            if (relu && !(want > 0))
                want = 0;
            double got = y[i * N + j];
            if (!(fabs(got - want) <= 1e-4 + 1e-4 * fabs(want)) && bad++ < 3)
                fprintf(stderr, "gemm isa %d %lldx%lldx%lld bias %d relu %d: y[%lld][%lld] %g, want %g\n", isa,
                        (long long)M, (long long)N, (long long)K, with_bias, relu, (long long)i, (long long)j, got,
                        want);
        }
    JN_CHECK_INT_EQ(bad, 0);
    free(x);
    free(w);
    free(bias);
    free(y);
    free(scratch);
    free(wp);
}

static void test_gemm_direct(void)
{
    static const int64_t Ms[] = {5, 7, 8, 9, 13, 64}, Ns[] = {16, 17, 31, 32, 33, 100}, Ks[] = {1, 3, 17, 784};
    srand(11);
    for (int isa = 1; isa <= jn_k_isa(); isa++)
        for (size_t a = 0; a < sizeof Ms / sizeof Ms[0]; a++)
            for (size_t b = 0; b < sizeof Ns / sizeof Ns[0]; b++)
                for (size_t c = 0; c < sizeof Ks / sizeof Ks[0]; c++)
                    for (int variant = 0; variant < 4; variant++)
                        check_gemm(isa, Ms[a], Ns[b], Ks[c], variant & 1, variant & 2);
    JN_CHECK(!jn_k_gemm_fits(1, 256, 784));
    JN_CHECK(!jn_k_gemm_fits(64, 10, 256));
    /* A narrow head over a deep input (the bench CNN's 64x10x1568): the panel's padded columns stay out of y. */
    JN_CHECK(jn_k_gemm_fits(64, 10, 1568));
    JN_CHECK(!jn_k_gemm_fits(64, 7, 1568));
    for (int isa = 1; isa <= jn_k_isa(); isa++)
        for (int variant = 0; variant < 4; variant++) {
            check_gemm(isa, 64, 10, 1568, variant & 1, variant & 2);
            check_gemm(isa, 13, 9, 1024, variant & 1, variant & 2);
        }
    JN_CHECK(!jn_k_gemm_fits(64, 4096, 4096));
}

/* Gemm (transB 0/1, bias row [N] or [1, N], fused Relu) and MatMul (batched A) through the operators, direct
 * product against cblas_sgemm (ox_gemm_direct_enabled false); B not constant, so packed per call. */
static float *run_dense(const char *op, bool direct, bool transb, int cdims, bool relu, int64_t batch, int64_t M,
                        int64_t N, int64_t K, const float *a, const float *b, const float *c)
{
    int64_t tb = transb;
    ox_attr attrs[1] = {{.name = "transB", .type = OX_ATTR_INT, .i = tb}};
    bool gemm = strcmp(op, "Gemm") == 0;
    int in_idx[3] = {0, 1, c ? 2 : -1}, out_idx[1] = {3};
    ox_node n = {.op = ox_op_find(op), .op_type = (char *)op, .name = "dense", .n_in = c ? 3 : 2, .n_out = 1,
                 .in = in_idx, .out = out_idx, .attrs = gemm ? attrs : NULL, .n_attrs = gemm ? 1 : 0, .opset = 13,
                 .relu_after = relu};
    ox_tensor at = {.dtype = JN_DTYPE_FP32, .data = (void *)a}, bt = {.dtype = JN_DTYPE_FP32, .ndim = 2, .data = (void *)b};
    ox_tensor ct = {.dtype = JN_DTYPE_FP32, .ndim = cdims, .data = (void *)c}, yt;
    if (batch > 1) {
        at.ndim = 3;
        at.shape[0] = batch;
        at.shape[1] = M;
        at.shape[2] = K;
    } else {
        at.ndim = 2;
        at.shape[0] = M;
        at.shape[1] = K;
    }
    bt.shape[0] = transb ? N : K;
    bt.shape[1] = transb ? K : N;
    ct.shape[0] = cdims == 2 ? 1 : N;
    ct.shape[1] = N;
    ox_tensor *in[3] = {&at, &bt, c ? &ct : NULL}, *out[1] = {&yt};
    jn_err err;
    jn_err_clear(&err);
    memset(&yt, 0, sizeof yt);
    JN_REQUIRE(n.op != NULL);
    JN_REQUIRE(n.op->shape(&n, in, out, &err) == 0);
    int64_t count = ox_count(&yt);
    float *y = malloc((size_t)count * sizeof(float));
    for (int64_t i = 0; i < count; i++)
        y[i] = NAN;
    yt.data = y;
    ox_gemm_direct_enabled = direct;
    int rc = n.op->run(&n, in, out, &err);
    ox_gemm_direct_enabled = true;
    JN_CHECK_INT_EQ(rc, 0);
    return y;
}

static void test_dense_ops(void)
{
    srand(13);
    static const int64_t shapes[][3] = {{64, 256, 784}, {7, 33, 50}, {32, 128, 1568}, {5, 16, 3}, {13, 1000, 64},
                                        {3, 2, 2048}}; /* the last: the sparse-row path (<= 8 outputs) */
    for (int isa = 1; isa <= jn_k_isa_cpu(); isa++) {
        jn_k_isa_forced = isa;
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
            for (int v = 0; v < 8; v++) {
                int64_t M = shapes[si][0], N = shapes[si][1], K = shapes[si][2];
                bool matmul = v >= 6, transb = !matmul && (v & 1), relu = v & 2;
                int cdims = matmul ? 1 : (v & 4) ? 2 : 1;
                int64_t batch = matmul ? 3 : 1;
                float *a = random_floats(batch * M * K), *b = random_floats(K * N), *c = random_floats(N);
                const char *op = matmul ? "MatMul" : "Gemm";
                float *d = run_dense(op, true, transb, cdims, relu, batch, M, N, K, a, b, matmul && v == 6 ? NULL : c);
                float *g = run_dense(op, false, transb, cdims, relu, batch, M, N, K, a, b, matmul && v == 6 ? NULL : c);
                int64_t bad = 0;
                for (int64_t i = 0; i < batch * M * N; i++)
                    if (!(fabsf(d[i] - g[i]) <= 1e-4f + 1e-4f * fabsf(g[i])) && bad++ < 3)
                        fprintf(stderr, "%s isa %d %lldx%lldx%lld transB %d relu %d: y[%lld] direct %g, sgemm %g\n", op,
                                isa, (long long)M, (long long)N, (long long)K, transb, relu, (long long)i, (double)d[i],
                                (double)g[i]);
                JN_CHECK_INT_EQ(bad, 0);
                free(a);
                free(b);
                free(c);
                free(d);
                free(g);
            }
    }
    jn_k_isa_forced = 0;
}

/* ---- the built-in engines' forward passes -------------------------------------------------------------------- */

/* conv (same padding, stride 1) + bias + ReLU + 2x2 max pool of NHWC x [h][w][cin] with OHWI weights, in double. */
static void ref_conv_pool(const double *x, int h, int w, int cin, const float *wt, const float *b, int k, int cout,
                          double *out)
{
    int r = k / 2;
    double *a = malloc((size_t)h * w * cout * sizeof(double));
    for (int y = 0; y < h; y++)
        for (int xx = 0; xx < w; xx++)
            for (int o = 0; o < cout; o++) {
                double acc = b[o];
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        int iy = y + ky - r, ix = xx + kx - r;
                        if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                            continue;
                        for (int i = 0; i < cin; i++)
                            acc += x[((size_t)iy * w + ix) * cin + i] * wt[(((size_t)o * k + ky) * k + kx) * cin + i];
                    }
                a[((size_t)y * w + xx) * cout + o] = acc > 0 ? acc : 0;
            }
    for (int y = 0; y < h / 2; y++)
        for (int xx = 0; xx < w / 2; xx++)
            for (int o = 0; o < cout; o++) {
                double m = -1;
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++) {
                        double v = a[((size_t)(2 * y + dy) * w + 2 * xx + dx) * cout + o];
                        m = v > m ? v : m;
                    }
                out[((size_t)y * (w / 2) + xx) * cout + o] = m;
            }
    free(a);
}

/* out [classes] = fc2(relu(fc1(flatten_NHWC(x)))) for one image, in double. */
static void ref_cnn(const jn_cnn *m, const float *xf, double *logits)
{
    const jn_cnn_arch *a = &m->a;
    size_t px = (size_t)a->h * a->w;
    double *x = malloc(px * a->c * sizeof(double)), *p1 = malloc(px / 4 * a->c1 * sizeof(double)),
           *p2 = malloc(px / 16 * a->c2 * sizeof(double)), *h = malloc((size_t)a->hidden * sizeof(double));
    for (size_t i = 0; i < px * a->c; i++)
        x[i] = xf[i];
    ref_conv_pool(x, a->h, a->w, a->c, m->p[0], m->p[1], a->k, a->c1, p1);
    ref_conv_pool(p1, a->h / 2, a->w / 2, a->c1, m->p[2], m->p[3], a->k, a->c2, p2);
    size_t flat = px / 16 * a->c2;
    for (int j = 0; j < a->hidden; j++) {
        double acc = m->p[5][j];
        for (size_t i = 0; i < flat; i++)
            acc += p2[i] * m->p[4][(size_t)j * flat + i];
        h[j] = acc > 0 ? acc : 0;
    }
    for (int c = 0; c < a->classes; c++) {
        double acc = m->p[7][c];
        for (int j = 0; j < a->hidden; j++)
            acc += h[j] * m->p[6][(size_t)c * a->hidden + j];
        logits[c] = acc;
    }
    free(x);
    free(p1);
    free(p2);
    free(h);
}

static void check_cnn(jn_cnn_arch a, int n)
{
    jn_cnn m;
    jn_err err = {0};
    JN_REQUIRE(jn_cnn_init(&m, &a, 3, &err) == 0);
    for (int l = 1; l < JN_CNN_N_PARAMS; l += 2) /* non-zero biases: the ReLUs see both signs */
        for (size_t j = 0; j < m.len[l]; j++)
            m.p[l][j] = frand() * 0.2f;
    size_t pix = (size_t)a.h * a.w * a.c;
    float *x = random_floats((int64_t)(n * pix)), *logits = malloc((size_t)n * a.classes * sizeof(float));
    double *want = malloc((size_t)n * a.classes * sizeof(double));
    for (int i = 0; i < n; i++)
        ref_cnn(&m, x + i * pix, want + (size_t)i * a.classes);
    jn_cnn_work *w = jn_cnn_work_create(&a, n), *wi = jn_cnn_work_create_infer(&a, n);
    JN_REQUIRE(w != NULL && wi != NULL);
    for (int isa = 1; isa <= jn_k_isa_cpu(); isa++) {
        jn_k_isa_forced = isa;
        jn_cnn_packed *pk = jn_cnn_pack(&m);
        JN_REQUIRE(pk != NULL);
        JN_CHECK_INT_EQ(pk->isa, jn_k_isa());
        for (int way = 0; way < 3; way++) { /* serving (its own work area, a training one), training */
            for (int i = 0; i < n * a.classes; i++)
                logits[i] = NAN;
            bool train = way == 2;
            if (train)
                jn_cnn_forward(&m, w, x, n, logits);
            else
                jn_cnn_infer(pk, way == 0 ? wi : w, x, n, logits);
            int bad = 0;
            for (int i = 0; i < n * a.classes; i++)
                if (!(fabs(logits[i] - want[i]) <= 1e-4 + 1e-4 * fabs(want[i])) && bad++ < 3)
                    fprintf(stderr, "cnn %dx%dx%d k %d isa %d %s: logit %d %g, want %g\n", a.h, a.w, a.c, a.k, isa,
                            train ? "training" : "serving", i, (double)logits[i], want[i]);
            JN_CHECK_INT_EQ(bad, 0);
        }
        jn_cnn_packed_free(pk);
    }
    jn_k_isa_forced = 0;
    jn_cnn_work_destroy(w);
    jn_cnn_work_destroy(wi);
    free(x);
    free(logits);
    free(want);
    jn_cnn_free(&m);
}

static void test_cnn_forward(void)
{
    srand(5);
    check_cnn(jn_cnn_default_arch(), 3); /* fashion-cnn's: 28x28x1, 5x5, 16/32, dense 128 -> 10 */
    check_cnn((jn_cnn_arch){.h = 12, .w = 20, .c = 2, .k = 3, .c1 = 5, .c2 = 9, .hidden = 17, .classes = 3}, 7);
    check_cnn((jn_cnn_arch){.h = 8, .w = 8, .c = 1, .k = 5, .c1 = 3, .c2 = 4, .hidden = 6, .classes = 5}, 1);
}

/* The text classifier's layer (jn_k_sparse_dense through jn_text_linear_forward): softmax(b + sum v_i W[idx_i]). */
static void test_text_linear(void)
{
    srand(9);
    enum { D = 4096, K = 3 };
    float *wt = random_floats(D * K), b[K] = {0.1f, -0.2f, 0.05f};
    uint32_t idx[40];
    float val[40];
    for (int i = 0; i < 40; i++) {
        idx[i] = (uint32_t)(i * 97 + 13) % D;
        val[i] = frand();
    }
    jn_text_linear lin = {.dim = D, .k = K, .w = wt, .b = b};
    jn_text_sparse x = {.idx = idx, .val = val, .n = 40};
    float p[K];
    jn_text_linear_forward(&lin, &x, p);
    double z[K], mx = -1e300, sum = 0;
    for (int c = 0; c < K; c++) {
        z[c] = b[c];
        for (int i = 0; i < 40; i++)
            z[c] += (double)val[i] * wt[(size_t)idx[i] * K + c];
        mx = z[c] > mx ? z[c] : mx;
    }
    for (int c = 0; c < K; c++)
        sum += exp(z[c] - mx);
    for (int c = 0; c < K; c++)
        JN_CHECK(fabs(p[c] - exp(z[c] - mx) / sum) < 1e-5);
    free(wt);
}

/* The cache sizes the kernels block on: sysfs (cpu0's) and cpuid describe the same caches (Linux fills sysfs from
 * cpuid). cpuid answers for the CPU it runs on, so the check runs pinned to CPU 0 (hybrid CPUs differ per core). */
static void test_cache_sizes(void)
{
    cpu_set_t one, old;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    bool pinned = sched_getaffinity(0, sizeof old, &old) == 0 && sched_setaffinity(0, sizeof one, &one) == 0;
    size_t l1 = jn_k_cache_l1d(), l2 = jn_k_cache_l2(), c1 = jn_k__cpuid_cache(1), c2 = jn_k__cpuid_cache(2);
    if (pinned)
        sched_setaffinity(0, sizeof old, &old);
    printf("  L1d %zu KB, L2 %zu KB (cpuid: %zu KB, %zu KB), level %s of %s\n", l1 >> 10, l2 >> 10, c1 >> 10, c2 >> 10,
           jn_k_isa_name(jn_k_isa()), jn_k_isa_name(jn_k_isa_cpu()));
    JN_CHECK(l1 >= 4096 && l2 >= 65536 && l2 > l1);
    if (pinned && c1)
        JN_CHECK(c1 == l1);
    if (pinned && c2)
        JN_CHECK(c2 == l2);
}

int main(void)
{
    JN_TEST_RUN(test_cache_sizes);
    JN_TEST_RUN(test_dense_ops);
    JN_TEST_RUN(test_cnn_forward);
    JN_TEST_RUN(test_text_linear);
    JN_TEST_RUN(test_gemm_direct);
    JN_TEST_RUN(test_direct_matches_generic);
    JN_TEST_RUN(test_nan_input);
    return JN_TEST_EXIT();
}
