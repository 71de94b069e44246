/* Unit tests for broker/http/rest_stats.c: the v2 statistics extension's JSON from a snapshot (every field of the
 * protocol document's $model_stat, durations as {count, ns}, batch_stats in order, names escaped, counts past
 * JSON's signed range clamped), and GET .../stats over a registry: every model without a name, one model with
 * the figures recorded into its entry, 404 naming an unknown model or version. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../../engines/builtin.h"
#include "rest.h"
#include "test.h"

static const char *const DURATIONS[] = {"success",        "fail",      "queue",     "compute_input", "compute_infer",
                                        "compute_output", "cache_hit", "cache_miss"};

static json_int_t num(json_t *doc, const char *path)
{
    /* path: keys separated by '.' */
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *v = doc;
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); v && k; k = strtok_r(NULL, ".", &save))
        v = json_object_get(v, k);
    JN_CHECK(json_is_integer(v));
    return json_is_integer(v) ? json_integer_value(v) : -1;
}

/* Round trip through text, as a client sees it. */
static json_t *reparse(json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    JN_REQUIRE(text);
    json_error_t e;
    json_t *back = json_loads(text, 0, &e);
    free(text);
    JN_REQUIRE(back);
    return back;
}

static void test_model_stat_json(void)
{
    jn_batch_stat batches[2] = {
        {.batch_size = 1, .compute_input = {3, 30}, .compute_infer = {3, 300}, .compute_output = {3, 3000}},
        {.batch_size = 8, .compute_input = {2, 20}, .compute_infer = {2, 200}, .compute_output = {2, 2000}},
    };
    jn_infer_stats_snapshot s = {
        .last_inference_ms = 1796610598704u,
        .inference_count = 19,
        .execution_count = 5,
        .success = {6, 600000},
        .fail = {1, 1000},
        .queue = {7, 700},
        .compute_input = {17, 170},
        .compute_infer = {17, 1700},
        .compute_output = {17, 17000},
        .cache_hit = {1, 11},
        .cache_miss = {UINT64_MAX, 12}, /* past 2^63 - 1: clamped, never negative */
        .batches = batches,
        .n_batches = 2,
    };
    json_t *doc = reparse(jn_rest_v2_model_stat("m \"quoted\"", "7", &s));
    JN_CHECK_STR_EQ(json_string_value(json_object_get(doc, "name")), "m \"quoted\"");
    JN_CHECK_STR_EQ(json_string_value(json_object_get(doc, "version")), "7");
    JN_CHECK_INT_EQ(num(doc, "last_inference"), 1796610598704LL);
    JN_CHECK_INT_EQ(num(doc, "inference_count"), 19);
    JN_CHECK_INT_EQ(num(doc, "execution_count"), 5);
    JN_CHECK_INT_EQ(json_object_size(doc), 7);
    json_t *inf = json_object_get(doc, "inference_stats");
    JN_CHECK_INT_EQ(json_object_size(inf), 8);
    const jn_duration want[] = {s.success,        s.fail,      s.queue,     s.compute_input, s.compute_infer,
                                s.compute_output, s.cache_hit, s.cache_miss};
    for (size_t i = 0; i < 8; i++) {
        char path[64];
        snprintf(path, sizeof path, "inference_stats.%s.count", DURATIONS[i]);
        JN_CHECK_INT_EQ(num(doc, path), want[i].count > INT64_MAX ? INT64_MAX : (json_int_t)want[i].count);
        snprintf(path, sizeof path, "inference_stats.%s.ns", DURATIONS[i]);
        JN_CHECK_INT_EQ(num(doc, path), (json_int_t)want[i].ns);
        JN_CHECK_INT_EQ(json_object_size(json_object_get(inf, DURATIONS[i])), 2);
    }
    json_t *bs = json_object_get(doc, "batch_stats");
    JN_REQUIRE(json_is_array(bs) && json_array_size(bs) == 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *b = json_array_get(bs, i);
        JN_CHECK_INT_EQ(json_object_size(b), 4);
        JN_CHECK_INT_EQ(num(b, "batch_size"), (json_int_t)batches[i].batch_size);
        JN_CHECK_INT_EQ(num(b, "compute_input.count"), (json_int_t)batches[i].compute_input.count);
        JN_CHECK_INT_EQ(num(b, "compute_input.ns"), (json_int_t)batches[i].compute_input.ns);
        JN_CHECK_INT_EQ(num(b, "compute_infer.count"), (json_int_t)batches[i].compute_infer.count);
        JN_CHECK_INT_EQ(num(b, "compute_infer.ns"), (json_int_t)batches[i].compute_infer.ns);
        JN_CHECK_INT_EQ(num(b, "compute_output.count"), (json_int_t)batches[i].compute_output.count);
        JN_CHECK_INT_EQ(num(b, "compute_output.ns"), (json_int_t)batches[i].compute_output.ns);
    }
    json_decref(doc);

    /* Nothing recorded: zeros and an empty batch_stats array (not null). */
    jn_infer_stats_snapshot empty = {0};
    doc = reparse(jn_rest_v2_model_stat("fresh", "1", &empty));
    JN_CHECK_INT_EQ(num(doc, "last_inference"), 0);
    JN_CHECK_INT_EQ(num(doc, "inference_stats.success.count"), 0);
    JN_CHECK(json_is_array(json_object_get(doc, "batch_stats")) &&
             json_array_size(json_object_get(doc, "batch_stats")) == 0);
    json_decref(doc);
}

static json_t *reply_doc(jn_rest_reply *r)
{
    JN_REQUIRE(r->body);
    JN_CHECK_STR_EQ(r->content_type, JN_REST_JSON);
    json_error_t e;
    json_t *doc = json_loadb(r->body, r->body_len, 0, &e);
    JN_REQUIRE(doc);
    jn_rest_reply_free(r);
    return doc;
}

static void test_stats_over_registry(void)
{
    jn_registry *reg = jn_registry_create();
    jn_err err;
    jn_builtin_options bo = {.burn_default_ms = 0};
    JN_REQUIRE(jn_registry_add(reg, jn_identity_create("identity", &bo, &err), &err) == 0);
    JN_REQUIRE(jn_registry_add(reg, jn_burn_create("burn", &bo, &err), &err) == 0);

    jn_model *m = jn_registry_resolve(reg, "identity", NULL, &err);
    JN_REQUIRE(m);
    const char *version = m->engine->version;
    jn_infer_stats_execution(&m->infer, 4, 1, 10, 20, 30);
    jn_infer_stats_request(&m->infer, true, 100, 5);
    jn_infer_stats_request(&m->infer, false, 50, -1); /* refused before it ran: no queue time */
    jn_infer_stats_cache(&m->infer, false, 7);

    /* Every model, sorted by name. */
    jn_rest_reply r = {0};
    jn_rest_v2_stats(reg, NULL, NULL, &r);
    JN_CHECK_INT_EQ(r.status, 200);
    json_t *doc = reply_doc(&r);
    json_t *list = json_object_get(doc, "model_stats");
    JN_REQUIRE(json_is_array(list) && json_array_size(list) == 2);
    JN_CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(list, 0), "name")), "burn");
    JN_CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(list, 1), "name")), "identity");
    JN_CHECK_INT_EQ(num(json_array_get(list, 0), "inference_stats.success.count"), 0);
    json_decref(doc);

    /* One model, with and without its version: the figures recorded above. */
    for (int with_version = 0; with_version < 2; with_version++) {
        jn_rest_v2_stats(reg, "identity", with_version ? version : "", &r);
        JN_CHECK_INT_EQ(r.status, 200);
        doc = reply_doc(&r);
        list = json_object_get(doc, "model_stats");
        JN_REQUIRE(json_is_array(list) && json_array_size(list) == 1);
        json_t *one = json_array_get(list, 0);
        JN_CHECK_STR_EQ(json_string_value(json_object_get(one, "version")), version);
        JN_CHECK_INT_EQ(num(one, "inference_count"), 4);
        JN_CHECK_INT_EQ(num(one, "execution_count"), 1);
        JN_CHECK_INT_EQ(num(one, "inference_stats.success.count"), 1);
        JN_CHECK_INT_EQ(num(one, "inference_stats.success.ns"), 100);
        JN_CHECK_INT_EQ(num(one, "inference_stats.fail.count"), 1);
        JN_CHECK_INT_EQ(num(one, "inference_stats.queue.count"), 1);
        JN_CHECK_INT_EQ(num(one, "inference_stats.compute_infer.ns"), 20);
        JN_CHECK_INT_EQ(num(one, "inference_stats.cache_miss.ns"), 7);
        JN_CHECK(num(one, "last_inference") > 1600000000000LL); /* a wall clock in ms, after 2020 */
        JN_CHECK_INT_EQ(json_array_size(json_object_get(one, "batch_stats")), 1);
        JN_CHECK_INT_EQ(num(json_array_get(json_object_get(one, "batch_stats"), 0), "batch_size"), 4);
        json_decref(doc);
    }

    /* Unknown model, unknown version: 404 {"error"} naming them. */
    jn_rest_v2_stats(reg, "nosuch", NULL, &r);
    JN_CHECK_INT_EQ(r.status, 404);
    doc = reply_doc(&r);
    JN_CHECK_STR_CONTAINS(json_string_value(json_object_get(doc, "error")), "nosuch");
    json_decref(doc);
    jn_rest_v2_stats(reg, "identity", "999", &r);
    JN_CHECK_INT_EQ(r.status, 404);
    doc = reply_doc(&r);
    JN_CHECK_STR_CONTAINS(json_string_value(json_object_get(doc, "error")), "'999'");
    json_decref(doc);

    /* An empty registry: an empty list. */
    jn_registry *none = jn_registry_create();
    jn_rest_v2_stats(none, "", NULL, &r);
    JN_CHECK_INT_EQ(r.status, 200);
    doc = reply_doc(&r);
    JN_CHECK(json_is_array(json_object_get(doc, "model_stats")) &&
             json_array_size(json_object_get(doc, "model_stats")) == 0);
    json_decref(doc);
    jn_registry_destroy(none);

    jn_model_unref(m);
    jn_registry_destroy(reg);
}

int main(void)
{
    JN_TEST_RUN(test_model_stat_json);
    JN_TEST_RUN(test_stats_over_registry);
    return JN_TEST_EXIT();
}
