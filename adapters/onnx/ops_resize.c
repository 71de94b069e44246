/* ops_resize.c — Resize (opsets 10, 11, 13, 18, 19) and Upsample (7, 9).
 *
 * Every axis is mapped on its own (the interpolation is separable, as in the ONNX reference): an output coordinate
 * goes back to an input coordinate through the coordinate_transformation_mode, then takes the taps around it with
 * the mode's weights (nearest: one tap chosen by nearest_mode; linear: two; cubic: four with cubic_coeff_a; with
 * antialias a wider, normalized filter when downsampling). Indices outside the input are clamped to the edge,
 * exclude_outside drops their weights and renormalizes, tf_crop_and_resize gives extrapolation_value outside the
 * region of interest. Nearest is one gather over all axes (any dtype); linear and cubic run one pass per resized
 * axis over FP32, in FP32 with double-precision weights.
 *
 * Opset differences: 10 takes (X, scales) and maps nearest/linear asymmetrically (ONNX Runtime's rounding for
 * nearest: floor when upsampling, ceil when downsampling); 11-12 take (X, roi, scales[, sizes]) and know
 * tf_half_pixel_for_nn; 13 makes roi/scales optional; 18 adds axes, antialias and keep_aspect_ratio_policy; 19
 * half_pixel_symmetric. Upsample is Resize-10 with scales as an attribute (7) or input (9). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops_helpers.h"

enum { RZ_NEAREST, RZ_LINEAR, RZ_CUBIC };
enum { CT_HALF_PIXEL, CT_HALF_PIXEL_SYM, CT_PYTORCH, CT_ALIGN, CT_ASYM, CT_TF_NN, CT_TF_CROP };
enum { NM_ROUND_FLOOR, NM_ROUND_CEIL, NM_FLOOR, NM_CEIL, NM_SIMPLE };

static const char *const modes[] = {"nearest", "linear", "cubic", NULL};
static const char *const up_modes[] = {"nearest", "linear", "bilinear", NULL};
static const char *const coord_modes[] = {"half_pixel",           "half_pixel_symmetric", "pytorch_half_pixel",
                                          "align_corners",        "asymmetric",           "tf_half_pixel_for_nn",
                                          "tf_crop_and_resize",   NULL};
static const char *const nearest_modes[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil", NULL};
static const char *const aspect_policies[] = {"stretch", "not_larger", "not_smaller", NULL};

/* Everything one run needs, per axis. */
typedef struct rz_geom {
    int r;
    int mode, coord, nearest;
    bool antialias, exclude_outside;
    double cubic_a, extrapolation;
    int64_t in[JN_MAX_DIMS], out[JN_MAX_DIMS];
    double scale[JN_MAX_DIMS], roi0[JN_MAX_DIMS], roi1[JN_MAX_DIMS];
    bool active[JN_MAX_DIMS];
} rz_geom;

static bool is_upsample(const ox_node *n)
{
    return strcmp(n->op_type, "Upsample") == 0;
}

/* Where scales / sizes / roi are: Resize-10 and Upsample-9 (X, scales); Resize 11+ (X, roi, scales, sizes). */
static int scales_input(const ox_node *n)
{
    return is_upsample(n) || n->opset < 11 ? 1 : 2;
}

static int rz_check(ox_model *m, ox_node *n, jn_err *err)
{
    bool up = is_upsample(n);
    if (up && n->opset < 7)
        return ox_reject(n, err, "opset %d's height_scale/width_scale form is not supported (7 or later)", n->opset);
    if (up && n->opset >= 7 && n->opset < 9 && !ox_attr_find(n, "scales"))
        return ox_reject(n, err, "the scales attribute is required at opset %d", n->opset);
    if (up && n->opset >= 9 && n->n_in < 2)
        return ox_reject(n, err, "the scales input is required at opset %d", n->opset);
    int mode = up ? oxh_str_choice(n, "mode", "nearest", up_modes, err)
                  : oxh_str_choice(n, "mode", "nearest", modes, err);
    if (mode < 0)
        return err->code;
    if (!up && (oxh_str_choice(n, "coordinate_transformation_mode", "half_pixel", coord_modes, err) < 0 ||
                oxh_str_choice(n, "nearest_mode", "round_prefer_floor", nearest_modes, err) < 0 ||
                oxh_str_choice(n, "keep_aspect_ratio_policy", "stretch", aspect_policies, err) < 0))
        return err->code;
    if (!up && n->opset < 11 && n->n_in != 2)
        return ox_reject(n, err, "opset %d takes exactly (X, scales)", n->opset);
    if (!up && n->opset >= 11 && n->opset < 13 && n->n_in < 3)
        return ox_reject(n, err, "opset %d takes (X, roi, scales[, sizes])", n->opset);
    jn_dtype dt = ox_in_dtype(m, n, 0);
    bool interp = mode != RZ_NEAREST;
    if (interp && dt != JN_DTYPE_FP32)
        return ox_reject(n, err, "%s mode on dtype %s is not supported (FP32 is)", up ? up_modes[mode] : modes[mode],
                         jn_dtype_name(dt));
    if (!interp && !ox_dtype_supported(dt))
        return ox_reject(n, err, "dtype %s is not supported", jn_dtype_name(dt));
    if (!up && mode == RZ_NEAREST && ox_attr_int(n, "antialias", 0))
        return ox_reject(n, err, "antialias is not defined for nearest mode");
    int si = scales_input(n);
    for (int i = 1; i < n->n_in; i++) {
        if (!ox_has_in(n, i))
            continue;
        jn_dtype d = ox_in_dtype(m, n, i);
        bool want_int = !up && i == 3;
        bool ok = want_int ? d == JN_DTYPE_INT64 : d == JN_DTYPE_FP32 || d == JN_DTYPE_FP64;
        if (!ok)
            return ox_reject(n, err, "input %d (%s) has dtype %s", i, i == si ? "scales" : i == 3 ? "sizes" : "roi",
                             jn_dtype_name(d));
    }
    ox_set_out_dtype(m, n, 0, dt);
    return 0;
}

/* The output size of every axis, the scale the coordinate mapping uses and the region of interest. */
static int rz_geom_make(const ox_node *n, ox_tensor *const *in, rz_geom *g, jn_err *err)
{
    const ox_tensor *x = in[0];
    bool up = is_upsample(n);
    int r = x->ndim, si = scales_input(n);
    memset(g, 0, sizeof *g);
    g->r = r;
    g->mode = up ? (oxh_str_index(n, "mode", "nearest", up_modes) == RZ_NEAREST ? RZ_NEAREST : RZ_LINEAR)
                 : oxh_str_index(n, "mode", "nearest", modes);
    bool old = up || n->opset < 11;
    g->coord = old ? CT_ASYM : oxh_str_index(n, "coordinate_transformation_mode", "half_pixel", coord_modes);
    g->nearest = old ? NM_SIMPLE : oxh_str_index(n, "nearest_mode", "round_prefer_floor", nearest_modes);
    g->antialias = !old && ox_attr_int(n, "antialias", 0) != 0;
    g->exclude_outside = !old && ox_attr_int(n, "exclude_outside", 0) != 0;
    g->cubic_a = ox_attr_float(n, "cubic_coeff_a", -0.75f);
    g->extrapolation = ox_attr_float(n, "extrapolation_value", 0.0f);
    int policy = oxh_str_index(n, "keep_aspect_ratio_policy", "stretch", aspect_policies);

    int axes[JN_MAX_DIMS], na = r;
    size_t ac = 0;
    const int64_t *av = up ? NULL : ox_attr_ints(n, "axes", &ac);
    if (av) {
        if (ac > (size_t)r)
            return OX_ERR(n, err, JN_EINVAL, "axes has %zu values for a rank-%d input", ac, r);
        na = (int)ac;
        bool seen[JN_MAX_DIMS] = {false};
        for (int i = 0; i < na; i++) {
            axes[i] = ox_axis(av[i], r);
            if (axes[i] < 0 || seen[axes[i]])
                return OX_ERR(n, err, JN_EINVAL, "axes value %lld is out of range or repeated", (long long)av[i]);
            seen[axes[i]] = true;
        }
    } else {
        for (int i = 0; i < r; i++)
            axes[i] = i;
    }
    for (int d = 0; d < r; d++) {
        g->in[d] = g->out[d] = x->shape[d];
        g->scale[d] = 1.0;
        g->roi0[d] = 0.0;
        g->roi1[d] = 1.0;
    }

    double sc[JN_MAX_DIMS];
    int nsc = 0;
    if (up && n->opset < 9) {
        size_t c = 0;
        const ox_attr *a = ox_attr_find(n, "scales");
        if (!a || a->type != OX_ATTR_FLOATS)
            return OX_ERR(n, err, JN_EINVAL, "the scales attribute must be a list of floats");
        c = a->n;
        if (c > JN_MAX_DIMS)
            return OX_ERR(n, err, JN_EINVAL, "scales has %zu values", c);
        for (size_t i = 0; i < c; i++)
            sc[i] = a->floats[i];
        nsc = (int)c;
    } else if (oxh_given(in, n->n_in, si)) {
        if (oxh_read_floats(n, in[si], "scales", sc, JN_MAX_DIMS, &nsc, err))
            return err->code;
    }
    bool have_sizes = !up && si == 2 && oxh_given(in, n->n_in, 3);
    if (nsc && have_sizes)
        return OX_ERR(n, err, JN_EINVAL, "only one of scales and sizes may be given");
    if (!nsc && !have_sizes)
        return OX_ERR(n, err, JN_EINVAL, "one of scales and sizes is required");
    if (nsc) {
        if (nsc != na)
            return OX_ERR(n, err, JN_EINVAL, "scales has %d values, %d expected", nsc, na);
        for (int i = 0; i < na; i++) {
            int d = axes[i];
            if (!(sc[i] > 0) || !isfinite(sc[i]))
                return OX_ERR(n, err, JN_EINVAL, "scale %g is not a positive number", sc[i]);
            double o = floor(sc[i] * (double)g->in[d]);
            if (o > (double)JN_MAX_TENSOR_ELEMENTS)
                return OX_ERR(n, err, JN_ERESOURCE, "scale %g makes axis %d too large", sc[i], d);
            g->scale[d] = sc[i];
            g->out[d] = (int64_t)o;
        }
    } else {
        int64_t sz[JN_MAX_DIMS];
        int nsz = 0;
        if (oxh_read_ints(n, in[3], "sizes", sz, JN_MAX_DIMS, &nsz, err))
            return err->code;
        if (nsz != na)
            return OX_ERR(n, err, JN_EINVAL, "sizes has %d values, %d expected", nsz, na);
        for (int i = 0; i < na; i++) {
            if (sz[i] < 0 || sz[i] > JN_MAX_TENSOR_ELEMENTS)
                return OX_ERR(n, err, JN_EINVAL, "size %lld is out of range", (long long)sz[i]);
            if (g->in[axes[i]] == 0)
                return OX_ERR(n, err, JN_EINVAL, "axis %d of the input is empty", axes[i]);
            g->out[axes[i]] = sz[i];
            g->scale[axes[i]] = (double)sz[i] / (double)g->in[axes[i]];
        }
        if (policy != 0 && na) {
            double s = g->scale[axes[0]];
            for (int i = 1; i < na; i++)
                s = policy == 1 ? fmin(s, g->scale[axes[i]]) : fmax(s, g->scale[axes[i]]);
            for (int i = 0; i < na; i++) {
                g->scale[axes[i]] = s;
                g->out[axes[i]] = (int64_t)(s * (double)g->in[axes[i]] + 0.5);
            }
        }
    }
    if (g->coord == CT_TF_CROP) {
        double roi[2 * JN_MAX_DIMS];
        int nr = 0;
        if (!oxh_given(in, n->n_in, 1))
            return OX_ERR(n, err, JN_EINVAL, "tf_crop_and_resize needs roi");
        if (oxh_read_floats(n, in[1], "roi", roi, 2 * JN_MAX_DIMS, &nr, err))
            return err->code;
        if (nr != 2 * na)
            return OX_ERR(n, err, JN_EINVAL, "roi has %d values, %d expected", nr, 2 * na);
        for (int i = 0; i < na; i++) {
            g->roi0[axes[i]] = roi[i];
            g->roi1[axes[i]] = roi[na + i];
        }
    }
    for (int d = 0; d < r; d++)
        g->active[d] = !(fabs(g->scale[d] - 1.0) < 1e-9 && g->out[d] == g->in[d] &&
                         (g->coord != CT_TF_CROP || (fabs(g->roi0[d]) < 1e-9 && fabs(g->roi1[d] - 1.0) < 1e-9)));
    return 0;
}

static int rz_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    rz_geom g;
    if (rz_geom_make(n, in, &g, err))
        return err->code;
    return ox_set_shape(out[0], in[0]->dtype, g.r, g.out, err);
}

/* Output position y of an axis back to an input coordinate; *outside for tf_crop_and_resize outside the roi. */
static double src_coord(const rz_geom *g, int d, int64_t y, bool *outside)
{
    double s = g->scale[d], in_w = (double)g->in[d], out_w = s * in_w, out_i = (double)g->out[d], x;
    *outside = false;
    switch (g->coord) {
    case CT_ALIGN: x = out_w == 1 ? 0.0 : (double)y * (in_w - 1) / (out_w - 1); break;
    case CT_ASYM: x = (double)y / s; break;
    case CT_TF_NN: x = ((double)y + 0.5) / s; break;
    case CT_TF_CROP:
        if (out_w == 1)
            x = (g->roi1[d] - g->roi0[d]) * (in_w - 1) / 2;
        else
            x = (double)y * (g->roi1[d] - g->roi0[d]) * (in_w - 1) / (out_w - 1);
        x += g->roi0[d] * (in_w - 1);
        *outside = x < 0 || x > in_w - 1;
        break;
    case CT_PYTORCH: x = out_w == 1 ? -0.5 : ((double)y + 0.5) / s - 0.5; break;
    case CT_HALF_PIXEL_SYM: {
        double adj = out_i / out_w, off = in_w / 2 * (1 - adj);
        x = off + ((double)y + 0.5) / s - 0.5;
        break;
    }
    default: x = ((double)y + 0.5) / s - 0.5; break;
    }
    if (!isfinite(x)) { /* a NaN or infinite roi */
        *outside = g->coord == CT_TF_CROP;
        x = 0;
    }
    /* Far outside the input every index clamps to an edge: bound x so it converts to an integer safely. */
    return x < -1e15 ? -1e15 : x > 1e15 ? 1e15 : x;
}

static int64_t clamp_idx(int64_t i, int64_t w)
{
    return i < 0 ? 0 : i >= w ? w - 1 : i;
}

/* The nearest input index of every output position of axis d (-1: extrapolated). */
static void nearest_map(const rz_geom *g, int d, int64_t *map)
{
    for (int64_t y = 0; y < g->out[d]; y++) {
        bool outside;
        double x = src_coord(g, d, y, &outside);
        if (outside) {
            map[y] = -1;
            continue;
        }
        double f = floor(x), ratio = x - f;
        int64_t i;
        if (ratio == 0) {
            i = (int64_t)f;
        } else {
            bool up;
            switch (g->nearest) {
            case NM_ROUND_CEIL: up = ratio >= 0.5; break;
            case NM_FLOOR: up = false; break;
            case NM_CEIL: up = true; break;
            case NM_SIMPLE: up = g->scale[d] < 1; break;
            default: up = ratio > 0.5; break;
            }
            i = (int64_t)f + (up ? 1 : 0);
        }
        map[y] = clamp_idx(i, g->in[d]);
    }
}

static int run_nearest(const ox_node *n, const rz_geom *g, const ox_tensor *x, ox_tensor *y, jn_err *err)
{
    int r = g->r;
    int64_t total = ox_count(y);
    if (total == 0)
        return 0;
    if (r == 0) { /* a scalar: nothing to resize */
        memcpy(y->data, x->data, y->nbytes);
        return 0;
    }
    size_t es = jn_dtype_size(x->dtype), sum = 0;
    for (int d = 0; d < r; d++)
        sum += (size_t)g->out[d];
    int64_t *maps = malloc((sum + 1) * sizeof *maps), *map[JN_MAX_DIMS];
    if (!maps)
        return OX_ERR(n, err, JN_ENOMEM, "out of memory");
    int64_t in_stride[JN_MAX_DIMS], s = 1;
    for (int d = r - 1; d >= 0; d--) {
        in_stride[d] = s;
        s *= g->in[d];
    }
    int64_t *p = maps;
    for (int d = 0; d < r; d++) {
        map[d] = p;
        nearest_map(g, d, p);
        p += g->out[d];
    }
    float fill32 = (float)g->extrapolation;
    uint8_t fill[16] = {0};
    if (x->dtype == JN_DTYPE_FP32)
        memcpy(fill, &fill32, 4);
    else
        ox_store_f64(fill, x->dtype, 0, g->extrapolation);
    const uint8_t *src = x->data;
    uint8_t *dst = y->data;
    int64_t idx[JN_MAX_DIMS] = {0};
    int64_t W = r ? g->out[r - 1] : 1;
    const int64_t *mw = r ? map[r - 1] : NULL;
    for (int64_t o = 0; o < total; o += W) {
        int64_t base = 0;
        bool outside = false;
        for (int d = 0; d < r - 1; d++) {
            if (map[d][idx[d]] < 0)
                outside = true;
            else
                base += map[d][idx[d]] * in_stride[d];
        }
        if (es == 4) {
            const uint32_t *sw = (const uint32_t *)src + base;
            uint32_t *dw = (uint32_t *)dst + o, f;
            memcpy(&f, fill, 4);
            for (int64_t w = 0; w < W; w++)
                dw[w] = outside || mw[w] < 0 ? f : sw[mw[w]];
        } else {
            for (int64_t w = 0; w < W; w++) {
                const void *from = outside || (mw && mw[w] < 0) ? fill : src + (size_t)(base + (mw ? mw[w] : 0)) * es;
                memcpy(dst + (size_t)(o + w) * es, from, es);
            }
        }
        for (int d = r - 2; d >= 0; d--) {
            if (++idx[d] < g->out[d])
                break;
            idx[d] = 0;
        }
    }
    free(maps);
    return 0;
}

/* The weights of the taps around a coordinate whose distance from the tap before it is ratio (0, 1]. */
static int tap_weights(const rz_geom *g, double scale, double ratio, int64_t *start, double *w)
{
    if (!g->antialias || scale >= 1) {
        if (g->mode == RZ_LINEAR) {
            *start = 0;
            w[0] = 1 - ratio;
            w[1] = ratio;
            return 2;
        }
        double A = g->cubic_a, t = ratio + 1, u = 1 - ratio, v = 2 - ratio;
        *start = -1;
        w[0] = ((A * t - 5 * A) * t + 8 * A) * t - 4 * A;
        w[1] = ((A + 2) * ratio - (A + 3)) * ratio * ratio + 1;
        w[2] = ((A + 2) * u - (A + 3)) * u * u + 1;
        w[3] = ((A * v - 5 * A) * v + 8 * A) * v - 4 * A;
        return 4;
    }
    int64_t s0 = g->mode == RZ_LINEAR ? (int64_t)floor(-1 / scale) + 1 : (int64_t)floor(-2 / scale) + 1;
    int cnt = (int)(2 - 2 * s0);
    double sum = 0, A = g->cubic_a;
    for (int j = 0; j < cnt; j++) {
        double a = fabs(scale * ((double)(s0 + j) - ratio)), c;
        if (g->mode == RZ_LINEAR)
            c = a < 1 ? 1 - a : 0;
        else if (a <= 1)
            c = (A + 2) * a * a * a - (A + 3) * a * a + 1;
        else if (a < 2)
            c = A * a * a * a - 5 * A * a * a + 8 * A * a - 4 * A;
        else
            c = 0;
        w[j] = c;
        sum += c;
    }
    for (int j = 0; j < cnt; j++)
        w[j] = sum != 0 ? w[j] / sum : 0;
    *start = s0;
    return cnt;
}

/* One linear/cubic pass along axis d: src [outer, in, inner] -> dst [outer, out, inner]. */
static int pass_axis(const ox_node *n, const rz_geom *g, int d, int64_t outer, int64_t inner, const float *src,
                     float *dst, jn_err *err)
{
    int64_t W = g->in[d], O = g->out[d];
    double scale = g->scale[d];
    int max_taps = 4;
    if (g->antialias && scale < 1) {
        double f = g->mode == RZ_LINEAR ? 1 / scale : 2 / scale;
        if (f > 1e6)
            return OX_ERR(n, err, JN_EINVAL, "scale %g is too small for antialiasing", scale);
        max_taps = (int)(2 - 2 * (floor(-f) + 1)) + 2;
    }
    int64_t *idx = malloc((size_t)(O * max_taps + 1) * sizeof *idx);
    float *wt = malloc((size_t)(O * max_taps + 1) * sizeof *wt);
    double *w = malloc((size_t)(max_taps + 1) * sizeof *w);
    int *ntap = malloc((size_t)(O + 1) * sizeof *ntap);
    bool *outside = malloc((size_t)(O + 1));
    if (!idx || !wt || !w || !ntap || !outside) {
        free(idx), free(wt), free(w), free(ntap), free(outside);
        return OX_ERR(n, err, JN_ENOMEM, "out of memory");
    }
    for (int64_t y = 0; y < O; y++) {
        double x = src_coord(g, d, y, &outside[y]);
        double f = floor(x);
        int64_t xi = (int64_t)f;
        double ratio = x - f;
        if (ratio == 0) {
            ratio = 1;
            xi -= 1;
        }
        int64_t s0;
        int cnt = tap_weights(g, scale, ratio, &s0, w);
        double sum = 0;
        for (int j = 0; j < cnt; j++) {
            int64_t k = xi + s0 + j;
            if (g->exclude_outside && (k < 0 || k >= W))
                w[j] = 0;
            sum += w[j];
        }
        if (g->exclude_outside && sum != 0)
            for (int j = 0; j < cnt; j++)
                w[j] /= sum;
        for (int j = 0; j < cnt; j++) {
            idx[y * max_taps + j] = clamp_idx(xi + s0 + j, W);
            wt[y * max_taps + j] = (float)w[j];
        }
        ntap[y] = cnt;
    }
    float fill = (float)g->extrapolation;
    for (int64_t o = 0; o < outer; o++) {
        const float *s = src + o * W * inner;
        float *t = dst + o * O * inner;
        for (int64_t y = 0; y < O; y++) {
            float *ty = t + y * inner;
            const int64_t *iy = idx + y * max_taps;
            const float *wy = wt + y * max_taps;
            if (outside[y]) {
                for (int64_t k = 0; k < inner; k++)
                    ty[k] = fill;
                continue;
            }
            if (inner == 1) {
                float acc = 0;
                for (int j = 0; j < ntap[y]; j++)
                    acc += wy[j] * s[iy[j]];
                ty[0] = acc;
                continue;
            }
            for (int64_t k = 0; k < inner; k++)
                ty[k] = 0;
            for (int j = 0; j < ntap[y]; j++) {
                const float *sj = s + iy[j] * inner;
                float wj = wy[j];
                if (wj == 0)
                    continue;
                for (int64_t k = 0; k < inner; k++)
                    ty[k] += wj * sj[k];
            }
        }
    }
    free(idx), free(wt), free(w), free(ntap), free(outside);
    return 0;
}

static int run_interp(const ox_node *n, const rz_geom *g, const ox_tensor *x, ox_tensor *y, jn_err *err)
{
    /* The passes commute (the weights are separable and tf_crop_and_resize's extrapolation is a union over axes), so
     * the axes that shrink most go first: the later passes then read the smallest intermediates. */
    int r = g->r, order[JN_MAX_DIMS], na = 0;
    for (int d = 0; d < r; d++) {
        if (!g->active[d])
            continue;
        double ratio = g->in[d] ? (double)g->out[d] / (double)g->in[d] : 1.0;
        int k = na++;
        while (k > 0 && (g->in[order[k - 1]] ? (double)g->out[order[k - 1]] / (double)g->in[order[k - 1]] : 1.0) >
                            ratio) {
            order[k] = order[k - 1];
            k--;
        }
        order[k] = d;
    }
    if (ox_count(y) == 0)
        return 0;
    if (na == 0) {
        memcpy(y->data, x->data, y->nbytes);
        return 0;
    }
    int last = order[na - 1];
    int64_t cur[JN_MAX_DIMS];
    memcpy(cur, g->in, sizeof cur);
    const float *src = x->data;
    float *tmp[2] = {NULL, NULL};
    int which = 0;
    for (int i = 0; i < na; i++) {
        int d = order[i];
        int64_t outer = 1, inner = 1;
        for (int e = 0; e < d; e++)
            outer *= cur[e];
        for (int e = d + 1; e < r; e++)
            inner *= cur[e];
        float *dst;
        if (d == last) {
            dst = y->data;
        } else {
            int64_t need = outer * g->out[d] * inner;
            free(tmp[which]);
            tmp[which] = malloc((size_t)(need + 1) * sizeof(float));
            if (!tmp[which]) {
                free(tmp[1 - which]);
                return OX_ERR(n, err, JN_ENOMEM, "out of memory");
            }
            dst = tmp[which];
        }
        if (pass_axis(n, g, d, outer, inner, src, dst, err)) {
            free(tmp[0]), free(tmp[1]);
            return err->code;
        }
        cur[d] = g->out[d];
        src = dst;
        which = 1 - which;
    }
    free(tmp[0]), free(tmp[1]);
    return 0;
}

static int rz_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    rz_geom g;
    if (rz_geom_make(n, in, &g, err))
        return err->code;
    if (g.mode == RZ_NEAREST)
        return run_nearest(n, &g, in[0], out[0], err);
    return run_interp(n, &g, in[0], out[0], err);
}

static const char *const resize_attrs[] = {"antialias",          "axes",
                                           "coordinate_transformation_mode", "cubic_coeff_a",
                                           "exclude_outside",    "extrapolation_value",
                                           "keep_aspect_ratio_policy",       "mode",
                                           "nearest_mode",       NULL};
static const char *const upsample_attrs[] = {"mode", "scales", NULL};

static const ox_op op_resize = {.op_type = "Resize", .min_in = 1, .max_in = 4, .min_out = 1, .max_out = 1,
                                .attrs = resize_attrs, .shape_inputs = (1u << 1) | (1u << 2) | (1u << 3),
                                .check = rz_check, .shape = rz_shape, .run = rz_run};
static const ox_op op_upsample = {.op_type = "Upsample", .min_in = 1, .max_in = 2, .min_out = 1, .max_out = 1,
                                  .attrs = upsample_attrs, .shape_inputs = 1u << 1,
                                  .check = rz_check, .shape = rz_shape, .run = rz_run};

const ox_op *const ox_ops_resize[] = {&op_resize, &op_upsample, NULL};
