/* stream.c — streamed answers (server.h: jn_http_stream_begin / _write / _end, jn_http_watch_gone): the producer's
 * side on any thread, and the pieces the loop thread uses to write them (connection.c calls them).
 *
 * A streamed answer is a request whose head goes out at once with Transfer-Encoding: chunked and whose body is a
 * series of chunks handed over from any thread; the loop writes whatever has queued up in one write (head, chunks
 * framed, the last chunk), so a fast producer costs one write per loop turn, not per chunk.
 *
 * Ownership: the producer holds the hreq from jn_http_stream_begin to jn_http_stream_end; the connection holds it
 * until its last chunk is written. Whichever lets go last frees it (internal.h's rule, under the loop's mu): the
 * connection, or the loop's drain when the hreq waits on the response queue, or jn_http_stream_end when the
 * connection is gone and the hreq is not queued.
 * Back-pressure: the bytes queued and not yet written are bounded (JN_HTTP_STREAM_MAX_BUFFERED): jn_http_stream_write
 * waits beyond it until the client reads, or the connection goes (the idle timeout closes one whose client reads
 * nothing).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static jn__http_req *hreq_of(jn_http_request *req)
{
    return (jn__http_req *)req;
}

void jn_http_watch_gone(jn_http_request *req, atomic_int *flag)
{
    jn__http_req *r = hreq_of(req);
    pthread_mutex_lock(&r->lp->mu);
    r->gone = flag;
    r->watched = true;
    if (!r->conn && flag)
        atomic_store(flag, 1);
    pthread_mutex_unlock(&r->lp->mu);
}

int jn_http_stream_begin(jn_http_request *req, int status, const char *content_type, const char *extra_headers)
{
    jn__http_req *r = hreq_of(req);
    jn__http_loop *lp = r->lp;
    jn__http_format_stream(r, status, content_type, extra_headers);
    pthread_mutex_lock(&lp->mu);
    JN_HTTP_ASSERT(!r->answered); /* answered twice */
    r->answered = true;
    r->streaming = true;
    pthread_cond_init(&r->room, NULL);
    r->room_init = true;
    bool gone = !r->conn;
    if (!gone) {
        r->in_rq = true;
        jn__http_enqueue_locked(r);
    }
    pthread_mutex_unlock(&lp->mu);
    return gone ? JN_ECANCELLED : 0;
}

int jn_http_stream_write(jn_http_request *req, const void *data, size_t len)
{
    jn__http_req *r = hreq_of(req);
    jn__http_loop *lp = r->lp;
    if (!len)
        return 0; /* a zero-length chunk would end the body */
    jn__http_chunk *ch = malloc(sizeof *ch + len);
    if (!ch)
        return JN_ENOMEM;
    ch->next = NULL;
    ch->len = len;
    memcpy(ch->data, data, len);
    pthread_mutex_lock(&lp->mu);
    JN_HTTP_ASSERT(r->streaming && !r->stream_ended);
    while (r->conn && r->sq_bytes >= JN_HTTP_STREAM_MAX_BUFFERED)
        pthread_cond_wait(&r->room, &lp->mu);
    if (!r->conn) {
        pthread_mutex_unlock(&lp->mu);
        free(ch);
        return JN_ECANCELLED;
    }
    if (r->sq_tail)
        r->sq_tail->next = ch;
    else
        r->sq_head = ch;
    r->sq_tail = ch;
    r->sq_bytes += len;
    if (!r->in_rq) {
        r->in_rq = true;
        jn__http_enqueue_locked(r);
    }
    pthread_mutex_unlock(&lp->mu);
    return 0;
}

void jn_http_stream_end(jn_http_request *req)
{
    jn__http_req *r = hreq_of(req);
    jn__http_loop *lp = r->lp;
    pthread_mutex_lock(&lp->mu);
    JN_HTTP_ASSERT(r->streaming && !r->stream_ended);
    r->stream_ended = true;
    r->gone = NULL; /* the producer's flag may go with it */
    bool free_now = false;
    if (r->conn) {
        if (!r->in_rq) {
            r->in_rq = true;
            jn__http_enqueue_locked(r);
        }
    } else {
        free_now = !r->in_rq; /* else the drain frees it */
    }
    pthread_mutex_unlock(&lp->mu);
    if (free_now)
        jn__http_req_free(r);
}

bool jn_http_request_gone(jn_http_request *req)
{
    jn__http_req *r = hreq_of(req);
    pthread_mutex_lock(&r->lp->mu);
    bool gone = !r->conn;
    pthread_mutex_unlock(&r->lp->mu);
    return gone;
}

/* --- the loop's side ------------------------------------------------------------------------------------------- */

void jn__http_stream_drained(jn__http_req *r)
{
    jn__http_loop *lp = r->lp;
    pthread_mutex_lock(&lp->mu);
    r->in_rq = false;
    bool ended = r->stream_ended;
    pthread_mutex_unlock(&lp->mu);
    if (r->conn) /* written only on this thread */
        jn__http_conn_stream_news(r);
    else if (ended)
        jn__http_req_free(r);
    /* else its producer frees it in jn_http_stream_end */
}

bool jn__http_stream_orphan_locked(jn__http_req *r)
{
    if (r->gone && (!r->answered || (r->streaming && !r->stream_ended)))
        atomic_store(r->gone, 1);
    if (r->streaming && r->stream_ended && !r->in_rq)
        return true;
    r->conn = NULL;
    if (r->room_init)
        pthread_cond_broadcast(&r->room);
    return false;
}

static size_t put(char *out, size_t at, const void *s, size_t n)
{
    memcpy(out + at, s, n);
    return at + n;
}

bool jn__http_stream_take(jn__http_req *r, const char *tail, size_t tail_len, size_t *len)
{
    jn__http_loop *lp = r->lp;
    pthread_mutex_lock(&lp->mu);
    jn__http_chunk *list = r->sq_head;
    r->sq_head = r->sq_tail = NULL;
    bool ended = r->stream_ended && !r->in_rq; /* queued: the drain still has it, and comes back here */
    pthread_mutex_unlock(&lp->mu);
    bool chunked = r->http_minor >= 1;
    size_t need = 0, payload = 0;
    if (!r->head_sent)
        need += r->resp_head_len + tail_len;
    for (jn__http_chunk *ch = list; ch; ch = ch->next) {
        need += ch->len + 24; /* hex size, CRLF, CRLF */
        payload += ch->len;
    }
    if (ended)
        need += 5;
    if (!need) /* head sent, nothing queued, not ended */
        return false;
    char *buf = malloc(need);
    if (!buf) {
        fprintf(stderr, "junction http: out of memory writing a streamed answer\n");
        abort();
    }
    size_t at = 0;
    if (!r->head_sent) {
        at = put(buf, at, r->resp_head, r->resp_head_len);
        at = put(buf, at, tail, tail_len);
        r->head_sent = true;
    }
    while (list) {
        jn__http_chunk *ch = list;
        list = ch->next;
        if (!r->is_head) {
            if (chunked)
                at += (size_t)snprintf(buf + at, 20, "%zx\r\n", ch->len);
            at = put(buf, at, ch->data, ch->len);
            if (chunked)
                at = put(buf, at, "\r\n", 2);
        }
        free(ch);
    }
    if (ended && chunked && !r->is_head)
        at = put(buf, at, "0\r\n\r\n", 5);
    r->swbuf = buf;
    r->sw_payload = payload;
    r->stream_last = ended;
    *len = at;
    return true;
}

void jn__http_stream_written(jn__http_req *r)
{
    jn__http_loop *lp = r->lp;
    free(r->swbuf);
    r->swbuf = NULL;
    pthread_mutex_lock(&lp->mu);
    r->sq_bytes -= r->sw_payload;
    pthread_cond_broadcast(&r->room);
    pthread_mutex_unlock(&lp->mu);
    r->sw_payload = 0;
}

void jn__http_stream_free(jn__http_req *r)
{
    while (r->sq_head) {
        jn__http_chunk *ch = r->sq_head;
        r->sq_head = ch->next;
        free(ch);
    }
    free(r->swbuf);
    if (r->room_init)
        pthread_cond_destroy(&r->room);
}
