/*
 * cmd_als.c - encore-train als: read interactions (and item metadata), fit
 * implicit ALS (models/mf/als.h), publish REPO/NAME/VERSION/model.safetensors.
 *
 *   encore-train als --interactions FILE [--events STORE] [--items FILE] --out REPO/NAME
 *       [--format auto|udata|ratings-csv|csv|tsv] [--header auto|yes|no] [--min-rating R]
 *       [--confidence auto|binary|linear|log|bm25|tfidf] [--epsilon X]
 *       [--factors N] [--iterations N] [--regularization X] [--alpha X]
 *       [--solver cg|cholesky] [--cg-steps N] [--pop-penalty B] [--threads N] [--seed N]
 *       [--tune [--tune-budget N]] [--version N] [--validation FILE [--allow-overlap]]
 *       [--dry-run]
 *
 * What was read (rows, the weights' spread) and what is done with it (the
 * confidence scheme and why) go to stderr first, then progress (one line per
 * iteration: wall and CPU seconds, loss) and the total fit time; the published
 * version directory is printed on stdout. --tune searches the
 * hyperparameters on a validation split first (mf_tune.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mf/als.h"
#include "mf/popbias.h"
#include "mf_index_opt.h"
#include "mf_input.h"
#include "mf_tune.h"
#include "trainer.h"

/* Progress: wall seconds of the iteration (als.c), and the process's CPU
 * seconds since the previous line (or since training began): on a shared
 * machine the CPU time is the figure that compares across data sizes. */
struct progress_ctx {
    int total;
    double cpu;
};

static double cpu_seconds(void)
{
    struct timespec t;
    return clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t) == 0 ? (double)t.tv_sec + t.tv_nsec * 1e-9
                                                            : 0;
}

static void progress(void *ctx, int it, double seconds, double loss)
{
    struct progress_ctx *pc = ctx;
    double now = cpu_seconds();
    fprintf(stderr, "als: iteration %d/%d  %.3f s  cpu %.3f s  loss %.6g\n", it, pc->total, seconds,
            now - pc->cpu, loss);
    pc->cpu = now;
}

/* --solver: names in the option table, values in als.h. */
static const char *const solver_names[] = {"cg", "cholesky", NULL};
static const enum als_solver solvers[] = {ALS_SOLVER_CG, ALS_SOLVER_CHOLESKY};

/* The model's hyperparameters: every OPT_HYPER option (after --tune, the
 * chosen values), the confidence scheme as serving rebuilds it, the search
 * table of --tune (`tuned`, may be NULL), and what a fold-in needs to
 * regularize a new user of n items like the trained ones:
 * reg * (n / mean_user_interactions)^reg_exponent. */
static json_t *hyperparameters(const struct opt *opts, const struct mf_input *in, double reg_exp,
                               double alpha, json_t *tuned)
{
    json_t *h = opts_to_json(opts);
    int bad = !h || json_object_set_new(h, "algorithm", json_string("als"));
    if (!bad)
        bad = mf_input_describe_confidence(in, alpha, h) != 0;
    if (!bad && tuned)
        bad = json_object_set(h, "tune", tuned);
    if (!bad && reg_exp != 0)
        bad = json_object_set_new(h, "mean_user_interactions",
                                  json_real((double)in->m.nnz / (double)in->m.n_users));
    if (!bad)
        mf_input_describe(in, h);
    if (bad) {
        json_decref(h);
        return NULL;
    }
    return h;
}

int cmd_als(int argc, char **argv)
{
    struct als_params p;
    als_params_default(&p);
    struct mf_input in = {0};
    const char *out = NULL, *validation = NULL;
    const char *weighting = NULL;
    int solver = 0; /* index of als_params_default's choice */
    while (solvers[solver] != p.solver)
        solver++;
    int64_t factors = (int64_t)p.factors, iterations = p.iterations, threads = p.threads,
            seed = (int64_t)p.seed, version = 0, cg_steps = p.cg_steps;
    double reg = p.regularization, reg_exp = p.reg_exponent, alpha = p.alpha, k1 = p.bm25_k1,
           b = p.bm25_b;
    double pop_penalty = 0;
    int dry = 0, tune = 0;
    int64_t tune_budget = 24;
    struct mf_index_opt io;
    mf_index_opt_default(&io);
    int user_f16 = 0;
    in.min_rating = 0;
    const struct opt opts[] = {
        {"interactions", OPT_STR, &in.interactions,
         "interaction file (see --format); may be left out with --events", 0, -1, 0},
        MF_INPUT_EVENT_OPTS(in),
        MF_INPUT_ITEM_OPTS(in),
        {"out", OPT_STR, &out, "model directory REPO/NAME (a new VERSION is written inside)", 0, -1,
         0},
        {"format", OPT_STR, &in.format, "auto, udata, ratings-csv, csv or tsv", 0, -1, 0},
        {"min-rating", OPT_DOUBLE, &in.min_rating, "keep ratings (weights) >= R", -1e9, 1e9, 0},
        MF_INPUT_WEIGHT_OPTS(in),
        {"factors", OPT_INT, &factors, "latent factors", 1, 1024, 0, NULL, OPT_HYPER},
        {"iterations", OPT_INT, &iterations, "ALS iterations (user + item sweeps)", 0, 1000, 0,
         NULL, OPT_HYPER},
        {"regularization", OPT_DOUBLE, &reg, "L2 regularization", 1e-9, 1e9, 0, NULL, OPT_HYPER},
        {"reg-exponent", OPT_DOUBLE, &reg_exp,
         "scale each row's regularization by (its interactions / mean)^E", -2, 2, 0, NULL,
         OPT_HYPER},
        {"alpha", OPT_DOUBLE, &alpha, "confidence c = 1 + alpha * f(weight)", 0, 1e9, 0, NULL,
         OPT_HYPER},
        {"solver", OPT_ENUM, &solver, "conjugate gradient or exact", 0, -1, 0, solver_names,
         OPT_HYPER},
        {"cg-steps", OPT_INT, &cg_steps, "CG steps per row and sweep", 1, 100, 0, NULL, OPT_HYPER},
        {"weighting", OPT_STR, &weighting,
         "older spelling of --confidence: none (= linear), bm25 or tfidf", 0, -1, 0},
        {"bm25-k1", OPT_DOUBLE, &k1, "BM25 K1", 0, 1e9, 0, NULL, OPT_HYPER},
        {"bm25-b", OPT_DOUBLE, &b, "BM25 B", 0, 1, 0, NULL, OPT_HYPER},
        {"pop-penalty", OPT_DOUBLE, &pop_penalty,
         "popularity debiasing: weights x (item users / mean)^-B before confidences (0: off)", 0, 2,
         0, NULL, OPT_HYPER},
        {"threads", OPT_INT, &threads, "worker threads", 1, 256, 0, NULL, OPT_HYPER},
        {"seed", OPT_INT, &seed, "random seed (same seed, same model)", 0, 9.2e18, 0, NULL,
         OPT_HYPER},
        {"version", OPT_INT, &version, "version to write (0: next free)", 0, 9.2e18, 0},
        {"validation", OPT_STR, &validation,
         "held-out user<TAB>item file: print ranking metrics at k=10 on stderr", 0, -1, 0},
        MF_INPUT_TUNE_OPTS(
            in, tune, tune_budget,
            "factors, regularization, alpha, confidence (and log epsilon) and iterations"),
        {"dry-run", OPT_FLAG, &dry, "train (and validate) without publishing", 0, -1, 0},
        MF_INDEX_OPTS(&io),
        MF_USER_PRECISION_OPT(user_f16),
        {NULL, 0, NULL, NULL, 0, 0, 0},
    };
    const char *syn =
        "--interactions FILE [--events STORE] [--items FILE] --out REPO/NAME [options]";
    int rc = opts_parse("als", syn, opts, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (!out && !dry) {
        fprintf(stderr, "encore-train als: --out is required (see --help)\n");
        return 2;
    }
    if ((rc = mf_index_opt_check("als", &io)))
        return rc;
    p.solver = solvers[solver];
    if (weighting) { /* the older option: none | bm25 | tfidf */
        int w = strcmp(weighting, "none") == 0    ? CONF_LINEAR
                : strcmp(weighting, "bm25") == 0  ? CONF_BM25
                : strcmp(weighting, "tfidf") == 0 ? CONF_TFIDF
                                                  : -1;
        if (w < 0) {
            fprintf(stderr, "encore-train als: --weighting: '%s' is not none, bm25 or tfidf\n",
                    weighting);
            return 2;
        }
        if (in.confidence != CONF_AUTO && in.confidence != w) {
            fprintf(stderr, "encore-train als: --weighting %s contradicts --confidence %s\n",
                    weighting, conf_scheme_name((enum conf_scheme)in.confidence));
            return 2;
        }
        in.confidence = w;
    }
    if (tune && validation) {
        fprintf(stderr, "encore-train als: --tune carves its own validation split; leave out "
                        "--validation\n");
        return 2;
    }
    p.factors = (size_t)factors;
    p.iterations = (int)iterations;
    p.threads = (int)threads;
    p.seed = (uint64_t)seed;
    p.cg_steps = (int)cg_steps;
    p.regularization = reg;
    p.reg_exponent = reg_exp;
    p.alpha = alpha;
    p.bm25_k1 = k1;
    p.bm25_b = b;
    p.progress = progress;
    struct progress_ctx total = {p.iterations, 0};
    p.progress_ctx = &total;

    if ((rc = mf_input_load("als", &in)))
        return rc;
    if (pop_penalty > 0) {
        /* The penalty scales the weights; binary confidence would drop it. */
        if (in.scheme == CONF_BINARY && !in.scheme_auto) {
            fprintf(stderr, "encore-train als: --pop-penalty scales the weights, which "
                            "--confidence binary ignores; use linear or log\n");
            mf_input_clear(&in);
            return 2;
        }
        if (tune) {
            fprintf(stderr, "encore-train als: --tune does not search with --pop-penalty "
                            "(its binary trials would ignore the penalty); leave one out\n");
            mf_input_clear(&in);
            return 2;
        }
        if (in.scheme == CONF_BINARY) {
            in.scheme = CONF_LINEAR;
            fprintf(stderr,
                    "als: --pop-penalty %g: confidence linear instead (c = 1 + alpha * "
                    "w * (item users / mean)^-%g), binary would ignore the penalty\n",
                    pop_penalty, pop_penalty);
        }
        enc_err perr = {0};
        if (mf_pop_penalty(&in.m, pop_penalty, &perr)) {
            fprintf(stderr, "encore-train als: %s\n", perr.msg);
            mf_input_clear(&in);
            return 1;
        }
    }
    p.confidence = in.scheme;
    p.epsilon = in.eps;
    json_t *tuned = NULL;
    if (tune) {
        if ((rc = mf_tune_als(&in, &p, (int)tune_budget, &tuned))) {
            mf_input_clear(&in);
            return rc;
        }
        in.scheme = p.confidence; /* what the search chose */
        in.eps = p.epsilon;
        in.scheme_auto = 0;
        factors = (int64_t)p.factors; /* the option table's values: opts_to_json */
        iterations = p.iterations;
        reg = p.regularization;
        alpha = p.alpha;
        total.total = p.iterations;
    }
    struct mf_data d;
    enc_err err = {0};
    double t0 = trainer_now();
    total.cpu = cpu_seconds();
    if (als_train(&in.m, in.have_items ? &in.it : NULL, &p, &d, &err)) {
        fprintf(stderr, "encore-train als: %s\n", err.msg);
        json_decref(tuned);
        mf_input_clear(&in);
        return 1;
    }
    double secs = trainer_now() - t0;
    fprintf(stderr,
            "als: trained %zu users x %zu items, %zu factors, in %.3f s "
            "(%d iterations, %s, %d threads)\n",
            d.n_users, d.n_items, d.factors, secs, p.iterations, solver_names[solver], p.threads);
    if (validation)
        rc = mf_input_validate("als", &in, validation, &d);
    if (!rc && !dry) {
        json_t *hyper = hyperparameters(opts, &in, reg_exp, alpha, tuned);
        if (!hyper)
            fprintf(stderr, "encore-train als: out of memory\n");
        rc = hyper ? mf_index_attach("als", &io, &d, hyper) : 1;
        d.user_f16 = user_f16;
        rc = rc ? rc : mf_input_publish("als", &in, &d, hyper, out, version);
        json_decref(hyper);
    }
    json_decref(tuned);
    mf_data_clear(&d);
    mf_input_clear(&in);
    return rc;
}
