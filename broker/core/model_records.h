/* model_records.h — the "model" record kind: models loaded from model files at run time (Admin.LoadModel /
 * UnloadModel), kept in the state directory or the cluster registry like pipelines (control.h) and remote engines
 * (broker/remote/remotes.h), and served again from there.
 *
 * A record is {"version": V, "onnx_base64": B} when the model's bytes were uploaded, {"version": V} when it was read
 * from the model repository (the loader reads it again). Loading or unloading touches only models of the loader's
 * platform, never built-in engines, remote engines or pipelines.
 *
 * Ownership: a jn_model_records borrows the registry, the loader's argument and the platform string (all must
 * outlive it); it is filled by the caller (serve.c) and registered with jn_control_add_kind(c, JN_STATE_KIND_MODEL,
 * jn_model_record_apply, records). Thread-safety: the functions may run concurrently (the registry and the store
 * serialise the changes); the jn_model_records is read-only once registered.
 */
#ifndef JN_MODEL_RECORDS_H
#define JN_MODEL_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "control.h"
#include "engine.h"
#include "err.h"
#include "registry.h"

/* Makes an engine named `name` from a model file's bytes (bytes NULL: read it again from the model repository). A
 * new engine with one reference, or NULL with err set. *serving (zeroed by the caller) receives how the model is
 * to be served (model_config.h) when its files say so (the repository's config.json). */
typedef jn_engine *(*jn_model_loader_fn)(void *arg, const char *name, const char *version, const uint8_t *bytes,
                                         size_t n, jn_model_config *serving, jn_err *err);

#define JN_STATE_KIND_MODEL "model"

/* The model repository, for the v2 repository extension (issue #20). One entry per model, or per version directory
 * in Triton's layout (version "" otherwise); malloc'd strings in a malloc'd array (jn_repo_items_free). */
typedef struct jn_repo_item {
    char *name;
    char *version;
} jn_repo_item;
/* Every model the repository holds: the count, or a negative JN_E* with err set. */
typedef long (*jn_model_index_fn)(void *arg, jn_repo_item **items, jn_err *err);
/* The versions of `name` its version policy serves (Triton's layout), ascending, malloc'd: the count, 0 when the
 * model is not in that layout, or a negative JN_E* with err set. */
typedef long (*jn_model_versions_fn)(void *arg, const char *name, char ***versions, jn_err *err);
void jn_repo_items_free(jn_repo_item *items, long n);

typedef struct jn_model_records {
    jn_registry *reg;
    jn_model_loader_fn load; /* NULL: this server loads no model files */
    void *load_arg;
    const char *platform; /* the platform of the engines `load` makes */
    jn_model_index_fn index;       /* NULL: no repository to list */
    jn_model_versions_fn versions; /* NULL: one version per model */
} jn_model_records;

/* One line of the repository index: state "READY" or "UNAVAILABLE" and why. */
typedef struct jn_repo_state {
    char *name;
    char *version;
    const char *state;
    const char *reason;
} jn_repo_state;

/* The repository's models with their state (only the READY ones when `ready_only`): the count, or a negative JN_E*
 * (JN_EUNIMPL without a repository). Free with jn_repo_states_free. */
long jn_model_records_index(const jn_model_records *m, bool ready_only, jn_repo_state **out, jn_err *err);
void jn_repo_states_free(jn_repo_state *states, long n);
/* Loads (or reloads) model `name` from the repository: every version its policy serves in Triton's layout (the set
 * replaces the loaded one in one step, so each call is served wholly by one version), else the one model file; kept
 * as a state record like LoadModel's. Errors as jn_model_records_load's. */
int jn_model_records_load_repository(const jn_model_records *m, jn_control *control, const char *name, bool *replaced,
                                     jn_err *err);

/* Uploaded model files larger than this are not kept in the state (base64 in the record; etcd takes about 1.5 MB
 * per request by default, and the state file is rewritten whole on every change): they belong in the model
 * repository, from which a load by name reads them again. */
#define JN_MODEL_RECORD_MAX_BYTES ((size_t)1 << 20)

/* A jn_record_apply_fn (control.h) over a jn_model_records: loads the stored model again (replacing only a model of
 * the loader's platform) or, for a removed record (value_json NULL), unloads it. */
int jn_model_record_apply(void *records, const char *name, const char *value_json, jn_err *err);

/* Loads model `name` (version NULL or "" = none given) from `bytes` (NULL: from the model repository), makes the
 * record durable through `control`, then registers it. *replaced tells whether a model of that name was replaced.
 * Errors name the model: not a model name (JN_EINVAL), too big to keep (JN_EPRECOND, refused before loading), the
 * loader's error, or an existing engine that was not loaded from a model file (JN_EEXIST). JN_EUNIMPL when
 * m->load is NULL. */
int jn_model_records_load(const jn_model_records *m, jn_control *control, const char *name, const char *version,
                          const uint8_t *bytes, size_t n, bool *replaced, jn_err *err);

/* Unloads model `name` and forgets its record. JN_ENOTFOUND for an unknown name, JN_EPRECOND for an engine that
 * was not loaded from a model file, JN_EUNIMPL when m->load is NULL. */
int jn_model_records_unload(const jn_model_records *m, jn_control *control, const char *name, jn_err *err);

#endif
