/* The spam-text trainer (engines/text/text_train.c) on a tiny synthetic set: it learns, writes a loadable
 * checkpoint and model card, and continues from --init. */
#include <jansson.h>
#include <math.h>
#include <unistd.h>

#include "test.h"
#include "text/text.h"
#include "trainer.h"

/* Stands in for trainers.c (whose table names every trainer) when the test links on its own. */
__attribute__((weak)) void jn_train_progress(int epoch, int epochs, long done, long total, double loss, double acc,
                                             double ex_per_s, bool quiet)
{
}

static const char *pos_words[] = {"free", "money", "winner", "prize", "cash", "offer", "click", "viagra"};
static const char *neg_words[] = {"meeting", "patch", "kernel", "review", "lunch", "thanks", "build", "debian"};
static const char *filler[] = {"the", "today", "please", "see", "attached", "we", "you", "now"};

static void write_set(const char *path, int n, uint32_t seed)
{
    FILE *f = fopen(path, "w");
    JN_REQUIRE(f);
    uint32_t r = seed;
    for (int i = 0; i < n; i++) {
        int y = i % 2;
        fprintf(f, "{\"text\": \"");
        for (int w = 0; w < 8; w++) {
            r = r * 1664525u + 1013904223u;
            const char **set = (r >> 28) < 6 ? (y ? pos_words : neg_words) : filler;
            fprintf(f, "%s ", set[(r >> 16) % 8]);
        }
        fprintf(f, "\", \"label\": \"%s\"}\n", y ? "spam" : "ham");
    }
    fclose(f);
}

static double card_number(const char *path, const char *a, const char *b, const char *c)
{
    json_t *j = json_load_file(path, 0, NULL);
    json_t *v = json_object_get(json_object_get(json_object_get(j, a), b), c);
    double x = json_is_number(v) ? json_number_value(v) : -1;
    json_decref(j);
    return x;
}

static void test_train(void)
{
    char dir[] = "/tmp/jn-text-train-XXXXXX";
    JN_REQUIRE(mkdtemp(dir));
    char train[256], test[256], out[256], st[256], card[256], out2[256], st2[256], card2[256];
    snprintf(train, sizeof train, "%s/train.jsonl", dir);
    snprintf(test, sizeof test, "%s/test.jsonl", dir);
    snprintf(out, sizeof out, "%s/m", dir);
    snprintf(st, sizeof st, "%s/m.safetensors", dir);
    snprintf(card, sizeof card, "%s/m.json", dir);
    snprintf(out2, sizeof out2, "%s/m2", dir);
    snprintf(st2, sizeof st2, "%s/m2.safetensors", dir);
    snprintf(card2, sizeof card2, "%s/m2.json", dir);
    write_set(train, 200, 1);
    write_set(test, 60, 99);

    jn_train_options opt = {.data = train, .test_data = test, .out = out, .epochs = 3, .batch_size = 16,
                            .seed = 42, .validation_split = 0.2, .quiet = true};
    opt.optim = jn_optim_defaults(JN_OPTIM_ADAM);
    opt.optim.lr = 0.05f;
    jn_err err = {0};
    int rc = jn_train_spam_text(&opt, &err);
    JN_CHECK_ERR(rc, err, 0);
    JN_CHECK(access(st, R_OK) == 0);
    double acc = card_number(card, "metrics", "test", "accuracy");
    JN_CHECK(acc >= 0.9);
    double val = card_number(card, "metrics", "validation", "accuracy");
    JN_CHECK(val >= 0.85);

    jn_text_model m;
    rc = jn_text_model_load(st, &m, &err);
    JN_CHECK_ERR(rc, err, 0);
    if (rc == 0) {
        JN_CHECK_INT_EQ(m.lin.k, 2);
        JN_CHECK_STR_EQ(m.labels[0], "ham");
        JN_CHECK_STR_EQ(m.labels[1], "spam");
        JN_CHECK_INT_EQ(m.cfg.dim_bits, 17);
        jn_text_sparse x = {0};
        float p[2];
        const char *s = "free cash prize winner click now";
        JN_REQUIRE(jn_text_features(&m.cfg, (const uint8_t *)s, strlen(s), &x) == 0);
        jn_text_linear_forward(&m.lin, &x, p);
        JN_CHECK(p[1] > 0.8f);
        jn_text_sparse_free(&x);
        jn_text_model_free(&m);
    }

    /* One plain-SGD epoch from the checkpoint: the loss starts low (the weights were loaded). */
    opt.init = st;
    opt.out = out2;
    opt.epochs = 1;
    opt.optim = jn_optim_defaults(JN_OPTIM_SGD);
    opt.optim.lr = 0.1f;
    rc = jn_train_spam_text(&opt, &err);
    JN_CHECK_ERR(rc, err, 0);
    JN_CHECK(card_number(card2, "metrics", "test", "accuracy") >= 0.9);

    /* Training from scratch for one SGD epoch with a tiny rate barely moves: the loss stays near ln 2. */
    opt.init = NULL;
    opt.optim.lr = 1e-4f;
    opt.optim.momentum = 0;
    rc = jn_train_spam_text(&opt, &err);
    JN_CHECK_ERR(rc, err, 0);
    double l0 = card_number(card2, "metrics", "test", "loss");
    JN_CHECK(fabs(l0 - log(2.0)) < 0.01);
    double l1 = card_number(card, "metrics", "test", "loss");
    JN_CHECK(l1 < l0 * 0.8);

    /* Errors: a line that is not an example, a missing file. */
    FILE *f = fopen(train, "a");
    fprintf(f, "{\"text\": 3}\n");
    fclose(f);
    rc = jn_train_spam_text(&opt, &err);
    JN_CHECK_ERR(rc, err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "train.jsonl:201");
    opt.data = "/nonexistent.jsonl";
    rc = jn_train_spam_text(&opt, &err);
    JN_CHECK_ERR(rc, err, JN_ENOTFOUND);

    unlink(train), unlink(test), unlink(st), unlink(card), unlink(st2), unlink(card2);
    rmdir(dir);
}

int main(void)
{
    JN_TEST_RUN(test_train);
    return JN_TEST_EXIT();
}
