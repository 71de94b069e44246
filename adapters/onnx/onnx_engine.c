/* onnx_engine.c — a loaded ONNX model as a junction engine: the signature from the graph, requests validated and
 * run through the planner, and the model repository (DIR/<name>/model.onnx, DIR/<name>.onnx). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "onnx.h"
#include "onnx_internal.h"

int jn_onnx_signature(const jn_onnx_model *m, jn_signature *sig, jn_err *err)
{
    for (size_t i = 0; i < m->n_inputs; i++) {
        const ox_value *v = &m->values[m->inputs[i]];
        if (jn_signature_add_input(sig, v->name, JN_KIND_TENSOR, v->dtype, m->in_ndim[i], m->in_shape[i], err))
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
    return e; /* not inline: the worker pool runs it */
}

/* ---------------------------------------------------------------------------------------------------------------
 * Model repository */

static int register_one(jn_registry *reg, const char *name, const char *path)
{
    jn_err err;
    jn_err_clear(&err);
    jn_onnx_model *m = jn_onnx_load_file(path, &err);
    jn_engine *e = m ? jn_onnx_engine_create(name, "1", m, &err) : NULL;
    if (!e || jn_registry_add(reg, e, &err)) {
        fprintf(stderr, "junction: model '%s' skipped: %s\n", name, err.msg);
        return 0;
    }
    return 1;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int jn_onnx_register_dir(jn_registry *reg, const char *dir, jn_err *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return jn_err_set(err, JN_EIO, "models directory '%s' cannot be read", dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *ent;
    while ((ent = readdir(d))) {
        if (ent->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn)
                break;
            names = nn;
        }
        names[n] = strdup(ent->d_name);
        if (names[n])
            n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, name_cmp); /* a stable order for messages and name clashes */
    int registered = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        size_t len = strlen(names[i]);
        snprintf(path, sizeof path, "%s/%s/model.onnx", dir, names[i]);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            registered += register_one(reg, names[i], path);
        } else if (len > 5 && strcmp(names[i] + len - 5, ".onnx") == 0) {
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            names[i][len - 5] = '\0';
            registered += register_one(reg, names[i], path);
        }
        free(names[i]);
    }
    free(names);
    return registered;
}

jn_engine *jn_onnx_model_loader(void *models_dir, const char *name, const char *version, const uint8_t *bytes,
                                size_t n, jn_err *err)
{
    jn_onnx_model *m = NULL;
    char what[300];
    snprintf(what, sizeof what, "model '%s'", name);
    if (bytes) {
        m = jn_onnx_load_bytes(bytes, n, what, err);
    } else if (!models_dir) {
        jn_err_set(err, JN_EINVAL, "model '%s': no ONNX bytes given and the server has no model repository", name);
    } else {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s/model.onnx", (const char *)models_dir, name);
        if (stat(path, &st) != 0)
            snprintf(path, sizeof path, "%s/%s.onnx", (const char *)models_dir, name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            jn_err_set(err, JN_ENOTFOUND, "model '%s': neither %s/%s/model.onnx nor %s/%s.onnx exists", name,
                       (const char *)models_dir, name, (const char *)models_dir, name);
        else if (!(m = jn_onnx_load_file(path, err)))
            jn_err_prefix(err, "model '%s'", name);
    }
    return m ? jn_onnx_engine_create(name, version, m, err) : NULL;
}
