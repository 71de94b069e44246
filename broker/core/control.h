/* control.h — changes to what is served at run time, made the same way whichever front end asks (junction.v1.Admin
 * over gRPC, the HTTP admin paths): checked, made durable in the state directory when there is one (state.h), then
 * applied to the registry; acknowledged only after all of that. At start-up, jn_control_restore serves again what the
 * state directory holds.
 *
 * Ownership: a jn_control borrows the registry and the store (both must outlive it). Thread-safety: the put/delete
 * calls may run concurrently; each change is serialised by the store.
 */
#ifndef JN_CONTROL_H
#define JN_CONTROL_H

#include <stdbool.h>
#include <stdio.h>

#include "pipeline.h"
#include "registry.h"
#include "state.h"

/* Where changes are made durable before they are applied: jn_state_commit over a jn_state (the state directory), the
 * cluster registry's commit (broker/cluster), or nowhere (commit NULL). Same contract as jn_state_commit: durable
 * first, then `apply` under the store's lock, the change undone when apply refuses it. */
typedef int (*jn_store_commit_fn)(void *store, const char *kind, const char *name, const char *value_json,
                                  jn_state_apply_fn apply, void *arg, jn_err *err);

/* How records of a kind other than pipelines are served, given by the module that owns the kind (remote engines:
 * "engine"): value_json as stored, NULL when the record is gone. 0 when served (or already gone). */
typedef int (*jn_record_apply_fn)(void *arg, const char *name, const char *value_json, jn_err *err);

typedef struct jn_record_kind {
    const char *kind; /* static */
    jn_record_apply_fn apply;
    void *arg;
} jn_record_kind;

enum { JN_CONTROL_MAX_KINDS = 4 };

typedef struct jn_control {
    jn_registry *reg;
    jn_store_commit_fn commit; /* NULL: changes last until the process ends */
    void *store;               /* commit's first argument (borrowed) */
    jn_record_kind kinds[JN_CONTROL_MAX_KINDS];
    size_t n_kinds;
    /* Records that live only while their owner renews them (engines registered by Heartbeat): published with a
     * lease of ttl_ms where the store has leases (the cluster registry), renewed by publishing again. NULL: such
     * records stay local (the state directory does not keep them). Errors are the caller's to report, not fatal. */
    int (*publish_leased)(void *store, const char *kind, const char *name, const char *value_json, int64_t ttl_ms,
                          jn_err *err);
} jn_control;

/* Adds a record kind (before serving). JN_ERESOURCE when JN_CONTROL_MAX_KINDS are taken. */
int jn_control_add_kind(jn_control *c, const char *kind, jn_record_apply_fn apply, void *arg);

/* One change of a record (value_json NULL: removed) made durable in the store, then `apply` run (under the store's
 * lock; refused changes are undone). Without a store, just apply. For kinds whose front end does its own applying
 * (registration results it must answer with); pipelines use jn_control_put_pipeline / _delete_pipeline. */
int jn_control_commit(jn_control *c, const char *kind, const char *name, const char *value_json,
                      jn_state_apply_fn apply, void *arg, jn_err *err);

/* The state directory as a store (a jn_store_commit_fn over a jn_state). */
int jn_control_state_commit(void *state, const char *kind, const char *name, const char *value_json,
                            jn_state_apply_fn apply, void *arg, jn_err *err);

/* The record kind pipelines are kept under in the state directory. */
#define JN_STATE_KIND_PIPELINE "pipeline"

typedef struct jn_put_result {
    bool replaced;
    char *plan; /* malloc'd: jn_pipeline_plan_text of the new pipeline */
} jn_put_result;

/* Compiles spec against the registry, persists it, registers it (replacing a pipeline of the same name
 * atomically). All or nothing: on failure nothing is registered or kept, and err names the step/port (compile) or the
 * state file (JN_EIO). result->plan is set on success only; the caller frees it. */
int jn_control_put_pipeline(jn_control *c, const jn_pipeline_spec *spec, jn_put_result *result, jn_err *err);

/* Unregisters a pipeline and forgets it in the state. JN_ENOTFOUND for an unknown name, JN_EINVAL for a name that
 * is an engine, not a pipeline. */
int jn_control_delete_pipeline(jn_control *c, const char *name, jn_err *err);

/* Serves one record as it is stored (value_json NULL: the record is gone): a pipeline is compiled and registered
 * (replacing one of the same name) or unregistered. For restoring and for changes made by other replicas. */
int jn_control_apply_record(const jn_control *c, const char *kind, const char *name, const char *value_json,
                            jn_err *err);

/* Registers every record of the state directory (in the order they were first made; one that needs another is
 * retried after the others). A record that cannot be served now is reported on `report` and kept, not dropped.
 * Returns the number of records not restored. */
size_t jn_control_restore(const jn_control *c, jn_state *state, FILE *report);

#endif
