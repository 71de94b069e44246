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

typedef struct jn_model_records {
    jn_registry *reg;
    jn_model_loader_fn load; /* NULL: this server loads no model files */
    void *load_arg;
    const char *platform; /* the platform of the engines `load` makes */
} jn_model_records;

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
