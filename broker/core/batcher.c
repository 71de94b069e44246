/* batcher.c — a model's own queue, dynamic batcher and instances (batcher.h). */
#include "batcher.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch_rows.h"
#include "trace.h"
#include "executor.h"
#include "metrics.h"

/* How often queued requests are looked at for a cancellation (the flag has no notification). */
#define CANCEL_POLL_NS (10 * 1000 * 1000)
/* A reaped request's reason when its queue timeout passed (not a JN_E* code: answer_reaped turns it into one). */
#define QUEUE_TIMEOUT (-1)

typedef struct level_queue {
    jn_batch_item *head, *tail;
} level_queue;

struct jn_batcher {
    jn_engine *engine;
    jn_infer_stats *stats;
    jn_model_stats *metrics; /* the Prometheus batch-size histogram (process-wide, lives for ever) */
    jn_model_config cfg;
    bool batching;
    uint32_t levels;
    pthread_mutex_t mu;
    pthread_cond_t work;  /* instances: something queued / stopping */
    pthread_cond_t watch; /* the watcher: something queued / stopping */
    level_queue *queues;  /* one per priority level, FIFO */
    size_t queued;
    int64_t queued_rows;  /* rows waiting (a request that cannot batch counts 1) */
    bool stop;
    /* Who sleeps how (so a submit wakes a thread only when that can change what it would do):
     * instances waiting for work with nothing to form / waiting out a leader's delay; the watcher's next wake-up
     * (0 = asleep until signalled, INT64_MAX = not sleeping). */
    uint32_t idle_instances, delaying_instances;
    int64_t watcher_wake;
    /* preserve_ordering: every queued or running item in arrival order; delivered from the head once finished */
    pthread_mutex_t order_mu;
    jn_batch_item *order_head, *order_tail;
    uint64_t next_seq;
    /* threads: instances + the watcher; each holds a reference, as does the owner */
    pthread_t *threads;
    size_t n_threads;
    atomic_int refs;
};

static void batcher_unref(jn_batcher *b)
{
    if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
        return;
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->work);
    pthread_cond_destroy(&b->watch);
    pthread_mutex_destroy(&b->order_mu);
    free(b->queues);
    free(b->threads);
    free(b);
}

static struct timespec abs_time(int64_t mono_ns)
{
    struct timespec ts = {.tv_sec = (time_t)(mono_ns / 1000000000), .tv_nsec = (long)(mono_ns % 1000000000)};
    return ts;
}

/* ---------------------------------------------------------------------------------------------------------------
 * Delivery */

static void deliver(jn_batch_item *it)
{
    jn_tensor_list out = it->result;
    jn_tensor_list_init(&it->result);
    it->done(it, it->rc, &out, it->rc ? &it->err : NULL);
    jn_tensor_list_clear(&out); /* the callee took what it wanted */
}

/* Records the outcome and delivers it: at once, or (preserve_ordering) once every earlier request is delivered. */
static void finish(jn_batcher *b, jn_batch_item *it, int rc, jn_tensor_list *outs, const jn_err *err)
{
    it->rc = rc;
    if (rc && err)
        it->err = *err;
    else if (rc)
        jn_err_set(&it->err, rc, "model '%s': %s", it->model ? it->model : b->engine->name, jn_strerror(rc));
    jn_tensor_list_init(&it->result);
    if (outs) { /* move the tensors */
        it->result = *outs;
        jn_tensor_list_init(outs);
    }
    if (!b->cfg.batching.preserve_ordering) {
        deliver(it);
        return;
    }
    pthread_mutex_lock(&b->order_mu);
    it->finished = true;
    while (b->order_head && b->order_head->finished) {
        jn_batch_item *h = b->order_head;
        b->order_head = h->order_next;
        if (!b->order_head)
            b->order_tail = NULL;
        deliver(h); /* under order_mu: answers leave one after the other, in order */
    }
    pthread_mutex_unlock(&b->order_mu);
}

/* ---------------------------------------------------------------------------------------------------------------
 * The queue (b->mu held) */

static void unlink_item(jn_batcher *b, level_queue *q, jn_batch_item *prev, jn_batch_item *it)
{
    if (prev)
        prev->next = it->next;
    else
        q->head = it->next;
    if (q->tail == it)
        q->tail = prev;
    it->next = NULL;
    b->queued--;
    b->queued_rows -= it->rows ? it->rows : 1;
}

/* Takes out every request whose deadline passed, whose caller left, or whose queue timeout passed (reject) into
 * *gone (chained through next, with rc set); returns the earliest deadline still pending (0 = none). */
static int64_t reap(jn_batcher *b, int64_t now, jn_batch_item **gone, bool *cancellable)
{
    int64_t earliest = 0;
    *cancellable = false;
    for (uint32_t l = 0; l < b->levels; l++) {
        level_queue *q = &b->queues[l];
        jn_batch_item *prev = NULL, *it = q->head;
        while (it) {
            jn_batch_item *next = it->next;
            int rc = 0;
            if (it->cancelled && atomic_load_explicit(it->cancelled, memory_order_relaxed))
                rc = JN_ECANCELLED;
            else if (it->deadline_ns && now >= it->deadline_ns)
                rc = JN_EDEADLINE;
            else if (it->queue_deadline_ns && now >= it->queue_deadline_ns && !b->cfg.batching.timeout_delay)
                rc = QUEUE_TIMEOUT;
            if (rc) {
                unlink_item(b, q, prev, it);
                it->rc = rc;
                it->next = *gone;
                *gone = it;
            } else {
                prev = it;
                int64_t d = it->deadline_ns;
                if (it->queue_deadline_ns && !b->cfg.batching.timeout_delay && (!d || it->queue_deadline_ns < d))
                    d = it->queue_deadline_ns;
                if (d && (!earliest || d < earliest))
                    earliest = d;
                if (it->cancelled)
                    *cancellable = true;
            }
            it = next;
        }
    }
    return earliest;
}

/* Answers the reaped requests (without b->mu). */
static void answer_reaped(jn_batcher *b, jn_batch_item *gone, int64_t now)
{
    while (gone) {
        jn_batch_item *it = gone;
        gone = it->next;
        it->next = NULL;
        jn_err err;
        jn_err_clear(&err);
        const char *name = it->model ? it->model : b->engine->name;
        int rc = it->rc;
        if (rc == JN_ECANCELLED)
            jn_err_set(&err, rc, "model '%s': the call was cancelled while it waited in the model's queue", name);
        else if (rc == JN_EDEADLINE)
            jn_err_set(&err, rc, "model '%s': deadline exceeded after %lld us in the model's queue", name,
                       (long long)((now - it->t_enqueued) / 1000));
        else
            rc = jn_err_set(&err, JN_EDEADLINE,
                            "model '%s': the request waited in the model's queue longer than its timeout (%lld us; "
                            "dynamic_batching.queue.timeout_action \"reject\")",
                            name, (long long)((it->queue_deadline_ns - it->t_enqueued) / 1000));
        finish(b, it, rc, NULL, &err);
    }
}

/* The first request of the highest non-empty priority level. */
static jn_batch_item *leader(jn_batcher *b)
{
    for (uint32_t l = 0; l < b->levels; l++)
        if (b->queues[l].head)
            return b->queues[l].head;
    return NULL;
}

/* A batch led by `lead`: how many rows the compatible waiting requests give (up to max_batch_size), whether it is
 * ready now, and, when ready, the requests taken out of the queue (chained through next, in order). */
static bool form(jn_batcher *b, jn_batch_item *lead, int64_t now, jn_batch_item **batch, int64_t *wake)
{
    const jn_batching_config *c = &b->cfg.batching;
    int64_t max = b->batching ? (int64_t)c->max_batch_size : 1;
    /* candidates in priority, then arrival order */
    jn_batch_item *cand[256];
    size_t n = 0;
    int64_t rows = 0, prefix_at_pref = -1;
    size_t n_at_pref = 0;
    bool alone = !b->batching || !lead->rows || lead->rows >= max;
    if (alone) {
        cand[n++] = lead;
        rows = lead->rows;
    } else {
        for (uint32_t l = 0; l < b->levels && n < 256; l++)
            for (jn_batch_item *it = b->queues[l].head; it && n < 256; it = it->next) {
                if (it != lead && (!jn_batch_compatible(lead, it) || rows + it->rows > max))
                    continue;
                cand[n++] = it;
                rows += it->rows;
                for (size_t p = 0; p < c->n_preferred; p++)
                    if (c->preferred[p] == rows) {
                        prefix_at_pref = rows;
                        n_at_pref = n;
                    }
                if (rows == max)
                    goto full;
            }
    }
full:;
    bool ready = alone || rows >= max || now >= lead->t_enqueued + (int64_t)c->max_queue_delay_us * 1000 || b->stop;
    if (!ready && prefix_at_pref > 0) { /* the largest preferred size that the waiting requests make exactly */
        n = n_at_pref;
        ready = true;
    }
    if (!ready) {
        *wake = lead->t_enqueued + (int64_t)c->max_queue_delay_us * 1000;
        return false;
    }
    /* take them out of their queues, keeping the order of cand */
    for (size_t i = 0; i < n; i++) {
        jn_batch_item *it = cand[i];
        level_queue *q = &b->queues[it->level];
        jn_batch_item *prev = NULL;
        for (jn_batch_item *p = q->head; p && p != it; p = p->next)
            prev = p;
        unlink_item(b, q, prev, it);
    }
    for (size_t i = 0; i < n; i++)
        cand[i]->next = i + 1 < n ? cand[i + 1] : NULL;
    *batch = cand[0];
    return true;
}

/* ---------------------------------------------------------------------------------------------------------------
 * Running a batch (without b->mu) */

static jn_infer_ctx item_ctx(const jn_batcher *b, const jn_batch_item *it)
{
    jn_infer_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.model = it->model ? it->model : b->engine->name;
    ctx.request_id = it->request_id ? it->request_id : "";
    ctx.params = it->params;
    ctx.deadline_ns = it->deadline_ns;
    ctx.cancelled = it->cancelled;
    ctx.outputs = it->outputs;
    ctx.n_outputs = it->n_outputs;
    ctx.trace = it->trace;
    return ctx;
}

/* The batch's span (trace.h): under the first traced request's span, linked to every traced request's span. */
static void batch_span_start(jn_span *span, const jn_batch_item *batch)
{
    span->recording = false;
    if (!jn_trace_on())
        return;
    for (const jn_batch_item *it = batch; it && !span->recording; it = it->next)
        jn_span_start(span, it->trace);
}

static void batch_span_end(jn_span *span, const jn_batcher *b, const jn_batch_item *batch, size_t n, int64_t rows,
                           int rc, const jn_err *err)
{
    const jn_trace_ctx *links[JN_SPAN_MAX_LINKS + 1];
    size_t nl = 0;
    for (const jn_batch_item *it = batch; it && nl < JN_SPAN_MAX_LINKS + 1; it = it->next)
        if (it->trace && it->trace->valid)
            links[nl++] = it->trace; /* one past the maximum: counted as dropped */
    jn_span_attrs a = JN_SPAN_ATTRS_NONE;
    a.model = b->engine->name;
    a.version = b->engine->version;
    a.status = jn_err_grpc_status(rc);
    a.error = rc && err ? err->msg : NULL;
    a.batch_size = (int64_t)n;
    a.rows = rows;
    a.links = links;
    a.n_links = nl;
    jn_span_end(span, "batch", b->engine->name, JN_SPAN_INTERNAL, 0, &a);
}

static void run_batch(jn_batcher *b, jn_batch_item *batch)
{
    size_t n = 0;
    int64_t total = 0;
    int64_t t0 = jn_now_ns();
    for (jn_batch_item *it = batch; it; it = it->next) {
        it->t_started = t0;
        n++;
        total += it->rows;
    }
    jn_span span;
    batch_span_start(&span, batch);
    jn_err err;
    jn_err_clear(&err);
    jn_tensor_list outs;
    jn_tensor_list_init(&outs);
    if (n == 1) { /* on the request's own tensors */
        jn_infer_ctx ctx = item_ctx(b, batch);
        ctx.trace = jn_span_ctx(&span, batch->trace);
        int rc = jn_exec_engine(b->engine, &ctx, batch->inputs, &outs, &err);
        int64_t t1 = jn_now_ns();
        if (span.recording)
            batch_span_end(&span, b, batch, 1, batch->rows, rc, &err);
        if (!rc && b->stats)
            jn_infer_stats_execution(b->stats, batch->rows ? (uint64_t)batch->rows : 1, 1, 0, t1 - t0, 0);
        if (!rc)
            jn_metrics_batch(b->metrics, batch->rows ? (uint64_t)batch->rows : 1);
        batch->next = NULL;
        finish(b, batch, rc, &outs, &err);
        return;
    }
    jn_tensor_list ins;
    jn_tensor_list_init(&ins);
    jn_tensor_list *mine = calloc(n, sizeof *mine);
    int rc = mine ? jn_batch_gather(batch, total, &ins, &err) : jn_err_set(&err, JN_ENOMEM, "out of memory");
    int64_t t1 = jn_now_ns(), t2 = t1;
    if (!rc) {
        jn_infer_ctx ctx = item_ctx(b, batch);
        ctx.deadline_ns = 0; /* the batch runs for all of them: no one caller's deadline or cancellation stops it */
        ctx.cancelled = NULL;
        ctx.request_id = "";
        ctx.trace = jn_span_ctx(&span, NULL);
        rc = jn_exec_engine(b->engine, &ctx, &ins, &outs, &err);
        t2 = jn_now_ns();
    }
    if (span.recording)
        batch_span_end(&span, b, batch, n, total, rc, &err);
    jn_tensor_list_clear(&ins);
    if (!rc)
        rc = jn_batch_split(b->engine->name, batch, total, &outs, mine, &err);
    jn_tensor_list_clear(&outs); /* the parts hold the buffers */
    int64_t t3 = jn_now_ns();
    if (!rc && b->stats)
        jn_infer_stats_execution(b->stats, (uint64_t)total, n, t1 - t0, t2 - t1, t3 - t2);
    if (!rc)
        jn_metrics_batch(b->metrics, (uint64_t)total);
    size_t k = 0;
    for (jn_batch_item *it = batch; it; k++) {
        jn_batch_item *next = it->next;
        it->next = NULL;
        if (rc) {
            jn_err e = err;
            if (mine)
                jn_tensor_list_clear(&mine[k]);
            finish(b, it, rc, NULL, &e);
        } else {
            finish(b, it, 0, &mine[k], NULL);
        }
        it = next;
    }
    free(mine);
}

/* ---------------------------------------------------------------------------------------------------------------
 * Threads */

static void *instance_main(void *arg)
{
    jn_batcher *b = arg;
    pthread_mutex_lock(&b->mu);
    while (!b->stop) {
        jn_batch_item *lead = leader(b);
        if (!lead) {
            b->idle_instances++;
            pthread_cond_wait(&b->work, &b->mu);
            b->idle_instances--;
            continue;
        }
        jn_batch_item *batch = NULL;
        int64_t wake = 0;
        if (!form(b, lead, jn_now_ns(), &batch, &wake)) {
            struct timespec ts = abs_time(wake);
            b->delaying_instances++;
            pthread_cond_timedwait(&b->work, &b->mu, &ts);
            b->delaying_instances--;
            continue;
        }
        pthread_mutex_unlock(&b->mu);
        run_batch(b, batch);
        pthread_mutex_lock(&b->mu);
    }
    pthread_mutex_unlock(&b->mu);
    batcher_unref(b);
    return NULL;
}

static void *watcher_main(void *arg)
{
    jn_batcher *b = arg;
    pthread_mutex_lock(&b->mu);
    while (!b->stop) {
        if (!b->queued) {
            b->watcher_wake = 0;
            pthread_cond_wait(&b->watch, &b->mu);
            b->watcher_wake = INT64_MAX;
            continue;
        }
        int64_t now = jn_now_ns();
        jn_batch_item *gone = NULL;
        bool cancellable;
        int64_t next = reap(b, now, &gone, &cancellable);
        if (gone) {
            pthread_mutex_unlock(&b->mu);
            answer_reaped(b, gone, now);
            pthread_mutex_lock(&b->mu);
            continue;
        }
        if (cancellable && (!next || next > now + CANCEL_POLL_NS))
            next = now + CANCEL_POLL_NS;
        if (!next) {
            b->watcher_wake = 0;
            pthread_cond_wait(&b->watch, &b->mu);
            b->watcher_wake = INT64_MAX;
            continue;
        }
        struct timespec ts = abs_time(next);
        b->watcher_wake = next;
        pthread_cond_timedwait(&b->watch, &b->mu, &ts);
        b->watcher_wake = INT64_MAX;
    }
    pthread_mutex_unlock(&b->mu);
    batcher_unref(b);
    return NULL;
}

static int init_cond(pthread_cond_t *c)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(c, &a);
    pthread_condattr_destroy(&a);
    return rc;
}

jn_batcher *jn_batcher_create(jn_engine *engine, const jn_model_config *cfg, jn_infer_stats *stats, jn_err *err)
{
    jn_batcher *b = calloc(1, sizeof *b);
    if (!b) {
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    b->engine = engine;
    b->stats = stats;
    b->metrics = jn_metrics_model(engine->name);
    b->cfg = *cfg;
    b->batching = cfg->batching.enabled;
    b->levels = b->batching ? cfg->batching.priority_levels : 1;
    if (!b->levels)
        b->levels = 1;
    uint32_t instances = cfg->instances ? cfg->instances : 1;
    b->queues = calloc(b->levels, sizeof *b->queues);
    b->threads = calloc(instances + 1, sizeof *b->threads);
    if (!b->queues || !b->threads) {
        free(b->queues);
        free(b->threads);
        free(b);
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&b->mu, NULL);
    pthread_mutex_init(&b->order_mu, NULL);
    init_cond(&b->work);
    init_cond(&b->watch);
    atomic_init(&b->refs, 1);
    b->watcher_wake = INT64_MAX; /* until the watcher first sleeps */
    for (uint32_t i = 0; i <= instances; i++) {
        atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
        if (pthread_create(&b->threads[i], NULL, i < instances ? instance_main : watcher_main, b) != 0) {
            atomic_fetch_sub_explicit(&b->refs, 1, memory_order_relaxed);
            jn_err_set(err, JN_ERESOURCE, "model '%s': cannot start its instance threads", engine->name);
            jn_batcher_destroy(b);
            return NULL;
        }
        b->n_threads++;
    }
    return b;
}

void jn_batcher_destroy(jn_batcher *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->mu);
    b->stop = true;
    pthread_cond_broadcast(&b->work);
    pthread_cond_broadcast(&b->watch);
    pthread_mutex_unlock(&b->mu);
    pthread_t self = pthread_self();
    for (size_t i = 0; i < b->n_threads; i++) {
        if (pthread_equal(self, b->threads[i]))
            pthread_detach(self); /* the last call it answered dropped the entry: it ends on its own */
        else
            pthread_join(b->threads[i], NULL);
    }
    batcher_unref(b);
}

/* ---------------------------------------------------------------------------------------------------------------
 * Submitting */

int jn_batcher_submit(jn_batcher *b, jn_batch_item *it, jn_err *err)
{
    const char *name = it->model ? it->model : b->engine->name;
    const jn_batching_config *c = &b->cfg.batching;
    it->level = (b->batching ? c->default_priority_level : 1) - 1;
    const jn_param *p = it->params ? jn_params_find(it->params, "priority") : NULL;
    if (p) {
        if (p->type != JN_PARAM_INT || p->v.i < 0 || p->v.i > (int64_t)b->levels)
            return jn_err_set(err, JN_EINVAL,
                              "model '%s': parameter 'priority' must be an integer from 0 (the default level) to %u",
                              name, b->levels);
        if (p->v.i > 0)
            it->level = (uint32_t)p->v.i - 1;
    }
    it->t_enqueued = jn_now_ns();
    it->t_started = 0;
    it->queue_deadline_ns = 0;
    p = it->params ? jn_params_find(it->params, "timeout") : NULL;
    if (p) {
        if (p->type != JN_PARAM_INT || p->v.i < 0)
            return jn_err_set(err, JN_EINVAL,
                              "model '%s': parameter 'timeout' must be a non-negative integer (microseconds)", name);
        if (p->v.i > 0)
            it->queue_deadline_ns = it->t_enqueued + (p->v.i > INT64_MAX / 2000 ? INT64_MAX / 2 : p->v.i * 1000);
    } else if (c->queue_timeout_us) {
        it->queue_deadline_ns = it->t_enqueued + (int64_t)c->queue_timeout_us * 1000;
    }
    it->rows = b->batching ? jn_batch_rows_of(it->inputs) : 1;
    it->finished = false;
    it->next = it->order_next = NULL;
    jn_err_clear(&it->err);
    jn_tensor_list_init(&it->result);

    jn_batch_item *gone = NULL;
    int64_t now = it->t_enqueued;
    pthread_mutex_lock(&b->mu);
    if (c->queue_max_size && b->queued >= c->queue_max_size) { /* make room of requests already gone */
        bool cancellable;
        reap(b, now, &gone, &cancellable);
    }
    int rc = 0;
    if (b->stop) {
        rc = jn_err_set(err, JN_EUNAVAIL, "model '%s' is being unloaded", name);
    } else if (c->queue_max_size && b->queued >= c->queue_max_size) {
        rc = jn_err_set(err, JN_ERESOURCE,
                        "model '%s': its queue is full (%zu requests waiting; dynamic_batching.queue.max_size %llu); "
                        "retry later",
                        name, b->queued, (unsigned long long)c->queue_max_size);
    } else {
        level_queue *q = &b->queues[it->level];
        if (q->tail)
            q->tail->next = it;
        else
            q->head = it;
        q->tail = it;
        if (c->preserve_ordering) {
            pthread_mutex_lock(&b->order_mu);
            it->seq = b->next_seq++;
            if (b->order_tail)
                b->order_tail->order_next = it;
            else
                b->order_head = it;
            b->order_tail = it;
            pthread_mutex_unlock(&b->order_mu);
        }
        b->queued++;
        b->queued_rows += it->rows ? it->rows : 1;
        /* Wake the watcher only when it would now wake earlier than it will: asleep for good while this request
         * needs watching, or timed later than this request's deadline or the next cancellation poll. */
        int64_t due = it->deadline_ns;
        if (it->queue_deadline_ns && !c->timeout_delay && (!due || it->queue_deadline_ns < due))
            due = it->queue_deadline_ns;
        if (it->cancelled && (!due || now + CANCEL_POLL_NS < due))
            due = now + CANCEL_POLL_NS;
        if (due && b->watcher_wake != INT64_MAX && (b->watcher_wake == 0 || due < b->watcher_wake))
            pthread_cond_signal(&b->watch);
        /* Wake the instances when one is idle, or when one waits out a delay and the batch may now be ready
         * (enough rows, or a preferred size to check). */
        if (b->idle_instances ||
            (b->delaying_instances && (b->queued_rows >= (int64_t)(b->batching ? c->max_batch_size : 1) ||
                                       c->n_preferred)))
            pthread_cond_broadcast(&b->work);
    }
    pthread_mutex_unlock(&b->mu);
    if (gone)
        answer_reaped(b, gone, now);
    return rc;
}

size_t jn_batcher_queued(jn_batcher *b)
{
    pthread_mutex_lock(&b->mu);
    size_t n = b->queued;
    pthread_mutex_unlock(&b->mu);
    return n;
}

/* ---------------------------------------------------------------------------------------------------------------
 * Waiting for the answer */

typedef struct sync_wait {
    jn_batch_item item;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int rc;
    jn_err err;
    jn_tensor_list *outputs;
} sync_wait;

static void sync_done(jn_batch_item *item, int rc, jn_tensor_list *outs, jn_err *err)
{
    sync_wait *w = (sync_wait *)item;
    if (!rc) {
        for (size_t i = 0; i < outs->count; i++) {
            if (jn_tensor_list_push(w->outputs, outs->items[i])) {
                for (size_t j = i + 1; j < outs->count; j++)
                    jn_tensor_free(outs->items[j]);
                rc = jn_err_set(&w->err, JN_ENOMEM, "out of memory");
                break;
            }
        }
        outs->count = 0;
    } else if (err) {
        w->err = *err;
    }
    pthread_mutex_lock(&w->mu);
    w->rc = rc;
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int jn_batcher_run(jn_batcher *b, const jn_infer_ctx *ctx, const jn_tensor_list *inputs, jn_tensor_list *outputs,
                   jn_err *err)
{
    sync_wait w;
    memset(&w, 0, sizeof w);
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    jn_err_clear(&w.err);
    w.outputs = outputs;
    w.item.inputs = inputs;
    w.item.outputs = ctx->outputs;
    w.item.n_outputs = ctx->n_outputs;
    w.item.params = ctx->params;
    w.item.model = ctx->model;
    w.item.request_id = ctx->request_id;
    w.item.deadline_ns = ctx->deadline_ns;
    w.item.cancelled = ctx->cancelled;
    w.item.trace = ctx->trace;
    w.item.done = sync_done;
    int rc = jn_batcher_submit(b, &w.item, err);
    if (!rc) {
        pthread_mutex_lock(&w.mu);
        while (!w.done)
            pthread_cond_wait(&w.cv, &w.mu);
        pthread_mutex_unlock(&w.mu);
        rc = w.rc;
        if (rc)
            *err = w.err;
    }
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
    return rc;
}
