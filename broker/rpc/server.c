/* server.c — server setup, pump threads, arrival of calls (registered and unknown methods), shutdown. */
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../remote/remotes.h"
#include "internal.h"
#include "pem.h"

/* The last field: defers_cancel_watch (see jn_method). */
const jn_method jn_methods[] = {
    {"/junction.v1.Broker/Infer", JN_METHOD_UNARY, jn_unary_infer, NULL, &jn_infer_v1, true},
    {"/junction.v1.Broker/InferStream", JN_METHOD_BIDI, NULL, jn_stream_start, &jn_infer_v1, false},
    {"/junction.v1.Broker/ListModels", JN_METHOD_UNARY, jn_broker_list_models, NULL, NULL, false},
    {"/junction.v1.Broker/GetModel", JN_METHOD_UNARY, jn_broker_get_model, NULL, NULL, false},
    {"/junction.v1.Broker/Evaluate", JN_METHOD_UNARY, jn_broker_evaluate, NULL, NULL, false},
    {"/inference.GRPCInferenceService/ServerLive", JN_METHOD_UNARY, jn_v2_server_live, NULL, NULL, false},
    {"/inference.GRPCInferenceService/ServerReady", JN_METHOD_UNARY, jn_v2_server_ready, NULL, NULL, false},
    {"/inference.GRPCInferenceService/ModelReady", JN_METHOD_UNARY, jn_v2_model_ready, NULL, NULL, false},
    {"/inference.GRPCInferenceService/ServerMetadata", JN_METHOD_UNARY, jn_v2_server_metadata, NULL, NULL, false},
    {"/inference.GRPCInferenceService/ModelMetadata", JN_METHOD_UNARY, jn_v2_model_metadata, NULL, NULL, false},
    {"/inference.GRPCInferenceService/ModelStatistics", JN_METHOD_UNARY, jn_v2_model_statistics, NULL, NULL, false},
    {"/inference.GRPCInferenceService/ModelInfer", JN_METHOD_UNARY, jn_unary_infer, NULL, &jn_infer_v2, true},
    {"/inference.GRPCInferenceService/ModelStreamInfer", JN_METHOD_BIDI, NULL, jn_stream_start, &jn_infer_v2, false},
    {"/inference.GRPCInferenceService/RepositoryIndex", JN_METHOD_UNARY, jn_v2_repository_index, NULL, NULL, false},
    {"/inference.GRPCInferenceService/RepositoryModelLoad", JN_METHOD_UNARY, jn_v2_repository_load, NULL, NULL, false},
    {"/inference.GRPCInferenceService/RepositoryModelUnload", JN_METHOD_UNARY, jn_v2_repository_unload, NULL, NULL,
     false},
    {"/junction.v1.Admin/PutPipeline", JN_METHOD_UNARY, jn_admin_put_pipeline, NULL, NULL, false},
    {"/junction.v1.Admin/DeletePipeline", JN_METHOD_UNARY, jn_admin_delete_pipeline, NULL, NULL, false},
    {"/junction.v1.Admin/ListPipelines", JN_METHOD_UNARY, jn_admin_list_pipelines, NULL, NULL, false},
    {"/junction.v1.Admin/LoadModel", JN_METHOD_UNARY, jn_admin_load_model, NULL, NULL, false},
    {"/junction.v1.Admin/UnloadModel", JN_METHOD_UNARY, jn_admin_unload_model, NULL, NULL, false},
    {"/junction.v1.Admin/RegisterEngine", JN_METHOD_UNARY, jn_admin_register_engine, NULL, NULL, false},
    {"/junction.v1.Admin/UnregisterEngine", JN_METHOD_UNARY, jn_admin_unregister_engine, NULL, NULL, false},
    {"/junction.v1.Admin/ListEngines", JN_METHOD_UNARY, jn_admin_list_engines, NULL, NULL, false},
    {"/junction.v1.Admin/Heartbeat", JN_METHOD_UNARY, jn_admin_heartbeat, NULL, NULL, false},
    {"/junction.v1.Engine/Describe", JN_METHOD_UNARY, jn_engine_describe, NULL, NULL, false},
    {"/junction.v1.Engine/Infer", JN_METHOD_UNARY, jn_unary_infer, NULL, &jn_infer_engine, true},
    {"/junction.v1.Engine/InferStream", JN_METHOD_BIDI, NULL, jn_stream_start, &jn_infer_engine, false},
    {"/grpc.health.v1.Health/Check", JN_METHOD_UNARY, jn_health_check, NULL, NULL, false},
    {"/grpc.health.v1.Health/Watch", JN_METHOD_SERVER_STREAM, NULL, jn_health_watch_start, NULL, false},
};
const size_t jn_method_count = sizeof jn_methods / sizeof jn_methods[0];

/* Calls for unregistered methods kept requested per completion queue. */
#define UNKNOWN_PREPOST 4

void jn_server_options_default(jn_server_options *opt)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    memset(opt, 0, sizeof *opt); /* no auth, no TLS */
    opt->host = "127.0.0.1";
    opt->port = 8001;
    opt->pump_threads = 2;
    opt->worker_threads = cores > 0 ? (int)cores : 2;
    opt->prepost = 32;
    opt->max_stream_inflight = 64;
    opt->max_message_bytes = 64 << 20;
    opt->grace_ms = 10000;
    opt->max_queue = 4096;
    opt->max_model_queue = 1024;
    opt->max_streams_per_connection = 1024;
    opt->models = NULL;
    opt->remotes = NULL;
}

void jn__server_call_begin(jn_server *s)
{
    atomic_fetch_add(&s->live, 1);
}

void jn__server_call_end(jn_server *s)
{
    if (atomic_fetch_sub(&s->live, 1) == 1 && atomic_load(&s->shutting_down)) {
        pthread_mutex_lock(&s->mu);
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
    }
}

bool jn__server_closing(const jn_server *s)
{
    return atomic_load(&s->shutting_down) != 0;
}

int64_t jn__deadline_ns(gpr_timespec deadline)
{
    if (gpr_time_cmp(deadline, gpr_inf_future(deadline.clock_type)) == 0)
        return 0;
    gpr_timespec left = gpr_time_sub(deadline, gpr_now(deadline.clock_type));
    int64_t ns = (int64_t)left.tv_sec * 1000000000 + left.tv_nsec;
    if (ns < 0)
        ns = 0;
    return jn_now_ns() + ns;
}

/* ---- pre-posted registered calls ---- */

typedef struct pending_call {
    jn_tag tag;
    jn_server *server;
    size_t method;
    int cq;
    jn_incoming in;
} pending_call;

static void on_registered_call(jn_tag *tag, bool ok);

static void request_registered(jn_server *s, size_t method, int cq)
{
    pending_call *p = calloc(1, sizeof *p);
    if (!p) {
        fprintf(stderr, "junction: out of memory pre-posting %s\n", jn_methods[method].path);
        return;
    }
    p->tag.fn = on_registered_call;
    p->server = s;
    p->method = method;
    p->cq = cq;
    p->in.cq = s->cqs[cq];
    grpc_metadata_array_init(&p->in.md);
    jn__server_call_begin(s);
    bool wants_payload = jn_methods[method].kind != JN_METHOD_BIDI;
    JN_TSAN_RELEASE(&p->tag);
    grpc_call_error e = grpc_server_request_registered_call(
        s->srv, s->method_handles[method], &p->in.call, &p->in.deadline, &p->in.md,
        wants_payload ? &p->in.payload : NULL, s->cqs[cq], s->cqs[cq], &p->tag);
    if (e != GRPC_CALL_OK) {
        grpc_metadata_array_destroy(&p->in.md);
        free(p);
        jn__server_call_end(s);
    }
}

/* ---- calls refused before any handler sees them (authentication, unknown methods) ---- */

typedef struct refused_call {
    jn_tag done_tag;
    jn_server *server;
    grpc_call *call;
    int cancelled;
    grpc_slice message;
} refused_call;

static void on_refused_done(jn_tag *tag, bool ok)
{
    refused_call *r = JN_CONTAINER_OF(tag, refused_call, done_tag);
    jn_server *s = r->server;
    grpc_slice_unref(r->message);
    grpc_call_unref(r->call);
    free(r);
    jn__server_call_end(s);
}

/* Answers `call` with status and message only; takes ownership of the call. */
static void refuse_call(jn_server *s, grpc_call *call, grpc_status_code status, const char *message)
{
    refused_call *r = calloc(1, sizeof *r);
    if (!r) {
        grpc_call_cancel_with_status(call, status, message, NULL);
        grpc_call_unref(call);
        return;
    }
    r->done_tag.fn = on_refused_done;
    r->server = s;
    r->call = call;
    r->message = grpc_slice_from_copied_string(message);
    jn__server_call_begin(s);
    grpc_op ops[3];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[1].data.send_status_from_server.status = status;
    ops[1].data.send_status_from_server.status_details = &r->message;
    ops[2].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[2].data.recv_close_on_server.cancelled = &r->cancelled;
    if (jn_start_batch(call, ops, 3, &r->done_tag) != GRPC_CALL_OK)
        on_refused_done(&r->done_tag, false);
}

/* The call's `authorization` metadata checked against the server's tokens; 0 when it may go on. */
static int authorize(const jn_server *s, size_t method, const grpc_metadata_array *md, jn_err *err)
{
    if (!jn_auth_required(s->opt.auth, s->method_access[method]))
        return 0;
    const char *value = NULL;
    size_t len = 0;
    for (size_t i = 0; i < md->count; i++) {
        if (grpc_slice_str_cmp(md->metadata[i].key, "authorization") == 0) {
            value = (const char *)GRPC_SLICE_START_PTR(md->metadata[i].value);
            len = GRPC_SLICE_LENGTH(md->metadata[i].value);
            break;
        }
    }
    return jn_auth_check(s->opt.auth, s->method_access[method], value, len, err);
}

static void on_registered_call(jn_tag *tag, bool ok)
{
    pending_call *p = JN_CONTAINER_OF(tag, pending_call, tag);
    jn_server *s = p->server;
    if (!ok) { /* the server is shutting down: nothing arrived */
        grpc_metadata_array_destroy(&p->in.md);
        free(p);
        jn__server_call_end(s);
        return;
    }
    if (!jn__server_closing(s))
        request_registered(s, p->method, p->cq);
    jn_err denied;
    jn_err_clear(&denied);
    if (authorize(s, p->method, &p->in.md, &denied)) {
        if (p->in.payload)
            grpc_byte_buffer_destroy(p->in.payload);
        grpc_metadata_array_destroy(&p->in.md);
        refuse_call(s, p->in.call, (grpc_status_code)jn_err_grpc_status(denied.code), denied.msg);
        free(p);
        jn__server_call_end(s);
        return;
    }
    const jn_method *m = &jn_methods[p->method];
    if (m->kind == JN_METHOD_UNARY)
        jn__unary_start(s, m, &p->in);
    else
        m->start(s, m, &p->in);
    free(p); /* the handler now owns the call; it did its own call_begin */
    jn__server_call_end(s);
}

/* ---- unknown methods: UNIMPLEMENTED instead of a hang until the deadline (answered as a refused call) ---- */

typedef struct unknown_call {
    jn_tag arrived_tag;
    jn_server *server;
    int cq;
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array md;
} unknown_call;

static void on_unknown_call(jn_tag *tag, bool ok);

static void unknown_free(unknown_call *u)
{
    grpc_call_details_destroy(&u->details);
    grpc_metadata_array_destroy(&u->md);
    free(u);
}

static void request_unknown(jn_server *s, int cq)
{
    unknown_call *u = calloc(1, sizeof *u);
    if (!u)
        return;
    u->arrived_tag.fn = on_unknown_call;
    u->server = s;
    u->cq = cq;
    grpc_call_details_init(&u->details);
    grpc_metadata_array_init(&u->md);
    jn__server_call_begin(s);
    JN_TSAN_RELEASE(&u->arrived_tag);
    if (grpc_server_request_call(s->srv, &u->call, &u->details, &u->md, s->cqs[cq], s->cqs[cq], &u->arrived_tag) !=
        GRPC_CALL_OK) {
        unknown_free(u);
        jn__server_call_end(s);
    }
}

static void on_unknown_call(jn_tag *tag, bool ok)
{
    unknown_call *u = JN_CONTAINER_OF(tag, unknown_call, arrived_tag);
    jn_server *s = u->server;
    if (ok) {
        if (!jn__server_closing(s))
            request_unknown(s, u->cq);
        char text[512];
        snprintf(text, sizeof text, "method %.*s is not implemented by junction",
                 (int)GRPC_SLICE_LENGTH(u->details.method), (const char *)GRPC_SLICE_START_PTR(u->details.method));
        refuse_call(s, u->call, GRPC_STATUS_UNIMPLEMENTED, text);
    }
    unknown_free(u);
    jn__server_call_end(s);
}

/* ---- pumps ---- */

#define PUMP_DEFER_EVENTS 32

/* Writes a pump has deferred: messages to remotes (endpoint_mux.c) and answers on its streams (stream.c). */
static bool pump_deferred(void)
{
    return jn_remote_mux_deferred() || jn__stream_deferred();
}

static void pump_flush(void)
{
    jn__stream_flush();
    jn_remote_mux_flush();
}

static void *pump_main(void *arg)
{
    grpc_completion_queue *cq = arg;
    jn_remote_mux_defer_writes(cq);
    jn__stream_defer_writes(cq);
    int deferred_events = 0;
    for (;;) {
        /* Writes wait while more events are ready (at most PUMP_DEFER_EVENTS of them): a burst leaves in one write
         * per stream. */
        bool deferred = pump_deferred();
        if (deferred && deferred_events >= PUMP_DEFER_EVENTS) {
            pump_flush();
            deferred = false;
        }
        if (!deferred)
            deferred_events = 0;
        grpc_event ev = grpc_completion_queue_next(
            cq, deferred ? gpr_inf_past(GPR_CLOCK_REALTIME) : gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_TIMEOUT) {
            pump_flush();
            continue;
        }
        deferred_events++;
        if (ev.type == GRPC_QUEUE_SHUTDOWN) {
            pump_flush();
            return NULL;
        }
        if (ev.type == GRPC_OP_COMPLETE) {
            jn_tag *t = ev.tag;
            JN_TSAN_ACQUIRE(t);
            t->fn(t, ev.success != 0);
        }
    }
}

static void on_shutdown_notified(jn_tag *tag, bool ok)
{
    jn_server *s = JN_CONTAINER_OF(tag, jn_server, shutdown_tag);
    pthread_mutex_lock(&s->mu);
    s->shutdown_notified = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* ---- lifecycle ---- */

static void server_free(jn_server *s)
{
    if (s->pool)
        jn_workpool_destroy(s->pool);
    jn_dispatcher_destroy(s->dispatch);
    free(s->cqs);
    free(s->pumps);
    free(s->method_handles);
    free(s->method_access);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

/* Plaintext, TLS, or mutual TLS per the options. NULL with err set when a file is missing or not PEM. */
static grpc_server_credentials *server_credentials(const jn_server_options *opt, jn_err *err)
{
    if (!opt->tls_cert_file && !opt->tls_key_file && !opt->tls_client_ca_file)
        return grpc_insecure_server_credentials_create();
    if (!opt->tls_cert_file || !opt->tls_key_file) {
        jn_err_set(err, JN_EINVAL, "TLS needs both --tls-cert and --tls-key (--tls-client-ca adds client checks)");
        return NULL;
    }
    char *cert = jn_pem_read(opt->tls_cert_file, "--tls-cert", err);
    char *key = cert ? jn_pem_read(opt->tls_key_file, "--tls-key", err) : NULL;
    char *ca = key && opt->tls_client_ca_file ? jn_pem_read(opt->tls_client_ca_file, "--tls-client-ca", err) : NULL;
    grpc_server_credentials *creds = NULL;
    if (cert && key && (ca || !opt->tls_client_ca_file)) {
        grpc_ssl_pem_key_cert_pair pair = {key, cert};
        creds = grpc_ssl_server_credentials_create_ex(
            ca, &pair, 1, ca ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
            NULL);
        if (!creds)
            jn_err_set(err, JN_EINVAL, "TLS: the certificate '%s' and key '%s' were not accepted", opt->tls_cert_file,
                       opt->tls_key_file);
    }
    jn_pem_free(cert);
    jn_pem_free(key);
    jn_pem_free(ca);
    return creds;
}

jn_server *jn_server_start(const jn_server_options *opt, jn_registry *reg, jn_err *err)
{
    if (opt->pump_threads < 1 || opt->worker_threads < 1 || opt->prepost < 1 || opt->max_stream_inflight < 1 ||
        opt->max_message_bytes < 1024 || opt->port < 0 || opt->port > 65535) {
        jn_err_set(err, JN_EINVAL, "server options out of range");
        return NULL;
    }
    jn_server *s = calloc(1, sizeof *s);
    if (!s) {
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    s->opt = *opt;
    s->reg = reg;
    s->own_control = (jn_control){.reg = reg};
    s->control = opt->control ? opt->control : &s->own_control;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->shutdown_tag.fn = on_shutdown_notified;
    s->n_cqs = opt->pump_threads;
    s->cqs = calloc((size_t)s->n_cqs, sizeof *s->cqs);
    s->pumps = calloc((size_t)s->n_cqs, sizeof *s->pumps);
    s->method_handles = calloc(jn_method_count, sizeof *s->method_handles);
    s->method_access = calloc(jn_method_count, sizeof *s->method_access);
    s->pool = jn_workpool_create(opt->worker_threads);
    jn_dispatch_limits limits = {opt->max_inflight, (size_t)opt->max_queue, (size_t)opt->max_model_queue, opt->cache,
                                 opt->request_log};
    s->dispatch = s->pool ? jn_dispatcher_create(reg, s->pool, &limits) : NULL;
    if (!s->cqs || !s->pumps || !s->method_handles || !s->method_access || !s->pool || !s->dispatch) {
        server_free(s);
        jn_err_set(err, JN_ENOMEM, "out of memory starting the server");
        return NULL;
    }

    grpc_arg args[4];
    memset(args, 0, sizeof args);
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[0].value.integer = opt->max_message_bytes;
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
    args[1].value.integer = opt->max_message_bytes;
    args[2].type = GRPC_ARG_INTEGER;
    args[2].key = GRPC_ARG_ALLOW_REUSEPORT;
    args[2].value.integer = 0;
    args[3].type = GRPC_ARG_INTEGER;
    args[3].key = GRPC_ARG_MAX_CONCURRENT_STREAMS;
    args[3].value.integer = opt->max_streams_per_connection > 0 ? opt->max_streams_per_connection : 1024;
    grpc_channel_args channel_args = {4, args};
    s->srv = grpc_server_create(&channel_args, NULL);
    for (size_t i = 0; i < jn_method_count; i++) {
        grpc_server_register_method_payload_handling payload = jn_methods[i].kind == JN_METHOD_BIDI
                                                                   ? GRPC_SRM_PAYLOAD_NONE
                                                                   : GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER;
        s->method_handles[i] = grpc_server_register_method(s->srv, jn_methods[i].path, NULL, payload, 0);
        s->method_access[i] = jn_auth_grpc_access(jn_methods[i].path, strlen(jn_methods[i].path));
    }
    for (int i = 0; i < s->n_cqs; i++) {
        s->cqs[i] = grpc_completion_queue_create_for_next(NULL);
        grpc_server_register_completion_queue(s->srv, s->cqs[i], NULL);
    }
    char addr[300];
    snprintf(addr, sizeof addr, strchr(opt->host, ':') ? "[%s]:%d" : "%s:%d", opt->host, opt->port);
    grpc_server_credentials *creds = server_credentials(opt, err);
    s->port = creds ? grpc_server_add_http2_port(s->srv, addr, creds) : 0;
    if (creds)
        grpc_server_credentials_release(creds);
    if (s->port == 0) {
        if (creds)
            jn_err_set(err, JN_EUNAVAIL, "cannot listen on %s (address in use or not local?%s)", addr,
                       opt->tls_cert_file ? " or the TLS certificate and key do not belong together" : "");
        grpc_server_destroy(s->srv);
        for (int i = 0; i < s->n_cqs; i++) {
            grpc_completion_queue_shutdown(s->cqs[i]);
            while (grpc_completion_queue_next(s->cqs[i], gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
                   GRPC_QUEUE_SHUTDOWN)
                ;
            grpc_completion_queue_destroy(s->cqs[i]);
        }
        server_free(s);
        return NULL;
    }
    grpc_server_start(s->srv);
    for (int q = 0; q < s->n_cqs; q++) {
        for (size_t m = 0; m < jn_method_count; m++)
            for (int k = 0; k < opt->prepost; k++)
                request_registered(s, m, q);
        for (int k = 0; k < UNKNOWN_PREPOST; k++)
            request_unknown(s, q);
        pthread_create(&s->pumps[q], NULL, pump_main, s->cqs[q]);
    }
    return s;
}

int jn_server_port(const jn_server *s)
{
    return s->port;
}

void jn_server_shutdown(jn_server *s)
{
    if (atomic_exchange(&s->shutting_down, 1))
        return;
    jn__health_shutdown(s);
    JN_TSAN_RELEASE(&s->shutdown_tag);
    grpc_server_shutdown_and_notify(s->srv, s->cqs[0], &s->shutdown_tag);
    jn__streams_close_all(s);

    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += s->opt.grace_ms / 1000;
    until.tv_nsec += (s->opt.grace_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&s->mu);
    while (!s->shutdown_notified) {
        if (pthread_cond_timedwait(&s->cv, &s->mu, &until) != 0)
            break;
    }
    if (!s->shutdown_notified) {
        pthread_mutex_unlock(&s->mu);
        fprintf(stderr, "junction: grace period over, cancelling the calls still running\n");
        grpc_server_cancel_all_calls(s->srv);
        pthread_mutex_lock(&s->mu);
        while (!s->shutdown_notified)
            pthread_cond_wait(&s->cv, &s->mu);
    }
    while (atomic_load(&s->live) > 0)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);

    grpc_server_destroy(s->srv);
    s->srv = NULL;
    /* remote engines' multiplexed streams live on the pumps' queues (broker/remote/endpoint_mux.c) */
    for (int i = 0; i < s->n_cqs; i++)
        jn_remote_mux_close_queue(s->cqs[i]);
    for (int i = 0; i < s->n_cqs; i++)
        grpc_completion_queue_shutdown(s->cqs[i]);
    for (int i = 0; i < s->n_cqs; i++) {
        pthread_join(s->pumps[i], NULL);
        grpc_completion_queue_destroy(s->cqs[i]);
    }
    s->n_cqs = 0;
}

void jn_server_destroy(jn_server *s)
{
    if (!s)
        return;
    if (!atomic_load(&s->shutting_down))
        jn_server_shutdown(s);
    server_free(s);
}
