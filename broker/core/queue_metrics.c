/* queue_metrics.c — per-model queue depth and bounds for /metrics (queue_metrics.h). */
#include "queue_metrics.h"

#include <stdint.h>
#include <stdlib.h>

#include "batcher.h"
#include "metrics.h"
#include "sequence.h"
#include "workpool.h"

struct jn_queue_metrics {
    jn_registry *reg;
    size_t max_model_queue;
    long max_inflight;
};

/* What waits for m, and the bound of where it waits. */
static void model_queue(const jn_queue_metrics *q, jn_model *m, uint64_t *depth, uint64_t *limit)
{
    if (m->batcher) {
        *depth = jn_batcher_queued(m->batcher);
        *limit = m->sched.config.batching.queue_max_size;
    } else if (m->sched.pool) {
        *depth = jn_workpool_pending(m->sched.pool);
        *limit = m->sched.max_pending;
    } else {
        long n = atomic_load_explicit(&m->queued, memory_order_relaxed);
        *depth = n > 0 ? (uint64_t)n : 0;
        *limit = q->max_model_queue;
    }
}

static void collect(void *arg, jn_metrics_text *t)
{
    const jn_queue_metrics *q = arg;
    jn_model **models = NULL;
    long n = jn_registry_list_models(q->reg, &models);
    if (n < 0)
        n = 0; /* out of memory: the families, without series */
    static const char *const families[2][2] = {
        {"junction_model_queue_depth",
         "Calls waiting to start, by model entry: in its own queue (batching, instances), its endpoint's pool, or its "
         "share of the shared workers' queue."},
        {"junction_model_queue_limit",
         "The bound of that queue; past it calls are refused at once (RESOURCE_EXHAUSTED / 429). 0 = no bound."},
    };
    for (size_t k = 0; k < 2; k++) {
        jn_metrics_text_family(t, families[k][0], "gauge", families[k][1]);
        for (long i = 0; i < n; i++) {
            uint64_t depth, limit;
            model_queue(q, models[i], &depth, &limit);
            const char *labels[2][2] = {{"model", models[i]->engine->name}, {"version", models[i]->engine->version}};
            jn_metrics_text_sample(t, families[k][0], (const char *const (*)[2])labels, 2, k ? limit : depth);
        }
    }
    /* Stateful models (sequence.h): sequences alive and max_sequences. Declared only when one is served, so every
     * family /metrics declares has samples. */
    static const char *const seq_families[2][2] = {
        {"junction_model_sequences", "Sequences alive (held state), by stateful model entry."},
        {"junction_model_sequences_limit", "The model's max_sequences: past it a new sequence is refused "
                                           "(RESOURCE_EXHAUSTED)."},
    };
    bool stateful = false;
    for (long i = 0; i < n && !stateful; i++)
        stateful = jn_sequence_table(models[i]->engine) != NULL;
    for (size_t k = 0; stateful && k < 2; k++) {
        jn_metrics_text_family(t, seq_families[k][0], "gauge", seq_families[k][1]);
        for (long i = 0; i < n; i++) {
            jn_seq_table *st = jn_sequence_table(models[i]->engine);
            if (!st)
                continue;
            const char *labels[2][2] = {{"model", models[i]->engine->name}, {"version", models[i]->engine->version}};
            jn_metrics_text_sample(t, seq_families[k][0], (const char *const (*)[2])labels, 2,
                                   k ? models[i]->sched.config.sequence.max_sequences : jn_seq_table_count(st));
        }
    }
    if (models)
        jn_registry_list_models_free(models, n);
    jn_metrics_text_family(t, "junction_inflight_limit", "gauge",
                           "Inference calls each front end handles at once before refusing (--max-inflight). 0 = "
                           "no bound.");
    jn_metrics_text_sample(t, "junction_inflight_limit", NULL, 0, q->max_inflight > 0 ? (uint64_t)q->max_inflight : 0);
}

jn_queue_metrics *jn_queue_metrics_start(jn_registry *reg, size_t max_model_queue, long max_inflight)
{
    jn_queue_metrics *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->reg = reg;
    q->max_model_queue = max_model_queue;
    q->max_inflight = max_inflight;
    if (jn_metrics_add_collector(collect, q) != 0) {
        free(q);
        return NULL;
    }
    return q;
}

void jn_queue_metrics_stop(jn_queue_metrics *q)
{
    if (!q)
        return;
    jn_metrics_remove_collector(collect, q);
    free(q);
}
