/* endpoint_mux_stream.c — the multiplexed streams themselves (issue #24; the design is in endpoint_mux.c's header):
 * opening one on an (endpoint, completion queue) pair, its one read always pending, its writes (one send at a time;
 * the messages behind it queued, all but the last sent with GRPC_WRITE_BUFFER_HINT; a pump thread's deferred writes,
 * jn_remote_mux_defer_writes / jn_remote_mux_flush), its status (the end of the stream fails the messages in its
 * table with UNAVAILABLE and pushes the endpoint's next stream back while streams break without answering), and its
 * table of messages in flight by id (MUX_BUCKETS buckets). Also the shared state of endpoint_mux_internal.h: the
 * lock, the stream list, the count of messages in flight.
 *
 * Ownership: a stream is on jn__mux_streams from its opening until it is freed, which happens when its last batch
 * (refs) has completed after it broke; whoever holds a deferred write holds a reference too. A call in a stream's
 * table is the table's until it is removed (under jn__mux_mu) and delivered through its tag, exactly once; the
 * messages queued for writing are the stream's and freed with it.
 * Thread-safety: every stream and table is guarded by jn__mux_mu (the *_locked functions expect it held); the
 * completion callbacks (on_open, on_read, on_write, on_status) run on the thread that drains the stream's queue and
 * take it; answers are decoded and calls delivered outside it. The deferral state is thread-local (the pump's).
 */
#include <grpc/byte_buffer_reader.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "defer_set.h"
#include "endpoint.h"
#include "remotes.h"
#include "endpoint_internal.h"
#include "endpoint_mux_internal.h"
#include "engine.h"
#include "inference/grpc_service.pb-c.h"
#include "junction/v1/broker.pb-c.h"
#include "pb.h"
#include "tsan.h"

pthread_mutex_t jn__mux_mu = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t jn__mux_freed_cv = PTHREAD_COND_INITIALIZER;
jn_mux_stream *jn__mux_streams;
int jn__mux_inflight;

/* ---- helpers ---- */

void jn__mux_format_id(const jn_endpoint_call *c, char *buf, size_t cap)
{
    snprintf(buf, cap, "%" PRIx64 ":%s", c->mux_id, c->request_id);
}

/* ---- the table ---- */

void jn__mux_table_add_locked(jn_mux_stream *s, jn_endpoint_call *c)
{
    jn_endpoint_call **b = &s->table[c->mux_id % MUX_BUCKETS];
    c->mux_prev = NULL;
    c->mux_next = *b;
    if (*b)
        (*b)->mux_prev = c;
    *b = c;
    c->ms = s;
    s->n_table++;
    jn__mux_inflight++;
}

void jn__mux_table_remove_locked(jn_mux_stream *s, jn_endpoint_call *c)
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
    jn__mux_inflight--;
}

static jn_endpoint_call *table_find_locked(jn_mux_stream *s, uint64_t id)
{
    for (jn_endpoint_call *c = s->table[id % MUX_BUCKETS]; c; c = c->mux_next)
        if (c->mux_id == id)
            return c;
    return NULL;
}

/* Hands the outcome to the caller (its tag), outside jn__mux_mu. */
static void deliver(jn_endpoint_call *c)
{
    jn_host_tag *t = c->tag;
    t->fn(t, true);
}

/* Calls delivered after the lock is let go, chained through next_waiting. */
void jn__mux_deliver_all(jn_endpoint_call *list)
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
    for (jn_mux_stream **p = &jn__mux_streams; *p; p = &(*p)->next)
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
    pthread_cond_broadcast(&jn__mux_freed_cv);
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
static __thread jn_defer_set t_deferred; /* queue: the pump's own; only its streams' messages wait */

void jn__mux_send_locked(jn_mux_stream *s, grpc_byte_buffer *bb)
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
    /* only the pump's own streams: never a blocking caller's, which waits for the answer */
    jn_defer_result r = s->writing ? JN_DEFER_NOW : jn_defer_add(&t_deferred, s->cq, s);
    if (r == JN_DEFER_ADDED)
        s->refs++;
    if (r == JN_DEFER_NOW)
        pump_writes_locked(s);
}

void jn_remote_mux_defer_writes(void *cq)
{
    t_deferred.queue = cq;
}

bool jn_remote_mux_deferred(void)
{
    return t_deferred.n > 0;
}

void jn_remote_mux_flush(void)
{
    if (t_deferred.n == 0)
        return;
    pthread_mutex_lock(&jn__mux_mu);
    for (int i = 0; i < t_deferred.n; i++) {
        pump_writes_locked(t_deferred.items[i]);
        stream_release_locked(t_deferred.items[i]);
    }
    t_deferred.n = 0;
    pthread_mutex_unlock(&jn__mux_mu);
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
            jn__mux_table_remove_locked(s, c);
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
    pthread_mutex_lock(&jn__mux_mu);
    stream_release_locked(s);
    pthread_mutex_unlock(&jn__mux_mu);
}

static void on_write(jn_host_tag *tag, bool ok)
{
    jn_mux_stream *s = (jn_mux_stream *)((char *)tag - offsetof(jn_mux_stream, write_tag));
    pthread_mutex_lock(&jn__mux_mu);
    s->writing = false;
    grpc_byte_buffer_destroy(s->writing_bb);
    s->writing_bb = NULL;
    if (ok)
        pump_writes_locked(s);
    /* else the stream is ending: its status fails its calls */
    stream_release_locked(s);
    pthread_mutex_unlock(&jn__mux_mu);
}

static void on_read(jn_host_tag *tag, bool ok)
{
    jn_mux_stream *s = (jn_mux_stream *)((char *)tag - offsetof(jn_mux_stream, read_tag));
    pthread_mutex_lock(&jn__mux_mu);
    s->reading = false;
    grpc_byte_buffer *bb = s->recv_buf;
    s->recv_buf = NULL;
    if (ok && bb && !s->broken)
        start_read_locked(s); /* the next answer is read while this one is matched */
    pthread_mutex_unlock(&jn__mux_mu);

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
        pthread_mutex_lock(&jn__mux_mu);
        s->last_recv_ns = jn_now_ns();
        if (!m) { /* the stream cannot be trusted any more */
            grpc_call_cancel_with_status(s->call, GRPC_STATUS_INTERNAL, "an answer that does not decode", NULL);
        } else if (end && *end == ':' && (c = table_find_locked(s, mid)) != NULL) { /* else a probe's, or late */
            jn__mux_table_remove_locked(s, c);
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
        pthread_mutex_unlock(&jn__mux_mu);
        if (m) /* the answer to a message that ended already (deadline, cancellation) */
            protobuf_c_message_free_unpacked(m, NULL);
    }
    if (bb)
        grpc_byte_buffer_destroy(bb);
    if (c)
        deliver(c);
    pthread_mutex_lock(&jn__mux_mu);
    stream_release_locked(s);
    pthread_mutex_unlock(&jn__mux_mu);
}

static void on_status(jn_host_tag *tag, bool ok)
{
    (void)ok;
    jn_mux_stream *s = (jn_mux_stream *)((char *)tag - offsetof(jn_mux_stream, status_tag));
    char why[JN_ERR_MSG_MAX];
    jn_call_status st;
    jn__endpoint_copy_status(&st, s->code, s->details, s->error_string);
    snprintf(why, sizeof why, "%s", s->code ? st.message : "the remote ended the stream");
    pthread_mutex_lock(&jn__mux_mu);
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
    pthread_mutex_unlock(&jn__mux_mu);
    jn__mux_deliver_all(failed);
}

/* A new stream for (ep, cq), on the list; NULL when the call cannot start. */
jn_mux_stream *jn__mux_stream_open_locked(jn_endpoint *ep, jn_remote_method method, grpc_completion_queue *cq)
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
    s->next = jn__mux_streams;
    jn__mux_streams = s;
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
