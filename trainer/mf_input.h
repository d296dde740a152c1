/*
 * mf_input.h - what `encore-train als` and `encore-train bpr` share: reading
 * the interactions and item metadata named on the command line, the
 * optional --validation report, and the progress line format.
 */
#ifndef ENCORE_TRAINER_MF_INPUT_H
#define ENCORE_TRAINER_MF_INPUT_H

#include <jansson.h>

#include "events/training.h"
#include "mf/interactions.h"
#include "mf/mf.h"

struct mf_input {
    const char *interactions, *items;       /* paths (either may be NULL; interactions
                                               only when events is given) */
    const char *events;                     /* event store (directory or redis://), or NULL */
    const char *event_weights;              /* type:weight list (event.h), or NULL: default */
    struct evtrain_info ev;                 /* filled when events is given */
    const char *format, *items_format;      /* names, see interactions.h */
    double min_rating;
    struct ia_matrix m;                     /* filled by mf_input_load */
    struct ia_items it;
    int have_items;
    char fingerprint[65];                   /* SHA-256 over the input files */
};

/* The options every mf trainer shares for the event store (--events,
 * --event-weights): rows for an option table. */
#define MF_INPUT_EVENT_OPTS(in)                                                           \
    {"events", OPT_STR, &(in).events,                                                     \
     "also train on the event store (a directory or redis://HOST:PORT[/DB]); erased users " \
     "are left out", 0, -1, 0},                                                           \
    {"event-weights", OPT_STR, &(in).event_weights,                                       \
     "event types and weights (confidences), as the server's event_weights", 0, -1, 0}

/* Read the files (and the event store); on failure print "encore-train CMD: message" and return
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
