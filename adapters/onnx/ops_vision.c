/* ops_vision.c — layout and normalization operators of vision models: Pad (opsets 1/2 attribute forms, 11+ inputs,
 * 18 axes, 19 wrap), Tile, CenterCropPad, DepthToSpace, SpaceToDepth, InstanceNormalization, GroupNormalization
 * (18: per-group scale/bias, 21: per-channel), LpNormalization, LRN. The table at the end also lists ops_pool.c's
 * and ops_detect.c's operators.
 *
 * Data movement (Pad, Tile, CenterCropPad, DepthToSpace, SpaceToDepth) works on any dtype the adapter
 * carries; the arithmetic ones on FP32 (checked at load). Pad/Tile/CenterCropPad read their shape inputs
 * when a shape set is planned (shape_inputs). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops_helpers.h"

static const char *const no_attrs[] = {NULL};

/* ---------------------------------------------------------------------------------------------------------------
 * A gather through per-axis index maps (-1: the fill value), the core of Pad, Tile and CenterCropPad. */

static void gather_maps(const ox_tensor *x, ox_tensor *y, int64_t *const *map, const void *fill)
{
    int r = y->ndim;
    int64_t total = ox_count(y);
    if (total == 0)
        return;
    size_t es = jn_dtype_size(y->dtype);
    int64_t stride[JN_MAX_DIMS], s = 1;
    for (int d = r - 1; d >= 0; d--) {
        stride[d] = s;
        s *= x->shape[d];
    }
    int64_t W = r ? y->shape[r - 1] : 1, idx[JN_MAX_DIMS] = {0};
    const uint8_t *src = x->data;
    uint8_t *dst = y->data;
    for (int64_t o = 0; o < total; o += W) {
        int64_t base = 0;
        bool outside = false;
        for (int d = 0; d < r - 1; d++) {
            if (map[d][idx[d]] < 0)
                outside = true;
            else
                base += map[d][idx[d]] * stride[d];
        }
        if (r == 0) {
            memcpy(dst, src, es);
        } else if (es == 4 && !outside) {
            const uint32_t *sw = (const uint32_t *)src + base;
            uint32_t *dw = (uint32_t *)dst + o, f;
            memcpy(&f, fill, 4);
            const int64_t *mw = map[r - 1];
            for (int64_t w = 0; w < W; w++)
                dw[w] = mw[w] < 0 ? f : sw[mw[w]];
        } else {
            const int64_t *mw = map[r - 1];
            for (int64_t w = 0; w < W; w++) {
                const void *from = outside || mw[w] < 0 ? fill : src + (size_t)(base + mw[w]) * es;
                memcpy(dst + (size_t)(o + w) * es, from, es);
            }
        }
        for (int d = r - 2; d >= 0; d--) {
            if (++idx[d] < y->shape[d])
                break;
            idx[d] = 0;
        }
    }
}

static int64_t *maps_alloc(const ox_tensor *y, int64_t **map)
{
    size_t sum = 0;
    for (int d = 0; d < y->ndim; d++)
        sum += (size_t)y->shape[d];
    int64_t *all = malloc((sum + 1) * sizeof *all), *p = all;
    if (!all)
        return NULL;
    for (int d = 0; d < y->ndim; d++) {
        map[d] = p;
        p += y->shape[d];
    }
    return all;
}

/* ---------------------------------------------------------------------------------------------------------------
 * Pad */

enum { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP };
static const char *const pad_modes[] = {"constant", "reflect", "edge", "wrap", NULL};

static int pad_check(ox_model *m, ox_node *n, jn_err *err)
{
    int mode = oxh_str_choice(n, "mode", "constant", pad_modes, err);
    if (mode < 0)
        return err->code;
    if (mode == PAD_WRAP && n->opset < 19)
        return ox_reject(n, err, "mode 'wrap' is defined from opset 19 (the model imports %d)", n->opset);
    if (n->opset < 11) {
        if (n->n_in != 1)
            return ox_reject(n, err, "opset %d takes one input (pads as an attribute)", n->opset);
        if (!ox_attr_ints(n, n->opset < 2 ? "paddings" : "pads", &(size_t){0}))
            return ox_reject(n, err, "the %s attribute is required at opset %d", n->opset < 2 ? "paddings" : "pads",
                             n->opset);
    } else {
        if (n->n_in < 2)
            return ox_reject(n, err, "the pads input is required at opset %d", n->opset);
        if (oxh_need_int(m, n, 1, "pads", err) || oxh_need_int(m, n, 3, "axes", err))
            return err->code;
        if (ox_has_in(n, 2) && ox_in_dtype(m, n, 2) != ox_in_dtype(m, n, 0))
            return ox_reject(n, err, "constant_value has dtype %s, the data %s", jn_dtype_name(ox_in_dtype(m, n, 2)),
                             jn_dtype_name(ox_in_dtype(m, n, 0)));
    }
    return oxh_any_dtype_check(m, n, err);
}

/* The begin and end padding of every axis (negative crops). */
static int pad_amounts(const ox_node *n, ox_tensor *const *in, int64_t *pb, int64_t *pe, jn_err *err)
{
    int r = in[0]->ndim;
    int64_t pads[2 * JN_MAX_DIMS];
    int np = 0;
    for (int d = 0; d < r; d++)
        pb[d] = pe[d] = 0;
    if (n->opset < 11) {
        size_t c;
        const int64_t *v = ox_attr_ints(n, n->opset < 2 ? "paddings" : "pads", &c);
        if (c != 2 * (size_t)r)
            return OX_ERR(n, err, JN_EINVAL, "pads has %zu values for a rank-%d input", c, r);
        for (int d = 0; d < r; d++) {
            pb[d] = v[d];
            pe[d] = v[r + d];
        }
        return 0;
    }
    if (oxh_read_ints(n, in[1], "pads", pads, 2 * JN_MAX_DIMS, &np, err))
        return err->code;
    int axes[JN_MAX_DIMS], na = r;
    if (oxh_given(in, n->n_in, 3)) {
        int64_t av[JN_MAX_DIMS];
        if (oxh_read_ints(n, in[3], "axes", av, JN_MAX_DIMS, &na, err))
            return err->code;
        for (int i = 0; i < na; i++)
            if ((axes[i] = ox_axis(av[i], r)) < 0)
                return OX_ERR(n, err, JN_EINVAL, "axes value %lld is out of range", (long long)av[i]);
    } else {
        for (int i = 0; i < r; i++)
            axes[i] = i;
    }
    if (np != 2 * na)
        return OX_ERR(n, err, JN_EINVAL, "pads has %d values, %d expected", np, 2 * na);
    for (int i = 0; i < na; i++) {
        pb[axes[i]] = pads[i];
        pe[axes[i]] = pads[na + i];
    }
    return 0;
}

static int pad_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t pb[JN_MAX_DIMS], pe[JN_MAX_DIMS], shape[JN_MAX_DIMS];
    if (pad_amounts(n, in, pb, pe, err))
        return err->code;
    int mode = oxh_str_index(n, "mode", "constant", pad_modes);
    for (int d = 0; d < in[0]->ndim; d++) {
        if (pb[d] > JN_MAX_TENSOR_ELEMENTS || pe[d] > JN_MAX_TENSOR_ELEMENTS || pb[d] < -JN_MAX_TENSOR_ELEMENTS ||
            pe[d] < -JN_MAX_TENSOR_ELEMENTS)
            return OX_ERR(n, err, JN_EINVAL, "pad %lld/%lld of axis %d is out of range", (long long)pb[d],
                          (long long)pe[d], d);
        shape[d] = in[0]->shape[d] + pb[d] + pe[d];
        if (shape[d] < 0)
            return OX_ERR(n, err, JN_EINVAL, "axis %d: negative pads remove more than its %lld elements", d,
                          (long long)in[0]->shape[d]);
        if (mode != PAD_CONSTANT && shape[d] > 0 && in[0]->shape[d] + (pb[d] < 0 ? pb[d] : 0) +
                                                          (pe[d] < 0 ? pe[d] : 0) <= 0)
            return OX_ERR(n, err, JN_EINVAL, "axis %d is empty: nothing to %s", d, pad_modes[mode]);
    }
    return ox_set_shape(out[0], in[0]->dtype, in[0]->ndim, shape, err);
}

static int64_t pad_src(int mode, int64_t j, int64_t w)
{
    if (j >= 0 && j < w)
        return j;
    switch (mode) {
    case PAD_EDGE: return j < 0 ? 0 : w - 1;
    case PAD_WRAP: return ((j % w) + w) % w;
    case PAD_REFLECT: {
        if (w == 1)
            return 0;
        int64_t period = 2 * (w - 1), k = ((j % period) + period) % period;
        return k < w ? k : period - k;
    }
    default: return -1;
    }
}

static int pad_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t pb[JN_MAX_DIMS], pe[JN_MAX_DIMS], *map[JN_MAX_DIMS];
    if (pad_amounts(n, in, pb, pe, err))
        return err->code;
    int mode = oxh_str_index(n, "mode", "constant", pad_modes);
    int64_t *all = maps_alloc(out[0], map);
    if (!all)
        return OX_ERR(n, err, JN_ENOMEM, "out of memory");
    /* Negative pads crop first; the positive ones then pad what is left (reflect, edge and wrap read the cropped
     * tensor, as ONNX Runtime does). */
    for (int d = 0; d < out[0]->ndim; d++) {
        int64_t cb = pb[d] < 0 ? -pb[d] : 0, ce = pe[d] < 0 ? -pe[d] : 0, w = in[0]->shape[d] - cb - ce;
        for (int64_t i = 0; i < out[0]->shape[d]; i++) {
            int64_t k = pad_src(mode, i - (pb[d] > 0 ? pb[d] : 0), w);
            map[d][i] = k < 0 ? -1 : k + cb;
        }
    }
    uint8_t fill[16] = {0};
    if (n->opset >= 11 && oxh_given(in, n->n_in, 2))
        memcpy(fill, in[2]->data, jn_dtype_size(in[0]->dtype));
    else if (n->opset < 11)
        ox_store_f64(fill, in[0]->dtype, 0, ox_attr_float(n, "value", 0.0f));
    gather_maps(in[0], out[0], map, fill);
    free(all);
    return 0;
}

static const char *const pad_attrs[] = {"mode", "pads", "paddings", "value", NULL};
static const ox_op op_pad = {.op_type = "Pad", .min_in = 1, .max_in = 4, .min_out = 1, .max_out = 1,
                             .attrs = pad_attrs, .shape_inputs = (1u << 1) | (1u << 3), .check = pad_check,
                             .shape = pad_shape, .run = pad_run};

/* ---------------------------------------------------------------------------------------------------------------
 * Tile */

static int tile_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (n->opset < 6)
        return ox_reject(n, err, "opset %d's tiles/axis inputs are not supported (6 or later)", n->opset);
    if (oxh_need_int(m, n, 1, "repeats", err))
        return err->code;
    return oxh_any_dtype_check(m, n, err);
}

static int tile_reps(const ox_node *n, ox_tensor *const *in, int64_t *rep, jn_err *err)
{
    int nr = 0;
    if (oxh_read_ints(n, in[1], "repeats", rep, JN_MAX_DIMS, &nr, err))
        return err->code;
    if (nr != in[0]->ndim)
        return OX_ERR(n, err, JN_EINVAL, "repeats has %d values for a rank-%d input", nr, in[0]->ndim);
    for (int d = 0; d < nr; d++)
        if (rep[d] < 0)
            return OX_ERR(n, err, JN_EINVAL, "repeats value %lld is negative", (long long)rep[d]);
    return 0;
}

static int tile_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t rep[JN_MAX_DIMS], shape[JN_MAX_DIMS];
    if (tile_reps(n, in, rep, err))
        return err->code;
    for (int d = 0; d < in[0]->ndim; d++) {
        if (rep[d] && in[0]->shape[d] > JN_MAX_TENSOR_ELEMENTS / rep[d])
            return OX_ERR(n, err, JN_ERESOURCE, "axis %d would be too large", d);
        shape[d] = in[0]->shape[d] * rep[d];
    }
    return ox_set_shape(out[0], in[0]->dtype, in[0]->ndim, shape, err);
}

static int tile_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t *map[JN_MAX_DIMS];
    int64_t *all = maps_alloc(out[0], map);
    if (!all)
        return OX_ERR(n, err, JN_ENOMEM, "out of memory");
    for (int d = 0; d < out[0]->ndim; d++)
        for (int64_t i = 0; i < out[0]->shape[d]; i++)
            map[d][i] = i % in[0]->shape[d];
    uint8_t fill[16] = {0};
    gather_maps(in[0], out[0], map, fill);
    free(all);
    return 0;
}

static const ox_op op_tile = {.op_type = "Tile", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
                              .attrs = no_attrs, .shape_inputs = 1u << 1, .check = tile_check,
                              .shape = tile_shape, .run = tile_run};

/* ---------------------------------------------------------------------------------------------------------------
 * CenterCropPad */

static int ccp_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (oxh_need_int(m, n, 1, "shape", err))
        return err->code;
    return oxh_any_dtype_check(m, n, err);
}

/* Output shape and, per axis, the offset of the input in the output (negative: cropped). */
static int ccp_geom(const ox_node *n, ox_tensor *const *in, int64_t *shape, int64_t *off, jn_err *err)
{
    int r = in[0]->ndim, ns = 0;
    int64_t want[JN_MAX_DIMS];
    if (oxh_read_ints(n, in[1], "shape", want, JN_MAX_DIMS, &ns, err))
        return err->code;
    size_t ac;
    const int64_t *av = ox_attr_ints(n, "axes", &ac);
    int na = av ? (int)ac : r;
    if (ns != na)
        return OX_ERR(n, err, JN_EINVAL, "shape has %d values, %d expected", ns, na);
    for (int d = 0; d < r; d++) {
        shape[d] = in[0]->shape[d];
        off[d] = 0;
    }
    for (int i = 0; i < na; i++) {
        int a = av ? ox_axis(av[i], r) : i;
        if (a < 0)
            return OX_ERR(n, err, JN_EINVAL, "axes value %lld is out of range", (long long)av[i]);
        if (want[i] < 0 || want[i] > JN_MAX_TENSOR_ELEMENTS)
            return OX_ERR(n, err, JN_EINVAL, "shape value %lld is out of range", (long long)want[i]);
        int64_t dim = in[0]->shape[a];
        shape[a] = want[i];
        off[a] = want[i] >= dim ? (want[i] - dim) / 2 : -((dim - want[i]) / 2);
    }
    return 0;
}

static int ccp_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t shape[JN_MAX_DIMS], off[JN_MAX_DIMS];
    if (ccp_geom(n, in, shape, off, err))
        return err->code;
    return ox_set_shape(out[0], in[0]->dtype, in[0]->ndim, shape, err);
}

static int ccp_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t shape[JN_MAX_DIMS], off[JN_MAX_DIMS], *map[JN_MAX_DIMS];
    if (ccp_geom(n, in, shape, off, err))
        return err->code;
    int64_t *all = maps_alloc(out[0], map);
    if (!all)
        return OX_ERR(n, err, JN_ENOMEM, "out of memory");
    for (int d = 0; d < out[0]->ndim; d++)
        for (int64_t i = 0; i < out[0]->shape[d]; i++) {
            int64_t j = i - off[d];
            map[d][i] = j >= 0 && j < in[0]->shape[d] ? j : -1;
        }
    uint8_t fill[16] = {0};
    gather_maps(in[0], out[0], map, fill);
    free(all);
    return 0;
}

static const char *const ccp_attrs[] = {"axes", NULL};
static const ox_op op_ccp = {.op_type = "CenterCropPad", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
                             .attrs = ccp_attrs, .shape_inputs = 1u << 1, .check = ccp_check, .shape = ccp_shape,
                             .run = ccp_run};

/* ---------------------------------------------------------------------------------------------------------------
 * DepthToSpace, SpaceToDepth ([N, C, H, W]) */

static int d2s_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (ox_attr_int(n, "blocksize", 0) < 1 || ox_attr_int(n, "blocksize", 0) > 1 << 14)
        return ox_reject(n, err, "blocksize must be an integer from 1 to 16384");
    const char *mode = ox_attr_str(n, "mode", "DCR");
    if (strcmp(mode, "DCR") != 0 && strcmp(mode, "CRD") != 0)
        return ox_reject(n, err, "mode '%s' is not one of DCR, CRD", mode);
    return oxh_any_dtype_check(m, n, err);
}

static bool is_d2s(const ox_node *n)
{
    return strcmp(n->op_type, "DepthToSpace") == 0;
}

static int d2s_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    const ox_tensor *x = in[0];
    int64_t b = ox_attr_int(n, "blocksize", 1);
    if (x->ndim != 4)
        return OX_ERR(n, err, JN_EINVAL, "the input must be 4-D [N, C, H, W]");
    int64_t s[4] = {x->shape[0], x->shape[1], x->shape[2], x->shape[3]};
    if (is_d2s(n)) {
        if (s[1] % (b * b))
            return OX_ERR(n, err, JN_EINVAL, "%lld channels are not a multiple of blocksize^2", (long long)s[1]);
        s[1] /= b * b, s[2] *= b, s[3] *= b;
    } else {
        if (s[2] % b || s[3] % b)
            return OX_ERR(n, err, JN_EINVAL, "height and width must be multiples of blocksize %lld", (long long)b);
        s[1] *= b * b, s[2] /= b, s[3] /= b;
    }
    return ox_set_shape(out[0], x->dtype, 4, s, err);
}

static int d2s_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    (void)err;
    bool d2s = is_d2s(n), crd = strcmp(ox_attr_str(n, "mode", "DCR"), "CRD") == 0;
    int64_t b = ox_attr_int(n, "blocksize", 1);
    const ox_tensor *big = d2s ? in[0] : out[0], *small = d2s ? out[0] : in[0]; /* big: the [N, C*b*b, H, W] side */
    int64_t N = big->shape[0], C = small->shape[1], H = big->shape[2], W = big->shape[3];
    size_t es = jn_dtype_size(in[0]->dtype);
    const uint8_t *src = in[0]->data;
    uint8_t *dst = out[0]->data;
    for (int64_t nn = 0; nn < N; nn++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < b; i++)
                for (int64_t j = 0; j < b; j++) {
                    int64_t bc = crd && d2s ? c * b * b + i * b + j : (i * b + j) * C + c;
                    for (int64_t h = 0; h < H; h++)
                        for (int64_t w = 0; w < W; w++) {
                            int64_t bi = ((nn * big->shape[1] + bc) * H + h) * W + w;
                            int64_t si = ((nn * C + c) * H * b + h * b + i) * W * b + w * b + j;
                            if (d2s)
                                memcpy(dst + si * (int64_t)es, src + bi * (int64_t)es, es);
                            else
                                memcpy(dst + bi * (int64_t)es, src + si * (int64_t)es, es);
                        }
                }
    return 0;
}

static const char *const d2s_attrs[] = {"blocksize", "mode", NULL};
static const char *const s2d_attrs[] = {"blocksize", NULL};
static const ox_op op_d2s = {.op_type = "DepthToSpace", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
                             .attrs = d2s_attrs, .check = d2s_check, .shape = d2s_shape, .run = d2s_run};
static const ox_op op_s2d = {.op_type = "SpaceToDepth", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
                             .attrs = s2d_attrs, .check = d2s_check, .shape = d2s_shape, .run = d2s_run};

/* ---------------------------------------------------------------------------------------------------------------
 * InstanceNormalization, GroupNormalization */

static int same_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    (void)n;
    return ox_set_shape(out[0], in[0]->dtype, in[0]->ndim, in[0]->shape, err);
}

static int norm_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    if (in[0]->ndim < 2)
        return OX_ERR(n, err, JN_EINVAL, "the input must be at least 2-D [N, C, ...]");
    bool group = strcmp(n->op_type, "GroupNormalization") == 0;
    int64_t C = in[0]->shape[1], G = group ? ox_attr_int(n, "num_groups", 1) : C;
    if (G < 1 || C % G)
        return OX_ERR(n, err, JN_EINVAL, "%lld channels do not split into %lld groups", (long long)C, (long long)G);
    int64_t want = group && n->opset < 21 ? G : C;
    for (int i = 1; i <= 2; i++)
        if (ox_count(in[i]) != want)
            return OX_ERR(n, err, JN_EINVAL, "%s has %lld values, %lld expected", i == 1 ? "scale" : "bias",
                          (long long)ox_count(in[i]), (long long)want);
    return same_shape(n, in, out, err);
}

static int norm_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    (void)err;
    bool group = strcmp(n->op_type, "GroupNormalization") == 0;
    const float *x = in[0]->data, *sc = in[1]->data, *bi = in[2]->data;
    float *y = out[0]->data;
    int64_t N = in[0]->shape[0], C = in[0]->shape[1], G = group ? ox_attr_int(n, "num_groups", 1) : C;
    int64_t size = 1;
    for (int i = 2; i < in[0]->ndim; i++)
        size *= in[0]->shape[i];
    int64_t cpg = C / G, len = cpg * size;
    bool per_group = group && n->opset < 21;
    double eps = ox_attr_float(n, "epsilon", 1e-5f);
    for (int64_t nn = 0; nn < N; nn++)
        for (int64_t g = 0; g < G; g++) {
            const float *xg = x + (nn * C + g * cpg) * size;
            float *yg = y + (nn * C + g * cpg) * size;
            double s = 0, ss = 0;
            for (int64_t i = 0; i < len; i++)
                s += xg[i];
            double mean = len ? s / (double)len : 0;
            for (int64_t i = 0; i < len; i++) {
                double d = xg[i] - mean;
                ss += d * d;
            }
            double inv = 1.0 / sqrt((len ? ss / (double)len : 0) + eps);
            for (int64_t c = 0; c < cpg; c++) {
                int64_t ch = g * cpg + c;
                double a = (per_group ? sc[g] : sc[ch]) * inv, b = per_group ? bi[g] : bi[ch];
                for (int64_t i = 0; i < size; i++)
                    yg[c * size + i] = (float)((xg[c * size + i] - mean) * a + b);
            }
        }
    return 0;
}

static int gn_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (ox_attr_int(n, "num_groups", 0) < 1)
        return ox_reject(n, err, "num_groups must be a positive integer");
    if (ox_attr_int(n, "stash_type", 1) != 1)
        return ox_reject(n, err, "stash_type %lld is not supported (1, FP32)",
                         (long long)ox_attr_int(n, "stash_type", 1));
    return oxh_f32_check(m, n, err);
}

static const char *const in_attrs[] = {"epsilon", NULL};
static const char *const gn_attrs[] = {"epsilon", "num_groups", "stash_type", NULL};
static const ox_op op_instnorm = {.op_type = "InstanceNormalization", .min_in = 3, .max_in = 3, .min_out = 1,
                                  .max_out = 1, .attrs = in_attrs, .check = oxh_f32_check, .shape = norm_shape,
                                  .run = norm_run};
static const ox_op op_groupnorm = {.op_type = "GroupNormalization", .min_in = 3, .max_in = 3, .min_out = 1,
                                   .max_out = 1, .attrs = gn_attrs, .check = gn_check, .shape = norm_shape,
                                   .run = norm_run};

/* ---------------------------------------------------------------------------------------------------------------
 * LpNormalization, LRN */

static int lpn_check(ox_model *m, ox_node *n, jn_err *err)
{
    int64_t p = ox_attr_int(n, "p", 2);
    if (p != 1 && p != 2)
        return ox_reject(n, err, "p %lld is not 1 or 2", (long long)p);
    return oxh_f32_check(m, n, err);
}

static int lpn_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int axis = ox_axis(ox_attr_int(n, "axis", -1), in[0]->ndim);
    if (axis < 0)
        return OX_ERR(n, err, JN_EINVAL, "axis %lld is out of range", (long long)ox_attr_int(n, "axis", -1));
    int64_t outer, inner, len = in[0]->shape[axis];
    ox_around_axis(in[0], axis, &outer, &inner);
    bool l1 = ox_attr_int(n, "p", 2) == 1;
    const float *x = in[0]->data;
    float *y = out[0]->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < inner; k++) {
            const float *xs = x + o * len * inner + k;
            float *ys = y + o * len * inner + k;
            double s = 0;
            for (int64_t i = 0; i < len; i++)
                s += l1 ? fabs(xs[i * inner]) : (double)xs[i * inner] * xs[i * inner];
            double norm = l1 ? s : sqrt(s);
            for (int64_t i = 0; i < len; i++)
                ys[i * inner] = norm == 0 ? 0.0f : (float)(xs[i * inner] / norm);
        }
    return 0;
}

static const char *const lpn_attrs[] = {"axis", "p", NULL};
static const ox_op op_lpnorm = {.op_type = "LpNormalization", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
                                .attrs = lpn_attrs, .check = lpn_check, .shape = same_shape, .run = lpn_run};

static int lrn_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (ox_attr_int(n, "size", 0) < 1)
        return ox_reject(n, err, "size must be a positive integer");
    return oxh_f32_check(m, n, err);
}

static int lrn_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    if (in[0]->ndim < 2)
        return OX_ERR(n, err, JN_EINVAL, "the input must be at least 2-D [N, C, ...]");
    int64_t size = ox_attr_int(n, "size", 1), lo = (size - 1) / 2, hi = size - 1 - lo;
    double alpha = ox_attr_float(n, "alpha", 1e-4f), beta = ox_attr_float(n, "beta", 0.75f),
           bias = ox_attr_float(n, "bias", 1.0f);
    int64_t N = in[0]->shape[0], C = in[0]->shape[1], sp = 1;
    for (int i = 2; i < in[0]->ndim; i++)
        sp *= in[0]->shape[i];
    const float *x = in[0]->data;
    float *y = out[0]->data;
    for (int64_t nn = 0; nn < N; nn++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < sp; i++) {
                double s = 0;
                int64_t a = c - lo < 0 ? 0 : c - lo, b = c + hi >= C ? C - 1 : c + hi;
                for (int64_t k = a; k <= b; k++) {
                    double v = x[(nn * C + k) * sp + i];
                    s += v * v;
                }
                int64_t at = (nn * C + c) * sp + i;
                y[at] = (float)(x[at] / pow(bias + alpha / (double)size * s, beta));
            }
    return 0;
}

static const char *const lrn_attrs[] = {"alpha", "beta", "bias", "size", NULL};
static const ox_op op_lrn = {.op_type = "LRN", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
                             .attrs = lrn_attrs, .check = lrn_check, .shape = same_shape, .run = lrn_run};

/* ops_pool.c's and ops_detect.c's operators join this table. */
extern const ox_op ox_op_gmp, ox_op_lppool, ox_op_unpool, ox_op_col2im;
extern const ox_op ox_op_topk, ox_op_nms, ox_op_roialign, ox_op_gridsample;

const ox_op *const ox_ops_vision[] = {&op_pad,     &op_tile,   &op_ccp,    &op_d2s,    &op_s2d,
                                      &op_instnorm, &op_groupnorm, &op_lpnorm, &op_lrn, &ox_op_gmp,
                                      &ox_op_lppool, &ox_op_unpool, &ox_op_col2im, &ox_op_topk, &ox_op_nms,
                                      &ox_op_roialign, &ox_op_gridsample, NULL};
