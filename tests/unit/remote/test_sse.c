/* Unit tests for broker/remote/sse.c (the event-stream parser of OpenAI-compatible answers) and the HTTP remotes'
 * option and URL checks (options.c, http_client.c). */
#include <string.h>

#include "http_client.h"
#include "options.h"
#include "sse.h"
#include "test.h"

typedef struct seen {
    char events[16][128];
    int n;
    int stop_after; /* 0 = never */
} seen;

static int on_event(void *arg, const char *data, size_t len)
{
    seen *s = arg;
    JN_CHECK_INT_EQ(strlen(data), len);
    if (s->n < 16)
        snprintf(s->events[s->n], sizeof s->events[0], "%s", data);
    s->n++;
    return s->stop_after && s->n >= s->stop_after ? JN_ECANCELLED : 0;
}

/* Feeds text in pieces of `step` bytes (0 = whole). */
static int feed(jn_sse *p, const char *text, size_t step, seen *s, jn_err *err)
{
    size_t n = strlen(text);
    if (!step)
        return jn_sse_feed(p, text, n, on_event, s, err);
    for (size_t i = 0; i < n; i += step) {
        int rc = jn_sse_feed(p, text + i, i + step > n ? n - i : step, on_event, s, err);
        if (rc)
            return rc;
    }
    return 0;
}

static void test_events_any_split(void)
{
    const char *stream = ": ping\r\n"
                         "data: {\"a\":1}\n\n"
                         "event: update\r\nid: 3\r\ndata:two\r\ndata: lines\r\n\r\n"
                         "data: cr only\r\r"
                         "retry: 10\n\n" /* no data: no event */
                         "data\n\n"      /* a field without a colon: empty data */
                         "data: [DONE]\n\n"
                         "data: not ended";
    for (size_t step = 0; step <= 7; step++) {
        jn_sse p;
        jn_sse_init(&p, 0);
        seen s = {0};
        jn_err err;
        JN_CHECK_INT_EQ(feed(&p, stream, step, &s, &err), 0);
        JN_CHECK_INT_EQ(s.n, 5);
        JN_CHECK_STR_EQ(s.events[0], "{\"a\":1}");
        JN_CHECK_STR_EQ(s.events[1], "two\nlines");
        JN_CHECK_STR_EQ(s.events[2], "cr only");
        JN_CHECK_STR_EQ(s.events[3], "");
        JN_CHECK_STR_EQ(s.events[4], "[DONE]");
        jn_sse_free(&p);
    }
}

static void test_limits_and_stop(void)
{
    jn_sse p;
    jn_sse_init(&p, 16);
    seen s = {0};
    jn_err err;
    JN_CHECK_ERR(feed(&p, "data: 0123456789abcdefghij\n\n", 0, &s, &err), err, JN_ERANGE);
    JN_CHECK_STR_CONTAINS(err.msg, "more than 16 bytes");
    jn_sse_free(&p);

    jn_sse_init(&p, 16);
    memset(&s, 0, sizeof s);
    jn_err_clear(&err);
    JN_CHECK_ERR(feed(&p, "data: 012345678\ndata: 012345678\n\n", 0, &s, &err), err, JN_ERANGE); /* 9 + 1 + 9 */
    jn_sse_free(&p);

    jn_sse_init(&p, 0);
    memset(&s, 0, sizeof s);
    s.stop_after = 2;
    JN_CHECK_INT_EQ(feed(&p, "data: a\n\ndata: b\n\ndata: c\n\n", 0, &s, &err), JN_ECANCELLED);
    JN_CHECK_INT_EQ(s.n, 2); /* the callback's code stops the feed */
    jn_sse_free(&p);
}

static void test_options(void)
{
    jn_remote_options o;
    jn_remote_options_default(&o);
    jn_err err;
    JN_CHECK_INT_EQ(o.kind, JN_REMOTE_KIND_CHAT);
    JN_CHECK_STR_EQ(o.api_key_file, "");
    JN_CHECK_INT_EQ(jn_remote_options_set(&o, "kind", "embeddings", &err), 0);
    JN_CHECK_INT_EQ(o.kind, JN_REMOTE_KIND_EMBEDDINGS);
    JN_CHECK_ERR(jn_remote_options_set(&o, "kind", "images", &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "option 'kind': 'images' is not chat, completions or embeddings");
    JN_CHECK_INT_EQ(jn_remote_options_set(&o, "api_key_file", "/etc/junction/openai.key", &err), 0);
    JN_CHECK_STR_EQ(o.api_key_file, "/etc/junction/openai.key");
    JN_CHECK_ERR(jn_remote_options_set(&o, "api_key_file", "", &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "option 'api_key_file'");
}

static void test_urls(void)
{
    jn_err err;
    JN_CHECK_INT_EQ(jn_http_check_url("http://127.0.0.1:8000/v1", &err), 0);
    JN_CHECK_INT_EQ(jn_http_check_url("https://api.example.com/v1/", &err), 0);
    JN_CHECK_INT_EQ(jn_http_check_url("http://[::1]:8000/v1", &err), 0);
    static const struct {
        const char *url, *want;
    } bad[] = {
        {"", "endpoint is empty"},
        {"127.0.0.1:8000", "not an http:// or https:// URL"},
        {"grpc://h:1", "not an http:// or https:// URL"},
        {"http:///v1", "names no host"},
        {"http://h:1/v1?key=x", "a query or fragment is not taken"},
        {"http://h:1/v1#x", "a query or fragment is not taken"},
        {"http://h:1/a b", "contains a space"},
        {"http://h:99999/v1", "not a valid URL"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        jn_err_clear(&err);
        JN_CHECK_ERR(jn_http_check_url(bad[i].url, &err), err, JN_EINVAL);
        JN_CHECK_STR_CONTAINS(err.msg, bad[i].want);
    }
    /* A password in the URL is refused without being repeated. */
    JN_CHECK_ERR(jn_http_check_url("http://user:hunter2@h:1/v1", &err), err, JN_EINVAL);
    JN_CHECK(strstr(err.msg, "hunter2") == NULL);
    JN_CHECK_STR_CONTAINS(err.msg, "api_key_file");
}

int main(void)
{
    JN_TEST_RUN(test_events_any_split);
    JN_TEST_RUN(test_limits_and_stop);
    JN_TEST_RUN(test_options);
    JN_TEST_RUN(test_urls);
    return JN_TEST_EXIT();
}
