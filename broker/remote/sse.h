/* sse.h — a Server-Sent Events parser (the text/event-stream of the WHATWG HTML spec, as OpenAI-compatible servers
 * stream their answers): bytes go in as they arrive, in pieces of any size; each complete event's data (its `data:`
 * lines joined by "\n") comes out through a callback. Lines end in "\n", "\r\n" or "\r" (a "\r\n" split across two
 * pieces counts once); a line starting with ':' is a comment; fields other than `data` (event, id, retry) are read
 * and ignored; an event is dispatched at a blank line, and one with no data line is not dispatched.
 *
 * Ownership: the parser owns its buffers (jn_sse_free). The data handed to the callback is borrowed for the call and
 * NUL-terminated after `len` bytes (a NUL byte inside is passed on as is: go by len). Thread-safety: one parser per stream, used by one thread at a time.
 */
#ifndef JN_REMOTE_SSE_H
#define JN_REMOTE_SSE_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* Returns 0 to go on, non-zero (a JN_E* code) to stop: jn_sse_feed then returns that code. */
typedef int (*jn_sse_event_fn)(void *arg, const char *data, size_t len);

typedef struct jn_sse {
    char *line; /* the line being read */
    size_t line_len, line_cap;
    char *data; /* the event being read: its data lines so far */
    size_t data_len, data_cap;
    bool has_data;
    bool after_cr; /* the last byte was '\r': a '\n' right after it ends nothing */
    size_t max_event; /* bytes of one line or one event's data beyond which feeding fails (JN_ERANGE) */
} jn_sse;

/* max_event 0 = 8 MiB. */
void jn_sse_init(jn_sse *p, size_t max_event);
void jn_sse_free(jn_sse *p);
/* Parses n more bytes, calling fn for each event they complete. 0, the callback's code, JN_ERANGE (a line or an
 * event larger than max_event; err says so) or JN_ENOMEM. */
int jn_sse_feed(jn_sse *p, const char *bytes, size_t n, jn_sse_event_fn fn, void *arg, jn_err *err);

#endif
