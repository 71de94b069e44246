/* Unit tests for core/batcher.c, core/response_cache.c and core/model_config.c (issue #16): many threads through
 * one batcher (each gets its own rows, fewer executions than calls), preserve_ordering, a full queue, cancellation
 * and deadlines while queued, priorities; the cache's hits, forced collisions and byte bound; config parsing
 * errors. Also run under ThreadSanitizer (label tsan). */
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "batcher.h"
#include "model_config.h"
#include "response_cache.h"
#include "test.h"

/* ---- a fake engine: y = 2x, rows independent; optionally slow ---- */

static atomic_int executions;
static atomic_int slow_ms;

static int twice_infer(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                       jn_tensor_list *outputs, jn_err *err)
{
    (void)self;
    (void)ctx;
    atomic_fetch_add(&executions, 1);
    int ms = atomic_load(&slow_ms);
    if (ms)
        usleep((useconds_t)ms * 1000);
    const jn_tensor *x = inputs->items[0];
    jn_tensor *y = jn_tensor_create("y", JN_DTYPE_FP32, x->ndim, x->shape, err);
    if (!y)
        return err->code;
    const float *a = x->data;
    float *b = y->data;
    for (int64_t i = 0; i < jn_tensor_element_count(x); i++)
        b[i] = 2.0f * a[i];
    return jn_tensor_list_push(outputs, y);
}

static const jn_engine_vtable twice_vt = {.abi_version = JN_ENGINE_ABI_VERSION, .platform = "test",
                                          .infer = twice_infer};

static jn_engine *make_twice(void)
{
    jn_err err;
    jn_err_clear(&err);
    jn_engine *e = jn_engine_create(&twice_vt, "twice", "1", NULL, NULL, &err);
    JN_REQUIRE(e);
    const int64_t any[2] = {-1, 4};
    JN_REQUIRE(jn_signature_add_input(&e->sig, "x", JN_KIND_TENSOR, JN_DTYPE_FP32, 2, any, &err) == 0);
    JN_REQUIRE(jn_signature_add_output(&e->sig, "y", JN_KIND_TENSOR, JN_DTYPE_FP32, 2, any, &err) == 0);
    JN_CHECK(jn_signature_batches(&e->sig));
    e->flags |= JN_ENGINE_BATCHES;
    atomic_store(&e->ready, 1);
    return e;
}

static jn_tensor *rows_tensor(int id, int rows)
{
    jn_err err;
    const int64_t shape[2] = {rows, 4};
    jn_tensor *t = jn_tensor_create("x", JN_DTYPE_FP32, 2, shape, &err);
    float *p = t->data;
    for (int i = 0; i < rows * 4; i++)
        p[i] = (float)(id * 100 + i);
    return t;
}

static jn_model_config parse(const char *json)
{
    jn_model_config cfg;
    jn_err err;
    jn_err_clear(&err);
    int rc = jn_model_config_parse_text(json, strlen(json), "test", &cfg, &err);
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    JN_REQUIRE(rc == 0);
    return cfg;
}

/* ---- many threads, own rows ---- */

typedef struct worker_arg {
    jn_batcher *b;
    int id;
    int calls;
    int bad;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *w = p;
    for (int k = 0; k < w->calls; k++) {
        int id = w->id * 1000 + k, rows = 1 + (k % 3);
        jn_tensor_list ins, outs;
        jn_tensor_list_init(&ins);
        jn_tensor_list_init(&outs);
        jn_tensor_list_push(&ins, rows_tensor(id, rows));
        jn_infer_ctx ctx;
        memset(&ctx, 0, sizeof ctx);
        ctx.model = "twice";
        jn_err err;
        jn_err_clear(&err);
        int rc = jn_batcher_run(w->b, &ctx, &ins, &outs, &err);
        if (rc || outs.count != 1 || outs.items[0]->shape[0] != rows) {
            w->bad++;
        } else {
            const float *y = outs.items[0]->data;
            for (int i = 0; i < rows * 4; i++)
                if (y[i] != 2.0f * (float)(id * 100 + i))
                    w->bad++;
        }
        jn_tensor_list_clear(&ins);
        jn_tensor_list_clear(&outs);
    }
    return NULL;
}

static void test_concurrent_own_rows(void)
{
    jn_engine *e = make_twice();
    jn_model_config cfg = parse("{\"dynamic_batching\": {\"max_batch_size\": 16, \"max_queue_delay_us\": 2000}, "
                                "\"instances\": 2}");
    jn_infer_stats st;
    jn_infer_stats_init(&st);
    jn_err err;
    jn_batcher *b = jn_batcher_create(e, &cfg, &st, &err);
    JN_REQUIRE(b);
    atomic_store(&executions, 0);
    enum { THREADS = 12, CALLS = 150 };
    pthread_t th[THREADS];
    worker_arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (worker_arg){b, i, CALLS, 0};
        pthread_create(&th[i], NULL, worker, &args[i]);
    }
    int bad = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        bad += args[i].bad;
    }
    JN_CHECK_INT_OP(bad, ==, 0);
    int execs = atomic_load(&executions);
    JN_CHECK_INT_OP(execs, <, THREADS * CALLS); /* batches formed */
    jn_infer_stats_snapshot s;
    jn_infer_stats_snapshot_take(&st, &s);
    JN_CHECK_INT_OP(s.execution_count, ==, execs);
    uint64_t rows = 0;
    for (int i = 0; i < THREADS; i++)
        for (int k = 0; k < CALLS; k++)
            rows += 1 + (uint64_t)(k % 3);
    JN_CHECK_INT_OP(s.inference_count, ==, rows);
    JN_CHECK_INT_OP(s.compute_infer.count, ==, THREADS * CALLS);
    uint64_t max_size = 0;
    for (size_t i = 0; i < s.n_batches; i++)
        if (s.batches[i].batch_size > max_size)
            max_size = s.batches[i].batch_size;
    JN_CHECK_INT_OP(max_size, <=, 16);
    JN_CHECK_INT_OP(max_size, >, 3);
    jn_infer_stats_snapshot_free(&s);
    JN_CHECK_INT_OP(jn_batcher_queued(b), ==, 0);
    jn_batcher_destroy(b);
    jn_infer_stats_destroy(&st);
    jn_engine_unref(e);
}

/* ---- asynchronous items: ordering, full queue, cancellation, deadlines, priorities ---- */

typedef struct rec {
    jn_batch_item item;
    jn_tensor_list ins;
    int id;
    int rc;
    char msg[256];
    atomic_int done;
} rec;

static pthread_mutex_t order_mu = PTHREAD_MUTEX_INITIALIZER;
static int order[64];
static int n_order;

static void rec_done(jn_batch_item *item, int rc, jn_tensor_list *outs, jn_err *err)
{
    rec *r = (rec *)item;
    r->rc = rc;
    if (rc && err)
        snprintf(r->msg, sizeof r->msg, "%s", err->msg);
    (void)outs; /* left to the batcher to clear */
    pthread_mutex_lock(&order_mu);
    order[n_order++] = r->id;
    pthread_mutex_unlock(&order_mu);
    atomic_store(&r->done, 1);
}

static void rec_init(rec *r, int id, const jn_params *params)
{
    memset(r, 0, sizeof *r);
    r->id = id;
    jn_tensor_list_init(&r->ins);
    jn_tensor_list_push(&r->ins, rows_tensor(id, 1));
    r->item.inputs = &r->ins;
    r->item.params = params;
    r->item.model = "twice";
    r->item.done = rec_done;
}

static void wait_done(rec *r)
{
    for (int i = 0; i < 5000 && !atomic_load(&r->done); i++)
        usleep(1000);
    JN_CHECK(atomic_load(&r->done));
}

static void test_queue_policies(void)
{
    jn_engine *e = make_twice();
    jn_model_config cfg = parse("{\"dynamic_batching\": {\"max_batch_size\": 1, \"priority_levels\": 2, "
                                "\"default_priority_level\": 2, \"preserve_ordering\": false, "
                                "\"queue\": {\"max_size\": 3}}, \"instances\": 1}");
    jn_err err;
    jn_batcher *b = jn_batcher_create(e, &cfg, NULL, &err);
    JN_REQUIRE(b);
    n_order = 0;
    atomic_store(&slow_ms, 100);
    jn_params high, none;
    jn_params_init(&high);
    jn_params_init(&none);
    jn_params_set_int(&high, "priority", 1);
    static rec r[6];
    rec_init(&r[0], 0, &none); /* runs first: holds the one instance */
    JN_CHECK_INT_OP(jn_batcher_submit(b, &r[0].item, &err), ==, 0);
    while (jn_batcher_queued(b) != 0) /* taken by the instance */
        usleep(1000);
    rec_init(&r[1], 1, &none);
    rec_init(&r[2], 2, &none);
    rec_init(&r[3], 3, &high);
    for (int i = 1; i <= 3; i++)
        JN_CHECK_INT_OP(jn_batcher_submit(b, &r[i].item, &err), ==, 0);
    rec_init(&r[4], 4, &none);
    jn_err_clear(&err);
    JN_CHECK_INT_OP(jn_batcher_submit(b, &r[4].item, &err), ==, JN_ERESOURCE); /* max_size 3 */
    JN_CHECK(strstr(err.msg, "queue is full") != NULL);
    for (int i = 0; i <= 3; i++)
        wait_done(&r[i]);
    JN_CHECK_INT_OP(n_order, ==, 4);
    JN_CHECK_INT_OP(order[0], ==, 0);
    JN_CHECK_INT_OP(order[1], ==, 3); /* priority 1 first */
    JN_CHECK_INT_OP(order[2], ==, 1);
    JN_CHECK_INT_OP(order[3], ==, 2);

    for (int i = 0; i <= 4; i++)
        jn_tensor_list_clear(&r[i].ins);
    /* cancellation and deadline while queued: answered without running */
    atomic_int cancel_flag = 0;
    int before = atomic_load(&executions);
    rec_init(&r[0], 10, &none);
    JN_CHECK_INT_OP(jn_batcher_submit(b, &r[0].item, &err), ==, 0);
    while (jn_batcher_queued(b) != 0)
        usleep(1000);
    rec_init(&r[1], 11, &none);
    r[1].item.cancelled = &cancel_flag;
    rec_init(&r[2], 12, &none);
    r[2].item.deadline_ns = jn_now_ns() + 20 * 1000000; /* 20 ms */
    JN_CHECK_INT_OP(jn_batcher_submit(b, &r[1].item, &err), ==, 0);
    JN_CHECK_INT_OP(jn_batcher_submit(b, &r[2].item, &err), ==, 0);
    atomic_store(&cancel_flag, 1);
    wait_done(&r[1]);
    wait_done(&r[2]);
    JN_CHECK_INT_OP(r[1].rc, ==, JN_ECANCELLED);
    JN_CHECK_INT_OP(r[2].rc, ==, JN_EDEADLINE);
    JN_CHECK(strstr(r[2].msg, "queue") != NULL);
    JN_CHECK(!atomic_load(&r[0].done)); /* both answered while the first still ran */
    wait_done(&r[0]);
    JN_CHECK_INT_OP(atomic_load(&executions) - before, ==, 1);

    /* a bad priority */
    jn_params bad;
    jn_params_init(&bad);
    jn_params_set_int(&bad, "priority", 3);
    rec_init(&r[5], 5, &bad);
    jn_err_clear(&err);
    JN_CHECK_INT_OP(jn_batcher_submit(b, &r[5].item, &err), ==, JN_EINVAL);
    JN_CHECK(strstr(err.msg, "'priority'") != NULL);
    atomic_store(&slow_ms, 0);
    for (int i = 0; i < 6; i++)
        jn_tensor_list_clear(&r[i].ins);
    jn_params_clear(&high);
    jn_params_clear(&none);
    jn_params_clear(&bad);
    jn_batcher_destroy(b);
    jn_engine_unref(e);
}

static void test_preserve_ordering(void)
{
    jn_engine *e = make_twice();
    jn_model_config cfg = parse("{\"dynamic_batching\": {\"max_batch_size\": 2, \"preserve_ordering\": true}, "
                                "\"instances\": 4}");
    jn_err err;
    jn_batcher *b = jn_batcher_create(e, &cfg, NULL, &err);
    JN_REQUIRE(b);
    n_order = 0;
    static rec r[40];
    jn_params none;
    jn_params_init(&none);
    for (int i = 0; i < 40; i++) {
        rec_init(&r[i], i, &none);
        JN_CHECK_INT_OP(jn_batcher_submit(b, &r[i].item, &err), ==, 0);
    }
    for (int i = 0; i < 40; i++)
        wait_done(&r[i]);
    JN_CHECK_INT_OP(n_order, ==, 40);
    int in_order = 1;
    for (int i = 0; i < 40; i++)
        in_order &= order[i] == i;
    JN_CHECK(in_order);
    for (int i = 0; i < 40; i++)
        jn_tensor_list_clear(&r[i].ins);
    jn_params_clear(&none);
    jn_batcher_destroy(b);
    jn_engine_unref(e);
}

/* ---- the response cache ---- */

static jn_request make_req(int id)
{
    jn_request req;
    jn_request_init(&req);
    jn_request_set_target(&req, "m", "", "");
    jn_tensor_list_push(&req.inputs, rows_tensor(id, 1));
    return req;
}

static void test_cache(int collide)
{
    if (collide)
        setenv("JUNCTION_TEST_CACHE_COLLIDE", "1", 1);
    jn_response_cache *c = jn_response_cache_create(64 * 1024);
    unsetenv("JUNCTION_TEST_CACHE_COLLIDE");
    JN_REQUIRE(c);
    for (int round = 0; round < 2; round++) {
        for (int id = 0; id < 100; id++) {
            jn_request req = make_req(id);
            jn_cache_key key;
            JN_REQUIRE(jn_cache_key_make(&key, 7, "m", "1", &req) == 0);
            jn_tensor_list out;
            jn_tensor_list_init(&out);
            bool hit = jn_response_cache_get(c, &key, &out);
            JN_CHECK(hit == (round == 1));
            if (hit) {
                JN_CHECK(out.count == 1 && ((float *)out.items[0]->data)[3] == (float)(id * 100 + 3));
            } else {
                jn_tensor_list keep;
                jn_tensor_list_init(&keep);
                jn_tensor_list_push(&keep, rows_tensor(id, 1));
                JN_CHECK(jn_response_cache_put(c, &key, &keep) == 0);
                JN_CHECK(key.bytes == NULL);
                jn_tensor_list_clear(&keep);
            }
            jn_cache_key_clear(&key);
            jn_tensor_list_clear(&out);
            jn_request_clear(&req);
        }
    }
    /* another entry serial (a replaced model): never a hit */
    jn_request req = make_req(5);
    jn_cache_key key;
    jn_cache_key_make(&key, 8, "m", "1", &req);
    jn_tensor_list out;
    jn_tensor_list_init(&out);
    JN_CHECK(!jn_response_cache_get(c, &key, &out));
    jn_cache_key_clear(&key);
    /* a parameter that reaches the engine is part of the key; priority and timeout are not */
    jn_params_set_int(&req.params, "timeout", 5);
    jn_cache_key_make(&key, 7, "m", "1", &req);
    JN_CHECK(jn_response_cache_get(c, &key, &out));
    jn_cache_key_clear(&key);
    jn_tensor_list_clear(&out);
    jn_params_set_int(&req.params, "top_k", 2);
    jn_cache_key_make(&key, 7, "m", "1", &req);
    JN_CHECK(!jn_response_cache_get(c, &key, &out));
    jn_cache_key_clear(&key);
    jn_request_clear(&req);
    /* the byte bound under many distinct answers */
    for (int id = 1000; id < 3000; id++) {
        jn_request r2 = make_req(id);
        jn_cache_key k2;
        jn_cache_key_make(&k2, 7, "m", "1", &r2);
        jn_tensor_list keep;
        jn_tensor_list_init(&keep);
        jn_tensor_list_push(&keep, rows_tensor(id, 1));
        jn_response_cache_put(c, &k2, &keep);
        jn_tensor_list_clear(&keep);
        jn_request_clear(&r2);
    }
    jn_cache_stats st;
    jn_response_cache_stats(c, &st);
    JN_CHECK_INT_OP(st.bytes, <=, 64 * 1024);
    JN_CHECK_INT_OP(st.evictions, >, 0);
    JN_CHECK_INT_OP(st.hits, ==, 101);
    jn_response_cache_destroy(c);
}

static void test_cache_plain(void)
{
    test_cache(0);
}

static void test_cache_colliding(void)
{
    test_cache(1);
}

/* ---- config errors ---- */

static void expect_refused(const char *json, const char *field)
{
    jn_model_config cfg;
    jn_err err;
    jn_err_clear(&err);
    JN_CHECK_INT_OP(jn_model_config_parse_text(json, strlen(json), "cfg.json", &cfg, &err), ==, JN_EINVAL);
    if (!strstr(err.msg, field) || !strstr(err.msg, "cfg.json"))
        jn__test_fail(__FILE__, __LINE__, "%s: message %s does not name %s", json, err.msg, field);
}

static void test_config(void)
{
    jn_model_config c = parse("{\"dynamic_batching\": {\"max_batch_size\": 32, \"max_queue_delay_us\": 500, "
                              "\"preferred_batch_sizes\": [16, 8, 32], \"preserve_ordering\": false, "
                              "\"priority_levels\": 2, \"default_priority_level\": 1, \"queue\": {\"max_size\": 1024, "
                              "\"timeout_us\": 0, \"timeout_action\": \"reject\"}}, \"instances\": 2, "
                              "\"response_cache\": true}");
    JN_CHECK(c.batching.enabled && c.batching.max_batch_size == 32 && c.batching.max_queue_delay_us == 500);
    JN_CHECK(c.batching.n_preferred == 3 && c.batching.preferred[0] == 8 && c.batching.preferred[2] == 32);
    JN_CHECK(c.batching.priority_levels == 2 && c.batching.default_priority_level == 1);
    JN_CHECK(c.batching.queue_max_size == 1024 && !c.batching.timeout_delay);
    JN_CHECK(c.instances == 2 && c.response_cache);
    expect_refused("{\"dynamic_batching\": {}}", "max_batch_size");
    expect_refused("{\"dynamic_batching\": {\"max_batch_size\": 4, \"priority_levels\": 2, "
                   "\"default_priority_level\": 3}}",
                   "default_priority_level");
    expect_refused("{\"dynamic_batching\": {\"max_batch_size\": 4, \"queue\": {\"size\": 1}}}", "queue.size");
    expect_refused("{\"dynamic_batching\": [1]}", "dynamic_batching");
    expect_refused("{\"instances\": 0}", "instances");
    expect_refused("{\"response_cache\": 1}", "response_cache");
    expect_refused("{\"batching\": true}", "'batching'");
    expect_refused("{", "line");
    /* what the engine allows */
    jn_engine *e = make_twice();
    jn_err err;
    jn_err_clear(&err);
    e->flags |= JN_ENGINE_VOLATILE;
    JN_CHECK_INT_OP(jn_model_config_check(&c, e, &err), ==, JN_EINVAL);
    JN_CHECK(strstr(err.msg, "response_cache") != NULL);
    e->flags &= ~(unsigned)(JN_ENGINE_VOLATILE | JN_ENGINE_BATCHES);
    c.response_cache = false;
    JN_CHECK_INT_OP(jn_model_config_check(&c, e, &err), ==, JN_EINVAL);
    JN_CHECK(strstr(err.msg, "dynamic_batching") != NULL);
    jn_engine_unref(e);
}

int main(void)
{
    JN_TEST_RUN(test_config);
    JN_TEST_RUN(test_concurrent_own_rows);
    JN_TEST_RUN(test_queue_policies);
    JN_TEST_RUN(test_preserve_ordering);
    JN_TEST_RUN(test_cache_plain);
    JN_TEST_RUN(test_cache_colliding);
    return JN_TEST_EXIT();
}
