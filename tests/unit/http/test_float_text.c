/* test_float_text.c — jn_float32_text (broker/http/float_text.h) against the way the REST front end printed floats
 * before (the snprintf/strtod loop, then jansson's json_dumps with JSON_REAL_PRECISION(9), taken through
 * jn__json_elem itself), byte for byte, and the round trip: strtof(text) and (float)strtod(text), what JSON readers
 * do, give back the very same bits. Edge cases, neighbours of every power of ten and two, and random bit patterns.
 * JN_FLOAT_TEXT_STRIDE=N additionally sweeps every N-th bit pattern (1 = all 2^32; not run by ctest). */
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "float_text.h"
#include "json_write.h"
#include "rest.h"
#include "test.h"

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t to_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* What the jansson path printed for element 0 of a one-element FP32 tensor holding f. */
static void jansson_text(jn_tensor *one, float f, char *out, size_t n)
{
    memcpy(one->data, &f, sizeof f);
    json_t *j = jn__json_elem(one, 0);
    char *s = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(9));
    snprintf(out, n, "%s", s ? s : "(null)");
    free(s);
    json_decref(j);
}

static long compared, failures_shown;

/* One value: same text as jansson (when `with_jansson`), and it reads back exactly. */
static void check_value(jn_tensor *one, float f, bool with_jansson)
{
    if (!isfinite(f))
        return;
    char text[JN_FLOAT32_TEXT_MAX + 1];
    size_t n = jn_float32_text(f, text);
    JN_REQUIRE(n > 0 && n <= JN_FLOAT32_TEXT_MAX);
    text[n] = '\0';
    compared++;
    bool bad = false;
    float back_f = strtof(text, NULL);
    float back_d = (float)strtod(text, NULL);
    if (to_bits(back_f) != to_bits(f) || to_bits(back_d) != to_bits(f))
        bad = true;
    char ref[64] = "";
    if (with_jansson) {
        jansson_text(one, f, ref, sizeof ref);
        if (strcmp(ref, text) != 0)
            bad = true;
    }
    JN__CHECKED();
    if (bad && failures_shown++ < 20)
        jn__test_fail(__FILE__, __LINE__, "bits 0x%08x (%.9g): text \"%s\", jansson \"%s\", strtof 0x%08x, strtod 0x%08x",
                      to_bits(f), (double)f, text, ref, to_bits(back_f), to_bits(back_d));
    else if (bad)
        atomic_fetch_add(&jn_test_failures, 1);
}

static jn_tensor *one_fp32(void)
{
    int64_t shape[1] = {1};
    jn_err err;
    jn_tensor *t = jn_tensor_create("x", JN_DTYPE_FP32, 1, shape, &err);
    JN_REQUIRE(t);
    return t;
}

static void test_known_texts(void)
{
    static const struct {
        float f;
        const char *text;
    } cases[] = {
        {0.0f, "0.0"},           {-0.0f, "-0.0"},         {1.0f, "1.0"},
        {2.0f, "2.0"},           {-1.25f, "-1.25"},       {0.85f, "0.85"},
        {0.1f, "0.1"},           {11.0625f, "11.0625"},   {1e-4f, "0.0001"},
        {1e-5f, "1e-5"},         {1.5e-5f, "1.5e-5"},     {123456789.0f, "123456790.0"},
        {1e9f, "1e9"},           {1e10f, "1e10"},         {16777216.0f, "16777216.0"},
        {FLT_MAX, "3.4028235e38"}, {-FLT_MAX, "-3.4028235e38"}, {FLT_MIN, "1.1754944e-38"},
        {1e-45f, "1.4013e-45"},    {3.14159274f, "3.1415927"}, {1.00000012f, "1.0000001"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[JN_FLOAT32_TEXT_MAX + 1];
        size_t n = jn_float32_text(cases[i].f, text);
        text[n] = '\0';
        JN_CHECK_STR_EQ(text, cases[i].text);
    }
}

static void test_edges(void)
{
    jn_tensor *one = one_fp32();
    float edges[] = {0.0f, -0.0f, FLT_MIN, -FLT_MIN, FLT_MAX, -FLT_MAX, FLT_TRUE_MIN, -FLT_TRUE_MIN,
                     nextafterf(FLT_MIN, 0), nextafterf(FLT_MAX, 0), 1.0f, nextafterf(1.0f, 2), nextafterf(1.0f, 0),
                     0.5f, 0.1f, 0.2f, 0.3f, 1.0f / 3, 2.0f / 3, 9.999999e-5f, 9.9999995e8f, 999999999.0f,
                     99999.99f, 0.000123456789f};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
        check_value(one, edges[i], true);
    /* Every power of two and ten in range, and 40 floats either side of each. */
    for (int k = -149; k <= 127; k++) {
        float p2 = ldexpf(1.0f, k);
        for (int d = -40; d <= 40; d++)
            check_value(one, from_bits(to_bits(p2) + (uint32_t)d), true);
    }
    for (int k = -45; k <= 38; k++) {
        float p10 = (float)pow(10.0, k);
        if (p10 == 0 || !isfinite(p10))
            continue;
        for (int d = -40; d <= 40; d++) {
            float f = from_bits(to_bits(p10) + (uint32_t)d);
            check_value(one, f, true);
            check_value(one, -f, true);
        }
    }
    /* All subnormals with a short mantissa, and every float in a stretch of [1, 2) and around 0.85. */
    for (uint32_t u = 1; u < 5000; u++)
        check_value(one, from_bits(u), true);
    for (uint32_t u = 0x3f800000u; u < 0x3f800000u + 20000; u++)
        check_value(one, from_bits(u), true);
    for (uint32_t u = to_bits(0.85f) - 10000; u < to_bits(0.85f) + 10000; u++)
        check_value(one, from_bits(u), true);
    jn_tensor_free(one);
}

static void test_random_bits(void)
{
    jn_tensor *one = one_fp32();
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (int i = 0; i < 300000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        check_value(one, from_bits((uint32_t)(x >> 16)), true);
    }
    /* values of the size models produce: uniform in (-100, 100) and softmax-like small positives */
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double u = (double)(x >> 11) / 9007199254740992.0;
        check_value(one, (float)(u * 200 - 100), true);
        check_value(one, (float)exp(-u * 40), true);
    }
    jn_tensor_free(one);
}

/* JN_FLOAT_TEXT_STRIDE=N: every N-th bit pattern, round trip and jansson text (slow: about 1 us per value). */
static void test_sweep(void)
{
    const char *env = getenv("JN_FLOAT_TEXT_STRIDE");
    if (!env)
        return;
    uint64_t stride = strtoull(env, NULL, 10);
    if (!stride)
        return;
    jn_tensor *one = one_fp32();
    for (uint64_t u = 0; u <= UINT32_MAX; u += stride)
        check_value(one, from_bits((uint32_t)u), true);
    jn_tensor_free(one);
}

static void test_json_float32(void)
{
    jn_json_buf b;
    jn_json_buf_init(&b, 0);
    jn_json_float32(&b, NAN);
    jn_json_lit(&b, ",");
    jn_json_float32(&b, INFINITY);
    jn_json_lit(&b, ",");
    jn_json_float32(&b, -INFINITY);
    jn_json_lit(&b, ",");
    jn_json_float32(&b, 0.5f);
    size_t len;
    char *text = jn_json_buf_take(&b, &len);
    JN_CHECK_STR_EQ(text, "\"NaN\",\"Infinity\",\"-Infinity\",0.5");
    JN_CHECK_INT_EQ(len, strlen(text));
    free(text);
}

int main(void)
{
    JN_TEST_RUN(test_known_texts);
    JN_TEST_RUN(test_edges);
    JN_TEST_RUN(test_random_bits);
    JN_TEST_RUN(test_json_float32);
    JN_TEST_RUN(test_sweep);
    printf("%ld values compared\n", compared);
    return JN_TEST_EXIT();
}
