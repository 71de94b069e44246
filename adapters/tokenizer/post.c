/* post.c — the parts of tokenizer.json read once at load around the pipeline's stages: the post-processor
 * (TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence), the added tokens, "truncation" and
 * "padding". Applying them is tokenizer.c's encode. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- post-processor ---- */

static int tpl_special(jn_tk_tpl_item *it, json_t *special_tokens, const char *name, int64_t type_id,
                       const char *path, jn_err *err)
{
    json_t *st = json_object_get(special_tokens, name);
    json_t *ids = st ? json_object_get(st, "ids") : NULL;
    if (!json_is_array(ids))
        return jn_err_set(err, JN_EINVAL, "%s.special_tokens.%s: missing (the template names it)", path, name);
    it->nids = json_array_size(ids);
    it->ids = calloc(it->nids + 1, sizeof *it->ids);
    if (!it->ids)
        return jn_err_set(err, JN_ENOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < it->nids; i++) {
        json_t *v = json_array_get(ids, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return jn_err_set(err, JN_EINVAL, "%s.special_tokens.%s.ids[%zu]: expected a non-negative integer", path,
                              name, i);
        it->ids[i] = json_integer_value(v);
    }
    it->type_id = type_id;
    return 0;
}

static int tpl_items(json_t *a, json_t *special_tokens, const char *path, const char *key, jn_tk_tpl_item **out,
                     size_t *nout, bool *nonzero_type, jn_err *err)
{
    if (!json_is_array(a))
        return jn_err_set(err, JN_EINVAL, "%s.%s: expected an array of pieces", path, key);
    size_t n = json_array_size(a);
    jn_tk_tpl_item *items = calloc(n + 1, sizeof *items);
    if (!items)
        return jn_err_set(err, JN_ENOMEM, "%s: out of memory", path);
    *out = items;
    *nout = n;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(a, i);
        json_t *sq = json_object_get(e, "Sequence"), *sp = json_object_get(e, "SpecialToken");
        json_t *o = sq ? sq : sp;
        json_t *tid = o ? json_object_get(o, "type_id") : NULL;
        json_t *id = o ? json_object_get(o, "id") : NULL;
        if (!o || !json_is_string(id) || (tid && !json_is_integer(tid)))
            return jn_err_set(err, JN_EINVAL, "%s.%s[%zu]: expected {\"Sequence\": {id, type_id}} or "
                              "{\"SpecialToken\": {id, type_id}}", path, key, i);
        int64_t type_id = tid ? json_integer_value(tid) : 0;
        if (type_id != 0)
            *nonzero_type = true;
        if (sq) {
            items[i].is_seq = true;
            items[i].seq = !strcmp(json_string_value(id), "B") ? 1 : 0;
            items[i].type_id = type_id;
        } else if (tpl_special(&items[i], special_tokens, json_string_value(id), type_id, path, err)) {
            return err->code;
        }
    }
    return 0;
}

/* [token, id] as BertProcessing/RobertaProcessing write them. */
static int pair_id(json_t *o, const char *key, const char *path, int64_t *id, jn_err *err)
{
    json_t *a = json_object_get(o, key);
    if (!json_is_array(a) || json_array_size(a) != 2 || !json_is_integer(json_array_get(a, 1)))
        return jn_err_set(err, JN_EINVAL, "%s.%s: expected [token, id]", path, key);
    *id = json_integer_value(json_array_get(a, 1));
    return 0;
}

static int simple_tpl(jn_tk_post *p, int64_t cls, int64_t sep, bool bert, const char *path, jn_err *err)
{
    p->kind = JN_TK_POST_TEMPLATE;
    p->single = calloc(3, sizeof *p->single);
    if (!p->single)
        return jn_err_set(err, JN_ENOMEM, "%s: out of memory", path);
    p->nsingle = 3;
    int64_t ids[2] = {cls, sep};
    for (int i = 0; i < 2; i++) {
        jn_tk_tpl_item *it = &p->single[i == 0 ? 0 : 2];
        it->ids = malloc(sizeof *it->ids);
        if (!it->ids)
            return jn_err_set(err, JN_ENOMEM, "%s: out of memory", path);
        it->ids[0] = ids[i];
        it->nids = 1;
    }
    p->single[1].is_seq = true;
    p->type_ids = bert;
    return 0;
}

int jn__tk_post_parse(jn_tk_post *p, json_t *j, const char *path, jn_err *err)
{
    const char *t = jn__tk_type(j, path, err);
    if (!t)
        return err->code;
    if (!strcmp(t, "TemplateProcessing")) {
        json_t *st = json_object_get(j, "special_tokens");
        if (st && !json_is_object(st))
            return jn_err_set(err, JN_EINVAL, "%s.special_tokens: expected an object", path);
        p->kind = JN_TK_POST_TEMPLATE;
        bool nz = false;
        if (tpl_items(json_object_get(j, "single"), st, path, "single", &p->single, &p->nsingle, &nz, err))
            return err->code;
        size_t seqs = 0;
        for (size_t i = 0; i < p->nsingle; i++)
            if (p->single[i].is_seq && (p->single[i].seq != 0 || ++seqs > 1))
                return jn_err_set(err, JN_EINVAL, "%s.single[%zu]: the single-sequence template takes $A once "
                                  "(no $B, no repeat)", path, i);
        if (seqs == 0)
            return jn_err_set(err, JN_EINVAL, "%s.single: the template has no $A", path);
        json_t *pair = json_object_get(j, "pair");
        if (json_is_array(pair)) {
            jn_tk_tpl_item *pi = NULL;
            size_t np = 0;
            int rc = tpl_items(pair, st, path, "pair", &pi, &np, &nz, err);
            for (size_t i = 0; i < np; i++)
                free(pi[i].ids);
            free(pi);
            if (rc)
                return rc;
        }
        p->type_ids = nz;
        return 0;
    }
    if (!strcmp(t, "BertProcessing") || !strcmp(t, "RobertaProcessing")) {
        int64_t cls, sep;
        if (pair_id(j, "cls", path, &cls, err) || pair_id(j, "sep", path, &sep, err))
            return err->code;
        return simple_tpl(p, cls, sep, t[0] == 'B', path, err);
    }
    if (!strcmp(t, "ByteLevel")) { /* offsets only: ids unchanged */
        if (p->kind == JN_TK_POST_NONE)
            p->kind = JN_TK_POST_BYTELEVEL;
        return 0;
    }
    if (!strcmp(t, "Sequence")) {
        json_t *a = json_object_get(j, "processors");
        if (!json_is_array(a))
            return jn_err_set(err, JN_EINVAL, "%s.processors: expected an array", path);
        for (size_t i = 0; i < json_array_size(a); i++) {
            char sp[256];
            snprintf(sp, sizeof sp, "%s.processors[%zu]", path, i);
            if (p->kind == JN_TK_POST_TEMPLATE) {
                const char *tt = jn__tk_type(json_array_get(a, i), sp, err);
                if (!tt)
                    return err->code;
                if (strcmp(tt, "ByteLevel"))
                    return jn_err_set(err, JN_EINVAL, "%s: only one template processor per sequence is supported",
                                      sp);
            }
            if (jn__tk_post_parse(p, json_array_get(a, i), sp, err))
                return err->code;
        }
        return 0;
    }
    return jn_err_set(err, JN_EINVAL, "%s.type: unknown post-processor type '%s'", path, t);
}

/* ---- added tokens, truncation, padding ---- */

int jn__tk_added_parse(jn_tokenizer *tk, json_t *a, jn_err *err)
{
    if (!a || json_is_null(a))
        return 0;
    if (!json_is_array(a))
        return jn_err_set(err, JN_EINVAL, "added_tokens: expected an array");
    tk->added = calloc(json_array_size(a) + 1, sizeof *tk->added);
    if (!tk->added)
        return jn_err_set(err, JN_ENOMEM, "added_tokens: out of memory");
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *e = json_array_get(a, i);
        char p[64];
        snprintf(p, sizeof p, "added_tokens[%zu]", i);
        jn_tk_added *ad = &tk->added[i];
        tk->nadded = i + 1;
        json_t *id = json_object_get(e, "id");
        if (jn__tk_json_obj(e, p, err))
            return err->code;
        if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) > INT32_MAX)
            return jn_err_set(err, JN_EINVAL, "%s.id: expected a non-negative integer", p);
        ad->id = json_integer_value(id);
        if (jn__tk_get_str(e, "content", NULL, &ad->content, p, err) ||
            jn__tk_get_bool(e, "special", false, &ad->special, p, err) ||
            jn__tk_get_bool(e, "single_word", false, &ad->single_word, p, err) ||
            jn__tk_get_bool(e, "lstrip", false, &ad->lstrip, p, err) ||
            jn__tk_get_bool(e, "rstrip", false, &ad->rstrip, p, err) ||
            jn__tk_get_bool(e, "normalized", !ad->special, &ad->normalized, p, err))
            return err->code;
        if (!ad->content || !ad->content[0])
            return jn_err_set(err, JN_EINVAL, "%s.content: expected a non-empty string", p);
        ad->len = strlen(ad->content);
        if (jn__tk_strmap_put(&tk->added_map, ad->content, ad->len, ad->id))
            return jn_err_set(err, JN_ENOMEM, "%s: out of memory", p);
        if ((size_t)ad->id + 1 > tk->vocab_size)
            tk->vocab_size = (size_t)ad->id + 1;
    }
    return 0;
}

int jn__tk_trunc_parse(jn_tokenizer *tk, json_t *t, jn_err *err)
{
    if (!t || json_is_null(t))
        return 0;
    if (jn__tk_json_obj(t, "truncation", err) ||
        jn__tk_get_uint(t, "max_length", 0, &tk->trunc_max, "truncation", err))
        return err->code;
    json_t *d = json_object_get(t, "direction");
    tk->trunc_left = json_is_string(d) && !strcmp(json_string_value(d), "Left");
    json_t *s = json_object_get(t, "strategy");
    if (s && !(json_is_string(s) && (!strcmp(json_string_value(s), "LongestFirst") ||
                                     !strcmp(json_string_value(s), "OnlyFirst") ||
                                     !strcmp(json_string_value(s), "OnlySecond"))))
        return jn_err_set(err, JN_EINVAL, "truncation.strategy: expected LongestFirst, OnlyFirst or OnlySecond");
    return 0;
}

int jn__tk_pad_parse(jn_tokenizer *tk, json_t *p, jn_err *err)
{
    tk->pad_id = 0;
    if (!p || json_is_null(p))
        return 0;
    if (jn__tk_json_obj(p, "padding", err))
        return err->code;
    tk->pad_enabled = true;
    json_t *s = json_object_get(p, "strategy");
    if (json_is_object(s)) {
        json_t *f = json_object_get(s, "Fixed");
        if (!json_is_integer(f) || json_integer_value(f) < 0)
            return jn_err_set(err, JN_EINVAL, "padding.strategy.Fixed: expected a non-negative integer");
        tk->pad_fixed = (size_t)json_integer_value(f);
    } else if (s && !(json_is_string(s) && !strcmp(json_string_value(s), "BatchLongest"))) {
        return jn_err_set(err, JN_EINVAL, "padding.strategy: expected \"BatchLongest\" or {\"Fixed\": n}");
    }
    json_t *d = json_object_get(p, "direction");
    tk->pad_left = json_is_string(d) && !strcmp(json_string_value(d), "Left");
    size_t v;
    if (jn__tk_get_uint(p, "pad_id", 0, &v, "padding", err))
        return err->code;
    tk->pad_id = (int64_t)v;
    if (jn__tk_get_uint(p, "pad_type_id", 0, &v, "padding", err))
        return err->code;
    tk->pad_type_id = (int64_t)v;
    json_t *m = json_object_get(p, "pad_to_multiple_of");
    if (json_is_integer(m) && json_integer_value(m) > 0)
        tk->pad_multiple = (size_t)json_integer_value(m);
    return 0;
}
