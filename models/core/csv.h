/*
 * csv.h - the input layer's delimited text: records of fields with optional
 * RFC 4180 quotes, physical lines, numbers, and a look at a whole file
 * (encoding, separator, header) before choosing how to read it.
 *
 * Every trainer reader splits with it: interactions and item metadata
 * (interactions.c, items.c), imported factor matrices and id lists
 * (import.c) and labelled tables (csvtable.c).
 *
 * Reading is in place. The caller owns a writable buffer holding the whole
 * file with one spare byte after it (enc_read_file's NUL): each field is
 * NUL-terminated where it ends and a quoted field is unescaped where it
 * stands (it only shrinks), so a record costs no allocation beyond the
 * reader's field array. Field pointers stay valid until the buffer is freed.
 *
 *   "Heat, The",1995\r\n   ->   f[0] = Heat, The   f[1] = 1995
 *
 * Rules, for every separator: a record ends at '\n' (a '\r' before it is
 * dropped); an empty line is no record; a NUL byte anywhere is an error
 * (a binary file given by mistake). With CSV_QUOTES a field that starts
 * with '"' runs to the next lone '"' ("" is a literal quote) and must be
 * followed by the separator or the end of the line; with CSV_MULTILINE
 * that field may also span lines (line numbers still count physical
 * lines). Without CSV_QUOTES a '"' is an ordinary byte. Fields are not
 * trimmed (csv_trim does it). With CSV_SKIP_BLANK lines of only white
 * space are no records either.
 */
#ifndef ENCORE_CSV_H
#define ENCORE_CSV_H

#include <stddef.h>

/* A field: s[0..len) in the caller's buffer, NUL-terminated at s[len]. */
struct csv_field {
    char *s;
    size_t len;
};

enum {
    CSV_QUOTES = 1,     /* "..." fields, RFC 4180 */
    CSV_MULTILINE = 2,  /* a quoted field may hold newlines (with CSV_QUOTES) */
    CSV_SKIP_BLANK = 4, /* skip lines of only white space, not just empty ones */
};

enum csv_error {
    CSV_OK = 0,
    CSV_EQUOTE,       /* a quoted field runs to the end of its line (or file) */
    CSV_EAFTER_QUOTE, /* text between a closing quote and the separator */
    CSV_ENUL,         /* a NUL byte */
};

struct csv_reader {
    /* the input (csv_init) */
    char *p, *end; /* what is left to read */
    char sep;
    unsigned flags;
    size_t lineno;    /* physical line of p, 1-based */
    char *line_start; /* start of that line */
    /* the current record (csv_next) */
    struct csv_field *f;
    size_t n, cap;
    size_t line; /* the line it starts on */
    char *start; /* its first byte (the start of that line) */
    /* why the last csv_next failed */
    enum csv_error error;
    size_t err_line;  /* the physical line of the problem */
    size_t err_col;   /* 1-based byte column of the field's start in its line */
    size_t err_field; /* 1-based index of the field */
};

/* Read buf[0..len) (writable, with buf[len] writable too) as records
 * separated by `sep` (',', '\t', '|', ...). Allocates nothing; csv_next
 * allocates the field array, which csv_free frees. */
void csv_init(struct csv_reader *r, char *buf, size_t len, char sep, unsigned flags);

/* The next record into r->f[0 .. r->n) (r->n >= 1), starting on line
 * r->line. Returns 1, 0 at the end, ENC_EFORMAT (r->error and r->err_*
 * say what and where; csv_error_text names it) or ENC_ENOMEM. */
int csv_next(struct csv_reader *r);

/* The next physical line, NUL-terminated in place without its '\n' and a
 * '\r' before it, or NULL at the end; *len is its length, r->line its number.
 * For files that are lines, not records (id lists); no quotes, no skipping. */
char *csv_line(struct csv_reader *r, size_t *len);

/* 1-based byte column of p (a field's start, or a byte in it) in the line
 * the current record starts on (single-line records). */
static inline size_t csv_col(const struct csv_reader *r, const char *p)
{
    return (size_t)(p - r->start) + 1;
}

/* Free the field array (the buffer is the caller's). */
void csv_free(struct csv_reader *r);

/* "unterminated quoted field", "text after a closing quote", "NUL byte in
 * line" (or "" for CSV_OK). */
const char *csv_error_text(enum csv_error e);

/* ---- fields ------------------------------------------------------------ */

/* 1 when s[0..n) is only white space (isspace), else 0. */
int csv_blank(const char *s, size_t n);

/* Strip spaces and TABs at both ends of f (NUL-terminating it again). */
char *csv_trim(struct csv_field *f);

/* The same for a span that need not be NUL-terminated (moves *s, shrinks *n). */
void csv_trim_span(const char **s, size_t *n);

/* 1 when s[0..n) is an optional sign then one or more ASCII digits. */
int csv_is_integer(const char *s, size_t n);

/* 1 when s[0..n) equals one of `names` (NULL-terminated) ignoring ASCII case. */
int csv_name_is(const char *s, size_t n, const char *const *names);

enum csv_num {
    CSV_NUM_OK = 0, /* *out is the value (possibly inf or nan: "inf", "nan") */
    CSV_NUM_EMPTY,  /* nothing but spaces and TABs */
    CSV_NUM_BAD,    /* not a number (or longer than 255 bytes) */
    CSV_NUM_RANGE,  /* outside double's range: *out is strtod's inf or 0 / subnormal */
};

/* Parse s[0..n) as one number in strtod's syntax, spaces and TABs around it
 * allowed. Returns a CSV_NUM_* code; callers decide whether infinities,
 * NaN and out-of-range values are acceptable. */
int csv_number(const char *s, size_t n, double *out);

/* ---- a first look at a whole file --------------------------------------- */

enum csv_encoding { CSV_UTF8 = 0, CSV_LATIN1 = 1 };

struct csv_sniff {
    enum csv_encoding encoding; /* UTF-8 when every byte is (after a BOM), else latin-1 */
    size_t bom;                 /* 3 when the file starts with a UTF-8 BOM, else 0 */
    char sep;                   /* '\t', ',', ';' or '|' (the most consistent over the first
                                 * lines), or 0 when no line has any of them */
    size_t fields;              /* fields per line with that separator (first data line) */
    int header;                 /* 1: the first line names columns (see csv_sniff) */
    size_t lines;               /* non-blank lines looked at (at most 64) */
};

/* Look at buf[0..len) (not modified): its encoding (the whole buffer), and
 * over the first 64 non-blank lines the separator that gives the same
 * field count (> 1) on most of them (ties: TAB, ',', ';', '|'), and whether
 * the first line is a header: it has a field that is not a number in a
 * column whose values on the following lines are all numbers, or it has no
 * number at all while every following line has one. Quotes are honoured
 * (a separator inside "..." does not count). */
void csv_sniff(const char *buf, size_t len, struct csv_sniff *out);

#endif
