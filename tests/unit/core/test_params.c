/* Unit tests for broker/core/params.c: typed request parameters and their numeric reading. */
#include <stdint.h>
#include <string.h>

#include "params.h"
#include "test.h"

static void test_set_get(void)
{
    jn_params p;
    jn_params_init(&p);
    JN_CHECK_INT_EQ(p.count, 0);
    JN_CHECK(jn_params_find(&p, "x") == NULL);
    JN_CHECK(jn_params_get_string(&p, "x") == NULL);
    double d = -7;
    JN_CHECK(!jn_params_get_double(&p, "x", &d));
    JN_CHECK_DBL_EQ(d, -7); /* untouched when absent */

    JN_CHECK_INT_EQ(jn_params_set_bool(&p, "flag", true), 0);
    JN_CHECK_INT_EQ(jn_params_set_int(&p, "n", -42), 0);
    JN_CHECK_INT_EQ(jn_params_set_double(&p, "ratio", 0.25), 0);
    JN_CHECK_INT_EQ(jn_params_set_string(&p, "mode", "sleep"), 0);
    JN_CHECK_INT_EQ(p.count, 4);

    const jn_param *it = jn_params_find(&p, "flag");
    JN_REQUIRE(it);
    JN_CHECK_INT_EQ(it->type, JN_PARAM_BOOL);
    JN_CHECK(it->v.b);
    it = jn_params_find(&p, "n");
    JN_REQUIRE(it);
    JN_CHECK_INT_EQ(it->type, JN_PARAM_INT);
    JN_CHECK_INT_EQ(it->v.i, -42);
    it = jn_params_find(&p, "ratio");
    JN_REQUIRE(it);
    JN_CHECK_INT_EQ(it->type, JN_PARAM_DOUBLE);
    JN_CHECK_DBL_EQ(it->v.d, 0.25);
    JN_CHECK_STR_EQ(jn_params_get_string(&p, "mode"), "sleep");
    /* get_string only answers for strings. */
    JN_CHECK(jn_params_get_string(&p, "n") == NULL);
    JN_CHECK(jn_params_get_string(&p, "flag") == NULL);
    /* Keys are case-sensitive. */
    JN_CHECK(jn_params_find(&p, "Mode") == NULL);

    jn_params_clear(&p);
    JN_CHECK_INT_EQ(p.count, 0);
    JN_CHECK(p.items == NULL);
    JN_CHECK(jn_params_find(&p, "n") == NULL);
    /* Reusable after clear. */
    JN_CHECK_INT_EQ(jn_params_set_int(&p, "n", 1), 0);
    JN_CHECK_INT_EQ(p.count, 1);
    jn_params_clear(&p);
}

static void test_copies(void)
{
    jn_params p;
    jn_params_init(&p);
    char key[] = "burn_mode";
    char val[] = "cpu";
    JN_CHECK_INT_EQ(jn_params_set_string(&p, key, val), 0);
    key[0] = 'X';
    val[0] = 'X';
    JN_CHECK_STR_EQ(jn_params_get_string(&p, "burn_mode"), "cpu");
    JN_CHECK(jn_params_get_string(&p, key) == NULL);
    jn_params_clear(&p);
}

static void test_overwrite(void)
{
    jn_params p;
    jn_params_init(&p);
    JN_CHECK_INT_EQ(jn_params_set_string(&p, "k", "first"), 0);
    JN_CHECK_INT_EQ(jn_params_set_string(&p, "k", "second"), 0); /* the old string is freed (ASan/LSan) */
    JN_CHECK_INT_EQ(p.count, 1);
    JN_CHECK_STR_EQ(jn_params_get_string(&p, "k"), "second");

    JN_CHECK_INT_EQ(jn_params_set_int(&p, "k", 5), 0); /* string -> int frees the string */
    JN_CHECK_INT_EQ(p.count, 1);
    JN_CHECK(jn_params_get_string(&p, "k") == NULL);
    JN_REQUIRE(jn_params_find(&p, "k"));
    JN_CHECK_INT_EQ(jn_params_find(&p, "k")->type, JN_PARAM_INT);
    JN_CHECK_INT_EQ(jn_params_find(&p, "k")->v.i, 5);

    JN_CHECK_INT_EQ(jn_params_set_double(&p, "k", 1.5), 0);
    JN_CHECK_INT_EQ(jn_params_set_bool(&p, "k", false), 0);
    JN_CHECK_INT_EQ(jn_params_set_string(&p, "k", "last"), 0);
    JN_CHECK_INT_EQ(p.count, 1);
    JN_CHECK_STR_EQ(jn_params_get_string(&p, "k"), "last");

    /* Overwriting one key leaves the others alone. */
    JN_CHECK_INT_EQ(jn_params_set_int(&p, "a", 1), 0);
    JN_CHECK_INT_EQ(jn_params_set_int(&p, "b", 2), 0);
    JN_CHECK_INT_EQ(jn_params_set_int(&p, "a", 10), 0);
    JN_CHECK_INT_EQ(p.count, 3);
    JN_CHECK_INT_EQ(jn_params_find(&p, "a")->v.i, 10);
    JN_CHECK_INT_EQ(jn_params_find(&p, "b")->v.i, 2);
    JN_CHECK_STR_EQ(jn_params_get_string(&p, "k"), "last");
    jn_params_clear(&p);
}

static void test_numeric_conversions(void)
{
    jn_params p;
    jn_params_init(&p);
    double d = 0;

    JN_CHECK_INT_EQ(jn_params_set_int(&p, "i", 20), 0);
    JN_CHECK(jn_params_get_double(&p, "i", &d));
    JN_CHECK_DBL_EQ(d, 20.0);
    JN_CHECK_INT_EQ(jn_params_set_int(&p, "neg", -3), 0);
    JN_CHECK(jn_params_get_double(&p, "neg", &d));
    JN_CHECK_DBL_EQ(d, -3.0);
    JN_CHECK_INT_EQ(jn_params_set_int(&p, "big", INT64_C(1) << 53), 0);
    JN_CHECK(jn_params_get_double(&p, "big", &d));
    JN_CHECK_DBL_EQ(d, 9007199254740992.0);

    JN_CHECK_INT_EQ(jn_params_set_double(&p, "d", 2.5), 0);
    JN_CHECK(jn_params_get_double(&p, "d", &d));
    JN_CHECK_DBL_EQ(d, 2.5);

    static const struct {
        const char *s;
        double want;
    } good[] = {{"20", 20.0}, {"2.5", 2.5}, {"-0.5", -0.5}, {"1.5e1", 15.0}, {"0", 0.0}, {"+7", 7.0}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        JN_CHECK_INT_EQ(jn_params_set_string(&p, "s", good[i].s), 0);
        d = -1;
        JN_CHECK(jn_params_get_double(&p, "s", &d));
        JN_CHECK_DBL_EQ(d, good[i].want);
    }

    static const char *const bad[] = {"", "fast", "12abc", "12 ", "1.5.2", "--1", "ms"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        JN_CHECK_INT_EQ(jn_params_set_string(&p, "s", bad[i]), 0);
        d = 123;
        if (jn_params_get_double(&p, "s", &d))
            jn__test_fail(__FILE__, __LINE__, "\"%s\" read as the number %g", bad[i], d);
        JN__CHECKED();
        JN_CHECK_DBL_EQ(d, 123); /* untouched on failure */
    }

    /* A bool is not a number. */
    JN_CHECK_INT_EQ(jn_params_set_bool(&p, "b", true), 0);
    d = 9;
    JN_CHECK(!jn_params_get_double(&p, "b", &d));
    JN_CHECK_DBL_EQ(d, 9);
    jn_params_clear(&p);
}

/* jn_params_copy / jn_params_remove (the remote engine's traceparent parameter, the gRPC door taking it out). */
static void test_copy_remove(void)
{
    jn_params a, b;
    jn_params_init(&a);
    jn_params_init(&b);
    JN_CHECK_INT_EQ(jn_params_set_bool(&a, "f", true), 0);
    JN_CHECK_INT_EQ(jn_params_set_int(&a, "n", 7), 0);
    JN_CHECK_INT_EQ(jn_params_set_double(&a, "d", 0.5), 0);
    JN_CHECK_INT_EQ(jn_params_set_string(&a, "s", "x"), 0);
    JN_CHECK_INT_EQ(jn_params_copy(&b, &a), 0);
    JN_CHECK_INT_EQ(jn_params_copy(&b, NULL), 0);
    JN_CHECK_INT_EQ(b.count, 4);
    JN_CHECK_STR_EQ(jn_params_get_string(&b, "s"), "x");
    JN_CHECK(jn_params_find(&b, "n")->v.i == 7);
    JN_CHECK(jn_params_remove(&b, "n"));
    JN_CHECK(!jn_params_remove(&b, "n"));
    JN_CHECK_INT_EQ(b.count, 3);
    JN_CHECK(jn_params_find(&b, "n") == NULL);
    JN_CHECK_STR_EQ(jn_params_get_string(&b, "s"), "x"); /* the others stay */
    JN_CHECK(jn_params_find(&b, "f")->v.b);
    JN_CHECK_INT_EQ(a.count, 4); /* the source is untouched */
    jn_params_clear(&a);
    jn_params_clear(&b);
}

int main(void)
{
    JN_TEST_RUN(test_copy_remove);
    JN_TEST_RUN(test_set_get);
    JN_TEST_RUN(test_copies);
    JN_TEST_RUN(test_overwrite);
    JN_TEST_RUN(test_numeric_conversions);
    return JN_TEST_EXIT();
}
