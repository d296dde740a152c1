/*
 * als.h - implicit-feedback alternating least squares (Hu, Koren & Volinsky,
 * "Collaborative Filtering for Implicit Feedback Datasets", ICDM 2008).
 *
 * For an interaction weight r_ui > 0 the preference is p_ui = 1 with
 * confidence c_ui = 1 + alpha * r_ui; every other cell has p = 0, c = 1.
 * ALS minimises
 *     sum_ui c_ui (p_ui - x_u . y_i)^2 + reg (|X|^2 + |Y|^2)
 * by solving, in turn, each user's row for fixed item factors Y:
 *     (Y^T Y + Y^T (C_u - I) Y + reg I) x_u = Y^T C_u p_u
 * where Y^T Y is computed once per half-iteration and the correction only
 * touches the user's own items (the "YtY trick"), then each item's row for
 * fixed X. Two solvers:
 *   ALS_SOLVER_CG        a few conjugate-gradient steps per row, warm-started
 *                        from the previous value (what the `implicit`
 *                        library does by default; Takacs et al. 2011);
 *   ALS_SOLVER_CHOLESKY  the exact solve (LAPACK sposv).
 * Rows are independent given the other side, so the result does not depend
 * on the thread count or scheduling: same seed, same factors.
 *
 * The weight r_ui enters as c_ui = 1 + alpha * f(r_ui), f chosen by
 * `confidence` (mf/confidence.h: binary, linear, log, BM25, TF-IDF, or
 * AUTO to decide from the weights); the paper's form above is `linear`.
 */
#ifndef ENCORE_MF_ALS_H
#define ENCORE_MF_ALS_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "mf/confidence.h"

struct ia_matrix;
struct ia_items;
struct mf_data;

enum als_solver { ALS_SOLVER_CG = 0, ALS_SOLVER_CHOLESKY = 1 };
enum als_weighting { ALS_WEIGHT_NONE = 0, ALS_WEIGHT_BM25 = 1, ALS_WEIGHT_TFIDF = 2 };

/* Called after each iteration (1-based) with that iteration's wall time and
 * the loss (the objective above divided by n_users * n_items). */
typedef void (*als_progress_fn)(void *ctx, int iteration, double seconds, double loss);

struct als_params {
    size_t factors;
    int iterations;
    double regularization;
    double reg_exponent; /* row regularization = reg * (n_row / mean n_row)^this;
                            0: the same reg for every row */
    double alpha;
    enum als_solver solver;
    int cg_steps; /* CG steps per row and half-iteration */
    int threads;  /* >= 1 */
    uint64_t seed;
    enum conf_scheme confidence; /* CONF_AUTO: conf_auto on the weights */
    double epsilon;              /* log's epsilon; <= 0: conf_default_epsilon */
    double bm25_k1, bm25_b;
    als_progress_fn progress; /* may be NULL */
    void *progress_ctx;
};

/* Encore's defaults (chosen on a validation split; see docs/training.md). */
void als_params_default(struct als_params *p);

/* A sparse matrix of interaction weights, rows x cols, CSR. Borrowed. */
struct als_csr {
    size_t rows, cols;
    const int64_t *indptr;  /* rows + 1 */
    const int32_t *indices; /* column indexes */
    const float *weights;   /* > 0 */
};

/* Validate parameters: 0 or ENC_EINVAL with a message naming the field. */
int als_params_check(const struct als_params *p, enc_err *err);

/* Fit user_factors[rows * F] and item_factors[cols * F] (caller-allocated;
 * their contents are overwritten by the seeded initialisation). Returns 0,
 * ENC_EINVAL (bad parameters), ENC_ENOMEM, or ENC_EINTERNAL (a system that
 * is not positive definite, impossible with regularization > 0). Sets
 * OpenBLAS to one thread (process-wide): the parallelism is over rows. */
int als_fit(const struct als_csr *R, const struct als_params *p, float *user_factors,
            float *item_factors, enc_err *err);

/* One half-iteration: for each row r of C (confidence minus one, c - 1 > 0,
 * per stored entry) solve x_r against the fixed factors Y[C->cols * F] with
 * preference 1 on stored entries and regularization reg (scaled per row by
 * reg_exponent, see als_params). X[C->rows * F] is the warm start for CG and
 * receives the result. Exposed for tests. */
int als_solve_rows(const struct als_csr *C, const float *Y, size_t factors, double reg,
                   double reg_exponent, enum als_solver solver, int cg_steps, int threads, float *X,
                   enc_err *err);

/* The loss als_fit reports for factors X, Y and confidences-minus-one C. */
double als_loss(const struct als_csr *C, const float *X, const float *Y, size_t factors,
                double reg);

/* BM25 / TF-IDF weights (without alpha) for R, the primitive behind the
 * bm25 and tfidf confidence schemes (ALS_WEIGHT_NONE copies R's weights):
 * out[nnz], same pattern. Returns 0 or ENC_ENOMEM. */
int als_weights(const struct als_csr *R, enum als_weighting w, double k1, double b, float *out);

/* The scheme and epsilon p->confidence / p->epsilon mean for these
 * weights (AUTO and epsilon <= 0 resolved; `why` gets conf_auto's reason,
 * or "" when the scheme was given). Returns 0 or ENC_ENOMEM. */
int als_resolve_confidence(const float *weights, size_t nnz, const struct als_params *p,
                           enum conf_scheme *scheme, double *eps, char *why, size_t cap);

/* Train on an interaction matrix and fill `d` (zeroed first): factors, ids,
 * seen items, popularity, titles/tags from `items` (may be NULL),
 * regularization, alpha, algorithm "als". On failure `d` is cleared. */
int als_train(const struct ia_matrix *m, const struct ia_items *items, const struct als_params *p,
              struct mf_data *d, enc_err *err);

#endif
