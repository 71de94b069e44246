/* burn: identity after spending a configurable time, for concurrency tests and benchmarks.
 * Request parameters: burn_ms (number, default from `serve --burn-ms`) and burn_mode ("cpu" spins a core,
 * "sleep" waits without using one). It checks the deadline and cancellation every millisecond, so a cancelled
 * call stops burning. Runs on the worker pool, never on a pump thread. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../builtin.h"

#define BURN_MAX_MS 600000.0

typedef struct burn_state {
    double default_ms;
} burn_state;

/* Where the spin's result goes so the compiler cannot drop the loop; atomic because every burning thread writes it
 * (a plain global was a data race, found by the ThreadSanitizer run of test_pipeline_run). */
static _Atomic unsigned long long burn_sink;

static void spin_for_ns(int64_t ns)
{
    int64_t end = jn_now_ns() + ns;
    unsigned long long x = atomic_load_explicit(&burn_sink, memory_order_relaxed);
    while (jn_now_ns() < end)
        for (int i = 0; i < 1000; i++)
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    atomic_store_explicit(&burn_sink, x, memory_order_relaxed);
}

static int burn_infer(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                      jn_tensor_list *outputs, jn_err *err)
{
    const burn_state *st = self->ctx;
    double ms = st->default_ms;
    if (jn_params_find(ctx->params, "burn_ms") && !jn_params_get_double(ctx->params, "burn_ms", &ms))
        return jn_err_set(err, JN_EINVAL, "model '%s': parameter 'burn_ms' must be a number", ctx->model);
    if (!(ms >= 0 && ms <= BURN_MAX_MS))
        return jn_err_set(err, JN_EINVAL, "model '%s': parameter 'burn_ms' must be within 0..%.0f, got %g",
                          ctx->model, BURN_MAX_MS, ms);
    const char *mode = jn_params_get_string(ctx->params, "burn_mode");
    bool sleep_mode = false;
    if (mode && strcmp(mode, "sleep") == 0)
        sleep_mode = true;
    else if (mode && strcmp(mode, "cpu") != 0)
        return jn_err_set(err, JN_EINVAL, "model '%s': parameter 'burn_mode' must be \"cpu\" or \"sleep\", got \"%s\"",
                          ctx->model, mode);

    int64_t end = jn_now_ns() + (int64_t)(ms * 1e6);
    for (;;) {
        int rc = jn_infer_ctx_check(ctx, err);
        if (rc)
            return rc;
        int64_t left = end - jn_now_ns();
        if (left <= 0)
            break;
        int64_t slice = left < 1000000 ? left : 1000000;
        if (sleep_mode) {
            struct timespec ts = {0, (long)slice};
            nanosleep(&ts, NULL);
        } else {
            spin_for_ns(slice);
        }
    }
    const jn_tensor *in = jn_tensor_list_find(inputs, "input");
    jn_tensor *out = jn_tensor_share(in, "output", err);
    if (!out)
        return err->code;
    return jn_tensor_list_push(outputs, out) ? jn_err_set(err, JN_ENOMEM, "out of memory") : 0;
}

static void burn_destroy(jn_engine *self)
{
    free(self->ctx);
}

static const jn_engine_vtable burn_vtable = {
    .abi_version = JN_ENGINE_ABI_VERSION,
    .platform = "junction_util",
    .infer = burn_infer,
    .destroy = burn_destroy,
};

jn_engine *jn_burn_create(const char *name, const jn_builtin_options *opt, jn_err *err)
{
    burn_state *st = malloc(sizeof *st);
    if (!st) {
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    st->default_ms = opt && opt->burn_default_ms >= 0 ? opt->burn_default_ms : 10.0;
    jn_engine *e = jn_engine_create(&burn_vtable, name, "1",
                                    "identity after burn_ms of CPU (burn_mode=cpu) or sleep (burn_mode=sleep)", st, err);
    if (!e) {
        free(st);
        return NULL;
    }
    const int64_t any2[2] = {-1, -1};
    if (jn_signature_add_input(&e->sig, "input", JN_KIND_TENSOR, JN_DTYPE_FP32, 2, any2, err) ||
        jn_signature_add_output(&e->sig, "output", JN_KIND_TENSOR, JN_DTYPE_FP32, 2, any2, err)) {
        jn_engine_unref(e);
        return NULL;
    }
    if (jn_signature_batches(&e->sig)) /* rows are independent */
        e->flags |= JN_ENGINE_BATCHES;
    e->flags |= JN_ENGINE_VOLATILE; /* a timing tool: never answered from the cache */
    return e;
}
