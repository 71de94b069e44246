/* decode.c — tokenizer.json decoders: WordPiece, ByteLevel, Metaspace, BPEDecoder, ByteFallback, Fuse, Strip,
 * Replace, Sequence. Each maps a list of token strings to a list of strings (the tokenizers library's decode_chain);
 * the caller joins the result. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static bool starts(const char *s, size_t n, const char *p)
{
    size_t pl = strlen(p);
    return n >= pl && memcmp(s, p, pl) == 0;
}

/* Appends s with every occurrence of from replaced by to. */
static int put_replaced(jn_tk_buf *b, const char *s, size_t n, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to);
    size_t i = 0, last = 0;
    while (fl && i + fl <= n) {
        if (memcmp(s + i, from, fl) == 0) {
            if (jn__tk_buf_put(b, s + last, i - last) || jn__tk_buf_put(b, to, tl))
                return JN_ENOMEM;
            i += fl;
            last = i;
        } else {
            i++;
        }
    }
    return jn__tk_buf_put(b, s + last, n - last);
}

/* WordPiece's cleanup: English contractions and spaces before punctuation. */
static int cleanup(const char *s, size_t n, jn_tk_buf *out)
{
    static const char *const pairs[][2] = {{" .", "."},    {" ?", "?"},     {" !", "!"},          {" ,", ","},
                                           {" ' ", "'"},   {" n't", "n't"}, {" 'm", "'m"},        {" do not", " don't"},
                                           {" 's", "'s"},  {" 've", "'ve"}, {" 're", "'re"}};
    jn_tk_buf a = {0}, b = {0};
    int rc = jn__tk_buf_put(&a, s, n);
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0] && !rc; i++) {
        b.n = 0;
        rc = put_replaced(&b, a.p ? a.p : "", a.n, pairs[i][0], pairs[i][1]);
        jn_tk_buf t = a;
        a = b;
        b = t;
    }
    if (!rc)
        rc = jn__tk_buf_put(out, a.p, a.n);
    free(a.p);
    free(b.p);
    return rc;
}

/* Appends bytes as UTF-8, each maximal invalid subsequence replaced by U+FFFD (Rust's from_utf8_lossy). */
static int put_lossy(jn_tk_buf *out, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t ok = jn__tk_utf8_check(s + i, n - i);
        if (jn__tk_buf_put(out, s + i, ok))
            return JN_ENOMEM;
        i += ok;
        if (i >= n)
            break;
        /* skip the maximal prefix of a valid sequence (at least one byte) */
        const uint8_t *u = (const uint8_t *)s + i;
        size_t left = n - i, skip = 1;
        uint8_t c = u[0];
        size_t need = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 1;
        for (size_t k = 1; k < need && k < left; k++) {
            uint8_t lo = 0x80, hi = 0xBF;
            if (k == 1) {
                if (c == 0xE0)
                    lo = 0xA0;
                else if (c == 0xED)
                    hi = 0x9F;
                else if (c == 0xF0)
                    lo = 0x90;
                else if (c == 0xF4)
                    hi = 0x8F;
            }
            if (u[k] < lo || u[k] > hi)
                break;
            skip = k + 1;
        }
        if (jn__tk_buf_put(out, "\xEF\xBF\xBD", 3))
            return JN_ENOMEM;
        i += skip;
    }
    return 0;
}

static int parse_byte_token(const char *s, size_t n)
{
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>')
        return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

static int dec_one(const jn_tk_dec *d, jn_tk_words *in, jn_tk_words *out)
{
    jn__tk_words_clear(out);
    jn_tk_buf b = {0};
    int rc = 0;
    switch (d->kind) {
    case JN_TK_DEC_WORDPIECE:
        for (size_t i = 0; i < in->n && !rc; i++) {
            const char *t = in->text.p + in->off[i];
            size_t n = in->len[i], pl = strlen(d->prefix);
            b.n = 0;
            if (i != 0) {
                if (starts(t, n, d->prefix)) {
                    t += pl;
                    n -= pl;
                } else {
                    rc = jn__tk_buf_put(&b, " ", 1);
                }
            }
            rc = rc ? rc : jn__tk_buf_put(&b, t, n);
            if (!rc && d->cleanup) {
                jn_tk_buf c = {0};
                rc = cleanup(b.p ? b.p : "", b.n, &c);
                free(b.p);
                b = c;
            }
            rc = rc ? rc : jn__tk_words_add(out, b.p ? b.p : "", b.n);
        }
        break;
    case JN_TK_DEC_BYTELEVEL: {
        jn_tk_buf raw = {0};
        for (size_t i = 0; i < in->n && !rc; i++) {
            const char *t = in->text.p + in->off[i];
            size_t n = in->len[i], start = raw.n;
            bool all = true;
            for (size_t k = 0; k < n && !rc;) {
                uint32_t cp;
                k += jn__tk_utf8_next(t + k, n - k, &cp);
                int by = jn__tk_cp_to_byte(cp);
                if (by < 0) {
                    all = false;
                    break;
                }
                char c = (char)by;
                rc = jn__tk_buf_put(&raw, &c, 1);
            }
            if (!all) {
                raw.n = start;
                rc = rc ? rc : jn__tk_buf_put(&raw, t, n);
            }
        }
        rc = rc ? rc : put_lossy(&b, raw.p ? raw.p : "", raw.n);
        rc = rc ? rc : jn__tk_words_add(out, b.p ? b.p : "", b.n);
        free(raw.p);
        break;
    }
    case JN_TK_DEC_METASPACE:
        for (size_t i = 0; i < in->n && !rc; i++) {
            const char *t = in->text.p + in->off[i];
            size_t n = in->len[i], rl = strlen(d->replacement);
            b.n = 0;
            for (size_t k = 0; k < n && !rc;) {
                if (k + rl <= n && memcmp(t + k, d->replacement, rl) == 0) {
                    if (!(i == 0 && d->prepend != JN_TK_PREPEND_NEVER))
                        rc = jn__tk_buf_put(&b, " ", 1);
                    k += rl;
                } else {
                    rc = jn__tk_buf_put(&b, t + k, 1);
                    k++;
                }
            }
            rc = rc ? rc : jn__tk_words_add(out, b.p ? b.p : "", b.n);
        }
        break;
    case JN_TK_DEC_BPE:
        for (size_t i = 0; i < in->n && !rc; i++) {
            b.n = 0;
            rc = put_replaced(&b, in->text.p + in->off[i], in->len[i], d->suffix, i + 1 == in->n ? "" : " ");
            rc = rc ? rc : jn__tk_words_add(out, b.p ? b.p : "", b.n);
        }
        break;
    case JN_TK_DEC_BYTEFALLBACK: {
        jn_tk_buf bytes = {0};
        for (size_t i = 0; i <= in->n && !rc; i++) {
            int v = i < in->n ? parse_byte_token(in->text.p + in->off[i], in->len[i]) : -1;
            if (v >= 0) {
                char c = (char)v;
                rc = jn__tk_buf_put(&bytes, &c, 1);
                continue;
            }
            if (bytes.n) {
                b.n = 0;
                if (jn__tk_utf8_check(bytes.p, bytes.n) == bytes.n)
                    rc = jn__tk_buf_put(&b, bytes.p, bytes.n);
                else
                    for (size_t k = 0; k < bytes.n && !rc; k++)
                        rc = jn__tk_buf_put(&b, "\xEF\xBF\xBD", 3);
                rc = rc ? rc : jn__tk_words_add(out, b.p, b.n);
                bytes.n = 0;
            }
            if (i < in->n)
                rc = rc ? rc : jn__tk_words_add(out, in->text.p + in->off[i], in->len[i]);
        }
        free(bytes.p);
        break;
    }
    case JN_TK_DEC_FUSE:
        for (size_t i = 0; i < in->n && !rc; i++)
            rc = jn__tk_buf_put(&b, in->text.p + in->off[i], in->len[i]);
        rc = rc ? rc : jn__tk_words_add(out, b.p ? b.p : "", b.n);
        break;
    case JN_TK_DEC_STRIP: {
        size_t cl = strlen(d->content);
        for (size_t i = 0; i < in->n && !rc; i++) {
            const char *t = in->text.p + in->off[i];
            size_t s = 0, e = in->len[i];
            for (size_t k = 0; k < d->start && cl && e - s >= cl && memcmp(t + s, d->content, cl) == 0; k++)
                s += cl;
            for (size_t k = 0; k < d->stop && cl && e - s >= cl && memcmp(t + e - cl, d->content, cl) == 0; k++)
                e -= cl;
            rc = jn__tk_words_add(out, t + s, e - s);
        }
        break;
    }
    case JN_TK_DEC_REPLACE:
        for (size_t i = 0; i < in->n && !rc; i++) {
            const char *t = in->text.p + in->off[i];
            size_t n = in->len[i], pos = 0, ms, me;
            b.n = 0;
            while (pos <= n) {
                int f = jn__tk_regex_find(d->re, t, n, pos, &ms, &me);
                if (f < 0) {
                    rc = f;
                    break;
                }
                if (f == 0 || me == ms)
                    break;
                rc = jn__tk_buf_put(&b, t + pos, ms - pos);
                rc = rc ? rc : jn__tk_buf_put(&b, d->content, strlen(d->content));
                pos = me;
            }
            rc = rc ? rc : jn__tk_buf_put(&b, t + pos, n - pos);
            rc = rc ? rc : jn__tk_words_add(out, b.p ? b.p : "", b.n);
        }
        break;
    case JN_TK_DEC_CTC:
    case JN_TK_DEC_SEQUENCE:
        rc = JN_EINTERNAL;
        break;
    }
    free(b.p);
    return rc;
}

int jn__tk_dec_apply(const jn_tk_dec *d, jn_tk_words *tokens, jn_tk_buf *out)
{
    jn_tk_words a = {0}, b = {0};
    int rc = 0;
    for (size_t i = 0; i < tokens->n && !rc; i++)
        rc = jn__tk_words_add(&a, tokens->text.p + tokens->off[i], tokens->len[i]);
    if (d->kind == JN_TK_DEC_SEQUENCE) {
        for (size_t i = 0; i < d->nseq && !rc; i++) {
            rc = dec_one(&d->seq[i], &a, &b);
            jn_tk_words t = a;
            a = b;
            b = t;
        }
    } else if (!rc) {
        rc = dec_one(d, &a, &b);
        jn_tk_words t = a;
        a = b;
        b = t;
    }
    for (size_t i = 0; i < a.n && !rc; i++)
        rc = jn__tk_buf_put(out, a.text.p + a.off[i], a.len[i]);
    jn__tk_words_free(&a);
    jn__tk_words_free(&b);
    return rc;
}

int jn__tk_dec_parse(jn_tk_dec *d, json_t *j, const char *path, jn_err *err)
{
    memset(d, 0, sizeof *d);
    const char *t = jn__tk_type(j, path, err);
    if (!t)
        return err->code;
    if (!strcmp(t, "WordPiece")) {
        d->kind = JN_TK_DEC_WORDPIECE;
        if (jn__tk_get_str(j, "prefix", "##", &d->prefix, path, err) ||
            jn__tk_get_bool(j, "cleanup", true, &d->cleanup, path, err))
            return err->code;
    } else if (!strcmp(t, "ByteLevel")) {
        d->kind = JN_TK_DEC_BYTELEVEL;
    } else if (!strcmp(t, "Metaspace")) {
        d->kind = JN_TK_DEC_METASPACE;
        if (jn__tk_get_str(j, "replacement", "\xE2\x96\x81", &d->replacement, path, err) ||
            jn__tk_parse_prepend(j, path, &d->prepend, err))
            return err->code;
        if (!d->replacement[0])
            return jn_err_set(err, JN_EINVAL, "%s.replacement: expected one character", path);
    } else if (!strcmp(t, "BPEDecoder")) {
        d->kind = JN_TK_DEC_BPE;
        if (jn__tk_get_str(j, "suffix", "</w>", &d->suffix, path, err))
            return err->code;
    } else if (!strcmp(t, "ByteFallback")) {
        d->kind = JN_TK_DEC_BYTEFALLBACK;
    } else if (!strcmp(t, "Fuse")) {
        d->kind = JN_TK_DEC_FUSE;
    } else if (!strcmp(t, "Strip")) {
        d->kind = JN_TK_DEC_STRIP;
        if (jn__tk_get_str(j, "content", " ", &d->content, path, err) ||
            jn__tk_get_uint(j, "start", 0, &d->start, path, err) || jn__tk_get_uint(j, "stop", 0, &d->stop, path, err))
            return err->code;
    } else if (!strcmp(t, "Replace")) {
        d->kind = JN_TK_DEC_REPLACE;
        if (jn__tk_pattern_parse(json_object_get(j, "pattern"), path, &d->re, err) ||
            jn__tk_get_str(j, "content", NULL, &d->content, path, err))
            return err->code;
        if (!d->content)
            return jn_err_set(err, JN_EINVAL, "%s.content: expected a string", path);
    } else if (!strcmp(t, "Sequence")) {
        d->kind = JN_TK_DEC_SEQUENCE;
        json_t *a = json_object_get(j, "decoders");
        if (!json_is_array(a))
            return jn_err_set(err, JN_EINVAL, "%s.decoders: expected an array", path);
        d->seq = calloc(json_array_size(a) + 1, sizeof *d->seq);
        if (!d->seq)
            return jn_err_set(err, JN_ENOMEM, "%s: out of memory", path);
        for (size_t i = 0; i < json_array_size(a); i++) {
            char p[256];
            snprintf(p, sizeof p, "%s.decoders[%zu]", path, i);
            d->nseq = i + 1;
            if (jn__tk_dec_parse(&d->seq[i], json_array_get(a, i), p, err))
                return err->code;
            if (d->seq[i].kind == JN_TK_DEC_SEQUENCE)
                return jn_err_set(err, JN_EINVAL, "%s: nested decoder sequences are not supported", p);
        }
    } else {
        return jn_err_set(err, JN_EINVAL, "%s.type: unknown decoder type '%s'", path, t);
    }
    return 0;
}

void jn__tk_dec_free(jn_tk_dec *d)
{
    free(d->prefix);
    free(d->replacement);
    free(d->suffix);
    free(d->content);
    jn__tk_regex_free(d->re);
    free(d->pad_token);
    for (size_t i = 0; i < d->nseq; i++)
        jn__tk_dec_free(&d->seq[i]);
    free(d->seq);
    memset(d, 0, sizeof *d);
}
