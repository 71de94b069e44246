/* test_prompt_template.c — engines/text/template.c (the syntax) and prompt_template.c (the engine, called directly
 * and as a pipeline step that gets an engine of its own from for_step), plus the step "parameters" of pipelines
 * (core/pipeline: parsed, written back, laid over the call's parameters). */
#include <math.h>
#include <stdio.h>

#include "../../../broker/core/executor.h"
#include "../../../broker/core/pipeline.h"
#include "../../../engines/builtin.h"
#include "../../../engines/text/template.h"
#include "test.h"

static void test_parse(void)
{
    jn_err err;
    jn_err_clear(&err);
    jn_template t;
    const char *text = "A {{ x }} b {{y.label}}{{y.score}} \\{{z}} c\\d }} {{w-1_}}";
    JN_REQUIRE(jn_template_parse(text, strlen(text), &t, &err) == 0);
    JN_CHECK_INT_EQ(t.n, 7);
    JN_CHECK(!t.parts[0].is_name);
    JN_CHECK_STR_EQ(t.parts[0].text, "A ");
    JN_CHECK(t.parts[1].is_name);
    JN_CHECK_STR_EQ(t.parts[1].text, "x");
    JN_CHECK_INT_EQ(t.parts[1].field, JN_TMPL_VALUE);
    JN_CHECK_INT_EQ(t.parts[1].offset, 2);
    JN_CHECK_STR_EQ(t.parts[2].text, " b ");
    JN_CHECK_STR_EQ(t.parts[3].text, "y");
    JN_CHECK_INT_EQ(t.parts[3].field, JN_TMPL_LABEL);
    JN_CHECK_STR_EQ(t.parts[4].text, "y");
    JN_CHECK_INT_EQ(t.parts[4].field, JN_TMPL_SCORE);
    JN_CHECK_STR_EQ(t.parts[5].text, " {{z}} c\\d }} "); /* the escape, a lone backslash, a lone "}}" */
    JN_CHECK_STR_EQ(t.parts[6].text, "w-1_");
    unsigned mask;
    JN_CHECK(jn_template_reads(&t, "y", &mask));
    JN_CHECK_INT_EQ(mask, (1u << JN_TMPL_LABEL) | (1u << JN_TMPL_SCORE));
    JN_CHECK(!jn_template_reads(&t, "z", &mask));
    jn_template_free(&t);
    JN_CHECK_INT_EQ(t.n, 0); /* freed twice is fine */
    jn_template_free(&t);

    JN_REQUIRE(jn_template_parse("", 0, &t, &err) == 0);
    JN_CHECK_INT_EQ(t.n, 0);
    jn_template_free(&t);

    struct {
        const char *text, *msg;
    } bad[] = {
        {"hi {{name", "template: character 3: '{{' is not closed with '}}' (write '\\{{' for a literal '{{')"},
        {"{{}}", "template: character 0: '{{}}' is not a placeholder"},
        {"x {{a b}}", "template: character 2: '{{a b}}' is not a placeholder"},
        {"{{.label}}", "is not a placeholder"},
        {"{{x.foo}}", "template: character 0: '{{x.foo}}': field 'foo' is not label or score"},
        {"{{x.label.score}}", "field 'label.score' is not label or score"},
        {"{x}} {{", "character 5: '{{' is not closed"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        jn_err_clear(&err);
        JN_CHECK_ERR(jn_template_parse(bad[i].text, strlen(bad[i].text), &t, &err), err, JN_EINVAL);
        JN_CHECK_STR_CONTAINS(err.msg, bad[i].msg);
        JN_CHECK(t.parts == NULL && t.n == 0);
    }
}

/* One call of e with params and inputs; its output `name` (one text), or NULL with err set. */
static char *run_output(jn_engine *e, const jn_params *params, jn_tensor_list *inputs, const char *name, jn_err *err)
{
    jn_infer_ctx ctx = {.model = e->name, .request_id = "", .params = params};
    jn_tensor_list outs;
    jn_tensor_list_init(&outs);
    jn_err_clear(err);
    char *text = NULL;
    if (jn_exec_engine(e, &ctx, inputs, &outs, err) == 0) {
        const jn_tensor *t = jn_tensor_list_find(&outs, name);
        size_t pos = 0;
        const uint8_t *s;
        uint32_t n;
        if (t && jn_bytes_count(t->data, t->byte_size) == 1 && jn_bytes_next(t->data, t->byte_size, &pos, &s, &n))
            text = strndup((const char *)s, n);
    }
    jn_tensor_list_clear(&outs);
    return text;
}

static char *run(jn_engine *e, const jn_params *params, jn_tensor_list *inputs, jn_err *err)
{
    return run_output(e, params, inputs, e->sig.outputs[0].name, err);
}

static void test_direct_call(void)
{
    jn_err err;
    jn_err_clear(&err);
    jn_engine *e = jn_prompt_template_create("prompt-template", NULL, &err);
    JN_REQUIRE(e);
    JN_CHECK_INT_EQ(e->sig.n_inputs, 0);
    JN_CHECK_STR_EQ(e->sig.outputs[0].name, "text");
    JN_CHECK(e->flags & JN_ENGINE_INLINE);
    jn_params p;
    jn_params_init(&p);
    jn_params_set_string(&p, "template", "Hi {{who}}: {{n}} {{i}} {{b}} {{f}} {{big}}");
    jn_params_set_string(&p, "who", "Ann");
    jn_params_set_double(&p, "n", 0.1);
    jn_params_set_int(&p, "i", -42);
    jn_params_set_bool(&p, "b", true);
    jn_params_set_double(&p, "f", 1.0 / 3.0);
    jn_params_set_double(&p, "big", 1e300);
    jn_tensor_list none;
    jn_tensor_list_init(&none);
    char *text = run(e, &p, &none, &err);
    JN_CHECK_STR_EQ(text, "Hi Ann: 0.1 -42 true 0.3333333333333333 1e+300");
    free(text);
    /* the same text as a chat message list, JSON-escaped, after the system message when there is one */
    jn_params_set_string(&p, "who", "\"Ann\"\n");
    text = run_output(e, &p, &none, "messages", &err);
    JN_CHECK_STR_EQ(text, "[{\"role\":\"user\",\"content\":\"Hi \\\"Ann\\\"\\n: 0.1 -42 true 0.3333333333333333 "
                          "1e+300\"}]");
    free(text);
    jn_params_set_string(&p, "system", "Be brief.");
    text = run_output(e, &p, &none, "messages", &err);
    JN_CHECK_STR_CONTAINS(text, "[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\"");
    free(text);
    jn_params_set_int(&p, "system", 1);
    JN_CHECK(!run_output(e, &p, &none, "messages", &err));
    JN_CHECK_STR_EQ(err.msg, "model 'prompt-template': parameter 'system' must be a string");

    jn_params_set_string(&p, "template", "{{who}} and {{nobody}}");
    JN_CHECK(!run(e, &p, &none, &err));
    JN_CHECK_INT_EQ(err.code, JN_EINVAL);
    JN_CHECK_STR_EQ(err.msg, "model 'prompt-template': template: '{{nobody}}' (character 12) names neither an input "
                             "nor a parameter");
    jn_params_set_string(&p, "template", "{{who.label}}");
    JN_CHECK(!run(e, &p, &none, &err));
    JN_CHECK_STR_CONTAINS(err.msg, "'who' is a parameter; .label reads a CLASSIFICATION input");
    jn_params_set_string(&p, "template", "{{who");
    JN_CHECK(!run(e, &p, &none, &err));
    JN_CHECK_STR_CONTAINS(err.msg, "model 'prompt-template': parameter 'template': template: character 0:");
    jn_params_set_int(&p, "template", 3);
    JN_CHECK(!run(e, &p, &none, &err));
    JN_CHECK_STR_EQ(err.msg, "model 'prompt-template': parameter 'template' must be a string");
    jn_params_clear(&p);
    JN_CHECK(!run(e, &p, &none, &err));
    JN_CHECK_STR_CONTAINS(err.msg, "parameter 'template' is missing");
    jn_engine_unref(e);
}

/* "cls": x FP32[-1,3] -> scores CLASSIFICATION [-1,3] (cat, dog, fox): the same values. */
static int cls_infer(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs, jn_tensor_list *outputs,
                     jn_err *err)
{
    (void)self, (void)ctx;
    jn_tensor *out = jn_tensor_share(jn_tensor_list_find(inputs, "x"), "scores", err);
    return !out ? err->code : jn_tensor_list_push(outputs, out) ? jn_err_set(err, JN_ENOMEM, "out of memory") : 0;
}

static const jn_engine_vtable cls_vt = {.abi_version = JN_ENGINE_ABI_VERSION, .platform = "test", .infer = cls_infer};

static jn_registry *registry(void)
{
    jn_err err;
    jn_err_clear(&err);
    jn_registry *reg = jn_registry_create();
    JN_REQUIRE(reg);
    static const char *const labels[] = {"cat", "dog", "fox"};
    const int64_t shape[2] = {-1, 3};
    jn_engine *cls = jn_engine_create(&cls_vt, "cls", "1", NULL, NULL, &err);
    JN_REQUIRE(cls);
    JN_REQUIRE(jn_signature_add_input(&cls->sig, "x", JN_KIND_TENSOR, JN_DTYPE_FP32, 2, shape, &err) == 0);
    JN_REQUIRE(jn_signature_add_output(&cls->sig, "scores", JN_KIND_CLASSIFICATION, JN_DTYPE_FP32, 2, shape, &err) ==
               0);
    JN_REQUIRE(jn_port_set_labels(&cls->sig.outputs[0], labels, 3, &err) == 0);
    JN_REQUIRE(jn_registry_add(reg, cls, &err) == 0);
    jn_engine *pt = jn_prompt_template_create("prompt-template", NULL, &err);
    JN_REQUIRE(pt && jn_registry_add(reg, pt, &err) == 0);
    jn_engine *id = jn_identity_create("identity", NULL, &err);
    JN_REQUIRE(id && jn_registry_add(reg, id, &err) == 0);
    return reg;
}

static jn_engine *compile(jn_registry *reg, const char *json, jn_err *err)
{
    jn_pipeline_spec spec;
    jn_err_clear(err);
    jn_engine *e = NULL;
    if (jn_pipeline_spec_from_json(json, strlen(json), &spec, err) == 0)
        e = jn_pipeline_compile(&spec, reg, err);
    jn_pipeline_spec_free(&spec);
    return e;
}

#define PIPE_HEAD                                                                                                  \
    "{\"name\": \"describe\", \"inputs\": [{\"name\": \"x\", \"kind\": \"TENSOR\", \"datatype\": \"FP32\", "           \
    "\"shape\": [-1, 3]}, {\"name\": \"q\", \"kind\": \"TEXT\", \"datatype\": \"BYTES\", \"shape\": [-1]}, "            \
    "{\"name\": \"n\", \"kind\": \"TENSOR\", \"datatype\": \"INT64\", \"shape\": [1]}], \"steps\": [{\"id\": \"c\", "   \
    "\"model\": \"cls\", \"inputs\": {\"x\": \"x\"}}, {\"id\": \"p\", \"model\": \"prompt-template\", "

static const char *describe_json =
    PIPE_HEAD "\"parameters\": {\"template\": \"Answer in {{lang}}. The photo shows a {{category.label}} "
              "({{category.score}}), {{n}} of them, {{style}}. {{question}}\", \"lang\": \"English\", \"n\": 0}, "
              "\"inputs\": {\"category\": \"c.scores\", \"question\": \"q\", \"n\": \"n\"}}], "
              "\"outputs\": [{\"name\": \"prompt\", \"from\": \"p.text\"}]}";

static void inputs_of(jn_tensor_list *ins, float a, float b, float c, const char *q, int64_t n)
{
    jn_err err;
    const int64_t shape[2] = {1, 3}, one[1] = {1};
    jn_tensor_list_init(ins);
    jn_tensor *x = jn_tensor_create("x", JN_DTYPE_FP32, 2, shape, &err);
    JN_REQUIRE(x);
    float *d = x->data;
    d[0] = a, d[1] = b, d[2] = c;
    size_t len = strlen(q);
    jn_tensor *qt = jn_tensor_from_strings("q", 1, one, &q, &len, 1, &err);
    jn_tensor *nt = jn_tensor_create("n", JN_DTYPE_INT64, 1, one, &err);
    JN_REQUIRE(qt && nt);
    *(int64_t *)nt->data = n;
    JN_REQUIRE(!jn_tensor_list_push(ins, x) && !jn_tensor_list_push(ins, qt) && !jn_tensor_list_push(ins, nt));
}

static void test_pipeline_step(void)
{
    jn_err err;
    jn_registry *reg = registry();
    jn_engine *e = compile(reg, describe_json, &err);
    if (!e)
        fprintf(stderr, "compile: %s\n", err.msg);
    JN_REQUIRE(e);
    jn_tensor_list ins;
    inputs_of(&ins, 0.1f, 0.75f, 0.15f, "Is it friendly?", 3);
    jn_params p;
    jn_params_init(&p);
    jn_params_set_string(&p, "style", "briefly"); /* a name only the call gives */
    jn_params_set_string(&p, "lang", "French");   /* the step's own parameter wins over the call's */
    char *text = run(e, &p, &ins, &err);
    if (!text)
        fprintf(stderr, "run: %s\n", err.msg);
    /* the input 'n' (3) is read, not the step's parameter 'n' (0): inputs come first */
    JN_CHECK_STR_EQ(text, "Answer in English. The photo shows a dog (0.75), 3 of them, briefly. Is it friendly?");
    free(text);
    jn_params_clear(&p);
    JN_CHECK(!run(e, &p, &ins, &err)); /* without the call's 'style' */
    JN_CHECK_INT_EQ(err.code, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "pipeline 'describe': step 'p' (model 'prompt-template'): model 'prompt-template': "
                                   "template: '{{style}}'");
    jn_tensor_list_clear(&ins);

    /* FP32 scores in their shortest form */
    inputs_of(&ins, 0.0f, 0.0f, 0.9998346f, "?", 1);
    jn_params_set_string(&p, "style", "-");
    text = run(e, &p, &ins, &err);
    JN_CHECK_STR_CONTAINS(text, "shows a fox (0.9998346), 1 of them");
    free(text);
    jn_tensor_list_clear(&ins);
    jn_params_clear(&p);

    /* the spec keeps the step's parameters (written back as given) */
    char *json = jn_pipeline_spec_to_json(jn_pipeline_spec_of(e), false);
    JN_CHECK_STR_CONTAINS(json, "\"parameters\":{\"template\":\"Answer in {{lang}}.");
    JN_CHECK_STR_CONTAINS(json, "\"lang\":\"English\",\"n\":0}");
    jn_pipeline_spec again;
    JN_CHECK_ERR(jn_pipeline_spec_from_json(json, strlen(json), &again, &err), err, 0);
    JN_CHECK_STR_EQ(again.steps[1].params, jn_pipeline_spec_of(e)->steps[1].params);
    jn_pipeline_spec_free(&again);
    free(json);
    /* the step's engine is its own: typed from the sources (labels kept) */
    char *plan = jn_pipeline_plan_text(e);
    JN_CHECK_STR_CONTAINS(plan, "category <- c.scores");
    free(plan);
    jn_engine_unref(e);
    jn_registry_destroy(reg);
}

static void test_pipeline_refusals(void)
{
    jn_err err;
    jn_registry *reg = registry();
    struct {
        const char *json, *msg;
    } bad[] = {
        {PIPE_HEAD "\"parameters\": {\"template\": \"{{question}}\"}, \"inputs\": {\"category\": \"c.scores\", "
                   "\"question\": \"q\"}}], \"outputs\": [{\"name\": \"o\", \"from\": \"p.text\"}]}",
         "pipeline 'describe': step 'p': input 'category' is bound, but the template never reads it ({{category}})"},
        {PIPE_HEAD "\"parameters\": {\"template\": \"{{question.score}} {{category}}\"}, \"inputs\": {\"category\": "
                   "\"c.scores\", \"question\": \"q\"}}], \"outputs\": [{\"name\": \"o\", \"from\": \"p.text\"}]}",
         "pipeline 'describe': step 'p': template: input 'question' is TEXT; .label and .score read a CLASSIFICATION"},
        {PIPE_HEAD "\"parameters\": {\"template\": \"{{category\"}, \"inputs\": {\"category\": \"c.scores\"}}], "
                   "\"outputs\": [{\"name\": \"o\", \"from\": \"p.text\"}]}",
         "pipeline 'describe': step 'p': parameter 'template': template: character 0: '{{' is not closed"},
        {PIPE_HEAD "\"parameters\": {\"template\": 7}, \"inputs\": {\"question\": \"q\"}}], "
                   "\"outputs\": [{\"name\": \"o\", \"from\": \"p.text\"}]}",
         "pipeline 'describe': step 'p': parameter 'template' must be a string"},
        {PIPE_HEAD "\"parameters\": {\"template\": \"{{question}}\", \"deep\": [1]}, \"inputs\": {\"question\": "
                   "\"q\"}}], \"outputs\": [{\"name\": \"o\", \"from\": \"p.text\"}]}",
         "steps[1].parameters.deep: expected a string, a number or a boolean, got an array"},
        {PIPE_HEAD "\"parameters\": {\"template\": \"{{question}}\"}, \"inputs\": {\"question\": \"nope\"}}], "
                   "\"outputs\": [{\"name\": \"o\", \"from\": \"p.text\"}]}",
         "step 'p': input 'question' comes from 'nope', which is neither a pipeline input nor a step output"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        jn_engine *e = compile(reg, bad[i].json, &err);
        JN_CHECK(!e);
        JN_CHECK_INT_EQ(err.code, JN_EINVAL);
        JN_CHECK_STR_CONTAINS(err.msg, bad[i].msg);
        jn_engine_unref(e);
    }
    /* an input of a kind a template cannot read: a step binding identity's FP32[-1,-1] is fine (TENSOR), an IMAGE
     * is not */
    const char *img = "{\"name\": \"i\", \"inputs\": [{\"name\": \"im\", \"kind\": \"IMAGE\", \"datatype\": \"BYTES\", "
                      "\"shape\": [-1]}], \"steps\": [{\"id\": \"p\", \"model\": \"prompt-template\", \"parameters\": "
                      "{\"template\": \"{{im}}\"}, \"inputs\": {\"im\": \"im\"}}], \"outputs\": [{\"name\": \"o\", "
                      "\"from\": \"p.text\"}]}";
    JN_CHECK(!compile(reg, img, &err));
    JN_CHECK_STR_CONTAINS(err.msg, "pipeline 'i': step 'p': input 'im' is IMAGE BYTES; a template reads TEXT, "
                                   "CLASSIFICATION and numeric TENSOR inputs");
    /* a step whose template comes only from the call: the inputs are typed from their sources, checked at run time */
    const char *late = PIPE_HEAD "\"inputs\": {\"category\": \"c.scores\"}}], \"outputs\": [{\"name\": \"o\", "
                                 "\"from\": \"p.text\"}]}";
    jn_engine *e = compile(reg, late, &err);
    JN_CHECK(e == NULL); /* q and n are declared but unused: the compiler's own rule */
    JN_CHECK_STR_CONTAINS(err.msg, "input 'q' is not used by any step");
    jn_registry_destroy(reg);
}

int main(void)
{
    JN_TEST_RUN(test_parse);
    JN_TEST_RUN(test_direct_call);
    JN_TEST_RUN(test_pipeline_step);
    JN_TEST_RUN(test_pipeline_refusals);
    return JN_TEST_EXIT();
}
