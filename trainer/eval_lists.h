/*
 * eval_lists.h - encore-train eval's beyond-accuracy side (issue #16): a
 * recommender callback (rank_eval.h) wrapped so that every list it returns
 * is also measured (mf/list_eval.h) and, on request, written out, one line
 * per user: "LABEL<TAB>USER<TAB>ITEM,ITEM,..." (item ids, best first).
 */
#ifndef ENCORE_EVAL_LISTS_H
#define ENCORE_EVAL_LISTS_H

#include <jansson.h>
#include <stdio.h>

#include "mf/list_eval.h"
#include "mf/rank_eval.h"

struct ia_matrix;

struct eval_tap {
    re_recommend_fn inner; /* the recommender measured */
    void *ctx;
    const char *label; /* "model", "popularity" */
    const struct ia_matrix *train;
    struct list_eval *le;
    FILE *lists; /* or NULL */
};

/* Wrap inner/ctx; vectors: n_items x factors in the training matrix's item
 * order (the model's item factors; zero rows for items it lacks). 0 or
 * ENC_ENOMEM. */
int eval_tap_init(struct eval_tap *t, re_recommend_fn inner, void *ctx, const char *label,
                  const struct ia_matrix *train, const float *vectors, size_t factors, FILE *lists);
void eval_tap_clear(struct eval_tap *t);

/* A re_recommend_fn: ctx is a struct eval_tap. */
int eval_tap_fn(void *ctx, const char *user_id, int64_t train_user, const int32_t *train_items,
                size_t n_train, size_t k, int32_t *out, size_t *n_out, enc_err *err);

/* Add the measures of the lists seen to obj (ild, ild_factors, arp, long_tail, gini;
 * coverage is rank_eval's, the same definition). 0 or ENC_ENOMEM. */
int eval_tap_json(const struct eval_tap *t, json_t *obj);

#endif
