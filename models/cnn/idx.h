/*
 * idx.h - image data sets for the CNN family: IDX files (as MNIST and
 * Fashion-MNIST ship them, gzip-compressed or raw) and CSV files of
 * "label,pixel,pixel,...".
 *
 * The IDX layout (big-endian):
 *
 *   byte 0-1   0x00 0x00
 *   byte 2     element type: 0x08 = unsigned byte (the only one images use;
 *              0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64 are refused)
 *   byte 3     number of dimensions D (1..4)
 *   byte 4..   D x u32 sizes, then prod(sizes) elements, row-major
 *
 * Data files are untrusted input: a bad magic, a dimension count or size out
 * of range, a short or over-long file fails with ENC_EFORMAT and a message
 * naming the file and the byte offset ("train.gz: byte 3: ..."). For a
 * gzip file the offset is into the decompressed stream.
 */
#ifndef ENCORE_CNN_IDX_H
#define ENCORE_CNN_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define IDX_MAX_DIMS 4
#define IDX_MAX_BYTES ((size_t)4 << 30) /* refuse data sets over 4 GiB */

/* One decoded IDX array of unsigned bytes. */
struct idx_array {
    int ndim;
    uint32_t dims[IDX_MAX_DIMS];
    size_t count;  /* product of dims */
    uint8_t *data; /* owned; idx_array_clear frees it */
};

/* Read and validate an IDX file (gzip or raw; zlib tells them apart).
 * On success *out owns its data (idx_array_clear). Failure: ENC_EIO (cannot
 * read), ENC_EFORMAT (malformed, message names file and byte offset),
 * ENC_EUNSUPPORTED (element type other than u8), ENC_ENOMEM. */
int idx_read(const char *path, struct idx_array *out, enc_err *err);

/* Same, from an in-memory (decompressed) buffer; `name` is used in messages. */
int idx_parse(const void *buf, size_t len, const char *name, struct idx_array *out, enc_err *err);

/* Frees the data and zeroes the struct. NULL is a no-op. */
void idx_array_clear(struct idx_array *a);

/* A labelled image set: n images of rows x cols single-channel u8 pixels. */
struct idx_dataset {
    size_t n, rows, cols;
    uint8_t *pixels; /* n * rows * cols, owned */
    uint8_t *labels; /* n, owned */
    int n_classes;   /* 1 + the largest label */
};

/* Load images (IDX, 3 dims N x rows x cols) and labels (IDX, 1 dim N).
 * The counts must agree. On success *out is caller-owned
 * (idx_dataset_clear). Errors name the file (and byte offset). */
int idx_load(const char *images_path, const char *labels_path, struct idx_dataset *out,
             enc_err *err);

/* Load a CSV with one image per line: label (0..255) then rows*cols pixel
 * values (integers 0..255). A first line whose first field is not a number is
 * a header and skipped. rows = cols = sqrt(pixels per line) (must be a
 * perfect square). Errors name FILE:LINE:COLUMN. */
int idx_load_csv(const char *path, struct idx_dataset *out, enc_err *err);

/* idx_load_csv when `path` ends in ".csv" (or ".csv.gz"; labels_path is
 * ignored and may be NULL), idx_load otherwise (labels_path required). */
int idx_load_any(const char *images_path, const char *labels_path, struct idx_dataset *out,
                 enc_err *err);

/* Frees both arrays and zeroes the struct. NULL is a no-op. */
void idx_dataset_clear(struct idx_dataset *d);

#endif
