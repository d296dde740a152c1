/*
 * main.c - encore-train: the offline trainer. Each subcommand lives in its own
 * file (cmd_<name>.c); this table is the only place that lists them.
 */
#include <stdio.h>
#include <string.h>

#include "core/repo.h"
#include "core/version.h"
#include "objrepo.h"
#include "trainer.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"als", cmd_als, "implicit-feedback ALS recommender (Hu, Koren & Volinsky 2008)"},
    {"bpr", cmd_bpr, "BPR recommender (Rendle et al. 2009)"},
    {"cnn", cmd_cnn, "convolutional image classifier (IDX or CSV images)"},
    {"text", cmd_text, "text classifier: NBSVM (Wang & Manning 2012) or an LSTM"},
    {"forest", cmd_forest, "random forest classifier for tables (CSV)"},
    {"linear", cmd_linear, "linear SVM / logistic regression for tables (CSV)"},
    {"demo-data", cmd_demo, "write the embedded synthetic demo data set (items + interactions)"},
    {"eval", cmd_eval, "evaluate a model on held-out data (prints JSON)"},
    {"import", cmd_import, "serve factors trained elsewhere (Spark ALS, implicit): .npy or CSV"},
    {"events", cmd_events, "read the event store: export it as TSV, or print its counts"},
    {"publish", cmd_publish, "copy a model file into a repository as its next version"},
    {"pin", cmd_pin, "pin the version every server serves (rollback), or unpin"},
    {"prune", cmd_prune, "delete all but the newest versions of a model"},
    {"split", cmd_split, "hold out a slice of the interactions (for eval and gate)"},
    {"gate", cmd_gate, "exit 0 only if a model's NDCG@k is good enough to publish"},
    {"index", cmd_index, "add an item index (hnsw) to an existing recommender version"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: encore-train COMMAND [options]   (encore-train COMMAND --help)\n\n"
                 "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("encore-train %s\n", ENCORE_VERSION);
        return 0;
    }
    /* --out s3://... publishes into object storage (core/repo.h's hook). */
    repo_set_remote_publisher(objrepo_publish);
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(argv[1], commands[i].name) == 0) {
            if (trainer_fetch_inputs(argv[1], argc - 1, argv + 1))
                return 1;
            int rc = commands[i].run(argc - 1, argv + 1);
            trainer_remove_inputs();
            return rc;
        }
    fprintf(stderr, "encore-train: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
