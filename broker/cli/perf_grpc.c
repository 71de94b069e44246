/* perf_grpc.c — `junction perf`'s gRPC transport (perf.h): KServe v2 ModelMetadata and ModelStatistics through the
 * CLI's unary client (rpc_client.h), and the load itself through the C core on the workers' threads: each worker has
 * a channel of its own (its own TCP connection: a local subchannel pool) and a completion queue of its own, and keeps
 * its share of ModelInfer calls outstanding; with --streaming each slot holds one ModelStreamInfer stream and sends
 * its next request when the previous answer arrived (one answer per request: decoupled models that answer several
 * times per request are not measured right).
 *
 * Requests are packed once per data entry (raw_input_contents) in prepare; a call sends a copy of the packed byte
 * buffer (slice references, no bytes copied). Answers are not decoded beyond their status (ModelInfer) or their
 * error_message (ModelStreamInfer).
 *
 * Ownership: the packed requests belong to the transport until unprepare; a conn and its calls to its worker.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "err.h"
#include "inference/grpc_service.pb-c.h"
#include "pb.h"
#include "perf.h"
#include "rpc_client.h"
#include "unary_exchange.h"

#define M_METADATA "/inference.GRPCInferenceService/ModelMetadata"
#define M_INFER "/inference.GRPCInferenceService/ModelInfer"
#define M_STREAM "/inference.GRPCInferenceService/ModelStreamInfer"
#define M_STATS "/inference.GRPCInferenceService/ModelStatistics"

/* Metadata and statistics ------------------------------------------------------------------------------------------ */

/* The statistics channel stays open between windows (a new connection per window would show in the first calls). */
static jn_cli_rpc stats_rpc;
static bool stats_open;

static void describe_failure(const perf_opts *o, const char *what, const jn_cli_rpc_status *st, char *msg, size_t cap)
{
    if (st->code == GRPC_STATUS_UNAVAILABLE || st->code == GRPC_STATUS_DEADLINE_EXCEEDED)
        snprintf(msg, cap, "cannot reach a KServe v2 gRPC server at %s (%s %s: %s: %s)", o->url, what, o->model,
                 jn_grpc_status_name(st->code), st->message);
    else
        snprintf(msg, cap, "%s of model '%s' on %s: %s: %s", what, o->model, o->url, jn_grpc_status_name(st->code),
                 st->message);
}

static int grpc_model_metadata(const perf_opts *o, perf_model *m, char *msg, size_t cap)
{
    jn_cli_rpc r;
    jn_cli_rpc_open(&r, o->url, o->timeout_ms);
    Inference__ModelMetadataRequest req = INFERENCE__MODEL_METADATA_REQUEST__INIT;
    req.name = (char *)o->model;
    req.version = (char *)o->version;
    ProtobufCMessage *resp;
    jn_cli_rpc_status st;
    int rc = -1;
    if (jn_cli_rpc_unary(&r, M_METADATA, &req.base, &inference__model_metadata_response__descriptor, &resp, &st)) {
        describe_failure(o, "ModelMetadata", &st, msg, cap);
        goto out;
    }
    Inference__ModelMetadataResponse *md = (Inference__ModelMetadataResponse *)resp;
    snprintf(m->name, sizeof m->name, "%s", o->model);
    snprintf(m->platform, sizeof m->platform, "%s", md->platform);
    if (md->n_inputs > PERF_MAX_INPUTS) {
        snprintf(msg, cap, "model '%s' has %zu inputs; perf handles at most %d", o->model, md->n_inputs,
                 PERF_MAX_INPUTS);
    } else {
        rc = 0;
        m->n_inputs = (int)md->n_inputs;
        for (size_t i = 0; i < md->n_inputs && rc == 0; i++) {
            Inference__ModelMetadataResponse__TensorMetadata *t = md->inputs[i];
            perf_input_meta *in = &m->inputs[i];
            if (t->n_shape > JN_MAX_DIMS) {
                snprintf(msg, cap, "model '%s': input '%s' has %zu dimensions (at most %d)", o->model, t->name,
                         t->n_shape, JN_MAX_DIMS);
                rc = -1;
                break;
            }
            snprintf(in->name, sizeof in->name, "%s", t->name);
            snprintf(in->datatype, sizeof in->datatype, "%s", t->datatype);
            in->ndim = (int)t->n_shape;
            memcpy(in->shape, t->shape, t->n_shape * sizeof *t->shape);
        }
    }
    protobuf_c_message_free_unpacked(resp, NULL);
out:
    jn_cli_rpc_close(&r);
    return rc;
}

static void add_dur(perf_dur *d, const Inference__StatisticDuration *s)
{
    if (s) {
        d->count += s->count;
        d->ns += s->ns;
    }
}

static int grpc_stats(const perf_opts *o, perf_server_stats *s, char *msg, size_t cap)
{
    if (!stats_open) {
        jn_cli_rpc_open(&stats_rpc, o->url, o->timeout_ms);
        stats_open = true;
    }
    stats_rpc.deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(o->timeout_ms, GPR_TIMESPAN));
    Inference__ModelStatisticsRequest req = INFERENCE__MODEL_STATISTICS_REQUEST__INIT;
    req.name = (char *)o->model;
    req.version = (char *)o->version;
    ProtobufCMessage *resp;
    jn_cli_rpc_status st;
    if (jn_cli_rpc_unary(&stats_rpc, M_STATS, &req.base, &inference__model_statistics_response__descriptor, &resp,
                         &st)) {
        if (st.code == GRPC_STATUS_UNIMPLEMENTED) {
            snprintf(msg, cap, "the server has no statistics extension (ModelStatistics: UNIMPLEMENTED)");
            return 1;
        }
        describe_failure(o, "ModelStatistics", &st, msg, cap);
        return -1;
    }
    memset(s, 0, sizeof *s);
    const Inference__ModelStatisticsResponse *r = (const Inference__ModelStatisticsResponse *)resp;
    for (size_t i = 0; i < r->n_model_stats; i++) {
        const Inference__ModelStatistics *ms = r->model_stats[i];
        if (strcmp(ms->name, o->model) != 0)
            continue;
        s->inference_count += ms->inference_count;
        s->execution_count += ms->execution_count;
        const Inference__InferStatistics *is = ms->inference_stats;
        if (!is)
            continue;
        add_dur(&s->success, is->success);
        add_dur(&s->fail, is->fail);
        add_dur(&s->queue, is->queue);
        add_dur(&s->compute_input, is->compute_input);
        add_dur(&s->compute_infer, is->compute_infer);
        add_dur(&s->compute_output, is->compute_output);
        add_dur(&s->cache_hit, is->cache_hit);
        add_dur(&s->cache_miss, is->cache_miss);
    }
    protobuf_c_message_free_unpacked(resp, NULL);
    return 0;
}

/* Prepared requests ------------------------------------------------------------------------------------------------ */

typedef struct packed {
    grpc_byte_buffer **req; /* one per data entry */
    size_t n;
} packed;

static int grpc_prepare(perf_ctx *ctx, char *msg, size_t cap)
{
    packed *p = calloc(1, sizeof *p);
    if (!p || !(p->req = calloc(ctx->data->n_entries, sizeof *p->req))) {
        free(p);
        snprintf(msg, cap, "out of memory");
        return -1;
    }
    ctx->tp_data = p;
    for (size_t e = 0; e < ctx->data->n_entries; e++) {
        const perf_entry *pe = &ctx->data->entries[e];
        Inference__ModelInferRequest req = INFERENCE__MODEL_INFER_REQUEST__INIT;
        Inference__ModelInferRequest__InferInputTensor ins[PERF_MAX_INPUTS];
        Inference__ModelInferRequest__InferInputTensor *insp[PERF_MAX_INPUTS];
        ProtobufCBinaryData raw[PERF_MAX_INPUTS];
        req.model_name = (char *)ctx->o->model;
        req.model_version = (char *)ctx->o->version;
        for (int i = 0; i < pe->n; i++) {
            const perf_tensor *t = &pe->t[i];
            inference__model_infer_request__infer_input_tensor__init(&ins[i]);
            ins[i].name = (char *)t->name;
            ins[i].datatype = (char *)jn_dtype_name(t->dtype);
            ins[i].n_shape = (size_t)t->ndim;
            ins[i].shape = (int64_t *)t->shape;
            insp[i] = &ins[i];
            raw[i].data = t->raw;
            raw[i].len = t->raw_len;
        }
        req.n_inputs = (size_t)pe->n;
        req.inputs = insp;
        req.n_raw_input_contents = (size_t)pe->n;
        req.raw_input_contents = raw;
        p->req[e] = jn_pb_pack(&req.base);
        p->n = e + 1;
        if (!p->req[e]) {
            snprintf(msg, cap, "cannot pack the request of data entry %zu", e);
            return -1;
        }
    }
    return 0;
}

static void grpc_unprepare(perf_ctx *ctx)
{
    packed *p = ctx->tp_data;
    if (p) {
        for (size_t e = 0; e < p->n; e++)
            grpc_byte_buffer_destroy(p->req[e]);
        free(p->req);
        free(p);
        ctx->tp_data = NULL;
    }
    if (stats_open) {
        jn_cli_rpc_close(&stats_rpc);
        stats_open = false;
    }
}

/* Connections ------------------------------------------------------------------------------------------------------ */

typedef enum op_kind { OP_UNARY, OP_INIT, OP_SEND, OP_RECV, OP_STATUS } op_kind;

typedef struct gslot gslot;
typedef struct gop { /* a completion queue tag: which slot, which batch */
    gslot *s;
    op_kind kind;
} gop;

struct gslot {
    int index;
    grpc_call *call;
    int pending; /* batches in flight on call */
    /* unary */
    jn_unary_exchange x;
    gop op_unary;
    /* streaming */
    gop op_init, op_send, op_recv, op_status;
    bool alive, req_active, send_done, recv_done, got_message, recv_ok, status_arrived;
    grpc_byte_buffer *send_buf, *recv_buf;
    grpc_metadata_array initial_md, trailing_md;
    grpc_status_code code;
    grpc_slice details;
    char err[PERF_MSG];
};

struct perf_conn {
    perf_ctx *ctx;
    grpc_channel *channel;
    grpc_completion_queue *cq;
    gslot *slots;
    int n_slots;
    int pending; /* batches in flight on all slots */
};

static perf_conn *grpc_conn_open(perf_ctx *ctx, int slots, char *msg, size_t cap)
{
    perf_conn *c = calloc(1, sizeof *c);
    if (!c || !(c->slots = calloc((size_t)slots, sizeof *c->slots))) {
        free(c);
        snprintf(msg, cap, "out of memory");
        return NULL;
    }
    grpc_init();
    c->ctx = ctx;
    c->n_slots = slots;
    grpc_arg args[] = {
        {.type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, .value.integer = -1},
        {.type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, .value.integer = 1},
    };
    grpc_channel_args ca = {.num_args = 2, .args = args};
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    c->channel = grpc_channel_create(ctx->o->url, creds, &ca);
    grpc_channel_credentials_release(creds);
    c->cq = grpc_completion_queue_create_for_next(NULL);
    for (int i = 0; i < slots; i++) {
        gslot *s = &c->slots[i];
        s->index = i;
        s->op_unary = (gop){s, OP_UNARY};
        s->op_init = (gop){s, OP_INIT};
        s->op_send = (gop){s, OP_SEND};
        s->op_recv = (gop){s, OP_RECV};
        s->op_status = (gop){s, OP_STATUS};
    }
    return c;
}

static gpr_timespec call_deadline(const perf_conn *c)
{
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(c->ctx->o->timeout_ms, GPR_TIMESPAN));
}

static int start_batch(perf_conn *c, gslot *s, const grpc_op *ops, size_t n, gop *tag)
{
    if (grpc_call_start_batch(s->call, ops, n, tag, NULL) != GRPC_CALL_OK)
        return -1;
    s->pending++;
    c->pending++;
    return 0;
}

/* Opens the slot's stream when it has none (or its last one ended and has nothing in flight). */
static int ensure_stream(perf_conn *c, gslot *s, char *msg, size_t cap)
{
    if (s->call && !s->alive && s->pending == 0) {
        grpc_metadata_array_destroy(&s->initial_md);
        grpc_metadata_array_destroy(&s->trailing_md);
        grpc_slice_unref(s->details);
        grpc_call_unref(s->call);
        s->call = NULL;
    }
    if (s->call) {
        if (s->alive)
            return 0;
        snprintf(msg, cap, "%s", *s->err ? s->err : "the ModelStreamInfer stream ended");
        return -1;
    }
    s->call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq,
                                       grpc_slice_from_static_string(M_STREAM), NULL,
                                       gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    grpc_metadata_array_init(&s->initial_md);
    grpc_metadata_array_init(&s->trailing_md);
    s->details = grpc_empty_slice();
    s->alive = true;
    s->status_arrived = false;
    s->err[0] = '\0';
    grpc_op init[2] = {{.op = GRPC_OP_SEND_INITIAL_METADATA}, {.op = GRPC_OP_RECV_INITIAL_METADATA}};
    init[1].data.recv_initial_metadata.recv_initial_metadata = &s->initial_md;
    grpc_op st = {.op = GRPC_OP_RECV_STATUS_ON_CLIENT};
    st.data.recv_status_on_client.trailing_metadata = &s->trailing_md;
    st.data.recv_status_on_client.status = &s->code;
    st.data.recv_status_on_client.status_details = &s->details;
    if (start_batch(c, s, init, 2, &s->op_init) || start_batch(c, s, &st, 1, &s->op_status)) {
        grpc_call_cancel(s->call, NULL);
        s->alive = false;
        snprintf(msg, cap, "cannot start a ModelStreamInfer stream");
        return -1;
    }
    return 0;
}

static int grpc_conn_start(perf_conn *c, int slot, size_t entry, char *msg, size_t cap)
{
    packed *p = c->ctx->tp_data;
    gslot *s = &c->slots[slot];
    if (!c->ctx->o->streaming) {
        s->call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq,
                                           grpc_slice_from_static_string(M_INFER), NULL, call_deadline(c), NULL);
        grpc_call_error ce = jn_unary_exchange_start_packed(&s->x, s->call, grpc_byte_buffer_copy(p->req[entry]),
                                                            &s->op_unary);
        if (ce != GRPC_CALL_OK) {
            jn_unary_exchange_finish(&s->x);
            grpc_call_unref(s->call);
            s->call = NULL;
            snprintf(msg, cap, "cannot start a ModelInfer call (grpc_call_error %d)", (int)ce);
            return -1;
        }
        s->pending++;
        c->pending++;
        return 0;
    }
    if (ensure_stream(c, s, msg, cap) != 0)
        return -1;
    s->req_active = true;
    s->send_done = s->recv_done = s->got_message = false;
    s->send_buf = grpc_byte_buffer_copy(p->req[entry]);
    s->recv_buf = NULL;
    grpc_op send = {.op = GRPC_OP_SEND_MESSAGE};
    send.data.send_message.send_message = s->send_buf;
    grpc_op recv = {.op = GRPC_OP_RECV_MESSAGE};
    recv.data.recv_message.recv_message = &s->recv_buf;
    if (start_batch(c, s, &send, 1, &s->op_send) != 0) {
        grpc_byte_buffer_destroy(s->send_buf);
        s->send_buf = NULL;
        s->req_active = false;
        snprintf(msg, cap, "cannot send on the ModelStreamInfer stream");
        return -1;
    }
    if (start_batch(c, s, &recv, 1, &s->op_recv) != 0) {
        s->recv_done = true; /* the send completes; the request fails with this message */
        snprintf(s->err, sizeof s->err, "cannot receive on the ModelStreamInfer stream");
    }
    return 0;
}

static void status_message(gslot *s, char *msg, size_t cap)
{
    char *d = grpc_slice_to_c_string(s->details);
    snprintf(msg, cap, "%s: %s", jn_grpc_status_name(s->code), *d ? d : "the ModelStreamInfer stream ended");
    gpr_free(d);
}

/* A stream request is done once its send and its receive completed (and, if the stream ended, its status came). */
static void maybe_complete(gslot *s, perf_done_fn done, void *worker)
{
    if (!s->req_active || !s->send_done || !s->recv_done)
        return;
    if (s->got_message) {
        s->req_active = false;
        done(worker, s->index, s->recv_ok, s->err);
    } else if (s->status_arrived || *s->err) {
        s->req_active = false;
        if (!*s->err)
            status_message(s, s->err, sizeof s->err);
        done(worker, s->index, false, s->err);
    }
}

static void stream_event(gop *op, bool success, perf_done_fn done, void *worker)
{
    gslot *s = op->s;
    switch (op->kind) {
    case OP_INIT:
        break;
    case OP_SEND:
        grpc_byte_buffer_destroy(s->send_buf);
        s->send_buf = NULL;
        s->send_done = true;
        break;
    case OP_RECV:
        s->recv_done = true;
        if (success && s->recv_buf) {
            s->got_message = true;
            jn_err err;
            jn_err_clear(&err);
            ProtobufCMessage *m = jn_pb_unpack(&inference__model_stream_infer_response__descriptor, s->recv_buf, &err);
            grpc_byte_buffer_destroy(s->recv_buf);
            s->recv_buf = NULL;
            const Inference__ModelStreamInferResponse *r = (const Inference__ModelStreamInferResponse *)m;
            s->recv_ok = r && !*r->error_message;
            if (!r)
                snprintf(s->err, sizeof s->err, "undecodable ModelStreamInferResponse: %s", err.msg);
            else if (*r->error_message)
                snprintf(s->err, sizeof s->err, "%s", r->error_message);
            else
                s->err[0] = '\0';
            if (m)
                protobuf_c_message_free_unpacked(m, NULL);
        } else {
            s->alive = false;
        }
        break;
    case OP_STATUS:
        s->alive = false;
        s->status_arrived = true;
        break;
    case OP_UNARY:
        break;
    }
    maybe_complete(s, done, worker);
}

static void grpc_conn_wait(perf_conn *c, int64_t until_ns, perf_done_fn done, void *worker)
{
    int64_t left = until_ns - jn__perf_now_ns();
    gpr_timespec deadline = left <= 0 ? gpr_inf_past(GPR_CLOCK_MONOTONIC)
                                      : gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                                     gpr_time_from_nanos(left, GPR_TIMESPAN));
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(c->cq, deadline, NULL);
        if (ev.type != GRPC_OP_COMPLETE)
            return;
        gop *op = ev.tag;
        gslot *s = op->s;
        s->pending--;
        c->pending--;
        if (op->kind == OP_UNARY) {
            char msg[PERF_MSG];
            bool ok = s->x.code == GRPC_STATUS_OK;
            if (!ok) {
                int n = snprintf(msg, sizeof msg, "%s: ", jn_grpc_status_name(s->x.code));
                jn_unary_exchange_message(&s->x, msg + n, sizeof msg - (size_t)n);
            }
            jn_unary_exchange_finish(&s->x);
            grpc_call_unref(s->call);
            s->call = NULL;
            done(worker, s->index, ok, ok ? NULL : msg);
        } else {
            stream_event(op, ev.success, done, worker);
        }
        deadline = gpr_inf_past(GPR_CLOCK_MONOTONIC); /* then only what is already there */
    }
}

static void ignore_done(void *worker, int slot, bool ok, const char *err)
{
    (void)worker, (void)slot, (void)ok, (void)err;
}

static void grpc_conn_close(perf_conn *c)
{
    for (int i = 0; i < c->n_slots; i++)
        if (c->slots[i].call)
            grpc_call_cancel(c->slots[i].call, NULL);
    while (c->pending > 0)
        grpc_conn_wait(c, jn__perf_now_ns() + 1000000000LL, ignore_done, NULL);
    for (int i = 0; i < c->n_slots; i++) {
        gslot *s = &c->slots[i];
        if (s->call && c->ctx->o->streaming) {
            grpc_metadata_array_destroy(&s->initial_md);
            grpc_metadata_array_destroy(&s->trailing_md);
            grpc_slice_unref(s->details);
            grpc_call_unref(s->call);
        }
    }
    grpc_channel_destroy(c->channel);
    grpc_completion_queue_shutdown(c->cq);
    while (grpc_completion_queue_next(c->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type != GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(c->cq);
    free(c->slots);
    free(c);
    grpc_shutdown();
}

const perf_transport jn__perf_grpc = {
    .name = "grpc",
    .metadata = grpc_model_metadata,
    .stats = grpc_stats,
    .prepare = grpc_prepare,
    .unprepare = grpc_unprepare,
    .conn_open = grpc_conn_open,
    .conn_start = grpc_conn_start,
    .conn_wait = grpc_conn_wait,
    .conn_close = grpc_conn_close,
};
