/* Fuzz target: request decoding (junction.v1 and KServe v2) followed by resolution and validation against the
 * built-in engines — everything a request goes through before an engine runs. The first byte picks the protocol;
 * the rest is the request message. Must never crash, leak or hang; every rejection must carry a message. */
#include <grpc/byte_buffer.h>
#include <grpc/slice.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "builtin.h"
#include "executor.h"
#include "../../broker/rpc/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static jn_registry *fuzz_registry(void)
{
    static jn_registry *reg;
    if (!reg) {
        jn_builtin_options opt = {.burn_default_ms = 0};
        jn_err err;
        reg = jn_registry_create();
        if (!reg || jn_builtin_register_all(reg, &opt, &err))
            abort();
    }
    return reg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const jn_infer_proto *proto = data[0] & 1 ? &jn_infer_v2 : &jn_infer_v1;
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)data + 1, size - 1);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);

    jn_request req;
    jn_request_init(&req);
    void *state = NULL;
    jn_err err;
    jn_err_clear(&err);
    int rc = proto->decode(bb, &req, &state, &err);
    jn_engine *engine = NULL;
    if (!rc)
        rc = jn_exec_prepare(fuzz_registry(), &req, &engine, &err);
    if (rc && (err.code != rc || err.msg[0] == '\0')) {
        fprintf(stderr, "rejection without a matching code and message: rc=%d code=%d msg='%s'\n", rc, err.code,
                err.msg);
        abort();
    }
    if (!rc) {
        /* Valid for identity/burn: run identity (inline, cheap) and encode the answer as the server would. */
        jn_tensor_list outputs;
        jn_tensor_list_init(&outputs);
        if (jn_engine_is_inline(engine) && jn_exec_run(engine, &req, NULL, NULL, &outputs, &err) == 0) {
            grpc_byte_buffer *out = proto->encode(&req, engine, &outputs, state, data[0] & 2, &err);
            if (out)
                grpc_byte_buffer_destroy(out);
        }
        jn_tensor_list_clear(&outputs);
        jn_engine_unref(engine);
    }
    if (state && proto->free_state)
        proto->free_state(state);
    jn_request_clear(&req);
    grpc_byte_buffer_destroy(bb);
    return 0;
}
