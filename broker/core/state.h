/* state.h — the state directory: what was registered at run time (pipelines now; remote engines and loaded models
 * plug in as further record kinds), kept so that a restart — even after kill -9 — serves it again.
 *
 * On disk: DIR/state.json, the whole set of records, and DIR/state.json.prev, the set before the last change. Each
 * file is one header line `junction-state 1 <bytes> <crc32 hex>` and a JSON body
 * `{"records": [{"kind": K, "name": N, "value": V}, ...]}` (records in the order they were first made). A change
 * writes DIR/state.json.tmp, fsyncs it, renames state.json to state.json.prev, renames the temp file to state.json
 * and fsyncs the directory; only then does the change count as made. A crash at any point leaves either the new
 * state.json, or no state.json and the previous set in state.json.prev, which loading then uses.
 * A state.json whose length or checksum does not match its header, or whose body does not parse, is reported (see
 * jn_state_report) and the last good set, state.json.prev, is used instead.
 *
 * Ownership: a jn_state owns its records and the directory path; record strings stay valid until the next commit.
 * Thread-safety: jn_state_commit serialises itself (one change at a time, in the order the file sees them); the
 * record accessors are for start-up, before commits run concurrently.
 */
#ifndef JN_STATE_H
#define JN_STATE_H

#include <stddef.h>

#include "err.h"

typedef struct jn_state jn_state;

/* Opens (creating the directory if needed) and loads the last good set. NULL with err when the directory cannot be
 * made or written, or when neither file is usable but one exists and is not merely absent (then the message says
 * what is wrong with each: nothing is silently dropped). */
jn_state *jn_state_open(const char *dir, jn_err *err);
void jn_state_close(jn_state *st);

/* What loading noticed (a corrupt state.json and the fallback used); "" when the load was clean. */
const char *jn_state_report(const jn_state *st);

size_t jn_state_count(const jn_state *st);
/* Record i: its kind, name and value as compact JSON text (borrowed). */
void jn_state_record(const jn_state *st, size_t i, const char **kind, const char **name, const char **value_json);

/* Called by jn_state_commit after the new set is durable, under the state's lock. 0 keeps the change; anything else
 * undoes it on disk (the previous set is written back) and is returned by the commit. */
typedef int (*jn_state_apply_fn)(void *arg, jn_err *err);

/* Sets record (kind, name) to value_json (a JSON text; NULL removes the record), durably, then calls apply. A
 * missing record to remove is not an error (apply still runs). JN_EINVAL for a value that is not JSON; JN_EIO with
 * the file and the system's reason when the disk refuses. */
int jn_state_commit(jn_state *st, const char *kind, const char *name, const char *value_json, jn_state_apply_fn apply,
                    void *arg, jn_err *err);

/* Checks the bytes of a state file (header, length, checksum, body) as loading does: the number of records, or a
 * negative JN_E* code with the reason in why. For tests and the fuzz target. */
long jn_state_check_bytes(const char *data, size_t len, char *why, size_t why_n);

#endif
