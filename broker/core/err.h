/* err.h — error codes and the error record every fallible call fills.
 *
 * Functions return int: 0 on success, a negative JN_E* code on failure. Calls that must explain themselves also
 * fill a caller-owned jn_err with the same code and a message that names what was wrong (model, port, expected,
 * got). The mapping to a gRPC status or an HTTP code happens only at the edge (jn_err_grpc_status / _http_status).
 *
 * Ownership: jn_err is a plain value with an inline message buffer; nothing to free.
 * Thread-safety: a jn_err belongs to one thread at a time.
 */
#ifndef JN_ERR_H
#define JN_ERR_H

#include <stddef.h>

/* X(name, value, grpc status code, http status, text) */
#define JN_ERRNO_MAP(X)                                                                                   \
    X(EINVAL, -1, 3, 400, "invalid argument")                                                          \
    X(ENOTFOUND, -2, 5, 404, "not found")                                                              \
    X(EEXIST, -3, 6, 409, "already exists")                                                            \
    X(ENOMEM, -4, 8, 500, "out of memory")                                                             \
    X(ERESOURCE, -5, 8, 429, "resource exhausted")                                                     \
    X(EDEADLINE, -6, 4, 504, "deadline exceeded")                                                      \
    X(ECANCELLED, -7, 1, 499, "cancelled")                                                             \
    X(EUNAVAIL, -8, 14, 503, "unavailable")                                                            \
    X(EUNIMPL, -9, 12, 501, "unimplemented")                                                           \
    X(EPRECOND, -10, 9, 400, "failed precondition")                                                    \
    X(EINTERNAL, -11, 13, 500, "internal error")                                                       \
    X(EIO, -12, 13, 500, "i/o error")                                                                  \
    /* The remaining gRPC codes, so a remote engine's status comes back to the caller unchanged. */     \
    X(EUNKNOWN, -13, 2, 500, "unknown error")                                                          \
    X(EPERMISSION, -14, 7, 403, "permission denied")                                                    \
    X(EABORTED, -15, 10, 409, "aborted")                                                               \
    X(ERANGE, -16, 11, 400, "out of range")                                                            \
    X(EDATALOSS, -17, 15, 500, "data loss")                                                            \
    X(EUNAUTHENTICATED, -18, 16, 401, "unauthenticated")

enum {
    JN_OK = 0,
#define JN__ERR_ENUM(name, value, grpc, http, text) JN_##name = value,
    JN_ERRNO_MAP(JN__ERR_ENUM)
#undef JN__ERR_ENUM
};

#define JN_ERR_MSG_MAX 1024

typedef struct jn_err {
    int code;                  /* 0 or a JN_E* value */
    char msg[JN_ERR_MSG_MAX];  /* NUL-terminated; empty when code == 0 */
} jn_err;

/* Resets err to "no error". err may be NULL. */
void jn_err_clear(jn_err *err);

/* Sets code and a printf-formatted message; returns code so callers can `return jn_err_set(...)`.
 * err may be NULL (the code is still returned). Messages longer than JN_ERR_MSG_MAX are truncated. */
int jn_err_set(jn_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prepends "prefix: " to an existing message (used to name the step or front end that failed). */
void jn_err_prefix(jn_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Short text for a JN_E* code ("invalid argument"); "unknown error" otherwise. */
const char *jn_strerror(int code);

/* The grpc_status_code (numeric, google.rpc.Code) for a JN_E* code; 0 for JN_OK; 2 (UNKNOWN) for others. */
int jn_err_grpc_status(int code);

/* The JN_E* code for a non-zero grpc_status_code (the first in JN_ERRNO_MAP that maps to it); JN_EUNKNOWN for codes
 * outside google.rpc.Code, 0 for OK. */
int jn_err_from_grpc_status(int grpc_status);

/* The name of a grpc_status_code ("UNAVAILABLE"), for messages; "UNKNOWN" outside google.rpc.Code. */
const char *jn_grpc_status_name(int grpc_status);

/* The HTTP status for a JN_E* code; 200 for JN_OK. */
int jn_err_http_status(int code);

#endif
