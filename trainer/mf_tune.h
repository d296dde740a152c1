/*
 * mf_tune.h - `encore-train als|bpr --tune [--tune-budget N]`: a small
 * hyperparameter search on a validation split carved from the input, so a
 * user with a data set unlike MovieLens gets settings fitted to it without
 * writing a grid search.
 *
 * 1. Split the loaded interactions per user (mf/holdout.h: the rule of
 *    shared/datasets/README.md, seeded with --seed).
 * 2. Fit the starting settings (the defaults, or what the command line
 *    gave) on the fit part and score NDCG@10 on the validation part, user by
 *    user (mf/rank_eval.h's rank_evaluate_users): trial 1.
 * 3. Coordinate search, one setting at a time: ALS tries the confidence
 *    scheme (when the weights differ), alpha and regularization (x1/4 ..
 *    x4), factors and iterations (x1/2, x2) and, under the log scheme,
 *    epsilon (x1/4 .. x4); BPR the confidence scheme, learning rate,
 *    regularization, factors, epochs and log epsilon. Then alpha and
 *    regularization (learning rate and regularization) again in finer
 *    steps (x2^(+-1/2), x2^(+-1/4), ...) until the budget is spent. A
 *    setting already tried is not fitted again.
 *    The best candidate of a step replaces the current setting only when
 *    its gain is significant: a one-sided paired z-test over the validation
 *    users' NDCG@10 differences, at level 0.05 / (candidates fitted in the
 *    step) (Bonferroni), so a lucky draw among noisy scores does not move
 *    the search (on ml-100k, 5 iterations scored 2% above the defaults'
 *    10 on validation, z 1.5, and 3% below them on test).
 * 4. The caller refits the winner on all the data.
 *
 * The budget bounds the number of fits and the estimated arithmetic of
 * the search and the final fit, in fits of the starting settings on all
 * the data (a model of the flops of als.c's sweeps, BPR's updates and the
 * scoring): a trial that would pass it is skipped (and said), so costly
 * ones (twice the factors: about 4 fits) cannot overrun it. The estimate
 * is of arithmetic, not of time, so the same seed gives the same search.
 *
 * The starting settings are trial 1 and a change is kept only with a
 * higher validation NDCG@10, so on the validation split the result is
 * never worse than the defaults. Each fit uses every core the process may
 * use (ALS's result does not depend on the thread count; BPR keeps
 * --threads, on which its sampling depends), so a search is deterministic
 * for a seed. Progress is one stderr line per fit and per step.
 *
 * The table of trials (settings, validation NDCG@10, gain z, cost,
 * seconds) and the choice are returned as JSON for the model's hyperparameters ("tune"),
 * which GET /v1/models/{name} shows.
 */
#ifndef ENCORE_TRAINER_MF_TUNE_H
#define ENCORE_TRAINER_MF_TUNE_H

#include <jansson.h>

#include "mf/als.h"
#include "mf/bpr.h"
#include "mf_input.h"

/* Search from *p (in->m loaded, in->scheme resolved) with at most `budget`
 * fits; on success *p holds the chosen settings and *table the search
 * (new reference). Returns 0 or an exit status (messages printed). */
int mf_tune_als(const struct mf_input *in, struct als_params *p, int budget, json_t **table);
int mf_tune_bpr(const struct mf_input *in, struct bpr_params *p, int budget, json_t **table);

#endif
