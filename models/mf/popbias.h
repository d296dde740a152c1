/*
 * popbias.h - popularity debiasing at training time (issue #16): inverse
 * propensity weighting of the confidences, `encore-train als --pop-penalty B`.
 *
 * An item seen by many users is seen by many more than chose it freely
 * (it was shown everywhere), so its interactions say less about a user's
 * taste. With n_i the training users of item i and n the mean over items,
 * every interaction's weight is multiplied by (n_i / n)^-B before
 * confidences are made (c = 1 + alpha * w): popular items count less,
 * rare ones more, and B = 0 leaves the weights alone. The propensity is
 * the item's share of exposure, estimated by its popularity (Steck 2011,
 * "Item popularity and recommendation accuracy"; Schnabel et al. 2016).
 * The effect on accuracy and on the lists is measured in docs/experiments.md.
 */
#ifndef ENCORE_MF_POPBIAS_H
#define ENCORE_MF_POPBIAS_H

#include "core/err.h"

struct ia_matrix;

/* Reweight m's weights in place. 0, ENC_EINVAL (B outside 0..2) or ENC_ENOMEM. */
int mf_pop_penalty(struct ia_matrix *m, double beta, enc_err *err);

#endif
