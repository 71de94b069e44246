/* rest_repository.c — the v2 model repository extension over REST (issue #20), as Triton serves it:
 *   POST /v2/repository/index                  {"ready": bool}?  -> [{"name", "version", "state", "reason"}, ...]
 *   POST /v2/repository/models/{m}/load        {"parameters": {}}? -> 200 {}
 *   POST /v2/repository/models/{m}/unload      {"parameters": {"unload_dependents": bool}}? -> 200 {}
 * Admin routes (router.c). Errors are {"error": "..."} with the status of the error's code. The work is
 * model_records.c's, shared with the gRPC doors (broker/rpc/repository_service.c) and Admin.LoadModel. */
#include <string.h>

#include "model_records.h"
#include "rest.h"

/* The body as a JSON object ({} when empty); NULL with the reply set when it is not one. */
static json_t *body_object(const uint8_t *body, size_t len, const char *what, jn_rest_reply *reply)
{
    if (!len)
        return json_object();
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)body, len, 0, &jerr);
    if (!json_is_object(doc)) {
        char msg[300];
        snprintf(msg, sizeof msg, "%s: the body is not a JSON object%s%s", what, doc ? "" : ": ", doc ? "" : jerr.text);
        json_decref(doc);
        jn_rest_reply_error(reply, 400, msg);
        return NULL;
    }
    return doc;
}

void jn_rest_repository_index(const jn_model_records *m, const uint8_t *body, size_t len, jn_rest_reply *reply)
{
    json_t *req = body_object(body, len, "repository index", reply);
    if (!req)
        return;
    json_t *ready = json_object_get(req, "ready");
    if (ready && !json_is_boolean(ready)) {
        json_decref(req);
        jn_rest_reply_error(reply, 400, "repository index: 'ready' must be a boolean");
        return;
    }
    jn_err err;
    jn_err_clear(&err);
    jn_repo_state *st = NULL;
    long n = jn_model_records_index(m, ready && json_is_true(ready), &st, &err);
    json_decref(req);
    if (n < 0) {
        jn_rest_reply_err(reply, &err);
        return;
    }
    json_t *list = json_array();
    for (long i = 0; list && i < n; i++) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "name", st[i].name, "version", st[i].version, "state",
                              st[i].state, "reason", st[i].reason);
        if (!o || json_array_append_new(list, o)) {
            json_decref(list);
            list = NULL;
        }
    }
    jn_repo_states_free(st, n);
    jn_rest_reply_json(reply, 200, list, 0);
}

void jn_rest_repository_load(const jn_model_records *m, jn_control *control, const char *model, const uint8_t *body,
                             size_t len, jn_rest_reply *reply)
{
    json_t *req = body_object(body, len, "repository load", reply);
    if (!req)
        return;
    json_t *params = json_object_get(req, "parameters");
    jn_err err;
    jn_err_clear(&err);
    int rc = 0;
    if (params && (!json_is_object(params) || json_object_size(params))) {
        const char *key = json_is_object(params) ? json_object_iter_key(json_object_iter(params)) : NULL;
        rc = key ? jn_err_set(&err, JN_EUNIMPL, "repository load: parameter '%s' is not supported (models are loaded "
                                                 "from the repository's files)", key)
                 : jn_err_set(&err, JN_EINVAL, "repository load: 'parameters' must be an object");
    }
    json_decref(req);
    if (!rc)
        rc = jn_model_records_load_repository(m, control, model, NULL, &err);
    if (rc)
        jn_rest_reply_err(reply, &err);
    else
        jn_rest_reply_json(reply, 200, json_object(), 0);
}

void jn_rest_repository_unload(const jn_model_records *m, jn_control *control, const char *model,
                               const uint8_t *body, size_t len, jn_rest_reply *reply)
{
    json_t *req = body_object(body, len, "repository unload", reply);
    if (!req)
        return;
    json_t *params = json_object_get(req, "parameters");
    jn_err err;
    jn_err_clear(&err);
    int rc = params && !json_is_object(params) ? jn_err_set(&err, JN_EINVAL, "repository unload: 'parameters' must "
                                                                             "be an object")
                                               : 0;
    const char *key;
    json_t *v;
    if (!rc && params)
        json_object_foreach(params, key, v) {
            if (strcmp(key, "unload_dependents") != 0 && !rc) /* nothing depends on a model file here */
                rc = jn_err_set(&err, JN_EUNIMPL, "repository unload: parameter '%s' is not supported", key);
        }
    json_decref(req);
    if (!rc)
        rc = jn_model_records_unload(m, control, model, &err);
    if (rc)
        jn_rest_reply_err(reply, &err);
    else
        jn_rest_reply_json(reply, 200, json_object(), 0);
}
