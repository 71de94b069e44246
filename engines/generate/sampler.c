/* sampler.c — next-token choice (see sampler.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sampler.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256** (Blackman and Vigna's public-domain generator, written from its description). */
static uint64_t next_u64(jn_sampler *s)
{
    uint64_t r = rotl(s->s[1] * 5, 7) * 9, t = s->s[1] << 17;
    s->s[2] ^= s->s[0];
    s->s[3] ^= s->s[1];
    s->s[1] ^= s->s[2];
    s->s[0] ^= s->s[3];
    s->s[2] ^= t;
    s->s[3] = rotl(s->s[3], 45);
    return r;
}

/* Uniform in [0, 1) with 53 bits. */
static double next_unit(jn_sampler *s)
{
    return (double)(next_u64(s) >> 11) * (1.0 / 9007199254740992.0);
}

int jn_sampler_init(jn_sampler *s, const jn_sampler_opts *o, size_t vocab)
{
    memset(s, 0, sizeof *s);
    s->o = *o;
    s->vocab = vocab;
    uint64_t x = o->seed;
    for (int i = 0; i < 4; i++)
        s->s[i] = splitmix64(&x);
    s->work = malloc((vocab + 1) * sizeof *s->work);
    s->order = malloc((vocab + 1) * sizeof *s->order);
    s->count = calloc(vocab + 1, sizeof *s->count);
    if (!s->work || !s->order || !s->count) {
        jn_sampler_free(s);
        return -1;
    }
    return 0;
}

void jn_sampler_free(jn_sampler *s)
{
    free(s->work);
    free(s->order);
    free(s->count);
    s->work = NULL;
    s->order = NULL;
    s->count = NULL;
}

/* Generated tokens are counted in the low 31 bits; bit 31 marks a token seen in the prompt (repetition penalty
 * applies to both, as transformers does; presence / frequency only to generated ones, as OpenAI does). */
#define SEEN_BIT 0x80000000u

void jn_sampler_seen(jn_sampler *s, int64_t token, bool generated)
{
    if (token < 0 || (size_t)token >= s->vocab)
        return;
    if (generated) {
        if ((s->count[token] & ~SEEN_BIT) < ~SEEN_BIT)
            s->count[token]++;
    } else {
        s->count[token] |= SEEN_BIT;
    }
}

/* qsort has no context argument: the keys of the sort under way on this thread. */
static _Thread_local const float *sort_keys;

static int by_logit_desc(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    float fx = sort_keys[x], fy = sort_keys[y];
    if (fx != fy)
        return fx > fy ? -1 : 1;
    return x < y ? -1 : x > y;
}

int64_t jn_sampler_next(jn_sampler *s, const float *logits)
{
    size_t v = s->vocab;
    float *w = s->work;
    memcpy(w, logits, v * sizeof *w);
    const jn_sampler_opts *o = &s->o;
    bool penal = o->repetition_penalty != 1.0 || o->presence_penalty != 0.0 || o->frequency_penalty != 0.0;
    for (size_t i = 0; penal && i < v; i++) {
        uint32_t c = s->count[i];
        if (!c)
            continue;
        if (o->repetition_penalty != 1.0)
            w[i] = w[i] > 0 ? (float)(w[i] / o->repetition_penalty) : (float)(w[i] * o->repetition_penalty);
        uint32_t gen = c & ~SEEN_BIT;
        if (gen)
            w[i] -= (float)(o->presence_penalty + o->frequency_penalty * gen);
    }
    int64_t pick = 0;
    if (o->temperature <= 0.0 || o->top_k == 1) {
        for (size_t i = 1; i < v; i++)
            if (w[i] > w[pick])
                pick = (int64_t)i;
    } else {
        /* Candidates by logit, highest first (ties: lower id first), cut by top-k. */
        for (size_t i = 0; i < v; i++)
            s->order[i] = (int32_t)i;
        sort_keys = w;
        qsort(s->order, v, sizeof *s->order, by_logit_desc);
        size_t n = v;
        if (o->top_k > 0 && (size_t)o->top_k < n)
            n = (size_t)o->top_k;
        /* Softmax at the temperature over the candidates (in double; the max first, so exp never overflows). */
        double mx = w[s->order[0]], sum = 0;
        double *p = malloc(n * sizeof *p);
        if (!p) { /* out of memory mid-request: fall back to the most likely token rather than fail */
            jn_sampler_seen(s, s->order[0], true);
            return s->order[0];
        }
        for (size_t i = 0; i < n; i++) {
            p[i] = exp(((double)w[s->order[i]] - mx) / o->temperature);
            sum += p[i];
        }
        /* top-p: the smallest prefix whose probability reaches top_p (at least one token). */
        if (o->top_p < 1.0) {
            double acc = 0;
            size_t keep = 0;
            while (keep < n) {
                acc += p[keep] / sum;
                keep++;
                if (acc >= o->top_p)
                    break;
            }
            n = keep;
            sum = 0;
            for (size_t i = 0; i < n; i++)
                sum += p[i];
        }
        double r = next_unit(s) * sum, acc = 0;
        pick = s->order[n - 1];
        for (size_t i = 0; i < n; i++) {
            acc += p[i];
            if (r < acc) {
                pick = s->order[i];
                break;
            }
        }
        free(p);
    }
    jn_sampler_seen(s, pick, true);
    return pick;
}
