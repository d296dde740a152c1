/* table_cmd.c - what the table subcommands (cmd_forest.c, cmd_linear.c,
 * cmd_eval_table.c) share: the CSV named on the command line read with the
 * same options everywhere, and those options recorded in the model's
 * hyperparameters (see table_cmd.h). */
#include "table_cmd.h"

#include <stdio.h>
#include <string.h>

#include "core/strv.h"

int table_read(const char *cmd, const struct table_input *in, const char *const *features,
               size_t n_features, const char *const *classes, size_t n_classes,
               struct csvt_table *t)
{
    memset(t, 0, sizeof *t);
    struct csvt_options o = {0};
    if (!in->format || strcmp(in->format, "plain") == 0)
        o.format = CSVT_PLAIN;
    else if (strcmp(in->format, "sklearn") == 0)
        o.format = CSVT_SKLEARN;
    else {
        fprintf(stderr, "encore-train %s: --format: '%s' is not plain or sklearn\n", cmd,
                in->format);
        return 2;
    }
    if (o.format == CSVT_PLAIN && !in->label) {
        fprintf(stderr, "encore-train %s: --label COLUMN is required for a plain CSV\n", cmd);
        return 2;
    }
    o.label = in->label;
    char **list = NULL;
    size_t n_list = 0;
    enc_err err = {0};
    if (features) {
        o.features = features;
        o.n_features = n_features;
    } else if (in->features) {
        if (csvt_split_list(in->features, &list, &n_list, &err)) {
            fprintf(stderr, "encore-train %s: --features: %s\n", cmd, err.msg);
            return 2;
        }
        o.features = (const char *const *)list;
        o.n_features = n_list;
    }
    o.classes = classes;
    o.n_classes = n_classes;
    int rc = csvt_read(in->data, &o, t, &err);
    strv_free(list, n_list);
    if (rc) {
        fprintf(stderr, "encore-train %s: %s\n", cmd, err.msg);
        return rc == ENC_EINVAL ? 2 : 1;
    }
    return 0;
}

void table_hyper_add(json_t *hyper, const struct table_input *in, const struct csvt_table *t)
{
    if (in->label)
        json_object_set_new(hyper, "label", json_string(in->label));
    json_object_set_new(hyper, "format", json_string(in->format ? in->format : "plain"));
    json_t *f = json_array();
    for (size_t j = 0; j < t->n_features; j++)
        json_array_append_new(f, json_string(t->feature_names[j]));
    json_object_set_new(hyper, "features", f);
}
