/*
 * trainer.h - encore-train: one subcommand per file (cmd_<name>.c), listed in
 * main.c's command table, plus the option-table parser they share.
 *
 * Conventions for every subcommand:
 *   - exit status 0 on success, 1 on bad input or failure, 2 on a usage error;
 *   - errors on stderr as "encore-train NAME: FILE:LINE: problem";
 *   - progress on stderr, results (JSON for eval) on stdout.
 */
#ifndef ENCORE_TRAINER_H
#define ENCORE_TRAINER_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

enum opt_type { OPT_STR, OPT_INT, OPT_DOUBLE, OPT_FLAG, OPT_ENUM };

/* One row of a subcommand's option table. For OPT_INT `dst` is an int64_t*,
 * OPT_DOUBLE a double*, OPT_STR a const char**, OPT_FLAG an int*, OPT_ENUM an
 * int* holding the index of the chosen name in `choices` (NULL-terminated).
 * Defaults are whatever the caller stored in *dst before parsing. min/max
 * bound numbers (ignored when min > max).
 *
 * `hyper` = OPT_HYPER marks a training hyperparameter: opts_to_json writes it
 * into the model's "hyperparameters" metadata, so what a model records comes
 * from the table that parsed it and cannot drift from the options. */
struct opt {
    const char *name; /* without the leading "--" */
    enum opt_type type;
    void *dst;
    const char *help;
    double min, max;
    int required;
    const char *const *choices; /* OPT_ENUM */
    int hyper;                  /* OPT_HYPER or 0 */
};
#define OPT_HYPER 1

/* Parse argv (argv[0] is the subcommand) against a NULL-name-terminated table.
 * Prints a clear message naming the option and returns 2 on error; returns 1
 * after printing usage for --help; 0 on success. */
int opts_parse(const char *cmd, const char *synopsis, const struct opt *opts, int argc,
               char **argv);
void opts_usage(FILE *out, const char *cmd, const char *synopsis, const struct opt *opts);

/* {"name_with_underscores": value, ...} for every OPT_HYPER row, with its
 * value now (numbers, strings, booleans; an enum as its name; an unset
 * string as null). New reference, or NULL when out of memory. */
json_t *opts_to_json(const struct opt *opts);

/* The name an OPT_ENUM row holds now. */
const char *opt_choice(const struct opt *o);

/* SHA-256 over the bytes of the given files (NULL entries skipped), hex. */
int trainer_fingerprint(const char *const *paths, int n, char out[65]);

double trainer_now(void); /* monotonic seconds */

/* Subcommands. */
int cmd_als(int argc, char **argv);
int cmd_bpr(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_forest(int argc, char **argv);
int cmd_linear(int argc, char **argv);
int cmd_text(int argc, char **argv);
int cmd_cnn(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_events(int argc, char **argv);
int cmd_publish(int argc, char **argv); /* cmd_repo.c */
int cmd_pin(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_gate(int argc, char **argv);  /* cmd_gate.c */
int cmd_split(int argc, char **argv); /* cmd_split.c */
int cmd_index(int argc, char **argv);

/* Arguments naming s3:// or gs:// objects (except --out) are downloaded
 * into a temporary directory and replaced by the local path (remote.c).
 * Returns 0, or 1 after printing why. */
int trainer_fetch_inputs(const char *cmd, int argc, char **argv);
void trainer_remove_inputs(void);

/* encore-train eval dispatches on the model's family. Each row evaluates
 * one family: model_dir is what --model named; argv holds all arguments. */
struct eval_family {
    const char *family;
    int (*eval)(const char *model_dir, int argc, char **argv);
};
int eval_mf(const char *model_dir, int argc, char **argv);
int eval_table(const char *model_dir, int argc, char **argv); /* forest, linear */
int eval_text(const char *model_dir, int argc, char **argv);
int eval_cnn(const char *model_dir, int argc, char **argv);

#endif
