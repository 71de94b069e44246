/* dir_names.h — the sorted entry names of a directory, as the model repository and the pipeline directory read
 * them (a stable order for messages and name clashes; hidden entries, ".*", skipped).
 *
 * Ownership: on success *out is a malloc'd array of *count malloc'd names, the caller's (jn_dir_names_free).
 * Thread-safety: none needed (no shared state).
 */
#ifndef JN_CORE_DIR_NAMES_H
#define JN_CORE_DIR_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* The names in dir that keep accepts (NULL = every one), sorted by strcmp. 0, or: JN_ENOTFOUND (no such directory),
 * JN_EIO (cannot be read), JN_ENOMEM; err says "cannot open directory 'DIR': reason" (callers may say it their way). */
int jn_dir_names(const char *dir, bool (*keep)(const char *name), char ***out, size_t *count, jn_err *err);
void jn_dir_names_free(char **names, size_t count);

#endif
