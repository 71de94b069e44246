/* inference_service.c — the KServe v2 metadata and health RPCs (ModelInfer and ModelStreamInfer go through
 * infer.c / stream.c). */
#include <stdlib.h>

#include "inference/grpc_service.pb-c.h"
#include "internal.h"
#include "pb.h"

/* Unpacks the request or answers INVALID_ARGUMENT; NULL when answered. */
static ProtobufCMessage *unpack_or_fail(jn_unary *u, const ProtobufCMessageDescriptor *desc, grpc_byte_buffer *bb)
{
    jn_err err;
    ProtobufCMessage *m = jn_pb_unpack(desc, bb, &err);
    if (!m)
        jn_unary_fail(u, err.code, err.msg);
    return m;
}

void jn_v2_server_live(jn_unary *u, grpc_byte_buffer *payload)
{
    ProtobufCMessage *req = unpack_or_fail(u, &inference__server_live_request__descriptor, payload);
    if (!req)
        return;
    protobuf_c_message_free_unpacked(req, NULL);
    Inference__ServerLiveResponse r = INFERENCE__SERVER_LIVE_RESPONSE__INIT;
    r.live = 1;
    jn_unary_reply(u, jn_pb_pack(&r.base));
}

void jn_v2_server_ready(jn_unary *u, grpc_byte_buffer *payload)
{
    ProtobufCMessage *req = unpack_or_fail(u, &inference__server_ready_request__descriptor, payload);
    if (!req)
        return;
    protobuf_c_message_free_unpacked(req, NULL);
    Inference__ServerReadyResponse r = INFERENCE__SERVER_READY_RESPONSE__INIT;
    r.ready = !jn__server_closing(u->server);
    jn_unary_reply(u, jn_pb_pack(&r.base));
}

void jn_v2_model_ready(jn_unary *u, grpc_byte_buffer *payload)
{
    Inference__ModelReadyRequest *req =
        (Inference__ModelReadyRequest *)unpack_or_fail(u, &inference__model_ready_request__descriptor, payload);
    if (!req)
        return;
    /* An unknown model is simply not ready (what Triton answers), not an error. */
    jn_engine *e = jn_registry_get(u->server->reg, req->name, req->version, NULL);
    protobuf_c_message_free_unpacked(&req->base, NULL);
    Inference__ModelReadyResponse r = INFERENCE__MODEL_READY_RESPONSE__INIT;
    r.ready = e && atomic_load(&e->ready) && !jn__server_closing(u->server);
    jn_engine_unref(e);
    jn_unary_reply(u, jn_pb_pack(&r.base));
}

void jn_v2_server_metadata(jn_unary *u, grpc_byte_buffer *payload)
{
    ProtobufCMessage *req = unpack_or_fail(u, &inference__server_metadata_request__descriptor, payload);
    if (!req)
        return;
    protobuf_c_message_free_unpacked(req, NULL);
    static char *extensions[] = {"parameters", "model_stream_infer"};
    Inference__ServerMetadataResponse r = INFERENCE__SERVER_METADATA_RESPONSE__INIT;
    r.name = "junction";
    r.version = JUNCTION_VERSION;
    r.n_extensions = sizeof extensions / sizeof extensions[0];
    r.extensions = extensions;
    jn_unary_reply(u, jn_pb_pack(&r.base));
}

static Inference__ModelMetadataResponse__TensorMetadata *tensor_metadata(const jn_port *ports, size_t n)
{
    Inference__ModelMetadataResponse__TensorMetadata *md = calloc(n ? n : 1, sizeof *md);
    for (size_t i = 0; md && i < n; i++) {
        inference__model_metadata_response__tensor_metadata__init(&md[i]);
        md[i].name = ports[i].name;
        md[i].datatype = (char *)jn_dtype_name(ports[i].dtype);
        md[i].n_shape = (size_t)ports[i].ndim;
        md[i].shape = (int64_t *)ports[i].shape;
    }
    return md;
}

static Inference__ModelMetadataResponse__TensorMetadata **pointers(Inference__ModelMetadataResponse__TensorMetadata *md,
                                                                    size_t n)
{
    Inference__ModelMetadataResponse__TensorMetadata **p = calloc(n ? n : 1, sizeof *p);
    for (size_t i = 0; p && md && i < n; i++)
        p[i] = &md[i];
    return p;
}

void jn_v2_model_metadata(jn_unary *u, grpc_byte_buffer *payload)
{
    Inference__ModelMetadataRequest *req = (Inference__ModelMetadataRequest *)unpack_or_fail(
        u, &inference__model_metadata_request__descriptor, payload);
    if (!req)
        return;
    jn_err err;
    jn_engine *e = jn_registry_get(u->server->reg, req->name, req->version, &err);
    protobuf_c_message_free_unpacked(&req->base, NULL);
    if (!e) {
        jn_unary_fail(u, err.code, err.msg);
        return;
    }
    const jn_signature *sig = &e->sig;
    Inference__ModelMetadataResponse__TensorMetadata *in = tensor_metadata(sig->inputs, sig->n_inputs);
    Inference__ModelMetadataResponse__TensorMetadata *out = tensor_metadata(sig->outputs, sig->n_outputs);
    Inference__ModelMetadataResponse__TensorMetadata **in_p = pointers(in, sig->n_inputs);
    Inference__ModelMetadataResponse__TensorMetadata **out_p = pointers(out, sig->n_outputs);
    if (!in || !out || !in_p || !out_p) {
        jn_unary_fail(u, JN_ENOMEM, "out of memory");
    } else {
        Inference__ModelMetadataResponse r = INFERENCE__MODEL_METADATA_RESPONSE__INIT;
        char *versions[1] = {e->version};
        r.name = e->name;
        r.n_versions = 1;
        r.versions = versions;
        r.platform = (char *)e->vt->platform;
        r.n_inputs = sig->n_inputs;
        r.inputs = in_p;
        r.n_outputs = sig->n_outputs;
        r.outputs = out_p;
        jn_unary_reply(u, jn_pb_pack(&r.base));
    }
    free(in);
    free(out);
    free(in_p);
    free(out_p);
    jn_engine_unref(e);
}
