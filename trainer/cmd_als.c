/*
 * cmd_als.c - encore-train als: read interactions (and item metadata), fit
 * implicit ALS (models/mf/als.h), publish REPO/NAME/VERSION/model.safetensors.
 *
 *   encore-train als --interactions FILE [--events STORE] [--items FILE] --out REPO/NAME
 *       [--format auto|udata|ratings-csv|csv|tsv] [--min-rating R]
 *       [--factors N] [--iterations N] [--regularization X] [--alpha X]
 *       [--solver cg|cholesky] [--cg-steps N] [--weighting none|bm25|tfidf]
 *       [--pop-penalty B] [--threads N] [--seed N] [--version N] [--validation FILE]
 *       [--dry-run]
 *
 * Progress (one line per iteration: seconds and loss) and the total fit time
 * go to stderr; the published version directory is printed on stdout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf/als.h"
#include "mf/popbias.h"
#include "mf_input.h"
#include "trainer.h"

static void progress(void *ctx, int it, double seconds, double loss)
{
    const int *total = ctx;
    fprintf(stderr, "als: iteration %d/%d  %.3f s  loss %.6g\n", it, *total, seconds, loss);
}

int cmd_als(int argc, char **argv)
{
    struct als_params p;
    als_params_default(&p);
    struct mf_input in = {0};
    const char *out = NULL, *solver = "cg", *weighting = "none", *validation = NULL;
    int64_t factors = (int64_t)p.factors, iterations = p.iterations, threads = p.threads,
            seed = (int64_t)p.seed, version = 0, cg_steps = p.cg_steps;
    double reg = p.regularization, reg_exp = p.reg_exponent, alpha = p.alpha, k1 = p.bm25_k1, b = p.bm25_b;
    double pop_penalty = 0;
    int dry = 0;
    in.min_rating = 0;
    const struct opt opts[] = {
        {"interactions", OPT_STR, &in.interactions,
         "interaction file (see --format); may be left out with --events", 0, -1, 0},
        MF_INPUT_EVENT_OPTS(in),
        {"items", OPT_STR, &in.items, "item metadata: MovieLens u.item or movies.csv", 0, -1, 0},
        {"items-format", OPT_STR, &in.items_format, "auto, uitem or movies-csv", 0, -1, 0},
        {"out", OPT_STR, &out, "model directory REPO/NAME (a new VERSION is written inside)",
         0, -1, 0},
        {"format", OPT_STR, &in.format, "auto, udata, ratings-csv, csv or tsv", 0, -1, 0},
        {"min-rating", OPT_DOUBLE, &in.min_rating, "keep ratings (weights) >= R", -1e9, 1e9, 0},
        {"factors", OPT_INT, &factors, "latent factors", 1, 1024, 0},
        {"iterations", OPT_INT, &iterations, "ALS iterations (user + item sweeps)", 0, 1000, 0},
        {"regularization", OPT_DOUBLE, &reg, "L2 regularization", 1e-9, 1e9, 0},
        {"reg-exponent", OPT_DOUBLE, &reg_exp,
         "scale each row's regularization by (its interactions / mean)^E", -2, 2, 0},
        {"alpha", OPT_DOUBLE, &alpha, "confidence c = 1 + alpha * weight", 0, 1e9, 0},
        {"solver", OPT_STR, &solver, "cg (conjugate gradient) or cholesky (exact)", 0, -1, 0},
        {"cg-steps", OPT_INT, &cg_steps, "CG steps per row and sweep", 1, 100, 0},
        {"weighting", OPT_STR, &weighting, "confidence weighting: none, bm25 or tfidf", 0, -1,
         0},
        {"bm25-k1", OPT_DOUBLE, &k1, "BM25 K1", 0, 1e9, 0},
        {"bm25-b", OPT_DOUBLE, &b, "BM25 B", 0, 1, 0},
        {"pop-penalty", OPT_DOUBLE, &pop_penalty,
         "popularity debiasing: weights x (item users / mean)^-B before confidences (0: off)",
         0, 2, 0},
        {"threads", OPT_INT, &threads, "worker threads", 1, 256, 0},
        {"seed", OPT_INT, &seed, "random seed (same seed, same model)", 0, 9.2e18, 0},
        {"version", OPT_INT, &version, "version to write (0: next free)", 0, 9.2e18, 0},
        {"validation", OPT_STR, &validation,
         "held-out user<TAB>item file: print ranking metrics at k=10 on stderr", 0, -1, 0},
        {"dry-run", OPT_FLAG, &dry, "train (and validate) without publishing", 0, -1, 0},
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
    if (strcmp(solver, "cg") == 0)
        p.solver = ALS_SOLVER_CG;
    else if (strcmp(solver, "cholesky") == 0)
        p.solver = ALS_SOLVER_CHOLESKY;
    else {
        fprintf(stderr, "encore-train als: --solver: '%s' is not cg or cholesky\n", solver);
        return 2;
    }
    if (strcmp(weighting, "none") == 0)
        p.weighting = ALS_WEIGHT_NONE;
    else if (strcmp(weighting, "bm25") == 0)
        p.weighting = ALS_WEIGHT_BM25;
    else if (strcmp(weighting, "tfidf") == 0)
        p.weighting = ALS_WEIGHT_TFIDF;
    else {
        fprintf(stderr, "encore-train als: --weighting: '%s' is not none, bm25 or tfidf\n",
                weighting);
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
    int total = p.iterations;
    p.progress_ctx = &total;

    if ((rc = mf_input_load("als", &in)))
        return rc;
    struct mf_data d;
    enc_err err = {0};
    if (mf_pop_penalty(&in.m, pop_penalty, &err)) {
        fprintf(stderr, "encore-train als: %s\n", err.msg);
        mf_input_clear(&in);
        return 1;
    }
    double t0 = trainer_now();
    if (als_train(&in.m, in.have_items ? &in.it : NULL, &p, &d, &err)) {
        fprintf(stderr, "encore-train als: %s\n", err.msg);
        mf_input_clear(&in);
        return 1;
    }
    double secs = trainer_now() - t0;
    fprintf(stderr, "als: trained %zu users x %zu items, %zu factors, in %.3f s "
                    "(%d iterations, %s, %d threads)\n", d.n_users, d.n_items, d.factors, secs,
            p.iterations, solver, p.threads);
    if (validation)
        rc = mf_input_validate("als", &in, validation, &d);
    if (!rc && !dry) {
        json_t *hyper = json_pack("{s:s,s:I,s:I,s:f,s:f,s:s,s:I,s:s,s:I,s:I}", "algorithm",
                                  "als", "factors", (json_int_t)p.factors, "iterations",
                                  (json_int_t)p.iterations, "regularization", reg, "alpha",
                                  alpha, "solver", solver, "cg_steps", (json_int_t)cg_steps,
                                  "weighting", weighting, "threads", (json_int_t)threads, "seed",
                                  (json_int_t)seed);
        if (hyper && p.weighting == ALS_WEIGHT_BM25) {
            json_object_set_new(hyper, "bm25_k1", json_real(k1));
            json_object_set_new(hyper, "bm25_b", json_real(b));
        }
        if (hyper && reg_exp != 0) {
            /* What a fold-in needs to regularize a new user of n items like
             * the trained ones: reg * (n / mean_user_interactions)^reg_exponent. */
            json_object_set_new(hyper, "reg_exponent", json_real(reg_exp));
            json_object_set_new(hyper, "mean_user_interactions",
                                json_real((double)in.m.nnz / (double)in.m.n_users));
        }
        if (hyper && pop_penalty > 0)
            json_object_set_new(hyper, "pop_penalty", json_real(pop_penalty));
        if (hyper)
            mf_input_describe(&in, hyper);
        rc = hyper ? mf_input_publish("als", &in, &d, hyper, out, version) : 1;
        json_decref(hyper);
    }
    mf_data_clear(&d);
    mf_input_clear(&in);
    return rc;
}
