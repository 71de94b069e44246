/* test_cnn_grad.c — engines/vision/cnn: the backward pass against central finite differences of the loss, on small
 * networks computed in FP32 (8x8x2 input with 3x3 kernels; 8x8x1 with 5x5 kernels, where the forward pass takes its
 * one-channel first-layer path and backward the general one, so each checks the other); plus checkpoint tensors
 * round-trip. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn.h"
#include "test.h"

static double loss_of(const jn_cnn *m, jn_cnn_work *w, const float *x, const int *y, int n, float *logits)
{
    jn_cnn_forward(m, w, x, n, logits);
    return jn_cnn_softmax_xent(logits, y, n, m->a.classes, NULL, NULL);
}

static void check_gradients(jn_cnn_arch a)
{
    jn_cnn m;
    jn_err err = {0};
    JN_REQUIRE(jn_cnn_init(&m, &a, 42, &err) == 0);
    /* Non-zero biases so the ReLUs see both signs. */
    uint64_t s = 7;
    for (int i = 0; i < JN_CNN_N_PARAMS; i += 2)
        for (size_t j = 0; j < m.len[i + 1]; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            m.p[i + 1][j] = (float)((double)(s >> 40) / (double)(1 << 24) - 0.5) * 0.2f;
        }
    int n = 3;
    float x[3 * 8 * 8 * 2];
    JN_REQUIRE(a.h == 8 && a.w == 8 && a.c <= 2);
    int y[3] = {0, 3, 4};
    for (size_t i = 0; i < (size_t)n * 8 * 8 * a.c; i++)
        x[i] = (float)((i * 37 % 101) / 101.0);
    jn_cnn_work *w = jn_cnn_work_create(&a, n);
    JN_REQUIRE(w != NULL);
    float logits[3 * 5], dlogits[3 * 5];
    jn_cnn_forward(&m, w, x, n, logits);
    jn_cnn_softmax_xent(logits, y, n, a.classes, dlogits, NULL);
    jn_cnn_backward(&m, w, x, n, dlogits);
    float *analytic = malloc(m.n_params * sizeof(float));
    JN_REQUIRE(analytic != NULL);
    memcpy(analytic, m.grads, m.n_params * sizeof(float));

    /* Check every parameter of the small layers and a stride of the rest. A max-pool or ReLU kink crossed by the
     * perturbation spoils a single coordinate, so allow a few outliers but demand agreement overall. */
    const float eps = 1e-3f;
    int checked = 0, bad = 0;
    for (int l = 0; l < JN_CNN_N_PARAMS; l++) {
        size_t step = m.len[l] > 64 ? m.len[l] / 64 : 1;
        for (size_t j = 0; j < m.len[l]; j += step) {
            float *p = &m.p[l][j], keep = *p;
            *p = keep + eps;
            double lp = loss_of(&m, w, x, y, n, logits);
            *p = keep - eps;
            double lm = loss_of(&m, w, x, y, n, logits);
            *p = keep;
            double num = (lp - lm) / (2.0 * eps), an = analytic[(size_t)(m.p[l] - m.params) + j];
            double tol = 2e-3 + 2e-2 * fabs(num);
            checked++;
            if (fabs(num - an) > tol) {
                bad++;
                fprintf(stderr, "  %s[%zu]: numeric %.6g analytic %.6g\n", jn_cnn_param_names[l], j, num, an);
            }
        }
    }
    printf("  %d gradients checked, %d off\n", checked, bad);
    JN_CHECK_INT_GE(checked, 200);
    JN_CHECK_INT_LT(bad * 50, checked); /* < 2% */
    free(analytic);
    jn_cnn_work_destroy(w);
    jn_cnn_free(&m);
}

static void test_gradients(void)
{
    check_gradients((jn_cnn_arch){.h = 8, .w = 8, .c = 2, .k = 3, .c1 = 3, .c2 = 4, .hidden = 6, .classes = 5});
}

static void test_gradients_one_channel(void)
{
    check_gradients((jn_cnn_arch){.h = 8, .w = 8, .c = 1, .k = 5, .c1 = 3, .c2 = 4, .hidden = 6, .classes = 5});
}

static void test_tensors_roundtrip(void)
{
    jn_cnn_arch a = jn_cnn_default_arch();
    jn_cnn m, m2;
    jn_err err = {0};
    JN_REQUIRE(jn_cnn_init(&m, &a, 1, &err) == 0);
    jn_tensor_list ts;
    jn_tensor_list_init(&ts);
    JN_CHECK_ERR(jn_cnn_to_tensors(&m, &ts, &err), err, 0);
    JN_CHECK_INT_EQ(ts.count, JN_CNN_N_PARAMS);
    JN_CHECK_ERR(jn_cnn_from_tensors(&m2, &ts, 28, 28, 1, "ckpt", &err), err, 0);
    JN_CHECK_INT_EQ(m2.n_params, m.n_params);
    JN_CHECK(memcmp(m2.params, m.params, m.n_params * sizeof(float)) == 0);
    jn_cnn_free(&m2);
    /* A wrong input size is refused with both shapes named. */
    JN_CHECK_ERR(jn_cnn_from_tensors(&m2, &ts, 32, 32, 1, "ckpt", &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "fc1.weight");
    jn_tensor_free(jn_tensor_list_take(&ts, "fc2.bias"));
    JN_CHECK_ERR(jn_cnn_from_tensors(&m2, &ts, 28, 28, 1, "ckpt", &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "'fc2.bias' is missing");
    jn_tensor_list_clear(&ts);
    jn_cnn_free(&m);
}

int main(void)
{
    JN_TEST_RUN(test_gradients);
    JN_TEST_RUN(test_gradients_one_channel);
    JN_TEST_RUN(test_tensors_roundtrip);
    return JN_TEST_EXIT();
}
