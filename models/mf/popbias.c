/* popbias.c - inverse-propensity weighting of interactions (see popbias.h). */
#include "mf/popbias.h"

#include <math.h>
#include <stdlib.h>

#include "mf/interactions.h"

int mf_pop_penalty(struct ia_matrix *m, double beta, enc_err *err)
{
    if (!(beta >= 0 && beta <= 2))
        return enc_errf(err, ENC_EINVAL, "pop-penalty must be in 0..2 (got %g)", beta);
    if (beta == 0 || m->n_items == 0 || m->nnz == 0)
        return 0;
    double *users = calloc(m->n_items, sizeof *users);
    if (!users)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    for (size_t k = 0; k < m->nnz; k++)
        users[m->indices[k]] += 1;
    size_t with = 0;
    for (size_t i = 0; i < m->n_items; i++)
        with += users[i] > 0;
    double mean = (double)m->nnz / (double)(with ? with : 1);
    for (size_t k = 0; k < m->nnz; k++)
        m->weights[k] = (float)(m->weights[k] * pow(users[m->indices[k]] / mean, -beta));
    free(users);
    return 0;
}
