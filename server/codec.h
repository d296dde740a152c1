/*
 * codec.h - HTTP content codings with zlib: gzip and deflate request bodies
 * (decoded under a size cap, so a small compressed "bomb" cannot make the
 * server allocate more than max_body_bytes) and gzip responses.
 *
 * "deflate" is the zlib format (RFC 9110 8.4.1.2, what Python's
 * zlib.compress and tritonclient send); a raw deflate stream, which some
 * clients send under the same name, is accepted too.
 */
#ifndef ENCORE_CODEC_H
#define ENCORE_CODEC_H

#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

/* Decode in[0..n) of Content-Encoding `encoding` (gzip, x-gzip, deflate or
 * identity; case-insensitive; NULL or "" is identity) into out (appended).
 * Returns 0; ENC_ETOOLARGE (413) when the decoded body would pass `cap`
 * bytes (decoding stops there); ENC_EMEDIA (415) for another coding;
 * ENC_EINVAL (400) for corrupt or truncated data; ENC_ENOMEM. */
int codec_decode(const char *encoding, const void *in, size_t n, size_t cap, buf *out,
                 enc_err *err);

/* 1 if `encoding` names no transformation (NULL, "", "identity"). */
int codec_is_identity(const char *encoding);

/* gzip in[0..n) into out (appended) at zlib level `level` (1 fast .. 9).
 * Returns 0 or ENC_ENOMEM / ENC_EINTERNAL. */
int codec_gzip(const void *in, size_t n, int level, buf *out);

/* 1 if an Accept-Encoding header value accepts gzip: "gzip" or "x-gzip"
 * (or "*") with a q-value above 0, and no "gzip;q=0". */
int codec_accepts_gzip(const char *accept_encoding);

#endif
