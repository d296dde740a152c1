/*
 * cmd_forest.c - encore-train forest: train a random forest (models/forest)
 * on a labelled CSV table and publish it to REPO/NAME/VERSION. Progress,
 * out-of-bag accuracy and feature importances go to stderr; a JSON summary
 * goes to stdout.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forest/forest.h"
#include "table_cmd.h"
#include "trainer.h"

struct imp_row {
    const char *name;
    float v;
};

static int cmp_imp(const void *a, const void *b)
{
    const struct imp_row *x = a, *y = b;
    return x->v < y->v ? 1 : x->v > y->v ? -1 : strcmp(x->name, y->name);
}

int cmd_forest(int argc, char **argv)
{
    struct table_input in = {NULL, NULL, NULL, "plain"};
    const char *out = NULL;
    int64_t trees = 100, max_depth = 0, msl = 1, max_features = 0, seed = 42, threads = 1,
            version = 0;
    int no_bootstrap = 0;
    const struct opt opts[] = {
        {"data", OPT_STR, &in.data, "training table (CSV with a header; .gz ok)", 0, -1, 1},
        {"label", OPT_STR, &in.label, "label column (required for --format plain)", 0, -1, 0},
        {"features", OPT_STR, &in.features, "feature columns a,b,c (default: all but the label)", 0,
         -1, 0},
        {"format", OPT_STR, &in.format, "plain | sklearn (scikit-learn's shipped CSVs)", 0, -1, 0},
        {"out", OPT_STR, &out, "REPO/NAME to publish to", 0, -1, 1},
        {"version", OPT_INT, &version, "version to write (0: next free)", 0, 1e15, 0},
        {"trees", OPT_INT, &trees, "number of trees", 1, 100000, 0},
        {"max-depth", OPT_INT, &max_depth, "maximum depth (0: unlimited)", 0, 100000, 0},
        {"min-samples-leaf", OPT_INT, &msl, "minimum rows in a leaf", 1, 1e9, 0},
        {"max-features", OPT_INT, &max_features, "features tried per split (0: sqrt)", 0, 1e9, 0},
        {"seed", OPT_INT, &seed, "random seed (the forest is identical for a seed)", 0, 9.2e18, 0},
        {"threads", OPT_INT, &threads, "training threads", 1, 256, 0},
        {"no-bootstrap", OPT_FLAG, &no_bootstrap, "every tree sees every row (no OOB)", 0, -1, 0},
        {NULL, 0, NULL, NULL, 0, 0, 0},
    };
    int rc = opts_parse("forest", "--data FILE.csv --label COLUMN --out REPO/NAME [options]", opts,
                        argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    struct csvt_table t;
    if ((rc = table_read("forest", &in, NULL, 0, NULL, 0, &t)))
        return rc;
    fprintf(stderr, "encore-train forest: %s: %zu rows, %zu features, %zu classes\n", in.data,
            t.n_rows, t.n_features, t.n_classes);

    struct forest_params p;
    forest_params_default(&p);
    p.n_trees = (int)trees;
    p.max_depth = (int)max_depth;
    p.min_samples_leaf = (int)msl;
    p.max_features = (int)max_features;
    p.seed = (uint64_t)seed;
    p.threads = (int)threads;
    p.bootstrap = !no_bootstrap;
    enc_err err = {0};
    struct forest *f = NULL;
    double t0 = trainer_now();
    if (forest_train(t.x, t.y, t.n_rows, t.n_features, t.n_classes,
                     (const char *const *)t.feature_names, (const char *const *)t.class_names, &p,
                     &f, &err)) {
        fprintf(stderr, "encore-train forest: %s\n", err.msg);
        csvt_clear(&t);
        return 1;
    }
    double secs = trainer_now() - t0;

    json_t *hyper = forest_params_json(&p);
    table_hyper_add(hyper, &in, &t);
    char fp[65] = "";
    const char *paths[1] = {in.data};
    trainer_fingerprint(paths, 1, fp);
    int64_t v_out = 0;
    rc = model_save(&forest_ops, f, hyper, fp, out, version, &v_out, &err);
    json_decref(hyper);
    if (rc) {
        fprintf(stderr, "encore-train forest: %s\n", err.msg);
        forest_free(f);
        csvt_clear(&t);
        return 1;
    }

    /* The end-of-training report: OOB accuracy and importances, best first. */
    fprintf(stderr, "encore-train forest: %zu trees, %zu nodes in %.2f s; out-of-bag accuracy %s",
            f->n_trees, f->n_nodes, secs, isnan(f->oob_accuracy) ? "n/a" : "");
    if (!isnan(f->oob_accuracy))
        fprintf(stderr, "%.4f", f->oob_accuracy);
    fprintf(stderr, "\nfeature importances (mean decrease in Gini impurity):\n");
    struct imp_row *rows = malloc(f->n_features * sizeof *rows);
    json_t *imp = json_object();
    for (size_t j = 0; rows && j < f->n_features; j++)
        rows[j] = (struct imp_row){f->feature_names[j], f->importances[j]};
    if (rows) {
        qsort(rows, f->n_features, sizeof *rows, cmp_imp);
        for (size_t j = 0; j < f->n_features; j++) {
            if (j < 30)
                fprintf(stderr, "  %-24s %.4f\n", rows[j].name, rows[j].v);
            json_object_set_new(imp, rows[j].name, json_real(rows[j].v));
        }
        if (f->n_features > 30)
            fprintf(stderr, "  ... %zu more in the JSON summary\n", f->n_features - 30);
    }
    free(rows);
    json_t *summary = json_pack(
        "{s:s, s:I, s:s, s:I, s:I, s:I, s:I, s:f}", "model", out, "version", (json_int_t)v_out,
        "family", "forest", "rows", (json_int_t)t.n_rows, "features", (json_int_t)t.n_features,
        "trees", (json_int_t)f->n_trees, "nodes", (json_int_t)f->n_nodes, "train_seconds", secs);
    json_object_set_new(summary, "oob_accuracy",
                        isnan(f->oob_accuracy) ? json_null() : json_real(f->oob_accuracy));
    json_object_set_new(summary, "feature_importances", imp);
    json_dumpf(summary, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("\n");
    json_decref(summary);
    forest_free(f);
    csvt_clear(&t);
    return 0;
}
