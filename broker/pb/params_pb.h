/* params_pb.h — request parameters (jn_params) <-> their two protobuf forms, junction.v1.Parameter and KServe v2's
 * inference.InferParameter, both directions in one place: the servers' codecs decode them, the remote engines'
 * clients and the CLI encode them.
 *
 * Ownership: decoding copies into the jn_params (params.h). Encoding fills a request's parameter map in one
 * allocation that borrows every key and string from the jn_params (which must outlive the message); the caller frees
 * it with free(req->parameters). Thread-safety: plain functions over the caller's data.
 */
#ifndef JN_PB_PARAMS_PB_H
#define JN_PB_PARAMS_PB_H

#include "err.h"
#include "inference/grpc_service.pb-c.h"
#include "junction/v1/broker.pb-c.h"
#include "params.h"

/* Adds one parameter of a request to params. JN_EINVAL "parameter 'KEY' has no value" when the message's value is
 * unset; v2's uint64 above INT64_MAX is JN_EINVAL "parameter 'KEY' is too large"; JN_ENOMEM. */
int jn_params_add_v1_pb(jn_params *params, const char *key, const Junction__V1__Parameter *p, jn_err *err);
int jn_params_add_v2_pb(jn_params *params, const char *key, const Inference__InferParameter *p, jn_err *err);

/* Sets req->parameters / n_parameters to params (NULL or empty: none). 0 or JN_ENOMEM. */
int jn_params_to_v1_request(const jn_params *params, Junction__V1__InferRequest *req);
int jn_params_to_v2_request(const jn_params *params, Inference__ModelInferRequest *req);

#endif
