/*
 * cmd_eval.c - encore-train eval --model DIR ...: finds the model's family
 * and hands the arguments to that family's evaluator (one row per family).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/repo.h"
#include "core/st.h"
#include "trainer.h"

static const struct eval_family evaluators[] = {
    {"mf", eval_mf},     {"forest", eval_table}, {"linear", eval_table},
    {"text", eval_text}, {"cnn", eval_cnn},
};

int cmd_eval(int argc, char **argv)
{
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf(
                "usage: encore-train eval --model DIR [family options]\n"
                "  DIR is a version directory (REPO/NAME/3) or a model directory (REPO/NAME,\n"
                "  then its highest version). The family decides the rest:\n"
                "  mf:      --train FILE --test FILE [--k 10]\n"
                "  forest, linear: --data FILE.csv [--label COL --format plain|sklearn --kfold N --bench]\n"
                "  text:    (--pos FILE --neg FILE | --data FILE.tsv)\n"
                "  cnn:     --images FILE --labels FILE [--threads N --bench]\n");
            return 0;
        }
        if (strcmp(argv[i], "--model") == 0 && i + 1 < argc)
            dir = argv[i + 1];
        else if (strncmp(argv[i], "--model=", 8) == 0)
            dir = argv[i] + 8;
    }
    if (!dir) {
        fprintf(stderr, "encore-train eval: --model DIR is required\n");
        return 2;
    }
    enc_err err = {0};
    char *path = NULL;
    st_file *f = NULL;
    if (repo_resolve(dir, &path, NULL, NULL, &err) || st_open(path, &f, &err)) {
        fprintf(stderr, "encore-train eval: %s\n", err.msg);
        free(path);
        return 1;
    }
    const char *fam = st_meta(f, "family");
    char family[64];
    snprintf(family, sizeof family, "%s", fam ? fam : "");
    st_close(f);
    free(path);
    for (size_t i = 0; i < sizeof evaluators / sizeof *evaluators; i++)
        if (strcmp(family, evaluators[i].family) == 0)
            return evaluators[i].eval(dir, argc, argv);
    fprintf(stderr, "encore-train eval: %s: no evaluator for family '%s'\n", dir, family);
    return 1;
}
