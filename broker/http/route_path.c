/* route_path.c — the HTTP router's text work: paths split into percent-decoded segments, pattern segments, methods,
 * content types, query flags and the binary-extension header (route_path.h). */
#include "route_path.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rest.h"

static int hex(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into out (room for n + 1 bytes, NUL-terminated); false for a bad escape or an encoded
 * NUL. */
static bool decode_segment(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            out[o++] = s[i];
            continue;
        }
        int a = i + 2 < n ? hex(s[i + 1]) : -1, b = a < 0 ? -1 : hex(s[i + 2]);
        if (a < 0 || b < 0 || (a == 0 && b == 0))
            return false;
        out[o++] = (char)(a << 4 | b);
        i += 2;
    }
    out[o] = '\0';
    return true;
}

void jn_path_segments_free(jn_path_segments *sg)
{
    free(sg->buf);
    sg->buf = NULL;
    sg->n = 0;
}

/* 0; JN_ENOTFOUND when the path cannot be a route (no leading '/', too many segments), JN_EINVAL for a bad
 * escape, JN_ENOMEM. */
int jn_path_split(const char *path, jn_path_segments *sg)
{
    sg->n = 0;
    sg->buf = NULL;
    if (path[0] != '/')
        return JN_ENOTFOUND;
    /* Each segment decodes to at most its own length plus a NUL where its '/' (or the end) was. */
    sg->buf = malloc(strlen(path) + 1);
    if (!sg->buf)
        return JN_ENOMEM;
    char *out = sg->buf;
    const char *p = path + 1;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (sg->n == JN_PATH_MAX_SEGMENTS) {
            jn_path_segments_free(sg);
            return JN_ENOTFOUND;
        }
        if (!decode_segment(p, len, out)) {
            jn_path_segments_free(sg);
            return JN_EINVAL;
        }
        sg->s[sg->n++] = out;
        out += strlen(out) + 1;
        if (!slash)
            return 0;
        p = slash + 1;
    }
}

static const char PREDICT_SUFFIX[] = ":predict";

/* Does path segment `seg` fit pattern segment `pat`? Notes a name it stands for in *nm. */
bool jn_path_segment_fits(const char *pat, char *seg, jn_path_names *nm)
{
    if (pat[0] != '{')
        return strcmp(pat, seg) == 0;
    size_t len = strlen(seg), sl = sizeof PREDICT_SUFFIX - 1;
    if (strcmp(pat, "{version}") == 0) {
        nm->version = seg;
        return true;
    }
    if (strcmp(pat, "{model}") == 0) {
        nm->model = seg;
        nm->model_len = len;
        return true;
    }
    /* "{model}:predict" */
    if (len <= sl || strcmp(seg + len - sl, PREDICT_SUFFIX) != 0)
        return false;
    nm->model = seg;
    nm->model_len = len - sl;
    return true;
}

/* Does the route answer `method` (HEAD where GET)? */
bool jn_http_method_in(const char *methods, const char *method)
{
    const char *m = strcmp(method, "HEAD") == 0 ? "GET" : method;
    size_t n = strlen(m);
    for (const char *p = methods; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && strncmp(p, m, n) == 0)
            return true;
        p = comma ? comma + 2 : NULL;
    }
    return false;
}

/* "application/json" or `alt` (may be NULL), case-insensitive, parameters (";charset=utf-8") allowed. */
static bool type_is(const char *ct, const char *want)
{
    size_t n = strlen(want);
    if (strncasecmp(ct, want, n) != 0)
        return false;
    const char *rest = ct + n;
    while (*rest == ' ' || *rest == '\t')
        rest++;
    return *rest == '\0' || *rest == ';';
}

bool jn_http_content_type_ok(const char *ct, bool octets_too)
{
    if (!ct)
        return true;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return type_is(ct, JN_REST_JSON) || (octets_too && type_is(ct, JN_REST_OCTETS));
}

bool jn_http_query_flag(const char *query, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > n && strncmp(p, name, n) == 0 && p[n] == '=') {
            const char *v = p + n + 1;
            size_t vl = len - n - 1;
            if ((vl == 1 && *v == '1') || (vl == 4 && strncasecmp(v, "true", 4) == 0))
                return true;
        } else if (len == n && strncmp(p, name, n) == 0) {
            return true;
        }
        p = amp ? amp + 1 : NULL;
    }
    return false;
}

/* Inference-Header-Content-Length: -1 absent, -2 malformed. */
int64_t jn_http_header_length(const jn_http_request *req)
{
    const char *v = jn_http_header_get(req, "inference-header-content-length");
    if (!v)
        return -1;
    while (*v == ' ')
        v++;
    if (*v < '0' || *v > '9')
        return -2;
    errno = 0;
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    while (*end == ' ')
        end++;
    if (errno || *end || n > (unsigned long long)INT64_MAX)
        return -2;
    return (int64_t)n;
}
