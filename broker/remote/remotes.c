/* remotes.c — the table of remote engines, leases, the health thread and --remotes files. */
#include "remotes.h"

#include "http_client.h"
#include "metrics.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How often the health thread wakes up: lease expiry is detected within this of its due time. */
#define TICK_MS 50
/* Threads registering engines (each blocks on a remote's Describe / ModelMetadata). */
#define REGISTRATION_THREADS 4
/* Threads running health checks (each blocks on one remote for up to its health_timeout_ms). */
#define CHECK_THREADS 4

typedef struct entry {
    jn_engine *engine; /* the manager's reference */
    char *name, *endpoint, *protocol, *model, *version;
    char **okeys, **ovals;
    size_t n_opts;
    bool leased;
    int64_t interval_ns, ttl_ns; /* leased only; guarded by mu */
    _Atomic int64_t last_beat_ns;
    atomic_int healthy;
    int64_t next_check_ns; /* guarded by mu */
    bool checking;         /* a check is queued or running; guarded by mu */
    char health_error[512]; /* guarded by mu */
    struct entry *next;
} entry;

struct jn_remotes {
    jn_registry *reg;
    jn_endpoints *endpoints;
    pthread_mutex_t mu; /* guards entries and the fields marked so */
    entry *entries;
    pthread_cond_t cv;
    bool stopping, running;
    pthread_t thread;
    jn_workpool *registrations;
    jn_workpool *checks;
};

static void entry_free(entry *en)
{
    if (!en)
        return;
    jn_engine_unref(en->engine);
    free(en->name);
    free(en->endpoint);
    free(en->protocol);
    free(en->model);
    free(en->version);
    for (size_t i = 0; i < en->n_opts; i++) {
        free(en->okeys[i]);
        free(en->ovals[i]);
    }
    free(en->okeys);
    free(en->ovals);
    free(en);
}

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

static entry *entry_new(const jn_remote_request *req, jn_engine *e, const char *model)
{
    entry *en = calloc(1, sizeof *en);
    if (!en)
        return NULL;
    en->name = dup_or_empty(req->name);
    en->endpoint = dup_or_empty(req->endpoint);
    en->protocol = dup_or_empty(req->protocol);
    en->model = dup_or_empty(model);
    en->version = dup_or_empty(req->version);
    en->okeys = calloc(req->n_options ? req->n_options : 1, sizeof *en->okeys);
    en->ovals = calloc(req->n_options ? req->n_options : 1, sizeof *en->ovals);
    bool oom = !en->name || !en->endpoint || !en->protocol || !en->model || !en->version || !en->okeys || !en->ovals;
    for (size_t i = 0; !oom && i < req->n_options; i++) {
        en->okeys[i] = strdup(req->option_keys[i]);
        en->ovals[i] = strdup(req->option_values[i]);
        en->n_opts = i + 1;
        oom = !en->okeys[i] || !en->ovals[i];
    }
    if (oom) {
        entry_free(en);
        return NULL;
    }
    en->engine = jn_engine_ref(e);
    atomic_init(&en->healthy, 1);
    atomic_init(&en->last_beat_ns, jn_now_ns());
    return en;
}

/* ---- validation ---- */

static const jn_remote_proto *proto_by_name(const char *name)
{
    if (name && strcmp(name, "kserve_v2") == 0)
        return &jn_remote_kserve_v2;
    if (name && strcmp(name, "native") == 0)
        return &jn_remote_native;
    return NULL;
}

static int check_name(const char *name, jn_err *err)
{
    if (!name || !*name)
        return jn_err_set(err, JN_EINVAL, "name is empty");
    if (strlen(name) > 200)
        return jn_err_set(err, JN_EINVAL, "name is longer than 200 characters");
    for (const char *p = name; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '/' || (unsigned char)*p == 0x7f)
            return jn_err_set(err, JN_EINVAL, "name '%s' contains a space, '/' or a control character", name);
    return 0;
}

static bool is_openai(const char *protocol)
{
    return protocol && strcmp(protocol, "openai") == 0;
}

/* The openai protocol object for the engine's kind (option "kind"). */
static const jn_remote_proto *openai_proto(jn_remote_kind kind)
{
    return kind == JN_REMOTE_KIND_EMBEDDINGS    ? &jn_remote_openai_embeddings
           : kind == JN_REMOTE_KIND_COMPLETIONS ? &jn_remote_openai_completions
                                                : &jn_remote_openai_chat;
}

static int build_spec(const jn_remote_request *req, jn_remote_spec *spec, jn_err *err)
{
    int rc = check_name(req->name, err);
    if (rc)
        return rc;
    bool openai = is_openai(req->protocol);
    spec->name = req->name;
    spec->endpoint = req->endpoint;
    spec->proto = openai ? &jn_remote_openai_chat : proto_by_name(req->protocol);
    if (!spec->proto)
        return jn_err_set(err, JN_EINVAL, "protocol '%s' is unknown (expected kserve_v2, native or openai)",
                          req->protocol ? req->protocol : "");
    if ((rc = openai ? jn_http_check_url(req->endpoint, err) : jn_endpoint_check_target(req->endpoint, err)) != 0)
        return rc;
    if (openai && (!req->model || !*req->model))
        return jn_err_set(err, JN_EINVAL, "model is missing (protocol openai: the model id on the server, as its "
                                          "GET /models lists it)");
    spec->model = req->model && *req->model ? req->model : req->name;
    spec->version = req->version ? req->version : "";
    jn_remote_options_default(&spec->opt);
    for (size_t i = 0; i < req->n_options; i++) {
        const char *key = req->option_keys[i];
        if (!openai && (strcmp(key, "api_key_file") == 0 || strcmp(key, "kind") == 0))
            return jn_err_set(err, JN_EINVAL, "option '%s' applies to protocol openai only", key);
        if ((rc = jn_remote_options_set(&spec->opt, key, req->option_values[i], err)) != 0)
            return rc;
    }
    if (openai)
        spec->proto = openai_proto(spec->opt.kind);
    return 0;
}

/* ---- registration ---- */

static entry *find_entry(jn_remotes *r, const char *name, entry ***link)
{
    for (entry **pp = &r->entries; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->name, name) == 0) {
            if (link)
                *link = pp;
            return *pp;
        }
    return NULL;
}

static int only_remote(const jn_engine *existing, void *arg, jn_err *err)
{
    return jn_engine_is_remote(existing) ? 0
                                         : jn_err_set(err, JN_EPRECOND, "model '%s' is not a remote engine",
                                                      existing->name);
}

static int register_entry(jn_remotes *r, const jn_remote_request *req, int64_t deadline_ns, bool leased,
                          int64_t interval_ms, int64_t ttl_ms, jn_engine **out, jn_err *err)
{
    if (out)
        *out = NULL;
    jn_remote_spec spec;
    int rc = build_spec(req, &spec, err);
    if (rc)
        return rc;
    jn_engine *existing = jn_registry_get(r->reg, spec.name, NULL, NULL);
    if (existing) {
        jn_engine_unref(existing);
        return jn_err_set(err, JN_EEXIST, "name '%s' is taken (a model or pipeline of that name is registered)",
                          spec.name);
    }
    jn_engine *e = jn_remote_engine_create(r->endpoints, &spec, deadline_ns, err);
    if (!e)
        return err->code ? err->code : JN_EINTERNAL;
    entry *en = entry_new(req, e, spec.model);
    if (!en) {
        jn_engine_unref(e);
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    en->leased = leased;
    en->interval_ns = interval_ms * 1000000;
    en->ttl_ns = ttl_ms * 1000000;
    en->next_check_ns = jn_now_ns() + spec.opt.health_interval_ms * 1000000;
    pthread_mutex_lock(&r->mu);
    if (find_entry(r, spec.name, NULL)) {
        pthread_mutex_unlock(&r->mu);
        entry_free(en);
        jn_engine_unref(e);
        return jn_err_set(err, JN_EEXIST, "name '%s' is taken (a remote engine of that name is registered)",
                          spec.name);
    }
    en->next = r->entries;
    r->entries = en;
    /* Under mu, so the entry and the registry agree for anyone who looks. Calls that cannot go out without
     * waiting (HTTP, streamed answers) run on the endpoint's own pool: a hung remote ties up only its threads. */
    jn_endpoint *ep = jn_remote_engine_endpoint(e);
    jn_model_sched sched = {.pool = ep->pool, .max_pending = (size_t)ep->opt.max_queue, .config = spec.opt.serving};
    rc = jn_registry_put(r->reg, jn_engine_ref(e), &sched, NULL, NULL, NULL, err);
    if (rc) {
        r->entries = en->next;
        pthread_mutex_unlock(&r->mu);
        entry_free(en);
        jn_engine_unref(e);
        if (rc == JN_EEXIST)
            jn_err_set(err, JN_EEXIST, "name '%s' is taken (a model or pipeline of that name is registered)",
                       spec.name);
        return rc;
    }
    pthread_mutex_unlock(&r->mu);
    if (out)
        *out = e;
    else
        jn_engine_unref(e);
    return 0;
}

int jn_remotes_register(jn_remotes *r, const jn_remote_request *req, int64_t deadline_ns, jn_engine **engine,
                        jn_err *err)
{
    return register_entry(r, req, deadline_ns, false, 0, 0, engine, err);
}

/* Unlinks and frees the entry (mu held by the caller, released here before the registry is touched). */
static void remove_locked(jn_remotes *r, entry **link)
{
    entry *en = *link;
    *link = en->next;
    jn_registry_remove_if(r->reg, en->name, only_remote, NULL, NULL);
    pthread_mutex_unlock(&r->mu);
    atomic_store(&en->engine->ready, 0); /* calls already holding it finish; it is gone for new ones */
    entry_free(en);
}

int jn_remotes_unregister(jn_remotes *r, const char *name, jn_err *err)
{
    if (!name || !*name)
        return jn_err_set(err, JN_EINVAL, "name is empty");
    pthread_mutex_lock(&r->mu);
    entry **link;
    if (!find_entry(r, name, &link)) {
        pthread_mutex_unlock(&r->mu);
        jn_engine *e = jn_registry_get(r->reg, name, NULL, NULL);
        if (!e)
            return jn_err_set(err, JN_ENOTFOUND, "no engine named '%s' is registered", name);
        jn_engine_unref(e);
        return jn_err_set(err, JN_EPRECOND,
                          "model '%s' is not a remote engine (only engines registered with RegisterEngine, "
                          "--remotes or Heartbeat can be unregistered)",
                          name);
    }
    remove_locked(r, link);
    return 0;
}

int jn_remotes_heartbeat(jn_remotes *r, const jn_remote_request *req, int64_t interval_ms, int64_t ttl_ms,
                         int64_t deadline_ns, bool *registered, jn_err *err)
{
    *registered = false;
    if (interval_ms < 1 || interval_ms > 3600000)
        return jn_err_set(err, JN_EINVAL, "interval_ms %lld is outside 1..3600000", (long long)interval_ms);
    if (ttl_ms < 2 * interval_ms || ttl_ms > 86400000)
        return jn_err_set(err, JN_EINVAL, "ttl_ms %lld must be at least 2 x interval_ms (%lld) and at most 86400000",
                          (long long)ttl_ms, (long long)(2 * interval_ms));
    int rc = check_name(req->name, err);
    if (rc)
        return rc;
    for (int round = 0; round < 2; round++) {
        pthread_mutex_lock(&r->mu);
        entry **link;
        entry *en = find_entry(r, req->name, &link);
        if (en && !en->leased) {
            pthread_mutex_unlock(&r->mu);
            return jn_err_set(err, JN_EEXIST, "name '%s' is taken by an engine registered without a lease",
                              req->name);
        }
        if (en && strcmp(en->endpoint, req->endpoint ? req->endpoint : "") == 0) {
            atomic_store(&en->last_beat_ns, jn_now_ns());
            en->interval_ns = interval_ms * 1000000;
            en->ttl_ns = ttl_ms * 1000000;
            pthread_mutex_unlock(&r->mu);
            return 0;
        }
        if (en) /* the engine came back on another endpoint: the old lease goes */
            remove_locked(r, link);
        else
            pthread_mutex_unlock(&r->mu);
        jn_err_clear(err);
        rc = register_entry(r, req, deadline_ns, true, interval_ms, ttl_ms, NULL, err);
        if (rc != JN_EEXIST) {
            *registered = rc == 0;
            return rc;
        }
        /* Another heartbeat of the same engine registered it meanwhile: renew that one. */
    }
    return rc;
}

/* ---- listing ---- */

void jn_remotes_infos_free(jn_remote_info *infos, long n)
{
    for (long i = 0; infos && i < n; i++) {
        jn_remote_info *in = &infos[i];
        free(in->name);
        free(in->endpoint);
        free(in->protocol);
        free(in->model);
        free(in->version);
        for (size_t k = 0; k < in->n_options; k++) {
            free(in->option_keys[k]);
            free(in->option_values[k]);
        }
        free(in->option_keys);
        free(in->option_values);
        free(in->health_error);
    }
    free(infos);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const jn_remote_info *)a)->name, ((const jn_remote_info *)b)->name);
}

long jn_remotes_list(jn_remotes *r, jn_remote_info **out)
{
    *out = NULL;
    pthread_mutex_lock(&r->mu);
    long n = 0;
    for (entry *en = r->entries; en; en = en->next)
        n++;
    jn_remote_info *infos = calloc(n ? (size_t)n : 1, sizeof *infos);
    bool oom = !infos;
    long k = 0;
    int64_t now = jn_now_ns();
    for (entry *en = r->entries; !oom && en; en = en->next, k++) {
        jn_remote_info *in = &infos[k];
        in->name = strdup(en->name);
        in->endpoint = strdup(en->endpoint);
        in->protocol = strdup(en->protocol);
        in->model = strdup(en->model);
        in->version = strdup(en->version);
        in->health_error = strdup(en->health_error);
        in->option_keys = calloc(en->n_opts ? en->n_opts : 1, sizeof *in->option_keys);
        in->option_values = calloc(en->n_opts ? en->n_opts : 1, sizeof *in->option_values);
        oom = !in->name || !in->endpoint || !in->protocol || !in->model || !in->version || !in->health_error ||
              !in->option_keys || !in->option_values;
        for (size_t i = 0; !oom && i < en->n_opts; i++) {
            in->option_keys[i] = strdup(en->okeys[i]);
            in->option_values[i] = strdup(en->ovals[i]);
            in->n_options = i + 1;
            oom = !in->option_keys[i] || !in->option_values[i];
        }
        in->ready = atomic_load(&en->engine->ready) != 0;
        in->leased = en->leased;
        in->since_heartbeat_ms = en->leased ? (now - atomic_load(&en->last_beat_ns)) / 1000000 : 0;
        in->breaker = jn_breaker_state_name(jn_breaker_get(&jn_remote_engine_endpoint(en->engine)->breaker,
                                                           &in->breaker_opened));
    }
    pthread_mutex_unlock(&r->mu);
    if (oom) {
        jn_remotes_infos_free(infos, infos ? n : 0); /* zeroed: unset fields are NULL */
        return -1;
    }
    qsort(infos, (size_t)n, sizeof *infos, by_name);
    *out = infos;
    return n;
}

/* ---- the health thread ---- */

/* Ready = the last check passed and, when leased, the last heartbeat is recent. mu held. */
static void update_ready(entry *en, int64_t now)
{
    bool ok = atomic_load(&en->healthy) != 0;
    if (en->leased && now - atomic_load(&en->last_beat_ns) > 2 * en->interval_ns)
        ok = false;
    atomic_store(&en->engine->ready, ok ? 1 : 0);
}

/* Removes expired leases and refreshes readiness. */
static void leases_pass(jn_remotes *r)
{
    int64_t now = jn_now_ns();
    pthread_mutex_lock(&r->mu);
    for (entry **pp = &r->entries; *pp;) {
        entry *en = *pp;
        if (en->leased && now - atomic_load(&en->last_beat_ns) > en->ttl_ns) {
            fprintf(stderr, "junction: remote engine '%s': no heartbeat for %lld ms, removed\n", en->name,
                    (long long)((now - atomic_load(&en->last_beat_ns)) / 1000000));
            remove_locked(r, pp); /* unlocks */
            pthread_mutex_lock(&r->mu);
            pp = &r->entries; /* the list may have changed meanwhile: start over */
            continue;
        }
        update_ready(en, now);
        pp = &en->next;
    }
    pthread_mutex_unlock(&r->mu);
}

/* One health check, on the checks pool: at most one per engine at a time, so a hung remote ties up one check
 * thread per engine for at most its health_timeout_ms, and neither lease expiry nor the other engines' checks wait
 * for it. */
typedef struct check_job {
    jn_remotes *r;
    jn_engine *engine; /* reference */
    char *name;
} check_job;

static void run_check(void *arg)
{
    check_job *j = arg;
    jn_remotes *r = j->r;
    jn_endpoint *ep = jn_remote_engine_endpoint(j->engine);
    jn_call_status st;
    int code = jn_remote_engine_check(j->engine, &st);
    jn_breaker_health(&ep->breaker, jn_now_ns(), code == 0);

    pthread_mutex_lock(&r->mu);
    entry *en = find_entry(r, j->name, NULL);
    if (en && en->engine == j->engine) {
        en->checking = false;
        bool was = atomic_exchange(&en->healthy, code == 0);
        if (code)
            snprintf(en->health_error, sizeof en->health_error, "%s: %s", jn_grpc_status_name(code), st.message);
        else
            en->health_error[0] = '\0';
        if (was != (code == 0))
            fprintf(stderr, "junction: remote engine '%s' at %s is %s%s\n", en->name, en->endpoint,
                    code ? "unhealthy: " : "healthy again", code ? en->health_error : "");
        update_ready(en, jn_now_ns());
    }
    pthread_mutex_unlock(&r->mu);
    jn_engine_unref(j->engine);
    free(j->name);
    free(j);
}

/* Hands the checks that are due to the checks pool. */
static void schedule_checks(jn_remotes *r)
{
    int64_t now = jn_now_ns();
    pthread_mutex_lock(&r->mu);
    for (entry *en = r->entries; en; en = en->next) {
        if (en->checking || en->next_check_ns > now)
            continue;
        check_job *j = calloc(1, sizeof *j);
        if (!j || !(j->name = strdup(en->name))) {
            free(j);
            break;
        }
        j->r = r;
        j->engine = jn_engine_ref(en->engine);
        if (jn_workpool_submit(r->checks, run_check, j) != 0) {
            jn_engine_unref(j->engine);
            free(j->name);
            free(j);
            break;
        }
        en->checking = true;
        en->next_check_ns = now + jn_remote_engine_endpoint(en->engine)->opt.health_interval_ms * 1000000;
    }
    pthread_mutex_unlock(&r->mu);
}

static void *health_main(void *arg)
{
    jn_remotes *r = arg;
    pthread_mutex_lock(&r->mu);
    while (!r->stopping) {
        pthread_mutex_unlock(&r->mu);
        leases_pass(r);
        schedule_checks(r);
        jn_endpoints_reap(r->endpoints);
        pthread_mutex_lock(&r->mu);
        if (r->stopping)
            break;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += TICK_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&r->cv, &r->mu, &until);
    }
    pthread_mutex_unlock(&r->mu);
    jn_remote_thread_release();
    return NULL;
}

/* ---- /metrics: per remote endpoint ---- */

typedef struct metric_pass {
    jn_metrics_text *t;
    int which; /* 0 calls, 1 breaker state, 2 breaker openings */
} metric_pass;

static void endpoint_metrics(jn_endpoint *ep, void *arg)
{
    metric_pass *m = arg;
    int64_t opened = 0;
    jn_breaker_state st = jn_breaker_get(&ep->breaker, &opened);
    if (m->which == 0) {
        const char *ok[2][2] = {{"endpoint", ep->target}, {"outcome", "success"}};
        const char *bad[2][2] = {{"endpoint", ep->target}, {"outcome", "failure"}};
        jn_metrics_text_sample(m->t, "junction_remote_calls_total", (const char *const (*)[2])ok, 2,
                               atomic_load_explicit(&ep->calls_ok, memory_order_relaxed));
        jn_metrics_text_sample(m->t, "junction_remote_calls_total", (const char *const (*)[2])bad, 2,
                               atomic_load_explicit(&ep->calls_failed, memory_order_relaxed));
    } else if (m->which == 1) {
        static const jn_breaker_state states[] = {JN_BREAKER_CLOSED, JN_BREAKER_OPEN, JN_BREAKER_HALF_OPEN};
        for (size_t i = 0; i < 3; i++) {
            const char *l[2][2] = {{"endpoint", ep->target}, {"state", jn_breaker_state_name(states[i])}};
            jn_metrics_text_sample(m->t, "junction_remote_breaker_state", (const char *const (*)[2])l, 2,
                                   st == states[i]);
        }
    } else {
        const char *l[1][2] = {{"endpoint", ep->target}};
        jn_metrics_text_sample(m->t, "junction_remote_breaker_opened_total", (const char *const (*)[2])l, 1,
                               (uint64_t)opened);
    }
}

static void collect_metrics(void *arg, jn_metrics_text *t)
{
    jn_remotes *r = arg;
    static const char *const families[3][3] = {
        {"junction_remote_calls_total", "counter", "Calls sent to a remote endpoint (each retry counts), by outcome."},
        {"junction_remote_breaker_state", "gauge", "The endpoint's circuit breaker: 1 for its current state."},
        {"junction_remote_breaker_opened_total", "counter", "Times the endpoint's circuit breaker opened."},
    };
    for (int i = 0; i < 3; i++) {
        jn_metrics_text_family(t, families[i][0], families[i][1], families[i][2]);
        metric_pass m = {t, i};
        jn_endpoints_each(r->endpoints, endpoint_metrics, &m);
    }
}

jn_remotes *jn_remotes_create(jn_registry *reg)
{
    jn_remotes *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->reg = reg;
    r->endpoints = jn_endpoints_create();
    if (!r->endpoints) {
        free(r);
        return NULL;
    }
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->registrations = jn_workpool_create(REGISTRATION_THREADS);
    r->checks = jn_workpool_create(CHECK_THREADS);
    if (!r->registrations || !r->checks || pthread_create(&r->thread, NULL, health_main, r) != 0) {
        jn_remotes_destroy(r);
        return NULL;
    }
    r->running = true;
    jn_metrics_add_collector(collect_metrics, r);
    return r;
}

jn_workpool *jn_remotes_pool(jn_remotes *r)
{
    return r->registrations;
}

void jn_remotes_stop(jn_remotes *r)
{
    if (!r)
        return;
    jn_workpool_destroy(r->registrations); /* finishes registrations already queued */
    r->registrations = NULL;
    if (r->running) {
        pthread_mutex_lock(&r->mu);
        r->stopping = true;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
        pthread_join(r->thread, NULL);
        r->running = false;
    }
    jn_workpool_destroy(r->checks); /* after the health thread: nothing schedules checks any more */
    r->checks = NULL;
}

void jn_remotes_destroy(jn_remotes *r)
{
    if (!r)
        return;
    jn_metrics_remove_collector(collect_metrics, r);
    jn_remotes_stop(r);
    entry *en = r->entries;
    while (en) {
        entry *next = en->next;
        entry_free(en);
        en = next;
    }
    r->entries = NULL;
    jn_endpoints_reap(r->endpoints);
    jn_endpoints_destroy(r->endpoints);
    jn_remote_mux_shutdown();
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}

/* ---- --remotes FILE ---- */

static const char *const entry_fields[] = {"name", "endpoint", "protocol", "model", "version", "options"};

/* Registers the engine one --remotes entry (or one state record) describes; *engine as jn_remotes_register. */
static int register_json_entry(jn_remotes *r, json_t *item, size_t index, int64_t deadline_ns, jn_engine **engine,
                          jn_err *err)
{
    if (!json_is_object(item))
        return jn_err_set(err, JN_EINVAL, "entry #%zu is not an object", index);
    const char *key;
    json_t *value;
    json_object_foreach(item, key, value) {
        bool known = false;
        for (size_t i = 0; i < sizeof entry_fields / sizeof entry_fields[0]; i++)
            known |= strcmp(key, entry_fields[i]) == 0;
        if (!known)
            return jn_err_set(err, JN_EINVAL,
                              "entry #%zu: unknown field '%s' (expected name, endpoint, protocol, model, version, "
                              "options)",
                              index, key);
    }
    const char *text[5] = {NULL, NULL, NULL, NULL, NULL};
    for (int i = 0; i < 5; i++) {
        json_t *v = json_object_get(item, entry_fields[i]);
        if (!v) {
            if (i < 3)
                return jn_err_set(err, JN_EINVAL, "entry #%zu: field '%s' is missing", index, entry_fields[i]);
            continue;
        }
        if (!json_is_string(v))
            return jn_err_set(err, JN_EINVAL, "entry #%zu: field '%s' is not a string", index, entry_fields[i]);
        text[i] = json_string_value(v);
    }
    json_t *opts = json_object_get(item, "options");
    if (opts && !json_is_object(opts))
        return jn_err_set(err, JN_EINVAL, "entry #%zu ('%s'): field 'options' is not an object", index, text[0]);
    size_t n = opts ? json_object_size(opts) : 0;
    const char **keys = calloc(n ? n : 1, sizeof *keys);
    const char **vals = calloc(n ? n : 1, sizeof *vals);
    char (*numbers)[32] = calloc(n ? n : 1, sizeof *numbers);
    char **dumped = calloc(n ? n : 1, sizeof *dumped); /* objects given as JSON (dynamic_batching) */
    int rc = 0;
    if (!keys || !vals || !numbers || !dumped)
        rc = jn_err_set(err, JN_ENOMEM, "out of memory");
    size_t k = 0;
    if (!rc && opts) {
        json_object_foreach(opts, key, value) {
            keys[k] = key;
            if (json_is_string(value)) {
                vals[k] = json_string_value(value);
            } else if (json_is_integer(value)) {
                snprintf(numbers[k], sizeof numbers[k], "%lld", (long long)json_integer_value(value));
                vals[k] = numbers[k];
            } else if (json_is_boolean(value)) {
                vals[k] = json_is_true(value) ? "true" : "false";
            } else if (json_is_object(value)) { /* the option's JSON text, as RegisterEngine carries it */
                if (!(dumped[k] = json_dumps(value, JSON_COMPACT))) {
                    rc = jn_err_set(err, JN_ENOMEM, "out of memory");
                    break;
                }
                vals[k] = dumped[k];
            } else {
                rc = jn_err_set(err, JN_EINVAL,
                                "entry #%zu ('%s'): option '%s' is not a string, an integer, a boolean or an object",
                                index, text[0], key);
                break;
            }
            k++;
        }
    }
    if (!rc) {
        jn_remote_request req = {text[0], text[1], text[2], text[3], text[4], keys, vals, k};
        rc = jn_remotes_register(r, &req, deadline_ns, engine, err);
        if (rc)
            jn_err_prefix(err, "entry #%zu ('%s')", index, text[0]);
    }
    for (size_t i = 0; dumped && i < n; i++)
        free(dumped[i]);
    free(dumped);
    free(keys);
    free(vals);
    free(numbers);
    return rc;
}

int jn_remotes_load_file(jn_remotes *r, const char *path, jn_err *err)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return jn_err_set(err, JN_EINVAL, "%s: line %d, column %d: %s", path, jerr.line, jerr.column, jerr.text);
    int rc = 0;
    size_t done = 0;
    if (!json_is_array(root)) {
        rc = jn_err_set(err, JN_EINVAL, "%s: expected a JSON list of remote engines", path);
    } else {
        for (; done < json_array_size(root); done++) {
            if ((rc = register_json_entry(r, json_array_get(root, done), done, 0, NULL, err)) != 0) {
                jn_err_prefix(err, "%s", path);
                break;
            }
        }
    }
    if (rc) /* all or nothing */
        for (size_t i = 0; i < done; i++) {
            json_t *name = json_object_get(json_array_get(root, i), "name");
            jn_remotes_unregister(r, json_string_value(name), NULL);
        }
    json_decref(root);
    return rc;
}

/* ---- registrations as JSON (state records) ---- */

char *jn_remote_request_json(const jn_remote_request *req)
{
    json_t *opts = json_object();
    for (size_t i = 0; opts && i < req->n_options; i++)
        if (json_object_set_new(opts, req->option_keys[i], json_string(req->option_values[i])))
            break;
    json_t *o = opts ? json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "name", req->name ? req->name : "", "endpoint",
                                 req->endpoint ? req->endpoint : "", "protocol", req->protocol ? req->protocol : "",
                                 "model", req->model ? req->model : "", "version", req->version ? req->version : "",
                                 "options", opts)
                     : NULL;
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    return text;
}

int jn_remotes_register_json(jn_remotes *r, const char *json_text, int64_t deadline_ns, jn_engine **engine,
                             jn_err *err)
{
    json_error_t jerr;
    json_t *item = json_loads(json_text, JSON_REJECT_DUPLICATES, &jerr);
    if (!item)
        return jn_err_set(err, JN_EINVAL, "remote engine record: %s", jerr.text);
    int rc = register_json_entry(r, item, 1, deadline_ns, engine, err);
    json_decref(item);
    return rc;
}

int jn_remotes_apply_record(void *remotes, const char *name, const char *value_json, jn_err *err)
{
    jn_remotes *r = remotes;
    jn_err ignored;
    jn_err_clear(&ignored);
    int rc = jn_remotes_unregister(r, name, value_json ? &ignored : err); /* a changed record replaces the engine */
    if (!value_json)
        return rc == JN_ENOTFOUND ? 0 : rc;
    return jn_remotes_register_json(r, value_json, 0, NULL, err);
}
