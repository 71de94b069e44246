/* Unit tests for broker/core/auth.c: token files, access classes of gRPC paths, the check's outcomes, equality. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "test.h"

static char dir[] = "/tmp/jn-auth-XXXXXX";

static const char *token_file(const char *name, const char *content)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(content, f);
        fclose(f);
    }
    return path;
}

static int check(const jn_auth *a, jn_access access, const char *authorization, jn_err *err)
{
    jn_err_clear(err);
    return jn_auth_check(a, access, authorization, authorization ? strlen(authorization) : 0, err);
}

static void test_equal(void)
{
    JN_CHECK(jn_auth_equal("abc", 3, "abc", 3));
    JN_CHECK(!jn_auth_equal("abc", 3, "abd", 3));
    JN_CHECK(!jn_auth_equal("abc", 3, "ab", 2));
    JN_CHECK(!jn_auth_equal("ab", 2, "abc", 3));
    JN_CHECK(!jn_auth_equal("", 0, "a", 1));
    JN_CHECK(jn_auth_equal("", 0, "", 0));
    JN_CHECK(!jn_auth_equal("a\0b", 3, "a\0c", 3)); /* lengths, not C strings */
}

static void test_access_classes(void)
{
#define ACCESS(path) jn_auth_grpc_access(path, strlen(path))
    JN_CHECK_INT_EQ(ACCESS("/junction.v1.Admin/PutPipeline"), JN_ACCESS_ADMIN);
    JN_CHECK_INT_EQ(ACCESS("/junction.v1.Admin/AnythingAddedLater"), JN_ACCESS_ADMIN);
    JN_CHECK_INT_EQ(ACCESS("/grpc.health.v1.Health/Check"), JN_ACCESS_OPEN);
    JN_CHECK_INT_EQ(ACCESS("/grpc.health.v1.Health/Watch"), JN_ACCESS_OPEN);
    JN_CHECK_INT_EQ(ACCESS("/inference.GRPCInferenceService/ServerLive"), JN_ACCESS_OPEN);
    JN_CHECK_INT_EQ(ACCESS("/inference.GRPCInferenceService/ServerReady"), JN_ACCESS_OPEN);
    JN_CHECK_INT_EQ(ACCESS("/inference.GRPCInferenceService/ServerReadyX"), JN_ACCESS_INFER);
    JN_CHECK_INT_EQ(ACCESS("/inference.GRPCInferenceService/ModelInfer"), JN_ACCESS_INFER);
    JN_CHECK_INT_EQ(ACCESS("/junction.v1.Broker/Infer"), JN_ACCESS_INFER);
    JN_CHECK_INT_EQ(ACCESS("/junction.v1.Broker/ListModels"), JN_ACCESS_INFER);
#undef ACCESS
}

static void test_checks(void)
{
    jn_auth a;
    jn_auth_init(&a);
    jn_err err;
    /* Nothing configured: everything open, and nothing asks for a credential. */
    JN_CHECK(!jn_auth_required(NULL, JN_ACCESS_ADMIN));
    JN_CHECK(!jn_auth_required(&a, JN_ACCESS_ADMIN) && !jn_auth_required(&a, JN_ACCESS_INFER));
    JN_CHECK_INT_EQ(check(&a, JN_ACCESS_ADMIN, NULL, &err), 0);
    JN_CHECK_INT_EQ(check(&a, JN_ACCESS_INFER, NULL, &err), 0);

    JN_CHECK_INT_EQ(jn_auth_set_admin_token_file(&a, token_file("admin", "s3cret-admin\n"), &err), 0);
    JN_CHECK_INT_EQ(jn_auth_set_client_token_file(&a, token_file("client", "\t cli-42 \r\n"), &err), 0);
    JN_CHECK_INT_EQ((int)a.client_len, 6);

    JN_CHECK(jn_auth_required(&a, JN_ACCESS_ADMIN) && jn_auth_required(&a, JN_ACCESS_INFER));
    JN_CHECK(!jn_auth_required(&a, JN_ACCESS_OPEN));
    JN_CHECK_INT_EQ(check(&a, JN_ACCESS_OPEN, NULL, &err), 0);
    JN_CHECK_INT_EQ(check(&a, JN_ACCESS_INFER, NULL, &err), JN_EUNAUTHENTICATED);
    JN_CHECK(strstr(err.msg, "client token") != NULL);
    JN_CHECK_INT_EQ(check(&a, JN_ACCESS_INFER, "Bearer cli-42", &err), 0);
    JN_CHECK_INT_EQ(check(&a, JN_ACCESS_INFER, "bearer cli-42", &err), 0); /* the scheme is case-insensitive */
    JN_CHECK_INT_EQ(check(&a, JN_ACCESS_INFER, "Bearer s3cret-admin", &err), 0);
    JN_CHECK_INT_EQ(check(&a, JN_ACCESS_INFER, "Bearer cli-4", &err), JN_EUNAUTHENTICATED);
    JN_CHECK_INT_EQ(check(&a, JN_ACCESS_INFER, "Bearer cli-42x", &err), JN_EUNAUTHENTICATED);
    JN_CHECK_INT_EQ(check(&a, JN_ACCESS_INFER, "cli-42", &err), JN_EUNAUTHENTICATED);
    JN_CHECK(strstr(err.msg, "Bearer <token>") != NULL);
    JN_CHECK_INT_EQ(check(&a, JN_ACCESS_INFER, "Bearer", &err), JN_EUNAUTHENTICATED);
    JN_CHECK_INT_EQ(check(&a, JN_ACCESS_ADMIN, "Bearer cli-42", &err), JN_EPERMISSION);
    JN_CHECK(strstr(err.msg, "admin token") != NULL && strstr(err.msg, "cli-42") == NULL);
    JN_CHECK_INT_EQ(check(&a, JN_ACCESS_ADMIN, "Bearer s3cret-admin", &err), 0);
    JN_CHECK_INT_EQ(check(&a, JN_ACCESS_ADMIN, "Bearer wrong", &err), JN_EUNAUTHENTICATED);
    JN_CHECK(strstr(err.msg, "wrong") == NULL); /* the presented token is not echoed */
    jn_auth_clear(&a);
    JN_CHECK(a.admin_token == NULL && a.client_token == NULL);
}

static void test_bad_files(void)
{
    jn_auth a;
    jn_auth_init(&a);
    jn_err err;
    jn_err_clear(&err);
    char missing[300];
    snprintf(missing, sizeof missing, "%s/none", dir);
    JN_CHECK_INT_EQ(jn_auth_set_client_token_file(&a, missing, &err), JN_ENOTFOUND);
    JN_CHECK(strstr(err.msg, missing) != NULL);
    JN_CHECK_INT_EQ(jn_auth_set_client_token_file(&a, token_file("empty", "  \n"), &err), JN_EINVAL);
    JN_CHECK(strstr(err.msg, "empty") != NULL);
    JN_CHECK_INT_EQ(jn_auth_set_admin_token_file(&a, token_file("spaced", "a b\n"), &err), JN_EINVAL);
    JN_CHECK(strstr(err.msg, "printable ASCII") != NULL && strstr(err.msg, "a b") == NULL);
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    JN_CHECK_INT_EQ(jn_auth_set_admin_token_file(&a, token_file("big", big), &err), JN_EINVAL);
    JN_CHECK(strstr(err.msg, "longer than") != NULL);
    JN_CHECK(a.admin_token == NULL && a.client_token == NULL);
    jn_auth_clear(&a);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    JN_TEST_RUN(test_equal);
    JN_TEST_RUN(test_access_classes);
    JN_TEST_RUN(test_checks);
    JN_TEST_RUN(test_bad_files);
    const char *names[] = {"admin", "client", "empty", "spaced", "big"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        unlink(token_file(names[i], ""));
    rmdir(dir);
    return JN_TEST_EXIT();
}
