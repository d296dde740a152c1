/*
 * mf_ann.h - recommend from the item index (index.h) inside the mf family:
 * when to use it, the filters as a per-item predicate, and when to hand the
 * query back to the exact scan. Private to models/mf (mf.c calls it).
 *
 * A query goes to the index when the model has one, the catalogue has at
 * least query.index_min_items items, the query has a user vector (a known
 * user, a folded-in history or a given vector: popularity stays exact), it
 * does not ask for `exact`, and k <= MF_ANN_MAX_EF. Every filter is applied
 * as the graph is walked, not by over-fetching: the seen items, `exclude`
 * and `history` as a bitset of denied rows, `candidates` as a bitset of
 * allowed rows, the tags through the item-tag lists, and query.unavailable
 * as it is. The answer has exactly k items whenever k eligible items exist:
 * when the filters leave fewer than 1 item in MF_ANN_SELECTIVE (estimated
 * from counts before the walk), or the walk ends short of k eligible items
 * (or runs past its budget), mf_ann_recommend returns MF_ANN_EXACT and the
 * caller scans every eligible item (reco_result.search says so).
 */
#ifndef ENCORE_MF_ANN_H
#define ENCORE_MF_ANN_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/model.h"
#include "core/st.h"

#define MF_ANN_MAX_EF 1000    /* beam widths (and k) the index answers */
#define MF_ANN_DEFAULT_EF 100 /* for a model whose trainer measured none */
#define MF_ANN_SELECTIVE 50   /* fewer than n / 50 eligible: exact */
#define MF_ANN_EXACT 1        /* mf_ann_recommend: not answered, scan */

/* What the predicate and the estimate read from the model (borrowed). */
struct mf_ann_view {
    size_t n_items, n_users, factors, n_tags;
    const float *V;          /* item factors, n_items x factors */
    const float *Vn;         /* the same, unit length (for the cosine graph) */
    const int64_t *seen_off; /* CSR of each user's training items */
    const int32_t *seen_items;
    const int64_t *tag_off; /* CSR of each item's tags */
    const int32_t *tag_ids;
    /* The beams a query with ef_search 0 uses (recommend, similar): the
     * trainer's measurement (the smallest reaching recall@10 0.95 on the
     * model's users / items, index.h), 0 for MF_ANN_DEFAULT_EF. */
    size_t ef, ef_similar;
};

struct mf_ann;

/* Load and validate the file's index (index_load), and its cosine graph
 * for `similar` if it has one, for the model `v` describes. *out = NULL
 * when the file has no index. */
int mf_ann_load(const st_file *f, const struct mf_ann_view *v, struct mf_ann **out, enc_err *err);
void mf_ann_free(struct mf_ann *a); /* NULL: no-op */

const struct index *mf_ann_index(const struct mf_ann *a); /* NULL for a NULL a */
size_t mf_ann_bytes(const struct mf_ann *a);              /* the mapped graphs; 0 for NULL */
/* "index": {"type": "hnsw", "m", "ef_construction", "bytes", "similar",
 * "ef_search" (the default beam)} into o; NULL: nothing. 0, or nonzero
 * when out of memory. */
int mf_ann_describe(const struct mf_ann *a, json_t *o);

/* Bytes of scratch mf_ann_recommend needs (beyond the exact path's). */
size_t mf_ann_scratch_bytes(const struct mf_ann *a);

/* 1 when q may be answered from the index (it has a user, or is a
 * `similar` query and the file has the cosine graph, and every condition
 * above but the filters' selectivity holds). */
int mf_ann_wanted(const struct mf_ann *a, const struct reco_query *q, int similar);

/* Answer q for the user vector u from the index into res (hits, n,
 * search = RECO_SEARCH_INDEX): 0. MF_ANN_EXACT when the exact scan must
 * answer instead (res->search = RECO_SEARCH_FALLBACK, nothing else set).
 * `work` holds mf_ann_scratch_bytes(a) bytes, 8-aligned. Thread-safe. */
int mf_ann_recommend(const struct mf_ann *a, const struct reco_query *q, const float *u, void *work,
                     struct reco_result *res);

/* `similar` from the cosine graph (index_cosine.*, encore-train
 * --index-similar): the k items whose unit-length rows have the best dot
 * product with item's, walked from the item itself; q's filters as the
 * exact mf_similar applies them (exclude, candidates, tags, unavailable;
 * the item itself never). Returns as mf_ann_recommend. (The inner-product
 * graph cannot answer it: walked by cosine it finds ~0.22 of the top 10 at
 * 1M items, bench/results/ann.md.) */
int mf_ann_similar(const struct mf_ann *a, const struct reco_query *q, int32_t item, void *work,
                   struct reco_result *res);

#endif
