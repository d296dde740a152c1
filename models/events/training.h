/*
 * training.h - what encore-train reads from the event store: the recorded
 * events merged with an interaction file into one training matrix.
 *
 * Each event contributes its type's weight (event.h) to its (user, item)
 * pair, on top of the file's weight for the pair; a pair whose sum is not
 * positive is left out (a dislike cancels a play). Users erased from the
 * store (tombstones) lose their rows of the file: only what they did after
 * the erasure, if anything, is trained on.
 *
 * The training cutoff is the store's last sequence number when the read
 * began: events up to it are in the model, and the server folds in only the
 * ones after it (a model records it with the store's id in its metadata).
 */
#ifndef ENCORE_EVENTS_TRAINING_H
#define ENCORE_EVENTS_TRAINING_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "events/event.h"
#include "events/store.h"
#include "mf/interactions.h"

struct evtrain_info {
    size_t events;             /* events read within the cutoff */
    size_t events_zero;        /* of which with weight 0 or a type not in the table */
    size_t erased_users;       /* tombstones */
    size_t file_pairs_dropped; /* pairs of the file that belonged to erased users */
    uint64_t cutoff_seq;       /* the store's last sequence number at the start */
    int64_t cutoff_time;       /* newest event time used (0: none) */
    int64_t read_at;           /* unix seconds when the read began (erasures after it
                                  are not in the model's data) */
    char store_id[33];
};

/* Merge `file` (may be NULL: events alone) and the events of `s` into
 * *out (an owned matrix, ia_matrix_clear). Returns 0, ENC_EFORMAT when
 * nothing is left to train on, or the store's error. */
int evtrain_merge(const struct ia_matrix *file, struct evstore *s, const struct ev_types *types,
                  struct ia_matrix *out, struct evtrain_info *info, enc_err *err);

#endif
