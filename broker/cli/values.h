/* values.h — what the client commands (infer, models) share to read and show tensor values: a per-command arena, the
 * element codecs (one value of any numeric dtype from text into little-endian bytes and back, printed in its
 * shortest exact form) and the JSON / text output helpers.
 *
 * Ownership: arena memory lives until jn_cli_arena_free; the arena exits the process on out-of-memory (a command-line
 * tool has nothing better to do). Thread-safety: one arena per thread; the rest are plain functions.
 */
#ifndef JN_CLI_VALUES_H
#define JN_CLI_VALUES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "junction/v1/contract.pb-c.h"
#include "tensor.h"

typedef struct jn_cli_arena {
    struct jn_cli_arena_chunk *head; /* NULL: empty */
} jn_cli_arena;

/* Zeroed memory. */
void *jn_cli_arena_alloc(jn_cli_arena *a, size_t size);
void *jn_cli_arena_array(jn_cli_arena *a, size_t n, size_t size);
char *jn_cli_arena_strndup(jn_cli_arena *a, const char *s, size_t n);
char *jn_cli_arena_strdup(jn_cli_arena *a, const char *s);
void jn_cli_arena_free(jn_cli_arena *a);
#define JN_CLI_ARENA_NEW(a, type) ((type *)jn_cli_arena_alloc((a), sizeof(type)))

/* A C string as a JSON string (NULL as ""). */
void jn_cli_json_cstr(FILE *out, const char *s);
/* A BYTES element in JSON: a string when it is UTF-8, else {"base64": "..."}. */
void jn_cli_json_bytes(FILE *out, const uint8_t *p, size_t n);
/* A BYTES element for people: quoted, with C escapes for control characters and for non-UTF-8 bytes. */
void jn_cli_text_bytes(FILE *out, const uint8_t *p, size_t n);
/* [d0,d1] for text, [d0, d1] for JSON. */
void jn_cli_print_shape(FILE *out, const int64_t *shape, size_t n, bool json);

/* The shortest decimal that reads back as the same element of dt (1.5, not 1.50000000); NaN and infinities are
 * "nan", "inf", "-inf", or null in JSON. */
void jn_cli_format_real(char *buf, size_t n, double v, jn_dtype dt, bool json);
/* One element of dt at p (little-endian), printed. */
void jn_cli_print_element(FILE *out, const uint8_t *p, jn_dtype dt, bool json);
/* Parses one value of a numeric dtype into its little-endian bytes at out. Returns 0, 1 (not a valid value of the
 * type) or 2 (out of the type's range). */
int jn_cli_parse_element(const char *tok, jn_dtype dt, uint8_t *out);

/* "FP32[1,-1]" for a signature port. */
void jn_cli_port_type(char *buf, size_t n, const Junction__V1__Port *port);

/* Flushes stdout: rc, or JN_CLI_EXIT_FAIL after a message when the output could not be written. */
int jn_cli_finish_stdout(const char *cmd, int rc);

#endif
