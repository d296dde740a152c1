/*
 * mf.h - the matrix-factorisation recommendation family ("mf").
 *
 * ALS (als.c) and BPR (bpr.c) train a `struct mf_data`; model_save(&mf_ops, ...)
 * writes it as one safetensors file; the server loads it with mf_ops (a `struct mf_model`
 * that points into the mapped file) and answers recommend / similar queries.
 *
 * Tensors in the file (U = users, I = items, F = factors):
 *   user_factors F32 [U, F]      item_factors F32 [I, F]
 *     (or F16 [U, F] with mf_data.user_f16: read a row at a time, half.h)
 *   user_ids.bytes/.offsets      item_ids.bytes/.offsets   (string tables)
 *   seen.offsets I64 [U+1]       seen.items I32 [nnz]      each user's training
 *                                                          items, ascending (CSR)
 *   item_popularity F32 [I]      training interactions per item
 *   titles.bytes/.offsets        one title per item ("" when unknown)
 *   tags.bytes/.offsets          the tag vocabulary [T]
 *   item_tags.offsets I64 [I+1]  item_tags.ids I32 [..]    tags per item (CSR)
 *   index.*                      optional: an HNSW graph over item_factors
 *                                (index.h), validated at load
 *   index_cosine.*               optional (with index.*): the same over the
 *                                unit-length item factors, for `similar`
 * Metadata: family "mf", "algorithm" (als|bpr|import), "regularization" and
 * "alpha" (for folding in a new user's history), plus the common keys.
 */
#ifndef ENCORE_MF_H
#define ENCORE_MF_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/err.h"
#include "core/model.h"
#include "core/st.h"

extern const struct model_ops mf_ops;

/* ---- training side: an owned, in-memory model ------------------------ */

struct mf_data {
    size_t n_users, n_items, factors;
    float *user_factors;    /* n_users * factors, row-major */
    float *item_factors;    /* n_items * factors */
    char **user_ids;        /* n_users strings */
    char **item_ids;        /* n_items strings */
    int64_t *seen_offsets;  /* n_users + 1 */
    int32_t *seen_items;    /* seen_offsets[n_users] */
    float *item_popularity; /* n_items */
    char **titles;          /* n_items strings, or NULL */
    char **tag_names;       /* n_tags strings */
    size_t n_tags;
    int64_t *item_tag_offsets; /* n_items + 1, or NULL */
    int32_t *item_tag_ids;
    const char *algorithm; /* static string: "als", "bpr", "import" */
    double regularization, alpha;
    struct index_data *index;        /* an item index to store (index.h), or NULL */
    struct index_data *index_cosine; /* its cosine graph for `similar`, or NULL */
    int user_f16;                    /* 1: store user_factors as F16 (half the bytes) */
};

struct index_data;
struct index;

/* Frees every member (not the struct itself); NULL members are fine. */
void mf_data_clear(struct mf_data *d);

/* Serialize into a writer (mf_ops.write: model_save(&mf_ops, d, ...) saves).
 * The factor tables are borrowed, not copied: d must stay unchanged until
 * w is written or freed. */
int mf_write(const struct mf_data *d, st_writer *w, const json_t *hyper, const char *fingerprint);

/* ---- serving side: a loaded model (the state behind mf_ops) ---------- */

struct mf_model;

size_t mf_n_users(const struct mf_model *m);
size_t mf_n_items(const struct mf_model *m);
size_t mf_factors(const struct mf_model *m);
/* The units `diversity` is weighed in (diversity.c): the model's plain
 * lists' mean relevance and intra-list diversity. */
void mf_diversity_units(const struct mf_model *m, double *rel, double *ild);
/* The model's item index (index.h), borrowed, or NULL when it has none. */
const struct index *mf_index(const struct mf_model *m);

/* Row of a user / item id, or -1. O(1) average (hash tables built at load). */
int64_t mf_user_index(const struct mf_model *m, const char *id, size_t len);
int64_t mf_item_index(const struct mf_model *m, const char *id, size_t len);
/* Tag id of a tag name, or -1. */
int64_t mf_tag_index(const struct mf_model *m, const char *name, size_t len);

/* Borrowed strings (not NUL-terminated); valid while the model lives. */
const char *mf_item_id(const struct mf_model *m, size_t item, size_t *len);
/* `"item":"<id>","title":"<title>"` already JSON-escaped, precomputed at load
 * so a response costs one memcpy per item (title omitted when empty). */
const char *mf_item_json(const struct mf_model *m, size_t item, size_t *len);

/* The scoring kernel comes from model_load_opts.precision at load:
 *   auto  i8 where the CPU has AVX2/FMA (quant_fast), else f32 (the default)
 *   i8    int8 screening of every item + exact f32 re-score of the few whose
 *         bound can reach the top k: the f32 answer (quant.h)
 *   f32   one cblas_sgemv over the f32 item factors
 *   f16   binary16 item factors (half.h; approximate; mf_ops.check_opts
 *         refuses it without AVX2/FMA/F16C)
 * Factors int8 or binary16 cannot hold keep that model on f32; describe()
 * says which kernel a model got ("score_precision"). */

/* Queries take a struct reco_query and fill struct reco_hit (core/model.h);
 * the server reaches them through mf_ops.reco. */

/* Top-k items for a query, best first (ties: lower row first), into hits[]
 * (room for q->k). `scratch` must hold mf_scratch_floats(m) floats; it makes
 * the call allocation-free and thread-safe. *source tells whether the scores
 * came from q->user_vec, the user's factors, a folded-in history, or
 * popularity (no user, no history). Returns 0, ENC_EINVAL or ENC_EINTERNAL. */
size_t mf_scratch_floats(const struct mf_model *m);
int mf_recommend(const struct mf_model *m, const struct reco_query *q, float *scratch,
                 struct reco_hit *hits, size_t *n_hits, enum reco_source *source, enc_err *err);

/* The k items nearest `item` by cosine of item factors (the item excluded),
 * then the same exclude / candidates / tags filters as a query. */
int mf_similar(const struct mf_model *m, int32_t item, const struct reco_query *filters,
               float *scratch, struct reco_hit *hits, size_t *n_hits, enc_err *err);

/* Fold a history into a user vector (ALS's least-squares step with the model's
 * regularization and alpha, as implicit's recalculate_user): out[factors]. */
int mf_fold_in(const struct mf_model *m, const int32_t *items, size_t n, float *out, enc_err *err);

/* ---- top-k selection, shared with evaluation -------------------------- */

/* Select the k best of scores[0..n) whose score is not -INFINITY, best first,
 * ties to the lower index. Returns how many were written to hits. */
size_t mf_topk(const float *scores, size_t n, size_t k, struct reco_hit *hits);

#endif
