/* Unit tests for broker/core/pipeline/json.c (the JSON form of a pipeline spec) and pipeline/load.c (a directory of
 * them, all or nothing). The compiler itself is tested elsewhere: here it only has to accept good pipelines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builtin.h"
#include "pipeline.h"
#include "test.h"

/* The example of issue #3's shape, with every optional field used once. */
static const char example[] =
    "{\n"
    "  \"name\": \"digits\",\n"
    "  \"description\": \"scale, classify, label\",\n"
    "  \"inputs\": [\n"
    "    {\"name\": \"image\", \"kind\": \"IMAGE_TENSOR\", \"datatype\": \"UINT8\", \"shape\": [-1, 28, 28]},\n"
    "    {\"name\": \"prior\", \"kind\": \"CLASSIFICATION\", \"datatype\": \"FP32\", \"shape\": [-1, 3],\n"
    "     \"labels\": [\"zero\", \"one\", \"two\"]}\n"
    "  ],\n"
    "  \"steps\": [\n"
    "    {\"id\": \"norm\", \"model\": \"scaler\", \"version\": \"2\",\n"
    "     \"inputs\": {\"input\": {\"from\": \"image\", \"cast\": \"FP32\", \"scale\": 0.00392156862745098,\n"
    "                             \"offset\": -0.5}}},\n"
    "    {\"id\": \"clf\", \"model\": \"mnist\", \"inputs\": {\"image\": \"norm.output\", \"prior\": \"prior\"}},\n"
    "    {\"id\": \"lab\", \"model\": \"top1\", \"inputs\": {\"scores\": {\"from\": \"clf.scores\", \"scale\": 2}}}\n"
    "  ],\n"
    "  \"outputs\": [{\"name\": \"label\", \"from\": \"lab.label\"}, {\"name\": \"scores\", \"from\": \"clf.scores\"}]\n"
    "}\n";

static int parse(const char *text, jn_pipeline_spec *spec, jn_err *err)
{
    jn_err_clear(err);
    return jn_pipeline_spec_from_json(text, strlen(text), spec, err);
}

static void test_example_parses(void)
{
    jn_pipeline_spec s;
    jn_err err;
    int rc = parse(example, &s, &err);
    JN_CHECK_ERR(rc, err, 0);
    JN_REQUIRE(rc == 0);
    JN_CHECK_STR_EQ(s.name, "digits");
    JN_CHECK_STR_EQ(s.description, "scale, classify, label");

    JN_REQUIRE(s.inputs.n_inputs == 2);
    const jn_port *im = &s.inputs.inputs[0];
    JN_CHECK_STR_EQ(im->name, "image");
    JN_CHECK_INT_EQ(im->kind, JN_KIND_IMAGE_TENSOR);
    JN_CHECK_INT_EQ(im->dtype, JN_DTYPE_UINT8);
    JN_CHECK_INT_EQ(im->ndim, 3);
    JN_CHECK_INT_EQ(im->shape[0], -1);
    JN_CHECK_INT_EQ(im->shape[1], 28);
    JN_CHECK_INT_EQ(im->shape[2], 28);
    JN_CHECK_INT_EQ(im->n_labels, 0);
    const jn_port *pr = &s.inputs.inputs[1];
    JN_CHECK_INT_EQ(pr->kind, JN_KIND_CLASSIFICATION);
    JN_REQUIRE(pr->n_labels == 3);
    JN_CHECK_STR_EQ(pr->labels[0], "zero");
    JN_CHECK_STR_EQ(pr->labels[2], "two");

    JN_REQUIRE(s.n_steps == 3);
    const jn_step_spec *norm = &s.steps[0];
    JN_CHECK_STR_EQ(norm->id, "norm");
    JN_CHECK_STR_EQ(norm->model, "scaler");
    JN_CHECK_STR_EQ(norm->version, "2");
    JN_REQUIRE(norm->n_inputs == 1);
    JN_CHECK_STR_EQ(norm->inputs[0].port, "input");
    JN_CHECK_STR_EQ(norm->inputs[0].from, "image");
    JN_CHECK_INT_EQ(norm->inputs[0].cast, JN_DTYPE_FP32);
    JN_CHECK(norm->inputs[0].has_scale);
    JN_CHECK_DBL_EQ(norm->inputs[0].scale, 0.00392156862745098);
    JN_CHECK_DBL_EQ(norm->inputs[0].offset, -0.5);

    const jn_step_spec *clf = &s.steps[1];
    JN_CHECK_STR_EQ(clf->version, ""); /* absent = current */
    JN_REQUIRE(clf->n_inputs == 2);
    /* Bindings keep the file's order. */
    JN_CHECK_STR_EQ(clf->inputs[0].port, "image");
    JN_CHECK_STR_EQ(clf->inputs[0].from, "norm.output");
    JN_CHECK_INT_EQ(clf->inputs[0].cast, JN_DTYPE_INVALID);
    JN_CHECK(!clf->inputs[0].has_scale);
    JN_CHECK_DBL_EQ(clf->inputs[0].scale, 1.0);
    JN_CHECK_DBL_EQ(clf->inputs[0].offset, 0.0);
    JN_CHECK_STR_EQ(clf->inputs[1].port, "prior");
    JN_CHECK_STR_EQ(clf->inputs[1].from, "prior");

    const jn_binding *lab = &s.steps[2].inputs[0];
    JN_CHECK_INT_EQ(lab->cast, JN_DTYPE_INVALID);
    JN_CHECK(lab->has_scale);
    JN_CHECK_DBL_EQ(lab->scale, 2.0); /* an integer is a number too */

    JN_REQUIRE(s.n_outputs == 2);
    JN_CHECK_STR_EQ(s.outputs[0].name, "label");
    JN_CHECK_STR_EQ(s.outputs[0].from, "lab.label");
    JN_CHECK_STR_EQ(s.outputs[1].name, "scores");
    jn_pipeline_spec_free(&s);

    /* Minimal: no description, an empty shape (a scalar), a step without inputs. */
    rc = parse("{\"name\":\"m\",\"inputs\":[{\"name\":\"x\",\"kind\":\"TENSOR\",\"datatype\":\"INT64\",\"shape\":[]}],"
               "\"steps\":[{\"id\":\"a\",\"model\":\"clock\",\"inputs\":{}}],"
               "\"outputs\":[{\"name\":\"t\",\"from\":\"a.t\"}]}",
               &s, &err);
    JN_CHECK_ERR(rc, err, 0);
    JN_CHECK(s.description == NULL);
    JN_CHECK_INT_EQ(s.inputs.inputs[0].ndim, 0);
    JN_CHECK_INT_EQ(s.steps[0].n_inputs, 0);
    jn_pipeline_spec_free(&s);
}

static void check_same(const jn_pipeline_spec *a, const jn_pipeline_spec *b)
{
    JN_CHECK_STR_EQ(a->name, b->name);
    JN_CHECK((a->description == NULL) == (b->description == NULL));
    if (a->description && b->description)
        JN_CHECK_STR_EQ(a->description, b->description);
    JN_REQUIRE(a->inputs.n_inputs == b->inputs.n_inputs);
    for (size_t i = 0; i < a->inputs.n_inputs; i++) {
        const jn_port *p = &a->inputs.inputs[i], *q = &b->inputs.inputs[i];
        JN_CHECK_STR_EQ(p->name, q->name);
        JN_CHECK_INT_EQ(p->kind, q->kind);
        JN_CHECK_INT_EQ(p->dtype, q->dtype);
        JN_REQUIRE(p->ndim == q->ndim);
        for (int d = 0; d < p->ndim; d++)
            JN_CHECK_INT_EQ(p->shape[d], q->shape[d]);
        JN_REQUIRE(p->n_labels == q->n_labels);
        for (size_t k = 0; k < p->n_labels; k++)
            JN_CHECK_STR_EQ(p->labels[k], q->labels[k]);
    }
    JN_REQUIRE(a->n_steps == b->n_steps);
    for (size_t i = 0; i < a->n_steps; i++) {
        const jn_step_spec *s = &a->steps[i], *t = &b->steps[i];
        JN_CHECK_STR_EQ(s->id, t->id);
        JN_CHECK_STR_EQ(s->model, t->model);
        JN_CHECK_STR_EQ(s->version, t->version);
        JN_REQUIRE(s->n_inputs == t->n_inputs);
        for (size_t k = 0; k < s->n_inputs; k++) {
            JN_CHECK_STR_EQ(s->inputs[k].port, t->inputs[k].port);
            JN_CHECK_STR_EQ(s->inputs[k].from, t->inputs[k].from);
            JN_CHECK_INT_EQ(s->inputs[k].cast, t->inputs[k].cast);
            JN_CHECK_INT_EQ(s->inputs[k].has_scale, t->inputs[k].has_scale);
            JN_CHECK_DBL_EQ(s->inputs[k].scale, t->inputs[k].scale);
            JN_CHECK_DBL_EQ(s->inputs[k].offset, t->inputs[k].offset);
        }
    }
    JN_REQUIRE(a->n_outputs == b->n_outputs);
    for (size_t i = 0; i < a->n_outputs; i++) {
        JN_CHECK_STR_EQ(a->outputs[i].name, b->outputs[i].name);
        JN_CHECK_STR_EQ(a->outputs[i].from, b->outputs[i].from);
    }
}

/* Positions of the needles in order: each must come after the previous one. */
static void check_order(const char *text, const char *const *needles, size_t n)
{
    const char *at = text;
    for (size_t i = 0; i < n; i++) {
        const char *next = strstr(at, needles[i]);
        JN_CHECK_STR_CONTAINS(at, needles[i]);
        if (!next)
            return;
        at = next + strlen(needles[i]);
    }
}

static void test_round_trip(void)
{
    jn_pipeline_spec a, b;
    jn_err err;
    JN_REQUIRE(parse(example, &a, &err) == 0);
    for (int pretty = 0; pretty <= 1; pretty++) {
        char *text = jn_pipeline_spec_to_json(&a, pretty);
        JN_REQUIRE(text);
        int rc = parse(text, &b, &err);
        JN_CHECK_ERR(rc, err, 0);
        JN_REQUIRE(rc == 0);
        check_same(&a, &b);
        char *again = jn_pipeline_spec_to_json(&b, pretty);
        JN_CHECK_STR_EQ(again, text); /* a fixed point */
        jn_pipeline_spec_free(&b);
        if (pretty) {
            JN_CHECK_STR_CONTAINS(text, "\n  \"name\": \"digits\"");
            /* Bindings without a conversion are plain strings; version only when given; numbers short. */
            JN_CHECK_STR_CONTAINS(text, "\"image\": \"norm.output\"");
            JN_CHECK_STR_CONTAINS(text, "\"version\": \"2\"");
            JN_CHECK_STR_CONTAINS(text, "\"offset\": -0.5");
            JN_CHECK_STR_CONTAINS(text, "\"scale\": 0.00392156862745098");
            JN_CHECK(strstr(text, "\"version\": \"\"") == NULL);
            /* Arrays of scalars on one line. */
            JN_CHECK_STR_CONTAINS(text, "\"shape\": [-1, 28, 28]");
            JN_CHECK_STR_CONTAINS(text, "\"labels\": [\"zero\", \"one\", \"two\"]");
            static const char *const keys[] = {"\"name\"", "\"description\"", "\"inputs\"", "\"steps\"",
                                               "\"outputs\""};
            check_order(text, keys, 5);
            static const char *const input_keys[] = {"\"name\": \"prior\"", "\"kind\"", "\"datatype\"",
                                                     "\"shape\"", "\"labels\""};
            check_order(text, input_keys, 5);
            static const char *const step_keys[] = {"\"id\": \"norm\"", "\"model\"", "\"version\"", "\"inputs\"",
                                                    "\"from\"", "\"cast\"", "\"scale\"", "\"offset\""};
            check_order(text, step_keys, 8);
        } else {
            JN_CHECK(strchr(text, '\n') == NULL);
            JN_CHECK_STR_CONTAINS(text, "{\"name\":\"digits\",\"description\":");
        }
        free(text);
        free(again);
    }
    jn_pipeline_spec_free(&a);

    /* Strings that look like JSON formatting survive the pretty printer's array inlining. */
    static const char tricky[] =
        "{\"name\":\"t\",\"description\":\"[1,\\n 2] \\\" ,\","
        "\"inputs\":[{\"name\":\"x\",\"kind\":\"CLASSIFICATION\",\"datatype\":\"FP32\",\"shape\":[],"
        "\"labels\":[\"a, ]\\\"\\n[\", \" \", \"\\\\\"]}],\"steps\":[],\"outputs\":[]}";
    JN_REQUIRE(parse(tricky, &a, &err) == 0);
    JN_CHECK_STR_EQ(a.description, "[1,\n 2] \" ,");
    JN_REQUIRE(a.inputs.inputs[0].n_labels == 3);
    JN_CHECK_STR_EQ(a.inputs.inputs[0].labels[0], "a, ]\"\n[");
    JN_CHECK_STR_EQ(a.inputs.inputs[0].labels[2], "\\");
    char *pretty_text = jn_pipeline_spec_to_json(&a, true);
    JN_REQUIRE(pretty_text);
    JN_CHECK_STR_CONTAINS(pretty_text, "\"labels\": [\"a, ]\\\"\\n[\", \" \", \"\\\\\"]");
    JN_CHECK_STR_CONTAINS(pretty_text, "\"shape\": []");
    JN_CHECK_ERR(parse(pretty_text, &b, &err), err, 0);
    check_same(&a, &b);
    jn_pipeline_spec_free(&b);
    free(pretty_text);
    jn_pipeline_spec_free(&a);

    /* A spec built in code (as PutPipeline's is) writes out what a file would say. */
    jn_pipeline_spec s;
    jn_pipeline_spec_init(&s);
    JN_REQUIRE(jn_pipeline_spec_set_name(&s, "p", NULL) == 0);
    const int64_t shape[2] = {-1, 4};
    JN_REQUIRE(jn_signature_add_input(&s.inputs, "x", JN_KIND_TENSOR, JN_DTYPE_FP16, 2, shape, &err) == 0);
    jn_step_spec *st = jn_pipeline_spec_add_step(&s, "a", "identity", NULL);
    JN_REQUIRE(st);
    jn_binding *bd = jn_step_spec_bind(st, "input", "x");
    JN_REQUIRE(bd);
    bd->cast = JN_DTYPE_FP32;
    bd->offset = 0.1;
    JN_REQUIRE(jn_pipeline_spec_add_output(&s, "y", "a.output") == 0);
    char *text = jn_pipeline_spec_to_json(&s, false);
    JN_CHECK_STR_EQ(text, "{\"name\":\"p\",\"inputs\":[{\"name\":\"x\",\"kind\":\"TENSOR\",\"datatype\":\"FP16\","
                          "\"shape\":[-1,4]}],\"steps\":[{\"id\":\"a\",\"model\":\"identity\",\"inputs\":{\"input\":"
                          "{\"from\":\"x\",\"cast\":\"FP32\",\"offset\":0.1}}}],\"outputs\":[{\"name\":\"y\","
                          "\"from\":\"a.output\"}]}");
    JN_CHECK_ERR(parse(text, &b, &err), err, 0);
    check_same(&s, &b);
    jn_pipeline_spec_free(&b);
    free(text);
    jn_pipeline_spec_free(&s);
}

typedef struct bad_case {
    const char *json;
    const char *message; /* a substring of the error */
} bad_case;

#define HEAD "{\"name\":\"p\","
#define IN_X "\"inputs\":[{\"name\":\"x\",\"kind\":\"TENSOR\",\"datatype\":\"FP32\",\"shape\":[-1]}],"
#define OUT_Y "\"outputs\":[{\"name\":\"y\",\"from\":\"a.output\"}]"
#define STEP_A "{\"id\":\"a\",\"model\":\"identity\",\"inputs\":{\"input\":\"x\"}}"
/* A pipeline whose one input is `in` (without braces) and whose steps are `steps`. */
#define WITH_INPUT(in) HEAD "\"inputs\":[{" in "}],\"steps\":[" STEP_A "]," OUT_Y "}"
#define WITH_STEPS(steps) HEAD IN_X "\"steps\":[" steps "]," OUT_Y "}"
#define WITH_BINDING(b) WITH_STEPS(STEP_A ",{\"id\":\"b\",\"model\":\"identity\",\"inputs\":{\"input\":" b "}}")
#define WITH_WHEN(w) WITH_STEPS("{\"id\":\"a\",\"model\":\"identity\",\"inputs\":{\"input\":\"x\"},\"when\":" w "}")
#define LEAF1 "{\"from\":\"x\",\"above\":1}"
#define LEAF4 LEAF1 "," LEAF1 "," LEAF1 "," LEAF1
#define WITH_OUTPUTS(outs) HEAD IN_X "\"steps\":[" STEP_A "],\"outputs\":[" outs "]}"
#define X_FIELDS "\"name\":\"x\",\"kind\":\"TENSOR\""

static const bad_case bad_cases[] = {
    /* syntax, as jansson says it, with line and column */
    {"{\"name\": \"p\",\n  \"inputs\": [,]\n}", "pipeline JSON: line 2, column 14: "},
    {"", "pipeline JSON: line 1, column 0: "},
    {"{\"name\":\"p\"} trailing", "pipeline JSON: line 1, column 21: end of file expected"},
    {"{\"name\":\"p\",\"name\":\"q\"}", "duplicate object key"},
    /* a step input bound twice is a duplicate key */
    {WITH_STEPS("{\"id\":\"a\",\"model\":\"m\",\n\"inputs\":{\"input\":\"x\",\"input\":\"x\"}}"),
     "pipeline JSON: line 2, column "},
    {"[1, 2]", "pipeline JSON: expected an object at the top level, got an array"},
    /* top level */
    {"{\"inputs\":[],\"steps\":[],\"outputs\":[]}", "pipeline JSON: missing 'name'"},
    {"{\"name\":\"\",\"inputs\":[],\"steps\":[],\"outputs\":[]}", "name: must not be empty"},
    {"{\"name\":7,\"inputs\":[],\"steps\":[],\"outputs\":[]}", "name: expected a string, got an integer"},
    {"{\"name\":\"p\",\"description\":null,\"inputs\":[],\"steps\":[],\"outputs\":[]}",
     "description: expected a string, got null"},
    {"{\"name\":\"p\",\"steps\":[],\"outputs\":[]}", "pipeline JSON: missing 'inputs'"},
    {"{\"name\":\"p\",\"inputs\":[],\"outputs\":[]}", "pipeline JSON: missing 'steps'"},
    {"{\"name\":\"p\",\"inputs\":[],\"steps\":[]}", "pipeline JSON: missing 'outputs'"},
    {"{\"name\":\"p\",\"inputs\":{},\"steps\":[],\"outputs\":[]}", "inputs: expected an array, got an object"},
    {"{\"name\":\"p\",\"inputs\":[],\"steps\":[],\"outputs\":[],\"stpes\":[]}", "pipeline JSON: unknown field 'stpes'"},
    /* inputs */
    {HEAD "\"inputs\":[3],\"steps\":[],\"outputs\":[]}", "inputs[0]: expected an object, got an integer"},
    {WITH_INPUT("\"kind\":\"TENSOR\",\"datatype\":\"FP32\",\"shape\":[-1]"), "inputs[0]: missing 'name'"},
    {WITH_INPUT("\"name\":\"\",\"kind\":\"TENSOR\",\"datatype\":\"FP32\",\"shape\":[-1]"),
     "inputs[0].name: must not be empty"},
    {WITH_INPUT(X_FIELDS ",\"datatype\":\"FP33\",\"shape\":[-1]"), "inputs[0].datatype: unknown datatype 'FP33'"},
    {WITH_INPUT(X_FIELDS ",\"datatype\":\"fp32\",\"shape\":[-1]"), "inputs[0].datatype: unknown datatype 'fp32'"},
    {WITH_INPUT(X_FIELDS ",\"datatype\":\"INVALID\",\"shape\":[-1]"),
     "inputs[0].datatype: unknown datatype 'INVALID'"},
    {WITH_INPUT("\"name\":\"x\",\"kind\":\"TENSR\",\"datatype\":\"FP32\",\"shape\":[-1]"),
     "inputs[0].kind: unknown kind 'TENSR'"},
    {WITH_INPUT("\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[-1]"), "inputs[0]: missing 'kind'"},
    {WITH_INPUT(X_FIELDS ",\"shape\":[-1]"), "inputs[0]: missing 'datatype'"},
    {WITH_INPUT(X_FIELDS ",\"datatype\":\"FP32\""), "inputs[0]: missing 'shape'"},
    {WITH_INPUT("\"name\":\"x\",\"kind\":\"TEXT\",\"datatype\":\"FP32\",\"shape\":[-1]"),
     "inputs[0].datatype: kind TEXT needs datatype BYTES, got FP32"},
    {WITH_INPUT(X_FIELDS ",\"datatype\":\"FP32\",\"shape\":[-1,-2]"),
     "inputs[0].shape[1]: dimension -2 is not allowed (use -1 for any size)"},
    {WITH_INPUT(X_FIELDS ",\"datatype\":\"FP32\",\"shape\":[2.5]"),
     "inputs[0].shape[0]: expected an integer (-1 = any size), got a number"},
    {WITH_INPUT(X_FIELDS ",\"datatype\":\"FP32\",\"shape\":\"-1\""),
     "inputs[0].shape: expected an array, got a string"},
    {WITH_INPUT(X_FIELDS ",\"datatype\":\"FP32\",\"shape\":[1,1,1,1,1,1,1,1,1]"),
     "inputs[0].shape: rank 9 is more than 8"},
    {WITH_INPUT(X_FIELDS ",\"datatype\":\"FP32\",\"shape\":[-1],\"labels\":\"a\""),
     "inputs[0].labels: expected an array of strings, got a string"},
    {WITH_INPUT(X_FIELDS ",\"datatype\":\"FP32\",\"shape\":[-1],\"labels\":[\"a\",1]"),
     "inputs[0].labels[1]: expected a string, got an integer"},
    {WITH_INPUT(X_FIELDS ",\"datatype\":\"FP32\",\"shape\":[-1],\"description\":\"d\""),
     "inputs[0]: unknown field 'description'"},
    {HEAD "\"inputs\":[{" X_FIELDS ",\"datatype\":\"FP32\",\"shape\":[]},{" X_FIELDS
          ",\"datatype\":\"FP64\",\"shape\":[]}],\"steps\":[" STEP_A "]," OUT_Y "}",
     "inputs[1].name: input 'x' is declared twice"},
    /* steps */
    {WITH_STEPS("\"a\""), "steps[0]: expected an object, got a string"},
    {WITH_STEPS("{\"id\":\"a\",\"inputs\":{}}"), "steps[0]: missing 'model'"},
    {WITH_STEPS("{\"id\":\"a\",\"modle\":\"identity\",\"inputs\":{}}"), "steps[0]: unknown field 'modle'"},
    {WITH_STEPS("{\"model\":\"identity\",\"inputs\":{}}"), "steps[0]: missing 'id'"},
    {WITH_STEPS("{\"id\":\"\",\"model\":\"identity\",\"inputs\":{}}"), "steps[0].id: must not be empty"},
    {WITH_STEPS("{\"id\":\"a\",\"model\":\"\",\"inputs\":{}}"), "steps[0].model: must not be empty"},
    {WITH_STEPS("{\"id\":\"a\",\"model\":\"m\",\"version\":2,\"inputs\":{}}"),
     "steps[0].version: expected a string, got an integer"},
    {WITH_STEPS("{\"id\":\"a\",\"model\":\"m\"}"), "steps[0]: missing 'inputs'"},
    {WITH_STEPS("{\"id\":\"a\",\"model\":\"m\",\"inputs\":[\"x\"]}"),
     "steps[0].inputs: expected an object (engine input -> source), got an array"},
    {WITH_STEPS("{\"id\":\"a\",\"model\":\"m\",\"inputs\":{\"\":\"x\"}}"), "steps[0].inputs: an input name is empty"},
    /* bindings */
    {WITH_BINDING("[\"a.output\"]"), "steps[1].inputs.input: expected a string or an object, got an array"},
    {WITH_BINDING("3"), "steps[1].inputs.input: expected a string or an object, got an integer"},
    {WITH_BINDING("{\"cast\":\"FP32\"}"), "steps[1].inputs.input: missing 'from'"},
    {WITH_BINDING("{\"from\":1}"), "steps[1].inputs.input.from: expected a string, got an integer"},
    {WITH_BINDING("{\"from\":\"a.output\",\"cast\":\"FLOAT\"}"),
     "steps[1].inputs.input.cast: unknown datatype 'FLOAT'"},
    {WITH_BINDING("{\"from\":\"a.output\",\"cast\":32}"),
     "steps[1].inputs.input.cast: expected a string, got an integer"},
    {WITH_BINDING("{\"from\":\"a.output\",\"scale\":\"2\"}"),
     "steps[1].inputs.input.scale: expected a number, got a string"},
    {WITH_BINDING("{\"from\":\"a.output\",\"scale\":0}"), "steps[1].inputs.input.scale: must not be 0"},
    {WITH_BINDING("{\"from\":\"a.output\",\"offset\":true}"),
     "steps[1].inputs.input.offset: expected a number, got a boolean"},
    {WITH_BINDING("{\"from\":\"a.output\",\"shift\":1}"), "steps[1].inputs.input: unknown field 'shift'"},
    /* model@version (issue #20) */
    {WITH_STEPS("{\"id\":\"a\",\"model\":\"identity@\",\"inputs\":{\"input\":\"x\"}}"),
     "steps[0].model: 'identity@': expected model@version"},
    {WITH_STEPS("{\"id\":\"a\",\"model\":\"@2\",\"inputs\":{\"input\":\"x\"}}"), "steps[0].model: '@2': expected model@version"},
    {WITH_STEPS("{\"id\":\"a\",\"model\":\"identity@2\",\"version\":\"2\",\"inputs\":{\"input\":\"x\"}}"),
     "steps[0].model: 'identity@2' names a version and so does 'version'; give it once"},
    /* conditions (issue #20): shape checked here, ports by the compiler */
    {WITH_WHEN("\"spam\""), "steps[0].when: expected a condition (an object), got a string"},
    {WITH_WHEN("{\"from\":\"x\",\"lable\":[\"spam\"]}"), "steps[0].when: unknown field 'lable'"},
    {WITH_WHEN("{\"label\":[\"spam\"]}"), "steps[0].when: missing 'from'"},
    {WITH_WHEN("{\"from\":\"\",\"above\":1}"), "steps[0].when: from: expected a non-empty string, got an empty string"},
    {WITH_WHEN("{\"from\":\"x\"}"), "steps[0].when: tests nothing"},
    {WITH_WHEN("{\"from\":\"x\",\"label\":[\"spam\"],\"above\":1}"), "steps[0].when: mixes tests of different kinds"},
    {WITH_WHEN("{\"from\":\"x\",\"label\":\"spam\"}"),
     "steps[0].when.label: expected a non-empty array of strings, got a string"},
    {WITH_WHEN("{\"from\":\"x\",\"label\":[]}"), "steps[0].when.label: expected a non-empty array of strings, got an empty array"},
    {WITH_WHEN("{\"from\":\"x\",\"label\":[\"a\",2]}"), "steps[0].when.label[1]: expected a string, got an integer"},
    {WITH_WHEN("{\"from\":\"x\",\"score_above\":\"0.9\"}"), "steps[0].when: score_above: expected a number, got a string"},
    {WITH_WHEN("{\"from\":\"x\",\"score_above\":0.9,\"score_below\":0.5}"),
     "steps[0].when: score_above 0.9 and score_below 0.5: no score is both"},
    {WITH_WHEN("{\"from\":\"x\",\"matches\":\"(spam\"}"), "steps[0].when.matches: '(spam' is not a POSIX extended regex"},
    {WITH_WHEN("{\"from\":\"x\",\"matches\":3}"), "steps[0].when.matches: expected a string (a POSIX extended regex), got an integer"},
    {WITH_WHEN("{\"from\":\"x\",\"equals\":[\"a\"],\"matches\":\"b\"}"), "steps[0].when: give 'equals' or 'matches', not both"},
    {WITH_WHEN("{\"all\":[]}"), "steps[0].when.all: expected a non-empty array of conditions, got an empty array"},
    {WITH_WHEN("{\"any\":{\"from\":\"x\",\"above\":1}}"), "steps[0].when.any: expected a non-empty array of conditions, got an object"},
    {WITH_WHEN("{\"not\":[{\"from\":\"x\",\"above\":1}]}"), "steps[0].when.not: expected a condition (an object), got an array"},
    {WITH_WHEN("{\"all\":[{\"from\":\"x\",\"above\":1}],\"from\":\"x\"}"), "steps[0].when: 'all' stands alone"},
    {WITH_WHEN("{\"any\":[{\"from\":\"x\",\"above\":1},{\"not\":{\"below\":2}}]}"), "steps[0].when.any[1].not: missing 'from'"},
    {WITH_WHEN("{\"not\":{\"not\":{\"not\":{\"not\":{\"not\":{\"not\":{\"not\":{\"not\":{\"from\":\"x\",\"above\":1}}}}}}}}}"),
     "conditions nest more than 8 deep"},
    {WITH_WHEN("{\"any\":[" LEAF4 "," LEAF4 "," LEAF4 "," LEAF4 "," LEAF4 "]}"), "steps[0].when: 20 tests; a condition holds at most 16"},
    /* outputs */
    {WITH_OUTPUTS("\"a.output\""), "outputs[0]: expected an object, got a string"},
    /* several sources are an array of strings (issue #20) */
    {WITH_OUTPUTS("{\"name\":\"y\",\"from\":[\"a.output\", 1]}"),
     "outputs[0].from[1]: expected a string ('step.port'), got an integer"},
    {WITH_OUTPUTS("{\"name\":\"y\",\"from\":[]}"),
     "outputs[0].from: expected one source or a non-empty array of sources, got an empty array"},
    {WITH_OUTPUTS("{\"name\":\"y\",\"from\":{}}"), "outputs[0].from: expected a string or an array of strings, got an object"},
    {WITH_OUTPUTS("{\"name\":\"y\",\"from\":\"a.output\",\"optional\":1}"),
     "outputs[0].optional: expected a boolean, got an integer"},
    {WITH_OUTPUTS("{\"name\":\"y\"}"), "outputs[0]: missing 'from'"},
    {WITH_OUTPUTS("{\"from\":\"a.output\"}"), "outputs[0]: missing 'name'"},
    {WITH_OUTPUTS("{\"name\":\"\",\"from\":\"a.output\"}"), "outputs[0].name: must not be empty"},
    {WITH_OUTPUTS("{\"name\":\"y\",\"from\":\"a.output\",\"type\":\"x\"}"), "outputs[0]: unknown field 'type'"},
};

static void test_model_at_version(void)
{
    jn_pipeline_spec s;
    jn_err err;
    jn_err_clear(&err);
    JN_CHECK_ERR(parse(WITH_STEPS("{\"id\":\"a\",\"model\":\"resnet@12\",\"inputs\":{\"input\":\"x\"}}"), &s, &err),
                 err, 0);
    JN_CHECK_STR_EQ(s.steps[0].model, "resnet");
    JN_CHECK_STR_EQ(s.steps[0].version, "12");
    char *text = jn_pipeline_spec_to_json(&s, false);
    JN_CHECK_STR_CONTAINS(text, "\"model\":\"resnet\",\"version\":\"12\"");
    free(text);
    jn_pipeline_spec_free(&s);
}

static void test_errors(void)
{
    /* The templates themselves are fine. */
    static const char *const good[] = {
        WITH_INPUT(X_FIELDS ",\"datatype\":\"FP32\",\"shape\":[-1]"),
        WITH_STEPS(STEP_A),
        WITH_BINDING("{\"from\":\"a.output\",\"cast\":\"FP64\",\"scale\":1.5,\"offset\":-1}"),
        WITH_OUTPUTS("{\"name\":\"y\",\"from\":\"a.output\"}"),
        WITH_OUTPUTS("{\"name\":\"y\",\"from\":[\"a.output\",\"b.output\"],\"optional\":true}"),
        WITH_WHEN("{\"all\":[{\"from\":\"c.scores\",\"label\":[\"spam\"],\"score_above\":0.9},"
                  "{\"not\":{\"from\":\"t\",\"matches\":\"^(re|fwd):\"}},{\"any\":[{\"from\":\"n\",\"above\":3},"
                  "{\"from\":\"t\",\"equals\":[\"\",\"x\"]},{\"from\":\"n\",\"equals\":2}]}]}"),
        /* Left to the compiler, which judges specs from PutPipeline alike and names the pipeline. */
        WITH_STEPS("{\"id\":\"a.b\",\"model\":\"identity\",\"inputs\":{\"input\":\"\"}}," STEP_A "," STEP_A),
        WITH_INPUT("\"name\":\"x.y\",\"kind\":\"TENSOR\",\"datatype\":\"FP32\",\"shape\":[-1]"),
        WITH_BINDING("{\"from\":\"\"}"),
        WITH_OUTPUTS("{\"name\":\"y\",\"from\":\"\"},{\"name\":\"y\",\"from\":\"x\"}"),
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        jn_pipeline_spec s;
        jn_err err;
        JN_CHECK_ERR(parse(good[i], &s, &err), err, 0);
        jn_pipeline_spec_free(&s);
    }
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        jn_pipeline_spec s;
        jn_err err;
        int rc = parse(bad_cases[i].json, &s, &err);
        JN_CHECK_ERR(rc, err, JN_EINVAL);
        JN_CHECK_STR_CONTAINS(err.msg, bad_cases[i].message);
        /* Left empty, and freeing it is harmless. */
        JN_CHECK(s.name == NULL && s.n_steps == 0 && s.n_outputs == 0 && s.inputs.n_inputs == 0);
        jn_pipeline_spec_free(&s);
    }
}

static void test_limits(void)
{
    jn_pipeline_spec s;
    jn_err err;
    /* NUL inside the text: jansson stops at it. */
    static const char with_nul[] = "{\"name\":\"p\0\"}";
    JN_CHECK_ERR(jn_pipeline_spec_from_json(with_nul, sizeof with_nul - 1, &s, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "pipeline JSON: ");
    /* Invalid UTF-8. */
    JN_CHECK_ERR(parse("{\"name\":\"\xff\"}", &s, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "pipeline JSON: line 1");
    /* Deep nesting is refused by the parser, not by the stack. */
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 1);
    JN_REQUIRE(deep);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    JN_CHECK_ERR(jn_pipeline_spec_from_json(deep, 2 * depth, &s, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "pipeline JSON: ");
    free(deep);
    /* Huge documents are refused before parsing. */
    JN_CHECK_ERR(jn_pipeline_spec_from_json("{}", (size_t)1 << 30, &s, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "MiB");
    /* A long unknown key does not overflow the message. */
    char big[4096];
    snprintf(big, sizeof big, "{\"name\":\"p\",\"%03000d\":1}", 7);
    JN_CHECK_ERR(parse(big, &s, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "pipeline JSON: unknown field '000");
}

/* --- jn_pipelines_load_dir ---------------------------------------------------------------------------------- */

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    JN_REQUIRE(f);
    fputs(text, f);
    JN_REQUIRE(fclose(f) == 0);
}

static void remove_file(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
}

/* A pipeline `name` with input x FP32[-1,-1] running `model` once, output y. */
static void write_pipeline(const char *dir, const char *file, const char *name, const char *model)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"name\": \"%s\", \"inputs\": [{\"name\": \"x\", \"kind\": \"TENSOR\", \"datatype\": \"FP32\", "
             "\"shape\": [-1, -1]}], \"steps\": [{\"id\": \"s\", \"model\": \"%s\", \"inputs\": {\"%s\": \"x\"}}], "
             "\"outputs\": [{\"name\": \"y\", \"from\": \"s.%s\"}]}\n",
             name, model, strcmp(model, "identity") == 0 ? "input" : "x",
             strcmp(model, "identity") == 0 ? "output" : "y");
    write_file(dir, file, text);
}

static bool registered(jn_registry *reg, const char *name, jn_engine **out)
{
    jn_err err;
    jn_engine *e = jn_registry_get(reg, name, NULL, &err);
    if (out)
        *out = e;
    else
        jn_engine_unref(e);
    return e != NULL;
}

static void test_load_dir(void)
{
    char dir[] = "/tmp/jn-pipelines-XXXXXX";
    JN_REQUIRE(mkdtemp(dir));
    jn_registry *reg = jn_registry_create();
    JN_REQUIRE(reg);
    jn_builtin_options opt = {.burn_default_ms = 1};
    jn_err err;
    jn_err_clear(&err);
    JN_REQUIRE(jn_builtin_register_all(reg, &opt, &err) == 0);

    /* Empty: nothing to do. */
    JN_CHECK_ERR(jn_pipelines_load_dir(dir, reg, &err), err, 0);

    /* File-name order: p2 (in b.json) uses p1 (in a.json); other files are not read. */
    write_pipeline(dir, "b.json", "p2", "p1");
    write_pipeline(dir, "a.json", "p1", "identity");
    write_file(dir, "notes.txt", "not json");
    write_file(dir, ".hidden.json", "not json either");
    jn_engine *p1 = NULL;
    JN_CHECK_ERR(jn_pipelines_load_dir(dir, reg, &err), err, 0);
    JN_CHECK(registered(reg, "p1", &p1));
    JN_CHECK(registered(reg, "p2", NULL));
    JN_CHECK(p1 && jn_engine_is_pipeline(p1));

    /* A bad file: nothing of this call stays, p1 (replaced by a.json again) is put back as it was. */
    write_pipeline(dir, "c.json", "p3", "identity");
    write_file(dir, "d.json", "{\"name\": \"p4\", \"inputs\": [], \"steps\": [{\"id\": \"s\", \"inputs\": {}}], "
                              "\"outputs\": []}");
    char trailing[600];
    snprintf(trailing, sizeof trailing, "%s/", dir); /* a trailing slash does not double */
    JN_CHECK_ERR(jn_pipelines_load_dir(trailing, reg, &err), err, JN_EINVAL);
    char want[600];
    snprintf(want, sizeof want, "%s/d.json: steps[0]: missing 'model' (or 'route')", dir);
    JN_CHECK_STR_EQ(err.msg, want);
    jn_engine *now = NULL;
    JN_CHECK(registered(reg, "p1", &now));
    JN_CHECK_PTR_EQ(now, p1);
    jn_engine_unref(now);
    JN_CHECK(!registered(reg, "p3", NULL));
    JN_CHECK(registered(reg, "p2", NULL)); /* from the first call */

    /* A compile error names the file too (the wording of the message is the compiler's). */
    remove_file(dir, "d.json");
    write_pipeline(dir, "d.json", "p4", "no-such-model");
    JN_CHECK(jn_pipelines_load_dir(dir, reg, &err) != 0);
    snprintf(want, sizeof want, "%s/d.json: ", dir);
    JN_CHECK_STR_CONTAINS(err.msg, want);
    JN_CHECK_STR_CONTAINS(err.msg, "no-such-model");
    JN_CHECK(!registered(reg, "p3", NULL));
    JN_CHECK(!registered(reg, "p4", NULL));

    /* A pipeline may not take an engine's name; the registry's refusal is reported with the file. */
    remove_file(dir, "d.json");
    write_pipeline(dir, "d.json", "identity", "burn");
    JN_CHECK(jn_pipelines_load_dir(dir, reg, &err) != 0);
    snprintf(want, sizeof want, "%s/d.json: ", dir);
    JN_CHECK_STR_CONTAINS(err.msg, want);
    jn_engine *id = NULL;
    JN_CHECK(registered(reg, "identity", &id));
    JN_CHECK(id && !jn_engine_is_pipeline(id));
    jn_engine_unref(id);
    JN_CHECK(!registered(reg, "p3", NULL));

    /* A missing directory. */
    JN_CHECK_ERR(jn_pipelines_load_dir("/nonexistent/jn-pipelines", reg, &err), err, JN_ENOTFOUND);
    JN_CHECK_STR_CONTAINS(err.msg, "/nonexistent/jn-pipelines");

    jn_engine_unref(p1);
    jn_registry_destroy(reg);
    static const char *const files[] = {"a.json", "b.json", "c.json", "d.json", "notes.txt", ".hidden.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        remove_file(dir, files[i]);
    rmdir(dir);
}

int main(void)
{
    JN_TEST_RUN(test_example_parses);
    JN_TEST_RUN(test_round_trip);
    JN_TEST_RUN(test_model_at_version);
    JN_TEST_RUN(test_errors);
    JN_TEST_RUN(test_limits);
    JN_TEST_RUN(test_load_dir);
    return JN_TEST_EXIT();
}
