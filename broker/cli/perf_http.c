/* perf_http.c — `junction perf`'s HTTP transport (perf.h): the KServe v2 REST protocol through libcurl.
 * GET /v2/models/{m}[/versions/{v}] for the inputs, GET .../stats for the statistics extension, and
 * POST .../infer with a JSON body (the binary tensor extension is not used) for the load.
 *
 * Each worker drives its share of the outstanding requests through one curl multi handle: one easy handle per slot,
 * so one keep-alive connection per outstanding request, reused from request to request (the multi handle's
 * connection cache). The JSON bodies are built once per data entry in prepare and only pointed at afterwards.
 *
 * Ownership: the bodies belong to the transport until unprepare; a conn and its easy handles to its worker.
 * curl_global_init/cleanup are perf.c's (once per process, before any thread).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "perf.h"

#define ERR_BODY_MAX 400

/* A growing string. */
typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_str(sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void sb_json_string(sbuf *b, const char *s, size_t n)
{
    sb_add(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c;
            sb_add(b, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            sb_add(b, esc, 6);
        } else {
            sb_add(b, (const char *)&c, 1);
        }
    }
    sb_add(b, "\"", 1);
}

char *jn__perf_http_path(const perf_opts *o, const char *tail)
{
    CURL *e = curl_easy_init();
    if (!e)
        return NULL;
    char *m = curl_easy_escape(e, o->model, 0);
    char *v = *o->version ? curl_easy_escape(e, o->version, 0) : NULL;
    sbuf b = {0};
    sb_str(&b, "/v2/models/");
    sb_str(&b, m ? m : "");
    if (v) {
        sb_str(&b, "/versions/");
        sb_str(&b, v);
    }
    sb_str(&b, tail);
    curl_free(m);
    curl_free(v);
    curl_easy_cleanup(e);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* http://HOST:PORT/v2/models/{model}[/versions/{v}] + tail. NULL on out of memory. */
static char *model_url(const perf_opts *o, const char *tail)
{
    char *path = jn__perf_http_path(o, tail);
    sbuf b = {0};
    sb_str(&b, "http://");
    sb_str(&b, o->url);
    sb_str(&b, path ? path : "");
    free(path);
    if (!path || b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
    sb_add(arg, p, size * n);
    return size * n;
}

/* One GET; 0 with *code and the body in b (caller frees b->p), or -1 with msg when nothing came back. */
static int http_get(CURL *e, const perf_opts *o, const char *url, long *code, sbuf *b, char *msg, size_t cap)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(e);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
    if (rc != CURLE_OK) {
        snprintf(msg, cap, "cannot reach a KServe v2 HTTP server at %s (%s)", o->url,
                 *errbuf ? errbuf : curl_easy_strerror(rc));
        return -1;
    }
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, code);
    return 0;
}

/* Metadata and statistics ------------------------------------------------------------------------------------------ */

static int http_metadata(const perf_opts *o, perf_model *m, char *msg, size_t cap)
{
    char *url = model_url(o, "");
    CURL *e = curl_easy_init();
    sbuf b = {0};
    long code = 0;
    int rc = -1;
    if (!url || !e) {
        snprintf(msg, cap, "out of memory");
        goto out;
    }
    if (http_get(e, o, url, &code, &b, msg, cap) != 0)
        goto out;
    if (code != 200) {
        snprintf(msg, cap, "model metadata of '%s' on %s: HTTP %ld: %.*s", o->model, o->url, code, ERR_BODY_MAX,
                 b.p ? b.p : "");
        goto out;
    }
    json_error_t je;
    json_t *root = json_loads(b.p ? b.p : "", 0, &je);
    json_t *inputs = json_object_get(root, "inputs");
    if (!json_is_array(inputs)) {
        snprintf(msg, cap, "model metadata of '%s' on %s: the answer has no \"inputs\" array", o->model, o->url);
        json_decref(root);
        goto out;
    }
    snprintf(m->name, sizeof m->name, "%s", o->model);
    const char *platform = json_string_value(json_object_get(root, "platform"));
    snprintf(m->platform, sizeof m->platform, "%s", platform ? platform : "");
    if (json_array_size(inputs) > PERF_MAX_INPUTS) {
        snprintf(msg, cap, "model '%s' has %zu inputs; perf handles at most %d", o->model, json_array_size(inputs),
                 PERF_MAX_INPUTS);
        json_decref(root);
        goto out;
    }
    m->n_inputs = (int)json_array_size(inputs);
    rc = 0;
    for (int i = 0; i < m->n_inputs && rc == 0; i++) {
        json_t *in = json_array_get(inputs, (size_t)i);
        const char *name = json_string_value(json_object_get(in, "name"));
        const char *dt = json_string_value(json_object_get(in, "datatype"));
        json_t *shape = json_object_get(in, "shape");
        if (!name || !dt || !json_is_array(shape) || json_array_size(shape) > JN_MAX_DIMS) {
            snprintf(msg, cap, "model metadata of '%s' on %s: inputs[%d] needs \"name\", \"datatype\" and "
                               "\"shape\" (at most %d dimensions)", o->model, o->url, i, JN_MAX_DIMS);
            rc = -1;
            break;
        }
        perf_input_meta *pm = &m->inputs[i];
        snprintf(pm->name, sizeof pm->name, "%s", name);
        snprintf(pm->datatype, sizeof pm->datatype, "%s", dt);
        pm->ndim = (int)json_array_size(shape);
        for (int d = 0; d < pm->ndim; d++)
            pm->shape[d] = json_integer_value(json_array_get(shape, (size_t)d));
    }
    json_decref(root);
out:
    free(b.p);
    free(url);
    if (e)
        curl_easy_cleanup(e);
    return rc;
}

static CURL *stats_easy; /* kept between windows: one keep-alive connection */

static void get_dur(perf_dur *d, json_t *is, const char *key)
{
    json_t *x = json_object_get(is, key);
    d->count += (uint64_t)json_integer_value(json_object_get(x, "count"));
    d->ns += (uint64_t)json_integer_value(json_object_get(x, "ns"));
}

static int http_stats(const perf_opts *o, perf_server_stats *s, char *msg, size_t cap)
{
    if (!stats_easy && !(stats_easy = curl_easy_init())) {
        snprintf(msg, cap, "out of memory");
        return -1;
    }
    char *url = model_url(o, "/stats");
    sbuf b = {0};
    long code = 0;
    int rc = -1;
    if (!url) {
        snprintf(msg, cap, "out of memory");
        return -1;
    }
    if (http_get(stats_easy, o, url, &code, &b, msg, cap) != 0)
        goto out;
    if (code == 404 || code == 405 || code == 501) {
        snprintf(msg, cap, "the server has no statistics extension (GET /v2/models/%s/stats: HTTP %ld)", o->model,
                 code);
        rc = 1;
        goto out;
    }
    json_t *root = code == 200 ? json_loads(b.p ? b.p : "", 0, NULL) : NULL;
    json_t *list = json_object_get(root, "model_stats");
    if (!json_is_array(list)) {
        snprintf(msg, cap, "GET /v2/models/%s/stats on %s: HTTP %ld without a \"model_stats\" array", o->model,
                 o->url, code);
        json_decref(root);
        goto out;
    }
    memset(s, 0, sizeof *s);
    size_t i;
    json_t *ms;
    json_array_foreach(list, i, ms)
    {
        const char *name = json_string_value(json_object_get(ms, "name"));
        if (name && strcmp(name, o->model) != 0)
            continue;
        s->inference_count += (uint64_t)json_integer_value(json_object_get(ms, "inference_count"));
        s->execution_count += (uint64_t)json_integer_value(json_object_get(ms, "execution_count"));
        json_t *is = json_object_get(ms, "inference_stats");
        get_dur(&s->success, is, "success");
        get_dur(&s->fail, is, "fail");
        get_dur(&s->queue, is, "queue");
        get_dur(&s->compute_input, is, "compute_input");
        get_dur(&s->compute_infer, is, "compute_infer");
        get_dur(&s->compute_output, is, "compute_output");
        get_dur(&s->cache_hit, is, "cache_hit");
        get_dur(&s->cache_miss, is, "cache_miss");
    }
    json_decref(root);
    rc = 0;
out:
    free(b.p);
    free(url);
    return rc;
}

/* Prepared requests ------------------------------------------------------------------------------------------------ */

typedef struct bodies {
    char *url;
    sbuf *body; /* one per data entry */
    size_t n;
    struct curl_slist *headers;
} bodies;

static void build_body(sbuf *b, const perf_entry *pe)
{
    char num[64];
    sb_str(b, "{\"inputs\":[");
    for (int i = 0; i < pe->n; i++) {
        const perf_tensor *t = &pe->t[i];
        sb_str(b, i ? ",{\"name\":" : "{\"name\":");
        sb_json_string(b, t->name, strlen(t->name));
        sb_str(b, ",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)t->shape[d]);
            sb_str(b, num);
        }
        sb_str(b, "],\"datatype\":\"");
        sb_str(b, jn_dtype_name(t->dtype));
        sb_str(b, "\",\"data\":[");
        for (size_t k = 0; k < t->count; k++) {
            if (k)
                sb_add(b, ",", 1);
            if (t->dtype == JN_DTYPE_BYTES) {
                sb_json_string(b, t->strs[k], t->lens[k]);
            } else {
                jn__perf_format_element(t, k, num, sizeof num);
                sb_str(b, num);
            }
        }
        sb_str(b, "]}");
    }
    sb_str(b, "]}");
}

char *jn__perf_http_body(const perf_entry *pe, size_t *len)
{
    sbuf b = {0};
    build_body(&b, pe);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.n;
    return b.p;
}

static void http_unprepare(perf_ctx *ctx)
{
    bodies *bs = ctx->tp_data;
    if (bs) {
        for (size_t e = 0; e < bs->n; e++)
            free(bs->body[e].p);
        free(bs->body);
        free(bs->url);
        curl_slist_free_all(bs->headers);
        free(bs);
        ctx->tp_data = NULL;
    }
    if (stats_easy) {
        curl_easy_cleanup(stats_easy);
        stats_easy = NULL;
    }
}

static int http_prepare(perf_ctx *ctx, char *msg, size_t cap)
{
    bodies *bs = calloc(1, sizeof *bs);
    if (!bs) {
        snprintf(msg, cap, "out of memory");
        return -1;
    }
    ctx->tp_data = bs;
    bs->url = model_url(ctx->o, "/infer");
    bs->body = calloc(ctx->data->n_entries, sizeof *bs->body);
    bs->headers = curl_slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *h = bs->headers ? curl_slist_append(bs->headers, "Expect:") : NULL; /* no 100-continue */
    if (!bs->url || !bs->body || !h) {
        snprintf(msg, cap, "out of memory");
        return -1;
    }
    bs->n = ctx->data->n_entries;
    for (size_t e = 0; e < bs->n; e++) {
        build_body(&bs->body[e], &ctx->data->entries[e]);
        if (bs->body[e].oom) {
            snprintf(msg, cap, "out of memory building the JSON body of data entry %zu", e);
            return -1;
        }
    }
    return 0;
}

/* Connections ------------------------------------------------------------------------------------------------------ */

typedef struct hslot {
    int index;
    CURL *easy;
    bool busy;
    char body[ERR_BODY_MAX + 1]; /* the start of the answer, for error messages */
    size_t body_len;
    char errbuf[CURL_ERROR_SIZE];
} hslot;

struct perf_conn {
    perf_ctx *ctx;
    CURLM *multi;
    hslot *slots;
    int n_slots;
};

static size_t keep_start(char *p, size_t size, size_t n, void *arg)
{
    hslot *s = arg;
    size_t len = size * n, room = ERR_BODY_MAX - s->body_len;
    size_t take = len < room ? len : room;
    memcpy(s->body + s->body_len, p, take);
    s->body_len += take;
    s->body[s->body_len] = '\0';
    return len;
}

static void http_conn_close(perf_conn *c)
{
    for (int i = 0; i < c->n_slots; i++) {
        hslot *s = &c->slots[i];
        if (s->easy) {
            if (s->busy)
                curl_multi_remove_handle(c->multi, s->easy);
            curl_easy_cleanup(s->easy);
        }
    }
    if (c->multi)
        curl_multi_cleanup(c->multi);
    free(c->slots);
    free(c);
}

static perf_conn *http_conn_open(perf_ctx *ctx, int slots, char *msg, size_t cap)
{
    bodies *bs = ctx->tp_data;
    perf_conn *c = calloc(1, sizeof *c);
    if (!c || !(c->slots = calloc((size_t)slots, sizeof *c->slots)) || !(c->multi = curl_multi_init())) {
        if (c)
            http_conn_close(c);
        snprintf(msg, cap, "out of memory");
        return NULL;
    }
    c->ctx = ctx;
    c->n_slots = slots;
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)slots);
    for (int i = 0; i < slots; i++) {
        hslot *s = &c->slots[i];
        s->index = i;
        if (!(s->easy = curl_easy_init())) {
            http_conn_close(c);
            snprintf(msg, cap, "out of memory");
            return NULL;
        }
        curl_easy_setopt(s->easy, CURLOPT_URL, bs->url);
        curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, bs->headers);
        curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, keep_start);
        curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
        curl_easy_setopt(s->easy, CURLOPT_ERRORBUFFER, s->errbuf);
        curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
        curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(s->easy, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, (long)ctx->o->timeout_ms);
        /* Per-request savings: no proxy lookup in the environment, no protocol negotiation. */
        curl_easy_setopt(s->easy, CURLOPT_PROXY, "");
        curl_easy_setopt(s->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    }
    return c;
}

static int http_conn_start(perf_conn *c, int slot, size_t entry, char *msg, size_t cap)
{
    bodies *bs = c->ctx->tp_data;
    hslot *s = &c->slots[slot];
    s->body_len = 0;
    s->body[0] = '\0';
    s->errbuf[0] = '\0';
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, bs->body[entry].p);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)bs->body[entry].n);
    CURLMcode mc = curl_multi_add_handle(c->multi, s->easy);
    if (mc != CURLM_OK) {
        snprintf(msg, cap, "curl: %s", curl_multi_strerror(mc));
        return -1;
    }
    s->busy = true;
    return 0;
}

static int harvest(perf_conn *c, perf_done_fn done, void *worker)
{
    int n = 0, left;
    CURLMsg *m;
    while ((m = curl_multi_info_read(c->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        hslot *s = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
        CURLcode rc = m->data.result;
        curl_multi_remove_handle(c->multi, s->easy);
        s->busy = false;
        n++;
        char msg[PERF_MSG];
        long code = 0;
        if (rc != CURLE_OK) {
            snprintf(msg, sizeof msg, "curl: %s", *s->errbuf ? s->errbuf : curl_easy_strerror(rc));
            done(worker, s->index, false, msg);
            continue;
        }
        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
        if (code == 200) {
            done(worker, s->index, true, NULL);
        } else {
            snprintf(msg, sizeof msg, "HTTP %ld: %s", code, s->body);
            done(worker, s->index, false, msg);
        }
    }
    return n;
}

static void http_conn_wait(perf_conn *c, int64_t until_ns, perf_done_fn done, void *worker)
{
    for (;;) {
        int running;
        curl_multi_perform(c->multi, &running);
        if (harvest(c, done, worker) > 0)
            return;
        int64_t left = until_ns - jn__perf_now_ns();
        if (left <= 0)
            return;
        int ms = (int)((left + 999999) / 1000000);
        curl_multi_poll(c->multi, NULL, 0, ms, NULL);
    }
}

const perf_transport jn__perf_http = {
    .name = "http",
    .metadata = http_metadata,
    .stats = http_stats,
    .prepare = http_prepare,
    .unprepare = http_unprepare,
    .conn_open = http_conn_open,
    .conn_start = http_conn_start,
    .conn_wait = http_conn_wait,
    .conn_close = http_conn_close,
};
