/* Unit tests for broker/core/generate.c: the generate signature, its recognition, the sampling parameters and the
 * answers' tensors. */
#include <stdint.h>
#include <string.h>

#include "generate.h"
#include "test.h"

static int no_infer(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *in, jn_tensor_list *out,
                    jn_err *err)
{
    (void)self, (void)ctx, (void)in, (void)out;
    return jn_err_set(err, JN_EUNIMPL, "not run");
}

static int no_stream(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *in, jn_emit_fn emit, void *arg,
                     jn_err *err)
{
    (void)self, (void)ctx, (void)in, (void)emit, (void)arg;
    return jn_err_set(err, JN_EUNIMPL, "not run");
}

static const jn_engine_vtable streaming_vt = {
    .abi_version = JN_ENGINE_ABI_VERSION, .platform = "test", .infer = no_infer, .infer_stream = no_stream};

static jn_engine *make(jn_generate_input in, bool streams)
{
    jn_err err;
    jn_engine *e = jn_engine_create(&streaming_vt, "g", "1", NULL, NULL, &err);
    JN_REQUIRE(e);
    JN_CHECK_INT_EQ(jn_generate_signature(&e->sig, in, &err), 0);
    if (streams)
        e->flags |= JN_ENGINE_STREAMS;
    return e;
}

static void test_signature(void)
{
    jn_engine *chat = make(JN_GENERATE_IN_MESSAGES, true);
    JN_CHECK_INT_EQ(jn_generate_input_of(chat), JN_GENERATE_IN_MESSAGES);
    JN_CHECK(jn_generate_is(chat));
    JN_CHECK_INT_EQ(chat->sig.n_outputs, 4);
    JN_CHECK_STR_EQ(chat->sig.inputs[0].name, "messages");
    JN_CHECK(!chat->sig.outputs[0].optional); /* text: in every partial */
    JN_CHECK(chat->sig.outputs[1].optional && chat->sig.outputs[2].optional && chat->sig.outputs[3].optional);
    jn_engine *prompt = make(JN_GENERATE_IN_PROMPT, true);
    JN_CHECK_INT_EQ(jn_generate_input_of(prompt), JN_GENERATE_IN_PROMPT);
    /* Not streaming: not a generate engine. */
    jn_engine *still = make(JN_GENERATE_IN_PROMPT, false);
    JN_CHECK(!jn_generate_is(still));
    JN_CHECK(!jn_generate_is(NULL));
    /* Another output, or another input name: not one either. */
    jn_err err;
    jn_engine *other = make(JN_GENERATE_IN_PROMPT, true);
    const int64_t one[1] = {1};
    JN_CHECK_INT_EQ(jn_signature_add_output(&other->sig, "logits", JN_KIND_TENSOR, JN_DTYPE_FP32, 1, one, &err), 0);
    JN_CHECK(!jn_generate_is(other));
    jn_engine *named = jn_engine_create(&streaming_vt, "t", "1", NULL, NULL, &err);
    const int64_t any[1] = {-1};
    JN_CHECK_INT_EQ(jn_signature_add_input(&named->sig, "text", JN_KIND_TEXT, JN_DTYPE_BYTES, 1, any, &err), 0);
    JN_CHECK_INT_EQ(jn_signature_add_output(&named->sig, "text", JN_KIND_TEXT, JN_DTYPE_BYTES, 1, any, &err), 0);
    named->flags |= JN_ENGINE_STREAMS;
    JN_CHECK(!jn_generate_is(named));
    JN_CHECK_ERR(jn_generate_signature(&named->sig, JN_GENERATE_IN_NONE, &err), err, JN_EINVAL);
    /* IMAGE inputs besides the prompt (a pipeline that looks at a photo first): still one, with its images counted;
     * a second TEXT input is not */
    jn_engine *looks = make(JN_GENERATE_IN_PROMPT, true);
    JN_CHECK_INT_EQ(jn_generate_images(looks), 0);
    JN_CHECK_INT_EQ(jn_signature_add_input(&looks->sig, "photo", JN_KIND_IMAGE, JN_DTYPE_BYTES, 1, any, &err), 0);
    JN_CHECK_INT_EQ(jn_signature_add_input(&looks->sig, "back", JN_KIND_IMAGE, JN_DTYPE_BYTES, 1, any, &err), 0);
    JN_CHECK_INT_EQ(jn_generate_input_of(looks), JN_GENERATE_IN_PROMPT);
    JN_CHECK_INT_EQ(jn_generate_images(looks), 2);
    JN_CHECK_INT_EQ(jn_signature_add_input(&looks->sig, "title", JN_KIND_TEXT, JN_DTYPE_BYTES, 1, any, &err), 0);
    JN_CHECK(!jn_generate_is(looks));
    jn_engine *only_images = jn_engine_create(&streaming_vt, "i", "1", NULL, NULL, &err);
    JN_CHECK_INT_EQ(jn_signature_add_input(&only_images->sig, "photo", JN_KIND_IMAGE, JN_DTYPE_BYTES, 1, any, &err), 0);
    JN_CHECK_INT_EQ(jn_signature_add_output(&only_images->sig, "text", JN_KIND_TEXT, JN_DTYPE_BYTES, 1, any, &err), 0);
    only_images->flags |= JN_ENGINE_STREAMS;
    JN_CHECK(!jn_generate_is(only_images));
    jn_engine_unref(looks);
    jn_engine_unref(only_images);
    jn_engine_unref(chat);
    jn_engine_unref(prompt);
    jn_engine_unref(still);
    jn_engine_unref(other);
    jn_engine_unref(named);
}

static void test_sampling(void)
{
    jn_generate_sampling s;
    jn_err err;
    JN_CHECK_INT_EQ(jn_generate_sampling_read(NULL, &s, &err), 0);
    JN_CHECK_INT_EQ(s.n, 1);
    JN_CHECK(!s.has_max_tokens && !s.has_temperature && s.n_stop == 0);

    jn_params p;
    jn_params_init(&p);
    jn_params_set_int(&p, "max_tokens", 16);
    jn_params_set_string(&p, "temperature", "0.5"); /* v2 parameters often come as text */
    jn_params_set_double(&p, "top_p", 1);
    jn_params_set_double(&p, "seed", 42); /* an integral double is an integer */
    jn_params_set_int(&p, "n", 2);
    jn_params_set_double(&p, "presence_penalty", -1.5);
    jn_params_set_string(&p, "stop", "[\"\\n\", \"END\"]");
    JN_CHECK_INT_EQ(jn_generate_sampling_read(&p, &s, &err), 0);
    JN_CHECK(s.has_max_tokens && s.max_tokens == 16);
    JN_CHECK(s.has_temperature);
    JN_CHECK_DBL_EQ(s.temperature, 0.5);
    JN_CHECK(s.has_top_p && s.has_seed && s.seed == 42 && s.n == 2 && s.has_presence_penalty);
    JN_CHECK(!s.has_frequency_penalty);
    JN_CHECK_INT_EQ(s.n_stop, 2);
    JN_CHECK_STR_EQ(s.stop[0], "\n");
    JN_CHECK_STR_EQ(s.stop[1], "END");
    jn_generate_sampling_clear(&s);
    jn_params_clear(&p);

    jn_params_init(&p);
    jn_params_set_string(&p, "stop", "###");
    JN_CHECK_INT_EQ(jn_generate_sampling_read(&p, &s, &err), 0);
    JN_CHECK_INT_EQ(s.n_stop, 1);
    JN_CHECK_STR_EQ(s.stop[0], "###");
    jn_generate_sampling_clear(&s);
    jn_params_clear(&p);

    static const struct {
        const char *key, *text;
        double num;
        const char *want;
    } bad[] = {
        {"temperature", NULL, 2.5, "parameter 'temperature': 2.5 is not in [0, 2]"},
        {"top_p", NULL, -0.1, "parameter 'top_p'"},
        {"max_tokens", NULL, 0, "parameter 'max_tokens': 0 is not in [1,"},
        {"max_tokens", NULL, 1.5, "parameter 'max_tokens': not an integer"},
        {"n", NULL, 129, "parameter 'n'"},
        {"frequency_penalty", "lots", 0, "parameter 'frequency_penalty': not a number"},
        {"stop", "[1, 2]", 0, "parameter 'stop': element 0 is not a non-empty string"},
        {"stop", "[\"a\", \"b\", \"c\", \"d\", \"e\"]", 0, "at most 4"},
        {"stop", "[unclosed", 0, "parameter 'stop': not a JSON list"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        jn_params_init(&p);
        if (bad[i].text)
            jn_params_set_string(&p, bad[i].key, bad[i].text);
        else
            jn_params_set_double(&p, bad[i].key, bad[i].num);
        jn_err_clear(&err);
        JN_CHECK_ERR(jn_generate_sampling_read(&p, &s, &err), err, JN_EINVAL);
        JN_CHECK_STR_CONTAINS(err.msg, bad[i].want);
        JN_CHECK_INT_EQ(s.n_stop, 0); /* nothing left to free */
        jn_params_clear(&p);
    }
    jn_params_init(&p);
    jn_params_set_bool(&p, "seed", true);
    JN_CHECK_ERR(jn_generate_sampling_read(&p, &s, &err), err, JN_EINVAL);
    jn_params_clear(&p);
}

static jn_tensor *text_tensor(const char *name, const char *const *strs, size_t n)
{
    size_t lens[8];
    for (size_t i = 0; i < n; i++)
        lens[i] = strlen(strs[i]);
    const int64_t shape[1] = {(int64_t)n};
    jn_err err;
    jn_tensor *t = jn_tensor_from_strings(name, 1, shape, strs, lens, n, &err);
    JN_REQUIRE(t);
    return t;
}

static void test_input_text(void)
{
    jn_tensor_list in;
    jn_tensor_list_init(&in);
    const char *ok[] = {"[{\"role\": \"user\", \"content\": \"hi\"}]"};
    jn_tensor_list_push(&in, text_tensor("messages", ok, 1));
    const char *text;
    size_t len;
    jn_err err;
    JN_CHECK_INT_EQ(jn_generate_input_text(&in, JN_GENERATE_IN_MESSAGES, &text, &len, &err), 0);
    JN_CHECK_INT_EQ(len, strlen(ok[0]));
    JN_CHECK(memcmp(text, ok[0], len) == 0);
    JN_CHECK_ERR(jn_generate_input_text(&in, JN_GENERATE_IN_PROMPT, &text, &len, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "input 'prompt' is missing");
    jn_tensor_list_clear(&in);

    static const struct {
        const char *json, *want;
    } bad[] = {
        {"not json", "input 'messages': not JSON"},
        {"[]", "non-empty JSON list"},
        {"{\"role\": \"user\"}", "non-empty JSON list"},
        {"[{\"role\": \"user\"}, 3]", "message 1 is not an object"},
        {"[{\"content\": \"x\"}]", "message 0 has no string 'role'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        jn_tensor_list_init(&in);
        jn_tensor_list_push(&in, text_tensor("messages", &bad[i].json, 1));
        JN_CHECK_ERR(jn_generate_input_text(&in, JN_GENERATE_IN_MESSAGES, &text, &len, &err), err, JN_EINVAL);
        JN_CHECK_STR_CONTAINS(err.msg, bad[i].want);
        jn_tensor_list_clear(&in);
    }
    const char *two[] = {"a", "b"};
    jn_tensor_list_init(&in);
    jn_tensor_list_push(&in, text_tensor("prompt", two, 2));
    JN_CHECK_ERR(jn_generate_input_text(&in, JN_GENERATE_IN_PROMPT, &text, &len, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "expected one element, got 2");
    jn_tensor_list_clear(&in);
}

static void test_answers(void)
{
    jn_tensor_list out;
    jn_tensor_list_init(&out);
    jn_err err;
    const char *texts[] = {"Hello", ""};
    const size_t lens[] = {5, 0};
    JN_CHECK_INT_EQ(jn_generate_push_text(&out, texts, lens, 2, &err), 0);
    const char *reasons[] = {"stop", NULL};
    JN_CHECK_INT_EQ(jn_generate_push_final(&out, reasons, 2, 7, -1, &err), 0);
    JN_CHECK_INT_EQ(out.count, 3); /* text, finish_reason, prompt_tokens (completion_tokens unknown) */
    jn_tensor *t = jn_tensor_list_find(&out, "text");
    JN_REQUIRE(t);
    JN_CHECK_INT_EQ(jn_bytes_count(t->data, t->byte_size), 2);
    jn_tensor *f = jn_tensor_list_find(&out, "finish_reason");
    JN_REQUIRE(f);
    size_t pos = 0;
    const uint8_t *elem;
    uint32_t n;
    JN_CHECK(jn_bytes_next(f->data, f->byte_size, &pos, &elem, &n) && n == 4 && memcmp(elem, "stop", 4) == 0);
    JN_CHECK(jn_bytes_next(f->data, f->byte_size, &pos, &elem, &n) && n == 0);
    jn_tensor *p = jn_tensor_list_find(&out, "prompt_tokens");
    JN_REQUIRE(p);
    JN_CHECK_INT_EQ(((int64_t *)p->data)[0], 7);
    JN_CHECK(jn_tensor_list_find(&out, "completion_tokens") == NULL);
    jn_tensor_list_clear(&out);
}

int main(void)
{
    JN_TEST_RUN(test_signature);
    JN_TEST_RUN(test_sampling);
    JN_TEST_RUN(test_input_text);
    JN_TEST_RUN(test_answers);
    return JN_TEST_EXIT();
}
