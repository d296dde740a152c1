/*
 * mf_input.h - what `encore-train als` and `encore-train bpr` share: reading
 * the interactions and item metadata named on the command line, the
 * optional --validation report, and the progress line format.
 */
#ifndef ENCORE_TRAINER_MF_INPUT_H
#define ENCORE_TRAINER_MF_INPUT_H

#include <jansson.h>

#include "events/training.h"
#include "mf/confidence.h"
#include "mf/interactions.h"
#include "mf/mf.h"

struct mf_input {
    const char *interactions, *items;         /* paths (either may be NULL; interactions
                                                 only when events is given) */
    const char *events;                       /* event store (directory or redis://), or NULL */
    const char *event_weights;                /* type:weight list (event.h), or NULL: default */
    struct evtrain_info ev;                   /* filled when events is given */
    const char *format, *items_format;        /* names, see interactions.h */
    int64_t item_id_col, title_col, tags_col; /* csv / tsv items (0: by header) */
    int header;                               /* enum ia_header (--header) */
    int confidence;                           /* enum conf_scheme (--confidence) */
    double epsilon;                           /* --epsilon (0: median / (e - 1)) */
    int allow_overlap;                        /* --validation may share pairs with the data */
    double min_rating;
    struct ia_matrix m; /* filled by mf_input_load */
    struct ia_items it;
    int have_items;
    char fingerprint[65]; /* SHA-256 over the input files */
    /* what the weights are and what is done with them (mf_input_load) */
    struct conf_stats wstats; /* the pairs' summed weights */
    enum conf_scheme scheme;  /* resolved (never AUTO) */
    double eps;               /* resolved log epsilon */
    int scheme_auto;          /* chosen by conf_auto */
    char scheme_why[400];     /* conf_auto's reason (its longest is ~260 bytes) */
};

/* clang-format off */
/* --allow-overlap, --tune and --tune-budget: rows for an option table
 * (`tune` an int, `budget` an int64_t, `what` the settings searched). */
#define MF_INPUT_TUNE_OPTS(in, tune, budget, what)                                        \
    {"allow-overlap", OPT_FLAG, &(in).allow_overlap,                                      \
     "--validation may share (user, item) pairs with the data (a warning, not an error)", \
     0, -1, 0},                                                                            \
    {"tune", OPT_FLAG, &(tune),                                                           \
     "search " what " on a validation split of the data, then train the best on all of "  \
     "it", 0, -1, 0},                                                                      \
    {"tune-budget", OPT_INT, &(budget),                                                   \
     "--tune: at most N fits (the starting settings are one), and the search plus the "   \
     "final fit cost at most N fits of the starting settings", 2, 1000, 0}

/* "auto", "yes", "no" (enum ia_header order). */
extern const char *const mf_input_header_names[];

/* Item metadata options: rows for an option table. */
#define MF_INPUT_ITEM_OPTS(in)                                                            \
    {"items", OPT_STR, &(in).items,                                                       \
     "item metadata: MovieLens u.item, movies.csv, or a CSV/TSV with id and title "        \
     "columns (named by a header, or --item-id-col/--title-col)", 0, -1, 0},               \
    {"items-format", OPT_STR, &(in).items_format, "auto, uitem, movies-csv, csv or tsv",  \
     0, -1, 0},                                                                            \
    {"item-id-col", OPT_INT, &(in).item_id_col,                                           \
     "csv/tsv items: the id column, 1-based (0: by header name)", 0, 100000, 0},           \
    {"title-col", OPT_INT, &(in).title_col,                                               \
     "csv/tsv items: the title column, 1-based (0: by header name)", 0, 100000, 0},        \
    {"tags-col", OPT_INT, &(in).tags_col,                                                 \
     "csv/tsv items: the tags column ('|' or ',' inside), 1-based (0: by header, or none)", \
     0, 100000, 0}

/* What the weight column means and whether line 1 is a header: rows for an
 * option table. */
#define MF_INPUT_WEIGHT_OPTS(in)                                                          \
    {"header", OPT_ENUM, &(in).header,                                                    \
     "is the interaction file's first line a header (auto: detected and reported)", 0,    \
     -1, 0, mf_input_header_names},                                                        \
    {"confidence", OPT_ENUM, &(in).confidence,                                            \
     "weight w -> confidence 1 + alpha*f(w): f = 1, w, log(1 + w/epsilon), BM25, TF-IDF "  \
     "(auto: from the weights, see docs/training.md)", 0, -1, 0, conf_scheme_names},       \
    {"epsilon", OPT_DOUBLE, &(in).epsilon,                                                \
     "--confidence log's epsilon (0: median weight / (e - 1))", 0, 1e300, 0}

/* The options every mf trainer shares for the event store (--events,
 * --event-weights): rows for an option table. */
#define MF_INPUT_EVENT_OPTS(in)                                                           \
    {"events", OPT_STR, &(in).events,                                                     \
     "also train on the event store (a directory or redis://HOST:PORT[/DB]); erased users " \
     "are left out", 0, -1, 0},                                                           \
    {"event-weights", OPT_STR, &(in).event_weights,                                       \
     "event types and weights (confidences), as the server's event_weights", 0, -1, 0}
/* clang-format on */

/* --user-precision f32|f16 (als, bpr, import): how the model file stores
 * user factors; f16 halves the largest table of a model with many users
 * (mf.h). The row for an option table; `var` an int, 1 for f16. */
extern const char *const mf_user_precision_names[]; /* {"f32", "f16", NULL} */
#define MF_USER_PRECISION_OPT(var)                                                                 \
    {                                                                                              \
        "user-precision", OPT_ENUM, &(var),                                                        \
            "user factors in the model file: f32, or f16 (half the bytes; scores change by "       \
            "about 1e-3 of their size)",                                                           \
            0, -1, 0, mf_user_precision_names                                                      \
    }

/* Read the files (and the event store); on failure print "encore-train CMD: message" and return
 * the exit status (1 bad input, 2 bad option value); 0 on success. */
int mf_input_load(const char *cmd, struct mf_input *in);
void mf_input_clear(struct mf_input *in);

/* Add the input options (format, min_rating, ...) to a hyperparameter object. */
void mf_input_describe(const struct mf_input *in, json_t *hyper);

/* Add "confidence": {"scheme", "auto", "alpha", "epsilon", "typical_weight",
 * "typical_f", "weights": {min, median, p99, max}} for a model trained with
 * `alpha` under the resolved scheme: what serving needs to give recorded
 * events and histories the confidences training gave (mf/confidence.h). */
int mf_input_describe_confidence(const struct mf_input *in, double alpha, json_t *hyper);

/* Evaluate trained factors (in the input's own row order) on a held-out
 * file at k = 10 and print one JSON line on stderr:
 *   validation: {"model": {...}, "popularity": {...}, "users": N, "k": 10}
 * The file must share no (user, item) pair with the training data (an
 * error naming the count, a warning with allow_overlap) and its ids must
 * match the data's (a warning says how many do not). Returns 0 or an exit
 * status. */
int mf_input_validate(const char *cmd, const struct mf_input *in, const char *path,
                      const struct mf_data *d);

/* Before scoring `test` against `train`: pairs in both are an error naming
 * the count (exit status 1) or, with allow_overlap, a warning; no test item
 * in the catalog is an error (the ids do not match); some unknown users or
 * items are said. Returns 0 or an exit status. */
int mf_overlap_guard(const char *cmd, const char *train_name, const char *test_name,
                     const struct ia_matrix *train, const struct ia_matrix *test,
                     int allow_overlap);

/* Publish `d` to `out` and print the version directory on stdout. */
int mf_input_publish(const char *cmd, const struct mf_input *in, const struct mf_data *d,
                     json_t *hyper, const char *out, int64_t version);

/* {"precision": .., "recall": .., ...} for a metrics struct (new reference). */
struct re_metrics;
json_t *mf_metrics_json(const struct re_metrics *m);

#endif
