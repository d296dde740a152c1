/*
 * cmd_index.c - encore-train index: add an item index to an existing "mf"
 * model version (or rebuild it with other parameters).
 *
 *   encore-train index --model REPO/NAME[/VERSION] [--out REPO/NAME]
 *                      [--index hnsw] [--index-m N] [--index-ef-construction N]
 *                      [--index-similar]
 *
 * Loads the version (validated as the server would), builds the index over
 * its item factors and publishes a copy of every other tensor and metadata
 * key plus the index as the next version of the same model (or of --out),
 * so running servers pick it up by hot reload and the old version stays
 * as it was. The hyperparameters gain an "index" object. Prints a JSON
 * summary on stdout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/model.h"
#include "core/repo.h"
#include "families.h"
#include "mf_index_opt.h"
#include "trainer.h"

/* Every tensor but index.* and index_cosine.*, every metadata key but the hyperparameters
 * (rewritten with the index's) and the creation time (now). */
static int keep_key(const char *name, int is_meta, void *ctx)
{
    (void)ctx;
    return is_meta ? strcmp(name, "hyperparameters") && strcmp(name, "created")
                   : strncmp(name, "index.", 6) != 0 && strncmp(name, "index_cosine.", 13) != 0;
}

static int copy_model(const st_file *f, const json_t *hyper, st_writer *w)
{
    char created[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
    char *h = json_dumps(hyper, JSON_COMPACT | JSON_SORT_KEYS);
    int rc = h ? st_writer_copy(w, f, keep_key, NULL) : ENC_ENOMEM;
    rc = rc ? rc : st_writer_meta(w, "hyperparameters", h);
    rc = rc ? rc : st_writer_meta(w, "created", created);
    free(h);
    return rc;
}

int cmd_index(int argc, char **argv)
{
    const char *model_dir = NULL, *out = NULL;
    struct mf_index_opt io;
    mf_index_opt_default(&io);
    io.type = "hnsw";
    const struct opt opts[] = {
        {"model", OPT_STR, &model_dir, "model REPO/NAME (its highest version) or REPO/NAME/VERSION",
         0, -1, 1},
        {"out", OPT_STR, &out, "model directory to publish into (default: the model's own)", 0, -1,
         0},
        MF_INDEX_OPTS(&io),
        {NULL, 0, NULL, NULL, 0, 0, 0},
    };
    int rc = opts_parse("index", "--model REPO/NAME[/VERSION] [options]", opts, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    if ((rc = mf_index_opt_check("index", &io)))
        return rc;
    if (strcmp(io.type, "hnsw") != 0) {
        fprintf(stderr, "encore-train index: --index none: nothing to build\n");
        return 2;
    }
    double t0 = trainer_now();
    enc_err err = {0};
    char *path = NULL, *name = NULL;
    int64_t version = 0;
    struct model *m = NULL;
    if (repo_resolve(model_dir, &path, &name, &version, &err) ||
        model_load(name, version, path, &model_default_opts, &m, &err)) {
        fprintf(stderr, "encore-train index: %s: %s\n", model_dir, err.msg);
        free(path);
        free(name);
        return 1;
    }
    rc = 1;
    const st_tensor *tv = st_find(m->file, "item_factors");
    st_writer *w = NULL;
    struct mf_data d = {0};
    json_t *hyper = NULL;
    if (strcmp(m->ops->family, "mf") != 0 || !tv) {
        fprintf(stderr, "encore-train index: %s: a %s model has no item factors to index\n", path,
                m->ops->family);
        goto out;
    }
    /* The builder reads factors from an mf_data; they are borrowed here. */
    d.n_items = (size_t)tv->shape[0];
    d.factors = (size_t)tv->shape[1];
    d.item_factors = (float *)tv->data;
    const st_tensor *tu = st_find(m->file, "user_factors"); /* queries for the default beam */
    if (tu && tu->dtype == ST_F32 && tu->shape[1] == tv->shape[1]) { /* f16 users: none */
        d.n_users = (size_t)tu->shape[0];
        d.user_factors = (float *)tu->data;
    }
    const char *hp = st_meta(m->file, "hyperparameters");
    hyper = hp ? json_loads(hp, 0, NULL) : NULL;
    if (!json_is_object(hyper)) {
        json_decref(hyper);
        hyper = json_object();
    }
    if (mf_index_attach("index", &io, &d, hyper))
        goto out;
    int64_t written = 0;
    if (!(w = st_writer_new()) || copy_model(m->file, hyper, w) || index_save(d.index, w) ||
        (d.index_cosine && index_save_named(d.index_cosine, INDEX_COSINE_PREFIX, w))) {
        fprintf(stderr, "encore-train index: out of memory\n");
        goto out;
    }
    /* REPO/NAME of the version read: the path is REPO/NAME/VERSION/model.safetensors. */
    char *dir = strdup(path);
    for (int up = 0; dir && up < 2; up++) {
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        else
            strcpy(dir, ".");
    }
    if (!dir || repo_publish(w, out ? out : dir, 0, &written, &err)) {
        fprintf(stderr, "encore-train index: %s\n", dir ? err.msg : "out of memory");
        free(dir);
        goto out;
    }
    json_t *res = json_pack("{s:s, s:I, s:I, s:s, s:I, s:I, s:f, s:f}", "model", out ? out : dir,
                            "version", (json_int_t)written, "from_version", (json_int_t)version,
                            "index", "hnsw", "items", (json_int_t)d.n_items, "m", (json_int_t)io.m,
                            "build_seconds", d.index->build_seconds, "seconds", trainer_now() - t0);
    if (res) {
        json_dumpf(res, stdout, JSON_COMPACT);
        printf("\n");
    }
    json_decref(res);
    free(dir);
    rc = 0;
out:
    d.item_factors = NULL; /* borrowed from the mapping */
    d.user_factors = NULL;
    d.n_users = 0;
    mf_data_clear(&d);
    json_decref(hyper);
    st_writer_free(w);
    model_unref(m);
    free(path);
    free(name);
    return rc;
}
