/* test_explain.c - why an item is recommended (mf/explain.c through
 * reco_ops.explain): the per-item contributions of Hu, Koren & Volinsky
 * section 5 against a double-precision computation written out here
 * (Gaussian elimination, no LAPACK), with confidences and preferences,
 * repeated items summed, a one-item basis owning the whole score, rows the
 * model lacks left unexplained and bad input refused. tests/explain_ref.py
 * checks the server's answers against numpy (tests/e2e_diversity.sh). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_testutil.h"

#define F 4
#define NI 30

static char *tmp;
static float V[NI * F];

static struct model *small_model(void)
{
    uint32_t rng = 5;
    struct mf_data d;
    mfu_make_data(&d, 3, NI, F, 1, 6, 5, 0, &rng);
    memcpy(V, d.item_factors, sizeof V);
    char path[4300];
    mfu_save(&d, tmp, "x", path, sizeof path);
    return mfu_load(path, "f32");
}

/* Solve A x = b (F x F, double) by Gaussian elimination with pivoting. */
static void solve(double A[F][F], double *b)
{
    for (int c = 0; c < F; c++) {
        int p = c;
        for (int r = c + 1; r < F; r++)
            if (fabs(A[r][c]) > fabs(A[p][c]))
                p = r;
        for (int j = 0; j < F; j++) {
            double t = A[c][j];
            A[c][j] = A[p][j];
            A[p][j] = t;
        }
        double t = b[c];
        b[c] = b[p];
        b[p] = t;
        for (int r = c + 1; r < F; r++) {
            double f = A[r][c] / A[c][c];
            for (int j = c; j < F; j++)
                A[r][j] -= f * A[c][j];
            b[r] -= f * b[c];
        }
    }
    for (int c = F - 1; c >= 0; c--) {
        for (int j = c + 1; j < F; j++)
            b[c] -= A[c][j] * b[j];
        b[c] /= A[c][c];
    }
}

/* The contribution of every basis entry to target's score, in double. */
static double reference(const int32_t *items, const float *conf, const float *pref, size_t n,
                        int32_t target, double reg, double *contrib)
{
    double A[F][F] = {{0}}, w[F];
    for (int i = 0; i < NI; i++)
        for (int a = 0; a < F; a++)
            for (int b = 0; b < F; b++)
                A[a][b] += (double)V[i * F + a] * V[i * F + b];
    for (int a = 0; a < F; a++)
        A[a][a] += reg;
    for (size_t j = 0; j < n; j++)
        for (int a = 0; a < F; a++)
            for (int b = 0; b < F; b++)
                A[a][b] += (conf[j] - 1.0) * V[items[j] * F + a] * V[items[j] * F + b];
    for (int a = 0; a < F; a++)
        w[a] = V[target * F + a];
    solve(A, w);
    double total = 0;
    for (size_t j = 0; j < n; j++) {
        double dot = 0;
        for (int a = 0; a < F; a++)
            dot += w[a] * V[items[j] * F + a];
        contrib[j] = conf[j] * pref[j] * dot;
        total += contrib[j];
    }
    return total;
}

START_TEST(matches_the_formula)
{
    struct model *m = small_model();
    const struct reco_ops *ro = m->ops->reco;
    int32_t items[6] = {2, 9, 14, 20, 27, 9}; /* 9 twice: summed */
    float conf[6] = {2, 5, 1.5f, 3, 2, 2}, pref[6] = {1, 1, 0, 1, 1, 1};
    struct reco_basis b = {items, conf, pref, 6};
    int32_t targets[4] = {0, 5, 11, 29};
    struct reco_because because[4 * 3];
    size_t nb[4];
    void *scratch = malloc(ro->scratch_bytes(m->state));
    enc_err err = {0};
    ck_assert_int_eq(ro->explain(m->state, &b, targets, 4, 3, scratch, because, nb, &err), 0);
    for (int t = 0; t < 4; t++) {
        double c[6];
        double total = reference(items, conf, pref, 6, targets[t], 0.1, c);
        c[1] += c[5]; /* item 9 once, with both terms */
        c[5] = -INFINITY;
        /* the three largest positive sums, best first */
        size_t want = 0;
        for (int q = 0; q < 3; q++) {
            int best = -1;
            for (int j = 0; j < 6; j++)
                if (c[j] > 0 && (best < 0 || c[j] > c[best]))
                    best = j;
            if (best < 0)
                break;
            ck_assert_int_eq(because[t * 3 + q].item, items[best]);
            ck_assert_msg(fabs(because[t * 3 + q].share - c[best] / total) < 1e-4,
                          "target %d place %d: %g, want %g", targets[t], q,
                          because[t * 3 + q].share, c[best] / total);
            c[best] = -INFINITY;
            want++;
        }
        ck_assert_uint_eq(nb[t], want);
    }
    free(scratch);
    model_unref(m);
}
END_TEST

START_TEST(defaults_and_edges)
{
    struct model *m = small_model();
    const struct reco_ops *ro = m->ops->reco;
    void *scratch = malloc(ro->scratch_bytes(m->state));
    struct reco_because because[6];
    size_t nb[2];
    enc_err err = {0};
    /* no conf / pref: 1 + alpha and 1 (alpha is 1 in the fixture) */
    int32_t one[1] = {7}, two[2] = {7, 8};
    float c2[2] = {2, 2}, p1[2] = {1, 1};
    int32_t targets[2] = {7, 40}; /* 40: a row the model lacks */
    struct reco_basis b = {two, NULL, NULL, 2}, bc = {two, c2, p1, 2};
    ck_assert_int_eq(ro->explain(m->state, &b, targets, 2, 3, scratch, because, nb, &err), 0);
    struct reco_because because2[6];
    size_t nb2[2];
    ck_assert_int_eq(ro->explain(m->state, &bc, targets, 2, 3, scratch, because2, nb2, &err), 0);
    ck_assert_uint_eq(nb[0], nb2[0]);
    for (size_t q = 0; q < nb[0]; q++) {
        ck_assert_int_eq(because[q].item, because2[q].item);
        ck_assert_float_eq_tol(because[q].share, because2[q].share, 1e-6);
    }
    ck_assert_uint_eq(nb[1], 0);
    /* one item of the user's: it is the whole score */
    struct reco_basis b1 = {one, NULL, NULL, 1};
    ck_assert_int_eq(ro->explain(m->state, &b1, targets, 1, 3, scratch, because, nb, &err), 0);
    ck_assert_uint_eq(nb[0], 1);
    ck_assert_int_eq(because[0].item, 7);
    ck_assert_float_eq_tol(because[0].share, 1.0, 1e-5);
    /* empty basis: nothing to say */
    struct reco_basis b0 = {one, NULL, NULL, 0};
    ck_assert_int_eq(ro->explain(m->state, &b0, targets, 1, 3, scratch, because, nb, &err), 0);
    ck_assert_uint_eq(nb[0], 0);
    /* refused: a basis row out of range, a confidence below 1 */
    int32_t badrow[1] = {NI};
    float badc[1] = {0.5f};
    struct reco_basis bb = {badrow, NULL, NULL, 1}, bcf = {one, badc, NULL, 1};
    ck_assert_int_eq(ro->explain(m->state, &bb, targets, 1, 3, scratch, because, nb, &err),
                     ENC_EINVAL);
    ck_assert_int_eq(ro->explain(m->state, &bcf, targets, 1, 3, scratch, because, nb, &err),
                     ENC_EINVAL);
    free(scratch);
    model_unref(m);
}
END_TEST

int main(void)
{
    tmp = tu_tmpdir();
    Suite *s = suite_create("explain");
    TCase *tc = tcase_create("explain");
    tcase_add_test(tc, matches_the_formula);
    tcase_add_test(tc, defaults_and_edges);
    suite_add_tcase(s, tc);
    int rc = tu_run(s);
    tu_rmrf(tmp);
    free(tmp);
    return rc;
}
