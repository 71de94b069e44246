/* The QDQ fusion (adapters/onnx/onnx_qfuse.c) on the layout `junction quantize` writes: a MaxPool followed by a
 * Flatten between one DequantizeLinear and one QuantizeLinear (no pair between the two), built here with
 * protobuf-c:
 *
 *   x -> Q -> DQ -> Conv 3x3 (+bias) -> Relu -> Q -> DQ -> MaxPool -> Flatten -> Q -> DQ -> Gemm (transB, +bias)
 *     -> Q -> DQ -> y
 *
 * Checks the node list left after loading (which operators run, on which dtype) and that the fused model's outputs
 * equal the unfused graph's (ox_qdq_fuse_enabled off: the float QuantizeLinear / DequantizeLinear path) within one
 * output step, nearly all exactly. Three forms: a 2x2/2 MaxPool (folded into the convolution, the Flatten left on
 * the 8-bit values), a 3x3/2 MaxPool with padding (run on the 8-bit values), and a last QuantizeLinear with another
 * scale than the chain's DequantizeLinear (not fused: the float MaxPool stays). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.h"
#include "onnx.pb-c.h"
#include "onnx_internal.h"
#include "test.h"

enum { T_FLOAT = 1, T_UINT8 = 2, T_INT8 = 3, T_INT32 = 6 };
enum { H = 8, W = 8, MC = 4, FEAT = MC * (H / 2) * (W / 2), OUT = 5, BATCH = 3 };

typedef struct qb {
    Onnx__ModelProto model;
    Onnx__GraphProto graph;
    Onnx__OperatorSetIdProto opset, *opsets[1];
    Onnx__NodeProto *nodes[32];
    Onnx__ValueInfoProto *inputs[2], *outputs[2];
    Onnx__TensorProto *inits[32];
    void *owned[512];
    size_t n_owned;
} qb;

static void *own(qb *b, void *p)
{
    JN_REQUIRE(p && b->n_owned < 512);
    b->owned[b->n_owned++] = p;
    return p;
}

static void qb_init(qb *b)
{
    memset(b, 0, sizeof *b);
    onnx__model_proto__init(&b->model);
    onnx__graph_proto__init(&b->graph);
    onnx__operator_set_id_proto__init(&b->opset);
    b->opset.domain = "";
    b->opset.has_version = 1;
    b->opset.version = 13;
    b->opsets[0] = &b->opset;
    b->model.n_opset_import = 1;
    b->model.opset_import = b->opsets;
    b->model.has_ir_version = 1;
    b->model.ir_version = 8;
    b->model.graph = &b->graph;
    b->graph.name = "qfuse";
    b->graph.node = b->nodes;
    b->graph.input = b->inputs;
    b->graph.output = b->outputs;
    b->graph.initializer = b->inits;
}

static void qb_free(qb *b)
{
    for (size_t i = 0; i < b->n_owned; i++)
        free(b->owned[i]);
}

/* A FLOAT graph input or output; dims[0] -1 = "N". */
static Onnx__ValueInfoProto *value_info(qb *b, const char *name, int ndim, const int64_t *dims)
{
    Onnx__ValueInfoProto *vi = own(b, malloc(sizeof *vi));
    Onnx__TypeProto *tp = own(b, malloc(sizeof *tp));
    Onnx__TypeProto__Tensor *tt = own(b, malloc(sizeof *tt));
    Onnx__TensorShapeProto *sp = own(b, malloc(sizeof *sp));
    Onnx__TensorShapeProto__Dimension **dv = own(b, calloc((size_t)ndim, sizeof *dv));
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sp);
    for (int i = 0; i < ndim; i++) {
        dv[i] = own(b, malloc(sizeof **dv));
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
    tt->elem_type = T_FLOAT;
    tt->shape = sp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->name = (char *)name;
    vi->type = tp;
    return vi;
}

/* An initializer in raw_data: type T_*, element size es, ndim 0 = a scalar. The bytes are copied. */
static const char *init(qb *b, const char *name, int32_t type, size_t es, int ndim, const int64_t *dims,
                        const void *v)
{
    JN_REQUIRE(b->graph.n_initializer < 32);
    Onnx__TensorProto *t = own(b, malloc(sizeof *t));
    onnx__tensor_proto__init(t);
    size_t count = 1;
    int64_t *d = own(b, calloc((size_t)ndim + 1, sizeof *d));
    for (int i = 0; i < ndim; i++)
        count *= (size_t)(d[i] = dims[i]);
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = type;
    t->n_dims = (size_t)ndim;
    t->dims = d;
    t->has_raw_data = 1;
    t->raw_data.len = count * es;
    t->raw_data.data = own(b, malloc(count * es + 1));
    memcpy(t->raw_data.data, v, count * es);
    b->inits[b->graph.n_initializer++] = t;
    return name;
}

static const char *scalar_f32(qb *b, const char *name, float v)
{
    return init(b, name, T_FLOAT, 4, 0, NULL, &v);
}

static const char *scalar_u8(qb *b, const char *name, uint8_t v)
{
    return init(b, name, T_UINT8, 1, 0, NULL, &v);
}

static Onnx__NodeProto *node(qb *b, const char *op, const char *in0, const char *in1, const char *in2,
                             const char *out)
{
    JN_REQUIRE(b->graph.n_node < 32);
    Onnx__NodeProto *n = own(b, malloc(sizeof *n));
    onnx__node_proto__init(n);
    char **ins = own(b, calloc(3, sizeof *ins));
    char **outs = own(b, calloc(1, sizeof *outs));
    n->op_type = (char *)op;
    n->name = (char *)out;
    ins[0] = (char *)in0;
    ins[1] = (char *)in1;
    ins[2] = (char *)in2;
    n->n_input = in2 ? 3 : in1 ? 2 : 1;
    n->input = ins;
    outs[0] = (char *)out;
    n->n_output = 1;
    n->output = outs;
    b->nodes[b->graph.n_node++] = n;
    return n;
}

static void attr_push(qb *b, Onnx__NodeProto *n, Onnx__AttributeProto *a)
{
    Onnx__AttributeProto **as = own(b, calloc(n->n_attribute + 1, sizeof *as));
    if (n->n_attribute)
        memcpy(as, n->attribute, n->n_attribute * sizeof *as);
    as[n->n_attribute++] = a;
    n->attribute = as;
}

static void attr_ints(qb *b, Onnx__NodeProto *n, const char *name, size_t count, const int64_t *values)
{
    Onnx__AttributeProto *a = own(b, malloc(sizeof *a));
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    a->n_ints = count;
    a->ints = (int64_t *)values;
    attr_push(b, n, a);
}

static void attr_int(qb *b, Onnx__NodeProto *n, const char *name, int64_t value)
{
    Onnx__AttributeProto *a = own(b, malloc(sizeof *a));
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->has_i = 1;
    a->i = value;
    attr_push(b, n, a);
}

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static const float SX = 1.0f / 255, SW1 = 0.02f, S1 = 0.05f, SW2 = 0.004f, SO = 0.25f;

/* pool_k 2: 2x2/2 MaxPool; 3: 3x3/2 with pads 1. other_scale: the chain's QuantizeLinear takes 1.5 * S1. */
static jn_onnx_model *build(int pool_k, bool other_scale, bool fuse)
{
    static const int64_t dx[4] = {-1, 1, H, W}, dy[2] = {-1, OUT}, dw1[4] = {MC, 1, 3, 3}, db1[1] = {MC},
                         dw2[2] = {OUT, FEAT}, db2[1] = {OUT}, k3[2] = {3, 3}, pads1[4] = {1, 1, 1, 1},
                         pads0[4] = {0, 0, 0, 0}, s2[2] = {2, 2}, k2[2] = {2, 2};
    uint32_t seed = 23;
    int8_t w1[MC * 9], w2[OUT * FEAT];
    int32_t b1[MC], b2[OUT];
    for (int i = 0; i < MC * 9; i++)
        w1[i] = (int8_t)((int)(lcg(&seed) % 121) - 60);
    for (int i = 0; i < OUT * FEAT; i++)
        w2[i] = (int8_t)((int)(lcg(&seed) % 121) - 60);
    for (int i = 0; i < MC; i++)
        b1[i] = (int32_t)(lcg(&seed) % 1001) - 500;
    for (int i = 0; i < OUT; i++)
        b2[i] = (int32_t)(lcg(&seed) % 1001) - 500;
    qb b;
    qb_init(&b);
    b.inputs[b.graph.n_input++] = value_info(&b, "x", 4, dx);
    b.outputs[b.graph.n_output++] = value_info(&b, "y", 2, dy);
    const char *sx = scalar_f32(&b, "sx", SX), *zx = scalar_u8(&b, "zx", 0);
    const char *s1 = scalar_f32(&b, "s1", S1), *z1 = scalar_u8(&b, "z1", 0);
    const char *s1b = other_scale ? scalar_f32(&b, "s1b", 1.5f * S1) : s1;
    const char *so = scalar_f32(&b, "so", SO), *zo = scalar_u8(&b, "zo", 128);
    const int8_t zero8 = 0;
    node(&b, "QuantizeLinear", "x", sx, zx, "xq");
    node(&b, "DequantizeLinear", "xq", sx, zx, "xd");
    node(&b, "DequantizeLinear", init(&b, "w1q", T_INT8, 1, 4, dw1, w1), scalar_f32(&b, "sw1", SW1),
         init(&b, "zw1", T_INT8, 1, 0, NULL, &zero8), "w1d");
    node(&b, "DequantizeLinear", init(&b, "b1q", T_INT32, 4, 1, db1, b1), scalar_f32(&b, "sb1", SX * SW1), NULL,
         "b1d");
    Onnx__NodeProto *conv = node(&b, "Conv", "xd", "w1d", "b1d", "c1");
    attr_ints(&b, conv, "kernel_shape", 2, k3);
    attr_ints(&b, conv, "pads", 4, pads1);
    node(&b, "Relu", "c1", NULL, NULL, "r1");
    node(&b, "QuantizeLinear", "r1", s1, z1, "r1q");
    node(&b, "DequantizeLinear", "r1q", s1, z1, "r1d");
    Onnx__NodeProto *pool = node(&b, "MaxPool", "r1d", NULL, NULL, "p1");
    attr_ints(&b, pool, "kernel_shape", 2, pool_k == 2 ? k2 : k3);
    attr_ints(&b, pool, "strides", 2, s2);
    attr_ints(&b, pool, "pads", 4, pool_k == 2 ? pads0 : pads1);
    attr_int(&b, node(&b, "Flatten", "p1", NULL, NULL, "f1"), "axis", 1);
    node(&b, "QuantizeLinear", "f1", s1b, z1, "f1q");
    node(&b, "DequantizeLinear", "f1q", s1b, z1, "f1d");
    float s1v = other_scale ? 1.5f * S1 : S1;
    node(&b, "DequantizeLinear", init(&b, "w2q", T_INT8, 1, 2, dw2, w2), scalar_f32(&b, "sw2", SW2),
         init(&b, "zw2", T_INT8, 1, 0, NULL, &zero8), "w2d");
    node(&b, "DequantizeLinear", init(&b, "b2q", T_INT32, 4, 1, db2, b2), scalar_f32(&b, "sb2", s1v * SW2), NULL,
         "b2d");
    attr_int(&b, node(&b, "Gemm", "f1d", "w2d", "b2d", "g"), "transB", 1);
    node(&b, "QuantizeLinear", "g", so, zo, "gq");
    node(&b, "DequantizeLinear", "gq", so, zo, "y");
    size_t len = onnx__model_proto__get_packed_size(&b.model);
    uint8_t *buf = malloc(len + 1);
    JN_REQUIRE(buf);
    onnx__model_proto__pack(&b.model, buf);
    qb_free(&b);
    jn_err err;
    jn_err_clear(&err);
    ox_qdq_fuse_enabled = fuse;
    jn_onnx_model *m = jn_onnx_load_bytes(buf, len, "qfuse test model", &err);
    ox_qdq_fuse_enabled = true;
    free(buf);
    if (!m)
        fprintf(stderr, "load failed: %s\n", err.msg);
    JN_REQUIRE(m);
    return m;
}

static void run(jn_onnx_model *m, const float *x, float *y)
{
    const int64_t shape[4] = {BATCH, 1, H, W};
    jn_err err;
    jn_tensor *t = jn_tensor_create("x", JN_DTYPE_FP32, 4, shape, &err);
    JN_REQUIRE(t);
    memcpy(t->data, x, t->byte_size);
    jn_tensor_list in, out;
    jn_tensor_list_init(&in);
    jn_tensor_list_init(&out);
    jn_tensor_list_push(&in, t);
    jn_err_clear(&err);
    JN_CHECK_ERR(jn_onnx_run(m, &in, &out, &err), err, 0);
    JN_REQUIRE(out.count == 1 && out.items[0]->dtype == JN_DTYPE_FP32 &&
               out.items[0]->byte_size == BATCH * OUT * sizeof(float));
    memcpy(y, out.items[0]->data, BATCH * OUT * sizeof(float));
    jn_tensor_list_clear(&in);
    jn_tensor_list_clear(&out);
}

/* The op types of the loaded (fused) node list, joined by spaces. */
static void ops_of(const jn_onnx_model *m, char *buf, size_t size)
{
    buf[0] = 0;
    for (size_t k = 0; k < m->n_nodes; k++) {
        size_t used = strlen(buf);
        snprintf(buf + used, size - used, "%s%s", k ? " " : "", m->nodes[k].op_type);
    }
}

/* The dtype of the value node `op` (the first of that type) reads as its first input. */
static jn_dtype input_dtype(const jn_onnx_model *m, const char *op)
{
    for (size_t k = 0; k < m->n_nodes; k++)
        if (strcmp(m->nodes[k].op_type, op) == 0)
            return m->values[m->nodes[k].in[0]].dtype;
    return JN_DTYPE_INVALID;
}

static void check_form(int pool_k, bool other_scale, const char *want_ops)
{
    jn_onnx_model *fused = build(pool_k, other_scale, true), *plain = build(pool_k, other_scale, false);
    char ops[512];
    ops_of(fused, ops, sizeof ops);
    if (strcmp(ops, want_ops) != 0)
        fprintf(stderr, "pool %d, other scale %d: nodes after fusion \"%s\", want \"%s\"\n", pool_k, other_scale, ops,
                want_ops);
    JN_CHECK(strcmp(ops, want_ops) == 0);
    if (!other_scale) {
        JN_CHECK_INT_EQ(input_dtype(fused, "Flatten"), JN_DTYPE_UINT8);
        JN_CHECK_INT_EQ(input_dtype(fused, "QLinearMatMul"), JN_DTYPE_UINT8);
        JN_CHECK(fused->nodes[1].relu_after);
        JN_CHECK(fused->nodes[1].maxpool2_after == (pool_k == 2));
    } else {
        JN_CHECK_INT_EQ(input_dtype(fused, "MaxPool"), JN_DTYPE_FP32);
    }
    uint32_t seed = 7;
    float x[BATCH * H * W], yf[BATCH * OUT], yp[BATCH * OUT];
    for (int i = 0; i < BATCH * H * W; i++)
        x[i] = (float)(lcg(&seed) % 1000) / 999.0f;
    for (int rep = 0; rep < 2; rep++) { /* the second run on the cached plan */
        run(fused, x, yf);
        run(plain, x, yp);
        int exact = 0;
        for (int i = 0; i < BATCH * OUT; i++) {
            JN_CHECK(fabsf(yf[i] - yp[i]) <= SO * 1.001f);
            exact += yf[i] == yp[i];
        }
        JN_CHECK_INT_OP(exact, >=, BATCH * OUT - 1);
    }
    jn_onnx_free(fused);
    jn_onnx_free(plain);
}

static void test_maxpool_flatten_into_conv(void)
{
    check_form(2, false, "QuantizeLinear QLinearConv Flatten QLinearMatMul DequantizeLinear");
}

static void test_maxpool_flatten_on_integers(void)
{
    check_form(3, false, "QuantizeLinear QLinearConv MaxPool Flatten QLinearMatMul DequantizeLinear");
}

static void test_other_scale_not_fused(void)
{
    check_form(2, true,
               "QuantizeLinear QLinearConv DequantizeLinear MaxPool Flatten QuantizeLinear QLinearMatMul "
               "DequantizeLinear");
}

int main(void)
{
    JN_TEST_RUN(test_maxpool_flatten_into_conv);
    JN_TEST_RUN(test_maxpool_flatten_on_integers);
    JN_TEST_RUN(test_other_scale_not_fused);
    return JN_TEST_EXIT();
}
