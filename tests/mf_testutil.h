/*
 * mf_testutil.h - fixtures shared by the mf family's scoring tests
 * (test_half.c, test_quant.c): a random model saved to a repository and
 * loaded with a chosen score precision. Header-only, `static inline`,
 * because CMake links every test with testutil.c alone.
 */
#ifndef ENCORE_TESTS_MF_TESTUTIL_H
#define ENCORE_TESTS_MF_TESTUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/model.h"
#include "families.h"
#include "mf/mf.h"
#include "testutil.h"

/* A fixed LCG: the same numbers on every platform. */
static inline float mfu_uniform(uint32_t *rng, float lo, float hi)
{
    *rng = *rng * 1664525u + 1013904223u;
    return lo + (hi - lo) * (float)(*rng >> 8) / (float)(1u << 24);
}

/* users x items x factors, uniform factors (users in +-1, items in +-scale),
 * `seen` training items per user ((p * step) % items), popularity
 * (i * 7) % items and, with tags, tag "a" on every third item and "b" on
 * the rest. Random factors make every score distinct. */
static inline void mfu_make_data(struct mf_data *d, size_t users, size_t items, size_t factors,
                                 float scale, size_t seen, size_t step, int tags, uint32_t *rng)
{
    memset(d, 0, sizeof *d);
    d->n_users = users;
    d->n_items = items;
    d->factors = factors;
    d->user_factors = malloc(users * factors * sizeof(float));
    d->item_factors = malloc(items * factors * sizeof(float));
    for (size_t i = 0; i < users * factors; i++)
        d->user_factors[i] = mfu_uniform(rng, -1, 1);
    for (size_t i = 0; i < items * factors; i++)
        d->item_factors[i] = mfu_uniform(rng, -scale, scale);
    d->user_ids = malloc(users * sizeof(char *));
    d->item_ids = malloc(items * sizeof(char *));
    char id[32];
    for (size_t i = 0; i < users; i++) {
        snprintf(id, sizeof id, "u%zu", i);
        d->user_ids[i] = strdup(id);
    }
    for (size_t i = 0; i < items; i++) {
        snprintf(id, sizeof id, "i%zu", i);
        d->item_ids[i] = strdup(id);
    }
    d->seen_offsets = calloc(users + 1, sizeof(int64_t));
    for (size_t u = 0; u < users; u++)
        d->seen_offsets[u + 1] = d->seen_offsets[u] + (int64_t)seen;
    d->seen_items = malloc((users * seen > 0 ? users * seen : 1) * sizeof(int32_t));
    for (size_t p = 0; p < users * seen; p++)
        d->seen_items[p] = (int32_t)((p * step) % items);
    d->item_popularity = malloc(items * sizeof(float));
    for (size_t i = 0; i < items; i++)
        d->item_popularity[i] = (float)((i * 7) % items);
    if (tags) {
        d->tag_names = malloc(2 * sizeof(char *));
        d->tag_names[0] = strdup("a");
        d->tag_names[1] = strdup("b");
        d->n_tags = 2;
        d->item_tag_offsets = calloc(items + 1, sizeof(int64_t));
        d->item_tag_ids = malloc(items * sizeof(int32_t));
        for (size_t i = 0; i < items; i++) {
            d->item_tag_ids[i] = i % 3 == 0 ? 0 : 1;
            d->item_tag_offsets[i + 1] = (int64_t)i + 1;
        }
    }
    d->algorithm = "als";
    d->regularization = 0.1;
    d->alpha = 1.0;
}

/* Save d as REPO/NAME/1 (d is cleared); returns the model file's path in
 * path[cap]. */
static inline void mfu_save(struct mf_data *d, const char *repo, const char *name, char *path,
                            size_t cap)
{
    enc_err err = {0};
    char out[4200];
    snprintf(out, sizeof out, "%s/%s", repo, name);
    ck_assert_msg(model_save(&mf_ops, d, NULL, NULL, out, 0, NULL, &err) == 0, "%s", err.msg);
    mf_data_clear(d);
    snprintf(path, cap, "%s/%s/1/model.safetensors", repo, name);
}

/* Load a model file with a score precision (a load option: nothing else
 * loads with it). */
static inline struct model *mfu_load(const char *path, const char *precision)
{
    enc_err err = {0};
    struct model *m = NULL;
    struct model_load_opts lo = model_default_opts;
    ck_assert_msg(model_precision_parse(precision, &lo.precision, &err) == 0, "%s", err.msg);
    ck_assert_msg(model_load("m", 1, path, &lo, &m, &err) == 0, "%s", err.msg);
    return m;
}

/* The "score_precision" a loaded model describes (a static buffer). */
static inline const char *mfu_precision(const struct model *m)
{
    static char out[8];
    json_t *o = json_object();
    m->ops->describe(m->state, o);
    snprintf(out, sizeof out, "%s", json_string_value(json_object_get(o, "score_precision")));
    json_decref(o);
    return out;
}

#endif
