/*
 * bpr.h - Bayesian Personalized Ranking (Rendle, Freudenthaler, Gantner &
 * Schmidt-Thieme, UAI 2009) with stochastic gradient descent.
 *
 * For a sampled triple (u, i, j) - i a positive of u, j drawn uniformly from
 * the items u has not interacted with - maximise ln sigma(x_ui - x_uj) with
 * x_ui = x_u . y_i; L2 regularization on the touched rows. As `implicit`
 * does, the last factor column is an item bias: users keep a constant 1
 * there, so the saved model scores with a plain dot product.
 *
 * Parallelism without races (and so reproducible for a seed and a thread
 * count): users and items are each cut into T contiguous blocks; an epoch has
 * T rounds, and in round s thread t samples only positives and negatives of
 * item block (t + s) mod T for users of block t. No two threads touch the
 * same row in a round (the stratification of DSGD, Gemulla et al. 2011).
 * With T = 1 this is plain uniform-sampling BPR.
 *
 * Weights: a positive (u, i) is drawn with probability proportional to its
 * confidence c_ui = 1 + alpha * f(w_ui) (mf/confidence.h, as ALS's), so a
 * pair played 500 times is sampled more often than one played once; with
 * the binary scheme (every weight equal, as in rating files) that is the
 * uniform draw of plain BPR. The number of draws per epoch stays nnz.
 */
#ifndef ENCORE_MF_BPR_H
#define ENCORE_MF_BPR_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "mf/confidence.h"

struct ia_matrix;
struct ia_items;
struct mf_data;
struct als_csr;

typedef void (*bpr_progress_fn)(void *ctx, int epoch, double seconds, double auc);

struct bpr_params {
    size_t factors; /* including the bias column; >= 2 */
    int epochs;     /* each draws nnz samples */
    double learning_rate;
    double regularization;
    int threads;
    uint64_t seed;
    enum conf_scheme confidence; /* CONF_AUTO: conf_auto on the weights */
    double alpha, epsilon;       /* sampling weight 1 + alpha * f(w); epsilon <= 0: default */
    bpr_progress_fn progress;    /* gets the epoch's sampled pairwise accuracy */
    void *progress_ctx;
};

void bpr_params_default(struct bpr_params *p);
int bpr_params_check(const struct bpr_params *p, enc_err *err);

/* Fit X[rows * F] and Y[cols * F] (caller-allocated, overwritten) on R:
 * every stored entry is a positive, drawn by its confidence (above).
 * Returns 0, ENC_EINVAL or ENC_ENOMEM. */
int bpr_fit(const struct als_csr *R, const struct bpr_params *p, float *X, float *Y, enc_err *err);

/* Train and fill `d` (zeroed first) as als_train does, algorithm "bpr".
 * d->regularization / alpha are set for fold-in (alpha 1). */
int bpr_train(const struct ia_matrix *m, const struct ia_items *items, const struct bpr_params *p,
              struct mf_data *d, enc_err *err);

#endif
