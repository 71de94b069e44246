/* ops_index.c — operators that select or place elements by index: GatherElements, GatherND, ScatterElements (and
 * its deprecated name Scatter), ScatterND (reduction none/add/mul, max/min from opset 18), OneHot, Compress,
 * NonZero and Unique. Data is moved by element size, so every supported dtype works; indices are INT32 or INT64,
 * negative ones count from the end, and an index out of range fails the run naming the node. NonZero, Unique and
 * Compress have output shapes that depend on values: their inputs are marked as shape inputs so the planner keys
 * its cache on them. */
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

static bool is_index(jn_dtype dt)
{
    return dt == JN_DTYPE_INT64 || dt == JN_DTYPE_INT32;
}

static void row_strides(const ox_tensor *t, int64_t *s)
{
    int64_t acc = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        s[d] = acc;
        acc *= t->shape[d];
    }
}

/* Reads index j of `idx` as a position along a dimension of size dim; -1 (and err set) when out of range. */
static int64_t index_at(const ox_node *n, const ox_tensor *idx, int64_t j, int64_t dim, jn_err *err)
{
    int64_t v = ox_load_i64(idx->data, idx->dtype, j);
    if (v < -dim || v >= dim) {
        jn_err_set(err, JN_EINVAL, "node '%s' (%s): index %lld out of range [%lld, %lld)", n->name, n->op_type,
                   (long long)v, (long long)-dim, (long long)dim);
        return -1;
    }
    return v < 0 ? v + dim : v;
}

static void copy_elem(void *dst, int64_t i, const void *src, int64_t j, size_t es)
{
    memcpy((char *)dst + (size_t)i * es, (const char *)src + (size_t)j * es, es);
}

/* ---------------------------------------------------------------------------------------------------------------
 * GatherElements, ScatterElements, Scatter */

static int elements_check(ox_model *m, ox_node *n, jn_err *err)
{
    bool scatter = strncmp(n->op_type, "Scatter", 7) == 0;
    if (ox_need_opset(n, strcmp(n->op_type, "Scatter") == 0 ? 9 : 11, err))
        return err->code;
    if (!is_index(ox_in_dtype(m, n, 1)))
        return ox_reject(n, err, "indices have dtype %s (INT32 or INT64 expected)",
                         jn_dtype_name(ox_in_dtype(m, n, 1)));
    if (scatter && ox_in_dtype(m, n, 2) != ox_in_dtype(m, n, 0))
        return ox_reject(n, err, "updates have dtype %s, data %s", jn_dtype_name(ox_in_dtype(m, n, 2)),
                         jn_dtype_name(ox_in_dtype(m, n, 0)));
    const char *red = ox_attr_str(n, "reduction", "none");
    bool red_ok = strcmp(red, "none") == 0 || ((strcmp(red, "add") == 0 || strcmp(red, "mul") == 0) &&
                                               n->opset >= 16) ||
                  ((strcmp(red, "max") == 0 || strcmp(red, "min") == 0) && n->opset >= 18);
    if (!red_ok)
        return ox_reject(n, err, "reduction '%s' is not supported in opset %d", red, n->opset);
    if (strcmp(red, "none") != 0 && ox_in_dtype(m, n, 0) == JN_DTYPE_BOOL)
        return ox_reject(n, err, "reduction '%s' on BOOL is not supported", red);
    ox_set_out_dtype(m, n, 0, ox_in_dtype(m, n, 0));
    return 0;
}

static int elements_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    bool scatter = strncmp(n->op_type, "Scatter", 7) == 0;
    const ox_tensor *data = in[0], *idx = in[1];
    if (idx->ndim != data->ndim || ox_axis(ox_attr_int(n, "axis", 0), data->ndim) < 0)
        return jn_err_set(err, JN_EINVAL, "node '%s' (%s): indices must have the data's rank and axis be in range",
                          n->name, n->op_type);
    if (scatter && (in[2]->ndim != idx->ndim ||
                    memcmp(in[2]->shape, idx->shape, sizeof(int64_t) * (size_t)idx->ndim) != 0))
        return jn_err_set(err, JN_EINVAL, "node '%s' (%s): updates must have the indices' shape", n->name,
                          n->op_type);
    const ox_tensor *like = scatter ? data : idx;
    return ox_set_shape(out[0], data->dtype, like->ndim, like->shape, err);
}

/* Combines an existing element with an update per the reduction. */
static void reduce_into(void *dst, int64_t i, const void *src, int64_t j, jn_dtype dt, const char *red)
{
    if (red[0] == 'n') {
        copy_elem(dst, i, src, j, jn_dtype_size(dt));
        return;
    }
    if (ox_dtype_is_int(dt)) {
        int64_t a = ox_load_i64(dst, dt, i), b = ox_load_i64(src, dt, j);
        int64_t r = red[0] == 'a'   ? (int64_t)((uint64_t)a + (uint64_t)b)
                    : red[1] == 'u' ? (int64_t)((uint64_t)a * (uint64_t)b)
                    : red[1] == 'a' ? (a > b ? a : b)
                                    : (a < b ? a : b);
        ox_store_i64(dst, dt, i, r);
        return;
    }
    double a = ox_load_f64(dst, dt, i), b = ox_load_f64(src, dt, j);
    double r = red[0] == 'a' ? a + b : red[1] == 'u' ? a * b : red[1] == 'a' ? (a > b ? a : b) : (a < b ? a : b);
    ox_store_f64(dst, dt, i, r);
}

static int elements_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    bool scatter = strncmp(n->op_type, "Scatter", 7) == 0;
    const ox_tensor *data = in[0], *idx = in[1];
    int rank = data->ndim, axis = ox_axis(ox_attr_int(n, "axis", 0), rank);
    const char *red = ox_attr_str(n, "reduction", "none");
    size_t es = jn_dtype_size(data->dtype);
    int64_t ds[JN_MAX_DIMS], counter[JN_MAX_DIMS] = {0}, total = ox_count(idx);
    row_strides(data, ds);
    if (scatter && out[0]->nbytes)
        memcpy(out[0]->data, data->data, out[0]->nbytes);
    for (int64_t i = 0; i < total; i++) {
        int64_t at = index_at(n, idx, i, data->shape[axis], err);
        if (at < 0)
            return err->code;
        int64_t off = 0;
        for (int d = 0; d < rank; d++) {
            int64_t c = d == axis ? at : counter[d];
            if (c >= data->shape[d])
                return jn_err_set(err, JN_EINVAL, "node '%s' (%s): indices exceed the data in dimension %d",
                                  n->name, n->op_type, d);
            off += c * ds[d];
        }
        if (scatter)
            reduce_into(out[0]->data, off, in[2]->data, i, data->dtype, red);
        else
            copy_elem(out[0]->data, i, data->data, off, es);
        for (int d = rank - 1; d >= 0; d--) {
            if (++counter[d] < idx->shape[d])
                break;
            counter[d] = 0;
        }
    }
    return 0;
}

static const char *const a_axis[] = {"axis", NULL};
static const char *const a_scatter[] = {"axis", "reduction", NULL};
static const ox_op op_gather_elements = {.op_type = "GatherElements", .min_in = 2, .max_in = 2, .min_out = 1,
                                         .max_out = 1, .attrs = a_axis, .check = elements_check,
                                         .shape = elements_shape, .run = elements_run};
static const ox_op op_scatter_elements = {.op_type = "ScatterElements", .min_in = 3, .max_in = 3, .min_out = 1,
                                          .max_out = 1, .attrs = a_scatter, .check = elements_check,
                                          .shape = elements_shape, .run = elements_run};
static const ox_op op_scatter = {.op_type = "Scatter", .min_in = 3, .max_in = 3, .min_out = 1, .max_out = 1,
                                 .attrs = a_axis, .check = elements_check, .shape = elements_shape,
                                 .run = elements_run};

/* ---------------------------------------------------------------------------------------------------------------
 * GatherND, ScatterND */

static int nd_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (ox_in_dtype(m, n, 1) != JN_DTYPE_INT64)
        return ox_reject(n, err, "indices have dtype %s (INT64 expected)", jn_dtype_name(ox_in_dtype(m, n, 1)));
    if (n->opset < 12 && ox_attr_find(n, "batch_dims"))
        return ox_reject(n, err, "batch_dims is not part of opset %d", n->opset);
    return elements_check(m, n, err);
}

/* GatherND: the batch dims, the index tuple length and the slice each tuple selects. */
static int gathernd_dims(const ox_node *n, ox_tensor *const *in, int64_t *b, int64_t *k, jn_err *err)
{
    const ox_tensor *data = in[0], *idx = in[1];
    *b = ox_attr_int(n, "batch_dims", 0);
    if (idx->ndim < 1 || *b < 0 || *b >= idx->ndim || *b >= data->ndim)
        return jn_err_set(err, JN_EINVAL, "node '%s' (GatherND): batch_dims %lld does not fit the ranks", n->name,
                          (long long)*b);
    *k = idx->shape[idx->ndim - 1];
    if (*k < 1 || *b + *k > data->ndim)
        return jn_err_set(err, JN_EINVAL, "node '%s' (GatherND): index tuples of %lld do not fit rank %d", n->name,
                          (long long)*k, data->ndim);
    for (int64_t d = 0; d < *b; d++)
        if (idx->shape[d] != data->shape[d])
            return jn_err_set(err, JN_EINVAL, "node '%s' (GatherND): batch dimension %lld differs", n->name,
                              (long long)d);
    return 0;
}

static int gathernd_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t b, k;
    if (gathernd_dims(n, in, &b, &k, err))
        return err->code;
    int64_t shape[2 * JN_MAX_DIMS];
    int nd = 0;
    for (int d = 0; d < in[1]->ndim - 1; d++)
        shape[nd++] = in[1]->shape[d];
    for (int64_t d = b + k; d < in[0]->ndim; d++)
        shape[nd++] = in[0]->shape[d];
    return ox_set_shape(out[0], in[0]->dtype, nd, shape, err);
}

static int gathernd_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    const ox_tensor *data = in[0], *idx = in[1];
    int64_t b, k, ds[JN_MAX_DIMS];
    if (gathernd_dims(n, in, &b, &k, err))
        return err->code;
    row_strides(data, ds);
    size_t es = jn_dtype_size(data->dtype);
    int64_t slice = b + k < data->ndim ? ds[b + k - 1] : 1, batch = 1, tuples = 1, per_batch;
    for (int64_t d = 0; d < b; d++)
        batch *= idx->shape[d];
    for (int d = 0; d < idx->ndim - 1; d++)
        tuples *= idx->shape[d];
    per_batch = batch ? tuples / batch : 0;
    const int64_t *iv = idx->data;
    for (int64_t t = 0; t < tuples; t++) {
        int64_t off = b ? (t / per_batch) * ds[b - 1] : 0; /* ds[b - 1]: the elements of one batch entry */
        for (int64_t j = 0; j < k; j++) {
            int64_t dim = data->shape[b + j], v = iv[t * k + j];
            if (v < -dim || v >= dim)
                return jn_err_set(err, JN_EINVAL, "node '%s' (%s): index %lld out of range for dimension %lld",
                                  n->name, n->op_type, (long long)v, (long long)dim);
            off += (v < 0 ? v + dim : v) * ds[b + j];
        }
        memcpy((char *)out[0]->data + (size_t)(t * slice) * es, (const char *)data->data + (size_t)off * es,
               (size_t)slice * es);
    }
    return 0;
}

static int scatternd_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    const ox_tensor *data = in[0], *idx = in[1], *upd = in[2];
    int64_t k = idx->ndim ? idx->shape[idx->ndim - 1] : 0;
    bool ok = idx->ndim >= 1 && k >= 1 && k <= data->ndim && upd->ndim == idx->ndim - 1 + data->ndim - k;
    for (int d = 0; ok && d < idx->ndim - 1; d++)
        ok = upd->shape[d] == idx->shape[d];
    for (int64_t d = k; ok && d < data->ndim; d++)
        ok = upd->shape[idx->ndim - 1 + d - k] == data->shape[d];
    if (!ok)
        return jn_err_set(err, JN_EINVAL, "node '%s' (ScatterND): shapes of data, indices and updates disagree",
                          n->name);
    return ox_set_shape(out[0], data->dtype, data->ndim, data->shape, err);
}

static int scatternd_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    const ox_tensor *data = in[0], *idx = in[1], *upd = in[2];
    int64_t k = idx->shape[idx->ndim - 1], ds[JN_MAX_DIMS], tuples = ox_count(idx) / (k ? k : 1);
    row_strides(data, ds);
    int64_t slice = k < data->ndim ? ds[k - 1] : 1;
    const char *red = ox_attr_str(n, "reduction", "none");
    if (out[0]->nbytes)
        memcpy(out[0]->data, data->data, out[0]->nbytes);
    const int64_t *iv = idx->data;
    for (int64_t t = 0; t < tuples; t++) {
        int64_t off = 0;
        for (int64_t j = 0; j < k; j++) {
            int64_t dim = data->shape[j], v = iv[t * k + j];
            if (v < -dim || v >= dim)
                return jn_err_set(err, JN_EINVAL, "node '%s' (ScatterND): index %lld out of range for dimension "
                                  "%lld", n->name, (long long)v, (long long)dim);
            off += (v < 0 ? v + dim : v) * ds[j];
        }
        for (int64_t e = 0; e < slice; e++)
            reduce_into(out[0]->data, off + e, upd->data, t * slice + e, data->dtype, red);
    }
    return 0;
}

static const char *const a_gathernd[] = {"batch_dims", NULL};
static const char *const a_scatternd[] = {"reduction", NULL};
static const ox_op op_gathernd = {.op_type = "GatherND", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
                                  .attrs = a_gathernd, .check = nd_check, .shape = gathernd_shape,
                                  .run = gathernd_run};
static const ox_op op_scatternd = {.op_type = "ScatterND", .min_in = 3, .max_in = 3, .min_out = 1, .max_out = 1,
                                   .attrs = a_scatternd, .check = nd_check, .shape = scatternd_shape,
                                   .run = scatternd_run};

/* ---------------------------------------------------------------------------------------------------------------
 * OneHot */

static int onehot_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (ox_need_opset(n, 9, err))
        return err->code;
    for (int i = 0; i < 2; i++) {
        jn_dtype dt = ox_in_dtype(m, n, i);
        if (!ox_dtype_is_float(dt) && !ox_dtype_is_int(dt))
            return ox_reject(n, err, "input %d has dtype %s (a number expected)", i, jn_dtype_name(dt));
    }
    ox_set_out_dtype(m, n, 0, ox_in_dtype(m, n, 2));
    return 0;
}

static int onehot_depth(const ox_node *n, ox_tensor *const *in, int64_t *depth, int *axis, jn_err *err)
{
    if (ox_count(in[1]) != 1 || ox_count(in[2]) != 2)
        return jn_err_set(err, JN_EINVAL, "node '%s' (OneHot): depth must hold one value and values two", n->name);
    double dv = ox_load_f64(in[1]->data, in[1]->dtype, 0);
    if (!(dv >= 1 && dv < 1e9))
        return jn_err_set(err, JN_EINVAL, "node '%s' (OneHot): depth %g is out of range", n->name, dv);
    *depth = (int64_t)dv;
    *axis = ox_axis(ox_attr_int(n, "axis", -1), in[0]->ndim + 1);
    if (*axis < 0)
        return jn_err_set(err, JN_EINVAL, "node '%s' (OneHot): axis out of range", n->name);
    return 0;
}

static int onehot_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t depth, shape[JN_MAX_DIMS + 1];
    int axis;
    if (onehot_depth(n, in, &depth, &axis, err))
        return err->code;
    for (int d = 0, k = 0; d <= in[0]->ndim; d++)
        shape[d] = d == axis ? depth : in[0]->shape[k++];
    return ox_set_shape(out[0], in[2]->dtype, in[0]->ndim + 1, shape, err);
}

static int onehot_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t depth, outer = 1, inner = 1;
    int axis;
    if (onehot_depth(n, in, &depth, &axis, err))
        return err->code;
    for (int d = 0; d < axis; d++)
        outer *= in[0]->shape[d];
    for (int d = axis; d < in[0]->ndim; d++)
        inner *= in[0]->shape[d];
    size_t es = jn_dtype_size(in[2]->dtype);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < depth; k++)
            for (int64_t i = 0; i < inner; i++) {
                int64_t v = ox_dtype_is_float(in[0]->dtype) ? (int64_t)ox_load_f64(in[0]->data, in[0]->dtype,
                                                                                    o * inner + i)
                                                            : ox_load_i64(in[0]->data, in[0]->dtype, o * inner + i);
                if (v < 0)
                    v += depth;
                copy_elem(out[0]->data, (o * depth + k) * inner + i, in[2]->data, v == k ? 1 : 0, es);
            }
    return 0;
}

static const ox_op op_onehot = {.op_type = "OneHot", .min_in = 3, .max_in = 3, .min_out = 1, .max_out = 1,
                                .attrs = a_axis, .shape_inputs = 1u << 1, .check = onehot_check,
                                .shape = onehot_shape, .run = onehot_run};

/* ---------------------------------------------------------------------------------------------------------------
 * Compress */

static int compress_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (ox_need_opset(n, 9, err))
        return err->code;
    if (ox_in_dtype(m, n, 1) != JN_DTYPE_BOOL)
        return ox_reject(n, err, "condition must be BOOL");
    ox_set_out_dtype(m, n, 0, ox_in_dtype(m, n, 0));
    return 0;
}

/* The kept count along the axis (flattened input when axis is absent: *axis = -1). */
static int compress_count(const ox_node *n, ox_tensor *const *in, int *axis, int64_t *kept, jn_err *err)
{
    const ox_attr *a = ox_attr_find(n, "axis");
    int64_t dim = ox_count(in[0]);
    *axis = -1;
    if (a) {
        *axis = ox_axis(a->i, in[0]->ndim);
        if (*axis < 0)
            return jn_err_set(err, JN_EINVAL, "node '%s' (Compress): axis out of range", n->name);
        dim = in[0]->shape[*axis];
    }
    int64_t nc = ox_count(in[1]);
    if (in[1]->ndim != 1 || nc > dim)
        return jn_err_set(err, JN_EINVAL, "node '%s' (Compress): condition must be 1-D and no longer than %lld",
                          n->name, (long long)dim);
    *kept = 0;
    for (int64_t i = 0; i < nc; i++)
        *kept += ((const uint8_t *)in[1]->data)[i] != 0;
    return 0;
}

static int compress_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int axis;
    int64_t kept, shape[JN_MAX_DIMS];
    if (compress_count(n, in, &axis, &kept, err))
        return err->code;
    if (axis < 0)
        return ox_set_shape(out[0], in[0]->dtype, 1, &kept, err);
    memcpy(shape, in[0]->shape, sizeof shape);
    shape[axis] = kept;
    return ox_set_shape(out[0], in[0]->dtype, in[0]->ndim, shape, err);
}

static int compress_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int axis;
    int64_t kept, outer = 1, inner = 1, dim = ox_count(in[0]);
    if (compress_count(n, in, &axis, &kept, err))
        return err->code;
    if (axis >= 0) {
        ox_around_axis(in[0], axis, &outer, &inner);
        dim = in[0]->shape[axis];
    }
    size_t chunk = (size_t)inner * jn_dtype_size(in[0]->dtype);
    const uint8_t *c = in[1]->data;
    int64_t nc = ox_count(in[1]);
    char *dst = out[0]->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < nc; i++)
            if (c[i]) {
                memcpy(dst, (const char *)in[0]->data + (size_t)(o * dim + i) * chunk, chunk);
                dst += chunk;
            }
    return 0;
}

static const ox_op op_compress = {.op_type = "Compress", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
                                  .attrs = a_axis, .shape_inputs = 1u << 1, .check = compress_check,
                                  .shape = compress_shape, .run = compress_run};

/* ---------------------------------------------------------------------------------------------------------------
 * NonZero */

static int nonzero_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (ox_need_opset(n, 9, err))
        return err->code;
    jn_dtype dt = ox_in_dtype(m, n, 0);
    if (!ox_dtype_is_float(dt) && !ox_dtype_is_int(dt) && dt != JN_DTYPE_BOOL)
        return ox_reject(n, err, "dtype %s is not supported", jn_dtype_name(dt));
    ox_set_out_dtype(m, n, 0, JN_DTYPE_INT64);
    return 0;
}

static bool nonzero_at(const ox_tensor *x, int64_t i)
{
    if (ox_dtype_is_float(x->dtype))
        return ox_load_f64(x->data, x->dtype, i) != 0;
    return ox_load_i64(x->data, x->dtype, i) != 0;
}

static int nonzero_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t total = ox_count(in[0]), shape[2] = {in[0]->ndim, 0};
    for (int64_t i = 0; i < total; i++)
        shape[1] += nonzero_at(in[0], i);
    return ox_set_shape(out[0], JN_DTYPE_INT64, 2, shape, err);
}

static int nonzero_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t total = ox_count(in[0]), nnz = out[0]->shape[1], k = 0, counter[JN_MAX_DIMS] = {0};
    int64_t *y = out[0]->data;
    int rank = in[0]->ndim;
    for (int64_t i = 0; i < total; i++) {
        if (nonzero_at(in[0], i)) {
            for (int d = 0; d < rank; d++)
                y[d * nnz + k] = counter[d];
            k++;
        }
        for (int d = rank - 1; d >= 0; d--) {
            if (++counter[d] < in[0]->shape[d])
                break;
            counter[d] = 0;
        }
    }
    return 0;
}

static const char *const a_none[] = {NULL};
static const ox_op op_nonzero = {.op_type = "NonZero", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
                                 .attrs = a_none, .shape_inputs = 1u << 0, .check = nonzero_check,
                                 .shape = nonzero_shape, .run = nonzero_run};

/* ---------------------------------------------------------------------------------------------------------------
 * Unique: over the flattened input, or over slices along `axis`. Slices compare by their elements in order (as
 * numpy.unique does); sorted=0 keeps first-occurrence order. */

typedef struct uniq_ctx {
    const ox_tensor *x;
    int64_t outer, len, inner; /* slice k = x[o, k, i] for all o, i */
} uniq_ctx;

static int slice_cmp(const uniq_ctx *u, int64_t a, int64_t b)
{
    for (int64_t o = 0; o < u->outer; o++)
        for (int64_t i = 0; i < u->inner; i++) {
            int64_t ia = (o * u->len + a) * u->inner + i, ib = (o * u->len + b) * u->inner + i;
            double va = ox_load_f64(u->x->data, u->x->dtype, ia), vb = ox_load_f64(u->x->data, u->x->dtype, ib);
            if (ox_dtype_is_int(u->x->dtype)) {
                int64_t xa = ox_load_i64(u->x->data, u->x->dtype, ia), xb = ox_load_i64(u->x->data, u->x->dtype, ib);
                if (xa != xb)
                    return xa < xb ? -1 : 1;
            } else if (va != vb) {
                return va < vb ? -1 : 1;
            }
        }
    return 0;
}

/* Unique's four results: the first index of each unique slice (sorted or in order of appearance), the unique
 * slot of every input slice, and the counts. */
typedef struct uniq_result {
    int64_t n;
    int64_t *first, *inverse, *count;
} uniq_result;

/* Stable merge sort of slice indices by their slices (ties keep index order): O(n log n) slice comparisons, so a
 * large input costs its size times log n, not its size squared. tmp holds n entries. */
static void uniq_sort(const uniq_ctx *u, int64_t *v, int64_t *tmp, int64_t n)
{
    if (n < 2)
        return;
    int64_t h = n / 2;
    uniq_sort(u, v, tmp, h);
    uniq_sort(u, v + h, tmp, n - h);
    int64_t i = 0, j = h, k = 0;
    while (i < h && j < n)
        tmp[k++] = slice_cmp(u, v[j], v[i]) < 0 ? v[j++] : v[i++];
    while (i < h)
        tmp[k++] = v[i++];
    while (j < n)
        tmp[k++] = v[j++];
    memcpy(v, tmp, (size_t)n * sizeof *v);
}

/* Group order by first occurrence (sorted=0): sorts group ids by their first index. */
static void by_first(const int64_t *first, int64_t *g, int64_t *tmp, int64_t n)
{
    if (n < 2)
        return;
    int64_t h = n / 2;
    by_first(first, g, tmp, h);
    by_first(first, g + h, tmp, n - h);
    int64_t i = 0, j = h, k = 0;
    while (i < h && j < n)
        tmp[k++] = first[g[j]] < first[g[i]] ? g[j++] : g[i++];
    while (i < h)
        tmp[k++] = g[i++];
    while (j < n)
        tmp[k++] = g[j++];
    memcpy(g, tmp, (size_t)n * sizeof *g);
}

static int uniq_compute(const ox_node *n, const ox_tensor *x, uniq_ctx *u, uniq_result *r, jn_err *err)
{
    const ox_attr *a = ox_attr_find(n, "axis");
    u->x = x;
    if (a) {
        int axis = ox_axis(a->i, x->ndim);
        if (axis < 0)
            return jn_err_set(err, JN_EINVAL, "node '%s' (Unique): axis out of range", n->name);
        ox_around_axis(x, axis, &u->outer, &u->inner);
        u->len = x->shape[axis];
    } else {
        u->outer = u->inner = 1;
        u->len = ox_count(x);
    }
    int64_t len = u->len;
    size_t bytes = (size_t)(len + 1) * sizeof(int64_t);
    r->first = malloc(bytes);
    r->inverse = malloc(bytes);
    r->count = calloc((size_t)(len + 1), sizeof(int64_t));
    int64_t *order = malloc(bytes), *tmp = malloc(bytes), *perm = malloc(bytes), *slot = malloc(bytes);
    int rc = 0;
    if (!r->first || !r->inverse || !r->count || !order || !tmp || !perm || !slot) {
        rc = jn_err_set(err, JN_ENOMEM, "out of memory");
        goto out;
    }
    for (int64_t k = 0; k < len; k++)
        order[k] = k;
    uniq_sort(u, order, tmp, len);
    r->n = 0;
    for (int64_t k = 0; k < len; k++) { /* runs of equal slices: their first (smallest) index leads */
        if (k == 0 || slice_cmp(u, order[k - 1], order[k]) != 0)
            r->first[r->n++] = order[k];
        r->inverse[order[k]] = r->n - 1;
        r->count[r->n - 1]++;
    }
    if (!ox_attr_int(n, "sorted", 1)) { /* renumber the groups in order of first appearance */
        for (int64_t g = 0; g < r->n; g++)
            perm[g] = g;
        by_first(r->first, perm, tmp, r->n);
        for (int64_t g = 0; g < r->n; g++) {
            slot[perm[g]] = g;
            tmp[g] = r->first[perm[g]];
        }
        memcpy(r->first, tmp, (size_t)r->n * sizeof(int64_t));
        for (int64_t g = 0; g < r->n; g++)
            tmp[g] = r->count[perm[g]];
        memcpy(r->count, tmp, (size_t)r->n * sizeof(int64_t));
        for (int64_t k = 0; k < len; k++)
            r->inverse[k] = slot[r->inverse[k]];
    }
out:
    free(order);
    free(tmp);
    free(perm);
    free(slot);
    return rc;
}

static void uniq_free(uniq_result *r)
{
    free(r->first);
    free(r->inverse);
    free(r->count);
}

static int unique_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (ox_need_opset(n, 11, err))
        return err->code;
    jn_dtype dt = ox_in_dtype(m, n, 0);
    if (!ox_dtype_is_float(dt) && !ox_dtype_is_int(dt))
        return ox_reject(n, err, "dtype %s is not supported", jn_dtype_name(dt));
    ox_set_out_dtype(m, n, 0, dt);
    for (int i = 1; i < 4; i++)
        ox_set_out_dtype(m, n, i, JN_DTYPE_INT64);
    return 0;
}

static int unique_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    uniq_ctx u;
    uniq_result r = {0};
    int rc = uniq_compute(n, in[0], &u, &r, err);
    if (!rc) {
        int64_t shape[JN_MAX_DIMS];
        int nd = 1;
        shape[0] = r.n;
        if (ox_attr_find(n, "axis")) {
            int axis = ox_axis(ox_attr_find(n, "axis")->i, in[0]->ndim);
            memcpy(shape, in[0]->shape, sizeof shape);
            shape[axis] = r.n;
            nd = in[0]->ndim;
        }
        rc = ox_set_shape(out[0], in[0]->dtype, nd, shape, err);
        int64_t sizes[4] = {0, r.n, u.len, r.n};
        for (int i = 1; i < n->n_out && !rc; i++)
            if (out[i])
                rc = ox_set_shape(out[i], JN_DTYPE_INT64, 1, &sizes[i], err);
    }
    uniq_free(&r);
    return rc;
}

static int unique_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    uniq_ctx u;
    uniq_result r = {0};
    int rc = uniq_compute(n, in[0], &u, &r, err);
    if (!rc) {
        size_t es = jn_dtype_size(in[0]->dtype);
        for (int64_t o = 0; o < u.outer; o++)
            for (int64_t j = 0; j < r.n; j++)
                for (int64_t i = 0; i < u.inner; i++)
                    copy_elem(out[0]->data, (o * r.n + j) * u.inner + i, in[0]->data,
                              (o * u.len + r.first[j]) * u.inner + i, es);
        if (n->n_out > 1 && out[1])
            memcpy(out[1]->data, r.first, (size_t)r.n * sizeof(int64_t));
        if (n->n_out > 2 && out[2])
            memcpy(out[2]->data, r.inverse, (size_t)u.len * sizeof(int64_t));
        if (n->n_out > 3 && out[3])
            memcpy(out[3]->data, r.count, (size_t)r.n * sizeof(int64_t));
    }
    uniq_free(&r);
    return rc;
}

static const char *const a_unique[] = {"axis", "sorted", NULL};
static const ox_op op_unique = {.op_type = "Unique", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 4,
                                .attrs = a_unique, .shape_inputs = 1u << 0, .check = unique_check,
                                .shape = unique_shape, .run = unique_run};

const ox_op *const ox_ops_index[] = {&op_gather_elements, &op_scatter_elements, &op_scatter, &op_gathernd,
                                     &op_scatternd,       &op_onehot,           &op_compress, &op_nonzero,
                                     &op_unique,          NULL};
