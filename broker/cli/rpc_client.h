/* rpc_client.h — the C-core gRPC client plumbing the client commands share (models_cmd.c, infer_cmd.c, eval_cmd.c):
 * one insecure channel, one completion queue, unary calls under one command-wide deadline; and the flags the models
 * and infer commands have in common (--server, --timeout-ms, --json).
 *
 * Ownership: jn_cli_rpc_unary hands back a response the caller frees with protobuf_c_message_free_unpacked.
 * Thread-safety: one jn_cli_rpc per thread.
 */
#ifndef JN_CLI_RPC_CLIENT_H
#define JN_CLI_RPC_CLIENT_H

#include <stdbool.h>

#include <grpc/grpc.h>
#include <grpc/support/time.h>
#include <protobuf-c/protobuf-c.h>

typedef struct jn_cli_rpc {
    const char *server;
    int timeout_ms;
    grpc_channel *channel;
    grpc_completion_queue *cq;
    gpr_timespec deadline;
} jn_cli_rpc;

typedef struct jn_cli_rpc_status {
    grpc_status_code code;
    char message[2048];
} jn_cli_rpc_status;

/* Opens the channel; every call made on it must finish within timeout_ms from now. */
void jn_cli_rpc_open(jn_cli_rpc *r, const char *server, int timeout_ms);
void jn_cli_rpc_close(jn_cli_rpc *r);
/* One unary call in one batch. Returns 0 with *resp set (free with protobuf_c_message_free_unpacked) when the
 * status is OK and the response decodes; otherwise -1 with st filled (an undecodable response is INTERNAL). */
int jn_cli_rpc_unary(jn_cli_rpc *r, const char *method, const ProtobufCMessage *req,
                     const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp, jn_cli_rpc_status *st);
/* "junction CMD: STATUS: message" on stderr, with a hint for UNAVAILABLE and DEADLINE_EXCEEDED. */
void jn_cli_print_status(const char *cmd, const jn_cli_rpc *r, const jn_cli_rpc_status *st);

#define JN__CLI_STR(x) #x
#define JN__CLI_XSTR(x) JN__CLI_STR(x)
#define JN_CLI_DEFAULT_SERVER JN_DEFAULT_HOST ":" JN__CLI_XSTR(JN_DEFAULT_GRPC_PORT) /* cli.h's defaults */
#define JN_CLI_DEFAULT_TIMEOUT_MS 10000

typedef struct jn_cli_common_opts {
    const char *server;
    int timeout_ms;
    bool json;
} jn_cli_common_opts;

/* Does argv[*i] name the flag `name` that takes a value ("--name V" or "--name=V")? Returns 1 and sets *value
 * (advancing *i past a separate value), 0 if it is another flag, -1 (after a message) when the value is missing. */
int jn_cli_flag_value(const char *cmd, int argc, char **argv, int *i, const char *name, const char **value);
/* The flags every client command takes. Returns 1 if argv[*i] was one, 0 if not, -1 on a bad value (reported). */
int jn_cli_common_flag(const char *cmd, int argc, char **argv, int *i, jn_cli_common_opts *o);
/* "unknown option" or "unexpected argument" on stderr. */
void jn_cli_unknown_flag(const char *cmd, const char *arg);

#endif
