/* float_text.h — an FP32 value as JSON number text, without printf: the shortest of its 6-, 7- and 8-significant-
 * digit roundings that reads back as the same float, else its 9-digit rounding (9 digits always read back), laid
 * out as jansson prints a real with JSON_REAL_PRECISION(9): "%.9g" style (exponent form below 1e-4 and from 1e9),
 * no '+' and no leading zeros in the exponent, ".0" added to a number that has neither '.' nor 'e'
 * ("2.0", "0.85", "-1.25e-5", "3.4028235e38", "123456790.0", "-0.0").
 *
 * This is byte for byte what the REST front end printed before through jansson (json_tensor.c: the "%.Ng" loop,
 * json_real, json_dumps with JSON_REAL_PRECISION(9)); tests/unit/http/test_float_text.c checks both against each
 * other and the round trip strtof(text) == value and (float)strtod(text) == value.
 *
 * How: exact integer arithmetic on the value's binary form (unsigned __int128: GCC or Clang on a 64-bit target, as
 * Debian's amd64 and arm64 are), so the rounding of each candidate and the check that it reads back are decided
 * exactly (round half to even, as glibc's printf and strtod do). Values below about 1e-35 (subnormals included),
 * where the 128-bit products would not fit, take the old snprintf/strtod path (same output, slower).
 *
 * Thread-safety: pure functions. Ownership: the caller's buffer.
 */
#ifndef JN_HTTP_FLOAT_TEXT_H
#define JN_HTTP_FLOAT_TEXT_H

#include <stddef.h>

/* Longest text jn_float32_text writes, not counting a NUL (it writes none): "-1.23456789e-45" is 15. */
#define JN_FLOAT32_TEXT_MAX 24

/* Writes the text of finite `value` to out (at least JN_FLOAT32_TEXT_MAX bytes, no NUL added); returns its length.
 * NaN and infinities are the caller's business (JSON has no literal for them): the result is unspecified. */
size_t jn_float32_text(float value, char *out);

/* The same text made the old way (snprintf "%.6g".."%.8g" + strtod, then "%.9g" and jansson's fix-ups). Exposed for
 * the tests, and used by jn_float32_text for the values its integer path does not cover. */
size_t jn__float32_text_printf(float value, char *out);

#endif
