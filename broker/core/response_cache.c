/* response_cache.c — the server's response cache (response_cache.h). */
#include "response_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "metrics.h"

typedef struct entry {
    struct entry *chain;      /* bucket */
    struct entry *prev, *next; /* LRU: head = most recent */
    jn_cache_key key;
    jn_tensor_list outputs; /* the cache's copies */
    size_t bytes;           /* accounted */
} entry;

struct jn_response_cache {
    pthread_mutex_t mu;
    entry **buckets;
    size_t n_buckets; /* a power of two */
    entry *head, *tail;
    size_t entries, bytes, max_bytes;
    uint64_t hits, misses, inserts, evictions;
    bool collide; /* test hook: every hash alike */
};

/* /metrics: the cache's size and churn (per-model hits and misses are the models' own series). */
static void collect(void *arg, jn_metrics_text *t)
{
    jn_cache_stats st;
    jn_response_cache_stats(arg, &st);
    jn_metrics_text_family(t, "junction_response_cache_bytes", "gauge",
                           "Bytes the response cache holds (keys, outputs and bookkeeping; at most --cache-mb).");
    jn_metrics_text_sample(t, "junction_response_cache_bytes", NULL, 0, st.bytes);
    jn_metrics_text_family(t, "junction_response_cache_entries", "gauge", "Answers the response cache holds.");
    jn_metrics_text_sample(t, "junction_response_cache_entries", NULL, 0, st.entries);
    jn_metrics_text_family(t, "junction_response_cache_evictions_total", "counter",
                           "Answers dropped from the response cache to stay within its size.");
    jn_metrics_text_sample(t, "junction_response_cache_evictions_total", NULL, 0, st.evictions);
}

jn_response_cache *jn_response_cache_create(size_t max_bytes)
{
    jn_response_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->n_buckets = 1024;
    c->buckets = calloc(c->n_buckets, sizeof *c->buckets);
    if (!c->buckets) {
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    c->max_bytes = max_bytes;
    const char *hook = getenv("JUNCTION_TEST_CACHE_COLLIDE");
    c->collide = hook && strcmp(hook, "1") == 0;
    jn_metrics_add_collector(collect, c); /* none when the 8 slots are taken: the series are then missing */
    return c;
}

static void entry_free(entry *e)
{
    jn_tensor_list_clear(&e->outputs);
    jn_cache_key_clear(&e->key);
    free(e);
}

void jn_response_cache_destroy(jn_response_cache *c)
{
    if (!c)
        return;
    jn_metrics_remove_collector(collect, c);
    for (entry *e = c->head; e;) {
        entry *next = e->next;
        entry_free(e);
        e = next;
    }
    free(c->buckets);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* ---- keys ---- */

typedef struct kbuf {
    uint8_t *p;
    size_t len, cap;
    bool failed;
} kbuf;

static void put(kbuf *b, const void *data, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *np = realloc(b->p, cap);
        if (!np) {
            b->failed = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void put_u64(kbuf *b, uint64_t v)
{
    put(b, &v, sizeof v);
}

static void put_str(kbuf *b, const char *s)
{
    put(b, s ? s : "", strlen(s ? s : "") + 1);
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const jn_tensor *const *)a)->name, (*(const jn_tensor *const *)b)->name);
}

static int by_key(const void *a, const void *b)
{
    return strcmp((*(const jn_param *const *)a)->key, (*(const jn_param *const *)b)->key);
}

int jn_cache_key_make(jn_cache_key *key, uint64_t serial, const char *model, const char *version,
                      const jn_request *req)
{
    memset(key, 0, sizeof *key);
    kbuf b = {0};
    put_u64(&b, serial);
    put_str(&b, model);
    put_str(&b, version);
    put_u64(&b, req->n_outputs);
    for (size_t i = 0; i < req->n_outputs; i++)
        put_str(&b, req->outputs[i]);
    /* parameters that reach the engine, by key */
    const jn_param *ps[64];
    size_t np = 0;
    for (size_t i = 0; i < req->params.count; i++) {
        const jn_param *p = &req->params.items[i];
        if (strcmp(p->key, "priority") == 0 || strcmp(p->key, "timeout") == 0)
            continue;
        if (np == 64) { /* more than any engine reads: such a request is simply not cached */
            free(b.p);
            return JN_ENOMEM;
        }
        ps[np++] = p;
    }
    qsort(ps, np, sizeof *ps, by_key);
    put_u64(&b, np);
    for (size_t i = 0; i < np; i++) {
        put_str(&b, ps[i]->key);
        put_u64(&b, (uint64_t)ps[i]->type);
        switch (ps[i]->type) {
        case JN_PARAM_BOOL:
            put_u64(&b, ps[i]->v.b);
            break;
        case JN_PARAM_INT:
            put_u64(&b, (uint64_t)ps[i]->v.i);
            break;
        case JN_PARAM_DOUBLE:
            put(&b, &ps[i]->v.d, sizeof ps[i]->v.d);
            break;
        case JN_PARAM_STRING:
            put_str(&b, ps[i]->v.s);
            break;
        }
    }
    /* inputs, by name */
    const jn_tensor *ins[64];
    size_t n = req->inputs.count;
    if (n > 64) {
        free(b.p);
        return JN_ENOMEM;
    }
    memcpy(ins, req->inputs.items, n * sizeof *ins);
    qsort(ins, n, sizeof *ins, by_name);
    put_u64(&b, n);
    for (size_t i = 0; i < n; i++) {
        const jn_tensor *t = ins[i];
        put_str(&b, t->name);
        put_u64(&b, (uint64_t)t->dtype);
        put_u64(&b, (uint64_t)t->ndim);
        put(&b, t->shape, (size_t)t->ndim * sizeof t->shape[0]);
        put_u64(&b, t->byte_size);
        put(&b, t->data, t->byte_size);
    }
    if (b.failed) {
        free(b.p);
        return JN_ENOMEM;
    }
    key->bytes = b.p;
    key->len = b.len;
    /* zlib's crc32 takes uInt lengths: the key goes in chunks */
    uLong h = crc32(0L, Z_NULL, 0);
    for (size_t at = 0; at < b.len;) {
        size_t chunk = b.len - at > (1u << 30) ? (1u << 30) : b.len - at;
        h = crc32(h, b.p + at, (uInt)chunk);
        at += chunk;
    }
    key->hash = (uint32_t)h;
    return 0;
}

void jn_cache_key_clear(jn_cache_key *key)
{
    free(key->bytes);
    memset(key, 0, sizeof *key);
}

/* ---- the table (c->mu held) ---- */

static uint32_t hash_of(const jn_response_cache *c, const jn_cache_key *k)
{
    return c->collide ? 0u : k->hash;
}

static entry **slot(jn_response_cache *c, const jn_cache_key *k)
{
    return &c->buckets[hash_of(c, k) & (c->n_buckets - 1)];
}

static entry *find(jn_response_cache *c, const jn_cache_key *k)
{
    for (entry *e = *slot(c, k); e; e = e->chain)
        if (hash_of(c, &e->key) == hash_of(c, k) && e->key.len == k->len && memcmp(e->key.bytes, k->bytes, k->len) == 0)
            return e;
    return NULL;
}

static void lru_unlink(jn_response_cache *c, entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_front(jn_response_cache *c, entry *e)
{
    e->next = c->head;
    e->prev = NULL;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

static void remove_entry(jn_response_cache *c, entry *e)
{
    entry **p = slot(c, &e->key);
    while (*p != e)
        p = &(*p)->chain;
    *p = e->chain;
    lru_unlink(c, e);
    c->entries--;
    c->bytes -= e->bytes;
}

static void grow(jn_response_cache *c)
{
    size_t n = c->n_buckets * 2;
    entry **nb = calloc(n, sizeof *nb);
    if (!nb)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < c->n_buckets; i++)
        for (entry *e = c->buckets[i]; e;) {
            entry *next = e->chain;
            entry **s = &nb[hash_of(c, &e->key) & (n - 1)];
            e->chain = *s;
            *s = e;
            e = next;
        }
    free(c->buckets);
    c->buckets = nb;
    c->n_buckets = n;
}

bool jn_response_cache_get(jn_response_cache *c, const jn_cache_key *key, jn_tensor_list *out)
{
    pthread_mutex_lock(&c->mu);
    entry *e = find(c, key);
    bool hit = false;
    if (e) {
        size_t before = out->count;
        hit = true;
        for (size_t i = 0; i < e->outputs.count && hit; i++) {
            jn_err err;
            jn_tensor *t = jn_tensor_share(e->outputs.items[i], NULL, &err);
            if (!t || jn_tensor_list_push(out, t))
                hit = false;
        }
        if (!hit) { /* out of memory: take nothing, the request runs */
            while (out->count > before)
                jn_tensor_free(out->items[--out->count]);
        } else {
            lru_unlink(c, e);
            lru_front(c, e);
        }
    }
    if (hit)
        c->hits++;
    else
        c->misses++;
    pthread_mutex_unlock(&c->mu);
    return hit;
}

/* A copy of t in a buffer of its own. */
static jn_tensor *copy_tensor(const jn_tensor *t)
{
    jn_err err;
    jn_buffer *buf = jn_buffer_alloc(t->byte_size ? t->byte_size : 1);
    if (!buf)
        return NULL;
    if (t->byte_size)
        memcpy(buf->data, t->data, t->byte_size);
    jn_tensor *c = jn_tensor_wrap(t->name, t->dtype, t->ndim, t->shape, buf, buf->data, t->byte_size, &err);
    jn_buffer_unref(buf);
    return c;
}

int jn_response_cache_put(jn_response_cache *c, jn_cache_key *key, const jn_tensor_list *outputs)
{
    size_t bytes = sizeof(entry) + key->len;
    for (size_t i = 0; i < outputs->count; i++)
        bytes += outputs->items[i]->byte_size + sizeof(jn_tensor) + sizeof(jn_buffer) + 64;
    if (bytes > c->max_bytes) {
        jn_cache_key_clear(key);
        return 0; /* larger than the whole cache: not kept */
    }
    entry *e = calloc(1, sizeof *e);
    if (!e) {
        jn_cache_key_clear(key);
        return JN_ENOMEM;
    }
    jn_tensor_list_init(&e->outputs);
    for (size_t i = 0; i < outputs->count; i++) {
        jn_tensor *t = copy_tensor(outputs->items[i]);
        if (!t || jn_tensor_list_push(&e->outputs, t)) {
            jn_cache_key_clear(key);
            entry_free(e);
            return JN_ENOMEM;
        }
    }
    e->key = *key;
    memset(key, 0, sizeof *key);
    e->bytes = bytes;
    pthread_mutex_lock(&c->mu);
    if (find(c, &e->key)) { /* another miss of the same request got here first */
        pthread_mutex_unlock(&c->mu);
        entry_free(e);
        return 0;
    }
    while (c->tail && c->bytes + bytes > c->max_bytes) {
        entry *old = c->tail;
        remove_entry(c, old);
        c->evictions++;
        entry_free(old); /* tensors already handed out keep their buffers */
    }
    if (c->entries + 1 > c->n_buckets)
        grow(c);
    entry **s = slot(c, &e->key);
    e->chain = *s;
    *s = e;
    lru_front(c, e);
    c->entries++;
    c->bytes += bytes;
    c->inserts++;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

void jn_response_cache_stats(jn_response_cache *c, jn_cache_stats *out)
{
    pthread_mutex_lock(&c->mu);
    *out = (jn_cache_stats){c->hits, c->misses, c->inserts, c->evictions, c->entries, c->bytes, c->max_bytes};
    pthread_mutex_unlock(&c->mu);
}
