/* infer_stats.h — one model entry's cumulative inference statistics, in the shape of the v2 statistics extension
 * (Triton's extension_statistics.md: inference_count, execution_count, success / fail / queue / compute_input /
 * compute_infer / compute_output / cache_hit / cache_miss as count + nanoseconds, and per batch size). The
 * dispatcher, the batcher and the response cache record; the front ends (gRPC ModelStatistics, REST
 * GET /v2/models/{name}/stats) read a snapshot.
 *
 * What each figure counts (as Triton's document says, with junction's phases):
 * - success / fail: requests answered, count and total duration (arrival -> outcome); success includes cache hits;
 * - queue: requests, time from arrival to the start of their execution (the batcher's or a worker's queue),
 *   cache hits included (their queue time is ~0);
 * - compute_input / compute_infer / compute_output: per request that an execution served (a cache hit serves none):
 *   gathering the batch's inputs, the engine run, splitting and checking the outputs; a batch of k requests adds
 *   k to each count and k x the batch's duration to each ns (Triton's accounting);
 * - cache_hit: lookups that found an answer (lookup + handing the cached outputs over); cache_miss: lookups that did
 *   not plus inserting the computed answer;
 * - inference_count: rows computed by successful executions (a request of 4 rows counts 4; cache hits none);
 *   execution_count: successful engine executions (one per batch);
 * - batch_stats: per batch size in rows, executions and their compute_input / compute_infer / compute_output.
 * Statistics belong to the registry entry (jn_model): a model replaced under the same name starts from zero.
 *
 * Ownership: the caller owns the jn_infer_stats (embedded in jn_model) and the snapshot it fills
 * (jn_infer_stats_snapshot_free frees its batch array).
 * Thread-safety: recording may happen from any thread at any time (relaxed atomics; batch statistics under a
 * mutex, one lock per execution); a snapshot may be taken concurrently (its figures are each consistent, not
 * all taken at one instant).
 */
#ifndef JN_INFER_STATS_H
#define JN_INFER_STATS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct jn_duration_stat {
    atomic_uint_least64_t count;
    atomic_uint_least64_t ns;
} jn_duration_stat;

typedef struct jn_duration {
    uint64_t count, ns;
} jn_duration;

typedef struct jn_batch_stat {
    uint64_t batch_size;
    jn_duration compute_input, compute_infer, compute_output;
} jn_batch_stat;

typedef struct jn_infer_stats {
    atomic_uint_least64_t last_inference_ms; /* wall clock, ms since the epoch; 0 = never */
    atomic_uint_least64_t inference_count, execution_count;
    jn_duration_stat success, fail, queue, compute_input, compute_infer, compute_output, cache_hit, cache_miss;
    pthread_mutex_t batch_lock;
    jn_batch_stat *batches; /* sorted by batch_size */
    size_t n_batches, cap_batches;
} jn_infer_stats;

typedef struct jn_infer_stats_snapshot {
    uint64_t last_inference_ms, inference_count, execution_count;
    jn_duration success, fail, queue, compute_input, compute_infer, compute_output, cache_hit, cache_miss;
    jn_batch_stat *batches; /* malloc'd, sorted by batch_size */
    size_t n_batches;
} jn_infer_stats_snapshot;

void jn_infer_stats_init(jn_infer_stats *st);
void jn_infer_stats_destroy(jn_infer_stats *st);

/* A request's outcome: success or failure with its total duration; its queue time when it reached execution or the
 * cache (queue_ns < 0: it never did, not counted). Updates last_inference. */
void jn_infer_stats_request(jn_infer_stats *st, bool ok, int64_t total_ns, int64_t queue_ns);
/* One successful engine execution of `rows` rows serving `requests` requests, with its three phases (ns). */
void jn_infer_stats_execution(jn_infer_stats *st, uint64_t rows, uint64_t requests, int64_t input_ns,
                              int64_t infer_ns, int64_t output_ns);
/* One response-cache lookup: a hit (lookup + hand-over) or a miss (lookup + insert). */
void jn_infer_stats_cache(jn_infer_stats *st, bool hit, int64_t ns);

/* Copies the figures. 0, or -1 when the batch array cannot be allocated (then n_batches is 0). */
int jn_infer_stats_snapshot_take(jn_infer_stats *st, jn_infer_stats_snapshot *out);
void jn_infer_stats_snapshot_free(jn_infer_stats_snapshot *s);

#endif
