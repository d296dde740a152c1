/* test_training.c - the event store as training input (events/training.c):
 * weights as confidences, erased users left out of the file, the cutoff. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "events/training.h"
#include "testutil.h"

static struct ev_event ev(const char *user, const char *item, const char *type, int64_t t)
{
    struct ev_event e;
    memset(&e, 0, sizeof e);
    e.user = user, e.user_len = (uint16_t)strlen(user);
    e.item = item, e.item_len = (uint16_t)strlen(item);
    e.type = type, e.type_len = (uint16_t)strlen(type);
    e.time = t;
    return e;
}

static float weight_of(const struct ia_matrix *m, const char *user, const char *item)
{
    for (size_t u = 0; u < m->n_users; u++) {
        if (strcmp(m->user_ids[u], user))
            continue;
        for (int64_t k = m->indptr[u]; k < m->indptr[u + 1]; k++)
            if (!strcmp(m->item_ids[m->indices[k]], item))
                return m->weights[k];
    }
    return 0;
}

START_TEST(merge_file_and_events)
{
    char *dir = tu_tmpdir();
    char loc[4200];
    snprintf(loc, sizeof loc, "%s/events", dir);
    struct evstore_options o;
    evstore_options_default(&o);
    o.location = loc;
    struct evstore *s;
    enc_err err = {0};
    ck_assert_int_eq(evstore_open(&o, &s, &err), 0);
    struct ev_event e[5] = {ev("1", "10", "play", 100), ev("1", "11", "like", 300),
                            ev("2", "10", "dislike", 200), ev("9", "12", "play", 150),
                            ev("1", "13", "unknowntype", 400)};
    ck_assert_int_eq(evstore_append(s, e, 5, 1000, NULL, NULL, &err), 0);
    ck_assert_int_eq(evstore_erase_user(s, "3", 1, 1000, NULL, &err), 0);
    const char *file = "1\t10\t5\t1\n2\t10\t4\t1\n3\t11\t5\t1\n3\t10\t5\t1\n4\t11\t5\t1\n";
    struct ia_matrix fm, m;
    ck_assert_int_eq(ia_parse("f", file, strlen(file), NULL, &fm, &err), 0);
    struct ev_types types;
    ck_assert_int_eq(ev_types_parse(EV_DEFAULT_WEIGHTS, &types, &err), 0);
    struct evtrain_info info;
    ck_assert_msg(evtrain_merge(&fm, s, &types, &m, &info, &err) == 0, "%s", err.msg);
    ck_assert(weight_of(&m, "1", "10") == 2.0f); /* file 1 + play 1 */
    ck_assert(weight_of(&m, "1", "11") == 2.0f); /* like */
    ck_assert(weight_of(&m, "2", "10") == 0.0f); /* file 1 + dislike -2: gone */
    ck_assert(weight_of(&m, "9", "12") == 1.0f); /* a user only in events */
    ck_assert(weight_of(&m, "1", "13") == 0.0f); /* a type not in the table */
    for (size_t u = 0; u < m.n_users; u++) {
        ck_assert_str_ne(m.user_ids[u], "3"); /* erased */
        ck_assert_str_ne(m.user_ids[u], "2"); /* nothing positive left */
    }
    ck_assert_uint_eq(info.events, 5);
    ck_assert_uint_eq(info.events_zero, 1);
    ck_assert_uint_eq(info.erased_users, 1);
    ck_assert_uint_eq(info.file_pairs_dropped, 2);
    ck_assert_uint_eq(info.cutoff_seq, 5);
    ck_assert_int_eq(info.cutoff_time, 300);
    char id[33];
    ck_assert_int_eq(evstore_id(s, id, &err), 0);
    ck_assert_str_eq(info.store_id, id);
    ia_matrix_clear(&m);
    /* events alone */
    ck_assert_int_eq(evtrain_merge(NULL, s, &types, &m, &info, &err), 0);
    ck_assert_uint_eq(m.n_users, 2);
    ia_matrix_clear(&m);
    ia_matrix_clear(&fm);
    evstore_close(s);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(nothing_to_train_on)
{
    char *dir = tu_tmpdir();
    char loc[4200];
    snprintf(loc, sizeof loc, "%s/events", dir);
    struct evstore_options o;
    evstore_options_default(&o);
    o.location = loc;
    struct evstore *s;
    enc_err err = {0};
    ck_assert_int_eq(evstore_open(&o, &s, &err), 0);
    struct ev_event e = ev("1", "10", "skip", 100);
    ck_assert_int_eq(evstore_append(s, &e, 1, 1000, NULL, NULL, &err), 0);
    struct ev_types types;
    ck_assert_int_eq(ev_types_parse(EV_DEFAULT_WEIGHTS, &types, &err), 0);
    struct ia_matrix m;
    struct evtrain_info info;
    ck_assert_int_eq(evtrain_merge(NULL, s, &types, &m, &info, &err), ENC_EFORMAT);
    ck_assert_msg(strstr(err.msg, "no interactions") != NULL, "%s", err.msg);
    evstore_close(s);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("training");
    TCase *tc = tcase_create("training");
    tcase_add_test(tc, merge_file_and_events);
    tcase_add_test(tc, nothing_to_train_on);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
