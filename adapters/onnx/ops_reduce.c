/* ops_reduce.c — reductions: ReduceMean, ReduceSum, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2,
 * ReduceLogSum, ReduceLogSumExp, ReduceSumSquare (axes as attribute, or as input: ReduceSum from opset 13, the others
 * from 18; keepdims; noop_with_empty_axes with the input form) and ArgMax / ArgMin (keepdims, select_last_index).
 * Accumulation in double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

enum { RED_MEAN, RED_SUM, RED_MAX, RED_MIN, RED_PROD, RED_L1, RED_L2, RED_LOGSUM, RED_LOGSUMEXP, RED_SUMSQ };

static const char *const red_names[] = {"ReduceMean",   "ReduceSum",       "ReduceMax",      "ReduceMin",
                                        "ReduceProd",   "ReduceL1",        "ReduceL2",       "ReduceLogSum",
                                        "ReduceLogSumExp", "ReduceSumSquare"};

static int red_kind(const ox_node *n)
{
    for (int k = 0; k < (int)(sizeof red_names / sizeof red_names[0]); k++)
        if (strcmp(n->op_type, red_names[k]) == 0)
            return k;
    return RED_SUM;
}

/* ReduceSum took its axes as an input from opset 13, the others from 18. */
static bool axes_from_input(const ox_node *n)
{
    return n->opset >= (red_kind(n) == RED_SUM ? 13 : 18);
}

static int red_check(ox_model *m, ox_node *n, jn_err *err)
{
    jn_dtype dt = ox_in_dtype(m, n, 0);
    if (axes_from_input(n) && ox_attr_find(n, "axes"))
        return ox_reject(n, err, "the axes attribute is not part of opset %d (axes is an input)", n->opset);
    if (!axes_from_input(n) && n->n_in > 1)
        return ox_reject(n, err, "an axes input is not part of opset %d", n->opset);
    if (!axes_from_input(n) && ox_attr_find(n, "noop_with_empty_axes"))
        return ox_reject(n, err, "noop_with_empty_axes is not part of opset %d", n->opset);
    if (ox_has_in(n, 1) && ox_in_dtype(m, n, 1) != JN_DTYPE_INT64)
        return ox_reject(n, err, "axes must be INT64");
    int kind = red_kind(n);
    bool minmax_bool = (kind == RED_MAX || kind == RED_MIN) && dt == JN_DTYPE_BOOL && n->opset >= 20;
    if (!ox_dtype_is_float(dt) && !(ox_dtype_is_int(dt) && dt != JN_DTYPE_UINT64) && !minmax_bool)
        return ox_reject(n, err, "dtype %s is not supported", jn_dtype_name(dt));
    ox_set_out_dtype(m, n, 0, dt);
    return 0;
}

/* Which axes are reduced; *all_noop when the op is the identity (empty axes with noop_with_empty_axes). */
static int red_axes(const ox_node *n, ox_tensor *const *in, bool *reduce, bool *noop, jn_err *err)
{
    int rank = in[0]->ndim, na = 0;
    int64_t axes[JN_MAX_DIMS];
    if (axes_from_input(n)) {
        if (n->n_in > 1 && in[1]) {
            int64_t c = ox_count(in[1]);
            if (in[1]->ndim > 1 || c > JN_MAX_DIMS)
                return jn_err_set(err, JN_EINVAL, "node '%s' (%s): bad axes", n->name, n->op_type);
            for (int64_t i = 0; i < c; i++)
                axes[i] = ((const int64_t *)in[1]->data)[i];
            na = (int)c;
        }
    } else {
        size_t c;
        const int64_t *a = ox_attr_ints(n, "axes", &c);
        if (c > JN_MAX_DIMS)
            return jn_err_set(err, JN_EINVAL, "node '%s' (%s): bad axes", n->name, n->op_type);
        for (size_t i = 0; i < c; i++)
            axes[i] = a[i];
        na = (int)c;
    }
    *noop = na == 0 && ox_attr_int(n, "noop_with_empty_axes", 0) != 0;
    for (int d = 0; d < rank; d++)
        reduce[d] = na == 0;
    for (int i = 0; i < na; i++) {
        int a = ox_axis(axes[i], rank);
        if (a < 0)
            return jn_err_set(err, JN_EINVAL, "node '%s' (%s): axis %lld out of range", n->name, n->op_type,
                              (long long)axes[i]);
        reduce[a] = true;
    }
    return 0;
}

static int red_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    bool reduce[JN_MAX_DIMS], noop;
    if (red_axes(n, in, reduce, &noop, err))
        return err->code;
    if (noop)
        return ox_set_shape(out[0], in[0]->dtype, in[0]->ndim, in[0]->shape, err);
    bool keep = ox_attr_int(n, "keepdims", 1) != 0;
    int64_t shape[JN_MAX_DIMS];
    int nd = 0;
    for (int d = 0; d < in[0]->ndim; d++) {
        if (!reduce[d])
            shape[nd++] = in[0]->shape[d];
        else if (keep)
            shape[nd++] = 1;
    }
    return ox_set_shape(out[0], in[0]->dtype, nd, shape, err);
}

/* FP32 with the reduced axes one contiguous block [outer, len, inner] (a LayerNorm written out as ReduceMean over
 * the last axis, a mean over H and W): loops without the per-element index arithmetic of the general path.
 * Accumulates in double as that path does. false when the case is not one it takes. */
OX_HOT static bool red_f32_block(int kind, const ox_tensor *x, const bool *reduce, ox_tensor *y, double *acc)
{
    int rank = x->ndim, first = -1, last = -1;
    for (int d = 0; d < rank; d++)
        if (reduce[d] && x->shape[d] != 1) {
            if (first < 0)
                first = d;
            else if (last != d - 1)
                return false;
            last = d;
        }
    bool simple = kind == RED_MEAN || kind == RED_SUM || kind == RED_MAX || kind == RED_MIN || kind == RED_SUMSQ ||
                  kind == RED_L1 || kind == RED_L2;
    if (x->dtype != JN_DTYPE_FP32 || y->dtype != JN_DTYPE_FP32 || first < 0 || !simple)
        return false;
    int64_t outer = 1, len = 1, inner = 1;
    for (int d = 0; d < first; d++)
        outer *= x->shape[d];
    for (int d = first; d <= last; d++)
        len *= x->shape[d];
    for (int d = last + 1; d < rank; d++)
        inner *= x->shape[d];
    const float *src = x->data;
    float *dst = y->data;
    double init = kind == RED_MAX ? -INFINITY : kind == RED_MIN ? INFINITY : 0.0;
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++)
            acc[i] = init;
        for (int64_t r = 0; r < len; r++) {
            const float *row = src + (o * len + r) * inner;
            switch (kind) {
            case RED_MAX:
                for (int64_t i = 0; i < inner; i++)
                    acc[i] = row[i] > acc[i] || isnan(row[i]) ? row[i] : acc[i];
                break;
            case RED_MIN:
                for (int64_t i = 0; i < inner; i++)
                    acc[i] = row[i] < acc[i] || isnan(row[i]) ? row[i] : acc[i];
                break;
            case RED_SUMSQ:
            case RED_L2:
                for (int64_t i = 0; i < inner; i++)
                    acc[i] += (double)row[i] * row[i];
                break;
            case RED_L1:
                for (int64_t i = 0; i < inner; i++)
                    acc[i] += fabs((double)row[i]);
                break;
            default:
                for (int64_t i = 0; i < inner; i++)
                    acc[i] += row[i];
                break;
            }
        }
        for (int64_t i = 0; i < inner; i++) {
            double v = kind == RED_MEAN ? acc[i] / (double)len : kind == RED_L2 ? sqrt(acc[i]) : acc[i];
            dst[o * inner + i] = (float)v;
        }
    }
    return true;
}

static int red_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    bool reduce[JN_MAX_DIMS], noop;
    if (red_axes(n, in, reduce, &noop, err))
        return err->code;
    if (noop) {
        memcpy(out[0]->data, in[0]->data, out[0]->nbytes);
        return 0;
    }
    int kind = red_kind(n), rank = in[0]->ndim;
    int64_t total = ox_count(in[0]), nout = ox_count(out[0]);
    /* Output strides over the input's dims, 0 along reduced ones. */
    int64_t ostride[JN_MAX_DIMS], s = 1, counter[JN_MAX_DIMS] = {0}, pos = 0;
    for (int d = rank - 1; d >= 0; d--) {
        ostride[d] = reduce[d] ? 0 : s;
        if (!reduce[d])
            s *= in[0]->shape[d];
    }
    double *acc = malloc((size_t)(nout + 1) * sizeof(double));
    if (!acc)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    if (total > 0 && red_f32_block(kind, in[0], reduce, out[0], acc)) {
        free(acc);
        return 0;
    }
    double init = kind == RED_MAX ? -INFINITY : kind == RED_MIN ? INFINITY : kind == RED_PROD ? 1.0 : 0.0;
    double *mx = NULL; /* LogSumExp: the largest element of each output, subtracted before exp */
    if (kind == RED_LOGSUMEXP) {
        mx = malloc((size_t)(nout + 1) * sizeof(double));
        if (!mx) {
            free(acc);
            return jn_err_set(err, JN_ENOMEM, "out of memory");
        }
    }
    for (int64_t i = 0; i < nout; i++) {
        acc[i] = init;
        if (mx)
            mx[i] = -INFINITY;
    }
    for (int pass = mx ? 0 : 1; pass < 2; pass++) {
        pos = 0;
        memset(counter, 0, sizeof counter);
        for (int64_t i = 0; i < total; i++) {
            double v = ox_load_f64(in[0]->data, in[0]->dtype, i);
            if (pass == 0)
                mx[pos] = v > mx[pos] ? v : mx[pos];
            else {
                switch (kind) {
                case RED_MAX: acc[pos] = v > acc[pos] || isnan(v) ? v : acc[pos]; break;
                case RED_MIN: acc[pos] = v < acc[pos] || isnan(v) ? v : acc[pos]; break;
                case RED_PROD: acc[pos] *= v; break;
                case RED_L1: acc[pos] += fabs(v); break;
                case RED_L2:
                case RED_SUMSQ: acc[pos] += v * v; break;
                case RED_LOGSUMEXP: acc[pos] += isinf(mx[pos]) ? exp(v) : exp(v - mx[pos]); break;
                default: acc[pos] += v; break;
                }
            }
            for (int d = rank - 1; d >= 0; d--) {
                pos += ostride[d];
                if (++counter[d] < in[0]->shape[d])
                    break;
                pos -= ostride[d] * in[0]->shape[d];
                counter[d] = 0;
            }
        }
    }
    int64_t per = nout ? total / nout : 0;
    for (int64_t i = 0; i < nout; i++) {
        double r = acc[i];
        switch (kind) {
        case RED_MEAN: r = acc[i] / (double)per; break;
        case RED_L2: r = sqrt(acc[i]); break;
        case RED_LOGSUM: r = log(acc[i]); break;
        case RED_LOGSUMEXP: r = log(acc[i]) + (isinf(mx[i]) ? 0 : mx[i]); break;
        default: break;
        }
        ox_store_f64(out[0]->data, out[0]->dtype, i, r);
    }
    free(mx);
    free(acc);
    return 0;
}

static const char *const red_attrs[] = {"axes", "keepdims", "noop_with_empty_axes", NULL};
#define RED_OP(sym, name)                                                                                      \
    static const ox_op sym = {.op_type = name, .min_in = 1, .max_in = 2, .min_out = 1, .max_out = 1,           \
                              .attrs = red_attrs, .shape_inputs = 1u << 1, .check = red_check,                 \
                              .shape = red_shape, .run = red_run};
RED_OP(op_reduce_mean, "ReduceMean")
RED_OP(op_reduce_sum, "ReduceSum")
RED_OP(op_reduce_max, "ReduceMax")
RED_OP(op_reduce_min, "ReduceMin")
RED_OP(op_reduce_prod, "ReduceProd")
RED_OP(op_reduce_l1, "ReduceL1")
RED_OP(op_reduce_l2, "ReduceL2")
RED_OP(op_reduce_logsum, "ReduceLogSum")
RED_OP(op_reduce_logsumexp, "ReduceLogSumExp")
RED_OP(op_reduce_sumsq, "ReduceSumSquare")

/* ---------------------------------------------------------------------------------------------------------------
 * ArgMax */

static int argmax_check(ox_model *m, ox_node *n, jn_err *err)
{
    jn_dtype dt = ox_in_dtype(m, n, 0);
    if (!ox_dtype_is_float(dt) && !(ox_dtype_is_int(dt) && dt != JN_DTYPE_UINT64))
        return ox_reject(n, err, "dtype %s is not supported", jn_dtype_name(dt));
    ox_set_out_dtype(m, n, 0, JN_DTYPE_INT64);
    return 0;
}

static int argmax_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int rank = in[0]->ndim, axis = ox_axis(ox_attr_int(n, "axis", 0), rank);
    if (axis < 0)
        return jn_err_set(err, JN_EINVAL, "node '%s' (%s): axis out of range", n->name, n->op_type);
    if (in[0]->shape[axis] == 0)
        return jn_err_set(err, JN_EINVAL, "node '%s' (%s): the reduced dimension is empty", n->name, n->op_type);
    bool keep = ox_attr_int(n, "keepdims", 1) != 0;
    int64_t shape[JN_MAX_DIMS];
    int nd = 0;
    for (int d = 0; d < rank; d++) {
        if (d != axis)
            shape[nd++] = in[0]->shape[d];
        else if (keep)
            shape[nd++] = 1;
    }
    return ox_set_shape(out[0], JN_DTYPE_INT64, nd, shape, err);
}

static int argmax_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int rank = in[0]->ndim, axis = ox_axis(ox_attr_int(n, "axis", 0), rank);
    bool last = ox_attr_int(n, "select_last_index", 0) != 0, is_min = strcmp(n->op_type, "ArgMin") == 0;
    int64_t outer, len = in[0]->shape[axis], inner;
    ox_around_axis(in[0], axis, &outer, &inner);
    int64_t *y = out[0]->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < inner; k++) {
            int64_t best = 0, base = o * len * inner + k;
            double bv = ox_load_f64(in[0]->data, in[0]->dtype, base);
            for (int64_t i = 1; i < len; i++) {
                double v = ox_load_f64(in[0]->data, in[0]->dtype, base + i * inner);
                if ((is_min ? v < bv : v > bv) || (last && v == bv)) {
                    bv = v;
                    best = i;
                }
            }
            y[o * inner + k] = best;
        }
    return 0;
}

static const char *const argmax_attrs[] = {"axis", "keepdims", "select_last_index", NULL};
static const ox_op op_argmax = {"ArgMax", 1, 1, 1, 1, argmax_attrs, 0, argmax_check, argmax_shape, argmax_run};
static const ox_op op_argmin = {.op_type = "ArgMin", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
                                .attrs = argmax_attrs, .check = argmax_check, .shape = argmax_shape,
                                .run = argmax_run};

const ox_op *const ox_ops_reduce[] = {&op_reduce_mean, &op_reduce_sum,       &op_reduce_max,   &op_reduce_min,
                                      &op_reduce_prod, &op_reduce_l1,        &op_reduce_l2,    &op_reduce_logsum,
                                      &op_reduce_logsumexp, &op_reduce_sumsq, &op_argmax,      &op_argmin,
                                      NULL};
