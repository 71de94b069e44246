/* remotes.h — the broker's remote engines: registration (Admin.RegisterEngine, --remotes FILE, Heartbeat leases),
 * removal, listing, and the background thread that schedules health checks (run on a small pool of their own, at
 * most one per engine at a time), expires leases and frees endpoints nobody uses.
 *
 * Readiness: a remote engine is ready while its last health check passed and, for a leased engine, its last
 * heartbeat is at most 2 x interval_ms old; the health thread writes engine->ready (ListModels and v2 ModelReady
 * read it, and calls to a model that is not ready fail fast with UNAVAILABLE). A leased engine whose last heartbeat
 * is older than ttl_ms is removed.
 *
 * Ownership: the manager borrows the registry (it must outlive the manager's use of it: stop the manager before
 * destroying the registry, destroy the manager after). The engines it registers belong to the registry; the
 * manager keeps its own reference on each, dropped when the engine is unregistered or expires.
 * Thread-safety: every function may be called from any thread; registration blocks (it asks the remote), so
 * front ends call it off their pump threads.
 */
#ifndef JN_REMOTE_REMOTES_H
#define JN_REMOTE_REMOTES_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "registry.h"
#include "remote_engine.h"

typedef struct jn_remotes jn_remotes;

/* Starts the health thread and the registration pool. NULL on out of memory. */
jn_remotes *jn_remotes_create(jn_registry *reg);

/* Where front ends run registrations and heartbeats (they block on the remote for up to their deadline): a small
 * pool of the manager's own, so registrations to a hung remote never hold the shared worker pool. Borrowed. */
jn_workpool *jn_remotes_pool(jn_remotes *r);
/* Stops the health thread (waits for a check in progress). */
void jn_remotes_stop(jn_remotes *r);
/* Drops the manager's engine references and frees the endpoints; call after the registry is destroyed (or after
 * every call has finished). */
void jn_remotes_destroy(jn_remotes *r);

/* A registration request as it arrives: text fields and options as key/value strings (checked here). */
typedef struct jn_remote_request {
    const char *name;
    const char *endpoint;
    const char *protocol; /* "kserve_v2" | "native" | "openai" (endpoint a URL, model required) */
    const char *model;    /* "" or NULL = name */
    const char *version;  /* "" or NULL = the remote's current */
    const char *const *option_keys;
    const char *const *option_values;
    size_t n_options;
} jn_remote_request;

/* Validates, describes the remote model and registers the engine. Returns 0 with *engine (a NEW reference, may be
 * NULL if not wanted), or the error: JN_EINVAL naming the field (name, endpoint, protocol, option '...'),
 * JN_EEXIST when the name is taken, the remote's code when it cannot be described. `deadline_ns` bounds the
 * describe call (0 = the engine's health_timeout_ms). */
int jn_remotes_register(jn_remotes *r, const jn_remote_request *req, int64_t deadline_ns, jn_engine **engine,
                        jn_err *err);
/* A registration as a JSON object (the --remotes entry form: name, endpoint, protocol, model, version, options);
 * malloc'd, NULL on out of memory. jn_remotes_register_json registers from that form (state records). */
char *jn_remote_request_json(const jn_remote_request *req);
int jn_remotes_register_json(jn_remotes *r, const char *json_text, int64_t deadline_ns, jn_engine **engine,
                             jn_err *err);

/* A jn_record_apply_fn (control.h) for record kind "engine" over a jn_remotes: registers the engine a stored
 * record describes (replacing a remote engine of that name), or unregisters it (value_json NULL). */
int jn_remotes_apply_record(void *remotes, const char *name, const char *value_json, jn_err *err);
#define JN_STATE_KIND_ENGINE "engine"

/* JN_ENOTFOUND when no model has the name, JN_EPRECOND when it is not a remote engine. */
int jn_remotes_unregister(jn_remotes *r, const char *name, jn_err *err);
/* A heartbeat: registers the engine with a lease on the first one (then *registered is set), renews it after.
 * JN_EEXIST when the name belongs to something else (a local model, or an engine registered without a lease on
 * another endpoint). */
int jn_remotes_heartbeat(jn_remotes *r, const jn_remote_request *req, int64_t interval_ms, int64_t ttl_ms,
                         int64_t deadline_ns, bool *registered, jn_err *err);

/* One remote engine as ListEngines shows it. Strings are owned by the info (jn_remote_infos_free). */
typedef struct jn_remote_info {
    char *name, *endpoint, *protocol, *model, *version;
    char **option_keys, **option_values;
    size_t n_options;
    bool ready, leased;
    const char *breaker; /* static */
    int64_t breaker_opened;
    int64_t since_heartbeat_ms;
    char *health_error;
} jn_remote_info;

/* Sorted by name. Returns the count, or -1 on out of memory. */
long jn_remotes_list(jn_remotes *r, jn_remote_info **out);
void jn_remotes_infos_free(jn_remote_info *infos, long n);

/* Registers every entry of a JSON file: a list of {"name", "endpoint", "protocol": "kserve_v2" | "native" | "openai",
 * "model"?, "version"?, "options"?: {key: value}}. All or nothing: on the first error (naming the file, the entry
 * and the field) the ones already registered from the file are removed again. */
int jn_remotes_load_file(jn_remotes *r, const char *path, jn_err *err);

/* Server shutdown, before a pump's completion queue (`cq`, a grpc_completion_queue *) is shut down: the multiplexed
 * remote streams on it are cancelled (their messages fail UNAVAILABLE) and no new one opens on it
 * (endpoint_mux.c). */
void jn_remote_mux_close_queue(void *cq);

/* Write coalescing on a gRPC pump (issue #24). jn_remote_mux_defer_writes(cq), called once by the pump thread that
 * drains `cq` (a grpc_completion_queue *), makes the messages that thread sends on the streams of `cq` wait until it
 * calls jn_remote_mux_flush (when its queue has nothing ready): the messages of one burst then leave in one write
 * per stream (GRPC_WRITE_BUFFER_HINT on all but the last). Messages on other queues' streams (a blocking call made
 * from the pump) go at once. At most 16 streams wait; more are written at once. jn_remote_mux_deferred: whether
 * this thread has any waiting. Thread-safety: per thread (thread-local state). */
void jn_remote_mux_defer_writes(void *cq);
bool jn_remote_mux_deferred(void);
void jn_remote_mux_flush(void);

#endif
