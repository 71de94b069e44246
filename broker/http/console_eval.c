/* console_eval.c — POST /console/api/evaluate/{model} (console.h): the console's Evaluate. The body is JSONL, one
 * labelled example per line in `junction eval`'s form ({"<input>": value, ..., "label": "..."}; "text" and "image"
 * name the model's single TEXT / IMAGE input; images in base64, as the predict endpoint takes them). Each example
 * runs through the model like one Broker.Evaluate example (jn_eval_run_example: resolve, validate, run), one after
 * another; the answer is evaluate.h's report ({"accuracy", "per_class", "confusion", "latency_ms", ...}) plus
 * "errors": [{"line", "error"}] for the examples that failed (left out of the metrics, as Evaluate does).
 * Runs on the worker pool (the router sends console API calls there). */
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "evaluate.h"

enum { MAX_EXAMPLES = 10000, MAX_ERRORS_SHOWN = 50 };

void jn_console_evaluate(jn_registry *reg, const char *model, const uint8_t *body, size_t len, jn_rest_reply *reply)
{
    jn_err err;
    jn_err_clear(&err);
    jn_engine *e = jn_registry_get(reg, model, NULL, &err);
    if (!e) {
        jn_rest_reply_err(reply, &err);
        return;
    }
    const jn_port *port = jn_eval_target_port(&e->sig);
    if (!port) {
        jn_err_set(&err, JN_EINVAL, "model '%s' has no CLASSIFICATION output with labels and no TEXT output: nothing "
                                    "to evaluate", e->name);
        jn_engine_unref(e);
        jn_rest_reply_err(reply, &err);
        return;
    }
    jn_eval ev;
    if (jn_eval_init(&ev, (const char *const *)port->labels, port->n_labels)) {
        jn_engine_unref(e);
        jn_rest_reply_error(reply, 500, "out of memory");
        return;
    }
    json_t *errors = json_array();
    size_t line_no = 0, examples = 0;
    int64_t t0 = jn_now_ns();
    int fatal = 0;
    for (size_t at = 0; at < len && !fatal;) {
        const uint8_t *nl = memchr(body + at, '\n', len - at);
        size_t n = nl ? (size_t)(nl - (body + at)) : len - at;
        const char *text = (const char *)body + at;
        at += n + 1;
        line_no++;
        while (n && (text[n - 1] == '\r' || text[n - 1] == ' ' || text[n - 1] == '\t'))
            n--;
        if (n == 0)
            continue;
        if (++examples > MAX_EXAMPLES) {
            fatal = jn_err_set(&err, JN_EINVAL, "line %zu: at most %d examples per evaluation", line_no, MAX_EXAMPLES);
            break;
        }
        json_error_t je;
        json_t *obj = json_loadb(text, n, 0, &je);
        const char *label = json_string_value(json_object_get(obj, "label"));
        int rc = 0;
        jn_err ex_err;
        jn_err_clear(&ex_err);
        if (!obj)
            rc = jn_err_set(&ex_err, JN_EINVAL, "not JSON: %s (column %d)", je.text, je.column);
        else if (!json_is_object(obj))
            rc = jn_err_set(&ex_err, JN_EINVAL, "expected an object {\"<input>\": value, ..., \"label\": \"...\"}");
        else if (!label)
            rc = jn_err_set(&ex_err, JN_EINVAL, "\"label\" is missing or not a string");
        char *pred = NULL;
        double ms = 0;
        if (!rc) {
            json_t *instance = json_deep_copy(obj);
            json_object_del(instance, "label");
            jn_request req;
            jn_request_init(&req);
            rc = jn_request_set_target(&req, e->name, e->version, "") ? jn_err_set(&ex_err, JN_ENOMEM, "out of memory")
                                                                      : jn_rest_predict_decode(e, instance, NULL, NULL, &req, &ex_err);
            if (!rc)
                rc = jn_eval_run_example(reg, &req, NULL, NULL, &pred, &ms, &ex_err);
            jn_request_clear(&req);
            json_decref(instance);
        }
        if (rc == JN_ENOMEM || rc == JN_ENOTFOUND) {
            fatal = rc;
            err = ex_err;
        } else if (rc) {
            ev.n_failed++;
            if (json_array_size(errors) < MAX_ERRORS_SHOWN)
                json_array_append_new(errors, json_pack("{s:I, s:o}", "line", (json_int_t)line_no, "error",
                                                        jn__json_text(ex_err.msg)));
        } else if (jn_eval_add(&ev, label, pred, ms)) {
            fatal = jn_err_set(&err, JN_ENOMEM, "out of memory");
        }
        free(pred);
        json_decref(obj);
    }
    ev.wall_seconds = (double)(jn_now_ns() - t0) / 1e9;
    jn_eval_report rep;
    memset(&rep, 0, sizeof rep);
    if (!fatal && examples == 0)
        fatal = jn_err_set(&err, JN_EINVAL, "the body has no examples (JSONL: one {\"<input>\": value, ..., \"label\": "
                                            "\"...\"} per line)");
    if (!fatal)
        fatal = jn_eval_compute(&ev, &rep, &err);
    jn_eval_free(&ev);
    if (fatal) {
        json_decref(errors);
        jn_engine_unref(e);
        jn_rest_reply_err(reply, &err);
        return;
    }
    json_t *doc = jn_eval_report_json(&rep);
    jn_eval_report_free(&rep);
    if (doc) {
        json_object_set_new(doc, "model", jn__json_text(e->name));
        json_object_set_new(doc, "errors", errors);
    } else {
        json_decref(errors);
    }
    jn_engine_unref(e);
    jn_rest_reply_json(reply, 200, doc, JSON_REAL_PRECISION(9));
}
