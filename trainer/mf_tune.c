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

#define MAX_DIMS 6
#define LEVEL 0.05 /* one-sided significance level of a step (Bonferroni over its candidates) */

/* One setting the search moves: a confidence scheme, a positive number
 * moved by factors (log scale), or a whole number moved by factors. */
enum dim_kind { DIM_SCHEME, DIM_REAL, DIM_INT };

struct dim {
    const char *name; /* as in the option table and the hyperparameters */
    enum dim_kind kind;
    double lo, hi; /* bounds (not for DIM_SCHEME) */
    int log_only;  /* only changes the model under the log scheme (epsilon) */
};

struct trial {
    double v[MAX_DIMS];
    double ndcg, seconds;
    double cost; /* estimated, in fits of the starting settings on all the data */
    double z;    /* paired z of its gain over the best setting of its step's start */
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
    double spent; /* estimated cost of the fits so far (the same unit as trial.cost) */
    size_t n_users;
    double *best_pu, *top_pu, *cand_pu; /* per validation user NDCG@10: cur, a step's best, a fit */
    /* the fit of one setting: returns 0, its validation NDCG@10 and each
     * validation user's */
    int (*fit)(void *ctx, const double *v, double *ndcg, double *per_user, enc_err *err);
    /* the estimated cost of one setting: fitted on the validation split and
     * scored (full 0) or fitted on all the data (full 1), in fits of the
     * starting settings on all the data */
    double (*cost)(void *ctx, const double *v, int full);
    void *ctx;
    int failed; /* an exit status once a fit failed */
    int broke;  /* a setting was skipped for its cost */
};

static int cores(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)(n > 256 ? 256 : n) : 1;
}

/* Whether dimension d changes the model at setting v. */
static int applies(const struct tuner *t, int d, const double *v)
{
    return !t->dims[d].log_only || (enum conf_scheme)v[0] == CONF_LOG;
}

static void describe(const struct tuner *t, const double *v, char *buf, size_t cap)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int d = 0; d < t->n_dims && at < cap; d++) {
        const struct dim *dm = &t->dims[d];
        if (!applies(t, d, v))
            continue;
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
        if (applies(t, d, a) && fabs(a[d] - b[d]) > 1e-9 * fmax(1.0, fabs(a[d])))
            return 0;
    return 1;
}

/* The paired z statistic of a - b over the users where both are defined:
 * mean difference / its standard error. */
static double paired_z(const double *a, const double *b, size_t n)
{
    double s = 0, ss = 0;
    size_t m = 0;
    for (size_t u = 0; u < n; u++)
        if (!isnan(a[u]) && !isnan(b[u])) {
            double d = a[u] - b[u];
            s += d;
            ss += d * d;
            m++;
        }
    if (m < 2)
        return 0;
    double mean = s / (double)m;
    double var = (ss - s * mean) / (double)(m - 1);
    if (!(var > 0))
        return mean > 0 ? INFINITY : mean < 0 ? -INFINITY : 0;
    return mean / sqrt(var / (double)m);
}

/* The z a gain must pass: one-sided level `level` of the standard normal
 * (bisection on its upper tail 0.5 erfc(z / sqrt 2)). */
static double z_critical(double level)
{
    double lo = 0, hi = 10;
    for (int i = 0; i < 60; i++) {
        double mid = (lo + hi) / 2;
        if (0.5 * erfc(mid / sqrt(2.0)) > level)
            lo = mid;
        else
            hi = mid;
    }
    return hi;
}

/* Fit setting v as a new trial, its per-user NDCG@10 into t->cand_pu.
 * Returns the trial's index, or -1 when v was tried already, the budget
 * cannot pay for it (fits, or the estimated cost of it and of the final
 * fit), or a fit failed. */
static int evaluate(struct tuner *t, const double *v)
{
    for (int i = 0; i < t->n_trials; i++)
        if (same(t, t->trials[i].v, v))
            return -1;
    if (t->failed || t->broke || t->n_trials >= t->budget)
        return -1;
    char what[256];
    describe(t, v, what, sizeof what);
    double c = t->cost(t->ctx, v, 0);
    double refit = fmax(t->cost(t->ctx, v, 1), t->cost(t->ctx, t->cur, 1));
    if (t->n_trials > 0 && t->spent + c + refit > t->budget) {
        fprintf(stderr,
                "%s tune: skipped %s: its fit (%.2f) and the final fit (%.2f) would pass "
                "the budget of %d fits (%.2f spent)\n",
                t->cmd, what, c, refit, t->budget, t->spent);
        t->broke = 1;
        return -1;
    }
    struct trial *tr = &t->trials[t->n_trials];
    memcpy(tr->v, v, sizeof tr->v);
    tr->cost = c;
    tr->z = NAN;
    enc_err err = {0};
    double t0 = trainer_now();
    if (t->fit(t->ctx, v, &tr->ndcg, t->cand_pu, &err)) {
        fprintf(stderr, "encore-train %s: --tune: %s\n", t->cmd, err.msg);
        t->failed = 1;
        return -1;
    }
    tr->seconds = trainer_now() - t0;
    t->spent += c;
    int index = t->n_trials++;
    if (index > 0)
        tr->z = paired_z(t->cand_pu, t->best_pu, t->n_users);
    char zs[64] = "";
    if (index > 0)
        snprintf(zs, sizeof zs, ", gain z %+.2f", tr->z);
    fprintf(stderr,
            "%s tune: fit %d/%d: %s -> validation NDCG@10 %.4f (best %.4f%s) in %.2f s, "
            "%.2f of %d fits spent\n",
            t->cmd, t->n_trials, t->budget, what, tr->ndcg, index > 0 ? t->best : tr->ndcg, zs,
            tr->seconds, t->spent, t->budget);
    return index;
}

/* Try setting dimension d to each of vals[0..n); move to the best of them
 * if its per-user gain over the current best is significant: paired
 * z-test, one-sided, level LEVEL / (candidates fitted in this step).
 * Returns 1 when it moved. */
static int try_dim(struct tuner *t, int d, const double *vals, int n)
{
    const struct dim *dm = &t->dims[d];
    if (!applies(t, d, t->cur))
        return 0;
    double bestv = 0;
    int best_i = -1, tried = 0;
    for (int k = 0; k < n; k++) {
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
        int idx = evaluate(t, v);
        if (idx < 0)
            continue;
        tried++;
        if (best_i < 0 || t->trials[idx].ndcg > t->trials[best_i].ndcg) {
            bestv = x;
            best_i = idx;
            double *sw = t->top_pu;
            t->top_pu = t->cand_pu;
            t->cand_pu = sw;
        }
    }
    if (best_i < 0)
        return 0;
    double zc = z_critical(LEVEL / tried);
    const struct trial *b = &t->trials[best_i];
    char val[64];
    if (dm->kind == DIM_SCHEME)
        snprintf(val, sizeof val, "%s", conf_scheme_name((enum conf_scheme)bestv));
    else
        snprintf(val, sizeof val, "%.4g", bestv);
    int keep = b->ndcg > t->best && b->z > zc;
    fprintf(stderr, "%s tune: %s %s (validation NDCG@10 %.4f vs %.4f): gain z %.2f %s %.2f, %s\n",
            t->cmd, dm->name, val, b->ndcg, t->best, b->z, keep ? ">" : "<=", zc,
            keep ? "kept" : "not kept");
    if (!keep)
        return 0;
    t->cur[d] = bestv;
    t->best = b->ndcg;
    t->best_trial = best_i;
    double *sw = t->best_pu;
    t->best_pu = t->top_pu;
    t->top_pu = sw;
    return 1;
}

/* Coordinate search from t->cur (see mf_tune.h). `fine` lists the
 * dimensions refined in later passes; `schemes` the schemes to try (n_s 0:
 * none, the weights are all equal). */
static void search(struct tuner *t, const int *fine, int n_fine, const double *schemes, int n_s)
{
    t->best_trial = evaluate(t, t->cur);
    if (t->best_trial < 0)
        return;
    t->best = t->trials[0].ndcg;
    double *sw = t->best_pu;
    t->best_pu = t->cand_pu;
    t->cand_pu = sw;
    int edge[MAX_DIMS] = {0}; /* +1 / -1: pass 1 moved this dimension to its outer value */
    for (int d = 0; d < t->n_dims; d++) {
        double c = t->cur[d];
        t->broke = 0; /* a step's candidates cost more and more: a skip ends the step only */
        if (t->dims[d].kind == DIM_SCHEME) {
            if (n_s)
                try_dim(t, d, schemes, n_s);
            continue;
        }
        if (t->dims[d].log_only && !n_s)
            continue; /* all weights equal: epsilon only rescales alpha */
        int is_fine = 0;
        for (int k = 0; k < n_fine; k++)
            is_fine |= fine[k] == d;
        if (is_fine || t->dims[d].log_only) {
            double vals[4] = {c / 4, c / 2, c * 2, c * 4};
            if (try_dim(t, d, vals, 4) && (t->cur[d] == c * 4 || t->cur[d] == c / 4))
                edge[d] = t->cur[d] > c ? 1 : -1;
        } else {
            double vals[2] = {c / 2, c * 2};
            try_dim(t, d, vals, 2);
        }
    }
    /* Finer steps on the continuous settings until the budget is spent
     * (they cost what the current setting costs, so one skip ends them). */
    t->broke = 0;
    for (double step = sqrt(2.0); step > 1.01 && !t->failed && !t->broke && t->n_trials < t->budget;
         step = sqrt(step))
        for (int k = 0; k < n_fine && !t->broke && t->n_trials < t->budget; k++) {
            int d = fine[k];
            double c = t->cur[d];
            double vals[3] = {c / step, c * step, edge[d] > 0 ? c * 2 : c / 2};
            try_dim(t, d, vals, edge[d] ? 3 : 2);
            edge[d] = 0;
        }
}

/* The search table for the model's hyperparameters. */
static json_t *table_json(const struct tuner *t, const struct ia_matrix *fit,
                          const struct ia_matrix *valid, uint64_t seed, double seconds,
                          double final_cost)
{
    json_t *trials = json_array();
    double total = 0;
    for (int i = 0; i < t->n_trials; i++) {
        json_t *o = json_object();
        for (int d = 0; d < t->n_dims; d++) {
            double x = t->trials[i].v[d];
            if (!applies(t, d, t->trials[i].v))
                continue;
            json_object_set_new(o, t->dims[d].name,
                                t->dims[d].kind == DIM_SCHEME
                                    ? json_string(conf_scheme_name((enum conf_scheme)x))
                                : t->dims[d].kind == DIM_INT ? json_integer((json_int_t)x)
                                                             : json_real(x));
        }
        json_object_set_new(o, "ndcg", json_real(t->trials[i].ndcg));
        if (i > 0 && isfinite(t->trials[i].z))
            json_object_set_new(o, "gain_z", json_real(t->trials[i].z));
        json_object_set_new(o, "cost", json_real(t->trials[i].cost));
        json_object_set_new(o, "seconds", json_real(t->trials[i].seconds));
        json_array_append_new(trials, o);
        total += t->trials[i].seconds;
    }
    return json_pack(
        "{s:s,s:s,s:I,s:I,s:I,s:{s:I,s:I,s:I},s:o,s:I,s:f,s:f,s:f,s:f,s:f,s:f}", "metric",
        "NDCG@10 on a per-user validation split of the input", "rule",
        "a change is kept when its gain over the best so far, user by user, passes a one-sided "
        "paired z-test at level 0.05 / the candidates of its step",
        "seed", (json_int_t)seed, "budget", (json_int_t)t->budget, "fits", (json_int_t)t->n_trials,
        "split", "fit_pairs", (json_int_t)fit->nnz, "validation_pairs", (json_int_t)valid->nnz,
        "validation_users", (json_int_t)valid->n_users, "trials", trials, "chosen",
        (json_int_t)t->best_trial + 1, "start_ndcg", t->trials[0].ndcg, "best_ndcg", t->best,
        "seconds_per_fit", t->n_trials ? total / t->n_trials : 0.0, "seconds", seconds,
        "cost_search", t->spent, "cost_final_fit", final_cost);
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

static int score(struct tune_data *td, size_t F, double *ndcg, double *per_user, enc_err *err)
{
    struct re_factors *rf = NULL;
    struct re_metrics mm;
    if (rank_factors_new(&td->fit, td->X, td->Y, F, &rf))
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    int rc = rank_evaluate_users(&td->fit, &td->valid, 10, rank_factors_fn, rf, &mm, per_user, err);
    rank_factors_free(rf);
    *ndcg = mm.ndcg;
    return rc;
}

/* Arithmetic of scoring the validation users: a dot product per catalog
 * item (rank_factors_fn). */
static double score_flops(const struct tune_data *td, double F)
{
    return 2.0 * (double)td->valid.n_users * (double)td->fit.n_items * F;
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

/* What a fit function gets: the split, the base settings, the whole
 * input's size and the arithmetic of one fit of the starting settings on
 * it (the unit of cost). */
struct tune_ctx {
    struct tune_data td;
    struct als_params als;
    struct bpr_params bpr;
    const struct ia_matrix *all;
    double unit;
};

/* The whole search for one algorithm: the split, trials from v (the
 * starting settings in dims order; the chosen ones on return), the table. */
static int tune_run(const char *cmd, const struct mf_input *in, uint64_t seed, size_t factors,
                    const struct dim *dims,
                    int (*fit)(void *, const double *, double *, double *, enc_err *),
                    double (*cost)(void *, const double *, int), struct tune_ctx *c, double *v,
                    int budget, json_t **table)
{
    *table = NULL;
    c->all = &in->m;
    if (tune_data_make(cmd, in, seed, 2 * factors > 512 ? 2 * factors : 512, &c->td)) {
        tune_data_clear(&c->td);
        return 1;
    }
    struct tuner t = {.cmd = cmd,
                      .dims = dims,
                      .n_dims = MAX_DIMS,
                      .budget = budget,
                      .fit = fit,
                      .cost = cost,
                      .ctx = c,
                      .n_users = c->td.valid.n_users};
    t.trials = calloc((size_t)budget, sizeof *t.trials);
    size_t nu = t.n_users ? t.n_users : 1;
    t.best_pu = malloc(nu * sizeof *t.best_pu);
    t.top_pu = malloc(nu * sizeof *t.top_pu);
    t.cand_pu = malloc(nu * sizeof *t.cand_pu);
    int rc = 0;
    if (!t.trials || !t.best_pu || !t.top_pu || !t.cand_pu) {
        fprintf(stderr, "encore-train %s: --tune: out of memory\n", cmd);
        rc = 1;
        goto out;
    }
    memcpy(t.cur, v, sizeof t.cur);
    double schemes[4];
    int n_s = other_schemes(in, schemes);
    const int fine[] = {2, 3}; /* alpha (learning rate), regularization */
    double t0 = trainer_now();
    search(&t, fine, 2, schemes, n_s);
    rc = t.failed || t.best_trial < 0 ? 1 : 0;
    if (rc == 0) {
        report(&t, trainer_now() - t0);
        memcpy(v, t.cur, sizeof t.cur);
        double final_cost = cost(c, t.cur, 1);
        fprintf(stderr,
                "%s tune: estimated cost %.2f fits of the starting settings for the search "
                "+ %.2f for the final fit (budget %d)\n",
                cmd, t.spent, final_cost, budget);
        *table = table_json(&t, &c->td.fit, &c->td.valid, seed, trainer_now() - t0, final_cost);
        if (!*table)
            rc = 1;
    }
out:
    free(t.trials);
    free(t.best_pu);
    free(t.top_pu);
    free(t.cand_pu);
    tune_data_clear(&c->td);
    return rc;
}

/* ---- ALS ----------------------------------------------------------------- */

/* Search order: the confidence (scheme, then the log scheme's epsilon)
 * first, since the other settings' best values depend on it. */
static const struct dim als_dims[MAX_DIMS] = {
    {"confidence", DIM_SCHEME, 0, 0, 0}, {"epsilon", DIM_REAL, 1e-12, 1e15, 1},
    {"alpha", DIM_REAL, 1e-3, 1e4, 0},   {"regularization", DIM_REAL, 1e-4, 1e6, 0},
    {"factors", DIM_INT, 8, 512, 0},     {"iterations", DIM_INT, 2, 60, 0},
};

static void als_apply(struct als_params *q, const double *v)
{
    q->confidence = (enum conf_scheme)v[0];
    q->epsilon = v[1];
    q->alpha = v[2];
    q->regularization = v[3];
    q->factors = (size_t)v[4];
    q->iterations = (int)v[5];
}

/* The arithmetic of an ALS fit (als.c's sweeps): per iteration and side,
 * the Gram matrix, then for CG (steps + 1) chunked products with it and
 * two passes over the row's entries; for Cholesky a rank update per entry
 * and a factorisation per row. */
static double als_flops(const struct als_params *q, double U, double I, double nnz)
{
    double F = (double)q->factors, it = q->iterations > 0 ? q->iterations : 1;
    if (q->solver == ALS_SOLVER_CHOLESKY)
        return it * ((U + I) * F * F * (1 + F / 3) + 2 * nnz * F * F);
    return it * ((U + I) * F * F + (q->cg_steps + 1) * (2 * (U + I) * F * F + 8 * nnz * F));
}

static double als_cost(void *ctx, const double *v, int full)
{
    struct tune_ctx *c = ctx;
    struct als_params q = c->als;
    als_apply(&q, v);
    if (full)
        return als_flops(&q, (double)c->all->n_users, (double)c->all->n_items,
                         (double)c->all->nnz) /
               c->unit;
    const struct ia_matrix *m = &c->td.fit;
    return (als_flops(&q, (double)m->n_users, (double)m->n_items, (double)m->nnz) +
            score_flops(&c->td, (double)q.factors)) /
           c->unit;
}

static int als_fit_one(void *ctx, const double *v, double *ndcg, double *per_user, enc_err *err)
{
    struct tune_ctx *c = ctx;
    struct als_params q = c->als;
    als_apply(&q, v);
    q.threads = cores();
    q.progress = NULL;
    const struct ia_matrix *m = &c->td.fit;
    struct als_csr R = {m->n_users, m->n_items, m->indptr, m->indices, m->weights};
    int rc = als_fit(&R, &q, c->td.X, c->td.Y, err);
    return rc ? rc : score(&c->td, q.factors, ndcg, per_user, err);
}

int mf_tune_als(const struct mf_input *in, struct als_params *p, int budget, json_t **table)
{
    struct tune_ctx c = {.als = *p};
    c.unit = als_flops(p, (double)in->m.n_users, (double)in->m.n_items, (double)in->m.nnz);
    double v[MAX_DIMS] = {p->confidence,     p->epsilon,         p->alpha,
                          p->regularization, (double)p->factors, p->iterations};
    int rc = tune_run("als", in, p->seed, p->factors, als_dims, als_fit_one, als_cost, &c, v,
                      budget, table);
    if (rc == 0)
        als_apply(p, v);
    return rc;
}

/* ---- BPR ----------------------------------------------------------------- */

static const struct dim bpr_dims[MAX_DIMS] = {
    {"confidence", DIM_SCHEME, 0, 0, 0},     {"epsilon", DIM_REAL, 1e-12, 1e15, 1},
    {"learning_rate", DIM_REAL, 1e-4, 1, 0}, {"regularization", DIM_REAL, 1e-5, 10, 0},
    {"factors", DIM_INT, 8, 512, 0},         {"epochs", DIM_INT, 5, 1000, 0},
};

static void bpr_apply(struct bpr_params *q, const double *v)
{
    q->confidence = (enum conf_scheme)v[0];
    q->epsilon = v[1];
    q->learning_rate = v[2];
    q->regularization = v[3];
    q->factors = (size_t)v[4];
    q->epochs = (int)v[5];
}

/* About one update per positive and epoch (bpr.c), each a dot product and
 * three axpy over the factors. */
static double bpr_flops(const struct bpr_params *q, double nnz)
{
    return (q->epochs > 0 ? q->epochs : 1) * nnz * 8.0 * (double)q->factors;
}

static double bpr_cost(void *ctx, const double *v, int full)
{
    struct tune_ctx *c = ctx;
    struct bpr_params q = c->bpr;
    bpr_apply(&q, v);
    if (full)
        return bpr_flops(&q, (double)c->all->nnz) / c->unit;
    return (bpr_flops(&q, (double)c->td.fit.nnz) + score_flops(&c->td, (double)q.factors)) /
           c->unit;
}

static int bpr_fit_one(void *ctx, const double *v, double *ndcg, double *per_user, enc_err *err)
{
    struct tune_ctx *c = ctx;
    struct bpr_params q = c->bpr;
    bpr_apply(&q, v);
    q.progress = NULL;
    const struct ia_matrix *m = &c->td.fit;
    struct als_csr R = {m->n_users, m->n_items, m->indptr, m->indices, m->weights};
    int rc = bpr_fit(&R, &q, c->td.X, c->td.Y, err);
    return rc ? rc : score(&c->td, q.factors, ndcg, per_user, err);
}

int mf_tune_bpr(const struct mf_input *in, struct bpr_params *p, int budget, json_t **table)
{
    struct tune_ctx c = {.bpr = *p};
    c.unit = bpr_flops(p, (double)in->m.nnz);
    double v[MAX_DIMS] = {p->confidence,     p->epsilon,         p->learning_rate,
                          p->regularization, (double)p->factors, p->epochs};
    int rc = tune_run("bpr", in, p->seed, p->factors, bpr_dims, bpr_fit_one, bpr_cost, &c, v,
                      budget, table);
    if (rc == 0)
        bpr_apply(p, v);
    return rc;
}
