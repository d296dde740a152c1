/* test_jscan.c - the JSON pre-scan: depth and value counts outside strings. */
#include <stdlib.h>
#include <string.h>

#include "core/jscan.h"
#include "testutil.h"

static enum jscan_result scan(const char *s, int depth, size_t values)
{
    return jscan_limits(s, strlen(s), depth, values);
}

START_TEST(counts_values_and_depth)
{
    /* {"a":[1,2,3]}: 1 + '{' + ':' + '[' + ',' + ',' = 6 */
    ck_assert_int_eq(scan("{\"a\":[1,2,3]}", 2, 6), JSCAN_OK);
    ck_assert_int_eq(scan("{\"a\":[1,2,3]}", 2, 5), JSCAN_TOO_MANY);
    ck_assert_int_eq(scan("{\"a\":[1,2,3]}", 1, 100), JSCAN_TOO_DEEP);
    ck_assert_int_eq(scan("1", 0, 1), JSCAN_OK);
    /* brackets, commas and colons inside strings do not count, escaped
     * quotes do not end a string */
    ck_assert_int_eq(scan("{\"[[[,,,:::\\\"]]]\":1}", 1, 3), JSCAN_OK);
    ck_assert_int_eq(scan("[\"\\\\\",[[1]]]", 2, 100), JSCAN_TOO_DEEP);
}
END_TEST

/* 1 MiB of {} once cost ~80 MB of parser memory: refused at the default. */
START_TEST(many_small_objects)
{
    size_t n = 349000, len = 2 + 3 * n;
    char *s = malloc(len + 1);
    char *p = s;
    *p++ = '[';
    for (size_t i = 0; i < n; i++) {
        memcpy(p, i ? ",{}" : "{}", i ? 3 : 2);
        p += i ? 3 : 2;
    }
    *p++ = ']';
    *p = '\0';
    ck_assert_int_eq(jscan_limits(s, (size_t)(p - s), 32, 131072), JSCAN_TOO_MANY);
    ck_assert_int_eq(jscan_limits(s, (size_t)(p - s), 32, 2 * n + 1), JSCAN_OK);
    free(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("jscan");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, counts_values_and_depth);
    tcase_add_test(tc, many_small_objects);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
