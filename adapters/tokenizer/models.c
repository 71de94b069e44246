/* models.c — tokenizer.json models: WordPiece (greedy longest match with the continuing-subword prefix), BPE (merges
 * by rank, byte fallback, unknown-token fusion), Unigram (Viterbi over the pieces' log probabilities), WordLevel. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "internal.h"

#define UNK_PENALTY 10.0 /* Unigram: an unknown character scores the lowest piece minus this (as sentencepiece) */

static int push_id(int64_t **ids, size_t *n, size_t *cap, int64_t id)
{
    if (*n == *cap) {
        size_t c = *cap * sizeof **ids;
        int64_t *p = jn_grow(*ids, &c, (*n + 1) * sizeof **ids, 32 * sizeof **ids);
        if (!p)
            return JN_ENOMEM;
        *ids = p;
        *cap = c / sizeof **ids;
    }
    (*ids)[(*n)++] = id;
    return 0;
}

static size_t utf8_len(uint8_t c)
{
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

/* ---- WordPiece ---- */

static int wordpiece(const jn_tk_model *m, const char *w, size_t n, int64_t **ids, size_t *nids, size_t *cap)
{
    size_t chars = 0;
    for (size_t i = 0; i < n; i += utf8_len((uint8_t)w[i]))
        chars++;
    if (chars > m->max_chars)
        return m->unk_id < 0 ? JN_EINVAL : push_id(ids, nids, cap, m->unk_id);
    size_t pl = strlen(m->prefix);
    char stack[512];
    char *buf = n + pl + 1 <= sizeof stack ? stack : malloc(n + pl + 1);
    if (!buf)
        return JN_ENOMEM;
    memcpy(buf, m->prefix, pl);
    size_t mark = *nids, start = 0;
    int rc = 0;
    while (start < n) {
        size_t end = n;
        int64_t cur = -1;
        while (start < end) {
            int64_t id;
            if (start > 0) {
                memcpy(buf + pl, w + start, end - start);
                id = jn__tk_strmap_get(&m->vocab, buf, pl + end - start);
            } else {
                id = jn__tk_strmap_get(&m->vocab, w, end);
            }
            if (id >= 0) {
                cur = id;
                break;
            }
            end--;
            while (end > start && ((uint8_t)w[end] & 0xC0) == 0x80)
                end--;
        }
        if (cur < 0) {
            *nids = mark;
            rc = m->unk_id < 0 ? JN_EINVAL : push_id(ids, nids, cap, m->unk_id);
            break;
        }
        if ((rc = push_id(ids, nids, cap, cur)))
            break;
        start = end;
    }
    if (buf != stack)
        free(buf);
    return rc;
}

/* ---- BPE ---- */

static int byte_fallback_ids(const jn_tk_model *m, const char *s, size_t n, int64_t *out)
{
    for (size_t i = 0; i < n; i++) {
        char code[8];
        snprintf(code, sizeof code, "<0x%02X>", (uint8_t)s[i]);
        out[i] = jn__tk_strmap_get(&m->vocab, code, 6);
        if (out[i] < 0)
            return -1;
    }
    return 0;
}

typedef struct merge_cand {
    int32_t rank;
    int32_t pos;
    int32_t id;
} merge_cand;

static bool cand_less(const merge_cand *a, const merge_cand *b)
{
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void heap_push(merge_cand *h, size_t *n, merge_cand c)
{
    size_t i = (*n)++;
    while (i > 0 && cand_less(&c, &h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = c;
}

static merge_cand heap_pop(merge_cand *h, size_t *n)
{
    merge_cand top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && cand_less(&h[c + 1], &h[c]))
            c++;
        if (!cand_less(&h[c], &last))
            break;
        h[i] = h[c];
        i = c;
    }
    if (*n)
        h[i] = last;
    return top;
}

static bool pair_of(const jn_tk_model *m, int64_t a, int64_t b, int32_t *rank, int32_t *id)
{
    return jn__tk_pairmap_get(&m->merges, ((uint64_t)(uint32_t)a << 32) | (uint32_t)b, rank, id);
}

/* Applies the merges to sym[0..*ns) in place. Non-zero when memory runs out. */
static int merge_all(const jn_tk_model *m, int64_t *sym, size_t *ns)
{
    size_t n = *ns;
    int32_t *next = malloc(n * sizeof *next), *prev = malloc(n * sizeof *prev);
    merge_cand *h = malloc(2 * n * sizeof *h); /* n initial pairs, at most 2 new ones per merge (n - 1 merges) */
    if (!next || !prev || !h) {
        free(next);
        free(prev);
        free(h);
        return JN_ENOMEM;
    }
    size_t hn = 0;
    for (size_t i = 0; i < n; i++) {
        next[i] = i + 1 < n ? (int32_t)(i + 1) : -1;
        prev[i] = (int32_t)i - 1;
        int32_t r, id;
        if (i + 1 < n && pair_of(m, sym[i], sym[i + 1], &r, &id))
            heap_push(h, &hn, (merge_cand){r, (int32_t)i, id});
    }
    while (hn) {
        merge_cand c = heap_pop(h, &hn);
        int32_t p = c.pos, q = next[p];
        if (sym[p] < 0 || q < 0)
            continue;
        int32_t r, id;
        if (!pair_of(m, sym[p], sym[q], &r, &id) || id != c.id || r != c.rank)
            continue; /* stale: one side was merged since */
        sym[p] = id;
        sym[q] = -1;
        next[p] = next[q];
        if (next[q] >= 0)
            prev[next[q]] = p;
        if (prev[p] >= 0 && pair_of(m, sym[prev[p]], sym[p], &r, &id))
            heap_push(h, &hn, (merge_cand){r, prev[p], id});
        if (next[p] >= 0 && pair_of(m, sym[p], sym[next[p]], &r, &id))
            heap_push(h, &hn, (merge_cand){r, p, id});
    }
    size_t k = 0;
    for (int32_t i = 0; i >= 0; i = next[i])
        sym[k++] = sym[i];
    *ns = k;
    free(next);
    free(prev);
    free(h);
    return 0;
}

static int bpe(const jn_tk_model *m, const char *w, size_t n, int64_t **ids, size_t *nids, size_t *cap)
{
    if (m->ignore_merges) {
        int64_t id = jn__tk_strmap_get(&m->vocab, w, n);
        if (id >= 0)
            return push_id(ids, nids, cap, id);
    }
    /* symbols: one per character (or byte-fallback byte, or fused unknown run) */
    size_t pl = m->prefix ? strlen(m->prefix) : 0, sl = m->suffix ? strlen(m->suffix) : 0;
    size_t cap_s = n * (1 + (m->byte_fallback ? pl + sl + 3 : 0)) + 1;
    int64_t sstack[256];
    char tstack[128];
    bool heap = cap_s > 256;
    int64_t *sym = heap ? malloc(cap_s * sizeof *sym) : sstack;
    char *tmp = pl + sl + 4 > sizeof tstack ? malloc(pl + sl + 4) : tstack;
    if (!sym || !tmp) {
        if (heap)
            free(sym);
        if (tmp != tstack)
            free(tmp);
        return JN_ENOMEM;
    }
    size_t ns = 0;
    int64_t unk = -1; /* pending unknown (fused) */
    for (size_t i = 0; i < n;) {
        size_t k = utf8_len((uint8_t)w[i]);
        if (k > n - i)
            k = n - i;
        size_t tl = 0;
        if (pl && i > 0) {
            memcpy(tmp, m->prefix, pl);
            tl = pl;
        }
        memcpy(tmp + tl, w + i, k);
        tl += k;
        if (sl && i + k == n) {
            memcpy(tmp + tl, m->suffix, sl);
            tl += sl;
        }
        int64_t id = jn__tk_strmap_get(&m->vocab, tmp, tl);
        if (id >= 0) {
            if (unk >= 0) {
                sym[ns++] = unk;
                unk = -1;
            }
            sym[ns++] = id;
        } else {
            int64_t fb[16];
            if (m->byte_fallback && tl <= 16 && byte_fallback_ids(m, tmp, tl, fb) == 0) {
                /* note: the tokenizers library flushes no pending unknown here; keep the same order */
                for (size_t b = 0; b < tl; b++)
                    sym[ns++] = fb[b];
            } else if (m->unk_id >= 0) {
                if (unk >= 0 && !m->fuse_unk)
                    sym[ns++] = unk;
                unk = m->unk_id;
            }
        }
        i += k;
    }
    if (unk >= 0)
        sym[ns++] = unk;
    /* merge: repeatedly the lowest-ranked adjacent pair, leftmost first (a heap of candidate pairs checked when
     * they come out, as the tokenizers library does: O(n log n) for very long words) */
    int rc = 0;
    if (ns > 1 && merge_all(m, sym, &ns))
        rc = JN_ENOMEM;
    for (size_t i = 0; i < ns && !rc; i++)
        rc = push_id(ids, nids, cap, sym[i]);
    if (heap)
        free(sym);
    if (tmp != tstack)
        free(tmp);
    return rc;
}

/* ---- Unigram ---- */

typedef struct uni_node {
    double score;
    size_t start;
    int64_t id;
    bool set;
} uni_node;

static int unigram(const jn_tk_model *m, const char *w, size_t n, int64_t **ids, size_t *nids, size_t *cap)
{
    if (n == 0)
        return 0;
    uni_node *best = calloc(n + 1, sizeof *best);
    if (!best)
        return JN_ENOMEM;
    best[0].set = true;
    double unk_score = m->min_score - UNK_PENALTY;
    for (size_t s = 0; s < n;) {
        size_t mblen = utf8_len((uint8_t)w[s]);
        bool single = false;
        double here = best[s].score;
        for (size_t e = s + mblen; e <= n && e - s <= m->max_piece;) {
            int64_t id = jn__tk_strmap_get(&m->vocab, w + s, e - s);
            if (id >= 0) {
                double sc = here + m->scores[id];
                if (!best[e].set || sc > best[e].score)
                    best[e] = (uni_node){sc, s, id, true};
                if (e - s == mblen)
                    single = true;
            }
            if (e == n)
                break;
            e += utf8_len((uint8_t)w[e]);
        }
        if (!single) {
            if (m->unk_id < 0) {
                free(best);
                return JN_EINVAL;
            }
            double sc = here + unk_score;
            size_t e = s + mblen;
            if (!best[e].set || sc > best[e].score)
                best[e] = (uni_node){sc, s, m->unk_id, true};
        }
        s += mblen;
    }
    /* backtrack into reversed (start, end, id) triples, fusing runs of unknowns */
    size_t cnt = 0, mark = *nids;
    for (size_t e = n; e > 0; e = best[e].start)
        cnt++;
    int64_t *rev = malloc(cnt * sizeof *rev);
    size_t *rs = malloc(cnt * sizeof *rs), *re_ = malloc(cnt * sizeof *re_);
    if (!rev || !rs || !re_) {
        free(best);
        free(rev);
        free(rs);
        free(re_);
        return JN_ENOMEM;
    }
    size_t k = 0;
    for (size_t e = n; e > 0; e = best[e].start) {
        if (best[e].id == m->unk_id && k > 0 && rev[k - 1] == m->unk_id) {
            rs[k - 1] = best[e].start;
        } else {
            rev[k] = best[e].id;
            rs[k] = best[e].start;
            re_[k] = e;
            k++;
        }
    }
    int rc = 0;
    for (size_t i = k; i-- > 0 && !rc;) {
        int64_t id = rev[i];
        if (id == m->unk_id && m->byte_fallback) {
            /* the fused unknown text as <0xXX> pieces, when they all exist */
            size_t len = re_[i] - rs[i];
            int64_t *fb = malloc(len * sizeof *fb);
            if (!fb) {
                rc = JN_ENOMEM;
                break;
            }
            if (byte_fallback_ids(m, w + rs[i], len, fb) == 0) {
                for (size_t b = 0; b < len && !rc; b++)
                    rc = push_id(ids, nids, cap, fb[b]);
                free(fb);
                continue;
            }
            free(fb);
        }
        rc = push_id(ids, nids, cap, id);
    }
    if (rc)
        *nids = mark;
    free(best);
    free(rev);
    free(rs);
    free(re_);
    return rc;
}

int jn__tk_model_tokenize(const jn_tk_model *m, const char *w, size_t n, int64_t **ids, size_t *nids, size_t *cap)
{
    switch (m->kind) {
    case JN_TK_MODEL_WORDPIECE:
        return wordpiece(m, w, n, ids, nids, cap);
    case JN_TK_MODEL_BPE:
        return bpe(m, w, n, ids, nids, cap);
    case JN_TK_MODEL_UNIGRAM:
        return unigram(m, w, n, ids, nids, cap);
    case JN_TK_MODEL_WORDLEVEL: {
        int64_t id = jn__tk_strmap_get(&m->vocab, w, n);
        if (id < 0)
            id = m->unk_id;
        return id < 0 ? JN_EINVAL : push_id(ids, nids, cap, id);
    }
    }
    return JN_EINTERNAL;
}

/* ---- loading ---- */

/* The score the tokenizers library gets for d: its JSON reader (serde_json without float_roundtrip) turns the
 * decimal digits D x 10^E of the text into (double)D, then multiplies or divides by 10^|E| — two roundings, off by
 * one ulp from the correctly rounded value now and then. Unigram breaks ties between segmentations made of the same
 * pieces by those last bits, so the scores are read the same way: D and E are the shortest digits that give d back
 * (what JSON writers emit). */
static double serde_score(double d)
{
    if (d == 0 || d != d || d - d != 0)
        return d;
    char buf[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, sizeof buf, "%.*e", p - 1, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    const char *s = buf;
    bool neg = *s == '-';
    if (neg)
        s++;
    uint64_t digits = 0;
    int exp10 = 0;
    for (; *s && *s != 'e'; s++) {
        if (*s == '.')
            continue;
        digits = digits * 10 + (uint64_t)(*s - '0');
    }
    int frac = 0;
    const char *dot = strchr(buf, '.'), *e = strchr(buf, 'e');
    if (dot && e)
        frac = (int)(e - dot - 1);
    exp10 = (e ? atoi(e + 1) : 0) - frac;
    while (digits && digits % 10 == 0) { /* "1.50e3" is written 1500: an integer, no rounding */
        digits /= 10;
        exp10++;
    }
    double f = (double)digits;
    char pw[16];
    while (exp10 < -308) {
        f /= 1e308;
        exp10 += 308;
    }
    snprintf(pw, sizeof pw, "1e%d", exp10 < 0 ? -exp10 : exp10);
    double p10 = strtod(pw, NULL);
    f = exp10 >= 0 ? f * p10 : f / p10;
    return neg ? -f : f;
}

static int set_token(jn_tk_model *m, const char *tok, size_t len, int64_t id, const char *path, jn_err *err)
{
    if (id < 0 || id > INT32_MAX)
        return jn_err_set(err, JN_EINVAL, "%s: id %lld out of range", path, (long long)id);
    if ((size_t)id >= m->n_ids) {
        size_t nn = (size_t)id + 1 > m->n_ids * 2 ? (size_t)id + 1 : m->n_ids * 2;
        char **p = realloc(m->id_to_tok, nn * sizeof *p);
        if (!p)
            return jn_err_set(err, JN_ENOMEM, "%s: out of memory", path);
        memset(p + m->n_ids, 0, (nn - m->n_ids) * sizeof *p);
        m->id_to_tok = p;
        m->n_ids = nn;
    }
    if (jn__tk_strmap_put(&m->vocab, tok, len, id))
        return jn_err_set(err, JN_ENOMEM, "%s: out of memory", path);
    free(m->id_to_tok[id]);
    m->id_to_tok[id] = strndup(tok, len);
    if (!m->id_to_tok[id])
        return jn_err_set(err, JN_ENOMEM, "%s: out of memory", path);
    return 0;
}

static int parse_vocab_object(jn_tk_model *m, json_t *v, const char *path, jn_err *err)
{
    if (!json_is_object(v))
        return jn_err_set(err, JN_EINVAL, "%s.vocab: expected an object of token: id", path);
    const char *k;
    json_t *id;
    json_object_foreach(v, k, id)
    {
        if (!json_is_integer(id))
            return jn_err_set(err, JN_EINVAL, "%s.vocab.%s: expected an integer id", path, k);
        char p[300];
        snprintf(p, sizeof p, "%s.vocab.%s", path, k);
        if (set_token(m, k, strlen(k), json_integer_value(id), p, err))
            return err->code;
    }
    return 0;
}

static int parse_unk(jn_tk_model *m, json_t *j, const char *path, jn_err *err)
{
    m->unk_id = -1;
    json_t *u = json_object_get(j, "unk_token");
    if (!u || json_is_null(u))
        return 0;
    if (!json_is_string(u))
        return jn_err_set(err, JN_EINVAL, "%s.unk_token: expected a string", path);
    m->unk_id = jn__tk_strmap_get(&m->vocab, json_string_value(u), strlen(json_string_value(u)));
    if (m->unk_id < 0 && m->kind == JN_TK_MODEL_WORDPIECE)
        return jn_err_set(err, JN_EINVAL, "%s.unk_token: '%s' is not in the vocabulary", path, json_string_value(u));
    return 0;
}

static int parse_merges(jn_tk_model *m, json_t *a, const char *path, jn_err *err)
{
    if (!json_is_array(a))
        return jn_err_set(err, JN_EINVAL, "%s.merges: expected an array", path);
    size_t pl = m->prefix ? strlen(m->prefix) : 0;
    jn_tk_buf nt = {0};
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *e = json_array_get(a, i);
        const char *l, *r;
        size_t ll, rl;
        if (json_is_string(e)) {
            l = json_string_value(e);
            const char *sp = strchr(l, ' ');
            if (!sp) {
                free(nt.p);
                return jn_err_set(err, JN_EINVAL, "%s.merges[%zu]: expected \"left right\"", path, i);
            }
            ll = (size_t)(sp - l);
            r = sp + 1;
            rl = strlen(r);
        } else if (json_is_array(e) && json_array_size(e) == 2 && json_is_string(json_array_get(e, 0)) &&
                   json_is_string(json_array_get(e, 1))) {
            l = json_string_value(json_array_get(e, 0));
            r = json_string_value(json_array_get(e, 1));
            ll = strlen(l);
            rl = strlen(r);
        } else {
            free(nt.p);
            return jn_err_set(err, JN_EINVAL, "%s.merges[%zu]: expected \"left right\" or [left, right]", path, i);
        }
        int64_t a_id = jn__tk_strmap_get(&m->vocab, l, ll), b_id = jn__tk_strmap_get(&m->vocab, r, rl);
        nt.n = 0;
        size_t skip = rl >= pl ? pl : 0;
        if (jn__tk_buf_put(&nt, l, ll) || jn__tk_buf_put(&nt, r + skip, rl - skip)) {
            free(nt.p);
            return jn_err_set(err, JN_ENOMEM, "%s: out of memory", path);
        }
        int64_t n_id = jn__tk_strmap_get(&m->vocab, nt.p ? nt.p : "", nt.n);
        if (a_id < 0 || b_id < 0 || n_id < 0) {
            free(nt.p);
            return jn_err_set(err, JN_EINVAL, "%s.merges[%zu]: token '%s' is not in the vocabulary", path, i,
                              a_id < 0 ? l : b_id < 0 ? r : "(merged)");
        }
        if (jn__tk_pairmap_put(&m->merges, ((uint64_t)(uint32_t)a_id << 32) | (uint32_t)b_id, (int32_t)i,
                               (int32_t)n_id)) {
            free(nt.p);
            return jn_err_set(err, JN_ENOMEM, "%s: out of memory", path);
        }
    }
    free(nt.p);
    return 0;
}

int jn__tk_model_parse(jn_tk_model *m, json_t *j, const char *path, jn_err *err)
{
    memset(m, 0, sizeof *m);
    m->unk_id = -1;
    if (jn__tk_json_obj(j, path, err))
        return err->code;
    json_t *t = json_object_get(j, "type");
    const char *type = json_is_string(t) ? json_string_value(t) : NULL;
    if (!type) { /* older files leave the type out: tell by the fields */
        if (json_object_get(j, "merges"))
            type = "BPE";
        else if (json_is_array(json_object_get(j, "vocab")))
            type = "Unigram";
        else if (json_object_get(j, "continuing_subword_prefix") || json_object_get(j, "max_input_chars_per_word"))
            type = "WordPiece";
        else
            type = "WordLevel";
    }
    if (!strcmp(type, "WordPiece")) {
        m->kind = JN_TK_MODEL_WORDPIECE;
        if (jn__tk_get_str(j, "continuing_subword_prefix", "##", &m->prefix, path, err) ||
            jn__tk_get_uint(j, "max_input_chars_per_word", 100, &m->max_chars, path, err) ||
            parse_vocab_object(m, json_object_get(j, "vocab"), path, err) || parse_unk(m, j, path, err))
            return err->code;
        return 0;
    }
    if (!strcmp(type, "WordLevel")) {
        m->kind = JN_TK_MODEL_WORDLEVEL;
        if (parse_vocab_object(m, json_object_get(j, "vocab"), path, err) || parse_unk(m, j, path, err))
            return err->code;
        return 0;
    }
    if (!strcmp(type, "BPE")) {
        m->kind = JN_TK_MODEL_BPE;
        json_t *d = json_object_get(j, "dropout");
        if (d && !json_is_null(d) && json_number_value(d) > 0.0)
            return jn_err_set(err, JN_EINVAL, "%s.dropout: BPE dropout is not supported (training only)", path);
        if (jn__tk_get_str(j, "continuing_subword_prefix", NULL, &m->prefix, path, err) ||
            jn__tk_get_str(j, "end_of_word_suffix", NULL, &m->suffix, path, err) ||
            jn__tk_get_bool(j, "fuse_unk", false, &m->fuse_unk, path, err) ||
            jn__tk_get_bool(j, "byte_fallback", false, &m->byte_fallback, path, err) ||
            jn__tk_get_bool(j, "ignore_merges", false, &m->ignore_merges, path, err) ||
            parse_vocab_object(m, json_object_get(j, "vocab"), path, err) || parse_unk(m, j, path, err) ||
            parse_merges(m, json_object_get(j, "merges"), path, err))
            return err->code;
        return 0;
    }
    if (!strcmp(type, "Unigram")) {
        m->kind = JN_TK_MODEL_UNIGRAM;
        if (jn__tk_get_bool(j, "byte_fallback", false, &m->byte_fallback, path, err))
            return err->code;
        json_t *v = json_object_get(j, "vocab");
        if (!json_is_array(v))
            return jn_err_set(err, JN_EINVAL, "%s.vocab: expected an array of [piece, score]", path);
        size_t n = json_array_size(v);
        m->scores = calloc(n + 1, sizeof *m->scores);
        if (!m->scores)
            return jn_err_set(err, JN_ENOMEM, "%s: out of memory", path);
        m->min_score = INFINITY;
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_array_get(v, i);
            char p[300];
            snprintf(p, sizeof p, "%s.vocab[%zu]", path, i);
            if (!json_is_array(e) || json_array_size(e) != 2 || !json_is_string(json_array_get(e, 0)) ||
                !json_is_number(json_array_get(e, 1)))
                return jn_err_set(err, JN_EINVAL, "%s: expected [piece, score]", p);
            const char *piece = json_string_value(json_array_get(e, 0));
            size_t pl = json_string_length(json_array_get(e, 0));
            if (jn__tk_strmap_get(&m->vocab, piece, pl) < 0) {
                if (set_token(m, piece, pl, (int64_t)i, p, err))
                    return err->code;
            } else if ((size_t)i < m->n_ids && !m->id_to_tok[i]) {
                m->id_to_tok[i] = strndup(piece, pl); /* a repeated piece keeps its first id for encoding */
                if (!m->id_to_tok[i])
                    return jn_err_set(err, JN_ENOMEM, "%s: out of memory", p);
            }
            m->scores[i] = serde_score(json_number_value(json_array_get(e, 1)));
            if (m->scores[i] < m->min_score)
                m->min_score = m->scores[i];
            if (pl > m->max_piece)
                m->max_piece = pl;
        }
        json_t *u = json_object_get(j, "unk_id");
        if (u && !json_is_null(u)) {
            if (!json_is_integer(u) || json_integer_value(u) < 0 || (size_t)json_integer_value(u) >= n)
                return jn_err_set(err, JN_EINVAL, "%s.unk_id: expected an index into vocab", path);
            m->unk_id = json_integer_value(u);
        }
        return 0;
    }
    return jn_err_set(err, JN_EINVAL, "%s.type: unknown model type '%s'", path, type);
}

void jn__tk_model_free(jn_tk_model *m)
{
    jn__tk_strmap_free(&m->vocab);
    for (size_t i = 0; i < m->n_ids; i++)
        free(m->id_to_tok[i]);
    free(m->id_to_tok);
    free(m->prefix);
    free(m->suffix);
    jn__tk_pairmap_free(&m->merges);
    free(m->scores);
    memset(m, 0, sizeof *m);
}
