/* Unit tests for broker/core/evaluate.c: metrics on small hand-computed cases (sklearn's conventions, including
 * zero_division=0), numpy's linear percentiles, JSON keys, and the heat map's size and shading. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "evaluate.h"
#include "test.h"

#define CHECK_NEAR(a, b) JN_CHECK(fabs((double)(a) - (double)(b)) < 1e-12)

static void add_all(jn_eval *ev, const char *const *t, const char *const *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        JN_CHECK_INT_EQ(jn_eval_add(ev, t[i], p[i], (double)(i + 1)), 0);
}

static void test_three_classes(void)
{
    static const char *const t[] = {"cat", "cat", "cat", "dog", "dog", "bird"};
    static const char *const p[] = {"cat", "cat", "dog", "dog", "bird", "bird"};
    jn_eval ev;
    jn_err err;
    JN_REQUIRE(jn_eval_init(&ev, NULL, 0) == 0);
    add_all(&ev, t, p, 6);
    ev.wall_seconds = 2.0;
    jn_eval_report r;
    JN_REQUIRE(jn_eval_compute(&ev, &r, &err) == 0);
    JN_REQUIRE(r.n_labels == 3);
    /* no declared order: byte order, like sklearn's sorted labels */
    JN_CHECK_STR_EQ(r.labels[0], "bird");
    JN_CHECK_STR_EQ(r.labels[1], "cat");
    JN_CHECK_STR_EQ(r.labels[2], "dog");
    static const int64_t want[9] = {1, 0, 0, 0, 2, 1, 1, 0, 1};
    for (int k = 0; k < 9; k++)
        JN_CHECK_INT_EQ(r.confusion[k], want[k]);
    CHECK_NEAR(r.accuracy, 4.0 / 6);
    CHECK_NEAR(r.per_class[0].precision, 0.5);
    CHECK_NEAR(r.per_class[0].recall, 1.0);
    CHECK_NEAR(r.per_class[0].f1, 2.0 / 3);
    CHECK_NEAR(r.per_class[1].precision, 1.0);
    CHECK_NEAR(r.per_class[1].recall, 2.0 / 3);
    CHECK_NEAR(r.per_class[1].f1, 0.8);
    CHECK_NEAR(r.per_class[2].f1, 0.5);
    JN_CHECK_INT_EQ(r.per_class[1].support, 3);
    CHECK_NEAR(r.macro.precision, 2.0 / 3);
    CHECK_NEAR(r.macro.recall, 13.0 / 18);
    CHECK_NEAR(r.macro.f1, (2.0 / 3 + 0.8 + 0.5) / 3);
    CHECK_NEAR(r.micro.precision, 4.0 / 6);
    CHECK_NEAR(r.micro.recall, 4.0 / 6);
    CHECK_NEAR(r.micro.f1, 4.0 / 6);
    CHECK_NEAR(r.weighted.recall, 4.0 / 6); /* weighted recall == accuracy */
    /* latencies 1..6 ms: numpy.percentile(..., 50) = 3.5, 99 -> 5.95 */
    CHECK_NEAR(r.latency_p50, 3.5);
    CHECK_NEAR(r.latency_p99, 5.95);
    CHECK_NEAR(r.latency_mean, 3.5);
    CHECK_NEAR(r.throughput, 3.0);

    json_t *j = jn_eval_report_json(&r);
    JN_REQUIRE(j != NULL);
    CHECK_NEAR(json_real_value(json_object_get(j, "accuracy")), 4.0 / 6);
    CHECK_NEAR(json_real_value(json_object_get(json_object_get(j, "macro"), "recall")), 13.0 / 18);
    JN_CHECK(json_object_get(json_object_get(j, "latency_ms"), "p99") != NULL);
    JN_CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(json_object_get(j, "per_class"), "cat"),
                                                       "support")),
                    3);
    JN_CHECK_INT_EQ(json_integer_value(json_array_get(json_array_get(json_object_get(j, "confusion"), 1), 2)), 1);
    json_decref(j);

    char *table = jn_eval_report_table(&r);
    JN_REQUIRE(table != NULL);
    JN_CHECK(strstr(table, "accuracy 0.6667") != NULL);
    free(table);

    int w = 0, h = 0;
    uint8_t *px = jn_eval_heatmap_rgb(&r, 24, &w, &h);
    JN_REQUIRE(px != NULL);
    JN_CHECK_INT_EQ(w, 72);
    JN_CHECK_INT_EQ(h, 72);
    /* bird row is all on bird: cell (0,0) darkest, (0,1) white; cat row (2 of 3 on cat) in between */
    JN_CHECK_INT_EQ(px[0], 8);
    JN_CHECK_INT_EQ(px[(0 * 72 + 30) * 3], 255);
    int mid = px[(30 * 72 + 30) * 3];
    JN_CHECK(mid > 8 && mid < 255);
    free(px);
    jn_eval_report_free(&r);
    jn_eval_free(&ev);
}

static void test_zero_division_and_declared_order(void)
{
    /* b is never predicted (precision 0/0 -> 0), c never true (recall 0/0 -> 0) */
    static const char *const t[] = {"a", "a", "b"};
    static const char *const p[] = {"a", "c", "a"};
    static const char *const declared[] = {"c", "x", "b", "a"};
    jn_eval ev;
    jn_err err;
    JN_REQUIRE(jn_eval_init(&ev, declared, 4) == 0);
    add_all(&ev, t, p, 3);
    jn_eval_report r;
    JN_REQUIRE(jn_eval_compute(&ev, &r, &err) == 0);
    /* declared order, and only labels that occur ("x" does not) */
    JN_REQUIRE(r.n_labels == 3);
    JN_CHECK_STR_EQ(r.labels[0], "c");
    JN_CHECK_STR_EQ(r.labels[1], "b");
    JN_CHECK_STR_EQ(r.labels[2], "a");
    CHECK_NEAR(r.per_class[1].precision, 0.0);
    CHECK_NEAR(r.per_class[1].recall, 0.0);
    CHECK_NEAR(r.per_class[0].recall, 0.0);
    CHECK_NEAR(r.per_class[0].f1, 0.0);
    CHECK_NEAR(r.per_class[2].precision, 0.5);
    CHECK_NEAR(r.macro.precision, 1.0 / 6);
    CHECK_NEAR(r.accuracy, 1.0 / 3);
    JN_CHECK_DBL_EQ(r.throughput, 0.0); /* no wall time given */
    jn_eval_report_free(&r);
    jn_eval_free(&ev);
}

static void test_percentile_and_empty(void)
{
    double v[] = {4, 1, 3, 2};
    CHECK_NEAR(jn_eval_percentile(v, 4, 50), 2.5);
    CHECK_NEAR(jn_eval_percentile(v, 4, 99), 3.97);
    CHECK_NEAR(jn_eval_percentile(v, 4, 100), 4.0);
    CHECK_NEAR(jn_eval_percentile(v, 4, 0), 1.0);
    double one = 7;
    CHECK_NEAR(jn_eval_percentile(&one, 1, 99), 7.0);
    JN_CHECK_DBL_EQ(jn_eval_percentile(NULL, 0, 50), 0.0);

    jn_eval ev;
    jn_err err;
    JN_REQUIRE(jn_eval_init(&ev, NULL, 0) == 0);
    jn_eval_report r;
    JN_REQUIRE(jn_eval_compute(&ev, &r, &err) == 0);
    JN_CHECK_INT_EQ(r.n_labels, 0);
    JN_CHECK_DBL_EQ(r.accuracy, 0.0);
    JN_CHECK_DBL_EQ(r.micro.f1, 0.0);
    int w, h;
    JN_CHECK(jn_eval_heatmap_rgb(&r, 24, &w, &h) == NULL);
    json_t *j = jn_eval_report_json(&r);
    JN_CHECK(j != NULL);
    json_decref(j);
    jn_eval_report_free(&r);
    jn_eval_free(&ev);
}

int main(void)
{
    JN_TEST_RUN(test_three_classes);
    JN_TEST_RUN(test_zero_division_and_declared_order);
    JN_TEST_RUN(test_percentile_and_empty);
    return JN_TEST_EXIT();
}
