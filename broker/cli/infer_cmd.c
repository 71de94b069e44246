/* infer_cmd.c — `junction infer`: its flags, the request (inputs from infer_input.c), the call and the printed
 * answer. See infer_input.c's opening comment for the command's whole contract (deadline, ownership, exit codes). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "infer.h"
#include "params_pb.h"
#include "signature.h"
#include "tensor.h"

/* Text output shows at most this many elements per output; --json shows them all. */
#define TEXT_ELEMENT_LIMIT 1000

/* The infer command: outputs ------------------------------------------------------------------------------------- */

/* Checks that a tensor output's payload matches its shape before anything is printed. */
static int check_output(const char *cmd, const Junction__V1__Value *v)
{
    if (v->value_case != JUNCTION__V1__VALUE__VALUE_TENSOR)
        return 0;
    const Junction__V1__Tensor *t = v->tensor;
    jn_dtype dt = (jn_dtype)t->datatype;
    int64_t want = jn_shape_element_count((int)t->n_shape, t->shape);
    const char *problem = NULL;
    unsigned long long got = 0;
    if (want < 0) {
        problem = "an invalid shape";
    } else if (dt == JN_DTYPE_BYTES) {
        got = t->n_strings;
        if (got != (unsigned long long)want)
            problem = "a BYTES element count that does not match its shape";
    } else if (jn_dtype_size(dt) == 0) {
        problem = "no valid datatype";
    } else {
        got = t->raw.len;
        if ((uint64_t)want > SIZE_MAX / jn_dtype_size(dt) || got != (uint64_t)want * jn_dtype_size(dt))
            problem = "a payload size that does not match its shape";
    }
    if (!problem)
        return 0;
    fprintf(stderr, "junction %s: bad response: output '%s' (%s", cmd, v->name, jn_dtype_name(dt));
    jn_cli_print_shape(stderr, t->shape, t->n_shape, false);
    fprintf(stderr, ") has %s (%llu %s)\n", problem, got, dt == JN_DTYPE_BYTES ? "elements" : "bytes");
    return -1;
}

static void print_tensor_data(FILE *out, const Junction__V1__Tensor *t, bool json)
{
    jn_dtype dt = (jn_dtype)t->datatype;
    size_t n = dt == JN_DTYPE_BYTES ? t->n_strings : t->raw.len / jn_dtype_size(dt);
    size_t shown = json || n <= TEXT_ELEMENT_LIMIT ? n : TEXT_ELEMENT_LIMIT;
    fputc('[', out);
    for (size_t i = 0; i < shown; i++) {
        if (i)
            fputs(", ", out);
        if (dt != JN_DTYPE_BYTES)
            jn_cli_print_element(out, t->raw.data + i * jn_dtype_size(dt), dt, json);
        else if (json)
            jn_cli_json_bytes(out, t->strings[i].data, t->strings[i].len);
        else
            jn_cli_text_bytes(out, t->strings[i].data, t->strings[i].len);
    }
    if (shown < n)
        fprintf(out, ", ... (%zu more; --json shows all)", n - shown);
    fputc(']', out);
}

static void print_floats(FILE *out, const float *v, size_t n, bool json)
{
    size_t shown = json || n <= TEXT_ELEMENT_LIMIT ? n : TEXT_ELEMENT_LIMIT;
    char buf[64];
    fputc('[', out);
    for (size_t i = 0; i < shown; i++) {
        jn_cli_format_real(buf, sizeof buf, v[i], JN_DTYPE_FP32, json);
        fprintf(out, "%s%s", i ? ", " : "", buf);
    }
    if (shown < n)
        fprintf(out, ", ... (%zu more; --json shows all)", n - shown);
    fputc(']', out);
}

/* One output as `NAME DTYPE[shape] = [v1, v2, ...]` (typed values: `NAME KIND = ...`). */
static void print_output_text(FILE *out, const Junction__V1__Value *v)
{
    char buf[64];
    switch (v->value_case) {
    case JUNCTION__V1__VALUE__VALUE_TENSOR:
        fprintf(out, "%s %s", v->name, jn_dtype_name((jn_dtype)v->tensor->datatype));
        jn_cli_print_shape(out, v->tensor->shape, v->tensor->n_shape, false);
        fputs(" = ", out);
        print_tensor_data(out, v->tensor, false);
        break;
    case JUNCTION__V1__VALUE__VALUE_TEXT:
        fprintf(out, "%s TEXT = %s", v->name, v->text->text);
        break;
    case JUNCTION__V1__VALUE__VALUE_CLASSIFICATION: {
        const Junction__V1__Classification *c = v->classification;
        size_t n = c->n_scores > c->n_labels ? c->n_scores : c->n_labels;
        fprintf(out, "%s CLASSIFICATION =", v->name);
        for (size_t i = 0; i < n; i++) {
            if (i < c->n_scores)
                jn_cli_format_real(buf, sizeof buf, c->scores[i], JN_DTYPE_FP32, false);
            else
                snprintf(buf, sizeof buf, "?");
            if (i < c->n_labels)
                fprintf(out, "%s %s %s", i ? "," : "", c->labels[i], buf);
            else
                fprintf(out, "%s #%zu %s", i ? "," : "", i, buf);
        }
        break;
    }
    case JUNCTION__V1__VALUE__VALUE_EMBEDDING:
        fprintf(out, "%s EMBEDDING[%zu] = ", v->name, v->embedding->n_values);
        print_floats(out, v->embedding->values, v->embedding->n_values, false);
        break;
    case JUNCTION__V1__VALUE__VALUE_IMAGE:
        fprintf(out, "%s IMAGE = <%zu bytes%s%s>", v->name, v->image->data.len, *v->image->format ? ", " : "",
                v->image->format);
        break;
    case JUNCTION__V1__VALUE__VALUE_AUDIO:
        fprintf(out, "%s AUDIO = <%zu bytes%s%s>", v->name, v->audio->data.len, *v->audio->format ? ", " : "",
                v->audio->format);
        break;
    default:
        fprintf(out, "%s = <empty value>", v->name);
        break;
    }
    fputc('\n', out);
}

/* One output as {"name","datatype","shape","data"}; typed values add "kind" (and "labels", "format"). */
static void print_output_json(FILE *out, const Junction__V1__Value *v)
{
    fputs("{\"name\": ", out);
    jn_cli_json_cstr(out, v->name);
    switch (v->value_case) {
    case JUNCTION__V1__VALUE__VALUE_TENSOR:
        fprintf(out, ", \"datatype\": \"%s\", \"shape\": ", jn_dtype_name((jn_dtype)v->tensor->datatype));
        jn_cli_print_shape(out, v->tensor->shape, v->tensor->n_shape, true);
        fputs(", \"data\": ", out);
        print_tensor_data(out, v->tensor, true);
        break;
    case JUNCTION__V1__VALUE__VALUE_TEXT:
        fputs(", \"kind\": \"TEXT\", \"datatype\": \"BYTES\", \"shape\": [1], \"data\": [", out);
        jn_cli_json_bytes(out, (const uint8_t *)v->text->text, strlen(v->text->text));
        fputc(']', out);
        break;
    case JUNCTION__V1__VALUE__VALUE_CLASSIFICATION: {
        const Junction__V1__Classification *c = v->classification;
        fprintf(out, ", \"kind\": \"CLASSIFICATION\", \"datatype\": \"FP32\", \"shape\": [1, %zu], \"labels\": [",
                c->n_scores);
        for (size_t i = 0; i < c->n_labels; i++) {
            fputs(i ? ", " : "", out);
            jn_cli_json_cstr(out, c->labels[i]);
        }
        fputs("], \"data\": ", out);
        print_floats(out, c->scores, c->n_scores, true);
        break;
    }
    case JUNCTION__V1__VALUE__VALUE_EMBEDDING:
        fprintf(out, ", \"kind\": \"EMBEDDING\", \"datatype\": \"FP32\", \"shape\": [1, %zu], \"data\": ",
                v->embedding->n_values);
        print_floats(out, v->embedding->values, v->embedding->n_values, true);
        break;
    case JUNCTION__V1__VALUE__VALUE_IMAGE:
        fputs(", \"kind\": \"IMAGE\", \"datatype\": \"BYTES\", \"shape\": [1], \"format\": ", out);
        jn_cli_json_cstr(out, v->image->format);
        fputs(", \"data\": [", out);
        jn_cli_json_bytes(out, v->image->data.data, v->image->data.len);
        fputc(']', out);
        break;
    case JUNCTION__V1__VALUE__VALUE_AUDIO:
        fputs(", \"kind\": \"AUDIO\", \"datatype\": \"BYTES\", \"shape\": [1], \"format\": ", out);
        jn_cli_json_cstr(out, v->audio->format);
        fputs(", \"data\": [", out);
        jn_cli_json_bytes(out, v->audio->data.data, v->audio->data.len);
        fputc(']', out);
        break;
    default:
        fputs(", \"datatype\": null, \"shape\": [], \"data\": []", out);
        break;
    }
    fputc('}', out);
}

static int print_infer_response(const char *cmd, const Junction__V1__InferResponse *resp, bool json)
{
    if (resp->error && resp->error->code != 0) {
        fprintf(stderr, "junction %s: %s: %s\n", cmd, jn_grpc_status_name(resp->error->code),
                resp->error->message);
        return JN_CLI_EXIT_FAIL;
    }
    for (size_t i = 0; i < resp->n_outputs; i++)
        if (check_output(cmd, resp->outputs[i]))
            return JN_CLI_EXIT_FAIL;
    if (json) {
        fputs("{\"model\": ", stdout);
        jn_cli_json_cstr(stdout, resp->model);
        fputs(", \"version\": ", stdout);
        jn_cli_json_cstr(stdout, resp->version);
        fputs(", \"id\": ", stdout);
        jn_cli_json_cstr(stdout, resp->id);
        fputs(", \"outputs\": [", stdout);
        for (size_t i = 0; i < resp->n_outputs; i++) {
            fputs(i ? ", " : "", stdout);
            print_output_json(stdout, resp->outputs[i]);
        }
        fputs("]}\n", stdout);
    } else {
        for (size_t i = 0; i < resp->n_outputs; i++)
            print_output_text(stdout, resp->outputs[i]);
    }
    return JN_CLI_EXIT_OK;
}

static void infer_usage(FILE *to)
{
    fprintf(to,
            "usage: junction infer --model NAME [--input SPEC]... [options]\n"
            "\n"
            "Calls a model on a running broker (junction.v1.Broker/Infer) and prints one line per output:\n"
            "  NAME DTYPE[shape] = [v1, v2, ...]\n"
            "(BYTES as quoted strings; typed outputs as NAME TEXT = text, NAME CLASSIFICATION = label score, ...,\n"
            "NAME EMBEDDING[n] = [...]).\n"
            "\n"
            "input SPEC forms:\n"
            "  NAME:DTYPE[d0,d1,...]=v1,v2,...  explicit datatype and shape, comma-separated values\n"
            "                                   (NAME:DTYPE=v1,... is one-dimensional)\n"
            "  NAME=v1,v2,...                   typed by the model's signature: a numeric input gets its fixed\n"
            "                                   dims and 1 for each -1 dim but the last, which takes the rest\n"
            "                                   ([-1,-1] with 3 values is [1,3]); a TEXT or BYTES input gets the\n"
            "                                   whole text after '=' as one element\n"
            "  NAME=@FILE                       the file's bytes as one element (an IMAGE input gets them as an\n"
            "                                   image; an AUDIO or AUDIO_TENSOR input takes WAV/FLAC/Ogg/MP3\n"
            "                                   bytes, decoded by the broker); @- reads stdin; NAME=@@text\n"
            "                                   passes the text \"@text\"\n"
            "\n"
            "options:\n"
            "  --model NAME          the model to call (required)\n"
            "  --version V           the model version (default: the broker's choice)\n"
            "  --id ID               a request id, echoed in the response\n"
            "  --input SPEC          an input, repeatable (see above)\n"
            "  --output NAME         return only this output, repeatable (default: every output)\n"
            "  --param KEY=VALUE     a request parameter, repeatable: an integer if VALUE reads as one, else a\n"
            "                        number, else true/false, else a string (e.g. --param burn_ms=20)\n"
            "  --server HOST:PORT    the broker's gRPC address (default %s)\n"
            "  --timeout-ms N        deadline for the whole command in milliseconds (default %d)\n"
            "  --json                print {\"model\", \"version\", \"id\", \"outputs\": [{\"name\", \"datatype\",\n"
            "                        \"shape\", \"data\"}]}; non-UTF-8 BYTES elements appear as {\"base64\": ...},\n"
            "                        NaN and infinities as null\n"
            "  -h, --help            show this help\n"
            "\n"
            "Text output shows at most %d elements per output; --json shows all.\n"
            "\n"
            "examples:\n"
            "  junction infer --model identity --input 'input:FP32[2,2]=1,2,3,4'\n"
            "  junction infer --model identity --input input=1.5,2.5 --json\n"
            "  junction infer --model burn --input input=1 --param burn_ms=50\n",
            JN_CLI_DEFAULT_SERVER, JN_CLI_DEFAULT_TIMEOUT_MS, TEXT_ELEMENT_LIMIT);
}

/* Parses the infer flags. Returns -1 to go on, or an exit status (help printed, or usage error reported). */
static int parse_infer_opts(const char *cmd, int argc, char **argv, infer_opts *o, jn_cli_arena *a)
{
    size_t cap = (size_t)argc;
    o->inputs = jn_cli_arena_array(a, cap, sizeof *o->inputs);
    o->outputs = jn_cli_arena_array(a, cap, sizeof *o->outputs);
    for (int i = 1; i < argc; i++) {
        const char *v;
        int r;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            infer_usage(stdout);
            return JN_CLI_EXIT_OK;
        }
        if ((r = jn_cli_common_flag(cmd, argc, argv, &i, &o->c)) != 0) {
            if (r < 0)
                goto usage;
        } else if ((r = jn_cli_flag_value(cmd, argc, argv, &i, "--model", &v)) != 0) {
            if (r < 0)
                goto usage;
            if (!*v) {
                fprintf(stderr, "junction %s: --model needs a model name\n", cmd);
                goto usage;
            }
            o->model = v;
        } else if ((r = jn_cli_flag_value(cmd, argc, argv, &i, "--version", &v)) != 0) {
            if (r < 0)
                goto usage;
            o->version = v;
        } else if ((r = jn_cli_flag_value(cmd, argc, argv, &i, "--id", &v)) != 0) {
            if (r < 0)
                goto usage;
            o->id = v;
        } else if ((r = jn_cli_flag_value(cmd, argc, argv, &i, "--input", &v)) != 0) {
            if (r < 0)
                goto usage;
            if (jn__infer_parse_input_spec(cmd, v, &o->inputs[o->n_inputs], a))
                return jn__infer_value_error(cmd);
            for (size_t k = 0; k < o->n_inputs; k++)
                if (strcmp(o->inputs[k].name, o->inputs[o->n_inputs].name) == 0) {
                    fprintf(stderr, "junction %s: --input '%s': input '%s' is already given by '%s'\n", cmd, v,
                            o->inputs[k].name, o->inputs[k].arg);
                    return jn__infer_value_error(cmd);
                }
            o->n_inputs++;
        } else if ((r = jn_cli_flag_value(cmd, argc, argv, &i, "--output", &v)) != 0) {
            if (r < 0)
                goto usage;
            if (!*v) {
                fprintf(stderr, "junction %s: --output needs an output name\n", cmd);
                goto usage;
            }
            o->outputs[o->n_outputs++] = v;
        } else if ((r = jn_cli_flag_value(cmd, argc, argv, &i, "--param", &v)) != 0) {
            if (r < 0)
                goto usage;
            if (jn__infer_parse_param(cmd, v, a, &o->params))
                return jn__infer_value_error(cmd);
        } else {
            jn_cli_unknown_flag(cmd, argv[i]);
            goto usage;
        }
    }
    if (!o->model) {
        fprintf(stderr, "junction %s: --model is required\n", cmd);
        goto usage;
    }
    return -1;
usage:
    fputc('\n', stderr);
    infer_usage(stderr);
    return JN_CLI_EXIT_USAGE;
}

/* Builds the request's inputs, asking the broker for the model's signature when a SPEC needs it. Returns 0, or an
 * exit status after a message. */
static int build_inputs(const char *cmd, jn_cli_rpc *r, const infer_opts *o, jn_cli_arena *a,
                        Junction__V1__InferRequest *req)
{
    ProtobufCMessage *info_msg = NULL;
    for (size_t i = 0; i < o->n_inputs && !info_msg; i++) {
        if (o->inputs[i].form == SPEC_EXPLICIT)
            continue;
        Junction__V1__GetModelRequest get = JUNCTION__V1__GET_MODEL_REQUEST__INIT;
        get.name = (char *)o->model;
        if (o->version)
            get.version = (char *)o->version;
        jn_cli_rpc_status st;
        if (jn_cli_rpc_unary(r, "/junction.v1.Broker/GetModel", &get.base, &junction__v1__model_info__descriptor,
                             &info_msg, &st)) {
            jn_cli_print_status(cmd, r, &st);
            return JN_CLI_EXIT_FAIL;
        }
    }
    const Junction__V1__ModelInfo *info = (const Junction__V1__ModelInfo *)info_msg;
    req->n_inputs = o->n_inputs;
    req->inputs = jn_cli_arena_array(a, o->n_inputs ? o->n_inputs : 1, sizeof *req->inputs);
    int rc = 0;
    for (size_t i = 0; i < o->n_inputs && !rc; i++) {
        const input_spec *s = &o->inputs[i];
        if (s->form == SPEC_EXPLICIT)
            req->inputs[i] = s->value;
        else
            rc = jn__infer_build_from_signature(cmd, s, info, a, &req->inputs[i]);
    }
    if (info_msg)
        protobuf_c_message_free_unpacked(info_msg, NULL);
    return rc;
}

int jn_cmd_infer(int argc, char **argv)
{
    const char *cmd = "infer";
    jn_cli_arena a = {NULL};
    infer_opts o = {.c = {.server = JN_CLI_DEFAULT_SERVER, .timeout_ms = JN_CLI_DEFAULT_TIMEOUT_MS, .json = false}};
    jn_params_init(&o.params);
    int rc = parse_infer_opts(cmd, argc, argv, &o, &a);
    if (rc >= 0) {
        jn_params_clear(&o.params);
        jn_cli_arena_free(&a);
        return rc;
    }

    /* Explicit inputs are checked before connecting: their errors are usage errors. */
    for (size_t i = 0; i < o.n_inputs; i++) {
        input_spec *s = &o.inputs[i];
        if (s->form == SPEC_EXPLICIT && !(s->value = jn__infer_build_explicit(cmd, s, &a))) {
            jn_params_clear(&o.params);
            jn_cli_arena_free(&a);
            return jn__infer_value_error(cmd);
        }
    }

    Junction__V1__InferRequest req = JUNCTION__V1__INFER_REQUEST__INIT;
    req.model = (char *)o.model;
    if (o.version)
        req.version = (char *)o.version;
    if (o.id)
        req.id = (char *)o.id;
    req.n_outputs = o.n_outputs;
    req.outputs = (char **)o.outputs;

    jn_cli_rpc r;
    jn_cli_rpc_open(&r, o.c.server, o.c.timeout_ms);
    if (jn_params_to_v1_request(&o.params, &req)) {
        fprintf(stderr, "junction %s: out of memory\n", cmd);
        rc = JN_CLI_EXIT_FAIL;
    } else {
        rc = build_inputs(cmd, &r, &o, &a, &req);
    }
    if (rc == 0) {
        ProtobufCMessage *msg;
        jn_cli_rpc_status st;
        if (jn_cli_rpc_unary(&r, "/junction.v1.Broker/Infer", &req.base, &junction__v1__infer_response__descriptor,
                             &msg, &st)) {
            jn_cli_print_status(cmd, &r, &st);
            rc = JN_CLI_EXIT_FAIL;
        } else {
            rc = print_infer_response(cmd, (const Junction__V1__InferResponse *)msg, o.c.json);
            protobuf_c_message_free_unpacked(msg, NULL);
        }
    }
    jn_cli_rpc_close(&r);
    free(req.parameters);
    jn_params_clear(&o.params);
    jn_cli_arena_free(&a);
    return jn_cli_finish_stdout(cmd, rc);
}

