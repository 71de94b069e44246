/* redact.h — what the request log (request_log.h) must not show: port names whose values are never logged, and
 * patterns masked in the text it does log (issue #22). One JSON file, given with `junction serve --redact FILE`:
 *
 *   {"ports": ["password", "ssn"],
 *    "patterns": ["email", "phone", "card", "iban"],
 *    "regex": ["ACME-[0-9]{6}"]}
 *
 * Every field is optional; any other field is refused.
 * - ports: input or output names (compared without regard to case) whose values are replaced by "[REDACTED]",
 *   whatever their datatype.
 * - patterns: built-in detectors, each replacing what it finds by a tag:
 *     email  local@domain.tld (RFC 5322's usual atoms, a dotted domain, a top-level label of 2+ letters) -> [EMAIL]
 *     phone  7-15 digits (E.164's most) in groups separated by single spaces, dots, dashes or parentheses, an
 *            optional leading '+'; a plain run of digits counts only with 10-12 digits; an ISO date (2026-12-07)
 *            is not a phone                                                                          -> [PHONE]
 *     card   13-19 digits, optionally grouped by single spaces or dashes, that pass the Luhn check (the longest
 *            such prefix ending at a group boundary); a digit run that fails it is left alone        -> [CARD]
 *     iban   two capital letters, two check digits, then 11-30 letters or digits (optionally in groups of any
 *            size separated by single spaces), 15-34 characters in all, that pass ISO 13616's mod-97 check -> [IBAN]
 *   Detectors run in that order (email, iban, card, phone) so a card number is a card, not a phone.
 * - regex: POSIX extended regular expressions (regcomp(3) with REG_EXTENDED, from the C library), each match
 *   -> [MASKED]; they run before the built-in detectors, on the text as it came. At most 64 of 256 characters each;
 *   expressions whose compiled form could grow without bound (stacked quantifiers, counted repetitions above 100,
 *   nested ones past 2000 copies) are refused, as is one that matches the empty text.
 * Masking errs towards masking: anything a detector accepts is masked, even if it was not what the detector is named
 * after (an IP address with 10+ digits reads as a phone number).
 *
 * Ownership: jn_redact_load_file / _parse return an object the caller frees with jn_redact_free. jn_redact_mask
 * returns malloc'd text the caller frees.
 * Thread-safety: a loaded configuration is immutable; every function may be called from any thread at once
 * (regexec on a shared compiled expression is thread-safe in glibc).
 */
#ifndef JN_REDACT_H
#define JN_REDACT_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

typedef struct jn_redact jn_redact;

/* Built-in detectors, as bits of jn_redact_patterns. */
enum {
    JN_REDACT_EMAIL = 1 << 0,
    JN_REDACT_PHONE = 1 << 1,
    JN_REDACT_CARD = 1 << 2,
    JN_REDACT_IBAN = 1 << 3,
};

#define JN_REDACT_VALUE "[REDACTED]" /* what a redacted port's value becomes */
/* User expressions: at most this long, counted repetitions ({m,n}) at most this large, nested repetitions at most
 * this many copies in all, and no quantifier right after another ("a+*"): glibc's regcomp grows without bound on
 * those. */
#define JN_REDACT_REGEX_MAX 256
#define JN_REDACT_REGEX_MAX_REPEAT 100
#define JN_REDACT_REGEX_MAX_COST 2000

/* Parses a configuration document; `where` names it in messages (the file name). NULL with err set (JN_EINVAL
 * naming `where` and the field: "redact.json: patterns[1]: 'mail' is not a pattern (email, phone, card, iban)"),
 * or JN_ENOMEM. */
jn_redact *jn_redact_parse(const char *text, size_t len, const char *where, jn_err *err);
/* Reads and parses FILE; JN_EIO naming the file when it cannot be read. */
jn_redact *jn_redact_load_file(const char *path, jn_err *err);
void jn_redact_free(jn_redact *r);

/* Is `name` a redacted port? False for r == NULL. */
bool jn_redact_port(const jn_redact *r, const char *name);
/* The built-in detectors that are on (JN_REDACT_* bits) and the number of user expressions. */
unsigned jn_redact_patterns(const jn_redact *r);
size_t jn_redact_regex_count(const jn_redact *r);

/* [s, s+n) with every pattern masked: malloc'd, NUL-terminated (*out_len without the NUL), or NULL on out of
 * memory. Text with NUL bytes is masked as a whole (regexec's REG_STARTEND). r == NULL copies the text. */
char *jn_redact_mask(const jn_redact *r, const char *s, size_t n, size_t *out_len);

/* The checks the detectors use, exposed for the tests. digits: ASCII digits only. */
bool jn_redact_luhn_ok(const char *digits, size_t n);
/* An IBAN without separators (upper- or lower-case letters): its mod-97 remainder is 1. */
bool jn_redact_iban_ok(const char *iban, size_t n);

#endif
