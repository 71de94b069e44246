/* rest.h — internal to broker/http: the REST front end's work, callable without a socket (the unit tests call it
 * directly). router.c matches the route; these functions decode JSON into the same jn_request the gRPC codecs
 * fill, and encode the answer; rest_infer.c hands inference calls to the one dispatcher (core/dispatch.h), which
 * resolves, admits, places and runs them exactly as it does the gRPC doors'.
 *
 *   json_tensor.c  JSON values <-> tensor elements (range checks, nesting against shapes, float printing),
 *                  replies
 *   rest_v2.c      KServe v2 REST: infer (JSON and Triton's binary-data extension), metadata
 *   rest_stats.c   KServe v2 REST: the statistics extension (GET .../stats)
 *   simple_json.c  POST /v1/models/{name}:predict
 *   rest_admin.c   model listing, signatures, pipelines
 *
 * Ownership:
 * - jn_rest_reply owns its body and headers (malloc'd); jn_rest_reply_free releases them. router.c hands the body
 *   to jn_http_respond (which takes it) and frees the headers itself.
 * - Tensors decoded from a request body with binary data may point INTO the body (zero-copy, when aligned): the
 *   body must outlive the jn_request and every output (the request and outputs are always cleared before the
 *   caller answers; engines never keep inputs past infer(), see engine.h).
 * - json_t values returned are new references the caller decrefs.
 * Thread-safety: every function is reentrant; the registry and pool are shared and thread-safe.
 */
#ifndef JN_HTTP_REST_H
#define JN_HTTP_REST_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "control.h"
#include "dispatch.h"
#include "engine.h"
#include "err.h"
#include "fetch.h"
#include "registry.h"
#include "request.h"
#include "tensor.h"
#include "workpool.h"

#define JN_REST_JSON "application/json"
#define JN_REST_OCTETS "application/octet-stream"

/* An answer ready for jn_http_respond. */
typedef struct jn_rest_reply {
    int status;
    const char *content_type; /* static string; NULL for an empty body */
    char *body;               /* malloc'd or NULL */
    size_t body_len;
    char *headers; /* malloc'd "Name: value\r\n" lines, or NULL */
} jn_rest_reply;

void jn_rest_reply_free(jn_rest_reply *r);
/* {"error": message} with `status` (message bytes that are not UTF-8 are shown as '?'). Replaces any content. */
void jn_rest_reply_error(jn_rest_reply *r, int status, const char *message);
/* The status mapped from err->code (jn_err_http_status) and its message. */
void jn_rest_reply_err(jn_rest_reply *r, const jn_err *err);
/* Dumps `doc` (reference stolen) as compact JSON with the given extra jansson flags; a 500 on out of memory. */
void jn_rest_reply_json(jn_rest_reply *r, int status, json_t *doc, size_t flags);

/* ---- json_tensor.c: shared conversions ---- */

/* Writes JSON value v as element i of a `dtype` array at `data`: numbers with a range check (integral reals are
 * accepted for integer types), true/false for BOOL, "NaN"/"Infinity"/"-Infinity" for float types. The error
 * names the input and the element: "input 'x': data[3] = 300 does not fit INT8". BYTES is not handled here. */
int jn__json_put_elem(const json_t *v, jn_dtype dtype, void *data, size_t i, const char *input, const char *field,
                      jn_err *err);

/* The shape of a nested JSON array (a scalar has rank 0); checks it is rectangular and that leaves are not arrays
 * or objects. */
int jn__json_infer_shape(const json_t *v, int *ndim, int64_t *shape, const char *input, const char *field,
                         jn_err *err);

/* Visits the leaves of `data` in row-major order after checking it against shape: either flat (an array of
 * `count` scalars; a bare scalar when count is 1 and rank is 0) or nested exactly as the shape says. */
typedef int (*jn__json_leaf_fn)(void *arg, const json_t *leaf, size_t index, jn_err *err);
int jn__json_walk_data(const json_t *data, int ndim, const int64_t *shape, const char *input, const char *field,
                       jn__json_leaf_fn fn, void *arg, jn_err *err);

/* Converts a whole JSON value laid out per shape (see jn__json_walk_data) into a new tensor `name` of dtype/shape.
 * BYTES leaves must be strings (taken as their UTF-8 bytes). */
int jn__json_to_tensor(const json_t *data, const char *name, jn_dtype dtype, int ndim, const int64_t *shape,
                       const char *field, jn_tensor **out, jn_err *err);

/* Element i of a numeric tensor as JSON: integers, reals (FP32/FP16/BF16 by their shortest round-tripping decimal
 * up to 9 digits), true/false, and "NaN" / "Infinity" / "-Infinity" for non-finite floats. NULL on out of memory. */
json_t *jn__json_elem(const jn_tensor *t, size_t i);

/* Would the JSON form lose anything? FP16/BF16 (v2 keeps them binary-only), BYTES that are not UTF-8, UINT64
 * above INT64_MAX (JSON integers are int64 in jansson). */
bool jn__tensor_needs_binary(const jn_tensor *t, bool halfs_allowed);

/* The tensor as a flat JSON array (flat = true) or nested per its shape. BYTES elements become strings (the
 * caller made sure they are UTF-8, or passes base64 = true to encode every element in base64). */
json_t *jn__tensor_to_json(const jn_tensor *t, bool flat, bool base64);

/* The jansson precision flag that prints these outputs' floats so they round-trip: 9 digits for FP32 and
 * narrower, 17 once an FP64 output is present. */
size_t jn__json_real_flags(const jn_tensor_list *outputs);

/* A request parameter from a JSON scalar (bool, integer, real, string), as the gRPC codecs take InferParameter. */
int jn__json_set_param(jn_params *params, const char *key, const json_t *v, jn_err *err);

/* "a string", "an array", "null", ... for messages. */
const char *jn__json_kind(const json_t *v);

/* A JSON string for arbitrary bytes: invalid UTF-8 is replaced by '?'. */
json_t *jn__json_text(const char *s);

/* ---- rest_v2.c ---- */

/* What the encoder must know of the request: which outputs go out as binary data. */
typedef struct jn_rest_v2_opts {
    bool binary_all; /* request parameter binary_data_output = true */
    size_t n;
    char **names;  /* requested outputs that asked for parameters.binary_data = true */
} jn_rest_v2_opts;

void jn_rest_v2_opts_free(jn_rest_v2_opts *opts);

/* Decodes a v2 infer body into req (target model/version from the path). header_len is the value of
 * Inference-Header-Content-Length, or -1 when absent (then the whole body is JSON). JN_EINVAL naming the field. */
int jn_rest_v2_decode(const uint8_t *body, size_t len, int64_t header_len, const char *model, const char *version,
                      jn_request *req, jn_rest_v2_opts *opts, jn_err *err);

/* Encodes the answer: JSON, or JSON header + binary outputs (reply->headers then carries
 * Inference-Header-Content-Length). Answers whose outputs all go out as JSON and include no FP64 are written
 * straight into the body (json_write.h); the others through a jansson tree. Both give the same bytes. */
int jn_rest_v2_encode(const jn_request *req, const jn_engine *engine, const jn_tensor_list *outputs,
                      const jn_rest_v2_opts *opts, jn_rest_reply *reply, jn_err *err);
/* The jansson-tree encoder alone, for every answer (the tests compare it with jn_rest_v2_encode). */
int jn__rest_v2_encode_jansson(const jn_request *req, const jn_engine *engine, const jn_tensor_list *outputs,
                               const jn_rest_v2_opts *opts, jn_rest_reply *reply, jn_err *err);

/* GET /v2 and GET /v2/models/{m}[/versions/{v}]. */
json_t *jn_rest_v2_server_metadata(void);
json_t *jn_rest_v2_model_metadata(const jn_engine *e);

/* ---- rest_stats.c: the v2 statistics extension ---- */

/* GET /v2/models[/{model}[/versions/{version}]]/stats: model NULL or "" = every registered model; else that model
 * (version NULL or "" = its current one). {"model_stats": [...]} with 200, or the registry's error (404 naming the
 * model or the version). */
void jn_rest_v2_stats(jn_registry *reg, const char *model, const char *version, jn_rest_reply *reply);

/* rest_repository.c: the v2 model repository extension (issue #20); m may be NULL (no repository: 501). */
struct jn_model_records;
void jn_rest_repository_index(const struct jn_model_records *m, const uint8_t *body, size_t len, jn_rest_reply *reply);
void jn_rest_repository_load(const struct jn_model_records *m, jn_control *control, const char *model,
                             const uint8_t *body, size_t len, jn_rest_reply *reply);
void jn_rest_repository_unload(const struct jn_model_records *m, jn_control *control, const char *model,
                               const uint8_t *body, size_t len, jn_rest_reply *reply);
/* One model's $model_stat object from a snapshot (name and version copied). NULL on out of memory. */
json_t *jn_rest_v2_model_stat(const char *name, const char *version, const jn_infer_stats_snapshot *s);

/* ---- simple_json.c ---- */

/* How an IMAGE value given as a URL is fetched (broker/fetch): the server's fetcher (NULL: only data: URIs decode,
 * other URLs are refused naming --fetch-allow), the call's deadline and cancellation. Borrowed. A fetch blocks: the
 * caller is on a worker. */
typedef struct jn_rest_fetch {
    const jn_fetcher *fetcher;
    int64_t deadline_ns;
    const atomic_int *cancelled;
} jn_rest_fetch;

/* One instance ({"<port>": value, ...}, or a bare value for a model with a single input) -> req's inputs, and
 * `params` (a JSON object or NULL) -> its parameters. A key "parameters" in the instance that names no port is
 * skipped (the caller passes it as params). IMAGE values that are URLs are fetched with `fetch` (NULL: as with no
 * fetcher). */
int jn_rest_predict_decode(const jn_engine *e, const json_t *instance, const json_t *params,
                           const jn_rest_fetch *fetch, jn_request *req, jn_err *err);

/* The simple answer for one request's outputs (see simple_json.c). NULL on out of memory. */
json_t *jn_rest_predict_answer(const jn_engine *e, const jn_tensor_list *outputs, bool all_scores);

/* POST /v1/models/{name}:predict as dispatcher ops: parse the body (decode), then run one request per instance on
 * the call's model (run). */
int jn_rest_predict_parse(jn_call *c, const uint8_t *body, size_t len, json_t **doc, jn_err *err);
int jn_rest_predict_run(jn_call *c, const json_t *doc, const jn_fetcher *fetcher, bool all_scores, json_t **result,
                        bool *fp64, jn_err *err);

/* ---- rest_infer.c: the REST inference doors on the dispatcher ---- */

typedef enum jn_rest_door { JN_REST_V2_INFER, JN_REST_PREDICT } jn_rest_door;

/* One POST .../infer or :predict call. The body is borrowed until `answered` returns (tensors may point into it). */
typedef struct jn_rest_call {
    jn_call call; /* the dispatcher's (call.owner is the caller's) */
    jn_rest_door door;
    const char *model, *version; /* from the path (borrowed, like the body) */
    const uint8_t *body;
    size_t len;
    int64_t header_len; /* v2: Inference-Header-Content-Length, -1 = absent */
    bool all_scores;    /* predict: ?all=1 */
    jn_rest_v2_opts opts; /* v2: which outputs go out as binary data */
    json_t *doc, *result; /* predict: the parsed body, the answer being built */
    const jn_fetcher *fetch; /* predict: IMAGE values given by URL (borrowed; NULL = only data: URIs) */
    bool fp64;
    jn_rest_reply reply; /* filled for `answered` */
    /* Called exactly once with reply filled, on any thread; then the caller answers and calls jn_rest_call_end. */
    void (*answered)(struct jn_rest_call *rc);
} jn_rest_call;

/* Binds rc (zeroed here) to the dispatcher. The caller may then set rc->call.cancelled and rc->call.run_here. */
void jn_rest_call_init(jn_rest_call *rc, jn_dispatcher *d, jn_rest_door door, const uint8_t *body, size_t len,
                       int64_t header_len, bool all_scores, void (*answered)(jn_rest_call *rc), void *owner);
/* Resolves `model` (version NULL or "" = current) once and hands the call to the dispatcher. */
void jn_rest_call_start(jn_rest_call *rc, const char *model, const char *version);
/* After the answer went out: the call's metrics, and everything it held (not the reply, which the caller took). */
void jn_rest_call_end(jn_rest_call *rc);

/* The whole call, waiting for its answer on this thread (the unit tests' entry). */
void jn_rest_call_run(jn_dispatcher *d, jn_rest_door door, const char *model, const char *version, const uint8_t *body,
                      size_t len, int64_t header_len, bool all_scores, jn_rest_reply *reply);

/* ---- rest_admin.c ---- */

/* A model as junction.v1.ModelInfo in JSON (name, versions, type, platform, ready, description, signature). */
json_t *jn_rest_model_info(const jn_engine *e);
/* GET /v1/models: {"models": [...]} sorted by name. */
void jn_rest_list_models(jn_registry *reg, jn_rest_reply *reply);
/* GET /v1/pipelines: {"pipelines": [spec, ...]}. */
void jn_rest_list_pipelines(jn_registry *reg, jn_rest_reply *reply);
/* GET /v1/pipelines/{name}: the spec as PUT takes it. */
void jn_rest_get_pipeline(jn_registry *reg, const char *name, jn_rest_reply *reply);
/* PUT /v1/pipelines/{name}: parse, check the name, compile, register -> {"name","replaced","plan"}. */
void jn_rest_put_pipeline(jn_control *control, const char *name, const uint8_t *body, size_t len,
                          jn_rest_reply *reply);
/* DELETE /v1/pipelines/{name} -> {"name","deleted":true}. */
void jn_rest_delete_pipeline(jn_control *control, const char *name, jn_rest_reply *reply);

#endif
