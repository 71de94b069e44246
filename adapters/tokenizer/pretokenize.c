/* pretokenize.c — tokenizer.json pre-tokenizers: BertPreTokenizer, Whitespace, WhitespaceSplit, ByteLevel (GPT-2's
 * pattern through PCRE2), Metaspace, Digits, Punctuation, Split (string or regex), Sequence. Each splits every word
 * of its input the way the tokenizers library's SplitDelimiterBehavior says. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "internal.h"

static const char GPT2_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char WHITESPACE_PATTERN[] = "\\w+|[^\\w\\s]+";

/* ---- byte-level alphabet ---- */

static bool byte_printable(unsigned b)
{
    return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
}

uint32_t jn__tk_byte_to_cp(uint8_t b)
{
    if (byte_printable(b))
        return b;
    uint32_t n = 0;
    for (unsigned i = 0; i < b; i++)
        if (!byte_printable(i))
            n++;
    return 256 + n;
}

int jn__tk_cp_to_byte(uint32_t cp)
{
    if (cp < 256)
        return byte_printable(cp) ? (int)cp : -1;
    if (cp >= 256 + 68)
        return -1;
    uint32_t n = 0;
    for (unsigned i = 0; i < 256; i++)
        if (!byte_printable(i)) {
            if (256 + n == cp)
                return (int)i;
            n++;
        }
    return -1;
}

/* ---- splitting ---- */

typedef struct seg {
    size_t s, e;
    bool match;
} seg;

typedef struct segs {
    seg *v;
    size_t n, cap;
} segs;

static int seg_add(segs *g, size_t s, size_t e, bool match)
{
    if (g->n == g->cap) {
        size_t c = g->cap ? g->cap * 2 : 32;
        seg *v = realloc(g->v, c * sizeof *v);
        if (!v)
            return JN_ENOMEM;
        g->v = v;
        g->cap = c;
    }
    g->v[g->n++] = (seg){s, e, match};
    return 0;
}

/* Applies the behaviour to the segments of w and appends the resulting pieces to out. */
static int emit(const char *w, segs *g, enum jn_tk_behavior b, jn_tk_words *out)
{
    size_t n = 0;
    seg *v = g->v;
    switch (b) {
    case JN_TK_REMOVED:
        for (size_t i = 0; i < g->n; i++)
            if (!v[i].match)
                v[n++] = v[i];
        break;
    case JN_TK_ISOLATED:
        n = g->n;
        break;
    case JN_TK_CONTIGUOUS:
        for (size_t i = 0; i < g->n; i++) {
            if (n && v[i].match && v[n - 1].match)
                v[n - 1].e = v[i].e;
            else
                v[n++] = v[i];
        }
        break;
    case JN_TK_MERGED_PREV: {
        bool prev_match = false;
        for (size_t i = 0; i < g->n; i++) {
            bool m = v[i].match;
            if (m && !prev_match && n)
                v[n - 1].e = v[i].e;
            else
                v[n++] = v[i];
            prev_match = m;
        }
        break;
    }
    case JN_TK_MERGED_NEXT: {
        /* walk backwards: a match is glued to the following piece unless that piece is a match too */
        bool prev_match = false;
        size_t k = g->n; /* write from the end */
        for (size_t i = g->n; i-- > 0;) {
            bool m = v[i].match;
            if (m && !prev_match && k < g->n)
                v[k].s = v[i].s;
            else
                v[--k] = v[i];
            prev_match = m;
        }
        n = g->n - k;
        memmove(v, v + k, n * sizeof *v);
        break;
    }
    }
    for (size_t i = 0; i < n; i++)
        if (v[i].e > v[i].s && jn__tk_words_add(out, w + v[i].s, v[i].e - v[i].s))
            return JN_ENOMEM;
    return 0;
}

typedef bool (*cp_pred)(uint32_t cp);

/* Every code point for which pred holds is a match of its own. */
static int split_pred(const char *w, size_t n, cp_pred pred, enum jn_tk_behavior b, segs *g, jn_tk_words *out)
{
    g->n = 0;
    size_t last = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = jn__tk_utf8_next(w + i, n - i, &cp);
        if (pred(cp)) {
            if (last < i && seg_add(g, last, i, false))
                return JN_ENOMEM;
            if (seg_add(g, i, i + k, true))
                return JN_ENOMEM;
            last = i + k;
        }
        i += k;
    }
    if (last < n && seg_add(g, last, n, false))
        return JN_ENOMEM;
    return emit(w, g, b, out);
}

static int split_regex(const char *w, size_t n, const jn_tk_regex *re, bool invert, enum jn_tk_behavior b, segs *g,
                       jn_tk_words *out)
{
    g->n = 0;
    size_t pos = 0, last = 0, ms, me;
    void *md = jn__tk_regex_scratch(re);
    int rc = 0;
    while (pos <= n) {
        int f = jn__tk_regex_find_with(re, md, w, n, pos, &ms, &me);
        if (f < 0) {
            rc = f;
            break;
        }
        if (f == 0)
            break;
        if (me == ms) { /* empty match: step one code point */
            uint32_t cp;
            if (ms >= n)
                break;
            pos = ms + jn__tk_utf8_next(w + ms, n - ms, &cp);
            continue;
        }
        if ((last < ms && seg_add(g, last, ms, invert)) || seg_add(g, ms, me, !invert)) {
            rc = JN_ENOMEM;
            break;
        }
        last = pos = me;
    }
    jn__tk_regex_scratch_free(md);
    if (rc)
        return rc;
    if (last < n && seg_add(g, last, n, invert))
        return JN_ENOMEM;
    return emit(w, g, b, out);
}

static bool is_numeric(uint32_t cp)
{
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return c == UTF8PROC_CATEGORY_ND || c == UTF8PROC_CATEGORY_NL || c == UTF8PROC_CATEGORY_NO;
}

/* Splits one word (w may point into in's buffer, which is not touched while out grows). */
static int apply_word(const jn_tk_pre *p, const char *w, size_t n, bool first, segs *g, jn_tk_words *out)
{
    switch (p->kind) {
    case JN_TK_PRE_BERT: {
        jn_tk_words tmp = {0};
        int rc = split_pred(w, n, jn__tk_is_whitespace, JN_TK_REMOVED, g, &tmp);
        for (size_t i = 0; i < tmp.n && !rc; i++)
            rc = split_pred(tmp.text.p + tmp.off[i], tmp.len[i], jn__tk_is_punct, JN_TK_ISOLATED, g, out);
        jn__tk_words_free(&tmp);
        return rc;
    }
    case JN_TK_PRE_WHITESPACE:
        return split_regex(w, n, p->re, true, JN_TK_REMOVED, g, out); /* the pattern's matches are the words */
    case JN_TK_PRE_WHITESPACE_SPLIT:
        return split_pred(w, n, jn__tk_is_whitespace, JN_TK_REMOVED, g, out);
    case JN_TK_PRE_PUNCTUATION:
        return split_pred(w, n, jn__tk_is_punct, p->behavior, g, out);
    case JN_TK_PRE_DIGITS:
        return split_pred(w, n, is_numeric, p->individual_digits ? JN_TK_ISOLATED : JN_TK_CONTIGUOUS, g, out);
    case JN_TK_PRE_SPLIT:
        return split_regex(w, n, p->re, p->invert, p->behavior, g, out);
    case JN_TK_PRE_BYTELEVEL: {
        jn_tk_buf s = {0};
        jn_tk_words tmp = {0};
        int rc = 0;
        if (p->add_prefix_space && (n == 0 || w[0] != ' '))
            rc = jn__tk_buf_put(&s, " ", 1);
        rc = rc ? rc : jn__tk_buf_put(&s, w, n);
        if (!rc && s.n) {
            if (p->use_regex)
                rc = split_regex(s.p, s.n, p->re, false, JN_TK_ISOLATED, g, &tmp);
            else
                rc = jn__tk_words_add(&tmp, s.p, s.n);
        }
        jn_tk_buf m = {0};
        for (size_t i = 0; i < tmp.n && !rc; i++) {
            m.n = 0;
            const uint8_t *b = (const uint8_t *)tmp.text.p + tmp.off[i];
            for (size_t k = 0; k < tmp.len[i] && !rc; k++)
                rc = jn__tk_buf_putc(&m, jn__tk_byte_to_cp(b[k]));
            rc = rc ? rc : jn__tk_words_add(out, m.p, m.n);
        }
        free(m.p);
        free(s.p);
        jn__tk_words_free(&tmp);
        return rc;
    }
    case JN_TK_PRE_METASPACE: {
        jn_tk_buf s = {0};
        int rc = 0;
        size_t rl = strlen(p->replacement);
        bool starts = false;
        if (n >= rl && memcmp(w, p->replacement, rl) == 0)
            starts = true;
        if (n && w[0] == ' ')
            starts = true; /* the space becomes the replacement */
        if (!starts && (p->prepend == JN_TK_PREPEND_ALWAYS || (p->prepend == JN_TK_PREPEND_FIRST && first)))
            rc = jn__tk_buf_put(&s, p->replacement, rl);
        for (size_t i = 0; i < n && !rc; i++)
            rc = w[i] == ' ' ? jn__tk_buf_put(&s, p->replacement, rl) : jn__tk_buf_put(&s, w + i, 1);
        if (!rc && s.n) {
            if (p->split) {
                g->n = 0;
                size_t last = 0;
                for (size_t i = 0; i + rl <= s.n && !rc;) {
                    if (memcmp(s.p + i, p->replacement, rl) == 0) {
                        if (last < i)
                            rc = seg_add(g, last, i, false);
                        rc = rc ? rc : seg_add(g, i, i + rl, true);
                        i += rl;
                        last = i;
                    } else {
                        i++;
                    }
                }
                if (!rc && last < s.n)
                    rc = seg_add(g, last, s.n, false);
                rc = rc ? rc : emit(s.p, g, JN_TK_MERGED_NEXT, out);
            } else {
                rc = jn__tk_words_add(out, s.p, s.n);
            }
        }
        free(s.p);
        return rc;
    }
    case JN_TK_PRE_SEQUENCE:
    case JN_TK_PRE_UNICODE_SCRIPTS:
        break;
    }
    return JN_EINTERNAL;
}

int jn__tk_pre_apply(const jn_tk_pre *p, jn_tk_words *in, jn_tk_words *out, bool first)
{
    jn__tk_words_clear(out);
    if (p->kind == JN_TK_PRE_SEQUENCE) {
        jn_tk_words a = {0}, b = {0};
        int rc = 0;
        for (size_t i = 0; i < in->n && !rc; i++)
            rc = jn__tk_words_add(&a, in->text.p + in->off[i], in->len[i]);
        for (size_t i = 0; i < p->nseq && !rc; i++) {
            rc = jn__tk_pre_apply(&p->seq[i], &a, &b, first);
            jn_tk_words t = a;
            a = b;
            b = t;
        }
        for (size_t i = 0; i < a.n && !rc; i++)
            rc = jn__tk_words_add(out, a.text.p + a.off[i], a.len[i]);
        jn__tk_words_free(&a);
        jn__tk_words_free(&b);
        return rc;
    }
    segs g = {0};
    int rc = 0;
    for (size_t i = 0; i < in->n && !rc; i++)
        rc = apply_word(p, in->text.p + in->off[i], in->len[i], first && i == 0, &g, out);
    free(g.v);
    return rc;
}

static int parse_behavior(json_t *j, const char *path, enum jn_tk_behavior dflt, enum jn_tk_behavior *out,
                          jn_err *err)
{
    json_t *v = json_object_get(j, "behavior");
    *out = dflt;
    if (!v || json_is_null(v))
        return 0;
    static const struct {
        const char *name;
        enum jn_tk_behavior b;
    } names[] = {{"Removed", JN_TK_REMOVED},
                 {"Isolated", JN_TK_ISOLATED},
                 {"MergedWithPrevious", JN_TK_MERGED_PREV},
                 {"MergedWithNext", JN_TK_MERGED_NEXT},
                 {"Contiguous", JN_TK_CONTIGUOUS}};
    if (json_is_string(v))
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (!strcmp(json_string_value(v), names[i].name)) {
                *out = names[i].b;
                return 0;
            }
    return jn_err_set(err, JN_EINVAL,
                      "%s.behavior: expected Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous",
                      path);
}

int jn__tk_parse_prepend(json_t *j, const char *path, enum jn_tk_prepend *out, jn_err *err)
{
    json_t *v = json_object_get(j, "prepend_scheme");
    if (!v || json_is_null(v)) { /* older files: add_prefix_space */
        bool aps;
        if (jn__tk_get_bool(j, "add_prefix_space", true, &aps, path, err))
            return err->code;
        *out = aps ? JN_TK_PREPEND_ALWAYS : JN_TK_PREPEND_NEVER;
        return 0;
    }
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    if (!strcmp(s, "always"))
        *out = JN_TK_PREPEND_ALWAYS;
    else if (!strcmp(s, "first"))
        *out = JN_TK_PREPEND_FIRST;
    else if (!strcmp(s, "never"))
        *out = JN_TK_PREPEND_NEVER;
    else
        return jn_err_set(err, JN_EINVAL, "%s.prepend_scheme: expected always, first or never", path);
    return 0;
}

int jn__tk_pre_parse(jn_tk_pre *p, json_t *j, const char *path, jn_err *err)
{
    memset(p, 0, sizeof *p);
    const char *t = jn__tk_type(j, path, err);
    if (!t)
        return err->code;
    if (!strcmp(t, "BertPreTokenizer")) {
        p->kind = JN_TK_PRE_BERT;
    } else if (!strcmp(t, "Whitespace")) {
        p->kind = JN_TK_PRE_WHITESPACE;
        p->re = jn__tk_regex_compile(WHITESPACE_PATTERN, false, path, err);
        if (!p->re)
            return err->code;
    } else if (!strcmp(t, "WhitespaceSplit")) {
        p->kind = JN_TK_PRE_WHITESPACE_SPLIT;
    } else if (!strcmp(t, "ByteLevel")) {
        p->kind = JN_TK_PRE_BYTELEVEL;
        if (jn__tk_get_bool(j, "add_prefix_space", true, &p->add_prefix_space, path, err) ||
            jn__tk_get_bool(j, "use_regex", true, &p->use_regex, path, err))
            return err->code;
        if (p->use_regex && !(p->re = jn__tk_regex_compile(GPT2_PATTERN, false, path, err)))
            return err->code;
    } else if (!strcmp(t, "Metaspace")) {
        p->kind = JN_TK_PRE_METASPACE;
        if (jn__tk_get_str(j, "replacement", "\xE2\x96\x81", &p->replacement, path, err) ||
            jn__tk_get_bool(j, "split", true, &p->split, path, err) || jn__tk_parse_prepend(j, path, &p->prepend, err))
            return err->code;
        if (!p->replacement[0])
            return jn_err_set(err, JN_EINVAL, "%s.replacement: expected one character", path);
    } else if (!strcmp(t, "Digits")) {
        p->kind = JN_TK_PRE_DIGITS;
        if (jn__tk_get_bool(j, "individual_digits", false, &p->individual_digits, path, err))
            return err->code;
    } else if (!strcmp(t, "Punctuation")) {
        p->kind = JN_TK_PRE_PUNCTUATION;
        if (parse_behavior(j, path, JN_TK_ISOLATED, &p->behavior, err))
            return err->code;
    } else if (!strcmp(t, "Split")) {
        p->kind = JN_TK_PRE_SPLIT;
        if (jn__tk_pattern_parse(json_object_get(j, "pattern"), path, &p->re, err) ||
            parse_behavior(j, path, JN_TK_REMOVED, &p->behavior, err) ||
            jn__tk_get_bool(j, "invert", false, &p->invert, path, err))
            return err->code;
    } else if (!strcmp(t, "Sequence")) {
        p->kind = JN_TK_PRE_SEQUENCE;
        json_t *a = json_object_get(j, "pretokenizers");
        if (!json_is_array(a))
            return jn_err_set(err, JN_EINVAL, "%s.pretokenizers: expected an array", path);
        p->seq = calloc(json_array_size(a) + 1, sizeof *p->seq);
        if (!p->seq)
            return jn_err_set(err, JN_ENOMEM, "%s: out of memory", path);
        for (size_t i = 0; i < json_array_size(a); i++) {
            char sp[256];
            snprintf(sp, sizeof sp, "%s.pretokenizers[%zu]", path, i);
            p->nseq = i + 1;
            if (jn__tk_pre_parse(&p->seq[i], json_array_get(a, i), sp, err))
                return err->code;
        }
    } else {
        return jn_err_set(err, JN_EINVAL, "%s.type: unknown pre-tokenizer type '%s'", path, t);
    }
    return 0;
}

void jn__tk_pre_free(jn_tk_pre *p)
{
    free(p->replacement);
    jn__tk_regex_free(p->re);
    for (size_t i = 0; i < p->nseq; i++)
        jn__tk_pre_free(&p->seq[i]);
    free(p->seq);
    memset(p, 0, sizeof *p);
}
