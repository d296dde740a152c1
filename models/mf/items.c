/*
 * items.c - item metadata for a matrix's items: a title and tags per item,
 * from MovieLens u.item (genre flags, names from u.genre), or any delimited
 * file with an id, a title and optional tags column, named by a header
 * (movies.csv, an artists.tsv) or numbered; see interactions.h.
 *
 * ia_read_items_spec reads the file whole (converting latin-1 to UTF-8 when
 * it is not UTF-8), decides the format and columns (pick_columns), then hands each record to its
 * format's line reader (uitem_line, columns_line). Both end in item_add, which finds the item among
 * the matrix's sorted ids and records its title and tag ids; finish_items turns the (item, tag)
 * pairs into CSR in item order.
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

#define MAX_TAGS 64 /* tags kept per item; u.item files with more genres are refused */

static const char *const std_genres[] = {
    "unknown",     "Action", "Adventure", "Animation", "Children's", "Comedy",  "Crime",
    "Documentary", "Drama",  "Fantasy",   "Film-Noir", "Horror",     "Musical", "Mystery",
    "Romance",     "Sci-Fi", "Thriller",  "War",       "Western",
};

static const char *const items_format_names[] = {"auto", "uitem", "movies-csv", "csv", "tsv"};

int ia_items_format_parse(const char *name, enum ia_items_format *out)
{
    for (size_t i = 0; i < sizeof items_format_names / sizeof *items_format_names; i++)
        if (strcmp(name, items_format_names[i]) == 0) {
            *out = (enum ia_items_format)i;
            return 0;
        }
    return ENC_EINVAL;
}

const char *ia_items_format_name(enum ia_items_format f)
{
    return (size_t)f < sizeof items_format_names / sizeof *items_format_names
               ? items_format_names[f]
               : "?";
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
    char *const *ids; /* the matrix's item ids, ascending (ia_id_cmp) */
    size_t n_items;
    struct ia_items *out;
    unsigned char *have; /* items already seen in the file */
    char **genres;       /* uitem: the genre names */
    size_t n_genres;
    int id_col, title_col, tags_col; /* csv / tsv: 0-based columns, tags -1: none */
    size_t need;                     /* fields a line must have (the highest column + 1) */
    strmap tags;                     /* csv / tsv: the tag vocabulary, first-seen order */
    int32_t *pairs;                  /* (item row, tag id) pairs, grouped by item */
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
        return enc_errf(err, ENC_EUNSUPPORTED, "%s: too many genres (%zu)", ir->path, ir->n_genres);
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
static int item_row(struct items_reading *ir, const struct csv_field *id, size_t line, int64_t *row,
                    enc_err *err)
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
                            "%s:%zu: genre flag %zu ('%s') is '%.20s', expected 0 or 1", ir->path,
                            r->line, g + 1, ir->genres[g], fl->s);
        if (fl->s[0] == '1')
            tl[ntl++] = (int32_t)g;
    }
    int rc = item_row(ir, &f[0], r->line, &row, err);
    return rc || row < 0 ? rc : item_add(ir, row, &f[1], tl, ntl, err);
}

/* The tag ids of one tags field: names separated by '|', or by ',' when
 * there is no '|'; spaces around a name dropped; "(no genres listed)" (as
 * movies.csv writes it) means none. Sorted ascending into tl. */
static int split_tags(struct items_reading *ir, const struct csv_field *f, int32_t *tl, size_t *ntl,
                      enc_err *err)
{
    *ntl = 0;
    if (f->len == 0 || strcmp(f->s, "(no genres listed)") == 0)
        return 0;
    char sep = memchr(f->s, '|', f->len) ? '|' : ',';
    const char *g = f->s, *gend = f->s + f->len;
    while (g <= gend) {
        const char *bar = memchr(g, sep, (size_t)(gend - g));
        const char *e = bar ? bar : gend;
        const char *a = g;
        size_t n = (size_t)(e - g);
        csv_trim_span(&a, &n);
        if (n) {
            int64_t ti = strmap_add(&ir->tags, a, n);
            if (ti < 0)
                return enc_errf(err, (int)ti, "out of memory");
            if (*ntl < MAX_TAGS)
                tl[(*ntl)++] = (int32_t)ti;
        }
        g = e + 1;
    }
    qsort(tl, *ntl, sizeof *tl, int32_cmp);
    return 0;
}

/* csv / tsv (movies.csv too): the id, title and tags columns of a line. */
static int columns_line(struct items_reading *ir, const struct csv_reader *r, enc_err *err)
{
    const struct csv_field *f = r->f;
    if (r->n < ir->need)
        return enc_errf(err, ENC_EFORMAT,
                        "%s:%zu: expected at least %zu fields (id in column %d, title in "
                        "column %d%s), found %zu",
                        ir->path, r->line, ir->need, ir->id_col + 1, ir->title_col + 1,
                        ir->tags_col >= 0 ? ", tags" : "", r->n);
    int64_t row;
    int rc = item_row(ir, &f[ir->id_col], r->line, &row, err);
    if (rc || row < 0)
        return rc; /* only the matrix's items add to the tag vocabulary */
    int32_t tl[MAX_TAGS];
    size_t ntl = 0;
    if (ir->tags_col >= 0 && (rc = split_tags(ir, &f[ir->tags_col], tl, &ntl, err)))
        return rc;
    return item_add(ir, row, &f[ir->title_col], tl, ntl, err);
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

/* Header names of the three columns (compared ignoring case; '_', '-' and
 * ' ' are ignored too, so "item_id", "Item ID" and "itemId" are one name). */
static const char *const id_names[] = {"id",       "item",    "itemid", "movieid", "movie",
                                       "artistid", "trackid", "songid", "bookid",  "productid",
                                       "product",  "sku",     "asin",   "isbn",    "contentid",
                                       "videoid",  "showid",  "key",    NULL};
static const char *const title_names[] = {"title",       "name",       "itemname",    "itemtitle",
                                          "movietitle",  "artistname", "artist",      "trackname",
                                          "track",       "songname",   "song",        "booktitle",
                                          "productname", "label",      "description", NULL};
static const char *const tags_names[] = {"tags",     "tag",    "genres",   "genre",    "categories",
                                         "category", "labels", "keywords", "tagnames", NULL};

/* Is field f one of `names` (see above)? */
static int named(const char *s, size_t n, const char *const *names)
{
    char k[40];
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '_' || c == '-' || c == ' ')
            continue;
        if (m + 1 >= sizeof k)
            return 0;
        k[m++] = c;
    }
    return m > 0 && csv_name_is(k, m, names);
}

/* The id / title / tags columns a header line names: 0, or -1 when it
 * lacks an id or a title column. */
static int header_columns(const struct csv_reader *r, int *id, int *title, int *tags)
{
    *id = *title = *tags = -1;
    for (size_t k = 0; k < r->n; k++) {
        const char *s = r->f[k].s;
        size_t n = r->f[k].len;
        if (*id < 0 && named(s, n, id_names))
            *id = (int)k;
        else if (*title < 0 && named(s, n, title_names))
            *title = (int)k;
        else if (*tags < 0 && named(s, n, tags_names))
            *tags = (int)k;
    }
    return *id >= 0 && *title >= 0 ? 0 : -1;
}

/* The first record of buf (a copy of its first line, at most 4096 bytes)
 * split with sep, for a look at it. */
struct first_line {
    char line[4097];
    struct csv_reader r;
    int ok;
};

static void first_line_read(struct first_line *fl, const char *buf, size_t len, char sep)
{
    const char *p = buf, *end = buf + len;
    while (p < end && (*p == '\n' || *p == '\r' || *p == ' ' || *p == '\t'))
        p++;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = (size_t)((nl ? nl : end) - p);
    if (n > 4096)
        n = 4096;
    memcpy(fl->line, p, n);
    fl->line[n] = '\0';
    csv_init(&fl->r, fl->line, n, sep, sep == '|' ? 0 : CSV_QUOTES);
    fl->ok = csv_next(&fl->r) == 1;
}

static const char *sep_name(char sep)
{
    return sep == '\t' ? "TAB" : sep == ',' ? "comma" : sep == ';' ? "semicolon" : "'|'";
}

/* Decide the format (AUTO) and the columns (csv / tsv) of buf; fills ir's
 * columns, *sep, *fmt and *header, or explains what was tried. */
static int pick_columns(struct items_reading *ir, const struct ia_items_spec *spec, const char *buf,
                        size_t len, enum ia_items_format *fmt, char *sep, int *header, enc_err *err)
{
    struct csv_sniff sn;
    csv_sniff(buf, len, &sn);
    *header = 0;
    if (*fmt == IA_ITEMS_AUTO) {
        struct first_line fl;
        first_line_read(&fl, buf, len, '|');
        int bars = fl.ok && fl.r.n >= 6;
        struct first_line fc;
        first_line_read(&fc, buf, len, sn.sep ? sn.sep : ',');
        int id, title, tags;
        int named_cols = fc.ok && header_columns(&fc.r, &id, &title, &tags) == 0;
        if (bars && !named_cols && csv_is_integer(fl.r.f[0].s, fl.r.f[0].len) && !spec->id_col) {
            *fmt = IA_ITEMS_UITEM;
        } else if (sn.sep == '\t' || sn.sep == ',' || sn.sep == ';') {
            *fmt = sn.sep == '\t' ? IA_ITEMS_TSV : IA_ITEMS_CSV;
            *sep = sn.sep;
            if (!named_cols && !spec->id_col) {
                char what[200] = "";
                if (fc.ok)
                    for (size_t k = 0; k < fc.r.n && strlen(what) < 150; k++)
                        snprintf(what + strlen(what), sizeof what - strlen(what), "%s'%.30s'",
                                 k ? ", " : "", fc.r.f[k].s);
                csv_free(&fl.r);
                csv_free(&fc.r);
                return enc_errf(err, ENC_EFORMAT,
                                "%s:1: cannot detect the item format: tried uitem (MovieLens "
                                "u.item: '|'-separated, an integer id, 5 + genre fields) and "
                                "%s-separated columns with a header naming an id column (id, "
                                "item, itemId, movieId, ...) and a title column (title, name, "
                                "...), but line 1 is %s; name the columns with --items-format "
                                "%s --item-id-col N --title-col N [--tags-col N]",
                                ir->path, sep_name(sn.sep), what, sn.sep == '\t' ? "tsv" : "csv");
            }
        } else {
            csv_free(&fl.r);
            csv_free(&fc.r);
            return enc_errf(err, ENC_EFORMAT,
                            "%s:1: cannot detect the item format: tried uitem (MovieLens "
                            "u.item: '|'-separated, an integer id, 5 + genre fields) and TAB-, "
                            "comma- or semicolon-separated columns, but no separator gives the "
                            "same field count on the first lines; use --items-format "
                            "uitem|movies-csv|csv|tsv",
                            ir->path);
        }
        csv_free(&fl.r);
        csv_free(&fc.r);
        if (*fmt == IA_ITEMS_UITEM)
            return 0;
    }
    if (*fmt == IA_ITEMS_UITEM)
        return 0;
    if (*fmt == IA_ITEMS_MOVIES_CSV) { /* movieId,title,genres */
        *sep = ',';
        *header = 1;
        ir->id_col = 0;
        ir->title_col = 1;
        ir->tags_col = 2;
        ir->need = 3;
        return 0;
    }
    if (!*sep)
        *sep = *fmt == IA_ITEMS_TSV ? '\t' : ',';
    struct first_line fc;
    first_line_read(&fc, buf, len, *sep);
    int id = -1, title = -1, tags = -1;
    int named_cols = fc.ok && header_columns(&fc.r, &id, &title, &tags) == 0;
    /* a header: names, or csv_sniff's word above a column of numbers */
    *header = named_cols || (sn.header && sn.sep == *sep);
    if (spec->id_col || spec->title_col) {
        if (!spec->id_col || !spec->title_col) {
            csv_free(&fc.r);
            return enc_errf(err, ENC_EINVAL, "%s: give both --item-id-col and --title-col",
                            ir->path);
        }
        id = spec->id_col - 1;
        title = spec->title_col - 1;
        tags = spec->tags_col - 1;
    } else if (spec->tags_col) {
        tags = spec->tags_col - 1;
    }
    if (id < 0 || title < 0) {
        csv_free(&fc.r);
        return enc_errf(err, ENC_EFORMAT,
                        "%s:1: no header naming an id column (id, item, itemId, movieId, ...) "
                        "and a title column (title, name, ...); give --item-id-col N and "
                        "--title-col N",
                        ir->path);
    }
    size_t n1 = fc.ok ? fc.r.n : 0;
    ir->id_col = id;
    ir->title_col = title;
    ir->tags_col = tags;
    ir->need = (size_t)(id > title ? id : title) + 1;
    if (tags >= 0 && (size_t)tags + 1 > ir->need)
        ir->need = (size_t)tags + 1;
    csv_free(&fc.r);
    if (id == title || (tags >= 0 && (tags == id || tags == title)))
        return enc_errf(err, ENC_EINVAL, "%s: the id, title and tags columns must differ",
                        ir->path);
    if (n1 && ir->need > n1)
        return enc_errf(err, ENC_EINVAL,
                        "%s:1: column %zu asked for, but the line has %zu "
                        "%s-separated fields",
                        ir->path, ir->need, n1, sep_name(*sep));
    return 0;
}

/* Every record of buf through its format's line reader. */
static int read_item_lines(struct items_reading *ir, enum ia_items_format fmt, char sep, int header,
                           char *buf, size_t len, enc_err *err)
{
    struct csv_reader r;
    if (fmt == IA_ITEMS_UITEM)
        csv_init(&r, buf, len, '|', CSV_SKIP_BLANK);
    else
        csv_init(&r, buf, len, sep, CSV_QUOTES | CSV_SKIP_BLANK);
    int rc = 0, got = 0, first = 1;
    while (rc == 0 && (got = csv_next(&r)) == 1) {
        if (first && header) { /* keep the header's names for the report */
            int cols[3] = {ir->id_col, ir->title_col, ir->tags_col};
            for (int c = 0; c < 3; c++)
                if (cols[c] >= 0 && (size_t)cols[c] < r.n)
                    snprintf(ir->out->col_names[c], sizeof ir->out->col_names[c], "%s",
                             r.f[cols[c]].s);
            first = 0;
            continue;
        }
        first = 0;
        ir->out->n_records++;
        rc = fmt == IA_ITEMS_UITEM ? uitem_line(ir, &r, err) : columns_line(ir, &r, err);
    }
    if (rc == 0 && got < 0)
        rc = enc_errf(err, got, "%s:%zu: %s", ir->path, r.err_line,
                      got == ENC_ENOMEM ? "out of memory" : csv_error_text(r.error));
    csv_free(&r);
    return rc;
}

/* buf (len bytes, NUL after) as UTF-8: itself when valid (after a byte
 * order mark), else a latin-1 decoding into a new buffer (*latin1 = 1). */
static int to_utf8(char **buf, size_t *len, int *latin1)
{
    *latin1 = 0;
    if (*len >= 3 && memcmp(*buf, "\xEF\xBB\xBF", 3) == 0) {
        memmove(*buf, *buf + 3, *len - 3 + 1);
        *len -= 3;
    }
    if (utf8_valid(*buf, *len))
        return 0;
    char *u = malloc(2 * *len + 1);
    if (!u)
        return ENC_ENOMEM;
    size_t n = utf8_from_latin1(*buf, *len, u);
    u[n] = '\0';
    free(*buf);
    *buf = u;
    *len = n;
    *latin1 = 1;
    return 0;
}

int ia_read_items_spec(const char *path, const struct ia_items_spec *spec, char *const *item_ids,
                       size_t n_items, struct ia_items *out, enc_err *err)
{
    memset(out, 0, sizeof *out);
    char *buf;
    size_t len;
    int rc = enc_read_file(path, &buf, &len, err);
    if (rc)
        return rc;
    struct items_reading ir = {
        .path = path, .ids = item_ids, .n_items = n_items, .out = out, .tags_col = -1};
    enum ia_items_format fmt = spec->format;
    char sep = 0;
    int header = 0;
    if (to_utf8(&buf, &len, &out->latin1))
        rc = enc_errf(err, ENC_ENOMEM, "out of memory");
    else if (csv_blank(buf, len))
        rc = enc_errf(err, ENC_EFORMAT, "%s: empty file: no items", path);
    else
        rc = pick_columns(&ir, spec, buf, len, &fmt, &sep, &header, err);
    out->n_items = n_items;
    out->format = fmt;
    out->header = header;
    out->titles = calloc(n_items ? n_items : 1, sizeof *out->titles);
    ir.have = calloc(n_items ? n_items : 1, 1);
    if (rc == 0 && (!out->titles || !ir.have))
        rc = enc_errf(err, ENC_ENOMEM, "out of memory");
    if (rc == 0 && fmt == IA_ITEMS_UITEM)
        rc = uitem_genres(&ir, err);
    if (rc == 0)
        rc = read_item_lines(&ir, fmt, sep, header, buf, len, err);
    if (rc == 0)
        rc = finish_items(&ir, fmt, err);
    if (fmt != IA_ITEMS_UITEM) {
        out->id_col = ir.id_col + 1;
        out->title_col = ir.title_col + 1;
        out->tags_col = ir.tags_col + 1;
    }
    strv_free(ir.genres, ir.n_genres);
    strmap_clear(&ir.tags);
    free(ir.pairs);
    free(ir.have);
    free(buf);
    if (rc)
        ia_items_clear(out);
    return rc;
}

int ia_read_items(const char *path, enum ia_items_format fmt, char *const *item_ids, size_t n_items,
                  struct ia_items *out, enc_err *err)
{
    struct ia_items_spec spec = {fmt, 0, 0, 0};
    return ia_read_items_spec(path, &spec, item_ids, n_items, out, err);
}

void ia_items_describe(const struct ia_items *it, char *buf, size_t cap)
{
    const char *enc = it->latin1 ? "latin-1 (converted to UTF-8)" : "UTF-8";
    if (it->format == IA_ITEMS_UITEM) {
        snprintf(buf, cap, "uitem (MovieLens u.item), %s, %zu genres", enc, it->n_tags);
        return;
    }
    char cols[3][64];
    const int idx[3] = {it->id_col, it->title_col, it->tags_col};
    for (int c = 0; c < 3; c++) {
        if (idx[c] <= 0)
            snprintf(cols[c], sizeof cols[c], "none");
        else if (it->col_names[c][0])
            snprintf(cols[c], sizeof cols[c], "column %d (%s)", idx[c], it->col_names[c]);
        else
            snprintf(cols[c], sizeof cols[c], "column %d", idx[c]);
    }
    snprintf(buf, cap, "%s %s, %s: id = %s, title = %s, tags = %s",
             ia_items_format_name(it->format), it->header ? "with a header" : "without a header",
             enc, cols[0], cols[1], cols[2]);
}
