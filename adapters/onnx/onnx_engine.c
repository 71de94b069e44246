/* onnx_engine.c — a loaded ONNX model as a junction engine: the signature from the graph, requests validated and
 * run through the planner, and the model repository (DIR/<name>/model.onnx, DIR/<name>.onnx). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "dir_names.h"
#include "onnx.h"
#include "onnx_causallm.h"
#include "onnx_graph.h"
#include "onnx_internal.h"
#include "onnx_text.h"

int jn_onnx_signature(const jn_onnx_model *m, jn_signature *sig, jn_err *err)
{
    for (size_t i = 0; i < m->n_inputs; i++) {
        const ox_value *v = &m->values[m->inputs[i]];
        int64_t any = -1;
        bool unknown = m->in_ndim[i] < 0; /* only sequences and optionals (JN_ONNX_LOAD_SEQUENCE_IO) */
        if (jn_signature_add_input(sig, v->name, JN_KIND_TENSOR, v->dtype, unknown ? 1 : m->in_ndim[i],
                                   unknown ? &any : m->in_shape[i], err))
            return err->code;
    }
    for (size_t i = 0; i < m->n_outputs; i++) {
        const ox_value *v = &m->values[m->outputs[i]];
        int64_t any[JN_MAX_DIMS];
        int nd = m->out_ndim[i];
        const int64_t *shape = m->out_shape[i];
        if (nd < 0) { /* rank not declared: a rank-1 port of any size says the least wrong thing */
            nd = 1;
            any[0] = -1;
            shape = any;
        }
        if (jn_signature_add_output(sig, v->name, JN_KIND_TENSOR, v->dtype, nd, shape, err))
            return err->code;
    }
    return 0;
}

/* jn_onnx_run, and the engine's infer with its call context (deadline, cancellation) checked between nodes. */
static int run_with_ctx(jn_onnx_model *m, const jn_tensor_list *inputs, jn_tensor_list *outputs,
                        const jn_infer_ctx *ctx, jn_err *err)
{
    if (m->seq_io)
        return ox_seqio_run(m, inputs, outputs, ctx, err);
    ox_tensor *in = calloc(m->n_inputs + 1, sizeof *in);
    jn_tensor **out = calloc(m->n_outputs + 1, sizeof *out);
    int rc = 0;
    if (!in || !out) {
        rc = jn_err_set(err, JN_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < m->n_inputs && !rc; i++) {
        const ox_value *v = &m->values[m->inputs[i]];
        const jn_tensor *t = jn_tensor_list_find(inputs, v->name);
        if (!t) {
            rc = jn_err_set(err, JN_EINVAL, "input '%s' is missing", v->name);
            break;
        }
        /* Declared dims bind the inputs the graph reads; one no node reads (and no output returns) cannot be
         * computed wrong whatever its shape. */
        bool read = v->last_use >= 0 || v->graph_output;
        if (t->dtype != v->dtype || (read && t->ndim != m->in_ndim[i])) {
            char want[96], got[96];
            jn_format_type(want, sizeof want, v->dtype, m->in_ndim[i], m->in_shape[i]);
            jn_format_type(got, sizeof got, t->dtype, t->ndim, t->shape);
            rc = jn_err_set(err, JN_EINVAL, "input '%s' expects %s, got %s", v->name, want, got);
            break;
        }
        for (int d = 0; d < t->ndim && read; d++)
            if (m->in_shape[i][d] >= 0 && m->in_shape[i][d] != t->shape[d]) {
                rc = jn_err_set(err, JN_EINVAL, "input '%s': dimension %d must be %lld, got %lld", v->name, d,
                                (long long)m->in_shape[i][d], (long long)t->shape[d]);
                break;
            }
        if (rc || ox_set_shape(&in[i], t->dtype, t->ndim, t->shape, err)) {
            rc = rc ? rc : err->code;
            break;
        }
        if (in[i].nbytes != t->byte_size) {
            rc = jn_err_set(err, JN_EINVAL, "input '%s': %zu bytes for a shape needing %zu", v->name, t->byte_size,
                            in[i].nbytes);
            break;
        }
        in[i].data = t->data;
    }
    if (!rc)
        rc = ox_model_run(m, in, out, ctx, err);
    for (size_t i = 0; i < m->n_outputs && !rc; i++) {
        if (jn_tensor_list_push(outputs, out[i])) {
            out[i] = NULL;
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
        }
        out[i] = NULL;
    }
done:
    if (out)
        for (size_t i = 0; i < m->n_outputs; i++)
            jn_tensor_free(out[i]);
    free(in);
    free(out);
    return rc;
}

int jn_onnx_run(jn_onnx_model *m, const jn_tensor_list *inputs, jn_tensor_list *outputs, jn_err *err)
{
    return run_with_ctx(m, inputs, outputs, NULL, err);
}

int jn_onnx_run_ctx(jn_onnx_model *m, const jn_tensor_list *inputs, jn_tensor_list *outputs, const jn_infer_ctx *ctx,
                    jn_err *err)
{
    return run_with_ctx(m, inputs, outputs, ctx, err);
}

/* ---------------------------------------------------------------------------------------------------------------
 * The engine */

static int onnx_infer(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs, jn_tensor_list *outputs,
                      jn_err *err)
{
    jn_tensor_list all;
    jn_tensor_list_init(&all);
    int rc = run_with_ctx(self->ctx, inputs, &all, ctx, err);
    if (rc) {
        if (rc != JN_EDEADLINE && rc != JN_ECANCELLED) /* those already name the model */
            jn_err_prefix(err, "model '%s'", self->name);
        jn_tensor_list_clear(&all);
        return rc;
    }
    /* Only the outputs asked for (all when none is named). */
    for (size_t i = 0; i < all.count; i++) {
        bool wanted = ctx == NULL || ctx->n_outputs == 0;
        for (size_t k = 0; ctx && k < ctx->n_outputs && !wanted; k++)
            wanted = strcmp(ctx->outputs[k], all.items[i]->name) == 0;
        if (!wanted)
            continue;
        if (jn_tensor_list_push(outputs, all.items[i])) {
            all.items[i] = NULL;
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
            break;
        }
        all.items[i] = NULL;
    }
    for (size_t i = 0; i < all.count; i++)
        jn_tensor_free(all.items[i]);
    all.count = 0;
    jn_tensor_list_clear(&all);
    return rc;
}

static void onnx_destroy(jn_engine *self)
{
    jn_onnx_free(self->ctx);
}

static const jn_engine_vtable onnx_vtable = {
    .abi_version = JN_ENGINE_ABI_VERSION,
    .platform = JN_ONNX_PLATFORM,
    .infer = onnx_infer,
    .destroy = onnx_destroy,
};

jn_engine *jn_onnx_engine_create(const char *name, const char *version, jn_onnx_model *model, jn_err *err)
{
    jn_engine *e = jn_engine_create(&onnx_vtable, name, version, "ONNX model", model, err);
    if (!e) {
        jn_onnx_free(model);
        return NULL;
    }
    if (jn_onnx_signature(model, &e->sig, err)) {
        jn_engine_unref(e);
        return NULL;
    }
    /* Every input and output with a free first dimension: served with dynamic_batching, that dimension is taken as
     * the batch (the user's config.json says so; model_config.h). */
    if (jn_signature_batches(&e->sig))
        e->flags |= JN_ENGINE_BATCHES;
    return e; /* not inline: the worker pool runs it */
}

/* ---------------------------------------------------------------------------------------------------------------
 * Model repository: DIR/<name>/model.onnx (with an optional DIR/<name>/config.json), Triton's layout
 * DIR/<name>/<version>/model.onnx (config.json at DIR/<name>/, its version_policy choosing the versions served), or
 * DIR/<name>.onnx. DIR/<name>/tokenizer.json beside makes it a text model folder (onnx_text.h). */

/* config.json: {"version": "2", "description": "...", "outputs": {"<output>": {"labels": ["a", "b", ...]}},
 * "inputs": {"<input>": {"kind": "AUDIO_TENSOR", "sample_rate": 16000, "default": [...]}}}.
 * Labels make the output a CLASSIFICATION port (FP32, the last dimension one score per label). In a text model folder
 * (`text`: tokenizer.json beside model.onnx) the file is usually Hugging Face's: their keys junction reads are
 * checked by onnx_text.c, every other key of theirs is ignored; junction's own keys are validated either way (inputs
 * and outputs name the graph's ports, which a text model does not serve: refused there). */
static int read_config(const char *path, bool text, json_t **out, jn_err *err)
{
    json_error_t jerr;
    json_t *cfg = json_load_file(path, 0, &jerr);
    if (!cfg)
        return jn_err_set(err, JN_EINVAL, "%s: line %d: %s", path, jerr.line, jerr.text);
    if (!json_is_object(cfg)) {
        json_decref(cfg);
        return jn_err_set(err, JN_EINVAL, "%s: expected a JSON object", path);
    }
    const char *key;
    json_t *v;
    json_object_foreach(cfg, key, v) {
        bool ours = strcmp(key, "version") == 0 || strcmp(key, "version_policy") == 0 ||
                    strcmp(key, "description") == 0 || strcmp(key, "outputs") == 0 || strcmp(key, "inputs") == 0 ||
                    jn_model_config_key(key);
        bool ok = (strcmp(key, "version") == 0 && json_is_string(v)) || strcmp(key, "version_policy") == 0 ||
                  (strcmp(key, "description") == 0 && json_is_string(v)) ||
                  (strcmp(key, "outputs") == 0 && json_is_object(v) && !text) ||
                  (strcmp(key, "inputs") == 0 && json_is_object(v) && !text) || jn_model_config_key(key) ||
                  (text && (!ours || jn_onnx_text_config_key(key)));
        if (!ok) { /* the message first: `key` is freed with cfg */
            if (text && (strcmp(key, "outputs") == 0 || strcmp(key, "inputs") == 0))
                jn_err_set(err, JN_EINVAL, "%s: field '%s' does not apply to a text model folder (its input is the "
                                           "text, its labels come from id2label)", path, key);
            else
                jn_err_set(err, JN_EINVAL, "%s: field '%s' is unknown or of the wrong type (version and description "
                                           "are strings, inputs and outputs objects; dynamic_batching, instances, "
                                           "response_cache, sequence say how it is served; a Hugging Face "
                                           "config.json needs tokenizer.json beside model.onnx)", path, key);
            json_decref(cfg);
            return err->code;
        }
    }
    *out = cfg;
    return 0;
}

static int apply_output_config(jn_engine *e, const json_t *outputs, const char *path, jn_err *err)
{
    const char *name;
    json_t *o;
    json_object_foreach((json_t *)outputs, name, o) {
        jn_port *port = NULL;
        for (size_t i = 0; i < e->sig.n_outputs; i++)
            if (strcmp(e->sig.outputs[i].name, name) == 0)
                port = &e->sig.outputs[i];
        json_t *labels = json_object_get(o, "labels");
        if (!port)
            return jn_err_set(err, JN_EINVAL, "%s: the model has no output '%s'", path, name);
        if (!json_is_object(o) || json_object_size(o) != 1 || !json_is_array(labels) || !json_array_size(labels))
            return jn_err_set(err, JN_EINVAL, "%s: output '%s' takes {\"labels\": [\"...\", ...]}", path, name);
        size_t n = json_array_size(labels);
        if (port->dtype != JN_DTYPE_FP32 || port->ndim < 1 ||
            (port->shape[port->ndim - 1] >= 0 && port->shape[port->ndim - 1] != (int64_t)n))
            return jn_err_set(err, JN_EINVAL, "%s: output '%s' (%s, last dimension %lld) cannot carry %zu labels",
                              path, name, jn_dtype_name(port->dtype),
                              (long long)(port->ndim ? port->shape[port->ndim - 1] : 0), n);
        const char **texts = calloc(n, sizeof *texts);
        if (!texts)
            return jn_err_set(err, JN_ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
            texts[i] = json_string_value(json_array_get(labels, i));
            if (!texts[i]) {
                free(texts);
                return jn_err_set(err, JN_EINVAL, "%s: output '%s': label %zu is not a string", path, name, i);
            }
        }
        int rc = jn_port_set_labels(port, texts, n, err);
        free(texts);
        if (rc)
            return rc;
        port->kind = JN_KIND_CLASSIFICATION;
    }
    return 0;
}

/* An engine named `name` from the model file at `path` with its config (cfg_path "" = none); `version` (may be NULL)
 * overrides the config's. *serving gets the config's serving part (model_config.h). tok_path ("" = none): the
 * tokenizer.json of a text model folder (onnx_text.h), or of a causal LM's (jn_onnx_is_causal_lm: a generate engine,
 * made by the causal-LM loader, onnx_causallm.h). */
static jn_onnx_folder_fn causal_lm_loader;

void jn_onnx_set_causal_lm_loader(jn_onnx_folder_fn fn)
{
    causal_lm_loader = fn;
}

static jn_engine *load_engine(const char *path, const char *cfg_path, const char *tok_path, const char *name,
                              const char *version, jn_model_config *serving, jn_err *err)
{
    jn_onnx_model *m = NULL;
    /* A causal LM with its tokenizer.json is a generate engine (its config.json is Hugging Face's, read there); the
     * model is parsed once either way. */
    if (causal_lm_loader && tok_path[0]) {
        if (!(m = jn_onnx_load_file(path, err)))
            return NULL;
        if (jn_onnx_is_causal_lm(m)) {
            char dir[4096];
            const char *slash = strrchr(tok_path, '/');
            snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - tok_path) : 1, slash ? tok_path : ".");
            return causal_lm_loader(m, dir, name, version, err);
        }
    }
    json_t *cfg = NULL;
    if (cfg_path[0] && read_config(cfg_path, tok_path[0] != '\0', &cfg, err)) {
        jn_onnx_free(m);
        return NULL;
    }
    if (cfg && jn_model_config_parse(cfg, cfg_path, serving, err)) {
        json_decref(cfg);
        jn_onnx_free(m);
        return NULL;
    }
    if (!m)
        m = jn_onnx_load_file(path, err);
    jn_engine *e = NULL;
    if (m) {
        const char *v = version ? version : cfg ? json_string_value(json_object_get(cfg, "version")) : NULL;
        e = tok_path[0] ? jn_onnx_text_engine_create(name, v, m, tok_path, cfg, cfg_path, err)
                        : jn_onnx_engine_create(name, v, m, err);
    }
    const char *desc = cfg ? json_string_value(json_object_get(cfg, "description")) : NULL;
    if (e && desc) {
        char *d = strdup(desc);
        if (d) {
            free(e->description);
            e->description = d;
        }
    }
    json_t *inputs = cfg ? json_object_get(cfg, "inputs") : NULL;
    if (e && inputs && jn__onnx_apply_input_config(e, inputs, cfg_path, err)) {
        jn_engine_unref(e);
        e = NULL;
    }
    json_t *outputs = cfg ? json_object_get(cfg, "outputs") : NULL;
    if (e && outputs && apply_output_config(e, outputs, cfg_path, err)) {
        jn_engine_unref(e);
        e = NULL;
    }
    /* "sequence": its ports checked here, so the message names the file (the registry wraps the engine). */
    if (e && serving->sequence.enabled && jn_model_config_check(serving, e, err)) {
        jn_err_prefix(err, "%s", cfg_path);
        jn_engine_unref(e);
        e = NULL;
    }
    json_decref(cfg);
    return e;
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The engine of repository entry `name` in dir; `version` (may be NULL) overrides the config's. In Triton's layout
 * (DIR/<name>/<version>/model.onnx) `version` picks the version directory (NULL: the highest there is). */
static jn_engine *load_from_repository(const char *dir, const char *name, const char *version,
                                       jn_model_config *serving, jn_err *err)
{
    char path[4096], cfg_path[4096], tok_path[4096];
    snprintf(cfg_path, sizeof cfg_path, "%s/%s/config.json", dir, name);
    if (!is_file(cfg_path))
        cfg_path[0] = '\0';
    snprintf(tok_path, sizeof tok_path, "%s/%s/tokenizer.json", dir, name); /* a text model folder */
    if (!is_file(tok_path))
        tok_path[0] = '\0';
    snprintf(path, sizeof path, "%s/%s/model.onnx", dir, name);
    if (is_file(path))
        return load_engine(path, cfg_path, tok_path, name, version, serving, err);
    jn_onnx_versions vs;
    if (jn_onnx_repository_versions(dir, name, &vs, err) == 0 && vs.n) {
        const char *v = version && *version ? version : vs.names[vs.n - 1];
        snprintf(path, sizeof path, "%s/%s/%s/model.onnx", dir, name, v);
        jn_engine *e = NULL;
        if (is_file(path))
            e = load_engine(path, cfg_path, tok_path, name, v, serving, err);
        else
            jn_err_set(err, JN_ENOTFOUND, "%s/%s has no version %s (no %s)", dir, name, v, path);
        jn_onnx_versions_free(&vs);
        return e;
    }
    jn_onnx_versions_free(&vs);
    snprintf(path, sizeof path, "%s/%s.onnx", dir, name);
    if (!is_file(path)) {
        jn_err_set(err, JN_ENOTFOUND, "neither %s/%s/model.onnx, %s/%s/<version>/model.onnx nor %s/%s.onnx exists", dir,
                   name, dir, name, dir, name);
        return NULL;
    }
    return load_engine(path, "", "", name, version, serving, err);
}

static int register_one(jn_registry *reg, const char *dir, const char *name)
{
    jn_err err;
    jn_err_clear(&err);
    jn_model_sched sched = {0};
    jn_engine *e = load_from_repository(dir, name, NULL, &sched.config, &err);
    if (!e || jn_registry_put(reg, e, &sched, NULL, NULL, NULL, &err)) {
        fprintf(stderr, "junction: model '%s' skipped: %s\n", name, err.msg);
        return 0;
    }
    return 1;
}

/* ---- Triton's layout: DIR/<name>/<version>/model.onnx, version_policy in DIR/<name>/config.json ---- */

static int version_cmp_p(const void *a, const void *b)
{
    return jn_version_cmp(*(char *const *)a, *(char *const *)b);
}

void jn_onnx_versions_free(jn_onnx_versions *vs)
{
    for (size_t i = 0; i < vs->n; i++)
        free(vs->names[i]);
    free(vs->names);
    memset(vs, 0, sizeof *vs);
}

int jn_onnx_repository_versions(const char *dir, const char *name, jn_onnx_versions *vs, jn_err *err)
{
    memset(vs, 0, sizeof *vs);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    size_t cap = 0;
    struct dirent *ent;
    int rc = 0;
    while (!rc && (ent = readdir(d))) {
        const char *v = ent->d_name;
        bool digits = *v != '\0';
        for (const char *c = v; *c && digits; c++)
            digits = *c >= '0' && *c <= '9';
        char model[4096];
        snprintf(model, sizeof model, "%s/%s/%s/model.onnx", dir, name, v);
        if (!digits || strlen(v) > 18 || !is_file(model))
            continue;
        if (vs->n == cap) {
            cap = cap ? cap * 2 : 8;
            char **grown = realloc(vs->names, cap * sizeof *grown);
            if (!grown) {
                rc = jn_err_set(err, JN_ENOMEM, "out of memory");
                break;
            }
            vs->names = grown;
        }
        if (!(vs->names[vs->n] = strdup(v)))
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
        else
            vs->n++;
    }
    closedir(d);
    if (vs->n)
        qsort(vs->names, vs->n, sizeof *vs->names, version_cmp_p);
    return rc;
}

/* Which of the versions there are the config's version_policy serves: `keep` (vs->n flags). Triton's policies:
 * {"latest": {"num_versions": N}} (the default, N = 1), {"all": {}}, {"specific": {"versions": [1, 3]}}. */
static int apply_policy(const json_t *policy, const char *cfg_path, const jn_onnx_versions *vs, bool *keep,
                        jn_err *err)
{
    const char *where = *cfg_path ? cfg_path : "version_policy";
    if (!policy) {
        keep[vs->n - 1] = true;
        return 0;
    }
    const char *kind = NULL;
    json_t *body = NULL;
    if (json_is_object(policy) && json_object_size(policy) == 1) {
        void *it = json_object_iter((json_t *)policy);
        kind = json_object_iter_key(it);
        body = json_object_iter_value(it);
    }
    if (!kind || !json_is_object(body) ||
        (strcmp(kind, "latest") && strcmp(kind, "all") && strcmp(kind, "specific")))
        return jn_err_set(err, JN_EINVAL, "%s: version_policy: expected one of {\"latest\": {\"num_versions\": N}}, "
                          "{\"all\": {}}, {\"specific\": {\"versions\": [...]}}", where);
    if (strcmp(kind, "all") == 0) {
        for (size_t i = 0; i < vs->n; i++)
            keep[i] = true;
        return 0;
    }
    if (strcmp(kind, "latest") == 0) {
        json_t *nv = json_object_get(body, "num_versions");
        if (!json_is_integer(nv) || json_integer_value(nv) < 1 || json_object_size(body) != 1)
            return jn_err_set(err, JN_EINVAL, "%s: version_policy.latest: expected {\"num_versions\": N}, N >= 1", where);
        for (size_t i = 0; i < vs->n && (json_int_t)i < json_integer_value(nv); i++)
            keep[vs->n - 1 - i] = true;
        return 0;
    }
    json_t *list = json_object_get(body, "versions");
    if (!json_is_array(list) || !json_array_size(list) || json_object_size(body) != 1)
        return jn_err_set(err, JN_EINVAL, "%s: version_policy.specific: expected {\"versions\": [1, 3, ...]}", where);
    for (size_t k = 0; k < json_array_size(list); k++) {
        json_t *v = json_array_get(list, k);
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return jn_err_set(err, JN_EINVAL, "%s: version_policy.specific.versions[%zu]: expected a version number",
                              where, k);
        char want[32];
        snprintf(want, sizeof want, "%lld", (long long)json_integer_value(v));
        bool found = false;
        for (size_t i = 0; i < vs->n; i++)
            if (jn_version_cmp(vs->names[i], want) == 0)
                found = keep[i] = true;
        if (!found)
            return jn_err_set(err, JN_ENOTFOUND, "%s: version_policy.specific: there is no version %s", where, want);
    }
    return 0;
}

int jn_onnx_policy_versions(const char *dir, const char *name, jn_onnx_versions *out, jn_err *err)
{
    jn_onnx_versions vs;
    memset(out, 0, sizeof *out);
    int rc = jn_onnx_repository_versions(dir, name, &vs, err);
    if (rc || !vs.n) {
        jn_onnx_versions_free(&vs);
        return rc ? rc : jn_err_set(err, JN_ENOTFOUND, "%s/%s has no <version>/model.onnx", dir, name);
    }
    char cfg_path[4096];
    snprintf(cfg_path, sizeof cfg_path, "%s/%s/config.json", dir, name);
    json_t *cfg = NULL;
    char tok_path[4096];
    snprintf(tok_path, sizeof tok_path, "%s/%s/tokenizer.json", dir, name);
    if (is_file(cfg_path) && (rc = read_config(cfg_path, is_file(tok_path), &cfg, err))) {
        jn_onnx_versions_free(&vs);
        return rc;
    }
    bool *keep = calloc(vs.n, sizeof *keep);
    rc = keep ? apply_policy(cfg ? json_object_get(cfg, "version_policy") : NULL, cfg ? cfg_path : "", &vs, keep, err)
              : jn_err_set(err, JN_ENOMEM, "out of memory");
    json_decref(cfg);
    for (size_t i = 0; !rc && i < vs.n; i++) /* moves the kept names over, in order */
        if (keep[i]) {
            out->names = out->names ? out->names : calloc(vs.n, sizeof *out->names);
            if (!out->names) {
                rc = jn_err_set(err, JN_ENOMEM, "out of memory");
                break;
            }
            out->names[out->n++] = vs.names[i];
            vs.names[i] = NULL;
        }
    for (size_t i = 0; i < vs.n; i++)
        free(vs.names[i]);
    free(vs.names);
    free(keep);
    if (rc)
        jn_onnx_versions_free(out);
    return rc;
}

static bool has_versions(const char *dir, const char *name)
{
    jn_onnx_versions vs;
    jn_err err;
    jn_err_clear(&err);
    bool yes = jn_onnx_repository_versions(dir, name, &vs, &err) == 0 && vs.n > 0;
    jn_onnx_versions_free(&vs);
    return yes;
}

/* Registers every version the policy serves, each its own entry: the count, messages on stderr for the rest. */
static int register_versions(jn_registry *reg, const char *dir, const char *name)
{
    jn_err err;
    jn_err_clear(&err);
    jn_onnx_versions vs;
    if (jn_onnx_policy_versions(dir, name, &vs, &err)) {
        fprintf(stderr, "junction: model '%s' skipped: %s\n", name, err.msg);
        return 0;
    }
    int registered = 0;
    for (size_t i = 0; i < vs.n; i++) {
        jn_model_sched sched = {0};
        jn_err_clear(&err);
        jn_engine *e = load_from_repository(dir, name, vs.names[i], &sched.config, &err);
        if (!e || jn_registry_add_version(reg, e, &sched, &err))
            fprintf(stderr, "junction: model '%s' version %s skipped: %s\n", name, vs.names[i], err.msg);
        else
            registered = 1;
    }
    jn_onnx_versions_free(&vs);
    return registered;
}

int jn_onnx_register_dir(jn_registry *reg, const char *dir, jn_err *err)
{
    char **names = NULL;
    size_t n = 0;
    int rc = jn_dir_names(dir, NULL, &names, &n, err); /* a stable order for messages and name clashes */
    if (rc)
        return rc == JN_ENOMEM ? rc : jn_err_set(err, JN_EIO, "models directory '%s' cannot be read", dir);
    int registered = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        size_t len = strlen(names[i]);
        snprintf(path, sizeof path, "%s/%s/model.onnx", dir, names[i]);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            registered += register_one(reg, dir, names[i]);
        } else if (has_versions(dir, names[i])) { /* Triton's layout: every version its policy serves */
            registered += register_versions(reg, dir, names[i]);
        } else if (len > 5 && strcmp(names[i] + len - 5, ".onnx") == 0) {
            names[i][len - 5] = '\0';
            registered += register_one(reg, dir, names[i]);
        }
        free(names[i]);
    }
    free(names);
    return registered;
}

long jn_onnx_repo_versions(void *models_dir, const char *name, char ***versions, jn_err *err)
{
    *versions = NULL;
    if (!models_dir)
        return 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/model.onnx", (const char *)models_dir, name);
    if (is_file(path) || !has_versions(models_dir, name)) /* not Triton's layout */
        return 0;
    jn_onnx_versions vs;
    int rc = jn_onnx_policy_versions(models_dir, name, &vs, err);
    if (rc)
        return rc;
    *versions = vs.names;
    return (long)vs.n;
}

long jn_onnx_repo_index(void *models_dir, jn_repo_item **items, jn_err *err)
{
    *items = NULL;
    if (!models_dir)
        return jn_err_set(err, JN_EUNIMPL, "this server has no model repository (serve --models DIR)");
    const char *dir = models_dir;
    DIR *d = opendir(dir);
    if (!d)
        return jn_err_set(err, JN_EIO, "models directory '%s' cannot be read", dir);
    jn_repo_item *out = NULL;
    long n = 0, cap = 0;
    int rc = 0;
    struct dirent *ent;
    while (!rc && (ent = readdir(d))) {
        if (ent->d_name[0] == '.')
            continue;
        char name[256], path[4096];
        size_t len = strlen(ent->d_name);
        if (len >= sizeof name)
            continue;
        memcpy(name, ent->d_name, len + 1);
        snprintf(path, sizeof path, "%s/%s/model.onnx", dir, name);
        jn_onnx_versions vs = {0};
        bool flat = is_file(path);
        if (!flat && len > 5 && strcmp(name + len - 5, ".onnx") == 0) {
            name[len - 5] = '\0';
            flat = true;
        } else if (!flat && (rc = jn_onnx_repository_versions(dir, name, &vs, err)) == 0 && !vs.n) {
            continue; /* not a model */
        }
        for (size_t k = 0; !rc && k < (flat ? 1 : vs.n); k++) {
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                jn_repo_item *grown = realloc(out, (size_t)cap * sizeof *grown);
                if (!grown) {
                    rc = jn_err_set(err, JN_ENOMEM, "out of memory");
                    break;
                }
                out = grown;
            }
            out[n].name = strdup(name);
            out[n].version = strdup(flat ? "" : vs.names[k]);
            n++;
            if (!out[n - 1].name || !out[n - 1].version)
                rc = jn_err_set(err, JN_ENOMEM, "out of memory");
        }
        jn_onnx_versions_free(&vs);
    }
    closedir(d);
    if (rc) {
        jn_repo_items_free(out, n);
        return rc;
    }
    *items = out;
    return n;
}

jn_engine *jn_onnx_model_loader(void *models_dir, const char *name, const char *version, const uint8_t *bytes,
                                size_t n, jn_model_config *serving, jn_err *err)
{
    jn_engine *e = NULL;
    if (bytes) {
        char what[300];
        snprintf(what, sizeof what, "model '%s'", name);
        jn_onnx_model *m = jn_onnx_load_bytes(bytes, n, what, err);
        return m ? jn_onnx_engine_create(name, version, m, err) : NULL;
    }
    if (!models_dir) {
        jn_err_set(err, JN_EINVAL, "model '%s': no ONNX bytes given and the server has no model repository", name);
        return NULL;
    }
    e = load_from_repository(models_dir, name, version, serving, err);
    if (!e)
        jn_err_prefix(err, "model '%s'", name);
    return e;
}
