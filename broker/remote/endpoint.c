/* endpoint.c — the endpoint table: targets checked, channels made (with their TLS credentials) and shared by every
 * engine on the same target, references, reaping. The calls made on an endpoint are endpoint_call.c's (blocking),
 * endpoint_async.c's (nobody waits) and endpoint_stream.c's. */
#include "endpoint.h"

#include <errno.h>
#include <grpc/grpc_security.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint_internal.h"
#include "http_client.h"
#include "pem.h"

struct jn_endpoints {
    pthread_mutex_t mu;
    jn_endpoint *head;
};

const char *const jn__endpoint_method_paths[JN_RM_COUNT] = {
    [JN_RM_V2_SERVER_READY] = "/inference.GRPCInferenceService/ServerReady",
    [JN_RM_V2_MODEL_READY] = "/inference.GRPCInferenceService/ModelReady",
    [JN_RM_V2_MODEL_METADATA] = "/inference.GRPCInferenceService/ModelMetadata",
    [JN_RM_V2_MODEL_INFER] = "/inference.GRPCInferenceService/ModelInfer",
    [JN_RM_V2_MODEL_STREAM_INFER] = "/inference.GRPCInferenceService/ModelStreamInfer",
    [JN_RM_ENGINE_DESCRIBE] = "/junction.v1.Engine/Describe",
    [JN_RM_ENGINE_INFER] = "/junction.v1.Engine/Infer",
    [JN_RM_ENGINE_INFER_STREAM] = "/junction.v1.Engine/InferStream",
    [JN_RM_HEALTH_CHECK] = "/grpc.health.v1.Health/Check",
};

int jn_call_status_set(jn_call_status *st, int code, const char *fmt, ...)
{
    st->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->message, sizeof st->message, fmt, ap);
    va_end(ap);
    return code;
}

/* ---- targets ---- */

static bool all_digits(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static int check_host_port(const char *target, const char *hp, jn_err *err)
{
    const char *colon = strrchr(hp, ':');
    if (!colon || colon == hp)
        return jn_err_set(err, JN_EINVAL, "endpoint '%s' is not HOST:PORT (e.g. 127.0.0.1:8001)", target);
    if (hp[0] == '[' && colon[-1] != ']')
        return jn_err_set(err, JN_EINVAL, "endpoint '%s': an IPv6 address goes in brackets, [ADDR]:PORT", target);
    const char *port = colon + 1;
    size_t n = strlen(port);
    long v = all_digits(port, n) && n <= 5 ? strtol(port, NULL, 10) : -1;
    if (v < 1 || v > 65535)
        return jn_err_set(err, JN_EINVAL, "endpoint '%s': port '%s' is not a number in 1-65535", target, port);
    return 0;
}

int jn_endpoint_check_target(const char *target, jn_err *err)
{
    if (!target || !*target)
        return jn_err_set(err, JN_EINVAL, "endpoint is empty (expected HOST:PORT)");
    if (strlen(target) > 255)
        return jn_err_set(err, JN_EINVAL, "endpoint is longer than 255 characters");
    for (const char *p = target; *p; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
            return jn_err_set(err, JN_EINVAL, "endpoint '%s' contains a space or a control character", target);
    if (strncmp(target, "unix:", 5) == 0)
        return target[5] ? 0 : jn_err_set(err, JN_EINVAL, "endpoint '%s' names no socket path", target);
    if (strncmp(target, "dns:///", 7) == 0)
        return check_host_port(target, target + 7, err);
    if (strncmp(target, "ipv4:", 5) == 0 || strncmp(target, "ipv6:", 5) == 0)
        return check_host_port(target, target + 5, err);
    if (strstr(target, "://"))
        return jn_err_set(err, JN_EINVAL, "endpoint '%s': the scheme is not supported (use HOST:PORT)", target);
    return check_host_port(target, target, err);
}

/* ---- the table ---- */

jn_endpoints *jn_endpoints_create(void)
{
    jn_endpoints *t = calloc(1, sizeof *t);
    if (t)
        pthread_mutex_init(&t->mu, NULL);
    return t;
}

static void endpoint_free(jn_endpoint *ep)
{
    jn__endpoint_mux_forget(ep);
    pthread_mutex_destroy(&ep->calls_mu);
    jn_workpool_destroy(ep->pool);
    if (ep->channel)
        grpc_channel_destroy(ep->channel);
    jn_http_client_destroy(ep->http);
    if (ep->bearer) {
        explicit_bzero(ep->bearer, strlen(ep->bearer));
        free(ep->bearer);
    }
    jn_breaker_destroy(&ep->breaker);
    free(ep->target);
    free(ep);
}

void jn_endpoints_destroy(jn_endpoints *t)
{
    if (!t)
        return;
    jn_endpoint *ep = t->head;
    while (ep) {
        jn_endpoint *next = ep->next;
        endpoint_free(ep);
        ep = next;
    }
    pthread_mutex_destroy(&t->mu);
    free(t);
}

/* Plaintext, or TLS (verifying the remote against tls_ca_file; mutual with tls_cert_file + tls_key_file). */
static grpc_channel_credentials *channel_credentials(const char *target, const jn_remote_options *opt, jn_err *err)
{
    if (!opt->tls_ca_file[0] && !opt->tls_cert_file[0] && !opt->tls_key_file[0])
        return grpc_insecure_credentials_create();
    if (!opt->tls_ca_file[0] || !opt->tls_cert_file[0] != !opt->tls_key_file[0]) {
        jn_err_set(err, JN_EINVAL, "endpoint '%s': TLS needs tls_ca_file, and tls_cert_file with tls_key_file for "
                                   "mutual TLS (both or neither)", target);
        return NULL;
    }
    char *ca = jn_pem_read(opt->tls_ca_file, "option 'tls_ca_file'", err);
    char *cert = ca && opt->tls_cert_file[0] ? jn_pem_read(opt->tls_cert_file, "option 'tls_cert_file'", err) : NULL;
    char *key = cert ? jn_pem_read(opt->tls_key_file, "option 'tls_key_file'", err) : NULL;
    grpc_channel_credentials *creds = NULL;
    if (ca && (!opt->tls_cert_file[0] || (cert && key))) {
        grpc_ssl_pem_key_cert_pair pair = {key, cert};
        creds = grpc_ssl_credentials_create(ca, key ? &pair : NULL, NULL, NULL);
        if (!creds)
            jn_err_set(err, JN_EINVAL, "endpoint '%s': the TLS files were not accepted", target);
    }
    jn_pem_free(ca);
    jn_pem_free(cert);
    jn_pem_free(key);
    return creds;
}

/* The fields of an endpoint both kinds have: breaker, pool, counters. */
static jn_endpoint *endpoint_base(const char *target, const jn_remote_options *opt, jn_err *err)
{
    jn_endpoint *ep = calloc(1, sizeof *ep);
    if (!ep || !(ep->target = strdup(target))) {
        free(ep);
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    ep->opt = *opt;
    atomic_init(&ep->refs, 0);
    pthread_mutex_init(&ep->calls_mu, NULL);
    jn_breaker_init(&ep->breaker, opt->breaker_failures, opt->breaker_cooldown_ms * 1000000);
    ep->pool = jn_workpool_create(opt->max_concurrency);
    if (!ep->pool) {
        endpoint_free(ep);
        jn_err_set(err, JN_ENOMEM, "endpoint '%s': cannot start its threads", target);
        return NULL;
    }
    return ep;
}

static jn_endpoint *endpoint_new(const char *target, const jn_remote_options *opt, jn_err *err)
{
    jn_endpoint *ep = endpoint_base(target, opt, err);
    if (!ep)
        return NULL;
    /* Answers can be large tensors; retries are ours (with the breaker), not the core's; after the remote comes
     * back the channel reconnects within a couple of seconds instead of the default backoff of up to 2 minutes.
     * (Turning HTTP/2 BDP probing off or enlarging the stream window made no difference that survived repeated
     * measurement on the shared bench machine: both left at their defaults.) */
    enum { N_ARGS = 5 };
    grpc_arg args[N_ARGS];
    memset(args, 0, sizeof args);
    /* Not GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: the core also takes it as the minimum time a connection attempt may
     * take (20 s by default); at 100 ms a slow handshake never completed (seen under ThreadSanitizer). */
    const char *keys[N_ARGS] = {GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, GRPC_ARG_MAX_SEND_MESSAGE_LENGTH,
                                GRPC_ARG_ENABLE_RETRIES, GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
                                GRPC_ARG_MAX_RECONNECT_BACKOFF_MS};
    int values[N_ARGS] = {-1, -1, 0, 100, 2000};
    for (int i = 0; i < N_ARGS; i++) {
        args[i].type = GRPC_ARG_INTEGER;
        args[i].key = (char *)keys[i];
        args[i].value.integer = values[i];
    }
    grpc_channel_args channel_args = {N_ARGS, args};
    grpc_channel_credentials *creds = channel_credentials(target, opt, err);
    if (!creds) {
        endpoint_free(ep);
        return NULL;
    }
    ep->channel = grpc_channel_create(target, creds, &channel_args);
    grpc_channel_credentials_release(creds);
    if (!ep->channel) {
        endpoint_free(ep);
        jn_err_set(err, JN_EINVAL, "endpoint '%s': cannot create a channel", target);
        return NULL;
    }
    for (int m = 0; m < JN_RM_COUNT; m++)
        ep->methods[m] = grpc_channel_register_call(ep->channel, jn__endpoint_method_paths[m], NULL, NULL);
    return ep;
}

static bool same_tls(const jn_remote_options *a, const jn_remote_options *b)
{
    return strcmp(a->tls_ca_file, b->tls_ca_file) == 0 && strcmp(a->tls_cert_file, b->tls_cert_file) == 0 &&
           strcmp(a->tls_key_file, b->tls_key_file) == 0;
}

jn_endpoint *jn_endpoints_open(jn_endpoints *t, const char *target, const jn_remote_options *opt, jn_err *err)
{
    if (jn_endpoint_check_target(target, err))
        return NULL;
    pthread_mutex_lock(&t->mu);
    jn_endpoint *ep = t->head;
    while (ep && strcmp(ep->target, target) != 0)
        ep = ep->next;
    if (ep && ep->http) {
        pthread_mutex_unlock(&t->mu);
        jn_err_set(err, JN_EINVAL, "endpoint '%s' is in use by an HTTP remote", target);
        return NULL;
    }
    if (ep && !same_tls(&ep->opt, opt)) { /* one channel per target: its security is the first engine's */
        pthread_mutex_unlock(&t->mu);
        jn_err_set(err, JN_EINVAL, "endpoint '%s' is already in use with other TLS options (tls_ca_file, "
                                   "tls_cert_file, tls_key_file)", target);
        return NULL;
    }
    if (!ep && (ep = endpoint_new(target, opt, err)) != NULL) {
        ep->next = t->head;
        t->head = ep;
    }
    if (ep)
        atomic_fetch_add(&ep->refs, 1);
    pthread_mutex_unlock(&t->mu);
    return ep;
}

/* ---- HTTP remotes ---- */

/* The API key: the file's first line, trimmed; printable ASCII without spaces (it goes into a header). The
 * messages name the file, never what it holds. */
static char *read_bearer(const char *path, jn_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        jn_err_set(err, JN_EINVAL, "option 'api_key_file': cannot read '%s': %s", path, strerror(errno));
        return NULL;
    }
    char buf[4097];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    bool too_long = n == sizeof buf - 1 && fgetc(f) != EOF;
    fclose(f);
    buf[n] = '\0';
    char *nl = strpbrk(buf, "\r\n");
    if (nl)
        *nl = '\0';
    size_t len = strlen(buf);
    while (len && (buf[len - 1] == ' ' || buf[len - 1] == '\t'))
        buf[--len] = '\0';
    char *start = buf;
    while (*start == ' ' || *start == '\t')
        start++;
    char *key = NULL;
    if (too_long) {
        jn_err_set(err, JN_EINVAL, "option 'api_key_file': '%s' is longer than 4096 bytes", path);
    } else if (!*start) {
        jn_err_set(err, JN_EINVAL, "option 'api_key_file': '%s' is empty", path);
    } else {
        bool ok = true;
        for (const char *p = start; *p; p++)
            ok &= (unsigned char)*p > ' ' && (unsigned char)*p < 0x7f;
        if (!ok)
            jn_err_set(err, JN_EINVAL, "option 'api_key_file': the key in '%s' contains a space or a character "
                                       "outside printable ASCII", path);
        else if (!(key = strdup(start)))
            jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    explicit_bzero(buf, sizeof buf);
    return key;
}

static jn_endpoint *endpoint_new_http(const char *url, const jn_remote_options *opt, jn_err *err)
{
    char *bearer = NULL;
    if (opt->api_key_file[0] && !(bearer = read_bearer(opt->api_key_file, err)))
        return NULL;
    if (!opt->tls_cert_file[0] != !opt->tls_key_file[0]) {
        free(bearer);
        jn_err_set(err, JN_EINVAL, "endpoint '%s': tls_cert_file and tls_key_file go together (both or neither)",
                   url);
        return NULL;
    }
    jn_endpoint *ep = endpoint_base(url, opt, err);
    if (!ep) {
        free(bearer);
        return NULL;
    }
    ep->bearer = bearer;
    jn_http_tls tls = {opt->tls_ca_file, opt->tls_cert_file, opt->tls_key_file};
    if (!(ep->http = jn_http_client_create(&tls, (long)opt->max_concurrency, err))) {
        endpoint_free(ep);
        return NULL;
    }
    return ep;
}

jn_endpoint *jn_endpoints_open_http(jn_endpoints *t, const char *url, const jn_remote_options *opt, jn_err *err)
{
    if (jn_http_check_url(url, err))
        return NULL;
    pthread_mutex_lock(&t->mu);
    jn_endpoint *ep = t->head;
    while (ep && strcmp(ep->target, url) != 0)
        ep = ep->next;
    if (ep && (!ep->http || !same_tls(&ep->opt, opt) || strcmp(ep->opt.api_key_file, opt->api_key_file) != 0)) {
        pthread_mutex_unlock(&t->mu); /* one client per URL: its key and security are the first engine's */
        jn_err_set(err, JN_EINVAL, "endpoint '%s' is already in use with another api_key_file or other TLS options "
                                   "(tls_ca_file, tls_cert_file, tls_key_file)", url);
        return NULL;
    }
    if (!ep && (ep = endpoint_new_http(url, opt, err)) != NULL) {
        ep->next = t->head;
        t->head = ep;
    }
    if (ep)
        atomic_fetch_add(&ep->refs, 1);
    pthread_mutex_unlock(&t->mu);
    return ep;
}

jn_endpoint *jn_endpoint_ref(jn_endpoint *ep)
{
    if (ep)
        atomic_fetch_add(&ep->refs, 1);
    return ep;
}

void jn_endpoint_unref(jn_endpoint *ep)
{
    if (ep)
        atomic_fetch_sub(&ep->refs, 1);
}

size_t jn_endpoints_reap(jn_endpoints *t)
{
    jn_endpoint *dead = NULL;
    pthread_mutex_lock(&t->mu);
    for (jn_endpoint **pp = &t->head; *pp;) {
        jn_endpoint *ep = *pp;
        if (atomic_load(&ep->refs) == 0) {
            *pp = ep->next;
            ep->next = dead;
            dead = ep;
        } else {
            pp = &ep->next;
        }
    }
    pthread_mutex_unlock(&t->mu);
    size_t n = 0;
    while (dead) {
        jn_endpoint *next = dead->next;
        endpoint_free(dead);
        dead = next;
        n++;
    }
    return n;
}

void jn_endpoints_each(jn_endpoints *t, void (*fn)(jn_endpoint *ep, void *arg), void *arg)
{
    pthread_mutex_lock(&t->mu);
    size_t n = 0;
    for (jn_endpoint *ep = t->head; ep; ep = ep->next)
        n++;
    jn_endpoint **list = calloc(n ? n : 1, sizeof *list);
    size_t k = 0;
    for (jn_endpoint *ep = t->head; list && ep; ep = ep->next)
        list[k++] = jn_endpoint_ref(ep);
    pthread_mutex_unlock(&t->mu);
    for (size_t i = 0; i < k; i++) {
        fn(list[i], arg);
        jn_endpoint_unref(list[i]);
    }
    free(list);
}

