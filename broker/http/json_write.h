/* json_write.h — JSON text written straight into one growing buffer, without building a jansson tree: the REST
 * front end's hot answers (the v2 infer response, rest_v2.c) are made this way. Values come out exactly as jansson's
 * json_dumps(JSON_COMPACT) prints them (string escapes, integers), floats as float_text.h says, so an answer is the
 * same bytes whichever way it was made (tests/unit/http/test_rest_json.c compares the two).
 *
 * Errors: an allocation failure marks the buffer failed; later calls do nothing and jn_json_buf_take returns NULL,
 * so a writer checks once at the end.
 * Ownership: the buffer owns `data` until jn_json_buf_take hands it (malloc'd, NUL-terminated) to the caller;
 * jn_json_buf_free releases whatever is left. Thread-safety: one buffer, one thread.
 */
#ifndef JN_HTTP_JSON_WRITE_H
#define JN_HTTP_JSON_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct jn_json_buf {
    char *data;
    size_t len, cap;
    bool failed;
} jn_json_buf;

/* An empty buffer with room for `capacity` bytes (allocated at once; 0 = at the first write). */
void jn_json_buf_init(jn_json_buf *b, size_t capacity);
void jn_json_buf_free(jn_json_buf *b);
/* The text (NUL-terminated, *len without the NUL) now owned by the caller, or NULL after a failure. The buffer is
 * left empty. */
char *jn_json_buf_take(jn_json_buf *b, size_t *len);

/* Bytes as they are (punctuation, keys known to need no escape). jn_json_lit takes a string literal only (it uses
 * sizeof). */
void jn_json_raw(jn_json_buf *b, const char *s, size_t n);
#define jn_json_lit(b, literal) jn_json_raw((b), "" literal, sizeof(literal) - 1)

/* A JSON string of UTF-8 text: quotes, backslashes and control characters escaped as jansson does (\b \f \n \r \t,
 * others \u00XX). Bytes that are not valid UTF-8 are written as '?' (as jn__json_text does). */
void jn_json_string(jn_json_buf *b, const char *s, size_t n);
void jn_json_int(jn_json_buf *b, int64_t v);
void jn_json_bool(jn_json_buf *b, bool v);
/* A float (FP32, FP16 or BF16 widened) as float_text.h prints it; NaN and infinities as the strings "NaN",
 * "Infinity", "-Infinity". */
void jn_json_float32(jn_json_buf *b, float v);

#endif
