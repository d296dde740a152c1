/*
 * test_idx.c - the IDX and CSV image readers: valid files (raw and gzip),
 * and every refusal: bad magic, unknown / unsupported element type, bad
 * dimension count, zero dimension, truncated header or data, trailing bytes,
 * wrong dimensions for images / labels, count mismatch, truncated gzip, and
 * CSV errors with line and column.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "cnn/idx.h"
#include "testutil.h"

static char *dir;

static void setup(void)
{
    dir = tu_tmpdir();
    ck_assert_ptr_nonnull(dir);
}

static void teardown(void)
{
    tu_rmrf(dir);
    free(dir);
}

/* An IDX u8 file image: header for `nd` dims plus `count` data bytes (i % 251). */
static size_t make_idx(unsigned char *buf, int nd, const uint32_t *dims, size_t count)
{
    buf[0] = buf[1] = 0;
    buf[2] = 0x08;
    buf[3] = (unsigned char)nd;
    size_t p = 4;
    for (int d = 0; d < nd; d++, p += 4) {
        buf[p] = (unsigned char)(dims[d] >> 24);
        buf[p + 1] = (unsigned char)(dims[d] >> 16);
        buf[p + 2] = (unsigned char)(dims[d] >> 8);
        buf[p + 3] = (unsigned char)dims[d];
    }
    for (size_t i = 0; i < count; i++)
        buf[p + i] = (unsigned char)(i % 251);
    return p + count;
}

static const char *path_in(const char *name)
{
    static char b[4][4096];
    static int slot;
    char *s = b[slot++ % 4];
    snprintf(s, 4096, "%s/%s", dir, name);
    return s;
}

static void write_gz(const char *path, const void *data, size_t len)
{
    gzFile g = gzopen(path, "wb");
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(gzwrite(g, data, (unsigned)len), (int)len);
    ck_assert_int_eq(gzclose(g), Z_OK);
}

START_TEST(parses_valid)
{
    unsigned char buf[256];
    uint32_t dims[3] = {2, 3, 4};
    size_t len = make_idx(buf, 3, dims, 24);
    struct idx_array a;
    enc_err err = {0};
    ck_assert_int_eq(idx_parse(buf, len, "mem", &a, &err), 0);
    ck_assert_int_eq(a.ndim, 3);
    ck_assert_uint_eq(a.dims[2], 4);
    ck_assert_uint_eq(a.count, 24);
    ck_assert_uint_eq(a.data[23], 23);
    idx_array_clear(&a);
    idx_array_clear(NULL);
}
END_TEST

/* Expect idx_parse to fail with `code` and a message containing `want`. */
static void expect_bad(const unsigned char *buf, size_t len, int code, const char *want)
{
    struct idx_array a;
    enc_err err = {0};
    ck_assert_int_eq(idx_parse(buf, len, "f.idx", &a, &err), code);
    ck_assert_ptr_null(a.data);
    ck_assert_msg(strstr(err.msg, want) != NULL, "message '%s' lacks '%s'", err.msg, want);
    ck_assert_msg(strstr(err.msg, "f.idx") != NULL, "message '%s' lacks the file name", err.msg);
}

START_TEST(refuses_malformed)
{
    unsigned char buf[256];
    uint32_t dims[3] = {2, 3, 4};
    size_t len = make_idx(buf, 3, dims, 24);
    unsigned char b[256];

    memcpy(b, buf, len);
    b[0] = 0x1f; /* e.g. a gzip file handed to the raw parser */
    expect_bad(b, len, ENC_EFORMAT, "byte 0: bad magic");
    memcpy(b, buf, len);
    b[2] = 0x0D; /* float elements: real IDX, not for images */
    expect_bad(b, len, ENC_EUNSUPPORTED, "byte 2");
    b[2] = 0x42;
    expect_bad(b, len, ENC_EFORMAT, "byte 2: element type 0x42 unknown");
    memcpy(b, buf, len);
    b[3] = 0;
    expect_bad(b, len, ENC_EFORMAT, "byte 3: 0 dimensions");
    b[3] = 9;
    expect_bad(b, len, ENC_EFORMAT, "byte 3: 9 dimensions");
    memcpy(b, buf, len);
    b[11] = 0; /* second dimension = 0 */
    expect_bad(b, len, ENC_EFORMAT, "byte 8: dimension 1 is 0");
    memcpy(b, buf, len);
    b[4] = 0xff; /* first dimension = 4278190082: over the size limit */
    expect_bad(b, len, ENC_EFORMAT, "larger than");
    expect_bad(buf, 3, ENC_EFORMAT, "byte 3: truncated IDX header");
    expect_bad(buf, 10, ENC_EFORMAT, "byte 10: truncated IDX header");
    expect_bad(buf, len - 5, ENC_EFORMAT, "byte 35: truncated");
    memcpy(b, buf, len);
    b[len] = 7;
    expect_bad(b, len + 1, ENC_EFORMAT, "byte 40: 1 unexpected bytes");
}
END_TEST

START_TEST(loads_raw_and_gzip_pairs)
{
    unsigned char im[4096], lb[64];
    uint32_t di[3] = {5, 6, 7}, dl[1] = {5};
    size_t ni = make_idx(im, 3, di, 5 * 42), nl = make_idx(lb, 1, dl, 5);
    for (int i = 0; i < 5; i++)
        lb[8 + i] = (unsigned char)(i * 2); /* labels 0..8: 9 classes */
    ck_assert_int_eq(tu_write_file(path_in("im.idx"), (const char *)im, ni), 0);
    write_gz(path_in("im.idx.gz"), im, ni);
    write_gz(path_in("lb.idx.gz"), lb, nl);
    struct idx_dataset d, g;
    enc_err err = {0};
    ck_assert_msg(idx_load(path_in("im.idx"), path_in("lb.idx.gz"), &d, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(idx_load_any(path_in("im.idx.gz"), path_in("lb.idx.gz"), &g, &err), 0);
    ck_assert_uint_eq(d.n, 5);
    ck_assert_uint_eq(d.rows, 6);
    ck_assert_uint_eq(d.cols, 7);
    ck_assert_int_eq(d.n_classes, 9);
    ck_assert(memcmp(d.pixels, g.pixels, 5 * 42) == 0);
    ck_assert_uint_eq(d.pixels[100], 100);
    idx_dataset_clear(&d);
    idx_dataset_clear(&g);

    /* a gzip stream cut short names the file */
    size_t gl;
    char *gz = tu_read_file(path_in("im.idx.gz"), &gl);
    ck_assert_int_eq(tu_write_file(path_in("cut.gz"), gz, gl / 2), 0);
    free(gz);
    ck_assert_int_ne(idx_load(path_in("cut.gz"), path_in("lb.idx.gz"), &d, &err), 0);
    ck_assert_msg(strstr(err.msg, "cut.gz") && strstr(err.msg, "byte"), "%s", err.msg);
    /* a missing file */
    ck_assert_int_eq(idx_load(path_in("none"), path_in("lb.idx.gz"), &d, &err), ENC_EIO);
    ck_assert_msg(strstr(err.msg, "none"), "%s", err.msg);
}
END_TEST

START_TEST(refuses_wrong_dims)
{
    unsigned char im[4096], lb[64], lb2[64], im1[64];
    uint32_t di[3] = {5, 6, 7}, dl[1] = {5}, dl2[1] = {4}, d2[2] = {5, 2}, d1[1] = {30};
    size_t ni = make_idx(im, 3, di, 5 * 42), nl = make_idx(lb, 1, dl, 5),
           nl2 = make_idx(lb2, 1, dl2, 4), n1 = make_idx(im1, 1, d1, 30);
    tu_write_file(path_in("im"), (const char *)im, ni);
    tu_write_file(path_in("lb"), (const char *)lb, nl);
    tu_write_file(path_in("lb4"), (const char *)lb2, nl2);
    tu_write_file(path_in("flat"), (const char *)im1, n1);
    unsigned char l2[64];
    size_t n2 = make_idx(l2, 2, d2, 10);
    tu_write_file(path_in("lb2d"), (const char *)l2, n2);
    struct idx_dataset d;
    enc_err err = {0};
    ck_assert_int_eq(idx_load(path_in("flat"), path_in("lb"), &d, &err), ENC_EFORMAT);
    ck_assert_msg(strstr(err.msg, "flat: byte 3: images need 3 dimensions"), "%s", err.msg);
    ck_assert_int_eq(idx_load(path_in("im"), path_in("lb2d"), &d, &err), ENC_EFORMAT);
    ck_assert_msg(strstr(err.msg, "lb2d: byte 3: labels need 1 dimension"), "%s", err.msg);
    ck_assert_int_eq(idx_load(path_in("im"), path_in("lb4"), &d, &err), ENC_EFORMAT);
    ck_assert_msg(strstr(err.msg, "4 labels but"), "%s", err.msg);
    ck_assert_ptr_null(d.pixels);
    ck_assert_int_eq(idx_load_any(path_in("im"), NULL, &d, &err), ENC_EINVAL);
}
END_TEST

START_TEST(reads_csv)
{
    /* header, 2 x 2 images, a blank line, CRLF */
    const char *csv = "label,p1,p2,p3,p4\n3,0,255,17,4\r\n\n1, 9 ,8,7.0,6\n";
    ck_assert_int_eq(tu_write_file(path_in("a.csv"), csv, strlen(csv)), 0);
    struct idx_dataset d;
    enc_err err = {0};
    ck_assert_msg(idx_load_any(path_in("a.csv"), NULL, &d, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(d.n, 2);
    ck_assert_uint_eq(d.rows, 2);
    ck_assert_uint_eq(d.labels[0], 3);
    ck_assert_uint_eq(d.pixels[1], 255);
    ck_assert_uint_eq(d.pixels[4], 9);
    ck_assert_uint_eq(d.pixels[6], 7);
    ck_assert_int_eq(d.n_classes, 4);
    idx_dataset_clear(&d);

    const struct {
        const char *text, *want;
    } bad[] = {
        {"1,2,3\n", "b.csv:1:1: 2 pixel values"}, /* not a square */
        {"1,2,3,4,5\n1,2,3,4\n", "b.csv:2:8: line has 4 fields, expected 5"},
        {"1,2,3,4,5\n1,2,3,4,5,6\n", "b.csv:2:10: more than 5 fields"},
        {"1,2,3,4,5\n1,2,x,4,5\n", "b.csv:2:5: field 3"},
        {"1,2,3,4,5\n1,2,256,4,5\n", "b.csv:2:5: field 3"},
        {"1,2,3,4,5\n1,2,-3,4,5\n", "b.csv:2:5: field 3"},
        {"label,a,b,c,d\n", "no data lines"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        tu_write_file(path_in("b.csv"), bad[i].text, strlen(bad[i].text));
        ck_assert_int_eq(idx_load_csv(path_in("b.csv"), &d, &err), ENC_EFORMAT);
        ck_assert_msg(strstr(err.msg, bad[i].want), "case %zu: '%s' lacks '%s'", i, err.msg,
                      bad[i].want);
        ck_assert_ptr_null(d.pixels);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("idx");
    TCase *t = tcase_create("core");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, parses_valid);
    tcase_add_test(t, refuses_malformed);
    tcase_add_test(t, loads_raw_and_gzip_pairs);
    tcase_add_test(t, refuses_wrong_dims);
    tcase_add_test(t, reads_csv);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
