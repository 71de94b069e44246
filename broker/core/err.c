#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void jn_err_clear(jn_err *err)
{
    if (!err)
        return;
    err->code = 0;
    err->msg[0] = '\0';
}

int jn_err_set(jn_err *err, int code, const char *fmt, ...)
{
    if (!err)
        return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

void jn_err_prefix(jn_err *err, const char *fmt, ...)
{
    if (!err)
        return;
    char prefix[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[JN_ERR_MSG_MAX];
    memcpy(old, err->msg, sizeof old);
    snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old);
}

const char *jn_strerror(int code)
{
    switch (code) {
    case JN_OK:
        return "ok";
#define JN__ERR_TEXT(name, value, grpc, http, text)                                                       \
    case value:                                                                                        \
        return text;
        JN_ERRNO_MAP(JN__ERR_TEXT)
#undef JN__ERR_TEXT
    }
    return "unknown error";
}

int jn_err_grpc_status(int code)
{
    switch (code) {
    case JN_OK:
        return 0;
#define JN__ERR_GRPC(name, value, grpc, http, text)                                                       \
    case value:                                                                                        \
        return grpc;
        JN_ERRNO_MAP(JN__ERR_GRPC)
#undef JN__ERR_GRPC
    }
    return 2;
}

int jn_err_from_grpc_status(int grpc_status)
{
    if (grpc_status == 0)
        return JN_OK;
#define JN__ERR_FROM_GRPC(name, value, grpc, http, text)                                                  \
    if (grpc_status == grpc)                                                                           \
        return value;
    JN_ERRNO_MAP(JN__ERR_FROM_GRPC)
#undef JN__ERR_FROM_GRPC
    return JN_EUNKNOWN;
}

const char *jn_grpc_status_name(int grpc_status)
{
    static const char *const names[] = {
        "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
        "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
        "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
        "DATA_LOSS", "UNAUTHENTICATED",
    };
    _Static_assert(sizeof names / sizeof names[0] == 17, "one name per google.rpc.Code, 0 to 16");
    return grpc_status >= 0 && (size_t)grpc_status < sizeof names / sizeof names[0] ? names[grpc_status] : "UNKNOWN";
}

int jn_err_http_status(int code)
{
    switch (code) {
    case JN_OK:
        return 200;
#define JN__ERR_HTTP(name, value, grpc, http, text)                                                       \
    case value:                                                                                        \
        return http;
        JN_ERRNO_MAP(JN__ERR_HTTP)
#undef JN__ERR_HTTP
    }
    return 500;
}
