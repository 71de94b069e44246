/* ops_shape.c — operators that move, select or relabel elements: Identity, Dropout (inference; training only
 * with a constant ratio of 0), Cast, CastLike, Flatten, Reshape, Transpose, Squeeze, Unsqueeze, Concat, Split,
 * Slice, Gather, Shape, ConstantOfShape, Expand. They work on any supported dtype (bytes are copied by element
 * size). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "half.h"
#include "onnx_internal.h"

static const char *const no_attrs[] = {NULL};

static int copy_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    if (out[0]->nbytes)
        memcpy(out[0]->data, in[0]->data, out[0]->nbytes);
    return 0;
}

static int same_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    return ox_set_shape(out[0], in[0]->dtype, in[0]->ndim, in[0]->shape, err);
}

static int pass_check(ox_model *m, ox_node *n, jn_err *err)
{
    ox_set_out_dtype(m, n, 0, ox_in_dtype(m, n, 0));
    return 0;
}

/* An int64/int32 1-D tensor's values (count <= cap) into v; JN_EINVAL naming the node otherwise. */
static int read_ints(const ox_node *n, const ox_tensor *t, const char *what, int64_t *v, int cap, int *count,
                     jn_err *err)
{
    if (t->dtype != JN_DTYPE_INT64 && t->dtype != JN_DTYPE_INT32)
        return jn_err_set(err, JN_EINVAL, "node '%s' (%s): %s must be INT64", n->name, n->op_type, what);
    int64_t c = ox_count(t);
    if (t->ndim > 1 || c > cap)
        return jn_err_set(err, JN_EINVAL, "node '%s' (%s): %s must be a 1-D tensor of at most %d values", n->name,
                          n->op_type, what, cap);
    for (int64_t i = 0; i < c; i++)
        v[i] = ox_load_i64(t->data, t->dtype, i);
    *count = (int)c;
    return 0;
}

static int need_int_input(ox_model *m, ox_node *n, int i, const char *what, jn_err *err)
{
    if (ox_has_in(n, i) && ox_in_dtype(m, n, i) != JN_DTYPE_INT64 && ox_in_dtype(m, n, i) != JN_DTYPE_INT32)
        return ox_reject(n, err, "%s has dtype %s (INT64 expected)", what, jn_dtype_name(ox_in_dtype(m, n, i)));
    return 0;
}

/* ---------------------------------------------------------------------------------------------------------------
 * Identity, Dropout */

static const ox_op op_identity = {"Identity", 1, 1, 1, 1, no_attrs, 0, pass_check, same_shape, copy_run};

static int dropout_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (n->opset < 6)
        return ox_reject(n, err, "opset %d is not supported (6 or later)", n->opset);
    if (n->opset < 7 && ox_attr_int(n, "is_test", 0) != 1)
        return ox_reject(n, err, "is_test=0 (training) is not supported");
    if (n->opset >= 7 && ox_attr_find(n, "is_test"))
        return ox_reject(n, err, "is_test is not part of opset %d", n->opset);
    if (n->n_out > 1 && n->out[1] >= 0 && n->opset < 10)
        return ox_reject(n, err, "the mask output needs opset 10 or later");
    if (ox_has_in(n, 2)) {
        /* Training mode drops elements at random, which cannot be reproduced; it is exact only with a ratio of
         * constant 0 (the identity, every mask element true). */
        const ox_tensor *t = ox_in_const(m, n, 2), *r = ox_in_const(m, n, 1);
        bool inference = t && ox_count(t) == 1 && ox_load_i64(t->data, t->dtype, 0) == 0;
        bool zero_ratio = r && ox_count(r) == 1 && ox_load_f64(r->data, r->dtype, 0) == 0;
        if (!inference && !zero_ratio)
            return ox_reject(n, err, "training_mode is %s and ratio is not a constant 0: the output would be "
                             "random", t ? "true" : "a runtime input");
    }
    if (!ox_dtype_is_float(ox_in_dtype(m, n, 0)))
        return ox_reject(n, err, "dtype %s is not supported", jn_dtype_name(ox_in_dtype(m, n, 0)));
    ox_set_out_dtype(m, n, 0, ox_in_dtype(m, n, 0));
    ox_set_out_dtype(m, n, 1, JN_DTYPE_BOOL);
    return 0;
}

static int dropout_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    if (n->n_out > 1 && out[1] && ox_set_shape(out[1], JN_DTYPE_BOOL, in[0]->ndim, in[0]->shape, err))
        return err->code;
    return same_shape(n, in, out, err);
}

static int dropout_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    if (n->n_out > 1 && out[1])
        memset(out[1]->data, 1, out[1]->nbytes);
    return copy_run(n, in, out, err);
}

static const char *const dropout_attrs[] = {"ratio", "seed", "is_test", NULL};
static const ox_op op_dropout = {"Dropout", 1, 3, 1, 2, dropout_attrs, 0, dropout_check, dropout_shape, dropout_run};

/* ---------------------------------------------------------------------------------------------------------------
 * Cast */

/* Cast and CastLike: the target dtype dt (to / the second input's dtype) is kept in params. */
static int cast_to(ox_model *m, ox_node *n, jn_dtype dt, jn_err *err)
{
    jn_dtype from = ox_in_dtype(m, n, 0);
    if (dt == JN_DTYPE_BF16 && from != JN_DTYPE_FP32 && from != JN_DTYPE_BF16)
        return ox_reject(n, err, "casting %s to BFLOAT16 is not supported (FLOAT is)", jn_dtype_name(from));
    n->params = malloc(sizeof(jn_dtype));
    if (!n->params)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    *(jn_dtype *)n->params = dt;
    ox_set_out_dtype(m, n, 0, dt);
    return 0;
}

static int cast_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (n->opset < 6)
        return ox_reject(n, err, "opset %d names the target type as a string; opset 6 or later is supported",
                         n->opset);
    int64_t to = ox_attr_int(n, "to", -1);
    jn_dtype dt = ox_dtype_from_onnx(to);
    if (dt == JN_DTYPE_INVALID || dt == JN_DTYPE_BYTES)
        return ox_reject(n, err, "target type %lld is not supported (STRING and complex types are not)",
                         (long long)to);
    return cast_to(m, n, dt, err);
}

static int castlike_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (n->opset < 15)
        return ox_reject(n, err, "the operator needs opset 15; the model imports %d", n->opset);
    return cast_to(m, n, ox_in_dtype(m, n, 1), err);
}

static int cast_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    return ox_set_shape(out[0], *(const jn_dtype *)n->params, in[0]->ndim, in[0]->shape, err);
}

static int cast_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    const ox_tensor *x = in[0];
    jn_dtype to = out[0]->dtype;
    int64_t total = ox_count(x);
    if (x->dtype == to)
        return copy_run(n, in, out, err);
    if (x->dtype == JN_DTYPE_FP16 || x->dtype == JN_DTYPE_BF16 || to == JN_DTYPE_FP16 || to == JN_DTYPE_BF16) {
        for (int64_t i = 0; i < total; i++) {
            double v = x->dtype == JN_DTYPE_FP16   ? jn_fp16_to_float(((const uint16_t *)x->data)[i])
                       : x->dtype == JN_DTYPE_BF16 ? jn_bf16_to_float(((const uint16_t *)x->data)[i])
                       : ox_dtype_is_float(x->dtype) || x->dtype == JN_DTYPE_UINT64
                           ? ox_load_f64(x->data, x->dtype, i)
                           : (double)ox_load_i64(x->data, x->dtype, i);
            /* To FP16 rounded once from the double (numpy's astype(float16)); to BF16 by truncation, as the ONNX
             * reference of Cast does. */
            if (to == JN_DTYPE_FP16)
                ((uint16_t *)out[0]->data)[i] = jn_fp16_from_double(v);
            else if (to == JN_DTYPE_BF16)
                ((uint16_t *)out[0]->data)[i] = jn_bf16_from_float_truncated((float)v);
            else
                ox_store_f64(out[0]->data, to, i, v);
        }
        return 0;
    }
    for (int64_t i = 0; i < total; i++) {
        if (ox_dtype_is_float(x->dtype))
            ox_store_f64(out[0]->data, to, i, ox_load_f64(x->data, x->dtype, i));
        else if (x->dtype == JN_DTYPE_UINT64 && ox_dtype_is_float(to))
            ox_store_f64(out[0]->data, to, i, ox_load_f64(x->data, x->dtype, i));
        else
            ox_store_i64(out[0]->data, to, i, ox_load_i64(x->data, x->dtype, i));
    }
    return 0;
}

/* saturate (opset 19): how float8 targets overflow; no float8 dtype is supported, so it changes nothing here. */
static const char *const cast_attrs[] = {"to", "saturate", NULL};
static const ox_op op_cast = {"Cast", 1, 1, 1, 1, cast_attrs, 0, cast_check, cast_shape, cast_run};
static const char *const castlike_attrs[] = {"saturate", NULL};
static const ox_op op_castlike = {.op_type = "CastLike", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
                                  .attrs = castlike_attrs, .check = castlike_check, .shape = cast_shape,
                                  .run = cast_run};

/* ---------------------------------------------------------------------------------------------------------------
 * Flatten, Reshape */

static int flatten_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int rank = in[0]->ndim;
    int64_t axis = ox_attr_int(n, "axis", 1);
    if (axis < -rank || axis > rank)
        return jn_err_set(err, JN_EINVAL, "node '%s' (Flatten): axis %lld out of range for rank %d", n->name,
                          (long long)axis, rank);
    if (axis < 0)
        axis += rank;
    int64_t shape[2] = {1, 1};
    for (int d = 0; d < rank; d++)
        shape[d < axis ? 0 : 1] *= in[0]->shape[d];
    return ox_set_shape(out[0], in[0]->dtype, 2, shape, err);
}

static const char *const axis_attrs[] = {"axis", NULL};
static const ox_op op_flatten = {"Flatten", 1, 1, 1, 1, axis_attrs, 0, pass_check, flatten_shape, copy_run};

static int reshape_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (n->opset < 5)
        return ox_reject(n, err, "opset %d takes the shape as an attribute; opset 5 or later is supported",
                         n->opset);
    if (need_int_input(m, n, 1, "shape", err))
        return err->code;
    return pass_check(m, n, err);
}

static int reshape_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t want[JN_MAX_DIMS];
    int nd = 0;
    if (read_ints(n, in[1], "shape", want, JN_MAX_DIMS, &nd, err))
        return err->code;
    bool allowzero = ox_attr_int(n, "allowzero", 0) != 0;
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < nd; i++) {
        if (want[i] == 0 && !allowzero) {
            if (i >= in[0]->ndim)
                return jn_err_set(err, JN_EINVAL, "node '%s' (Reshape): 0 at dim %d copies a dimension the input "
                                                  "does not have", n->name, i);
            want[i] = in[0]->shape[i];
        }
        if (want[i] == -1) {
            if (infer >= 0)
                return jn_err_set(err, JN_EINVAL, "node '%s' (Reshape): more than one -1", n->name);
            infer = i;
        } else if (want[i] < 0) {
            return jn_err_set(err, JN_EINVAL, "node '%s' (Reshape): invalid dimension %lld", n->name,
                              (long long)want[i]);
        } else {
            if (want[i] > 0 && known > INT64_MAX / want[i]) /* found by the fuzzer: 42 * INT64_MAX */
                return jn_err_set(err, JN_EINVAL, "node '%s' (Reshape): the shape's element count overflows",
                                  n->name);
            known *= want[i];
        }
    }
    int64_t total = ox_count(in[0]);
    if (infer >= 0) {
        if (known == 0 || total % known)
            return jn_err_set(err, JN_EINVAL, "node '%s' (Reshape): %lld elements do not fit the shape", n->name,
                              (long long)total);
        want[infer] = total / known;
    } else if (known != total) {
        return jn_err_set(err, JN_EINVAL, "node '%s' (Reshape): %lld elements cannot take a shape of %lld",
                          n->name, (long long)total, (long long)known);
    }
    return ox_set_shape(out[0], in[0]->dtype, nd, want, err);
}

static const char *const reshape_attrs[] = {"allowzero", NULL};
static const ox_op op_reshape = {"Reshape", 2, 2, 1, 1, reshape_attrs, 1u << 1, reshape_check, reshape_shape,
                                 copy_run};

/* ---------------------------------------------------------------------------------------------------------------
 * Transpose */

static int transpose_perm(const ox_node *n, int rank, int *perm, jn_err *err)
{
    size_t np;
    const int64_t *p = ox_attr_ints(n, "perm", &np);
    if (!p) {
        for (int i = 0; i < rank; i++)
            perm[i] = rank - 1 - i;
        return 0;
    }
    if ((int)np != rank)
        return jn_err_set(err, JN_EINVAL, "node '%s' (Transpose): perm has %zu entries for rank %d", n->name, np,
                          rank);
    bool seen[JN_MAX_DIMS] = {false};
    for (int i = 0; i < rank; i++) {
        int a = ox_axis(p[i], rank);
        if (a < 0 || seen[a])
            return jn_err_set(err, JN_EINVAL, "node '%s' (Transpose): perm is not a permutation", n->name);
        seen[a] = true;
        perm[i] = a;
    }
    return 0;
}

static int transpose_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int perm[JN_MAX_DIMS];
    if (transpose_perm(n, in[0]->ndim, perm, err))
        return err->code;
    int64_t shape[JN_MAX_DIMS];
    for (int i = 0; i < in[0]->ndim; i++)
        shape[i] = in[0]->shape[perm[i]];
    return ox_set_shape(out[0], in[0]->dtype, in[0]->ndim, shape, err);
}

static int transpose_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int rank = in[0]->ndim, perm[JN_MAX_DIMS];
    if (transpose_perm(n, rank, perm, err))
        return err->code;
    int64_t in_strides[JN_MAX_DIMS], strides[JN_MAX_DIMS], counter[JN_MAX_DIMS] = {0};
    int64_t s = 1;
    for (int d = rank - 1; d >= 0; d--) {
        in_strides[d] = s;
        s *= in[0]->shape[d];
    }
    for (int d = 0; d < rank; d++)
        strides[d] = in_strides[perm[d]];
    int64_t total = ox_count(out[0]), pos = 0;
    size_t es = jn_dtype_size(in[0]->dtype);
    const char *src = in[0]->data;
    char *dst = out[0]->data;
    for (int64_t i = 0; i < total; i++) {
        if (es == 4)
            ((uint32_t *)dst)[i] = ((const uint32_t *)src)[pos];
        else
            memcpy(dst + i * (int64_t)es, src + pos * (int64_t)es, es);
        for (int d = rank - 1; d >= 0; d--) {
            pos += strides[d];
            if (++counter[d] < out[0]->shape[d])
                break;
            pos -= strides[d] * out[0]->shape[d];
            counter[d] = 0;
        }
    }
    return 0;
}

static const char *const transpose_attrs[] = {"perm", NULL};
static const ox_op op_transpose = {"Transpose", 1, 1, 1, 1, transpose_attrs, 0, pass_check, transpose_shape,
                                   transpose_run};

/* ---------------------------------------------------------------------------------------------------------------
 * Squeeze / Unsqueeze: axes as attribute (opset < 13) or input (>= 13) */

static int axes_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (n->opset >= 13 && ox_attr_find(n, "axes"))
        return ox_reject(n, err, "the axes attribute is not part of opset %d (axes is an input)", n->opset);
    if (n->opset < 13 && n->n_in > 1)
        return ox_reject(n, err, "the axes input needs opset 13");
    if (strcmp(n->op_type, "Unsqueeze") == 0 && !ox_has_in(n, 1) && !ox_attr_find(n, "axes"))
        return ox_reject(n, err, "axes are required");
    if (need_int_input(m, n, 1, "axes", err))
        return err->code;
    return pass_check(m, n, err);
}

static int get_axes(const ox_node *n, ox_tensor *const *in, int64_t *axes, int *count, jn_err *err)
{
    *count = 0;
    if (n->n_in > 1 && in[1])
        return read_ints(n, in[1], "axes", axes, JN_MAX_DIMS, count, err);
    size_t na;
    const int64_t *a = ox_attr_ints(n, "axes", &na);
    if (na > JN_MAX_DIMS)
        return jn_err_set(err, JN_EINVAL, "node '%s' (%s): too many axes", n->name, n->op_type);
    for (size_t i = 0; i < na; i++)
        axes[i] = a[i];
    *count = (int)na;
    return 0;
}

static int squeeze_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t axes[JN_MAX_DIMS];
    int na, rank = in[0]->ndim;
    if (get_axes(n, in, axes, &na, err))
        return err->code;
    bool drop[JN_MAX_DIMS] = {false};
    for (int i = 0; i < na; i++) {
        int a = ox_axis(axes[i], rank);
        if (a < 0 || in[0]->shape[a] != 1)
            return jn_err_set(err, JN_EINVAL, "node '%s' (Squeeze): axis %lld is not a dimension of size 1",
                              n->name, (long long)axes[i]);
        drop[a] = true;
    }
    int64_t shape[JN_MAX_DIMS];
    int nd = 0;
    for (int d = 0; d < rank; d++)
        if (!(na ? drop[d] : in[0]->shape[d] == 1))
            shape[nd++] = in[0]->shape[d];
    return ox_set_shape(out[0], in[0]->dtype, nd, shape, err);
}

static int unsqueeze_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t axes[JN_MAX_DIMS];
    int na;
    if (get_axes(n, in, axes, &na, err))
        return err->code;
    int rank = in[0]->ndim + na;
    if (rank > JN_MAX_DIMS)
        return jn_err_set(err, JN_EUNIMPL, "node '%s' (Unsqueeze): rank %d exceeds %d", n->name, rank, JN_MAX_DIMS);
    bool ins[JN_MAX_DIMS] = {false};
    for (int i = 0; i < na; i++) {
        int a = ox_axis(axes[i], rank);
        if (a < 0 || ins[a])
            return jn_err_set(err, JN_EINVAL, "node '%s' (Unsqueeze): axis %lld is out of range or repeated",
                              n->name, (long long)axes[i]);
        ins[a] = true;
    }
    int64_t shape[JN_MAX_DIMS];
    for (int d = 0, k = 0; d < rank; d++)
        shape[d] = ins[d] ? 1 : in[0]->shape[k++];
    return ox_set_shape(out[0], in[0]->dtype, rank, shape, err);
}

static const char *const axes_attrs[] = {"axes", NULL};
static const ox_op op_squeeze = {"Squeeze", 1, 2, 1, 1, axes_attrs, 1u << 1, axes_check, squeeze_shape, copy_run};
static const ox_op op_unsqueeze = {"Unsqueeze", 1, 2, 1, 1, axes_attrs, 1u << 1, axes_check, unsqueeze_shape,
                                   copy_run};

/* ---------------------------------------------------------------------------------------------------------------
 * Concat, Split */

static int concat_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (n->opset < 4 && !ox_attr_find(n, "axis"))
        return ox_reject(n, err, "the default axis of opset %d is not supported; give axis", n->opset);
    if (!ox_attr_find(n, "axis"))
        return ox_reject(n, err, "axis is required");
    for (int i = 0; i < n->n_in; i++)
        if (!ox_has_in(n, i) || ox_in_dtype(m, n, i) != ox_in_dtype(m, n, 0))
            return ox_reject(n, err, "input %d is missing or has another dtype", i);
    return pass_check(m, n, err);
}

static int concat_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int rank = in[0]->ndim;
    int axis = ox_axis(ox_attr_int(n, "axis", 0), rank);
    if (axis < 0)
        return jn_err_set(err, JN_EINVAL, "node '%s' (Concat): axis out of range", n->name);
    int64_t shape[JN_MAX_DIMS];
    memcpy(shape, in[0]->shape, sizeof shape);
    shape[axis] = 0;
    for (int i = 0; i < n->n_in; i++) {
        if (in[i]->ndim != rank)
            return jn_err_set(err, JN_EINVAL, "node '%s' (Concat): inputs differ in rank", n->name);
        for (int d = 0; d < rank; d++)
            if (d != axis && in[i]->shape[d] != in[0]->shape[d])
                return jn_err_set(err, JN_EINVAL, "node '%s' (Concat): input %d differs in dimension %d", n->name,
                                  i, d);
        shape[axis] += in[i]->shape[axis];
    }
    return ox_set_shape(out[0], in[0]->dtype, rank, shape, err);
}

static int concat_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int rank = in[0]->ndim;
    int axis = ox_axis(ox_attr_int(n, "axis", 0), rank);
    size_t es = jn_dtype_size(out[0]->dtype);
    int64_t outer, inner;
    ox_around_axis(out[0], axis, &outer, &inner);
    char *dst = out[0]->data;
    size_t row = (size_t)(out[0]->shape[axis] * inner) * es, at = 0;
    for (int i = 0; i < n->n_in; i++) {
        size_t chunk = (size_t)(in[i]->shape[axis] * inner) * es;
        for (int64_t o = 0; o < outer && chunk; o++)
            memcpy(dst + (size_t)o * row + at, (const char *)in[i]->data + (size_t)o * chunk, chunk);
        at += chunk;
    }
    return 0;
}

static const ox_op op_concat = {"Concat", 1, OX_MAX_IO, 1, 1, axis_attrs, 0, concat_check, concat_shape,
                                concat_run};

static int split_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (n->opset < 2)
        return ox_reject(n, err, "opset %d is not supported (2 or later)", n->opset);
    if (n->opset >= 13 && ox_attr_find(n, "split"))
        return ox_reject(n, err, "the split attribute is not part of opset %d", n->opset);
    if (n->opset < 13 && n->n_in > 1)
        return ox_reject(n, err, "the split input needs opset 13");
    if (need_int_input(m, n, 1, "split", err))
        return err->code;
    for (int i = 0; i < n->n_out; i++)
        if (n->out[i] < 0)
            return ox_reject(n, err, "output %d left out", i);
    for (int i = 0; i < n->n_out; i++)
        ox_set_out_dtype(m, n, i, ox_in_dtype(m, n, 0));
    return 0;
}

static int split_sizes(const ox_node *n, ox_tensor *const *in, int axis, int64_t *sizes, jn_err *err)
{
    int count = 0;
    if (n->n_in > 1 && in[1]) {
        if (read_ints(n, in[1], "split", sizes, OX_MAX_IO, &count, err))
            return err->code;
    } else {
        size_t ns;
        const int64_t *s = ox_attr_ints(n, "split", &ns);
        if (s) {
            if (ns > OX_MAX_IO)
                return jn_err_set(err, JN_EINVAL, "node '%s' (Split): too many parts", n->name);
            memcpy(sizes, s, ns * sizeof *s);
            count = (int)ns;
        } else {
            int64_t dim = in[0]->shape[axis];
            if (dim % n->n_out)
                return jn_err_set(err, JN_EINVAL, "node '%s' (Split): dimension %lld does not split into %d equal "
                                                  "parts", n->name, (long long)dim, n->n_out);
            for (int i = 0; i < n->n_out; i++)
                sizes[i] = dim / n->n_out;
            return 0;
        }
    }
    int64_t sum = 0;
    for (int i = 0; i < count; i++) {
        if (sizes[i] < 0)
            return jn_err_set(err, JN_EINVAL, "node '%s' (Split): negative part", n->name);
        sum += sizes[i];
    }
    if (count != n->n_out || sum != in[0]->shape[axis])
        return jn_err_set(err, JN_EINVAL, "node '%s' (Split): parts do not match the %d outputs and dimension %lld",
                          n->name, n->n_out, (long long)in[0]->shape[axis]);
    return 0;
}

static int split_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int axis = ox_axis(ox_attr_int(n, "axis", 0), in[0]->ndim);
    if (axis < 0)
        return jn_err_set(err, JN_EINVAL, "node '%s' (Split): axis out of range", n->name);
    int64_t sizes[OX_MAX_IO];
    if (split_sizes(n, in, axis, sizes, err))
        return err->code;
    for (int i = 0; i < n->n_out; i++) {
        int64_t shape[JN_MAX_DIMS];
        memcpy(shape, in[0]->shape, sizeof shape);
        shape[axis] = sizes[i];
        if (ox_set_shape(out[i], in[0]->dtype, in[0]->ndim, shape, err))
            return err->code;
    }
    return 0;
}

static int split_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int rank = in[0]->ndim;
    int axis = ox_axis(ox_attr_int(n, "axis", 0), rank);
    size_t es = jn_dtype_size(in[0]->dtype);
    int64_t outer, inner;
    ox_around_axis(in[0], axis, &outer, &inner);
    size_t row = (size_t)(in[0]->shape[axis] * inner) * es, at = 0;
    for (int i = 0; i < n->n_out; i++) {
        size_t chunk = (size_t)(out[i]->shape[axis] * inner) * es;
        for (int64_t o = 0; o < outer && chunk; o++)
            memcpy((char *)out[i]->data + (size_t)o * chunk, (const char *)in[0]->data + (size_t)o * row + at, chunk);
        at += chunk;
    }
    return 0;
}

static const char *const split_attrs[] = {"axis", "split", NULL};
static const ox_op op_split = {"Split", 1, 2, 1, OX_MAX_IO, split_attrs, 1u << 1, split_check, split_shape,
                               split_run};

/* ---------------------------------------------------------------------------------------------------------------
 * Slice: starts/ends/axes as attributes (opset < 10) or inputs with steps (>= 10) */

typedef struct slice_spec {
    int64_t start[JN_MAX_DIMS], step[JN_MAX_DIMS], len[JN_MAX_DIMS];
} slice_spec;

static int slice_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (n->opset >= 10 && (ox_attr_find(n, "starts") || ox_attr_find(n, "ends") || ox_attr_find(n, "axes")))
        return ox_reject(n, err, "starts/ends/axes attributes are not part of opset %d", n->opset);
    if (n->opset < 10 && n->n_in > 1)
        return ox_reject(n, err, "starts/ends inputs need opset 10");
    if (n->opset < 10 && (!ox_attr_find(n, "starts") || !ox_attr_find(n, "ends")))
        return ox_reject(n, err, "starts and ends are required");
    if (n->opset >= 10 && (!ox_has_in(n, 1) || !ox_has_in(n, 2)))
        return ox_reject(n, err, "starts and ends inputs are required");
    for (int i = 1; i < n->n_in; i++)
        if (need_int_input(m, n, i, "starts/ends/axes/steps", err))
            return err->code;
    return pass_check(m, n, err);
}

static int slice_compute(const ox_node *n, ox_tensor *const *in, slice_spec *sp, jn_err *err)
{
    int rank = in[0]->ndim;
    int64_t starts[JN_MAX_DIMS], ends[JN_MAX_DIMS], axes[JN_MAX_DIMS], steps[JN_MAX_DIMS];
    int ns = 0, ne = 0, na = -1, nst = -1;
    if (n->opset < 10) {
        size_t c;
        const int64_t *v = ox_attr_ints(n, "starts", &c);
        if (c > JN_MAX_DIMS)
            goto bad;
        memcpy(starts, v, c * sizeof *v);
        ns = (int)c;
        v = ox_attr_ints(n, "ends", &c);
        if (c > JN_MAX_DIMS)
            goto bad;
        memcpy(ends, v, c * sizeof *v);
        ne = (int)c;
        v = ox_attr_ints(n, "axes", &c);
        if (v) {
            if (c > JN_MAX_DIMS)
                goto bad;
            memcpy(axes, v, c * sizeof *v);
            na = (int)c;
        }
    } else {
        if (read_ints(n, in[1], "starts", starts, JN_MAX_DIMS, &ns, err) ||
            read_ints(n, in[2], "ends", ends, JN_MAX_DIMS, &ne, err) ||
            (n->n_in > 3 && in[3] && read_ints(n, in[3], "axes", axes, JN_MAX_DIMS, &na, err)) ||
            (n->n_in > 4 && in[4] && read_ints(n, in[4], "steps", steps, JN_MAX_DIMS, &nst, err)))
            return err->code;
    }
    if (ns != ne || (na >= 0 && na != ns) || (nst >= 0 && nst != ns))
        goto bad;
    for (int d = 0; d < rank; d++) {
        sp->start[d] = 0;
        sp->step[d] = 1;
        sp->len[d] = in[0]->shape[d];
    }
    bool seen[JN_MAX_DIMS] = {false};
    for (int i = 0; i < ns; i++) {
        int a = ox_axis(na >= 0 ? axes[i] : i, rank);
        if (a < 0 || seen[a])
            goto bad;
        seen[a] = true;
        int64_t step = nst >= 0 ? steps[i] : 1, dim = in[0]->shape[a];
        if (step == 0)
            goto bad;
        int64_t s = starts[i], e = ends[i];
        if (s < 0)
            s += dim;
        if (e < 0)
            e += dim;
        if (step > 0) {
            s = s < 0 ? 0 : s > dim ? dim : s;
            e = e < 0 ? 0 : e > dim ? dim : e;
            sp->len[a] = e > s ? (e - s + step - 1) / step : 0;
        } else {
            s = s < 0 ? -1 : s > dim - 1 ? dim - 1 : s;
            e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
            sp->len[a] = s > e ? (s - e + (-step) - 1) / (-step) : 0;
        }
        sp->start[a] = s;
        sp->step[a] = step;
    }
    return 0;
bad:
    return jn_err_set(err, JN_EINVAL, "node '%s' (Slice): starts/ends/axes/steps are inconsistent", n->name);
}

static int slice_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    slice_spec sp;
    if (slice_compute(n, in, &sp, err))
        return err->code;
    return ox_set_shape(out[0], in[0]->dtype, in[0]->ndim, sp.len, err);
}

static int slice_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    slice_spec sp;
    if (slice_compute(n, in, &sp, err))
        return err->code;
    int rank = in[0]->ndim;
    int64_t strides[JN_MAX_DIMS], s = 1, counter[JN_MAX_DIMS] = {0}, pos = 0;
    for (int d = rank - 1; d >= 0; d--) {
        strides[d] = s;
        s *= in[0]->shape[d];
    }
    for (int d = 0; d < rank; d++)
        pos += sp.start[d] * strides[d];
    int64_t total = ox_count(out[0]);
    size_t es = jn_dtype_size(in[0]->dtype);
    for (int64_t i = 0; i < total; i++) {
        memcpy((char *)out[0]->data + i * (int64_t)es, (const char *)in[0]->data + pos * (int64_t)es, es);
        for (int d = rank - 1; d >= 0; d--) {
            pos += sp.step[d] * strides[d];
            if (++counter[d] < sp.len[d])
                break;
            pos -= sp.step[d] * strides[d] * sp.len[d];
            counter[d] = 0;
        }
    }
    return 0;
}

static const char *const slice_attrs[] = {"starts", "ends", "axes", NULL};
static const ox_op op_slice = {"Slice", 1, 5, 1, 1, slice_attrs, 0x1eu, slice_check, slice_shape, slice_run};

/* ---------------------------------------------------------------------------------------------------------------
 * Gather */

static int gather_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (need_int_input(m, n, 1, "indices", err))
        return err->code;
    return pass_check(m, n, err);
}

static int gather_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int rank = in[0]->ndim;
    int axis = ox_axis(ox_attr_int(n, "axis", 0), rank);
    if (axis < 0)
        return jn_err_set(err, JN_EINVAL, "node '%s' (Gather): axis out of range", n->name);
    int nd = rank - 1 + in[1]->ndim;
    if (nd > JN_MAX_DIMS)
        return jn_err_set(err, JN_EUNIMPL, "node '%s' (Gather): rank %d exceeds %d", n->name, nd, JN_MAX_DIMS);
    int64_t shape[JN_MAX_DIMS];
    int k = 0;
    for (int d = 0; d < axis; d++)
        shape[k++] = in[0]->shape[d];
    for (int d = 0; d < in[1]->ndim; d++)
        shape[k++] = in[1]->shape[d];
    for (int d = axis + 1; d < rank; d++)
        shape[k++] = in[0]->shape[d];
    return ox_set_shape(out[0], in[0]->dtype, nd, shape, err);
}

static int gather_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int rank = in[0]->ndim;
    int axis = ox_axis(ox_attr_int(n, "axis", 0), rank);
    int64_t outer, inner, dim = in[0]->shape[axis], ni = ox_count(in[1]);
    ox_around_axis(in[0], axis, &outer, &inner);
    size_t chunk = (size_t)inner * jn_dtype_size(in[0]->dtype);
    const char *src = in[0]->data;
    char *dst = out[0]->data;
    for (int64_t j = 0; j < ni; j++) {
        int64_t idx = ox_load_i64(in[1]->data, in[1]->dtype, j);
        if (idx < -dim || idx >= dim)
            return jn_err_set(err, JN_EINVAL, "node '%s' (Gather): index %lld out of range [%lld, %lld)", n->name,
                              (long long)idx, (long long)-dim, (long long)dim);
    }
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < ni; j++) {
            int64_t idx = ox_load_i64(in[1]->data, in[1]->dtype, j);
            if (idx < 0)
                idx += dim;
            if (chunk)
                memcpy(dst + (size_t)(o * ni + j) * chunk, src + (size_t)(o * dim + idx) * chunk, chunk);
        }
    return 0;
}

static const ox_op op_gather = {"Gather", 2, 2, 1, 1, axis_attrs, 0, gather_check, gather_shape, gather_run};

/* ---------------------------------------------------------------------------------------------------------------
 * Shape, ConstantOfShape, Expand */

static int shape_check(ox_model *m, ox_node *n, jn_err *err)
{
    ox_set_out_dtype(m, n, 0, JN_DTYPE_INT64);
    return 0;
}

static void shape_range(const ox_node *n, int rank, int64_t *from, int64_t *to)
{
    int64_t s = ox_attr_int(n, "start", 0), e = ox_attr_int(n, "end", rank);
    if (s < 0)
        s += rank;
    if (e < 0)
        e += rank;
    s = s < 0 ? 0 : s > rank ? rank : s;
    e = e < 0 ? 0 : e > rank ? rank : e;
    *from = s;
    *to = e > s ? e : s;
}

static int shape_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t s, e;
    shape_range(n, in[0]->ndim, &s, &e);
    int64_t len = e - s;
    return ox_set_shape(out[0], JN_DTYPE_INT64, 1, &len, err);
}

static int shape_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t s, e;
    shape_range(n, in[0]->ndim, &s, &e);
    for (int64_t i = s; i < e; i++)
        ((int64_t *)out[0]->data)[i - s] = in[0]->shape[i];
    return 0;
}

static const char *const shape_attrs[] = {"start", "end", NULL};
static const ox_op op_shape = {"Shape", 1, 1, 1, 1, shape_attrs, 0, shape_check, shape_shape, shape_run};

static int cos_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (ox_in_dtype(m, n, 0) != JN_DTYPE_INT64)
        return ox_reject(n, err, "the shape input must be INT64");
    const ox_attr *v = ox_attr_find(n, "value");
    if (v && (v->type != OX_ATTR_TENSOR || ox_count(v->t) != 1))
        return ox_reject(n, err, "value must be a one-element tensor");
    ox_set_out_dtype(m, n, 0, v ? v->t->dtype : JN_DTYPE_FP32);
    return 0;
}

static int cos_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t shape[JN_MAX_DIMS];
    int nd = 0;
    if (read_ints(n, in[0], "shape", shape, JN_MAX_DIMS, &nd, err))
        return err->code;
    const ox_attr *v = ox_attr_find(n, "value");
    return ox_set_shape(out[0], v ? v->t->dtype : JN_DTYPE_FP32, nd, shape, err);
}

static int cos_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    const ox_attr *v = ox_attr_find(n, "value");
    if (!v) { /* FP32 zeros; buffers come from an arena and are not zeroed */
        memset(out[0]->data, 0, out[0]->nbytes);
        return 0;
    }
    size_t es = jn_dtype_size(out[0]->dtype);
    int64_t total = ox_count(out[0]);
    for (int64_t i = 0; i < total; i++)
        memcpy((char *)out[0]->data + i * (int64_t)es, v->t->data, es);
    return 0;
}

static const char *const cos_attrs[] = {"value", NULL};
static const ox_op op_constant_of_shape = {"ConstantOfShape", 1, 1, 1, 1, cos_attrs, 1u << 0, cos_check,
                                           cos_shape, cos_run};

static int expand_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (ox_in_dtype(m, n, 1) != JN_DTYPE_INT64)
        return ox_reject(n, err, "the shape input must be INT64");
    return pass_check(m, n, err);
}

static int expand_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    ox_tensor want = {0};
    if (read_ints(n, in[1], "shape", want.shape, JN_MAX_DIMS, &want.ndim, err))
        return err->code;
    int nd = 0;
    int64_t shape[JN_MAX_DIMS];
    if (ox_broadcast_shape(n, in[0], &want, &nd, shape, err))
        return err->code;
    return ox_set_shape(out[0], in[0]->dtype, nd, shape, err);
}

static int expand_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int nd = out[0]->ndim;
    int64_t strides[JN_MAX_DIMS], counter[JN_MAX_DIMS] = {0}, pos = 0, total = ox_count(out[0]);
    ox_broadcast_strides(in[0], nd, out[0]->shape, strides);
    size_t es = jn_dtype_size(in[0]->dtype);
    for (int64_t i = 0; i < total; i++) {
        memcpy((char *)out[0]->data + i * (int64_t)es, (const char *)in[0]->data + pos * (int64_t)es, es);
        for (int d = nd - 1; d >= 0; d--) {
            pos += strides[d];
            if (++counter[d] < out[0]->shape[d])
                break;
            pos -= strides[d] * out[0]->shape[d];
            counter[d] = 0;
        }
    }
    return 0;
}

static const ox_op op_expand = {"Expand", 2, 2, 1, 1, no_attrs, 1u << 1, expand_check, expand_shape, expand_run};

/* Constant nodes are folded into constants at load (onnx_load.c); the entry names the attributes accepted. */
static const char *const constant_attrs[] = {"value", "value_float", "value_floats", "value_int", "value_ints",
                                             NULL};
static const ox_op op_constant = {"Constant", 0, 0, 1, 1, constant_attrs, 0, NULL, NULL, NULL};

const ox_op *const ox_ops_shape[] = {&op_constant, &op_identity, &op_dropout,  &op_cast,   &op_castlike,
                                     &op_flatten,  &op_reshape,  &op_transpose, &op_squeeze, &op_unsqueeze,
                                     &op_concat,   &op_split,    &op_slice,    &op_gather,  &op_shape,
                                     &op_constant_of_shape,      &op_expand,   NULL};
