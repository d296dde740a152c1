/*
 * file.h - read a whole input file into memory: the one reader the plain-text
 * parsers share (interactions, imported ids/factors, text corpora).
 */
#ifndef ENCORE_FILE_H
#define ENCORE_FILE_H

#include <stddef.h>

#include "core/err.h"

/* Read `path` into *buf (malloc'd, NUL-terminated; caller frees) with its
 * length in *len. Errors name the path: ENC_EIO "cannot open: <reason>" or
 * "read error", ENC_ENOMEM. */
int enc_read_file(const char *path, char **buf, size_t *len, enc_err *err);

#endif
