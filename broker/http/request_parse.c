/* request_parse.c — http-parser's callbacks for one connection (connection.c feeds the bytes): the request line and
 * headers gathered into one buffer and turned into the handler's strings, the limits checked as they come (431 for a
 * head too large, 413 for a body, 411 for a POST without a length), 100-continue noted, the body collected, and the
 * handler called when a request is complete.
 *
 * Ownership: as connection.c (the hreqs belong to their connection). Threads: the loop thread only.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/* Bytes counted per header line and for the request line besides their text (": ", CRLF, method, version). */
#define HEADER_LINE_OVERHEAD 4
#define REQUEST_LINE_OVERHEAD 16

static int reject(jn__http_conn *c, int status, const char *message)
{
    c->fail_status = status;
    c->fail_msg = message;
    return -1;
}

static int raw_append(jn__http_req *r, const char *at, size_t len)
{
    if (r->raw_len + len + 1 > r->raw_cap) {
        size_t cap = r->raw_cap ? r->raw_cap : 256;
        while (cap < r->raw_len + len + 1)
            cap *= 2;
        char *p = realloc(r->raw, cap);
        if (!p)
            return -1;
        r->raw = p;
        r->raw_cap = cap;
    }
    memcpy(r->raw + r->raw_len, at, len);
    r->raw_len += len;
    return 0;
}

static int count_head(jn__http_conn *c, size_t len)
{
    c->head_bytes += len;
    if (c->head_bytes > c->s->opt.max_header_bytes)
        return reject(c, 431, "the request line and headers are too large");
    return 0;
}

static int on_message_begin(http_parser *p)
{
    jn__http_conn *c = p->data;
    jn__http_req *r = jn__http_req_new(c);
    if (!r)
        return reject(c, 500, "out of memory");
    c->cur = r;
    c->head_bytes = 0;
    r->raw = c->spare_raw; /* a request that dies half-parsed frees them with itself */
    r->raw_cap = c->spare_raw_cap;
    r->spans = c->spare_spans;
    r->spans_cap = c->spare_spans_cap;
    c->spare_raw = NULL;
    c->spare_spans = NULL;
    c->spare_raw_cap = c->spare_spans_cap = 0;
    return count_head(c, REQUEST_LINE_OVERHEAD);
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    jn__http_conn *c = p->data;
    jn__http_req *r = c->cur;
    if (count_head(c, len))
        return -1;
    if (raw_append(r, at, len))
        return reject(c, 500, "out of memory");
    r->url_len += len;
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    jn__http_conn *c = p->data;
    jn__http_req *r = c->cur;
    if (r->state != HREQ_HEAD) /* chunked trailer: dropped (the parser bounds its size) */
        return 0;
    if (count_head(c, len))
        return -1;
    if (r->last_cb != 1) {
        if (count_head(c, HEADER_LINE_OVERHEAD))
            return -1;
        if (r->n_spans == r->spans_cap) {
            size_t cap = r->spans_cap ? r->spans_cap * 2 : 16;
            jn__http_hdr_span *sp = realloc(r->spans, cap * sizeof *sp);
            if (!sp)
                return reject(c, 500, "out of memory");
            r->spans = sp;
            r->spans_cap = cap;
        }
        r->spans[r->n_spans++] = (jn__http_hdr_span){r->raw_len, 0, r->raw_len, 0};
        r->last_cb = 1;
    }
    if (raw_append(r, at, len))
        return reject(c, 500, "out of memory");
    r->spans[r->n_spans - 1].name_len += len;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    jn__http_conn *c = p->data;
    jn__http_req *r = c->cur;
    if (r->state != HREQ_HEAD)
        return 0;
    if (count_head(c, len))
        return -1;
    jn__http_hdr_span *sp = &r->spans[r->n_spans - 1];
    if (r->last_cb != 2) {
        sp->value_off = r->raw_len;
        sp->value_len = 0;
        r->last_cb = 2;
    }
    if (raw_append(r, at, len))
        return reject(c, 500, "out of memory");
    sp->value_len += len;
    return 0;
}

/* Path and query of the request target (origin form "/p?q", absolute form "http://h/p?q", "*", authority form). */
static void split_target(const char *url, size_t n, bool is_connect, size_t *path_off, size_t *path_len,
                         size_t *query_off, size_t *query_len)
{
    *path_off = *path_len = *query_off = *query_len = 0;
    if (is_connect) {
        *path_len = n;
        return;
    }
    if (n && url[0] != '/' && url[0] != '*') {
        struct http_parser_url u;
        http_parser_url_init(&u);
        if (http_parser_parse_url(url, n, 0, &u) == 0) {
            if (u.field_set & (1 << UF_PATH)) {
                *path_off = u.field_data[UF_PATH].off;
                *path_len = u.field_data[UF_PATH].len;
            }
            if (u.field_set & (1 << UF_QUERY)) {
                *query_off = u.field_data[UF_QUERY].off;
                *query_len = u.field_data[UF_QUERY].len;
            }
            return;
        }
    }
    size_t end = 0;
    while (end < n && url[end] != '#')
        end++;
    size_t q = 0;
    while (q < end && url[q] != '?')
        q++;
    *path_len = q;
    if (q < end) {
        *query_off = q + 1;
        *query_len = end - q - 1;
    }
}

/* Turns the raw URL and header spans into the NUL-terminated strings the handler sees (one allocation: the
 * header array, then the strings), and gives the raw buffers back to the connection for its next request. */
static int build_strings(jn__http_conn *c, jn__http_req *r, bool is_connect)
{
    size_t po, pl, qo, ql;
    split_target(r->raw ? r->raw : "", r->url_len, is_connect, &po, &pl, &qo, &ql);
    size_t total = (pl ? pl : 1) + 1 + ql + 1;
    for (size_t i = 0; i < r->n_spans; i++)
        total += r->spans[i].name_len + 1 + r->spans[i].value_len + 1;
    size_t header_bytes = r->n_spans * sizeof(jn_http_header);
    jn_http_header *h = malloc(header_bytes + total);
    if (!h)
        return -1;
    char *s = (char *)h + header_bytes;
    size_t at = 0;
    r->pub.path = s;
    if (pl) {
        memcpy(s, r->raw + po, pl);
        at = pl;
    } else {
        s[at++] = '/';
    }
    s[at++] = '\0';
    r->pub.query = s + at;
    if (ql)
        memcpy(s + at, r->raw + qo, ql);
    at += ql;
    s[at++] = '\0';
    for (size_t i = 0; i < r->n_spans; i++) {
        const jn__http_hdr_span *sp = &r->spans[i];
        h[i].name = s + at;
        for (size_t k = 0; k < sp->name_len; k++) {
            char ch = r->raw[sp->name_off + k];
            s[at++] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
        }
        s[at++] = '\0';
        size_t vl = sp->value_len;
        while (vl && (r->raw[sp->value_off + vl - 1] == ' ' || r->raw[sp->value_off + vl - 1] == '\t'))
            vl--;
        h[i].value = s + at;
        memcpy(s + at, r->raw + sp->value_off, vl);
        at += vl;
        s[at++] = '\0';
    }
    r->headers = h;
    r->pub.headers = r->n_spans ? h : NULL;
    r->pub.n_headers = r->n_spans;
    /* nothing points into raw and spans any more */
    free(c->spare_raw);
    free(c->spare_spans);
    c->spare_raw = r->raw;
    c->spare_raw_cap = r->raw_cap;
    c->spare_spans = r->spans;
    c->spare_spans_cap = r->spans_cap;
    r->raw = NULL;
    r->raw_len = r->raw_cap = 0;
    r->spans = NULL;
    r->n_spans = r->spans_cap = 0;
    return 0;
}

static int body_reserve(jn__http_req *r, size_t need)
{
    if (need <= r->body_cap)
        return 0;
    size_t cap = r->body_cap ? r->body_cap : 64; /* small: 1 KiB and up is malloc's slower large-chunk path */
    while (cap < need)
        cap *= 2;
    uint8_t *b = realloc(r->body, cap);
    if (!b)
        return -1;
    r->body = b;
    r->body_cap = cap;
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    jn__http_conn *c = p->data;
    jn__http_req *r = c->cur;
    const jn_http_server_options *o = &c->s->opt;
    bool is_connect = p->method == HTTP_CONNECT;
    if (p->upgrade && !is_connect)
        p->upgrade = 0; /* an Upgrade offer is declined by answering normally (RFC 9110 7.8) */
    if (build_strings(c, r, is_connect))
        return reject(c, 500, "out of memory");
    r->pub.method = http_method_str((enum http_method)p->method);
    r->http_minor = p->http_minor;
    r->is_head = p->method == HTTP_HEAD;
    r->keep_alive = http_should_keep_alive(p) && !is_connect;

    bool chunked = p->flags & F_CHUNKED;
    bool has_length = p->flags & F_CONTENTLENGTH;
    if ((p->method == HTTP_POST || p->method == HTTP_PUT) && !chunked && !has_length)
        return reject(c, 411, "a POST or PUT request needs Content-Length or Transfer-Encoding: chunked");
    if (has_length && p->content_length > o->max_body_bytes)
        return reject(c, 413, "the request body is larger than the server accepts");
    const char *expect = jn_http_header_get(&r->pub, "expect");
    if (expect && strcasecmp(expect, "100-continue") == 0 && p->http_major == 1 && p->http_minor >= 1 &&
        (chunked || (has_length && p->content_length > 0)))
        r->want_continue = true;
    if (has_length && body_reserve(r, (size_t)p->content_length + 1))
        return reject(c, 500, "out of memory");
    r->state = HREQ_BODY;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    jn__http_conn *c = p->data;
    jn__http_req *r = c->cur;
    if (len > c->s->opt.max_body_bytes - r->body_len)
        return reject(c, 413, "the request body is larger than the server accepts");
    if (body_reserve(r, r->body_len + len + 1))
        return reject(c, 500, "out of memory");
    memcpy(r->body + r->body_len, at, len);
    r->body_len += len;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    jn__http_conn *c = p->data;
    jn__http_req *r = c->cur;
    jn_http_server *s = c->s;
    c->cur = NULL;
    if (r->body) {
        r->body[r->body_len] = '\0';
        r->pub.body = r->body;
    }
    r->pub.body_len = r->body_len;
    r->want_continue = false; /* the whole body came without waiting for it */
    r->state = HREQ_DISPATCHED;
    if (!r->keep_alive) { /* the last request on this connection: the rest of the bytes are not parsed */
        r->close_after = true;
        c->no_more = true;
        http_parser_pause(p, 1);
    } else if (c->n_queued >= (size_t)s->opt.max_pipelined) {
        c->paused_bp = true;
        http_parser_pause(p, 1);
    }
    jn__http_dispatching = c->lp; /* an answer given inline needs no wake-up: the caller of conn_feed drains */
    s->opt.handler(&r->pub);
    jn__http_dispatching = NULL;
    return 0;
}

const http_parser_settings jn__http_parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};
