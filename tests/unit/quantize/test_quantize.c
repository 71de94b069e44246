/* Unit tests of engines/quantize (quantize.h) and the ONNX adapter's tapped load (jn_onnx_load_bytes_tapped):
 * - scale and zero point as ORT computes them (asymmetric UINT8 / INT8, symmetric, zero range);
 * - minmax ignores non-finite values; percentile clips a lone outlier; entropy clips the far tail of a Gaussian
 *   with outliers (well inside the extremes, outside 3 sigma), and keeps a uniform distribution's whole range;
 * - tapping: the shipped fashion-cnn exported to ONNX, loaded with "relu1" and "logits" tapped, gives the same
 *   scores as the untapped load (bit for bit: tapping only stops fusions) plus the tapped values with their shapes
 *   and Relu's sign; unknown, duplicate and graph-output taps are refused by name;
 * - the whole plan: calibrate on random images, write, load the QDQ file: its scores are close to FP32's, and
 *   bytes that are not a model are refused naming `what`. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cnn_labels.h"
#include "onnx.h"
#include "onnx_export.h"
#include "quantize.h"
#include "safetensors.h"
#include "test.h"
#include "vision/cnn.h"

static uint64_t rng_state = 88172645463325252ull;
static double uniform(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

static double gauss(void)
{
    double u = uniform(), v = uniform();
    return sqrt(-2.0 * log(u > 1e-300 ? u : 1e-300)) * cos(6.283185307179586 * v);
}

static void test_params(void)
{
    float s;
    int32_t zp;
    jn_quant_params(-1.0, 3.0, 0, 255, false, &s, &zp);
    JN_CHECK_DBL_EQ(s, (float)(4.0 / 255.0));
    JN_CHECK_INT_EQ(zp, 64); /* round(0 - (-1) / (4/255)) = round(63.75) */
    jn_quant_params(0.5, 2.0, 0, 255, false, &s, &zp); /* widened to hold 0 */
    JN_CHECK_DBL_EQ(s, (float)(2.0 / 255.0));
    JN_CHECK_INT_EQ(zp, 0);
    jn_quant_params(-2.0, 1.0, -128, 127, false, &s, &zp);
    JN_CHECK_DBL_EQ(s, (float)(3.0 / 255.0));
    JN_CHECK_INT_EQ(zp, 42); /* round(-128 + 170) */
    jn_quant_params(-2.0, 1.0, -127, 127, true, &s, &zp);
    JN_CHECK_DBL_EQ(s, (float)(4.0 / 254.0));
    JN_CHECK_INT_EQ(zp, 0);
    jn_quant_params(0, 0, 0, 255, false, &s, &zp);
    JN_CHECK_DBL_EQ(s, 1.0f);
    JN_CHECK_INT_EQ(zp, 0);
}

static void test_minmax_and_percentile(void)
{
    jn_qstat st;
    jn_qstat_init(&st);
    float x[10001];
    for (int i = 0; i < 10000; i++)
        x[i] = (float)(i % 100) / 100.0f; /* [0, 0.99] */
    x[10000] = 50.0f;                     /* one outlier */
    float bad[3] = {NAN, INFINITY, -INFINITY};
    jn_qstat_observe(&st, bad, 3);
    jn_qstat_observe(&st, x, 10001);
    double lo, hi;
    jn_qstat_range(&st, JN_QUANT_MINMAX, 0, &lo, &hi);
    JN_CHECK_DBL_EQ(lo, 0.0);
    JN_CHECK_DBL_EQ(hi, 50.0);
    JN_REQUIRE(jn_qstat_observe_hist(&st, x, 10001) == 0);
    jn_qstat_range(&st, JN_QUANT_PERCENTILE, 99.9, &lo, &hi);
    JN_CHECK_DBL_EQ(lo, 0.0);
    JN_CHECK(hi >= 0.99 && hi < 1.1); /* the outlier is clipped, the bulk kept (bins of 50/2048) */
    jn_qstat_free(&st);
}

static void test_entropy(void)
{
    enum { N = 200000 };
    float *x = malloc(N * sizeof *x);
    JN_REQUIRE(x);
    for (int i = 0; i < N; i++)
        x[i] = (float)gauss();
    x[0] = 40.0f;
    x[1] = -35.0f;
    jn_qstat st;
    jn_qstat_init(&st);
    jn_qstat_observe(&st, x, N);
    JN_REQUIRE(jn_qstat_observe_hist(&st, x, N) == 0);
    double lo, hi;
    jn_qstat_range(&st, JN_QUANT_ENTROPY, 0, &lo, &hi);
    printf("entropy clip of N(0,1) with outliers at -35, 40: [%.3f, %.3f]\n", lo, hi);
    JN_CHECK(hi > 3.0 && hi < 15.0);
    JN_CHECK(lo < -3.0 && lo > -15.0);
    jn_qstat_free(&st);

    /* a uniform distribution: nothing to clip */
    for (int i = 0; i < N; i++)
        x[i] = (float)uniform() * 4.0f;
    jn_qstat_init(&st);
    jn_qstat_observe(&st, x, N);
    JN_REQUIRE(jn_qstat_observe_hist(&st, x, N) == 0);
    jn_qstat_range(&st, JN_QUANT_ENTROPY, 0, &lo, &hi);
    printf("entropy clip of U(0,4): [%.3f, %.3f]\n", lo, hi);
    JN_CHECK(hi > 3.8);
    jn_qstat_free(&st);
    free(x);
}

/* The shipped fashion-cnn exported to ONNX, as bytes. */
static uint8_t *fashion_onnx(size_t *len)
{
    jn_tensor_list ts;
    jn_tensor_list_init(&ts);
    jn_err err = {0};
    jn_cnn m;
    JN_REQUIRE(jn_safetensors_read(JN_FASHION_WEIGHTS, &ts, NULL, &err) == 0);
    JN_REQUIRE(jn_cnn_from_tensors(&m, &ts, 28, 28, 1, "fashion-cnn", &err) == 0);
    jn_tensor_list_clear(&ts);
    char path[] = "/tmp/unit-quantize-XXXXXX";
    int fd = mkstemp(path);
    JN_REQUIRE(fd >= 0);
    close(fd);
    JN_REQUIRE(jn_onnx_export_cnn(&m, jn_fashion_labels, JN_FASHION_N_LABELS, "fashion-cnn", "x/255", path, &err) ==
               0);
    jn_cnn_free(&m);
    FILE *f = fopen(path, "rb");
    JN_REQUIRE(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n);
    JN_REQUIRE(buf && fread(buf, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    unlink(path);
    *len = (size_t)n;
    return buf;
}

static jn_tensor *images(int n)
{
    int64_t shape[4] = {n, 1, 28, 28};
    jn_err err = {0};
    jn_tensor *t = jn_tensor_create("input", JN_DTYPE_FP32, 4, shape, &err);
    JN_REQUIRE(t);
    float *p = t->data;
    for (int64_t i = 0; i < (int64_t)n * 784; i++)
        p[i] = (float)uniform();
    return t;
}

static void test_taps(void)
{
    size_t len;
    uint8_t *bytes = fashion_onnx(&len);
    jn_err err = {0};
    const char *taps[2] = {"relu1", "logits"};
    jn_onnx_model *plain = jn_onnx_load_bytes(bytes, len, "fashion", &err);
    jn_onnx_model *tapped = jn_onnx_load_bytes_tapped(bytes, len, "fashion", taps, 2, &err);
    JN_REQUIRE(plain && tapped);
    jn_tensor_list in, a, b;
    jn_tensor_list_init(&in);
    jn_tensor_list_init(&a);
    jn_tensor_list_init(&b);
    JN_REQUIRE(jn_tensor_list_push(&in, images(3)) == 0);
    JN_REQUIRE(jn_onnx_run(plain, &in, &a, &err) == 0);
    JN_REQUIRE(jn_onnx_run(tapped, &in, &b, &err) == 0);
    JN_CHECK_INT_EQ(a.count, 1);
    JN_REQUIRE(b.count == 3);
    JN_CHECK_STR_EQ(b.items[1]->name, "relu1");
    JN_CHECK_STR_EQ(b.items[2]->name, "logits");
    JN_CHECK(memcmp(a.items[0]->data, b.items[0]->data, a.items[0]->byte_size) == 0);
    const jn_tensor *r = b.items[1];
    JN_CHECK_INT_EQ(r->ndim, 4);
    JN_CHECK_INT_EQ(r->shape[0], 3);
    JN_CHECK_INT_EQ(r->shape[1], 16);
    float mn = INFINITY, mx = -INFINITY;
    for (size_t i = 0; i < r->byte_size / 4; i++) {
        mn = fminf(mn, ((float *)r->data)[i]);
        mx = fmaxf(mx, ((float *)r->data)[i]);
    }
    JN_CHECK(mn == 0.0f && mx > 0.0f);
    JN_CHECK_INT_EQ(b.items[2]->shape[1], 10);
    jn_tensor_list_clear(&in);
    jn_tensor_list_clear(&a);
    jn_tensor_list_clear(&b);
    jn_onnx_free(plain);
    jn_onnx_free(tapped);

    const char *unknown[1] = {"nope"}, *twice[2] = {"relu1", "relu1"}, *output[1] = {"scores"};
    JN_CHECK(!jn_onnx_load_bytes_tapped(bytes, len, "fashion", unknown, 1, &err));
    JN_CHECK_STR_CONTAINS(err.msg, "'nope'");
    JN_CHECK(!jn_onnx_load_bytes_tapped(bytes, len, "fashion", twice, 2, &err));
    JN_CHECK_STR_CONTAINS(err.msg, "'relu1'");
    JN_CHECK(!jn_onnx_load_bytes_tapped(bytes, len, "fashion", output, 1, &err));
    JN_CHECK_STR_CONTAINS(err.msg, "already a graph output");
    const char *input[1] = {"input"}, *weight[1] = {"conv1.weight"};
    JN_CHECK(!jn_onnx_load_bytes_tapped(bytes, len, "fashion", input, 1, &err));
    JN_CHECK_STR_CONTAINS(err.msg, "graph input");
    JN_CHECK(!jn_onnx_load_bytes_tapped(bytes, len, "fashion", weight, 1, &err));
    JN_CHECK_STR_CONTAINS(err.msg, "constant");
    free(bytes);
}

static void test_plan(void)
{
    size_t len;
    uint8_t *bytes = fashion_onnx(&len);
    jn_err err = {0};
    jn_quant_plan *p = NULL;
    jn_quant_options o = {.method = JN_QUANT_ENTROPY, .per_channel = true};
    JN_CHECK_INT_EQ(jn_quant_plan_create((const uint8_t *)"garbage!", 8, "bad.onnx", &o, &p, &err), JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "bad.onnx");
    JN_REQUIRE(jn_quant_plan_create(bytes, len, "fashion", &o, &p, &err) == 0);
    JN_CHECK_INT_EQ(jn_quant_passes(p), 2);
    /* input, relu1, relu2, relu3, logits (the MaxPool / Flatten outputs take their inputs' parameters) */
    JN_CHECK_INT_EQ(jn_quant_n_calibrated(p), 5);
    const char *const *taps;
    size_t n_taps = jn_quant_taps(p, &taps);
    JN_REQUIRE(n_taps == 4);
    JN_CHECK_STR_EQ(taps[0], "relu1");
    JN_CHECK_STR_EQ(taps[3], "logits");
    jn_onnx_model *m = jn_onnx_load_bytes_tapped(bytes, len, "fashion", taps, n_taps, &err);
    JN_REQUIRE(m);
    jn_tensor_list in;
    jn_tensor_list_init(&in);
    JN_REQUIRE(jn_tensor_list_push(&in, images(32)) == 0);
    for (int pass = 0; pass < 2; pass++) {
        jn_tensor_list out;
        jn_tensor_list_init(&out);
        JN_REQUIRE(jn_onnx_run(m, &in, &out, &err) == 0);
        for (size_t i = 0; i < jn_quant_n_calibrated(p); i++) {
            const char *name = jn_quant_calibrated_name(p, i);
            jn_tensor *t = jn_tensor_list_find(&out, name);
            if (!t)
                t = jn_tensor_list_find(&in, name);
            JN_REQUIRE(t);
            JN_CHECK_INT_EQ(jn_quant_observe(p, i, pass, t->data, t->byte_size / 4, &err), 0);
        }
        jn_tensor_list_clear(&out);
    }
    double lo, hi;
    jn_quant_range(p, 0, &lo, &hi);
    JN_CHECK(lo >= 0 && hi <= 1.0 && hi > 0.9); /* the input: uniform [0, 1) */
    char path[] = "/tmp/unit-quantize-q-XXXXXX";
    int fd = mkstemp(path);
    JN_REQUIRE(fd >= 0);
    close(fd);
    jn_quant_summary sum;
    JN_REQUIRE(jn_quant_write(p, path, "unit test", &sum, &err) == 0);
    JN_CHECK_INT_EQ(sum.nodes, 4);
    JN_CHECK_INT_EQ(sum.weights, 4);
    JN_CHECK_INT_EQ(sum.int32_biases, 4);
    JN_CHECK_INT_EQ(sum.activations, 7);
    JN_CHECK(sum.bytes_out * 10 < sum.bytes_in * 3);
    jn_onnx_model *q = jn_onnx_load_file(path, &err);
    JN_REQUIRE(q);
    jn_onnx_model *f = jn_onnx_load_bytes(bytes, len, "fashion", &err);
    jn_tensor_list a, b;
    jn_tensor_list_init(&a);
    jn_tensor_list_init(&b);
    JN_REQUIRE(jn_onnx_run(f, &in, &a, &err) == 0 && jn_onnx_run(q, &in, &b, &err) == 0);
    double maxdiff = 0;
    for (size_t i = 0; i < a.items[0]->byte_size / 4; i++)
        maxdiff = fmax(maxdiff, fabs(((float *)a.items[0]->data)[i] - ((float *)b.items[0]->data)[i]));
    printf("QDQ vs FP32 on 32 random images: max |dp| = %.4f\n", maxdiff);
    JN_CHECK(maxdiff < 0.2);
    JN_CHECK(jn_quant_write(p, "/nonexistent-dir/q.onnx", NULL, &sum, &err) == JN_EIO);
    JN_CHECK_STR_CONTAINS(err.msg, "/nonexistent-dir/q.onnx");
    unlink(path);
    jn_tensor_list_clear(&in);
    jn_tensor_list_clear(&a);
    jn_tensor_list_clear(&b);
    jn_onnx_free(m);
    jn_onnx_free(q);
    jn_onnx_free(f);
    jn_quant_plan_free(p);
    free(bytes);
}

int main(void)
{
    JN_TEST_RUN(test_params);
    JN_TEST_RUN(test_minmax_and_percentile);
    JN_TEST_RUN(test_entropy);
    JN_TEST_RUN(test_taps);
    JN_TEST_RUN(test_plan);
    return JN_TEST_EXIT();
}
