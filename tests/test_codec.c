/*
 * test_codec.c - server/codec.c: gzip and deflate (zlib and raw) request
 * bodies round-trip, a compression bomb stops at the cap (413) without
 * allocating past it, corrupt, truncated and trailing data are 400s, an
 * unknown coding is 415, and Accept-Encoding is read with its q-values.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "codec.h"
#include "testutil.h"

/* Compress `n` bytes of `fill` (or of p when p != NULL) with window bits
 * `wbits` (31 gzip, 15 zlib, -15 raw), streaming, so a 200 MB bomb needs no
 * 200 MB buffer. */
static unsigned char *pack(const void *p, size_t n, int fill, int wbits, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    ck_assert_int_eq(deflateInit2(&z, 9, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = 1 << 20, len = 0;
    unsigned char *out = malloc(cap);
    static unsigned char chunk[1 << 16];
    memset(chunk, fill, sizeof chunk);
    size_t done = 0;
    int flush;
    do {
        size_t take = n - done < sizeof chunk ? n - done : sizeof chunk;
        z.next_in = p ? (unsigned char *)p + done : chunk;
        z.avail_in = (uInt)take;
        done += take;
        flush = done == n ? Z_FINISH : Z_NO_FLUSH;
        do {
            if (cap - len < 65536) {
                cap *= 2;
                out = realloc(out, cap);
            }
            z.next_out = out + len;
            z.avail_out = (uInt)(cap - len);
            deflate(&z, flush);
            len = cap - z.avail_out;
        } while (z.avail_out == 0 || (flush == Z_FINISH && z.avail_in));
    } while (flush != Z_FINISH);
    deflateEnd(&z);
    *out_len = len;
    return out;
}

static const char text[] =
    "{\"inputs\":[{\"name\":\"INPUT0\",\"shape\":[1,4],\"datatype\":\"FP32\","
    "\"data\":[1,2,3,4]}]} and some more text to make it compress";

START_TEST(round_trips)
{
    int wb[3] = {31, 15, -15};
    const char *names[3] = {"gzip", "deflate", "deflate"};
    for (int i = 0; i < 3; i++) {
        size_t n;
        unsigned char *z = pack(text, sizeof text - 1, 0, wb[i], &n);
        buf out;
        buf_init(&out);
        enc_err err = {0};
        ck_assert_msg(codec_decode(names[i], z, n, 4096, &out, &err) == 0, "%s: %s", names[i],
                      err.msg);
        ck_assert_uint_eq(out.len, sizeof text - 1);
        ck_assert(!memcmp(out.data, text, out.len));
        ck_assert(out.data[out.len] == '\0'); /* NUL-terminated like every body */
        buf_free(&out);
        free(z);
    }
    /* Case and spaces do not matter; x-gzip is gzip. */
    size_t n;
    unsigned char *z = pack(text, sizeof text - 1, 0, 31, &n);
    buf out;
    buf_init(&out);
    ck_assert_int_eq(codec_decode(" GZip ", z, n, 4096, &out, NULL), 0);
    ck_assert_int_eq(codec_decode("x-gzip", z, n, 4096, &out, NULL), 0);
    ck_assert_uint_eq(out.len, 2 * (sizeof text - 1));
    buf_free(&out);
    /* Two gzip members back to back decode to both texts. */
    unsigned char *two = malloc(2 * n);
    memcpy(two, z, n);
    memcpy(two + n, z, n);
    ck_assert_int_eq(codec_decode("gzip", two, 2 * n, 4096, &out, NULL), 0);
    ck_assert_uint_eq(out.len, 2 * (sizeof text - 1));
    buf_free(&out);
    free(two);
    /* codec_gzip's output is what zlib (and so every client) reads. */
    buf g;
    buf_init(&g);
    ck_assert_int_eq(codec_gzip(text, sizeof text - 1, 6, &g), 0);
    ck_assert(g.len > 18 && (unsigned char)g.data[0] == 0x1f && (unsigned char)g.data[1] == 0x8b);
    ck_assert_int_eq(codec_decode("gzip", g.data, g.len, 4096, &out, NULL), 0);
    ck_assert(out.len == sizeof text - 1 && !memcmp(out.data, text, out.len));
    buf_free(&out);
    buf_free(&g);
    free(z);
    /* identity */
    ck_assert(codec_is_identity(NULL) && codec_is_identity("") && codec_is_identity(" identity"));
    ck_assert(!codec_is_identity("gzip"));
    ck_assert_int_eq(codec_decode("identity", text, 10, 4096, &out, NULL), 0);
    ck_assert_uint_eq(out.len, 10);
    buf_free(&out);
}
END_TEST

START_TEST(bomb_stops_at_the_cap)
{
    /* 200 MB of zeros is ~200 KB of gzip. */
    size_t n;
    unsigned char *z = pack(NULL, (size_t)200 << 20, 0, 31, &n);
    ck_assert(n < (1 << 20));
    buf out;
    buf_init(&out);
    enc_err err = {0};
    ck_assert_int_eq(codec_decode("gzip", z, n, 1 << 20, &out, &err), ENC_ETOOLARGE);
    ck_assert_int_eq(enc_http_status(err.code), 413);
    ck_assert_msg(strstr(err.msg, "more than 1048576 bytes (max_body_bytes)"), "%s", err.msg);
    ck_assert_uint_eq(out.len, 0);
    ck_assert_msg(out.cap <= (2u << 20) + 256, "decoding allocated %zu bytes for a 1 MiB cap",
                  out.cap);
    buf_free(&out);
    free(z);
    /* Exactly the cap is fine; one byte more is not. */
    z = pack(NULL, 5000, 'a', 15, &n);
    ck_assert_int_eq(codec_decode("deflate", z, n, 5000, &out, &err), 0);
    ck_assert_uint_eq(out.len, 5000);
    buf_free(&out);
    ck_assert_int_eq(codec_decode("deflate", z, n, 4999, &out, &err), ENC_ETOOLARGE);
    buf_free(&out);
    free(z);
    ck_assert_int_eq(codec_decode(NULL, text, 100, 99, &out, &err), ENC_ETOOLARGE);
    buf_free(&out);
}
END_TEST

START_TEST(bad_data)
{
    size_t n;
    unsigned char *z = pack(text, sizeof text - 1, 0, 31, &n);
    buf out;
    buf_init(&out);
    enc_err err = {0};
    /* Truncated. */
    ck_assert_int_eq(codec_decode("gzip", z, n - 6, 4096, &out, &err), ENC_EINVAL);
    ck_assert_msg(strstr(err.msg, "truncated"), "%s", err.msg);
    ck_assert_uint_eq(out.len, 0);
    /* Not gzip at all. */
    ck_assert_int_eq(codec_decode("gzip", text, sizeof text - 1, 4096, &out, &err), ENC_EINVAL);
    ck_assert_msg(strstr(err.msg, "not valid gzip data"), "%s", err.msg);
    ck_assert_int_eq(enc_http_status(err.code), 400);
    ck_assert_int_eq(codec_decode("deflate", "\xff\xff\xff\xff", 4, 4096, &out, &err), ENC_EINVAL);
    /* Trailing bytes after a zlib stream. */
    free(z);
    z = pack(text, sizeof text - 1, 0, 15, &n);
    unsigned char *t = malloc(n + 3);
    memcpy(t, z, n);
    memcpy(t + n, "xyz", 3);
    ck_assert_int_eq(codec_decode("deflate", t, n + 3, 4096, &out, &err), ENC_EINVAL);
    ck_assert_msg(strstr(err.msg, "3 bytes after the end"), "%s", err.msg);
    free(t);
    /* Empty gzip body. */
    ck_assert_int_eq(codec_decode("gzip", "", 0, 4096, &out, &err), ENC_EINVAL);
    /* Another coding. */
    ck_assert_int_eq(codec_decode("br", z, n, 4096, &out, &err), ENC_EMEDIA);
    ck_assert_int_eq(enc_http_status(err.code), 415);
    ck_assert_msg(strstr(err.msg, "'br' is not supported"), "%s", err.msg);
    ck_assert_int_eq(codec_decode("gzip, br", z, n, 4096, &out, &err), ENC_EMEDIA);
    buf_free(&out);
    free(z);
}
END_TEST

START_TEST(accept_encoding)
{
    ck_assert(codec_accepts_gzip("gzip"));
    ck_assert(codec_accepts_gzip("gzip, deflate, br"));
    ck_assert(codec_accepts_gzip("deflate, GZIP;q=0.5"));
    ck_assert(codec_accepts_gzip("x-gzip"));
    ck_assert(codec_accepts_gzip("*"));
    ck_assert(codec_accepts_gzip("br, *;q=0.1"));
    ck_assert(!codec_accepts_gzip(NULL));
    ck_assert(!codec_accepts_gzip(""));
    ck_assert(!codec_accepts_gzip("identity"));
    ck_assert(!codec_accepts_gzip("deflate"));
    ck_assert(!codec_accepts_gzip("gzip;q=0"));
    ck_assert(!codec_accepts_gzip("gzip; q=0.000, *"));
    ck_assert(!codec_accepts_gzip("*;q=0"));
    ck_assert(!codec_accepts_gzip("gzipx"));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("codec");
    TCase *tc = tcase_create("codec");
    tcase_add_test(tc, round_trips);
    tcase_add_test(tc, bomb_stops_at_the_cap);
    tcase_add_test(tc, bad_data);
    tcase_add_test(tc, accept_encoding);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
