/*
 * cmd_import.c - encore-train import: serve factors trained elsewhere.
 *
 *   encore-train import --user-factors U.npy --item-factors V.npy
 *                       --user-ids users.txt --item-ids items.txt
 *                       [--seen interactions.tsv] [--items movies.csv]
 *                       --out REPO/NAME
 *
 * Reads the factor matrices and id lists that Spark MLlib's ALS or the
 * `implicit` library leave behind (formats in models/mf/import.h), builds an
 * "mf" model with algorithm "import" and publishes it as the next version of
 * REPO/NAME; running servers pick it up by hot reload. The model scores a
 * (user, item) pair with the dot product of their factor rows, as the source
 * library does. Prints a JSON summary on stdout.
 */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "mf/import.h"
#include "mf/mf.h"
#include "mf_index_opt.h"
#include "mf_input.h"
#include "trainer.h"

int cmd_import(int argc, char **argv)
{
    struct mf_import_spec spec = {0};
    const char *out = NULL;
    int64_t version = 0;
    struct mf_index_opt io;
    mf_index_opt_default(&io);
    int user_f16 = 0;
    spec.regularization = 0.1; /* Spark ALS's regParam default */
    spec.alpha = 1.0;          /* Spark's and implicit's default */
    const struct opt opts[] = {
        {"user-factors", OPT_STR, &spec.user_factors, "user factor matrix: .npy or CSV", 0, 0, 1},
        {"item-factors", OPT_STR, &spec.item_factors, "item factor matrix: .npy or CSV", 0, 0, 1},
        {"user-ids", OPT_STR, &spec.user_ids,
         "user ids, one per line or .npy (omit: the user CSV's first column)", 0, 0, 0},
        {"item-ids", OPT_STR, &spec.item_ids,
         "item ids, one per line or .npy (omit: the item CSV's first column)", 0, 0, 0},
        {"seen", OPT_STR, &spec.seen, "training interactions: excluded from results, popularity", 0,
         0, 0},
        {"items", OPT_STR, &spec.items, "item metadata (u.item or movies.csv): titles and tags", 0,
         0, 0},
        {"regularization", OPT_DOUBLE, &spec.regularization,
         "the source model's regularization (used to fold in new users)", 0, 1e6, 0},
        {"alpha", OPT_DOUBLE, &spec.alpha, "the source model's confidence scale alpha", 0, 1e6, 0},
        {"version", OPT_INT, &version, "version to write (0: the next free one)", 0, 1e15, 0},
        {"out", OPT_STR, &out, "model directory REPO/NAME", 0, 0, 1},
        MF_INDEX_OPTS(&io),
        MF_USER_PRECISION_OPT(user_f16),
        {NULL, 0, NULL, NULL, 0, 0, 0},
    };
    int rc = opts_parse("import",
                        "--user-factors F --item-factors F [--user-ids F --item-ids F] "
                        "--out REPO/NAME [options]",
                        opts, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    if ((rc = mf_index_opt_check("import", &io)))
        return rc;

    double t0 = trainer_now();
    enc_err err = {0};
    struct mf_data d;
    struct mf_import_stats st;
    if (mf_import_build(&spec, &d, &st, &err)) {
        fprintf(stderr, "encore-train import: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "encore-train import: %zu users x %zu items x %zu factors", d.n_users,
            d.n_items, d.factors);
    if (spec.seen)
        fprintf(stderr, ", %zu seen pairs (%zu interactions with unknown ids skipped)",
                st.seen_pairs, st.seen_skipped);
    if (spec.items)
        fprintf(stderr, ", metadata for %zu items", st.items_matched);
    fprintf(stderr, "\n");

    const char *inputs[6] = {spec.user_factors, spec.item_factors, spec.user_ids,
                             spec.item_ids,     spec.seen,         spec.items};
    char fp[65];
    if (trainer_fingerprint(inputs, 6, fp)) {
        fprintf(stderr, "encore-train import: cannot read the inputs again to fingerprint them\n");
        mf_data_clear(&d);
        return 1;
    }
    json_t *hyper =
        json_pack("{s:s, s:I, s:f, s:f}", "source", "import", "factors", (json_int_t)d.factors,
                  "regularization", spec.regularization, "alpha", spec.alpha);
    if (hyper && mf_index_attach("import", &io, &d, hyper)) {
        json_decref(hyper);
        mf_data_clear(&d);
        return 1;
    }
    d.user_f16 = user_f16;
    int64_t written = 0;
    rc = hyper ? model_save(&mf_ops, &d, hyper, fp, out, version, &written, &err)
               : enc_errf(&err, ENC_ENOMEM, "out of memory");
    if (rc) {
        fprintf(stderr, "encore-train import: %s\n", err.msg);
        json_decref(hyper);
        mf_data_clear(&d);
        return 1;
    }
    json_t *res =
        json_pack("{s:s, s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:f}", "model", out, "version",
                  (json_int_t)written, "algorithm", "import", "users", (json_int_t)d.n_users,
                  "items", (json_int_t)d.n_items, "factors", (json_int_t)d.factors, "seen_pairs",
                  (json_int_t)st.seen_pairs, "items_with_metadata", (json_int_t)st.items_matched,
                  "seconds", trainer_now() - t0);
    if (res && d.index)
        json_object_set_new(res, "index_build_seconds", json_real(d.index->build_seconds));
    if (res) {
        json_dumpf(res, stdout, JSON_COMPACT);
        printf("\n");
    }
    json_decref(res);
    json_decref(hyper);
    mf_data_clear(&d);
    return 0;
}
