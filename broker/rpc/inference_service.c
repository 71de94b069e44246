/* inference_service.c — the KServe v2 metadata, health and statistics RPCs (ModelInfer and ModelStreamInfer go
 * through infer.c / stream.c). */
#include <stdlib.h>
#include <string.h>

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
    static char *extensions[] = {"parameters", "model_stream_infer", "statistics", "model_repository"};
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
        char *one[1] = {e->version}, **versions = NULL;
        long n = jn_registry_versions(u->server->reg, e->name, &versions); /* every version served (issue #20) */
        r.name = e->name;
        r.n_versions = n > 0 ? (size_t)n : 1;
        r.versions = n > 0 ? versions : one;
        r.platform = (char *)e->vt->platform;
        r.n_inputs = sig->n_inputs;
        r.inputs = in_p;
        r.n_outputs = sig->n_outputs;
        r.outputs = out_p;
        jn_unary_reply(u, jn_pb_pack(&r.base));
        if (n > 0)
            jn_registry_versions_free(versions, n);
    }
    free(in);
    free(out);
    free(in_p);
    free(out_p);
    jn_engine_unref(e);
}

/* ---- ModelStatistics (the v2 statistics extension) ---- */

/* One model's answer and the messages it points to, taken from one snapshot of its entry. */
typedef struct model_stat_msg {
    Inference__ModelStatistics ms;
    Inference__InferStatistics is;
    Inference__StatisticDuration d[8];
    Inference__InferBatchStatistics *batch;   /* snap.n_batches */
    Inference__InferBatchStatistics **batch_p;
    Inference__StatisticDuration *batch_d; /* 3 per batch size */
    jn_infer_stats_snapshot snap;
} model_stat_msg;

static Inference__StatisticDuration *duration(Inference__StatisticDuration *d, jn_duration v)
{
    inference__statistic_duration__init(d);
    d->count = v.count;
    d->ns = v.ns;
    return d;
}

/* Fills *out from model m (whose name and version strings it borrows); -1 on out of memory. */
static int model_stat_fill(model_stat_msg *out, jn_model *m)
{
    memset(out, 0, sizeof *out);
    if (jn_infer_stats_snapshot_take(&m->infer, &out->snap))
        return -1;
    const jn_infer_stats_snapshot *s = &out->snap;
    size_t nb = s->n_batches;
    out->batch = calloc(nb ? nb : 1, sizeof *out->batch);
    out->batch_p = calloc(nb ? nb : 1, sizeof *out->batch_p);
    out->batch_d = calloc(nb ? 3 * nb : 1, sizeof *out->batch_d);
    if (!out->batch || !out->batch_p || !out->batch_d)
        return -1;
    inference__infer_statistics__init(&out->is);
    out->is.success = duration(&out->d[0], s->success);
    out->is.fail = duration(&out->d[1], s->fail);
    out->is.queue = duration(&out->d[2], s->queue);
    out->is.compute_input = duration(&out->d[3], s->compute_input);
    out->is.compute_infer = duration(&out->d[4], s->compute_infer);
    out->is.compute_output = duration(&out->d[5], s->compute_output);
    out->is.cache_hit = duration(&out->d[6], s->cache_hit);
    out->is.cache_miss = duration(&out->d[7], s->cache_miss);
    for (size_t i = 0; i < nb; i++) {
        Inference__InferBatchStatistics *b = &out->batch[i];
        inference__infer_batch_statistics__init(b);
        b->batch_size = s->batches[i].batch_size;
        b->compute_input = duration(&out->batch_d[3 * i], s->batches[i].compute_input);
        b->compute_infer = duration(&out->batch_d[3 * i + 1], s->batches[i].compute_infer);
        b->compute_output = duration(&out->batch_d[3 * i + 2], s->batches[i].compute_output);
        out->batch_p[i] = b;
    }
    inference__model_statistics__init(&out->ms);
    out->ms.name = m->engine->name;
    out->ms.version = m->engine->version;
    out->ms.last_inference = s->last_inference_ms;
    out->ms.inference_count = s->inference_count;
    out->ms.execution_count = s->execution_count;
    out->ms.inference_stats = &out->is;
    out->ms.n_batch_stats = nb;
    out->ms.batch_stats = out->batch_p;
    return 0;
}

static void model_stat_clear(model_stat_msg *m)
{
    free(m->batch);
    free(m->batch_p);
    free(m->batch_d);
    jn_infer_stats_snapshot_free(&m->snap);
}

/* name "" = every model (then version must be "" too); else that model, version "" = its current one (one version
 * per model here). Unknown model or version: NOT_FOUND naming it. */
void jn_v2_model_statistics(jn_unary *u, grpc_byte_buffer *payload)
{
    Inference__ModelStatisticsRequest *req = (Inference__ModelStatisticsRequest *)unpack_or_fail(
        u, &inference__model_statistics_request__descriptor, payload);
    if (!req)
        return;
    jn_err err;
    jn_err_clear(&err);
    jn_model **list = NULL, *one = NULL;
    long n = 0;
    if (!req->name[0]) {
        if (req->version[0])
            jn_err_set(&err, JN_EINVAL, "ModelStatistics: 'version' ('%s') needs a model 'name'; leave both empty "
                       "for every model", req->version);
        else if ((n = jn_registry_list_models(u->server->reg, &list)) < 0)
            jn_err_set(&err, JN_ENOMEM, "out of memory listing the models");
    } else if (!req->version[0]) { /* every version of the model, one item each (issue #20) */
        if ((n = jn_registry_list_models(u->server->reg, &list)) < 0) {
            jn_err_set(&err, JN_ENOMEM, "out of memory listing the models");
        } else {
            long kept = 0;
            for (long i = 0; i < n; i++) {
                if (strcmp(list[i]->engine->name, req->name) == 0)
                    list[kept++] = list[i];
                else
                    jn_model_unref(list[i]);
            }
            n = kept;
            if (!kept) {
                free(list);
                list = NULL;
                jn_err_set(&err, JN_ENOTFOUND, "model '%s' is not registered", req->name);
            }
        }
    } else if ((one = jn_registry_resolve(u->server->reg, req->name, req->version, &err))) {
        list = &one;
        n = 1;
    }
    protobuf_c_message_free_unpacked(&req->base, NULL);
    if (err.code) {
        jn_unary_fail(u, err.code, err.msg);
        return;
    }
    size_t slots = n > 0 ? (size_t)n : 1; /* n >= 0 here; said so for the compiler's allocation-size check */
    model_stat_msg *msgs = calloc(slots, sizeof *msgs);
    Inference__ModelStatistics **ptrs = calloc(slots, sizeof *ptrs);
    long filled = 0;
    bool oom = !msgs || !ptrs;
    for (; !oom && filled < n; filled++) {
        oom = model_stat_fill(&msgs[filled], list[filled]) != 0;
        ptrs[filled] = &msgs[filled].ms;
    }
    if (oom) {
        jn_unary_fail(u, JN_ENOMEM, "out of memory building the statistics");
    } else {
        Inference__ModelStatisticsResponse r = INFERENCE__MODEL_STATISTICS_RESPONSE__INIT;
        r.n_model_stats = (size_t)n;
        r.model_stats = ptrs;
        jn_unary_reply(u, jn_pb_pack(&r.base)); /* packed before the models' names are released below */
    }
    for (long i = 0; msgs && i < filled; i++)
        model_stat_clear(&msgs[i]);
    free(msgs);
    free(ptrs);
    if (one)
        jn_model_unref(one);
    else if (list)
        jn_registry_list_models_free(list, n);
}
