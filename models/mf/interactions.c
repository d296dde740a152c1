/*
 * interactions.c - interaction logs into a user x item matrix (see
 * interactions.h for the formats and the id ordering rule; item metadata is
 * items.c).
 *
 * A file is read whole into a private, writable buffer and split into
 * records in place (core/csv.h). Ids are interned in a string map
 * (core/strmap.h) while reading, then sorted so that row order is id order,
 * and the records are turned into CSR with a counting sort by user.
 */
#include "mf/interactions.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/csv.h"
#include "core/file.h"
#include "core/st.h"
#include "core/strmap.h"
#include "core/strv.h"
#include "core/utf8.h"
#include "mf/mf.h"

/* ---- names ----------------------------------------------------------- */

static const char *const format_names[] = {"auto", "udata", "ratings-csv", "csv", "tsv"};

int ia_format_parse(const char *name, enum ia_format *out)
{
    for (size_t i = 0; i < sizeof format_names / sizeof *format_names; i++)
        if (strcmp(name, format_names[i]) == 0) {
            *out = (enum ia_format)i;
            return 0;
        }
    return ENC_EINVAL;
}

const char *ia_format_name(enum ia_format f)
{
    return (size_t)f < sizeof format_names / sizeof *format_names ? format_names[f] : "?";
}

/* ---- strings ----------------------------------------------------------- */

static int all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

int ia_id_cmp(const char *a, const char *b)
{
    int da = all_digits(a), db = all_digits(b);
    if (da != db)
        return da ? -1 : 1;
    if (da) {
        const char *x = a, *y = b;
        while (*x == '0' && x[1])
            x++;
        while (*y == '0' && y[1])
            y++;
        size_t lx = strlen(x), ly = strlen(y);
        if (lx != ly)
            return lx < ly ? -1 : 1;
        int c = strcmp(x, y);
        if (c)
            return c < 0 ? -1 : 1;
        /* same number, different spelling ("07", "7"): byte order */
    }
    int c = strcmp(a, b);
    return c < 0 ? -1 : c > 0;
}

int64_t ia_find_id(char *const *ids, size_t n, const char *id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = ia_id_cmp(ids[mid], id);
        if (c == 0)
            return (int64_t)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* ---- string interning -------------------------------------------------- */

/* Ids are interned while reading: a string map of their UTF-8 forms (bytes
 * that are not valid UTF-8 are converted from latin-1 first, into `tmp`, so
 * the common case copies nothing but the new key). */
struct intern {
    strmap map;
    char *tmp;
    size_t tmp_cap;
};

static void intern_free(struct intern *t)
{
    strmap_clear(&t->map);
    free(t->tmp);
    memset(t, 0, sizeof *t);
}

/* Index of string s[0..len) (as UTF-8), adding it when new. */
static int intern_get(struct intern *t, const char *s, size_t len, int32_t *idx)
{
    if (!utf8_valid(s, len)) {
        if (2 * len + 1 > t->tmp_cap) {
            char *n = realloc(t->tmp, 2 * len + 1);
            if (!n)
                return ENC_ENOMEM;
            t->tmp = n;
            t->tmp_cap = 2 * len + 1;
        }
        len = utf8_from_latin1(s, len, t->tmp);
        s = t->tmp;
    }
    int64_t id = strmap_add(&t->map, s, len);
    if (id < 0)
        return (int)id;
    *idx = (int32_t)id;
    return 0;
}

struct id_rank {
    const char *s;
    int32_t idx;
};

static int id_rank_cmp(const void *a, const void *b)
{
    return ia_id_cmp(((const struct id_rank *)a)->s, ((const struct id_rank *)b)->s);
}

/* Sort the interned strings into id order: *ids (copies, caller frees with
 * strv_free) and remap[old] = new. The table is emptied. */
static int intern_sorted(struct intern *t, char ***ids, int32_t **remap)
{
    size_t n = strmap_size(&t->map);
    struct id_rank *r = malloc((n ? n : 1) * sizeof *r);
    int32_t *map = malloc((n ? n : 1) * sizeof *map);
    char **out = calloc(n ? n : 1, sizeof *out);
    int rc = r && map && out ? 0 : ENC_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t len;
        r[i] = (struct id_rank){strmap_key(&t->map, i, &len), (int32_t)i};
    }
    if (rc == 0)
        qsort(r, n, sizeof *r, id_rank_cmp);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!(out[i] = strdup(r[i].s)))
            rc = ENC_ENOMEM;
        map[r[i].idx] = (int32_t)i;
    }
    free(r);
    intern_free(t);
    if (rc) {
        strv_free(out, n);
        free(map);
        return rc;
    }
    *ids = out;
    *remap = map;
    return 0;
}

/* ---- the matrix ----------------------------------------------------------- */

struct triple {
    int32_t u, i;
    float w;
};

static const char *const user_columns[] = {"user", "userid", "user_id", "uid", NULL};

/* A finite number (ratings, weights); CSV_NUM_* problems are "not a number". */
static int finite_number(const struct csv_field *f, double *out)
{
    return csv_number(f->s, f->len, out) == CSV_NUM_OK && isfinite(*out) ? 0 : -1;
}

/* The format of the first non-blank line (after `skip` non-blank lines). */
static enum ia_format detect(const char *buf, size_t len, int skip)
{
    /* Split a copy of the first non-blank line (at most 4096 bytes). */
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        if (csv_blank(p, (size_t)(e - p)) || skip-- > 0) {
            p = nl ? nl + 1 : end;
            continue;
        }
        size_t n = (size_t)(e - p) > 4096 ? 4096 : (size_t)(e - p);
        char line[4097];
        memcpy(line, p, n);
        line[n] = '\0';
        int tab = memchr(line, '\t', n) != NULL, comma = memchr(line, ',', n) != NULL;
        if (!tab && !comma)
            return IA_FORMAT_AUTO; /* undetectable */
        struct csv_reader r = {0};
        csv_init(&r, line, n, tab ? '\t' : ',', tab ? 0 : CSV_QUOTES);
        enum ia_format f = tab ? IA_FORMAT_TSV : IA_FORMAT_CSV;
        double d;
        if (csv_next(&r) == 1) {
            if (tab && r.n == 4 && finite_number(&r.f[2], &d) == 0 &&
                csv_is_integer(r.f[3].s, r.f[3].len))
                f = IA_FORMAT_UDATA;
            if (!tab && r.n >= 3 &&
                csv_name_is(r.f[0].s, r.f[0].len, (const char *const[]){"userid", NULL}) &&
                csv_name_is(r.f[1].s, r.f[1].len, (const char *const[]){"movieid", NULL}) &&
                csv_name_is(r.f[2].s, r.f[2].len, (const char *const[]){"rating", NULL}))
                f = IA_FORMAT_RATINGS_CSV;
        }
        csv_free(&r);
        return f;
    }
    return IA_FORMAT_AUTO;
}

void ia_matrix_clear(struct ia_matrix *m)
{
    if (!m)
        return;
    strv_free(m->user_ids, m->n_users);
    strv_free(m->item_ids, m->n_items);
    free(m->indptr);
    free(m->indices);
    free(m->weights);
    memset(m, 0, sizeof *m);
}

static int triple_item_cmp(const void *a, const void *b)
{
    int32_t x = ((const struct triple *)a)->i, y = ((const struct triple *)b)->i;
    return (x > y) - (x < y);
}

/* Records -> CSR in id order (consumes the two tables). */
static int build_csr(struct intern *users, struct intern *items, struct triple *t, size_t n,
                     struct ia_matrix *m)
{
    int32_t *umap = NULL, *imap = NULL;
    struct triple *sorted = NULL;
    size_t nu = strmap_size(&users->map), ni = strmap_size(&items->map);
    int rc = intern_sorted(users, &m->user_ids, &umap);
    if (rc)
        return rc;
    m->n_users = nu;
    rc = intern_sorted(items, &m->item_ids, &imap);
    if (rc) {
        free(umap);
        return rc;
    }
    m->n_items = ni;
    m->indptr = calloc(nu + 1, sizeof *m->indptr);
    sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!m->indptr || !sorted) {
        rc = ENC_ENOMEM;
        goto out;
    }
    for (size_t k = 0; k < n; k++) {
        t[k].u = umap[t[k].u];
        t[k].i = imap[t[k].i];
        m->indptr[t[k].u + 1]++;
    }
    for (size_t u = 0; u < nu; u++)
        m->indptr[u + 1] += m->indptr[u];
    {
        int64_t *pos = malloc((nu ? nu : 1) * sizeof *pos);
        if (!pos) {
            rc = ENC_ENOMEM;
            goto out;
        }
        memcpy(pos, m->indptr, nu * sizeof *pos);
        for (size_t k = 0; k < n; k++)
            sorted[pos[t[k].u]++] = t[k];
        free(pos);
    }
    /* Sort each row by item (stable enough: weights of duplicates are summed)
     * and merge duplicates, compacting in place. */
    m->indices = malloc((n ? n : 1) * sizeof *m->indices);
    m->weights = malloc((n ? n : 1) * sizeof *m->weights);
    if (!m->indices || !m->weights) {
        rc = ENC_ENOMEM;
        goto out;
    }
    size_t w = 0;
    for (size_t u = 0; u < nu; u++) {
        int64_t b = m->indptr[u], e = m->indptr[u + 1];
        qsort(sorted + b, (size_t)(e - b), sizeof *sorted, triple_item_cmp);
        m->indptr[u] = (int64_t)w;
        for (int64_t k = b; k < e; k++) {
            if (w > (size_t)m->indptr[u] && m->indices[w - 1] == sorted[k].i) {
                m->weights[w - 1] += sorted[k].w;
                continue;
            }
            m->indices[w] = sorted[k].i;
            m->weights[w] = sorted[k].w;
            w++;
        }
    }
    m->indptr[nu] = (int64_t)w;
    m->nnz = w;
out:
    free(umap);
    free(imap);
    free(sorted);
    return rc;
}

/* ---- building a matrix from records in memory --------------------------- */

struct ia_builder {
    struct intern users, items;
    struct triple *t;
    size_t n, cap;
};

int ia_builder_new(struct ia_builder **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : ENC_ENOMEM;
}

void ia_builder_free(struct ia_builder *b)
{
    if (!b)
        return;
    intern_free(&b->users);
    intern_free(&b->items);
    free(b->t);
    free(b);
}

int ia_builder_add(struct ia_builder *b, const char *user, size_t ulen, const char *item,
                   size_t ilen, float w)
{
    if (ulen == 0 || ilen == 0 || !isfinite(w))
        return ENC_EINVAL;
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 4096;
        struct triple *n2 = realloc(b->t, nc * sizeof *n2);
        if (!n2)
            return ENC_ENOMEM;
        b->t = n2;
        b->cap = nc;
    }
    int32_t ui = -1, ii = -1; /* intern_get sets them when it succeeds */
    int rc;
    if ((rc = intern_get(&b->users, user, ulen, &ui)) ||
        (rc = intern_get(&b->items, item, ilen, &ii)))
        return rc;
    b->t[b->n++] = (struct triple){ui, ii, w};
    return 0;
}

/* Keep the entries with a positive sum, and the users and items that still
 * have one; ids stay in id order. */
static int keep_positive(struct ia_matrix *m)
{
    int32_t *icount = calloc(m->n_items ? m->n_items : 1, sizeof *icount);
    int32_t *imap = malloc((m->n_items ? m->n_items : 1) * sizeof *imap);
    if (!icount || !imap) {
        free(icount);
        free(imap);
        return ENC_ENOMEM;
    }
    size_t w = 0, nu = 0;
    for (size_t u = 0; u < m->n_users; u++) {
        int64_t b = m->indptr[u], e = m->indptr[u + 1];
        int64_t row_start = (int64_t)w;
        for (int64_t k = b; k < e; k++) {
            if (!(m->weights[k] > 0))
                continue;
            m->indices[w] = m->indices[k];
            m->weights[w] = m->weights[k];
            icount[m->indices[w]]++;
            w++;
        }
        if ((int64_t)w == row_start) { /* a user with nothing left */
            free(m->user_ids[u]);
            continue;
        }
        m->user_ids[nu] = m->user_ids[u];
        m->indptr[nu] = row_start;
        nu++;
    }
    m->indptr[nu] = (int64_t)w;
    size_t ni = 0;
    for (size_t i = 0; i < m->n_items; i++) {
        if (icount[i] == 0) {
            free(m->item_ids[i]);
            imap[i] = -1;
            continue;
        }
        m->item_ids[ni] = m->item_ids[i];
        imap[i] = (int32_t)ni++;
    }
    for (size_t k = 0; k < w; k++)
        m->indices[k] = imap[m->indices[k]];
    m->n_users = nu;
    m->n_items = ni;
    m->nnz = w;
    free(icount);
    free(imap);
    return 0;
}

int ia_builder_finish(struct ia_builder *b, struct ia_matrix *out)
{
    memset(out, 0, sizeof *out);
    out->format = IA_FORMAT_TSV;
    out->n_records = b->n;
    int rc = build_csr(&b->users, &b->items, b->t, b->n, out);
    if (rc == 0)
        rc = keep_positive(out);
    free(b->t);
    b->t = NULL;
    b->n = b->cap = 0;
    intern_free(&b->users);
    intern_free(&b->items);
    if (rc)
        ia_matrix_clear(out);
    return rc;
}

/* ---- interaction files -------------------------------------------------- */

/* One file being read: its format and the records kept so far. */
struct ia_reading {
    const char *name;
    enum ia_format fmt;
    const struct ia_options *opt;
    int header;          /* the first record is a header */
    struct ia_builder b; /* the records kept */
};

/* Does the first non-blank line of buf name columns? The user-column names,
 * or csv_sniff's rule (a word above a column of numbers). */
static int first_line_is_header(const char *buf, size_t len)
{
    struct csv_sniff sn;
    csv_sniff(buf, len, &sn);
    if (sn.header && (sn.sep == '\t' || sn.sep == ','))
        return 1;
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        if (!csv_blank(p, (size_t)(e - p))) {
            /* bounded by the line: buf is (data, len), not a C string
             * (strcspn read past its end: fuzz_interactions, ASan) */
            size_t n = 0;
            while (p + n < e && !strchr(",\t\r", p[n]))
                n++;
            const char *s = p;
            if (n >= 2 && *s == '"' && s[n - 1] == '"') {
                s++;
                n -= 2;
            }
            return csv_name_is(s, n, user_columns);
        }
        p = nl ? nl + 1 : end;
    }
    return 0;
}

/* The rating and weight of the record in r (fields checked). Returns 0,
 * 1 for a header line to skip, or ENC_EFORMAT. */
static int record_values(const struct ia_reading *rd, const struct csv_reader *r, int first,
                         double *rating, double *weight, enc_err *err)
{
    const struct csv_field *f = r->f;
    const char *sepname = r->sep == '\t' ? "TAB" : "comma";
    if (first && rd->header)
        return 1;
    *weight = 1;
    if (rd->fmt == IA_FORMAT_UDATA || rd->fmt == IA_FORMAT_RATINGS_CSV) {
        if (r->n != 4)
            return enc_errf(err, ENC_EFORMAT,
                            "%s:%zu: expected 4 %s-separated fields (user, item, rating, "
                            "timestamp), found %zu",
                            rd->name, r->line, sepname, r->n);
        if (finite_number(&f[2], rating))
            return enc_errf(err, ENC_EFORMAT, "%s:%zu: rating '%.40s' is not a number", rd->name,
                            r->line, f[2].s);
        if (!csv_is_integer(f[3].s, f[3].len))
            return enc_errf(err, ENC_EFORMAT, "%s:%zu: timestamp '%.40s' is not an integer",
                            rd->name, r->line, f[3].s);
    } else {
        if (r->n < 2 || r->n > 3)
            return enc_errf(err, ENC_EFORMAT,
                            "%s:%zu: expected 2 or 3 %s-separated fields (user, item[, "
                            "weight]), found %zu",
                            rd->name, r->line, sepname, r->n);
        if (r->n == 3 && finite_number(&f[2], weight))
            return enc_errf(err, ENC_EFORMAT, "%s:%zu: weight '%.40s' is not a number", rd->name,
                            r->line, f[2].s);
        if (*weight < 0)
            return enc_errf(err, ENC_EFORMAT, "%s:%zu: weight %g is negative", rd->name, r->line,
                            *weight);
        *rating = *weight;
    }
    if (f[0].len == 0 || f[1].len == 0)
        return enc_errf(err, ENC_EFORMAT, "%s:%zu: empty %s id", rd->name, r->line,
                        f[0].len == 0 ? "user" : "item");
    return 0;
}

/* Keep (user, item, weight) of the record in r. */
static int keep_record(struct ia_reading *rd, const struct csv_reader *r, double weight,
                       enc_err *err)
{
    int rc = ia_builder_add(&rd->b, r->f[0].s, r->f[0].len, r->f[1].s, r->f[1].len, (float)weight);
    if (rc == ENC_EINVAL) /* the ids are checked: a weight past float's range */
        return enc_errf(err, ENC_EFORMAT, "%s:%zu: weight %g is out of range", rd->name, r->line,
                        weight);
    return rc ? enc_errf(err, rc, "%s:%zu: %s", rd->name, r->line,
                         rc == ENC_ENOMEM ? "out of memory" : "too many distinct ids")
              : 0;
}

/* Every record of buf (the format known) into rd; counts drops in out. */
static int read_records(struct ia_reading *rd, char *buf, size_t len, struct ia_matrix *out,
                        enc_err *err)
{
    char sep = rd->fmt == IA_FORMAT_UDATA || rd->fmt == IA_FORMAT_TSV ? '\t' : ',';
    struct csv_reader r;
    csv_init(&r, buf, len, sep, (sep == ',' ? CSV_QUOTES : 0) | CSV_SKIP_BLANK);
    int rc = 0, got = 0, first = 1;
    while (rc == 0 && (got = csv_next(&r)) == 1) {
        double rating = 0, weight = 1;
        rc = record_values(rd, &r, first, &rating, &weight, err);
        first = 0;
        if (rc == 1) {
            rc = 0; /* a header: kept for the report, fields joined by ", " */
            out->header = 1;
            size_t at = 0;
            for (size_t k = 0; k < r.n && at + 4 < sizeof out->header_text; k++)
                at += (size_t)snprintf(out->header_text + at, sizeof out->header_text - at,
                                       "%s%.*s", k ? ", " : "", (int)r.f[k].len, r.f[k].s);
        } else if (rc == 0 && (rating < rd->opt->min_rating || weight == 0)) {
            out->n_dropped++;
        } else if (rc == 0) {
            rc = keep_record(rd, &r, weight, err);
            if (r.n == 3 && (rd->fmt == IA_FORMAT_CSV || rd->fmt == IA_FORMAT_TSV))
                out->has_weights = 1;
        }
    }
    if (rc == 0 && got == ENC_ENOMEM)
        rc = enc_errf(err, ENC_ENOMEM, "%s: out of memory", rd->name);
    else if (rc == 0 && got < 0)
        rc = enc_errf(err, ENC_EFORMAT, "%s:%zu: %s", rd->name, r.err_line,
                      r.error == CSV_ENUL ? "NUL byte in line" : "unterminated quoted field");
    csv_free(&r);
    return rc;
}

int ia_parse(const char *name, const char *data, size_t len, const struct ia_options *opt,
             struct ia_matrix *out, enc_err *err)
{
    memset(out, 0, sizeof *out);
    struct ia_options defaults = {IA_FORMAT_AUTO, -INFINITY, IA_HEADER_AUTO};
    struct ia_reading rd = {.name = name, .opt = opt ? opt : &defaults};
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) { /* a UTF-8 byte order mark */
        data += 3;
        len -= 3;
    }
    rd.fmt = rd.opt->format;
    rd.header = rd.opt->header == IA_HEADER_YES ||
                (rd.opt->header == IA_HEADER_AUTO && first_line_is_header(data, len));
    if (rd.fmt == IA_FORMAT_AUTO) {
        if (csv_blank(data, len))
            return enc_errf(err, ENC_EFORMAT, "%s: empty file: no interactions", name);
        /* a ratings.csv header names its format; any other header is skipped */
        if ((rd.fmt = detect(data, len, 0)) != IA_FORMAT_RATINGS_CSV && rd.header)
            rd.fmt = detect(data, len, 1);
        if (rd.fmt == IA_FORMAT_AUTO)
            return enc_errf(err, ENC_EFORMAT,
                            "%s:1: cannot detect the format (no TAB or comma in the first "
                            "line); use --format udata|ratings-csv|csv|tsv",
                            name);
    }
    out->format = rd.fmt;
    /* A private copy to cut fields in (with the spare byte csv.h needs). */
    char *buf = malloc(len + 1);
    if (!buf)
        return enc_errf(err, ENC_ENOMEM, "%s: out of memory", name);
    memcpy(buf, data, len);
    buf[len] = '\0';
    st_sha256_hex(buf, len, out->sha256);
    int rc = read_records(&rd, buf, len, out, err);
    free(buf);
    if (rc == 0 && rd.b.n == 0)
        rc = enc_errf(err, ENC_EFORMAT, "%s: no interactions%s", name,
                      out->n_dropped ? " left after --min-rating" : " (empty file)");
    out->n_records = rd.b.n;
    if (rc == 0 && (rc = build_csr(&rd.b.users, &rd.b.items, rd.b.t, rd.b.n, out)))
        enc_errf(err, rc, "%s: out of memory", name);
    intern_free(&rd.b.users);
    intern_free(&rd.b.items);
    free(rd.b.t);
    if (rc)
        ia_matrix_clear(out);
    return rc;
}

int ia_read(const char *path, const struct ia_options *opt, struct ia_matrix *out, enc_err *err)
{
    memset(out, 0, sizeof *out);
    char *buf;
    size_t len;
    int rc = enc_read_file(path, &buf, &len, err);
    if (rc)
        return rc;
    rc = ia_parse(path, buf, len, opt, out, err);
    free(buf);
    return rc;
}

int ia_transpose(size_t rows, size_t cols, const int64_t *indptr, const int32_t *indices,
                 const float *weights, int64_t **t_indptr, int32_t **t_indices, float **t_weights)
{
    size_t nnz = (size_t)indptr[rows];
    int64_t *tp = calloc(cols + 1, sizeof *tp);
    int32_t *ti = malloc((nnz ? nnz : 1) * sizeof *ti);
    float *tw = weights ? malloc((nnz ? nnz : 1) * sizeof *tw) : NULL;
    int64_t *pos = malloc((cols ? cols : 1) * sizeof *pos);
    if (!tp || !ti || (weights && !tw) || !pos) {
        free(tp);
        free(ti);
        free(tw);
        free(pos);
        return ENC_ENOMEM;
    }
    for (size_t k = 0; k < nnz; k++)
        tp[indices[k] + 1]++;
    for (size_t c = 0; c < cols; c++)
        tp[c + 1] += tp[c];
    memcpy(pos, tp, cols * sizeof *pos);
    /* Rows are visited in order, so each new row's indexes come out ascending. */
    for (size_t r = 0; r < rows; r++)
        for (int64_t k = indptr[r]; k < indptr[r + 1]; k++) {
            int64_t p = pos[indices[k]]++;
            ti[p] = (int32_t)r;
            if (tw)
                tw[p] = weights[k];
        }
    free(pos);
    *t_indptr = tp;
    *t_indices = ti;
    if (t_weights)
        *t_weights = tw;
    else
        free(tw);
    return 0;
}

/* ---- into an mf_data --------------------------------------------------- */

/* Copies of n strings (strv_free frees them). */
static char **copy_strs(char *const *s, size_t n)
{
    return strv_dup((const char *const *)s, n, NULL);
}

int ia_fill_mf_data(const struct ia_matrix *m, const struct ia_items *items, struct mf_data *d)
{
    d->n_users = m->n_users;
    d->n_items = m->n_items;
    if (!(d->user_ids = copy_strs(m->user_ids, m->n_users)))
        return ENC_ENOMEM;
    if (!(d->item_ids = copy_strs(m->item_ids, m->n_items)))
        return ENC_ENOMEM;
    d->seen_offsets = malloc((m->n_users + 1) * sizeof *d->seen_offsets);
    d->seen_items = malloc((m->nnz ? m->nnz : 1) * sizeof *d->seen_items);
    d->item_popularity = calloc(m->n_items ? m->n_items : 1, sizeof *d->item_popularity);
    if (!d->seen_offsets || !d->seen_items || !d->item_popularity)
        return ENC_ENOMEM;
    memcpy(d->seen_offsets, m->indptr, (m->n_users + 1) * sizeof *d->seen_offsets);
    memcpy(d->seen_items, m->indices, m->nnz * sizeof *d->seen_items);
    for (size_t k = 0; k < m->nnz; k++)
        d->item_popularity[m->indices[k]] += 1.0f;
    if (items) {
        if (!(d->titles = copy_strs(items->titles, m->n_items)))
            return ENC_ENOMEM;
        d->n_tags = items->n_tags;
        if (!(d->tag_names = copy_strs(items->tag_names, items->n_tags)))
            return ENC_ENOMEM;
        size_t nt = (size_t)items->tag_offsets[m->n_items];
        d->item_tag_offsets = malloc((m->n_items + 1) * sizeof *d->item_tag_offsets);
        d->item_tag_ids = malloc((nt ? nt : 1) * sizeof *d->item_tag_ids);
        if (!d->item_tag_offsets || !d->item_tag_ids)
            return ENC_ENOMEM;
        memcpy(d->item_tag_offsets, items->tag_offsets,
               (m->n_items + 1) * sizeof *d->item_tag_offsets);
        memcpy(d->item_tag_ids, items->tag_ids, nt * sizeof *d->item_tag_ids);
    }
    return 0;
}
