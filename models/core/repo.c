/* repo.c - model repository layout (see repo.h). */
#include "core/repo.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int repo_valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > REPO_NAME_MAX || name[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

/* "3" -> 3; anything but a plain positive decimal integer -> 0. */
static int64_t parse_version(const char *s)
{
    if (!*s || *s == '0' || strlen(s) > 18)
        return 0;
    int64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return 0;
        v = v * 10 + (*s - '0');
    }
    return v;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int repo_list_versions(const char *model_dir, int64_t **versions, size_t *n, enc_err *err)
{
    *versions = NULL;
    *n = 0;
    DIR *d = opendir(model_dir);
    if (!d)
        return enc_errf(err, errno == ENOENT ? ENC_ENOTFOUND : ENC_EIO, "%s: %s", model_dir,
                        strerror(errno));
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int64_t v = parse_version(e->d_name);
        if (v <= 0)
            continue;
        char path[PATH_MAX];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s/%s", model_dir, e->d_name, ST_FILE_NAME);
        if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            int64_t *nv = realloc(*versions, cap * sizeof *nv);
            if (!nv) {
                closedir(d);
                free(*versions);
                *versions = NULL;
                *n = 0;
                return enc_errf(err, ENC_ENOMEM, "out of memory");
            }
            *versions = nv;
        }
        (*versions)[(*n)++] = v;
    }
    closedir(d);
    if (*n > 1)
        qsort(*versions, *n, sizeof **versions, cmp_i64);
    return 0;
}

int repo_latest_version(const char *model_dir, int64_t *version, enc_err *err)
{
    int64_t *v;
    size_t n;
    *version = 0;
    int rc = repo_list_versions(model_dir, &v, &n, err);
    if (rc)
        return rc;
    if (n == 0) {
        free(v);
        return enc_errf(err, ENC_ENOTFOUND, "%s: no version directory with a %s", model_dir,
                        ST_FILE_NAME);
    }
    *version = v[n - 1];
    free(v);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int repo_list_models(const char *repo, char ***names, size_t *n, enc_err *err)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(repo);
    if (!d)
        return enc_errf(err, errno == ENOENT ? ENC_ENOTFOUND : ENC_EIO, "%s: %s", repo,
                        strerror(errno));
    size_t cap = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        if (!repo_valid_name(e->d_name))
            continue;
        char path[PATH_MAX];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", repo, e->d_name);
        if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            char **nn = realloc(*names, cap * sizeof *nn);
            if (!nn) {
                rc = enc_errf(err, ENC_ENOMEM, "out of memory");
                break;
            }
            *names = nn;
        }
        if (!((*names)[*n] = strdup(e->d_name))) {
            rc = enc_errf(err, ENC_ENOMEM, "out of memory");
            break;
        }
        (*n)++;
    }
    closedir(d);
    if (rc) {
        for (size_t i = 0; i < *n; i++)
            free((*names)[i]);
        free(*names);
        *names = NULL;
        *n = 0;
        return rc;
    }
    if (*n > 1)
        qsort(*names, *n, sizeof **names, cmp_str);
    return 0;
}

static char *base_name(const char *path)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    size_t b = n;
    while (b > 0 && path[b - 1] != '/')
        b--;
    return strndup(path + b, n - b);
}

int repo_resolve(const char *dir, char **file_path, char **name, int64_t *version, enc_err *err)
{
    *file_path = NULL;
    if (name)
        *name = NULL;
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return enc_errf(err, ENC_ENOTFOUND, "%s: %s", dir, strerror(errno));
    if (S_ISREG(sb.st_mode)) {   /* a model file named directly */
        *file_path = strdup(dir);
        if (name)
            *name = strdup("model");
        if (version)
            *version = 1;
        return *file_path ? 0 : ENC_ENOMEM;
    }
    char *last = base_name(dir);
    if (!last)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    int64_t v = parse_version(last);
    char path[PATH_MAX];
    char *model_dir;
    if (v > 0) {   /* .../NAME/VERSION */
        model_dir = strdup(dir);
        size_t n = strlen(model_dir);
        while (n > 1 && model_dir[n - 1] == '/')
            model_dir[--n] = '\0';
        char *slash = strrchr(model_dir, '/');
        if (slash)
            *slash = '\0';
        else
            strcpy(model_dir, ".");
        snprintf(path, sizeof path, "%s/%s", dir, ST_FILE_NAME);
        if (stat(path, &sb) != 0) {
            free(last);
            free(model_dir);
            return enc_errf(err, ENC_ENOTFOUND, "%s: no %s in this version directory", dir,
                            ST_FILE_NAME);
        }
    } else {       /* .../NAME: the highest version */
        model_dir = strdup(dir);
        int rc = repo_latest_version(dir, &v, err);
        if (rc) {
            free(last);
            free(model_dir);
            return rc;
        }
        snprintf(path, sizeof path, "%s/%lld/%s", dir, (long long)v, ST_FILE_NAME);
    }
    if (version)
        *version = v;
    if (name)
        *name = base_name(model_dir);
    free(model_dir);
    free(last);
    *file_path = strdup(path);
    return *file_path ? 0 : enc_errf(err, ENC_ENOMEM, "out of memory");
}

static int mkdir_p(const char *path, enc_err *err)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return enc_errf(err, ENC_EINVAL, "%s: path too long", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return enc_errf(err, ENC_EIO, "mkdir %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return enc_errf(err, ENC_EIO, "mkdir %s: %s", buf, strerror(errno));
    return 0;
}

int repo_publish(st_writer *w, const char *out, int64_t version, int64_t *version_out,
                 enc_err *err)
{
    char *name = base_name(out);
    if (!name)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    int ok = repo_valid_name(name);
    free(name);
    if (!ok)
        return enc_errf(err, ENC_EINVAL,
                        "--out %s: the last part must be a model name of [A-Za-z0-9_.-]", out);
    int rc = mkdir_p(out, err);
    if (rc)
        return rc;
    if (version <= 0) {
        int64_t latest = 0;
        enc_err tmp;
        if (repo_latest_version(out, &latest, &tmp) != 0)
            latest = 0;
        version = latest + 1;
    }
    char tmpdir[PATH_MAX], file[PATH_MAX], final[PATH_MAX];
    snprintf(tmpdir, sizeof tmpdir, "%s/.tmp-%ld", out, (long)getpid());
    snprintf(file, sizeof file, "%s/%s", tmpdir, ST_FILE_NAME);
    snprintf(final, sizeof final, "%s/%lld", out, (long long)version);
    struct stat sb;
    if (stat(final, &sb) == 0)
        return enc_errf(err, ENC_EINVAL, "%s already exists; versions are immutable", final);
    if (mkdir(tmpdir, 0755) != 0 && errno != EEXIST)
        return enc_errf(err, ENC_EIO, "mkdir %s: %s", tmpdir, strerror(errno));
    rc = st_writer_write(w, file, err);
    if (rc == 0 && rename(tmpdir, final) != 0)
        rc = enc_errf(err, ENC_EIO, "rename %s -> %s: %s", tmpdir, final, strerror(errno));
    if (rc) {
        unlink(file);
        rmdir(tmpdir);
        return rc;
    }
    if (version_out)
        *version_out = version;
    return 0;
}
