/* client.c — `junction models` and `junction infer`: one-shot C-core gRPC clients of junction.v1.Broker.
 *
 * Each command opens one insecure channel and makes unary calls on one completion queue, all under a single
 * command-wide deadline (--timeout-ms): ListModels for `models`; for `infer`, GetModel first when an --input needs
 * the model's signature (NAME=values, NAME=@FILE), then Infer.
 *
 * Ownership: request messages, parsed arguments and file contents live in a per-command arena freed on return;
 * response messages come from jn_pb_unpack and are freed with protobuf_c_message_free_unpacked. The arena exits the
 * process on out-of-memory (a command-line tool has nothing better to do).
 * Exit codes (cli.h): 0 ok; 1 failure at run time (an RPC status, an unreadable file, a malformed response);
 * 2 bad usage: unknown flags (usage printed), and --input / --param values that do not parse or do not fit the
 * model's signature (message naming the value; signature-typed inputs are checked after GetModel).
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "junction/v1/broker.pb-c.h"

#include "base64.h"
#include "half.h"
#include "cli.h"
#include "client.h"
#include "params_pb.h"
#include "pb.h"
#include "unary_exchange.h"
#include "signature.h"
#include "tensor.h"

#define JN__STR(x) #x
#define JN__XSTR(x) JN__STR(x)
#define DEFAULT_SERVER JN_DEFAULT_HOST ":" JN__XSTR(JN_DEFAULT_GRPC_PORT)
#define DEFAULT_TIMEOUT_MS 10000
#define MAX_TIMEOUT_MS (24 * 3600 * 1000)
/* Text output shows at most this many elements per output; --json shows them all. */
#define TEXT_ELEMENT_LIMIT 1000
/* Extra time the completion queue waits past the call deadline before cancelling the call itself. */
#define CQ_GRACE_MS 5000

_Static_assert(JN_DTYPE_COUNT == 15, "client.c parses and prints every jn_dtype: update it");
_Static_assert(JN_KIND_COUNT == 7, "client.c maps every jn_kind to a Value form: update it");

/* Arena ---------------------------------------------------------------------------------------------------------- */

typedef struct arena_chunk {
    struct arena_chunk *next;
    max_align_t mem[];
} arena_chunk;

typedef struct arena {
    arena_chunk *head;
} arena;

/* Zeroed memory that lives until arena_free. Exits on out-of-memory. */
static void *arena_alloc(arena *a, size_t size)
{
    arena_chunk *c = size <= SIZE_MAX - sizeof *c ? calloc(1, sizeof *c + size) : NULL;
    if (!c) {
        fputs("junction: out of memory\n", stderr);
        exit(JN_CLI_EXIT_FAIL);
    }
    c->next = a->head;
    a->head = c;
    return c->mem;
}

static void *arena_array(arena *a, size_t n, size_t size)
{
    return arena_alloc(a, n && size > SIZE_MAX / n ? SIZE_MAX : n * size);
}

static char *arena_strndup(arena *a, const char *s, size_t n)
{
    char *d = arena_alloc(a, n + 1);
    memcpy(d, s, n);
    return d;
}

static char *arena_strdup(arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

static void arena_free(arena *a)
{
    while (a->head) {
        arena_chunk *next = a->head->next;
        free(a->head);
        a->head = next;
    }
}

#define ARENA_NEW(a, type) ((type *)arena_alloc((a), sizeof(type)))

/* gRPC: one channel, one completion queue, unary calls --------------------------------------------------------- */

/* rpc and rpc_status: client.h (shared with eval_cmd.c). */
typedef jn_cli_rpc rpc;
typedef jn_cli_rpc_status rpc_status;

void jn_cli_rpc_open(rpc *r, const char *server, int timeout_ms)
{
    grpc_init();
    /* Outputs can be large tensors: no receive limit on the client side. */
    grpc_arg arg = {.type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, .value.integer = -1};
    grpc_channel_args args = {.num_args = 1, .args = &arg};
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    r->server = server;
    r->timeout_ms = timeout_ms;
    r->channel = grpc_channel_create(server, creds, &args);
    grpc_channel_credentials_release(creds);
    r->cq = grpc_completion_queue_create_for_next(NULL);
    r->deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
}

void jn_cli_rpc_close(rpc *r)
{
    grpc_channel_destroy(r->channel);
    grpc_completion_queue_shutdown(r->cq);
    while (grpc_completion_queue_next(r->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type != GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(r->cq);
    grpc_shutdown();
}

int jn_cli_rpc_unary(rpc *r, const char *method, const ProtobufCMessage *req,
                     const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp, rpc_status *st)
{
    *resp = NULL;
    st->code = GRPC_STATUS_UNKNOWN;
    st->message[0] = '\0';

    grpc_call *call = grpc_channel_create_call(r->channel, NULL, GRPC_PROPAGATE_DEFAULTS, r->cq,
                                               grpc_slice_from_static_string(method), NULL, r->deadline, NULL);
    jn_unary_exchange x;
    grpc_call_error ce = jn_unary_exchange_start(&x, call, req, &x);
    if (ce != GRPC_CALL_OK) {
        st->code = GRPC_STATUS_INTERNAL;
        snprintf(st->message, sizeof st->message, "cannot start the %s call (grpc_call_error %d)", method, (int)ce);
    } else {
        /* The call has a deadline, so the batch completes; the grace timeout only guards against a stuck core. */
        gpr_timespec give_up = gpr_time_add(r->deadline, gpr_time_from_millis(CQ_GRACE_MS, GPR_TIMESPAN));
        grpc_event ev = grpc_completion_queue_next(r->cq, give_up, NULL);
        if (ev.type == GRPC_QUEUE_TIMEOUT) {
            grpc_call_cancel(call, NULL);
            ev = grpc_completion_queue_next(r->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        }
        st->code = x.code;
        jn_unary_exchange_message(&x, st->message, sizeof st->message);
        if (x.code == GRPC_STATUS_OK) {
            jn_err err;
            jn_err_clear(&err);
            *resp = jn_unary_exchange_answer(&x, resp_desc, &err);
            if (!*resp) {
                st->code = GRPC_STATUS_INTERNAL;
                snprintf(st->message, sizeof st->message, "bad response from %s: %s", r->server, err.msg);
            }
        }
    }
    jn_unary_exchange_finish(&x);
    grpc_call_unref(call);
    return *resp ? 0 : -1;
}

void jn_cli_print_status(const char *cmd, const rpc *r, const rpc_status *st)
{
    fprintf(stderr, "junction %s: %s: %s", cmd, jn_grpc_status_name(st->code), st->message);
    if (st->code == GRPC_STATUS_UNAVAILABLE)
        fprintf(stderr, " (is a broker serving gRPC on %s?)", r->server);
    else if (st->code == GRPC_STATUS_DEADLINE_EXCEEDED)
        fprintf(stderr, " (--timeout-ms %d)", r->timeout_ms);
    fputc('\n', stderr);
}

/* Command-line flags -------------------------------------------------------------------------------------------- */

typedef struct common_opts {
    const char *server;
    int timeout_ms;
    bool json;
} common_opts;

/* Does argv[*i] name the flag `name` that takes a value ("--name V" or "--name=V")? Returns 1 and sets *value
 * (advancing *i past a separate value), 0 if it is another flag, -1 (after a message) when the value is missing. */
static int flag_value(const char *cmd, int argc, char **argv, int *i, const char *name, const char **value)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *value = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "junction %s: %s needs a value\n", cmd, name);
        return -1;
    }
    *value = argv[++*i];
    return 1;
}

/* The flags every client command takes. Returns 1 if argv[*i] was one, 0 if not, -1 on a bad value (reported). */
static int common_flag(const char *cmd, int argc, char **argv, int *i, common_opts *o)
{
    const char *v;
    int r;
    if (strcmp(argv[*i], "--json") == 0) {
        o->json = true;
        return 1;
    }
    if ((r = flag_value(cmd, argc, argv, i, "--server", &v)) != 0) {
        if (r < 0)
            return -1;
        if (!*v) {
            fprintf(stderr, "junction %s: --server needs HOST:PORT, got an empty value\n", cmd);
            return -1;
        }
        o->server = v;
        return 1;
    }
    if ((r = flag_value(cmd, argc, argv, i, "--timeout-ms", &v)) != 0) {
        if (r < 0)
            return -1;
        char *end;
        errno = 0;
        long ms = strtol(v, &end, 10);
        if (errno || end == v || *end || ms <= 0 || ms > MAX_TIMEOUT_MS) {
            fprintf(stderr, "junction %s: --timeout-ms: '%s' is not a number of milliseconds in 1..%d\n", cmd, v,
                    MAX_TIMEOUT_MS);
            return -1;
        }
        o->timeout_ms = (int)ms;
        return 1;
    }
    return 0;
}

static void unknown_flag(const char *cmd, const char *arg)
{
    if (arg[0] == '-')
        fprintf(stderr, "junction %s: unknown option '%s'\n", cmd, arg);
    else
        fprintf(stderr, "junction %s: unexpected argument '%s'\n", cmd, arg);
}

/* Output helpers ------------------------------------------------------------------------------------------------- */

/* A JSON string; the bytes must be valid UTF-8 (non-ASCII passes through). */
static void json_string(FILE *out, const char *s, size_t n)
{
    fputc('"', out);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            fputs("\\\"", out);
            break;
        case '\\':
            fputs("\\\\", out);
            break;
        case '\n':
            fputs("\\n", out);
            break;
        case '\r':
            fputs("\\r", out);
            break;
        case '\t':
            fputs("\\t", out);
            break;
        default:
            if (c < 0x20)
                fprintf(out, "\\u%04x", c);
            else
                fputc(c, out);
        }
    }
    fputc('"', out);
}

static void json_cstr(FILE *out, const char *s)
{
    json_string(out, s ? s : "", s ? strlen(s) : 0);
}

/* A BYTES element in JSON: a string when it is UTF-8, else {"base64": "..."}. */
static void json_bytes(FILE *out, const uint8_t *p, size_t n)
{
    if (jn_utf8_valid(p, n, NULL)) {
        json_string(out, (const char *)p, n);
        return;
    }
    size_t len = 0;
    char *b64 = jn_base64_encode(p, n, &len);
    fputs("{\"base64\": \"", out);
    if (b64)
        fwrite(b64, 1, len, out);
    fputs("\"}", out);
    free(b64);
}

/* A BYTES element for people: quoted, with C escapes for control characters and for non-UTF-8 bytes. */
static void text_bytes(FILE *out, const uint8_t *p, size_t n)
{
    bool utf8 = jn_utf8_valid(p, n, NULL);
    fputc('"', out);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", out);
        else if (c == '\t')
            fputs("\\t", out);
        else if (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8))
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void print_shape(FILE *out, const int64_t *shape, size_t n, bool json)
{
    fputc('[', out);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%s%lld", i ? (json ? ", " : ",") : "", (long long)shape[i]);
    fputc(']', out);
}

/* Numbers: little-endian element codecs ----------------------------------------------------------------------- */

static void put_le(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static float bits_to_float(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static uint32_t float_to_bits(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return bits;
}

/* Does the decimal text in buf convert back to the same element? Used to print the shortest exact form. */
static bool real_roundtrips(const char *buf, double v, jn_dtype dt)
{
    double back = strtod(buf, NULL);
    switch (dt) {
    case JN_DTYPE_FP16:
        return jn_fp16_from_double((float)back) == jn_fp16_from_double((float)v);
    case JN_DTYPE_BF16:
        return jn_bf16_from_float((float)back) == jn_bf16_from_float((float)v);
    case JN_DTYPE_FP32:
        return (float)back == (float)v;
    default:
        return back == v;
    }
}

/* The shortest decimal that reads back as the same element (1.5, not 1.50000000). */
static void format_real(char *buf, size_t n, double v, jn_dtype dt, bool json)
{
    if (isnan(v) || isinf(v)) {
        /* JSON has no NaN or infinities. */
        snprintf(buf, n, "%s", json ? "null" : isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
        return;
    }
    int prec = 1;
    while (prec < 17) {
        snprintf(buf, n, "%.*g", prec, v);
        if (real_roundtrips(buf, v, dt))
            break;
        prec++;
    }
    /* More digits still read back the same: spend them to write 10 rather than 1e+01. */
    bool plain_range = (v >= 1e-4 && v < 1e16) || (v <= -1e-4 && v > -1e16);
    while (plain_range && strchr(buf, 'e') && prec < 17)
        snprintf(buf, n, "%.*g", ++prec, v);
}

static bool dtype_is_signed(jn_dtype dt)
{
    return dt == JN_DTYPE_INT8 || dt == JN_DTYPE_INT16 || dt == JN_DTYPE_INT32 || dt == JN_DTYPE_INT64;
}

static bool dtype_is_unsigned(jn_dtype dt)
{
    return dt == JN_DTYPE_UINT8 || dt == JN_DTYPE_UINT16 || dt == JN_DTYPE_UINT32 || dt == JN_DTYPE_UINT64;
}

static void print_element(FILE *out, const uint8_t *p, jn_dtype dt, bool json)
{
    size_t size = jn_dtype_size(dt);
    uint64_t u = get_le(p, size);
    char buf[64];
    if (dt == JN_DTYPE_BOOL) {
        fputs(u ? "true" : "false", out);
    } else if (dtype_is_unsigned(dt)) {
        fprintf(out, "%llu", (unsigned long long)u);
    } else if (dtype_is_signed(dt)) {
        unsigned bits = (unsigned)(8 * size);
        int64_t s = bits < 64 && (u >> (bits - 1)) ? (int64_t)(u - (UINT64_C(1) << bits)) : (int64_t)u;
        fprintf(out, "%lld", (long long)s);
    } else {
        double v;
        if (dt == JN_DTYPE_FP16)
            v = jn_fp16_to_float((uint16_t)u);
        else if (dt == JN_DTYPE_BF16)
            v = jn_bf16_to_float((uint16_t)u);
        else if (dt == JN_DTYPE_FP32)
            v = bits_to_float((uint32_t)u);
        else
            memcpy(&v, &u, sizeof v);
        format_real(buf, sizeof buf, v, dt, json);
        fputs(buf, out);
    }
}

/* Parses one value of a numeric dtype into its little-endian bytes at out. Returns 0, 1 (not a valid value of the
 * dtype) or 2 (out of range). */
static int parse_element(const char *tok, jn_dtype dt, uint8_t *out)
{
    size_t size = jn_dtype_size(dt);
    char *end;
    errno = 0;
    if (dt == JN_DTYPE_BOOL) {
        if (strcasecmp(tok, "true") == 0 || strcmp(tok, "1") == 0)
            out[0] = 1;
        else if (strcasecmp(tok, "false") == 0 || strcmp(tok, "0") == 0)
            out[0] = 0;
        else
            return 1;
        return 0;
    }
    if (dtype_is_signed(dt)) {
        long long v = strtoll(tok, &end, 10);
        if (end == tok || *end)
            return 1;
        unsigned bits = (unsigned)(8 * size);
        if (errno == ERANGE || (bits < 64 && (v < -(1LL << (bits - 1)) || v > (1LL << (bits - 1)) - 1)))
            return 2;
        put_le(out, (uint64_t)v, size);
        return 0;
    }
    if (dtype_is_unsigned(dt)) {
        if (tok[0] == '-')
            return tok[1] >= '0' && tok[1] <= '9' ? 2 : 1;
        unsigned long long v = strtoull(tok, &end, 10);
        if (end == tok || *end)
            return 1;
        unsigned bits = (unsigned)(8 * size);
        if (errno == ERANGE || (bits < 64 && v > (1ULL << bits) - 1))
            return 2;
        put_le(out, v, size);
        return 0;
    }
    double d = strtod(tok, &end);
    if (end == tok || *end)
        return 1;
    if (errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL))
        return 2;
    if (dt == JN_DTYPE_FP64) {
        uint64_t bits;
        memcpy(&bits, &d, sizeof bits);
        put_le(out, bits, 8);
        return 0;
    }
    double max = dt == JN_DTYPE_FP16 ? 65504.0 : FLT_MAX;
    if (isfinite(d) && (d > max || d < -max))
        return 2;
    float f = (float)d;
    if (dt == JN_DTYPE_FP32)
        put_le(out, float_to_bits(f), 4);
    else if (dt == JN_DTYPE_FP16)
        put_le(out, jn_fp16_from_double(f), 2);
    else
        put_le(out, jn_bf16_from_float(f), 2);
    return 0;
}

/* The infer command: inputs -------------------------------------------------------------------------------------- */

/* A malformed --input / --param value: the message names it; the full usage would bury it. */
static int value_error(const char *cmd)
{
    fprintf(stderr, "(run 'junction %s --help' for the accepted forms)\n", cmd);
    return JN_CLI_EXIT_USAGE;
}

typedef enum spec_form {
    SPEC_EXPLICIT, /* NAME:DTYPE[dims]=values */
    SPEC_VALUES,   /* NAME=values or NAME=text: typed by the signature */
    SPEC_FILE,     /* NAME=@FILE */
} spec_form;

typedef struct input_spec {
    const char *arg; /* the whole --input argument, for messages */
    char *name;
    spec_form form;
    jn_dtype dtype; /* SPEC_EXPLICIT */
    int64_t *shape; /* SPEC_EXPLICIT; NULL = 1-D of the value count */
    size_t ndim;
    bool has_shape;
    const char *rhs;            /* values, text, or the file path */
    Junction__V1__Value *value; /* SPEC_EXPLICIT: built before connecting */
} input_spec;

typedef struct infer_opts {
    common_opts c;
    const char *model;
    const char *version;
    const char *id;
    input_spec *inputs;
    size_t n_inputs;
    const char **outputs;
    size_t n_outputs;
    jn_params params; /* freed with jn_params_clear */
} infer_opts;

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
static int pack_numeric(const char *cmd, const input_spec *s, jn_dtype dt, const char *list, size_t n, arena *a,
                        ProtobufCBinaryData *raw)
{
    size_t size = jn_dtype_size(dt);
    raw->len = n * size;
    raw->data = arena_array(a, n, size);
    const char *p = list;
    for (size_t i = 0; i < n; i++) {
        char tok[128];
        bool fits = next_token(&p, tok, sizeof tok);
        if (!fits || !tok[0]) {
            fprintf(stderr, "junction %s: --input '%s': value %zu is %s\n", cmd, s->arg, i + 1,
                    fits ? "empty" : "too long for a number");
            return -1;
        }
        int rc = parse_element(tok, dt, raw->data + i * size);
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
static void pack_strings(const char *list, size_t n, arena *a, Junction__V1__Tensor *t)
{
    t->n_strings = n;
    t->strings = arena_array(a, n, sizeof *t->strings);
    const char *p = list;
    for (size_t i = 0; i < n; i++) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        t->strings[i].data = (uint8_t *)arena_strndup(a, p, len);
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
static int parse_explicit_lhs(const char *cmd, input_spec *s, const char *lhs, size_t lhs_len, arena *a)
{
    const char *colon = memchr(lhs, ':', lhs_len), *end = lhs + lhs_len;
    s->name = arena_strndup(a, lhs, (size_t)(colon - lhs));
    const char *bracket = memchr(colon + 1, '[', (size_t)(end - colon - 1));
    char *dname = arena_strndup(a, colon + 1, (size_t)((bracket ? bracket : end) - colon - 1));
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
    char *dims = arena_strndup(a, bracket + 1, (size_t)(end - 1 - bracket - 1));
    s->has_shape = true;
    s->ndim = strspn(dims, " \t") == strlen(dims) ? 0 : count_values(dims);
    s->shape = arena_array(a, s->ndim ? s->ndim : 1, sizeof *s->shape);
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
static int parse_input_spec(const char *cmd, const char *arg, input_spec *s, arena *a)
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
    s->name = arena_strndup(a, arg, lhs_len);
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
static int parse_param(const char *cmd, const char *arg, arena *a, jn_params *params)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) {
        fprintf(stderr, "junction %s: --param '%s': expected KEY=VALUE\n", cmd, arg);
        return -1;
    }
    const char *key = arena_strndup(a, arg, (size_t)(eq - arg));
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
static int read_file(const char *cmd, const input_spec *s, arena *a, ProtobufCBinaryData *out)
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
    out->data = arena_alloc(a, len + 1);
    memcpy(out->data, buf, len);
    out->len = len;
    free(buf);
    return 0;
}

/* A tensor value with the given dtype and shape (values filled by the caller). */
static Junction__V1__Value *new_tensor_value(arena *a, const char *name, jn_dtype dt, const int64_t *shape, size_t ndim)
{
    Junction__V1__Value *v = ARENA_NEW(a, Junction__V1__Value);
    junction__v1__value__init(v);
    Junction__V1__Tensor *t = ARENA_NEW(a, Junction__V1__Tensor);
    junction__v1__tensor__init(t);
    v->name = (char *)name;
    v->value_case = JUNCTION__V1__VALUE__VALUE_TENSOR;
    v->tensor = t;
    t->name = (char *)name;
    t->datatype = (Junction__V1__DataType)dt;
    t->n_shape = ndim;
    t->shape = arena_array(a, ndim ? ndim : 1, sizeof *t->shape);
    if (ndim)
        memcpy(t->shape, shape, ndim * sizeof *shape);
    return v;
}

/* An explicit NAME:DTYPE[dims]=values input. Returns NULL after a message. */
static Junction__V1__Value *build_explicit(const char *cmd, const input_spec *s, arena *a)
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

static void port_type(char *buf, size_t n, const Junction__V1__Port *port)
{
    int64_t shape[JN_MAX_DIMS];
    size_t nd = port->n_shape < JN_MAX_DIMS ? port->n_shape : JN_MAX_DIMS;
    memcpy(shape, port->shape, nd * sizeof *shape);
    jn_format_type(buf, n, (jn_dtype)port->datatype, (int)nd, shape);
}

/* A NAME=values / NAME=text / NAME=@FILE input, typed by the model's signature. Returns 0 with *out set, or after a
 * message JN_CLI_EXIT_USAGE (the SPEC does not fit the signature) or JN_CLI_EXIT_FAIL (unreadable file). */
static int build_from_signature(const char *cmd, const input_spec *s, const Junction__V1__ModelInfo *info, arena *a,
                                Junction__V1__Value **out)
{
    const Junction__V1__Port *port = find_input_port(info, s->name);
    if (!port) {
        fprintf(stderr, "junction %s: --input '%s': model '%s' has no input '%s' (its inputs:", cmd, s->arg, info->name,
                s->name);
        const Junction__V1__Signature *sig = info->signature;
        for (size_t i = 0; sig && i < sig->n_inputs; i++)
            fprintf(stderr, "%s %s", i ? "," : "", sig->inputs[i]->name);
        fputs(sig && sig->n_inputs ? ")\n" : " none)\n", stderr);
        return value_error(cmd);
    }
    char type[256];
    port_type(type, sizeof type, port);
    jn_dtype dt = (jn_dtype)port->datatype;
    Junction__V1__Value *v;

    ProtobufCBinaryData bytes = {0, NULL};
    if (s->form == SPEC_FILE) {
        if (dt != JN_DTYPE_BYTES) {
            fprintf(stderr,
                    "junction %s: --input '%s': input '%s' is %s %s; give its values (%s=1,2,...) rather than a "
                    "file\n",
                    cmd, s->arg, s->name, jn_kind_name((jn_kind)port->kind), type, s->name);
            return value_error(cmd);
        }
        if (read_file(cmd, s, a, &bytes))
            return JN_CLI_EXIT_FAIL;
    } else {
        bytes.data = (uint8_t *)arena_strdup(a, s->rhs);
        bytes.len = strlen(s->rhs);
    }

    if (port->kind == JUNCTION__V1__KIND__IMAGE) {
        if (s->form != SPEC_FILE) {
            fprintf(stderr, "junction %s: --input '%s': input '%s' is an IMAGE: pass a file (%s=@photo.png)\n", cmd,
                    s->arg, s->name, s->name);
            return value_error(cmd);
        }
        v = ARENA_NEW(a, Junction__V1__Value);
        junction__v1__value__init(v);
        Junction__V1__Image *img = ARENA_NEW(a, Junction__V1__Image);
        junction__v1__image__init(img);
        img->data = bytes;
        v->name = s->name;
        v->value_case = JUNCTION__V1__VALUE__VALUE_IMAGE;
        v->image = img;
        *out = v;
        return 0;
    }
    if (port->kind == JUNCTION__V1__KIND__TEXT && !memchr(bytes.data, '\0', bytes.len)) {
        v = ARENA_NEW(a, Junction__V1__Value);
        junction__v1__value__init(v);
        Junction__V1__Text *text = ARENA_NEW(a, Junction__V1__Text);
        junction__v1__text__init(text);
        text->text = (char *)bytes.data; /* NUL-terminated: both sources allocate len + 1 zeroed bytes */
        v->name = s->name;
        v->value_case = JUNCTION__V1__VALUE__VALUE_TEXT;
        v->text = text;
        *out = v;
        return 0;
    }

    int64_t *shape = arena_array(a, port->n_shape ? port->n_shape : 1, sizeof *shape);
    if (dt == JN_DTYPE_BYTES) {
        if (shape_for_count(port, 1, shape)) {
            fprintf(stderr,
                    "junction %s: --input '%s': input '%s' is %s, one element cannot fill it; use the "
                    "explicit form %s:BYTES[d0,...]=a,b,...\n",
                    cmd, s->arg, s->name, type, s->name);
            return value_error(cmd);
        }
        v = new_tensor_value(a, s->name, dt, shape, port->n_shape);
        v->tensor->n_strings = 1;
        v->tensor->strings = ARENA_NEW(a, ProtobufCBinaryData);
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
        return value_error(cmd);
    }
    if (shape_for_count(port, n, shape)) {
        fprintf(stderr, "junction %s: --input '%s': %zu value%s cannot fill input '%s' of shape %s\n", cmd, s->arg, n,
                n == 1 ? "" : "s", s->name, type);
        return value_error(cmd);
    }
    v = new_tensor_value(a, s->name, dt, shape, port->n_shape);
    if (pack_numeric(cmd, s, dt, s->rhs, n, a, &v->tensor->raw))
        return value_error(cmd);
    *out = v;
    return 0;
}

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
    print_shape(stderr, t->shape, t->n_shape, false);
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
            print_element(out, t->raw.data + i * jn_dtype_size(dt), dt, json);
        else if (json)
            json_bytes(out, t->strings[i].data, t->strings[i].len);
        else
            text_bytes(out, t->strings[i].data, t->strings[i].len);
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
        format_real(buf, sizeof buf, v[i], JN_DTYPE_FP32, json);
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
        print_shape(out, v->tensor->shape, v->tensor->n_shape, false);
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
                format_real(buf, sizeof buf, c->scores[i], JN_DTYPE_FP32, false);
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
    json_cstr(out, v->name);
    switch (v->value_case) {
    case JUNCTION__V1__VALUE__VALUE_TENSOR:
        fprintf(out, ", \"datatype\": \"%s\", \"shape\": ", jn_dtype_name((jn_dtype)v->tensor->datatype));
        print_shape(out, v->tensor->shape, v->tensor->n_shape, true);
        fputs(", \"data\": ", out);
        print_tensor_data(out, v->tensor, true);
        break;
    case JUNCTION__V1__VALUE__VALUE_TEXT:
        fputs(", \"kind\": \"TEXT\", \"datatype\": \"BYTES\", \"shape\": [1], \"data\": [", out);
        json_bytes(out, (const uint8_t *)v->text->text, strlen(v->text->text));
        fputc(']', out);
        break;
    case JUNCTION__V1__VALUE__VALUE_CLASSIFICATION: {
        const Junction__V1__Classification *c = v->classification;
        fprintf(out, ", \"kind\": \"CLASSIFICATION\", \"datatype\": \"FP32\", \"shape\": [1, %zu], \"labels\": [",
                c->n_scores);
        for (size_t i = 0; i < c->n_labels; i++) {
            fputs(i ? ", " : "", out);
            json_cstr(out, c->labels[i]);
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
        json_cstr(out, v->image->format);
        fputs(", \"data\": [", out);
        json_bytes(out, v->image->data.data, v->image->data.len);
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
        json_cstr(stdout, resp->model);
        fputs(", \"version\": ", stdout);
        json_cstr(stdout, resp->version);
        fputs(", \"id\": ", stdout);
        json_cstr(stdout, resp->id);
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

static int finish_stdout(const char *cmd, int rc)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "junction %s: cannot write the output: %s\n", cmd, strerror(errno));
        return JN_CLI_EXIT_FAIL;
    }
    return rc;
}

/* junction models ------------------------------------------------------------------------------------------------ */

static void models_usage(FILE *to)
{
    fprintf(to,
            "usage: junction models [--server HOST:PORT] [--timeout-ms N] [--json]\n"
            "\n"
            "Lists the models a running broker serves (junction.v1.Broker/ListModels), one line each:\n"
            "name, versions, type, platform, readiness, and the signature as inputs -> outputs.\n"
            "\n"
            "options:\n"
            "  --server HOST:PORT  the broker's gRPC address (default %s)\n"
            "  --timeout-ms N      deadline in milliseconds (default %d)\n"
            "  --json              print a JSON array of {name, versions, type, platform, ready, description,\n"
            "                      signature: {inputs, outputs}} instead\n"
            "  -h, --help          show this help\n",
            DEFAULT_SERVER, DEFAULT_TIMEOUT_MS);
}

static void print_ports_text(FILE *out, Junction__V1__Port **ports, size_t n)
{
    char type[256];
    for (size_t i = 0; i < n; i++) {
        port_type(type, sizeof type, ports[i]);
        fprintf(out, "%s%s:%s %s", i ? ", " : "", ports[i]->name, jn_kind_name((jn_kind)ports[i]->kind), type);
    }
    if (n == 0)
        fputs("()", out);
}

static void print_ports_json(FILE *out, Junction__V1__Port **ports, size_t n)
{
    fputc('[', out);
    for (size_t i = 0; i < n; i++) {
        const Junction__V1__Port *p = ports[i];
        fputs(i ? ", {\"name\": " : "{\"name\": ", out);
        json_cstr(out, p->name);
        fprintf(out, ", \"kind\": \"%s\", \"datatype\": \"%s\", \"shape\": ", jn_kind_name((jn_kind)p->kind),
                jn_dtype_name((jn_dtype)p->datatype));
        print_shape(out, p->shape, p->n_shape, true);
        if (p->n_labels) {
            fputs(", \"labels\": [", out);
            for (size_t k = 0; k < p->n_labels; k++) {
                fputs(k ? ", " : "", out);
                json_cstr(out, p->labels[k]);
            }
            fputc(']', out);
        }
        if (*p->description) {
            fputs(", \"description\": ", out);
            json_cstr(out, p->description);
        }
        fputc('}', out);
    }
    fputc(']', out);
}

static void print_models_json(FILE *out, const Junction__V1__ListModelsResponse *resp)
{
    fputc('[', out);
    for (size_t i = 0; i < resp->n_models; i++) {
        const Junction__V1__ModelInfo *m = resp->models[i];
        fputs(i ? ",\n {\"name\": " : "{\"name\": ", out);
        json_cstr(out, m->name);
        fputs(", \"versions\": [", out);
        for (size_t k = 0; k < m->n_versions; k++) {
            fputs(k ? ", " : "", out);
            json_cstr(out, m->versions[k]);
        }
        fputs("], \"type\": ", out);
        json_cstr(out, m->type);
        fputs(", \"platform\": ", out);
        json_cstr(out, m->platform);
        fprintf(out, ", \"ready\": %s, \"description\": ", m->ready ? "true" : "false");
        json_cstr(out, m->description);
        fputs(", \"signature\": {\"inputs\": ", out);
        print_ports_json(out, m->signature ? m->signature->inputs : NULL, m->signature ? m->signature->n_inputs : 0);
        fputs(", \"outputs\": ", out);
        print_ports_json(out, m->signature ? m->signature->outputs : NULL, m->signature ? m->signature->n_outputs : 0);
        fputs("}}", out);
    }
    fputs("]\n", out);
}

/* "v1,v2" (versions that already start with 'v' are kept as they are), "-" when there are none. */
static void format_versions(char *buf, size_t n, const Junction__V1__ModelInfo *m)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t k = 0; k < m->n_versions && used < n; k++)
        used += (size_t)snprintf(buf + used, n - used, "%s%s%s", k ? "," : "", m->versions[k][0] == 'v' ? "" : "v",
                                 m->versions[k]);
    if (m->n_versions == 0)
        snprintf(buf, n, "-");
}

static void print_models_text(FILE *out, const Junction__V1__ListModelsResponse *resp)
{
    int w_name = 1, w_ver = 1, w_type = 1, w_plat = 1, w_ready = 5;
    char ver[256];
    for (size_t i = 0; i < resp->n_models; i++) {
        const Junction__V1__ModelInfo *m = resp->models[i];
        format_versions(ver, sizeof ver, m);
        if (!m->ready)
            w_ready = 9;
        int l;
        if ((l = (int)strlen(m->name)) > w_name)
            w_name = l;
        if ((l = (int)strlen(ver)) > w_ver)
            w_ver = l;
        if ((l = (int)strlen(m->type)) > w_type)
            w_type = l;
        if ((l = (int)strlen(m->platform)) > w_plat)
            w_plat = l;
    }
    for (size_t i = 0; i < resp->n_models; i++) {
        const Junction__V1__ModelInfo *m = resp->models[i];
        format_versions(ver, sizeof ver, m);
        fprintf(out, "%-*s  %-*s  %-*s  %-*s  %-*s  ", w_name, m->name, w_ver, ver, w_type, *m->type ? m->type : "-",
                w_plat, *m->platform ? m->platform : "-", w_ready, m->ready ? "ready" : "not-ready");
        if (m->signature) {
            print_ports_text(out, m->signature->inputs, m->signature->n_inputs);
            fputs(" -> ", out);
            print_ports_text(out, m->signature->outputs, m->signature->n_outputs);
        } else {
            fputs("(no signature)", out);
        }
        fputc('\n', out);
    }
}

int jn_cmd_models(int argc, char **argv)
{
    const char *cmd = "models";
    common_opts o = {.server = DEFAULT_SERVER, .timeout_ms = DEFAULT_TIMEOUT_MS, .json = false};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            models_usage(stdout);
            return JN_CLI_EXIT_OK;
        }
        int r = common_flag(cmd, argc, argv, &i, &o);
        if (r == 0)
            unknown_flag(cmd, argv[i]);
        if (r <= 0) {
            fputc('\n', stderr);
            models_usage(stderr);
            return JN_CLI_EXIT_USAGE;
        }
    }

    rpc r;
    jn_cli_rpc_open(&r, o.server, o.timeout_ms);
    Junction__V1__ListModelsRequest req = JUNCTION__V1__LIST_MODELS_REQUEST__INIT;
    ProtobufCMessage *msg;
    rpc_status st;
    int rc = JN_CLI_EXIT_OK;
    if (jn_cli_rpc_unary(&r, "/junction.v1.Broker/ListModels", &req.base,
                         &junction__v1__list_models_response__descriptor, &msg, &st)) {
        jn_cli_print_status(cmd, &r, &st);
        rc = JN_CLI_EXIT_FAIL;
    } else {
        const Junction__V1__ListModelsResponse *resp = (const Junction__V1__ListModelsResponse *)msg;
        if (o.json)
            print_models_json(stdout, resp);
        else
            print_models_text(stdout, resp);
        protobuf_c_message_free_unpacked(msg, NULL);
    }
    jn_cli_rpc_close(&r);
    return finish_stdout(cmd, rc);
}

/* junction infer ------------------------------------------------------------------------------------------------- */

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
            "                                   image); @- reads stdin; NAME=@@text passes the text \"@text\"\n"
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
            DEFAULT_SERVER, DEFAULT_TIMEOUT_MS, TEXT_ELEMENT_LIMIT);
}

/* Parses the infer flags. Returns -1 to go on, or an exit status (help printed, or usage error reported). */
static int parse_infer_opts(const char *cmd, int argc, char **argv, infer_opts *o, arena *a)
{
    size_t cap = (size_t)argc;
    o->inputs = arena_array(a, cap, sizeof *o->inputs);
    o->outputs = arena_array(a, cap, sizeof *o->outputs);
    for (int i = 1; i < argc; i++) {
        const char *v;
        int r;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            infer_usage(stdout);
            return JN_CLI_EXIT_OK;
        }
        if ((r = common_flag(cmd, argc, argv, &i, &o->c)) != 0) {
            if (r < 0)
                goto usage;
        } else if ((r = flag_value(cmd, argc, argv, &i, "--model", &v)) != 0) {
            if (r < 0)
                goto usage;
            if (!*v) {
                fprintf(stderr, "junction %s: --model needs a model name\n", cmd);
                goto usage;
            }
            o->model = v;
        } else if ((r = flag_value(cmd, argc, argv, &i, "--version", &v)) != 0) {
            if (r < 0)
                goto usage;
            o->version = v;
        } else if ((r = flag_value(cmd, argc, argv, &i, "--id", &v)) != 0) {
            if (r < 0)
                goto usage;
            o->id = v;
        } else if ((r = flag_value(cmd, argc, argv, &i, "--input", &v)) != 0) {
            if (r < 0)
                goto usage;
            if (parse_input_spec(cmd, v, &o->inputs[o->n_inputs], a))
                return value_error(cmd);
            for (size_t k = 0; k < o->n_inputs; k++)
                if (strcmp(o->inputs[k].name, o->inputs[o->n_inputs].name) == 0) {
                    fprintf(stderr, "junction %s: --input '%s': input '%s' is already given by '%s'\n", cmd, v,
                            o->inputs[k].name, o->inputs[k].arg);
                    return value_error(cmd);
                }
            o->n_inputs++;
        } else if ((r = flag_value(cmd, argc, argv, &i, "--output", &v)) != 0) {
            if (r < 0)
                goto usage;
            if (!*v) {
                fprintf(stderr, "junction %s: --output needs an output name\n", cmd);
                goto usage;
            }
            o->outputs[o->n_outputs++] = v;
        } else if ((r = flag_value(cmd, argc, argv, &i, "--param", &v)) != 0) {
            if (r < 0)
                goto usage;
            if (parse_param(cmd, v, a, &o->params))
                return value_error(cmd);
        } else {
            unknown_flag(cmd, argv[i]);
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
static int build_inputs(const char *cmd, rpc *r, const infer_opts *o, arena *a, Junction__V1__InferRequest *req)
{
    ProtobufCMessage *info_msg = NULL;
    for (size_t i = 0; i < o->n_inputs && !info_msg; i++) {
        if (o->inputs[i].form == SPEC_EXPLICIT)
            continue;
        Junction__V1__GetModelRequest get = JUNCTION__V1__GET_MODEL_REQUEST__INIT;
        get.name = (char *)o->model;
        if (o->version)
            get.version = (char *)o->version;
        rpc_status st;
        if (jn_cli_rpc_unary(r, "/junction.v1.Broker/GetModel", &get.base, &junction__v1__model_info__descriptor,
                             &info_msg, &st)) {
            jn_cli_print_status(cmd, r, &st);
            return JN_CLI_EXIT_FAIL;
        }
    }
    const Junction__V1__ModelInfo *info = (const Junction__V1__ModelInfo *)info_msg;
    req->n_inputs = o->n_inputs;
    req->inputs = arena_array(a, o->n_inputs ? o->n_inputs : 1, sizeof *req->inputs);
    int rc = 0;
    for (size_t i = 0; i < o->n_inputs && !rc; i++) {
        const input_spec *s = &o->inputs[i];
        if (s->form == SPEC_EXPLICIT)
            req->inputs[i] = s->value;
        else
            rc = build_from_signature(cmd, s, info, a, &req->inputs[i]);
    }
    if (info_msg)
        protobuf_c_message_free_unpacked(info_msg, NULL);
    return rc;
}

int jn_cmd_infer(int argc, char **argv)
{
    const char *cmd = "infer";
    arena a = {NULL};
    infer_opts o = {.c = {.server = DEFAULT_SERVER, .timeout_ms = DEFAULT_TIMEOUT_MS, .json = false}};
    jn_params_init(&o.params);
    int rc = parse_infer_opts(cmd, argc, argv, &o, &a);
    if (rc >= 0) {
        jn_params_clear(&o.params);
        arena_free(&a);
        return rc;
    }

    /* Explicit inputs are checked before connecting: their errors are usage errors. */
    for (size_t i = 0; i < o.n_inputs; i++) {
        input_spec *s = &o.inputs[i];
        if (s->form == SPEC_EXPLICIT && !(s->value = build_explicit(cmd, s, &a))) {
            jn_params_clear(&o.params);
            arena_free(&a);
            return value_error(cmd);
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

    rpc r;
    jn_cli_rpc_open(&r, o.c.server, o.c.timeout_ms);
    if (jn_params_to_v1_request(&o.params, &req)) {
        fprintf(stderr, "junction %s: out of memory\n", cmd);
        rc = JN_CLI_EXIT_FAIL;
    } else {
        rc = build_inputs(cmd, &r, &o, &a, &req);
    }
    if (rc == 0) {
        ProtobufCMessage *msg;
        rpc_status st;
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
    arena_free(&a);
    return finish_stdout(cmd, rc);
}
