/* admin_service.c — junction.v1.Admin: PutPipeline, DeletePipeline, ListPipelines, LoadModel, UnloadModel (these two
 * decode and answer here; loading, the state record and the registry checks are core/model_records.c's).
 *
 * No authentication yet: anyone who can reach the gRPC port can change the pipelines. The hardening issue adds the
 * admin token (checked here, before anything is parsed).
 *
 * Every handler runs on the pump thread that received the call. For PutPipeline that includes compiling the
 * pipeline: compilation is CPU-only (name lookups and type checks over the spec, no engine runs, no I/O) and quick
 * even for big pipelines, so it does not justify a trip through the worker pool. LoadModel parses and checks a
 * model file there too: milliseconds for the models a 64 MiB message can carry (bigger ones load from the
 * repository, which is read on the same thread; moving loads to the worker pool is left to the hardening issue).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "junction/v1/admin.pb-c.h"
#include "pb.h"
#include "pipeline.h"
#include "pipeline_pb.h"

static void fail_err(jn_unary *u, const jn_err *err)
{
    jn_unary_fail(u, err->code, err->msg[0] ? err->msg : jn_strerror(err->code));
}

/* The spec of a PutPipelineRequest, from whichever of its two forms was given. */
static int put_request_spec(const Junction__V1__PutPipelineRequest *req, jn_pipeline_spec *spec, jn_err *err)
{
    bool has_spec = req->spec != NULL;
    bool has_json = req->spec_json && req->spec_json[0];
    jn_pipeline_spec_init(spec);
    if (has_spec == has_json)
        return jn_err_set(err, JN_EINVAL, "give exactly one of spec or spec_json (%s)",
                          has_spec ? "both are set" : "neither is set");
    if (has_spec)
        return jn_pipeline_spec_from_pb(req->spec, "spec", spec, err);
    jn_err_clear(err);
    int rc = jn_pipeline_spec_from_json(req->spec_json, strlen(req->spec_json), spec, err);
    if (rc) {
        if (!err->code)
            jn_err_set(err, rc, "%s", jn_strerror(rc));
        jn_err_prefix(err, "spec_json");
    }
    return rc;
}

void jn_admin_put_pipeline(jn_unary *u, grpc_byte_buffer *payload)
{
    jn_err err;
    Junction__V1__PutPipelineRequest *req = (Junction__V1__PutPipelineRequest *)jn_pb_unpack(
        &junction__v1__put_pipeline_request__descriptor, payload, &err);
    if (!req) {
        fail_err(u, &err);
        return;
    }
    jn_pipeline_spec spec;
    int rc = put_request_spec(req, &spec, &err);
    protobuf_c_message_free_unpacked(&req->base, NULL);
    if (rc) {
        jn_pipeline_spec_free(&spec);
        fail_err(u, &err);
        return;
    }
    jn_err_clear(&err);
    jn_put_result put;
    rc = jn_control_put_pipeline(u->server->control, &spec, &put, &err);
    if (rc) {
        jn_pipeline_spec_free(&spec);
        if (!err.code)
            jn_err_set(&err, rc, "%s", jn_strerror(rc));
        fail_err(u, &err);
        return;
    }
    Junction__V1__PutPipelineResponse r = JUNCTION__V1__PUT_PIPELINE_RESPONSE__INIT;
    r.name = spec.name;
    r.replaced = put.replaced;
    r.plan = put.plan;
    jn_unary_reply(u, jn_pb_pack(&r.base));
    jn_pipeline_spec_free(&spec);
    free(put.plan);
}

void jn_admin_delete_pipeline(jn_unary *u, grpc_byte_buffer *payload)
{
    jn_err err;
    Junction__V1__DeletePipelineRequest *req = (Junction__V1__DeletePipelineRequest *)jn_pb_unpack(
        &junction__v1__delete_pipeline_request__descriptor, payload, &err);
    if (!req) {
        fail_err(u, &err);
        return;
    }
    int rc;
    jn_err_clear(&err);
    if (!req->name || !req->name[0])
        rc = jn_err_set(&err, JN_EINVAL, "name is empty");
    else if ((rc = jn_control_delete_pipeline(u->server->control, req->name, &err)) && !err.code)
        jn_err_set(&err, rc, "pipeline '%s': %s", req->name, jn_strerror(rc));
    protobuf_c_message_free_unpacked(&req->base, NULL);
    if (rc) {
        fail_err(u, &err);
        return;
    }
    Junction__V1__DeletePipelineResponse r = JUNCTION__V1__DELETE_PIPELINE_RESPONSE__INIT;
    jn_unary_reply(u, jn_pb_pack(&r.base));
}

void jn_admin_list_pipelines(jn_unary *u, grpc_byte_buffer *payload)
{
    jn_err err;
    ProtobufCMessage *req = jn_pb_unpack(&junction__v1__list_pipelines_request__descriptor, payload, &err);
    if (!req) {
        fail_err(u, &err);
        return;
    }
    protobuf_c_message_free_unpacked(req, NULL);
    jn_engine **engines;
    long n = jn_registry_list(u->server->reg, &engines); /* sorted by name */
    if (n < 0) {
        jn_unary_fail(u, JN_ENOMEM, "out of memory");
        return;
    }
    /* The messages borrow their strings from the specs, which live as long as our engine references. */
    Junction__V1__PipelineSpec **specs = calloc(n ? (size_t)n : 1, sizeof *specs);
    size_t k = 0;
    bool oom = specs == NULL;
    for (long i = 0; !oom && i < n; i++) {
        if (!jn_engine_is_pipeline(engines[i]))
            continue;
        const jn_pipeline_spec *ps = jn_pipeline_spec_of(engines[i]);
        if (!ps)
            continue;
        if (!(specs[k] = jn_pipeline_spec_to_pb(ps)))
            oom = true;
        else
            k++;
    }
    if (oom) {
        jn_unary_fail(u, JN_ENOMEM, "out of memory");
    } else {
        Junction__V1__ListPipelinesResponse r = JUNCTION__V1__LIST_PIPELINES_RESPONSE__INIT;
        r.n_pipelines = k;
        r.pipelines = specs;
        jn_unary_reply(u, jn_pb_pack(&r.base));
    }
    for (size_t i = 0; i < k; i++)
        jn_pipeline_spec_pb_free(specs[i]);
    free(specs);
    jn_registry_list_free(engines, n);
}

/* The request of LoadModel / UnloadModel, decoded; NULL once the call was answered with the failure (a server that
 * loads no model files, a message that does not decode). The loading itself is model_records.c's. */
static ProtobufCMessage *model_request(jn_unary *u, const ProtobufCMessageDescriptor *desc, grpc_byte_buffer *payload)
{
    const jn_model_records *models = u->server->opt.models;
    if (!models || !models->load) {
        jn_unary_fail(u, JN_EUNIMPL, "this server loads no model files");
        return NULL;
    }
    jn_err err;
    ProtobufCMessage *m = jn_pb_unpack(desc, payload, &err);
    if (!m)
        fail_err(u, &err);
    return m;
}

void jn_admin_load_model(jn_unary *u, grpc_byte_buffer *payload)
{
    Junction__V1__LoadModelRequest *req =
        (Junction__V1__LoadModelRequest *)model_request(u, &junction__v1__load_model_request__descriptor, payload);
    if (!req)
        return;
    jn_err err;
    bool replaced = false;
    int rc = jn_model_records_load(u->server->opt.models, u->server->control, req->name, req->version,
                                   req->onnx.len ? req->onnx.data : NULL, req->onnx.len, &replaced, &err);
    if (rc) {
        fail_err(u, &err);
    } else {
        Junction__V1__LoadModelResponse r = JUNCTION__V1__LOAD_MODEL_RESPONSE__INIT;
        r.name = req->name;
        r.replaced = replaced;
        jn_unary_reply(u, jn_pb_pack(&r.base));
    }
    protobuf_c_message_free_unpacked(&req->base, NULL);
}

void jn_admin_unload_model(jn_unary *u, grpc_byte_buffer *payload)
{
    Junction__V1__UnloadModelRequest *req =
        (Junction__V1__UnloadModelRequest *)model_request(u, &junction__v1__unload_model_request__descriptor, payload);
    if (!req)
        return;
    jn_err err;
    int rc = jn_model_records_unload(u->server->opt.models, u->server->control, req->name, &err);
    protobuf_c_message_free_unpacked(&req->base, NULL);
    if (rc) {
        fail_err(u, &err);
        return;
    }
    Junction__V1__UnloadModelResponse r = JUNCTION__V1__UNLOAD_MODEL_RESPONSE__INIT;
    jn_unary_reply(u, jn_pb_pack(&r.base));
}
