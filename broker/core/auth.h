/* auth.h — who may call what: bearer tokens shared by the gRPC and HTTP front ends.
 *
 * Three access classes, decided by what a call does, not by a per-method table (so a method added later cannot
 * be forgotten): OPEN (health and liveness/readiness probes), INFER (everything that reads or runs models) and
 * ADMIN (junction.v1.Admin, v2's Repository* methods and the HTTP admin paths). With an admin token configured, ADMIN calls need it; with a
 * client token configured, INFER calls need the client token or the admin token. A missing or malformed
 * credential is UNAUTHENTICATED; a valid client token on an ADMIN call is PERMISSION_DENIED. Tokens are compared in
 * constant time and never appear in a message or a log line.
 *
 * Ownership: jn_auth owns copies of its tokens (jn_auth_set_* copy; jn_auth_clear wipes and frees them).
 * Thread-safety: set up before serving, then read-only.
 */
#ifndef JN_AUTH_H
#define JN_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

typedef enum jn_access { JN_ACCESS_OPEN, JN_ACCESS_INFER, JN_ACCESS_ADMIN } jn_access;

typedef struct jn_auth {
    char *admin_token; /* NULL: admin calls are open */
    size_t admin_len;
    char *client_token; /* NULL: inference calls are open */
    size_t client_len;
} jn_auth;

void jn_auth_init(jn_auth *auth);
void jn_auth_clear(jn_auth *auth);

/* Reads a token file: its content without surrounding whitespace, which must be 1..4096 printable ASCII
 * characters without spaces. JN_EINVAL / JN_ENOTFOUND with a message naming the file (never its content). */
int jn_auth_set_admin_token_file(jn_auth *auth, const char *path, jn_err *err);
int jn_auth_set_client_token_file(jn_auth *auth, const char *path, jn_err *err);

/* The access class of a gRPC method path ("/pkg.Service/Method"). */
jn_access jn_auth_grpc_access(const char *path, size_t len);

/* Whether a call of class `access` needs a credential at all (NULL auth: never). Front ends ask first, so a server
 * without tokens does not look for the header on every call. */
bool jn_auth_required(const jn_auth *auth, jn_access access);

/* Checks the value of an `authorization` header or metadata entry ("Bearer <token>"; NULL/0 when absent) for a
 * call of class `access`. 0 when allowed, else JN_EUNAUTHENTICATED or JN_EPERMISSION with a message. */
int jn_auth_check(const jn_auth *auth, jn_access access, const char *authorization, size_t len, jn_err *err);

/* Equal contents and lengths, in time that depends only on the lengths. */
bool jn_auth_equal(const char *a, size_t a_len, const char *b, size_t b_len);

#endif
