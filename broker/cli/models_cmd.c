/* models_cmd.c — `junction models`: ListModels, printed as text or JSON. One C-core call under the command-wide
 * deadline (rpc_client.h). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "junction/v1/broker.pb-c.h"
#include "rpc_client.h"
#include "signature.h"
#include "values.h"

static void models_usage(FILE *to)
{
    fprintf(to,
            "usage: junction models [--server HOST:PORT] [--timeout-ms N] [--json]\n"
            "\n"
            "Lists the models a running broker serves (junction.v1.Broker/ListModels), one line each:\n"
            "name, versions, type, platform, readiness, and the signature as inputs -> outputs.\n"
            "\n"
            "options:\n"
            "  --server HOST:PORT  the broker's gRPC address (default %s)\n"
            "  --timeout-ms N      deadline in milliseconds (default %d)\n"
            "  --json              print a JSON array of {name, versions, type, platform, ready, description,\n"
            "                      signature: {inputs, outputs}} instead\n"
            "  -h, --help          show this help\n",
            JN_CLI_DEFAULT_SERVER, JN_CLI_DEFAULT_TIMEOUT_MS);
}

static void print_ports_text(FILE *out, Junction__V1__Port **ports, size_t n)
{
    char type[256];
    for (size_t i = 0; i < n; i++) {
        jn_cli_port_type(type, sizeof type, ports[i]);
        fprintf(out, "%s%s:%s %s", i ? ", " : "", ports[i]->name, jn_kind_name((jn_kind)ports[i]->kind), type);
        if (ports[i]->sample_rate)
            fprintf(out, " %d Hz", ports[i]->sample_rate);
        if (ports[i]->has_default)
            fputs(" (default)", out);
    }
    if (n == 0)
        fputs("()", out);
}

static void print_ports_json(FILE *out, Junction__V1__Port **ports, size_t n)
{
    fputc('[', out);
    for (size_t i = 0; i < n; i++) {
        const Junction__V1__Port *p = ports[i];
        fputs(i ? ", {\"name\": " : "{\"name\": ", out);
        jn_cli_json_cstr(out, p->name);
        fprintf(out, ", \"kind\": \"%s\", \"datatype\": \"%s\", \"shape\": ", jn_kind_name((jn_kind)p->kind),
                jn_dtype_name((jn_dtype)p->datatype));
        jn_cli_print_shape(out, p->shape, p->n_shape, true);
        if (p->n_labels) {
            fputs(", \"labels\": [", out);
            for (size_t k = 0; k < p->n_labels; k++) {
                fputs(k ? ", " : "", out);
                jn_cli_json_cstr(out, p->labels[k]);
            }
            fputc(']', out);
        }
        if (*p->description) {
            fputs(", \"description\": ", out);
            jn_cli_json_cstr(out, p->description);
        }
        if (p->sample_rate)
            fprintf(out, ", \"sample_rate\": %d", p->sample_rate);
        if (p->has_default)
            fputs(", \"has_default\": true", out);
        fputc('}', out);
    }
    fputc(']', out);
}

static void print_models_json(FILE *out, const Junction__V1__ListModelsResponse *resp)
{
    fputc('[', out);
    for (size_t i = 0; i < resp->n_models; i++) {
        const Junction__V1__ModelInfo *m = resp->models[i];
        fputs(i ? ",\n {\"name\": " : "{\"name\": ", out);
        jn_cli_json_cstr(out, m->name);
        fputs(", \"versions\": [", out);
        for (size_t k = 0; k < m->n_versions; k++) {
            fputs(k ? ", " : "", out);
            jn_cli_json_cstr(out, m->versions[k]);
        }
        fputs("], \"type\": ", out);
        jn_cli_json_cstr(out, m->type);
        fputs(", \"platform\": ", out);
        jn_cli_json_cstr(out, m->platform);
        fprintf(out, ", \"ready\": %s, \"description\": ", m->ready ? "true" : "false");
        jn_cli_json_cstr(out, m->description);
        fputs(", \"signature\": {\"inputs\": ", out);
        print_ports_json(out, m->signature ? m->signature->inputs : NULL, m->signature ? m->signature->n_inputs : 0);
        fputs(", \"outputs\": ", out);
        print_ports_json(out, m->signature ? m->signature->outputs : NULL, m->signature ? m->signature->n_outputs : 0);
        fputs("}}", out);
    }
    fputs("]\n", out);
}

/* "v1,v2" (versions that already start with 'v' are kept as they are), "-" when there are none. */
static void format_versions(char *buf, size_t n, const Junction__V1__ModelInfo *m)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t k = 0; k < m->n_versions && used < n; k++)
        used += (size_t)snprintf(buf + used, n - used, "%s%s%s", k ? "," : "", m->versions[k][0] == 'v' ? "" : "v",
                                 m->versions[k]);
    if (m->n_versions == 0)
        snprintf(buf, n, "-");
}

static void print_models_text(FILE *out, const Junction__V1__ListModelsResponse *resp)
{
    int w_name = 1, w_ver = 1, w_type = 1, w_plat = 1, w_ready = 5;
    char ver[256];
    for (size_t i = 0; i < resp->n_models; i++) {
        const Junction__V1__ModelInfo *m = resp->models[i];
        format_versions(ver, sizeof ver, m);
        if (!m->ready)
            w_ready = 9;
        int l;
        if ((l = (int)strlen(m->name)) > w_name)
            w_name = l;
        if ((l = (int)strlen(ver)) > w_ver)
            w_ver = l;
        if ((l = (int)strlen(m->type)) > w_type)
            w_type = l;
        if ((l = (int)strlen(m->platform)) > w_plat)
            w_plat = l;
    }
    for (size_t i = 0; i < resp->n_models; i++) {
        const Junction__V1__ModelInfo *m = resp->models[i];
        format_versions(ver, sizeof ver, m);
        fprintf(out, "%-*s  %-*s  %-*s  %-*s  %-*s  ", w_name, m->name, w_ver, ver, w_type, *m->type ? m->type : "-",
                w_plat, *m->platform ? m->platform : "-", w_ready, m->ready ? "ready" : "not-ready");
        if (m->signature) {
            print_ports_text(out, m->signature->inputs, m->signature->n_inputs);
            fputs(" -> ", out);
            print_ports_text(out, m->signature->outputs, m->signature->n_outputs);
        } else {
            fputs("(no signature)", out);
        }
        fputc('\n', out);
    }
}

int jn_cmd_models(int argc, char **argv)
{
    const char *cmd = "models";
    jn_cli_common_opts o = {.server = JN_CLI_DEFAULT_SERVER, .timeout_ms = JN_CLI_DEFAULT_TIMEOUT_MS, .json = false};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            models_usage(stdout);
            return JN_CLI_EXIT_OK;
        }
        int r = jn_cli_common_flag(cmd, argc, argv, &i, &o);
        if (r == 0)
            jn_cli_unknown_flag(cmd, argv[i]);
        if (r <= 0) {
            fputc('\n', stderr);
            models_usage(stderr);
            return JN_CLI_EXIT_USAGE;
        }
    }

    jn_cli_rpc r;
    jn_cli_rpc_open(&r, o.server, o.timeout_ms);
    Junction__V1__ListModelsRequest req = JUNCTION__V1__LIST_MODELS_REQUEST__INIT;
    ProtobufCMessage *msg;
    jn_cli_rpc_status st;
    int rc = JN_CLI_EXIT_OK;
    if (jn_cli_rpc_unary(&r, "/junction.v1.Broker/ListModels", &req.base,
                         &junction__v1__list_models_response__descriptor, &msg, &st)) {
        jn_cli_print_status(cmd, &r, &st);
        rc = JN_CLI_EXIT_FAIL;
    } else {
        const Junction__V1__ListModelsResponse *resp = (const Junction__V1__ListModelsResponse *)msg;
        if (o.json)
            print_models_json(stdout, resp);
        else
            print_models_text(stdout, resp);
        protobuf_c_message_free_unpacked(msg, NULL);
    }
    jn_cli_rpc_close(&r);
    return jn_cli_finish_stdout(cmd, rc);
}

/* junction infer ------------------------------------------------------------------------------------------------- */

