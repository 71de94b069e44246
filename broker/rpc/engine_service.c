/* engine_service.c — junction.v1.Engine Describe: every model of this junction (engines and pipelines) is an
 * engine another junction can register natively. Infer and InferStream are the Broker's paths (infer.c, stream.c)
 * with outputs always encoded as tensors (jn_infer_engine). */
#include <stdlib.h>

#include "internal.h"
#include "junction/v1/engine.pb-c.h"
#include "pb.h"

static void fill_port(Junction__V1__Port *p, const jn_port *src)
{
    junction__v1__port__init(p);
    p->name = src->name;
    p->kind = (Junction__V1__Kind)src->kind;
    p->datatype = (Junction__V1__DataType)src->dtype;
    p->n_shape = (size_t)src->ndim;
    p->shape = (int64_t *)src->shape;
    p->n_labels = src->n_labels;
    p->labels = src->labels;
    if (src->description)
        p->description = src->description;
}

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
    const jn_signature *sig = &e->sig;
    size_t n = sig->n_inputs + sig->n_outputs;
    Junction__V1__Port *ports = calloc(n ? n : 1, sizeof *ports);
    Junction__V1__Port **in = calloc(sig->n_inputs ? sig->n_inputs : 1, sizeof *in);
    Junction__V1__Port **out = calloc(sig->n_outputs ? sig->n_outputs : 1, sizeof *out);
    if (!ports || !in || !out) {
        jn_unary_fail(u, JN_ENOMEM, "out of memory");
    } else {
        for (size_t i = 0; i < sig->n_inputs; i++) {
            fill_port(&ports[i], &sig->inputs[i]);
            in[i] = &ports[i];
        }
        for (size_t i = 0; i < sig->n_outputs; i++) {
            fill_port(&ports[sig->n_inputs + i], &sig->outputs[i]);
            out[i] = &ports[sig->n_inputs + i];
        }
        Junction__V1__Signature s = JUNCTION__V1__SIGNATURE__INIT;
        s.n_inputs = sig->n_inputs;
        s.inputs = in;
        s.n_outputs = sig->n_outputs;
        s.outputs = out;
        Junction__V1__DescribeResponse r = JUNCTION__V1__DESCRIBE_RESPONSE__INIT;
        r.name = e->name;
        r.version = e->version;
        r.signature = &s;
        r.streams = (e->flags & JN_ENGINE_STREAMS) != 0;
        r.platform = (char *)(e->vt->platform ? e->vt->platform : "");
        if (e->description)
            r.description = e->description;
        jn_unary_reply(u, jn_pb_pack(&r.base));
    }
    free(ports);
    free(in);
    free(out);
    jn_engine_unref(e);
}
