/* test_utf8.c - core/utf8: what is valid UTF-8 (RFC 3629's edge cases),
 * encoding code points, and the latin-1 reading of everything else. */
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "testutil.h"

START_TEST(valid_and_invalid)
{
    static const struct {
        const char *s;
        size_t len; /* of the first sequence, 0: invalid */
    } cases[] = {
        {"A", 1},
        {"\xc3\xa9", 2},         /* e acute */
        {"\xe2\x82\xac", 3},     /* euro sign */
        {"\xf0\x9f\x8e\xac", 4}, /* U+1F3AC clapper board */
        {"\xf4\x8f\xbf\xbf", 4}, /* U+10FFFF, the last code point */
        {"\xc0\xaf", 0},         /* overlong '/' */
        {"\xc1\xbf", 0},         /* overlong */
        {"\xe0\x80\xaf", 0},     /* overlong, 3 bytes */
        {"\xf0\x80\x80\xaf", 0}, /* overlong, 4 bytes */
        {"\xed\xa0\x80", 0},     /* surrogate U+D800 */
        {"\xed\xbf\xbf", 0},     /* surrogate U+DFFF */
        {"\xf4\x90\x80\x80", 0}, /* U+110000 */
        {"\xf5\x80\x80\x80", 0}, /* lead byte past F4 */
        {"\x80", 0},             /* lone continuation */
        {"\xe9", 0},             /* latin-1 e acute */
        {"\xc3", 0},             /* truncated */
        {"\xe2\x82", 0},         /* truncated */
        {"\xc3\x41", 0},         /* bad continuation */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t n = strlen(cases[i].s);
        ck_assert_msg(utf8_seq((const unsigned char *)cases[i].s, n) == cases[i].len, "case %zu",
                      i);
        ck_assert_int_eq(utf8_valid(cases[i].s, n), cases[i].len == n);
    }
    ck_assert(utf8_valid("", 0));
    const char *good = "plain ascii, caf\xc3\xa9 \xe2\x82\xac", *bad = "caf\xe9 au lait";
    ck_assert(utf8_valid(good, strlen(good)));
    ck_assert(!utf8_valid(bad, strlen(bad)));
    ck_assert(!utf8_valid("ok\xc3", 3)); /* truncated at the end */
}
END_TEST

START_TEST(put_round_trips)
{
    static const uint32_t cps[] = {0,      0x41,   0x7F,    0x80,    0xE9,
                                   0x7FF,  0x800,  0x20AC,  0xD7FF,  0xE000,
                                   0xFFFD, 0xFFFF, 0x10000, 0x1F3AC, 0x10FFFF};
    for (size_t i = 0; i < sizeof cps / sizeof *cps; i++) {
        char o[4];
        size_t k = utf8_put(cps[i], o);
        ck_assert_uint_eq(k, cps[i] < 0x80 ? 1 : cps[i] < 0x800 ? 2 : cps[i] < 0x10000 ? 3 : 4);
        ck_assert_uint_eq(utf8_seq((const unsigned char *)o, k), k);
    }
    char o[4];
    ck_assert_uint_eq(utf8_put(0xD800, o), 0);
    ck_assert_uint_eq(utf8_put(0xDFFF, o), 0);
    ck_assert_uint_eq(utf8_put(0x110000, o), 0);
    ck_assert_uint_eq(utf8_put(0x20AC, o), 3);
    ck_assert(memcmp(o, "\xe2\x82\xac", 3) == 0);
}
END_TEST

START_TEST(latin1_and_dup)
{
    char out[16];
    size_t k = utf8_from_latin1("Mis\xe9rables\xff", 11, out);
    ck_assert_uint_eq(k, 13);
    ck_assert(memcmp(out, "Mis\xc3\xa9rables\xc3\xbf", 13) == 0);
    char *s = utf8_dup("\xff\x41", 2);
    ck_assert_str_eq(s, "\xc3\xbf"
                        "A");
    free(s);
    s = utf8_dup("\xe2\x82\xac", 3); /* valid UTF-8 (euro sign) kept */
    ck_assert_str_eq(s, "\xe2\x82\xac");
    free(s);
    s = utf8_dup("\xed\xa0\x80", 3); /* a surrogate is not UTF-8: latin-1 */
    ck_assert_str_eq(s, "\xc3\xad\xc2\xa0\xc2\x80");
    free(s);
    s = utf8_dup("", 0);
    ck_assert_str_eq(s, "");
    free(s);
    s = utf8_dup("a\0b", 3); /* bytes, not a C string: the NUL is kept */
    ck_assert(memcmp(s, "a\0b", 4) == 0);
    free(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("utf8");
    TCase *tc = tcase_create("utf8");
    tcase_add_test(tc, valid_and_invalid);
    tcase_add_test(tc, put_round_trips);
    tcase_add_test(tc, latin1_and_dup);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
