/* sampler.h — picks a language model's next token from its logits (issue #19 item 3): repetition, presence and
 * frequency penalties over the tokens generated so far, then greedy (temperature 0) or sampling with temperature,
 * top-k and top-p (nucleus) from a seeded generator, so the same seed gives the same tokens.
 *
 * The order is Hugging Face's: penalties, temperature, top-k, top-p, then the draw. Repetition penalty p (> 0, 1 =
 * off) divides a positive logit by p and multiplies a negative one (the CTRL paper's rule, as transformers applies
 * it); presence / frequency penalties are OpenAI's (logit -= presence * [count > 0] + frequency * count).
 *
 * Ownership: a jn_sampler owns its scratch arrays (jn_sampler_free). Thread-safety: one sampler per generation.
 */
#ifndef JN_GENERATE_SAMPLER_H
#define JN_GENERATE_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct jn_sampler_opts {
    double temperature;        /* 0 = greedy (argmax; the lowest id on ties) */
    int64_t top_k;             /* 0 = off */
    double top_p;              /* 1 = off */
    double repetition_penalty; /* 1 = off */
    double presence_penalty, frequency_penalty;
    uint64_t seed;
} jn_sampler_opts;

typedef struct jn_sampler {
    jn_sampler_opts o;
    uint64_t s[4]; /* xoshiro256** state */
    float *work;
    int32_t *order;
    uint32_t *count; /* per token: times generated */
    size_t vocab;
} jn_sampler;

/* 0, or -1 when memory runs out. */
int jn_sampler_init(jn_sampler *s, const jn_sampler_opts *o, size_t vocab);
void jn_sampler_free(jn_sampler *s);
/* The next token from logits[0..vocab) (vocab as at init); counts it as generated. */
int64_t jn_sampler_next(jn_sampler *s, const float *logits);
/* Counts a token as seen without drawing it (the prompt's tokens, for the repetition penalty). */
void jn_sampler_seen(jn_sampler *s, int64_t token, bool generated);

#endif
