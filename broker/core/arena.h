/* arena.h — allocations recorded in one place and released together (model writers: engines/train/onnx_export.c,
 * engines/quantize/quant_write.c). Everything handed out is zeroed; a failed allocation is sticky (`oom`), so the
 * building code can stay straight-line and check once at the end.
 *
 * Ownership: the arena owns every block it returns until jn_arena_free. Thread-safety: none; one thread per arena.
 */
#ifndef JN_CORE_ARENA_H
#define JN_CORE_ARENA_H

#include <stdbool.h>
#include <stddef.h>

typedef struct jn_arena {
    void **p;
    size_t n, cap;
    bool oom; /* an allocation failed (or jn_arena_strdup was given NULL from an earlier failure) */
} jn_arena; /* zero-initialised = empty */

void *jn_arena_alloc(jn_arena *a, size_t size); /* zeroed; NULL (and oom) on failure or after one */
char *jn_arena_strdup(jn_arena *a, const char *s); /* NULL s sets oom: it comes from an earlier failure */
char *jn_arena_printf(jn_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void jn_arena_free(jn_arena *a); /* every block; the arena is empty again */

#endif
