/* ops_rnn.c — the recurrent layers RNN, GRU and LSTM (opsets 1, 3 (GRU), 7 and 14): forward, reverse and
 * bidirectional; sequence_lens; initial states; LSTM peepholes and input_forget; GRU linear_before_reset; the
 * activation attributes (activations, activation_alpha/beta, clip); layout 0 ([seq, batch, ...]) and 1
 * ([batch, seq, ...]). FP32.
 *
 * The input projection of every time step is one cblas_sgemm ([seq*batch, input] x W^T, both biases folded in);
 * each step then multiplies the hidden state by R^T and applies the gates row by row (sigmoid and tanh from
 * vmath.c). The per-step product goes through vmath.c's ox_panel_gemm on R packed once into column panels:
 * cblas_sgemm would pack R again on every step, which for a 16 x 512 x 128 step costs about what the arithmetic
 * does. A constant R is packed at load, one that comes at run time once per call.
 * A batch entry whose sequence_lens has run out keeps its state and writes zeros to Y, as the operator defines.
 *
 * Thread-safety: the kernels keep no state; scratch is allocated per call. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"
#include "vmath.h"

typedef enum { K_RNN, K_GRU, K_LSTM } rnn_kind;

typedef enum {
    A_RELU, A_TANH, A_SIGMOID, A_AFFINE, A_LEAKY, A_THRESH, A_SCALEDTANH, A_HARDSIG, A_ELU, A_SOFTSIGN, A_SOFTPLUS,
} act_kind;

typedef struct rnn_act {
    act_kind kind;
    float alpha, beta;
} rnn_act;

static const struct {
    const char *name;
    act_kind kind;
    int uses; /* 1: alpha, 2: alpha and beta */
    float alpha, beta; /* the defaults of the corresponding ONNX operators */
} act_table[] = {
    {"Relu", A_RELU, 0, 0, 0},         {"Tanh", A_TANH, 0, 0, 0},
    {"Sigmoid", A_SIGMOID, 0, 0, 0},   {"Affine", A_AFFINE, 2, 1.0f, 0.0f},
    {"LeakyRelu", A_LEAKY, 1, 0.01f, 0}, {"ThresholdedRelu", A_THRESH, 1, 1.0f, 0},
    {"ScaledTanh", A_SCALEDTANH, 2, 1.0f, 1.0f}, {"HardSigmoid", A_HARDSIG, 2, 0.2f, 0.5f},
    {"Elu", A_ELU, 1, 1.0f, 0},       {"Softsign", A_SOFTSIGN, 0, 0, 0},
    {"Softplus", A_SOFTPLUS, 0, 0, 0},
};

typedef struct rnn_params {
    rnn_kind kind;
    int gates;      /* G: 1, 3 or 4 */
    int n_act;      /* activations per direction: 1, 2 or 3 */
    int dirs;       /* 1 or 2 */
    bool reverse;   /* the only direction runs backwards */
    int layout;
    int64_t hidden; /* 0 = from R's shape */
    bool has_clip;
    float clip;
    bool input_forget, lbr;
    rnn_act act[2][3];
    /* R's first rgates rows of each direction packed for ox_panel_gemm (ox_panel_floats(rgates, H) floats per
     * direction), at load when R is a constant (else NULL: packed per call) */
    float *rp;
} rnn_params;

static void rnn_free(void *pp)
{
    rnn_params *p = pp;
    free(p->rp);
    free(p);
}

static const char *const rnn_attrs[] = {"activation_alpha", "activation_beta", "activations", "clip", "direction",
                                        "hidden_size", "layout", "output_sequence", NULL};
static const char *const gru_attrs[] = {"activation_alpha", "activation_beta", "activations", "clip", "direction",
                                        "hidden_size", "layout", "linear_before_reset", "output_sequence", NULL};
static const char *const lstm_attrs[] = {"activation_alpha", "activation_beta", "activations", "clip", "direction",
                                         "hidden_size", "input_forget", "layout", "output_sequence", NULL};

static int parse_activations(ox_node *n, rnn_params *p, jn_err *err)
{
    static const char *const dflt[3][3] = {{"Tanh"}, {"Sigmoid", "Tanh"}, {"Sigmoid", "Tanh", "Tanh"}};
    const ox_attr *names = ox_attr_find(n, "activations");
    const ox_attr *alpha = ox_attr_find(n, "activation_alpha"), *beta = ox_attr_find(n, "activation_beta");
    if (names && names->type != OX_ATTR_STRINGS)
        return ox_reject(n, err, "activations must be a list of strings");
    if ((alpha && alpha->type != OX_ATTR_FLOATS) || (beta && beta->type != OX_ATTR_FLOATS))
        return ox_reject(n, err, "activation_alpha and activation_beta must be lists of floats");
    size_t n_names = names ? names->n : 0;
    if (names && n_names != (size_t)(p->n_act * p->dirs))
        return ox_reject(n, err, "activations lists %zu functions, %d expected (%d per direction)", n_names,
                         p->n_act * p->dirs, p->n_act);
    size_t ai = 0, bi = 0;
    for (int d = 0; d < p->dirs; d++)
        for (int k = 0; k < p->n_act; k++) {
            const char *name = names ? names->strs[d * p->n_act + k] : dflt[p->kind][k];
            size_t e = 0;
            while (e < sizeof act_table / sizeof act_table[0] && strcmp(act_table[e].name, name) != 0)
                e++;
            if (e == sizeof act_table / sizeof act_table[0])
                return ox_reject(n, err, "activation '%s' is not one the operator defines", name);
            rnn_act *a = &p->act[d][k];
            a->kind = act_table[e].kind;
            a->alpha = act_table[e].alpha;
            a->beta = act_table[e].beta;
            /* The lists are consumed in order by the functions that take a value (as ONNX Runtime reads them). */
            if (act_table[e].uses >= 1 && alpha && ai < alpha->n)
                a->alpha = alpha->floats[ai++];
            if (act_table[e].uses >= 2 && beta && bi < beta->n)
                a->beta = beta->floats[bi++];
        }
    return 0;
}

static int64_t rec_gates(const rnn_params *p, int64_t H)
{
    return p->kind == K_GRU && !p->lbr ? 2 * H : p->gates * H;
}

/* A constant R is packed here, once (a shape that does not fit is left for the run to report). */
static int prepack(ox_model *m, ox_node *n, rnn_params *p, jn_err *err)
{
    const ox_tensor *r = ox_in_const(m, n, 2);
    /* (an FP16/BF16 R, run through FP32 copies by onnx_half.c, is packed per call from its copy) */
    if (!r || r->dtype != JN_DTYPE_FP32 || r->ndim != 3 || r->shape[0] != p->dirs ||
        r->shape[1] != p->gates * r->shape[2] || (p->hidden && p->hidden != r->shape[2]))
        return 0;
    int64_t H = r->shape[2], GH = r->shape[1], rg = rec_gates(p, H);
    size_t per = ox_panel_floats(rg, H);
    p->rp = malloc((size_t)p->dirs * per * sizeof(float) + 1);
    if (!p->rp)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    for (int d = 0; d < p->dirs; d++)
        ox_panel_pack((const float *)r->data + d * GH * H, rg, H, p->rp + (size_t)d * per);
    return 0;
}

static int rnn_check(ox_model *m, ox_node *n, jn_err *err)
{
    rnn_params *p = calloc(1, sizeof *p);
    if (!p)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    n->params = p;
    p->kind = strcmp(n->op_type, "LSTM") == 0 ? K_LSTM : strcmp(n->op_type, "GRU") == 0 ? K_GRU : K_RNN;
    p->gates = p->kind == K_LSTM ? 4 : p->kind == K_GRU ? 3 : 1;
    p->n_act = p->kind == K_LSTM ? 3 : p->kind == K_GRU ? 2 : 1;
    if (n->opset >= 7 && ox_attr_find(n, "output_sequence"))
        return ox_reject(n, err, "output_sequence is not part of opset %d", n->opset);
    if (n->opset < 14 && ox_attr_find(n, "layout"))
        return ox_reject(n, err, "layout is not part of opset %d (14 or later)", n->opset);
    if (p->kind == K_GRU && n->opset < 3 && ox_attr_find(n, "linear_before_reset"))
        return ox_reject(n, err, "linear_before_reset is not part of opset %d (3 or later)", n->opset);
    const char *dir = ox_attr_str(n, "direction", "forward");
    if (strcmp(dir, "forward") == 0 || strcmp(dir, "reverse") == 0) {
        p->dirs = 1;
        p->reverse = dir[0] == 'r';
    } else if (strcmp(dir, "bidirectional") == 0) {
        p->dirs = 2;
    } else {
        return ox_reject(n, err, "direction '%s' is not forward, reverse or bidirectional", dir);
    }
    p->layout = (int)ox_attr_int(n, "layout", 0);
    if (p->layout != 0 && p->layout != 1)
        return ox_reject(n, err, "layout %d is not 0 or 1", p->layout);
    p->hidden = ox_attr_int(n, "hidden_size", 0);
    if (ox_attr_find(n, "hidden_size") && p->hidden < 1)
        return ox_reject(n, err, "hidden_size %lld is not positive", (long long)p->hidden);
    const ox_attr *clip = ox_attr_find(n, "clip");
    if (clip) {
        p->has_clip = true;
        p->clip = clip->f;
        if (!(p->clip > 0))
            return ox_reject(n, err, "clip %g is not positive", (double)p->clip);
    }
    int64_t inf = ox_attr_int(n, "input_forget", 0), lbr = ox_attr_int(n, "linear_before_reset", 0);
    if ((inf != 0 && inf != 1) || (lbr != 0 && lbr != 1))
        return ox_reject(n, err, "input_forget and linear_before_reset must be 0 or 1");
    p->input_forget = inf != 0;
    p->lbr = lbr != 0;
    if (parse_activations(n, p, err))
        return err->code;
    for (int i = 0; i < n->n_in; i++) {
        if (!ox_has_in(n, i))
            continue;
        jn_dtype want = i == 4 ? JN_DTYPE_INT32 : JN_DTYPE_FP32;
        if (ox_in_dtype(m, n, i) != want)
            return ox_reject(n, err, "input %d has dtype %s (%s is supported)", i,
                             jn_dtype_name(ox_in_dtype(m, n, i)), jn_dtype_name(want));
    }
    for (int i = 0; i < n->n_out; i++)
        ox_set_out_dtype(m, n, i, JN_DTYPE_FP32);
    return prepack(m, n, p, err);
}

/* The dimensions of one call, checked against every input. */
typedef struct rnn_dims {
    int64_t S, B, In, H, D;
} rnn_dims;

static int want_shape(const ox_node *n, const ox_tensor *t, const char *what, int ndim, const int64_t *shape,
                      jn_err *err)
{
    bool ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        ok = t->shape[i] == shape[i];
    if (ok)
        return 0;
    char got[96], want[96];
    jn_format_type(got, sizeof got, t->dtype, t->ndim, t->shape);
    jn_format_type(want, sizeof want, t->dtype, ndim, shape);
    return jn_err_set(err, JN_EINVAL, "node '%s' (%s): %s is %s, expected %s", n->name, n->op_type, what, got, want);
}

static int rnn_dims_of(const ox_node *n, ox_tensor *const *in, rnn_dims *d, jn_err *err)
{
    const rnn_params *p = n->params;
    const ox_tensor *x = in[0], *w = in[1], *r = in[2];
    if (x->ndim != 3 || w->ndim != 3 || r->ndim != 3)
        return jn_err_set(err, JN_EINVAL, "node '%s' (%s): X, W and R must be 3-D (ranks %d, %d, %d)", n->name,
                          n->op_type, x->ndim, w->ndim, r->ndim);
    d->S = x->shape[p->layout ? 1 : 0];
    d->B = x->shape[p->layout ? 0 : 1];
    d->In = x->shape[2];
    d->D = p->dirs;
    d->H = p->hidden ? p->hidden : r->shape[2];
    int64_t G = p->gates;
    int64_t ws[3] = {d->D, G * d->H, d->In}, rs[3] = {d->D, G * d->H, d->H}, bs[2] = {d->D, 2 * G * d->H};
    int64_t ls[1] = {d->B}, ps[2] = {d->D, 3 * d->H};
    int64_t hs[3] = {p->layout ? d->B : d->D, p->layout ? d->D : d->B, d->H};
    if (want_shape(n, w, "W", 3, ws, err) || want_shape(n, r, "R", 3, rs, err) ||
        (n->n_in > 3 && in[3] && want_shape(n, in[3], "B", 2, bs, err)) ||
        (n->n_in > 4 && in[4] && want_shape(n, in[4], "sequence_lens", 1, ls, err)) ||
        (n->n_in > 5 && in[5] && want_shape(n, in[5], "initial_h", 3, hs, err)) ||
        (n->n_in > 6 && in[6] && want_shape(n, in[6], "initial_c", 3, hs, err)) ||
        (n->n_in > 7 && in[7] && want_shape(n, in[7], "P", 2, ps, err)))
        return err->code;
    return 0;
}

static int rnn_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    const rnn_params *p = n->params;
    rnn_dims d;
    if (rnn_dims_of(n, in, &d, err))
        return err->code;
    int64_t y[4] = {d.S, d.D, d.B, d.H}, yl[4] = {d.B, d.S, d.D, d.H};
    int64_t h[3] = {d.D, d.B, d.H}, hl[3] = {d.B, d.D, d.H};
    if (out[0] && ox_set_shape(out[0], JN_DTYPE_FP32, 4, p->layout ? yl : y, err))
        return err->code;
    for (int i = 1; i < n->n_out; i++)
        if (out[i] && ox_set_shape(out[i], JN_DTYPE_FP32, 3, p->layout ? hl : h, err))
            return err->code;
    return 0;
}

/* ---------------------------------------------------------------------------------------------------------------
 * The kernels */

OX_HOT static void act_apply(const rnn_act *a, float *x, int64_t n)
{
    float al = a->alpha, be = a->beta;
    switch (a->kind) {
    case A_RELU: for (int64_t i = 0; i < n; i++) x[i] = x[i] > 0 ? x[i] : 0; break;
    case A_TANH: ox_vtanh(x, n); break;
    case A_SIGMOID: ox_vsigmoid(x, n); break;
    case A_AFFINE: for (int64_t i = 0; i < n; i++) x[i] = al * x[i] + be; break;
    case A_LEAKY: for (int64_t i = 0; i < n; i++) x[i] = x[i] >= 0 ? x[i] : al * x[i]; break;
    case A_THRESH: for (int64_t i = 0; i < n; i++) x[i] = x[i] > al ? x[i] : 0; break;
    case A_SCALEDTANH:
        for (int64_t i = 0; i < n; i++)
            x[i] = be * x[i];
        ox_vtanh(x, n);
        for (int64_t i = 0; i < n; i++)
            x[i] = al * x[i];
        break;
    case A_HARDSIG:
        for (int64_t i = 0; i < n; i++)
            x[i] = fmaxf(0.0f, fminf(1.0f, al * x[i] + be));
        break;
    case A_ELU: for (int64_t i = 0; i < n; i++) x[i] = x[i] >= 0 ? x[i] : al * (expf(x[i]) - 1.0f); break;
    case A_SOFTSIGN: for (int64_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + fabsf(x[i])); break;
    case A_SOFTPLUS: for (int64_t i = 0; i < n; i++) x[i] = x[i] > 30.0f ? x[i] : log1pf(expf(x[i])); break;
    }
}

static void clip_to(float *x, int64_t n, float c)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = fminf(c, fmaxf(-c, x[i]));
}

typedef struct rnn_run {
    const rnn_params *p;
    rnn_dims d;
    const float *x, *w, *r, *bias, *p_peep;
    const int32_t *lens;
    const float *h0, *c0;
    float *y, *yh, *yc;
    /* scratch */
    float *xg; /* [S*B, G*H]: X . W^T + biases */
    float *hg; /* [B, rgates]: H . R^T (rgates: G*H, or 2H for GRU without linear_before_reset) */
    float *h, *c, *tmp;
    float *bsum; /* [G*H]: the biases folded into xg */
    float *rp;   /* R of one direction packed for ox_panel_gemm, when the params have none */
} rnn_run;

/* Offsets of row (t, b) in X-shaped ([S,B,.] or [B,S,.]) and Y ([S,D,B,H] or [B,S,D,H]) tensors. */
static int64_t row_x(const rnn_run *k, int64_t t, int64_t b)
{
    return k->p->layout ? b * k->d.S + t : t * k->d.B + b;
}

static float *y_at(const rnn_run *k, int64_t t, int64_t dir, int64_t b)
{
    const rnn_dims *d = &k->d;
    int64_t idx = k->p->layout ? ((b * d->S + t) * d->D + dir) : ((t * d->D + dir) * d->B + b);
    return k->y + idx * d->H;
}

static int64_t state_at(const rnn_run *k, int64_t dir, int64_t b)
{
    return (k->p->layout ? b * k->d.D + dir : dir * k->d.B + b) * k->d.H;
}

static void lstm_cell(const rnn_run *k, int dir, const float *xg, const float *hg, float *h, float *c)
{
    const rnn_params *p = k->p;
    int64_t H = k->d.H;
    float *g = k->tmp; /* [4H]: i, o, f, c */
    for (int64_t j = 0; j < 4 * H; j++)
        g[j] = xg[j] + hg[j];
    const float *pi = k->p_peep ? k->p_peep + dir * 3 * H : NULL; /* peepholes: i, o, f */
    const float *po = pi ? pi + H : NULL, *pf = pi ? pi + 2 * H : NULL;
    float *gi = g, *go = g + H, *gf = g + 2 * H, *gc = g + 3 * H;
    if (pi)
        for (int64_t j = 0; j < H; j++) {
            gi[j] += pi[j] * c[j];
            gf[j] += pf[j] * c[j];
        }
    if (p->has_clip)
        clip_to(g, 4 * H, p->clip);
    act_apply(&p->act[dir][0], gi, H);
    if (p->input_forget)
        for (int64_t j = 0; j < H; j++)
            gf[j] = 1.0f - gi[j];
    else
        act_apply(&p->act[dir][0], gf, H);
    act_apply(&p->act[dir][1], gc, H);
    for (int64_t j = 0; j < H; j++)
        c[j] = gf[j] * c[j] + gi[j] * gc[j];
    if (po) {
        for (int64_t j = 0; j < H; j++)
            go[j] += po[j] * c[j];
        if (p->has_clip)
            clip_to(go, H, p->clip);
    }
    act_apply(&p->act[dir][0], go, H);
    for (int64_t j = 0; j < H; j++)
        gc[j] = c[j];
    act_apply(&p->act[dir][2], gc, H);
    for (int64_t j = 0; j < H; j++)
        h[j] = go[j] * gc[j];
}

/* GRU: hg holds H.R^T for z and r (and h when linear_before_reset); rh_r is R_h^T's contribution for the other
 * case, computed by the caller after r is known. */
static void rnn_cell(const rnn_run *k, int dir, const float *xg, const float *hg, float *h)
{
    int64_t H = k->d.H;
    float *g = k->tmp;
    for (int64_t j = 0; j < H; j++)
        g[j] = xg[j] + hg[j];
    if (k->p->has_clip)
        clip_to(g, H, k->p->clip);
    act_apply(&k->p->act[dir][0], g, H);
    memcpy(h, g, (size_t)H * sizeof(float));
}

/* Runs one direction over the whole sequence. */
static void run_direction(rnn_run *k, int dir, bool reverse)
{
    const rnn_params *p = k->p;
    const rnn_dims *d = &k->d;
    int64_t S = d->S, B = d->B, H = d->H, NI = d->In, G = p->gates, GH = G * H, rgates = rec_gates(p, H);
    const float *W = k->w + dir * GH * NI, *R = k->r + dir * GH * H;
    /* xg = X . W^T + Wb + Rb (except GRU's Rb_h under linear_before_reset, which goes inside r * (...)) */
    float *bsum = k->bsum;
    for (int64_t j = 0; j < GH; j++) {
        const float *wb = k->bias ? k->bias + dir * 2 * GH : NULL, *rb = wb ? wb + GH : NULL;
        bsum[j] = !wb ? 0.0f : wb[j] + (p->kind == K_GRU && p->lbr && j >= 2 * H ? 0.0f : rb[j]);
    }
    /* the bias rows first, then the product added to them (beta 1: OpenBLAS skips its own pass over C) */
    for (int64_t rrow = 0; rrow < S * B; rrow++)
        memcpy(k->xg + rrow * GH, bsum, (size_t)GH * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(S * B), (int)GH, (int)NI, 1.0f, k->x, (int)NI, W,
                (int)NI, 1.0f, k->xg, (int)GH);
    const float *rp = k->rp;
    if (p->rp)
        rp = p->rp + (size_t)dir * ox_panel_floats(rgates, H);
    else
        ox_panel_pack(R, rgates, H, k->rp);
    const float *rbh = k->bias && p->kind == K_GRU && p->lbr ? k->bias + dir * 2 * GH + GH + 2 * H : NULL;
    for (int64_t b = 0; b < B; b++) {
        float *h = k->h + b * H, *c = k->c + b * H;
        if (k->h0)
            memcpy(h, k->h0 + state_at(k, dir, b), (size_t)H * sizeof(float));
        else
            memset(h, 0, (size_t)H * sizeof(float));
        if (p->kind == K_LSTM) {
            if (k->c0)
                memcpy(c, k->c0 + state_at(k, dir, b), (size_t)H * sizeof(float));
            else
                memset(c, 0, (size_t)H * sizeof(float));
        }
    }
    int64_t steps = 0;
    for (int64_t b = 0; b < B; b++) {
        int64_t len = k->lens ? k->lens[b] : S;
        if (len > steps)
            steps = len;
    }
    for (int64_t s = 0; s < steps; s++) {
        /* Recurrent products for every batch row (rows already finished are computed and ignored). */
        ox_panel_gemm(B, rgates, H, k->h, rp, k->hg);
        for (int64_t b = 0; b < B; b++) {
            int64_t len = k->lens ? k->lens[b] : S;
            if (s >= len)
                continue;
            int64_t t = reverse ? len - 1 - s : s;
            const float *xg = k->xg + row_x(k, t, b) * GH;
            float *hg = k->hg + b * rgates, *h = k->h + b * H;
            if (p->kind == K_LSTM) {
                lstm_cell(k, dir, xg, hg, h, k->c + b * H);
            } else if (p->kind == K_RNN) {
                rnn_cell(k, dir, xg, hg, h);
            } else {
                float *g = k->tmp; /* z, r, h~ */
                for (int64_t j = 0; j < 2 * H; j++)
                    g[j] = xg[j] + hg[j];
                if (p->has_clip)
                    clip_to(g, 2 * H, p->clip);
                act_apply(&p->act[dir][0], g, 2 * H);
                float *z = g, *r = g + H, *hh = g + 2 * H;
                if (p->lbr) {
                    for (int64_t j = 0; j < H; j++)
                        hh[j] = xg[2 * H + j] + r[j] * (hg[2 * H + j] + (rbh ? rbh[j] : 0.0f));
                } else {
                    float *rh = g + 3 * H; /* r * H_{t-1}, then . R_h^T */
                    for (int64_t j = 0; j < H; j++)
                        rh[j] = r[j] * h[j];
                    cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)H, (int)H, 1.0f, R + 2 * H * H, (int)H, rh, 1,
                                0.0f, hh, 1);
                    for (int64_t j = 0; j < H; j++)
                        hh[j] += xg[2 * H + j];
                }
                if (p->has_clip)
                    clip_to(hh, H, p->clip);
                act_apply(&p->act[dir][1], hh, H);
                for (int64_t j = 0; j < H; j++)
                    h[j] = (1.0f - z[j]) * hh[j] + z[j] * h[j];
            }
            if (k->y)
                memcpy(y_at(k, t, dir, b), h, (size_t)H * sizeof(float));
        }
    }
    for (int64_t b = 0; b < B; b++) {
        if (k->yh)
            memcpy(k->yh + state_at(k, dir, b), k->h + b * H, (size_t)H * sizeof(float));
        if (k->yc)
            memcpy(k->yc + state_at(k, dir, b), k->c + b * H, (size_t)H * sizeof(float));
    }
}

static int rnn_run_op(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    const rnn_params *p = n->params;
    rnn_run k = {.p = p};
    if (rnn_dims_of(n, in, &k.d, err))
        return err->code;
    const rnn_dims *d = &k.d;
    ox_tensor *opt[8] = {0};
    for (int i = 0; i < n->n_in && i < 8; i++)
        opt[i] = in[i];
    k.x = in[0]->data;
    k.w = in[1]->data;
    k.r = in[2]->data;
    k.bias = opt[3] ? opt[3]->data : NULL;
    k.lens = opt[4] ? opt[4]->data : NULL;
    k.h0 = opt[5] ? opt[5]->data : NULL;
    k.c0 = p->kind == K_LSTM && opt[6] ? opt[6]->data : NULL;
    k.p_peep = p->kind == K_LSTM && opt[7] ? opt[7]->data : NULL;
    k.y = out[0] ? out[0]->data : NULL;
    k.yh = n->n_out > 1 && out[1] ? out[1]->data : NULL;
    k.yc = p->kind == K_LSTM && n->n_out > 2 && out[2] ? out[2]->data : NULL;
    for (int64_t b = 0; k.lens && b < d->B; b++)
        if (k.lens[b] < 0 || k.lens[b] > d->S)
            return jn_err_set(err, JN_EINVAL, "node '%s' (%s): sequence_lens[%lld] = %d is outside [0, %lld]",
                              n->name, n->op_type, (long long)b, k.lens[b], (long long)d->S);
    int64_t GH = p->gates * d->H, rgates = rec_gates(p, d->H);
    size_t n_rp = p->rp ? 0 : ox_panel_floats(rgates, d->H);
    size_t floats = (size_t)(d->S * d->B * GH + d->B * GH + 2 * d->B * d->H + 4 * d->H + 2 * GH) + n_rp;
    /* 64-byte aligned pieces */
    float *scratch = aligned_alloc(64, (floats + 16 * 8 + 15) / 16 * 16 * sizeof(float)); /* a multiple of 64 bytes */
    if (!scratch)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    float *at = scratch;
#define TAKE(ptr, count)                                                                                         \
    do {                                                                                                         \
        ptr = at;                                                                                                \
        at += ((size_t)(count) + 15) / 16 * 16;                                                                  \
    } while (0)
    TAKE(k.xg, d->S * d->B * GH);
    TAKE(k.hg, d->B * GH);
    TAKE(k.h, d->B * d->H);
    TAKE(k.c, d->B * d->H);
    TAKE(k.tmp, 4 * d->H + GH);
    TAKE(k.bsum, GH);
    TAKE(k.rp, n_rp);
#undef TAKE
    if (k.y)
        memset(k.y, 0, out[0]->nbytes); /* steps past a sequence's length stay zero */
    for (int dir = 0; dir < d->D; dir++)
        run_direction(&k, dir, p->dirs == 2 ? dir == 1 : p->reverse);
    free(scratch);
    return 0;
}

static const ox_op op_rnn = {.op_type = "RNN", .min_in = 3, .max_in = 6, .min_out = 0, .max_out = 2,
                             .attrs = rnn_attrs, .check = rnn_check, .shape = rnn_shape, .run = rnn_run_op};
static const ox_op op_gru = {.op_type = "GRU", .min_in = 3, .max_in = 6, .min_out = 0, .max_out = 2,
                             .attrs = gru_attrs, .check = rnn_check, .shape = rnn_shape, .run = rnn_run_op};
static const ox_op op_lstm = {.op_type = "LSTM", .min_in = 3, .max_in = 8, .min_out = 0, .max_out = 3,
                              .attrs = lstm_attrs, .check = rnn_check, .shape = rnn_shape, .run = rnn_run_op};

const ox_op *const ox_ops_rnn[] = {&op_rnn, &op_gru, &op_lstm, NULL};

static const ox_op_ext ext_rnn = {.op = &op_rnn, .flags = OX_OP_OPT_OUT0, .free_params = rnn_free};
static const ox_op_ext ext_gru = {.op = &op_gru, .flags = OX_OP_OPT_OUT0, .free_params = rnn_free};
static const ox_op_ext ext_lstm = {.op = &op_lstm, .flags = OX_OP_OPT_OUT0, .free_params = rnn_free};
const ox_op_ext *const ox_exts_rnn[] = {&ext_rnn, &ext_gru, &ext_lstm, NULL};
