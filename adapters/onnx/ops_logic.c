/* ops_logic.c — element-wise operators over several inputs with numpy broadcasting, one table row each: the
 * variadic Max, Min, Mean and Sum; the logic And, Or, Xor; the comparisons GreaterOrEqual and LessOrEqual; Mod
 * (fmod 0: the divisor's sign, fmod 1: the dividend's), BitShift, BitwiseAnd/Or/Xor and PRelu. Floats compute in
 * double and round once to the output dtype, integers in int64 (stored back at the dtype's width). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

enum { IN_FLOAT = 1, IN_INT = 2, IN_BOOL = 4 };

typedef enum {
    K_MAX, K_MIN, K_MEAN, K_SUM, K_AND, K_OR, K_XOR, K_GE, K_LE, K_MOD, K_SHIFT, K_BAND, K_BOR, K_BXOR, K_PRELU
} nary_kind;

typedef struct nary_def {
    const char *op_type;
    nary_kind kind;
    int since;
    int min_in, max_in;
    unsigned in;        /* IN_* accepted */
    bool to_bool;       /* comparisons and logic: BOOL out */
    int int_since;      /* the opset from which integers are accepted (Max, Min: 12), 0 = from `since` */
} nary_def;

static const nary_def nary_defs[] = {
    {.op_type = "Max", .kind = K_MAX, .since = 1, .min_in = 1, .max_in = OX_MAX_IO, .in = IN_FLOAT | IN_INT,
     .int_since = 12},
    {.op_type = "Min", .kind = K_MIN, .since = 1, .min_in = 1, .max_in = OX_MAX_IO, .in = IN_FLOAT | IN_INT,
     .int_since = 12},
    {.op_type = "Mean", .kind = K_MEAN, .since = 1, .min_in = 1, .max_in = OX_MAX_IO, .in = IN_FLOAT},
    {.op_type = "Sum", .kind = K_SUM, .since = 1, .min_in = 1, .max_in = OX_MAX_IO, .in = IN_FLOAT},
    {.op_type = "And", .kind = K_AND, .since = 1, .min_in = 2, .max_in = 2, .in = IN_BOOL, .to_bool = true},
    {.op_type = "Or", .kind = K_OR, .since = 1, .min_in = 2, .max_in = 2, .in = IN_BOOL, .to_bool = true},
    {.op_type = "Xor", .kind = K_XOR, .since = 1, .min_in = 2, .max_in = 2, .in = IN_BOOL, .to_bool = true},
    {.op_type = "GreaterOrEqual", .kind = K_GE, .since = 12, .min_in = 2, .max_in = 2, .in = IN_FLOAT | IN_INT,
     .to_bool = true},
    {.op_type = "LessOrEqual", .kind = K_LE, .since = 12, .min_in = 2, .max_in = 2, .in = IN_FLOAT | IN_INT,
     .to_bool = true},
    {.op_type = "Mod", .kind = K_MOD, .since = 10, .min_in = 2, .max_in = 2, .in = IN_FLOAT | IN_INT},
    {.op_type = "BitShift", .kind = K_SHIFT, .since = 11, .min_in = 2, .max_in = 2, .in = IN_INT},
    {.op_type = "BitwiseAnd", .kind = K_BAND, .since = 18, .min_in = 2, .max_in = 2, .in = IN_INT},
    {.op_type = "BitwiseOr", .kind = K_BOR, .since = 18, .min_in = 2, .max_in = 2, .in = IN_INT},
    {.op_type = "BitwiseXor", .kind = K_BXOR, .since = 18, .min_in = 2, .max_in = 2, .in = IN_INT},
    {.op_type = "PRelu", .kind = K_PRELU, .since = 1, .min_in = 2, .max_in = 2, .in = IN_FLOAT | IN_INT,
     .int_since = 9},
};
#define N_NARY (sizeof nary_defs / sizeof nary_defs[0])

static const nary_def *nary_find(const char *op_type)
{
    for (size_t i = 0; i < N_NARY; i++)
        if (strcmp(nary_defs[i].op_type, op_type) == 0)
            return &nary_defs[i];
    return NULL;
}

static bool is_unsigned(jn_dtype dt)
{
    return dt == JN_DTYPE_UINT8 || dt == JN_DTYPE_UINT16 || dt == JN_DTYPE_UINT32 || dt == JN_DTYPE_UINT64;
}

static int nary_check(ox_model *m, ox_node *n, jn_err *err)
{
    const nary_def *d = nary_find(n->op_type);
    if (ox_need_opset(n, d->since, err))
        return err->code;
    if (n->opset >= 6 && ox_attr_find(n, "consumed_inputs"))
        return ox_reject(n, err, "consumed_inputs is not part of opset %d", n->opset);
    if (n->opset >= 7 && (ox_attr_find(n, "broadcast") || ox_attr_find(n, "axis")))
        return ox_reject(n, err, "broadcast/axis attributes are not part of opset %d", n->opset);
    jn_dtype dt = ox_in_dtype(m, n, 0);
    for (int i = 0; i < n->n_in; i++) {
        if (!ox_has_in(n, i))
            return ox_reject(n, err, "input %d is left out", i);
        if (ox_in_dtype(m, n, i) != dt)
            return ox_reject(n, err, "inputs have different dtypes (%s, %s)", jn_dtype_name(dt),
                             jn_dtype_name(ox_in_dtype(m, n, i)));
    }
    bool ok = ((d->in & IN_FLOAT) && ox_dtype_is_float(dt)) ||
              ((d->in & IN_INT) && ox_dtype_is_int(dt) && n->opset >= d->int_since) ||
              ((d->in & IN_BOOL) && dt == JN_DTYPE_BOOL);
    if (d->kind == K_SHIFT && !is_unsigned(dt))
        ok = false;
    if (!ok)
        return ox_reject(n, err, "dtype %s is not supported in opset %d", jn_dtype_name(dt), n->opset);
    if (d->kind == K_MOD && ox_dtype_is_float(dt) && ox_attr_int(n, "fmod", 0) != 1)
        return ox_reject(n, err, "floating-point inputs need fmod=1");
    if (d->kind == K_SHIFT) {
        const char *dir = ox_attr_str(n, "direction", "");
        if (strcmp(dir, "LEFT") != 0 && strcmp(dir, "RIGHT") != 0)
            return ox_reject(n, err, "direction '%s' is not LEFT or RIGHT", dir);
    }
    ox_set_out_dtype(m, n, 0, d->to_bool ? JN_DTYPE_BOOL : dt);
    return 0;
}

/* Before opset 7, the second input is seen through a view: PRelu applies a 1-D slope of X's channel count along
 * axis 1 (the channels), And/Or/Xor broadcast B onto A only as their broadcast/axis attributes say
 * (ox_legacy_view). From 7 both broadcast as numpy does. *b is the view of in[1]. */
static int second_view(const ox_node *n, const nary_def *d, ox_tensor *const *in, ox_tensor *b, jn_err *err)
{
    *b = *in[1];
    if (n->opset >= 7)
        return 0;
    if (d->kind == K_AND || d->kind == K_OR || d->kind == K_XOR)
        return ox_legacy_view(n, in[0], in[1], b, err);
    if (d->kind != K_PRELU || in[1]->ndim != 1 || in[0]->ndim < 3 || in[1]->shape[0] != in[0]->shape[1] ||
        in[1]->shape[0] == 1)
        return 0;
    b->ndim = in[0]->ndim - 1;
    for (int k = 1; k < b->ndim; k++)
        b->shape[k] = 1;
    return 0;
}

static int nary_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    const nary_def *d = nary_find(n->op_type);
    ox_tensor acc = *in[0], second;
    if (n->n_in > 1 && second_view(n, d, in, &second, err))
        return err->code;
    for (int i = 1; i < n->n_in; i++) {
        /* PRelu broadcasts the slope onto X (unidirectionally): the output has X's shape. */
        if (ox_broadcast_shape(n, &acc, i == 1 ? &second : in[i], &acc.ndim, acc.shape, err))
            return err->code;
    }
    if (d->kind == K_PRELU && (acc.ndim != in[0]->ndim ||
                               memcmp(acc.shape, in[0]->shape, sizeof(int64_t) * (size_t)acc.ndim) != 0))
        return jn_err_set(err, JN_EINVAL, "node '%s' (PRelu): the slope does not broadcast to X's shape", n->name);
    return ox_set_shape(out[0], d->to_bool ? JN_DTYPE_BOOL : in[0]->dtype, acc.ndim, acc.shape, err);
}

static double f_apply(nary_kind k, double a, double b)
{
    switch (k) {
    case K_MAX: return isnan(a) || isnan(b) ? NAN : a > b ? a : b;
    case K_MIN: return isnan(a) || isnan(b) ? NAN : a < b ? a : b;
    case K_MEAN:
    case K_SUM: return a + b;
    case K_GE: return a >= b;
    case K_LE: return a <= b;
    case K_MOD: return fmod(a, b);
    default: /* K_PRELU */ return a < 0 ? a * b : a;
    }
}

static int64_t i_apply(nary_kind k, int64_t a, int64_t b, bool fmod_, bool left, bool uns, int bits)
{
    switch (k) {
    case K_MAX: return uns ? ((uint64_t)a > (uint64_t)b ? a : b) : a > b ? a : b;
    case K_MIN: return uns ? ((uint64_t)a < (uint64_t)b ? a : b) : a < b ? a : b;
    case K_AND: return a && b;
    case K_OR: return a || b;
    case K_XOR: return (a != 0) != (b != 0);
    case K_GE: return uns ? (uint64_t)a >= (uint64_t)b : a >= b;
    case K_LE: return uns ? (uint64_t)a <= (uint64_t)b : a <= b;
    case K_BAND: return a & b;
    case K_BOR: return a | b;
    case K_BXOR: return a ^ b;
    case K_PRELU: return a < 0 ? (int64_t)((uint64_t)a * (uint64_t)b) : a;
    case K_SHIFT:
        if ((uint64_t)b >= (uint64_t)bits)
            return 0;
        return left ? (int64_t)((uint64_t)a << b) : (int64_t)((uint64_t)a >> b);
    case K_MOD: {
        if (b == 0)
            return 0; /* checked before: division by zero is an error */
        if (uns)
            return (int64_t)((uint64_t)a % (uint64_t)b);
        if (b == -1)
            return 0;
        int64_t r = a % b; /* C: the dividend's sign (fmod=1) */
        if (!fmod_ && r != 0 && ((r < 0) != (b < 0)))
            r += b; /* Python: the divisor's sign */
        return r;
    }
    default: return (int64_t)((uint64_t)a + (uint64_t)b); /* K_SUM, K_MEAN on integers: not accepted */
    }
}

/* Advances the output index by one and every input's element index with it. */
static void step(int ndim, const int64_t *shape, int n_in, int64_t (*strides)[JN_MAX_DIMS], int64_t *counter,
                 int64_t *pos)
{
    for (int d = ndim - 1; d >= 0; d--) {
        counter[d]++;
        for (int k = 0; k < n_in; k++)
            pos[k] += strides[k][d];
        if (counter[d] < shape[d])
            return;
        for (int k = 0; k < n_in; k++)
            pos[k] -= strides[k][d] * shape[d];
        counter[d] = 0;
    }
}

/* FP32, two inputs of the output's shape or one of them a single value (Max(x, 0), x >= t, a PRelu slope):
 * loops that vectorize. false when the case is not one it takes. */
OX_HOT static bool nary_f32(nary_kind k, const ox_tensor *ta, const ox_tensor *tb, ox_tensor *y)
{
    int64_t total = ox_count(y), na = ox_count(ta), nb = ox_count(tb);
    if (ta->dtype != JN_DTYPE_FP32 || (na != total && na != 1) || (nb != total && nb != 1) ||
        (k != K_MAX && k != K_MIN && k != K_SUM && k != K_MEAN && k != K_GE && k != K_LE && k != K_PRELU))
        return false;
    const float *a = ta->data, *b = tb->data;
    int64_t sa = na == total, sb = nb == total; /* 1: runs along, 0: repeated */
    float *o = y->data;
    uint8_t *ob = y->data;
    for (int64_t i = 0; i < total; i++) {
        float x = a[i * sa], z = b[i * sb];
        switch (k) {
        case K_MAX: o[i] = isnan(x) || isnan(z) ? NAN : x > z ? x : z; break;
        case K_MIN: o[i] = isnan(x) || isnan(z) ? NAN : x < z ? x : z; break;
        case K_SUM: o[i] = x + z; break;
        case K_MEAN: o[i] = (x + z) * 0.5f; break;
        case K_GE: ob[i] = x >= z; break;
        case K_LE: ob[i] = x <= z; break;
        default: o[i] = x < 0 ? x * z : x; break;
        }
    }
    return true;
}

static int nary_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    const nary_def *d = nary_find(n->op_type);
    if (n->n_in == 2 && n->opset >= 7 && nary_f32(d->kind, in[0], in[1], out[0]))
        return 0;
    ox_tensor *y = out[0];
    int nin = n->n_in, nd = y->ndim;
    int64_t total = ox_count(y);
    int64_t(*strides)[JN_MAX_DIMS] = malloc(sizeof(int64_t[JN_MAX_DIMS]) * (size_t)nin);
    int64_t *pos = calloc((size_t)nin, sizeof(int64_t)), counter[JN_MAX_DIMS] = {0};
    if (!strides || !pos) {
        free(strides);
        free(pos);
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    ox_tensor second;
    if (nin > 1 && second_view(n, d, in, &second, err)) {
        free(strides);
        free(pos);
        return err->code;
    }
    for (int k = 0; k < nin; k++)
        ox_broadcast_strides(k == 1 ? &second : in[k], nd, y->shape, strides[k]);
    jn_dtype dt = in[0]->dtype;
    int rc = 0;
    if (ox_dtype_is_float(dt)) {
        for (int64_t i = 0; i < total; i++) {
            double acc = ox_load_f64(in[0]->data, dt, pos[0]);
            for (int k = 1; k < nin; k++)
                acc = f_apply(d->kind, acc, ox_load_f64(in[k]->data, dt, pos[k]));
            if (d->kind == K_MEAN)
                acc /= nin;
            ox_store_f64(y->data, y->dtype, i, acc);
            step(nd, y->shape, nin, strides, counter, pos);
        }
    } else {
        bool fm = ox_attr_int(n, "fmod", 0) != 0, left = strcmp(ox_attr_str(n, "direction", ""), "LEFT") == 0;
        bool uns = is_unsigned(dt);
        int bits = (int)jn_dtype_size(dt) * 8;
        for (int64_t i = 0; i < total && !rc; i++) {
            int64_t acc = ox_load_i64(in[0]->data, dt, pos[0]);
            for (int k = 1; k < nin; k++) {
                int64_t b = ox_load_i64(in[k]->data, dt, pos[k]);
                if (d->kind == K_MOD && b == 0) {
                    rc = jn_err_set(err, JN_EINVAL, "node '%s' (Mod): integer division by zero", n->name);
                    break;
                }
                acc = i_apply(d->kind, acc, b, fm, left, uns, bits);
            }
            ox_store_i64(y->data, y->dtype, i, acc);
            step(nd, y->shape, nin, strides, counter, pos);
        }
    }
    free(strides);
    free(pos);
    return rc;
}

/* consumed_inputs: opset < 6's in-place hint, ignored; broadcast, axis: opset < 7's logic operators. */
static const char *const a_none[] = {"consumed_inputs", NULL};
static const char *const a_logic[] = {"broadcast", "axis", NULL};
static const char *const a_mod[] = {"fmod", NULL};
static const char *const a_shift[] = {"direction", NULL};

#define NARY_OP(sym, name, lo, hi, attrs_)                                                                     \
    static const ox_op sym = {.op_type = name, .min_in = lo, .max_in = hi, .min_out = 1, .max_out = 1,         \
                              .attrs = attrs_, .check = nary_check, .shape = nary_shape, .run = nary_run};
NARY_OP(op_max, "Max", 1, OX_MAX_IO, a_none)
NARY_OP(op_min, "Min", 1, OX_MAX_IO, a_none)
NARY_OP(op_mean, "Mean", 1, OX_MAX_IO, a_none)
NARY_OP(op_sum, "Sum", 1, OX_MAX_IO, a_none)
NARY_OP(op_and, "And", 2, 2, a_logic)
NARY_OP(op_or, "Or", 2, 2, a_logic)
NARY_OP(op_xor, "Xor", 2, 2, a_logic)
NARY_OP(op_ge, "GreaterOrEqual", 2, 2, a_none)
NARY_OP(op_le, "LessOrEqual", 2, 2, a_none)
NARY_OP(op_mod, "Mod", 2, 2, a_mod)
NARY_OP(op_shift, "BitShift", 2, 2, a_shift)
NARY_OP(op_band, "BitwiseAnd", 2, 2, a_none)
NARY_OP(op_bor, "BitwiseOr", 2, 2, a_none)
NARY_OP(op_bxor, "BitwiseXor", 2, 2, a_none)
NARY_OP(op_prelu, "PRelu", 2, 2, a_none)

const ox_op *const ox_ops_logic[] = {&op_max, &op_min,   &op_mean,  &op_sum,  &op_and,  &op_or,
                                     &op_xor, &op_ge,    &op_le,    &op_mod,  &op_shift, &op_band,
                                     &op_bor, &op_bxor,  &op_prelu, NULL};
_Static_assert(sizeof ox_ops_logic / sizeof ox_ops_logic[0] == N_NARY + 1, "one ox_op per nary_defs row");
