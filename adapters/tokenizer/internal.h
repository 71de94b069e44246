/* internal.h — the tokenizer module's private state, shared by its files: tokenizer.c (load, encode, decode),
 * post.c (post-processor, added tokens, truncation, padding), normalize.c, pretokenize.c, models.c, decode.c,
 * util.c (containers, UTF-8, JSON readers, regex).
 *
 * Ownership: everything hangs off struct jn_tokenizer and is freed by jn_tokenizer_free. After load nothing is
 * written: the structures are read by any number of threads at once. Per-call scratch (jn_tk_buf, jn_tk_words) is
 * owned by the call.
 */
#ifndef JN_TOKENIZER_INTERNAL_H
#define JN_TOKENIZER_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "tokenizer.h"

/* ---- growable byte buffer ---- */
typedef struct jn_tk_buf {
    char *p;
    size_t n, cap;
} jn_tk_buf;

int jn__tk_buf_put(jn_tk_buf *b, const void *s, size_t n);
int jn__tk_buf_putc(jn_tk_buf *b, uint32_t cp); /* UTF-8 encode */

/* ---- words: pieces of text after pre-tokenization (offsets into one buffer) ---- */
typedef struct jn_tk_words {
    jn_tk_buf text;
    size_t *off, *len;
    size_t n, cap;
} jn_tk_words;

int jn__tk_words_add(jn_tk_words *w, const char *s, size_t n); /* copies s (which must not point into w->text) */
void jn__tk_words_clear(jn_tk_words *w);
void jn__tk_words_free(jn_tk_words *w);

/* Decodes one UTF-8 code point at s[0..n) (n >= 1, valid UTF-8 already checked); returns its length. */
size_t jn__tk_utf8_next(const char *s, size_t n, uint32_t *cp);
/* Strict UTF-8 check; returns the byte offset of the first bad sequence or n when valid. */
size_t jn__tk_utf8_check(const char *s, size_t n);

/* ---- string -> int map (open addressing, keys copied) ---- */
typedef struct jn_tk_strmap {
    char **keys;   /* NUL-terminated copies (keys may hold NUL bytes too: lens says how long) */
    size_t *lens;
    int64_t *vals;
    size_t cap, n; /* cap: power of two */
} jn_tk_strmap;

int jn__tk_strmap_put(jn_tk_strmap *m, const char *k, size_t kn, int64_t v); /* replaces */
int64_t jn__tk_strmap_get(const jn_tk_strmap *m, const char *k, size_t kn); /* -1 when absent */
void jn__tk_strmap_free(jn_tk_strmap *m);

/* ---- u64 -> (rank, id) map for BPE merges ---- */
typedef struct jn_tk_pairmap {
    uint64_t *keys; /* 0 = empty (keys are stored +1) */
    int32_t *rank, *id;
    size_t cap, n;
} jn_tk_pairmap;

int jn__tk_pairmap_put(jn_tk_pairmap *m, uint64_t k, int32_t rank, int32_t id);
bool jn__tk_pairmap_get(const jn_tk_pairmap *m, uint64_t k, int32_t *rank, int32_t *id);
void jn__tk_pairmap_free(jn_tk_pairmap *m);

/* ---- regex (Split, Replace, GPT-2's pattern) ---- */
typedef struct jn_tk_regex jn_tk_regex;
jn_tk_regex *jn__tk_regex_compile(const char *pattern, bool literal, const char *path, jn_err *err);
/* Finds the next match at or after start: 1 found ([*ms, *me)), 0 none, < 0 error. */
int jn__tk_regex_find(const jn_tk_regex *re, const char *s, size_t n, size_t start, size_t *ms, size_t *me);
/* The same with a caller's match scratch (jn__tk_regex_scratch; NULL for a literal pattern), for loops of finds. */
void *jn__tk_regex_scratch(const jn_tk_regex *re);
void jn__tk_regex_scratch_free(void *scratch);
int jn__tk_regex_find_with(const jn_tk_regex *re, void *scratch, const char *s, size_t n, size_t start, size_t *ms,
                           size_t *me);
void jn__tk_regex_free(jn_tk_regex *re);
/* Reads a {"String": s} / {"Regex": r} pattern object found at path.pattern. */
int jn__tk_pattern_parse(json_t *pat, const char *path, jn_tk_regex **re, jn_err *err);

/* ---- normalizers ---- */
enum jn_tk_norm_kind {
    JN_TK_NORM_BERT,
    JN_TK_NORM_LOWERCASE,
    JN_TK_NORM_NFC,
    JN_TK_NORM_NFD,
    JN_TK_NORM_NFKC,
    JN_TK_NORM_NFKD,
    JN_TK_NORM_STRIP_ACCENTS,
    JN_TK_NORM_STRIP,
    JN_TK_NORM_REPLACE,
    JN_TK_NORM_PREPEND,
    JN_TK_NORM_SEQUENCE,
    JN_TK_NORM_BYTELEVEL,
};

typedef struct jn_tk_norm {
    enum jn_tk_norm_kind kind;
    bool clean_text, chinese, strip_accents, lowercase; /* BERT */
    bool left, right;                                    /* Strip */
    jn_tk_regex *re;                                     /* Replace */
    char *content;                                       /* Replace content, Prepend */
    struct jn_tk_norm *seq;                              /* Sequence */
    size_t nseq;
} jn_tk_norm;

int jn__tk_norm_parse(jn_tk_norm *n, json_t *j, const char *path, jn_err *err);
void jn__tk_norm_free(jn_tk_norm *n);
/* Normalizes in[0..n) into out (cleared first). */
int jn__tk_norm_apply(const jn_tk_norm *nm, const char *in, size_t n, jn_tk_buf *out);

/* ---- pre-tokenizers ---- */
enum jn_tk_pre_kind {
    JN_TK_PRE_BERT,
    JN_TK_PRE_WHITESPACE,
    JN_TK_PRE_WHITESPACE_SPLIT,
    JN_TK_PRE_BYTELEVEL,
    JN_TK_PRE_METASPACE,
    JN_TK_PRE_DIGITS,
    JN_TK_PRE_PUNCTUATION,
    JN_TK_PRE_SPLIT,
    JN_TK_PRE_SEQUENCE,
    JN_TK_PRE_UNICODE_SCRIPTS,
};

/* Split behaviours (tokenizers' SplitDelimiterBehavior). */
enum jn_tk_behavior {
    JN_TK_REMOVED,
    JN_TK_ISOLATED,
    JN_TK_MERGED_PREV,
    JN_TK_MERGED_NEXT,
    JN_TK_CONTIGUOUS,
};

enum jn_tk_prepend { JN_TK_PREPEND_ALWAYS, JN_TK_PREPEND_FIRST, JN_TK_PREPEND_NEVER };

typedef struct jn_tk_pre {
    enum jn_tk_pre_kind kind;
    bool add_prefix_space, use_regex; /* ByteLevel */
    char *replacement;                /* Metaspace (UTF-8 of one char) */
    enum jn_tk_prepend prepend;       /* Metaspace */
    bool split;                       /* Metaspace */
    bool individual_digits;           /* Digits */
    enum jn_tk_behavior behavior;     /* Punctuation, Split */
    bool invert;                      /* Split */
    jn_tk_regex *re;                  /* Split, ByteLevel (GPT-2 pattern) */
    struct jn_tk_pre *seq;
    size_t nseq;
} jn_tk_pre;

/* Metaspace's prepend_scheme (or the older add_prefix_space). */
int jn__tk_parse_prepend(json_t *j, const char *path, enum jn_tk_prepend *out, jn_err *err);
int jn__tk_pre_parse(jn_tk_pre *p, json_t *j, const char *path, jn_err *err);
void jn__tk_pre_free(jn_tk_pre *p);
/* Splits each word of in into out (cleared first). first: the words come from the start of the text (Metaspace's
 * "first" scheme). */
int jn__tk_pre_apply(const jn_tk_pre *p, jn_tk_words *in, jn_tk_words *out, bool first);

/* The byte-level alphabet (GPT-2's bytes_to_unicode): code point of each byte, and back (-1 = not byte-level). */
uint32_t jn__tk_byte_to_cp(uint8_t b);
int jn__tk_cp_to_byte(uint32_t cp);

/* Unicode classes as the tokenizers library defines them. */
bool jn__tk_is_whitespace(uint32_t cp);
bool jn__tk_is_punct(uint32_t cp);     /* BERT: ASCII punctuation or category P* */
bool jn__tk_is_cjk(uint32_t cp);

/* ---- models ---- */
enum jn_tk_model_kind { JN_TK_MODEL_WORDPIECE, JN_TK_MODEL_BPE, JN_TK_MODEL_UNIGRAM, JN_TK_MODEL_WORDLEVEL };

typedef struct jn_tk_model {
    enum jn_tk_model_kind kind;
    jn_tk_strmap vocab;
    char **id_to_tok; /* n_ids entries (NULL holes) */
    size_t n_ids;
    int64_t unk_id;          /* -1 = none */
    char *prefix;            /* WordPiece / BPE continuing_subword_prefix */
    size_t max_chars;        /* WordPiece max_input_chars_per_word */
    char *suffix;            /* BPE end_of_word_suffix */
    bool fuse_unk, byte_fallback, ignore_merges;
    jn_tk_pairmap merges;    /* BPE */
    double *scores;          /* Unigram, per id */
    size_t max_piece;        /* Unigram: longest piece in bytes */
    double min_score;
} jn_tk_model;

int jn__tk_model_parse(jn_tk_model *m, json_t *j, const char *path, jn_err *err);
void jn__tk_model_free(jn_tk_model *m);
/* Appends the ids of one word to *ids (grown with jn_grow). */
int jn__tk_model_tokenize(const jn_tk_model *m, const char *w, size_t n, int64_t **ids, size_t *nids, size_t *cap);

/* ---- added tokens ---- */
typedef struct jn_tk_added {
    char *content;
    size_t len;
    int64_t id;
    bool special, single_word, lstrip, rstrip, normalized;
} jn_tk_added;

/* ---- post-processor ---- */
typedef struct jn_tk_tpl_item {
    bool is_seq;   /* Sequence A/B; else special token */
    int seq;       /* 0 = A, 1 = B */
    int64_t *ids;  /* special token's ids */
    size_t nids;
    int64_t type_id;
} jn_tk_tpl_item;

enum jn_tk_post_kind { JN_TK_POST_NONE, JN_TK_POST_TEMPLATE, JN_TK_POST_BYTELEVEL };

typedef struct jn_tk_post {
    enum jn_tk_post_kind kind;
    jn_tk_tpl_item *single;
    size_t nsingle;
    bool type_ids; /* the pair template uses a type id other than 0 */
} jn_tk_post;

/* ---- decoders ---- */
enum jn_tk_dec_kind {
    JN_TK_DEC_WORDPIECE,
    JN_TK_DEC_BYTELEVEL,
    JN_TK_DEC_METASPACE,
    JN_TK_DEC_BPE,
    JN_TK_DEC_BYTEFALLBACK,
    JN_TK_DEC_FUSE,
    JN_TK_DEC_STRIP,
    JN_TK_DEC_REPLACE,
    JN_TK_DEC_CTC,
    JN_TK_DEC_SEQUENCE,
};

typedef struct jn_tk_dec {
    enum jn_tk_dec_kind kind;
    char *prefix;  /* WordPiece */
    bool cleanup;  /* WordPiece, CTC */
    char *replacement; /* Metaspace */
    enum jn_tk_prepend prepend;
    char *suffix;  /* BPE */
    char *content; /* Strip content, Replace content */
    size_t start, stop;
    jn_tk_regex *re; /* Replace */
    char *pad_token; /* CTC */
    struct jn_tk_dec *seq;
    size_t nseq;
} jn_tk_dec;

int jn__tk_dec_parse(jn_tk_dec *d, json_t *j, const char *path, jn_err *err);
void jn__tk_dec_free(jn_tk_dec *d);
/* Decodes tokens into out (appended). */
int jn__tk_dec_apply(const jn_tk_dec *d, jn_tk_words *tokens, jn_tk_buf *out);

/* ---- load-time configuration (post.c) ---- */
struct jn_tokenizer;
int jn__tk_post_parse(jn_tk_post *p, json_t *j, const char *path, jn_err *err);
int jn__tk_added_parse(struct jn_tokenizer *tk, json_t *a, jn_err *err);
int jn__tk_trunc_parse(struct jn_tokenizer *tk, json_t *t, jn_err *err);
int jn__tk_pad_parse(struct jn_tokenizer *tk, json_t *p, jn_err *err);

/* ---- the tokenizer ---- */
struct jn_tokenizer {
    jn_tk_model model;
    jn_tk_norm norm;
    bool has_norm;
    jn_tk_pre pre;
    bool has_pre;
    jn_tk_post post;
    jn_tk_dec dec;
    bool has_dec;
    jn_tk_added *added;
    size_t nadded;
    jn_tk_strmap added_map;
    size_t trunc_max; /* 0 = none */
    bool trunc_left;
    bool pad_enabled, pad_left;
    size_t pad_fixed, pad_multiple;
    int64_t pad_id, pad_type_id;
    size_t vocab_size;
};

/* JSON helpers: each names the path on error. */
int jn__tk_json_obj(json_t *j, const char *path, jn_err *err);
int jn__tk_get_bool(json_t *o, const char *key, bool dflt, bool *out, const char *path, jn_err *err);
int jn__tk_get_str(json_t *o, const char *key, const char *dflt, char **out, const char *path, jn_err *err);
int jn__tk_get_uint(json_t *o, const char *key, size_t dflt, size_t *out, const char *path, jn_err *err);
const char *jn__tk_type(json_t *o, const char *path, jn_err *err);

#endif
