/* cnn.c — the CNN of cnn.h: im2col + cblas_sgemm convolutions over NHWC batches, 2x2 max pooling, dense layers,
 * softmax cross-entropy, and the backward pass. */
#include "cnn.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const jn_cnn_param_names[JN_CNN_N_PARAMS] = {
    "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias",
};

jn_cnn_arch jn_cnn_default_arch(void)
{
    jn_cnn_arch a = {.h = 28, .w = 28, .c = 1, .k = 5, .c1 = 16, .c2 = 32, .hidden = 128, .classes = 10};
    return a;
}

static void param_shapes(const jn_cnn_arch *a, int ndim[JN_CNN_N_PARAMS], int64_t shape[JN_CNN_N_PARAMS][4])
{
    int64_t flat = (int64_t)(a->h / 4) * (a->w / 4) * a->c2;
    int64_t s[JN_CNN_N_PARAMS][4] = {
        {a->c1, a->k, a->k, a->c}, {a->c1}, {a->c2, a->k, a->k, a->c1}, {a->c2},
        {a->hidden, flat},         {a->hidden}, {a->classes, a->hidden}, {a->classes},
    };
    int nd[JN_CNN_N_PARAMS] = {4, 1, 4, 1, 2, 1, 2, 1};
    memcpy(shape, s, sizeof s);
    memcpy(ndim, nd, sizeof nd);
}

static int arch_check(const jn_cnn_arch *a, const char *what, jn_err *err)
{
    if (a->h <= 0 || a->w <= 0 || a->h % 4 || a->w % 4 || a->c <= 0 || a->k <= 0 || a->k % 2 == 0 || a->c1 <= 0 ||
        a->c2 <= 0 || a->hidden <= 0 || a->classes <= 1)
        return jn_err_set(err, JN_EINVAL,
                          "%s: bad CNN architecture (input %dx%dx%d, kernel %d, filters %d/%d, hidden %d, classes %d)",
                          what, a->h, a->w, a->c, a->k, a->c1, a->c2, a->hidden, a->classes);
    return 0;
}

static int alloc_model(jn_cnn *m, const jn_cnn_arch *a, jn_err *err)
{
    memset(m, 0, sizeof *m);
    m->a = *a;
    int ndim[JN_CNN_N_PARAMS];
    int64_t shape[JN_CNN_N_PARAMS][4];
    param_shapes(a, ndim, shape);
    size_t total = 0;
    for (int i = 0; i < JN_CNN_N_PARAMS; i++) {
        m->len[i] = (size_t)jn_shape_element_count(ndim[i], shape[i]);
        total += m->len[i];
    }
    m->params = calloc(total, sizeof(float));
    m->grads = calloc(total, sizeof(float));
    if (!m->params || !m->grads) {
        free(m->params);
        free(m->grads);
        memset(m, 0, sizeof *m);
        return jn_err_set(err, JN_ENOMEM, "CNN: out of memory (%zu parameters)", total);
    }
    m->n_params = total;
    size_t off = 0;
    for (int i = 0; i < JN_CNN_N_PARAMS; i++) {
        m->p[i] = m->params + off;
        m->g[i] = m->grads + off;
        off += m->len[i];
    }
    return 0;
}

/* splitmix64: small, seedable, good enough for initialisation. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rng_uniform(uint64_t *s)
{
    return ((double)(rng_next(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static double rng_normal(uint64_t *s)
{
    double u1 = rng_uniform(s), u2 = rng_uniform(s);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

int jn_cnn_init(jn_cnn *m, const jn_cnn_arch *a, uint64_t seed, jn_err *err)
{
    int rc = arch_check(a, "CNN", err);
    if (rc)
        return rc;
    rc = alloc_model(m, a, err);
    if (rc)
        return rc;
    uint64_t s = seed ^ 0x6A09E667F3BCC909ull;
    int fan_in[JN_CNN_N_PARAMS / 2] = {a->k * a->k * a->c, a->k * a->k * a->c1, (a->h / 4) * (a->w / 4) * a->c2,
                                       a->hidden};
    for (int l = 0; l < JN_CNN_N_PARAMS / 2; l++) {
        double sd = sqrt(2.0 / fan_in[l]); /* He: ReLU layers; fine for the logits layer too */
        for (size_t i = 0; i < m->len[2 * l]; i++)
            m->p[2 * l][i] = (float)(sd * rng_normal(&s));
    }
    return 0;
}

void jn_cnn_free(jn_cnn *m)
{
    if (!m)
        return;
    free(m->params);
    free(m->grads);
    memset(m, 0, sizeof *m);
}

int jn_cnn_from_tensors(jn_cnn *m, const jn_tensor_list *ts, int h, int w, int c, const char *what, jn_err *err)
{
    const jn_tensor *t[JN_CNN_N_PARAMS];
    for (int i = 0; i < JN_CNN_N_PARAMS; i++) {
        t[i] = jn_tensor_list_find(ts, jn_cnn_param_names[i]);
        if (!t[i])
            return jn_err_set(err, JN_EINVAL, "%s: tensor '%s' is missing", what, jn_cnn_param_names[i]);
        if (t[i]->dtype != JN_DTYPE_FP32)
            return jn_err_set(err, JN_EINVAL, "%s: tensor '%s' is %s, expected FP32", what, jn_cnn_param_names[i],
                              jn_dtype_name(t[i]->dtype));
    }
    if (t[0]->ndim != 4 || t[2]->ndim != 4 || t[4]->ndim != 2 || t[6]->ndim != 2)
        return jn_err_set(err, JN_EINVAL, "%s: weight ranks are not conv [o,k,k,i] / dense [out,in]", what);
    jn_cnn_arch a = {.h = h, .w = w, .c = c, .k = (int)t[0]->shape[1], .c1 = (int)t[0]->shape[0],
                     .c2 = (int)t[2]->shape[0], .hidden = (int)t[4]->shape[0], .classes = (int)t[6]->shape[0]};
    int rc = arch_check(&a, what, err);
    if (rc)
        return rc;
    int ndim[JN_CNN_N_PARAMS];
    int64_t shape[JN_CNN_N_PARAMS][4];
    param_shapes(&a, ndim, shape);
    for (int i = 0; i < JN_CNN_N_PARAMS; i++) {
        int same = t[i]->ndim == ndim[i];
        for (int d = 0; same && d < ndim[i]; d++)
            same = t[i]->shape[d] == shape[i][d];
        if (!same || jn_tensor_check_size(t[i], jn_cnn_param_names[i], err) != 0) {
            char want[64], got[64];
            return jn_err_set(err, JN_EINVAL, "%s: tensor '%s' is %s, expected %s for a %dx%dx%d input", what,
                              jn_cnn_param_names[i],
                              jn_format_type(got, sizeof got, t[i]->dtype, t[i]->ndim, t[i]->shape),
                              jn_format_type(want, sizeof want, JN_DTYPE_FP32, ndim[i], shape[i]), h, w, c);
        }
    }
    rc = alloc_model(m, &a, err);
    if (rc)
        return rc;
    for (int i = 0; i < JN_CNN_N_PARAMS; i++)
        memcpy(m->p[i], t[i]->data, m->len[i] * sizeof(float));
    return 0;
}

int jn_cnn_to_tensors(const jn_cnn *m, jn_tensor_list *out, jn_err *err)
{
    int ndim[JN_CNN_N_PARAMS];
    int64_t shape[JN_CNN_N_PARAMS][4];
    param_shapes(&m->a, ndim, shape);
    for (int i = 0; i < JN_CNN_N_PARAMS; i++) {
        jn_tensor *t = jn_tensor_create(jn_cnn_param_names[i], JN_DTYPE_FP32, ndim[i], shape[i], err);
        if (!t)
            return err->code ? err->code : JN_ENOMEM;
        memcpy(t->data, m->p[i], m->len[i] * sizeof(float));
        int rc = jn_tensor_list_push(out, t);
        if (rc)
            return jn_err_set(err, rc, "CNN: out of memory");
    }
    return 0;
}

/* ---- work area ---------------------------------------------------------------------------------------------- */

struct jn_cnn_work {
    int cap;
    float *col, *dcol;     /* im2col rows (max of both convs) */
    float *w2t;            /* forward: conv2's weights transposed to [k*k*c1, c2] (see gemm_in_small_blocks) */
    float *a1, *p1, *a2, *p2, *a3;
    float *d_a1, *d_p1, *d_a2, *d_p2, *d_a3;
};

jn_cnn_work *jn_cnn_work_create(const jn_cnn_arch *a, int batch)
{
    jn_cnn_work *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    size_t n = (size_t)batch, hw = (size_t)a->h * a->w, kk = (size_t)a->k * a->k;
    size_t col1 = n * hw * kk * a->c, col2 = n * (hw / 4) * kk * a->c1;
    size_t col = col1 > col2 ? col1 : col2;
    size_t s_a1 = n * hw * a->c1, s_p1 = s_a1 / 4, s_a2 = n * (hw / 4) * a->c2, s_p2 = s_a2 / 4,
           s_a3 = n * a->hidden;
    w->cap = batch;
    w->w2t = malloc(kk * a->c1 * a->c2 * sizeof(float));
    w->col = malloc(col * sizeof(float));
    w->dcol = malloc(col * sizeof(float));
    w->a1 = malloc(s_a1 * sizeof(float));
    w->p1 = malloc(s_p1 * sizeof(float));
    w->a2 = malloc(s_a2 * sizeof(float));
    w->p2 = malloc(s_p2 * sizeof(float));
    w->a3 = malloc(s_a3 * sizeof(float));
    w->d_a1 = malloc(s_a1 * sizeof(float));
    w->d_p1 = malloc(s_p1 * sizeof(float));
    w->d_a2 = malloc(s_a2 * sizeof(float));
    w->d_p2 = malloc(s_p2 * sizeof(float));
    w->d_a3 = malloc(s_a3 * sizeof(float));
    if (!w->w2t || !w->col || !w->dcol || !w->a1 || !w->p1 || !w->a2 || !w->p2 || !w->a3 || !w->d_a1 ||
        !w->d_p1 || !w->d_a2 || !w->d_p2 || !w->d_a3) {
        jn_cnn_work_destroy(w);
        return NULL;
    }
    return w;
}

void jn_cnn_work_destroy(jn_cnn_work *w)
{
    if (!w)
        return;
    free(w->w2t);
    free(w->col);
    free(w->dcol);
    free(w->a1);
    free(w->p1);
    free(w->a2);
    free(w->p2);
    free(w->a3);
    free(w->d_a1);
    free(w->d_p1);
    free(w->d_a2);
    free(w->d_p2);
    free(w->d_a3);
    free(w);
}

/* ---- layers ------------------------------------------------------------------------------------------------- */

/* x [n, h, w, c] -> col [n*h*w, k*k*c], same padding, stride 1. Row = one output pixel, (ky, kx, c) order. In NHWC
 * the kx taps of one ky that fall inside the image are contiguous in x, so each (pixel, ky) is one copy of up to
 * k*c floats plus the zeroed padding at its ends. */
static void im2col(const float *x, int n, int h, int w, int c, int k, float *col)
{
    int r = k / 2;
    size_t rowlen = (size_t)k * k * c, kc = (size_t)k * c;
    for (int b = 0; b < n; b++)
        for (int y = 0; y < h; y++)
            for (int xx = 0; xx < w; xx++) {
                float *row = col + (((size_t)b * h + y) * w + xx) * rowlen;
                int kx0 = xx - r < 0 ? r - xx : 0, kx1 = xx + r >= w ? w - 1 - xx + r : k - 1; /* taps inside */
                size_t lead = (size_t)kx0 * c, run = (size_t)(kx1 - kx0 + 1) * c;
                for (int ky = 0; ky < k; ky++) {
                    int iy = y + ky - r;
                    float *dst = row + (size_t)ky * kc;
                    if (iy < 0 || iy >= h) {
                        memset(dst, 0, kc * sizeof(float));
                        continue;
                    }
                    const float *src = x + (((size_t)b * h + iy) * w + (xx + kx0 - r)) * c;
                    for (size_t i = 0; i < lead; i++)
                        dst[i] = 0.0f;
                    memcpy(dst + lead, src, run * sizeof(float));
                    for (size_t i = lead + run; i < kc; i++)
                        dst[i] = 0.0f;
                }
            }
}

/* One-channel x [h, w] -> colT [k*k, h*w], the transpose of im2col's rows for one image: row t = (ky, kx) holds that
 * tap's input for every output pixel, so each (tap, output row) is one contiguous run of the input row. For the
 * first layer (c = 1), where im2col's rows are only k*k floats long and would cost one small copy per kernel row. */
static void im2col_t_gray(const float *x, int h, int w, int k, float *colT)
{
    int r = k / 2;
    for (int ky = 0; ky < k; ky++)
        for (int kx = 0; kx < k; kx++) {
            float *dst = colT + ((size_t)ky * k + kx) * h * w;
            int x0 = r - kx > 0 ? r - kx : 0, x1 = w + r - kx < w ? w + r - kx : w; /* outputs whose tap is inside */
            for (int y = 0; y < h; y++, dst += w) {
                int iy = y + ky - r;
                if (iy < 0 || iy >= h) {
                    memset(dst, 0, (size_t)w * sizeof(float));
                    continue;
                }
                for (int xx = 0; xx < x0; xx++)
                    dst[xx] = 0.0f;
                memcpy(dst + x0, x + (size_t)iy * w + (x0 + kx - r), (size_t)(x1 - x0) * sizeof(float));
                for (int xx = x1; xx < w; xx++)
                    dst[xx] = 0.0f;
            }
        }
}

/* The adjoint of im2col: dx = sum of the col rows' contributions (dx is overwritten). */
static void col2im(const float *col, int n, int h, int w, int c, int k, float *dx)
{
    int r = k / 2;
    size_t rowlen = (size_t)k * k * c;
    memset(dx, 0, (size_t)n * h * w * c * sizeof(float));
    for (int b = 0; b < n; b++)
        for (int y = 0; y < h; y++)
            for (int xx = 0; xx < w; xx++) {
                const float *row = col + (((size_t)b * h + y) * w + xx) * rowlen;
                for (int ky = 0; ky < k; ky++) {
                    int iy = y + ky - r;
                    if (iy < 0 || iy >= h)
                        continue;
                    for (int kx = 0; kx < k; kx++) {
                        int ix = xx + kx - r;
                        if (ix < 0 || ix >= w)
                            continue;
                        float *d = dx + (((size_t)b * h + iy) * w + ix) * c;
                        const float *s = row + ((size_t)ky * k + kx) * c;
                        for (int ch = 0; ch < c; ch++)
                            d[ch] += s[ch];
                    }
                }
            }
}

/* out [rows, cols] += bias on every row, then ReLU when `relu`. */
static void add_bias_relu(float *out, const float *bias, int rows, int cols, int relu)
{
    for (int i = 0; i < rows; i++) {
        float *o = out + (size_t)i * cols;
        if (relu)
            for (int j = 0; j < cols; j++) {
                float v = o[j] + bias[j];
                o[j] = v > 0.0f ? v : 0.0f;
            }
        else
            for (int j = 0; j < cols; j++)
                o[j] += bias[j];
    }
}

/* out [rows, cols] = a [rows, inner] x b^T (b is [cols, inner]) + bias, then ReLU when `relu`: one sgemm, then one
 * pass over out that adds the bias and clamps. */
static void gemm_bias(const float *a, const float *b, const float *bias, int rows, int cols, int inner, int relu,
                      float *out)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, cols, inner, 1.0f, a, inner, b, inner, 0.0f, out,
                cols);
    add_bias_relu(out, bias, rows, cols, relu);
}

/* As gemm_bias with ReLU, for a given transposed: aT [inner, rows]. */
static void gemm_bias_t(const float *aT, const float *b, const float *bias, int rows, int cols, int inner, float *out)
{
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, rows, cols, inner, 1.0f, aT, rows, b, inner, 0.0f, out, cols);
    add_bias_relu(out, bias, rows, cols, 1);
}

/* out [rows, cols] = a [rows, inner] x bt [inner, cols], as sgemms of at most SMALL_GEMM_MNK multiply-adds each.
 * OpenBLAS (0.3.21 here, on AVX-512 x86-64) hands such products to its "small matrix" kernels, which read both
 * operands where they are; bigger ones are first copied into packed panels, and for a convolution's im2col matrix
 * (used once) that copy costs about as much as the arithmetic. Elsewhere it is a few more calls of the ordinary
 * kind. */
#define SMALL_GEMM_MNK 1000000.0
static void gemm_in_small_blocks(const float *a, const float *bt, int rows, int cols, int inner, float *out)
{
    int blocks = (int)ceil((double)rows * cols * inner / SMALL_GEMM_MNK);
    int step = (rows + blocks - 1) / blocks;
    for (int r0 = 0; r0 < rows; r0 += step) {
        int nr = rows - r0 < step ? rows - r0 : step;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nr, cols, inner, 1.0f, a + (size_t)r0 * inner, inner,
                    bt, cols, 0.0f, out + (size_t)r0 * cols, cols);
    }
}

/* d *= (a > 0) */
static void relu_back(float *d, const float *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] <= 0.0f)
            d[i] = 0.0f;
}

/* 2x2 max pooling of x [n, h, w, c] into out [n, h/2, w/2, c]; channels innermost, so the compiler vectorizes it. */
static void maxpool(const float *x, int n, int h, int w, int c, float *out)
{
    int oh = h / 2, ow = w / 2;
    for (int b = 0; b < n; b++)
        for (int y = 0; y < oh; y++)
            for (int xx = 0; xx < ow; xx++) {
                const float *p00 = x + (((size_t)b * h + 2 * y) * w + 2 * xx) * c, *p01 = p00 + c,
                            *p10 = p00 + (size_t)w * c, *p11 = p10 + c;
                float *o = out + (((size_t)b * oh + y) * ow + xx) * c;
                for (int ch = 0; ch < c; ch++) {
                    float m0 = p00[ch] > p01[ch] ? p00[ch] : p01[ch], m1 = p10[ch] > p11[ch] ? p10[ch] : p11[ch];
                    o[ch] = m0 > m1 ? m0 : m1;
                }
            }
}

/* The adjoint of maxpool: each pooled cell's gradient goes to the first input of its 2x2 window (in (dy, dx)
 * order) that holds the window's maximum; dx [n, h, w, c] is overwritten. */
static void maxpool_back(const float *x, const float *pooled, const float *dout, int n, int h, int w, int c, float *dx)
{
    int oh = h / 2, ow = w / 2;
    memset(dx, 0, (size_t)n * h * w * c * sizeof(float));
    for (int b = 0; b < n; b++)
        for (int y = 0; y < oh; y++)
            for (int xx = 0; xx < ow; xx++) {
                size_t o = (((size_t)b * oh + y) * ow + xx) * c;
                size_t base = (((size_t)b * h + 2 * y) * w + 2 * xx) * c;
                size_t at[4] = {base, base + c, base + (size_t)w * c, base + (size_t)w * c + c};
                for (int ch = 0; ch < c; ch++) {
                    int q = 0;
                    while (q < 3 && x[at[q] + ch] != pooled[o + ch])
                        q++;
                    dx[at[q] + ch] += dout[o + ch];
                }
            }
}

/* Column sums of d [rows, cols] into db [cols] (overwritten). */
static void bias_grad(const float *d, int rows, int cols, float *db)
{
    memset(db, 0, (size_t)cols * sizeof(float));
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
            db[j] += d[(size_t)i * cols + j];
}

void jn_cnn_forward(const jn_cnn *m, jn_cnn_work *w, const float *x, int n, float *logits)
{
    const jn_cnn_arch *a = &m->a;
    int h2 = a->h / 2, w2 = a->w / 2, kk = a->k * a->k, flat = (a->h / 4) * (a->w / 4) * a->c2;
    size_t px1 = (size_t)a->h * a->w, px2 = (size_t)h2 * w2;

    /* The convolutions go one image at a time: an image's im2col rows (conv2: 196 x 400 floats for fashion-cnn)
     * stay in cache for their sgemm, where a whole batch's would not. The dense layers take the batch at once. */
    const int k2 = kk * a->c1; /* conv2's inner dimension */
    for (int o = 0; o < a->c2; o++)
        for (int i = 0; i < k2; i++)
            w->w2t[(size_t)i * a->c2 + o] = m->p[2][(size_t)o * k2 + i];
    for (int b = 0; b < n; b++) {
        float *a1 = w->a1 + (size_t)b * px1 * a->c1, *p1 = w->p1 + (size_t)b * px2 * a->c1;
        float *a2 = w->a2 + (size_t)b * px2 * a->c2, *p2 = w->p2 + (size_t)b * (px2 / 4) * a->c2;
        if (a->c == 1) {
            im2col_t_gray(x + (size_t)b * px1, a->h, a->w, a->k, w->col);
            gemm_bias_t(w->col, m->p[0], m->p[1], (int)px1, a->c1, kk, a1);
        } else {
            im2col(x + (size_t)b * px1 * a->c, 1, a->h, a->w, a->c, a->k, w->col);
            gemm_bias(w->col, m->p[0], m->p[1], (int)px1, a->c1, kk * a->c, 1, a1);
        }
        maxpool(a1, 1, a->h, a->w, a->c1, p1);
        im2col(p1, 1, h2, w2, a->c1, a->k, w->col);
        gemm_in_small_blocks(w->col, w->w2t, (int)px2, a->c2, k2, a2);
        add_bias_relu(a2, m->p[3], (int)px2, a->c2, 1);
        maxpool(a2, 1, h2, w2, a->c2, p2);
    }
    gemm_bias(w->p2, m->p[4], m->p[5], n, a->hidden, flat, 1, w->a3);
    gemm_bias(w->a3, m->p[6], m->p[7], n, a->classes, a->hidden, 0, logits);
}

void jn_cnn_softmax(float *logits, int n, int classes)
{
    for (int i = 0; i < n; i++) {
        float *r = logits + (size_t)i * classes, mx = r[0];
        for (int j = 1; j < classes; j++)
            mx = r[j] > mx ? r[j] : mx;
        double sum = 0.0;
        for (int j = 0; j < classes; j++) {
            r[j] = expf(r[j] - mx);
            sum += r[j];
        }
        for (int j = 0; j < classes; j++)
            r[j] = (float)(r[j] / sum);
    }
}

double jn_cnn_softmax_xent(const float *logits, const int *labels, int n, int classes, float *dlogits,
                           long *correct)
{
    double loss = 0.0;
    for (int i = 0; i < n; i++) {
        const float *r = logits + (size_t)i * classes;
        int arg = 0;
        for (int j = 1; j < classes; j++)
            if (r[j] > r[arg])
                arg = j;
        if (correct && arg == labels[i])
            (*correct)++;
        double mx = r[arg], sum = 0.0;
        for (int j = 0; j < classes; j++)
            sum += exp((double)r[j] - mx);
        double lse = mx + log(sum);
        loss += lse - r[labels[i]];
        if (dlogits) {
            float *d = dlogits + (size_t)i * classes;
            for (int j = 0; j < classes; j++)
                d[j] = (float)((exp((double)r[j] - lse) - (j == labels[i] ? 1.0 : 0.0)) / n);
        }
    }
    return n > 0 ? loss / n : 0.0;
}

void jn_cnn_backward(jn_cnn *m, jn_cnn_work *w, const float *x, int n, const float *dlogits)
{
    const jn_cnn_arch *a = &m->a;
    int h2 = a->h / 2, w2 = a->w / 2, h4 = a->h / 4, w4 = a->w / 4, kk = a->k * a->k;
    int rows1 = n * a->h * a->w, rows2 = n * h2 * w2, flat = h4 * w4 * a->c2;

    /* fc2: logits = a3 W4^T + b4 */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, a->classes, a->hidden, n, 1.0f, dlogits, a->classes, w->a3,
                a->hidden, 0.0f, m->g[6], a->hidden);
    bias_grad(dlogits, n, a->classes, m->g[7]);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, a->hidden, a->classes, 1.0f, dlogits, a->classes,
                m->p[6], a->hidden, 0.0f, w->d_a3, a->hidden);
    relu_back(w->d_a3, w->a3, (size_t)n * a->hidden);

    /* fc1: a3 = relu(p2 W3^T + b3) */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, a->hidden, flat, n, 1.0f, w->d_a3, a->hidden, w->p2, flat,
                0.0f, m->g[4], flat);
    bias_grad(w->d_a3, n, a->hidden, m->g[5]);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, flat, a->hidden, 1.0f, w->d_a3, a->hidden, m->p[4],
                flat, 0.0f, w->d_p2, flat);

    /* pool2, relu, conv2 */
    size_t n_a2 = (size_t)rows2 * a->c2;
    maxpool_back(w->a2, w->p2, w->d_p2, n, h2, w2, a->c2, w->d_a2);
    relu_back(w->d_a2, w->a2, n_a2);
    im2col(w->p1, n, h2, w2, a->c1, a->k, w->col);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, a->c2, kk * a->c1, rows2, 1.0f, w->d_a2, a->c2, w->col,
                kk * a->c1, 0.0f, m->g[2], kk * a->c1);
    bias_grad(w->d_a2, rows2, a->c2, m->g[3]);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows2, kk * a->c1, a->c2, 1.0f, w->d_a2, a->c2, m->p[2],
                kk * a->c1, 0.0f, w->dcol, kk * a->c1);
    col2im(w->dcol, n, h2, w2, a->c1, a->k, w->d_p1);

    /* pool1, relu, conv1 (no gradient for the input) */
    size_t n_a1 = (size_t)rows1 * a->c1;
    maxpool_back(w->a1, w->p1, w->d_p1, n, a->h, a->w, a->c1, w->d_a1);
    relu_back(w->d_a1, w->a1, n_a1);
    im2col(x, n, a->h, a->w, a->c, a->k, w->col);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, a->c1, kk * a->c, rows1, 1.0f, w->d_a1, a->c1, w->col,
                kk * a->c, 0.0f, m->g[0], kk * a->c);
    bias_grad(w->d_a1, rows1, a->c1, m->g[1]);
}
