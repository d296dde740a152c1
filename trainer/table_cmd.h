/*
 * table_cmd.h - helpers shared by the table subcommands (cmd_forest.c,
 * cmd_linear.c, cmd_eval_table.c): reading the CSV named on the command line
 * with the same options everywhere, and recording those options in the
 * model's hyperparameters so `encore-train eval` can reuse them.
 */
#ifndef ENCORE_TABLE_CMD_H
#define ENCORE_TABLE_CMD_H

#include <jansson.h>

#include "table/csvtable.h"

/* The input options every table command takes. */
struct table_input {
    const char *data;     /* --data FILE */
    const char *label;    /* --label COLUMN (plain format) */
    const char *features; /* --features a,b,c or NULL */
    const char *format;   /* --format plain|sklearn */
};

/* Read in->data into *t. `features` / `classes` (may be NULL) override the
 * command line (eval passes the model's). Prints "encore-train CMD: FILE:LINE:
 * problem" on failure. Returns 0, 1 (bad input) or 2 (usage error). */
int table_read(const char *cmd, const struct table_input *in, const char *const *features,
               size_t n_features, const char *const *classes, size_t n_classes,
               struct csvt_table *t);

/* Add "label", "format" and "features" (the table's feature names) to hyper. */
void table_hyper_add(json_t *hyper, const struct table_input *in, const struct csvt_table *t);

#endif
