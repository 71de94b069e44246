/* broker_service.c — junction.v1.Broker ListModels and GetModel (Infer and InferStream go through infer.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "junction/v1/broker.pb-c.h"
#include "pb.h"
#include "signature_pb.h"

/* Everything one ModelInfo points to, freed after packing. Strings are borrowed from the engine, but for the
 * versions (every version the registry serves under the name, issue #20). */
typedef struct model_info {
    Junction__V1__ModelInfo info;
    jn_signature_pb sig;
    char *one[1];
    char **versions;
    long n_versions;
} model_info;

static int model_info_fill(model_info *mi, const jn_engine *e, jn_registry *reg)
{
    if (jn_signature_pb_fill(&mi->sig, &e->sig))
        return JN_ENOMEM;
    junction__v1__model_info__init(&mi->info);
    mi->info.name = e->name;
    mi->n_versions = jn_registry_versions(reg, e->name, &mi->versions);
    mi->one[0] = e->version;
    mi->info.n_versions = mi->n_versions > 0 ? (size_t)mi->n_versions : 1;
    mi->info.versions = mi->n_versions > 0 ? mi->versions : mi->one;
    mi->info.type = (char *)(e->vt->model_type ? e->vt->model_type : "engine");
    mi->info.platform = (char *)e->vt->platform;
    mi->info.ready = atomic_load(&e->ready) != 0;
    mi->info.signature = &mi->sig.msg;
    if (e->description)
        mi->info.description = e->description;
    return 0;
}

static void model_info_free(model_info *mi)
{
    jn_signature_pb_free(&mi->sig);
    if (mi->n_versions > 0)
        jn_registry_versions_free(mi->versions, mi->n_versions);
}

void jn_broker_list_models(jn_unary *u, grpc_byte_buffer *payload)
{
    jn_err err;
    ProtobufCMessage *req = jn_pb_unpack(&junction__v1__list_models_request__descriptor, payload, &err);
    if (!req) {
        jn_unary_fail(u, err.code, err.msg);
        return;
    }
    protobuf_c_message_free_unpacked(req, NULL);
    jn_engine **engines;
    long n = jn_registry_list(u->server->reg, &engines);
    if (n < 0) {
        jn_unary_fail(u, JN_ENOMEM, "out of memory");
        return;
    }
    model_info *infos = calloc(n ? (size_t)n : 1, sizeof *infos);
    Junction__V1__ModelInfo **ptrs = calloc(n ? (size_t)n : 1, sizeof *ptrs);
    int rc = infos && ptrs ? 0 : JN_ENOMEM;
    long k = 0;
    for (long i = 0; !rc && i < n; i++) {
        /* One entry per name (its versions listed), described by its highest version (the list is in version
         * order within a name). */
        if (i + 1 < n && strcmp(engines[i]->name, engines[i + 1]->name) == 0)
            continue;
        rc = model_info_fill(&infos[k], engines[i], u->server->reg);
        ptrs[k] = &infos[k].info;
        k++;
    }
    if (rc) {
        jn_unary_fail(u, JN_ENOMEM, "out of memory");
    } else {
        Junction__V1__ListModelsResponse r = JUNCTION__V1__LIST_MODELS_RESPONSE__INIT;
        r.n_models = (size_t)k;
        r.models = ptrs;
        jn_unary_reply(u, jn_pb_pack(&r.base));
    }
    for (long i = 0; infos && i < k + (rc && k < n ? 1 : 0); i++) /* and the one that failed half-filled */
        model_info_free(&infos[i]);
    free(infos);
    free(ptrs);
    jn_registry_list_free(engines, n);
}

void jn_broker_get_model(jn_unary *u, grpc_byte_buffer *payload)
{
    jn_err err;
    Junction__V1__GetModelRequest *req =
        (Junction__V1__GetModelRequest *)jn_pb_unpack(&junction__v1__get_model_request__descriptor, payload, &err);
    if (!req) {
        jn_unary_fail(u, err.code, err.msg);
        return;
    }
    jn_engine *e = jn_registry_get(u->server->reg, req->name, req->version, &err);
    protobuf_c_message_free_unpacked(&req->base, NULL);
    if (!e) {
        jn_unary_fail(u, err.code, err.msg);
        return;
    }
    model_info mi = {0};
    if (model_info_fill(&mi, e, u->server->reg))
        jn_unary_fail(u, JN_ENOMEM, "out of memory");
    else
        jn_unary_reply(u, jn_pb_pack(&mi.info.base));
    model_info_free(&mi);
    jn_engine_unref(e);
}
