/* sse.c — the Server-Sent Events parser (sse.h). */
#include "sse.h"

#include <stdlib.h>
#include <string.h>

void jn_sse_init(jn_sse *p, size_t max_event)
{
    memset(p, 0, sizeof *p);
    p->max_event = max_event ? max_event : (size_t)8 << 20;
}

void jn_sse_free(jn_sse *p)
{
    free(p->line);
    free(p->data);
    memset(p, 0, sizeof *p);
}

/* Grows *buf to hold need bytes plus a NUL. */
static int reserve(char **buf, size_t *cap, size_t need)
{
    if (need + 1 <= *cap)
        return 0;
    size_t c = *cap ? *cap : 256;
    while (c < need + 1)
        c *= 2;
    char *b = realloc(*buf, c);
    if (!b)
        return JN_ENOMEM;
    *buf = b;
    *cap = c;
    return 0;
}

/* One complete line (without its end). */
static int take_line(jn_sse *p, jn_sse_event_fn fn, void *arg, jn_err *err)
{
    const char *l = p->line ? p->line : "";
    size_t n = p->line_len;
    p->line_len = 0;
    if (n == 0) { /* blank line: dispatch */
        if (!p->has_data)
            return 0;
        p->has_data = false;
        size_t len = p->data_len;
        p->data_len = 0;
        p->data[len] = '\0';
        return fn(arg, p->data, len);
    }
    if (l[0] == ':')
        return 0;
    const char *colon = memchr(l, ':', n);
    size_t name_len = colon ? (size_t)(colon - l) : n;
    if (name_len != 4 || memcmp(l, "data", 4) != 0)
        return 0; /* event, id, retry and unknown fields */
    const char *v = colon ? colon + 1 : l + n;
    if (v < l + n && *v == ' ')
        v++;
    size_t vlen = (size_t)(l + n - v);
    size_t need = p->data_len + (p->has_data ? 1 : 0) + vlen;
    if (need > p->max_event)
        return jn_err_set(err, JN_ERANGE, "event stream: an event of more than %zu bytes", p->max_event);
    if (reserve(&p->data, &p->data_cap, need))
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    if (p->has_data)
        p->data[p->data_len++] = '\n';
    memcpy(p->data + p->data_len, v, vlen);
    p->data_len += vlen;
    p->data[p->data_len] = '\0';
    p->has_data = true;
    return 0;
}

int jn_sse_feed(jn_sse *p, const char *bytes, size_t n, jn_sse_event_fn fn, void *arg, jn_err *err)
{
    size_t i = 0;
    while (i < n) {
        char c = bytes[i];
        if (c == '\n' && p->after_cr) { /* the second half of "\r\n" */
            p->after_cr = false;
            i++;
            continue;
        }
        p->after_cr = false;
        if (c == '\r' || c == '\n') {
            p->after_cr = c == '\r';
            i++;
            int rc = take_line(p, fn, arg, err);
            if (rc)
                return rc;
            continue;
        }
        /* The run of ordinary bytes up to the next line end, appended at once. */
        size_t j = i;
        while (j < n && bytes[j] != '\r' && bytes[j] != '\n')
            j++;
        size_t run = j - i;
        if (p->line_len + run > p->max_event)
            return jn_err_set(err, JN_ERANGE, "event stream: a line of more than %zu bytes", p->max_event);
        if (reserve(&p->line, &p->line_cap, p->line_len + run))
            return jn_err_set(err, JN_ENOMEM, "out of memory");
        memcpy(p->line + p->line_len, bytes + i, run);
        p->line_len += run;
        p->line[p->line_len] = '\0';
        i = j;
    }
    return 0;
}
