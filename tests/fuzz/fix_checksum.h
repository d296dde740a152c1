/*
 * fix_checksum.h - shared by the model-file fuzz targets (fuzz_model.c,
 * fuzz_model_file.c): the checksum would stop almost every mutation at the
 * door, so they also try the file with its data_sha256 rewritten to match.
 * Included by the targets only (a static function).
 */
#ifndef ENCORE_FUZZ_FIX_CHECKSUM_H
#define ENCORE_FUZZ_FIX_CHECKSUM_H

/* (memmem: the including file defines _GNU_SOURCE before any include) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/st.h"

/* Rewrite the 64 hex digits after "data_sha256":" with the SHA-256 of the
 * data block, in a copy. NULL when the layout does not allow it. */
static uint8_t *fix_checksum(const uint8_t *data, size_t size)
{
    if (size < 8)
        return NULL;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | data[i];
    if (hlen > size - 8)
        return NULL;
    const char key[] = "\"data_sha256\":\"";
    const uint8_t *h = data + 8;
    const uint8_t *p = memmem(h, (size_t)hlen, key, sizeof key - 1);
    if (!p || (size_t)(p - h) + sizeof key - 1 + 64 > hlen)
        return NULL;
    uint8_t *copy = malloc(size);
    if (!copy)
        return NULL;
    memcpy(copy, data, size);
    char hex[65];
    st_sha256_hex(data + 8 + hlen, size - 8 - (size_t)hlen, hex);
    memcpy(copy + (p - data) + sizeof key - 1, hex, 64);
    return copy;
}

#endif
