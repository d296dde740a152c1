/* event.c - event types, id checks and time parsing (see event.h). */
#include "events/event.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int ev_types_parse(const char *spec, struct ev_types *out, enc_err *err)
{
    memset(out, 0, sizeof *out);
    if (!spec)
        return enc_errf(err, ENC_EINVAL, "event_weights: empty");
    const char *p = spec;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *name = p;
        while (*p && *p != ':' && *p != ',')
            p++;
        const char *name_end = p;
        while (name_end > name && name_end[-1] == ' ')
            name_end--;
        size_t nlen = (size_t)(name_end - name);
        if (*p != ':')
            return enc_errf(err, ENC_EINVAL, "event_weights: '%.*s' needs ':WEIGHT'",
                            (int)(nlen > 40 ? 40 : nlen), name);
        if (nlen == 0 || nlen > EV_TYPE_MAX)
            return enc_errf(err, ENC_EINVAL,
                            "event_weights: a type name must have 1 to %d characters", EV_TYPE_MAX);
        for (size_t i = 0; i < nlen; i++)
            if (!(islower((unsigned char)name[i]) || isdigit((unsigned char)name[i]) ||
                  name[i] == '_' || name[i] == '-'))
                return enc_errf(err, ENC_EINVAL,
                                "event_weights: type '%.*s': use lower-case letters, digits, "
                                "'_' and '-'",
                                (int)nlen, name);
        p++;
        char *end;
        double w = strtod(p, &end);
        if (end == p || !isfinite(w) || w < -1000 || w > 1000)
            return enc_errf(err, ENC_EINVAL,
                            "event_weights: type '%.*s': weight must be a number in -1000..1000",
                            (int)nlen, name);
        p = end;
        while (*p == ' ')
            p++;
        if (*p && *p != ',')
            return enc_errf(err, ENC_EINVAL, "event_weights: type '%.*s': junk after the weight",
                            (int)nlen, name);
        if (ev_types_find(out, name, nlen) >= 0)
            return enc_errf(err, ENC_EINVAL, "event_weights: type '%.*s' given twice", (int)nlen,
                            name);
        if (out->n == EV_TYPES_MAX)
            return enc_errf(err, ENC_EINVAL, "event_weights: more than %d types", EV_TYPES_MAX);
        memcpy(out->name[out->n], name, nlen);
        out->name[out->n][nlen] = '\0';
        out->weight[out->n] = (float)w;
        out->n++;
    }
    if (out->n == 0)
        return enc_errf(err, ENC_EINVAL, "event_weights: no types");
    return 0;
}

int ev_types_find(const struct ev_types *t, const char *name, size_t len)
{
    for (int i = 0; i < t->n; i++)
        if (strlen(t->name[i]) == len && memcmp(t->name[i], name, len) == 0)
            return i;
    return -1;
}

float ev_types_weight(const struct ev_types *t, const char *name, size_t len, int *known)
{
    int i = ev_types_find(t, name, len);
    if (known)
        *known = i >= 0;
    return i >= 0 ? t->weight[i] : 0.0f;
}

const char *ev_id_problem(const char *s, size_t len)
{
    if (len == 0)
        return "must not be empty";
    if (len > EV_ID_MAX)
        return "is longer than 256 bytes";
    const unsigned char *p = (const unsigned char *)s, *e = p + len;
    while (p < e) {
        unsigned c = *p;
        if (c < 0x20 || c == 0x7f)
            return "contains a control character";
        if (c < 0x80) {
            p++;
            continue;
        }
        size_t n;
        unsigned min;
        if ((c & 0xe0) == 0xc0)
            n = 2, min = 0x80, c &= 0x1f;
        else if ((c & 0xf0) == 0xe0)
            n = 3, min = 0x800, c &= 0x0f;
        else if ((c & 0xf8) == 0xf0)
            n = 4, min = 0x10000, c &= 0x07;
        else
            return "is not valid UTF-8";
        if ((size_t)(e - p) < n)
            return "is not valid UTF-8";
        for (size_t i = 1; i < n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return "is not valid UTF-8";
            c = (c << 6) | (p[i] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return "is not valid UTF-8";
        if (c >= 0x80 && c < 0xa0)
            return "contains a control character";
        p += n;
    }
    return NULL;
}

static int digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int ev_time_parse(const char *s, size_t len, int64_t *out)
{
    if (len == 0 || len > 64)
        return ENC_EINVAL;
    size_t i = 0;
    while (i < len && isdigit((unsigned char)s[i]))
        i++;
    if (i == len) { /* plain seconds */
        if (len > 12)
            return ENC_EINVAL;
        int64_t v = 0;
        for (size_t k = 0; k < len; k++)
            v = v * 10 + (s[k] - '0');
        *out = v;
        return 0;
    }
    /* RFC 3339: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM) */
    int Y, M, D, h, m, sec;
    if (len < 20 || digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) || s[7] != '-' ||
        digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &m) || s[16] != ':' ||
        digits(s + 17, 2, &sec))
        return ENC_EINVAL;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return ENC_EINVAL;
    i = 19;
    if (i < len && s[i] == '.') {
        i++;
        size_t f = i;
        while (i < len && isdigit((unsigned char)s[i]))
            i++;
        if (i == f)
            return ENC_EINVAL;
    }
    int64_t off = 0;
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int oh, om;
        if (digits(s + i + 1, 2, &oh) || digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return ENC_EINVAL;
        off = (int64_t)(oh * 3600 + om * 60) * (s[i] == '+' ? 1 : -1);
        i += 6;
    } else {
        return ENC_EINVAL;
    }
    if (i != len)
        return ENC_EINVAL;
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
    if (D > mdays[M - 1] || (M == 2 && D == 29 && !leap))
        return ENC_EINVAL;
    /* days from civil (Howard Hinnant's algorithm): no timegm, no TZ. */
    int y = Y - (M <= 2);
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (M + (M > 2 ? -3 : 9)) + 2) / 5 + D - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = (int64_t)era * 146097 + doe - 719468;
    *out = days * 86400 + h * 3600 + m * 60 + (sec > 59 ? 59 : sec) - off;
    return 0;
}
