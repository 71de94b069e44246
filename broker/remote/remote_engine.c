/* remote_engine.c — the jn_engine of a remote model: deadlines, retries with jittered backoff, the breaker. */
#include "remote_engine.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct remote_engine {
    const jn_remote_proto *proto;
    jn_endpoint *ep;
    char *model;
    char *version;
    jn_remote_options opt;
} remote_engine;

static const jn_engine_vtable remote_vt_kserve;
static const jn_engine_vtable remote_vt_native;

bool jn_engine_is_remote(const jn_engine *e)
{
    return e && (e->vt == &remote_vt_kserve || e->vt == &remote_vt_native);
}

jn_endpoint *jn_remote_engine_endpoint(const jn_engine *e)
{
    return ((remote_engine *)e->ctx)->ep;
}

const char *jn_remote_engine_model(const jn_engine *e)
{
    return ((remote_engine *)e->ctx)->model;
}

const jn_remote_proto *jn_remote_engine_proto(const jn_engine *e)
{
    return ((remote_engine *)e->ctx)->proto;
}

/* ---- retries ---- */

/* A per-thread xorshift generator for the backoff jitter (no lock, no shared state). */
static uint64_t jitter_random(void)
{
    static _Thread_local uint64_t s;
    if (!s) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        s = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)(uintptr_t)&s ^ (uint64_t)pthread_self();
        if (!s)
            s = 0x9e3779b97f4a7c15ull;
    }
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
}

/* Sleeps up to ns, in slices, returning early when the caller goes away. */
static void backoff_sleep(int64_t ns, const atomic_int *cancelled)
{
    int64_t until = jn_now_ns() + ns;
    for (;;) {
        int64_t left = until - jn_now_ns();
        if (left <= 0 || (cancelled && atomic_load(cancelled)))
            return;
        if (left > 20000000)
            left = 20000000;
        struct timespec ts = {0, (long)left};
        nanosleep(&ts, NULL);
    }
}

/* What a call's outcome tells the breaker: the remote answered (whatever it said), it did not, or nothing. */
static jn_breaker_outcome classify(int code, const jn_infer_ctx *ctx)
{
    if (code == GRPC_STATUS_UNAVAILABLE || code == GRPC_STATUS_DEADLINE_EXCEEDED)
        return JN_BREAKER_FAILURE;
    if (code == GRPC_STATUS_CANCELLED && ctx->cancelled && atomic_load(ctx->cancelled))
        return JN_BREAKER_NEUTRAL;
    return JN_BREAKER_SUCCESS;
}

typedef struct stream_args {
    jn_emit_fn emit;
    void *emit_arg;
    size_t emitted;
} stream_args;

static int count_emit(void *arg, jn_tensor_list *partial, jn_err *err)
{
    stream_args *sa = arg;
    sa->emitted++;
    return sa->emit(sa->emit_arg, partial, err);
}

/* One call with retries and the breaker; stream = NULL for a unary call. */
static int call_remote(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                       jn_tensor_list *outputs, stream_args *stream, jn_err *err)
{
    remote_engine *re = self->ctx;
    jn_endpoint *ep = re->ep;
    int64_t now = jn_now_ns();
    int64_t deadline = now + re->opt.timeout_ms * 1000000;
    if (ctx->deadline_ns) {
        /* The caller's deadline, less a margin for the way back (a tenth of what is left, at most 10 ms), so the
         * caller reads this engine's DEADLINE_EXCEEDED (naming it) rather than running into its own. */
        int64_t margin = (ctx->deadline_ns - now) / 10;
        deadline = ctx->deadline_ns - (margin > 10000000 ? 10000000 : margin < 0 ? 0 : margin);
    }
    int64_t backoff = re->opt.backoff_ms * 1000000;
    jn_call_status st;
    st.code = 0;
    st.message[0] = '\0';
    int attempt = 0;
    for (;;) {
        attempt++;
        if (ctx->cancelled && atomic_load(ctx->cancelled))
            return jn_err_set(err, JN_ECANCELLED, "%s: the call was cancelled", self->name);
        bool probe;
        if (!jn_breaker_allow(&ep->breaker, jn_now_ns(), &probe)) {
            if (attempt > 1)
                break; /* report the failure that opened it */
            return jn_err_set(err, JN_EUNAVAIL,
                              "%s: circuit open: endpoint %s keeps failing; calls resume after a successful probe",
                              self->name, ep->target);
        }
        int code = stream ? re->proto->infer_stream(ep, re->model, re->version, ctx, inputs, deadline, count_emit,
                                                    stream, &st)
                          : re->proto->infer(ep, re->model, re->version, ctx, inputs, deadline, outputs, &st);
        jn_breaker_record(&ep->breaker, jn_now_ns(), classify(code, ctx), probe);
        atomic_fetch_add_explicit(code == 0 ? &ep->calls_ok : &ep->calls_failed, 1, memory_order_relaxed);
        if (code == 0)
            return 0;
        if (code != GRPC_STATUS_UNAVAILABLE || attempt >= re->opt.max_attempts || (stream && stream->emitted))
            break;
        int64_t wait = backoff / 2 + (int64_t)(jitter_random() % (uint64_t)(backoff / 2 + 1));
        if (jn_now_ns() + wait >= deadline)
            break;
        backoff_sleep(wait, ctx->cancelled);
        backoff *= 2;
        if (backoff > re->opt.backoff_max_ms * 1000000)
            backoff = re->opt.backoff_max_ms * 1000000;
    }
    int rc = jn_err_from_grpc_status(st.code);
    if (attempt > 1)
        return jn_err_set(err, rc, "%s: %s (after %d attempts)", self->name, st.message, attempt);
    return jn_err_set(err, rc, "%s: %s", self->name, st.message);
}

static int remote_infer(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                        jn_tensor_list *outputs, jn_err *err)
{
    return call_remote(self, ctx, inputs, outputs, NULL, err);
}

static int remote_infer_stream(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                               jn_emit_fn emit, void *emit_arg, jn_err *err)
{
    stream_args sa = {emit, emit_arg, 0};
    return call_remote(self, ctx, inputs, NULL, &sa, err);
}

static void remote_ctx_free(remote_engine *re)
{
    if (!re)
        return;
    jn_endpoint_unref(re->ep);
    free(re->model);
    free(re->version);
    free(re);
}

static void remote_destroy(jn_engine *self)
{
    remote_ctx_free(self->ctx);
}

static const jn_engine_vtable remote_vt_kserve = {
    .abi_version = JN_ENGINE_ABI_VERSION,
    .platform = "kserve_v2",
    .infer = remote_infer,
    .destroy = remote_destroy,
};

static const jn_engine_vtable remote_vt_native = {
    .abi_version = JN_ENGINE_ABI_VERSION,
    .platform = "junction_remote",
    .infer = remote_infer,
    .infer_stream = remote_infer_stream,
    .destroy = remote_destroy,
};

int jn_remote_engine_check(const jn_engine *e, jn_call_status *st)
{
    remote_engine *re = e->ctx;
    int64_t deadline = jn_now_ns() + re->ep->opt.health_timeout_ms * 1000000;
    return re->proto->check(re->ep, re->model, re->version, deadline, st);
}

jn_engine *jn_remote_engine_create(jn_endpoints *table, const jn_remote_spec *spec, int64_t deadline_ns,
                                   jn_err *err)
{
    const char *model = spec->model && *spec->model ? spec->model : spec->name;
    const char *version = spec->version ? spec->version : "";
    jn_endpoint *ep = jn_endpoints_open(table, spec->endpoint, &spec->opt, err);
    if (!ep)
        return NULL;
    remote_engine *re = calloc(1, sizeof *re);
    if (!re || !(re->model = strdup(model)) || !(re->version = strdup(version))) {
        if (re) {
            free(re->model);
            free(re);
        }
        jn_endpoint_unref(ep);
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    re->proto = spec->proto;
    re->ep = ep;
    re->opt = spec->opt;
    const jn_engine_vtable *vt = spec->proto == &jn_remote_native ? &remote_vt_native : &remote_vt_kserve;
    char description[600];
    snprintf(description, sizeof description, "remote %s model '%s'%s%s at %s", spec->proto->name, model,
             version[0] ? " version " : "", version, spec->endpoint);
    jn_engine *e = jn_engine_create(vt, spec->name, version[0] ? version : "1", description, re, err);
    if (!e) {
        remote_ctx_free(re);
        return NULL;
    }
    if (!deadline_ns)
        deadline_ns = jn_now_ns() + ep->opt.health_timeout_ms * 1000000;
    bool streams = false;
    jn_call_status st;
    if (spec->proto->describe(ep, model, version, deadline_ns, &e->sig, &streams, &st)) {
        jn_err_set(err, jn_err_from_grpc_status(st.code), "engine '%s': cannot describe model '%s' at %s: %s",
                   spec->name, model, spec->endpoint, st.message);
        jn_engine_unref(e);
        return NULL;
    }
    e->flags = streams && spec->proto->infer_stream ? JN_ENGINE_STREAMS : 0;
    e->pool = ep->pool;
    e->pool_max_pending = (size_t)ep->opt.max_queue;
    return e;
}
