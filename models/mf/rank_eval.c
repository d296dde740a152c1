/*
 * rank_eval.c - ranking metrics and the built-in recommenders used to
 * compute them (see rank_eval.h for the definitions).
 */
#include "mf/rank_eval.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf/interactions.h"
#include "mf/mf.h"

static int in_sorted(const int32_t *a, size_t n, int32_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] == x)
            return 1;
        if (a[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

void rank_user_metrics(const int32_t *ranked, size_t n_ranked, const int32_t *test_items,
                       size_t n_known, size_t n_test, size_t k, struct re_metrics *m)
{
    memset(m, 0, sizeof *m);
    size_t hits = 0;
    double dcg = 0, ap = 0;
    for (size_t r = 0; r < n_ranked && r < k; r++) {
        if (!in_sorted(test_items, n_known, ranked[r]))
            continue;
        hits++;
        dcg += 1.0 / log2((double)r + 2.0);
        ap += (double)hits / (double)(r + 1);
    }
    size_t ideal = n_test < k ? n_test : k;
    double idcg = 0;
    for (size_t r = 0; r < ideal; r++)
        idcg += 1.0 / log2((double)r + 2.0);
    m->precision = (double)hits / (double)k;
    m->recall = n_test ? (double)hits / (double)n_test : 0;
    m->ndcg = idcg > 0 ? dcg / idcg : 0;
    m->map = ideal ? ap / (double)ideal : 0;
    m->hit_rate = hits > 0;
    m->users = 1;
}

int rank_evaluate(const struct ia_matrix *train, const struct ia_matrix *test, size_t k,
                  re_recommend_fn fn, void *ctx, struct re_metrics *out, enc_err *err)
{
    return rank_evaluate_users(train, test, k, fn, ctx, out, NULL, err);
}

int rank_evaluate_users(const struct ia_matrix *train, const struct ia_matrix *test, size_t k,
                        re_recommend_fn fn, void *ctx, struct re_metrics *out, double *user_ndcg,
                        enc_err *err)
{
    memset(out, 0, sizeof *out);
    if (k < 1 || k > 1000)
        return enc_errf(err, ENC_EINVAL, "k must be in 1..1000 (got %zu)", k);
    size_t ni = train->n_items;
    int32_t *ranked = malloc(k * sizeof *ranked);
    int32_t *known = malloc((test->n_items ? test->n_items : 1) * sizeof *known);
    unsigned char *recommended = calloc(ni ? ni : 1, 1);
    /* test item row -> train item row (or -1), once. */
    int64_t *tmap = malloc((test->n_items ? test->n_items : 1) * sizeof *tmap);
    int rc = 0;
    if (!ranked || !known || !recommended || !tmap) {
        rc = enc_errf(err, ENC_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < test->n_items; i++)
        tmap[i] = ia_find_id(train->item_ids, ni, test->item_ids[i]);
    double sp = 0, sr = 0, sn = 0, sm = 0, sh = 0;
    size_t users = 0, distinct = 0;
    for (size_t u = 0; u < test->n_users; u++) {
        int64_t b = test->indptr[u], e = test->indptr[u + 1];
        size_t n_test = (size_t)(e - b);
        if (user_ndcg)
            user_ndcg[u] = NAN;
        if (n_test == 0)
            continue;
        size_t n_known = 0;
        for (int64_t p = b; p < e; p++)
            if (tmap[test->indices[p]] >= 0)
                known[n_known++] = (int32_t)tmap[test->indices[p]];
        /* Train rows ascend with ids, and test rows do too, so `known` is
         * already sorted ascending. */
        int64_t tu = ia_find_id(train->user_ids, train->n_users, test->user_ids[u]);
        const int32_t *ti = tu >= 0 ? train->indices + train->indptr[tu] : NULL;
        size_t nti = tu >= 0 ? (size_t)(train->indptr[tu + 1] - train->indptr[tu]) : 0;
        size_t nr = 0;
        rc = fn(ctx, test->user_ids[u], tu, ti, nti, k, ranked, &nr, err);
        if (rc)
            goto out;
        if (nr > k) {
            rc = enc_errf(err, ENC_EINVAL, "recommender returned %zu items for k=%zu", nr, k);
            goto out;
        }
        for (size_t r = 0; r < nr; r++) {
            if (ranked[r] < 0 || (size_t)ranked[r] >= ni || in_sorted(ti, nti, ranked[r])) {
                rc = enc_errf(err, ENC_EINVAL,
                              "recommender returned item row %d for user '%s': out of range "
                              "or a training item",
                              (int)ranked[r], test->user_ids[u]);
                goto out;
            }
            if (!recommended[ranked[r]]) {
                recommended[ranked[r]] = 1;
                distinct++;
            }
        }
        struct re_metrics m;
        rank_user_metrics(ranked, nr, known, n_known, n_test, k, &m);
        if (user_ndcg)
            user_ndcg[u] = m.ndcg;
        sp += m.precision;
        sr += m.recall;
        sn += m.ndcg;
        sm += m.map;
        sh += m.hit_rate;
        users++;
    }
    if (users) {
        out->precision = sp / (double)users;
        out->recall = sr / (double)users;
        out->ndcg = sn / (double)users;
        out->map = sm / (double)users;
        out->hit_rate = sh / (double)users;
    }
    out->coverage = ni ? (double)distinct / (double)ni : 0;
    out->users = users;
out:
    free(ranked);
    free(known);
    free(recommended);
    free(tmap);
    return rc;
}

/* ---- before scoring: overlap and ids --------------------------------- */

int rank_overlap(const struct ia_matrix *train, const struct ia_matrix *test,
                 struct re_overlap *out)
{
    memset(out, 0, sizeof *out);
    int64_t *tmap = malloc((test->n_items ? test->n_items : 1) * sizeof *tmap);
    if (!tmap)
        return ENC_ENOMEM;
    out->test_items = test->n_items;
    for (size_t i = 0; i < test->n_items; i++) {
        tmap[i] = ia_find_id(train->item_ids, train->n_items, test->item_ids[i]);
        if (tmap[i] >= 0)
            out->known_items++;
        else if (!out->unknown_item[0])
            snprintf(out->unknown_item, sizeof out->unknown_item, "%s", test->item_ids[i]);
    }
    if (train->n_items)
        snprintf(out->train_item, sizeof out->train_item, "%s", train->item_ids[0]);
    out->test_pairs = test->nnz;
    for (size_t u = 0; u < test->n_users; u++) {
        if (test->indptr[u + 1] == test->indptr[u])
            continue;
        out->test_users++;
        int64_t tu = ia_find_id(train->user_ids, train->n_users, test->user_ids[u]);
        if (tu >= 0)
            out->known_users++;
        const int32_t *ti = tu >= 0 ? train->indices + train->indptr[tu] : NULL;
        size_t nti = tu >= 0 ? (size_t)(train->indptr[tu + 1] - train->indptr[tu]) : 0;
        for (int64_t p = test->indptr[u]; p < test->indptr[u + 1]; p++) {
            int64_t it = tmap[test->indices[p]];
            if (it < 0)
                continue;
            out->known_pairs++;
            if (!in_sorted(ti, nti, (int32_t)it))
                continue;
            if (!out->shared_pairs++) {
                snprintf(out->shared_user, sizeof out->shared_user, "%s", test->user_ids[u]);
                snprintf(out->shared_item, sizeof out->shared_item, "%s", train->item_ids[it]);
            }
        }
    }
    free(tmap);
    return 0;
}

/* ---- popularity ------------------------------------------------------- */

struct re_popularity {
    size_t n_items;
    int32_t *order; /* items by popularity, best first */
};

struct pop_entry {
    float count;
    int32_t item;
};

static int pop_cmp(const void *a, const void *b)
{
    const struct pop_entry *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return (x->item > y->item) - (x->item < y->item);
}

int rank_popularity_new(const struct ia_matrix *train, struct re_popularity **out)
{
    *out = NULL;
    size_t n = train->n_items;
    struct re_popularity *p = calloc(1, sizeof *p);
    struct pop_entry *e = calloc(n ? n : 1, sizeof *e);
    if (p)
        p->order = malloc((n ? n : 1) * sizeof *p->order);
    if (!p || !e || !p->order) {
        free(e);
        rank_popularity_free(p);
        return ENC_ENOMEM;
    }
    p->n_items = n;
    for (size_t i = 0; i < n; i++)
        e[i].item = (int32_t)i;
    for (size_t k = 0; k < train->nnz; k++)
        e[train->indices[k]].count += 1.0f;
    /* (count desc, row asc) is a total order, so qsort's instability is moot. */
    qsort(e, n, sizeof *e, pop_cmp);
    for (size_t i = 0; i < n; i++)
        p->order[i] = e[i].item;
    free(e);
    *out = p;
    return 0;
}

void rank_popularity_free(struct re_popularity *p)
{
    if (!p)
        return;
    free(p->order);
    free(p);
}

int rank_popularity_fn(void *ctx, const char *user_id, int64_t train_user,
                       const int32_t *train_items, size_t n_train, size_t k, int32_t *out,
                       size_t *n_out, enc_err *err)
{
    const struct re_popularity *p = ctx;
    size_t n = 0;
    for (size_t i = 0; i < p->n_items && n < k; i++)
        if (!in_sorted(train_items, n_train, p->order[i]))
            out[n++] = p->order[i];
    *n_out = n;
    return 0;
}

/* ---- raw factors -------------------------------------------------------- */

struct re_factors {
    const float *U, *V;
    size_t F, n_items;
    float *scores;
    struct reco_hit *hits;
    size_t hits_cap;
    struct re_popularity *pop;
};

int rank_factors_new(const struct ia_matrix *train, const float *user_factors,
                     const float *item_factors, size_t factors, struct re_factors **out)
{
    *out = NULL;
    struct re_factors *f = calloc(1, sizeof *f);
    if (!f)
        return ENC_ENOMEM;
    f->U = user_factors;
    f->V = item_factors;
    f->F = factors;
    f->n_items = train->n_items;
    f->scores = malloc((f->n_items ? f->n_items : 1) * sizeof *f->scores);
    if (!f->scores || rank_popularity_new(train, &f->pop)) {
        rank_factors_free(f);
        return ENC_ENOMEM;
    }
    *out = f;
    return 0;
}

void rank_factors_free(struct re_factors *f)
{
    if (!f)
        return;
    free(f->scores);
    free(f->hits);
    rank_popularity_free(f->pop);
    free(f);
}

int rank_factors_fn(void *ctx, const char *user_id, int64_t train_user, const int32_t *train_items,
                    size_t n_train, size_t k, int32_t *out, size_t *n_out, enc_err *err)
{
    struct re_factors *f = ctx;
    if (train_user < 0)
        return rank_popularity_fn(f->pop, user_id, train_user, train_items, n_train, k, out, n_out,
                                  err);
    if (k > f->hits_cap) {
        struct reco_hit *h = realloc(f->hits, k * sizeof *h);
        if (!h)
            return enc_errf(err, ENC_ENOMEM, "out of memory");
        f->hits = h;
        f->hits_cap = k;
    }
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)f->n_items, (int)f->F, 1.0f, f->V, (int)f->F,
                f->U + (size_t)train_user * f->F, 1, 0.0f, f->scores, 1);
    for (size_t i = 0; i < n_train; i++)
        f->scores[train_items[i]] = -INFINITY;
    size_t n = mf_topk(f->scores, f->n_items, k, f->hits);
    for (size_t i = 0; i < n; i++)
        out[i] = f->hits[i].item;
    *n_out = n;
    return 0;
}
