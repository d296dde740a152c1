/* test_diversity.c - the mf family's re-ranking (mf/diversity.c through
 * reco_ops.rerank): diversity 0 keeps the order; marginal relevance (the
 * greedy step of (1 - d) mean relevance / R + d ILD / I, R and I the model's units) picks what
 * a hand computation says; the units are what the model's plain lists have; exactly k
 * items whenever k candidates exist (k above the candidates, a tag cap that cannot hold, diversity
 * 1); ties go to the earlier candidate; the tag cap holds while it can; and on a random model every
 * answer is k distinct candidates. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_testutil.h"

static char *tmp;

/* Six items with two factors, so every cosine is known:
 *   i0 (1, 0)   i1 (1, 0.01)   i2 (0, 1)   i3 (0.99, 0.1)   i4 (-1, 0)   i5 (0.7, 0.7)
 * tags: i0 a, i1 a, i2 b, i3 a+b, i4 (none), i5 b. */
static struct model *hand_model(void)
{
    static const float V[6][2] = {{1, 0}, {1, 0.01f}, {0, 1}, {0.99f, 0.1f}, {-1, 0}, {0.7f, 0.7f}};
    struct mf_data d;
    uint32_t rng = 1;
    mfu_make_data(&d, 2, 6, 2, 1, 1, 1, 1, &rng);
    memcpy(d.item_factors, V, sizeof V);
    static const int64_t off[7] = {0, 1, 2, 3, 5, 5, 6};
    static const int32_t ids[6] = {0, 0, 1, 0, 1, 1};
    free(d.item_tag_offsets);
    free(d.item_tag_ids);
    d.item_tag_offsets = malloc(sizeof off);
    d.item_tag_ids = malloc(sizeof ids);
    memcpy(d.item_tag_offsets, off, sizeof off);
    memcpy(d.item_tag_ids, ids, sizeof ids);
    char path[4300];
    mfu_save(&d, tmp, "hand", path, sizeof path);
    return mfu_load(path, "f32");
}

/* The model's units (R: relevance, I: ILD of its plain lists), as it
 * describes them. */
static void units(const struct model *m, double *R, double *I)
{
    json_t *o = json_object();
    ck_assert_int_eq(m->ops->describe(m->state, o), 0);
    json_t *u = json_object_get(o, "diversity_units");
    ck_assert_ptr_nonnull(u);
    *R = json_real_value(json_object_get(u, "relevance"));
    *I = json_real_value(json_object_get(u, "ild"));
    json_decref(o);
    ck_assert(*R > 0 && *I > 0);
}

/* The `diversity` that weighs relevance and the pairs as (1 - w) : w, the
 * weights the hand computations below are written in: the re-ranking
 * divides them by the model's units, (1 - d) / R : d / I. */
static double knob(const struct model *m, double w)
{
    if (w <= 0 || w >= 1)
        return w;
    double R, I;
    units(m, &R, &I);
    double x = w / (1 - w) * I / R;
    return x / (1 + x);
}

/* Re-rank cands[n] to k through the ops, `diversity` given as the hand
 * weight w (knob); returns the rows chosen in out. */
static size_t rerank_tags(const struct model *m, const struct reco_hit *cands, size_t n, size_t k,
                          double diversity, size_t cap, const int32_t *keys, const uint32_t *off,
                          int32_t *out, size_t *relaxed)
{
    struct reco_hit hits[64];
    struct reco_result res = {.hits = hits};
    struct reco_rerank o = {.k = k,
                            .diversity = knob(m, diversity),
                            .max_per_tag = cap,
                            .tag_keys = keys,
                            .tag_off = off};
    void *scratch = malloc(reco_rerank_scratch_bytes(n));
    enc_err err = {0};
    ck_assert_int_eq(m->ops->reco->rerank(m->state, cands, n, &o, scratch, &res, relaxed, &err), 0);
    free(scratch);
    ck_assert_uint_eq(res.n, k < n ? k : n);
    for (size_t i = 0; i < res.n; i++)
        out[i] = hits[i].item;
    return res.n;
}

static size_t rerank(const struct model *m, const struct reco_hit *cands, size_t n, size_t k,
                     double diversity, size_t cap, int32_t *out, size_t *relaxed)
{
    return rerank_tags(m, cands, n, k, diversity, cap, NULL, NULL, out, relaxed);
}

/* The candidates as a recommend would return them: best first. */
static const struct reco_hit hand_cands[6] = {{0, 1.0f}, {1, 0.99f}, {3, 0.98f},
                                              {5, 0.6f}, {2, 0.5f},  {4, 0.1f}};

START_TEST(zero_keeps_the_order)
{
    struct model *m = hand_model();
    int32_t out[6];
    size_t relaxed;
    rerank(m, hand_cands, 6, 4, 0, 0, out, &relaxed);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(out[i], hand_cands[i].item);
    ck_assert_uint_eq(relaxed, 0);
    model_unref(m);
}
END_TEST

START_TEST(mmr_by_hand)
{
    /* In the hand weight d (rerank() turns it into the knob for this
     * model's units, knob()):
     * v_j = (1 - d) rel_j - d 2/(k'-1) sum_{p chosen} cos(j, p), rel = score / 1.0
     * (cosines: i0-i1 0.99995, i0-i3 0.99494, i1-i3 0.99589, i0-i5 0.70711,
     * i1-i5 0.71414, i1-i2 0.01, i2-i3 0.10050, i2-i5 0.70711, i4 = -i0).
     * d = 0.5, k' = 4, so the weight of a pair is 0.5 * 2/3 = 1/3. First i0
     * (most relevant). Then i1 0.495 - 0.33332 = 0.16168, i3 0.15835, i5
     * 0.3 - 0.23570 = 0.06430, i2 0.25, i4 0.05 + 0.33333 = 0.38333: i4
     * (opposite i0). Then the sums over i0, i4 are ~0: relevance decides,
     * i1 0.495. Then over i0, i4, i1: i3 0.49 - 0.99589 / 3 = 0.15804, i5 0.3
     * - 0.71414 / 3 = 0.06195, i2 0.25 - 0.01 / 3 = 0.24667: i2. The mean of
     * before (a pair's weight 0.5 / 3 at this step) took i3 (0.324 > 0.248). */
    struct model *m = hand_model();
    int32_t out[6];
    size_t relaxed;
    rerank(m, hand_cands, 6, 4, 0.5, 0, out, &relaxed);
    ck_assert_int_eq(out[0], 0);
    ck_assert_int_eq(out[1], 4);
    ck_assert_int_eq(out[2], 1);
    ck_assert_int_eq(out[3], 2);
    /* d = 0.2, k' = 3: a pair weighs 0.2. 0.8 rel - 0.2 cos prefers i1
     * (0.59201) to i2 (0.4) and i4 (0.28); then i4 0.08 + 0.2 * 1.99995 =
     * 0.47999 before i2 (0.398) and i3 (0.784 - 0.2 * 1.99083 = 0.38583): the
     * sum counts i4's distance to both chosen; the mean halved it and took
     * i3 (0.585 against i4's 0.280). */
    rerank(m, hand_cands, 6, 3, 0.2, 0, out, &relaxed);
    ck_assert_int_eq(out[0], 0);
    ck_assert_int_eq(out[1], 1);
    ck_assert_int_eq(out[2], 4);
    /* d = 0.35, k' = 3: i1 0.2935, i3 0.2888, i2 0.325, i4 0.415: the
     * opposite item second; then (sums ~0 for all) i1 0.6435 */
    rerank(m, hand_cands, 6, 3, 0.35, 0, out, &relaxed);
    ck_assert_int_eq(out[0], 0);
    ck_assert_int_eq(out[1], 4);
    ck_assert_int_eq(out[2], 1);
    /* the sum, not the maximum: i0, then i2 (0.45 against i5 -0.054, i3
     * -0.197); then i3 (0.3 - 0.5 (0.99494 + 0.10050) = -0.24772) before
     * i5 (0.3 - 0.5 (0.70711 + 0.70711) = -0.40711), where the maximum (i3
     * 0.995) would have taken i5 */
    struct reco_hit c[4] = {{0, 1.0f}, {2, 0.9f}, {5, 0.6f}, {3, 0.6f}};
    rerank(m, c, 4, 3, 0.5, 0, out, &relaxed);
    ck_assert_int_eq(out[0], 0);
    ck_assert_int_eq(out[1], 2);
    ck_assert_int_eq(out[2], 3);
    /* k above the candidates: the weight is for the k' = 3 items returned
     * (0.5 * 2/2 = 0.5), not k = 9 (0.5 * 2/8): i0, then i2 0.25 before i1
     * (0.495 - 0.5 * 0.99995 = -0.005; with k's weight 0.370), then i1 */
    struct reco_hit three[3] = {{0, 1.0f}, {1, 0.99f}, {2, 0.5f}};
    rerank(m, three, 3, 9, 0.5, 0, out, &relaxed);
    ck_assert_int_eq(out[0], 0);
    ck_assert_int_eq(out[1], 2);
    ck_assert_int_eq(out[2], 1);
    model_unref(m);
}
END_TEST

START_TEST(exactly_k_or_all)
{
    struct model *m = hand_model();
    int32_t out[6];
    size_t relaxed;
    double ds[] = {0, 0.3, 1};
    for (size_t a = 0; a < 3; a++)
        for (size_t k = 1; k <= 9; k++) {
            size_t n = rerank(m, hand_cands, 6, k, ds[a], a == 2 ? 1 : 0, out, &relaxed);
            ck_assert_uint_eq(n, k < 6 ? k : 6);
            for (size_t i = 0; i < n; i++) /* each candidate once */
                for (size_t j = i + 1; j < n; j++)
                    ck_assert_int_ne(out[i], out[j]);
        }
    /* no candidates, no items */
    ck_assert_uint_eq(rerank(m, hand_cands, 0, 5, 0.5, 2, out, &relaxed), 0);
    model_unref(m);
}
END_TEST

START_TEST(ties_go_to_the_earlier)
{
    struct model *m = hand_model();
    int32_t out[6];
    size_t relaxed;
    /* i0 and i1 are nearly the same item; equal scores: i1 listed first wins */
    struct reco_hit c[3] = {{1, 0.5f}, {0, 0.5f}, {2, 0.5f}};
    rerank(m, c, 3, 1, 0.3, 0, out, &relaxed);
    ck_assert_int_eq(out[0], 1);
    /* all scores equal and diversity 1: the first, then the least similar */
    rerank(m, c, 3, 3, 1, 0, out, &relaxed);
    ck_assert_int_eq(out[0], 1);
    ck_assert_int_eq(out[1], 2);
    ck_assert_int_eq(out[2], 0);
    /* the same list twice, the same answer */
    int32_t again[6];
    rerank(m, hand_cands, 6, 5, 0.7, 1, out, &relaxed);
    rerank(m, hand_cands, 6, 5, 0.7, 1, again, &relaxed);
    ck_assert_mem_eq(out, again, 5 * sizeof *out);
    model_unref(m);
}
END_TEST

START_TEST(tag_cap)
{
    struct model *m = hand_model();
    int32_t out[6];
    size_t relaxed;
    /* at most one item per tag: i0 (a), then i1 and i3 carry a: blocked;
     * i5 (b), then i2 (b) blocked; i4 has no tags */
    rerank(m, hand_cands, 6, 3, 0, 1, out, &relaxed);
    ck_assert_int_eq(out[0], 0);
    ck_assert_int_eq(out[1], 5);
    ck_assert_int_eq(out[2], 4);
    ck_assert_uint_eq(relaxed, 0);
    /* six places: the cap cannot hold for the last three; they come in
     * relevance order and are counted */
    rerank(m, hand_cands, 6, 6, 0, 1, out, &relaxed);
    ck_assert_int_eq(out[3], 1);
    ck_assert_int_eq(out[4], 3);
    ck_assert_int_eq(out[5], 2);
    ck_assert_uint_eq(relaxed, 3);
    /* two per tag: i0, i1 (a twice), i5 (b), i2 (b twice); i3 (a, b) blocked */
    rerank(m, hand_cands, 6, 5, 0, 2, out, &relaxed);
    ck_assert_int_eq(out[0], 0);
    ck_assert_int_eq(out[1], 1);
    ck_assert_int_eq(out[2], 5);
    ck_assert_int_eq(out[3], 2);
    ck_assert_int_eq(out[4], 4);
    ck_assert_uint_eq(relaxed, 0);
    model_unref(m);
}
END_TEST

START_TEST(rows_the_model_lacks)
{
    /* a new item (row >= n_items) has no vector and no tags: it competes on
     * relevance alone and is never blocked */
    struct model *m = hand_model();
    int32_t out[6];
    size_t relaxed;
    struct reco_hit c[3] = {{0, 1.0f}, {1, 0.9f}, {7, 0.8f}};
    rerank(m, c, 3, 2, 0.5, 1, out, &relaxed);
    ck_assert_int_eq(out[0], 0);
    ck_assert_int_eq(out[1], 7);
    model_unref(m);
}
END_TEST

START_TEST(caller_tags_override)
{
    /* the caller's tags (the live catalogue's) replace the model's, also for
     * a row the model lacks: keys per candidate in hand_cands' order
     *   i0 {x}  i1 {}  i3 {x}  i5 {y}  i2 {y}  i4 {x}
     * with a cap of one: i0 (x), i1, then i3 blocked (x), i5 (y) */
    struct model *m = hand_model();
    static const int32_t keys[] = {-1, -1, -2, -2, -1};
    static const uint32_t off[] = {0, 1, 1, 2, 3, 4, 5};
    int32_t out[6];
    size_t relaxed;
    rerank_tags(m, hand_cands, 6, 3, 0, 1, keys, off, out, &relaxed);
    ck_assert_int_eq(out[0], 0);
    ck_assert_int_eq(out[1], 1); /* the model's tag a would block it */
    ck_assert_int_eq(out[2], 5);
    ck_assert_uint_eq(relaxed, 0);
    /* a new item (row 7) with the caller's tag x is blocked after i0 */
    struct reco_hit c[3] = {{0, 1.0f}, {7, 0.9f}, {2, 0.8f}};
    static const int32_t k2[] = {3, 3, 4};
    static const uint32_t o2[] = {0, 1, 2, 3};
    rerank_tags(m, c, 3, 2, 0, 1, k2, o2, out, &relaxed);
    ck_assert_int_eq(out[0], 0);
    ck_assert_int_eq(out[1], 2);
    model_unref(m);
}
END_TEST

/* The units (mf_rerank_units): the mean relevance (s / s_max) and ILD of
 * the plain top 10, seen items left out, of the users the model samples -
 * all of them up to 64, else rows s * users / 64 - computed here again from
 * the factors. Then the raw knob on the hand model, whose units change the
 * list the same hand weight gives. */
START_TEST(units_from_plain_lists)
{
    for (size_t users = 40; users <= 100; users += 60) {
        uint32_t r1 = 7, r2 = 7;
        struct mf_data d, ref;
        const size_t NI = 30, F = 4;
        mfu_make_data(&d, users, NI, F, 1, 3, 5, 0, &r1);
        mfu_make_data(&ref, users, NI, F, 1, 3, 5, 0, &r2);
        char path[4300];
        mfu_save(&d, tmp, users == 40 ? "units40" : "units100", path, sizeof path);
        struct model *m = mfu_load(path, "f32");
        double R, I, sr = 0, si = 0;
        units(m, &R, &I);
        size_t S = users < 64 ? users : 64;
        for (size_t s = 0; s < S; s++) {
            size_t u = s * users / S;
            double sc[30];
            for (size_t i = 0; i < NI; i++) {
                sc[i] = 0;
                for (size_t f = 0; f < F; f++)
                    sc[i] += (double)ref.user_factors[u * F + f] * ref.item_factors[i * F + f];
            }
            for (int64_t p = ref.seen_offsets[u]; p < ref.seen_offsets[u + 1]; p++)
                sc[ref.seen_items[p]] = -INFINITY;
            size_t top[10];
            for (size_t c = 0; c < 10; c++) { /* the best left, ties to the lower row */
                size_t b = NI;
                for (size_t i = 0; i < NI; i++)
                    if (sc[i] > -INFINITY && (b == NI || sc[i] > sc[b]))
                        b = i;
                top[c] = b;
                if (c == 0)
                    ck_assert(sc[b] > 0);
                sc[b] = -INFINITY;
            }
            double smax = 0, rel = 0, dist = 0;
            for (size_t c = 0; c < 10; c++) {
                double v = 0, ni = 0, nj;
                for (size_t f = 0; f < F; f++)
                    v += (double)ref.user_factors[u * F + f] * ref.item_factors[top[c] * F + f];
                smax = c == 0 ? v : smax;
                rel += fmax(v / smax, 0); /* a negative score counts 0 */
                for (size_t f = 0; f < F; f++)
                    ni +=
                        (double)ref.item_factors[top[c] * F + f] * ref.item_factors[top[c] * F + f];
                for (size_t e = c + 1; e < 10; e++) {
                    double dot = 0;
                    nj = 0;
                    for (size_t f = 0; f < F; f++) {
                        dot += (double)ref.item_factors[top[c] * F + f] *
                               ref.item_factors[top[e] * F + f];
                        nj += (double)ref.item_factors[top[e] * F + f] *
                              ref.item_factors[top[e] * F + f];
                    }
                    dist += 1 - dot / sqrt(ni * nj);
                }
            }
            sr += rel / 10;
            si += dist / 45;
        }
        ck_assert_double_eq_tol(R, sr / (double)S, 1e-5);
        ck_assert_double_eq_tol(I, si / (double)S, 1e-5);
        model_unref(m);
        mf_data_clear(&ref);
    }
    /* On the hand model the raw knob is not the hand weight: its plain lists
     * (two users, five items each) have R 0.2856 and I 0.9409 (scores that
     * fall fast, items far apart), so a pair weighs c = R / I ~ 0.30 of what
     * it does at the same hand weight. Knob 0.35, k' = 3, pair weight
     * x = 0.35 c ~ 0.106 against 0.65 rel: second i1 0.6435 - 0.99995 x
     * (0.537) before i3 0.637 - 0.99494 x (0.531), i2 0.325, i5 0.315, i4
     * 0.065 + x (0.171); third i3 0.637 - 1.99083 x (0.426) before i2
     * 0.325 - 0.01 x, i4 0.065 + 1.99995 x (0.277). The hand weight 0.35 took
     * i4 second (mmr_by_hand). i1 holds while c < 0.74, i3 while c < 0.45. */
    struct model *m = hand_model();
    double R, I;
    units(m, &R, &I);
    ck_assert_msg(R / I > 0.2 && R / I < 0.45, "R %g I %g", R, I);
    struct reco_hit hits[6];
    struct reco_result res = {.hits = hits};
    struct reco_rerank o = {.k = 3, .diversity = 0.35};
    void *scratch = malloc(reco_rerank_scratch_bytes(6));
    enc_err err = {0};
    size_t relaxed;
    ck_assert_int_eq(
        m->ops->reco->rerank(m->state, hand_cands, 6, &o, scratch, &res, &relaxed, &err), 0);
    ck_assert_int_eq(hits[0].item, 0);
    ck_assert_int_eq(hits[1].item, 1);
    ck_assert_int_eq(hits[2].item, 3);
    free(scratch);
    model_unref(m);
}
END_TEST

START_TEST(random_model_answers)
{
    uint32_t rng = 99;
    struct mf_data d;
    mfu_make_data(&d, 20, 300, 16, 1, 10, 7, 1, &rng);
    char path[4300];
    mfu_save(&d, tmp, "rand", path, sizeof path);
    struct model *m = mfu_load(path, "auto");
    const struct reco_ops *ro = m->ops->reco;
    void *scratch = malloc(ro->scratch_bytes(m->state));
    for (int64_t u = 0; u < 20; u++)
        for (size_t k = 1; k <= 40; k += 13) {
            size_t pool = reco_rerank_pool(k);
            struct reco_hit *cands = malloc(pool * sizeof *cands);
            struct reco_query q = {.k = pool, .user = u, .exclude_seen = 1};
            struct reco_result cr = {.hits = cands};
            enc_err err = {0};
            ck_assert_int_eq(ro->recommend(m->state, &q, scratch, &cr, &err), 0);
            int32_t out[64];
            size_t relaxed;
            size_t n = rerank(m, cands, cr.n, k, 0.4, 0, out, &relaxed);
            ck_assert_uint_eq(n, k);
            for (size_t i = 0; i < n; i++) {
                int found = 0;
                for (size_t j = 0; j < cr.n; j++)
                    found |= cands[j].item == out[i];
                ck_assert(found);
                for (size_t j = i + 1; j < n; j++)
                    ck_assert_int_ne(out[i], out[j]);
            }
            ck_assert_int_eq(out[0], cands[0].item); /* the best comes first */
            free(cands);
        }
    free(scratch);
    model_unref(m);
}
END_TEST

int main(void)
{
    tmp = tu_tmpdir();
    Suite *s = suite_create("diversity");
    TCase *tc = tcase_create("rerank");
    tcase_add_test(tc, zero_keeps_the_order);
    tcase_add_test(tc, mmr_by_hand);
    tcase_add_test(tc, exactly_k_or_all);
    tcase_add_test(tc, ties_go_to_the_earlier);
    tcase_add_test(tc, tag_cap);
    tcase_add_test(tc, rows_the_model_lacks);
    tcase_add_test(tc, caller_tags_override);
    tcase_add_test(tc, units_from_plain_lists);
    tcase_add_test(tc, random_model_answers);
    suite_add_tcase(s, tc);
    int rc = tu_run(s);
    tu_rmrf(tmp);
    free(tmp);
    return rc;
}
