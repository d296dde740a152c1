/* test_bpr.c - BPR (models/mf/bpr.h): tiny problems with known answers, determinism. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf/als.h"
#include "mf/bpr.h"
#include "mf/interactions.h"
#include "mf/mf.h"
#include "testutil.h"

/* Two taste groups of G users over 2G items: users 0..G-1 like items
 * 0..G-1, the others the rest; user k lacks item k % G of its group. */
enum { G = 12, N = 2 * G };

static void groups(struct ia_matrix *m)
{
    char buf[16384];
    size_t n = 0;
    for (int u = 0; u < N; u++)
        for (int i = 0; i < G; i++) {
            int item = (u < G ? 0 : G) + i;
            if (i == u % G)
                continue;
            n += (size_t)snprintf(buf + n, sizeof buf - n, "u%02d\ti%02d\n", u, item);
        }
    enc_err err = {0};
    ck_assert_int_eq(ia_parse("mem", buf, n, NULL, m, &err), 0);
    ck_assert_uint_eq(m->n_users, N);
    ck_assert_uint_eq(m->n_items, N);
}

static float score(const struct mf_data *d, size_t u, size_t i)
{
    float s = 0;
    for (size_t f = 0; f < d->factors; f++)
        s += d->user_factors[u * d->factors + f] * d->item_factors[i * d->factors + f];
    return s;
}

START_TEST(groups_rank_own_items_first)
{
    struct ia_matrix m;
    groups(&m);
    for (int threads = 1; threads <= 2; threads++) {
        struct bpr_params p;
        bpr_params_default(&p);
        p.factors = 8;
        p.epochs = 300;
        p.learning_rate = 0.05;
        p.threads = threads;
        struct mf_data d;
        enc_err err = {0};
        ck_assert_int_eq(bpr_train(&m, NULL, &p, &d, &err), 0);
        ck_assert_str_eq(d.algorithm, "bpr");
        for (size_t u = 0; u < N; u++) {
            ck_assert_float_eq(d.user_factors[u * 8 + 7], 1.0f); /* bias column */
            size_t missing = (u < G ? 0 : G) + u % G;
            /* the unseen item of the own group beats every item of the other group */
            for (size_t i = 0; i < N; i++)
                if ((i < G) != (u < G))
                    ck_assert_msg(score(&d, u, missing) > score(&d, u, i),
                                  "threads %d user %zu: item %zu %g <= item %zu %g", threads, u,
                                  missing, score(&d, u, missing), i, score(&d, u, i));
        }
        mf_data_clear(&d);
    }
    ia_matrix_clear(&m);
}
END_TEST

struct acc {
    double last;
    int n;
};

static void on_epoch(void *ctx, int epoch, double seconds, double a)
{
    struct acc *x = ctx;
    ck_assert_int_eq(epoch, x->n + 1);
    ck_assert(a >= 0 && a <= 1);
    x->last = a;
    x->n++;
}

START_TEST(deterministic_and_learns)
{
    struct ia_matrix m;
    groups(&m);
    struct als_csr R = {m.n_users, m.n_items, m.indptr, m.indices, m.weights};
    struct bpr_params p;
    bpr_params_default(&p);
    p.factors = 6;
    p.epochs = 50;
    p.learning_rate = 0.05;
    p.threads = 2;
    struct acc a = {0, 0};
    p.progress = on_epoch;
    p.progress_ctx = &a;
    float X1[N * 6], Y1[N * 6], X2[N * 6], Y2[N * 6];
    enc_err err = {0};
    ck_assert_int_eq(bpr_fit(&R, &p, X1, Y1, &err), 0);
    ck_assert_int_eq(a.n, 50);
    ck_assert_double_gt(a.last, 0.9); /* sampled pairs ordered correctly */
    p.progress = NULL;
    ck_assert_int_eq(bpr_fit(&R, &p, X2, Y2, &err), 0);
    ck_assert_int_eq(memcmp(X1, X2, sizeof X1), 0);
    ck_assert_int_eq(memcmp(Y1, Y2, sizeof Y1), 0);
    p.seed = 1234;
    ck_assert_int_eq(bpr_fit(&R, &p, X2, Y2, &err), 0);
    ck_assert_int_ne(memcmp(Y1, Y2, sizeof Y1), 0);
    ia_matrix_clear(&m);
}
END_TEST

START_TEST(bad_parameters)
{
    struct bpr_params p;
    enc_err err = {0};
    bpr_params_default(&p);
    ck_assert_int_eq(bpr_params_check(&p, &err), 0);
    p.factors = 1;
    ck_assert_int_eq(bpr_params_check(&p, &err), ENC_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "bias"));
    bpr_params_default(&p);
    p.learning_rate = 0;
    ck_assert_int_eq(bpr_params_check(&p, &err), ENC_EINVAL);
    bpr_params_default(&p);
    p.threads = 65;
    ck_assert_int_eq(bpr_params_check(&p, &err), ENC_EINVAL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bpr");
    TCase *tc = tcase_create("bpr");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, groups_rank_own_items_first);
    tcase_add_test(tc, deterministic_and_learns);
    tcase_add_test(tc, bad_parameters);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
