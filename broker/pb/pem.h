/* pem.h — reading PEM files for TLS (the server's certificate and key, CA bundles, remote engines' client
 * credentials), checked before the C core sees them.
 *
 * Ownership: jn_pem_read returns a malloc'd NUL-terminated copy the caller frees (jn_pem_free wipes it first: keys
 * should not linger in freed memory). Thread-safety: pure.
 */
#ifndef JN_PB_PEM_H
#define JN_PB_PEM_H

#include "err.h"

/* The whole file, or NULL with JN_EINVAL naming `what` (a flag or option name) and the path: missing, unreadable,
 * larger than 16 MiB, or without a -----BEGIN line. */
char *jn_pem_read(const char *path, const char *what, jn_err *err);
void jn_pem_free(char *pem);

#endif
