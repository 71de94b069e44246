/* evaluate_service.c — junction.v1.Broker/Evaluate: runs the labelled examples of one request through a model and
 * answers the classification metrics (broker/core/evaluate.h).
 *
 * The whole call is one job on the worker pool (never on a pump thread): the examples run one after another, each
 * through jn_exec_prepare / jn_exec_run, so each latency is that of one request on an otherwise idle path. An
 * example that fails is answered in `errors` and left out of the metrics; an unknown model or a model with nothing
 * to evaluate fails the call. The call's deadline and cancellation apply to every example.
 *
 * Ownership: the decoded request is held (jn_pb_holder) while input tensors point into it; the job owns it and
 * frees everything after replying.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evaluate.h"
#include "internal.h"
#include "junction/v1/broker.pb-c.h"
#include "pb.h"

typedef struct eval_job {
    jn_unary *u;
    Junction__V1__EvaluateRequest *req; /* owned through holder */
    jn_pb_holder *holder;
} eval_job;

static int run_examples(eval_job *job, jn_eval *ev, char **preds, double *lat, char **errors, jn_err *err)
{
    Junction__V1__EvaluateRequest *m = job->req;
    int64_t t0 = jn_now_ns();
    for (size_t i = 0; i < m->n_examples; i++) {
        const Junction__V1__Example *ex = m->examples[i];
        jn_request r;
        jn_request_init(&r);
        jn_err e;
        jn_err_clear(&e);
        int rc = jn_request_set_target(&r, m->model, m->version, "") ? jn_err_set(&e, JN_ENOMEM, "out of memory")
                                                                       : 0;
        r.deadline_ns = job->u->deadline_ns;
        for (size_t k = 0; !rc && k < ex->n_inputs; k++) {
            jn_tensor *t;
            rc = jn__v1_decode_value(k, ex->inputs[k], job->holder, &t, &e);
            if (!rc && jn_tensor_list_push(&r.inputs, t))
                rc = jn_err_set(&e, JN_ENOMEM, "out of memory");
        }
        if (!rc)
            rc = jn_eval_run_example(job->u->server->reg, &r, &job->u->cancelled, job->u->server->pool, &preds[i],
                                     &lat[i], &e);
        jn_request_clear(&r);
        if (rc == JN_ENOTFOUND || rc == JN_EDEADLINE || rc == JN_ECANCELLED || rc == JN_ENOMEM) {
            /* Not the example's fault: the whole call fails. */
            *err = e;
            return rc;
        }
        if (rc) {
            ev->n_failed++;
            if (!(errors[i] = strdup(e.msg[0] ? e.msg : jn_strerror(rc))))
                return jn_err_set(err, JN_ENOMEM, "out of memory");
        } else if (jn_eval_add(ev, ex->label, preds[i], lat[i])) {
            return jn_err_set(err, JN_ENOMEM, "out of memory");
        }
    }
    ev->wall_seconds = (double)(jn_now_ns() - t0) / 1e9;
    return 0;
}

static void eval_job_run(void *arg)
{
    eval_job *job = arg;
    Junction__V1__EvaluateRequest *m = job->req;
    size_t n = m->n_examples;
    jn_err err;
    jn_err_clear(&err);
    jn_eval ev;
    jn_eval_report rep;
    memset(&rep, 0, sizeof rep);
    char **preds = calloc(n ? n : 1, sizeof *preds);
    char **errors = calloc(n ? n : 1, sizeof *errors);
    double *lat = calloc(n ? n : 1, sizeof *lat);
    Junction__V1__ClassMetrics *cm = NULL, **cmp = NULL;
    char *report_json = NULL;
    int rc = 0;

    /* Declared order: the model's CLASSIFICATION labels (resolved once; examples resolve again on their own). */
    jn_engine *e = jn_registry_get(job->u->server->reg, m->model, m->version, &err);
    if (!e) {
        rc = err.code;
        goto out;
    }
    const jn_port *port = jn_eval_target_port(&e->sig);
    if (!port) {
        rc = jn_err_set(&err, JN_EINVAL,
                        "model '%s' has no CLASSIFICATION output with labels and no TEXT output: nothing to evaluate",
                        e->name);
        jn_engine_unref(e);
        goto out;
    }
    rc = jn_eval_init(&ev, (const char *const *)port->labels, port->n_labels);
    jn_engine_unref(e);
    if (rc || !preds || !errors || !lat) {
        rc = jn_err_set(&err, JN_ENOMEM, "out of memory");
        goto out;
    }
    rc = run_examples(job, &ev, preds, lat, errors, &err);
    if (!rc)
        rc = jn_eval_compute(&ev, &rep, &err);
    jn_eval_free(&ev);
    if (rc)
        goto out;

    json_t *j = jn_eval_report_json(&rep);
    report_json = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(j);
    size_t L = rep.n_labels;
    cm = calloc(L ? L : 1, sizeof *cm);
    cmp = calloc(L ? L : 1, sizeof *cmp);
    if (!report_json || !cm || !cmp) {
        rc = jn_err_set(&err, JN_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t c = 0; c < L; c++) {
        junction__v1__class_metrics__init(&cm[c]);
        cm[c].label = rep.labels[c];
        cm[c].precision = rep.per_class[c].precision;
        cm[c].recall = rep.per_class[c].recall;
        cm[c].f1 = rep.per_class[c].f1;
        cm[c].support = rep.per_class[c].support;
        cmp[c] = &cm[c];
    }
    for (size_t i = 0; i < n; i++) {
        if (!preds[i])
            preds[i] = strdup("");
        if (!errors[i])
            errors[i] = strdup("");
        if (!preds[i] || !errors[i]) {
            rc = jn_err_set(&err, JN_ENOMEM, "out of memory");
            goto out;
        }
    }
    Junction__V1__Averages macro = JUNCTION__V1__AVERAGES__INIT, micro = JUNCTION__V1__AVERAGES__INIT,
                           weighted = JUNCTION__V1__AVERAGES__INIT;
    macro.precision = rep.macro.precision;
    macro.recall = rep.macro.recall;
    macro.f1 = rep.macro.f1;
    micro.precision = rep.micro.precision;
    micro.recall = rep.micro.recall;
    micro.f1 = rep.micro.f1;
    weighted.precision = rep.weighted.precision;
    weighted.recall = rep.weighted.recall;
    weighted.f1 = rep.weighted.f1;
    Junction__V1__Latency latency = JUNCTION__V1__LATENCY__INIT;
    latency.p50 = rep.latency_p50;
    latency.p99 = rep.latency_p99;
    latency.mean = rep.latency_mean;
    latency.max = rep.latency_max;
    Junction__V1__EvaluateResponse resp = JUNCTION__V1__EVALUATE_RESPONSE__INIT;
    resp.examples = rep.examples;
    resp.failed = rep.failed;
    resp.accuracy = rep.accuracy;
    resp.macro = &macro;
    resp.micro = &micro;
    resp.weighted = &weighted;
    resp.n_per_class = L;
    resp.per_class = cmp;
    resp.n_labels = L;
    resp.labels = rep.labels;
    resp.n_confusion = L * L;
    resp.confusion = rep.confusion;
    resp.latency_ms = &latency;
    resp.throughput = rep.throughput;
    resp.report_json = report_json;
    resp.n_predictions = n;
    resp.predictions = preds;
    resp.n_latencies_ms = n;
    resp.latencies_ms = lat;
    resp.n_errors = n;
    resp.errors = errors;
    jn_unary_reply(job->u, jn_pb_pack(&resp.base));
out:
    if (rc)
        jn_unary_fail(job->u, rc, err.msg);
    for (size_t i = 0; i < n; i++) {
        if (preds)
            free(preds[i]);
        if (errors)
            free(errors[i]);
    }
    free(preds);
    free(errors);
    free(lat);
    free(cm);
    free(cmp);
    free(report_json);
    jn_eval_report_free(&rep);
    jn_pb_holder_unref(job->holder);
    free(job);
}

void jn_broker_evaluate(jn_unary *u, grpc_byte_buffer *payload)
{
    jn_err err;
    Junction__V1__EvaluateRequest *req =
        (Junction__V1__EvaluateRequest *)jn_pb_unpack(&junction__v1__evaluate_request__descriptor, payload, &err);
    if (!req) {
        jn_unary_fail(u, err.code, err.msg);
        return;
    }
    if (!*req->model) {
        protobuf_c_message_free_unpacked(&req->base, NULL);
        jn_unary_fail(u, JN_EINVAL, "Evaluate needs a model");
        return;
    }
    eval_job *job = calloc(1, sizeof *job);
    jn_pb_holder *holder = job ? jn_pb_holder_create(&req->base) : NULL;
    if (!holder) {
        if (!job)
            protobuf_c_message_free_unpacked(&req->base, NULL);
        free(job);
        jn_unary_fail(u, JN_ENOMEM, "out of memory");
        return;
    }
    job->u = u;
    job->req = req;
    job->holder = holder;
    if (jn_workpool_submit(u->server->pool, eval_job_run, job) != 0) {
        jn_pb_holder_unref(holder);
        free(job);
        jn_unary_fail(u, JN_EUNAVAIL, "the worker pool is not accepting work");
    }
}
