/* file_read.h — a whole file into memory, up to a size bound (the state file, models read by `junction quantize`).
 *
 * Ownership: *out is malloc'd, the caller's to free (NULL on failure). Thread-safety: reentrant.
 */
#ifndef JN_CORE_FILE_READ_H
#define JN_CORE_FILE_READ_H

#include <stddef.h>

/* 0, or an errno value: ENOENT (absent), EFBIG (longer than max bytes), ENOMEM, EIO (a read error), or what fopen
 * said. The buffer has one spare zero byte after the *len read, so a text file can be used as a string. */
int jn_read_file(const char *path, size_t max, void **out, size_t *len);

#endif
