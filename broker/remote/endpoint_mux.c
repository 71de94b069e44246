/* endpoint_mux.c — brokered calls to a remote as messages on long-lived streams (issue #24), instead of one gRPC
 * call each: junction.v1.Engine/InferStream for native remotes, v2 ModelStreamInfer for KServe v2 remotes that serve
 * it (found at registration: jn_endpoint_probe_stream).
 *
 * A stream belongs to one (endpoint, completion queue) pair: the queue of a gRPC pump of this server (asynchronous
 * calls: their answers complete on that pump) or the multiplexer's own queue, drained by its thread (blocking calls:
 * the caller waits on a condition variable). Each message carries an id ("<hex>:<request id>", appended to the
 * packed request: the last `id` field wins when the remote decodes it) and its timeout (`timeout_us`); the remote
 * answers out of order, each answer carrying its id, and the answer is matched to its call in the stream's table.
 * v2 has no timeout_us and no cancel message: there the deadline only ends the call on this side.
 *
 * Per message: the deadline and the caller's cancellation are watched by the multiplexer's thread every few ms;
 * either ends the call (DEADLINE_EXCEEDED / CANCELLED) and sends the remote a cancel message for it. A message that
 * expires with nothing heard on its stream since it was sent makes the stream suspect: a probe goes out (a request
 * naming no model, which a junction answers at once with an error carrying the probe's id); if nothing at all comes
 * back within PROBE_TIMEOUT_NS the stream is half-open (the remote stopped, a dead peer): it is cancelled.
 * Flow control is the endpoint's (jn__endpoint_call_admit: max_concurrency on the wire, max_queue waiting).
 * A stream that ends fails exactly the messages in its table, with UNAVAILABLE (retried by the remote engine's
 * rules); the next call opens a new one, unless streams of that endpoint keep breaking: then, for a backoff that
 * doubles (backoff_ms .. backoff_max_ms) until a stream answers again, calls go out unary.
 *
 * Ownership: a call is owned by the stream's table from launch until whoever removes it (the reader, the
 * multiplexer's thread or the stream's end, all under g_mu) delivers it through its tag, exactly once. A stream is
 * freed when its last batch has completed after it broke.
 * Thread-safety: one lock (g_mu) guards every stream and table; answers are decoded and calls delivered outside it.
 */
#include <grpc/byte_buffer_reader.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "endpoint.h"
#include "remotes.h"
#include "endpoint_internal.h"
#include "engine.h"
#include "inference/grpc_service.pb-c.h"
#include "junction/v1/broker.pb-c.h"
#include "pb.h"
#include "tsan.h"

#define MUX_BUCKETS 64
/* How often the multiplexer's thread looks at cancellations while messages are out (and when not); it also wakes at
 * the earliest deadline of a message in flight. */
#define TICK_BUSY_NS (10 * 1000000LL)
#define TICK_IDLE_NS (50 * 1000000LL)
/* A message that expired counts as a sign of a half-open stream only if it waited at least this long. */
#define HALF_OPEN_MIN_NS (100 * 1000000LL)
/* How long a suspect stream has to answer anything after its probe went out. */
#define PROBE_TIMEOUT_NS (500 * 1000000LL)
#define MAX_CLOSED_QUEUES 64

typedef struct mux_out {
    grpc_byte_buffer *bb;
    struct mux_out *next;
} mux_out;

typedef struct jn_mux_stream {
    jn_host_tag open_tag, read_tag, write_tag, status_tag;
    jn_endpoint *ep; /* borrowed: NULL once the endpoint is freed */
    jn_remote_method method; /* JN_RM_ENGINE_INFER_STREAM or JN_RM_V2_MODEL_STREAM_INFER */
    grpc_completion_queue *cq;
    grpc_call *call;
    int refs; /* batches not yet completed */
    bool broken, reading, writing;
    grpc_byte_buffer *recv_buf, *writing_bb;
    mux_out *head, *tail; /* messages waiting for the one write in progress */
    jn_endpoint_call *table[MUX_BUCKETS];
    int n_table;
    int64_t last_recv_ns;
    int64_t probe_sent_ns; /* a probe is out since (0: none) */
    bool answered; /* something came back on it */
    grpc_metadata_array initial_md, trailing_md;
    grpc_status_code code;
    grpc_slice details;
    const char *error_string;
    struct jn_mux_stream *next; /* g_streams */
} jn_mux_stream;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER; /* a stream was freed (shutdown waits for none) */
static jn_mux_stream *g_streams;
static uint64_t g_next_id;
static int g_inflight; /* messages in all tables */
static void *g_closed[MAX_CLOSED_QUEUES];
static int g_n_closed;
/* The multiplexer's thread and queue (started on first use, stopped by jn_remote_mux_shutdown). */
static grpc_completion_queue *g_cq;
static pthread_t g_thread, g_watch;
static bool g_thread_running, g_watch_stop;
/* The multiplexer's thread polls its queue only once a blocking caller used it (g_used_cv): an idle poller would take
 * the polling role from the pumps and hand every socket event over to them (a futex wake per event). */
static bool g_cq_used;
static pthread_cond_t g_used_cv = PTHREAD_COND_INITIALIZER;
static _Atomic(grpc_completion_queue *) g_cq_fast;
static atomic_bool g_pumps_poll; /* jn_remote_mux_pumps_poll */ /* g_cq once both threads run; NULL before and after */
static pthread_cond_t g_watch_cv; /* on CLOCK_MONOTONIC (mux_queue) */

/* ---- helpers ---- */

static void format_id(const jn_endpoint_call *c, char *buf, size_t cap)
{
    snprintf(buf, cap, "%" PRIx64 ":%s", c->mux_id, c->request_id);
}

static bool queue_closed_locked(void *cq)
{
    for (int i = 0; i < g_n_closed; i++)
        if (g_closed[i] == cq)
            return true;
    return false;
}

/* ---- the table ---- */

static void table_add_locked(jn_mux_stream *s, jn_endpoint_call *c)
{
    jn_endpoint_call **b = &s->table[c->mux_id % MUX_BUCKETS];
    c->mux_prev = NULL;
    c->mux_next = *b;
    if (*b)
        (*b)->mux_prev = c;
    *b = c;
    c->ms = s;
    s->n_table++;
    g_inflight++;
}

static void table_remove_locked(jn_mux_stream *s, jn_endpoint_call *c)
{
    if (c->mux_prev)
        c->mux_prev->mux_next = c->mux_next;
    else
        s->table[c->mux_id % MUX_BUCKETS] = c->mux_next;
    if (c->mux_next)
        c->mux_next->mux_prev = c->mux_prev;
    c->mux_prev = c->mux_next = NULL;
    c->ms = NULL;
    s->n_table--;
    g_inflight--;
}

static jn_endpoint_call *table_find_locked(jn_mux_stream *s, uint64_t id)
{
    for (jn_endpoint_call *c = s->table[id % MUX_BUCKETS]; c; c = c->mux_next)
        if (c->mux_id == id)
            return c;
    return NULL;
}

/* Hands the outcome to the caller (its tag), outside g_mu. */
static void deliver(jn_endpoint_call *c)
{
    jn_host_tag *t = c->tag;
    t->fn(t, true);
}

/* Calls delivered after the lock is let go, chained through next_waiting. */
static void deliver_all(jn_endpoint_call *list)
{
    while (list) {
        jn_endpoint_call *next = list->next_waiting;
        list->next_waiting = NULL;
        deliver(list);
        list = next;
    }
}

/* ---- streams ---- */

static void stream_free(jn_mux_stream *s)
{
    for (jn_mux_stream **p = &g_streams; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            break;
        }
    while (s->head) {
        mux_out *o = s->head;
        s->head = o->next;
        grpc_byte_buffer_destroy(o->bb);
        free(o);
    }
    if (s->recv_buf)
        grpc_byte_buffer_destroy(s->recv_buf);
    grpc_slice_unref(s->details);
    gpr_free((void *)s->error_string);
    grpc_metadata_array_destroy(&s->initial_md);
    grpc_metadata_array_destroy(&s->trailing_md);
    grpc_call_unref(s->call);
    free(s);
    pthread_cond_broadcast(&g_cv);
}

/* One batch of s completed: frees s after the last one of a broken stream. */
static void stream_release_locked(jn_mux_stream *s)
{
    if (--s->refs == 0 && s->broken)
        stream_free(s);
}

static bool start_locked(jn_mux_stream *s, const grpc_op *ops, size_t n, jn_host_tag *tag)
{
    s->refs++;
    JN_TSAN_RELEASE(tag);
    if (grpc_call_start_batch(s->call, ops, n, tag, NULL) != GRPC_CALL_OK) {
        s->refs--;
        s->broken = true;
        grpc_call_cancel(s->call, NULL);
        return false;
    }
    return true;
}

static void pump_writes_locked(jn_mux_stream *s)
{
    if (s->writing || !s->head || s->broken)
        return;
    mux_out *o = s->head;
    s->head = o->next;
    if (!s->head)
        s->tail = NULL;
    s->writing_bb = o->bb;
    free(o);
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = s->writing_bb;
    if (s->head)
        op.flags = GRPC_WRITE_BUFFER_HINT;
    s->writing = true;
    if (!start_locked(s, &op, 1, &s->write_tag)) {
        s->writing = false;
        grpc_byte_buffer_destroy(s->writing_bb);
        s->writing_bb = NULL;
    }
}

/* The pump thread's deferred writes (jn_remote_mux_defer_writes): streams with messages queued and no write started,
 * each holding a reference until jn_remote_mux_flush. */
#define MAX_DEFERRED 16
static __thread void *t_defer_cq; /* the pump's own queue: only its streams' messages wait */
static __thread jn_mux_stream *t_deferred[MAX_DEFERRED];
static __thread int t_n_deferred;

static void send_locked(jn_mux_stream *s, grpc_byte_buffer *bb)
{
    mux_out *o = bb ? malloc(sizeof *o) : NULL;
    if (!o) {
        if (bb)
            grpc_byte_buffer_destroy(bb);
        return; /* out of memory: the message's deadline will end its call */
    }
    o->bb = bb;
    o->next = NULL;
    if (s->tail)
        s->tail->next = o;
    else
        s->head = o;
    s->tail = o;
    if (t_defer_cq && s->cq == t_defer_cq && !s->writing) { /* never a blocking caller's: it waits for the answer */
        for (int i = 0; i < t_n_deferred; i++)
            if (t_deferred[i] == s)
                return; /* already waiting for the flush */
        if (t_n_deferred < MAX_DEFERRED) {
            s->refs++;
            t_deferred[t_n_deferred++] = s;
            return;
        }
    }
    pump_writes_locked(s);
}

void jn_remote_mux_pumps_poll(void)
{
    atomic_store(&g_pumps_poll, true);
}

void jn_remote_mux_defer_writes(void *cq)
{
    t_defer_cq = cq;
}

bool jn_remote_mux_deferred(void)
{
    return t_n_deferred > 0;
}

void jn_remote_mux_flush(void)
{
    if (t_n_deferred == 0)
        return;
    pthread_mutex_lock(&g_mu);
    for (int i = 0; i < t_n_deferred; i++) {
        pump_writes_locked(t_deferred[i]);
        stream_release_locked(t_deferred[i]);
    }
    t_n_deferred = 0;
    pthread_mutex_unlock(&g_mu);
}

static void start_read_locked(jn_mux_stream *s)
{
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &s->recv_buf;
    s->reading = true;
    if (!start_locked(s, &op, 1, &s->read_tag))
        s->reading = false;
}

/* Takes every call out of the table of a stream that ended, failed with UNAVAILABLE; returns them chained. */
static jn_endpoint_call *fail_table_locked(jn_mux_stream *s, const char *why)
{
    jn_endpoint_call *list = NULL;
    for (int b = 0; b < MUX_BUCKETS; b++)
        while (s->table[b]) {
            jn_endpoint_call *c = s->table[b];
            table_remove_locked(s, c);
            /* the text a unary call would have had (the doors of a call must not tell the paths apart) */
            jn_call_status_set(&c->mux_st, GRPC_STATUS_UNAVAILABLE, "%s", why);
            c->next_waiting = list;
            list = c;
        }
    return list;
}

static void on_open(jn_host_tag *tag, bool ok)
{
    (void)ok; /* a failed start shows in the status */
    jn_mux_stream *s = (jn_mux_stream *)((char *)tag - offsetof(jn_mux_stream, open_tag));
    pthread_mutex_lock(&g_mu);
    stream_release_locked(s);
    pthread_mutex_unlock(&g_mu);
}

static void on_write(jn_host_tag *tag, bool ok)
{
    jn_mux_stream *s = (jn_mux_stream *)((char *)tag - offsetof(jn_mux_stream, write_tag));
    pthread_mutex_lock(&g_mu);
    s->writing = false;
    grpc_byte_buffer_destroy(s->writing_bb);
    s->writing_bb = NULL;
    if (ok)
        pump_writes_locked(s);
    /* else the stream is ending: its status fails its calls */
    stream_release_locked(s);
    pthread_mutex_unlock(&g_mu);
}

static void on_read(jn_host_tag *tag, bool ok)
{
    jn_mux_stream *s = (jn_mux_stream *)((char *)tag - offsetof(jn_mux_stream, read_tag));
    pthread_mutex_lock(&g_mu);
    s->reading = false;
    grpc_byte_buffer *bb = s->recv_buf;
    s->recv_buf = NULL;
    if (ok && bb && !s->broken)
        start_read_locked(s); /* the next answer is read while this one is matched */
    pthread_mutex_unlock(&g_mu);

    jn_endpoint_call *c = NULL;
    if (ok && bb) {
        jn_err err;
        jn_err_clear(&err);
        bool v2 = s->method == JN_RM_V2_MODEL_STREAM_INFER;
        ProtobufCMessage *m = jn_pb_unpack(v2 ? &inference__model_stream_infer_response__descriptor
                                              : &junction__v1__infer_response__descriptor, bb, &err);
        const char *id = NULL;
        char v2_error[JN_ERR_MSG_MAX] = "";
        if (m && v2) { /* the answer is the ModelInferResponse inside; it is taken out, the wrapper freed */
            Inference__ModelStreamInferResponse *sr = (Inference__ModelStreamInferResponse *)m;
            Inference__ModelInferResponse *r = sr->infer_response;
            if (sr->error_message && *sr->error_message)
                snprintf(v2_error, sizeof v2_error, "%s", sr->error_message);
            sr->infer_response = NULL;
            protobuf_c_message_free_unpacked(m, NULL);
            m = r ? &r->base : NULL;
            id = r ? r->id : NULL;
        } else if (m) {
            id = ((Junction__V1__InferResponse *)m)->id;
        }
        char *end = NULL;
        uint64_t mid = id ? strtoull(id, &end, 16) : 0;
        pthread_mutex_lock(&g_mu);
        s->last_recv_ns = jn_now_ns();
        if (!m) { /* the stream cannot be trusted any more */
            grpc_call_cancel_with_status(s->call, GRPC_STATUS_INTERNAL, "an answer that does not decode", NULL);
        } else if (end && *end == ':' && (c = table_find_locked(s, mid)) != NULL) { /* else a probe's, or late */
            table_remove_locked(s, c);
            s->answered = true;
            if (s->ep)
                s->ep->mux_backoff_ns = 0;
            if (v2_error[0]) { /* v2 streams carry no status code with an error */
                jn_call_status_set(&c->mux_st, GRPC_STATUS_UNKNOWN, "%s", v2_error);
            } else {
                c->answer = m;
                c->mux_st.code = 0;
                c->mux_st.message[0] = '\0';
                m = NULL;
            }
        }
        pthread_mutex_unlock(&g_mu);
        if (m) /* the answer to a message that ended already (deadline, cancellation) */
            protobuf_c_message_free_unpacked(m, NULL);
    }
    if (bb)
        grpc_byte_buffer_destroy(bb);
    if (c)
        deliver(c);
    pthread_mutex_lock(&g_mu);
    stream_release_locked(s);
    pthread_mutex_unlock(&g_mu);
}

static void on_status(jn_host_tag *tag, bool ok)
{
    (void)ok;
    jn_mux_stream *s = (jn_mux_stream *)((char *)tag - offsetof(jn_mux_stream, status_tag));
    char why[JN_ERR_MSG_MAX];
    jn_call_status st;
    jn__endpoint_copy_status(&st, s->code, s->details, s->error_string);
    snprintf(why, sizeof why, "%s", s->code ? st.message : "the remote ended the stream");
    pthread_mutex_lock(&g_mu);
    s->broken = true;
    jn_endpoint_call *failed = fail_table_locked(s, why);
    if (s->ep) {
        /* a stream that never answered: the next one waits longer; calls go unary meanwhile */
        jn_endpoint *ep = s->ep;
        int64_t b = s->answered ? 0 : ep->mux_backoff_ns;
        b = b ? 2 * b : ep->opt.backoff_ms * 1000000;
        if (b > ep->opt.backoff_max_ms * 1000000)
            b = ep->opt.backoff_max_ms * 1000000;
        ep->mux_backoff_ns = b;
        ep->mux_retry_at_ns = jn_now_ns() + b;
    }
    stream_release_locked(s);
    pthread_mutex_unlock(&g_mu);
    deliver_all(failed);
}

/* A new stream for (ep, cq), on the list; NULL when the call cannot start. */
static jn_mux_stream *stream_open_locked(jn_endpoint *ep, jn_remote_method method, grpc_completion_queue *cq)
{
    jn_mux_stream *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->open_tag.fn = on_open;
    s->read_tag.fn = on_read;
    s->write_tag.fn = on_write;
    s->status_tag.fn = on_status;
    s->ep = ep;
    s->method = method;
    s->cq = cq;
    s->details = grpc_empty_slice();
    grpc_metadata_array_init(&s->initial_md);
    grpc_metadata_array_init(&s->trailing_md);
    s->call = grpc_channel_create_registered_call(ep->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
                                                  ep->methods[method],
                                                  gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    if (!s->call) {
        grpc_metadata_array_destroy(&s->initial_md);
        grpc_metadata_array_destroy(&s->trailing_md);
        free(s);
        return NULL;
    }
    s->next = g_streams;
    g_streams = s;
    grpc_op ops[2];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[1].data.recv_initial_metadata.recv_initial_metadata = &s->initial_md;
    grpc_op st_op;
    memset(&st_op, 0, sizeof st_op);
    st_op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    st_op.data.recv_status_on_client.trailing_metadata = &s->trailing_md;
    st_op.data.recv_status_on_client.status = &s->code;
    st_op.data.recv_status_on_client.status_details = &s->details;
    st_op.data.recv_status_on_client.error_string = &s->error_string;
    s->refs = 1; /* held until the status batch is started, so a failure cannot free s under us */
    bool ok = start_locked(s, ops, 2, &s->open_tag) && start_locked(s, &st_op, 1, &s->status_tag);
    if (ok)
        start_read_locked(s);
    s->refs--;
    if (!ok || s->broken) {
        s->broken = true;
        if (s->refs == 0)
            stream_free(s);
        return NULL;
    }
    return s;
}

void jn__endpoint_mux_launch(jn_endpoint_call *c)
{
    jn_endpoint *ep = c->ep;
    pthread_mutex_lock(&g_mu);
    /* The least busy of the (ep, queue) streams; another one while all are writing and there may be more. */
    jn_mux_stream *s = NULL;
    int n = 0, best = 0;
    for (jn_mux_stream *p = g_streams; p; p = p->next)
        if (p->ep == ep && p->cq == c->cq && p->method == c->mux_stream && !p->broken) {
            int load = (p->writing ? 1 : 0) + (p->head ? 1 : 0);
            n++;
            if (!s || load < best) {
                s = p;
                best = load;
            }
        }
    if ((!s || (best > 0 && n < ep->opt.streams)) && !queue_closed_locked(c->cq) &&
        jn_now_ns() >= ep->mux_retry_at_ns) {
        jn_mux_stream *fresh = stream_open_locked(ep, c->mux_stream, c->cq);
        if (fresh)
            s = fresh;
    }
    if (!s) { /* no stream to be had now: a call of its own */
        pthread_mutex_unlock(&g_mu);
        jn__endpoint_call_launch_unary(c);
        return;
    }
    c->mux_id = ++g_next_id;
    char id[96];
    format_id(c, id, sizeof id);
    int64_t now = jn_now_ns();
    int64_t left_us = (c->deadline_ns - now) / 1000;
    bool native = c->mux_stream == JN_RM_ENGINE_INFER_STREAM;
    grpc_byte_buffer *bb = jn__mux_with_id(c->request, id, native ? (left_us > 0 ? left_us : 1) : 0);
    c->request = NULL;
    c->sent_ns = now;
    table_add_locked(s, c);
    send_locked(s, bb); /* NULL (no memory): the deadline ends the call */
    pthread_mutex_unlock(&g_mu);
}

void jn__endpoint_mux_forget(jn_endpoint *ep)
{
    pthread_mutex_lock(&g_mu);
    for (jn_mux_stream *s = g_streams; s; s = s->next)
        if (s->ep == ep) {
            s->ep = NULL; /* nothing is in its table: every call holds a reference to the endpoint */
            s->broken = true;
            grpc_call_cancel(s->call, NULL);
        }
    pthread_mutex_unlock(&g_mu);
}

/* ---- deadlines, cancellations, half-open streams (the multiplexer's thread) ---- */

static jn_endpoint_call *scan_locked(int64_t now, int64_t *earliest)
{
    jn_endpoint_call *ended = NULL;
    for (jn_mux_stream *s = g_streams; s; s = s->next) {
        if (!s->n_table)
            continue;
        bool half_open = false;
        for (int b = 0; b < MUX_BUCKETS; b++) {
            jn_endpoint_call *c = s->table[b];
            while (c) {
                jn_endpoint_call *next = c->mux_next;
                bool expired = now >= c->deadline_ns;
                bool cancelled = c->cancelled && atomic_load(c->cancelled);
                if (expired || cancelled) {
                    table_remove_locked(s, c);
                    if (cancelled)
                        jn_call_status_set(&c->mux_st, GRPC_STATUS_CANCELLED, "the call was cancelled");
                    else
                        jn_call_status_set(&c->mux_st, GRPC_STATUS_DEADLINE_EXCEEDED,
                                           "deadline exceeded waiting for the answer from endpoint %s",
                                           c->ep->target);
                    if (expired && s->last_recv_ns < c->sent_ns && now - c->sent_ns >= HALF_OPEN_MIN_NS)
                        half_open = true;
                    if (s->method == JN_RM_ENGINE_INFER_STREAM) { /* the remote stops working on it */
                        char id[96];
                        format_id(c, id, sizeof id);
                        send_locked(s, jn__mux_cancel_message(id));
                    }
                    c->next_waiting = ended;
                    ended = c;
                } else if (c->deadline_ns < *earliest) {
                    *earliest = c->deadline_ns;
                }
                c = next;
            }
        }
        if (half_open && !s->probe_sent_ns && !s->broken) { /* nothing came back while it waited: probe */
            s->probe_sent_ns = now;
            send_locked(s, jn__mux_probe_message(s->method));
        }
    }
    for (jn_mux_stream *s = g_streams; s; s = s->next) {
        if (!s->probe_sent_ns || s->broken)
            continue;
        if (s->last_recv_ns >= s->probe_sent_ns)
            s->probe_sent_ns = 0; /* alive */
        else if (now - s->probe_sent_ns >= PROBE_TIMEOUT_NS)
            grpc_call_cancel_with_status(s->call, GRPC_STATUS_UNAVAILABLE,
                                         "no answer on the stream, not even to a probe (the remote may be stopped)",
                                         NULL);
    }
    return ended;
}

/* Drains the multiplexer's own queue (blocking callers' streams). */
static void *mux_thread(void *arg)
{
    grpc_completion_queue *cq = arg;
    pthread_mutex_lock(&g_mu);
    while (!g_cq_used)
        pthread_cond_wait(&g_used_cv, &g_mu);
    pthread_mutex_unlock(&g_mu);
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            return NULL;
        if (ev.type == GRPC_OP_COMPLETE) {
            jn_host_tag *t = ev.tag;
            JN_TSAN_ACQUIRE(t);
            t->fn(t, ev.success != 0);
        }
    }
}

/* Watches deadlines, cancellations and probes every TICK (a plain timed wait: a completion queue's deadline is not
 * kept to the millisecond by a thread that is not the poller). */
static void *watch_thread(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g_mu);
    int64_t earliest = INT64_MAX; /* the earliest deadline left by the last scan */
    while (!g_watch_stop) {
        int64_t tick = g_inflight ? TICK_BUSY_NS : TICK_IDLE_NS;
        int64_t now = jn_now_ns();
        if (earliest != INT64_MAX && earliest - now < tick)
            tick = earliest > now ? earliest - now : 0;
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += (long)tick;
        while (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&g_watch_cv, &g_mu, &until);
        if (g_watch_stop)
            break;
        earliest = INT64_MAX;
        jn_endpoint_call *ended = g_streams ? scan_locked(jn_now_ns(), &earliest) : NULL;
        pthread_mutex_unlock(&g_mu);
        deliver_all(ended);
        pthread_mutex_lock(&g_mu);
    }
    pthread_mutex_unlock(&g_mu);
    return NULL;
}

/* The multiplexer's queue, its thread started on first use. NULL if the thread cannot start. */
static grpc_completion_queue *mux_queue(void)
{
    grpc_completion_queue *fast = atomic_load_explicit(&g_cq_fast, memory_order_acquire);
    if (fast)
        return fast;
    pthread_mutex_lock(&g_mu);
    if (!g_thread_running) {
        static bool cv_made;
        if (!cv_made) {
            pthread_condattr_t ca;
            pthread_condattr_init(&ca);
            pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
            pthread_cond_init(&g_watch_cv, &ca);
            pthread_condattr_destroy(&ca);
            cv_made = true;
        }
        if (atomic_load(&g_pumps_poll)) { /* the pumps read every socket; this thread only takes completions */
            grpc_completion_queue_attributes attr = {GRPC_CQ_CURRENT_VERSION, GRPC_CQ_NEXT, GRPC_CQ_NON_POLLING,
                                                     NULL};
            g_cq = grpc_completion_queue_create(grpc_completion_queue_factory_lookup(&attr), &attr, NULL);
        } else {
            g_cq = grpc_completion_queue_create_for_next(NULL);
        }
        g_cq_used = false;
        g_watch_stop = false;
        if (pthread_create(&g_thread, NULL, mux_thread, g_cq) == 0) {
            if (pthread_create(&g_watch, NULL, watch_thread, NULL) == 0) {
                g_thread_running = true;
                atomic_store_explicit(&g_cq_fast, g_cq, memory_order_release);
            } else {
                grpc_completion_queue_shutdown(g_cq);
                g_cq_used = true; /* let the thread see the shutdown */
                pthread_cond_broadcast(&g_used_cv);
                pthread_mutex_unlock(&g_mu);
                pthread_join(g_thread, NULL);
                pthread_mutex_lock(&g_mu);
            }
        }
        if (!g_thread_running) {
            grpc_completion_queue_destroy(g_cq);
            g_cq = NULL;
        }
    }
    grpc_completion_queue *cq = g_cq;
    pthread_mutex_unlock(&g_mu);
    return cq;
}

/* ---- the public calls ---- */

int jn_endpoint_mux_start(jn_endpoint *ep, jn_remote_method stream, grpc_byte_buffer *request,
                          const char *request_id, int64_t deadline_ns, grpc_completion_queue *cq, grpc_call *parent,
                          const atomic_int *cancelled, void *tag, jn_endpoint_call **out, jn_call_status *st)
{
    if (!mux_queue()) { /* the watcher of deadlines is needed even for a pump's streams */
        if (request)
            grpc_byte_buffer_destroy(request);
        return jn_call_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "cannot start the multiplexer's thread");
    }
    jn_endpoint_call *c = request ? calloc(1, sizeof *c) : NULL;
    if (!c) {
        if (request)
            grpc_byte_buffer_destroy(request);
        return jn_call_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    c->ep = jn_endpoint_ref(ep);
    c->mux_stream = stream;
    c->method = stream == JN_RM_V2_MODEL_STREAM_INFER ? JN_RM_V2_MODEL_INFER : JN_RM_ENGINE_INFER; /* if unary */
    c->request = request;
    c->deadline_ns = deadline_ns;
    c->cq = cq;
    c->parent = parent;
    c->tag = tag;
    c->mux = true;
    c->cancelled = cancelled;
    snprintf(c->request_id, sizeof c->request_id, "%s", request_id ? request_id : "");
    return jn__endpoint_call_admit(c, out, st);
}

/* A blocking caller waiting for its message. */
typedef struct waiter {
    jn_host_tag tag;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
} waiter;

static void waiter_done(jn_host_tag *tag, bool ok)
{
    (void)ok;
    waiter *w = (waiter *)tag;
    pthread_mutex_lock(&w->mu);
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int jn_endpoint_mux_unary(jn_endpoint *ep, jn_remote_method stream, grpc_byte_buffer *request, const char *request_id,
                          const ProtobufCMessageDescriptor *resp_desc, int64_t deadline_ns,
                          const atomic_int *cancelled, ProtobufCMessage **resp, jn_call_status *st)
{
    *resp = NULL;
    grpc_completion_queue *cq = mux_queue();
    if (!cq) {
        if (request)
            grpc_byte_buffer_destroy(request);
        return jn_call_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "cannot start the multiplexer's thread");
    }
    pthread_mutex_lock(&g_mu);
    if (!g_cq_used && cq == g_cq) {
        g_cq_used = true;
        pthread_cond_broadcast(&g_used_cv);
    }
    pthread_mutex_unlock(&g_mu);
    waiter w = {.tag.fn = waiter_done, .done = false};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    jn_endpoint_call *c;
    int rc = jn_endpoint_mux_start(ep, stream, request, request_id, deadline_ns, cq, NULL, cancelled, &w.tag, &c, st);
    if (!rc) {
        pthread_mutex_lock(&w.mu);
        while (!w.done)
            pthread_cond_wait(&w.cv, &w.mu);
        pthread_mutex_unlock(&w.mu);
        rc = jn_endpoint_call_end(c, resp_desc, resp, st);
    }
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
    return rc;
}

void jn_remote_mux_close_queue(void *cq)
{
    pthread_mutex_lock(&g_mu);
    if (!queue_closed_locked(cq)) {
        if (g_n_closed == MAX_CLOSED_QUEUES) {
            memmove(g_closed, g_closed + 1, (MAX_CLOSED_QUEUES - 1) * sizeof g_closed[0]);
            g_n_closed--;
        }
        g_closed[g_n_closed++] = cq;
    }
    for (jn_mux_stream *s = g_streams; s; s = s->next)
        if (s->cq == cq && !s->broken)
            grpc_call_cancel_with_status(s->call, GRPC_STATUS_UNAVAILABLE, "the server is shutting down", NULL);
    pthread_mutex_unlock(&g_mu);
}

void jn_remote_mux_shutdown(void)
{
    pthread_mutex_lock(&g_mu);
    if (!g_thread_running) {
        pthread_mutex_unlock(&g_mu);
        return;
    }
    for (jn_mux_stream *s = g_streams; s; s = s->next)
        if (s->cq == g_cq)
            grpc_call_cancel(s->call, NULL);
    /* the thread frees them as their batches complete; a pump's streams are the server's to end */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    for (;;) {
        bool mine = false;
        for (jn_mux_stream *s = g_streams; s; s = s->next)
            mine = mine || s->cq == g_cq;
        if (!mine || pthread_cond_timedwait(&g_cv, &g_mu, &until) != 0)
            break;
    }
    grpc_completion_queue *cq = g_cq;
    g_thread_running = false;
    atomic_store_explicit(&g_cq_fast, NULL, memory_order_release);
    g_cq = NULL;
    g_cq_used = true; /* a thread still waiting to poll sees the shutdown instead */
    pthread_cond_broadcast(&g_used_cv);
    g_watch_stop = true;
    pthread_cond_broadcast(&g_watch_cv);
    pthread_mutex_unlock(&g_mu);
    pthread_join(g_watch, NULL);
    grpc_completion_queue_shutdown(cq);
    pthread_join(g_thread, NULL);
    grpc_completion_queue_destroy(cq);
}
