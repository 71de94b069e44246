#include "breaker.h"

void jn_breaker_init(jn_breaker *b, int threshold, int64_t cooldown_ns)
{
    pthread_mutex_init(&b->mu, NULL);
    b->state = JN_BREAKER_CLOSED;
    b->failures = 0;
    b->threshold = threshold < 1 ? 1 : threshold;
    b->cooldown_ns = cooldown_ns < 0 ? 0 : cooldown_ns;
    b->opened_at_ns = 0;
    b->probe_out = false;
    b->opened_count = 0;
}

void jn_breaker_destroy(jn_breaker *b)
{
    pthread_mutex_destroy(&b->mu);
}

/* Caller holds mu. */
static void trip(jn_breaker *b, int64_t now_ns)
{
    if (b->state != JN_BREAKER_OPEN)
        b->opened_count++;
    b->state = JN_BREAKER_OPEN;
    b->opened_at_ns = now_ns;
    b->probe_out = false;
}

static void close_breaker(jn_breaker *b)
{
    b->state = JN_BREAKER_CLOSED;
    b->failures = 0;
    b->probe_out = false;
}

bool jn_breaker_allow(jn_breaker *b, int64_t now_ns, bool *probe)
{
    *probe = false;
    pthread_mutex_lock(&b->mu);
    bool ok = true;
    if (b->state == JN_BREAKER_OPEN && now_ns - b->opened_at_ns >= b->cooldown_ns)
        b->state = JN_BREAKER_HALF_OPEN;
    if (b->state == JN_BREAKER_OPEN) {
        ok = false;
    } else if (b->state == JN_BREAKER_HALF_OPEN) {
        ok = !b->probe_out;
        if (ok)
            b->probe_out = *probe = true;
    }
    pthread_mutex_unlock(&b->mu);
    return ok;
}

void jn_breaker_record(jn_breaker *b, int64_t now_ns, jn_breaker_outcome outcome, bool probe)
{
    pthread_mutex_lock(&b->mu);
    switch (outcome) {
    case JN_BREAKER_SUCCESS:
        if (probe || b->state == JN_BREAKER_CLOSED)
            close_breaker(b);
        break;
    case JN_BREAKER_FAILURE:
        if (probe || b->state == JN_BREAKER_HALF_OPEN)
            trip(b, now_ns);
        else if (b->state == JN_BREAKER_CLOSED && ++b->failures >= b->threshold)
            trip(b, now_ns);
        break;
    case JN_BREAKER_NEUTRAL:
        if (probe)
            b->probe_out = false;
        break;
    }
    pthread_mutex_unlock(&b->mu);
}

void jn_breaker_health(jn_breaker *b, int64_t now_ns, bool healthy)
{
    pthread_mutex_lock(&b->mu);
    if (!healthy) {
        if (b->state == JN_BREAKER_CLOSED) {
            if (++b->failures >= b->threshold)
                trip(b, now_ns);
        } else if (!b->probe_out) {
            trip(b, now_ns); /* still down: another cool-down */
        }
    } else if (b->state != JN_BREAKER_CLOSED && !b->probe_out && now_ns - b->opened_at_ns >= b->cooldown_ns) {
        close_breaker(b);
    }
    pthread_mutex_unlock(&b->mu);
}

jn_breaker_state jn_breaker_get(jn_breaker *b, int64_t *opened_count)
{
    pthread_mutex_lock(&b->mu);
    jn_breaker_state s = b->state;
    if (opened_count)
        *opened_count = b->opened_count;
    pthread_mutex_unlock(&b->mu);
    return s;
}

const char *jn_breaker_state_name(jn_breaker_state s)
{
    switch (s) {
    case JN_BREAKER_CLOSED:
        return "closed";
    case JN_BREAKER_OPEN:
        return "open";
    default:
        return "half_open";
    }
}
