/* Unit tests for broker/core/workpool.c: every job runs, destroy drains the queue, jobs may submit jobs. */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "err.h"
#include "test.h"
#include "workpool.h"

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits up to ~5 s for *v to reach want; returns whether it did. */
static int wait_for(atomic_int *v, int want)
{
    for (int i = 0; i < 5000 && atomic_load(v) < want; i++)
        sleep_ms(1);
    return atomic_load(v) >= want;
}

static void count_job(void *arg)
{
    atomic_fetch_add((atomic_int *)arg, 1);
}

static void test_all_jobs_run(void)
{
    enum { N = 2000 };
    atomic_int ran = 0;
    jn_workpool *pool = jn_workpool_create(4);
    JN_REQUIRE(pool);
    for (int i = 0; i < N; i++)
        JN_CHECK_INT_EQ(jn_workpool_submit(pool, count_job, &ran), 0);
    JN_CHECK(wait_for(&ran, N));
    JN_CHECK_INT_EQ(jn_workpool_pending(pool), 0);
    jn_workpool_destroy(pool);
    JN_CHECK_INT_EQ(atomic_load(&ran), N);

    /* threads < 1 is taken as 1. */
    pool = jn_workpool_create(0);
    JN_REQUIRE(pool);
    JN_CHECK_INT_EQ(jn_workpool_submit(pool, count_job, &ran), 0);
    jn_workpool_destroy(pool);
    JN_CHECK_INT_EQ(atomic_load(&ran), N + 1);
    jn_workpool_destroy(NULL);
}

/* One worker: a blocker job holds it while more jobs queue up behind. */
typedef struct ordered {
    atomic_int started;
    atomic_int release;
    int order[64];
    atomic_int n;
} ordered;

typedef struct ordered_job {
    ordered *o;
    int id;
} ordered_job;

static void blocker_job(void *arg)
{
    ordered *o = arg;
    atomic_store(&o->started, 1);
    while (!atomic_load(&o->release))
        sleep_ms(1);
}

static void record_job(void *arg)
{
    ordered_job *j = arg;
    j->o->order[atomic_fetch_add(&j->o->n, 1)] = j->id;
}

typedef struct releaser {
    ordered *o;
    int after_ms;
} releaser;

static void *release_later(void *arg)
{
    releaser *r = arg;
    sleep_ms(r->after_ms);
    atomic_store(&r->o->release, 1);
    return NULL;
}

static void test_destroy_drains_queue_in_order(void)
{
    enum { N = 50 };
    ordered o;
    atomic_init(&o.started, 0);
    atomic_init(&o.release, 0);
    atomic_init(&o.n, 0);
    ordered_job jobs[N];
    jn_workpool *pool = jn_workpool_create(1);
    JN_REQUIRE(pool);
    JN_CHECK_INT_EQ(jn_workpool_submit(pool, blocker_job, &o), 0);
    JN_REQUIRE(wait_for(&o.started, 1));
    for (int i = 0; i < N; i++) {
        jobs[i].o = &o;
        jobs[i].id = i;
        JN_CHECK_INT_EQ(jn_workpool_submit(pool, record_job, &jobs[i]), 0);
    }
    JN_CHECK_INT_EQ(jn_workpool_pending(pool), N); /* all queued, none started */
    JN_CHECK_INT_EQ(atomic_load(&o.n), 0);

    /* Destroy while they are queued: the blocker is released from another thread while destroy waits. */
    releaser r = {&o, 20};
    pthread_t th;
    JN_REQUIRE(pthread_create(&th, NULL, release_later, &r) == 0);
    jn_workpool_destroy(pool);
    pthread_join(th, NULL);

    JN_CHECK_INT_EQ(atomic_load(&o.n), N);
    for (int i = 0; i < N; i++)
        JN_CHECK_INT_EQ(o.order[i], i); /* FIFO */
}

/* Jobs that submit jobs: a chain of depth `left`, each link counting one. */
typedef struct chain {
    jn_workpool *pool;
    atomic_int ran;
    atomic_int failed_submits;
    atomic_int left;
} chain;

static void chain_job(void *arg)
{
    chain *c = arg;
    atomic_fetch_add(&c->ran, 1);
    if (atomic_fetch_sub(&c->left, 1) > 1 && jn_workpool_submit(c->pool, chain_job, c) != 0)
        atomic_fetch_add(&c->failed_submits, 1);
}

/* Fans out: each job submits two children until depth 0. */
typedef struct fan {
    jn_workpool *pool;
    atomic_int ran;
    atomic_int failed_submits;
} fan;

typedef struct fan_job {
    fan *f;
    int depth;
} fan_job;

static void fan_main(void *arg)
{
    fan_job *j = arg;
    fan *f = j->f;
    atomic_fetch_add(&f->ran, 1);
    for (int k = 0; j->depth > 0 && k < 2; k++) {
        fan_job *child = malloc(sizeof *child);
        if (!child) {
            atomic_fetch_add(&f->failed_submits, 1);
            continue;
        }
        child->f = f;
        child->depth = j->depth - 1;
        if (jn_workpool_submit(f->pool, fan_main, child) != 0) {
            atomic_fetch_add(&f->failed_submits, 1);
            free(child);
        }
    }
    free(j);
}

static void test_submit_from_job(void)
{
    /* A chain on one worker: each job queues the next. */
    chain c;
    c.pool = jn_workpool_create(1);
    JN_REQUIRE(c.pool);
    atomic_init(&c.ran, 0);
    atomic_init(&c.failed_submits, 0);
    atomic_init(&c.left, 100);
    JN_CHECK_INT_EQ(jn_workpool_submit(c.pool, chain_job, &c), 0);
    JN_CHECK(wait_for(&c.ran, 100));
    jn_workpool_destroy(c.pool);
    JN_CHECK_INT_EQ(atomic_load(&c.ran), 100);
    JN_CHECK_INT_EQ(atomic_load(&c.failed_submits), 0);

    /* A binary tree on several workers: 2^9 - 1 jobs. */
    fan f;
    f.pool = jn_workpool_create(4);
    JN_REQUIRE(f.pool);
    atomic_init(&f.ran, 0);
    atomic_init(&f.failed_submits, 0);
    fan_job *root = malloc(sizeof *root);
    JN_REQUIRE(root);
    root->f = &f;
    root->depth = 8;
    JN_CHECK_INT_EQ(jn_workpool_submit(f.pool, fan_main, root), 0);
    JN_CHECK(wait_for(&f.ran, 511));
    jn_workpool_destroy(f.pool);
    JN_CHECK_INT_EQ(atomic_load(&f.ran), 511);
    JN_CHECK_INT_EQ(atomic_load(&f.failed_submits), 0);
}

/* During destroy a job keeps submitting until the pool refuses: what was accepted still runs, then
 * JN_EUNAVAIL. */
typedef struct late {
    jn_workpool *pool;
    atomic_int destroying;
    atomic_int accepted;
    atomic_int ran;
    atomic_int refused_with;
} late;

static void late_count(void *arg)
{
    atomic_fetch_add(&((late *)arg)->ran, 1);
}

static void late_submitter(void *arg)
{
    late *l = arg;
    while (!atomic_load(&l->destroying))
        sleep_ms(1);
    for (int i = 0; i < 5000; i++) {
        int rc = jn_workpool_submit(l->pool, late_count, l);
        if (rc) {
            atomic_store(&l->refused_with, rc);
            return;
        }
        atomic_fetch_add(&l->accepted, 1);
        sleep_ms(1);
    }
}

static void *destroy_later(void *arg)
{
    late *l = arg;
    atomic_store(&l->destroying, 1);
    jn_workpool_destroy(l->pool);
    return NULL;
}

static void test_submit_during_destroy(void)
{
    late l;
    l.pool = jn_workpool_create(2);
    JN_REQUIRE(l.pool);
    atomic_init(&l.destroying, 0);
    atomic_init(&l.accepted, 0);
    atomic_init(&l.ran, 0);
    atomic_init(&l.refused_with, 0);
    JN_CHECK_INT_EQ(jn_workpool_submit(l.pool, late_submitter, &l), 0);
    pthread_t th;
    JN_REQUIRE(pthread_create(&th, NULL, destroy_later, &l) == 0);
    pthread_join(th, NULL);
    JN_CHECK_INT_EQ(atomic_load(&l.refused_with), JN_EUNAVAIL);
    JN_CHECK_INT_EQ(atomic_load(&l.ran), atomic_load(&l.accepted));
}

int main(void)
{
    JN_TEST_RUN(test_all_jobs_run);
    JN_TEST_RUN(test_destroy_drains_queue_in_order);
    JN_TEST_RUN(test_submit_from_job);
    JN_TEST_RUN(test_submit_during_destroy);
    return JN_TEST_EXIT();
}
