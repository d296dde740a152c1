/*
 * mf_int.h - what mf.c (the family: file, load, the reco_ops row, live
 * fold-in) and query.c (scoring, top-k, recommend, similar, fold-in) share:
 * the loaded model's layout and the scoring steps. Not for other modules:
 * they reach a model through mf.h or model_ops.reco.
 */
#ifndef ENCORE_MF_MF_INT_H
#define ENCORE_MF_MF_INT_H

#include <stddef.h>
#include <stdint.h>

#include "core/st.h"
#include "core/strmap.h"
#include "mf/confidence.h"
#include "mf/half.h"
#include "mf/mf.h"
#include "mf/quant.h"

/* A loaded model: tensors point into the mapped file; the rest is built at
 * load (mf.c) and freed with it. */
struct mf_model {
    size_t n_users, n_items, f, n_tags;
    const float *U, *V; /* U is NULL when the file stores users as F16: */
    const uint16_t *Uh; /* then this, [n_users x f] binary16 (mf_user_row) */
    st_strings user_ids, item_ids, titles, tags;
    const int64_t *seen_off;
    const int32_t *seen_items;
    const float *pop;
    const int64_t *tag_off;
    const int32_t *tag_ids;
    double reg, alpha;
    double reg_exponent, mean_user; /* ALS scales reg by (n / mean)^exponent per row */
    struct conf_serving conf;       /* weight -> confidence as training did (confidence.h) */
    float pop_scale; /* popular fallback: 1 / users, so scores are shares in [0, 1] */
    const char *algorithm;
    /* derived at load, owned */
    strmap users, items, tagmap;
    float *Vn;                     /* unit-length item factors, for cosine */
    float *Vt, *Vnt;               /* V and Vn transposed (F x I), only on the f32
                                    * path (no int8 or binary16 pack): the
                                    * column-major gemv kernel streams them ~1.6x
                                    * faster than dot products over rows */
    uint16_t *Vh, *Vnh;            /* V and Vn packed as binary16 (half.h), or NULL */
    struct quant_items Vq, Vnq;    /* V and Vn packed as int8 (quant.h), or empty */
    float *yty;                    /* V^T V, f x f, for fold-in */
    char *item_json;               /* pre-escaped "item":..,"title":.. fragments */
    size_t *item_json_off;         /* n_items + 1 */
    struct mf_ann *ann;            /* the item index and its filters (mf_ann.h), or NULL */
    size_t ann_ef, ann_ef_similar; /* the trainer's measured default beams, or 0 */
    double unit_rel, unit_ild;     /* the re-ranking's units (diversity.c): the plain
                                    * top-10 lists' mean relevance and ILD over a
                                    * sample of users, set at load */
};

/* User row `user` (< n_users) as floats: a pointer into the mapped f32
 * table, or the f16 row decoded into out[f] (and out returned). */
static inline const float *mf_user_row(const struct mf_model *m, size_t user, float *out)
{
    if (m->U)
        return m->U + user * m->f;
    half_to_floats(m->Uh + user * m->f, m->f, out);
    return out;
}

/* The query's user vector (*u = NULL: none, popularity answers) and where
 * it came from: q->user_vec, the user's row, or a history folded in into
 * work[F*F + F]. 0 or ENC_EINVAL / the fold-in's error. */
int mf_user_vector(const struct mf_model *m, const struct reco_query *q, float *work,
                   const float **u, enum reco_source *source, enc_err *err);

/* Where the int8 screen's chunk maxima (then quant_floor's work space) live
 * in a scratch buffer of mf_scratch_floats(m) floats. */
float *mf_chunk_maxima(const struct mf_model *m, float *scratch);

/* Exclusions, the unavailable bitset and tags set scores to -INFINITY (in
 * place; candidates are applied when scoring). */
void mf_apply_filters(const struct mf_model *m, const struct reco_query *q, float *scores);

/* Score the candidates (others -inf) or the whole catalogue with u against
 * V (rows), Vt (transposed), Vh (binary16 or NULL) or Vq (int8 or empty).
 * Returns 1 when scores are int8 lower bounds with widths and chunk maxima
 * (finish with mf_top_screened), 0 when they are final (mf_topk). */
int mf_score_items(const struct mf_model *m, const struct reco_query *q, const float *u,
                   const float *V, const float *Vt, const uint16_t *Vh,
                   const struct quant_items *Vq, float *scores, float *width, float *cmax);

/* The exact f32 top k from screened bounds: only items whose upper bound
 * reaches the k-th best lower bound are re-scored. Returns the hit count. */
size_t mf_top_screened(const struct mf_model *m, const float *V, const float *u, int fast,
                       float *scores, float *width, float *cmax, size_t k, struct reco_hit *hits);

/* reco_ops.rerank (diversity.c): the chosen candidates into out[0..k). */
size_t mf_rerank(const struct mf_model *m, const struct reco_hit *cands, size_t n,
                 const struct reco_rerank *o, void *scratch, struct reco_hit *out, size_t *relaxed);

/* The re-ranking's units (diversity.c), at load: m->unit_rel and
 * m->unit_ild from the plain top 10 of up to 64 users spread over the rows
 * (fewer in big catalogues), 1 and 1 when no user has two items to rank. */
int mf_rerank_units(struct mf_model *m, enc_err *err);

/* reco_ops.explain (explain.c); scratch: mf_scratch_floats(m) floats. */
int mf_explain(const struct mf_model *m, const struct reco_basis *b, const int32_t *targets,
               size_t n, size_t top, float *scratch, struct reco_because *because,
               size_t *n_because, enc_err *err);

#endif
