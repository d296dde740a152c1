/*
 * linear.h - linear classifiers ("linear" family) and their reusable solver.
 *
 * Two layers:
 *
 * 1. The solver (linear_fit_binary / linear_fit_ovr) trains binary or
 *    one-vs-rest linear models on rows given either dense or sparse (CSR),
 *    with no preprocessing of its own. Other families reuse it (the text
 *    family's NBSVM trains on sparse, NB-scaled n-gram rows):
 *
 *      hinge          soft-margin linear SVM, L1 loss:
 *                       min_w 1/2 |w|^2 + C sum_i max(0, 1 - y_i w.x_i)
 *      squared_hinge  the same with max(0, 1 - y_i w.x_i)^2 (LinearSVC's default)
 *                     both by dual coordinate descent (Hsieh et al. 2008, the
 *                     LIBLINEAR algorithm): rows in a random order per epoch,
 *                     stop when the projected-gradient range is below tol.
 *                     The intercept is the weight of a constant feature of
 *                     value `bias`, so it is regularised, as in LIBLINEAR and
 *                     scikit-learn's LinearSVC.
 *      logistic       L2-regularised logistic regression:
 *                       min 1/2 |w|^2 + C sum_i log(1 + exp(-y_i (w.x_i + b)))
 *                     by Newton's method with conjugate-gradient steps
 *                     (Hessian-vector products only, so it works on sparse
 *                     rows of any width) and an Armijo line search; stops when
 *                     |grad| <= tol * |grad at 0|. The intercept b is not
 *                     regularised, as in scikit-learn's LogisticRegression.
 *      multinomial    (logistic, > 2 classes; linear_fit_multinomial) one
 *                     softmax model over all classes:
 *                       min 1/2 sum_k |w_k|^2 + C sum_i -log softmax(z_i)_{y_i}
 *                     by the same Newton-CG; what scikit-learn's
 *                     LogisticRegression fits by default.
 *
 * 2. The family: linear_train standardises every feature (mean 0, variance
 *    1; constant features get scale 1), fits one-vs-rest, and keeps the
 *    scaler in the model. Probabilities:
 *      logistic   one-vs-rest: p_k = s(f_k) / sum_j s(f_j), s the sigmoid -
 *                 scikit-learn's one-vs-rest normalisation; exact for two
 *                 classes. multinomial: softmax of f_k (the model's own).
 *      SVMs       softmax over the decision values f_k. SVM margins are not
 *                 calibrated probabilities; softmax keeps the arg max and is
 *                 monotone in each f_k, which is all a ranking client needs.
 *                 Platt scaling would need held-out data the trainer does
 *                 not have; call it a confidence, not a probability.
 *    Two classes are fitted as one binary problem (class 1 positive), stored
 *    as two rows w_0 = -w_1 so every consumer sees C rows.
 *
 * Tensors in the file (C classes, D features):
 *   weights F32 [C, D]   on standardised features     intercept F32 [C]
 *   mean F32 [D]         scale F32 [D] (> 0)          z_j = (x_j - mean_j) / scale_j
 *   feature_names.bytes/.offsets, class_names.bytes/.offsets
 * Metadata: family "linear", "loss" (hinge | squared_hinge | logistic),
 * "multi_class" (ovr | multinomial; absent = ovr).
 */
#ifndef ENCORE_LINEAR_H
#define ENCORE_LINEAR_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/err.h"
#include "core/model.h"
#include "core/st.h"

extern const struct model_ops linear_ops;

enum linear_loss { LINEAR_HINGE = 0, LINEAR_SQUARED_HINGE = 1, LINEAR_LOGISTIC = 2 };

/* "hinge", "squared_hinge", "logistic"; parse returns -1 for anything else. */
const char *linear_loss_name(enum linear_loss l);
int linear_loss_parse(const char *s);

/* ---- the solver -------------------------------------------------------- */

/* Training rows, borrowed. Either dense (n x d floats, row-major) or CSR:
 * row i holds value[k] at column index[k] for k in [offsets[i], offsets[i+1]).
 * CSR contract: offsets[0] = 0, offsets ascending, every index < d, no
 * repeated index within a row (order within a row does not matter). All
 * values finite. The solver checks the CSR structure (ENC_EINVAL). */
struct linear_rows {
    size_t n, d;
    const float *dense;     /* or NULL for CSR */
    const int64_t *offsets; /* n + 1 */
    const int32_t *index;
    const float *value;
};

struct linear_solver {
    enum linear_loss loss;
    double c;        /* > 0: inverse regularisation strength (default 1) */
    double tol;      /* stopping tolerance (default 1e-4 SVM, 1e-6 logistic) */
    int max_iter;    /* epochs (SVM, default 1000) or Newton steps (logistic, 100) */
    double bias;     /* constant feature value for the intercept; 0 = none (default 1) */
    uint64_t seed;   /* row order of the SVM epochs */
    int threads;     /* one-vs-rest classes fitted in parallel (>= 1) */
    int multinomial; /* linear_train, logistic, > 2 classes: softmax model (default 0) */
};

void linear_solver_default(struct linear_solver *s, enum linear_loss loss);

struct linear_fit_info {
    int iterations;   /* the most any class needed */
    int converged;    /* 1 when every class met tol */
    double objective; /* primal objective (sum over classes) */
};

/* Fit one binary problem: y[i] is +1 or -1. Writes w[d] and *b (0 when
 * s->bias is 0). info may be NULL. Deterministic for a seed. Returns 0,
 * ENC_EINVAL (bad rows / params / labels) or ENC_ENOMEM. Not converging
 * within max_iter is not an error: info->converged says so. Thread-safe. */
int linear_fit_binary(const struct linear_rows *x, const int8_t *y, const struct linear_solver *s,
                      double *w, double *b, struct linear_fit_info *info, enc_err *err);

/* One-vs-rest over labels y[i] in 0..n_classes-1 (n_classes >= 2): W[C*d]
 * and b[C] (floats). Two classes: one fit, row 0 = -row 1. Classes are
 * fitted on s->threads threads; the result does not depend on the count. */
int linear_fit_ovr(const struct linear_rows *x, const int32_t *y, size_t n_classes,
                   const struct linear_solver *s, float *W, float *b, struct linear_fit_info *info,
                   enc_err *err);

/* Multinomial logistic regression over labels 0..n_classes-1: W[C*d], b[C]
 * (intercepts centred to sum 0). s->loss is ignored; s->threads unused.
 * Same returns as linear_fit_binary. */
int linear_fit_multinomial(const struct linear_rows *x, const int32_t *y, size_t n_classes,
                           const struct linear_solver *s, float *W, float *b,
                           struct linear_fit_info *info, enc_err *err);

/* Decision values -> probabilities for C classes, in place safe
 * (scores == prob allowed); see the top of this file. */
void linear_scores_to_prob(enum linear_loss loss, int multinomial, const float *scores, size_t C,
                           float *prob);

/* ---- the family ---------------------------------------------------------- */

struct linear_model {
    enum linear_loss loss;
    int multinomial; /* logistic fitted as one softmax model */
    double c;
    size_t n_features, n_classes;
    float *weights;       /* C * D, standardised space */
    float *intercept;     /* C */
    float *mean, *scale;  /* D */
    float *w_eff, *b_eff; /* folded: scores = x . w_eff^T + b_eff (D * C, C) */
    char **feature_names, **class_names;
    struct model_io io;
    struct linear_fit_info info;
};

/* Standardise x (n x d), fit one-vs-rest (or multinomial, see
 * linear_solver.multinomial), keep the scaler. Names are copied
 * (NULL: "f0".. / "0"..). *out caller-owned (linear_model_free). */
int linear_train(const float *x, const int32_t *y, size_t n, size_t d, size_t n_classes,
                 const char *const *feature_names, const char *const *class_names,
                 const struct linear_solver *s, struct linear_model **out, enc_err *err);

void linear_model_free(struct linear_model *m); /* NULL is a no-op */

/* Class probabilities prob[n * C] for raw (unstandardised) rows; scores
 * (optional, n * C) gets the decision values. Thread-safe. Returns 0 or
 * ENC_ENOMEM. */
int linear_predict(const struct linear_model *m, const float *x, size_t n, float *prob,
                   float *scores);

int linear_write(const struct linear_model *m, st_writer *w, const json_t *hyper,
                 const char *fingerprint);
/* Validating loader: shapes, dtypes, finite values, scale > 0, known loss. */
int linear_from_file(const st_file *file, struct linear_model **out, enc_err *err);

/* Hyperparameters <-> JSON ({"loss","c","tol","max_iter","bias","seed","multi_class"}). */
json_t *linear_solver_json(const struct linear_solver *s);
int linear_solver_from_json(const json_t *j, struct linear_solver *s, enc_err *err);

#endif
