/*
 * cmd_eval_cnn.c - encore-train eval for the "cnn" family:
 *
 *   encore-train eval --model DIR --images FILE [--labels FILE] [--threads N] [--bench]
 *
 * Loads the model the way the server does (model_load, the family's
 * validated loader) and scores the images through the family's predict
 * entry point (the server's path), then prints one JSON object:
 *   {"model": DIR, "version": V, "images": N, "accuracy": A,
 *    "class_names": [...], "confusion": [[...]]}   (rows: true, columns: predicted)
 * --bench adds in-process timings: single-image predict latency (mean and
 * median ms over 2000 calls) and batch-1000 throughput (images/s).
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/cnn.h"
#include "cnn/idx.h"
#include "core/model.h"
#include "core/repo.h"
#include "families.h"
#include "trainer.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Timings of ops->predict: single image and batches of 1000. */
static int bench(const struct model *m, const float *x, size_t n, size_t D, size_t C, json_t *res,
                 enc_err *err)
{
    enum { REPS = 2000, BATCH = 1000, BATCH_REPS = 5 };
    float *prob = malloc((size_t)BATCH * C * sizeof *prob);
    double *lat = malloc(REPS * sizeof *lat);
    int rc = 0;
    if (!prob || !lat) {
        rc = enc_errf(err, ENC_ENOMEM, "out of memory");
        goto done;
    }
    double total = 0;
    for (int r = 0; r < REPS + 50 && !rc; r++) { /* 50 warm-up calls */
        struct model_batch b = {.n = 1, .x = x + (size_t)(r % n) * D};
        double t = trainer_now();
        rc = m->ops->predict(m->state, &b, prob, err);
        t = trainer_now() - t;
        if (r >= 50) {
            lat[r - 50] = t * 1e3;
            total += t * 1e3;
        }
    }
    if (rc)
        goto done;
    qsort(lat, REPS, sizeof *lat, cmp_double);
    json_object_set_new(res, "latency_ms_mean", json_real(total / REPS));
    json_object_set_new(res, "latency_ms_median", json_real(lat[REPS / 2]));
    size_t nb = n < BATCH ? n : BATCH;
    double best = 1e30;
    for (int r = 0; r < BATCH_REPS + 1 && !rc; r++) {
        struct model_batch b = {.n = nb, .x = x};
        double t = trainer_now();
        rc = m->ops->predict(m->state, &b, prob, err);
        t = trainer_now() - t;
        if (r > 0 && t < best)
            best = t;
    }
    if (!rc) {
        json_object_set_new(res, "batch_size", json_integer((json_int_t)nb));
        json_object_set_new(res, "batch_images_per_second", json_real((double)nb / best));
    }
done:
    free(prob);
    free(lat);
    return rc;
}

int eval_cnn(const char *model_dir, int argc, char **argv)
{
    const char *model = NULL, *images = NULL, *labels = NULL;
    int64_t threads = 2;
    int do_bench = 0;
    const struct opt opts[] = {
        {"model", OPT_STR, &model, "model directory REPO/NAME or REPO/NAME/VERSION", 0, 0, 1},
        {"images", OPT_STR, &images, "images: IDX (.gz or raw) or CSV (label,pixels...)", 0, 0, 1},
        {"labels", OPT_STR, &labels, "labels (IDX; not for CSV)", 0, 0, 0},
        {"threads", OPT_INT, &threads, "OpenBLAS threads", 1, 64, 0},
        {"bench", OPT_FLAG, &do_bench, "also time single-image and batch-1000 predict", 0, 0, 0},
        {NULL, 0, NULL, NULL, 0, 0, 0},
    };
    int rc = opts_parse("eval", "--model DIR --images F [--labels F] [--threads N --bench]", opts,
                        argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    enc_err err = {0};
    char *path = NULL, *name = NULL;
    int64_t version = 0;
    struct model *m = NULL;
    struct idx_dataset d = {0};
    float *x = NULL, *prob = NULL;
    size_t *conf = NULL;
    json_t *res = NULL;
    rc = 1;
    openblas_set_num_threads((int)threads);
    if (repo_resolve(model_dir, &path, &name, &version, &err) ||
        model_load(name, version, path, &model_default_opts, &m, &err) ||
        idx_load_any(images, labels, &d, &err)) {
        fprintf(stderr, "encore-train eval: %s\n", err.msg);
        goto done;
    }
    const struct model_io *io = m->ops->io(m->state);
    const size_t D = io->n_features, C = io->n_classes;
    if (d.rows * d.cols != D) {
        fprintf(stderr,
                "encore-train eval: %s: images are %zu x %zu, the model takes %lld x %lld\n",
                images, d.rows, d.cols, (long long)io->shape[0], (long long)io->shape[1]);
        goto done;
    }
    if ((size_t)d.n_classes > C) {
        fprintf(stderr, "encore-train eval: %s: labels go up to %d, the model has %zu classes\n",
                labels ? labels : images, d.n_classes - 1, C);
        goto done;
    }
    x = malloc(d.n * D * sizeof *x);
    prob = malloc(d.n * C * sizeof *prob);
    conf = calloc(C * C, sizeof *conf);
    if (!x || !prob || !conf) {
        fprintf(stderr, "encore-train eval: out of memory\n");
        goto done;
    }
    for (size_t i = 0; i < d.n * D; i++)
        x[i] = d.pixels[i];
    double t0 = trainer_now();
    struct model_batch b = {.n = d.n, .x = x};
    if (m->ops->predict(m->state, &b, prob, &err)) {
        fprintf(stderr, "encore-train eval: %s\n", err.msg);
        goto done;
    }
    double secs = trainer_now() - t0;
    size_t hit = 0;
    for (size_t i = 0; i < d.n; i++) {
        size_t arg = 0;
        for (size_t j = 1; j < C; j++)
            if (prob[i * C + j] > prob[i * C + arg])
                arg = j;
        hit += arg == d.labels[i];
        conf[d.labels[i] * C + arg]++;
    }
    res = json_object();
    json_object_set_new(res, "model", json_string(model_dir));
    json_object_set_new(res, "version", json_integer((json_int_t)version));
    json_object_set_new(res, "images", json_integer((json_int_t)d.n));
    json_object_set_new(res, "accuracy", json_real((double)hit / (double)d.n));
    json_object_set_new(res, "seconds", json_real(secs));
    json_t *names = json_array(), *cm = json_array();
    for (size_t i = 0; i < C; i++) {
        json_array_append_new(names, json_string(io->class_names[i]));
        json_t *row = json_array();
        for (size_t j = 0; j < C; j++)
            json_array_append_new(row, json_integer((json_int_t)conf[i * C + j]));
        json_array_append_new(cm, row);
    }
    json_object_set_new(res, "class_names", names);
    json_object_set_new(res, "confusion", cm);
    if (do_bench && bench(m, x, d.n, D, C, res, &err)) {
        fprintf(stderr, "encore-train eval: %s\n", err.msg);
        goto done;
    }
    json_dumpf(res, stdout, JSON_COMPACT);
    printf("\n");
    rc = 0;
done:
    json_decref(res);
    free(x);
    free(prob);
    free(conf);
    idx_dataset_clear(&d);
    model_unref(m);
    free(path);
    free(name);
    return rc;
}
