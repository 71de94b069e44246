/* features.c — tokenizer, hashed n-gram features, linear softmax and the hashed embedding (text.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "jn_kernels.h"
#include "text.h"

/* UTF-8 --------------------------------------------------------------------------------------------------------- */

/* Decodes one code point; invalid or truncated sequences count as one byte (so the walk always advances). */
static size_t next_cp(const uint8_t *s, size_t n, uint32_t *cp)
{
    uint8_t c = s[0];
    size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    if (len > n)
        len = 1;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            len = 1;
    if (len == 1) {
        *cp = c;
        return 1;
    }
    uint32_t v = len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
    for (size_t i = 1; i < len; i++)
        v = v << 6 | (s[i] & 0x3F);
    *cp = v;
    return len;
}

static size_t put_cp(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static bool is_cjk(uint32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x3040 && cp <= 0x30FF) ||
           (cp >= 0xAC00 && cp <= 0xD7AF) || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x20000 && cp <= 0x2A6DF);
}

/* Word characters: ASCII letters, digits and apostrophe, and every non-ASCII code point that is not CJK, punctuation
 * or space (accented Latin, Cyrillic, Greek ... stay inside words). */
static bool is_word(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') || cp == '\'';
    if (cp <= 0xBF || cp == 0xD7 || cp == 0xF7 || (cp >= 0x2000 && cp <= 0x206F) || (cp >= 0x3000 && cp <= 0x303F) ||
        (cp >= 0xFF00 && cp <= 0xFF0F) || (cp >= 0xFF1A && cp <= 0xFF20) || cp == 0xFEFF || cp == 0xFFFD)
        return false; /* Latin-1 punctuation, general punctuation, CJK and full-width punctuation, BOM, U+FFFD */
    return !is_cjk(cp);
}

uint32_t jn_text_lower(uint32_t cp)
{
    if (cp < 0x80)
        return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
    if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7)
        return cp + 32; /* Latin-1: À..Þ */
    if (cp >= 0x100 && cp <= 0x17F) { /* Latin Extended-A: mostly (upper, lower) pairs */
        if (cp == 0x130)
            return 'i';
        if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E))
            return cp & 1 ? cp + 1 : cp; /* odd = upper in these runs */
        if (cp == 0x178)
            return 0xFF;
        if (cp == 0x131 || cp == 0x138 || cp == 0x149 || cp == 0x17F)
            return cp;
        return cp & 1 ? cp : cp + 1;
    }
    if (cp >= 0x391 && cp <= 0x3AB && cp != 0x3A2)
        return cp + 32; /* Greek capitals */
    if (cp >= 0x410 && cp <= 0x42F)
        return cp + 32; /* Cyrillic А..Я */
    if (cp >= 0x400 && cp <= 0x40F)
        return cp + 80; /* Cyrillic Ѐ..Џ */
    return cp;
}

/* Stop words ----------------------------------------------------------------------------------------------------- */

/* A short English list (sorted for bsearch). */
static const char *const stopwords[] = {
    "a",       "about", "above", "after", "again", "against", "all",   "am",     "an",    "and",   "any",
    "are",     "as",    "at",    "be",    "because", "been",  "before", "being",  "below", "between", "both",
    "but",     "by",    "can",   "could", "did",   "do",      "does",  "doing",  "down",  "during", "each",
    "few",     "for",   "from",  "further", "had", "has",     "have",  "having", "he",    "her",   "here",
    "hers",    "herself", "him", "himself", "his", "how",     "i",     "if",     "in",    "into",  "is",
    "it",      "it's",  "its",   "itself", "just", "me",      "more",  "most",   "my",    "myself", "no",
    "nor",     "not",   "now",   "of",    "off",   "on",      "once",  "only",   "or",    "other", "our",
    "ours",    "ourselves", "out", "over", "own",  "same",    "she",   "should", "so",    "some",  "such",
    "than",    "that",  "the",   "their", "theirs", "them",   "themselves", "then", "there", "these", "they",
    "this",    "those", "through", "to",  "too",   "under",   "until", "up",     "very",  "was",   "we",
    "were",    "what",  "when",  "where", "which", "while",   "who",   "whom",   "why",   "will",  "with",
    "would",   "you",   "your",  "yours", "yourself", "yourselves",
};

typedef struct span {
    const char *s;
    size_t n;
} span;

static int cmp_stop(const void *key, const void *elem)
{
    const span *k = key;
    const char *w = *(const char *const *)elem;
    size_t wn = strlen(w);
    int c = memcmp(k->s, w, k->n < wn ? k->n : wn);
    if (c)
        return c;
    return k->n < wn ? -1 : k->n > wn;
}

bool jn_text_is_stopword(const char *tok, size_t len)
{
    span k = {tok, len};
    return bsearch(&k, stopwords, sizeof stopwords / sizeof *stopwords, sizeof *stopwords, cmp_stop) != NULL;
}

/* Tokenizer ------------------------------------------------------------------------------------------------------ */

static int emit_word(const uint8_t *s, size_t n, bool stop, char **buf, size_t *cap, jn_text_token_fn fn,
                     void *arg)
{
    if (n * 2 > *cap) { /* lower-casing never grows a code point beyond 2x bytes in the ranges we map */
        size_t c = n * 2 + 64;
        char *b = realloc(*buf, c);
        if (!b)
            return JN_ENOMEM;
        *buf = b;
        *cap = c;
    }
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += next_cp(s + i, n - i, &cp);
        o += put_cp(jn_text_lower(cp), *buf + o);
    }
    if (stop && jn_text_is_stopword(*buf, o))
        return 0;
    return fn(arg, *buf, o);
}

int jn_text_tokenize(const uint8_t *s, size_t n, bool stop, jn_text_token_fn fn, void *arg)
{
    char *buf = NULL;
    size_t cap = 0, i = 0, word = SIZE_MAX;
    int rc = 0;
    while (i < n && !rc) {
        uint32_t cp;
        size_t len = next_cp(s + i, n - i, &cp);
        bool w = is_word(cp);
        if (!w && word != SIZE_MAX) {
            rc = emit_word(s + word, i - word, stop, &buf, &cap, fn, arg);
            word = SIZE_MAX;
        }
        if (!rc && w && word == SIZE_MAX)
            word = i;
        if (!rc && is_cjk(cp))
            rc = fn(arg, (const char *)s + i, len);
        i += len;
    }
    if (!rc && word != SIZE_MAX)
        rc = emit_word(s + word, n - word, stop, &buf, &cap, fn, arg);
    free(buf);
    return rc;
}

/* Hashing and features ------------------------------------------------------------------------------------------- */

uint32_t jn_text_fnv1a(uint32_t h, const void *data, size_t n)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

/* A final avalanche (murmur3 fmix32): FNV-1a's low bits are weak for short keys. */
static uint32_t fmix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

jn_text_hash_config jn_text_hash_defaults(void)
{
    jn_text_hash_config c = {.dim_bits = 18, .word_ngrams = 2, .char_min = 3, .char_max = 5, .stopwords = false,
                             .seed = 0};
    return c;
}

void jn_text_sparse_free(jn_text_sparse *v)
{
    free(v->idx);
    free(v->val);
    memset(v, 0, sizeof *v);
}

typedef struct feat_state {
    const jn_text_hash_config *cfg;
    uint32_t mask;
    uint32_t *h; /* bucket per feature occurrence */
    size_t n, cap;
    char *prev; /* previous token (bigrams) */
    size_t prev_len, prev_cap;
    bool have_prev;
} feat_state;

static int push_hash(feat_state *st, uint32_t h)
{
    if (st->n == st->cap) {
        size_t c = st->cap ? st->cap * 2 : 256;
        uint32_t *g = realloc(st->h, c * sizeof *g);
        if (!g)
            return JN_ENOMEM;
        st->h = g;
        st->cap = c;
    }
    st->h[st->n++] = fmix32(h) & st->mask;
    return 0;
}

static uint32_t tagged(uint32_t seed, char tag)
{
    uint8_t pre[5] = {(uint8_t)seed, (uint8_t)(seed >> 8), (uint8_t)(seed >> 16), (uint8_t)(seed >> 24),
                      (uint8_t)tag};
    return jn_text_fnv1a(JN_FNV_OFFSET, pre, sizeof pre);
}

static int on_token(void *arg, const char *tok, size_t len)
{
    feat_state *st = arg;
    const jn_text_hash_config *c = st->cfg;
    if (push_hash(st, jn_text_fnv1a(tagged(c->seed, 'w'), tok, len)))
        return JN_ENOMEM;
    if (c->word_ngrams >= 2) {
        if (st->have_prev) {
            uint32_t h = jn_text_fnv1a(tagged(c->seed, 'b'), st->prev, st->prev_len);
            h = jn_text_fnv1a(h, " ", 1);
            if (push_hash(st, jn_text_fnv1a(h, tok, len)))
                return JN_ENOMEM;
        }
        if (len > st->prev_cap) {
            char *p = realloc(st->prev, len);
            if (!p)
                return JN_ENOMEM;
            st->prev = p;
            st->prev_cap = len;
        }
        memcpy(st->prev, tok, len);
        st->prev_len = len;
        st->have_prev = true;
    }
    if (c->char_max > 0) {
        /* Code point starts of "<" tok ">": offsets into a framed copy. */
        size_t nb = len + 2;
        char stackbuf[256];
        size_t starts_stack[258];
        char *fr = nb <= sizeof stackbuf ? stackbuf : malloc(nb);
        size_t *starts = nb + 1 <= sizeof starts_stack / sizeof *starts_stack ? starts_stack
                                                                                : malloc((nb + 1) * sizeof *starts);
        if (!fr || !starts) {
            if (fr != stackbuf)
                free(fr);
            if (starts != starts_stack)
                free(starts);
            return JN_ENOMEM;
        }
        fr[0] = '<';
        memcpy(fr + 1, tok, len);
        fr[nb - 1] = '>';
        size_t ncp = 0;
        for (size_t i = 0; i < nb;) {
            uint32_t cp;
            starts[ncp++] = i;
            i += next_cp((const uint8_t *)fr + i, nb - i, &cp);
        }
        starts[ncp] = nb;
        uint32_t base = tagged(c->seed, 'c');
        int rc = 0;
        for (int g = c->char_min; g <= c->char_max && !rc; g++)
            for (size_t i = 0; i + (size_t)g <= ncp && !rc; i++)
                rc = push_hash(st, jn_text_fnv1a(base, fr + starts[i], starts[i + (size_t)g] - starts[i]));
        if (fr != stackbuf)
            free(fr);
        if (starts != starts_stack)
            free(starts);
        if (rc)
            return rc;
    }
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int jn_text_features(const jn_text_hash_config *cfg, const uint8_t *s, size_t n, jn_text_sparse *out)
{
    feat_state st = {.cfg = cfg, .mask = (uint32_t)((1ull << cfg->dim_bits) - 1)};
    out->n = 0;
    int rc = jn_text_tokenize(s, n, cfg->stopwords, on_token, &st);
    free(st.prev);
    if (rc) {
        free(st.h);
        return rc;
    }
    if (st.n) /* qsort must not get NULL, even for 0 elements (empty text) */
        qsort(st.h, st.n, sizeof *st.h, cmp_u32);
    size_t uniq = 0;
    for (size_t i = 0; i < st.n; i++)
        uniq += i == 0 || st.h[i] != st.h[i - 1];
    if (uniq > out->cap) {
        uint32_t *idx = realloc(out->idx, uniq * sizeof *idx);
        if (idx)
            out->idx = idx;
        float *val = realloc(out->val, uniq * sizeof *val);
        if (val)
            out->val = val;
        if (!idx || !val) {
            free(st.h);
            return JN_ENOMEM;
        }
        out->cap = uniq;
    }
    double norm = 0;
    for (size_t i = 0; i < st.n;) {
        size_t j = i;
        while (j < st.n && st.h[j] == st.h[i])
            j++;
        float v = 1.0f + logf((float)(j - i));
        out->idx[out->n] = st.h[i];
        out->val[out->n++] = v;
        norm += (double)v * v;
        i = j;
    }
    free(st.h);
    if (norm > 0) {
        float inv = (float)(1.0 / sqrt(norm));
        for (size_t i = 0; i < out->n; i++)
            out->val[i] *= inv;
    }
    return 0;
}

/* Linear softmax ------------------------------------------------------------------------------------------------- */

void jn_text_linear_forward(const jn_text_linear *m, const jn_text_sparse *x, float *prob)
{
    size_t k = m->k;
    /* The dense layer on the shared kernel the ONNX adapter runs this model's export with (kernels/). */
    jn_k_sparse_dense((int64_t)k, (int64_t)x->n, x->idx, x->val, m->w, m->b, prob);
    float mx = prob[0];
    for (size_t c = 1; c < k; c++)
        mx = prob[c] > mx ? prob[c] : mx;
    float sum = 0;
    for (size_t c = 0; c < k; c++) {
        prob[c] = expf(prob[c] - mx);
        sum += prob[c];
    }
    for (size_t c = 0; c < k; c++)
        prob[c] /= sum;
}

float jn_text_linear_backward(const jn_text_linear *m, const jn_text_sparse *x, int y, float scale, float *gw,
                              float *gb, int *pred)
{
    size_t k = m->k;
    float probbuf[16];
    float *p = k <= 16 ? probbuf : malloc(k * sizeof *p);
    if (!p)
        return NAN;
    jn_text_linear_forward(m, x, p);
    int best = 0;
    for (size_t c = 1; c < k; c++)
        if (p[c] > p[best])
            best = (int)c;
    if (pred)
        *pred = best;
    float loss = -logf(p[y] > 1e-30f ? p[y] : 1e-30f);
    for (size_t c = 0; c < k; c++)
        p[c] = (p[c] - (c == (size_t)y ? 1.0f : 0.0f)) * scale; /* dL/dz */
    for (size_t c = 0; c < k; c++)
        gb[c] += p[c];
    for (size_t i = 0; i < x->n; i++) {
        float *row = gw + (size_t)x->idx[i] * k;
        float v = x->val[i];
        for (size_t c = 0; c < k; c++)
            row[c] += v * p[c];
    }
    if (p != probbuf)
        free(p);
    return loss;
}

/* Embedding ------------------------------------------------------------------------------------------------------ */

int jn_text_embed(const uint8_t *s, size_t n, float *out, size_t dim)
{
    jn_text_hash_config cfg = jn_text_hash_defaults();
    cfg.dim_bits = 20;
    cfg.seed = 0x5eed;
    jn_text_sparse x = {0};
    int rc = jn_text_features(&cfg, s, n, &x);
    if (rc)
        return rc;
    memset(out, 0, dim * sizeof *out);
    for (size_t i = 0; i < x.n; i++) {
        uint32_t h = fmix32(x.idx[i] ^ 0x9e3779b9u);
        out[h % dim] += (h & 0x80000000u) ? -x.val[i] : x.val[i];
    }
    jn_text_sparse_free(&x);
    double norm = 0;
    for (size_t j = 0; j < dim; j++)
        norm += (double)out[j] * out[j];
    if (norm > 0) {
        float inv = (float)(1.0 / sqrt(norm));
        for (size_t j = 0; j < dim; j++)
            out[j] *= inv;
    }
    return 0;
}
