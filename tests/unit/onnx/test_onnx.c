/* ONNX adapter unit tests: models are built in memory with onnx_build.h (protobuf-c, the same onnx.proto the loader
 * reads), so each test states exactly the graph it feeds. Load-time rejections (operator, attribute value, dtype,
 * domain, malformed bytes), the signature, initializers in raw and typed form, execution against hand-computed values,
 * the plan cache (keyed by input shapes and by values that decide shapes), concurrent runs, the engine and the model
 * directory. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "onnx.h"
#include "onnx_build.h"
#include "onnx_internal.h"
#include "test.h"

static const int64_t dims_n4[2] = {-1, 4}, dims_n3[2] = {-1, 3}, dims_43[2] = {4, 3}, dims_3[1] = {3};
static const float w43[12] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1}, b3[3] = {0.5f, -0.5f, 0};

/* y = x @ w + b, x [N,4] */
static void build_affine(ob_model *b, bool raw)
{
    ob_init(b, "test", 13, "");
    ob_input(b, "x", 1, 2, dims_n4);
    ob_output(b, "y", 1, 2, dims_n3);
    ob_init_f32(b, "w", 2, dims_43, w43, raw);
    ob_init_f32(b, "b", 1, dims_3, b3, !raw);
    ob_node(b, "MatMul", "mm", "x", "w", NULL, "xw");
    ob_node(b, "Add", "bias", "xw", "b", NULL, "y");
}

static void check_affine(jn_onnx_model *m, int64_t rows)
{
    float x[32];
    for (int i = 0; i < 32; i++)
        x[i] = (float)(i % 7) - 2.0f;
    int64_t shape[2] = {rows, 4};
    jn_tensor_list in, out;
    jn_tensor_list_init(&in);
    jn_tensor_list_init(&out);
    JN_REQUIRE(ob_push_f32(&in, "x", 2, shape, x));
    jn_err err;
    jn_err_clear(&err);
    JN_CHECK_ERR(jn_onnx_run(m, &in, &out, &err), err, 0);
    JN_REQUIRE(out.count == 1);
    const jn_tensor *y = out.items[0];
    JN_CHECK_STR_EQ(y->name, "y");
    JN_CHECK_INT_EQ(y->ndim, 2);
    JN_CHECK_INT_EQ(y->shape[0], rows);
    JN_CHECK_INT_EQ(y->shape[1], 3);
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * 4;
        float want[3] = {xr[0] + xr[3] + 0.5f, xr[1] + xr[3] - 0.5f, xr[2] + xr[3]};
        for (int c = 0; c < 3; c++)
            JN_CHECK_DBL_EQ(((const float *)y->data)[r * 3 + c], want[c]);
    }
    jn_tensor_list_clear(&in);
    jn_tensor_list_clear(&out);
}

/* ---------------------------------------------------------------------------------------------------------------
 * Tests */

static void test_malformed(void)
{
    jn_err err;
    jn_err_clear(&err);
    const uint8_t junk[] = {0x08, 0x07, 0x12, 0xff, 0xff, 0x01};
    JN_CHECK(jn_onnx_load_bytes(junk, sizeof junk, "junk.onnx", &err) == NULL);
    JN_CHECK_INT_EQ(err.code, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "junk.onnx");
    JN_CHECK_STR_CONTAINS(err.msg, "not an ONNX model");
    jn_err_clear(&err);
    JN_CHECK(jn_onnx_load_bytes(NULL, 0, "empty", &err) == NULL); /* an empty message has no graph */
    JN_CHECK(err.code != 0 && err.msg[0] != '\0');
    jn_err_clear(&err);
    JN_CHECK(jn_onnx_load_file("/nonexistent/model.onnx", &err) == NULL);
    JN_CHECK_INT_EQ(err.code, JN_EIO);
}

/* The rejections' models: x [N,4] of ONNX type elem_in -> one node `op` named `name` (inputs x and in1, or x alone
 * when in1 is NULL) -> y [N,4] of type elem_out, importing version `opset` of `domain`. Returns the node. */
static Onnx__NodeProto *one_node(ob_model *b, int64_t opset, const char *domain, int32_t elem_in, int32_t elem_out,
                                 const char *op, const char *name, const char *in1)
{
    ob_init(b, "test", opset, domain);
    ob_input(b, "x", elem_in, 2, dims_n4);
    ob_output(b, "y", elem_out, 2, dims_n4);
    return ob_node(b, op, name, "x", in1, NULL, "y");
}

static void test_rejections(void)
{
    jn_err err;
    ob_model b;
    /* Unknown operator: op type, node name, reason. */
    one_node(&b, 13, "", 1, 1, "NoSuchOperator", "my_op", NULL);
    JN_CHECK(ob_load(&b, "test model", &err) == NULL);
    JN_CHECK_INT_EQ(err.code, JN_EUNIMPL);
    JN_CHECK_STR_CONTAINS(err.msg, "NoSuchOperator");
    JN_CHECK_STR_CONTAINS(err.msg, "my_op");
    JN_CHECK_STR_CONTAINS(err.msg, "not supported");
    ob_free(&b);

    /* Unsupported attribute value. */
    Onnx__NodeProto *n = one_node(&b, 13, "", 1, 1, "MaxPool", "pool", NULL);
    ob_attr_str(&b, n, "auto_pad", "SOMETIMES");
    JN_CHECK(ob_load(&b, "test model", &err) == NULL);
    JN_CHECK_INT_EQ(err.code, JN_EUNIMPL);
    JN_CHECK_STR_CONTAINS(err.msg, "MaxPool");
    JN_CHECK_STR_CONTAINS(err.msg, "'pool'");
    ob_free(&b);

    /* An attribute the operator does not have. */
    n = one_node(&b, 13, "", 1, 1, "Relu", "r", NULL);
    ob_attr_str(&b, n, "flavour", "spicy");
    JN_CHECK(ob_load(&b, "test model", &err) == NULL);
    JN_CHECK_STR_CONTAINS(err.msg, "attribute 'flavour' is not supported");
    ob_free(&b);

    /* Unsupported dtype (FP16 computes through FP32 since issue 15; complex numbers do not). */
    one_node(&b, 13, "", 14, 14, "Relu", "r", NULL);
    JN_CHECK(ob_load(&b, "test model", &err) == NULL);
    JN_CHECK_INT_EQ(err.code, JN_EUNIMPL);
    JN_CHECK_STR_CONTAINS(err.msg, "COMPLEX64");
    ob_free(&b);

    /* An FP16 Relu loads (onnx_half.c): its output is declared FP16. */
    one_node(&b, 13, "", 10, 10, "Relu", "r", NULL);
    jn_onnx_model *half = ob_load(&b, "test model", &err);
    JN_CHECK(half != NULL);
    jn_onnx_free(half);
    ob_free(&b);

    /* Softmax computes FP32: an INT64 input is rejected at load, naming the op. */
    one_node(&b, 13, "", 7, 1, "Softmax", "sm", NULL);
    JN_CHECK(ob_load(&b, "test model", &err) == NULL);
    JN_CHECK_STR_CONTAINS(err.msg, "Softmax");
    JN_CHECK_STR_CONTAINS(err.msg, "INT64");
    ob_free(&b);

    /* A node of a foreign operator-set domain: domain, operator and node named. */
    n = one_node(&b, 13, "", 1, 1, "Relu", "r", NULL);
    n->domain = "com.example";
    JN_CHECK(ob_load(&b, "test model", &err) == NULL);
    JN_CHECK_INT_EQ(err.code, JN_EUNIMPL);
    JN_CHECK_STR_CONTAINS(err.msg, "domain 'com.example'");
    JN_CHECK_STR_CONTAINS(err.msg, "operator Relu (node 'r')");
    ob_free(&b);

    /* Only a foreign domain imported: the default-domain node says the default opset is missing. */
    one_node(&b, 1, "com.example", 1, 1, "Relu", "r", NULL);
    JN_CHECK(ob_load(&b, "test model", &err) == NULL);
    JN_CHECK_STR_CONTAINS(err.msg, "imports no version of the default ONNX opset");
    JN_CHECK_STR_CONTAINS(err.msg, "'r'");
    ob_free(&b);

    /* A newer opset than the adapter follows. */
    one_node(&b, 99, "", 1, 1, "Relu", "r", NULL);
    JN_CHECK(ob_load(&b, "test model", &err) == NULL);
    JN_CHECK_STR_CONTAINS(err.msg, "opset 99");
    ob_free(&b);

    /* An input nothing produces. */
    one_node(&b, 13, "", 1, 1, "Add", "a", "ghost");
    JN_CHECK(ob_load(&b, "test model", &err) == NULL);
    JN_CHECK_INT_EQ(err.code, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "ghost");
    ob_free(&b);
}

static void test_signature_and_run(void)
{
    for (int raw = 0; raw < 2; raw++) {
        ob_model b;
        jn_err err;
        build_affine(&b, raw);
        jn_onnx_model *m = ob_load(&b, "test model", &err);
        ob_free(&b);
        JN_REQUIRE(m);
        jn_signature sig;
        jn_signature_init(&sig);
        JN_CHECK_ERR(jn_onnx_signature(m, &sig, &err), err, 0);
        JN_REQUIRE(sig.n_inputs == 1 && sig.n_outputs == 1); /* initializers are not inputs */
        JN_CHECK_STR_EQ(sig.inputs[0].name, "x");
        JN_CHECK_INT_EQ(sig.inputs[0].dtype, JN_DTYPE_FP32);
        JN_CHECK_INT_EQ(sig.inputs[0].shape[0], -1);
        JN_CHECK_INT_EQ(sig.inputs[0].shape[1], 4);
        JN_CHECK_STR_EQ(sig.outputs[0].name, "y");
        jn_signature_free(&sig);

        /* MatMul with constant weights + Add of a constant bias row fuse into one node. */
        JN_CHECK_INT_EQ(m->n_nodes, 1);
        JN_CHECK_INT_EQ(m->nodes[0].n_in, 3);
        /* Shape sets: 2, 5, 2 again -> two cached plans; results right on every run. */
        check_affine(m, 2);
        check_affine(m, 5);
        check_affine(m, 2);
        JN_CHECK_INT_EQ(m->n_plans, 2);
        jn_onnx_free(m);
    }
}

static void test_bad_request(void)
{
    ob_model b;
    jn_err err;
    build_affine(&b, true);
    jn_onnx_model *m = ob_load(&b, "test model", &err);
    ob_free(&b);
    JN_REQUIRE(m);
    float x[10] = {0};
    int64_t shape[2] = {2, 5};
    jn_tensor_list in, out;
    jn_tensor_list_init(&in);
    jn_tensor_list_init(&out);
    JN_REQUIRE(ob_push_f32(&in, "x", 2, shape, x));
    JN_CHECK_ERR(jn_onnx_run(m, &in, &out, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "'x'");
    jn_tensor_list_clear(&in);
    JN_CHECK_ERR(jn_onnx_run(m, &in, &out, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "missing");
    JN_CHECK_INT_EQ(out.count, 0);
    jn_onnx_free(m);
}

/* Reshape whose target shape is a graph input: same input shapes, different shape values -> different plans. */
static void test_shape_values_key_the_plan(void)
{
    ob_model b;
    jn_err err;
    ob_init(&b, "test", 13, "");
    const int64_t d6[1] = {6}, d2[1] = {2}, any2[2] = {-1, -1};
    ob_input(&b, "x", 1, 1, d6);
    ob_input(&b, "s", 7, 1, d2);
    ob_output(&b, "y", 1, 2, any2);
    ob_node(&b, "Reshape", "rs", "x", "s", NULL, "r");
    ob_node(&b, "Relu", "relu", "r", NULL, NULL, "y");
    jn_onnx_model *m = ob_load(&b, "test model", &err);
    ob_free(&b);
    JN_REQUIRE(m);
    const float xv[6] = {-1, 2, -3, 4, -5, 6};
    const int64_t targets[3][2] = {{2, 3}, {3, -1}, {2, 3}};
    for (int k = 0; k < 3; k++) {
        jn_tensor_list in, out;
        jn_tensor_list_init(&in);
        jn_tensor_list_init(&out);
        JN_REQUIRE(ob_push_f32(&in, "x", 1, d6, xv));
        jn_tensor *s = jn_tensor_create("s", JN_DTYPE_INT64, 1, d2, &err);
        JN_REQUIRE(s);
        memcpy(s->data, targets[k], sizeof targets[k]);
        jn_tensor_list_push(&in, s);
        JN_CHECK_ERR(jn_onnx_run(m, &in, &out, &err), err, 0);
        JN_REQUIRE(out.count == 1);
        JN_CHECK_INT_EQ(out.items[0]->shape[0], k == 1 ? 3 : 2);
        JN_CHECK_INT_EQ(out.items[0]->shape[1], k == 1 ? 2 : 3);
        JN_CHECK_DBL_EQ(((float *)out.items[0]->data)[0], 0);
        JN_CHECK_DBL_EQ(((float *)out.items[0]->data)[5], 6);
        jn_tensor_list_clear(&in);
        jn_tensor_list_clear(&out);
    }
    JN_CHECK_INT_EQ(m->n_plans, 2);
    jn_onnx_free(m);
}

/* ConstantOfShape without a value is FP32 zeros: its buffer comes from the arena, which is not zeroed (debug
 * builds fill it with NaN bits), so the kernel must write them. */
static void test_constant_of_shape_zeros(void)
{
    ob_model b;
    jn_err err;
    ob_init(&b, "test", 13, "");
    const int64_t d23[2] = {2, 3}, d2[1] = {2}, shape_values[2] = {2, 3};
    ob_input(&b, "x", 1, 2, d23);
    ob_output(&b, "y", 1, 2, d23);
    ob_init_i64(&b, "shape", 1, d2, shape_values);
    ob_node(&b, "ConstantOfShape", "zeros", "shape", NULL, NULL, "z");
    ob_node(&b, "Add", "add", "x", "z", NULL, "y");
    jn_onnx_model *m = ob_load(&b, "test model", &err);
    ob_free(&b);
    JN_REQUIRE(m);
    const float xv[6] = {1, 2, 3, 4, 5, 6};
    for (int run = 0; run < 3; run++) { /* the first plans, the others reuse the arena */
        jn_tensor_list in, out;
        jn_tensor_list_init(&in);
        jn_tensor_list_init(&out);
        JN_REQUIRE(ob_push_f32(&in, "x", 2, d23, xv));
        JN_CHECK_ERR(jn_onnx_run(m, &in, &out, &err), err, 0);
        JN_REQUIRE(out.count == 1);
        for (int i = 0; i < 6; i++)
            JN_CHECK_DBL_EQ(((float *)out.items[0]->data)[i], xv[i]);
        jn_tensor_list_clear(&in);
        jn_tensor_list_clear(&out);
    }
    jn_onnx_free(m);
}

/* Conv (1x1, constant weights and bias) -> BatchNormalization (constant statistics) -> Relu load as one node, and
 * compute what the three would: channel 0 relu(((2x + 0.5) - 0.5) / sqrt(3 + 1) * 1 + 0) = relu(x), channel 1
 * relu(((-x + 0) - 0) * 2 / sqrt(0 + 1) + 1) = relu(1 - 2x). */
static void test_conv_batchnorm_relu_fold(void)
{
    ob_model b;
    jn_err err;
    ob_init(&b, "test", 13, "");
    const int64_t dx[4] = {1, 1, 2, 2}, dy[4] = {1, 2, 2, 2}, dw[4] = {2, 1, 1, 1}, d2[1] = {2};
    static const float w[2] = {2, -1}, bias[2] = {0.5f, 0}, scale[2] = {1, 2}, beta[2] = {0, 1}, mean[2] = {0.5f, 0},
                       var[2] = {3, 0};
    ob_input(&b, "x", 1, 4, dx);
    ob_output(&b, "y", 1, 4, dy);
    ob_init_f32(&b, "w", 4, dw, w, true);
    ob_init_f32(&b, "cb", 1, d2, bias, true);
    ob_init_f32(&b, "scale", 1, d2, scale, true);
    ob_init_f32(&b, "beta", 1, d2, beta, true);
    ob_init_f32(&b, "mean", 1, d2, mean, true);
    ob_init_f32(&b, "var", 1, d2, var, true);
    const char *const conv_in[] = {"x", "w", "cb", NULL}, *const bn_in[] = {"c", "scale", "beta", "mean", "var", NULL};
    ob_node_n(&b, "Conv", "conv", conv_in, "c");
    ob_attr_float(&b, ob_node_n(&b, "BatchNormalization", "bn", bn_in, "n"), "epsilon", 1.0f);
    ob_node(&b, "Relu", "relu", "n", NULL, NULL, "y");
    jn_onnx_model *m = ob_load(&b, "test model", &err);
    ob_free(&b);
    JN_REQUIRE(m);
    JN_CHECK_INT_EQ(m->n_nodes, 1);
    JN_CHECK(m->nodes[0].relu_after);
    const float xv[4] = {-1, 0, 1, 2};
    jn_tensor_list in, out;
    jn_tensor_list_init(&in);
    jn_tensor_list_init(&out);
    JN_REQUIRE(ob_push_f32(&in, "x", 4, dx, xv));
    JN_CHECK_ERR(jn_onnx_run(m, &in, &out, &err), err, 0);
    JN_REQUIRE(out.count == 1 && out.items[0]->shape[1] == 2);
    const float *y = out.items[0]->data;
    for (int i = 0; i < 4; i++) {
        JN_CHECK_DBL_EQ(y[i], xv[i] > 0 ? xv[i] : 0);
        JN_CHECK_DBL_EQ(y[4 + i], 1 - 2 * xv[i] > 0 ? 1 - 2 * xv[i] : 0);
    }
    jn_tensor_list_clear(&in);
    jn_tensor_list_clear(&out);
    jn_onnx_free(m);
}

/* Conv (3x3, pad 1) -> Relu -> MaxPool (2x2, stride 2) on a 5x7 image load as one node whose output is the pooled
 * [1,3,2,3] tensor (the odd last row and column dropped, as MaxPool's floor rounding does), equal to the three
 * computed one after another here. With the Relu output also a graph output, the Relu still runs inside the Conv
 * (writing that output) but the MaxPool stays a node of its own. */
static void test_conv_relu_maxpool_fold(void)
{
    enum { C = 2, M = 3, H = 5, W = 7, OH = 2, OW = 3 };
    const int64_t dx[4] = {1, C, H, W}, dy[4] = {1, M, OH, OW}, dr[4] = {1, M, H, W}, dw[4] = {M, C, 3, 3},
                  dm[1] = {M}, k2[2] = {2, 2}, k3[2] = {3, 3}, pads[4] = {1, 1, 1, 1};
    float x[C * H * W], w[M * C * 9], bias[M];
    for (int i = 0; i < C * H * W; i++)
        x[i] = (float)((i * 7) % 11) - 5.0f;
    for (int i = 0; i < M * C * 9; i++)
        w[i] = (float)((i * 5) % 7) * 0.25f - 0.75f;
    for (int i = 0; i < M; i++)
        bias[i] = (float)i - 1.0f;
    /* The reference: conv, relu, pool, in doubles. */
    double r[M][H][W], want[M][OH][OW];
    for (int m = 0; m < M; m++)
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++) {
                double acc = bias[m];
                for (int c = 0; c < C; c++)
                    for (int a = 0; a < 3; a++)
                        for (int e = 0; e < 3; e++) {
                            int ii = i + a - 1, jj = j + e - 1;
                            if (ii >= 0 && ii < H && jj >= 0 && jj < W)
                                acc += (double)w[((m * C + c) * 3 + a) * 3 + e] * x[(c * H + ii) * W + jj];
                        }
                r[m][i][j] = acc > 0 ? acc : 0;
            }
    for (int m = 0; m < M; m++)
        for (int i = 0; i < OH; i++)
            for (int j = 0; j < OW; j++) {
                double v = r[m][2 * i][2 * j];
                v = fmax(v, r[m][2 * i][2 * j + 1]);
                v = fmax(v, r[m][2 * i + 1][2 * j]);
                want[m][i][j] = fmax(v, r[m][2 * i + 1][2 * j + 1]);
            }
    for (int relu_is_output = 0; relu_is_output < 2; relu_is_output++) {
        ob_model b;
        jn_err err;
        ob_init(&b, "test", 13, "");
        ob_input(&b, "x", 1, 4, dx);
        ob_output(&b, "y", 1, 4, dy);
        if (relu_is_output)
            ob_output(&b, "r", 1, 4, dr);
        ob_init_f32(&b, "w", 4, dw, w, true);
        ob_init_f32(&b, "cb", 1, dm, bias, true);
        const char *const conv_in[] = {"x", "w", "cb", NULL};
        Onnx__NodeProto *conv = ob_node_n(&b, "Conv", "conv", conv_in, "c");
        ob_attr_ints(&b, conv, "kernel_shape", 2, k3);
        ob_attr_ints(&b, conv, "pads", 4, pads);
        ob_node(&b, "Relu", "relu", "c", NULL, NULL, "r");
        Onnx__NodeProto *pool = ob_node(&b, "MaxPool", "pool", "r", NULL, NULL, "y");
        ob_attr_ints(&b, pool, "kernel_shape", 2, k2);
        ob_attr_ints(&b, pool, "strides", 2, k2);
        jn_onnx_model *m = ob_load(&b, "test model", &err);
        ob_free(&b);
        JN_REQUIRE(m);
        JN_CHECK_INT_EQ(m->n_nodes, relu_is_output ? 2 : 1);
        JN_CHECK(m->nodes[0].relu_after);
        JN_CHECK(m->nodes[0].maxpool2_after != (bool)relu_is_output);
        jn_tensor_list in, out;
        jn_tensor_list_init(&in);
        jn_tensor_list_init(&out);
        JN_REQUIRE(ob_push_f32(&in, "x", 4, dx, x));
        JN_CHECK_ERR(jn_onnx_run(m, &in, &out, &err), err, 0);
        JN_REQUIRE(out.count == (size_t)(1 + relu_is_output));
        const jn_tensor *yt = out.items[0];
        JN_REQUIRE(yt->ndim == 4 && yt->shape[1] == M && yt->shape[2] == OH && yt->shape[3] == OW);
        const float *y = yt->data;
        for (int i = 0; i < M * OH * OW; i++)
            JN_CHECK(fabs(y[i] - (&want[0][0][0])[i]) < 1e-4);
        jn_tensor_list_clear(&in);
        jn_tensor_list_clear(&out);
        jn_onnx_free(m);
    }
}

static void *hammer(void *arg)
{
    jn_onnx_model *m = arg;
    for (int i = 0; i < 200; i++)
        check_affine(m, 1 + (i % 4));
    return NULL;
}

static void test_concurrent_runs(void)
{
    ob_model b;
    jn_err err;
    build_affine(&b, true);
    jn_onnx_model *m = ob_load(&b, "test model", &err);
    ob_free(&b);
    JN_REQUIRE(m);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        JN_REQUIRE(pthread_create(&th[i], NULL, hammer, m) == 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    JN_CHECK_INT_EQ(m->n_plans, 4);
    jn_onnx_free(m);
}

static void test_engine_and_directory(void)
{
    ob_model b;
    jn_err err;
    build_affine(&b, true);
    size_t len;
    uint8_t *buf = ob_pack(&b, &len);
    ob_free(&b);

    char dir[] = "/tmp/jn-onnx-test-XXXXXX";
    JN_REQUIRE(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/affine.onnx", dir);
    FILE *f = fopen(path, "wb");
    JN_REQUIRE(f && fwrite(buf, 1, len, f) == len);
    fclose(f);
    snprintf(path, sizeof path, "%s/broken.onnx", dir);
    f = fopen(path, "wb");
    JN_REQUIRE(f && fwrite("nonsense", 1, 8, f) == 8);
    fclose(f);
    free(buf);

    jn_registry *reg = jn_registry_create();
    JN_REQUIRE(reg);
    JN_CHECK_INT_EQ(jn_onnx_register_dir(reg, dir, &err), 1);
    jn_engine *e = jn_registry_get(reg, "affine", NULL, &err);
    JN_REQUIRE(e);
    JN_CHECK_STR_EQ(e->vt->platform, "onnx");
    JN_CHECK(!(e->flags & JN_ENGINE_INLINE));
    JN_CHECK(jn_registry_get(reg, "broken", NULL, &err) == NULL);

    float x[4] = {1, 2, 3, 4};
    int64_t shape[2] = {1, 4};
    jn_tensor_list in, out;
    jn_tensor_list_init(&in);
    jn_tensor_list_init(&out);
    JN_REQUIRE(ob_push_f32(&in, "x", 2, shape, x));
    jn_infer_ctx ctx = {.model = "affine", .request_id = ""};
    jn_err_clear(&err);
    JN_CHECK_ERR(e->vt->infer(e, &ctx, &in, &out, &err), err, 0);
    JN_REQUIRE(out.count == 1);
    JN_CHECK_DBL_EQ(((float *)out.items[0]->data)[0], 5.5);
    jn_tensor_list_clear(&out);
    /* A call past its deadline stops between nodes. */
    jn_infer_ctx late = {.model = "affine", .request_id = "", .deadline_ns = 1};
    JN_CHECK_ERR(e->vt->infer(e, &late, &in, &out, &err), err, JN_EDEADLINE);
    JN_CHECK_INT_EQ(out.count, 0);
    /* A bad request names the model. */
    jn_tensor_list_clear(&in);
    JN_CHECK_ERR(e->vt->infer(e, &ctx, &in, &out, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'affine'");
    jn_engine_unref(e);
    jn_registry_destroy(reg);

    snprintf(path, sizeof path, "%s/affine.onnx", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/broken.onnx", dir);
    unlink(path);
    rmdir(dir);
    JN_CHECK(jn_onnx_register_dir(reg = jn_registry_create(), "/nonexistent-dir", &err) < 0);
    jn_registry_destroy(reg);
}

int main(void)
{
    JN_TEST_RUN(test_malformed);
    JN_TEST_RUN(test_rejections);
    JN_TEST_RUN(test_signature_and_run);
    JN_TEST_RUN(test_bad_request);
    JN_TEST_RUN(test_shape_values_key_the_plan);
    JN_TEST_RUN(test_constant_of_shape_zeros);
    JN_TEST_RUN(test_conv_batchnorm_relu_fold);
    JN_TEST_RUN(test_conv_relu_maxpool_fold);
    JN_TEST_RUN(test_concurrent_runs);
    JN_TEST_RUN(test_engine_and_directory);
    return JN_TEST_EXIT();
}
