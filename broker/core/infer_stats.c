/* infer_stats.c — per model entry statistics (infer_stats.h). */
#include "infer_stats.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static void add(jn_duration_stat *d, uint64_t count, int64_t ns)
{
    atomic_fetch_add_explicit(&d->count, count, memory_order_relaxed);
    atomic_fetch_add_explicit(&d->ns, ns > 0 ? (uint64_t)ns : 0, memory_order_relaxed);
}

static jn_duration load(const jn_duration_stat *d)
{
    return (jn_duration){atomic_load_explicit(&d->count, memory_order_relaxed),
                         atomic_load_explicit(&d->ns, memory_order_relaxed)};
}

static void zero(jn_duration_stat *d)
{
    atomic_init(&d->count, 0);
    atomic_init(&d->ns, 0);
}

void jn_infer_stats_init(jn_infer_stats *st)
{
    atomic_init(&st->last_inference_ms, 0);
    atomic_init(&st->inference_count, 0);
    atomic_init(&st->execution_count, 0);
    jn_duration_stat *all[] = {&st->success,       &st->fail,           &st->queue,     &st->compute_input,
                               &st->compute_infer, &st->compute_output, &st->cache_hit, &st->cache_miss};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        zero(all[i]);
    pthread_mutex_init(&st->batch_lock, NULL);
    st->batches = NULL;
    st->n_batches = st->cap_batches = 0;
}

void jn_infer_stats_destroy(jn_infer_stats *st)
{
    pthread_mutex_destroy(&st->batch_lock);
    free(st->batches);
    st->batches = NULL;
}

void jn_infer_stats_request(jn_infer_stats *st, bool ok, int64_t total_ns, int64_t queue_ns)
{
    add(ok ? &st->success : &st->fail, 1, total_ns);
    if (queue_ns >= 0)
        add(&st->queue, 1, queue_ns);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    atomic_store_explicit(&st->last_inference_ms, (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u,
                          memory_order_relaxed);
}

/* The entry for `rows`, inserted in order; NULL on out of memory. Caller holds batch_lock. */
static jn_batch_stat *batch_entry(jn_infer_stats *st, uint64_t rows)
{
    size_t lo = 0, hi = st->n_batches;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (st->batches[mid].batch_size == rows)
            return &st->batches[mid];
        if (st->batches[mid].batch_size < rows)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (st->n_batches == st->cap_batches) {
        size_t cap = st->cap_batches ? st->cap_batches * 2 : 8;
        jn_batch_stat *nb = realloc(st->batches, cap * sizeof *nb);
        if (!nb)
            return NULL;
        st->batches = nb;
        st->cap_batches = cap;
    }
    memmove(&st->batches[lo + 1], &st->batches[lo], (st->n_batches - lo) * sizeof *st->batches);
    st->n_batches++;
    memset(&st->batches[lo], 0, sizeof st->batches[lo]);
    st->batches[lo].batch_size = rows;
    return &st->batches[lo];
}

static void dur_add(jn_duration *d, int64_t ns)
{
    d->count++;
    d->ns += ns > 0 ? (uint64_t)ns : 0;
}

void jn_infer_stats_execution(jn_infer_stats *st, uint64_t rows, uint64_t requests, int64_t input_ns,
                              int64_t infer_ns, int64_t output_ns)
{
    atomic_fetch_add_explicit(&st->execution_count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&st->inference_count, rows, memory_order_relaxed);
    add(&st->compute_input, requests, input_ns * (int64_t)requests);
    add(&st->compute_infer, requests, infer_ns * (int64_t)requests);
    add(&st->compute_output, requests, output_ns * (int64_t)requests);
    pthread_mutex_lock(&st->batch_lock);
    jn_batch_stat *b = batch_entry(st, rows);
    if (b) {
        dur_add(&b->compute_input, input_ns);
        dur_add(&b->compute_infer, infer_ns);
        dur_add(&b->compute_output, output_ns);
    }
    pthread_mutex_unlock(&st->batch_lock);
}

void jn_infer_stats_cache(jn_infer_stats *st, bool hit, int64_t ns)
{
    add(hit ? &st->cache_hit : &st->cache_miss, 1, ns);
}

int jn_infer_stats_snapshot_take(jn_infer_stats *st, jn_infer_stats_snapshot *out)
{
    memset(out, 0, sizeof *out);
    out->last_inference_ms = atomic_load_explicit(&st->last_inference_ms, memory_order_relaxed);
    out->inference_count = atomic_load_explicit(&st->inference_count, memory_order_relaxed);
    out->execution_count = atomic_load_explicit(&st->execution_count, memory_order_relaxed);
    out->success = load(&st->success);
    out->fail = load(&st->fail);
    out->queue = load(&st->queue);
    out->compute_input = load(&st->compute_input);
    out->compute_infer = load(&st->compute_infer);
    out->compute_output = load(&st->compute_output);
    out->cache_hit = load(&st->cache_hit);
    out->cache_miss = load(&st->cache_miss);
    int rc = 0;
    pthread_mutex_lock(&st->batch_lock);
    if (st->n_batches) {
        out->batches = malloc(st->n_batches * sizeof *out->batches);
        if (out->batches) {
            memcpy(out->batches, st->batches, st->n_batches * sizeof *out->batches);
            out->n_batches = st->n_batches;
        } else {
            rc = -1;
        }
    }
    pthread_mutex_unlock(&st->batch_lock);
    return rc;
}

void jn_infer_stats_snapshot_free(jn_infer_stats_snapshot *s)
{
    free(s->batches);
    s->batches = NULL;
    s->n_batches = 0;
}
