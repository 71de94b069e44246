/* Unit tests for the web console's server side (broker/http/console*.c), without sockets: which paths are the
 * console's, the embedded page and assets with their security headers, percentiles from the metrics' histograms,
 * and /console/api/overview, models, pipelines/{name}, evaluate/{model} and evaluation over a registry with the
 * built-in engines and demo pipelines (latency and rates from recorded requests, the demo-product graph with its
 * relabel conversion, a hostile name kept as text, errors naming what is wrong). */
#define _GNU_SOURCE /* memmem */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../../../engines/builtin.h"
#include "console.h"
#include "metrics.h"
#include "pipeline.h"
#include "test.h"

static void test_classify(void)
{
    JN_CHECK_INT_EQ(jn_console_classify("GET", "/"), JN_CONSOLE_PAGE);
    JN_CHECK_INT_EQ(jn_console_classify("GET", "/console"), JN_CONSOLE_PAGE);
    JN_CHECK_INT_EQ(jn_console_classify("GET", "/console/models"), JN_CONSOLE_PAGE);
    JN_CHECK_INT_EQ(jn_console_classify("GET", "/console/assets/app.js"), JN_CONSOLE_PAGE);
    JN_CHECK_INT_EQ(jn_console_classify("GET", "/console/api/models"), JN_CONSOLE_API);
    JN_CHECK_INT_EQ(jn_console_classify("HEAD", "/console/api/overview"), JN_CONSOLE_API);
    JN_CHECK_INT_EQ(jn_console_classify("POST", "/console/api/evaluate/x"), JN_CONSOLE_POST);
    JN_CHECK_INT_EQ(jn_console_classify("GET", "/v2/health/live"), JN_CONSOLE_NONE);
    JN_CHECK_INT_EQ(jn_console_classify("GET", "/consoles"), JN_CONSOLE_NONE);
    JN_CHECK_INT_EQ(jn_console_classify("GET", "/metrics"), JN_CONSOLE_NONE);
}

static void test_page_and_assets(void)
{
    jn_rest_reply r = {0};
    jn_console_page("/", &r);
    JN_CHECK_INT_EQ(r.status, 200);
    JN_CHECK_STR_CONTAINS(r.content_type, "text/html");
    JN_REQUIRE(r.body && r.headers);
    JN_CHECK(memmem(r.body, r.body_len, "/console/assets/app.js", 22) != NULL);
    JN_CHECK(memmem(r.body, r.body_len, "<script>", 8) == NULL); /* no inline script */
    JN_CHECK_STR_CONTAINS(r.headers, "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'");
    JN_CHECK(strstr(r.headers, "unsafe") == NULL);
    JN_CHECK_STR_CONTAINS(r.headers, "X-Content-Type-Options: nosniff");
    jn_rest_reply_free(&r);

    const char *const assets[] = {"app.js", "pages.js", "app.css", "dagre.min.js", "uPlot.iife.min.js", "uPlot.min.css"};
    for (size_t i = 0; i < sizeof assets / sizeof *assets; i++) {
        char path[96];
        snprintf(path, sizeof path, "/console/assets/%s", assets[i]);
        jn_rest_reply a = {0};
        jn_console_page(path, &a);
        JN_CHECK_INT_EQ(a.status, 200);
        JN_CHECK(a.body_len > 100);
        JN_CHECK_STR_CONTAINS(a.content_type, strstr(assets[i], ".css") ? "text/css" : "text/javascript");
        JN_CHECK_STR_CONTAINS(a.headers, "Content-Security-Policy");
        jn_rest_reply_free(&a);
    }
    jn_rest_reply n = {0};
    jn_console_page("/console/assets/nope.js", &n);
    JN_CHECK_INT_EQ(n.status, 404);
    jn_rest_reply_free(&n);
    jn_console_page("/console/assets/index.html", &n); /* the page only at / and /console/... */
    JN_CHECK_INT_EQ(n.status, 404);
    jn_rest_reply_free(&n);
}

static void test_percentiles(void)
{
    uint64_t counts[JN_METRICS_N_BOUNDS + 1] = {0};
    JN_CHECK_DBL_EQ(jn_console_percentile_ms(counts, JN_METRICS_N_BOUNDS + 1, 0.5), -1);
    counts[3] = 4; /* (0.5 ms, 1 ms] */
    JN_CHECK_DBL_EQ(jn_console_percentile_ms(counts, JN_METRICS_N_BOUNDS + 1, 0.5), 0.75);
    JN_CHECK_DBL_EQ(jn_console_percentile_ms(counts, JN_METRICS_N_BOUNDS + 1, 1.0), 1.0);
    counts[0] = 4; /* [0, 0.1 ms]: half below */
    JN_CHECK_DBL_EQ(jn_console_percentile_ms(counts, JN_METRICS_N_BOUNDS + 1, 0.25), 0.05);
    memset(counts, 0, sizeof counts);
    counts[JN_METRICS_N_BOUNDS] = 1; /* beyond 10 s: the last bound, as histogram_quantile */
    JN_CHECK_DBL_EQ(jn_console_percentile_ms(counts, JN_METRICS_N_BOUNDS + 1, 0.99), 10000);
}

static json_t *call(jn_console *c, const char *method, const char *path, const char *body, int want_status)
{
    jn_rest_reply r = {0};
    jn_console_api(c, method, path, "", (const uint8_t *)body, body ? strlen(body) : 0, &r);
    JN_CHECK_INT_EQ(r.status, want_status);
    if (r.status != want_status && r.body)
        fprintf(stderr, "  %s %s -> %.*s\n", method, path, (int)r.body_len, r.body);
    json_t *doc = r.body ? json_loadb(r.body, r.body_len, 0, NULL) : NULL;
    if (want_status == 200)
        JN_CHECK_STR_CONTAINS(r.headers, "Cache-Control: no-store");
    jn_rest_reply_free(&r);
    JN_REQUIRE(doc);
    return doc;
}

static json_t *find_named(json_t *list, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) if (strcmp(json_string_value(json_object_get(v, "name")), name) == 0) return v;
    return NULL;
}

static jn_registry *registry(void)
{
    jn_registry *reg = jn_registry_create();
    jn_err err;
    jn_err_clear(&err);
    jn_builtin_options bo = {.burn_default_ms = 0};
    JN_REQUIRE(reg && jn_builtin_register_all(reg, &bo, &err) == 0);
    JN_REQUIRE(jn_builtin_register_pipelines(reg, &err) == 0);
    return reg;
}

static void test_overview_and_models(void)
{
    jn_registry *reg = registry();
    jn_console *c = jn_console_create(reg);
    JN_REQUIRE(c);

    /* Requests recorded for identity: 3 ok in (0.5, 1] ms, 1 failed. */
    jn_model_stats *st = jn_metrics_model("identity");
    for (int i = 0; i < 4; i++) {
        jn_metrics_request_begin(st);
        jn_metrics_request_end(st, JN_METRICS_HTTP, i < 3, 1000, 500000, 750000);
    }
    const char *answer = "{\"error\":\"input 'x': bad\"}";
    jn_console_note_error(c, "POST", "/v1/models/identity:predict", 400, answer, strlen(answer));

    json_t *o = call(c, "GET", "/console/api/overview", NULL, 200);
    JN_CHECK_STR_EQ(json_string_value(json_object_get(o, "health")), "ready");
    JN_CHECK(json_real_value(json_object_get(o, "uptime_s")) >= 0);
    JN_CHECK(json_integer_value(json_object_get(o, "rss_bytes")) > 0);
    JN_CHECK_INT_EQ(json_integer_value(json_object_get(o, "requests_total")), 4);
    JN_CHECK_INT_EQ(json_integer_value(json_object_get(o, "errors_total")), 1);
    JN_CHECK_INT_EQ(json_integer_value(json_object_get(o, "open_streams")), 0);
    json_t *errs = json_object_get(o, "last_errors");
    JN_CHECK_INT_EQ(json_array_size(errs), 1);
    JN_CHECK_INT_EQ(json_integer_value(json_object_get(json_array_get(errs, 0), "status")), 400);
    JN_CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(errs, 0), "message")), "input 'x': bad");
    JN_CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(errs, 0), "request")),
                    "POST /v1/models/identity:predict");
    json_decref(o);
    jn_console_set_closing(c);
    o = call(c, "GET", "/console/api/overview", NULL, 200);
    JN_CHECK_STR_EQ(json_string_value(json_object_get(o, "health")), "shutting down");
    json_decref(o);

    json_t *m = call(c, "GET", "/console/api/models", NULL, 200);
    json_t *models = json_object_get(m, "models");
    json_t *id = find_named(models, "identity");
    JN_REQUIRE(id);
    json_t *lat = json_object_get(id, "latency_ms");
    JN_CHECK_INT_EQ(json_integer_value(json_object_get(lat, "count")), 4);
    JN_CHECK_DBL_EQ(json_real_value(json_object_get(lat, "p50")), 0.75);
    JN_CHECK_DBL_EQ(json_real_value(json_object_get(lat, "mean")), 0.75);
    JN_CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(id, "requests"), "failed")), 1);
    JN_CHECK(json_is_null(json_object_get(id, "rate_per_s"))); /* the first poll knows no rate yet */
    json_t *product = find_named(models, "demo-product");
    JN_REQUIRE(product);
    JN_CHECK(json_is_true(json_object_get(product, "pipeline")));
    JN_CHECK(json_is_null(json_object_get(json_object_get(product, "latency_ms"), "p50")));
    json_decref(m);

    jn_console_destroy(c);
    jn_registry_destroy(reg);
}

static void test_pipeline_graph(void)
{
    jn_registry *reg = registry();
    jn_console *c = jn_console_create(reg);
    JN_REQUIRE(c);
    jn_metrics_step_record(jn_metrics_step("demo-product", "fuse"), true, 200000); /* (0.1, 0.25] ms */

    json_t *g = call(c, "GET", "/console/api/pipelines/demo-product", NULL, 200);
    json_t *steps = json_object_get(g, "steps"), *edges = json_object_get(g, "edges");
    JN_CHECK_INT_EQ(json_array_size(steps), 3);
    JN_CHECK_INT_EQ(json_array_size(edges), 4);
    JN_CHECK_INT_EQ(json_array_size(json_object_get(g, "inputs")), 2);
    JN_CHECK_INT_EQ(json_array_size(json_object_get(g, "outputs")), 1);
    size_t i;
    json_t *e;
    int converted = 0;
    json_array_foreach(edges, i, e) {
        json_t *conv = json_object_get(e, "conversions");
        const char *to = json_string_value(json_object_get(json_object_get(e, "to"), "step"));
        const char *port = json_string_value(json_object_get(json_object_get(e, "to"), "port"));
        if (json_array_size(conv)) {
            converted++;
            JN_CHECK_STR_EQ(to, "fuse");
            JN_CHECK_STR_EQ(port, "b");
            JN_CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(e, "from"), "step")), "txt");
            JN_CHECK_STR_CONTAINS(json_string_value(json_array_get(conv, 0)), "relabel to CLASSIFICATION");
        }
        if (strcmp(to, "img") == 0) { /* from the pipeline's input */
            JN_CHECK(json_is_null(json_object_get(json_object_get(e, "from"), "step")));
            JN_CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(e, "from"), "port")), "image");
        }
    }
    JN_CHECK_INT_EQ(converted, 1);
    json_t *fuse = NULL, *img = NULL, *s;
    json_array_foreach(steps, i, s) {
        if (strcmp(json_string_value(json_object_get(s, "id")), "fuse") == 0)
            fuse = s;
        if (strcmp(json_string_value(json_object_get(s, "id")), "img") == 0)
            img = s;
    }
    JN_REQUIRE(fuse && img);
    JN_CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(fuse, "latency_ms"), "count")), 1);
    JN_CHECK_DBL_EQ(json_real_value(json_object_get(json_object_get(fuse, "latency_ms"), "p50")), 0.175);
    JN_CHECK_STR_EQ(json_string_value(json_object_get(img, "model")), "fashion-cnn");
    json_t *in0 = json_array_get(json_object_get(img, "inputs"), 0);
    JN_CHECK_STR_EQ(json_string_value(json_object_get(in0, "kind")), "IMAGE");
    JN_CHECK_STR_CONTAINS(json_string_value(json_object_get(g, "plan")), "pipeline 'demo-product'");
    json_decref(g);

    json_t *err = call(c, "GET", "/console/api/pipelines/identity", NULL, 404);
    JN_CHECK_STR_EQ(json_string_value(json_object_get(err, "error")), "this model is not a pipeline");
    json_decref(err);
    err = call(c, "GET", "/console/api/pipelines/nope", NULL, 404);
    JN_CHECK_STR_CONTAINS(json_string_value(json_object_get(err, "error")), "'nope'");
    json_decref(err);
    err = call(c, "GET", "/console/api/pipelines/%zz", NULL, 400);
    JN_CHECK_STR_CONTAINS(json_string_value(json_object_get(err, "error")), "percent-escape");
    json_decref(err);
    err = call(c, "GET", "/console/api/nothing", NULL, 404);
    json_decref(err);

    /* A hostile pipeline name: percent-encoded in the path, kept as text in the JSON. */
    const char *spec = "{\"name\": \"<img src=x onerror=alert(1)>\", \"inputs\": [{\"name\": \"x\", \"kind\": \"TENSOR\", "
                       "\"datatype\": \"FP32\", \"shape\": [-1, 2]}], \"steps\": [{\"id\": \"a\", \"model\": "
                       "\"identity\", \"inputs\": {\"input\": \"x\"}}], \"outputs\": [{\"name\": \"y\", \"from\": "
                       "\"a.output\"}]}";
    jn_pipeline_spec ps;
    jn_err je;
    jn_err_clear(&je);
    JN_REQUIRE(jn_pipeline_spec_from_json(spec, strlen(spec), &ps, &je) == 0);
    jn_engine *p = jn_pipeline_compile(&ps, reg, &je);
    jn_pipeline_spec_free(&ps);
    JN_REQUIRE(p && jn_pipeline_register(reg, p, NULL, &je) == 0);
    g = call(c, "GET", "/console/api/pipelines/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E", NULL, 200);
    JN_CHECK_STR_EQ(json_string_value(json_object_get(g, "name")), "<img src=x onerror=alert(1)>");
    json_decref(g);

    jn_console_destroy(c);
    jn_registry_destroy(reg);
}

static void test_evaluate(void)
{
    jn_registry *reg = registry();
    jn_console *c = jn_console_create(reg);
    JN_REQUIRE(c);
    json_t *last = call(c, "GET", "/console/api/evaluation", NULL, 200);
    JN_CHECK(json_is_null(json_object_get(last, "report")));
    json_decref(last);

    const char *jsonl = "{\"text\": \"black leather ankle boots\", \"label\": \"Ankle boot\"}\n"
                        "\n"
                        "{\"text\": \"floral summer dress\", \"label\": \"Dress\"}\r\n"
                        "{\"text\": 7, \"label\": \"Bag\"}\n"
                        "{\"text\": \"a bag\"}\n"
                        "not json\n";
    json_t *r = call(c, "POST", "/console/api/evaluate/fashion-text", jsonl, 200);
    JN_CHECK_INT_EQ(json_integer_value(json_object_get(r, "examples")), 2);
    JN_CHECK_INT_EQ(json_integer_value(json_object_get(r, "failed")), 3);
    JN_CHECK_STR_EQ(json_string_value(json_object_get(r, "model")), "fashion-text");
    size_t n = json_array_size(json_object_get(r, "labels"));
    JN_CHECK(n >= 2);
    JN_CHECK_INT_EQ(json_array_size(json_object_get(r, "confusion")), n);
    json_t *errs = json_object_get(r, "errors");
    JN_CHECK_INT_EQ(json_array_size(errs), 3);
    JN_CHECK_INT_EQ(json_integer_value(json_object_get(json_array_get(errs, 0), "line")), 4);
    JN_CHECK_STR_CONTAINS(json_string_value(json_object_get(json_array_get(errs, 0), "error")), "expected a string");
    JN_CHECK_INT_EQ(json_integer_value(json_object_get(json_array_get(errs, 1), "line")), 5);
    JN_CHECK_STR_CONTAINS(json_string_value(json_object_get(json_array_get(errs, 1), "error")), "\"label\"");
    JN_CHECK_INT_EQ(json_integer_value(json_object_get(json_array_get(errs, 2), "line")), 6);
    JN_CHECK_STR_CONTAINS(json_string_value(json_object_get(json_array_get(errs, 2), "error")), "not JSON");
    json_decref(r);

    last = call(c, "GET", "/console/api/evaluation", NULL, 200);
    JN_CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(last, "report"), "examples")), 2);
    json_decref(last);

    json_t *e = call(c, "POST", "/console/api/evaluate/identity", jsonl, 400);
    JN_CHECK_STR_CONTAINS(json_string_value(json_object_get(e, "error")), "nothing to evaluate");
    json_decref(e);
    e = call(c, "POST", "/console/api/evaluate/fashion-text", "\n\n", 400);
    JN_CHECK_STR_CONTAINS(json_string_value(json_object_get(e, "error")), "no examples");
    json_decref(e);
    e = call(c, "POST", "/console/api/evaluate/nope", jsonl, 404);
    json_decref(e);

    jn_console_destroy(c);
    jn_registry_destroy(reg);
}

int main(void)
{
    JN_TEST_RUN(test_classify);
    JN_TEST_RUN(test_page_and_assets);
    JN_TEST_RUN(test_percentiles);
    JN_TEST_RUN(test_overview_and_models);
    JN_TEST_RUN(test_pipeline_graph);
    JN_TEST_RUN(test_evaluate);
    return JN_TEST_EXIT();
}
