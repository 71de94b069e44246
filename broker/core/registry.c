#include "registry.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "batcher.h"
#include "metrics.h"

struct jn_registry {
    pthread_rwlock_t lock;
    jn_model **models; /* sorted by engine name */
    size_t count;
    size_t cap;
};

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
    if (sched && jn_model_config_check(&sched->config, engine, err)) {
        jn_engine_unref(engine);
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

/* Index of name, or -(insertion point) - 1. Caller holds the lock. */
static long search(const jn_registry *reg, const char *name)
{
    size_t lo = 0, hi = reg->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(reg->models[mid]->engine->name, name);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -(long)lo - 1;
}

int jn_registry_add(jn_registry *reg, jn_engine *engine, jn_err *err)
{
    return jn_registry_put(reg, engine, NULL, NULL, NULL, NULL, err);
}

int jn_registry_put(jn_registry *reg, jn_engine *engine, const jn_model_sched *sched, jn_registry_check_fn may_replace,
                    void *arg, bool *replaced, jn_err *err)
{
    if (replaced)
        *replaced = false;
    const char *name = engine->name;
    jn_model *m = model_create(engine, sched, err), *old = NULL;
    if (!m)
        return err->code ? err->code : JN_ENOMEM;
    int rc = 0;
    pthread_rwlock_wrlock(&reg->lock);
    long at = search(reg, name);
    if (at >= 0) {
        if (!may_replace) {
            rc = jn_err_set(err, JN_EEXIST, "model '%s' is already registered", name);
        } else if ((rc = may_replace(reg->models[at]->engine, arg, err)) == 0) {
            old = reg->models[at];
            reg->models[at] = m;
            m = NULL;
            if (replaced)
                *replaced = true;
        }
        goto out;
    }
    if (reg->count == reg->cap) {
        size_t cap = reg->cap ? reg->cap * 2 : 16;
        jn_model **grown = realloc(reg->models, cap * sizeof *grown);
        if (!grown) {
            rc = jn_err_set(err, JN_ENOMEM, "out of memory registering '%s'", name);
            goto out;
        }
        reg->models = grown;
        reg->cap = cap;
    }
    size_t pos = (size_t)(-at - 1);
    memmove(reg->models + pos + 1, reg->models + pos, (reg->count - pos) * sizeof *reg->models);
    reg->models[pos] = m;
    reg->count++;
    m = NULL;
out:
    pthread_rwlock_unlock(&reg->lock);
    jn_model_unref(m);
    jn_model_unref(old);
    return rc;
}

int jn_registry_remove(jn_registry *reg, const char *name, jn_err *err)
{
    return jn_registry_remove_if(reg, name, NULL, NULL, err);
}

int jn_registry_remove_if(jn_registry *reg, const char *name, jn_registry_check_fn may_remove, void *arg,
                          jn_err *err)
{
    jn_model *gone = NULL;
    int rc = 0;
    pthread_rwlock_wrlock(&reg->lock);
    long at = search(reg, name);
    if (at >= 0 && (!may_remove || (rc = may_remove(reg->models[at]->engine, arg, err)) == 0)) {
        gone = reg->models[at];
        memmove(reg->models + at, reg->models + at + 1, (reg->count - (size_t)at - 1) * sizeof *reg->models);
        reg->count--;
    }
    pthread_rwlock_unlock(&reg->lock);
    if (rc)
        return rc;
    if (!gone)
        return jn_err_set(err, JN_ENOTFOUND, "model '%s' is not registered", name);
    jn_model_unref(gone);
    return 0;
}

jn_model *jn_registry_resolve(jn_registry *reg, const char *name, const char *version, jn_err *err)
{
    jn_model *m = NULL;
    pthread_rwlock_rdlock(&reg->lock);
    long at = search(reg, name);
    if (at >= 0)
        m = jn_model_ref(reg->models[at]);
    pthread_rwlock_unlock(&reg->lock);
    if (!m) {
        jn_err_set(err, JN_ENOTFOUND, "model '%s' is not registered", name);
        return NULL;
    }
    if (version && *version && strcmp(version, m->engine->version) != 0) {
        jn_err_set(err, JN_ENOTFOUND, "model '%s' has no version '%s' (available: '%s')", name, version,
                   m->engine->version);
        jn_model_unref(m);
        return NULL;
    }
    return m;
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

static int replace_any(const jn_engine *existing, void *arg, jn_err *err)
{
    (void)err;
    return existing == arg ? 0 : JN_EEXIST; /* still the engine configured (not replaced meanwhile) */
}

int jn_registry_configure(jn_registry *reg, const char *name, const jn_model_config *config, jn_err *err)
{
    jn_model *cur = jn_registry_resolve(reg, name, NULL, err);
    if (!cur)
        return err->code;
    jn_model_sched sched = cur->sched;
    sched.config = *config;
    jn_engine *e = jn_engine_ref(cur->engine);
    jn_model_unref(cur);
    int rc = jn_registry_put(reg, e, &sched, replace_any, e, NULL, err);
    if (rc == JN_EEXIST)
        jn_err_set(err, JN_EEXIST, "model '%s' was replaced while it was being configured", name);
    return rc;
}
