/* mf_tune.c - the --tune search of als and bpr (see mf_tune.h). */
#define _GNU_SOURCE
#include "mf_tune.h"

#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mf/holdout.h"
#include "mf/rank_eval.h"
#include "trainer.h"

#define MAX_DIMS 5
#define MIN_GAIN 0.002 /* relative validation NDCG gain a change must bring */

/* One setting the search moves: a confidence scheme, a positive number
 * moved by factors (log scale), or a whole number moved by factors. */
enum dim_kind { DIM_SCHEME, DIM_REAL, DIM_INT };

struct dim {
    const char *name; /* as in the option table and the hyperparameters */
    enum dim_kind kind;
    double lo, hi; /* bounds (not for DIM_SCHEME) */
};

struct trial {
    double v[MAX_DIMS];
    double ndcg, seconds;
};

struct tuner {
    const char *cmd;
    const struct dim *dims;
    int n_dims;
    double cur[MAX_DIMS];
    double best; /* validation NDCG@10 of cur */
    int best_trial;
    struct trial *trials;
    int n_trials, budget;
    /* the fit of one setting: returns 0 and its validation NDCG@10 */
    int (*fit)(void *ctx, const double *v, double *ndcg, enc_err *err);
    void *ctx;
    int failed; /* an exit status once a fit failed */
};

static int cores(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)(n > 256 ? 256 : n) : 1;
}

static void describe(const struct tuner *t, const double *v, char *buf, size_t cap)
{
    size_t at = 0;
    for (int d = 0; d < t->n_dims && at < cap; d++) {
        const struct dim *dm = &t->dims[d];
        if (dm->kind == DIM_SCHEME)
            at += (size_t)snprintf(buf + at, cap - at, "%s%s %s", d ? ", " : "", dm->name,
                                   conf_scheme_name((enum conf_scheme)v[d]));
        else
            at += (size_t)snprintf(buf + at, cap - at, "%s%s %.4g", d ? ", " : "", dm->name, v[d]);
    }
}

static int same(const struct tuner *t, const double *a, const double *b)
{
    for (int d = 0; d < t->n_dims; d++)
        if (fabs(a[d] - b[d]) > 1e-9 * fmax(1.0, fabs(a[d])))
            return 0;
    return 1;
}

/* The validation NDCG@10 of setting v: a fit unless it was tried; -1 when
 * the budget is spent or a fit failed. */
static double evaluate(struct tuner *t, const double *v, int *index)
{
    for (int i = 0; i < t->n_trials; i++)
        if (same(t, t->trials[i].v, v)) {
            *index = i;
            return t->trials[i].ndcg;
        }
    if (t->failed || t->n_trials >= t->budget)
        return -1;
    struct trial *tr = &t->trials[t->n_trials];
    memcpy(tr->v, v, sizeof tr->v);
    enc_err err = {0};
    double t0 = trainer_now();
    if (t->fit(t->ctx, v, &tr->ndcg, &err)) {
        fprintf(stderr, "encore-train %s: --tune: %s\n", t->cmd, err.msg);
        t->failed = 1;
        return -1;
    }
    tr->seconds = trainer_now() - t0;
    *index = t->n_trials++;
    char what[256];
    describe(t, v, what, sizeof what);
    fprintf(stderr, "%s tune: fit %d/%d: %s -> validation NDCG@10 %.4f (best %.4f) in %.2f s\n",
            t->cmd, t->n_trials, t->budget, what, tr->ndcg,
            t->best_trial >= 0 && t->best > tr->ndcg ? t->best : tr->ndcg, tr->seconds);
    return tr->ndcg;
}

/* Try setting dimension d to each of vals[0..n); keep the best if it beats
 * the current best by MIN_GAIN. Returns 1 when it moved. */
static int try_dim(struct tuner *t, int d, const double *vals, int n)
{
    double best = -1, bestv = 0;
    int best_i = -1;
    for (int k = 0; k < n; k++) {
        const struct dim *dm = &t->dims[d];
        double x = vals[k];
        if (dm->kind != DIM_SCHEME) {
            if (dm->kind == DIM_INT)
                x = round(x);
            x = fmin(fmax(x, dm->lo), dm->hi);
        }
        double v[MAX_DIMS];
        memcpy(v, t->cur, sizeof v);
        v[d] = x;
        if (same(t, v, t->cur))
            continue;
        int idx;
        double s = evaluate(t, v, &idx);
        if (s > best) {
            best = s;
            bestv = x;
            best_i = idx;
        }
    }
    if (best_i >= 0 && best > t->best * (1 + MIN_GAIN)) {
        t->cur[d] = bestv;
        t->best = best;
        t->best_trial = best_i;
        return 1;
    }
    return 0;
}

/* Coordinate search from t->cur (see mf_tune.h). `fine` lists the
 * dimensions refined in later passes; `schemes` the schemes to try (n_s 0:
 * none, the weights are all equal). */
static void search(struct tuner *t, const int *fine, int n_fine, const double *schemes, int n_s)
{
    int idx;
    t->best_trial = -1;
    t->best = evaluate(t, t->cur, &idx);
    if (t->best < 0)
        return;
    t->best_trial = idx;
    int edge[MAX_DIMS] = {0}; /* +1 / -1: pass 1 moved this dimension to its outer value */
    for (int d = 0; d < t->n_dims; d++) {
        double c = t->cur[d];
        if (t->dims[d].kind == DIM_SCHEME) {
            if (n_s)
                try_dim(t, d, schemes, n_s);
            continue;
        }
        int is_fine = 0;
        for (int k = 0; k < n_fine; k++)
            is_fine |= fine[k] == d;
        if (is_fine) {
            double vals[4] = {c / 4, c / 2, c * 2, c * 4};
            if (try_dim(t, d, vals, 4) && (t->cur[d] == c * 4 || t->cur[d] == c / 4))
                edge[d] = t->cur[d] > c ? 1 : -1;
        } else {
            double vals[2] = {c / 2, c * 2};
            try_dim(t, d, vals, 2);
        }
    }
    /* Finer steps on the continuous settings until the budget is spent. */
    for (double step = sqrt(2.0); step > 1.01 && !t->failed && t->n_trials < t->budget;
         step = sqrt(step))
        for (int k = 0; k < n_fine && t->n_trials < t->budget; k++) {
            int d = fine[k];
            double c = t->cur[d];
            double vals[3] = {c / step, c * step, edge[d] > 0 ? c * 2 : c / 2};
            try_dim(t, d, vals, edge[d] ? 3 : 2);
            edge[d] = 0;
        }
}

/* The search table for the model's hyperparameters. */
static json_t *table_json(const struct tuner *t, const struct ia_matrix *fit,
                          const struct ia_matrix *valid, uint64_t seed, double seconds)
{
    json_t *trials = json_array();
    double total = 0;
    for (int i = 0; i < t->n_trials; i++) {
        json_t *o = json_object();
        for (int d = 0; d < t->n_dims; d++) {
            double x = t->trials[i].v[d];
            json_object_set_new(o, t->dims[d].name,
                                t->dims[d].kind == DIM_SCHEME
                                    ? json_string(conf_scheme_name((enum conf_scheme)x))
                                : t->dims[d].kind == DIM_INT ? json_integer((json_int_t)x)
                                                             : json_real(x));
        }
        json_object_set_new(o, "ndcg", json_real(t->trials[i].ndcg));
        json_object_set_new(o, "seconds", json_real(t->trials[i].seconds));
        json_array_append_new(trials, o);
        total += t->trials[i].seconds;
    }
    return json_pack(
        "{s:s,s:I,s:I,s:I,s:{s:I,s:I,s:I},s:o,s:I,s:f,s:f,s:f,s:f}", "metric",
        "NDCG@10 on a per-user validation split of the input", "seed", (json_int_t)seed, "budget",
        (json_int_t)t->budget, "fits", (json_int_t)t->n_trials, "split", "fit_pairs",
        (json_int_t)fit->nnz, "validation_pairs", (json_int_t)valid->nnz, "validation_users",
        (json_int_t)valid->n_users, "trials", trials, "chosen", (json_int_t)t->best_trial + 1,
        "start_ndcg", t->trials[0].ndcg, "best_ndcg", t->best, "seconds_per_fit",
        t->n_trials ? total / t->n_trials : 0.0, "seconds", seconds);
}

/* ---- the split and the scoring every fit shares ------------------------ */

struct tune_data {
    struct ia_matrix fit, valid;
    float *X, *Y;
};

static int tune_data_make(const char *cmd, const struct mf_input *in, uint64_t seed,
                          size_t max_factors, struct tune_data *td)
{
    memset(td, 0, sizeof *td);
    enc_err err = {0};
    if (ia_holdout_per_user(&in->m, seed, &td->fit, &td->valid, &err)) {
        fprintf(stderr, "encore-train %s: --tune: %s\n", cmd, err.msg);
        return 1;
    }
    td->X = malloc(td->fit.n_users * max_factors * sizeof *td->X);
    td->Y = malloc(td->fit.n_items * max_factors * sizeof *td->Y);
    if (!td->X || !td->Y) {
        fprintf(stderr, "encore-train %s: --tune: out of memory\n", cmd);
        return 1;
    }
    fprintf(stderr,
            "%s tune: validation split (per user with >= 5 pairs, 20%% held out, seed "
            "%llu): %zu pairs to fit (%zu users x %zu items), %zu to validate (%zu "
            "users)\n",
            cmd, (unsigned long long)seed, td->fit.nnz, td->fit.n_users, td->fit.n_items,
            td->valid.nnz, td->valid.n_users);
    return 0;
}

static void tune_data_clear(struct tune_data *td)
{
    ia_matrix_clear(&td->fit);
    ia_matrix_clear(&td->valid);
    free(td->X);
    free(td->Y);
}

static int score(struct tune_data *td, size_t F, double *ndcg, enc_err *err)
{
    struct re_factors *rf = NULL;
    struct re_metrics mm;
    if (rank_factors_new(&td->fit, td->X, td->Y, F, &rf))
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    int rc = rank_evaluate(&td->fit, &td->valid, 10, rank_factors_fn, rf, &mm, err);
    rank_factors_free(rf);
    *ndcg = mm.ndcg;
    return rc;
}

/* The schemes to try besides the current one: none when every weight is
 * equal (binary, linear and log are then the same model). */
static int other_schemes(const struct mf_input *in, double *out)
{
    if (in->wstats.all_equal)
        return 0;
    const enum conf_scheme all[] = {CONF_BINARY, CONF_LINEAR, CONF_LOG, CONF_BM25};
    int n = 0;
    for (size_t k = 0; k < sizeof all / sizeof *all; k++)
        out[n++] = all[k];
    return n;
}

static void report(const struct tuner *t, double seconds)
{
    char what[256];
    describe(t, t->cur, what, sizeof what);
    fprintf(stderr,
            "%s tune: chose fit %d of %d: %s (validation NDCG@10 %.4f; the starting "
            "settings %.4f) in %.1f s; training it on all the data\n",
            t->cmd, t->best_trial + 1, t->n_trials, what, t->best, t->trials[0].ndcg, seconds);
}

/* What a fit function gets: the split and the base settings. */
struct tune_ctx {
    struct tune_data td;
    struct als_params als;
    struct bpr_params bpr;
};

/* The whole search for one algorithm: the split, trials from v (the
 * starting settings in dims order; the chosen ones on return), the table. */

static int tune_run(const char *cmd, const struct mf_input *in, uint64_t seed, size_t factors,
                    const struct dim *dims, int (*fit)(void *, const double *, double *, enc_err *),
                    struct tune_ctx *c, double *v, int budget, json_t **table)
{
    *table = NULL;
    if (tune_data_make(cmd, in, seed, 2 * factors > 512 ? 2 * factors : 512, &c->td)) {
        tune_data_clear(&c->td);
        return 1;
    }
    struct tuner t = {
        .cmd = cmd, .dims = dims, .n_dims = MAX_DIMS, .budget = budget, .fit = fit, .ctx = c};
    t.trials = calloc((size_t)budget, sizeof *t.trials);
    if (!t.trials) {
        tune_data_clear(&c->td);
        return 1;
    }
    memcpy(t.cur, v, sizeof t.cur);
    double schemes[4];
    int n_s = other_schemes(in, schemes);
    const int fine[] = {1, 2}; /* alpha (learning rate), regularization */
    double t0 = trainer_now();
    search(&t, fine, 2, schemes, n_s);
    int rc = t.failed || t.best_trial < 0 ? 1 : 0;
    if (rc == 0) {
        report(&t, trainer_now() - t0);
        memcpy(v, t.cur, sizeof t.cur);
        *table = table_json(&t, &c->td.fit, &c->td.valid, seed, trainer_now() - t0);
        if (!*table)
            rc = 1;
    }
    free(t.trials);
    tune_data_clear(&c->td);
    return rc;
}

/* ---- ALS ----------------------------------------------------------------- */

static const struct dim als_dims[MAX_DIMS] = {
    {"confidence", DIM_SCHEME, 0, 0},        {"alpha", DIM_REAL, 1e-3, 1e4},
    {"regularization", DIM_REAL, 1e-4, 1e6}, {"factors", DIM_INT, 8, 512},
    {"iterations", DIM_INT, 2, 60},
};

static void als_apply(struct als_params *q, const double *v)
{
    q->confidence = (enum conf_scheme)v[0];
    q->alpha = v[1];
    q->regularization = v[2];
    q->factors = (size_t)v[3];
    q->iterations = (int)v[4];
}

static int als_fit_one(void *ctx, const double *v, double *ndcg, enc_err *err)
{
    struct tune_ctx *c = ctx;
    struct als_params q = c->als;
    als_apply(&q, v);
    q.threads = cores();
    q.progress = NULL;
    const struct ia_matrix *m = &c->td.fit;
    struct als_csr R = {m->n_users, m->n_items, m->indptr, m->indices, m->weights};
    int rc = als_fit(&R, &q, c->td.X, c->td.Y, err);
    return rc ? rc : score(&c->td, q.factors, ndcg, err);
}

int mf_tune_als(const struct mf_input *in, struct als_params *p, int budget, json_t **table)
{
    struct tune_ctx c = {.als = *p};
    double v[MAX_DIMS] = {p->confidence, p->alpha, p->regularization, (double)p->factors,
                          p->iterations};
    int rc = tune_run("als", in, p->seed, p->factors, als_dims, als_fit_one, &c, v, budget, table);
    if (rc == 0)
        als_apply(p, v);
    return rc;
}

/* ---- BPR ----------------------------------------------------------------- */

static const struct dim bpr_dims[MAX_DIMS] = {
    {"confidence", DIM_SCHEME, 0, 0},       {"learning_rate", DIM_REAL, 1e-4, 1},
    {"regularization", DIM_REAL, 1e-5, 10}, {"factors", DIM_INT, 8, 512},
    {"epochs", DIM_INT, 5, 1000},
};

static void bpr_apply(struct bpr_params *q, const double *v)
{
    q->confidence = (enum conf_scheme)v[0];
    q->learning_rate = v[1];
    q->regularization = v[2];
    q->factors = (size_t)v[3];
    q->epochs = (int)v[4];
}

static int bpr_fit_one(void *ctx, const double *v, double *ndcg, enc_err *err)
{
    struct tune_ctx *c = ctx;
    struct bpr_params q = c->bpr;
    bpr_apply(&q, v);
    q.progress = NULL;
    const struct ia_matrix *m = &c->td.fit;
    struct als_csr R = {m->n_users, m->n_items, m->indptr, m->indices, m->weights};
    int rc = bpr_fit(&R, &q, c->td.X, c->td.Y, err);
    return rc ? rc : score(&c->td, q.factors, ndcg, err);
}

int mf_tune_bpr(const struct mf_input *in, struct bpr_params *p, int budget, json_t **table)
{
    struct tune_ctx c = {.bpr = *p};
    double v[MAX_DIMS] = {p->confidence, p->learning_rate, p->regularization, (double)p->factors,
                          p->epochs};
    int rc = tune_run("bpr", in, p->seed, p->factors, bpr_dims, bpr_fit_one, &c, v, budget, table);
    if (rc == 0)
        bpr_apply(p, v);
    return rc;
}
