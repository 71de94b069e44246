/* console.c — the web console's paths, embedded assets, live samples and error ring (console.h). The JSON
 * documents themselves are built in console_api.c. */
#include "console.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"

/* Scripts and styles from this origin only (no inline code, no eval); images from this origin, data: and blob:
 * (the try-it preview of a picked file); the API on this origin. */
const char jn_console_headers[] =
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "Referrer-Policy: no-referrer\r\n";

enum { N_SAMPLES = 120, N_ERRORS = 20, N_RATES = 256 };

typedef struct sample {
    double t; /* seconds, monotonic */
    uint64_t ok, failed;
} sample;

typedef struct noted_error {
    int64_t unix_ms;
    int status;
    char what[96];     /* "POST /v1/models/x:predict" */
    char message[200]; /* the answer's "error", or its start */
} noted_error;

typedef struct model_rate {
    char *name;
    double t;
    uint64_t count;
    double rate; /* < 0: not known yet */
} model_rate;

struct jn_console {
    jn_registry *reg;
    jn_console_remotes_fn remotes;
    void *remotes_arg;
    pthread_mutex_t mu;
    sample samples[N_SAMPLES]; /* mu: ring */
    size_t n_samples, next_sample;
    noted_error errors[N_ERRORS]; /* mu: ring */
    size_t n_errors, next_error;
    model_rate rates[N_RATES]; /* mu */
    size_t n_rates;
    char *last_eval; /* mu: the last evaluation's report (JSON text), or NULL */
    atomic_bool closing; /* the server began shutting down */
};

jn_console *jn_console_create(jn_registry *reg)
{
    jn_console *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->reg = reg;
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

void jn_console_destroy(jn_console *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_rates; i++)
        free(c->rates[i].name);
    free(c->last_eval);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

void jn_console_set_closing(jn_console *c)
{
    if (c)
        atomic_store(&c->closing, true);
}

void jn_console_set_remotes(jn_console *c, jn_console_remotes_fn fn, void *arg)
{
    c->remotes = fn;
    c->remotes_arg = arg;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- paths ---- */

static const char API[] = "/console/api/";
static const char ASSETS[] = "/console/assets/";

jn_console_kind jn_console_classify(const char *method, const char *path)
{
    if (path[0] != '/' || (path[1] != '\0' && path[1] != 'c'))
        return JN_CONSOLE_NONE; /* every inference path: one comparison */
    if (strcmp(path, "/") == 0 || strcmp(path, "/console") == 0 || strcmp(path, "/console/") == 0 ||
        strncmp(path, ASSETS, sizeof ASSETS - 1) == 0)
        return JN_CONSOLE_PAGE;
    if (strncmp(path, API, sizeof API - 1) == 0)
        return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ? JN_CONSOLE_API : JN_CONSOLE_POST;
    if (strncmp(path, "/console/", 9) == 0)
        return JN_CONSOLE_PAGE; /* a page of the app (/console/models, ...): the same index.html */
    return JN_CONSOLE_NONE;
}

static void reply_static(jn_rest_reply *reply, const jn_console_asset *a, bool cache)
{
    reply->status = 200;
    reply->content_type = a->content_type;
    reply->body = malloc(a->len ? a->len : 1);
    if (!reply->body) {
        jn_rest_reply_error(reply, 500, "out of memory");
        return;
    }
    memcpy(reply->body, a->data, a->len);
    reply->body_len = a->len;
    size_t n = sizeof jn_console_headers + 64;
    if ((reply->headers = malloc(n)))
        snprintf(reply->headers, n, "%sCache-Control: %s\r\n", jn_console_headers, cache ? "max-age=300" : "no-cache");
}

static const jn_console_asset *find_asset(const char *name)
{
    for (size_t i = 0; i < jn_console_n_assets; i++)
        if (strcmp(jn_console_assets[i].name, name) == 0)
            return &jn_console_assets[i];
    return NULL;
}

void jn_console_page(const char *path, jn_rest_reply *reply)
{
    const jn_console_asset *a;
    if (strncmp(path, ASSETS, sizeof ASSETS - 1) == 0) {
        a = find_asset(path + sizeof ASSETS - 1);
        if (!a || strcmp(a->name, "index.html") == 0) {
            jn_rest_reply_error(reply, 404, "no such console asset");
            return;
        }
        reply_static(reply, a, true);
        return;
    }
    if (!(a = find_asset("index.html"))) {
        jn_rest_reply_error(reply, 500, "the console was built without its page");
        return;
    }
    reply_static(reply, a, false);
}

/* ---- errors ---- */

void jn_console_note_error(jn_console *c, const char *method, const char *path, int status, const char *body,
                           size_t len)
{
    if (!c)
        return;
    noted_error e = {.status = status};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    e.unix_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    snprintf(e.what, sizeof e.what, "%.8s %.80s", method, path);
    /* The answers are {"error": "..."}: keep the message. */
    json_t *doc = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    const char *msg = json_string_value(json_object_get(doc, "error"));
    snprintf(e.message, sizeof e.message, "%s", msg ? msg : "");
    json_decref(doc);
    pthread_mutex_lock(&c->mu);
    c->errors[c->next_error] = e;
    c->next_error = (c->next_error + 1) % N_ERRORS;
    if (c->n_errors < N_ERRORS)
        c->n_errors++;
    pthread_mutex_unlock(&c->mu);
}

/* ---- overview ---- */

/* Every model's answered requests, summed. */
static void totals(jn_console *c, uint64_t *ok, uint64_t *failed, size_t *n_models, size_t *n_ready)
{
    *ok = *failed = 0;
    *n_models = *n_ready = 0;
    jn_engine **engines;
    long n = jn_registry_list(c->reg, &engines);
    for (long i = 0; i < n; i++) {
        jn_metrics_model_view v;
        if (jn_metrics_model_view_get(engines[i]->name, &v)) {
            *ok += v.ok;
            *failed += v.failed;
        }
        (*n_models)++;
        if (atomic_load(&engines[i]->ready))
            (*n_ready)++;
    }
    if (n > 0)
        jn_registry_list_free(engines, n);
    *failed += jn_metrics_unknown_total();
}

static json_t *overview(jn_console *c)
{
    uint64_t ok, failed;
    size_t n_models, n_ready;
    totals(c, &ok, &failed, &n_models, &n_ready);
    int64_t rss;
    double up;
    jn_metrics_process_view(&rss, &up);
    double t = now_s();
    json_t *series = json_array(), *errors = json_array();
    pthread_mutex_lock(&c->mu);
    size_t last = (c->next_sample + N_SAMPLES - 1) % N_SAMPLES;
    if (c->n_samples == 0 || t - c->samples[last].t >= 1.0) {
        c->samples[c->next_sample] = (sample){t, ok, failed};
        c->next_sample = (c->next_sample + 1) % N_SAMPLES;
        if (c->n_samples < N_SAMPLES)
            c->n_samples++;
    }
    /* Rates between consecutive samples, oldest first: [seconds ago, requests/s, errors/s]. */
    size_t first = (c->next_sample + N_SAMPLES - c->n_samples) % N_SAMPLES;
    for (size_t k = 1; series && k < c->n_samples; k++) {
        const sample *a = &c->samples[(first + k - 1) % N_SAMPLES], *b = &c->samples[(first + k) % N_SAMPLES];
        double dt = b->t - a->t;
        json_array_append_new(series, json_pack("[f, f, f]", b->t - t, (double)(b->ok + b->failed - a->ok - a->failed) / dt,
                                                (double)(b->failed - a->failed) / dt));
    }
    for (size_t k = 0; errors && k < c->n_errors; k++) { /* newest first */
        const noted_error *e = &c->errors[(c->next_error + N_ERRORS - 1 - k) % N_ERRORS];
        json_array_append_new(errors, json_pack("{s:I, s:i, s:o, s:o}", "unix_ms", (json_int_t)e->unix_ms, "status",
                                                e->status, "request", jn__json_text(e->what), "message",
                                                jn__json_text(e->message)));
    }
    pthread_mutex_unlock(&c->mu);
    /* live: answering; ready: every model ready (as /v2/health/ready, which also turns 503 on shutdown). */
    const char *health = atomic_load(&c->closing) ? "shutting down" : n_ready == n_models ? "ready" : "live";
    return json_pack("{s:s, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:s}", "health", health, "uptime_s", up,
                     "rss_bytes", (json_int_t)rss, "open_streams", (json_int_t)jn_metrics_open_streams(),
                     "requests_total", (json_int_t)(ok + failed), "errors_total", (json_int_t)failed, "models",
                     (json_int_t)n_models, "models_ready", (json_int_t)n_ready, "rates", series, "last_errors",
                     errors, "version", JUNCTION_VERSION);
}

/* Requests per second for one model since the previous poll at least a second ago (-1 the first time). */
static double model_rate_of(jn_console *c, const char *name, uint64_t count, double t)
{
    double rate = -1;
    pthread_mutex_lock(&c->mu);
    size_t i = 0;
    while (i < c->n_rates && strcmp(c->rates[i].name, name) != 0)
        i++;
    if (i == c->n_rates && i < N_RATES && (c->rates[i].name = strdup(name))) {
        c->rates[i] = (model_rate){c->rates[i].name, t, count, -1};
        c->n_rates++;
    } else if (i < c->n_rates) {
        model_rate *m = &c->rates[i];
        if (t - m->t >= 1.0) {
            m->rate = count >= m->count ? (double)(count - m->count) / (t - m->t) : 0;
            m->t = t;
            m->count = count;
        }
        rate = m->rate;
    }
    pthread_mutex_unlock(&c->mu);
    return rate;
}

static json_t *models(jn_console *c)
{
    jn_engine **engines;
    long n = jn_registry_list(c->reg, &engines);
    if (n < 0)
        return NULL;
    json_t *list = json_array();
    double t = now_s();
    for (long i = 0; list && i < n; i++) {
        jn_metrics_model_view v;
        jn_metrics_model_view_get(engines[i]->name, &v);
        double rate = model_rate_of(c, engines[i]->name, v.ok + v.failed, t);
        if (json_array_append_new(list, jn_console_model_json(engines[i], rate))) {
            json_decref(list);
            list = NULL;
        }
    }
    if (n > 0)
        jn_registry_list_free(engines, n);
    return list ? json_pack("{s:o}", "models", list) : NULL;
}

static int hex_digit(char ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

/* %XX escapes decoded into out (room for strlen(s) + 1); false for a bad escape, an encoded NUL or a '/'. */
static bool percent_decode(const char *s, char *out)
{
    for (; *s; s++) {
        if (*s == '/')
            return false;
        if (*s != '%') {
            *out++ = *s;
            continue;
        }
        int a = hex_digit(s[1]), b = a < 0 ? -1 : hex_digit(s[2]);
        if (a < 0 || b < 0 || (a == 0 && b == 0))
            return false;
        *out++ = (char)(a << 4 | b);
        s += 2;
    }
    *out = '\0';
    return true;
}

static void reply_doc(jn_rest_reply *reply, json_t *doc)
{
    jn_rest_reply_json(reply, 200, doc, 0);
}

void jn_console_api(jn_console *c, const char *method, const char *path, const char *query, const uint8_t *body,
                    size_t len, jn_rest_reply *reply)
{
    (void)query;
    const char *what = path + sizeof API - 1;
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (get && strcmp(what, "overview") == 0) {
        reply_doc(reply, overview(c));
    } else if (get && strcmp(what, "models") == 0) {
        reply_doc(reply, models(c));
    } else if (get && strcmp(what, "evaluation") == 0) {
        pthread_mutex_lock(&c->mu);
        json_t *last = c->last_eval ? json_loads(c->last_eval, 0, NULL) : json_null();
        pthread_mutex_unlock(&c->mu);
        reply_doc(reply, last ? json_pack("{s:o}", "report", last) : NULL);
    } else if (get && strcmp(what, "remotes") == 0) {
        json_t *list = c->remotes ? c->remotes(c->remotes_arg) : json_array();
        reply_doc(reply, list ? json_pack("{s:o, s:b}", "remotes", list, "attached", c->remotes != NULL) : NULL);
    } else if ((get && strncmp(what, "pipelines/", 10) == 0) || (!get && strncmp(what, "evaluate/", 9) == 0)) {
        const char *raw = strchr(what, '/') + 1;
        jn_err err;
        jn_err_clear(&err);
        char *name = malloc(strlen(raw) + 1);
        if (!name || !percent_decode(raw, name)) {
            jn_rest_reply_error(reply, name ? 400 : 500, name ? "the model name in the path has a malformed "
                                                              "percent-escape (or a '/')" : "out of memory");
            free(name);
            return;
        }
        if (!get) {
            jn_console_evaluate(c->reg, name, body, len, reply);
            free(name);
            char *copy = reply->status == 200 && reply->body ? strndup(reply->body, reply->body_len) : NULL;
            if (copy) {
                pthread_mutex_lock(&c->mu);
                free(c->last_eval);
                c->last_eval = copy;
                pthread_mutex_unlock(&c->mu);
            }
            goto headers;
        }
        jn_engine *e = jn_registry_get(c->reg, name, NULL, &err);
        free(name);
        if (!e) {
            jn_rest_reply_err(reply, &err);
            return;
        }
        json_t *doc = jn_console_pipeline_json(c->reg, e);
        jn_engine_unref(e);
        if (!doc)
            jn_rest_reply_error(reply, 404, "this model is not a pipeline");
        else
            reply_doc(reply, doc);
    } else {
        jn_rest_reply_error(reply, 404, "no such console endpoint (overview, models, pipelines/{name}, remotes, "
                                        "evaluation, evaluate/{model})");
        return;
    }
headers:
    if (reply->status == 200 && !reply->headers) {
        size_t n = sizeof jn_console_headers + 32;
        if ((reply->headers = malloc(n)))
            snprintf(reply->headers, n, "%sCache-Control: no-store\r\n", jn_console_headers);
    }
}
