#include "signature.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {
    [JN_KIND_INVALID] = "INVALID", [JN_KIND_TENSOR] = "TENSOR",
    [JN_KIND_TEXT] = "TEXT",       [JN_KIND_IMAGE] = "IMAGE",
    [JN_KIND_IMAGE_TENSOR] = "IMAGE_TENSOR", [JN_KIND_CLASSIFICATION] = "CLASSIFICATION",
    [JN_KIND_EMBEDDING] = "EMBEDDING", [JN_KIND_AUDIO] = "AUDIO",
    [JN_KIND_AUDIO_TENSOR] = "AUDIO_TENSOR",
};
_Static_assert(sizeof kind_names / sizeof kind_names[0] == JN_KIND_COUNT, "kind_names must cover jn_kind");

const char *jn_kind_name(jn_kind kind)
{
    return (unsigned)kind < JN_KIND_COUNT ? kind_names[kind] : "INVALID";
}

bool jn_kind_is_bytes(jn_kind kind)
{
    return kind == JN_KIND_TEXT || kind == JN_KIND_IMAGE || kind == JN_KIND_AUDIO;
}

static jn_kind_check_fn _Atomic kind_checks[JN_KIND_COUNT];

void jn_kind_set_check(jn_kind kind, jn_kind_check_fn fn)
{
    if ((unsigned)kind < JN_KIND_COUNT)
        atomic_store(&kind_checks[kind], fn);
}

jn_kind_check_fn jn_kind_get_check(jn_kind kind)
{
    return (unsigned)kind < JN_KIND_COUNT ? atomic_load(&kind_checks[kind]) : NULL;
}

jn_kind jn_kind_from_name(const char *name)
{
    for (int i = 1; name && i < JN_KIND_COUNT; i++)
        if (strcmp(name, kind_names[i]) == 0)
            return (jn_kind)i;
    return JN_KIND_INVALID;
}

void jn_signature_init(jn_signature *sig)
{
    memset(sig, 0, sizeof *sig);
}

static void port_free(jn_port *p)
{
    free(p->name);
    for (size_t i = 0; i < p->n_labels; i++)
        free(p->labels[i]);
    free(p->labels);
    free(p->description);
    jn_tensor_free(p->default_value);
}

void jn_signature_free(jn_signature *sig)
{
    for (size_t i = 0; i < sig->n_inputs; i++)
        port_free(&sig->inputs[i]);
    for (size_t i = 0; i < sig->n_outputs; i++)
        port_free(&sig->outputs[i]);
    free(sig->inputs);
    free(sig->outputs);
    jn_signature_init(sig);
}

static const jn_port *find_port(const jn_port *ports, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(ports[i].name, name) == 0)
            return &ports[i];
    return NULL;
}

const jn_port *jn_signature_find_input(const jn_signature *sig, const char *name)
{
    return find_port(sig->inputs, sig->n_inputs, name);
}

const jn_port *jn_signature_find_output(const jn_signature *sig, const char *name)
{
    return find_port(sig->outputs, sig->n_outputs, name);
}

static int add_port(jn_port **ports, size_t *n, const char *name, jn_kind kind, jn_dtype dtype, int ndim,
                    const int64_t *shape, jn_err *err)
{
    if (!name || !*name)
        return jn_err_set(err, JN_EINVAL, "port name is empty");
    if (find_port(*ports, *n, name))
        return jn_err_set(err, JN_EEXIST, "port '%s' is declared twice", name);
    if (ndim < 0 || ndim > JN_MAX_DIMS)
        return jn_err_set(err, JN_EINVAL, "port '%s': rank %d is outside 0..%d", name, ndim, JN_MAX_DIMS);
    if ((unsigned)kind >= JN_KIND_COUNT || kind == JN_KIND_INVALID)
        return jn_err_set(err, JN_EINVAL, "port '%s': invalid kind", name);
    if (dtype <= JN_DTYPE_INVALID || dtype >= JN_DTYPE_COUNT)
        return jn_err_set(err, JN_EINVAL, "port '%s': invalid datatype", name);
    if (jn_kind_is_bytes(kind) && dtype != JN_DTYPE_BYTES)
        return jn_err_set(err, JN_EINVAL, "port '%s': kind %s needs datatype BYTES, got %s", name,
                          jn_kind_name(kind), jn_dtype_name(dtype));
    for (int i = 0; i < ndim; i++)
        if (shape[i] < -1)
            return jn_err_set(err, JN_EINVAL, "port '%s': dimension %d is %lld (use -1 for any size)", name, i,
                              (long long)shape[i]);
    jn_port *grown = realloc(*ports, (*n + 1) * sizeof *grown);
    if (!grown)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    *ports = grown;
    jn_port *p = &grown[*n];
    memset(p, 0, sizeof *p);
    if (!(p->name = strdup(name)))
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    p->kind = kind;
    p->dtype = dtype;
    p->ndim = ndim;
    if (ndim)
        memcpy(p->shape, shape, (size_t)ndim * sizeof *shape);
    (*n)++;
    return 0;
}

int jn_signature_add_input(jn_signature *sig, const char *name, jn_kind kind, jn_dtype dtype, int ndim,
                           const int64_t *shape, jn_err *err)
{
    return add_port(&sig->inputs, &sig->n_inputs, name, kind, dtype, ndim, shape, err);
}

int jn_signature_add_output(jn_signature *sig, const char *name, jn_kind kind, jn_dtype dtype, int ndim,
                            const int64_t *shape, jn_err *err)
{
    return add_port(&sig->outputs, &sig->n_outputs, name, kind, dtype, ndim, shape, err);
}

int jn_port_set_default(jn_port *port, jn_tensor *t, jn_err *err)
{
    if (!t)
        return jn_err_set(err, JN_EINVAL, "input '%s': no default value", port->name);
    int rc = jn_port_check_tensor("", "input", port, t, NULL);
    if (rc) {
        char want[160], got[160];
        jn_format_type(want, sizeof want, port->dtype, port->ndim, port->shape);
        jn_format_type(got, sizeof got, t->dtype, t->ndim, t->shape);
        jn_tensor_free(t);
        return jn_err_set(err, JN_EINVAL, "input '%s': default %s does not fit %s", port->name, got, want);
    }
    jn_tensor_free(port->default_value);
    port->default_value = t;
    return 0;
}

int jn_port_set_labels(jn_port *port, const char *const *labels, size_t n, jn_err *err)
{
    char **copy = calloc(n ? n : 1, sizeof *copy);
    if (!copy)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (!(copy[i] = strdup(labels[i]))) {
            for (size_t j = 0; j < i; j++)
                free(copy[j]);
            free(copy);
            return jn_err_set(err, JN_ENOMEM, "out of memory");
        }
    }
    for (size_t i = 0; i < port->n_labels; i++)
        free(port->labels[i]);
    free(port->labels);
    port->labels = copy;
    port->n_labels = n;
    return 0;
}

bool jn_utf8_valid(const uint8_t *s, size_t n, size_t *bad_offset)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t len;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            goto bad;
        }
        if (len > n - i)
            goto bad;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                goto bad;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            goto bad;
        i += len;
    }
    return true;
bad:
    if (bad_offset)
        *bad_offset = i;
    return false;
}

static bool shape_fits(const jn_port *port, const jn_tensor *t)
{
    if (port->ndim != t->ndim)
        return false;
    for (int i = 0; i < port->ndim; i++)
        if (port->shape[i] != -1 && port->shape[i] != t->shape[i])
            return false;
    return true;
}

/* Runs a kind's registered check on every element of a BYTES tensor; the message names the model and the port
 * (with the element's index when there are several). */
static int check_elements(const char *model, const jn_port *port, const jn_tensor *t, jn_kind_check_fn check,
                          jn_err *err)
{
    int64_t n = jn_bytes_count(t->data, t->byte_size);
    size_t pos = 0;
    const uint8_t *elem;
    uint32_t len;
    for (int64_t i = 0; jn_bytes_next(t->data, t->byte_size, &pos, &elem, &len); i++) {
        char what[200];
        if (n == 1)
            snprintf(what, sizeof what, "%s", port->name);
        else
            snprintf(what, sizeof what, "%s[%lld]", port->name, (long long)i);
        jn_err e;
        jn_err_clear(&e);
        int rc = check(elem, len, what, &e);
        if (rc)
            return jn_err_set(err, rc, "model '%s': %s", model, e.msg);
    }
    return 0;
}

/* An AUDIO_TENSOR input given encoded audio (BYTES [n]): accepted when the audio check is registered (the
 * executor converts it before the engine runs, jn_exec_engine); every element is probed now. */
static int check_audio_for_tensor(const char *model, const jn_port *port, const jn_tensor *t, jn_err *err)
{
    jn_kind_check_fn check = jn_kind_get_check(JN_KIND_AUDIO);
    if (!check || t->ndim != 1) {
        char want[160], got[160];
        jn_format_type(want, sizeof want, port->dtype, port->ndim, port->shape);
        jn_format_type(got, sizeof got, t->dtype, t->ndim, t->shape);
        return jn_err_set(err, JN_EINVAL, "model '%s': input '%s' expects %s samples or encoded audio as BYTES[n], "
                                          "got %s%s", model, port->name, want, got,
                          check ? "" : " (this build has no audio decoder)");
    }
    return check_elements(model, port, t, check, err);
}

int jn_port_check_tensor(const char *model, const char *direction, const jn_port *port, const jn_tensor *t,
                         jn_err *err)
{
    /* This runs for every input and output of every step: the messages are formatted only on failure. */
    if (t->dtype != port->dtype || t->ndim != port->ndim || !shape_fits(port, t)) {
        char want[160], got[160];
        jn_format_type(want, sizeof want, port->dtype, port->ndim, port->shape);
        jn_format_type(got, sizeof got, t->dtype, t->ndim, t->shape);
        if (t->dtype != port->dtype)
            return jn_err_set(err, JN_EINVAL, "model '%s': %s '%s' expects datatype %s (%s), got %s (%s)", model,
                              direction, port->name, jn_dtype_name(port->dtype), want, jn_dtype_name(t->dtype), got);
        if (t->ndim != port->ndim)
            return jn_err_set(err, JN_EINVAL, "model '%s': %s '%s' expects rank %d (%s), got rank %d (%s)", model,
                              direction, port->name, port->ndim, want, t->ndim, got);
        return jn_err_set(err, JN_EINVAL, "model '%s': %s '%s' expects shape %s, got %s", model, direction,
                          port->name, want, got);
    }
    if (jn_tensor_check_size(t, "", NULL)) {
        char what[320];
        snprintf(what, sizeof what, "model '%s': %s '%s'", model, direction, port->name);
        return jn_tensor_check_size(t, what, err);
    }
    jn_kind_check_fn check = jn_kind_is_bytes(port->kind) ? jn_kind_get_check(port->kind) : NULL;
    if (check)
        return check_elements(model, port, t, check, err);
    if (port->kind == JN_KIND_TEXT) {
        size_t pos = 0, bad = 0;
        const uint8_t *elem;
        uint32_t len;
        for (int64_t i = 0; jn_bytes_next(t->data, t->byte_size, &pos, &elem, &len); i++)
            if (!jn_utf8_valid(elem, len, &bad))
                return jn_err_set(err, JN_EINVAL,
                                  "model '%s': %s '%s' is TEXT and must be UTF-8, element %lld has an invalid "
                                  "byte 0x%02X at offset %zu",
                                  model, direction, port->name, (long long)i, elem[bad], bad);
    }
    return 0;
}

static void port_list(const jn_port *ports, size_t n, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s'%s'", i ? ", " : "", ports[i].name);
    if (n == 0)
        snprintf(buf, cap, "(none)");
}

int jn_signature_validate_inputs(const jn_signature *sig, const char *model, const jn_tensor_list *inputs,
                                 jn_err *err)
{
    char names[512], type[160];
    for (size_t i = 0; i < inputs->count; i++) {
        const jn_tensor *t = inputs->items[i];
        const jn_port *port = jn_signature_find_input(sig, t->name);
        if (!port) {
            port_list(sig->inputs, sig->n_inputs, names, sizeof names);
            return jn_err_set(err, JN_EINVAL, "model '%s': unknown input '%s' (the model's inputs are %s)", model,
                              t->name, names);
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(inputs->items[j]->name, t->name) == 0)
                return jn_err_set(err, JN_EINVAL, "model '%s': input '%s' is given twice", model, t->name);
    }
    for (size_t i = 0; i < sig->n_inputs; i++) {
        const jn_port *port = &sig->inputs[i];
        const jn_tensor *t = jn_tensor_list_find(inputs, port->name);
        if (!t && port->default_value)
            continue; /* the executor gives the default */
        if (t && port->kind == JN_KIND_AUDIO_TENSOR && t->dtype == JN_DTYPE_BYTES) {
            int rc = check_audio_for_tensor(model, port, t, err);
            if (rc)
                return rc;
            continue;
        }
        if (!t)
            return jn_err_set(err, JN_EINVAL, "model '%s': missing input '%s' (expects %s %s)", model, port->name,
                              jn_kind_name(port->kind),
                              jn_format_type(type, sizeof type, port->dtype, port->ndim, port->shape));
        int rc = jn_port_check_tensor(model, "input", port, t, err);
        if (rc)
            return rc;
    }
    return 0;
}

int jn_signature_validate_outputs(const jn_signature *sig, const char *model, const char *const *names, size_t n,
                                  jn_err *err)
{
    char list[512];
    for (size_t i = 0; i < n; i++) {
        if (!jn_signature_find_output(sig, names[i])) {
            port_list(sig->outputs, sig->n_outputs, list, sizeof list);
            return jn_err_set(err, JN_EINVAL, "model '%s': unknown output '%s' requested (the model's outputs are %s)",
                              model, names[i], list);
        }
        /* The executor hands each output over once: a second request for it is the caller's mistake. */
        for (size_t j = 0; j < i; j++)
            if (strcmp(names[j], names[i]) == 0)
                return jn_err_set(err, JN_EINVAL, "model '%s': output '%s' is requested twice", model,
                                  names[i]);
    }
    return 0;
}

bool jn_signature_batches(const jn_signature *sig)
{
    if (!sig->n_inputs || !sig->n_outputs)
        return false;
    for (size_t i = 0; i < sig->n_inputs; i++)
        if (sig->inputs[i].ndim < 1 || sig->inputs[i].shape[0] != -1)
            return false;
    for (size_t i = 0; i < sig->n_outputs; i++)
        if (sig->outputs[i].ndim < 1 || sig->outputs[i].shape[0] != -1)
            return false;
    return true;
}
