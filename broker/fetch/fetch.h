/* fetch.h — inputs given by URL (issue #18 item 5: `{"image": "https://..."}`, OpenAI `image_url` parts): a
 * `data:` URI is decoded here without any network; an http(s) URL is fetched with Debian's libcurl, and only
 * under the server's policy:
 *   - the host (and port) must be in --fetch-allow (none by default: every URL is refused naming the flag);
 *   - every address the connection would use is checked after name resolution, at connect time (libcurl's
 *     CURLOPT_OPENSOCKETFUNCTION sees the resolved sockaddr; the socket is opened only if it passes), so a name
 *     that resolves again to another address (DNS rebinding) cannot slip past: private (10/8, 172.16/12,
 *     192.168/16, fc00::/7, 100.64/10), loopback (127/8, ::1), link-local (169.254/16, fe80::/10), unspecified,
 *     multicast, broadcast and reserved addresses, and IPv4 mapped/compatible in IPv6, are refused unless the URL's
 *     host is listed by exact name or address (not only matched by a wildcard), or that address itself is listed;
 *   - http and https only (CURLOPT_PROTOCOLS_STR); no proxy (a proxy would resolve names itself, past the check);
 *   - redirects are followed here, not by libcurl: each hop's URL is checked like the first (scheme, allow-list,
 *     addresses), at most JN_FETCH_MAX_REDIRECTS of them;
 *   - at most max_bytes of body (Content-Length checked first, the bytes counted as they come), the whole fetch
 *     (redirects included) within timeout_ms and within the call's own deadline, cancelled with the call;
 *   - the answer must be 2xx with a Content-Type the port takes (image/... for IMAGE, audio/... for AUDIO).
 *
 * Allow-list syntax (--fetch-allow, comma-separated, case-insensitive): `host`, `host:port`, `1.2.3.4[:port]`,
 * `[::1][:port]` (or a bare `::1`), `*.example.com[:port]` (any name under example.com, not example.com itself),
 * `*[:port]` (any host: private addresses stay refused). Without a port an entry allows every port.
 *
 * Errors (jn_err codes; the message names `what`, e.g. "input 'image'", the URL and the reason):
 *   JN_EPERMISSION  the policy refuses it: URL fetching off, host not in --fetch-allow, a redirect to such a host,
 *                   a private/loopback/link-local address not listed;
 *   JN_EINVAL       the URL or what it points at is not usable: bad URL or data: URI, a scheme other than
 *                   http/https/data, an HTTP status >= 400 (below 500), a wrong Content-Type, more than max_bytes, too
 *                   many redirects;
 *   JN_EDEADLINE    timeout_ms or the call's deadline passed while fetching;
 *   JN_EUNAVAIL     the host could not be resolved or reached, or answered 5xx;
 *   JN_ECANCELLED   the caller went away.
 *
 * Threads: a jn_fetcher is immutable after jn_fetcher_create and may be used by any number of threads at once.
 * jn_fetch blocks the calling thread for the whole transfer (libcurl's easy interface): call it only where a call
 * may block — on the worker pool, never on an HTTP loop or gRPC pump thread (the front ends move calls whose body
 * may hold a URL to a worker). Each fetch has its own easy handle (no connection reuse between fetches: each
 * connection is checked afresh).
 *
 * Ownership: jn_fetcher_create copies what it needs from the options; jn_fetched's data is malloc'd and owned by
 * the caller (jn_fetched_free).
 */
#ifndef JN_FETCH_H
#define JN_FETCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define JN_FETCH_DEFAULT_MAX_BYTES ((size_t)20 << 20) /* 20 MiB */
#define JN_FETCH_DEFAULT_TIMEOUT_MS 10000
#define JN_FETCH_MAX_REDIRECTS 5
#define JN_FETCH_MAX_URL 8192 /* longer http(s) URLs are refused (data: URIs are bounded by max_bytes) */

/* What the receiving port holds: decides the Content-Types accepted. */
typedef enum jn_fetch_media {
    JN_FETCH_IMAGE, /* image/... */
    JN_FETCH_AUDIO, /* audio/... (AUDIO inputs: simple JSON {"audio": URL}) */
} jn_fetch_media;

typedef struct jn_fetch_options {
    const char *allow;  /* --fetch-allow text; NULL or "" = no URL may be fetched (data: URIs still decode) */
    size_t max_bytes;   /* 0 = JN_FETCH_DEFAULT_MAX_BYTES */
    int64_t timeout_ms; /* 0 = JN_FETCH_DEFAULT_TIMEOUT_MS */
} jn_fetch_options;

typedef struct jn_fetcher jn_fetcher;

/* Parses the allow-list (JN_EINVAL naming --fetch-allow and the bad entry) and initialises libcurl (call it from
 * the main thread before serving). NULL with err set on failure. */
jn_fetcher *jn_fetcher_create(const jn_fetch_options *opt, jn_err *err);
void jn_fetcher_destroy(jn_fetcher *f);
/* Does f fetch anything over the network (a non-empty allow-list)? False for NULL. Without it jn_fetch never blocks
 * (data: URIs decode, every other URL is refused at once), so a front end may call it on a loop thread. */
bool jn_fetcher_on(const jn_fetcher *f);

/* Is [s, s+n) a URL for jn_fetch (it starts with "http://", "https://" or "data:", case-insensitively)? Anything
 * else is the value itself (base64 for an IMAGE, as before). */
bool jn_fetch_is_url(const char *s, size_t n);

/* Could a JSON text hold an http(s) URL in one of its strings? Only if it has "http" (any case) or a \u escape
 * (a letter spelled as one). A front end that would decode a small body on its loop thread sends it to a worker
 * when this is true and jn_fetcher_on: fetching blocks. */
bool jn_fetch_may_hold_url(const void *json_text, size_t n);

typedef struct jn_fetched {
    uint8_t *data; /* malloc'd (never NULL on success, even for 0 bytes) */
    size_t len;
    char content_type[128]; /* as the server (or the data: URI) gave it; "" when it gave none */
} jn_fetched;

/* Fetches `url` (n bytes, not necessarily NUL-terminated) for a port holding `media`. deadline_ns is the call's
 * (CLOCK_MONOTONIC, 0 = none) and `cancelled` its cancellation flag (may be NULL). `what` names the port in
 * messages ("input 'image'"). f may be NULL: data: URIs decode, every other URL is refused naming --fetch-allow.
 * 0 with *out filled, or a JN_E* code with err set (see above) and *out empty. */
int jn_fetch(const jn_fetcher *f, const char *url, size_t n, jn_fetch_media media, const char *what,
             int64_t deadline_ns, const atomic_int *cancelled, jn_fetched *out, jn_err *err);
void jn_fetched_free(jn_fetched *r);

/* The policy check jn_fetch makes of a URL before any connection (no network): a data: URI that decodes, or an
 * http(s) URL whose host and port are in the allow-list. 0 or the error jn_fetch would give. For a front end that
 * wants to refuse early (before a call is queued) and for the fuzz target. */
int jn_fetch_check_url(const jn_fetcher *f, const char *url, size_t n, jn_fetch_media media, const char *what,
                       jn_err *err);

/* ---- the pieces, exposed for the unit tests and the fuzz targets ---- */

typedef struct jn_fetch_allow jn_fetch_allow;
/* Parses an allow-list; NULL with JN_EINVAL naming the entry (or JN_ENOMEM). An empty text gives an empty list. */
jn_fetch_allow *jn_fetch_allow_parse(const char *text, jn_err *err);
void jn_fetch_allow_free(jn_fetch_allow *a);
size_t jn_fetch_allow_count(const jn_fetch_allow *a);
/* Does the list allow host (lower-case, IPv6 without brackets) on port? *exact: matched by an entry naming that
 * very host or address (not a wildcard). */
bool jn_fetch_allow_host(const jn_fetch_allow *a, const char *host, int port, bool *exact);

/* What an address is, for the SSRF check: JN_ADDR_PUBLIC, or why it is refused unless listed. */
typedef enum jn_addr_class {
    JN_ADDR_PUBLIC = 0,
    JN_ADDR_PRIVATE,
    JN_ADDR_LOOPBACK,
    JN_ADDR_LINK_LOCAL,
    JN_ADDR_UNSPECIFIED,
    JN_ADDR_MULTICAST,
    JN_ADDR_RESERVED, /* broadcast, 0/8, 192.0.0/24, documentation, benchmarking, 240/4, IPv4-mapped/compatible ... */
} jn_addr_class;
/* Classifies an IPv4 (4 bytes, network order) or IPv6 (16 bytes) address. */
jn_addr_class jn_fetch_addr_class(const uint8_t *addr, size_t len);
const char *jn_addr_class_name(jn_addr_class c);

/* Decodes a data: URI ("data:[<media type>][;base64],<data>", percent-escapes in the non-base64 form) into *out,
 * checking the media type (when given) against `media` and the size against max_bytes. */
int jn_fetch_data_uri(const char *uri, size_t n, jn_fetch_media media, size_t max_bytes, const char *what,
                      jn_fetched *out, jn_err *err);

#endif
