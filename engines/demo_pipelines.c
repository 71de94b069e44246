/* demo_pipelines.c — the pipelines `junction serve` registers next to the built-in engines, written in the JSON
 * form of `junction serve --pipelines DIR` so they double as examples of it. */
#include <stdlib.h>
#include <string.h>

#include "../broker/core/pipeline.h"
#include "builtin.h"

/* x -> identity -> identity -> y: the zero-copy hand-off between steps. */
static const char demo_chain[] =
    "{\n"
    "  \"name\": \"demo-chain\",\n"
    "  \"description\": \"x -> identity (a) -> identity (b) -> y: steps hand tensors on without copying\",\n"
    "  \"inputs\": [{\"name\": \"x\", \"kind\": \"TENSOR\", \"datatype\": \"FP32\", \"shape\": [-1, -1]}],\n"
    "  \"steps\": [\n"
    "    {\"id\": \"a\", \"model\": \"identity\", \"inputs\": {\"input\": \"x\"}},\n"
    "    {\"id\": \"b\", \"model\": \"identity\", \"inputs\": {\"input\": \"a.output\"}}\n"
    "  ],\n"
    "  \"outputs\": [{\"name\": \"y\", \"from\": \"b.output\"}]\n"
    "}\n";

/* Two independent branches from one input: they run in parallel. */
static const char demo_fanout[] =
    "{\n"
    "  \"name\": \"demo-fanout\",\n"
    "  \"description\": \"x -> identity (a) and burn (b) side by side -> ya, yb\",\n"
    "  \"inputs\": [{\"name\": \"x\", \"kind\": \"TENSOR\", \"datatype\": \"FP32\", \"shape\": [-1, -1]}],\n"
    "  \"steps\": [\n"
    "    {\"id\": \"a\", \"model\": \"identity\", \"inputs\": {\"input\": \"x\"}},\n"
    "    {\"id\": \"b\", \"model\": \"burn\", \"inputs\": {\"input\": \"x\"}}\n"
    "  ],\n"
    "  \"outputs\": [\n"
    "    {\"name\": \"ya\", \"from\": \"a.output\"},\n"
    "    {\"name\": \"yb\", \"from\": \"b.output\"}\n"
    "  ]\n"
    "}\n";

/* A streaming step: one partial answer per token. */
static const char demo_tokens[] =
    "{\n"
    "  \"name\": \"demo-tokens\",\n"
    "  \"description\": \"text -> tokenize (t) -> tokens, streamed one token per message\",\n"
    "  \"inputs\": [{\"name\": \"text\", \"kind\": \"TEXT\", \"datatype\": \"BYTES\", \"shape\": [-1]}],\n"
    "  \"steps\": [\n"
    "    {\"id\": \"t\", \"model\": \"tokenize\", \"inputs\": {\"text\": \"text\"}}\n"
    "  ],\n"
    "  \"outputs\": [{\"name\": \"tokens\", \"from\": \"t.tokens\"}]\n"
    "}\n";

/* The cross-modal demo: a product photo and its title, classified in parallel (CNN on the photo, linear model on the
 * title), fused into one category with a score. The title model's labels come in another order than the CNN's:
 * the compiler inserts a relabel conversion so score i means the same class on both sides of the fusion. */
static const char demo_product[] =
    "{\n"
    "  \"name\": \"demo-product\",\n"
    "  \"description\": \"product photo + title -> fashion-cnn || fashion-text -> fashion-fusion -> category\",\n"
    "  \"inputs\": [{\"name\": \"image\", \"kind\": \"IMAGE\", \"datatype\": \"BYTES\", \"shape\": [-1]},\n"
    "             {\"name\": \"title\", \"kind\": \"TEXT\", \"datatype\": \"BYTES\", \"shape\": [-1]}],\n"
    "  \"steps\": [\n"
    "    {\"id\": \"img\", \"model\": \"fashion-cnn\", \"inputs\": {\"image\": \"image\"}},\n"
    "    {\"id\": \"txt\", \"model\": \"fashion-text\", \"inputs\": {\"text\": \"title\"}},\n"
    "    {\"id\": \"fuse\", \"model\": \"fashion-fusion\", \"inputs\": {\"a\": \"img.scores\", \"b\": \"txt.scores\"}}\n"
    "  ],\n"
    "  \"outputs\": [{\"name\": \"category\", \"from\": \"fuse.scores\"}]\n"
    "}\n";

static const char *const demo_pipelines[] = {demo_chain, demo_fanout, demo_tokens, demo_product};
#define N_DEMOS (sizeof demo_pipelines / sizeof demo_pipelines[0])

int jn_builtin_register_pipelines(jn_registry *reg, jn_err *err)
{
    char *registered[N_DEMOS];
    size_t done = 0;
    int rc = 0;
    for (size_t i = 0; i < N_DEMOS && !rc; i++) {
        jn_pipeline_spec spec;
        rc = jn_pipeline_spec_from_json(demo_pipelines[i], strlen(demo_pipelines[i]), &spec, err);
        if (rc) {
            jn_err_prefix(err, "built-in pipeline #%zu", i + 1);
            break;
        }
        jn_engine *p = jn_pipeline_compile(&spec, reg, err);
        if (!p) {
            rc = err->code ? err->code : jn_err_set(err, JN_EINTERNAL, "the pipeline did not compile");
            jn_err_prefix(err, "built-in pipeline '%s'", spec.name);
        } else if (!(registered[done] = strdup(p->name))) {
            jn_engine_unref(p);
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
        } else if ((rc = jn_pipeline_register(reg, p, NULL, err))) {
            free(registered[done]);
            jn_err_prefix(err, "built-in pipeline '%s'", spec.name);
        } else {
            done++;
        }
        jn_pipeline_spec_free(&spec);
    }
    /* All or nothing, like --pipelines. */
    jn_err ignored;
    for (size_t i = done; i-- > 0;) {
        if (rc)
            jn_pipeline_unregister(reg, registered[i], &ignored);
        free(registered[i]);
    }
    return rc;
}
