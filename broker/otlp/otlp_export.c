/* otlp_export.c — the OTLP/HTTP protobuf exporter thread (otlp_export.h). */
#include "otlp_export.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "trace.h"

typedef Opentelemetry__Proto__Common__V1__KeyValue kv_t;
typedef Opentelemetry__Proto__Common__V1__AnyValue any_t;
typedef Opentelemetry__Proto__Trace__V1__Span span_t;
typedef Opentelemetry__Proto__Trace__V1__Span__Link link_t;
typedef Opentelemetry__Proto__Trace__V1__Status status_t;

#define MAX_ATTRS 8
#define FINAL_FLUSH_MS 2000
/* The exporter thread's nice value (see export_main). */
#define JN_OTLP_NICE 10

/* One span's messages, filled from its record (which they point into). */
typedef struct span_pb {
    span_t span;
    kv_t kv[MAX_ATTRS];
    kv_t *kvp[MAX_ATTRS];
    any_t av[MAX_ATTRS];
    link_t links[JN_SPAN_MAX_LINKS];
    link_t *linkp[JN_SPAN_MAX_LINKS];
    status_t status;
} span_pb;

static struct exporter {
    pthread_t thread;
    bool started;
    atomic_bool stop;
    char *url;
    char *service_name;
    long timeout_ms;
    int64_t unix_offset_ns; /* realtime - monotonic, taken at start */
    CURL *curl;
    struct curl_slist *headers;
    span_pb *pbs;      /* JN_OTLP_BATCH, initialised once (only the fields that vary are set per span) */
    size_t *span_sizes; /* JN_OTLP_BATCH: each span's packed size, for its length prefix */
} ex;

char *jn_otlp_traces_url(const char *endpoint, jn_err *err)
{
    const char *rest = NULL;
    if (strncmp(endpoint, "http://", 7) == 0)
        rest = endpoint + 7;
    else if (strncmp(endpoint, "https://", 8) == 0)
        rest = endpoint + 8;
    if (!rest || !*rest || *rest == '/') {
        jn_err_set(err, JN_EINVAL, "--otlp-endpoint '%s': expected an http:// or https:// URL with a host",
                   endpoint);
        return NULL;
    }
    const char *path = strchr(rest, '/');
    bool no_path = !path || strcmp(path, "/") == 0;
    size_t n = strlen(endpoint);
    if (no_path && endpoint[n - 1] == '/')
        n--;
    char *url = malloc(n + sizeof "/v1/traces");
    if (!url) {
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    memcpy(url, endpoint, n);
    strcpy(url + n, no_path ? "/v1/traces" : "");
    return url;
}

/* ---- records into messages ---- */

static void attr_str(span_pb *p, size_t *n, const char *key, const char *value)
{
    if (!value || !*value)
        return;
    any_t *v = &p->av[*n];
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    v->string_value = (char *)value;
    p->kv[*n].key = (char *)key;
    (*n)++;
}

static void attr_int(span_pb *p, size_t *n, const char *key, int64_t value)
{
    if (value < 0)
        return;
    any_t *v = &p->av[*n];
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
    v->int_value = value;
    p->kv[*n].key = (char *)key;
    (*n)++;
}

/* The messages of one span slot, wired once: every KeyValue points at its AnyValue, every link and the status are
 * in place; span_fill then sets only what varies. */
static void span_pb_init(span_pb *p)
{
    opentelemetry__proto__trace__v1__span__init(&p->span);
    for (size_t i = 0; i < MAX_ATTRS; i++) {
        opentelemetry__proto__common__v1__any_value__init(&p->av[i]);
        opentelemetry__proto__common__v1__key_value__init(&p->kv[i]);
        p->kv[i].value = &p->av[i];
        p->kvp[i] = &p->kv[i];
    }
    for (size_t i = 0; i < JN_SPAN_MAX_LINKS; i++) {
        opentelemetry__proto__trace__v1__span__link__init(&p->links[i]);
        p->linkp[i] = &p->links[i];
    }
    opentelemetry__proto__trace__v1__status__init(&p->status);
    p->span.attributes = p->kvp;
    p->span.links = p->linkp;
    p->span.status = &p->status;
}

static void span_fill(span_pb *p, const jn_span_rec *r)
{
    span_t *s = &p->span;
    s->trace_id = (ProtobufCBinaryData){JN_TRACE_ID_LEN, (uint8_t *)r->trace_id};
    s->span_id = (ProtobufCBinaryData){JN_SPAN_ID_LEN, (uint8_t *)r->span_id};
    s->parent_span_id = r->has_parent ? (ProtobufCBinaryData){JN_SPAN_ID_LEN, (uint8_t *)r->parent_id}
                                      : (ProtobufCBinaryData){0, NULL};
    s->trace_state = (char *)r->tracestate;
    s->flags = r->flags;
    s->name = (char *)r->name;
    s->kind = (Opentelemetry__Proto__Trace__V1__Span__SpanKind)r->kind;
    s->start_time_unix_nano = (uint64_t)(r->start_ns + ex.unix_offset_ns);
    s->end_time_unix_nano = (uint64_t)(r->end_ns + ex.unix_offset_ns);
    size_t n = 0;
    attr_str(p, &n, "junction.model", r->model);
    attr_str(p, &n, "junction.model_version", r->version);
    attr_str(p, &n, "junction.door", r->door);
    attr_int(p, &n, "rpc.grpc.status_code", r->status);
    attr_int(p, &n, "junction.request.bytes", r->in_bytes);
    attr_int(p, &n, "junction.response.bytes", r->out_bytes);
    attr_int(p, &n, "junction.batch.requests", r->batch_size);
    attr_int(p, &n, "junction.batch.rows", r->rows);
    s->n_attributes = n;
    for (size_t i = 0; i < r->n_links; i++) {
        p->links[i].trace_id = (ProtobufCBinaryData){JN_TRACE_ID_LEN, (uint8_t *)r->links[i].trace_id};
        p->links[i].span_id = (ProtobufCBinaryData){JN_SPAN_ID_LEN, (uint8_t *)r->links[i].span_id};
    }
    s->n_links = r->n_links;
    s->dropped_links_count = r->dropped_links;
    bool failed = r->status > 0;
    p->status.code = failed ? OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR
                            : OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_UNSET;
    p->status.message = failed ? (char *)r->error : (char *)"";
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *arg)
{
    (void)ptr;
    (void)arg;
    return size * nmemb;
}

static size_t varint_len(size_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *put_varint(uint8_t *p, size_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* A length-delimited field: the tag byte (field numbers below 16), the length, then the bytes follow. */
static uint8_t *put_field(uint8_t *p, uint8_t field, size_t len)
{
    *p++ = (uint8_t)(field << 3 | 2);
    return put_varint(p, len);
}

/* One POST of n records (read in place from the ring).
 * Encoding: every Span is packed by protobuf-c on its own, and so are the enclosing ResourceSpans and ScopeSpans
 * without their repeated children; the children are then framed as the length-delimited fields they are
 * (ExportTraceServiceRequest.resource_spans = 1, ResourceSpans.scope_spans = 2, ScopeSpans.spans = 2). That is the
 * encoding protobuf-c writes for the whole tree (repeated fields concatenate; a decoder takes fields in any order),
 * without computing every nested message's size again at each level above it (measured: protobuf-c's share of the
 * server's CPU under 100 % sampling fell by half). */
static void post(const jn_span_rec *recs, size_t n, long timeout_ms)
{
    size_t spans_len = 0;
    for (size_t i = 0; i < n; i++) {
        span_fill(&ex.pbs[i], &recs[i]);
        ex.span_sizes[i] = opentelemetry__proto__trace__v1__span__get_packed_size(&ex.pbs[i].span);
        spans_len += 1 + varint_len(ex.span_sizes[i]) + ex.span_sizes[i];
    }
    Opentelemetry__Proto__Common__V1__KeyValue name_kv;
    Opentelemetry__Proto__Common__V1__AnyValue name_v;
    opentelemetry__proto__common__v1__any_value__init(&name_v);
    name_v.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    name_v.string_value = ex.service_name;
    opentelemetry__proto__common__v1__key_value__init(&name_kv);
    name_kv.key = "service.name";
    name_kv.value = &name_v;
    kv_t *res_attrs[1] = {&name_kv};
    Opentelemetry__Proto__Resource__V1__Resource res;
    opentelemetry__proto__resource__v1__resource__init(&res);
    res.n_attributes = 1;
    res.attributes = res_attrs;
    Opentelemetry__Proto__Common__V1__InstrumentationScope scope;
    opentelemetry__proto__common__v1__instrumentation_scope__init(&scope);
    scope.name = "junction";
    Opentelemetry__Proto__Trace__V1__ScopeSpans ss; /* its spans are framed below */
    opentelemetry__proto__trace__v1__scope_spans__init(&ss);
    ss.scope = &scope;
    Opentelemetry__Proto__Trace__V1__ResourceSpans rs; /* its scope_spans likewise */
    opentelemetry__proto__trace__v1__resource_spans__init(&rs);
    rs.resource = &res;

    size_t ss_head = opentelemetry__proto__trace__v1__scope_spans__get_packed_size(&ss);
    size_t ss_len = ss_head + spans_len;
    size_t rs_head = opentelemetry__proto__trace__v1__resource_spans__get_packed_size(&rs);
    size_t rs_len = rs_head + 1 + varint_len(ss_len) + ss_len;
    size_t len = 1 + varint_len(rs_len) + rs_len;
    uint8_t *body = malloc(len);
    if (!body) {
        jn_trace_count_failed(n);
        return;
    }
    uint8_t *p = put_field(body, 1, rs_len); /* ExportTraceServiceRequest.resource_spans */
    p += opentelemetry__proto__trace__v1__resource_spans__pack(&rs, p);
    p = put_field(p, 2, ss_len); /* ResourceSpans.scope_spans */
    p += opentelemetry__proto__trace__v1__scope_spans__pack(&ss, p);
    for (size_t i = 0; i < n; i++) {
        p = put_field(p, 2, ex.span_sizes[i]); /* ScopeSpans.spans */
        p += opentelemetry__proto__trace__v1__span__pack(&ex.pbs[i].span, p);
    }
    if ((size_t)(p - body) != len) { /* cannot happen: the sizes above are protobuf-c's */
        free(body);
        jn_trace_count_failed(n);
        return;
    }
    curl_easy_setopt(ex.curl, CURLOPT_POSTFIELDS, (const char *)body);
    curl_easy_setopt(ex.curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(ex.curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(ex.curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    CURLcode cc = curl_easy_perform(ex.curl);
    long status = 0;
    if (cc == CURLE_OK)
        curl_easy_getinfo(ex.curl, CURLINFO_RESPONSE_CODE, &status);
    free(body);
    if (cc == CURLE_OK && status >= 200 && status < 300)
        jn_trace_count_exported(n);
    else
        jn_trace_count_failed(n);
}

static void *export_main(void *arg)
{
    (void)arg;
    /* A background job: under full load the request path's threads come first (Linux nice is per thread). What the
     * exporter cannot send in time waits in the ring, and past its capacity is dropped and counted. */
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), JN_OTLP_NICE);
    while (!atomic_load(&ex.stop)) {
        jn_trace_ring_wait(JN_OTLP_BATCH, 1000000000);
        const jn_span_rec *recs;
        size_t n = jn_trace_ring_claim(&recs, JN_OTLP_BATCH);
        if (n)
            post(recs, n, ex.timeout_ms);
        jn_trace_ring_release();
    }
    /* The last spans, within a bound: exit is not held up by a slow collector. */
    int64_t until = jn_now_ns() + (int64_t)FINAL_FLUSH_MS * 1000000;
    for (;;) {
        int64_t left_ms = (until - jn_now_ns()) / 1000000;
        if (left_ms <= 0)
            break;
        const jn_span_rec *recs;
        size_t n = jn_trace_ring_claim(&recs, JN_OTLP_BATCH);
        if (n)
            post(recs, n, left_ms < ex.timeout_ms ? left_ms : ex.timeout_ms);
        jn_trace_ring_release();
        if (!n)
            break;
    }
    return NULL;
}

static void release(void)
{
    if (ex.curl)
        curl_easy_cleanup(ex.curl);
    curl_slist_free_all(ex.headers);
    free(ex.url);
    free(ex.service_name);
    free(ex.pbs);
    free(ex.span_sizes);
    memset(&ex, 0, sizeof ex);
}

int jn_otlp_start(const jn_otlp_options *opt, jn_err *err)
{
    memset(&ex, 0, sizeof ex);
    if (!(ex.url = jn_otlp_traces_url(opt->endpoint, err)))
        return err->code;
    ex.service_name = strdup(opt->service_name && *opt->service_name ? opt->service_name : "junction");
    ex.timeout_ms = opt->timeout_ms > 0 ? opt->timeout_ms : 2000;
    ex.pbs = malloc(JN_OTLP_BATCH * sizeof *ex.pbs);
    ex.span_sizes = malloc(JN_OTLP_BATCH * sizeof *ex.span_sizes);
    if (!ex.service_name || !ex.pbs || !ex.span_sizes) {
        release();
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < JN_OTLP_BATCH; i++)
        span_pb_init(&ex.pbs[i]);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    ex.curl = curl_easy_init();
    ex.headers = curl_slist_append(NULL, "Content-Type: application/x-protobuf");
    if (!ex.curl || !ex.headers) {
        release();
        return jn_err_set(err, JN_ENOMEM, "--otlp-endpoint: cannot set up the HTTP client (libcurl)");
    }
    curl_easy_setopt(ex.curl, CURLOPT_URL, ex.url);
    curl_easy_setopt(ex.curl, CURLOPT_HTTPHEADER, ex.headers);
    curl_easy_setopt(ex.curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(ex.curl, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(ex.curl, CURLOPT_POST, 1L);
    struct timespec rt, mt;
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_MONOTONIC, &mt);
    ex.unix_offset_ns = ((int64_t)rt.tv_sec - (int64_t)mt.tv_sec) * 1000000000 + (rt.tv_nsec - mt.tv_nsec);
    int rc = jn_trace_enable(opt->sample_ratio, opt->queue_spans);
    if (rc) {
        release();
        return jn_err_set(err, rc, "out of memory for the span queue (--trace-queue %zu)", opt->queue_spans);
    }
    atomic_init(&ex.stop, false);
    if (pthread_create(&ex.thread, NULL, export_main, NULL) != 0) {
        jn_trace_disable();
        release();
        return jn_err_set(err, JN_ERESOURCE, "cannot start the OTLP export thread");
    }
    ex.started = true;
    return 0;
}

void jn_otlp_stop(void)
{
    if (!ex.started)
        return;
    atomic_store(&ex.stop, true);
    jn_trace_ring_wake();
    pthread_join(ex.thread, NULL);
    jn_trace_disable();
    release();
}
