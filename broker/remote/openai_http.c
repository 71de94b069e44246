/* openai_http.c — the OpenAI-compatible remotes' HTTP plumbing (openai_internal.h): URLs, one whole exchange,
 * errors mapped to gRPC statuses with the server's message quoted (and the API key scrubbed from it), GET models for
 * registration and health. The protocol itself is described in openai_client.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "openai_internal.h"

/* {endpoint}{path}, without doubling the '/' of an endpoint that ends in one. */
void jn__oai_url(char *buf, size_t n, const jn_endpoint *ep, const char *path)
{
    size_t len = strlen(ep->target);
    while (len && ep->target[len - 1] == '/')
        len--;
    snprintf(buf, n, "%.*s%s", (int)len, ep->target, path);
}

/* ---- errors ---- */

static int grpc_code_of_http(long status)
{
    switch (status) {
    case 400:
    case 413:
    case 422:
        return GRPC_STATUS_INVALID_ARGUMENT;
    case 401:
        return GRPC_STATUS_UNAUTHENTICATED;
    case 403:
        return GRPC_STATUS_PERMISSION_DENIED;
    case 404:
        return GRPC_STATUS_NOT_FOUND;
    case 408:
        return GRPC_STATUS_DEADLINE_EXCEEDED;
    case 429:
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    default:
        return status >= 500 ? GRPC_STATUS_UNAVAILABLE : GRPC_STATUS_UNKNOWN;
    }
}

/* The server's message: OpenAI's {"error": {"message"}}, {"error": "..."}, {"message"} or {"detail"} (FastAPI),
 * else the start of the body; control characters become spaces. */
void jn__oai_upstream_message(const char *body, size_t len, char *out, size_t n)
{
    json_t *root = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *e = json_object_get(root, "error");
    const char *m = json_string_value(json_object_get(e, "message"));
    if (!m)
        m = json_string_value(e);
    if (!m)
        m = json_string_value(json_object_get(root, "message"));
    if (!m)
        m = json_string_value(json_object_get(root, "detail"));
    if (m)
        snprintf(out, n, "%s", m);
    else
        snprintf(out, n, "%.*s", (int)(len > 300 ? 300 : len), body ? body : "");
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < ' ')
            *p = ' ';
    json_decref(root);
}

/* Replaces every occurrence of the key in msg by "***": a server may quote the key it was given ("Incorrect API key
 * provided: ..."), and the message goes to callers and logs. */
void jn__oai_scrub_key(char *msg, const char *key)
{
    size_t klen = key ? strlen(key) : 0;
    char *p;
    while (klen >= 3 && (p = strstr(msg, key)) != NULL) {
        memcpy(p, "***", 3);
        memmove(p + 3, p + klen, strlen(p + klen) + 1);
    }
}

int jn__oai_http_failure(const jn_endpoint *ep, const char *method, const char *url, long status,
                        int64_t retry_after_ms, const char *body, size_t len, jn_call_status *st)
{
    char msg[600];
    jn__oai_upstream_message(body, len, msg, sizeof msg);
    jn__oai_scrub_key(msg, ep->bearer);
    int code = grpc_code_of_http(status);
    jn_call_status_set(st, code, "%s %s answered HTTP %ld: \"%s\"", method, url, status, msg);
    if (status == 429)
        st->retry_after_ms = retry_after_ms > 0 ? retry_after_ms : 0;
    else if (status >= 500 && retry_after_ms >= 0)
        st->retry_after_ms = retry_after_ms;
    return code;
}

int jn__oai_transport_failure(int rc, const jn_err *err, const char *method, const char *url, jn_call_status *st)
{
    switch (rc) {
    case JN_ECANCELLED:
        return jn_call_status_set(st, GRPC_STATUS_CANCELLED, "the call was cancelled");
    case JN_EDEADLINE:
        return jn_call_status_set(st, GRPC_STATUS_DEADLINE_EXCEEDED, "%s %s: %s", method, url, err->msg);
    case JN_ENOMEM:
        return jn_call_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "%s", err->msg);
    case JN_ERANGE:
        return jn_call_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "%s %s: %s", method, url, err->msg);
    default:
        return jn_call_status_set(st, GRPC_STATUS_UNAVAILABLE, "%s %s: %s", method, url, err->msg);
    }
}

/* ---- one whole exchange ---- */

/* Sends the request and reads the whole answer: 0 with a 2xx answer in *a (free a->data), or the grpc status. */
void jn__oai_trace_headers(jn_http_client_request *r, const jn_trace_ctx *trace, char tp[JN_TRACEPARENT_LEN + 1])
{
    if (!trace || !trace->valid)
        return;
    jn_traceparent_format(trace, tp);
    r->traceparent = tp;
    r->tracestate = trace->tracestate;
}

int jn__oai_exchange(jn_endpoint *ep, const char *method, const char *path, const char *body, size_t body_len,
                     int64_t deadline_ns, const atomic_int *cancelled, const jn_trace_ctx *trace, jn__oai_answer *a,
                     jn_call_status *st)
{
    char url[512];
    jn__oai_url(url, sizeof url, ep, path);
    memset(a, 0, sizeof *a);
    jn_http_client_request r = {.method = method, .url = url, .body = body, .body_len = body_len, .bearer = ep->bearer,
                         .deadline_ns = deadline_ns, .max_body = JN_OAI_MAX_ANSWER};
    char tp[JN_TRACEPARENT_LEN + 1];
    jn__oai_trace_headers(&r, trace, tp);
    jn_err err;
    jn_err_clear(&err);
    jn_http_transfer *t = jn_http_start(ep->http, &r, &err);
    if (!t)
        return jn__oai_transport_failure(err.code, &err, method, url, st);
    int rc;
    while ((rc = jn_http_next(t, cancelled, &a->data, &a->len, &a->cap, &err)) == JN_HTTP_DATA)
        ;
    int code = 0;
    if (rc != JN_HTTP_END) {
        code = jn__oai_transport_failure(rc, &err, method, url, st);
    } else {
        long status = jn_http_status(t);
        if (status < 200 || status > 299)
            code = jn__oai_http_failure(ep, method, url, status, jn_http_retry_after_ms(t), a->data, a->len, st);
    }
    jn_http_close(t);
    if (code) {
        free(a->data);
        memset(a, 0, sizeof *a);
    }
    return code;
}

json_t *jn__oai_parse_answer(const jn__oai_answer *a, const char *what, jn_call_status *st)
{
    json_error_t jerr;
    json_t *root = json_loadb(a->data ? a->data : "", a->len, 0, &jerr);
    if (!json_is_object(root)) {
        json_decref(root);
        jn_call_status_set(st, GRPC_STATUS_INTERNAL, "%s: the answer is not a JSON object (%s)", what,
                           root ? "another JSON value" : jerr.text);
        return NULL;
    }
    return root;
}

/* ---- models: registration and health ---- */

/* GET models: 0 when `model` is among the data[].id; NOT_FOUND naming what it serves otherwise. */
int jn__oai_model_listed(jn_endpoint *ep, const char *model, int64_t deadline_ns, jn_call_status *st)
{
    jn__oai_answer a;
    int code = jn__oai_exchange(ep, "GET", "/models", NULL, 0, deadline_ns, NULL, NULL, &a, st);
    if (code)
        return code;
    json_t *root = jn__oai_parse_answer(&a, "GET models", st);
    free(a.data);
    if (!root)
        return st->code;
    json_t *data = json_object_get(root, "data");
    char ids[300];
    size_t used = 0;
    ids[0] = '\0';
    bool found = false;
    for (size_t i = 0; i < json_array_size(data) && !found; i++) {
        const char *id = json_string_value(json_object_get(json_array_get(data, i), "id"));
        if (!id)
            continue;
        found = strcmp(id, model) == 0;
        if (used < sizeof ids)
            used += (size_t)snprintf(ids + used, sizeof ids - used, "%s'%s'", used ? ", " : "", id);
    }
    bool listed = json_is_array(data);
    json_decref(root);
    if (!listed)
        return jn_call_status_set(st, GRPC_STATUS_INTERNAL, "GET models: the answer has no 'data' list");
    if (!found)
        return jn_call_status_set(st, GRPC_STATUS_NOT_FOUND, "model '%s' is not served at %s (GET models lists %s)",
                                  model, ep->target, used ? ids : "none");
    return 0;
}

int jn__oai_check(jn_endpoint *ep, const char *model, const char *version, int64_t deadline_ns,
                        jn_call_status *st)
{
    (void)version;
    return jn__oai_model_listed(ep, model, deadline_ns, st);
}

