/* test_quant.c - int8 screening (mf/quant.c) and the mf family's i8 path:
 * the bound holds against double-precision dot products on both kernels,
 * degenerate inputs, and every query kind answers exactly as f32 does. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf/quant.h"
#include "mf_testutil.h"

static uint32_t rng = 777;

static float uniform(float lo, float hi)
{
    return mfu_uniform(&rng, lo, hi);
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* n items x f factors: random, plus an all-zero item and one dominated by a
 * single large factor (the worst case for a per-item scale). */
static float *make_items(size_t n, size_t f)
{
    float *V = malloc(n * f * sizeof *V);
    for (size_t i = 0; i < n * f; i++)
        V[i] = uniform(-1, 1);
    memset(V + 3 * f, 0, f * sizeof *V);
    V[5 * f + 1] = 40.0f;
    return V;
}

/* Both kernels (the AVX2 one where this CPU has it) for n x f. */
static void check_bound(size_t n, size_t f)
{
    float *V = make_items(n, f), *u = malloc(f * sizeof *u);
    for (size_t j = 0; j < f; j++)
        u[j] = uniform(-3, 3);
    struct quant_items qi;
    ck_assert_int_eq(quant_pack(V, n, f, &qi), 0);
    size_t np = quant_padded(n);
    ck_assert_uint_eq(np % 8, 0);
    ck_assert_uint_ge(np, n);
    float *lo[2], *w[2];
    for (int k = 0; k < 2; k++) {
        lo[k] = malloc(np * sizeof(float));
        w[k] = malloc(np * sizeof(float));
    }
    int kernels = quant_fast() ? 2 : 1;
    for (int k = 0; k < kernels; k++) {
        qi.fast = k;   /* 0: portable C, 1: AVX2 */
        ck_assert_int_eq(quant_score(&qi, u, lo[k], w[k]), 0);
        double smin = INFINITY, smax = -INFINITY;
        float *ws = malloc(n * sizeof *ws);
        for (size_t i = 0; i < n; i++) {
            double exact = 0, mag = 0;
            for (size_t j = 0; j < f; j++) {
                exact += (double)V[i * f + j] * u[j];
                mag += fabs((double)V[i * f + j] * u[j]);
            }
            float f32 = quant_dot(V + i * f, u, f, k);
            ck_assert_msg(fabs(f32 - exact) <= 1e-6 * (mag + 1), "dot %zu: %g vs %g", i, f32, exact);
            ck_assert_msg(lo[k][i] <= exact && exact <= (double)lo[k][i] + w[k][i],
                          "kernel %d item %zu: %.9g not in [%.9g, +%.9g]", k, i, exact, lo[k][i],
                          w[k][i]);
            ck_assert(lo[k][i] <= f32 && f32 <= lo[k][i] + w[k][i]);
            ws[i] = w[k][i];
            smin = fmin(smin, exact);
            smax = fmax(smax, exact);
        }
        ck_assert(lo[k][3] == 0 && w[k][3] == 0);   /* all-zero item: exact 0 */
        /* The interval must be useful: the median one far narrower than the
         * spread of the scores. */
        qsort(ws, n, sizeof *ws, cmp_float);
        ck_assert_msg(ws[n / 2] < 0.05 * (smax - smin), "median width %g, spread %g", ws[n / 2],
                      smax - smin);
        free(ws);
        for (size_t i = n; i < np; i++)
            ck_assert(lo[k][i] == 0 && w[k][i] == 0);   /* padding */
    }
    if (kernels == 2)   /* same integer dot products, same arithmetic after */
        for (size_t i = 0; i < np; i++) {
            ck_assert(fabsf(lo[0][i] - lo[1][i]) <= 1e-5f * (fabsf(lo[0][i]) + w[0][i] + 1e-30f));
            ck_assert(fabsf(w[0][i] - w[1][i]) <= 1e-5f * w[0][i]);
        }
    else
        printf("test_quant: AVX2 kernel not checked: this CPU lacks AVX2/FMA\n");
    for (int k = 0; k < 2; k++) {
        free(lo[k]);
        free(w[k]);
    }
    quant_free(&qi);
    quant_free(&qi);   /* idempotent on an emptied struct */
    free(V);
    free(u);
}

START_TEST(bound_holds)
{
    check_bound(75, 13);   /* 4-block step, then single blocks, padded; odd f */
    check_bound(300, 64);
    check_bound(9, 4);
}
END_TEST

START_TEST(degenerate_inputs)
{
    float V[3 * 5] = {1, -2, 3, 0.5f, 0, 0, 0, 0, 0, 0, -1, 1, -1, 1, -1};
    struct quant_items qi;
    ck_assert_int_eq(quant_pack(V, 3, 5, &qi), 0);
    float u[5] = {0}, lo[8], w[8];
    ck_assert_int_eq(quant_score(&qi, u, lo, w), 0);   /* zero user: every score exactly 0 */
    for (int i = 0; i < 8; i++)
        ck_assert(lo[i] == 0 && w[i] == 0);
    u[2] = NAN;
    ck_assert_int_eq(quant_score(&qi, u, lo, w), -1);
    u[2] = INFINITY;
    ck_assert_int_eq(quant_score(&qi, u, lo, w), -1);
    quant_free(&qi);
    V[7] = NAN;
    ck_assert_int_eq(quant_pack(V, 3, 5, &qi), -1);
    ck_assert_ptr_null(qi.q);
    float *big = calloc(1025, sizeof *big);
    ck_assert_int_eq(quant_pack(big, 1, 1025, &qi), -1);   /* f > 1024: int32 sums unsafe */
    free(big);
}
END_TEST

START_TEST(select_matches_definition)
{
    enum { N = 203 };   /* blocks of 8 and a tail */
    float lower[N], width[2][N];
    for (int i = 0; i < N; i++) {
        lower[i] = i % 7 == 0 ? -INFINITY : uniform(-1, 1);
        width[0][i] = width[1][i] = uniform(0, 0.2f);
    }
    const float floors[] = {0.5f, -INFINITY, 2.0f};
    for (size_t f = 0; f < 3; f++) {
        int32_t want[N];
        size_t nw = 0;
        for (int i = 0; i < N; i++)
            if (lower[i] != -INFINITY && lower[i] + width[0][i] >= floors[f])
                want[nw++] = i;
        for (int fast = 0; fast < (quant_fast() ? 2 : 1); fast++) {
            float w[N];
            memcpy(w, width[fast], sizeof w);
            size_t c = quant_select(lower, w, N, floors[f], fast);
            ck_assert_uint_eq(c, nw);
            ck_assert_int_eq(memcmp(w, want, c * sizeof(int32_t)), 0);
        }
    }
}
END_TEST

/* The same items in the same order; scores equal up to f32 summation order. */
static void same_hits(const struct mf_hit *a, size_t na, const struct mf_hit *b, size_t nb,
                      const char *what, int64_t u)
{
    ck_assert_msg(na == nb, "%s user %lld: %zu vs %zu hits", what, (long long)u, na, nb);
    for (size_t i = 0; i < na; i++) {
        ck_assert_msg(a[i].item == b[i].item, "%s user %lld rank %zu: item %d vs %d", what,
                      (long long)u, i, a[i].item, b[i].item);
        ck_assert(fabsf(a[i].score - b[i].score) <= 1e-5f * (fabsf(a[i].score) + 1));
    }
}

START_TEST(i8_model_answers_as_f32)
{
    enc_err err = {0};
    if (!quant_fast())
        printf("test_quant: i8 checked with the portable kernel: this CPU lacks AVX2/FMA\n");
    char *repo = tu_tmpdir(), path[4300];
    struct mf_data d;   /* 30 users x 300 items x 24 factors, 5 seen each, two tags */
    mfu_make_data(&d, 30, 300, 24, 0.5f, 5, 53, 1, &rng);
    mfu_save(&d, repo, "q", path, sizeof path);
    struct model *m32 = mfu_load(path, "f32"), *m8 = mfu_load(path, "i8");
    ck_assert_str_eq(mfu_precision(m32), "f32");
    ck_assert_str_eq(mfu_precision(m8), "i8");
    const struct mf_model *a = m32->state, *b = m8->state;
    float *sa = malloc(mf_scratch_floats(a) * sizeof *sa), *sb = malloc(mf_scratch_floats(b) * sizeof *sb);
    struct mf_hit ha[40], hb[40];
    size_t na, nb;
    enum mf_source src;
    const int32_t excl[] = {0, 1, 2, 7, 11}, hist[] = {4, 9, 250}, tag_a[] = {0};
    for (int64_t u = 0; u < 30; u++) {
        size_t k = 1 + (size_t)u % 40;   /* k from 1 to 30 */
        struct mf_query qs[] = {
            {.user = u, .k = k, .exclude_seen = 1},
            {.user = u, .k = k, .exclude_seen = 0, .exclude = excl, .n_exclude = 5},
            {.user = u, .k = k, .exclude_seen = 1, .tags = tag_a, .n_tags = 1},
            {.user = -1, .k = k, .exclude_seen = 1, .history = hist, .n_history = 3},
            {.user = u, .k = 300, .exclude_seen = 1},   /* k beyond the eligible items */
        };
        for (size_t i = 0; i < sizeof qs / sizeof *qs; i++) {
            struct mf_hit *ba = malloc(qs[i].k * sizeof *ba), *bb = malloc(qs[i].k * sizeof *bb);
            ck_assert_int_eq(mf_recommend(a, &qs[i], sa, ba, &na, &src, &err), 0);
            ck_assert_int_eq(mf_recommend(b, &qs[i], sb, bb, &nb, &src, &err), 0);
            same_hits(ba, na, bb, nb, "recommend", u);
            if (i == 4)
                ck_assert_uint_eq(na, 295);   /* every unseen item, all ranked */
            free(ba);
            free(bb);
        }
        struct mf_query sq = {.k = k};
        ck_assert_int_eq(mf_similar(a, (int32_t)u, &sq, sa, ha, &na, &err), 0);
        ck_assert_int_eq(mf_similar(b, (int32_t)u, &sq, sb, hb, &nb, &err), 0);
        same_hits(ha, na, hb, nb, "similar", u);
    }
    free(sa);
    free(sb);
    model_unref(m32);
    model_unref(m8);
    tu_rmrf(repo);
    free(repo);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("quant");
    TCase *tc = tcase_create("quant");
    tcase_add_test(tc, bound_holds);
    tcase_add_test(tc, degenerate_inputs);
    tcase_add_test(tc, select_matches_definition);
    tcase_add_test(tc, i8_model_answers_as_f32);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
