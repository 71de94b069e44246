/* stream_peek.c — the control fields of a junction.v1.InferRequest read off the wire without decoding the message
 * (junction.v1.Engine/InferStream: a multiplexing broker's message id, cancel and timeout_us, issue #24). The
 * top-level fields are walked across the byte buffer's slices; the inputs are skipped, not copied.
 *
 * Thread-safety: pure function of its arguments. */
#include <string.h>

#include "stream_peek.h"

/* InferRequest's field numbers (broker.proto). */
enum { F_ID = 3, F_CANCEL = 7, F_TIMEOUT_US = 8 };

typedef struct cursor {
    const grpc_slice *slices;
    size_t n, i, off;
} cursor;

static int next_byte(cursor *c, uint8_t *b)
{
    while (c->i < c->n && c->off >= GRPC_SLICE_LENGTH(c->slices[c->i])) {
        c->i++;
        c->off = 0;
    }
    if (c->i >= c->n)
        return -1;
    *b = GRPC_SLICE_START_PTR(c->slices[c->i])[c->off++];
    return 0;
}

static int read_varint(cursor *c, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        uint8_t b;
        if (next_byte(c, &b))
            return -1;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 0;
    }
    return -1;
}

/* Skips n bytes, or copies up to cap of them into out (when out is set). */
static int take(cursor *c, uint64_t n, char *out, size_t cap, size_t *got)
{
    size_t copied = 0;
    while (n > 0) {
        if (c->i >= c->n)
            return -1;
        size_t avail = GRPC_SLICE_LENGTH(c->slices[c->i]) - c->off;
        if (avail == 0) {
            c->i++;
            c->off = 0;
            continue;
        }
        size_t step = n < avail ? (size_t)n : avail;
        if (out && copied < cap) {
            size_t k = step < cap - copied ? step : cap - copied;
            memcpy(out + copied, GRPC_SLICE_START_PTR(c->slices[c->i]) + c->off, k);
            copied += k;
        }
        c->off += step;
        n -= step;
    }
    if (got)
        *got = copied;
    return 0;
}

int jn_stream_peek_v1(grpc_byte_buffer *bb, jn_stream_peek *out)
{
    memset(out, 0, sizeof *out);
    if (!bb || bb->type != GRPC_BB_RAW || bb->data.raw.compression != GRPC_COMPRESS_NONE)
        return -1;
    cursor c = {bb->data.raw.slice_buffer.slices, bb->data.raw.slice_buffer.count, 0, 0};
    for (;;) {
        uint64_t key;
        uint8_t probe;
        cursor save = c;
        if (next_byte(&c, &probe))
            return 0; /* the end of the message */
        c = save;
        if (read_varint(&c, &key))
            return -1;
        uint64_t field = key >> 3, v;
        switch (key & 7) {
        case 0:
            if (read_varint(&c, &v))
                return -1;
            if (field == F_CANCEL)
                out->cancel = v != 0;
            else if (field == F_TIMEOUT_US)
                out->timeout_us = (int64_t)v;
            break;
        case 1:
            if (take(&c, 8, NULL, 0, NULL))
                return -1;
            break;
        case 2: {
            if (read_varint(&c, &v))
                return -1;
            size_t got = 0;
            bool id = field == F_ID;
            if (take(&c, v, id ? out->id : NULL, sizeof out->id - 1, &got))
                return -1;
            if (id) { /* the last one counts, as in a decoder */
                out->id[got] = '\0';
                out->id_truncated = v >= sizeof out->id;
            }
            break;
        }
        case 5:
            if (take(&c, 4, NULL, 0, NULL))
                return -1;
            break;
        default:
            return -1;
        }
    }
}
