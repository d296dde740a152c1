/*
 * test_image.c - server/image.c: base64 (standard, URL-safe, padding,
 * whitespace, refusals), binary PGM (8- and 16-bit samples, maxval scaling,
 * comments, every refusal) and PNG (gray, RGB converted, alpha composited,
 * refusals) into an 8-bit grayscale plane. protocol.c's tests check the same
 * decoders behind {"b64": ...} with the request location added.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef ENCORE_HAVE_PNG
#include <png.h>
#endif

#include "image.h"
#include "testutil.h"

static void b64_is(const char *in, const char *want, size_t want_len)
{
    size_t len = 99;
    unsigned char *d = image_b64_decode(in, strlen(in), &len);
    ck_assert_msg(d != NULL, "'%s' refused", in);
    ck_assert_uint_eq(len, want_len);
    ck_assert(memcmp(d, want, want_len) == 0);
    free(d);
}

static void b64_refused(const char *in)
{
    size_t len = 99;
    ck_assert_msg(image_b64_decode(in, strlen(in), &len) == NULL, "'%s' accepted", in);
    ck_assert_uint_eq(len, 0);
}

START_TEST(base64)
{
    b64_is("QUJD", "ABC", 3);
    b64_is("QUI=", "AB", 2);
    b64_is("QUI", "AB", 2); /* padding optional */
    b64_is("QQ==", "A", 1);
    b64_is("", "", 0);
    b64_is("QU\nJD\r\n \t", "ABC", 3); /* whitespace ignored */
    b64_is("-_-_", "\xfb\xff\xbf", 3); /* URL-safe alphabet */
    b64_is("+/+/", "\xfb\xff\xbf", 3); /* standard alphabet, same bytes */
    b64_refused("QU!D");               /* not in either alphabet */
    b64_refused("Q");                  /* a lone character is no whole byte */
    b64_refused("QUI=x");              /* data after the padding */
}
END_TEST

static size_t pgm(unsigned char *out, int w, int h, int maxval, const unsigned char *px,
                  size_t bytes)
{
    int n = sprintf((char *)out, "P5\n# a comment\n%d %d\n%d\n", w, h, maxval);
    memcpy(out + n, px, bytes);
    return (size_t)n + bytes;
}

static void gray_refused(const unsigned char *d, size_t n, int64_t H, int64_t W, const char *what)
{
    unsigned char gray[64];
    enc_err err = {0};
    ck_assert_int_eq(image_decode_gray(d, n, H, W, gray, &err), ENC_EINVAL);
    ck_assert_msg(strstr(err.msg, what), "'%s' not in '%s'", what, err.msg);
}

START_TEST(pgm_images)
{
    unsigned char px[16], file[256], gray[16];
    for (int i = 0; i < 16; i++)
        px[i] = (unsigned char)(i * 17);
    enc_err err = {0};
    size_t n = pgm(file, 4, 4, 255, px, 16);
    ck_assert_msg(image_decode_gray(file, n, 4, 4, gray, &err) == 0, "%s", err.msg);
    ck_assert(memcmp(gray, px, 16) == 0);
    /* maxval 15: samples scale to 0..255, rounded */
    unsigned char small[16];
    for (int i = 0; i < 16; i++)
        small[i] = (unsigned char)i;
    n = pgm(file, 4, 4, 15, small, 16);
    ck_assert_int_eq(image_decode_gray(file, n, 4, 4, gray, &err), 0);
    for (int i = 0; i < 16; i++)
        ck_assert_int_eq(gray[i], i * 17);
    /* 16-bit big-endian samples, maxval 65535 */
    unsigned char wide[32];
    for (int i = 0; i < 16; i++) {
        wide[2 * i] = (unsigned char)(i * 17);
        wide[2 * i + 1] = (unsigned char)(i * 17);
    }
    n = pgm(file, 4, 4, 65535, wide, 32);
    ck_assert_int_eq(image_decode_gray(file, n, 4, 4, gray, &err), 0);
    for (int i = 0; i < 16; i++)
        ck_assert_int_eq(gray[i], i * 17);
    /* refusals */
    n = pgm(file, 4, 4, 10, small, 16);
    gray_refused(file, n, 4, 4, "above maxval 10");
    n = pgm(file, 5, 3, 255, px, 15);
    gray_refused(file, n, 4, 4, "image is 5x3 (width x height); the model takes 4x4");
    n = pgm(file, 4, 4, 255, px, 16);
    gray_refused(file, n - 3, 4, 4, "PGM data truncated");
    gray_refused((const unsigned char *)"P5\n4 x\n255\n", 11, 4, 4, "malformed PGM header");
    gray_refused((const unsigned char *)"P5\n4 4\n70000\n", 13, 4, 4, "malformed PGM header");
    gray_refused((const unsigned char *)"P2\n4 4\n255\n", 11, 4, 4, "not a PNG or binary (P5) PGM");
    gray_refused((const unsigned char *)"GIF89a....", 10, 4, 4, "not a PNG or binary (P5) PGM");
}
END_TEST

#ifdef ENCORE_HAVE_PNG
/* A W x H PNG in memory (gray, RGB or gray + alpha) from pixels. */
static unsigned char *png_file(int w, int h, int format, const unsigned char *px, size_t *len)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)w;
    img.height = (png_uint_32)h;
    img.format = (png_uint_32)format;
    png_alloc_size_t size = 0;
    ck_assert(png_image_write_to_memory(&img, NULL, &size, 0, px, 0, NULL));
    unsigned char *out = malloc(size);
    ck_assert(png_image_write_to_memory(&img, out, &size, 0, px, 0, NULL));
    *len = size;
    return out;
}
#endif

START_TEST(png_images)
{
#ifdef ENCORE_HAVE_PNG
    unsigned char px[16], rgb[48], ga[32], gray[16];
    for (int i = 0; i < 16; i++) {
        px[i] = (unsigned char)(i * 16);
        rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = px[i];
        ga[2 * i] = 200;
        ga[2 * i + 1] = i < 8 ? 255 : 0; /* opaque, then transparent */
    }
    enc_err err = {0};
    size_t n;
    unsigned char *f = png_file(4, 4, PNG_FORMAT_GRAY, px, &n);
    ck_assert_msg(image_decode_gray(f, n, 4, 4, gray, &err) == 0, "%s", err.msg);
    ck_assert(memcmp(gray, px, 16) == 0);
    gray_refused(f, n, 8, 2, "image is 4x4 (width x height); the model takes 2x8");
    gray_refused(f, n / 2, 4, 4, "malformed PNG");
    free(f);
    f = png_file(4, 4, PNG_FORMAT_RGB, rgb, &n);
    ck_assert_int_eq(image_decode_gray(f, n, 4, 4, gray, &err), 0);
    for (int i = 0; i < 16; i++)
        ck_assert_int_le(abs((int)gray[i] - i * 16), 2);
    free(f);
    f = png_file(4, 4, PNG_FORMAT_GA, ga, &n); /* alpha composited on black */
    ck_assert_int_eq(image_decode_gray(f, n, 4, 4, gray, &err), 0);
    ck_assert_int_ge(gray[0], 190);
    ck_assert_int_eq(gray[15], 0);
    free(f);
    gray_refused((const unsigned char *)"\x89PNG\r\n\x1a\nxxxxxxxxxxxxxxxx", 24, 4, 4,
                 "malformed PNG");
#else
    tu_skip("built without libpng");
#endif
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("image");
    TCase *tc = tcase_create("decode");
    tcase_add_test(tc, base64);
    tcase_add_test(tc, pgm_images);
    suite_add_tcase(s, tc);
    tcase_add_test(tu_optional_tcase(s, "png"), png_images);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
