/*
 * mf_index_opt.h - the item-index options that `encore-train als`, `bpr`,
 * `import` and `index` share (--index hnsw, --index-m, ...), and building
 * the index into a `struct mf_data` before it is saved (models/mf/index.h).
 */
#ifndef ENCORE_TRAINER_MF_INDEX_OPT_H
#define ENCORE_TRAINER_MF_INDEX_OPT_H

#include <jansson.h>
#include <stdint.h>

#include "mf/index.h"
#include "mf/mf.h"

struct mf_index_opt {
    const char *type; /* "none" or "hnsw" */
    int64_t m, ef_construction, threads, seed;
    int similar; /* --index-similar: also the cosine graph for `similar` */
};

void mf_index_opt_default(struct mf_index_opt *o);

/* The option-table rows, for a `struct opt` array. */
#define MF_INDEX_OPTS(o)                                                                           \
    {"index",                                                                                      \
     OPT_STR,                                                                                      \
     &(o)->type,                                                                                   \
     "item index for large catalogues: none or hnsw (recommend answers from it above the "         \
     "server's index_min_items)",                                                                  \
     0,                                                                                            \
     -1,                                                                                           \
     0},                                                                                           \
        {"index-m", OPT_INT,     &(o)->m, "index links per node (twice that on the bottom layer)", \
         2,         INDEX_MAX_M, 0},                                                               \
        {"index-ef-construction",                                                                  \
         OPT_INT,                                                                                  \
         &(o)->ef_construction,                                                                    \
         "index build beam width (higher: better recall, slower build)",                           \
         1,                                                                                        \
         100000,                                                                                   \
         0},                                                                                       \
        {"index-threads",                                                                          \
         OPT_INT,                                                                                  \
         &(o)->threads,                                                                            \
         "index build threads (1: the same graph every run)",                                      \
         1,                                                                                        \
         256,                                                                                      \
         0},                                                                                       \
        {"index-seed", OPT_INT, &(o)->seed, "index build random seed", 0, 9.2e18, 0},              \
    {                                                                                              \
        "index-similar", OPT_FLAG, &(o)->similar,                                                  \
            "with --index hnsw, also a graph over the unit-length item factors so that "           \
            "`similar` answers from the index (twice the build time)",                             \
            0, 0, 0                                                                                \
    }

/* 0, or prints "encore-train CMD: --index: ..." and returns 2. */
int mf_index_opt_check(const char *cmd, const struct mf_index_opt *o);

/* With --index hnsw: build the index over d's item factors into d->index
 * (and with --index-similar the cosine graph into d->index_cosine; progress
 * on stderr) and record its parameters and build time in `hyper` (may be
 * NULL). Without: nothing. Returns 0 or an exit status (1). */
int mf_index_attach(const char *cmd, const struct mf_index_opt *o, struct mf_data *d,
                    json_t *hyper);

#endif
