/*
 * confidence.h - from interaction weights to the confidences ALS trains on
 * (and the sampling weights of BPR), shared by training and serving.
 *
 * A stored (user, item) pair has a weight w > 0: 1 per kept rating of a
 * rating file, the weight column of a generic file (play counts, minutes,
 * ...), plus the type weights of recorded events (events/training.h sums
 * them into the same pair). Hu, Koren & Volinsky (ICDM 2008, section 3)
 * turn it into a confidence c = 1 + alpha * f(w):
 *
 *   binary   f(w) = 1                   every pair counts the same
 *   linear   f(w) = w                   the paper's first form
 *   log      f(w) = log(1 + w / eps)    the paper's second form, for counts
 *   bm25     f(w) = BM25(w)             implicit's bm25_weight (item x user)
 *   tfidf    f(w) = TF-IDF(w)           implicit's tfidf_weight
 *
 * Heavy-tailed counts (plays from 1 to 10^5) under `linear` give a few
 * pairs confidences past a million, which then decide every user's vector;
 * `log` compresses them. `conf_auto` picks a scheme from the weights
 * themselves and says why (the rule is in conf_auto's comment and
 * docs/training.md).
 *
 * Serving (fold-in of a history or of recorded events) needs the same f for
 * a single pair, without the whole matrix: `conf_serve` is f for binary,
 * linear and log, and for bm25 / tfidf (which depend on the matrix) the
 * linear map through the median: the median pair gets the median training
 * value of f. A pair whose weight the model file does not keep (a training
 * item, a history item) counts as the median training weight.
 */
#ifndef ENCORE_MF_CONFIDENCE_H
#define ENCORE_MF_CONFIDENCE_H

#include <stddef.h>
#include <stdint.h>

enum conf_scheme {
    CONF_AUTO = 0, /* decide from the weights (conf_auto) */
    CONF_BINARY,
    CONF_LINEAR,
    CONF_LOG,
    CONF_BM25,
    CONF_TFIDF,
};

/* "auto", "binary", "linear", "log", "bm25", "tfidf" (NULL-terminated, in
 * enum order: option tables list it). */
extern const char *const conf_scheme_names[];
/* 0, or -1 for an unknown name. */
int conf_scheme_parse(const char *name, enum conf_scheme *out);
const char *conf_scheme_name(enum conf_scheme s);

/* What the weight column holds: the summary the trainer prints. */
struct conf_stats {
    size_t n; /* pairs */
    double min, median, max, p90, p99, mean;
    int all_equal; /* every weight the same */
    int integers;  /* every weight a whole number */
};

/* Summarise w[0..n) (n may be 0: everything zero). Returns 0 or ENC_ENOMEM. */
int conf_stats_compute(const float *w, size_t n, struct conf_stats *out);

/* The automatic choice:
 *   all weights equal                      -> binary
 *   max / median <= 10 (ratings, small counts: a bounded scale)
 *                                          -> log, eps = median / (e - 1)
 *   otherwise (heavy-tailed counts)        -> binary
 * The log epsilon puts the median pair at f = 1, so it gets the confidence
 * 1 + alpha that binary data gets with the same alpha (the defaults were
 * tuned on binary data); a pair at 3x the median gets f = 1.8. Measured at
 * the default alpha (docs/training.md, BENCHMARKS.md): on bounded weights
 * (the demo data's 1-3, MovieLens ratings as weights) log beats binary and
 * linear; on heavy-tailed counts (demo-data --counts) binary beats log,
 * whose heaviest pairs still weigh tens of times the lightest, and linear
 * (which lets a few pairs decide every vector) is far behind both.
 * `why` receives one sentence (room for `cap` bytes). */
enum conf_scheme conf_auto(const struct conf_stats *s, double *eps, char *why, size_t cap);

/* The default epsilon of the log scheme for these weights: median / (e - 1)
 * (1 when there are none). */
double conf_default_epsilon(const struct conf_stats *s);

/* A CSR matrix (rows x cols, indptr / indices / weights) -> out[nnz] = f(w)
 * under scheme s (not AUTO), eps for log, K1 / B for bm25. Every value is
 * > 0 (a stored pair stays a positive). Returns 0 or ENC_ENOMEM. */
int conf_transform(size_t rows, size_t cols, const int64_t *indptr, const int32_t *indices,
                   const float *weights, enum conf_scheme s, double eps, double k1, double b,
                   float *out);

/* What serving needs to rebuild f for one pair (stored in the model's
 * hyperparameters as "confidence"). */
struct conf_serving {
    enum conf_scheme scheme; /* as trained (never AUTO) */
    double alpha, epsilon;
    double typical_weight; /* the median training pair weight (a pair of unknown weight) */
    double typical_f;      /* the median training f (bm25 / tfidf's linear map) */
};

/* f for one pair of summed weight w (> 0) under the serving rules above. */
double conf_serve_f(const struct conf_serving *cs, double w);

/* The confidence 1 + alpha * f(|w|) (w = 0 gives 1). */
double conf_serve(const struct conf_serving *cs, double w);

#endif
