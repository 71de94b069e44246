/* ops_act.c — element-wise unary operators with one table row each: the activations (HardSigmoid, HardSwish,
 * Mish, Gelu, Elu, Selu, Celu, Softplus, Softsign, ThresholdedRelu, Shrink), rounding and sign (Floor, Ceil, Round,
 * Sign, Reciprocal), the tests IsNaN and IsInf, Not, BitwiseNot, and the trigonometric and hyperbolic functions.
 * Floats compute in double and round once to the output dtype; integers (Sign, Shrink, BitwiseNot) in int64.
 * FP16/BF16 inputs run on FP32 copies (onnx_half.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

/* What a row's input may be. */
enum { IN_FLOAT = 1, IN_INT = 2, IN_BOOL = 4 };

typedef struct act_params {
    const struct act_def *def;
    double alpha, beta, gamma, lambd, bias;
    bool tanh_approx;                  /* Gelu */
    bool detect_negative, detect_positive; /* IsInf */
} act_params;

typedef struct act_def {
    const char *op_type;
    int since;   /* first opset of the operator */
    unsigned in; /* IN_* accepted */
    bool to_bool; /* output BOOL (IsNaN, IsInf) instead of the input's dtype */
    double (*f)(double x, const act_params *p);
    int64_t (*fi)(int64_t x, const act_params *p); /* integers, when IN_INT */
    const char *const *attrs;
} act_def;

static double f_hardsigmoid(double x, const act_params *p)
{
    double v = p->alpha * x + p->beta;
    return v < 0 ? 0 : v > 1 ? 1 : v;
}

static double f_hardswish(double x, const act_params *p)
{
    double v = x / 6.0 + 0.5;
    (void)p;
    return x * (v < 0 ? 0 : v > 1 ? 1 : v);
}

static double softplus(double x)
{
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

static double f_mish(double x, const act_params *p)
{
    (void)p;
    return x * tanh(softplus(x));
}

static double f_gelu(double x, const act_params *p)
{
    if (p->tanh_approx)
        return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
}

static double f_elu(double x, const act_params *p)
{
    return x < 0 ? p->alpha * expm1(x) : x;
}

static double f_selu(double x, const act_params *p)
{
    return x > 0 ? p->gamma * x : p->gamma * (p->alpha * exp(x) - p->alpha);
}

static double f_celu(double x, const act_params *p)
{
    double neg = p->alpha * expm1(x / p->alpha);
    return (x > 0 ? x : 0) + (neg < 0 ? neg : 0);
}

static double f_softplus(double x, const act_params *p)
{
    (void)p;
    return softplus(x);
}

static double f_softsign(double x, const act_params *p)
{
    (void)p;
    return x / (1.0 + fabs(x));
}

static double f_thresholded(double x, const act_params *p)
{
    return x > p->alpha ? x : 0;
}

static double f_shrink(double x, const act_params *p)
{
    return x < -p->lambd ? x + p->bias : x > p->lambd ? x - p->bias : 0;
}

static int64_t fi_shrink(int64_t x, const act_params *p)
{
    return (int64_t)f_shrink((double)x, p);
}

static double f_floor(double x, const act_params *p)
{
    (void)p;
    return floor(x);
}

static double f_ceil(double x, const act_params *p)
{
    (void)p;
    return ceil(x);
}

static double f_round(double x, const act_params *p)
{
    (void)p;
    return nearbyint(x); /* the default rounding mode: halves to even */
}

static double f_sign(double x, const act_params *p)
{
    (void)p;
    return x > 0 ? 1 : x < 0 ? -1 : x; /* 0 stays 0, NaN stays NaN */
}

static int64_t fi_sign(int64_t x, const act_params *p)
{
    (void)p;
    return x > 0 ? 1 : x < 0 ? -1 : 0;
}

static double f_reciprocal(double x, const act_params *p)
{
    (void)p;
    return 1.0 / x;
}

static double f_isnan(double x, const act_params *p)
{
    (void)p;
    return isnan(x);
}

static double f_isinf(double x, const act_params *p)
{
    return isinf(x) && ((x > 0 && p->detect_positive) || (x < 0 && p->detect_negative));
}

static int64_t fi_not(int64_t x, const act_params *p)
{
    (void)p;
    return !x;
}

static int64_t fi_bitnot(int64_t x, const act_params *p)
{
    (void)p;
    return ~x; /* stored back truncated to the dtype's width */
}

#define MATH_FN(fname, cfn)                                                                                    \
    static double fname(double x, const act_params *p)                                                         \
    {                                                                                                          \
        (void)p;                                                                                               \
        return cfn(x);                                                                                         \
    }
MATH_FN(f_sin, sin)
MATH_FN(f_cos, cos)
MATH_FN(f_tan, tan)
MATH_FN(f_asin, asin)
MATH_FN(f_acos, acos)
MATH_FN(f_atan, atan)
MATH_FN(f_sinh, sinh)
MATH_FN(f_cosh, cosh)
MATH_FN(f_asinh, asinh)
MATH_FN(f_acosh, acosh)
MATH_FN(f_atanh, atanh)

/* consumed_inputs: the in-place hint of opsets < 6, ignored. */
static const char *const a_none[] = {"consumed_inputs", NULL};
static const char *const a_alpha[] = {"alpha", "consumed_inputs", NULL};
static const char *const a_alpha_beta[] = {"alpha", "beta", "consumed_inputs", NULL};
static const char *const a_selu[] = {"alpha", "gamma", "consumed_inputs", NULL};
static const char *const a_gelu[] = {"approximate", NULL};
static const char *const a_shrink[] = {"lambd", "bias", NULL};
static const char *const a_isinf[] = {"detect_negative", "detect_positive", NULL};

static const act_def act_defs[] = {
    {.op_type = "HardSigmoid", .since = 1, .in = IN_FLOAT, .f = f_hardsigmoid, .attrs = a_alpha_beta},
    {.op_type = "HardSwish", .since = 14, .in = IN_FLOAT, .f = f_hardswish, .attrs = a_none},
    {.op_type = "Mish", .since = 18, .in = IN_FLOAT, .f = f_mish, .attrs = a_none},
    {.op_type = "Gelu", .since = 20, .in = IN_FLOAT, .f = f_gelu, .attrs = a_gelu},
    {.op_type = "Elu", .since = 1, .in = IN_FLOAT, .f = f_elu, .attrs = a_alpha},
    {.op_type = "Selu", .since = 1, .in = IN_FLOAT, .f = f_selu, .attrs = a_selu},
    {.op_type = "Celu", .since = 12, .in = IN_FLOAT, .f = f_celu, .attrs = a_alpha},
    {.op_type = "Softplus", .since = 1, .in = IN_FLOAT, .f = f_softplus, .attrs = a_none},
    {.op_type = "Softsign", .since = 1, .in = IN_FLOAT, .f = f_softsign, .attrs = a_none},
    {.op_type = "ThresholdedRelu", .since = 10, .in = IN_FLOAT, .f = f_thresholded, .attrs = a_alpha},
    {.op_type = "Shrink", .since = 9, .in = IN_FLOAT | IN_INT, .f = f_shrink, .fi = fi_shrink, .attrs = a_shrink},
    {.op_type = "Floor", .since = 1, .in = IN_FLOAT, .f = f_floor, .attrs = a_none},
    {.op_type = "Ceil", .since = 1, .in = IN_FLOAT, .f = f_ceil, .attrs = a_none},
    {.op_type = "Round", .since = 11, .in = IN_FLOAT, .f = f_round, .attrs = a_none},
    {.op_type = "Sign", .since = 9, .in = IN_FLOAT | IN_INT, .f = f_sign, .fi = fi_sign, .attrs = a_none},
    {.op_type = "Reciprocal", .since = 1, .in = IN_FLOAT, .f = f_reciprocal, .attrs = a_none},
    {.op_type = "IsNaN", .since = 9, .in = IN_FLOAT, .to_bool = true, .f = f_isnan, .attrs = a_none},
    {.op_type = "IsInf", .since = 10, .in = IN_FLOAT, .to_bool = true, .f = f_isinf, .attrs = a_isinf},
    {.op_type = "Not", .since = 1, .in = IN_BOOL, .fi = fi_not, .attrs = a_none},
    {.op_type = "BitwiseNot", .since = 18, .in = IN_INT, .fi = fi_bitnot, .attrs = a_none},
    {.op_type = "Sin", .since = 7, .in = IN_FLOAT, .f = f_sin, .attrs = a_none},
    {.op_type = "Cos", .since = 7, .in = IN_FLOAT, .f = f_cos, .attrs = a_none},
    {.op_type = "Tan", .since = 7, .in = IN_FLOAT, .f = f_tan, .attrs = a_none},
    {.op_type = "Asin", .since = 7, .in = IN_FLOAT, .f = f_asin, .attrs = a_none},
    {.op_type = "Acos", .since = 7, .in = IN_FLOAT, .f = f_acos, .attrs = a_none},
    {.op_type = "Atan", .since = 7, .in = IN_FLOAT, .f = f_atan, .attrs = a_none},
    {.op_type = "Sinh", .since = 9, .in = IN_FLOAT, .f = f_sinh, .attrs = a_none},
    {.op_type = "Cosh", .since = 9, .in = IN_FLOAT, .f = f_cosh, .attrs = a_none},
    {.op_type = "Asinh", .since = 9, .in = IN_FLOAT, .f = f_asinh, .attrs = a_none},
    {.op_type = "Acosh", .since = 9, .in = IN_FLOAT, .f = f_acosh, .attrs = a_none},
    {.op_type = "Atanh", .since = 9, .in = IN_FLOAT, .f = f_atanh, .attrs = a_none},
};
#define N_ACT (sizeof act_defs / sizeof act_defs[0])

static const act_def *act_find(const char *op_type)
{
    for (size_t i = 0; i < N_ACT; i++)
        if (strcmp(act_defs[i].op_type, op_type) == 0)
            return &act_defs[i];
    return NULL;
}

static int act_check(ox_model *m, ox_node *n, jn_err *err)
{
    const act_def *d = act_find(n->op_type);
    jn_dtype dt = ox_in_dtype(m, n, 0);
    if (ox_need_opset(n, d->since, err))
        return err->code;
    if (n->opset >= 6 && ox_attr_find(n, "consumed_inputs"))
        return ox_reject(n, err, "consumed_inputs is not part of opset %d", n->opset);
    bool ok = ((d->in & IN_FLOAT) && ox_dtype_is_float(dt)) || ((d->in & IN_INT) && ox_dtype_is_int(dt)) ||
              ((d->in & IN_BOOL) && dt == JN_DTYPE_BOOL);
    if (!ok)
        return ox_reject(n, err, "dtype %s is not supported", jn_dtype_name(dt));
    act_params *p = calloc(1, sizeof *p);
    if (!p)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    n->params = p;
    p->def = d;
    const char *approx = ox_attr_str(n, "approximate", "none");
    if (strcmp(approx, "none") != 0 && strcmp(approx, "tanh") != 0)
        return ox_reject(n, err, "approximate '%s' is not one of none, tanh", approx);
    p->tanh_approx = strcmp(approx, "tanh") == 0;
    bool hs = strcmp(d->op_type, "HardSigmoid") == 0, selu = strcmp(d->op_type, "Selu") == 0;
    p->alpha = ox_attr_float(n, "alpha", hs ? 0.2f : selu ? 1.67326319217681884765625f : 1.0f);
    p->beta = ox_attr_float(n, "beta", 0.5f);
    p->gamma = ox_attr_float(n, "gamma", 1.05070102214813232421875f);
    p->lambd = ox_attr_float(n, "lambd", 0.5f);
    p->bias = ox_attr_float(n, "bias", 0.0f);
    p->detect_negative = ox_attr_int(n, "detect_negative", 1) != 0;
    p->detect_positive = ox_attr_int(n, "detect_positive", 1) != 0;
    if (strcmp(d->op_type, "Celu") == 0 && p->alpha == 0)
        return ox_reject(n, err, "alpha 0 divides by zero");
    ox_set_out_dtype(m, n, 0, d->to_bool ? JN_DTYPE_BOOL : dt);
    return 0;
}

static int act_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    const act_params *p = n->params;
    return ox_set_shape(out[0], p->def->to_bool ? JN_DTYPE_BOOL : in[0]->dtype, in[0]->ndim, in[0]->shape, err);
}

/* FP32: the activations of mobile networks (HardSigmoid, HardSwish) get loops that vectorize; the rest go through
 * the row's double function. */
OX_HOT static void act_f32(const act_params *p, const float *x, float *y, int64_t total)
{
    if (p->def->f == f_hardsigmoid || p->def->f == f_hardswish) {
        bool swish = p->def->f == f_hardswish;
        float a = swish ? 1.0f / 6.0f : (float)p->alpha, b = swish ? 0.5f : (float)p->beta;
        for (int64_t i = 0; i < total; i++) {
            float v = a * x[i] + b;
            v = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
            y[i] = swish ? x[i] * v : v;
        }
        return;
    }
    for (int64_t i = 0; i < total; i++)
        y[i] = (float)p->def->f(x[i], p);
}

static int act_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    const act_params *p = n->params;
    const act_def *d = p->def;
    const ox_tensor *x = in[0];
    ox_tensor *y = out[0];
    int64_t total = ox_count(x);
    (void)err;
    if (x->dtype == JN_DTYPE_FP32 && y->dtype == JN_DTYPE_FP32) {
        act_f32(p, x->data, y->data, total);
        return 0;
    }
    if (ox_dtype_is_float(x->dtype)) {
        for (int64_t i = 0; i < total; i++)
            ox_store_f64(y->data, y->dtype, i, d->f(ox_load_f64(x->data, x->dtype, i), p));
        return 0;
    }
    for (int64_t i = 0; i < total; i++)
        ox_store_i64(y->data, y->dtype, i, d->fi(ox_load_i64(x->data, x->dtype, i), p));
    return 0;
}

#define ACT_OP(sym, name, attrs_)                                                                              \
    static const ox_op sym = {.op_type = name, .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,           \
                              .attrs = attrs_, .check = act_check, .shape = act_shape, .run = act_run};
ACT_OP(op_hardsigmoid, "HardSigmoid", a_alpha_beta)
ACT_OP(op_hardswish, "HardSwish", a_none)
ACT_OP(op_mish, "Mish", a_none)
ACT_OP(op_gelu, "Gelu", a_gelu)
ACT_OP(op_elu, "Elu", a_alpha)
ACT_OP(op_selu, "Selu", a_selu)
ACT_OP(op_celu, "Celu", a_alpha)
ACT_OP(op_softplus, "Softplus", a_none)
ACT_OP(op_softsign, "Softsign", a_none)
ACT_OP(op_thresholded, "ThresholdedRelu", a_alpha)
ACT_OP(op_shrink, "Shrink", a_shrink)
ACT_OP(op_floor, "Floor", a_none)
ACT_OP(op_ceil, "Ceil", a_none)
ACT_OP(op_round, "Round", a_none)
ACT_OP(op_sign, "Sign", a_none)
ACT_OP(op_reciprocal, "Reciprocal", a_none)
ACT_OP(op_isnan, "IsNaN", a_none)
ACT_OP(op_isinf, "IsInf", a_isinf)
ACT_OP(op_not, "Not", a_none)
ACT_OP(op_bitnot, "BitwiseNot", a_none)
ACT_OP(op_sin, "Sin", a_none)
ACT_OP(op_cos, "Cos", a_none)
ACT_OP(op_tan, "Tan", a_none)
ACT_OP(op_asin, "Asin", a_none)
ACT_OP(op_acos, "Acos", a_none)
ACT_OP(op_atan, "Atan", a_none)
ACT_OP(op_sinh, "Sinh", a_none)
ACT_OP(op_cosh, "Cosh", a_none)
ACT_OP(op_asinh, "Asinh", a_none)
ACT_OP(op_acosh, "Acosh", a_none)
ACT_OP(op_atanh, "Atanh", a_none)

const ox_op *const ox_ops_act[] = {
    &op_hardsigmoid, &op_hardswish, &op_mish,  &op_gelu,  &op_elu,   &op_selu,       &op_celu,  &op_softplus,
    &op_softsign,    &op_thresholded, &op_shrink, &op_floor, &op_ceil, &op_round,    &op_sign,  &op_reciprocal,
    &op_isnan,       &op_isinf,     &op_not,   &op_bitnot, &op_sin,  &op_cos,        &op_tan,   &op_asin,
    &op_acos,        &op_atan,      &op_sinh,  &op_cosh,  &op_asinh, &op_acosh,      &op_atanh, NULL};
_Static_assert(sizeof ox_ops_act / sizeof ox_ops_act[0] == N_ACT + 1, "one ox_op per act_defs row");
