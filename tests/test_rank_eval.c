/* test_rank_eval.c - ranking metrics (models/mf/rank_eval.h) against hand-computed values. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf/interactions.h"
#include "mf/rank_eval.h"
#include "testutil.h"

static void parse(const char *t, struct ia_matrix *m)
{
    enc_err err = {0};
    ck_assert_msg(ia_parse("mem", t, strlen(t), NULL, m, &err) == 0, "%s", err.msg);
}

START_TEST(one_user_by_hand)
{
    const int32_t ranked[] = {5, 1, 7, 3};
    const int32_t known[] = {1, 3, 9};
    struct re_metrics m;
    /* 4 test items, one of them unknown to the catalog; hits at ranks 2 and 4 */
    rank_user_metrics(ranked, 4, known, 3, 4, 4, &m);
    ck_assert_double_eq_tol(m.precision, 0.5, 1e-12);
    ck_assert_double_eq_tol(m.recall, 0.5, 1e-12);
    double dcg = 1 / log2(3.0) + 1 / log2(5.0);
    double idcg = 1 + 1 / log2(3.0) + 1 / log2(4.0) + 1 / log2(5.0);
    ck_assert_double_eq_tol(m.ndcg, dcg / idcg, 1e-12);
    ck_assert_double_eq_tol(m.ndcg, 0.414430, 1e-6);
    ck_assert_double_eq_tol(m.map, (1.0 / 2 + 2.0 / 4) / 4, 1e-12);
    ck_assert_double_eq(m.hit_rate, 1);
    /* ideal DCG over min(k, |test|): one test item, hit at rank 1 -> 1 */
    rank_user_metrics(ranked, 4, (const int32_t[]){5}, 1, 1, 10, &m);
    ck_assert_double_eq_tol(m.ndcg, 1.0, 1e-12);
    ck_assert_double_eq_tol(m.precision, 0.1, 1e-12); /* hits / k, not / list length */
    ck_assert_double_eq_tol(m.map, 1.0, 1e-12);
    rank_user_metrics(ranked, 4, (const int32_t[]){2}, 1, 1, 10, &m);
    ck_assert_double_eq(m.ndcg, 0);
    ck_assert_double_eq(m.hit_rate, 0);
}
END_TEST

/* train: u1 {i1 i2}, u2 {i2 i3}, u3 {i1 i4}; popularity i1 2, i2 2, i3 1, i4 1.
 * test:  u1 {i3 i9 (never trained)}, u2 {i1}, u4 (unknown user) {i2}; u3 none. */
static const char *train_txt = "u1\ti1\nu1\ti2\nu2\ti2\nu2\ti3\nu3\ti1\nu3\ti4\n";
static const char *test_txt = "u1\ti3\nu1\ti9\nu2\ti1\nu4\ti2\n";

START_TEST(popularity_by_hand)
{
    struct ia_matrix train, test;
    parse(train_txt, &train);
    parse(test_txt, &test);
    struct re_popularity *pop;
    ck_assert_int_eq(rank_popularity_new(&train, &pop), 0);
    struct re_metrics m;
    enc_err err = {0};
    /* k = 2: u1 gets [i3 i4] (hit at 1), u2 [i1 i4] (hit at 1), u4 [i1 i2] (hit at 2) */
    ck_assert_int_eq(rank_evaluate(&train, &test, 2, rank_popularity_fn, pop, &m, &err), 0);
    ck_assert_uint_eq(m.users, 3);
    ck_assert_double_eq_tol(m.precision, 0.5, 1e-12);
    ck_assert_double_eq_tol(m.recall, (0.5 + 1 + 1) / 3, 1e-12);
    double n1 = 1 / (1 + 1 / log2(3.0)), n4 = 1 / log2(3.0);
    ck_assert_double_eq_tol(m.ndcg, (n1 + 1 + n4) / 3, 1e-12);
    ck_assert_double_eq_tol(m.map, (0.5 + 1 + 0.5) / 3, 1e-12);
    ck_assert_double_eq_tol(m.hit_rate, 1, 1e-12);
    ck_assert_double_eq_tol(m.coverage, 1, 1e-12);
    /* the same, user by user (test rows u1, u2, u4), for paired comparisons */
    double per[3] = {-1, -1, -1};
    struct re_metrics m2;
    ck_assert_int_eq(rank_evaluate_users(&train, &test, 2, rank_popularity_fn, pop, &m2, per, &err),
                     0);
    ck_assert_double_eq_tol(per[0], n1, 1e-12);
    ck_assert_double_eq_tol(per[1], 1, 1e-12);
    ck_assert_double_eq_tol(per[2], n4, 1e-12);
    ck_assert_double_eq_tol(m2.ndcg, m.ndcg, 1e-15);
    /* k = 1: [i3], [i1], [i1] */
    ck_assert_int_eq(rank_evaluate(&train, &test, 1, rank_popularity_fn, pop, &m, &err), 0);
    ck_assert_double_eq_tol(m.precision, 2.0 / 3, 1e-12);
    ck_assert_double_eq_tol(m.recall, 0.5, 1e-12);
    ck_assert_double_eq_tol(m.ndcg, 2.0 / 3, 1e-12);
    ck_assert_double_eq_tol(m.map, 2.0 / 3, 1e-12);
    ck_assert_double_eq_tol(m.hit_rate, 2.0 / 3, 1e-12);
    ck_assert_double_eq_tol(m.coverage, 0.5, 1e-12);
    ck_assert_int_eq(rank_evaluate(&train, &test, 0, rank_popularity_fn, pop, &m, &err),
                     ENC_EINVAL);
    rank_popularity_free(pop);
    ia_matrix_clear(&train);
    ia_matrix_clear(&test);
}
END_TEST

static int cheater(void *ctx, const char *user_id, int64_t train_user, const int32_t *train_items,
                   size_t n_train, size_t k, int32_t *out, size_t *n_out, enc_err *err)
{
    /* recommends the user's own training item: must be refused */
    out[0] = n_train ? train_items[0] : 0;
    *n_out = 1;
    return 0;
}

START_TEST(refuses_training_items)
{
    struct ia_matrix train, test;
    parse(train_txt, &train);
    parse(test_txt, &test);
    struct re_metrics m;
    enc_err err = {0};
    ck_assert_int_eq(rank_evaluate(&train, &test, 3, cheater, NULL, &m, &err), ENC_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "training item"));
    ia_matrix_clear(&train);
    ia_matrix_clear(&test);
}
END_TEST

START_TEST(factors_rank_and_tie_break)
{
    struct ia_matrix train, test;
    parse(train_txt, &train);
    parse(test_txt, &test);
    /* users u1 u2 u3, items i1..i4; u1 = (1, 0): scores 3, 9, 1, 1 ->
     * i1 i2 excluded, i3 and i4 tie -> the lower row (i3) first. */
    const float U[] = {1, 0, 0, 1, 1, 1};
    const float V[] = {3, 0, 9, 0, 1, 5, 1, -5};
    struct re_factors *f;
    ck_assert_int_eq(rank_factors_new(&train, U, V, 2, &f), 0);
    int32_t out[4];
    size_t n;
    enc_err err = {0};
    const int32_t seen_u1[] = {0, 1};
    ck_assert_int_eq(rank_factors_fn(f, "u1", 0, seen_u1, 2, 4, out, &n, &err), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(out[0], 2);
    ck_assert_int_eq(out[1], 3);
    /* u2 = (0, 1): scores 0, 0, 5, -5; i2 i3 excluded -> i1 (0) then i4 (-5) */
    const int32_t seen_u2[] = {1, 2};
    ck_assert_int_eq(rank_factors_fn(f, "u2", 1, seen_u2, 2, 4, out, &n, &err), 0);
    ck_assert_int_eq(out[0], 0);
    ck_assert_int_eq(out[1], 3);
    /* an unknown user falls back to popularity */
    ck_assert_int_eq(rank_factors_fn(f, "u4", -1, NULL, 0, 2, out, &n, &err), 0);
    ck_assert_int_eq(out[0], 0);
    ck_assert_int_eq(out[1], 1);
    struct re_metrics m;
    ck_assert_int_eq(rank_evaluate(&train, &test, 1, rank_factors_fn, f, &m, &err), 0);
    /* u1 [i3] hit, u2 [i1] hit, u4 [i1] miss */
    ck_assert_double_eq_tol(m.ndcg, 2.0 / 3, 1e-12);
    rank_factors_free(f);
    ia_matrix_clear(&train);
    ia_matrix_clear(&test);
}
END_TEST

START_TEST(overlap_and_ids)
{
    struct ia_matrix train, test, foreign;
    parse(train_txt, &train);
    /* u1-i2 and u3-i4 are training pairs; i9 is not in the catalog; u4 has no training */
    parse("u1\ti2\nu1\ti3\nu3\ti4\nu3\ti9\nu4\ti1\n", &test);
    struct re_overlap ov;
    ck_assert_int_eq(rank_overlap(&train, &test, &ov), 0);
    ck_assert_uint_eq(ov.test_pairs, 5);
    ck_assert_uint_eq(ov.shared_pairs, 2);
    ck_assert_str_eq(ov.shared_user, "u1");
    ck_assert_str_eq(ov.shared_item, "i2");
    ck_assert_uint_eq(ov.test_users, 3);
    ck_assert_uint_eq(ov.known_users, 2);
    ck_assert_uint_eq(ov.test_items, 5);
    ck_assert_uint_eq(ov.known_items, 4);
    ck_assert_uint_eq(ov.known_pairs, 4);
    ck_assert_str_eq(ov.unknown_item, "i9");
    /* ids from another id space: nothing in the catalog */
    parse("u1\tmovie-1\nu2\tmovie-2\n", &foreign);
    ck_assert_int_eq(rank_overlap(&train, &foreign, &ov), 0);
    ck_assert_uint_eq(ov.known_items, 0);
    ck_assert_uint_eq(ov.shared_pairs, 0);
    ck_assert_str_eq(ov.train_item, "i1");
    ia_matrix_clear(&train);
    ia_matrix_clear(&test);
    ia_matrix_clear(&foreign);
}
END_TEST

START_TEST(popularity_reference_figures)
{
    /* The datasets README's reference: popularity NDCG@10 0.152 (ml-100k)
     * and 0.136 (ml-latest-small) on the shared splits. */
    const char *ds = tu_shared_datasets();
    if (!ds)
        tu_skip("no shared datasets directory");
    const char *names[] = {"ml-100k", "ml-latest-small"};
    const double ref[] = {0.152, 0.136};
    const size_t users[] = {938, 603};
    for (int d = 0; d < 2; d++) {
        char tr[4096], te[4096];
        snprintf(tr, sizeof tr, "%s/%s/splits/train.tsv", ds, names[d]);
        snprintf(te, sizeof te, "%s/%s/splits/test.tsv", ds, names[d]);
        struct ia_matrix train, test;
        enc_err err = {0};
        ck_assert_int_eq(ia_read(tr, NULL, &train, &err), 0);
        ck_assert_int_eq(ia_read(te, NULL, &test, &err), 0);
        struct re_popularity *pop;
        ck_assert_int_eq(rank_popularity_new(&train, &pop), 0);
        struct re_metrics m;
        ck_assert_int_eq(rank_evaluate(&train, &test, 10, rank_popularity_fn, pop, &m, &err), 0);
        printf("popularity_reference_figures: %s NDCG@10 %.4f\n", names[d], m.ndcg);
        ck_assert_uint_eq(m.users, users[d]);
        ck_assert_double_lt(fabs(m.ndcg - ref[d]), 0.001);
        rank_popularity_free(pop);
        ia_matrix_clear(&train);
        ia_matrix_clear(&test);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rank_eval");
    TCase *tc = tcase_create("rank_eval");
    tcase_add_test(tc, one_user_by_hand);
    tcase_add_test(tc, popularity_by_hand);
    tcase_add_test(tc, refuses_training_items);
    tcase_add_test(tc, factors_rank_and_tie_break);
    tcase_add_test(tc, overlap_and_ids);
    suite_add_tcase(s, tc);
    tcase_add_test(tu_optional_tcase(s, "datasets"), popularity_reference_figures);
    return tu_run(s);
}
