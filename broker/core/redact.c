/* redact.c — the request log's redaction rules (redact.h): the configuration file, and the masker. The built-in
 * detectors are small scanners rather than regular expressions because each needs a check an expression cannot make
 * (Luhn, mod-97, digit counts across separators); user expressions go to regcomp(3). */
#include "redact.h"
#include "grow.h"

#include <ctype.h>
#include <jansson.h>
#include <regex.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_PORTS 256
#define MAX_REGEX 64
#define JN__STR2(x) #x
#define JN__STR(x) JN__STR2(x)

struct jn_redact {
    char **ports;
    size_t n_ports;
    unsigned patterns;
    regex_t *regex;
    size_t n_regex;
};

static const struct {
    const char *name;
    unsigned bit;
} pattern_names[] = {
    {.name = "email", .bit = JN_REDACT_EMAIL},
    {.name = "phone", .bit = JN_REDACT_PHONE},
    {.name = "card", .bit = JN_REDACT_CARD},
    {.name = "iban", .bit = JN_REDACT_IBAN},
};

void jn_redact_free(jn_redact *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_ports; i++)
        free(r->ports[i]);
    free(r->ports);
    for (size_t i = 0; i < r->n_regex; i++)
        regfree(&r->regex[i]);
    free(r->regex);
    free(r);
}

/* The array field `key`: NULL with err set when it is not an array of strings (or too long). */
static const json_t *string_array(const json_t *v, const char *where, const char *key, size_t max, jn_err *err)
{
    if (!json_is_array(v)) {
        jn_err_set(err, JN_EINVAL, "%s: %s must be an array of strings", where, key);
        return NULL;
    }
    if (json_array_size(v) > max) {
        jn_err_set(err, JN_EINVAL, "%s: %s has %zu entries; at most %zu", where, key, json_array_size(v), max);
        return NULL;
    }
    size_t i;
    const json_t *s;
    json_array_foreach(v, i, s) {
        if (!json_is_string(s) || !json_string_length(s)) {
            jn_err_set(err, JN_EINVAL, "%s: %s[%zu] must be a non-empty string", where, key, i);
            return NULL;
        }
    }
    return v;
}

static int parse_ports(jn_redact *r, const json_t *v, const char *where, jn_err *err)
{
    if (!string_array(v, where, "ports", MAX_PORTS, err))
        return err->code;
    size_t n = json_array_size(v);
    if (n && !(r->ports = calloc(n, sizeof *r->ports)))
        return jn_err_set(err, JN_ENOMEM, "%s: out of memory", where);
    for (size_t i = 0; i < n; i++) {
        if (!(r->ports[i] = strdup(json_string_value(json_array_get(v, i)))))
            return jn_err_set(err, JN_ENOMEM, "%s: out of memory", where);
        r->n_ports++;
    }
    return 0;
}

static int parse_patterns(jn_redact *r, const json_t *v, const char *where, jn_err *err)
{
    if (!string_array(v, where, "patterns", 16, err))
        return err->code;
    size_t i;
    const json_t *s;
    json_array_foreach(v, i, s) {
        const char *name = json_string_value(s);
        size_t k = 0;
        while (k < sizeof pattern_names / sizeof pattern_names[0] && strcmp(pattern_names[k].name, name) != 0)
            k++;
        if (k == sizeof pattern_names / sizeof pattern_names[0])
            return jn_err_set(err, JN_EINVAL, "%s: patterns[%zu]: '%.64s' is not a pattern (email, phone, card, iban)",
                              where, i, name);
        r->patterns |= pattern_names[k].bit;
    }
    return 0;
}

/* glibc's regcomp builds automata whose size multiplies with stacked or nested counted repetitions ("a++++...",
 * "((a{100}){100}){100}"): such expressions are refused before they get there. The cost estimate counts one per
 * atom, a counted repetition multiplies what it repeats (a group: the group's cost), groups nest. NULL when the
 * expression is acceptable, else why not. */
static const char *regex_too_costly(const char *re)
{
    if (strlen(re) > JN_REDACT_REGEX_MAX)
        return "longer than " JN__STR(JN_REDACT_REGEX_MAX) " characters";
    long sum[JN_REDACT_REGEX_MAX + 2]; /* the cost of each open group so far (depth 0: the whole) */
    int depth = 0;
    sum[0] = 0;
    long last = 0; /* the cost of the atom or group just before */
    bool after_quantifier = false;
    for (const char *p = re; *p; p++) {
        bool quantifier = false;
        long hi = 0;
        if (*p == '\\' && p[1]) {
            p++;
            last = 1;
        } else if (*p == '[') { /* a bracket expression: ']' first is literal */
            const char *q = p + 1;
            if (*q == '^')
                q++;
            if (*q == ']')
                q++;
            while (*q && *q != ']')
                q++;
            if (!*q)
                return NULL; /* unterminated: regcomp says so */
            p = q;
            last = 1;
        } else if (*p == '(') {
            sum[++depth] = 0;
            last = 0;
            after_quantifier = false;
            continue;
        } else if (*p == ')' && depth > 0) {
            last = sum[depth--];
            if (last < 1)
                last = 1;
            sum[depth] += last;
            after_quantifier = false;
            continue;
        } else if (*p == '*' || *p == '+' || *p == '?') {
            quantifier = true;
            hi = 2; /* unbounded repetitions are loops, not copies: cheap */
        } else if (*p == '{' && p[1] >= '0' && p[1] <= '9') {
            char *end;
            long lo = strtol(p + 1, &end, 10);
            hi = lo;
            if (*end == ',' && end[1] >= '0' && end[1] <= '9')
                hi = strtol(end + 1, &end, 10);
            else if (*end == ',')
                end++;
            if (*end == '}') {
                if (lo > JN_REDACT_REGEX_MAX_REPEAT || hi > JN_REDACT_REGEX_MAX_REPEAT)
                    return "a counted repetition above " JN__STR(JN_REDACT_REGEX_MAX_REPEAT);
                quantifier = true;
                p = end;
            } else {
                last = 1;
            }
        } else {
            last = 1;
        }
        if (quantifier) {
            if (after_quantifier)
                return "stacked repetition operators (a quantifier right after another)";
            sum[depth] += last * (hi > 1 ? hi - 1 : 0); /* `last` was counted once already */
            if (sum[depth] > JN_REDACT_REGEX_MAX_COST)
                return "counted repetitions that multiply past " JN__STR(JN_REDACT_REGEX_MAX_COST) " copies";
            last = 0;
        } else {
            sum[depth] += 1;
        }
        after_quantifier = quantifier;
    }
    return NULL;
}

static int parse_regex(jn_redact *r, const json_t *v, const char *where, jn_err *err)
{
    if (!string_array(v, where, "regex", MAX_REGEX, err))
        return err->code;
    size_t n = json_array_size(v);
    if (n && !(r->regex = calloc(n, sizeof *r->regex)))
        return jn_err_set(err, JN_ENOMEM, "%s: out of memory", where);
    for (size_t i = 0; i < n; i++) {
        const char *text = json_string_value(json_array_get(v, i));
        if (strlen(text) != json_string_length(json_array_get(v, i)))
            return jn_err_set(err, JN_EINVAL, "%s: regex[%zu] contains a NUL character", where, i);
        const char *why_not = regex_too_costly(text);
        if (why_not)
            return jn_err_set(err, JN_EINVAL, "%s: regex[%zu] '%.128s' is refused: %s", where, i, text, why_not);
        int rc = regcomp(&r->regex[i], text, REG_EXTENDED);
        if (rc) {
            char why[256];
            regerror(rc, &r->regex[i], why, sizeof why);
            return jn_err_set(err, JN_EINVAL, "%s: regex[%zu] '%.128s' is not a POSIX extended regular expression: %s",
                              where, i, text, why);
        }
        r->n_regex++;
        regmatch_t m = {.rm_so = 0, .rm_eo = 0};
        if (regexec(&r->regex[i], "", 1, &m, 0) == 0)
            return jn_err_set(err, JN_EINVAL, "%s: regex[%zu] '%.128s' matches the empty text (it would mask nothing "
                                              "or everything)", where, i, text);
    }
    return 0;
}

static jn_redact *parse_doc(json_t *doc, const char *where, jn_err *err)
{
    if (!json_is_object(doc)) {
        jn_err_set(err, JN_EINVAL, "%s: the redaction rules must be a JSON object ({\"ports\": [...], \"patterns\": "
                                   "[...], \"regex\": [...]})", where);
        return NULL;
    }
    jn_redact *r = calloc(1, sizeof *r);
    if (!r) {
        jn_err_set(err, JN_ENOMEM, "%s: out of memory", where);
        return NULL;
    }
    const char *key;
    json_t *v;
    int rc = 0;
    json_object_foreach(doc, key, v) {
        if (strcmp(key, "ports") == 0)
            rc = parse_ports(r, v, where, err);
        else if (strcmp(key, "patterns") == 0)
            rc = parse_patterns(r, v, where, err);
        else if (strcmp(key, "regex") == 0)
            rc = parse_regex(r, v, where, err);
        else
            rc = jn_err_set(err, JN_EINVAL, "%s: '%.64s' is not a field (ports, patterns, regex)", where, key);
        if (rc) {
            jn_redact_free(r);
            return NULL;
        }
    }
    return r;
}

jn_redact *jn_redact_parse(const char *text, size_t len, const char *where, jn_err *err)
{
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, 0, &jerr);
    if (!doc) {
        jn_err_set(err, JN_EINVAL, "%s: line %d: %s", where, jerr.line, jerr.text);
        return NULL;
    }
    jn_redact *r = parse_doc(doc, where, err);
    json_decref(doc);
    return r;
}

jn_redact *jn_redact_load_file(const char *path, jn_err *err)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    if (!doc) {
        if (jerr.line < 0) /* not opened or not read */
            jn_err_set(err, JN_EIO, "%s: %s", path, jerr.text);
        else
            jn_err_set(err, JN_EINVAL, "%s: line %d: %s", path, jerr.line, jerr.text);
        return NULL;
    }
    jn_redact *r = parse_doc(doc, path, err);
    json_decref(doc);
    return r;
}

bool jn_redact_port(const jn_redact *r, const char *name)
{
    if (!r || !name)
        return false;
    for (size_t i = 0; i < r->n_ports; i++)
        if (strcasecmp(r->ports[i], name) == 0)
            return true;
    return false;
}

unsigned jn_redact_patterns(const jn_redact *r)
{
    return r ? r->patterns : 0;
}

size_t jn_redact_regex_count(const jn_redact *r)
{
    return r ? r->n_regex : 0;
}

/* ---- checks ---- */

bool jn_redact_luhn_ok(const char *digits, size_t n)
{
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(digits[n - 1 - i] - '0');
        if (d > 9)
            return false;
        if (i & 1)
            d = d * 2 > 9 ? d * 2 - 9 : d * 2;
        sum += d;
    }
    return n > 0 && sum % 10 == 0;
}

bool jn_redact_iban_ok(const char *iban, size_t n)
{
    if (n < 15 || n > 34)
        return false;
    unsigned rem = 0;
    for (size_t k = 0; k < n; k++) {
        char c = iban[(k + 4) % n]; /* the first four characters go to the end */
        if (c >= '0' && c <= '9')
            rem = (rem * 10 + (unsigned)(c - '0')) % 97;
        else if (isalpha((unsigned char)c))
            rem = (rem * 100 + (unsigned)(toupper((unsigned char)c) - 'A' + 10)) % 97;
        else
            return false;
    }
    return rem == 1;
}

/* ---- the masker ---- */

static bool is_alnum(char c)
{
    return isalnum((unsigned char)c) != 0;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool local_char(char c)
{
    return is_alnum(c) || (c && strchr("._%+_-", c));
}

/* An e-mail address starting at s[i] (the start of a run of local-part characters): its length, or 0. */
static size_t scan_email(const char *s, size_t n, size_t i)
{
    if (i > 0 && local_char(s[i - 1]))
        return 0;
    size_t j = i;
    while (j < n && local_char(s[j]))
        j++;
    if (j == i || j >= n || s[j] != '@' || s[i] == '.' || s[j - 1] == '.')
        return 0;
    size_t d = j + 1, end = d, last_dot = 0;
    size_t label = 0;
    for (size_t k = d; k < n; k++) {
        char c = s[k];
        if (is_alnum(c) || c == '-') {
            label++;
            if (is_alnum(c))
                end = k + 1; /* a domain never ends in '-' or '.' */
        } else if (c == '.' && label > 0 && k + 1 < n && is_alnum(s[k + 1])) {
            last_dot = k;
            label = 0;
        } else {
            break;
        }
    }
    if (!last_dot || last_dot < d || end <= last_dot + 1)
        return 0;
    size_t tld = 0; /* the top-level label: 2+ letters */
    for (size_t k = last_dot + 1; k < end; k++) {
        if (!isalpha((unsigned char)s[k]))
            return 0;
        tld++;
    }
    return tld >= 2 ? end - i : 0;
}

/* An IBAN starting at s[i]: its length (separators included), or 0. */
static size_t scan_iban(const char *s, size_t n, size_t i)
{
    if ((i > 0 && is_alnum(s[i - 1])) || i + 4 > n || !isupper((unsigned char)s[i]) ||
        !isupper((unsigned char)s[i + 1]) || !is_digit(s[i + 2]) || !is_digit(s[i + 3]))
        return 0;
    char compact[34];
    size_t ends[34]; /* ends[k]: the text length when the IBAN is the first k+1 characters (0: not a group end) */
    size_t m = 0, j = i;
    while (j < n && m < 34) {
        if (is_alnum(s[j])) {
            compact[m] = s[j];
            ends[m] = (j + 1 >= n || !is_alnum(s[j + 1])) ? j + 1 - i : 0;
            m++;
            j++;
        } else if (s[j] == ' ' && j + 1 < n && is_alnum(s[j + 1]) && m >= 4) {
            j++;
        } else {
            break;
        }
    }
    for (size_t k = m; k >= 15; k--)
        if (ends[k - 1] && jn_redact_iban_ok(compact, k))
            return ends[k - 1];
    return 0;
}

/* Does s[i] continue a group of digits before it ("1234 5678": the 5 does)? A number starts at its first group. */
static bool continues_digits(const char *s, size_t i)
{
    return i >= 2 && strchr(" -.()", s[i - 1]) && s[i - 1] && (is_digit(s[i - 2]) || s[i - 2] == ')');
}

/* A card number starting at s[i]: its length, or 0. */
static size_t scan_card(const char *s, size_t n, size_t i)
{
    if (!is_digit(s[i]) || (i > 0 && is_digit(s[i - 1])) || continues_digits(s, i))
        return 0;
    char digits[19];
    size_t ends[19];
    size_t m = 0, j = i;
    while (j < n && m < 19) {
        if (is_digit(s[j])) {
            digits[m] = s[j];
            ends[m] = (j + 1 >= n || !is_digit(s[j + 1])) ? j + 1 - i : 0;
            m++;
            j++;
        } else if ((s[j] == ' ' || s[j] == '-') && j + 1 < n && is_digit(s[j + 1])) {
            j++;
        } else {
            break;
        }
    }
    if (m == 19 && j < n && is_digit(s[j]))
        ends[18] = 0; /* a longer unseparated run is not a card */
    for (size_t k = m; k >= 13; k--)
        if (ends[k - 1] && jn_redact_luhn_ok(digits, k))
            return ends[k - 1];
    return 0;
}

/* A phone number starting at s[i]: its length, or 0. */
static size_t scan_phone(const char *s, size_t n, size_t i)
{
    char c0 = s[i];
    if (!(is_digit(c0) || c0 == '+' || c0 == '(') || (i > 0 && (is_alnum(s[i - 1]) || s[i - 1] == '+')) ||
        continues_digits(s, i))
        return 0;
    size_t j = i, digits = 0, end = 0, groups = 0, run = 0;
    bool plus = c0 == '+', paren = false, seps = false;
    if (plus)
        j++;
    size_t gap = 0; /* separator characters since the last digit */
    int group_len[16] = {0};
    unsigned sep_kinds = 0; /* 1: '.', 2: ' ' or '-' */
    while (j < n) {
        char c = s[j];
        if (is_digit(c)) {
            if (run == 0 && groups < 16)
                groups++;
            run++;
            if (groups <= 16)
                group_len[groups - 1] = (int)run;
            digits++;
            gap = 0;
            end = j + 1;
            if (digits > 15)
                return 0;
        } else if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')') {
            if (++gap > 2 || (c == '.' && j + 1 < n && !is_digit(s[j + 1])))
                break;
            if (c == '(' || c == ')')
                paren = true;
            else
                seps = true;
            if (c != '(' && c != ')')
                sep_kinds |= c == '.' ? 1u : 2u;
            run = 0;
        } else {
            break;
        }
        j++;
    }
    if (!end || (end < n && is_alnum(s[end])))
        return 0;
    if (plus || paren || seps) {
        if (digits < 7)
            return 0;
        /* An ISO date (2026-12-07) is not a phone number. */
        if (!plus && !paren && groups == 3 && group_len[0] == 4 && group_len[1] == 2 && group_len[2] == 2)
            return 0;
        /* Nor is a decimal number (3.14159265). */
        if (!plus && !paren && groups == 2 && sep_kinds == 1)
            return 0;
    } else if (digits < 10 || digits > 12) {
        return 0;
    }
    return end - i;
}

typedef size_t (*scanner)(const char *s, size_t n, size_t i);

/* One detector over the whole text: in -> out. */
static void mask_pass(const char *s, size_t n, scanner scan, const char *tag, jn_text *out)
{
    size_t tag_len = strlen(tag), copied = 0;
    for (size_t i = 0; i < n;) {
        size_t len = scan(s, n, i);
        if (len) {
            jn_text_add(out, s + copied, i - copied);
            jn_text_add(out, tag, tag_len);
            i += len;
            copied = i;
        } else {
            i++;
        }
    }
    jn_text_add(out, s + copied, n - copied);
}

static void regex_pass(const regex_t *re, const char *s, size_t n, jn_text *out)
{
    size_t at = 0, copied = 0;
    while (at <= n) {
        regmatch_t m = {.rm_so = (regoff_t)at, .rm_eo = (regoff_t)n};
        if (regexec(re, s, 1, &m, REG_STARTEND | (at > 0 ? REG_NOTBOL : 0)) != 0)
            break;
        size_t so = (size_t)m.rm_so, eo = (size_t)m.rm_eo;
        if (eo == so) { /* an empty match: nothing to mask here */
            at = so + 1;
            continue;
        }
        jn_text_add(out, s + copied, so - copied);
        jn_text_add(out, "[MASKED]", 8);
        copied = at = eo;
    }
    jn_text_add(out, s + copied, n - copied);
}

char *jn_redact_mask(const jn_redact *r, const char *s, size_t n, size_t *out_len)
{
    jn_text cur = {0};
    jn_text_add(&cur, s, n); /* always allocates: the result is never NULL but on out of memory */
    if (r) {
        static const struct {
            unsigned bit;
            scanner scan;
            const char *tag;
        } passes[] = {
            {.bit = JN_REDACT_EMAIL, .scan = scan_email, .tag = "[EMAIL]"},
            {.bit = JN_REDACT_IBAN, .scan = scan_iban, .tag = "[IBAN]"},
            {.bit = JN_REDACT_CARD, .scan = scan_card, .tag = "[CARD]"},
            {.bit = JN_REDACT_PHONE, .scan = scan_phone, .tag = "[PHONE]"},
        };
        size_t steps = r->n_regex + sizeof passes / sizeof passes[0];
        for (size_t k = 0; k < steps && !cur.failed; k++) {
            bool is_regex = k < r->n_regex;
            if (!is_regex && !(r->patterns & passes[k - r->n_regex].bit))
                continue;
            jn_text next = {0};
            if (is_regex)
                regex_pass(&r->regex[k], cur.p, cur.len, &next);
            else
                mask_pass(cur.p, cur.len, passes[k - r->n_regex].scan, passes[k - r->n_regex].tag, &next);
            jn_text_add(&next, "", 0); /* allocated even when empty */
            free(cur.p);
            cur = next;
        }
    }
    if (cur.failed) {
        free(cur.p);
        return NULL;
    }
    if (out_len)
        *out_len = cur.len;
    return cur.p;
}
