/* Fuzz target: bytes -> ONNX loader -> one run, when every graph input has a small shape (-1 dims become 2,
 * at most 4096 elements each): inputs are filled with small values (0.5 for floats, 0/1 alternating for integers
 * and booleans), tensors are capped at 16 MB and loops at 10000 iterations a call. A run may fail (with a code and a message), never crash, leak or
 * hang; planning and the cached-plan run are both exercised (two runs). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "onnx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require_message(int rc, const jn_err *err)
{
    if (rc && (err->code != rc || err->msg[0] == '\0')) {
        fprintf(stderr, "failure without a matching code and message: rc=%d code=%d\n", rc, err->code);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    jn_err err;
    jn_err_clear(&err);
    jn_onnx_model *m = jn_onnx_load_bytes(data, size, "fuzz", &err);
    if (!m)
        return 0;
    jn_onnx_set_max_tensor_bytes(m, (size_t)16 << 20);
    jn_onnx_set_max_loop_iterations(m, 10000);
    jn_signature sig;
    jn_signature_init(&sig);
    jn_tensor_list in, out;
    jn_tensor_list_init(&in);
    jn_tensor_list_init(&out);
    bool runnable = jn_onnx_signature(m, &sig, &err) == 0;
    for (size_t i = 0; i < sig.n_inputs && runnable; i++) {
        const jn_port *p = &sig.inputs[i];
        int64_t shape[JN_MAX_DIMS], count = 1;
        for (int d = 0; d < p->ndim; d++) {
            shape[d] = p->shape[d] < 0 ? 2 : p->shape[d];
            count *= shape[d] > 0 ? shape[d] : 1;
            if (count > 4096)
                runnable = false;
        }
        jn_tensor *t = runnable ? jn_tensor_create(p->name, p->dtype, p->ndim, shape, &err) : NULL;
        if (!t) {
            runnable = false;
            break;
        }
        int64_t n = jn_tensor_element_count(t);
        for (int64_t k = 0; k < n; k++) {
            switch (p->dtype) {
            case JN_DTYPE_FP32: ((float *)t->data)[k] = 0.5f; break;
            case JN_DTYPE_FP64: ((double *)t->data)[k] = 0.5; break;
            case JN_DTYPE_INT64: ((int64_t *)t->data)[k] = k & 1; break;
            case JN_DTYPE_INT32: ((int32_t *)t->data)[k] = (int32_t)(k & 1); break;
            case JN_DTYPE_BOOL:
            case JN_DTYPE_UINT8:
            case JN_DTYPE_INT8: ((uint8_t *)t->data)[k] = (uint8_t)(k & 1); break;
            default: break; /* zeros */
            }
        }
        jn_tensor_list_push(&in, t);
    }
    for (int pass = 0; pass < 2 && runnable; pass++) {
        jn_err_clear(&err);
        int rc = jn_onnx_run(m, &in, &out, &err);
        require_message(rc, &err);
        jn_tensor_list_clear(&out);
        if (rc)
            break;
    }
    jn_tensor_list_clear(&in);
    jn_signature_free(&sig);
    jn_onnx_free(m);
    return 0;
}
