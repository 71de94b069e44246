/* infer_input.c — `junction infer`'s --input and --param values: each SPEC's syntax checked before connecting,
 * then built into junction.v1 Values (explicitly typed, or typed by the model's signature after GetModel).
 *
 * The client commands (`junction models`: models_cmd.c; `junction infer`: infer_cmd.c and this file) are one-shot
 * C-core gRPC clients of junction.v1.Broker. Each command opens one insecure channel and makes unary calls on one
 * completion queue, all under a single command-wide deadline (--timeout-ms): ListModels for `models`; for `infer`,
 * GetModel first when an --input needs the model's signature (NAME=values, NAME=@FILE), then Infer.
 *
 * Ownership: request messages, parsed arguments and file contents live in a per-command arena freed on return;
 * response messages come from jn_pb_unpack and are freed with protobuf_c_message_free_unpacked. The arena exits the
 * process on out-of-memory (a command-line tool has nothing better to do).
 * Exit codes (cli.h): 0 ok; 1 failure at run time (an RPC status, an unreadable file, a malformed response);
 * 2 bad usage: unknown flags (usage printed), and --input / --param values that do not parse or do not fit the
 * model's signature (message naming the value; signature-typed inputs are checked after GetModel).
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "infer.h"
#include "params.h"
#include "signature.h"
#include "tensor.h"

_Static_assert(JN_KIND_COUNT == 9, "infer_input.c maps every jn_kind to a Value form: update it");

/* The infer command: inputs -------------------------------------------------------------------------------------- */

/* A malformed --input / --param value: the message names it; the full usage would bury it. */
int jn__infer_value_error(const char *cmd)
{
    fprintf(stderr, "(run 'junction %s --help' for the accepted forms)\n", cmd);
    return JN_CLI_EXIT_USAGE;
}


static size_t count_values(const char *list)
{
    if (!*list)
        return 0;
    size_t n = 1;
    for (const char *p = list; *p; p++)
        n += *p == ',';
    return n;
}

/* Copies the comma-separated token starting at *p into buf without surrounding blanks; advances *p past it.
 * Returns false when the token does not fit buf. */
static bool next_token(const char **p, char *buf, size_t n)
{
    const char *s = *p, *e = strchr(s, ',');
    if (!e)
        e = s + strlen(s);
    *p = *e ? e + 1 : e;
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    if ((size_t)(e - s) >= n)
        return false;
    memcpy(buf, s, (size_t)(e - s));
    buf[e - s] = '\0';
    return true;
}

/* Packs n comma-separated values of a numeric dtype into raw. Returns 0, or -1 after naming the bad value. */
static int pack_numeric(const char *cmd, const input_spec *s, jn_dtype dt, const char *list, size_t n, jn_cli_arena *a,
                        ProtobufCBinaryData *raw)
{
    size_t size = jn_dtype_size(dt);
    raw->len = n * size;
    raw->data = jn_cli_arena_array(a, n, size);
    const char *p = list;
    for (size_t i = 0; i < n; i++) {
        char tok[128];
        bool fits = next_token(&p, tok, sizeof tok);
        if (!fits || !tok[0]) {
            fprintf(stderr, "junction %s: --input '%s': value %zu is %s\n", cmd, s->arg, i + 1,
                    fits ? "empty" : "too long for a number");
            return -1;
        }
        int rc = jn_cli_parse_element(tok, dt, raw->data + i * size);
        if (rc == 1) {
            fprintf(stderr, "junction %s: --input '%s': '%s' is not a valid %s value%s\n", cmd, s->arg, tok,
                    jn_dtype_name(dt), dt == JN_DTYPE_BOOL ? " (use true/false or 1/0)" : "");
            return -1;
        }
        if (rc == 2) {
            fprintf(stderr, "junction %s: --input '%s': %s is out of range for %s\n", cmd, s->arg, tok,
                    jn_dtype_name(dt));
            return -1;
        }
    }
    return 0;
}

/* Splits a comma-separated list into n BYTES elements (taken as they are, blanks included). */
static void pack_strings(const char *list, size_t n, jn_cli_arena *a, Junction__V1__Tensor *t)
{
    t->n_strings = n;
    t->strings = jn_cli_arena_array(a, n, sizeof *t->strings);
    const char *p = list;
    for (size_t i = 0; i < n; i++) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        t->strings[i].data = (uint8_t *)jn_cli_arena_strndup(a, p, len);
        t->strings[i].len = len;
        p += len + (e ? 1 : 0);
    }
}

static void upcase(char *s)
{
    for (; *s; s++)
        if (*s >= 'a' && *s <= 'z')
            *s = (char)(*s - 'a' + 'A');
}

/* Parses "NAME:DTYPE[d0,...]" (the part before '='). Returns 0, or -1 after a message. */
static int parse_explicit_lhs(const char *cmd, input_spec *s, const char *lhs, size_t lhs_len, jn_cli_arena *a)
{
    const char *colon = memchr(lhs, ':', lhs_len), *end = lhs + lhs_len;
    s->name = jn_cli_arena_strndup(a, lhs, (size_t)(colon - lhs));
    const char *bracket = memchr(colon + 1, '[', (size_t)(end - colon - 1));
    char *dname = jn_cli_arena_strndup(a, colon + 1, (size_t)((bracket ? bracket : end) - colon - 1));
    upcase(dname);
    s->dtype = jn_dtype_from_name(dname);
    if (s->dtype == JN_DTYPE_INVALID) {
        fprintf(stderr,
                "junction %s: --input '%s': unknown datatype '%s' (BOOL, UINT8..UINT64, INT8..INT64, FP16, FP32, "
                "FP64, BF16, BYTES)\n",
                cmd, s->arg, dname);
        return -1;
    }
    if (!bracket)
        return 0;
    if (end[-1] != ']') {
        fprintf(stderr, "junction %s: --input '%s': the shape must be written [d0,d1,...] right before '='\n", cmd,
                s->arg);
        return -1;
    }
    char *dims = jn_cli_arena_strndup(a, bracket + 1, (size_t)(end - 1 - bracket - 1));
    s->has_shape = true;
    s->ndim = strspn(dims, " \t") == strlen(dims) ? 0 : count_values(dims);
    s->shape = jn_cli_arena_array(a, s->ndim ? s->ndim : 1, sizeof *s->shape);
    const char *p = dims;
    for (size_t i = 0; i < s->ndim; i++) {
        char tok[32], *e;
        bool fits = next_token(&p, tok, sizeof tok);
        errno = 0;
        long long d = fits ? strtoll(tok, &e, 10) : -1;
        if (!fits || e == tok || *e || errno || d < 0) {
            fprintf(stderr, "junction %s: --input '%s': dimension %zu ('%s') must be a non-negative integer\n", cmd,
                    s->arg, i, fits ? tok : "?");
            return -1;
        }
        s->shape[i] = d;
    }
    return 0;
}

/* Checks the syntax of one --input SPEC (no server needed). Returns 0, or -1 after a message. */
int jn__infer_parse_input_spec(const char *cmd, const char *arg, input_spec *s, jn_cli_arena *a)
{
    memset(s, 0, sizeof *s);
    s->arg = arg;
    const char *eq = strchr(arg, '=');
    if (!eq) {
        fprintf(stderr, "junction %s: --input '%s': expected NAME=VALUES, NAME:DTYPE[d0,...]=VALUES or NAME=@FILE\n",
                cmd, arg);
        return -1;
    }
    size_t lhs_len = (size_t)(eq - arg);
    const char *colon = memchr(arg, ':', lhs_len);
    if (lhs_len == 0 || colon == arg) {
        fprintf(stderr, "junction %s: --input '%s': the input has no name\n", cmd, arg);
        return -1;
    }
    s->rhs = eq + 1;
    if (colon) {
        s->form = SPEC_EXPLICIT;
        return parse_explicit_lhs(cmd, s, arg, lhs_len, a);
    }
    s->name = jn_cli_arena_strndup(a, arg, lhs_len);
    if (s->rhs[0] == '@' && s->rhs[1] == '@') {
        s->rhs++; /* @@text: the literal text "@text" */
        s->form = SPEC_VALUES;
    } else if (s->rhs[0] == '@') {
        s->rhs++;
        s->form = SPEC_FILE;
        if (!*s->rhs) {
            fprintf(stderr, "junction %s: --input '%s': no file name after '@' (use @- for stdin)\n", cmd, arg);
            return -1;
        }
    } else {
        s->form = SPEC_VALUES;
    }
    return 0;
}

/* Parses --param KEY=VALUE into params: an integer if it reads as one, else a finite number, else true/false, else a
 * string. Returns 0, or -1 after a message (malformed, or KEY given twice). */
int jn__infer_parse_param(const char *cmd, const char *arg, jn_cli_arena *a, jn_params *params)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) {
        fprintf(stderr, "junction %s: --param '%s': expected KEY=VALUE\n", cmd, arg);
        return -1;
    }
    const char *key = jn_cli_arena_strndup(a, arg, (size_t)(eq - arg));
    if (jn_params_find(params, key)) {
        fprintf(stderr, "junction %s: --param '%s': parameter '%s' is given twice\n", cmd, arg, key);
        return -1;
    }
    const char *v = eq + 1;
    char *end;
    int rc;
    errno = 0;
    long long i = strtoll(v, &end, 10);
    if (*v && end != v && !*end && errno == 0) {
        rc = jn_params_set_int(params, key, i);
    } else {
        errno = 0;
        double d = strtod(v, &end);
        if (*v && end != v && !*end && isfinite(d))
            rc = jn_params_set_double(params, key, d);
        else if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0)
            rc = jn_params_set_bool(params, key, v[0] == 't');
        else
            rc = jn_params_set_string(params, key, v);
    }
    if (rc) {
        fprintf(stderr, "junction %s: out of memory\n", cmd);
        return -1;
    }
    return 0;
}

/* Reads a whole file ("-" = stdin) into the arena. Returns 0, or -1 after a message. */
static int read_file(const char *cmd, const input_spec *s, jn_cli_arena *a, ProtobufCBinaryData *out)
{
    bool is_stdin = strcmp(s->rhs, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(s->rhs, "rb");
    if (!f) {
        fprintf(stderr, "junction %s: --input '%s': cannot open '%s': %s\n", cmd, s->arg, s->rhs, strerror(errno));
        return -1;
    }
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 65536;
            uint8_t *grown = realloc(buf, cap);
            if (!grown) {
                fputs("junction: out of memory\n", stderr);
                exit(JN_CLI_EXIT_FAIL);
            }
            buf = grown;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    int failed = ferror(f);
    if (!is_stdin)
        fclose(f);
    if (failed) {
        fprintf(stderr, "junction %s: --input '%s': cannot read '%s'\n", cmd, s->arg, s->rhs);
        free(buf);
        return -1;
    }
    out->data = jn_cli_arena_alloc(a, len + 1);
    memcpy(out->data, buf, len);
    out->len = len;
    free(buf);
    return 0;
}

/* A tensor value with the given dtype and shape (values filled by the caller). */
static Junction__V1__Value *new_tensor_value(jn_cli_arena *a, const char *name, jn_dtype dt, const int64_t *shape,
                                             size_t ndim)
{
    Junction__V1__Value *v = JN_CLI_ARENA_NEW(a, Junction__V1__Value);
    junction__v1__value__init(v);
    Junction__V1__Tensor *t = JN_CLI_ARENA_NEW(a, Junction__V1__Tensor);
    junction__v1__tensor__init(t);
    v->name = (char *)name;
    v->value_case = JUNCTION__V1__VALUE__VALUE_TENSOR;
    v->tensor = t;
    t->name = (char *)name;
    t->datatype = (Junction__V1__DataType)dt;
    t->n_shape = ndim;
    t->shape = jn_cli_arena_array(a, ndim ? ndim : 1, sizeof *t->shape);
    if (ndim)
        memcpy(t->shape, shape, ndim * sizeof *shape);
    return v;
}

/* An explicit NAME:DTYPE[dims]=values input. Returns NULL after a message. */
Junction__V1__Value *jn__infer_build_explicit(const char *cmd, const input_spec *s, jn_cli_arena *a)
{
    size_t n = count_values(s->rhs);
    int64_t one_d = (int64_t)n;
    const int64_t *shape = s->has_shape ? s->shape : &one_d;
    size_t ndim = s->has_shape ? s->ndim : 1;
    int64_t want = jn_shape_element_count((int)ndim, shape);
    if (want < 0 || (uint64_t)want != n) {
        char type[256];
        fprintf(stderr, "junction %s: --input '%s': %s holds %lld values, got %zu\n", cmd, s->arg,
                jn_format_type(type, sizeof type, s->dtype, (int)ndim, shape), (long long)want, n);
        return NULL;
    }
    Junction__V1__Value *v = new_tensor_value(a, s->name, s->dtype, shape, ndim);
    if (s->dtype == JN_DTYPE_BYTES)
        pack_strings(s->rhs, n, a, v->tensor);
    else if (pack_numeric(cmd, s, s->dtype, s->rhs, n, a, &v->tensor->raw))
        return NULL;
    return v;
}

/* The shape a port gets for n values: fixed dims kept, -1 dims set to 1 except the last, which takes what is
 * left (so [-1,-1] with 3 values is [1,3], [-1,3] with 6 is [2,3]). Returns 0, or -1 when n cannot fill it. */
static int shape_for_count(const Junction__V1__Port *port, size_t n, int64_t *shape)
{
    int64_t fixed = 1;
    size_t last_any = SIZE_MAX;
    for (size_t i = 0; i < port->n_shape; i++) {
        shape[i] = port->shape[i] < 0 ? 1 : port->shape[i];
        if (port->shape[i] < 0)
            last_any = i;
        else if (port->shape[i] != 0 && fixed > INT64_MAX / port->shape[i])
            return -1;
        else
            fixed *= port->shape[i];
    }
    if (last_any == SIZE_MAX)
        return (uint64_t)fixed == n ? 0 : -1;
    if (fixed == 0)
        return n == 0 ? 0 : -1;
    if (n % (uint64_t)fixed != 0)
        return -1;
    shape[last_any] = (int64_t)(n / (uint64_t)fixed);
    return 0;
}

static const Junction__V1__Port *find_input_port(const Junction__V1__ModelInfo *info, const char *name)
{
    const Junction__V1__Signature *sig = info->signature;
    for (size_t i = 0; sig && i < sig->n_inputs; i++)
        if (strcmp(sig->inputs[i]->name, name) == 0)
            return sig->inputs[i];
    return NULL;
}


/* A NAME=values / NAME=text / NAME=@FILE input, typed by the model's signature. Returns 0 with *out set, or after a
 * message JN_CLI_EXIT_USAGE (the SPEC does not fit the signature) or JN_CLI_EXIT_FAIL (unreadable file). */
int jn__infer_build_from_signature(const char *cmd, const input_spec *s, const Junction__V1__ModelInfo *info,
                                   jn_cli_arena *a, Junction__V1__Value **out)
{
    const Junction__V1__Port *port = find_input_port(info, s->name);
    if (!port) {
        fprintf(stderr, "junction %s: --input '%s': model '%s' has no input '%s' (its inputs:", cmd, s->arg, info->name,
                s->name);
        const Junction__V1__Signature *sig = info->signature;
        for (size_t i = 0; sig && i < sig->n_inputs; i++)
            fprintf(stderr, "%s %s", i ? "," : "", sig->inputs[i]->name);
        fputs(sig && sig->n_inputs ? ")\n" : " none)\n", stderr);
        return jn__infer_value_error(cmd);
    }
    char type[256];
    jn_cli_port_type(type, sizeof type, port);
    jn_dtype dt = (jn_dtype)port->datatype;
    Junction__V1__Value *v;

    ProtobufCBinaryData bytes = {0, NULL};
    /* Encoded audio for an AUDIO_TENSOR input: sent as BYTES [1]; the broker decodes and resamples it to the
     * port's rate (issue #17). */
    bool audio_file = s->form == SPEC_FILE && port->kind == JUNCTION__V1__KIND__AUDIO_TENSOR;
    if (s->form == SPEC_FILE) {
        if (dt != JN_DTYPE_BYTES && !audio_file) {
            fprintf(stderr,
                    "junction %s: --input '%s': input '%s' is %s %s; give its values (%s=1,2,...) rather than a "
                    "file\n",
                    cmd, s->arg, s->name, jn_kind_name((jn_kind)port->kind), type, s->name);
            return jn__infer_value_error(cmd);
        }
        if (read_file(cmd, s, a, &bytes))
            return JN_CLI_EXIT_FAIL;
    } else {
        bytes.data = (uint8_t *)jn_cli_arena_strdup(a, s->rhs);
        bytes.len = strlen(s->rhs);
    }

    if (port->kind == JUNCTION__V1__KIND__IMAGE) {
        if (s->form != SPEC_FILE) {
            fprintf(stderr, "junction %s: --input '%s': input '%s' is an IMAGE: pass a file (%s=@photo.png)\n", cmd,
                    s->arg, s->name, s->name);
            return jn__infer_value_error(cmd);
        }
        v = JN_CLI_ARENA_NEW(a, Junction__V1__Value);
        junction__v1__value__init(v);
        Junction__V1__Image *img = JN_CLI_ARENA_NEW(a, Junction__V1__Image);
        junction__v1__image__init(img);
        img->data = bytes;
        v->name = s->name;
        v->value_case = JUNCTION__V1__VALUE__VALUE_IMAGE;
        v->image = img;
        *out = v;
        return 0;
    }
    if ((port->kind == JUNCTION__V1__KIND__AUDIO || audio_file) && s->form != SPEC_FILE) {
        fprintf(stderr, "junction %s: --input '%s': input '%s' takes audio: pass a file (%s=@speech.wav)\n", cmd,
                s->arg, s->name, s->name);
        return jn__infer_value_error(cmd);
    }
    if (port->kind == JUNCTION__V1__KIND__AUDIO) {
        v = JN_CLI_ARENA_NEW(a, Junction__V1__Value);
        junction__v1__value__init(v);
        Junction__V1__Audio *au = JN_CLI_ARENA_NEW(a, Junction__V1__Audio);
        junction__v1__audio__init(au);
        au->data = bytes;
        v->name = s->name;
        v->value_case = JUNCTION__V1__VALUE__VALUE_AUDIO;
        v->audio = au;
        *out = v;
        return 0;
    }
    if (audio_file) {
        const int64_t one[1] = {1};
        v = new_tensor_value(a, s->name, JN_DTYPE_BYTES, one, 1);
        v->tensor->n_strings = 1;
        v->tensor->strings = JN_CLI_ARENA_NEW(a, ProtobufCBinaryData);
        v->tensor->strings[0] = bytes;
        *out = v;
        return 0;
    }
    if (port->kind == JUNCTION__V1__KIND__TEXT && !memchr(bytes.data, '\0', bytes.len)) {
        v = JN_CLI_ARENA_NEW(a, Junction__V1__Value);
        junction__v1__value__init(v);
        Junction__V1__Text *text = JN_CLI_ARENA_NEW(a, Junction__V1__Text);
        junction__v1__text__init(text);
        text->text = (char *)bytes.data; /* NUL-terminated: both sources allocate len + 1 zeroed bytes */
        v->name = s->name;
        v->value_case = JUNCTION__V1__VALUE__VALUE_TEXT;
        v->text = text;
        *out = v;
        return 0;
    }

    int64_t *shape = jn_cli_arena_array(a, port->n_shape ? port->n_shape : 1, sizeof *shape);
    if (dt == JN_DTYPE_BYTES) {
        if (shape_for_count(port, 1, shape)) {
            fprintf(stderr,
                    "junction %s: --input '%s': input '%s' is %s, one element cannot fill it; use the "
                    "explicit form %s:BYTES[d0,...]=a,b,...\n",
                    cmd, s->arg, s->name, type, s->name);
            return jn__infer_value_error(cmd);
        }
        v = new_tensor_value(a, s->name, dt, shape, port->n_shape);
        v->tensor->n_strings = 1;
        v->tensor->strings = JN_CLI_ARENA_NEW(a, ProtobufCBinaryData);
        v->tensor->strings[0] = bytes;
        *out = v;
        return 0;
    }
    if (jn_dtype_size(dt) == 0) {
        fprintf(stderr, "junction %s: model '%s': input '%s' has no usable datatype (%s)\n", cmd, info->name, s->name,
                type);
        return JN_CLI_EXIT_FAIL;
    }
    size_t n = count_values(s->rhs);
    if (n == 0) {
        fprintf(stderr, "junction %s: --input '%s': no values after '='\n", cmd, s->arg);
        return jn__infer_value_error(cmd);
    }
    if (shape_for_count(port, n, shape)) {
        fprintf(stderr, "junction %s: --input '%s': %zu value%s cannot fill input '%s' of shape %s\n", cmd, s->arg, n,
                n == 1 ? "" : "s", s->name, type);
        return jn__infer_value_error(cmd);
    }
    v = new_tensor_value(a, s->name, dt, shape, port->n_shape);
    if (pack_numeric(cmd, s, dt, s->rhs, n, a, &v->tensor->raw))
        return jn__infer_value_error(cmd);
    *out = v;
    return 0;
}

