/* Transformer fusions of the ONNX adapter (adapters/onnx/onnx_fuse_tf.c): GELU written with Erf loads as one node
 * in both of the forms exporters write, computes within 2e-6 relative of the exact GELU (double-precision erfc) at
 * every instruction-set level (more in the far negative tail, see close_to), NaN and infinities included; a
 * pattern whose intermediate is a graph output, or whose constants are not GELU's, stays unfused and still
 * computes the same function. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.h"
#include "onnx.pb-c.h"
#include "onnx_internal.h"
#include "test.h"
#include "vmath.h"

/* ---- a model builder just big enough for these graphs (everything freed by gb_free) ---- */

typedef struct gb {
    Onnx__ModelProto model;
    Onnx__GraphProto graph;
    Onnx__OperatorSetIdProto opset, *opsets[1];
    Onnx__NodeProto *nodes[8];
    Onnx__ValueInfoProto *inputs[1], *outputs[4];
    Onnx__TensorProto *inits[8];
    float consts[8];
    void *owned[128];
    size_t n_owned;
} gb;

static void *own(gb *b, void *p)
{
    JN_REQUIRE(p && b->n_owned < 128);
    b->owned[b->n_owned++] = p;
    return p;
}

static void gb_init(gb *b)
{
    memset(b, 0, sizeof *b);
    onnx__model_proto__init(&b->model);
    onnx__graph_proto__init(&b->graph);
    onnx__operator_set_id_proto__init(&b->opset);
    b->opset.domain = "";
    b->opset.has_version = 1;
    b->opset.version = 17;
    b->opsets[0] = &b->opset;
    b->model.n_opset_import = 1;
    b->model.opset_import = b->opsets;
    b->model.has_ir_version = 1;
    b->model.ir_version = 8;
    b->model.graph = &b->graph;
    b->graph.name = "gelu";
    b->graph.node = b->nodes;
    b->graph.input = b->inputs;
    b->graph.output = b->outputs;
    b->graph.initializer = b->inits;
}

static void gb_free(gb *b)
{
    for (size_t i = 0; i < b->n_owned; i++)
        free(b->owned[i]);
}

/* A FLOAT value [N] (symbolic). */
static Onnx__ValueInfoProto *vec_info(gb *b, const char *name)
{
    Onnx__ValueInfoProto *vi = own(b, malloc(sizeof *vi));
    Onnx__TypeProto *tp = own(b, malloc(sizeof *tp));
    Onnx__TypeProto__Tensor *tt = own(b, malloc(sizeof *tt));
    Onnx__TensorShapeProto *sp = own(b, malloc(sizeof *sp));
    Onnx__TensorShapeProto__Dimension **dv = own(b, calloc(1, sizeof *dv));
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sp);
    dv[0] = own(b, malloc(sizeof **dv));
    onnx__tensor_shape_proto__dimension__init(dv[0]);
    dv[0]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
    dv[0]->dim_param = "N";
    sp->n_dim = 1;
    sp->dim = dv;
    tt->has_elem_type = 1;
    tt->elem_type = 1;
    tt->shape = sp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->name = (char *)name;
    vi->type = tp;
    return vi;
}

/* A FLOAT scalar initializer (rank 0). */
static void scalar(gb *b, const char *name, float v)
{
    Onnx__TensorProto *t = own(b, malloc(sizeof *t));
    onnx__tensor_proto__init(t);
    size_t i = b->graph.n_initializer;
    b->consts[i] = v;
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = 1;
    t->n_float_data = 1;
    t->float_data = &b->consts[i];
    b->inits[b->graph.n_initializer++] = t;
}

static void node(gb *b, const char *op, const char *in0, const char *in1, const char *out)
{
    Onnx__NodeProto *n = own(b, malloc(sizeof *n));
    onnx__node_proto__init(n);
    char **ins = own(b, calloc(2, sizeof *ins)), **outs = own(b, calloc(1, sizeof *outs));
    ins[0] = (char *)in0;
    ins[1] = (char *)in1;
    outs[0] = (char *)out;
    n->op_type = (char *)op;
    n->name = (char *)out;
    n->n_input = in1 ? 2 : 1;
    n->input = ins;
    n->n_output = 1;
    n->output = outs;
    b->nodes[b->graph.n_node++] = n;
}

static jn_onnx_model *gb_load(gb *b)
{
    size_t len = onnx__model_proto__get_packed_size(&b->model);
    uint8_t *buf = malloc(len + 1);
    JN_REQUIRE(buf);
    onnx__model_proto__pack(&b->model, buf);
    jn_err err;
    jn_err_clear(&err);
    jn_onnx_model *m = jn_onnx_load_bytes(buf, len, "gelu model", &err);
    free(buf);
    if (!m)
        fprintf(stderr, "load: %s\n", err.msg);
    return m;
}

/* Forms of GELU's Erf pattern. */
enum form {
    FORM_BERT,     /* (x * (Erf(x * 1/sqrt2) + 1)) * 0.5: tests/e2e/bert_onnx.py */
    FORM_HF,       /* (0.5 * x) * (1 + Erf(x / sqrt2)): Hugging Face's exports, constants first */
    FORM_ERF_OUT,  /* FORM_BERT with the Erf's output also a graph output: not fused */
    FORM_SCALE_1,  /* FORM_BERT with x * 1 inside the Erf: another function, not fused */
};

static void build(gb *b, enum form f)
{
    gb_init(b);
    b->inputs[b->graph.n_input++] = vec_info(b, "x");
    b->outputs[b->graph.n_output++] = vec_info(b, "y");
    scalar(b, "half", 0.5f);
    scalar(b, "one", 1.0f);
    if (f == FORM_HF) {
        scalar(b, "sqrt2", (float)M_SQRT2);
        node(b, "Mul", "half", "x", "hx");
        node(b, "Div", "x", "sqrt2", "u");
        node(b, "Erf", "u", NULL, "e");
        node(b, "Add", "one", "e", "a");
        node(b, "Mul", "hx", "a", "y");
        return;
    }
    scalar(b, "s", f == FORM_SCALE_1 ? 1.0f : (float)M_SQRT1_2);
    node(b, "Mul", "x", "s", "u");
    node(b, "Erf", "u", NULL, "e");
    node(b, "Add", "e", "one", "a");
    node(b, "Mul", "x", "a", "xa");
    node(b, "Mul", "xa", "half", "y");
    if (f == FORM_ERF_OUT)
        b->outputs[b->graph.n_output++] = vec_info(b, "e");
}

/* The exact value (double): x/2 (1 + erf(x s)) = x/2 erfc(-x s). */
static double gelu_ref(double x, double s)
{
    return 0.5 * x * erfc(-x * s);
}

/* Within the kernel's bound: 2e-6 relative, plus 6e-7 z^2 relative for z = |x s| (in float, x * s and the
 * exponent -z^2 are rounded, and erfc's relative sensitivity to z is 2z: the far negative tail, where GELU is
 * below 1e-20, keeps about 5 digits). */
static bool close_to(float got, double want, double z)
{
    if (isnan(want))
        return isnan(got);
    if (isinf(want))
        return got == want;
    return fabs((double)got - want) <= (2e-6 + 6e-7 * z * z) * fabs(want) + 1e-37;
}

#define N_PTS 24011
static float *points(void)
{
    float *x = malloc(N_PTS * sizeof *x);
    JN_REQUIRE(x);
    for (int i = 0; i < N_PTS - 11; i++) /* -12 .. 12 by 0.001 */
        x[i] = -12.0f + 0.001f * (float)i;
    const float special[11] = {0.0f, -0.0f, 1e-30f, -1e-30f, 3e-39f, 30.0f, -30.0f, 1e30f, -1e30f, NAN, INFINITY};
    memcpy(x + N_PTS - 11, special, sizeof special);
    return x;
}

static void test_kernel_accuracy(void)
{
    float *x = points(), *y = malloc(N_PTS * sizeof *y);
    JN_REQUIRE(y);
    int native = jn_k_isa();
    for (int isa = 1; isa <= native; isa++) {
        jn_k_isa_forced = isa;
        ox_vgelu_erf(x, y, N_PTS, (float)M_SQRT1_2);
        int bad = 0;
        for (int i = 0; i < N_PTS; i++)
            if (!close_to(y[i], gelu_ref(x[i], (float)M_SQRT1_2), fabs(x[i] * M_SQRT1_2)) && bad++ < 5)
                fprintf(stderr, "isa %d: gelu(%.9g) = %.9g, exact %.9g\n", isa, (double)x[i], (double)y[i],
                        gelu_ref(x[i], (float)M_SQRT1_2));
        JN_CHECK_INT_EQ(bad, 0);
        ox_vgelu_erf(x, x, 0, 1.0f); /* n = 0 touches nothing */
    }
    jn_k_isa_forced = 0;
    JN_CHECK(isnan(y[N_PTS - 2]));
    JN_CHECK(y[N_PTS - 1] == INFINITY);
    free(x);
    free(y);
}

/* Loads form f, checks the node count, runs it on the points and compares y with the exact GELU of scale s (for
 * the unfused forms: the graph's own function). */
static void check_form(enum form f, size_t want_nodes, double s)
{
    gb b;
    build(&b, f);
    jn_onnx_model *m = gb_load(&b);
    gb_free(&b);
    JN_REQUIRE(m);
    JN_CHECK_INT_EQ(m->n_nodes, want_nodes);
    if (want_nodes == 1)
        JN_CHECK_STR_EQ(m->nodes[0].op_type, "Gelu");
    float *x = points();
    int64_t shape[1] = {N_PTS - 11}; /* the finite range: the unfused graph's -inf * 0 is not at issue here */
    jn_err err;
    jn_err_clear(&err);
    jn_tensor *t = jn_tensor_create("x", JN_DTYPE_FP32, 1, shape, &err);
    JN_REQUIRE(t);
    memcpy(t->data, x, t->byte_size);
    jn_tensor_list in, out;
    jn_tensor_list_init(&in);
    jn_tensor_list_init(&out);
    jn_tensor_list_push(&in, t);
    for (int run = 0; run < 2; run++) { /* planning run, cached-plan run */
        JN_CHECK_ERR(jn_onnx_run(m, &in, &out, &err), err, 0);
        JN_REQUIRE(out.count >= 1);
        const jn_tensor *y = out.items[0];
        JN_CHECK_STR_EQ(y->name, "y");
        JN_CHECK_INT_EQ(y->shape[0], shape[0]);
        int bad = 0;
        for (int64_t i = 0; i < shape[0]; i++) {
            double want = gelu_ref(x[i], s);
            float got = ((const float *)y->data)[i];
            /* the unfused graph rounds x * s and erff: its error near 1 + erf = 0 is absolute, not relative */
            bool ok = want_nodes == 1 ? close_to(got, want, fabs(x[i] * s))
                                      : fabs((double)got - want) <= 1e-6 * (1 + fabs(want));
            if (!ok && bad++ < 5)
                fprintf(stderr, "form %d: y(%.9g) = %.9g, exact %.9g\n", f, (double)x[i], (double)got, want);
        }
        JN_CHECK_INT_EQ(bad, 0);
        jn_tensor_list_clear(&out);
    }
    jn_tensor_list_clear(&in);
    free(x);
    jn_onnx_free(m);
}

static void test_fused_forms(void)
{
    check_form(FORM_BERT, 1, (float)M_SQRT1_2);
    check_form(FORM_HF, 1, 1.0 / (double)(float)M_SQRT2);
}

static void test_unfused_forms(void)
{
    check_form(FORM_ERF_OUT, 5, (float)M_SQRT1_2);
    check_form(FORM_SCALE_1, 5, 1.0);
}

int main(void)
{
    JN_TEST_RUN(test_kernel_accuracy);
    JN_TEST_RUN(test_fused_forms);
    JN_TEST_RUN(test_unfused_forms);
    return JN_TEST_EXIT();
}
