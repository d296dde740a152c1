/* holdout.c - the per-user validation split (see holdout.h). */
#include "mf/holdout.h"

#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

int ia_holdout_per_user(const struct ia_matrix *m, uint64_t seed, struct ia_matrix *fit,
                        struct ia_matrix *valid, enc_err *err)
{
    memset(fit, 0, sizeof *fit);
    memset(valid, 0, sizeof *valid);
    struct ia_builder *bf = NULL, *bv = NULL;
    size_t maxrow = 0;
    for (size_t u = 0; u < m->n_users; u++) {
        size_t n = (size_t)(m->indptr[u + 1] - m->indptr[u]);
        if (n > maxrow)
            maxrow = n;
    }
    size_t *perm = malloc((maxrow ? maxrow : 1) * sizeof *perm);
    unsigned char *held = malloc(maxrow ? maxrow : 1);
    int rc = perm && held ? 0 : ENC_ENOMEM;
    if (rc == 0 && (rc = ia_builder_new(&bf)) == 0)
        rc = ia_builder_new(&bv);
    uint64_t s = seed;
    size_t n_valid = 0;
    for (size_t u = 0; rc == 0 && u < m->n_users; u++) {
        int64_t b = m->indptr[u];
        size_t n = (size_t)(m->indptr[u + 1] - b);
        memset(held, 0, n);
        if (n >= 5) {
            /* Fisher-Yates; the first n_test of the permutation are held out. */
            for (size_t i = 0; i < n; i++)
                perm[i] = i;
            for (size_t i = n; i > 1; i--) {
                size_t k = (size_t)rng_below(&s, i);
                size_t t = perm[i - 1];
                perm[i - 1] = perm[k];
                perm[k] = t;
            }
            size_t nt = (size_t)(0.2 * (double)n + 0.5);
            for (size_t i = 0; i < nt; i++)
                held[perm[i]] = 1;
        }
        const char *uid = m->user_ids[u];
        size_t ul = strlen(uid);
        for (size_t k = 0; rc == 0 && k < n; k++) {
            const char *iid = m->item_ids[m->indices[b + (int64_t)k]];
            rc = ia_builder_add(held[k] ? bv : bf, uid, ul, iid, strlen(iid),
                                m->weights[b + (int64_t)k]);
            n_valid += held[k];
        }
    }
    free(perm);
    free(held);
    if (rc == 0 && n_valid == 0)
        rc = enc_errf(err, ENC_EFORMAT,
                      "no user has 5 or more interactions: nothing to hold "
                      "out for validation");
    else if (rc)
        enc_errf(err, rc, "out of memory");
    if (rc == 0 && (rc = ia_builder_finish(bf, fit)) == 0)
        rc = ia_builder_finish(bv, valid);
    if (rc == ENC_ENOMEM)
        enc_errf(err, rc, "out of memory");
    ia_builder_free(bf);
    ia_builder_free(bv);
    if (rc) {
        ia_matrix_clear(fit);
        ia_matrix_clear(valid);
        return rc;
    }
    fit->format = valid->format = m->format;
    return 0;
}
