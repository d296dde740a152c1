/* test_csv.c - core/csv: records and quotes (in place), line numbers and
 * error positions, physical lines, numbers, field helpers, and the first look
 * at a file (encoding, separator, header). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/csv.h"
#include "core/err.h"
#include "testutil.h"

/* A writable copy with the spare byte csv.h asks for. */
static char *copy(const char *s, size_t n)
{
    char *b = malloc(n + 1);
    memcpy(b, s, n);
    b[n] = 'X'; /* not a NUL: the reader must write its own */
    return b;
}

#define FIELD_IS(r, i, str)                                                                        \
    do {                                                                                           \
        ck_assert_uint_eq((r).f[i].len, strlen(str));                                              \
        ck_assert_str_eq((r).f[i].s, str);                                                         \
    } while (0)

START_TEST(records_and_quotes)
{
    const char text[] = "a,\"Heat, The\",1995\r\n\n\r\n"
                        "\"say \"\"hi\"\"\",,\"\"\n"
                        "x\"y,z\r\r\n"
                        "last,line";
    char *b = copy(text, sizeof text - 1);
    struct csv_reader r;
    csv_init(&r, b, sizeof text - 1, ',', CSV_QUOTES);
    ck_assert_int_eq(csv_next(&r), 1);
    ck_assert_uint_eq(r.n, 3);
    ck_assert_uint_eq(r.line, 1);
    FIELD_IS(r, 0, "a");
    FIELD_IS(r, 1, "Heat, The");
    FIELD_IS(r, 2, "1995");            /* CR before LF dropped */
    ck_assert_int_eq(csv_next(&r), 1); /* empty lines ("" and "\r") are no records */
    ck_assert_uint_eq(r.line, 4);
    ck_assert_uint_eq(r.n, 3);
    FIELD_IS(r, 0, "say \"hi\"");
    FIELD_IS(r, 1, "");
    FIELD_IS(r, 2, "");
    ck_assert_int_eq(csv_next(&r), 1);
    ck_assert_uint_eq(r.line, 5);
    FIELD_IS(r, 0, "x\"y"); /* a quote inside a field is a byte */
    FIELD_IS(r, 1, "z\r");  /* only the CR before the LF goes */
    ck_assert_int_eq(csv_next(&r), 1);
    ck_assert_uint_eq(r.line, 6);
    FIELD_IS(r, 1, "line"); /* no final newline: NUL written in the spare byte */
    ck_assert_int_eq(csv_next(&r), 0);
    ck_assert_int_eq(csv_next(&r), 0);
    csv_free(&r);
    free(b);
}
END_TEST

START_TEST(separators_blank_lines_and_no_quotes)
{
    const char text[] = "1\t\"2\t3\n  \t \n\n4\t5\n";
    char *b = copy(text, sizeof text - 1);
    struct csv_reader r;
    csv_init(&r, b, sizeof text - 1, '\t', CSV_SKIP_BLANK);
    ck_assert_int_eq(csv_next(&r), 1);
    ck_assert_uint_eq(r.n, 3);
    FIELD_IS(r, 1, "\"2");             /* no CSV_QUOTES: quotes are bytes */
    ck_assert_int_eq(csv_next(&r), 1); /* white-space line skipped */
    ck_assert_uint_eq(r.line, 4);
    FIELD_IS(r, 0, "4");
    ck_assert_int_eq(csv_next(&r), 0);
    csv_free(&r);
    free(b);
    /* without CSV_SKIP_BLANK a white-space line is a record */
    b = copy(text, sizeof text - 1);
    csv_init(&r, b, sizeof text - 1, '\t', 0);
    ck_assert_int_eq(csv_next(&r), 1);
    ck_assert_int_eq(csv_next(&r), 1);
    ck_assert_uint_eq(r.line, 2);
    ck_assert_uint_eq(r.n, 2);
    FIELD_IS(r, 0, "  ");
    FIELD_IS(r, 1, " ");
    csv_free(&r);
    free(b);
}
END_TEST

START_TEST(multiline_and_errors)
{
    const char text[] = "id,text\n1,\"two\nlines\"\n2,x\n";
    char *b = copy(text, sizeof text - 1);
    struct csv_reader r;
    csv_init(&r, b, sizeof text - 1, ',', CSV_QUOTES | CSV_MULTILINE);
    ck_assert_int_eq(csv_next(&r), 1);
    ck_assert_int_eq(csv_next(&r), 1);
    ck_assert_uint_eq(r.line, 2);
    FIELD_IS(r, 1, "two\nlines");
    ck_assert_int_eq(csv_next(&r), 1);
    ck_assert_uint_eq(r.line, 4); /* physical lines */
    csv_free(&r);
    free(b);

    /* the same without CSV_MULTILINE: an unterminated quote on line 2 */
    b = copy(text, sizeof text - 1);
    csv_init(&r, b, sizeof text - 1, ',', CSV_QUOTES);
    ck_assert_int_eq(csv_next(&r), 1);
    ck_assert_int_eq(csv_next(&r), ENC_EFORMAT);
    ck_assert_int_eq(r.error, CSV_EQUOTE);
    ck_assert_uint_eq(r.err_line, 2);
    ck_assert_uint_eq(r.err_col, 3);
    ck_assert_uint_eq(r.err_field, 2);
    ck_assert_str_eq(csv_error_text(r.error), "unterminated quoted field");
    ck_assert_int_eq(csv_next(&r), 0); /* nothing more after an error */
    csv_free(&r);
    free(b);

    static const struct {
        const char *text;
        size_t len;
        unsigned flags;
        enum csv_error e;
        size_t line, col, field;
    } bad[] = {
        {"a,\"b\"c\n", 7, CSV_QUOTES, CSV_EAFTER_QUOTE, 1, 3, 2},
        {"a\nb,\"c", 6, CSV_QUOTES | CSV_MULTILINE, CSV_EQUOTE, 2, 3, 2},
        {"a\nb,c\0d\n", 8, 0, CSV_ENUL, 2, 3, 2},
        {"\"a\0\"\n", 5, CSV_QUOTES, CSV_ENUL, 1, 1, 1},
        {"x\n\"a\"\0\n", 7, CSV_QUOTES, CSV_ENUL, 2, 1, 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        b = copy(bad[i].text, bad[i].len);
        csv_init(&r, b, bad[i].len, ',', bad[i].flags);
        int rc;
        while ((rc = csv_next(&r)) == 1)
            ;
        ck_assert_msg(rc == ENC_EFORMAT, "case %zu: %d", i, rc);
        ck_assert_msg(r.error == bad[i].e, "case %zu: error %d", i, r.error);
        ck_assert_msg(
            r.err_line == bad[i].line && r.err_col == bad[i].col && r.err_field == bad[i].field,
            "case %zu: line %zu col %zu field %zu", i, r.err_line, r.err_col, r.err_field);
        csv_free(&r);
        free(b);
    }
}
END_TEST

START_TEST(lines_and_columns)
{
    const char text[] = "first\r\n\nthird\nno newline";
    char *b = copy(text, sizeof text - 1);
    struct csv_reader r;
    csv_init(&r, b, sizeof text - 1, ',', 0);
    size_t len;
    char *l = csv_line(&r, &len);
    ck_assert_str_eq(l, "first");
    ck_assert_uint_eq(len, 5);
    ck_assert_uint_eq(r.line, 1);
    l = csv_line(&r, &len); /* empty lines are lines here */
    ck_assert_uint_eq(len, 0);
    ck_assert_uint_eq(r.line, 2);
    l = csv_line(&r, &len);
    ck_assert_str_eq(l, "third");
    l = csv_line(&r, &len);
    ck_assert_str_eq(l, "no newline");
    ck_assert_uint_eq(r.line, 4);
    ck_assert_ptr_null(csv_line(&r, &len));
    free(b);

    const char rec[] = "ab,\"c\"\"d\",e\n";
    b = copy(rec, sizeof rec - 1);
    csv_init(&r, b, sizeof rec - 1, ',', CSV_QUOTES);
    ck_assert_int_eq(csv_next(&r), 1);
    ck_assert_uint_eq(csv_col(&r, r.f[0].s), 1);
    ck_assert_uint_eq(csv_col(&r, r.f[1].s), 4); /* a quoted field: where its quote was */
    ck_assert_uint_eq(csv_col(&r, r.f[2].s), 11);
    csv_free(&r);
    free(b);
}
END_TEST

START_TEST(numbers)
{
    double d = 0;
    ck_assert_int_eq(csv_number("3.5", 3, &d), CSV_NUM_OK);
    ck_assert(d == 3.5);
    ck_assert_int_eq(csv_number(" \t-2e3 \t", 8, &d), CSV_NUM_OK);
    ck_assert(d == -2000);
    ck_assert_int_eq(csv_number("12,5", 2, &d), CSV_NUM_OK); /* the span, not the string */
    ck_assert(d == 12);
    ck_assert_int_eq(csv_number("0x10", 4, &d), CSV_NUM_OK);
    ck_assert(d == 16);
    ck_assert_int_eq(csv_number("", 0, &d), CSV_NUM_EMPTY);
    ck_assert_int_eq(csv_number("  \t", 3, &d), CSV_NUM_EMPTY);
    ck_assert_int_eq(csv_number("abc", 3, &d), CSV_NUM_BAD);
    ck_assert_int_eq(csv_number("1.5x", 4, &d), CSV_NUM_BAD);
    ck_assert_int_eq(csv_number("1 2", 3, &d), CSV_NUM_BAD);
    ck_assert_int_eq(csv_number("+", 1, &d), CSV_NUM_BAD);
    ck_assert_int_eq(csv_number("1e999", 5, &d), CSV_NUM_RANGE);
    ck_assert(isinf(d));
    ck_assert_int_eq(csv_number("1e-999", 6, &d), CSV_NUM_RANGE);
    ck_assert(d == 0);
    ck_assert_int_eq(csv_number("nan", 3, &d), CSV_NUM_OK); /* callers refuse non-finite */
    ck_assert(isnan(d));
    ck_assert_int_eq(csv_number("-Infinity", 9, &d), CSV_NUM_OK);
    ck_assert(isinf(d) && d < 0);
    char longnum[300];
    memset(longnum, '0', sizeof longnum);
    longnum[0] = '1';
    ck_assert_int_eq(csv_number(longnum, 255, &d), CSV_NUM_OK);
    ck_assert_int_eq(csv_number(longnum, 256, &d), CSV_NUM_BAD); /* over 255 bytes */
}
END_TEST

START_TEST(field_helpers)
{
    ck_assert(csv_blank(" \t\r\n", 4));
    ck_assert(csv_blank("", 0));
    ck_assert(!csv_blank(" x", 2));
    ck_assert(csv_is_integer("42", 2));
    ck_assert(csv_is_integer("-7", 2));
    ck_assert(csv_is_integer("+0", 2));
    ck_assert(!csv_is_integer("-", 1));
    ck_assert(!csv_is_integer("4.0", 3));
    ck_assert(!csv_is_integer(" 4", 2));
    ck_assert(!csv_is_integer("", 0));
    const char *const names[] = {"user", "user_id", NULL};
    ck_assert(csv_name_is("USER", 4, names));
    ck_assert(csv_name_is("User_Id", 7, names));
    ck_assert(!csv_name_is("users", 5, names));
    ck_assert(!csv_name_is("use", 3, names));
    char buf[] = "  a b \t";
    struct csv_field f = {buf, sizeof buf - 1};
    ck_assert_str_eq(csv_trim(&f), "a b");
    ck_assert_uint_eq(f.len, 3);
    const char *s = "\t x ";
    size_t n = 4;
    csv_trim_span(&s, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert(*s == 'x');
}
END_TEST

START_TEST(sniff_files)
{
    struct csv_sniff sn;
    const char *t = "userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n1,1029,3.0,1260759179\n";
    csv_sniff(t, strlen(t), &sn);
    ck_assert_int_eq(sn.sep, ',');
    ck_assert_uint_eq(sn.fields, 4);
    ck_assert_int_eq(sn.header, 1);
    ck_assert_int_eq(sn.encoding, CSV_UTF8);
    ck_assert_uint_eq(sn.lines, 3);

    t = "196\t242\t3\t881250949\n186\t302\t3\t891717742\n";
    csv_sniff(t, strlen(t), &sn);
    ck_assert_int_eq(sn.sep, '\t');
    ck_assert_int_eq(sn.header, 0);

    /* u.item: '|' with a comma inside a title; latin-1 */
    t = "1|Toy Story (1995)|01-Jan-1995||http://x|0|1\n"
        "2|Mis\xe9rables, Les (1995)|01-Jan-1995||http://y|1|0\n";
    csv_sniff(t, strlen(t), &sn);
    ck_assert_int_eq(sn.sep, '|');
    ck_assert_uint_eq(sn.fields, 7);
    ck_assert_int_eq(sn.encoding, CSV_LATIN1);
    ck_assert_int_eq(sn.header, 0);

    /* quoted separators do not count; a header of names over string ids
     * with numbers in the data */
    t = "\xef\xbb\xbfid;name;plays\n\"a;b\";caf\xc3\xa9;12\nc;d;7\n";
    csv_sniff(t, strlen(t), &sn);
    ck_assert_uint_eq(sn.bom, 3);
    ck_assert_int_eq(sn.encoding, CSV_UTF8);
    ck_assert_int_eq(sn.sep, ';');
    ck_assert_uint_eq(sn.fields, 3);
    ck_assert_int_eq(sn.header, 1);

    /* nothing to split; nothing at all */
    t = "just words\nand more\n";
    csv_sniff(t, strlen(t), &sn);
    ck_assert_int_eq(sn.sep, 0);
    ck_assert_int_eq(sn.header, 0);
    csv_sniff("", 0, &sn);
    ck_assert_int_eq(sn.sep, 0);
    ck_assert_uint_eq(sn.lines, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("csv");
    TCase *tc = tcase_create("csv");
    tcase_add_test(tc, records_and_quotes);
    tcase_add_test(tc, separators_blank_lines_and_no_quotes);
    tcase_add_test(tc, multiline_and_errors);
    tcase_add_test(tc, lines_and_columns);
    tcase_add_test(tc, numbers);
    tcase_add_test(tc, field_helpers);
    tcase_add_test(tc, sniff_files);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
