/* buf.c - growable buffer and JSON text helpers (see buf.h). */
#include "core/buf.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/utf8.h"

void buf_init(buf *b)
{
    memset(b, 0, sizeof *b);
}

void buf_free(buf *b)
{
    free(b->data);
    buf_init(b);
}

int buf_reserve(buf *b, size_t extra)
{
    if (b->oom)
        return ENC_ENOMEM;
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) {
        if (cap > SIZE_MAX / 2) {
            b->oom = 1;
            return ENC_ENOMEM;
        }
        cap *= 2;
    }
    char *d = realloc(b->data, cap);
    if (!d) {
        b->oom = 1;
        return ENC_ENOMEM;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

void buf_printf(buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void buf_json_escape(buf *b, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    static const char hex[] = "0123456789abcdef";
    if (buf_reserve(b, n + 8))
        return;
    size_t i = 0;
    while (i < n) {
        /* Copy the longest run that needs no escaping in one go. */
        size_t j = i;
        while (j < n && s[j] >= 0x20 && s[j] < 0x80 && s[j] != '"' && s[j] != '\\')
            j++;
        if (j > i) {
            buf_append(b, s + i, j - i);
            i = j;
            continue;
        }
        unsigned c = s[i];
        if (c >= 0x80) {
            size_t k = utf8_seq(s + i, n - i);
            if (k) {
                buf_append(b, s + i, k);
                i += k;
                continue;
            }
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            buf_append(b, e, 6);
        } else if (c == '"') {
            buf_append(b, "\\\"", 2);
        } else if (c == '\\') {
            buf_append(b, "\\\\", 2);
        } else if (c == '\n') {
            buf_append(b, "\\n", 2);
        } else if (c == '\t') {
            buf_append(b, "\\t", 2);
        } else if (c == '\r') {
            buf_append(b, "\\r", 2);
        } else {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            buf_append(b, e, 6);
        }
        i++;
    }
}

void buf_json_str(buf *b, const char *s, size_t n)
{
    buf_append(b, "\"", 1);
    buf_json_escape(b, s, n);
    buf_append(b, "\"", 1);
}

void buf_json_float(buf *b, double v)
{
    if (!isfinite(v)) {
        buf_append(b, "null", 4);
        return;
    }
    char tmp[48];
    double a = fabs(v);
    /* Fast path for the usual range: 7 significant digits by integer
     * arithmetic (snprintf's %g costs more than scoring a small catalogue). */
    if (a >= 1e-4 && a < 1e9) {
        static const double p10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10};
        static const double pw[] = {1e-3, 1e-2, 1e-1, 1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};
        int e = -4; /* floor(log10(a)) by comparisons: log10 showed in profiles */
        while (e < 8 && a >= pw[e + 4])
            e++;
        int dec = 6 - e;
        if (dec < 0)
            dec = 0;
        if (dec > 10)
            dec = 10;
        uint64_t n = (uint64_t)llround(a * p10[dec]);
        uint64_t ip = n / (uint64_t)p10[dec], fp = n % (uint64_t)p10[dec];
        char *p = tmp + sizeof tmp;
        int nd = dec;
        while (nd > 0 && fp % 10 == 0) { /* trailing zeros of the fraction */
            fp /= 10;
            nd--;
        }
        for (int i = 0; i < nd; i++) {
            *--p = (char)('0' + fp % 10);
            fp /= 10;
        }
        if (nd > 0)
            *--p = '.';
        do {
            *--p = (char)('0' + ip % 10);
            ip /= 10;
        } while (ip);
        if (v < 0)
            *--p = '-';
        buf_append(b, p, (size_t)(tmp + sizeof tmp - p));
        return;
    }
    int n = snprintf(tmp, sizeof tmp, "%.7g", v);
    if (n > 0)
        buf_append(b, tmp, (size_t)n);
}

void buf_int(buf *b, long long v)
{
    char tmp[24], *p = tmp + sizeof tmp;
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    buf_append(b, p, (size_t)(tmp + sizeof tmp - p));
}

char *buf_steal(buf *b, size_t *len)
{
    if (buf_reserve(b, 0)) {
        buf_free(b);
        if (len)
            *len = 0;
        return NULL;
    }
    char *d = b->data;
    if (len)
        *len = b->len;
    buf_init(b);
    return d;
}
