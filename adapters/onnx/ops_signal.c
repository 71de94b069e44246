/* ops_signal.c — audio front ends inside graphs: DFT (opsets 17 and 20), STFT (17), HannWindow, HammingWindow,
 * BlackmanWindow and MelWeightMatrix (17).
 *
 * The transforms run through FFTW (Debian's libfftw3, double precision: the suite's reference is numpy's double
 * FFT, and FP32 inputs and outputs keep well inside its tolerance). FFTW's planner is not thread-safe, executing a
 * plan is: plans are made and destroyed under plan_lock, and each run executes its own plan on its own buffers
 * (fftw_execute_dft on fftw_malloc'd arrays, which keep the alignment the plan was made for). FFTW_ESTIMATE: no
 * measuring at run time. */
#include <fftw3.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ops_helpers.h"

static pthread_mutex_t plan_lock = PTHREAD_MUTEX_INITIALIZER;

/* One complex transform of length n with its buffers. */
typedef struct fft {
    int64_t n;
    fftw_complex *in, *out;
    fftw_plan plan;
} fft;

static int fft_make(fft *f, int64_t n, bool inverse)
{
    memset(f, 0, sizeof *f);
    if (n < 1 || n > (int64_t)1 << 30)
        return -1;
    f->n = n;
    f->in = fftw_malloc(sizeof(fftw_complex) * (size_t)n);
    f->out = fftw_malloc(sizeof(fftw_complex) * (size_t)n);
    if (!f->in || !f->out)
        return -1;
    pthread_mutex_lock(&plan_lock);
    f->plan = fftw_plan_dft_1d((int)n, f->in, f->out, inverse ? FFTW_BACKWARD : FFTW_FORWARD, FFTW_ESTIMATE);
    pthread_mutex_unlock(&plan_lock);
    return f->plan ? 0 : -1;
}

static void fft_free(fft *f)
{
    if (f->plan) {
        pthread_mutex_lock(&plan_lock);
        fftw_destroy_plan(f->plan);
        pthread_mutex_unlock(&plan_lock);
    }
    fftw_free(f->in);
    fftw_free(f->out);
}

static int float_in_check(ox_model *m, ox_node *n, jn_err *err)
{
    jn_dtype dt = ox_in_dtype(m, n, 0);
    if (dt != JN_DTYPE_FP32 && dt != JN_DTYPE_FP64)
        return ox_reject(n, err, "dtype %s is not supported (FP32, FP64 are)", jn_dtype_name(dt));
    ox_set_out_dtype(m, n, 0, dt);
    return 0;
}

/* ---------------------------------------------------------------------------------------------------------------
 * DFT: x [..., 1 | 2] (real or complex) along one signal axis. */

typedef struct dft_geom {
    int axis;
    int64_t n, out_len;
    bool inverse, onesided;
} dft_geom;

static int dft_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (oxh_need_int(m, n, 1, "dft_length", err) || oxh_need_int(m, n, 2, "axis", err))
        return err->code;
    if (n->opset >= 20 && ox_attr_find(n, "axis"))
        return ox_reject(n, err, "axis is an input from opset 20");
    return float_in_check(m, n, err);
}

static int dft_geom_make(const ox_node *n, ox_tensor *const *in, dft_geom *g, jn_err *err)
{
    const ox_tensor *x = in[0];
    if (x->ndim < 2 || (x->shape[x->ndim - 1] != 1 && x->shape[x->ndim - 1] != 2))
        return OX_ERR(n, err, JN_EINVAL, "the input's last dimension must be 1 (real) or 2 (complex)");
    int64_t axis = n->opset >= 20 ? -2 : ox_attr_int(n, "axis", 1);
    if (n->opset >= 20 && oxh_given(in, n->n_in, 2) && oxh_scalar_i64(n, in[2], "axis", &axis, err))
        return err->code;
    g->axis = ox_axis(axis, x->ndim);
    if (g->axis < 0 || g->axis == x->ndim - 1)
        return OX_ERR(n, err, JN_EINVAL, "axis %lld is not a signal axis", (long long)axis);
    g->inverse = ox_attr_int(n, "inverse", 0) != 0;
    g->onesided = ox_attr_int(n, "onesided", 0) != 0;
    int64_t len = x->shape[g->axis];
    g->n = g->inverse && g->onesided ? 2 * (len - 1) : len;
    if (oxh_given(in, n->n_in, 1) && oxh_scalar_i64(n, in[1], "dft_length", &g->n, err))
        return err->code;
    if (g->n < 1 || g->n > (int64_t)1 << 28)
        return OX_ERR(n, err, JN_EINVAL, "dft_length %lld is out of range", (long long)g->n);
    g->out_len = g->onesided && !g->inverse ? g->n / 2 + 1 : g->n;
    return 0;
}

static int dft_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    dft_geom g = {0};
    if (dft_geom_make(n, in, &g, err))
        return err->code;
    int64_t shape[JN_MAX_DIMS];
    memcpy(shape, in[0]->shape, sizeof shape);
    shape[g.axis] = g.out_len;
    shape[in[0]->ndim - 1] = g.inverse && g.onesided ? 1 : 2;
    return ox_set_shape(out[0], in[0]->dtype, in[0]->ndim, shape, err);
}

static int dft_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    dft_geom g = {0};
    if (dft_geom_make(n, in, &g, err))
        return err->code;
    const ox_tensor *x = in[0];
    int r = x->ndim;
    int64_t cx = x->shape[r - 1], cy = out[0]->shape[r - 1], len = x->shape[g.axis];
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < g.axis; d++)
        outer *= x->shape[d];
    for (int d = g.axis + 1; d < r - 1; d++)
        inner *= x->shape[d];
    fft f;
    if (fft_make(&f, g.n, g.inverse)) {
        fft_free(&f);
        return OX_ERR(n, err, JN_ENOMEM, "cannot plan a transform of length %lld", (long long)g.n);
    }
    /* Inverse of a one-sided spectrum: rebuild the Hermitian-symmetric full spectrum, keep the real part. */
    int64_t take = g.inverse && g.onesided ? (g.n / 2 + 1 < len ? g.n / 2 + 1 : len) : (g.n < len ? g.n : len);
    double scale = g.inverse ? 1.0 / (double)g.n : 1.0;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < inner; k++) {
            for (int64_t i = 0; i < g.n; i++)
                f.in[i][0] = f.in[i][1] = 0;
            for (int64_t i = 0; i < take; i++) {
                int64_t at = ((o * len + i) * inner + k) * cx;
                f.in[i][0] = ox_load_f64(x->data, x->dtype, at);
                f.in[i][1] = cx == 2 ? ox_load_f64(x->data, x->dtype, at + 1) : 0;
            }
            if (g.inverse && g.onesided)
                for (int64_t i = 1; i < take; i++)
                    if (g.n - i > i && g.n - i < g.n) {
                        f.in[g.n - i][0] = f.in[i][0];
                        f.in[g.n - i][1] = -f.in[i][1];
                    }
            fftw_execute_dft(f.plan, f.in, f.out);
            for (int64_t i = 0; i < g.out_len; i++) {
                int64_t at = ((o * g.out_len + i) * inner + k) * cy;
                ox_store_f64(out[0]->data, out[0]->dtype, at, f.out[i][0] * scale);
                if (cy == 2)
                    ox_store_f64(out[0]->data, out[0]->dtype, at + 1, f.out[i][1] * scale);
            }
        }
    fft_free(&f);
    return 0;
}

static const char *const dft_attrs[] = {"axis", "inverse", "onesided", NULL};
static const ox_op op_dft = {.op_type = "DFT", .min_in = 1, .max_in = 3, .min_out = 1, .max_out = 1,
                             .attrs = dft_attrs, .shape_inputs = (1u << 1) | (1u << 2), .check = dft_check,
                             .shape = dft_shape, .run = dft_run};

/* ---------------------------------------------------------------------------------------------------------------
 * STFT: signal [B, L, 1 | 2], frame_step, optional window [W] and frame_length -> [B, frames, bins, 2]. */

typedef struct stft_geom {
    int64_t step, fl, frames, bins;
} stft_geom;

static int stft_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (oxh_need_int(m, n, 1, "frame_step", err) || oxh_need_int(m, n, 3, "frame_length", err))
        return err->code;
    if (ox_has_in(n, 2) && ox_in_dtype(m, n, 2) != ox_in_dtype(m, n, 0))
        return ox_reject(n, err, "the window's dtype differs from the signal's");
    return float_in_check(m, n, err);
}

static int stft_geom_make(const ox_node *n, ox_tensor *const *in, stft_geom *g, jn_err *err)
{
    const ox_tensor *x = in[0];
    if (x->ndim != 3 || (x->shape[2] != 1 && x->shape[2] != 2))
        return OX_ERR(n, err, JN_EINVAL, "the signal must be [batch, length, 1 | 2]");
    if (oxh_scalar_i64(n, in[1], "frame_step", &g->step, err))
        return err->code;
    bool win = oxh_given(in, n->n_in, 2);
    g->fl = win ? ox_count(in[2]) : x->shape[1];
    if (oxh_given(in, n->n_in, 3) && oxh_scalar_i64(n, in[3], "frame_length", &g->fl, err))
        return err->code;
    if (win && (in[2]->ndim != 1 || in[2]->shape[0] != g->fl))
        return OX_ERR(n, err, JN_EINVAL, "the window must be 1-D with frame_length (%lld) values", (long long)g->fl);
    if (g->step < 1 || g->fl < 1 || g->fl > x->shape[1])
        return OX_ERR(n, err, JN_EINVAL, "frame_step %lld / frame_length %lld do not fit a signal of %lld",
                      (long long)g->step, (long long)g->fl, (long long)x->shape[1]);
    bool onesided = ox_attr_int(n, "onesided", 1) != 0;
    if (onesided && x->shape[2] == 2)
        return OX_ERR(n, err, JN_EINVAL, "onesided needs a real signal");
    g->frames = 1 + (x->shape[1] - g->fl) / g->step;
    g->bins = onesided ? g->fl / 2 + 1 : g->fl;
    return 0;
}

static int stft_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    stft_geom g = {0};
    if (stft_geom_make(n, in, &g, err))
        return err->code;
    int64_t shape[4] = {in[0]->shape[0], g.frames, g.bins, 2};
    return ox_set_shape(out[0], in[0]->dtype, 4, shape, err);
}

static int stft_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    stft_geom g = {0};
    if (stft_geom_make(n, in, &g, err))
        return err->code;
    const ox_tensor *x = in[0], *w = oxh_given(in, n->n_in, 2) ? in[2] : NULL;
    int64_t B = x->shape[0], L = x->shape[1], c = x->shape[2];
    fft f;
    if (fft_make(&f, g.fl, false)) {
        fft_free(&f);
        return OX_ERR(n, err, JN_ENOMEM, "cannot plan a transform of length %lld", (long long)g.fl);
    }
    for (int64_t b = 0; b < B; b++)
        for (int64_t fr = 0; fr < g.frames; fr++) {
            for (int64_t i = 0; i < g.fl; i++) {
                int64_t at = (b * L + fr * g.step + i) * c;
                double wv = w ? ox_load_f64(w->data, w->dtype, i) : 1.0;
                f.in[i][0] = ox_load_f64(x->data, x->dtype, at) * wv;
                f.in[i][1] = c == 2 ? ox_load_f64(x->data, x->dtype, at + 1) * wv : 0;
            }
            fftw_execute_dft(f.plan, f.in, f.out);
            for (int64_t i = 0; i < g.bins; i++) {
                int64_t at = ((b * g.frames + fr) * g.bins + i) * 2;
                ox_store_f64(out[0]->data, out[0]->dtype, at, f.out[i][0]);
                ox_store_f64(out[0]->data, out[0]->dtype, at + 1, f.out[i][1]);
            }
        }
    fft_free(&f);
    return 0;
}

static const char *const stft_attrs[] = {"onesided", NULL};
static const ox_op op_stft = {.op_type = "STFT", .min_in = 2, .max_in = 4, .min_out = 1, .max_out = 1,
                              .attrs = stft_attrs, .shape_inputs = (1u << 1) | (1u << 3), .check = stft_check,
                              .shape = stft_shape, .run = stft_run};

/* ---------------------------------------------------------------------------------------------------------------
 * Windows: size -> [size] in output_datatype (periodic: the period is size, else size - 1). */

static int out_datatype_check(ox_model *m, ox_node *n, jn_err *err)
{
    jn_dtype dt = ox_dtype_from_onnx(ox_attr_int(n, "output_datatype", 1));
    if (!ox_dtype_is_float(dt) && !ox_dtype_is_int(dt))
        return ox_reject(n, err, "output_datatype %lld is not supported",
                         (long long)ox_attr_int(n, "output_datatype", 1));
    ox_set_out_dtype(m, n, 0, dt);
    return 0;
}

static int win_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (oxh_need_int(m, n, 0, "size", err))
        return err->code;
    return out_datatype_check(m, n, err);
}

static int win_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t size;
    if (oxh_scalar_i64(n, in[0], "size", &size, err))
        return err->code;
    if (size < 0 || size > JN_MAX_TENSOR_ELEMENTS)
        return OX_ERR(n, err, JN_EINVAL, "size %lld is out of range", (long long)size);
    jn_dtype dt = ox_dtype_from_onnx(ox_attr_int(n, "output_datatype", 1));
    return ox_set_shape(out[0], dt, 1, &size, err);
}

static int win_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    (void)in, (void)err;
    int64_t size = out[0]->shape[0];
    double N = ox_attr_int(n, "periodic", 1) ? (double)size : (double)size - 1;
    char kind = n->op_type[2]; /* haNn, haMming, blAckman */
    for (int64_t k = 0; k < size; k++) {
        double t = (double)k * M_PI / N, v;
        if (kind == 'n')
            v = sin(t) * sin(t);
        else if (kind == 'm')
            v = 25.0 / 46.0 - cos(2 * t) * (1 - 25.0 / 46.0);
        else
            v = 0.42 - 0.5 * cos(2 * t) + 0.08 * cos(4 * t);
        ox_store_f64(out[0]->data, out[0]->dtype, k, v);
    }
    return 0;
}

static const char *const win_attrs[] = {"output_datatype", "periodic", NULL};
static const ox_op op_hann = {.op_type = "HannWindow", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
                              .attrs = win_attrs, .shape_inputs = 1u, .check = win_check, .shape = win_shape,
                              .run = win_run};
static const ox_op op_hamming = {.op_type = "HammingWindow", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
                                 .attrs = win_attrs, .shape_inputs = 1u, .check = win_check, .shape = win_shape,
                                 .run = win_run};
static const ox_op op_blackman = {.op_type = "BlackmanWindow", .min_in = 1, .max_in = 1, .min_out = 1,
                                  .max_out = 1, .attrs = win_attrs, .shape_inputs = 1u, .check = win_check,
                                  .shape = win_shape, .run = win_run};

/* ---------------------------------------------------------------------------------------------------------------
 * MelWeightMatrix: [dft_length / 2 + 1, num_mel_bins] triangular filters, the edges' mel values computed in FP32
 * as the reference does (the bin boundaries are floored, so the precision decides them). */

static int mel_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (oxh_need_int(m, n, 0, "num_mel_bins", err) || oxh_need_int(m, n, 1, "dft_length", err) ||
        oxh_need_int(m, n, 2, "sample_rate", err))
        return err->code;
    return out_datatype_check(m, n, err);
}

static int mel_params(const ox_node *n, ox_tensor *const *in, int64_t *bins, int64_t *dft, int64_t *rate,
                      double *lo, double *hi, jn_err *err)
{
    if (oxh_scalar_i64(n, in[0], "num_mel_bins", bins, err) || oxh_scalar_i64(n, in[1], "dft_length", dft, err) ||
        oxh_scalar_i64(n, in[2], "sample_rate", rate, err) ||
        oxh_scalar_f64(n, in[3], "lower_edge_hertz", lo, err) ||
        oxh_scalar_f64(n, in[4], "upper_edge_hertz", hi, err))
        return err->code;
    if (*bins < 1 || *bins > 1 << 20 || *dft < 1 || *dft > 1 << 28 || *rate < 1)
        return OX_ERR(n, err, JN_EINVAL, "num_mel_bins, dft_length and sample_rate must be positive and bounded");
    if (!(*lo >= 0 && *hi >= *lo && *hi <= 1e9))
        return OX_ERR(n, err, JN_EINVAL, "the edges %g..%g Hz are not an increasing range of frequencies", *lo, *hi);
    return 0;
}

static int mel_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t bins = 0, dft = 0, rate = 0;
    double lo = 0, hi = 0;
    if (mel_params(n, in, &bins, &dft, &rate, &lo, &hi, err))
        return err->code;
    int64_t shape[2] = {dft / 2 + 1, bins};
    return ox_set_shape(out[0], ox_dtype_from_onnx(ox_attr_int(n, "output_datatype", 1)), 2, shape, err);
}

static int mel_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t bins = 0, dft = 0, rate = 0;
    double lo = 0, hi = 0;
    if (mel_params(n, in, &bins, &dft, &rate, &lo, &hi, err))
        return err->code;
    int64_t rows = dft / 2 + 1;
    float lo_mel = 2595.0f * log10f(1.0f + (float)lo / 700.0f), hi_mel = 2595.0f * log10f(1.0f + (float)hi / 700.0f);
    float step = (hi_mel - lo_mel) / (float)(bins + 2);
    int64_t *edge = malloc((size_t)(bins + 2) * sizeof *edge);
    double *w = calloc((size_t)(rows * bins + 1), sizeof *w);
    if (!edge || !w) {
        free(edge), free(w);
        return OX_ERR(n, err, JN_ENOMEM, "out of memory");
    }
    for (int64_t i = 0; i < bins + 2; i++) {
        double hz = 700.0 * (pow(10.0, ((double)i * (double)step + (double)lo_mel) / 2595.0) - 1.0);
        double e = floor((double)(dft + 1) * hz / (double)rate);
        edge[i] = isfinite(e) && fabs(e) < 1e15 ? (int64_t)e : -1; /* -1: refused below */
    }
    int rc = 0;
    for (int64_t i = 0; i < bins && !rc; i++) {
        int64_t l = edge[i], c = edge[i + 1], h = edge[i + 2];
        if (l < 0 || h >= rows + 1 || c >= rows || l > c || c > h) {
            rc = OX_ERR(n, err, JN_EINVAL, "mel bin %lld's edges (%lld, %lld, %lld) fall outside %lld frequency bins",
                        (long long)i, (long long)l, (long long)c, (long long)h, (long long)rows);
            break;
        }
        if (c == l)
            w[c * bins + i] = 1;
        else
            for (int64_t j = l; j <= c; j++)
                w[j * bins + i] = (double)(j - l) / (double)(c - l);
        for (int64_t j = c; j < h; j++)
            w[j * bins + i] = (double)(h - j) / (double)(h - c);
    }
    for (int64_t i = 0; i < rows * bins && !rc; i++)
        ox_store_f64(out[0]->data, out[0]->dtype, i, w[i]);
    free(edge), free(w);
    return rc;
}

static const char *const mel_attrs[] = {"output_datatype", NULL};
static const ox_op op_mel = {.op_type = "MelWeightMatrix", .min_in = 5, .max_in = 5, .min_out = 1, .max_out = 1,
                             .attrs = mel_attrs, .shape_inputs = 0x7, .check = mel_check, .shape = mel_shape,
                             .run = mel_run};

const ox_op *const ox_ops_signal[] = {&op_dft, &op_stft, &op_hann, &op_hamming, &op_blackman, &op_mel, NULL};
