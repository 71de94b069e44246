/* text.h — the text engines' shared machinery: a UTF-8 tokenizer, hashed word and character n-gram features, a
 * linear softmax classifier over them, and the model file of the `spam-text` engine.
 *
 * Tokens: runs of word characters (ASCII letters, digits, apostrophe, and non-ASCII letters that are neither CJK nor
 * punctuation), lower-cased (ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic capitals); every CJK character
 * (Han, kana, Hangul) is a token of its own; whitespace and punctuation separate. Optionally English stop words are
 * dropped.
 *
 * Features (jn_text_features): word unigrams, word bigrams (consecutive kept tokens) and character n-grams of
 * n = char_min..char_max code points inside each token framed by '<' and '>' ("<cat>" -> "<ca", "cat", "at>", ...).
 * Each feature is hashed with 32-bit FNV-1a over a one-byte namespace tag ('w', 'b', 'c') and the bytes, seeded;
 * the hash modulo 2^dim_bits is its bucket. Term frequencies per bucket become 1 + ln(tf) (sublinear TF), and the
 * vector is L2-normalized (an empty text gives an empty vector).
 *
 * Ownership: jn_text_sparse owns its arrays (jn_text_sparse_free); jn_text_model owns its weights. Everything here
 * is pure or works on caller-owned state: thread-safe as long as each thread has its own output objects. A loaded
 * jn_text_model is read-only and may be shared by threads.
 */
#ifndef JN_ENGINES_TEXT_H
#define JN_ENGINES_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Receives one token (lower-cased, not NUL-terminated; borrowed until the callback returns). Non-zero stops. */
typedef int (*jn_text_token_fn)(void *arg, const char *tok, size_t len);

/* Tokenizes [s, s+n) (valid UTF-8 expected; invalid bytes are taken as single code points). Returns 0 or the
 * first non-zero callback value (or JN_ENOMEM). */
int jn_text_tokenize(const uint8_t *s, size_t n, bool stopwords, jn_text_token_fn fn, void *arg);

/* Is the lower-cased token an English stop word? */
bool jn_text_is_stopword(const char *tok, size_t len);

/* Lower-case of one code point (ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic; others unchanged). */
uint32_t jn_text_lower(uint32_t cp);

/* 32-bit FNV-1a over data, continuing from h (start with JN_FNV_OFFSET). */
#define JN_FNV_OFFSET 2166136261u
uint32_t jn_text_fnv1a(uint32_t h, const void *data, size_t n);

typedef struct jn_text_hash_config {
    int dim_bits;     /* D = 2^dim_bits buckets (8..24) */
    int word_ngrams;  /* 1 = unigrams, 2 = + bigrams */
    int char_min;     /* character n-gram sizes; char_max 0 = none */
    int char_max;
    bool stopwords;   /* drop English stop words before the word features */
    uint32_t seed;    /* mixed into every hash */
} jn_text_hash_config;

/* dim_bits 18, word bigrams, char 3..5, no stop words, seed 0. */
jn_text_hash_config jn_text_hash_defaults(void);

typedef struct jn_text_sparse {
    uint32_t *idx; /* ascending, unique */
    float *val;
    size_t n, cap;
} jn_text_sparse;

void jn_text_sparse_free(jn_text_sparse *v);

/* Features of one text into *out (reset first; its arrays are reused). 0 or JN_ENOMEM. */
int jn_text_features(const jn_text_hash_config *cfg, const uint8_t *s, size_t n, jn_text_sparse *out);

/* A linear softmax classifier: logits = x·W + b with W row-major [D][K] (a feature's K weights are adjacent). */
typedef struct jn_text_linear {
    size_t dim, k;
    float *w; /* dim * k */
    float *b; /* k */
} jn_text_linear;

/* Softmax probabilities of x into prob[k]. */
void jn_text_linear_forward(const jn_text_linear *m, const jn_text_sparse *x, float *prob);

/* Cross-entropy of one example with label y: forward, then adds dL/dW (scaled by `scale`) into gw at x's rows and
 * dL/db into gb. Returns the loss (-ln p_y) and, through *pred, the arg-max class. */
float jn_text_linear_backward(const jn_text_linear *m, const jn_text_sparse *x, int y, float scale, float *gw,
                              float *gb, int *pred);

/* A trained classifier as shipped: hash config, labels, weights. */
typedef struct jn_text_model {
    jn_text_hash_config cfg;
    jn_text_linear lin;
    char **labels; /* lin.k of them */
} jn_text_model;

/* Loads OUT.safetensors written by jn_train_spam_text (tensors W [D,K], b [K]; metadata "labels" (JSON array),
 * "dim_bits", "word_ngrams", "char_min", "char_max", "stopwords", "seed"). JN_EINVAL naming the file otherwise. */
int jn_text_model_load(const char *path, jn_text_model *m, jn_err *err);
void jn_text_model_free(jn_text_model *m);
/* Writes m to path (safetensors with the metadata above). */
int jn_text_model_save(const char *path, const jn_text_model *m, jn_err *err);

/* Dense embedding: the features (hashed into 2^20 buckets) projected to `dim` by signed hashing (a sparse random
 * ±1 projection: bucket = mix(i) mod dim, sign = a bit of mix(i)), then L2-normalized. out[dim]. 0 or JN_ENOMEM. */
int jn_text_embed(const uint8_t *s, size_t n, float *out, size_t dim);

/* Where the shipped models are: $JUNCTION_MODELS_DIR, else <exe dir>/../engines/text/models, else
 * <exe dir>/../../engines/text/models, else the source tree's engines/text/models (baked in at compile time).
 * Writes the first directory holding `file` into buf as a full path to the file. 0, or JN_ENOTFOUND with err
 * listing where it looked. */
int jn_text_find_model(const char *file, char *buf, size_t n, jn_err *err);

#endif
