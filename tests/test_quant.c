/* test_quant.c - int8 screening (mf/quant.c) and the mf family's i8 path:
 * the bound holds against double-precision dot products on both kernels
 * (random and adversarial users and items: one dominant factor, values on
 * exact half steps of the quantisation grid, every byte at its extreme,
 * where the unsigned-item correction and the 16-bit pairs are tightest),
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
    if (n > 3)
        memset(V + 3 * f, 0, f * sizeof *V);
    if (n > 5 && f > 1)
        V[5 * f + 1] = 40.0f;
    return V;
}

/* The user for check_bound: 0 random, 1 one dominant factor (the coarsest
 * step for the rest), 2 every value on an exact half step of its grid
 * (t = 1 by the first value; rounding error t/2 everywhere), 3 random
 * signs at the largest magnitude (every p at +-QUANT_QU). */
static void make_user(float *u, size_t f, int kind)
{
    for (size_t j = 0; j < f; j++)
        u[j] = kind == 0   ? uniform(-3, 3)
               : kind == 1 ? uniform(-0.1f, 0.1f)
               : kind == 2 ? (float)((int)uniform(-QUANT_QU, QUANT_QU - 1)) + 0.5f
                           : (uniform(-1, 1) < 0 ? -2.5f : 2.5f);
    if (kind == 1)
        u[f / 2] = -50;
    if (kind == 2)
        u[0] = QUANT_QU;
}

/* Both kernels (the AVX2 one where this CPU has it) for n x f and a user of
 * make_user's kind; item 7 (n > 7) has every value on a half step. */
static void check_bound(size_t n, size_t f, int user_kind)
{
    float *V = make_items(n, f), *u = malloc(f * sizeof *u);
    make_user(u, f, user_kind);
    if (n > 7) {
        for (size_t j = 0; j < f; j++)
            V[7 * f + j] = 0.01f * ((float)(int)uniform(-QUANT_QI, QUANT_QI - 1) + 0.5f);
        V[7 * f] = 0.01f * QUANT_QI;
    }
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
    size_t nc = quant_chunks(n);
    float *cu = malloc(nc * sizeof *cu);
    int kernels = quant_fast() ? 2 : 1;
    for (int k = 0; k < kernels; k++) {
        qi.fast = k; /* 0: portable C, 1: AVX2 */
        ck_assert_int_eq(quant_score(&qi, u, lo[k], w[k], cu), 0);
        double smin = INFINITY, smax = -INFINITY;
        float *ws = malloc(n * sizeof *ws);
        for (size_t i = 0; i < n; i++) {
            double exact = 0, mag = 0;
            for (size_t j = 0; j < f; j++) {
                exact += (double)V[i * f + j] * u[j];
                mag += fabs((double)V[i * f + j] * u[j]);
            }
            float f32 = quant_dot(V + i * f, u, f, k);
            ck_assert_msg(fabs(f32 - exact) <= 1e-6 * (mag + 1), "dot %zu: %g vs %g", i, f32,
                          exact);
            ck_assert_msg(lo[k][i] <= exact && exact <= (double)lo[k][i] + w[k][i],
                          "kernel %d item %zu: %.9g not in [%.9g, +%.9g]", k, i, exact, lo[k][i],
                          w[k][i]);
            ck_assert(lo[k][i] <= f32 && f32 <= lo[k][i] + w[k][i]);
            ws[i] = w[k][i];
            smin = fmin(smin, exact);
            smax = fmax(smax, exact);
        }
        ck_assert(lo[k][3] == 0 && w[k][3] == 0); /* all-zero item: exact 0 */
        /* The interval must be useful: the median one far narrower than the
         * spread of the scores (not for the dominant-factor user, whose
         * other factors all round to 0 by design). */
        qsort(ws, n, sizeof *ws, cmp_float);
        ck_assert_msg(user_kind == 1 || ws[n / 2] < 0.05 * (smax - smin),
                      "median width %g, spread %g", ws[n / 2], smax - smin);
        free(ws);
        for (size_t i = n; i < np; i++)
            ck_assert(lo[k][i] == 0 && w[k][i] == 0); /* padding */
        /* Chunk maxima: exactly the maxima of lower + width (in f32) over
         * each chunk's real items (padding, scored 0, left out). */
        ck_assert_uint_eq(nc, (n + 15) / 16);
        for (size_t c = 0; c < nc; c++) {
            float wu = -INFINITY;
            for (size_t i = c * 16; i < c * 16 + 16 && i < n; i++)
                wu = fmaxf(wu, lo[k][i] + w[k][i]);
            ck_assert_msg(cu[c] == wu, "kernel %d n %zu chunk %zu: %g vs %g", k, n, c, cu[c], wu);
        }
    }
    if (kernels == 2) /* same integer dot products, same arithmetic after */
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
    free(cu);
    quant_free(&qi);
    quant_free(&qi); /* idempotent on an emptied struct */
    free(V);
    free(u);
}

START_TEST(bound_holds)
{
    for (int kind = 0; kind < 4; kind++) {
        check_bound(75, 13, kind); /* 4-block step, then single blocks, padded; odd f */
        check_bound(300, 64, kind);
        check_bound(9, 4, kind);
        check_bound(60, 8, kind); /* the last 4-block step holds a chunk with padding */
        check_bound(64, 5, kind); /* whole chunks, no padding */
        check_bound(17, 3, kind); /* a one-item tail chunk */
    }
}
END_TEST

/* Every byte at an extreme: items of +-1 (q = +-QUANT_QI, stored 0 or
 * 2 QUANT_QI), users of +-1 (p = +-QUANT_QU), f up to the 1024 maximum, so
 * the correction QUANT_QI sum(p) is at its largest and every 16-bit pair of
 * the AVX2 kernel is +-2 (2 QUANT_QI) QUANT_QU, the most it may hold. Both
 * sides are then exact (v = s q, u = t p up to the f32 rounding of s and
 * t), so the interval's midpoint must be the integer dot product itself: a
 * saturated pair or a wrong correction moves it by far more than the
 * tolerance. Items cycle through all +1, all -1, alternating and random
 * signs; so do the users. A fifth kind on both sides: random points of the
 * grid (k / QUANT_QI, k / QUANT_QU as floats), where the quantisation
 * errors are nearly 0 and the width is almost all the f32 rounding
 * allowance, which must still hold the f32 dot products. */
static void check_extremes(size_t n, size_t f)
{
    float *V = malloc(n * f * sizeof *V), *u = malloc(f * sizeof *u);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < f; j++)
            V[i * f + j] = i % 5 == 0   ? 1.0f
                           : i % 5 == 1 ? -1.0f
                           : i % 5 == 2 ? (j % 2 ? -1.0f : 1.0f)
                           : i % 5 == 3 ? (uniform(-1, 1) < 0 ? -1.0f : 1.0f)
                           : j == 0     ? 1.0f
                                        : (float)(int)uniform(-QUANT_QI, QUANT_QI) / QUANT_QI;
    struct quant_items qi;
    ck_assert_int_eq(quant_pack(V, n, f, &qi), 0);
    size_t np = quant_padded(n);
    float *lo = malloc(np * sizeof *lo), *w = malloc(np * sizeof *w);
    float *cu = malloc(quant_chunks(n) * sizeof *cu);
    int kernels = quant_fast() ? 2 : 1;
    for (int kind = 0; kind < 5; kind++) {
        for (size_t j = 0; j < f; j++)
            u[j] = kind == 0    ? 1.0f
                   : kind == 1  ? -1.0f
                   : kind == 2  ? (j % 3 ? -1.0f : 1.0f)
                   : kind == 3  ? (uniform(-1, 1) < 0 ? -1.0f : 1.0f)
                   : j == f - 1 ? -1.0f
                                : (float)(int)uniform(-QUANT_QU, QUANT_QU) / QUANT_QU;
        for (int k = 0; k < kernels; k++) {
            qi.fast = k;
            ck_assert_int_eq(quant_score(&qi, u, lo, w, cu), 0);
            for (size_t i = 0; i < n; i++) {
                double d = 0;
                for (size_t j = 0; j < f; j++)
                    d += (double)V[i * f + j] * u[j];
                double mid = (double)lo[i] + w[i] / 2.0;
                ck_assert_msg(lo[i] <= d && d <= (double)lo[i] + w[i],
                              "f %zu user %d kernel %d item %zu: %g not in [%g, +%g]", f, kind, k,
                              i, d, lo[i], w[i]);
                for (int kd = 0; kd < kernels; kd++) {
                    float f32 = quant_dot(V + i * f, u, f, kd);
                    ck_assert_msg(lo[i] <= f32 && f32 <= lo[i] + w[i],
                                  "f %zu user %d kernel %d item %zu: f32 dot %.9g not in [%.9g, "
                                  "+%.9g]",
                                  f, kind, k, i, f32, lo[i], w[i]);
                }
                ck_assert_msg(fabs(mid - d) <= 1e-5 * f,
                              "f %zu user %d kernel %d item %zu: midpoint %.9g, exact %g", f, kind,
                              k, i, mid, d);
            }
            for (size_t i = n; i < np; i++)
                ck_assert(lo[i] == 0 && w[i] == 0); /* padding: q = 0, corrected exactly */
        }
    }
    free(cu);
    free(lo);
    free(w);
    quant_free(&qi);
    free(V);
    free(u);
}

/* The layout's premise: two products of the widest item and user bytes fit
 * the int16 lanes that maddubs writes. */
_Static_assert(2 * (2 * QUANT_QI) * QUANT_QU <= 32767, "int16 lanes of the int8 step overflow");

START_TEST(correction_exact_at_extremes)
{
    check_extremes(37, 1024); /* the largest f: the largest sums and correction */
    check_extremes(44, 64);
    check_extremes(9, 7); /* unused factors of the last group */
}
END_TEST

START_TEST(degenerate_inputs)
{
    float V[3 * 5] = {1, -2, 3, 0.5f, 0, 0, 0, 0, 0, 0, -1, 1, -1, 1, -1};
    struct quant_items qi;
    ck_assert_int_eq(quant_pack(V, 3, 5, &qi), 0);
    float u[5] = {0}, lo[8], w[8], cu[1];
    ck_assert_int_eq(quant_score(&qi, u, lo, w, cu), 0); /* zero user: every score exactly 0 */
    for (int i = 0; i < 8; i++)
        ck_assert(lo[i] == 0 && w[i] == 0);
    ck_assert(cu[0] == 0);
    u[2] = NAN;
    ck_assert_int_eq(quant_score(&qi, u, lo, w, cu), -1);
    u[2] = INFINITY;
    ck_assert_int_eq(quant_score(&qi, u, lo, w, cu), -1);
    /* subnormal factors: 1 / step overflows, so the codes would be inf or
     * NaN (undefined when made integers: a fuzzed model found it); refused
     * by both kernels, and the caller scores in f32 */
    u[2] = 1e-40f;
    int fast = qi.fast;
    for (qi.fast = 0; qi.fast <= fast; qi.fast++)
        ck_assert_int_eq(quant_score(&qi, u, lo, w, cu), -1);
    qi.fast = fast;
    quant_free(&qi);
    V[7] = NAN;
    ck_assert_int_eq(quant_pack(V, 3, 5, &qi), ENC_EINVAL);
    ck_assert_ptr_null(qi.q);
    float *big = calloc(1025, sizeof *big);
    ck_assert_int_eq(quant_pack(big, 1, 1025, &qi), ENC_EINVAL); /* f > 1024: int32 sums unsafe */
    free(big);
}
END_TEST

START_TEST(select_matches_definition)
{
    enum { N = 203 }; /* blocks of 8 and a tail */
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
            size_t c = quant_select(lower, w, N, NULL, floors[f], fast);
            ck_assert_uint_eq(c, nw);
            ck_assert_int_eq(memcmp(w, want, c * sizeof(int32_t)), 0);
        }
    }
}
END_TEST

/* Reference for quant_floor: the k-th largest lower bound not -inf (ties
 * counted), or -inf when fewer than k are left or k is out of range. */
static float ref_floor(const float *lower, size_t n, size_t k)
{
    float *v = malloc((n + 1) * sizeof *v);
    size_t nl = 0;
    for (size_t i = 0; i < n; i++)
        if (lower[i] != -INFINITY)
            v[nl++] = lower[i];
    qsort(v, nl, sizeof *v, cmp_float);
    float f = k == 0 || k > QUANT_FLOOR_MAX_K || nl < k ? -INFINITY : v[nl - k];
    free(v);
    return f;
}

/* "a before b": higher score, then lower index (the mf tie rule). */
static int ranks_before(float sa, int32_t ia, float sb, int32_t ib)
{
    return sa > sb || (sa == sb && ia < ib);
}

/* The best k of (score[i], i) over the items listed in idx[0..c), best
 * first, by selection: the reference, too plain to be wrong. */
static size_t ref_topk(const float *score, const int32_t *idx, size_t c, size_t k, int32_t *out)
{
    char *used = calloc(c + 1, 1);
    size_t len = 0;
    for (; len < k; len++) {
        size_t b = c;
        for (size_t h = 0; h < c; h++)
            if (!used[h] && (b == c || ranks_before(score[h], idx[h], score[b], idx[b])))
                b = h;
        if (b == c)
            break;
        used[b] = 1;
        out[len] = idx[b];
    }
    free(used);
    return len;
}

/* How items are excluded (set to -inf) after scoring. */
enum excl { EX_NONE, EX_SOME, EX_MOST, EX_ALL_BUT_K, EX_CHUNKS, EX_BEST_HALF, EX_ALL, EX_KINDS };

/* The screen as mf.c's top_screened runs it, on both kernels, against a
 * brute-force top k of the same f32 re-scores (quant_dot) over every item
 * left: the same items in the same order, ties included. Also checks
 * quant_floor against its definition and quant_select with chunk maxima
 * against quant_select without. dup > 0: only dup distinct item rows (many
 * exact ties). */
static void check_screen(size_t n, size_t f, size_t dup)
{
    float *V = make_items(n, f), *u = malloc(f * sizeof *u);
    if (dup)
        for (size_t i = dup; i < n; i++)
            memcpy(V + i * f, V + (i % dup) * f, f * sizeof *V);
    struct quant_items qi;
    ck_assert_int_eq(quant_pack(V, n, f, &qi), 0);
    size_t np = quant_padded(n), nc = quant_chunks(n);
    float *lo = malloc(np * sizeof *lo), *w = malloc(np * sizeof *w), *w2 = malloc(np * sizeof *w2);
    float *cu = malloc(nc * sizeof *cu), *work = malloc(quant_floor_floats(n) * sizeof *work);
    float *lo2 = malloc(np * sizeof *lo2);
    float *exact = malloc(n * sizeof *exact), *sorted = malloc(n * sizeof *sorted);
    float *cs = malloc(n * sizeof *cs);
    int32_t *left = malloc(n * sizeof *left), *want = malloc(n * sizeof *want),
            *got = malloc(33 * sizeof *got), *ref = malloc(33 * sizeof *ref);
    const size_t ks[] = {1, 2, 5, 10, 32, 33};
    for (int fast = 0; fast < (quant_fast() ? 2 : 1); fast++) {
        qi.fast = fast;
        for (int rep = 0; rep < 3; rep++) {
            for (size_t j = 0; j < f; j++)
                u[j] = uniform(-2, 2);
            for (size_t i = 0; i < n; i++)
                exact[i] = quant_dot(V + i * f, u, f, fast);
            for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++)
                for (int ex = 0; ex < EX_KINDS; ex++) {
                    size_t k = ks[ki];
                    ck_assert_int_eq(quant_score(&qi, u, lo, w, cu), 0);
                    /* exclusions, after the kernel wrote its chunk maxima */
                    float median = 0;
                    if (ex == EX_BEST_HALF) { /* as seen items: the best scores go */
                        memcpy(sorted, lo, n * sizeof *sorted);
                        qsort(sorted, n, sizeof *sorted, cmp_float);
                        median = sorted[n / 2];
                    }
                    size_t keep0 = (size_t)(uniform(0, 1) * (float)n);
                    for (size_t i = 0; i < n; i++) {
                        int drop = ex == EX_SOME        ? uniform(0, 1) < 0.3f
                                   : ex == EX_MOST      ? uniform(0, 1) < 0.95f
                                   : ex == EX_ALL_BUT_K ? (i + n - keep0) % n >= k
                                   : ex == EX_CHUNKS    ? (i / 16) % 2 == 1 || i / 16 == nc - 1
                                   : ex == EX_BEST_HALF ? lo[i] >= median
                                                        : ex == EX_ALL;
                        if (drop)
                            lo[i] = -INFINITY;
                    }
                    size_t nl = 0;
                    for (size_t i = 0; i < n; i++)
                        if (lo[i] != -INFINITY)
                            left[nl++] = (int32_t)i;
                    /* the floor: as defined, lower left as it was */
                    memcpy(lo2, lo, np * sizeof *lo2);
                    for (size_t j = 0; j < quant_floor_floats(n); j++)
                        work[j] =
                            uniform(-1e6f, 1e6f); /* garbage: the floor must not read it first */
                    float fl = quant_floor(lo, n, k, work, fast), rf = ref_floor(lo, n, k);
                    ck_assert_msg(fl == rf, "floor n %zu k %zu excl %d kernel %d: %g vs %g", n, k,
                                  ex, fast, fl, rf);
                    ck_assert_int_eq(memcmp(lo, lo2, np * sizeof *lo), 0);
                    if (k > QUANT_FLOOR_MAX_K) { /* top_screened: the k-th best by a top-k pass */
                        for (size_t h = 0; h < nl; h++)
                            sorted[h] = lo[left[h]];
                        qsort(sorted, nl, sizeof *sorted, cmp_float);
                        fl = nl >= k ? sorted[nl - k] : -INFINITY;
                    }
                    /* the screen: skipping chunks by their upper maxima changes nothing */
                    memcpy(w2, w, np * sizeof *w2);
                    size_t nw = quant_select(lo, w2, n, NULL, fl, fast);
                    memcpy(want, w2, nw * sizeof *want);
                    memcpy(w2, w, np * sizeof *w2);
                    size_t c = quant_select(lo, w2, n, cu, fl, fast);
                    ck_assert_uint_eq(c, nw);
                    ck_assert_int_eq(memcmp(w2, want, c * sizeof *want), 0);
                    /* re-score the candidates; the top k must be the brute-force one */
                    for (size_t h = 0; h < c; h++)
                        cs[h] = exact[want[h]];
                    size_t ng = ref_topk(cs, want, c, k, got);
                    for (size_t h = 0; h < nl; h++)
                        cs[h] = exact[left[h]];
                    size_t nr = ref_topk(cs, left, nl, k, ref);
                    ck_assert_msg(ng == nr, "n %zu k %zu excl %d: %zu vs %zu hits", n, k, ex, ng,
                                  nr);
                    ck_assert_uint_eq(nr, nl < k ? nl : k);
                    for (size_t h = 0; h < nr; h++)
                        ck_assert_msg(got[h] == ref[h],
                                      "n %zu f %zu k %zu excl %d kernel %d rank %zu: %d vs %d", n,
                                      f, k, ex, fast, h, got[h], ref[h]);
                }
        }
    }
    quant_free(&qi);
    free(V);
    free(u);
    free(lo);
    free(w);
    free(w2);
    free(cu);
    free(work);
    free(lo2);
    free(exact);
    free(sorted);
    free(cs);
    free(left);
    free(want);
    free(got);
    free(ref);
}

START_TEST(screen_matches_brute_force)
{
    check_screen(203, 24, 0); /* n not a multiple of 8 or 16 */
    check_screen(1682, 8, 0); /* MovieLens 100K's item count */
    check_screen(256, 16, 0); /* whole chunks only */
    check_screen(60, 5, 0);   /* a 4-block step over the padded chunk; nc < 2k for k >= 3 */
    check_screen(521, 12, 7); /* seven distinct rows: ties everywhere */
    check_screen(300, 4, 1);  /* every item the same: all tied */
    check_screen(9, 3, 0);    /* one short chunk */
    check_screen(1, 2, 0);    /* one item */
    check_screen(1040, 6, 0); /* 65 chunks: a second group of 64 */
}
END_TEST

/* The same items in the same order; scores equal up to f32 summation order. */
static void same_hits(const struct reco_hit *a, size_t na, const struct reco_hit *b, size_t nb,
                      const char *what, int64_t u)
{
    ck_assert_msg(na == nb, "%s user %lld: %zu vs %zu hits", what, (long long)u, na, nb);
    for (size_t i = 0; i < na; i++) {
        ck_assert_msg(a[i].item == b[i].item, "%s user %lld rank %zu: item %d vs %d", what,
                      (long long)u, i, a[i].item, b[i].item);
        ck_assert(fabsf(a[i].score - b[i].score) <= 1e-5f * (fabsf(a[i].score) + 1));
    }
}

/* The reference answer of the i8 path: every item not excluded, scored
 * with quant_dot (the exact re-score), best k by score then lower index. */
static size_t ref_hits(const float *V, size_t n, size_t f, const float *u, const char *excluded,
                       size_t k, struct reco_hit *out)
{
    const int fast = quant_fast(); /* as the model packed: CPUID is slow in a VM, ask once */
    float *sc = malloc(n * sizeof *sc);
    int32_t *idx = malloc(n * sizeof *idx), *top = malloc((k + 1) * sizeof *top);
    size_t nl = 0;
    for (size_t i = 0; i < n; i++)
        if (!excluded[i]) {
            idx[nl] = (int32_t)i;
            sc[nl++] = quant_dot(V + i * f, u, f, fast);
        }
    size_t len = ref_topk(sc, idx, nl, k, top);
    for (size_t h = 0; h < len; h++) {
        out[h].item = top[h];
        out[h].score = quant_dot(V + (size_t)top[h] * f, u, f, fast);
    }
    free(sc);
    free(idx);
    free(top);
    return len;
}

/* Exactly equal: items, order and scores (the same f32 arithmetic). */
static void exact_hits(const struct reco_hit *a, size_t na, const struct reco_hit *b, size_t nb,
                       const char *what, int64_t u)
{
    ck_assert_msg(na == nb, "%s %lld: %zu vs %zu hits", what, (long long)u, na, nb);
    for (size_t i = 0; i < na; i++)
        ck_assert_msg(a[i].item == b[i].item && a[i].score == b[i].score,
                      "%s %lld rank %zu: item %d (%.9g) vs %d (%.9g)", what, (long long)u, i,
                      a[i].item, a[i].score, b[i].item, b[i].score);
}

/* One model of users x items x f (dup > 0: only dup distinct item rows, so
 * scores tie): every query kind on the i8 model answers as the brute-force
 * reference does, and (without ties, whose order f32 rounding may flip) as
 * the f32 model does. Seen items: 5 per user, step 53 (tags: item % 3 == 0
 * carries "a"). */
static void check_model(size_t users, size_t items, size_t f, size_t dup)
{
    enc_err err = {0};
    char *repo = tu_tmpdir(), path[4300];
    struct mf_data d;
    mfu_make_data(&d, users, items, f, 0.5f, 5, 53, 1, &rng);
    if (dup)
        for (size_t i = dup; i < items; i++)
            memcpy(d.item_factors + i * f, d.item_factors + (i % dup) * f, f * sizeof(float));
    float *U = malloc(users * f * sizeof *U), *V = malloc(items * f * sizeof *V),
          *Vn = malloc(items * f * sizeof *Vn);
    memcpy(U, d.user_factors, users * f * sizeof *U);
    memcpy(V, d.item_factors, items * f * sizeof *V);
    for (size_t i = 0; i < items; i++) { /* as mf_load normalises */
        double n2 = 0;
        for (size_t j = 0; j < f; j++)
            n2 += (double)V[i * f + j] * V[i * f + j];
        float inv = n2 > 0 ? (float)(1.0 / sqrt(n2)) : 0.0f;
        for (size_t j = 0; j < f; j++)
            Vn[i * f + j] = V[i * f + j] * inv;
    }
    int32_t *seen = malloc(users * 5 * sizeof *seen);
    memcpy(seen, d.seen_items, users * 5 * sizeof *seen);
    mfu_save(&d, repo, "q", path, sizeof path);
    struct model *m32 = mfu_load(path, "f32"), *m8 = mfu_load(path, "i8");
    ck_assert_str_eq(mfu_precision(m32), "f32");
    ck_assert_str_eq(mfu_precision(m8), "i8");
    const struct mf_model *a = m32->state, *b = m8->state;
    float *sa = malloc(mf_scratch_floats(a) * sizeof *sa),
          *sb = malloc(mf_scratch_floats(b) * sizeof *sb);
    struct reco_hit *ha = malloc(items * sizeof *ha), *hb = malloc(items * sizeof *hb),
                    *hr = malloc(items * sizeof *hr);
    char *excl = malloc(items);
    int32_t *most = malloc(items * sizeof *most), *cand = malloc(items * sizeof *cand);
    float *fold = malloc((f * f + f) * sizeof *fold);
    size_t na, nb, nr;
    enum reco_source src;
    const int32_t hist[] = {4, 9, 250 % (int32_t)items}, tag_a[] = {0};
    for (int64_t u = 0; u < (int64_t)users; u++) {
        size_t k = 1 + (size_t)u % 40; /* k from 1 to 40: both sides of 32 */
        /* all but k + u % 3 items excluded, the kept ones spread out */
        size_t keep = k + (size_t)u % 3, n_most = 0, nc = 0;
        for (size_t i = 0; i < items; i++) {
            if ((i * 7 + (size_t)u) % items >= keep)
                most[n_most++] = (int32_t)i;
            if (i % 5 == (size_t)u % 5)
                cand[nc++] = (int32_t)i;
        }
        struct reco_query qs[] = {
            {.user = u, .k = k, .exclude_seen = 1},
            {.user = u, .k = k, .exclude = most, .n_exclude = n_most}, /* heavy: all but `keep` */
            {.user = u, .k = k, .exclude = most, .n_exclude = items - k}, /* all but k */
            {.user = u, .k = k, .exclude_seen = 1, .tags = tag_a, .n_tags = 1},
            {.user = u,
             .k = k,
             .exclude = most,
             .n_exclude = n_most / 2,
             .tags = tag_a,
             .n_tags = 1},
            {.user = -1, .k = k, .exclude_seen = 1, .history = hist, .n_history = 3},
            {.user = u, .k = items, .exclude_seen = 1}, /* k beyond the eligible items */
            {.user = u, .k = k, .exclude_seen = 1, .candidates = cand, .n_candidates = nc},
            {.user = u, .k = 0, .exclude_seen = 1}, /* nothing asked, nothing returned */
        };
        for (size_t i = 0; i < sizeof qs / sizeof *qs; i++) {
            const struct reco_query *q = &qs[i];
            ck_assert_int_eq(mf_recommend(a, q, sa, ha, &na, &src, &err), 0);
            ck_assert_int_eq(mf_recommend(b, q, sb, hb, &nb, &src, &err), 0);
            if (!dup)
                same_hits(ha, na, hb, nb, "recommend", u);
            if (q->candidates) /* not screened: f32 dot products of the few */
                continue;
            memset(excl, 0, items);
            for (size_t e = 0; e < q->n_exclude; e++)
                excl[q->exclude[e]] = 1;
            for (size_t t = 0; q->n_tags && t < items; t++)
                excl[t] |= t % 3 != 0;
            const float *uv = U + (size_t)(u < 0 ? 0 : u) * f;
            if (q->user >= 0 && q->exclude_seen)
                for (size_t p = 0; p < 5; p++)
                    excl[seen[(size_t)u * 5 + p]] = 1;
            if (q->n_history) {
                ck_assert_int_eq(mf_fold_in(b, q->history, q->n_history, fold, &err), 0);
                uv = fold + f * f;
                for (size_t h = 0; h < q->n_history; h++)
                    excl[q->history[h]] = 1;
            }
            nr = ref_hits(V, items, f, uv, excl, q->k, hr);
            exact_hits(hb, nb, hr, nr, "recommend vs reference, user", u);
            if (i == 6)
                ck_assert_uint_eq(nb, items - 5); /* every unseen item, all ranked */
        }
        int32_t item = (int32_t)((size_t)u * 11 % items);
        struct reco_query sqs[] = {
            {.k = k},
            {.k = k, .exclude = most, .n_exclude = n_most},
            {.k = k, .tags = tag_a, .n_tags = 1},
        };
        for (size_t i = 0; i < sizeof sqs / sizeof *sqs; i++) {
            ck_assert_int_eq(mf_similar(a, item, &sqs[i], sa, ha, &na, &err), 0);
            ck_assert_int_eq(mf_similar(b, item, &sqs[i], sb, hb, &nb, &err), 0);
            if (!dup)
                same_hits(ha, na, hb, nb, "similar", u);
            memset(excl, 0, items);
            for (size_t e = 0; e < sqs[i].n_exclude; e++)
                excl[sqs[i].exclude[e]] = 1;
            for (size_t t = 0; sqs[i].n_tags && t < items; t++)
                excl[t] |= t % 3 != 0;
            excl[item] = 1;
            nr = ref_hits(Vn, items, f, Vn + (size_t)item * f, excl, sqs[i].k, hr);
            exact_hits(hb, nb, hr, nr, "similar vs reference, item", item);
        }
    }
    free(sa);
    free(sb);
    free(ha);
    free(hb);
    free(hr);
    free(excl);
    free(most);
    free(cand);
    free(fold);
    free(U);
    free(V);
    free(Vn);
    free(seen);
    model_unref(m32);
    model_unref(m8);
    tu_rmrf(repo);
    free(repo);
}

START_TEST(i8_model_answers_as_f32)
{
    if (!quant_fast())
        printf("test_quant: i8 checked with the portable kernel: this CPU lacks AVX2/FMA\n");
    check_model(30, 300, 24, 0); /* 300 = 18 chunks and 12 items */
    check_model(45, 257, 8, 0);  /* one item in the last chunk */
    check_model(45, 256, 13, 0); /* whole chunks */
    check_model(45, 331, 16, 6); /* six distinct rows: ties decided by index */
    check_model(33, 1100, 8, 0); /* 69 chunks: the chunk floor up to k = 32 */
}
END_TEST

/* The graph walk's row codes (quant_code_row, quant_dot_s8[_rows]): every
 * code within [-127, 127] and half a step of its value, a zero or
 * non-finite row coded 0 with scale 0, and the int8 product exact (the
 * AVX2 kernel equals the plain C sum, at the extremes too). */
/* quant_unit_rows: each row over its norm (a 3-4-5 row, a tiny row whose
 * squares underflow in f32), a zero row stays zero (no NaN). */
START_TEST(unit_rows)
{
    const float V[3 * 2] = {3, -4, 0, 0, 3e-30f, 4e-30f};
    float out[3 * 2];
    quant_unit_rows(V, 3, 2, out);
    ck_assert_float_eq_tol(out[0], 0.6f, 1e-7f);
    ck_assert_float_eq_tol(out[1], -0.8f, 1e-7f);
    ck_assert_float_eq(out[2], 0.0f);
    ck_assert_float_eq(out[3], 0.0f);
    ck_assert_float_eq_tol(out[4], 0.6f, 1e-6f);
    ck_assert_float_eq_tol(out[5], 0.8f, 1e-6f);
}
END_TEST

START_TEST(walk_codes_exact_and_bounded)
{
    enum { COLS = 96, F = 70, ROWS = 50 };
    _Alignas(64) int8_t codes[ROWS][COLS];
    _Alignas(64) int8_t p[COLS];
    float scale[ROWS], x[F];
    int32_t rows[ROWS];
    for (int fast = quant_fast(); fast >= 0; fast--) /* AVX2 then C: codes from C remain */
        for (int r = 0; r < ROWS; r++) {
            for (int j = 0; j < F; j++)
                x[j] = r == 0   ? 0
                       : r == 1 ? (j % 2 ? 3.0f : -3.0f)
                                : uniform(-2, 2) * (float)(r % 7);
            if (r == 2)
                x[5] = 50; /* one dominant factor */
            scale[r] = quant_code_row(x, F, codes[r], COLS, fast);
            rows[r] = ROWS - 1 - r;
            float mx = 0;
            for (int j = 0; j < F; j++)
                mx = fabsf(x[j]) > mx ? fabsf(x[j]) : mx;
            ck_assert(scale[r] == mx / 127.0f);
            for (int j = 0; j < COLS; j++) {
                ck_assert_int_ge(codes[r][j], -127);
                if (j >= F) {
                    ck_assert_int_eq(codes[r][j], 0); /* padding */
                    continue;
                }
                ck_assert_msg(fabsf(x[j] - scale[r] * (float)codes[r][j]) <= scale[r] * 0.5001f,
                              "row %d factor %d: %g coded %d at scale %g", r, j, x[j], codes[r][j],
                              scale[r]);
            }
        }
    ck_assert(scale[0] == 0);
    ck_assert_int_eq(codes[1][0], -127); /* the extremes, both signs */
    ck_assert_int_eq(codes[1][1], 127);
    for (int fast = 0; fast <= quant_fast(); fast++)
        for (int bad = 0; bad < 3; bad++) { /* NaN or inf anywhere: no codes */
            for (int j = 0; j < F; j++)
                x[j] = 1;
            x[bad == 2 ? F - 1 : 3] = bad ? INFINITY : NAN;
            memset(p, 5, sizeof p);
            ck_assert(quant_code_row(x, F, p, COLS, fast) == 0);
            for (int j = 0; j < COLS; j++)
                ck_assert_int_eq(p[j], 0);
        }
    /* products, against the plain sum; p at its extremes too */
    for (int trial = 0; trial < 3; trial++) {
        for (int j = 0; j < COLS; j++)
            p[j] = trial == 0   ? 127
                   : trial == 1 ? (j % 3 ? -127 : 127)
                                : (int8_t)uniform(-127, 127);
        float out[ROWS];
        quant_dot_s8_rows(&codes[0][0], COLS, scale, rows, ROWS, p, 0.5f, out, quant_fast());
        for (int r = 0; r < ROWS; r++) {
            int32_t want = 0;
            for (int j = 0; j < COLS; j++)
                want += (int32_t)codes[r][j] * p[j];
            ck_assert_int_eq(quant_dot_s8(codes[r], p, COLS, quant_fast()), want);
            ck_assert_int_eq(quant_dot_s8(codes[r], p, COLS, 0), want);
            int32_t row = rows[r];
            ck_assert(out[r] == (float)quant_dot_s8(codes[row], p, COLS, 0) * (scale[row] * 0.5f));
        }
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("quant");
    TCase *tc = tcase_create("quant");
    tcase_add_test(tc, bound_holds);
    tcase_add_test(tc, correction_exact_at_extremes);
    tcase_add_test(tc, degenerate_inputs);
    tcase_add_test(tc, select_matches_definition);
    tcase_add_test(tc, screen_matches_brute_force);
    tcase_add_test(tc, i8_model_answers_as_f32);
    tcase_add_test(tc, walk_codes_exact_and_bounded);
    tcase_add_test(tc, unit_rows);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
