/* test_fetch.c — broker/fetch: the --fetch-allow list, the address classes of the SSRF check, data: URIs, and the
 * refusals jn_fetch decides before any byte goes out (or, for addresses, before any socket is opened). Fetching
 * from a real server is tests/e2e/test_fetch.py's (a loopback HTTP server in Python). */
#include <arpa/inet.h>
#include <stdint.h>

#include "fetch.h"
#include "test.h"

static bool allows(const jn_fetch_allow *a, const char *host, int port, bool want_exact)
{
    bool exact;
    return jn_fetch_allow_host(a, host, port, &exact) && exact == want_exact;
}

static void test_allow_parse(void)
{
    jn_err err;
    jn_err_clear(&err);
    jn_fetch_allow *a =
        jn_fetch_allow_parse(" Images.Example.com , 127.0.0.1:8080,[::1]:9000,*.cdn.net:443, ,fe80::1", &err);
    JN_REQUIRE(a);
    JN_CHECK_INT_EQ(jn_fetch_allow_count(a), 5);
    JN_CHECK(allows(a, "images.example.com", 80, true));
    JN_CHECK(allows(a, "images.example.com", 8443, true)); /* no port: every port */
    JN_CHECK(allows(a, "127.0.0.1", 8080, true));
    JN_CHECK(!allows(a, "127.0.0.1", 8081, true));
    bool exact;
    JN_CHECK(!jn_fetch_allow_host(a, "127.0.0.1", 8081, &exact));
    JN_CHECK(allows(a, "::1", 9000, true));
    JN_CHECK(allows(a, "fe80::1", 1, true));
    JN_CHECK(allows(a, "a.cdn.net", 443, false)); /* a wildcard: not exact */
    JN_CHECK(allows(a, "x.y.cdn.net", 443, false));
    JN_CHECK(!jn_fetch_allow_host(a, "cdn.net", 443, &exact)); /* *.cdn.net is not cdn.net itself */
    JN_CHECK(!jn_fetch_allow_host(a, "a.cdn.net", 80, &exact));
    JN_CHECK(!jn_fetch_allow_host(a, "evilcdn.net", 443, &exact));
    JN_CHECK(!jn_fetch_allow_host(a, "example.com", 80, &exact));
    jn_fetch_allow_free(a);

    a = jn_fetch_allow_parse("*:8080", &err);
    JN_REQUIRE(a);
    JN_CHECK(allows(a, "anything.org", 8080, false));
    JN_CHECK(!jn_fetch_allow_host(a, "anything.org", 80, &exact));
    jn_fetch_allow_free(a);

    a = jn_fetch_allow_parse("", &err);
    JN_REQUIRE(a);
    JN_CHECK_INT_EQ(jn_fetch_allow_count(a), 0);
    jn_fetch_allow_free(a);

    /* An IPv6 entry is kept in one spelling, as URLs' hosts are compared in it */
    a = jn_fetch_allow_parse("[0:0:0:0:0:0:0:1]", &err);
    JN_REQUIRE(a);
    JN_CHECK(allows(a, "::1", 80, true));
    jn_fetch_allow_free(a);

    const char *bad[] = {"host:0", "host:65536", "host:http", "[::1", "[nope]:80", "*.", "*.a*b.com", "a..b",
                         ":80", "ho st", "*x.com", "a/b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        jn_err_clear(&err);
        a = jn_fetch_allow_parse(bad[i], &err);
        JN_CHECK(!a);
        JN_CHECK_INT_EQ(err.code, JN_EINVAL);
        JN_CHECK_STR_CONTAINS(err.msg, "--fetch-allow: entry '");
        jn_fetch_allow_free(a);
    }
}

static jn_addr_class cls(const char *text)
{
    uint8_t b[16];
    if (inet_pton(AF_INET, text, b) == 1)
        return jn_fetch_addr_class(b, 4);
    JN_REQUIRE(inet_pton(AF_INET6, text, b) == 1);
    return jn_fetch_addr_class(b, 16);
}

static void test_addr_class(void)
{
    JN_CHECK_INT_EQ(cls("8.8.8.8"), JN_ADDR_PUBLIC);
    JN_CHECK_INT_EQ(cls("93.184.216.34"), JN_ADDR_PUBLIC);
    JN_CHECK_INT_EQ(cls("10.1.2.3"), JN_ADDR_PRIVATE);
    JN_CHECK_INT_EQ(cls("172.16.0.1"), JN_ADDR_PRIVATE);
    JN_CHECK_INT_EQ(cls("172.31.255.255"), JN_ADDR_PRIVATE);
    JN_CHECK_INT_EQ(cls("172.32.0.1"), JN_ADDR_PUBLIC);
    JN_CHECK_INT_EQ(cls("192.168.1.1"), JN_ADDR_PRIVATE);
    JN_CHECK_INT_EQ(cls("100.64.0.1"), JN_ADDR_PRIVATE);
    JN_CHECK_INT_EQ(cls("127.0.0.1"), JN_ADDR_LOOPBACK);
    JN_CHECK_INT_EQ(cls("127.255.0.9"), JN_ADDR_LOOPBACK);
    JN_CHECK_INT_EQ(cls("169.254.169.254"), JN_ADDR_LINK_LOCAL); /* cloud metadata services */
    JN_CHECK_INT_EQ(cls("0.0.0.0"), JN_ADDR_UNSPECIFIED);
    JN_CHECK_INT_EQ(cls("224.0.0.1"), JN_ADDR_MULTICAST);
    JN_CHECK_INT_EQ(cls("255.255.255.255"), JN_ADDR_RESERVED);
    JN_CHECK_INT_EQ(cls("0.1.2.3"), JN_ADDR_RESERVED);
    JN_CHECK_INT_EQ(cls("::1"), JN_ADDR_LOOPBACK);
    JN_CHECK_INT_EQ(cls("::"), JN_ADDR_UNSPECIFIED);
    JN_CHECK_INT_EQ(cls("fe80::1"), JN_ADDR_LINK_LOCAL);
    JN_CHECK_INT_EQ(cls("fc00::1"), JN_ADDR_PRIVATE);
    JN_CHECK_INT_EQ(cls("fd12:3456::1"), JN_ADDR_PRIVATE);
    JN_CHECK_INT_EQ(cls("ff02::1"), JN_ADDR_MULTICAST);
    JN_CHECK_INT_EQ(cls("::ffff:127.0.0.1"), JN_ADDR_RESERVED); /* mapped: reaches an IPv4 address */
    JN_CHECK_INT_EQ(cls("::ffff:8.8.8.8"), JN_ADDR_RESERVED);
    JN_CHECK_INT_EQ(cls("64:ff9b::a00:1"), JN_ADDR_RESERVED);
    JN_CHECK_INT_EQ(cls("2002:a00:1::"), JN_ADDR_RESERVED);
    JN_CHECK_INT_EQ(cls("2001:db8::1"), JN_ADDR_RESERVED);
    JN_CHECK_INT_EQ(cls("2a00:1450:4001:80b::200e"), JN_ADDR_PUBLIC);
}

static void test_data_uri(void)
{
    jn_err err;
    jn_fetched r;
    const char *png = "data:image/png;base64,aGVsbG8=";
    JN_CHECK_INT_EQ(jn_fetch(NULL, png, strlen(png), JN_FETCH_IMAGE, "input 'image'", 0, NULL, &r, &err), 0);
    JN_CHECK_INT_EQ(r.len, 5);
    JN_CHECK(r.data && memcmp(r.data, "hello", 5) == 0);
    JN_CHECK_STR_EQ(r.content_type, "image/png");
    jn_fetched_free(&r);

    const char *plain = "data:,a%20b%00c"; /* no media type: taken; percent-escapes decoded, NUL included */
    JN_CHECK_INT_EQ(jn_fetch_data_uri(plain, strlen(plain), JN_FETCH_IMAGE, 100, "x", &r, &err), 0);
    JN_CHECK_INT_EQ(r.len, 5);
    JN_CHECK(r.data && memcmp(r.data, "a b\0c", 5) == 0);
    jn_fetched_free(&r);

    jn_err_clear(&err);
    const char *text = "data:text/plain;base64,aGVsbG8=";
    JN_CHECK_ERR(jn_fetch_data_uri(text, strlen(text), JN_FETCH_IMAGE, 100, "input 'image'", &r, &err), err,
                 JN_EINVAL);
    JN_CHECK_STR_EQ(err.msg, "input 'image': data: URI holds 'text/plain', expected image/...");
    JN_CHECK(!r.data);

    jn_err_clear(&err);
    JN_CHECK_ERR(jn_fetch_data_uri(png, strlen(png), JN_FETCH_IMAGE, 4, "input 'image'", &r, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "holds 5 bytes, more than 4 (--fetch-max-bytes)");

    jn_err_clear(&err);
    JN_CHECK_ERR(jn_fetch_data_uri("data:image/png;base64", 21, JN_FETCH_IMAGE, 100, "i", &r, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "without ','");
    jn_err_clear(&err);
    JN_CHECK_ERR(jn_fetch_data_uri("data:image/png;base64,a$==", 26, JN_FETCH_IMAGE, 100, "i", &r, &err), err,
                 JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "not valid base64");
    jn_err_clear(&err);
    JN_CHECK_ERR(jn_fetch_data_uri("data:,%4", 8, JN_FETCH_IMAGE, 100, "i", &r, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "bad percent-escape");
    const char *audio = "data:audio/wav;base64,AAAA";
    JN_CHECK_INT_EQ(jn_fetch_data_uri(audio, strlen(audio), JN_FETCH_AUDIO, 100, "i", &r, &err), 0);
    jn_fetched_free(&r);
    jn_err_clear(&err);
    JN_CHECK_ERR(jn_fetch_data_uri(audio, strlen(audio), JN_FETCH_IMAGE, 100, "i", &r, &err), err, JN_EINVAL);
}

static void test_is_url(void)
{
    JN_CHECK(jn_fetch_is_url("http://a", 8));
    JN_CHECK(jn_fetch_is_url("HTTPS://a", 9));
    JN_CHECK(jn_fetch_is_url("data:,", 6));
    JN_CHECK(!jn_fetch_is_url("iVBORw0KGgo", 11)); /* base64 of a PNG */
    JN_CHECK(!jn_fetch_is_url("ftp://a/b", 9));
    JN_CHECK(!jn_fetch_is_url("http:/", 6));
    const char *up = "{\"image\": \"HTTPS://x\"}", *esc = "{\"image\": \"\\u0068ttp://x\"}";
    const char *b64 = "{\"image\": \"iVBORw0KGgo=\"}";
    JN_CHECK(jn_fetch_may_hold_url(up, strlen(up)));
    JN_CHECK(jn_fetch_may_hold_url(esc, strlen(esc)));
    JN_CHECK(!jn_fetch_may_hold_url(b64, strlen(b64)));
    JN_CHECK(!jn_fetch_may_hold_url("htt", 3));
}

/* Refusals decided before any connection: no fetcher, unlisted host, scheme, a private literal under '*'. */
static void test_refusals(void)
{
    jn_err err;
    jn_fetched r;
    const char *url = "http://127.0.0.1:1/x.png";
    jn_err_clear(&err);
    JN_CHECK_ERR(jn_fetch(NULL, url, strlen(url), JN_FETCH_IMAGE, "input 'image'", 0, NULL, &r, &err), err,
                 JN_EPERMISSION);
    JN_CHECK_STR_EQ(err.msg, "input 'image': URL fetching is off: the server fetches only from hosts listed with "
                             "--fetch-allow");

    jn_fetch_options opt = {.allow = "images.example.com,*:8443"};
    jn_fetcher *f = jn_fetcher_create(&opt, &err);
    JN_REQUIRE(f);
    JN_CHECK(jn_fetcher_on(f));
    JN_CHECK(!jn_fetcher_on(NULL));
    jn_fetch_options off = {0};
    jn_fetcher *none = jn_fetcher_create(&off, &err);
    JN_CHECK(none && !jn_fetcher_on(none));
    jn_fetcher_destroy(none);
    jn_err_clear(&err);
    JN_CHECK_ERR(jn_fetch(f, url, strlen(url), JN_FETCH_IMAGE, "input 'image'", 0, NULL, &r, &err), err,
                 JN_EPERMISSION);
    JN_CHECK_STR_EQ(err.msg, "input 'image': 'http://127.0.0.1:1/x.png': host '127.0.0.1' (port 1) is not in "
                             "--fetch-allow");
    jn_err_clear(&err);
    const char *q = "http://evil.test/a.png?token=secret";
    JN_CHECK_ERR(jn_fetch(f, q, strlen(q), JN_FETCH_IMAGE, "input 'image'", 0, NULL, &r, &err), err, JN_EPERMISSION);
    JN_CHECK(!strstr(err.msg, "secret")); /* the query is not echoed */
    JN_CHECK_STR_CONTAINS(err.msg, "'http://evil.test/a.png?...'");

    /* Matched by '*:8443' only, a private or loopback address is refused at connect time, before any socket. */
    const char *priv[] = {"https://10.0.0.1:8443/a.png", "https://127.0.0.1:8443/a.png", "https://[::1]:8443/a.png",
                          "https://169.254.169.254:8443/latest/meta-data", "https://[::ffff:127.0.0.1]:8443/"};
    for (size_t i = 0; i < sizeof priv / sizeof priv[0]; i++) {
        jn_err_clear(&err);
        JN_CHECK_ERR(jn_fetch(f, priv[i], strlen(priv[i]), JN_FETCH_IMAGE, "input 'image'", 0, NULL, &r, &err), err,
                     JN_EPERMISSION);
        JN_CHECK_STR_CONTAINS(err.msg, "which is refused unless listed in --fetch-allow by name or address");
    }
    JN_CHECK_STR_CONTAINS(err.msg, "a reserved or special-purpose address");
    jn_err_clear(&err);
    const char *ftp = "http://images.example.com:99999/";
    JN_CHECK(jn_fetch(f, ftp, strlen(ftp), JN_FETCH_IMAGE, "i", 0, NULL, &r, &err) == JN_EINVAL);
    /* the same checks without fetching (a front end refusing early) */
    const char *ok = "https://Images.Example.com/cat.png";
    jn_err_clear(&err);
    JN_CHECK_ERR(jn_fetch_check_url(f, ok, strlen(ok), JN_FETCH_IMAGE, "i", &err), err, 0);
    jn_err_clear(&err);
    JN_CHECK_ERR(jn_fetch_check_url(f, url, strlen(url), JN_FETCH_IMAGE, "i", &err), err, JN_EPERMISSION);
    jn_err_clear(&err);
    JN_CHECK_ERR(jn_fetch_check_url(f, "data:text/plain,x", 17, JN_FETCH_IMAGE, "i", &err), err, JN_EINVAL);
    jn_err_clear(&err);
    JN_CHECK_ERR(jn_fetch_check_url(NULL, ok, strlen(ok), JN_FETCH_IMAGE, "i", &err), err, JN_EPERMISSION);
    jn_fetcher_destroy(f);

    jn_err_clear(&err);
    opt.allow = "good.host,bad entry";
    JN_CHECK(!jn_fetcher_create(&opt, &err));
    JN_CHECK_STR_EQ(err.msg, "--fetch-allow: entry 'bad entry': not a host name, an address, '*' or '*.domain'");
}

int main(void)
{
    JN_TEST_RUN(test_allow_parse);
    JN_TEST_RUN(test_addr_class);
    JN_TEST_RUN(test_data_uri);
    JN_TEST_RUN(test_is_url);
    JN_TEST_RUN(test_refusals);
    return JN_TEST_EXIT();
}
