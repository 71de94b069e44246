/* registry.h — name -> model, the broker's table of what can be called.
 *
 * An entry is a jn_model: the engine plus what the dispatcher keeps per model (its metrics, its place in the
 * shared pool's queue, an optional bulkhead pool). Scheduling state lives here, never on the engine, so a model
 * replaced under the same name starts with a fresh entry while calls already running finish on the old one.
 *
 * Ownership:
 * - jn_registry_put / jn_registry_add take over the caller's reference on the engine (also on failure: it is
 *   dropped); the entry holds it until the entry's last reference goes.
 * - jn_registry_resolve hands out a NEW model reference (jn_model_unref); jn_registry_get / jn_registry_list hand
 *   out NEW engine references (jn_engine_unref). Removing or replacing drops the registry's reference only, so
 *   calls already holding the old model or engine keep it and finish.
 * - A jn_model_sched's pool is borrowed: whoever registers it keeps it alive as long as the engine lives.
 *
 * Thread-safety: every function may be called from any thread (a reader-writer lock guards the table; a
 * jn_model's counters are atomic).
 */
#ifndef JN_REGISTRY_H
#define JN_REGISTRY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "engine.h"
#include "err.h"
#include "infer_stats.h"
#include "model_config.h"

struct jn_workpool;
struct jn_model_stats;
struct jn_batcher;

/* How the dispatcher runs a model's calls that do not run where they arrive. */
typedef struct jn_model_sched {
    /* The model's own pool (a bulkhead: a hung remote ties up only its own threads); NULL = the shared pool. */
    struct jn_workpool *pool;
    /* With `pool`: calls waiting beyond this fail fast with JN_EUNAVAIL. 0 = no bound. */
    size_t max_pending;
    /* How it is served (model_config.h): with batching or instances the entry gets its own queue and threads (a
     * jn_batcher) and `pool` is not used; response_cache marks it cacheable. Zero = as before. */
    jn_model_config config;
} jn_model_sched;

typedef struct jn_model {
    jn_engine *engine; /* the entry's reference; immutable */
    jn_model_sched sched;
    /* Its metrics (metrics.h), looked up on the entry's first call (jn_model_stats_of) so requests skip that. */
    struct jn_model_stats *_Atomic stats;
    atomic_long queued;           /* calls waiting for the shared pool and not started yet (per-model shedding) */
    jn_infer_stats infer;         /* the v2 statistics extension's figures for this entry (infer_stats.h) */
    struct jn_batcher *batcher;   /* its own queue and instances (batcher.h), or NULL; immutable */
    uint64_t serial;              /* unique per entry in the process: a replaced model's answers are never reused */
    atomic_int refs;
} jn_model;

jn_model *jn_model_ref(jn_model *m);
/* m's metrics (created and cached on the first call; NULL only when memory runs out). */
struct jn_model_stats *jn_model_stats_of(jn_model *m);
void jn_model_unref(jn_model *m);

typedef struct jn_registry jn_registry;

jn_registry *jn_registry_create(void);
/* Drops the registry's references on every entry. */
void jn_registry_destroy(jn_registry *reg);

/* A check the registry makes, under its lock, on an existing entry before replacing or removing it: 0 to go on. */
typedef int (*jn_registry_check_fn)(const jn_engine *existing, void *arg, jn_err *err);

/* Versions (issue #20): several entries may share a name, one per engine version (each its own batcher, statistics
 * and serial). jn_registry_add / jn_registry_put deal with a name as a whole (put replaces every version of it by one
 * entry, remove removes them all); jn_registry_add_version / jn_registry_remove_version with one version. Entries are
 * ordered by name, then version (jn_version_cmp: numbers numerically, "10" after "9", before other names). */
int jn_version_cmp(const char *a, const char *b);
/* Adds version engine->version of engine->name beside the others: JN_EEXIST when that version is there. Takes the
 * caller's reference on engine (also on failure). */
int jn_registry_add_version(jn_registry *reg, jn_engine *engine, const jn_model_sched *sched, jn_err *err);
/* Replaces every version of a name by `engines` (n >= 1, one name, versions ascending; all taken, also on failure),
 * in one step: a call resolves either the old set or the new one. `scheds` (may be NULL) has one per engine.
 * may_replace as for jn_registry_put (asked about the highest existing version). */
int jn_registry_put_versions(jn_registry *reg, jn_engine **engines, const jn_model_sched *scheds, size_t n,
                             jn_registry_check_fn may_replace, void *arg, bool *replaced, jn_err *err);
/* JN_ENOTFOUND naming the model or the version. Calls holding it finish on it. */
int jn_registry_remove_version(jn_registry *reg, const char *name, const char *version, jn_err *err);
/* The versions of `name`, ascending, as malloc'd strings in a malloc'd array: the count (0: unknown name, -1: out of
 * memory). Free with jn_registry_versions_free. */
long jn_registry_versions(jn_registry *reg, const char *name, char ***out);
void jn_registry_versions_free(char **versions, long n);

/* JN_EEXIST when the name is taken. A sched whose config cannot serve the engine (model_config.h's check) or whose
 * threads cannot start is refused (JN_EINVAL / JN_ERESOURCE) by add and put alike. */
int jn_registry_add(jn_registry *reg, jn_engine *engine, jn_err *err);
/* Adds, or replaces an entry of the same name atomically when `may_replace(existing, arg, err)` returns 0 (NULL:
 * never, JN_EEXIST). Calls already holding the old entry keep it. *replaced (may be NULL) tells which happened.
 * `sched` (may be NULL: the shared pool) is copied into the new entry. Takes the caller's reference on engine (also
 * on failure). */
int jn_registry_put(jn_registry *reg, jn_engine *engine, const jn_model_sched *sched, jn_registry_check_fn may_replace,
                    void *arg, bool *replaced, jn_err *err);
/* JN_ENOTFOUND when absent. */
int jn_registry_remove(jn_registry *reg, const char *name, jn_err *err);
/* Removes `name` only when `may_remove(existing, arg, err)` returns 0 (atomically with the lookup). */
int jn_registry_remove_if(jn_registry *reg, const char *name, jn_registry_check_fn may_remove, void *arg,
                          jn_err *err);
/* The entry named `name`; `version` NULL or "" = the highest ready version (the highest when none is ready). NULL
 * with JN_ENOTFOUND naming the model (or the version and those there are) otherwise. The dispatcher's one lookup
 * per call. */
jn_model *jn_registry_resolve(jn_registry *reg, const char *name, const char *version, jn_err *err);
/* The same, for its engine only (metadata, listings). */
jn_engine *jn_registry_get(jn_registry *reg, const char *name, const char *version, jn_err *err);
/* Fills *out with a malloc'd array of engine references (every version), sorted by name then version; returns the count (0 and *out NULL when
 * empty, -1 on out of memory). Free with jn_registry_list_free. */
long jn_registry_list(jn_registry *reg, jn_engine ***out);
void jn_registry_list_free(jn_engine **list, long n);
/* The same for the entries (NEW model references), sorted by name; free with jn_registry_list_models_free. */
long jn_registry_list_models(jn_registry *reg, jn_model ***out);
void jn_registry_list_models_free(jn_model **list, long n);
/* Replaces each version of `name` by one of the same engine served with `config` (--model-config): JN_ENOTFOUND, or
 * the config's refusal. Calls already holding an old entry finish on it. */
int jn_registry_configure(jn_registry *reg, const char *name, const jn_model_config *config, jn_err *err);

#endif
