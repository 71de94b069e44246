/* route_path.h — the HTTP router's text work (router.c): request paths split into percent-decoded segments and
 * matched against pattern segments ("{model}", "{version}", "{model}:predict", literals), the methods a route
 * answers, the content types accepted, query flags and the Inference-Header-Content-Length header.
 *
 * Ownership: jn_path_split fills a jn_path_segments whose buffer the caller frees with jn_path_segments_free; the
 * names point into it. Thread-safety: pure functions. Private to broker/http.
 */
#ifndef JN_HTTP_ROUTE_PATH_H
#define JN_HTTP_ROUTE_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server.h"

/* /v2/models/{m}/versions/{v}/infer is the longest path served. */
#define JN_PATH_MAX_SEGMENTS 6

/* The decoded path segments, one after the other in buf (one allocation per request). */
typedef struct jn_path_segments {
    size_t n;
    char *s[JN_PATH_MAX_SEGMENTS];
    char *buf;
} jn_path_segments;

/* The names a pattern takes out of a path. */
typedef struct jn_path_names {
    char *model, *version;
    size_t model_len; /* of model, without a ":predict" suffix */
} jn_path_names;

/* 0; JN_ENOTFOUND when the path cannot be a route (no leading '/', too many segments), JN_EINVAL for a bad
 * escape or an encoded NUL, JN_ENOMEM. */
int jn_path_split(const char *path, jn_path_segments *sg);
void jn_path_segments_free(jn_path_segments *sg);
/* Does path segment `seg` fit pattern segment `pat`? Notes a name it stands for in *nm. */
bool jn_path_segment_fits(const char *pat, char *seg, jn_path_names *nm);
/* Does a route answering `methods` ("GET, POST") answer `method` (HEAD where GET)? */
bool jn_http_method_in(const char *methods, const char *method);
/* A body's Content-Type is acceptable: absent, JSON, or (octets_too) application/octet-stream. */
bool jn_http_content_type_ok(const char *ct, bool octets_too);
/* `name` in the query string, alone or as name=1 / name=true. */
bool jn_http_query_flag(const char *query, const char *name);
/* Inference-Header-Content-Length: -1 absent, -2 malformed. */
int64_t jn_http_header_length(const jn_http_request *req);

#endif
