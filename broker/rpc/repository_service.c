/* repository_service.c — the v2 model repository extension over gRPC (issue #20): RepositoryIndex,
 * RepositoryModelLoad, RepositoryModelUnload of inference.GRPCInferenceService, as Triton serves them. Admin calls
 * (core/auth.c); the work is model_records.c's, shared with Admin.LoadModel / UnloadModel and the REST doors
 * (broker/http/rest_repository.c).
 *
 * Every handler runs on the pump thread that received the call (a load reads model files: seconds at most for the
 * models served here, as LoadModel already does). repository_name must be "" or "models" (the one repository);
 * load parameters ("config", "file:<v>/<name>") are refused by name: models come from the repository's files. */
#include <stdlib.h>
#include <string.h>

#include "inference/grpc_service.pb-c.h"
#include "internal.h"
#include "model_records.h"
#include "pb.h"

static void fail_err(jn_unary *u, const jn_err *err)
{
    jn_unary_fail(u, err->code, err->msg[0] ? err->msg : jn_strerror(err->code));
}

static ProtobufCMessage *unpack(jn_unary *u, const ProtobufCMessageDescriptor *desc, grpc_byte_buffer *payload)
{
    jn_err err;
    jn_err_clear(&err);
    ProtobufCMessage *m = jn_pb_unpack(desc, payload, &err);
    if (!m)
        fail_err(u, &err);
    return m;
}

/* "" or the one repository's name. */
static int check_repository(const char *name, jn_err *err)
{
    if (name && name[0] && strcmp(name, "models") != 0)
        return jn_err_set(err, JN_ENOTFOUND, "no repository '%s' (this server has one, \"models\": serve --models DIR)",
                          name);
    return 0;
}

void jn_v2_repository_index(jn_unary *u, grpc_byte_buffer *payload)
{
    Inference__RepositoryIndexRequest *req =
        (Inference__RepositoryIndexRequest *)unpack(u, &inference__repository_index_request__descriptor, payload);
    if (!req)
        return;
    jn_err err;
    jn_err_clear(&err);
    jn_repo_state *st = NULL;
    long n = check_repository(req->repository_name, &err) ? -1
                                                          : jn_model_records_index(u->server->opt.models, req->ready,
                                                                                   &st, &err);
    protobuf_c_message_free_unpacked(&req->base, NULL);
    if (n < 0) {
        fail_err(u, &err);
        return;
    }
    Inference__RepositoryIndexResponse__ModelIndex *items = calloc(n ? (size_t)n : 1, sizeof *items);
    Inference__RepositoryIndexResponse__ModelIndex **ptrs = calloc(n ? (size_t)n : 1, sizeof *ptrs);
    if (!items || !ptrs) {
        jn_unary_fail(u, JN_ENOMEM, "out of memory");
    } else {
        for (long i = 0; i < n; i++) {
            inference__repository_index_response__model_index__init(&items[i]);
            items[i].name = st[i].name;
            items[i].version = st[i].version;
            items[i].state = (char *)st[i].state;
            items[i].reason = (char *)st[i].reason;
            ptrs[i] = &items[i];
        }
        Inference__RepositoryIndexResponse r = INFERENCE__REPOSITORY_INDEX_RESPONSE__INIT;
        r.n_models = (size_t)n;
        r.models = ptrs;
        jn_unary_reply(u, jn_pb_pack(&r.base));
    }
    free(items);
    free(ptrs);
    jn_repo_states_free(st, n);
}

void jn_v2_repository_load(jn_unary *u, grpc_byte_buffer *payload)
{
    Inference__RepositoryModelLoadRequest *req = (Inference__RepositoryModelLoadRequest *)unpack(
        u, &inference__repository_model_load_request__descriptor, payload);
    if (!req)
        return;
    jn_err err;
    jn_err_clear(&err);
    int rc = check_repository(req->repository_name, &err);
    if (!rc && req->n_parameters)
        rc = jn_err_set(&err, JN_EUNIMPL,
                        "RepositoryModelLoad: parameter '%s' is not supported (models are loaded from the repository's "
                        "files)", req->parameters[0]->key);
    if (!rc)
        rc = jn_model_records_load_repository(u->server->opt.models, u->server->control, req->model_name, NULL, &err);
    protobuf_c_message_free_unpacked(&req->base, NULL);
    if (rc) {
        fail_err(u, &err);
        return;
    }
    Inference__RepositoryModelLoadResponse r = INFERENCE__REPOSITORY_MODEL_LOAD_RESPONSE__INIT;
    jn_unary_reply(u, jn_pb_pack(&r.base));
}

void jn_v2_repository_unload(jn_unary *u, grpc_byte_buffer *payload)
{
    Inference__RepositoryModelUnloadRequest *req = (Inference__RepositoryModelUnloadRequest *)unpack(
        u, &inference__repository_model_unload_request__descriptor, payload);
    if (!req)
        return;
    jn_err err;
    jn_err_clear(&err);
    int rc = check_repository(req->repository_name, &err);
    for (size_t i = 0; !rc && i < req->n_parameters; i++)
        if (strcmp(req->parameters[i]->key, "unload_dependents") != 0) /* nothing depends on a model file here */
            rc = jn_err_set(&err, JN_EUNIMPL, "RepositoryModelUnload: parameter '%s' is not supported",
                            req->parameters[i]->key);
    if (!rc)
        rc = jn_model_records_unload(u->server->opt.models, u->server->control, req->model_name, &err);
    protobuf_c_message_free_unpacked(&req->base, NULL);
    if (rc) {
        fail_err(u, &err);
        return;
    }
    Inference__RepositoryModelUnloadResponse r = INFERENCE__REPOSITORY_MODEL_UNLOAD_RESPONSE__INIT;
    jn_unary_reply(u, jn_pb_pack(&r.base));
}
