/* engine_service.c — junction.v1.Engine Describe: every model of this junction (engines and pipelines) is an
 * engine another junction can register natively. Infer and InferStream are the Broker's paths (infer.c, stream.c)
 * with outputs always encoded as tensors (jn_infer_engine). */
#include <stdlib.h>

#include "internal.h"
#include "junction/v1/engine.pb-c.h"
#include "pb.h"
#include "signature_pb.h"

void jn_engine_describe(jn_unary *u, grpc_byte_buffer *payload)
{
    jn_err err;
    Junction__V1__DescribeRequest *req = (Junction__V1__DescribeRequest *)jn_pb_unpack(
        &junction__v1__describe_request__descriptor, payload, &err);
    if (!req) {
        jn_unary_fail(u, err.code, err.msg);
        return;
    }
    jn_err_clear(&err);
    jn_engine *e = req->model && *req->model ? jn_registry_get(u->server->reg, req->model, req->version, &err)
                                             : NULL;
    if (!e && !err.code)
        jn_err_set(&err, JN_EINVAL, "model is empty");
    protobuf_c_message_free_unpacked(&req->base, NULL);
    if (!e) {
        jn_unary_fail(u, err.code, err.msg);
        return;
    }
    jn_signature_pb sig = {0};
    if (jn_signature_pb_fill(&sig, &e->sig)) {
        jn_unary_fail(u, JN_ENOMEM, "out of memory");
    } else {
        Junction__V1__DescribeResponse r = JUNCTION__V1__DESCRIBE_RESPONSE__INIT;
        r.name = e->name;
        r.version = e->version;
        r.signature = &sig.msg;
        r.streams = (e->flags & JN_ENGINE_STREAMS) != 0;
        r.platform = (char *)(e->vt->platform ? e->vt->platform : "");
        if (e->description)
            r.description = e->description;
        jn_unary_reply(u, jn_pb_pack(&r.base));
    }
    jn_signature_pb_free(&sig);
    jn_engine_unref(e);
}
