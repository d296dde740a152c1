/* mf_input.c - input, validation and publishing shared by als and bpr (see mf_input.h). */
#include "mf_input.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>

#include "events/store.h"
#include "mf/als.h"
#include "mf/rank_eval.h"
#include "trainer.h"

const char *const mf_user_precision_names[] = {"f32", "f16", NULL};

const char *const mf_input_header_names[] = {"auto", "yes", "no", NULL};

/* Thousands separators for counts in messages ("92,834"). */
static const char *grouped(size_t v, char *buf, size_t cap)
{
    char raw[32];
    int n = snprintf(raw, sizeof raw, "%zu", v), o = 0;
    for (int i = 0; i < n && (size_t)o + 2 < cap; i++) {
        if (i && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = raw[i];
    }
    buf[o] = '\0';
    return buf;
}

/* What the weights are and what confidence they get: print it and resolve
 * in->scheme / in->eps (--confidence, --epsilon, or conf_auto). */
static int weights_report(const char *cmd, struct mf_input *in)
{
    char a[32];
    if (conf_stats_compute(in->m.weights, in->m.nnz, &in->wstats)) {
        fprintf(stderr, "encore-train %s: out of memory\n", cmd);
        return 1;
    }
    const struct conf_stats *st = &in->wstats;
    int ratings =
        !in->events && (in->m.format == IA_FORMAT_UDATA || in->m.format == IA_FORMAT_RATINGS_CSV);
    if (ratings)
        fprintf(stderr,
                "%s: weights: each kept rating counts 1 (%s); the %s pairs' summed "
                "weights: min %g, median %g, max %g\n",
                cmd, ia_format_name(in->m.format), grouped(st->n, a, sizeof a), st->min, st->median,
                st->max);
    else
        fprintf(stderr,
                "%s: weights of the %s pairs%s: min %.10g, median %.10g, p90 %.10g, "
                "p99 %.10g, max %.10g%s\n",
                cmd, grouped(st->n, a, sizeof a),
                in->m.has_weights ? " (the weight column, duplicates summed)"
                : in->events      ? " (the file's and the events', summed)"
                                  : " (no weight column: 1 each)",
                st->min, st->median, st->p90, st->p99, st->max,
                st->integers ? " (whole numbers)" : "");
    struct als_params ap;
    als_params_default(&ap);
    ap.confidence = (enum conf_scheme)in->confidence;
    ap.epsilon = in->epsilon;
    if (als_resolve_confidence(in->m.weights, in->m.nnz, &ap, &in->scheme, &in->eps, in->scheme_why,
                               sizeof in->scheme_why)) {
        fprintf(stderr, "encore-train %s: out of memory\n", cmd);
        return 1;
    }
    in->scheme_auto = in->confidence == CONF_AUTO;
    if (in->scheme_auto) {
        fprintf(stderr,
                "%s: confidence (automatic): %s; --confidence binary|linear|log|bm25 "
                "to choose\n",
                cmd, in->scheme_why);
    } else {
        char f[96];
        if (in->scheme == CONF_LOG)
            snprintf(f, sizeof f, "c = 1 + alpha * log(1 + w / %.4g)", in->eps);
        else
            snprintf(f, sizeof f, "%s",
                     in->scheme == CONF_BINARY   ? "c = 1 + alpha"
                     : in->scheme == CONF_LINEAR ? "c = 1 + alpha * w"
                     : in->scheme == CONF_BM25   ? "c = 1 + alpha * BM25(w)"
                                                 : "c = 1 + alpha * TF-IDF(w)");
        fprintf(stderr, "%s: confidence %s (--confidence): %s\n", cmd, conf_scheme_name(in->scheme),
                f);
        if (in->scheme == CONF_LINEAR && st->median > 0 && st->max / st->median > 10)
            fprintf(stderr,
                    "%s: warning: linear confidence on heavy-tailed weights (max / "
                    "median = %.3g): a few pairs will dominate; --confidence log is "
                    "usually better\n",
                    cmd, st->max / st->median);
    }
    return 0;
}

/* Replace the file's matrix by the file and the event store together. */
static int load_events(const char *cmd, struct mf_input *in, int have_file)
{
    enc_err err = {0};
    struct ev_types types;
    if (ev_types_parse(in->event_weights ? in->event_weights : EV_DEFAULT_WEIGHTS, &types, &err)) {
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
    fprintf(stderr,
            "%s: %s: %zu events up to sequence %llu (%zu without weight), %zu erased "
            "users (%zu of their pairs left out); with the file: %zu users x %zu items, "
            "%zu pairs\n",
            cmd, in->events, in->ev.events, (unsigned long long)in->ev.cutoff_seq,
            in->ev.events_zero, in->ev.erased_users, in->ev.file_pairs_dropped, merged.n_users,
            merged.n_items, merged.nnz);
    ia_matrix_clear(&in->m);
    in->m = merged;
    return 0;
}

int mf_input_load(const char *cmd, struct mf_input *in)
{
    enc_err err = {0};
    struct ia_options o = {IA_FORMAT_AUTO, in->min_rating, (enum ia_header)in->header};
    enum ia_items_format ifmt = IA_ITEMS_AUTO;
    if (in->format && ia_format_parse(in->format, &o.format)) {
        fprintf(stderr,
                "encore-train %s: --format: unknown format '%s' (auto, udata, "
                "ratings-csv, csv, tsv)\n",
                cmd, in->format);
        return 2;
    }
    if (in->items_format && ia_items_format_parse(in->items_format, &ifmt)) {
        fprintf(stderr,
                "encore-train %s: --items-format: unknown format '%s' (auto, uitem, "
                "movies-csv, csv, tsv)\n",
                cmd, in->items_format);
        return 2;
    }
    if (!in->interactions && !in->events) {
        fprintf(stderr,
                "encore-train %s: --interactions is required unless --events is "
                "given (see --help)\n",
                cmd);
        return 2;
    }
    if (in->interactions) {
        if (ia_read(in->interactions, &o, &in->m, &err)) {
            fprintf(stderr, "encore-train %s: %s\n", cmd, err.msg);
            return 1;
        }
        if (in->m.header)
            fprintf(stderr, "%s: %s: line 1 is a header (%s): skipped%s\n", cmd, in->interactions,
                    in->m.header_text,
                    in->header == IA_HEADER_YES ? " (--header yes)"
                                                : "; --header no to read it as data");
        fprintf(stderr,
                "%s: %s: %s, %zu interactions kept (%zu dropped), %zu users x %zu "
                "items, %zu distinct pairs\n",
                cmd, in->interactions, ia_format_name(in->m.format), in->m.n_records,
                in->m.n_dropped, in->m.n_users, in->m.n_items, in->m.nnz);
    }
    if (in->events) {
        int rc = load_events(cmd, in, in->interactions != NULL);
        if (rc) {
            mf_input_clear(in);
            return rc;
        }
    }
    if (weights_report(cmd, in)) {
        mf_input_clear(in);
        return 1;
    }
    if (in->items) {
        struct ia_items_spec spec = {ifmt, (int)in->item_id_col, (int)in->title_col,
                                     (int)in->tags_col};
        if (ia_read_items_spec(in->items, &spec, in->m.item_ids, in->m.n_items, &in->it, &err)) {
            fprintf(stderr, "encore-train %s: %s\n", cmd, err.msg);
            mf_input_clear(in);
            return err.code == ENC_EINVAL ? 2 : 1;
        }
        in->have_items = 1;
        char how[256];
        ia_items_describe(&in->it, how, sizeof how);
        fprintf(stderr, "%s: %s: %s\n", cmd, in->items, how);
        fprintf(stderr, "%s: %s: %zu item lines, titles for %zu of %zu items, %zu tags\n", cmd,
                in->items, in->it.n_records, in->it.n_matched, in->m.n_items, in->it.n_tags);
        if (in->it.n_matched == 0)
            fprintf(stderr,
                    "%s: warning: %s: none of its ids is an item of the interactions "
                    "(items like '%s'): wrong id column?\n",
                    cmd, in->items, in->m.n_items ? in->m.item_ids[0] : "");
    }
    const char *paths[2] = {in->interactions, in->items};
    if (trainer_fingerprint(paths, in->items ? 2 : 1, in->fingerprint)) {
        fprintf(stderr, "encore-train %s: cannot fingerprint the input files\n", cmd);
        mf_input_clear(in);
        return 1;
    }
    if (in->events) { /* the files' digest, then the store's identity and cutoff */
        char text[200];
        unsigned char dig[32];
        int n = snprintf(text, sizeof text, "%s events %s %llu", in->fingerprint, in->ev.store_id,
                         (unsigned long long)in->ev.cutoff_seq);
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
            json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I}", "store",
                      evstore_is_redis(in->events) ? "redis" : "embedded", "store_id",
                      in->ev.store_id, "read_at", (json_int_t)in->ev.read_at, "cutoff_seq",
                      (json_int_t)in->ev.cutoff_seq, "cutoff_time", (json_int_t)in->ev.cutoff_time,
                      "events", (json_int_t)in->ev.events, "erased_users",
                      (json_int_t)in->ev.erased_users));
    }
}

static int float_cmp(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

int mf_input_describe_confidence(const struct mf_input *in, double alpha, json_t *hyper)
{
    /* The median f over the pairs: bm25 / tfidf's serving map (confidence.h). */
    size_t n = in->m.nnz;
    float *f = malloc((n ? n : 1) * sizeof *f);
    if (!f || conf_transform(in->m.n_users, in->m.n_items, in->m.indptr, in->m.indices,
                             in->m.weights, in->scheme, in->eps, 100, 0.8, f)) {
        free(f);
        return -1;
    }
    qsort(f, n, sizeof *f, float_cmp);
    double typical_f = n ? f[n / 2] : 1;
    free(f);
    const struct conf_stats *st = &in->wstats;
    json_t *c = json_pack("{s:s,s:b,s:f,s:f,s:f,s:f,s:{s:f,s:f,s:f,s:f}}", "scheme",
                          conf_scheme_name(in->scheme), "auto", in->scheme_auto, "alpha", alpha,
                          "epsilon", in->eps, "typical_weight", st->median > 0 ? st->median : 1,
                          "typical_f", typical_f, "weights", "min", st->min, "median", st->median,
                          "p99", st->p99, "max", st->max);
    if (!c)
        return -1;
    json_object_set_new(hyper, "confidence", c);
    return 0;
}

int mf_overlap_guard(const char *cmd, const char *train_name, const char *test_name,
                     const struct ia_matrix *train, const struct ia_matrix *test, int allow_overlap)
{
    struct re_overlap ov;
    if (rank_overlap(train, test, &ov)) {
        fprintf(stderr, "encore-train %s: out of memory\n", cmd);
        return 1;
    }
    if (ov.shared_pairs) {
        char pre[64];
        snprintf(pre, sizeof pre, allow_overlap ? "%s: warning" : "encore-train %s", cmd);
        fprintf(stderr,
                "%s: %zu of the %zu (user, item) pairs of %s are also in %s (e.g. "
                "user '%s', item '%s'): an item a user has in training is never "
                "recommended to them, so those pairs cannot be hits%s\n",
                pre, ov.shared_pairs, ov.test_pairs, test_name, train_name, ov.shared_user,
                ov.shared_item,
                allow_overlap ? " (--allow-overlap)"
                              : "; hold out pairs the training data does not have (encore-train "
                                "split), or --allow-overlap to score anyway");
        if (!allow_overlap)
            return 1;
    }
    if (ov.known_items == 0) {
        fprintf(stderr,
                "encore-train %s: none of the %zu items of %s is in the catalog of "
                "%s (items like '%s' against '%s'): the ids do not match, every "
                "metric would be 0\n",
                cmd, ov.test_items, test_name, train_name, ov.unknown_item, ov.train_item);
        return 1;
    }
    if (ov.known_users < ov.test_users || ov.known_items < ov.test_items)
        fprintf(stderr,
                "%s: %s: %zu of %zu users have training data; %zu of %zu items (%zu of "
                "%zu pairs) are in the catalog%s\n",
                cmd, test_name, ov.known_users, ov.test_users, ov.known_items, ov.test_items,
                ov.known_pairs, ov.test_pairs,
                ov.known_pairs * 2 < ov.test_pairs ? ": most test pairs cannot be hits" : "");
    return 0;
}

json_t *mf_metrics_json(const struct re_metrics *m)
{
    return json_pack("{s:f,s:f,s:f,s:f,s:f,s:f}", "precision", m->precision, "recall", m->recall,
                     "ndcg", m->ndcg, "map", m->map, "hit_rate", m->hit_rate, "coverage",
                     m->coverage);
}

int mf_input_validate(const char *cmd, const struct mf_input *in, const char *path,
                      const struct mf_data *d)
{
    enc_err err = {0};
    struct ia_options o = {IA_FORMAT_AUTO, in->min_rating, IA_HEADER_AUTO};
    struct ia_matrix test;
    if (ia_read(path, &o, &test, &err)) {
        fprintf(stderr, "encore-train %s: --validation: %s\n", cmd, err.msg);
        return 1;
    }
    char tname[512];
    snprintf(tname, sizeof tname, "--validation %s", path);
    if (mf_overlap_guard(cmd, "the training data", tname, &in->m, &test, in->allow_overlap)) {
        ia_matrix_clear(&test);
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
