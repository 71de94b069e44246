/* Unit tests for broker/core/err.c: codes, messages and their mapping to gRPC / HTTP at the edge. */
#include <string.h>

#include "err.h"
#include "test.h"

static void test_set_clear_prefix(void)
{
    jn_err err;
    memset(&err, 'x', sizeof err);
    jn_err_clear(&err);
    JN_CHECK_INT_EQ(err.code, 0);
    JN_CHECK_STR_EQ(err.msg, "");

    JN_CHECK_INT_EQ(jn_err_set(&err, JN_EINVAL, "input '%s' expects %s", "image", "FP32[1,28,28]"), JN_EINVAL);
    JN_CHECK_INT_EQ(err.code, JN_EINVAL);
    JN_CHECK_STR_EQ(err.msg, "input 'image' expects FP32[1,28,28]");
    jn_err_prefix(&err, "step '%s'", "img");
    JN_CHECK_STR_EQ(err.msg, "step 'img': input 'image' expects FP32[1,28,28]");
    JN_CHECK_INT_EQ(err.code, JN_EINVAL);

    /* NULL err: the code still comes back. */
    JN_CHECK_INT_EQ(jn_err_set(NULL, JN_ENOTFOUND, "x"), JN_ENOTFOUND);
    jn_err_clear(NULL);
    jn_err_prefix(NULL, "p");

    /* Long messages are truncated, NUL-terminated. */
    char big[3 * JN_ERR_MSG_MAX];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    jn_err_set(&err, JN_EIO, "%s", big);
    JN_CHECK_INT_EQ(strlen(err.msg), JN_ERR_MSG_MAX - 1);
    jn_err_prefix(&err, "front");
    JN_CHECK_INT_EQ(strlen(err.msg), JN_ERR_MSG_MAX - 1);
    JN_CHECK(strncmp(err.msg, "front: aaa", 10) == 0);
}

static void test_mappings(void)
{
    static const struct {
        int code;
        const char *text;
        int grpc, http;
    } want[] = {
        {JN_OK, "ok", 0, 200},
        {JN_EINVAL, "invalid argument", 3, 400},
        {JN_ENOTFOUND, "not found", 5, 404},
        {JN_EEXIST, "already exists", 6, 409},
        {JN_ENOMEM, "out of memory", 8, 500},
        {JN_ERESOURCE, "resource exhausted", 8, 429},
        {JN_EDEADLINE, "deadline exceeded", 4, 504},
        {JN_ECANCELLED, "cancelled", 1, 499},
        {JN_EUNAVAIL, "unavailable", 14, 503},
        {JN_EUNIMPL, "unimplemented", 12, 501},
        {JN_EPRECOND, "failed precondition", 9, 400},
        {JN_EINTERNAL, "internal error", 13, 500},
        {JN_EIO, "i/o error", 13, 500},
        {JN_EUNAUTHENTICATED, "unauthenticated", 16, 401},
        {JN_EPERMISSION, "permission denied", 7, 403},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        JN_CHECK_STR_EQ(jn_strerror(want[i].code), want[i].text);
        JN_CHECK_INT_EQ(jn_err_grpc_status(want[i].code), want[i].grpc);
        JN_CHECK_INT_EQ(jn_err_http_status(want[i].code), want[i].http);
    }
    JN_CHECK_STR_EQ(jn_strerror(-999), "unknown error");
    JN_CHECK_STR_EQ(jn_strerror(5), "unknown error");
    JN_CHECK_INT_EQ(jn_err_grpc_status(-999), 2); /* UNKNOWN */
    JN_CHECK_INT_EQ(jn_err_http_status(-999), 500);
}

static void test_grpc_status_names(void)
{
    JN_CHECK_STR_EQ(jn_grpc_status_name(0), "OK");
    JN_CHECK_STR_EQ(jn_grpc_status_name(4), "DEADLINE_EXCEEDED");
    JN_CHECK_STR_EQ(jn_grpc_status_name(14), "UNAVAILABLE");
    JN_CHECK_STR_EQ(jn_grpc_status_name(16), "UNAUTHENTICATED");
    JN_CHECK_STR_EQ(jn_grpc_status_name(17), "UNKNOWN");
    JN_CHECK_STR_EQ(jn_grpc_status_name(-1), "UNKNOWN");
    /* Through the JN_E* mapping. */
    JN_CHECK_STR_EQ(jn_grpc_status_name(jn_err_grpc_status(JN_ENOTFOUND)), "NOT_FOUND");
}

int main(void)
{
    JN_TEST_RUN(test_set_clear_prefix);
    JN_TEST_RUN(test_mappings);
    JN_TEST_RUN(test_grpc_status_names);
    return JN_TEST_EXIT();
}
