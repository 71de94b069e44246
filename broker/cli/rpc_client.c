/* rpc_client.c — the C-core gRPC client plumbing and the common flags of the client commands (rpc_client.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "cli.h"
#include "err.h"
#include "rpc_client.h"
#include "unary_exchange.h"

#define MAX_TIMEOUT_MS (24 * 3600 * 1000)
/* Extra time the completion queue waits past the call deadline before cancelling the call itself. */
#define CQ_GRACE_MS 5000

/* gRPC: one channel, one completion queue, unary calls --------------------------------------------------------- */

void jn_cli_rpc_open(jn_cli_rpc *r, const char *server, int timeout_ms)
{
    grpc_init();
    /* Outputs can be large tensors: no receive limit on the client side. */
    grpc_arg arg = {.type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, .value.integer = -1};
    grpc_channel_args args = {.num_args = 1, .args = &arg};
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    r->server = server;
    r->timeout_ms = timeout_ms;
    r->channel = grpc_channel_create(server, creds, &args);
    grpc_channel_credentials_release(creds);
    r->cq = grpc_completion_queue_create_for_next(NULL);
    r->deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
}

void jn_cli_rpc_close(jn_cli_rpc *r)
{
    grpc_channel_destroy(r->channel);
    grpc_completion_queue_shutdown(r->cq);
    while (grpc_completion_queue_next(r->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type != GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(r->cq);
    grpc_shutdown();
}

int jn_cli_rpc_unary(jn_cli_rpc *r, const char *method, const ProtobufCMessage *req,
                     const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp, jn_cli_rpc_status *st)
{
    *resp = NULL;
    st->code = GRPC_STATUS_UNKNOWN;
    st->message[0] = '\0';

    grpc_call *call = grpc_channel_create_call(r->channel, NULL, GRPC_PROPAGATE_DEFAULTS, r->cq,
                                               grpc_slice_from_static_string(method), NULL, r->deadline, NULL);
    jn_unary_exchange x;
    grpc_call_error ce = jn_unary_exchange_start(&x, call, req, &x);
    if (ce != GRPC_CALL_OK) {
        st->code = GRPC_STATUS_INTERNAL;
        snprintf(st->message, sizeof st->message, "cannot start the %s call (grpc_call_error %d)", method, (int)ce);
    } else {
        /* The call has a deadline, so the batch completes; the grace timeout only guards against a stuck core. */
        gpr_timespec give_up = gpr_time_add(r->deadline, gpr_time_from_millis(CQ_GRACE_MS, GPR_TIMESPAN));
        grpc_event ev = grpc_completion_queue_next(r->cq, give_up, NULL);
        if (ev.type == GRPC_QUEUE_TIMEOUT) {
            grpc_call_cancel(call, NULL);
            ev = grpc_completion_queue_next(r->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        }
        st->code = x.code;
        jn_unary_exchange_message(&x, st->message, sizeof st->message);
        if (x.code == GRPC_STATUS_OK) {
            jn_err err;
            jn_err_clear(&err);
            *resp = jn_unary_exchange_answer(&x, resp_desc, &err);
            if (!*resp) {
                st->code = GRPC_STATUS_INTERNAL;
                snprintf(st->message, sizeof st->message, "bad response from %s: %s", r->server, err.msg);
            }
        }
    }
    jn_unary_exchange_finish(&x);
    grpc_call_unref(call);
    return *resp ? 0 : -1;
}

void jn_cli_print_status(const char *cmd, const jn_cli_rpc *r, const jn_cli_rpc_status *st)
{
    fprintf(stderr, "junction %s: %s: %s", cmd, jn_grpc_status_name(st->code), st->message);
    if (st->code == GRPC_STATUS_UNAVAILABLE)
        fprintf(stderr, " (is a broker serving gRPC on %s?)", r->server);
    else if (st->code == GRPC_STATUS_DEADLINE_EXCEEDED)
        fprintf(stderr, " (--timeout-ms %d)", r->timeout_ms);
    fputc('\n', stderr);
}

/* Command-line flags -------------------------------------------------------------------------------------------- */

/* Does argv[*i] name the flag `name` that takes a value ("--name V" or "--name=V")? Returns 1 and sets *value
 * (advancing *i past a separate value), 0 if it is another flag, -1 (after a message) when the value is missing. */
int jn_cli_flag_value(const char *cmd, int argc, char **argv, int *i, const char *name, const char **value)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *value = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "junction %s: %s needs a value\n", cmd, name);
        return -1;
    }
    *value = argv[++*i];
    return 1;
}

/* The flags every client command takes. Returns 1 if argv[*i] was one, 0 if not, -1 on a bad value (reported). */
int jn_cli_common_flag(const char *cmd, int argc, char **argv, int *i, jn_cli_common_opts *o)
{
    const char *v;
    int r;
    if (strcmp(argv[*i], "--json") == 0) {
        o->json = true;
        return 1;
    }
    if ((r = jn_cli_flag_value(cmd, argc, argv, i, "--server", &v)) != 0) {
        if (r < 0)
            return -1;
        if (!*v) {
            fprintf(stderr, "junction %s: --server needs HOST:PORT, got an empty value\n", cmd);
            return -1;
        }
        o->server = v;
        return 1;
    }
    if ((r = jn_cli_flag_value(cmd, argc, argv, i, "--timeout-ms", &v)) != 0) {
        if (r < 0)
            return -1;
        char *end;
        errno = 0;
        long ms = strtol(v, &end, 10);
        if (errno || end == v || *end || ms <= 0 || ms > MAX_TIMEOUT_MS) {
            fprintf(stderr, "junction %s: --timeout-ms: '%s' is not a number of milliseconds in 1..%d\n", cmd, v,
                    MAX_TIMEOUT_MS);
            return -1;
        }
        o->timeout_ms = (int)ms;
        return 1;
    }
    return 0;
}

void jn_cli_unknown_flag(const char *cmd, const char *arg)
{
    if (arg[0] == '-')
        fprintf(stderr, "junction %s: unknown option '%s'\n", cmd, arg);
    else
        fprintf(stderr, "junction %s: unexpected argument '%s'\n", cmd, arg);
}

