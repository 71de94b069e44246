/* admin_service.c — junction.v1.Admin: PutPipeline, DeletePipeline, ListPipelines, LoadModel, UnloadModel.
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
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base64.h"
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

/* Names LoadModel accepts: they become file names in the repository and model names in URLs. */
static bool model_name_ok(const char *name)
{
    if (!name || !name[0] || name[0] == '.' || strlen(name) > 128)
        return false;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
              *c == '_' || *c == '.'))
            return false;
    return true;
}

/* Registry checks: `platform` (the arg) is that of the models the loader makes. */
static int may_replace_loaded(const jn_engine *existing, void *platform, jn_err *err)
{
    const char *p = platform;
    if (p && existing->vt->platform && strcmp(existing->vt->platform, p) == 0)
        return 0;
    return jn_err_set(err, JN_EEXIST, "model '%s' exists and was not loaded from a model file (platform %s)",
                      existing->name, existing->vt->platform ? existing->vt->platform : "?");
}

static int may_remove_loaded(const jn_engine *existing, void *platform, jn_err *err)
{
    if (may_replace_loaded(existing, platform, err))
        return jn_err_set(err, JN_EPRECOND, "model '%s' was not loaded from a model file: it cannot be unloaded",
                          existing->name);
    return 0;
}

/* Models kept in the state: uploaded bytes up to this size (base64 in the record; etcd takes about 1.5 MB per
 * request by default, and the state file is rewritten whole on every change). Larger ones belong in the model
 * repository, from which LoadModel by name re-reads them. */
#define MODEL_RECORD_MAX_BYTES ((size_t)1 << 20)

static char *model_record(const char *version, const uint8_t *bytes, size_t n, jn_err *err)
{
    if (bytes && n > MODEL_RECORD_MAX_BYTES) {
        jn_err_set(err, JN_EPRECOND,
                   "the uploaded model is %zu bytes; at most %zu can be kept in the server's state: put the file in "
                   "the model repository (serve --models DIR) and call LoadModel with its name and no bytes",
                   n, MODEL_RECORD_MAX_BYTES);
        return NULL;
    }
    char *b64 = NULL;
    size_t b64_len = 0;
    if (bytes && !(b64 = jn_base64_encode(bytes, n, &b64_len))) {
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    json_t *o = b64 ? json_pack("{s:s, s:s}", "version", version, "onnx_base64", b64)
                    : json_pack("{s:s}", "version", version);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    free(b64);
    if (!text)
        jn_err_set(err, JN_ENOMEM, "out of memory");
    return text;
}

typedef struct load_change {
    jn_registry *reg;
    const char *platform;
    jn_engine *engine;
    bool replaced;
} load_change;

static int apply_load(void *arg, jn_err *err)
{
    load_change *c = arg;
    return jn_registry_put(c->reg, jn_engine_ref(c->engine), NULL, may_replace_loaded, (void *)c->platform,
                           &c->replaced, err);
}

typedef struct unload_change {
    jn_registry *reg;
    const char *platform;
    const char *name;
} unload_change;

static int apply_unload(void *arg, jn_err *err)
{
    unload_change *c = arg;
    return jn_registry_remove_if(c->reg, c->name, may_remove_loaded, (void *)c->platform, err);
}

int jn_model_record_apply(void *records, const char *name, const char *value_json, jn_err *err)
{
    jn_model_records *m = records;
    if (!value_json) {
        int rc = jn_registry_remove_if(m->reg, name, may_remove_loaded, (void *)m->platform, err);
        return rc == JN_ENOTFOUND ? 0 : rc;
    }
    if (!m->load)
        return jn_err_set(err, JN_EUNIMPL, "model '%s': this server loads no model files", name);
    json_error_t jerr;
    json_t *o = json_loads(value_json, 0, &jerr);
    const char *version = o ? json_string_value(json_object_get(o, "version")) : NULL;
    const char *b64 = o ? json_string_value(json_object_get(o, "onnx_base64")) : NULL;
    if (!o || !version) {
        json_decref(o);
        return jn_err_set(err, JN_EINVAL, "model '%s': the state record is not {\"version\", [\"onnx_base64\"]}", name);
    }
    size_t n = 0, bad = 0;
    uint8_t *bytes = b64 ? jn_base64_decode(b64, strlen(b64), &n, &bad) : NULL;
    jn_engine *e = NULL;
    if (b64 && !bytes)
        jn_err_set(err, JN_EINVAL, "model '%s': the state record's onnx_base64 is malformed at %zu", name, bad);
    else
        e = m->load(m->load_arg, name, *version ? version : NULL, bytes, n, err);
    free(bytes);
    json_decref(o);
    if (!e)
        return err && err->code ? err->code : JN_EINVAL;
    return jn_registry_put(m->reg, e, NULL, may_replace_loaded, (void *)m->platform, NULL, err);
}

/* The request of LoadModel / UnloadModel, decoded; NULL once the call was answered with the failure (a server that
 * loads no model files, a message that does not decode). */
static ProtobufCMessage *model_request(jn_unary *u, const ProtobufCMessageDescriptor *desc, grpc_byte_buffer *payload)
{
    const jn_server_options *opt = &u->server->opt;
    if (!opt->load_model) {
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
    const jn_server_options *opt = &u->server->opt;
    Junction__V1__LoadModelRequest *req =
        (Junction__V1__LoadModelRequest *)model_request(u, &junction__v1__load_model_request__descriptor, payload);
    if (!req)
        return;
    jn_err err;
    jn_err_clear(&err);
    jn_engine *e = NULL;
    if (u->server->control->commit && req->onnx.len > MODEL_RECORD_MAX_BYTES) /* refused before any loading */
        model_record("", req->onnx.data, req->onnx.len, &err);
    else if (!model_name_ok(req->name))
        jn_err_set(&err, JN_EINVAL, "name '%s' is not a model name (letters, digits, '-', '_', '.')",
                   req->name ? req->name : "");
    else
        e = opt->load_model(opt->load_model_arg, req->name, req->version && req->version[0] ? req->version : NULL,
                            req->onnx.len ? req->onnx.data : NULL, req->onnx.len, &err);
    if (!e) {
        protobuf_c_message_free_unpacked(&req->base, NULL);
        if (!err.code)
            jn_err_set(&err, JN_EINTERNAL, "the model loader failed without saying why");
        fail_err(u, &err);
        return;
    }
    int rc = 0;
    const char *version = req->version ? req->version : "";
    const uint8_t *bytes = req->onnx.len ? req->onnx.data : NULL;
    size_t n_bytes = req->onnx.len;
    /* Durable before it is acknowledged: the bytes (or, from the repository, just the version) as a state record. */
    jn_control *control = u->server->control;
    char *record = NULL;
    if (!rc && control->commit) {
        record = model_record(version, bytes, n_bytes, &err);
        if (!record)
            rc = err.code ? err.code : JN_ENOMEM;
    }
    load_change change = {u->server->reg, opt->loaded_platform, e, false};
    if (!rc)
        rc = jn_control_commit(control, JN_STATE_KIND_MODEL, e->name, record, apply_load, &change, &err);
    free(record);
    if (rc) {
        if (!err.code)
            jn_err_set(&err, rc, "%s", jn_strerror(rc));
        fail_err(u, &err);
    } else {
        Junction__V1__LoadModelResponse r = JUNCTION__V1__LOAD_MODEL_RESPONSE__INIT;
        r.name = e->name;
        r.replaced = change.replaced;
        jn_unary_reply(u, jn_pb_pack(&r.base));
    }
    protobuf_c_message_free_unpacked(&req->base, NULL);
    jn_engine_unref(e);
}

void jn_admin_unload_model(jn_unary *u, grpc_byte_buffer *payload)
{
    Junction__V1__UnloadModelRequest *req =
        (Junction__V1__UnloadModelRequest *)model_request(u, &junction__v1__unload_model_request__descriptor, payload);
    if (!req)
        return;
    jn_err err;
    jn_err_clear(&err);
    unload_change change = {u->server->reg, u->server->opt.loaded_platform, req->name};
    int rc = !req->name || !req->name[0]
                 ? jn_err_set(&err, JN_EINVAL, "name is empty")
                 : jn_control_commit(u->server->control, JN_STATE_KIND_MODEL, req->name, NULL, apply_unload, &change,
                                     &err);
    protobuf_c_message_free_unpacked(&req->base, NULL);
    if (rc) {
        if (!err.code)
            jn_err_set(&err, rc, "%s", jn_strerror(rc));
        fail_err(u, &err);
        return;
    }
    Junction__V1__UnloadModelResponse r = JUNCTION__V1__UNLOAD_MODEL_RESPONSE__INIT;
    jn_unary_reply(u, jn_pb_pack(&r.base));
}
