/* Unit tests for broker/core/executor.c with the real built-in engines (engines/: identity, burn) and a few
 * misbehaving test engines: resolution, validation, zero-copy, output selection, deadlines, cancellation. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "builtin.h"
#include "executor.h"
#include "test.h"

/* Test engines: input 'input' FP32[-1,-1] like identity; what they output depends on their mode. */
typedef enum mode {
    MODE_MULTI,     /* outputs a, b, c (declared in that order, produced as b, c, a), all sharing the input */
    MODE_WRONG_TYPE, /* declares 'out' FP32, produces INT32 */
    MODE_WRONG_SIZE, /* declares 'out' FP32, produces a payload one byte short */
    MODE_NOTHING,    /* declares 'out', produces nothing */
    MODE_FAIL_QUIET, /* returns JN_EUNAVAIL without filling err */
    MODE_PARTIAL,    /* declares a, b, c like MODE_MULTI; a and b are right, c is INT32 */
} mode;

typedef struct test_engine {
    mode mode;
    atomic_int calls;
} test_engine;

static int push_share(const jn_tensor *in, const char *name, jn_tensor_list *outputs, jn_err *err)
{
    jn_tensor *t = jn_tensor_share(in, name, err);
    return t ? jn_tensor_list_push(outputs, t) : err->code;
}

static int test_infer(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                      jn_tensor_list *outputs, jn_err *err)
{
    test_engine *te = self->ctx;
    atomic_fetch_add(&te->calls, 1);
    const jn_tensor *in = jn_tensor_list_find(inputs, "input");
    switch (te->mode) {
    case MODE_MULTI: {
        int rc = push_share(in, "b", outputs, err);
        if (!rc)
            rc = push_share(in, "c", outputs, err);
        if (!rc)
            rc = push_share(in, "a", outputs, err);
        return rc;
    }
    case MODE_WRONG_TYPE: {
        jn_tensor *t = jn_tensor_create("out", JN_DTYPE_INT32, in->ndim, in->shape, err);
        return t ? jn_tensor_list_push(outputs, t) : err->code;
    }
    case MODE_WRONG_SIZE: {
        jn_tensor *t = jn_tensor_share(in, "out", err);
        if (!t)
            return err->code;
        t->byte_size -= 1;
        return jn_tensor_list_push(outputs, t);
    }
    case MODE_NOTHING:
        return 0;
    case MODE_FAIL_QUIET:
        return JN_EUNAVAIL;
    case MODE_PARTIAL: {
        int rc = push_share(in, "a", outputs, err);
        if (!rc)
            rc = push_share(in, "b", outputs, err);
        if (rc)
            return rc;
        jn_tensor *t = jn_tensor_create("c", JN_DTYPE_INT32, in->ndim, in->shape, err);
        return t ? jn_tensor_list_push(outputs, t) : err->code;
    }
    }
    return JN_EINTERNAL;
}

static const jn_engine_vtable test_vtable = {
    .abi_version = JN_ENGINE_ABI_VERSION,
    .platform = "test",
    .infer = test_infer,
};

static void add_test_engine(jn_registry *reg, const char *name, test_engine *te)
{
    jn_err err;
    jn_engine *e = jn_engine_create(&test_vtable, name, NULL, NULL, te, &err);
    JN_REQUIRE(e);
    const int64_t any2[] = {-1, -1};
    JN_REQUIRE(jn_signature_add_input(&e->sig, "input", JN_KIND_TENSOR, JN_DTYPE_FP32, 2, any2, &err) == 0);
    if (te->mode == MODE_MULTI || te->mode == MODE_PARTIAL) {
        JN_REQUIRE(jn_signature_add_output(&e->sig, "a", JN_KIND_TENSOR, JN_DTYPE_FP32, 2, any2, &err) == 0);
        JN_REQUIRE(jn_signature_add_output(&e->sig, "b", JN_KIND_TENSOR, JN_DTYPE_FP32, 2, any2, &err) == 0);
        JN_REQUIRE(jn_signature_add_output(&e->sig, "c", JN_KIND_TENSOR, JN_DTYPE_FP32, 2, any2, &err) == 0);
    } else {
        JN_REQUIRE(jn_signature_add_output(&e->sig, "out", JN_KIND_TENSOR, JN_DTYPE_FP32, 2, any2, &err) == 0);
    }
    JN_REQUIRE(jn_registry_add(reg, e, &err) == 0);
}

static test_engine multi = {MODE_MULTI, 0};
static test_engine wrong_type = {MODE_WRONG_TYPE, 0};
static test_engine wrong_size = {MODE_WRONG_SIZE, 0};
static test_engine nothing = {MODE_NOTHING, 0};
static test_engine fail_quiet = {MODE_FAIL_QUIET, 0};
static test_engine partial = {MODE_PARTIAL, 0};

/* A registry with the built-in engines (burn defaults to 0 ms) and the test engines. */
static jn_registry *make_registry(void)
{
    jn_registry *reg = jn_registry_create();
    JN_REQUIRE(reg);
    jn_builtin_options opt = {.burn_default_ms = 0};
    jn_err err;
    jn_err_clear(&err);
    JN_CHECK_INT_EQ(jn_builtin_register_all(reg, &opt, &err), 0);
    JN_CHECK_INT_EQ(err.code, 0);
    add_test_engine(reg, "multi", &multi);
    add_test_engine(reg, "wrong_type", &wrong_type);
    add_test_engine(reg, "wrong_size", &wrong_size);
    add_test_engine(reg, "nothing", &nothing);
    add_test_engine(reg, "fail_quiet", &fail_quiet);
    add_test_engine(reg, "partial", &partial);
    return reg;
}

/* A request for `model` with one input `name` of dtype[rows, cols] (FP32 filled with 0, 1, 2, ...). */
static void make_request(jn_request *req, const char *model, const char *name, jn_dtype dtype, int64_t rows,
                         int64_t cols)
{
    jn_request_init(req);
    JN_REQUIRE(jn_request_set_target(req, model, NULL, "req-1") == 0);
    const int64_t shape[] = {rows, cols};
    jn_tensor *t = jn_tensor_create(name, dtype, 2, shape, NULL);
    JN_REQUIRE(t);
    if (dtype == JN_DTYPE_FP32) {
        float *f = t->data;
        for (int64_t i = 0; i < rows * cols; i++)
            f[i] = (float)i;
    }
    JN_REQUIRE(jn_tensor_list_push(&req->inputs, t) == 0);
}

/* prepare + run + unref, as a front end does. */
static int call(jn_registry *reg, const jn_request *req, const atomic_int *cancelled, jn_tensor_list *outputs,
                jn_err *err)
{
    jn_engine *e = (jn_engine *)1;
    jn_err_clear(err);
    int rc = jn_exec_prepare(reg, req, &e, err);
    if (rc) {
        JN_CHECK(e == NULL);
        return rc;
    }
    JN_REQUIRE(e);
    rc = jn_exec_run(e, req, cancelled, NULL, outputs, err);
    jn_engine_unref(e);
    return rc;
}

static void test_prepare_errors(void)
{
    jn_registry *reg = make_registry();
    jn_request req;
    jn_tensor_list out;
    jn_tensor_list_init(&out);
    jn_err err;

    make_request(&req, "nope", "input", JN_DTYPE_FP32, 1, 2);
    JN_CHECK_ERR(call(reg, &req, NULL, &out, &err), err, JN_ENOTFOUND);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'nope' is not registered");
    jn_request_clear(&req);

    make_request(&req, "", "input", JN_DTYPE_FP32, 1, 2);
    JN_CHECK_ERR(call(reg, &req, NULL, &out, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "no model");
    jn_request_clear(&req);

    make_request(&req, "identity", "input", JN_DTYPE_FP32, 1, 2);
    JN_REQUIRE(jn_request_set_target(&req, "identity", "9", "") == 0);
    JN_CHECK_ERR(call(reg, &req, NULL, &out, &err), err, JN_ENOTFOUND);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'identity' has no version '9'");
    JN_REQUIRE(jn_request_set_target(&req, "identity", "1", "") == 0);
    JN_CHECK_INT_EQ(call(reg, &req, NULL, &out, &err), 0);
    jn_tensor_list_clear(&out);
    jn_request_clear(&req);

    /* Bad inputs: INVALID_ARGUMENT naming model, port, expected and got; the engine never runs. */
    make_request(&req, "identity", "input", JN_DTYPE_INT32, 2, 3);
    JN_CHECK_ERR(call(reg, &req, NULL, &out, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'identity'");
    JN_CHECK_STR_CONTAINS(err.msg, "input 'input'");
    JN_CHECK_STR_CONTAINS(err.msg, "FP32[-1,-1]");
    JN_CHECK_STR_CONTAINS(err.msg, "INT32[2,3]");
    JN_CHECK_INT_EQ(out.count, 0);
    jn_request_clear(&req);

    make_request(&req, "multi", "image", JN_DTYPE_FP32, 2, 3);
    int calls = atomic_load(&multi.calls);
    JN_CHECK_ERR(call(reg, &req, NULL, &out, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'multi': unknown input 'image'");
    JN_CHECK_INT_EQ(atomic_load(&multi.calls), calls);
    jn_request_clear(&req);

    make_request(&req, "burn", "input", JN_DTYPE_FP32, 2, 3);
    jn_tensor_free(jn_tensor_list_take(&req.inputs, "input"));
    JN_CHECK_ERR(call(reg, &req, NULL, &out, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'burn': missing input 'input'");
    jn_request_clear(&req);

    /* Unknown and duplicate requested outputs are the caller's mistake too. */
    make_request(&req, "identity", "input", JN_DTYPE_FP32, 2, 3);
    JN_REQUIRE(jn_request_add_output(&req, "logits") == 0);
    JN_CHECK_ERR(call(reg, &req, NULL, &out, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'identity'");
    JN_CHECK_STR_CONTAINS(err.msg, "unknown output 'logits'");
    JN_CHECK_STR_CONTAINS(err.msg, "'output'");
    jn_request_clear(&req);

    make_request(&req, "multi", "input", JN_DTYPE_FP32, 2, 3);
    JN_REQUIRE(jn_request_add_output(&req, "a") == 0);
    JN_REQUIRE(jn_request_add_output(&req, "a") == 0);
    JN_CHECK_ERR(call(reg, &req, NULL, &out, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'multi'");
    JN_CHECK_STR_CONTAINS(err.msg, "output 'a'");
    JN_CHECK_INT_EQ(out.count, 0);
    jn_request_clear(&req);

    /* An engine that is not ready is unavailable. */
    jn_engine *e = jn_registry_get(reg, "identity", NULL, NULL);
    JN_REQUIRE(e);
    atomic_store(&e->ready, 0);
    make_request(&req, "identity", "input", JN_DTYPE_FP32, 2, 3);
    JN_CHECK_ERR(call(reg, &req, NULL, &out, &err), err, JN_EUNAVAIL);
    JN_CHECK_STR_CONTAINS(err.msg, "'identity'");
    atomic_store(&e->ready, 1);
    jn_engine_unref(e);
    jn_request_clear(&req);

    jn_registry_destroy(reg);
}

static void test_identity_zero_copy(void)
{
    jn_registry *reg = make_registry();
    jn_request req;
    make_request(&req, "identity", "input", JN_DTYPE_FP32, 2, 3);
    jn_tensor *in = req.inputs.items[0];
    jn_tensor_list out;
    jn_tensor_list_init(&out);
    jn_err err;
    jn_err_clear(&err);

    jn_engine *e = NULL;
    JN_REQUIRE(jn_exec_prepare(reg, &req, &e, &err) == 0);
    JN_CHECK(jn_engine_is_inline(e));
    JN_CHECK_INT_EQ(atomic_load(&e->refs), 2); /* registry + prepare's */
    JN_CHECK_INT_EQ(jn_exec_run(e, &req, NULL, NULL, &out, &err), 0);
    JN_CHECK_INT_EQ(err.code, 0);
    jn_engine_unref(e);

    JN_REQUIRE(out.count == 1);
    jn_tensor *o = out.items[0];
    JN_CHECK_STR_EQ(o->name, "output");
    JN_CHECK_PTR_EQ(o->data, in->data);     /* zero-copy: the very same bytes */
    JN_CHECK_PTR_EQ(o->buffer, in->buffer);
    JN_CHECK_INT_EQ(atomic_load(&in->buffer->refs), 2);
    JN_CHECK_INT_EQ(o->dtype, JN_DTYPE_FP32);
    JN_CHECK_INT_EQ(o->ndim, 2);
    JN_CHECK_INT_EQ(o->shape[0], 2);
    JN_CHECK_INT_EQ(o->shape[1], 3);
    JN_CHECK_INT_EQ(o->byte_size, 24);
    JN_CHECK_DBL_EQ(((const float *)o->data)[5], 5.0);
    /* The input is untouched (engines borrow inputs). */
    JN_CHECK_STR_EQ(in->name, "input");
    JN_CHECK_INT_EQ(req.inputs.count, 1);

    jn_tensor_list_clear(&out);
    JN_CHECK_INT_EQ(atomic_load(&in->buffer->refs), 1);

    /* Outputs may outlive the request: they hold the buffer. */
    JN_CHECK_INT_EQ(call(reg, &req, NULL, &out, &err), 0);
    jn_request_clear(&req);
    JN_REQUIRE(out.count == 1);
    JN_CHECK_INT_EQ(atomic_load(&out.items[0]->buffer->refs), 1);
    JN_CHECK_DBL_EQ(((const float *)out.items[0]->data)[4], 4.0);
    jn_tensor_list_clear(&out);
    jn_registry_destroy(reg);
}

static void check_names(const char *file, int line, const jn_tensor_list *out, const char *const *want, size_t n)
{
    JN__CHECKED();
    if (out->count != n) {
        jn__test_fail(file, line, "got %zu outputs, want %zu", out->count, n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (strcmp(out->items[i]->name, want[i]) != 0)
            jn__test_fail(file, line, "output %zu is '%s', want '%s'", i, out->items[i]->name, want[i]);
}
#define CHECK_NAMES(out, ...)                                                                                  \
    do {                                                                                                       \
        const char *const want_[] = {__VA_ARGS__};                                                             \
        check_names(__FILE__, __LINE__, out, want_, sizeof want_ / sizeof want_[0]);                           \
    } while (0)

static void test_output_selection_and_order(void)
{
    jn_registry *reg = make_registry();
    jn_request req;
    jn_tensor_list out;
    jn_tensor_list_init(&out);
    jn_err err;

    /* None requested: all of them, in signature order (the engine produced b, c, a). */
    make_request(&req, "multi", "input", JN_DTYPE_FP32, 1, 4);
    JN_CHECK_INT_EQ(call(reg, &req, NULL, &out, &err), 0);
    CHECK_NAMES(&out, "a", "b", "c");
    for (size_t i = 0; i < out.count; i++)
        JN_CHECK_PTR_EQ(out.items[i]->data, req.inputs.items[0]->data);
    jn_tensor_list_clear(&out);
    jn_request_clear(&req);

    /* Requested: only those, in the order asked. */
    make_request(&req, "multi", "input", JN_DTYPE_FP32, 1, 4);
    JN_REQUIRE(jn_request_add_output(&req, "c") == 0);
    JN_REQUIRE(jn_request_add_output(&req, "a") == 0);
    JN_CHECK_INT_EQ(call(reg, &req, NULL, &out, &err), 0);
    CHECK_NAMES(&out, "c", "a");
    JN_CHECK(jn_tensor_list_find(&out, "b") == NULL);
    /* The dropped output released its reference: input + c + a. */
    JN_CHECK_INT_EQ(atomic_load(&req.inputs.items[0]->buffer->refs), 3);
    jn_tensor_list_clear(&out);
    jn_request_clear(&req);

    make_request(&req, "multi", "input", JN_DTYPE_FP32, 1, 4);
    JN_REQUIRE(jn_request_add_output(&req, "b") == 0);
    JN_CHECK_INT_EQ(call(reg, &req, NULL, &out, &err), 0);
    CHECK_NAMES(&out, "b");
    jn_tensor_list_clear(&out);
    jn_request_clear(&req);

    /* Outputs are appended to what the caller's list already holds. */
    const int64_t one[] = {1};
    JN_REQUIRE(jn_tensor_list_push(&out, jn_tensor_create("earlier", JN_DTYPE_INT8, 1, one, NULL)) == 0);
    make_request(&req, "identity", "input", JN_DTYPE_FP32, 1, 1);
    JN_REQUIRE(jn_request_add_output(&req, "output") == 0);
    JN_CHECK_INT_EQ(call(reg, &req, NULL, &out, &err), 0);
    CHECK_NAMES(&out, "earlier", "output");
    jn_tensor_list_clear(&out);
    jn_request_clear(&req);
    jn_registry_destroy(reg);
}

static int64_t elapsed_ms_since(int64_t t0)
{
    return (jn_now_ns() - t0) / 1000000;
}

static void test_burn(void)
{
    jn_registry *reg = make_registry();
    jn_request req;
    jn_tensor_list out;
    jn_tensor_list_init(&out);
    jn_err err;

    jn_engine *e = jn_registry_get(reg, "burn", NULL, NULL);
    JN_REQUIRE(e);
    JN_CHECK(!jn_engine_is_inline(e)); /* burn goes to the worker pool */
    jn_engine_unref(e);

    /* burn_ms=20 (an int), cpu mode by default: at least 20 ms of wall time, then identity. */
    make_request(&req, "burn", "input", JN_DTYPE_FP32, 2, 2);
    JN_REQUIRE(jn_params_set_int(&req.params, "burn_ms", 20) == 0);
    int64_t t0 = jn_now_ns();
    JN_CHECK_INT_EQ(call(reg, &req, NULL, &out, &err), 0);
    JN_CHECK_INT_GE(jn_now_ns() - t0, 20 * 1000000);
    JN_REQUIRE(out.count == 1);
    JN_CHECK_STR_EQ(out.items[0]->name, "output");
    JN_CHECK_PTR_EQ(out.items[0]->data, req.inputs.items[0]->data);
    jn_tensor_list_clear(&out);
    jn_request_clear(&req);

    /* burn_ms as a numeric string, sleep mode. */
    make_request(&req, "burn", "input", JN_DTYPE_FP32, 2, 2);
    JN_REQUIRE(jn_params_set_string(&req.params, "burn_ms", "20") == 0);
    JN_REQUIRE(jn_params_set_string(&req.params, "burn_mode", "sleep") == 0);
    t0 = jn_now_ns();
    JN_CHECK_INT_EQ(call(reg, &req, NULL, &out, &err), 0);
    JN_CHECK_INT_GE(jn_now_ns() - t0, 20 * 1000000);
    JN_CHECK_INT_EQ(out.count, 1);
    jn_tensor_list_clear(&out);
    jn_request_clear(&req);

    /* Bad parameters: INVALID_ARGUMENT naming the parameter (and what was given), no output. */
    make_request(&req, "burn", "input", JN_DTYPE_FP32, 2, 2);
    JN_REQUIRE(jn_params_set_string(&req.params, "burn_mode", "warp") == 0);
    JN_CHECK_ERR(call(reg, &req, NULL, &out, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'burn'");
    JN_CHECK_STR_CONTAINS(err.msg, "burn_mode");
    JN_CHECK_STR_CONTAINS(err.msg, "warp");
    JN_CHECK_INT_EQ(out.count, 0);
    jn_request_clear(&req);

    make_request(&req, "burn", "input", JN_DTYPE_FP32, 2, 2);
    JN_REQUIRE(jn_params_set_int(&req.params, "burn_ms", -5) == 0);
    JN_CHECK_ERR(call(reg, &req, NULL, &out, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "burn_ms");
    JN_CHECK_STR_CONTAINS(err.msg, "-5");
    JN_CHECK_INT_EQ(out.count, 0);
    jn_request_clear(&req);

    make_request(&req, "burn", "input", JN_DTYPE_FP32, 2, 2);
    JN_REQUIRE(jn_params_set_double(&req.params, "burn_ms", 1e9) == 0);
    JN_CHECK_ERR(call(reg, &req, NULL, &out, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "burn_ms");
    jn_request_clear(&req);

    make_request(&req, "burn", "input", JN_DTYPE_FP32, 2, 2);
    JN_REQUIRE(jn_params_set_string(&req.params, "burn_ms", "fast") == 0);
    JN_CHECK_ERR(call(reg, &req, NULL, &out, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "burn_ms");
    JN_CHECK_STR_CONTAINS(err.msg, "number");
    jn_request_clear(&req);

    make_request(&req, "burn", "input", JN_DTYPE_FP32, 2, 2);
    JN_REQUIRE(jn_params_set_bool(&req.params, "burn_ms", true) == 0);
    JN_CHECK_ERR(call(reg, &req, NULL, &out, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "burn_ms");
    jn_request_clear(&req);
    jn_registry_destroy(reg);
}

static void test_burn_default_from_options(void)
{
    jn_err err;
    jn_builtin_options opt = {.burn_default_ms = 15};
    jn_engine *e = jn_burn_create("slow", &opt, &err);
    JN_REQUIRE(e);
    jn_registry *reg = jn_registry_create();
    JN_REQUIRE(reg);
    JN_REQUIRE(jn_registry_add(reg, e, &err) == 0);
    jn_request req;
    jn_tensor_list out;
    jn_tensor_list_init(&out);
    make_request(&req, "slow", "input", JN_DTYPE_FP32, 1, 1);
    int64_t t0 = jn_now_ns();
    JN_CHECK_INT_EQ(call(reg, &req, NULL, &out, &err), 0);
    JN_CHECK_INT_GE(jn_now_ns() - t0, 15 * 1000000);
    jn_tensor_list_clear(&out);
    jn_request_clear(&req);
    jn_registry_destroy(reg);

    /* Registering the built-ins twice collides on the names. */
    reg = jn_registry_create();
    JN_REQUIRE(reg);
    JN_CHECK_INT_EQ(jn_builtin_register_all(reg, NULL, &err), 0);
    JN_CHECK_ERR(jn_builtin_register_all(reg, NULL, &err), err, JN_EEXIST);
    JN_CHECK_STR_CONTAINS(err.msg, "'identity'");
    jn_registry_destroy(reg);
}

static void test_deadline_and_cancel_before_run(void)
{
    jn_registry *reg = make_registry();
    jn_request req;
    jn_tensor_list out;
    jn_tensor_list_init(&out);
    jn_err err;
    int calls = atomic_load(&multi.calls);

    /* A deadline already in the past: refused before the engine runs. */
    make_request(&req, "multi", "input", JN_DTYPE_FP32, 1, 1);
    req.deadline_ns = jn_now_ns() - 1;
    JN_CHECK_ERR(call(reg, &req, NULL, &out, &err), err, JN_EDEADLINE);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'multi'");
    JN_CHECK_STR_CONTAINS(err.msg, "deadline");
    JN_CHECK_INT_EQ(atomic_load(&multi.calls), calls);
    JN_CHECK_INT_EQ(out.count, 0);

    /* A deadline in the future does not get in the way. */
    req.deadline_ns = jn_now_ns() + INT64_C(60) * 1000000000;
    JN_CHECK_INT_EQ(call(reg, &req, NULL, &out, &err), 0);
    JN_CHECK_INT_EQ(atomic_load(&multi.calls), calls + 1);
    JN_CHECK_INT_EQ(out.count, 3);
    jn_tensor_list_clear(&out);

    /* A cancelled call: refused before the engine runs. */
    req.deadline_ns = 0;
    atomic_int cancelled = 1;
    JN_CHECK_ERR(call(reg, &req, &cancelled, &out, &err), err, JN_ECANCELLED);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'multi'");
    JN_CHECK_STR_CONTAINS(err.msg, "cancelled");
    JN_CHECK_INT_EQ(atomic_load(&multi.calls), calls + 1);
    JN_CHECK_INT_EQ(out.count, 0);
    atomic_store(&cancelled, 0);
    JN_CHECK_INT_EQ(call(reg, &req, &cancelled, &out, &err), 0);
    JN_CHECK_INT_EQ(atomic_load(&multi.calls), calls + 2);
    jn_tensor_list_clear(&out);
    jn_request_clear(&req);

    /* Same for a built-in: no burning at all. */
    make_request(&req, "burn", "input", JN_DTYPE_FP32, 1, 1);
    JN_REQUIRE(jn_params_set_int(&req.params, "burn_ms", 5000) == 0);
    req.deadline_ns = jn_now_ns() - 1000000;
    int64_t t0 = jn_now_ns();
    JN_CHECK_ERR(call(reg, &req, NULL, &out, &err), err, JN_EDEADLINE);
    JN_CHECK_INT_LT(elapsed_ms_since(t0), 1000);
    jn_request_clear(&req);
    jn_registry_destroy(reg);
}

typedef struct canceller {
    atomic_int *flag;
    int after_ms;
} canceller;

static void *cancel_later(void *p)
{
    canceller *c = p;
    struct timespec ts = {0, (long)c->after_ms * 1000000L};
    nanosleep(&ts, NULL);
    atomic_store(c->flag, 1);
    return NULL;
}

static void test_burn_stops_midway(void)
{
    jn_registry *reg = make_registry();
    jn_request req;
    jn_tensor_list out;
    jn_tensor_list_init(&out);
    jn_err err;

    /* The deadline passes while burning: burn notices within its 1 ms slices. */
    make_request(&req, "burn", "input", JN_DTYPE_FP32, 1, 1);
    JN_REQUIRE(jn_params_set_int(&req.params, "burn_ms", 5000) == 0);
    int64_t t0 = jn_now_ns();
    req.deadline_ns = t0 + 30 * 1000000;
    JN_CHECK_ERR(call(reg, &req, NULL, &out, &err), err, JN_EDEADLINE);
    JN_CHECK_INT_GE(jn_now_ns() - t0, 30 * 1000000);
    JN_CHECK_INT_LT(elapsed_ms_since(t0), 2500);
    JN_CHECK_INT_EQ(out.count, 0);

    /* The caller goes away while burning (sleep mode). */
    req.deadline_ns = 0;
    JN_REQUIRE(jn_params_set_string(&req.params, "burn_mode", "sleep") == 0);
    atomic_int cancelled = 0;
    canceller c = {&cancelled, 30};
    pthread_t th;
    t0 = jn_now_ns();
    JN_REQUIRE(pthread_create(&th, NULL, cancel_later, &c) == 0);
    JN_CHECK_ERR(call(reg, &req, &cancelled, &out, &err), err, JN_ECANCELLED);
    JN_CHECK_INT_LT(elapsed_ms_since(t0), 2500);
    pthread_join(th, NULL);
    JN_CHECK_INT_EQ(out.count, 0);
    jn_request_clear(&req);
    jn_registry_destroy(reg);
}

static void test_engine_bugs_are_internal(void)
{
    jn_registry *reg = make_registry();
    jn_request req;
    jn_tensor_list out;
    jn_tensor_list_init(&out);
    jn_err err;

    make_request(&req, "wrong_type", "input", JN_DTYPE_FP32, 2, 2);
    JN_CHECK_ERR(call(reg, &req, NULL, &out, &err), err, JN_EINTERNAL);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'wrong_type'");
    JN_CHECK_STR_CONTAINS(err.msg, "output 'out'");
    JN_CHECK_STR_CONTAINS(err.msg, "FP32");
    JN_CHECK_STR_CONTAINS(err.msg, "INT32[2,2]");
    JN_CHECK_INT_EQ(out.count, 0);
    /* err may be NULL: the code alone comes back. */
    jn_engine *e = NULL;
    JN_REQUIRE(jn_exec_prepare(reg, &req, &e, NULL) == 0);
    JN_CHECK_INT_EQ(jn_exec_run(e, &req, NULL, NULL, &out, NULL), JN_EINTERNAL);
    jn_engine_unref(e);
    JN_CHECK_INT_EQ(out.count, 0);
    jn_request_clear(&req);

    make_request(&req, "wrong_size", "input", JN_DTYPE_FP32, 2, 2);
    JN_CHECK_ERR(call(reg, &req, NULL, &out, &err), err, JN_EINTERNAL);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'wrong_size': output 'out'");
    JN_CHECK_STR_CONTAINS(err.msg, "15 bytes");
    JN_CHECK_INT_EQ(out.count, 0);
    JN_CHECK_INT_EQ(atomic_load(&req.inputs.items[0]->buffer->refs), 1); /* the bad output was freed */
    jn_request_clear(&req);

    make_request(&req, "nothing", "input", JN_DTYPE_FP32, 2, 2);
    JN_CHECK_ERR(call(reg, &req, NULL, &out, &err), err, JN_EINTERNAL);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'nothing'");
    JN_CHECK_STR_CONTAINS(err.msg, "no output 'out'");
    jn_request_clear(&req);

    /* All or nothing: a bad third output leaves none of the good first two, and what the caller's list held
     * before stays. */
    const int64_t one[] = {1};
    JN_REQUIRE(jn_tensor_list_push(&out, jn_tensor_create("earlier", JN_DTYPE_INT8, 1, one, NULL)) == 0);
    make_request(&req, "partial", "input", JN_DTYPE_FP32, 2, 2);
    JN_CHECK_ERR(call(reg, &req, NULL, &out, &err), err, JN_EINTERNAL);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'partial': output 'c'");
    CHECK_NAMES(&out, "earlier");
    JN_CHECK_INT_EQ(atomic_load(&req.inputs.items[0]->buffer->refs), 1);
    JN_REQUIRE(jn_request_add_output(&req, "b") == 0);
    JN_REQUIRE(jn_request_add_output(&req, "a") == 0);
    JN_CHECK_INT_EQ(call(reg, &req, NULL, &out, &err), 0); /* c not asked for: fine */
    CHECK_NAMES(&out, "earlier", "b", "a");
    jn_tensor_list_clear(&out);
    jn_request_clear(&req);

    /* An engine error without a message gets one naming the model. */
    make_request(&req, "fail_quiet", "input", JN_DTYPE_FP32, 2, 2);
    JN_CHECK_ERR(call(reg, &req, NULL, &out, &err), err, JN_EUNAVAIL);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'fail_quiet'");
    JN_CHECK_STR_CONTAINS(err.msg, jn_strerror(JN_EUNAVAIL));
    JN_CHECK_INT_EQ(out.count, 0);
    jn_request_clear(&req);
    jn_registry_destroy(reg);
}

int main(void)
{
    JN_TEST_RUN(test_prepare_errors);
    JN_TEST_RUN(test_identity_zero_copy);
    JN_TEST_RUN(test_output_selection_and_order);
    JN_TEST_RUN(test_burn);
    JN_TEST_RUN(test_burn_default_from_options);
    JN_TEST_RUN(test_deadline_and_cancel_before_run);
    JN_TEST_RUN(test_burn_stops_midway);
    JN_TEST_RUN(test_engine_bugs_are_internal);
    return JN_TEST_EXIT();
}
