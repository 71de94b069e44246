#include "workpool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "err.h"

typedef struct job {
    jn_job_fn fn;
    void *arg;
    struct job *next;
} job;

struct jn_workpool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *head, *tail;
    size_t pending;
    bool stopping;
    int n_threads;
    pthread_t *threads;
};

static void *worker_main(void *p)
{
    jn_workpool *pool = p;
    for (;;) {
        pthread_mutex_lock(&pool->mu);
        while (!pool->head && !pool->stopping)
            pthread_cond_wait(&pool->cv, &pool->mu);
        job *j = pool->head;
        if (!j) { /* stopping and drained */
            pthread_mutex_unlock(&pool->mu);
            return NULL;
        }
        pool->head = j->next;
        if (!pool->head)
            pool->tail = NULL;
        pool->pending--;
        pthread_mutex_unlock(&pool->mu);
        j->fn(j->arg);
        free(j);
    }
}

jn_workpool *jn_workpool_create(int threads)
{
    if (threads < 1)
        threads = 1;
    jn_workpool *pool = calloc(1, sizeof *pool);
    if (!pool)
        return NULL;
    pool->threads = calloc((size_t)threads, sizeof *pool->threads);
    if (!pool->threads) {
        free(pool);
        return NULL;
    }
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->cv, NULL);
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&pool->threads[i], NULL, worker_main, pool) != 0)
            break;
        pool->n_threads++;
    }
    if (pool->n_threads == 0) {
        jn_workpool_destroy(pool);
        return NULL;
    }
    return pool;
}

int jn_workpool_submit(jn_workpool *pool, jn_job_fn fn, void *arg)
{
    job *j = malloc(sizeof *j);
    if (!j)
        return JN_ENOMEM;
    j->fn = fn;
    j->arg = arg;
    j->next = NULL;
    pthread_mutex_lock(&pool->mu);
    if (pool->stopping) {
        pthread_mutex_unlock(&pool->mu);
        free(j);
        return JN_EUNAVAIL;
    }
    if (pool->tail)
        pool->tail->next = j;
    else
        pool->head = j;
    pool->tail = j;
    pool->pending++;
    pthread_cond_signal(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
    return 0;
}

size_t jn_workpool_pending(jn_workpool *pool)
{
    pthread_mutex_lock(&pool->mu);
    size_t n = pool->pending;
    pthread_mutex_unlock(&pool->mu);
    return n;
}

void jn_workpool_destroy(jn_workpool *pool)
{
    if (!pool)
        return;
    pthread_mutex_lock(&pool->mu);
    pool->stopping = true;
    pthread_cond_broadcast(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 0; i < pool->n_threads; i++)
        pthread_join(pool->threads[i], NULL);
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->cv);
    free(pool->threads);
    free(pool);
}
