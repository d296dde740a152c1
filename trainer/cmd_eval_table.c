/*
 * cmd_eval_table.c - encore-train eval for the table families (forest,
 * linear). The CSV reading the table subcommands share is table_cmd.c.
 *
 *   encore-train eval --model DIR --data FILE.csv [--label COL]
 *       loads the model as the server does (model_load + ops->predict), reads
 *       the held-out table with the model's feature columns and classes, and
 *       prints one JSON object: accuracy, macro_f1, labels, confusion (rows =
 *       true class, columns = predicted, in "labels" order) and per-class
 *       precision / recall / F1 / support.
 *   ... --kfold N [--seed S]
 *       stratified N-fold cross-validation on FILE with the model's
 *       hyperparameters (from its metadata): mean, sd and per-fold accuracy
 *       and macro-F1, and the confusion matrix pooled over the folds.
 *   ... --bench [--batch N]
 *       adds in-process timings: mean single-row predict latency and the
 *       rows/s of one N-row batch (median of 5).
 * --label and --format default to what the model was trained with.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/model.h"
#include "core/repo.h"
#include "families.h"
#include "forest/forest.h"
#include "linear/linear.h"
#include "table_cmd.h"
#include "trainer.h"
#include "core/strv.h"

/* ---- metrics -------------------------------------------------------------- */

struct metrics {
    double accuracy, macro_f1;
};

static size_t argmax(const float *p, size_t C)
{
    size_t b = 0;
    for (size_t k = 1; k < C; k++)
        if (p[k] > p[b])
            b = k;
    return b;
}

/* Accumulate a confusion matrix (C x C, true x predicted). */
static void confusion_add(int64_t *conf, const int32_t *y, const float *prob, size_t n, size_t C)
{
    for (size_t i = 0; i < n; i++)
        conf[(size_t)y[i] * C + argmax(prob + i * C, C)]++;
}

/* Accuracy and macro-F1 over the classes that occur as truth or prediction
 * (scikit-learn's f1_score(average="macro") convention); per-class detail
 * into `per` when non-NULL. */
static struct metrics metrics_of(const int64_t *conf, size_t C, char **names, json_t *per)
{
    struct metrics m = {0, 0};
    int64_t total = 0, right = 0;
    size_t used = 0;
    double f1sum = 0;
    for (size_t k = 0; k < C; k++) {
        int64_t tp = conf[k * C + k], support = 0, predicted = 0;
        for (size_t j = 0; j < C; j++) {
            support += conf[k * C + j];
            predicted += conf[j * C + k];
        }
        total += support;
        right += tp;
        double prec = predicted ? (double)tp / (double)predicted : 0;
        double rec = support ? (double)tp / (double)support : 0;
        double f1 = prec + rec > 0 ? 2 * prec * rec / (prec + rec) : 0;
        if (support || predicted) {
            used++;
            f1sum += f1;
        }
        if (per)
            json_object_set_new(per, names[k],
                                json_pack("{s:f, s:f, s:f, s:I}", "precision", prec, "recall", rec,
                                          "f1", f1, "support", (json_int_t)support));
    }
    m.accuracy = total ? (double)right / (double)total : 0;
    m.macro_f1 = used ? f1sum / (double)used : 0;
    return m;
}

static json_t *confusion_json(const int64_t *conf, size_t C)
{
    json_t *rows = json_array();
    for (size_t k = 0; k < C; k++) {
        json_t *r = json_array();
        for (size_t j = 0; j < C; j++)
            json_array_append_new(r, json_integer(conf[k * C + j]));
        json_array_append_new(rows, r);
    }
    return rows;
}

static json_t *names_json(char **names, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(names[i]));
    return a;
}

/* ---- cross-validation: train the family again on each fold ---------------- */

static int fit_predict(const char *family, const json_t *hyper, int threads,
                       const struct csvt_table *tr, const struct csvt_table *te, float *prob,
                       enc_err *err)
{
    int rc;
    if (strcmp(family, "forest") == 0) {
        struct forest_params p;
        forest_params_default(&p);
        if ((rc = forest_params_from_json(hyper, &p, err)))
            return rc;
        p.threads = threads;
        struct forest *f;
        if ((rc = forest_train(tr->x, tr->y, tr->n_rows, tr->n_features, tr->n_classes,
                               (const char *const *)tr->feature_names,
                               (const char *const *)tr->class_names, &p, &f, err)))
            return rc;
        forest_predict(f, te->x, te->n_rows, prob);
        forest_free(f);
        return 0;
    }
    struct linear_solver s;
    linear_solver_default(&s, LINEAR_HINGE);
    s.threads = threads;
    if ((rc = linear_solver_from_json(hyper, &s, err)))
        return rc;
    struct linear_model *m;
    if ((rc = linear_train(tr->x, tr->y, tr->n_rows, tr->n_features, tr->n_classes,
                           (const char *const *)tr->feature_names,
                           (const char *const *)tr->class_names, &s, &m, err)))
        return rc;
    rc = linear_predict(m, te->x, te->n_rows, prob, NULL);
    linear_model_free(m);
    return rc ? enc_errf(err, rc, "out of memory") : 0;
}

static int run_kfold(const char *family, const json_t *hyper, const struct csvt_table *t, int64_t k,
                     uint64_t seed, int threads, json_t *outj)
{
    size_t n = t->n_rows, C = t->n_classes;
    if ((size_t)k > n) {
        fprintf(stderr, "encore-train eval: --kfold %lld exceeds the %zu rows\n", (long long)k, n);
        return 2;
    }
    int32_t *fold = malloc(n * sizeof *fold);
    size_t *tr_idx = malloc(n * sizeof *tr_idx), *te_idx = malloc(n * sizeof *te_idx);
    int64_t *conf = calloc(C * C, sizeof *conf), *fconf = calloc(C * C, sizeof *fconf);
    float *prob = malloc(n * C * sizeof *prob);
    if (!fold || !tr_idx || !te_idx || !conf || !fconf || !prob) {
        fprintf(stderr, "encore-train eval: out of memory\n");
        free(fold), free(tr_idx), free(te_idx), free(conf), free(fconf), free(prob);
        return 1;
    }
    csvt_stratified_folds(t->y, n, C, (size_t)k, seed, fold);
    json_t *accs = json_array(), *f1s = json_array();
    double sum = 0, sumsq = 0, f1sum = 0;
    int rc = 0;
    double t0 = trainer_now();
    for (int64_t f = 0; f < k && rc == 0; f++) {
        size_t ntr = 0, nte = 0;
        for (size_t i = 0; i < n; i++) {
            if (fold[i] == f)
                te_idx[nte++] = i;
            else
                tr_idx[ntr++] = i;
        }
        struct csvt_table tr, te;
        if (csvt_subset(t, tr_idx, ntr, &tr) || csvt_subset(t, te_idx, nte, &te)) {
            csvt_clear(&tr);
            fprintf(stderr, "encore-train eval: out of memory\n");
            rc = 1;
            break;
        }
        enc_err err = {0};
        if (fit_predict(family, hyper, threads, &tr, &te, prob, &err)) {
            fprintf(stderr, "encore-train eval: fold %lld: %s\n", (long long)f, err.msg);
            rc = 1;
        } else {
            memset(fconf, 0, C * C * sizeof *fconf);
            confusion_add(fconf, te.y, prob, nte, C);
            confusion_add(conf, te.y, prob, nte, C);
            struct metrics m = metrics_of(fconf, C, t->class_names, NULL);
            json_array_append_new(accs, json_real(m.accuracy));
            json_array_append_new(f1s, json_real(m.macro_f1));
            sum += m.accuracy;
            sumsq += m.accuracy * m.accuracy;
            f1sum += m.macro_f1;
            fprintf(stderr,
                    "encore-train eval: fold %lld/%lld: %zu train, %zu test, accuracy %.4f\n",
                    (long long)f + 1, (long long)k, ntr, nte, m.accuracy);
        }
        csvt_clear(&tr);
        csvt_clear(&te);
    }
    if (rc == 0) {
        double mean = sum / (double)k, var = sumsq / (double)k - mean * mean;
        json_object_set_new(outj, "kfold", json_integer(k));
        json_object_set_new(outj, "fold_seed", json_integer((json_int_t)seed));
        json_object_set_new(outj, "rows", json_integer((json_int_t)n));
        json_object_set_new(outj, "accuracy_mean", json_real(mean));
        json_object_set_new(outj, "accuracy_sd", json_real(var > 0 ? sqrt(var) : 0));
        json_object_set_new(outj, "macro_f1_mean", json_real(f1sum / (double)k));
        json_object_set_new(outj, "fold_accuracy", accs);
        json_object_set_new(outj, "fold_macro_f1", f1s);
        json_object_set_new(outj, "labels", names_json(t->class_names, C));
        json_object_set_new(outj, "confusion", confusion_json(conf, C));
        json_object_set_new(outj, "seconds", json_real(trainer_now() - t0));
    } else {
        json_decref(accs);
        json_decref(f1s);
    }
    free(fold), free(tr_idx), free(te_idx), free(conf), free(fconf), free(prob);
    return rc;
}

/* ---- in-process timings ---------------------------------------------------- */

static double thread_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void run_bench(const struct model *m, const struct csvt_table *t, int64_t batch,
                      json_t *outj)
{
    size_t D = t->n_features, C = m->ops->io(m->state)->n_classes;
    float prob1[4096];
    float *probs = C <= 4096 ? prob1 : malloc(C * sizeof *probs);
    /* Single rows, cycling through the table: the server's per-request path. */
    size_t reps = 20000;
    double t0 = trainer_now();
    for (size_t r = 0; r < reps; r++) {
        struct model_batch b = {1, t->x + (r % t->n_rows) * D, NULL, NULL};
        m->ops->predict(m->state, &b, probs, NULL);
    }
    double single = (trainer_now() - t0) / (double)reps;
    if (probs != prob1)
        free(probs);
    json_object_set_new(outj, "single_row_us", json_real(single * 1e6));
    /* One batch of `batch` rows (the table repeated), median of 5 runs. */
    float *x = malloc((size_t)batch * D * sizeof *x), *p = malloc((size_t)batch * C * sizeof *p);
    if (!x || !p) {
        free(x);
        free(p);
        return;
    }
    for (int64_t i = 0; i < batch; i++)
        memcpy(x + (size_t)i * D, t->x + ((size_t)i % t->n_rows) * D, D * sizeof *x);
    /* Wall time and this thread's CPU time: on a shared machine the CPU
     * figure is the steadier one (BLAS must run single-threaded for it to
     * mean anything: OPENBLAS_NUM_THREADS=1). */
    double times[5], cpu[5];
    for (int k = 0; k < 5; k++) {
        struct model_batch b = {(size_t)batch, x, NULL, NULL};
        double s = trainer_now(), c = thread_cpu_now();
        m->ops->predict(m->state, &b, p, NULL);
        times[k] = trainer_now() - s;
        cpu[k] = thread_cpu_now() - c;
    }
    qsort(times, 5, sizeof *times, cmp_double);
    qsort(cpu, 5, sizeof *cpu, cmp_double);
    json_object_set_new(outj, "batch_rows", json_integer(batch));
    json_object_set_new(outj, "batch_rows_per_second", json_real((double)batch / times[2]));
    json_object_set_new(outj, "batch_rows_per_cpu_second", json_real((double)batch / cpu[2]));
    free(x);
    free(p);
}

/* ---- the evaluator ---------------------------------------------------------- */

int eval_table(const char *model_dir, int argc, char **argv)
{
    struct table_input in = {NULL, NULL, NULL, NULL};
    const char *model_opt = NULL;
    int64_t kfold = 0, seed = 42, threads = 1, batch = 10000;
    int bench = 0;
    const struct opt opts[] = {
        {"model", OPT_STR, &model_opt, "model directory (REPO/NAME or REPO/NAME/VERSION)", 0, -1,
         1},
        {"data", OPT_STR, &in.data, "held-out table (or the table to cross-validate on)", 0, -1, 1},
        {"label", OPT_STR, &in.label, "label column (default: the one the model was trained on)", 0,
         -1, 0},
        {"format", OPT_STR, &in.format, "plain | sklearn (default: as trained)", 0, -1, 0},
        {"kfold", OPT_INT, &kfold, "cross-validate with N stratified folds (0: off)", 0, 1000, 0},
        {"seed", OPT_INT, &seed, "fold assignment seed for --kfold", 0, 9.2e18, 0},
        {"threads", OPT_INT, &threads, "training threads for --kfold", 1, 256, 0},
        {"bench", OPT_FLAG, &bench, "add in-process single-row latency and batch throughput", 0, -1,
         0},
        {"batch", OPT_INT, &batch, "rows in the --bench batch", 1, 1e8, 0},
        {NULL, 0, NULL, NULL, 0, 0, 0},
    };
    int rc = opts_parse("eval", "--model DIR --data FILE.csv [--label COL] [--kfold N]", opts, argc,
                        argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (kfold == 1) {
        fprintf(stderr, "encore-train eval: --kfold needs at least 2 folds\n");
        return 2;
    }
    enc_err err = {0};
    char *path = NULL, *name = NULL;
    int64_t version = 0;
    struct model *m = NULL;
    if (repo_resolve(model_dir, &path, &name, &version, &err) ||
        model_load(name ? name : "model", version, path, &model_default_opts, &m, &err)) {
        fprintf(stderr, "encore-train eval: %s\n", err.msg);
        free(path);
        free(name);
        return 1;
    }
    free(path);
    free(name);
    const struct model_io *io = m->ops->io(m->state);
    const char *hp = st_meta(m->file, "hyperparameters");
    json_t *hyper = hp ? json_loads(hp, 0, NULL) : NULL;
    if (!hyper)
        hyper = json_object();
    if (!in.label)
        in.label = json_string_value(json_object_get(hyper, "label"));
    if (!in.format)
        in.format = json_string_value(json_object_get(hyper, "format"));
    struct csvt_table t;
    rc = table_read("eval", &in, io->feature_names, io->n_features, kfold ? NULL : io->class_names,
                    kfold ? 0 : io->n_classes, &t);
    if (rc) {
        json_decref(hyper);
        model_unref(m);
        return rc;
    }
    json_t *outj = json_object();
    json_object_set_new(outj, "model", json_string(model_dir));
    json_object_set_new(outj, "version", json_integer(m->version));
    json_object_set_new(outj, "family", json_string(m->ops->family));
    json_object_set_new(outj, "data", json_string(in.data));
    if (kfold) {
        rc = run_kfold(m->ops->family, hyper, &t, kfold, (uint64_t)seed, (int)threads, outj);
    } else {
        size_t C = io->n_classes, n = t.n_rows;
        float *prob = malloc(n * C * sizeof *prob);
        int64_t *conf = calloc(C * C, sizeof *conf);
        if (!prob || !conf) {
            fprintf(stderr, "encore-train eval: out of memory\n");
            rc = 1;
        } else {
            struct model_batch b = {n, t.x, NULL, NULL};
            double t0 = trainer_now();
            if (m->ops->predict(m->state, &b, prob, &err)) {
                fprintf(stderr, "encore-train eval: %s\n", err.msg);
                rc = 1;
            } else {
                double secs = trainer_now() - t0;
                confusion_add(conf, t.y, prob, n, C);
                json_t *per = json_object();
                struct metrics mt = metrics_of(conf, C, t.class_names, per);
                json_object_set_new(outj, "rows", json_integer((json_int_t)n));
                json_object_set_new(outj, "accuracy", json_real(mt.accuracy));
                json_object_set_new(outj, "macro_f1", json_real(mt.macro_f1));
                json_object_set_new(outj, "labels", names_json(t.class_names, C));
                json_object_set_new(outj, "confusion", confusion_json(conf, C));
                json_object_set_new(outj, "per_class", per);
                json_object_set_new(outj, "predict_seconds", json_real(secs));
                if (bench)
                    run_bench(m, &t, batch, outj);
            }
        }
        free(prob);
        free(conf);
    }
    if (rc == 0) {
        json_dumpf(outj, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("\n");
    }
    json_decref(outj);
    json_decref(hyper);
    csvt_clear(&t);
    model_unref(m);
    return rc;
}
