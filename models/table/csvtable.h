/*
 * csvtable.h - labelled numeric tables read from CSV, for the table families
 * (forest, linear) and their trainer / eval commands.
 *
 * Two input styles:
 *
 *   CSVT_PLAIN    RFC 4180-ish CSV with a header line. One column is the
 *                 label (--label NAME, kept as a string: "setosa", "3");
 *                 the features are every other column, or an explicit list of
 *                 column names. Every feature value must be a finite number.
 *
 *   CSVT_SKLEARN  the files scikit-learn ships (iris.csv, wine_data.csv,
 *                 breast_cancer.csv, digits.csv.gz): an optional first line
 *                 "n_samples,n_features,class names..." then rows of
 *                 n_features numbers and an integer class index in the last
 *                 column. The header is present when the first line has a
 *                 different number of fields than the second (digits.csv.gz
 *                 has none). Features are named f0..f{d-1}; classes are the
 *                 header's names when given, else the integer labels.
 *
 * Both are read through zlib's gzread, so a gzip-compressed file works too.
 * Any problem (missing value, non-numeric or non-finite value, ragged row,
 * unknown column, label not among a fixed class list) fails with
 * ENC_EFORMAT and a message "FILE:LINE: column C (NAME): problem".
 *
 * Class order: when the caller gives no fixed class list, classes are sorted
 * (numerically when every label is an integer, else by strcmp) - the order
 * scikit-learn's np.unique gives - so class indexes are reproducible. A
 * scikit-learn header keeps its own order (index k = the k-th name).
 */
#ifndef ENCORE_CSVTABLE_H
#define ENCORE_CSVTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/strv.h"

enum csvt_format { CSVT_PLAIN = 0, CSVT_SKLEARN = 1 };

struct csvt_options {
    enum csvt_format format;
    const char *label;           /* label column (CSVT_PLAIN; required) */
    const char *const *features; /* feature column names, or NULL: all but the label */
    size_t n_features;
    /* Fixed class list (e.g. a model's): labels outside it are an error.
     * NULL: classes are collected from the data. */
    const char *const *classes;
    size_t n_classes;
};

/* An owned table: n_rows x n_features floats, one class index per row. */
struct csvt_table {
    size_t n_rows, n_features, n_classes;
    float *x;             /* n_rows * n_features, row-major */
    int32_t *y;           /* n_rows, 0 .. n_classes-1 */
    char **feature_names; /* n_features */
    char **class_names;   /* n_classes */
};

/* Read `path` into *t (zeroed first). Returns 0, ENC_EIO (cannot open/read),
 * ENC_EFORMAT (bad content; message names file, line and column), ENC_EINVAL
 * (bad options) or ENC_ENOMEM. On failure *t is left empty. The caller frees
 * the table with csvt_clear. */
int csvt_read(const char *path, const struct csvt_options *o, struct csvt_table *t, enc_err *err);

/* Free every member and zero the struct; NULL and empty tables are fine. */
void csvt_clear(struct csvt_table *t);

/* A new table holding rows idx[0..n) of `src` (copied, same names and class
 * list). Returns 0 or ENC_ENOMEM. */
int csvt_subset(const struct csvt_table *src, const size_t *idx, size_t n, struct csvt_table *dst);

/* Split a comma list "a,b,c" into a NULL-terminated malloc'd array of
 * malloc'd strings; *n gets the count. Empty items are refused (ENC_EINVAL).
 * Free with strv_free (core/strv.h). */
int csvt_split_list(const char *list, char ***out, size_t *n, enc_err *err);

/* Stratified fold assignment: fold[i] in 0..k-1 for each of n rows with
 * labels y (n_classes classes). Rows of each class are shuffled with `seed`
 * and dealt round-robin, so every fold gets a near-equal share of every
 * class. Deterministic for a seed. */
void csvt_stratified_folds(const int32_t *y, size_t n, size_t n_classes, size_t k, uint64_t seed,
                           int32_t *fold);

#endif
