/*
 * interactions.c - parsers for interaction logs and item metadata (see
 * interactions.h for the formats and the id ordering rule).
 *
 * A file is read whole into a private, writable buffer; lines are cut in
 * place and fields point into it (quoted CSV fields are unescaped in place,
 * which never grows them). Ids are interned in a string map (core/strmap.h)
 * while reading, then sorted so that row order is id order, and the records
 * are turned into CSR with a counting sort by user.
 */
#include "mf/interactions.h"
#include "core/file.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/st.h"
#include "core/strmap.h"
#include "mf/mf.h"
#include "core/strv.h"
#include "core/utf8.h"

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

int ia_items_format_parse(const char *name, enum ia_items_format *out)
{
    if (strcmp(name, "auto") == 0)
        *out = IA_ITEMS_AUTO;
    else if (strcmp(name, "uitem") == 0)
        *out = IA_ITEMS_UITEM;
    else if (strcmp(name, "movies-csv") == 0)
        *out = IA_ITEMS_MOVIES_CSV;
    else
        return ENC_EINVAL;
    return 0;
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

/* ---- files and lines --------------------------------------------------- */

struct lines {
    char *p, *end;
    size_t lineno;
};

/* Next line (NUL-terminated in place, CR stripped), or NULL at the end. */
static char *next_line(struct lines *ls, size_t *len)
{
    if (ls->p >= ls->end)
        return NULL;
    char *s = ls->p;
    char *nl = memchr(s, '\n', (size_t)(ls->end - s));
    char *e = nl ? nl : ls->end;
    ls->p = nl ? nl + 1 : ls->end;
    ls->lineno++;
    if (e > s && e[-1] == '\r')
        e--;
    *e = '\0';
    *len = (size_t)(e - s);
    return s;
}

static int blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!isspace((unsigned char)s[i]))
            return 0;
    return 1;
}

#define MAX_FIELDS 64

struct field {
    char *s;
    size_t len;
};

/* Split a NUL-terminated line on `sep`. With `quoted`, a field that starts
 * with '"' runs to the matching quote ("" is a literal quote) and is
 * unescaped in place. Returns the field count (capped at MAX_FIELDS; more
 * fields report MAX_FIELDS + 1), or -1 for an unterminated quote. */
static int split(char *line, size_t len, char sep, int quoted, struct field *f)
{
    int n = 0;
    char *p = line, *end = line + len;
    for (;;) {
        char *s = p, *e;
        if (quoted && p < end && *p == '"') {
            char *w = p;
            s = w;
            p++;
            for (;;) {
                if (p >= end)
                    return -1;
                if (*p == '"') {
                    if (p + 1 < end && p[1] == '"') {
                        *w++ = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                *w++ = *p++;
            }
            e = w;
            if (p < end && *p != sep)
                return -1;
        } else {
            while (p < end && *p != sep)
                p++;
            e = p;
        }
        if (n < MAX_FIELDS)
            f[n] = (struct field){s, (size_t)(e - s)};
        n++;
        if (p >= end)
            break;
        *e = '\0';
        p++;   /* past the separator */
    }
    if (n > MAX_FIELDS)
        n = MAX_FIELDS + 1;
    for (int i = 0; i < n && i < MAX_FIELDS; i++)
        f[i].s[f[i].len] = '\0';
    return n;
}

static int parse_number(const struct field *f, double *out)
{
    if (f->len == 0 || f->len > 63)
        return -1;
    char tmp[64];
    memcpy(tmp, f->s, f->len);
    tmp[f->len] = '\0';
    char *end;
    errno = 0;
    double d = strtod(tmp, &end);
    while (*end == ' ')
        end++;
    if (end == tmp || *end || errno || !isfinite(d))
        return -1;
    *out = d;
    return 0;
}

static int is_integer(const struct field *f)
{
    size_t i = 0;
    if (f->len && (f->s[0] == '-' || f->s[0] == '+'))
        i = 1;
    if (i >= f->len)
        return 0;
    for (; i < f->len; i++)
        if (f->s[i] < '0' || f->s[i] > '9')
            return 0;
    return 1;
}

static int lower_eq(const struct field *f, const char *w)
{
    size_t n = strlen(w);
    if (f->len != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)f->s[i]) != w[i])
            return 0;
    return 1;
}

/* ---- interactions ------------------------------------------------------ */

struct triple {
    int32_t u, i;
    float w;
};

static enum ia_format detect(char *buf, size_t len)
{
    /* Look at a copy of the first non-blank line. */
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        if (!blank(p, (size_t)(e - p))) {
            size_t n = (size_t)(e - p);
            if (n > 4096)
                n = 4096;
            char line[4097];
            memcpy(line, p, n);
            if (n && line[n - 1] == '\r')
                n--;
            line[n] = '\0';
            struct field f[MAX_FIELDS + 1];
            if (strchr(line, '\t')) {
                int k = split(line, n, '\t', 0, f);
                double d;
                if (k == 4 && parse_number(&f[2], &d) == 0 && is_integer(&f[3]))
                    return IA_FORMAT_UDATA;
                return IA_FORMAT_TSV;
            }
            if (strchr(line, ',')) {
                int k = split(line, n, ',', 1, f);
                if (k >= 3 && lower_eq(&f[0], "userid") && lower_eq(&f[1], "movieid") &&
                    lower_eq(&f[2], "rating"))
                    return IA_FORMAT_RATINGS_CSV;
                return IA_FORMAT_CSV;
            }
            return IA_FORMAT_AUTO;   /* undetectable */
        }
        p = nl ? nl + 1 : end;
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

int ia_parse(const char *name, const char *data, size_t len, const struct ia_options *opt,
             struct ia_matrix *out, enc_err *err)
{
    memset(out, 0, sizeof *out);
    struct ia_options defaults = {IA_FORMAT_AUTO, -INFINITY};
    if (!opt)
        opt = &defaults;
    char *buf = malloc(len + 1);
    if (!buf)
        return enc_errf(err, ENC_ENOMEM, "%s: out of memory", name);
    memcpy(buf, data, len);
    buf[len] = '\0';
    st_sha256_hex(buf, len, out->sha256);

    enum ia_format fmt = opt->format;
    if (fmt == IA_FORMAT_AUTO) {
        if (blank(buf, len)) {
            free(buf);
            return enc_errf(err, ENC_EFORMAT, "%s: empty file: no interactions", name);
        }
        fmt = detect(buf, len);
        if (fmt == IA_FORMAT_AUTO) {
            free(buf);
            return enc_errf(err, ENC_EFORMAT,
                            "%s:1: cannot detect the format (no TAB or comma in the first "
                            "line); use --format udata|ratings-csv|csv|tsv", name);
        }
    }
    out->format = fmt;
    char sep = (fmt == IA_FORMAT_UDATA || fmt == IA_FORMAT_TSV) ? '\t' : ',';
    int quoted = sep == ',';
    int rating_fmt = fmt == IA_FORMAT_UDATA || fmt == IA_FORMAT_RATINGS_CSV;

    struct intern users = {0}, items = {0};
    struct triple *t = NULL;
    size_t nt = 0, cap = 0;
    int rc = 0, first = 1;
    struct lines ls = {buf, buf + len, 0};
    char *line;
    size_t ll;
    struct field f[MAX_FIELDS + 1];
    while ((line = next_line(&ls, &ll)) != NULL) {
        if (blank(line, ll))
            continue;
        if (memchr(line, '\0', ll)) {
            rc = enc_errf(err, ENC_EFORMAT, "%s:%zu: NUL byte in line", name, ls.lineno);
            goto fail;
        }
        int nf = split(line, ll, sep, quoted, f);
        if (nf < 0) {
            rc = enc_errf(err, ENC_EFORMAT, "%s:%zu: unterminated quoted field", name,
                          ls.lineno);
            goto fail;
        }
        int was_first = first;
        first = 0;
        if (was_first && nf >= 1) {
            /* Header lines. */
            if (fmt == IA_FORMAT_RATINGS_CSV && lower_eq(&f[0], "userid"))
                continue;
            if ((fmt == IA_FORMAT_CSV || fmt == IA_FORMAT_TSV) &&
                (lower_eq(&f[0], "user") || lower_eq(&f[0], "userid") ||
                 lower_eq(&f[0], "user_id") || lower_eq(&f[0], "uid")))
                continue;
        }
        double weight = 1, rating;
        if (rating_fmt) {
            if (nf != 4) {
                rc = enc_errf(err, ENC_EFORMAT,
                              "%s:%zu: expected 4 %s-separated fields (user, item, rating, "
                              "timestamp), found %d%s", name, ls.lineno,
                              sep == '\t' ? "TAB" : "comma", nf > MAX_FIELDS ? MAX_FIELDS : nf,
                              nf > MAX_FIELDS ? "+" : "");
                goto fail;
            }
            if (parse_number(&f[2], &rating)) {
                rc = enc_errf(err, ENC_EFORMAT, "%s:%zu: rating '%.40s' is not a number", name,
                              ls.lineno, f[2].s);
                goto fail;
            }
            if (!is_integer(&f[3])) {
                rc = enc_errf(err, ENC_EFORMAT, "%s:%zu: timestamp '%.40s' is not an integer",
                              name, ls.lineno, f[3].s);
                goto fail;
            }
        } else {
            if (nf < 2 || nf > 3) {
                rc = enc_errf(err, ENC_EFORMAT,
                              "%s:%zu: expected 2 or 3 %s-separated fields (user, item[, "
                              "weight]), found %d%s", name, ls.lineno,
                              sep == '\t' ? "TAB" : "comma", nf > MAX_FIELDS ? MAX_FIELDS : nf,
                              nf > MAX_FIELDS ? "+" : "");
                goto fail;
            }
            if (nf == 3) {
                if (parse_number(&f[2], &weight)) {
                    rc = enc_errf(err, ENC_EFORMAT, "%s:%zu: weight '%.40s' is not a number",
                                  name, ls.lineno, f[2].s);
                    goto fail;
                }
                if (weight < 0) {
                    rc = enc_errf(err, ENC_EFORMAT, "%s:%zu: weight %g is negative", name,
                                  ls.lineno, weight);
                    goto fail;
                }
            }
            rating = weight;
        }
        if (f[0].len == 0 || f[1].len == 0) {
            rc = enc_errf(err, ENC_EFORMAT, "%s:%zu: empty %s id", name, ls.lineno,
                          f[0].len == 0 ? "user" : "item");
            goto fail;
        }
        if (rating < opt->min_rating || weight == 0) {
            out->n_dropped++;
            continue;
        }
        if (nt == cap) {
            size_t nc = cap ? cap * 2 : 4096;
            struct triple *n2 = realloc(t, nc * sizeof *n2);
            if (!n2) {
                rc = enc_errf(err, ENC_ENOMEM, "%s: out of memory", name);
                goto fail;
            }
            t = n2;
            cap = nc;
        }
        int32_t ui, ii;
        if ((rc = intern_get(&users, f[0].s, f[0].len, &ui)) ||
            (rc = intern_get(&items, f[1].s, f[1].len, &ii))) {
            enc_errf(err, rc, "%s:%zu: %s", name, ls.lineno,
                     rc == ENC_ENOMEM ? "out of memory" : "too many distinct ids");
            goto fail;
        }
        t[nt++] = (struct triple){ui, ii, (float)weight};
    }
    if (nt == 0) {
        rc = enc_errf(err, ENC_EFORMAT, "%s: no interactions%s", name,
                      out->n_dropped ? " left after --min-rating" : " (empty file)");
        goto fail;
    }
    out->n_records = nt;
    rc = build_csr(&users, &items, t, nt, out);
    if (rc) {
        enc_errf(err, rc, "%s: out of memory", name);
        goto fail;
    }
    free(t);
    free(buf);
    return 0;
fail:
    intern_free(&users);
    intern_free(&items);
    free(t);
    free(buf);
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
                 const float *weights, int64_t **t_indptr, int32_t **t_indices,
                 float **t_weights)
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

/* ---- item metadata ----------------------------------------------------- */

static const char *const std_genres[] = {
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
};

void ia_items_clear(struct ia_items *it)
{
    if (!it)
        return;
    strv_free(it->titles, it->n_items);
    strv_free(it->tag_names, it->n_tags);
    free(it->tag_offsets);
    free(it->tag_ids);
    memset(it, 0, sizeof *it);
}

/* Row of id s in the sorted ids, or -1. */
static int64_t find_id(char *const *ids, size_t n, const char *s)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = ia_id_cmp(ids[mid], s);
        if (c == 0)
            return (int64_t)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* Read u.genre beside u.item: "name|index" lines, indexes 0..n-1 in order.
 * Returns 0 with *n = 0 if the file does not exist. */
static int read_ugenre(const char *uitem_path, char ***names, size_t *n, enc_err *err)
{
    *names = NULL;
    *n = 0;
    const char *slash = strrchr(uitem_path, '/');
    size_t dlen = slash ? (size_t)(slash - uitem_path + 1) : 0;
    char *path = malloc(dlen + 8);
    if (!path)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    memcpy(path, uitem_path, dlen);
    strcpy(path + dlen, "u.genre");
    FILE *probe = fopen(path, "rb");
    if (!probe) {
        free(path);
        return 0;
    }
    fclose(probe);
    char *buf;
    size_t len;
    int rc = enc_read_file(path, &buf, &len, err);
    if (rc) {
        free(path);
        return rc;
    }
    struct lines ls = {buf, buf + len, 0};
    char *line;
    size_t ll, cap = 0;
    char **v = NULL;
    struct field f[MAX_FIELDS + 1];
    while ((line = next_line(&ls, &ll)) != NULL) {
        if (blank(line, ll))
            continue;
        int nf = split(line, ll, '|', 0, f);
        double idx;
        if (nf != 2 || f[0].len == 0 || parse_number(&f[1], &idx) || idx != (double)*n) {
            rc = enc_errf(err, ENC_EFORMAT, "%s:%zu: expected 'genre|%zu'", path, ls.lineno, *n);
            break;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 32;
            char **nv = realloc(v, cap * sizeof *nv);
            if (!nv) {
                rc = enc_errf(err, ENC_ENOMEM, "out of memory");
                break;
            }
            v = nv;
        }
        if (!(v[*n] = utf8_dup(f[0].s, f[0].len))) {
            rc = enc_errf(err, ENC_ENOMEM, "out of memory");
            break;
        }
        (*n)++;
    }
    if (!rc && *n == 0)
        rc = enc_errf(err, ENC_EFORMAT, "%s: no genres", path);
    free(buf);
    free(path);
    if (rc) {
        for (size_t i = 0; i < *n; i++)
            free(v[i]);
        free(v);
        *n = 0;
        return rc;
    }
    *names = v;
    return 0;
}

static int int32_cmp(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int ia_read_items(const char *path, enum ia_items_format fmt, char *const *item_ids,
                  size_t n_items, struct ia_items *out, enc_err *err)
{
    memset(out, 0, sizeof *out);
    char *buf;
    size_t len;
    int rc = enc_read_file(path, &buf, &len, err);
    if (rc)
        return rc;
    if (blank(buf, len)) {
        free(buf);
        return enc_errf(err, ENC_EFORMAT, "%s: empty file: no items", path);
    }
    if (fmt == IA_ITEMS_AUTO) {
        /* First line: a comma before any '|' means movies.csv style. */
        const char *nl = memchr(buf, '\n', len);
        size_t n1 = nl ? (size_t)(nl - buf) : len;
        const char *bar = memchr(buf, '|', n1), *comma = memchr(buf, ',', n1);
        if (comma && (!bar || comma < bar))
            fmt = IA_ITEMS_MOVIES_CSV;
        else if (bar)
            fmt = IA_ITEMS_UITEM;
        else {
            free(buf);
            return enc_errf(err, ENC_EFORMAT,
                            "%s:1: cannot detect the item format (use --items-format "
                            "uitem|movies-csv)", path);
        }
    }

    char **genres = NULL;
    size_t n_genres = 0;
    struct intern tags = {0};
    /* Per item: a list of tag ids, gathered into CSR at the end. */
    int32_t *pairs = NULL;      /* (item, tag) pairs */
    size_t npairs = 0, pcap = 0;
    out->n_items = n_items;
    out->titles = calloc(n_items ? n_items : 1, sizeof *out->titles);
    unsigned char *have = calloc(n_items ? n_items : 1, 1);
    if (!out->titles || !have) {
        rc = enc_errf(err, ENC_ENOMEM, "out of memory");
        goto done;
    }
    if (fmt == IA_ITEMS_UITEM) {
        if ((rc = read_ugenre(path, &genres, &n_genres, err)))
            goto done;
        if (n_genres == 0) {
            n_genres = sizeof std_genres / sizeof *std_genres;
            genres = calloc(n_genres, sizeof *genres);
            if (!genres) {
                n_genres = 0;
                rc = enc_errf(err, ENC_ENOMEM, "out of memory");
                goto done;
            }
            for (size_t g = 0; g < n_genres; g++)
                if (!(genres[g] = strdup(std_genres[g]))) {
                    rc = enc_errf(err, ENC_ENOMEM, "out of memory");
                    goto done;
                }
        }
        if (n_genres + 5 > MAX_FIELDS) {
            rc = enc_errf(err, ENC_EUNSUPPORTED, "%s: too many genres (%zu)", path, n_genres);
            goto done;
        }
    }

    struct lines ls = {buf, buf + len, 0};
    char *line;
    size_t ll;
    struct field f[MAX_FIELDS + 1];
    int first = 1;
    while ((line = next_line(&ls, &ll)) != NULL) {
        if (blank(line, ll))
            continue;
        if (memchr(line, '\0', ll)) {
            rc = enc_errf(err, ENC_EFORMAT, "%s:%zu: NUL byte in line", path, ls.lineno);
            goto done;
        }
        int nf;
        const struct field *title, *id;
        if (fmt == IA_ITEMS_UITEM) {
            nf = split(line, ll, '|', 0, f);
            if (nf != (int)(5 + n_genres)) {
                rc = enc_errf(err, ENC_EFORMAT,
                              "%s:%zu: expected %zu '|'-separated fields (id, title, release "
                              "date, video release date, URL, %zu genre flags), found %d%s",
                              path, ls.lineno, 5 + n_genres, n_genres,
                              nf > MAX_FIELDS ? MAX_FIELDS : nf, nf > MAX_FIELDS ? "+" : "");
                goto done;
            }
            for (size_t g = 0; g < n_genres; g++) {
                const struct field *fl = &f[5 + g];
                if (fl->len != 1 || (fl->s[0] != '0' && fl->s[0] != '1')) {
                    rc = enc_errf(err, ENC_EFORMAT,
                                  "%s:%zu: genre flag %zu ('%s') is '%.20s', expected 0 or 1",
                                  path, ls.lineno, g + 1, genres[g], fl->s);
                    goto done;
                }
            }
        } else {
            nf = split(line, ll, ',', 1, f);
            if (nf < 0) {
                rc = enc_errf(err, ENC_EFORMAT, "%s:%zu: unterminated quoted field", path,
                              ls.lineno);
                goto done;
            }
            if (nf != 3) {
                rc = enc_errf(err, ENC_EFORMAT,
                              "%s:%zu: expected 3 comma-separated fields (id, title, genres), "
                              "found %d%s", path, ls.lineno, nf > MAX_FIELDS ? MAX_FIELDS : nf,
                              nf > MAX_FIELDS ? "+" : "");
                goto done;
            }
            if (first) {
                first = 0;
                continue;   /* the header */
            }
        }
        first = 0;
        id = &f[0];
        title = &f[1];
        if (id->len == 0) {
            rc = enc_errf(err, ENC_EFORMAT, "%s:%zu: empty item id", path, ls.lineno);
            goto done;
        }
        char *uid = utf8_dup(id->s, id->len);
        if (!uid) {
            rc = enc_errf(err, ENC_ENOMEM, "out of memory");
            goto done;
        }
        int64_t row = find_id(item_ids, n_items, uid);
        free(uid);
        if (row < 0)
            continue;
        if (have[row]) {
            rc = enc_errf(err, ENC_EFORMAT, "%s:%zu: duplicate item id '%.60s'", path,
                          ls.lineno, id->s);
            goto done;
        }
        have[row] = 1;
        out->n_matched++;
        if (!(out->titles[row] = utf8_dup(title->s, title->len))) {
            rc = enc_errf(err, ENC_ENOMEM, "out of memory");
            goto done;
        }
        /* Tags of this item. */
        int32_t tl[MAX_FIELDS + 1];
        size_t ntl = 0;
        if (fmt == IA_ITEMS_UITEM) {
            for (size_t g = 0; g < n_genres; g++)
                if (f[5 + g].s[0] == '1')
                    tl[ntl++] = (int32_t)g;
        } else if (f[2].len && strcmp(f[2].s, "(no genres listed)") != 0) {
            char *g = f[2].s, *gend = f[2].s + f[2].len;
            while (g <= gend) {
                char *bar = memchr(g, '|', (size_t)(gend - g));
                char *e = bar ? bar : gend;
                if (e > g) {
                    int32_t ti;
                    if ((rc = intern_get(&tags, g, (size_t)(e - g), &ti))) {   /* first-seen order */
                        enc_errf(err, rc, "out of memory");
                        goto done;
                    }
                    if (ntl < MAX_FIELDS)
                        tl[ntl++] = ti;
                }
                g = e + 1;
            }
            qsort(tl, ntl, sizeof *tl, int32_cmp);
        }
        for (size_t k = 0; k < ntl; k++) {
            if (k && tl[k] == tl[k - 1])
                continue;
            if (npairs + 2 > pcap) {
                pcap = pcap ? pcap * 2 : 1024;
                int32_t *np = realloc(pairs, pcap * sizeof *np);
                if (!np) {
                    rc = enc_errf(err, ENC_ENOMEM, "out of memory");
                    goto done;
                }
                pairs = np;
            }
            pairs[npairs++] = (int32_t)row;
            pairs[npairs++] = tl[k];
        }
    }
    /* Missing titles are "". */
    for (size_t i = 0; i < n_items; i++)
        if (!out->titles[i] && !(out->titles[i] = strdup(""))) {
            rc = enc_errf(err, ENC_ENOMEM, "out of memory");
            goto done;
        }
    /* The vocabulary. */
    if (fmt == IA_ITEMS_UITEM) {
        out->tag_names = genres;
        out->n_tags = n_genres;
        genres = NULL;
        n_genres = 0;
    } else {
        out->n_tags = strmap_size(&tags.map);
        if (!(out->tag_names = strmap_strv(&tags.map))) {
            out->n_tags = 0;
            rc = enc_errf(err, ENC_ENOMEM, "out of memory");
            goto done;
        }
    }
    /* Tag CSR (pairs come grouped per item but items in file order). */
    out->tag_offsets = calloc(n_items + 1, sizeof *out->tag_offsets);
    size_t np = npairs / 2;
    out->tag_ids = malloc((np ? np : 1) * sizeof *out->tag_ids);
    if (!out->tag_offsets || !out->tag_ids) {
        rc = enc_errf(err, ENC_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t k = 0; k < np; k++)
        out->tag_offsets[pairs[2 * k] + 1]++;
    for (size_t i = 0; i < n_items; i++)
        out->tag_offsets[i + 1] += out->tag_offsets[i];
    {
        int64_t *pos = malloc((n_items ? n_items : 1) * sizeof *pos);
        if (!pos) {
            rc = enc_errf(err, ENC_ENOMEM, "out of memory");
            goto done;
        }
        memcpy(pos, out->tag_offsets, n_items * sizeof *pos);
        for (size_t k = 0; k < np; k++)
            out->tag_ids[pos[pairs[2 * k]]++] = pairs[2 * k + 1];
        free(pos);
    }
done:
    if (genres) {
        for (size_t g = 0; g < n_genres; g++)
            free(genres[g]);
        free(genres);
    }
    intern_free(&tags);
    free(pairs);
    free(have);
    free(buf);
    if (rc)
        ia_items_clear(out);
    return rc;
}

/* ---- into an mf_data --------------------------------------------------- */

static char **copy_strs(char *const *s, size_t n)
{
    char **o = calloc(n ? n : 1, sizeof *o);
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!(o[i] = strdup(s[i]))) {
            for (size_t j = 0; j < i; j++)
                free(o[j]);
            free(o);
            return NULL;
        }
    return o;
}

int ia_fill_mf_data(const struct ia_matrix *m, const struct ia_items *items,
                    struct mf_data *d)
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
    int32_t ui, ii;
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
        if ((int64_t)w == row_start) {   /* a user with nothing left */
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
