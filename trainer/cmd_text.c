/*
 * cmd_text.c - encore-train text: train an NBSVM or LSTM sentiment / topic
 * classifier (models/text) on one-example-per-line files (--pos/--neg) or a
 * label<TAB>text TSV, and publish it to REPO/NAME; or, with --folds, run
 * k-fold cross-validation (features fit on the training folds only) and
 * print one JSON object with the mean, per-fold accuracies, sd and seconds.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/repo.h"
#include "text/text.h"
#include "trainer.h"

struct text_opts {
    const char *model, *pos, *neg, *data, *out, *folds, *vectors, *pool, *forget_bias;
    int64_t epochs, seed, threads, ngram_max, min_count, max_vocab, hash_bits, max_iter;
    int64_t emb_dim, hidden, max_len, bptt, batch, max_folds, quiet;
    double C, beta, alpha, lr, clip, dropout, tol;
};

static json_t *hyper_json(const struct text_opts *o, const struct text_nbsvm_params *np,
                          const struct text_lstm_params *lp)
{
    json_t *h = json_object();
    json_object_set_new(h, "model", json_string(o->model));
    json_object_set_new(h, "seed", json_integer(o->seed));
    if (strcmp(o->model, "nbsvm") == 0) {
        json_object_set_new(h, "ngram_max", json_integer(np->ngram_max));
        json_object_set_new(h, "min_count", json_integer(np->min_count));
        json_object_set_new(h, "max_vocab", json_integer((json_int_t)np->max_vocab));
        json_object_set_new(h, "hash_bits", json_integer(np->hash_bits));
        json_object_set_new(h, "C", json_real(np->C));
        json_object_set_new(h, "beta", json_real(np->beta));
        json_object_set_new(h, "alpha", json_real(np->alpha));
        json_object_set_new(h, "max_iter", json_integer(np->max_iter));
    } else {
        json_object_set_new(h, "epochs", json_integer(lp->epochs));
        json_object_set_new(h, "min_count", json_integer(lp->min_count));
        json_object_set_new(h, "max_vocab", json_integer((json_int_t)lp->max_vocab));
        json_object_set_new(h, "embedding_dim", json_integer((json_int_t)lp->emb_dim));
        json_object_set_new(h, "hidden", json_integer((json_int_t)lp->hidden));
        json_object_set_new(h, "max_len", json_integer(lp->max_len));
        json_object_set_new(h, "bptt", json_integer(lp->bptt));
        json_object_set_new(h, "pool", json_string(o->pool));
        json_object_set_new(h, "batch", json_integer((json_int_t)lp->batch));
        json_object_set_new(h, "lr", json_real(lp->lr));
        json_object_set_new(h, "clip", json_real(lp->clip));
        json_object_set_new(h, "dropout", json_real(lp->dropout));
        json_object_set_new(h, "forget_bias",
                            isnan(lp->forget_bias) ? json_string("random")
                                                   : json_real(lp->forget_bias));
        if (lp->vectors)
            json_object_set_new(h, "vectors", json_string(lp->vectors));
    }
    return h;
}

static int train_one(const struct text_opts *o, const struct text_data *d, const size_t *idx,
                     size_t n, const struct text_nbsvm_params *np,
                     const struct text_lstm_params *lp, struct text_model **m, enc_err *err)
{
    if (strcmp(o->model, "nbsvm") == 0)
        return text_nbsvm_train(d, idx, n, np, m, err);
    return text_lstm_train(d, idx, n, lp, m, err);
}

static double stddev(const double *v, int n, double mean)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (v[i] - mean) * (v[i] - mean);
    return n > 1 ? sqrt(s / (n - 1)) : 0;
}

static int cross_validate(const struct text_opts *o, const struct text_data *d,
                          const struct text_nbsvm_params *np, const struct text_lstm_params *lp)
{
    enc_err err = {0};
    int32_t *fold = NULL;
    int k = 0;
    if (text_folds_read(o->folds, d, &fold, &k, &err)) {
        fprintf(stderr, "encore-train text: %s\n", err.msg);
        return 1;
    }
    int run = o->max_folds > 0 && o->max_folds < k ? (int)o->max_folds : k;
    size_t *train = malloc(d->n * sizeof *train), *test = malloc(d->n * sizeof *test);
    double *acc = calloc((size_t)run, sizeof *acc), *secs = calloc((size_t)run, sizeof *secs);
    float *prob = malloc(d->n_labels * sizeof *prob);
    int rc = 0;
    if (!train || !test || !acc || !secs || !prob) {
        fprintf(stderr, "encore-train text: out of memory\n");
        rc = 1;
    }
    double t_all = trainer_now(), predict_secs = 0;
    size_t predicted = 0;
    for (int f = 0; f < run && rc == 0; f++) {
        size_t ntr = 0, nte = 0;
        for (size_t i = 0; i < d->n; i++) {
            if (fold[i] == f)
                test[nte++] = i;
            else
                train[ntr++] = i;
        }
        if (!nte) {
            acc[f] = NAN;
            continue;
        }
        double t0 = trainer_now();
        struct text_model *m = NULL;
        if (train_one(o, d, train, ntr, np, lp, &m, &err)) {
            fprintf(stderr, "encore-train text: fold %d: %s\n", f, err.msg);
            rc = 1;
            break;
        }
        secs[f] = trainer_now() - t0;
        double t1 = trainer_now();
        size_t right = 0;
        for (size_t s = 0; s < nte && rc == 0; s++) {
            size_t i = test[s];
            if (text_model_predict(m, d->text[i], d->len[i], prob, &err)) {
                fprintf(stderr, "encore-train text: %s\n", err.msg);
                rc = 1;
            }
            size_t best = 0;
            for (size_t c = 1; c < d->n_labels; c++)
                if (prob[c] > prob[best])
                    best = c;
            right += (int32_t)best == d->label[i];
        }
        predict_secs += trainer_now() - t1;
        predicted += nte;
        acc[f] = (double)right / (double)nte;
        if (!o->quiet)
            fprintf(stderr,
                    "encore-train text: fold %d/%d: accuracy %.4f (train %zu, test %zu, "
                    "%.2f s)\n",
                    f + 1, k, acc[f], ntr, nte, secs[f]);
        text_model_free(m);
    }
    if (rc == 0) {
        double mean = 0, tsum = 0;
        for (int f = 0; f < run; f++) {
            mean += acc[f];
            tsum += secs[f];
        }
        mean /= run;
        json_t *r = json_object();
        json_object_set_new(r, "model", json_string(o->model));
        json_object_set_new(r, "accuracy", json_real(mean));
        json_t *fa = json_array();
        for (int f = 0; f < run; f++)
            json_array_append_new(fa, json_real(acc[f]));
        json_object_set_new(r, "folds", fa);
        json_object_set_new(r, "sd", json_real(stddev(acc, run, mean)));
        json_object_set_new(r, "n_folds", json_integer(k));
        json_object_set_new(r, "folds_run", json_integer(run));
        json_object_set_new(r, "seconds", json_real(trainer_now() - t_all));
        json_object_set_new(r, "train_seconds_per_fold", json_real(tsum / run));
        json_object_set_new(r, "predict_ms_per_example",
                            json_real(predicted ? 1000.0 * predict_secs / (double)predicted : 0));
        json_object_set_new(r, "hyperparameters", hyper_json(o, np, lp));
        char *s = json_dumps(r, JSON_COMPACT | JSON_REAL_PRECISION(6));
        printf("%s\n", s);
        free(s);
        json_decref(r);
    }
    free(fold);
    free(train);
    free(test);
    free(acc);
    free(secs);
    free(prob);
    return rc;
}

/* What the option table cannot check alone. Sets lp->forget_bias. 0 or 2. */
static int check_opts(const struct text_opts *o, struct text_lstm_params *lp)
{
    if (strcmp(o->model, "nbsvm") != 0 && strcmp(o->model, "lstm") != 0) {
        fprintf(stderr, "encore-train text: --model must be nbsvm or lstm, not '%s'\n", o->model);
        return 2;
    }
    if (!!o->data == !!(o->pos || o->neg) || (!o->data && !(o->pos && o->neg))) {
        fprintf(stderr, "encore-train text: give either --pos F --neg F or --data F.tsv\n");
        return 2;
    }
    if (!!o->out == !!o->folds) {
        fprintf(stderr, "encore-train text: give exactly one of --out REPO/NAME and --folds F\n");
        return 2;
    }
    if (strcmp(o->pool, "last") && strcmp(o->pool, "mean") && strcmp(o->pool, "max")) {
        fprintf(stderr, "encore-train text: --pool must be last, mean or max\n");
        return 2;
    }
    if (o->forget_bias && strcmp(o->forget_bias, "random") == 0) {
        lp->forget_bias = NAN;
    } else if (o->forget_bias) {
        char *end;
        lp->forget_bias = strtod(o->forget_bias, &end);
        if (end == o->forget_bias || *end || !isfinite(lp->forget_bias) ||
            fabs(lp->forget_bias) > 100) {
            fprintf(stderr,
                    "encore-train text: --forget-bias must be a number in [-100, 100] "
                    "or 'random', not '%s'\n",
                    o->forget_bias);
            return 2;
        }
    }
    return 0;
}

/* The options into each kind's training parameters. */
static void set_params(const struct text_opts *o, struct text_nbsvm_params *np,
                       struct text_lstm_params *lp)
{
    np->ngram_max = (int)o->ngram_max;
    np->min_count = o->min_count;
    np->max_vocab = (size_t)o->max_vocab;
    np->hash_bits = (int)o->hash_bits;
    np->C = o->C;
    np->beta = o->beta;
    np->alpha = o->alpha;
    np->max_iter = (int)o->max_iter;
    np->tol = o->tol;
    np->seed = (uint64_t)o->seed;
    lp->min_count = o->min_count;
    if (o->max_vocab)
        lp->max_vocab = (size_t)o->max_vocab;
    lp->emb_dim = (size_t)o->emb_dim;
    lp->hidden = (size_t)o->hidden;
    lp->max_len = (int)o->max_len;
    lp->bptt = (int)o->bptt;
    lp->pool = strcmp(o->pool, "mean") == 0  ? TEXT_POOL_MEAN
               : strcmp(o->pool, "max") == 0 ? TEXT_POOL_MAX
                                             : TEXT_POOL_LAST;
    lp->epochs = (int)o->epochs;
    lp->batch = (size_t)o->batch;
    lp->lr = o->lr;
    lp->clip = o->clip;
    lp->dropout = o->dropout;
    lp->seed = (uint64_t)o->seed;
    lp->threads = (int)o->threads;
    lp->vectors = o->vectors;
    lp->verbose = !o->quiet;
}

/* Train on all of d, publish to o->out and print the JSON summary. */
static int train_and_publish(const struct text_opts *o, const struct text_data *d,
                             const struct text_nbsvm_params *np, const struct text_lstm_params *lp)
{
    enc_err err = {0};
    double t0 = trainer_now();
    struct text_model *m = NULL;
    if (train_one(o, d, NULL, d->n, np, lp, &m, &err)) {
        fprintf(stderr, "encore-train text: %s\n", err.msg);
        return 1;
    }
    double secs = trainer_now() - t0;
    const char *paths[2] = {o->data ? o->data : o->pos, o->data ? NULL : o->neg};
    char fp[65] = "";
    trainer_fingerprint(paths, 2, fp);
    json_t *hyper = hyper_json(o, np, lp);
    /* what the tokeniser saw: UTF-8, as the server's JSON requests are */
    if (hyper)
        json_object_set_new(
            hyper, "input_encoding",
            json_string(d->decoded[0] || d->decoded[1] ? "cp1252, decoded to UTF-8" : "UTF-8"));
    int64_t version = 0;
    int rc = model_save(&text_ops, m, hyper, fp, o->out, 0, &version, &err);
    if (rc)
        fprintf(stderr, "encore-train text: %s\n", err.msg);
    else
        printf("{\"model\":\"%s\",\"out\":\"%s\",\"version\":%lld,\"examples\":%zu,"
               "\"vocabulary\":%zu,\"train_seconds\":%.3f}\n",
               o->model, o->out, (long long)version, d->n, m->vocab ? tok_vocab_size(m->vocab) : 0,
               secs);
    json_decref(hyper);
    text_model_free(m);
    return rc ? 1 : 0;
}

int cmd_text(int argc, char **argv)
{
    struct text_nbsvm_params np;
    struct text_lstm_params lp;
    text_nbsvm_defaults(&np);
    text_lstm_defaults(&lp);
    struct text_opts o = {
        .model = NULL,
        .pool = "max",
        .forget_bias = NULL,
        .epochs = lp.epochs,
        .seed = 1,
        .threads = lp.threads,
        .ngram_max = np.ngram_max,
        .min_count = 1,
        .max_vocab = 0,
        .hash_bits = 0,
        .max_iter = np.max_iter,
        .emb_dim = (int64_t)lp.emb_dim,
        .hidden = (int64_t)lp.hidden,
        .max_len = lp.max_len,
        .bptt = lp.bptt,
        .batch = (int64_t)lp.batch,
        .C = np.C,
        .beta = np.beta,
        .alpha = np.alpha,
        .lr = lp.lr,
        .clip = lp.clip,
        .dropout = lp.dropout,
        .tol = np.tol,
    };
    const struct opt opts[] = {
        {"model", OPT_STR, &o.model, "nbsvm | lstm", 0, 0, 1},
        {"pos", OPT_STR, &o.pos, "positive examples, one per line (with --neg)", 0, 0, 0},
        {"neg", OPT_STR, &o.neg, "negative examples, one per line (with --pos)", 0, 0, 0},
        {"data", OPT_STR, &o.data,
         "label<TAB>text, text<TAB>label or a CSV with a header (instead of --pos/--neg)", 0, 0, 0},
        {"out", OPT_STR, &o.out, "publish to REPO/NAME (next version)", 0, 0, 0},
        {"folds", OPT_STR, &o.folds, "k-fold cross-validation with this folds file", 0, 0, 0},
        {"max-folds", OPT_INT, &o.max_folds, "with --folds: run only the first N folds (0 = all)",
         0, 1000, 0},
        {"seed", OPT_INT, &o.seed, "random seed", 0, 4e18, 0},
        {"threads", OPT_INT, &o.threads, "OpenBLAS threads (lstm)", 1, 256, 0},
        {"epochs", OPT_INT, &o.epochs, "lstm: training epochs", 1, 10000, 0},
        {"min-count", OPT_INT, &o.min_count, "vocabulary: keep tokens seen >= N times", 1, 1e9, 0},
        {"max-vocab", OPT_INT, &o.max_vocab,
         "vocabulary: keep the N most frequent (0 = all; "
         "lstm default 30000)",
         0, 1e9, 0},
        {"ngram-max", OPT_INT, &o.ngram_max, "nbsvm: longest n-gram", 1, 3, 0},
        {"hash-bits", OPT_INT, &o.hash_bits,
         "nbsvm: hash n-grams into 2^N features (0 = "
         "vocabulary)",
         0, 28, 0},
        {"C", OPT_DOUBLE, &o.C, "nbsvm: SVM cost", 1e-6, 1e6, 0},
        {"beta", OPT_DOUBLE, &o.beta, "nbsvm: interpolation beta", 0, 1, 0},
        {"alpha", OPT_DOUBLE, &o.alpha, "nbsvm: NB smoothing", 1e-6, 1e6, 0},
        {"max-iter", OPT_INT, &o.max_iter, "nbsvm: solver passes", 1, 100000, 0},
        {"tol", OPT_DOUBLE, &o.tol, "nbsvm: solver tolerance", 1e-9, 10, 0},
        {"embedding-dim", OPT_INT, &o.emb_dim, "lstm: embedding size", 1, 4096, 0},
        {"hidden", OPT_INT, &o.hidden, "lstm: LSTM units", 1, 4096, 0},
        {"max-len", OPT_INT, &o.max_len, "lstm: pad/truncate to N tokens", 1, 10000, 0},
        {"bptt", OPT_INT, &o.bptt, "lstm: truncated BPTT window (0 = full)", 0, 10000, 0},
        {"pool", OPT_STR, &o.pool, "lstm: last | mean | max", 0, 0, 0},
        {"batch", OPT_INT, &o.batch, "lstm: minibatch size", 1, 100000, 0},
        {"lr", OPT_DOUBLE, &o.lr, "lstm: Adam learning rate", 1e-7, 10, 0},
        {"clip", OPT_DOUBLE, &o.clip, "lstm: clip the gradient norm to this (0 = off)", 0, 1e6, 0},
        {"dropout", OPT_DOUBLE, &o.dropout, "lstm: dropout rate", 0, 0.95, 0},
        {"forget-bias", OPT_STR, &o.forget_bias,
         "lstm: initial forget-gate bias, a number or "
         "'random' (PyTorch's init)",
         0, 0, 0},
        {"vectors", OPT_STR, &o.vectors, "lstm: word2vec/GloVe text file for the embeddings", 0, 0,
         0},
        {"quiet", OPT_FLAG, &o.quiet, "no progress on stderr", 0, 0, 0},
        {NULL, 0, NULL, NULL, 0, 0, 0},
    };
    const char *synopsis = "--model nbsvm|lstm (--pos F --neg F | --data F.tsv) "
                           "(--out REPO/NAME | --folds FILE) [options]";
    int rc = opts_parse("text", synopsis, opts, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    if ((rc = check_opts(&o, &lp)) != 0)
        return rc;
    set_params(&o, &np, &lp);
    enc_err err = {0};
    struct text_data d;
    rc =
        o.data ? text_data_read_tsv(o.data, &d, &err) : text_data_read_pair(o.pos, o.neg, &d, &err);
    if (rc) {
        fprintf(stderr, "encore-train text: %s\n", err.msg);
        return 1;
    }
    for (int f = 0; f < 2; f++) /* layout and encoding: said, not guessed silently */
        if (d.files[f] && !o.quiet)
            fprintf(stderr, "encore-train text: %s: %s\n", d.files[f], d.how[f]);
    if (!o.quiet)
        fprintf(stderr, "encore-train text: %zu examples, %zu classes\n", d.n, d.n_labels);
    rc = o.folds ? cross_validate(&o, &d, &np, &lp) : train_and_publish(&o, &d, &np, &lp);
    text_data_clear(&d);
    return rc;
}
