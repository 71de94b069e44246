/* convert.c — the conversion table: cast (lossless or declared), reshape, CLASSIFICATION -> TEXT top-1 label. */
#include "convert.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "half.h"

static bool is_bytes_kind(jn_kind k)
{
    return jn_kind_is_bytes(k);
}

static bool kinds_compatible(jn_kind to, jn_kind from)
{
    if (to == from)
        return true;
    if (is_bytes_kind(to) || is_bytes_kind(from))
        return false;
    return to == JN_KIND_TENSOR || from == JN_KIND_TENSOR;
}

static bool dims_compatible(const jn_port *to, const jn_port *from)
{
    if (to->ndim != from->ndim)
        return false;
    for (int i = 0; i < to->ndim; i++)
        if (to->shape[i] != -1 && from->shape[i] != -1 && to->shape[i] != from->shape[i])
            return false;
    return true;
}

/* Two labelled CLASSIFICATION ports must agree on the labels, in order: score i means the same class on both
 * sides. A port without labels takes any. */
static bool labels_equal(const jn_port *to, const jn_port *from)
{
    if (to->kind != JN_KIND_CLASSIFICATION || from->kind != JN_KIND_CLASSIFICATION || !to->n_labels ||
        !from->n_labels)
        return true;
    if (to->n_labels != from->n_labels)
        return false;
    for (size_t i = 0; i < to->n_labels; i++)
        if (strcmp(to->labels[i], from->labels[i]) != 0)
            return false;
    return true;
}

/* Where each of to's labels sits in from's; false unless the label sets are equal. */
static bool label_permutation(const jn_port *to, const jn_port *from, size_t *perm)
{
    if (to->n_labels != from->n_labels)
        return false;
    for (size_t i = 0; i < to->n_labels; i++) {
        size_t j = 0;
        while (j < from->n_labels && strcmp(to->labels[i], from->labels[j]) != 0)
            j++;
        if (j == from->n_labels)
            return false;
        if (perm)
            perm[i] = j;
    }
    return true;
}

bool jn_port_fits(const jn_port *to, const jn_port *from, char *why, size_t n)
{
    char a[160], b[160];
    jn_format_type(a, sizeof a, to->dtype, to->ndim, to->shape);
    jn_format_type(b, sizeof b, from->dtype, from->ndim, from->shape);
    if (!kinds_compatible(to->kind, from->kind)) {
        snprintf(why, n, "kind %s cannot take %s", jn_kind_name(to->kind), jn_kind_name(from->kind));
        return false;
    }
    if (to->dtype != from->dtype) {
        snprintf(why, n, "datatype %s is not %s", jn_dtype_name(from->dtype), jn_dtype_name(to->dtype));
        return false;
    }
    if (!dims_compatible(to, from)) {
        snprintf(why, n, "shape %s does not fit %s", b, a);
        return false;
    }
    if (to->sample_rate && from->sample_rate && to->sample_rate != from->sample_rate) {
        snprintf(why, n, "sample rate %d Hz is not %d Hz", from->sample_rate, to->sample_rate);
        return false;
    }
    if (!labels_equal(to, from)) {
        snprintf(why, n, "labels differ (%zu labels, first '%s', vs %zu labels, first '%s')", from->n_labels,
                 from->labels[0], to->n_labels, to->labels[0]);
        return false;
    }
    return true;
}

static bool is_numeric(jn_dtype d)
{
    return d != JN_DTYPE_INVALID && d != JN_DTYPE_BYTES && d < JN_DTYPE_COUNT;
}

static bool is_float(jn_dtype d)
{
    return d == JN_DTYPE_FP16 || d == JN_DTYPE_BF16 || d == JN_DTYPE_FP32 || d == JN_DTYPE_FP64;
}

static bool is_signed_int(jn_dtype d)
{
    return d == JN_DTYPE_INT8 || d == JN_DTYPE_INT16 || d == JN_DTYPE_INT32 || d == JN_DTYPE_INT64;
}

/* Bits of integer precision a type holds exactly (floats: their mantissa). */
static int exact_bits(jn_dtype d)
{
    switch (d) {
    case JN_DTYPE_BOOL:
        return 1;
    case JN_DTYPE_UINT8:
    case JN_DTYPE_INT8:
        return 8;
    case JN_DTYPE_UINT16:
    case JN_DTYPE_INT16:
        return 16;
    case JN_DTYPE_UINT32:
    case JN_DTYPE_INT32:
        return 32;
    case JN_DTYPE_UINT64:
    case JN_DTYPE_INT64:
        return 64;
    case JN_DTYPE_FP16:
        return 11;
    case JN_DTYPE_BF16:
        return 8;
    case JN_DTYPE_FP32:
        return 24;
    case JN_DTYPE_FP64:
        return 53;
    default:
        return 0;
    }
}

bool jn_cast_is_lossless(jn_dtype from, jn_dtype to)
{
    if (!is_numeric(from) || !is_numeric(to) || from == to)
        return from == to;
    if (is_float(from)) /* floats widen only to wider floats */
        return is_float(to) && exact_bits(to) > exact_bits(from) &&
               !(from == JN_DTYPE_BF16 && to == JN_DTYPE_FP16);
    if (from == JN_DTYPE_BOOL)
        return true;
    /* integers: the target must hold every value, signed-ness included */
    bool from_signed = is_signed_int(from);
    if (is_float(to))
        return exact_bits(to) >= exact_bits(from);
    if (from_signed && !is_signed_int(to))
        return false;
    if (!from_signed && is_signed_int(to))
        return exact_bits(to) > exact_bits(from);
    return exact_bits(to) >= exact_bits(from);
}

/* ---- element access ---- */

static double read_elem(const void *data, size_t i, jn_dtype d)
{
    switch (d) {
    case JN_DTYPE_BOOL:
        return ((const uint8_t *)data)[i] != 0;
    case JN_DTYPE_UINT8:
        return ((const uint8_t *)data)[i];
    case JN_DTYPE_UINT16:
        return ((const uint16_t *)data)[i];
    case JN_DTYPE_UINT32:
        return ((const uint32_t *)data)[i];
    case JN_DTYPE_UINT64:
        return (double)((const uint64_t *)data)[i];
    case JN_DTYPE_INT8:
        return ((const int8_t *)data)[i];
    case JN_DTYPE_INT16:
        return ((const int16_t *)data)[i];
    case JN_DTYPE_INT32:
        return ((const int32_t *)data)[i];
    case JN_DTYPE_INT64:
        return (double)((const int64_t *)data)[i];
    case JN_DTYPE_FP16:
        return jn_fp16_to_float(((const uint16_t *)data)[i]);
    case JN_DTYPE_BF16:
        return jn_bf16_to_float(((const uint16_t *)data)[i]);
    case JN_DTYPE_FP32:
        return ((const float *)data)[i];
    case JN_DTYPE_FP64:
        return ((const double *)data)[i];
    default:
        return 0;
    }
}

/* Integers round to nearest and saturate; NaN becomes 0. */
static double clamp_round(double v, double lo, double hi)
{
    if (v != v)
        return 0;
    v = nearbyint(v);
    return v < lo ? lo : v > hi ? hi : v;
}

static void write_elem(void *data, size_t i, jn_dtype d, double v)
{
    switch (d) {
    case JN_DTYPE_BOOL:
        ((uint8_t *)data)[i] = v != 0;
        break;
    case JN_DTYPE_UINT8:
        ((uint8_t *)data)[i] = (uint8_t)clamp_round(v, 0, UINT8_MAX);
        break;
    case JN_DTYPE_UINT16:
        ((uint16_t *)data)[i] = (uint16_t)clamp_round(v, 0, UINT16_MAX);
        break;
    case JN_DTYPE_UINT32:
        ((uint32_t *)data)[i] = (uint32_t)clamp_round(v, 0, UINT32_MAX);
        break;
    case JN_DTYPE_UINT64:
        ((uint64_t *)data)[i] = (uint64_t)clamp_round(v, 0, 18446744073709549568.0);
        break;
    case JN_DTYPE_INT8:
        ((int8_t *)data)[i] = (int8_t)clamp_round(v, INT8_MIN, INT8_MAX);
        break;
    case JN_DTYPE_INT16:
        ((int16_t *)data)[i] = (int16_t)clamp_round(v, INT16_MIN, INT16_MAX);
        break;
    case JN_DTYPE_INT32:
        ((int32_t *)data)[i] = (int32_t)clamp_round(v, INT32_MIN, INT32_MAX);
        break;
    case JN_DTYPE_INT64:
        ((int64_t *)data)[i] = (int64_t)clamp_round(v, -9223372036854775808.0, 9223372036854774784.0);
        break;
    case JN_DTYPE_FP16:
        ((uint16_t *)data)[i] = jn_fp16_from_double((float)v); /* through FP32, as casts to FP32 go */
        break;
    case JN_DTYPE_BF16:
        ((uint16_t *)data)[i] = jn_bf16_from_float((float)v);
        break;
    case JN_DTYPE_FP32:
        ((float *)data)[i] = (float)v;
        break;
    case JN_DTYPE_FP64:
        ((double *)data)[i] = v;
        break;
    default:
        break;
    }
}

/* ---- cast ---- */

/* Does the binding declare out = in * scale + offset (an offset alone means scale 1)? */
static bool declares_affine(const jn_binding *b)
{
    return b && (b->has_scale || b->offset != 0.0);
}

static bool cast_plan(const jn_port *from, const jn_port *to, const jn_binding *b, jn_convert_step *out)
{
    if (!is_numeric(from->dtype) || !is_numeric(to->dtype) || is_bytes_kind(from->kind))
        return false;
    bool declared = b && (b->cast != JN_DTYPE_INVALID || declares_affine(b));
    jn_dtype target = b && b->cast != JN_DTYPE_INVALID ? b->cast : to->dtype;
    if (target != to->dtype)
        return false; /* a declared cast must land on the consumer's datatype */
    if (from->dtype == target && !declares_affine(b))
        return false;
    if (!declared && !jn_cast_is_lossless(from->dtype, target))
        return false;
    out->result = *from;
    out->result.dtype = target;
    out->scale = b && b->has_scale ? b->scale : 1.0;
    out->offset = b ? b->offset : 0.0;
    return true;
}

static int cast_apply(const jn_convert_step *step, jn_tensor *in, jn_tensor **out, jn_err *err)
{
    jn_tensor *t = jn_tensor_create(in->name, step->result.dtype, in->ndim, in->shape, err);
    if (!t) {
        jn_tensor_free(in);
        return err ? err->code : JN_ENOMEM;
    }
    int64_t n = jn_tensor_element_count(in);
    bool plain = step->scale == 1.0 && step->offset == 0.0;
    for (int64_t i = 0; i < n; i++) {
        double v = read_elem(in->data, (size_t)i, in->dtype);
        write_elem(t->data, (size_t)i, t->dtype, plain ? v : v * step->scale + step->offset);
    }
    jn_tensor_free(in);
    *out = t;
    return 0;
}

/* ---- reshape ---- */

static int64_t fixed_product(const jn_port *p, int *wildcards)
{
    int64_t n = 1;
    *wildcards = 0;
    for (int i = 0; i < p->ndim; i++) {
        if (p->shape[i] < 0)
            (*wildcards)++;
        else
            n *= p->shape[i];
    }
    return n;
}

static bool reshape_plan(const jn_port *from, const jn_port *to, const jn_binding *b, jn_convert_step *out)
{
    if (from->dtype != to->dtype || is_bytes_kind(from->kind) != is_bytes_kind(to->kind) ||
        dims_compatible(to, from))
        return false;
    int wf, wt;
    int64_t nf = fixed_product(from, &wf), nt = fixed_product(to, &wt);
    if (wf == 0 && wt == 0 && nf != nt)
        return false;
    if (wf == 0 && wt > 0 && (nt == 0 || nf % nt != 0))
        return false;
    out->result = *from;
    out->result.ndim = to->ndim;
    memcpy(out->result.shape, to->shape, sizeof to->shape);
    return true;
}

static int reshape_apply(const jn_convert_step *step, jn_tensor *in, jn_tensor **out, jn_err *err)
{
    const jn_port *to = &step->result;
    int64_t count = jn_tensor_element_count(in);
    int64_t shape[JN_MAX_DIMS];
    int wild = 0;
    int64_t fixed = fixed_product(to, &wild);
    int last_wild = -1;
    for (int i = 0; i < to->ndim; i++) {
        shape[i] = to->shape[i];
        if (shape[i] < 0)
            last_wild = i;
    }
    /* Leading wildcard dims become 1; the last one takes what is left. */
    for (int i = 0; i < to->ndim; i++)
        if (shape[i] < 0 && i != last_wild)
            shape[i] = 1;
    if (last_wild >= 0 && fixed > 0 && count % fixed == 0)
        shape[last_wild] = count / fixed;
    if (jn_shape_element_count(to->ndim, shape) != count) {
        char a[160], b[160];
        jn_err_set(err, JN_EINVAL, "cannot reshape %s into %s",
                   jn_format_type(a, sizeof a, in->dtype, in->ndim, in->shape),
                   jn_format_type(b, sizeof b, to->dtype, to->ndim, to->shape));
        jn_tensor_free(in);
        return JN_EINVAL;
    }
    jn_tensor *t = jn_tensor_wrap(in->name, in->dtype, to->ndim, shape, in->buffer, in->data, in->byte_size, err);
    jn_tensor_free(in);
    if (!t)
        return err ? err->code : JN_ENOMEM;
    *out = t;
    return 0;
}

/* ---- CLASSIFICATION -> TEXT: the top-1 label of each row ---- */

static bool top1_plan(const jn_port *from, const jn_port *to, const jn_binding *b, jn_convert_step *out)
{
    if (from->kind != JN_KIND_CLASSIFICATION || from->dtype != JN_DTYPE_FP32 || from->n_labels == 0 ||
        to->kind != JN_KIND_TEXT || from->ndim < 1)
        return false;
    out->result = *to;
    out->result.kind = JN_KIND_TEXT;
    out->result.dtype = JN_DTYPE_BYTES;
    out->result.labels = NULL;
    out->result.n_labels = 0;
    if (from->ndim == 1) {
        out->result.ndim = 1;
        out->result.shape[0] = 1;
    } else {
        out->result.ndim = from->ndim - 1;
        memcpy(out->result.shape, from->shape, (size_t)(from->ndim - 1) * sizeof from->shape[0]);
    }
    return true;
}

static int top1_apply(const jn_convert_step *step, jn_tensor *in, jn_tensor **out, jn_err *err)
{
    const jn_port *from = step->from;
    int64_t classes = in->ndim ? in->shape[in->ndim - 1] : 0;
    if (classes != (int64_t)from->n_labels || classes == 0) {
        jn_err_set(err, JN_EINVAL, "classification has %lld scores per row but %zu labels", (long long)classes,
                   from->n_labels);
        jn_tensor_free(in);
        return JN_EINVAL;
    }
    int64_t rows = jn_tensor_element_count(in) / classes;
    const char **labels = malloc((size_t)(rows ? rows : 1) * sizeof *labels);
    size_t *lens = malloc((size_t)(rows ? rows : 1) * sizeof *lens);
    jn_tensor *t = NULL;
    if (labels && lens) {
        const float *s = in->data;
        for (int64_t r = 0; r < rows; r++) {
            int64_t best = 0;
            for (int64_t c = 1; c < classes; c++)
                if (s[r * classes + c] > s[r * classes + best])
                    best = c;
            labels[r] = from->labels[best];
            lens[r] = strlen(labels[r]);
        }
        int64_t shape[JN_MAX_DIMS];
        int ndim = in->ndim > 1 ? in->ndim - 1 : 1;
        if (in->ndim > 1)
            memcpy(shape, in->shape, (size_t)ndim * sizeof shape[0]);
        else
            shape[0] = 1;
        t = jn_tensor_from_strings(in->name, ndim, shape, labels, lens, (size_t)rows, err);
    } else {
        jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    free(labels);
    free(lens);
    jn_tensor_free(in);
    if (!t)
        return err ? err->code : JN_ENOMEM;
    *out = t;
    return 0;
}

/* ---- CLASSIFICATION -> CLASSIFICATION with the same labels in another order: permute the scores ---- */

static bool relabel_plan(const jn_port *from, const jn_port *to, const jn_binding *b, jn_convert_step *out)
{
    if (from->kind != JN_KIND_CLASSIFICATION || to->kind != JN_KIND_CLASSIFICATION || from->dtype != JN_DTYPE_FP32 ||
        !from->n_labels || !to->n_labels || labels_equal(to, from) || !label_permutation(to, from, NULL))
        return false;
    out->result = *from;
    out->result.labels = to->labels;
    out->result.n_labels = to->n_labels;
    return true;
}

static int relabel_apply(const jn_convert_step *step, jn_tensor *in, jn_tensor **out, jn_err *err)
{
    size_t k = step->to->n_labels;
    size_t perm[256];
    int64_t last = in->ndim ? in->shape[in->ndim - 1] : 0;
    if (k > 256 || last != (int64_t)k || !label_permutation(step->to, step->from, perm)) {
        jn_tensor_free(in);
        return jn_err_set(err, JN_EINVAL, "classification has %lld scores per row, its labels %zu", (long long)last,
                          k);
    }
    jn_tensor *t = jn_tensor_create(in->name, JN_DTYPE_FP32, in->ndim, in->shape, err);
    if (!t) {
        jn_tensor_free(in);
        return err ? err->code : JN_ENOMEM;
    }
    int64_t rows = jn_tensor_element_count(in) / (int64_t)k;
    const float *src = in->data;
    float *dst = t->data;
    for (int64_t r = 0; r < rows; r++)
        for (size_t i = 0; i < k; i++)
            dst[(size_t)r * k + i] = src[(size_t)r * k + perm[i]];
    jn_tensor_free(in);
    *out = t;
    return 0;
}

const jn_conversion jn_conversions[] = {
    {"cast", cast_plan, cast_apply},
    {"reshape", reshape_plan, reshape_apply},
    {"top1-label", top1_plan, top1_apply},
    {"relabel", relabel_plan, relabel_apply},
    {NULL, NULL, NULL},
};

static const jn_conversion *_Atomic registered[JN_CONVERT_MAX_REGISTERED];
static atomic_int n_registered;
static pthread_mutex_t register_lock = PTHREAD_MUTEX_INITIALIZER;

int jn_convert_register(const jn_conversion *conv)
{
    int rc = 0;
    pthread_mutex_lock(&register_lock);
    int n = atomic_load(&n_registered);
    for (int i = 0; i < n; i++)
        if (atomic_load(&registered[i]) == conv)
            goto out;
    if (n == JN_CONVERT_MAX_REGISTERED) {
        rc = JN_ERESOURCE;
        goto out;
    }
    atomic_store(&registered[n], conv);
    atomic_store(&n_registered, n + 1); /* publishes the row */
out:
    pthread_mutex_unlock(&register_lock);
    return rc;
}

/* Row i of the open table: the built-in rows, then the registered ones; NULL past the end. */
static const jn_conversion *conversion_at(int i)
{
    const int n_builtin = (int)(sizeof jn_conversions / sizeof jn_conversions[0]) - 1; /* without the NULL row */
    if (i < n_builtin)
        return &jn_conversions[i];
    i -= n_builtin;
    return i < atomic_load(&n_registered) ? atomic_load(&registered[i]) : NULL;
}

int jn_convert_plan(const jn_port *from, const jn_port *to, const jn_binding *b,
                    jn_convert_step chain[JN_CONVERT_MAX_CHAIN])
{
    char why[256];
    /* A declaration that changes nothing (a cast to the type it already has, no scale) needs no conversion. */
    bool changes = declares_affine(b) || (b && b->cast != JN_DTYPE_INVALID && b->cast != from->dtype);
    if (!changes && jn_port_fits(to, from, why, sizeof why))
        return 0;
    const jn_conversion *c1, *c2;
    for (int i = 0; (c1 = conversion_at(i)) != NULL; i++) {
        jn_convert_step s1 = {.conv = c1, .to = to, .from = from, .scale = 1.0};
        if (!c1->plan(from, to, b, &s1))
            continue;
        if (jn_port_fits(to, &s1.result, why, sizeof why)) {
            chain[0] = s1;
            return 1;
        }
        for (int j = 0; (c2 = conversion_at(j)) != NULL; j++) {
            if (c2 == c1)
                continue;
            jn_convert_step s2 = {.conv = c2, .to = to, .from = &chain[0].result, .scale = 1.0};
            chain[0] = s1;
            if (c2->plan(&chain[0].result, to, NULL, &s2) && jn_port_fits(to, &s2.result, why, sizeof why)) {
                chain[1] = s2;
                return 2;
            }
        }
    }
    return -1;
}

int jn_convert_apply(const jn_convert_step *chain, int n, jn_tensor *in, jn_tensor **out, jn_err *err)
{
    for (int i = 0; i < n; i++) {
        int rc = chain[i].conv->apply(&chain[i], in, &in, err);
        if (rc)
            return rc; /* apply consumed `in` */
    }
    *out = in;
    return 0;
}
