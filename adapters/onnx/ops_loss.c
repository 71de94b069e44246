/* ops_loss.c — the training standard's losses: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (opset 12+),
 * with reduction none / sum / mean, optional class weights and ignore_index. Inputs are [N, C] or
 * [N, C, d1, ..., dk] with targets [N] or [N, d1, ..., dk]; mean divides by the sum of the weights of the targets
 * that are not ignored (their count without weights). Computed in double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

static bool is_sce(const ox_node *n)
{
    return strcmp(n->op_type, "SoftmaxCrossEntropyLoss") == 0;
}

static int loss_check(ox_model *m, ox_node *n, jn_err *err)
{
    jn_dtype dt = ox_in_dtype(m, n, 0), lt = ox_in_dtype(m, n, 1);
    if (ox_need_opset(n, 12, err))
        return err->code;
    if (!ox_dtype_is_float(dt))
        return ox_reject(n, err, "dtype %s is not supported", jn_dtype_name(dt));
    if (lt != JN_DTYPE_INT32 && lt != JN_DTYPE_INT64)
        return ox_reject(n, err, "targets have dtype %s (INT32 or INT64 expected)", jn_dtype_name(lt));
    if (ox_has_in(n, 2) && ox_in_dtype(m, n, 2) != dt)
        return ox_reject(n, err, "weights have dtype %s, the input %s", jn_dtype_name(ox_in_dtype(m, n, 2)),
                         jn_dtype_name(dt));
    const char *red = ox_attr_str(n, "reduction", "mean");
    if (strcmp(red, "none") != 0 && strcmp(red, "sum") != 0 && strcmp(red, "mean") != 0)
        return ox_reject(n, err, "reduction '%s' is not one of none, sum, mean", red);
    ox_set_out_dtype(m, n, 0, dt);
    ox_set_out_dtype(m, n, 1, dt);
    return 0;
}

static int loss_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    const ox_tensor *x = in[0], *t = in[1];
    bool ok = x->ndim >= 2 && t->ndim == x->ndim - 1 && t->shape[0] == x->shape[0];
    for (int d = 2; ok && d < x->ndim; d++)
        ok = t->shape[d - 1] == x->shape[d];
    if (ok && n->n_in > 2 && in[2])
        ok = in[2]->ndim == 1 && in[2]->shape[0] == x->shape[1];
    if (!ok)
        return jn_err_set(err, JN_EINVAL, "node '%s' (%s): input [N, C, ...], target [N, ...] and weight [C] "
                          "do not agree", n->name, n->op_type);
    bool none = strcmp(ox_attr_str(n, "reduction", "mean"), "none") == 0;
    if (ox_set_shape(out[0], x->dtype, none ? t->ndim : 0, t->shape, err))
        return err->code;
    if (n->n_out > 1 && out[1])
        return ox_set_shape(out[1], x->dtype, x->ndim, x->shape, err);
    return 0;
}

static int loss_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    const ox_tensor *x = in[0], *t = in[1], *w = n->n_in > 2 ? in[2] : NULL;
    int64_t N = x->shape[0], C = x->shape[1], D = 1, total = ox_count(x);
    int64_t ignore = ox_attr_int(n, "ignore_index", INT64_MIN);
    bool has_ignore = ox_attr_find(n, "ignore_index") != NULL;
    const char *red = ox_attr_str(n, "reduction", "mean");
    double *lp = NULL; /* SoftmaxCrossEntropyLoss: the log-probabilities */
    for (int d = 2; d < x->ndim; d++)
        D *= x->shape[d];
    if (is_sce(n)) {
        lp = malloc((size_t)(total + 1) * sizeof(double));
        if (!lp)
            return jn_err_set(err, JN_ENOMEM, "out of memory");
        for (int64_t b = 0; b < N; b++)
            for (int64_t d = 0; d < D; d++) {
                double mx = -INFINITY, sum = 0;
                for (int64_t c = 0; c < C; c++) {
                    double v = ox_load_f64(x->data, x->dtype, (b * C + c) * D + d);
                    mx = v > mx ? v : mx;
                }
                for (int64_t c = 0; c < C; c++)
                    sum += exp(ox_load_f64(x->data, x->dtype, (b * C + c) * D + d) - mx);
                double ls = log(sum);
                for (int64_t c = 0; c < C; c++) {
                    int64_t at = (b * C + c) * D + d;
                    lp[at] = ox_load_f64(x->data, x->dtype, at) - mx - ls;
                }
            }
        if (n->n_out > 1 && out[1])
            for (int64_t i = 0; i < total; i++)
                ox_store_f64(out[1]->data, out[1]->dtype, i, lp[i]);
    }
    double sum = 0, wsum = 0;
    int rc = 0;
    for (int64_t b = 0; b < N && !rc; b++)
        for (int64_t d = 0; d < D; d++) {
            int64_t i = b * D + d, c = ox_load_i64(t->data, t->dtype, i);
            double l = 0, wt = 0;
            if (!(has_ignore && c == ignore)) {
                if (c < 0 || c >= C) {
                    rc = jn_err_set(err, JN_EINVAL, "node '%s' (%s): target %lld is not a class in [0, %lld)",
                                    n->name, n->op_type, (long long)c, (long long)C);
                    break;
                }
                int64_t at = (b * C + c) * D + d;
                wt = w ? ox_load_f64(w->data, w->dtype, c) : 1.0;
                l = -(lp ? lp[at] : ox_load_f64(x->data, x->dtype, at)) * wt;
            }
            if (red[0] == 'n')
                ox_store_f64(out[0]->data, out[0]->dtype, i, l);
            sum += l;
            wsum += wt;
        }
    if (!rc && red[0] == 's')
        ox_store_f64(out[0]->data, out[0]->dtype, 0, sum);
    else if (!rc && red[0] == 'm')
        ox_store_f64(out[0]->data, out[0]->dtype, 0, wsum != 0 ? sum / wsum : (sum == 0 ? 0.0 : NAN));
    free(lp);
    return rc;
}

static const char *const loss_attrs[] = {"reduction", "ignore_index", NULL};
static const ox_op op_nll = {.op_type = "NegativeLogLikelihoodLoss", .min_in = 2, .max_in = 3, .min_out = 1,
                             .max_out = 1, .attrs = loss_attrs, .check = loss_check, .shape = loss_shape,
                             .run = loss_run};
static const ox_op op_sce = {.op_type = "SoftmaxCrossEntropyLoss", .min_in = 2, .max_in = 3, .min_out = 1,
                             .max_out = 2, .attrs = loss_attrs, .check = loss_check, .shape = loss_shape,
                             .run = loss_run};

const ox_op *const ox_ops_loss[] = {&op_nll, &op_sce, NULL};
