/* response_cache.h — the server's response cache (issue #16; `--cache-mb N`, a model's "response_cache": true).
 *
 * A repeated request to a model whose answers depend only on the request is answered from here without running the
 * model. The key is the registry entry (its serial: a model replaced under the same name, or reloaded, never
 * answers from its predecessor's entries), the model's name and version, the requested outputs, the parameters
 * that reach the engine (all but `priority` and `timeout`), and every input's name, dtype, shape and bytes, inputs
 * in name order. zlib's crc32 of the key finds the bucket; a full comparison of the key confirms the entry, so a hash
 * collision can never return another request's answer. Entries hold a copy of the outputs (not the request's
 * buffers); a hit hands out tensors sharing those copies (no copy). Least recently used entries go first when the
 * bytes held (keys + outputs + bookkeeping) would pass the bound; an answer larger than the whole bound is not kept.
 *
 * Ownership: the cache is the server's (created by serve, borrowed by the dispatchers through jn_dispatch_limits).
 * A key is its caller's (jn_cache_key_clear); jn_response_cache_put copies what it keeps. Tensors handed out by get
 * are the caller's and keep the entry's buffers alive after the entry is evicted.
 * Thread-safety: every function may be called from any thread (one mutex around the table; the hashing and the
 * key building happen outside it).
 */
#ifndef JN_RESPONSE_CACHE_H
#define JN_RESPONSE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "request.h"
#include "tensor.h"

typedef struct jn_response_cache jn_response_cache;

typedef struct jn_cache_key {
    uint8_t *bytes; /* malloc'd */
    size_t len;
    uint32_t hash;
} jn_cache_key;

typedef struct jn_cache_stats {
    uint64_t hits, misses, inserts, evictions;
    size_t entries, bytes, max_bytes;
} jn_cache_stats;

/* A cache holding at most max_bytes (> 0). NULL on out of memory. The environment variable
 * JUNCTION_TEST_CACHE_COLLIDE=1 (a test hook) makes every key hash alike, so every lookup meets every entry's
 * comparison. */
jn_response_cache *jn_response_cache_create(size_t max_bytes);
/* (It also shows on /metrics as junction_response_cache_bytes, _entries and _evictions_total until destroyed.) */
void jn_response_cache_destroy(jn_response_cache *c);

/* The key of `req` for the entry `serial` of model `model` / `version`. 0 or JN_ENOMEM. */
int jn_cache_key_make(jn_cache_key *key, uint64_t serial, const char *model, const char *version,
                      const jn_request *req);
void jn_cache_key_clear(jn_cache_key *key);

/* On a hit appends tensors sharing the cached outputs to `out` and returns true. */
bool jn_response_cache_get(jn_response_cache *c, const jn_cache_key *key, jn_tensor_list *out);
/* Keeps a copy of `outputs` under key (the key's bytes are taken: *key is left empty). An entry of the same key
 * already there (two misses raced) is kept instead. 0, or JN_ENOMEM (nothing kept). */
int jn_response_cache_put(jn_response_cache *c, jn_cache_key *key, const jn_tensor_list *outputs);

void jn_response_cache_stats(jn_response_cache *c, jn_cache_stats *out);

#endif
