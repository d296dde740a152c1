/*
 * list_eval.h - what recommended lists look like beyond accuracy (issue #16):
 * how alike the items of a list are, how popular, how much of the catalogue
 * the lists reach and how evenly. rank_eval.h measures whether the lists hit
 * the held-out items; this measures the lists themselves, so the two run
 * side by side on the same lists (encore-train eval).
 *
 * Over the lists L_u of the evaluated users, items being rows of the
 * training catalogue (n items, pop_i = training interactions of item i):
 *
 *   ild        intra-list diversity: mean over lists (of >= 2 items) of the
 *              mean over pairs of 1 - cos(i, j), the cosine of the items'
 *              columns of the training matrix (binary: which users had
 *              them), so every recommender - a model, another model,
 *              popularity - is measured in the same space, the data's
 *   ild_factors the same with the cosine of the model's item factors (the
 *              similarity the server's "diversity" re-ranking works with)
 *   arp        average recommendation popularity: mean over lists of the
 *              mean pop_i of the list's items (Abdollahpouri et al. 2019)
 *   long_tail  mean over lists of the share of items outside the head: the
 *              ceil(0.2 n) most popular items (ties: the lower row)
 *   coverage   distinct recommended items / n
 *   gini       Gini index of exposure: x_i = lists item i appears in, over
 *              all n items sorted ascending, sum_i (2i - n - 1) x_i / (n sum x)
 *              (0: every item equally exposed; near 1: a few items take all)
 *
 * tests/list_eval_ref.py computes the same from a list file with numpy.
 */
#ifndef ENCORE_MF_LIST_EVAL_H
#define ENCORE_MF_LIST_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct list_measures {
    double ild, ild_factors, arp, long_tail, coverage, gini;
    size_t lists;
};

struct list_eval;

/* A new accumulator over the catalogue of `train` (borrowed: it must
 * outlive the accumulator), with vectors[n_items * factors] item factors
 * for ild_factors (copied; need not be unit length; all-zero rows count as
 * unlike anything; NULL: ild_factors 0). 0 or ENC_ENOMEM. */
struct ia_matrix;
int list_eval_new(const struct ia_matrix *train, const float *vectors, size_t factors,
                  struct list_eval **out);
void list_eval_free(struct list_eval *e); /* NULL ok */

/* Add one list (rows, best first). 0 or ENC_EINVAL (a row out of range). */
int list_eval_add(struct list_eval *e, const int32_t *items, size_t n, enc_err *err);

/* The measures over the lists added so far. */
void list_eval_result(const struct list_eval *e, struct list_measures *out);

#endif
