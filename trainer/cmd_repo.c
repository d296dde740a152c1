/*
 * cmd_repo.c - repository housekeeping, for a local directory or object
 * storage alike (s3://BUCKET/PREFIX/NAME, gs://...):
 *
 *   encore-train publish --model FILE|DIR --out REPO/NAME [--keep N]
 *       copy a model file (or a version directory's) in as the next version,
 *       atomically (local: temp dir + rename; object storage: one PUT of
 *       model.safetensors, the version's completion marker); --keep prunes
 *   encore-train pin --out REPO/NAME --version N|latest
 *       write (or remove) REPO/NAME/pinned: every server serves version N
 *   encore-train prune --out REPO/NAME --keep N
 *       delete all but the N highest versions (never the pinned one)
 *
 * With these the image (which has no shell) can publish, roll back and
 * clean up from a Kubernetes Job.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/repo.h"
#include "core/st.h"
#include "objrepo.h"
#include "trainer.h"

static int prune(const char *cmd, const char *out, int64_t keep)
{
    enc_err err = {0};
    int64_t removed = 0;
    int rc = repo_is_url(out) ? objrepo_prune(out, keep, &removed, &err)
                              : repo_prune(out, keep, &removed, &err);
    if (rc) {
        fprintf(stderr, "encore-train %s: %s: %s\n", cmd, out, err.msg);
        return 1;
    }
    fprintf(stderr, "encore-train %s: %s: %lld old version(s) removed, %lld kept\n", cmd, out,
            (long long)removed, (long long)keep);
    return 0;
}

int cmd_publish(int argc, char **argv)
{
    const char *model = NULL, *out = NULL;
    int64_t version = 0, keep = 0;
    struct opt opts[] = {
        {"model", OPT_STR, &model, "model file, or a version directory holding model.safetensors",
         0, 0, 1},
        {"out", OPT_STR, &out, "REPO/NAME or s3://BUCKET/PREFIX/NAME to publish to", 0, 0, 1},
        {"version", OPT_INT, &version, "version number (0 = one above the highest)", 0, 1e15, 0},
        {"keep", OPT_INT, &keep, "then delete all but this many highest versions (0 = keep all)", 0,
         1e6, 0},
        {NULL},
    };
    int rc = opts_parse("publish", "--model FILE|DIR --out REPO/NAME [--keep N]", opts, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    char path[4096];
    struct stat sb;
    if (stat(model, &sb) == 0 && S_ISDIR(sb.st_mode))
        snprintf(path, sizeof path, "%s/%s", model, ST_FILE_NAME);
    else
        snprintf(path, sizeof path, "%s", model);
    enc_err err = {0};
    st_file *f = NULL;
    if (st_open(path, &f, &err)) { /* never publish a file servers would refuse */
        fprintf(stderr, "encore-train publish: %s: %s\n", path, err.msg);
        return 1;
    }
    st_close(f);
    int64_t v = 0;
    if (repo_publish_file(path, out, version, &v, &err)) {
        fprintf(stderr, "encore-train publish: %s: %s\n", out, err.msg);
        return 1;
    }
    printf("{\"out\":\"%s\",\"version\":%lld}\n", out, (long long)v);
    fprintf(stderr, "encore-train publish: %s version %lld\n", out, (long long)v);
    return keep > 0 ? prune("publish", out, keep) : 0;
}

int cmd_pin(int argc, char **argv)
{
    const char *out = NULL, *version = NULL;
    struct opt opts[] = {
        {"out", OPT_STR, &out, "REPO/NAME or s3://BUCKET/PREFIX/NAME", 0, 0, 1},
        {"version", OPT_STR, &version, "version to serve everywhere, or latest (remove the pin)", 0,
         0, 1},
        {NULL},
    };
    int rc = opts_parse("pin", "--out REPO/NAME --version N|latest", opts, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    int64_t v = 0;
    if (strcmp(version, "latest") != 0) {
        char *end;
        v = strtoll(version, &end, 10);
        if (*end || v < 1) {
            fprintf(stderr,
                    "encore-train pin: --version '%s' is not a positive integer or latest\n",
                    version);
            return 2;
        }
    }
    enc_err err = {0};
    rc = repo_is_url(out) ? objrepo_pin(out, v, &err) : repo_write_pin(out, v, &err);
    if (rc) {
        fprintf(stderr, "encore-train pin: %s\n", err.msg);
        return 1;
    }
    if (v)
        fprintf(stderr, "encore-train pin: %s pinned to version %lld\n", out, (long long)v);
    else
        fprintf(stderr, "encore-train pin: %s unpinned (servers follow the highest version)\n",
                out);
    return 0;
}

int cmd_prune(int argc, char **argv)
{
    const char *out = NULL;
    int64_t keep = 0;
    struct opt opts[] = {
        {"out", OPT_STR, &out, "REPO/NAME or s3://BUCKET/PREFIX/NAME", 0, 0, 1},
        {"keep", OPT_INT, &keep, "versions to keep (the highest; the pinned one is always kept)", 1,
         1e6, 1},
        {NULL},
    };
    int rc = opts_parse("prune", "--out REPO/NAME --keep N", opts, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    return prune("prune", out, keep);
}
