/* mf_input.c - input, validation and publishing shared by als and bpr (see mf_input.h). */
#include "mf_input.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf/rank_eval.h"
#include "trainer.h"

int mf_input_load(const char *cmd, struct mf_input *in)
{
    enc_err err = {0};
    struct ia_options o = {IA_FORMAT_AUTO, in->min_rating};
    enum ia_items_format ifmt = IA_ITEMS_AUTO;
    if (in->format && ia_format_parse(in->format, &o.format)) {
        fprintf(stderr, "encore-train %s: --format: unknown format '%s' (auto, udata, "
                        "ratings-csv, csv, tsv)\n", cmd, in->format);
        return 2;
    }
    if (in->items_format && ia_items_format_parse(in->items_format, &ifmt)) {
        fprintf(stderr, "encore-train %s: --items-format: unknown format '%s' (auto, uitem, "
                        "movies-csv)\n", cmd, in->items_format);
        return 2;
    }
    if (ia_read(in->interactions, &o, &in->m, &err)) {
        fprintf(stderr, "encore-train %s: %s\n", cmd, err.msg);
        return 1;
    }
    fprintf(stderr, "%s: %s: %s, %zu interactions kept (%zu dropped), %zu users x %zu items, "
                    "%zu distinct pairs\n", cmd, in->interactions, ia_format_name(in->m.format),
            in->m.n_records, in->m.n_dropped, in->m.n_users, in->m.n_items, in->m.nnz);
    if (in->items) {
        if (ia_read_items(in->items, ifmt, in->m.item_ids, in->m.n_items, &in->it, &err)) {
            fprintf(stderr, "encore-train %s: %s\n", cmd, err.msg);
            mf_input_clear(in);
            return 1;
        }
        in->have_items = 1;
        fprintf(stderr, "%s: %s: titles for %zu of %zu items, %zu tags\n", cmd, in->items,
                in->it.n_matched, in->m.n_items, in->it.n_tags);
    }
    const char *paths[2] = {in->interactions, in->items};
    if (trainer_fingerprint(paths, in->items ? 2 : 1, in->fingerprint)) {
        fprintf(stderr, "encore-train %s: cannot fingerprint the input files\n", cmd);
        mf_input_clear(in);
        return 1;
    }
    return 0;
}

void mf_input_clear(struct mf_input *in)
{
    ia_matrix_clear(&in->m);
    ia_items_clear(&in->it);
    in->have_items = 0;
}

void mf_input_describe(const struct mf_input *in, json_t *hyper)
{
    json_object_set_new(hyper, "format", json_string(ia_format_name(in->m.format)));
    json_object_set_new(hyper, "min_rating", json_real(in->min_rating));
    json_object_set_new(hyper, "interactions", json_integer((json_int_t)in->m.nnz));
}

json_t *mf_metrics_json(const struct re_metrics *m)
{
    return json_pack("{s:f,s:f,s:f,s:f,s:f,s:f}", "precision", m->precision, "recall",
                     m->recall, "ndcg", m->ndcg, "map", m->map, "hit_rate", m->hit_rate,
                     "coverage", m->coverage);
}

int mf_input_validate(const char *cmd, const struct mf_input *in, const char *path,
                      const struct mf_data *d)
{
    enc_err err = {0};
    struct ia_options o = {IA_FORMAT_AUTO, in->min_rating};
    struct ia_matrix test;
    if (ia_read(path, &o, &test, &err)) {
        fprintf(stderr, "encore-train %s: --validation: %s\n", cmd, err.msg);
        return 1;
    }
    struct re_factors *rf = NULL;
    struct re_popularity *rp = NULL;
    struct re_metrics mm, pm;
    int rc = 0;
    if (rank_factors_new(&in->m, d->user_factors, d->item_factors, d->factors, &rf) ||
        rank_popularity_new(&in->m, &rp)) {
        fprintf(stderr, "encore-train %s: out of memory\n", cmd);
        rc = 1;
    } else if (rank_evaluate(&in->m, &test, 10, rank_factors_fn, rf, &mm, &err) ||
               rank_evaluate(&in->m, &test, 10, rank_popularity_fn, rp, &pm, &err)) {
        fprintf(stderr, "encore-train %s: --validation: %s\n", cmd, err.msg);
        rc = 1;
    } else {
        json_t *o2 = json_pack("{s:o,s:o,s:I,s:i}", "model", mf_metrics_json(&mm), "popularity",
                               mf_metrics_json(&pm), "users", (json_int_t)mm.users, "k", 10);
        char *s = o2 ? json_dumps(o2, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
        fprintf(stderr, "validation: %s\n", s ? s : "{}");
        free(s);
        json_decref(o2);
    }
    rank_factors_free(rf);
    rank_popularity_free(rp);
    ia_matrix_clear(&test);
    return rc;
}

int mf_input_publish(const char *cmd, const struct mf_input *in, const struct mf_data *d,
                     json_t *hyper, const char *out, int64_t version)
{
    enc_err err = {0};
    int64_t v = 0;
    if (mf_save(d, hyper, in->fingerprint, out, version, &v, &err)) {
        fprintf(stderr, "encore-train %s: %s\n", cmd, err.msg);
        return 1;
    }
    printf("%s/%" PRId64 "\n", out, v);
    return 0;
}
