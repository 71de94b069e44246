/* defer_set.h — a pump thread's set of streams whose writes wait until the pump's completion queue has nothing
 * ready (issue #24: a burst's messages leave in one write per stream). Used by the multiplexed remote streams
 * (broker/remote/endpoint_mux_stream.c) and the server's infer streams (broker/rpc/stream.c), each with a
 * thread-local set of its own.
 *
 * Ownership: the set holds pointers, not the objects; the caller takes a reference for each item added (the add
 * says when) and drops it when it flushes. Thread-safety: none; a set belongs to one thread (declare it __thread).
 */
#ifndef JN_CORE_DEFER_SET_H
#define JN_CORE_DEFER_SET_H

#include <stdbool.h>

#define JN_DEFER_MAX 16

typedef struct jn_defer_set {
    const void *queue; /* the pump's completion queue; NULL: this thread defers nothing */
    void *items[JN_DEFER_MAX];
    int n;
} jn_defer_set;

typedef enum {
    JN_DEFER_NOW,   /* not this pump's stream, or the set is full: write now */
    JN_DEFER_ADDED, /* added: take a reference, dropped at the flush */
    JN_DEFER_THERE, /* already waiting for the flush */
} jn_defer_result;

/* Whether `item`, a stream of completion queue `queue` with no write in progress, waits for the flush. */
static inline jn_defer_result jn_defer_add(jn_defer_set *d, const void *queue, void *item)
{
    if (!d->queue || d->queue != queue)
        return JN_DEFER_NOW;
    for (int i = 0; i < d->n; i++)
        if (d->items[i] == item)
            return JN_DEFER_THERE;
    if (d->n == JN_DEFER_MAX)
        return JN_DEFER_NOW;
    d->items[d->n++] = item;
    return JN_DEFER_ADDED;
}

#endif
