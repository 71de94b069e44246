/* native_client.c — a remote model over junction.v1.Engine (engine.proto): Describe -> signature, Infer and
 * InferStream with junction.v1 InferRequest/InferResponse, grpc.health.v1 Check for health. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc/health/v1/health.pb-c.h"
#include "junction/v1/engine.pb-c.h"
#include "params_pb.h"
#include "protocol.h"
#include "signature_pb.h"
#include "wire.h"

/* ---- describe ---- */

static int native_describe(jn_endpoint *ep, const char *model, const char *version, int64_t deadline_ns,
                           jn_signature *sig, bool *streams, jn_call_status *st)
{
    Junction__V1__DescribeRequest req = JUNCTION__V1__DESCRIBE_REQUEST__INIT;
    req.model = (char *)model;
    req.version = (char *)version;
    ProtobufCMessage *m;
    int rc = jn_endpoint_unary(ep, JN_RM_ENGINE_DESCRIBE, &req.base, &junction__v1__describe_response__descriptor,
                               deadline_ns, NULL, &m, st);
    if (rc)
        return rc;
    Junction__V1__DescribeResponse *r = (Junction__V1__DescribeResponse *)m;
    *streams = r->streams;
    jn_err err;
    jn_err_clear(&err);
    if (!r->signature)
        rc = jn_call_status_set(st, GRPC_STATUS_INTERNAL, "the remote's Describe answer has no signature");
    else if (jn_signature_from_pb(sig, r->signature, &err))
        rc = jn_call_status_set(st, GRPC_STATUS_INTERNAL, "the remote's signature: %s", err.msg);
    if (!rc && !sig->n_outputs)
        rc = jn_call_status_set(st, GRPC_STATUS_INTERNAL, "the remote's signature declares no outputs");
    protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

/* ---- requests and answers ---- */

/* Everything a junction.v1.InferRequest built over borrowed tensors needs until it is packed. */
typedef struct request_parts {
    Junction__V1__InferRequest req;
    Junction__V1__Value *values;
    Junction__V1__Value **value_ptrs;
    Junction__V1__Tensor *tensors;
    ProtobufCBinaryData **strings;
    size_t n_inputs;
} request_parts;

static void parts_free(request_parts *p)
{
    for (size_t i = 0; p->strings && i < p->n_inputs; i++)
        free(p->strings[i]);
    free(p->strings);
    free(p->values);
    free(p->value_ptrs);
    free(p->tensors);
    free(p->req.parameters);
}

static int parts_build(request_parts *p, const char *model, const char *version, const jn_infer_ctx *ctx,
                       const jn_tensor_list *inputs, jn_call_status *st)
{
    memset(p, 0, sizeof *p);
    junction__v1__infer_request__init(&p->req);
    size_t n = p->n_inputs = inputs->count;
    p->values = calloc(n ? n : 1, sizeof *p->values);
    p->value_ptrs = calloc(n ? n : 1, sizeof *p->value_ptrs);
    p->tensors = calloc(n ? n : 1, sizeof *p->tensors);
    p->strings = calloc(n ? n : 1, sizeof *p->strings);
    if (!p->values || !p->value_ptrs || !p->tensors || !p->strings || jn_params_to_v1_request(ctx->params, &p->req))
        return jn_call_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    p->req.model = (char *)model;
    p->req.version = (char *)version;
    p->req.id = (char *)(ctx->request_id ? ctx->request_id : "");
    for (size_t i = 0; i < n; i++) {
        const jn_tensor *t = inputs->items[i];
        Junction__V1__Tensor *tt = &p->tensors[i];
        junction__v1__tensor__init(tt);
        tt->datatype = (Junction__V1__DataType)t->dtype;
        tt->n_shape = (size_t)t->ndim;
        tt->shape = (int64_t *)t->shape;
        tt->raw.data = t->data; /* BYTES too: the v2 raw layout, which junction.v1 accepts in raw */
        tt->raw.len = t->byte_size;
        junction__v1__value__init(&p->values[i]);
        p->values[i].name = t->name;
        p->values[i].value_case = JUNCTION__V1__VALUE__VALUE_TENSOR;
        p->values[i].tensor = tt;
        p->value_ptrs[i] = &p->values[i];
    }
    p->req.n_inputs = n;
    p->req.inputs = p->value_ptrs;
    p->req.n_outputs = ctx->n_outputs;
    p->req.outputs = (char **)ctx->outputs;
    return 0;
}

/* One answer value as a tensor (sharing the held message's bytes where it can). */
static int decode_value(const Junction__V1__Value *v, jn_pb_holder *holder, jn_tensor **out, jn_call_status *st)
{
    jn_err err;
    jn_err_clear(&err);
    const int64_t one[1] = {1};
    int rc;
    *out = NULL;
    if (!v->name || !*v->name)
        return jn_call_status_set(st, GRPC_STATUS_INTERNAL, "an output of the answer has no name");
    switch (v->value_case) {
    case JUNCTION__V1__VALUE__VALUE_TENSOR: {
        const Junction__V1__Tensor *t = v->tensor;
        int dt = (int)t->datatype;
        if (dt <= JN_DTYPE_INVALID || dt >= JN_DTYPE_COUNT)
            return jn_call_status_set(st, GRPC_STATUS_INTERNAL, "output '%s': unknown datatype %d", v->name, dt);
        if (dt == JN_DTYPE_BYTES && (t->n_strings || !t->raw.len))
            rc = jn_wire_tensor_strings(v->name, t->n_shape, t->shape, t->strings, t->n_strings, out, &err);
        else
            rc = jn_wire_tensor_held(v->name, (jn_dtype)dt, t->n_shape, t->shape, t->raw.data, t->raw.len, holder,
                                     out, &err);
        break;
    }
    case JUNCTION__V1__VALUE__VALUE_TEXT: {
        ProtobufCBinaryData s = {strlen(v->text->text), (uint8_t *)v->text->text};
        rc = jn_wire_tensor_strings(v->name, 1, one, &s, 1, out, &err);
        break;
    }
    case JUNCTION__V1__VALUE__VALUE_IMAGE:
        rc = jn_wire_tensor_strings(v->name, 1, one, &v->image->data, 1, out, &err);
        break;
    case JUNCTION__V1__VALUE__VALUE_AUDIO:
        rc = jn_wire_tensor_strings(v->name, 1, one, &v->audio->data, 1, out, &err);
        break;
    case JUNCTION__V1__VALUE__VALUE_EMBEDDING: {
        const int64_t shape[2] = {1, (int64_t)v->embedding->n_values};
        rc = jn_wire_tensor_held(v->name, JN_DTYPE_FP32, 2, shape, v->embedding->values,
                                 v->embedding->n_values * sizeof(float), holder, out, &err);
        break;
    }
    default:
        return jn_call_status_set(st, GRPC_STATUS_INTERNAL,
                                  "output '%s': only tensor, text, image and embedding values are accepted from a "
                                  "remote engine (send classification scores as a tensor)",
                                  v->name);
    }
    if (rc)
        return jn_call_status_set(st, GRPC_STATUS_INTERNAL, "output '%s': %s", v->name, err.msg);
    if (jn_tensor_check_size(*out, v->name, &err)) {
        jn_tensor_free(*out);
        *out = NULL;
        return jn_call_status_set(st, GRPC_STATUS_INTERNAL, "the remote's answer: %s", err.msg);
    }
    return 0;
}

/* Takes the answer message (freed with the last tensor that points into it) and appends its outputs; all or
 * nothing. An answer carrying `error` fails with that status. */
static int decode_response(ProtobufCMessage *m, jn_tensor_list *outputs, jn_call_status *st)
{
    Junction__V1__InferResponse *r = (Junction__V1__InferResponse *)m;
    if (r->error && r->error->code) {
        jn_call_status_set(st, r->error->code, "%s", r->error->message ? r->error->message : "");
        protobuf_c_message_free_unpacked(m, NULL);
        return st->code;
    }
    jn_pb_holder *holder = jn_pb_holder_create(m);
    if (!holder)
        return jn_call_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    size_t had = outputs->count;
    int rc = 0;
    for (size_t i = 0; !rc && i < r->n_outputs; i++) {
        jn_tensor *t;
        rc = decode_value(r->outputs[i], holder, &t, st);
        if (!rc && jn_tensor_list_push(outputs, t))
            rc = jn_call_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    if (rc)
        while (outputs->count > had)
            jn_tensor_free(outputs->items[--outputs->count]);
    jn_pb_holder_unref(holder);
    return rc;
}

static grpc_byte_buffer *native_pack_infer(const char *model, const char *version, const jn_infer_ctx *ctx,
                                           const jn_tensor_list *inputs, jn_call_status *st)
{
    request_parts p;
    grpc_byte_buffer *packed = NULL;
    if (!parts_build(&p, model, version, ctx, inputs, st) && !(packed = jn_pb_pack(&p.req.base)))
        jn_call_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    parts_free(&p);
    return packed;
}

static int native_infer_stream(jn_endpoint *ep, const char *model, const char *version, const jn_infer_ctx *ctx,
                               const jn_tensor_list *inputs, int64_t deadline_ns, jn_emit_fn emit, void *emit_arg,
                               jn_call_status *st)
{
    request_parts p;
    int rc = parts_build(&p, model, version, ctx, inputs, st);
    jn_endpoint_stream *s = NULL;
    if (!rc && !(s = jn_endpoint_stream_open(ep, JN_RM_ENGINE_INFER_STREAM, &p.req.base, deadline_ns, ctx->cancelled,
                                             st)))
        rc = st->code ? st->code : GRPC_STATUS_INTERNAL;
    parts_free(&p);
    bool finished = false;
    while (!rc) {
        ProtobufCMessage *m;
        if ((rc = jn_endpoint_stream_next(s, &junction__v1__infer_response__descriptor, &m, st)) != 0)
            break;
        if (!m) {
            if (!finished)
                rc = jn_call_status_set(st, GRPC_STATUS_INTERNAL,
                                        "the remote's stream ended before the request's final answer");
            break;
        }
        bool partial = ((Junction__V1__InferResponse *)m)->partial;
        jn_tensor_list outs;
        jn_tensor_list_init(&outs);
        if ((rc = decode_response(m, &outs, st)) != 0)
            break;
        if (partial || outs.count) {
            jn_err err;
            jn_err_clear(&err);
            int erc = emit(emit_arg, &outs, &err);
            if (erc)
                rc = jn_call_status_set(st, jn_err_grpc_status(erc), "%s", err.msg);
        }
        jn_tensor_list_clear(&outs);
        if (!partial) /* the request's final answer: the remote may keep the stream open, we are done */
            finished = true;
        if (finished)
            break;
    }
    jn_endpoint_stream_close(s);
    return rc;
}

/* ---- health ---- */

static int native_check(jn_endpoint *ep, const char *model, const char *version, int64_t deadline_ns,
                        jn_call_status *st)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = "";
    ProtobufCMessage *m;
    int rc = jn_endpoint_unary(ep, JN_RM_HEALTH_CHECK, &req.base, &grpc__health__v1__health_check_response__descriptor,
                               deadline_ns, NULL, &m, st);
    if (rc)
        return rc;
    int status = ((Grpc__Health__V1__HealthCheckResponse *)m)->status;
    protobuf_c_message_free_unpacked(m, NULL);
    if (status != GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING)
        return jn_call_status_set(st, GRPC_STATUS_UNAVAILABLE, "grpc.health.v1 Check says %s",
                                  status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING
                                      ? "NOT_SERVING"
                                      : "not SERVING");
    return 0;
}

const jn_remote_proto jn_remote_native = {
    .name = "native",
    .platform = "junction_remote",
    .describe = native_describe,
    .infer_method = JN_RM_ENGINE_INFER,
    .infer_answer = &junction__v1__infer_response__descriptor,
    .pack_infer = native_pack_infer,
    .read_infer = decode_response,
    .infer_stream = native_infer_stream,
    .check = native_check,
};
