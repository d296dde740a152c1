/* test_strv.c - core/strv: copies (from arrays, default names, a model
 * file's string table), the growable array and its ownership rules. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/strv.h"
#include "testutil.h"

START_TEST(copies)
{
    const char *src[] = {"setosa", "", "virginica"};
    char **v = strv_dup(src, 3, NULL);
    ck_assert_ptr_nonnull(v);
    ck_assert_str_eq(v[0], "setosa");
    ck_assert_str_eq(v[1], "");
    ck_assert_ptr_ne(v[2], src[2]); /* copies, not the same strings */
    strv_free(v, 3);
    v = strv_dup(NULL, 3, "f");
    ck_assert_str_eq(v[0], "f0");
    ck_assert_str_eq(v[2], "f2");
    strv_free(v, 3);
    v = strv_dup(NULL, 2, NULL);
    ck_assert_str_eq(v[1], "1");
    strv_free(v, 2);
    v = strv_dup(src, 0, NULL); /* an empty array is not a failure */
    ck_assert_ptr_nonnull(v);
    strv_free(v, 0);
    strv_free(NULL, 5);

    /* a string table: "ab", "", "cde" */
    const char bytes[] = "abcde";
    const int64_t off[] = {0, 2, 2, 5};
    v = strv_from_table(bytes, off, 3);
    ck_assert_str_eq(v[0], "ab");
    ck_assert_str_eq(v[1], "");
    ck_assert_str_eq(v[2], "cde");
    strv_free(v, 3);
}
END_TEST

START_TEST(growable)
{
    struct strv a = {0};
    for (int i = 0; i < 100; i++) {
        char buf[16];
        int n = snprintf(buf, sizeof buf, "id-%d!", i);
        ck_assert_int_eq(strv_push(&a, buf, (size_t)n - 1), 0); /* a span: no '!' */
    }
    ck_assert_uint_eq(a.n, 100);
    ck_assert_str_eq(a.v[0], "id-0");
    ck_assert_str_eq(a.v[99], "id-99");
    char *own = strdup("mine");
    ck_assert_int_eq(strv_push_owned(&a, own), 0);
    ck_assert_ptr_eq(a.v[100], own);                         /* taken, not copied */
    ck_assert_int_eq(strv_push_owned(&a, NULL), ENC_ENOMEM); /* a failed allocation */
    ck_assert_uint_eq(a.n, 101);
    strv_clear(&a);
    ck_assert_uint_eq(a.n, 0);
    ck_assert_ptr_null(a.v);
    strv_clear(&a);
}
END_TEST

START_TEST(mem_and_json)
{
    char *v[] = {"setosa", "", "caf\xc3\xa9"};
    ck_assert_uint_eq(strv_mem(v, 3), (7 + 1 + 6) + 3 * sizeof(char *));
    ck_assert_uint_eq(strv_mem(NULL, 0), 0);
    json_t *a = strv_json(v, 3);
    ck_assert_ptr_nonnull(a);
    char *s = json_dumps(a, JSON_COMPACT | JSON_ENSURE_ASCII);
    ck_assert_str_eq(s, "[\"setosa\",\"\",\"caf\\u00E9\"]");
    free(s);
    json_decref(a);
    a = strv_json(NULL, 0);
    ck_assert_uint_eq(json_array_size(a), 0);
    json_decref(a);
    char *bad[] = {"ok", "\xff"}; /* not UTF-8: jansson refuses the string */
    ck_assert_ptr_null(strv_json(bad, 2));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("strv");
    TCase *tc = tcase_create("strv");
    tcase_add_test(tc, copies);
    tcase_add_test(tc, growable);
    tcase_add_test(tc, mem_and_json);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
