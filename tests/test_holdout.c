/* test_holdout.c - the per-user validation split (models/mf/holdout.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf/holdout.h"
#include "testutil.h"

/* Users u1..u30: user k has k items (i1..ik), weight = item number. */
static void make(struct ia_matrix *m)
{
    char text[65536];
    size_t at = 0;
    for (int u = 1; u <= 30; u++)
        for (int i = 1; i <= u; i++)
            at += (size_t)snprintf(text + at, sizeof text - at, "u%d\ti%d\t%d\n", u, i, i);
    enc_err err = {0};
    struct ia_options o = {IA_FORMAT_TSV, 0, IA_HEADER_NO};
    ck_assert_int_eq(ia_parse("mem", text, at, &o, m, &err), 0);
}

static size_t row_len(const struct ia_matrix *m, const char *user)
{
    int64_t r = ia_find_id(m->user_ids, m->n_users, user);
    return r < 0 ? 0 : (size_t)(m->indptr[r + 1] - m->indptr[r]);
}

START_TEST(the_rule)
{
    struct ia_matrix m, fit, valid;
    make(&m);
    enc_err err = {0};
    ck_assert_int_eq(ia_holdout_per_user(&m, 42, &fit, &valid, &err), 0);
    ck_assert_uint_eq(fit.nnz + valid.nnz, m.nnz);
    for (int u = 1; u <= 30; u++) {
        char id[8];
        snprintf(id, sizeof id, "u%d", u);
        /* n >= 5: floor(0.2 n + 0.5) held out; fewer: all kept */
        size_t want = u >= 5 ? (size_t)(0.2 * u + 0.5) : 0;
        ck_assert_uint_eq(row_len(&valid, id), want);
        ck_assert_uint_eq(row_len(&fit, id), (size_t)u - want);
    }
    /* disjoint, and weights travel with their pairs */
    for (size_t r = 0; r < valid.n_users; r++) {
        int64_t fr = ia_find_id(fit.user_ids, fit.n_users, valid.user_ids[r]);
        for (int64_t k = valid.indptr[r]; k < valid.indptr[r + 1]; k++) {
            const char *item = valid.item_ids[valid.indices[k]];
            ck_assert_float_eq(valid.weights[k], (float)atoi(item + 1));
            for (int64_t q = fit.indptr[fr]; q < fit.indptr[fr + 1]; q++)
                ck_assert_str_ne(fit.item_ids[fit.indices[q]], item);
        }
    }
    /* the same seed, the same split; another seed, another one */
    struct ia_matrix fit2, valid2;
    ck_assert_int_eq(ia_holdout_per_user(&m, 42, &fit2, &valid2, &err), 0);
    ck_assert_uint_eq(valid2.nnz, valid.nnz);
    ck_assert_mem_eq(valid2.indices, valid.indices, valid.nnz * sizeof *valid.indices);
    ia_matrix_clear(&fit2);
    ia_matrix_clear(&valid2);
    ck_assert_int_eq(ia_holdout_per_user(&m, 43, &fit2, &valid2, &err), 0);
    int differ = valid2.n_items != valid.n_items;
    for (size_t k = 0; !differ && k < valid.nnz; k++)
        differ = strcmp(valid2.item_ids[valid2.indices[k]], valid.item_ids[valid.indices[k]]);
    ck_assert_int_eq(differ, 1);
    ia_matrix_clear(&fit2);
    ia_matrix_clear(&valid2);
    ia_matrix_clear(&fit);
    ia_matrix_clear(&valid);
    ia_matrix_clear(&m);
}
END_TEST

START_TEST(nothing_to_hold_out)
{
    struct ia_matrix m, fit, valid;
    enc_err err = {0};
    const char *text = "a\tx\na\ty\nb\tx\n";
    ck_assert_int_eq(ia_parse("mem", text, strlen(text), NULL, &m, &err), 0);
    ck_assert_int_eq(ia_holdout_per_user(&m, 1, &fit, &valid, &err), ENC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "5 or more"));
    ia_matrix_clear(&m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("holdout");
    TCase *tc = tcase_create("holdout");
    tcase_add_test(tc, the_rule);
    tcase_add_test(tc, nothing_to_hold_out);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
