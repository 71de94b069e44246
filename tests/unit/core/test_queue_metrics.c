/* Unit tests for broker/core/queue_metrics.c: the per-model queue depth and bound as /metrics renders them — a model
 * on the shared workers shows its share of their queue against --max-model-queue, a batched model its own queue
 * against dynamic_batching.queue.max_size (and calls really waiting there are counted), --max-inflight is rendered
 * once, and after stop the families are gone. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batcher.h"
#include "builtin.h"
#include "metrics.h"
#include "queue_metrics.h"
#include "test.h"

/* The value of the sample `series` (name and labels exactly) in a fresh render; -1 if absent. */
static double sample_now(const char *series)
{
    char *text = jn_metrics_render(NULL);
    JN_REQUIRE(text);
    double v = -1;
    size_t n = strlen(series);
    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, series, n) == 0 && line[n] == ' ') {
            v = strtod(line + n + 1, NULL);
            break;
        }
    }
    free(text);
    return v;
}

static bool rendered(const char *needle)
{
    char *text = jn_metrics_render(NULL);
    JN_REQUIRE(text);
    bool found = strstr(text, needle) != NULL;
    free(text);
    return found;
}

static jn_registry *make_registry(void)
{
    jn_registry *reg = jn_registry_create();
    JN_REQUIRE(reg);
    jn_builtin_options opt = {.burn_default_ms = 150};
    jn_err err;
    jn_err_clear(&err);
    jn_engine *id = jn_identity_create("qm-identity", &opt, &err);
    JN_REQUIRE(id);
    JN_REQUIRE(jn_registry_add(reg, id, &err) == 0);
    jn_engine *burn = jn_burn_create("qm-burn", &opt, &err);
    JN_REQUIRE(burn);
    jn_model_sched sched;
    memset(&sched, 0, sizeof sched);
    const char *cfg = "{\"dynamic_batching\": {\"max_batch_size\": 1, \"queue\": {\"max_size\": 7}}}";
    JN_REQUIRE(jn_model_config_parse_text(cfg, strlen(cfg), "test", &sched.config, &err) == 0);
    JN_REQUIRE(jn_registry_put(reg, burn, &sched, NULL, NULL, NULL, &err) == 0);
    return reg;
}

static void test_bounds_and_shared_depth(void)
{
    jn_registry *reg = make_registry();
    jn_queue_metrics *q = jn_queue_metrics_start(reg, 33, 50);
    JN_REQUIRE(q);
    JN_CHECK_DBL_EQ(sample_now("junction_model_queue_limit{model=\"qm-identity\",version=\"1\"}"), 33);
    JN_CHECK_DBL_EQ(sample_now("junction_model_queue_limit{model=\"qm-burn\",version=\"1\"}"), 7);
    JN_CHECK_DBL_EQ(sample_now("junction_model_queue_depth{model=\"qm-identity\",version=\"1\"}"), 0);
    JN_CHECK_DBL_EQ(sample_now("junction_model_queue_depth{model=\"qm-burn\",version=\"1\"}"), 0);
    JN_CHECK_DBL_EQ(sample_now("junction_inflight_limit"), 50);
    /* Calls waiting for the shared workers are the entry's `queued` count (the dispatcher's). */
    jn_err err;
    jn_model *m = jn_registry_resolve(reg, "qm-identity", NULL, &err);
    JN_REQUIRE(m);
    atomic_fetch_add(&m->queued, 3);
    JN_CHECK_DBL_EQ(sample_now("junction_model_queue_depth{model=\"qm-identity\",version=\"1\"}"), 3);
    atomic_fetch_sub(&m->queued, 3);
    jn_model_unref(m);
    jn_queue_metrics_stop(q);
    JN_CHECK(!rendered("junction_model_queue_depth"));
    JN_CHECK(!rendered("junction_inflight_limit"));
    /* no bound: 0 */
    q = jn_queue_metrics_start(reg, 0, 0);
    JN_REQUIRE(q);
    JN_CHECK_DBL_EQ(sample_now("junction_model_queue_limit{model=\"qm-identity\",version=\"1\"}"), 0);
    JN_CHECK_DBL_EQ(sample_now("junction_inflight_limit"), 0);
    jn_queue_metrics_stop(q);
    jn_registry_destroy(reg);
}

typedef struct caller {
    jn_batcher *b;
    int rc;
} caller;

static void *call_burn(void *p)
{
    caller *c = p;
    jn_tensor_list ins, outs;
    jn_tensor_list_init(&ins);
    jn_tensor_list_init(&outs);
    int64_t shape[2] = {1, 2};
    jn_err err;
    jn_err_clear(&err);
    jn_tensor *t = jn_tensor_create("input", JN_DTYPE_FP32, 2, shape, &err);
    JN_REQUIRE(t);
    jn_tensor_list_push(&ins, t);
    jn_params params; /* none: burn burns its default 150 ms */
    jn_params_init(&params);
    jn_infer_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.model = "qm-burn";
    ctx.params = &params;
    c->rc = jn_batcher_run(c->b, &ctx, &ins, &outs, &err);
    jn_params_clear(&params);
    jn_tensor_list_clear(&ins);
    jn_tensor_list_clear(&outs);
    return NULL;
}

/* Four calls of 150 ms each on a batcher that runs one at a time: while one runs, the others wait in its queue,
 * and the render counts them. */
static void test_batched_depth(void)
{
    jn_registry *reg = make_registry();
    jn_queue_metrics *q = jn_queue_metrics_start(reg, 33, 0);
    JN_REQUIRE(q);
    jn_err err;
    jn_model *m = jn_registry_resolve(reg, "qm-burn", NULL, &err);
    JN_REQUIRE(m && m->batcher);
    enum { CALLERS = 4 };
    pthread_t th[CALLERS];
    caller c[CALLERS];
    for (int i = 0; i < CALLERS; i++) {
        c[i] = (caller){m->batcher, -1};
        pthread_create(&th[i], NULL, call_burn, &c[i]);
    }
    double most = 0;
    for (int k = 0; k < 200 && most < 2; k++) { /* up to 2 s */
        double d = sample_now("junction_model_queue_depth{model=\"qm-burn\",version=\"1\"}");
        most = d > most ? d : most;
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    for (int i = 0; i < CALLERS; i++) {
        pthread_join(th[i], NULL);
        JN_CHECK_INT_EQ(c[i].rc, 0);
    }
    JN_CHECK(most >= 2);       /* at least two wait while one runs */
    JN_CHECK(most <= CALLERS); /* all four, if they all queued before the instance took the first */
    JN_CHECK_DBL_EQ(sample_now("junction_model_queue_depth{model=\"qm-burn\",version=\"1\"}"), 0);
    jn_model_unref(m);
    jn_queue_metrics_stop(q);
    jn_registry_destroy(reg);
}

int main(void)
{
    JN_TEST_RUN(test_bounds_and_shared_depth);
    JN_TEST_RUN(test_batched_depth);
    return JN_TEST_EXIT();
}
