/* onnx_proto.c — protobuf-c messages -> the adapter's structures: TensorProto -> ox_tensor, TypeProto and
 * ValueInfoProto -> kind, dtype and shape, AttributeProto -> ox_attr; and jn_onnx_tensor_parse. Split from
 * onnx_load.c, which builds the graph from these. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.h"
#include "onnx_proto.h"

const char *ox_onnx_type_name(int32_t t)
{
    static const char *const names[] = {"UNDEFINED", "FLOAT",  "UINT8",  "INT8",      "UINT16",     "INT16",
                                        "INT32",     "INT64",  "STRING", "BOOL",      "FLOAT16",    "DOUBLE",
                                        "UINT32",    "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16"};
    return t >= 0 && t < (int32_t)(sizeof names / sizeof names[0]) ? names[t] : "unknown";
}

/* ---------------------------------------------------------------------------------------------------------------
 * Tensors from TensorProto */

ox_tensor *ox_tensor_new(jn_dtype dtype, int ndim, const int64_t *shape, jn_err *err)
{
    ox_tensor tmp = {0};
    if (ox_set_shape(&tmp, dtype, ndim, shape, err))
        return NULL;
    ox_tensor *t = malloc(sizeof *t + tmp.nbytes + 1);
    if (!t) {
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    *t = tmp;
    t->data = (char *)(t + 1);
    memset(t->data, 0, tmp.nbytes);
    return t;
}

/* `what` names the tensor ("initializer 'w'"). */
ox_tensor *ox_tensor_from_proto(const Onnx__TensorProto *p, const char *what, jn_err *err)
{
    int32_t type = p->has_data_type ? p->data_type : 0;
    jn_dtype dt = ox_dtype_from_onnx(type);
    if (!ox_dtype_supported(dt)) {
        jn_err_set(err, JN_EUNIMPL, "%s: dtype %s is not supported", what, ox_onnx_type_name(type));
        return NULL;
    }
    if (p->n_dims > JN_MAX_DIMS) {
        jn_err_set(err, JN_EUNIMPL, "%s: rank %zu exceeds %d", what, p->n_dims, JN_MAX_DIMS);
        return NULL;
    }
    if (p->n_external_data || (p->has_data_location && p->data_location == 1)) {
        jn_err_set(err, JN_EUNIMPL, "%s: external data files are not supported", what);
        return NULL;
    }
    if (p->segment) {
        jn_err_set(err, JN_EUNIMPL, "%s: segmented tensors are not supported", what);
        return NULL;
    }
    for (size_t i = 0; i < p->n_dims; i++)
        if (p->dims[i] < 0) {
            jn_err_set(err, JN_EINVAL, "%s: negative dimension %lld", what, (long long)p->dims[i]);
            return NULL;
        }
    jn_err sub;
    ox_tensor shape = {0};
    if (ox_set_shape(&shape, dt, (int)p->n_dims, p->dims, &sub)) {
        jn_err_set(err, sub.code, "%s: %s", what, sub.msg);
        return NULL;
    }
    int64_t count = ox_count(&shape);
    /* The data must be there before anything is allocated for it (a corrupt file may claim any shape). */
    bool raw = p->has_raw_data && p->raw_data.len > 0;
    size_t have = raw ? p->raw_data.len
                  : dt == JN_DTYPE_FP32 ? p->n_float_data
                  : dt == JN_DTYPE_FP64 ? p->n_double_data
                  : dt == JN_DTYPE_INT64 ? p->n_int64_data
                  : dt == JN_DTYPE_UINT32 || dt == JN_DTYPE_UINT64 ? p->n_uint64_data
                                                                   : p->n_int32_data;
    if (raw ? have != shape.nbytes : have != (size_t)count) {
        jn_err_set(err, JN_EINVAL, "%s: the data holds %zu %s, the shape needs %lld elements", what, have,
                   raw ? "bytes" : "elements", (long long)count);
        return NULL;
    }
    ox_tensor *t = ox_tensor_new(dt, (int)p->n_dims, p->dims, &sub);
    if (!t) {
        jn_err_set(err, sub.code, "%s: %s", what, sub.msg);
        return NULL;
    }
    if (t->nbytes == 0)
        return t;
    if (raw) {
        memcpy(t->data, p->raw_data.data, t->nbytes); /* little endian on disk and in memory */
        return t;
    }
    switch (dt) {
    case JN_DTYPE_FP32: memcpy(t->data, p->float_data, t->nbytes); break;
    case JN_DTYPE_FP64: memcpy(t->data, p->double_data, t->nbytes); break;
    case JN_DTYPE_INT64: memcpy(t->data, p->int64_data, t->nbytes); break;
    case JN_DTYPE_UINT32:
    case JN_DTYPE_UINT64:
        for (int64_t i = 0; i < count; i++)
            ox_store_i64(t->data, dt, i, (int64_t)p->uint64_data[i]);
        break;
    case JN_DTYPE_FP16:
    case JN_DTYPE_BF16: /* their bit patterns travel in int32_data */
        for (int64_t i = 0; i < count; i++)
            ((uint16_t *)t->data)[i] = (uint16_t)p->int32_data[i];
        break;
    default: /* INT32, INT16, INT8, UINT16, UINT8, BOOL travel in int32_data */
        for (int64_t i = 0; i < count; i++)
            ox_store_i64(t->data, dt, i, p->int32_data[i]);
        break;
    }
    return t;
}

int ox_type_proto(const Onnx__TypeProto *tp, ox_kind *kind, jn_dtype *dtype, int *ndim, int64_t *shape)
{
    *kind = OX_KIND_TENSOR;
    bool opt = false;
    if (tp && tp->value_case == ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE && tp->optional_type) {
        opt = true;
        tp = tp->optional_type->elem_type;
        *kind = OX_KIND_OPT_TENSOR;
    }
    if (tp && tp->value_case == ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE && tp->sequence_type) {
        tp = tp->sequence_type->elem_type;
        *kind = opt ? OX_KIND_OPT_SEQ : OX_KIND_SEQ;
    }
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
        return -1;
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    int32_t et = tt->has_elem_type ? tt->elem_type : 0;
    *dtype = ox_dtype_from_onnx(et);
    *ndim = -1;
    if (tt->shape) {
        if (tt->shape->n_dim > JN_MAX_DIMS)
            return -2;
        *ndim = (int)tt->shape->n_dim;
        for (size_t i = 0; i < tt->shape->n_dim; i++) {
            const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
            shape[i] = d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && d->dim_value >= 0
                           ? d->dim_value
                           : -1;
        }
    }
    return 0;
}

int ox_value_info_type(const Onnx__ValueInfoProto *vi, const char *what, bool any_kind, ox_kind *kind,
                       jn_dtype *dtype, int *ndim, int64_t *shape, jn_err *err)
{
    const char *name = vi->name ? vi->name : "";
    int rc = ox_type_proto(vi->type, kind, dtype, ndim, shape);
    if (rc == -2)
        return jn_err_set(err, JN_EUNIMPL, "%s '%s': rank exceeds %d", what, name, JN_MAX_DIMS);
    if (rc || (*kind != OX_KIND_TENSOR && !any_kind))
        return jn_err_set(err, JN_EUNIMPL, "%s '%s': only tensor types are supported (not sequences, maps, "
                                           "optionals or sparse tensors)", what, name);
    if (!ox_dtype_supported(*dtype)) {
        const Onnx__TypeProto *tp = vi->type;
        while (tp && tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE)
            tp = tp->value_case == ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE ? tp->optional_type->elem_type
                                                                       : tp->sequence_type->elem_type;
        int32_t et = tp && tp->tensor_type->has_elem_type ? tp->tensor_type->elem_type : 0;
        return jn_err_set(err, JN_EUNIMPL, "%s '%s': dtype %s is not supported", what, name, ox_onnx_type_name(et));
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------------------------
 * Attributes and nodes */

int ox_attr_copy(ox_attr *a, const Onnx__AttributeProto *p, const char *what, jn_err *err)
{
    memset(a, 0, sizeof *a);
    a->name = strdup(p->name ? p->name : "");
    if (!a->name)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    int type = p->has_type ? (int)p->type : 0;
    if (type == 0) { /* IR < 2: the field in use tells the type */
        type = p->n_ints ? 7 : p->n_floats ? 6 : p->has_i ? 2 : p->has_f ? 1 : p->has_s ? 3 : p->t ? 4
               : p->g ? 5 : p->n_strings ? 8 : 0;
    }
    if (p->ref_attr_name && p->ref_attr_name[0])
        return jn_err_set(err, JN_EINVAL, "%s: attribute '%s' refers to a function attribute outside a function",
                          what, a->name);
    switch (type) {
    case 1: a->type = OX_ATTR_FLOAT; a->f = p->f; break;
    case 2: a->type = OX_ATTR_INT; a->i = p->i; break;
    case 3:
        a->type = OX_ATTR_STRING;
        a->s = malloc(p->s.len + 1);
        if (!a->s)
            return jn_err_set(err, JN_ENOMEM, "out of memory");
        if (p->s.len)
            memcpy(a->s, p->s.data, p->s.len);
        a->s[p->s.len] = '\0';
        break;
    case 4: {
        a->type = OX_ATTR_TENSOR;
        if (!p->t)
            return jn_err_set(err, JN_EINVAL, "%s: tensor attribute '%s' holds no tensor", what, a->name);
        char w[512];
        snprintf(w, sizeof w, "%s: attribute '%s'", what, a->name);
        a->t = ox_tensor_from_proto(p->t, w, err);
        if (!a->t)
            return err->code;
        break;
    }
    case 6:
        a->type = OX_ATTR_FLOATS;
        a->n = p->n_floats;
        a->floats = malloc((p->n_floats + 1) * sizeof(float));
        if (!a->floats)
            return jn_err_set(err, JN_ENOMEM, "out of memory");
        if (p->n_floats)
            memcpy(a->floats, p->floats, p->n_floats * sizeof(float));
        break;
    case 7:
        a->type = OX_ATTR_INTS;
        a->n = p->n_ints;
        a->ints = malloc((p->n_ints + 1) * sizeof(int64_t));
        if (!a->ints)
            return jn_err_set(err, JN_ENOMEM, "out of memory");
        if (p->n_ints)
            memcpy(a->ints, p->ints, p->n_ints * sizeof(int64_t));
        break;
    case 8:
        a->type = OX_ATTR_STRINGS;
        a->n = p->n_strings;
        a->strs = calloc(p->n_strings + 1, sizeof(char *));
        if (!a->strs)
            return jn_err_set(err, JN_ENOMEM, "out of memory");
        for (size_t i = 0; i < p->n_strings; i++) {
            a->strs[i] = malloc(p->strings[i].len + 1);
            if (!a->strs[i])
                return jn_err_set(err, JN_ENOMEM, "out of memory");
            if (p->strings[i].len)
                memcpy(a->strs[i], p->strings[i].data, p->strings[i].len);
            a->strs[i][p->strings[i].len] = '\0';
        }
        break;
    case 5:
        a->type = OX_ATTR_GRAPH;
        if (!p->g)
            return jn_err_set(err, JN_EINVAL, "%s: graph attribute '%s' holds no graph", what, a->name);
        a->graph = p->g;
        break;
    case 13: {
        ox_kind kind;
        jn_dtype dt;
        int nd;
        int64_t shape[JN_MAX_DIMS];
        a->type = OX_ATTR_OTHER; /* unless it is a type the adapter has values for */
        if (ox_type_proto(p->tp, &kind, &dt, &nd, shape) == 0 && ox_dtype_supported(dt)) {
            a->type = OX_ATTR_TYPE;
            a->i = kind;
            a->n = (size_t)dt;
        }
        break;
    }
    default: a->type = OX_ATTR_OTHER; break;
    }
    return 0;
}


jn_tensor *jn_onnx_tensor_parse(const uint8_t *data, size_t size, const char *fallback_name, jn_err *err)
{
    Onnx__TensorProto *p = onnx__tensor_proto__unpack(NULL, size, data);
    if (!p) {
        jn_err_set(err, JN_EINVAL, "not a TensorProto (the protobuf does not parse)");
        return NULL;
    }
    const char *name = p->name && p->name[0] ? p->name : fallback_name;
    ox_tensor *t = ox_tensor_from_proto(p, "tensor", err);
    jn_tensor *out = t ? jn_tensor_create(name, t->dtype, t->ndim, t->shape, err) : NULL;
    if (out && t->nbytes)
        memcpy(out->data, t->data, t->nbytes);
    free(t);
    onnx__tensor_proto__free_unpacked(p, NULL);
    return out;
}
