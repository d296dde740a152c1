/*
 * interactions.h - reading recommendation training data: who interacted with
 * what (a sparse user x item matrix) and, optionally, what the items are
 * (a title and tags per item).
 *
 * Interaction formats (one record per line; blank lines are skipped; CRLF ok):
 *   udata        MovieLens u.data: user TAB item TAB rating TAB timestamp
 *   ratings-csv  MovieLens ratings.csv: userId,movieId,rating,timestamp
 *                (the header line is skipped when present)
 *   csv, tsv     generic user,item[,weight] (comma or TAB); a first line whose
 *                user field is "user", "userId", "user_id" or "uid" (any
 *                case) is a header and skipped. Fields may be double-quoted.
 * IA_FORMAT_AUTO looks at the first non-blank line: a "userId,movieId,rating"
 * header means ratings-csv; four TAB fields with a numeric rating and an
 * integer timestamp mean udata; otherwise TAB means tsv and comma csv.
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

enum ia_items_format { IA_ITEMS_AUTO = 0, IA_ITEMS_UITEM, IA_ITEMS_MOVIES_CSV };

/* Name <-> format ("auto", "udata", "ratings-csv", "csv", "tsv"). Parsing
 * returns 0 or ENC_EINVAL for an unknown name. */
int ia_format_parse(const char *name, enum ia_format *out);
const char *ia_format_name(enum ia_format f);
/* "auto", "uitem", "movies-csv". */
int ia_items_format_parse(const char *name, enum ia_items_format *out);

struct ia_options {
    enum ia_format format;      /* IA_FORMAT_AUTO: detect */
    double min_rating;          /* keep records with rating/weight >= this */
};

/* A user x item matrix in CSR form. Rows are users in id order, column
 * indexes ascend within a row. Everything is owned (ia_matrix_clear). */
struct ia_matrix {
    size_t n_users, n_items, nnz;
    char **user_ids;            /* n_users NUL-terminated UTF-8 strings */
    char **item_ids;            /* n_items */
    int64_t *indptr;            /* n_users + 1 */
    int32_t *indices;           /* nnz item rows */
    float *weights;             /* nnz summed weights (> 0) */
    enum ia_format format;      /* the format actually read */
    size_t n_records;           /* records kept */
    size_t n_dropped;           /* records below min_rating (or weight 0) */
    char sha256[65];            /* hex SHA-256 of the file's bytes */
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
                 const float *weights, int64_t **t_indptr, int32_t **t_indices,
                 float **t_weights);

/* Titles and tags for the items of a matrix, in its item order. */
struct ia_items {
    size_t n_items;             /* == the matrix's n_items */
    char **titles;              /* n_items strings ("" when the file lacks the item) */
    size_t n_tags;
    char **tag_names;           /* the tag vocabulary */
    int64_t *tag_offsets;       /* n_items + 1 */
    int32_t *tag_ids;           /* tag_offsets[n_items] tag indexes, ascending per item */
    size_t n_matched;           /* items of the matrix found in the file */
};

/* Read item metadata for the `n_items` ids (ascending id order, as in an
 * ia_matrix). Items of the file that are not in `item_ids` are ignored.
 * Returns 0 or ENC_EIO / ENC_EFORMAT ("FILE:LINE: problem") / ENC_ENOMEM. */
int ia_read_items(const char *path, enum ia_items_format fmt, char *const *item_ids,
                  size_t n_items, struct ia_items *out, enc_err *err);
void ia_items_clear(struct ia_items *it);

/* Copy ids, each user's seen items (the matrix's pattern), item popularity
 * (number of users per item) and, when `items` is not NULL, titles and tags
 * into `d` (whose other members are left alone). On failure the members set
 * so far stay in `d` for mf_data_clear. Returns 0 or ENC_ENOMEM. */
int ia_fill_mf_data(const struct ia_matrix *m, const struct ia_items *items,
                    struct mf_data *d);

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
