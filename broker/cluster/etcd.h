/* etcd.h — a small etcd v3 client on the gRPC C core: read a prefix, conditional writes (Txn on a key's mod revision),
 * a watch stream over a prefix, and leases. Only what junction's cluster registry needs (cluster.h).
 *
 * Calls block the calling thread (each on its own completion queue) for at most timeout_ms; a watch blocks its
 * reading thread until events arrive, the stream breaks, or jn_etcd_watch_cancel is called from another thread.
 *
 * Ownership: jn_etcd owns its channel; results (jn_etcd_kv, jn_etcd_event arrays) are malloc'd for the caller, freed
 * with jn_etcd_kvs_free / jn_etcd_events_free. Thread-safety: a jn_etcd may be used by several threads at once; a
 * jn_etcd_watch is read by one thread (cancel excepted).
 */
#ifndef JN_ETCD_H
#define JN_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct jn_etcd jn_etcd;

/* url: "etcd://host:port[,host:port...]" (IP literals for several endpoints; one endpoint may be a host name).
 * Does not connect yet. NULL with JN_EINVAL naming what is wrong with the URL. */
jn_etcd *jn_etcd_open(const char *url, jn_err *err);
void jn_etcd_close(jn_etcd *c);
/* "host:port,..." as given, for messages. */
const char *jn_etcd_endpoints(const jn_etcd *c);

typedef struct jn_etcd_kv {
    char *key;
    char *value; /* NUL-terminated copy of the value bytes */
    size_t value_len;
    int64_t mod_revision;
    int64_t lease;
} jn_etcd_kv;

void jn_etcd_kvs_free(jn_etcd_kv *kvs, size_t n);

/* Every key starting with prefix, and the store's revision at that read. JN_EUNAVAIL (unreachable), JN_EDEADLINE,
 * or the mapped status of an etcd error, with a message naming the endpoints. */
int jn_etcd_get_prefix(jn_etcd *c, const char *prefix, int timeout_ms, jn_etcd_kv **kvs, size_t *n,
                       int64_t *revision, jn_err *err);

/* Sets key to value (NULL deletes it), with `lease` (0 = none), only if the key's mod revision is still expect_mod
 * (0: the key must not exist). *changed tells whether it happened; when not, *current_mod is the key's mod revision
 * now (0: absent). *revision is the store's revision after the call. */
int jn_etcd_put_if(jn_etcd *c, const char *key, const char *value, int64_t expect_mod, int64_t lease, int timeout_ms,
                   bool *changed, int64_t *revision, int64_t *current_mod, jn_err *err);

/* Sets key to value with `lease` (0 = none), whatever it was. *revision: the store's revision after the put. */
int jn_etcd_put(jn_etcd *c, const char *key, const char *value, int64_t lease, int timeout_ms, int64_t *revision,
                jn_err *err);

/* Leases: granted for ttl_s seconds (*id set); kept alive once (*ttl_left 0 = expired); revoked (its keys deleted). */
int jn_etcd_lease_grant(jn_etcd *c, int64_t ttl_s, int timeout_ms, int64_t *id, jn_err *err);
int jn_etcd_lease_keepalive(jn_etcd *c, int64_t id, int timeout_ms, int64_t *ttl_left, jn_err *err);
int jn_etcd_lease_revoke(jn_etcd *c, int64_t id, int timeout_ms, jn_err *err);

typedef struct jn_etcd_event {
    bool deleted;
    char *key;
    char *value; /* NULL for a delete */
    int64_t mod_revision;
} jn_etcd_event;

void jn_etcd_events_free(jn_etcd_event *events, size_t n);

typedef struct jn_etcd_watch jn_etcd_watch;

/* Watches every key with the prefix from start_revision (inclusive). NULL when the stream cannot be set up. */
jn_etcd_watch *jn_etcd_watch_prefix(jn_etcd *c, const char *prefix, int64_t start_revision, jn_err *err);
/* The next batch of changes, in revision order (n may be 0: a progress notice). *revision: the store's revision
 * of the batch. JN_EUNAVAIL when the stream broke (read the prefix again, then watch anew), JN_EPRECOND when the
 * start revision was compacted away (same remedy), JN_ECANCELLED after jn_etcd_watch_cancel. */
int jn_etcd_watch_next(jn_etcd_watch *w, jn_etcd_event **events, size_t *n, int64_t *revision, jn_err *err);
/* From any thread: makes a blocked jn_etcd_watch_next return JN_ECANCELLED. */
void jn_etcd_watch_cancel(jn_etcd_watch *w);
void jn_etcd_watch_free(jn_etcd_watch *w);

#endif
