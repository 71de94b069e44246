/* perf_load.c — `junction perf`'s worker threads (perf.h): each keeps its share of the outstanding requests on a
 * connection of its own (closed loop: a finished request is replaced at once), or sends its share of the request
 * rate on a schedule (open loop: constant or Poisson intervals; a request's latency counts from its scheduled send
 * time, so a server or a generator that falls behind shows in the latency instead of hiding in a slower schedule).
 *
 * Each worker appends what finished to its own record under its own mutex; the main thread swaps the records out at
 * each window boundary (jn__perf_load_cut), so the workers never wait for each other.
 */
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "perf.h"

/* Open loop: most requests one worker keeps outstanding before its schedule slips (their latency then grows). */
#define RATE_SLOTS_PER_WORKER 256
/* The longest a worker waits for the transport before looking at the stop flag again. */
#define WAIT_SLICE_NS (20 * 1000 * 1000LL)
/* Open loop: the transports' waits are only as precise as a millisecond (gRPC's timers, curl_multi_poll), so the
 * last stretch before a scheduled send is polled in short sleeps instead. */
#define PRECISE_NS (2 * 1000 * 1000LL)
#define POLL_SLEEP_NS (20 * 1000L)

typedef struct perf_record {
    uint64_t *lat;
    size_t n_ok, cap, n_err;
    char first_err[PERF_MSG];
} perf_record;

typedef struct perf_worker {
    perf_load *load;
    int id;
    pthread_t thread;
    bool started;
    perf_conn *conn;
    int slots;       /* closed loop: its share of the concurrency; open loop: RATE_SLOTS_PER_WORKER */
    double rate;     /* open loop: its share of the requests/s */
    int64_t *t_send; /* per slot: the start of its latency */
    int *free_slots; /* stack of idle slots */
    int n_free;
    size_t next_entry;
    uint64_t rng;
    pthread_mutex_t mu;
    perf_record rec; /* under mu */
    char open_err[PERF_MSG];
} perf_worker;

struct perf_load {
    perf_ctx *ctx;
    atomic_bool stop;
    int n_workers;
    perf_worker *w;
    int64_t window_start;
};

int64_t jn__perf_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    /* Half the cores: the server under test is often on the same machine. */
    return n >= 4 ? (int)(n / 2) : 1;
}

/* One line: an HTTP error body may be a whole HTML page. */
static void one_line(char *to, size_t cap, const char *from)
{
    size_t n = 0;
    bool space = false;
    for (const char *p = from; *p && n + 1 < cap; p++) {
        if ((unsigned char)*p <= ' ') {
            space = n > 0;
            continue;
        }
        if (space && n + 2 < cap)
            to[n++] = ' ';
        space = false;
        to[n++] = *p;
    }
    to[n] = '\0';
}

static void record_error(perf_worker *w, const char *err)
{
    pthread_mutex_lock(&w->mu);
    if (w->rec.n_err++ == 0)
        one_line(w->rec.first_err, sizeof w->rec.first_err, err && *err ? err : "unknown error");
    pthread_mutex_unlock(&w->mu);
}

static void on_done(void *worker, int slot, bool ok, const char *err)
{
    perf_worker *w = worker;
    int64_t lat = jn__perf_now_ns() - w->t_send[slot];
    w->free_slots[w->n_free++] = slot;
    if (!ok) {
        record_error(w, err);
        return;
    }
    pthread_mutex_lock(&w->mu);
    if (w->rec.n_ok == w->rec.cap) {
        size_t cap = w->rec.cap ? w->rec.cap * 2 : 4096;
        uint64_t *p = realloc(w->rec.lat, cap * sizeof *p);
        if (!p) {
            pthread_mutex_unlock(&w->mu);
            return; /* out of memory: the sample is dropped, the run goes on */
        }
        w->rec.lat = p;
        w->rec.cap = cap;
    }
    w->rec.lat[w->rec.n_ok++] = (uint64_t)(lat > 0 ? lat : 0);
    pthread_mutex_unlock(&w->mu);
}

/* Starts one request on a free slot, its latency counted from t_send. */
static void send_one(perf_worker *w, int64_t t_send)
{
    perf_ctx *ctx = w->load->ctx;
    int slot = w->free_slots[--w->n_free];
    w->t_send[slot] = t_send;
    size_t entry = w->next_entry++ % ctx->data->n_entries;
    char msg[PERF_MSG];
    if (ctx->tp->conn_start(w->conn, slot, entry, msg, sizeof msg) != 0) {
        w->free_slots[w->n_free++] = slot;
        record_error(w, msg);
    }
}

/* xorshift64*: uniform in (0, 1]. */
static double uniform01(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return ((double)((*s * 0x2545F4914F6CDD1DULL) >> 11) + 1.0) / 9007199254740993.0;
}

static int64_t next_gap_ns(perf_worker *w)
{
    double mean = 1e9 / w->rate;
    if (w->load->ctx->o->dist == PERF_POISSON)
        return (int64_t)(-log(uniform01(&w->rng)) * mean);
    return (int64_t)mean;
}

static void *worker_main(void *arg)
{
    perf_worker *w = arg;
    perf_load *l = w->load;
    const perf_transport *tp = l->ctx->tp;
    bool closed = l->ctx->o->mode == PERF_CONCURRENCY;
    int64_t next = jn__perf_now_ns();
    if (!closed)
        next += (int64_t)(uniform01(&w->rng) * 1e9 / w->rate); /* spread the workers' first sends */
    while (!atomic_load_explicit(&l->stop, memory_order_relaxed)) {
        int64_t now = jn__perf_now_ns();
        int64_t until = now + WAIT_SLICE_NS;
        if (closed) {
            /* Each idle slot once: a start that fails gives its slot back, and the next try waits for conn_wait. */
            for (int k = w->n_free; k > 0 && w->n_free > 0; k--)
                send_one(w, jn__perf_now_ns());
        } else {
            while (next <= now && w->n_free > 0) {
                send_one(w, next);
                next += next_gap_ns(w);
            }
            if (w->n_free > 0 && next - PRECISE_NS < until) {
                if (next - now <= PRECISE_NS) {
                    tp->conn_wait(w->conn, now, on_done, w); /* only what has finished */
                    struct timespec ts = {.tv_sec = 0, .tv_nsec = POLL_SLEEP_NS};
                    nanosleep(&ts, NULL);
                    continue;
                }
                until = next - PRECISE_NS;
            }
        }
        tp->conn_wait(w->conn, until, on_done, w);
    }
    return NULL;
}

static void free_worker(perf_worker *w)
{
    if (w->conn)
        w->load->ctx->tp->conn_close(w->conn);
    free(w->t_send);
    free(w->free_slots);
    free(w->rec.lat);
    pthread_mutex_destroy(&w->mu);
}

perf_load *jn__perf_load_start(perf_ctx *ctx, double level, char *msg, size_t cap)
{
    const perf_opts *o = ctx->o;
    perf_load *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(msg, cap, "out of memory");
        return NULL;
    }
    l->ctx = ctx;
    atomic_init(&l->stop, false);
    int threads = o->threads > 0 ? o->threads : default_threads();
    if (o->mode == PERF_CONCURRENCY) {
        int n = (int)level;
        l->n_workers = n < threads ? n : threads;
    } else {
        l->n_workers = threads;
    }
    if (l->n_workers < 1)
        l->n_workers = 1;
    l->w = calloc((size_t)l->n_workers, sizeof *l->w);
    if (!l->w) {
        free(l);
        snprintf(msg, cap, "out of memory");
        return NULL;
    }
    int bad = 0;
    for (int i = 0; i < l->n_workers && !bad; i++) {
        perf_worker *w = &l->w[i];
        w->load = l;
        w->id = i;
        pthread_mutex_init(&w->mu, NULL);
        w->rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1) ^ (uint64_t)jn__perf_now_ns();
        w->next_entry = (size_t)i;
        if (o->mode == PERF_CONCURRENCY) {
            int n = (int)level;
            w->slots = n / l->n_workers + (i < n % l->n_workers ? 1 : 0);
        } else {
            w->slots = RATE_SLOTS_PER_WORKER;
            w->rate = level / l->n_workers;
        }
        w->t_send = calloc((size_t)w->slots, sizeof *w->t_send);
        w->free_slots = calloc((size_t)w->slots, sizeof *w->free_slots);
        if (!w->t_send || !w->free_slots) {
            snprintf(msg, cap, "out of memory");
            bad = 1;
            break;
        }
        for (int s = 0; s < w->slots; s++)
            w->free_slots[w->n_free++] = w->slots - 1 - s;
        w->conn = ctx->tp->conn_open(ctx, w->slots, msg, cap);
        if (!w->conn)
            bad = 1;
    }
    l->window_start = jn__perf_now_ns();
    for (int i = 0; i < l->n_workers && !bad; i++) {
        int e = pthread_create(&l->w[i].thread, NULL, worker_main, &l->w[i]);
        if (e) {
            snprintf(msg, cap, "cannot start a worker thread: %s", strerror(e));
            bad = 1;
        } else {
            l->w[i].started = true;
        }
    }
    if (bad) {
        jn__perf_load_stop(l);
        return NULL;
    }
    return l;
}

void jn__perf_load_cut(perf_load *l, perf_window *win)
{
    memset(win, 0, sizeof *win);
    win->t0 = l->window_start;
    win->t1 = jn__perf_now_ns();
    l->window_start = win->t1;
    perf_record recs[l->n_workers];
    size_t total = 0;
    for (int i = 0; i < l->n_workers; i++) {
        perf_worker *w = &l->w[i];
        pthread_mutex_lock(&w->mu);
        recs[i] = w->rec;
        memset(&w->rec, 0, sizeof w->rec);
        pthread_mutex_unlock(&w->mu);
        total += recs[i].n_ok;
    }
    win->lat_ns = malloc((total ? total : 1) * sizeof *win->lat_ns);
    for (int i = 0; i < l->n_workers; i++) {
        if (win->lat_ns && recs[i].n_ok) {
            memcpy(win->lat_ns + win->n_ok, recs[i].lat, recs[i].n_ok * sizeof *recs[i].lat);
            win->n_ok += recs[i].n_ok;
        }
        if (recs[i].n_err && win->n_err == 0)
            snprintf(win->first_err, sizeof win->first_err, "%s", recs[i].first_err);
        win->n_err += recs[i].n_err;
        free(recs[i].lat);
    }
}

void jn__perf_load_stop(perf_load *l)
{
    if (!l)
        return;
    atomic_store(&l->stop, true);
    for (int i = 0; i < l->n_workers; i++)
        if (l->w[i].started)
            pthread_join(l->w[i].thread, NULL);
    for (int i = 0; i < l->n_workers; i++)
        if (l->w[i].load)
            free_worker(&l->w[i]);
    free(l->w);
    free(l);
}
