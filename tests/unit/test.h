/* test.h — the unit tests' assertion macros (libuv's test/task.h, cmocka's assert_*_equal).
 *
 * A failing JN_CHECK* prints file:line, the expressions and BOTH values, counts the failure and carries on, so one
 * run shows every broken check; JN_TEST_EXIT() then returns 1 from main and ctest reports the test as failed.
 * JN_REQUIRE stops the test at once (exit 1): use it where going on would dereference NULL.
 *
 * Checks may run on several threads (the failure count is atomic). Each test file is one program: include this
 * header once, call JN_TEST_RUN(fn) for each static void fn(void), and `return JN_TEST_EXIT();`.
 */
#ifndef JN_TEST_H
#define JN_TEST_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_int jn_test_failures;
static atomic_int jn_test_checks;

__attribute__((format(printf, 3, 4), unused)) static void jn__test_fail(const char *file, int line,
                                                                        const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s:%d: check failed: %s\n", file, line, msg);
    fflush(stderr);
    atomic_fetch_add(&jn_test_failures, 1);
}

#define JN__CHECKED() atomic_fetch_add_explicit(&jn_test_checks, 1, memory_order_relaxed)

#define JN_CHECK(cond)                                                                                         \
    do {                                                                                                       \
        JN__CHECKED();                                                                                         \
        if (!(cond))                                                                                           \
            jn__test_fail(__FILE__, __LINE__, "%s", #cond);                                                    \
    } while (0)

#define JN_REQUIRE(cond)                                                                                       \
    do {                                                                                                       \
        JN__CHECKED();                                                                                         \
        if (!(cond)) {                                                                                         \
            jn__test_fail(__FILE__, __LINE__, "%s (required: stopping)", #cond);                               \
            exit(1);                                                                                           \
        }                                                                                                      \
    } while (0)

/* Integers of any type, compared as long long. */
#define JN_CHECK_INT_OP(a, op, b)                                                                              \
    do {                                                                                                       \
        long long a_ = (long long)(a), b_ = (long long)(b);                                                    \
        JN__CHECKED();                                                                                         \
        if (!(a_ op b_))                                                                                       \
            jn__test_fail(__FILE__, __LINE__, "%s %s %s: %lld vs %lld", #a, #op, #b, a_, b_);                   \
    } while (0)
#define JN_CHECK_INT_EQ(a, b) JN_CHECK_INT_OP(a, ==, b)
#define JN_CHECK_INT_NE(a, b) JN_CHECK_INT_OP(a, !=, b)
#define JN_CHECK_INT_GE(a, b) JN_CHECK_INT_OP(a, >=, b)
#define JN_CHECK_INT_LT(a, b) JN_CHECK_INT_OP(a, <, b)

/* Exact comparison: use it for values a double holds exactly (2.5, 15). */
#define JN_CHECK_DBL_EQ(a, b)                                                                                  \
    do {                                                                                                       \
        double a_ = (a), b_ = (b);                                                                             \
        JN__CHECKED();                                                                                         \
        if (!(a_ == b_))                                                                                       \
            jn__test_fail(__FILE__, __LINE__, "%s == %s: %.17g vs %.17g", #a, #b, a_, b_);                     \
    } while (0)

#define JN_CHECK_PTR_EQ(a, b)                                                                                  \
    do {                                                                                                       \
        const void *a_ = (a), *b_ = (b);                                                                       \
        JN__CHECKED();                                                                                         \
        if (a_ != b_)                                                                                          \
            jn__test_fail(__FILE__, __LINE__, "%s == %s: %p vs %p", #a, #b, a_, b_);                           \
    } while (0)

#define JN_CHECK_STR_EQ(a, b)                                                                                  \
    do {                                                                                                       \
        const char *a_ = (a), *b_ = (b);                                                                       \
        JN__CHECKED();                                                                                         \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                                                 \
            jn__test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" vs \"%s\"", #a, #b, a_ ? a_ : "(null)",        \
                          b_ ? b_ : "(null)");                                                                 \
    } while (0)

#define JN_CHECK_STR_CONTAINS(haystack, needle)                                                                \
    do {                                                                                                       \
        const char *h_ = (haystack), *n_ = (needle);                                                           \
        JN__CHECKED();                                                                                         \
        if (!h_ || !n_ || !strstr(h_, n_))                                                                     \
            jn__test_fail(__FILE__, __LINE__, "%s contains %s: \"%s\" does not contain \"%s\"", #haystack,     \
                          #needle, h_ ? h_ : "(null)", n_ ? n_ : "(null)");                                    \
    } while (0)

/* A call's return code and the jn_err it filled both carry `want`; on failure shows the message too. */
#define JN_CHECK_ERR(rc, err, want)                                                                            \
    do {                                                                                                       \
        long long rc_ = (long long)(rc), w_ = (long long)(want);                                               \
        JN__CHECKED();                                                                                         \
        if (rc_ != w_ || (long long)(err).code != w_)                                                          \
            jn__test_fail(__FILE__, __LINE__, "%s == %s: returned %lld, err.code %d, want %lld (\"%s\")", #rc, \
                          #want, rc_, (err).code, w_, (err).msg);                                              \
    } while (0)

#define JN_TEST_RUN(fn)                                                                                        \
    do {                                                                                                       \
        int before_ = atomic_load(&jn_test_failures);                                                          \
        fn();                                                                                                  \
        printf("%s %s\n", atomic_load(&jn_test_failures) == before_ ? "ok  " : "FAIL", #fn);                   \
        fflush(stdout);                                                                                        \
    } while (0)

/* main's exit status: `return JN_TEST_EXIT();` (a function whose result must be used, so a main that forgets the
 * return, and would exit 0 whatever failed, does not compile under -Werror). */
__attribute__((warn_unused_result)) static inline int jn__test_exit(void)
{
    printf("%d checks, %d failed\n", atomic_load(&jn_test_checks), atomic_load(&jn_test_failures));
    return atomic_load(&jn_test_failures) ? 1 : 0;
}
#define JN_TEST_EXIT() jn__test_exit()

#endif
