/* Unit tests for broker/core/trace.c: W3C traceparent / tracestate parsing (every malformed case the spec names),
 * formatting, the call's sampling decision, and the span ring (order, capacity, drops, concurrent producers). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "engine.h"
#include "test.h"
#include "trace.h"

#define GOOD "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static int parse(const char *s, jn_trace_ctx *c)
{
    return jn_traceparent_parse(s, strlen(s), c);
}

static void test_traceparent_valid(void)
{
    jn_trace_ctx c;
    JN_CHECK_INT_EQ(parse(GOOD, &c), 0);
    JN_CHECK(c.valid);
    JN_CHECK_INT_EQ(c.trace_id[0], 0x4b);
    JN_CHECK_INT_EQ(c.trace_id[15], 0x36);
    JN_CHECK_INT_EQ(c.span_id[0], 0x00);
    JN_CHECK_INT_EQ(c.span_id[7], 0xb7);
    JN_CHECK_INT_EQ(c.flags, 1);
    char out[JN_TRACEPARENT_LEN + 1];
    jn_traceparent_format(&c, out);
    JN_CHECK_STR_EQ(out, GOOD); /* round trip */
    char hex[33];
    jn_trace_id_format(c.trace_id, hex);
    JN_CHECK_STR_EQ(hex, "4bf92f3577b34da6a3ce929d0e0e4736");
    /* not sampled, other flag bits kept */
    JN_CHECK_INT_EQ(parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", &c), 0);
    JN_CHECK_INT_EQ(c.flags, 0);
    JN_CHECK_INT_EQ(parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff", &c), 0);
    JN_CHECK_INT_EQ(c.flags, 0xff);
    /* a later version: read by its first fields, more may follow after '-' */
    JN_CHECK_INT_EQ(parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &c), 0);
    JN_CHECK_INT_EQ(parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-ever", &c), 0);
    JN_CHECK(c.valid);
}

static void test_traceparent_malformed(void)
{
    static const char *const bad[] = {
        "",
        "garbage",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",    /* short */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",  /* version 00 has no more fields */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-010",  /* long */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   /* version ff is invalid */
        "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   /* version not hex */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   /* all-zero trace id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   /* all-zero span id */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   /* upper case */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",   /* upper case span */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0G",   /* flags not hex */
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   /* separator */
        "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",   /* separator */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",   /* separator */
        "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",   /* field lengths */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ",  /* trailing space */
        "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.x", /* later version, no '-' after flags */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01",   /* span not hex */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        jn_trace_ctx c;
        memset(&c, 0x55, sizeof c);
        int rc = parse(bad[i], &c);
        if (rc != JN_EINVAL || c.valid)
            fprintf(stderr, "  accepted: '%s'\n", bad[i]);
        JN_CHECK_INT_EQ(rc, JN_EINVAL);
        JN_CHECK(!c.valid);
    }
    jn_trace_ctx c;
    JN_CHECK_INT_EQ(jn_traceparent_parse(NULL, 0, &c), JN_EINVAL);
    JN_CHECK_INT_EQ(jn_traceparent_parse(GOOD, 54, &c), JN_EINVAL); /* the length given is what counts */
}

static void test_tracestate(void)
{
    static const char *const good[] = {"", "congo=t61rcWkgMzE", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
                                       " a=1 , b=2 ", "a=1,,b=2", "tenant@sys=v", "1tenant@sys=v", "k-_*/x=a b",
                                       "a=trailing " /* white space around a member is OWS, trimmed */};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        if (!jn_tracestate_valid(good[i], strlen(good[i])))
            fprintf(stderr, "  refused: '%s'\n", good[i]);
        JN_CHECK(jn_tracestate_valid(good[i], strlen(good[i])));
    }
    static const char *const bad[] = {"novalue", "=v", "Upper=v", "1simple=v", "a=b=c",
                                      "a=\x01", "t@=v", "@s=v", "t@S=v", "t@systemtoolong15=v"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (jn_tracestate_valid(bad[i], strlen(bad[i])))
            fprintf(stderr, "  accepted: '%s'\n", bad[i]);
        JN_CHECK(!jn_tracestate_valid(bad[i], strlen(bad[i])));
    }
    char many[400] = "";
    for (int i = 0; i < 33; i++) /* 33 members: one too many */
        snprintf(many + strlen(many), sizeof many - strlen(many), "%sk%d=v", i ? "," : "", i);
    JN_CHECK(!jn_tracestate_valid(many, strlen(many)));
    char big[JN_TRACESTATE_MAX + 2];
    memset(big, 'a', sizeof big);
    big[0] = 'k';
    big[1] = '=';
    JN_CHECK(!jn_tracestate_valid(big, sizeof big)); /* over 512 */
}

static void test_ids(void)
{
    uint8_t a[JN_TRACE_ID_LEN], b[JN_TRACE_ID_LEN];
    jn_trace_new_trace_id(a);
    jn_trace_new_trace_id(b);
    JN_CHECK(memcmp(a, b, sizeof a) != 0);
}

/* Off: nothing is recorded, a caller's context still passes through. */
static void test_call_off(void)
{
    JN_CHECK(!jn_trace_on());
    jn_call_trace t;
    memset(&t, 0, sizeof t);
    jn_call_trace_begin(&t, "x", NULL, 0, NULL, 0, jn_now_ns());
    JN_CHECK(jn_call_trace_ctx(&t) == NULL);
    memset(&t, 0, sizeof t);
    jn_call_trace_begin(&t, "x", GOOD, strlen(GOOD), "a=1", 3, jn_now_ns());
    JN_CHECK(!t.span.recording);
    const jn_trace_ctx *c = jn_call_trace_ctx(&t);
    JN_REQUIRE(c);
    JN_CHECK_INT_EQ(c->span_id[7], 0xb7); /* the caller's, unchanged */
    jn_span s;
    jn_span_start(&s, c);
    JN_CHECK(!s.recording);
    jn_call_trace_clear(&t);
}

static void test_ring(void)
{
    JN_REQUIRE(jn_trace_enable(1.0, 4) == 0);
    JN_CHECK(jn_trace_on());
    jn_trace_counters before;
    jn_trace_counters_get(&before);
    jn_call_trace t;
    memset(&t, 0, sizeof t);
    jn_call_trace_begin(&t, "junction.v1", GOOD, strlen(GOOD), "a=1", 3, jn_now_ns());
    JN_REQUIRE(t.span.recording);
    JN_CHECK_STR_EQ(t.tracestate, "a=1");
    JN_CHECK_INT_EQ(t.span.parent_id[7], 0xb7);
    for (int i = 0; i < 6; i++) { /* 4 fit, 2 are dropped */
        jn_span s;
        jn_span_start(&s, &t.span.ctx);
        JN_REQUIRE(s.recording);
        char name[16];
        snprintf(name, sizeof name, "s%d", i);
        jn_span_attrs a = JN_SPAN_ATTRS_NONE;
        a.model = "m";
        a.status = i;
        jn_span_end(&s, name, NULL, JN_SPAN_INTERNAL, 0, &a);
    }
    JN_CHECK_INT_EQ(jn_trace_ring_count(), 4);
    jn_span_rec out[8];
    size_t n = jn_trace_ring_pop(out, 8);
    JN_CHECK_INT_EQ(n, 4);
    for (size_t i = 0; i < n; i++) {
        char want[16];
        snprintf(want, sizeof want, "s%zu", i);
        JN_CHECK_STR_EQ(out[i].name, want); /* oldest first */
        JN_CHECK_INT_EQ(out[i].status, (int)i);
        JN_CHECK(memcmp(out[i].trace_id, t.span.ctx.trace_id, JN_TRACE_ID_LEN) == 0);
        JN_CHECK(memcmp(out[i].parent_id, t.span.ctx.span_id, JN_SPAN_ID_LEN) == 0);
        JN_CHECK_INT_EQ(out[i].in_bytes, -1);
    }
    jn_trace_counters after;
    jn_trace_counters_get(&after);
    JN_CHECK_INT_EQ(after.recorded - before.recorded, 4);
    JN_CHECK_INT_EQ(after.dropped_queue_full - before.dropped_queue_full, 2);
    /* links beyond the maximum are counted, not kept */
    jn_trace_ctx ctxs[JN_SPAN_MAX_LINKS + 3];
    const jn_trace_ctx *lp[JN_SPAN_MAX_LINKS + 3];
    for (size_t i = 0; i < JN_SPAN_MAX_LINKS + 3; i++) {
        ctxs[i] = t.span.ctx;
        lp[i] = &ctxs[i];
    }
    jn_span s;
    jn_span_start(&s, &t.span.ctx);
    jn_span_attrs a = JN_SPAN_ATTRS_NONE;
    a.links = lp;
    a.n_links = JN_SPAN_MAX_LINKS + 3;
    jn_span_end(&s, "batch", NULL, JN_SPAN_INTERNAL, 0, &a);
    JN_REQUIRE(jn_trace_ring_pop(out, 8) == 1);
    JN_CHECK_INT_EQ(out[0].n_links, JN_SPAN_MAX_LINKS);
    JN_CHECK_INT_EQ(out[0].dropped_links, 3);
    /* a caller that did not sample: nothing recorded, its context passes on */
    jn_call_trace u;
    memset(&u, 0, sizeof u);
    const char *unsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    jn_call_trace_begin(&u, "x", unsampled, strlen(unsampled), NULL, 0, jn_now_ns());
    JN_CHECK(!u.span.recording);
    JN_CHECK(jn_call_trace_ctx(&u) == &u.incoming);
    jn_call_trace_clear(&t);
    jn_trace_disable();
}

static void test_sampling(void)
{
    JN_REQUIRE(jn_trace_enable(0.0, 16) == 0);
    for (int i = 0; i < 100; i++) {
        jn_call_trace t;
        memset(&t, 0, sizeof t);
        jn_call_trace_begin(&t, "x", NULL, 0, NULL, 0, jn_now_ns());
        JN_CHECK(!t.span.recording); /* ratio 0: nothing recorded */
        const jn_trace_ctx *c = jn_call_trace_ctx(&t);
        JN_REQUIRE(c); /* but ids to pass on, not sampled, so that remotes do not start their own trace */
        JN_CHECK(c->valid);
        JN_CHECK_INT_EQ(c->flags, 0);
        jn_span child;
        jn_span_start(&child, c);
        JN_CHECK(!child.recording);
        memset(&t, 0, sizeof t);
        jn_call_trace_begin(&t, "x", GOOD, strlen(GOOD), NULL, 0, jn_now_ns());
        JN_CHECK(t.span.recording); /* the caller's sampled flag decides */
        jn_call_trace_clear(&t);
    }
    jn_trace_disable();
    JN_REQUIRE(jn_trace_enable(0.5, 16) == 0);
    int sampled = 0;
    for (int i = 0; i < 4000; i++) {
        jn_call_trace t;
        memset(&t, 0, sizeof t);
        jn_call_trace_begin(&t, "x", NULL, 0, NULL, 0, jn_now_ns());
        sampled += t.span.recording;
    }
    JN_CHECK(sampled > 1700 && sampled < 2300); /* about half */
    jn_trace_disable();
}

/* The exporter's in-place claims: contiguous up to the end of the array, then from its start. */
static void test_ring_claim_wraps(void)
{
    JN_REQUIRE(jn_trace_enable(1.0, 4) == 0);
    jn_trace_ctx parent;
    JN_REQUIRE(parse(GOOD, &parent) == 0);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 3; i++) {
            jn_span s;
            jn_span_start(&s, &parent);
            char detail[8];
            snprintf(detail, sizeof detail, "%d", round * 3 + i);
            jn_span_end(&s, "span", detail, JN_SPAN_INTERNAL, 0, NULL);
        }
        const jn_span_rec *first;
        size_t want = round == 0 ? 3 : 1; /* the second round starts at slot 3 of 4: one, then two */
        JN_CHECK_INT_EQ(jn_trace_ring_claim(&first, 8), want);
        JN_CHECK_STR_EQ(first[0].name, round == 0 ? "span 0" : "span 3");
        jn_trace_ring_release();
        if (round == 1) {
            JN_CHECK_INT_EQ(jn_trace_ring_claim(&first, 8), 2);
            JN_CHECK_STR_EQ(first[0].name, "span 4");
            JN_CHECK_STR_EQ(first[1].name, "span 5");
            jn_trace_ring_release();
        }
    }
    const jn_span_rec *first;
    JN_CHECK_INT_EQ(jn_trace_ring_claim(&first, 8), 0);
    jn_trace_ring_release();
    jn_trace_disable();
}

/* Producers on several threads, one consumer: every span is either popped or counted as dropped. */
typedef struct prod {
    jn_trace_ctx parent;
    int n;
} prod;

static void *producer(void *arg)
{
    prod *p = arg;
    for (int i = 0; i < p->n; i++) {
        jn_span s;
        jn_span_start(&s, &p->parent);
        jn_span_end(&s, "p", "x", JN_SPAN_INTERNAL, 0, NULL);
    }
    return NULL;
}

static void test_ring_concurrent(void)
{
    JN_REQUIRE(jn_trace_enable(1.0, 64) == 0);
    jn_trace_counters before;
    jn_trace_counters_get(&before);
    prod p = {.n = 2000};
    JN_REQUIRE(parse(GOOD, &p.parent) == 0);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, producer, &p);
    size_t popped = 0;
    jn_span_rec *buf = malloc(32 * sizeof *buf);
    JN_REQUIRE(buf);
    for (int rounds = 0; rounds < 2000; rounds++) {
        size_t n = jn_trace_ring_pop(buf, 32);
        if (n)
            JN_CHECK_STR_EQ(buf[n - 1].name, "p x");
        popped += n;
        jn_trace_ring_wait(32, 1000000);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    popped += jn_trace_ring_pop(buf, 32);
    popped += jn_trace_ring_pop(buf, 32);
    free(buf);
    jn_trace_counters after;
    jn_trace_counters_get(&after);
    JN_CHECK_INT_EQ(popped + (after.dropped_queue_full - before.dropped_queue_full), 8000);
    JN_CHECK_INT_EQ(after.recorded - before.recorded, popped);
    jn_trace_disable();
}

int main(void)
{
    JN_TEST_RUN(test_traceparent_valid);
    JN_TEST_RUN(test_traceparent_malformed);
    JN_TEST_RUN(test_tracestate);
    JN_TEST_RUN(test_ids);
    JN_TEST_RUN(test_call_off);
    JN_TEST_RUN(test_ring);
    JN_TEST_RUN(test_sampling);
    JN_TEST_RUN(test_ring_claim_wraps);
    JN_TEST_RUN(test_ring_concurrent);
    return JN_TEST_EXIT();
}
