/* Fuzz target: the URL policy of broker/fetch without any network: an allow-list (--fetch-allow text), a host
 * matched against it, address classes, a URL checked as jn_fetch checks it before connecting (curl's URL parser, the
 * scheme, the host and port against the list), and data: URIs. Input: "ALLOW\nHOST\nURL" (missing parts empty).
 * Must never crash, leak or hang; every refusal carries its code and a message. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require_message(int rc, const jn_err *err, const char *what)
{
    if (rc && (err->code != rc || !err->msg[0])) {
        fprintf(stderr, "%s: refusal %d without its code or a message (%d '%s')\n", what, rc, err->code, err->msg);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *host = strchr(text, '\n');
    if (host)
        *host++ = '\0';
    char *url = host ? strchr(host, '\n') : NULL;
    if (url)
        *url++ = '\0';
    size_t url_n = url ? size - (size_t)(url - text) : 0;

    jn_err err;
    jn_err_clear(&err);
    jn_fetch_allow *a = jn_fetch_allow_parse(text, &err);
    if (!a)
        require_message(err.code ? err.code : JN_EINVAL, &err, "allow-list");
    if (a && host) {
        bool exact;
        int port = size ? data[0] * 256 + data[size - 1] : 80;
        if (jn_fetch_allow_host(a, host, port, &exact) && exact && !jn_fetch_allow_count(a))
            abort(); /* an empty list allows nothing */
    }
    jn_fetch_allow_free(a);
    if (size >= 16) {
        jn_fetch_addr_class(data, 4);
        jn_fetch_addr_class(data, 16);
    }

    jn_fetch_options opt = {.allow = text, .max_bytes = 4096};
    jn_err_clear(&err);
    jn_fetcher *f = jn_fetcher_create(&opt, &err);
    if (url) {
        jn_err_clear(&err);
        int rc = jn_fetch_check_url(f, url, url_n, JN_FETCH_IMAGE, "input 'image'", &err);
        require_message(rc, &err, "check_url");
        if (rc && !strstr(err.msg, "input 'image'"))
            abort(); /* every message names the port */
        jn_fetched got;
        jn_err_clear(&err);
        rc = jn_fetch_data_uri(url, url_n, JN_FETCH_AUDIO, 4096, "x", &got, &err);
        require_message(rc, &err, "data_uri");
        if (!rc && (!got.data || got.len > 4096))
            abort();
        jn_fetched_free(&got);
    }
    jn_fetcher_destroy(f);
    free(text);
    return 0;
}
