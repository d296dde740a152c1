/*
 * interactions.h - reading recommendation training data: who interacted with
 * what (a sparse user x item matrix) and, optionally, what the items are
 * (a title and tags per item).
 *
 * Interaction formats (one record per line; blank lines are skipped; CRLF ok):
 *   udata        MovieLens u.data: user TAB item TAB rating TAB timestamp
 *   ratings-csv  MovieLens ratings.csv: userId,movieId,rating,timestamp
 *                (the header line is skipped when present)
 *   csv, tsv     generic user,item[,weight] (comma or TAB). Fields may be
 *                double-quoted.
 * Header lines: with IA_HEADER_AUTO the first line is a header when its user
 * field is "user", "userId", "user_id" or "uid" (any case), or when
 * csv_sniff (core/csv.h) finds it names columns (a word above a column of
 * numbers, e.g. "plays"); ia_matrix.header says so and keeps the line, for
 * the trainer to report. IA_HEADER_YES / _NO decide instead. A UTF-8 byte
 * order mark is skipped.
 * IA_FORMAT_AUTO looks at the first non-blank line after a header: a
 * "userId,movieId,rating" header means ratings-csv; four TAB fields with a
 * numeric rating and an integer timestamp mean udata; otherwise TAB means
 * tsv and comma csv.
 *
 * Weights: each kept rating of a rating format (udata, ratings-csv) counts as
 * one positive interaction (weight 1), the implicit-feedback reading of
 * explicit ratings; a generic file's weight column is used as is (default 1).
 * min_rating R drops records whose rating (or weight) is below R. Duplicate
 * (user, item) pairs are summed.
 *
 * Ids are strings end to end. Users and items get dense row indexes in id
 * order: ids made only of digits compare as numbers (so "2" < "10"), others
 * byte-wise after them. Row order is therefore id order, and "ties to the
 * lower item id" in a ranking is "ties to the lower row". Strings (ids,
 * titles, tags) that are not valid UTF-8 are read as latin-1 and converted
 * (utf8_dup, core/utf8.h), so every string that reaches JSON is valid UTF-8.
 *
 * Item metadata formats (items.c):
 *   uitem        MovieLens u.item: id|title|release|video release|url|flags..
 *                with one 0/1 flag per genre; genre names come from u.genre in
 *                the same directory, or the standard 19 MovieLens genres
 *   movies-csv   movies.csv: a header, then id,title,genres with genres
 *                separated by '|' ("(no genres listed)" means none)
 *   csv, tsv     any delimited file (comma or TAB; quotes in CSV): the id,
 *                title and optional tags columns either named by a header
 *                (id: id, item, itemId, item_id, movieId, artistId, ...;
 *                title: title, name, ...; tags: tags, genres, categories,
 *                ...) or given by number (ia_items_spec, 1-based). Tags are
 *                separated by '|' inside the field, or by ',' when it has
 *                no '|'.
 * IA_ITEMS_AUTO: a '|'-separated first line without a header is uitem;
 * otherwise csv_sniff's separator with a header that names an id and a
 * title column (movies.csv is one such file). When nothing fits, the error
 * says what was tried and on which line.
 * Encoding is decided per file: valid UTF-8 is read as is, anything else as
 * latin-1, converted to UTF-8 first (ia_items.latin1 says which).
 *
 * Every malformed line is refused with "FILE:LINE: problem". Both readers
 * split records with core/csv.h (quotes only in the comma formats).
 */
#ifndef ENCORE_MF_INTERACTIONS_H
#define ENCORE_MF_INTERACTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct mf_data;

enum ia_format {
    IA_FORMAT_AUTO = 0,
    IA_FORMAT_UDATA,
    IA_FORMAT_RATINGS_CSV,
    IA_FORMAT_CSV,
    IA_FORMAT_TSV,
};

enum ia_items_format {
    IA_ITEMS_AUTO = 0,
    IA_ITEMS_UITEM,
    IA_ITEMS_MOVIES_CSV,
    IA_ITEMS_CSV, /* generic delimited (comma) with named or numbered columns */
    IA_ITEMS_TSV, /* the same, TAB-separated */
};

enum ia_header { IA_HEADER_AUTO = 0, IA_HEADER_YES, IA_HEADER_NO };

/* Name <-> format ("auto", "udata", "ratings-csv", "csv", "tsv"). Parsing
 * returns 0 or ENC_EINVAL for an unknown name. */
int ia_format_parse(const char *name, enum ia_format *out);
const char *ia_format_name(enum ia_format f);
/* "auto", "uitem", "movies-csv", "csv", "tsv". */
int ia_items_format_parse(const char *name, enum ia_items_format *out);

struct ia_options {
    enum ia_format format; /* IA_FORMAT_AUTO: detect */
    double min_rating;     /* keep records with rating/weight >= this */
    enum ia_header header; /* IA_HEADER_AUTO (0): detect */
};

/* A user x item matrix in CSR form. Rows are users in id order, column
 * indexes ascend within a row. Everything is owned (ia_matrix_clear). */
struct ia_matrix {
    size_t n_users, n_items, nnz;
    char **user_ids;       /* n_users NUL-terminated UTF-8 strings */
    char **item_ids;       /* n_items */
    int64_t *indptr;       /* n_users + 1 */
    int32_t *indices;      /* nnz item rows */
    float *weights;        /* nnz summed weights (> 0) */
    enum ia_format format; /* the format actually read */
    size_t n_records;      /* records kept */
    size_t n_dropped;      /* records below min_rating (or weight 0) */
    int header;            /* 1: the first line was a header (skipped) */
    char header_text[128]; /* its text (cut), for the report */
    int has_weights;       /* a generic file with a weight column */
    char sha256[65];       /* hex SHA-256 of the file's bytes */
};

/* Read `path` into *out (zeroed first). Returns 0, ENC_EIO (cannot read),
 * ENC_EFORMAT (malformed line: "FILE:LINE: problem", unknown format, or no
 * interactions left) or ENC_ENOMEM. On failure *out holds nothing. */
int ia_read(const char *path, const struct ia_options *opt, struct ia_matrix *out, enc_err *err);

/* The same from memory; `name` is used in messages (buf need not be
 * NUL-terminated). */
int ia_parse(const char *name, const char *buf, size_t len, const struct ia_options *opt,
             struct ia_matrix *out, enc_err *err);

/* Free every member; the struct is zeroed. NULL is fine. */
void ia_matrix_clear(struct ia_matrix *m);

/* Transpose a CSR matrix of `rows` rows and `cols` columns. Outputs are
 * malloc'd (caller frees), column indexes ascending within each new row.
 * Returns 0 or ENC_ENOMEM. */
int ia_transpose(size_t rows, size_t cols, const int64_t *indptr, const int32_t *indices,
                 const float *weights, int64_t **t_indptr, int32_t **t_indices, float **t_weights);

/* Titles and tags for the items of a matrix, in its item order. */
struct ia_items {
    size_t n_items; /* == the matrix's n_items */
    char **titles;  /* n_items strings ("" when the file lacks the item) */
    size_t n_tags;
    char **tag_names;     /* the tag vocabulary */
    int64_t *tag_offsets; /* n_items + 1 */
    int32_t *tag_ids;     /* tag_offsets[n_items] tag indexes, ascending per item */
    size_t n_matched;     /* items of the matrix found in the file */
    size_t n_records;     /* item lines read */
    /* how the file was read (ia_items_describe) */
    enum ia_items_format format;
    int latin1;                      /* not UTF-8: decoded as latin-1 */
    int header;                      /* the first line named the columns */
    int id_col, title_col, tags_col; /* 1-based (csv / tsv); tags 0: none */
    char col_names[3][32];           /* their header names ("" without a header) */
};

/* How to read an item file: a format (AUTO: detect) and, for csv / tsv,
 * columns by number (1-based; 0: by header name, tags 0 and no tags header:
 * none). */
struct ia_items_spec {
    enum ia_items_format format;
    int id_col, title_col, tags_col;
};

/* Read item metadata for the `n_items` ids (ascending id order, as in an
 * ia_matrix). Items of the file that are not in `item_ids` are ignored.
 * Returns 0 or ENC_EIO / ENC_EFORMAT ("FILE:LINE: problem", or a detection
 * failure naming what was tried) / ENC_EINVAL (a column number the file
 * lacks) / ENC_ENOMEM. */
int ia_read_items_spec(const char *path, const struct ia_items_spec *spec, char *const *item_ids,
                       size_t n_items, struct ia_items *out, enc_err *err);
/* The same with only a format. */
int ia_read_items(const char *path, enum ia_items_format fmt, char *const *item_ids, size_t n_items,
                  struct ia_items *out, enc_err *err);
void ia_items_clear(struct ia_items *it);

/* One line on how an item file was read, e.g. "tsv with a header, latin-1
 * (converted to UTF-8): id = column 1 (id), title = column 2 (name), no tags". */
void ia_items_describe(const struct ia_items *it, char *buf, size_t cap);

/* "auto", "uitem", ... for a format. */
const char *ia_items_format_name(enum ia_items_format f);

/* Copy ids, each user's seen items (the matrix's pattern), item popularity
 * (number of users per item) and, when `items` is not NULL, titles and tags
 * into `d` (whose other members are left alone). On failure the members set
 * so far stay in `d` for mf_data_clear. Returns 0 or ENC_ENOMEM. */
int ia_fill_mf_data(const struct ia_matrix *m, const struct ia_items *items, struct mf_data *d);

/* Compare two ids in row order (digits-only ids numerically first). */
int ia_id_cmp(const char *a, const char *b);

/* Row of `id` among n ids sorted by ia_id_cmp (a matrix's user_ids or
 * item_ids), or -1. */
int64_t ia_find_id(char *const *ids, size_t n, const char *id);

/* A matrix from records in memory (the event store's training input): add
 * (user, item, weight) records, then finish into CSR in id order with the
 * weights of a repeated pair summed. Pairs whose sum is not positive are
 * dropped (negative events cancel positive ones), then users and items left
 * with none. Ids are converted to UTF-8 as the file readers do.
 *   ia_builder_new(&b); ia_builder_add(b, ...)...; ia_builder_finish(b, &m);
 *   ia_builder_free(b);
 * add returns 0, ENC_EINVAL (an empty id or a non-finite weight), ENC_ENOMEM
 * or ENC_ETOOLARGE (more than 2^31 ids); finish returns 0 or ENC_ENOMEM and
 * leaves the builder empty (free it). */
struct ia_builder;
int ia_builder_new(struct ia_builder **out);
int ia_builder_add(struct ia_builder *b, const char *user, size_t ulen, const char *item,
                   size_t ilen, float w);
int ia_builder_finish(struct ia_builder *b, struct ia_matrix *out);
void ia_builder_free(struct ia_builder *b);

#endif
