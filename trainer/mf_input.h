/*
 * mf_input.h - what `encore-train als` and `encore-train bpr` share: reading
 * the interactions and item metadata named on the command line, the
 * optional --validation report, and the progress line format.
 */
#ifndef ENCORE_TRAINER_MF_INPUT_H
#define ENCORE_TRAINER_MF_INPUT_H

#include <jansson.h>

#include "mf/interactions.h"
#include "mf/mf.h"

struct mf_input {
    const char *interactions, *items;       /* paths (items may be NULL) */
    const char *format, *items_format;      /* names, see interactions.h */
    double min_rating;
    struct ia_matrix m;                     /* filled by mf_input_load */
    struct ia_items it;
    int have_items;
    char fingerprint[65];                   /* SHA-256 over the input files */
};

/* Read the files; on failure print "encore-train CMD: message" and return
 * the exit status (1 bad input, 2 bad option value); 0 on success. */
int mf_input_load(const char *cmd, struct mf_input *in);
void mf_input_clear(struct mf_input *in);

/* Add the input options (format, min_rating, ...) to a hyperparameter object. */
void mf_input_describe(const struct mf_input *in, json_t *hyper);

/* Evaluate trained factors (in the input's own row order) on a held-out
 * file at k = 10 and print one JSON line on stderr:
 *   validation: {"model": {...}, "popularity": {...}, "users": N, "k": 10}
 * Returns 0 or an exit status. */
int mf_input_validate(const char *cmd, const struct mf_input *in, const char *path,
                      const struct mf_data *d);

/* Publish `d` to `out` and print the version directory on stdout. */
int mf_input_publish(const char *cmd, const struct mf_input *in, const struct mf_data *d,
                     json_t *hyper, const char *out, int64_t version);

/* {"precision": .., "recall": .., ...} for a metrics struct (new reference). */
struct re_metrics;
json_t *mf_metrics_json(const struct re_metrics *m);

#endif
