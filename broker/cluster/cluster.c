/* cluster.c — following the records in etcd (see cluster.h). */
#include "cluster.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "etcd.h"
#include "metrics.h"

enum { CALL_TIMEOUT_MS = 3000, BACKOFF_MIN_MS = 100, BACKOFF_MAX_MS = 2000 };

/* One record as this replica knows it. */
typedef struct entry {
    char *key; /* prefix + kind + "/" + name */
    char *kind;
    char *name;
    char *value;  /* JSON */
    int64_t mod;  /* etcd mod revision of the value */
    bool served;  /* applied to the registry */
} entry;

struct jn_cluster {
    jn_etcd *etcd;
    char *prefix;
    const jn_control *control;
    FILE *report;
    pthread_mutex_t mu; /* entries, revision, watch, synced */
    entry *ents;
    size_t n, cap;
    int64_t revision;
    bool synced; /* the last full read succeeded and the watch follows from it */
    bool outage_reported;
    jn_etcd_watch *watch; /* the watch being read, for stop */
    struct lease {
        char *key;
        char *value;
        int64_t id;
    } *leases; /* records this replica publishes with a lease (jn_cluster_publish_leased) */
    size_t n_leases, cap_leases;
    pthread_t thread;
    bool thread_started;
    atomic_bool stopping;
    pthread_cond_t wake; /* ends a backoff early on stop */
    /* /metrics: in step with etcd (the last full read succeeded and the watch is open), and the wall-clock second
     * of the last exchange that succeeded (a read, a watch message, a change, a lease call). */
    atomic_bool up;
    _Atomic int64_t last_contact_s;
    bool collecting; /* its collector is registered */
};

/* ---- entries ---- */

static void entry_free(entry *e)
{
    free(e->key);
    free(e->kind);
    free(e->name);
    free(e->value);
}

static entry *find(jn_cluster *cl, const char *key)
{
    for (size_t i = 0; i < cl->n; i++)
        if (strcmp(cl->ents[i].key, key) == 0)
            return &cl->ents[i];
    return NULL;
}

static void remove_entry(jn_cluster *cl, entry *e)
{
    size_t i = (size_t)(e - cl->ents);
    entry_free(e);
    memmove(&cl->ents[i], &cl->ents[i + 1], (cl->n - i - 1) * sizeof *cl->ents);
    cl->n--;
}

/* The entry for key (kind and name split from it), made if new. NULL when the key is not <prefix><kind>/<name>. */
static entry *entry_for(jn_cluster *cl, const char *key)
{
    entry *e = find(cl, key);
    if (e)
        return e;
    size_t pl = strlen(cl->prefix);
    const char *rest = key + pl, *slash = strlen(key) > pl ? strchr(rest, '/') : NULL;
    if (!slash || slash == rest || !slash[1])
        return NULL;
    if (cl->n == cl->cap) {
        size_t cap = cl->cap ? cl->cap * 2 : 16;
        entry *grown = realloc(cl->ents, cap * sizeof *grown);
        if (!grown)
            return NULL;
        cl->ents = grown;
        cl->cap = cap;
    }
    e = &cl->ents[cl->n];
    memset(e, 0, sizeof *e);
    e->key = strdup(key);
    e->kind = strndup(rest, (size_t)(slash - rest));
    e->name = strdup(slash + 1);
    if (!e->key || !e->kind || !e->name) {
        entry_free(e);
        return NULL;
    }
    cl->n++;
    return e;
}

static char *key_of(const jn_cluster *cl, const char *kind, const char *name)
{
    size_t n = strlen(cl->prefix) + strlen(kind) + strlen(name) + 2;
    char *k = malloc(n);
    if (k)
        snprintf(k, n, "%s%s/%s", cl->prefix, kind, name);
    return k;
}

/* ---- /metrics ---- */

static void contact(jn_cluster *cl)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    atomic_store_explicit(&cl->last_contact_s, (int64_t)now.tv_sec, memory_order_relaxed);
}

static void collect_metrics(void *arg, jn_metrics_text *t)
{
    jn_cluster *cl = arg;
    jn_metrics_text_family(t, "junction_cluster_etcd_up", "gauge",
                           "1 while this replica is in step with etcd (its last read succeeded and it follows the "
                           "changes); 0 while it is cut off (it serves what it has and refuses changes).");
    jn_metrics_text_sample(t, "junction_cluster_etcd_up", NULL, 0, atomic_load(&cl->up) ? 1 : 0);
    int64_t last = atomic_load_explicit(&cl->last_contact_s, memory_order_relaxed);
    jn_metrics_text_family(t, "junction_cluster_etcd_last_contact_timestamp_seconds", "gauge",
                           "When this replica last exchanged a message with etcd successfully, in seconds since the "
                           "Unix epoch (0 = never). A quiet watch sends nothing: read it together with "
                           "junction_cluster_etcd_up.");
    jn_metrics_text_sample(t, "junction_cluster_etcd_last_contact_timestamp_seconds", NULL, 0,
                           last > 0 ? (uint64_t)last : 0);
}

/* ---- applying what etcd holds ---- */

/* Serves e's value (value NULL: the record is gone, and so is e). Caller holds mu. */
static void apply(jn_cluster *cl, entry *e, const char *value, int64_t mod)
{
    jn_err err;
    jn_err_clear(&err);
    if (!value) {
        if (jn_control_apply_record(cl->control, e->kind, e->name, NULL, &err) && cl->report)
            fprintf(cl->report, "junction: cluster: %s '%s' deleted in etcd, but: %s\n", e->kind, e->name, err.msg);
        remove_entry(cl, e);
        return;
    }
    char *copy = strdup(value);
    if (!copy)
        return;
    free(e->value);
    e->value = copy;
    e->mod = mod;
    e->served = jn_control_apply_record(cl->control, e->kind, e->name, e->value, &err) == 0;
    if (!e->served && cl->report)
        fprintf(cl->report, "junction: cluster: %s '%s' (revision %lld) not served here yet: %s\n", e->kind, e->name,
                (long long)mod, err.msg);
}

/* Records that could not be served (one needs another) get another try after changes. Caller holds mu. */
static void retry_unserved(jn_cluster *cl)
{
    for (bool progress = true; progress;) {
        progress = false;
        for (size_t i = 0; i < cl->n; i++) {
            entry *e = &cl->ents[i];
            if (e->served || !e->value)
                continue;
            jn_err err;
            jn_err_clear(&err);
            if (jn_control_apply_record(cl->control, e->kind, e->name, e->value, &err) == 0) {
                e->served = progress = true;
                if (cl->report)
                    fprintf(cl->report, "junction: cluster: %s '%s' is served now\n", e->kind, e->name);
            }
        }
    }
}

/* Reads the whole prefix and serves the difference. */
static int sync_all(jn_cluster *cl, jn_err *err)
{
    jn_etcd_kv *kvs;
    size_t n;
    int64_t rev;
    int rc = jn_etcd_get_prefix(cl->etcd, cl->prefix, CALL_TIMEOUT_MS, &kvs, &n, &rev, err);
    if (rc)
        return rc;
    contact(cl);
    pthread_mutex_lock(&cl->mu);
    bool *seen = calloc(cl->n + n + 1, sizeof *seen);
    for (size_t i = 0; seen && i < n; i++) {
        entry *e = entry_for(cl, kvs[i].key);
        if (!e)
            continue;
        if (e->mod != kvs[i].mod_revision || !e->value)
            apply(cl, e, kvs[i].value, kvs[i].mod_revision);
        e = find(cl, kvs[i].key);
        if (e)
            seen[e - cl->ents] = true;
    }
    for (size_t i = cl->n; seen && i-- > 0;) /* backwards: removing keeps the indices of those before */
        if (!seen[i])
            apply(cl, &cl->ents[i], NULL, rev);
    if (seen)
        retry_unserved(cl);
    else
        rc = jn_err_set(err, JN_ENOMEM, "out of memory");
    cl->revision = rev;
    free(seen);
    pthread_mutex_unlock(&cl->mu);
    jn_etcd_kvs_free(kvs, n);
    return rc;
}

static void on_events(jn_cluster *cl, jn_etcd_event *ev, size_t n, int64_t rev)
{
    pthread_mutex_lock(&cl->mu);
    for (size_t i = 0; i < n; i++) {
        entry *e = ev[i].deleted ? find(cl, ev[i].key) : entry_for(cl, ev[i].key);
        if (!e || ev[i].mod_revision <= e->mod) /* unknown key, or a change this replica made itself */
            continue;
        apply(cl, e, ev[i].deleted ? NULL : ev[i].value, ev[i].mod_revision);
    }
    if (n)
        retry_unserved(cl);
    if (rev > cl->revision)
        cl->revision = rev;
    pthread_mutex_unlock(&cl->mu);
}

/* ---- the follower thread ---- */

static void sleep_ms(jn_cluster *cl, int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&cl->mu);
    if (!atomic_load(&cl->stopping))
        pthread_cond_timedwait(&cl->wake, &cl->mu, &until);
    pthread_mutex_unlock(&cl->mu);
}

static void report_outage(jn_cluster *cl, const jn_err *err)
{
    atomic_store(&cl->up, false);
    if (!cl->outage_reported && cl->report)
        fprintf(cl->report, "junction: cluster: %s; serving what this replica has, changes refused until it is back\n",
                err->msg);
    cl->outage_reported = true;
}

static void *follow(void *arg)
{
    jn_cluster *cl = arg;
    int backoff = BACKOFF_MIN_MS;
    while (!atomic_load(&cl->stopping)) {
        jn_err err;
        jn_err_clear(&err);
        if (!cl->synced) {
            if (sync_all(cl, &err)) {
                report_outage(cl, &err);
                sleep_ms(cl, backoff);
                backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
                continue;
            }
            if (cl->outage_reported && cl->report)
                fprintf(cl->report, "junction: cluster: in step with etcd at %s again (revision %lld, %zu records)\n",
                        jn_etcd_endpoints(cl->etcd), (long long)cl->revision, cl->n);
            cl->outage_reported = false;
            cl->synced = true;
            backoff = BACKOFF_MIN_MS;
        }
        pthread_mutex_lock(&cl->mu);
        int64_t from = cl->revision + 1;
        pthread_mutex_unlock(&cl->mu);
        jn_etcd_watch *w = jn_etcd_watch_prefix(cl->etcd, cl->prefix, from, &err);
        if (!w) {
            cl->synced = false;
            report_outage(cl, &err);
            sleep_ms(cl, backoff);
            continue;
        }
        pthread_mutex_lock(&cl->mu);
        cl->watch = w;
        bool stop = atomic_load(&cl->stopping);
        pthread_mutex_unlock(&cl->mu);
        atomic_store(&cl->up, true); /* read in full, and following from there */
        while (!stop) {
            jn_etcd_event *ev;
            size_t n;
            int64_t rev;
            if (jn_etcd_watch_next(w, &ev, &n, &rev, &err)) {
                cl->synced = false; /* read everything again: a delete may have been missed */
                if (err.code != JN_ECANCELLED)
                    report_outage(cl, &err);
                break;
            }
            contact(cl);
            on_events(cl, ev, n, rev);
            jn_etcd_events_free(ev, n);
            stop = atomic_load(&cl->stopping);
        }
        pthread_mutex_lock(&cl->mu);
        cl->watch = NULL;
        pthread_mutex_unlock(&cl->mu);
        jn_etcd_watch_free(w);
    }
    return NULL;
}

/* ---- the public side ---- */

jn_cluster *jn_cluster_start(const char *url, const char *prefix, const jn_control *control, FILE *report,
                             jn_err *err)
{
    if (!prefix)
        prefix = "/junction/";
    size_t pl = strlen(prefix);
    if (pl == 0 || pl > 200 || prefix[pl - 1] != '/') {
        jn_err_set(err, JN_EINVAL, "registry prefix '%s': must be 1..200 characters ending in '/'", prefix);
        return NULL;
    }
    jn_etcd *etcd = jn_etcd_open(url, err);
    if (!etcd)
        return NULL;
    jn_cluster *cl = calloc(1, sizeof *cl);
    if (!cl || !(cl->prefix = strdup(prefix))) {
        free(cl);
        jn_etcd_close(etcd);
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    cl->etcd = etcd;
    cl->control = control;
    cl->report = report;
    pthread_mutex_init(&cl->mu, NULL);
    pthread_cond_init(&cl->wake, NULL);
    jn_err first;
    jn_err_clear(&first);
    if (sync_all(cl, &first) == 0) {
        cl->synced = true;
        atomic_store(&cl->up, true); /* the watch starts next, on the thread */
        if (report)
            fprintf(report, "junction: cluster: %zu records from etcd at %s under '%s' (revision %lld)\n", cl->n,
                    jn_etcd_endpoints(etcd), prefix, (long long)cl->revision);
    } else {
        report_outage(cl, &first);
    }
    if (pthread_create(&cl->thread, NULL, follow, cl) != 0) {
        jn_cluster_stop(cl);
        jn_err_set(err, JN_ENOMEM, "cannot start the cluster thread");
        return NULL;
    }
    cl->thread_started = true;
    cl->collecting = jn_metrics_add_collector(collect_metrics, cl) == 0; /* else: no cluster series in /metrics */
    return cl;
}

size_t jn_cluster_served(jn_cluster *cl)
{
    pthread_mutex_lock(&cl->mu);
    size_t n = 0;
    for (size_t i = 0; i < cl->n; i++)
        n += cl->ents[i].served;
    pthread_mutex_unlock(&cl->mu);
    return n;
}

int jn_cluster_commit(void *store, const char *kind, const char *name, const char *value_json,
                      jn_state_apply_fn apply_fn, void *arg, jn_err *err)
{
    jn_cluster *cl = store;
    char *key = key_of(cl, kind, name);
    if (!key)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    pthread_mutex_lock(&cl->mu);
    entry *e = find(cl, key);
    int64_t expect = e ? e->mod : 0, rev = 0, now = 0;
    char *previous = e && e->value ? strdup(e->value) : NULL;
    bool changed = false;
    int rc = jn_etcd_put_if(cl->etcd, key, value_json, expect, 0, CALL_TIMEOUT_MS, &changed, &rev, &now, err);
    if (!rc)
        contact(cl); /* etcd answered (a refusal on the revision too) */
    if (rc) {
        if (err)
            jn_err_prefix(err, "%s '%s' not changed: the cluster registry is unreachable (this replica keeps serving "
                               "what it has)",
                          kind, name);
        rc = JN_EUNAVAIL;
        if (err)
            err->code = rc;
    } else if (!changed) {
        rc = jn_err_set(err, JN_EPRECOND,
                        "%s '%s' was changed by another replica (revision %lld; this replica had %lld): read it "
                        "again and retry",
                        kind, name, (long long)now, (long long)expect);
    } else if (apply_fn && (rc = apply_fn(arg, err)) != 0) {
        /* Refused here after etcd took it: put the previous value back. The entry keeps its old revision, so the
         * watch brings both changes and this replica ends where etcd ends. */
        bool undone = false;
        int64_t rev2, now2;
        jn_err ignored;
        jn_err_clear(&ignored);
        if ((jn_etcd_put_if(cl->etcd, key, previous, rev, 0, CALL_TIMEOUT_MS, &undone, &rev2, &now2, &ignored) ||
             !undone) &&
            cl->report)
            fprintf(cl->report, "junction: cluster: could not undo the refused change of %s '%s' in etcd\n", kind,
                    name);
    } else {
        e = value_json ? entry_for(cl, key) : find(cl, key);
        if (e && value_json) {
            char *copy = strdup(value_json);
            if (copy) {
                free(e->value);
                e->value = copy;
            }
            e->mod = rev;
            e->served = true;
        } else if (e) {
            remove_entry(cl, e);
        }
        if (rev > cl->revision)
            cl->revision = rev;
    }
    pthread_mutex_unlock(&cl->mu);
    free(previous);
    free(key);
    return rc;
}

int jn_cluster_publish_leased(void *store, const char *kind, const char *name, const char *value_json,
                              int64_t ttl_ms, jn_err *err)
{
    jn_cluster *cl = store;
    char *key = key_of(cl, kind, name);
    if (!key)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    pthread_mutex_lock(&cl->mu);
    struct lease *l = NULL;
    for (size_t i = 0; i < cl->n_leases; i++)
        if (strcmp(cl->leases[i].key, key) == 0)
            l = &cl->leases[i];
    int rc = 0;
    int64_t left = 0;
    /* A renewal: keep the lease alive; publish again only when the value changed or the lease is gone. */
    if (l && jn_etcd_lease_keepalive(cl->etcd, l->id, CALL_TIMEOUT_MS, &left, err) == 0 && left > 0 &&
        strcmp(l->value, value_json) == 0) {
        contact(cl);
        pthread_mutex_unlock(&cl->mu);
        free(key);
        return 0;
    }
    if (!l) {
        if (cl->n_leases == cl->cap_leases) {
            size_t cap = cl->cap_leases ? cl->cap_leases * 2 : 8;
            struct lease *grown = realloc(cl->leases, cap * sizeof *grown);
            if (!grown) {
                pthread_mutex_unlock(&cl->mu);
                free(key);
                return jn_err_set(err, JN_ENOMEM, "out of memory");
            }
            cl->leases = grown;
            cl->cap_leases = cap;
        }
        l = &cl->leases[cl->n_leases++];
        *l = (struct lease){strdup(key), NULL, 0};
    }
    int64_t id = 0, rev = 0;
    char *copy = strdup(value_json);
    if (!l->key || !copy)
        rc = jn_err_set(err, JN_ENOMEM, "out of memory");
    if (!rc)
        rc = jn_etcd_lease_grant(cl->etcd, (ttl_ms + 999) / 1000, CALL_TIMEOUT_MS, &id, err);
    if (!rc)
        rc = jn_etcd_put(cl->etcd, key, value_json, id, CALL_TIMEOUT_MS, &rev, err);
    if (!rc) {
        contact(cl);
        if (l->id) { /* the old lease (expired, or for an old value) goes; its key is ours again under the new one */
            jn_err ignored;
            jn_etcd_lease_revoke(cl->etcd, l->id, CALL_TIMEOUT_MS, &ignored);
        }
        free(l->value);
        l->value = copy;
        copy = NULL;
        l->id = id;
        entry *e = entry_for(cl, key); /* served here already (by the caller): the watch must not re-apply it */
        if (e) {
            char *v = strdup(value_json);
            if (v) {
                free(e->value);
                e->value = v;
            }
            e->mod = rev;
            e->served = true;
        }
        if (rev > cl->revision)
            cl->revision = rev;
    }
    free(copy);
    pthread_mutex_unlock(&cl->mu);
    free(key);
    return rc;
}

void jn_cluster_stop(jn_cluster *cl)
{
    if (!cl)
        return;
    if (cl->collecting)
        jn_metrics_remove_collector(collect_metrics, cl);
    pthread_mutex_lock(&cl->mu);
    atomic_store(&cl->stopping, true);
    if (cl->watch)
        jn_etcd_watch_cancel(cl->watch);
    pthread_cond_broadcast(&cl->wake);
    pthread_mutex_unlock(&cl->mu);
    if (cl->thread_started)
        pthread_join(cl->thread, NULL);
    for (size_t i = 0; i < cl->n; i++)
        entry_free(&cl->ents[i]);
    free(cl->ents);
    for (size_t i = 0; i < cl->n_leases; i++) {
        free(cl->leases[i].key);
        free(cl->leases[i].value);
    }
    free(cl->leases);
    free(cl->prefix);
    jn_etcd_close(cl->etcd);
    pthread_cond_destroy(&cl->wake);
    pthread_mutex_destroy(&cl->mu);
    free(cl);
}
