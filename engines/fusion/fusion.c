/* fusion: late fusion of two classifiers over the same label set — inputs 'a' and 'b' CLASSIFICATION FP32[-1,K]
 * (probabilities) -> output 'scores' CLASSIFICATION FP32[-1,K] = w * a + (1 - w) * b, renormalized per row.
 * The weight is the request parameter fusion_weight (default 0.5). An instance is made for one label set (the demo
 * registers `fashion-fusion` over the Fashion-MNIST classes), so its ports carry the labels the answer needs. */
#include <stdlib.h>
#include <string.h>

#include "../builtin.h"

static int fusion_infer(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                        jn_tensor_list *outputs, jn_err *err)
{
    const jn_tensor *a = jn_tensor_list_find(inputs, "a"), *b = jn_tensor_list_find(inputs, "b");
    if (a->ndim != b->ndim || memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof a->shape[0]) != 0) {
        char sa[160], sb[160];
        return jn_err_set(err, JN_EINVAL, "model '%s': inputs 'a' %s and 'b' %s must have the same shape",
                          ctx->model, jn_format_type(sa, sizeof sa, a->dtype, a->ndim, a->shape),
                          jn_format_type(sb, sizeof sb, b->dtype, b->ndim, b->shape));
    }
    double w = 0.5;
    if (jn_params_find(ctx->params, "fusion_weight") &&
        (!jn_params_get_double(ctx->params, "fusion_weight", &w) || !(w >= 0 && w <= 1)))
        return jn_err_set(err, JN_EINVAL, "model '%s': parameter 'fusion_weight' must be a number within 0..1",
                          ctx->model);
    jn_tensor *out = jn_tensor_create("scores", JN_DTYPE_FP32, a->ndim, a->shape, err);
    if (!out)
        return err->code;
    int64_t k = a->shape[a->ndim - 1], rows = k ? jn_tensor_element_count(a) / k : 0;
    const float *pa = a->data, *pb = b->data;
    float *po = out->data;
    for (int64_t r = 0; r < rows; r++) {
        double sum = 0;
        for (int64_t c = 0; c < k; c++) {
            double v = w * pa[r * k + c] + (1 - w) * pb[r * k + c];
            po[r * k + c] = (float)(v > 0 ? v : 0);
            sum += po[r * k + c];
        }
        for (int64_t c = 0; sum > 0 && c < k; c++)
            po[r * k + c] = (float)(po[r * k + c] / sum);
    }
    return jn_tensor_list_push(outputs, out) ? jn_err_set(err, JN_ENOMEM, "out of memory") : 0;
}

static const jn_engine_vtable fusion_vtable = {
    .abi_version = JN_ENGINE_ABI_VERSION,
    .platform = "junction_fusion",
    .infer = fusion_infer,
};

jn_engine *jn_fusion_create_for(const char *name, const char *const *labels, size_t n_labels, jn_err *err)
{
    jn_engine *e = jn_engine_create(&fusion_vtable, name, "1",
                                    "late fusion of two classifiers: w * a + (1 - w) * b (parameter fusion_weight)",
                                    NULL, err);
    if (!e)
        return NULL;
    const int64_t shape[2] = {-1, (int64_t)n_labels};
    if (jn_signature_add_input(&e->sig, "a", JN_KIND_CLASSIFICATION, JN_DTYPE_FP32, 2, shape, err) ||
        jn_signature_add_input(&e->sig, "b", JN_KIND_CLASSIFICATION, JN_DTYPE_FP32, 2, shape, err) ||
        jn_signature_add_output(&e->sig, "scores", JN_KIND_CLASSIFICATION, JN_DTYPE_FP32, 2, shape, err) ||
        jn_port_set_labels(&e->sig.inputs[0], labels, n_labels, err) ||
        jn_port_set_labels(&e->sig.inputs[1], labels, n_labels, err) ||
        jn_port_set_labels(&e->sig.outputs[0], labels, n_labels, err)) {
        jn_engine_unref(e);
        return NULL;
    }
    e->flags |= JN_ENGINE_INLINE;
    if (jn_signature_batches(&e->sig)) /* rows are independent */
        e->flags |= JN_ENGINE_BATCHES;
    return e;
}
