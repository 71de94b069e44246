#include "options.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

void jn_remote_options_default(jn_remote_options *o)
{
    o->timeout_ms = 30000;
    o->max_attempts = 3;
    o->backoff_ms = 25;
    o->backoff_max_ms = 1000;
    o->breaker_failures = 5;
    o->breaker_cooldown_ms = 2000;
    o->max_concurrency = 16;
    o->max_queue = 64;
    o->health_interval_ms = 1000;
    o->health_timeout_ms = 2000;
    o->tls_ca_file[0] = o->tls_cert_file[0] = o->tls_key_file[0] = '\0';
    memset(&o->serving, 0, sizeof o->serving);
    o->deterministic = false;
    o->multiplex = true;
    o->streams = 2;
    o->api_key_file[0] = '\0';
    o->kind = JN_REMOTE_KIND_CHAT;
}

typedef struct option_row {
    const char *key;
    size_t offset;
    int is_int; /* int field (else int64_t) */
    int64_t lo, hi;
} option_row;

#define ROW64(k, lo, hi) {#k, offsetof(jn_remote_options, k), 0, lo, hi}
#define ROW32(k, lo, hi) {#k, offsetof(jn_remote_options, k), 1, lo, hi}

static const option_row rows[] = {
    ROW64(timeout_ms, 1, 3600000),
    ROW32(max_attempts, 1, 100),
    ROW64(backoff_ms, 0, 60000),
    ROW64(backoff_max_ms, 0, 600000),
    ROW32(breaker_failures, 1, 1000000),
    ROW64(breaker_cooldown_ms, 0, 3600000),
    ROW32(max_concurrency, 1, 1024),
    ROW32(max_queue, 1, 1000000),
    ROW64(health_interval_ms, 10, 3600000),
    ROW64(health_timeout_ms, 1, 600000),
    ROW32(streams, 1, 64),
};

static const struct {
    const char *key;
    size_t offset;
} path_rows[] = {
    {"tls_ca_file", offsetof(jn_remote_options, tls_ca_file)},
    {"tls_cert_file", offsetof(jn_remote_options, tls_cert_file)},
    {"tls_key_file", offsetof(jn_remote_options, tls_key_file)},
    {"api_key_file", offsetof(jn_remote_options, api_key_file)},
};

static int bool_option(const char *key, const char *value, bool *out, jn_err *err)
{
    if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0)
        return jn_err_set(err, JN_EINVAL, "option '%s': '%s' is not true or false", key, value);
    *out = strcmp(value, "true") == 0;
    return 0;
}

/* The serving options (model_config.h), each parsed alone so the others already set are kept. */
static int serving_option(jn_remote_options *o, const char *key, const char *value, jn_err *err)
{
    if (strcmp(key, "response_cache") == 0)
        return bool_option(key, value, &o->serving.response_cache, err);
    if (strcmp(key, "deterministic") == 0)
        return bool_option(key, value, &o->deterministic, err);
    char text[4096];
    int n = strcmp(key, "instances") == 0 ? snprintf(text, sizeof text, "{\"instances\": %s}", value)
                                          : snprintf(text, sizeof text, "{\"dynamic_batching\": %s}", value);
    if (n < 0 || (size_t)n >= sizeof text)
        return jn_err_set(err, JN_EINVAL, "option '%s': the value is too long", key);
    jn_model_config one;
    char where[64];
    snprintf(where, sizeof where, "option '%s'", key);
    int rc = jn_model_config_parse_text(text, (size_t)n, where, &one, err);
    if (rc)
        return rc;
    if (strcmp(key, "instances") == 0)
        o->serving.instances = one.instances;
    else
        o->serving.batching = one.batching;
    return 0;
}

int jn_remote_options_set(jn_remote_options *o, const char *key, const char *value, jn_err *err)
{
    if (strcmp(key, "multiplex") == 0)
        return bool_option(key, value, &o->multiplex, err);
    if (strcmp(key, "kind") == 0) {
        static const char *const kinds[] = {"chat", "completions", "embeddings"};
        for (int i = 0; i < 3; i++)
            if (strcmp(value, kinds[i]) == 0) {
                o->kind = (jn_remote_kind)i;
                return 0;
            }
        return jn_err_set(err, JN_EINVAL, "option 'kind': '%s' is not chat, completions or embeddings", value);
    }
    if (strcmp(key, "dynamic_batching") == 0 || strcmp(key, "instances") == 0 || strcmp(key, "response_cache") == 0 ||
        strcmp(key, "deterministic") == 0)
        return serving_option(o, key, value, err);
    for (size_t i = 0; i < sizeof path_rows / sizeof path_rows[0]; i++) {
        if (strcmp(key, path_rows[i].key) != 0)
            continue;
        if (!*value || strlen(value) >= sizeof o->tls_ca_file)
            return jn_err_set(err, JN_EINVAL, "option '%s': a file path of 1..%zu characters", key,
                              sizeof o->tls_ca_file - 1);
        strcpy((char *)o + path_rows[i].offset, value);
        return 0;
    }
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const option_row *r = &rows[i];
        if (strcmp(key, r->key) != 0)
            continue;
        char *end;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (errno || end == value || *end || v < r->lo || v > r->hi)
            return jn_err_set(err, JN_EINVAL, "option '%s': '%s' is not an integer in [%lld, %lld]", key, value,
                              (long long)r->lo, (long long)r->hi);
        char *field = (char *)o + r->offset;
        if (r->is_int)
            *(int *)field = (int)v;
        else
            *(int64_t *)field = (int64_t)v;
        return 0;
    }
    return jn_err_set(err, JN_EINVAL,
                      "option '%s' is unknown (known: timeout_ms, max_attempts, backoff_ms, backoff_max_ms, "
                      "breaker_failures, breaker_cooldown_ms, max_concurrency, max_queue, health_interval_ms, "
                      "health_timeout_ms, tls_ca_file, tls_cert_file, tls_key_file, dynamic_batching, instances, "
                      "response_cache, deterministic, multiplex, streams, api_key_file, kind)",
                      key);
}
