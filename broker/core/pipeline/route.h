/* pipeline/route.h — a step whose model is a route (issue #20): a weighted split over candidate models, optionally
 * sticky (a request parameter's value always picks the same candidate) and mirrored (a copy of each call goes to a
 * shadow model off the caller's path, its answer discarded). Private to broker/core/pipeline/.
 *
 * JSON: {"split": [{"model": "a", "weight": 90}, {"model": "b", "weight": 10}], "sticky": "user_id", "mirror": "c"}
 *   weights are numbers >= 0 with a positive sum; models distinct. Without `sticky` (or when the call does not carry
 *   the parameter) each call draws at random with the weights. With it, weighted rendezvous hashing: candidate i's
 *   score for key k is w_i / -ln(u(k, i)), u uniform in (0,1) from a hash of k and the candidate's name; the highest
 *   wins. A weight change moves only the keys that must move (to or from the candidate whose weight changed), and
 *   the same key keeps its candidate across restarts and replicas (the hash is fixed, FNV-1a + splitmix64).
 *
 * Ownership: a route holds a reference on each candidate's registry entry and engine (released by jn__route_free).
 * Thread-safety: read-only after compile except the mirror's in-flight counter (atomic); the random draw keeps its
 * state per thread. */
#ifndef JN_PIPELINE_ROUTE_H
#define JN_PIPELINE_ROUTE_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "metrics.h"
#include "params.h"
#include "registry.h"

/* Mirror calls in flight per routed step at most; more are dropped (counted as failed mirror runs). */
#define JN_ROUTE_MIRROR_MAX_INFLIGHT 64
#define JN_ROUTE_MAX_CANDIDATES 16

typedef struct route_cand {
    char *name;
    double weight;
    uint64_t name_hash;
    jn_model *model; /* held */
    jn_engine *engine; /* held */
    char *stat_name; /* "<step>/<model>" or "<step>/mirror/<model>": its Prometheus step series */
    _Atomic(jn_step_stats *) stats;
} route_cand;

typedef struct route {
    route_cand *cands;
    size_t n;
    double total;
    char *sticky; /* request parameter, or NULL */
    route_cand *mirror; /* or NULL */
    atomic_int mirror_inflight;
} route;

/* Checks the shape of a "route" object; on success *first is the first candidate's model (borrowed from v). */
int jn__route_parse(const json_t *v, const char *path, const char **first, jn_err *err);
/* Compiles a route from its JSON text for step `step_id`: resolves every candidate (and the mirror) in reg and checks
 * their signatures against the first's (same inputs and outputs: names, kinds, datatypes, ranks, compatible dims;
 * the mirror: the inputs). Messages name the pipeline and the step. NULL with err set on failure. */
route *jn__route_compile(const char *text, const char *pipeline, const char *step_id, jn_registry *reg, jn_err *err);
void jn__route_free(route *r);
/* The candidate for one call with these parameters. */
size_t jn__route_pick(const route *r, const jn_params *params);
/* The sticky choice for key bytes (exposed for the unit tests of the consistent hash). */
size_t jn__route_pick_key(const route *r, const void *key, size_t len);
/* The candidate's (or mirror's) stats series, looked up on first use. */
jn_step_stats *jn__route_stats(route_cand *c, const char *pipeline);

#endif
