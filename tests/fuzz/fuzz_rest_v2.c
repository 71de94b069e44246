/* Fuzz target: a KServe v2 REST infer body (JSON, or JSON header + binary data) through decoding, validation
 * against the built-in engines, an inline run and encoding — everything POST .../infer does off the socket.
 * Byte 0 picks the model (identity or a pipeline) and whether Inference-Header-Content-Length is sent; byte 1
 * scales that header's value. Must never crash, leak or hang; every rejection carries a message. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "executor.h"
#include "rest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static jn_registry *fuzz_registry(void)
{
    static jn_registry *reg;
    if (!reg) {
        jn_builtin_options opt = {.burn_default_ms = 0};
        jn_err err;
        reg = jn_registry_create();
        if (!reg || jn_builtin_register_all(reg, &opt, &err) || jn_builtin_register_pipelines(reg, &err))
            abort();
    }
    return reg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static const char *const models[] = {"identity", "demo-chain", "tokenize", "nope"};
    const char *model = models[(data[0] >> 1) & 3];
    const uint8_t *body = data + 2;
    size_t len = size - 2;
    int64_t header_len = data[0] & 1 ? (int64_t)(len * data[1] / 255) : -1;

    jn_request req;
    jn_request_init(&req);
    jn_rest_v2_opts opts;
    memset(&opts, 0, sizeof opts);
    jn_err err;
    jn_err_clear(&err);
    int rc = jn_rest_v2_decode(body, len, header_len, model, "", &req, &opts, &err);
    jn_engine *engine = NULL;
    if (!rc)
        rc = jn_exec_prepare(fuzz_registry(), &req, &engine, &err);
    if (rc && (err.code != rc || err.msg[0] == '\0')) {
        fprintf(stderr, "rejection without a matching code and message: rc=%d code=%d\n", rc, err.code);
        abort();
    }
    if (!rc) {
        jn_tensor_list outputs;
        jn_tensor_list_init(&outputs);
        if (jn_engine_is_inline(engine) && jn_exec_run(engine, &req, NULL, NULL, &outputs, &err) == 0) {
            jn_rest_reply reply;
            memset(&reply, 0, sizeof reply);
            jn_rest_v2_encode(&req, engine, &outputs, &opts, &reply, &err);
            jn_rest_reply_free(&reply);
        }
        jn_tensor_list_clear(&outputs);
        jn_engine_unref(engine);
    }
    jn_rest_v2_opts_free(&opts);
    jn_request_clear(&req);
    return 0;
}
