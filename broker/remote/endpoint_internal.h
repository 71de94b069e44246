/* endpoint_internal.h — what the endpoint's files share (endpoint.c: the table; endpoint_call.c: blocking calls and
 * the helpers below; endpoint_async.c: calls nobody waits for; endpoint_stream.c: streams). Private to
 * broker/remote.
 *
 * Thread-safety: all of it may be used from any thread; the completion queue of jn__endpoint_thread_cq belongs to
 * the calling thread.
 */
#ifndef JN_REMOTE_ENDPOINT_INTERNAL_H
#define JN_REMOTE_ENDPOINT_INTERNAL_H

#include <grpc/grpc.h>
#include <grpc/support/time.h>
#include <stdatomic.h>
#include <stdint.h>

#include "endpoint.h"
#include "unary_exchange.h"

/* The method paths, by jn_remote_method ("/junction.v1.Engine/Infer"). */
extern const char *const jn__endpoint_method_paths[JN_RM_COUNT];

/* The calling thread's pluck completion queue (made on first use). */
grpc_completion_queue *jn__endpoint_thread_cq(void);
/* A jn_now_ns() deadline as a gpr_timespec on the monotonic clock (a past deadline is now). */
gpr_timespec jn__endpoint_gpr_deadline(int64_t deadline_ns);
/* Waits for `tag` on cq; cancels the call when *cancelled is set or the core overruns the deadline. */
void jn__endpoint_wait_batch(grpc_completion_queue *cq, grpc_call *call, void *tag, int64_t deadline_ns,
                             const atomic_int *cancelled);
/* st from a received status: its details, else the core's error string, else the status's name. */
void jn__endpoint_copy_status(jn_call_status *st, int code, grpc_slice details, const char *error_string);
/* A finished exchange's outcome: its status, and with OK the answer decoded (0 with *resp, else the status). */
int jn__endpoint_exchange_outcome(const jn_unary_exchange *x, jn_remote_method m,
                                  const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
                                  jn_call_status *st);
/* A call the core refused to start: INTERNAL naming the method. */
int jn__endpoint_start_failed(jn_remote_method m, grpc_call_error ce, jn_call_status *st);

#endif
