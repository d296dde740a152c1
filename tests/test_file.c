/* test_file.c - core/file: whole-file reads of plain and gzip files (the same
 * bytes either way), a NUL after the data, and every failure naming the file:
 * missing, a directory, a gzip stream that is corrupt or cut short. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/file.h"
#include "testutil.h"

static char *g_dir;

static const char *path_in(const char *name)
{
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", g_dir, name);
    return p[k];
}

static void setup(void)
{
    g_dir = tu_tmpdir();
    ck_assert_ptr_nonnull(g_dir);
}

static void teardown(void)
{
    tu_rmrf(g_dir);
    free(g_dir);
}

static void write_gz(const char *path, const char *data, size_t n)
{
    gzFile g = gzopen(path, "wb");
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(gzwrite(g, data, (unsigned)n), (int)n);
    ck_assert_int_eq(gzclose(g), Z_OK);
}

/* n bytes that compress poorly enough to need several buffer doublings */
static char *pattern(size_t n)
{
    char *d = malloc(n);
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        d[i] = (char)(x >> 24);
    }
    return d;
}

START_TEST(plain_and_gzip_read_the_same)
{
    const size_t n = 3 * (1 << 20) + 17; /* past the first guesses */
    char *data = pattern(n);
    ck_assert_int_eq(tu_write_file(path_in("plain.bin"), data, n), 0);
    write_gz(path_in("packed.bin.gz"), data, n);
    char *a, *b;
    size_t la, lb;
    enc_err err = {0};
    ck_assert_msg(enc_read_file(path_in("plain.bin"), &a, &la, &err) == 0, "%s", err.msg);
    ck_assert_msg(enc_read_file(path_in("packed.bin.gz"), &b, &lb, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(la, n);
    ck_assert_uint_eq(lb, n);
    ck_assert(memcmp(a, data, n) == 0);
    ck_assert(memcmp(b, data, n) == 0);
    ck_assert_int_eq(a[n], '\0');
    ck_assert_int_eq(b[n], '\0');
    free(a);
    free(b);
    free(data);

    /* an empty file: zero bytes, still NUL-terminated */
    ck_assert_int_eq(tu_write_file(path_in("empty"), "", 0), 0);
    ck_assert_int_eq(enc_read_file(path_in("empty"), &a, &la, &err), 0);
    ck_assert_uint_eq(la, 0);
    ck_assert_int_eq(a[0], '\0');
    free(a);
}
END_TEST

START_TEST(failures_name_the_file)
{
    char *b = (char *)1;
    size_t n = 7;
    enc_err err = {0};
    ck_assert_int_eq(enc_read_file(path_in("missing.tsv"), &b, &n, &err), ENC_EIO);
    ck_assert_ptr_null(b);
    ck_assert_uint_eq(n, 0);
    ck_assert_msg(strstr(err.msg, "missing.tsv: cannot open: No such file"), "%s", err.msg);

    ck_assert_int_eq(enc_read_file(g_dir, &b, &n, &err), ENC_EIO);
    ck_assert_msg(strstr(err.msg, "cannot open: Is a directory"), "%s", err.msg);

    /* a gzip stream cut in half: an error at a byte offset, not short data */
    const size_t len = 200000;
    char *data = pattern(len);
    write_gz(path_in("whole.gz"), data, len);
    size_t gl;
    char *gz = tu_read_file(path_in("whole.gz"), &gl);
    ck_assert_int_eq(tu_write_file(path_in("cut.gz"), gz, gl / 2), 0);
    ck_assert_int_eq(enc_read_file(path_in("cut.gz"), &b, &n, &err), ENC_EFORMAT);
    ck_assert_ptr_null(b);
    ck_assert_msg(strstr(err.msg, "cut.gz: byte ") && strstr(err.msg, "(decompressed)"), "%s",
                  err.msg);

    /* corrupt deflate data after a valid gzip header */
    for (size_t i = 20; i < 60; i++)
        gz[i] ^= 0x5A;
    ck_assert_int_eq(tu_write_file(path_in("bad.gz"), gz, gl), 0);
    ck_assert_int_eq(enc_read_file(path_in("bad.gz"), &b, &n, &err), ENC_EFORMAT);
    ck_assert_msg(strstr(err.msg, "bad.gz: byte "), "%s", err.msg);
    free(gz);
    free(data);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("file");
    TCase *tc = tcase_create("file");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, plain_and_gzip_read_the_same);
    tcase_add_test(tc, failures_name_the_file);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
