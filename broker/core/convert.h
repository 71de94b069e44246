/* convert.h — value conversions the pipeline compiler inserts between a producer's port and a consumer's port:
 * a table of entries, each able to plan a conversion at compile time and apply it at run time. The table is open:
 * jn_conversions holds the rows jn_core implements itself, and jn_convert_register adds rows from libraries jn_core
 * must not depend on (engines/builtin.c registers the image codec's "decode-image" at startup).
 *
 * Ownership: a jn_convert_step's result port borrows its strings from the ports it was planned from (the pipeline
 * keeps those engines alive). jn_convert_apply consumes its input tensor and returns a new one (reshape shares the
 * bytes; casts and label picks allocate).
 */
#ifndef JN_CONVERT_H
#define JN_CONVERT_H

#include <stdbool.h>
#include <stddef.h>

#include "pipeline.h"
#include "signature.h"

typedef struct jn_conversion jn_conversion;

/* One planned conversion. */
typedef struct jn_convert_step {
    const jn_conversion *conv;
    jn_port result;     /* what it produces (borrowed strings) */
    const jn_port *to;  /* the consumer's port it converts towards */
    const jn_port *from; /* the port it converts from (labels for top-1) */
    double scale, offset;
} jn_convert_step;

struct jn_conversion {
    const char *name;
    /* Plans turning `from` towards `to` under the binding's declarations; false if this conversion cannot. */
    bool (*plan)(const jn_port *from, const jn_port *to, const jn_binding *b, jn_convert_step *out);
    /* Converts one tensor (named after the consumer's port). Takes `in`. */
    int (*apply)(const jn_convert_step *step, jn_tensor *in, jn_tensor **out, jn_err *err);
};

/* The built-in rows, NULL-terminated (name == NULL). */
extern const jn_conversion jn_conversions[];

#define JN_CONVERT_MAX_REGISTERED 16

/* Adds a row after the built-in ones; planning tries rows in table order. `conv` is borrowed for the life of the
 * process (a static const). Registering the same row again is a no-op. Returns 0, or JN_ERESOURCE when the table
 * is full. Thread-safety: may run concurrently with planning (rows are published atomically), but register at
 * startup, before pipelines are compiled, or earlier compiles will not have seen the row. */
int jn_convert_register(const jn_conversion *conv);

/* Does a value of port `from` fit port `to` as it is? If not, `why` says what differs. */
bool jn_port_fits(const jn_port *to, const jn_port *from, char *why, size_t n);

#define JN_CONVERT_MAX_CHAIN 2

/* Plans a chain of at most JN_CONVERT_MAX_CHAIN conversions that makes `from` fit `to`. Returns the chain length
 * (0 = fits as it is), or -1 when no chain exists. */
int jn_convert_plan(const jn_port *from, const jn_port *to, const jn_binding *b,
                    jn_convert_step chain[JN_CONVERT_MAX_CHAIN]);

/* Applies a planned chain. Takes `in` (also on failure). */
int jn_convert_apply(const jn_convert_step *chain, int n, jn_tensor *in, jn_tensor **out, jn_err *err);

/* Is a cast from -> to lossless (no declaration needed)? */
bool jn_cast_is_lossless(jn_dtype from, jn_dtype to);

#endif
