/* base64.h — RFC 4648 base64, for bytes that travel in JSON (BYTES tensor elements, images in predict calls, model
 * files in state records).
 *
 * Ownership: both return malloc'd buffers the caller frees. Thread-safety: pure functions.
 */
#ifndef JN_BASE64_H
#define JN_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Decodes standard or URL-safe base64 (whitespace skipped, padding optional). NULL when malformed, with *bad the
 * offending offset (n for a truncated quantum), or on out of memory (*bad = SIZE_MAX). */
uint8_t *jn_base64_decode(const char *s, size_t n, size_t *out_len, size_t *bad);
/* Standard alphabet, padded, NUL-terminated; *out_len excludes the NUL. NULL on out of memory. */
char *jn_base64_encode(const uint8_t *p, size_t n, size_t *out_len);

#endif
