/*
 * live_fold.c - a user's items as the live fold-in sees them (see
 * live_reco.c): each item at the confidence the model's training would give
 * its summed weight (reco_ops.confidence: 1 + alpha * f(w), f the model's
 * confidence scheme), training and history items counting as the median
 * training pair (reco_ops.typical_weight) plus their events' type weights,
 * preference 0 where the sum is negative; folded into a vector
 * (live_fold) or listed for an explanation (live_basis, issue #16), so the
 * explanation stands on exactly the items the answer's vector does.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "live.h"
#include "live_int.h"

/* The fold-in's items: rows with their confidence and preference now
 * (conf, pref) and when the model was trained (conf0, pref0). */
struct fold_items {
    int32_t *rows;
    float *w, *conf, *pref, *conf0, *pref0;
    size_t n;
};

static void fold_items_free(struct fold_items *fi)
{
    free(fi->rows);
    free(fi->w);
    free(fi->conf);
    free(fi->pref);
    free(fi->conf0);
    free(fi->pref0);
    memset(fi, 0, sizeof *fi);
}

/* The user's training items (known, not erased), event items and request
 * history, merged per row. 0, or ENC_ENOMEM. */
static int fold_items(const struct model *m, int64_t user, const struct uitem *ev, size_t n_ev,
                      const int32_t *history, size_t n_history, struct fold_items *fi, enc_err *err)
{
    const struct reco_ops *ro = m->ops->reco;
    const int32_t *seen = NULL;
    size_t n_seen = user >= 0 ? ro->seen(m->state, user, &seen) : 0;
    size_t cap = n_seen + n_ev + n_history;
    if (cap > 4096)
        cap = 4096; /* the step's bound; the newest events come first */
    memset(fi, 0, sizeof *fi);
    fi->rows = malloc((cap ? cap : 1) * sizeof *fi->rows);
    fi->w = malloc((cap ? cap : 1) * sizeof *fi->w);
    fi->conf = malloc((cap ? cap : 1) * sizeof *fi->conf);
    fi->pref = malloc((cap ? cap : 1) * sizeof *fi->pref);
    fi->conf0 = malloc((cap ? cap : 1) * sizeof *fi->conf0);
    fi->pref0 = malloc((cap ? cap : 1) * sizeof *fi->pref0);
    if (!fi->rows || !fi->w || !fi->conf || !fi->pref || !fi->conf0 || !fi->pref0) {
        fold_items_free(fi);
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    int32_t *rows = fi->rows;
    float *w = fi->w;
    size_t n = 0;
    /* the summed weight per row: training and history items count as the
     * median training pair (their weights are not known here) */
    float unit = ro->typical_weight ? (float)ro->typical_weight(m->state) : 1.0f;
    for (size_t i = 0; i < n_seen && n < cap; i++)
        rows[n] = seen[i], w[n++] = unit;
    size_t base = n;
    for (size_t k = 0; k < n_ev + n_history; k++) {
        int32_t row = k < n_ev ? ev[k].row : history[k - n_ev];
        float add = k < n_ev ? ev[k].weight : unit;
        size_t i = 0;
        /* training items are sorted: binary search them, scan the rest */
        size_t lo = 0, hi = base;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (rows[mid] < row)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < base && rows[lo] == row) {
            w[lo] += add;
            continue;
        }
        for (i = base; i < n && rows[i] != row; i++)
            ;
        if (i < n)
            w[i] += add;
        else if (n < cap)
            rows[n] = row, w[n++] = add;
    }
    double trained_conf = live_confidence(ro, m->state, unit);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int trained = i < base; /* a training item: what x0 was fitted with */
        fi->conf0[k] = trained ? (float)trained_conf : 1.0f;
        fi->pref0[k] = trained ? 1.0f : 0.0f;
        if (w[i] == 0 && !trained)
            continue;
        rows[k] = rows[i];
        fi->conf[k] = (float)live_confidence(ro, m->state, w[i]);
        fi->pref[k] = w[i] > 0 ? 1.0f : 0.0f;
        k++;
    }
    fi->n = k;
    return 0;
}

int live_fold(const struct model *m, int64_t user, const struct uitem *ev, size_t n_ev,
              const int32_t *history, size_t n_history, void *scratch, float *vec, enc_err *err)
{
    const struct reco_ops *ro = m->ops->reco;
    struct fold_items fi;
    int rc = fold_items(m, user, ev, n_ev, history, n_history, &fi, err);
    if (rc)
        return rc;
    const float *x0 = user >= 0 ? ro->user_factors(m->state, user) : NULL;
    rc = ro->fold_in_weighted(m->state, fi.rows, fi.conf, fi.pref, fi.conf0, fi.pref0, fi.n, x0,
                              scratch, vec, err);
    fold_items_free(&fi);
    return rc;
}

int live_basis(const struct model *m, const struct live_query *lq, int64_t user_row,
               const int32_t *history, size_t n_history, struct reco_basis *b, enc_err *err)
{
    struct fold_items fi;
    memset(b, 0, sizeof *b);
    int rc = fold_items(m, user_row, lq ? lq->items : NULL, lq ? lq->n_items : 0, history,
                        n_history, &fi, err);
    if (rc)
        return rc;
    free(fi.w);
    free(fi.conf0);
    free(fi.pref0);
    b->items = fi.rows;
    b->conf = fi.conf;
    b->pref = fi.pref;
    b->n = fi.n;
    return 0;
}

void live_basis_free(struct reco_basis *b)
{
    if (!b)
        return;
    free((void *)b->items);
    free((void *)b->conf);
    free((void *)b->pref);
    memset(b, 0, sizeof *b);
}
