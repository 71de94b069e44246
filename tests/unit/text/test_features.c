/* Tokenizer, hashing, features and the linear softmax of engines/text (text.h). */
#include <math.h>

#include "test.h"
#include "text/text.h"

typedef struct toks {
    char buf[1024];
    size_t len;
    int count;
} toks;

/* Joins tokens with '|'. */
static int collect(void *arg, const char *tok, size_t len)
{
    toks *t = arg;
    if (t->len + len + 2 < sizeof t->buf) {
        if (t->count++)
            t->buf[t->len++] = '|';
        memcpy(t->buf + t->len, tok, len);
        t->len += len;
        t->buf[t->len] = '\0';
    }
    return 0;
}

static const char *tok(const char *s, bool stop, toks *t)
{
    memset(t, 0, sizeof *t);
    JN_CHECK_INT_EQ(jn_text_tokenize((const uint8_t *)s, strlen(s), stop, collect, t), 0);
    return t->buf;
}

static void test_tokenize(void)
{
    toks t;
    JN_CHECK_STR_EQ(tok("Hello, World! It's 2024.", false, &t), "hello|world|it's|2024");
    JN_CHECK_STR_EQ(tok("  ...  ", false, &t), "");
    JN_CHECK_STR_EQ(tok("", false, &t), "");
    /* CJK characters are tokens of their own, also inside Latin text. */
    JN_CHECK_STR_EQ(tok("我爱NLP和東京", false, &t), "我|爱|nlp|和|東|京");
    JN_CHECK_STR_EQ(tok("こんにちは", false, &t), "こ|ん|に|ち|は");
    JN_CHECK_STR_EQ(tok("한국어 text", false, &t), "한|국|어|text");
    /* Accented and other scripts: lower-cased, kept inside words. */
    JN_CHECK_STR_EQ(tok("ÉCOLE Straße ŁÓDŹ", false, &t), "école|straße|łódź");
    JN_CHECK_STR_EQ(tok("ΑΘΗΝΑ Москва", false, &t), "αθηνα|москва");
    /* Punctuation: ASCII, Latin-1 (« »), general (— …), CJK (。，). */
    JN_CHECK_STR_EQ(tok("«quote» a—b… 你好。世界，ok", false, &t), "quote|a|b|你|好|世|界|ok");
    /* Stop words. */
    JN_CHECK_STR_EQ(tok("The cat is on the mat", true, &t), "cat|mat");
    JN_CHECK_STR_EQ(tok("The cat is on the mat", false, &t), "the|cat|is|on|the|mat");
}

static void test_lower_and_stopwords(void)
{
    JN_CHECK_INT_EQ(jn_text_lower('A'), 'a');
    JN_CHECK_INT_EQ(jn_text_lower(0xC9), 0xE9);   /* É */
    JN_CHECK_INT_EQ(jn_text_lower(0xD7), 0xD7);   /* × */
    JN_CHECK_INT_EQ(jn_text_lower(0x141), 0x142); /* Ł */
    JN_CHECK_INT_EQ(jn_text_lower(0x104), 0x105); /* Ą */
    JN_CHECK_INT_EQ(jn_text_lower(0x105), 0x105);
    JN_CHECK_INT_EQ(jn_text_lower(0x179), 0x17A); /* Ź */
    JN_CHECK_INT_EQ(jn_text_lower(0x416), 0x436); /* Ж */
    JN_CHECK_INT_EQ(jn_text_lower(0x4E00), 0x4E00);
    JN_CHECK(jn_text_is_stopword("the", 3));
    JN_CHECK(jn_text_is_stopword("yourselves", 10));
    JN_CHECK(jn_text_is_stopword("a", 1));
    JN_CHECK(jn_text_is_stopword("it's", 4));
    JN_CHECK(!jn_text_is_stopword("cat", 3));
    JN_CHECK(!jn_text_is_stopword("th", 2));
}

static void test_hash_stable(void)
{
    /* FNV-1a 32 reference values. */
    JN_CHECK_INT_EQ(jn_text_fnv1a(JN_FNV_OFFSET, "", 0), 0x811c9dc5u);
    JN_CHECK_INT_EQ(jn_text_fnv1a(JN_FNV_OFFSET, "a", 1), 0xe40c292cu);
    JN_CHECK_INT_EQ(jn_text_fnv1a(JN_FNV_OFFSET, "foobar", 6), 0xbf9cf968u);
    /* Features are a pure function of (config, text): pinned so shipped models keep working. */
    jn_text_hash_config cfg = jn_text_hash_defaults();
    jn_text_sparse a = {0}, b = {0};
    const char *s = "Win money now";
    JN_REQUIRE(jn_text_features(&cfg, (const uint8_t *)s, strlen(s), &a) == 0);
    JN_REQUIRE(jn_text_features(&cfg, (const uint8_t *)s, strlen(s), &b) == 0);
    JN_CHECK_INT_EQ(a.n, b.n);
    JN_CHECK(a.n > 0 && memcmp(a.idx, b.idx, a.n * sizeof *a.idx) == 0);
    /* 3 unigrams + 2 bigrams + char n-grams of <win> (3+2+1), <money> (5+4+3), <now> (3+2+1) = 29, minus collisions. */
    JN_CHECK(a.n >= 27 && a.n <= 29);
    for (size_t i = 1; i < a.n; i++)
        JN_CHECK(a.idx[i] > a.idx[i - 1]);
    for (size_t i = 0; i < a.n; i++)
        JN_CHECK(a.idx[i] < (1u << cfg.dim_bits));
    /* Another seed, other buckets. */
    cfg.seed = 7;
    JN_REQUIRE(jn_text_features(&cfg, (const uint8_t *)s, strlen(s), &b) == 0);
    JN_CHECK(memcmp(a.idx, b.idx, a.n * sizeof *a.idx) != 0);
    jn_text_sparse_free(&a);
    jn_text_sparse_free(&b);
}

static void test_features_norm(void)
{
    jn_text_hash_config cfg = jn_text_hash_defaults();
    jn_text_sparse x = {0};
    const char *texts[] = {"spam spam spam spam eggs", "日本語のテキスト", "Ünïcödé wörds and ASCII", "x"};
    for (size_t t = 0; t < sizeof texts / sizeof *texts; t++) {
        JN_REQUIRE(jn_text_features(&cfg, (const uint8_t *)texts[t], strlen(texts[t]), &x) == 0);
        double n2 = 0;
        for (size_t i = 0; i < x.n; i++)
            n2 += (double)x.val[i] * x.val[i];
        JN_CHECK(fabs(sqrt(n2) - 1.0) < 1e-5);
    }
    /* Sublinear TF: "spam" x4 weighs 1 + ln 4 relative to "eggs" at 1 (compare the word unigram features). */
    cfg.char_max = 0;
    cfg.word_ngrams = 1;
    JN_REQUIRE(jn_text_features(&cfg, (const uint8_t *)texts[0], strlen(texts[0]), &x) == 0);
    JN_REQUIRE(x.n == 2);
    float hi = x.val[0] > x.val[1] ? x.val[0] : x.val[1], lo = x.val[0] > x.val[1] ? x.val[1] : x.val[0];
    JN_CHECK(fabs(hi / lo - (1.0 + log(4.0))) < 1e-4);
    JN_REQUIRE(jn_text_features(&cfg, (const uint8_t *)"", 0, &x) == 0);
    JN_CHECK_INT_EQ(x.n, 0);
    jn_text_sparse_free(&x);
}

static void test_gradient(void)
{
    /* Finite differences on a small model: D = 2^8, K = 3. */
    jn_text_hash_config cfg = jn_text_hash_defaults();
    cfg.dim_bits = 8;
    jn_text_sparse x = {0};
    const char *s = "gradient check on a few words";
    JN_REQUIRE(jn_text_features(&cfg, (const uint8_t *)s, strlen(s), &x) == 0);
    size_t d = 256, k = 3;
    float w[256 * 3], b[3], gw[256 * 3] = {0}, gb[3] = {0};
    uint32_t r = 12345;
    for (size_t i = 0; i < d * k; i++) {
        r = r * 1664525u + 1013904223u;
        w[i] = ((float)(r >> 8) / (float)(1 << 24) - 0.5f);
    }
    b[0] = 0.1f, b[1] = -0.2f, b[2] = 0.05f;
    jn_text_linear m = {.dim = d, .k = k, .w = w, .b = b};
    int pred;
    float loss = jn_text_linear_backward(&m, &x, 1, 1.0f, gw, gb, &pred);
    JN_CHECK(loss > 0);
    float p[3];
    double h = 1e-3, worst = 0;
    for (size_t j = 0; j < x.n; j += 3)
        for (size_t c = 0; c < k; c++) {
            float *wp = &w[x.idx[j] * k + c], keep = *wp;
            *wp = keep + (float)h;
            jn_text_linear_forward(&m, &x, p);
            double lp = -log(p[1]);
            *wp = keep - (float)h;
            jn_text_linear_forward(&m, &x, p);
            double lm = -log(p[1]);
            *wp = keep;
            double num = (lp - lm) / (2 * h), diff = fabs(num - gw[x.idx[j] * k + c]);
            worst = diff > worst ? diff : worst;
        }
    for (size_t c = 0; c < k; c++) {
        float keep = b[c];
        b[c] = keep + (float)h;
        jn_text_linear_forward(&m, &x, p);
        double lp = -log(p[1]);
        b[c] = keep - (float)h;
        jn_text_linear_forward(&m, &x, p);
        double lm = -log(p[1]);
        b[c] = keep;
        double diff = fabs((lp - lm) / (2 * h) - gb[c]);
        worst = diff > worst ? diff : worst;
    }
    if (worst >= 2e-3)
        fprintf(stderr, "worst gradient difference %g\n", worst);
    JN_CHECK(worst < 2e-3);
    jn_text_sparse_free(&x);
}

static void test_embed(void)
{
    float a[256], b[256], c[256];
    const char *s1 = "The quick brown fox jumps over the lazy dog";
    const char *s2 = "A quick brown fox jumped over a lazy dog";
    const char *s3 = "Quarterly earnings exceeded analyst expectations";
    JN_REQUIRE(jn_text_embed((const uint8_t *)s1, strlen(s1), a, 256) == 0);
    JN_REQUIRE(jn_text_embed((const uint8_t *)s2, strlen(s2), b, 256) == 0);
    JN_REQUIRE(jn_text_embed((const uint8_t *)s3, strlen(s3), c, 256) == 0);
    double n = 0, ab = 0, ac = 0;
    for (int i = 0; i < 256; i++) {
        n += (double)a[i] * a[i];
        ab += (double)a[i] * b[i];
        ac += (double)a[i] * c[i];
    }
    JN_CHECK(fabs(n - 1) < 1e-5);
    if (!(ab > ac + 0.3))
        fprintf(stderr, "cos(similar) %f cos(unrelated) %f\n", ab, ac);
    JN_CHECK(ab > ac + 0.3);
}

int main(void)
{
    JN_TEST_RUN(test_tokenize);
    JN_TEST_RUN(test_lower_and_stopwords);
    JN_TEST_RUN(test_hash_stable);
    JN_TEST_RUN(test_features_norm);
    JN_TEST_RUN(test_gradient);
    JN_TEST_RUN(test_embed);
    return JN_TEST_EXIT();
}
