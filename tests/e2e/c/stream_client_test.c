/* stream_client_test.c — end to end with the gRPC C core client against the real junction binary.
 *
 *   stream_client_test /path/to/junction
 *
 * Starts `junction serve --grpc-port 0 --http-port 0 --host 127.0.0.1` (HTTP off), reads the port from its ready
 * line, then:
 *   1. one junction.v1.Broker/InferStream call carrying 1000 identity requests, one SEND_MESSAGE in flight at a
 *      time while a separate RECV_MESSAGE batch reads concurrently: every id answered exactly once with its own
 *      input, then a half-close and status OK;
 *   2. unary inference.GRPCInferenceService/ModelInfer with raw_input_contents: raw_output_contents is the input
 *      and the id is echoed;
 *   3. unary Infer on model "nope": NOT_FOUND naming the model;
 * and finally SIGTERM, expecting exit status 0. Prints one line per check and `N passed, M failed`; exits 1 on any
 * failure. Deadlines exist only so that nothing hangs.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "inference/grpc_service.pb-c.h"
#include "junction/v1/broker.pb-c.h"

#include "pb.h"

#define STREAM_REQUESTS 1000
#define READY_TIMEOUT_MS 30000
#define EXIT_TIMEOUT_MS 20000
#define CALL_TIMEOUT_MS 60000
/* With every request sent, half-close anyway when no response came for this long (the count check then fails). */
#define STALL_MS 10000

/* Checks --------------------------------------------------------------------------------------------------------- */

typedef struct tally {
    int passed;
    int failed;
} tally;

__attribute__((format(printf, 5, 6))) static bool check(tally *t, bool ok, const char *file, int line, const char *fmt,
                                                        ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (ok) {
        t->passed++;
        printf("ok   %s\n", msg);
    } else {
        t->failed++;
        printf("FAIL %s (%s:%d)\n", msg, file, line);
    }
    fflush(stdout);
    return ok;
}

#define CHECK(t, cond, ...) check((t), (cond), __FILE__, __LINE__, __VA_ARGS__)
#define CHECK_INT_EQ(t, got, want, what)                                                                               \
    check((t), (long long)(got) == (long long)(want), __FILE__, __LINE__, "%s: got %lld, want %lld", (what),           \
          (long long)(got), (long long)(want))
#define CHECK_STR_EQ(t, got, want, what)                                                                               \
    check((t), strcmp((got), (want)) == 0, __FILE__, __LINE__, "%s: got \"%s\", want \"%s\"", (what), (got), (want))

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static gpr_timespec deadline_in(int ms)
{
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

static const char *status_name(grpc_status_code code)
{
    static const char *const names[] = {
        "OK",        "CANCELLED",       "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
        "NOT_FOUND", "ALREADY_EXISTS",  "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
        "ABORTED",   "OUT_OF_RANGE",    "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
        "DATA_LOSS", "UNAUTHENTICATED",
    };
    return (unsigned)code < sizeof names / sizeof names[0] ? names[code] : "?";
}

/* The server process --------------------------------------------------------------------------------------------- */

typedef struct server {
    pid_t pid;
    int out_fd; /* the read end of its stdout */
    int port;
    pthread_t drain;
    bool draining;
} server;

/* Copies the server's remaining stdout to ours so it can never block on a full pipe. */
static void *drain_stdout(void *arg)
{
    server *s = arg;
    char buf[4096];
    ssize_t n;
    while ((n = read(s->out_fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
        if (n > 0) {
            fwrite(buf, 1, (size_t)n, stdout);
            fflush(stdout);
        }
    return NULL;
}

/* Starts the binary and waits for `junction: serving gRPC on 127.0.0.1:PORT`. */
static bool server_start(tally *t, server *s, const char *bin)
{
    memset(s, 0, sizeof *s);
    s->pid = -1;
    int p[2];
    if (pipe(p) != 0)
        return CHECK(t, false, "pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
        return CHECK(t, false, "fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a crashed test */
        dup2(p[1], STDOUT_FILENO);
        close(p[0]);
        close(p[1]);
        execl(bin, bin, "serve", "--grpc-port", "0", "--http-port", "0", "--host", "127.0.0.1", "--state-dir", "none",
              (char *)NULL);
        fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    close(p[1]);
    s->pid = pid;
    s->out_fd = p[0];

    char line[512];
    size_t len = 0;
    int64_t give_up = now_ms() + READY_TIMEOUT_MS;
    bool eof = false;
    while (len < sizeof line - 1 && !memchr(line, '\n', len) && !eof) {
        int left = (int)(give_up - now_ms());
        if (left <= 0)
            break;
        struct pollfd pfd = {.fd = s->out_fd, .events = POLLIN};
        int rc = poll(&pfd, 1, left);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            break;
        ssize_t n = read(s->out_fd, line + len, sizeof line - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            eof = true;
        else
            len += (size_t)n;
    }
    line[len] = '\0';
    char *nl = strchr(line, '\n');
    if (nl)
        *nl = '\0';
    s->draining = pthread_create(&s->drain, NULL, drain_stdout, s) == 0;

    static const char prefix[] = "junction: serving gRPC on 127.0.0.1:";
    int port = 0, used = 0;
    bool ok = nl && strncmp(line, prefix, sizeof prefix - 1) == 0 &&
              sscanf(line + sizeof prefix - 1, "%d%n", &port, &used) == 1 &&
              line[sizeof prefix - 1 + (size_t)used] == '\0' && port > 0 && port < 65536;
    s->port = port;
    return CHECK(t, ok, "server ready line: \"%s\"%s", line, nl ? "" : eof ? " (stdout closed)" : " (timed out)");
}

/* SIGTERM, then waits for the exit; expects status 0. Kills it if it does not stop in time. */
static void server_stop(tally *t, server *s)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGTERM);
    int status = 0;
    pid_t got = 0;
    int64_t give_up = now_ms() + EXIT_TIMEOUT_MS;
    while ((got = waitpid(s->pid, &status, WNOHANG)) == 0 && now_ms() < give_up) {
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    if (got == 0) {
        CHECK(t, false, "server exits within %d ms of SIGTERM", EXIT_TIMEOUT_MS);
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &status, 0);
    } else if (WIFSIGNALED(status)) {
        CHECK(t, false, "server exits with status 0 after SIGTERM: killed by signal %d", WTERMSIG(status));
    } else {
        CHECK_INT_EQ(t, WEXITSTATUS(status), 0, "server exit status after SIGTERM");
    }
    s->pid = -1;
    if (s->draining)
        pthread_join(s->drain, NULL);
    close(s->out_fd);
}

/* Unary calls ---------------------------------------------------------------------------------------------------- */

typedef struct unary_result {
    grpc_status_code code;
    char details[1024];
    ProtobufCMessage *resp; /* decoded response when code is OK; free with protobuf_c_message_free_unpacked */
} unary_result;

static void unary(grpc_channel *ch, grpc_completion_queue *cq, const char *method, const ProtobufCMessage *req,
                  const ProtobufCMessageDescriptor *resp_desc, unary_result *out)
{
    memset(out, 0, sizeof *out);
    grpc_call *call =
        grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, grpc_slice_from_static_string(method), NULL,
                                 deadline_in(CALL_TIMEOUT_MS), NULL);
    grpc_byte_buffer *send = jn_pb_pack(req), *recv = NULL;
    grpc_metadata_array initial_md, trailing_md;
    grpc_metadata_array_init(&initial_md);
    grpc_metadata_array_init(&trailing_md);
    grpc_slice details = grpc_empty_slice();
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trailing_md;
    ops[5].data.recv_status_on_client.status = &out->code;
    ops[5].data.recv_status_on_client.status_details = &details;
    grpc_call_error ce = grpc_call_start_batch(call, ops, 6, ops, NULL);
    if (ce != GRPC_CALL_OK) {
        out->code = GRPC_STATUS_INTERNAL;
        snprintf(out->details, sizeof out->details, "grpc_call_start_batch: %d", (int)ce);
    } else {
        grpc_event ev = grpc_completion_queue_next(cq, deadline_in(CALL_TIMEOUT_MS + 10000), NULL);
        if (ev.type == GRPC_QUEUE_TIMEOUT) {
            grpc_call_cancel(call, NULL);
            grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        }
        snprintf(out->details, sizeof out->details, "%.*s", (int)GRPC_SLICE_LENGTH(details),
                 (const char *)GRPC_SLICE_START_PTR(details));
        if (out->code == GRPC_STATUS_OK) {
            jn_err err;
            out->resp = jn_pb_unpack(resp_desc, recv, &err);
            if (!out->resp) {
                out->code = GRPC_STATUS_INTERNAL;
                snprintf(out->details, sizeof out->details, "response does not decode: %s", err.msg);
            }
        }
    }
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&initial_md);
    grpc_metadata_array_destroy(&trailing_md);
    grpc_byte_buffer_destroy(send);
    if (recv)
        grpc_byte_buffer_destroy(recv);
    grpc_call_unref(call);
}

/* Request payloads ----------------------------------------------------------------------------------------------- */

static void put_f32le(uint8_t *p, float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(bits >> (8 * i));
}

/* Four floats derived from i, little-endian. */
static void stream_input(int i, uint8_t out[16])
{
    const float v[4] = {(float)i, (float)i + 0.5f, -(float)i, (float)i * 0.25f - 3.0f};
    for (int k = 0; k < 4; k++)
        put_f32le(out + 4 * k, v[k]);
}

/* An identity request for model/id over a FP32[1,4] tensor; *bytes must stay alive while it is packed. */
static void identity_request(Junction__V1__InferRequest *req, Junction__V1__Value *val, Junction__V1__Value **vals,
                             Junction__V1__Tensor *tensor, int64_t shape[2], const char *model, char *id,
                             uint8_t *bytes)
{
    junction__v1__infer_request__init(req);
    junction__v1__value__init(val);
    junction__v1__tensor__init(tensor);
    shape[0] = 1;
    shape[1] = 4;
    tensor->name = "input";
    tensor->datatype = JUNCTION__V1__DATA_TYPE__FP32;
    tensor->n_shape = 2;
    tensor->shape = shape;
    tensor->raw.data = bytes;
    tensor->raw.len = 16;
    val->name = "input";
    val->value_case = JUNCTION__V1__VALUE__VALUE_TENSOR;
    val->tensor = tensor;
    vals[0] = val;
    req->model = (char *)model;
    req->id = id;
    req->n_inputs = 1;
    req->inputs = vals;
}

static grpc_byte_buffer *pack_stream_request(int i)
{
    Junction__V1__InferRequest req;
    Junction__V1__Value val, *vals[1];
    Junction__V1__Tensor tensor;
    int64_t shape[2];
    uint8_t bytes[16];
    char id[32];
    snprintf(id, sizeof id, "req-%d", i);
    stream_input(i, bytes);
    identity_request(&req, &val, vals, &tensor, shape, "identity", id, bytes);
    return jn_pb_pack(&req.base);
}

/* 1. InferStream ------------------------------------------------------------------------------------------------- */

enum { TAG_SEND_MD = 1, TAG_RECV_MD, TAG_STATUS, TAG_WRITE, TAG_READ, TAG_CLOSE };
#define TAG(x) ((void *)(intptr_t)(x))

typedef struct stream_stats {
    int received;    /* messages read */
    int unique;      /* distinct valid ids */
    int undecodable; /* messages that do not parse */
    int bad_id;      /* ids that are not req-<0..999> */
    int duplicate;   /* ids seen before */
    int with_error;  /* responses whose `error` is set */
    int mismatch;    /* outputs that are not the request's input as FP32[1,4] "output" */
    char first_problem[512];
} stream_stats;

static void note(stream_stats *st, int *counter, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void note(stream_stats *st, int *counter, const char *fmt, ...)
{
    (*counter)++;
    if (st->first_problem[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->first_problem, sizeof st->first_problem, fmt, ap);
    va_end(ap);
}

static void check_stream_response(stream_stats *st, bool *seen, grpc_byte_buffer *bb)
{
    jn_err err;
    Junction__V1__InferResponse *r =
        (Junction__V1__InferResponse *)jn_pb_unpack(&junction__v1__infer_response__descriptor, bb, &err);
    st->received++;
    if (!r) {
        note(st, &st->undecodable, "undecodable response: %s", err.msg);
        return;
    }
    int i = -1, used = 0;
    if (sscanf(r->id, "req-%d%n", &i, &used) != 1 || r->id[used] != '\0' || i < 0 || i >= STREAM_REQUESTS) {
        note(st, &st->bad_id, "unexpected id \"%s\"", r->id);
    } else if (seen[i]) {
        note(st, &st->duplicate, "id \"%s\" answered twice", r->id);
    } else {
        seen[i] = true;
        st->unique++;
        uint8_t want[16];
        stream_input(i, want);
        const Junction__V1__Value *v = r->n_outputs == 1 ? r->outputs[0] : NULL;
        const Junction__V1__Tensor *t = v && v->value_case == JUNCTION__V1__VALUE__VALUE_TENSOR ? v->tensor : NULL;
        if (r->error && (r->error->code != 0 || r->error->message[0]))
            note(st, &st->with_error, "id \"%s\" failed: code %d: %s", r->id, r->error->code, r->error->message);
        else if (!t)
            note(st, &st->mismatch, "id \"%s\": %zu outputs, want one tensor value", r->id, r->n_outputs);
        else if (strcmp(v->name, "output") != 0 || t->datatype != JUNCTION__V1__DATA_TYPE__FP32 || t->n_shape != 2 ||
                 t->shape[0] != 1 || t->shape[1] != 4)
            note(st, &st->mismatch, "id \"%s\": output \"%s\" datatype %d rank %zu, want \"output\" FP32[1,4]", r->id,
                 v->name, (int)t->datatype, t->n_shape);
        else if (t->raw.len != 16 || memcmp(t->raw.data, want, 16) != 0)
            note(st, &st->mismatch, "id \"%s\": output bytes (%zu) differ from the input", r->id, t->raw.len);
    }
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* Batches started on one call and not yet completed. */
typedef struct batches {
    grpc_call *call;
    int pending;
    int start_errors;
} batches;

/* Starts a one-op batch. */
static void start_op(batches *b, grpc_op op, int tag)
{
    if (grpc_call_start_batch(b->call, &op, 1, TAG(tag), NULL) == GRPC_CALL_OK)
        b->pending++;
    else
        b->start_errors++;
}

static void test_infer_stream(tally *t, grpc_channel *ch, grpc_completion_queue *cq)
{
    gpr_timespec deadline = deadline_in(CALL_TIMEOUT_MS);
    grpc_call *call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
                                               grpc_slice_from_static_string("/junction.v1.Broker/InferStream"), NULL,
                                               deadline, NULL);
    grpc_metadata_array initial_md, trailing_md;
    grpc_metadata_array_init(&initial_md);
    grpc_metadata_array_init(&trailing_md);
    grpc_status_code code = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    grpc_byte_buffer *send_bb = NULL, *recv_bb = NULL;
    bool *seen = calloc(STREAM_REQUESTS, sizeof *seen);
    stream_stats st;
    memset(&st, 0, sizeof st);
    int sent = 0, failed_writes = 0;
    bool reading = true, closed = false, got_status = false, timed_out = false;
    int64_t last_progress = now_ms();

    /* Each op its own batch (a batch holds the slot of its first op until it all completes): metadata, status,
     * one write and one read may all be outstanding at once. */
    batches b = {call, 0, 0};
    start_op(&b, (grpc_op){.op = GRPC_OP_SEND_INITIAL_METADATA}, TAG_SEND_MD);
    start_op(
        &b,
        (grpc_op){.op = GRPC_OP_RECV_INITIAL_METADATA, .data.recv_initial_metadata.recv_initial_metadata = &initial_md},
        TAG_RECV_MD);
    start_op(&b,
             (grpc_op){.op = GRPC_OP_RECV_STATUS_ON_CLIENT,
                       .data.recv_status_on_client = {.trailing_metadata = &trailing_md,
                                                      .status = &code,
                                                      .status_details = &details}},
             TAG_STATUS);
    send_bb = pack_stream_request(sent);
    start_op(&b, (grpc_op){.op = GRPC_OP_SEND_MESSAGE, .data.send_message.send_message = send_bb}, TAG_WRITE);
    start_op(&b, (grpc_op){.op = GRPC_OP_RECV_MESSAGE, .data.recv_message.recv_message = &recv_bb}, TAG_READ);

    while (b.pending > 0) {
        grpc_event ev = grpc_completion_queue_next(cq, deadline_in(timed_out ? 60000 : 500), NULL);
        if (ev.type == GRPC_QUEUE_TIMEOUT) {
            if (timed_out || gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC),
                                          gpr_time_add(deadline, gpr_time_from_millis(10000, GPR_TIMESPAN))) > 0) {
                timed_out = true;
                grpc_call_cancel(call, NULL);
            } else if (!closed && sent == STREAM_REQUESTS && !send_bb && now_ms() - last_progress > STALL_MS) {
                /* Every request sent, responses stalled: half-close so the status tells us what happened. */
                closed = true;
                start_op(&b, (grpc_op){.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT}, TAG_CLOSE);
            }
            continue;
        }
        b.pending--;
        switch ((intptr_t)ev.tag) {
        case TAG_WRITE:
            grpc_byte_buffer_destroy(send_bb);
            send_bb = NULL;
            last_progress = now_ms();
            if (!ev.success) {
                failed_writes++;
                break;
            }
            if (++sent < STREAM_REQUESTS) {
                send_bb = pack_stream_request(sent);
                start_op(&b, (grpc_op){.op = GRPC_OP_SEND_MESSAGE, .data.send_message.send_message = send_bb},
                         TAG_WRITE);
            }
            break;
        case TAG_READ:
            last_progress = now_ms();
            if (ev.success && recv_bb) {
                check_stream_response(&st, seen, recv_bb);
                grpc_byte_buffer_destroy(recv_bb);
                recv_bb = NULL;
                start_op(&b, (grpc_op){.op = GRPC_OP_RECV_MESSAGE, .data.recv_message.recv_message = &recv_bb},
                         TAG_READ);
            } else {
                reading = false; /* the server ended the stream (or the call failed) */
            }
            break;
        case TAG_STATUS:
            got_status = true;
            break;
        default:
            break;
        }
        /* Half-close once every request went out and every answer came back. */
        if (!closed && sent == STREAM_REQUESTS && !send_bb && st.received >= STREAM_REQUESTS) {
            closed = true;
            start_op(&b, (grpc_op){.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT}, TAG_CLOSE);
        }
    }

    CHECK_INT_EQ(t, b.start_errors, 0, "InferStream: grpc_call_start_batch errors");
    CHECK(t, !timed_out, "InferStream: finishes before its deadline");
    CHECK_INT_EQ(t, sent, STREAM_REQUESTS, "InferStream: requests sent (one write in flight at a time)");
    CHECK_INT_EQ(t, failed_writes, 0, "InferStream: failed writes");
    CHECK_INT_EQ(t, st.received, STREAM_REQUESTS, "InferStream: responses received");
    CHECK_INT_EQ(t, st.unique, STREAM_REQUESTS, "InferStream: distinct request ids answered");
    CHECK(t, st.undecodable + st.bad_id + st.duplicate == 0,
          "InferStream: every response decodes and answers a distinct req-<i> (undecodable %d, bad id %d, "
          "duplicate %d%s%s)",
          st.undecodable, st.bad_id, st.duplicate, st.first_problem[0] ? "; first: " : "", st.first_problem);
    CHECK(t, st.with_error + st.mismatch == 0,
          "InferStream: every output equals its input (failed %d, mismatched %d%s%s)", st.with_error, st.mismatch,
          st.first_problem[0] ? "; first: " : "", st.first_problem);
    CHECK(t, closed, "InferStream: half-closed after all responses");
    CHECK(t, !reading, "InferStream: the server ended the response stream");
    CHECK(t, got_status && code == GRPC_STATUS_OK, "InferStream: status after half-close: %s (%s) \"%.*s\"",
          got_status ? "received" : "missing", status_name(code), (int)GRPC_SLICE_LENGTH(details),
          (const char *)GRPC_SLICE_START_PTR(details));

    if (send_bb)
        grpc_byte_buffer_destroy(send_bb);
    if (recv_bb)
        grpc_byte_buffer_destroy(recv_bb);
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&initial_md);
    grpc_metadata_array_destroy(&trailing_md);
    grpc_call_unref(call);
    free(seen);
}

/* 2. KServe v2 ModelInfer with raw contents --------------------------------------------------------------------- */

static void test_v2_model_infer(tally *t, grpc_channel *ch, grpc_completion_queue *cq)
{
    uint8_t bytes[24];
    for (int k = 0; k < 6; k++)
        put_f32le(bytes + 4 * k, (float)k * 1.25f - 2.0f);
    int64_t shape[2] = {2, 3};
    Inference__ModelInferRequest__InferInputTensor in = INFERENCE__MODEL_INFER_REQUEST__INFER_INPUT_TENSOR__INIT;
    in.name = "input";
    in.datatype = "FP32";
    in.n_shape = 2;
    in.shape = shape;
    Inference__ModelInferRequest__InferInputTensor *inputs[1] = {&in};
    ProtobufCBinaryData raw = {sizeof bytes, bytes};
    Inference__ModelInferRequest req = INFERENCE__MODEL_INFER_REQUEST__INIT;
    req.model_name = "identity";
    req.id = "v2-raw-7";
    req.n_inputs = 1;
    req.inputs = inputs;
    req.n_raw_input_contents = 1;
    req.raw_input_contents = &raw;

    unary_result res;
    unary(ch, cq, "/inference.GRPCInferenceService/ModelInfer", &req.base, &inference__model_infer_response__descriptor,
          &res);
    if (!CHECK(t, res.code == GRPC_STATUS_OK, "ModelInfer: status %s \"%s\"", status_name(res.code), res.details))
        return;
    const Inference__ModelInferResponse *r = (const Inference__ModelInferResponse *)res.resp;
    CHECK_STR_EQ(t, r->id, "v2-raw-7", "ModelInfer: echoed id");
    CHECK_STR_EQ(t, r->model_name, "identity", "ModelInfer: model_name");
    if (CHECK_INT_EQ(t, r->n_outputs, 1, "ModelInfer: outputs")) {
        const Inference__ModelInferResponse__InferOutputTensor *o = r->outputs[0];
        CHECK_STR_EQ(t, o->name, "output", "ModelInfer: output name");
        CHECK_STR_EQ(t, o->datatype, "FP32", "ModelInfer: output datatype");
        CHECK(t, o->n_shape == 2 && o->shape[0] == 2 && o->shape[1] == 3,
              "ModelInfer: output shape is [2,3] (rank %zu)", o->n_shape);
    }
    if (CHECK_INT_EQ(t, r->n_raw_output_contents, 1, "ModelInfer: raw_output_contents entries"))
        CHECK(t,
              r->raw_output_contents[0].len == sizeof bytes &&
                  memcmp(r->raw_output_contents[0].data, bytes, sizeof bytes) == 0,
              "ModelInfer: raw_output_contents equals the input (%zu bytes, want %zu)", r->raw_output_contents[0].len,
              sizeof bytes);
    protobuf_c_message_free_unpacked(res.resp, NULL);
}

/* 3. Unknown model ----------------------------------------------------------------------------------------------- */

static void test_unknown_model(tally *t, grpc_channel *ch, grpc_completion_queue *cq)
{
    Junction__V1__InferRequest req;
    Junction__V1__Value val, *vals[1];
    Junction__V1__Tensor tensor;
    int64_t shape[2];
    uint8_t bytes[16];
    stream_input(3, bytes);
    identity_request(&req, &val, vals, &tensor, shape, "nope", "unknown-1", bytes);
    unary_result res;
    unary(ch, cq, "/junction.v1.Broker/Infer", &req.base, &junction__v1__infer_response__descriptor, &res);
    CHECK(t, res.code == GRPC_STATUS_NOT_FOUND, "Infer on model \"nope\": status %s, want NOT_FOUND (\"%s\")",
          status_name(res.code), res.details);
    CHECK(t, strstr(res.details, "nope") != NULL, "Infer on model \"nope\": message names the model: \"%s\"",
          res.details);
    if (res.resp)
        protobuf_c_message_free_unpacked(res.resp, NULL);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s /path/to/junction\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    tally t = {0, 0};
    server srv;
    /* Fork before grpc_init: the child must not inherit gRPC's threads. */
    if (server_start(&t, &srv, argv[1])) {
        char target[64];
        snprintf(target, sizeof target, "127.0.0.1:%d", srv.port);
        grpc_init();
        grpc_channel_credentials *creds = grpc_insecure_credentials_create();
        grpc_channel *ch = grpc_channel_create(target, creds, NULL);
        grpc_channel_credentials_release(creds);
        grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);

        test_infer_stream(&t, ch, cq);
        test_v2_model_infer(&t, ch, cq);
        test_unknown_model(&t, ch, cq);

        grpc_channel_destroy(ch);
        grpc_completion_queue_shutdown(cq);
        while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type != GRPC_QUEUE_SHUTDOWN)
            ;
        grpc_completion_queue_destroy(cq);
        grpc_shutdown();
    }
    server_stop(&t, &srv);
    printf("%d passed, %d failed\n", t.passed, t.failed);
    return t.failed ? 1 : 0;
}
