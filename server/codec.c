/*
 * codec.c - gzip / deflate with zlib (see codec.h). Decoding inflates into
 * the output buffer in steps and stops as soon as the output would pass the
 * cap, so a bomb costs at most `cap` bytes of memory and the time to inflate
 * them.
 */
#include "codec.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

/* Trim spaces/tabs: [*s, *s + *n). */
static void trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

static int token_is(const char *s, size_t n, const char *t)
{
    return n == strlen(t) && !strncasecmp(s, t, n);
}

int codec_is_identity(const char *encoding)
{
    if (!encoding)
        return 1;
    size_t n = strlen(encoding);
    trim(&encoding, &n);
    return n == 0 || token_is(encoding, n, "identity");
}

enum { C_GZIP = 16 + MAX_WBITS, C_ZLIB = MAX_WBITS, C_RAW = -MAX_WBITS };

/* Inflate with window bits `wbits`. Returns 0, ETOOLARGE, EINVAL, ENOMEM;
 * *raw_retry is set when a zlib header was expected and absent. */
static int inflate_into(const unsigned char *in, size_t n, int wbits, size_t cap, buf *out,
                        const char *name, int *raw_retry, enc_err *err)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, wbits) != Z_OK)
        return enc_errf(err, ENC_ENOMEM, "out of memory (zlib)");
    size_t start = out->len;
    int rc = 0, zr = Z_OK;
    const unsigned char *p = in;
    size_t left = n;
    for (;;) {
        /* zlib counts in uInt: feed at most 1 GiB at a time. */
        if (z.avail_in == 0 && left) {
            z.next_in = (unsigned char *)p;
            z.avail_in = left > (1u << 30) ? (1u << 30) : (uInt)left;
            p += z.avail_in;
            left -= z.avail_in;
        }
        size_t room = cap - (out->len - start);
        size_t chunk = room < 65536 ? room + 1 : 65536; /* +1: detect passing the cap */
        if (buf_reserve(out, chunk)) {
            rc = enc_errf(err, ENC_ENOMEM, "out of memory decoding the body");
            break;
        }
        z.next_out = (unsigned char *)out->data + out->len;
        z.avail_out = (uInt)chunk;
        zr = inflate(&z, Z_NO_FLUSH);
        out->len += chunk - z.avail_out;
        out->data[out->len] = '\0'; /* buf_reserve left room for it */
        if (out->len - start > cap) {
            rc = enc_errf(err, ENC_ETOOLARGE,
                          "request body decompresses (Content-Encoding: %s) to more than %zu bytes "
                          "(max_body_bytes)",
                          name, cap);
            break;
        }
        if (zr == Z_STREAM_END) {
            size_t rest = z.avail_in + left;
            if (rest == 0)
                break;
            if (wbits == C_GZIP) { /* concatenated gzip members (RFC 1952 2.2) */
                if (inflateReset(&z) != Z_OK) {
                    rc = enc_errf(err, ENC_EINTERNAL, "zlib reset failed");
                    break;
                }
                continue;
            }
            rc = enc_errf(err, ENC_EINVAL,
                          "Content-Encoding %s: %zu bytes after the end of the "
                          "compressed data",
                          name, rest);
            break;
        }
        if (zr == Z_DATA_ERROR && wbits == C_ZLIB && out->len == start && raw_retry) {
            *raw_retry = 1;
            rc = ENC_EINVAL;
            break;
        }
        if (zr == Z_BUF_ERROR && z.avail_in == 0 && left == 0) {
            rc = enc_errf(err, ENC_EINVAL, "Content-Encoding %s: the compressed data is truncated",
                          name);
            break;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            rc = enc_errf(err, zr == Z_MEM_ERROR ? ENC_ENOMEM : ENC_EINVAL,
                          "Content-Encoding %s: the body is not valid %s data (zlib: %s)", name,
                          name, z.msg ? z.msg : "error");
            break;
        }
    }
    inflateEnd(&z);
    if (rc)
        out->len = start;
    if (out->data && out->len < out->cap)
        out->data[out->len] = '\0';
    return rc;
}

int codec_decode(const char *encoding, const void *in, size_t n, size_t cap, buf *out, enc_err *err)
{
    if (codec_is_identity(encoding)) {
        if (n > cap)
            return enc_errf(err, ENC_ETOOLARGE,
                            "request body larger than %zu bytes (max_body_bytes)", cap);
        buf_append(out, in, n);
        return out->oom ? enc_errf(err, ENC_ENOMEM, "out of memory") : 0;
    }
    size_t len = strlen(encoding);
    trim(&encoding, &len);
    if (token_is(encoding, len, "gzip") || token_is(encoding, len, "x-gzip"))
        return inflate_into(in, n, C_GZIP, cap, out, "gzip", NULL, err);
    if (token_is(encoding, len, "deflate")) {
        int raw = 0;
        int rc = inflate_into(in, n, C_ZLIB, cap, out, "deflate", &raw, err);
        if (raw)
            rc = inflate_into(in, n, C_RAW, cap, out, "deflate", NULL, err);
        return rc;
    }
    return enc_errf(err, ENC_EMEDIA,
                    "Content-Encoding '%.*s' is not supported (gzip, deflate or identity)",
                    (int)(len > 40 ? 40 : len), encoding);
}

int codec_gzip(const void *in, size_t n, int level, buf *out)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, level, Z_DEFLATED, C_GZIP, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return ENC_ENOMEM;
    size_t bound = deflateBound(&z, (uLong)n);
    if (n > (1u << 30) || buf_reserve(out, bound)) {
        deflateEnd(&z);
        return n > (1u << 30) ? ENC_EINTERNAL : ENC_ENOMEM;
    }
    z.next_in = (unsigned char *)in;
    z.avail_in = (uInt)n;
    z.next_out = (unsigned char *)out->data + out->len;
    z.avail_out = (uInt)bound;
    int zr = deflate(&z, Z_FINISH);
    size_t produced = bound - z.avail_out;
    deflateEnd(&z);
    if (zr != Z_STREAM_END)
        return ENC_EINTERNAL;
    out->len += produced;
    if (out->len < out->cap)
        out->data[out->len] = '\0';
    return 0;
}

int codec_accepts_gzip(const char *ae)
{
    if (!ae)
        return 0;
    int gzip = -1, star = -1; /* -1 not listed, 0 refused, 1 accepted */
    const char *p = ae;
    while (*p) {
        size_t n = strcspn(p, ",");
        const char *item = p;
        p += n;
        if (*p == ',')
            p++;
        size_t tn = strcspn(item, ";");
        if (tn > n)
            tn = n;
        const char *tok = item;
        trim(&tok, &tn);
        /* q-value: ";q=0", ";q=0.0", ... refuse; anything else accepts. */
        int ok = 1;
        const char *semi = memchr(item, ';', n);
        if (semi) {
            const char *q = semi + 1;
            while (q < item + n && (*q == ' ' || *q == '\t'))
                q++;
            if (q + 1 < item + n && (q[0] == 'q' || q[0] == 'Q') && q[1] == '=') {
                q += 2;
                double v = strtod(q, NULL);
                ok = v > 0;
            }
        }
        if (token_is(tok, tn, "gzip") || token_is(tok, tn, "x-gzip"))
            gzip = ok;
        else if (token_is(tok, tn, "*"))
            star = ok;
    }
    return gzip >= 0 ? gzip : star == 1;
}
