/* The circuit breaker (broker/remote/breaker.c), remote options and endpoint target checks. */
#include "breaker.h"
#include "endpoint.h"
#include "options.h"
#include "test.h"

#define MS 1000000LL

static void closed_until_threshold(void)
{
    jn_breaker b;
    jn_breaker_init(&b, 3, 100 * MS);
    bool probe;
    for (int i = 0; i < 2; i++) {
        JN_CHECK(jn_breaker_allow(&b, 0, &probe));
        JN_CHECK(!probe);
        jn_breaker_record(&b, 0, JN_BREAKER_FAILURE, probe);
    }
    JN_CHECK_INT_EQ(jn_breaker_get(&b, NULL), JN_BREAKER_CLOSED);
    /* a success in between resets the count */
    jn_breaker_record(&b, 0, JN_BREAKER_SUCCESS, false);
    jn_breaker_record(&b, 0, JN_BREAKER_FAILURE, false);
    jn_breaker_record(&b, 0, JN_BREAKER_FAILURE, false);
    JN_CHECK_INT_EQ(jn_breaker_get(&b, NULL), JN_BREAKER_CLOSED);
    jn_breaker_record(&b, 5 * MS, JN_BREAKER_FAILURE, false);
    int64_t opened;
    JN_CHECK_INT_EQ(jn_breaker_get(&b, &opened), JN_BREAKER_OPEN);
    JN_CHECK_INT_EQ(opened, 1);
    JN_CHECK(!jn_breaker_allow(&b, 50 * MS, &probe));
    jn_breaker_destroy(&b);
}

static void half_open_probe(void)
{
    jn_breaker b;
    jn_breaker_init(&b, 1, 100 * MS);
    bool probe, probe2;
    jn_breaker_record(&b, 0, JN_BREAKER_FAILURE, false);
    JN_CHECK(!jn_breaker_allow(&b, 99 * MS, &probe));
    /* after the cool-down exactly one call goes through */
    JN_CHECK(jn_breaker_allow(&b, 100 * MS, &probe));
    JN_CHECK(probe);
    JN_CHECK(!jn_breaker_allow(&b, 101 * MS, &probe2));
    /* the probe fails: open again for another cool-down */
    jn_breaker_record(&b, 110 * MS, JN_BREAKER_FAILURE, probe);
    JN_CHECK_INT_EQ(jn_breaker_get(&b, NULL), JN_BREAKER_OPEN);
    JN_CHECK(!jn_breaker_allow(&b, 150 * MS, &probe));
    JN_CHECK(jn_breaker_allow(&b, 210 * MS, &probe));
    JN_CHECK(probe);
    /* a cancelled probe gives its slot back */
    jn_breaker_record(&b, 211 * MS, JN_BREAKER_NEUTRAL, probe);
    JN_CHECK(jn_breaker_allow(&b, 212 * MS, &probe));
    JN_CHECK(probe);
    /* the remote answered (even an error of its own): closed */
    jn_breaker_record(&b, 213 * MS, JN_BREAKER_SUCCESS, probe);
    JN_CHECK_INT_EQ(jn_breaker_get(&b, NULL), JN_BREAKER_CLOSED);
    JN_CHECK(jn_breaker_allow(&b, 214 * MS, &probe));
    JN_CHECK(!probe);
    jn_breaker_destroy(&b);
}

static void health_feeds_the_breaker(void)
{
    jn_breaker b;
    jn_breaker_init(&b, 2, 100 * MS);
    jn_breaker_health(&b, 0, false);
    jn_breaker_health(&b, 10 * MS, false);
    JN_CHECK_INT_EQ(jn_breaker_get(&b, NULL), JN_BREAKER_OPEN);
    /* healthy before the cool-down: stays open; after it: the check was the probe, closed */
    jn_breaker_health(&b, 50 * MS, true);
    JN_CHECK_INT_EQ(jn_breaker_get(&b, NULL), JN_BREAKER_OPEN);
    jn_breaker_health(&b, 120 * MS, true);
    JN_CHECK_INT_EQ(jn_breaker_get(&b, NULL), JN_BREAKER_CLOSED);
    JN_CHECK_STR_EQ(jn_breaker_state_name(JN_BREAKER_HALF_OPEN), "half_open");
    jn_breaker_destroy(&b);
}

static void options(void)
{
    jn_remote_options o;
    jn_remote_options_default(&o);
    JN_CHECK_INT_EQ(o.timeout_ms, 30000);
    JN_CHECK_INT_EQ(o.max_concurrency, 16);
    jn_err err;
    JN_CHECK_INT_EQ(jn_remote_options_set(&o, "max_concurrency", "4", &err), 0);
    JN_CHECK_INT_EQ(o.max_concurrency, 4);
    JN_CHECK_INT_EQ(jn_remote_options_set(&o, "breaker_cooldown_ms", "250", &err), 0);
    JN_CHECK_INT_EQ(o.breaker_cooldown_ms, 250);
    JN_CHECK_INT_EQ(jn_remote_options_set(&o, "max_attempts", "0", &err), JN_EINVAL);
    JN_CHECK(strstr(err.msg, "option 'max_attempts'") != NULL);
    JN_CHECK_INT_EQ(jn_remote_options_set(&o, "timeout_ms", "12x", &err), JN_EINVAL);
    JN_CHECK_INT_EQ(jn_remote_options_set(&o, "colour", "1", &err), JN_EINVAL);
    JN_CHECK(strstr(err.msg, "option 'colour' is unknown") != NULL);
}

static void targets(void)
{
    jn_err err;
    const char *good[] = {"127.0.0.1:8001", "localhost:1", "[::1]:8001", "dns:///example.com:443",
                          "ipv4:127.0.0.1:5000", "unix:/tmp/sock"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        JN_CHECK_INT_EQ(jn_endpoint_check_target(good[i], &err), 0);
    const char *bad[] = {"", "nohost", ":80", "host:", "host:0", "host:65536", "host:8o", "a b:1", "http://x:1",
                         "unix:", "::1:80x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        JN_CHECK_INT_EQ(jn_endpoint_check_target(bad[i], &err), JN_EINVAL);
        JN_CHECK(err.msg[0] != '\0');
    }
}

int main(void)
{
    JN_TEST_RUN(closed_until_threshold);
    JN_TEST_RUN(half_open_probe);
    JN_TEST_RUN(health_feeds_the_breaker);
    JN_TEST_RUN(options);
    JN_TEST_RUN(targets);
    return JN_TEST_EXIT();
}
