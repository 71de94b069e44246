/* ops_tensor2.c — tensor operators that build or rearrange whole tensors: Range, Trilu, CumSum, Size, EyeLike,
 * ReverseSequence, Hardmax and Einsum. Floats compute in double, integers in int64, and data movement copies by
 * element size. */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

static const char *const a_none[] = {NULL};

static bool is_number(jn_dtype dt)
{
    return ox_dtype_is_float(dt) || ox_dtype_is_int(dt);
}

static int same_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    (void)n;
    return ox_set_shape(out[0], in[0]->dtype, in[0]->ndim, in[0]->shape, err);
}

/* ---------------------------------------------------------------------------------------------------------------
 * Range */

static int range_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (ox_need_opset(n, 11, err))
        return err->code;
    jn_dtype dt = ox_in_dtype(m, n, 0);
    if (dt != JN_DTYPE_FP32 && dt != JN_DTYPE_FP64 && dt != JN_DTYPE_INT16 && dt != JN_DTYPE_INT32 &&
        dt != JN_DTYPE_INT64)
        return ox_reject(n, err, "dtype %s is not supported", jn_dtype_name(dt));
    for (int i = 1; i < 3; i++)
        if (ox_in_dtype(m, n, i) != dt)
            return ox_reject(n, err, "start, limit and delta must have one dtype");
    ox_set_out_dtype(m, n, 0, dt);
    return 0;
}

static int range_count(const ox_node *n, ox_tensor *const *in, int64_t *count, jn_err *err)
{
    for (int i = 0; i < 3; i++)
        if (ox_count(in[i]) != 1)
            return jn_err_set(err, JN_EINVAL, "node '%s' (Range): start, limit and delta must be scalars", n->name);
    double s = ox_load_f64(in[0]->data, in[0]->dtype, 0), l = ox_load_f64(in[1]->data, in[1]->dtype, 0);
    double d = ox_load_f64(in[2]->data, in[2]->dtype, 0);
    if (d == 0 || !isfinite(s) || !isfinite(l) || !isfinite(d))
        return jn_err_set(err, JN_EINVAL, "node '%s' (Range): delta is 0 or a bound is not finite", n->name);
    double c = ceil((l - s) / d);
    if (c > (double)JN_MAX_TENSOR_ELEMENTS)
        return jn_err_set(err, JN_ERESOURCE, "node '%s' (Range): %g elements exceed the limit", n->name, c);
    *count = c > 0 ? (int64_t)c : 0;
    return 0;
}

static int range_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t c;
    if (range_count(n, in, &c, err))
        return err->code;
    return ox_set_shape(out[0], in[0]->dtype, 1, &c, err);
}

static int range_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t c = out[0]->shape[0];
    (void)n;
    (void)err;
    if (ox_dtype_is_float(in[0]->dtype)) {
        /* As the reference: start + i * delta, in the dtype's precision. */
        double s = ox_load_f64(in[0]->data, in[0]->dtype, 0), d = ox_load_f64(in[2]->data, in[2]->dtype, 0);
        for (int64_t i = 0; i < c; i++)
            ox_store_f64(out[0]->data, out[0]->dtype, i, s + (double)i * d);
    } else {
        int64_t s = ox_load_i64(in[0]->data, in[0]->dtype, 0), d = ox_load_i64(in[2]->data, in[2]->dtype, 0);
        for (int64_t i = 0; i < c; i++)
            ox_store_i64(out[0]->data, out[0]->dtype, i, s + i * d);
    }
    return 0;
}

static const ox_op op_range = {.op_type = "Range", .min_in = 3, .max_in = 3, .min_out = 1, .max_out = 1,
                               .attrs = a_none, .shape_inputs = 7u, .check = range_check, .shape = range_shape,
                               .run = range_run};

/* ---------------------------------------------------------------------------------------------------------------
 * Trilu */

static int trilu_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (ox_need_opset(n, 14, err))
        return err->code;
    if (ox_has_in(n, 1) && ox_in_dtype(m, n, 1) != JN_DTYPE_INT64)
        return ox_reject(n, err, "k must be INT64");
    ox_set_out_dtype(m, n, 0, ox_in_dtype(m, n, 0));
    return 0;
}

static int trilu_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    const ox_tensor *x = in[0];
    if (x->ndim < 2)
        return jn_err_set(err, JN_EINVAL, "node '%s' (Trilu): the input has rank %d (2 or more)", n->name, x->ndim);
    int64_t k = 0;
    if (n->n_in > 1 && in[1]) {
        if (ox_count(in[1]) != 1)
            return jn_err_set(err, JN_EINVAL, "node '%s' (Trilu): k must be a scalar", n->name);
        k = ((const int64_t *)in[1]->data)[0];
    }
    bool upper = ox_attr_int(n, "upper", 1) != 0;
    int64_t rows = x->shape[x->ndim - 2], cols = x->shape[x->ndim - 1];
    int64_t mats = rows > 0 && cols > 0 ? ox_count(x) / (rows * cols) : 0;
    size_t es = jn_dtype_size(x->dtype);
    char *y = out[0]->data;
    const char *src = x->data;
    for (int64_t m = 0; m < mats; m++)
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols; j++) {
                size_t at = (size_t)((m * rows + i) * cols + j) * es;
                bool keep = upper ? j - i >= k : j - i <= k;
                if (keep)
                    memcpy(y + at, src + at, es);
                else
                    memset(y + at, 0, es);
            }
    return 0;
}

static const char *const a_trilu[] = {"upper", NULL};
static const ox_op op_trilu = {.op_type = "Trilu", .min_in = 1, .max_in = 2, .min_out = 1, .max_out = 1,
                               .attrs = a_trilu, .check = trilu_check, .shape = same_shape, .run = trilu_run};

/* ---------------------------------------------------------------------------------------------------------------
 * CumSum */

static int cumsum_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (ox_need_opset(n, 11, err))
        return err->code;
    jn_dtype dt = ox_in_dtype(m, n, 0);
    if (!is_number(dt))
        return ox_reject(n, err, "dtype %s is not supported", jn_dtype_name(dt));
    if (ox_in_dtype(m, n, 1) != JN_DTYPE_INT64 && ox_in_dtype(m, n, 1) != JN_DTYPE_INT32)
        return ox_reject(n, err, "axis must be INT32 or INT64");
    ox_set_out_dtype(m, n, 0, dt);
    return 0;
}

static int cumsum_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    const ox_tensor *x = in[0];
    if (ox_count(in[1]) != 1)
        return jn_err_set(err, JN_EINVAL, "node '%s' (CumSum): axis must be a scalar", n->name);
    int axis = ox_axis(ox_load_i64(in[1]->data, in[1]->dtype, 0), x->ndim);
    if (axis < 0)
        return jn_err_set(err, JN_EINVAL, "node '%s' (CumSum): axis out of range", n->name);
    bool excl = ox_attr_int(n, "exclusive", 0) != 0, rev = ox_attr_int(n, "reverse", 0) != 0;
    int64_t outer, inner, len = x->shape[axis];
    ox_around_axis(x, axis, &outer, &inner);
    bool fl = ox_dtype_is_float(x->dtype);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < inner; k++) {
            double fs = 0;
            int64_t is = 0;
            for (int64_t s = 0; s < len; s++) {
                int64_t i = rev ? len - 1 - s : s, at = (o * len + i) * inner + k;
                if (fl) {
                    double v = ox_load_f64(x->data, x->dtype, at);
                    if (!excl)
                        fs += v;
                    ox_store_f64(out[0]->data, x->dtype, at, fs);
                    if (excl)
                        fs += v;
                } else {
                    int64_t v = ox_load_i64(x->data, x->dtype, at);
                    if (!excl)
                        is = (int64_t)((uint64_t)is + (uint64_t)v);
                    ox_store_i64(out[0]->data, x->dtype, at, is);
                    if (excl)
                        is = (int64_t)((uint64_t)is + (uint64_t)v);
                }
            }
        }
    return 0;
}

static const char *const a_cumsum[] = {"exclusive", "reverse", NULL};
static const ox_op op_cumsum = {.op_type = "CumSum", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
                                .attrs = a_cumsum, .check = cumsum_check, .shape = same_shape, .run = cumsum_run};

/* ---------------------------------------------------------------------------------------------------------------
 * Size */

static int size_check(ox_model *m, ox_node *n, jn_err *err)
{
    (void)err;
    ox_set_out_dtype(m, n, 0, JN_DTYPE_INT64);
    return 0;
}

static int size_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    (void)n;
    (void)in;
    return ox_set_shape(out[0], JN_DTYPE_INT64, 0, NULL, err);
}

static int size_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    (void)n;
    (void)err;
    *(int64_t *)out[0]->data = ox_count(in[0]);
    return 0;
}

static const ox_op op_size = {.op_type = "Size", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
                              .attrs = a_none, .check = size_check, .shape = size_shape, .run = size_run};

/* ---------------------------------------------------------------------------------------------------------------
 * EyeLike */

static jn_dtype eyelike_dtype(const ox_node *n, jn_dtype in)
{
    const ox_attr *a = ox_attr_find(n, "dtype");
    return a ? ox_dtype_from_onnx(a->i) : in;
}

static int eyelike_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (ox_need_opset(n, 9, err))
        return err->code;
    jn_dtype dt = eyelike_dtype(n, ox_in_dtype(m, n, 0));
    if (!is_number(dt) && dt != JN_DTYPE_BOOL && !ox_dtype_is_half(dt)) /* ox_store_i64 writes every one */
        return ox_reject(n, err, "output dtype %s is not supported", jn_dtype_name(dt));
    ox_set_out_dtype(m, n, 0, dt);
    return 0;
}

static int eyelike_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    if (in[0]->ndim != 2)
        return jn_err_set(err, JN_EINVAL, "node '%s' (EyeLike): the input has rank %d (2 expected)", n->name,
                          in[0]->ndim);
    return ox_set_shape(out[0], eyelike_dtype(n, in[0]->dtype), 2, in[0]->shape, err);
}

static int eyelike_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t k = ox_attr_int(n, "k", 0), rows = in[0]->shape[0], cols = in[0]->shape[1];
    (void)err;
    memset(out[0]->data, 0, out[0]->nbytes);
    for (int64_t i = 0; i < rows; i++)
        if (i + k >= 0 && i + k < cols)
            ox_store_i64(out[0]->data, out[0]->dtype, i * cols + i + k, 1);
    return 0;
}

static const char *const a_eyelike[] = {"dtype", "k", NULL};
static const ox_op op_eyelike = {.op_type = "EyeLike", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
                                 .attrs = a_eyelike, .check = eyelike_check, .shape = eyelike_shape,
                                 .run = eyelike_run};

/* ---------------------------------------------------------------------------------------------------------------
 * ReverseSequence */

static int revseq_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (ox_need_opset(n, 10, err))
        return err->code;
    if (ox_in_dtype(m, n, 1) != JN_DTYPE_INT64)
        return ox_reject(n, err, "sequence_lens must be INT64");
    int64_t b = ox_attr_int(n, "batch_axis", 1), t = ox_attr_int(n, "time_axis", 0);
    if (!((b == 0 && t == 1) || (b == 1 && t == 0)))
        return ox_reject(n, err, "batch_axis %lld and time_axis %lld must be 0 and 1", (long long)b, (long long)t);
    ox_set_out_dtype(m, n, 0, ox_in_dtype(m, n, 0));
    return 0;
}

static int revseq_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    const ox_tensor *x = in[0];
    int bax = (int)ox_attr_int(n, "batch_axis", 1), tax = (int)ox_attr_int(n, "time_axis", 0);
    if (x->ndim < 2 || in[1]->ndim != 1 || in[1]->shape[0] != x->shape[bax])
        return jn_err_set(err, JN_EINVAL, "node '%s' (ReverseSequence): sequence_lens must hold one length per "
                          "batch entry", n->name);
    int64_t B = x->shape[bax], T = x->shape[tax], inner = 1;
    for (int d = 2; d < x->ndim; d++)
        inner *= x->shape[d];
    size_t chunk = (size_t)inner * jn_dtype_size(x->dtype);
    const int64_t *lens = in[1]->data;
    for (int64_t b = 0; b < B; b++) {
        int64_t L = lens[b];
        if (L < 0 || L > T)
            return jn_err_set(err, JN_EINVAL, "node '%s' (ReverseSequence): length %lld out of [0, %lld]", n->name,
                              (long long)L, (long long)T);
        for (int64_t t = 0; t < T; t++) {
            int64_t src_t = t < L ? L - 1 - t : t;
            int64_t dst_i = bax == 0 ? b * T + t : t * B + b, src_i = bax == 0 ? b * T + src_t : src_t * B + b;
            memcpy((char *)out[0]->data + (size_t)dst_i * chunk, (const char *)x->data + (size_t)src_i * chunk,
                   chunk);
        }
    }
    return 0;
}

static const char *const a_revseq[] = {"batch_axis", "time_axis", NULL};
static const ox_op op_revseq = {.op_type = "ReverseSequence", .min_in = 2, .max_in = 2, .min_out = 1,
                                .max_out = 1, .attrs = a_revseq, .check = revseq_check, .shape = same_shape,
                                .run = revseq_run};

/* ---------------------------------------------------------------------------------------------------------------
 * Hardmax: 1 at the first largest element along the axis (opset < 13: of the input coerced to 2-D at axis,
 * default 1; from 13: along the one axis, default -1), 0 elsewhere. */

static int hardmax_check(ox_model *m, ox_node *n, jn_err *err)
{
    jn_dtype dt = ox_in_dtype(m, n, 0);
    if (!ox_dtype_is_float(dt))
        return ox_reject(n, err, "dtype %s is not supported", jn_dtype_name(dt));
    ox_set_out_dtype(m, n, 0, dt);
    return 0;
}

static int hardmax_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    const ox_tensor *x = in[0];
    int rank = x->ndim;
    int64_t attr = ox_attr_int(n, "axis", n->opset < 13 ? 1 : -1);
    int axis = rank ? ox_axis(attr, rank) : -1;
    if (axis < 0)
        return jn_err_set(err, JN_EINVAL, "node '%s' (Hardmax): axis %lld out of range for rank %d", n->name,
                          (long long)attr, rank);
    int64_t outer = 1, len = 1, inner = 1;
    for (int d = 0; d < axis; d++)
        outer *= x->shape[d];
    if (n->opset < 13) {
        for (int d = axis; d < rank; d++)
            len *= x->shape[d];
    } else {
        len = x->shape[axis];
        for (int d = axis + 1; d < rank; d++)
            inner *= x->shape[d];
    }
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < inner; k++) {
            int64_t best = 0, base = o * len * inner + k;
            double bv = -INFINITY;
            for (int64_t i = 0; i < len; i++) {
                double v = ox_load_f64(x->data, x->dtype, base + i * inner);
                if (v > bv || i == 0) {
                    bv = v;
                    best = i;
                }
                ox_store_f64(out[0]->data, x->dtype, base + i * inner, 0);
            }
            if (len)
                ox_store_f64(out[0]->data, x->dtype, base + best * inner, 1);
        }
    return 0;
}

static const char *const a_axis[] = {"axis", NULL};
static const ox_op op_hardmax = {.op_type = "Hardmax", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
                                 .attrs = a_axis, .check = hardmax_check, .shape = same_shape, .run = hardmax_run};

/* ---------------------------------------------------------------------------------------------------------------
 * Einsum: the equation's labels (letters; "..." stands for the broadcast dimensions) are parsed at each call. A
 * two-operand FP32 product that is a batched matrix product goes to sgemm (einsum_gemm); anything else runs as one
 * loop over every label's range, accumulating into the output in double. */

#define EIN_LABELS 64 /* 52 letters and up to JN_MAX_DIMS ellipsis dimensions */
/* The loop visits every combination of the labels' values once: a bound keeps a hostile equation from running
 * for hours (a run past it fails with JN_ERESOURCE). 2^32 is a batched product of [16, 1024, 256] x [16, 256, 1024]. */
#define EIN_MAX_STEPS ((int64_t)1 << 32)

typedef struct ein_plan {
    int n_labels;
    int64_t dim[EIN_LABELS];
    int n_in;
    int in_rank[OX_MAX_IO];
    int in_label[OX_MAX_IO][JN_MAX_DIMS];
    int out_rank;
    int out_label[JN_MAX_DIMS];
} ein_plan;

static int ein_letter(char c)
{
    return c >= 'a' && c <= 'z' ? c - 'a' : c >= 'A' && c <= 'Z' ? 26 + c - 'A' : -1;
}

/* One term's labels into lab (rank set); ell_rank = the ellipsis's rank for this term (-1: the term has none). */
static int ein_term(const char *s, size_t len, int *lab, int *rank, int ell_rank, int *has_ell)
{
    int r = 0;
    *has_ell = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == ' ')
            continue;
        if (c == '.') {
            if (i + 2 >= len || s[i + 1] != '.' || s[i + 2] != '.')
                return -1;
            if (*has_ell)
                return -1;
            *has_ell = 1;
            for (int e = 0; e < ell_rank; e++) {
                if (r >= JN_MAX_DIMS)
                    return -1;
                lab[r++] = 52 + e;
            }
            i += 2;
            continue;
        }
        int l = ein_letter(c);
        if (l < 0 || r >= JN_MAX_DIMS)
            return -1;
        lab[r++] = l;
    }
    *rank = r;
    return 0;
}

static int ein_parse(const ox_node *n, ox_tensor *const *in, ein_plan *p, jn_err *err)
{
    const char *eq = ox_attr_str(n, "equation", "");
    const char *arrow = strstr(eq, "->");
    size_t lhs_len = arrow ? (size_t)(arrow - eq) : strlen(eq);
    memset(p, 0, sizeof *p);
    p->n_in = n->n_in;
    int ell = 0; /* the broadcast rank: the largest ellipsis among the inputs */
    const char *t = eq;
    for (int k = 0; k < n->n_in; k++) {
        const char *end = memchr(t, ',', lhs_len - (size_t)(t - eq));
        size_t len = end ? (size_t)(end - t) : lhs_len - (size_t)(t - eq);
        if (!end && k != n->n_in - 1)
            goto bad;
        int letters = 0, has_ell = 0;
        for (size_t i = 0; i < len; i++) {
            letters += ein_letter(t[i]) >= 0;
            has_ell |= t[i] == '.';
        }
        if (has_ell) {
            int er = in[k]->ndim - letters;
            if (er < 0)
                goto bad;
            ell = er > ell ? er : ell;
        }
        int has;
        if (ein_term(t, len, p->in_label[k], &p->in_rank[k], has_ell ? in[k]->ndim - letters : 0, &has) ||
            p->in_rank[k] != in[k]->ndim)
            goto bad;
        t = end ? end + 1 : t + len;
    }
    /* Ellipsis labels: an input with er ellipsis dims uses the last er of the ell broadcast labels (numpy aligns
     * them at the right). */
    for (int k = 0; k < n->n_in; k++) {
        int er = 0;
        for (int d = 0; d < p->in_rank[k]; d++)
            er += p->in_label[k][d] >= 52;
        for (int d = 0; d < p->in_rank[k]; d++)
            if (p->in_label[k][d] >= 52)
                p->in_label[k][d] += ell - er;
    }
    int64_t dim[EIN_LABELS];
    int count[EIN_LABELS] = {0};
    for (int l = 0; l < EIN_LABELS; l++)
        dim[l] = -1;
    for (int k = 0; k < n->n_in; k++)
        for (int d = 0; d < p->in_rank[k]; d++) {
            int l = p->in_label[k][d];
            int64_t sz = in[k]->shape[d];
            count[l]++;
            if (dim[l] < 0 || dim[l] == 1)
                dim[l] = sz;
            else if (sz != dim[l] && sz != 1)
                goto bad;
        }
    if (arrow) {
        int has;
        if (ein_term(arrow + 2, strlen(arrow + 2), p->out_label, &p->out_rank, ell, &has))
            goto bad;
        for (int d = 0; d < p->out_rank; d++)
            if (dim[p->out_label[d]] < 0)
                goto bad;
    } else { /* implicit: the ellipsis, then the letters seen once, in alphabetical order */
        for (int e = 0; e < ell; e++)
            p->out_label[p->out_rank++] = 52 + e;
        for (int l = 0; l < 52; l++)
            if (count[l] == 1 && p->out_rank < JN_MAX_DIMS)
                p->out_label[p->out_rank++] = l;
    }
    p->n_labels = EIN_LABELS;
    for (int l = 0; l < EIN_LABELS; l++)
        p->dim[l] = dim[l] < 0 ? 1 : dim[l];
    return 0;
bad:
    return jn_err_set(err, JN_EINVAL, "node '%s' (Einsum): equation '%s' does not fit the inputs' shapes", n->name,
                      eq);
}

static int einsum_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (ox_need_opset(n, 12, err))
        return err->code;
    jn_dtype dt = ox_in_dtype(m, n, 0);
    if (!is_number(dt))
        return ox_reject(n, err, "dtype %s is not supported", jn_dtype_name(dt));
    for (int i = 1; i < n->n_in; i++)
        if (ox_in_dtype(m, n, i) != dt)
            return ox_reject(n, err, "inputs have different dtypes");
    if (!ox_attr_find(n, "equation"))
        return ox_reject(n, err, "equation is required");
    ox_set_out_dtype(m, n, 0, dt);
    return 0;
}

static int einsum_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    ein_plan p;
    if (ein_parse(n, in, &p, err))
        return err->code;
    int64_t shape[JN_MAX_DIMS];
    for (int d = 0; d < p.out_rank; d++)
        shape[d] = p.dim[p.out_label[d]];
    return ox_set_shape(out[0], in[0]->dtype, p.out_rank, shape, err);
}

/* Copies the elements of a tensor (strides per label in st) into dst in the order of the labels given (the
 * last one fastest); scatter = true copies the other way, from a dense src into the strided tensor. */
static void ein_permute(float *strided, const int64_t *st, const int *labels, int nl, const int64_t *dim,
                        float *dense, bool scatter)
{
    int64_t total = 1, counter[EIN_LABELS] = {0}, off = 0;
    for (int i = 0; i < nl; i++)
        total *= dim[labels[i]];
    for (int64_t i = 0; i < total; i++) {
        if (scatter)
            strided[off] = dense[i];
        else
            dense[i] = strided[off];
        for (int k = nl - 1; k >= 0; k--) {
            int l = labels[k];
            off += st[l];
            if (++counter[k] < dim[l])
                break;
            off -= st[l] * dim[l];
            counter[k] = 0;
        }
    }
}

/* Two FP32 inputs whose labels are each a batch label (both inputs and the output), a row label (the first input
 * and the output), a column label (the second input and the output) or a contracted one (both inputs only), none
 * repeated within a term and none broadcast: a batched product through cblas_sgemm, the operands and the result
 * permuted to and from [batch, rows, k] x [batch, k, cols]. Attention written as Einsum ("bhqd,bhkd->bhqk") runs
 * at sgemm's speed instead of one double product per loop step. false (nothing written) for anything else. */
static bool einsum_gemm(const ein_plan *p, ox_tensor *const *in, ox_tensor *out, jn_err *err, int *rc)
{
    if (p->n_in != 2 || in[0]->dtype != JN_DTYPE_FP32 || in[1]->dtype != JN_DTYPE_FP32)
        return false;
    int where[EIN_LABELS] = {0}; /* bit 0: first input, 1: second, 2: output */
    int64_t st[3][EIN_LABELS] = {{0}};
    for (int k = 0; k < 3; k++) {
        int rank = k < 2 ? p->in_rank[k] : p->out_rank;
        const int *lab = k < 2 ? p->in_label[k] : p->out_label;
        int64_t s = 1;
        for (int d = rank - 1; d >= 0; d--) {
            int l = lab[d];
            int64_t size = k < 2 ? in[k]->shape[d] : out->shape[d];
            if (where[l] & (1 << k))
                return false; /* repeated within a term: a diagonal */
            if (size != p->dim[l])
                return false; /* broadcast */
            where[l] |= 1 << k;
            st[k][l] = s;
            s *= size;
        }
    }
    int bl[EIN_LABELS], ml[EIN_LABELS], nl[EIN_LABELS], kl[EIN_LABELS], nb = 0, nm = 0, nn = 0, nk = 0;
    int64_t B = 1, M = 1, N = 1, K = 1;
    for (int d = 0; d < p->out_rank; d++) { /* batch, rows and columns in the output's order */
        int l = p->out_label[d];
        if (where[l] == 7)
            bl[nb++] = l, B *= p->dim[l];
        else if (where[l] == 5)
            ml[nm++] = l, M *= p->dim[l];
        else
            nl[nn++] = l, N *= p->dim[l];
    }
    for (int d = 0; d < p->in_rank[0]; d++) {
        int l = p->in_label[0][d];
        if (where[l] == 3)
            kl[nk++] = l, K *= p->dim[l];
        else if (where[l] == 1)
            return false; /* summed over one input only */
    }
    for (int d = 0; d < p->in_rank[1]; d++)
        if (where[p->in_label[1][d]] == 2)
            return false;
    if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX)
        return false;
    int la[EIN_LABELS], lb[EIN_LABELS], lc[EIN_LABELS], na = 0, nbb = 0, nc = 0;
    for (int i = 0; i < nb; i++)
        la[na++] = lb[nbb++] = lc[nc++] = bl[i];
    for (int i = 0; i < nm; i++)
        la[na++] = lc[nc++] = ml[i];
    for (int i = 0; i < nk; i++)
        la[na++] = lb[nbb++] = kl[i];
    for (int i = 0; i < nn; i++)
        lb[nbb++] = lc[nc++] = nl[i];
    float *a = malloc((size_t)(B * M * K + 1) * sizeof(float)), *b = malloc((size_t)(B * K * N + 1) * sizeof(float));
    float *c = malloc((size_t)(B * M * N + 1) * sizeof(float));
    if (!a || !b || !c) {
        free(a);
        free(b);
        free(c);
        *rc = jn_err_set(err, JN_ENOMEM, "out of memory");
        return true;
    }
    ein_permute(in[0]->data, st[0], la, na, p->dim, a, false);
    ein_permute(in[1]->data, st[1], lb, nbb, p->dim, b, false);
    for (int64_t i = 0; i < B; i++) {
        if (K == 0)
            memset(c + i * M * N, 0, (size_t)(M * N) * sizeof(float));
        else if (M > 0 && N > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)K, 1.0f, a + i * M * K,
                        (int)K, b + i * K * N, (int)N, 0.0f, c + i * M * N, (int)N);
    }
    ein_permute(out->data, st[2], lc, nc, p->dim, c, true);
    free(a);
    free(b);
    free(c);
    *rc = 0;
    return true;
}

static int einsum_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    ein_plan p;
    if (ein_parse(n, in, &p, err))
        return err->code;
    int rc;
    if (einsum_gemm(&p, in, out[0], err, &rc))
        return rc;
    /* The labels in use, and each tensor's stride per label (0 where it lacks it or broadcasts it). */
    int used[EIN_LABELS], nu = 0;
    bool in_use[EIN_LABELS] = {false};
    for (int k = 0; k < p.n_in; k++)
        for (int d = 0; d < p.in_rank[k]; d++)
            in_use[p.in_label[k][d]] = true;
    for (int l = 0; l < EIN_LABELS; l++)
        if (in_use[l])
            used[nu++] = l;
    int64_t(*st)[EIN_LABELS] = calloc((size_t)p.n_in + 1, sizeof *st);
    int64_t ost[EIN_LABELS] = {0};
    double *acc = calloc((size_t)ox_count(out[0]) + 1, sizeof(double));
    if (!st || !acc) {
        free(st);
        free(acc);
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    for (int k = 0; k < p.n_in; k++) {
        int64_t s = 1;
        for (int d = p.in_rank[k] - 1; d >= 0; d--) {
            if (in[k]->shape[d] != 1)
                st[k][p.in_label[k][d]] += s;
            s *= in[k]->shape[d];
        }
    }
    {
        int64_t s = 1;
        for (int d = p.out_rank - 1; d >= 0; d--) {
            ost[p.out_label[d]] += s;
            s *= p.dim[p.out_label[d]];
        }
    }
    int64_t total = 1, counter[EIN_LABELS] = {0}, pos[OX_MAX_IO + 1] = {0}, opos = 0;
    for (int u = 0; u < nu; u++) {
        if (p.dim[used[u]] > 0 && total > EIN_MAX_STEPS / p.dim[used[u]]) {
            free(st);
            free(acc);
            return jn_err_set(err, JN_ERESOURCE, "node '%s' (Einsum): '%s' takes more than %lld products (the "
                              "limit)", n->name, ox_attr_str(n, "equation", ""), (long long)EIN_MAX_STEPS);
        }
        total *= p.dim[used[u]];
    }
    for (int64_t i = 0; i < total; i++) {
        double v = 1;
        for (int k = 0; k < p.n_in; k++)
            v *= ox_load_f64(in[k]->data, in[k]->dtype, pos[k]);
        acc[opos] += v;
        for (int u = nu - 1; u >= 0; u--) {
            int l = used[u];
            counter[u]++;
            for (int k = 0; k < p.n_in; k++)
                pos[k] += st[k][l];
            opos += ost[l];
            if (counter[u] < p.dim[l])
                break;
            for (int k = 0; k < p.n_in; k++)
                pos[k] -= st[k][l] * p.dim[l];
            opos -= ost[l] * p.dim[l];
            counter[u] = 0;
        }
    }
    int64_t no = ox_count(out[0]);
    for (int64_t i = 0; i < no; i++)
        ox_store_f64(out[0]->data, out[0]->dtype, i, acc[i]);
    free(st);
    free(acc);
    return 0;
}

static const char *const a_einsum[] = {"equation", NULL};
static const ox_op op_einsum = {.op_type = "Einsum", .min_in = 1, .max_in = OX_MAX_IO, .min_out = 1, .max_out = 1,
                                .attrs = a_einsum, .check = einsum_check, .shape = einsum_shape,
                                .run = einsum_run};

const ox_op *const ox_ops_tensor2[] = {&op_range,   &op_trilu,   &op_cumsum, &op_size, &op_eyelike,
                                       &op_revseq,  &op_hardmax, &op_einsum, NULL};
