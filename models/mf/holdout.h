/*
 * holdout.h - a per-user validation split of an interaction matrix, by the
 * rule the shared MovieLens splits were made with (shared/datasets/README.md):
 *
 *   users in id order; a user with n >= 5 pairs holds out
 *   n_valid = floor(0.2 * n + 0.5) of them, chosen by a seeded random
 *   permutation of the user's pairs (the generator advances only for such
 *   users); users with fewer than 5 pairs stay wholly in the fit part.
 *
 * The generator is core/rng.h's (the shared splits used numpy's; the rule,
 * not the stream, is what is reproduced). Weights go with their pairs. The
 * fit part is rebuilt from its pairs, so its catalog is the items it still
 * has (as the evaluation rule wants: catalog = distinct training items);
 * validation items missing from it stay in the metrics' denominators.
 */
#ifndef ENCORE_MF_HOLDOUT_H
#define ENCORE_MF_HOLDOUT_H

#include <stdint.h>

#include "core/err.h"
#include "mf/interactions.h"

/* Split m into *fit and *valid (owned; ia_matrix_clear). Returns 0,
 * ENC_EFORMAT when no user has 5 pairs (nothing to validate on), or
 * ENC_ENOMEM. */
int ia_holdout_per_user(const struct ia_matrix *m, uint64_t seed, struct ia_matrix *fit,
                        struct ia_matrix *valid, enc_err *err);

#endif
