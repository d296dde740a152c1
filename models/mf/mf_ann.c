/*
 * mf_ann.c - recommend from the item index (see mf_ann.h for when and why).
 *
 * Work space, all from the caller's scratch (no allocation per query):
 *   [deny bitset: n bits][allow bitset: n bits][index_search's work]
 * A bitset costs one clear of n / 8 bytes (125 KB at a million items, a few
 * microseconds), only when the query has rows to deny or candidates, and
 * makes every check in the walk one load.
 */
#include "mf/mf_ann.h"

#include <stdlib.h>
#include <string.h>

#include "mf/index.h"

struct mf_ann {
    struct mf_ann_view v;
    struct index *ix;
    struct index *cos;  /* the cosine graph for `similar`, or NULL */
    int64_t *tag_count; /* items carrying each tag, for the estimate */
    size_t words;       /* 64-bit words in an n-bit bitset */
};

int mf_ann_load(const st_file *f, const struct mf_ann_view *v, struct mf_ann **out, enc_err *err)
{
    *out = NULL;
    struct index *ix = NULL;
    int rc = index_load(f, v->V, v->n_items, v->factors, &ix, err);
    if (rc || !ix)
        return rc;
    struct index *cos = NULL;
    if ((rc = index_load_named(f, INDEX_COSINE_PREFIX, v->Vn, v->n_items, v->factors, &cos, err))) {
        index_free(ix);
        return rc;
    }
    struct mf_ann *a = calloc(1, sizeof *a);
    int64_t *tc = calloc(v->n_tags + 1, sizeof *tc);
    if (!a || !tc) {
        free(a);
        free(tc);
        index_free(ix);
        index_free(cos);
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    for (int64_t p = 0; p < v->tag_off[v->n_items]; p++) /* ids validated by the loader */
        tc[v->tag_ids[p]]++;
    a->v = *v;
    a->ix = ix;
    a->cos = cos;
    a->tag_count = tc;
    a->words = (v->n_items + 63) / 64;
    *out = a;
    return 0;
}

void mf_ann_free(struct mf_ann *a)
{
    if (!a)
        return;
    index_free(a->ix);
    index_free(a->cos);
    free(a->tag_count);
    free(a);
}

const struct index *mf_ann_index(const struct mf_ann *a)
{
    return a ? a->ix : NULL;
}

size_t mf_ann_bytes(const struct mf_ann *a)
{
    /* the mapped graphs and the walks' int8 row codes built at load */
    return a ? index_bytes(a->ix) + index_code_bytes(a->ix) +
                   (a->cos ? index_bytes(a->cos) + index_code_bytes(a->cos) : 0)
             : 0;
}

int mf_ann_describe(const struct mf_ann *a, json_t *o)
{
    if (!a)
        return 0;
    return json_object_set_new(
        o, "index",
        json_pack("{s:s, s:I, s:I, s:I, s:b, s:I, s:I}", "type", "hnsw", "m",
                  (json_int_t)index_m(a->ix), "ef_construction",
                  (json_int_t)index_ef_construction(a->ix), "bytes", (json_int_t)mf_ann_bytes(a),
                  "similar", a->cos != NULL, "ef_search",
                  (json_int_t)(a->v.ef ? a->v.ef : MF_ANN_DEFAULT_EF), "similar_ef_search",
                  (json_int_t)(a->v.ef_similar ? a->v.ef_similar : MF_ANN_DEFAULT_EF)));
}

size_t mf_ann_scratch_bytes(const struct mf_ann *a)
{
    if (!a)
        return 0;
    size_t w = index_work_bytes(a->ix, MF_ANN_MAX_EF, index_default_visits(a->ix, MF_ANN_MAX_EF));
    if (a->cos) {
        size_t wc =
            index_work_bytes(a->cos, MF_ANN_MAX_EF, index_default_visits(a->cos, MF_ANN_MAX_EF));
        w = wc > w ? wc : w;
    }
    return 2 * a->words * sizeof(uint64_t) + w;
}

int mf_ann_wanted(const struct mf_ann *a, const struct reco_query *q, int similar)
{
    return a && !q->exact && q->index_min_items && a->v.n_items >= q->index_min_items &&
           q->k <= MF_ANN_MAX_EF &&
           (similar ? a->cos != NULL : q->user_vec || q->user >= 0 || q->n_history);
}

/* The filters as the walk sees them. */
struct filter {
    const struct mf_ann_view *v;
    const uint64_t *deny, *allow, *unavailable;
    const int32_t *tags;
    size_t n_tags;
};

static inline int bit(const uint64_t *b, int32_t i)
{
    return (int)((b[(size_t)i >> 6] >> ((size_t)i & 63)) & 1);
}

static inline void set_bit(uint64_t *b, int32_t i)
{
    b[(size_t)i >> 6] |= 1ull << ((size_t)i & 63);
}

static int eligible(const void *ctx, int32_t item)
{
    const struct filter *f = ctx;
    if ((f->deny && bit(f->deny, item)) || (f->unavailable && bit(f->unavailable, item)) ||
        (f->allow && !bit(f->allow, item)))
        return 0;
    if (!f->n_tags)
        return 1;
    const struct mf_ann_view *v = f->v;
    for (int64_t p = v->tag_off[item]; p < v->tag_off[item + 1]; p++)
        for (size_t t = 0; t < f->n_tags; t++)
            if (v->tag_ids[p] == f->tags[t])
                return 1;
    return 0;
}

/* An upper estimate of the eligible items (duplicates in the lists and
 * items carrying two wanted tags make it high, never low... except that
 * the denied rows are subtracted whole, so it is a guide, not a bound). */
static size_t estimate_eligible(const struct mf_ann *a, const struct reco_query *q)
{
    size_t n = a->v.n_items, est = n;
    if (q->candidates && q->n_candidates < est)
        est = q->n_candidates;
    if (q->n_tags) {
        size_t t = 0;
        for (size_t i = 0; i < q->n_tags; i++)
            if (q->tags[i] >= 0 && (size_t)q->tags[i] < a->v.n_tags)
                t += (size_t)a->tag_count[q->tags[i]];
        est = t < est ? t : est;
    }
    size_t denied = q->n_exclude;
    if (q->exclude_seen) {
        denied += q->n_history;
        if (q->user >= 0 && (size_t)q->user < a->v.n_users)
            denied += (size_t)(a->v.seen_off[q->user + 1] - a->v.seen_off[q->user]);
    }
    if (q->unavailable)
        for (size_t w = 0; w < a->words; w++)
            denied += (size_t)__builtin_popcountll(q->unavailable[w]);
    return denied < est ? est - denied : 0;
}

/* Row lists from a request are resolved by the caller but still checked
 * here: a row outside the catalogue is ignored, never written. */
static void deny_rows(uint64_t *b, const int32_t *rows, size_t n, size_t limit)
{
    for (size_t i = 0; i < n; i++)
        if (rows[i] >= 0 && (size_t)rows[i] < limit)
            set_bit(b, rows[i]);
}

/* Walk the graph with u against `rows` (the item factors, or the
 * unit-length ones for `similar`) under q's filters, `self` (a row, or -1)
 * left out too. */
static int answer(const struct mf_ann *a, const struct index *ix, const struct reco_query *q,
                  const float *u, int32_t self, void *work, struct reco_result *res)
{
    size_t n = a->v.n_items, k = q->k;
    res->search = RECO_SEARCH_FALLBACK;
    size_t est = estimate_eligible(a, q);
    est -= self >= 0 && est > 0;
    if (est < k || est < n / MF_ANN_SELECTIVE)
        return MF_ANN_EXACT; /* too few eligible items for a walk to find */
    /* Work: [deny: n bits][allow: n bits][index_search's], each bitset
     * cleared only when the query uses it. */
    uint64_t *deny = work, *allow = deny + a->words;
    int seen = q->exclude_seen && q->user >= 0 && (size_t)q->user < a->v.n_users &&
               a->v.seen_off[q->user + 1] > a->v.seen_off[q->user];
    int denies = seen || (q->exclude_seen && q->n_history) || q->n_exclude || self >= 0;
    if (denies) {
        memset(deny, 0, a->words * sizeof *deny);
        if (seen)
            for (int64_t p = a->v.seen_off[q->user]; p < a->v.seen_off[q->user + 1]; p++)
                set_bit(deny, a->v.seen_items[p]);
        if (q->exclude_seen)
            deny_rows(deny, q->history, q->n_history, n);
        deny_rows(deny, q->exclude, q->n_exclude, n);
        if (self >= 0)
            deny_rows(deny, &self, 1, n);
    }
    struct filter f = {.v = &a->v,
                       .deny = denies ? deny : NULL,
                       .unavailable = q->unavailable,
                       .tags = q->tags,
                       .n_tags = q->n_tags};
    if (q->candidates) {
        memset(allow, 0, a->words * sizeof *allow);
        deny_rows(allow, q->candidates, q->n_candidates, n);
        f.allow = allow;
    }
    size_t dflt = ix == a->cos ? a->v.ef_similar : a->v.ef;
    size_t ef = q->ef_search ? q->ef_search : dflt ? dflt : MF_ANN_DEFAULT_EF;
    ef = ef < k ? k : ef > MF_ANN_MAX_EF ? MF_ANN_MAX_EF : ef;
    struct index_query iq = {.u = u,
                             .k = k,
                             .ef = ef,
                             .filter = eligible,
                             .filter_ctx = &f,
                             .max_visits = index_default_visits(ix, ef),
                             .start = self};
    void *iw = allow + a->words;
    if (index_search(ix, &iq, iw, index_work_bytes(ix, ef, iq.max_visits), res->hits, &res->n) !=
        0) {
        res->n = 0;
        return MF_ANN_EXACT; /* short of k eligible items: the filter was too selective */
    }
    res->search = RECO_SEARCH_INDEX;
    return 0;
}

int mf_ann_recommend(const struct mf_ann *a, const struct reco_query *q, const float *u, void *work,
                     struct reco_result *res)
{
    return answer(a, a->ix, q, u, -1, work, res);
}

int mf_ann_similar(const struct mf_ann *a, const struct reco_query *q, int32_t item, void *work,
                   struct reco_result *res)
{
    res->search = RECO_SEARCH_FALLBACK;
    if (!a->cos || item < 0 || (size_t)item >= a->v.n_items)
        return MF_ANN_EXACT;
    /* As the exact mf_similar: no seen items or history (there is no user),
     * the item itself never returned. */
    struct reco_query qs = *q;
    qs.exclude_seen = 0;
    qs.user = -1;
    qs.history = NULL;
    qs.n_history = 0;
    return answer(a, a->cos, &qs, a->v.Vn + (size_t)item * a->v.factors, item, work, res);
}
