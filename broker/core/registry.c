#include "registry.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batcher.h"
#include "metrics.h"
#include "sequence.h"

struct jn_registry {
    pthread_rwlock_t lock;
    jn_model **models; /* sorted by engine name, then version (jn_version_cmp) */
    size_t count;
    size_t cap;
};

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

int jn_version_cmp(const char *a, const char *b)
{
    bool da = all_digits(a), db = all_digits(b);
    if (da && db) { /* numerically, without a width limit: "10" > "9" */
        while (*a == '0' && a[1])
            a++;
        while (*b == '0' && b[1])
            b++;
        size_t la = strlen(a), lb = strlen(b);
        if (la != lb)
            return la < lb ? -1 : 1;
        return strcmp(a, b);
    }
    if (da != db)
        return da ? -1 : 1; /* numbered versions sort before named ones */
    return strcmp(a, b);
}

jn_model *jn_model_ref(jn_model *m)
{
    if (m)
        atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return m;
}

jn_model_stats *jn_model_stats_of(jn_model *m)
{
    jn_model_stats *st = atomic_load_explicit(&m->stats, memory_order_acquire);
    if (!st) { /* two threads may both look it up: they find the same object */
        st = jn_metrics_model(m->engine->name);
        atomic_store_explicit(&m->stats, st, memory_order_release);
    }
    return st;
}

void jn_model_unref(jn_model *m)
{
    if (!m || atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
        return;
    jn_batcher_destroy(m->batcher);
    jn_engine_unref(m->engine);
    jn_infer_stats_destroy(&m->infer);
    free(m);
}

/* A new entry holding the engine (taken); NULL with err set when its config cannot serve it, its threads cannot
 * start or memory runs out (the engine is then dropped). */
static jn_model *model_create(jn_engine *engine, const jn_model_sched *sched, jn_err *err)
{
    static atomic_uint_least64_t serials = 1;
    /* A stateful model is served through a sequence engine over it (sequence.h); a reconfigured one is wrapped
     * afresh, or unwrapped when its new config has no "sequence". */
    jn_engine *inner = jn_sequence_inner(engine);
    if (inner) {
        jn_engine_ref(inner);
        jn_engine_unref(engine);
        engine = inner;
    }
    if (sched && jn_model_config_check(&sched->config, engine, err)) {
        jn_engine_unref(engine);
        return NULL;
    }
    if (sched && sched->config.sequence.enabled &&
        !(engine = jn_sequence_engine_wrap(engine, &sched->config.sequence, err)))
        return NULL;
    /* A pipeline with a stateful step: a sequence engine without state ports over it keeps one stream's calls in
     * arrival order, one at a time, so its steps see the stream's chunks in order (engine.h JN_ENGINE_STATEFUL). */
    if (!jn_sequence_table(engine) && (engine->flags & JN_ENGINE_STATEFUL)) {
        const jn_sequence_config order = {.enabled = true, .n_state = 0, .idle_timeout_ms = 60000,
                                          .max_sequences = 4096};
        if (!(engine = jn_sequence_engine_wrap(engine, &order, err)))
            return NULL;
    }
    jn_model *m = calloc(1, sizeof *m);
    if (!m) {
        jn_err_set(err, JN_ENOMEM, "out of memory registering a model");
        jn_engine_unref(engine);
        return NULL;
    }
    m->engine = engine;
    if (sched)
        m->sched = *sched;
    atomic_init(&m->stats, NULL);
    atomic_init(&m->queued, 0);
    jn_infer_stats_init(&m->infer);
    atomic_init(&m->refs, 1);
    m->serial = atomic_fetch_add_explicit(&serials, 1, memory_order_relaxed);
    if (jn_model_config_queued(&m->sched.config)) {
        m->batcher = jn_batcher_create(engine, &m->sched.config, &m->infer, err);
        if (!m->batcher) {
            jn_model_unref(m);
            return NULL;
        }
    }
    return m;
}

jn_registry *jn_registry_create(void)
{
    jn_registry *reg = calloc(1, sizeof *reg);
    if (!reg)
        return NULL;
    if (pthread_rwlock_init(&reg->lock, NULL) != 0) {
        free(reg);
        return NULL;
    }
    return reg;
}

void jn_registry_destroy(jn_registry *reg)
{
    if (!reg)
        return;
    for (size_t i = 0; i < reg->count; i++)
        jn_model_unref(reg->models[i]);
    free(reg->models);
    pthread_rwlock_destroy(&reg->lock);
    free(reg);
}

/* The entries of `name`: [*lo, *hi) (empty: *lo == *hi, the insertion point). Caller holds the lock. */
static void name_range(const jn_registry *reg, const char *name, size_t *lo_out, size_t *hi_out)
{
    size_t lo = 0, hi = reg->count;
    while (lo < hi) { /* the first entry whose name is >= name */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(reg->models[mid]->engine->name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = lo;
    while (end < reg->count && strcmp(reg->models[end]->engine->name, name) == 0)
        end++;
    *lo_out = lo;
    *hi_out = end;
}

/* Where version `version` of the range [lo, hi) is (*found) or would go. */
static size_t version_at(const jn_registry *reg, size_t lo, size_t hi, const char *version, bool *found)
{
    *found = false;
    for (size_t i = lo; i < hi; i++) {
        int c = jn_version_cmp(reg->models[i]->engine->version, version);
        if (c == 0)
            *found = true;
        if (c >= 0)
            return i;
    }
    return hi;
}

/* Room for one more entry. Caller holds the write lock. */
static int grow(jn_registry *reg, const char *name, jn_err *err)
{
    if (reg->count < reg->cap)
        return 0;
    size_t cap = reg->cap ? reg->cap * 2 : 16;
    jn_model **grown = realloc(reg->models, cap * sizeof *grown);
    if (!grown)
        return jn_err_set(err, JN_ENOMEM, "out of memory registering '%s'", name);
    reg->models = grown;
    reg->cap = cap;
    return 0;
}

static void insert_at(jn_registry *reg, size_t pos, jn_model *m)
{
    memmove(reg->models + pos + 1, reg->models + pos, (reg->count - pos) * sizeof *reg->models);
    reg->models[pos] = m;
    reg->count++;
}

int jn_registry_add(jn_registry *reg, jn_engine *engine, jn_err *err)
{
    return jn_registry_put(reg, engine, NULL, NULL, NULL, NULL, err);
}

/* Drops entries removed from the table (after the lock is released: a last reference may destroy a batcher). */
static void drop_all(jn_model **gone, size_t n)
{
    for (size_t i = 0; i < n; i++)
        jn_model_unref(gone[i]);
    free(gone);
}

int jn_registry_put(jn_registry *reg, jn_engine *engine, const jn_model_sched *sched, jn_registry_check_fn may_replace,
                    void *arg, bool *replaced, jn_err *err)
{
    if (replaced)
        *replaced = false;
    const char *name = engine->name;
    jn_model *m = model_create(engine, sched, err);
    if (!m)
        return err->code ? err->code : JN_ENOMEM;
    int rc = 0;
    jn_model **gone = NULL;
    size_t n_gone = 0;
    pthread_rwlock_wrlock(&reg->lock);
    size_t lo, hi;
    name_range(reg, name, &lo, &hi);
    if (hi > lo) { /* replaces every version of the name by this one entry */
        if (!may_replace) {
            rc = jn_err_set(err, JN_EEXIST, "model '%s' is already registered", name);
        } else if ((rc = may_replace(reg->models[hi - 1]->engine, arg, err)) == 0) {
            if (hi - lo > 1 && !(gone = malloc((hi - lo - 1) * sizeof *gone))) {
                rc = jn_err_set(err, JN_ENOMEM, "out of memory registering '%s'", name);
                goto out;
            }
            for (size_t i = lo + 1; i < hi; i++)
                gone[n_gone++] = reg->models[i];
            memmove(reg->models + lo + 1, reg->models + hi, (reg->count - hi) * sizeof *reg->models);
            reg->count -= hi - lo - 1;
            jn_model *old = reg->models[lo];
            reg->models[lo] = m;
            m = old; /* dropped below */
            if (replaced)
                *replaced = true;
        }
        goto out;
    }
    if ((rc = grow(reg, name, err)))
        goto out;
    insert_at(reg, lo, m);
    m = NULL;
out:
    pthread_rwlock_unlock(&reg->lock);
    jn_model_unref(m);
    drop_all(gone, n_gone);
    return rc;
}

/* Replaces version engine->version of the name when its engine is still `expected` (NULL: adds it, JN_EEXIST when
 * the version is there). */
static int put_version(jn_registry *reg, jn_engine *engine, const jn_model_sched *sched, const jn_engine *expected,
                       jn_err *err)
{
    const char *name = engine->name, *version = engine->version;
    jn_model *m = model_create(engine, sched, err);
    if (!m)
        return err->code ? err->code : JN_ENOMEM;
    int rc = 0;
    pthread_rwlock_wrlock(&reg->lock);
    size_t lo, hi;
    bool found;
    name_range(reg, name, &lo, &hi);
    size_t at = version_at(reg, lo, hi, version, &found);
    if (found && expected && reg->models[at]->engine == expected) {
        jn_model *old = reg->models[at];
        reg->models[at] = m;
        m = old;
    } else if (found || expected) {
        rc = expected ? jn_err_set(err, JN_EEXIST, "model '%s' version '%s' was replaced meanwhile", name, version)
                      : jn_err_set(err, JN_EEXIST, "model '%s' already has version '%s'", name, version);
    } else if (!(rc = grow(reg, name, err))) {
        insert_at(reg, at, m);
        m = NULL;
    }
    pthread_rwlock_unlock(&reg->lock);
    jn_model_unref(m);
    return rc;
}

int jn_registry_put_versions(jn_registry *reg, jn_engine **engines, const jn_model_sched *scheds, size_t n,
                             jn_registry_check_fn may_replace, void *arg, bool *replaced, jn_err *err)
{
    if (replaced)
        *replaced = false;
    jn_model **made = calloc(n ? n : 1, sizeof *made), **gone = NULL;
    int rc = made ? 0 : jn_err_set(err, JN_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) { /* every engine is taken, made into an entry or dropped */
        if (rc)
            jn_engine_unref(engines[i]);
        else if (!(made[i] = model_create(engines[i], scheds ? &scheds[i] : NULL, err)))
            rc = err->code ? err->code : JN_ENOMEM;
    }
    for (size_t i = 1; !rc && i < n; i++) /* one name; distinct versions, ascending */
        if (strcmp(made[i]->engine->name, made[0]->engine->name) ||
            jn_version_cmp(made[i - 1]->engine->version, made[i]->engine->version) >= 0)
            rc = jn_err_set(err, JN_EINVAL, "model '%s': versions given out of order or twice ('%s' after '%s')",
                            made[i]->engine->name, made[i]->engine->version, made[i - 1]->engine->version);
    size_t n_gone = 0;
    if (!rc && n) {
        const char *name = made[0]->engine->name;
        pthread_rwlock_wrlock(&reg->lock);
        size_t lo, hi;
        name_range(reg, name, &lo, &hi);
        if (hi > lo && !may_replace)
            rc = jn_err_set(err, JN_EEXIST, "model '%s' is already registered", name);
        else if (hi > lo)
            rc = may_replace(reg->models[hi - 1]->engine, arg, err);
        if (!rc && reg->count - (hi - lo) + n > reg->cap) {
            size_t cap = reg->count - (hi - lo) + n + 16;
            jn_model **grown = realloc(reg->models, cap * sizeof *grown);
            if (grown) {
                reg->models = grown;
                reg->cap = cap;
            } else {
                rc = jn_err_set(err, JN_ENOMEM, "out of memory registering '%s'", name);
            }
        }
        if (!rc && hi > lo && !(gone = malloc((hi - lo) * sizeof *gone)))
            rc = jn_err_set(err, JN_ENOMEM, "out of memory registering '%s'", name);
        if (!rc) { /* the old set out, the new one in: one step for every caller */
            for (size_t i = lo; i < hi; i++)
                gone[n_gone++] = reg->models[i];
            memmove(reg->models + lo + n, reg->models + hi, (reg->count - hi) * sizeof *reg->models);
            memcpy(reg->models + lo, made, n * sizeof *made);
            reg->count = reg->count - (hi - lo) + n;
            if (replaced)
                *replaced = hi > lo;
            memset(made, 0, n * sizeof *made);
        }
        pthread_rwlock_unlock(&reg->lock);
    }
    for (size_t i = 0; made && i < n; i++)
        jn_model_unref(made[i]);
    free(made);
    drop_all(gone, n_gone);
    return rc;
}

int jn_registry_add_version(jn_registry *reg, jn_engine *engine, const jn_model_sched *sched, jn_err *err)
{
    return put_version(reg, engine, sched, NULL, err);
}

int jn_registry_remove(jn_registry *reg, const char *name, jn_err *err)
{
    return jn_registry_remove_if(reg, name, NULL, NULL, err);
}

int jn_registry_remove_if(jn_registry *reg, const char *name, jn_registry_check_fn may_remove, void *arg,
                          jn_err *err)
{
    jn_model **gone = NULL;
    size_t n_gone = 0;
    int rc = 0;
    pthread_rwlock_wrlock(&reg->lock);
    size_t lo, hi;
    name_range(reg, name, &lo, &hi);
    if (hi > lo && (!may_remove || (rc = may_remove(reg->models[hi - 1]->engine, arg, err)) == 0)) {
        if (!(gone = malloc((hi - lo) * sizeof *gone))) {
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
        } else {
            for (size_t i = lo; i < hi; i++)
                gone[n_gone++] = reg->models[i];
            memmove(reg->models + lo, reg->models + hi, (reg->count - hi) * sizeof *reg->models);
            reg->count -= hi - lo;
        }
    }
    pthread_rwlock_unlock(&reg->lock);
    if (!rc && !n_gone)
        rc = jn_err_set(err, JN_ENOTFOUND, "model '%s' is not registered", name);
    drop_all(gone, n_gone);
    return rc;
}

int jn_registry_remove_version(jn_registry *reg, const char *name, const char *version, jn_err *err)
{
    jn_model *gone = NULL;
    pthread_rwlock_wrlock(&reg->lock);
    size_t lo, hi;
    bool found;
    name_range(reg, name, &lo, &hi);
    size_t at = version_at(reg, lo, hi, version, &found);
    if (found) {
        gone = reg->models[at];
        memmove(reg->models + at, reg->models + at + 1, (reg->count - at - 1) * sizeof *reg->models);
        reg->count--;
    }
    pthread_rwlock_unlock(&reg->lock);
    if (!gone)
        return jn_err_set(err, JN_ENOTFOUND, hi > lo ? "model '%s' has no version '%s'" : "model '%s' is not registered",
                          name, version);
    jn_model_unref(gone);
    return 0;
}

/* "'1', '2'" for the range. Caller holds the lock. */
static void version_list(const jn_registry *reg, size_t lo, size_t hi, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = lo; i < hi && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s'%s'", i > lo ? ", " : "", reg->models[i]->engine->version);
}

jn_model *jn_registry_resolve(jn_registry *reg, const char *name, const char *version, jn_err *err)
{
    jn_model *m = NULL;
    char available[256] = "";
    pthread_rwlock_rdlock(&reg->lock);
    size_t lo, hi;
    name_range(reg, name, &lo, &hi);
    if (hi > lo && version && *version) {
        bool found;
        size_t at = version_at(reg, lo, hi, version, &found);
        if (found)
            m = jn_model_ref(reg->models[at]);
        else
            version_list(reg, lo, hi, available, sizeof available);
    } else if (hi > lo) { /* the highest ready version; the highest when none is ready (its call says so) */
        size_t pick = hi - 1;
        for (size_t i = hi; i-- > lo;)
            if (atomic_load(&reg->models[i]->engine->ready)) {
                pick = i;
                break;
            }
        m = jn_model_ref(reg->models[pick]);
    }
    pthread_rwlock_unlock(&reg->lock);
    if (!m) {
        if (available[0])
            jn_err_set(err, JN_ENOTFOUND, "model '%s' has no version '%s' (available: %s)", name, version, available);
        else
            jn_err_set(err, JN_ENOTFOUND, "model '%s' is not registered", name);
    }
    return m;
}

long jn_registry_versions(jn_registry *reg, const char *name, char ***out)
{
    *out = NULL;
    long n = 0;
    bool oom = false;
    pthread_rwlock_rdlock(&reg->lock);
    size_t lo, hi;
    name_range(reg, name, &lo, &hi);
    if (hi > lo) {
        *out = calloc(hi - lo, sizeof **out);
        oom = !*out;
        for (size_t i = lo; i < hi && !oom; i++)
            oom = !((*out)[n++] = strdup(reg->models[i]->engine->version));
    }
    pthread_rwlock_unlock(&reg->lock);
    if (oom) {
        jn_registry_versions_free(*out, n);
        *out = NULL;
        return -1;
    }
    return n;
}

void jn_registry_versions_free(char **versions, long n)
{
    for (long i = 0; i < n; i++)
        free(versions[i]);
    free(versions);
}

jn_engine *jn_registry_get(jn_registry *reg, const char *name, const char *version, jn_err *err)
{
    jn_model *m = jn_registry_resolve(reg, name, version, err);
    if (!m)
        return NULL;
    jn_engine *e = jn_engine_ref(m->engine);
    jn_model_unref(m);
    return e;
}

long jn_registry_list(jn_registry *reg, jn_engine ***out)
{
    *out = NULL;
    pthread_rwlock_rdlock(&reg->lock);
    long n = (long)reg->count;
    if (n > 0) {
        *out = malloc((size_t)n * sizeof **out);
        if (*out) {
            for (long i = 0; i < n; i++)
                (*out)[i] = jn_engine_ref(reg->models[i]->engine);
        } else {
            n = -1;
        }
    }
    pthread_rwlock_unlock(&reg->lock);
    return n;
}

void jn_registry_list_free(jn_engine **list, long n)
{
    for (long i = 0; i < n; i++)
        jn_engine_unref(list[i]);
    free(list);
}

long jn_registry_list_models(jn_registry *reg, jn_model ***out)
{
    *out = NULL;
    pthread_rwlock_rdlock(&reg->lock);
    long n = (long)reg->count;
    if (n > 0) {
        *out = malloc((size_t)n * sizeof **out);
        if (*out) {
            for (long i = 0; i < n; i++)
                (*out)[i] = jn_model_ref(reg->models[i]);
        } else {
            n = -1;
        }
    }
    pthread_rwlock_unlock(&reg->lock);
    return n;
}

void jn_registry_list_models_free(jn_model **list, long n)
{
    for (long i = 0; i < n; i++)
        jn_model_unref(list[i]);
    free(list);
}

int jn_registry_configure(jn_registry *reg, const char *name, const jn_model_config *config, jn_err *err)
{
    jn_model **models;
    long n = jn_registry_list_models(reg, &models);
    if (n < 0)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    int rc = 0, found = 0;
    for (long i = 0; i < n && !rc; i++) { /* every version of the name */
        jn_model *cur = models[i];
        if (strcmp(cur->engine->name, name) != 0)
            continue;
        found++;
        jn_model_sched sched = cur->sched;
        sched.config = *config;
        rc = put_version(reg, jn_engine_ref(cur->engine), &sched, cur->engine, err);
        if (rc == JN_EEXIST)
            jn_err_set(err, JN_EEXIST, "model '%s' was replaced while it was being configured", name);
    }
    jn_registry_list_models_free(models, n);
    if (!rc && !found)
        rc = jn_err_set(err, JN_ENOTFOUND, "model '%s' is not registered", name);
    return rc;
}
