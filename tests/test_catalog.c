/* test_catalog.c - catalogue records: request validation, the stored form,
 * availability windows. */
#include <stdlib.h>
#include <string.h>

#include "events/catalog.h"
#include "testutil.h"

static json_t *j(const char *text)
{
    json_error_t e;
    json_t *o = json_loads(text, 0, &e);
    ck_assert_msg(o != NULL, "%s", e.text);
    return o;
}

START_TEST(request_round_trip)
{
    json_t *b = j("{\"title\":\"Dune\",\"tags\":[\"Sci-Fi\",\"Drama\"],\"available\":true,"
                  "\"available_from\":\"2026-01-01T00:00:00Z\",\"available_until\":1800000000}");
    struct cat_item it, back;
    enc_err err = {0};
    ck_assert_int_eq(cat_item_from_request(b, 1700000000, &it, &err), 0);
    ck_assert_str_eq(it.title, "Dune");
    ck_assert_uint_eq(it.n_tags, 2);
    ck_assert_int_eq(it.available_from, 1767225600);
    size_t len;
    char *s = cat_item_to_json(&it, &len);
    ck_assert_int_eq(cat_item_from_json(s, len, &back, &err), 0);
    ck_assert_str_eq(back.title, "Dune");
    ck_assert_str_eq(back.tags[1], "Drama");
    ck_assert_int_eq(back.updated, 1700000000);
    ck_assert_int_eq(back.available_until, 1800000000);
    ck_assert_int_eq(cat_item_available(&back, 1767225599), 0); /* not yet */
    ck_assert_int_eq(cat_item_available(&back, 1767225600), 1);
    ck_assert_int_eq(cat_item_available(&back, 1800000000), 0); /* licence ended */
    back.withdrawn = 1;
    ck_assert_int_eq(cat_item_available(&back, 1767225600), 0);
    free(s);
    cat_item_clear(&it);
    cat_item_clear(&back);
    json_decref(b);
}
END_TEST

START_TEST(request_refused)
{
    static const char *bad[][2] = {
        {"{\"titel\":\"x\"}", "unknown field"},
        {"{\"title\":5}", "title"},
        {"{\"tags\":\"x\"}", "tags"},
        {"{\"tags\":[\"ok\",\"\"]}", "tags[1]"},
        {"{\"tags\":[\"a\\tb\"]}", "tags[0]"},
        {"{\"available\":\"yes\"}", "available"},
        {"{\"available_from\":-1}", "available_from"},
        {"{\"available_until\":\"tomorrow\"}", "available_until"},
        {"{\"available_from\":20,\"available_until\":10}", "before"},
        {"{\"updated\":5}", "unknown field"},
        {"[1]", "object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *b = j(bad[i][0]);
        struct cat_item it;
        enc_err err = {0};
        ck_assert_msg(cat_item_from_request(b, 1, &it, &err) == ENC_EINVAL, "accepted %s",
                      bad[i][0]);
        ck_assert_msg(strstr(err.msg, bad[i][1]) != NULL, "%s: %s", bad[i][0], err.msg);
        json_decref(b);
    }
    struct cat_item it;
    enc_err err = {0};
    ck_assert_int_eq(cat_item_from_json("{nope", 5, &it, &err), ENC_EFORMAT);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("catalog");
    TCase *tc = tcase_create("catalog");
    tcase_add_test(tc, request_round_trip);
    tcase_add_test(tc, request_refused);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
