/* ops_math.c — elementwise operators with numpy broadcasting (Add, Sub, Mul, Div, Pow, Equal, Less, Greater,
 * Where), activations and unary math, Clip, Softmax and LogSoftmax. FP32 has tight loops; other dtypes go through
 * a generic path computing in double (floats) or int64 (integers). */
#include <float.h>
#include <math.h>
#include <string.h>

#include "onnx_internal.h"
#include "vmath.h"

static const char *const no_attrs[] = {NULL};

/* ---------------------------------------------------------------------------------------------------------------
 * Broadcast iteration: an odometer over the output's index with, per input, the element it reads there. */

typedef struct bcast {
    int ndim;
    int64_t shape[JN_MAX_DIMS];
    int64_t strides[3][JN_MAX_DIMS];
    int n_in;
} bcast;

static void bcast_init(bcast *b, const ox_tensor *out, const ox_tensor *const *in, int n_in)
{
    b->ndim = out->ndim;
    b->n_in = n_in;
    memcpy(b->shape, out->shape, sizeof b->shape);
    for (int i = 0; i < n_in; i++)
        ox_broadcast_strides(in[i], out->ndim, out->shape, b->strides[i]);
}

/* Advances the output index (counter) by one element and each input's element index (pos[k]) with it. */
static void bcast_step(const bcast *b, int64_t *counter, int64_t *pos)
{
    for (int d = b->ndim - 1; d >= 0; d--) {
        counter[d]++;
        for (int k = 0; k < b->n_in; k++)
            pos[k] += b->strides[k][d];
        if (counter[d] < b->shape[d])
            return;
        for (int k = 0; k < b->n_in; k++)
            pos[k] -= b->strides[k][d] * b->shape[d];
        counter[d] = 0;
    }
}

/* ---------------------------------------------------------------------------------------------------------------
 * Binary arithmetic and comparisons */

enum { BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV, BIN_POW, BIN_EQ, BIN_LT, BIN_GT };

static int bin_kind(const ox_node *n)
{
    static const char *const names[] = {"Add", "Sub", "Mul", "Div", "Pow", "Equal", "Less", "Greater"};
    for (int i = 0; i < 8; i++)
        if (strcmp(n->op_type, names[i]) == 0)
            return i;
    return -1;
}

static int bin_check(ox_model *m, ox_node *n, jn_err *err)
{
    int kind = bin_kind(n);
    jn_dtype a = ox_in_dtype(m, n, 0), b = ox_in_dtype(m, n, 1);
    if (n->opset >= 7 && (ox_attr_find(n, "broadcast") || ox_attr_find(n, "axis")))
        return ox_reject(n, err, "broadcast/axis attributes are not part of opset %d", n->opset);
    if (kind == BIN_POW) {
        if (!ox_dtype_is_float(a) && !ox_dtype_is_int(a))
            return ox_reject(n, err, "base dtype %s is not supported", jn_dtype_name(a));
        if (!ox_dtype_is_float(b) && !ox_dtype_is_int(b))
            return ox_reject(n, err, "exponent dtype %s is not supported", jn_dtype_name(b));
        ox_set_out_dtype(m, n, 0, a);
        return 0;
    }
    if (a != b)
        return ox_reject(n, err, "inputs have different dtypes (%s, %s)", jn_dtype_name(a), jn_dtype_name(b));
    if (!ox_dtype_is_float(a) && !ox_dtype_is_int(a) && a != JN_DTYPE_BOOL)
        return ox_reject(n, err, "dtype %s is not supported", jn_dtype_name(a));
    if (kind <= BIN_DIV && a == JN_DTYPE_BOOL)
        return ox_reject(n, err, "arithmetic on BOOL is not supported");
    if ((kind == BIN_LT || kind == BIN_GT) && a == JN_DTYPE_BOOL)
        return ox_reject(n, err, "ordering BOOL values is not supported");
    ox_set_out_dtype(m, n, 0, kind >= BIN_EQ ? JN_DTYPE_BOOL : a);
    return 0;
}

static int bin_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int nd;
    int64_t shape[JN_MAX_DIMS];
    ox_tensor bview;
    if (ox_legacy_view(n, in[0], in[1], &bview, err) || ox_broadcast_shape(n, in[0], &bview, &nd, shape, err))
        return err->code;
    int kind = bin_kind(n);
    jn_dtype dt = kind >= BIN_EQ ? JN_DTYPE_BOOL : in[0]->dtype;
    return ox_set_shape(out[0], dt, nd, shape, err);
}

#define BIN_LOOP_F32(expr)                                                                                     \
    do {                                                                                                       \
        if (same) {                                                                                            \
            for (int64_t i = 0; i < total; i++) {                                                              \
                float x = a[i], y = b[i];                                                                      \
                o[i] = (expr);                                                                                 \
            }                                                                                                  \
        } else {                                                                                               \
            for (int64_t i = 0; i < total; i++) {                                                              \
                float x = a[pos[0]], y = b[pos[1]];                                                            \
                o[i] = (expr);                                                                                 \
                bcast_step(&bc, counter, pos);                                                                 \
            }                                                                                                  \
        }                                                                                                      \
    } while (0)

/* One row: strides along it are 1 (running) or 0 (repeated); the three cases get their own loops so they
 * vectorize. */
#define BIN_ROW_F32(expr)                                                                                      \
    do {                                                                                                       \
        if (ia == 1 && ib == 1) {                                                                              \
            for (int64_t k = 0; k < inner; k++) {                                                              \
                float x = pa[k], y = pb[k];                                                                    \
                po[k] = (expr);                                                                                \
            }                                                                                                  \
        } else if (ia == 1) {                                                                                  \
            float y = pb[0];                                                                                   \
            for (int64_t k = 0; k < inner; k++) {                                                              \
                float x = pa[k];                                                                               \
                po[k] = (expr);                                                                                \
            }                                                                                                  \
        } else if (ib == 1) {                                                                                  \
            float x = pa[0];                                                                                   \
            for (int64_t k = 0; k < inner; k++) {                                                              \
                float y = pb[k];                                                                               \
                po[k] = (expr);                                                                                \
            }                                                                                                  \
        } else {                                                                                               \
            float x = pa[0], y = pb[0];                                                                        \
            for (int64_t k = 0; k < inner; k++)                                                                \
                po[k] = (expr);                                                                                \
        }                                                                                                      \
    } while (0)

OX_HOT static void bin_f32(int kind, const ox_tensor *ta, const ox_tensor *tb, ox_tensor *to)
{
    const float *a = ta->data, *b = tb->data;
    float *o = to->data;
    int64_t total = ox_count(to), counter[JN_MAX_DIMS] = {0}, pos[3] = {0};
    bool same = ox_count(ta) == total && ox_count(tb) == total;
    const ox_tensor *ins[2] = {ta, tb};
    bcast bc;
    bcast_init(&bc, to, ins, 2);
    if (!same && total > 0 && to->ndim > 0) {
        /* Common shapes get a flat loop: a scalar on either side, or a row vector over the last axis. */
        if (ox_count(tb) == 1 || ox_count(ta) == 1) {
            bool bs = ox_count(tb) == 1;
            float s = bs ? b[0] : a[0];
            const float *v = bs ? a : b;
            if ((bs ? ox_count(ta) : ox_count(tb)) == total) {
                for (int64_t i = 0; i < total; i++) {
                    float x = bs ? v[i] : s, y = bs ? s : v[i];
                    switch (kind) {
                    case BIN_ADD: o[i] = x + y; break;
                    case BIN_SUB: o[i] = x - y; break;
                    case BIN_MUL: o[i] = x * y; break;
                    case BIN_DIV: o[i] = x / y; break;
                    default: o[i] = (float)pow(x, y); break;
                    }
                }
                return;
            }
        }
    }
    if (!same && total > 0 && to->ndim > 0) {
        /* Rows at a time, each operand either running along the row or repeated (a bias row, a per-channel
         * scale): the outer axes go through the broadcast counter once per row. A row is the longest run of
         * trailing axes along which each operand is either contiguous or constant, so a [N, C, 1, 1] scale of
         * [N, C, H, W] planes (squeeze-excite) takes rows of H*W, not of W (7 in MobileNetV3's last stage). */
        int nd = to->ndim, lead = nd, mode[2] = {-1, -1}; /* per operand: -1 not seen yet, 0 constant, 1 running */
        int64_t inner = 1;
        while (lead > 0) {
            int d = lead - 1, m[2] = {mode[0], mode[1]};
            bool ok = true;
            for (int i = 0; i < 2 && to->shape[d] != 1; i++) {
                int want = bc.strides[i][d] == 0 ? 0 : bc.strides[i][d] == inner ? 1 : -2;
                if (want == -2 || (m[i] >= 0 && m[i] != want))
                    ok = false;
                m[i] = want;
            }
            if (!ok)
                break;
            mode[0] = m[0];
            mode[1] = m[1];
            inner *= to->shape[d];
            lead--;
        }
        int64_t ia = mode[0] != 0, ib = mode[1] != 0;
        bcast outer = bc;
        outer.ndim = lead;
        for (int64_t base = 0; base < total; base += inner) {
            const float *pa = a + pos[0], *pb = b + pos[1];
            float *po = o + base;
            switch (kind) {
            case BIN_ADD: BIN_ROW_F32(x + y); break;
            case BIN_SUB: BIN_ROW_F32(x - y); break;
            case BIN_MUL: BIN_ROW_F32(x * y); break;
            case BIN_DIV: BIN_ROW_F32(x / y); break;
            default: BIN_ROW_F32((float)pow(x, y)); break;
            }
            bcast_step(&outer, counter, pos);
        }
        return;
    }
    switch (kind) {
    case BIN_ADD: BIN_LOOP_F32(x + y); break;
    case BIN_SUB: BIN_LOOP_F32(x - y); break;
    case BIN_MUL: BIN_LOOP_F32(x * y); break;
    case BIN_DIV: BIN_LOOP_F32(x / y); break;
    default: BIN_LOOP_F32((float)pow(x, y)); break;
    }
}

static int bin_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int kind = bin_kind(n);
    ox_tensor bview;
    if (ox_legacy_view(n, in[0], in[1], &bview, err))
        return err->code;
    const ox_tensor *ta = in[0], *tb = &bview;
    ox_tensor *to = out[0];
    int64_t total = ox_count(to);
    if (total == 0)
        return 0;
    if (kind <= BIN_POW && ta->dtype == JN_DTYPE_FP32 && tb->dtype == JN_DTYPE_FP32) {
        bin_f32(kind, ta, tb, to);
        return 0;
    }
    const ox_tensor *ins[2] = {ta, tb};
    bcast bc;
    bcast_init(&bc, to, ins, 2);
    int64_t counter[JN_MAX_DIMS] = {0}, pos[3] = {0};
    bool as_float = ox_dtype_is_float(ta->dtype) || ox_dtype_is_float(tb->dtype);
    for (int64_t i = 0; i < total; i++) {
        if (kind == BIN_POW) {
            double x = ox_load_f64(ta->data, ta->dtype, pos[0]), y = ox_load_f64(tb->data, tb->dtype, pos[1]);
            if (ox_dtype_is_float(to->dtype))
                ox_store_f64(to->data, to->dtype, i, pow(x, y));
            else {
                /* Integer base: repeated squaring in int64 as numpy does for integer exponents. */
                int64_t base = ox_load_i64(ta->data, ta->dtype, pos[0]), r = 1;
                int64_t e = ox_dtype_is_float(tb->dtype) ? (int64_t)y : ox_load_i64(tb->data, tb->dtype, pos[1]);
                if (e < 0)
                    r = base == 1 ? 1 : base == -1 ? (e % 2 ? -1 : 1) : 0;
                for (; e > 0; e >>= 1) {
                    if (e & 1)
                        r = (int64_t)((uint64_t)r * (uint64_t)base);
                    base = (int64_t)((uint64_t)base * (uint64_t)base);
                }
                ox_store_i64(to->data, to->dtype, i, r);
            }
        } else if (as_float) {
            double x = ox_load_f64(ta->data, ta->dtype, pos[0]), y = ox_load_f64(tb->data, tb->dtype, pos[1]);
            switch (kind) {
            case BIN_ADD: ox_store_f64(to->data, to->dtype, i, x + y); break;
            case BIN_SUB: ox_store_f64(to->data, to->dtype, i, x - y); break;
            case BIN_MUL: ox_store_f64(to->data, to->dtype, i, x * y); break;
            case BIN_DIV: ox_store_f64(to->data, to->dtype, i, x / y); break;
            case BIN_EQ: ((uint8_t *)to->data)[i] = x == y; break;
            case BIN_LT: ((uint8_t *)to->data)[i] = x < y; break;
            default: ((uint8_t *)to->data)[i] = x > y; break;
            }
        } else {
            int64_t x = ox_load_i64(ta->data, ta->dtype, pos[0]), y = ox_load_i64(tb->data, tb->dtype, pos[1]);
            uint64_t ux = (uint64_t)x, uy = (uint64_t)y;
            switch (kind) {
            case BIN_ADD: ox_store_i64(to->data, to->dtype, i, (int64_t)(ux + uy)); break;
            case BIN_SUB: ox_store_i64(to->data, to->dtype, i, (int64_t)(ux - uy)); break;
            case BIN_MUL: ox_store_i64(to->data, to->dtype, i, (int64_t)(ux * uy)); break;
            case BIN_DIV:
                if (y == 0)
                    return jn_err_set(err, JN_EINVAL, "node '%s' (Div): integer division by zero", n->name);
                ox_store_i64(to->data, to->dtype, i, (x == INT64_MIN && y == -1) ? x : x / y);
                break;
            case BIN_EQ: ((uint8_t *)to->data)[i] = x == y; break;
            case BIN_LT: ((uint8_t *)to->data)[i] = x < y; break;
            default: ((uint8_t *)to->data)[i] = x > y; break;
            }
        }
        bcast_step(&bc, counter, pos);
    }
    return 0;
}

/* broadcast, axis: opset < 7 only (checked); consumed_inputs: opset 1's in-place hint, ignored. */
static const char *const bin_attrs[] = {"broadcast", "axis", "consumed_inputs", NULL};
#define BIN_OP(sym, name)                                                                                      \
    static const ox_op sym = {name, 2, 2, 1, 1, bin_attrs, 0, bin_check, bin_shape, bin_run};
BIN_OP(op_add, "Add")
BIN_OP(op_sub, "Sub")
BIN_OP(op_mul, "Mul")
BIN_OP(op_div, "Div")
BIN_OP(op_pow, "Pow")
BIN_OP(op_equal, "Equal")
BIN_OP(op_less, "Less")
BIN_OP(op_greater, "Greater")

/* ---------------------------------------------------------------------------------------------------------------
 * Where */

static int where_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (ox_in_dtype(m, n, 0) != JN_DTYPE_BOOL)
        return ox_reject(n, err, "condition must be BOOL");
    if (ox_in_dtype(m, n, 1) != ox_in_dtype(m, n, 2))
        return ox_reject(n, err, "X and Y have different dtypes");
    ox_set_out_dtype(m, n, 0, ox_in_dtype(m, n, 1));
    return 0;
}

static int where_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    ox_tensor tmp = {0};
    if (ox_broadcast_shape(n, in[0], in[1], &tmp.ndim, tmp.shape, err) ||
        ox_broadcast_shape(n, &tmp, in[2], &tmp.ndim, tmp.shape, err))
        return err->code;
    return ox_set_shape(out[0], in[1]->dtype, tmp.ndim, tmp.shape, err);
}

static int where_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    const ox_tensor *ins[3] = {in[0], in[1], in[2]};
    bcast bc;
    bcast_init(&bc, out[0], ins, 3);
    int64_t counter[JN_MAX_DIMS] = {0}, pos[3] = {0}, total = ox_count(out[0]);
    size_t es = jn_dtype_size(out[0]->dtype);
    const uint8_t *c = in[0]->data;
    const char *x = in[1]->data, *y = in[2]->data;
    char *o = out[0]->data;
    for (int64_t i = 0; i < total; i++) {
        memcpy(o + i * (int64_t)es, c[pos[0]] ? x + pos[1] * (int64_t)es : y + pos[2] * (int64_t)es, es);
        bcast_step(&bc, counter, pos);
    }
    return 0;
}

static const ox_op op_where = {"Where", 3, 3, 1, 1, no_attrs, 0, where_check, where_shape, where_run};

/* ---------------------------------------------------------------------------------------------------------------
 * Unary math and activations */

enum { UN_SQRT, UN_EXP, UN_LOG, UN_NEG, UN_ABS, UN_ERF, UN_RELU, UN_LEAKY, UN_SIGMOID, UN_TANH };

static int un_kind(const ox_node *n)
{
    static const char *const names[] = {"Sqrt", "Exp",       "Log",     "Neg",     "Abs",
                                        "Erf",  "Relu",      "LeakyRelu", "Sigmoid", "Tanh"};
    for (int i = 0; i < 10; i++)
        if (strcmp(n->op_type, names[i]) == 0)
            return i;
    return -1;
}

static int un_check(ox_model *m, ox_node *n, jn_err *err)
{
    int kind = un_kind(n);
    jn_dtype dt = ox_in_dtype(m, n, 0);
    if (n->opset >= 6 && ox_attr_find(n, "consumed_inputs"))
        return ox_reject(n, err, "consumed_inputs is not part of opset %d", n->opset);
    bool ok = ox_dtype_is_float(dt);
    if ((kind == UN_NEG || kind == UN_ABS || kind == UN_RELU) && ox_dtype_is_int(dt))
        ok = kind != UN_NEG || (dt != JN_DTYPE_UINT8 && dt != JN_DTYPE_UINT16 && dt != JN_DTYPE_UINT32 &&
                                dt != JN_DTYPE_UINT64);
    if (!ok)
        return ox_reject(n, err, "dtype %s is not supported", jn_dtype_name(dt));
    ox_set_out_dtype(m, n, 0, dt);
    return 0;
}

static int same_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    return ox_set_shape(out[0], in[0]->dtype, in[0]->ndim, in[0]->shape, err);
}

static double un_apply(int kind, double x, double alpha)
{
    switch (kind) {
    case UN_SQRT: return sqrt(x);
    case UN_EXP: return exp(x);
    case UN_LOG: return log(x);
    case UN_NEG: return -x;
    case UN_ABS: return fabs(x);
    case UN_ERF: return erf(x);
    case UN_RELU: return x > 0 ? x : 0;
    case UN_LEAKY: return x >= 0 ? x : alpha * x;
    case UN_SIGMOID: return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
    default: return tanh(x);
    }
}

OX_HOT static int un_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int kind = un_kind(n);
    int64_t total = ox_count(out[0]);
    float alpha = ox_attr_float(n, "alpha", 0.01f);
    if (in[0]->dtype == JN_DTYPE_FP32) {
        const float *x = in[0]->data;
        float *y = out[0]->data;
        switch (kind) {
        case UN_RELU:
            for (int64_t i = 0; i < total; i++)
                y[i] = x[i] > 0 ? x[i] : 0.0f;
            break;
        case UN_EXP:
            for (int64_t i = 0; i < total; i++)
                y[i] = expf(x[i]);
            break;
        case UN_TANH:
            for (int64_t i = 0; i < total; i++)
                y[i] = tanhf(x[i]);
            break;
        case UN_ERF:
            for (int64_t i = 0; i < total; i++)
                y[i] = erff(x[i]);
            break;
        case UN_SIGMOID: /* the recurrent layers' vectorized sigmoid (vmath.h): a DBNet-style detector's 640x640
                          * probability map took 4.6 ms through libm's exp, element by element */
            if (y != x)
                memcpy(y, x, (size_t)total * sizeof(float));
            ox_vsigmoid(y, total);
            break;
        case UN_SQRT:
            for (int64_t i = 0; i < total; i++)
                y[i] = sqrtf(x[i]);
            break;
        default:
            for (int64_t i = 0; i < total; i++)
                y[i] = (float)un_apply(kind, x[i], alpha);
            break;
        }
        return 0;
    }
    for (int64_t i = 0; i < total; i++) {
        if (ox_dtype_is_int(in[0]->dtype)) {
            int64_t v = ox_load_i64(in[0]->data, in[0]->dtype, i);
            v = kind == UN_NEG ? (int64_t)(0 - (uint64_t)v) : kind == UN_ABS ? (v < 0 ? (int64_t)(0 - (uint64_t)v) : v)
                                                                               : (v > 0 ? v : 0);
            ox_store_i64(out[0]->data, out[0]->dtype, i, v);
        } else {
            double v = ox_load_f64(in[0]->data, in[0]->dtype, i);
            ox_store_f64(out[0]->data, out[0]->dtype, i, un_apply(kind, v, alpha));
        }
    }
    return 0;
}

/* consumed_inputs: the in-place hint of opsets < 6, ignored. */
static const char *const un_attrs[] = {"consumed_inputs", NULL};
static const char *const leaky_attrs[] = {"alpha", "consumed_inputs", NULL};
#define UN_OP(sym, name, attrs)                                                                                \
    static const ox_op sym = {name, 1, 1, 1, 1, attrs, 0, un_check, same_shape, un_run};
UN_OP(op_sqrt, "Sqrt", un_attrs)
UN_OP(op_exp, "Exp", un_attrs)
UN_OP(op_log, "Log", un_attrs)
UN_OP(op_neg, "Neg", un_attrs)
UN_OP(op_abs, "Abs", un_attrs)
UN_OP(op_erf, "Erf", un_attrs)
UN_OP(op_relu, "Relu", un_attrs)
UN_OP(op_leaky, "LeakyRelu", leaky_attrs)
UN_OP(op_sigmoid, "Sigmoid", un_attrs)
UN_OP(op_tanh, "Tanh", un_attrs)

/* ---------------------------------------------------------------------------------------------------------------
 * Clip: bounds as attributes (opset < 11) or optional scalar inputs (>= 11) */

static int clip_check(ox_model *m, ox_node *n, jn_err *err)
{
    jn_dtype dt = ox_in_dtype(m, n, 0);
    if (n->opset < 6)
        return ox_reject(n, err, "opset %d is not supported (6 or later)", n->opset);
    if (!ox_dtype_is_float(dt) && !ox_dtype_is_int(dt))
        return ox_reject(n, err, "dtype %s is not supported", jn_dtype_name(dt));
    if (n->opset >= 11 && (ox_attr_find(n, "min") || ox_attr_find(n, "max")))
        return ox_reject(n, err, "min/max attributes are not part of opset %d", n->opset);
    if (n->opset < 11 && n->n_in > 1)
        return ox_reject(n, err, "min/max inputs need opset 11");
    for (int i = 1; i < n->n_in; i++)
        if (ox_has_in(n, i) && ox_in_dtype(m, n, i) != dt)
            return ox_reject(n, err, "bound %d has dtype %s, the input %s", i, jn_dtype_name(ox_in_dtype(m, n, i)),
                             jn_dtype_name(dt));
    ox_set_out_dtype(m, n, 0, dt);
    return 0;
}

static int clip_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    const ox_tensor *x = in[0];
    for (int i = 1; i < n->n_in; i++)
        if (in[i] && ox_count(in[i]) != 1)
            return jn_err_set(err, JN_EINVAL, "node '%s' (Clip): bound %d is not a scalar", n->name, i);
    int64_t total = ox_count(x);
    if (ox_dtype_is_float(x->dtype)) {
        double lo = -INFINITY, hi = INFINITY;
        if (n->opset < 11) {
            lo = ox_attr_float(n, "min", -FLT_MAX);
            hi = ox_attr_float(n, "max", FLT_MAX);
        }
        if (n->n_in > 1 && in[1])
            lo = ox_load_f64(in[1]->data, in[1]->dtype, 0);
        if (n->n_in > 2 && in[2])
            hi = ox_load_f64(in[2]->data, in[2]->dtype, 0);
        if (x->dtype == JN_DTYPE_FP32) {
            const float *a = x->data;
            float *o = out[0]->data, flo = (float)lo, fhi = (float)hi;
            for (int64_t i = 0; i < total; i++) {
                float v = a[i] < flo ? flo : a[i];
                o[i] = v > fhi ? fhi : v;
            }
        } else {
            for (int64_t i = 0; i < total; i++) {
                double v = ox_load_f64(x->data, x->dtype, i);
                v = v < lo ? lo : v;
                ox_store_f64(out[0]->data, x->dtype, i, v > hi ? hi : v);
            }
        }
        return 0;
    }
    int64_t lo = INT64_MIN, hi = INT64_MAX;
    if (n->n_in > 1 && in[1])
        lo = ox_load_i64(in[1]->data, in[1]->dtype, 0);
    if (n->n_in > 2 && in[2])
        hi = ox_load_i64(in[2]->data, in[2]->dtype, 0);
    for (int64_t i = 0; i < total; i++) {
        int64_t v = ox_load_i64(x->data, x->dtype, i);
        v = v < lo ? lo : v;
        ox_store_i64(out[0]->data, x->dtype, i, v > hi ? hi : v);
    }
    return 0;
}

static const char *const clip_attrs[] = {"min", "max", NULL};
static const ox_op op_clip = {"Clip", 1, 3, 1, 1, clip_attrs, 0, clip_check, same_shape, clip_run};

/* ---------------------------------------------------------------------------------------------------------------
 * Softmax / LogSoftmax. Opset < 13: the input is coerced to 2-D at `axis` (default 1) and normalized over the
 * flattened trailing block; opset >= 13: normalized along the single axis (default -1). */

static int softmax_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (ox_in_dtype(m, n, 0) != JN_DTYPE_FP32)
        return ox_reject(n, err, "dtype %s is not supported (FP32)", jn_dtype_name(ox_in_dtype(m, n, 0)));
    ox_set_out_dtype(m, n, 0, JN_DTYPE_FP32);
    return 0;
}

static int softmax_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    const ox_tensor *x = in[0];
    bool log_form = strcmp(n->op_type, "LogSoftmax") == 0;
    int rank = x->ndim;
    int64_t axis_attr = ox_attr_int(n, "axis", n->opset < 13 ? 1 : -1);
    if (rank == 0)
        return jn_err_set(err, JN_EINVAL, "node '%s' (%s): the input is a scalar", n->name, n->op_type);
    int axis = ox_axis(axis_attr, rank);
    if (axis < 0)
        return jn_err_set(err, JN_EINVAL, "node '%s' (%s): axis %lld out of range for rank %d", n->name,
                          n->op_type, (long long)axis_attr, rank);
    int64_t outer = 1, len = 1, inner = 1;
    for (int d = 0; d < axis; d++)
        outer *= x->shape[d];
    if (n->opset < 13) {
        for (int d = axis; d < rank; d++)
            len *= x->shape[d];
    } else {
        len = x->shape[axis];
        for (int d = axis + 1; d < rank; d++)
            inner *= x->shape[d];
    }
    const float *src = x->data;
    float *dst = out[0]->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < inner; k++) {
            const float *s = src + o * len * inner + k;
            float *d = dst + o * len * inner + k;
            float mx = -INFINITY;
            for (int64_t i = 0; i < len; i++)
                if (s[i * inner] > mx)
                    mx = s[i * inner];
            double sum = 0;
            for (int64_t i = 0; i < len; i++) {
                float e = expf(s[i * inner] - mx);
                sum += e;
                if (!log_form)
                    d[i * inner] = e;
            }
            if (log_form) {
                float ls = (float)log(sum);
                for (int64_t i = 0; i < len; i++)
                    d[i * inner] = s[i * inner] - mx - ls;
            } else {
                float inv = (float)(1.0 / sum);
                for (int64_t i = 0; i < len; i++)
                    d[i * inner] *= inv;
            }
        }
    return 0;
}

static const char *const axis_attrs[] = {"axis", NULL};
static const ox_op op_softmax = {"Softmax", 1, 1, 1, 1, axis_attrs, 0, softmax_check, same_shape, softmax_run};
static const ox_op op_logsoftmax = {"LogSoftmax", 1, 1, 1, 1, axis_attrs, 0, softmax_check, same_shape, softmax_run};

const ox_op *const ox_ops_math[] = {&op_add,     &op_sub,  &op_mul,     &op_div,     &op_pow,     &op_equal,
                                    &op_less,    &op_greater, &op_where, &op_sqrt,    &op_exp,     &op_log,
                                    &op_neg,     &op_abs,  &op_erf,     &op_relu,    &op_leaky,   &op_sigmoid,
                                    &op_tanh,    &op_clip, &op_softmax, &op_logsoftmax, NULL};
