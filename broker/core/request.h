/* request.h — the internal inference request every front end decodes into (junction.v1 gRPC, v2 gRPC, and later
 * REST/JSON), so resolution, validation and execution are written once.
 *
 * Ownership: a jn_request owns its strings, its input tensors (which may borrow the decoded wire message through
 * their refcounted buffers) and its parameters; jn_request_clear frees everything.
 */
#ifndef JN_REQUEST_H
#define JN_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "params.h"
#include "tensor.h"

typedef struct jn_request {
    char *model;   /* never NULL after jn_request_set_target */
    char *version; /* "" = current */
    char *id;      /* "" when the caller gave none */
    jn_tensor_list inputs;
    char **outputs; /* requested output names; none = all of the signature's */
    size_t n_outputs;
    jn_params params;
    int64_t deadline_ns; /* CLOCK_MONOTONIC, 0 = none */
    /* Parameters of the answer, set while the request runs (the dispatcher hands them to the engine as
     * jn_infer_ctx.answer: a pipeline's "route.<step>"); the encoders write them into the response. */
    jn_params answer;
} jn_request;

void jn_request_init(jn_request *req);
void jn_request_clear(jn_request *req);
/* Copies the strings (NULL -> ""). 0 or JN_ENOMEM. */
int jn_request_set_target(jn_request *req, const char *model, const char *version, const char *id);
/* Appends a requested output name (copied). 0 or JN_ENOMEM. */
int jn_request_add_output(jn_request *req, const char *name);

#endif
