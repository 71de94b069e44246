/* The sampler and the chat template of the ONNX causal LM engine (engines/generate). */
#include <math.h>
#include <string.h>

#include "chat_template.h"
#include "sampler.h"
#include "test.h"

#define V 50

static void logits_ramp(float *l)
{
    for (int i = 0; i < V; i++)
        l[i] = (float)(i % 7) * 0.3f + (float)i * 0.01f; /* the largest at 48 (6*0.3 + 0.48) */
}

static void greedy(void)
{
    float l[V];
    logits_ramp(l);
    jn_sampler s;
    jn_sampler_opts o = {.temperature = 0, .top_p = 1, .repetition_penalty = 1};
    JN_REQUIRE(jn_sampler_init(&s, &o, V) == 0);
    JN_CHECK_INT_EQ(jn_sampler_next(&s, l), 48);
    jn_sampler_free(&s);
    /* ties: the lowest id */
    for (int i = 0; i < V; i++)
        l[i] = 1.0f;
    JN_REQUIRE(jn_sampler_init(&s, &o, V) == 0);
    JN_CHECK_INT_EQ(jn_sampler_next(&s, l), 0);
    jn_sampler_free(&s);
}

static void draw(int64_t *out, int n, const jn_sampler_opts *o)
{
    float l[V];
    logits_ramp(l);
    jn_sampler s;
    JN_REQUIRE(jn_sampler_init(&s, o, V) == 0);
    for (int i = 0; i < n; i++)
        out[i] = jn_sampler_next(&s, l);
    jn_sampler_free(&s);
}

static void seeded(void)
{
    jn_sampler_opts o = {.temperature = 1.0, .top_p = 1, .repetition_penalty = 1, .seed = 42};
    int64_t a[64], b[64], c[64];
    draw(a, 64, &o);
    draw(b, 64, &o);
    o.seed = 43;
    draw(c, 64, &o);
    JN_CHECK(memcmp(a, b, sizeof a) == 0);
    JN_CHECK(memcmp(a, c, sizeof a) != 0);
    /* temperature 1 over a flat-ish distribution: many different tokens */
    int seen[V] = {0}, distinct = 0;
    for (int i = 0; i < 64; i++)
        distinct += !seen[a[i]]++;
    JN_CHECK_INT_GE(distinct, 10);
}

static void top_k_top_p(void)
{
    jn_sampler_opts o = {.temperature = 1.0, .top_k = 3, .top_p = 1, .repetition_penalty = 1, .seed = 1};
    int64_t a[200];
    draw(a, 200, &o);
    /* the three largest: 48 (1.98), 41 (1.91), 34 (1.84) */
    for (int i = 0; i < 200; i++)
        JN_CHECK(a[i] == 48 || a[i] == 41 || a[i] == 34);
    o.top_k = 0;
    o.top_p = 1e-6; /* only the most likely survives */
    draw(a, 50, &o);
    for (int i = 0; i < 50; i++)
        JN_CHECK_INT_EQ(a[i], 48);
    /* a very low temperature is greedy in effect */
    o.top_p = 1;
    o.temperature = 1e-4;
    draw(a, 50, &o);
    for (int i = 0; i < 50; i++)
        JN_CHECK_INT_EQ(a[i], 48);
}

static void penalties(void)
{
    float l[V];
    logits_ramp(l);
    jn_sampler s;
    jn_sampler_opts o = {.temperature = 0, .top_p = 1, .repetition_penalty = 2.0};
    JN_REQUIRE(jn_sampler_init(&s, &o, V) == 0);
    jn_sampler_seen(&s, 48, false); /* in the prompt: 1.98 / 2 */
    JN_CHECK_INT_EQ(jn_sampler_next(&s, l), 41);
    JN_CHECK_INT_EQ(jn_sampler_next(&s, l), 34); /* 41 was generated: penalized too */
    jn_sampler_free(&s);
    jn_sampler_opts f = {.temperature = 0, .top_p = 1, .repetition_penalty = 1, .frequency_penalty = 0.05};
    JN_REQUIRE(jn_sampler_init(&s, &f, V) == 0);
    JN_CHECK_INT_EQ(jn_sampler_next(&s, l), 48);
    JN_CHECK_INT_EQ(jn_sampler_next(&s, l), 48); /* 1.98 - 0.05 = 1.93 > 1.91 */
    JN_CHECK_INT_EQ(jn_sampler_next(&s, l), 41); /* 1.98 - 0.10 = 1.88 < 1.91 */
    jn_sampler_free(&s);
}

static void chat_template(void)
{
    jn_err err;
    jn_err_clear(&err);
    json_t *cfg = json_loads("{\"system\": \"<s>{content}</s>\", \"user\": \"U: {content}\\n\", "
                             "\"assistant\": \"A: {content}\\n\", \"generation_prompt\": \"A:\"}", 0, NULL);
    jn_chat_template *t = jn_chat_template_parse(cfg, "config.json", &err);
    JN_REQUIRE(t != NULL);
    const char *msgs = "[{\"role\": \"system\", \"content\": \"sys\"}, {\"role\": \"user\", \"content\": "
                       "[{\"type\": \"text\", \"text\": \"hi \"}, {\"type\": \"text\", \"text\": \"there\"}]}, "
                       "{\"role\": \"assistant\", \"content\": \"yo\"}, {\"role\": \"user\", \"content\": \"q\"}]";
    char *out = NULL;
    size_t n = 0;
    JN_CHECK_INT_EQ(jn_chat_template_render(t, msgs, strlen(msgs), &out, &n, &err), 0);
    JN_CHECK_STR_EQ(out, "<s>sys</s>U: hi there\nA: yo\nU: q\nA:");
    free(out);
    const char *bad = "[{\"role\": \"tool\", \"content\": \"x\"}]";
    JN_CHECK_ERR(jn_chat_template_render(t, bad, strlen(bad), &out, &n, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "messages[0]: role 'tool' has no template");
    const char *img = "[{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": {}}]}]";
    JN_CHECK_ERR(jn_chat_template_render(t, img, strlen(img), &out, &n, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "messages[0].content[0]");
    jn_chat_template_free(t);
    json_decref(cfg);
    /* refused at load: a Jinja string, a role without {content} */
    json_t *jinja = json_string("{% for m in messages %}{{ m.content }}{% endfor %}");
    JN_CHECK(jn_chat_template_parse(jinja, "config.json", &err) == NULL);
    JN_CHECK_STR_CONTAINS(err.msg, "Jinja");
    json_decref(jinja);
    json_t *noc = json_loads("{\"user\": \"U:\"}", 0, NULL);
    JN_CHECK(jn_chat_template_parse(noc, "config.json", &err) == NULL);
    JN_CHECK_STR_CONTAINS(err.msg, "chat_template.user has no {content}");
    json_decref(noc);
}

int main(void)
{
    JN_TEST_RUN(greedy);
    JN_TEST_RUN(seeded);
    JN_TEST_RUN(top_k_top_p);
    JN_TEST_RUN(penalties);
    JN_TEST_RUN(chat_template);
    return JN_TEST_EXIT();
}
