/* codec_v1.c — junction.v1.InferRequest -> jn_request and outputs -> junction.v1.InferResponse.
 *
 * Numeric tensors and embeddings are taken from the decoded message without a copy (their buffers keep the message
 * alive). Output values follow the port's kind when the batch holds one item: TEXT -> text, CLASSIFICATION ->
 * labels sorted by score, EMBEDDING -> embedding; everything else is a tensor with raw (numeric) or strings (BYTES). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "junction/v1/broker.pb-c.h"
#include "params_pb.h"
#include "wire.h"

_Static_assert((int)JN_DTYPE_FP32 == (int)JUNCTION__V1__DATA_TYPE__FP32 &&
                   (int)JN_DTYPE_BYTES == (int)JUNCTION__V1__DATA_TYPE__BYTES &&
                   (int)JN_DTYPE_BOOL == (int)JUNCTION__V1__DATA_TYPE__BOOL,
               "jn_dtype must follow junction.v1.DataType");

static int decode_tensor_value(const char *name, Junction__V1__Tensor *t, jn_pb_holder *holder, jn_tensor **out,
                               jn_err *err)
{
    int dt = (int)t->datatype;
    if (dt <= JN_DTYPE_INVALID || dt >= JN_DTYPE_COUNT)
        return jn_err_set(err, JN_EINVAL, "input '%s': datatype is unspecified or unknown (%d)", name, dt);
    if (dt == JN_DTYPE_BYTES) {
        if (t->n_strings || !t->raw.len)
            return jn_wire_tensor_strings(name, t->n_shape, t->shape, t->strings, t->n_strings, out, err);
        /* raw BYTES use the v2 layout: 4-byte little-endian length before each element */
        return jn_wire_tensor_held(name, JN_DTYPE_BYTES, t->n_shape, t->shape, t->raw.data, t->raw.len, holder,
                                   out, err);
    }
    if (t->n_strings)
        return jn_err_set(err, JN_EINVAL, "input '%s': %s tensors carry their data in 'raw', not 'strings'", name,
                          jn_dtype_name((jn_dtype)dt));
    return jn_wire_tensor_held(name, (jn_dtype)dt, t->n_shape, t->shape, t->raw.data, t->raw.len, holder, out,
                               err);
}

static int decode_value(size_t index, Junction__V1__Value *v, jn_pb_holder *holder, jn_tensor **out, jn_err *err)
{
    const char *name = v->name;
    if (!name || !*name)
        return jn_err_set(err, JN_EINVAL, "input #%zu has no name", index);
    const int64_t one[1] = {1};
    switch (v->value_case) {
    case JUNCTION__V1__VALUE__VALUE_TENSOR:
        return decode_tensor_value(name, v->tensor, holder, out, err);
    case JUNCTION__V1__VALUE__VALUE_TEXT: {
        ProtobufCBinaryData s = {strlen(v->text->text), (uint8_t *)v->text->text};
        return jn_wire_tensor_strings(name, 1, one, &s, 1, out, err);
    }
    case JUNCTION__V1__VALUE__VALUE_IMAGE:
        return jn_wire_tensor_strings(name, 1, one, &v->image->data, 1, out, err);
    case JUNCTION__V1__VALUE__VALUE_AUDIO:
        return jn_wire_tensor_strings(name, 1, one, &v->audio->data, 1, out, err);
    case JUNCTION__V1__VALUE__VALUE_EMBEDDING: {
        const int64_t shape[2] = {1, (int64_t)v->embedding->n_values};
        return jn_wire_tensor_held(name, JN_DTYPE_FP32, 2, shape, v->embedding->values,
                                   v->embedding->n_values * sizeof(float), holder, out, err);
    }
    case JUNCTION__V1__VALUE__VALUE_CLASSIFICATION:
        return jn_err_set(err, JN_EINVAL, "input '%s': classification values are outputs only", name);
    default:
        return jn_err_set(err, JN_EINVAL, "input '%s' has no value (set tensor, text, image, audio or embedding)", name);
    }
}

int jn__v1_decode_value(size_t index, Junction__V1__Value *v, jn_pb_holder *holder, jn_tensor **out, jn_err *err)
{
    return decode_value(index, v, holder, out, err);
}

static int v1_decode(grpc_byte_buffer *bb, jn_request *req, void **state, jn_err *err)
{
    *state = NULL;
    Junction__V1__InferRequest *m =
        (Junction__V1__InferRequest *)jn_pb_unpack(&junction__v1__infer_request__descriptor, bb, err);
    if (!m)
        return err->code;
    jn_pb_holder *holder = jn_pb_holder_create(&m->base);
    if (!holder)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    int rc = jn_request_set_target(req, m->model, m->version, m->id);
    for (size_t i = 0; !rc && i < m->n_outputs; i++)
        rc = jn_request_add_output(req, m->outputs[i]);
    if (rc)
        rc = jn_err_set(err, rc, "out of memory");
    if (!rc)
        for (size_t i = 0; !rc && i < m->n_parameters; i++)
            rc = jn_params_add_v1_pb(&req->params, m->parameters[i]->key, m->parameters[i]->value, err);
    for (size_t i = 0; !rc && i < m->n_inputs; i++) {
        jn_tensor *t;
        rc = decode_value(i, m->inputs[i], holder, &t, err);
        if (!rc && jn_tensor_list_push(&req->inputs, t))
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    jn_pb_holder_unref(holder);
    return rc;
}

/* ---- encoding ---- */

/* Everything one output value needs until the response is packed. */
typedef struct out_value {
    Junction__V1__Value value;
    Junction__V1__Tensor tensor;
    Junction__V1__Text text;
    Junction__V1__Classification cls;
    Junction__V1__Embedding emb;
    ProtobufCBinaryData *strings; /* views into the tensor */
    char *text_buf;
    char **labels; /* borrowed from the port */
    float *scores;
} out_value;

static void out_value_free(out_value *o)
{
    free(o->strings);
    free(o->text_buf);
    free(o->labels);
    free(o->scores);
}

static int encode_as_tensor(out_value *o, const jn_tensor *t)
{
    junction__v1__tensor__init(&o->tensor);
    o->tensor.datatype = (Junction__V1__DataType)t->dtype;
    o->tensor.n_shape = (size_t)t->ndim;
    o->tensor.shape = (int64_t *)t->shape;
    if (t->dtype == JN_DTYPE_BYTES) {
        int oom;
        o->strings = jn_wire_strings_view(t, &o->tensor.n_strings, &oom);
        if (oom)
            return JN_ENOMEM;
        o->tensor.strings = o->strings;
    } else {
        o->tensor.raw.len = t->byte_size;
        o->tensor.raw.data = t->data;
    }
    o->value.value_case = JUNCTION__V1__VALUE__VALUE_TENSOR;
    o->value.tensor = &o->tensor;
    return 0;
}

/* Sorts label indices by descending score (insertion sort: label lists are short). */
static void sort_by_score(size_t n, const float *scores, size_t *order)
{
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (size_t i = 1; i < n; i++) {
        size_t k = order[i], j = i;
        while (j > 0 && scores[order[j - 1]] < scores[k]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = k;
    }
}

static int encode_typed(out_value *o, const jn_port *port, const jn_tensor *t, bool *done)
{
    *done = false;
    int64_t count = jn_tensor_element_count(t);
    if (port->kind == JN_KIND_TEXT && count == 1) {
        size_t pos = 0;
        const uint8_t *elem;
        uint32_t len;
        if (!jn_bytes_next(t->data, t->byte_size, &pos, &elem, &len))
            return 0;
        if (!(o->text_buf = malloc((size_t)len + 1)))
            return JN_ENOMEM;
        memcpy(o->text_buf, elem, len);
        o->text_buf[len] = '\0';
        junction__v1__text__init(&o->text);
        o->text.text = o->text_buf;
        o->value.value_case = JUNCTION__V1__VALUE__VALUE_TEXT;
        o->value.text = &o->text;
        *done = true;
    } else if (port->kind == JN_KIND_CLASSIFICATION && t->dtype == JN_DTYPE_FP32 && port->n_labels &&
               count == (int64_t)port->n_labels) {
        size_t n = port->n_labels;
        size_t *order = malloc(n * sizeof *order);
        o->labels = malloc(n * sizeof *o->labels);
        o->scores = malloc(n * sizeof *o->scores);
        if (!order || !o->labels || !o->scores) {
            free(order);
            return JN_ENOMEM;
        }
        const float *scores = t->data;
        sort_by_score(n, scores, order);
        for (size_t i = 0; i < n; i++) {
            o->labels[i] = port->labels[order[i]];
            o->scores[i] = scores[order[i]];
        }
        free(order);
        junction__v1__classification__init(&o->cls);
        o->cls.n_labels = o->cls.n_scores = n;
        o->cls.labels = o->labels;
        o->cls.scores = o->scores;
        o->value.value_case = JUNCTION__V1__VALUE__VALUE_CLASSIFICATION;
        o->value.classification = &o->cls;
        *done = true;
    } else if (port->kind == JN_KIND_EMBEDDING && t->dtype == JN_DTYPE_FP32 && t->ndim >= 1 &&
               count == t->shape[t->ndim - 1]) {
        junction__v1__embedding__init(&o->emb);
        o->emb.n_values = (size_t)count;
        o->emb.values = t->data;
        o->value.value_case = JUNCTION__V1__VALUE__VALUE_EMBEDDING;
        o->value.embedding = &o->emb;
        *done = true;
    }
    return 0;
}

/* typed: outputs may take the typed shorthand forms (Broker); junction.v1.Engine answers tensors only. */
static grpc_byte_buffer *encode_response(const jn_request *req, const jn_engine *engine,
                                         const jn_tensor_list *outputs, bool partial, bool typed, jn_err *err)
{
    Junction__V1__InferResponse r = JUNCTION__V1__INFER_RESPONSE__INIT;
    r.partial = partial;
    r.model = req->model;
    r.version = engine->version;
    r.id = req->id;
    size_t n = outputs->count;
    out_value *vals = calloc(n ? n : 1, sizeof *vals);
    Junction__V1__Value **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    grpc_byte_buffer *bb = NULL;
    if (!vals || !ptrs)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        const jn_tensor *t = outputs->items[i];
        out_value *o = &vals[i];
        junction__v1__value__init(&o->value);
        o->value.name = t->name;
        ptrs[i] = &o->value;
        const jn_port *port = typed ? jn_signature_find_output(&engine->sig, t->name) : NULL;
        bool done = false;
        if (port && encode_typed(o, port, t, &done))
            goto oom;
        if (!done && encode_as_tensor(o, t))
            goto oom;
    }
    r.n_outputs = n;
    r.outputs = ptrs;
    enum { ANSWER_PARAMS_MAX = 16 }; /* the answer's own parameters (a pipeline's "route.<step>", strings) */
    Junction__V1__Parameter pv[ANSWER_PARAMS_MAX];
    Junction__V1__InferResponse__ParametersEntry pe[ANSWER_PARAMS_MAX], *pp[ANSWER_PARAMS_MAX];
    size_t np = 0;
    for (size_t k = 0; !partial && k < req->answer.count && np < ANSWER_PARAMS_MAX; k++) {
        const jn_param *ap = &req->answer.items[k];
        if (ap->type != JN_PARAM_STRING)
            continue;
        junction__v1__parameter__init(&pv[np]);
        junction__v1__infer_response__parameters_entry__init(&pe[np]);
        pv[np].value_case = JUNCTION__V1__PARAMETER__VALUE_STRING_VALUE;
        pv[np].string_value = ap->v.s;
        pe[np].key = ap->key;
        pe[np].value = &pv[np];
        pp[np] = &pe[np];
        np++;
    }
    r.n_parameters = np;
    r.parameters = pp;
    bb = jn_pb_pack(&r.base);
    goto out;
oom:
    jn_err_set(err, JN_ENOMEM, "out of memory encoding the response of '%s'", req->model);
out:
    for (size_t i = 0; vals && i < n; i++)
        out_value_free(&vals[i]);
    free(vals);
    free(ptrs);
    return bb;
}

static grpc_byte_buffer *v1_encode(const jn_request *req, const jn_engine *engine, const jn_tensor_list *outputs,
                                   const void *state, bool in_stream, jn_err *err)
{
    return encode_response(req, engine, outputs, false, true, err);
}

static grpc_byte_buffer *v1_encode_partial(const jn_request *req, const jn_engine *engine,
                                           const jn_tensor_list *outputs, const void *state, bool final, jn_err *err)
{
    return encode_response(req, engine, outputs, !final, true, err);
}

static grpc_byte_buffer *v1_encode_stream_error(const jn_request *req, const jn_err *err)
{
    Junction__V1__InferResponse r = JUNCTION__V1__INFER_RESPONSE__INIT;
    Junction__V1__Status st = JUNCTION__V1__STATUS__INIT;
    r.model = req->model ? req->model : "";
    r.id = req->id ? req->id : "";
    st.code = jn_err_grpc_status(err->code);
    st.message = (char *)err->msg;
    r.error = &st;
    return jn_pb_pack(&r.base);
}

const jn_infer_proto jn_infer_v1 = {
    .name = "junction.v1",
    .door = "grpc-v1",
    .stream_door = "grpc-v1-stream",
    .decode = v1_decode,
    .encode = v1_encode,
    .encode_partial = v1_encode_partial,
    .encode_stream_error = v1_encode_stream_error,
    .free_state = NULL,
};

/* junction.v1.Engine (engine.proto): the same messages, every output a tensor so the remote side can rebuild it
 * exactly against the signature it was described with. */
static grpc_byte_buffer *engine_encode(const jn_request *req, const jn_engine *engine, const jn_tensor_list *outputs,
                                       const void *state, bool in_stream, jn_err *err)
{
    return encode_response(req, engine, outputs, false, false, err);
}

static grpc_byte_buffer *engine_encode_partial(const jn_request *req, const jn_engine *engine,
                                               const jn_tensor_list *outputs, const void *state, bool final,
                                               jn_err *err)
{
    return encode_response(req, engine, outputs, !final, false, err);
}

const jn_infer_proto jn_infer_engine = {
    .name = "junction.v1.Engine",
    .door = "grpc-engine",
    .stream_door = "grpc-engine-stream",
    .decode = v1_decode,
    .encode = engine_encode,
    .encode_partial = engine_encode_partial,
    .encode_stream_error = v1_encode_stream_error,
    .free_state = NULL,
    .stream_peek = jn_stream_peek_v1,
};
