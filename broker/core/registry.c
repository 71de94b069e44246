#include "registry.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct jn_registry {
    pthread_rwlock_t lock;
    jn_engine **engines; /* sorted by name */
    size_t count;
    size_t cap;
};

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
        jn_engine_unref(reg->engines[i]);
    free(reg->engines);
    pthread_rwlock_destroy(&reg->lock);
    free(reg);
}

/* Index of name, or -(insertion point) - 1. Caller holds the lock. */
static long search(const jn_registry *reg, const char *name)
{
    size_t lo = 0, hi = reg->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(reg->engines[mid]->name, name);
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
    return jn_registry_put(reg, engine, NULL, NULL, err);
}

int jn_registry_put(jn_registry *reg, jn_engine *engine, jn_registry_check_fn may_replace, bool *replaced,
                    jn_err *err)
{
    int rc = 0;
    jn_engine *old = NULL;
    if (replaced)
        *replaced = false;
    pthread_rwlock_wrlock(&reg->lock);
    long at = search(reg, engine->name);
    if (at >= 0) {
        if (!may_replace) {
            rc = jn_err_set(err, JN_EEXIST, "model '%s' is already registered", engine->name);
        } else if ((rc = may_replace(reg->engines[at], err)) == 0) {
            old = reg->engines[at];
            reg->engines[at] = engine;
            engine = NULL;
            if (replaced)
                *replaced = true;
        }
        goto out;
    }
    if (reg->count == reg->cap) {
        size_t cap = reg->cap ? reg->cap * 2 : 16;
        jn_engine **grown = realloc(reg->engines, cap * sizeof *grown);
        if (!grown) {
            rc = jn_err_set(err, JN_ENOMEM, "out of memory registering '%s'", engine->name);
            goto out;
        }
        reg->engines = grown;
        reg->cap = cap;
    }
    size_t pos = (size_t)(-at - 1);
    memmove(reg->engines + pos + 1, reg->engines + pos, (reg->count - pos) * sizeof *reg->engines);
    reg->engines[pos] = engine;
    reg->count++;
    engine = NULL;
out:
    pthread_rwlock_unlock(&reg->lock);
    jn_engine_unref(engine);
    jn_engine_unref(old);
    return rc;
}

int jn_registry_remove(jn_registry *reg, const char *name, jn_err *err)
{
    return jn_registry_remove_if(reg, name, NULL, err);
}

int jn_registry_remove_if(jn_registry *reg, const char *name, jn_registry_check_fn may_remove, jn_err *err)
{
    jn_engine *gone = NULL;
    int rc = 0;
    pthread_rwlock_wrlock(&reg->lock);
    long at = search(reg, name);
    if (at >= 0 && (!may_remove || (rc = may_remove(reg->engines[at], err)) == 0)) {
        gone = reg->engines[at];
        memmove(reg->engines + at, reg->engines + at + 1, (reg->count - (size_t)at - 1) * sizeof *reg->engines);
        reg->count--;
    }
    pthread_rwlock_unlock(&reg->lock);
    if (rc)
        return rc;
    if (!gone)
        return jn_err_set(err, JN_ENOTFOUND, "model '%s' is not registered", name);
    jn_engine_unref(gone);
    return 0;
}

jn_engine *jn_registry_get(jn_registry *reg, const char *name, const char *version, jn_err *err)
{
    jn_engine *e = NULL;
    pthread_rwlock_rdlock(&reg->lock);
    long at = search(reg, name);
    if (at >= 0)
        e = jn_engine_ref(reg->engines[at]);
    pthread_rwlock_unlock(&reg->lock);
    if (!e) {
        jn_err_set(err, JN_ENOTFOUND, "model '%s' is not registered", name);
        return NULL;
    }
    if (version && *version && strcmp(version, e->version) != 0) {
        jn_err_set(err, JN_ENOTFOUND, "model '%s' has no version '%s' (available: '%s')", name, version,
                   e->version);
        jn_engine_unref(e);
        return NULL;
    }
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
                (*out)[i] = jn_engine_ref(reg->engines[i]);
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
