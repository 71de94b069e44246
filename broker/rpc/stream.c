/* stream.c — bidirectional infer streams (junction.v1 InferStream, v2 ModelStreamInfer).
 *
 * Reads and writes are independent: one RECV_MESSAGE and at most one SEND_MESSAGE outstanding, each in its own
 * batch. Every request read is handed to the shared infer path (inline or worker pool) and the reader goes straight
 * back to reading, so a slow request does not hold up the ones behind it; answers are written in the order they
 * finish, each carrying its request's id. Back-pressure: at most max_stream_inflight requests may be read and not
 * yet written; beyond that the reader pauses, so memory stays bounded while the client's sends are flow-controlled.
 *
 * Lifetime: `refs` counts outstanding batches and running jobs (guarded by mu); the stream is freed at zero. The
 * status goes out once nothing is in flight and the client half-closed, the call failed, or the server is closing.
 * Metrics: a stream is open (junction_open_streams{protocol}) from jn_stream_start to stream_free.
 *
 * Requests one by one (issue #24, a broker multiplexing its calls on one junction.v1.Engine stream): each request
 * read has its own cancellation flag (set when the stream is cancelled, or by a later message of the stream with
 * `cancel` and the request's id) and its own deadline (`timeout_us` after it is read, within the stream's). The
 * protocols with a stream_peek hook read those fields before the request is decoded.
 */
#include <stdlib.h>
#include <string.h>

#include "defer_set.h"
#include "internal.h"

/* One request read and not yet answered: the job's owner. */
typedef struct stream_req {
    jn_stream *st;
    atomic_int cancelled; /* the job's cancellation flag */
    char id[128];         /* for a cancel message naming it; "" = cannot be cancelled by id */
    struct stream_req *prev, *next; /* st->live, guarded by st->mu */
} stream_req;

typedef struct out_msg {
    grpc_byte_buffer *bb;
    struct out_msg *next;
} out_msg;

struct jn_stream {
    jn_tag close_tag, read_tag, write_tag, status_tag;
    jn_server *server;
    const jn_infer_proto *proto;
    grpc_call *call;
    grpc_completion_queue *cq; /* the call's (a pump's) */
    grpc_metadata_array md;
    int64_t deadline_ns;
    atomic_int cancelled; /* engines poll it */
    int recv_cancelled;
    grpc_byte_buffer *recv_buf;
    grpc_byte_buffer *writing_bb;
    grpc_slice status_details;

    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t room; /* signalled when the queue shrinks or the stream fails (streaming answers wait on it) */
    int refs;
    int inflight; /* units not yet done: one per request being processed, one per message not yet written */
    int queued;   /* messages waiting in the queue */
    bool reading, read_paused, half_closed, failed, closing, status_sent, writing;
    out_msg *head, *tail;
    stream_req *live; /* requests being processed */
    /* Its sequences (core/sequence.h): a stateful model called on the stream carries its state from one request to
     * the next; they end when the stream is freed (nothing of it runs any more). */
    jn_seq_scope *seqs;
    jn_stream *prev, *next; /* the server's list, guarded by server->mu */
};

static void stream_free(jn_stream *st)
{
    jn_server *s = st->server;
    pthread_mutex_lock(&s->mu);
    if (st->prev)
        st->prev->next = st->next;
    else
        s->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    pthread_mutex_unlock(&s->mu);
    jn_metrics_stream_closed(st->proto->name);
    jn_seq_scope_close(st->seqs);
    while (st->head) {
        out_msg *m = st->head;
        st->head = m->next;
        grpc_byte_buffer_destroy(m->bb);
        free(m);
    }
    if (st->recv_buf)
        grpc_byte_buffer_destroy(st->recv_buf);
    grpc_slice_unref(st->status_details);
    grpc_metadata_array_destroy(&st->md);
    grpc_call_unref(st->call);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->room);
    free(st);
    jn__server_call_end(s);
}

/* Unlocks st->mu and frees the stream if nothing refers to it any more. */
static void unlock_and_release(jn_stream *st)
{
    bool dead = st->refs == 0;
    pthread_mutex_unlock(&st->mu);
    if (dead)
        stream_free(st);
}

static void start_batch_locked(jn_stream *st, const grpc_op *ops, size_t n, jn_tag *tag)
{
    st->refs++;
    if (jn_start_batch(st->call, ops, n, tag) != GRPC_CALL_OK) {
        st->refs--;
        st->failed = true;
    }
}

static void start_read_locked(jn_stream *st)
{
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &st->recv_buf;
    st->reading = true;
    st->read_paused = false;
    start_batch_locked(st, &op, 1, &st->read_tag);
    if (st->failed)
        st->reading = false;
}

static void drop_queue_locked(jn_stream *st)
{
    while (st->head) {
        out_msg *m = st->head;
        st->head = m->next;
        grpc_byte_buffer_destroy(m->bb);
        free(m);
        st->inflight--;
    }
    st->tail = NULL;
    st->queued = 0;
    pthread_cond_broadcast(&st->room);
}

/* Appends a message (one inflight unit is already counted for it). */
static void enqueue_locked(jn_stream *st, out_msg *m)
{
    m->next = NULL;
    if (st->tail)
        st->tail->next = m;
    else
        st->head = m;
    st->tail = m;
    st->queued++;
}

static void pump_writes_locked(jn_stream *st)
{
    if (st->writing || !st->head || st->status_sent || st->failed)
        return;
    out_msg *m = st->head;
    st->head = m->next;
    if (!st->head)
        st->tail = NULL;
    st->queued--;
    pthread_cond_broadcast(&st->room);
    st->writing_bb = m->bb;
    free(m);
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = st->writing_bb;
    if (st->head)
        op.flags = GRPC_WRITE_BUFFER_HINT; /* more behind it: they go out in one write (see endpoint_mux_stream.c) */
    st->writing = true;
    start_batch_locked(st, &op, 1, &st->write_tag);
    if (st->failed) {
        st->writing = false;
        grpc_byte_buffer_destroy(st->writing_bb);
        st->writing_bb = NULL;
        st->inflight--;
        drop_queue_locked(st);
    }
}

static void maybe_resume_read_locked(jn_stream *st)
{
    if (st->read_paused && !st->reading && !st->half_closed && !st->failed && !st->closing &&
        st->inflight < st->server->opt.max_stream_inflight)
        start_read_locked(st);
}

static void maybe_finish_locked(jn_stream *st)
{
    if (st->status_sent || st->inflight > 0 || !(st->half_closed || st->failed || st->closing))
        return;
    bool refused = st->closing && !st->half_closed;
    st->status_details =
        refused ? grpc_slice_from_static_string("the server is shutting down") : grpc_empty_slice();
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    op.data.send_status_from_server.status = refused ? GRPC_STATUS_UNAVAILABLE : GRPC_STATUS_OK;
    op.data.send_status_from_server.status_details = &st->status_details;
    st->status_sent = true;
    start_batch_locked(st, &op, 1, &st->status_tag);
}

/* The pump thread's deferred answers (jn__stream_defer_writes): streams with answers queued and no write started,
 * each holding a reference until jn__stream_flush. */
static __thread jn_defer_set t_deferred;

/* An answer was queued: written now, or, on the pump that owns the stream while it has more events ready, with the
 * others of its burst when the pump's queue is empty (one write for all: GRPC_WRITE_BUFFER_HINT). */
static void write_soon_locked(jn_stream *st)
{
    jn_defer_result r = st->writing ? JN_DEFER_NOW : jn_defer_add(&t_deferred, st->cq, st);
    if (r == JN_DEFER_ADDED)
        st->refs++;
    if (r == JN_DEFER_NOW)
        pump_writes_locked(st);
}

void jn__stream_defer_writes(grpc_completion_queue *cq)
{
    t_deferred.queue = cq;
}

bool jn__stream_deferred(void)
{
    return t_deferred.n > 0;
}

void jn__stream_flush(void)
{
    int n = t_deferred.n;
    t_deferred.n = 0;
    for (int i = 0; i < n; i++) {
        jn_stream *st = t_deferred.items[i];
        pthread_mutex_lock(&st->mu);
        st->refs--;
        pump_writes_locked(st);
        maybe_resume_read_locked(st);
        maybe_finish_locked(st);
        unlock_and_release(st);
    }
}

static void job_done(jn_infer_job *job)
{
    stream_req *r = job->call.owner;
    jn_stream *st = r->st;
    grpc_byte_buffer *bb = jn_infer_job_encode(job, true);
    jn_infer_job_free(job);
    out_msg *m = bb ? malloc(sizeof *m) : NULL;
    pthread_mutex_lock(&st->mu);
    if (r->prev)
        r->prev->next = r->next;
    else
        st->live = r->next;
    if (r->next)
        r->next->prev = r->prev;
    free(r);
    st->refs--;
    if (st->failed || !m) {
        if (bb)
            grpc_byte_buffer_destroy(bb);
        free(m);
        st->inflight--;
    } else {
        m->bb = bb; /* the request's unit becomes this message's */
        enqueue_locked(st, m);
        write_soon_locked(st);
    }
    maybe_resume_read_locked(st);
    maybe_finish_locked(st);
    unlock_and_release(st);
}

/* A streaming engine's partial answer: queued in order; waits while the queue is full so a fast producer cannot
 * outrun a slow client. Runs on a worker thread. */
static int job_partial(jn_infer_job *job, grpc_byte_buffer *bb)
{
    jn_stream *st = ((stream_req *)job->call.owner)->st;
    out_msg *m = malloc(sizeof *m);
    pthread_mutex_lock(&st->mu);
    while (m && !st->failed && !st->status_sent && st->queued >= st->server->opt.max_stream_inflight)
        pthread_cond_wait(&st->room, &st->mu);
    if (!m || st->failed || st->status_sent) {
        pthread_mutex_unlock(&st->mu);
        free(m);
        grpc_byte_buffer_destroy(bb);
        return -1;
    }
    m->bb = bb;
    st->inflight++;
    enqueue_locked(st, m);
    pump_writes_locked(st);
    pthread_mutex_unlock(&st->mu);
    return 0;
}

static void on_read(jn_tag *tag, bool ok)
{
    jn_stream *st = JN_CONTAINER_OF(tag, jn_stream, read_tag);
    pthread_mutex_lock(&st->mu);
    st->refs--;
    st->reading = false;
    grpc_byte_buffer *bb = st->recv_buf;
    st->recv_buf = NULL;
    if (!ok) {
        st->failed = true;
        drop_queue_locked(st);
    } else if (!bb) {
        st->half_closed = true;
    }
    if (!ok || !bb) {
        if (bb)
            grpc_byte_buffer_destroy(bb);
        maybe_finish_locked(st);
        unlock_and_release(st);
        return;
    }
    jn_stream_peek pk;
    if (!st->proto->stream_peek || st->proto->stream_peek(bb, &pk))
        memset(&pk, 0, sizeof pk);
    if (pk.cancel) { /* cancels the running request with that id; nothing is answered for this message */
        for (stream_req *r = st->live; r; r = r->next)
            if (r->id[0] && strcmp(r->id, pk.id) == 0)
                atomic_store(&r->cancelled, 1);
        grpc_byte_buffer_destroy(bb);
        if (!st->failed && !st->half_closed && !st->closing)
            start_read_locked(st);
        maybe_finish_locked(st);
        unlock_and_release(st);
        return;
    }
    int64_t deadline = st->deadline_ns;
    if (pk.timeout_us > 0) {
        int64_t own = jn_now_ns() + (pk.timeout_us > INT64_MAX / 2000 ? INT64_MAX / 2 : pk.timeout_us * 1000);
        if (!deadline || own < deadline)
            deadline = own;
    }
    bool closing = st->closing;
    stream_req *r = calloc(1, sizeof *r);
    jn_infer_job *job =
        r ? jn_infer_job_create(st->server, st->proto, job_done, job_partial, r, &r->cancelled, deadline) : NULL;
    if (job) {
        r->st = st;
        atomic_init(&r->cancelled, atomic_load(&st->cancelled));
        if (!pk.id_truncated)
            memcpy(r->id, pk.id, sizeof r->id);
        r->next = st->live;
        if (st->live)
            st->live->prev = r;
        st->live = r;
        job->call.host = (jn_host_hint){.queue = st->cq, .parent = st->call};
        job->md = &st->md;
        job->call.seq_scope = st->seqs;
        st->inflight++;
        st->refs++;
    } else {
        free(r);
    }
    pthread_mutex_unlock(&st->mu);

    if (job) {
        if (closing) { /* answer it, but run nothing new */
            st->proto->decode(bb, &job->call.req, &job->state, &job->call.err); /* for the request's id */
            job->call.rc = jn_err_set(&job->call.err, JN_EUNAVAIL, "the server is shutting down: request refused");
            job_done(job);
        } else {
            jn_infer_job_run(job, bb);
        }
    }
    grpc_byte_buffer_destroy(bb);

    pthread_mutex_lock(&st->mu);
    if (!job) { /* out of memory: end the stream rather than lose a request silently */
        st->failed = true;
        grpc_call_cancel_with_status(st->call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
    } else if (!st->failed && !st->half_closed && !st->closing) {
        if (st->inflight < st->server->opt.max_stream_inflight)
            start_read_locked(st);
        else
            st->read_paused = true;
    }
    maybe_finish_locked(st);
    unlock_and_release(st);
}

static void on_write(jn_tag *tag, bool ok)
{
    jn_stream *st = JN_CONTAINER_OF(tag, jn_stream, write_tag);
    pthread_mutex_lock(&st->mu);
    st->refs--;
    st->writing = false;
    grpc_byte_buffer_destroy(st->writing_bb);
    st->writing_bb = NULL;
    st->inflight--;
    if (!ok) {
        st->failed = true;
        drop_queue_locked(st);
    } else {
        pump_writes_locked(st);
    }
    maybe_resume_read_locked(st);
    maybe_finish_locked(st);
    unlock_and_release(st);
}

static void on_status(jn_tag *tag, bool ok)
{
    jn_stream *st = JN_CONTAINER_OF(tag, jn_stream, status_tag);
    pthread_mutex_lock(&st->mu);
    st->refs--;
    unlock_and_release(st);
}

static void on_close(jn_tag *tag, bool ok)
{
    jn_stream *st = JN_CONTAINER_OF(tag, jn_stream, close_tag);
    pthread_mutex_lock(&st->mu);
    st->refs--;
    if (!ok || st->recv_cancelled) {
        atomic_store(&st->cancelled, 1);
        for (stream_req *r = st->live; r; r = r->next)
            atomic_store(&r->cancelled, 1);
        st->failed = true;
        drop_queue_locked(st);
    }
    maybe_finish_locked(st);
    unlock_and_release(st);
}

void jn_stream_start(jn_server *s, const jn_method *m, jn_incoming *in)
{
    jn_stream *st = calloc(1, sizeof *st);
    if (!st) {
        grpc_call_cancel_with_status(in->call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
        grpc_call_unref(in->call);
        grpc_metadata_array_destroy(&in->md);
        return;
    }
    jn__server_call_begin(s);
    st->close_tag.fn = on_close;
    st->read_tag.fn = on_read;
    st->write_tag.fn = on_write;
    st->status_tag.fn = on_status;
    st->server = s;
    st->proto = m->arg;
    jn_metrics_stream_opened(st->proto->name);
    st->call = in->call;
    st->cq = in->cq;
    st->md = in->md;
    st->deadline_ns = jn__deadline_ns(in->deadline);
    st->status_details = grpc_empty_slice();
    atomic_init(&st->cancelled, 0);
    st->seqs = jn_seq_scope_create(); /* NULL (out of memory): its stateful calls run as lone calls */
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->room, NULL);

    pthread_mutex_lock(&s->mu);
    st->next = s->streams;
    if (s->streams)
        s->streams->prev = st;
    s->streams = st;
    pthread_mutex_unlock(&s->mu);

    pthread_mutex_lock(&st->mu);
    grpc_op ops[2];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[1].data.recv_close_on_server.cancelled = &st->recv_cancelled;
    start_batch_locked(st, ops, 2, &st->close_tag);
    if (!st->failed)
        start_read_locked(st);
    if (jn__server_closing(s))
        st->closing = true;
    maybe_finish_locked(st);
    unlock_and_release(st);
}

void jn__streams_close_all(jn_server *s)
{
    pthread_mutex_lock(&s->mu);
    for (jn_stream *st = s->streams; st; st = st->next) {
        pthread_mutex_lock(&st->mu);
        if (st->refs > 0) { /* a stream at zero is being freed by its last holder */
            st->closing = true;
            maybe_finish_locked(st);
        }
        pthread_mutex_unlock(&st->mu);
    }
    pthread_mutex_unlock(&s->mu);
}
