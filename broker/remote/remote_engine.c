/* remote_engine.c — the jn_engine of a remote model: deadlines, retries with jittered backoff, the breaker. */
#include "remote_engine.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "trace.h"

typedef struct remote_engine {
    const jn_remote_proto *proto;
    jn_endpoint *ep;
    char *model;
    char *version;
    jn_remote_options opt;
    /* The stream its calls go on as messages (endpoint_mux.c): JN_RM_ENGINE_INFER_STREAM, JN_RM_V2_MODEL_STREAM_INFER
     * or JN_RM_COUNT for none (one unary call each). */
    jn_remote_method mux_stream;
} remote_engine;

static const jn_engine_vtable remote_vt_kserve;
static const jn_engine_vtable remote_vt_native;
static const jn_engine_vtable remote_vt_openai;

bool jn_engine_is_remote(const jn_engine *e)
{
    return e && (e->vt == &remote_vt_kserve || e->vt == &remote_vt_native || e->vt == &remote_vt_openai);
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

/* ---- tracing (core/trace.h) ----
 * A remote call is one CLIENT span, from its start to its outcome (retries included). Its context goes to the remote
 * as W3C `traceparent` (and the caller's `tracestate`, when it gave one): in the metadata of a unary call (every
 * attempt), and as request parameters of the same names on a message on a multiplexed stream (whose metadata belongs
 * to the whole stream, not to one request) or of a streamed call's request. A junction receiving the parameter takes it out of the request and continues the trace
 * (rpc/infer.c). */
typedef struct traced {
    jn_span span;
    char traceparent[JN_TRACEPARENT_LEN + 1]; /* "" = nothing to pass on */
    jn_infer_ctx ctx;  /* the caller's, with the span as trace (and the parameters below) */
    jn_params params;  /* the caller's parameters and `traceparent` */
    bool has_params;
} traced;

/* The context the call goes out with: ctx itself when there is nothing to pass on. `in_params`: the traceparent
 * travels in the request's parameters (a multiplexed or streamed call). */
static const jn_infer_ctx *trace_call_begin(traced *t, const jn_infer_ctx *ctx, bool in_params)
{
    t->has_params = false;
    t->traceparent[0] = '\0';
    jn_span_start(&t->span, ctx->trace);
    const jn_trace_ctx *out = jn_span_ctx(&t->span, ctx->trace);
    if (!out)
        return ctx;
    t->ctx = *ctx;
    t->ctx.trace = out;
    jn_traceparent_format(out, t->traceparent);
    if (!in_params)
        return &t->ctx;
    jn_params_init(&t->params);
    if (jn_params_copy(&t->params, ctx->params) || jn_params_set_string(&t->params, "traceparent", t->traceparent) ||
        (out->tracestate && jn_params_set_string(&t->params, "tracestate", out->tracestate))) {
        jn_params_clear(&t->params);
        return &t->ctx; /* out of memory: the call goes on, untraced downstream */
    }
    t->has_params = true;
    t->ctx.params = &t->params;
    return &t->ctx;
}

static int64_t list_bytes(const jn_tensor_list *l)
{
    int64_t n = 0;
    for (size_t i = 0; l && i < l->count; i++)
        n += (int64_t)l->items[i]->byte_size;
    return n;
}

static void trace_call_end(traced *t, const jn_engine *self, int rc, const jn_err *err, const jn_tensor_list *ins,
                           const jn_tensor_list *outs)
{
    if (t->span.recording) {
        const remote_engine *re = self->ctx;
        jn_span_attrs a = JN_SPAN_ATTRS_NONE;
        a.model = self->name;
        a.version = self->version;
        a.door = re->proto->name;
        a.status = jn_err_grpc_status(rc);
        a.error = rc && err ? err->msg : NULL;
        a.in_bytes = list_bytes(ins);
        a.out_bytes = outs ? list_bytes(outs) : -1;
        jn_span_end(&t->span, "remote", self->name, JN_SPAN_CLIENT, 0, &a);
        t->span.recording = false;
    }
    if (t->has_params)
        jn_params_clear(&t->params);
    t->has_params = false;
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

/* The attempts of one call: how many went out, the next retry's backoff, the deadline, the last outcome. */
typedef struct attempts {
    int made;
    int64_t backoff_ns;
    int64_t deadline_ns;
    jn_call_status st;
} attempts;

static void attempts_init(attempts *a, const remote_engine *re, const jn_infer_ctx *ctx)
{
    int64_t now = jn_now_ns();
    a->made = 0;
    a->backoff_ns = re->opt.backoff_ms * 1000000;
    a->deadline_ns = now + re->opt.timeout_ms * 1000000;
    if (ctx->deadline_ns) {
        /* The caller's deadline, less a margin for the way back (a tenth of what is left, at most 40 ms), so the
         * caller reads this engine's DEADLINE_EXCEEDED (naming it) rather than running into its own. 10 ms was too
         * little on a loaded 2-core machine (the answer's way back through the pump took longer). */
        int64_t margin = (ctx->deadline_ns - now) / 10;
        int64_t caller = ctx->deadline_ns - (margin > 40000000 ? 40000000 : margin < 0 ? 0 : margin);
        /* HTTP remotes (openai): timeout_ms bounds every call, even one whose caller would wait longer (a language
         * model that never stops must not hold a thread for the caller's whole deadline). */
        if (!re->proto->http || caller < a->deadline_ns)
            a->deadline_ns = caller;
    }
    a->st.code = 0;
    a->st.message[0] = '\0';
    a->st.retry_after_ms = -1;
}

/* An attempt's outcome, told to the breaker and the endpoint's counters. */
static void attempt_record(jn_endpoint *ep, int code, const jn_infer_ctx *ctx, bool probe)
{
    jn_breaker_record(&ep->breaker, jn_now_ns(), classify(code, ctx), probe);
    atomic_fetch_add_explicit(code == 0 ? &ep->calls_ok : &ep->calls_failed, 1, memory_order_relaxed);
}

/* After a failed attempt: may another one go out? Only for UNAVAILABLE, within max_attempts and the deadline; it
 * then waits the jittered backoff first (true), or it is over (false). */
static bool retry_wait(const remote_engine *re, attempts *a, const jn_infer_ctx *ctx)
{
    /* An HTTP remote's 429 asks to be retried too (st.retry_after_ms set), after its Retry-After if it gave one. */
    bool retryable = a->st.code == GRPC_STATUS_UNAVAILABLE ||
                     (a->st.code == GRPC_STATUS_RESOURCE_EXHAUSTED && a->st.retry_after_ms >= 0);
    if (!retryable || a->made >= re->opt.max_attempts)
        return false;
    int64_t half = a->backoff_ns / 2;
    int64_t wait = half + (int64_t)(jitter_random() % (uint64_t)(half + 1));
    if (a->st.retry_after_ms > 0 && a->st.retry_after_ms * 1000000 > wait)
        wait = a->st.retry_after_ms * 1000000;
    if (jn_now_ns() + wait >= a->deadline_ns)
        return false;
    backoff_sleep(wait, ctx->cancelled);
    a->backoff_ns *= 2;
    if (a->backoff_ns > re->opt.backoff_max_ms * 1000000)
        a->backoff_ns = re->opt.backoff_max_ms * 1000000;
    return true;
}

static int report_failure(const jn_engine *self, const attempts *a, jn_err *err)
{
    int rc = jn_err_from_grpc_status(a->st.code);
    if (a->made > 1)
        return jn_err_set(err, rc, "%s: %s (after %d attempts)", self->name, a->st.message, a->made);
    return jn_err_set(err, rc, "%s: %s", self->name, a->st.message);
}

static int circuit_open(const jn_engine *self, const jn_endpoint *ep, jn_err *err)
{
    return jn_err_set(err, JN_EUNAVAIL, "%s: circuit open: endpoint %s keeps failing; calls resume after a successful probe",
                      self->name, ep->target);
}

/* Calls go as messages on multiplexed streams (endpoint_mux.c) when registration chose a stream for them. */
static bool multiplexed(const remote_engine *re)
{
    return re->mux_stream != JN_RM_COUNT;
}

/* One blocking unary exchange: a copy of the packed request out, the answer read into outputs. */
static int unary_attempt(const remote_engine *re, const grpc_byte_buffer *packed, const jn_infer_ctx *ctx,
                         const jn_tensor_list *inputs, const char *traceparent, int64_t deadline_ns,
                         jn_tensor_list *outputs, jn_call_status *st)
{
    if (re->proto->http)
        return re->proto->infer(re->ep, re->model, ctx, inputs, deadline_ns, outputs, st);
    ProtobufCMessage *m;
    int code = multiplexed(re)
                   ? jn_endpoint_mux_unary(re->ep, re->mux_stream, grpc_byte_buffer_copy((grpc_byte_buffer *)packed), ctx->request_id,
                                           re->proto->infer_answer, deadline_ns, ctx->cancelled, &m, st)
                   : jn_endpoint_unary_packed(re->ep, re->proto->infer_method, grpc_byte_buffer_copy((grpc_byte_buffer *)packed),
                                        traceparent, ctx->trace ? ctx->trace->tracestate : NULL, re->proto->infer_answer, deadline_ns, ctx->cancelled, &m, st);
    return code ? code : re->proto->read_infer(m, outputs, st);
}

/* Blocking attempts, with retries and the breaker, until success or a final failure. `a` may already count
 * attempts (a call whose first attempt went out without blocking: a->st is then its outcome). A unary call sends
 * `packed`; a streaming one (stream set) builds its request itself. */
static int run_attempts(jn_engine *self, attempts *a, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                        const grpc_byte_buffer *packed, const char *traceparent, jn_tensor_list *outputs,
                        stream_args *stream, jn_err *err)
{
    remote_engine *re = self->ctx;
    jn_endpoint *ep = re->ep;
    for (;;) {
        if (a->made && !retry_wait(re, a, ctx))
            break;
        if (ctx->cancelled && atomic_load(ctx->cancelled))
            return jn_err_set(err, JN_ECANCELLED, "%s: the call was cancelled", self->name);
        bool probe;
        if (!jn_breaker_allow(&ep->breaker, jn_now_ns(), &probe)) {
            if (a->made)
                break; /* report the failure that opened it */
            return circuit_open(self, ep, err);
        }
        a->made++;
        a->st.retry_after_ms = -1;
        int code = stream ? re->proto->infer_stream(ep, re->model, re->version, ctx, inputs, a->deadline_ns,
                                                    count_emit, stream, &a->st)
                          : unary_attempt(re, packed, ctx, inputs, traceparent, a->deadline_ns, outputs, &a->st);
        attempt_record(ep, code, ctx, probe);
        if (code == 0)
            return 0;
        if (stream && stream->emitted) /* part of the answer went out: no retry */
            break;
    }
    return report_failure(self, a, err);
}

static int remote_infer(jn_engine *self, const jn_infer_ctx *caller, const jn_tensor_list *inputs,
                        jn_tensor_list *outputs, jn_err *err)
{
    remote_engine *re = self->ctx;
    traced t;
    const jn_infer_ctx *ctx = trace_call_begin(&t, caller, multiplexed(re) && !re->proto->http);
    attempts a;
    attempts_init(&a, re, ctx);
    grpc_byte_buffer *packed = NULL;
    int rc;
    if (re->proto->http) { /* nothing to pack: each attempt makes its HTTP request (ctx->trace: its headers) */
        rc = run_attempts(self, &a, ctx, inputs, NULL, NULL, outputs, NULL, err);
    } else if (!(packed = re->proto->pack_infer(re->model, re->version, ctx, inputs, &a.st))) {
        rc = report_failure(self, &a, err);
    } else {
        rc = run_attempts(self, &a, ctx, inputs, packed, t.traceparent, outputs, NULL, err);
        grpc_byte_buffer_destroy(packed);
    }
    trace_call_end(&t, self, rc, err, inputs, outputs);
    return rc;
}

static int remote_infer_stream(jn_engine *self, const jn_infer_ctx *caller, const jn_tensor_list *inputs,
                               jn_emit_fn emit, void *emit_arg, jn_err *err)
{
    const remote_engine *re = self->ctx;
    traced t; /* an HTTP remote gets headers (its request's parameters would go into the JSON body) */
    const jn_infer_ctx *ctx = trace_call_begin(&t, caller, !re->proto->http);
    attempts a;
    attempts_init(&a, re, ctx);
    stream_args sa = {emit, emit_arg, 0};
    int rc = run_attempts(self, &a, ctx, inputs, NULL, NULL, NULL, &sa, err);
    trace_call_end(&t, self, rc, err, inputs, NULL);
    return rc;
}

/* ---- asynchronous calls (infer_async): nobody waits ----
 * (Since issue #24 "the first attempt goes out" means: as a message on the pump's multiplexed stream when the engine
 * has one (mux_stream), else as a unary call; the blocking attempts likewise, on the multiplexer's own streams.)
 * With the host's completion queue (the gRPC front end's pump), the first attempt goes out from the calling
 * thread and its answer comes back on that queue (the endpoint's max_concurrency and max_queue bound such calls);
 * an attempt answered UNAVAILABLE that may be retried continues, with its backoff waits, on the endpoint's own
 * pool. Without a queue (HTTP, small bodies), the whole call runs blocking on the endpoint's pool. Either way
 * `done` is called once, on whichever thread has the outcome. */

typedef struct async_call {
    jn_host_tag tag;   /* the attempt on the wire: comes out of the host's queue */
    jn_engine *engine; /* a reference */
    const jn_infer_ctx *ctx;
    const jn_tensor_list *inputs;
    jn_async_done_fn done;
    void *done_arg;
    grpc_byte_buffer *packed; /* kept for retries */
    attempts a;
    bool probe;
    jn_endpoint_call *call;
    traced trace; /* c->ctx points into it when the call is traced */
} async_call;

static void async_free(async_call *c)
{
    if (c->trace.has_params)
        jn_params_clear(&c->trace.params);
    if (c->packed)
        grpc_byte_buffer_destroy(c->packed);
    jn_engine_unref(c->engine);
    free(c);
}

/* Hands the outcome to the caller and frees the call. */
static void async_deliver(async_call *c, int rc, jn_tensor_list *produced, jn_err *err)
{
    trace_call_end(&c->trace, c->engine, rc, err, c->inputs, rc ? NULL : produced);
    c->done(c->done_arg, rc, produced, err);
    async_free(c);
}

/* On the endpoint's pool: the blocking attempts (all of them, or the retries after the first). */
static void async_blocking(void *arg)
{
    async_call *c = arg;
    jn_tensor *slots[8];
    jn_tensor_list produced;
    jn_tensor_list_init_on(&produced, slots, 8);
    jn_err err;
    jn_err_clear(&err);
    int rc = c->packed ? run_attempts(c->engine, &c->a, c->ctx, c->inputs, c->packed, c->trace.traceparent,
                                      &produced, NULL, &err)
                       : remote_infer(c->engine, c->ctx, c->inputs, &produced, &err);
    async_deliver(c, rc, &produced, &err);
    jn_tensor_list_clear(&produced);
}

/* Queues async_blocking on the endpoint's pool within its max_queue. 0, or JN_EUNAVAIL with err set. */
static int async_to_pool(async_call *c, jn_err *err)
{
    remote_engine *re = c->engine->ctx;
    jn_endpoint *ep = re->ep;
    size_t waiting = jn_workpool_pending(ep->pool);
    if (ep->opt.max_queue > 0 && waiting >= (size_t)ep->opt.max_queue)
        return jn_err_set(err, JN_EUNAVAIL,
                          "model '%s': too many calls waiting for its endpoint (%zu queued; the limit is %d)",
                          c->engine->name, waiting, ep->opt.max_queue);
    if (jn_workpool_submit(ep->pool, async_blocking, c) != 0)
        return jn_err_set(err, JN_EUNAVAIL, "model '%s': the worker pool is not accepting work", c->engine->name);
    return 0;
}

static void async_answered(jn_host_tag *tag, bool ok)
{
    (void)ok; /* a unary exchange always ends with a status, which says everything */
    async_call *c = (async_call *)tag;
    remote_engine *re = c->engine->ctx;
    jn_tensor *slots[8];
    jn_tensor_list produced;
    jn_tensor_list_init_on(&produced, slots, 8);
    jn_err err;
    jn_err_clear(&err);
    ProtobufCMessage *m;
    int code = jn_endpoint_call_end(c->call, re->proto->infer_answer, &m, &c->a.st);
    c->call = NULL;
    if (!code)
        code = re->proto->read_infer(m, &produced, &c->a.st);
    attempt_record(re->ep, code, c->ctx, c->probe);
    int rc = 0;
    if (code == GRPC_STATUS_UNAVAILABLE && c->a.made < re->opt.max_attempts) {
        if (!(rc = async_to_pool(c, &err)))
            return; /* the retries go on there */
    } else if (code) {
        rc = report_failure(c->engine, &c->a, &err);
    }
    async_deliver(c, rc, &produced, &err);
    jn_tensor_list_clear(&produced);
}

static int remote_infer_async(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                              jn_async_done_fn done, void *done_arg, jn_err *err)
{
    remote_engine *re = self->ctx;
    async_call *c = calloc(1, sizeof *c);
    if (!c)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    c->tag.fn = async_answered;
    c->engine = jn_engine_ref(self);
    c->ctx = ctx;
    c->inputs = inputs;
    c->done = done;
    c->done_arg = done_arg;
    int rc;
    if (!ctx->host.queue || re->proto->http) { /* HTTP remotes: blocking attempts on the endpoint's pool */
        if ((rc = async_to_pool(c, err)))
            async_free(c);
        return rc;
    }
    c->ctx = ctx = trace_call_begin(&c->trace, ctx, multiplexed(re));
    attempts_init(&c->a, re, ctx);
    c->packed = re->proto->pack_infer(re->model, re->version, ctx, inputs, &c->a.st);
    if (!c->packed) {
        rc = report_failure(self, &c->a, err);
        trace_call_end(&c->trace, self, rc, err, inputs, NULL);
        async_free(c);
        return rc;
    }
    if (!jn_breaker_allow(&re->ep->breaker, jn_now_ns(), &c->probe)) {
        rc = circuit_open(self, re->ep, err);
        trace_call_end(&c->trace, self, rc, err, inputs, NULL);
        async_free(c);
        return rc;
    }
    c->a.made = 1;
    /* Once it is out, c belongs to whoever gets the tag: nothing here touches it after a successful start. */
    int refused = multiplexed(re)
                      ? jn_endpoint_mux_start(re->ep, re->mux_stream, grpc_byte_buffer_copy(c->packed), ctx->request_id,
                                              c->a.deadline_ns, ctx->host.queue, ctx->host.parent, ctx->cancelled,
                                              &c->tag, &c->call, &c->a.st)
                      : jn_endpoint_call_start(re->ep, re->proto->infer_method, grpc_byte_buffer_copy(c->packed),
                                               c->trace.traceparent, ctx->trace ? ctx->trace->tracestate : NULL,
                                               c->a.deadline_ns, ctx->host.queue, ctx->host.parent, &c->tag,
                                               &c->call, &c->a.st);
    if (refused) {
        /* Refused here: that tells the breaker nothing (a probe slot is given back). */
        c->a.made = 0;
        jn_breaker_record(&re->ep->breaker, jn_now_ns(), JN_BREAKER_NEUTRAL, c->probe);
        rc = report_failure(self, &c->a, err);
        trace_call_end(&c->trace, self, rc, err, inputs, NULL);
        async_free(c);
        return rc;
    }
    return 0;
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
    .infer_async = remote_infer_async,
};

static const jn_engine_vtable remote_vt_openai = {
    .abi_version = JN_ENGINE_ABI_VERSION,
    .platform = "openai",
    .infer = remote_infer,
    .infer_stream = remote_infer_stream,
    .destroy = remote_destroy,
    .infer_async = remote_infer_async,
};

static const jn_engine_vtable remote_vt_native = {
    .abi_version = JN_ENGINE_ABI_VERSION,
    .platform = "junction_remote",
    .infer = remote_infer,
    .infer_stream = remote_infer_stream,
    .destroy = remote_destroy,
    .infer_async = remote_infer_async,
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
    jn_endpoint *ep = spec->proto->http ? jn_endpoints_open_http(table, spec->endpoint, &spec->opt, err)
                                        : jn_endpoints_open(table, spec->endpoint, &spec->opt, err);
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
    re->mux_stream = JN_RM_COUNT;
    const jn_engine_vtable *vt = spec->proto->http                ? &remote_vt_openai
                                 : spec->proto == &jn_remote_native ? &remote_vt_native
                                                                    : &remote_vt_kserve;
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
    /* Multiplexed (issue #24): native models that do not stream (a stream message of a streaming one would get its
     * partials apart; its unary Infer joins them), and KServe v2 models whose server serves ModelStreamInfer. */
    re->mux_stream = JN_RM_COUNT;
    if (ep->opt.multiplex && spec->proto == &jn_remote_native && !streams) {
        re->mux_stream = JN_RM_ENGINE_INFER_STREAM;
    } else if (ep->opt.multiplex && spec->proto == &jn_remote_kserve_v2) {
        bool supported = false;
        if (jn_endpoint_probe_stream(ep, JN_RM_V2_MODEL_STREAM_INFER, deadline_ns, &supported, &st) == 0 && supported)
            re->mux_stream = JN_RM_V2_MODEL_STREAM_INFER;
    }
    if (!spec->opt.deterministic) /* another server's answers: not repeatable unless its options say so */
        e->flags |= JN_ENGINE_VOLATILE;
    if (jn_signature_batches(&e->sig)) /* dynamic_batching in its options takes the first dimension as the batch */
        e->flags |= JN_ENGINE_BATCHES;
    return e;
}
