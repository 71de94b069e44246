/* tsan.h — happens-before edges ThreadSanitizer cannot see by itself. gRPC as Debian ships it is not built with
 * ThreadSanitizer, so the order a completion queue gives (a batch started on one thread, its tag taken out of the
 * queue on another) is invisible to it, and everything freed after a completion looked like a race with what was
 * done before the batch started. Whoever starts a batch (or requests a call) releases its tag first; the pump that
 * takes the tag out acquires it. Nothing in other builds.
 */
#ifndef JN_TSAN_H
#define JN_TSAN_H

#if defined(__SANITIZE_THREAD__)
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define JN_TSAN_RELEASE(tag) __tsan_release((void *)(tag))
#define JN_TSAN_ACQUIRE(tag) __tsan_acquire((void *)(tag))
#else
#define JN_TSAN_RELEASE(tag) ((void)0)
#define JN_TSAN_ACQUIRE(tag) ((void)0)
#endif

#endif
