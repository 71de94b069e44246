/* util.c — the tokenizer's small containers (byte buffer, word list, string and pair maps), UTF-8 helpers, JSON
 * field readers that name the path, and the regex wrapper over PCRE2 (UTF mode, Unicode properties). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "internal.h"

int jn__tk_buf_put(jn_tk_buf *b, const void *s, size_t n)
{
    if (n == 0 && b->p)
        return 0; /* (an empty put still gives a NUL-terminated buffer) */
    char *p = jn_grow(b->p, &b->cap, b->n + n + 1, 64);
    if (!p)
        return JN_ENOMEM;
    b->p = p;
    if (n)
        memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return 0;
}

int jn__tk_buf_putc(jn_tk_buf *b, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return jn__tk_buf_put(b, u, n);
}

int jn__tk_words_add(jn_tk_words *w, const char *s, size_t n)
{
    if (w->n == w->cap) {
        size_t c = w->cap ? w->cap * 2 : 16;
        size_t *o = realloc(w->off, c * sizeof *o);
        if (!o)
            return JN_ENOMEM;
        w->off = o;
        size_t *l = realloc(w->len, c * sizeof *l);
        if (!l)
            return JN_ENOMEM;
        w->len = l;
        w->cap = c;
    }
    size_t at = w->text.n;
    if (jn__tk_buf_put(&w->text, s, n))
        return JN_ENOMEM;
    w->off[w->n] = at;
    w->len[w->n] = n;
    w->n++;
    return 0;
}

void jn__tk_words_clear(jn_tk_words *w)
{
    w->n = 0;
    w->text.n = 0;
}

void jn__tk_words_free(jn_tk_words *w)
{
    free(w->text.p);
    free(w->off);
    free(w->len);
    memset(w, 0, sizeof *w);
}

size_t jn__tk_utf8_next(const char *s, size_t n, uint32_t *cp)
{
    const uint8_t *u = (const uint8_t *)s;
    if (u[0] < 0x80 || n < 2) {
        *cp = u[0];
        return 1;
    }
    if (u[0] < 0xE0) {
        *cp = ((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F);
        return 2;
    }
    if (u[0] < 0xF0 || n < 4) {
        if (n < 3) {
            *cp = u[0];
            return 1;
        }
        *cp = ((uint32_t)(u[0] & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
        return 3;
    }
    *cp = ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3F) << 12) | ((uint32_t)(u[2] & 0x3F) << 6) |
          (u[3] & 0x3F);
    return 4;
}

size_t jn__tk_utf8_check(const char *s, size_t n)
{
    const uint8_t *u = (const uint8_t *)s;
    size_t i = 0;
    while (i < n) {
        uint8_t c = u[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        uint32_t cp, min;
        if (c >= 0xC2 && c <= 0xDF) {
            k = 1;
            cp = c & 0x1F;
            min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            k = 2;
            cp = c & 0x0F;
            min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3;
            cp = c & 0x07;
            min = 0x10000;
        } else {
            return i;
        }
        if (n - i <= k)
            return i;
        for (size_t j = 1; j <= k; j++) {
            if ((u[i + j] & 0xC0) != 0x80)
                return i;
            cp = (cp << 6) | (u[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += k + 1;
    }
    return n;
}

/* ---- maps ---- */

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

static int strmap_grow(jn_tk_strmap *m)
{
    size_t nc = m->cap ? m->cap * 2 : 64;
    char **nk = calloc(nc, sizeof *nk);
    size_t *nl = calloc(nc, sizeof *nl);
    int64_t *nv = calloc(nc, sizeof *nv);
    if (!nk || !nl || !nv) {
        free(nk);
        free(nl);
        free(nv);
        return JN_ENOMEM;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        size_t h = (size_t)hash_bytes(m->keys[i], m->lens[i]) & (nc - 1);
        while (nk[h])
            h = (h + 1) & (nc - 1);
        nk[h] = m->keys[i];
        nl[h] = m->lens[i];
        nv[h] = m->vals[i];
    }
    free(m->keys);
    free(m->lens);
    free(m->vals);
    m->keys = nk;
    m->lens = nl;
    m->vals = nv;
    m->cap = nc;
    return 0;
}

int jn__tk_strmap_put(jn_tk_strmap *m, const char *k, size_t kn, int64_t v)
{
    if ((m->n + 1) * 2 > m->cap && strmap_grow(m))
        return JN_ENOMEM;
    size_t h = (size_t)hash_bytes(k, kn) & (m->cap - 1);
    while (m->keys[h]) {
        if (m->lens[h] == kn && memcmp(m->keys[h], k, kn) == 0) {
            m->vals[h] = v;
            return 0;
        }
        h = (h + 1) & (m->cap - 1);
    }
    char *c = malloc(kn + 1);
    if (!c)
        return JN_ENOMEM;
    memcpy(c, k, kn);
    c[kn] = 0;
    m->keys[h] = c;
    m->lens[h] = kn;
    m->vals[h] = v;
    m->n++;
    return 0;
}

int64_t jn__tk_strmap_get(const jn_tk_strmap *m, const char *k, size_t kn)
{
    if (!m->cap)
        return -1;
    size_t h = (size_t)hash_bytes(k, kn) & (m->cap - 1);
    while (m->keys[h]) {
        if (m->lens[h] == kn && memcmp(m->keys[h], k, kn) == 0)
            return m->vals[h];
        h = (h + 1) & (m->cap - 1);
    }
    return -1;
}

void jn__tk_strmap_free(jn_tk_strmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->keys[i]);
    free(m->keys);
    free(m->lens);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

static size_t hash_u64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return (size_t)k;
}

int jn__tk_pairmap_put(jn_tk_pairmap *m, uint64_t k, int32_t rank, int32_t id)
{
    k += 1;
    if ((m->n + 1) * 2 > m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 256;
        uint64_t *nk = calloc(nc, sizeof *nk);
        int32_t *nr = malloc(nc * sizeof *nr), *ni = malloc(nc * sizeof *ni);
        if (!nk || !nr || !ni) {
            free(nk);
            free(nr);
            free(ni);
            return JN_ENOMEM;
        }
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->keys[i])
                continue;
            size_t h = hash_u64(m->keys[i]) & (nc - 1);
            while (nk[h])
                h = (h + 1) & (nc - 1);
            nk[h] = m->keys[i];
            nr[h] = m->rank[i];
            ni[h] = m->id[i];
        }
        free(m->keys);
        free(m->rank);
        free(m->id);
        m->keys = nk;
        m->rank = nr;
        m->id = ni;
        m->cap = nc;
    }
    size_t h = hash_u64(k) & (m->cap - 1);
    while (m->keys[h] && m->keys[h] != k)
        h = (h + 1) & (m->cap - 1);
    if (m->keys[h])
        return 0; /* first merge wins (lowest rank) */
    m->keys[h] = k;
    m->rank[h] = rank;
    m->id[h] = id;
    m->n++;
    return 0;
}

bool jn__tk_pairmap_get(const jn_tk_pairmap *m, uint64_t k, int32_t *rank, int32_t *id)
{
    if (!m->cap)
        return false;
    k += 1;
    size_t h = hash_u64(k) & (m->cap - 1);
    while (m->keys[h]) {
        if (m->keys[h] == k) {
            *rank = m->rank[h];
            *id = m->id[h];
            return true;
        }
        h = (h + 1) & (m->cap - 1);
    }
    return false;
}

void jn__tk_pairmap_free(jn_tk_pairmap *m)
{
    free(m->keys);
    free(m->rank);
    free(m->id);
    memset(m, 0, sizeof *m);
}

/* ---- JSON ---- */

int jn__tk_json_obj(json_t *j, const char *path, jn_err *err)
{
    if (!json_is_object(j))
        return jn_err_set(err, JN_EINVAL, "%s: expected an object", path);
    return 0;
}

int jn__tk_get_bool(json_t *o, const char *key, bool dflt, bool *out, const char *path, jn_err *err)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        *out = dflt;
        return 0;
    }
    if (!json_is_boolean(v))
        return jn_err_set(err, JN_EINVAL, "%s.%s: expected true or false", path, key);
    *out = json_is_true(v);
    return 0;
}

int jn__tk_get_str(json_t *o, const char *key, const char *dflt, char **out, const char *path, jn_err *err)
{
    json_t *v = json_object_get(o, key);
    const char *s = dflt;
    if (v && !json_is_null(v)) {
        if (!json_is_string(v))
            return jn_err_set(err, JN_EINVAL, "%s.%s: expected a string", path, key);
        s = json_string_value(v);
    }
    *out = NULL;
    if (!s)
        return 0;
    *out = strdup(s);
    return *out ? 0 : jn_err_set(err, JN_ENOMEM, "%s.%s: out of memory", path, key);
}

int jn__tk_get_uint(json_t *o, const char *key, size_t dflt, size_t *out, const char *path, jn_err *err)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        *out = dflt;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return jn_err_set(err, JN_EINVAL, "%s.%s: expected a non-negative integer", path, key);
    *out = (size_t)json_integer_value(v);
    return 0;
}

const char *jn__tk_type(json_t *o, const char *path, jn_err *err)
{
    if (jn__tk_json_obj(o, path, err))
        return NULL;
    json_t *t = json_object_get(o, "type");
    if (!json_is_string(t)) {
        jn_err_set(err, JN_EINVAL, "%s.type: expected a string naming the component", path);
        return NULL;
    }
    return json_string_value(t);
}

/* ---- regex ---- */

struct jn_tk_regex {
    pcre2_code *code;
    char *literal;
    size_t lit_len;
};

jn_tk_regex *jn__tk_regex_compile(const char *pattern, bool literal, const char *path, jn_err *err)
{
    jn_tk_regex *re = calloc(1, sizeof *re);
    if (!re) {
        jn_err_set(err, JN_ENOMEM, "%s: out of memory", path);
        return NULL;
    }
    if (literal) {
        re->literal = strdup(pattern);
        re->lit_len = strlen(pattern);
        if (!re->literal || re->lit_len == 0) {
            free(re->literal);
            free(re);
            jn_err_set(err, JN_EINVAL, "%s: empty string pattern", path);
            return NULL;
        }
        return re;
    }
    int ec;
    PCRE2_SIZE eo;
    re->code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK,
                             &ec, &eo, NULL);
    if (!re->code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        jn_err_set(err, JN_EINVAL, "%s: invalid regex at offset %zu: %s", path, (size_t)eo, (const char *)msg);
        free(re);
        return NULL;
    }
    pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE); /* best effort: falls back to the interpreter */
    return re;
}

void *jn__tk_regex_scratch(const jn_tk_regex *re)
{
    return re->code ? pcre2_match_data_create_from_pattern(re->code, NULL) : NULL;
}

void jn__tk_regex_scratch_free(void *md)
{
    if (md)
        pcre2_match_data_free(md);
}

int jn__tk_regex_find_with(const jn_tk_regex *re, void *scratch, const char *s, size_t n, size_t start, size_t *ms,
                           size_t *me)
{
    if (re->literal) {
        if (start > n || n - start < re->lit_len)
            return 0;
        for (size_t i = start; i + re->lit_len <= n; i++) {
            if (s[i] == re->literal[0] && memcmp(s + i, re->literal, re->lit_len) == 0) {
                *ms = i;
                *me = i + re->lit_len;
                return 1;
            }
        }
        return 0;
    }
    pcre2_match_data *md = scratch ? scratch : pcre2_match_data_create_from_pattern(re->code, NULL);
    if (!md)
        return JN_ENOMEM;
    int rc = pcre2_match(re->code, (PCRE2_SPTR)s, n, start, PCRE2_NO_UTF_CHECK, md, NULL);
    if (rc >= 0) {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        *ms = ov[0];
        *me = ov[1];
    }
    if (!scratch)
        pcre2_match_data_free(md);
    if (rc < 0)
        return rc == PCRE2_ERROR_NOMATCH ? 0 : JN_EINTERNAL;
    return 1;
}

int jn__tk_regex_find(const jn_tk_regex *re, const char *s, size_t n, size_t start, size_t *ms, size_t *me)
{
    return jn__tk_regex_find_with(re, NULL, s, n, start, ms, me);
}

void jn__tk_regex_free(jn_tk_regex *re)
{
    if (!re)
        return;
    if (re->code)
        pcre2_code_free(re->code);
    free(re->literal);
    free(re);
}
