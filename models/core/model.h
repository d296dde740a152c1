/*
 * model.h - the model family table and the loaded, refcounted model.
 *
 * Every family (mf, forest, linear, cnn, text) is one module that fills one
 * `struct model_ops` row; models/families.c lists the rows, and callers hand
 * that table to model_load (core names no family, so it builds and links
 * alone). The trainer writes a family's file with the same module the server
 * reads it with (model_save over ops->write).
 *
 * A `struct model` is an immutable snapshot of one version: the server hands a
 * reference to each request (model_ref) and a hot reload swaps the pointer;
 * the old version is freed when its last reference drops (model_unref).
 *
 * Tasks, and the only ways in (callers never see a family's state struct):
 *   MODEL_TASK_CLASSIFY   numeric or text instances -> class probabilities
 *                         through ops->predict, described by ops->io.
 *   MODEL_TASK_RECOMMEND  users x items (mf): ops->reco, a `struct reco_ops`.
 *
 * The recommender interface (ops->reco):
 *
 *   ids -> rows      user_index / item_index / tag_index (-1: unknown)
 *   rows -> ids      item_id, item_json (the pre-escaped response fragment)
 *   queries          recommend(state, &query, scratch, &result)
 *                    similar(state, item, &query, scratch, &result)
 *                    fold_in(state, items, n, scratch, vec): a user vector
 *                    from a list of items (a new user, recorded events)
 *   live events      seen, user_factors / item_factors, item_tags,
 *                    fold_in_weighted, item_step, similar_vec, alpha: what
 *                    server/live_reco.c needs to fold recorded events and
 *                    new items into answers (NULL in a family without them)
 *   post-steps       rerank(state, candidates, n, &opts, ...): diversity and
 *                    a tag cap over a candidate list (whatever produced it:
 *                    exact scoring or an approximate index)
 *                    explain(state, &basis, targets, ...): each target's
 *                    score split over the items the user's vector stands on
 *
 *   A `struct reco_query` carries everything that shapes an answer: who
 *   (a user row, a history to fold in, or a ready user vector), k, and the
 *   filters (exclude_seen, exclude rows, candidate rows, tags, a bitset of
 *   unavailable rows). Every field's zero value means "no constraint", so
 *   a field added later (an explanation request, an approximate-index
 *   budget, ...) leaves existing callers' answers unchanged. The answer is a
 *   `struct reco_result`: hits (row, score) best first into the caller's
 *   array, and where the user's vector came from. `scratch` is the caller's
 *   work space of scratch_bytes(state) bytes (max_align_t aligned): queries
 *   allocate nothing and run on any number of threads at once.
 */
#ifndef ENCORE_MODEL_H
#define ENCORE_MODEL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/st.h"

#define MODEL_FORMAT_VERSION "1"

enum model_task { MODEL_TASK_RECOMMEND = 1, MODEL_TASK_CLASSIFY = 2 };
enum model_input_kind { MODEL_INPUT_NUMERIC = 1, MODEL_INPUT_TEXT = 2 };

/* What a classifier takes and returns; filled by the family at load time and
 * borrowed from its state (valid until the model is freed). The server's
 * V1/V2 protocol layer validates requests against it. */
struct model_io {
    enum model_input_kind kind;
    /* numeric: values per instance and the per-instance shape ({4} for a
     * table, {28, 28} or {1, 28, 28} for an image). */
    size_t n_features;
    int ndim;
    int64_t shape[4];
    const char *const *feature_names; /* n_features names, or NULL */
    double min_value, max_value;      /* accepted range (inclusive) */
    /* outputs */
    size_t n_classes;
    const char *const *class_names;
};

/* A batch for ops->predict. Numeric: x holds n * n_features floats, already
 * checked to be finite and within range. Text: text[i] has text_len[i] bytes
 * (not NUL-terminated, any byte values). */
struct model_batch {
    size_t n;
    const float *x;
    const char *const *text;
    const size_t *text_len;
};

/* ---- recommenders -------------------------------------------------- */

/* One recommended item: its row and score. */
struct reco_hit {
    int32_t item;
    float score;
};

/* Where the scores of a recommend answer came from. */
enum reco_source {
    RECO_FROM_USER = 0,    /* the user's trained factors */
    RECO_FROM_HISTORY = 1, /* query.history folded in (a user the model never saw) */
    RECO_FROM_POPULAR = 2, /* no user, no history: item popularity */
    RECO_FROM_VECTOR = 3,  /* query.user_vec, made by the caller */
};

/* A recommend (or similar) query. Lists hold rows, resolved with the
 * reco_ops lookups; a NULL list or zero count is no constraint. Scores come
 * from user_vec if set, else the user's factors (user >= 0), else history
 * folded in (n_history > 0), else popularity. */
struct reco_query {
    size_t k;               /* hits wanted (the caller's array holds k) */
    int64_t user;           /* row, or -1 for no (or an unknown) user */
    const int32_t *history; /* items of a user the model never saw: folded in */
    size_t n_history;
    const float *user_vec;  /* reco_ops.factors floats (e.g. from fold_in), or NULL */
    int exclude_seen;       /* drop the user's training items and history */
    const int32_t *exclude; /* items never to return */
    size_t n_exclude;
    const int32_t *candidates; /* rank only these (NULL: the whole catalogue) */
    size_t n_candidates;
    const int32_t *tags; /* keep only items carrying one of these tags */
    size_t n_tags;
    const uint64_t *unavailable; /* bit i set: item row i is never returned; NULL: none */
    /* An approximate item index (mf: models/mf/index.h), when the model has
     * one: used for catalogues of at least index_min_items items (0: never),
     * with a beam of ef_search (0: the family's default), unless `exact`. */
    size_t index_min_items;
    size_t ef_search;
    int exact;
};

/* Which path answered a query (reco_result.search). */
enum reco_search {
    RECO_SEARCH_EXACT = 0,    /* every eligible item scored (no index, or not asked to use it) */
    RECO_SEARCH_INDEX = 1,    /* the approximate item index */
    RECO_SEARCH_FALLBACK = 2, /* the index was asked for, but the filters left too few items
                               * for it to find k: every eligible item scored instead */
};

/* An answer: hits[0..n) best first (ties: the lower row first). */
struct reco_result {
    struct reco_hit *hits; /* the caller's, room for query.k */
    size_t n;
    enum reco_source source;
    enum reco_search search;
    int has_index; /* the model has an approximate index */
};

/* Re-ranking a candidate list (reco_ops.rerank): the k of them to return,
 * trading relevance for variety. Zero values change nothing. */
struct reco_rerank {
    size_t k;           /* items wanted */
    double diversity;   /* 0..1: marginal relevance's weight on the
                         * list's diversity (0: relevance order) */
    size_t max_per_tag; /* at most this many items sharing a tag (0: no cap) */
    /* The candidates' tags when the caller's override the model's (the live
     * catalogue's, issue #15): candidate j carries the keys
     * tag_keys[tag_off[j] .. tag_off[j + 1]) (equal keys, equal tags).
     * NULL: each row's tags in the model. */
    const int32_t *tag_keys;
    const uint32_t *tag_off;
};

/* How many candidates to re-rank for k items: a pool wide enough for the
 * re-ranking to find other kinds of items, narrow enough to keep them
 * relevant. 2k + 10 measured as 4k + 20 at diversity 0.2 (BENCHMARKS.md),
 * and at k = 10 it stays within the query's short-list path (<= 32), which
 * made diversity 0.3 cost 1.3x a plain recommend instead of 2.7x. */
static inline size_t reco_rerank_pool(size_t k)
{
    return 2 * k + 10;
}

/* The items a user's vector stands on, for explanations: rows with their
 * confidence (c = 1 + alpha * weight) and preference (1 likes, 0 does not). */
struct reco_basis {
    const int32_t *items;
    const float *conf; /* NULL: every item the confidence of the median
                        * training pair (1 + alpha when weights were 1) */
    const float *pref; /* NULL: every item 1 */
    size_t n;
};

/* One reason for a recommended item: an item of the user's and its share of
 * the recommended item's score. */
struct reco_because {
    int32_t item;
    float share;
};

/* What a recommending family offers (model_ops.reco). `state` is the
 * model's; strings are borrowed, not NUL-terminated, valid while the model
 * lives. Every function is safe to call from several threads at once. */
struct reco_ops {
    size_t (*n_users)(const void *state);
    size_t (*n_items)(const void *state);
    size_t (*factors)(const void *state); /* floats in a user vector */
    int64_t (*user_index)(const void *state, const char *id, size_t len);
    int64_t (*item_index)(const void *state, const char *id, size_t len);
    int64_t (*tag_index)(const void *state, const char *name, size_t len);
    const char *(*item_id)(const void *state, size_t item, size_t *len);
    /* `"item":"<id>","title":"<title>"`, JSON-escaped once at load. */
    const char *(*item_json)(const void *state, size_t item, size_t *len);
    /* Bytes of scratch the queries below need. */
    size_t (*scratch_bytes)(const void *state);
    /* 0, or ENC_EINVAL (a row out of range) / ENC_EINTERNAL (fold-in failed). */
    int (*recommend)(const void *state, const struct reco_query *q, void *scratch,
                     struct reco_result *res, enc_err *err);
    /* The k items nearest `item` (which is excluded), with q's filters;
     * q's user fields are ignored. res->source is RECO_FROM_USER. */
    int (*similar)(const void *state, int32_t item, const struct reco_query *q, void *scratch,
                   struct reco_result *res, enc_err *err);
    /* A user vector (vec[factors]) from items the user interacted with. */
    int (*fold_in)(const void *state, const int32_t *items, size_t n, void *scratch, float *vec,
                   enc_err *err);

    /* For live recommendations (server/live.c: recorded events folded into
     * answers); NULL in a family without them. Borrowed pointers are valid
     * while the model lives. */
    /* A user's training items (rows); 0 for an unknown row. */
    size_t (*seen)(const void *state, int64_t user, const int32_t **items);
    /* The trained vector of a user / item row (factors floats), or NULL.
     * A user row may be decoded into a per-thread buffer (an f16 user
     * table): valid until the next user_factors call on the same thread. */
    const float *(*user_factors)(const void *state, int64_t user);
    const float *(*item_factors)(const void *state, int64_t item);
    /* The tag ids of an item row. */
    size_t (*item_tags)(const void *state, int64_t item, const int32_t **tags);
    /* The least-squares user step with a confidence (>= 1) and a preference
     * (1 likes, 0 does not) per item row: negative events pull the vector
     * away. Without x0 the exact step. With x0, the user's trained vector,
     * and conf0 / pref0, what each entry was at training (1 / 0 for an item
     * the user had not seen): the update of x0 for what changed (a few
     * conjugate-gradient steps), so no change keeps x0. At most 4,096 items. */
    int (*fold_in_weighted)(const void *state, const int32_t *items, const float *conf,
                            const float *pref, const float *conf0, const float *pref0, size_t n,
                            const float *x0, void *scratch, float *vec, enc_err *err);
    /* The item step for an item the model lacks: its vector from n user
     * vectors (n x factors, row-major) with their confidences; the users who
     * did not play it are not counted against it (it is new). */
    int (*item_step)(const void *state, const float *users, const float *conf, size_t n,
                     void *scratch, float *vec, enc_err *err);
    /* similar() for a vector instead of an item row (an item the model
     * lacks): cosine neighbours with q's filters. */
    int (*similar_vec)(const void *state, const float *vec, const struct reco_query *q,
                       void *scratch, struct reco_result *res, enc_err *err);
    /* The confidence scale: c = 1 + alpha * weight. */
    double (*alpha)(const void *state);

    /* Issue #16; NULL in a family without them. */
    /* Choose res->n = min(o->k, n) of the n candidates (best first, as
     * recommend and similar return them) by marginal relevance:
     * repeatedly the candidate with the best (1 - diversity) * relevance -
     * diversity * 2/(k'-1) * (the sum of its similarities to those already chosen), k' =
     * min(k, n): the greedy step of (1 - diversity) mean relevance + diversity * the list's
     * intra-list diversity; relevance is the score over the best
     * candidate's (min-max scaled when the best is not positive), and never more than max_per_tag
     * items sharing a tag while others remain (past that, the cap gives way: *relaxed counts the
     * places it did, so the caller can widen the pool). Ties go to the earlier candidate. Rows >=
     * n_items (items the model lacks) have no vector and, unless o->tag_keys gives them, no tags.
     * `scratch`: reco_rerank_scratch_bytes(n). res->hits: room for o->k, not the candidates' array.
     */
    int (*rerank)(const void *state, const struct reco_hit *cands, size_t n,
                  const struct reco_rerank *o, void *scratch, struct reco_result *res,
                  size_t *relaxed, enc_err *err);
    /* Why n target rows score as they do for a user whose vector is the
     * least-squares step over `basis` (Hu, Koren & Volinsky 2008, section 5,
     * as implicit's explain()): score_i = sum_j c_j p_j y_i' W y_j with
     * W = (Y'Y + Y'(C - I)Y + reg I)^-1, so item j contributes
     * c_j p_j y_i' W y_j. For target t, because[t * top ..] gets up to `top`
     * basis items with the largest positive contributions, best first, each
     * with its share of the sum of all contributions (the score under that
     * vector); n_because[t] their count (0 for a row >= n_items). Scratch:
     * scratch_bytes(state). At most 4,096 basis items. */
    int (*explain)(const void *state, const struct reco_basis *basis, const int32_t *targets,
                   size_t n, size_t top, void *scratch, struct reco_because *because,
                   size_t *n_because, enc_err *err);
    /* The confidence training gave a pair of summed weight w (the training
     * file's units; |w| for a negative sum), e.g. 1 + alpha * log(1 + w/eps);
     * NULL: 1 + alpha * |w|. And the weight that stands for a pair whose
     * weight is unknown (a training or history item): the median training
     * pair's; NULL: 1. */
    double (*confidence)(const void *state, double weight);
    double (*typical_weight)(const void *state);
};

/* Bytes of scratch reco_ops.rerank needs for n candidates. */
static inline size_t reco_rerank_scratch_bytes(size_t n)
{
    return (n ? n : 1) * (2 * sizeof(float) + sizeof(int32_t));
}

/* Options every model_load honours (the server's score_precision, ...).
 * Zero is the default of each. */
enum model_precision {
    MODEL_PRECISION_AUTO = 0, /* the fastest exact kernel here (mf: i8 with AVX2/FMA, else f32) */
    MODEL_PRECISION_I8,       /* int8 screening + exact f32 re-score (the f32 answer) */
    MODEL_PRECISION_F32,      /* f32 everywhere */
    MODEL_PRECISION_F16,      /* binary16 copies (approximate; needs AVX2/FMA/F16C) */
};

struct model_load_opts {
    /* The families model_load knows: a NULL-terminated table, usually
     * models/families.h's model_families (core itself names none). */
    const struct model_ops *const *families;
    enum model_precision precision;  /* the scoring kernel recommenders build */
    const struct st_open_opts *file; /* header cap, read vs map; NULL: st_default_opts */
};

/* "auto", "i8", "f32", "f16" -> *out. 0 or ENC_EINVAL naming the choices. */
int model_precision_parse(const char *name, enum model_precision *out, enc_err *err);
const char *model_precision_name(enum model_precision p);

struct model_ops {
    const char *family; /* matches metadata "family" */
    enum model_task task;
    /* Build the family state from an opened file. `f` stays open (and its
     * tensors valid) until ops->free, so states may point into the mapping.
     * `opts` is borrowed for the call. */
    int (*load)(const st_file *f, const struct model_load_opts *opts, void **state, enc_err *err);
    void (*free)(void *state);
    size_t (*mem_usage)(const void *state);
    /* Add family-specific fields (sizes, labels, ...) to a JSON object.
     * 0, or ENC_ENOMEM when a value could not be made or set (the object is
     * then incomplete and model_describe gives up on it). */
    int (*describe)(const void *state, json_t *obj);
    /* The trainer's side: serialize the family's in-memory model (`data`,
     * the struct the family's trainer builds) with the common metadata. */
    int (*write)(const void *data, st_writer *w, const json_t *hyper, const char *fingerprint);
    /* Optional: refuse options this machine cannot honour (ENC_EUNSUPPORTED),
     * so a server fails at startup instead of at every load. */
    int (*check_opts)(const struct model_load_opts *opts, enc_err *err);
    /* Classifiers only: the io description, and prob[n * n_classes].
     * Must be safe to call from several threads at once. */
    const struct model_io *(*io)(const void *state);
    int (*predict)(const void *state, const struct model_batch *batch, float *prob, enc_err *err);
    /* Recommenders only (task MODEL_TASK_RECOMMEND). */
    const struct reco_ops *reco;
};

/* The row of `family` in a NULL-terminated table, or NULL. */
const struct model_ops *model_family_find(const struct model_ops *const *families,
                                          const char *family);

/* Every family's check_opts: 0, ENC_EINVAL (no family table) or the first
 * refusal. */
int model_load_opts_check(const struct model_load_opts *opts, enc_err *err);

struct model {
    char *name; /* repository name, e.g. "movielens" */
    int64_t version;
    char *path; /* the model file */
    const struct model_ops *ops;
    void *state;
    st_file *file;
    double load_seconds;
    int64_t loaded_at; /* unix seconds */
    int refs;          /* atomic; see model_ref */
};

/* Open, validate (checksum, format, family) and load the file at `path`
 * with one of opts->families. On success *out holds one reference (caller
 * drops it with model_unref). */
int model_load(const char *name, int64_t version, const char *path,
               const struct model_load_opts *opts, struct model **out, enc_err *err);

/* Serialize `data` with ops->write and publish it as REPO/NAME/VERSION
 * (`out` is REPO/NAME; repo_publish: version 0 = the next free one, written
 * to *version_out if non-NULL). `hyper` (borrowed) is stored as the
 * hyperparameters, `fingerprint` as the training data's SHA-256. */
int model_save(const struct model_ops *ops, const void *data, const json_t *hyper,
               const char *fingerprint, const char *out, int64_t version, int64_t *version_out,
               enc_err *err);

struct model *model_ref(struct model *m); /* returns m; m may be NULL */
void model_unref(struct model *m);        /* frees on the last reference; NULL ok */

/* family, version, load time, checksum, sizes, hyperparameters -> new JSON
 * object, complete or NULL (out of memory). */
json_t *model_describe(const struct model *m);

/* The common metadata every family's trainer writes (format, version,
 * family, created, hyperparameters JSON, data fingerprint). */
int model_write_common_meta(st_writer *w, const char *family, const json_t *hyper,
                            const char *data_fingerprint);

#endif
