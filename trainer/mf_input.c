/* mf_input.c - input, validation and publishing shared by als and bpr (see mf_input.h). */
#include "mf_input.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>

#include "events/store.h"
#include "mf/rank_eval.h"
#include "trainer.h"

/* Replace the file's matrix by the file and the event store together. */
static int load_events(const char *cmd, struct mf_input *in, int have_file)
{
    enc_err err = {0};
    struct ev_types types;
    if (ev_types_parse(in->event_weights ? in->event_weights : EV_DEFAULT_WEIGHTS, &types,
                       &err)) {
        fprintf(stderr, "encore-train %s: --event-weights: %s\n", cmd, err.msg);
        return 2;
    }
    struct evstore_options o;
    evstore_options_default(&o);
    o.location = in->events;
    o.read_only = 1;
    struct evstore *s = NULL;
    if (evstore_open(&o, &s, &err)) {
        fprintf(stderr, "encore-train %s: --events: %s\n", cmd, err.msg);
        return 1;
    }
    struct ia_matrix merged;
    int rc = evtrain_merge(have_file ? &in->m : NULL, s, &types, &merged, &in->ev, &err);
    evstore_close(s);
    if (rc) {
        fprintf(stderr, "encore-train %s: --events %s: %s\n", cmd, in->events, err.msg);
        return 1;
    }
    fprintf(stderr, "%s: %s: %zu events up to sequence %llu (%zu without weight), %zu erased "
                    "users (%zu of their pairs left out); with the file: %zu users x %zu items, "
                    "%zu pairs\n", cmd, in->events, in->ev.events,
            (unsigned long long)in->ev.cutoff_seq, in->ev.events_zero, in->ev.erased_users,
            in->ev.file_pairs_dropped, merged.n_users, merged.n_items, merged.nnz);
    ia_matrix_clear(&in->m);
    in->m = merged;
    return 0;
}

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
    if (!in->interactions && !in->events) {
        fprintf(stderr, "encore-train %s: --interactions is required unless --events is "
                        "given (see --help)\n", cmd);
        return 2;
    }
    if (in->interactions) {
        if (ia_read(in->interactions, &o, &in->m, &err)) {
            fprintf(stderr, "encore-train %s: %s\n", cmd, err.msg);
            return 1;
        }
        fprintf(stderr, "%s: %s: %s, %zu interactions kept (%zu dropped), %zu users x %zu "
                        "items, %zu distinct pairs\n", cmd, in->interactions,
                ia_format_name(in->m.format), in->m.n_records, in->m.n_dropped, in->m.n_users,
                in->m.n_items, in->m.nnz);
    }
    if (in->events) {
        int rc = load_events(cmd, in, in->interactions != NULL);
        if (rc) {
            mf_input_clear(in);
            return rc;
        }
    }
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
    if (in->events) {   /* the files' digest, then the store's identity and cutoff */
        char text[200];
        unsigned char dig[32];
        int n = snprintf(text, sizeof text, "%s events %s %llu", in->fingerprint,
                         in->ev.store_id, (unsigned long long)in->ev.cutoff_seq);
        gnutls_hash_fast(GNUTLS_DIG_SHA256, text, (size_t)n, dig);
        for (int i = 0; i < 32; i++)
            snprintf(in->fingerprint + 2 * i, 3, "%02x", dig[i]);
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
    if (in->events) {
        /* The server folds in only events after the cutoff, and only when
         * the store is the same one (store_id). */
        json_object_set_new(
            hyper, "events",
            json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I}", "store", evstore_is_redis(in->events)
                                                                ? "redis" : "embedded",
                      "store_id", in->ev.store_id, "read_at", (json_int_t)in->ev.read_at,
                      "cutoff_seq", (json_int_t)in->ev.cutoff_seq,
                      "cutoff_time", (json_int_t)in->ev.cutoff_time, "events",
                      (json_int_t)in->ev.events, "erased_users",
                      (json_int_t)in->ev.erased_users));
    }
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
    if (model_save(&mf_ops, d, hyper, in->fingerprint, out, version, &v, &err)) {
        fprintf(stderr, "encore-train %s: %s\n", cmd, err.msg);
        return 1;
    }
    printf("%s/%" PRId64 "\n", out, v);
    return 0;
}
