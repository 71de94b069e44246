/* breaker.h — a circuit breaker per remote endpoint.
 *
 * closed: calls go through; `threshold` consecutive failures (unavailable, deadline exceeded, transport errors)
 * open it. open: calls fail fast until `cooldown_ns` has passed; then half-open: one call (or one health check)
 * goes through as the probe, the others still fail fast; the probe's success closes the breaker, its failure
 * opens it again for another cool-down. Answers that prove the remote is alive (including its own errors such as
 * INVALID_ARGUMENT) count as successes.
 *
 * Ownership: plain struct, jn_breaker_init / jn_breaker_destroy. Thread-safety: every function takes the lock.
 */
#ifndef JN_REMOTE_BREAKER_H
#define JN_REMOTE_BREAKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum jn_breaker_state { JN_BREAKER_CLOSED, JN_BREAKER_OPEN, JN_BREAKER_HALF_OPEN } jn_breaker_state;

typedef enum jn_breaker_outcome {
    JN_BREAKER_SUCCESS, /* the remote answered */
    JN_BREAKER_FAILURE, /* it did not (counts towards opening) */
    JN_BREAKER_NEUTRAL, /* the call tells nothing (the caller cancelled): a probe slot is given back */
} jn_breaker_outcome;

typedef struct jn_breaker {
    pthread_mutex_t mu;
    jn_breaker_state state;
    int failures;  /* consecutive */
    int threshold; /* >= 1 */
    int64_t cooldown_ns;
    int64_t opened_at_ns;
    bool probe_out; /* half-open: the probe is running */
    int64_t opened_count;
} jn_breaker;

void jn_breaker_init(jn_breaker *b, int threshold, int64_t cooldown_ns);
void jn_breaker_destroy(jn_breaker *b);

/* May a call go out now? When it is the half-open probe, *probe is set (the caller must report its outcome). */
bool jn_breaker_allow(jn_breaker *b, int64_t now_ns, bool *probe);
/* The outcome of a call that was allowed. */
void jn_breaker_record(jn_breaker *b, int64_t now_ns, jn_breaker_outcome outcome, bool probe);
/* A health check's result: a failure counts like a failed call; a success closes an open breaker whose cool-down
 * has passed (the health check was the probe) and otherwise changes nothing. */
void jn_breaker_health(jn_breaker *b, int64_t now_ns, bool healthy);

jn_breaker_state jn_breaker_get(jn_breaker *b, int64_t *opened_count);
const char *jn_breaker_state_name(jn_breaker_state s);

#endif
