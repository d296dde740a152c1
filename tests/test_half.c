/* test_half.c - the binary16 scoring kernel (mf/half.c) and the mf family's
 * f16 path: scores against double-precision dot products, padding, refusal
 * of values binary16 cannot hold, and rankings equal to the f32 path. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf/half.h"
#include "mf_testutil.h"

static uint32_t rng = 12345;

static float uniform(float lo, float hi)
{
    return mfu_uniform(&rng, lo, hi);
}

/* Halves back to float, the portable way (no F16C needed in the oracle). */
static double half_to_double(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return (h & 0x8000) ? -v : v;
}

START_TEST(kernel_matches_dot_products)
{
    if (!half_supported())
        tu_skip("this CPU lacks AVX2/FMA/F16C");
    /* 75 items: one 8-block step (64 items), then two single blocks, the
     * last one padded; 13 factors: no multiple of anything. */
    const size_t n = 75, f = 13;
    float *V = malloc(n * f * sizeof *V), u[13];
    for (size_t i = 0; i < n * f; i++)
        V[i] = uniform(-2, 2);
    for (size_t j = 0; j < f; j++)
        u[j] = uniform(-1, 1);
    ck_assert_uint_eq(half_padded(n), 80);
    ck_assert_uint_eq(half_elems(n, f), 80 * f);
    uint16_t *Vh = malloc(half_elems(n, f) * sizeof *Vh);
    ck_assert_int_eq(half_pack(V, n, f, Vh), 0);
    float *scores = malloc(half_padded(n) * sizeof *scores);
    for (size_t i = 0; i < half_padded(n); i++)
        scores[i] = NAN;
    half_score(Vh, n, f, u, scores);
    for (size_t i = 0; i < n; i++) {
        double exact = 0, rounded = 0, mag = 0;
        for (size_t j = 0; j < f; j++) {
            uint16_t h = Vh[(i / 8) * f * 8 + j * 8 + i % 8];
            /* the packed value is V rounded to binary16 (11-bit mantissa) */
            ck_assert(fabs(half_to_double(h) - V[i * f + j]) <= fabs(V[i * f + j]) / 2048 + 1e-7);
            exact += (double)V[i * f + j] * u[j];
            rounded += half_to_double(h) * u[j];
            mag += fabs((double)V[i * f + j] * u[j]);
        }
        ck_assert_msg(fabs(scores[i] - rounded) <= 1e-5 * (mag + 1), "item %zu: %g vs %g", i,
                      scores[i], rounded);
        ck_assert_msg(fabs(scores[i] - exact) <= mag / 1024 + 1e-6, "item %zu: %g vs %g", i,
                      scores[i], exact);
    }
    for (size_t i = n; i < half_padded(n); i++)
        ck_assert(scores[i] == 0.0f); /* padding items score exactly 0 */
    free(V);
    free(Vh);
    free(scores);
}
END_TEST

START_TEST(pack_refuses_unrepresentable)
{
    if (!half_supported())
        tu_skip("this CPU lacks AVX2/FMA/F16C");
    float V[2 * 3] = {1, 2, 3, 4, 5, 6};
    uint16_t Vh[8 * 3];
    ck_assert_int_eq(half_pack(V, 2, 3, Vh), 0);
    ck_assert_uint_eq(Vh[0], 0x3c00); /* 1.0 */
    ck_assert_uint_eq(Vh[1], 0x4400); /* item 1, factor 0: 4.0 */
    ck_assert_uint_eq(Vh[2], 0);      /* padding */
    V[4] = 70000.0f;
    ck_assert_int_eq(half_pack(V, 2, 3, Vh), -1);
    V[4] = INFINITY;
    ck_assert_int_eq(half_pack(V, 2, 3, Vh), -1);
    V[4] = NAN;
    ck_assert_int_eq(half_pack(V, 2, 3, Vh), -1);
    V[4] = 65504.0f; /* the largest half */
    ck_assert_int_eq(half_pack(V, 2, 3, Vh), 0);
}
END_TEST

START_TEST(f16_model_ranks_as_f32)
{
    enc_err err = {0};
    struct model_load_opts lo = model_default_opts;
    ck_assert_int_eq(model_precision_parse("f8", &lo.precision, &err), ENC_EINVAL);
    ck_assert_int_eq(model_precision_parse("f16", &lo.precision, &err), 0);
    if (!half_supported()) {
        ck_assert_int_eq(model_load_opts_check(&lo, &err), ENC_EUNSUPPORTED);
        tu_skip("this CPU lacks AVX2/FMA/F16C");
    }
    char *repo = tu_tmpdir(), path[4300];
    struct mf_data d; /* 40 users x 150 items x 16 factors, 2 seen each */
    mfu_make_data(&d, 40, 150, 16, 1.0f, 2, 37, 0, &rng);
    mfu_save(&d, repo, "h", path, sizeof path);
    struct model *m32 = mfu_load(path, "f32"), *m16 = mfu_load(path, "f16");
    ck_assert_str_eq(mfu_precision(m32), "f32");
    ck_assert_str_eq(mfu_precision(m16), "f16");
    const struct mf_model *a = m32->state, *b = m16->state;
    float *sa = malloc(mf_scratch_floats(a) * sizeof *sa),
          *sb = malloc(mf_scratch_floats(b) * sizeof *sb);
    struct reco_hit ha[10], hb[10];
    size_t na, nb, same = 0, total = 0;
    enum reco_source src;
    for (int64_t u = 0; u < 40; u++) {
        struct reco_query q = {.user = u, .k = 10, .exclude_seen = 1};
        ck_assert_int_eq(mf_recommend(a, &q, sa, ha, &na, &src, &err), 0);
        ck_assert_int_eq(mf_recommend(b, &q, sb, hb, &nb, &src, &err), 0);
        ck_assert_uint_eq(na, 10);
        ck_assert_uint_eq(nb, 10);
        for (size_t i = 0; i < 10; i++) {
            /* seen items stay excluded; scores agree to binary16 precision */
            ck_assert_int_ne(hb[i].item, (int32_t)((2 * u * 37) % 150));
            ck_assert(fabsf(ha[i].score - hb[i].score) < 0.02f);
            same += ha[i].item == hb[i].item;
            total++;
        }
        /* similar runs on the normalised factors, packed too */
        ck_assert_int_eq(mf_similar(a, (int32_t)u, &q, sa, ha, &na, &err), 0);
        ck_assert_int_eq(mf_similar(b, (int32_t)u, &q, sb, hb, &nb, &err), 0);
        for (size_t i = 0; i < 10; i++) {
            ck_assert(fabsf(ha[i].score - hb[i].score) < 0.005f);
            same += ha[i].item == hb[i].item;
            total++;
        }
    }
    /* Only near-ties may swap places. */
    ck_assert_msg(same >= total * 98 / 100, "%zu of %zu ranks agree", same, total);
    free(sa);
    free(sb);
    model_unref(m32);
    model_unref(m16);
    tu_rmrf(repo);
    free(repo);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("half");
    TCase *tc = tcase_create("half");
    tcase_add_test(tc, kernel_matches_dot_products);
    tcase_add_test(tc, pack_refuses_unrepresentable);
    tcase_add_test(tc, f16_model_ranks_as_f32);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
