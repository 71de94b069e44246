/* Control flow, sequences and recurrent layers of the ONNX adapter, on the fuzz seeds tests/fuzz/make_onnx_seeds.py
 * writes (so the corpus replays and these checks see the same models): malformed subgraphs and too-deep nesting are
 * refused at load with a message naming the problem; loops without a usable bound stop at the call's iteration
 * budget, its max_tensor_bytes, or its deadline; the valid models compute what their graphs say (values worked out
 * by hand here), on the planning run and on the cached-plan run. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "onnx.h"
#include "onnx_internal.h"
#include "test.h"
#include "vmath.h"

#ifndef JN_FUZZ_CORPUS
#error "JN_FUZZ_CORPUS must name tests/fuzz/corpus"
#endif

static jn_onnx_model *load_seed(const char *name, jn_err *err)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/onnx_load/%s", JN_FUZZ_CORPUS, name);
    jn_err_clear(err);
    return jn_onnx_load_file(path, err);
}

static void refused(const char *seed, int code, const char *needle)
{
    jn_err err;
    jn_onnx_model *m = load_seed(seed, &err);
    JN_CHECK(m == NULL);
    jn_onnx_free(m);
    JN_CHECK_INT_EQ(err.code, code);
    if (!strstr(err.msg, needle))
        JN_CHECK_STR_EQ(err.msg, needle);
}

static void test_refused_at_load(void)
{
    refused("deep_nesting", JN_EUNIMPL, "subgraphs nest deeper than 16 levels");
    refused("if_missing_else", JN_EUNIMPL, "attribute 'else_branch' (a graph) is required");
    refused("if_unknown_name", JN_EINVAL, "input 'nowhere' is produced by nothing");
    refused("if_branch_types", JN_EUNIMPL, "the branches give different types");
    refused("if_cond_float", JN_EUNIMPL, "cond has dtype FP32");
    refused("loop_body_inputs", JN_EUNIMPL, "subgraph 'body' has 1 inputs, 3 expected");
    refused("loop_body_cycle", JN_EINVAL, "the graph has a cycle");
    refused("relu_with_graph", JN_EUNIMPL, "attribute 'body' is not supported");
    refused("if_reads_own_output", JN_EUNIMPL, "reads 'y', an output of the node itself");
}

/* Runs the seed on x (FP32 [n]) or on its declared inputs filled with `fill`; returns the code. */
static int run_seed(const char *seed, const jn_infer_ctx *ctx, jn_tensor_list *out, jn_err *err)
{
    jn_onnx_model *m = load_seed(seed, err);
    JN_REQUIRE(m != NULL);
    jn_onnx_set_max_tensor_bytes(m, (size_t)16 << 20);
    jn_onnx_set_max_loop_iterations(m, 10000);
    ox_tensor x = {0};
    int64_t shape[1] = {4};
    float data[4] = {1, 2, 3, 4};
    ox_set_shape(&x, JN_DTYPE_FP32, 1, shape, NULL);
    x.data = data;
    JN_REQUIRE(m->n_inputs == 1);
    jn_tensor *outs[4] = {0};
    int rc = ox_model_run(m, &x, outs, ctx, err);
    for (size_t i = 0; i < m->n_outputs; i++)
        if (outs[i] && jn_tensor_list_push(out, outs[i]))
            abort();
    jn_onnx_free(m);
    return rc;
}

static void bounded(const char *seed, const jn_infer_ctx *ctx, int code, const char *needle)
{
    jn_err err;
    jn_tensor_list out;
    jn_tensor_list_init(&out);
    JN_CHECK_INT_EQ(run_seed(seed, ctx, &out, &err), code);
    if (!strstr(err.msg, needle))
        JN_CHECK_STR_EQ(err.msg, needle);
    JN_CHECK_INT_EQ((int)out.count, 0);
    jn_tensor_list_clear(&out);
}

static void test_unbounded_loops_stop(void)
{
    bounded("loop_huge_count", NULL, JN_ERESOURCE, "ran its 10000 loop iterations");
    bounded("loop_unbounded", NULL, JN_ERESOURCE, "ran its 10000 loop iterations");
    bounded("loop_nested_huge", NULL, JN_ERESOURCE, "ran its 10000 loop iterations");
    bounded("loop_scan_growth", NULL, JN_ERESOURCE, "more than the 16777216 bytes allowed");
    bounded("loop_sequence_growth", NULL, JN_ERESOURCE, "more than the 16777216 bytes allowed");
    /* Without the budget in the way, the call's deadline stops it. */
    jn_infer_ctx ctx = {.model = "m", .request_id = "", .deadline_ns = jn_now_ns() + 20 * 1000000};
    jn_err err;
    jn_onnx_model *m = load_seed("loop_unbounded", &err);
    JN_REQUIRE(m != NULL);
    ox_tensor x = {0};
    int64_t shape[1] = {4};
    float data[4] = {0};
    ox_set_shape(&x, JN_DTYPE_FP32, 1, shape, NULL);
    x.data = data;
    jn_tensor *outs[1] = {0};
    JN_CHECK_INT_EQ(ox_model_run(m, &x, outs, &ctx, &err), JN_EDEADLINE);
    /* and so does cancellation */
    atomic_int cancelled = 1;
    jn_infer_ctx cctx = {.model = "m", .request_id = "", .cancelled = &cancelled};
    JN_CHECK_INT_EQ(ox_model_run(m, &x, outs, &cctx, &err), JN_ECANCELLED);
    jn_onnx_free(m);
}

static const float *f32(const jn_tensor_list *l, size_t i)
{
    JN_REQUIRE(i < l->count);
    return l->items[i]->data;
}

static void test_valid_models_compute(void)
{
    for (int pass = 0; pass < 2; pass++) { /* a fresh model each time: the plan is made, then (below) reused */
        jn_err err;
        jn_tensor_list out;
        jn_tensor_list_init(&out);
        /* Loop: acc = x + 1 three times; the scan output stacks each step. */
        JN_CHECK_INT_EQ(run_seed("loop_accumulate", NULL, &out, &err), 0);
        JN_REQUIRE(out.count == 2);
        for (int i = 0; i < 4; i++)
            JN_CHECK(f32(&out, 0)[i] == (float)(i + 1) + 3.0f);
        JN_CHECK_INT_EQ(out.items[1]->ndim, 2);
        JN_CHECK_INT_EQ((int)out.items[1]->shape[0], 3);
        for (int s = 0; s < 3; s++)
            for (int i = 0; i < 4; i++)
                JN_CHECK(f32(&out, 1)[s * 4 + i] == (float)(i + 1) + (float)(s + 1));
        jn_tensor_list_clear(&out);
    }
    /* The same model object twice: the second run takes the cached plans (the main graph's and the body's). */
    jn_err err;
    jn_onnx_model *m = load_seed("seq_roundtrip", &err);
    JN_REQUIRE(m != NULL);
    for (int pass = 0; pass < 2; pass++) {
        ox_tensor x = {0};
        int64_t shape[2] = {3, 2};
        float data[6] = {1, 2, 3, 4, 5, 6};
        ox_set_shape(&x, JN_DTYPE_FP32, 2, shape, NULL);
        x.data = data;
        jn_tensor *outs[2] = {0};
        JN_CHECK_INT_EQ(ox_model_run(m, &x, outs, NULL, &err), 0);
        JN_REQUIRE(outs[0] && outs[1]);
        /* split into rows, append row 0, concatenate: [x; x[0]] */
        const float want[8] = {1, 2, 3, 4, 5, 6, 1, 2};
        JN_CHECK_INT_EQ((int)outs[0]->shape[0], 4);
        for (int i = 0; i < 8; i++)
            JN_CHECK(((const float *)outs[0]->data)[i] == want[i]);
        JN_CHECK_INT_EQ((int)*(const int64_t *)outs[1]->data, 4);
        jn_tensor_free(outs[0]);
        jn_tensor_free(outs[1]);
    }
    jn_onnx_free(m);
}

/* The recurrent layers' sigmoid and tanh against libm (double precision) over the range that matters and beyond,
 * for every instruction set this CPU has. */
static void vmath_accuracy_at(int isa)
{
    jn_k_isa_forced = isa;
    enum { N = 200001 };
    float *s = malloc(N * sizeof *s), *t = malloc(N * sizeof *t);
    JN_REQUIRE(s && t);
    for (int i = 0; i < N; i++)
        s[i] = t[i] = -25.0f + 50.0f * (float)i / (float)(N - 1);
    ox_vsigmoid(s, N);
    ox_vtanh(t, N);
    double worst_s = 0, worst_t = 0;
    for (int i = 0; i < N; i++) {
        double x = (double)(-25.0f + 50.0f * (float)i / (float)(N - 1)); /* the float the kernels saw */
        double ws = 1.0 / (1.0 + exp(-x)), wt = tanh(x);
        double es = fabs(s[i] - ws) / (fabs(ws) + 1e-30), et = fabs(t[i] - wt) / (fabs(wt) + 1e-30);
        if (ws > 1e-30 && es > worst_s)
            worst_s = es;
        if (et > worst_t)
            worst_t = et;
    }
    JN_CHECK(worst_s < 1e-6);
    JN_CHECK(worst_t < 1e-6);
    if (worst_s >= 1e-6 || worst_t >= 1e-6)
        fprintf(stderr, "isa %d: worst relative error: sigmoid %g, tanh %g\n", isa, worst_s, worst_t);
    float edge[6] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1e-30f}, e2[6];
    memcpy(e2, edge, sizeof edge);
    ox_vsigmoid(edge, 6);
    ox_vtanh(e2, 6);
    JN_CHECK(isnan(edge[0]) && isnan(e2[0]));
    JN_CHECK(edge[1] == 1.0f && edge[2] < 1e-30f && edge[3] == 0.5f);
    JN_CHECK(e2[1] == 1.0f && e2[2] == -1.0f && e2[3] == 0.0f && e2[5] == 1e-30f);
    free(s);
    free(t);
    jn_k_isa_forced = 0;
}

static void test_vmath_accuracy(void)
{
    for (int isa = 1; isa <= jn_k_isa(); isa++)
        vmath_accuracy_at(isa);
}

/* ox_panel_gemm against a plain double-precision product, for every instruction set this CPU has, on shapes with
 * partial row blocks and panels, M = 1 (its own loop) and K not a multiple of 4. */
static void test_panel_gemm(void)
{
    static const int64_t shapes[][3] = {{1, 512, 128}, {16, 512, 128}, {7, 40, 13}, {5, 8, 1}, {1, 17, 6},
                                        {13, 33, 3}};
    int top = jn_k_isa();
    for (int isa = 1; isa <= top; isa++) {
        jn_k_isa_forced = isa;
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            float *x = malloc((size_t)(M * K) * sizeof *x), *w = malloc((size_t)(N * K) * sizeof *w);
            float *y = malloc((size_t)(M * N) * sizeof *y), *wp = malloc(ox_panel_floats(N, K) * sizeof *wp);
            JN_REQUIRE(x && w && y && wp);
            for (int64_t i = 0; i < M * K; i++)
                x[i] = (float)((i * 37 % 101) - 50) / 50.0f;
            for (int64_t i = 0; i < N * K; i++)
                w[i] = (float)((i * 53 % 97) - 48) / 48.0f;
            ox_panel_pack(w, N, K, wp);
            ox_panel_gemm(M, N, K, x, wp, y);
            int bad = 0;
            for (int64_t m = 0; m < M; m++)
                for (int64_t n = 0; n < N; n++) {
                    double want = 0, mag = 0;
                    for (int64_t k = 0; k < K; k++) {
                        want += (double)x[m * K + k] * w[n * K + k];
                        mag += fabs((double)x[m * K + k] * w[n * K + k]);
                    }
                    if (fabs(y[m * N + n] - want) > 1e-5 * (mag + 1e-6))
                        bad++;
                }
            if (bad)
                fprintf(stderr, "isa %d, M %lld N %lld K %lld: %d wrong\n", isa, (long long)M, (long long)N,
                        (long long)K, bad);
            JN_CHECK_INT_EQ(bad, 0);
            free(x);
            free(w);
            free(y);
            free(wp);
        }
    }
    jn_k_isa_forced = 0;
}

int main(void)
{
    JN_TEST_RUN(test_vmath_accuracy);
    JN_TEST_RUN(test_panel_gemm);
    JN_TEST_RUN(test_refused_at_load);
    JN_TEST_RUN(test_unbounded_loops_stop);
    JN_TEST_RUN(test_valid_models_compute);
    return JN_TEST_EXIT();
}
