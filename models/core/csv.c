/* csv.c - delimited text, in place (see csv.h). */
#include "core/csv.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/utf8.h"

void csv_init(struct csv_reader *r, char *buf, size_t len, char sep, unsigned flags)
{
    memset(r, 0, sizeof *r);
    r->p = r->line_start = r->start = buf;
    r->end = buf + len;
    r->sep = sep;
    r->flags = flags;
    r->lineno = 1;
}

void csv_free(struct csv_reader *r)
{
    free(r->f);
    r->f = NULL;
    r->n = r->cap = 0;
}

const char *csv_error_text(enum csv_error e)
{
    switch (e) {
    case CSV_EQUOTE:
        return "unterminated quoted field";
    case CSV_EAFTER_QUOTE:
        return "text after a closing quote";
    case CSV_ENUL:
        return "NUL byte in line";
    default:
        return "";
    }
}

static int push(struct csv_reader *r, char *s, size_t len)
{
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 16;
        struct csv_field *nf = realloc(r->f, nc * sizeof *nf);
        if (!nf)
            return ENC_ENOMEM;
        r->f = nf;
        r->cap = nc;
    }
    r->f[r->n++] = (struct csv_field){s, len};
    return 0;
}

/* Record an error about the field that starts at `start` (on line `line`,
 * which starts at `line_start`); nothing more is read. */
static int fail(struct csv_reader *r, enum csv_error e, size_t line, const char *start,
                const char *line_start)
{
    r->error = e;
    r->err_line = line;
    r->err_col = (size_t)(start - line_start) + 1;
    r->err_field = r->n + 1;
    r->p = r->end;
    return ENC_EFORMAT;
}

/* Skip an empty line ("" or "\r"; with CSV_SKIP_BLANK any white space) at
 * r->p; 1 if one was skipped. */
static int skip_blank_line(struct csv_reader *r)
{
    char *q = r->p, *end = r->end;
    if (r->flags & CSV_SKIP_BLANK) {
        while (q < end && *q != '\n' && isspace((unsigned char)*q))
            q++;
    } else if (q < end && *q == '\r') {
        q++;
    }
    if (q < end && *q != '\n')
        return 0;
    r->p = q < end ? q + 1 : end;
    if (q < end) {
        r->lineno++;
        r->line_start = r->p;
    }
    return 1;
}

/* A quoted field at *pp (on '"'): unescaped in place to [start, *fend). */
static int quoted_field(struct csv_reader *r, char **pp, char **fend, size_t line,
                        const char *line_start)
{
    char *p = *pp, *start = p, *out = p, *end = r->end;
    p++;
    for (;;) {
        if (p >= end)
            return fail(r, CSV_EQUOTE, line, start, line_start);
        char c = *p;
        if (c == '"') {
            if (p + 1 < end && p[1] == '"') {
                *out++ = '"';
                p += 2;
                continue;
            }
            p++;
            break;
        }
        if (c == '\0')
            return fail(r, CSV_ENUL, r->lineno, start, line_start);
        if (c == '\n') {
            if (!(r->flags & CSV_MULTILINE))
                return fail(r, CSV_EQUOTE, line, start, line_start);
            r->lineno++;
            r->line_start = p + 1;
        }
        *out++ = *p++;
    }
    if (p < end && *p == '\r' && (p + 1 == end || p[1] == '\n'))
        p++;
    if (p < end && *p == '\0')
        return fail(r, CSV_ENUL, r->lineno, start, line_start);
    if (p < end && *p != r->sep && *p != '\n')
        return fail(r, CSV_EAFTER_QUOTE, r->lineno, start, line_start);
    *pp = p;
    *fend = out;
    return 0;
}

int csv_next(struct csv_reader *r)
{
    r->error = CSV_OK;
    r->n = 0;
    while (r->p < r->end && skip_blank_line(r))
        ;
    if (r->p >= r->end)
        return 0;
    char *p = r->p, *end = r->end;
    const char sep = r->sep;
    r->line = r->lineno;
    r->start = p;
    for (;;) {
        char *start = p, *fend;
        const char *ls = r->line_start;
        size_t line = r->lineno;
        if ((r->flags & CSV_QUOTES) && p < end && *p == '"') {
            int rc = quoted_field(r, &p, &fend, line, ls);
            if (rc)
                return rc;
        } else {
            while (p < end && *p != sep && *p != '\n' && *p)
                p++;
            if (p < end && *p == '\0')
                return fail(r, CSV_ENUL, line, start, ls);
            fend = p;
            if ((p >= end || *p == '\n') && fend > start && fend[-1] == '\r')
                fend--;
        }
        char term = p < end ? *p : '\n';
        *fend = '\0'; /* at end: the spare byte */
        if (push(r, start, (size_t)(fend - start)))
            return ENC_ENOMEM;
        if (p >= end) {
            p = end;
            break;
        }
        p++;
        if (term == '\n') {
            r->lineno++;
            r->line_start = p;
            break;
        }
    }
    r->p = p;
    return 1;
}

char *csv_line(struct csv_reader *r, size_t *len)
{
    if (r->p >= r->end)
        return NULL;
    char *s = r->p, *nl = memchr(s, '\n', (size_t)(r->end - s));
    char *e = nl ? nl : r->end;
    r->line = r->lineno;
    r->start = s;
    r->p = nl ? nl + 1 : r->end;
    if (nl) {
        r->lineno++;
        r->line_start = r->p;
    }
    if (e > s && e[-1] == '\r')
        e--;
    *e = '\0';
    *len = (size_t)(e - s);
    return s;
}

/* ---- fields ------------------------------------------------------------ */

int csv_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)s[i]))
            return 0;
    return 1;
}

void csv_trim_span(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

char *csv_trim(struct csv_field *f)
{
    const char *s = f->s;
    size_t n = f->len;
    csv_trim_span(&s, &n);
    f->s += s - f->s;
    f->len = n;
    f->s[n] = '\0';
    return f->s;
}

int csv_is_integer(const char *s, size_t n)
{
    size_t i = n && (s[0] == '-' || s[0] == '+') ? 1 : 0;
    if (i >= n)
        return 0;
    for (; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

int csv_name_is(const char *s, size_t n, const char *const *names)
{
    for (; *names; names++) {
        size_t k = strlen(*names), i = 0;
        if (k != n)
            continue;
        while (i < n && tolower((unsigned char)s[i]) == tolower((unsigned char)(*names)[i]))
            i++;
        if (i == n)
            return 1;
    }
    return 0;
}

int csv_number(const char *s, size_t n, double *out)
{
    csv_trim_span(&s, &n);
    if (n == 0)
        return CSV_NUM_EMPTY;
    char tmp[256];
    if (n >= sizeof tmp)
        return CSV_NUM_BAD;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *e;
    errno = 0;
    double d = strtod(tmp, &e);
    if (e == tmp || *e)
        return CSV_NUM_BAD;
    *out = d;
    return errno == ERANGE ? CSV_NUM_RANGE : CSV_NUM_OK;
}

/* ---- a first look at a whole file --------------------------------------- */

#define SNIFF_LINES 64

static const char sniff_seps[] = {'\t', ',', ';', '|'};

/* Fields of line [s, e) split on sep outside quotes: spans into f (up to
 * cap), quotes stripped (not unescaped: enough to tell numbers). Returns the
 * count. */
static size_t sniff_split(const char *s, const char *e, char sep, const char **fs, size_t *fl,
                          size_t cap)
{
    size_t n = 0;
    const char *p = s;
    for (;;) {
        const char *a = p;
        int q = 0;
        while (p < e && (q || *p != sep)) {
            if (*p == '"')
                q = !q;
            p++;
        }
        if (n < cap) {
            const char *b = p;
            if (b - a >= 2 && *a == '"' && b[-1] == '"') {
                a++;
                b--;
            }
            fs[n] = a;
            fl[n] = (size_t)(b - a);
        }
        n++;
        if (p >= e)
            return n;
        p++;
    }
}

static int is_num(const char *s, size_t n)
{
    double d;
    return csv_number(s, n, &d) == CSV_NUM_OK;
}

/* Is line 0 a header, given the lines' field spans with `nf` fields each
 * (lines whose count differs are ignored)? */
static int sniff_header(const char *const *ls, const char *const *le, size_t nl, char sep,
                        size_t nf)
{
    if (nl < 2 || nf == 0 || nf > 256)
        return 0;
    const char *fs[256], *gs[256];
    size_t fl[256], gl[256];
    if (sniff_split(ls[0], le[0], sep, fs, fl, 256) != nf)
        return 0;
    int numeric_col[256], first_has_num = 0, rest_all_num = 1, rows = 0;
    for (size_t j = 0; j < nf; j++) {
        numeric_col[j] = 1;
        first_has_num |= is_num(fs[j], fl[j]);
    }
    for (size_t i = 1; i < nl; i++) {
        if (sniff_split(ls[i], le[i], sep, gs, gl, 256) != nf)
            continue;
        rows++;
        int any = 0;
        for (size_t j = 0; j < nf; j++) {
            int num = is_num(gs[j], gl[j]);
            any |= num;
            numeric_col[j] &= num;
        }
        rest_all_num &= any;
    }
    if (!rows)
        return 0;
    for (size_t j = 0; j < nf; j++)
        if (numeric_col[j] && fl[j] && !is_num(fs[j], fl[j]))
            return 1;
    return !first_has_num && rest_all_num;
}

void csv_sniff(const char *buf, size_t len, struct csv_sniff *out)
{
    memset(out, 0, sizeof *out);
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        out->bom = 3;
    out->encoding = utf8_valid(buf + out->bom, len - out->bom) ? CSV_UTF8 : CSV_LATIN1;
    const char *ls[SNIFF_LINES], *le[SNIFF_LINES];
    size_t nl = 0;
    const char *p = buf + out->bom, *end = buf + len;
    while (p < end && nl < SNIFF_LINES) {
        const char *nlp = memchr(p, '\n', (size_t)(end - p));
        const char *e = nlp ? nlp : end;
        const char *next = nlp ? nlp + 1 : end;
        if (e > p && e[-1] == '\r')
            e--;
        if (!csv_blank(p, (size_t)(e - p))) {
            ls[nl] = p;
            le[nl] = e;
            nl++;
        }
        p = next;
    }
    out->lines = nl;
    size_t best = 0;
    for (size_t k = 0; k < sizeof sniff_seps; k++) {
        /* the field count most lines share (first seen wins a tie) */
        size_t counts[SNIFF_LINES], mode = 0, mode_n = 0;
        for (size_t i = 0; i < nl; i++)
            counts[i] = sniff_split(ls[i], le[i], sniff_seps[k], NULL, NULL, 0);
        for (size_t i = 0; i < nl; i++) {
            size_t c = 0;
            for (size_t j = 0; j < nl; j++)
                c += counts[j] == counts[i];
            if (counts[i] > 1 && c > mode_n) {
                mode = counts[i];
                mode_n = c;
            }
        }
        if (mode_n > best) {
            best = mode_n;
            out->sep = sniff_seps[k];
            out->fields = mode;
        }
    }
    if (!out->sep)
        return;
    out->header = sniff_header(ls, le, nl, out->sep, out->fields);
}
