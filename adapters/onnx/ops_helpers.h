/* ops_helpers.h — small checks and readers the vision, signal, quantization and ai.onnx.ml kernel files share
 * (ops_resize.c, ops_vision.c, ops_pool.c, ops_detect.c, ops_signal.c, ops_quant.c, ops_ml.c). Static inline: each
 * file gets its own copy, nothing here holds state. */
#ifndef JN_ONNX_OPS_HELPERS_H
#define JN_ONNX_OPS_HELPERS_H

#include <math.h>
#include <string.h>

#include "onnx_internal.h"

/* The node's name and operator, for run-time errors: "node 'x' (Resize): ...". */
#define OX_ERR(n, err, code, fmt, ...)                                                                              \
    jn_err_set(err, code, "node '%s' (%s): " fmt, (n)->name, (n)->op_type, ##__VA_ARGS__)

/* Input i's dtype must be one of FP32 (load-time check). */
static inline int oxh_need_dtype(ox_model *m, ox_node *n, int i, jn_dtype want, const char *what, jn_err *err)
{
    if (ox_has_in(n, i) && ox_in_dtype(m, n, i) != want)
        return ox_reject(n, err, "%s has dtype %s (%s is supported)", what, jn_dtype_name(ox_in_dtype(m, n, i)),
                         jn_dtype_name(want));
    return 0;
}

/* Check of an operator whose one output has its input 0's dtype (any the adapter carries). */
static inline int oxh_any_dtype_check(ox_model *m, ox_node *n, jn_err *err)
{
    jn_dtype dt = ox_in_dtype(m, n, 0);
    if (!ox_dtype_supported(dt))
        return ox_reject(n, err, "dtype %s is not supported", jn_dtype_name(dt));
    ox_set_out_dtype(m, n, 0, dt);
    return 0;
}

/* Check of an FP32-only operator: every present input FP32, output 0 FP32. */
static inline int oxh_f32_check(ox_model *m, ox_node *n, jn_err *err)
{
    for (int i = 0; i < n->n_in; i++)
        if (oxh_need_dtype(m, n, i, JN_DTYPE_FP32, i == 0 ? "the input" : "an input", err))
            return err->code;
    ox_set_out_dtype(m, n, 0, JN_DTYPE_FP32);
    return 0;
}

static inline int oxh_need_int(ox_model *m, ox_node *n, int i, const char *what, jn_err *err)
{
    if (ox_has_in(n, i) && ox_in_dtype(m, n, i) != JN_DTYPE_INT64 && ox_in_dtype(m, n, i) != JN_DTYPE_INT32)
        return ox_reject(n, err, "%s has dtype %s (INT64 expected)", what, jn_dtype_name(ox_in_dtype(m, n, i)));
    return 0;
}

/* A 1-D (or scalar) integer tensor of at most cap values into v. */
static inline int oxh_read_ints(const ox_node *n, const ox_tensor *t, const char *what, int64_t *v, int cap,
                                int *count, jn_err *err)
{
    if (t->dtype != JN_DTYPE_INT64 && t->dtype != JN_DTYPE_INT32)
        return OX_ERR(n, err, JN_EINVAL, "%s must be INT64", what);
    int64_t c = ox_count(t);
    if (t->ndim > 1 || c > cap)
        return OX_ERR(n, err, JN_EINVAL, "%s must be a 1-D tensor of at most %d values", what, cap);
    for (int64_t i = 0; i < c; i++)
        v[i] = ox_load_i64(t->data, t->dtype, i);
    *count = (int)c;
    return 0;
}

/* A 1-D float tensor (FP32/FP64) of at most cap values into v. */
static inline int oxh_read_floats(const ox_node *n, const ox_tensor *t, const char *what, double *v, int cap,
                                  int *count, jn_err *err)
{
    if (t->dtype != JN_DTYPE_FP32 && t->dtype != JN_DTYPE_FP64)
        return OX_ERR(n, err, JN_EINVAL, "%s must be FP32", what);
    int64_t c = ox_count(t);
    if (t->ndim > 1 || c > cap)
        return OX_ERR(n, err, JN_EINVAL, "%s must be a 1-D tensor of at most %d values", what, cap);
    for (int64_t i = 0; i < c; i++)
        v[i] = ox_load_f64(t->data, t->dtype, i);
    *count = (int)c;
    return 0;
}

/* A scalar (or one-element tensor) as int64 / double. */
static inline int oxh_scalar_i64(const ox_node *n, const ox_tensor *t, const char *what, int64_t *v, jn_err *err)
{
    if (ox_count(t) != 1 || !(ox_dtype_is_int(t->dtype)))
        return OX_ERR(n, err, JN_EINVAL, "%s must be one integer", what);
    *v = ox_load_i64(t->data, t->dtype, 0);
    return 0;
}

static inline int oxh_scalar_f64(const ox_node *n, const ox_tensor *t, const char *what, double *v, jn_err *err)
{
    if (ox_count(t) != 1)
        return OX_ERR(n, err, JN_EINVAL, "%s must hold one value", what);
    *v = ox_load_f64(t->data, t->dtype, 0);
    return 0;
}

/* Whether input i is present and not an empty tensor (ONNX's "" or a 0-element tensor both mean absent). */
static inline bool oxh_given(ox_tensor *const *in, int n_in, int i)
{
    return i < n_in && in[i] && ox_count(in[i]) > 0;
}

/* A string attribute must be one of a NULL-terminated list; its index, or -1 (after rejecting). */
static inline int oxh_str_choice(ox_node *n, const char *name, const char *dflt, const char *const *choices,
                                 jn_err *err)
{
    const char *s = ox_attr_str(n, name, dflt);
    for (int i = 0; choices[i]; i++)
        if (strcmp(s, choices[i]) == 0)
            return i;
    ox_reject(n, err, "%s '%s' is not supported", name, s);
    return -1;
}

static inline int oxh_str_index(const ox_node *n, const char *name, const char *dflt, const char *const *choices)
{
    const char *s = ox_attr_str(n, name, dflt);
    for (int i = 0; choices[i]; i++)
        if (strcmp(s, choices[i]) == 0)
            return i;
    return 0;
}

/* Round half to even (the rounding ONNX's QuantizeLinear specifies); rint in the default rounding mode. */
static inline double oxh_round_even(double v)
{
    return nearbyint(v);
}

/* Window geometry of pools and convolutions over 1-3 spatial axes (ops_pool.c): kernel_shape, strides,
 * dilations, pads, auto_pad and ceil_mode as ONNX defines them. ox_win_check validates the attributes at load;
 * ox_win_forward maps the input's spatial size to the output's (kernel from `kernel` when not NULL, else the
 * kernel_shape attribute). */
typedef struct ox_win {
    int sd;
    int64_t in[3], k[3], s[3], d[3], pb[3], pe[3], out[3];
} ox_win;
int ox_win_check(ox_node *n, int sd, jn_err *err);
int ox_win_forward(const ox_node *n, int sd, const int64_t *in_sp, const int64_t *kernel, ox_win *g, jn_err *err);

#endif
