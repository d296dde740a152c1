/* test_buf.c - JSON text helpers: escaping and number formatting. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "testutil.h"

static char *fmt_float(double v)
{
    buf b;
    buf_init(&b);
    buf_json_float(&b, v);
    return buf_steal(&b, NULL);
}

START_TEST(floats)
{
    static const struct {
        double v;
        const char *want;
    } cases[] = {
        {0.0, "0"},
        {1.0, "1"},
        {-2.5, "-2.5"},
        {0.6749809, "0.6749809"},
        {583.0, "583"},
        {1234567.0, "1234567"},
        {12345678.0, "12345678"},
        {0.00012345, "0.00012345"},
        {1e-7, "1e-07"},
        {3e20, "3e+20"},
        {0.1, "0.1"},
        {-0.000123456789, "-0.0001234568"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *s = fmt_float(cases[i].v);
        ck_assert_msg(strcmp(s, cases[i].want) == 0, "%g -> %s, want %s", cases[i].v, s,
                      cases[i].want);
        /* and it reads back within 7 significant digits */
        ck_assert(fabs(strtod(s, NULL) - cases[i].v) <= 1e-6 * fabs(cases[i].v) + 1e-300);
        free(s);
    }
    /* decade boundaries and a sweep of magnitudes read back within 7 digits */
    for (int e = -5; e <= 10; e++)
        for (int j = 0; j < 50; j++) {
            double v = pow(10, e) * (1 + j * 0.183);
            if (j == 49)
                v = pow(10, e) * 0.99999999;
            char *t = fmt_float(v);
            ck_assert_msg(fabs(strtod(t, NULL) - v) <= 6e-7 * v, "%.17g -> %s", v, t);
            free(t);
        }
    char *s = fmt_float(NAN);
    ck_assert_str_eq(s, "null");
    free(s);
    s = fmt_float(INFINITY);
    ck_assert_str_eq(s, "null");
    free(s);
}
END_TEST

START_TEST(escaping)
{
    buf b;
    buf_init(&b);
    const char in[] = "a\"b\\c\n\x01 caf\xc3\xa9 \xe9t\xe9"; /* valid UTF-8, then latin-1 */
    buf_json_str(&b, in, sizeof in - 1);
    ck_assert_str_eq(b.data, "\"a\\\"b\\\\c\\n\\u0001 caf\xc3\xa9 \\u00e9t\\u00e9\"");
    buf_free(&b);
    buf_json_str(&b, "", 0);
    ck_assert_str_eq(b.data, "\"\"");
    /* a truncated multi-byte sequence is escaped byte by byte */
    buf_free(&b);
    buf_json_escape(&b, "\xe2\x82", 2);
    ck_assert_str_eq(b.data, "\\u00e2\\u0082");
    buf_free(&b);
}
END_TEST

START_TEST(integers)
{
    buf b;
    buf_init(&b);
    long long vals[] = {0, 7, -1, 1234567890123LL, -9223372036854775807LL - 1};
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
        buf_int(&b, vals[i]);
        buf_puts(&b, " ");
    }
    ck_assert_str_eq(b.data, "0 7 -1 1234567890123 -9223372036854775808 ");
    buf_free(&b);
}
END_TEST

START_TEST(growth_and_steal)
{
    buf b;
    buf_init(&b);
    for (int i = 0; i < 10000; i++)
        buf_printf(&b, "%d,", i);
    ck_assert_uint_gt(b.len, 40000);
    size_t len;
    char *s = buf_steal(&b, &len);
    ck_assert_int_eq(strncmp(s, "0,1,2,", 6), 0);
    ck_assert_ptr_null(b.data);
    free(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("buf");
    TCase *tc = tcase_create("buf");
    tcase_add_test(tc, floats);
    tcase_add_test(tc, escaping);
    tcase_add_test(tc, integers);
    tcase_add_test(tc, growth_and_steal);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
