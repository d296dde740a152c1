/*
 * cmd_bpr.c - encore-train bpr: Bayesian Personalized Ranking with SGD
 * (models/mf/bpr.h), writing the same kind of mf model as `als`.
 *
 *   encore-train bpr --interactions FILE [--events STORE] [--items FILE] --out REPO/NAME
 *       [--format ..] [--header ..] [--min-rating R] [--confidence ..] [--epsilon X]
 *       [--alpha X] [--factors N] [--epochs N] [--learning-rate X] [--regularization X]
 *       [--threads N] [--seed N] [--tune [--tune-budget N]] [--version N]
 *       [--validation FILE [--allow-overlap]] [--dry-run]
 *
 * Positives are sampled by confidence 1 + alpha * f(weight) (mf/bpr.h);
 * the trainer says which, or that every weight is equal (uniform draws).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf/bpr.h"
#include "mf_index_opt.h"
#include "mf_input.h"
#include "mf_tune.h"
#include "trainer.h"

static void progress(void *ctx, int epoch, double seconds, double acc)
{
    const int *total = ctx;
    if (epoch == 1 || epoch == *total || epoch % 10 == 0)
        fprintf(stderr, "bpr: epoch %d/%d  %.3f s  sampled pair accuracy %.4f\n", epoch, *total,
                seconds, acc);
}

int cmd_bpr(int argc, char **argv)
{
    struct bpr_params p;
    bpr_params_default(&p);
    struct mf_input in = {0};
    const char *out = NULL, *validation = NULL;
    int64_t factors = (int64_t)p.factors, epochs = p.epochs, threads = p.threads,
            seed = (int64_t)p.seed, version = 0;
    double lr = p.learning_rate, reg = p.regularization, alpha = p.alpha;
    int dry = 0, tune = 0;
    int64_t tune_budget = 24;
    struct mf_index_opt io;
    mf_index_opt_default(&io);
    int user_f16 = 0;
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
        {"alpha", OPT_DOUBLE, &alpha,
         "positives are drawn with probability proportional to 1 + alpha * f(weight)", 0, 1e9, 0},
        {"factors", OPT_INT, &factors, "latent factors, the last one an item bias", 2, 1024, 0,
         NULL, OPT_HYPER},
        {"epochs", OPT_INT, &epochs, "passes of nnz sampled triples", 0, 100000, 0, NULL,
         OPT_HYPER},
        {"learning-rate", OPT_DOUBLE, &lr, "SGD step", 1e-9, 100, 0, NULL, OPT_HYPER},
        {"regularization", OPT_DOUBLE, &reg, "L2 regularization", 0, 1e9, 0, NULL, OPT_HYPER},
        {"threads", OPT_INT, &threads, "worker threads (same seed and threads: same model)", 1, 64,
         0, NULL, OPT_HYPER},
        {"seed", OPT_INT, &seed, "random seed", 0, 9.2e18, 0, NULL, OPT_HYPER},
        {"version", OPT_INT, &version, "version to write (0: next free)", 0, 9.2e18, 0},
        {"validation", OPT_STR, &validation,
         "held-out user<TAB>item file: print ranking metrics at k=10 on stderr", 0, -1, 0},
        MF_INPUT_TUNE_OPTS(
            in, tune, tune_budget,
            "confidence (and log epsilon), learning rate, regularization, factors and epochs"),
        {"dry-run", OPT_FLAG, &dry, "train (and validate) without publishing", 0, -1, 0},
        MF_INDEX_OPTS(&io),
        MF_USER_PRECISION_OPT(user_f16),
        {NULL, 0, NULL, NULL, 0, 0, 0},
    };
    const char *syn =
        "--interactions FILE [--events STORE] [--items FILE] --out REPO/NAME [options]";
    int rc = opts_parse("bpr", syn, opts, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (!out && !dry) {
        fprintf(stderr, "encore-train bpr: --out is required (see --help)\n");
        return 2;
    }
    if ((rc = mf_index_opt_check("bpr", &io)))
        return rc;
    p.factors = (size_t)factors;
    p.epochs = (int)epochs;
    p.threads = (int)threads;
    p.seed = (uint64_t)seed;
    p.learning_rate = lr;
    p.regularization = reg;
    p.alpha = alpha;
    p.progress = progress;
    int total = p.epochs;
    p.progress_ctx = &total;
    if (tune && validation) {
        fprintf(stderr, "encore-train bpr: --tune carves its own validation split; leave out "
                        "--validation\n");
        return 2;
    }
    if ((rc = mf_input_load("bpr", &in)))
        return rc;
    p.confidence = in.scheme;
    p.epsilon = in.eps;
    json_t *tuned = NULL;
    if (tune) {
        if ((rc = mf_tune_bpr(&in, &p, (int)tune_budget, &tuned))) {
            mf_input_clear(&in);
            return rc;
        }
        in.scheme = p.confidence;
        in.eps = p.epsilon;
        in.scheme_auto = 0;
        factors = (int64_t)p.factors;
        epochs = p.epochs;
        lr = p.learning_rate;
        reg = p.regularization;
        total = p.epochs;
    }
    if (in.scheme == CONF_BINARY || p.alpha == 0)
        fprintf(stderr, "bpr: positives drawn uniformly (%s)\n",
                in.scheme == CONF_BINARY ? "binary confidence: the weights are not used"
                                         : "alpha 0: the weights are not used");
    else
        fprintf(stderr,
                "bpr: positives drawn with probability proportional to their "
                "confidence 1 + %g * f(weight), f of the %s scheme\n",
                p.alpha, conf_scheme_name(in.scheme));
    struct mf_data d;
    enc_err err = {0};
    double t0 = trainer_now();
    if (bpr_train(&in.m, in.have_items ? &in.it : NULL, &p, &d, &err)) {
        fprintf(stderr, "encore-train bpr: %s\n", err.msg);
        json_decref(tuned);
        mf_input_clear(&in);
        return 1;
    }
    fprintf(stderr,
            "bpr: trained %zu users x %zu items, %zu factors, in %.3f s (%d epochs, "
            "%d threads)\n",
            d.n_users, d.n_items, d.factors, trainer_now() - t0, p.epochs, p.threads);
    if (validation)
        rc = mf_input_validate("bpr", &in, validation, &d);
    if (!rc && !dry) {
        json_t *hyper = opts_to_json(opts); /* every OPT_HYPER option, and: */
        if (hyper && (json_object_set_new(hyper, "algorithm", json_string("bpr")) ||
                      mf_input_describe_confidence(&in, p.alpha, hyper) ||
                      (tuned && json_object_set(hyper, "tune", tuned)))) {
            json_decref(hyper);
            hyper = NULL;
        }
        if (hyper)
            mf_input_describe(&in, hyper);
        else
            fprintf(stderr, "encore-train bpr: out of memory\n");
        rc = hyper ? mf_index_attach("bpr", &io, &d, hyper) : 1;
        d.user_f16 = user_f16;
        rc = rc ? rc : mf_input_publish("bpr", &in, &d, hyper, out, version);
        json_decref(hyper);
    }
    json_decref(tuned);
    mf_data_clear(&d);
    mf_input_clear(&in);
    return rc;
}
