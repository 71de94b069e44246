#include "request.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

void jn_request_init(jn_request *req)
{
    memset(req, 0, sizeof *req);
    jn_tensor_list_init(&req->inputs);
    jn_params_init(&req->params);
    jn_params_init(&req->answer);
}

void jn_request_clear(jn_request *req)
{
    free(req->model);
    free(req->version);
    free(req->id);
    jn_tensor_list_clear(&req->inputs);
    for (size_t i = 0; i < req->n_outputs; i++)
        free(req->outputs[i]);
    free(req->outputs);
    jn_params_clear(&req->params);
    jn_params_clear(&req->answer);
    jn_request_init(req);
}

int jn_request_set_target(jn_request *req, const char *model, const char *version, const char *id)
{
    free(req->model);
    free(req->version);
    free(req->id);
    req->model = strdup(model ? model : "");
    req->version = strdup(version ? version : "");
    req->id = strdup(id ? id : "");
    return req->model && req->version && req->id ? 0 : JN_ENOMEM;
}

int jn_request_add_output(jn_request *req, const char *name)
{
    char **grown = realloc(req->outputs, (req->n_outputs + 1) * sizeof *grown);
    if (!grown)
        return JN_ENOMEM;
    req->outputs = grown;
    if (!(grown[req->n_outputs] = strdup(name)))
        return JN_ENOMEM;
    req->n_outputs++;
    return 0;
}
