/* simple_json.c — POST /v1/models/{name}:predict: JSON in the shapes people already write, through the same
 * request and executor as every other front end.
 *
 * Request (one instance):
 *   {"text": "..."}            -> the model's input named "text", else its single TEXT input
 *   {"image": "<base64>"}      -> the model's input named "image", else its single IMAGE input; the decoded bytes
 *                                 (PNG, JPEG, ... a later adapter decodes them) are one BYTES element.
 *   {"image": "https://..."}   -> a string starting with http://, https:// or data: is a URL: fetched (broker/fetch:
 *                                 --fetch-allow, limits, Content-Type image/...) or decoded (data:) before the engine
 *                                 runs, on the worker that runs the call (the router never runs a body that may
 *                                 hold a URL on its loop thread).
 *   {"audio": "<base64>"}      -> the model's input named "audio", else its single AUDIO or AUDIO_TENSOR input: the
 *                                 decoded bytes (WAV, FLAC, Ogg/Vorbis, MP3) are one BYTES element, decoded by the
 *                                 broker (an AUDIO_TENSOR port gets them converted to its samples and rate); a URL
 *                                 is fetched as for an image, with Content-Type audio/... (JN_FETCH_AUDIO).
 *   {"<port>": value, ...}     -> any declared input by name. Numbers and nested arrays for numeric ports (shape
 *                                 from the nesting, converted to the port's datatype with a range check), strings
 *                                 for TEXT and other BYTES ports, true/false for BOOL. Leading dimensions of 1 are
 *                                 added when the value has a lower rank than the port: [1, 2, 3] for an FP32[-1,-1]
 *                                 port is [[1, 2, 3]], a single string for a TEXT[-1] port is ["..."].
 *   "parameters": {...}        -> request parameters (unless the model has an input of that name).
 * Batches: {"instances": [instance, ...], "parameters"?: {...}} -> {"predictions": [answer, ...]}. Each instance
 * is its own request, run one after the other on the same worker, all or nothing (the first failure answers, its
 * message prefixed with "instances[i]"): instances may differ in shape, and each is validated exactly as a single
 * request is. An instance that is not an object is the value of the model's only input.
 *
 * Answer (one request):
 *   - a model whose only output is CLASSIFICATION with labels: {"label": top-1, "score": its score}, plus
 *     "scores": [{"label", "score"}, ...] in descending order with ?all=1; a list of those when the scores hold
 *     several rows;
 *   - otherwise {"<output>": value, ...} for every output: a CLASSIFICATION value as above, a TEXT value as a string
 *     (one element) or a nested list of strings, IMAGE and non-UTF-8 BYTES in base64, everything else a nested
 *     array per the output's shape (a number for rank 0).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "rest.h"

static int oom(jn_err *err)
{
    return jn_err_set(err, JN_ENOMEM, "out of memory");
}

static void list_inputs(char *buf, size_t n, const jn_engine *e)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < e->sig.n_inputs && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s'%s'", i ? ", " : "", e->sig.inputs[i].name);
}

/* The input a key of the simple form feeds. */
static const jn_port *port_for_key(const jn_engine *e, const char *key, jn_err *err)
{
    const jn_port *p = jn_signature_find_input(&e->sig, key);
    if (p)
        return p;
    char list[512];
    list_inputs(list, sizeof list, e);
    jn_kind kind = strcmp(key, "text") == 0    ? JN_KIND_TEXT
                   : strcmp(key, "image") == 0 ? JN_KIND_IMAGE
                   : strcmp(key, "audio") == 0 ? JN_KIND_AUDIO
                                               : JN_KIND_INVALID;
    if (kind == JN_KIND_INVALID) {
        jn_err_set(err, JN_EINVAL, "no input '%s' (the model's inputs are %s)", key, list);
        return NULL;
    }
    size_t found = 0;
    for (size_t i = 0; i < e->sig.n_inputs; i++)
        if ((e->sig.inputs[i].kind == kind ||
             (kind == JN_KIND_AUDIO && e->sig.inputs[i].kind == JN_KIND_AUDIO_TENSOR)) &&
            found++ == 0)
            p = &e->sig.inputs[i];
    if (found == 1)
        return p;
    if (found == 0)
        jn_err_set(err, JN_EINVAL, "no %s input to take \"%s\" (the model's inputs are %s)", jn_kind_name(kind),
                   key, list);
    else
        jn_err_set(err, JN_EINVAL, "%zu %s inputs could take \"%s\": name the one meant (the model's inputs are %s)",
                   found, jn_kind_name(kind), key, list);
    return NULL;
}

/* Base64 image leaves, decoded; URLs fetched. */
typedef struct images {
    const char *input;
    bool audio; /* AUDIO (or encoded audio for an AUDIO_TENSOR port), else IMAGE */
    const jn_rest_fetch *fetch;
    char **bufs;
    size_t *lens;
} images;

static int image_url(images *im, const char *s, size_t n, size_t index, jn_err *err)
{
    const jn_rest_fetch *f = im->fetch;
    char what[160];
    snprintf(what, sizeof what, "input '%s': value[%zu]", im->input, index);
    jn_fetched got;
    int rc = jn_fetch(f ? f->fetcher : NULL, s, n, im->audio ? JN_FETCH_AUDIO : JN_FETCH_IMAGE, what, f ? f->deadline_ns : 0,
                      f ? f->cancelled : NULL, &got, err);
    if (rc)
        return rc;
    im->bufs[index] = (char *)got.data;
    im->lens[index] = got.len;
    return 0;
}

static int image_leaf(void *arg, const json_t *leaf, size_t index, jn_err *err)
{
    images *im = arg;
    if (!json_is_string(leaf))
        return jn_err_set(err, JN_EINVAL, "input '%s': value[%zu] is %s, expected a base64 string (%s)",
                          im->input, index, jn__json_kind(leaf), im->audio ? "AUDIO" : "IMAGE");
    const char *s = json_string_value(leaf);
    size_t n = json_string_length(leaf), skip = 0;
    if (jn_fetch_is_url(s, n))
        return image_url(im, s, n, index, err);
    size_t bad, len;
    uint8_t *bytes = jn_base64_decode(s + skip, n - skip, &len, &bad);
    if (!bytes) {
        if (bad == SIZE_MAX)
            return oom(err);
        if (bad >= n - skip)
            return jn_err_set(err, JN_EINVAL, "input '%s': value[%zu] is not valid base64 (it ends mid-byte)",
                              im->input, index);
        return jn_err_set(err, JN_EINVAL, "input '%s': value[%zu] is not valid base64 (character %zu)", im->input,
                          index, skip + bad);
    }
    im->bufs[index] = (char *)bytes;
    im->lens[index] = len;
    return 0;
}

static int image_tensor(const json_t *v, const char *name, bool audio, const jn_rest_fetch *fetch, int ndim,
                        const int64_t *shape, jn_tensor **out, jn_err *err)
{
    int rc = jn__json_walk_data(v, ndim, shape, name, "value", NULL, NULL, err);
    if (rc)
        return rc;
    size_t count = (size_t)jn_shape_element_count(ndim, shape);
    images im = {name, audio, fetch, calloc(count ? count : 1, sizeof(char *)), calloc(count ? count : 1, sizeof(size_t))};
    if (!im.bufs || !im.lens)
        rc = oom(err);
    if (!rc)
        rc = jn__json_walk_data(v, ndim, shape, name, "value", image_leaf, &im, err);
    if (!rc && !(*out = jn_tensor_from_strings(name, ndim, shape, (const char *const *)im.bufs, im.lens, count, err)))
        rc = err->code ? err->code : JN_ENOMEM;
    for (size_t i = 0; im.bufs && i < count; i++)
        free(im.bufs[i]);
    free(im.bufs);
    free(im.lens);
    return rc;
}

static int value_tensor(const jn_port *port, const json_t *v, const jn_rest_fetch *fetch, jn_tensor **out,
                        jn_err *err)
{
    *out = NULL;
    int ndim;
    int64_t shape[JN_MAX_DIMS];
    int rc = jn__json_infer_shape(v, &ndim, shape, port->name, "value", err);
    if (rc)
        return rc;
    if (port->kind == JN_KIND_IMAGE || port->kind == JN_KIND_AUDIO)
        rc = image_tensor(v, port->name, port->kind == JN_KIND_AUDIO, fetch, ndim, shape, out, err);
    else if (port->kind == JN_KIND_AUDIO_TENSOR && (json_is_string(v) || (json_is_array(v) &&
                                                                         json_is_string(json_array_get(v, 0))))) {
        /* encoded audio (BYTES [n], one clip per string), converted by the broker to the port's samples */
        rc = image_tensor(v, port->name, true, fetch, ndim, shape, out, err);
        if (!rc && (*out)->ndim == 0) {
            (*out)->ndim = 1;
            (*out)->shape[0] = 1;
        }
        return rc;
    } else
        rc = jn__json_to_tensor(v, port->name, port->dtype, ndim, shape, "value", out, err);
    if (rc)
        return rc;
    /* Leading dimensions of 1 up to the port's rank: the elements stay where they are. */
    jn_tensor *t = *out;
    if (t->ndim < port->ndim) {
        int add = port->ndim - t->ndim;
        memmove(t->shape + add, t->shape, (size_t)t->ndim * sizeof t->shape[0]);
        for (int k = 0; k < add; k++)
            t->shape[k] = 1;
        t->ndim = port->ndim;
    }
    return 0;
}

static int add_input(const jn_port *port, const char *key, const json_t *v, const jn_rest_fetch *fetch,
                     jn_request *req, jn_err *err)
{
    if (jn_tensor_list_find(&req->inputs, port->name))
        return jn_err_set(err, JN_EINVAL, "input '%s' is given twice (\"%s\" names it too)", port->name, key);
    jn_tensor *t;
    int rc = value_tensor(port, v, fetch, &t, err);
    if (rc)
        return rc;
    return jn_tensor_list_push(&req->inputs, t) ? oom(err) : 0;
}

int jn_rest_predict_decode(const jn_engine *e, const json_t *instance, const json_t *params,
                           const jn_rest_fetch *fetch, jn_request *req, jn_err *err)
{
    int rc;
    if (params) {
        if (!json_is_object(params))
            return jn_err_set(err, JN_EINVAL, "parameters must be an object, got %s", jn__json_kind(params));
        const char *key;
        const json_t *v;
        json_object_foreach((json_t *)params, key, v) {
            if ((rc = jn__json_set_param(&req->params, key, v, err)))
                return rc;
        }
    }
    if (!json_is_object(instance)) {
        if (e->sig.n_inputs != 1)
            return jn_err_set(err, JN_EINVAL,
                              "the model has %zu inputs: give the instance as an object naming them, got %s",
                              e->sig.n_inputs, jn__json_kind(instance));
        return add_input(&e->sig.inputs[0], e->sig.inputs[0].name, instance, fetch, req, err);
    }
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)instance, key, v) {
        if (strcmp(key, "parameters") == 0 && !jn_signature_find_input(&e->sig, key))
            continue;
        const jn_port *port = port_for_key(e, key, err);
        if (!port)
            return err->code;
        if ((rc = add_input(port, key, v, fetch, req, err)))
            return rc;
    }
    return 0;
}

/* ---- answers ---- */

static json_t *class_row(const jn_port *port, const jn_tensor *t, size_t row, bool all_scores)
{
    size_t n = port->n_labels, top = 0;
    const float *s = (const float *)t->data + row * n;
    for (size_t k = 1; k < n; k++)
        if (s[k] > s[top])
            top = k;
    json_t *o = json_pack("{s:o, s:o}", "label", jn__json_text(port->labels[top]), "score",
                          jn__json_elem(t, row * n + top));
    if (!o || !all_scores)
        return o;
    size_t *order = malloc(n * sizeof *order);
    json_t *list = json_array();
    bool bad = !order || !list;
    for (size_t i = 0; !bad && i < n; i++) { /* insertion sort, descending: label lists are short */
        size_t k = i;
        while (k > 0 && s[order[k - 1]] < s[i]) {
            order[k] = order[k - 1];
            k--;
        }
        order[k] = i;
    }
    for (size_t i = 0; !bad && i < n; i++)
        bad = json_array_append_new(list, json_pack("{s:o, s:o}", "label", jn__json_text(port->labels[order[i]]),
                                                    "score", jn__json_elem(t, row * n + order[i]))) != 0;
    free(order);
    if (bad || json_object_set_new(o, "scores", list)) {
        if (bad)
            json_decref(list);
        json_decref(o);
        return NULL;
    }
    return o;
}

static bool is_classification(const jn_port *port, const jn_tensor *t)
{
    int64_t count = jn_tensor_element_count(t);
    return port && port->kind == JN_KIND_CLASSIFICATION && port->n_labels && t->dtype == JN_DTYPE_FP32 &&
           count > 0 && count % (int64_t)port->n_labels == 0;
}

static json_t *classification_value(const jn_port *port, const jn_tensor *t, bool all_scores)
{
    size_t rows = (size_t)jn_tensor_element_count(t) / port->n_labels;
    if (rows == 1)
        return class_row(port, t, 0, all_scores);
    json_t *a = json_array();
    for (size_t r = 0; a && r < rows; r++)
        if (json_array_append_new(a, class_row(port, t, r, all_scores))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static json_t *output_value(const jn_port *port, const jn_tensor *t, bool all_scores)
{
    if (is_classification(port, t))
        return classification_value(port, t, all_scores);
    if (t->dtype == JN_DTYPE_BYTES) {
        bool base64 = (port && (port->kind == JN_KIND_IMAGE || port->kind == JN_KIND_AUDIO)) ||
                      jn__tensor_needs_binary(t, true);
        if (port && port->kind == JN_KIND_TEXT && jn_tensor_element_count(t) == 1 && !base64) {
            size_t pos = 0;
            const uint8_t *elem;
            uint32_t len;
            if (jn_bytes_next(t->data, t->byte_size, &pos, &elem, &len))
                return json_stringn((const char *)elem, len);
        }
        return jn__tensor_to_json(t, false, base64);
    }
    return jn__tensor_to_json(t, false, false);
}

json_t *jn_rest_predict_answer(const jn_engine *e, const jn_tensor_list *outputs, bool all_scores)
{
    if (outputs->count == 1) {
        const jn_tensor *t = outputs->items[0];
        const jn_port *port = jn_engine_find_output(e, t->name);
        if (is_classification(port, t))
            return classification_value(port, t, all_scores);
    }
    json_t *o = json_object();
    for (size_t i = 0; o && i < outputs->count; i++) {
        const jn_tensor *t = outputs->items[i];
        if (json_object_set_new(o, t->name, output_value(jn_engine_find_output(e, t->name), t, all_scores))) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

/* One request on the call's model: decode the instance, validate and run it, answer. */
static int run_one(jn_call *c, const json_t *instance, const json_t *params, const jn_fetcher *fetcher,
                   bool all_scores, json_t **answer, bool *fp64, jn_err *err)
{
    const char *model = c->engine->name;
    jn_request req;
    jn_request_init(&req);
    jn_tensor_list outputs;
    jn_tensor_list_init(&outputs);
    int rc = jn_request_set_target(&req, model, "", "") ? oom(err) : 0;
    jn_rest_fetch fetch = {fetcher, c->req.deadline_ns, c->cancelled};
    if (!rc && (rc = jn_rest_predict_decode(c->engine, instance, params, &fetch, &req, err)))
        jn_err_prefix(err, "model '%s'", model);
    if (!rc)
        rc = jn_call_exec(c, &req, &outputs, err);
    if (!rc) {
        *answer = jn_rest_predict_answer(c->engine, &outputs, all_scores);
        if (!*answer)
            rc = jn_err_set(err, JN_ENOMEM, "out of memory encoding the answer of '%s'", model);
        *fp64 |= jn__json_real_flags(&outputs) == JSON_REAL_PRECISION(17);
    }
    jn_tensor_list_clear(&outputs);
    jn_request_clear(&req);
    return rc;
}

int jn_rest_predict_parse(jn_call *c, const uint8_t *body, size_t len, json_t **doc, jn_err *err)
{
    const char *model = c->engine->name;
    json_error_t je;
    *doc = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!*doc)
        return jn_err_set(err, JN_EINVAL, "model '%s': request JSON: line %d, column %d: %s", model, je.line,
                          je.column, je.text);
    if (!json_is_object(*doc))
        return jn_err_set(err, JN_EINVAL, "model '%s': request JSON: expected an object at the top level, got %s",
                          model, jn__json_kind(*doc));
    /* The dispatcher validates and times the call under this name, and reads its parameters (a stateful model's
     * sequence_id: core/sequence.h; the instances of one call are then steps of that sequence, in order). */
    if (jn_request_set_target(&c->req, model, c->engine->version, ""))
        return oom(err);
    const json_t *params = jn_signature_find_input(&c->engine->sig, "parameters") ? NULL
                                                                                   : json_object_get(*doc, "parameters");
    if (json_is_object(params)) {
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)params, key, v) {
            int rc = jn__json_set_param(&c->req.params, key, v, err);
            if (rc)
                return rc;
        }
    }
    return 0;
}

int jn_rest_predict_run(jn_call *c, const json_t *doc, const jn_fetcher *fetcher, bool all_scores, json_t **result,
                        bool *fp64, jn_err *err)
{
    const jn_engine *e = c->engine;
    const char *model = e->name;
    *result = NULL;
    /* "instances" and "parameters" are keywords unless the model has an input of that name. */
    const json_t *params = jn_signature_find_input(&e->sig, "parameters") ? NULL : json_object_get(doc, "parameters");
    const json_t *instances = jn_signature_find_input(&e->sig, "instances") ? NULL : json_object_get(doc, "instances");
    if (!instances)
        return run_one(c, doc, params, fetcher, all_scores, result, fp64, err);
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)doc, key, v) {
        if (strcmp(key, "instances") != 0 && strcmp(key, "parameters") != 0)
            return jn_err_set(err, JN_EINVAL, "model '%s': with \"instances\", the only other key may be "
                              "\"parameters\", got \"%s\"", model, key);
    }
    if (!json_is_array(instances))
        return jn_err_set(err, JN_EINVAL, "model '%s': instances must be an array, got %s", model,
                          jn__json_kind(instances));
    json_t *predictions = json_array();
    if (!predictions || !(*result = json_pack("{s:o}", "predictions", predictions)))
        return oom(err);
    size_t i;
    json_array_foreach(instances, i, v) {
        json_t *answer = NULL;
        int rc = run_one(c, v, params, fetcher, all_scores, &answer, fp64, err);
        if (rc) {
            jn_err_prefix(err, "instances[%zu]", i);
            return rc;
        }
        if (json_array_append_new(predictions, answer))
            return oom(err);
    }
    return 0;
}
