/* test_csvtable.c - the CSV table reader: plain and scikit-learn styles,
 * quoting, gzip, class order, every error path (file, line, column named),
 * stratified folds and subsets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "table/csvtable.h"
#include "testutil.h"
#include "core/strv.h"

static char *g_dir;

static const char *put(const char *name, const char *text)
{
    static char path[8][512];
    static int slot;
    char *p = path[slot++ % 8];
    snprintf(p, 512, "%s/%s", g_dir, name);
    ck_assert_int_eq(tu_write_file(p, text, strlen(text)), 0);
    return p;
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

/* Read `text` as a plain CSV with label `label`; expect failure whose message
 * contains every string in `want` (NULL-terminated). */
static void expect_error(const char *text, const char *label, const char *const *features,
                         size_t nf, const char *const *want)
{
    const char *p = put("bad.csv", text);
    struct csvt_options o = {
        .format = CSVT_PLAIN, .label = label, .features = features, .n_features = nf};
    struct csvt_table t;
    enc_err err = {0};
    int rc = csvt_read(p, &o, &t, &err);
    ck_assert_msg(rc == ENC_EFORMAT || rc == ENC_EINVAL, "rc %d for %s", rc, text);
    ck_assert_ptr_null(t.x);
    for (size_t i = 0; want[i]; i++)
        ck_assert_msg(strstr(err.msg, want[i]), "'%s' not in '%s'", want[i], err.msg);
}

START_TEST(plain_basic)
{
    const char *p = put("a.csv", "x,species,y\n1.5,b,2\n-3e2,a,0.25\r\n\n 4 ,\"c,d\",5\n");
    struct csvt_options o = {.format = CSVT_PLAIN, .label = "species"};
    struct csvt_table t;
    enc_err err = {0};
    ck_assert_int_eq(csvt_read(p, &o, &t, &err), 0);
    ck_assert_uint_eq(t.n_rows, 3);
    ck_assert_uint_eq(t.n_features, 2);
    ck_assert_str_eq(t.feature_names[0], "x");
    ck_assert_str_eq(t.feature_names[1], "y");
    ck_assert_uint_eq(t.n_classes, 3);
    ck_assert_str_eq(t.class_names[0], "a");
    ck_assert_str_eq(t.class_names[1], "b");
    ck_assert_str_eq(t.class_names[2], "c,d");
    ck_assert_int_eq(t.y[0], 1);
    ck_assert_int_eq(t.y[1], 0);
    ck_assert_int_eq(t.y[2], 2);
    ck_assert_float_eq(t.x[0], 1.5f);
    ck_assert_float_eq(t.x[2], -300.0f);
    ck_assert_float_eq(t.x[3], 0.25f);
    ck_assert_float_eq(t.x[4], 4.0f);
    csvt_clear(&t);
    csvt_clear(&t); /* idempotent */
}
END_TEST

START_TEST(plain_feature_list_and_numeric_classes)
{
    const char *p = put("b.csv", "a,b,c,k\n1,2,3,10\n4,5,6,9\n7,8,9,10\n");
    const char *feats[] = {"c", "a"};
    struct csvt_options o = {
        .format = CSVT_PLAIN, .label = "k", .features = feats, .n_features = 2};
    struct csvt_table t;
    enc_err err = {0};
    ck_assert_int_eq(csvt_read(p, &o, &t, &err), 0);
    ck_assert_uint_eq(t.n_features, 2);
    ck_assert_str_eq(t.feature_names[0], "c");
    ck_assert_float_eq(t.x[0], 3.0f);
    ck_assert_float_eq(t.x[1], 1.0f);
    /* integer labels sort numerically: 9 before 10 */
    ck_assert_str_eq(t.class_names[0], "9");
    ck_assert_str_eq(t.class_names[1], "10");
    ck_assert_int_eq(t.y[0], 1);
    ck_assert_int_eq(t.y[1], 0);
    csvt_clear(&t);
}
END_TEST

START_TEST(fixed_classes)
{
    const char *p = put("c.csv", "f,l\n1,x\n2,y\n");
    const char *cls[] = {"y", "x", "z"};
    struct csvt_options o = {.format = CSVT_PLAIN, .label = "l", .classes = cls, .n_classes = 3};
    struct csvt_table t;
    enc_err err = {0};
    ck_assert_int_eq(csvt_read(p, &o, &t, &err), 0);
    ck_assert_uint_eq(t.n_classes, 3);
    ck_assert_int_eq(t.y[0], 1);
    ck_assert_int_eq(t.y[1], 0);
    csvt_clear(&t);
    const char *p2 = put("c2.csv", "f,l\n1,x\n2,w\n");
    ck_assert_int_eq(csvt_read(p2, &o, &t, &err), ENC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, ":3:"));
    ck_assert_ptr_nonnull(strstr(err.msg, "'w'"));
}
END_TEST

START_TEST(errors_name_line_and_column)
{
    expect_error("a,b,l\n1,2,x\n3,zz,y\n", "l", NULL, 0,
                 (const char *const[]){"bad.csv:3:", "column 2 (b)", "'zz' is not a number", NULL});
    expect_error("a,b,l\n1,2,x\n3,,y\n", "l", NULL, 0,
                 (const char *const[]){"bad.csv:3:", "column 2 (b)", "missing value", NULL});
    expect_error("a,b,l\n1,2,x\n3,4\n", "l", NULL, 0,
                 (const char *const[]){"bad.csv:3:", "ragged", "expected 3", "found 2", NULL});
    expect_error("a,b,l\n1,2,x,9\n", "l", NULL, 0,
                 (const char *const[]){"bad.csv:2:", "ragged", NULL});
    expect_error("a,b,l\n1,nan,x\n", "l", NULL, 0,
                 (const char *const[]){"bad.csv:2:", "column 2 (b)", "not a finite", NULL});
    expect_error("a,b,l\n1,1e300,x\n", "l", NULL, 0,
                 (const char *const[]){"bad.csv:2:", "float range", NULL});
    expect_error("a,b,l\n1,2,\n", "l", NULL, 0,
                 (const char *const[]){"bad.csv:2:", "column 3 (l)", "missing label", NULL});
    expect_error("a,b,l\n1,2,x\n", "species", NULL, 0,
                 (const char *const[]){"bad.csv:1:", "no column named 'species'", NULL});
    expect_error("a,b,l\n1,2,x\n", "l", (const char *const[]){"a", "q"}, 2,
                 (const char *const[]){"no column named 'q'", NULL});
    expect_error("a,b,l\n1,2,x\n", "l", (const char *const[]){"a", "l"}, 2,
                 (const char *const[]){"both the label and a feature", NULL});
    expect_error("a,b,l\n1,2,\"x\n", "l", NULL, 0, (const char *const[]){"unterminated", NULL});
    expect_error("a,b,l\n", "l", NULL, 0, (const char *const[]){"no data rows", NULL});
    expect_error("", "l", NULL, 0, (const char *const[]){"empty", NULL});
    /* A quoted newline counts as a line: the error is on line 4. */
    expect_error("a,b,l\n1,2,\"x\ny\"\n3,q,z\n", "l", NULL, 0,
                 (const char *const[]){"bad.csv:4:", "'q'", NULL});
    struct csvt_options o = {.format = CSVT_PLAIN, .label = "l"};
    struct csvt_table t;
    enc_err err = {0};
    ck_assert_int_eq(csvt_read("/nonexistent/x.csv", &o, &t, &err), ENC_EIO);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/x.csv"));
}
END_TEST

START_TEST(gzip_and_sklearn_formats)
{
    /* iris style: header names classes; label = index into them. */
    const char *p = put("sk.csv", "3,2,setosa,versicolor\n1,2,0\n3,4,1\n5,6,1\n");
    struct csvt_options o = {.format = CSVT_SKLEARN};
    struct csvt_table t;
    enc_err err = {0};
    ck_assert_int_eq(csvt_read(p, &o, &t, &err), 0);
    ck_assert_uint_eq(t.n_rows, 3);
    ck_assert_uint_eq(t.n_features, 2);
    ck_assert_str_eq(t.feature_names[1], "f1");
    ck_assert_uint_eq(t.n_classes, 2);
    ck_assert_str_eq(t.class_names[0], "setosa");
    ck_assert_int_eq(t.y[1], 1);
    csvt_clear(&t);
    /* header with as many fields as a row (iris: 3 names + 2 = 4 + 1) */
    p = put("sk3.csv", "2,3,a,b,c\n1,2,3,2\n4,5,6,0\n");
    ck_assert_int_eq(csvt_read(p, &o, &t, &err), 0);
    ck_assert_uint_eq(t.n_rows, 2);
    ck_assert_uint_eq(t.n_features, 3);
    ck_assert_str_eq(t.class_names[2], "c");
    ck_assert_int_eq(t.y[0], 2);
    csvt_clear(&t);
    /* digits style, gzip, no header, labels like "3.0" */
    char path[512];
    snprintf(path, sizeof path, "%s/d.csv.gz", g_dir);
    gzFile g = gzopen(path, "wb");
    ck_assert_ptr_nonnull(g);
    gzputs(g, "0,1,2,3.0\n4,5,6,1.0\n7,8,9,3\n");
    gzclose(g);
    ck_assert_int_eq(csvt_read(path, &o, &t, &err), 0);
    ck_assert_uint_eq(t.n_rows, 3);
    ck_assert_uint_eq(t.n_features, 3);
    ck_assert_uint_eq(t.n_classes, 2);
    ck_assert_str_eq(t.class_names[0], "1");
    ck_assert_str_eq(t.class_names[1], "3");
    ck_assert_float_eq(t.x[6], 7.0f);
    csvt_clear(&t);
    /* class index outside the header's names */
    p = put("sk2.csv", "2,1,a,b\n1,0\n2,2\n");
    ck_assert_int_eq(csvt_read(p, &o, &t, &err), ENC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "sk2.csv:3:"));
    p = put("sk4.csv", "1,2,0.5\n");
    ck_assert_int_eq(csvt_read(p, &o, &t, &err), ENC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "not a class index"));
}
END_TEST

START_TEST(iris_fixture)
{
    struct csvt_options o = {.format = CSVT_PLAIN, .label = "species"};
    struct csvt_table t;
    enc_err err = {0};
    ck_assert_msg(csvt_read(tu_src("tests/data/iris/iris.csv"), &o, &t, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(t.n_rows, 150);
    ck_assert_uint_eq(t.n_features, 4);
    ck_assert_uint_eq(t.n_classes, 3);
    ck_assert_str_eq(t.feature_names[2], "petal_length");
    ck_assert_str_eq(t.class_names[2], "virginica");
    size_t per[3] = {0};
    for (size_t i = 0; i < t.n_rows; i++)
        per[t.y[i]]++;
    ck_assert_uint_eq(per[0], 50);
    ck_assert_uint_eq(per[2], 50);

    /* stratified folds: every fold gets 10 of each class; deterministic */
    int32_t f1[150], f2[150];
    csvt_stratified_folds(t.y, t.n_rows, t.n_classes, 5, 7, f1);
    csvt_stratified_folds(t.y, t.n_rows, t.n_classes, 5, 7, f2);
    ck_assert_mem_eq(f1, f2, sizeof f1);
    size_t cnt[5][3] = {{0}};
    for (size_t i = 0; i < 150; i++) {
        ck_assert_int_ge(f1[i], 0);
        ck_assert_int_lt(f1[i], 5);
        cnt[f1[i]][t.y[i]]++;
    }
    for (int k = 0; k < 5; k++)
        for (int c = 0; c < 3; c++)
            ck_assert_uint_eq(cnt[k][c], 10);
    csvt_stratified_folds(t.y, t.n_rows, t.n_classes, 5, 8, f2);
    ck_assert_int_ne(memcmp(f1, f2, sizeof f1), 0);

    size_t idx[2] = {149, 0};
    struct csvt_table s;
    ck_assert_int_eq(csvt_subset(&t, idx, 2, &s), 0);
    ck_assert_uint_eq(s.n_rows, 2);
    ck_assert_int_eq(s.y[0], 2);
    ck_assert_float_eq(s.x[4], t.x[0]);
    ck_assert_str_eq(s.class_names[1], "versicolor");
    csvt_clear(&s);
    csvt_clear(&t);
}
END_TEST

START_TEST(split_list)
{
    char **v;
    size_t n;
    enc_err err = {0};
    ck_assert_int_eq(csvt_split_list("a,bc,d", &v, &n, &err), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(v[1], "bc");
    strv_free(v, n);
    ck_assert_int_eq(csvt_split_list("a,,d", &v, &n, &err), ENC_EINVAL);
    ck_assert_int_eq(csvt_split_list("a,", &v, &n, &err), ENC_EINVAL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("csvtable");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, plain_basic);
    tcase_add_test(tc, plain_feature_list_and_numeric_classes);
    tcase_add_test(tc, fixed_classes);
    tcase_add_test(tc, errors_name_line_and_column);
    tcase_add_test(tc, gzip_and_sklearn_formats);
    tcase_add_test(tc, iris_fixture);
    tcase_add_test(tc, split_list);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
