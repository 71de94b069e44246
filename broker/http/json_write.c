/* json_write.c — JSON text into a growing buffer (json_write.h). */
#include "json_write.h"

#include <math.h>
#include <stdlib.h>

#include "float_text.h"
#include "signature.h"

void jn_json_buf_init(jn_json_buf *b, size_t capacity)
{
    b->len = 0;
    b->failed = false;
    b->data = capacity ? malloc(capacity) : NULL;
    b->cap = b->data ? capacity : 0;
    if (capacity && !b->data)
        b->failed = true;
}

void jn_json_buf_free(jn_json_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* Makes room for n more bytes and a NUL; false once failed. */
static bool reserve(jn_json_buf *b, size_t n)
{
    if (b->failed)
        return false;
    if (b->len + n + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

char *jn_json_buf_take(jn_json_buf *b, size_t *len)
{
    if (!b->failed && !b->data)
        reserve(b, 0);
    if (b->failed) {
        jn_json_buf_free(b);
        return NULL;
    }
    /* room for the NUL was kept by every write (see reserve) */
    b->data[b->len] = '\0';
    char *text = b->data;
    *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return text;
}

void jn_json_raw(jn_json_buf *b, const char *s, size_t n)
{
    if (!reserve(b, n))
        return;
    if (n)
        memcpy(b->data + b->len, s, n);
    b->len += n;
}

/* Valid UTF-8 bytes, escaped; at most 6 output bytes per input byte. */
static void escaped(jn_json_buf *b, const unsigned char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    if (!reserve(b, 6 * n))
        return;
    char *o = b->data + b->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = s[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\') {
            *o++ = (char)ch;
            continue;
        }
        *o++ = '\\';
        switch (ch) {
        case '"':
        case '\\':
            *o++ = (char)ch;
            break;
        case '\b':
            *o++ = 'b';
            break;
        case '\f':
            *o++ = 'f';
            break;
        case '\n':
            *o++ = 'n';
            break;
        case '\r':
            *o++ = 'r';
            break;
        case '\t':
            *o++ = 't';
            break;
        default:
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[ch >> 4];
            *o++ = hex[ch & 15];
            break;
        }
    }
    b->len = (size_t)(o - b->data);
}

void jn_json_string(jn_json_buf *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    jn_json_lit(b, "\"");
    size_t from = 0, bad;
    while (!jn_utf8_valid(u + from, n - from, &bad)) {
        escaped(b, u + from, bad);
        jn_json_lit(b, "?");
        from += bad + 1;
    }
    escaped(b, u + from, n - from);
    jn_json_lit(b, "\"");
}

void jn_json_int(jn_json_buf *b, int64_t v)
{
    char tmp[24], *end = tmp + sizeof tmp, *p = end;
    /* magnitude as unsigned: INT64_MIN has no positive int64 */
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    jn_json_raw(b, p, (size_t)(end - p));
}

void jn_json_bool(jn_json_buf *b, bool v)
{
    if (v)
        jn_json_lit(b, "true");
    else
        jn_json_lit(b, "false");
}

void jn_json_float32(jn_json_buf *b, float v)
{
    if (isnan(v)) {
        jn_json_lit(b, "\"NaN\"");
        return;
    }
    if (isinf(v)) {
        if (v > 0)
            jn_json_lit(b, "\"Infinity\"");
        else
            jn_json_lit(b, "\"-Infinity\"");
        return;
    }
    if (!reserve(b, JN_FLOAT32_TEXT_MAX))
        return;
    b->len += jn_float32_text(v, b->data + b->len);
}
