/*
 * image.h - the image decoders behind the protocols' {"b64": "..."} inputs:
 * base64 (standard or URL-safe) and an 8-bit grayscale plane from a binary
 * PGM (P5, 8- or 16-bit samples) or a PNG (libpng's simplified API, when
 * built with it: colour is converted, alpha composited on black).
 *
 * Encoded images are untrusted: every header number, size and sample is
 * checked, and a refusal says what was wrong (protocol.c adds where).
 */
#ifndef ENCORE_IMAGE_H
#define ENCORE_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* Standard or URL-safe base64 of n bytes, padding optional, whitespace
 * ignored. Returns a malloc'd buffer of *len bytes (caller frees), or NULL
 * with *len = 0 (malformed) or *len = 1 (out of memory). */
unsigned char *image_b64_decode(const char *s, size_t n, size_t *len);

/* Decode a PNG or binary PGM (told apart by their magic bytes) of exactly
 * W x H pixels into gray[H * W], 0..255. Returns 0, ENC_EINVAL (not such an
 * image, malformed, truncated, another size; the message says which) or
 * ENC_ENOMEM. */
int image_decode_gray(const unsigned char *d, size_t n, int64_t H, int64_t W, unsigned char *gray,
                      enc_err *err);

#endif
