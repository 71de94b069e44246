/* tokenizer_tool.c — the C tokenizer (adapters/tokenizer) from the command line, for test_tokenizer.py (decode
 * round trips against the Hugging Face reference) and bench/transformers.sh (throughput in the same process shape as
 * the reference's bench).
 *
 *   tokenizer_tool decode TOKENIZER.json IDS.json     IDS: [[id, ...], ...] -> prints [[skip=true, skip=false], ...]
 *   tokenizer_tool bench TOKENIZER.json STRINGS.json ROUNDS   prints {"strings_per_s": x, "tokens": n, "seconds": s}
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokenizer/tokenizer.h"

static int decode(jn_tokenizer *tk, const char *ids_file)
{
    json_error_t je;
    json_t *rows = json_load_file(ids_file, 0, &je);
    if (!json_is_array(rows)) {
        fprintf(stderr, "tokenizer_tool: %s: %s\n", ids_file, je.text);
        return 1;
    }
    json_t *out = json_array();
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        size_t n = json_array_size(row);
        int64_t *ids = malloc((n + 1) * sizeof *ids);
        for (size_t k = 0; k < n; k++)
            ids[k] = json_integer_value(json_array_get(row, k));
        json_t *pair = json_array();
        for (int skip = 1; skip >= 0; skip--) {
            char *s;
            size_t len;
            jn_err err = {0};
            if (jn_tokenizer_decode(tk, ids, n, skip, &s, &len, &err)) {
                fprintf(stderr, "tokenizer_tool: row %zu: %s\n", i, err.msg);
                return 1;
            }
            json_array_append_new(pair, json_stringn(s, len));
            free(s);
        }
        json_array_append_new(out, pair);
        free(ids);
    }
    json_dumpf(out, stdout, JSON_COMPACT);
    json_decref(out);
    json_decref(rows);
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int bench(jn_tokenizer *tk, const char *strings_file, int rounds)
{
    json_error_t je;
    json_t *arr = json_load_file(strings_file, JSON_ALLOW_NUL, &je); /* the strings hold U+0000 too */
    if (!json_is_array(arr)) {
        fprintf(stderr, "tokenizer_tool: %s: %s\n", strings_file, je.text);
        return 1;
    }
    size_t n = json_array_size(arr);
    const char **s = malloc(n * sizeof *s);
    size_t *len = malloc(n * sizeof *len);
    for (size_t i = 0; i < n; i++) {
        s[i] = json_string_value(json_array_get(arr, i));
        len[i] = json_string_length(json_array_get(arr, i));
    }
    size_t tokens = 0;
    double t0 = 0;
    for (int r = -1; r < rounds; r++) { /* round -1: warm-up */
        if (r == 0)
            t0 = now();
        tokens = 0;
        for (size_t i = 0; i < n; i++) {
            jn_tok_encoding e;
            jn_err err = {0};
            if (jn_tokenizer_encode(tk, s[i], len[i], NULL, &e, &err)) {
                fprintf(stderr, "tokenizer_tool: string %zu: %s\n", i, err.msg);
                return 1;
            }
            tokens += e.n;
            jn_tok_encoding_free(&e);
        }
    }
    double sec = now() - t0;
    printf("{\"strings_per_s\": %.1f, \"tokens\": %zu, \"seconds\": %.3f}\n", n * rounds / sec, tokens, sec);
    free(s);
    free(len);
    json_decref(arr);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: tokenizer_tool decode TOKENIZER.json IDS.json | bench TOKENIZER.json STRINGS.json "
                        "ROUNDS\n");
        return 2;
    }
    jn_err err = {0};
    jn_tokenizer *tk = jn_tokenizer_load(argv[2], &err);
    if (!tk) {
        fprintf(stderr, "tokenizer_tool: %s\n", err.msg);
        return 1;
    }
    int rc = !strcmp(argv[1], "decode") ? decode(tk, argv[3])
             : !strcmp(argv[1], "bench") ? bench(tk, argv[3], argc > 4 ? atoi(argv[4]) : 3)
                                          : 2;
    jn_tokenizer_free(tk);
    return rc;
}
