/* normalize.c — tokenizer.json normalizers: BertNormalizer, Lowercase, NFC/NFD/NFKC/NFKD (utf8proc), StripAccents,
 * Strip, Replace, Prepend, ByteLevel, Sequence. Character classes follow the tokenizers library's definitions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "internal.h"

bool jn__tk_is_whitespace(uint32_t cp)
{
    /* Rust's char::is_whitespace (the White_Space property) */
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}

bool jn__tk_is_punct(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
               (cp >= 123 && cp <= 126);
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO;
}

bool jn__tk_is_cjk(uint32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
           (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) ||
           (cp >= 0x2B920 && cp <= 0x2CEAF) || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

/* BERT's is_control: \t \n \r are not; otherwise the "Other" categories Cc, Cf, Co, Cs (not Cn: the tokenizers
 * library keeps unassigned code points). */
static bool is_bert_control(uint32_t cp)
{
    if (cp == '\t' || cp == '\n' || cp == '\r')
        return false;
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return c == UTF8PROC_CATEGORY_CC || c == UTF8PROC_CATEGORY_CF || c == UTF8PROC_CATEGORY_CO ||
           c == UTF8PROC_CATEGORY_CS;
}

static int put_lower(jn_tk_buf *b, uint32_t cp)
{
    if (cp == 0x130) /* full lowercase mapping of İ: i + combining dot above */
        return jn__tk_buf_put(b, "i\xCC\x87", 3);
    return jn__tk_buf_putc(b, (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp));
}

static int unicode_form(const char *in, size_t n, utf8proc_option_t opt, jn_tk_buf *out)
{
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)in, (utf8proc_ssize_t)n, &dst, opt | UTF8PROC_STABLE);
    if (r < 0)
        return r == UTF8PROC_ERROR_NOMEM ? JN_ENOMEM : JN_EINVAL;
    out->n = 0;
    int rc = jn__tk_buf_put(out, dst, (size_t)r);
    free(dst);
    if (!rc && !out->p)
        rc = jn__tk_buf_put(out, "", 0);
    return rc;
}

/* Appends in[0..n) to out, dropping marks (nonspacing only when mn_only). */
static int drop_marks(const char *in, size_t n, bool mn_only, jn_tk_buf *out)
{
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = jn__tk_utf8_next(in + i, n - i, &cp);
        utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
        bool mark = c == UTF8PROC_CATEGORY_MN || (!mn_only && (c == UTF8PROC_CATEGORY_MC || c == UTF8PROC_CATEGORY_ME));
        if (!mark && jn__tk_buf_put(out, in + i, k))
            return JN_ENOMEM;
        i += k;
    }
    return 0;
}

static int apply_one(const jn_tk_norm *nm, const char *in, size_t n, jn_tk_buf *out)
{
    out->n = 0;
    int rc = 0;
    switch (nm->kind) {
    case JN_TK_NORM_BERT: {
        jn_tk_buf a = {0};
        for (size_t i = 0; i < n && !rc;) {
            uint32_t cp;
            size_t k = jn__tk_utf8_next(in + i, n - i, &cp);
            i += k;
            if (nm->clean_text) {
                if (cp == 0 || cp == 0xFFFD || is_bert_control(cp))
                    continue;
                if (jn__tk_is_whitespace(cp))
                    cp = ' ';
            }
            if (nm->chinese && jn__tk_is_cjk(cp)) {
                rc = jn__tk_buf_put(&a, " ", 1);
                rc = rc ? rc : jn__tk_buf_putc(&a, cp);
                rc = rc ? rc : jn__tk_buf_put(&a, " ", 1);
            } else {
                rc = jn__tk_buf_putc(&a, cp);
            }
        }
        if (!rc && nm->strip_accents) {
            jn_tk_buf d = {0};
            rc = unicode_form(a.p ? a.p : "", a.n, UTF8PROC_DECOMPOSE, &d);
            a.n = 0;
            if (!rc)
                rc = drop_marks(d.p, d.n, true, &a);
            free(d.p);
        }
        if (!rc && nm->lowercase) {
            for (size_t i = 0; i < a.n && !rc;) {
                uint32_t cp;
                i += jn__tk_utf8_next(a.p + i, a.n - i, &cp);
                rc = put_lower(out, cp);
            }
        } else if (!rc) {
            rc = jn__tk_buf_put(out, a.p, a.n);
        }
        free(a.p);
        return rc;
    }
    case JN_TK_NORM_LOWERCASE:
        for (size_t i = 0; i < n && !rc;) {
            uint32_t cp;
            i += jn__tk_utf8_next(in + i, n - i, &cp);
            rc = put_lower(out, cp);
        }
        return rc;
    case JN_TK_NORM_NFC:
        return unicode_form(in, n, UTF8PROC_COMPOSE, out);
    case JN_TK_NORM_NFD:
        return unicode_form(in, n, UTF8PROC_DECOMPOSE, out);
    case JN_TK_NORM_NFKC:
        return unicode_form(in, n, UTF8PROC_COMPOSE | UTF8PROC_COMPAT, out);
    case JN_TK_NORM_NFKD:
        return unicode_form(in, n, UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, out);
    case JN_TK_NORM_STRIP_ACCENTS:
        return drop_marks(in, n, false, out);
    case JN_TK_NORM_STRIP: {
        size_t a = 0, b = n;
        while (nm->left && a < b) {
            uint32_t cp;
            size_t k = jn__tk_utf8_next(in + a, b - a, &cp);
            if (!jn__tk_is_whitespace(cp))
                break;
            a += k;
        }
        while (nm->right && b > a) {
            size_t s = b - 1;
            while (s > a && ((uint8_t)in[s] & 0xC0) == 0x80)
                s--;
            uint32_t cp;
            jn__tk_utf8_next(in + s, b - s, &cp);
            if (!jn__tk_is_whitespace(cp))
                break;
            b = s;
        }
        return jn__tk_buf_put(out, in + a, b - a);
    }
    case JN_TK_NORM_REPLACE: {
        size_t pos = 0, ms, me;
        size_t cl = strlen(nm->content);
        while (pos <= n) {
            int f = jn__tk_regex_find(nm->re, in, n, pos, &ms, &me);
            if (f < 0)
                return f;
            if (f == 0 || me == ms)
                break;
            if (jn__tk_buf_put(out, in + pos, ms - pos) || jn__tk_buf_put(out, nm->content, cl))
                return JN_ENOMEM;
            pos = me;
        }
        return jn__tk_buf_put(out, in + pos, n - pos);
    }
    case JN_TK_NORM_PREPEND:
        if (n && jn__tk_buf_put(out, nm->content, strlen(nm->content)))
            return JN_ENOMEM;
        return jn__tk_buf_put(out, in, n);
    case JN_TK_NORM_BYTELEVEL:
        for (size_t i = 0; i < n && !rc; i++)
            rc = jn__tk_buf_putc(out, jn__tk_byte_to_cp((uint8_t)in[i]));
        return rc;
    case JN_TK_NORM_SEQUENCE: {
        jn_tk_buf cur = {0}, nxt = {0};
        rc = jn__tk_buf_put(&cur, in, n);
        for (size_t i = 0; i < nm->nseq && !rc; i++) {
            rc = apply_one(&nm->seq[i], cur.p ? cur.p : "", cur.n, &nxt);
            jn_tk_buf t = cur;
            cur = nxt;
            nxt = t;
        }
        if (!rc)
            rc = jn__tk_buf_put(out, cur.p, cur.n);
        free(cur.p);
        free(nxt.p);
        return rc;
    }
    }
    return JN_EINTERNAL;
}

int jn__tk_norm_apply(const jn_tk_norm *nm, const char *in, size_t n, jn_tk_buf *out)
{
    int rc = apply_one(nm, in, n, out);
    if (!rc && !out->p)
        rc = jn__tk_buf_put(out, "", 0) ? JN_ENOMEM : 0;
    return rc;
}

int jn__tk_pattern_parse(json_t *pat, const char *path, jn_tk_regex **re, jn_err *err)
{
    char p[256];
    snprintf(p, sizeof p, "%s.pattern", path);
    if (!json_is_object(pat))
        return jn_err_set(err, JN_EINVAL, "%s: expected {\"String\": ...} or {\"Regex\": ...}", p);
    json_t *s = json_object_get(pat, "String"), *r = json_object_get(pat, "Regex");
    if (json_is_string(s))
        *re = jn__tk_regex_compile(json_string_value(s), true, p, err);
    else if (json_is_string(r))
        *re = jn__tk_regex_compile(json_string_value(r), false, p, err);
    else
        return jn_err_set(err, JN_EINVAL, "%s: expected {\"String\": ...} or {\"Regex\": ...}", p);
    return *re ? 0 : err->code;
}

int jn__tk_norm_parse(jn_tk_norm *nm, json_t *j, const char *path, jn_err *err)
{
    memset(nm, 0, sizeof *nm);
    const char *t = jn__tk_type(j, path, err);
    if (!t)
        return err->code;
    if (!strcmp(t, "BertNormalizer")) {
        nm->kind = JN_TK_NORM_BERT;
        if (jn__tk_get_bool(j, "clean_text", true, &nm->clean_text, path, err) ||
            jn__tk_get_bool(j, "handle_chinese_chars", true, &nm->chinese, path, err) ||
            jn__tk_get_bool(j, "lowercase", true, &nm->lowercase, path, err) ||
            jn__tk_get_bool(j, "strip_accents", nm->lowercase, &nm->strip_accents, path, err))
            return err->code;
        return 0;
    }
    static const struct {
        const char *name;
        enum jn_tk_norm_kind kind;
    } simple[] = {{"Lowercase", JN_TK_NORM_LOWERCASE}, {"NFC", JN_TK_NORM_NFC},
                  {"NFD", JN_TK_NORM_NFD},             {"NFKC", JN_TK_NORM_NFKC},
                  {"NFKD", JN_TK_NORM_NFKD},           {"StripAccents", JN_TK_NORM_STRIP_ACCENTS},
                  {"ByteLevel", JN_TK_NORM_BYTELEVEL}};
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
        if (!strcmp(t, simple[i].name)) {
            nm->kind = simple[i].kind;
            return 0;
        }
    if (!strcmp(t, "Strip")) {
        nm->kind = JN_TK_NORM_STRIP;
        if (jn__tk_get_bool(j, "strip_left", true, &nm->left, path, err) ||
            jn__tk_get_bool(j, "strip_right", true, &nm->right, path, err))
            return err->code;
        return 0;
    }
    if (!strcmp(t, "Replace")) {
        nm->kind = JN_TK_NORM_REPLACE;
        if (jn__tk_pattern_parse(json_object_get(j, "pattern"), path, &nm->re, err) ||
            jn__tk_get_str(j, "content", NULL, &nm->content, path, err))
            return err->code;
        if (!nm->content)
            return jn_err_set(err, JN_EINVAL, "%s.content: expected a string", path);
        return 0;
    }
    if (!strcmp(t, "Prepend")) {
        nm->kind = JN_TK_NORM_PREPEND;
        if (jn__tk_get_str(j, "prepend", NULL, &nm->content, path, err))
            return err->code;
        if (!nm->content)
            return jn_err_set(err, JN_EINVAL, "%s.prepend: expected a string", path);
        return 0;
    }
    if (!strcmp(t, "Sequence")) {
        nm->kind = JN_TK_NORM_SEQUENCE;
        json_t *a = json_object_get(j, "normalizers");
        if (!json_is_array(a))
            return jn_err_set(err, JN_EINVAL, "%s.normalizers: expected an array", path);
        nm->seq = calloc(json_array_size(a) + 1, sizeof *nm->seq);
        if (!nm->seq)
            return jn_err_set(err, JN_ENOMEM, "%s: out of memory", path);
        for (size_t i = 0; i < json_array_size(a); i++) {
            char p[256];
            snprintf(p, sizeof p, "%s.normalizers[%zu]", path, i);
            nm->nseq = i + 1;
            if (jn__tk_norm_parse(&nm->seq[i], json_array_get(a, i), p, err))
                return err->code;
        }
        return 0;
    }
    return jn_err_set(err, JN_EINVAL, "%s.type: unknown normalizer type '%s'", path, t);
}

void jn__tk_norm_free(jn_tk_norm *nm)
{
    jn__tk_regex_free(nm->re);
    free(nm->content);
    for (size_t i = 0; i < nm->nseq; i++)
        jn__tk_norm_free(&nm->seq[i]);
    free(nm->seq);
    memset(nm, 0, sizeof *nm);
}
