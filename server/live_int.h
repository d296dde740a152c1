/*
 * live_int.h - what live_reco.c (cache, views, new items) and live_fold.c
 * (a user's items folded into a vector, or listed for an explanation) share.
 * Private to the server's live side.
 */
#ifndef ENCORE_LIVE_INT_H
#define ENCORE_LIVE_INT_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/model.h"

/* One event item of a user, after summing its events' weights. */
struct uitem {
    int32_t row;
    float weight;
};

/* The confidence the model's training gave a pair of summed weight w
 * (reco_ops.confidence), or the older c = 1 + alpha * |w|. */
static inline double live_confidence(const struct reco_ops *ro, const void *state, double w)
{
    return ro->confidence ? ro->confidence(state, w) : 1.0 + ro->alpha(state) * fabs(w);
}

/* Fold the user's training items (row `user`, -1: none), event items and
 * request history into vec (reco_ops.fold_in_weighted). 0, or an error. */
int live_fold(const struct model *m, int64_t user, const struct uitem *ev, size_t n_ev,
              const int32_t *history, size_t n_history, void *scratch, float *vec, enc_err *err);

#endif
