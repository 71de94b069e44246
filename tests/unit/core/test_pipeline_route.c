/* Unit tests for routed pipeline steps (issue #20, broker/core/pipeline/route.c): a 90/10 split over 10,000 calls
 * within the binomial 99.9 % bound; the consistent hash (sticky keys never change candidate, a weight change moves
 * only the share it must, candidates' order does not matter); sticky calls through a pipeline; the mirror gets a copy
 * of every call and its 200 ms never reaches the caller; no pool = the mirror is dropped, the call still answered;
 * weight changes by re-registering under load never give a broken answer; JSON shape errors and registration
 * errors named; the JSON round trip. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../../broker/core/pipeline/route.h"
#include "builtin.h"
#include "executor.h"
#include "pipeline.h"
#include "test.h"
#include "workpool.h"

static int count_infer(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                       jn_tensor_list *outputs, jn_err *err)
{
    (void)ctx;
    atomic_fetch_add((atomic_int *)self->ctx, 1);
    jn_tensor *out = jn_tensor_share(jn_tensor_list_find(inputs, "input"), "output", err);
    if (!out)
        return err->code;
    return jn_tensor_list_push(outputs, out) ? jn_err_set(err, JN_ENOMEM, "out of memory") : 0;
}

static const jn_engine_vtable count_vt = {.abi_version = JN_ENGINE_ABI_VERSION, .platform = "test",
                                          .infer = count_infer};

static atomic_int runs[3];

static jn_registry *registry(void)
{
    jn_err err;
    jn_err_clear(&err);
    jn_builtin_options opt = {.burn_default_ms = 200};
    jn_registry *reg = jn_registry_create();
    JN_REQUIRE(reg);
    const int64_t any2[2] = {-1, -1};
    static const char *const names[3] = {"v1", "v2", "v3"};
    for (int i = 0; i < 3; i++) {
        atomic_store(&runs[i], 0);
        jn_engine *e = jn_engine_create(&count_vt, names[i], "1", "counts its runs", &runs[i], &err);
        JN_REQUIRE(e);
        JN_REQUIRE(jn_signature_add_input(&e->sig, "input", JN_KIND_TENSOR, JN_DTYPE_FP32, 2, any2, &err) == 0);
        JN_REQUIRE(jn_signature_add_output(&e->sig, "output", JN_KIND_TENSOR, JN_DTYPE_FP32, 2, any2, &err) == 0);
        e->flags |= JN_ENGINE_INLINE;
        JN_REQUIRE(jn_registry_add(reg, e, &err) == 0);
    }
    jn_engine *more[] = {jn_identity_create("identity", &opt, &err), jn_burn_create("burn", &opt, &err),
                         jn_tokenize_create("tokenize", &opt, &err), jn_embed_create("embed", &opt, &err)};
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) {
        JN_REQUIRE(more[i]);
        JN_REQUIRE(jn_registry_add(reg, more[i], &err) == 0);
    }
    return reg;
}

static jn_engine *compile(jn_registry *reg, const char *json, jn_err *err)
{
    jn_pipeline_spec spec;
    jn_err_clear(err);
    jn_engine *e = NULL;
    if (jn_pipeline_spec_from_json(json, strlen(json), &spec, err) == 0)
        e = jn_pipeline_compile(&spec, reg, err);
    jn_pipeline_spec_free(&spec);
    return e;
}

static jn_engine *compile_ok(jn_registry *reg, const char *json)
{
    jn_err err;
    jn_err_clear(&err);
    jn_engine *e = compile(reg, json, &err);
    if (!e)
        fprintf(stderr, "compile: %s\n", err.msg);
    return e;
}

#define X_IN "{\"name\": \"x\", \"kind\": \"TENSOR\", \"datatype\": \"FP32\", \"shape\": [-1, -1]}"
#define ROUTED(name, route)                                                                                            \
    "{\"name\": \"" name "\", \"inputs\": [" X_IN "], \"steps\": [{\"id\": \"m\", \"route\": " route ", "            \
    "\"inputs\": {\"input\": \"x\"}}], \"outputs\": [{\"name\": \"y\", \"from\": \"m.output\"}]}"
#define SPLIT(w1, w2) "{\"split\": [{\"model\": \"v1\", \"weight\": " #w1 "}, {\"model\": \"v2\", \"weight\": " #w2 "}]"

/* One call: x = [[v, v+1]], user = sticky value or NULL; 0 with y checked (== x), else the error. */
static int call(jn_engine *e, jn_workpool *pool, float v, const char *user, jn_err *err)
{
    jn_request req;
    jn_request_init(&req);
    jn_err_clear(err);
    const int64_t shape[2] = {1, 2};
    jn_tensor *x = jn_tensor_create("x", JN_DTYPE_FP32, 2, shape, err);
    if (!x)
        return err->code;
    ((float *)x->data)[0] = v;
    ((float *)x->data)[1] = v + 1;
    int rc = jn_request_set_target(&req, e->name, "", "") || jn_tensor_list_push(&req.inputs, x) ||
             (user && jn_params_set_string(&req.params, "user_id", user));
    jn_tensor_list out;
    jn_tensor_list_init(&out);
    if (!rc)
        rc = jn_exec_run(e, &req, NULL, pool, &out, err);
    if (!rc) {
        const jn_tensor *y = jn_tensor_list_find(&out, "y");
        if (!y || y->byte_size != 8 || ((const float *)y->data)[0] != v || ((const float *)y->data)[1] != v + 1)
            rc = jn_err_set(err, JN_EINTERNAL, "wrong answer");
    }
    jn_tensor_list_clear(&out);
    jn_request_clear(&req);
    return rc;
}

/* 90/10 over 10,000 calls: v2's count within the binomial 99.9 % bound (mean 1000, sd 30: 3.29 sd either side). */
static void test_split_within_bound(void)
{
    jn_registry *reg = registry();
    jn_engine *e = compile_ok(reg, ROUTED("split", SPLIT(90, 10) "}"));
    JN_REQUIRE(e);
    JN_CHECK(e->flags & JN_ENGINE_VOLATILE); /* a draw per call: never cached */
    jn_err err;
    jn_err_clear(&err);
    int failed = 0;
    for (int i = 0; i < 10000; i++)
        failed += call(e, NULL, (float)i, NULL, &err) != 0;
    JN_CHECK_INT_EQ(failed, 0);
    int n1 = atomic_load(&runs[0]), n2 = atomic_load(&runs[1]);
    printf("split 90/10 over 10000 calls: v1 %d, v2 %d (bound for v2: 902..1098)\n", n1, n2);
    JN_CHECK_INT_EQ(n1 + n2, 10000);
    double bound = 3.2905 * sqrt(10000 * 0.1 * 0.9);
    JN_CHECK(fabs(n2 - 1000.0) <= bound);
    jn_engine_unref(e);
    jn_registry_destroy(reg);
}

static route *make_route(jn_registry *reg, const char *json)
{
    jn_err err;
    jn_err_clear(&err);
    jn_err_clear(&err);
    route *r = jn__route_compile(json, "p", "m", reg, &err);
    if (!r)
        fprintf(stderr, "route: %s\n", err.msg);
    return r;
}

/* The consistent hash: the same key the same candidate; 90/10 -> 80/20 moves only v1 keys to v2, about 10 % of all;
 * the order of candidates does not matter; shares follow the weights. */
static void test_consistent_hash(void)
{
    jn_registry *reg = registry();
    route *a = make_route(reg, SPLIT(90, 10) "}");
    route *b = make_route(reg, SPLIT(80, 20) "}");
    route *c = make_route(reg, "{\"split\": [{\"model\": \"v2\", \"weight\": 10}, {\"model\": \"v1\", \"weight\": 90}]}");
    route *d = make_route(reg, "{\"split\": [{\"model\": \"v1\", \"weight\": 1}, {\"model\": \"v2\", \"weight\": 1}, "
                               "{\"model\": \"v3\", \"weight\": 2}]}");
    JN_REQUIRE(a && b && c && d);
    enum { KEYS = 20000 };
    int in_v2_a = 0, in_v2_b = 0, moved_back = 0, moved = 0, order_differs = 0, unstable = 0, shares[3] = {0, 0, 0};
    for (int k = 0; k < KEYS; k++) {
        char key[32];
        int n = snprintf(key, sizeof key, "user-%d", k);
        size_t pa = jn__route_pick_key(a, key, (size_t)n), pb = jn__route_pick_key(b, key, (size_t)n);
        in_v2_a += pa == 1;
        in_v2_b += pb == 1;
        moved += pa != pb;
        moved_back += pa == 1 && pb == 0;
        order_differs += strcmp(a->cands[pa].name, c->cands[jn__route_pick_key(c, key, (size_t)n)].name) != 0;
        unstable += jn__route_pick_key(a, key, (size_t)n) != pa;
        shares[jn__route_pick_key(d, key, (size_t)n)]++;
    }
    printf("sticky 90/10 -> 80/20 over %d keys: v2 %d -> %d, moved %d (all v1 -> v2: %d back)\n", KEYS, in_v2_a,
           in_v2_b, moved, moved_back);
    printf("sticky 1:1:2 over %d keys: %d %d %d\n", KEYS, shares[0], shares[1], shares[2]);
    JN_CHECK_INT_EQ(unstable, 0);
    JN_CHECK_INT_EQ(order_differs, 0);
    JN_CHECK_INT_EQ(moved_back, 0);
    JN_CHECK_INT_EQ(moved, in_v2_b - in_v2_a); /* only the share that must move */
    double sd10 = sqrt(KEYS * 0.1 * 0.9), sd20 = sqrt(KEYS * 0.2 * 0.8), sd25 = sqrt(KEYS * 0.25 * 0.75);
    JN_CHECK(fabs(in_v2_a - KEYS * 0.1) <= 3.2905 * sd10);
    JN_CHECK(fabs(in_v2_b - KEYS * 0.2) <= 3.2905 * sd20);
    JN_CHECK(fabs(shares[0] - KEYS * 0.25) <= 3.2905 * sd25 && fabs(shares[1] - KEYS * 0.25) <= 3.2905 * sd25);
    jn__route_free(a);
    jn__route_free(b);
    jn__route_free(c);
    jn__route_free(d);
    jn_registry_destroy(reg);
}

/* Through a pipeline: every call with one user_id lands on one candidate. */
static void test_sticky_calls(void)
{
    jn_registry *reg = registry();
    jn_engine *e = compile_ok(reg, ROUTED("sticky", SPLIT(50, 50) ", \"sticky\": \"user_id\"}"));
    JN_REQUIRE(e);
    jn_err err;
    jn_err_clear(&err);
    int changed = 0, both = 0;
    for (int u = 0; u < 40; u++) {
        char user[16];
        snprintf(user, sizeof user, "u%d", u);
        int before1 = atomic_load(&runs[0]), before2 = atomic_load(&runs[1]);
        for (int i = 0; i < 25; i++)
            JN_CHECK_ERR(call(e, NULL, (float)i, user, &err), err, 0);
        int d1 = atomic_load(&runs[0]) - before1, d2 = atomic_load(&runs[1]) - before2;
        changed += !((d1 == 25 && d2 == 0) || (d1 == 0 && d2 == 25));
        both += d2 == 25;
    }
    JN_CHECK_INT_EQ(changed, 0);
    JN_CHECK(both > 5 && both < 35); /* 40 users over 50/50 land on both */
    jn_engine_unref(e);
    jn_registry_destroy(reg);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int64_t now_ms(void)
{
    return jn_now_ns() / 1000000;
}

/* The mirror gets a copy of every call off the caller's path: a 200 ms burn shadow never adds to the caller. */
static void test_mirror(void)
{
    jn_registry *reg = registry();
    jn_engine *e = compile_ok(reg, ROUTED("mirrored", "{\"split\": [{\"model\": \"v1\", \"weight\": 1}], "
                                                      "\"mirror\": \"v3\"}"));
    jn_engine *slow = compile_ok(reg, ROUTED("slow-mirror", "{\"split\": [{\"model\": \"identity\", \"weight\": 1}], "
                                                            "\"mirror\": \"burn\"}"));
    JN_REQUIRE(e && slow);
    jn_workpool *pool = jn_workpool_create(2);
    JN_REQUIRE(pool);
    jn_err err;
    jn_err_clear(&err);
    for (int i = 0; i < 20; i++)
        JN_CHECK_ERR(call(e, pool, (float)i, NULL, &err), err, 0);
    for (int w = 0; w < 500 && atomic_load(&runs[2]) < 20; w++) /* mirror calls end on the pool, later */
        sleep_ms(10);
    JN_CHECK_INT_EQ(atomic_load(&runs[0]), 20);
    JN_CHECK_INT_EQ(atomic_load(&runs[2]), 20);
    int64_t worst = 0;
    for (int i = 0; i < 5; i++) {
        int64_t t0 = now_ms();
        JN_CHECK_ERR(call(slow, pool, (float)i, NULL, &err), err, 0);
        int64_t took = now_ms() - t0;
        worst = took > worst ? took : worst;
    }
    printf("slowest call with a 200 ms mirror: %lld ms\n", (long long)worst);
    JN_CHECK(worst < 100);
    /* Without a pool the mirror is dropped; the call is still answered. */
    JN_CHECK_ERR(call(e, NULL, 1, NULL, &err), err, 0);
    jn_workpool_destroy(pool); /* runs the mirror calls still queued */
    JN_CHECK_INT_EQ(atomic_load(&runs[2]), 20);
    jn_engine_unref(e);
    jn_engine_unref(slow);
    jn_registry_destroy(reg);
}

/* Weights changed by re-registering the pipeline while callers run: every answer right, both weights seen. */
typedef struct caller {
    jn_registry *reg;
    atomic_bool *stop;
    int calls, wrong;
} caller;

static void *call_loop(void *arg)
{
    caller *c = arg;
    while (!atomic_load(c->stop)) {
        jn_err err;
        jn_err_clear(&err);
        jn_engine *e = jn_registry_get(c->reg, "canary", "", &err);
        if (!e || call(e, NULL, (float)c->calls, NULL, &err))
            c->wrong++;
        jn_engine_unref(e);
        c->calls++;
    }
    return NULL;
}

static void test_weight_change_under_load(void)
{
    jn_registry *reg = registry();
    jn_err err;
    jn_err_clear(&err);
    jn_err_clear(&err);
    jn_engine *e = compile_ok(reg, ROUTED("canary", SPLIT(100, 0) "}"));
    JN_REQUIRE(e && jn_pipeline_register(reg, e, NULL, &err) == 0);
    atomic_bool stop = false;
    caller cs[3];
    pthread_t tid[3];
    for (int k = 0; k < 3; k++) {
        cs[k] = (caller){reg, &stop, 0, 0};
        JN_REQUIRE(pthread_create(&tid[k], NULL, call_loop, &cs[k]) == 0);
    }
    static const char *const specs[] = {ROUTED("canary", SPLIT(90, 10) "}"), ROUTED("canary", SPLIT(50, 50) "}"),
                                        ROUTED("canary", SPLIT(0, 100) "}"), ROUTED("canary", SPLIT(100, 0) "}")};
    for (int round = 0; round < 40; round++) {
        jn_engine *next = compile_ok(reg, specs[round % 4]);
        JN_REQUIRE(next);
        bool replaced = false;
        jn_err_clear(&err);
        JN_CHECK_ERR(jn_pipeline_register(reg, next, &replaced, &err), err, 0);
        JN_CHECK(replaced);
        sleep_ms(5);
    }
    atomic_store(&stop, true);
    int calls = 0, wrong = 0;
    for (int k = 0; k < 3; k++) {
        pthread_join(tid[k], NULL);
        calls += cs[k].calls;
        wrong += cs[k].wrong;
    }
    printf("weight changes under load: %d calls, %d wrong; v1 %d, v2 %d\n", calls, wrong, atomic_load(&runs[0]),
           atomic_load(&runs[1]));
    JN_CHECK_INT_EQ(wrong, 0);
    JN_CHECK(atomic_load(&runs[0]) > 0 && atomic_load(&runs[1]) > 0);
    jn_registry_destroy(reg);
}

/* The answer's "route.<step>" names the candidate used (what the doors send back), not a nested pipeline's. */
static void test_answer_names_candidate(void)
{
    jn_registry *reg = registry();
    jn_err err;
    jn_err_clear(&err);
    jn_engine *e = compile_ok(reg, ROUTED("named", SPLIT(50, 50) ", \"sticky\": \"user_id\"}"));
    JN_REQUIRE(e && jn_pipeline_register(reg, jn_engine_ref(e), NULL, &err) == 0);
    jn_engine *outer = compile_ok(reg, "{\"name\": \"outer\", \"inputs\": [" X_IN "], \"steps\": [{\"id\": \"n\", "
                                       "\"model\": \"named\", \"inputs\": {\"x\": \"x\"}}], \"outputs\": [{\"name\": "
                                       "\"y\", \"from\": \"n.y\"}]}");
    JN_REQUIRE(outer);
    int seen[2] = {0, 0};
    for (int u = 0; u < 20; u++) {
        char user[16];
        snprintf(user, sizeof user, "u%d", u);
        for (int nested = 0; nested <= 1; nested++) {
            jn_request req;
            jn_request_init(&req);
            const int64_t shape[2] = {1, 2};
            jn_tensor *x = jn_tensor_create("x", JN_DTYPE_FP32, 2, shape, &err);
            JN_REQUIRE(x && jn_tensor_list_push(&req.inputs, x) == 0);
            JN_REQUIRE(jn_request_set_target(&req, nested ? "outer" : "named", "", "") == 0);
            JN_REQUIRE(jn_params_set_string(&req.params, "user_id", user) == 0);
            jn_infer_ctx ctx = jn_exec_request_ctx(&req, NULL, NULL);
            ctx.answer = &req.answer;
            int before = atomic_load(&runs[1]);
            jn_tensor_list out;
            jn_tensor_list_init(&out);
            JN_CHECK_ERR(jn_exec_engine(nested ? outer : e, &ctx, &req.inputs, &out, &err), err, 0);
            const char *got = jn_params_get_string(&req.answer, "route.m");
            if (nested) {
                JN_CHECK(got == NULL && req.answer.count == 0);
            } else {
                const char *want = atomic_load(&runs[1]) > before ? "v2" : "v1";
                JN_CHECK(got && strcmp(got, want) == 0);
                seen[want[1] - '1']++;
            }
            jn_tensor_list_clear(&out);
            jn_request_clear(&req);
        }
    }
    JN_CHECK(seen[0] > 0 && seen[1] > 0);
    jn_engine_unref(outer);
    jn_engine_unref(e);
    jn_registry_destroy(reg);
}

static void test_errors(void)
{
    jn_registry *reg = registry();
    static const struct {
        const char *json, *message;
    } cases[] = {
        /* shape (JSON) */
        {ROUTED("p", "{\"split\": []}"), "steps[0].route.split: expected a non-empty array of {\"model\", \"weight\"}, got an empty array"},
        {ROUTED("p", "{\"mirror\": \"v3\"}"), "steps[0].route: missing 'split'"},
        {ROUTED("p", SPLIT(0, 0) "}"), "steps[0].route.split: the weights add up to 0; at least one must be positive"},
        {ROUTED("p", SPLIT(-1, 2) "}"), "steps[0].route.split[0]: weight: expected a number >= 0, got a negative one"},
        {ROUTED("p", "{\"split\": [{\"model\": \"v1\", \"weight\": 1}, {\"model\": \"v1\", \"weight\": 1}]}"),
         "steps[0].route.split[1]: model 'v1' is a candidate twice"},
        {ROUTED("p", "{\"split\": [{\"model\": \"v1\"}]}"), "steps[0].route.split[0]: missing 'weight'"},
        {ROUTED("p", "{\"split\": [{\"model\": \"v1\", \"weight\": 1, \"share\": 2}]}"),
         "steps[0].route.split[0]: unknown field 'share' (known: model, weight)"},
        {ROUTED("p", SPLIT(1, 1) ", \"sticky\": 3}"), "steps[0].route: sticky: expected a request parameter's name"},
        {ROUTED("p", SPLIT(1, 1) ", \"mirror\": \"\"}"), "steps[0].route: mirror: expected a model name"},
        {ROUTED("p", SPLIT(1, 1) ", \"canary\": 1}"), "steps[0].route: unknown field 'canary' (known: split, sticky, mirror)"},
        {"{\"name\": \"p\", \"inputs\": [" X_IN "], \"steps\": [{\"id\": \"m\", \"model\": \"v1\", \"route\": " SPLIT(1, 1)
         "}, \"inputs\": {\"input\": \"x\"}}], \"outputs\": [{\"name\": \"y\", \"from\": \"m.output\"}]}",
         "steps[0]: give 'model' or 'route', not both"},
        /* registration */
        {ROUTED("p", "{\"split\": [{\"model\": \"v1\", \"weight\": 1}, {\"model\": \"nope\", \"weight\": 1}]}"),
         "pipeline 'p': step 'm': route: "},
        {ROUTED("p", "{\"split\": [{\"model\": \"v1\", \"weight\": 1}, {\"model\": \"embed\", \"weight\": 1}]}"),
         "pipeline 'p': step 'm': route candidate 'embed' has no input 'input' (which 'v1' has)"},
        {ROUTED("p", "{\"split\": [{\"model\": \"v1\", \"weight\": 1}, {\"model\": \"tokenize\", \"weight\": 1}]}"),
         "pipeline 'p': step 'm': route candidate 'tokenize' streams; a routed step cannot stream"},
        {ROUTED("p", "{\"split\": [{\"model\": \"v1\", \"weight\": 1}], \"mirror\": \"embed\"}"),
         "pipeline 'p': step 'm': route mirror 'embed' has no input 'input' (which 'v1' has)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        jn_err err;
        jn_err_clear(&err);
        jn_engine *e = compile(reg, cases[i].json, &err);
        JN_CHECK(e == NULL);
        jn_engine_unref(e);
        JN_CHECK(err.code == JN_EINVAL || err.code == JN_ENOTFOUND);
        JN_CHECK_STR_CONTAINS(err.msg, cases[i].message);
    }
    jn_registry_destroy(reg);
}

static void test_round_trip(void)
{
    static const char json[] = ROUTED("rt", "{\"split\": [{\"model\": \"v1\", \"weight\": 90}, {\"model\": \"v2\", "
                                            "\"weight\": 0.125}], \"sticky\": \"user_id\", \"mirror\": \"v3\"}");
    jn_pipeline_spec a, b;
    jn_err err;
    jn_err_clear(&err);
    jn_err_clear(&err);
    JN_REQUIRE(jn_pipeline_spec_from_json(json, strlen(json), &a, &err) == 0);
    JN_CHECK_STR_EQ(a.steps[0].model, "v1");
    char *text = jn_pipeline_spec_to_json(&a, false);
    JN_REQUIRE(text);
    JN_CHECK_STR_CONTAINS(text, "{\"id\":\"m\",\"route\":{\"split\":[{\"model\":\"v1\",\"weight\":90},{\"model\":\"v2\","
                                "\"weight\":0.125}],\"sticky\":\"user_id\",\"mirror\":\"v3\"},\"inputs\"");
    JN_CHECK(strstr(text, "\"model\":\"v1\",\"inputs\"") == NULL); /* no "model" beside the route */
    JN_CHECK_ERR(jn_pipeline_spec_from_json(text, strlen(text), &b, &err), err, 0);
    char *again = jn_pipeline_spec_to_json(&b, false);
    JN_CHECK_STR_EQ(again, text);
    jn_registry *reg = registry();
    jn_engine *e = jn_pipeline_compile(&b, reg, &err);
    JN_REQUIRE(e);
    char *plan = jn_pipeline_plan_text(e);
    JN_CHECK_STR_CONTAINS(plan, "1. step 'm' (routed)");
    JN_CHECK_STR_CONTAINS(plan, "route {\"split\":[{\"model\":\"v1\",\"weight\":90}");
    free(plan);
    jn_engine_unref(e);
    jn_registry_destroy(reg);
    free(text);
    free(again);
    jn_pipeline_spec_free(&a);
    jn_pipeline_spec_free(&b);
}

int main(void)
{
    JN_TEST_RUN(test_split_within_bound);
    JN_TEST_RUN(test_consistent_hash);
    JN_TEST_RUN(test_sticky_calls);
    JN_TEST_RUN(test_mirror);
    JN_TEST_RUN(test_weight_change_under_load);
    JN_TEST_RUN(test_answer_names_candidate);
    JN_TEST_RUN(test_errors);
    JN_TEST_RUN(test_round_trip);
    return JN_TEST_EXIT();
}
