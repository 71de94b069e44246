/* protocol.h — what a remote protocol (KServe v2, junction.v1.Engine) does for a remote engine: describe the model,
 * run one call, check health. The remote engine (remote_engine.c) adds deadlines, retries and the breaker on top.
 *
 * Every function reports the remote's answer in `st` (a grpc status code and message) and returns st->code:
 * 0 = success; problems found on this side (an answer that does not decode, no memory) are INTERNAL or
 * RESOURCE_EXHAUSTED with a message saying what.
 * Ownership: describe fills a caller-initialized signature; read_infer pushes new tensors into `outputs` (they may
 * share the decoded answer's memory through refcounted buffers: no copy).
 * Thread-safety: all may run concurrently (each call uses its own thread's completion queue, or its own curl
 * transfer).
 */
#ifndef JN_REMOTE_PROTOCOL_H
#define JN_REMOTE_PROTOCOL_H

#include <stdbool.h>

#include "endpoint.h"
#include "engine.h"
#include "signature.h"

typedef struct jn_remote_proto {
    const char *name;     /* "kserve_v2", "native" (the --remotes spelling) */
    const char *platform; /* reported as the model's platform */
    int (*describe)(jn_endpoint *ep, const char *model, const char *version, int64_t deadline_ns,
                    jn_signature *sig, bool *streams, jn_call_status *st);
    /* A unary infer call is one exchange: the request packed from the inputs, sent as `infer_method`, and the
     * answer (an `infer_answer` message) read into outputs. The remote engine makes the exchange, blocking or not. */
    jn_remote_method infer_method;
    const ProtobufCMessageDescriptor *infer_answer;
    /* The packed request; NULL with st set. */
    grpc_byte_buffer *(*pack_infer)(const char *model, const char *version, const jn_infer_ctx *ctx,
                                    const jn_tensor_list *inputs, jn_call_status *st);
    /* Takes the answer (freed with the last output tensor that points into it) and appends its outputs; all or
     * nothing. */
    int (*read_infer)(ProtobufCMessage *answer, jn_tensor_list *outputs, jn_call_status *st);
    /* NULL when the protocol has no streaming answers. */
    int (*infer_stream)(jn_endpoint *ep, const char *model, const char *version, const jn_infer_ctx *ctx,
                        const jn_tensor_list *inputs, int64_t deadline_ns, jn_emit_fn emit, void *emit_arg,
                        jn_call_status *st);
    /* 0 when the server and the model are ready. */
    int (*check)(jn_endpoint *ep, const char *model, const char *version, int64_t deadline_ns, jn_call_status *st);
    /* ---- HTTP protocols (openai_client.c, issue #18) ----
     * The endpoint is a URL and its calls go through libcurl (jn_endpoint.http): infer_method, infer_answer,
     * pack_infer and read_infer are unused (NULL), and a unary call is made, blocking, by `infer`. A failed call
     * may set st->retry_after_ms (the remote asked to be retried after that long: a 429 or a 5xx with Retry-After),
     * which makes RESOURCE_EXHAUSTED retryable too. */
    bool http;
    int (*infer)(jn_endpoint *ep, const char *model, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                 int64_t deadline_ns, jn_tensor_list *outputs, jn_call_status *st);
} jn_remote_proto;

extern const jn_remote_proto jn_remote_kserve_v2; /* kserve_client.c */
extern const jn_remote_proto jn_remote_native;    /* native_client.c */
/* OpenAI-compatible servers (openai_client.c), one per kind of engine (option "kind"): chat (messages -> text),
 * completions (prompt -> text), embeddings (text -> embedding). */
extern const jn_remote_proto jn_remote_openai_chat;
extern const jn_remote_proto jn_remote_openai_completions;
extern const jn_remote_proto jn_remote_openai_embeddings;

#endif
