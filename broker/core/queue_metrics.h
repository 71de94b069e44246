/* queue_metrics.h — /metrics series for how full the waiting rooms are (issue #22: queue-saturation alerts and
 * autoscaling on a per-pod queue metric).
 *
 * At every scrape it walks the registry and writes, per model entry (name and version):
 * - junction_model_queue_depth: calls that wait to start — in the model's own queue (dynamic batching / instances,
 *   batcher.h), in its own pool (a remote endpoint's bulkhead, shared by that endpoint's models), or in its share of
 *   the shared workers' queue (both front ends' calls together);
 * - junction_model_queue_limit: the bound past which such a call is refused at once (dynamic_batching.queue.max_size,
 *   the bulkhead's max_pending, or --max-model-queue, which each front end applies on its own); 0 = no bound;
 * per stateful model entry (sequence.h; the families are declared only while one is served):
 * - junction_model_sequences: sequences alive (state held); junction_model_sequences_limit: its max_sequences;
 * and once: junction_inflight_limit, --max-inflight (each front end's bound on calls handled at once; 0 = none).
 * Nothing is counted on the request path: the figures are the dispatcher's and batchers' own counters, read here.
 *
 * Ownership: the registry is borrowed and must outlive the jn_queue_metrics (stop it before destroying the
 * registry). Thread-safety: start and stop from one thread; the render runs on whichever thread serves /metrics.
 */
#ifndef JN_QUEUE_METRICS_H
#define JN_QUEUE_METRICS_H

#include <stddef.h>

#include "registry.h"

typedef struct jn_queue_metrics jn_queue_metrics;

/* Starts rendering the series for reg's models; max_model_queue and max_inflight are the server's limits (0 = no
 * bound). NULL when memory runs out or the metrics have no room for another collector (nothing is rendered then). */
jn_queue_metrics *jn_queue_metrics_start(jn_registry *reg, size_t max_model_queue, long max_inflight);
/* Stops rendering and frees (NULL is ignored). */
void jn_queue_metrics_stop(jn_queue_metrics *q);

#endif
