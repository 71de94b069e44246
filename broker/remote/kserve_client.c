/* kserve_client.c — a remote model over the Open Inference Protocol (KServe v2 gRPC), written from the protocol
 * document: ModelMetadata -> signature, ModelInfer with raw_input_contents (answers read in raw or typed form),
 * ServerReady + ModelReady for health. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inference/grpc_service.pb-c.h"
#include "params_pb.h"
#include "protocol.h"
#include "wire.h"

/* ---- describe ---- */

static int add_ports(jn_signature *sig, bool input, Inference__ModelMetadataResponse__TensorMetadata **md, size_t n,
                     jn_call_status *st)
{
    const char *dir = input ? "input" : "output";
    for (size_t i = 0; i < n; i++) {
        const char *name = md[i]->name;
        jn_dtype dt = jn_dtype_from_name(md[i]->datatype);
        if (!name || !*name)
            return jn_call_status_set(st, GRPC_STATUS_INTERNAL, "the remote's metadata has an %s without a name",
                                      dir);
        if (dt == JN_DTYPE_INVALID)
            return jn_call_status_set(st, GRPC_STATUS_INTERNAL, "%s '%s': datatype '%s' is not a v2 datatype", dir,
                                      name, md[i]->datatype);
        if (md[i]->n_shape > JN_MAX_DIMS)
            return jn_call_status_set(st, GRPC_STATUS_INTERNAL, "%s '%s': rank %zu exceeds the maximum of %d", dir,
                                      name, md[i]->n_shape, JN_MAX_DIMS);
        jn_err err;
        jn_err_clear(&err);
        int rc = input ? jn_signature_add_input(sig, name, JN_KIND_TENSOR, dt, (int)md[i]->n_shape, md[i]->shape,
                                                &err)
                       : jn_signature_add_output(sig, name, JN_KIND_TENSOR, dt, (int)md[i]->n_shape, md[i]->shape,
                                                 &err);
        if (rc)
            return jn_call_status_set(st, GRPC_STATUS_INTERNAL, "the remote's metadata: %s %s", dir, err.msg);
    }
    return 0;
}

static int v2_describe(jn_endpoint *ep, const char *model, const char *version, int64_t deadline_ns,
                       jn_signature *sig, bool *streams, jn_call_status *st)
{
    *streams = false;
    Inference__ModelMetadataRequest req = INFERENCE__MODEL_METADATA_REQUEST__INIT;
    req.name = (char *)model;
    req.version = (char *)version;
    ProtobufCMessage *m;
    int rc = jn_endpoint_unary(ep, JN_RM_V2_MODEL_METADATA, &req.base, &inference__model_metadata_response__descriptor,
                               deadline_ns, NULL, &m, st);
    if (rc)
        return rc;
    Inference__ModelMetadataResponse *r = (Inference__ModelMetadataResponse *)m;
    rc = add_ports(sig, true, r->inputs, r->n_inputs, st);
    if (!rc)
        rc = add_ports(sig, false, r->outputs, r->n_outputs, st);
    if (!rc && !sig->n_outputs)
        rc = jn_call_status_set(st, GRPC_STATUS_INTERNAL, "the remote's metadata declares no outputs");
    protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

/* ---- infer ---- */

/* Copies typed integer contents narrower than 32 bits (and BOOL) into a fresh tensor. */
static jn_tensor *narrow_output(const char *name, jn_dtype dt, int ndim, const int64_t *shape,
                                const Inference__InferTensorContents *c, jn_call_status *st)
{
    size_t n = dt == JN_DTYPE_BOOL ? c->n_bool_contents
               : (dt == JN_DTYPE_INT8 || dt == JN_DTYPE_INT16) ? c->n_int_contents
                                                                : c->n_uint_contents;
    jn_err err;
    jn_tensor *t = jn_tensor_create(name, dt, ndim, shape, &err);
    if (!t) {
        jn_call_status_set(st, GRPC_STATUS_INTERNAL, "output '%s': %s", name, err.msg);
        return NULL;
    }
    if (n * jn_dtype_size(dt) != t->byte_size) {
        jn_call_status_set(st, GRPC_STATUS_INTERNAL, "output '%s': %zu values for shape of %zu bytes", name, n,
                           t->byte_size);
        jn_tensor_free(t);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        switch (dt) {
        case JN_DTYPE_BOOL:
            ((uint8_t *)t->data)[i] = c->bool_contents[i] ? 1 : 0;
            break;
        case JN_DTYPE_INT8:
            ((int8_t *)t->data)[i] = (int8_t)c->int_contents[i];
            break;
        case JN_DTYPE_INT16:
            ((int16_t *)t->data)[i] = (int16_t)c->int_contents[i];
            break;
        case JN_DTYPE_UINT8:
            ((uint8_t *)t->data)[i] = (uint8_t)c->uint_contents[i];
            break;
        default:
            ((uint16_t *)t->data)[i] = (uint16_t)c->uint_contents[i];
            break;
        }
    }
    return t;
}

/* One output of the answer as a tensor: raw entry i, or the typed contents. */
static int decode_output(Inference__ModelInferResponse *r, size_t i, jn_pb_holder *holder, jn_tensor **out,
                         jn_call_status *st)
{
    Inference__ModelInferResponse__InferOutputTensor *o = r->outputs[i];
    jn_err err;
    jn_err_clear(&err);
    *out = NULL;
    jn_dtype dt = jn_dtype_from_name(o->datatype);
    if (!o->name || !*o->name)
        return jn_call_status_set(st, GRPC_STATUS_INTERNAL, "output #%zu of the answer has no name", i);
    if (dt == JN_DTYPE_INVALID)
        return jn_call_status_set(st, GRPC_STATUS_INTERNAL, "output '%s': datatype '%s' is not a v2 datatype",
                                  o->name, o->datatype);
    if (o->n_shape > JN_MAX_DIMS)
        return jn_call_status_set(st, GRPC_STATUS_INTERNAL, "output '%s': rank %zu is too large", o->name,
                                  o->n_shape);
    int rc = 0;
    if (r->n_raw_output_contents) {
        if (i >= r->n_raw_output_contents)
            return jn_call_status_set(st, GRPC_STATUS_INTERNAL, "output '%s' has no raw_output_contents entry",
                                      o->name);
        rc = jn_wire_tensor_held(o->name, dt, o->n_shape, o->shape, r->raw_output_contents[i].data,
                                 r->raw_output_contents[i].len, holder, out, &err);
    } else {
        static const Inference__InferTensorContents empty = INFERENCE__INFER_TENSOR_CONTENTS__INIT;
        const Inference__InferTensorContents *c = o->contents ? o->contents : &empty;
        void *data = NULL;
        size_t n = 0;
        switch (dt) {
        case JN_DTYPE_BYTES:
            rc = jn_wire_tensor_strings(o->name, o->n_shape, o->shape, c->bytes_contents, c->n_bytes_contents, out,
                                        &err);
            break;
        case JN_DTYPE_FP32:
            data = c->fp32_contents, n = c->n_fp32_contents;
            break;
        case JN_DTYPE_FP64:
            data = c->fp64_contents, n = c->n_fp64_contents;
            break;
        case JN_DTYPE_INT32:
            data = c->int_contents, n = c->n_int_contents;
            break;
        case JN_DTYPE_INT64:
            data = c->int64_contents, n = c->n_int64_contents;
            break;
        case JN_DTYPE_UINT32:
            data = c->uint_contents, n = c->n_uint_contents;
            break;
        case JN_DTYPE_UINT64:
            data = c->uint64_contents, n = c->n_uint64_contents;
            break;
        case JN_DTYPE_FP16:
        case JN_DTYPE_BF16:
            return jn_call_status_set(st, GRPC_STATUS_INTERNAL,
                                      "output '%s': %s data can only come in raw_output_contents", o->name,
                                      jn_dtype_name(dt));
        default:
            *out = narrow_output(o->name, dt, (int)o->n_shape, o->shape, c, st);
            return *out ? 0 : st->code;
        }
        if (dt != JN_DTYPE_BYTES)
            rc = jn_wire_tensor_held(o->name, dt, o->n_shape, o->shape, data ? data : (void *)"", n * jn_dtype_size(dt),
                                     holder, out, &err);
    }
    if (rc)
        return jn_call_status_set(st, rc == JN_ENOMEM ? GRPC_STATUS_RESOURCE_EXHAUSTED : GRPC_STATUS_INTERNAL,
                                  "output '%s': %s", o->name, err.msg);
    if (jn_tensor_check_size(*out, o->name, &err)) {
        jn_tensor_free(*out);
        *out = NULL;
        return jn_call_status_set(st, GRPC_STATUS_INTERNAL, "the remote's answer: %s", err.msg);
    }
    return 0;
}

/* The ModelInferRequest, built over the borrowed tensors (raw_input_contents) and packed. */
static grpc_byte_buffer *v2_pack_infer(const char *model, const char *version, const jn_infer_ctx *ctx,
                                       const jn_tensor_list *inputs, jn_call_status *st)
{
    size_t n_in = inputs->count;
    size_t n_out = ctx->n_outputs;
    Inference__ModelInferRequest req = INFERENCE__MODEL_INFER_REQUEST__INIT;
    Inference__ModelInferRequest__InferInputTensor *ins = calloc(n_in ? n_in : 1, sizeof *ins);
    Inference__ModelInferRequest__InferInputTensor **in_ptrs = calloc(n_in ? n_in : 1, sizeof *in_ptrs);
    ProtobufCBinaryData *raws = calloc(n_in ? n_in : 1, sizeof *raws);
    Inference__ModelInferRequest__InferRequestedOutputTensor *outs = calloc(n_out ? n_out : 1, sizeof *outs);
    Inference__ModelInferRequest__InferRequestedOutputTensor **out_ptrs = calloc(n_out ? n_out : 1, sizeof *out_ptrs);
    grpc_byte_buffer *packed = NULL;
    if (!ins || !in_ptrs || !raws || !outs || !out_ptrs || jn_params_to_v2_request(ctx->params, &req))
        goto out;
    req.model_name = (char *)model;
    req.model_version = (char *)version;
    req.id = (char *)(ctx->request_id ? ctx->request_id : "");
    for (size_t i = 0; i < n_in; i++) {
        const jn_tensor *t = inputs->items[i];
        inference__model_infer_request__infer_input_tensor__init(&ins[i]);
        ins[i].name = t->name;
        ins[i].datatype = (char *)jn_dtype_name(t->dtype);
        ins[i].n_shape = (size_t)t->ndim;
        ins[i].shape = (int64_t *)t->shape;
        in_ptrs[i] = &ins[i];
        raws[i].data = t->data;
        raws[i].len = t->byte_size;
    }
    req.n_inputs = req.n_raw_input_contents = n_in;
    req.inputs = in_ptrs;
    req.raw_input_contents = raws;
    for (size_t i = 0; i < n_out; i++) {
        inference__model_infer_request__infer_requested_output_tensor__init(&outs[i]);
        outs[i].name = (char *)ctx->outputs[i];
        out_ptrs[i] = &outs[i];
    }
    req.n_outputs = n_out;
    req.outputs = out_ptrs;
    packed = jn_pb_pack(&req.base);
out:
    if (!packed)
        jn_call_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    free(ins);
    free(in_ptrs);
    free(raws);
    free(outs);
    free(out_ptrs);
    free(req.parameters);
    return packed;
}

static int v2_read_infer(ProtobufCMessage *m, jn_tensor_list *outputs, jn_call_status *st)
{
    Inference__ModelInferResponse *r = (Inference__ModelInferResponse *)m;
    jn_pb_holder *holder = jn_pb_holder_create(m);
    if (!holder)
        return jn_call_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    size_t had = outputs->count;
    int rc = 0;
    for (size_t i = 0; !rc && i < r->n_outputs; i++) {
        jn_tensor *t;
        rc = decode_output(r, i, holder, &t, st);
        if (!rc && jn_tensor_list_push(outputs, t))
            rc = jn_call_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    if (rc) /* all or nothing */
        while (outputs->count > had)
            jn_tensor_free(outputs->items[--outputs->count]);
    jn_pb_holder_unref(holder);
    return rc;
}

/* ---- health ---- */

static int v2_check(jn_endpoint *ep, const char *model, const char *version, int64_t deadline_ns, jn_call_status *st)
{
    Inference__ServerReadyRequest sreq = INFERENCE__SERVER_READY_REQUEST__INIT;
    ProtobufCMessage *m;
    int rc = jn_endpoint_unary(ep, JN_RM_V2_SERVER_READY, &sreq.base, &inference__server_ready_response__descriptor,
                               deadline_ns, NULL, &m, st);
    if (rc)
        return rc;
    bool ready = ((Inference__ServerReadyResponse *)m)->ready;
    protobuf_c_message_free_unpacked(m, NULL);
    if (!ready)
        return jn_call_status_set(st, GRPC_STATUS_UNAVAILABLE, "the server is not ready (v2 ServerReady)");
    Inference__ModelReadyRequest mreq = INFERENCE__MODEL_READY_REQUEST__INIT;
    mreq.name = (char *)model;
    mreq.version = (char *)version;
    rc = jn_endpoint_unary(ep, JN_RM_V2_MODEL_READY, &mreq.base, &inference__model_ready_response__descriptor,
                           deadline_ns, NULL, &m, st);
    if (rc)
        return rc;
    ready = ((Inference__ModelReadyResponse *)m)->ready;
    protobuf_c_message_free_unpacked(m, NULL);
    if (!ready)
        return jn_call_status_set(st, GRPC_STATUS_UNAVAILABLE, "model '%s' is not ready (v2 ModelReady)", model);
    return 0;
}

const jn_remote_proto jn_remote_kserve_v2 = {
    .name = "kserve_v2",
    .platform = "kserve_v2",
    .describe = v2_describe,
    .infer_method = JN_RM_V2_MODEL_INFER,
    .infer_answer = &inference__model_infer_response__descriptor,
    .pack_infer = v2_pack_infer,
    .read_infer = v2_read_infer,
    .infer_stream = NULL,
    .check = v2_check,
};
