/* causallm.c — the generate engine over an ONNX causal LM (see causallm.h): prompt or chat messages -> tokens ->
 * KV-cached decode steps -> sampled tokens -> text, streamed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <jansson.h>

#include "causallm.h"
#include "chat_template.h"
#include "generate.h"
#include "onnx_causallm.h"
#include "sampler.h"
#include "tokenizer/tokenizer.h"

#define DEFAULT_MAX_TOKENS 256
#define MAX_EOS 8

typedef struct clm {
    jn_onnx_lm *lm;
    jn_tokenizer *tk;
    int64_t context;          /* 0 = not known */
    const char *context_key;  /* the config.json field it came from */
    int64_t eos[MAX_EOS];
    size_t n_eos;
    jn_chat_template *chat;   /* NULL: the engine takes a prompt */
} clm;

static void clm_free(clm *c)
{
    if (!c)
        return;
    jn_onnx_lm_free(c->lm);
    jn_tokenizer_free(c->tk);
    jn_chat_template_free(c->chat);
    free(c);
}

/* ---- one generation ---------------------------------------------------------------------------------------- */

/* How many bytes at the end of s[0..n) are an incomplete UTF-8 sequence or a U+FFFD a lossy decoder made of one
 * (both may still change when the next token's bytes arrive). */
static size_t unstable_tail(const char *s, size_t n)
{
    if (n >= 3 && (unsigned char)s[n - 3] == 0xEF && (unsigned char)s[n - 2] == 0xBF &&
        (unsigned char)s[n - 1] == 0xBD)
        return 3;
    for (size_t back = 1; back <= 4 && back <= n; back++) {
        unsigned char c = (unsigned char)s[n - back];
        if ((c & 0xC0) == 0x80)
            continue; /* a continuation byte: look further back for its lead */
        size_t need = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
        return need > back ? back : 0;
    }
    return 0;
}

/* The longest suffix of s[0..n) that is a proper prefix of some stop sequence. */
static size_t stop_prefix_tail(const char *s, size_t n, const jn_generate_sampling *sp)
{
    size_t best = 0;
    for (size_t k = 0; k < sp->n_stop; k++) {
        size_t sl = strlen(sp->stop[k]);
        for (size_t l = sl > 1 ? sl - 1 : 0; l > best; l--)
            if (l <= n && memcmp(s + n - l, sp->stop[k], l) == 0) {
                best = l;
                break;
            }
    }
    return best;
}

/* The earliest stop sequence in s[from..n) (matches may start from `from`), as its offset, or -1. */
static long find_stop(const char *s, size_t n, size_t from, const jn_generate_sampling *sp)
{
    long best = -1;
    for (size_t k = 0; k < sp->n_stop; k++) {
        size_t sl = strlen(sp->stop[k]);
        if (!sl)
            continue;
        for (size_t i = from; i + sl <= n; i++)
            if (memcmp(s + i, sp->stop[k], sl) == 0) {
                if (best < 0 || (long)i < best)
                    best = (long)i;
                break;
            }
    }
    return best;
}

typedef struct gen_out {
    jn_emit_fn emit; /* NULL: unary */
    void *emit_arg;
    size_t n_choices, choice;
} gen_out;

/* Sends text[0..len) as choice `choice`'s delta. */
static int emit_delta(const gen_out *o, const char *text, size_t len, jn_err *err)
{
    if (!o->emit || !len)
        return 0;
    const char *texts[JN_GENERATE_MAX_N];
    size_t lens[JN_GENERATE_MAX_N];
    for (size_t i = 0; i < o->n_choices; i++) {
        texts[i] = i == o->choice ? text : "";
        lens[i] = i == o->choice ? len : 0;
    }
    jn_tensor_list partial;
    jn_tensor_list_init(&partial);
    int rc = jn_generate_push_text(&partial, texts, lens, o->n_choices, err);
    if (!rc)
        rc = o->emit(o->emit_arg, &partial, err);
    jn_tensor_list_clear(&partial);
    return rc;
}

typedef struct choice_result {
    char *text;
    size_t len;
    const char *finish;
    int64_t tokens;
} choice_result;

static bool is_eos(const clm *c, int64_t t)
{
    for (size_t i = 0; i < c->n_eos; i++)
        if (c->eos[i] == t)
            return true;
    return false;
}

/* One choice: the prompt's step, then a token per step until EOS, a stop sequence, max_tokens or the context. */
static int generate_one(clm *c, const jn_infer_ctx *ctx, const int64_t *prompt, size_t n_prompt,
                        const jn_sampler_opts *so, const jn_generate_sampling *sp, int64_t limit, const gen_out *o,
                        choice_result *res, jn_err *err)
{
    jn_onnx_lm_cache cache;
    if (jn_onnx_lm_cache_init(c->lm, &cache, err))
        return err->code;
    jn_sampler smp;
    memset(&smp, 0, sizeof smp);
    int64_t *gen = malloc(((size_t)limit + 1) * sizeof *gen);
    char *text = NULL;
    size_t text_len = 0, sent = 0;
    int rc = 0;
    const float *logits;
    size_t vocab;
    if (!gen) {
        rc = jn_err_set(err, JN_ENOMEM, "out of memory");
        goto done;
    }
    rc = jn_onnx_lm_step(c->lm, &cache, prompt, n_prompt, ctx, &logits, &vocab, err);
    if (rc)
        goto done;
    if (jn_sampler_init(&smp, so, vocab)) {
        rc = jn_err_set(err, JN_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n_prompt; i++)
        jn_sampler_seen(&smp, prompt[i], false);
    res->finish = "length";
    int64_t n_gen = 0;
    bool stop_hit = false;
    for (;;) {
        int64_t tok = jn_sampler_next(&smp, logits);
        res->tokens++;
        if (is_eos(c, tok)) {
            res->finish = "stop";
            break;
        }
        gen[n_gen++] = tok;
        /* The text so far (the whole generated sequence decoded: tokenizers whose decoders look at neighbours,
         * Metaspace's leading space, stay right), and how much of it is settled. */
        free(text);
        text = NULL;
        if ((rc = jn_tokenizer_decode(c->tk, gen, (size_t)n_gen, true, &text, &text_len, err)))
            goto done;
        size_t stable = text_len - unstable_tail(text, text_len);
        if (stable < sent)
            stable = sent; /* never take back what was sent */
        if (sp->n_stop) {
            size_t longest = 0;
            for (size_t k = 0; k < sp->n_stop; k++)
                if (strlen(sp->stop[k]) > longest)
                    longest = strlen(sp->stop[k]);
            size_t from = sent > longest ? sent - longest : 0;
            long at = find_stop(text, stable, from, sp);
            if (at >= 0 && (size_t)at >= sent) {
                text_len = (size_t)at;
                res->finish = "stop";
                stop_hit = true;
                break;
            }
            stable -= stop_prefix_tail(text, stable, sp);
            if (stable < sent)
                stable = sent;
        }
        if ((rc = emit_delta(o, text + sent, stable - sent, err)))
            goto done;
        sent = stable;
        if (n_gen >= limit)
            break;
        if ((rc = jn_infer_ctx_check(ctx, err)))
            goto done;
        if ((rc = jn_onnx_lm_step(c->lm, &cache, &tok, 1, ctx, &logits, &vocab, err)))
            goto done;
    }
    /* The rest: at the end nothing more can complete a UTF-8 sequence, and a stop sequence held back (or one
     * ending in what was an unsettled tail) is looked for in the whole text. */
    if (text && sp->n_stop && !stop_hit) {
        long at = find_stop(text, text_len, 0, sp);
        if (at >= 0 && (size_t)at >= sent) {
            text_len = (size_t)at;
            res->finish = "stop";
        }
    }
    if (!text) {
        text = strdup("");
        text_len = 0;
        if (!text) {
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
            goto done;
        }
    }
    if (text_len > sent && (rc = emit_delta(o, text + sent, text_len - sent, err)))
        goto done;
    text[text_len] = '\0';
    res->text = text;
    res->len = text_len;
    text = NULL;
done:
    free(text);
    free(gen);
    jn_sampler_free(&smp);
    jn_onnx_lm_cache_clear(&cache);
    return rc;
}

/* ---- request parameters beyond the generate signature's ----------------------------------------------------- */

static int extra_number(const jn_params *p, const char *key, double lo, double hi, bool lo_open, double *out,
                        jn_err *err)
{
    const jn_param *x = p ? jn_params_find(p, key) : NULL;
    if (!x)
        return 0;
    double v;
    char *end = NULL;
    if (x->type == JN_PARAM_INT)
        v = (double)x->v.i;
    else if (x->type == JN_PARAM_DOUBLE)
        v = x->v.d;
    else if (x->type == JN_PARAM_STRING && (v = strtod(x->v.s, &end), end != x->v.s && *end == '\0'))
        ;
    else
        return jn_err_set(err, JN_EINVAL, "parameter '%s' must be a number", key);
    if (!isfinite(v) || v > hi || v < lo || (lo_open && v == lo))
        return jn_err_set(err, JN_EINVAL, "parameter '%s': %g is not in %s%g, %g]", key, v, lo_open ? "(" : "[", lo,
                          hi);
    *out = v;
    return 0;
}

/* ---- the engine -------------------------------------------------------------------------------------------- */

static uint64_t fresh_seed(void)
{
    uint64_t s;
    if (getrandom(&s, sizeof s, 0) == (ssize_t)sizeof s)
        return s;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32);
}

static int run(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs, jn_tensor_list *outputs,
               jn_emit_fn emit, void *emit_arg, jn_err *err)
{
    clm *c = self->ctx;
    jn_generate_input in = c->chat ? JN_GENERATE_IN_MESSAGES : JN_GENERATE_IN_PROMPT;
    const char *text;
    size_t len;
    int rc = jn_generate_input_text(inputs, in, &text, &len, err);
    if (rc)
        return rc;
    jn_generate_sampling sp;
    if ((rc = jn_generate_sampling_read(ctx ? ctx->params : NULL, &sp, err)))
        return rc;
    const jn_params *params = ctx ? ctx->params : NULL;
    double top_k = 0, rep = 1;
    if ((rc = extra_number(params, "top_k", 0, 1e9, false, &top_k, err)) ||
        (rc = extra_number(params, "repetition_penalty", 0, 10, true, &rep, err))) {
        jn_generate_sampling_clear(&sp);
        return rc;
    }
    if (top_k != floor(top_k)) {
        jn_generate_sampling_clear(&sp);
        return jn_err_set(err, JN_EINVAL, "parameter 'top_k' must be an integer >= 0, got %g", top_k);
    }
    char *rendered = NULL;
    if (c->chat) {
        size_t rlen;
        if ((rc = jn_chat_template_render(c->chat, text, len, &rendered, &rlen, err))) {
            jn_generate_sampling_clear(&sp);
            return rc;
        }
        text = rendered;
        len = rlen;
    }
    jn_tok_encoding enc;
    memset(&enc, 0, sizeof enc);
    jn_tok_options topt = jn_tok_options_default();
    topt.max_length = 0; /* never truncate silently: a prompt too long for the context is refused below */
    topt.pad_to = 0;
    rc = jn_tokenizer_encode(c->tk, text, len, &topt, &enc, err);
    free(rendered);
    if (rc) {
        jn_err_prefix(err, "%s", in == JN_GENERATE_IN_PROMPT ? "prompt" : "messages");
        jn_generate_sampling_clear(&sp);
        return rc;
    }
    choice_result res[JN_GENERATE_MAX_N];
    memset(res, 0, sizeof res);
    size_t n_choices = (size_t)sp.n;
    if (enc.n == 0) {
        rc = jn_err_set(err, JN_EINVAL, "%s: the text gives no tokens (it is empty)",
                        in == JN_GENERATE_IN_PROMPT ? "prompt" : "messages");
        goto done;
    }
    if (c->context && (int64_t)enc.n >= c->context) {
        rc = jn_err_set(err, JN_EINVAL, "%s: %zu tokens do not fit the model's context of %lld tokens (config.json "
                                        "%s), which must also hold at least one generated token",
                        in == JN_GENERATE_IN_PROMPT ? "prompt" : "messages", enc.n, (long long)c->context,
                        c->context_key);
        goto done;
    }
    int64_t limit = sp.has_max_tokens ? sp.max_tokens : c->context ? c->context - (int64_t)enc.n : DEFAULT_MAX_TOKENS;
    if (c->context && limit > c->context - (int64_t)enc.n)
        limit = c->context - (int64_t)enc.n;
    jn_sampler_opts so = {
        .temperature = sp.has_temperature ? sp.temperature : 1.0,
        .top_k = (int64_t)top_k,
        .top_p = sp.has_top_p ? sp.top_p : 1.0,
        .repetition_penalty = rep,
        .presence_penalty = sp.has_presence_penalty ? sp.presence_penalty : 0,
        .frequency_penalty = sp.has_frequency_penalty ? sp.frequency_penalty : 0,
    };
    uint64_t base_seed = sp.has_seed ? (uint64_t)sp.seed : fresh_seed();
    int64_t completion = 0;
    for (size_t k = 0; k < n_choices && !rc; k++) {
        so.seed = base_seed + 0x9e3779b97f4a7c15ULL * k; /* choice k's own stream; choice 0 is the seed's */
        gen_out o = {emit, emit_arg, n_choices, k};
        rc = generate_one(c, ctx, enc.ids, enc.n, &so, &sp, limit, &o, &res[k], err);
        completion += res[k].tokens;
    }
    if (rc)
        goto done;
    const char *finish[JN_GENERATE_MAX_N];
    const char *texts[JN_GENERATE_MAX_N];
    size_t lens[JN_GENERATE_MAX_N];
    for (size_t k = 0; k < n_choices; k++) {
        finish[k] = res[k].finish;
        texts[k] = emit ? "" : res[k].text;
        lens[k] = emit ? 0 : res[k].len;
    }
    jn_tensor_list last;
    jn_tensor_list_init(&last);
    jn_tensor_list *dst = emit ? &last : outputs;
    rc = jn_generate_push_text(dst, texts, lens, n_choices, err);
    if (!rc)
        rc = jn_generate_push_final(dst, finish, n_choices, (int64_t)enc.n, completion, err);
    if (!rc && emit)
        rc = emit(emit_arg, &last, err);
    jn_tensor_list_clear(&last);
done:
    for (size_t k = 0; k < n_choices; k++)
        free(res[k].text);
    jn_tok_encoding_free(&enc);
    jn_generate_sampling_clear(&sp);
    if (rc && rc != JN_EDEADLINE && rc != JN_ECANCELLED)
        jn_err_prefix(err, "model '%s'", self->name);
    return rc;
}

static int clm_infer(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs, jn_tensor_list *outputs,
                     jn_err *err)
{
    return run(self, ctx, inputs, outputs, NULL, NULL, err);
}

static int clm_stream(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs, jn_emit_fn emit,
                      void *emit_arg, jn_err *err)
{
    return run(self, ctx, inputs, NULL, emit, emit_arg, err);
}

static void clm_destroy(jn_engine *self)
{
    clm_free(self->ctx);
}

static const jn_engine_vtable clm_vtable = {
    .abi_version = JN_ENGINE_ABI_VERSION,
    .platform = JN_CAUSALLM_PLATFORM,
    .infer = clm_infer,
    .infer_stream = clm_stream,
    .destroy = clm_destroy,
};

/* ---- loading ----------------------------------------------------------------------------------------------- */

static int read_config(clm *c, const char *path, const char **version, json_t **keep, jn_err *err)
{
    json_error_t jerr;
    json_t *cfg = json_load_file(path, 0, &jerr);
    if (!cfg)
        return jn_err_set(err, JN_EINVAL, "%s: line %d: %s", path, jerr.line, jerr.text);
    *keep = cfg;
    if (!json_is_object(cfg))
        return jn_err_set(err, JN_EINVAL, "%s: not a JSON object", path);
    static const char *ctx_keys[] = {"n_positions", "max_position_embeddings", "n_ctx"};
    for (size_t k = 0; k < sizeof ctx_keys / sizeof *ctx_keys && !c->context; k++) {
        json_t *v = json_object_get(cfg, ctx_keys[k]);
        if (!v)
            continue;
        if (!json_is_integer(v) || json_integer_value(v) < 2)
            return jn_err_set(err, JN_EINVAL, "%s: %s must be an integer >= 2", path, ctx_keys[k]);
        c->context = json_integer_value(v);
        c->context_key = ctx_keys[k];
    }
    json_t *eos = json_object_get(cfg, "eos_token_id");
    if (json_is_integer(eos)) {
        c->eos[c->n_eos++] = json_integer_value(eos);
    } else if (json_is_array(eos)) {
        size_t i;
        json_t *e;
        json_array_foreach(eos, i, e) {
            if (!json_is_integer(e) || c->n_eos == MAX_EOS)
                return jn_err_set(err, JN_EINVAL, "%s: eos_token_id[%zu]: an integer id (at most %d)", path, i,
                                  MAX_EOS);
            c->eos[c->n_eos++] = json_integer_value(e);
        }
    } else if (eos && !json_is_null(eos)) {
        return jn_err_set(err, JN_EINVAL, "%s: eos_token_id must be an id or a list of ids", path);
    }
    json_t *ct = json_object_get(cfg, "chat_template");
    if (ct && !json_is_null(ct) && !(c->chat = jn_chat_template_parse(ct, path, err)))
        return err->code;
    json_t *v = json_object_get(cfg, "version");
    if (v && !json_is_string(v))
        return jn_err_set(err, JN_EINVAL, "%s: version must be a string", path);
    *version = json_string_value(v);
    return 0;
}

jn_engine *jn_causallm_create(struct ox_model *model, const char *dir, const char *name, const char *version,
                              jn_err *err)
{
    clm *c = calloc(1, sizeof *c);
    json_t *cfg = NULL;
    jn_engine *e = NULL;
    if (!c) {
        jn_onnx_free(model);
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    const char *cfg_version = NULL;
    FILE *f = fopen(path, "r");
    if (f) {
        fclose(f);
        if (read_config(c, path, &cfg_version, &cfg, err)) {
            jn_onnx_free(model);
            goto fail;
        }
    }
    c->lm = jn_onnx_lm_open(model, c->context, err);
    if (!c->lm) {
        jn_err_prefix(err, "%s/model.onnx", dir);
        goto fail;
    }
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    c->tk = jn_tokenizer_load(path, err);
    if (!c->tk) {
        jn_err_prefix(err, "%s", path);
        goto fail;
    }
    if (!c->n_eos) { /* no config: the tokenizer's end-of-text token, when it has a usual one */
        static const char *names[] = {"<|endoftext|>", "</s>", "<|end_of_text|>", "<eos>"};
        for (size_t k = 0; k < sizeof names / sizeof *names && !c->n_eos; k++) {
            int64_t id = jn_tokenizer_token_to_id(c->tk, names[k]);
            if (id >= 0)
                c->eos[c->n_eos++] = id;
        }
    }
    char desc[160];
    snprintf(desc, sizeof desc, "ONNX causal language model (%zu layers, KV cache), %s", jn_onnx_lm_layers(c->lm),
             c->chat ? "chat template" : "prompt");
    e = jn_engine_create(&clm_vtable, name, version ? version : cfg_version, desc, c, err);
    if (!e)
        goto fail;
    c = NULL; /* the engine's */
    if (jn_generate_signature(&e->sig, ((clm *)e->ctx)->chat ? JN_GENERATE_IN_MESSAGES : JN_GENERATE_IN_PROMPT,
                              err)) {
        jn_engine_unref(e);
        e = NULL;
        goto fail;
    }
    e->flags |= JN_ENGINE_STREAMS | JN_ENGINE_VOLATILE;
    json_decref(cfg);
    return e;
fail:
    clm_free(c);
    json_decref(cfg);
    return NULL;
}
