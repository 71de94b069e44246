/* Unit tests for broker/core/request.c: the internal request every front end decodes into. */
#include <string.h>

#include "request.h"
#include "test.h"

static void test_request_lifecycle(void)
{
    jn_request req;
    jn_request_init(&req);
    JN_CHECK(req.model == NULL && req.n_outputs == 0 && req.inputs.count == 0 && req.params.count == 0);
    JN_CHECK_INT_EQ(req.deadline_ns, 0);

    JN_CHECK_INT_EQ(jn_request_set_target(&req, "identity", NULL, NULL), 0);
    JN_CHECK_STR_EQ(req.model, "identity");
    JN_CHECK_STR_EQ(req.version, "");
    JN_CHECK_STR_EQ(req.id, "");
    char model[] = "burn";
    JN_CHECK_INT_EQ(jn_request_set_target(&req, model, "2", "abc"), 0); /* replaces, no leak */
    model[0] = 'X';
    JN_CHECK_STR_EQ(req.model, "burn");
    JN_CHECK_STR_EQ(req.version, "2");
    JN_CHECK_STR_EQ(req.id, "abc");
    JN_CHECK_INT_EQ(jn_request_set_target(&req, NULL, NULL, NULL), 0);
    JN_CHECK_STR_EQ(req.model, "");

    char name[] = "scores";
    JN_CHECK_INT_EQ(jn_request_add_output(&req, name), 0);
    JN_CHECK_INT_EQ(jn_request_add_output(&req, "embedding"), 0);
    name[0] = 'X';
    JN_CHECK_INT_EQ(req.n_outputs, 2);
    JN_CHECK_STR_EQ(req.outputs[0], "scores");
    JN_CHECK_STR_EQ(req.outputs[1], "embedding");

    const int64_t shape[] = {1};
    JN_CHECK_INT_EQ(jn_tensor_list_push(&req.inputs, jn_tensor_create("x", JN_DTYPE_FP32, 1, shape, NULL)), 0);
    JN_CHECK_INT_EQ(jn_params_set_string(&req.params, "burn_mode", "cpu"), 0);
    req.deadline_ns = 42;

    jn_request_clear(&req); /* frees everything (LSan checks) */
    JN_CHECK(req.model == NULL && req.version == NULL && req.id == NULL);
    JN_CHECK(req.outputs == NULL && req.n_outputs == 0);
    JN_CHECK_INT_EQ(req.inputs.count, 0);
    JN_CHECK_INT_EQ(req.params.count, 0);
    JN_CHECK_INT_EQ(req.deadline_ns, 0);
    jn_request_clear(&req); /* twice is fine */
}

int main(void)
{
    JN_TEST_RUN(test_request_lifecycle);
    return JN_TEST_EXIT();
}
