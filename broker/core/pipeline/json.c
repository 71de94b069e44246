/* pipeline/json.c — pipeline specs from and to JSON (jansson).
 *
 * The parser checks the shape of the document only: every field known and of the right type, names non-empty,
 * kinds and datatypes known, shapes of rank <= JN_MAX_DIMS with dims >= -1, no pipeline input or step input
 * declared twice. Every error is JN_EINVAL and names the JSON path ("steps[1].inputs.input: expected a string or an
 * object, got an array"). The rest is the compiler's, so that a spec from JSON and one from PutPipeline are judged
 * alike and the messages name the pipeline: models, ports, types, cycles, sources ("from": "" is bound to nothing),
 * names with '.', duplicate step ids and output names.
 *
 * Ownership: jn_pipeline_spec_from_json initializes *spec itself (any previous content is not freed) and leaves it
 * empty on failure; after success the caller frees it with jn_pipeline_spec_free (which is also harmless after a
 * failure). jn_pipeline_spec_to_json returns malloc'd text.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "condition.h"
#include "json_util.h"
#include "model_config.h"
#include "pipeline.h"
#include "route.h"

/* Pipeline documents are small; anything this large is a mistake (or an attack on the admin API). */
#define PIPELINE_JSON_MAX_BYTES ((size_t)16 << 20)
/* Room for a path like "steps[12].inputs.some_port.cast". Longer paths are truncated in messages. */
#define PATH_MAX_LEN 320



static int oom(jn_err *err)
{
    return jn_err_set(err, JN_ENOMEM, "out of memory");
}

static void child_key(char *out, const char *path, const char *key)
{
    if (*path)
        snprintf(out, PATH_MAX_LEN, "%s.%s", path, key);
    else
        snprintf(out, PATH_MAX_LEN, "%s", key);
}

static void child_index(char *out, const char *path, size_t i)
{
    snprintf(out, PATH_MAX_LEN, "%s[%zu]", path, i);
}


/* Rejects keys outside `known` (NULL-terminated), listing the known ones. */
static int check_fields(const json_t *obj, const char *path, const char *const *known, jn_err *err)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        bool found = false;
        for (const char *const *k = known; *k && !found; k++)
            found = strcmp(key, *k) == 0;
        if (!found) {
            char list[256] = "";
            size_t used = 0;
            for (const char *const *k = known; *k && used < sizeof list; k++)
                used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", k == known ? "" : ", ", *k);
            return jn__json_bad(err, path, "unknown field '%s' (known: %s)", key, list);
        }
    }
    return 0;
}

static int expect_object(const json_t *v, const char *path, jn_err *err)
{
    return json_is_object(v) ? 0 : jn__json_bad(err, path, "expected an object, got %s", jn__json_type_of(v));
}

/* The array at obj[key] (required). */
static int get_array(const json_t *obj, const char *path, const char *key, const json_t **out, jn_err *err)
{
    char p[PATH_MAX_LEN];
    const json_t *v = json_object_get(obj, key);
    if (!v)
        return jn__json_bad(err, path, "missing '%s'", key);
    child_key(p, path, key);
    if (!json_is_array(v))
        return jn__json_bad(err, p, "expected an array, got %s", jn__json_type_of(v));
    *out = v;
    return 0;
}

enum { OPTIONAL = 0, REQUIRED = 1, NONEMPTY = 2 };

/* The string at obj[key]; *out NULL when absent and not REQUIRED. */
static int get_string(const json_t *obj, const char *path, const char *key, int how, const char **out,
                      jn_err *err)
{
    char p[PATH_MAX_LEN];
    const json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v)
        return how & REQUIRED ? jn__json_bad(err, path, "missing '%s'", key) : 0;
    child_key(p, path, key);
    if (!json_is_string(v))
        return jn__json_bad(err, p, "expected a string, got %s", jn__json_type_of(v));
    if ((how & NONEMPTY) && json_string_length(v) == 0)
        return jn__json_bad(err, p, "must not be empty");
    *out = json_string_value(v);
    return 0;
}

static int get_datatype(const json_t *obj, const char *path, const char *key, bool required, jn_dtype *out,
                        jn_err *err)
{
    const char *name;
    int rc = get_string(obj, path, key, required ? REQUIRED : OPTIONAL, &name, err);
    *out = JN_DTYPE_INVALID;
    if (rc || !name)
        return rc;
    *out = jn_dtype_from_name(name);
    if (*out == JN_DTYPE_INVALID) {
        char p[PATH_MAX_LEN];
        child_key(p, path, key);
        return jn__json_bad(err, p, "unknown datatype '%s' (a v2 name such as FP32, INT64, BYTES)", name);
    }
    return 0;
}

static int parse_input(const json_t *v, const char *path, jn_pipeline_spec *spec, jn_err *err)
{
    static const char *const known[] = {"name", "kind", "datatype", "shape", "labels", NULL};
    char p[PATH_MAX_LEN];
    const char *name, *kind_name;
    int rc;
    if ((rc = expect_object(v, path, err)) || (rc = check_fields(v, path, known, err)) ||
        (rc = get_string(v, path, "name", REQUIRED | NONEMPTY, &name, err)))
        return rc;
    if (jn_signature_find_input(&spec->inputs, name)) {
        child_key(p, path, "name");
        return jn__json_bad(err, p, "input '%s' is declared twice", name);
    }

    if ((rc = get_string(v, path, "kind", REQUIRED, &kind_name, err)))
        return rc;
    jn_kind kind = jn_kind_from_name(kind_name);
    if (kind == JN_KIND_INVALID) {
        child_key(p, path, "kind");
        return jn__json_bad(err, p,
                            "unknown kind '%s' (known: TENSOR, TEXT, IMAGE, IMAGE_TENSOR, CLASSIFICATION, EMBEDDING, "
                            "AUDIO, AUDIO_TENSOR)",
                            kind_name);
    }
    jn_dtype dtype;
    if ((rc = get_datatype(v, path, "datatype", true, &dtype, err)))
        return rc;
    if (jn_kind_is_bytes(kind) && dtype != JN_DTYPE_BYTES) {
        child_key(p, path, "datatype");
        return jn__json_bad(err, p, "kind %s needs datatype BYTES, got %s", kind_name, jn_dtype_name(dtype));
    }

    const json_t *shape_json = NULL;
    if ((rc = get_array(v, path, "shape", &shape_json, err)))
        return rc;
    char sp[PATH_MAX_LEN];
    child_key(sp, path, "shape");
    size_t ndim = json_array_size(shape_json);
    if (ndim > JN_MAX_DIMS)
        return jn__json_bad(err, sp, "rank %zu is more than %d", ndim, JN_MAX_DIMS);
    int64_t shape[JN_MAX_DIMS];
    for (size_t i = 0; i < ndim; i++) {
        const json_t *d = json_array_get(shape_json, i);
        child_index(p, sp, i);
        if (!json_is_integer(d))
            return jn__json_bad(err, p, "expected an integer (-1 = any size), got %s", jn__json_type_of(d));
        json_int_t n = json_integer_value(d);
        if (n < -1)
            return jn__json_bad(err, p, "dimension %lld is not allowed (use -1 for any size)", (long long)n);
        shape[i] = (int64_t)n;
    }

    /* Labels are read before the port exists so that a bad one leaves nothing behind. */
    const json_t *labels_json = json_object_get(v, "labels");
    const char **labels = NULL;
    size_t n_labels = 0;
    if (labels_json) {
        child_key(sp, path, "labels");
        if (!json_is_array(labels_json))
            return jn__json_bad(err, sp, "expected an array of strings, got %s", jn__json_type_of(labels_json));
        n_labels = json_array_size(labels_json);
        labels = calloc(n_labels ? n_labels : 1, sizeof *labels);
        if (!labels)
            return oom(err);
        for (size_t i = 0; i < n_labels; i++) {
            const json_t *l = json_array_get(labels_json, i);
            if (!json_is_string(l)) {
                free(labels);
                child_index(p, sp, i);
                return jn__json_bad(err, p, "expected a string, got %s", jn__json_type_of(l));
            }
            labels[i] = json_string_value(l);
        }
    }

    rc = jn_signature_add_input(&spec->inputs, name, kind, dtype, (int)ndim, shape, err);
    if (!rc && labels)
        rc = jn_port_set_labels(&spec->inputs.inputs[spec->inputs.n_inputs - 1], labels, n_labels, err);
    free(labels);
    if (rc && rc != JN_ENOMEM) {
        /* Everything add_input checks was checked above; keep its message if it still finds something. */
        jn_err_prefix(err, "%s", path);
        err->code = rc = JN_EINVAL;
    }
    return rc;
}

static int parse_binding(const char *port, const json_t *v, const char *path, jn_step_spec *step, jn_err *err)
{
    static const char *const known[] = {"from", "cast", "scale", "offset", NULL};
    char p[PATH_MAX_LEN];
    const char *from;
    int rc;
    if (json_is_string(v))
        return jn_step_spec_bind(step, port, json_string_value(v)) ? 0 : oom(err);
    if (!json_is_object(v))
        return jn__json_bad(err, path, "expected a string or an object, got %s", jn__json_type_of(v));
    jn_dtype cast;
    if ((rc = check_fields(v, path, known, err)) ||
        (rc = get_string(v, path, "from", REQUIRED, &from, err)) ||
        (rc = get_datatype(v, path, "cast", false, &cast, err)))
        return rc;
    const json_t *scale = json_object_get(v, "scale");
    const json_t *offset = json_object_get(v, "offset");
    if (scale) {
        child_key(p, path, "scale");
        if (!json_is_number(scale))
            return jn__json_bad(err, p, "expected a number, got %s", jn__json_type_of(scale));
        if (json_number_value(scale) == 0)
            return jn__json_bad(err, p, "must not be 0 (it would erase the data; leave it out for no scaling)");
    }
    if (offset && !json_is_number(offset)) {
        child_key(p, path, "offset");
        return jn__json_bad(err, p, "expected a number, got %s", jn__json_type_of(offset));
    }
    jn_binding *b = jn_step_spec_bind(step, port, from);
    if (!b)
        return oom(err);
    b->cast = cast;
    if (scale) {
        b->has_scale = true;
        b->scale = json_number_value(scale);
    }
    if (offset)
        b->offset = json_number_value(offset);
    return 0;
}

/* A step's own request parameters: an object of scalars, kept as compact JSON. */
static int set_params(jn_step_spec *step, const json_t *params, const char *path, jn_err *err)
{
    if (!json_is_object(params))
        return jn__json_bad(err, path, "expected an object (parameter -> string, number or boolean), got %s",
                            jn__json_type_of(params));
    const char *key;
    json_t *pv;
    json_object_foreach((json_t *)params, key, pv) {
        if (!json_is_string(pv) && !json_is_number(pv) && !json_is_boolean(pv)) {
            char kp[PATH_MAX_LEN];
            child_key(kp, path, key);
            return jn__json_bad(err, kp, "expected a string, a number or a boolean, got %s", jn__json_type_of(pv));
        }
    }
    char *text = jn__cond_dumps(params, JSON_COMPACT | JSON_PRESERVE_ORDER);
    int rc = text ? jn_step_spec_set_params(step, text) : JN_ENOMEM;
    free(text);
    return rc ? oom(err) : 0;
}

static int parse_step(const json_t *v, const char *path, jn_pipeline_spec *spec, jn_err *err)
{
    static const char *const known[] = {"id", "model", "route", "version", "inputs", "when", "parameters", NULL};
    char p[PATH_MAX_LEN];
    const char *id, *model, *version;
    int rc;
    if ((rc = expect_object(v, path, err)) || (rc = check_fields(v, path, known, err)) ||
        (rc = get_string(v, path, "id", REQUIRED | NONEMPTY, &id, err)))
        return rc;
    const json_t *rt = json_object_get(v, "route");
    if (rt) { /* a split / sticky / mirror over models: its first candidate stands for the step's model */
        child_key(p, path, "route");
        if (json_object_get(v, "model"))
            return jn__json_bad(err, path, "give 'model' or 'route', not both");
        if (json_object_get(v, "version"))
            return jn__json_bad(err, path, "'version' goes with 'model', not with 'route'");
        if ((rc = jn__route_parse(rt, p, &model, err)))
            return rc;
    } else if ((rc = get_string(v, path, "model", NONEMPTY, &model, err))) {
        return rc;
    } else if (!model) {
        return jn__json_bad(err, path, "missing 'model' (or 'route')");
    }
    if ((rc = get_string(v, path, "version", OPTIONAL, &version, err)))
        return rc;
    char *split_model = NULL; /* "model@version" (issue #20): the model and its version in one string */
    const char *at = rt ? NULL : strchr(model, '@');
    if (at) {
        child_key(p, path, "model");
        if (version)
            return jn__json_bad(err, p, "'%s' names a version and so does 'version'; give it once", model);
        if (at == model || !at[1] || strchr(at + 1, '@'))
            return jn__json_bad(err, p, "'%s': expected model@version", model);
        if (!(split_model = strndup(model, (size_t)(at - model))))
            return oom(err);
        version = at + 1;
        model = split_model;
    }
    const json_t *inputs = json_object_get(v, "inputs");
    char ip[PATH_MAX_LEN];
    child_key(ip, path, "inputs");
    if (!inputs || !json_is_object(inputs)) {
        free(split_model); /* the refusal below returns before the step takes a copy */
        if (!inputs)
            return jn__json_bad(err, path, "missing 'inputs'");
        return jn__json_bad(err, ip, "expected an object (engine input -> source), got %s", jn__json_type_of(inputs));
    }

    jn_step_spec *step = jn_pipeline_spec_add_step(spec, id, model, version);
    free(split_model);
    if (!step)
        return oom(err);
    if (rt) {
        char *text = jn__cond_dumps(rt, JSON_COMPACT | JSON_PRESERVE_ORDER);
        rc = text ? jn_step_spec_set_route(step, text) : JN_ENOMEM;
        free(text);
        if (rc)
            return oom(err);
    }
    const char *port;
    json_t *src;
    json_object_foreach((json_t *)inputs, port, src) {
        if (!*port)
            return jn__json_bad(err, ip, "an input name is empty");
        /* JSON_REJECT_DUPLICATES already refuses a port bound twice (at parse time, with its line). */
        child_key(p, ip, port);
        if ((rc = parse_binding(port, src, p, step, err)))
            return rc;
    }
    const json_t *when = json_object_get(v, "when");
    if (when) { /* checked here (fields, types, regex), bound to ports by the compiler */
        cond c;
        child_key(p, path, "when");
        rc = jn__cond_parse(when, p, 0, &c, err);
        jn__cond_free(&c);
        if (rc)
            return rc;
        char *text = jn__cond_dumps(when, JSON_COMPACT | JSON_PRESERVE_ORDER);
        rc = text ? jn_step_spec_set_when(step, text) : JN_ENOMEM;
        free(text);
        if (rc)
            return oom(err);
    }
    const json_t *params = json_object_get(v, "parameters");
    if (params) {
        child_key(p, path, "parameters");
        return set_params(step, params, p, err);
    }
    return 0;
}

int jn_step_spec_params_from_text(jn_step_spec *step, const char *text, const char *what, jn_err *err)
{
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!v)
        return jn__json_bad(err, what, "not JSON: %s", jerr.text);
    int rc = set_params(step, v, what, err);
    json_decref(v);
    return rc;
}

static int parse_output(const json_t *v, const char *path, jn_pipeline_spec *spec, jn_err *err)
{
    static const char *const known[] = {"name", "from", "optional", NULL};
    char p[PATH_MAX_LEN];
    const char *name;
    int rc;
    if ((rc = expect_object(v, path, err)) || (rc = check_fields(v, path, known, err)) ||
        (rc = get_string(v, path, "name", REQUIRED | NONEMPTY, &name, err)))
        return rc;
    const json_t *from = json_object_get(v, "from"), *optional = json_object_get(v, "optional");
    child_key(p, path, "from");
    if (!from)
        return jn__json_bad(err, path, "missing 'from'");
    if (json_is_array(from)) { /* several sources: the first produced */
        if (json_array_size(from) == 0)
            return jn__json_bad(err, p, "expected one source or a non-empty array of sources, got an empty array");
        for (size_t i = 0; i < json_array_size(from); i++)
            if (!json_is_string(json_array_get(from, i))) {
                char pi[PATH_MAX_LEN];
                child_index(pi, p, i);
                return jn__json_bad(err, pi, "expected a string ('step.port'), got %s", jn__json_type_of(json_array_get(from, i)));
            }
    } else if (!json_is_string(from)) {
        return jn__json_bad(err, p, "expected a string or an array of strings, got %s", jn__json_type_of(from));
    }
    if (optional && !json_is_boolean(optional)) {
        child_key(p, path, "optional");
        return jn__json_bad(err, p, "expected a boolean, got %s", jn__json_type_of(optional));
    }
    const char *first = json_is_string(from) ? json_string_value(from) : json_string_value(json_array_get(from, 0));
    if (jn_pipeline_spec_add_output(spec, name, first))
        return oom(err);
    for (size_t i = 1; json_is_array(from) && i < json_array_size(from); i++)
        if (jn_pipeline_spec_add_output_source(spec, json_string_value(json_array_get(from, i))))
            return oom(err);
    spec->outputs[spec->n_outputs - 1].optional = optional && json_is_true(optional);
    return 0;
}

typedef int (*parse_elem_fn)(const json_t *v, const char *path, jn_pipeline_spec *spec, jn_err *err);

static int parse_list(const json_t *root, const char *key, parse_elem_fn parse, jn_pipeline_spec *spec,
                      jn_err *err)
{
    const json_t *arr = NULL;
    int rc = get_array(root, "", key, &arr, err);
    if (rc)
        return rc;
    char p[PATH_MAX_LEN];
    for (size_t i = 0; i < json_array_size(arr); i++) {
        child_index(p, key, i);
        if ((rc = parse(json_array_get(arr, i), p, spec, err)))
            return rc;
    }
    return 0;
}

/* "models": {"<step id or model name>": {serving config}}: checked here (model_config.h), applied by the compiler. */
static int parse_models(const json_t *root, jn_pipeline_spec *spec, jn_err *err)
{
    const json_t *models = json_object_get(root, "models");
    if (!models)
        return 0;
    if (!json_is_object(models))
        return jn__json_bad(err, "models", "expected an object (step id or model name -> its serving), got %s",
                   jn__json_type_of(models));
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)models, key, v) {
        char p[PATH_MAX_LEN];
        child_key(p, "models", key);
        if (!*key)
            return jn__json_bad(err, "models", "a key is empty");
        if (!json_is_object(v))
            return jn__json_bad(err, p, "expected an object, got %s", jn__json_type_of(v));
        const char *k;
        json_t *f;
        json_object_foreach(v, k, f) {
            if (!jn_model_config_key(k))
                return jn__json_bad(err, p, "'%s' is not a field (dynamic_batching, instances)", k);
        }
        if (json_object_get(v, "response_cache"))
            return jn__json_bad(err, p, "response_cache: a pipeline is cached as a whole (its own configuration), not per step");
        jn_model_config cfg;
        jn_err cerr;
        jn_err_clear(&cerr);
        if (jn_model_config_parse(v, p, &cfg, &cerr))
            return jn_err_set(err, JN_EINVAL, "%s", cerr.msg);
        char *text = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
        int rc = text ? jn_pipeline_spec_add_serving(spec, key, text) : JN_ENOMEM;
        free(text);
        if (rc)
            return oom(err);
    }
    return 0;
}

static int parse_root(const json_t *root, jn_pipeline_spec *spec, jn_err *err)
{
    static const char *const known[] = {"name", "description", "inputs", "steps", "outputs", "models", NULL};
    const char *name, *description;
    int rc;
    if (!json_is_object(root))
        return jn__json_bad(err, "", "expected an object at the top level, got %s", jn__json_type_of(root));
    if ((rc = check_fields(root, "", known, err)) ||
        (rc = get_string(root, "", "name", REQUIRED | NONEMPTY, &name, err)) ||
        (rc = get_string(root, "", "description", OPTIONAL, &description, err)))
        return rc;
    if (jn_pipeline_spec_set_name(spec, name, description))
        return oom(err);
    if ((rc = parse_list(root, "inputs", parse_input, spec, err)) ||
        (rc = parse_list(root, "steps", parse_step, spec, err)) ||
        (rc = parse_list(root, "outputs", parse_output, spec, err)))
        return rc;
    return parse_models(root, spec, err);
}

int jn_pipeline_spec_from_json(const char *text, size_t len, jn_pipeline_spec *spec, jn_err *err)
{
    jn_pipeline_spec_init(spec);
    if (!text)
        text = "";
    if (len > PIPELINE_JSON_MAX_BYTES)
        return jn__json_bad(err, "", "the text is %zu bytes, more than the limit of %zu MiB", len,
                   PIPELINE_JSON_MAX_BYTES >> 20);
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        if (jerr.line > 0 && jerr.column >= 0)
            return jn__json_bad(err, "", "line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
        return jn__json_bad(err, "", "%s", jerr.text);
    }
    int rc = parse_root(root, spec, err);
    json_decref(root);
    if (rc)
        jn_pipeline_spec_free(spec);
    return rc;
}

/* to_json ---------------------------------------------------------------------------------------------------- */

/* json_object_set_new / json_array_append_new take the value's reference even when they fail. */
static bool put(json_t *obj, const char *key, json_t *v)
{
    return v && json_object_set_new(obj, key, v) == 0;
}

static bool push(json_t *arr, json_t *v)
{
    return v && json_array_append_new(arr, v) == 0;
}

static json_t *str(const char *s)
{
    return json_string(s ? s : "");
}



static json_t *binding_json(const jn_binding *b, int *digits)
{
    if (b->cast == JN_DTYPE_INVALID && !b->has_scale && b->offset == 0)
        return str(b->from);
    json_t *o = json_object();
    if (!o)
        return NULL;
    bool ok = put(o, "from", str(b->from));
    if (ok && b->cast != JN_DTYPE_INVALID)
        ok = put(o, "cast", str(jn_dtype_name(b->cast)));
    if (ok && b->has_scale) {
        ok = put(o, "scale", json_real(b->scale));
        if (jn__json_digits_for(b->scale) > *digits)
            *digits = jn__json_digits_for(b->scale);
    }
    if (ok && b->offset != 0) {
        ok = put(o, "offset", json_real(b->offset));
        if (jn__json_digits_for(b->offset) > *digits)
            *digits = jn__json_digits_for(b->offset);
    }
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *input_json(const jn_port *port)
{
    json_t *o = json_object(), *shape = json_array();
    bool ok = o && shape && put(o, "name", str(port->name)) && put(o, "kind", str(jn_kind_name(port->kind))) &&
              put(o, "datatype", str(jn_dtype_name(port->dtype)));
    for (int i = 0; ok && i < port->ndim; i++)
        ok = push(shape, json_integer((json_int_t)port->shape[i]));
    ok = ok && put(o, "shape", json_incref(shape));
    json_decref(shape);
    if (ok && port->n_labels) {
        json_t *labels = json_array();
        ok = labels != NULL;
        for (size_t i = 0; ok && i < port->n_labels; i++)
            ok = push(labels, str(port->labels[i]));
        if (ok)
            ok = put(o, "labels", labels); /* takes labels, also on failure */
        else
            json_decref(labels);
    }
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *step_json(const jn_step_spec *s, int *digits)
{
    json_t *o = json_object(), *inputs = json_object();
    bool ok = o && inputs && put(o, "id", str(s->id));
    if (ok && s->route) {
        json_t *rt = json_loads(s->route, 0, NULL);
        if (rt)
            jn__json_value_digits(rt, digits);
        ok = put(o, "route", rt);
    } else if (ok) {
        ok = put(o, "model", str(s->model));
    }
    if (ok && s->version && *s->version)
        ok = put(o, "version", str(s->version));
    for (size_t k = 0; ok && k < s->n_inputs; k++)
        ok = put(inputs, s->inputs[k].port ? s->inputs[k].port : "", binding_json(&s->inputs[k], digits));
    ok = ok && put(o, "inputs", json_incref(inputs));
    json_decref(inputs);
    if (ok && s->when) {
        json_t *when = json_loads(s->when, 0, NULL);
        if (when)
            jn__json_value_digits(when, digits);
        ok = put(o, "when", when);
    }
    if (ok && s->params) {
        json_t *params = json_loads(s->params, 0, NULL);
        if (params)
            jn__json_value_digits(params, digits);
        ok = put(o, "parameters", params);
    }
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *output_json(const jn_output_spec *out)
{
    json_t *o = json_object();
    bool ok = o && put(o, "name", str(out->name));
    if (ok && out->n_more_from) {
        json_t *from = json_array();
        ok = from && push(from, str(out->from));
        for (size_t i = 0; ok && i < out->n_more_from; i++)
            ok = push(from, str(out->more_from[i]));
        if (ok)
            ok = put(o, "from", from);
        else
            json_decref(from);
    } else if (ok) {
        ok = put(o, "from", str(out->from));
    }
    if (ok && out->optional)
        ok = put(o, "optional", json_true());
    if (ok)
        return o;
    json_decref(o);
    return NULL;
}

/* Does the array opening at text[0] hold only scalars (no object or array inside)? */
static bool scalar_array(const char *text)
{
    bool in_str = false;
    for (const char *c = text + 1; *c; c++) {
        if (in_str) {
            if (*c == '\\' && c[1])
                c++;
            else if (*c == '"')
                in_str = false;
        } else if (*c == '"') {
            in_str = true;
        } else if (*c == '[' || *c == '{') {
            return false;
        } else if (*c == ']') {
            return true;
        }
    }
    return false;
}

/* jansson's indented output puts every array element on its own line; shapes and labels read better as
 * [-1, 28, 28]. Rewrites arrays of scalars onto one line, in place (the text only gets shorter). Outside strings
 * the only whitespace in jansson's output is its formatting, and strings hold no raw newlines. */
static void inline_scalar_arrays(char *text)
{
    size_t r = 0, w = 0;
    bool in_str = false;
    int array = 0; /* inside an array being inlined */
    while (text[r]) {
        char c = text[r++];
        if (in_str) {
            text[w++] = c;
            if (c == '\\' && text[r])
                text[w++] = text[r++];
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (c == '"') {
            in_str = true;
        } else if (c == '[' && !array && scalar_array(text + r - 1)) {
            array = 1;
        } else if (array && (c == ' ' || c == '\n')) {
            continue;
        } else if (array && c == ',') {
            text[w++] = ',';
            c = ' ';
        } else if (array && c == ']') {
            array = 0;
        }
        text[w++] = c;
    }
    text[w] = '\0';
}

char *jn_pipeline_spec_to_json(const jn_pipeline_spec *spec, bool pretty)
{
    int digits = 1;
    json_t *root = json_object(), *inputs = json_array(), *steps = json_array(), *outputs = json_array();
    bool ok = root && inputs && steps && outputs && put(root, "name", str(spec->name));
    if (ok && spec->description)
        ok = put(root, "description", str(spec->description));
    for (size_t i = 0; ok && i < spec->inputs.n_inputs; i++)
        ok = push(inputs, input_json(&spec->inputs.inputs[i]));
    for (size_t i = 0; ok && i < spec->n_steps; i++)
        ok = push(steps, step_json(&spec->steps[i], &digits));
    for (size_t i = 0; ok && i < spec->n_outputs; i++)
        ok = push(outputs, output_json(&spec->outputs[i]));
    ok = ok && put(root, "inputs", json_incref(inputs)) && put(root, "steps", json_incref(steps)) &&
         put(root, "outputs", json_incref(outputs));
    if (ok && spec->n_models) {
        json_t *models = json_object();
        ok = models != NULL;
        for (size_t i = 0; ok && i < spec->n_models; i++) {
            json_t *one = json_loads(spec->models[i].json, 0, NULL);
            ok = one && json_object_set_new(models, spec->models[i].key, one) == 0;
        }
        if (ok)
            ok = put(root, "models", models); /* takes models, also on failure */
        else
            json_decref(models);
    }
    json_decref(inputs);
    json_decref(steps);
    json_decref(outputs);
    char *text = NULL;
    if (ok) {
        size_t flags = (pretty ? JSON_INDENT(2) : JSON_COMPACT) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(digits);
        text = json_dumps(root, flags);
        if (text && pretty)
            inline_scalar_arrays(text);
    }
    json_decref(root);
    return text;
}
