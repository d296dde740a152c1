/* test_list_eval.c - the measures of recommended lists (mf/list_eval.c)
 * against values worked out by hand on a five-item catalogue, and the
 * popularity debiasing of training weights (mf/popbias.c). A numpy
 * recomputation of the same measures from encore-train eval's lists runs in
 * tests/e2e_diversity.sh (tests/list_eval_ref.py). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mf/interactions.h"
#include "mf/list_eval.h"
#include "mf/popbias.h"
#include "testutil.h"

/* Users u1..u4 and items 1..5 (rows 0..4): u1 {1,2,3}, u2 {1,2}, u3 {1,4},
 * u4 {1,5}. Popularity 4, 2, 1, 1, 1; the head (ceil(0.2 * 5) = 1 item)
 * is item 1. Column cosines: (1,2) 2/sqrt(8), (1,3) (1,4) (1,5) 1/2,
 * (2,3) 1/sqrt(2), the rest 0. */
static const char fixture[] = "u1\t1\nu1\t2\nu1\t3\nu2\t1\nu2\t2\nu3\t1\nu3\t4\nu4\t1\nu4\t5\n";

static void load(struct ia_matrix *m)
{
    struct ia_options o = {IA_FORMAT_TSV, 0, IA_HEADER_NO};
    enc_err err = {0};
    ck_assert_msg(ia_parse("fixture", fixture, strlen(fixture), &o, m, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(m->n_items, 5);
}

START_TEST(by_hand)
{
    struct ia_matrix m;
    load(&m);
    /* factors: (1,0) (0,1) (1,1) (0,0) (-1,0) */
    const float vec[10] = {1, 0, 0, 1, 1, 1, 0, 0, -1, 0};
    struct list_eval *e;
    ck_assert_int_eq(list_eval_new(&m, vec, 2, &e), 0);
    enc_err err = {0};
    int32_t l1[3] = {0, 1, 2}, l2[2] = {3, 4};
    ck_assert_int_eq(list_eval_add(e, l1, 3, &err), 0);
    ck_assert_int_eq(list_eval_add(e, l2, 2, &err), 0);
    struct list_measures r;
    list_eval_result(e, &r);
    ck_assert_uint_eq(r.lists, 2);
    /* L1: (1 - 0.70711) + (1 - 0.5) + (1 - 0.70711) over 3 = 0.36193; L2: 1 */
    ck_assert_double_eq_tol(r.ild, (0.3619288 + 1) / 2, 1e-6);
    /* factors: L1 (1 - 0) + 2 (1 - 0.70711) over 3 = 0.52860; L2: a zero
     * vector is unlike anything: 1 */
    ck_assert_double_eq_tol(r.ild_factors, (0.5285955 + 1) / 2, 1e-6);
    ck_assert_double_eq_tol(r.arp, (7.0 / 3 + 1) / 2, 1e-9);
    ck_assert_double_eq_tol(r.long_tail, (2.0 / 3 + 1) / 2, 1e-9);
    ck_assert_double_eq_tol(r.coverage, 1, 1e-12);
    ck_assert_double_eq_tol(r.gini, 0, 1e-12); /* every item once */
    ck_assert_int_eq(list_eval_add(e, (int32_t[]){5}, 1, &err), ENC_EINVAL);
    list_eval_free(e);

    /* exposure 3, 2, 0, 0, 0: sorted 0 0 0 2 3, sum (2i - 6) x_i = 4 + 12,
     * over 5 * 5: Gini 0.64; coverage 2 / 5; lists of one item have no ILD */
    ck_assert_int_eq(list_eval_new(&m, NULL, 0, &e), 0);
    int32_t a[2] = {0, 1}, b[1] = {0};
    list_eval_add(e, a, 2, &err);
    list_eval_add(e, a, 2, &err);
    list_eval_add(e, b, 1, &err);
    list_eval_result(e, &r);
    ck_assert_double_eq_tol(r.gini, 0.64, 1e-12);
    ck_assert_double_eq_tol(r.coverage, 0.4, 1e-12);
    ck_assert_double_eq_tol(r.ild, 1 - 2 / sqrt(8), 1e-9);
    ck_assert_double_eq_tol(r.ild_factors, 0, 1e-12); /* no vectors given */
    ck_assert_double_eq_tol(r.long_tail, (0.5 + 0.5 + 0) / 3, 1e-9);
    list_eval_free(e);
    ia_matrix_clear(&m);
}
END_TEST

START_TEST(pop_penalty)
{
    struct ia_matrix m;
    load(&m);
    enc_err err = {0};
    ck_assert_int_eq(mf_pop_penalty(&m, 0, &err), 0); /* off: unchanged */
    for (size_t k = 0; k < m.nnz; k++)
        ck_assert_float_eq(m.weights[k], 1.0f);
    /* mean users per item 9 / 5 = 1.8: item 1 (4 users) gets (4 / 1.8)^-0.5,
     * the others (2 / 1.8)^-0.5 and (1 / 1.8)^-0.5 */
    ck_assert_int_eq(mf_pop_penalty(&m, 0.5, &err), 0);
    for (size_t k = 0; k < m.nnz; k++) {
        double users = m.indices[k] == 0 ? 4 : m.indices[k] == 1 ? 2 : 1;
        ck_assert_double_eq_tol(m.weights[k], pow(users / 1.8, -0.5), 1e-6);
    }
    ck_assert_int_eq(mf_pop_penalty(&m, 3, &err), ENC_EINVAL);
    ck_assert_int_eq(mf_pop_penalty(&m, -1, &err), ENC_EINVAL);
    ia_matrix_clear(&m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("list_eval");
    TCase *tc = tcase_create("measures");
    tcase_add_test(tc, by_hand);
    tcase_add_test(tc, pop_penalty);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
