/*
 * explain.c - why the mf family recommends an item (reco_ops.explain,
 * core/model.h): the per-item contributions of Hu, Koren & Volinsky,
 * "Collaborative Filtering for Implicit Feedback Datasets" (ICDM 2008),
 * section 5, as the `implicit` library's explain() computes them.
 *
 * A user's vector from the least-squares step over the items j they
 * interacted with (confidence c_j, preference p_j) is
 *
 *   x = W Y' C p,   W = (Y'Y + Y'(C - I)Y + reg I)^-1
 *
 * so the score of item i is  y_i' x = sum_j c_j p_j (y_i' W y_j): each item
 * of the user's adds its own term. One Cholesky factorisation of W^-1 per
 * request, one solve per target (W y_i), then one dot product per basis
 * item and target. Items that appear several times in the basis have their
 * terms summed. Nothing of this runs unless a request asks for it.
 */
#include "mf/mf_int.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <string.h>

#define EXPLAIN_MAX_BASIS 4096

int mf_explain(const struct mf_model *m, const struct reco_basis *b, const int32_t *targets,
               size_t n, size_t top, float *scratch, struct reco_because *because,
               size_t *n_because, enc_err *err)
{
    size_t F = m->f, P = half_padded(m->n_items);
    for (size_t t = 0; t < n; t++)
        n_because[t] = 0;
    if (b->n > EXPLAIN_MAX_BASIS)
        return enc_errf(err, ENC_EINVAL, "explain: more than %d items", EXPLAIN_MAX_BASIS);
    for (size_t j = 0; j < b->n; j++)
        if (b->items[j] < 0 || (size_t)b->items[j] >= m->n_items || (b->conf && !(b->conf[j] >= 1)))
            return enc_errf(err, ENC_EINVAL, "explain: bad basis entry %zu", j);
    if (b->n == 0 || n == 0 || top == 0)
        return 0;
    float *acc = scratch;                       /* per row: the summed contribution */
    float *A = scratch + 2 * P, *w = A + F * F; /* the fold-in area */
    memcpy(A, m->yty, F * F * sizeof *A);
    double reg = m->reg;
    if (m->reg_exponent != 0 && m->mean_user > 0) /* as training regularised a row */
        reg *= pow((double)b->n / m->mean_user, m->reg_exponent);
    for (size_t f = 0; f < F; f++)
        A[f * F + f] += (float)reg;
    /* an item of unknown weight (a training or history item) gets what the
     * fold-in gives it: the confidence of the median training pair */
    float c_default = (float)conf_serve(&m->conf, m->conf.typical_weight);
    for (size_t j = 0; j < b->n; j++) {
        float c = b->conf ? b->conf[j] : c_default;
        cblas_ssyr(CblasRowMajor, CblasUpper, (int)F, c - 1.0f, m->V + (size_t)b->items[j] * F, 1,
                   A, (int)F);
    }
    lapack_int info = LAPACKE_spotrf(LAPACK_ROW_MAJOR, 'U', (lapack_int)F, A, (lapack_int)F);
    if (info != 0)
        return enc_errf(err, ENC_EINTERNAL, "explain: system not positive definite (%d)",
                        (int)info);
    for (size_t t = 0; t < n; t++) {
        int32_t it = targets[t];
        if (it < 0 || (size_t)it >= m->n_items)
            continue; /* an item the model lacks: no factors to explain with */
        memcpy(w, m->V + (size_t)it * F, F * sizeof *w);
        LAPACKE_spotrs(LAPACK_ROW_MAJOR, 'U', (lapack_int)F, 1, A, (lapack_int)F, w, 1);
        for (size_t j = 0; j < b->n; j++)
            acc[b->items[j]] = 0;
        double total = 0;
        for (size_t j = 0; j < b->n; j++) {
            float c = b->conf ? b->conf[j] : c_default, p = b->pref ? b->pref[j] : 1.0f;
            float v = c * p * cblas_sdot((int)F, w, 1, m->V + (size_t)b->items[j] * F, 1);
            acc[b->items[j]] += v;
            total += v;
        }
        /* the `top` largest positive sums, best first (ties: the earlier basis item) */
        struct reco_because *out = because + t * top;
        size_t len = 0;
        for (size_t j = 0; j < b->n; j++) {
            int32_t row = b->items[j];
            float v = acc[row];
            if (!(v > 0))
                continue;
            acc[row] = -INFINITY; /* each row once */
            if (len == top && !(v > out[top - 1].share))
                continue;
            size_t at = len < top ? len++ : top - 1;
            while (at > 0 && out[at - 1].share < v) {
                out[at] = out[at - 1];
                at--;
            }
            out[at].item = row;
            out[at].share = v;
        }
        for (size_t q = 0; q < len; q++)
            out[q].share = total != 0 ? (float)(out[q].share / total) : 0.0f;
        n_because[t] = len;
    }
    return 0;
}
