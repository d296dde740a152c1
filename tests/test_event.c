/* test_event.c - the event model: type table, id checks, time parsing. */
#include <string.h>

#include "events/event.h"
#include "testutil.h"

START_TEST(types_default_and_lookup)
{
    struct ev_types t;
    enc_err err = {0};
    ck_assert_int_eq(ev_types_parse(EV_DEFAULT_WEIGHTS, &t, &err), 0);
    ck_assert_int_eq(t.n, 7);
    ck_assert_int_eq(ev_types_find(&t, "play", 4), 0);
    ck_assert_int_eq(ev_types_find(&t, "dislike", 7), 6);
    ck_assert_int_eq(ev_types_find(&t, "pla", 3), -1);
    int known = 1;
    ck_assert(ev_types_weight(&t, "skip", 4, &known) < 0);
    ck_assert_int_eq(known, 1);
    ck_assert(ev_types_weight(&t, "zap", 3, &known) == 0.0f);
    ck_assert_int_eq(known, 0);
    ck_assert(ev_types_weight(&t, "purchase", 8, NULL) == 3.0f);
}
END_TEST

START_TEST(types_refused)
{
    struct ev_types t;
    enc_err err = {0};
    static const char *bad[] = {"",       "play",          "play:",    "play:x",
                                "Play:1", "play:1,play:2", "play:1e9", "play:1 junk",
                                "a b:1",  "play:nan",      ":1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        memset(&err, 0, sizeof err);
        ck_assert_msg(ev_types_parse(bad[i], &t, &err) == ENC_EINVAL, "accepted '%s'", bad[i]);
        ck_assert_msg(strstr(err.msg, "event_weights") != NULL, "%s", err.msg);
    }
    ck_assert_int_eq(ev_types_parse(" view : 0.5 , buy:-2 ,", &t, &err), 0);
    ck_assert_int_eq(t.n, 2);
    ck_assert_str_eq(t.name[0], "view");
    ck_assert(t.weight[1] == -2.0f);
}
END_TEST

START_TEST(ids)
{
    ck_assert_ptr_null(ev_id_problem("196", 3));
    ck_assert_ptr_null(ev_id_problem("Am\xc3\xa9lie", 7));
    ck_assert_ptr_null(ev_id_problem("\xf0\x9f\x8e\xac film", 9));
    ck_assert_ptr_nonnull(ev_id_problem("", 0));
    ck_assert_ptr_nonnull(ev_id_problem("a\tb", 3));
    ck_assert_ptr_nonnull(ev_id_problem("a\nb", 3));
    ck_assert_ptr_nonnull(ev_id_problem("\xff", 1));
    ck_assert_ptr_nonnull(ev_id_problem("\xc3", 1));         /* truncated */
    ck_assert_ptr_nonnull(ev_id_problem("\xc0\xaf", 2));     /* overlong */
    ck_assert_ptr_nonnull(ev_id_problem("\xed\xa0\x80", 3)); /* surrogate */
    ck_assert_ptr_nonnull(ev_id_problem("\xc2\x85", 2));     /* C1 control */
    char big[300];
    memset(big, 'x', sizeof big);
    ck_assert_ptr_null(ev_id_problem(big, 256));
    ck_assert_ptr_nonnull(ev_id_problem(big, 257));
}
END_TEST

START_TEST(times)
{
    int64_t t = 0;
    ck_assert_int_eq(ev_time_parse("1765000000", 10, &t), 0);
    ck_assert_int_eq(t, 1765000000);
    ck_assert_int_eq(ev_time_parse("1970-01-01T00:00:00Z", 20, &t), 0);
    ck_assert_int_eq(t, 0);
    const char *s = "2025-12-06T10:00:00Z";
    ck_assert_int_eq(ev_time_parse(s, strlen(s), &t), 0);
    ck_assert_int_eq(t, 1765015200);
    s = "2025-12-06T11:30:00.250+01:30";
    ck_assert_int_eq(ev_time_parse(s, strlen(s), &t), 0);
    ck_assert_int_eq(t, 1765015200);
    s = "2024-02-29T00:00:00-00:00";
    ck_assert_int_eq(ev_time_parse(s, strlen(s), &t), 0);
    ck_assert_int_eq(t, 1709164800);
    static const char *bad[] = {"",
                                "abc",
                                "2025-13-01T00:00:00Z",
                                "2025-02-30T00:00:00Z",
                                "2023-02-29T00:00:00Z",
                                "2025-12-06T10:00:00",
                                "2025-12-06T25:00:00Z",
                                "2025-12-06T10:00:00Zjunk",
                                "2025-12-06T10:00:00.Z",
                                "99999999999999",
                                "-5"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(ev_time_parse(bad[i], strlen(bad[i]), &t) == ENC_EINVAL, "accepted '%s'",
                      bad[i]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("event");
    TCase *tc = tcase_create("event");
    tcase_add_test(tc, types_default_and_lookup);
    tcase_add_test(tc, types_refused);
    tcase_add_test(tc, ids);
    tcase_add_test(tc, times);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
