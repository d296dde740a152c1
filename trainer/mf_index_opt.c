/* mf_index_opt.c - the shared --index options (see mf_index_opt.h). */
#include "mf_index_opt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf/quant.h"
#include "trainer.h"

void mf_index_opt_default(struct mf_index_opt *o)
{
    struct index_params p;
    index_params_default(&p);
    o->type = "none";
    o->m = (int64_t)p.m;
    o->ef_construction = (int64_t)p.ef_construction;
    o->threads = p.threads;
    o->seed = (int64_t)p.seed;
    o->similar = 0;
}

int mf_index_opt_check(const char *cmd, const struct mf_index_opt *o)
{
    if (strcmp(o->type, "none") != 0 && strcmp(o->type, "hnsw") != 0) {
        fprintf(stderr, "encore-train %s: --index: '%s' is not none or hnsw\n", cmd, o->type);
        return 2;
    }
    if (o->similar && strcmp(o->type, "hnsw") != 0) {
        fprintf(stderr, "encore-train %s: --index-similar needs --index hnsw\n", cmd);
        return 2;
    }
    return 0;
}

/* The default beam for a built graph over V: the smallest whose recall@10
 * reaches INDEX_TARGET_RECALL on up to INDEX_EF_QUERIES queries (the users'
 * vectors, or items against the others), stored in the hyperparameters for
 * the server (its ef_search 0). 0 (and *ef 0: none measured) or 1. */
static int choose_ef(const char *cmd, const struct index_data *ix, const float *V, size_t F,
                     const float *Q, size_t nq, int items, size_t *ef, double *recall)
{
    *ef = 0;
    *recall = 0;
    if (!Q || !nq)
        return 0;
    struct index *view = NULL;
    enc_err err = {0};
    if (index_view(ix, V, F, &view, &err) ||
        index_choose_ef(view, Q, nq, items, INDEX_TARGET_RECALL, ef, recall, &err)) {
        index_free(view);
        fprintf(stderr, "encore-train %s: %s\n", cmd, err.msg);
        return 1;
    }
    index_free(view);
    fprintf(stderr, "%s: ef_search %zu gives recall@10 %.4f on %zu %s (target %.2f)\n", cmd, *ef,
            *recall, nq < INDEX_EF_QUERIES ? nq : INDEX_EF_QUERIES, items ? "items" : "users",
            INDEX_TARGET_RECALL);
    return 0;
}

/* The cosine graph: the same build over the unit-length item factors,
 * normalised as the server's load does (models/mf/mf.c), so its walk
 * scores the rows the graph was built on; and its default beam, measured
 * on items. NULL (and a message) on failure. */
static struct index_data *build_cosine(const char *cmd, const struct mf_data *d,
                                       const struct index_params *p, size_t *ef, double *recall)
{
    size_t n = d->n_items, F = d->factors;
    float *Vn = malloc(n * F * sizeof *Vn);
    struct index_data *cos = calloc(1, sizeof *cos);
    enc_err err = {0};
    if (!Vn || !cos) {
        fprintf(stderr, "encore-train %s: out of memory\n", cmd);
        goto fail;
    }
    quant_unit_rows(d->item_factors, n, F, Vn);
    fprintf(stderr, "%s: building the cosine graph for similar\n", cmd);
    if (index_build(Vn, n, F, p, cos, &err)) {
        fprintf(stderr, "encore-train %s: %s\n", cmd, err.msg);
        goto fail;
    }
    fprintf(stderr, "%s: cosine graph built in %.1f s\n", cmd, cos->build_seconds);
    if (choose_ef(cmd, cos, Vn, F, Vn, n, 1, ef, recall)) {
        index_data_clear(cos);
        goto fail;
    }
    free(Vn);
    return cos;
fail:
    free(Vn);
    free(cos);
    return NULL;
}

int mf_index_attach(const char *cmd, const struct mf_index_opt *o, struct mf_data *d, json_t *hyper)
{
    if (strcmp(o->type, "hnsw") != 0)
        return 0;
    struct index_params p;
    index_params_default(&p);
    p.m = (size_t)o->m;
    p.ef_construction = (size_t)o->ef_construction;
    p.threads = (int)o->threads;
    p.seed = (uint64_t)o->seed;
    fprintf(stderr,
            "%s: building the hnsw index over %zu items (M %zu, ef_construction %zu, "
            "%d threads)\n",
            cmd, d->n_items, p.m, p.ef_construction, p.threads);
    enc_err err = {0};
    struct index_data *ix = calloc(1, sizeof *ix);
    if (!ix || index_build(d->item_factors, d->n_items, d->factors, &p, ix, &err)) {
        fprintf(stderr, "encore-train %s: %s\n", cmd, ix ? err.msg : "out of memory");
        free(ix);
        return 1;
    }
    index_data_clear(d->index);
    free(d->index);
    d->index = ix;
    fprintf(stderr, "%s: index built in %.1f s (%zu links per item on the bottom layer)\n", cmd,
            ix->build_seconds, ix->m0);
    size_t ef = 0, ef_sim = 0;
    double recall = 0, recall_sim = 0;
    if (choose_ef(cmd, ix, d->item_factors, d->factors, d->user_factors, d->n_users, 0, &ef,
                  &recall))
        return 1;
    struct index_data *cos = NULL;
    if (o->similar && (cos = build_cosine(cmd, d, &p, &ef_sim, &recall_sim)) == NULL)
        return 1;
    index_data_clear(d->index_cosine);
    free(d->index_cosine);
    d->index_cosine = cos;
    if (hyper) {
        json_t *j = json_pack("{s:s, s:I, s:I, s:I, s:I, s:f, s:b}", "type", "hnsw", "m",
                              (json_int_t)p.m, "ef_construction", (json_int_t)p.ef_construction,
                              "threads", (json_int_t)p.threads, "seed", (json_int_t)p.seed,
                              "build_seconds", ix->build_seconds, "similar", cos != NULL);
        /* The measured default beams (the server's ef_search 0 reads them). */
        if (j && ef) {
            json_object_set_new(j, "ef_search", json_integer((json_int_t)ef));
            json_object_set_new(j, "ef_search_recall_at_10", json_real(recall));
        }
        if (j && cos) {
            json_object_set_new(j, "similar_build_seconds", json_real(cos->build_seconds));
            json_object_set_new(j, "similar_ef_search", json_integer((json_int_t)ef_sim));
            json_object_set_new(j, "similar_ef_search_recall_at_10", json_real(recall_sim));
        }
        json_object_set_new(hyper, "index", j);
    }
    return 0;
}
