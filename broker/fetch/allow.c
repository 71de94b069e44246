/* allow.c — the fetch policy's pure parts: the --fetch-allow list (parse, match a host and port) and the address
 * classes the SSRF check refuses (fetch.h has the rules). No libcurl here, so the fuzz target and unit tests run it
 * alone. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "fetch.h"

typedef enum entry_kind { E_HOST, E_SUFFIX, E_ANY } entry_kind;

typedef struct entry {
    entry_kind kind;
    char *host; /* E_HOST: the name or address (IPv6 without brackets); E_SUFFIX: ".example.com"; E_ANY: NULL */
    int port;   /* 0 = any port */
} entry;

struct jn_fetch_allow {
    entry *items;
    size_t n;
};

void jn_fetch_allow_free(jn_fetch_allow *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n; i++)
        free(a->items[i].host);
    free(a->items);
    free(a);
}

size_t jn_fetch_allow_count(const jn_fetch_allow *a)
{
    return a ? a->n : 0;
}

static int bad_entry(jn_err *err, const char *text, size_t n, const char *why)
{
    return jn_err_set(err, JN_EINVAL, "--fetch-allow: entry '%.*s': %s", (int)(n > 200 ? 200 : n), text, why);
}

/* ":port" at s (n bytes, starting at the ':'): 1..65535. */
static int parse_port(const char *s, size_t n, int *port)
{
    if (n < 2 || n > 6 || s[0] != ':')
        return -1;
    long v = 0;
    for (size_t i = 1; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > 65535)
        return -1;
    *port = (int)v;
    return 0;
}

/* A host name: letters, digits, '-', '.', '_' (labels not empty); an IPv4 literal is such a name too. */
static bool valid_name(const char *s, size_t n)
{
    if (n == 0 || n > 253 || s[0] == '.' || s[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '-' || c == '.' || c == '_'))
            return false;
        if (c == '.' && i + 1 < n && s[i + 1] == '.')
            return false;
    }
    return true;
}

static char *lower_copy(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    for (size_t i = 0; i < n; i++)
        d[i] = (char)tolower((unsigned char)s[i]);
    d[n] = '\0';
    return d;
}

/* One entry, [s, s+n) with surrounding blanks already trimmed. */
static int parse_entry(const char *s, size_t n, entry *e, jn_err *err)
{
    memset(e, 0, sizeof *e);
    const char *host = s, *colon = NULL;
    size_t host_n = n;
    if (s[0] == '[') { /* [v6] or [v6]:port */
        const char *close = memchr(s, ']', n);
        if (!close)
            return bad_entry(err, s, n, "'[' without ']'");
        host = s + 1;
        host_n = (size_t)(close - host);
        if (close + 1 < s + n)
            colon = close + 1;
    } else {
        const char *first = memchr(s, ':', n), *last = first;
        for (const char *p = first; p && p < s + n; p = memchr(p + 1, ':', (size_t)(s + n - p - 1)))
            last = p;
        if (first && first != last) { /* a bare IPv6 address: no port possible */
            host_n = n;
        } else if (first) {
            host_n = (size_t)(first - s);
            colon = first;
        }
    }
    if (colon && parse_port(colon, (size_t)(s + n - colon), &e->port))
        return bad_entry(err, s, n, "the port must be a number 1..65535 after ':'");
    if (host_n == 0)
        return bad_entry(err, s, n, "no host");
    if (host_n == 1 && host[0] == '*') {
        e->kind = E_ANY;
        return 0;
    }
    bool v6 = memchr(host, ':', host_n) != NULL;
    if (v6 || s[0] == '[') {
        char buf[64];
        struct in6_addr a6;
        if (host_n >= sizeof buf)
            return bad_entry(err, s, n, "not an IPv6 address");
        memcpy(buf, host, host_n);
        buf[host_n] = '\0';
        if (inet_pton(AF_INET6, buf, &a6) != 1)
            return bad_entry(err, s, n, "not an IPv6 address");
        char canon[INET6_ADDRSTRLEN]; /* one spelling per address, as URLs are normalised to it too */
        inet_ntop(AF_INET6, &a6, canon, sizeof canon);
        e->kind = E_HOST;
        e->host = strdup(canon);
        return e->host ? 0 : jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    if (host_n > 2 && host[0] == '*' && host[1] == '.') {
        if (!valid_name(host + 2, host_n - 2) || memchr(host + 2, '*', host_n - 2))
            return bad_entry(err, s, n, "a wildcard is '*.' followed by a domain name");
        e->kind = E_SUFFIX;
        e->host = lower_copy(host + 1, host_n - 1); /* ".example.com" */
        return e->host ? 0 : jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    if (!valid_name(host, host_n))
        return bad_entry(err, s, n, "not a host name, an address, '*' or '*.domain'");
    e->kind = E_HOST;
    e->host = lower_copy(host, host_n);
    return e->host ? 0 : jn_err_set(err, JN_ENOMEM, "out of memory");
}

jn_fetch_allow *jn_fetch_allow_parse(const char *text, jn_err *err)
{
    jn_fetch_allow *a = calloc(1, sizeof *a);
    if (!a) {
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    const char *p = text ? text : "";
    size_t cap = 0;
    while (*p) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *s = p, *e = end;
        while (s < e && isspace((unsigned char)*s))
            s++;
        while (e > s && isspace((unsigned char)e[-1]))
            e--;
        p = *end ? end + 1 : end;
        if (s == e)
            continue; /* "a,,b" and a trailing comma */
        if (a->n == cap) {
            cap = cap ? 2 * cap : 4;
            entry *grown = realloc(a->items, cap * sizeof *grown);
            if (!grown) {
                jn_fetch_allow_free(a);
                jn_err_set(err, JN_ENOMEM, "out of memory");
                return NULL;
            }
            a->items = grown;
        }
        if (parse_entry(s, (size_t)(e - s), &a->items[a->n], err)) {
            jn_fetch_allow_free(a);
            return NULL;
        }
        a->n++;
    }
    return a;
}

bool jn_fetch_allow_host(const jn_fetch_allow *a, const char *host, int port, bool *exact)
{
    bool allowed = false;
    *exact = false;
    size_t hn = strlen(host);
    for (size_t i = 0; a && i < a->n; i++) {
        const entry *e = &a->items[i];
        if (e->port && e->port != port)
            continue;
        if (e->kind == E_ANY) {
            allowed = true;
        } else if (e->kind == E_SUFFIX) {
            size_t sn = strlen(e->host);
            if (hn > sn && strcmp(host + hn - sn, e->host) == 0)
                allowed = true;
        } else if (strcmp(host, e->host) == 0) {
            *exact = true;
            return true;
        }
    }
    return allowed;
}

/* ---- address classes ---- */

static jn_addr_class v4_class(const uint8_t *a)
{
    if (a[0] == 10 || (a[0] == 172 && (a[1] & 0xf0) == 16) || (a[0] == 192 && a[1] == 168))
        return JN_ADDR_PRIVATE;
    if (a[0] == 100 && (a[1] & 0xc0) == 64) /* 100.64/10, carrier-grade NAT */
        return JN_ADDR_PRIVATE;
    if (a[0] == 127)
        return JN_ADDR_LOOPBACK;
    if (a[0] == 169 && a[1] == 254)
        return JN_ADDR_LINK_LOCAL;
    if (a[0] == 0 && a[1] == 0 && a[2] == 0 && a[3] == 0)
        return JN_ADDR_UNSPECIFIED;
    if ((a[0] & 0xf0) == 224)
        return JN_ADDR_MULTICAST;
    if (a[0] == 0 || a[0] >= 240 /* 240/4 and 255.255.255.255 */ || (a[0] == 192 && a[1] == 0 && a[2] == 0) ||
        (a[0] == 192 && a[1] == 0 && a[2] == 2) || (a[0] == 198 && (a[1] & 0xfe) == 18) ||
        (a[0] == 198 && a[1] == 51 && a[2] == 100) || (a[0] == 203 && a[1] == 0 && a[2] == 113))
        return JN_ADDR_RESERVED;
    return JN_ADDR_PUBLIC;
}

jn_addr_class jn_fetch_addr_class(const uint8_t *a, size_t len)
{
    if (len == 4)
        return v4_class(a);
    if (len != 16)
        return JN_ADDR_RESERVED;
    static const uint8_t zero[16];
    if (memcmp(a, zero, 15) == 0 && a[15] == 0)
        return JN_ADDR_UNSPECIFIED;
    if (memcmp(a, zero, 15) == 0 && a[15] == 1)
        return JN_ADDR_LOOPBACK;
    if (a[0] == 0xff)
        return JN_ADDR_MULTICAST;
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
        return JN_ADDR_LINK_LOCAL;
    if ((a[0] & 0xfe) == 0xfc)
        return JN_ADDR_PRIVATE;
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) /* fec0::/10, the deprecated site-local */
        return JN_ADDR_PRIVATE;
    /* ::ffff:a.b.c.d (mapped), ::a.b.c.d (compatible), 64:ff9b::/96 (NAT64), 2002::/16 (6to4): they reach an
     * IPv4 address, possibly a private one; refused unless listed (a public service has a plain address). */
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    if (memcmp(a, mapped, 12) == 0 || memcmp(a, zero, 12) == 0 || memcmp(a, nat64, 12) == 0 ||
        (a[0] == 0x20 && a[1] == 0x02))
        return JN_ADDR_RESERVED;
    if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8) /* 2001:db8::/32, documentation */
        return JN_ADDR_RESERVED;
    if ((a[0] & 0xe0) != 0x20) /* outside 2000::/3, the global unicast space */
        return JN_ADDR_RESERVED;
    return JN_ADDR_PUBLIC;
}

const char *jn_addr_class_name(jn_addr_class c)
{
    static const char *const names[] = {
        [JN_ADDR_PUBLIC] = "public",
        [JN_ADDR_PRIVATE] = "a private address",
        [JN_ADDR_LOOPBACK] = "a loopback address",
        [JN_ADDR_LINK_LOCAL] = "a link-local address",
        [JN_ADDR_UNSPECIFIED] = "the unspecified address",
        [JN_ADDR_MULTICAST] = "a multicast address",
        [JN_ADDR_RESERVED] = "a reserved or special-purpose address",
    };
    return (unsigned)c < sizeof names / sizeof names[0] ? names[c] : "an unknown address class";
}
