/*
 * rank_eval.h - top-k ranking metrics for recommenders, exactly as
 * shared/datasets/README.md defines them for the MovieLens splits:
 *
 *   For each user with test items (others are skipped), rank the catalog
 *   (the distinct items of the training file) minus the user's training
 *   items, ties to the lower item id, and take the top k. With h hits and T
 *   test items (including test items never seen in training, which can never
 *   be hits but stay in the denominators):
 *     precision = h / k            recall = h / T
 *     NDCG      = sum_hits 1/log2(rank+1) / sum_{r=1..min(k,T)} 1/log2(r+1)
 *     MAP@k     = sum_hits (hits so far / rank) / min(k, T)
 *     hit rate  = share of users with h > 0
 *   averaged over users; coverage = distinct recommended items / catalog.
 *
 * The recommender is a callback, so the same code scores a served model
 * (cmd_eval_mf.c), raw factors (rank_eval_factors) and the popularity
 * baseline (rank_eval_popularity).
 */
#ifndef ENCORE_MF_RANK_EVAL_H
#define ENCORE_MF_RANK_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct ia_matrix;

struct re_metrics {
    double precision, recall, ndcg, map, hit_rate, coverage;
    size_t users; /* users evaluated (with test items) */
};

/* Recommend up to k items for a user, best first, as row indexes of the
 * training matrix's items, never one of `train_items`. user_id is the test
 * file's id; train_user is its row in the training matrix, or -1 (then
 * train_items is empty). Returns 0 or a negative ENC_E* code. */
typedef int (*re_recommend_fn)(void *ctx, const char *user_id, int64_t train_user,
                               const int32_t *train_items, size_t n_train, size_t k, int32_t *out,
                               size_t *n_out, enc_err *err);

/* Evaluate `fn` on `test` against `train` at cutoff k (1..1000). Returns 0,
 * ENC_EINVAL (k out of range, a callback returning an out-of-range or
 * training item) or the callback's error. */
int rank_evaluate(const struct ia_matrix *train, const struct ia_matrix *test, size_t k,
                  re_recommend_fn fn, void *ctx, struct re_metrics *out, enc_err *err);

/* rank_evaluate, and each test user's NDCG@k in user_ndcg[u] for the test
 * matrix's row u (caller-owned, test->n_users entries; NAN for a row with
 * no test items), so two recommenders can be compared user by user (a
 * paired test: trainer/mf_tune.c). user_ndcg may be NULL. */
int rank_evaluate_users(const struct ia_matrix *train, const struct ia_matrix *test, size_t k,
                        re_recommend_fn fn, void *ctx, struct re_metrics *out, double *user_ndcg,
                        enc_err *err);

/* How a test file relates to a training file, before anything is scored:
 * pairs in both (a test item the user has in training is excluded from
 * the ranking, so it can never be a hit) and ids that match. */
struct re_overlap {
    size_t test_pairs, shared_pairs;       /* test pairs; of them also in train */
    size_t test_users, known_users;        /* test users; of them with training data */
    size_t test_items, known_items;        /* distinct test items; of them in the catalog */
    size_t known_pairs;                    /* test pairs whose item is in the catalog */
    char shared_user[48], shared_item[48]; /* one shared pair (when any) */
    char unknown_item[48], train_item[48]; /* an unknown test item, a catalog item */
};

/* Fill *out for `test` against `train`. Returns 0 or ENC_ENOMEM. */
int rank_overlap(const struct ia_matrix *train, const struct ia_matrix *test,
                 struct re_overlap *out);

/* Per-user metrics from one ranked list: hits among `ranked` (n_ranked <= k)
 * of the sorted `test_items` (n_known of them in the catalog, n_test in all).
 * Exposed for tests; fills all but coverage with this user's values. */
void rank_user_metrics(const int32_t *ranked, size_t n_ranked, const int32_t *test_items,
                       size_t n_known, size_t n_test, size_t k, struct re_metrics *m);

/* The popularity baseline: items by number of training users, descending,
 * ties to the lower row. */
struct re_popularity;
int rank_popularity_new(const struct ia_matrix *train, struct re_popularity **out);
void rank_popularity_free(struct re_popularity *p);
int rank_popularity_fn(void *ctx, const char *user_id, int64_t train_user,
                       const int32_t *train_items, size_t n_train, size_t k, int32_t *out,
                       size_t *n_out, enc_err *err);

/* Scores = user factors . item factors in the training matrix's own index
 * space (what als_fit / bpr_fit produce); unknown users fall back to
 * popularity. Not thread-safe (one scratch buffer). */
struct re_factors;
int rank_factors_new(const struct ia_matrix *train, const float *user_factors,
                     const float *item_factors, size_t factors, struct re_factors **out);
void rank_factors_free(struct re_factors *f);
int rank_factors_fn(void *ctx, const char *user_id, int64_t train_user, const int32_t *train_items,
                    size_t n_train, size_t k, int32_t *out, size_t *n_out, enc_err *err);

#endif
