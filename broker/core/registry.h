/* registry.h — name -> engine, the broker's table of what can be called.
 *
 * Ownership: jn_registry_add takes over the caller's reference on the engine (also on failure: it is dropped);
 * jn_registry_get / jn_registry_list hand out NEW references the caller must jn_engine_unref. Removing an engine
 * drops the registry's reference only, so calls already running keep theirs and finish.
 *
 * Thread-safety: every function may be called from any thread (a reader-writer lock guards the table).
 */
#ifndef JN_REGISTRY_H
#define JN_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "engine.h"
#include "err.h"

typedef struct jn_registry jn_registry;

jn_registry *jn_registry_create(void);
/* Drops the registry's references on every engine. */
void jn_registry_destroy(jn_registry *reg);

/* JN_EEXIST when the name is taken. */
int jn_registry_add(jn_registry *reg, jn_engine *engine, jn_err *err);
/* Adds, or replaces an entry of the same name atomically when `may_replace(old, err)` returns 0 (NULL: never,
 * JN_EEXIST). Calls already holding the old engine keep it. *replaced (may be NULL) tells which happened. Takes the
 * caller's reference on engine (also on failure). */
typedef int (*jn_registry_check_fn)(const jn_engine *existing, jn_err *err);
int jn_registry_put(jn_registry *reg, jn_engine *engine, jn_registry_check_fn may_replace, bool *replaced,
                    jn_err *err);
/* JN_ENOTFOUND when absent. */
int jn_registry_remove(jn_registry *reg, const char *name, jn_err *err);
/* Removes `name` only when `may_remove(existing, err)` returns 0 (atomically with the lookup). */
int jn_registry_remove_if(jn_registry *reg, const char *name, jn_registry_check_fn may_remove, jn_err *err);
/* The engine named `name`; `version` NULL or "" = the current one. NULL with JN_ENOTFOUND naming the model (or the
 * version) otherwise. */
jn_engine *jn_registry_get(jn_registry *reg, const char *name, const char *version, jn_err *err);
/* Fills *out with a malloc'd array of references, sorted by name; returns the count (0 and *out NULL when empty,
 * -1 on out of memory). Free with jn_registry_list_free. */
long jn_registry_list(jn_registry *reg, jn_engine ***out);
void jn_registry_list_free(jn_engine **list, long n);

#endif
