/* mf_index_opt.c - the shared --index options (see mf_index_opt.h). */
#include "mf_index_opt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
}

int mf_index_opt_check(const char *cmd, const struct mf_index_opt *o)
{
    if (strcmp(o->type, "none") != 0 && strcmp(o->type, "hnsw") != 0) {
        fprintf(stderr, "encore-train %s: --index: '%s' is not none or hnsw\n", cmd, o->type);
        return 2;
    }
    return 0;
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
    if (hyper)
        json_object_set_new(hyper, "index",
                            json_pack("{s:s, s:I, s:I, s:I, s:I, s:f}", "type", "hnsw", "m",
                                      (json_int_t)p.m, "ef_construction",
                                      (json_int_t)p.ef_construction, "threads",
                                      (json_int_t)p.threads, "seed", (json_int_t)p.seed,
                                      "build_seconds", ix->build_seconds));
    return 0;
}
