/* model_config.c — the serving configuration of a model (model_config.h), from JSON (jansson). */
#include "model_config.h"

#include <jansson.h>
#include <string.h>

#include "engine.h"
#include "sequence.h"

bool jn_model_config_key(const char *key)
{
    return strcmp(key, "dynamic_batching") == 0 || strcmp(key, "instances") == 0 ||
           strcmp(key, "response_cache") == 0 || strcmp(key, "sequence") == 0;
}

/* A non-negative integer field <= max, or the error naming it. */
static int uint_field(const json_t *v, const char *where, const char *path, uint64_t min, uint64_t max, uint64_t *out,
                      jn_err *err)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) < min ||
        (uint64_t)json_integer_value(v) > max)
        return jn_err_set(err, JN_EINVAL, "%s: %s must be an integer from %llu to %llu", where, path,
                          (unsigned long long)min, (unsigned long long)max);
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int bool_field(const json_t *v, const char *where, const char *path, bool *out, jn_err *err)
{
    if (!json_is_boolean(v))
        return jn_err_set(err, JN_EINVAL, "%s: %s must be true or false", where, path);
    *out = json_is_true(v);
    return 0;
}

static int parse_queue(const json_t *q, const char *where, jn_batching_config *b, jn_err *err)
{
    if (!json_is_object(q))
        return jn_err_set(err, JN_EINVAL, "%s: dynamic_batching.queue must be an object", where);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)q, key, v) {
        int rc;
        if (strcmp(key, "max_size") == 0) {
            rc = uint_field(v, where, "dynamic_batching.queue.max_size", 0, UINT32_MAX, &b->queue_max_size, err);
        } else if (strcmp(key, "timeout_us") == 0) {
            rc = uint_field(v, where, "dynamic_batching.queue.timeout_us", 0, (uint64_t)INT64_MAX / 1000,
                            &b->queue_timeout_us, err);
        } else if (strcmp(key, "timeout_action") == 0) {
            const char *s = json_string_value(v);
            if (!s || (strcmp(s, "reject") != 0 && strcmp(s, "delay") != 0))
                return jn_err_set(err, JN_EINVAL,
                                  "%s: dynamic_batching.queue.timeout_action must be \"reject\" or \"delay\"", where);
            b->timeout_delay = strcmp(s, "delay") == 0;
            rc = 0;
        } else {
            return jn_err_set(err, JN_EINVAL,
                              "%s: dynamic_batching.queue.%s is not a field (max_size, timeout_us, timeout_action)",
                              where, key);
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int parse_batching(const json_t *o, const char *where, jn_batching_config *b, jn_err *err)
{
    if (!json_is_object(o))
        return jn_err_set(err, JN_EINVAL, "%s: dynamic_batching must be an object", where);
    b->enabled = true;
    b->max_batch_size = 0;
    b->priority_levels = 1;
    b->default_priority_level = 0;
    const char *key;
    json_t *v;
    uint64_t u = 0;
    json_object_foreach((json_t *)o, key, v) {
        int rc = 0;
        if (strcmp(key, "max_batch_size") == 0) {
            rc = uint_field(v, where, "dynamic_batching.max_batch_size", 1, 1u << 20, &u, err);
            b->max_batch_size = (uint32_t)u;
        } else if (strcmp(key, "max_queue_delay_us") == 0) {
            rc = uint_field(v, where, "dynamic_batching.max_queue_delay_us", 0, 60u * 1000 * 1000,
                            &b->max_queue_delay_us, err);
        } else if (strcmp(key, "preferred_batch_sizes") == 0) {
            if (!json_is_array(v) || json_array_size(v) > JN_MAX_PREFERRED_BATCH)
                return jn_err_set(err, JN_EINVAL,
                                  "%s: dynamic_batching.preferred_batch_sizes must be an array of at most %d sizes",
                                  where, JN_MAX_PREFERRED_BATCH);
            b->n_preferred = 0;
            for (size_t i = 0; i < json_array_size(v) && !rc; i++) {
                char path[64];
                snprintf(path, sizeof path, "dynamic_batching.preferred_batch_sizes[%zu]", i);
                rc = uint_field(json_array_get(v, i), where, path, 1, 1u << 20, &u, err);
                if (!rc) {
                    size_t at = b->n_preferred; /* insertion sort, ascending, no repeats */
                    while (at > 0 && b->preferred[at - 1] > u) {
                        b->preferred[at] = b->preferred[at - 1];
                        at--;
                    }
                    if (at > 0 && b->preferred[at - 1] == u) {
                        memmove(&b->preferred[at], &b->preferred[at + 1], (b->n_preferred - at) * sizeof u);
                        continue;
                    }
                    b->preferred[at] = (uint32_t)u;
                    b->n_preferred++;
                }
            }
        } else if (strcmp(key, "preserve_ordering") == 0) {
            rc = bool_field(v, where, "dynamic_batching.preserve_ordering", &b->preserve_ordering, err);
        } else if (strcmp(key, "priority_levels") == 0) {
            rc = uint_field(v, where, "dynamic_batching.priority_levels", 1, JN_MAX_PRIORITY_LEVELS, &u, err);
            b->priority_levels = (uint32_t)u;
        } else if (strcmp(key, "default_priority_level") == 0) {
            rc = uint_field(v, where, "dynamic_batching.default_priority_level", 1, JN_MAX_PRIORITY_LEVELS, &u, err);
            b->default_priority_level = (uint32_t)u;
        } else if (strcmp(key, "queue") == 0) {
            rc = parse_queue(v, where, b, err);
        } else {
            return jn_err_set(err, JN_EINVAL,
                              "%s: dynamic_batching.%s is not a field (max_batch_size, max_queue_delay_us, "
                              "preferred_batch_sizes, preserve_ordering, priority_levels, default_priority_level, "
                              "queue)",
                              where, key);
        }
        if (rc)
            return rc;
    }
    if (!b->max_batch_size)
        return jn_err_set(err, JN_EINVAL, "%s: dynamic_batching.max_batch_size is required (the most rows per "
                                          "execution)", where);
    if (b->n_preferred && b->preferred[b->n_preferred - 1] > b->max_batch_size)
        return jn_err_set(err, JN_EINVAL, "%s: dynamic_batching.preferred_batch_sizes: %u is above max_batch_size %u",
                          where, b->preferred[b->n_preferred - 1], b->max_batch_size);
    if (!b->default_priority_level)
        b->default_priority_level = (b->priority_levels + 1) / 2;
    if (b->default_priority_level > b->priority_levels)
        return jn_err_set(err, JN_EINVAL, "%s: dynamic_batching.default_priority_level %u is above priority_levels %u",
                          where, b->default_priority_level, b->priority_levels);
    return 0;
}

static int name_field(const json_t *v, const char *where, const char *path, char *out, jn_err *err)
{
    const char *s = json_string_value(v);
    if (!s || !*s || strlen(s) >= JN_SEQUENCE_NAME_MAX)
        return jn_err_set(err, JN_EINVAL, "%s: %s must be a port name (a non-empty string of at most %d bytes)",
                          where, path, JN_SEQUENCE_NAME_MAX - 1);
    memcpy(out, s, strlen(s) + 1);
    return 0;
}

static int parse_state(const json_t *o, const char *where, size_t i, jn_sequence_state_config *st, jn_err *err)
{
    char path[96];
    if (!json_is_object(o))
        return jn_err_set(err, JN_EINVAL, "%s: sequence.state[%zu] must be an object {\"input\": ..., \"output\": "
                                          "..., \"initial\": \"zeros\"}", where, i);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v) {
        int rc = 0;
        if (strcmp(key, "input") == 0 || strcmp(key, "output") == 0) {
            snprintf(path, sizeof path, "sequence.state[%zu].%s", i, key);
            rc = name_field(v, where, path, key[0] == 'i' ? st->input : st->output, err);
        } else if (strcmp(key, "initial") == 0) {
            if (json_is_string(v) && strcmp(json_string_value(v), "zeros") == 0) {
                st->n_initial = 0;
            } else if (json_is_array(v) && json_array_size(v) >= 1 &&
                       json_array_size(v) <= JN_SEQUENCE_INITIAL_MAX) {
                st->n_initial = json_array_size(v);
                for (size_t k = 0; k < st->n_initial; k++) {
                    json_t *x = json_array_get(v, k);
                    if (!json_is_number(x))
                        return jn_err_set(err, JN_EINVAL, "%s: sequence.state[%zu].initial[%zu] is not a number",
                                          where, i, k);
                    st->initial[k] = json_number_value(x);
                }
            } else {
                return jn_err_set(err, JN_EINVAL,
                                  "%s: sequence.state[%zu].initial must be \"zeros\" or a list of 1 to %d numbers",
                                  where, i, JN_SEQUENCE_INITIAL_MAX);
            }
        } else {
            return jn_err_set(err, JN_EINVAL, "%s: sequence.state[%zu].%s is not a field (input, output, initial)",
                              where, i, key);
        }
        if (rc)
            return rc;
    }
    if (!st->input[0] || !st->output[0])
        return jn_err_set(err, JN_EINVAL, "%s: sequence.state[%zu] needs both \"input\" and \"output\"", where, i);
    return 0;
}

static int parse_sequence(const json_t *o, const char *where, jn_sequence_config *sq, jn_err *err)
{
    if (!json_is_object(o))
        return jn_err_set(err, JN_EINVAL, "%s: sequence must be an object", where);
    sq->enabled = true;
    sq->idle_timeout_ms = 60000;
    sq->max_sequences = 1024;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v) {
        int rc = 0;
        if (strcmp(key, "state") == 0) {
            if (!json_is_array(v) || !json_array_size(v) || json_array_size(v) > JN_MAX_SEQUENCE_STATES)
                return jn_err_set(err, JN_EINVAL, "%s: sequence.state must be a list of 1 to %d state pairs", where,
                                  JN_MAX_SEQUENCE_STATES);
            sq->n_state = json_array_size(v);
            for (size_t i = 0; i < sq->n_state && !rc; i++)
                rc = parse_state(json_array_get(v, i), where, i, &sq->state[i], err);
        } else if (strcmp(key, "idle_timeout_ms") == 0) {
            rc = uint_field(v, where, "sequence.idle_timeout_ms", 0, 7ull * 24 * 3600 * 1000, &sq->idle_timeout_ms,
                            err);
        } else if (strcmp(key, "max_sequences") == 0) {
            rc = uint_field(v, where, "sequence.max_sequences", 1, 1u << 24, &sq->max_sequences, err);
        } else {
            return jn_err_set(err, JN_EINVAL,
                              "%s: sequence.%s is not a field (state, idle_timeout_ms, max_sequences)", where, key);
        }
        if (rc)
            return rc;
    }
    if (!sq->n_state)
        return jn_err_set(err, JN_EINVAL, "%s: sequence.state is required (the state input/output pairs)", where);
    for (size_t i = 0; i < sq->n_state; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(sq->state[i].input, sq->state[j].input) == 0 ||
                strcmp(sq->state[i].output, sq->state[j].output) == 0)
                return jn_err_set(err, JN_EINVAL, "%s: sequence.state[%zu] repeats a port of sequence.state[%zu]",
                                  where, i, j);
    return 0;
}

int jn_model_config_parse(const json_t *obj, const char *where, jn_model_config *out, jn_err *err)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(obj))
        return jn_err_set(err, JN_EINVAL, "%s: a model's configuration must be a JSON object", where);
    const json_t *v;
    int rc = 0;
    if ((v = json_object_get(obj, "dynamic_batching")) && (rc = parse_batching(v, where, &out->batching, err)))
        return rc;
    if ((v = json_object_get(obj, "instances"))) {
        uint64_t u = 0;
        if ((rc = uint_field(v, where, "instances", 1, 64, &u, err)))
            return rc;
        out->instances = (uint32_t)u;
    }
    if ((v = json_object_get(obj, "response_cache")) && (rc = bool_field(v, where, "response_cache",
                                                                         &out->response_cache, err)))
        return rc;
    if ((v = json_object_get(obj, "sequence")) && (rc = parse_sequence(v, where, &out->sequence, err)))
        return rc;
    return 0;
}

/* A whole document: the serving keys only (anything else is refused), then jn_model_config_parse. */
static int parse_whole(json_t *obj, const char *where, jn_model_config *out, jn_err *err)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        if (!jn_model_config_key(key))
            return jn_err_set(err, JN_EINVAL,
                              "%s: '%s' is not a field (dynamic_batching, instances, response_cache, sequence)", where,
                              key);
    }
    return jn_model_config_parse(obj, where, out, err);
}

int jn_model_config_parse_text(const char *text, size_t len, const char *where, jn_model_config *out, jn_err *err)
{
    json_error_t jerr;
    json_t *obj = json_loadb(text, len, 0, &jerr);
    if (!obj)
        return jn_err_set(err, JN_EINVAL, "%s: line %d: %s", where, jerr.line, jerr.text);
    int rc = parse_whole(obj, where, out, err);
    json_decref(obj);
    return rc;
}

int jn_model_config_parse_file(const char *path, jn_model_config *out, jn_err *err)
{
    json_error_t jerr;
    json_t *obj = json_load_file(path, 0, &jerr);
    if (!obj && jerr.line < 0) /* not opened or not read */
        return jn_err_set(err, JN_EIO, "%s: %s", path, jerr.text);
    if (!obj)
        return jn_err_set(err, JN_EINVAL, "%s: line %d: %s", path, jerr.line, jerr.text);
    int rc = parse_whole(obj, path, out, err);
    json_decref(obj);
    return rc;
}

/* The ports a sequence names, against the engine's signature (sequence.h hides the state inputs later: a
 * sequence engine is checked against the signature it wraps). */
static int check_sequence(const jn_model_config *cfg, const jn_engine *e, jn_err *err)
{
    const jn_sequence_config *sq = &cfg->sequence;
    if (cfg->batching.enabled || cfg->instances || cfg->response_cache)
        return jn_err_set(err, JN_EINVAL, "model '%s': sequence: a stateful model is served without dynamic_batching, "
                                          "instances or response_cache (its requests run one at a time per sequence)",
                          e->name);
    if (e->flags & JN_ENGINE_STREAMS)
        return jn_err_set(err, JN_EINVAL, "model '%s': sequence: a streaming model cannot carry state", e->name);
    const jn_signature *sig = jn_sequence_inner_signature(e);
    for (size_t i = 0; i < sq->n_state; i++) {
        const jn_sequence_state_config *st = &sq->state[i];
        const jn_port *in = jn_signature_find_input(sig, st->input);
        const jn_port *out = jn_signature_find_output(sig, st->output);
        if (!in)
            return jn_err_set(err, JN_EINVAL, "model '%s': sequence.state[%zu].input: the model has no input '%s'",
                              e->name, i, st->input);
        if (!out)
            return jn_err_set(err, JN_EINVAL, "model '%s': sequence.state[%zu].output: the model has no output '%s'",
                              e->name, i, st->output);
        char a[64], b[64];
        bool fits = in->dtype == out->dtype && in->ndim == out->ndim && in->dtype != JN_DTYPE_BYTES;
        for (int d = 0; fits && d < in->ndim; d++)
            fits = in->shape[d] < 0 || out->shape[d] < 0 || in->shape[d] == out->shape[d];
        if (!fits)
            return jn_err_set(err, JN_EINVAL,
                              "model '%s': sequence.state[%zu]: output '%s' (%s) cannot feed input '%s' (%s): the "
                              "same numeric dtype and compatible shapes are needed",
                              e->name, i, st->output, jn_format_type(a, sizeof a, out->dtype, out->ndim, out->shape),
                              st->input, jn_format_type(b, sizeof b, in->dtype, in->ndim, in->shape));
        for (int d = 0; d < in->ndim; d++)
            if (in->shape[d] < 0)
                return jn_err_set(err, JN_EINVAL,
                                  "model '%s': sequence.state[%zu].input '%s' (%s): the state input needs a fixed "
                                  "shape (its initial value is made from it)",
                                  e->name, i, st->input, jn_format_type(a, sizeof a, in->dtype, in->ndim, in->shape));
        if (st->n_initial && in->dtype != JN_DTYPE_FP32 && in->dtype != JN_DTYPE_FP64 && in->dtype != JN_DTYPE_INT32 &&
            in->dtype != JN_DTYPE_INT64)
            return jn_err_set(err, JN_EINVAL,
                              "model '%s': sequence.state[%zu].initial: a list of numbers needs an FP32, FP64, INT32 "
                              "or INT64 input ('%s' is %s); use \"zeros\"",
                              e->name, i, st->input, jn_dtype_name(in->dtype));
        int64_t n = jn_shape_element_count(in->ndim, in->shape);
        if (st->n_initial > 1 && (int64_t)st->n_initial != n)
            return jn_err_set(err, JN_EINVAL,
                              "model '%s': sequence.state[%zu].initial has %zu numbers; input '%s' has %lld elements "
                              "(give that many, or one to repeat)",
                              e->name, i, st->n_initial, st->input, (long long)n);
    }
    return 0;
}

int jn_model_config_check(const jn_model_config *cfg, const jn_engine *e, jn_err *err)
{
    bool streams = (e->flags & JN_ENGINE_STREAMS) != 0;
    if (cfg->batching.enabled) {
        if (!(e->flags & JN_ENGINE_BATCHES))
            return jn_err_set(err, JN_EINVAL,
                              "model '%s': dynamic_batching needs a model whose inputs and outputs all have the batch "
                              "as their first dimension (-1); this one does not batch",
                              e->name);
        if (streams)
            return jn_err_set(err, JN_EINVAL, "model '%s': dynamic_batching: a streaming model cannot batch",
                              e->name);
    }
    if (cfg->response_cache) {
        if (e->flags & JN_ENGINE_VOLATILE)
            return jn_err_set(err, JN_EINVAL,
                              "model '%s': response_cache: its answers are not a function of the request (random, "
                              "stateful, or a remote not declared deterministic), so they are never cached",
                              e->name);
        if (streams)
            return jn_err_set(err, JN_EINVAL, "model '%s': response_cache: streaming answers are not cached",
                              e->name);
    }
    if (cfg->sequence.enabled)
        return check_sequence(cfg, e, err);
    return 0;
}
