/* cluster.h — cluster mode: the run-time records (the state directory's records: pipelines, ...) live in etcd under a
 * key prefix, and every replica serves what is there.
 *
 * Keys are <prefix><kind>/<name> (prefix default "/junction/"), values the record's JSON (the same value the state
 * directory keeps). At start a replica reads the prefix and serves every record, then watches the prefix and applies
 * every change as it comes (another replica's put or delete). A change made through this replica is a transaction
 * on the key's mod revision as this replica last saw it: when another replica changed the key in between, the change
 * is refused with FAILED_PRECONDITION naming the revisions, and nothing is overwritten.
 *
 * etcd unreachable: the replica keeps serving what it has; changes through it fail with UNAVAILABLE; a background
 * thread reconnects (backoff up to 2 s), reads the prefix again, serves the difference and watches anew.
 * /metrics shows which: junction_cluster_etcd_up (1 in step, 0 cut off) and
 * junction_cluster_etcd_last_contact_timestamp_seconds (the last successful exchange), for the etcd alert.
 *
 * Ownership: a jn_cluster borrows the control (how records are served; must outlive it) and owns its etcd client and watch thread.
 * Thread-safety: jn_cluster_commit may be called from any thread; changes and applied events are serialised.
 */
#ifndef JN_CLUSTER_H
#define JN_CLUSTER_H

#include <stdio.h>

#include "control.h"
#include "err.h"
#include "registry.h"

typedef struct jn_cluster jn_cluster;

/* Connects to url ("etcd://host:port[,host:port...]"), serves the records under prefix (NULL: "/junction/"), and
 * starts following changes. When etcd cannot be reached now the replica starts anyway (reported on `report`) and
 * catches up once it can. NULL only for a malformed URL or prefix, or out of memory. */
jn_cluster *jn_cluster_start(const char *url, const char *prefix, const jn_control *control, FILE *report,
                             jn_err *err);

/* A jn_store_commit_fn (control.h) over a jn_cluster. */
int jn_cluster_commit(void *cluster, const char *kind, const char *name, const char *value_json,
                      jn_state_apply_fn apply, void *arg, jn_err *err);

/* control.h's publish_leased over a jn_cluster: the record is put with an etcd lease of ttl_ms (rounded up to whole
 * seconds; etcd may lengthen it to its minimum), granted on the first publish and kept alive by the next ones. When
 * the publishing stops, etcd deletes the record at the lease's end and every replica drops it. */
int jn_cluster_publish_leased(void *cluster, const char *kind, const char *name, const char *value_json,
                              int64_t ttl_ms, jn_err *err);

/* Records served now, the store revision last seen (for logs and tests). */
size_t jn_cluster_served(jn_cluster *cl);

/* Stops following (joins the thread) and frees. What is registered stays registered. */
void jn_cluster_stop(jn_cluster *cl);

#endif
