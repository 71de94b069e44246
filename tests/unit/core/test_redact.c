/* test_redact.c — the request log's redaction rules (core/redact.h): the configuration file and its errors, each
 * built-in detector (e-mail, phone, Luhn-checked card, mod-97-checked IBAN), user regular expressions, port names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redact.h"
#include "test.h"

static jn_redact *rules(const char *json)
{
    jn_err err;
    jn_err_clear(&err);
    jn_redact *r = jn_redact_parse(json, strlen(json), "redact.json", &err);
    if (!r)
        fprintf(stderr, "rules: %s\n", err.msg);
    return r;
}

/* The masked text (a static buffer, for short checks). */
static const char *mask(const jn_redact *r, const char *text)
{
    static char out[4096];
    size_t n;
    char *m = jn_redact_mask(r, text, strlen(text), &n);
    JN_REQUIRE(m != NULL);
    JN_CHECK_INT_EQ(strlen(m), n);
    snprintf(out, sizeof out, "%s", m);
    free(m);
    return out;
}

static void test_checks(void)
{
    JN_CHECK(jn_redact_luhn_ok("4111111111111111", 16));
    JN_CHECK(jn_redact_luhn_ok("79927398713", 11));
    JN_CHECK(!jn_redact_luhn_ok("4111111111111112", 16));
    JN_CHECK(!jn_redact_luhn_ok("1234567890123456", 16));
    JN_CHECK(jn_redact_iban_ok("DE89370400440532013000", 22));
    JN_CHECK(jn_redact_iban_ok("GB82WEST12345698765432", 22));
    JN_CHECK(jn_redact_iban_ok("gb82west12345698765432", 22));
    JN_CHECK(!jn_redact_iban_ok("DE89370400440532013001", 22));
    JN_CHECK(!jn_redact_iban_ok("GB82WEST1234569876543?", 22));
}

static void test_email(void)
{
    jn_redact *r = rules("{\"patterns\": [\"email\"]}");
    JN_REQUIRE(r);
    JN_CHECK_STR_EQ(mask(r, "write to bob.smith+tag@mail.example.com today"), "write to [EMAIL] today");
    JN_CHECK_STR_EQ(mask(r, "a@b.io, c_d@e-f.org."), "[EMAIL], [EMAIL].");
    JN_CHECK_STR_EQ(mask(r, "no@tld and @nobody and x@y.z"), "no@tld and @nobody and x@y.z");
    /* only e-mail is on: the phone number stays */
    JN_CHECK_STR_EQ(mask(r, "call +1 555 123 4567"), "call +1 555 123 4567");
    jn_redact_free(r);
}

static void test_phone(void)
{
    jn_redact *r = rules("{\"patterns\": [\"phone\"]}");
    JN_REQUIRE(r);
    JN_CHECK_STR_EQ(mask(r, "call +1 555-123-4567 now"), "call [PHONE] now");
    JN_CHECK_STR_EQ(mask(r, "(555) 123-4567"), "[PHONE]");
    JN_CHECK_STR_EQ(mask(r, "+44 20 7946 0958."), "[PHONE].");
    JN_CHECK_STR_EQ(mask(r, "tel 5551234567"), "tel [PHONE]");
    /* not phones: short numbers, a date, a decimal, a long plain run, digits inside a word */
    JN_CHECK_STR_EQ(mask(r, "room 42, 12-34"), "room 42, 12-34");
    JN_CHECK_STR_EQ(mask(r, "on 2026-12-07"), "on 2026-12-07");
    JN_CHECK_STR_EQ(mask(r, "pi is 3.14159265"), "pi is 3.14159265");
    JN_CHECK_STR_EQ(mask(r, "id 12345678901234567"), "id 12345678901234567");
    JN_CHECK_STR_EQ(mask(r, "abc5551234567"), "abc5551234567");
    jn_redact_free(r);
}

static void test_card(void)
{
    jn_redact *r = rules("{\"patterns\": [\"card\", \"phone\"]}");
    JN_REQUIRE(r);
    JN_CHECK_STR_EQ(mask(r, "card 4111 1111 1111 1111 exp"), "card [CARD] exp");
    JN_CHECK_STR_EQ(mask(r, "card 4111-1111-1111-1111"), "card [CARD]");
    JN_CHECK_STR_EQ(mask(r, "4111111111111111"), "[CARD]");
    JN_CHECK_STR_EQ(mask(r, "amex 378282246310005."), "amex [CARD].");
    /* the card followed by another group: the Luhn-valid prefix is the card */
    JN_CHECK_STR_EQ(mask(r, "4111 1111 1111 1111 2024"), "[CARD] 2024");
    /* a Luhn-invalid digit run is left alone (and is no phone: 16 digits) */
    JN_CHECK_STR_EQ(mask(r, "order 1234 5678 9012 3456"), "order 1234 5678 9012 3456");
    JN_CHECK_STR_EQ(mask(r, "ref 4111111111111112"), "ref 4111111111111112");
    /* a longer run is not a card even if a prefix passes */
    JN_CHECK_STR_EQ(mask(r, "41111111111111110000000"), "41111111111111110000000");
    jn_redact_free(r);
}

static void test_iban(void)
{
    jn_redact *r = rules("{\"patterns\": [\"iban\"]}");
    JN_REQUIRE(r);
    JN_CHECK_STR_EQ(mask(r, "pay to DE89 3704 0044 0532 0130 00 please"), "pay to [IBAN] please");
    JN_CHECK_STR_EQ(mask(r, "GB82WEST12345698765432"), "[IBAN]");
    JN_CHECK_STR_EQ(mask(r, "DE89 3704 0044 0532 0130 01"), "DE89 3704 0044 0532 0130 01"); /* mod 97 fails */
    JN_CHECK_STR_EQ(mask(r, "XDE89370400440532013000"), "XDE89370400440532013000");        /* inside a word */
    jn_redact_free(r);
}

static void test_regex(void)
{
    jn_redact *r = rules("{\"regex\": [\"ACME-[0-9]{6}\", \"secret[a-z]*\", \"[0-9]{6}-[0-9]{6}-[0-9]{6}\"], "
                         "\"patterns\": [\"email\"]}");
    JN_REQUIRE(r);
    JN_CHECK_INT_EQ(jn_redact_regex_count(r), 3);
    JN_CHECK_STR_EQ(mask(r, "ticket ACME-123456 and ACME-12 and secretive x@y.org"),
                    "ticket [MASKED] and ACME-12 and [MASKED] [EMAIL]");
    /* text with a NUL inside is masked as a whole */
    size_t n;
    char *m = jn_redact_mask(r, "a\0ACME-654321", 13, &n);
    JN_REQUIRE(m);
    JN_CHECK_INT_EQ(n, 10);
    JN_CHECK(memcmp(m, "a\0[MASKED]", 10) == 0);
    free(m);
    jn_redact_free(r);
}

static void test_all_patterns(void)
{
    jn_redact *r = rules("{\"patterns\": [\"email\", \"phone\", \"card\", \"iban\"]}");
    JN_REQUIRE(r);
    JN_CHECK_STR_EQ(mask(r, "mail bob@example.com or call +1 555-123-4567, card 4111 1111 1111 1111, iban "
                            "DE89 3704 0044 0532 0130 00, bad 1234 5678 9012 3456"),
                    "mail [EMAIL] or call [PHONE], card [CARD], iban [IBAN], bad 1234 5678 9012 3456");
    JN_CHECK_STR_EQ(mask(r, ""), "");
    JN_CHECK_STR_EQ(mask(NULL, "bob@example.com"), "bob@example.com");
    jn_redact_free(r);
}

static void test_ports(void)
{
    jn_redact *r = rules("{\"ports\": [\"password\", \"SSN\"]}");
    JN_REQUIRE(r);
    JN_CHECK(jn_redact_port(r, "password"));
    JN_CHECK(jn_redact_port(r, "Password"));
    JN_CHECK(jn_redact_port(r, "ssn"));
    JN_CHECK(!jn_redact_port(r, "text"));
    JN_CHECK(!jn_redact_port(NULL, "password"));
    JN_CHECK_INT_EQ(jn_redact_patterns(r), 0);
    jn_redact_free(r);
}

static void expect_error(const char *json, const char *want)
{
    jn_err err;
    jn_err_clear(&err);
    jn_redact *r = jn_redact_parse(json, strlen(json), "redact.json", &err);
    JN_CHECK(r == NULL);
    jn_redact_free(r);
    JN_CHECK_INT_EQ(err.code, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, want);
    JN_CHECK_STR_CONTAINS(err.msg, "redact.json");
}

static void test_errors(void)
{
    expect_error("{\"patterns\": [\"mail\"]}", "patterns[0]: 'mail' is not a pattern");
    expect_error("{\"ports\": \"password\"}", "ports must be an array of strings");
    expect_error("{\"ports\": [\"a\", 3]}", "ports[1] must be a non-empty string");
    expect_error("{\"regex\": [\"(unclosed\"]}", "regex[0] '(unclosed' is not a POSIX extended regular expression");
    expect_error("{\"regex\": [\"x*\"]}", "regex[0] 'x*' matches the empty text");
    expect_error("{\"regex\": [\"n+++\"]}", "stacked repetition operators");
    expect_error("{\"regex\": [\"((a{50}){50}){50}\"]}", "multiply past 2000 copies");
    expect_error("{\"regex\": [\"a{1000}\"]}", "a counted repetition above 100");
    expect_error("{\"port\": []}", "'port' is not a field (ports, patterns, regex)");
    expect_error("[1]", "must be a JSON object");
    expect_error("{\"ports\": [", "line 1");
    jn_err err;
    jn_err_clear(&err);
    JN_CHECK(jn_redact_load_file("/nonexistent/redact.json", &err) == NULL);
    JN_CHECK_INT_EQ(err.code, JN_EIO);
    JN_CHECK_STR_CONTAINS(err.msg, "/nonexistent/redact.json");
}

int main(void)
{
    JN_TEST_RUN(test_checks);
    JN_TEST_RUN(test_email);
    JN_TEST_RUN(test_phone);
    JN_TEST_RUN(test_card);
    JN_TEST_RUN(test_iban);
    JN_TEST_RUN(test_regex);
    JN_TEST_RUN(test_all_patterns);
    JN_TEST_RUN(test_ports);
    JN_TEST_RUN(test_errors);
    return JN_TEST_EXIT();
}
