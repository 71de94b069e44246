#include "engine.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

jn_engine *jn_engine_create(const jn_engine_vtable *vt, const char *name, const char *version,
                            const char *description, void *ctx, jn_err *err)
{
    if (!vt || vt->abi_version < 1 || vt->abi_version > JN_ENGINE_ABI_VERSION || !vt->infer) {
        /* infer is the one required slot */
        jn_err_set(err, JN_EINVAL, "engine '%s': vtable ABI version %u is not 1 to %u or infer is missing",
                   name ? name : "", vt ? vt->abi_version : 0u, JN_ENGINE_ABI_VERSION);
        return NULL;
    }
    jn_engine *e = calloc(1, sizeof *e);
    if (!e)
        goto oom;
    e->vt = vt;
    atomic_init(&e->refs, 1);
    atomic_init(&e->ready, 1);
    e->ctx = ctx;
    jn_signature_init(&e->sig);
    e->name = strdup(name ? name : "");
    e->version = strdup(version ? version : "1");
    e->description = description ? strdup(description) : NULL;
    if (!e->name || !e->version || (description && !e->description)) {
        free(e->name);
        free(e->version);
        free(e->description);
        free(e);
        goto oom;
    }
    return e;
oom:
    jn_err_set(err, JN_ENOMEM, "out of memory creating engine");
    return NULL;
}

jn_engine *jn_engine_ref(jn_engine *e)
{
    if (e)
        atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
    return e;
}

void jn_engine_unref(jn_engine *e)
{
    if (!e || atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (e->vt->destroy)
        e->vt->destroy(e);
    jn_signature_free(&e->sig);
    free(e->name);
    free(e->version);
    free(e->description);
    free(e);
}

int64_t jn_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int jn_infer_ctx_check(const jn_infer_ctx *ctx, jn_err *err)
{
    if (ctx->cancelled && atomic_load_explicit(ctx->cancelled, memory_order_relaxed))
        return jn_err_set(err, JN_ECANCELLED, "model '%s': the call was cancelled", ctx->model);
    if (ctx->deadline_ns && jn_now_ns() >= ctx->deadline_ns)
        return jn_err_set(err, JN_EDEADLINE, "model '%s': deadline exceeded", ctx->model);
    return 0;
}

const jn_port *jn_engine_find_output(const jn_engine *e, const char *name)
{
    const jn_port *p = jn_signature_find_output(&e->sig, name);
    if (!p && e->vt->find_output)
        p = e->vt->find_output(e, name);
    return p;
}
