/* The QDQ fusion (adapters/onnx/onnx_qfuse.c) on the layout `junction quantize` writes: a MaxPool followed by a
 * Flatten between one DequantizeLinear and one QuantizeLinear (no pair between the two), built in memory with
 * onnx_build.h:
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
#include "onnx_build.h"
#include "onnx_internal.h"
#include "test.h"

enum { T_FLOAT = 1, T_UINT8 = 2, T_INT8 = 3, T_INT32 = 6 };
enum { H = 8, W = 8, MC = 4, FEAT = MC * (H / 2) * (W / 2), OUT = 5, BATCH = 3 };

static const char *scalar_f32(ob_model *b, const char *name, float v)
{
    return ob_init_raw(b, name, T_FLOAT, 4, 0, NULL, &v);
}

static const char *scalar_u8(ob_model *b, const char *name, uint8_t v)
{
    return ob_init_raw(b, name, T_UINT8, 1, 0, NULL, &v);
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
    ob_model b;
    ob_init(&b, "qfuse", 13, "");
    ob_input(&b, "x", T_FLOAT, 4, dx);
    ob_output(&b, "y", T_FLOAT, 2, dy);
    const char *sx = scalar_f32(&b, "sx", SX), *zx = scalar_u8(&b, "zx", 0);
    const char *s1 = scalar_f32(&b, "s1", S1), *z1 = scalar_u8(&b, "z1", 0);
    const char *s1b = other_scale ? scalar_f32(&b, "s1b", 1.5f * S1) : s1;
    const char *so = scalar_f32(&b, "so", SO), *zo = scalar_u8(&b, "zo", 128);
    const int8_t zero8 = 0;
    ob_node(&b, "QuantizeLinear", NULL, "x", sx, zx, "xq");
    ob_node(&b, "DequantizeLinear", NULL, "xq", sx, zx, "xd");
    ob_node(&b, "DequantizeLinear", NULL, ob_init_raw(&b, "w1q", T_INT8, 1, 4, dw1, w1),
            scalar_f32(&b, "sw1", SW1), ob_init_raw(&b, "zw1", T_INT8, 1, 0, NULL, &zero8), "w1d");
    ob_node(&b, "DequantizeLinear", NULL, ob_init_raw(&b, "b1q", T_INT32, 4, 1, db1, b1),
            scalar_f32(&b, "sb1", SX * SW1), NULL, "b1d");
    Onnx__NodeProto *conv = ob_node(&b, "Conv", NULL, "xd", "w1d", "b1d", "c1");
    ob_attr_ints(&b, conv, "kernel_shape", 2, k3);
    ob_attr_ints(&b, conv, "pads", 4, pads1);
    ob_node(&b, "Relu", NULL, "c1", NULL, NULL, "r1");
    ob_node(&b, "QuantizeLinear", NULL, "r1", s1, z1, "r1q");
    ob_node(&b, "DequantizeLinear", NULL, "r1q", s1, z1, "r1d");
    Onnx__NodeProto *pool = ob_node(&b, "MaxPool", NULL, "r1d", NULL, NULL, "p1");
    ob_attr_ints(&b, pool, "kernel_shape", 2, pool_k == 2 ? k2 : k3);
    ob_attr_ints(&b, pool, "strides", 2, s2);
    ob_attr_ints(&b, pool, "pads", 4, pool_k == 2 ? pads0 : pads1);
    ob_attr_int(&b, ob_node(&b, "Flatten", NULL, "p1", NULL, NULL, "f1"), "axis", 1);
    ob_node(&b, "QuantizeLinear", NULL, "f1", s1b, z1, "f1q");
    ob_node(&b, "DequantizeLinear", NULL, "f1q", s1b, z1, "f1d");
    float s1v = other_scale ? 1.5f * S1 : S1;
    ob_node(&b, "DequantizeLinear", NULL, ob_init_raw(&b, "w2q", T_INT8, 1, 2, dw2, w2),
            scalar_f32(&b, "sw2", SW2), ob_init_raw(&b, "zw2", T_INT8, 1, 0, NULL, &zero8), "w2d");
    ob_node(&b, "DequantizeLinear", NULL, ob_init_raw(&b, "b2q", T_INT32, 4, 1, db2, b2),
            scalar_f32(&b, "sb2", s1v * SW2), NULL, "b2d");
    ob_attr_int(&b, ob_node(&b, "Gemm", NULL, "f1d", "w2d", "b2d", "g"), "transB", 1);
    ob_node(&b, "QuantizeLinear", NULL, "g", so, zo, "gq");
    ob_node(&b, "DequantizeLinear", NULL, "gq", so, zo, "y");
    jn_err err;
    ox_qdq_fuse_enabled = fuse;
    jn_onnx_model *m = ob_load(&b, "qfuse test model", &err);
    ox_qdq_fuse_enabled = true;
    ob_free(&b);
    if (!m)
        fprintf(stderr, "load failed: %s\n", err.msg);
    JN_REQUIRE(m);
    return m;
}

static void run(jn_onnx_model *m, const float *x, float *y)
{
    const int64_t shape[4] = {BATCH, 1, H, W};
    jn_tensor_list in, out;
    jn_tensor_list_init(&in);
    jn_tensor_list_init(&out);
    JN_REQUIRE(ob_push_f32(&in, "x", 4, shape, x));
    jn_err err;
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
