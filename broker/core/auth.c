/* auth.c — bearer tokens: reading token files, classifying calls, constant-time checks. See auth.h. */
#include "auth.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { TOKEN_MAX = 4096 };

void jn_auth_init(jn_auth *auth)
{
    memset(auth, 0, sizeof *auth);
}

static void wipe_free(char *s, size_t len)
{
    if (!s)
        return;
    volatile char *v = s; /* not optimised away: the token should not linger in freed memory */
    for (size_t i = 0; i < len; i++)
        v[i] = 0;
    free(s);
}

void jn_auth_clear(jn_auth *auth)
{
    wipe_free(auth->admin_token, auth->admin_len);
    wipe_free(auth->client_token, auth->client_len);
    jn_auth_init(auth);
}

static int read_token(const char *path, const char *what, char **out, size_t *out_len, jn_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return jn_err_set(err, errno == ENOENT ? JN_ENOTFOUND : JN_EINVAL, "%s file '%s': %s", what, path,
                          strerror(errno));
    char *buf = malloc(TOKEN_MAX + 2);
    if (!buf) {
        fclose(f);
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    size_t n = fread(buf, 1, TOKEN_MAX + 2, f);
    int failed = ferror(f);
    fclose(f);
    size_t start = 0, end = n;
    while (start < end && isspace((unsigned char)buf[start]))
        start++;
    while (end > start && isspace((unsigned char)buf[end - 1]))
        end--;
    int rc = 0;
    if (failed)
        rc = jn_err_set(err, JN_EINVAL, "%s file '%s': read error", what, path);
    else if (end == start)
        rc = jn_err_set(err, JN_EINVAL, "%s file '%s' is empty", what, path);
    else if (end - start > TOKEN_MAX)
        rc = jn_err_set(err, JN_EINVAL, "%s file '%s': the token is longer than %d characters", what, path,
                        TOKEN_MAX);
    for (size_t i = start; i < end && !rc; i++)
        if (buf[i] <= ' ' || buf[i] > '~')
            rc = jn_err_set(err, JN_EINVAL,
                            "%s file '%s': the token must be printable ASCII without spaces (character %zu is not)",
                            what, path, i - start + 1);
    if (rc) {
        wipe_free(buf, n);
        return rc;
    }
    memmove(buf, buf + start, end - start);
    memset(buf + (end - start), 0, n - (end - start));
    buf[end - start] = '\0';
    *out = buf;
    *out_len = end - start;
    return 0;
}

int jn_auth_set_admin_token_file(jn_auth *auth, const char *path, jn_err *err)
{
    char *t;
    size_t len;
    int rc = read_token(path, "admin token", &t, &len, err);
    if (rc)
        return rc;
    wipe_free(auth->admin_token, auth->admin_len);
    auth->admin_token = t;
    auth->admin_len = len;
    return 0;
}

int jn_auth_set_client_token_file(jn_auth *auth, const char *path, jn_err *err)
{
    char *t;
    size_t len;
    int rc = read_token(path, "client token", &t, &len, err);
    if (rc)
        return rc;
    wipe_free(auth->client_token, auth->client_len);
    auth->client_token = t;
    auth->client_len = len;
    return 0;
}

static bool has_prefix(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(s, prefix, n) == 0;
}

static bool equals(const char *s, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(s, lit, len) == 0;
}

jn_access jn_auth_grpc_access(const char *path, size_t len)
{
    if (has_prefix(path, len, "/junction.v1.Admin/") ||
        has_prefix(path, len, "/inference.GRPCInferenceService/Repository")) /* the model repository extension */
        return JN_ACCESS_ADMIN;
    if (has_prefix(path, len, "/grpc.health.v1.Health/") ||
        equals(path, len, "/inference.GRPCInferenceService/ServerLive") ||
        equals(path, len, "/inference.GRPCInferenceService/ServerReady"))
        return JN_ACCESS_OPEN;
    return JN_ACCESS_INFER;
}

bool jn_auth_equal(const char *a, size_t a_len, const char *b, size_t b_len)
{
    /* Walks the longer length whatever the contents; the length difference itself is folded in. */
    size_t n = a_len > b_len ? a_len : b_len;
    unsigned diff = (unsigned)(a_len != b_len);
    for (size_t i = 0; i < n; i++) {
        unsigned char x = i < a_len ? (unsigned char)a[i] : 0, y = i < b_len ? (unsigned char)b[i] : 0;
        diff |= (unsigned)(x ^ y);
    }
    return diff == 0;
}

bool jn_auth_required(const jn_auth *auth, jn_access access)
{
    if (!auth || access == JN_ACCESS_OPEN)
        return false;
    return access == JN_ACCESS_ADMIN ? auth->admin_token != NULL : auth->client_token != NULL;
}

int jn_auth_check(const jn_auth *auth, jn_access access, const char *authorization, size_t len, jn_err *err)
{
    if (!jn_auth_required(auth, access))
        return 0;
    const char *what = access == JN_ACCESS_ADMIN ? "the admin token" : "a client token";
    if (!authorization)
        return jn_err_set(err, JN_EUNAUTHENTICATED, "this call needs %s: send 'authorization: Bearer <token>'",
                          what);
    if (len < 7 || strncasecmp(authorization, "Bearer ", 7) != 0)
        return jn_err_set(err, JN_EUNAUTHENTICATED, "the authorization is not of the form 'Bearer <token>'");
    const char *token = authorization + 7;
    size_t token_len = len - 7;
    bool admin = auth->admin_token && jn_auth_equal(token, token_len, auth->admin_token, auth->admin_len);
    if (admin)
        return 0; /* the admin token may do everything */
    bool client = auth->client_token && jn_auth_equal(token, token_len, auth->client_token, auth->client_len);
    if (access == JN_ACCESS_INFER && client)
        return 0;
    if (access == JN_ACCESS_ADMIN && client)
        return jn_err_set(err, JN_EPERMISSION, "this call needs the admin token; a client token may not do it");
    return jn_err_set(err, JN_EUNAUTHENTICATED, "the token is not valid for this call");
}
