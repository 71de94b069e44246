/* endpoint.c — the endpoint table, the shared channels and the blocking calls on per-thread pluck queues. */
#include "endpoint.h"

#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "pb.h"
#include "pem.h"
#include "unary_exchange.h"

struct jn_endpoints {
    pthread_mutex_t mu;
    jn_endpoint *head;
};

static const char *const method_paths[JN_RM_COUNT] = {
    [JN_RM_V2_SERVER_READY] = "/inference.GRPCInferenceService/ServerReady",
    [JN_RM_V2_MODEL_READY] = "/inference.GRPCInferenceService/ModelReady",
    [JN_RM_V2_MODEL_METADATA] = "/inference.GRPCInferenceService/ModelMetadata",
    [JN_RM_V2_MODEL_INFER] = "/inference.GRPCInferenceService/ModelInfer",
    [JN_RM_ENGINE_DESCRIBE] = "/junction.v1.Engine/Describe",
    [JN_RM_ENGINE_INFER] = "/junction.v1.Engine/Infer",
    [JN_RM_ENGINE_INFER_STREAM] = "/junction.v1.Engine/InferStream",
    [JN_RM_HEALTH_CHECK] = "/grpc.health.v1.Health/Check",
};

/* After the deadline, how long a call may take to come back before it is cancelled (guards against a stuck
 * core: the call has a deadline, so it normally completes by itself). */
#define CALL_GRACE_MS 2000
/* How often a waiting call looks at the caller's cancellation flag. */
#define CANCEL_POLL_MS 50

int jn_call_status_set(jn_call_status *st, int code, const char *fmt, ...)
{
    st->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->message, sizeof st->message, fmt, ap);
    va_end(ap);
    return code;
}

/* ---- targets ---- */

static bool all_digits(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static int check_host_port(const char *target, const char *hp, jn_err *err)
{
    const char *colon = strrchr(hp, ':');
    if (!colon || colon == hp)
        return jn_err_set(err, JN_EINVAL, "endpoint '%s' is not HOST:PORT (e.g. 127.0.0.1:8001)", target);
    if (hp[0] == '[' && colon[-1] != ']')
        return jn_err_set(err, JN_EINVAL, "endpoint '%s': an IPv6 address goes in brackets, [ADDR]:PORT", target);
    const char *port = colon + 1;
    size_t n = strlen(port);
    long v = all_digits(port, n) && n <= 5 ? strtol(port, NULL, 10) : -1;
    if (v < 1 || v > 65535)
        return jn_err_set(err, JN_EINVAL, "endpoint '%s': port '%s' is not a number in 1-65535", target, port);
    return 0;
}

int jn_endpoint_check_target(const char *target, jn_err *err)
{
    if (!target || !*target)
        return jn_err_set(err, JN_EINVAL, "endpoint is empty (expected HOST:PORT)");
    if (strlen(target) > 255)
        return jn_err_set(err, JN_EINVAL, "endpoint is longer than 255 characters");
    for (const char *p = target; *p; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
            return jn_err_set(err, JN_EINVAL, "endpoint '%s' contains a space or a control character", target);
    if (strncmp(target, "unix:", 5) == 0)
        return target[5] ? 0 : jn_err_set(err, JN_EINVAL, "endpoint '%s' names no socket path", target);
    if (strncmp(target, "dns:///", 7) == 0)
        return check_host_port(target, target + 7, err);
    if (strncmp(target, "ipv4:", 5) == 0 || strncmp(target, "ipv6:", 5) == 0)
        return check_host_port(target, target + 5, err);
    if (strstr(target, "://"))
        return jn_err_set(err, JN_EINVAL, "endpoint '%s': the scheme is not supported (use HOST:PORT)", target);
    return check_host_port(target, target, err);
}

/* ---- the table ---- */

jn_endpoints *jn_endpoints_create(void)
{
    jn_endpoints *t = calloc(1, sizeof *t);
    if (t)
        pthread_mutex_init(&t->mu, NULL);
    return t;
}

static void endpoint_free(jn_endpoint *ep)
{
    pthread_mutex_destroy(&ep->calls_mu);
    jn_workpool_destroy(ep->pool);
    if (ep->channel)
        grpc_channel_destroy(ep->channel);
    jn_breaker_destroy(&ep->breaker);
    free(ep->target);
    free(ep);
}

void jn_endpoints_destroy(jn_endpoints *t)
{
    if (!t)
        return;
    jn_endpoint *ep = t->head;
    while (ep) {
        jn_endpoint *next = ep->next;
        endpoint_free(ep);
        ep = next;
    }
    pthread_mutex_destroy(&t->mu);
    free(t);
}

/* Plaintext, or TLS (verifying the remote against tls_ca_file; mutual with tls_cert_file + tls_key_file). */
static grpc_channel_credentials *channel_credentials(const char *target, const jn_remote_options *opt, jn_err *err)
{
    if (!opt->tls_ca_file[0] && !opt->tls_cert_file[0] && !opt->tls_key_file[0])
        return grpc_insecure_credentials_create();
    if (!opt->tls_ca_file[0] || !opt->tls_cert_file[0] != !opt->tls_key_file[0]) {
        jn_err_set(err, JN_EINVAL, "endpoint '%s': TLS needs tls_ca_file, and tls_cert_file with tls_key_file for "
                                   "mutual TLS (both or neither)", target);
        return NULL;
    }
    char *ca = jn_pem_read(opt->tls_ca_file, "option 'tls_ca_file'", err);
    char *cert = ca && opt->tls_cert_file[0] ? jn_pem_read(opt->tls_cert_file, "option 'tls_cert_file'", err) : NULL;
    char *key = cert ? jn_pem_read(opt->tls_key_file, "option 'tls_key_file'", err) : NULL;
    grpc_channel_credentials *creds = NULL;
    if (ca && (!opt->tls_cert_file[0] || (cert && key))) {
        grpc_ssl_pem_key_cert_pair pair = {key, cert};
        creds = grpc_ssl_credentials_create(ca, key ? &pair : NULL, NULL, NULL);
        if (!creds)
            jn_err_set(err, JN_EINVAL, "endpoint '%s': the TLS files were not accepted", target);
    }
    jn_pem_free(ca);
    jn_pem_free(cert);
    jn_pem_free(key);
    return creds;
}

static jn_endpoint *endpoint_new(const char *target, const jn_remote_options *opt, jn_err *err)
{
    jn_endpoint *ep = calloc(1, sizeof *ep);
    if (!ep || !(ep->target = strdup(target))) {
        free(ep);
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    ep->opt = *opt;
    atomic_init(&ep->refs, 0);
    pthread_mutex_init(&ep->calls_mu, NULL);
    jn_breaker_init(&ep->breaker, opt->breaker_failures, opt->breaker_cooldown_ms * 1000000);
    ep->pool = jn_workpool_create(opt->max_concurrency);
    if (!ep->pool) {
        endpoint_free(ep);
        jn_err_set(err, JN_ENOMEM, "endpoint '%s': cannot start its threads", target);
        return NULL;
    }
    /* Answers can be large tensors; retries are ours (with the breaker), not the core's; after the remote comes
     * back the channel reconnects within a couple of seconds instead of the default backoff of up to 2 minutes.
     * (Turning HTTP/2 BDP probing off or enlarging the stream window made no difference that survived repeated
     * measurement on the shared bench machine: both left at their defaults.) */
    enum { N_ARGS = 5 };
    grpc_arg args[N_ARGS];
    memset(args, 0, sizeof args);
    /* Not GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: the core also takes it as the minimum time a connection attempt may
     * take (20 s by default); at 100 ms a slow handshake never completed (seen under ThreadSanitizer). */
    const char *keys[N_ARGS] = {GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, GRPC_ARG_MAX_SEND_MESSAGE_LENGTH,
                                GRPC_ARG_ENABLE_RETRIES, GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
                                GRPC_ARG_MAX_RECONNECT_BACKOFF_MS};
    int values[N_ARGS] = {-1, -1, 0, 100, 2000};
    for (int i = 0; i < N_ARGS; i++) {
        args[i].type = GRPC_ARG_INTEGER;
        args[i].key = (char *)keys[i];
        args[i].value.integer = values[i];
    }
    grpc_channel_args channel_args = {N_ARGS, args};
    grpc_channel_credentials *creds = channel_credentials(target, opt, err);
    if (!creds) {
        endpoint_free(ep);
        return NULL;
    }
    ep->channel = grpc_channel_create(target, creds, &channel_args);
    grpc_channel_credentials_release(creds);
    if (!ep->channel) {
        endpoint_free(ep);
        jn_err_set(err, JN_EINVAL, "endpoint '%s': cannot create a channel", target);
        return NULL;
    }
    for (int m = 0; m < JN_RM_COUNT; m++)
        ep->methods[m] = grpc_channel_register_call(ep->channel, method_paths[m], NULL, NULL);
    return ep;
}

static bool same_tls(const jn_remote_options *a, const jn_remote_options *b)
{
    return strcmp(a->tls_ca_file, b->tls_ca_file) == 0 && strcmp(a->tls_cert_file, b->tls_cert_file) == 0 &&
           strcmp(a->tls_key_file, b->tls_key_file) == 0;
}

jn_endpoint *jn_endpoints_open(jn_endpoints *t, const char *target, const jn_remote_options *opt, jn_err *err)
{
    if (jn_endpoint_check_target(target, err))
        return NULL;
    pthread_mutex_lock(&t->mu);
    jn_endpoint *ep = t->head;
    while (ep && strcmp(ep->target, target) != 0)
        ep = ep->next;
    if (ep && !same_tls(&ep->opt, opt)) { /* one channel per target: its security is the first engine's */
        pthread_mutex_unlock(&t->mu);
        jn_err_set(err, JN_EINVAL, "endpoint '%s' is already in use with other TLS options (tls_ca_file, "
                                   "tls_cert_file, tls_key_file)", target);
        return NULL;
    }
    if (!ep && (ep = endpoint_new(target, opt, err)) != NULL) {
        ep->next = t->head;
        t->head = ep;
    }
    if (ep)
        atomic_fetch_add(&ep->refs, 1);
    pthread_mutex_unlock(&t->mu);
    return ep;
}

jn_endpoint *jn_endpoint_ref(jn_endpoint *ep)
{
    if (ep)
        atomic_fetch_add(&ep->refs, 1);
    return ep;
}

void jn_endpoint_unref(jn_endpoint *ep)
{
    if (ep)
        atomic_fetch_sub(&ep->refs, 1);
}

size_t jn_endpoints_reap(jn_endpoints *t)
{
    jn_endpoint *dead = NULL;
    pthread_mutex_lock(&t->mu);
    for (jn_endpoint **pp = &t->head; *pp;) {
        jn_endpoint *ep = *pp;
        if (atomic_load(&ep->refs) == 0) {
            *pp = ep->next;
            ep->next = dead;
            dead = ep;
        } else {
            pp = &ep->next;
        }
    }
    pthread_mutex_unlock(&t->mu);
    size_t n = 0;
    while (dead) {
        jn_endpoint *next = dead->next;
        endpoint_free(dead);
        dead = next;
        n++;
    }
    return n;
}

void jn_endpoints_each(jn_endpoints *t, void (*fn)(jn_endpoint *ep, void *arg), void *arg)
{
    pthread_mutex_lock(&t->mu);
    size_t n = 0;
    for (jn_endpoint *ep = t->head; ep; ep = ep->next)
        n++;
    jn_endpoint **list = calloc(n ? n : 1, sizeof *list);
    size_t k = 0;
    for (jn_endpoint *ep = t->head; list && ep; ep = ep->next)
        list[k++] = jn_endpoint_ref(ep);
    pthread_mutex_unlock(&t->mu);
    for (size_t i = 0; i < k; i++) {
        fn(list[i], arg);
        jn_endpoint_unref(list[i]);
    }
    free(list);
}

/* ---- per-thread completion queues ---- */

static pthread_key_t cq_key;
static pthread_once_t cq_once = PTHREAD_ONCE_INIT;

static void cq_free(void *p)
{
    grpc_completion_queue_destroy(p);
}

static void cq_key_create(void)
{
    pthread_key_create(&cq_key, cq_free);
}

static grpc_completion_queue *thread_cq(void)
{
    pthread_once(&cq_once, cq_key_create);
    grpc_completion_queue *cq = pthread_getspecific(cq_key);
    if (!cq) {
        cq = grpc_completion_queue_create_for_pluck(NULL);
        pthread_setspecific(cq_key, cq);
    }
    return cq;
}

void jn_remote_thread_release(void)
{
    pthread_once(&cq_once, cq_key_create);
    grpc_completion_queue *cq = pthread_getspecific(cq_key);
    if (cq) {
        pthread_setspecific(cq_key, NULL);
        grpc_completion_queue_destroy(cq);
    }
}

/* ---- calls ---- */

static gpr_timespec to_gpr(int64_t deadline_ns)
{
    int64_t left = deadline_ns - jn_now_ns();
    if (left < 0)
        left = 0;
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_nanos(left, GPR_TIMESPAN));
}

/* Waits for `tag` on cq; cancels the call when the caller goes away or the core overruns the deadline. */
static void wait_batch(grpc_completion_queue *cq, grpc_call *call, void *tag, int64_t deadline_ns,
                       const atomic_int *cancelled)
{
    int64_t give_up = deadline_ns + (int64_t)CALL_GRACE_MS * 1000000;
    bool cancel_sent = false;
    for (;;) {
        int64_t now = jn_now_ns();
        int64_t until = give_up;
        if (cancelled && !cancel_sent && now + (int64_t)CANCEL_POLL_MS * 1000000 < until)
            until = now + (int64_t)CANCEL_POLL_MS * 1000000;
        if (cancel_sent)
            until = now + (int64_t)60 * 1000000000; /* the cancel completes the batch promptly */
        grpc_event ev = grpc_completion_queue_pluck(cq, tag, to_gpr(until), NULL);
        if (ev.type == GRPC_OP_COMPLETE)
            return;
        if (!cancel_sent && ((cancelled && atomic_load(cancelled)) || jn_now_ns() >= give_up)) {
            grpc_call_cancel(call, NULL);
            cancel_sent = true;
        }
    }
}

static void copy_status(jn_call_status *st, int code, grpc_slice details, const char *error_string)
{
    st->code = code;
    st->message[0] = '\0';
    if (GRPC_SLICE_LENGTH(details))
        snprintf(st->message, sizeof st->message, "%.*s", (int)GRPC_SLICE_LENGTH(details),
                 (const char *)GRPC_SLICE_START_PTR(details));
    else if (code && error_string)
        snprintf(st->message, sizeof st->message, "%s", error_string);
    else if (code)
        snprintf(st->message, sizeof st->message, "%s", jn_grpc_status_name(code));
}

/* A finished exchange's outcome: its status, and with OK the answer decoded. */
static int exchange_outcome(const jn_unary_exchange *x, jn_remote_method m, const ProtobufCMessageDescriptor *resp_desc,
                            ProtobufCMessage **resp, jn_call_status *st)
{
    copy_status(st, x->code, x->details, x->error_string);
    if (x->code == GRPC_STATUS_OK) {
        jn_err err;
        jn_err_clear(&err);
        *resp = jn_unary_exchange_answer(x, resp_desc, &err);
        if (!*resp) {
            st->code = GRPC_STATUS_INTERNAL;
            snprintf(st->message, sizeof st->message, "the answer to %s does not decode: %s", method_paths[m],
                     err.msg);
        }
    }
    return *resp ? 0 : (st->code ? st->code : GRPC_STATUS_INTERNAL);
}

static int start_failed(jn_remote_method m, grpc_call_error ce, jn_call_status *st)
{
    st->code = GRPC_STATUS_INTERNAL;
    snprintf(st->message, sizeof st->message, "cannot start the call %s (grpc_call_error %d)", method_paths[m],
             (int)ce);
    return st->code;
}

int jn_endpoint_unary_packed(jn_endpoint *ep, jn_remote_method m, grpc_byte_buffer *request,
                             const ProtobufCMessageDescriptor *resp_desc, int64_t deadline_ns,
                             const atomic_int *cancelled, ProtobufCMessage **resp, jn_call_status *st)
{
    *resp = NULL;
    grpc_completion_queue *cq = thread_cq();
    grpc_call *call = grpc_channel_create_registered_call(ep->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
                                                          ep->methods[m], to_gpr(deadline_ns), NULL);
    jn_unary_exchange x;
    void *tag = &x;
    grpc_call_error ce = jn_unary_exchange_start_packed(&x, call, request, tag);
    int rc;
    if (ce != GRPC_CALL_OK) {
        rc = start_failed(m, ce, st);
    } else {
        wait_batch(cq, call, tag, deadline_ns, cancelled);
        rc = exchange_outcome(&x, m, resp_desc, resp, st);
    }
    jn_unary_exchange_finish(&x);
    grpc_call_unref(call);
    return rc;
}

int jn_endpoint_unary(jn_endpoint *ep, jn_remote_method m, const ProtobufCMessage *req,
                      const ProtobufCMessageDescriptor *resp_desc, int64_t deadline_ns, const atomic_int *cancelled,
                      ProtobufCMessage **resp, jn_call_status *st)
{
    return jn_endpoint_unary_packed(ep, m, jn_pb_pack(req), resp_desc, deadline_ns, cancelled, resp, st);
}

/* ---- calls nobody waits for ---- */

struct jn_endpoint_call {
    jn_endpoint *ep; /* a reference */
    jn_remote_method method;
    grpc_byte_buffer *request; /* until it goes out */
    int64_t deadline_ns;
    grpc_completion_queue *cq;
    grpc_call *parent;
    void *tag;
    grpc_call *call;
    jn_unary_exchange x;
    grpc_call_error start_error; /* GRPC_CALL_OK, or why the batch did not start */
    struct jn_endpoint_call *next_waiting;
};

/* Puts the call on the wire. A batch that cannot start (a programming error: the ops are fixed) still ends through
 * the tag, so the caller's accounting holds: the call is cancelled and start_error says why. */
static void call_launch(jn_endpoint_call *c)
{
    /* Cancellation only: the deadline is ours (the caller's less a margin, see remote_engine.c). */
    c->call = grpc_channel_create_registered_call(c->ep->channel, c->parent, c->parent ? GRPC_PROPAGATE_CANCELLATION : 0,
                                                  c->cq, c->ep->methods[c->method], to_gpr(c->deadline_ns), NULL);
    grpc_byte_buffer *request = c->request;
    c->request = NULL;
    /* Once the batch started, c belongs to whoever gets the tag (maybe another thread, at once): not touched here
     * after a successful start. */
    grpc_call_error ce = jn_unary_exchange_start_packed(&c->x, c->call, request, c->tag);
    if (ce != GRPC_CALL_OK) {
        /* Nothing will come out of the queue for this call; a one-op batch on it reports the failure instead. */
        c->start_error = ce;
        grpc_call_cancel(c->call, NULL);
        grpc_op op;
        memset(&op, 0, sizeof op);
        op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
        op.data.recv_status_on_client.trailing_metadata = &c->x.trailing_md;
        op.data.recv_status_on_client.status = &c->x.code;
        op.data.recv_status_on_client.status_details = &c->x.details;
        op.data.recv_status_on_client.error_string = &c->x.error_string;
        grpc_call_start_batch(c->call, &op, 1, c->tag, NULL);
    }
}

int jn_endpoint_call_start(jn_endpoint *ep, jn_remote_method m, grpc_byte_buffer *request, int64_t deadline_ns,
                           grpc_completion_queue *cq, grpc_call *parent, void *tag, jn_endpoint_call **out,
                           jn_call_status *st)
{
    jn_endpoint_call *c = request ? calloc(1, sizeof *c) : NULL;
    if (!c) {
        if (request)
            grpc_byte_buffer_destroy(request);
        return jn_call_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    c->ep = jn_endpoint_ref(ep);
    c->method = m;
    c->request = request;
    c->deadline_ns = deadline_ns;
    c->cq = cq;
    c->parent = parent;
    c->tag = tag;
    pthread_mutex_lock(&ep->calls_mu);
    bool now = ep->calls_running < ep->opt.max_concurrency;
    bool wait = !now && ep->calls_waiting < ep->opt.max_queue;
    if (now) {
        ep->calls_running++;
    } else if (wait) {
        ep->calls_waiting++;
        if (ep->wait_tail)
            ep->wait_tail->next_waiting = c;
        else
            ep->wait_head = c;
        ep->wait_tail = c;
    }
    int running = ep->calls_running, waiting = ep->calls_waiting;
    if (now || wait)
        *out = c; /* before it can end: its tag may come out on another thread before this one returns */
    pthread_mutex_unlock(&ep->calls_mu);
    if (now) {
        call_launch(c);
    } else if (!wait) {
        grpc_byte_buffer_destroy(request);
        jn_endpoint_unref(ep);
        free(c);
        return jn_call_status_set(st, GRPC_STATUS_UNAVAILABLE,
                                  "too many calls waiting for endpoint %s (%d running, %d waiting: max_concurrency %d, "
                                  "max_queue %d)", ep->target, running, waiting, ep->opt.max_concurrency,
                                  ep->opt.max_queue);
    }
    return 0;
}

int jn_endpoint_call_end(jn_endpoint_call *c, const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
                         jn_call_status *st)
{
    jn_endpoint *ep = c->ep;
    *resp = NULL;
    int rc = c->start_error != GRPC_CALL_OK ? start_failed(c->method, c->start_error, st)
                                            : exchange_outcome(&c->x, c->method, resp_desc, resp, st);
    jn_unary_exchange_finish(&c->x);
    grpc_call_unref(c->call);
    free(c);
    /* Its place on the wire goes to the call that waited longest. */
    pthread_mutex_lock(&ep->calls_mu);
    jn_endpoint_call *next = ep->wait_head;
    if (next) {
        ep->wait_head = next->next_waiting;
        if (!ep->wait_head)
            ep->wait_tail = NULL;
        ep->calls_waiting--;
    } else {
        ep->calls_running--;
    }
    pthread_mutex_unlock(&ep->calls_mu);
    if (next)
        call_launch(next);
    jn_endpoint_unref(ep);
    return rc;
}

/* ---- streams ---- */

struct jn_endpoint_stream {
    grpc_completion_queue *cq;
    grpc_call *call;
    int64_t deadline_ns;
    const atomic_int *cancelled;
    grpc_metadata_array initial_md, trailing_md;
    grpc_status_code code;
    grpc_slice details;
    const char *error_string;
    bool ended;
};

static int stream_finish(jn_endpoint_stream *s, jn_call_status *st)
{
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op.data.recv_status_on_client.trailing_metadata = &s->trailing_md;
    op.data.recv_status_on_client.status = &s->code;
    op.data.recv_status_on_client.status_details = &s->details;
    op.data.recv_status_on_client.error_string = &s->error_string;
    void *tag = &s->code;
    s->ended = true;
    if (grpc_call_start_batch(s->call, &op, 1, tag, NULL) != GRPC_CALL_OK) {
        st->code = GRPC_STATUS_INTERNAL;
        snprintf(st->message, sizeof st->message, "cannot read the stream's status");
        return st->code;
    }
    wait_batch(s->cq, s->call, tag, s->deadline_ns, s->cancelled);
    copy_status(st, s->code, s->details, s->error_string);
    return s->code;
}

jn_endpoint_stream *jn_endpoint_stream_open(jn_endpoint *ep, jn_remote_method m, const ProtobufCMessage *req,
                                            int64_t deadline_ns, const atomic_int *cancelled, jn_call_status *st)
{
    jn_endpoint_stream *s = calloc(1, sizeof *s);
    if (!s) {
        st->code = GRPC_STATUS_RESOURCE_EXHAUSTED;
        snprintf(st->message, sizeof st->message, "out of memory");
        return NULL;
    }
    s->cq = thread_cq();
    s->deadline_ns = deadline_ns;
    s->cancelled = cancelled;
    s->details = grpc_empty_slice();
    grpc_metadata_array_init(&s->initial_md);
    grpc_metadata_array_init(&s->trailing_md);
    s->call = grpc_channel_create_registered_call(ep->channel, NULL, GRPC_PROPAGATE_DEFAULTS, s->cq, ep->methods[m],
                                                  to_gpr(deadline_ns), NULL);
    grpc_byte_buffer *send = jn_pb_pack(req);
    grpc_op ops[4];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &s->initial_md;
    void *tag = ops;
    bool ok = grpc_call_start_batch(s->call, ops, 4, tag, NULL) == GRPC_CALL_OK;
    if (ok)
        wait_batch(s->cq, s->call, tag, deadline_ns, cancelled);
    grpc_byte_buffer_destroy(send);
    if (!ok) {
        st->code = GRPC_STATUS_INTERNAL;
        snprintf(st->message, sizeof st->message, "cannot start the call %s", method_paths[m]);
        jn_endpoint_stream_close(s);
        return NULL;
    }
    return s;
}

int jn_endpoint_stream_next(jn_endpoint_stream *s, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **msg,
                            jn_call_status *st)
{
    *msg = NULL;
    st->code = 0;
    st->message[0] = '\0';
    if (s->ended)
        return 0;
    grpc_byte_buffer *recv = NULL;
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &recv;
    void *tag = &recv;
    if (grpc_call_start_batch(s->call, &op, 1, tag, NULL) != GRPC_CALL_OK)
        return stream_finish(s, st);
    wait_batch(s->cq, s->call, tag, s->deadline_ns, s->cancelled);
    if (!recv) /* the server ended the stream (or the call failed): its status says which */
        return stream_finish(s, st);
    jn_err err;
    jn_err_clear(&err);
    *msg = jn_pb_unpack(desc, recv, &err);
    grpc_byte_buffer_destroy(recv);
    if (!*msg) {
        st->code = GRPC_STATUS_INTERNAL;
        snprintf(st->message, sizeof st->message, "a streamed answer does not decode: %s", err.msg);
        return st->code;
    }
    return 0;
}

void jn_endpoint_stream_close(jn_endpoint_stream *s)
{
    if (!s)
        return;
    if (!s->ended) {
        grpc_call_cancel(s->call, NULL);
        jn_call_status st;
        stream_finish(s, &st);
    }
    grpc_slice_unref(s->details);
    gpr_free((void *)s->error_string);
    grpc_metadata_array_destroy(&s->initial_md);
    grpc_metadata_array_destroy(&s->trailing_md);
    grpc_call_unref(s->call);
    free(s);
}
