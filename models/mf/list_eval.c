/*
 * list_eval.c - beyond-accuracy measures of recommended lists (see
 * list_eval.h for the definitions).
 */
#include "mf/list_eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mf/interactions.h"

struct list_eval {
    size_t n_items, F;
    float *pop;       /* training users per item */
    int64_t *col_off; /* the training matrix by item: users, ascending */
    int32_t *col_users;
    float *unit;         /* n_items x F, unit length (or zero), or NULL */
    unsigned char *head; /* 1: among the ceil(0.2 n) most popular */
    uint64_t *exposure;  /* lists each item appears in */
    double sum_ild, sum_ild_f, sum_arp, sum_tail;
    size_t lists, ild_lists;
};

struct pop_rank {
    float pop;
    int32_t row;
};

static int by_pop(const void *a, const void *b)
{
    const struct pop_rank *x = a, *y = b;
    if (x->pop != y->pop)
        return x->pop > y->pop ? -1 : 1;
    return (x->row > y->row) - (x->row < y->row);
}

int list_eval_new(const struct ia_matrix *train, const float *vectors, size_t factors,
                  struct list_eval **out)
{
    *out = NULL;
    size_t n_items = train->n_items, n = n_items ? n_items : 1;
    struct list_eval *e = calloc(1, sizeof *e);
    struct pop_rank *rank = malloc(n * sizeof *rank);
    float *tw = NULL;
    if (e) {
        e->n_items = n_items;
        e->F = vectors ? factors : 0;
        e->pop = calloc(n, sizeof *e->pop);
        e->unit = vectors ? malloc(n * (factors ? factors : 1) * sizeof *e->unit) : NULL;
        e->head = calloc(n, 1);
        e->exposure = calloc(n, sizeof *e->exposure);
    }
    if (!e || !rank || !e->pop || (vectors && !e->unit) || !e->head || !e->exposure ||
        ia_transpose(train->n_users, n_items, train->indptr, train->indices, train->weights,
                     &e->col_off, &e->col_users, &tw)) {
        free(rank);
        list_eval_free(e);
        return ENC_ENOMEM;
    }
    free(tw);
    for (size_t i = 0; i < n_items; i++) {
        e->pop[i] = (float)(e->col_off[i + 1] - e->col_off[i]);
        rank[i].pop = e->pop[i];
        rank[i].row = (int32_t)i;
    }
    for (size_t i = 0; vectors && i < n_items; i++) {
        const float *v = vectors + i * factors;
        double norm = 0;
        for (size_t f = 0; f < factors; f++)
            norm += (double)v[f] * v[f];
        norm = sqrt(norm);
        for (size_t f = 0; f < factors; f++)
            e->unit[i * factors + f] = norm > 0 ? (float)(v[f] / norm) : 0.0f;
    }
    qsort(rank, n_items, sizeof *rank, by_pop); /* a total order: stable enough */
    size_t n_head = (n_items * 2 + 9) / 10;     /* ceil(0.2 n) */
    for (size_t i = 0; i < n_head && i < n_items; i++)
        e->head[rank[i].row] = 1;
    free(rank);
    *out = e;
    return 0;
}

void list_eval_free(struct list_eval *e)
{
    if (!e)
        return;
    free(e->pop);
    free(e->col_off);
    free(e->col_users);
    free(e->unit);
    free(e->head);
    free(e->exposure);
    free(e);
}

/* Cosine of two items' binary user columns: shared users / sqrt(n_a n_b). */
static double column_cosine(const struct list_eval *e, int32_t a, int32_t b)
{
    const int32_t *x = e->col_users + e->col_off[a], *y = e->col_users + e->col_off[b];
    size_t nx = (size_t)(e->col_off[a + 1] - e->col_off[a]);
    size_t ny = (size_t)(e->col_off[b + 1] - e->col_off[b]);
    if (!nx || !ny)
        return 0;
    size_t i = 0, j = 0, shared = 0;
    while (i < nx && j < ny) {
        if (x[i] == y[j])
            shared++, i++, j++;
        else if (x[i] < y[j])
            i++;
        else
            j++;
    }
    return (double)shared / sqrt((double)nx * (double)ny);
}

int list_eval_add(struct list_eval *e, const int32_t *items, size_t n, enc_err *err)
{
    for (size_t i = 0; i < n; i++)
        if (items[i] < 0 || (size_t)items[i] >= e->n_items)
            return enc_errf(err, ENC_EINVAL, "list item row %d out of range", (int)items[i]);
    if (n == 0)
        return 0;
    double pop = 0, tail = 0;
    for (size_t i = 0; i < n; i++) {
        pop += e->pop[items[i]];
        tail += !e->head[items[i]];
        e->exposure[items[i]]++;
    }
    e->sum_arp += pop / (double)n;
    e->sum_tail += tail / (double)n;
    e->lists++;
    if (n >= 2) {
        double dist = 0, dist_f = 0, pairs = (double)n * (double)(n - 1) / 2.0;
        size_t F = e->F;
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++) {
                dist += 1.0 - column_cosine(e, items[i], items[j]);
                if (!e->unit)
                    continue;
                const float *a = e->unit + (size_t)items[i] * F,
                            *b = e->unit + (size_t)items[j] * F;
                double c = 0;
                for (size_t f = 0; f < F; f++)
                    c += (double)a[f] * b[f];
                dist_f += 1.0 - c;
            }
        e->sum_ild += dist / pairs;
        e->sum_ild_f += dist_f / pairs;
        e->ild_lists++;
    }
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

void list_eval_result(const struct list_eval *e, struct list_measures *out)
{
    memset(out, 0, sizeof *out);
    out->lists = e->lists;
    if (e->lists) {
        out->arp = e->sum_arp / (double)e->lists;
        out->long_tail = e->sum_tail / (double)e->lists;
    }
    if (e->ild_lists) {
        out->ild = e->sum_ild / (double)e->ild_lists;
        out->ild_factors = e->unit ? e->sum_ild_f / (double)e->ild_lists : 0;
    }
    size_t n = e->n_items, distinct = 0;
    uint64_t *x = malloc((n ? n : 1) * sizeof *x);
    if (!x || n == 0) {
        free(x);
        return;
    }
    memcpy(x, e->exposure, n * sizeof *x);
    qsort(x, n, sizeof *x, cmp_u64);
    double num = 0, total = 0;
    for (size_t i = 0; i < n; i++) {
        num += (2.0 * (double)(i + 1) - (double)n - 1.0) * (double)x[i];
        total += (double)x[i];
        distinct += x[i] > 0;
    }
    out->coverage = (double)distinct / (double)n;
    out->gini = total > 0 ? num / ((double)n * total) : 0;
    free(x);
}
