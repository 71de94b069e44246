/* cnn.c — the CNN of cnn.h: the forward pass on the shared kernels (kernels/jn_kernels.h: direct convolution with
 * fused Relu and 2x2 pool, packed dense products), softmax cross-entropy, and the backward pass (im2col +
 * cblas_sgemm over NHWC batches). */
#include "cnn.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jn_kernels.h"

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
    jn_cnn_arch a;
    bool train; /* jn_cnn_work_create: the training buffers below too */
    float *col, *dcol; /* backward: im2col rows (max of both convs) */
    /* Forward (NCHW, the shared kernels): the padded inputs of conv1 and conv2 (pads zero from creation on), one
     * image's pooled conv1 map, and for training the unpooled maps and conv1's pooled maps of the whole batch. */
    float *xp1, *xp2, *p1img, *scratch;
    float *a1c, *p1c, *a2c, *p2c; /* a1c, p1c, a2c: training only; p2c [n][c2*h/4*w/4] always */
    jn_cnn_packed *pk;            /* training forward: the weights packed on every call */
    /* Backward (NHWC): the activations, transposed from the forward's NCHW ones, and their gradients. */
    float *a1, *p1, *a2, *p2, *a3;
    float *d_a1, *d_p1, *d_a2, *d_p2, *d_a3;
};

static jn_k_conv conv_layer(const jn_cnn_arch *a, int layer, int isa)
{
    int r = a->k / 2, h = layer == 1 ? a->h : a->h / 2, w = layer == 1 ? a->w : a->w / 2;
    jn_k_conv c = {.isa = isa,
                   .C = layer == 1 ? a->c : a->c1,
                   .M = layer == 1 ? a->c1 : a->c2,
                   .kh = a->k,
                   .kw = a->k,
                   .HP = h + 2 * r,
                   .WP = w + 2 * r,
                   .OH = h,
                   .OW = w,
                   .relu = true};
    return c;
}

/* The largest of a size over the instruction-set levels (packed sizes depend on the level's tile). */
static size_t max_conv_packed(int64_t M, int64_t K)
{
    size_t n = 0;
    for (int isa = JN_K_SSE2; isa <= JN_K_AVX512; isa++) {
        size_t v = jn_k_conv_packed_floats(isa, M, K) + jn_k_conv_bias_floats(isa, M);
        n = v > n ? v : n;
    }
    return n;
}

static size_t max_gemm_packed(int64_t N, int64_t K)
{
    size_t n = 0;
    for (int isa = JN_K_SSE2; isa <= JN_K_AVX512; isa++) {
        size_t v = jn_k_gemm_packed_floats(isa, N, K);
        n = v > n ? v : n;
    }
    return n;
}

static size_t packed_floats(const jn_cnn_arch *a)
{
    int64_t kk = (int64_t)a->k * a->k, flat = (int64_t)(a->h / 4) * (a->w / 4) * a->c2;
    return max_conv_packed(a->c1, kk * a->c) + max_conv_packed(a->c2, kk * a->c1) + max_gemm_packed(a->hidden, flat) +
           (size_t)a->hidden + max_gemm_packed(a->classes, a->hidden) + (size_t)a->classes;
}

static jn_cnn_packed *packed_alloc(const jn_cnn_arch *a)
{
    int64_t flat = (int64_t)(a->h / 4) * (a->w / 4) * a->c2, kk = (int64_t)a->k * a->k;
    /* plus room for the repacking temporaries (OIHW conv weights, permuted fc1) */
    size_t tmp = (size_t)(flat * a->hidden > kk * a->c1 * a->c2 ? flat * a->hidden : kk * a->c1 * a->c2);
    jn_cnn_packed *p = calloc(1, sizeof *p + (packed_floats(a) + tmp) * sizeof(float));
    if (p)
        p->a = *a;
    return p;
}

/* Fills p (allocated by packed_alloc for m's architecture) with m's weights in the kernels' layouts for `isa`. */
static void pack_into(const jn_cnn *m, int isa, jn_cnn_packed *p)
{
    const jn_cnn_arch *a = &m->a;
    int64_t kk = (int64_t)a->k * a->k, h4 = a->h / 4, w4 = a->w / 4, flat = h4 * w4 * a->c2;
    int64_t K1 = kk * a->c, K2 = kk * a->c1;
    float *at = p->data;
    p->isa = isa;
    p->c1w = at;
    at += jn_k_conv_packed_floats(isa, a->c1, K1);
    p->c1b = at;
    at += jn_k_conv_bias_floats(isa, a->c1);
    p->c2w = at;
    at += jn_k_conv_packed_floats(isa, a->c2, K2);
    p->c2b = at;
    at += jn_k_conv_bias_floats(isa, a->c2);
    p->f1w = at;
    at += jn_k_gemm_packed_floats(isa, a->hidden, flat);
    p->f1b = at;
    at += a->hidden;
    p->f2w = at;
    at += jn_k_gemm_packed_floats(isa, a->classes, a->hidden);
    p->f2b = at;
    at += a->classes;
    float *tmp = p->data + packed_floats(a);
    /* conv weights: OHWI [o][ky][kx][i] -> the kernels' OIHW [o][i][ky][kx] */
    const int cin[2] = {a->c, a->c1}, cout[2] = {a->c1, a->c2};
    for (int l = 0; l < 2; l++) {
        const float *src = m->p[2 * l];
        for (int o = 0; o < cout[l]; o++)
            for (int i = 0; i < cin[l]; i++)
                for (int t = 0; t < kk; t++)
                    tmp[((size_t)o * cin[l] + i) * kk + t] = src[((size_t)o * kk + t) * cin[l] + i];
        jn_k_conv_pack(isa, tmp, cout[l], kk * cin[l], l == 0 ? p->c1w : p->c2w);
        jn_k_conv_pack_bias(isa, m->p[2 * l + 1], cout[l], l == 0 ? p->c1b : p->c2b);
    }
    /* fc1: its input columns are the NHWC flattening (y, x, c); the kernels' pooled map is NCHW (c, y, x). */
    const float *f1 = m->p[4];
    for (int j = 0; j < a->hidden; j++)
        for (int c = 0; c < a->c2; c++)
            for (int64_t y = 0; y < h4; y++)
                for (int64_t x = 0; x < w4; x++)
                    tmp[(size_t)j * flat + ((size_t)c * h4 + y) * w4 + x] =
                        f1[(size_t)j * flat + ((size_t)y * w4 + x) * a->c2 + c];
    jn_k_gemm_pack(isa, tmp, flat, a->hidden, true, p->f1w);
    memcpy(p->f1b, m->p[5], (size_t)a->hidden * sizeof(float));
    jn_k_gemm_pack(isa, m->p[6], a->hidden, a->classes, true, p->f2w);
    memcpy(p->f2b, m->p[7], (size_t)a->classes * sizeof(float));
}

jn_cnn_packed *jn_cnn_pack(const jn_cnn *m)
{
    jn_cnn_packed *p = packed_alloc(&m->a);
    if (p)
        pack_into(m, jn_k_isa(), p);
    return p;
}

void jn_cnn_packed_free(jn_cnn_packed *p)
{
    free(p);
}

/* train: also the buffers of the training forward pass and of the backward pass. */
static jn_cnn_work *work_create(const jn_cnn_arch *a, int batch, bool train)
{
    jn_cnn_work *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    size_t n = (size_t)batch, hw = (size_t)a->h * a->w, kk = (size_t)a->k * a->k;
    size_t col1 = n * hw * kk * a->c, col2 = n * (hw / 4) * kk * a->c1;
    size_t col = col1 > col2 ? col1 : col2;
    size_t s_a1 = n * hw * a->c1, s_p1 = s_a1 / 4, s_a2 = n * (hw / 4) * a->c2, s_p2 = s_a2 / 4,
           s_a3 = n * a->hidden;
    size_t flat = (hw / 16) * a->c2, widest = flat > (size_t)a->hidden ? flat : (size_t)a->hidden;
    size_t xn1 = 0, xn2 = 0; /* the padded inputs' sizes depend on the level's tiles: the largest */
    for (int isa = JN_K_SSE2; isa <= JN_K_AVX512; isa++) {
        jn_k_conv c1 = conv_layer(a, 1, isa), c2 = conv_layer(a, 2, isa);
        size_t n1 = jn_k_conv_padded_floats(&c1), n2 = jn_k_conv_padded_floats(&c2);
        xn1 = n1 > xn1 ? n1 : xn1;
        xn2 = n2 > xn2 ? n2 : xn2;
    }
    w->cap = batch;
    w->a = *a;
    w->train = train;
    w->xp1 = calloc(xn1, sizeof(float));
    w->xp2 = calloc(xn2, sizeof(float));
    w->p1img = malloc(hw / 4 * a->c1 * sizeof(float));
    w->scratch = malloc(16 * widest * sizeof(float)); /* jn_k_gemm_scratch_floats for any level's tile rows */
    w->p2c = malloc(s_p2 * sizeof(float));
    w->a3 = malloc(s_a3 * sizeof(float));
    if (!w->xp1 || !w->xp2 || !w->p1img || !w->scratch || !w->p2c || !w->a3) {
        jn_cnn_work_destroy(w);
        return NULL;
    }
    if (!train)
        return w;
    w->col = malloc(col * sizeof(float));
    w->dcol = malloc(col * sizeof(float));
    w->a1c = malloc(s_a1 * sizeof(float));
    w->p1c = malloc(s_p1 * sizeof(float));
    w->a2c = malloc(s_a2 * sizeof(float));
    w->pk = packed_alloc(a);
    w->a1 = malloc(s_a1 * sizeof(float));
    w->p1 = malloc(s_p1 * sizeof(float));
    w->a2 = malloc(s_a2 * sizeof(float));
    w->p2 = malloc(s_p2 * sizeof(float));
    w->d_a1 = malloc(s_a1 * sizeof(float));
    w->d_p1 = malloc(s_p1 * sizeof(float));
    w->d_a2 = malloc(s_a2 * sizeof(float));
    w->d_p2 = malloc(s_p2 * sizeof(float));
    w->d_a3 = malloc(s_a3 * sizeof(float));
    if (!w->col || !w->dcol || !w->a1c || !w->p1c || !w->a2c || !w->pk || !w->a1 || !w->p1 || !w->a2 || !w->p2 ||
        !w->d_a1 || !w->d_p1 || !w->d_a2 || !w->d_p2 || !w->d_a3) {
        jn_cnn_work_destroy(w);
        return NULL;
    }
    return w;
}

jn_cnn_work *jn_cnn_work_create(const jn_cnn_arch *a, int batch)
{
    return work_create(a, batch, true);
}

jn_cnn_work *jn_cnn_work_create_infer(const jn_cnn_arch *a, int batch)
{
    return work_create(a, batch, false);
}

void jn_cnn_work_destroy(jn_cnn_work *w)
{
    if (!w)
        return;
    free(w->col);
    free(w->dcol);
    free(w->xp1);
    free(w->xp2);
    free(w->p1img);
    free(w->scratch);
    free(w->a1c);
    free(w->p1c);
    free(w->a2c);
    free(w->p2c);
    free(w->pk);
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

/* d *= (a > 0) */
static void relu_back(float *d, const float *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] <= 0.0f)
            d[i] = 0.0f;
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

/* 2x2/2 max pooling of planes [planes][h][w] into [planes][h/2][w/2] (after the Relu: no NaN). */
static void maxpool_nchw(const float *x, int64_t planes, int h, int w, float *out)
{
    int oh = h / 2, ow = w / 2;
    for (int64_t p = 0; p < planes; p++)
        for (int y = 0; y < oh; y++) {
            const float *r0 = x + ((size_t)p * h + 2 * y) * w, *r1 = r0 + w;
            float *o = out + ((size_t)p * oh + y) * ow;
            for (int xx = 0; xx < ow; xx++) {
                float m0 = r0[2 * xx] > r0[2 * xx + 1] ? r0[2 * xx] : r0[2 * xx + 1];
                float m1 = r1[2 * xx] > r1[2 * xx + 1] ? r1[2 * xx] : r1[2 * xx + 1];
                o[xx] = m0 > m1 ? m0 : m1;
            }
        }
}

/* [planes][h][w] -> [h][w][planes] */
static void nchw_to_nhwc(const float *x, int64_t planes, int64_t hw, float *out)
{
    for (int64_t p = 0; p < planes; p++)
        for (int64_t i = 0; i < hw; i++)
            out[i * planes + p] = x[p * hw + i];
}

/* The forward pass on the shared kernels (kernels/jn_kernels.h), NCHW as the ONNX export. Inference fuses each
 * conv's Relu and 2x2 pool into the kernel (only the pooled map is written); training keeps the unpooled maps for
 * the backward pass. */
static void forward(const jn_cnn_packed *pk, jn_cnn_work *w, const float *x, int n, float *logits, bool train)
{
    const jn_cnn_arch *a = &pk->a;
    int r = a->k / 2, h2 = a->h / 2, w2 = a->w / 2;
    int64_t px1 = (int64_t)a->h * a->w, px2 = (int64_t)h2 * w2, flat = (px2 / 4) * a->c2;
    jn_k_conv c1 = conv_layer(a, 1, pk->isa), c2 = conv_layer(a, 2, pk->isa);
    c1.w = pk->c1w;
    c1.bias = pk->c1b;
    c1.pool = !train;
    c2.w = pk->c2w;
    c2.bias = pk->c2b;
    c2.pool = !train;
    for (int b = 0; b < n; b++) {
        const float *xb = x + (size_t)b * px1 * a->c;
        if (a->c == 1) {
            jn_k_conv_pad(&c1, xb, a->h, a->w, r, r, w->xp1);
        } else { /* NHWC -> the padded CHW planes */
            int64_t plane = (c1.HP + 1) * c1.WP;
            for (int64_t i = 0; i < px1; i++)
                for (int c = 0; c < a->c; c++)
                    w->xp1[c * plane + (i / a->w + r) * c1.WP + i % a->w + r] = xb[i * a->c + c];
        }
        float *p1 = train ? w->p1c + (size_t)b * px2 * a->c1 : w->p1img;
        float *p2 = w->p2c + (size_t)b * flat;
        if (train) {
            float *a1 = w->a1c + (size_t)b * px1 * a->c1, *a2 = w->a2c + (size_t)b * px2 * a->c2;
            jn_k_conv_run(&c1, w->xp1, a1);
            maxpool_nchw(a1, a->c1, a->h, a->w, p1);
            jn_k_conv_pad(&c2, p1, h2, w2, r, r, w->xp2);
            jn_k_conv_run(&c2, w->xp2, a2);
            maxpool_nchw(a2, a->c2, h2, w2, p2);
        } else {
            jn_k_conv_run(&c1, w->xp1, p1);
            jn_k_conv_pad(&c2, p1, h2, w2, r, r, w->xp2);
            jn_k_conv_run(&c2, w->xp2, p2);
        }
    }
    jn_k_gemm(pk->isa, n, a->hidden, flat, w->p2c, pk->f1w, pk->f1b, true, w->a3, w->scratch);
    jn_k_gemm(pk->isa, n, a->classes, a->hidden, w->a3, pk->f2w, pk->f2b, false, logits, w->scratch);
}

void jn_cnn_infer(const jn_cnn_packed *pk, jn_cnn_work *w, const float *x, int n, float *logits)
{
    forward(pk, w, x, n, logits, false);
}

void jn_cnn_forward(const jn_cnn *m, jn_cnn_work *w, const float *x, int n, float *logits)
{
    if (!w->train) { /* a serving work area (jn_cnn_work_create_infer) has no room for the kept maps */
        fprintf(stderr, "jn_cnn_forward: the work area comes from jn_cnn_work_create_infer\n");
        abort();
    }
    pack_into(m, jn_k_isa(), w->pk);
    forward(w->pk, w, x, n, logits, true);
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

    /* The forward pass left NCHW maps (the kernels' layout); this pass works in NHWC. */
    for (int b = 0; b < n; b++) {
        size_t i1 = (size_t)b * a->h * a->w * a->c1, i2 = (size_t)b * h2 * w2;
        nchw_to_nhwc(w->a1c + i1, a->c1, (int64_t)a->h * a->w, w->a1 + i1);
        nchw_to_nhwc(w->p1c + i2 * a->c1, a->c1, (int64_t)h2 * w2, w->p1 + i2 * a->c1);
        nchw_to_nhwc(w->a2c + i2 * a->c2, a->c2, (int64_t)h2 * w2, w->a2 + i2 * a->c2);
        nchw_to_nhwc(w->p2c + (size_t)b * flat, a->c2, (int64_t)h4 * w4, w->p2 + (size_t)b * flat);
    }

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
