/* onnx_half.c — FP16 and BF16 wherever FP32 is computed, by one mechanism rather than per kernel: an operator
 * whose check refuses a half input is checked again as if those inputs were FP32; when that passes, the node is
 * marked (half_via_f32) and runs on FP32 copies of its half inputs, its FP32 results rounded back to the half dtype
 * (to nearest even). Operators that only move data (Identity, Reshape, Concat, Gather, Cast, ...) accept half
 * dtypes in their own check and are never marked.
 *
 * The retry sees every half input as FP32, so an operator whose spec has FP32 side inputs beside half data (scales,
 * ROIs) is taken as it should be; the price is that a model mixing FP16 and FP32 where the spec wants one type
 * (an Add of FP16 and FP32) loads too, computing in FP32 and rounding to the half type.
 *
 * Thread-safety: the copies are per call (malloc'd and freed within it); the node is read-only at run time. */
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

/* The half dtype among a node's inputs (the first found), or INVALID. */
static jn_dtype node_half(const ox_model *m, const ox_node *n)
{
    for (int i = 0; i < n->n_in; i++)
        if (ox_has_in(n, i) && ox_dtype_is_half(m->values[n->in[i]].dtype))
            return m->values[n->in[i]].dtype;
    return JN_DTYPE_INVALID;
}

int ox_half_check(ox_model *m, ox_node *n, jn_err *err)
{
    int rc = n->op->check(m, n, err);
    jn_dtype half = node_half(m, n);
    /* Dynamic operators (control flow, sequences) carry half values as they are; their run has no FP32 copies. */
    if (!rc || err->code != JN_EUNIMPL || half == JN_DTYPE_INVALID || (n->ext && n->ext->exec))
        return rc;
    jn_dtype saved[OX_MAX_IO];
    for (int i = 0; i < n->n_in; i++) {
        saved[i] = ox_in_dtype(m, n, i);
        if (ox_has_in(n, i) && ox_dtype_is_half(saved[i]))
            m->values[n->in[i]].dtype = JN_DTYPE_FP32;
    }
    if (n->params && n->ext && n->ext->free_params)
        n->ext->free_params(n->params);
    else
        free(n->params);
    n->params = NULL;
    jn_err again;
    jn_err_clear(&again);
    rc = n->op->check(m, n, &again);
    for (int i = 0; i < n->n_in; i++)
        if (ox_has_in(n, i))
            m->values[n->in[i]].dtype = saved[i];
    if (rc) {
        *err = again; /* the reason that remains once the dtype is out of the way */
        return rc;
    }
    jn_err_clear(err);
    n->half_via_f32 = half;
    for (int i = 0; i < n->n_out; i++)
        if (n->out[i] >= 0 && m->values[n->out[i]].dtype == JN_DTYPE_FP32)
            m->values[n->out[i]].dtype = half;
    return 0;
}

/* FP32 views of the node's inputs: copies of the half ones (data malloc'd into bufs[i]), the others as they are. */
static int widen_inputs(const ox_node *n, ox_tensor *const *in, ox_tensor *tmp, ox_tensor **view, void **bufs,
                        jn_err *err)
{
    for (int i = 0; i < n->n_in; i++) {
        bufs[i] = NULL;
        view[i] = in[i];
        if (!in[i] || !ox_dtype_is_half(in[i]->dtype))
            continue;
        tmp[i] = *in[i];
        int64_t count = ox_count(in[i]);
        tmp[i].dtype = JN_DTYPE_FP32;
        tmp[i].nbytes = (size_t)count * sizeof(float);
        bufs[i] = malloc(tmp[i].nbytes + 1);
        if (!bufs[i])
            return jn_err_set(err, JN_ENOMEM, "out of memory");
        float *f = bufs[i];
        for (int64_t k = 0; k < count; k++)
            f[k] = (float)ox_load_f64(in[i]->data, in[i]->dtype, k);
        tmp[i].data = f;
        view[i] = &tmp[i];
    }
    return 0;
}

static void free_bufs(void **bufs, int n)
{
    for (int i = 0; i < n; i++)
        free(bufs[i]);
}

int ox_half_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    ox_tensor tin[OX_MAX_IO], tout[OX_MAX_IO], *vin[OX_MAX_IO], *vout[OX_MAX_IO];
    void *bufs[OX_MAX_IO];
    int rc = widen_inputs(n, in, tin, vin, bufs, err);
    for (int i = 0; i < n->n_out; i++) {
        memset(&tout[i], 0, sizeof tout[i]);
        vout[i] = out[i] ? &tout[i] : NULL;
    }
    if (!rc)
        rc = n->op->shape(n, vin, vout, err);
    for (int i = 0; i < n->n_out && !rc; i++) {
        if (!out[i])
            continue;
        jn_dtype dt = tout[i].dtype == JN_DTYPE_FP32 ? n->half_via_f32 : tout[i].dtype;
        rc = ox_set_shape(out[i], dt, tout[i].ndim, tout[i].shape, err);
    }
    free_bufs(bufs, n->n_in);
    return rc;
}

int ox_half_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    ox_tensor tin[OX_MAX_IO], tout[OX_MAX_IO], *vin[OX_MAX_IO], *vout[OX_MAX_IO];
    void *bufs[OX_MAX_IO], *obufs[OX_MAX_IO] = {NULL};
    int rc = widen_inputs(n, in, tin, vin, bufs, err);
    for (int i = 0; i < n->n_out && !rc; i++) {
        vout[i] = out[i];
        if (!out[i] || !ox_dtype_is_half(out[i]->dtype))
            continue;
        tout[i] = *out[i];
        tout[i].dtype = JN_DTYPE_FP32;
        tout[i].nbytes = (size_t)ox_count(out[i]) * sizeof(float);
        obufs[i] = malloc(tout[i].nbytes + 1);
        if (!obufs[i])
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
        tout[i].data = obufs[i];
        vout[i] = &tout[i];
    }
    if (!rc)
        rc = n->op->run(n, vin, vout, err);
    for (int i = 0; i < n->n_out && !rc; i++) {
        if (!obufs[i])
            continue;
        int64_t count = ox_count(out[i]);
        const float *f = obufs[i];
        for (int64_t k = 0; k < count; k++)
            ox_store_f64(out[i]->data, out[i]->dtype, k, f[k]);
    }
    free_bufs(bufs, n->n_in);
    free_bufs(obufs, n->n_out);
    return rc;
}
