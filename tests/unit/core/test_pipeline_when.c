/* Unit tests for pipelines that decide (issue #20, broker/core/pipeline/condition.c, compile.c, run.c): conditions
 * on a CLASSIFICATION, a TEXT (equals, POSIX ERE) and a scalar, all/any/not, both branches of a decision, skipped
 * steps never started (counted by the engines themselves), steps downstream of a skipped one skipped too,
 * first-present and optional outputs, conditions that cannot be evaluated at run time, the JSON round trip, and
 * every registration error class with its message. Also run concurrently on a pool (the concurrent path). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "executor.h"
#include "pipeline.h"
#include "test.h"
#include "workpool.h"

/* ---- test engines ---- */

/* "cls": input FP32[-1,2] -> "scores" CLASSIFICATION [-1,2] (ham, spam), the same values. */
static int cls_infer(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs, jn_tensor_list *outputs,
                     jn_err *err)
{
    (void)self;
    (void)ctx;
    jn_tensor *out = jn_tensor_share(jn_tensor_list_find(inputs, "input"), "scores", err);
    if (!out)
        return err->code;
    return jn_tensor_list_push(outputs, out) ? jn_err_set(err, JN_ENOMEM, "out of memory") : 0;
}

static const jn_engine_vtable cls_vt = {.abi_version = JN_ENGINE_ABI_VERSION, .platform = "test", .infer = cls_infer};

/* "count_*": identity that counts its runs (ctx: an atomic_int), to prove which steps were started. */
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

static atomic_int runs_a, runs_b, runs_c;

static jn_engine *counted(const char *name, atomic_int *counter, bool inline_engine)
{
    jn_err err;
    jn_err_clear(&err);
    jn_engine *e = jn_engine_create(&count_vt, name, "1", "counts its runs", counter, &err);
    const int64_t any2[2] = {-1, -1};
    if (!e || jn_signature_add_input(&e->sig, "input", JN_KIND_TENSOR, JN_DTYPE_FP32, 2, any2, &err) ||
        jn_signature_add_output(&e->sig, "output", JN_KIND_TENSOR, JN_DTYPE_FP32, 2, any2, &err))
        return NULL;
    if (inline_engine)
        e->flags |= JN_ENGINE_INLINE;
    return e;
}

static jn_registry *registry(bool inline_engines)
{
    jn_err err;
    jn_err_clear(&err);
    jn_builtin_options opt = {.burn_default_ms = 0.2};
    jn_registry *reg = jn_registry_create();
    JN_REQUIRE(reg);
    const int64_t any2[2] = {-1, 2};
    static const char *const labels[] = {"ham", "spam"};
    jn_engine *cls = jn_engine_create(&cls_vt, "cls", "1", "scores", NULL, &err);
    JN_REQUIRE(cls);
    JN_REQUIRE(jn_signature_add_input(&cls->sig, "input", JN_KIND_TENSOR, JN_DTYPE_FP32, 2, any2, &err) == 0);
    JN_REQUIRE(jn_signature_add_output(&cls->sig, "scores", JN_KIND_CLASSIFICATION, JN_DTYPE_FP32, 2, any2, &err) ==
               0);
    JN_REQUIRE(jn_port_set_labels(&cls->sig.outputs[0], labels, 2, &err) == 0);
    cls->flags |= JN_ENGINE_INLINE;
    jn_engine *engines[] = {cls,
                            counted("count_a", &runs_a, inline_engines),
                            counted("count_b", &runs_b, inline_engines),
                            counted("count_c", &runs_c, inline_engines),
                            jn_identity_create("identity", &opt, &err),
                            jn_burn_create("burn", &opt, &err),
                            jn_tokenize_create("tokenize", &opt, &err)};
    for (size_t i = 0; i < sizeof engines / sizeof engines[0]; i++) {
        JN_REQUIRE(engines[i]);
        JN_REQUIRE(jn_registry_add(reg, engines[i], &err) == 0);
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

/* One call with x = [[s0, s1]] (and optional text t / number n); the outputs in *out. */
static int call(jn_engine *e, jn_workpool *pool, float s0, float s1, const char *t, const float *n,
                jn_tensor_list *out, jn_err *err)
{
    jn_request req;
    jn_request_init(&req);
    jn_err_clear(err);
    jn_tensor_list_init(out);
    const int64_t shape[2] = {1, 2}, one[1] = {1}, one2[2] = {1, 1};
    jn_tensor *x = jn_tensor_create("x", JN_DTYPE_FP32, 2, shape, err);
    JN_REQUIRE(x);
    ((float *)x->data)[0] = s0;
    ((float *)x->data)[1] = s1;
    JN_REQUIRE(jn_request_set_target(&req, e->name, "", "") == 0 && jn_tensor_list_push(&req.inputs, x) == 0);
    if (t) {
        size_t len = strlen(t);
        jn_tensor *tt = jn_tensor_from_strings("t", 1, one, &t, &len, 1, err);
        JN_REQUIRE(tt && jn_tensor_list_push(&req.inputs, tt) == 0);
    }
    if (n) {
        jn_tensor *nt = jn_tensor_create("n", JN_DTYPE_FP32, 2, one2, err);
        JN_REQUIRE(nt);
        *(float *)nt->data = *n;
        JN_REQUIRE(jn_tensor_list_push(&req.inputs, nt) == 0);
    }
    int rc = jn_exec_run(e, &req, NULL, pool, out, err);
    jn_request_clear(&req);
    return rc;
}

static void reset_counts(void)
{
    atomic_store(&runs_a, 0);
    atomic_store(&runs_b, 0);
    atomic_store(&runs_c, 0);
}

#define X_IN "{\"name\": \"x\", \"kind\": \"TENSOR\", \"datatype\": \"FP32\", \"shape\": [-1, 2]}"
#define T_IN "{\"name\": \"t\", \"kind\": \"TEXT\", \"datatype\": \"BYTES\", \"shape\": [1]}"
#define N_IN "{\"name\": \"n\", \"kind\": \"TENSOR\", \"datatype\": \"FP32\", \"shape\": [1, 1]}"
#define SPAM "{\"from\": \"c.scores\", \"label\": [\"spam\"], \"score_above\": 0.9}"

/* The spam routing: review runs for confident spam, plain otherwise; d follows review. */
static const char routing[] =
    "{\"name\": \"route\", \"inputs\": [" X_IN "], \"steps\": ["
    "{\"id\": \"c\", \"model\": \"cls\", \"inputs\": {\"input\": \"x\"}},"
    "{\"id\": \"review\", \"model\": \"count_a\", \"inputs\": {\"input\": \"x\"}, \"when\": " SPAM "},"
    "{\"id\": \"plain\", \"model\": \"count_b\", \"inputs\": {\"input\": \"x\"}, \"when\": {\"not\": " SPAM "}},"
    "{\"id\": \"d\", \"model\": \"count_c\", \"inputs\": {\"input\": \"review.output\"}}],"
    "\"outputs\": [{\"name\": \"answer\", \"from\": [\"review.output\", \"plain.output\"]},"
    "{\"name\": \"flagged\", \"from\": \"d.output\", \"optional\": true},"
    "{\"name\": \"scores\", \"from\": \"c.scores\"}]}";

static void check_routing(jn_engine *e, jn_workpool *pool)
{
    jn_tensor_list out;
    jn_err err;
    jn_err_clear(&err);
    struct {
        float s0, s1;
        int a, b, c;
    } cases[] = {
        {0.05f, 0.95f, 1, 0, 1}, /* confident spam: review and d */
        {0.2f, 0.8f, 0, 1, 0},   /* spam, not confident: plain */
        {0.9f, 0.1f, 0, 1, 0},   /* ham: plain */
        {0.5f, 0.5f, 0, 1, 0},   /* a tie: the first label (ham) is the top one */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        reset_counts();
        int rc = call(e, pool, cases[i].s0, cases[i].s1, NULL, NULL, &out, &err);
        JN_CHECK_ERR(rc, err, 0);
        JN_CHECK_INT_EQ(atomic_load(&runs_a), cases[i].a);
        JN_CHECK_INT_EQ(atomic_load(&runs_b), cases[i].b);
        JN_CHECK_INT_EQ(atomic_load(&runs_c), cases[i].c);
        const jn_tensor *answer = jn_tensor_list_find(&out, "answer");
        JN_CHECK(answer != NULL);
        if (answer)
            JN_CHECK_DBL_EQ(((const float *)answer->data)[1], cases[i].s1);
        JN_CHECK((jn_tensor_list_find(&out, "flagged") != NULL) == (cases[i].c == 1)); /* optional: left out */
        JN_CHECK(jn_tensor_list_find(&out, "scores") != NULL);
        jn_tensor_list_clear(&out);
    }
    /* A skipped step's own output asked for by name: a precise error. */
    jn_request req;
    jn_request_init(&req);
    const int64_t shape[2] = {1, 2};
    jn_tensor *x = jn_tensor_create("x", JN_DTYPE_FP32, 2, shape, &err);
    JN_REQUIRE(x);
    ((float *)x->data)[0] = 1;
    JN_REQUIRE(jn_request_set_target(&req, e->name, "", "") == 0 && jn_tensor_list_push(&req.inputs, x) == 0);
    JN_REQUIRE(jn_request_add_output(&req, "review.output") == 0);
    jn_tensor_list_init(&out);
    jn_err_clear(&err);
    JN_CHECK_ERR(jn_exec_run(e, &req, NULL, pool, &out, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "pipeline 'route': output 'review.output' was not produced: step 'review' was skipped");
    jn_tensor_list_clear(&out);
    jn_request_clear(&req);
}

static void test_both_branches_in_order(void)
{
    jn_registry *reg = registry(true);
    jn_engine *e = compile_ok(reg, routing);
    JN_REQUIRE(e);
    JN_CHECK(jn_engine_is_inline(e));
    check_routing(e, NULL);
    char *plan = jn_pipeline_plan_text(e);
    JN_REQUIRE(plan);
    JN_CHECK_STR_CONTAINS(plan, "when {\"not\":{\"from\":\"c.scores\"");
    JN_CHECK_STR_CONTAINS(plan, "output answer <- review.output | plain.output: TENSOR FP32[-1,-1]");
    JN_CHECK_STR_CONTAINS(plan, "output flagged <- d.output: TENSOR FP32[-1,-1] (optional)");
    free(plan);
    jn_engine_unref(e);
    jn_registry_destroy(reg);
}

/* Pooled steps: the concurrent path decides when a step becomes ready; many callers at once. */
typedef struct caller {
    jn_engine *e;
    jn_workpool *pool;
    int wrong;
} caller;

static void *route_many(void *arg)
{
    caller *c = arg;
    for (int i = 0; i < 200; i++) {
        jn_tensor_list out;
        jn_err err;
        jn_err_clear(&err);
        float s1 = (i % 2) ? 0.95f : 0.5f;
        if (call(c->e, c->pool, 1 - s1, s1, NULL, NULL, &out, &err)) {
            c->wrong++;
            continue;
        }
        const jn_tensor *a = jn_tensor_list_find(&out, "answer");
        bool flagged = jn_tensor_list_find(&out, "flagged") != NULL;
        if (!a || ((const float *)a->data)[1] != s1 || flagged != (i % 2 == 1))
            c->wrong++;
        jn_tensor_list_clear(&out);
    }
    return NULL;
}

static void test_both_branches_concurrent(void)
{
    jn_registry *reg = registry(false);
    jn_engine *e = compile_ok(reg, routing);
    JN_REQUIRE(e);
    JN_CHECK(!jn_engine_is_inline(e));
    jn_workpool *pool = jn_workpool_create(2);
    JN_REQUIRE(pool);
    check_routing(e, pool);
    reset_counts();
    pthread_t tid[4];
    caller cs[4];
    for (int k = 0; k < 4; k++) {
        cs[k] = (caller){e, pool, 0};
        JN_REQUIRE(pthread_create(&tid[k], NULL, route_many, &cs[k]) == 0);
    }
    int wrong = 0;
    for (int k = 0; k < 4; k++) {
        pthread_join(tid[k], NULL);
        wrong += cs[k].wrong;
    }
    JN_CHECK_INT_EQ(wrong, 0);
    JN_CHECK_INT_EQ(atomic_load(&runs_a), 400); /* half of 800 calls were confident spam */
    JN_CHECK_INT_EQ(atomic_load(&runs_b), 400);
    JN_CHECK_INT_EQ(atomic_load(&runs_c), 400);
    jn_workpool_destroy(pool);
    jn_engine_unref(e);
    jn_registry_destroy(reg);
}

/* Nested all/any/not over a TEXT regex, TEXT equals and a scalar; inputs read only by a condition count as used. */
static void test_nested_conditions(void)
{
    jn_registry *reg = registry(true);
    jn_engine *e = compile_ok(
        reg, "{\"name\": \"nested\", \"inputs\": [" X_IN ", " T_IN ", " N_IN "], \"steps\": ["
             "{\"id\": \"a\", \"model\": \"count_a\", \"inputs\": {\"input\": \"x\"}, \"when\": {\"all\": ["
             "  {\"any\": [{\"from\": \"t\", \"matches\": \"^(re|fwd): \"}, {\"from\": \"t\", \"equals\": [\"urgent\"]}]},"
             "  {\"not\": {\"from\": \"n\", \"below\": 0}}, {\"from\": \"n\", \"below\": 10}]}},"
             "{\"id\": \"b\", \"model\": \"count_b\", \"inputs\": {\"input\": \"x\"}, \"when\": {\"from\": \"n\", "
             "\"equals\": 7}}],"
             "\"outputs\": [{\"name\": \"ya\", \"from\": \"a.output\", \"optional\": true},"
             "{\"name\": \"yb\", \"from\": \"b.output\", \"optional\": true}]}");
    JN_REQUIRE(e);
    struct {
        const char *t;
        float n;
        int a, b;
    } cases[] = {
        {"re: lunch", 3, 1, 0}, {"fwd: lunch", 0, 1, 0}, {"urgent", 7, 1, 1},   {"urgent!", 7, 0, 1},
        {"lunch", 3, 0, 0},     {"re: lunch", -1, 0, 0}, {"re: lunch", 10, 0, 0}, {"RE: lunch", 3, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        reset_counts();
        jn_tensor_list out;
        jn_err err;
        jn_err_clear(&err);
        JN_CHECK_ERR(call(e, NULL, 0, 0, cases[i].t, &cases[i].n, &out, &err), err, 0);
        if (atomic_load(&runs_a) != cases[i].a || atomic_load(&runs_b) != cases[i].b)
            fprintf(stderr, "case %zu: t='%s' n=%g\n", i, cases[i].t, cases[i].n);
        JN_CHECK_INT_EQ(atomic_load(&runs_a), cases[i].a);
        JN_CHECK_INT_EQ(atomic_load(&runs_b), cases[i].b);
        JN_CHECK_INT_EQ((int)out.count, cases[i].a + cases[i].b);
        jn_tensor_list_clear(&out);
    }
    jn_engine_unref(e);
    jn_registry_destroy(reg);
}

/* A condition that cannot be evaluated (two rows of scores) fails the call, naming the step and the condition. */
static void test_condition_errors_at_run_time(void)
{
    jn_registry *reg = registry(true);
    jn_engine *e = compile_ok(reg, routing);
    JN_REQUIRE(e);
    jn_request req;
    jn_request_init(&req);
    jn_err err;
    jn_err_clear(&err);
    const int64_t shape[2] = {2, 2};
    jn_tensor *x = jn_tensor_create("x", JN_DTYPE_FP32, 2, shape, &err);
    JN_REQUIRE(x);
    JN_REQUIRE(jn_request_set_target(&req, "route", "", "") == 0 && jn_tensor_list_push(&req.inputs, x) == 0);
    jn_tensor_list out;
    jn_tensor_list_init(&out);
    reset_counts();
    jn_err_clear(&err);
    JN_CHECK_ERR(jn_exec_run(e, &req, NULL, NULL, &out, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "pipeline 'route': step 'review' (model 'count_a'): when: condition "
                                   "{\"from\":\"c.scores\",\"label\":[\"spam\"],\"score_above\":0.9} reads one row of "
                                   "scores, got 4 values in 2 rows");
    JN_CHECK_INT_EQ(atomic_load(&runs_a) + atomic_load(&runs_b), 0);
    jn_tensor_list_clear(&out);
    jn_request_clear(&req);
    jn_engine_unref(e);
    jn_registry_destroy(reg);
}

/* Conditions, several sources and optional outputs survive the JSON round trip (a fixed point). */
static void test_round_trip(void)
{
    jn_pipeline_spec a, b;
    jn_err err;
    jn_err_clear(&err);
    jn_err_clear(&err);
    JN_REQUIRE(jn_pipeline_spec_from_json(routing, strlen(routing), &a, &err) == 0);
    JN_CHECK_STR_EQ(a.steps[1].when, "{\"from\":\"c.scores\",\"label\":[\"spam\"],\"score_above\":0.9}");
    JN_CHECK_INT_EQ((int)a.outputs[0].n_more_from, 1);
    JN_CHECK(a.outputs[1].optional && !a.outputs[0].optional);
    for (int pretty = 0; pretty <= 1; pretty++) {
        char *text = jn_pipeline_spec_to_json(&a, pretty);
        JN_REQUIRE(text);
        JN_CHECK_ERR(jn_pipeline_spec_from_json(text, strlen(text), &b, &err), err, 0);
        char *again = jn_pipeline_spec_to_json(&b, pretty);
        JN_CHECK_STR_EQ(again, text);
        if (!pretty)
            JN_CHECK_STR_CONTAINS(text, "{\"name\":\"answer\",\"from\":[\"review.output\",\"plain.output\"]},"
                                        "{\"name\":\"flagged\",\"from\":\"d.output\",\"optional\":true}");
        else
            JN_CHECK_STR_CONTAINS(text, "\"when\": {\n        \"not\": {\n          \"from\": \"c.scores\",\n"
                                        "          \"label\": [\"spam\"],\n          \"score_above\": 0.9");
        free(text);
        free(again);
        jn_pipeline_spec_free(&b);
    }
    jn_pipeline_spec_free(&a);
    /* A threshold with many digits keeps them. */
    static const char precise[] = "{\"name\":\"p\",\"inputs\":[" N_IN "],\"steps\":[{\"id\":\"a\",\"model\":\"identity\","
                                  "\"inputs\":{\"input\":\"n\"},\"when\":{\"from\":\"n\",\"above\":0.123456789}}],"
                                  "\"outputs\":[{\"name\":\"y\",\"from\":\"a.output\",\"optional\":true}]}";
    JN_REQUIRE(jn_pipeline_spec_from_json(precise, strlen(precise), &a, &err) == 0);
    char *text = jn_pipeline_spec_to_json(&a, false);
    JN_CHECK_STR_CONTAINS(text, "\"above\":0.123456789}");
    free(text);
    jn_pipeline_spec_free(&a);
}

/* Every registration error class, named precisely. */
#define PIPE(ins, steps, outputs)                                                                                      \
    "{\"name\": \"p\", \"inputs\": [" ins "], \"steps\": [{\"id\": \"c\", \"model\": \"cls\", \"inputs\": " \
    "{\"input\": \"x\"}}, " steps "], \"outputs\": [" outputs "]}"
#define P(steps, outputs) PIPE(X_IN, steps, outputs)
#define PT(steps, outputs) PIPE(X_IN ", " T_IN, steps, outputs)
#define STEP(id, model, when) "{\"id\": \"" id "\", \"model\": \"" model "\", \"inputs\": {\"input\": \"x\"}, \"when\": " when "}"
#define OUT(from) "{\"name\": \"y\", \"from\": " from "}"

static void test_registration_errors(void)
{
    jn_registry *reg = registry(true);
    static const struct {
        const char *json, *message;
    } cases[] = {
        {P(STEP("a", "identity", "{\"from\": \"x\", \"label\": [\"spam\"]}"), OUT("\"a.output\"")),
         "pipeline 'p': step 'a': when: condition {\"from\":\"x\",\"label\":[\"spam\"]} tests a CLASSIFICATION (label, "
         "score_above, score_below), but 'x' is TENSOR FP32[-1,2]"},
        {P(STEP("a", "identity", "{\"from\": \"c.scores\", \"label\": [\"spamm\"]}"), OUT("\"a.output\"")),
         "pipeline 'p': step 'a': when: condition {\"from\":\"c.scores\",\"label\":[\"spamm\"]}: 'c.scores' has no "
         "label 'spamm' (its labels are 'ham', 'spam')"},
        {P(STEP("a", "identity", "{\"from\": \"c.scores\", \"matches\": \"x\"}"), OUT("\"a.output\"")),
         "tests a TEXT (equals strings, matches), but 'c.scores' is CLASSIFICATION FP32[-1,2]"},
        {PT(STEP("a", "identity", "{\"from\": \"t\", \"above\": 1}"), OUT("\"a.output\"")),
         "compares a number (above, below, equals), but 't' is TEXT BYTES[1], not a numeric TENSOR"},
        {P(STEP("a", "identity", "{\"from\": \"c.scores\", \"above\": 1}"), OUT("\"a.output\"")),
         "compares a number (above, below, equals), but 'c.scores' is CLASSIFICATION FP32[-1,2], not a numeric TENSOR"},
        {"{\"name\": \"p\", \"inputs\": [{\"name\": \"x\", \"kind\": \"TENSOR\", \"datatype\": \"FP32\", \"shape\": [2, 2]}],"
         "\"steps\": [" STEP("a", "identity", "{\"from\": \"x\", \"above\": 1}") "], \"outputs\": [" OUT("\"a.output\"") "]}",
         "compares one number, but 'x' is FP32[2,2]: 4 values"},
        {P(STEP("a", "identity", "{\"from\": \"z.scores\", \"above\": 1}"), OUT("\"a.output\"")),
         "pipeline 'p': step 'a': when: condition {\"above\":1,\"from\":\"z.scores\"} comes from 'z.scores', but there "
         "is no step 'z'"},
        {P(STEP("a", "identity", "{\"from\": \"c.score\", \"label\": [\"spam\"]}"), OUT("\"a.output\"")),
         "but step 'c' (model 'cls') has no output 'score' (its outputs are 'scores')"},
        {P(STEP("a", "identity", "{\"from\": \"a.output\", \"above\": 1}"), OUT("\"a.output\"")),
         "pipeline 'p': step 'a': its condition reads its own output"},
        {P(STEP("a", "identity", SPAM), OUT("\"a.output\"")),
         "pipeline 'p': output 'y' may be missing: when {\"from\":\"c.scores\",\"label\":[\"spam\"],\"score_above\":0.9} "
         "is false, none of its sources ('a.output') runs; add a source that runs then (\"from\": [...]) or declare it "
         "\"optional\": true"},
        /* the two-branch version is fine only with both branches */
        {P(STEP("a", "identity", SPAM) "," STEP("b", "identity", "{\"not\": " SPAM "}") ","
           "{\"id\": \"d\", \"model\": \"identity\", \"inputs\": {\"input\": \"a.output\"}}",
           OUT("[\"d.output\", \"a.output\"]")),
         "output 'y' may be missing: when {\"from\":\"c.scores\",\"label\":[\"spam\"],\"score_above\":0.9} is false, "
         "none of its sources ('d.output', 'a.output') runs"},
        {P(STEP("a", "identity", "{\"all\": [" SPAM ", {\"not\": " SPAM "}]}"),
           "{\"name\": \"y\", \"from\": \"a.output\", \"optional\": true}, {\"name\": \"s\", \"from\": \"c.scores\"}"),
         "pipeline 'p': step 'a' can never run: its condition is false whenever the steps it needs run"},
        {P(STEP("a", "identity", SPAM), OUT("[\"a.output\", \"c.scores\"]")),
         "pipeline 'p': output 'y': source 'c.scores' is CLASSIFICATION FP32[-1,2] (other labels), but the first source "
         "'a.output' is TENSOR FP32[-1,-1]; every source of an output has one type"},
        {P(STEP("a", "identity", SPAM), OUT("[\"a.output\", \"a.output\"]")),
         "pipeline 'p': output 'y' names source 'a.output' twice"},
        {P(STEP("a", "identity", SPAM), OUT("[\"a.output\", \"x\"]")),
         "pipeline 'p': output 'y' comes from pipeline input 'x'; outputs come from steps"},
        {PT(STEP("a", "identity",
                "{\"any\": [{\"from\": \"t\", \"equals\": [\"1\"]}, {\"from\": \"t\", \"equals\": [\"2\"]}, "
                "{\"from\": \"t\", \"equals\": [\"3\"]}, {\"from\": \"t\", \"equals\": [\"4\"]}, {\"from\": \"t\", "
                "\"equals\": [\"5\"]}, {\"from\": \"t\", \"equals\": [\"6\"]}, {\"from\": \"t\", \"equals\": [\"7\"]}]}")
           "," STEP("b", "identity",
                    "{\"any\": [{\"from\": \"t\", \"matches\": \"1\"}, {\"from\": \"t\", \"matches\": \"2\"}, "
                    "{\"from\": \"t\", \"matches\": \"3\"}, {\"from\": \"t\", \"matches\": \"4\"}, {\"from\": \"t\", "
                    "\"matches\": \"5\"}, {\"from\": \"t\", \"matches\": \"6\"}]}"),
           OUT("[\"a.output\", \"b.output\"]") ", {\"name\": \"s\", \"from\": \"c.scores\"}"),
         "pipeline 'p': 13 distinct condition tests; at most 12 can be checked at registration"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        jn_err err;
        jn_err_clear(&err);
        jn_engine *e = compile(reg, cases[i].json, &err);
        JN_CHECK(e == NULL);
        if (e) {
            fprintf(stderr, "case %zu compiled\n", i);
            jn_engine_unref(e);
            continue;
        }
        JN_CHECK_INT_EQ(err.code, JN_EINVAL);
        JN_CHECK_STR_CONTAINS(err.msg, cases[i].message);
    }
    /* Legal: an input read only by a condition; an output whose sources cover both branches through a chain; a
     * condition on the pipeline's own input. */
    static const char *const good[] = {
        PT(STEP("a", "identity", "{\"from\": \"t\", \"equals\": [\"go\"]}") "," STEP("b", "identity", "{\"not\": "
          "{\"from\": \"t\", \"equals\": [\"go\"]}}") ", {\"id\": \"d\", \"model\": \"identity\", \"inputs\": "
          "{\"input\": \"a.output\"}}", OUT("[\"d.output\", \"b.output\"]") ", {\"name\": \"s\", \"from\": \"c.scores\"}"),
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        jn_err err;
        jn_err_clear(&err);
        jn_engine *e = compile(reg, good[i], &err);
        JN_CHECK_ERR(e ? 0 : err.code, err, 0);
        jn_engine_unref(e);
    }
    jn_registry_destroy(reg);
}

int main(void)
{
    JN_TEST_RUN(test_both_branches_in_order);
    JN_TEST_RUN(test_both_branches_concurrent);
    JN_TEST_RUN(test_nested_conditions);
    JN_TEST_RUN(test_condition_errors_at_run_time);
    JN_TEST_RUN(test_round_trip);
    JN_TEST_RUN(test_registration_errors);
    return JN_TEST_EXIT();
}
