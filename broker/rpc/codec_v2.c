/* codec_v2.c — inference.ModelInferRequest -> jn_request and outputs -> ModelInferResponse (KServe v2 / Open
 * Inference Protocol, ../shared/docs/open-inference-protocol.md).
 *
 * raw_input_contents and the typed contents whose wire type is the tensor's own (fp32, fp64, int32, int64, uint32,
 * uint64) are taken without a copy; narrower types are converted with a range check. A request that came raw is
 * answered raw (raw_output_contents), otherwise with typed contents; FP16/BF16 outputs force the raw form. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inference/grpc_service.pb-c.h"
#include "internal.h"
#include "params_pb.h"
#include "wire.h"

typedef struct v2_state {
    bool raw; /* answer with raw_output_contents */
} v2_state;

/* Which typed-contents field carries a datatype. */
typedef enum { F_NONE, F_BOOL, F_INT, F_INT64, F_UINT, F_UINT64, F_FP32, F_FP64, F_BYTES } contents_field;

static const char *const field_names[] = {"", "bool_contents", "int_contents", "int64_contents", "uint_contents",
                                          "uint64_contents", "fp32_contents", "fp64_contents", "bytes_contents"};

static contents_field field_of(jn_dtype dt)
{
    switch (dt) {
    case JN_DTYPE_BOOL:
        return F_BOOL;
    case JN_DTYPE_INT8:
    case JN_DTYPE_INT16:
    case JN_DTYPE_INT32:
        return F_INT;
    case JN_DTYPE_INT64:
        return F_INT64;
    case JN_DTYPE_UINT8:
    case JN_DTYPE_UINT16:
    case JN_DTYPE_UINT32:
        return F_UINT;
    case JN_DTYPE_UINT64:
        return F_UINT64;
    case JN_DTYPE_FP32:
        return F_FP32;
    case JN_DTYPE_FP64:
        return F_FP64;
    case JN_DTYPE_BYTES:
        return F_BYTES;
    default:
        return F_NONE;
    }
}

static size_t field_count(const Inference__InferTensorContents *c, contents_field f)
{
    switch (f) {
    case F_BOOL:
        return c->n_bool_contents;
    case F_INT:
        return c->n_int_contents;
    case F_INT64:
        return c->n_int64_contents;
    case F_UINT:
        return c->n_uint_contents;
    case F_UINT64:
        return c->n_uint64_contents;
    case F_FP32:
        return c->n_fp32_contents;
    case F_FP64:
        return c->n_fp64_contents;
    case F_BYTES:
        return c->n_bytes_contents;
    default:
        return 0;
    }
}

static bool contents_empty(const Inference__InferTensorContents *c)
{
    for (int f = F_BOOL; f <= F_BYTES; f++)
        if (field_count(c, (contents_field)f))
            return false;
    return true;
}

/* Copies narrow integer contents into a fresh tensor, checking each value fits. */
static int narrow_tensor(const char *name, jn_dtype dt, size_t n_shape, const int64_t *shape,
                         const Inference__InferTensorContents *c, jn_tensor **out, jn_err *err)
{
    size_t n = field_count(c, field_of(dt));
    const int64_t count_shape[1] = {(int64_t)n};
    /* Allocate by value count; validation compares it with the declared shape afterwards. */
    jn_tensor *t = jn_tensor_create(name, dt, 1, count_shape, err);
    if (!t)
        return err->code;
    if (n_shape > JN_MAX_DIMS) {
        jn_tensor_free(t);
        return jn_err_set(err, JN_EINVAL, "input '%s': rank %zu exceeds the maximum of %d", name, n_shape,
                          JN_MAX_DIMS);
    }
    t->ndim = (int)n_shape;
    if (n_shape)
        memcpy(t->shape, shape, n_shape * sizeof *shape);
    for (size_t i = 0; i < n; i++) {
        int64_t v;
        int64_t lo, hi;
        switch (dt) {
        case JN_DTYPE_BOOL:
            ((uint8_t *)t->data)[i] = c->bool_contents[i] ? 1 : 0;
            continue;
        case JN_DTYPE_INT8:
            v = c->int_contents[i], lo = INT8_MIN, hi = INT8_MAX;
            break;
        case JN_DTYPE_INT16:
            v = c->int_contents[i], lo = INT16_MIN, hi = INT16_MAX;
            break;
        case JN_DTYPE_UINT8:
            v = c->uint_contents[i], lo = 0, hi = UINT8_MAX;
            break;
        default: /* UINT16 */
            v = c->uint_contents[i], lo = 0, hi = UINT16_MAX;
            break;
        }
        if (v < lo || v > hi) {
            jn_tensor_free(t);
            return jn_err_set(err, JN_EINVAL, "input '%s': %s[%zu] = %lld does not fit %s", name,
                              field_names[field_of(dt)], i, (long long)v, jn_dtype_name(dt));
        }
        switch (dt) {
        case JN_DTYPE_INT8:
            ((int8_t *)t->data)[i] = (int8_t)v;
            break;
        case JN_DTYPE_INT16:
            ((int16_t *)t->data)[i] = (int16_t)v;
            break;
        case JN_DTYPE_UINT8:
            ((uint8_t *)t->data)[i] = (uint8_t)v;
            break;
        default:
            ((uint16_t *)t->data)[i] = (uint16_t)v;
            break;
        }
    }
    *out = t;
    return 0;
}

static int decode_contents(Inference__ModelInferRequest__InferInputTensor *in, jn_dtype dt, jn_pb_holder *holder,
                           jn_tensor **out, jn_err *err)
{
    static const Inference__InferTensorContents empty = INFERENCE__INFER_TENSOR_CONTENTS__INIT;
    const Inference__InferTensorContents *c = in->contents ? in->contents : &empty;
    contents_field want = field_of(dt);
    if (want == F_NONE)
        return jn_err_set(err, JN_EINVAL, "input '%s': %s data can only be sent in raw_input_contents", in->name,
                          jn_dtype_name(dt));
    for (int f = F_BOOL; f <= F_BYTES; f++)
        if (f != (int)want && field_count(c, (contents_field)f))
            return jn_err_set(err, JN_EINVAL, "input '%s' is %s, so its data belongs in %s, not in %s", in->name,
                              jn_dtype_name(dt), field_names[want], field_names[f]);
    size_t n = field_count(c, want);
    void *data = NULL;
    switch (dt) {
    case JN_DTYPE_BYTES:
        return jn_wire_tensor_strings(in->name, in->n_shape, in->shape, c->bytes_contents, n, out, err);
    case JN_DTYPE_INT32:
        data = c->int_contents;
        break;
    case JN_DTYPE_INT64:
        data = c->int64_contents;
        break;
    case JN_DTYPE_UINT32:
        data = c->uint_contents;
        break;
    case JN_DTYPE_UINT64:
        data = c->uint64_contents;
        break;
    case JN_DTYPE_FP32:
        data = c->fp32_contents;
        break;
    case JN_DTYPE_FP64:
        data = c->fp64_contents;
        break;
    default:
        return narrow_tensor(in->name, dt, in->n_shape, in->shape, c, out, err);
    }
    return jn_wire_tensor_held(in->name, dt, in->n_shape, in->shape, data, n * jn_dtype_size(dt), holder, out, err);
}

static int v2_decode(grpc_byte_buffer *bb, jn_request *req, void **state, jn_err *err)
{
    *state = NULL;
    Inference__ModelInferRequest *m =
        (Inference__ModelInferRequest *)jn_pb_unpack(&inference__model_infer_request__descriptor, bb, err);
    if (!m)
        return err->code;
    jn_pb_holder *holder = jn_pb_holder_create(&m->base);
    v2_state *st = calloc(1, sizeof *st);
    if (!holder || !st) {
        jn_pb_holder_unref(holder);
        free(st);
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    *state = st;
    st->raw = m->n_raw_input_contents > 0;
    int rc = jn_request_set_target(req, m->model_name, m->model_version, m->id) ? jn_err_set(err, JN_ENOMEM, "out of memory") : 0;
    for (size_t i = 0; !rc && i < m->n_parameters; i++)
        rc = jn_params_add_v2_pb(&req->params, m->parameters[i]->key, m->parameters[i]->value, err);
    for (size_t i = 0; !rc && i < m->n_outputs; i++) {
        Inference__ModelInferRequest__InferRequestedOutputTensor *o = m->outputs[i];
        for (size_t k = 0; k < o->n_parameters; k++)
            if (strcmp(o->parameters[k]->key, "classification") == 0)
                rc = jn_err_set(err, JN_EINVAL,
                                "output '%s': the 'classification' parameter is not supported; ask for the "
                                "model's CLASSIFICATION port instead",
                                o->name);
        if (!rc && jn_request_add_output(req, o->name))
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    if (!rc && st->raw && m->n_raw_input_contents != m->n_inputs)
        rc = jn_err_set(err, JN_EINVAL,
                        "raw_input_contents has %zu entries for %zu inputs (one per input, in input order)",
                        m->n_raw_input_contents, m->n_inputs);
    for (size_t i = 0; !rc && i < m->n_inputs; i++) {
        Inference__ModelInferRequest__InferInputTensor *in = m->inputs[i];
        if (!in->name || !*in->name) {
            rc = jn_err_set(err, JN_EINVAL, "input #%zu has no name", i);
            break;
        }
        jn_dtype dt = jn_dtype_from_name(in->datatype);
        if (dt == JN_DTYPE_INVALID) {
            rc = jn_err_set(err, JN_EINVAL, "input '%s': unknown datatype '%s' (expected one of BOOL, UINT8, "
                            "UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, FP32, FP64, BF16, BYTES)",
                            in->name, in->datatype);
            break;
        }
        jn_tensor *t = NULL;
        if (st->raw) {
            if (in->contents && !contents_empty(in->contents)) {
                rc = jn_err_set(err, JN_EINVAL,
                                "input '%s': contents must be empty when raw_input_contents is used", in->name);
                break;
            }
            rc = jn_wire_tensor_held(in->name, dt, in->n_shape, in->shape, m->raw_input_contents[i].data,
                                     m->raw_input_contents[i].len, holder, &t, err);
        } else {
            rc = decode_contents(in, dt, holder, &t, err);
        }
        if (!rc && jn_tensor_list_push(&req->inputs, t))
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    jn_pb_holder_unref(holder);
    return rc;
}

/* ---- encoding ---- */

typedef struct out_tensor {
    Inference__ModelInferResponse__InferOutputTensor t;
    Inference__InferTensorContents c;
    void *converted; /* widened copy for narrow types */
    ProtobufCBinaryData *strings;
} out_tensor;

static int fill_contents(out_tensor *o, const jn_tensor *t)
{
    inference__infer_tensor_contents__init(&o->c);
    size_t n = (size_t)jn_tensor_element_count(t);
    switch (t->dtype) {
    case JN_DTYPE_BYTES: {
        int oom;
        o->strings = jn_wire_strings_view(t, &o->c.n_bytes_contents, &oom);
        if (oom)
            return JN_ENOMEM;
        o->c.bytes_contents = o->strings;
        break;
    }
    case JN_DTYPE_INT32:
        o->c.n_int_contents = n, o->c.int_contents = t->data;
        break;
    case JN_DTYPE_INT64:
        o->c.n_int64_contents = n, o->c.int64_contents = t->data;
        break;
    case JN_DTYPE_UINT32:
        o->c.n_uint_contents = n, o->c.uint_contents = t->data;
        break;
    case JN_DTYPE_UINT64:
        o->c.n_uint64_contents = n, o->c.uint64_contents = t->data;
        break;
    case JN_DTYPE_FP32:
        o->c.n_fp32_contents = n, o->c.fp32_contents = t->data;
        break;
    case JN_DTYPE_FP64:
        o->c.n_fp64_contents = n, o->c.fp64_contents = t->data;
        break;
    default: { /* BOOL, INT8/16, UINT8/16 widen to 32 bits */
        uint32_t *w = malloc((n ? n : 1) * sizeof *w);
        if (!w)
            return JN_ENOMEM;
        o->converted = w;
        for (size_t i = 0; i < n; i++) {
            switch (t->dtype) {
            case JN_DTYPE_BOOL:
                w[i] = ((const uint8_t *)t->data)[i] != 0;
                break;
            case JN_DTYPE_INT8:
                w[i] = (uint32_t)(int32_t)((const int8_t *)t->data)[i];
                break;
            case JN_DTYPE_INT16:
                w[i] = (uint32_t)(int32_t)((const int16_t *)t->data)[i];
                break;
            case JN_DTYPE_UINT8:
                w[i] = ((const uint8_t *)t->data)[i];
                break;
            default:
                w[i] = ((const uint16_t *)t->data)[i];
                break;
            }
        }
        if (t->dtype == JN_DTYPE_BOOL)
            o->c.n_bool_contents = n, o->c.bool_contents = (protobuf_c_boolean *)w;
        else if (t->dtype == JN_DTYPE_INT8 || t->dtype == JN_DTYPE_INT16)
            o->c.n_int_contents = n, o->c.int_contents = (int32_t *)w;
        else
            o->c.n_uint_contents = n, o->c.uint_contents = w;
        break;
    }
    }
    o->t.contents = &o->c;
    return 0;
}

_Static_assert(sizeof(protobuf_c_boolean) == sizeof(uint32_t), "bool contents are widened to 32 bits");

static void fill_response(Inference__ModelInferResponse *r, const jn_request *req, const jn_engine *engine)
{
    r->model_name = req->model ? req->model : "";
    r->model_version = engine ? engine->version : (req->version ? req->version : "");
    r->id = req->id ? req->id : "";
}

/* final_flag: -1 = not a decoupled stream answer; 0/1 = the triton_final_response parameter to send. */
static grpc_byte_buffer *encode_response(const jn_request *req, const jn_engine *engine,
                                         const jn_tensor_list *outputs, const void *state, bool in_stream,
                                         int final_flag, jn_err *err)
{
    const v2_state *st = state;
    bool raw = st && st->raw;
    for (size_t i = 0; i < outputs->count; i++)
        if (field_of(outputs->items[i]->dtype) == F_NONE)
            raw = true;
    Inference__ModelInferResponse r = INFERENCE__MODEL_INFER_RESPONSE__INIT;
    fill_response(&r, req, engine);
    size_t n = outputs->count;
    out_tensor *outs = calloc(n ? n : 1, sizeof *outs);
    Inference__ModelInferResponse__InferOutputTensor **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    ProtobufCBinaryData *raws = calloc(n ? n : 1, sizeof *raws);
    grpc_byte_buffer *bb = NULL;
    if (!outs || !ptrs || !raws)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        const jn_tensor *t = outputs->items[i];
        out_tensor *o = &outs[i];
        inference__model_infer_response__infer_output_tensor__init(&o->t);
        o->t.name = t->name;
        o->t.datatype = (char *)jn_dtype_name(t->dtype);
        o->t.n_shape = (size_t)t->ndim;
        o->t.shape = (int64_t *)t->shape;
        ptrs[i] = &o->t;
        if (raw) {
            raws[i].len = t->byte_size;
            raws[i].data = t->data;
        } else if (fill_contents(o, t)) {
            goto oom;
        }
    }
    r.n_outputs = n;
    r.outputs = ptrs;
    if (raw) {
        r.n_raw_output_contents = n;
        r.raw_output_contents = raws;
    }
    Inference__InferParameter final_param = INFERENCE__INFER_PARAMETER__INIT;
    Inference__ModelInferResponse__ParametersEntry final_entry =
        INFERENCE__MODEL_INFER_RESPONSE__PARAMETERS_ENTRY__INIT;
    /* The answer's own parameters (a pipeline's "route.<step>", strings) after Triton's final flag. */
    enum { ANSWER_PARAMS_MAX = 16 };
    Inference__InferParameter answer_param[ANSWER_PARAMS_MAX];
    Inference__ModelInferResponse__ParametersEntry answer_entry[ANSWER_PARAMS_MAX];
    Inference__ModelInferResponse__ParametersEntry *final_entries[1 + ANSWER_PARAMS_MAX] = {&final_entry};
    size_t n_params = 0;
    if (final_flag >= 0) { /* Triton's decoupled-model convention */
        final_param.parameter_choice_case = INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_BOOL_PARAM;
        final_param.bool_param = final_flag;
        final_entry.key = "triton_final_response";
        final_entry.value = &final_param;
        n_params = 1;
    }
    for (size_t k = 0; k < req->answer.count && k < ANSWER_PARAMS_MAX; k++) {
        const jn_param *ap = &req->answer.items[k];
        if (ap->type != JN_PARAM_STRING)
            continue;
        inference__infer_parameter__init(&answer_param[k]);
        inference__model_infer_response__parameters_entry__init(&answer_entry[k]);
        answer_param[k].parameter_choice_case = INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_STRING_PARAM;
        answer_param[k].string_param = ap->v.s;
        answer_entry[k].key = ap->key;
        answer_entry[k].value = &answer_param[k];
        final_entries[n_params++] = &answer_entry[k];
    }
    if (n_params) {
        r.n_parameters = n_params;
        r.parameters = final_entries;
    }
    if (in_stream) {
        Inference__ModelStreamInferResponse sr = INFERENCE__MODEL_STREAM_INFER_RESPONSE__INIT;
        sr.infer_response = &r;
        bb = jn_pb_pack(&sr.base);
    } else {
        bb = jn_pb_pack(&r.base);
    }
    goto out;
oom:
    jn_err_set(err, JN_ENOMEM, "out of memory encoding the response of '%s'", req->model);
out:
    for (size_t i = 0; outs && i < n; i++) {
        free(outs[i].converted);
        free(outs[i].strings);
    }
    free(outs);
    free(ptrs);
    free(raws);
    return bb;
}

static grpc_byte_buffer *v2_encode(const jn_request *req, const jn_engine *engine, const jn_tensor_list *outputs,
                                   const void *state, bool in_stream, jn_err *err)
{
    return encode_response(req, engine, outputs, state, in_stream, -1, err);
}

static grpc_byte_buffer *v2_encode_partial(const jn_request *req, const jn_engine *engine,
                                           const jn_tensor_list *outputs, const void *state, bool final, jn_err *err)
{
    return encode_response(req, engine, outputs, state, true, final ? 1 : 0, err);
}

static grpc_byte_buffer *v2_encode_stream_error(const jn_request *req, const jn_err *err)
{
    Inference__ModelStreamInferResponse sr = INFERENCE__MODEL_STREAM_INFER_RESPONSE__INIT;
    Inference__ModelInferResponse r = INFERENCE__MODEL_INFER_RESPONSE__INIT;
    fill_response(&r, req, NULL);
    sr.error_message = (char *)err->msg;
    sr.infer_response = &r;
    return jn_pb_pack(&sr.base);
}

const jn_infer_proto jn_infer_v2 = {
    .name = "inference.v2",
    .door = "grpc-v2",
    .stream_door = "grpc-v2-stream",
    .decode = v2_decode,
    .encode = v2_encode,
    .encode_partial = v2_encode_partial,
    .encode_stream_error = v2_encode_stream_error,
    .free_state = free,
};
