/* fetch.c — fetching a URL under the policy fetch.h describes, with libcurl's easy interface on the calling
 * thread (a worker: the front ends never call it from a loop or pump thread), and data: URIs.
 *
 * Why the easy interface, not multi on an event loop: a fetch is the first part of a call that already runs on a
 * worker (simple JSON's decode, the OpenAI door's request building), and the engine after it runs there too, so the
 * worker would only wait for the loop instead of for libcurl. The transfer stays bounded (timeout, size) and
 * cancellable (the progress callback reads the call's flag and deadline).
 *
 * Redirects are ours (CURLOPT_FOLLOWLOCATION off): each hop is a fresh easy handle whose URL went through the same
 * checks as the first. The SSRF check sits in CURLOPT_OPENSOCKETFUNCTION: libcurl resolves the name (with its own
 * timeout) and hands each address to it before connecting; an address refused there is never connected to, and since
 * the check is on the very sockaddr used, a name that resolves differently the second time changes nothing. */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>

#include "base64.h"
#include "fetch.h"

struct jn_fetcher {
    jn_fetch_allow *allow;
    size_t max_bytes;
    int64_t timeout_ms;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

jn_fetcher *jn_fetcher_create(const jn_fetch_options *opt, jn_err *err)
{
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK) {
        jn_err_set(err, JN_EINTERNAL, "libcurl: %s", curl_easy_strerror(curl_init_rc));
        return NULL;
    }
    jn_fetcher *f = calloc(1, sizeof *f);
    if (!f) {
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    if (!(f->allow = jn_fetch_allow_parse(opt ? opt->allow : NULL, err))) {
        free(f);
        return NULL;
    }
    f->max_bytes = opt && opt->max_bytes ? opt->max_bytes : JN_FETCH_DEFAULT_MAX_BYTES;
    f->timeout_ms = opt && opt->timeout_ms > 0 ? opt->timeout_ms : JN_FETCH_DEFAULT_TIMEOUT_MS;
    return f;
}

void jn_fetcher_destroy(jn_fetcher *f)
{
    if (!f)
        return;
    jn_fetch_allow_free(f->allow);
    free(f);
}

bool jn_fetcher_on(const jn_fetcher *f)
{
    return f && jn_fetch_allow_count(f->allow) > 0;
}

bool jn_fetch_may_hold_url(const void *json_text, size_t n)
{
    const uint8_t *b = json_text;
    for (size_t i = 0; i + 1 < n; i++) {
        if (b[i] == '\\' && b[i + 1] == 'u')
            return true;
        if (i + 3 < n && (b[i] | 0x20) == 'h' && (b[i + 1] | 0x20) == 't' && (b[i + 2] | 0x20) == 't' &&
            (b[i + 3] | 0x20) == 'p')
            return true;
    }
    return false;
}

bool jn_fetch_is_url(const char *s, size_t n)
{
    return (n >= 7 && strncasecmp(s, "http://", 7) == 0) || (n >= 8 && strncasecmp(s, "https://", 8) == 0) ||
           (n >= 5 && strncasecmp(s, "data:", 5) == 0);
}

void jn_fetched_free(jn_fetched *r)
{
    if (!r)
        return;
    free(r->data);
    memset(r, 0, sizeof *r);
}

/* ---- media types ---- */

static const char *media_prefix(jn_fetch_media media)
{
    return media == JN_FETCH_AUDIO ? "audio/" : "image/";
}

/* Does Content-Type text (parameters allowed, blanks around) name a type under the media's top level? */
static bool media_ok(const char *type, size_t n, jn_fetch_media media)
{
    while (n && isspace((unsigned char)*type)) {
        type++;
        n--;
    }
    const char *prefix = media_prefix(media);
    size_t pn = strlen(prefix);
    return n > pn && strncasecmp(type, prefix, pn) == 0 && type[pn] != ';' && !isspace((unsigned char)type[pn]);
}

/* ---- data: URIs ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int jn_fetch_data_uri(const char *uri, size_t n, jn_fetch_media media, size_t max_bytes, const char *what,
                      jn_fetched *out, jn_err *err)
{
    memset(out, 0, sizeof *out);
    if (n < 5 || strncasecmp(uri, "data:", 5) != 0)
        return jn_err_set(err, JN_EINVAL, "%s: not a data: URI", what);
    const char *head = uri + 5, *comma = memchr(head, ',', n - 5);
    if (!comma)
        return jn_err_set(err, JN_EINVAL, "%s: data: URI without ',' before its data", what);
    size_t head_n = (size_t)(comma - head);
    bool b64 = head_n >= 7 && strncasecmp(comma - 7, ";base64", 7) == 0;
    const char *semi = memchr(head, ';', head_n);
    size_t type_n = semi ? (size_t)(semi - head) : head_n;
    if (type_n >= sizeof out->content_type)
        return jn_err_set(err, JN_EINVAL, "%s: data: URI media type is too long", what);
    if (type_n && !media_ok(head, type_n, media))
        return jn_err_set(err, JN_EINVAL, "%s: data: URI holds '%.*s', expected %s...", what, (int)type_n, head,
                          media_prefix(media));
    const char *data = comma + 1;
    size_t data_n = n - (size_t)(data - uri);
    if (b64) {
        /* 4 characters per 3 bytes: refuse before decoding what would be too large anyway */
        if (data_n / 4 > max_bytes / 3 + 1)
            return jn_err_set(err, JN_EINVAL, "%s: data: URI holds more than %zu bytes (--fetch-max-bytes)", what,
                              max_bytes);
        size_t bad, len;
        uint8_t *bytes = jn_base64_decode(data, data_n, &len, &bad);
        if (!bytes) {
            if (bad == SIZE_MAX)
                return jn_err_set(err, JN_ENOMEM, "out of memory");
            if (bad >= data_n)
                return jn_err_set(err, JN_EINVAL, "%s: data: URI is not valid base64 (it ends mid-byte)", what);
            return jn_err_set(err, JN_EINVAL, "%s: data: URI is not valid base64 (character %zu of its data)", what,
                              bad);
        }
        if (len > max_bytes) {
            free(bytes);
            return jn_err_set(err, JN_EINVAL, "%s: data: URI holds %zu bytes, more than %zu (--fetch-max-bytes)",
                              what, len, max_bytes);
        }
        out->data = bytes;
        out->len = len;
    } else {
        uint8_t *bytes = malloc(data_n ? data_n : 1);
        if (!bytes)
            return jn_err_set(err, JN_ENOMEM, "out of memory");
        size_t len = 0;
        for (size_t i = 0; i < data_n; i++) {
            if (data[i] != '%') {
                bytes[len++] = (uint8_t)data[i];
                continue;
            }
            int hi = i + 2 < data_n ? hexval(data[i + 1]) : -1, lo = hi >= 0 ? hexval(data[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                free(bytes);
                return jn_err_set(err, JN_EINVAL, "%s: data: URI has a bad percent-escape at character %zu of its "
                                  "data", what, i);
            }
            bytes[len++] = (uint8_t)(hi * 16 + lo);
            i += 2;
        }
        if (len > max_bytes) {
            free(bytes);
            return jn_err_set(err, JN_EINVAL, "%s: data: URI holds %zu bytes, more than %zu (--fetch-max-bytes)",
                              what, len, max_bytes);
        }
        out->data = bytes;
        out->len = len;
    }
    memcpy(out->content_type, head, type_n);
    out->content_type[type_n] = '\0';
    return 0;
}

/* ---- one hop over the network ---- */

typedef enum stop_reason { STOP_NONE, STOP_TOO_LARGE, STOP_TYPE, STOP_STATUS, STOP_CANCELLED, STOP_DEADLINE,
                           STOP_OOM } stop_reason;

typedef struct hop {
    const jn_fetcher *f;
    jn_fetch_media media;
    CURL *h;
    const char *host; /* as matched against the allow-list */
    bool exact;       /* the URL's host is listed by name or address (private addresses allowed) */
    /* the first address refused by the SSRF check */
    char refused[INET6_ADDRSTRLEN];
    jn_addr_class refused_class;
    /* the body */
    uint8_t *data;
    size_t len, cap;
    bool started; /* the first body bytes were seen: status and type checked */
    bool keep;    /* a 2xx answer: its body is the result (a redirect's or an error's is dropped) */
    long status;
    stop_reason stop;
    char type[128];
    /* progress */
    const atomic_int *cancelled;
    int64_t deadline_ns, call_deadline_ns;
} hop;

static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *sa)
{
    hop *h = arg;
    uint8_t bytes[16];
    size_t len;
    int port;
    if (purpose != CURLSOCKTYPE_IPCXN)
        return CURL_SOCKET_BAD;
    if (sa->family == AF_INET && sa->addrlen >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&sa->addr;
        memcpy(bytes, &in->sin_addr, 4);
        len = 4;
        port = ntohs(in->sin_port);
    } else if (sa->family == AF_INET6 && sa->addrlen >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&sa->addr;
        memcpy(bytes, &in6->sin6_addr, 16);
        len = 16;
        port = ntohs(in6->sin6_port);
    } else {
        return CURL_SOCKET_BAD;
    }
    jn_addr_class cls = jn_fetch_addr_class(bytes, len);
    if (cls != JN_ADDR_PUBLIC && !h->exact) {
        char text[INET6_ADDRSTRLEN];
        inet_ntop(len == 4 ? AF_INET : AF_INET6, bytes, text, sizeof text);
        bool exact;
        if (!jn_fetch_allow_host(h->f->allow, text, port, &exact) || !exact) {
            if (!h->refused[0]) {
                memcpy(h->refused, text, sizeof text);
                h->refused_class = cls;
            }
            return CURL_SOCKET_BAD;
        }
    }
    return socket(sa->family, sa->socktype, sa->protocol);
}

/* The first body bytes: the status and the Content-Type decide whether the body is kept, dropped or refused. */
static bool first_bytes(hop *h)
{
    h->started = true;
    curl_easy_getinfo(h->h, CURLINFO_RESPONSE_CODE, &h->status);
    if (h->status >= 300 && h->status < 400)
        return true; /* a redirect's body: dropped */
    if (h->status < 200 || h->status >= 300) {
        h->stop = STOP_STATUS;
        return false;
    }
    char *type = NULL;
    curl_easy_getinfo(h->h, CURLINFO_CONTENT_TYPE, &type);
    snprintf(h->type, sizeof h->type, "%s", type ? type : "");
    if (!type || !media_ok(type, strlen(type), h->media)) {
        h->stop = STOP_TYPE;
        return false;
    }
    h->keep = true;
    return true;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
    hop *h = arg;
    size_t n = size * nmemb;
    if (!h->started && !first_bytes(h))
        return CURL_WRITEFUNC_ERROR;
    if (!h->keep)
        return n;
    if (h->len + n > h->f->max_bytes) {
        h->stop = STOP_TOO_LARGE;
        return CURL_WRITEFUNC_ERROR;
    }
    if (h->len + n > h->cap) {
        size_t cap = h->cap ? h->cap : 64 * 1024;
        while (cap < h->len + n)
            cap *= 2;
        if (cap > h->f->max_bytes)
            cap = h->f->max_bytes;
        uint8_t *grown = realloc(h->data, cap);
        if (!grown) {
            h->stop = STOP_OOM;
            return CURL_WRITEFUNC_ERROR;
        }
        h->data = grown;
        h->cap = cap;
    }
    memcpy(h->data + h->len, p, n);
    h->len += n;
    return n;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    hop *h = arg;
    if (h->cancelled && atomic_load_explicit(h->cancelled, memory_order_relaxed)) {
        h->stop = STOP_CANCELLED;
        return 1;
    }
    if (h->deadline_ns && now_ns() >= h->deadline_ns) {
        h->stop = STOP_DEADLINE;
        return 1;
    }
    return 0;
}

/* ---- URL checks ---- */

/* The URL's scheme, host (lower case, IPv6 without brackets, canonical) and port, checked against the policy.
 * `shown` is the URL as messages show it. */
static int check_url(const jn_fetcher *f, CURLU *u, const char *what, const char *shown, int hop_no, char *host,
                     size_t host_cap, bool *exact, jn_err *err)
{
    char *scheme = NULL, *h = NULL, *port = NULL;
    int rc = 0;
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        rc = jn_err_set(err, JN_EINVAL, "%s: '%s' is not a URL with a host", what, shown);
        goto out;
    }
    if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) {
        rc = jn_err_set(err, JN_EINVAL, "%s: %s'%s': scheme '%s' is not fetched (http and https only)", what,
                        hop_no ? "redirected to " : "", shown, scheme);
        goto out;
    }
    size_t n = strlen(h);
    const char *start = h;
    if (n >= 2 && h[0] == '[') { /* [v6] or [v6%zone] */
        start++;
        n -= 2;
    }
    if (n == 0 || n >= host_cap) {
        rc = jn_err_set(err, JN_EINVAL, "%s: '%s' has no usable host", what, shown);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        host[i] = (char)tolower((unsigned char)start[i]);
    host[n] = '\0';
    if (n > 1 && host[n - 1] == '.') /* "example.com." is example.com */
        host[n - 1] = '\0';
    struct in6_addr a6;
    if (h[0] == '[' && inet_pton(AF_INET6, host, &a6) == 1)
        inet_ntop(AF_INET6, &a6, host, host_cap);
    int port_no = atoi(port);
    if (!jn_fetch_allow_host(f->allow, host, port_no, exact)) {
        if (hop_no)
            rc = jn_err_set(err, JN_EPERMISSION, "%s: redirected to '%s', whose host '%s' (port %d) is not in "
                            "--fetch-allow", what, shown, host, port_no);
        else
            rc = jn_err_set(err, JN_EPERMISSION, "%s: '%s': host '%s' (port %d) is not in --fetch-allow", what,
                            shown, host, port_no);
    }
out:
    curl_free(scheme);
    curl_free(h);
    curl_free(port);
    return rc;
}

/* The URL as messages show it: at most 160 characters, the query left out (it may carry a token). */
static void show_url(const char *url, char *buf, size_t cap)
{
    size_t n = strcspn(url, "?#");
    if (n > 160)
        snprintf(buf, cap, "%.157s...", url);
    else
        snprintf(buf, cap, "%.*s%s", (int)n, url, url[n] == '?' ? "?..." : url[n] ? "#..." : "");
}

static int stopped(const hop *h, CURLcode cc, const char *errbuf, const char *what, const char *shown, int64_t started,
                   jn_err *err)
{
    int64_t ms = (now_ns() - started) / 1000000;
    switch (h->stop) {
    case STOP_TOO_LARGE:
        return jn_err_set(err, JN_EINVAL, "%s: '%s' is larger than %zu bytes (--fetch-max-bytes)", what, shown,
                          h->f->max_bytes);
    case STOP_TYPE:
        return jn_err_set(err, JN_EINVAL, "%s: '%s' is '%s', expected %s...", what, shown,
                          h->type[0] ? h->type : "(no Content-Type)", media_prefix(h->media));
    case STOP_STATUS:
        return jn_err_set(err, h->status >= 500 ? JN_EUNAVAIL : JN_EINVAL, "%s: '%s' answered HTTP %ld", what, shown,
                          h->status);
    case STOP_CANCELLED:
        return jn_err_set(err, JN_ECANCELLED, "%s: the call was cancelled while fetching '%s'", what, shown);
    case STOP_OOM:
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    case STOP_DEADLINE:
    case STOP_NONE:
        break;
    }
    if (h->stop == STOP_DEADLINE || cc == CURLE_OPERATION_TIMEDOUT) {
        if (h->call_deadline_ns && now_ns() >= h->call_deadline_ns)
            return jn_err_set(err, JN_EDEADLINE, "%s: the call's deadline passed while fetching '%s'", what, shown);
        return jn_err_set(err, JN_EDEADLINE, "%s: fetching '%s' timed out after %lld ms (--fetch-timeout-ms %lld)",
                          what, shown, (long long)ms, (long long)h->f->timeout_ms);
    }
    if (h->refused[0] && (cc == CURLE_COULDNT_CONNECT || cc == CURLE_FAILED_INIT))
        return jn_err_set(err, JN_EPERMISSION, "%s: '%s': host '%s' resolves to %s, %s, which is refused unless "
                          "listed in --fetch-allow by name or address", what, shown, h->host, h->refused,
                          jn_addr_class_name(h->refused_class));
    if (cc == CURLE_FILESIZE_EXCEEDED)
        return jn_err_set(err, JN_EINVAL, "%s: '%s' is larger than %zu bytes (--fetch-max-bytes)", what, shown,
                          h->f->max_bytes);
    if (cc == CURLE_COULDNT_RESOLVE_HOST)
        return jn_err_set(err, JN_EUNAVAIL, "%s: '%s': host '%s' could not be resolved", what, shown, h->host);
    return jn_err_set(err, JN_EUNAVAIL, "%s: fetching '%s' failed: %s", what, shown,
                      errbuf[0] ? errbuf : curl_easy_strerror(cc));
}

/* One request; 0 with *next set (malloc'd) for a redirect, 0 with h->data for the answer, or an error. */
static int one_hop(hop *h, const char *url, const char *what, const char *shown, int64_t started, char **next,
                   jn_err *err)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    *next = NULL;
    int64_t left_ms = (h->deadline_ns - now_ns()) / 1000000;
    if (left_ms <= 0)
        return stopped(&(hop){.f = h->f, .stop = STOP_DEADLINE, .call_deadline_ns = h->call_deadline_ns}, CURLE_OK,
                       errbuf, what, shown, started, err);
    struct curl_slist *headers = curl_slist_append(NULL, h->media == JN_FETCH_AUDIO ? "Accept: audio/*"
                                                                                       : "Accept: image/*");
    CURL *c = h->h = curl_easy_init();
    if (!c || !headers) {
        curl_slist_free_all(headers);
        curl_easy_cleanup(c);
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROXY, ""); /* never a proxy: it would resolve names past the address check */
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "junction-fetch");
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, h);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)left_ms);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)h->f->max_bytes);
    curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
    CURLcode cc = curl_easy_perform(c);
    int rc = 0;
    if (cc != CURLE_OK || h->stop != STOP_NONE) {
        rc = stopped(h, cc, errbuf, what, shown, started, err);
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &h->status);
        if (h->status >= 300 && h->status < 400) {
            char *loc = NULL;
            curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &loc);
            if (!loc)
                rc = jn_err_set(err, JN_EINVAL, "%s: '%s' answered HTTP %ld without a Location", what, shown,
                                h->status);
            else if (!(*next = strdup(loc)))
                rc = jn_err_set(err, JN_ENOMEM, "out of memory");
        } else if (!h->started && !first_bytes(h)) { /* an empty body: nothing went through on_body */
            rc = stopped(h, cc, errbuf, what, shown, started, err);
        } else if (!h->data && !(h->data = malloc(1))) {
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
        }
    }
    curl_easy_cleanup(c);
    curl_slist_free_all(headers);
    h->h = NULL;
    return rc;
}

/* What jn_fetch refuses before parsing an http(s) URL. */
static int precheck(const jn_fetcher *f, const char *url, size_t n, const char *what, jn_err *err)
{
    if (!jn_fetch_is_url(url, n))
        return jn_err_set(err, JN_EINVAL, "%s: not an http, https or data: URL", what);
    if (!f || jn_fetch_allow_count(f->allow) == 0)
        return jn_err_set(err, JN_EPERMISSION, "%s: URL fetching is off: the server fetches only from hosts listed "
                          "with --fetch-allow", what);
    if (n > JN_FETCH_MAX_URL)
        return jn_err_set(err, JN_EINVAL, "%s: the URL is %zu characters long; at most %d", what, n, JN_FETCH_MAX_URL);
    if (memchr(url, '\0', n))
        return jn_err_set(err, JN_EINVAL, "%s: the URL holds a NUL character", what);
    return 0;
}

/* Parses cur and checks it against the policy; host gets its normalised host. */
static int parse_and_check(const jn_fetcher *f, const char *cur, const char *what, const char *shown, int hop_no,
                           char *host, size_t host_cap, bool *exact, jn_err *err)
{
    CURLU *u = curl_url();
    if (!u)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    int rc;
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, cur, 0);
    if (uc != CURLUE_OK)
        rc = jn_err_set(err, JN_EINVAL, "%s: %s'%s' is not a valid URL (%s)", what, hop_no ? "redirected to " : "",
                        shown, curl_url_strerror(uc));
    else
        rc = check_url(f, u, what, shown, hop_no, host, host_cap, exact, err);
    curl_url_cleanup(u);
    return rc;
}

int jn_fetch_check_url(const jn_fetcher *f, const char *url, size_t n, jn_fetch_media media, const char *what,
                       jn_err *err)
{
    if (n >= 5 && strncasecmp(url, "data:", 5) == 0) {
        jn_fetched out;
        int rc = jn_fetch_data_uri(url, n, media, f ? f->max_bytes : JN_FETCH_DEFAULT_MAX_BYTES, what, &out, err);
        jn_fetched_free(&out);
        return rc;
    }
    int rc = precheck(f, url, n, what, err);
    if (rc)
        return rc;
    char *cur = strndup(url, n), shown[200], host[256];
    if (!cur)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    show_url(cur, shown, sizeof shown);
    bool exact;
    rc = parse_and_check(f, cur, what, shown, 0, host, sizeof host, &exact, err);
    free(cur);
    return rc;
}

int jn_fetch(const jn_fetcher *f, const char *url, size_t n, jn_fetch_media media, const char *what,
             int64_t deadline_ns, const atomic_int *cancelled, jn_fetched *out, jn_err *err)
{
    memset(out, 0, sizeof *out);
    if (n >= 5 && strncasecmp(url, "data:", 5) == 0)
        return jn_fetch_data_uri(url, n, media, f ? f->max_bytes : JN_FETCH_DEFAULT_MAX_BYTES, what, out, err);
    int rc = precheck(f, url, n, what, err);
    if (rc)
        return rc;
    char *cur = strndup(url, n);
    if (!cur)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    int64_t started = now_ns(), deadline = started + f->timeout_ms * 1000000;
    for (int hop_no = 0;; hop_no++) {
        char shown[200], host[256];
        show_url(cur, shown, sizeof shown);
        if (hop_no > JN_FETCH_MAX_REDIRECTS) {
            rc = jn_err_set(err, JN_EINVAL, "%s: more than %d redirects (the last to '%s')", what,
                            JN_FETCH_MAX_REDIRECTS, shown);
            break;
        }
        bool exact = false;
        if ((rc = parse_and_check(f, cur, what, shown, hop_no, host, sizeof host, &exact, err)))
            break;
        hop h = {.f = f, .media = media, .host = host, .exact = exact, .cancelled = cancelled,
                 .deadline_ns = deadline_ns && deadline_ns < deadline ? deadline_ns : deadline,
                 .call_deadline_ns = deadline_ns};
        char *next = NULL;
        rc = one_hop(&h, cur, what, shown, started, &next, err);
        if (rc || !next) {
            if (!rc) {
                out->data = h.data;
                out->len = h.len;
                snprintf(out->content_type, sizeof out->content_type, "%s", h.type);
                h.data = NULL;
            }
            free(h.data);
            break;
        }
        free(h.data);
        free(cur);
        cur = next;
    }
    free(cur);
    return rc;
}
