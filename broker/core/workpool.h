/* workpool.h — a fixed pool of worker threads running submitted jobs in FIFO order. Heavy engines run here so
 * the gRPC pump threads never block.
 *
 * Ownership: `arg` belongs to the job; the pool never touches it. jn_workpool_destroy runs every job already
 * submitted, then joins the threads.
 * Thread-safety: submit may be called from any thread, also from inside a job.
 */
#ifndef JN_WORKPOOL_H
#define JN_WORKPOOL_H

#include <stddef.h>

typedef struct jn_workpool jn_workpool;
typedef void (*jn_job_fn)(void *arg);

/* threads >= 1. NULL on failure. */
jn_workpool *jn_workpool_create(int threads);
/* 0, or JN_ENOMEM / JN_EUNAVAIL (the pool is shutting down) — the job was then not queued. */
int jn_workpool_submit(jn_workpool *pool, jn_job_fn fn, void *arg);
/* Jobs queued and not yet started. */
size_t jn_workpool_pending(jn_workpool *pool);
void jn_workpool_destroy(jn_workpool *pool);

#endif
