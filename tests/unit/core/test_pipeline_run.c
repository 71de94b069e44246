/* Unit tests for running pipelines concurrently (broker/core/pipeline/run.c): many callers at once on the in-order path
 * (all inline steps) and on the concurrent path (pooled steps fanned out, nested pipelines on a one-thread pool),
 * every answer checked. Also built with ThreadSanitizer in CI (scripts/test.sh), which checks the hand-offs. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "executor.h"
#include "pipeline.h"
#include "test.h"
#include "workpool.h"

enum { CALLERS = 4, CALLS = 150 };

static jn_engine *compile(jn_registry *reg, const char *json)
{
    jn_pipeline_spec spec;
    jn_err err;
    jn_err_clear(&err);
    jn_engine *e = NULL;
    if (jn_pipeline_spec_from_json(json, strlen(json), &spec, &err) == 0)
        e = jn_pipeline_compile(&spec, reg, &err);
    jn_pipeline_spec_free(&spec);
    if (!e)
        fprintf(stderr, "compile: %s\n", err.msg);
    return e;
}

typedef struct caller {
    jn_engine *engine;
    jn_workpool *pool;
    const char *output;
    int id;
    int wrong;
} caller;

static void *call_many(void *arg)
{
    caller *c = arg;
    jn_err err;
    const int64_t shape[2] = {1, 4};
    for (int i = 0; i < CALLS; i++) {
        jn_request req;
        jn_request_init(&req);
        jn_err_clear(&err);
        jn_tensor *in = jn_tensor_create("x", JN_DTYPE_FP32, 2, shape, &err);
        if (!in || jn_request_set_target(&req, c->engine->name, "", "") || jn_tensor_list_push(&req.inputs, in)) {
            c->wrong++;
            jn_request_clear(&req);
            continue;
        }
        float *v = in->data;
        for (int k = 0; k < 4; k++)
            v[k] = (float)(c->id * 1000 + i * 4 + k);
        jn_tensor_list out;
        jn_tensor_list_init(&out);
        if (jn_exec_run(c->engine, &req, NULL, c->pool, &out, &err)) {
            fprintf(stderr, "%s: %s\n", c->engine->name, err.msg);
            c->wrong++;
        } else {
            const jn_tensor *t = jn_tensor_list_find(&out, c->output);
            if (!t || t->byte_size != 16 || memcmp(t->data, v, 16) != 0)
                c->wrong++;
        }
        jn_tensor_list_clear(&out);
        jn_request_clear(&req);
    }
    return NULL;
}

static void run_callers(jn_engine *e, jn_workpool *pool, const char *output)
{
    pthread_t tid[CALLERS];
    caller cs[CALLERS];
    for (int k = 0; k < CALLERS; k++) {
        cs[k] = (caller){e, pool, output, k, 0};
        JN_REQUIRE(pthread_create(&tid[k], NULL, call_many, &cs[k]) == 0);
    }
    int wrong = 0;
    for (int k = 0; k < CALLERS; k++) {
        pthread_join(tid[k], NULL);
        wrong += cs[k].wrong;
    }
    JN_CHECK_INT_EQ(wrong, 0);
}

static jn_registry *registry(void)
{
    jn_err err;
    jn_builtin_options opt = {.burn_default_ms = 0.2};
    jn_registry *reg = jn_registry_create();
    if (!reg)
        return NULL;
    jn_engine *id = jn_identity_create("identity", &opt, &err), *burn = jn_burn_create("burn", &opt, &err);
    if (!id || !burn || jn_registry_add(reg, id, &err) || jn_registry_add(reg, burn, &err)) {
        jn_registry_destroy(reg);
        return NULL;
    }
    return reg;
}

#define X_INPUT "\"inputs\": [{\"name\": \"x\", \"kind\": \"TENSOR\", \"datatype\": \"FP32\", \"shape\": [-1, -1]}]"

/* All steps inline: run in order on the caller's thread. */
static void test_inline_chain_many_callers(void)
{
    jn_registry *reg = registry();
    JN_REQUIRE(reg);
    jn_engine *e = compile(reg, "{\"name\": \"chain\", " X_INPUT ", \"steps\": ["
                                "{\"id\": \"a\", \"model\": \"identity\", \"inputs\": {\"input\": \"x\"}},"
                                "{\"id\": \"b\", \"model\": \"identity\", \"inputs\": {\"input\": \"a.output\"}},"
                                "{\"id\": \"c\", \"model\": \"identity\", \"inputs\": {\"input\": \"b.output\"}}],"
                                "\"outputs\": [{\"name\": \"y\", \"from\": \"c.output\"}]}");
    JN_REQUIRE(e);
    JN_CHECK(jn_engine_is_inline(e));
    jn_workpool *pool = jn_workpool_create(2);
    JN_REQUIRE(pool);
    run_callers(e, pool, "y");
    jn_workpool_destroy(pool);
    jn_engine_unref(e);
    jn_registry_destroy(reg);
}

/* Pooled steps fanned out and joined: ready steps are offered to the pool while the caller runs one itself. */
static void test_fanout_on_pool_many_callers(void)
{
    jn_registry *reg = registry();
    JN_REQUIRE(reg);
    jn_engine *e = compile(reg, "{\"name\": \"fan\", " X_INPUT ", \"steps\": ["
                                "{\"id\": \"a\", \"model\": \"burn\", \"inputs\": {\"input\": \"x\"}},"
                                "{\"id\": \"b\", \"model\": \"burn\", \"inputs\": {\"input\": \"x\"}},"
                                "{\"id\": \"c\", \"model\": \"burn\", \"inputs\": {\"input\": \"x\"}},"
                                "{\"id\": \"d\", \"model\": \"identity\", \"inputs\": {\"input\": \"c.output\"}}],"
                                "\"outputs\": [{\"name\": \"ya\", \"from\": \"a.output\"},"
                                "{\"name\": \"yb\", \"from\": \"b.output\"}, {\"name\": \"yd\", \"from\": \"d.output\"}]}");
    JN_REQUIRE(e);
    JN_CHECK(!jn_engine_is_inline(e));
    jn_workpool *pool = jn_workpool_create(2);
    JN_REQUIRE(pool);
    run_callers(e, pool, "ya");
    run_callers(e, pool, "yd");
    jn_workpool_destroy(pool);
    jn_engine_unref(e);
    jn_registry_destroy(reg);
}

/* A pipeline inside a pipeline on a one-thread pool: nobody waits on a step nobody has started. */
static void test_nested_on_one_thread_pool(void)
{
    jn_registry *reg = registry();
    JN_REQUIRE(reg);
    jn_err err;
    jn_engine *inner = compile(reg, "{\"name\": \"inner\", " X_INPUT ", \"steps\": ["
                                    "{\"id\": \"a\", \"model\": \"burn\", \"inputs\": {\"input\": \"x\"}},"
                                    "{\"id\": \"b\", \"model\": \"burn\", \"inputs\": {\"input\": \"x\"}}],"
                                    "\"outputs\": [{\"name\": \"y\", \"from\": \"a.output\"},"
                                    "{\"name\": \"z\", \"from\": \"b.output\"}]}");
    JN_REQUIRE(inner);
    JN_REQUIRE(jn_pipeline_register(reg, inner, NULL, &err) == 0);
    jn_engine *outer = compile(reg, "{\"name\": \"outer\", " X_INPUT ", \"steps\": ["
                                    "{\"id\": \"p\", \"model\": \"inner\", \"inputs\": {\"x\": \"x\"}},"
                                    "{\"id\": \"q\", \"model\": \"inner\", \"inputs\": {\"x\": \"x\"}}],"
                                    "\"outputs\": [{\"name\": \"w\", \"from\": \"q.z\"}, {\"name\": \"v\", \"from\": "
                                    "\"p.y\"}]}");
    JN_REQUIRE(outer);
    jn_workpool *pool = jn_workpool_create(1);
    JN_REQUIRE(pool);
    run_callers(outer, pool, "w");
    jn_workpool_destroy(pool);
    jn_engine_unref(outer);
    jn_registry_destroy(reg);
}

int main(void)
{
    JN_TEST_RUN(test_inline_chain_many_callers);
    JN_TEST_RUN(test_fanout_on_pool_many_callers);
    JN_TEST_RUN(test_nested_on_one_thread_pool);
    return JN_TEST_EXIT();
}
