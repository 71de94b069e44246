/* test_cnn_prune.c — engines/vision/cnn_prune: channel pruning removes the right channels and their inputs in the
 * next layer (a network whose lowest-L1 channels are dead gives the same logits after pruning, through the training
 * forward pass and the packed serving one), the kept counts follow the ratio, magnitude pruning zeroes exactly the
 * smallest weights of each tensor and the mask keeps them zero; ratios outside (0, 1) are refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn.h"
#include "cnn_prune.h"
#include "test.h"

static void randomize(jn_cnn *m, uint64_t s)
{
    for (size_t j = 0; j < m->n_params; j++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        m->params[j] = (float)((double)(s >> 40) / (double)(1 << 24) - 0.5);
    }
}

/* Logits of x through the training forward pass and through the packed serving pass. */
static void logits_of(const jn_cnn *m, const float *x, int n, float *train, float *serve)
{
    jn_cnn_work *w = jn_cnn_work_create(&m->a, n);
    jn_cnn_packed *pk = jn_cnn_pack(m);
    JN_REQUIRE(w && pk);
    jn_cnn_forward(m, w, x, n, train);
    jn_cnn_infer(pk, w, x, n, serve);
    jn_cnn_packed_free(pk);
    jn_cnn_work_destroy(w);
}

static void test_channels_equivalent(void)
{
    jn_cnn_arch a = {.h = 8, .w = 8, .c = 2, .k = 3, .c1 = 6, .c2 = 8, .hidden = 10, .classes = 5};
    jn_cnn m, p;
    jn_err err = {0};
    JN_REQUIRE(jn_cnn_init(&m, &a, 3, &err) == 0);
    randomize(&m, 11);
    /* Dead channels (zero filter and bias: ReLU(0) = 0, nothing reaches the next layer) have the smallest L1. */
    const int dead1[3] = {1, 4, 5}, dead2[4] = {0, 3, 6, 7};
    size_t f1 = (size_t)a.k * a.k * a.c, f2 = (size_t)a.k * a.k * a.c1;
    for (int i = 0; i < 3; i++) {
        memset(m.p[0] + dead1[i] * f1, 0, f1 * sizeof(float));
        m.p[1][dead1[i]] = 0.0f;
    }
    for (int i = 0; i < 4; i++) {
        memset(m.p[2] + dead2[i] * f2, 0, f2 * sizeof(float));
        m.p[3][dead2[i]] = -0.25f; /* negative bias: ReLU still 0, and the L1 of the weights is what ranks */
    }
    JN_REQUIRE(jn_cnn_prune_channels(&m, 0.5, &p, &err) == 0);
    JN_CHECK_INT_EQ(p.a.c1, 3);
    JN_CHECK_INT_EQ(p.a.c2, 4);
    JN_CHECK_INT_EQ(p.a.hidden, a.hidden);
    JN_CHECK_INT_EQ(p.len[2], (size_t)4 * a.k * a.k * 3);
    JN_CHECK_INT_EQ(p.len[4], (size_t)a.hidden * 2 * 2 * 4);
    /* The kept conv1 filters are 0, 2, 3 in order. */
    JN_CHECK(memcmp(p.p[0], m.p[0], f1 * sizeof(float)) == 0);
    JN_CHECK(memcmp(p.p[0] + f1, m.p[0] + 2 * f1, 2 * f1 * sizeof(float)) == 0);
    int n = 3;
    float x[3 * 8 * 8 * 2];
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
        x[i] = (float)((i * 37 % 101) / 101.0);
    float t0[15], s0[15], t1[15], s1[15];
    logits_of(&m, x, n, t0, s0);
    logits_of(&p, x, n, t1, s1);
    double worst = 0;
    for (int i = 0; i < n * a.classes; i++) {
        worst = fmax(worst, fabs((double)t0[i] - t1[i]));
        worst = fmax(worst, fabs((double)s0[i] - s1[i]));
    }
    JN_CHECK(worst < 1e-5);
    if (worst >= 1e-5)
        fprintf(stderr, "largest logit difference %g\n", worst);
    jn_cnn_free(&p);
    /* Live channels removed: the logits change (the check above is not vacuous). */
    randomize(&m, 12);
    JN_REQUIRE(jn_cnn_prune_channels(&m, 0.5, &p, &err) == 0);
    logits_of(&m, x, n, t0, s0);
    logits_of(&p, x, n, t1, s1);
    worst = 0;
    for (int i = 0; i < n * a.classes; i++)
        worst = fmax(worst, fabs((double)s0[i] - s1[i]));
    JN_CHECK(worst > 1e-3);
    jn_cnn_free(&p);
    jn_cnn_free(&m);
}

static void test_keep_counts(void)
{
    JN_CHECK_INT_EQ(jn_cnn_prune_keep(16, 0.5), 8);
    JN_CHECK_INT_EQ(jn_cnn_prune_keep(32, 0.25), 24);
    JN_CHECK_INT_EQ(jn_cnn_prune_keep(16, 0.25), 12);
    JN_CHECK_INT_EQ(jn_cnn_prune_keep(3, 0.9), 1); /* at least one channel stays */
    JN_CHECK_INT_EQ(jn_cnn_prune_keep(5, 0.05), 5); /* round(0.25) = 0 removed */
}

static void test_magnitude(void)
{
    jn_cnn_arch a = {.h = 8, .w = 8, .c = 1, .k = 3, .c1 = 4, .c2 = 6, .hidden = 7, .classes = 3};
    jn_cnn m, orig;
    jn_err err = {0};
    JN_REQUIRE(jn_cnn_init(&m, &a, 5, &err) == 0 && jn_cnn_init(&orig, &a, 5, &err) == 0);
    randomize(&m, 21);
    memcpy(orig.params, m.params, m.n_params * sizeof(float));
    jn_cnn_mask mask;
    JN_REQUIRE(jn_cnn_prune_magnitude(&m, 0.3, &mask, &err) == 0);
    size_t zeroed = 0, weights = 0;
    for (int p = 0; p < JN_CNN_N_PARAMS; p++) {
        size_t z = 0;
        double max_zeroed = 0, min_kept = INFINITY;
        for (size_t i = 0; i < m.len[p]; i++) {
            if (m.p[p][i] == 0.0f) {
                z++;
                max_zeroed = fmax(max_zeroed, fabs(orig.p[p][i]));
            } else {
                JN_CHECK(m.p[p][i] == orig.p[p][i]);
                min_kept = fmin(min_kept, fabs(orig.p[p][i]));
            }
        }
        if (p % 2) { /* biases are kept */
            JN_CHECK_INT_EQ(z, 0);
            continue;
        }
        JN_CHECK_INT_EQ(z, (size_t)llround(m.len[p] * 0.3));
        JN_CHECK(max_zeroed <= min_kept);
        zeroed += z;
        weights += m.len[p];
    }
    JN_CHECK_INT_EQ(mask.zeroed, zeroed);
    JN_CHECK_INT_EQ(mask.weights, weights);
    JN_CHECK_INT_EQ(jn_cnn_nonzero(&m), m.n_params - zeroed);
    /* An optimizer step moves every weight; the mask puts the pruned ones back to zero. */
    for (size_t i = 0; i < m.n_params; i++)
        m.params[i] += 0.01f;
    jn_cnn_mask_apply(&m, &mask);
    JN_CHECK_INT_EQ(jn_cnn_nonzero(&m), m.n_params - zeroed);
    jn_cnn_mask_free(&mask);
    jn_cnn_free(&orig);
    jn_cnn_free(&m);
}

static void test_bad_ratios(void)
{
    jn_cnn_arch a = jn_cnn_default_arch();
    jn_cnn m, p;
    jn_err err = {0};
    JN_REQUIRE(jn_cnn_init(&m, &a, 1, &err) == 0);
    JN_CHECK_ERR(jn_cnn_prune_channels(&m, 1.0, &p, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "(0, 1)");
    JN_CHECK_ERR(jn_cnn_prune_channels(&m, 0.0, &p, &err), err, JN_EINVAL);
    jn_cnn_mask mask;
    JN_CHECK_ERR(jn_cnn_prune_magnitude(&m, -0.5, &mask, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "sparsity");
    JN_CHECK_ERR(jn_cnn_prune_magnitude(&m, NAN, &mask, &err), err, JN_EINVAL);
    jn_cnn_free(&m);
}

int main(void)
{
    JN_TEST_RUN(test_channels_equivalent);
    JN_TEST_RUN(test_keep_counts);
    JN_TEST_RUN(test_magnitude);
    JN_TEST_RUN(test_bad_ratios);
    return JN_TEST_EXIT();
}
