/*
 * cmd_linear.c - encore-train linear: train a one-vs-rest linear SVM or
 * logistic regression (models/linear) on a labelled CSV table, with the
 * feature standardisation stored in the model, and publish it to
 * REPO/NAME/VERSION. A JSON summary goes to stdout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linear/linear.h"
#include "table_cmd.h"
#include "trainer.h"

int cmd_linear(int argc, char **argv)
{
    struct table_input in = {NULL, NULL, NULL, "plain"};
    const char *out = NULL, *loss_s = "hinge", *multi = "auto";
    int64_t epochs = 0, seed = 1, threads = 1, version = 0;
    double c = 1.0, tol = 0;
    const struct opt opts[] = {
        {"data", OPT_STR, &in.data, "training table (CSV with a header; .gz ok)", 0, -1, 1},
        {"label", OPT_STR, &in.label, "label column (required for --format plain)", 0, -1, 0},
        {"features", OPT_STR, &in.features, "feature columns a,b,c (default: all but the label)", 0,
         -1, 0},
        {"format", OPT_STR, &in.format, "plain | sklearn (scikit-learn's shipped CSVs)", 0, -1, 0},
        {"out", OPT_STR, &out, "REPO/NAME to publish to", 0, -1, 1},
        {"version", OPT_INT, &version, "version to write (0: next free)", 0, 1e15, 0},
        {"loss", OPT_STR, &loss_s, "hinge (linear SVM) | squared_hinge | logistic", 0, -1, 0},
        {"multi", OPT_STR, &multi,
         "auto | ovr | multinomial (auto: multinomial for logistic, else one-vs-rest)", 0, -1, 0},
        {"c", OPT_DOUBLE, &c, "C: inverse regularisation strength", 1e-12, 1e12, 0},
        {"epochs", OPT_INT, &epochs,
         "max epochs (SVM, 0: 1000) or Newton iterations (logistic, 0: 100)", 0, 1e9, 0},
        {"tol", OPT_DOUBLE, &tol, "stopping tolerance (0: 1e-4 SVM, 1e-6 logistic)", 0, 1, 0},
        {"seed", OPT_INT, &seed, "row order seed of the SVM solver", 0, 9.2e18, 0},
        {"threads", OPT_INT, &threads, "classes fitted in parallel", 1, 256, 0},
        {NULL, 0, NULL, NULL, 0, 0, 0},
    };
    int rc = opts_parse(
        "linear", "--data FILE.csv --label COLUMN --loss hinge|logistic --out REPO/NAME [options]",
        opts, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    int loss = linear_loss_parse(loss_s);
    if (loss < 0) {
        fprintf(stderr,
                "encore-train linear: --loss: '%s' is not hinge, squared_hinge or logistic\n",
                loss_s);
        return 2;
    }
    if (strcmp(multi, "auto") != 0 && strcmp(multi, "ovr") != 0 &&
        strcmp(multi, "multinomial") != 0) {
        fprintf(stderr, "encore-train linear: --multi: '%s' is not auto, ovr or multinomial\n",
                multi);
        return 2;
    }
    if (strcmp(multi, "multinomial") == 0 && loss != LINEAR_LOGISTIC) {
        fprintf(stderr, "encore-train linear: --multi multinomial needs --loss logistic\n");
        return 2;
    }
    struct csvt_table t;
    if ((rc = table_read("linear", &in, NULL, 0, NULL, 0, &t)))
        return rc;
    if (t.n_classes < 2) {
        fprintf(stderr, "encore-train linear: %s: only one class ('%s') in column %s\n", in.data,
                t.class_names[0], in.label ? in.label : "label");
        csvt_clear(&t);
        return 1;
    }
    fprintf(stderr, "encore-train linear: %s: %zu rows, %zu features, %zu classes\n", in.data,
            t.n_rows, t.n_features, t.n_classes);
    struct linear_solver s;
    linear_solver_default(&s, (enum linear_loss)loss);
    s.c = c;
    if (epochs)
        s.max_iter = (int)epochs;
    if (tol > 0)
        s.tol = tol;
    s.seed = (uint64_t)seed;
    s.threads = (int)threads;
    s.multinomial = loss == LINEAR_LOGISTIC && strcmp(multi, "ovr") != 0 && t.n_classes > 2;
    enc_err err = {0};
    struct linear_model *m = NULL;
    double t0 = trainer_now();
    if (linear_train(t.x, t.y, t.n_rows, t.n_features, t.n_classes,
                     (const char *const *)t.feature_names, (const char *const *)t.class_names, &s,
                     &m, &err)) {
        fprintf(stderr, "encore-train linear: %s\n", err.msg);
        csvt_clear(&t);
        return 1;
    }
    double secs = trainer_now() - t0;
    if (!m->info.converged)
        fprintf(stderr,
                "encore-train linear: warning: did not converge within %d %s (tol %g); "
                "raise --epochs\n",
                s.max_iter, s.loss == LINEAR_LOGISTIC ? "Newton iterations" : "epochs", s.tol);
    json_t *hyper = linear_solver_json(&s);
    table_hyper_add(hyper, &in, &t);
    char fp[65] = "";
    const char *paths[1] = {in.data};
    trainer_fingerprint(paths, 1, fp);
    int64_t v_out = 0;
    rc = model_save(&linear_ops, m, hyper, fp, out, version, &v_out, &err);
    json_decref(hyper);
    if (rc) {
        fprintf(stderr, "encore-train linear: %s\n", err.msg);
        linear_model_free(m);
        csvt_clear(&t);
        return 1;
    }
    fprintf(stderr, "encore-train linear: %s%s, C=%g: %d iterations, %s, objective %.6g, %.3f s\n",
            linear_loss_name(s.loss), m->multinomial ? " (multinomial)" : "", s.c,
            m->info.iterations, m->info.converged ? "converged" : "NOT converged",
            m->info.objective, secs);
    json_t *summary = json_pack(
        "{s:s, s:I, s:s, s:s, s:f, s:I, s:I, s:I, s:i, s:b, s:f, s:f}", "model", out, "version",
        (json_int_t)v_out, "family", "linear", "loss", linear_loss_name(s.loss), "c", s.c, "rows",
        (json_int_t)t.n_rows, "features", (json_int_t)t.n_features, "classes",
        (json_int_t)t.n_classes, "iterations", m->info.iterations, "converged", m->info.converged,
        "objective", m->info.objective, "train_seconds", secs);
    json_dumpf(summary, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("\n");
    json_decref(summary);
    linear_model_free(m);
    csvt_clear(&t);
    return 0;
}
