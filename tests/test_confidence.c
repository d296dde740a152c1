/* test_confidence.c - weights to confidences (models/mf/confidence.h): the
 * summary, the automatic choice on each kind of weight column, every scheme's
 * values and the serving rules. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "mf/confidence.h"
#include "testutil.h"

/* Heavy-tailed play counts: ceil(20 * lognormal(0, 1.6)), as a music log. */
static float *heavy_counts(size_t n)
{
    float *w = malloc(n * sizeof *w);
    uint64_t s = 7;
    for (size_t i = 0; i < n; i++) {
        double u = rng_uniform(&s), v = rng_uniform(&s);
        double z = sqrt(-2.0 * log(1.0 - u)) * cos(2 * M_PI * v);
        w[i] = (float)ceil(20.0 * exp(1.6 * z));
    }
    return w;
}

START_TEST(stats_of_a_column)
{
    const float w[] = {5, 1, 3, 2, 4, 100};
    struct conf_stats st;
    ck_assert_int_eq(conf_stats_compute(w, 6, &st), 0);
    ck_assert_uint_eq(st.n, 6);
    ck_assert_double_eq(st.min, 1);
    ck_assert_double_eq(st.max, 100);
    ck_assert_double_eq(st.median, 3.5);
    ck_assert_double_eq(st.p90, 100); /* nearest rank: ceil(0.9 * 6) = 6th */
    ck_assert_int_eq(st.integers, 1);
    ck_assert_int_eq(st.all_equal, 0);
    const float h[] = {0.5f, 0.5f};
    ck_assert_int_eq(conf_stats_compute(h, 2, &st), 0);
    ck_assert_int_eq(st.integers, 0);
    ck_assert_int_eq(st.all_equal, 1);
    ck_assert_int_eq(conf_stats_compute(NULL, 0, &st), 0);
    ck_assert_uint_eq(st.n, 0);
}
END_TEST

START_TEST(automatic_choice)
{
    struct conf_stats st;
    double eps;
    char why[256];
    /* every weight 1 (rating files, no weight column): binary */
    const float ones[] = {1, 1, 1, 1};
    conf_stats_compute(ones, 4, &st);
    ck_assert_int_eq(conf_auto(&st, &eps, why, sizeof why), CONF_BINARY);
    ck_assert_ptr_nonnull(strstr(why, "binary"));
    /* a bounded scale (1-5 stars, 1-3 plays): log with the median at f = 1 */
    const float stars[] = {1, 2, 3, 4, 5, 4, 4, 3};
    conf_stats_compute(stars, 8, &st);
    ck_assert_int_eq(conf_auto(&st, &eps, why, sizeof why), CONF_LOG);
    ck_assert_double_eq_tol(eps, st.median / (M_E - 1), 1e-12);
    ck_assert_double_eq_tol(log1p(st.median / eps), 1.0, 1e-12);
    ck_assert_ptr_nonnull(strstr(why, "bounded"));
    /* heavy-tailed counts: never linear; binary, and the reason names the ratio */
    size_t n = 20000;
    float *h = heavy_counts(n);
    conf_stats_compute(h, n, &st);
    ck_assert_double_gt(st.max / st.median, 100);
    ck_assert_int_eq(st.integers, 1);
    ck_assert_int_eq(conf_auto(&st, &eps, why, sizeof why), CONF_BINARY);
    ck_assert_ptr_nonnull(strstr(why, "heavy-tailed"));
    free(h);
}
END_TEST

START_TEST(schemes)
{
    /* 2 users x 3 items: u0 = {i0: 1, i2: 9}, u1 = {i1: 3} */
    const int64_t ptr[] = {0, 2, 3};
    const int32_t idx[] = {0, 2, 1};
    const float w[] = {1, 9, 3};
    float f[3];
    ck_assert_int_eq(conf_transform(2, 3, ptr, idx, w, CONF_BINARY, 1, 0, 0, f), 0);
    for (int k = 0; k < 3; k++)
        ck_assert_float_eq(f[k], 1);
    ck_assert_int_eq(conf_transform(2, 3, ptr, idx, w, CONF_LINEAR, 1, 0, 0, f), 0);
    ck_assert_float_eq(f[1], 9);
    ck_assert_int_eq(conf_transform(2, 3, ptr, idx, w, CONF_LOG, 0.5, 0, 0, f), 0);
    ck_assert_double_eq_tol(f[1], log1p(9 / 0.5), 1e-6);
    ck_assert_double_eq_tol(f[0], log1p(2.0), 1e-6);
    /* BM25 with B = 0: x (K1 + 1) / (K1 + x) * (log(3) - log1p(items of the user)) */
    ck_assert_int_eq(conf_transform(2, 3, ptr, idx, w, CONF_BM25, 1, 1.5, 0, f), 0);
    ck_assert_double_eq_tol(f[2], 3 * 2.5 / (1.5 + 3) * (log(3.0) - log1p(1.0)), 1e-5);
    ck_assert_int_eq(conf_transform(2, 3, ptr, idx, w, CONF_TFIDF, 1, 0, 0, f), 0);
    for (int k = 0; k < 3; k++)
        ck_assert_float_gt(f[k], 0);
    enum conf_scheme s;
    ck_assert_int_eq(conf_scheme_parse("bm25", &s), 0);
    ck_assert_int_eq(s, CONF_BM25);
    ck_assert_int_eq(conf_scheme_parse("logarithmic", &s), -1);
    ck_assert_str_eq(conf_scheme_name(CONF_LOG), "log");
}
END_TEST

START_TEST(serving_rules)
{
    struct conf_serving cs = {CONF_LOG, 4, 2, 10, 1.3};
    ck_assert_double_eq_tol(conf_serve(&cs, 6), 1 + 4 * log1p(3.0), 1e-12);
    ck_assert_double_eq_tol(conf_serve(&cs, -6), conf_serve(&cs, 6), 1e-12); /* a dislike */
    ck_assert_double_eq(conf_serve(&cs, 0), 1);
    cs.scheme = CONF_BINARY;
    ck_assert_double_eq(conf_serve(&cs, 500), 5);
    cs.scheme = CONF_LINEAR;
    ck_assert_double_eq(conf_serve(&cs, 2), 9);
    /* bm25: the median pair (typical_weight) gets the median f (typical_f) */
    cs.scheme = CONF_BM25;
    ck_assert_double_eq_tol(conf_serve_f(&cs, 10), 1.3, 1e-12);
    ck_assert_double_eq_tol(conf_serve_f(&cs, 20), 2.6, 1e-12);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("confidence");
    TCase *tc = tcase_create("confidence");
    tcase_add_test(tc, stats_of_a_column);
    tcase_add_test(tc, automatic_choice);
    tcase_add_test(tc, schemes);
    tcase_add_test(tc, serving_rules);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
