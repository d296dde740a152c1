/*
 * cmd_eval_text.c - the "text" row of encore-train eval: load a text model
 * (NBSVM or LSTM) the way the server does (model_load), classify every
 * example of --pos/--neg or --data, and print JSON with the accuracy, the
 * confusion matrix (rows = true class, columns = predicted, in the model's
 * label order) and the mean in-process predict latency.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/model.h"
#include "core/repo.h"
#include "families.h"
#include "text/text.h"
#include "trainer.h"

int eval_text(const char *model_dir, int argc, char **argv)
{
    const char *model = NULL, *pos = NULL, *neg = NULL, *data = NULL;
    int64_t threads = 1;
    const struct opt opts[] = {
        {"model", OPT_STR, &model, "model directory (REPO/NAME or REPO/NAME/VERSION)", 0, 0, 1},
        {"pos", OPT_STR, &pos, "positive examples, one per line (with --neg)", 0, 0, 0},
        {"neg", OPT_STR, &neg, "negative examples, one per line (with --pos)", 0, 0, 0},
        {"data", OPT_STR, &data, "label<TAB>text, text<TAB>label or a CSV with a header", 0, 0, 0},
        {"threads", OPT_INT, &threads, "OpenBLAS threads (one sentence at a time: 1 is fastest)", 1,
         256, 0},
        {NULL, 0, NULL, NULL, 0, 0, 0},
    };
    int prc = opts_parse("eval", "--model DIR (--pos F --neg F | --data F.tsv)", opts, argc, argv);
    if (prc)
        return prc == 1 ? 0 : prc;
    if (!!data == !!(pos || neg) || (!data && !(pos && neg))) {
        fprintf(stderr, "encore-train eval: give either --pos F --neg F or --data F.tsv\n");
        return 2;
    }
    /* Predict runs one short sentence at a time: OpenBLAS threads only add
     * synchronisation to such small products (9 ms instead of 1 ms per
     * LSTM sentence on a busy 2-core machine). */
    openblas_set_num_threads((int)threads);
    enc_err err = {0};
    char *path = NULL, *name = NULL;
    int64_t version = 0;
    struct model *m = NULL;
    if (repo_resolve(model_dir, &path, &name, &version, &err) ||
        model_load(name, version, path, &model_default_opts, &m, &err)) {
        fprintf(stderr, "encore-train eval: %s\n", err.msg);
        free(path);
        free(name);
        return 1;
    }
    free(path);
    free(name);
    const struct text_model *tm = m->state;
    struct text_data d;
    int rc = data ? text_data_read_tsv(data, &d, &err) : text_data_read_pair(pos, neg, &d, &err);
    if (rc) {
        fprintf(stderr, "encore-train eval: %s\n", err.msg);
        model_unref(m);
        return 1;
    }
    for (int f = 0; f < 2; f++)
        if (d.files[f])
            fprintf(stderr, "eval: %s: %s\n", d.files[f], d.how[f]);
    /* Map the data's label names onto the model's classes. */
    size_t K = tm->n_classes;
    int64_t *map = malloc(d.n_labels * sizeof *map);
    int64_t *conf = calloc(K * K, sizeof *conf);
    float *prob = malloc(K * sizeof *prob);
    if (!map || !conf || !prob) {
        fprintf(stderr, "encore-train eval: out of memory\n");
        rc = 1;
        goto done;
    }
    for (size_t l = 0; l < d.n_labels; l++) {
        map[l] = -1;
        for (size_t c = 0; c < K; c++)
            if (strcmp(d.label_names[l], tm->class_names[c]) == 0)
                map[l] = (int64_t)c;
    }
    for (size_t i = 0; i < d.n; i++)
        if (map[d.label[i]] < 0) {
            fprintf(stderr,
                    "encore-train eval: %s:%lld: label '%s' is not one of the model's "
                    "classes\n",
                    d.files[d.src_file[i]], (long long)d.src_line[i], d.label_names[d.label[i]]);
            rc = 1;
            goto done;
        }
    double t0 = trainer_now();
    size_t right = 0;
    for (size_t i = 0; i < d.n; i++) {
        if (text_model_predict(tm, d.text[i], d.len[i], prob, &err)) {
            fprintf(stderr, "encore-train eval: %s\n", err.msg);
            rc = 1;
            goto done;
        }
        size_t best = 0;
        for (size_t c = 1; c < K; c++)
            if (prob[c] > prob[best])
                best = c;
        size_t truth = (size_t)map[d.label[i]];
        conf[truth * K + best]++;
        right += best == truth;
    }
    double secs = trainer_now() - t0;
    json_t *r = json_object(), *cm = json_array(), *labels = json_array();
    for (size_t a = 0; a < K; a++) {
        json_t *row = json_array();
        for (size_t b = 0; b < K; b++)
            json_array_append_new(row, json_integer(conf[a * K + b]));
        json_array_append_new(cm, row);
        json_array_append_new(labels, json_string(tm->class_names[a]));
    }
    json_object_set_new(r, "model_kind", json_string(tm->kind == TEXT_NBSVM ? "nbsvm" : "lstm"));
    json_object_set_new(r, "examples", json_integer((json_int_t)d.n));
    json_object_set_new(r, "accuracy", json_real((double)right / (double)d.n));
    json_object_set_new(r, "labels", labels);
    json_object_set_new(r, "confusion", cm);
    json_object_set_new(r, "predict_ms_per_example", json_real(1000.0 * secs / (double)d.n));
    char *s = json_dumps(r, JSON_COMPACT | JSON_REAL_PRECISION(6));
    printf("%s\n", s);
    free(s);
    json_decref(r);
done:
    free(map);
    free(conf);
    free(prob);
    text_data_clear(&d);
    model_unref(m);
    return rc;
}
