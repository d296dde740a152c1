/*
 * cmd_eval_mf.c - encore-train eval for the mf family:
 *
 *   encore-train eval --model DIR --train FILE --test FILE [--k 10] [--allow-overlap]
 *
 * Before scoring, --test is checked against --train (mf_overlap_guard): a
 * pair in both is an error naming the count (--allow-overlap: a warning),
 * test ids that match nothing are an error, partly unknown ids are said.
 *
 * Loads the model exactly as the server does (model_load + mf_recommend), so
 * what is measured is the serving path: for each test user, the model ranks
 * the training catalog minus the user's training items (both read from
 * --train, mapped to model rows by id). The popularity baseline ranks by
 * training users per item. Metrics are those of models/mf/rank_eval.h,
 * and beside them what the lists look like (mf/list_eval.h: intra-list
 * diversity, popularity, long tail, Gini of exposure); --diversity and
 * --max-per-tag re-rank the model's lists as the server's "diversity" and
 * "max_per_tag" do (reco_ops.rerank). stdout gets one JSON object:
 *   {"model": {"precision","recall","ndcg","map","hit_rate","coverage",
 *              "ild","arp","long_tail","gini"},
 *    "popularity": {...}, "users": N, "k": K}
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/model.h"
#include "core/repo.h"
#include "families.h"
#include "mf/interactions.h"
#include "mf/mf.h"
#include "mf/rank_eval.h"
#include "eval_lists.h"
#include "mf_input.h"
#include "trainer.h"

struct served {
    const struct mf_model *m;
    const struct ia_matrix *train;
    int64_t *to_model;   /* train item row -> model row or -1 */
    int32_t *to_train;   /* model row -> train item row or -1 */
    int32_t *candidates; /* model rows in the train catalog, or NULL: all */
    size_t n_candidates;
    int32_t *exclude; /* scratch: one user's train items as model rows */
    float *scratch;
    struct reco_hit *hits;
    size_t k;
    struct reco_rerank rerank; /* diversity / max_per_tag (k set per call) */
    struct reco_hit *pool;     /* the re-ranked candidates */
    void *rerank_scratch;
};

static int served_fn(void *ctx, const char *user_id, int64_t train_user, const int32_t *train_items,
                     size_t n_train, size_t k, int32_t *out, size_t *n_out, enc_err *err)
{
    struct served *s = ctx;
    size_t ne = 0;
    for (size_t i = 0; i < n_train; i++)
        if (s->to_model[train_items[i]] >= 0)
            s->exclude[ne++] = (int32_t)s->to_model[train_items[i]];
    struct reco_query q = {
        .user = mf_user_index(s->m, user_id, strlen(user_id)),
        .k = k,
        .exclude_seen = 0,
        .exclude = s->exclude,
        .n_exclude = ne,
        .candidates = s->candidates,
        .n_candidates = s->n_candidates,
    };
    size_t nh = 0;
    enum reco_source src;
    int diversify = s->rerank.diversity > 0 || s->rerank.max_per_tag > 0;
    if (diversify)
        q.k = reco_rerank_pool(k);
    int rc = mf_recommend(s->m, &q, s->scratch, diversify ? s->pool : s->hits, &nh, &src, err);
    if (rc)
        return rc;
    if (diversify) {
        struct reco_rerank o = s->rerank;
        struct reco_result res = {.hits = s->hits};
        size_t relaxed;
        o.k = k;
        if ((rc = mf_ops.reco->rerank(s->m, s->pool, nh, &o, s->rerank_scratch, &res, &relaxed,
                                      err)) != 0)
            return rc;
        nh = res.n;
    }
    size_t n = 0;
    for (size_t i = 0; i < nh; i++)
        if (s->to_train[s->hits[i].item] >= 0)
            out[n++] = s->to_train[s->hits[i].item];
    *n_out = n;
    return 0;
}

int eval_mf(const char *model_dir, int argc, char **argv)
{
    const char *dir = NULL, *train_path = NULL, *test_path = NULL, *precision = "auto";
    const char *lists_path = NULL;
    int64_t k = 10, max_per_tag = 0;
    double diversity = 0;
    int allow_overlap = 0;
    const struct opt opts[] = {
        {"model", OPT_STR, &dir, "model version or name directory", 0, -1, 1},
        {"train", OPT_STR, &train_path, "training interactions (their items are excluded)", 0, -1,
         1},
        {"test", OPT_STR, &test_path, "held-out interactions", 0, -1, 1},
        {"k", OPT_INT, &k, "cutoff", 1, 1000, 0},
        {"score-precision", OPT_STR, &precision,
         "auto, i8, f32 or f16: score as encore-server does with that --score-precision", 0, -1, 0},
        {"diversity", OPT_DOUBLE, &diversity,
         "re-rank the model's lists as the server's \"diversity\" does (0..1)", 0, 1, 0},
        {"max-per-tag", OPT_INT, &max_per_tag,
         "at most N items sharing a tag, as the server's \"max_per_tag\" (0: no cap)", 0, 1000, 0},
        {"lists", OPT_STR, &lists_path,
         "write every list: LABEL<TAB>USER<TAB>ITEM,ITEM,... (model and popularity)", 0, -1, 0},
        {"allow-overlap", OPT_FLAG, &allow_overlap,
         "--test may share (user, item) pairs with --train (a warning, not an error)", 0, -1, 0},
        {NULL, 0, NULL, NULL, 0, 0, 0},
    };
    int rc = opts_parse("eval",
                        "--model DIR --train FILE --test FILE [--k 10 --score-precision auto "
                        "--diversity 0 --max-per-tag 0 --lists FILE --allow-overlap]",
                        opts, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    (void)model_dir;
    enc_err err = {0};
    char *path = NULL, *name = NULL;
    int64_t version = 0;
    struct model *model = NULL;
    struct ia_matrix train = {0}, test = {0};
    struct served s = {0};
    struct re_popularity *pop = NULL;
    struct eval_tap tm = {0}, tp = {0};
    float *vectors = NULL;
    FILE *lists = NULL;
    struct ia_options o = {IA_FORMAT_AUTO, 0, IA_HEADER_AUTO};
    double t0 = trainer_now();
    struct model_load_opts lo = model_default_opts;
    if (model_precision_parse(precision, &lo.precision, &err) || model_load_opts_check(&lo, &err) ||
        repo_resolve(dir, &path, &name, &version, &err) ||
        model_load(name, version, path, &lo, &model, &err)) {
        fprintf(stderr, "encore-train eval: %s\n", err.msg);
        rc = 1;
        goto out;
    }
    if (model->ops != &mf_ops) {
        fprintf(stderr, "encore-train eval: %s: not an mf model\n", path);
        rc = 1;
        goto out;
    }
    if (ia_read(train_path, &o, &train, &err) || ia_read(test_path, &o, &test, &err)) {
        fprintf(stderr, "encore-train eval: %s\n", err.msg);
        rc = 1;
        goto out;
    }
    if ((rc = mf_overlap_guard("eval", "--train", "--test", &train, &test, allow_overlap)))
        goto out;
    s.m = model->state;
    s.train = &train;
    s.k = (size_t)k;
    size_t nm = mf_n_items(s.m);
    s.to_model = malloc((train.n_items ? train.n_items : 1) * sizeof *s.to_model);
    s.to_train = malloc((nm ? nm : 1) * sizeof *s.to_train);
    s.candidates = malloc((nm ? nm : 1) * sizeof *s.candidates);
    s.exclude = malloc((train.n_items ? train.n_items : 1) * sizeof *s.exclude);
    s.scratch = malloc(mf_scratch_floats(s.m) * sizeof *s.scratch);
    s.hits = malloc((size_t)k * sizeof *s.hits);
    s.rerank = (struct reco_rerank){0, diversity, (size_t)max_per_tag};
    s.pool = malloc(reco_rerank_pool((size_t)k) * sizeof *s.pool);
    s.rerank_scratch = malloc(reco_rerank_scratch_bytes(reco_rerank_pool((size_t)k)));
    vectors = calloc((train.n_items ? train.n_items : 1) * mf_factors(s.m), sizeof *vectors);
    if (!s.pool || !s.rerank_scratch || !vectors || !s.to_model || !s.to_train || !s.candidates ||
        !s.exclude || !s.scratch || !s.hits || rank_popularity_new(&train, &pop)) {
        fprintf(stderr, "encore-train eval: out of memory\n");
        rc = 1;
        goto out;
    }
    for (size_t r = 0; r < nm; r++)
        s.to_train[r] = -1;
    size_t mapped = 0;
    for (size_t i = 0; i < train.n_items; i++) {
        const char *id = train.item_ids[i];
        s.to_model[i] = mf_item_index(s.m, id, strlen(id));
        if (s.to_model[i] >= 0) {
            s.to_train[s.to_model[i]] = (int32_t)i;
            s.candidates[mapped++] = (int32_t)s.to_model[i];
        }
    }
    if (mapped == nm) {
        free(s.candidates); /* the model's catalog is the train catalog: rank it all */
        s.candidates = NULL;
    } else {
        s.n_candidates = mapped;
    }
    if (mapped < train.n_items)
        fprintf(stderr, "eval: %zu of %zu training items are unknown to the model%s\n",
                train.n_items - mapped, train.n_items,
                mapped == 0 ? ": the model was trained on other ids, every metric will be 0" : "");
    /* the model's item vectors in training-catalogue order, for list diversity */
    for (size_t i = 0; i < train.n_items; i++)
        if (s.to_model[i] >= 0)
            memcpy(vectors + i * mf_factors(s.m), mf_ops.reco->item_factors(s.m, s.to_model[i]),
                   mf_factors(s.m) * sizeof *vectors);
    if (lists_path && !(lists = fopen(lists_path, "w"))) {
        fprintf(stderr, "encore-train eval: --lists %s: cannot write\n", lists_path);
        rc = 1;
        goto out;
    }
    if (eval_tap_init(&tm, served_fn, &s, "model", &train, vectors, mf_factors(s.m), lists) ||
        eval_tap_init(&tp, rank_popularity_fn, pop, "popularity", &train, vectors, mf_factors(s.m),
                      lists)) {
        fprintf(stderr, "encore-train eval: out of memory\n");
        rc = 1;
        goto out;
    }
    struct re_metrics mm, pm;
    if (rank_evaluate(&train, &test, (size_t)k, eval_tap_fn, &tm, &mm, &err) ||
        rank_evaluate(&train, &test, (size_t)k, eval_tap_fn, &tp, &pm, &err)) {
        fprintf(stderr, "encore-train eval: %s\n", err.msg);
        rc = 1;
        goto out;
    }
    json_t *mj = mf_metrics_json(&mm), *pj = mf_metrics_json(&pm);
    if (mj && pj && (eval_tap_json(&tm, mj) || eval_tap_json(&tp, pj))) {
        json_decref(mj);
        json_decref(pj);
        mj = pj = NULL;
    }
    json_t *res = json_pack("{s:o,s:o,s:I,s:I}", "model", mj, "popularity", pj, "users",
                            (json_int_t)mm.users, "k", (json_int_t)k);
    if (res && (diversity > 0 || max_per_tag > 0)) {
        double ur, ui;
        mf_diversity_units(s.m, &ur, &ui);
        json_object_set_new(res, "diversity", json_real(diversity));
        json_object_set_new(res, "diversity_units",
                            json_pack("{s:f,s:f}", "relevance", ur, "ild", ui));
        json_object_set_new(res, "max_per_tag", json_integer((json_int_t)max_per_tag));
    }
    char *txt = res ? json_dumps(res, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    if (mm.users && mm.hit_rate == 0) /* not one hit: say why it may be */
        fprintf(stderr,
                "eval: warning: the model has no hit for any of %zu users (popularity: "
                "%zu users with a hit); if that is not expected, check that the model was "
                "trained on --train's ids (%zu of its %zu items are known to it)\n",
                mm.users, (size_t)(pm.hit_rate * (double)pm.users + 0.5), mapped, train.n_items);
    if (!txt) {
        fprintf(stderr, "encore-train eval: out of memory\n");
        rc = 1;
    } else {
        printf("%s\n", txt);
        fprintf(stderr, "eval: %zu users in %.3f s\n", mm.users, trainer_now() - t0);
    }
    free(txt);
    json_decref(res);
out:
    if (lists)
        fclose(lists);
    eval_tap_clear(&tm);
    eval_tap_clear(&tp);
    free(vectors);
    free(s.pool);
    free(s.rerank_scratch);
    free(s.to_model);
    free(s.to_train);
    free(s.candidates);
    free(s.exclude);
    free(s.scratch);
    free(s.hits);
    rank_popularity_free(pop);
    ia_matrix_clear(&train);
    ia_matrix_clear(&test);
    model_unref(model);
    free(path);
    free(name);
    return rc;
}
