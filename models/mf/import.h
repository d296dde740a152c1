/*
 * import.h - build an "mf" model from factor matrices trained elsewhere.
 *
 * Teams that outgrow one trainer machine train ALS on a cluster (Spark MLlib)
 * or with the Python `implicit` library and only want Encore to serve the
 * result. Both leave two dense matrices (users x F, items x F) and the ids of
 * their rows. This module reads them and fills a `struct mf_data` (mf.h) with
 * algorithm "import", so the server answers from them unchanged: the score of
 * (user u, item i) is the dot product of row u of the user factors and row i
 * of the item factors, exactly as in the source library.
 *
 * Accepted inputs (the formats those tools write):
 *
 *   .npy (detected by its magic, not its name): numpy's format, versions 1.0,
 *     2.0 and 3.0. Factor matrices must be 2-D, C order, dtype float32 or
 *     float64 (either byte order); id lists 1-D int32/int64/uint32/uint64
 *     (written in decimal), unicode str ('<U') or bytes ('|S'). The header is
 *     validated strictly: exactly the keys descr, fortran_order and shape, a
 *     well-formed Python literal, a final newline, and a data block of exactly
 *     shape x itemsize bytes. Object arrays (pickles) are refused.
 *
 *   CSV: one row per line, values separated by ',', RFC 4180 quotes allowed.
 *     With `id_column` the first field is the row's id (Spark:
 *     `userFactors.select("id", ...)`); the values are either separate fields
 *     or one bracketed list "[0.1, 0.2, ...]" (Spark's features cast to a
 *     string). A first line whose first value is not a number is a header
 *     and is skipped. Every row must have the same number of values; values
 *     must be finite and representable as float32.
 *
 *   id lists (text): one id per line, no header ('\r\n' accepted).
 *
 * Ids must be non-empty and unique within their list; list lengths must match
 * the matrices' row counts, and both matrices must have the same width.
 *
 * Optional extras, read with the trainer's own readers (interactions.h):
 *   seen   the training interactions in any format `encore-train als` reads
 *          (u.data, ratings.csv, user,item[,weight] CSV/TSV): each user's
 *          items are stored so `exclude_seen` works, and users per item
 *          become the popularity used for unknown users. Interactions naming
 *          ids absent from the factor files are counted and skipped.
 *   items  item metadata (MovieLens u.item or movies.csv-style
 *          id,title,genres): titles and tags for the served items.
 *
 * Every failure names the file and, for text, the line (and column).
 * All files are read whole into memory.
 */
#ifndef ENCORE_MF_IMPORT_H
#define ENCORE_MF_IMPORT_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "mf/mf.h"
#include "mf/npy.h"
#include "core/strv.h"

/* ---- matrices and id lists -------------------------------------------- */

/* A dense float32 matrix, row-major (owned). */
struct mf_matrix {
    size_t rows, cols;
    float *data; /* rows * cols; free with mf_matrix_clear */
    char **ids;  /* rows strings when read with an id column, else NULL */
};

void mf_matrix_clear(struct mf_matrix *m); /* frees members; NULL ok */

/* Read a factor matrix from buf (a .npy or CSV file's bytes; `name` is used
 * in messages). id_column: the first CSV field is an id (refused for .npy,
 * which holds no ids). On failure *out is left empty. */
int mf_matrix_parse(const void *buf, size_t len, const char *name, int id_column,
                    struct mf_matrix *out, enc_err *err);

/* Same from a file. */
int mf_matrix_read(const char *path, int id_column, struct mf_matrix *out, enc_err *err);

/* Parse an id list (.npy or text) into *ids (n strings, caller frees each and
 * the array; see strv_free in core/strv.h). Checks ids are non-empty and unique. */
int mf_ids_parse(const void *buf, size_t len, const char *name, char ***ids, size_t *n,
                 enc_err *err);
int mf_ids_read(const char *path, char ***ids, size_t *n, enc_err *err);

/* ---- the whole import -------------------------------------------------- */

struct mf_import_spec {
    const char *user_factors, *item_factors; /* required */
    const char *user_ids, *item_ids;         /* NULL: ids in the CSV's first column */
    const char *seen;                        /* optional interactions file */
    const char *items;                       /* optional item metadata file */
    double regularization, alpha;            /* stored for folding in new users */
};

struct mf_import_stats {
    size_t seen_pairs;    /* distinct (user, item) pairs stored */
    size_t seen_skipped;  /* interaction lines naming unknown ids */
    size_t items_matched; /* imported items found in the --items file */
};

/* Read everything `spec` names and fill *out (zeroed first; on failure
 * everything is freed and *out is zeroed). out->algorithm = "import". The
 * caller saves it with model_save(&mf_ops, ...) and frees it with mf_data_clear. `stats` may
 * be NULL. */
int mf_import_build(const struct mf_import_spec *spec, struct mf_data *out,
                    struct mf_import_stats *stats, enc_err *err);

#endif
