/*
 * csvtable.c - labelled numeric tables from CSV (see csvtable.h).
 *
 * The whole file is read into memory by enc_read_file (plain or gzip), then split
 * into records in place by core/csv (RFC 4180: quoted fields, "" for a quote,
 * newlines inside quotes), so parsing allocates only the output arrays. Line
 * numbers count physical lines, so a quoted field with a newline still
 * reports the right line.
 */
#define _GNU_SOURCE /* qsort_r */
#include "table/csvtable.h"
#include "core/csv.h"
#include "core/file.h"
#include "core/rng.h"
#include "core/strv.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rec {
    char **f;
    size_t n, cap;
    size_t line; /* line the record starts on */
};

static int rec_push(struct rec *r, char *field)
{
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 16;
        char **nf = realloc(r->f, nc * sizeof *nf);
        if (!nf)
            return ENC_ENOMEM;
        r->f = nf;
        r->cap = nc;
    }
    r->f[r->n++] = field;
    return 0;
}

/* The next non-blank record's fields into r (pointers into the buffer, so
 * r1 and r2 can be held at once). Returns 1, 0 at the end, or a negative
 * code. A line holding only "" counts as blank, as an empty one does. */
static int next_record(struct csv_reader *rd, const char *path, struct rec *r, enc_err *err)
{
    int got;
    while ((got = csv_next(rd)) == 1 && rd->n == 1 && rd->f[0].len == 0)
        ;
    if (got == ENC_ENOMEM)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    if (got < 0)
        return enc_errf(err, ENC_EFORMAT, "%s:%zu: column %zu: %s", path, rd->err_line,
                        rd->err_field, csv_error_text(rd->error));
    r->n = 0;
    r->line = rd->line;
    for (size_t i = 0; got == 1 && i < rd->n; i++)
        if (rec_push(r, rd->f[i].s))
            return enc_errf(err, ENC_ENOMEM, "out of memory");
    return got;
}

static char *trim(char *s)
{
    struct csv_field f = {s, strlen(s)};
    return csv_trim(&f);
}

/* Parse a finite float; 0, or a message describing the problem. */
static const char *parse_float(const char *s, float *out)
{
    double d;
    switch (csv_number(s, strlen(s), &d)) {
    case CSV_NUM_EMPTY:
        return "missing value";
    case CSV_NUM_BAD:
        return "not a number";
    default: /* CSV_NUM_RANGE: an overflow is infinite, an underflow 0 */
        break;
    }
    if (!isfinite(d))
        return "not a finite number";
    if (fabs(d) > FLT_MAX)
        return "out of float range";
    *out = (float)d;
    return NULL;
}

static int is_int_string(const char *s)
{
    return csv_is_integer(s, strlen(s));
}

/* Label order; `numeric` (int *) compares integer labels by value.
 * qsort_r keeps the reader reentrant. */
static int cmp_label(const void *a, const void *b, void *numeric)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    if (*(const int *)numeric) {
        long long u = strtoll(x, NULL, 10), v = strtoll(y, NULL, 10);
        if (u != v)
            return u < v ? -1 : 1;
    }
    return strcmp(x, y);
}

void csvt_clear(struct csvt_table *t)
{
    if (!t)
        return;
    free(t->x);
    free(t->y);
    strv_free(t->feature_names, t->n_features);
    strv_free(t->class_names, t->n_classes);
    memset(t, 0, sizeof *t);
}

/* State of one read, shared by the row loop. */
struct ctx {
    const char *path;
    const struct csvt_options *o;
    size_t n_cols;
    char **col_names; /* borrowed (header fields) or synthesised */
    size_t label_col;
    size_t *feat_cols; /* n_features column indexes */
    size_t n_features;
    int sklearn;
    char **sk_classes; /* sklearn header class names (borrowed) */
    size_t n_sk_classes;
    /* output being built */
    float *x;
    int32_t *y;
    char **labels; /* per row (collected classes): borrowed or owned */
    size_t rows, cap;
    char label_buf[32];
    struct strv owned; /* sklearn integer labels normalised */
    char **synth;      /* sklearn column names (f0.., label) */
    size_t n_synth;
};

static int add_row(struct ctx *c, struct rec *r, enc_err *err)
{
    if (r->n != c->n_cols)
        return enc_errf(err, ENC_EFORMAT, "%s:%zu: ragged row: expected %zu fields, found %zu",
                        c->path, r->line, c->n_cols, r->n);
    if (c->rows == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 256;
        float *nx = realloc(c->x, nc * (c->n_features ? c->n_features : 1) * sizeof *nx);
        if (nx)
            c->x = nx;
        int32_t *ny = nx ? realloc(c->y, nc * sizeof *ny) : NULL;
        if (ny)
            c->y = ny;
        char **nl = ny ? realloc(c->labels, nc * sizeof *nl) : NULL;
        if (!nl)
            return enc_errf(err, ENC_ENOMEM, "%s: out of memory at line %zu", c->path, r->line);
        c->labels = nl;
        c->cap = nc;
    }
    float *xr = c->x + c->rows * c->n_features;
    for (size_t j = 0; j < c->n_features; j++) {
        size_t col = c->feat_cols[j];
        char *v = trim(r->f[col]);
        const char *why = parse_float(v, &xr[j]);
        if (why && !*v)
            return enc_errf(err, ENC_EFORMAT, "%s:%zu: column %zu (%s): missing value", c->path,
                            r->line, col + 1, c->col_names[col]);
        if (why)
            return enc_errf(err, ENC_EFORMAT, "%s:%zu: column %zu (%s): '%.40s' is %s", c->path,
                            r->line, col + 1, c->col_names[col], v, why);
    }
    char *lab = trim(r->f[c->label_col]);
    if (!*lab)
        return enc_errf(err, ENC_EFORMAT, "%s:%zu: column %zu (%s): missing label", c->path,
                        r->line, c->label_col + 1, c->col_names[c->label_col]);
    if (c->sklearn) {
        /* The label is an integer class index (digits writes "3.0"). */
        char *end;
        double d = strtod(lab, &end);
        if (end == lab || *end || d != floor(d) || d < 0 || d > 1e9)
            return enc_errf(err, ENC_EFORMAT,
                            "%s:%zu: column %zu (label): '%s' is not a class index", c->path,
                            r->line, c->label_col + 1, lab);
        long k = (long)d;
        if (c->sk_classes) {
            if ((size_t)k >= c->n_sk_classes)
                return enc_errf(
                    err, ENC_EFORMAT,
                    "%s:%zu: column %zu (label): class index %ld, the header names %zu classes",
                    c->path, r->line, c->label_col + 1, k, c->n_sk_classes);
            lab = c->sk_classes[k];
            c->y[c->rows] = (int32_t)k; /* the header's order is the class order */
        } else {
            snprintf(c->label_buf, sizeof c->label_buf, "%ld", k);
            if (strcmp(lab, c->label_buf) != 0) {
                if (strv_push(&c->owned, c->label_buf, strlen(c->label_buf)))
                    return enc_errf(err, ENC_ENOMEM, "out of memory");
                lab = c->owned.v[c->owned.n - 1];
            }
        }
    }
    if (c->o->classes) {
        size_t k;
        for (k = 0; k < c->o->n_classes; k++)
            if (strcmp(c->o->classes[k], lab) == 0)
                break;
        if (k == c->o->n_classes)
            return enc_errf(
                err, ENC_EFORMAT,
                "%s:%zu: column %zu (%s): label '%s' is not one of the model's %zu classes",
                c->path, r->line, c->label_col + 1, c->col_names[c->label_col], lab,
                c->o->n_classes);
        c->y[c->rows] = (int32_t)k;
    }
    c->labels[c->rows] = lab;
    c->rows++;
    return 0;
}

/* Resolve the label and feature columns against the column names. */
static int resolve_columns(struct ctx *c, size_t header_line, enc_err *err)
{
    const struct csvt_options *o = c->o;
    if (c->sklearn && !o->label)
        c->label_col = c->n_cols - 1;
    else {
        if (!o->label)
            return enc_errf(err, ENC_EINVAL, "%s: no label column given (--label)", c->path);
        size_t i;
        for (i = 0; i < c->n_cols; i++)
            if (strcmp(c->col_names[i], o->label) == 0)
                break;
        if (i == c->n_cols)
            return enc_errf(err, ENC_EFORMAT, "%s:%zu: no column named '%s' (the label)", c->path,
                            header_line, o->label);
        c->label_col = i;
    }
    size_t nf = o->features ? o->n_features : c->n_cols - 1;
    c->feat_cols = malloc((nf ? nf : 1) * sizeof *c->feat_cols);
    if (!c->feat_cols)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    if (o->features) {
        for (size_t j = 0; j < nf; j++) {
            size_t i;
            for (i = 0; i < c->n_cols; i++)
                if (strcmp(c->col_names[i], o->features[j]) == 0)
                    break;
            if (i == c->n_cols)
                return enc_errf(err, ENC_EFORMAT, "%s:%zu: no column named '%s' (a feature)",
                                c->path, header_line, o->features[j]);
            if (i == c->label_col)
                return enc_errf(err, ENC_EINVAL, "%s: '%s' is both the label and a feature",
                                c->path, o->features[j]);
            c->feat_cols[j] = i;
        }
    } else {
        size_t j = 0;
        for (size_t i = 0; i < c->n_cols; i++)
            if (i != c->label_col)
                c->feat_cols[j++] = i;
    }
    c->n_features = nf;
    if (nf == 0)
        return enc_errf(err, ENC_EFORMAT, "%s: no feature columns", c->path);
    for (size_t j = 0; j < nf; j++)
        for (size_t k = j + 1; k < nf; k++)
            if (strcmp(c->col_names[c->feat_cols[j]], c->col_names[c->feat_cols[k]]) == 0)
                return enc_errf(err, ENC_EFORMAT, "%s:%zu: column name '%s' appears twice", c->path,
                                header_line, c->col_names[c->feat_cols[j]]);
    return 0;
}

/* Turn the per-row label strings into class indexes and names. */
static int finish_classes(struct ctx *c, struct csvt_table *t, enc_err *err)
{
    if (c->o->classes) {
        t->n_classes = c->o->n_classes;
        t->class_names = strv_dup(c->o->classes, c->o->n_classes, NULL);
        return t->class_names ? 0 : enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    if (c->sk_classes) {
        t->n_classes = c->n_sk_classes;
        t->class_names = strv_dup((const char *const *)c->sk_classes, c->n_sk_classes, NULL);
        return t->class_names ? 0 : enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    char **sorted = malloc(c->rows * sizeof *sorted);
    if (!sorted)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    memcpy(sorted, c->labels, c->rows * sizeof *sorted);
    int all_int = 1;
    for (size_t i = 0; i < c->rows && all_int; i++)
        all_int = is_int_string(sorted[i]) && strlen(sorted[i]) < 18;
    qsort_r(sorted, c->rows, sizeof *sorted, cmp_label, &all_int);
    size_t u = 0;
    for (size_t i = 0; i < c->rows; i++)
        if (u == 0 || cmp_label(&sorted[u - 1], &sorted[i], &all_int) != 0)
            sorted[u++] = sorted[i];
    for (size_t i = 0; i < c->rows; i++) {
        size_t lo = 0, hi = u; /* the label is present: find it */
        while (hi - lo > 1) {
            size_t mid = lo + (hi - lo) / 2;
            if (cmp_label(&sorted[mid], &c->labels[i], &all_int) <= 0)
                lo = mid;
            else
                hi = mid;
        }
        t->y[i] = (int32_t)lo;
    }
    t->n_classes = u;
    t->class_names = strv_dup((const char *const *)sorted, u, NULL);
    free(sorted);
    return t->class_names ? 0 : enc_errf(err, ENC_ENOMEM, "out of memory");
}

/* scikit-learn's "n_samples,n_features,class names..." line: two integers,
 * n_features = fields per data row - 1, and either a different field count
 * than the data or a non-numeric class name (iris has 3 names, 4 features). */
static int sklearn_header(struct rec *r1, struct rec *r2)
{
    if (r1->n < 2 || !is_int_string(trim(r1->f[0])) || !is_int_string(trim(r1->f[1])))
        return 0;
    if (strtol(r1->f[1], NULL, 10) != (long)r2->n - 1)
        return 0;
    if (r1->n != r2->n)
        return 1;
    for (size_t i = 2; i < r1->n; i++) {
        float v;
        if (parse_float(r1->f[i], &v))
            return 1;
    }
    return 0;
}

/* The columns of a scikit-learn file: r1 is its "n_samples,n_features,
 * classes..." line when the shape of r2 says so (else the first data row:
 * *first_is_data), and the columns are named f0.. and label (c->synth). */
static int sklearn_columns(struct ctx *c, struct rec *r1, struct rec *r2, int got2,
                           int *first_is_data, enc_err *err)
{
    int has_header = got2 == 1 && sklearn_header(r1, r2);
    size_t ncols = has_header ? r2->n : r1->n;
    if (ncols < 2)
        return enc_errf(err, ENC_EFORMAT, "%s:%zu: a scikit-learn table needs features and a label",
                        c->path, got2 == 1 ? r2->line : r1->line);
    if (has_header) {
        char *end;
        long nf = r1->n >= 2 ? strtol(trim(r1->f[1]), &end, 10) : -1;
        if (r1->n < 2 || *end || nf != (long)ncols - 1)
            return enc_errf(
                err, ENC_EFORMAT,
                "%s:%zu: scikit-learn header 'n_samples,n_features,classes...' does not "
                "match the %zu-field rows",
                c->path, r1->line, ncols);
        c->n_sk_classes = r1->n - 2;
        c->sk_classes = c->n_sk_classes ? r1->f + 2 : NULL;
        for (size_t i = 0; i < c->n_sk_classes; i++)
            c->sk_classes[i] = trim(c->sk_classes[i]);
    } else {
        *first_is_data = 1;
    }
    c->n_cols = ncols;
    if (!(c->synth = strv_dup(NULL, ncols, "f")))
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    c->n_synth = ncols;
    free(c->synth[ncols - 1]);
    if (!(c->synth[ncols - 1] = strdup("label")))
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    c->col_names = c->synth;
    return 0;
}

/* Move the rows into t and name its features and classes. */
static int finish_table(struct ctx *c, struct csvt_table *t, enc_err *err)
{
    if (c->rows == 0)
        return enc_errf(err, ENC_EFORMAT, "%s: no data rows", c->path);
    t->n_rows = c->rows;
    t->n_features = c->n_features;
    t->x = c->x;
    t->y = c->y;
    c->x = NULL;
    c->y = NULL;
    if (!(t->feature_names = calloc(c->n_features, sizeof *t->feature_names)))
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    for (size_t j = 0; j < c->n_features; j++)
        if (!(t->feature_names[j] = strdup(c->col_names[c->feat_cols[j]])))
            return enc_errf(err, ENC_ENOMEM, "out of memory");
    return finish_classes(c, t, err);
}

int csvt_read(const char *path, const struct csvt_options *o, struct csvt_table *t, enc_err *err)
{
    memset(t, 0, sizeof *t);
    if (!o || (o->format != CSVT_PLAIN && o->format != CSVT_SKLEARN))
        return enc_errf(err, ENC_EINVAL, "csvt_read: bad options");
    if (o->classes && o->n_classes == 0)
        return enc_errf(err, ENC_EINVAL, "csvt_read: empty class list");
    char *buf = NULL;
    size_t len = 0;
    int rc = enc_read_file(path, &buf, &len, err);
    if (rc)
        return rc;
    struct csv_reader rd;
    csv_init(&rd, buf, len, ',', CSV_QUOTES | CSV_MULTILINE);
    struct rec r1 = {0}, r2 = {0};
    struct ctx c = {.path = path, .o = o, .sklearn = o->format == CSVT_SKLEARN};
    /* The first two records decide the columns (a header, or sklearn's). */
    int got1 = next_record(&rd, path, &r1, err), got2 = 0, first_is_data = 0;
    if (got1 == 0)
        rc = enc_errf(err, ENC_EFORMAT, "%s: empty file", path);
    else if (got1 < 0 || (got2 = next_record(&rd, path, &r2, err)) < 0)
        rc = got1 < 0 ? got1 : got2;
    if (rc == 0 && !c.sklearn) {
        c.n_cols = r1.n;
        c.col_names = r1.f;
        for (size_t i = 0; i < r1.n; i++)
            r1.f[i] = trim(r1.f[i]);
    } else if (rc == 0) {
        rc = sklearn_columns(&c, &r1, &r2, got2, &first_is_data, err);
    }
    rc = rc ? rc : resolve_columns(&c, r1.line, err);
    /* Then every data row. */
    if (rc == 0 && first_is_data)
        rc = add_row(&c, &r1, err);
    if (rc == 0 && got2 == 1)
        rc = add_row(&c, &r2, err);
    int g;
    while (rc == 0 && (g = next_record(&rd, path, &r2, err)) != 0)
        rc = g < 0 ? g : add_row(&c, &r2, err);
    rc = rc ? rc : finish_table(&c, t, err);
    if (rc)
        csvt_clear(t);
    free(c.x);
    free(c.y);
    free(c.labels);
    free(c.feat_cols);
    strv_clear(&c.owned);
    strv_free(c.synth, c.n_synth);
    free(r1.f);
    free(r2.f);
    csv_free(&rd);
    free(buf);
    return rc;
}

int csvt_subset(const struct csvt_table *src, const size_t *idx, size_t n, struct csvt_table *dst)
{
    memset(dst, 0, sizeof *dst);
    size_t d = src->n_features;
    dst->x = malloc((n ? n : 1) * d * sizeof *dst->x);
    dst->y = malloc((n ? n : 1) * sizeof *dst->y);
    dst->feature_names = strv_dup((const char *const *)src->feature_names, d, NULL);
    dst->class_names = strv_dup((const char *const *)src->class_names, src->n_classes, NULL);
    dst->n_features = dst->feature_names ? d : 0;
    dst->n_classes = dst->class_names ? src->n_classes : 0;
    if (!dst->x || !dst->y || !dst->feature_names || !dst->class_names) {
        csvt_clear(dst);
        return ENC_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        memcpy(dst->x + i * d, src->x + idx[i] * d, d * sizeof *dst->x);
        dst->y[i] = src->y[idx[i]];
    }
    dst->n_rows = n;
    return 0;
}

int csvt_split_list(const char *list, char ***out, size_t *n, enc_err *err)
{
    *out = NULL;
    *n = 0;
    size_t cnt = 1;
    for (const char *p = list; *p; p++)
        cnt += *p == ',';
    char **v = calloc(cnt + 1, sizeof *v);
    if (!v)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    const char *p = list;
    for (size_t i = 0; i < cnt; i++) {
        const char *q = strchr(p, ',');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        if (len == 0) {
            strv_free(v, i);
            return enc_errf(err, ENC_EINVAL, "'%s': empty name in the list", list);
        }
        if (!(v[i] = strndup(p, len))) {
            strv_free(v, i);
            return enc_errf(err, ENC_ENOMEM, "out of memory");
        }
        p = q ? q + 1 : p + len;
    }
    *out = v;
    *n = cnt;
    return 0;
}

void csvt_stratified_folds(const int32_t *y, size_t n, size_t n_classes, size_t k, uint64_t seed,
                           int32_t *fold)
{
    size_t *rows = malloc((n ? n : 1) * sizeof *rows);
    uint64_t s = seed;
    size_t next = 0; /* the fold the next dealt row goes to, carried across classes */
    for (size_t c = 0; c < n_classes; c++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if ((size_t)y[i] == c) {
                if (rows)
                    rows[m] = i;
                m++;
            }
        if (!rows) { /* out of memory: fall back to an unshuffled deal */
            for (size_t i = 0; i < n; i++)
                if ((size_t)y[i] == c)
                    fold[i] = (int32_t)(next++ % k);
            continue;
        }
        rng_shuffle(rows, m, &s);
        for (size_t i = 0; i < m; i++)
            fold[rows[i]] = (int32_t)(next++ % k);
    }
    free(rows);
}
