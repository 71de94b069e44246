/* endpoint_mux_internal.h — what the multiplexer's files share (issue #24): endpoint_mux.c (placing a call on a
 * stream, the public calls), endpoint_mux_stream.c (the streams: open, read, write, status, the id table) and
 * endpoint_mux_threads.c (the multiplexer's queue and thread, the watcher of deadlines, cancellations and probes).
 * Private to those three files.
 *
 * Ownership: streams are on jn__mux_streams from their opening until freed (endpoint_mux_stream.c); a call in a
 * stream's table is the table's until it is removed and delivered, exactly once.
 * Thread-safety: one lock, jn__mux_mu, guards every stream, its table, jn__mux_streams and jn__mux_inflight; the
 * functions named *_locked expect it held, the others take it themselves (or need none).
 */
#ifndef JN_REMOTE_ENDPOINT_MUX_INTERNAL_H
#define JN_REMOTE_ENDPOINT_MUX_INTERNAL_H

#include <grpc/grpc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "endpoint_internal.h"
#include "engine.h"

#define MUX_BUCKETS 64

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
    struct jn_mux_stream *next; /* jn__mux_streams */
} jn_mux_stream;

extern pthread_mutex_t jn__mux_mu;      /* the one lock */
extern pthread_cond_t jn__mux_freed_cv; /* a stream was freed (shutdown waits for none on its queue) */
extern jn_mux_stream *jn__mux_streams;  /* every stream not yet freed */
extern int jn__mux_inflight;            /* messages in all tables */

/* ---- endpoint_mux_stream.c ---- */
/* A message's id on the wire: "<hex message id>:<caller's request id>". */
void jn__mux_format_id(const jn_endpoint_call *c, char *buf, size_t cap);
/* c into / out of s's table (counted in jn__mux_inflight). */
void jn__mux_table_add_locked(jn_mux_stream *s, jn_endpoint_call *c);
void jn__mux_table_remove_locked(jn_mux_stream *s, jn_endpoint_call *c);
/* Delivers every call of a list chained through next_waiting (through their tags); without the lock. */
void jn__mux_deliver_all(jn_endpoint_call *list);
/* Queues bb (taken; NULL = out of memory, nothing sent) on s and writes it, or defers it on a pump thread. */
void jn__mux_send_locked(jn_mux_stream *s, grpc_byte_buffer *bb);
/* A new stream for (ep, cq), on the list; NULL when the call cannot start. */
jn_mux_stream *jn__mux_stream_open_locked(jn_endpoint *ep, jn_remote_method method, grpc_completion_queue *cq);

/* ---- endpoint_mux_threads.c ---- */
/* The multiplexer's queue, its thread (and the watcher) started on first use. NULL if the thread cannot start. */
grpc_completion_queue *jn__mux_queue(void);
/* A blocking caller is about to use cq: the multiplexer's thread starts polling its queue. */
void jn__mux_queue_used(grpc_completion_queue *cq);

#endif
