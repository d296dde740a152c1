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

int repo_contains(const char *repo, const char *path, enc_err *err)
{
    char root[PATH_MAX], real[PATH_MAX];
    if (!realpath(repo, root))
        return enc_errf(err, errno == ENOENT ? ENC_ENOTFOUND : ENC_EIO, "%s: %s", repo,
                        strerror(errno));
    if (!realpath(path, real))
        return enc_errf(err, errno == ENOENT ? ENC_ENOTFOUND : ENC_EIO, "%s: %s", path,
                        strerror(errno));
    size_t n = strlen(root);
    if (n == 1) /* the repository is "/": everything is inside */
        return 0;
    if (strncmp(real, root, n) != 0 || real[n] != '/')
        return enc_errf(err, ENC_EFORBIDDEN,
                        "%s: a symlink leads outside the model repository "
                        "(to %s); refused",
                        path, real);
    return 0;
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
    if (S_ISREG(sb.st_mode)) { /* a model file named directly */
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
    if (v > 0) { /* .../NAME/VERSION */
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
    } else { /* .../NAME: the highest version */
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

static repo_remote_publish_fn remote_publish;

void repo_set_remote_publisher(repo_remote_publish_fn fn)
{
    remote_publish = fn;
}

int repo_is_url(const char *path)
{
    return !strncmp(path, "s3://", 5) || !strncmp(path, "gs://", 5);
}

/* Write `w` into a fresh temp dir and hand the file to the remote publisher. */
static int publish_remote(st_writer *w, const char *src, const char *out, int64_t version,
                          int64_t *version_out, enc_err *err)
{
    if (!remote_publish)
        return enc_errf(err, ENC_EUNSUPPORTED,
                        "--out %s: object storage is not available in "
                        "this program",
                        out);
    if (src)
        return remote_publish(src, out, version, version_out, err);
    const char *t = getenv("TMPDIR");
    char dir[PATH_MAX], file[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/encore-publish-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir))
        return enc_errf(err, ENC_EIO, "mkdtemp %s: %s", dir, strerror(errno));
    snprintf(file, sizeof file, "%s/%s", dir, ST_FILE_NAME);
    int rc = st_writer_write(w, file, err);
    if (rc == 0)
        rc = remote_publish(file, out, version, version_out, err);
    unlink(file);
    rmdir(dir);
    return rc;
}

static int copy_file(const char *src, const char *dst, enc_err *err)
{
    FILE *in = fopen(src, "rb");
    if (!in)
        return enc_errf(err, ENC_ENOTFOUND, "%s: %s", src, strerror(errno));
    FILE *o = fopen(dst, "wb");
    if (!o) {
        fclose(in);
        return enc_errf(err, ENC_EIO, "%s: %s", dst, strerror(errno));
    }
    char buf[1 << 16];
    size_t n;
    int ok = 1;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, o) != n) {
            ok = 0;
            break;
        }
    ok = ok && !ferror(in);
    fclose(in);
    ok = fclose(o) == 0 && ok;
    return ok ? 0 : enc_errf(err, ENC_EIO, "copying %s to %s: %s", src, dst, strerror(errno));
}

static int publish_local(st_writer *w, const char *src, const char *out, int64_t version,
                         int64_t *version_out, enc_err *err);

int repo_publish(st_writer *w, const char *out, int64_t version, int64_t *version_out, enc_err *err)
{
    if (repo_is_url(out))
        return publish_remote(w, NULL, out, version, version_out, err);
    return publish_local(w, NULL, out, version, version_out, err);
}

int repo_publish_file(const char *src, const char *out, int64_t version, int64_t *version_out,
                      enc_err *err)
{
    if (repo_is_url(out))
        return publish_remote(NULL, src, out, version, version_out, err);
    return publish_local(NULL, src, out, version, version_out, err);
}

static int publish_local(st_writer *w, const char *src, const char *out, int64_t version,
                         int64_t *version_out, enc_err *err)
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
    /* mkdtemp, not the PID: every container's trainer is PID 1. */
    snprintf(tmpdir, sizeof tmpdir, "%s/.tmp-XXXXXX", out);
    snprintf(final, sizeof final, "%s/%lld", out, (long long)version);
    struct stat sb;
    if (stat(final, &sb) == 0)
        return enc_errf(err, ENC_EINVAL, "%s already exists; versions are immutable", final);
    if (!mkdtemp(tmpdir))
        return enc_errf(err, ENC_EIO, "mkdtemp %s: %s", tmpdir, strerror(errno));
    chmod(tmpdir, 0755); /* mkdtemp makes it 0700; servers run as another user */
    snprintf(file, sizeof file, "%s/%s", tmpdir, ST_FILE_NAME);
    rc = w ? st_writer_write(w, file, err) : copy_file(src, file, err);
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

#define PIN_FILE "pinned"

int repo_read_pin(const char *model_dir, int64_t *version, enc_err *err)
{
    char path[PATH_MAX], text[64];
    *version = 0;
    snprintf(path, sizeof path, "%s/%s", model_dir, PIN_FILE);
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT || errno == ENOTDIR
                   ? 0
                   : enc_errf(err, ENC_EIO, "%s: %s", path, strerror(errno));
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    char *s = text, *e = text + n;
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
        *--e = '\0';
    int64_t v = parse_version(s);
    if (v <= 0)
        return enc_errf(err, ENC_EINVAL,
                        "%s: '%.20s' is not a version number (a pin file holds one "
                        "positive integer)",
                        path, s);
    *version = v;
    return 0;
}

int repo_write_pin(const char *model_dir, int64_t version, enc_err *err)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", model_dir, PIN_FILE);
    if (version <= 0) {
        if (unlink(path) != 0 && errno != ENOENT)
            return enc_errf(err, ENC_EIO, "unlink %s: %s", path, strerror(errno));
        return 0;
    }
    char vdir[PATH_MAX];
    struct stat sb;
    snprintf(vdir, sizeof vdir, "%s/%lld/%s", model_dir, (long long)version, ST_FILE_NAME);
    if (stat(vdir, &sb) != 0)
        return enc_errf(err, ENC_ENOTFOUND, "%s: no version %lld to pin", model_dir,
                        (long long)version);
    snprintf(tmp, sizeof tmp, "%s/.pinned-XXXXXX", model_dir);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return enc_errf(err, ENC_EIO, "mkstemp %s: %s", tmp, strerror(errno));
    char text[32];
    int len = snprintf(text, sizeof text, "%lld\n", (long long)version);
    int ok = write(fd, text, (size_t)len) == len && fchmod(fd, 0644) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return enc_errf(err, ENC_EIO, "writing %s: %s", path, strerror(e));
    }
    return 0;
}

int repo_remove_version(const char *model_dir, int64_t version, enc_err *err)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/%lld", model_dir, (long long)version);
    DIR *d = opendir(dir);
    if (!d)
        return enc_errf(err, errno == ENOENT ? ENC_ENOTFOUND : ENC_EIO, "%s: %s", dir,
                        strerror(errno));
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char path[PATH_MAX + 256];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    if (rmdir(dir) != 0)
        return enc_errf(err, ENC_EIO, "rmdir %s: %s", dir, strerror(errno));
    return 0;
}

int repo_prune(const char *model_dir, int64_t keep, int64_t *removed, enc_err *err)
{
    if (removed)
        *removed = 0;
    if (keep < 1)
        return enc_errf(err, ENC_EINVAL, "versions to keep must be at least 1");
    int64_t pin = 0, *v;
    size_t n;
    int rc = repo_read_pin(model_dir, &pin, err);
    if (rc)
        return rc;
    if ((rc = repo_list_versions(model_dir, &v, &n, err)) != 0)
        return rc;
    for (size_t i = 0; i + (size_t)keep < n; i++) {
        if (v[i] == pin)
            continue;
        if ((rc = repo_remove_version(model_dir, v[i], err)) != 0)
            break;
        if (removed)
            (*removed)++;
    }
    free(v);
    return rc;
}
