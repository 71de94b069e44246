/* onnx_build.c — the unit tests' in-memory ONNX model builder (contract, ownership and limits in onnx_build.h). */
#include "onnx_build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A broken limit or a failed allocation ends the test program, saying which (not a check of the test's own). */
__attribute__((noreturn)) static void ob_fail(const char *what)
{
    fprintf(stderr, "onnx_build: %s (required: stopping)\n", what);
    fflush(stderr);
    exit(1);
}

static void *own(ob_model *b, void *p)
{
    if (!p)
        ob_fail("out of memory");
    if (b->n_owned == b->cap_owned) {
        size_t cap = b->cap_owned ? 2 * b->cap_owned : 64;
        void **owned = realloc(b->owned, cap * sizeof *owned);
        if (!owned)
            ob_fail("out of memory");
        b->owned = owned;
        b->cap_owned = cap;
    }
    b->owned[b->n_owned++] = p;
    return p;
}

/* n elements of size bytes, zeroed, owned by b; at least one byte so that malloc(0) is never asked for. */
static void *alloc0(ob_model *b, size_t n, size_t size)
{
    return own(b, calloc(n ? n : 1, size));
}

void ob_init(ob_model *b, const char *graph_name, int64_t opset, const char *domain)
{
    memset(b, 0, sizeof *b);
    onnx__model_proto__init(&b->model);
    onnx__graph_proto__init(&b->graph);
    onnx__operator_set_id_proto__init(&b->opset);
    b->opset.domain = (char *)domain;
    b->opset.has_version = 1;
    b->opset.version = opset;
    b->opsets[0] = &b->opset;
    b->model.n_opset_import = 1;
    b->model.opset_import = b->opsets;
    b->model.has_ir_version = 1;
    b->model.ir_version = 8;
    b->model.graph = &b->graph;
    b->graph.name = (char *)graph_name;
    b->graph.node = b->nodes;
    b->graph.input = b->inputs;
    b->graph.output = b->outputs;
    b->graph.initializer = b->inits;
}

void ob_free(ob_model *b)
{
    for (size_t i = 0; i < b->n_owned; i++)
        free(b->owned[i]);
    free(b->owned);
    b->owned = NULL;
    b->n_owned = b->cap_owned = 0;
}

static Onnx__ValueInfoProto *value_info(ob_model *b, const char *name, int32_t elem, int ndim, const int64_t *dims)
{
    Onnx__ValueInfoProto *vi = alloc0(b, 1, sizeof *vi);
    Onnx__TypeProto *tp = alloc0(b, 1, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = alloc0(b, 1, sizeof *tt);
    Onnx__TensorShapeProto *sp = alloc0(b, 1, sizeof *sp);
    Onnx__TensorShapeProto__Dimension **dv = alloc0(b, (size_t)ndim, sizeof *dv);
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sp);
    for (int i = 0; i < ndim; i++) {
        dv[i] = alloc0(b, 1, sizeof **dv);
        onnx__tensor_shape_proto__dimension__init(dv[i]);
        if (dims[i] < 0) {
            dv[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dv[i]->dim_param = "N";
        } else {
            dv[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dv[i]->dim_value = dims[i];
        }
    }
    sp->n_dim = (size_t)ndim;
    sp->dim = dv;
    tt->has_elem_type = 1;
    tt->elem_type = elem;
    tt->shape = sp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->name = (char *)name;
    vi->type = tp;
    return vi;
}

void ob_input(ob_model *b, const char *name, int32_t elem, int ndim, const int64_t *dims)
{
    if (b->graph.n_input >= OB_MAX_IO)
        ob_fail("more graph inputs than OB_MAX_IO");
    b->inputs[b->graph.n_input++] = value_info(b, name, elem, ndim, dims);
}

void ob_output(ob_model *b, const char *name, int32_t elem, int ndim, const int64_t *dims)
{
    if (b->graph.n_output >= OB_MAX_IO)
        ob_fail("more graph outputs than OB_MAX_IO");
    b->outputs[b->graph.n_output++] = value_info(b, name, elem, ndim, dims);
}

/* An initializer of ONNX type `type` with a copy of dims, added to the graph; *count is its element count. The
 * caller fills in the values. */
static Onnx__TensorProto *initializer(ob_model *b, const char *name, int32_t type, int ndim, const int64_t *dims,
                                      size_t *count)
{
    if (b->graph.n_initializer >= OB_MAX_INITS)
        ob_fail("more initializers than OB_MAX_INITS");
    Onnx__TensorProto *t = alloc0(b, 1, sizeof *t);
    onnx__tensor_proto__init(t);
    int64_t *d = alloc0(b, (size_t)ndim, sizeof *d);
    *count = 1;
    for (int i = 0; i < ndim; i++)
        *count *= (size_t)(d[i] = dims[i]);
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = type;
    t->n_dims = (size_t)ndim;
    t->dims = d;
    b->inits[b->graph.n_initializer++] = t;
    return t;
}

/* A copy of size bytes of v, owned by b. */
static void *copy(ob_model *b, const void *v, size_t size)
{
    void *p = alloc0(b, size, 1);
    if (size)
        memcpy(p, v, size);
    return p;
}

const char *ob_init_raw(ob_model *b, const char *name, int32_t type, size_t elem_size, int ndim, const int64_t *dims,
                        const void *v)
{
    size_t count;
    Onnx__TensorProto *t = initializer(b, name, type, ndim, dims, &count);
    t->has_raw_data = 1;
    t->raw_data.len = count * elem_size;
    t->raw_data.data = copy(b, v, count * elem_size);
    return name;
}

const char *ob_init_f32(ob_model *b, const char *name, int ndim, const int64_t *dims, const float *v, bool raw)
{
    if (raw)
        return ob_init_raw(b, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, sizeof *v, ndim, dims, v);
    size_t count;
    Onnx__TensorProto *t = initializer(b, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, ndim, dims, &count);
    t->n_float_data = count;
    t->float_data = copy(b, v, count * sizeof *v);
    return name;
}

const char *ob_init_i64(ob_model *b, const char *name, int ndim, const int64_t *dims, const int64_t *v)
{
    size_t count;
    Onnx__TensorProto *t = initializer(b, name, ONNX__TENSOR_PROTO__DATA_TYPE__INT64, ndim, dims, &count);
    t->n_int64_data = count;
    t->int64_data = copy(b, v, count * sizeof *v);
    return name;
}

Onnx__NodeProto *ob_node_n(ob_model *b, const char *op, const char *name, const char *const *ins, const char *out)
{
    if (b->graph.n_node >= OB_MAX_NODES)
        ob_fail("more nodes than OB_MAX_NODES");
    Onnx__NodeProto *n = alloc0(b, 1, sizeof *n);
    onnx__node_proto__init(n);
    char **in = alloc0(b, OB_MAX_NODE_INPUTS, sizeof *in), **outs = alloc0(b, 1, sizeof *outs);
    for (; ins[n->n_input]; n->n_input++) {
        if (n->n_input == OB_MAX_NODE_INPUTS)
            ob_fail("a node with more inputs than OB_MAX_NODE_INPUTS");
        in[n->n_input] = (char *)ins[n->n_input];
    }
    outs[0] = (char *)out;
    n->op_type = (char *)op;
    n->name = (char *)(name ? name : out);
    n->input = in;
    n->n_output = 1;
    n->output = outs;
    b->nodes[b->graph.n_node++] = n;
    return n;
}

Onnx__NodeProto *ob_node(ob_model *b, const char *op, const char *name, const char *in0, const char *in1,
                         const char *in2, const char *out)
{
    if ((!in0 && in1) || (!in1 && in2))
        ob_fail("ob_node: a NULL input before a named one (an omitted optional input is \"\")");
    const char *ins[4] = {in0, in1, in2, NULL};
    return ob_node_n(b, op, name, ins, out);
}

/* A new attribute `name` of type `type` at the end of n's list; the caller sets its value. */
static Onnx__AttributeProto *attr(ob_model *b, Onnx__NodeProto *n, const char *name,
                                  Onnx__AttributeProto__AttributeType type)
{
    Onnx__AttributeProto *a = alloc0(b, 1, sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = 1;
    a->type = type;
    Onnx__AttributeProto **list = alloc0(b, n->n_attribute + 1, sizeof *list);
    if (n->n_attribute)
        memcpy(list, n->attribute, n->n_attribute * sizeof *list);
    list[n->n_attribute++] = a;
    n->attribute = list;
    return a;
}

void ob_attr_int(ob_model *b, Onnx__NodeProto *n, const char *name, int64_t value)
{
    Onnx__AttributeProto *a = attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    a->has_i = 1;
    a->i = value;
}

void ob_attr_ints(ob_model *b, Onnx__NodeProto *n, const char *name, size_t count, const int64_t *values)
{
    Onnx__AttributeProto *a = attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    a->n_ints = count;
    a->ints = copy(b, values, count * sizeof *values);
}

void ob_attr_float(ob_model *b, Onnx__NodeProto *n, const char *name, float value)
{
    Onnx__AttributeProto *a = attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    a->has_f = 1;
    a->f = value;
}

void ob_attr_str(ob_model *b, Onnx__NodeProto *n, const char *name, const char *value)
{
    Onnx__AttributeProto *a = attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    a->has_s = 1;
    a->s.data = (uint8_t *)value;
    a->s.len = strlen(value);
}

uint8_t *ob_pack(ob_model *b, size_t *len)
{
    *len = onnx__model_proto__get_packed_size(&b->model);
    uint8_t *buf = malloc(*len + 1);
    if (!buf)
        ob_fail("out of memory");
    onnx__model_proto__pack(&b->model, buf);
    return buf;
}

jn_onnx_model *ob_load(ob_model *b, const char *what, jn_err *err)
{
    size_t len;
    uint8_t *buf = ob_pack(b, &len);
    jn_err_clear(err);
    jn_onnx_model *m = jn_onnx_load_bytes(buf, len, what, err);
    free(buf);
    return m;
}

jn_tensor *ob_push_f32(jn_tensor_list *list, const char *name, int ndim, const int64_t *shape, const float *v)
{
    jn_err err;
    jn_tensor *t = jn_tensor_create(name, JN_DTYPE_FP32, ndim, shape, &err);
    if (!t)
        return NULL;
    memcpy(t->data, v, t->byte_size);
    return jn_tensor_list_push(list, t) == 0 ? t : NULL; /* the push frees t when it fails */
}
