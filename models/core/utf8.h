/*
 * utf8.h - UTF-8 checks and conversions for text that reaches JSON.
 *
 * Input files are bytes: MovieLens 100K's u.item is latin-1, most newer files
 * are UTF-8, and JSON must be UTF-8. The readers keep a string as it is when
 * it is valid UTF-8 and otherwise read it as latin-1 (ISO-8859-1: byte b is
 * code point U+00b), which never fails and is what those files are.
 *
 * "Valid" is RFC 3629: shortest form only, no surrogates (U+D800..DFFF),
 * nothing above U+10FFFF. (The text family's tokeniser deliberately uses a
 * looser, structural rule of its own; see tokenize.h.)
 */
#ifndef ENCORE_UTF8_H
#define ENCORE_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Length (1..4) of the valid UTF-8 sequence starting at s[0..n), n >= 1, or
 * 0 when it is not one. */
size_t utf8_seq(const unsigned char *s, size_t n);

/* 1 when s[0..n) is valid UTF-8 (the empty string is), else 0. */
int utf8_valid(const char *s, size_t n);

/* Encode code point c into out (room for 4 bytes); returns the bytes written,
 * or 0 for a surrogate or a value above U+10FFFF. */
size_t utf8_put(uint32_t c, char *out);

/* Decode latin-1 s[0..n) into UTF-8 at out (room for 2n bytes; not
 * NUL-terminated); returns the bytes written. */
size_t utf8_from_latin1(const char *s, size_t n, char *out);

/* Decode Windows-1252 s[0..n) into UTF-8 at out (room for 3n bytes; not
 * NUL-terminated); returns the bytes written. cp1252 is latin-1 except
 * 0x80-0x9F, which are printable there (0x85 ellipsis, 0x91-0x94 quotes,
 * 0x96 / 0x97 dashes, ...) and C1 controls in latin-1; the five bytes
 * cp1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) become the C1
 * controls of the same value, as WHATWG's decoder does. Text that a user
 * typed (rt-polarity, spreadsheets saved "ANSI") means the cp1252 reading. */
size_t utf8_from_cp1252(const char *s, size_t n, char *out);

/* A malloc'd NUL-terminated UTF-8 copy of s[0..n): valid UTF-8 is copied as
 * is, anything else is decoded as latin-1. NULL when out of memory. */
char *utf8_dup(const char *s, size_t n);

#endif
