/* ops_seq.c — sequences and optionals as graph values: the boxes that hold them at run time (onnx_graph.h), and
 * SequenceEmpty, SequenceConstruct, SequenceAt, SequenceInsert, SequenceErase, SequenceLength, SplitToSequence,
 * ConcatFromSequence, Optional, OptionalHasElement, OptionalGetElement (opsets 11-18), and Identity over a
 * sequence or optional. All are dynamic operators (their outputs are sized as they run); any element dtype.
 *
 * Thread-safety: boxes are immutable once shared; the refcount is atomic. */
#include <stdlib.h>
#include <string.h>

#include "onnx_graph.h"

/* ---------------------------------------------------------------------------------------------------------------
 * Boxes */

ox_box *ox_box_new(jn_dtype dtype, jn_err *err)
{
    ox_box *b = calloc(1, sizeof *b);
    if (!b) {
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    b->refs = 1;
    b->dtype = dtype;
    return b;
}

ox_box *ox_box_ref(ox_box *b)
{
    if (b)
        __atomic_fetch_add(&b->refs, 1, __ATOMIC_RELAXED);
    return b;
}

void ox_box_unref(ox_box *b)
{
    if (!b || __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    for (size_t i = 0; i < b->n; i++)
        free(b->items[i].data);
    free(b->items);
    free(b);
}

int ox_box_insert(ox_box *b, size_t at, const ox_tensor *t, jn_err *err)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4;
        ox_tensor *ni = realloc(b->items, cap * sizeof *ni);
        if (!ni)
            return jn_err_set(err, JN_ENOMEM, "out of memory");
        b->items = ni;
        b->cap = cap;
    }
    ox_tensor c = *t;
    c.data = malloc(t->nbytes + 1);
    if (!c.data)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    if (t->nbytes)
        memcpy(c.data, t->data, t->nbytes);
    memmove(b->items + at + 1, b->items + at, (b->n - at) * sizeof *b->items);
    b->items[at] = c;
    b->n++;
    b->bytes += t->nbytes;
    return 0;
}

ox_box *ox_box_copy(const ox_box *src, jn_err *err)
{
    ox_box *b = ox_box_new(src->dtype, err);
    for (size_t i = 0; b && i < src->n; i++)
        if (ox_box_insert(b, i, &src->items[i], err)) {
            ox_box_unref(b);
            return NULL;
        }
    if (b)
        b->none = src->none;
    return b;
}

/* ---------------------------------------------------------------------------------------------------------------
 * Load-time checks */

static void set_out(ox_model *m, ox_node *n, int i, ox_kind kind, jn_dtype dt)
{
    if (i < n->n_out && n->out[i] >= 0) {
        m->values[n->out[i]].kind = kind;
        m->values[n->out[i]].dtype = dt;
    }
}

static ox_kind in_kind(const ox_model *m, const ox_node *n, int i)
{
    return ox_has_in(n, i) ? m->values[n->in[i]].kind : (ox_kind)-1;
}

static int need_kind(const ox_model *m, ox_node *n, int i, ox_kind kind, jn_err *err)
{
    static const char *const names[] = {"a tensor", "a sequence", "an optional tensor", "an optional sequence"};
    if (ox_has_in(n, i) && in_kind(m, n, i) != kind)
        return ox_reject(n, err, "input %d must be %s", i, names[kind]);
    return 0;
}

static int need_int_pos(const ox_model *m, ox_node *n, int i, jn_err *err)
{
    jn_dtype dt = ox_in_dtype(m, n, i);
    if (ox_has_in(n, i) && dt != JN_DTYPE_INT32 && dt != JN_DTYPE_INT64)
        return ox_reject(n, err, "input %d has dtype %s (INT32 or INT64 expected)", i, jn_dtype_name(dt));
    return 0;
}

static int seq_check(ox_model *m, ox_node *n, jn_err *err)
{
    const char *op = n->op_type;
    jn_dtype dt0 = ox_in_dtype(m, n, 0);
    if (strcmp(op, "SequenceEmpty") == 0) {
        jn_dtype dt = ox_dtype_from_onnx(ox_attr_int(n, "dtype", 1));
        if (!ox_dtype_supported(dt))
            return ox_reject(n, err, "dtype %lld is not supported", (long long)ox_attr_int(n, "dtype", 1));
        set_out(m, n, 0, OX_KIND_SEQ, dt);
    } else if (strcmp(op, "SequenceConstruct") == 0) {
        for (int i = 0; i < n->n_in; i++)
            if (need_kind(m, n, i, OX_KIND_TENSOR, err))
                return err->code;
            else if (ox_in_dtype(m, n, i) != dt0)
                return ox_reject(n, err, "input %d has dtype %s, input 0 %s", i,
                                 jn_dtype_name(ox_in_dtype(m, n, i)), jn_dtype_name(dt0));
        set_out(m, n, 0, OX_KIND_SEQ, dt0);
    } else if (strcmp(op, "SequenceAt") == 0) {
        if (need_kind(m, n, 0, OX_KIND_SEQ, err) || need_int_pos(m, n, 1, err))
            return err->code;
        set_out(m, n, 0, OX_KIND_TENSOR, dt0);
    } else if (strcmp(op, "SequenceInsert") == 0) {
        if (need_kind(m, n, 0, OX_KIND_SEQ, err) || need_kind(m, n, 1, OX_KIND_TENSOR, err) ||
            need_int_pos(m, n, 2, err))
            return err->code;
        if (ox_in_dtype(m, n, 1) != dt0)
            return ox_reject(n, err, "the tensor has dtype %s, the sequence holds %s",
                             jn_dtype_name(ox_in_dtype(m, n, 1)), jn_dtype_name(dt0));
        set_out(m, n, 0, OX_KIND_SEQ, dt0);
    } else if (strcmp(op, "SequenceErase") == 0) {
        if (need_kind(m, n, 0, OX_KIND_SEQ, err) || need_int_pos(m, n, 1, err))
            return err->code;
        set_out(m, n, 0, OX_KIND_SEQ, dt0);
    } else if (strcmp(op, "SequenceLength") == 0) {
        if (need_kind(m, n, 0, OX_KIND_SEQ, err))
            return err->code;
        set_out(m, n, 0, OX_KIND_TENSOR, JN_DTYPE_INT64);
    } else if (strcmp(op, "SplitToSequence") == 0) {
        if (need_kind(m, n, 0, OX_KIND_TENSOR, err) || need_kind(m, n, 1, OX_KIND_TENSOR, err) ||
            need_int_pos(m, n, 1, err))
            return err->code;
        set_out(m, n, 0, OX_KIND_SEQ, dt0);
    } else if (strcmp(op, "ConcatFromSequence") == 0) {
        if (need_kind(m, n, 0, OX_KIND_SEQ, err))
            return err->code;
        if (!ox_attr_find(n, "axis"))
            return ox_reject(n, err, "attribute 'axis' is required");
        set_out(m, n, 0, OX_KIND_TENSOR, dt0);
    } else if (strcmp(op, "Optional") == 0) {
        const ox_attr *t = ox_attr_find(n, "type");
        if (ox_has_in(n, 0)) {
            ox_kind k = in_kind(m, n, 0);
            if (k != OX_KIND_TENSOR && k != OX_KIND_SEQ)
                return ox_reject(n, err, "input 0 must be a tensor or a sequence");
            set_out(m, n, 0, k == OX_KIND_SEQ ? OX_KIND_OPT_SEQ : OX_KIND_OPT_TENSOR, dt0);
        } else if (t && t->type == OX_ATTR_TYPE && (t->i == OX_KIND_TENSOR || t->i == OX_KIND_SEQ)) {
            set_out(m, n, 0, t->i == OX_KIND_SEQ ? OX_KIND_OPT_SEQ : OX_KIND_OPT_TENSOR, (jn_dtype)t->n);
        } else {
            return ox_reject(n, err, "without an input, attribute 'type' must name a tensor or sequence type");
        }
    } else if (strcmp(op, "OptionalHasElement") == 0) {
        if (n->opset < 18 && (!ox_has_in(n, 0) || (in_kind(m, n, 0) != OX_KIND_OPT_TENSOR &&
                                                     in_kind(m, n, 0) != OX_KIND_OPT_SEQ)))
            return ox_reject(n, err, "input 0 must be an optional (opset %d)", n->opset);
        set_out(m, n, 0, OX_KIND_TENSOR, JN_DTYPE_BOOL);
    } else if (strcmp(op, "OptionalGetElement") == 0) {
        ox_kind k = in_kind(m, n, 0);
        if (n->opset < 18 && k != OX_KIND_OPT_TENSOR && k != OX_KIND_OPT_SEQ)
            return ox_reject(n, err, "input 0 must be an optional (opset %d)", n->opset);
        set_out(m, n, 0, k == OX_KIND_OPT_SEQ || k == OX_KIND_SEQ ? OX_KIND_SEQ : OX_KIND_TENSOR, dt0);
    } else { /* Identity */
        set_out(m, n, 0, in_kind(m, n, 0), dt0);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------------------------
 * Run time */

static int out_box(ox_exec *x, const ox_node *n, ox_box *b, jn_err *err)
{
    ox_val v = {.box = b};
    return ox_exec_set_out(x, n, 0, &v, err);
}

static int out_tensor(ox_exec *x, const ox_node *n, const ox_tensor *t, jn_err *err)
{
    ox_val v = {.t = *t}; /* borrowed: copied */
    return ox_exec_set_out(x, n, 0, &v, err);
}

/* Position input i (a scalar) normalized into [0, n + extra); dflt when absent. */
static int position(ox_exec *x, const ox_node *n, int i, int64_t count, int64_t extra, int64_t dflt, int64_t *pos,
                    jn_err *err)
{
    *pos = dflt;
    if (!ox_exec_has_in(n, i))
        return 0;
    ox_val v = ox_exec_in(x, n, i);
    if (ox_count(&v.t) != 1)
        return jn_err_set(err, JN_EINVAL, "node '%s' (%s): position must hold one value", n->name, n->op_type);
    int64_t p = ox_load_i64(v.t.data, v.t.dtype, 0);
    if (p < -count || p >= count + extra)
        return jn_err_set(err, JN_EINVAL, "node '%s' (%s): position %lld is outside a sequence of %lld", n->name,
                          n->op_type, (long long)p, (long long)count);
    *pos = p < 0 ? p + count : p;
    return 0;
}

static int split_exec(ox_exec *x, const ox_node *n, jn_err *err)
{
    ox_tensor t = ox_exec_in(x, n, 0).t;
    int axis = ox_axis(ox_attr_int(n, "axis", 0), t.ndim);
    if (axis < 0)
        return jn_err_set(err, JN_EINVAL, "node '%s' (SplitToSequence): axis out of range", n->name);
    int64_t L = t.shape[axis], sizes_buf[1] = {1}, *sizes = NULL, parts = 0;
    bool keep = true;
    ox_box *b = ox_box_new(t.dtype, err);
    if (!b)
        return err->code;
    int rc = 0;
    if (!ox_exec_has_in(n, 1)) {
        keep = ox_attr_int(n, "keepdims", 1) != 0;
        parts = L;
        sizes_buf[0] = 1;
    } else {
        ox_tensor s = ox_exec_in(x, n, 1).t;
        if (s.ndim == 0) {
            sizes_buf[0] = ox_load_i64(s.data, s.dtype, 0);
            if (sizes_buf[0] < 1)
                rc = jn_err_set(err, JN_EINVAL, "node '%s' (SplitToSequence): split %lld is not positive", n->name,
                                (long long)sizes_buf[0]);
            parts = rc ? 0 : (L + sizes_buf[0] - 1) / sizes_buf[0];
        } else {
            parts = ox_count(&s);
            sizes = malloc((size_t)parts * sizeof *sizes + 1);
            int64_t sum = 0;
            for (int64_t i = 0; sizes && i < parts; i++) {
                sizes[i] = ox_load_i64(s.data, s.dtype, i);
                if (sizes[i] < 0)
                    sum = -1 - L;
                sum += sizes[i];
            }
            if (!sizes)
                rc = jn_err_set(err, JN_ENOMEM, "out of memory");
            else if (sum != L)
                rc = jn_err_set(err, JN_EINVAL, "node '%s' (SplitToSequence): split sizes do not add up to %lld",
                                n->name, (long long)L);
        }
    }
    int64_t outer, inner, at = 0;
    ox_around_axis(&t, axis, &outer, &inner);
    size_t es = jn_dtype_size(t.dtype);
    for (int64_t p = 0; p < parts && !rc; p++) {
        int64_t len = sizes ? sizes[p] : sizes_buf[0];
        if (at + len > L)
            len = L - at;
        int64_t shape[JN_MAX_DIMS];
        int nd = 0;
        for (int d = 0; d < t.ndim; d++)
            if (d != axis || keep)
                shape[nd++] = d == axis ? len : t.shape[d];
        ox_tensor piece;
        if (ox_set_shape(&piece, t.dtype, nd, shape, err)) {
            rc = err->code;
            break;
        }
        piece.data = malloc(piece.nbytes + 1);
        if (!piece.data) {
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
            break;
        }
        for (int64_t o = 0; o < outer; o++)
            memcpy((uint8_t *)piece.data + (size_t)(o * len * inner) * es,
                   (const uint8_t *)t.data + (size_t)((o * L + at) * inner) * es, (size_t)(len * inner) * es);
        rc = ox_box_insert(b, b->n, &piece, err);
        free(piece.data);
        at += len;
    }
    free(sizes);
    if (rc) {
        ox_box_unref(b);
        return rc;
    }
    return out_box(x, n, b, err);
}

static int concat_exec(ox_exec *x, const ox_node *n, jn_err *err)
{
    const ox_box *b = ox_exec_in(x, n, 0).box;
    bool new_axis = ox_attr_int(n, "new_axis", 0) != 0;
    if (b->n == 0)
        return jn_err_set(err, JN_EINVAL, "node '%s' (ConcatFromSequence): the sequence is empty", n->name);
    const ox_tensor *t0 = &b->items[0];
    int rank = t0->ndim + (new_axis ? 1 : 0);
    int axis = ox_axis(ox_attr_int(n, "axis", 0), rank);
    if (axis < 0 || rank > JN_MAX_DIMS)
        return jn_err_set(err, JN_EINVAL, "node '%s' (ConcatFromSequence): axis out of range", n->name);
    int64_t shape[JN_MAX_DIMS], total = 0;
    for (size_t i = 0; i < b->n; i++) {
        const ox_tensor *t = &b->items[i];
        bool ok = t->ndim == t0->ndim;
        for (int d = 0; ok && d < t->ndim; d++)
            ok = d == axis && !new_axis ? true : t->shape[d] == t0->shape[d];
        if (!ok)
            return jn_err_set(err, JN_EINVAL, "node '%s' (ConcatFromSequence): item %zu's shape does not fit",
                              n->name, i);
        total += new_axis ? 1 : t->shape[axis];
    }
    for (int d = 0, e = 0; d < rank; d++) {
        if (d == axis) {
            shape[d] = total;
            e += new_axis ? 0 : 1; /* concatenating: the items' own axis is replaced */
        } else {
            shape[d] = t0->shape[e++];
        }
    }
    ox_tensor *out;
    if (ox_exec_new_out(x, n, 0, t0->dtype, rank, shape, &out, err) || !out)
        return err->code;
    int64_t outer = 1, off = 0;
    for (int d = 0; d < axis; d++)
        outer *= shape[d];
    size_t es = jn_dtype_size(t0->dtype), row_out = (size_t)(out->nbytes / (size_t)(outer ? outer : 1));
    for (size_t i = 0; i < b->n; i++) {
        const ox_tensor *t = &b->items[i];
        size_t row = outer ? t->nbytes / (size_t)outer : 0;
        for (int64_t o = 0; o < outer && row; o++)
            memcpy((uint8_t *)out->data + (size_t)o * row_out + (size_t)off, (const uint8_t *)t->data + (size_t)o * row,
                   row);
        off += (int64_t)row;
    }
    (void)es;
    return 0;
}

static int seq_exec(ox_exec *x, const ox_node *n, jn_err *err)
{
    const char *op = n->op_type;
    ox_val in0 = ox_exec_in(x, n, 0);
    ox_box *b = NULL;
    int64_t pos;
    if (strcmp(op, "SequenceEmpty") == 0) {
        b = ox_box_new(ox_dtype_from_onnx(ox_attr_int(n, "dtype", 1)), err);
        return b ? out_box(x, n, b, err) : err->code;
    }
    if (strcmp(op, "SequenceConstruct") == 0) {
        b = ox_box_new(in0.t.dtype, err);
        for (int i = 0; b && i < n->n_in; i++) {
            ox_val v = ox_exec_in(x, n, i);
            if (ox_box_insert(b, b->n, &v.t, err)) {
                ox_box_unref(b);
                return err->code;
            }
        }
        return b ? out_box(x, n, b, err) : err->code;
    }
    if (strcmp(op, "SequenceAt") == 0) {
        if (!ox_exec_has_in(n, 1) || position(x, n, 1, (int64_t)in0.box->n, 0, 0, &pos, err))
            return err->code ? err->code : jn_err_set(err, JN_EINVAL, "node '%s': position is required", n->name);
        return out_tensor(x, n, &in0.box->items[pos], err);
    }
    if (strcmp(op, "SequenceInsert") == 0) {
        int64_t count = (int64_t)in0.box->n;
        if (position(x, n, 2, count, 1, count, &pos, err) || !(b = ox_box_copy(in0.box, err)))
            return err->code;
        ox_val v = ox_exec_in(x, n, 1);
        if (ox_box_insert(b, (size_t)pos, &v.t, err)) {
            ox_box_unref(b);
            return err->code;
        }
        return out_box(x, n, b, err);
    }
    if (strcmp(op, "SequenceErase") == 0) {
        int64_t count = (int64_t)in0.box->n;
        if (count == 0)
            return jn_err_set(err, JN_EINVAL, "node '%s' (SequenceErase): the sequence is empty", n->name);
        if (position(x, n, 1, count, 0, count - 1, &pos, err) || !(b = ox_box_copy(in0.box, err)))
            return err->code;
        free(b->items[pos].data);
        b->bytes -= b->items[pos].nbytes;
        memmove(b->items + pos, b->items + pos + 1, (b->n - (size_t)pos - 1) * sizeof *b->items);
        b->n--;
        return out_box(x, n, b, err);
    }
    if (strcmp(op, "SequenceLength") == 0) {
        ox_tensor *t;
        if (ox_exec_new_out(x, n, 0, JN_DTYPE_INT64, 0, NULL, &t, err))
            return err->code;
        if (t)
            *(int64_t *)t->data = (int64_t)in0.box->n;
        return 0;
    }
    if (strcmp(op, "SplitToSequence") == 0)
        return split_exec(x, n, err);
    if (strcmp(op, "ConcatFromSequence") == 0)
        return concat_exec(x, n, err);
    ox_kind k = ox_exec_in_kind(x, n, 0);
    if (strcmp(op, "Optional") == 0) {
        if (k == OX_KIND_SEQ)
            b = ox_box_ref(in0.box);
        else if (ox_exec_has_in(n, 0)) {
            b = ox_box_new(in0.t.dtype, err);
            if (b && ox_box_insert(b, 0, &in0.t, err)) {
                ox_box_unref(b);
                b = NULL;
            }
        } else if ((b = ox_box_new(JN_DTYPE_INVALID, err))) {
            b->none = true;
        }
        return b ? out_box(x, n, b, err) : err->code;
    }
    if (strcmp(op, "OptionalHasElement") == 0) {
        ox_tensor *t;
        if (ox_exec_new_out(x, n, 0, JN_DTYPE_BOOL, 0, NULL, &t, err))
            return err->code;
        bool has = ox_exec_has_in(n, 0) && !((k == OX_KIND_OPT_TENSOR || k == OX_KIND_OPT_SEQ) && in0.box->none);
        if (t)
            *(uint8_t *)t->data = has;
        return 0;
    }
    if (strcmp(op, "OptionalGetElement") == 0) {
        if ((k == OX_KIND_OPT_TENSOR || k == OX_KIND_OPT_SEQ) && in0.box->none)
            return jn_err_set(err, JN_EINVAL, "node '%s' (OptionalGetElement): the optional holds nothing",
                              n->name);
        if (k == OX_KIND_OPT_TENSOR)
            return out_tensor(x, n, &in0.box->items[0], err);
        if (k == OX_KIND_TENSOR)
            return out_tensor(x, n, &in0.t, err);
        if (k == OX_KIND_OPT_SEQ && !(b = ox_box_copy(in0.box, err)))
            return err->code;
        if (b) {
            b->none = false;
            return out_box(x, n, b, err);
        }
        return out_box(x, n, ox_box_ref(in0.box), err);
    }
    /* Identity */
    if (k == OX_KIND_TENSOR)
        return out_tensor(x, n, &in0.t, err);
    return out_box(x, n, ox_box_ref(in0.box), err);
}

static const char *const no_attrs[] = {NULL};
static const char *const empty_attrs[] = {"dtype", NULL};
static const char *const split_attrs[] = {"axis", "keepdims", NULL};
static const char *const concat_attrs[] = {"axis", "new_axis", NULL};
static const char *const optional_attrs[] = {"type", NULL};

#define SEQ_OP(var, name, lo, hi, at)                                                                            \
    static const ox_op var = {.op_type = name, .min_in = lo, .max_in = hi, .min_out = 1, .max_out = 1,           \
                              .attrs = at, .check = seq_check};                                                  \
    static const ox_op_ext ext_##var = {.op = &var, .flags = OX_OP_DYNAMIC | OX_OP_ANY_KIND, .exec = seq_exec};
SEQ_OP(op_empty, "SequenceEmpty", 0, 0, empty_attrs)
SEQ_OP(op_construct, "SequenceConstruct", 1, OX_MAX_IO, no_attrs)
SEQ_OP(op_at, "SequenceAt", 2, 2, no_attrs)
SEQ_OP(op_insert, "SequenceInsert", 2, 3, no_attrs)
SEQ_OP(op_erase, "SequenceErase", 1, 2, no_attrs)
SEQ_OP(op_length, "SequenceLength", 1, 1, no_attrs)
SEQ_OP(op_split, "SplitToSequence", 1, 2, split_attrs)
SEQ_OP(op_concat, "ConcatFromSequence", 1, 1, concat_attrs)
SEQ_OP(op_optional, "Optional", 0, 1, optional_attrs)
SEQ_OP(op_has, "OptionalHasElement", 0, 1, no_attrs)
SEQ_OP(op_get, "OptionalGetElement", 1, 1, no_attrs)
SEQ_OP(op_identity_any, "Identity", 1, 1, no_attrs)

const ox_op *const ox_ops_seq[] = {&op_empty, &op_construct, &op_at,       &op_insert, &op_erase, &op_length,
                                   &op_split, &op_concat,    &op_optional, &op_has,    &op_get,   NULL};
const ox_op_ext *const ox_exts_seq[] = {&ext_op_empty,    &ext_op_construct, &ext_op_at,   &ext_op_insert,
                                        &ext_op_erase,    &ext_op_length,    &ext_op_split, &ext_op_concat,
                                        &ext_op_optional, &ext_op_has,       &ext_op_get,  &ext_op_identity_any,
                                        NULL};

const ox_op *ox_op_any_kind(const ox_op *op)
{
    return strcmp(op->op_type, "Identity") == 0 ? &op_identity_any : NULL;
}
