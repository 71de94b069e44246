/* tokenizer.c — loading tokenizer.json (added tokens, post-processor, truncation, padding; the components are parsed
 * by their own files) and the encode / batch / decode entry points. See tokenizer.h for the contract. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "grow.h"
#include "internal.h"

jn_tok_options jn_tok_options_default(void)
{
    return (jn_tok_options){.add_special_tokens = true, .max_length = -1, .pad_to = -1};
}

/* ---- load ---- */

jn_tokenizer *jn_tokenizer_load_json(const char *json, size_t len, jn_err *err)
{
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_ALLOW_NUL, &je);
    if (!root) {
        jn_err_set(err, JN_EINVAL, "tokenizer.json: invalid JSON at line %d column %d: %s", je.line, je.column,
                   je.text);
        return NULL;
    }
    jn_tokenizer *tk = calloc(1, sizeof *tk);
    if (!tk) {
        json_decref(root);
        jn_err_set(err, JN_ENOMEM, "tokenizer.json: out of memory");
        return NULL;
    }
    int rc = jn__tk_json_obj(root, "tokenizer.json", err);
    json_t *v;
    if (!rc)
        rc = jn__tk_model_parse(&tk->model, json_object_get(root, "model"), "model", err);
    if (!rc && (v = json_object_get(root, "normalizer")) && !json_is_null(v)) {
        tk->has_norm = true;
        rc = jn__tk_norm_parse(&tk->norm, v, "normalizer", err);
    }
    if (!rc && (v = json_object_get(root, "pre_tokenizer")) && !json_is_null(v)) {
        tk->has_pre = true;
        rc = jn__tk_pre_parse(&tk->pre, v, "pre_tokenizer", err);
    }
    if (!rc && (v = json_object_get(root, "post_processor")) && !json_is_null(v))
        rc = jn__tk_post_parse(&tk->post, v, "post_processor", err);
    if (!rc && (v = json_object_get(root, "decoder")) && !json_is_null(v)) {
        tk->has_dec = true;
        rc = jn__tk_dec_parse(&tk->dec, v, "decoder", err);
    }
    if (!rc) {
        tk->vocab_size = tk->model.n_ids;
        while (tk->vocab_size && !tk->model.id_to_tok[tk->vocab_size - 1])
            tk->vocab_size--;
        rc = jn__tk_added_parse(tk, json_object_get(root, "added_tokens"), err);
    }
    if (!rc)
        rc = jn__tk_trunc_parse(tk, json_object_get(root, "truncation"), err);
    if (!rc)
        rc = jn__tk_pad_parse(tk, json_object_get(root, "padding"), err);
    json_decref(root);
    if (rc) {
        jn_tokenizer_free(tk);
        return NULL;
    }
    return tk;
}

jn_tokenizer *jn_tokenizer_load(const char *path_or_json, jn_err *err)
{
    const char *s = path_or_json;
    while (*s && isspace((unsigned char)*s))
        s++;
    if (*s == '{')
        return jn_tokenizer_load_json(s, strlen(s), err);
    FILE *f = fopen(path_or_json, "rb");
    if (!f) {
        jn_err_set(err, JN_ENOTFOUND, "%s: cannot open tokenizer", path_or_json);
        return NULL;
    }
    jn_tk_buf b = {0};
    char chunk[65536];
    size_t r;
    int rc = 0;
    while (!rc && (r = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = jn__tk_buf_put(&b, chunk, r);
    bool bad = ferror(f);
    fclose(f);
    if (rc || bad) {
        free(b.p);
        jn_err_set(err, rc ? JN_ENOMEM : JN_EIO, "%s: cannot read tokenizer", path_or_json);
        return NULL;
    }
    jn_tokenizer *tk = jn_tokenizer_load_json(b.p ? b.p : "", b.n, err);
    free(b.p);
    if (!tk)
        jn_err_prefix(err, "%s", path_or_json);
    return tk;
}

void jn_tokenizer_free(jn_tokenizer *tk)
{
    if (!tk)
        return;
    jn__tk_model_free(&tk->model);
    if (tk->has_norm)
        jn__tk_norm_free(&tk->norm);
    if (tk->has_pre)
        jn__tk_pre_free(&tk->pre);
    for (size_t i = 0; i < tk->post.nsingle; i++)
        free(tk->post.single[i].ids);
    free(tk->post.single);
    if (tk->has_dec)
        jn__tk_dec_free(&tk->dec);
    for (size_t i = 0; i < tk->nadded; i++)
        free(tk->added[i].content);
    free(tk->added);
    jn__tk_strmap_free(&tk->added_map);
    free(tk);
}

/* ---- encode ---- */

typedef struct ids_vec {
    int64_t *v;
    size_t n, cap;
} ids_vec;

static bool is_word_char(uint32_t cp)
{
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return cp == '_' || (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) ||
           (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO);
}

static uint32_t cp_before(const char *s, size_t at)
{
    size_t b = at;
    while (b > 0 && ((uint8_t)s[b - 1] & 0xC0) == 0x80)
        b--;
    if (b > 0)
        b--;
    uint32_t cp = 0;
    jn__tk_utf8_next(s + b, at - b, &cp);
    return cp;
}

/* Finds the leftmost-longest added token (normalized ones when normalized) in s[from..n); its span grows over the
 * whitespace lstrip/rstrip take. Returns the token or NULL. */
static const jn_tk_added *find_added(const jn_tokenizer *tk, bool normalized, const char *s, size_t n, size_t from,
                                     size_t *ms, size_t *me)
{
    for (size_t i = from; i < n; i++) {
        const jn_tk_added *best = NULL;
        for (size_t k = 0; k < tk->nadded; k++) {
            const jn_tk_added *a = &tk->added[k];
            if (a->normalized != normalized || a->content[0] != s[i] || a->len > n - i)
                continue;
            if (memcmp(s + i, a->content, a->len) || (best && best->len >= a->len))
                continue;
            if (a->single_word) {
                uint32_t cp;
                if (i > 0 && is_word_char(cp_before(s, i)))
                    continue;
                if (i + a->len < n && (jn__tk_utf8_next(s + i + a->len, n - i - a->len, &cp), is_word_char(cp)))
                    continue;
            }
            best = a;
        }
        if (best) {
            size_t st = i, en = i + best->len;
            while (best->lstrip && st > from) {
                size_t b = st - 1;
                while (b > from && ((uint8_t)s[b] & 0xC0) == 0x80)
                    b--;
                uint32_t cp;
                jn__tk_utf8_next(s + b, st - b, &cp);
                if (!jn__tk_is_whitespace(cp))
                    break;
                st = b;
            }
            while (best->rstrip && en < n) {
                uint32_t cp;
                size_t k = jn__tk_utf8_next(s + en, n - en, &cp);
                if (!jn__tk_is_whitespace(cp))
                    break;
                en += k;
            }
            *ms = st;
            *me = en;
            return best;
        }
    }
    return NULL;
}

typedef struct scratch {
    jn_tk_buf norm;
    jn_tk_words a, b;
} scratch;

static int push(ids_vec *v, int64_t id)
{
    size_t c = v->cap * sizeof *v->v;
    int64_t *p = jn_grow(v->v, &c, (v->n + 1) * sizeof *v->v, 64 * sizeof *v->v);
    if (!p)
        return JN_ENOMEM;
    v->v = p;
    v->cap = c / sizeof *v->v;
    v->v[v->n++] = id;
    return 0;
}

/* Pre-tokenizes and runs the model over normalized text. */
static int model_words(const jn_tokenizer *tk, const char *s, size_t n, bool first, scratch *sc, ids_vec *out)
{
    if (n == 0)
        return 0;
    jn__tk_words_clear(&sc->a);
    int rc = jn__tk_words_add(&sc->a, s, n);
    jn_tk_words *w = &sc->a;
    if (!rc && tk->has_pre) {
        rc = jn__tk_pre_apply(&tk->pre, &sc->a, &sc->b, first);
        w = &sc->b;
    }
    for (size_t i = 0; i < w->n && !rc; i++) {
        if (w->len[i] == 0)
            continue;
        rc = jn__tk_model_tokenize(&tk->model, w->text.p + w->off[i], w->len[i], &out->v, &out->n, &out->cap);
        if (rc == JN_EINVAL)
            return rc;
    }
    return rc;
}

/* Normalizes one segment between raw added tokens and tokenizes it, cutting out normalized added tokens. */
static int segment(const jn_tokenizer *tk, const char *s, size_t n, bool first, scratch *sc, ids_vec *out)
{
    const char *t = s;
    size_t tn = n;
    jn_tk_buf normed = {0};
    int rc = 0;
    if (tk->has_norm) {
        rc = jn__tk_norm_apply(&tk->norm, s, n, &normed);
        if (rc) {
            free(normed.p);
            return rc;
        }
        t = normed.p;
        tn = normed.n;
    }
    size_t pos = 0, ms, me;
    const jn_tk_added *a;
    while (!rc && (a = find_added(tk, true, t, tn, pos, &ms, &me))) {
        rc = model_words(tk, t + pos, ms - pos, first && pos == 0, sc, out);
        rc = rc ? rc : push(out, a->id);
        pos = me;
    }
    if (!rc)
        rc = model_words(tk, t + pos, tn - pos, first && pos == 0, sc, out);
    free(normed.p);
    return rc;
}

static int special_count(const jn_tokenizer *tk)
{
    int n = 0;
    if (tk->post.kind == JN_TK_POST_TEMPLATE)
        for (size_t i = 0; i < tk->post.nsingle; i++)
            if (!tk->post.single[i].is_seq)
                n += (int)tk->post.single[i].nids;
    return n;
}

int jn_tokenizer_encode(const jn_tokenizer *tk, const char *text, size_t len, const jn_tok_options *opt,
                        jn_tok_encoding *out, jn_err *err)
{
    memset(out, 0, sizeof *out);
    jn_tok_options o = opt ? *opt : jn_tok_options_default();
    size_t bad = jn__tk_utf8_check(text, len);
    if (bad != len)
        return jn_err_set(err, JN_EINVAL, "invalid UTF-8 at byte %zu", bad);
    scratch sc = {0};
    ids_vec ids = {0};
    int rc = 0;
    size_t pos = 0, ms, me;
    const jn_tk_added *a;
    while (!rc && (a = find_added(tk, false, text, len, pos, &ms, &me))) {
        rc = segment(tk, text + pos, ms - pos, pos == 0, &sc, &ids);
        rc = rc ? rc : push(&ids, a->id);
        pos = me;
    }
    if (!rc)
        rc = segment(tk, text + pos, len - pos, pos == 0, &sc, &ids);
    jn__tk_words_free(&sc.a);
    jn__tk_words_free(&sc.b);
    free(sc.norm.p);
    if (rc) {
        free(ids.v);
        if (rc == JN_EINVAL)
            return jn_err_set(err, rc, "model: a word has no token and the model has no unk_token");
        return jn_err_set(err, rc, "encode: %s", jn_strerror(rc));
    }
    /* truncation (special tokens counted) */
    size_t max = o.max_length < 0 ? tk->trunc_max : (size_t)o.max_length;
    size_t nspecial = o.add_special_tokens ? (size_t)special_count(tk) : 0;
    if (max > 0) {
        size_t room = max > nspecial ? max - nspecial : 0;
        if (ids.n > room) {
            if (tk->trunc_left)
                memmove(ids.v, ids.v + (ids.n - room), room * sizeof *ids.v);
            ids.n = room;
        }
    }
    /* post-processing */
    size_t total = ids.n + nspecial;
    size_t target = total;
    if (o.pad_to > 0 && (size_t)o.pad_to > target)
        target = (size_t)o.pad_to;
    else if (o.pad_to < 0 && tk->pad_enabled && tk->pad_fixed > target)
        target = tk->pad_fixed;
    if (o.pad_to != 0 && tk->pad_enabled && tk->pad_multiple && target % tk->pad_multiple)
        target += tk->pad_multiple - target % tk->pad_multiple;
    size_t cap = target ? target : 1;
    out->ids = malloc(cap * sizeof *out->ids);
    out->type_ids = malloc(cap * sizeof *out->type_ids);
    out->attention = malloc(cap * sizeof *out->attention);
    out->special = malloc(cap);
    if (!out->ids || !out->type_ids || !out->attention || !out->special) {
        free(ids.v);
        jn_tok_encoding_free(out);
        return jn_err_set(err, JN_ENOMEM, "encode: out of memory");
    }
    size_t k = tk->pad_left ? target - total : 0, n = 0;
    if (tk->post.kind == JN_TK_POST_TEMPLATE) {
        /* the template's type ids apply to the sequence even without its special tokens */
        for (size_t i = 0; i < tk->post.nsingle; i++) {
            const jn_tk_tpl_item *it = &tk->post.single[i];
            if (it->is_seq) {
                for (size_t j = 0; j < ids.n; j++, n++) {
                    out->ids[k + n] = ids.v[j];
                    out->type_ids[k + n] = it->type_id;
                    out->special[k + n] = 0;
                }
            } else if (o.add_special_tokens) {
                for (size_t j = 0; j < it->nids; j++, n++) {
                    out->ids[k + n] = it->ids[j];
                    out->type_ids[k + n] = it->type_id;
                    out->special[k + n] = 1;
                }
            }
        }
    } else {
        for (size_t j = 0; j < ids.n; j++, n++) {
            out->ids[k + n] = ids.v[j];
            out->type_ids[k + n] = 0;
            out->special[k + n] = 0;
        }
    }
    free(ids.v);
    for (size_t i = 0; i < target; i++) {
        bool tok = i >= k && i < k + n;
        out->attention[i] = tok;
        if (!tok) {
            out->ids[i] = tk->pad_id;
            out->type_ids[i] = tk->pad_type_id;
            out->special[i] = 1;
        }
    }
    out->n = target;
    return 0;
}

void jn_tok_encoding_free(jn_tok_encoding *e)
{
    free(e->ids);
    free(e->type_ids);
    free(e->attention);
    free(e->special);
    memset(e, 0, sizeof *e);
}

int jn_tokenizer_encode_batch(const jn_tokenizer *tk, const char *const *texts, const size_t *lens, size_t n,
                              const jn_tok_options *opt, jn_tok_batch *out, jn_err *err)
{
    memset(out, 0, sizeof *out);
    jn_tok_options o = opt ? *opt : jn_tok_options_default();
    jn_tok_encoding *enc = calloc(n ? n : 1, sizeof *enc);
    if (!enc)
        return jn_err_set(err, JN_ENOMEM, "encode: out of memory");
    size_t cols = 0;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        jn_tok_options oi = o;
        if (oi.pad_to < 0)
            oi.pad_to = (tk->pad_enabled && tk->pad_fixed) ? (long)tk->pad_fixed : 0;
        rc = jn_tokenizer_encode(tk, texts[i], lens ? lens[i] : strlen(texts[i]), &oi, &enc[i], err);
        if (rc)
            jn_err_prefix(err, "text[%zu]", i);
        else if (enc[i].n > cols)
            cols = enc[i].n;
    }
    if (!rc && o.pad_to > 0 && (size_t)o.pad_to > cols)
        cols = (size_t)o.pad_to;
    if (!rc && tk->pad_multiple && cols % tk->pad_multiple)
        cols += tk->pad_multiple - cols % tk->pad_multiple;
    if (!rc) {
        size_t cells = n * cols > 0 ? n * cols : 1;
        out->ids = malloc(cells * sizeof *out->ids);
        out->type_ids = malloc(cells * sizeof *out->type_ids);
        out->attention = malloc(cells * sizeof *out->attention);
        if (!out->ids || !out->type_ids || !out->attention)
            rc = jn_err_set(err, JN_ENOMEM, "encode: out of memory");
    }
    for (size_t r = 0; r < n && !rc; r++) {
        size_t pad = cols - enc[r].n, at = tk->pad_left ? pad : 0;
        int64_t *ids = out->ids + r * cols, *ty = out->type_ids + r * cols, *am = out->attention + r * cols;
        for (size_t c = 0; c < cols; c++) {
            ids[c] = tk->pad_id;
            ty[c] = tk->pad_type_id;
            am[c] = 0;
        }
        memcpy(ids + at, enc[r].ids, enc[r].n * sizeof *ids);
        memcpy(ty + at, enc[r].type_ids, enc[r].n * sizeof *ty);
        memcpy(am + at, enc[r].attention, enc[r].n * sizeof *am);
    }
    for (size_t i = 0; i < n; i++)
        jn_tok_encoding_free(&enc[i]);
    free(enc);
    if (rc) {
        jn_tok_batch_free(out);
        return rc;
    }
    out->rows = n;
    out->cols = cols;
    return 0;
}

void jn_tok_batch_free(jn_tok_batch *b)
{
    free(b->ids);
    free(b->type_ids);
    free(b->attention);
    memset(b, 0, sizeof *b);
}

/* ---- decode and lookups ---- */

static const jn_tk_added *added_by_id(const jn_tokenizer *tk, int64_t id)
{
    for (size_t i = tk->nadded; i-- > 0;)
        if (tk->added[i].id == id)
            return &tk->added[i];
    return NULL;
}

const char *jn_tokenizer_id_to_token(const jn_tokenizer *tk, int64_t id)
{
    const jn_tk_added *a = added_by_id(tk, id);
    if (a)
        return a->content;
    if (id < 0 || (size_t)id >= tk->model.n_ids)
        return NULL;
    return tk->model.id_to_tok[id];
}

int64_t jn_tokenizer_token_to_id(const jn_tokenizer *tk, const char *token)
{
    size_t n = strlen(token);
    int64_t id = jn__tk_strmap_get(&tk->added_map, token, n);
    return id >= 0 ? id : jn__tk_strmap_get(&tk->model.vocab, token, n);
}

bool jn_tokenizer_is_special(const jn_tokenizer *tk, int64_t id)
{
    const jn_tk_added *a = added_by_id(tk, id);
    return a && a->special;
}

int jn_tokenizer_decode(const jn_tokenizer *tk, const int64_t *ids, size_t n, bool skip_special, char **out,
                        size_t *out_len, jn_err *err)
{
    *out = NULL;
    jn_tk_words toks = {0};
    jn_tk_buf b = {0};
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const jn_tk_added *a = added_by_id(tk, ids[i]);
        if (a && a->special && skip_special)
            continue;
        const char *t = a ? a->content : jn_tokenizer_id_to_token(tk, ids[i]);
        if (t)
            rc = jn__tk_words_add(&toks, t, strlen(t));
    }
    if (!rc) {
        if (tk->has_dec) {
            rc = jn__tk_dec_apply(&tk->dec, &toks, &b);
        } else {
            for (size_t i = 0; i < toks.n && !rc; i++) {
                if (i)
                    rc = jn__tk_buf_put(&b, " ", 1);
                rc = rc ? rc : jn__tk_buf_put(&b, toks.text.p + toks.off[i], toks.len[i]);
            }
        }
    }
    if (!rc && !b.p)
        rc = jn__tk_buf_put(&b, "", 0) ? JN_ENOMEM : 0;
    jn__tk_words_free(&toks);
    if (rc) {
        free(b.p);
        return jn_err_set(err, rc, "decode: %s", jn_strerror(rc));
    }
    *out = b.p;
    if (out_len)
        *out_len = b.n;
    return 0;
}

size_t jn_tokenizer_vocab_size(const jn_tokenizer *tk)
{
    return tk->vocab_size;
}

bool jn_tokenizer_has_type_ids(const jn_tokenizer *tk)
{
    return tk->post.type_ids;
}

size_t jn_tokenizer_max_length(const jn_tokenizer *tk)
{
    return tk->trunc_max;
}

static int64_t first_of(const jn_tokenizer *tk, const char *const *names)
{
    for (; *names; names++) {
        int64_t id = jn_tokenizer_token_to_id(tk, *names);
        if (id >= 0)
            return id;
    }
    return -1;
}

jn_tok_special_ids jn_tokenizer_special_ids(const jn_tokenizer *tk)
{
    static const char *const bos[] = {"<s>", "<|begin_of_text|>", "<bos>", "[CLS]", "<|endoftext|>", NULL};
    static const char *const eos[] = {"</s>", "<|end_of_text|>", "<|endoftext|>", "<eos>", "[SEP]", NULL};
    static const char *const pad[] = {"[PAD]", "<pad>", "<|pad|>", NULL};
    static const char *const unk[] = {"[UNK]", "<unk>", "<|unk|>", NULL};
    static const char *const cls[] = {"[CLS]", "<s>", NULL};
    static const char *const sep[] = {"[SEP]", "</s>", NULL};
    static const char *const mask[] = {"[MASK]", "<mask>", NULL};
    jn_tok_special_ids s = {first_of(tk, bos), first_of(tk, eos), first_of(tk, pad), first_of(tk, unk),
                            first_of(tk, cls), first_of(tk, sep), first_of(tk, mask)};
    if (tk->pad_enabled)
        s.pad = tk->pad_id;
    if (tk->model.unk_id >= 0)
        s.unk = tk->model.unk_id;
    return s;
}
