/* http_client.c — libcurl's multi interface on a pump thread (http_client.h). */
#include "http_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "engine.h" /* jn_now_ns */
#include "trace.h"
#include "grow.h"

struct jn_http_transfer {
    jn_http_client *c;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    /* Guarded by mu (the pump writes, the owner reads). */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *buf; /* arrived, not yet handed over */
    size_t len, cap;
    bool failed_alloc;
    bool too_large; /* the body outgrew max_body */
    size_t received, max_body;
    bool waiting; /* the owner sleeps on cv: the pump signals only then */
    const atomic_int *cancelled; /* the owner's flag while it sleeps in jn_http_next (or NULL) */
    bool done;    /* the pump saw the transfer end */
    bool removed; /* the pump took it out after jn_http_close asked */
    CURLcode result;
    long status;
    char content_type[128];
    int64_t retry_after_ms;
    int64_t deadline_ns;
    char errbuf[CURL_ERROR_SIZE];
    /* The pump's own. */
    bool in_multi;
    struct jn_http_transfer *run_prev, *run_next; /* the client's running list while in_multi */
    struct jn_http_transfer *next_pending; /* in the client's adds or aborts, guarded by the client's mu */
};

struct jn_http_client {
    CURLM *multi; /* the pump's alone, as are epfd and timer_at_ns */
    int epfd;     /* the sockets libcurl asks to watch, and wakefd */
    int wakefd;   /* an eventfd: other threads wake the pump */
    int64_t timer_at_ns; /* libcurl's timer (jn_now_ns clock), -1 = none */
    jn_http_transfer *running; /* the transfers in the multi handle (the pump's) */
    int64_t cancel_check_ns;   /* when the pump next looks at their owners' cancellation flags */
    pthread_t thread;
    pthread_mutex_t mu; /* guards adds, aborts, stopping, wake_pending */
    jn_http_transfer *adds, *aborts;
    bool stopping;
    bool wake_pending; /* wakefd written since the pump last took the lists */
    char *ca_file, *cert_file, *key_file;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- the pump ---- */

/* libcurl's socket callback: the socket's wanted events into the epoll set (its number is the key: libcurl says
 * CURL_POLL_REMOVE before it closes one, and a number reused since is re-added or modified, whichever applies). */
static int on_socket(CURL *easy, curl_socket_t s, int what, void *arg, void *socketp)
{
    (void)easy;
    (void)socketp;
    jn_http_client *c = arg;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(c->epfd, EPOLL_CTL_DEL, s, NULL); /* ENOENT/EBADF: already gone */
        return 0;
    }
    uint32_t events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
    struct epoll_event ev = {.events = events, .data.fd = s};
    if (epoll_ctl(c->epfd, EPOLL_CTL_MOD, s, &ev) != 0 && errno == ENOENT &&
        epoll_ctl(c->epfd, EPOLL_CTL_ADD, s, &ev) != 0)
        return -1; /* libcurl fails the transfers on this socket */
    return 0;
}

/* libcurl's timer callback: when to call curl_multi_socket_action(CURL_SOCKET_TIMEOUT) next (-1 = no timer). */
static int on_timer(CURLM *multi, long timeout_ms, void *arg)
{
    (void)multi;
    jn_http_client *c = arg;
    c->timer_at_ns = timeout_ms < 0 ? -1 : jn_now_ns() + (int64_t)timeout_ms * 1000000;
    return 0;
}

static void take_lists(jn_http_client *c, jn_http_transfer **adds, jn_http_transfer **aborts, bool *stopping)
{
    pthread_mutex_lock(&c->mu);
    *adds = c->adds;
    *aborts = c->aborts;
    *stopping = c->stopping;
    c->adds = c->aborts = NULL;
    c->wake_pending = false;
    pthread_mutex_unlock(&c->mu);
}

/* Wakes the pump to take its lists (once, however many callers ask before it does). */
static void wake_pump(jn_http_client *c)
{
    pthread_mutex_lock(&c->mu);
    bool first = !c->wake_pending;
    c->wake_pending = true;
    pthread_mutex_unlock(&c->mu);
    if (first) {
        uint64_t one = 1;
        ssize_t w;
        do
            w = write(c->wakefd, &one, sizeof one);
        while (w < 0 && errno == EINTR);
        /* EAGAIN: the counter is full, i.e. the pump is woken anyway */
    }
}

static void finish(jn_http_transfer *t, CURLcode result)
{
    long status = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    pthread_mutex_lock(&t->mu);
    t->done = true;
    t->result = result;
    if (status)
        t->status = status;
    if (t->waiting)
        pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

static void running_add(jn_http_client *c, jn_http_transfer *t)
{
    t->in_multi = true;
    t->run_prev = NULL;
    t->run_next = c->running;
    if (c->running)
        c->running->run_prev = t;
    c->running = t;
}

static void running_remove(jn_http_client *c, jn_http_transfer *t)
{
    t->in_multi = false;
    if (t->run_prev)
        t->run_prev->run_next = t->run_next;
    else
        c->running = t->run_next;
    if (t->run_next)
        t->run_next->run_prev = t->run_prev;
    t->run_prev = t->run_next = NULL;
}

/* Every CANCEL_CHECK_MS while transfers run, the pump wakes the owners whose call was cancelled: one look at every
 * flag, instead of each waiting owner waking up on its own to look at its flag. */
#define CANCEL_CHECK_MS 20

static void check_cancelled(jn_http_client *c)
{
    for (jn_http_transfer *t = c->running; t; t = t->run_next) {
        pthread_mutex_lock(&t->mu);
        if (t->waiting && t->cancelled && atomic_load(t->cancelled))
            pthread_cond_signal(&t->cv);
        pthread_mutex_unlock(&t->mu);
    }
}

/* The transfers libcurl says are complete: out of the multi handle, their owners told. */
static void reap(jn_http_client *c)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        jn_http_transfer *t = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        CURLcode result = msg->data.result;
        curl_multi_remove_handle(c->multi, msg->easy_handle);
        running_remove(c, t);
        finish(t, result);
    }
}

/* An event loop over the sockets libcurl asks for (epoll: a wake costs the sockets that are ready, not every
 * transfer), its timer, and the eventfd other threads write to hand over adds and aborts. */
static void *pump_main(void *arg)
{
    jn_http_client *c = arg;
    struct epoll_event evs[64];
    int running = 0;
    for (;;) {
        jn_http_transfer *adds, *aborts;
        bool stopping;
        take_lists(c, &adds, &aborts, &stopping);
        while (adds) {
            jn_http_transfer *t = adds;
            adds = t->next_pending;
            CURLMcode mc = curl_multi_add_handle(c->multi, t->easy); /* sets a timer of 0: started below */
            if (mc == CURLM_OK) {
                running_add(c, t);
            } else {
                snprintf(t->errbuf, sizeof t->errbuf, "%s", curl_multi_strerror(mc));
                finish(t, CURLE_FAILED_INIT);
            }
        }
        while (aborts) {
            jn_http_transfer *t = aborts;
            aborts = t->next_pending;
            if (t->in_multi) {
                curl_multi_remove_handle(c->multi, t->easy); /* closes a connection in use */
                running_remove(c, t);
            }
            pthread_mutex_lock(&t->mu);
            t->removed = true;
            pthread_cond_signal(&t->cv);
            pthread_mutex_unlock(&t->mu);
        }
        if (stopping)
            break;
        int64_t now = jn_now_ns();
        if (c->running && now >= c->cancel_check_ns) {
            check_cancelled(c);
            c->cancel_check_ns = now + (int64_t)CANCEL_CHECK_MS * 1000000;
        }
        int64_t until = c->timer_at_ns;
        if (c->running && (until < 0 || c->cancel_check_ns < until))
            until = c->cancel_check_ns;
        int wait_ms = 1000;
        if (until >= 0) {
            int64_t left = until - now;
            wait_ms = left <= 0 ? 0 : left >= 1000000000 ? 1000 : (int)((left + 999999) / 1000000);
        }
        int n = epoll_wait(c->epfd, evs, (int)(sizeof evs / sizeof evs[0]), wait_ms);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == c->wakefd) {
                uint64_t v;
                while (read(c->wakefd, &v, sizeof v) < 0 && errno == EINTR)
                    ;
                continue;
            }
            uint32_t e = evs[i].events;
            int mask = ((e & (EPOLLIN | EPOLLHUP)) ? CURL_CSELECT_IN : 0) | ((e & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
                       ((e & EPOLLERR) ? CURL_CSELECT_ERR : 0);
            curl_multi_socket_action(c->multi, fd, mask, &running);
        }
        if (c->timer_at_ns >= 0 && jn_now_ns() >= c->timer_at_ns) {
            c->timer_at_ns = -1; /* libcurl sets the next one from inside */
            curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
        reap(c);
    }
    return NULL;
}

/* ---- callbacks (on the pump) ---- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    jn_http_transfer *t = arg;
    size_t n = size * nmemb;
    pthread_mutex_lock(&t->mu);
    t->received += n;
    if (t->max_body && t->received > t->max_body) {
        t->too_large = true;
        pthread_mutex_unlock(&t->mu);
        return 0; /* curl ends the transfer with CURLE_WRITE_ERROR */
    }
    char *b = jn_grow(t->buf, &t->cap, t->len + n + 1, 4096);
    if (!b) {
        t->failed_alloc = true;
        pthread_mutex_unlock(&t->mu);
        return 0; /* curl ends the transfer with CURLE_WRITE_ERROR */
    }
    t->buf = b;
    memcpy(t->buf + t->len, data, n);
    t->len += n;
    t->buf[t->len] = '\0';
    if (!t->status) {
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->status);
        const char *ct = NULL;
        curl_easy_getinfo(t->easy, CURLINFO_CONTENT_TYPE, &ct);
        snprintf(t->content_type, sizeof t->content_type, "%s", ct ? ct : "");
    }
    /* Chunks that arrive while the owner is busy pile up in buf and are taken at once: no wake for them. */
    if (t->waiting)
        pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    jn_http_transfer *t = arg;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";
    if (n > sizeof name - 1 && strncasecmp(data, name, sizeof name - 1) == 0) {
        char v[32];
        size_t k = 0;
        for (size_t i = sizeof name - 1; i < n && k + 1 < sizeof v; i++)
            if (data[i] != ' ' && data[i] != '\t' && data[i] != '\r' && data[i] != '\n')
                v[k++] = data[i];
        v[k] = '\0';
        char *end;
        errno = 0;
        long long s = strtoll(v, &end, 10);
        pthread_mutex_lock(&t->mu);
        /* Seconds (the HTTP-date form is not taken: the backoff applies then). */
        t->retry_after_ms = (k && !*end && !errno && s >= 0 && s < 86400) ? s * 1000 : -1;
        pthread_mutex_unlock(&t->mu);
    }
    return n;
}

/* ---- the owner's side ---- */

jn_http_client *jn_http_client_create(const jn_http_tls *tls, long keep_connections, jn_err *err)
{
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK) {
        jn_err_set(err, JN_EINTERNAL, "libcurl: %s", curl_easy_strerror(global_rc));
        return NULL;
    }
    jn_http_client *c = calloc(1, sizeof *c);
    if (!c) {
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    c->timer_at_ns = -1;
    c->epfd = epoll_create1(EPOLL_CLOEXEC);
    c->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    bool oom = false;
    if (tls) {
        if (tls->ca_file && *tls->ca_file)
            oom |= !(c->ca_file = strdup(tls->ca_file));
        if (tls->cert_file && *tls->cert_file)
            oom |= !(c->cert_file = strdup(tls->cert_file));
        if (tls->key_file && *tls->key_file)
            oom |= !(c->key_file = strdup(tls->key_file));
    }
    struct epoll_event wev = {.events = EPOLLIN, .data.fd = c->wakefd};
    bool fds = c->epfd >= 0 && c->wakefd >= 0 && epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->wakefd, &wev) == 0;
    c->multi = oom || !fds ? NULL : curl_multi_init();
    if (c->multi) {
        if (keep_connections > 0)
            curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, keep_connections);
        curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
        curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
        curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer);
        curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    }
    if (!c->multi || pthread_create(&c->thread, NULL, pump_main, c) != 0) {
        if (c->multi)
            curl_multi_cleanup(c->multi);
        if (c->epfd >= 0)
            close(c->epfd);
        if (c->wakefd >= 0)
            close(c->wakefd);
        free(c->ca_file);
        free(c->cert_file);
        free(c->key_file);
        pthread_mutex_destroy(&c->mu);
        free(c);
        jn_err_set(err, JN_ENOMEM, "cannot start the HTTP client");
        return NULL;
    }
    return c;
}

void jn_http_client_destroy(jn_http_client *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->stopping = true;
    pthread_mutex_unlock(&c->mu);
    wake_pump(c);
    pthread_join(c->thread, NULL);
    curl_multi_cleanup(c->multi); /* its socket callbacks still use epfd */
    close(c->epfd);
    close(c->wakefd);
    free(c->ca_file);
    free(c->cert_file);
    free(c->key_file);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static void transfer_free(jn_http_transfer *t)
{
    if (t->easy)
        curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->headers);
    free(t->body);
    free(t->buf);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    free(t);
}

static bool add_header(jn_http_transfer *t, const char *h)
{
    struct curl_slist *l = curl_slist_append(t->headers, h);
    if (l)
        t->headers = l;
    return l != NULL;
}

jn_http_transfer *jn_http_start(jn_http_client *c, const jn_http_client_request *r, jn_err *err)
{
    jn_http_transfer *t = calloc(1, sizeof *t);
    if (!t) {
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    t->c = c;
    t->retry_after_ms = -1;
    t->deadline_ns = r->deadline_ns;
    t->max_body = r->max_body;
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    bool post = strcmp(r->method, "POST") == 0;
    bool ok = (t->easy = curl_easy_init()) != NULL;
    if (ok && post) {
        ok = (t->body = malloc(r->body_len + 1)) != NULL;
        if (ok) {
            memcpy(t->body, r->body, r->body_len);
            t->body[r->body_len] = '\0';
        }
        ok = ok && add_header(t, "Content-Type: application/json");
    }
    if (ok) {
        char accept[128];
        snprintf(accept, sizeof accept, "Accept: %s", r->accept ? r->accept : "application/json");
        ok = add_header(t, accept) && add_header(t, "Expect:"); /* no 100-continue round trip */
    }
    if (ok && r->traceparent && *r->traceparent) {
        char h[JN_TRACESTATE_MAX + 16]; /* the longer of the two */
        snprintf(h, sizeof h, "traceparent: %s", r->traceparent);
        ok = add_header(t, h);
        if (ok && r->tracestate && *r->tracestate) {
            snprintf(h, sizeof h, "tracestate: %s", r->tracestate);
            ok = add_header(t, h);
        }
    }
    if (ok && r->bearer) {
        size_t n = strlen(r->bearer) + 32;
        char *h = malloc(n);
        ok = h != NULL;
        if (ok) {
            snprintf(h, n, "Authorization: Bearer %s", r->bearer);
            ok = add_header(t, h);
            memset(h, 0, n); /* the copy in the list is the only one left */
            free(h);
        }
    }
    if (!ok) {
        transfer_free(t);
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    int64_t left_ms = (r->deadline_ns - jn_now_ns()) / 1000000;
    if (left_ms < 1)
        left_ms = 1;
    CURL *e = t->easy;
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)t);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)left_ms);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    if (c->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
    if (c->cert_file)
        curl_easy_setopt(e, CURLOPT_SSLCERT, c->cert_file);
    if (c->key_file)
        curl_easy_setopt(e, CURLOPT_SSLKEY, c->key_file);
    if (post) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
    } else {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
    pthread_mutex_lock(&c->mu);
    t->next_pending = c->adds;
    c->adds = t;
    pthread_mutex_unlock(&c->mu);
    wake_pump(c);
    return t;
}

static int failure(jn_http_transfer *t, jn_err *err)
{
    if (t->failed_alloc)
        return jn_err_set(err, JN_ENOMEM, "out of memory (receiving the answer)");
    if (t->too_large)
        return jn_err_set(err, JN_ERANGE, "the answer is larger than %zu bytes", t->max_body);
    const char *why = t->errbuf[0] ? t->errbuf : curl_easy_strerror(t->result);
    if (t->result == CURLE_OPERATION_TIMEDOUT)
        return jn_err_set(err, JN_EDEADLINE, "no complete answer before the deadline (%s)", why);
    return jn_err_set(err, JN_EUNAVAIL, "%s", why);
}

int jn_http_next(jn_http_transfer *t, const atomic_int *cancelled, char **out, size_t *out_len, size_t *out_cap,
                 jn_err *err)
{
    pthread_mutex_lock(&t->mu);
    for (;;) {
        if (t->len) {
            char *b = jn_grow(*out, out_cap, *out_len + t->len + 1, 4096);
            if (!b) {
                pthread_mutex_unlock(&t->mu);
                return jn_err_set(err, JN_ENOMEM, "out of memory");
            }
            *out = b;
            memcpy(*out + *out_len, t->buf, t->len);
            *out_len += t->len;
            (*out)[*out_len] = '\0';
            t->len = 0;
            pthread_mutex_unlock(&t->mu);
            return JN_HTTP_DATA;
        }
        if (t->done) {
            int rc = t->result == CURLE_OK ? JN_HTTP_END : failure(t, err);
            pthread_mutex_unlock(&t->mu);
            return rc;
        }
        if (cancelled && atomic_load(cancelled)) {
            pthread_mutex_unlock(&t->mu);
            return jn_err_set(err, JN_ECANCELLED, "the call was cancelled");
        }
        /* curl's own timeout ends the transfer at the deadline; the pump looks at `cancelled` every CANCEL_CHECK_MS
         * while the transfer runs and wakes this thread when it is set. The timeout is only a backstop (a transfer
         * not yet added, a flag set as the pump looked). */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        t->cancelled = cancelled;
        t->waiting = true;
        pthread_cond_timedwait(&t->cv, &t->mu, &until);
        t->waiting = false;
        t->cancelled = NULL;
    }
}

long jn_http_status(const jn_http_transfer *t)
{
    jn_http_transfer *m = (jn_http_transfer *)t;
    pthread_mutex_lock(&m->mu);
    long s = m->status;
    pthread_mutex_unlock(&m->mu);
    return s;
}

int64_t jn_http_retry_after_ms(const jn_http_transfer *t)
{
    jn_http_transfer *m = (jn_http_transfer *)t;
    pthread_mutex_lock(&m->mu);
    int64_t v = m->retry_after_ms;
    pthread_mutex_unlock(&m->mu);
    return v;
}

void jn_http_content_type(const jn_http_transfer *t, char *buf, size_t n)
{
    jn_http_transfer *m = (jn_http_transfer *)t;
    pthread_mutex_lock(&m->mu);
    snprintf(buf, n, "%s", m->content_type);
    pthread_mutex_unlock(&m->mu);
}

void jn_http_close(jn_http_transfer *t)
{
    if (!t)
        return;
    jn_http_client *c = t->c;
    pthread_mutex_lock(&t->mu);
    bool done = t->done;
    pthread_mutex_unlock(&t->mu);
    if (!done) {
        /* The pump takes it out (closing its connection) and says so; only then may it be freed. */
        pthread_mutex_lock(&c->mu);
        t->next_pending = c->aborts;
        c->aborts = t;
        pthread_mutex_unlock(&c->mu);
        wake_pump(c);
        pthread_mutex_lock(&t->mu);
        t->waiting = true;
        while (!t->removed)
            pthread_cond_wait(&t->cv, &t->mu);
        t->waiting = false;
        pthread_mutex_unlock(&t->mu);
    }
    transfer_free(t);
}

int jn_http_check_url(const char *url, jn_err *err)
{
    if (!url || !*url)
        return jn_err_set(err, JN_EINVAL, "endpoint is empty (expected a URL such as http://HOST:PORT/v1)");
    if (strlen(url) > 255)
        return jn_err_set(err, JN_EINVAL, "endpoint is longer than 255 characters");
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
            return jn_err_set(err, JN_EINVAL, "endpoint '%s' contains a space or a control character", url);
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return jn_err_set(err, JN_EINVAL, "endpoint '%s' is not an http:// or https:// URL (e.g. http://HOST:PORT/v1)",
                          url);
    const char *host = strstr(url, "://") + 3;
    if (*host == '/' || *host == ':' || !*host)
        return jn_err_set(err, JN_EINVAL, "endpoint '%s' names no host", url);
    CURLU *u = curl_url();
    if (!u)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    int rc = 0;
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
    char *part = NULL;
    if (uc != CURLUE_OK)
        rc = jn_err_set(err, JN_EINVAL, "endpoint '%s' is not a valid URL: %s", url, curl_url_strerror(uc));
    else if (curl_url_get(u, CURLUPART_HOST, &part, 0) != CURLUE_OK || !part || !*part)
        rc = jn_err_set(err, JN_EINVAL, "endpoint '%s' names no host", url);
    curl_free(part);
    part = NULL;
    if (!rc && curl_url_get(u, CURLUPART_USER, &part, 0) == CURLUE_OK && part)
        rc = jn_err_set(err, JN_EINVAL, "endpoint: a user or password in the URL is not taken (use api_key_file)");
    curl_free(part);
    part = NULL;
    if (!rc && ((curl_url_get(u, CURLUPART_QUERY, &part, 0) == CURLUE_OK && part) ||
                (curl_free(part), part = NULL,
                 curl_url_get(u, CURLUPART_FRAGMENT, &part, 0) == CURLUE_OK && part)))
        rc = jn_err_set(err, JN_EINVAL, "endpoint '%s': a query or fragment is not taken (the base URL, e.g. "
                                        "http://HOST:PORT/v1)", url);
    curl_free(part);
    curl_url_cleanup(u);
    return rc;
}
