/* client.h — the C-core gRPC client plumbing the client commands share (client.c: models, infer; eval_cmd.c):
 * one insecure channel, one completion queue, unary calls under one command-wide deadline.
 *
 * Ownership: jn_cli_rpc_unary hands back a response the caller frees with protobuf_c_message_free_unpacked.
 * Thread-safety: one jn_cli_rpc per thread.
 */
#ifndef JN_CLI_CLIENT_H
#define JN_CLI_CLIENT_H

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

#endif
