/*
 * remote.c - encore-train's inputs from object storage: every argument that
 * names an s3:// or gs:// object (except --out, which publishes) is
 * downloaded into a private temporary directory first and replaced by the
 * local path, so no subcommand needs to know about object storage.
 * --model and --baseline name models (s3://BUCKET/PREFIX/NAME): the version
 * servers serve (pinned, else highest) is fetched as NAME/VERSION/.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/repo.h"
#include "objrepo.h"
#include "trainer.h"

int trainer_rmrf(const char *path);

static char tmpdir[PATH_MAX];

static int fetch(const char *cmd, const char *opt, const char *url, char **local)
{
    enc_err err = {0};
    if (!*tmpdir) {
        const char *t = getenv("TMPDIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/encore-inputs-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(tmpdir)) {
            fprintf(stderr, "encore-train %s: mkdtemp %s failed\n", cmd, tmpdir);
            *tmpdir = '\0';
            return 1;
        }
    }
    int is_model = !strcmp(opt, "model") || !strcmp(opt, "baseline");
    int rc = is_model ? objrepo_fetch_model(url, tmpdir, local, &err)
                      : objrepo_fetch(url, tmpdir, local, &err);
    if (rc == ENC_ENOTFOUND && !strcmp(opt, "baseline")) {
        fprintf(stderr, "encore-train %s: --baseline %s: %s (no live version to compare with)\n",
                cmd, url, err.msg);
        *local = strdup("none");
        return *local ? 0 : 1;
    }
    if (rc) {
        fprintf(stderr, "encore-train %s: --%s %s: %s\n", cmd, opt, url, err.msg);
        return 1;
    }
    fprintf(stderr, "encore-train %s: --%s %s -> %s\n", cmd, opt, url, *local);
    return 0;
}

int trainer_fetch_inputs(const char *cmd, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) != 0)
            continue;
        char opt[64];
        const char *eq = strchr(argv[i], '=');
        snprintf(opt, sizeof opt, "%.*s", (int)(eq ? eq - argv[i] - 2 : (long)strlen(argv[i]) - 2),
                 argv[i] + 2);
        if (!strcmp(opt, "out"))
            continue;
        const char *val = eq ? eq + 1 : i + 1 < argc ? argv[i + 1] : "";
        if (!repo_is_url(val))
            continue;
        char *local;
        if (fetch(cmd, opt, val, &local))
            return 1;
        if (eq) {
            char *a = malloc(strlen(opt) + strlen(local) + 4);
            if (!a)
                return 1;
            sprintf(a, "--%s=%s", opt, local);
            argv[i] = a;
            free(local);
        } else
            argv[++i] = local;
    }
    return 0;
}

void trainer_remove_inputs(void)
{
    if (!*tmpdir)
        return;
    trainer_rmrf(tmpdir);
    *tmpdir = '\0';
}

#include <dirent.h>
#include <sys/stat.h>

int trainer_rmrf(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return 0;
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char sub[PATH_MAX];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            trainer_rmrf(sub);
        }
        if (d)
            closedir(d);
        return rmdir(path);
    }
    return unlink(path);
}
