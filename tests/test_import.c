/*
 * test_import.c - models/mf/import.c: .npy and CSV factor matrices, id lists,
 * malformed inputs refused with a message, and the full import round trip
 * (files -> mf_data -> model file -> loaded model whose scores are the
 * factors' dot products).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/st.h"
#include "families.h"
#include "mf/import.h"
#include "mf/mf.h"
#include "testutil.h"
#include "core/strv.h"

/* A .npy file in memory: magic, version, header dict (padded so the data
 * starts 64-aligned, as numpy writes it), then `nbytes` of data. */
static unsigned char *npy(int major, const char *dict, const void *data, size_t nbytes, size_t *len)
{
    size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t hlen = dl + 1;
    while ((pre + hlen) % 64)
        hlen++;
    unsigned char *b = calloc(1, pre + hlen + nbytes + 1);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (unsigned char)major;
    b[7] = 0;
    b[8] = (unsigned char)(hlen & 0xff);
    b[9] = (unsigned char)(hlen >> 8);
    if (major > 1) {
        b[10] = (unsigned char)(hlen >> 16);
        b[11] = (unsigned char)(hlen >> 24);
    }
    memcpy(b + pre, dict, dl);
    memset(b + pre + dl, ' ', hlen - dl - 1);
    b[pre + hlen - 1] = '\n';
    if (nbytes)
        memcpy(b + pre + hlen, data, nbytes);
    *len = pre + hlen + nbytes;
    return b;
}

static const float F6[6] = {0.5f, -1.0f, 2.0f, 0.25f, 3.0f, -0.75f};

START_TEST(npy_float32_matrix)
{
    size_t len;
    unsigned char *b =
        npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", F6, sizeof F6, &len);
    struct mf_npy a;
    enc_err err = {0};
    ck_assert_int_eq(mf_npy_parse(b, len, &a, &err), 0);
    ck_assert_int_eq(a.ndim, 2);
    ck_assert_int_eq(a.shape[0], 3);
    ck_assert_int_eq(a.shape[1], 2);
    ck_assert_int_eq(a.kind, 'f');
    ck_assert_uint_eq(a.itemsize, 4);
    struct mf_matrix m;
    ck_assert_int_eq(mf_matrix_parse(b, len, "u.npy", 0, &m, &err), 0);
    ck_assert_uint_eq(m.rows, 3);
    ck_assert_uint_eq(m.cols, 2);
    ck_assert(m.ids == NULL);
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(m.data[i], F6[i]);
    mf_matrix_clear(&m);
    /* an id column makes no sense for .npy */
    ck_assert_int_eq(mf_matrix_parse(b, len, "u.npy", 1, &m, &err), ENC_EINVAL);
    free(b);
}
END_TEST

START_TEST(npy_float64_big_endian_v2)
{
    /* float64, big-endian, version 2.0 header (u32 length), double quotes */
    unsigned char be[4 * 8];
    double v[4] = {1.5, -2.25, 1e-3, 4096.0};
    for (int i = 0; i < 4; i++) {
        uint64_t u;
        memcpy(&u, &v[i], 8);
        for (int k = 0; k < 8; k++)
            be[i * 8 + k] = (unsigned char)(u >> (56 - 8 * k));
    }
    size_t len;
    unsigned char *b =
        npy(2, "{\"descr\":\">f8\",\"shape\":(2,2),\"fortran_order\":False}", be, sizeof be, &len);
    struct mf_matrix m;
    enc_err err = {0};
    ck_assert_msg(mf_matrix_parse(b, len, "v.npy", 0, &m, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(m.rows, 2);
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(m.data[i], (float)v[i]);
    mf_matrix_clear(&m);
    free(b);
}
END_TEST

/* Each malformed header must be refused and the message must name the
 * problem (a substring we expect). */
static const struct {
    const char *dict, *expect;
    size_t data_bytes; /* bytes of data to append */
} bad_headers[] = {
    {"{'descr': '<f4', 'fortran_order': False}", "missing key 'shape'", 24},
    {"{'descr': '<f4', 'shape': (3, 2)}", "missing key 'fortran_order'", 24},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), 'x': 1}", "unexpected key 'x'", 24},
    {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3, 2)}", "duplicate key",
     24},
    {"{'descr': '<f4', 'fortran_order': 0, 'shape': (3, 2)}", "True or False", 24},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (3)}", "trailing comma", 12},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (-3, 2)}", "non-negative", 24},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': [3, 2]}", "must be a tuple", 24},
    {"{'descr': 'f4', 'fortran_order': False, 'shape': (3, 2)}", "byte order", 24},
    {"{'descr': '<c8', 'fortran_order': False, 'shape': (3, 2)}", "not supported", 48},
    {"{'descr': '|O', 'fortran_order': False, 'shape': (3,)}", "pickles", 24},
    {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,)}", "structured", 12},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2)} x", "after the dict", 24},
    {"{'descr': '<f\\x34', 'fortran_order': False, 'shape': (3, 2)}", "escapes", 24},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2)}", "truncated", 20},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2)}", "trailing bytes", 28},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (2251799813685249, 1)}", "too large", 0},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296)}",
     "overflows", 0},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (1048576, 1048576, 1048576, 1048576)}",
     "overflows", 0},
    {"('descr', '<f4')", "dict literal", 0},
};

START_TEST(npy_malformed_headers)
{
    unsigned char zeros[64] = {0};
    for (size_t i = 0; i < sizeof bad_headers / sizeof *bad_headers; i++) {
        size_t len;
        unsigned char *b = npy(1, bad_headers[i].dict, zeros, bad_headers[i].data_bytes, &len);
        struct mf_npy a;
        enc_err err = {0};
        int rc = mf_npy_parse(b, len, &a, &err);
        ck_assert_msg(rc < 0, "case %zu accepted: %s", i, bad_headers[i].dict);
        ck_assert_msg(strstr(err.msg, bad_headers[i].expect) != NULL, "case %zu: '%s' lacks '%s'",
                      i, err.msg, bad_headers[i].expect);
        free(b);
    }
}
END_TEST

START_TEST(npy_malformed_framing)
{
    size_t len;
    enc_err err = {0};
    struct mf_npy a;
    unsigned char *b =
        npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", F6, sizeof F6, &len);
    /* wrong magic */
    b[1] = 'X';
    ck_assert_int_eq(mf_npy_parse(b, len, &a, &err), ENC_EFORMAT);
    b[1] = 'N';
    /* unknown version */
    b[6] = 4;
    ck_assert_int_eq(mf_npy_parse(b, len, &a, &err), ENC_EUNSUPPORTED);
    ck_assert(strstr(err.msg, "4.0") != NULL);
    b[6] = 1;
    /* header length past the end */
    unsigned char l0 = b[8], l1 = b[9];
    size_t hlen = (size_t)l0 | (size_t)l1 << 8;
    b[8] = 0xff;
    b[9] = 0xff;
    ck_assert_int_eq(mf_npy_parse(b, len, &a, &err), ENC_EFORMAT);
    ck_assert(strstr(err.msg, "past the end") != NULL);
    b[8] = l0;
    b[9] = l1;
    /* no final newline */
    b[10 + hlen - 1] = ' ';
    ck_assert_int_eq(mf_npy_parse(b, len, &a, &err), ENC_EFORMAT);
    ck_assert(strstr(err.msg, "newline") != NULL);
    b[10 + hlen - 1] = '\n';
    /* a control byte inside the header */
    b[12] = 0x01;
    ck_assert_int_eq(mf_npy_parse(b, len, &a, &err), ENC_EFORMAT);
    ck_assert(strstr(err.msg, "printable") != NULL);
    b[12] = 'd';
    ck_assert_msg(mf_npy_parse(b, len, &a, &err) == 0, "%s", err.msg); /* restored: valid */
    /* every truncation of a valid file is refused, none crashes */
    for (size_t n = 0; n < len; n++)
        ck_assert_int_lt(mf_npy_parse(b, n, &a, &err), 0);
    free(b);
}
END_TEST

START_TEST(npy_matrix_rules)
{
    size_t len;
    enc_err err = {0};
    struct mf_matrix m;
    unsigned char *b;
    /* Fortran order refused (the values would be transposed) */
    b = npy(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (3, 2), }", F6, sizeof F6, &len);
    ck_assert_int_eq(mf_matrix_parse(b, len, "f.npy", 0, &m, &err), ENC_EFORMAT);
    ck_assert(strstr(err.msg, "fortran_order") && strstr(err.msg, "f.npy"));
    free(b);
    /* integers are not factors */
    b = npy(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (3, 2), }", F6, sizeof F6, &len);
    ck_assert_int_eq(mf_matrix_parse(b, len, "i.npy", 0, &m, &err), ENC_EFORMAT);
    free(b);
    /* 1-D and 3-D refused */
    b = npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", F6, sizeof F6, &len);
    ck_assert_int_eq(mf_matrix_parse(b, len, "v.npy", 0, &m, &err), ENC_EFORMAT);
    ck_assert(strstr(err.msg, "2-D"));
    free(b);
    b = npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 2), }", F6, sizeof F6,
            &len);
    ck_assert_int_eq(mf_matrix_parse(b, len, "v.npy", 0, &m, &err), ENC_EFORMAT);
    free(b);
    /* empty */
    b = npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 2), }", NULL, 0, &len);
    ck_assert_int_eq(mf_matrix_parse(b, len, "e.npy", 0, &m, &err), ENC_EFORMAT);
    free(b);
    /* NaN and float64 beyond float32 */
    float nanv[2] = {1.0f, NAN};
    b = npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }", nanv, sizeof nanv,
            &len);
    ck_assert_int_eq(mf_matrix_parse(b, len, "n.npy", 0, &m, &err), ENC_EFORMAT);
    ck_assert(strstr(err.msg, "row 1, column 2"));
    free(b);
    double big[1] = {1e300};
    b = npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1), }", big, sizeof big,
            &len);
    ck_assert_int_eq(mf_matrix_parse(b, len, "b.npy", 0, &m, &err), ENC_EFORMAT);
    free(b);
}
END_TEST

/* Every single-byte change of a valid file (header and the first data bytes,
 * to a few interesting values) is either refused or parsed into a result that
 * stays inside the buffer; under ASan this is a small deterministic fuzz. */
START_TEST(npy_mutations)
{
    size_t len;
    unsigned char *b =
        npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", F6, sizeof F6, &len);
    const unsigned char vals[] = {0, 1, '\n', ' ', '\'', '(', ')', ',', '9', 'T', 0x7f, 0xff};
    size_t accepted = 0, refused = 0;
    for (size_t pos = 0; pos < len; pos++) {
        unsigned char keep = b[pos];
        for (size_t v = 0; v < sizeof vals; v++) {
            if (vals[v] == keep)
                continue;
            b[pos] = vals[v];
            struct mf_npy a;
            enc_err err = {0};
            if (mf_npy_parse(b, len, &a, &err) == 0) {
                accepted++;
                ck_assert(a.data >= b && a.data + a.nbytes == b + len);
                ck_assert_uint_eq(a.nbytes, a.count * a.itemsize);
                struct mf_matrix m;
                if (mf_matrix_parse(b, len, "m.npy", 0, &m, &err) == 0) {
                    ck_assert_uint_eq(m.rows * m.cols, a.count);
                    mf_matrix_clear(&m);
                }
            } else {
                refused++;
                ck_assert(err.msg[0] != '\0');
            }
            b[pos] = keep;
        }
    }
    /* data-byte changes are accepted (or refused as non-finite), header damage refused */
    ck_assert_uint_gt(accepted, 0);
    ck_assert_uint_gt(refused, 0);
    free(b);
}
END_TEST

static int parse_csv(const char *text, int id_column, struct mf_matrix *m, enc_err *err)
{
    return mf_matrix_parse(text, strlen(text), "f.csv", id_column, m, err);
}

START_TEST(csv_matrices)
{
    struct mf_matrix m;
    enc_err err = {0};
    /* plain values with a header */
    ck_assert_int_eq(parse_csv("f0,f1,f2\n1,2,3\n4.5,-5e-1,6\n", 0, &m, &err), 0);
    ck_assert_uint_eq(m.rows, 2);
    ck_assert_uint_eq(m.cols, 3);
    ck_assert_float_eq(m.data[4], -0.5f);
    mf_matrix_clear(&m);
    /* Spark: id, then features as a quoted bracketed list; CRLF */
    ck_assert_msg(
        parse_csv("id,features\r\n7,\"[0.1, 0.2]\"\r\n3,\"[-1.0,2.5]\"\r\n", 1, &m, &err) == 0,
        "%s", err.msg);
    ck_assert_uint_eq(m.rows, 2);
    ck_assert_uint_eq(m.cols, 2);
    ck_assert_str_eq(m.ids[0], "7");
    ck_assert_str_eq(m.ids[1], "3");
    ck_assert_float_eq(m.data[3], 2.5f);
    mf_matrix_clear(&m);
    /* id column with separate values, quoted id with a comma, no header */
    ck_assert_int_eq(parse_csv("\"a,b\",1,2\nc,3,4\n", 1, &m, &err), 0);
    ck_assert_str_eq(m.ids[0], "a,b");
    ck_assert_float_eq(m.data[2], 3.0f);
    mf_matrix_clear(&m);
    /* unquoted brackets spanning fields */
    ck_assert_int_eq(parse_csv("u1,[1,2]\nu2,[3,4]\n", 1, &m, &err), 0);
    ck_assert_float_eq(m.data[3], 4.0f);
    mf_matrix_clear(&m);
}
END_TEST

static const struct {
    const char *text;
    int id_column;
    const char *expect;
} bad_csv[] = {
    {"1,2,3\n4,5\n", 0, "f.csv:2: 2 values, expected 3 (as on line 1)"},
    {"1,2\n3,x\n", 0, "f.csv:2:3: 'x' is not a number"},
    {"1,2\n3,nan\n", 0, "f.csv:2:3: value 'nan' is not a finite float32"},
    {"1,2\n3,1e39\n", 0, "not a finite float32"},
    {"", 0, "f.csv: no rows"},
    {"a,b\n", 0, "f.csv: no rows"},
    {"u,\"[1,2\n", 1, "bad quoting"},
    {"\"\n3,\"", 1, "f.csv:1:1: bad quoting"}, /* found by fuzz_npy */
    {"u,[1,2\n", 1, "without a closing ']'"},
    {"u,1,[2,3]\n", 1, "unexpected '['"},
    {"u,[1,2],3\n", 1, "after the closing ']'"},
    {",1,2\n", 1, "f.csv:1:1: empty id"},
    {"u\n", 1, "f.csv:1: no factor values"},
    {"1,2\n\"3\"x,4\n", 0, "bad quoting"},
};

START_TEST(csv_malformed)
{
    for (size_t i = 0; i < sizeof bad_csv / sizeof *bad_csv; i++) {
        struct mf_matrix m;
        enc_err err = {0};
        int rc = parse_csv(bad_csv[i].text, bad_csv[i].id_column, &m, &err);
        ck_assert_msg(rc < 0, "case %zu accepted", i);
        ck_assert_msg(strstr(err.msg, bad_csv[i].expect) != NULL, "case %zu: '%s' lacks '%s'", i,
                      err.msg, bad_csv[i].expect);
        ck_assert(m.data == NULL && m.rows == 0);
    }
}
END_TEST

START_TEST(id_lists)
{
    char **ids;
    size_t n;
    enc_err err = {0};
    const char *t = "42\r\nalice\nbob\n";
    ck_assert_int_eq(mf_ids_parse(t, strlen(t), "ids.txt", &ids, &n, &err), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(ids[0], "42");
    ck_assert_str_eq(ids[2], "bob");
    strv_free(ids, n);
    t = "a\nb\na\n";
    ck_assert_int_eq(mf_ids_parse(t, strlen(t), "ids.txt", &ids, &n, &err), ENC_EFORMAT);
    ck_assert(strstr(err.msg, "id 3: duplicate id 'a' (first at id 1)"));
    t = "a\n\nb\n";
    ck_assert_int_eq(mf_ids_parse(t, strlen(t), "ids.txt", &ids, &n, &err), ENC_EFORMAT);
    ck_assert(strstr(err.msg, "ids.txt:2: empty id"));
    ck_assert_int_eq(mf_ids_parse("", 0, "ids.txt", &ids, &n, &err), ENC_EFORMAT);

    /* int64 ids, including a negative one */
    int64_t iv[3] = {5, -7, 1234567890123};
    size_t len;
    unsigned char *b =
        npy(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", iv, sizeof iv, &len);
    ck_assert_msg(mf_ids_parse(b, len, "ids.npy", &ids, &n, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(ids[1], "-7");
    ck_assert_str_eq(ids[2], "1234567890123");
    strv_free(ids, n);
    free(b);
    /* int32 negative (sign extension) */
    int32_t i32[2] = {-1, 2};
    b = npy(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", i32, sizeof i32, &len);
    ck_assert_int_eq(mf_ids_parse(b, len, "ids.npy", &ids, &n, &err), 0);
    ck_assert_str_eq(ids[0], "-1");
    strv_free(ids, n);
    free(b);
    /* numpy str: UTF-32LE, NUL-padded to 3 characters; "é" becomes UTF-8 */
    uint32_t u[6] = {'a', 'b', 0, 0xe9, 'x', 'y'};
    b = npy(1, "{'descr': '<U3', 'fortran_order': False, 'shape': (2,), }", u, sizeof u, &len);
    ck_assert_int_eq(mf_ids_parse(b, len, "ids.npy", &ids, &n, &err), 0);
    ck_assert_str_eq(ids[0], "ab");
    ck_assert_str_eq(ids[1], "\xc3\xa9xy");
    strv_free(ids, n);
    free(b);
    /* floats are not ids; 2-D refused */
    b = npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", F6, 8, &len);
    ck_assert_int_eq(mf_ids_parse(b, len, "ids.npy", &ids, &n, &err), ENC_EFORMAT);
    free(b);
    b = npy(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (1, 2), }", i32, 8, &len);
    ck_assert_int_eq(mf_ids_parse(b, len, "ids.npy", &ids, &n, &err), ENC_EFORMAT);
    free(b);
}
END_TEST

/* ---- the round trip --------------------------------------------------- */

static char *path_in(const char *dir, const char *name)
{
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

static void write_npy(const char *dir, const char *name, const char *dict, const void *data,
                      size_t nbytes)
{
    size_t len;
    unsigned char *b = npy(1, dict, data, nbytes, &len);
    char *p = path_in(dir, name);
    ck_assert_int_eq(tu_write_file(p, (const char *)b, len), 0);
    free(p);
    free(b);
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char *p = path_in(dir, name);
    ck_assert_int_eq(tu_write_file(p, text, strlen(text)), 0);
    free(p);
}

enum { NU = 5, NI = 7, NF = 3 };

START_TEST(round_trip_scores_are_dot_products)
{
    char *dir = tu_tmpdir();
    ck_assert(dir);
    float U[NU * NF], V[NI * NF];
    for (int i = 0; i < NU * NF; i++)
        U[i] = (float)((i * 37 % 17) - 8) / 8.0f;
    for (int i = 0; i < NI * NF; i++)
        V[i] = (float)((i * 53 % 19) - 9) / 9.0f;
    write_npy(dir, "U.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (5, 3), }", U,
              sizeof U);
    write_npy(dir, "V.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (7, 3), }", V,
              sizeof V);
    /* ids not in sorted order, as Spark leaves them */
    write_text(dir, "users.txt", "u30\nu10\nu20\nu50\nu40\n");
    write_text(dir, "items.txt", "i7\ni3\ni1\ni5\ni2\ni6\ni4\n");
    /* u10 saw i3 and i6; an unknown user and item are skipped */
    write_text(dir, "seen.tsv", "u10\ti3\t1\nu10\ti6\t1\nghost\ti3\t1\nu20\tnope\t1\n");
    write_text(dir, "movies.csv", "movieId,title,genres\ni3,Three,Drama|Comedy\ni1,One,Drama\n");

    struct mf_import_spec spec = {0};
    spec.user_factors = path_in(dir, "U.npy");
    spec.item_factors = path_in(dir, "V.npy");
    spec.user_ids = path_in(dir, "users.txt");
    spec.item_ids = path_in(dir, "items.txt");
    spec.seen = path_in(dir, "seen.tsv");
    spec.items = path_in(dir, "movies.csv");
    spec.regularization = 0.1;
    spec.alpha = 1.0;
    struct mf_data d;
    struct mf_import_stats st;
    enc_err err = {0};
    ck_assert_msg(mf_import_build(&spec, &d, &st, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(d.algorithm, "import");
    ck_assert_uint_eq(d.n_users, NU);
    ck_assert_uint_eq(d.n_items, NI);
    ck_assert_uint_eq(st.seen_pairs, 2);
    ck_assert_uint_eq(st.seen_skipped, 2);
    ck_assert_uint_eq(st.items_matched, 2);
    ck_assert_str_eq(d.titles[1], "Three"); /* i3 is row 1 */
    ck_assert_str_eq(d.titles[2], "One");
    ck_assert_str_eq(d.titles[0], "");
    ck_assert_uint_eq(d.n_tags, 2);
    ck_assert_int_eq(d.item_tag_offsets[2] - d.item_tag_offsets[1], 2);
    ck_assert_float_eq(d.item_popularity[1], 1.0f);
    ck_assert_float_eq(d.item_popularity[5], 1.0f);
    ck_assert_int_eq(d.seen_offsets[2] - d.seen_offsets[1], 2); /* u10 is row 1 */

    /* save, reopen with the server's loader, rank */
    st_writer *w = st_writer_new();
    ck_assert_int_eq(mf_write(&d, w, NULL, "test"), 0);
    void *buf;
    size_t len;
    ck_assert_int_eq(st_writer_to_buffer(w, &buf, &len, &err), 0);
    st_writer_free(w);
    st_file *f;
    ck_assert_msg(st_open_buffer(buf, len, &f, &err) == 0, "%s", err.msg);
    free(buf);
    ck_assert_str_eq(st_meta(f, "algorithm"), "import");
    void *state;
    ck_assert_msg(mf_ops.load(f, &model_default_opts, &state, &err) == 0, "%s", err.msg);
    const struct mf_model *m = state;
    float *scratch = malloc(mf_scratch_floats(m) * sizeof *scratch);
    struct reco_hit hits[NI];
    const char *users[NU] = {"u30", "u10", "u20", "u50", "u40"};
    for (int u = 0; u < NU; u++) {
        struct reco_query q = {0};
        q.user = mf_user_index(m, users[u], strlen(users[u]));
        ck_assert_int_eq(q.user, u);
        q.k = NI;
        size_t nh;
        enum reco_source src;
        ck_assert_int_eq(mf_recommend(m, &q, scratch, hits, &nh, &src, &err), 0);
        ck_assert_uint_eq(nh, NI);
        ck_assert_int_eq(src, RECO_FROM_USER);
        for (size_t h = 0; h < nh; h++) {
            double dot = 0;
            for (int k = 0; k < NF; k++)
                dot += (double)U[u * NF + k] * V[hits[h].item * NF + k];
            ck_assert_msg(fabs(hits[h].score - dot) < 1e-5, "user %d item %d: %g vs %g", u,
                          hits[h].item, hits[h].score, dot);
            if (h)
                ck_assert(hits[h].score <= hits[h - 1].score);
        }
    }
    /* exclude_seen drops u10's i3 (row 1) and i6 (row 5) */
    struct reco_query q = {0};
    q.user = 1;
    q.k = NI;
    q.exclude_seen = 1;
    size_t nh;
    enum reco_source src;
    ck_assert_int_eq(mf_recommend(m, &q, scratch, hits, &nh, &src, &err), 0);
    ck_assert_uint_eq(nh, NI - 2);
    for (size_t h = 0; h < nh; h++)
        ck_assert(hits[h].item != 1 && hits[h].item != 5);
    free(scratch);
    mf_ops.free(state);
    st_close(f);
    mf_data_clear(&d);

    /* a count mismatch between ids and rows is refused, naming both files */
    write_text(dir, "users4.txt", "a\nb\nc\nd\n");
    free((char *)spec.user_ids);
    spec.user_ids = path_in(dir, "users4.txt");
    ck_assert_int_eq(mf_import_build(&spec, &d, &st, &err), ENC_EFORMAT);
    ck_assert_msg(strstr(err.msg, "4 user ids, but") && strstr(err.msg, "U.npy has 5 rows"), "%s",
                  err.msg);
    ck_assert(d.user_factors == NULL);
    /* different widths refused */
    write_text(dir, "users.csv", "u1,1,2\nu2,3,4\n");
    free((char *)spec.user_factors);
    free((char *)spec.user_ids);
    spec.user_factors = path_in(dir, "users.csv");
    spec.user_ids = NULL; /* ids from the CSV's first column */
    ck_assert_int_eq(mf_import_build(&spec, &d, &st, &err), ENC_EFORMAT);
    ck_assert_msg(strstr(err.msg, "2 factors per row") && strstr(err.msg, "has 3"), "%s", err.msg);
    /* a duplicate id in a CSV id column */
    write_text(dir, "users.csv", "u1,1,2,3\nu1,3,4,5\n");
    ck_assert_int_eq(mf_import_build(&spec, &d, &st, &err), ENC_EFORMAT);
    ck_assert_msg(strstr(err.msg, "duplicate id 'u1'"), "%s", err.msg);
    /* a missing file */
    free((char *)spec.seen);
    spec.seen = path_in(dir, "nope.tsv");
    write_text(dir, "users.csv", "u1,1,2,3\nu2,3,4,5\n");
    ck_assert_int_eq(mf_import_build(&spec, &d, &st, &err), ENC_EIO);
    ck_assert(strstr(err.msg, "nope.tsv"));

    free((char *)spec.user_factors);
    free((char *)spec.item_factors);
    free((char *)spec.item_ids);
    free((char *)spec.seen);
    free((char *)spec.items);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("import");
    TCase *t = tcase_create("npy");
    tcase_add_test(t, npy_float32_matrix);
    tcase_add_test(t, npy_float64_big_endian_v2);
    tcase_add_test(t, npy_malformed_headers);
    tcase_add_test(t, npy_malformed_framing);
    tcase_add_test(t, npy_matrix_rules);
    tcase_add_test(t, npy_mutations);
    suite_add_tcase(s, t);
    t = tcase_create("csv");
    tcase_add_test(t, csv_matrices);
    tcase_add_test(t, csv_malformed);
    tcase_add_test(t, id_lists);
    suite_add_tcase(s, t);
    t = tcase_create("round_trip");
    tcase_add_test(t, round_trip_scores_are_dot_products);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
