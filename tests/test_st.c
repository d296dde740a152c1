/* test_st.c - safetensors writer/reader round trip and refusal of bad files. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/st.h"
#include "testutil.h"

static void *make_file(size_t *len)
{
    st_writer *w = st_writer_new();
    float f[6] = {1, 2, 3, 4, 5, 6};
    int64_t i64[3] = {7, 8, 9};
    int64_t s23[2] = {2, 3}, s3[1] = {3};
    const char *strs[] = {"a", "", "héllo"};
    ck_assert_int_eq(st_writer_add(w, "f", ST_F32, 2, s23, f), 0);
    ck_assert_int_eq(st_writer_add(w, "i", ST_I64, 1, s3, i64), 0);
    ck_assert_int_eq(st_writer_add_strings(w, "names", strs, NULL, 3), 0);
    ck_assert_int_eq(st_writer_meta(w, "family", "test"), 0);
    void *buf;
    enc_err err = {0};
    ck_assert_int_eq(st_writer_to_buffer(w, &buf, len, &err), 0);
    st_writer_free(w);
    return buf;
}

/* make_file's bytes written to a new temporary directory (*dir, the
 * caller's to remove and free) as m.safetensors (path); returns them. */
static void *file_on_disk(char **dir, char *path, size_t pathsz, size_t *len)
{
    *dir = tu_tmpdir();
    snprintf(path, pathsz, "%s/m.safetensors", *dir);
    void *buf = make_file(len);
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(buf, 1, *len, fp), *len);
    fclose(fp);
    return buf;
}

START_TEST(round_trip)
{
    size_t len;
    unsigned char *buf = make_file(&len);
    ck_assert_uint_eq((8 + (buf[0] | buf[1] << 8)) % 8, 0); /* data block 8-aligned */
    st_file *f;
    enc_err err = {0};
    ck_assert_int_eq(st_open_buffer(buf, len, &f, &err), 0);
    const st_tensor *t;
    int64_t s23[2] = {2, 3};
    ck_assert_int_eq(st_expect(f, "f", ST_F32, 2, s23, &t, &err), 0);
    ck_assert_float_eq(((const float *)t->data)[5], 6.0f);
    ck_assert_int_eq(st_expect(f, "i", ST_I64, 1, NULL, &t, &err), 0);
    ck_assert_int_eq(((const int64_t *)t->data)[2], 9);
    st_strings s;
    ck_assert_int_eq(st_expect_strings(f, "names", 3, &s, &err), 0);
    size_t l;
    const char *p = st_str(&s, 2, &l);
    ck_assert_int_eq((int)l, 6);
    ck_assert_int_eq(memcmp(p, "héllo", 6), 0);
    st_str(&s, 1, &l);
    ck_assert_int_eq((int)l, 0);
    ck_assert_str_eq(st_meta(f, "family"), "test");
    ck_assert_ptr_nonnull(st_meta(f, "data_sha256"));
    ck_assert_str_eq(st_meta(f, "data_sha256"), st_file_sha256(f));
    /* wrong expectations are refused with the tensor's name */
    ck_assert_int_eq(st_expect(f, "f", ST_F64, 2, s23, &t, &err), ENC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "'f'"));
    int64_t bad[2] = {3, 2};
    ck_assert_int_eq(st_expect(f, "f", ST_F32, 2, bad, &t, &err), ENC_EFORMAT);
    ck_assert_int_eq(st_expect(f, "nope", ST_F32, 2, NULL, &t, &err), ENC_EFORMAT);
    st_close(f);
    free(buf);
}
END_TEST

static int keep_not_i(const char *name, int is_meta, void *ctx)
{
    (void)ctx;
    return is_meta || strcmp(name, "i") != 0;
}

/* st_writer_copy: every tensor and key but the ones refused, a new checksum. */
START_TEST(copy_into_writer)
{
    size_t len;
    void *buf = make_file(&len);
    st_file *f, *g;
    enc_err err = {0};
    ck_assert_int_eq(st_open_buffer(buf, len, &f, &err), 0);
    st_writer *w = st_writer_new();
    ck_assert_int_eq(st_writer_copy(w, f, keep_not_i, NULL), 0);
    int64_t s1[1] = {1};
    int32_t extra = 42;
    ck_assert_int_eq(st_writer_add(w, "extra", ST_I32, 1, s1, &extra), 0);
    void *out;
    size_t olen;
    ck_assert_int_eq(st_writer_to_buffer(w, &out, &olen, &err), 0);
    st_writer_free(w);
    ck_assert_msg(st_open_buffer(out, olen, &g, &err) == 0, "%s", err.msg);
    ck_assert_ptr_null(st_find(g, "i"));
    ck_assert_ptr_nonnull(st_find(g, "names.bytes"));
    ck_assert_int_eq(memcmp(st_find(g, "f")->data, st_find(f, "f")->data, 24), 0);
    ck_assert_int_eq(*(const int32_t *)st_find(g, "extra")->data, 42);
    ck_assert_str_eq(st_meta(g, "family"), "test");
    ck_assert_str_ne(st_meta(g, "data_sha256"), st_meta(f, "data_sha256"));
    st_close(g);
    st_close(f);
    free(out);
    free(buf);
}
END_TEST

START_TEST(truncated_files_refused)
{
    size_t len;
    unsigned char *buf = make_file(&len);
    /* Every proper prefix must be refused, never crash. */
    for (size_t n = 0; n < len; n++) {
        st_file *f = NULL;
        enc_err err = {0};
        ck_assert_int_ne(st_open_buffer(buf, n, &f, &err), 0);
        ck_assert_ptr_null(f);
        ck_assert(err.msg[0] != '\0');
    }
    free(buf);
}
END_TEST

START_TEST(corrupted_data_refused)
{
    size_t len;
    unsigned char *buf = make_file(&len);
    buf[len - 1] ^= 0x5a; /* flip bits in the data block */
    st_file *f = NULL;
    enc_err err = {0};
    ck_assert_int_eq(st_open_buffer(buf, len, &f, &err), ENC_ECHECKSUM);
    ck_assert_ptr_nonnull(strstr(err.msg, "data_sha256"));
    free(buf);
}
END_TEST

static int open_header(const char *json, size_t data_len, enc_err *err)
{
    size_t n = strlen(json), len = 8 + n + data_len;
    unsigned char *buf = calloc(1, len);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(buf + 8, json, n);
    st_file *f = NULL;
    int rc = st_open_buffer(buf, len, &f, err);
    st_close(f);
    free(buf);
    return rc;
}

START_TEST(lying_headers_refused)
{
    enc_err err;
    static const struct {
        const char *json;
        size_t data;
        const char *needle;
    } cases[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, "outside"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", 16, "needs 12 bytes"},
        {"{\"a\":{\"dtype\":\"Q8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4, "dtype"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "shape[0]"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,4]}}",
         4, "overflow"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,0]}}", 4, "outside"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
         "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[1,3]}}",
         4, "overlap"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 4, "cover"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},\"a\":1}", 2, "JSON"},
        {"[1,2,3]", 0, "object"},
        {"{\"__metadata__\":{\"x\":1}}", 0, "not a string"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1,
         "dims"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[1,5]},"
         "\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
         5, "aligned"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        memset(&err, 0, sizeof err);
        int rc = open_header(cases[i].json, cases[i].data, &err);
        ck_assert_msg(rc != 0, "case %zu accepted", i);
        ck_assert_msg(strstr(err.msg, cases[i].needle) != NULL, "case %zu: '%s' lacks '%s'", i,
                      err.msg, cases[i].needle);
    }
}
END_TEST

START_TEST(write_file_atomically)
{
    char *dir = tu_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    st_writer *w = st_writer_new();
    int64_t s1[1] = {1};
    float one = 1;
    st_writer_add(w, "x", ST_F32, 1, s1, &one);
    enc_err err = {0};
    ck_assert_int_eq(st_writer_write(w, path, &err), 0);
    st_writer_free(w);
    st_file *f;
    ck_assert_int_eq(st_open(path, &f, &err), 0);
    ck_assert_uint_eq(st_tensor_count(f), 1);
    st_close(f);
    ck_assert_int_eq(st_open("/nonexistent/x", &f, &err), ENC_ENOTFOUND);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

/* st_writer_write streams the tensors (hashing them one by one) and
 * st_writer_to_buffer assembles them: the same bytes. Borrowed tensors
 * (st_writer_add_ref) are read at write time, not at add time; owned ones
 * (st_writer_add_owned) are freed with the writer (LSan would tell). */
START_TEST(write_streams_the_same_bytes)
{
    char *dir = tu_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    float big[3000], *owned = malloc(5 * sizeof *owned);
    for (int i = 0; i < 3000; i++)
        big[i] = (float)i / 7;
    for (int i = 0; i < 5; i++)
        owned[i] = (float)-i;
    int64_t sb[2] = {1000, 3}, s5[1] = {5}, s0[1] = {0};
    uint16_t h[4] = {0x3c00, 0, 0x8000, 0x7bff};
    int64_t s4[1] = {4};
    st_writer *w = st_writer_new();
    ck_assert_int_eq(st_writer_add_ref(w, "big", ST_F32, 2, sb, big), 0);
    ck_assert_int_eq(st_writer_add_owned(w, "owned", ST_F32, 1, s5, owned), 0);
    ck_assert_int_eq(st_writer_add(w, "half", ST_F16, 1, s4, h), 0);
    ck_assert_int_eq(st_writer_add(w, "empty", ST_I32, 1, s0, NULL), 0);
    ck_assert_int_eq(st_writer_meta(w, "family", "test"), 0);
    big[2999] = 42.0f; /* borrowed: the write sees this */
    enc_err err = {0};
    void *buf;
    size_t len;
    ck_assert_int_eq(st_writer_write(w, path, &err), 0);
    ck_assert_int_eq(st_writer_to_buffer(w, &buf, &len, &err), 0);
    st_writer_free(w);
    struct stat sb2;
    ck_assert_int_eq(stat(path, &sb2), 0);
    ck_assert_uint_eq((size_t)sb2.st_size, len);
    FILE *fp = fopen(path, "rb");
    unsigned char *disk = malloc(len);
    ck_assert_uint_eq(fread(disk, 1, len, fp), len);
    fclose(fp);
    ck_assert_int_eq(memcmp(disk, buf, len), 0);
    st_file *f;
    ck_assert_int_eq(st_open(path, &f, &err), 0); /* the checksum holds */
    const st_tensor *t = st_find(f, "big");
    ck_assert_float_eq(((const float *)t->data)[2999], 42.0f);
    ck_assert_float_eq(((const float *)st_find(f, "owned")->data)[4], -4.0f);
    ck_assert_uint_eq(((const uint16_t *)st_find(f, "half")->data)[3], 0x7bff);
    st_close(f);
    free(disk);
    free(buf);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

/* st_file_residency: a file read into memory reports nothing; a mapped one
 * its size, and resident bytes within it (all of it: the checksum has
 * just read every page). */
START_TEST(residency_of_a_mapping)
{
    char *dir, path[4200];
    size_t len;
    void *buf = file_on_disk(&dir, path, sizeof path, &len);
    enc_err err = {0};
    const struct st_open_opts read = {ST_DEFAULT_MAX_HEADER, len}, map = {ST_DEFAULT_MAX_HEADER, 0};
    st_file *a, *b;
    ck_assert_int_eq(st_open_with(path, &read, &a, &err), 0);
    ck_assert_int_eq(st_open_with(path, &map, &b, &err), 0);
    size_t mapped = 1, resident = 1;
    ck_assert_int_eq(st_file_residency(a, &mapped, &resident), 0);
    ck_assert_uint_eq(mapped, 0);
    ck_assert_uint_eq(resident, 0);
    ck_assert_int_eq(st_file_residency(b, &mapped, &resident), 0);
    ck_assert_uint_eq(mapped, len);
    ck_assert_uint_eq(resident, len);
    st_close(a);
    st_close(b);
    free(buf);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

/* A file on disk: read into memory below read_max_bytes, mapped above;
 * both validate the same way. */
START_TEST(read_or_map)
{
    char *dir, path[4200];
    size_t len;
    void *buf = file_on_disk(&dir, path, sizeof path, &len);
    enc_err err = {0};
    const struct st_open_opts read = {ST_DEFAULT_MAX_HEADER, len}, map = {ST_DEFAULT_MAX_HEADER, 0};
    st_file *a, *b;
    ck_assert_int_eq(st_open_with(path, &read, &a, &err), 0);
    ck_assert_int_eq(st_open_with(path, &map, &b, &err), 0);
    ck_assert_str_eq(st_file_sha256(a), st_file_sha256(b));
    ck_assert_str_eq(st_meta(a, "family"), "test");
    ck_assert_str_eq(st_meta(b, "family"), "test");
    /* the copy read into memory does not change with the file */
    ck_assert_int_eq(truncate(path, 16), 0);
    ck_assert_str_eq(st_meta(a, "family"), "test");
    ck_assert_int_eq(st_expect(a, "f", ST_F32, 2, NULL, NULL, &err), 0);
    st_close(a);
    st_close(b);
    free(buf);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

/* The declared header length is checked against the cap before the header
 * is read; the message names the option. */
START_TEST(header_cap)
{
    char *dir, path[4200];
    size_t len;
    unsigned char *buf = file_on_disk(&dir, path, sizeof path, &len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | buf[i];
    enc_err err = {0};
    st_file *f = NULL;
    const struct st_open_opts small = {(size_t)hlen - 1, ST_DEFAULT_READ_MAX},
                              exact = {(size_t)hlen, ST_DEFAULT_READ_MAX};
    ck_assert_int_eq(st_open_with(path, &small, &f, &err), ENC_EFORMAT);
    ck_assert_ptr_null(f);
    ck_assert_msg(strstr(err.msg, "max_model_header_bytes") && strstr(err.msg, path), "%s",
                  err.msg);
    ck_assert_int_eq(st_open_with(path, &exact, &f, &err), 0);
    st_close(f);
    free(buf);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

/* A FIFO is refused at once (opening it must not wait for a writer). */
START_TEST(fifo_refused)
{
    char *dir = tu_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    st_file *f = NULL;
    enc_err err = {0};
    ck_assert_int_eq(st_open(path, &f, &err), ENC_EIO);
    ck_assert_msg(strstr(err.msg, "not a regular file"), "%s", err.msg);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("st");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, truncated_files_refused);
    tcase_add_test(tc, corrupted_data_refused);
    tcase_add_test(tc, lying_headers_refused);
    tcase_add_test(tc, write_file_atomically);
    tcase_add_test(tc, read_or_map);
    tcase_add_test(tc, header_cap);
    tcase_add_test(tc, fifo_refused);
    tcase_add_test(tc, copy_into_writer);
    tcase_add_test(tc, write_streams_the_same_bytes);
    tcase_add_test(tc, residency_of_a_mapping);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
