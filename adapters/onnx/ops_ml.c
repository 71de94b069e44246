/* ops_ml.c — the ai.onnx.ml operators scikit-learn exports use: LinearClassifier, LinearRegressor, Normalizer,
 * Scaler, ArrayFeatureExtractor, TreeEnsembleClassifier, TreeEnsembleRegressor. Looked up by ox_op_find_ml for
 * nodes whose domain is ai.onnx.ml (onnx_load.c's node_build).
 *
 * Outputs are tensors: class labels are INT64 (classlabels_ints / classlabels_int64s); string labels are refused
 * (the adapter carries no string tensors), and so is ZipMap, whose output is a sequence of maps — a model exported
 * without it (skl2onnx's options={'zipmap': False}) has the same probabilities as a [N, classes] tensor. Scores are
 * computed in double from FP32 parameters and rounded to FP32 once; tree thresholds compare in FP32, the input's
 * type, as ONNX Runtime does. post_transform NONE, LOGISTIC, SOFTMAX, SOFTMAX_ZERO (PROBIT is refused: ONNX
 * Runtime computes it through an approximation this adapter does not reproduce). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops_helpers.h"

bool ox_domain_is_ml(const char *domain)
{
    return domain && strcmp(domain, "ai.onnx.ml") == 0;
}

enum { PT_NONE, PT_LOGISTIC, PT_SOFTMAX, PT_SOFTMAX_ZERO, PT_PROBIT };
static const char *const post_transforms[] = {"NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO", "PROBIT", NULL};

static int numeric_in_check(ox_model *m, ox_node *n, jn_err *err)
{
    jn_dtype dt = ox_in_dtype(m, n, 0);
    if (dt != JN_DTYPE_FP32 && dt != JN_DTYPE_FP64 && dt != JN_DTYPE_INT64 && dt != JN_DTYPE_INT32)
        return ox_reject(n, err, "X has dtype %s (FP32, FP64, INT64, INT32 are supported)", jn_dtype_name(dt));
    return 0;
}

static int post_check(ox_node *n, jn_err *err)
{
    int pt = oxh_str_choice(n, "post_transform", "NONE", post_transforms, err);
    if (pt < 0)
        return err->code;
    if (pt == PT_PROBIT)
        return ox_reject(n, err, "post_transform PROBIT is not supported (not computed exactly)");
    return 0;
}

static const float *floats_attr(const ox_node *n, const char *name, size_t *count)
{
    const ox_attr *a = ox_attr_find(n, name);
    if (!a || a->type != OX_ATTR_FLOATS) {
        *count = 0;
        return NULL;
    }
    *count = a->n;
    return a->floats;
}

/* Rows of [N, F]: N and F of X (1-D X is one row). */
static int rows_features(const ox_node *n, const ox_tensor *x, int64_t *N, int64_t *F, jn_err *err)
{
    *N = *F = 0;
    if (x->ndim == 1)
        *N = 1, *F = x->shape[0];
    else if (x->ndim == 2)
        *N = x->shape[0], *F = x->shape[1];
    else
        return OX_ERR(n, err, JN_EINVAL, "X must be 1-D or 2-D [N, features]");
    return 0;
}

/* In-place post transform of one row of c scores. */
static void post_row(int pt, double *s, int64_t c)
{
    if (pt == PT_LOGISTIC) {
        for (int64_t i = 0; i < c; i++)
            s[i] = 1.0 / (1.0 + exp(-s[i]));
    } else if (pt == PT_SOFTMAX || pt == PT_SOFTMAX_ZERO) {
        double mx = -INFINITY, sum = 0;
        for (int64_t i = 0; i < c; i++)
            if (!(pt == PT_SOFTMAX_ZERO && s[i] == 0))
                mx = s[i] > mx ? s[i] : mx;
        for (int64_t i = 0; i < c; i++) {
            s[i] = pt == PT_SOFTMAX_ZERO && s[i] == 0 ? 0 : exp(s[i] - mx);
            sum += s[i];
        }
        for (int64_t i = 0; i < c; i++)
            s[i] = sum > 0 ? s[i] / sum : 0;
    }
}

/* The INT64 class labels (classlabels_ints or classlabels_int64s); string labels refused. */
static const int64_t *int_labels(ox_node *n, size_t *count, jn_err *err)
{
    const ox_attr *s = ox_attr_find(n, "classlabels_strings");
    if (s) {
        ox_reject(n, err, "string class labels are not supported (the adapter carries no string tensors; export "
                          "with integer labels)");
        return NULL;
    }
    const int64_t *v = ox_attr_ints(n, "classlabels_ints", count);
    if (!v)
        v = ox_attr_ints(n, "classlabels_int64s", count);
    if (!v || !*count)
        ox_reject(n, err, "integer class labels are required");
    return v;
}

/* ---------------------------------------------------------------------------------------------------------------
 * LinearClassifier, LinearRegressor: scores = X . coefficients^T + intercepts. */

static bool is_classifier(const ox_node *n)
{
    return strstr(n->op_type, "Classifier") != NULL;
}

static int lin_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (numeric_in_check(m, n, err) || post_check(n, err))
        return err->code;
    size_t nc, ni;
    const float *coef = floats_attr(n, "coefficients", &nc);
    floats_attr(n, "intercepts", &ni);
    if (!coef || !nc)
        return ox_reject(n, err, "coefficients are required");
    if (is_classifier(n)) {
        size_t nl;
        if (!int_labels(n, &nl, err))
            return err->code;
        size_t rows = ni ? ni : nl;
        if (rows == 0 || nc % rows)
            return ox_reject(n, err, "%zu coefficients do not split into %zu classes", nc, rows);
        if (rows == 1 && nl != 2)
            return ox_reject(n, err, "one score row needs exactly two class labels");
        if (rows != 1 && rows != nl)
            return ox_reject(n, err, "%zu score rows for %zu class labels", rows, nl);
        if (rows == 1 && strcmp(ox_attr_str(n, "post_transform", "NONE"), "NONE") &&
            strcmp(ox_attr_str(n, "post_transform", "NONE"), "LOGISTIC"))
            return ox_reject(n, err, "a binary classifier with one score row takes post_transform NONE or LOGISTIC");
        ox_set_out_dtype(m, n, 0, JN_DTYPE_INT64);
        ox_set_out_dtype(m, n, 1, JN_DTYPE_FP32);
    } else {
        int64_t t = ox_attr_int(n, "targets", 1);
        if (t < 1 || nc % (size_t)t || (ni && ni != (size_t)t))
            return ox_reject(n, err, "targets %lld does not match %zu coefficients / %zu intercepts", (long long)t,
                             nc, ni);
        ox_set_out_dtype(m, n, 0, JN_DTYPE_FP32);
    }
    return 0;
}

/* Score rows C and the output columns (a one-row binary classifier reports two). */
static void lin_dims(const ox_node *n, int64_t *C, int64_t *cols)
{
    size_t nc, ni, nl = 0;
    floats_attr(n, "coefficients", &nc);
    floats_attr(n, "intercepts", &ni);
    if (is_classifier(n)) {
        if (!ox_attr_ints(n, "classlabels_ints", &nl))
            ox_attr_ints(n, "classlabels_int64s", &nl);
        *C = (int64_t)(ni ? ni : nl);
        *cols = *C == 1 ? 2 : *C;
    } else {
        *C = *cols = ox_attr_int(n, "targets", 1);
    }
}

static int lin_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t N, F, C, cols;
    if (rows_features(n, in[0], &N, &F, err))
        return err->code;
    lin_dims(n, &C, &cols);
    size_t nc;
    floats_attr(n, "coefficients", &nc);
    if ((int64_t)nc != C * F)
        return OX_ERR(n, err, JN_EINVAL, "%zu coefficients for %lld rows of %lld features", nc, (long long)C,
                      (long long)F);
    int64_t s2[2] = {N, cols};
    if (is_classifier(n)) {
        if (ox_set_shape(out[0], JN_DTYPE_INT64, 1, &N, err))
            return err->code;
        return n->n_out > 1 && out[1] ? ox_set_shape(out[1], JN_DTYPE_FP32, 2, s2, err) : 0;
    }
    return ox_set_shape(out[0], JN_DTYPE_FP32, 2, s2, err);
}

static int lin_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t N, F, C, cols;
    if (rows_features(n, in[0], &N, &F, err))
        return err->code;
    lin_dims(n, &C, &cols);
    size_t nc, ni, nl = 0;
    const float *coef = floats_attr(n, "coefficients", &nc), *icp = floats_attr(n, "intercepts", &ni);
    const int64_t *labels = NULL;
    if (is_classifier(n) && !(labels = ox_attr_ints(n, "classlabels_ints", &nl)))
        labels = ox_attr_ints(n, "classlabels_int64s", &nl);
    int pt = oxh_str_index(n, "post_transform", "NONE", post_transforms);
    double *s = malloc((size_t)(cols + 1) * sizeof *s);
    if (!s)
        return OX_ERR(n, err, JN_ENOMEM, "out of memory");
    for (int64_t r = 0; r < N; r++) {
        for (int64_t c = 0; c < C; c++) {
            double acc = ni ? icp[c] : 0;
            for (int64_t f = 0; f < F; f++)
                acc += (double)coef[c * F + f] * ox_load_f64(in[0]->data, in[0]->dtype, r * F + f);
            s[c] = acc;
        }
        float *scores = is_classifier(n) ? (n->n_out > 1 && out[1] ? (float *)out[1]->data + r * cols : NULL)
                                         : (float *)out[0]->data + r * cols;
        if (is_classifier(n) && C == 1) {
            double z = s[0];
            ((int64_t *)out[0]->data)[r] = z > 0 ? labels[1] : labels[0];
            if (pt == PT_LOGISTIC) {
                double p = 1.0 / (1.0 + exp(-z));
                s[0] = 1 - p, s[1] = p;
            } else {
                s[0] = -z, s[1] = z;
            }
        } else if (is_classifier(n)) {
            int64_t best = 0;
            for (int64_t c = 1; c < C; c++)
                if (s[c] > s[best])
                    best = c;
            ((int64_t *)out[0]->data)[r] = labels[best];
            post_row(pt, s, C);
        } else {
            post_row(pt, s, C);
        }
        if (scores)
            for (int64_t c = 0; c < cols; c++)
                scores[c] = (float)s[c];
    }
    free(s);
    return 0;
}

static const char *const linc_attrs[] = {"classlabels_ints", "classlabels_strings", "coefficients", "intercepts",
                                         "multi_class",      "post_transform",      NULL};
static const char *const linr_attrs[] = {"coefficients", "intercepts", "post_transform", "targets", NULL};
static const ox_op op_linc = {.op_type = "LinearClassifier", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 2,
                              .attrs = linc_attrs, .check = lin_check, .shape = lin_shape, .run = lin_run};
static const ox_op op_linr = {.op_type = "LinearRegressor", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
                              .attrs = linr_attrs, .check = lin_check, .shape = lin_shape, .run = lin_run};

/* ---------------------------------------------------------------------------------------------------------------
 * Normalizer (rows by MAX, L1 or L2), Scaler ((X - offset) * scale) */

static const char *const norms[] = {"MAX", "L1", "L2", NULL};

static int norm_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (numeric_in_check(m, n, err) || oxh_str_choice(n, "norm", "MAX", norms, err) < 0)
        return err->code;
    ox_set_out_dtype(m, n, 0, JN_DTYPE_FP32);
    return 0;
}

static int rowwise_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t N, F;
    if (rows_features(n, in[0], &N, &F, err))
        return err->code;
    return ox_set_shape(out[0], JN_DTYPE_FP32, in[0]->ndim, in[0]->shape, err);
}

static int norm_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t N, F;
    if (rows_features(n, in[0], &N, &F, err))
        return err->code;
    int kind = oxh_str_index(n, "norm", "MAX", norms);
    float *y = out[0]->data;
    for (int64_t r = 0; r < N; r++) {
        double d = kind == 0 ? -INFINITY : 0;
        for (int64_t f = 0; f < F; f++) {
            double v = ox_load_f64(in[0]->data, in[0]->dtype, r * F + f);
            d = kind == 0 ? (v > d ? v : d) : kind == 1 ? d + fabs(v) : d + v * v;
        }
        if (kind == 2)
            d = sqrt(d);
        for (int64_t f = 0; f < F; f++) {
            double v = ox_load_f64(in[0]->data, in[0]->dtype, r * F + f);
            y[r * F + f] = d == 0 ? (float)v : (float)(v / d);
        }
    }
    return 0;
}

static const char *const norm_attrs[] = {"norm", NULL};
static const ox_op op_norm = {.op_type = "Normalizer", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
                              .attrs = norm_attrs, .check = norm_check, .shape = rowwise_shape, .run = norm_run};

static int scaler_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (numeric_in_check(m, n, err))
        return err->code;
    ox_set_out_dtype(m, n, 0, JN_DTYPE_FP32);
    return 0;
}

static int scaler_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t N, F;
    if (rows_features(n, in[0], &N, &F, err))
        return err->code;
    size_t no, ns;
    const float *off = floats_attr(n, "offset", &no), *sc = floats_attr(n, "scale", &ns);
    if ((no > 1 && (int64_t)no != F) || (ns > 1 && (int64_t)ns != F))
        return OX_ERR(n, err, JN_EINVAL, "offset/scale have %zu/%zu values for %lld features", no, ns,
                      (long long)F);
    float *y = out[0]->data;
    for (int64_t r = 0; r < N; r++)
        for (int64_t f = 0; f < F; f++) {
            float o = no ? off[no > 1 ? f : 0] : 0.0f, s = ns ? sc[ns > 1 ? f : 0] : 1.0f;
            y[r * F + f] = ((float)ox_load_f64(in[0]->data, in[0]->dtype, r * F + f) - o) * s;
        }
    return 0;
}

static const char *const scaler_attrs[] = {"offset", "scale", NULL};
static const ox_op op_scaler = {.op_type = "Scaler", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
                                .attrs = scaler_attrs, .check = scaler_check, .shape = rowwise_shape,
                                .run = scaler_run};

/* ---------------------------------------------------------------------------------------------------------------
 * ArrayFeatureExtractor: X[..., indices] (a 1-D X gives [1, k]) */

static int afe_check(ox_model *m, ox_node *n, jn_err *err)
{
    jn_dtype dt = ox_in_dtype(m, n, 0);
    if (!ox_dtype_supported(dt))
        return ox_reject(n, err, "X has dtype %s, which is not supported", jn_dtype_name(dt));
    if (oxh_need_dtype(m, n, 1, JN_DTYPE_INT64, "Y", err))
        return err->code;
    ox_set_out_dtype(m, n, 0, dt);
    return 0;
}

static int afe_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    const ox_tensor *x = in[0];
    if (x->ndim < 1)
        return OX_ERR(n, err, JN_EINVAL, "X must be at least 1-D");
    int64_t shape[JN_MAX_DIMS], k = ox_count(in[1]);
    int nd = x->ndim == 1 ? 2 : x->ndim;
    if (x->ndim == 1)
        shape[0] = 1;
    else
        memcpy(shape, x->shape, sizeof(int64_t) * (size_t)(x->ndim - 1));
    shape[nd - 1] = k;
    return ox_set_shape(out[0], x->dtype, nd, shape, err);
}

static int afe_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    const ox_tensor *x = in[0];
    int64_t F = x->shape[x->ndim - 1], rows = F ? ox_count(x) / F : 0, k = ox_count(in[1]);
    size_t es = jn_dtype_size(x->dtype);
    const int64_t *idx = in[1]->data;
    for (int64_t j = 0; j < k; j++)
        if (idx[j] < 0 || idx[j] >= F)
            return OX_ERR(n, err, JN_EINVAL, "index %lld is outside the %lld features", (long long)idx[j],
                          (long long)F);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < k; j++)
            memcpy((uint8_t *)out[0]->data + (size_t)(r * k + j) * es,
                   (const uint8_t *)x->data + (size_t)(r * F + idx[j]) * es, es);
    return 0;
}

static const char *const no_attrs[] = {NULL};
static const ox_op op_afe = {.op_type = "ArrayFeatureExtractor", .min_in = 2, .max_in = 2, .min_out = 1,
                             .max_out = 1, .attrs = no_attrs, .check = afe_check, .shape = afe_shape,
                             .run = afe_run};

/* ---------------------------------------------------------------------------------------------------------------
 * TreeEnsembleClassifier, TreeEnsembleRegressor (ai.onnx.ml 1 and 3) */

enum { TM_LEQ, TM_LT, TM_GTE, TM_GT, TM_EQ, TM_NEQ, TM_LEAF };
static const char *const tree_modes[] = {"BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT",
                                         "BRANCH_EQ",  "BRANCH_NEQ", "LEAF",      NULL};
enum { AG_SUM, AG_AVERAGE, AG_MIN, AG_MAX };
static const char *const aggregates[] = {"SUM", "AVERAGE", "MIN", "MAX", NULL};

/* The parsed forest, kept in the node's params. */
typedef struct tnode {
    int mode;
    int64_t feature;
    float value;
    int32_t yes, no;   /* child indices into nodes */
    bool nan_yes;      /* missing values take the true branch */
    int32_t first_w, n_w; /* leaf weights in w[] */
} tnode;

typedef struct tweight {
    int64_t target;
    double w;
} tweight;

typedef struct forest {
    int64_t n_nodes, n_trees, n_out; /* n_out: targets or classes */
    int32_t *roots;
    tnode *nodes;
    tweight *w;
    const double *base; /* NULL or n_out values (points into the struct) */
    int pt, agg;
    bool binary; /* classifier with one class id and two labels */
    bool pos_weights;
    const int64_t *labels; /* classifier: n_out labels (the node's attribute) */
} forest;

static const int64_t *ints_or_empty(const ox_node *n, const char *name, size_t *c)
{
    const int64_t *v = ox_attr_ints(n, name, c);
    return v ? v : (*c = 0, NULL);
}

/* Finds the index of (tree, node) among the nodes (attributes in any order). */
static int64_t find_node(const int64_t *tids, const int64_t *nids, size_t count, int64_t t, int64_t id)
{
    for (size_t i = 0; i < count; i++)
        if (tids[i] == t && nids[i] == id)
            return (int64_t)i;
    return -1;
}

static int tree_check(ox_model *m, ox_node *n, jn_err *err)
{
    bool cls = is_classifier(n);
    if (numeric_in_check(m, n, err) || post_check(n, err))
        return err->code;
    if (!cls && oxh_str_choice(n, "aggregate_function", "SUM", aggregates, err) < 0)
        return err->code;
    static const char *const tensor_forms[] = {"nodes_values_as_tensor", "nodes_hitrates_as_tensor",
                                               "base_values_as_tensor", "target_weights_as_tensor",
                                               "class_weights_as_tensor"};
    for (size_t i = 0; i < sizeof tensor_forms / sizeof *tensor_forms; i++)
        if (ox_attr_find(n, tensor_forms[i]))
            return ox_reject(n, err, "%s is not supported (the float list forms are)", tensor_forms[i]);
    size_t cnt, c2;
    const int64_t *tids = ints_or_empty(n, "nodes_treeids", &cnt), *nids = ints_or_empty(n, "nodes_nodeids", &c2);
    if (!cnt || c2 != cnt)
        return ox_reject(n, err, "nodes_treeids and nodes_nodeids must have the same, nonzero length");
    const ox_attr *modes = ox_attr_find(n, "nodes_modes");
    if (!modes || modes->type != OX_ATTR_STRINGS || modes->n != cnt)
        return ox_reject(n, err, "nodes_modes must hold one string per node");
    size_t cf, cv, ct, cfl, cm;
    const int64_t *feat = ints_or_empty(n, "nodes_featureids", &cf);
    const float *vals = floats_attr(n, "nodes_values", &cv);
    const int64_t *yes = ints_or_empty(n, "nodes_truenodeids", &ct), *no = ints_or_empty(n, "nodes_falsenodeids", &cfl);
    const int64_t *miss = ints_or_empty(n, "nodes_missing_value_tracks_true", &cm);
    if (cf != cnt || cv != cnt || ct != cnt || cfl != cnt || (cm && cm != cnt))
        return ox_reject(n, err, "the nodes_* attributes must all have %zu values", cnt);
    const char *pre = cls ? "class" : "target";
    char a_t[32], a_n[32], a_i[32], a_w[32];
    snprintf(a_t, sizeof a_t, "%s_treeids", pre);
    snprintf(a_n, sizeof a_n, "%s_nodeids", pre);
    snprintf(a_i, sizeof a_i, "%s_ids", pre);
    snprintf(a_w, sizeof a_w, "%s_weights", pre);
    size_t wt, wn, wi, ww;
    const int64_t *w_t = ints_or_empty(n, a_t, &wt), *w_n = ints_or_empty(n, a_n, &wn),
                  *w_i = ints_or_empty(n, a_i, &wi);
    const float *w_w = floats_attr(n, a_w, &ww);
    if (wt != wn || wt != wi || wt != ww)
        return ox_reject(n, err, "the %s_* attributes must all have the same length", pre);
    int64_t n_out;
    size_t nl = 0;
    const int64_t *labels = NULL;
    if (cls) {
        if (!(labels = int_labels(n, &nl, err)))
            return err->code;
        n_out = (int64_t)nl;
    } else {
        n_out = ox_attr_int(n, "n_targets", 1);
        if (n_out < 1 || n_out > 1 << 20)
            return ox_reject(n, err, "n_targets %lld is out of range", (long long)n_out);
    }
    size_t nb;
    const float *base = floats_attr(n, "base_values", &nb);
    if (nb && (int64_t)nb != n_out && !(cls && nl == 2 && nb == 1))
        return ox_reject(n, err, "base_values has %zu values for %lld outputs", nb, (long long)n_out);

    /* Parse into the params block: one allocation. */
    size_t bytes = sizeof(forest) + cnt * sizeof(tnode) + (wt + 1) * sizeof(tweight) + (cnt + 1) * sizeof(int32_t) +
                   (size_t)(n_out + 1) * sizeof(double);
    forest *f = calloc(1, bytes);
    if (!f)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    n->params = f;
    f->nodes = (tnode *)(f + 1); /* 8-byte members first, the int32 roots last: each part stays aligned */
    f->w = (tweight *)(f->nodes + cnt);
    double *bv = (double *)(f->w + wt + 1);
    f->roots = (int32_t *)(bv + n_out + 1);
    f->n_nodes = (int64_t)cnt;
    f->n_out = n_out;
    f->labels = labels;
    f->pt = oxh_str_index(n, "post_transform", "NONE", post_transforms);
    f->agg = cls ? AG_SUM : oxh_str_index(n, "aggregate_function", "SUM", aggregates);
    bool class_seen[2] = {false, false};
    f->pos_weights = true;
    for (size_t i = 0; i < cnt; i++) {
        tnode *t = &f->nodes[i];
        t->mode = -1;
        for (int k = 0; tree_modes[k]; k++)
            if (strcmp(modes->strs[i], tree_modes[k]) == 0)
                t->mode = k;
        if (t->mode < 0)
            return ox_reject(n, err, "node mode '%s' is not supported", modes->strs[i]);
        t->feature = feat[i];
        t->value = vals[i];
        t->nan_yes = cm && miss[i];
        if (feat[i] < 0 && t->mode != TM_LEAF)
            return ox_reject(n, err, "node %zu has a negative feature id", i);
        if (t->mode != TM_LEAF) {
            int64_t y = find_node(tids, nids, cnt, tids[i], yes[i]), o = find_node(tids, nids, cnt, tids[i], no[i]);
            if (y < 0 || o < 0)
                return ox_reject(n, err, "node %lld of tree %lld branches to a node that does not exist",
                                 (long long)nids[i], (long long)tids[i]);
            t->yes = (int32_t)y, t->no = (int32_t)o;
        }
        bool new_tree = true;
        for (size_t k = 0; k < i && new_tree; k++)
            new_tree = tids[k] != tids[i];
        if (new_tree)
            f->roots[f->n_trees++] = (int32_t)i;
    }
    /* Leaf weights, grouped by node. */
    int32_t at = 0;
    for (size_t i = 0; i < cnt; i++) {
        f->nodes[i].first_w = at;
        for (size_t k = 0; k < wt; k++)
            if (w_t[k] == tids[i] && w_n[k] == nids[i]) {
                if (w_i[k] < 0 || w_i[k] >= n_out)
                    return ox_reject(n, err, "%s id %lld is out of range", pre, (long long)w_i[k]);
                f->w[at].target = w_i[k];
                f->w[at].w = w_w[k];
                if (w_w[k] < 0)
                    f->pos_weights = false;
                if (w_i[k] < 2)
                    class_seen[w_i[k]] = true;
                at++;
            }
        f->nodes[i].n_w = at - f->nodes[i].first_w;
    }
    if (at != (int32_t)wt)
        return ox_reject(n, err, "a %s weight names a node that does not exist", pre);
    /* A cycle among the branches is caught by tree_walk's step bound. */
    f->binary = cls && nl == 2 && !(class_seen[0] && class_seen[1]);
    for (int64_t i = 0; i < n_out; i++)
        bv[i] = nb ? base[(int64_t)nb == n_out ? i : 0] : 0;
    f->base = nb ? bv : NULL;
    if (f->binary && nb == 1)
        bv[1] = base[0];
    if (f->binary && f->pt != PT_NONE && f->pt != PT_LOGISTIC)
        return ox_reject(n, err, "a binary classifier with one class id takes post_transform NONE or LOGISTIC");
    if (cls) {
        ox_set_out_dtype(m, n, 0, JN_DTYPE_INT64);
        ox_set_out_dtype(m, n, 1, JN_DTYPE_FP32);
    } else {
        ox_set_out_dtype(m, n, 0, JN_DTYPE_FP32);
    }
    return 0;
}

static int tree_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    const forest *f = n->params;
    int64_t N, F;
    if (rows_features(n, in[0], &N, &F, err))
        return err->code;
    for (int64_t i = 0; i < f->n_nodes; i++)
        if (f->nodes[i].mode != TM_LEAF && f->nodes[i].feature >= F)
            return OX_ERR(n, err, JN_EINVAL, "a tree reads feature %lld of %lld", (long long)f->nodes[i].feature,
                          (long long)F);
    int64_t s2[2] = {N, f->n_out};
    if (is_classifier(n)) {
        if (ox_set_shape(out[0], JN_DTYPE_INT64, 1, &N, err))
            return err->code;
        return n->n_out > 1 && out[1] ? ox_set_shape(out[1], JN_DTYPE_FP32, 2, s2, err) : 0;
    }
    return ox_set_shape(out[0], JN_DTYPE_FP32, 2, s2, err);
}

/* The leaf one row reaches in one tree; -1 when the walk exceeds the node count (a cycle). */
static int64_t tree_walk(const forest *f, int32_t i, const ox_tensor *x, int64_t row, int64_t F)
{
    for (int64_t steps = 0; steps <= f->n_nodes; steps++) {
        const tnode *t = &f->nodes[i];
        if (t->mode == TM_LEAF)
            return i;
        float v = (float)ox_load_f64(x->data, x->dtype, row * F + t->feature);
        bool yes;
        if (v != v) {
            yes = t->nan_yes;
        } else {
            switch (t->mode) {
            case TM_LEQ: yes = v <= t->value; break;
            case TM_LT: yes = v < t->value; break;
            case TM_GTE: yes = v >= t->value; break;
            case TM_GT: yes = v > t->value; break;
            case TM_EQ: yes = v == t->value; break;
            default: yes = v != t->value; break;
            }
        }
        i = yes ? t->yes : t->no;
    }
    return -1;
}

static int tree_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    const forest *f = n->params;
    int64_t N, F, K = f->n_out;
    if (rows_features(n, in[0], &N, &F, err))
        return err->code;
    double *s = malloc((size_t)(K + 2) * sizeof *s);
    bool *hit = malloc((size_t)(K + 2));
    if (!s || !hit) {
        free(s), free(hit);
        return OX_ERR(n, err, JN_ENOMEM, "out of memory");
    }
    bool cls = is_classifier(n);
    for (int64_t r = 0; r < N; r++) {
        for (int64_t k = 0; k < K; k++)
            s[k] = 0, hit[k] = false;
        for (int64_t t = 0; t < f->n_trees; t++) {
            int64_t leaf = tree_walk(f, f->roots[t], in[0], r, F);
            if (leaf < 0) {
                free(s), free(hit);
                return OX_ERR(n, err, JN_EINVAL, "tree %lld has a cycle", (long long)t);
            }
            const tnode *l = &f->nodes[leaf];
            for (int32_t j = 0; j < l->n_w; j++) {
                const tweight *w = &f->w[l->first_w + j];
                if (f->agg == AG_MIN)
                    s[w->target] = hit[w->target] ? fmin(s[w->target], w->w) : w->w;
                else if (f->agg == AG_MAX)
                    s[w->target] = hit[w->target] ? fmax(s[w->target], w->w) : w->w;
                else
                    s[w->target] += w->w;
                hit[w->target] = true;
            }
        }
        for (int64_t k = 0; k < K; k++) {
            if (f->agg == AG_AVERAGE)
                s[k] /= (double)f->n_trees;
            if (f->base)
                s[k] += f->base[k];
        }
        if (!cls) {
            post_row(f->pt, s, K);
            for (int64_t k = 0; k < K; k++)
                ((float *)out[0]->data)[r * K + k] = (float)s[k];
            continue;
        }
        int64_t label;
        if (f->binary) {
            /* One class id (which of the two the weights name) carries the score: as ONNX Runtime reads it. */
            double z = hit[1] ? s[1] : s[0];
            if (f->pos_weights) {
                label = z > 0.5 ? 1 : 0;
                s[0] = 1 - z, s[1] = z;
            } else {
                label = z > 0 ? 1 : 0;
                s[0] = -z, s[1] = z;
            }
            if (f->pt == PT_LOGISTIC)
                post_row(PT_LOGISTIC, s, 2);
        } else {
            label = 0;
            for (int64_t k = 1; k < K; k++)
                if (s[k] > s[label])
                    label = k;
            post_row(f->pt, s, K);
        }
        ((int64_t *)out[0]->data)[r] = f->labels[label];
        if (n->n_out > 1 && out[1])
            for (int64_t k = 0; k < K; k++)
                ((float *)out[1]->data)[r * K + k] = (float)s[k];
    }
    free(s), free(hit);
    return 0;
}

#define TREE_NODE_ATTRS                                                                                           \
    "nodes_falsenodeids", "nodes_featureids", "nodes_hitrates", "nodes_hitrates_as_tensor",                       \
        "nodes_missing_value_tracks_true", "nodes_modes", "nodes_nodeids", "nodes_treeids", "nodes_truenodeids",  \
        "nodes_values", "nodes_values_as_tensor", "post_transform", "base_values", "base_values_as_tensor"
static const char *const treec_attrs[] = {TREE_NODE_ATTRS,          "class_ids",          "class_nodeids",
                                          "class_treeids",          "class_weights",      "class_weights_as_tensor",
                                          "classlabels_int64s",     "classlabels_strings", NULL};
static const char *const treer_attrs[] = {TREE_NODE_ATTRS,  "aggregate_function", "n_targets",  "target_ids",
                                          "target_nodeids", "target_treeids",     "target_weights",
                                          "target_weights_as_tensor", NULL};
static const ox_op op_treec = {.op_type = "TreeEnsembleClassifier", .min_in = 1, .max_in = 1, .min_out = 1,
                               .max_out = 2, .attrs = treec_attrs, .check = tree_check, .shape = tree_shape,
                               .run = tree_run};
static const ox_op op_treer = {.op_type = "TreeEnsembleRegressor", .min_in = 1, .max_in = 1, .min_out = 1,
                               .max_out = 1, .attrs = treer_attrs, .check = tree_check, .shape = tree_shape,
                               .run = tree_run};

/* ZipMap is known so that its refusal says why. */
static int zipmap_check(ox_model *m, ox_node *n, jn_err *err)
{
    (void)m;
    return ox_reject(n, err, "its output is a sequence of maps, which the adapter does not carry (export without "
                             "ZipMap, e.g. skl2onnx options={'zipmap': False}: the probabilities are the same tensor)");
}

static const char *const zipmap_attrs[] = {"classlabels_int64s", "classlabels_strings", NULL};
static const ox_op op_zipmap = {.op_type = "ZipMap", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
                                .attrs = zipmap_attrs, .check = zipmap_check, .shape = rowwise_shape,
                                .run = scaler_run};

static const ox_op *const ml_ops[] = {&op_linc, &op_linr, &op_norm,  &op_scaler, &op_afe,
                                      &op_treec, &op_treer, &op_zipmap, NULL};

const ox_op *ox_op_find_ml(const char *op_type)
{
    for (const ox_op *const *op = ml_ops; *op; op++)
        if (strcmp((*op)->op_type, op_type) == 0)
            return *op;
    return NULL;
}

const ox_op *ox_op_nth_ml(size_t i)
{
    for (const ox_op *const *op = ml_ops; *op; op++)
        if (i-- == 0)
            return *op;
    return NULL;
}
