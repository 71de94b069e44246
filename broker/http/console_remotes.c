/* console_remotes.c — the web console's view of the remote engines (console.h: jn_console_attach_remotes), over
 * broker/remote's listing as Admin.ListEngines shows it. A library of its own (jn_console_remote) so that jn_http
 * does not link the gRPC client: `serve` links it and attaches its jn_remotes. */
#include "console.h"
#include "remotes.h"

static json_t *remotes_json(void *arg)
{
    jn_remote_info *infos;
    long n = jn_remotes_list(arg, &infos);
    if (n < 0)
        return NULL;
    json_t *list = json_array();
    for (long i = 0; list && i < n; i++) {
        const jn_remote_info *in = &infos[i];
        json_t *options = json_object();
        for (size_t o = 0; options && o < in->n_options; o++)
            json_object_set_new(options, in->option_keys[o], jn__json_text(in->option_values[o]));
        json_t *e = json_pack("{s:o, s:o, s:o, s:o, s:o, s:b, s:b, s:s, s:I, s:I, s:o, s:o}", "name",
                              jn__json_text(in->name), "endpoint", jn__json_text(in->endpoint), "protocol",
                              jn__json_text(in->protocol), "model", jn__json_text(in->model), "version",
                              jn__json_text(in->version ? in->version : ""), "ready", in->ready, "leased", in->leased,
                              "breaker", in->breaker ? in->breaker : "", "breaker_opened", (json_int_t)in->breaker_opened,
                              "since_heartbeat_ms", (json_int_t)in->since_heartbeat_ms, "health_error",
                              jn__json_text(in->health_error ? in->health_error : ""), "options", options);
        if (json_array_append_new(list, e)) {
            json_decref(list);
            list = NULL;
        }
    }
    jn_remotes_infos_free(infos, n);
    return list;
}

void jn_console_attach_remotes(jn_console *c, jn_remotes *remotes)
{
    if (c && remotes)
        jn_console_set_remotes(c, remotes_json, remotes);
}
