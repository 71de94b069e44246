/* endpoint_mux_threads.c — the multiplexer's two threads (issue #24; the design is in endpoint_mux.c's header): the
 * one that drains the multiplexer's own completion queue (the streams of blocking callers; it polls only once a
 * blocking caller used the queue: an idle poller would take gRPC's polling role from the pumps), and
 * the watcher, which looks at every message in flight every TICK_BUSY_NS and at the earliest deadline among them:
 * past its deadline a message ends DEADLINE_EXCEEDED, a caller that cancelled ends CANCELLED, and a native remote is
 * sent a cancel message for it; a message that expired with nothing heard on its stream makes the stream suspect (a
 * probe goes out; nothing back within PROBE_TIMEOUT_NS = half-open: the stream is cancelled). Both start on first use
 * (jn__mux_queue) and stop in jn_remote_mux_shutdown.
 *
 * Ownership: the queue and both threads are this file's, from their start until jn_remote_mux_shutdown (which waits
 * up to 5 s for the streams on the queue to be freed, then joins both threads and destroys the queue). The calls the
 * watcher takes out of the tables are delivered by it, outside the lock.
 * Thread-safety: this file's state is guarded by jn__mux_mu (the shared lock of endpoint_mux_internal.h), but for the
 * queue published once its threads run (g_cq_fast, atomic). jn__mux_queue and
 * jn__mux_queue_used may be called from any thread; jn_remote_mux_shutdown from one thread, once the callers stopped.
 */
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "endpoint.h"
#include "remotes.h"
#include "endpoint_internal.h"
#include "endpoint_mux_internal.h"
#include "engine.h"
#include "tsan.h"

/* How often the multiplexer's thread looks at cancellations while messages are out (and when not); it also wakes at
 * the earliest deadline of a message in flight. */
#define TICK_BUSY_NS (10 * 1000000LL)
#define TICK_IDLE_NS (50 * 1000000LL)
/* A message that expired counts as a sign of a half-open stream only if it waited at least this long. */
#define HALF_OPEN_MIN_NS (100 * 1000000LL)
/* How long a suspect stream has to answer anything after its probe went out. */
#define PROBE_TIMEOUT_NS (500 * 1000000LL)

/* The multiplexer's thread and queue (started on first use, stopped by jn_remote_mux_shutdown). */
static grpc_completion_queue *g_cq;
static pthread_t g_thread, g_watch;
static bool g_thread_running, g_watch_stop;
/* The multiplexer's thread polls its queue only once a blocking caller used it (g_used_cv): an idle poller would take
 * the polling role from the pumps and hand every socket event over to them (a futex wake per event). */
static atomic_bool g_cq_used; /* written under jn__mux_mu; read without it by jn__mux_queue_used */
static pthread_cond_t g_used_cv = PTHREAD_COND_INITIALIZER;
static _Atomic(grpc_completion_queue *) g_cq_fast; /* g_cq once both threads run; NULL before and after */
static pthread_cond_t g_watch_cv; /* on CLOCK_MONOTONIC (jn__mux_queue) */

/* ---- deadlines, cancellations, half-open streams (the multiplexer's thread) ---- */

static jn_endpoint_call *scan_locked(int64_t now, int64_t *earliest)
{
    jn_endpoint_call *ended = NULL;
    for (jn_mux_stream *s = jn__mux_streams; s; s = s->next) {
        if (!s->n_table)
            continue;
        bool half_open = false;
        for (int b = 0; b < MUX_BUCKETS; b++) {
            jn_endpoint_call *c = s->table[b];
            while (c) {
                jn_endpoint_call *next = c->mux_next;
                bool expired = now >= c->deadline_ns;
                bool cancelled = c->cancelled && atomic_load(c->cancelled);
                if (expired || cancelled) {
                    jn__mux_table_remove_locked(s, c);
                    if (cancelled)
                        jn_call_status_set(&c->mux_st, GRPC_STATUS_CANCELLED, "the call was cancelled");
                    else
                        jn_call_status_set(&c->mux_st, GRPC_STATUS_DEADLINE_EXCEEDED,
                                           "deadline exceeded waiting for the answer from endpoint %s",
                                           c->ep->target);
                    if (expired && s->last_recv_ns < c->sent_ns && now - c->sent_ns >= HALF_OPEN_MIN_NS)
                        half_open = true;
                    if (s->method == JN_RM_ENGINE_INFER_STREAM) { /* the remote stops working on it */
                        char id[96];
                        jn__mux_format_id(c, id, sizeof id);
                        jn__mux_send_locked(s, jn__mux_cancel_message(id));
                    }
                    c->next_waiting = ended;
                    ended = c;
                } else if (c->deadline_ns < *earliest) {
                    *earliest = c->deadline_ns;
                }
                c = next;
            }
        }
        if (half_open && !s->probe_sent_ns && !s->broken) { /* nothing came back while it waited: probe */
            s->probe_sent_ns = now;
            jn__mux_send_locked(s, jn__mux_probe_message(s->method));
        }
    }
    for (jn_mux_stream *s = jn__mux_streams; s; s = s->next) {
        if (!s->probe_sent_ns || s->broken)
            continue;
        if (s->last_recv_ns >= s->probe_sent_ns)
            s->probe_sent_ns = 0; /* alive */
        else if (now - s->probe_sent_ns >= PROBE_TIMEOUT_NS)
            grpc_call_cancel_with_status(s->call, GRPC_STATUS_UNAVAILABLE,
                                         "no answer on the stream, not even to a probe (the remote may be stopped)",
                                         NULL);
    }
    return ended;
}

/* Drains the multiplexer's own queue (blocking callers' streams). */
static void *mux_thread(void *arg)
{
    grpc_completion_queue *cq = arg;
    pthread_mutex_lock(&jn__mux_mu);
    while (!g_cq_used)
        pthread_cond_wait(&g_used_cv, &jn__mux_mu);
    pthread_mutex_unlock(&jn__mux_mu);
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            return NULL;
        if (ev.type == GRPC_OP_COMPLETE) {
            jn_host_tag *t = ev.tag;
            JN_TSAN_ACQUIRE(t);
            t->fn(t, ev.success != 0);
        }
    }
}

/* Watches deadlines, cancellations and probes every TICK (a plain timed wait: a completion queue's deadline is not
 * kept to the millisecond by a thread that is not the poller). */
static void *watch_thread(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&jn__mux_mu);
    int64_t earliest = INT64_MAX; /* the earliest deadline left by the last scan */
    while (!g_watch_stop) {
        int64_t tick = jn__mux_inflight ? TICK_BUSY_NS : TICK_IDLE_NS;
        int64_t now = jn_now_ns();
        if (earliest != INT64_MAX && earliest - now < tick)
            tick = earliest > now ? earliest - now : 0;
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += (long)tick;
        while (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&g_watch_cv, &jn__mux_mu, &until);
        if (g_watch_stop)
            break;
        earliest = INT64_MAX;
        jn_endpoint_call *ended = jn__mux_streams ? scan_locked(jn_now_ns(), &earliest) : NULL;
        pthread_mutex_unlock(&jn__mux_mu);
        jn__mux_deliver_all(ended);
        pthread_mutex_lock(&jn__mux_mu);
    }
    pthread_mutex_unlock(&jn__mux_mu);
    return NULL;
}

/* The multiplexer's queue, its thread started on first use. NULL if the thread cannot start. */
grpc_completion_queue *jn__mux_queue(void)
{
    grpc_completion_queue *fast = atomic_load_explicit(&g_cq_fast, memory_order_acquire);
    if (fast)
        return fast;
    pthread_mutex_lock(&jn__mux_mu);
    if (!g_thread_running) {
        static bool cv_made;
        if (!cv_made) {
            pthread_condattr_t ca;
            pthread_condattr_init(&ca);
            pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
            pthread_cond_init(&g_watch_cv, &ca);
            pthread_condattr_destroy(&ca);
            cv_made = true;
        }
        /* A polling queue: calls on a non-polling one abort in gRPC while their channel connects
         * (polling_entity.cc: "pollent->pollent.pollset != nullptr", seen when a remote restarts). */
        g_cq = grpc_completion_queue_create_for_next(NULL);
        g_cq_used = false;
        g_watch_stop = false;
        if (pthread_create(&g_thread, NULL, mux_thread, g_cq) == 0) {
            if (pthread_create(&g_watch, NULL, watch_thread, NULL) == 0) {
                g_thread_running = true;
                atomic_store_explicit(&g_cq_fast, g_cq, memory_order_release);
            } else {
                grpc_completion_queue_shutdown(g_cq);
                g_cq_used = true; /* let the thread see the shutdown */
                pthread_cond_broadcast(&g_used_cv);
                pthread_mutex_unlock(&jn__mux_mu);
                pthread_join(g_thread, NULL);
                pthread_mutex_lock(&jn__mux_mu);
            }
        }
        if (!g_thread_running) {
            grpc_completion_queue_destroy(g_cq);
            g_cq = NULL;
        }
    }
    grpc_completion_queue *cq = g_cq;
    pthread_mutex_unlock(&jn__mux_mu);
    return cq;
}

/* A blocking caller is about to use cq: the multiplexer's thread starts polling its queue (g_used_cv). */
void jn__mux_queue_used(grpc_completion_queue *cq)
{
    if (atomic_load(&g_cq_used)) /* once used, every blocking call after it takes no lock here */
        return;
    pthread_mutex_lock(&jn__mux_mu);
    if (!g_cq_used && cq == g_cq) {
        g_cq_used = true;
        pthread_cond_broadcast(&g_used_cv);
    }
    pthread_mutex_unlock(&jn__mux_mu);
}

void jn_remote_mux_shutdown(void)
{
    pthread_mutex_lock(&jn__mux_mu);
    if (!g_thread_running) {
        pthread_mutex_unlock(&jn__mux_mu);
        return;
    }
    for (jn_mux_stream *s = jn__mux_streams; s; s = s->next)
        if (s->cq == g_cq)
            grpc_call_cancel(s->call, NULL);
    /* the thread frees them as their batches complete; a pump's streams are the server's to end */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    for (;;) {
        bool mine = false;
        for (jn_mux_stream *s = jn__mux_streams; s; s = s->next)
            mine = mine || s->cq == g_cq;
        if (!mine || pthread_cond_timedwait(&jn__mux_freed_cv, &jn__mux_mu, &until) != 0)
            break;
    }
    grpc_completion_queue *cq = g_cq;
    g_thread_running = false;
    atomic_store_explicit(&g_cq_fast, NULL, memory_order_release);
    g_cq = NULL;
    g_cq_used = true; /* a thread still waiting to poll sees the shutdown instead */
    pthread_cond_broadcast(&g_used_cv);
    g_watch_stop = true;
    pthread_cond_broadcast(&g_watch_cv);
    pthread_mutex_unlock(&jn__mux_mu);
    pthread_join(g_watch, NULL);
    grpc_completion_queue_shutdown(cq);
    pthread_join(g_thread, NULL);
    grpc_completion_queue_destroy(cq);
}
