/* batch_rows.c — which requests may share a batch, and their rows joined and split (batch_rows.h). */
#include "batch_rows.h"

#include <stdlib.h>
#include <string.h>

static bool same_params(const jn_params *a, const jn_params *b)
{
    static const char *const ignored[] = {"priority", "timeout"};
    size_t na = 0, nb = 0;
    for (int pass = 0; pass < 2; pass++) {
        const jn_params *p = pass ? b : a;
        size_t *n = pass ? &nb : &na;
        for (size_t i = 0; p && i < p->count; i++)
            if (strcmp(p->items[i].key, ignored[0]) != 0 && strcmp(p->items[i].key, ignored[1]) != 0)
                (*n)++;
    }
    if (na != nb)
        return false;
    for (size_t i = 0; a && i < a->count; i++) {
        const jn_param *x = &a->items[i];
        if (strcmp(x->key, ignored[0]) == 0 || strcmp(x->key, ignored[1]) == 0)
            continue;
        const jn_param *y = jn_params_find(b, x->key);
        if (!y || y->type != x->type)
            return false;
        switch (x->type) {
        case JN_PARAM_BOOL:
            if (x->v.b != y->v.b)
                return false;
            break;
        case JN_PARAM_INT:
            if (x->v.i != y->v.i)
                return false;
            break;
        case JN_PARAM_DOUBLE:
            if (memcmp(&x->v.d, &y->v.d, sizeof x->v.d) != 0)
                return false;
            break;
        case JN_PARAM_STRING:
            if (strcmp(x->v.s, y->v.s) != 0)
                return false;
            break;
        }
    }
    return true;
}

/* May a and b share a batch? */
bool jn_batch_compatible(const jn_batch_item *a, const jn_batch_item *b)
{
    if (!a->rows || !b->rows || a->inputs->count != b->inputs->count || a->n_outputs != b->n_outputs)
        return false;
    for (size_t i = 0; i < a->inputs->count; i++) {
        const jn_tensor *x = a->inputs->items[i];
        const jn_tensor *y = jn_tensor_list_find(b->inputs, x->name);
        if (!y || y->dtype != x->dtype || y->ndim != x->ndim)
            return false;
        for (int d = 1; d < x->ndim; d++)
            if (x->shape[d] != y->shape[d])
                return false;
    }
    for (size_t i = 0; i < a->n_outputs; i++)
        if (strcmp(a->outputs[i], b->outputs[i]) != 0)
            return false;
    return same_params(a->params, b->params);
}


/* Rows of the request: its inputs' shared first dimension (0 = it cannot join a batch). */
int64_t jn_batch_rows_of(const jn_tensor_list *inputs)
{
    int64_t rows = -1;
    for (size_t i = 0; i < inputs->count; i++) {
        const jn_tensor *t = inputs->items[i];
        if (t->ndim < 1 || t->shape[0] < 1 || (rows >= 0 && t->shape[0] != rows))
            return 0;
        rows = t->shape[0];
    }
    return rows > 0 ? rows : 0;
}

/* The batch's inputs: each of the leader's inputs, every request's rows one after the other. */
int jn_batch_gather(const jn_batch_item *batch, int64_t total, jn_tensor_list *ins, jn_err *err)
{
    const jn_tensor_list *lead = batch->inputs;
    for (size_t i = 0; i < lead->count; i++) {
        const jn_tensor *x = lead->items[i];
        size_t bytes = 0;
        for (const jn_batch_item *it = batch; it; it = it->next)
            bytes += jn_tensor_list_find(it->inputs, x->name)->byte_size;
        jn_buffer *buf = jn_buffer_alloc(bytes ? bytes : 1);
        if (!buf)
            return jn_err_set(err, JN_ENOMEM, "out of memory batching input '%s'", x->name);
        size_t at = 0;
        for (const jn_batch_item *it = batch; it; it = it->next) {
            const jn_tensor *t = jn_tensor_list_find(it->inputs, x->name);
            if (t->byte_size)
                memcpy((char *)buf->data + at, t->data, t->byte_size);
            at += t->byte_size;
        }
        int64_t shape[JN_MAX_DIMS];
        memcpy(shape, x->shape, sizeof shape);
        shape[0] = total;
        jn_tensor *t = jn_tensor_wrap(x->name, x->dtype, x->ndim, shape, buf, buf->data, bytes, err);
        jn_buffer_unref(buf);
        if (!t || jn_tensor_list_push(ins, t))
            return err->code ? err->code : jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    return 0;
}

/* Each request's rows of every output, as tensors over the batch's buffers. */
int jn_batch_split(const char *model, jn_batch_item *batch, int64_t total, jn_tensor_list *outs, jn_tensor_list *mine,
                   jn_err *err)
{
    size_t k = 0;
    for (jn_batch_item *it = batch; it; it = it->next, k++)
        jn_tensor_list_init(&mine[k]);
    for (size_t o = 0; o < outs->count; o++) {
        const jn_tensor *t = outs->items[o];
        if (t->ndim < 1 || t->shape[0] != total)
            return jn_err_set(err, JN_EINTERNAL,
                              "model '%s' batches, but its output '%s' has %s%lld rows for a batch of %lld",
                              model, t->name, t->ndim < 1 ? "no first dimension, " : "",
                              (long long)(t->ndim < 1 ? 0 : t->shape[0]), (long long)total);
        /* byte offset of each row's start (BYTES elements have their own lengths) */
        size_t *row_at = malloc(((size_t)total + 1) * sizeof *row_at);
        if (!row_at)
            return jn_err_set(err, JN_ENOMEM, "out of memory");
        if (t->dtype == JN_DTYPE_BYTES) {
            int64_t per_row = total ? jn_tensor_element_count(t) / total : 0;
            size_t pos = 0;
            const uint8_t *e;
            uint32_t len;
            for (int64_t r = 0; r < total; r++) {
                row_at[r] = pos;
                for (int64_t j = 0; j < per_row; j++)
                    if (!jn_bytes_next(t->data, t->byte_size, &pos, &e, &len)) {
                        free(row_at);
                        return jn_err_set(err, JN_EINTERNAL, "model '%s': output '%s' is malformed",
                                          model, t->name);
                    }
            }
            row_at[total] = pos;
        } else {
            size_t row = t->byte_size / (size_t)total;
            for (int64_t r = 0; r <= total; r++)
                row_at[r] = (size_t)r * row;
        }
        int64_t r0 = 0;
        k = 0;
        int rc = 0;
        for (jn_batch_item *it = batch; it && !rc; it = it->next, k++) {
            int64_t shape[JN_MAX_DIMS];
            memcpy(shape, t->shape, sizeof shape);
            shape[0] = it->rows;
            jn_tensor *part = jn_tensor_wrap(t->name, t->dtype, t->ndim, shape, t->buffer,
                                             (char *)t->data + row_at[r0], row_at[r0 + it->rows] - row_at[r0], err);
            if (!part || jn_tensor_list_push(&mine[k], part))
                rc = err->code ? err->code : jn_err_set(err, JN_ENOMEM, "out of memory");
            r0 += it->rows;
        }
        free(row_at);
        if (rc)
            return rc;
    }
    return 0;
}
