/* Transformer fusions of the ONNX adapter (adapters/onnx/onnx_fuse_tf.c): GELU written with Erf loads as one node
 * in both of the forms exporters write, computes within 2e-6 relative of the exact GELU (double-precision erfc) at
 * every instruction-set level (more in the far negative tail, see close_to), NaN and infinities included; a
 * pattern whose intermediate is a graph output, or whose constants are not GELU's, stays unfused and still
 * computes the same function. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.h"
#include "onnx_build.h"
#include "onnx_internal.h"
#include "test.h"
#include "vmath.h"

static const int64_t dims_n[1] = {-1}; /* a FLOAT value [N] */

/* A FLOAT scalar initializer (rank 0, in float_data). */
static void scalar(ob_model *b, const char *name, float v)
{
    ob_init_f32(b, name, 0, NULL, &v, false);
}

/* Forms of GELU's Erf pattern. */
enum form {
    FORM_BERT,     /* (x * (Erf(x * 1/sqrt2) + 1)) * 0.5: tests/e2e/bert_onnx.py */
    FORM_HF,       /* (0.5 * x) * (1 + Erf(x / sqrt2)): Hugging Face's exports, constants first */
    FORM_ERF_OUT,  /* FORM_BERT with the Erf's output also a graph output: not fused */
    FORM_SCALE_1,  /* FORM_BERT with x * 1 inside the Erf: another function, not fused */
};

static void build(ob_model *b, enum form f)
{
    ob_init(b, "gelu", 17, "");
    ob_input(b, "x", 1, 1, dims_n);
    ob_output(b, "y", 1, 1, dims_n);
    scalar(b, "half", 0.5f);
    scalar(b, "one", 1.0f);
    if (f == FORM_HF) {
        scalar(b, "sqrt2", (float)M_SQRT2);
        ob_node(b, "Mul", NULL, "half", "x", NULL, "hx");
        ob_node(b, "Div", NULL, "x", "sqrt2", NULL, "u");
        ob_node(b, "Erf", NULL, "u", NULL, NULL, "e");
        ob_node(b, "Add", NULL, "one", "e", NULL, "a");
        ob_node(b, "Mul", NULL, "hx", "a", NULL, "y");
        return;
    }
    scalar(b, "s", f == FORM_SCALE_1 ? 1.0f : (float)M_SQRT1_2);
    ob_node(b, "Mul", NULL, "x", "s", NULL, "u");
    ob_node(b, "Erf", NULL, "u", NULL, NULL, "e");
    ob_node(b, "Add", NULL, "e", "one", NULL, "a");
    ob_node(b, "Mul", NULL, "x", "a", NULL, "xa");
    ob_node(b, "Mul", NULL, "xa", "half", NULL, "y");
    if (f == FORM_ERF_OUT)
        ob_output(b, "e", 1, 1, dims_n);
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
    ob_model b;
    jn_err err;
    build(&b, f);
    jn_onnx_model *m = ob_load(&b, "gelu model", &err);
    ob_free(&b);
    if (!m)
        fprintf(stderr, "load: %s\n", err.msg);
    JN_REQUIRE(m);
    JN_CHECK_INT_EQ(m->n_nodes, want_nodes);
    if (want_nodes == 1)
        JN_CHECK_STR_EQ(m->nodes[0].op_type, "Gelu");
    float *x = points();
    int64_t shape[1] = {N_PTS - 11}; /* the finite range: the unfused graph's -inf * 0 is not at issue here */
    jn_tensor_list in, out;
    jn_tensor_list_init(&in);
    jn_tensor_list_init(&out);
    JN_REQUIRE(ob_push_f32(&in, "x", 1, shape, x));
    jn_err_clear(&err);
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
