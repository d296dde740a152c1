/* test_half.c - the binary16 scoring kernel (mf/half.c) and the mf family's
 * f16 path: scores against double-precision dot products, padding, refusal
 * of values binary16 cannot hold, and rankings equal to the f32 path; the
 * plain binary16 rows (the f16 user table, --user-precision f16): every
 * half converted exactly, rounding to nearest even, and a model with an
 * f16 user table against the same model with f32 users. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/st.h"
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

static int keep_all_but_users(const char *name, int is_meta, void *ctx)
{
    (void)ctx;
    return is_meta || strcmp(name, "user_factors") != 0;
}

/* Every one of the 65536 halves widens to the value the portable oracle
 * gives and narrows back to itself (NaNs: to a NaN); floats between two
 * halves round to the nearer one, ties to the even one. */
START_TEST(rows_convert_exactly)
{
    for (uint32_t h = 0; h < 65536; h++) {
        uint16_t in = (uint16_t)h, back = 0;
        float x;
        half_to_floats(&in, 1, &x);
        int e = (h >> 10) & 31;
        if (e == 31) {
            ck_assert(!isfinite(x));
            ck_assert_int_eq(half_all_finite(&in, 1), 0);
            ck_assert_int_eq(half_from_floats(&x, 1, &back), -1);
            continue;
        }
        ck_assert_int_eq(half_all_finite(&in, 1), 1);
        ck_assert_msg((double)x == half_to_double(in), "%04x: %g vs %g", h, x, half_to_double(in));
        ck_assert_int_eq(half_from_floats(&x, 1, &back), 0);
        ck_assert_msg(back == in || (x == 0 && (back & 0x7fff) == 0), "%04x -> %g -> %04x", h, x,
                      back);
        /* between this half and the next one up in magnitude */
        if ((h & 0x7fff) < 0x7bff) {
            uint16_t next = (uint16_t)(h + 1);
            double lo = half_to_double(in), hi = half_to_double(next);
            float mid = (float)((lo + hi) / 2), near_lo = (float)(lo + (hi - lo) / 4),
                  near_hi = (float)(lo + 3 * (hi - lo) / 4);
            uint16_t r;
            ck_assert_int_eq(half_from_floats(&near_lo, 1, &r), 0);
            ck_assert_uint_eq(r, in);
            ck_assert_int_eq(half_from_floats(&near_hi, 1, &r), 0);
            ck_assert_uint_eq(r, next);
            ck_assert_int_eq(half_from_floats(&mid, 1, &r), 0);
            ck_assert_uint_eq(r, (in & 1) ? next : in); /* the tie: to even */
        }
    }
    float big[3] = {1, 65520.0f, 2}; /* rounds past 65504: refused */
    uint16_t out[3];
    ck_assert_int_eq(half_from_floats(big, 3, out), -1);
    big[1] = -65504.0f;
    ck_assert_int_eq(half_from_floats(big, 3, out), 0);
    ck_assert_uint_eq(out[1], 0xfbff);
    big[1] = 1e-8f; /* under half the smallest subnormal: zero */
    ck_assert_int_eq(half_from_floats(big, 3, out), 0);
    ck_assert_uint_eq(out[1], 0);
}
END_TEST

/* The same model saved with f32 and with f16 users: the file's table is
 * F16 and half the bytes, each user row is the f32 row rounded, and the
 * recommendations agree (up to near-ties) on every scoring kernel. */
START_TEST(f16_user_table_against_f32)
{
    enc_err err = {0};
    char *repo = tu_tmpdir(), p32[4300], p16[4300];
    struct mf_data d;
    uint32_t r0 = rng;
    mfu_make_data(&d, 60, 200, 24, 1.0f, 3, 41, 0, &rng);
    mfu_save(&d, repo, "u32", p32, sizeof p32);
    rng = r0; /* the same factors again */
    mfu_make_data(&d, 60, 200, 24, 1.0f, 3, 41, 0, &rng);
    d.user_f16 = 1;
    mfu_save(&d, repo, "u16", p16, sizeof p16);

    st_file *f32 = NULL, *f16 = NULL;
    ck_assert_int_eq(st_open(p32, &f32, &err), 0);
    ck_assert_int_eq(st_open(p16, &f16, &err), 0);
    const st_tensor *t32 = st_find(f32, "user_factors"), *t16 = st_find(f16, "user_factors");
    ck_assert_int_eq(t32->dtype, ST_F32);
    ck_assert_int_eq(t16->dtype, ST_F16);
    ck_assert_uint_eq(t16->nbytes * 2, t32->nbytes);
    ck_assert_int_eq(st_find(f16, "item_factors")->dtype, ST_F32);

    const char *kernels[] = {"f32", "i8", "f16"};
    for (size_t kk = 0; kk < 3; kk++) {
        if (strcmp(kernels[kk], "f32") != 0 && !half_supported())
            continue; /* i8 and f16 kernels need AVX2 */
        struct model *a = mfu_load(p32, kernels[kk]), *b = mfu_load(p16, kernels[kk]);
        const struct reco_ops *ro = b->ops->reco;
        json_t *o = json_object();
        b->ops->describe(b->state, o);
        ck_assert_str_eq(json_string_value(json_object_get(o, "user_precision")), "f16");
        json_decref(o);
        size_t F = 24, same = 0, total = 0;
        for (int64_t u = 0; u < 60; u++) {
            const float *ua = a->ops->reco->user_factors(a->state, u);
            float ub[24];
            memcpy(ub, ro->user_factors(b->state, u), sizeof ub);
            const uint16_t *raw = (const uint16_t *)t16->data + u * (int64_t)F;
            for (size_t j = 0; j < F; j++) {
                uint16_t h;
                ck_assert_int_eq(half_from_floats(ua + j, 1, &h), 0);
                ck_assert_uint_eq(raw[j], h); /* the stored half is the f32 value rounded */
                ck_assert(fabsf(ub[j] - ua[j]) <= fabsf(ua[j]) / 2048 + 1e-7f);
            }
            float *sa = malloc(mf_scratch_floats(a->state) * sizeof *sa),
                  *sb = malloc(mf_scratch_floats(b->state) * sizeof *sb);
            struct reco_hit ha[10], hb[10];
            size_t na, nb;
            enum reco_source src;
            struct reco_query q = {.user = u, .k = 10, .exclude_seen = 1};
            ck_assert_int_eq(mf_recommend(a->state, &q, sa, ha, &na, &src, &err), 0);
            ck_assert_int_eq(mf_recommend(b->state, &q, sb, hb, &nb, &src, &err), 0);
            ck_assert_int_eq(src, RECO_FROM_USER);
            ck_assert_uint_eq(na, 10);
            ck_assert_uint_eq(nb, 10);
            for (size_t i = 0; i < 10; i++) {
                ck_assert(fabsf(ha[i].score - hb[i].score) < 0.01f);
                same += ha[i].item == hb[i].item;
                total++;
            }
            free(sa);
            free(sb);
        }
        ck_assert_msg(same >= total * 97 / 100, "%s: %zu of %zu ranks agree", kernels[kk], same,
                      total);
        ck_assert_ptr_null(ro->user_factors(b->state, 60)); /* out of range */
        model_unref(a);
        model_unref(b);
    }
    st_close(f32);
    st_close(f16);
    tu_rmrf(repo);
    free(repo);
}
END_TEST

/* A user factor binary16 cannot hold is refused when saving; an f16 user
 * table holding an infinity is refused when loading. */
START_TEST(f16_user_table_refusals)
{
    enc_err err = {0};
    char *repo = tu_tmpdir(), out[4200];
    struct mf_data d;
    mfu_make_data(&d, 5, 20, 4, 1.0f, 1, 3, 0, &rng);
    d.user_f16 = 1;
    d.user_factors[7] = 1e5f;
    snprintf(out, sizeof out, "%s/big", repo);
    ck_assert_int_ne(model_save(&mf_ops, &d, NULL, NULL, out, 0, NULL, &err), 0);
    d.user_factors[7] = 0.5f;
    snprintf(out, sizeof out, "%s/ok", repo);
    ck_assert_msg(model_save(&mf_ops, &d, NULL, NULL, out, 0, NULL, &err) == 0, "%s", err.msg);
    mf_data_clear(&d);

    /* the same file with one user factor turned into +infinity (0x7c00),
     * its checksum redone so that only the mf loader can object */
    char path[4300];
    snprintf(path, sizeof path, "%s/ok/1/model.safetensors", repo);
    st_file *f = NULL;
    ck_assert_int_eq(st_open(path, &f, &err), 0);
    const st_tensor *t = st_find(f, "user_factors");
    ck_assert_int_eq(t->dtype, ST_F16);
    uint16_t *bad = malloc(t->nbytes);
    memcpy(bad, t->data, t->nbytes);
    bad[3] = 0x7c00;
    st_writer *w = st_writer_new();
    ck_assert_int_eq(st_writer_copy(w, f, keep_all_but_users, NULL), 0);
    ck_assert_int_eq(st_writer_add(w, "user_factors", ST_F16, 2, t->shape, bad), 0);
    char bad_path[4300];
    snprintf(bad_path, sizeof bad_path, "%s/bad.safetensors", repo);
    ck_assert_int_eq(st_writer_write(w, bad_path, &err), 0);
    st_writer_free(w);
    st_close(f);
    free(bad);
    struct model *m = NULL;
    ck_assert_int_ne(model_load("m", 1, bad_path, &model_default_opts, &m, &err), 0);
    ck_assert_msg(strstr(err.msg, "NaN or infinity") != NULL, "%s", err.msg);
    ck_assert_ptr_null(m);
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
    tcase_add_test(tc, rows_convert_exactly);
    tcase_add_test(tc, f16_user_table_against_f32);
    tcase_add_test(tc, f16_user_table_refusals);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
