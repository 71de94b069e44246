/* values.c — reading and showing tensor values for the client commands (values.h): the per-command arena, element
 * codecs (text <-> little-endian bytes for every dtype) and the JSON / text output helpers. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "cli.h"
#include "half.h"
#include "signature.h"
#include "values.h"

_Static_assert(JN_DTYPE_COUNT == 15, "values.c parses and prints every jn_dtype: update it");

/* Arena ---------------------------------------------------------------------------------------------------------- */

struct jn_cli_arena_chunk {
    struct jn_cli_arena_chunk *next;
    max_align_t mem[];
};

/* Zeroed memory that lives until jn_cli_arena_free. Exits on out-of-memory. */
void *jn_cli_arena_alloc(jn_cli_arena *a, size_t size)
{
    struct jn_cli_arena_chunk *c = size <= SIZE_MAX - sizeof *c ? calloc(1, sizeof *c + size) : NULL;
    if (!c) {
        fputs("junction: out of memory\n", stderr);
        exit(JN_CLI_EXIT_FAIL);
    }
    c->next = a->head;
    a->head = c;
    return c->mem;
}

void *jn_cli_arena_array(jn_cli_arena *a, size_t n, size_t size)
{
    return jn_cli_arena_alloc(a, n && size > SIZE_MAX / n ? SIZE_MAX : n * size);
}

char *jn_cli_arena_strndup(jn_cli_arena *a, const char *s, size_t n)
{
    char *d = jn_cli_arena_alloc(a, n + 1);
    memcpy(d, s, n);
    return d;
}

char *jn_cli_arena_strdup(jn_cli_arena *a, const char *s)
{
    return jn_cli_arena_strndup(a, s, strlen(s));
}

void jn_cli_arena_free(jn_cli_arena *a)
{
    while (a->head) {
        struct jn_cli_arena_chunk *next = a->head->next;
        free(a->head);
        a->head = next;
    }
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

void jn_cli_json_cstr(FILE *out, const char *s)
{
    json_string(out, s ? s : "", s ? strlen(s) : 0);
}

/* A BYTES element in JSON: a string when it is UTF-8, else {"base64": "..."}. */
void jn_cli_json_bytes(FILE *out, const uint8_t *p, size_t n)
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
void jn_cli_text_bytes(FILE *out, const uint8_t *p, size_t n)
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

void jn_cli_print_shape(FILE *out, const int64_t *shape, size_t n, bool json)
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
void jn_cli_format_real(char *buf, size_t n, double v, jn_dtype dt, bool json)
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

void jn_cli_print_element(FILE *out, const uint8_t *p, jn_dtype dt, bool json)
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
        jn_cli_format_real(buf, sizeof buf, v, dt, json);
        fputs(buf, out);
    }
}

/* Parses one value of a numeric dtype into its little-endian bytes at out. Returns 0, 1 (not a valid value of the
 * dtype) or 2 (out of range). */
int jn_cli_parse_element(const char *tok, jn_dtype dt, uint8_t *out)
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

void jn_cli_port_type(char *buf, size_t n, const Junction__V1__Port *port)
{
    int64_t shape[JN_MAX_DIMS];
    size_t nd = port->n_shape < JN_MAX_DIMS ? port->n_shape : JN_MAX_DIMS;
    memcpy(shape, port->shape, nd * sizeof *shape);
    jn_format_type(buf, n, (jn_dtype)port->datatype, (int)nd, shape);
}

int jn_cli_finish_stdout(const char *cmd, int rc)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "junction %s: cannot write the output: %s\n", cmd, strerror(errno));
        return JN_CLI_EXIT_FAIL;
    }
    return rc;
}
