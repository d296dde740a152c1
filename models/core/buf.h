/*
 * buf.h - a growable byte buffer and the JSON text writers the hot paths use.
 *
 * The server builds responses by appending pre-escaped fragments instead of
 * building jansson trees: a recommend response is ~10 memcpy's and numbers.
 * jansson still parses every request and writes the cold responses.
 */
#ifndef ENCORE_BUF_H
#define ENCORE_BUF_H

#include <stddef.h>
#include <string.h>

typedef struct buf {
    char *data; /* owned; NUL-terminated when len < cap */
    size_t len, cap;
    int oom; /* set once an allocation failed; later appends are no-ops */
} buf;

void buf_init(buf *b);
void buf_free(buf *b);                 /* releases data; the struct can be reused */
int buf_reserve(buf *b, size_t extra); /* 0 or ENC_ENOMEM */
/* Append n bytes / a C string. Inline: a response is dozens of appends, and
 * the common case (room left) is a compare and a memcpy. */
static inline void buf_append(buf *b, const void *p, size_t n)
{
    if ((b->oom || b->len + n + 1 > b->cap) && buf_reserve(b, n))
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}
static inline void buf_puts(buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}
void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s[0..n) as a JSON string body (no quotes): escapes quotes, backslash
 * and control bytes; bytes that are not valid UTF-8 are written as the
 * latin-1 code point (\u00XX), so any input gives valid JSON. */
void buf_json_escape(buf *b, const char *s, size_t n);
/* Append a quoted JSON string. */
void buf_json_str(buf *b, const char *s, size_t n);
/* Append a float the way JSON wants it: finite values in %.7g ("1.234567"),
 * non-finite as null. */
void buf_json_float(buf *b, double v);
/* Append a decimal integer (no printf: this runs on every request). */
void buf_int(buf *b, long long v);
/* Take ownership of the data (caller frees); the buffer is reset. */
char *buf_steal(buf *b, size_t *len);

#endif
