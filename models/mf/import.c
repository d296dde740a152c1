/*
 * import.c - factor matrices from Spark MLlib / implicit -> struct mf_data
 * (see import.h for the accepted formats).
 *
 * Everything here parses untrusted files: every length is checked before it
 * is used, sizes are multiplied with overflow checks, and a bad file is
 * refused with a message naming the file, line and column (or the .npy header
 * column) rather than read past its end.
 */
#define _GNU_SOURCE /* qsort_r */
#include "mf/import.h"

#include "core/csv.h"
#include "core/file.h"
#include "core/strmap.h"
#include "core/strv.h"
#include "core/utf8.h"
#include "mf/interactions.h"
#include "mf/npy.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers ------------------------------------------------------ */

static int i32_cmp(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Map keys[0..n) to their positions; fails on a duplicate (naming it and
 * both positions, 1-based as `what` numbers them). */
static int index_ids(strmap *m, char *const *keys, size_t n, const char *name, const char *what,
                     enc_err *err)
{
    for (size_t j = 0; j < n; j++) {
        int64_t id = strmap_add(m, keys[j], strlen(keys[j]));
        if (id < 0) {
            strmap_clear(m);
            return enc_errf(err, (int)id, "%s: %s", name, enc_strerror((int)id));
        }
        if ((size_t)id != j) {
            int rc =
                enc_errf(err, ENC_EFORMAT, "%s: %s %zu: duplicate id '%.64s' (first at %s %lld)",
                         name, what, j + 1, keys[j], what, (long long)id + 1);
            strmap_clear(m);
            return rc;
        }
    }
    return 0;
}

static int64_t find_id(const strmap *m, const char *s)
{
    return strmap_find(m, s, strlen(s));
}

/* ---- matrices ------------------------------------------------------------ */

void mf_matrix_clear(struct mf_matrix *m)
{
    if (!m)
        return;
    strv_free(m->ids, m->rows);
    free(m->data);
    memset(m, 0, sizeof *m);
}

static int check_value(double v, const char *name, size_t row, size_t col, enc_err *err)
{
    if (!isfinite(v) || fabs(v) > FLT_MAX)
        return enc_errf(err, ENC_EFORMAT,
                        "%s: row %zu, column %zu: value %g is not a finite float32", name, row + 1,
                        col + 1, v);
    return 0;
}

static int npy_matrix(const void *buf, size_t len, const char *name, struct mf_matrix *out,
                      enc_err *err)
{
    struct mf_npy a;
    int rc = mf_npy_parse(buf, len, &a, err);
    if (rc)
        return enc_err_prefix(err, "%s", name);
    if (a.kind != 'f')
        return enc_errf(err, ENC_EFORMAT,
                        "%s: factor matrices must be float32 or float64, not '%c%zu'", name, a.kind,
                        a.itemsize);
    if (a.ndim != 2)
        return enc_errf(err, ENC_EFORMAT,
                        "%s: factor matrices must be 2-D, this one has %d dimension%s", name,
                        a.ndim, a.ndim == 1 ? "" : "s");
    if (a.fortran_order)
        return enc_errf(err, ENC_EFORMAT,
                        "%s: fortran_order is True; save a C-order array (np.ascontiguousarray)",
                        name);
    if (a.shape[0] == 0 || a.shape[1] == 0)
        return enc_errf(err, ENC_EFORMAT, "%s: empty matrix (shape %lld x %lld)", name,
                        (long long)a.shape[0], (long long)a.shape[1]);
    out->rows = (size_t)a.shape[0];
    out->cols = (size_t)a.shape[1];
    out->data = malloc(a.count * sizeof(float));
    if (!out->data)
        return enc_errf(err, ENC_ENOMEM, "%s: out of memory", name);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (a.itemsize == 4 && !a.big_endian) {
        /* the common case (numpy float32 on x86/ARM): copy, then check */
        memcpy(out->data, a.data, a.nbytes);
        for (size_t i = 0; i < a.count; i++)
            if ((rc = check_value(out->data[i], name, i / out->cols, i % out->cols, err))) {
                mf_matrix_clear(out);
                return rc;
            }
        return 0;
    }
#endif
    for (size_t i = 0; i < a.count; i++) {
        uint64_t raw = mf_npy_raw(&a, i);
        double v;
        if (a.itemsize == 4) {
            uint32_t r32 = (uint32_t)raw;
            float f;
            memcpy(&f, &r32, 4);
            v = f;
        } else {
            memcpy(&v, &raw, 8);
        }
        if ((rc = check_value(v, name, i / out->cols, i % out->cols, err))) {
            mf_matrix_clear(out);
            return rc;
        }
        out->data[i] = (float)v;
    }
    return 0;
}

/* Growable array of floats for the CSV reader. */
struct fvec {
    float *v;
    size_t n, cap;
};

static int fvec_push(struct fvec *a, float x)
{
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 1024;
        float *nv = nc > SIZE_MAX / sizeof *nv ? NULL : realloc(a->v, nc * sizeof *nv);
        if (!nv)
            return ENC_ENOMEM;
        a->v = nv;
        a->cap = nc;
    }
    a->v[a->n++] = x;
    return 0;
}

/* The values of one CSV row so far: a count and where a "[...]" list is. */
struct row_values {
    size_t n;
    int in_list, list_done;
    int header; /* line 1 starts with a word: skip the line */
};

/* The values of field f (a number, or all or part of a bracketed list
 * "[a, b, ...]", split on ',') onto vals. */
static int field_values(const struct csv_reader *r, const struct csv_field *f, const char *name,
                        struct fvec *vals, struct row_values *rv, enc_err *err)
{
    const size_t col = csv_col(r, f->s);
    const char *q = f->s, *fe = f->s + f->len;
    for (;;) {
        const char *c = memchr(q, ',', (size_t)(fe - q));
        const char *tok = q;
        size_t tn = (size_t)((c ? c : fe) - q), tcol = col + (size_t)(q - f->s);
        csv_trim_span(&tok, &tn);
        if (tn && tok[0] == '[') {
            if (rv->in_list || rv->list_done || rv->n)
                return enc_errf(err, ENC_EFORMAT, "%s:%zu:%zu: unexpected '['", name, r->line,
                                tcol);
            rv->in_list = 1;
            tok++;
            tn--;
            csv_trim_span(&tok, &tn);
        }
        int closes = 0;
        if (tn && tok[tn - 1] == ']') {
            if (!rv->in_list)
                return enc_errf(err, ENC_EFORMAT, "%s:%zu:%zu: unexpected ']'", name, r->line,
                                tcol);
            closes = 1;
            tn--;
            csv_trim_span(&tok, &tn);
        }
        if (rv->list_done)
            return enc_errf(err, ENC_EFORMAT, "%s:%zu:%zu: values after the closing ']'", name,
                            r->line, tcol);
        double v;
        int shown = (int)(tn > 40 ? 40 : tn);
        if (tn == 0 && closes && rv->n == 0) {
            /* "[]": an empty list; caught by the caller as zero values */
        } else if (csv_number(tok, tn, &v) != CSV_NUM_OK) {
            if (r->line == 1 && rv->n == 0 && !rv->in_list) {
                rv->header = 1; /* a header line: skip it whole */
                return 0;
            }
            return enc_errf(err, ENC_EFORMAT, "%s:%zu:%zu: '%.*s' is not a number", name, r->line,
                            tcol, shown, tok);
        } else if (!isfinite(v) || fabs(v) > FLT_MAX) {
            return enc_errf(err, ENC_EFORMAT, "%s:%zu:%zu: value '%.*s' is not a finite float32",
                            name, r->line, tcol, shown, tok);
        } else if (fvec_push(vals, (float)v)) {
            return enc_errf(err, ENC_ENOMEM, "%s: out of memory", name);
        } else {
            rv->n++;
        }
        if (closes) {
            rv->in_list = 0;
            rv->list_done = 1;
        }
        if (!c)
            return 0;
        q = c + 1;
    }
}

/* Rows of "[id,] values" from t (writable, NUL after it): every row the
 * same number of values. */
static int csv_matrix(char *t, size_t len, const char *name, int id_column, struct mf_matrix *out,
                      enc_err *err)
{
    struct fvec vals = {0};
    struct strv ids = {0};
    struct csv_reader r;
    csv_init(&r, t, len, ',', CSV_QUOTES);
    size_t rows = 0, cols = 0, cols_line = 0;
    int rc = 0, got = 0;
    while (rc == 0 && (got = csv_next(&r)) == 1) {
        size_t start_n = vals.n, first = 0;
        if (id_column) {
            struct csv_field id = r.f[0];
            if (csv_trim(&id), id.len == 0) {
                rc = enc_errf(err, ENC_EFORMAT, "%s:%zu:%zu: empty id", name, r.line,
                              csv_col(&r, r.f[0].s));
                break;
            }
            if (strv_push(&ids, id.s, id.len)) {
                rc = enc_errf(err, ENC_ENOMEM, "%s: out of memory", name);
                break;
            }
            first = 1;
        }
        struct row_values rv = {0};
        for (size_t i = first; rc == 0 && i < r.n && !rv.header; i++)
            rc = field_values(&r, &r.f[i], name, &vals, &rv, err);
        if (rc)
            break;
        if (rv.header) {
            if (id_column)
                free(ids.v[--ids.n]);
            vals.n = start_n;
            continue;
        }
        if (rv.in_list)
            rc = enc_errf(err, ENC_EFORMAT, "%s:%zu: '[' without a closing ']'", name, r.line);
        else if (rv.n == 0)
            rc = enc_errf(err, ENC_EFORMAT, "%s:%zu: no factor values", name, r.line);
        else if (rows && rv.n != cols)
            rc = enc_errf(err, ENC_EFORMAT, "%s:%zu: %zu values, expected %zu (as on line %zu)",
                          name, r.line, rv.n, cols, cols_line);
        if (rows++ == 0) {
            cols = rv.n;
            cols_line = r.line;
        }
    }
    if (rc == 0 && got < 0)
        rc = got == ENC_ENOMEM
                 ? enc_errf(err, got, "%s: out of memory", name)
                 : enc_errf(err, got, "%s:%zu:%zu: bad quoting", name, r.err_line, r.err_col);
    csv_free(&r);
    if (rc == 0 && rows == 0)
        rc = enc_errf(err, ENC_EFORMAT, "%s: no rows", name);
    if (rc) {
        free(vals.v);
        strv_clear(&ids);
        return rc;
    }
    out->rows = rows;
    out->cols = cols;
    out->data = vals.v;
    out->ids = id_column ? ids.v : NULL;
    return 0;
}

int mf_matrix_parse(const void *buf, size_t len, const char *name, int id_column,
                    struct mf_matrix *out, enc_err *err)
{
    memset(out, 0, sizeof *out);
    if (mf_npy_is(buf, len)) {
        if (id_column)
            return enc_errf(err, ENC_EINVAL,
                            "%s: a .npy matrix holds no ids; give the id list file as well", name);
        return npy_matrix(buf, len, name, out, err);
    }
    /* A text file must not contain NUL bytes (a binary file given by mistake). */
    if (memchr(buf, '\0', len))
        return enc_errf(err, ENC_EFORMAT,
                        "%s: neither .npy (no \\x93NUMPY magic) nor CSV text (NUL byte)", name);
    char *text = malloc(len + 1); /* csv.h cuts fields in place */
    if (!text)
        return enc_errf(err, ENC_ENOMEM, "%s: out of memory", name);
    memcpy(text, buf, len);
    text[len] = '\0';
    int rc = csv_matrix(text, len, name, id_column, out, err);
    free(text);
    return rc;
}

int mf_matrix_read(const char *path, int id_column, struct mf_matrix *out, enc_err *err)
{
    char *buf;
    size_t len;
    memset(out, 0, sizeof *out);
    int rc = enc_read_file(path, &buf, &len, err);
    if (rc)
        return rc;
    rc = mf_matrix_parse(buf, len, path, id_column, out, err);
    free(buf);
    return rc;
}

/* ---- id lists ------------------------------------------------------------ */

static int npy_ids(const void *buf, size_t len, const char *name, struct strv *ids, enc_err *err)
{
    struct mf_npy a;
    int rc = mf_npy_parse(buf, len, &a, err);
    if (rc)
        return enc_err_prefix(err, "%s", name);
    if (a.ndim != 1)
        return enc_errf(err, ENC_EFORMAT, "%s: an id list must be 1-D, this one has %d dimensions",
                        name, a.ndim);
    if (a.kind == 'f')
        return enc_errf(err, ENC_EFORMAT, "%s: ids must be integers or strings, not floats", name);
    char *s = malloc(a.kind == 'U' ? a.itemsize + 1 : a.itemsize > 24 ? a.itemsize + 1 : 25);
    if (!s)
        return enc_errf(err, ENC_ENOMEM, "%s: out of memory", name);
    for (size_t i = 0; i < a.count && rc == 0; i++) {
        const unsigned char *p = a.data + i * a.itemsize;
        size_t n = 0;
        if (a.kind == 'i' || a.kind == 'u') {
            uint64_t raw = mf_npy_raw(&a, i);
            if (a.kind == 'i') {
                int bits = (int)a.itemsize * 8;
                int64_t v = bits < 64 && (raw >> (bits - 1) & 1)
                                ? (int64_t)(raw | ~((UINT64_C(1) << bits) - 1))
                                : (int64_t)raw;
                n = (size_t)snprintf(s, 25, "%lld", (long long)v);
            } else {
                n = (size_t)snprintf(s, 25, "%llu", (unsigned long long)raw);
            }
        } else if (a.kind == 'S') {
            while (n < a.itemsize && p[n])
                n++;
            memcpy(s, p, n);
        } else { /* 'U': UTF-32 code units, NUL-padded */
            for (size_t k = 0; k + 4 <= a.itemsize; k += 4) {
                uint32_t c = a.big_endian ? (uint32_t)p[k] << 24 | (uint32_t)p[k + 1] << 16 |
                                                (uint32_t)p[k + 2] << 8 | p[k + 3]
                                          : (uint32_t)p[k + 3] << 24 | (uint32_t)p[k + 2] << 16 |
                                                (uint32_t)p[k + 1] << 8 | p[k];
                if (c == 0)
                    break;
                size_t w = utf8_put(c, s + n);
                if (!w) {
                    rc = enc_errf(err, ENC_EFORMAT, "%s: id %zu: invalid code point U+%X", name,
                                  i + 1, c);
                    break;
                }
                n += w;
            }
        }
        if (rc == 0 && n == 0)
            rc = enc_errf(err, ENC_EFORMAT, "%s: id %zu is empty", name, i + 1);
        if (rc == 0 && strv_push(ids, s, n))
            rc = enc_errf(err, ENC_ENOMEM, "%s: out of memory", name);
    }
    free(s);
    return rc;
}

/* One id per line; an empty line is an error unless it is the last. */
static int text_ids(const char *t, size_t len, const char *name, struct strv *ids, enc_err *err)
{
    if (memchr(t, '\0', len))
        return enc_errf(err, ENC_EFORMAT, "%s: neither .npy nor a text id list (NUL byte)", name);
    char *text = malloc(len + 1);
    if (!text)
        return enc_errf(err, ENC_ENOMEM, "%s: out of memory", name);
    memcpy(text, t, len);
    struct csv_reader r;
    csv_init(&r, text, len, ',', 0);
    char *line;
    size_t n;
    int rc = 0;
    while (rc == 0 && (line = csv_line(&r, &n)) != NULL) {
        if (n == 0 && r.p < r.end)
            rc = enc_errf(err, ENC_EFORMAT, "%s:%zu: empty id", name, r.line);
        else if (n && strv_push(ids, line, n))
            rc = enc_errf(err, ENC_ENOMEM, "%s: out of memory", name);
    }
    free(text);
    return rc;
}

int mf_ids_parse(const void *buf, size_t len, const char *name, char ***out, size_t *n,
                 enc_err *err)
{
    struct strv ids = {0};
    *out = NULL;
    *n = 0;
    int rc = mf_npy_is(buf, len) ? npy_ids(buf, len, name, &ids, err)
                                 : text_ids(buf, len, name, &ids, err);
    if (rc == 0 && ids.n == 0)
        rc = enc_errf(err, ENC_EFORMAT, "%s: no ids", name);
    if (rc == 0) {
        strmap m = {0};
        rc = index_ids(&m, ids.v, ids.n, name, "id", err);
        strmap_clear(&m);
    }
    if (rc) {
        strv_clear(&ids);
        return rc;
    }
    *out = ids.v;
    *n = ids.n;
    return 0;
}

int mf_ids_read(const char *path, char ***ids, size_t *n, enc_err *err)
{
    char *buf;
    size_t len;
    *ids = NULL;
    *n = 0;
    int rc = enc_read_file(path, &buf, &len, err);
    if (rc)
        return rc;
    rc = mf_ids_parse(buf, len, path, ids, n, err);
    free(buf);
    return rc;
}

/* ---- the whole import ---------------------------------------------------- */

/* One side (users or items): factors and ids, checked against each other. */
static int load_side(const char *fpath, const char *ipath, const char *what, struct mf_matrix *m,
                     enc_err *err)
{
    int rc = mf_matrix_read(fpath, ipath == NULL, m, err);
    if (rc)
        return rc;
    if (ipath) {
        size_t n;
        rc = mf_ids_read(ipath, &m->ids, &n, err);
        if (rc == 0 && n != m->rows) {
            strv_free(m->ids, n);
            m->ids = NULL;
            rc = enc_errf(err, ENC_EFORMAT, "%s: %zu %s ids, but %s has %zu rows", ipath, n, what,
                          fpath, m->rows);
        }
    } else {
        strmap map = {0};
        rc = index_ids(&map, m->ids, m->rows, fpath, "row", err);
        strmap_clear(&map);
    }
    if (rc)
        mf_matrix_clear(m);
    return rc;
}

/* --seen: read with the trainer's own reader (interactions.h, every format it
 * knows), then map its rows onto the imported factors' rows by id. */
static int load_seen(const char *path, const strmap *users, const strmap *items, struct mf_data *d,
                     struct mf_import_stats *st, enc_err *err)
{
    struct ia_options opt = {IA_FORMAT_AUTO, 0.0, IA_HEADER_AUTO};
    struct ia_matrix m;
    int rc = ia_read(path, &opt, &m, err);
    if (rc)
        return rc;
    int64_t *imap = malloc((m.n_items ? m.n_items : 1) * sizeof *imap);
    if (!imap) {
        ia_matrix_clear(&m);
        return enc_errf(err, ENC_ENOMEM, "%s: out of memory", path);
    }
    for (size_t i = 0; i < m.n_items; i++)
        imap[i] = find_id(items, m.item_ids[i]);
    /* Count per imported user, then fill; the items of one source row
     * ascend in source order, so sort each imported row afterwards. */
    memset(d->seen_offsets, 0, (d->n_users + 1) * sizeof *d->seen_offsets);
    int64_t *umap = malloc((m.n_users ? m.n_users : 1) * sizeof *umap);
    if (!umap) {
        free(imap);
        ia_matrix_clear(&m);
        return enc_errf(err, ENC_ENOMEM, "%s: out of memory", path);
    }
    size_t kept = 0;
    for (size_t u = 0; u < m.n_users; u++) {
        umap[u] = find_id(users, m.user_ids[u]);
        for (int64_t k = m.indptr[u]; k < m.indptr[u + 1]; k++) {
            if (umap[u] < 0 || imap[m.indices[k]] < 0) {
                st->seen_skipped++;
                continue;
            }
            d->seen_offsets[umap[u] + 1]++;
            kept++;
        }
    }
    for (size_t u = 0; u < d->n_users; u++)
        d->seen_offsets[u + 1] += d->seen_offsets[u];
    d->seen_items = malloc((kept ? kept : 1) * sizeof *d->seen_items);
    int64_t *fill = malloc((d->n_users + 1) * sizeof *fill);
    if (!d->seen_items || !fill) {
        free(fill);
        free(umap);
        free(imap);
        ia_matrix_clear(&m);
        return enc_errf(err, ENC_ENOMEM, "%s: out of memory", path);
    }
    memcpy(fill, d->seen_offsets, (d->n_users + 1) * sizeof *fill);
    for (size_t u = 0; u < m.n_users; u++)
        for (int64_t k = m.indptr[u]; k < m.indptr[u + 1]; k++)
            if (umap[u] >= 0 && imap[m.indices[k]] >= 0) {
                int32_t it = (int32_t)imap[m.indices[k]];
                d->seen_items[fill[umap[u]]++] = it;
                d->item_popularity[it] += 1.0f; /* users per item, as ia_fill_mf_data */
            }
    for (size_t u = 0; u < d->n_users; u++) {
        int32_t *row = d->seen_items + d->seen_offsets[u];
        size_t n = (size_t)(d->seen_offsets[u + 1] - d->seen_offsets[u]);
        if (n > 1)
            qsort(row, n, sizeof *row, i32_cmp);
    }
    st->seen_pairs = kept;
    free(fill);
    free(umap);
    free(imap);
    ia_matrix_clear(&m);
    return 0;
}

/* An item-id order for ia_read_items, which takes ids sorted by ia_id_cmp. */
static int by_id(const void *a, const void *b, void *ids)
{
    char *const *s = ids;
    return ia_id_cmp(s[*(const size_t *)a], s[*(const size_t *)b]);
}

/* --items: titles and tags with the trainer's reader (uitem or movies-csv),
 * handed the imported ids in its order and permuted back. */
static int load_items(const char *path, struct mf_data *d, struct mf_import_stats *st, enc_err *err)
{
    size_t n = d->n_items, *perm = malloc(n * sizeof *perm);
    char **sorted = malloc(n * sizeof *sorted);
    struct ia_items it = {0};
    int rc = 0;
    if (!perm || !sorted) {
        rc = enc_errf(err, ENC_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    qsort_r(perm, n, sizeof *perm, by_id, d->item_ids);
    for (size_t k = 0; k < n; k++)
        sorted[k] = d->item_ids[perm[k]];
    if ((rc = ia_read_items(path, IA_ITEMS_AUTO, sorted, n, &it, err)))
        goto done;
    d->titles = calloc(n, sizeof *d->titles);
    d->item_tag_offsets = calloc(n + 1, sizeof *d->item_tag_offsets);
    d->item_tag_ids =
        malloc((it.tag_offsets[n] ? (size_t)it.tag_offsets[n] : 1) * sizeof *d->item_tag_ids);
    if (!d->titles || !d->item_tag_offsets || !d->item_tag_ids) {
        rc = enc_errf(err, ENC_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    for (size_t k = 0; k < n; k++) { /* sorted position k is item perm[k] */
        d->titles[perm[k]] = it.titles[k];
        it.titles[k] = NULL;
        d->item_tag_offsets[perm[k] + 1] = it.tag_offsets[k + 1] - it.tag_offsets[k];
    }
    for (size_t i = 0; i < n; i++)
        d->item_tag_offsets[i + 1] += d->item_tag_offsets[i];
    for (size_t k = 0; k < n; k++)
        memcpy(d->item_tag_ids + d->item_tag_offsets[perm[k]], it.tag_ids + it.tag_offsets[k],
               (size_t)(it.tag_offsets[k + 1] - it.tag_offsets[k]) * sizeof *d->item_tag_ids);
    d->tag_names = it.tag_names;
    d->n_tags = it.n_tags;
    it.tag_names = NULL;
    it.n_tags = 0;
    st->items_matched = it.n_matched;
done:
    ia_items_clear(&it);
    free(sorted);
    free(perm);
    return rc;
}

int mf_import_build(const struct mf_import_spec *spec, struct mf_data *d,
                    struct mf_import_stats *stats, enc_err *err)
{
    struct mf_import_stats local;
    struct mf_matrix U = {0}, V = {0};
    strmap um = {0}, im = {0};
    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof *stats);
    memset(d, 0, sizeof *d);
    if (!spec->user_factors || !spec->item_factors)
        return enc_errf(err, ENC_EINVAL, "both user and item factor files are required");
    int rc = load_side(spec->user_factors, spec->user_ids, "user", &U, err);
    if (rc == 0)
        rc = load_side(spec->item_factors, spec->item_ids, "item", &V, err);
    if (rc == 0 && U.cols != V.cols)
        rc = enc_errf(err, ENC_EFORMAT, "%s has %zu factors per row but %s has %zu",
                      spec->user_factors, U.cols, spec->item_factors, V.cols);
    if (rc == 0 && (U.rows > INT64_MAX / 2 || V.rows > INT32_MAX))
        rc = enc_errf(err, ENC_ERANGE, "%s: %zu items exceed the model's int32 item index",
                      spec->item_factors, V.rows);
    if (rc)
        goto fail;
    d->n_users = U.rows;
    d->n_items = V.rows;
    d->factors = U.cols;
    d->user_factors = U.data;
    d->item_factors = V.data;
    d->user_ids = U.ids;
    d->item_ids = V.ids;
    memset(&U, 0, sizeof U);
    memset(&V, 0, sizeof V);
    d->algorithm = "import";
    d->regularization = spec->regularization;
    d->alpha = spec->alpha;
    d->seen_offsets = calloc(d->n_users + 1, sizeof *d->seen_offsets);
    d->item_popularity = calloc(d->n_items, sizeof *d->item_popularity);
    if (!d->seen_offsets || !d->item_popularity) {
        rc = enc_errf(err, ENC_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = index_ids(&um, d->user_ids, d->n_users, "user ids", "row", err)) ||
        (rc = index_ids(&im, d->item_ids, d->n_items, "item ids", "row", err)))
        goto fail;
    if (spec->seen) {
        if ((rc = load_seen(spec->seen, &um, &im, d, stats, err)))
            goto fail;
    } else if (!(d->seen_items = malloc(sizeof *d->seen_items))) {
        rc = enc_errf(err, ENC_ENOMEM, "out of memory");
        goto fail;
    }
    if (spec->items && (rc = load_items(spec->items, d, stats, err)))
        goto fail;
    strmap_clear(&um);
    strmap_clear(&im);
    return 0;
fail:
    strmap_clear(&um);
    strmap_clear(&im);
    mf_matrix_clear(&U);
    mf_matrix_clear(&V);
    mf_data_clear(d);
    memset(d, 0, sizeof *d);
    return rc;
}
