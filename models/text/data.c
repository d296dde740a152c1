/*
 * data.c - labelled text corpora for the text family: two one-example-per-
 * line files (pos / neg) or a table of labels and texts (label<TAB>text,
 * text<TAB>label, or a CSV whose header names the columns), and the k-fold
 * file format of shared/datasets/rt-polarity/folds.tsv.
 *
 * Encoding: a file that is valid UTF-8 is read as it is; any other file is
 * decoded as Windows-1252 (cp1252: latin-1 plus the printable 0x80-0x9F
 * quotes, dashes and ellipsis, which is what such files almost always are,
 * rt-polarity included) to UTF-8 first, so the tokeniser sees the same
 * bytes a client sends in UTF-8 JSON to the server. Lines are split on '\n'
 * only (the line numbers stay those of the file).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/text.h"
#include "core/csv.h"
#include "core/file.h"
#include "core/strmap.h"
#include "core/strv.h"
#include "core/utf8.h"

void text_data_clear(struct text_data *d)
{
    strv_free(d->text, d->n);
    strv_free(d->label_names, d->n_labels);
    free(d->len);
    free(d->label);
    free(d->src_file);
    free(d->src_line);
    memset(d, 0, sizeof *d);
}

static int push(struct text_data *d, size_t *cap, const char *s, size_t len, int32_t label,
                int32_t file, int64_t line)
{
    if (d->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 1024;
        char **t = realloc(d->text, nc * sizeof *t);
        if (t)
            d->text = t;
        size_t *l = realloc(d->len, nc * sizeof *l);
        if (l)
            d->len = l;
        int32_t *lb = realloc(d->label, nc * sizeof *lb);
        if (lb)
            d->label = lb;
        int32_t *sf = realloc(d->src_file, nc * sizeof *sf);
        if (sf)
            d->src_file = sf;
        int64_t *sl = realloc(d->src_line, nc * sizeof *sl);
        if (sl)
            d->src_line = sl;
        if (!t || !l || !lb || !sf || !sl)
            return ENC_ENOMEM;
        *cap = nc;
    }
    char *c = malloc(len + 1);
    if (!c)
        return ENC_ENOMEM;
    memcpy(c, s, len);
    c[len] = 0;
    d->text[d->n] = c;
    d->len[d->n] = len;
    d->label[d->n] = label;
    d->src_file[d->n] = file;
    d->src_line[d->n] = line;
    d->n++;
    return 0;
}

static int has_token(const char *s, size_t n)
{
    return tok_split(s, n, NULL, 0) > 0;
}

/* Read `path` whole as UTF-8 (see the top of the file): *buf (caller frees),
 * *decoded = 1 when it was cp1252. */
static int read_utf8(const char *path, char **buf, size_t *n, int *decoded, enc_err *err)
{
    int rc = enc_read_file(path, buf, n, err);
    *decoded = 0;
    if (rc || utf8_valid(*buf, *n))
        return rc;
    if (memchr(*buf, 0, *n))
        return 0; /* a NUL byte: the readers refuse it with its line */
    char *u = malloc(3 * *n + 1);
    if (!u) {
        free(*buf);
        return enc_errf(err, ENC_ENOMEM, "%s: out of memory", path);
    }
    size_t len = utf8_from_cp1252(*buf, *n, u);
    u[len] = '\0';
    free(*buf);
    *buf = u;
    *n = len;
    *decoded = 1;
    return 0;
}

static const char *encoding_note(int decoded)
{
    return decoded ? "not UTF-8: decoded as cp1252 (Windows-1252) to UTF-8" : "UTF-8";
}

/* Walk the lines of a one-example-per-line file. */
static int read_lines(const char *path, struct text_data *d, size_t *cap, int32_t label,
                      int32_t file, enc_err *err)
{
    char *buf;
    size_t n;
    int decoded;
    int rc = read_utf8(path, &buf, &n, &decoded, err);
    if (rc)
        return rc;
    d->decoded[file] = decoded;
    size_t pos = 0;
    int64_t line = 0;
    while (pos < n && rc == 0) {
        const char *s = buf + pos;
        const char *nl = memchr(s, '\n', n - pos);
        size_t len = nl ? (size_t)(nl - s) : n - pos;
        pos += len + (nl ? 1 : 0);
        line++;
        if (len && s[len - 1] == '\r')
            len--;
        if (memchr(s, 0, len))
            rc = enc_errf(err, ENC_EFORMAT, "%s:%lld: NUL byte in text", path, (long long)line);
        else if (!has_token(s, len))
            rc = enc_errf(err, ENC_EFORMAT, "%s:%lld: empty example (no tokens)", path,
                          (long long)line);
        else if (push(d, cap, s, len, label, file, line))
            rc = enc_errf(err, ENC_ENOMEM, "%s: out of memory", path);
    }
    if (rc == 0 && line == 0)
        rc = enc_errf(err, ENC_EFORMAT, "%s: no examples", path);
    snprintf(d->how[file], sizeof d->how[file], "%lld lines, one example each, %s", (long long)line,
             encoding_note(decoded));
    free(buf);
    return rc;
}

int text_data_read_pair(const char *pos, const char *neg, struct text_data *d, enc_err *err)
{
    memset(d, 0, sizeof *d);
    size_t cap = 0;
    d->n_labels = 2;
    d->label_names = calloc(2, sizeof *d->label_names);
    if (!d->label_names || !(d->label_names[0] = strdup("neg")) ||
        !(d->label_names[1] = strdup("pos"))) {
        text_data_clear(d);
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    d->files[0] = pos;
    d->files[1] = neg;
    int rc = read_lines(pos, d, &cap, 1, 0, err);
    rc = rc ? rc : read_lines(neg, d, &cap, 0, 1, err);
    if (rc)
        text_data_clear(d);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- tables of labels and texts ----------------------------------------- */

/* One row of a table: the two candidate fields (label and text, in an order
 * decided later) and its line. */
struct cell {
    const char *s;
    size_t len;
};
struct row {
    struct cell a, b; /* TSV: before the first TAB, after the last; CSV: columns */
    int64_t line;
};

static const char *const label_names[] = {"label",    "labels", "class", "category", "sentiment",
                                          "polarity", "target", "y",     "tag",      NULL};
static const char *const text_names[] = {"text",    "sentence", "review", "document", "content",
                                         "comment", "tweet",    "body",   "snippet",  "phrase",
                                         "message", "x",        NULL};

/* Distinct values among the first column of rows (a, or b), counted up to
 * 1,001, and the longest. */
static size_t distinct(const struct row *rows, size_t n, int second, size_t *longest)
{
    strmap m = {0};
    *longest = 0;
    for (size_t i = 0; i < n; i++) {
        const struct cell *c = second ? &rows[i].b : &rows[i].a;
        if (c->len > *longest)
            *longest = c->len;
        if (strmap_size(&m) <= 1000 && strmap_add(&m, c->s, c->len) < 0)
            break;
    }
    size_t k = strmap_size(&m);
    strmap_clear(&m);
    return k;
}

/* Fill d from rows, taking labels from column b when label_second. */
static int rows_to_data(const char *path, const struct row *rows, size_t n, int label_second,
                        struct text_data *d, enc_err *err)
{
    char **names = NULL;
    size_t n_names = 0, names_cap = 0, cap = 0;
    strmap idx = {0};
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct cell *lb = label_second ? &rows[i].b : &rows[i].a;
        const struct cell *tx = label_second ? &rows[i].a : &rows[i].b;
        if (lb->len == 0 || lb->len > 256) {
            rc = enc_errf(err, ENC_EFORMAT,
                          "%s:%lld: label must be 1..256 bytes (the %s "
                          "column holds the labels)",
                          path, (long long)rows[i].line, label_second ? "last" : "first");
            break;
        }
        if (memchr(tx->s, 0, tx->len) || !has_token(tx->s, tx->len)) {
            rc = enc_errf(err, ENC_EFORMAT, "%s:%lld: empty text or NUL byte", path,
                          (long long)rows[i].line);
            break;
        }
        int64_t k = strmap_add(&idx, lb->s, lb->len);
        if (k < 0) {
            rc = enc_errf(err, ENC_ENOMEM, "out of memory");
            break;
        }
        if ((size_t)k == n_names) {
            if (n_names == names_cap) {
                size_t nc = names_cap ? names_cap * 2 : 8;
                char **nn = realloc(names, nc * sizeof *nn);
                if (!nn) {
                    rc = enc_errf(err, ENC_ENOMEM, "out of memory");
                    break;
                }
                names = nn;
                names_cap = nc;
            }
            if (!(names[n_names] = strndup(lb->s, lb->len))) {
                rc = enc_errf(err, ENC_ENOMEM, "out of memory");
                break;
            }
            n_names++;
        }
        if (push(d, &cap, tx->s, tx->len, (int32_t)k, 0, rows[i].line))
            rc = enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    strmap_clear(&idx);
    if (rc == 0 && n_names < 2)
        rc = enc_errf(err, ENC_EFORMAT, "%s: need at least two distinct labels, found %zu", path,
                      n_names);
    char **sorted = rc ? NULL : malloc(n_names * sizeof *sorted);
    int32_t *map = rc ? NULL : malloc(n_names * sizeof *map);
    if (rc == 0 && (!sorted || !map))
        rc = enc_errf(err, ENC_ENOMEM, "out of memory");
    if (rc) {
        free(sorted);
        free(map);
        strv_free(names, n_names);
        return rc;
    }
    /* Classes sorted by name; labels remapped. */
    memcpy(sorted, names, n_names * sizeof *sorted);
    qsort(sorted, n_names, sizeof *sorted, cmp_str);
    for (size_t k = 0; k < n_names; k++)
        for (size_t j = 0; j < n_names; j++)
            if (sorted[j] == names[k])
                map[k] = (int32_t)j;
    for (size_t i = 0; i < d->n; i++)
        d->label[i] = map[d->label[i]];
    free(map);
    free(names);
    d->label_names = sorted;
    d->n_labels = n_names;
    return 0;
}

/* TSV rows: the field before the first TAB and the one after the last (the
 * text may hold TABs of its own; a label cannot). */
static int tsv_rows(const char *path, char *buf, size_t n, struct row **out, size_t *n_out,
                    enc_err *err)
{
    size_t cap = 0, pos = 0, k = 0;
    struct row *rows = NULL;
    int64_t line = 0;
    while (pos < n) {
        char *s = buf + pos;
        char *nl = memchr(s, '\n', n - pos);
        size_t len = nl ? (size_t)(nl - s) : n - pos;
        pos += len + (nl ? 1 : 0);
        line++;
        if (len && s[len - 1] == '\r')
            len--;
        if (len == 0)
            continue; /* blank lines (e.g. a final one) are skipped */
        char *tab = memchr(s, '\t', len), *last = tab;
        if (!tab) {
            free(rows);
            return enc_errf(err, ENC_EFORMAT,
                            "%s:%lld: expected label<TAB>text or "
                            "text<TAB>label",
                            path, (long long)line);
        }
        for (char *t = tab; t; t = memchr(t + 1, '\t', (size_t)(s + len - t - 1)))
            last = t;
        if (k == cap) {
            cap = cap ? cap * 2 : 1024;
            struct row *nr = realloc(rows, cap * sizeof *nr);
            if (!nr) {
                free(rows);
                return enc_errf(err, ENC_ENOMEM, "out of memory");
            }
            rows = nr;
        }
        rows[k].a = (struct cell){s, (size_t)(tab - s)};
        rows[k].b = (struct cell){last + 1, (size_t)(s + len - last - 1)};
        rows[k].line = line;
        /* which span is the text is decided later: keep the whole rest too */
        k++;
    }
    *out = rows;
    *n_out = k;
    return 0;
}

/* CSV rows with a header naming the label and text columns (quoted fields
 * may span lines), or two columns without one. *label_col: 0 / 1 from the
 * header, -1 undecided. */
static int csv_rows(const char *path, char *buf, size_t n, struct row **out, size_t *n_out,
                    int *label_col, int *header, enc_err *err)
{
    struct csv_reader r;
    csv_init(&r, buf, n, ',', CSV_QUOTES | CSV_MULTILINE | CSV_SKIP_BLANK);
    struct row *rows = NULL;
    size_t cap = 0, k = 0;
    int lc = -1, tc = -1, got, rc = 0;
    *label_col = -1;
    *header = 0;
    while ((got = csv_next(&r)) == 1) {
        if (k == 0 && lc < 0 && !*header) {
            for (size_t j = 0; j < r.n; j++) {
                if (lc < 0 && csv_name_is(r.f[j].s, r.f[j].len, label_names))
                    lc = (int)j;
                else if (tc < 0 && csv_name_is(r.f[j].s, r.f[j].len, text_names))
                    tc = (int)j;
            }
            if (lc >= 0 && tc >= 0) {
                *header = 1;
                continue;
            }
            if (r.n != 2) {
                rc = enc_errf(err, ENC_EFORMAT,
                              "%s:1: a CSV needs a header naming its label "
                              "column (label, class, sentiment, ...) and its text column (text, "
                              "sentence, review, ...), or exactly two columns",
                              path);
                break;
            }
            lc = 0;
            tc = 1;
        }
        size_t need = (size_t)(lc > tc ? lc : tc) + 1;
        if (r.n < need) {
            rc = enc_errf(err, ENC_EFORMAT,
                          "%s:%zu: expected %zu comma-separated fields, found "
                          "%zu",
                          path, r.line, need, r.n);
            break;
        }
        if (k == cap) {
            cap = cap ? cap * 2 : 1024;
            struct row *nr = realloc(rows, cap * sizeof *nr);
            if (!nr) {
                rc = enc_errf(err, ENC_ENOMEM, "out of memory");
                break;
            }
            rows = nr;
        }
        rows[k].a = (struct cell){r.f[lc].s, r.f[lc].len};
        rows[k].b = (struct cell){r.f[tc].s, r.f[tc].len};
        rows[k].line = (int64_t)r.line;
        k++;
    }
    if (rc == 0 && got < 0)
        rc = enc_errf(err, got, "%s:%zu: %s", path, r.err_line,
                      got == ENC_ENOMEM ? "out of memory" : csv_error_text(r.error));
    csv_free(&r);
    if (rc) {
        free(rows);
        return rc;
    }
    if (*header)
        *label_col = 0; /* rows hold (label, text) */
    *out = rows;
    *n_out = k;
    return 0;
}

int text_data_read_tsv(const char *path, struct text_data *d, enc_err *err)
{
    memset(d, 0, sizeof *d);
    d->files[0] = path;
    char *buf;
    size_t n;
    int decoded;
    int rc = read_utf8(path, &buf, &n, &decoded, err);
    if (rc)
        return rc;
    d->decoded[0] = decoded;
    size_t skip = n >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    const char *nl = memchr(buf + skip, '\n', n - skip);
    int tsv = memchr(buf + skip, '\t', nl ? (size_t)(nl - buf - skip) : n - skip) != NULL;
    struct row *rows = NULL;
    size_t nr = 0;
    int label_col = -1, header = 0;
    rc = tsv ? tsv_rows(path, buf + skip, n - skip, &rows, &nr, err)
             : csv_rows(path, buf + skip, n - skip, &rows, &nr, &label_col, &header, err);
    if (rc == 0 && tsv && nr &&
        ((csv_name_is(rows[0].a.s, rows[0].a.len, label_names) &&
          csv_name_is(rows[0].b.s, rows[0].b.len, text_names)) ||
         (csv_name_is(rows[0].a.s, rows[0].a.len, text_names) &&
          csv_name_is(rows[0].b.s, rows[0].b.len, label_names)))) {
        /* a header line names the order */
        header = 1;
        label_col = csv_name_is(rows[0].a.s, rows[0].a.len, label_names) ? 0 : 1;
        memmove(rows, rows + 1, (nr - 1) * sizeof *rows);
        nr--;
    }
    if (rc == 0 && nr == 0)
        rc = enc_errf(err, ENC_EFORMAT, "%s: no examples", path);
    char why[128] = "";
    if (rc == 0 && label_col < 0) {
        /* The label column is the one with fewer distinct values (a tie,
         * e.g. every text unique in a two-line file, keeps label first). */
        size_t la, lb, da = distinct(rows, nr, 0, &la), db = distinct(rows, nr, 1, &lb);
        label_col = db < da || (db == da && la > 256 && lb <= 256) ? 1 : 0;
        snprintf(why, sizeof why,
                 ": %s%zu distinct values in the first column, %s%zu in the "
                 "last",
                 da > 1000 ? "over " : "", da > 1000 ? 1000 : da, db > 1000 ? "over " : "",
                 db > 1000 ? 1000 : db);
    }
    for (size_t i = 0; rc == 0 && tsv && i < nr; i++) {
        struct row *w = &rows[i];
        if (label_col == 0) { /* label<TAB>text: the text is all after the first TAB */
            const char *end = w->b.s + w->b.len;
            w->b.s = w->a.s + w->a.len + 1;
            w->b.len = (size_t)(end - w->b.s);
        } else { /* text<TAB>label: all before the last TAB */
            w->a.len = (size_t)(w->b.s - 1 - w->a.s);
        }
    }
    if (rc == 0)
        rc = rows_to_data(path, rows, nr, label_col == 1, d, err);
    if (rc == 0)
        snprintf(d->how[0], sizeof d->how[0], "%s%s, %s%s, %s",
                 tsv ? (label_col ? "text<TAB>label" : "label<TAB>text") : "CSV",
                 tsv      ? ""
                 : header ? " with a header naming its label and text columns"
                          : " of two columns",
                 header ? "the header line says so" : "detected", why, encoding_note(decoded));
    free(rows);
    free(buf);
    if (rc)
        text_data_clear(d);
    return rc;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

int text_folds_read(const char *path, const struct text_data *d, int32_t **fold, int *n_folds,
                    enc_err *err)
{
    *fold = NULL;
    *n_folds = 0;
    char *buf;
    size_t n;
    int rc = enc_read_file(path, &buf, &n, err);
    if (rc)
        return rc;
    /* Index examples by (file, line): lines are 1-based and dense per file. */
    int64_t max_line[2] = {0, 0};
    for (size_t i = 0; i < d->n; i++)
        if (d->src_line[i] > max_line[d->src_file[i]])
            max_line[d->src_file[i]] = d->src_line[i];
    int64_t *where[2] = {calloc((size_t)max_line[0] + 1, sizeof(int64_t)),
                         calloc((size_t)max_line[1] + 1, sizeof(int64_t))};
    int32_t *fo = malloc((d->n ? d->n : 1) * sizeof *fo);
    size_t pos = 0;
    int64_t line = 0;
    int maxf = -1;
    if (!where[0] || !where[1] || !fo) {
        rc = enc_errf(err, ENC_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < d->n; i++) {
        where[d->src_file[i]][d->src_line[i]] = (int64_t)i + 1;
        fo[i] = -1;
    }
    while (pos < n && rc == 0) {
        char *s = buf + pos;
        char *nl = memchr(s, '\n', n - pos);
        size_t len = nl ? (size_t)(nl - s) : n - pos;
        pos += len + (nl ? 1 : 0);
        line++;
        if (len == 0)
            continue;
        s[len] = 0; /* buf is ours; the '\n' (or the final NUL) is replaced */
        char *t1 = strchr(s, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (!t2) {
            rc = enc_errf(err, ENC_EFORMAT, "%s:%lld: expected <file><TAB><line><TAB><fold>", path,
                          (long long)line);
            break;
        }
        *t1 = 0;
        char *e1, *e2;
        long long ln = strtoll(t1 + 1, &e1, 10), fd = strtoll(t2 + 1, &e2, 10);
        if (e1 != t2 || ln < 1 || (*e2 && *e2 != '\r') || e2 == t2 + 1 || fd < 0 || fd > 1000) {
            rc = enc_errf(err, ENC_EFORMAT, "%s:%lld: bad line number or fold", path,
                          (long long)line);
            break;
        }
        int file = -1;
        for (int k = 0; k < 2; k++)
            if (d->files[k] && strcmp(base_name(d->files[k]), s) == 0)
                file = k;
        if (file < 0)
            continue; /* a file we did not read (e.g. only --data given) */
        if (ln > max_line[file] || !where[file][ln]) {
            rc = enc_errf(err, ENC_EFORMAT, "%s:%lld: %s has no example on line %lld", path,
                          (long long)line, s, ln);
            break;
        }
        size_t ex = (size_t)where[file][ln] - 1;
        if (fo[ex] >= 0) {
            rc = enc_errf(err, ENC_EFORMAT, "%s:%lld: %s line %lld is assigned twice", path,
                          (long long)line, s, ln);
            break;
        }
        fo[ex] = (int32_t)fd;
        if (fd > maxf)
            maxf = (int)fd;
    }
    for (size_t i = 0; rc == 0 && i < d->n; i++)
        if (fo[i] < 0)
            rc = enc_errf(err, ENC_EFORMAT, "%s: %s line %lld has no fold", path,
                          base_name(d->files[d->src_file[i]]), (long long)d->src_line[i]);
    if (rc == 0 && maxf < 1)
        rc = enc_errf(err, ENC_EFORMAT, "%s: need at least two folds", path);
done:
    free(where[0]);
    free(where[1]);
    free(buf);
    if (rc) {
        free(fo);
        return rc;
    }
    *fold = fo;
    *n_folds = maxf + 1;
    return 0;
}
