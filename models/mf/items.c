/*
 * items.c - item metadata for a matrix's items: a title and tags per item,
 * from MovieLens u.item (genre flags, names from u.genre) or a movies.csv
 * style file (genres separated by '|'); see interactions.h for the formats.
 *
 * ia_read_items reads the file whole and hands each record to its format's
 * line reader (uitem_line, movies_line). Both end in item_add, which finds
 * the item among the matrix's sorted ids and records its title and tag ids;
 * finish_items turns the (item, tag) pairs into CSR in item order.
 */
#include "mf/interactions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/csv.h"
#include "core/file.h"
#include "core/strmap.h"
#include "core/strv.h"
#include "core/utf8.h"

#define MAX_TAGS 64   /* tags kept per item; u.item files with more genres are refused */

static const char *const std_genres[] = {
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
};

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

/* One item file being read into `out`. */
struct items_reading {
    const char *path;
    char *const *ids;           /* the matrix's item ids, ascending (ia_id_cmp) */
    size_t n_items;
    struct ia_items *out;
    unsigned char *have;        /* items already seen in the file */
    char **genres;              /* uitem: the genre names */
    size_t n_genres;
    strmap tags;                /* movies-csv: the tag vocabulary, first-seen order */
    int32_t *pairs;             /* (item row, tag id) pairs, grouped by item */
    size_t npairs, pcap;
};

/* ---- u.genre ------------------------------------------------------------ */

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
    struct strv v = {0};
    struct csv_reader r;
    csv_init(&r, buf, len, '|', CSV_SKIP_BLANK);
    int got = 0;
    while (rc == 0 && (got = csv_next(&r)) == 1) {
        double idx;
        if (r.n != 2 || r.f[0].len == 0 || csv_number(r.f[1].s, r.f[1].len, &idx) ||
            idx != (double)v.n)
            rc = enc_errf(err, ENC_EFORMAT, "%s:%zu: expected 'genre|%zu'", path, r.line, v.n);
        else if (strv_push_owned(&v, utf8_dup(r.f[0].s, r.f[0].len)))
            rc = enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    if (rc == 0 && got < 0)
        rc = enc_errf(err, got, "%s:%zu: %s", path, r.err_line,
                      got == ENC_ENOMEM ? "out of memory" : csv_error_text(r.error));
    if (!rc && v.n == 0)
        rc = enc_errf(err, ENC_EFORMAT, "%s: no genres", path);
    csv_free(&r);
    free(buf);
    free(path);
    if (rc) {
        strv_clear(&v);
        return rc;
    }
    *names = v.v;
    *n = v.n;
    return 0;
}

/* The genres of a u.item file: u.genre's, or MovieLens' standard 19. */
static int uitem_genres(struct items_reading *ir, enc_err *err)
{
    int rc = read_ugenre(ir->path, &ir->genres, &ir->n_genres, err);
    if (rc)
        return rc;
    if (ir->n_genres == 0) {
        size_t n = sizeof std_genres / sizeof *std_genres;
        if (!(ir->genres = strv_dup(std_genres, n, NULL)))
            return enc_errf(err, ENC_ENOMEM, "out of memory");
        ir->n_genres = n;
    }
    if (ir->n_genres + 5 > MAX_TAGS)
        return enc_errf(err, ENC_EUNSUPPORTED, "%s: too many genres (%zu)", ir->path,
                        ir->n_genres);
    return 0;
}

/* ---- one item ----------------------------------------------------------- */

static int int32_cmp(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* The matrix row of the item `id` on `line` into *row: -1 when the matrix
 * does not have it (the line is skipped), an error when it came before. */
static int item_row(struct items_reading *ir, const struct csv_field *id, size_t line,
                    int64_t *row, enc_err *err)
{
    if (id->len == 0)
        return enc_errf(err, ENC_EFORMAT, "%s:%zu: empty item id", ir->path, line);
    char *uid = utf8_dup(id->s, id->len);
    if (!uid)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    *row = ia_find_id(ir->ids, ir->n_items, uid);
    free(uid);
    if (*row >= 0 && ir->have[*row])
        return enc_errf(err, ENC_EFORMAT, "%s:%zu: duplicate item id '%.60s'", ir->path, line,
                        id->s);
    return 0;
}

/* Record the title and the tags tl[0..ntl) (ascending) of the item in `row`. */
static int item_add(struct items_reading *ir, int64_t row, const struct csv_field *title,
                    const int32_t *tl, size_t ntl, enc_err *err)
{
    ir->have[row] = 1;
    ir->out->n_matched++;
    if (!(ir->out->titles[row] = utf8_dup(title->s, title->len)))
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    for (size_t k = 0; k < ntl; k++) {
        if (k && tl[k] == tl[k - 1])
            continue;
        if (ir->npairs + 2 > ir->pcap) {
            size_t nc = ir->pcap ? ir->pcap * 2 : 1024;
            int32_t *np = realloc(ir->pairs, nc * sizeof *np);
            if (!np)
                return enc_errf(err, ENC_ENOMEM, "out of memory");
            ir->pairs = np;
            ir->pcap = nc;
        }
        ir->pairs[ir->npairs++] = (int32_t)row;
        ir->pairs[ir->npairs++] = tl[k];
    }
    return 0;
}

/* u.item: id|title|release|video release|url|flag..flag, one 0/1 per genre. */
static int uitem_line(struct items_reading *ir, const struct csv_reader *r, enc_err *err)
{
    const struct csv_field *f = r->f;
    int64_t row;
    if (r->n != 5 + ir->n_genres)
        return enc_errf(err, ENC_EFORMAT,
                        "%s:%zu: expected %zu '|'-separated fields (id, title, release "
                        "date, video release date, URL, %zu genre flags), found %zu",
                        ir->path, r->line, 5 + ir->n_genres, ir->n_genres, r->n);
    int32_t tl[MAX_TAGS];
    size_t ntl = 0;
    for (size_t g = 0; g < ir->n_genres; g++) {
        const struct csv_field *fl = &f[5 + g];
        if (fl->len != 1 || (fl->s[0] != '0' && fl->s[0] != '1'))
            return enc_errf(err, ENC_EFORMAT,
                            "%s:%zu: genre flag %zu ('%s') is '%.20s', expected 0 or 1",
                            ir->path, r->line, g + 1, ir->genres[g], fl->s);
        if (fl->s[0] == '1')
            tl[ntl++] = (int32_t)g;
    }
    int rc = item_row(ir, &f[0], r->line, &row, err);
    return rc || row < 0 ? rc : item_add(ir, row, &f[1], tl, ntl, err);
}

/* movies.csv: a header, then id,title,genres with genres separated by '|'
 * ("(no genres listed)": none). */
static int movies_line(struct items_reading *ir, const struct csv_reader *r, int first,
                       enc_err *err)
{
    const struct csv_field *f = r->f;
    if (r->n != 3)
        return enc_errf(err, ENC_EFORMAT,
                        "%s:%zu: expected 3 comma-separated fields (id, title, genres), "
                        "found %zu", ir->path, r->line, r->n);
    if (first)
        return 0;   /* the header */
    int64_t row;
    int rc = item_row(ir, &f[0], r->line, &row, err);
    if (rc || row < 0)
        return rc;   /* only the matrix's items add to the tag vocabulary */
    int32_t tl[MAX_TAGS];
    size_t ntl = 0;
    if (f[2].len && strcmp(f[2].s, "(no genres listed)") != 0) {
        const char *g = f[2].s, *gend = f[2].s + f[2].len;
        while (g <= gend) {
            const char *bar = memchr(g, '|', (size_t)(gend - g));
            const char *e = bar ? bar : gend;
            if (e > g) {
                char *u = utf8_dup(g, (size_t)(e - g));
                int64_t ti = u ? strmap_add(&ir->tags, u, strlen(u)) : ENC_ENOMEM;
                free(u);
                if (ti < 0)
                    return enc_errf(err, (int)ti, "out of memory");
                if (ntl < MAX_TAGS)
                    tl[ntl++] = (int32_t)ti;
            }
            g = e + 1;
        }
        qsort(tl, ntl, sizeof *tl, int32_cmp);
    }
    return item_add(ir, row, &f[1], tl, ntl, err);
}

/* ---- the whole file ----------------------------------------------------- */

/* Missing titles become "", the vocabulary moves to `out`, and the pairs
 * (grouped per item, items in file order) become the tag CSR. */
static int finish_items(struct items_reading *ir, enum ia_items_format fmt, enc_err *err)
{
    struct ia_items *out = ir->out;
    size_t n_items = ir->n_items;
    for (size_t i = 0; i < n_items; i++)
        if (!out->titles[i] && !(out->titles[i] = strdup("")))
            return enc_errf(err, ENC_ENOMEM, "out of memory");
    if (fmt == IA_ITEMS_UITEM) {
        out->tag_names = ir->genres;
        out->n_tags = ir->n_genres;
        ir->genres = NULL;
        ir->n_genres = 0;
    } else {
        if (!(out->tag_names = strmap_strv(&ir->tags)))
            return enc_errf(err, ENC_ENOMEM, "out of memory");
        out->n_tags = strmap_size(&ir->tags);
    }
    out->tag_offsets = calloc(n_items + 1, sizeof *out->tag_offsets);
    size_t np = ir->npairs / 2;
    out->tag_ids = malloc((np ? np : 1) * sizeof *out->tag_ids);
    int64_t *pos = malloc((n_items ? n_items : 1) * sizeof *pos);
    if (!out->tag_offsets || !out->tag_ids || !pos) {
        free(pos);
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    const int32_t *pairs = ir->pairs;
    for (size_t k = 0; k < np; k++)
        out->tag_offsets[pairs[2 * k] + 1]++;
    for (size_t i = 0; i < n_items; i++)
        out->tag_offsets[i + 1] += out->tag_offsets[i];
    memcpy(pos, out->tag_offsets, n_items * sizeof *pos);
    for (size_t k = 0; k < np; k++)
        out->tag_ids[pos[pairs[2 * k]]++] = pairs[2 * k + 1];
    free(pos);
    return 0;
}

/* IA_ITEMS_AUTO: a comma before any '|' on the first line means movies.csv. */
static enum ia_items_format detect_items(const char *buf, size_t len)
{
    const char *nl = memchr(buf, '\n', len);
    size_t n1 = nl ? (size_t)(nl - buf) : len;
    const char *bar = memchr(buf, '|', n1), *comma = memchr(buf, ',', n1);
    if (comma && (!bar || comma < bar))
        return IA_ITEMS_MOVIES_CSV;
    return bar ? IA_ITEMS_UITEM : IA_ITEMS_AUTO;
}

/* Every record of buf through its format's line reader. */
static int read_item_lines(struct items_reading *ir, enum ia_items_format fmt, char *buf,
                           size_t len, enc_err *err)
{
    struct csv_reader r;
    if (fmt == IA_ITEMS_UITEM)
        csv_init(&r, buf, len, '|', CSV_SKIP_BLANK);
    else
        csv_init(&r, buf, len, ',', CSV_QUOTES | CSV_SKIP_BLANK);
    int rc = 0, got = 0, first = 1;
    while (rc == 0 && (got = csv_next(&r)) == 1) {
        rc = fmt == IA_ITEMS_UITEM ? uitem_line(ir, &r, err) : movies_line(ir, &r, first, err);
        first = 0;
    }
    if (rc == 0 && got < 0)
        rc = enc_errf(err, got, "%s:%zu: %s", ir->path, r.err_line,
                      got == ENC_ENOMEM ? "out of memory" : csv_error_text(r.error));
    csv_free(&r);
    return rc;
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
    if (csv_blank(buf, len))
        rc = enc_errf(err, ENC_EFORMAT, "%s: empty file: no items", path);
    else if (fmt == IA_ITEMS_AUTO && (fmt = detect_items(buf, len)) == IA_ITEMS_AUTO)
        rc = enc_errf(err, ENC_EFORMAT,
                      "%s:1: cannot detect the item format (use --items-format "
                      "uitem|movies-csv)", path);
    struct items_reading ir = {.path = path, .ids = item_ids, .n_items = n_items, .out = out};
    out->n_items = n_items;
    out->titles = calloc(n_items ? n_items : 1, sizeof *out->titles);
    ir.have = calloc(n_items ? n_items : 1, 1);
    if (rc == 0 && (!out->titles || !ir.have))
        rc = enc_errf(err, ENC_ENOMEM, "out of memory");
    if (rc == 0 && fmt == IA_ITEMS_UITEM)
        rc = uitem_genres(&ir, err);
    if (rc == 0)
        rc = read_item_lines(&ir, fmt, buf, len, err);
    if (rc == 0)
        rc = finish_items(&ir, fmt, err);
    strv_free(ir.genres, ir.n_genres);
    strmap_clear(&ir.tags);
    free(ir.pairs);
    free(ir.have);
    free(buf);
    if (rc)
        ia_items_clear(out);
    return rc;
}
