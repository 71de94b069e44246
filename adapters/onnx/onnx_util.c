/* onnx_util.c — what every kernel module shares: shapes, attribute look-up, element access across dtypes,
 * broadcasting, the operator table assembled from the per-family tables, and the model's value table (ox_value_add,
 * used by the loader and the fusion passes alike). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "half.h"
#include "onnx_internal.h"

int64_t ox_count(const ox_tensor *t)
{
    int64_t c = 1;
    for (int i = 0; i < t->ndim; i++)
        c *= t->shape[i];
    return c;
}

void ox_around_axis(const ox_tensor *t, int axis, int64_t *outer, int64_t *inner)
{
    *outer = *inner = 1;
    for (int d = 0; d < axis; d++)
        *outer *= t->shape[d];
    for (int d = axis + 1; d < t->ndim; d++)
        *inner *= t->shape[d];
}

int ox_set_shape(ox_tensor *t, jn_dtype dtype, int ndim, const int64_t *shape, jn_err *err)
{
    if (ndim < 0 || ndim > JN_MAX_DIMS)
        return jn_err_set(err, JN_EUNIMPL, "rank %d exceeds the %d dimensions supported", ndim, JN_MAX_DIMS);
    int64_t count = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return jn_err_set(err, JN_EINVAL, "negative dimension %lld", (long long)shape[i]);
        if (shape[i] > 0 && count > JN_MAX_TENSOR_ELEMENTS / shape[i])
            return jn_err_set(err, JN_ERESOURCE, "a tensor of more than %lld elements (the limit)",
                              (long long)JN_MAX_TENSOR_ELEMENTS);
        count *= shape[i];
    }
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    t->nbytes = (size_t)count * jn_dtype_size(dtype);
    return 0;
}

const ox_attr *ox_attr_find(const ox_node *n, const char *name)
{
    for (size_t i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0)
            return &n->attrs[i];
    return NULL;
}

int64_t ox_attr_int(const ox_node *n, const char *name, int64_t dflt)
{
    const ox_attr *a = ox_attr_find(n, name);
    return a && a->type == OX_ATTR_INT ? a->i : dflt;
}

float ox_attr_float(const ox_node *n, const char *name, float dflt)
{
    const ox_attr *a = ox_attr_find(n, name);
    return a && a->type == OX_ATTR_FLOAT ? a->f : dflt;
}

const char *ox_attr_str(const ox_node *n, const char *name, const char *dflt)
{
    const ox_attr *a = ox_attr_find(n, name);
    return a && a->type == OX_ATTR_STRING ? a->s : dflt;
}

const int64_t *ox_attr_ints(const ox_node *n, const char *name, size_t *count)
{
    const ox_attr *a = ox_attr_find(n, name);
    if (!a || a->type != OX_ATTR_INTS) {
        *count = 0;
        return NULL;
    }
    *count = a->n;
    return a->ints;
}

bool ox_dtype_is_float(jn_dtype dt)
{
    return dt == JN_DTYPE_FP32 || dt == JN_DTYPE_FP64;
}

bool ox_dtype_is_int(jn_dtype dt)
{
    switch (dt) {
    case JN_DTYPE_UINT8: case JN_DTYPE_UINT16: case JN_DTYPE_UINT32: case JN_DTYPE_UINT64:
    case JN_DTYPE_INT8: case JN_DTYPE_INT16: case JN_DTYPE_INT32: case JN_DTYPE_INT64:
        return true;
    default:
        return false;
    }
}

bool ox_dtype_supported(jn_dtype dt)
{
    return ox_dtype_is_float(dt) || ox_dtype_is_int(dt) || dt == JN_DTYPE_BOOL || dt == JN_DTYPE_FP16 ||
           dt == JN_DTYPE_BF16;
}

double ox_load_f64(const void *d, jn_dtype dt, int64_t i)
{
    switch (dt) {
    case JN_DTYPE_FP32: return ((const float *)d)[i];
    case JN_DTYPE_FP64: return ((const double *)d)[i];
    case JN_DTYPE_UINT64: return (double)((const uint64_t *)d)[i];
    case JN_DTYPE_FP16: return jn_fp16_to_float(((const uint16_t *)d)[i]);
    case JN_DTYPE_BF16: return jn_bf16_to_float(((const uint16_t *)d)[i]);
    default: return (double)ox_load_i64(d, dt, i);
    }
}

int64_t ox_load_i64(const void *d, jn_dtype dt, int64_t i)
{
    switch (dt) {
    case JN_DTYPE_BOOL: return ((const uint8_t *)d)[i] != 0;
    case JN_DTYPE_UINT8: return ((const uint8_t *)d)[i];
    case JN_DTYPE_UINT16: return ((const uint16_t *)d)[i];
    case JN_DTYPE_UINT32: return ((const uint32_t *)d)[i];
    case JN_DTYPE_UINT64: return (int64_t)((const uint64_t *)d)[i];
    case JN_DTYPE_INT8: return ((const int8_t *)d)[i];
    case JN_DTYPE_INT16: return ((const int16_t *)d)[i];
    case JN_DTYPE_INT32: return ((const int32_t *)d)[i];
    case JN_DTYPE_INT64: return ((const int64_t *)d)[i];
    case JN_DTYPE_FP32: {
        float f = ((const float *)d)[i];
        return isfinite(f) && fabsf(f) < 9.2e18f ? (int64_t)f : 0;
    }
    case JN_DTYPE_FP64: {
        double f = ((const double *)d)[i];
        return isfinite(f) && fabs(f) < 9.2e18 ? (int64_t)f : 0;
    }
    case JN_DTYPE_FP16:
    case JN_DTYPE_BF16: {
        double f = ox_load_f64(d, dt, i);
        return isfinite(f) ? (int64_t)f : 0;
    }
    default: return 0;
    }
}

void ox_store_i64(void *d, jn_dtype dt, int64_t i, int64_t v)
{
    switch (dt) {
    case JN_DTYPE_BOOL: ((uint8_t *)d)[i] = v != 0; break;
    case JN_DTYPE_UINT8: ((uint8_t *)d)[i] = (uint8_t)v; break;
    case JN_DTYPE_UINT16: ((uint16_t *)d)[i] = (uint16_t)v; break;
    case JN_DTYPE_UINT32: ((uint32_t *)d)[i] = (uint32_t)v; break;
    case JN_DTYPE_UINT64: ((uint64_t *)d)[i] = (uint64_t)v; break;
    case JN_DTYPE_INT8: ((int8_t *)d)[i] = (int8_t)v; break;
    case JN_DTYPE_INT16: ((int16_t *)d)[i] = (int16_t)v; break;
    case JN_DTYPE_INT32: ((int32_t *)d)[i] = (int32_t)v; break;
    case JN_DTYPE_INT64: ((int64_t *)d)[i] = v; break;
    case JN_DTYPE_FP32: ((float *)d)[i] = (float)v; break;
    case JN_DTYPE_FP64: ((double *)d)[i] = (double)v; break;
    case JN_DTYPE_FP16:
    case JN_DTYPE_BF16: ox_store_f64(d, dt, i, (double)v); break;
    default: break;
    }
}

void ox_store_f64(void *d, jn_dtype dt, int64_t i, double v)
{
    switch (dt) {
    case JN_DTYPE_FP32: ((float *)d)[i] = (float)v; break;
    case JN_DTYPE_FP64: ((double *)d)[i] = v; break;
    case JN_DTYPE_FP16: ((uint16_t *)d)[i] = jn_fp16_from_double(v); break;
    case JN_DTYPE_BF16: ((uint16_t *)d)[i] = jn_bf16_from_float((float)v); break;
    case JN_DTYPE_BOOL: ((uint8_t *)d)[i] = v != 0; break;
    case JN_DTYPE_UINT64:
        ((uint64_t *)d)[i] = isfinite(v) && v >= 0 && v < 1.8e19 ? (uint64_t)v : 0;
        break;
    default:
        ox_store_i64(d, dt, i, isfinite(v) && fabs(v) < 9.2e18 ? (int64_t)v : 0);
        break;
    }
}

int ox_axis(int64_t axis, int rank)
{
    if (axis < -rank || axis >= rank)
        return -1;
    return (int)(axis < 0 ? axis + rank : axis);
}

int ox_broadcast_shape(const ox_node *n, const ox_tensor *a, const ox_tensor *b, int *ndim, int64_t *shape,
                       jn_err *err)
{
    int r = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->ndim), ib = i - (r - b->ndim);
        int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return jn_err_set(err, JN_EINVAL, "node '%s' (%s): shapes do not broadcast (dimension %d: %lld vs %lld)",
                              n->name, n->op_type, i, (long long)da, (long long)db);
        shape[i] = da == 1 ? db : da;
    }
    *ndim = r;
    return 0;
}

void ox_broadcast_strides(const ox_tensor *t, int ndim, const int64_t *shape, int64_t *strides)
{
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        int it = i - (ndim - t->ndim);
        int64_t d = it >= 0 ? t->shape[it] : 1;
        strides[i] = (d == 1 && shape[i] != 1) || it < 0 ? 0 : s;
        if (it >= 0)
            s *= d;
    }
}

/* Opset < 7 broadcasts only B onto A, aligned at `axis` (default: trailing), and only with broadcast=1; the
 * view of B padded with trailing ones makes that a case of numpy broadcasting. Without broadcast=1 the shapes
 * must be equal. */
int ox_legacy_view(const ox_node *n, const ox_tensor *a, const ox_tensor *b, ox_tensor *view, jn_err *err)
{
    *view = *b;
    if (n->opset >= 7)
        return 0;
    if (!ox_attr_int(n, "broadcast", 0)) {
        if (a->ndim != b->ndim || memcmp(a->shape, b->shape, sizeof(int64_t) * (size_t)a->ndim) != 0)
            return jn_err_set(err, JN_EINVAL, "node '%s' (%s): shapes differ and broadcast is not set", n->name,
                              n->op_type);
        return 0;
    }
    int64_t axis = ox_attr_int(n, "axis", a->ndim - b->ndim);
    if (axis < 0 || axis + b->ndim > a->ndim)
        return jn_err_set(err, JN_EINVAL, "node '%s' (%s): B of rank %d does not fit A of rank %d at axis %lld",
                          n->name, n->op_type, b->ndim, a->ndim, (long long)axis);
    for (int i = 0; i < b->ndim; i++)
        if (b->shape[i] != a->shape[axis + i] && b->shape[i] != 1)
            return jn_err_set(err, JN_EINVAL, "node '%s' (%s): B's dimension %d does not match A's", n->name,
                              n->op_type, i);
    view->ndim = (int)(a->ndim - axis);
    for (int i = b->ndim; i < view->ndim; i++)
        view->shape[i] = 1;
    return 0;
}

int ox_need_opset(const ox_node *n, int since, jn_err *err)
{
    if (n->opset < since)
        return ox_reject(n, err, "the operator needs opset %d; the model imports %d", since, n->opset);
    return 0;
}

/* By name (op_type set) or by position (op_type NULL: the nth entry). */
static const ox_op *op_lookup(const char *op_type, size_t nth)
{
    const ox_op *const *tables[] = {
        ox_ops_math, ox_ops_nn, ox_ops_shape, ox_ops_reduce,
        ox_ops_act,
        ox_ops_logic,
        ox_ops_index,
        ox_ops_tensor2,
        ox_ops_loss,
        ox_ops_resize,
        ox_ops_vision,
        ox_ops_signal,
        ox_ops_quant,
        ox_ops_rnn, ox_ops_control, ox_ops_seq,
    };
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        for (const ox_op *const *op = tables[t]; *op; op++)
            if (op_type ? strcmp((*op)->op_type, op_type) == 0 : nth-- == 0)
                return *op;
    return NULL;
}

const ox_op *ox_op_find(const char *op_type)
{
    return op_type ? op_lookup(op_type, 0) : NULL;
}

const ox_op *ox_op_nth(size_t i)
{
    return op_lookup(NULL, i);
}

jn_dtype ox_dtype_from_onnx(int64_t t)
{
    switch (t) {
    case 1: return JN_DTYPE_FP32;
    case 2: return JN_DTYPE_UINT8;
    case 3: return JN_DTYPE_INT8;
    case 4: return JN_DTYPE_UINT16;
    case 5: return JN_DTYPE_INT16;
    case 6: return JN_DTYPE_INT32;
    case 7: return JN_DTYPE_INT64;
    case 8: return JN_DTYPE_BYTES;
    case 9: return JN_DTYPE_BOOL;
    case 10: return JN_DTYPE_FP16;
    case 11: return JN_DTYPE_FP64;
    case 12: return JN_DTYPE_UINT32;
    case 13: return JN_DTYPE_UINT64;
    case 16: return JN_DTYPE_BF16;
    default: return JN_DTYPE_INVALID;
    }
}

bool ox_dtype_is_half(jn_dtype dt)
{
    return dt == JN_DTYPE_FP16 || dt == JN_DTYPE_BF16;
}

/* ---- the model's value table (the loader and the fusion passes add to it) ---- */

int ox_value_add(ox_model *m, const char *name, jn_err *err)
{
    if (m->n_values == m->cap_values) {
        size_t cap = m->cap_values ? m->cap_values * 2 : 32;
        ox_value *v = realloc(m->values, cap * sizeof *v);
        if (!v)
            return jn_err_set(err, JN_ENOMEM, "out of memory");
        m->values = v;
        m->cap_values = cap;
    }
    ox_value *v = &m->values[m->n_values];
    memset(v, 0, sizeof *v);
    v->name = strdup(name ? name : "");
    if (!v->name)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    v->producer = -1;
    v->graph_input = -1;
    v->last_use = -1;
    return (int)m->n_values++;
}
