/* identity: input 'input' FP32[-1,-1] -> output 'output', the same buffer. Zero-copy, so it runs inline on the
 * pump thread; benchmarks and tests measure the broker's own cost with it. */
#include <stdlib.h>

#include "../builtin.h"

static int identity_infer(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                          jn_tensor_list *outputs, jn_err *err)
{
    const jn_tensor *in = jn_tensor_list_find(inputs, "input");
    jn_tensor *out = jn_tensor_share(in, "output", err);
    if (!out)
        return err->code;
    return jn_tensor_list_push(outputs, out) ? jn_err_set(err, JN_ENOMEM, "out of memory") : 0;
}

static const jn_engine_vtable identity_vtable = {
    .abi_version = JN_ENGINE_ABI_VERSION,
    .platform = "junction_util",
    .infer = identity_infer,
};

jn_engine *jn_identity_create(const char *name, const jn_builtin_options *opt, jn_err *err)
{
    jn_engine *e = jn_engine_create(&identity_vtable, name, "1", "returns its input unchanged (zero-copy)", NULL, err);
    if (!e)
        return NULL;
    const int64_t any2[2] = {-1, -1};
    if (jn_signature_add_input(&e->sig, "input", JN_KIND_TENSOR, JN_DTYPE_FP32, 2, any2, err) ||
        jn_signature_add_output(&e->sig, "output", JN_KIND_TENSOR, JN_DTYPE_FP32, 2, any2, err)) {
        jn_engine_unref(e);
        return NULL;
    }
    e->flags |= JN_ENGINE_INLINE;
    if (jn_signature_batches(&e->sig)) /* rows are independent */
        e->flags |= JN_ENGINE_BATCHES;
    return e;
}
