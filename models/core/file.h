/*
 * file.h - read a whole input file into memory: the one reader every trainer
 * input goes through (interactions, item metadata, imported factors and ids,
 * CSV tables, IDX and CSV images, text corpora).
 *
 * Files are read through zlib's gzread, which passes plain files through
 * unchanged, so "u.data" and "u.data.gz", "train-images-idx3-ubyte" and
 * "train-images-idx3-ubyte.gz" take the same path; a gzip stream that is
 * corrupt or cut short is an error, never silently short data. Inputs over
 * ENC_READ_MAX bytes (decompressed) are refused.
 */
#ifndef ENCORE_FILE_H
#define ENCORE_FILE_H

#include <stddef.h>

#include "core/err.h"

#define ENC_READ_MAX ((size_t)4 << 30) /* 4 GiB */

/* Read `path` (decompressed when it is gzip) into *buf (malloc'd,
 * NUL-terminated, so one byte past the data is always writable; caller
 * frees) with its length in *len. Errors name the path:
 *   ENC_EIO      "PATH: cannot open: REASON" (missing, unreadable, a directory),
 *                "PATH: byte N (decompressed): REASON" (a read error)
 *   ENC_EFORMAT  "PATH: byte N (decompressed): REASON" (corrupt or truncated gzip)
 *   ENC_ETOOLARGE "PATH: larger than 4294967296 bytes"
 *   ENC_ENOMEM   "PATH: out of memory"
 * On failure *buf is NULL and *len 0. */
int enc_read_file(const char *path, char **buf, size_t *len, enc_err *err);

#endif
