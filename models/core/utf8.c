/* utf8.c - UTF-8 checks and latin-1 conversion (see utf8.h). */
#include "core/utf8.h"

#include <stdlib.h>
#include <string.h>

size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t k;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) { /* 0xC0, 0xC1 could only start overlong forms */
        k = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        k = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        k = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < k)
        return 0;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return k;
}

int utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        if (u[i] < 0x80) { /* ASCII runs: the common case */
            i++;
            continue;
        }
        size_t k = utf8_seq(u + i, n - i);
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

size_t utf8_put(uint32_t c, char *o)
{
    if (c < 0x80) {
        o[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (char)(0xC0 | c >> 6);
        o[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c >= 0xD800 && c < 0xE000)
        return 0;
    if (c < 0x10000) {
        o[0] = (char)(0xE0 | c >> 12);
        o[1] = (char)(0x80 | (c >> 6 & 0x3F));
        o[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    if (c < 0x110000) {
        o[0] = (char)(0xF0 | c >> 18);
        o[1] = (char)(0x80 | (c >> 12 & 0x3F));
        o[2] = (char)(0x80 | (c >> 6 & 0x3F));
        o[3] = (char)(0x80 | (c & 0x3F));
        return 4;
    }
    return 0;
}

size_t utf8_from_latin1(const char *s, size_t n, char *out)
{
    char *p = out;
    for (size_t i = 0; i < n; i++)
        p += utf8_put((unsigned char)s[i], p);
    return (size_t)(p - out);
}

/* U+0080 + i for byte 0x80 + i, in cp1252. */
static const uint16_t cp1252_high[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
};

size_t utf8_from_cp1252(const char *s, size_t n, char *out)
{
    char *p = out;
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)s[i];
        p += utf8_put(b >= 0x80 && b < 0xA0 ? cp1252_high[b - 0x80] : b, p);
    }
    return (size_t)(p - out);
}

char *utf8_dup(const char *s, size_t n)
{
    int valid = utf8_valid(s, n);
    char *o = malloc(valid ? n + 1 : 2 * n + 1);
    if (!o)
        return NULL;
    size_t len = n;
    if (valid)
        memcpy(o, s, n);
    else
        len = utf8_from_latin1(s, n, o);
    o[len] = '\0';
    return o;
}
