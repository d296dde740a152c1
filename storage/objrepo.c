/* objrepo.c - model repositories in object storage: publish, pin, prune,
 * fetch, and the server's mirror (see objrepo.h). */
#define _GNU_SOURCE
#include "objrepo.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/repo.h"
#include "core/st.h"
#include "s3.h"

#define MAX_REJECTED 64

/* ---- the listing, grouped by model -------------------------------------- */

struct mver {
    int64_t v;
    char etag[80];
    int64_t size;
};

struct mmodel {
    char name[REPO_NAME_MAX + 1];
    struct mver *v; /* complete versions, ascending after group() */
    size_t n, cap;
    int has_pin;
    char pin_etag[80];
};

static int64_t parse_version(const char *s, size_t len)
{
    if (len == 0 || len > 18 || *s == '0')
        return 0;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int cmp_ver(const void *a, const void *b)
{
    int64_t x = ((const struct mver *)a)->v, y = ((const struct mver *)b)->v;
    return x < y ? -1 : x > y;
}

static void models_free(struct mmodel *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(m[i].v);
    free(m);
}

/* Keys "PREFIX/NAME/VERSION/model.safetensors" and "PREFIX/NAME/pinned". */
static int group(const struct s3_object *o, size_t n, const char *prefix, struct mmodel **out,
                 size_t *nm, enc_err *err)
{
    *out = NULL;
    *nm = 0;
    size_t cap = 0, pl = strlen(prefix);
    for (size_t i = 0; i < n; i++) {
        const char *k = o[i].key;
        if (pl) {
            if (strncmp(k, prefix, pl) != 0 || k[pl] != '/')
                continue;
            k += pl + 1;
        }
        const char *s1 = strchr(k, '/');
        if (!s1 || (size_t)(s1 - k) > REPO_NAME_MAX)
            continue;
        char name[REPO_NAME_MAX + 1];
        snprintf(name, sizeof name, "%.*s", (int)(s1 - k), k);
        if (!repo_valid_name(name))
            continue;
        const char *rest = s1 + 1;
        int is_pin = !strcmp(rest, "pinned");
        const char *s2 = strchr(rest, '/');
        int64_t v = s2 ? parse_version(rest, (size_t)(s2 - rest)) : 0;
        int is_model = v > 0 && !strcmp(s2 + 1, ST_FILE_NAME);
        if (!is_pin && !is_model)
            continue; /* other files, or a version still being uploaded */
        struct mmodel *m = NULL;
        for (size_t j = 0; j < *nm; j++)
            if (!strcmp((*out)[j].name, name))
                m = &(*out)[j];
        if (!m) {
            if (*nm == cap) {
                cap = cap ? 2 * cap : 8;
                struct mmodel *nmod = realloc(*out, cap * sizeof *nmod);
                if (!nmod)
                    goto oom;
                *out = nmod;
            }
            m = &(*out)[(*nm)++];
            memset(m, 0, sizeof *m);
            snprintf(m->name, sizeof m->name, "%s", name);
        }
        if (is_pin) {
            m->has_pin = 1;
            snprintf(m->pin_etag, sizeof m->pin_etag, "%s", o[i].etag);
            continue;
        }
        if (m->n == m->cap) {
            m->cap = m->cap ? 2 * m->cap : 8;
            struct mver *nv = realloc(m->v, m->cap * sizeof *nv);
            if (!nv)
                goto oom;
            m->v = nv;
        }
        struct mver *mv = &m->v[m->n++];
        mv->v = v;
        mv->size = o[i].size;
        snprintf(mv->etag, sizeof mv->etag, "%s", o[i].etag);
    }
    for (size_t j = 0; j < *nm; j++)
        if ((*out)[j].n > 1)
            qsort((*out)[j].v, (*out)[j].n, sizeof *(*out)[j].v, cmp_ver);
    return 0;
oom:
    models_free(*out, *nm);
    *out = NULL;
    *nm = 0;
    return enc_errf(err, ENC_ENOMEM, "out of memory");
}

/* List one model ("s3://B/P/NAME"): its complete versions and pin. */
static int list_model(struct s3 *s, struct mmodel **m, size_t *nm, const char **name, enc_err *err)
{
    const char *p = s3_prefix(s);
    const char *slash = strrchr(p, '/');
    *name = slash ? slash + 1 : p;
    if (!repo_valid_name(*name))
        return enc_errf(err, ENC_EINVAL,
                        "s3://%s/%s: the last part must be a model name of "
                        "[A-Za-z0-9_.-]",
                        s3_bucket(s), p);
    char parent[1024], lp[1100];
    snprintf(parent, sizeof parent, "%.*s", slash ? (int)(slash - p) : 0, p);
    snprintf(lp, sizeof lp, "%s/", p);
    struct s3_object *o;
    size_t n;
    int rc = s3_list(s, lp, &o, &n, err);
    if (rc)
        return rc;
    rc = group(o, n, parent, m, nm, err);
    s3_objects_free(o, n);
    return rc;
}

static char *model_key(const struct s3 *s, int64_t version, const char *file)
{
    char *k = NULL;
    if (version > 0)
        return asprintf(&k, "%s/%lld/%s", s3_prefix(s), (long long)version, file) < 0 ? NULL : k;
    return asprintf(&k, "%s/%s", s3_prefix(s), file) < 0 ? NULL : k;
}

/* ---- the trainer's side -------------------------------------------------- */

int objrepo_publish(const char *file, const char *out, int64_t version, int64_t *version_out,
                    enc_err *err)
{
    struct s3 *s;
    int rc = s3_open(out, NULL, &s, err);
    if (rc)
        return rc;
    struct mmodel *m = NULL;
    size_t nm = 0;
    const char *name;
    if ((rc = list_model(s, &m, &nm, &name, err)) != 0)
        goto out;
    int64_t highest = nm && m[0].n ? m[0].v[m[0].n - 1].v : 0;
    if (version <= 0)
        version = highest + 1;
    for (size_t i = 0; nm && i < m[0].n; i++)
        if (m[0].v[i].v == version) {
            rc = enc_errf(err, ENC_EINVAL, "%s/%lld already exists; versions are immutable", out,
                          (long long)version);
            goto out;
        }
    char *key = model_key(s, version, ST_FILE_NAME);
    if (!key) {
        rc = enc_errf(err, ENC_ENOMEM, "out of memory");
        goto out;
    }
    /* The one file of a version, so its arrival is the completion marker. */
    rc = s3_put_file(s, key, file, err);
    free(key);
    if (rc == 0 && version_out)
        *version_out = version;
out:
    models_free(m, nm);
    s3_close(s);
    return rc;
}

int objrepo_pin(const char *model_url, int64_t version, enc_err *err)
{
    struct s3 *s;
    int rc = s3_open(model_url, NULL, &s, err);
    if (rc)
        return rc;
    char *key = model_key(s, 0, "pinned");
    struct mmodel *m = NULL;
    size_t nm = 0;
    const char *name;
    if (!key)
        rc = enc_errf(err, ENC_ENOMEM, "out of memory");
    else if (version <= 0)
        rc = s3_delete(s, key, err);
    else if ((rc = list_model(s, &m, &nm, &name, err)) == 0) {
        int found = 0;
        for (size_t i = 0; nm && i < m[0].n; i++)
            found |= m[0].v[i].v == version;
        if (!found)
            rc = enc_errf(err, ENC_ENOTFOUND, "%s: no complete version %lld to pin", model_url,
                          (long long)version);
        else {
            char text[32];
            int len = snprintf(text, sizeof text, "%lld\n", (long long)version);
            rc = s3_put_mem(s, key, text, (size_t)len, err);
        }
    }
    free(key);
    models_free(m, nm);
    s3_close(s);
    return rc;
}

static int read_remote_pin(struct s3 *s, int64_t *pin, enc_err *err)
{
    *pin = 0;
    char *key = model_key(s, 0, "pinned"), *text = NULL;
    size_t len;
    if (!key)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    int rc = s3_get_mem(s, key, 64, &text, &len, err);
    free(key);
    if (rc == ENC_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    char *e = text + len;
    while (e > text && (e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\r'))
        *--e = '\0';
    *pin = parse_version(text, strlen(text));
    rc = *pin > 0 ? 0 : enc_errf(err, ENC_EINVAL, "pinned: '%.20s' is not a version number", text);
    free(text);
    return rc;
}

int objrepo_prune(const char *model_url, int64_t keep, int64_t *removed, enc_err *err)
{
    if (removed)
        *removed = 0;
    if (keep < 1)
        return enc_errf(err, ENC_EINVAL, "versions to keep must be at least 1");
    struct s3 *s;
    int rc = s3_open(model_url, NULL, &s, err);
    if (rc)
        return rc;
    struct mmodel *m = NULL;
    size_t nm = 0;
    const char *name;
    int64_t pin = 0;
    if ((rc = list_model(s, &m, &nm, &name, err)) == 0 && nm && m[0].has_pin)
        rc = read_remote_pin(s, &pin, err);
    for (size_t i = 0; rc == 0 && nm && i + (size_t)keep < m[0].n; i++) {
        if (m[0].v[i].v == pin)
            continue;
        /* every object of the version, not only model.safetensors */
        char pfx[1100];
        snprintf(pfx, sizeof pfx, "%s/%lld/", s3_prefix(s), (long long)m[0].v[i].v);
        struct s3_object *o;
        size_t n;
        if ((rc = s3_list(s, pfx, &o, &n, err)) != 0)
            break;
        /* the model file first: the version stops being complete at once */
        for (int pass = 0; pass < 2 && rc == 0; pass++)
            for (size_t j = 0; j < n && rc == 0; j++) {
                size_t kl = strlen(o[j].key), fl = strlen(ST_FILE_NAME);
                int is_model = kl >= fl && !strcmp(o[j].key + kl - fl, ST_FILE_NAME);
                if (is_model == (pass == 0))
                    rc = s3_delete(s, o[j].key, err);
            }
        s3_objects_free(o, n);
        if (rc == 0 && removed)
            (*removed)++;
    }
    models_free(m, nm);
    s3_close(s);
    return rc;
}

int objrepo_fetch(const char *url, const char *dir, char **local, enc_err *err)
{
    *local = NULL;
    struct s3 *s;
    int rc = s3_open(url, NULL, &s, err);
    if (rc)
        return rc;
    const char *key = s3_prefix(s), *base = strrchr(key, '/');
    base = base ? base + 1 : key;
    if (!*base) {
        s3_close(s);
        return enc_errf(err, ENC_EINVAL, "%s: names no object", url);
    }
    if (asprintf(local, "%s/%s", dir, base) < 0) {
        *local = NULL;
        s3_close(s);
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    rc = s3_get_file(s, key, *local, NULL, err);
    if (rc) {
        unlink(*local);
        free(*local);
        *local = NULL;
    }
    s3_close(s);
    return rc;
}

static int mkdir_p(const char *path, enc_err *err)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return enc_errf(err, ENC_EIO, "mkdir %s: %s", buf, strerror(errno));
            *p = '/';
        }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return enc_errf(err, ENC_EIO, "mkdir %s: %s", buf, strerror(errno));
    return 0;
}

int objrepo_fetch_model(const char *model_url, const char *dir, char **local, enc_err *err)
{
    *local = NULL;
    struct s3 *s;
    int rc = s3_open(model_url, NULL, &s, err);
    if (rc)
        return rc;
    struct mmodel *m = NULL;
    size_t nm = 0;
    const char *name;
    int64_t want = 0;
    if ((rc = list_model(s, &m, &nm, &name, err)) == 0) {
        if (!nm || !m[0].n)
            rc = enc_errf(err, ENC_ENOTFOUND, "%s: no complete version", model_url);
        else if (m[0].has_pin)
            rc = read_remote_pin(s, &want, err);
        if (rc == 0 && !want)
            want = m[0].v[m[0].n - 1].v;
    }
    char *key = NULL;
    if (rc == 0 && asprintf(local, "%s/%s/%lld", dir, name, (long long)want) < 0)
        rc = enc_errf(err, ENC_ENOMEM, "out of memory");
    if (rc == 0 && (rc = mkdir_p(*local, err)) == 0) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", *local, ST_FILE_NAME);
        if (!(key = model_key(s, want, ST_FILE_NAME)))
            rc = enc_errf(err, ENC_ENOMEM, "out of memory");
        else
            rc = s3_get_file(s, key, path, NULL, err);
    }
    free(key);
    if (rc) {
        free(*local);
        *local = NULL;
    }
    models_free(m, nm);
    s3_close(s);
    return rc;
}

/* ---- objsync ----------------------------------------------------------------- */

struct rejected {
    char name[REPO_NAME_MAX + 1];
    int64_t version;
    char etag[80];
};

struct objsync {
    struct s3 *s3;
    char *cache;
    char *url;
    pthread_mutex_t mu; /* stats */
    struct objsync_stats st;
    struct rejected rej[MAX_REJECTED];
    int n_rej;
};

int objsync_new(const char *url, const char *endpoint, const char *cache_dir, struct objsync **out,
                enc_err *err)
{
    *out = NULL;
    struct objsync *s = calloc(1, sizeof *s);
    if (!s)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    int rc = s3_open(url, endpoint, &s->s3, err);
    if (rc == 0)
        rc = mkdir_p(cache_dir, err);
    if (rc == 0 && (!(s->cache = strdup(cache_dir)) || !(s->url = strdup(url))))
        rc = enc_errf(err, ENC_ENOMEM, "out of memory");
    if (rc) {
        objsync_free(s);
        return rc;
    }
    pthread_mutex_init(&s->mu, NULL);
    *out = s;
    return 0;
}

void objsync_free(struct objsync *s)
{
    if (!s)
        return;
    s3_close(s->s3);
    free(s->cache);
    free(s->url);
    if (s->cache || s->url)
        pthread_mutex_destroy(&s->mu);
    free(s);
}

void objsync_stats(struct objsync *s, struct objsync_stats *out)
{
    pthread_mutex_lock(&s->mu);
    *out = s->st;
    pthread_mutex_unlock(&s->mu);
}

static int is_rejected(struct objsync *s, const char *name, const struct mver *v)
{
    for (int i = 0; i < s->n_rej && i < MAX_REJECTED; i++)
        if (s->rej[i].version == v->v && !strcmp(s->rej[i].name, name) &&
            !strcmp(s->rej[i].etag, v->etag))
            return 1;
    return 0;
}

/* The ETag recorded beside a local version ("" if none or not there). */
static void local_etag(struct objsync *s, const char *name, int64_t v, char out[80])
{
    char path[PATH_MAX], model[PATH_MAX];
    out[0] = '\0';
    snprintf(model, sizeof model, "%s/%s/%lld/%s", s->cache, name, (long long)v, ST_FILE_NAME);
    snprintf(path, sizeof path, "%s/%s/%lld/.etag", s->cache, name, (long long)v);
    struct stat sb;
    if (stat(model, &sb) != 0)
        return;
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    if (!fgets(out, 80, f))
        out[0] = '\0';
    out[strcspn(out, "\n")] = '\0';
    fclose(f);
}

static void remove_tree2(const char *dir)
{
    char cmdpath[PATH_MAX + 16];
    /* a version directory holds two plain files */
    snprintf(cmdpath, sizeof cmdpath, "%s/%s", dir, ST_FILE_NAME);
    unlink(cmdpath);
    snprintf(cmdpath, sizeof cmdpath, "%s/.etag", dir);
    unlink(cmdpath);
    rmdir(dir);
}

/* Download version v of name, check it, and put it in place. 1 = new local
 * copy, 0 = rejected (counted), < 0 = could not download. */
static int fetch_version(struct objsync *s, const char *name, const struct mver *v, enc_err *err)
{
    char mdir[PATH_MAX], tmp[PATH_MAX], file[PATH_MAX + 32], final[PATH_MAX], old[PATH_MAX];
    snprintf(mdir, sizeof mdir, "%s/%s", s->cache, name);
    int rc = mkdir_p(mdir, err);
    if (rc)
        return rc;
    snprintf(tmp, sizeof tmp, "%s/.sync-XXXXXX", mdir);
    if (!mkdtemp(tmp))
        return enc_errf(err, ENC_EIO, "mkdtemp %s: %s", tmp, strerror(errno));
    chmod(tmp, 0755);
    snprintf(file, sizeof file, "%s/%s", tmp, ST_FILE_NAME);
    char *key = NULL;
    const char *p = s3_prefix(s->s3);
    if (asprintf(&key, "%s%s%s/%lld/%s", p, *p ? "/" : "", name, (long long)v->v, ST_FILE_NAME) <
        0) {
        rmdir(tmp);
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    char etag[80];
    rc = s3_get_file(s->s3, key, file, etag, err);
    free(key);
    struct stat sb;
    if (rc == 0 && (stat(file, &sb) != 0 || (int64_t)sb.st_size != v->size))
        rc = enc_errf(err, ENC_EFORMAT, "%lld bytes downloaded, the listing says %lld",
                      (long long)(rc == 0 ? sb.st_size : 0), (long long)v->size);
    st_file *f = NULL;
    if (rc == 0 && (rc = st_open(file, &f, err)) == 0) /* header and data SHA-256 */
        st_close(f);
    if (rc) {
        remove_tree2(tmp);
        int bad = rc == ENC_EFORMAT || rc == ENC_ECHECKSUM || rc == ENC_EUNSUPPORTED ||
                  rc == ENC_ERANGE || rc == ENC_EINVAL;
        if (!bad)
            return rc;
        pthread_mutex_lock(&s->mu);
        struct rejected *r = &s->rej[s->n_rej++ % MAX_REJECTED];
        s->st.rejected++;
        pthread_mutex_unlock(&s->mu);
        snprintf(r->name, sizeof r->name, "%s", name);
        r->version = v->v;
        snprintf(r->etag, sizeof r->etag, "%s", v->etag);
        return 0;
    }
    snprintf(old, sizeof old, "%s/.etag", tmp);
    FILE *ef = fopen(old, "w");
    if (ef) {
        fprintf(ef, "%s\n", v->etag);
        fclose(ef);
    }
    snprintf(final, sizeof final, "%s/%lld", mdir, (long long)v->v);
    if (stat(final, &sb) == 0) { /* a changed object: swap the directories */
        snprintf(old, sizeof old, "%s/.old-XXXXXX", mdir);
        if (mkdtemp(old)) {
            rmdir(old);
            if (rename(final, old) == 0)
                remove_tree2(old);
        }
    }
    if (rename(tmp, final) != 0) {
        rc = enc_errf(err, ENC_EIO, "rename %s -> %s: %s", tmp, final, strerror(errno));
        remove_tree2(tmp);
        return rc;
    }
    pthread_mutex_lock(&s->mu);
    s->st.downloads++;
    s->st.download_bytes += v->size;
    pthread_mutex_unlock(&s->mu);
    return 1;
}

static int sync_pin(struct objsync *s, const struct mmodel *m, int64_t *pin, int *changed,
                    enc_err *err)
{
    char path[PATH_MAX], tmp[PATH_MAX], etag_path[PATH_MAX], have[80] = "";
    snprintf(path, sizeof path, "%s/%s/pinned", s->cache, m->name);
    snprintf(etag_path, sizeof etag_path, "%s/%s/.pinned.etag", s->cache, m->name);
    *pin = 0;
    if (!m->has_pin) {
        if (unlink(path) == 0)
            *changed = 1;
        unlink(etag_path);
        return 0;
    }
    FILE *f = fopen(etag_path, "r");
    if (f) {
        if (!fgets(have, sizeof have, f))
            have[0] = '\0';
        have[strcspn(have, "\n")] = '\0';
        fclose(f);
    }
    char *key = NULL, *text = NULL;
    size_t len;
    const char *p = s3_prefix(s->s3);
    if (asprintf(&key, "%s%s%s/pinned", p, *p ? "/" : "", m->name) < 0)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    int rc = s3_get_mem(s->s3, key, 64, &text, &len, err);
    free(key);
    if (rc)
        return rc;
    char *e = text + len;
    while (e > text && (e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\r'))
        *--e = '\0';
    *pin = parse_version(text, strlen(text));
    char mdir[PATH_MAX];
    snprintf(mdir, sizeof mdir, "%s/%s", s->cache, m->name);
    if ((rc = mkdir_p(mdir, err)) == 0 && strcmp(have, m->pin_etag) != 0) {
        /* mirrored as is: a malformed pin is the registry's to report */
        snprintf(tmp, sizeof tmp, "%s/.pinned-XXXXXX", mdir);
        int fd = mkstemp(tmp);
        if (fd >= 0) {
            int ok =
                write(fd, text, strlen(text)) == (ssize_t)strlen(text) && write(fd, "\n", 1) == 1;
            fchmod(fd, 0644);
            close(fd);
            if (ok && rename(tmp, path) == 0) {
                *changed = 1;
                FILE *ef = fopen(etag_path, "w");
                if (ef) {
                    fprintf(ef, "%s\n", m->pin_etag);
                    fclose(ef);
                }
            } else
                unlink(tmp);
        }
    }
    free(text);
    return rc;
}

/* Versions present in the cache for `name`. */
static void local_versions(struct objsync *s, const char *name, int64_t **v, size_t *n)
{
    char dir[PATH_MAX];
    enc_err e = {0};
    snprintf(dir, sizeof dir, "%s/%s", s->cache, name);
    if (repo_list_versions(dir, v, n, &e) != 0) {
        *v = NULL;
        *n = 0;
    }
}

static int sync_model(struct objsync *s, const struct mmodel *m, objsync_refused_fn refused,
                      void *arg, int *changed, enc_err *err)
{
    int64_t pin = 0;
    int rc = sync_pin(s, m, &pin, changed, err);
    if (rc)
        return rc;
    /* The newest version neither the registry nor the check refused. */
    int64_t target = 0, fallback = 0;
    for (size_t i = m->n; i-- > 0;) {
        const struct mver *v = &m->v[i];
        if (is_rejected(s, m->name, v) || (refused && refused(arg, m->name, v->v)))
            continue;
        char have[80];
        local_etag(s, m->name, v->v, have);
        int local = !strcmp(have, v->etag);
        if (target) { /* the next valid one below: kept if already here */
            if (local)
                fallback = v->v;
            break;
        }
        if (!local) {
            int got = fetch_version(s, m->name, v, err);
            if (got < 0)
                return got;
            if (got == 0)
                continue; /* rejected: try the next lower */
            *changed = 1;
        }
        target = v->v;
    }
    /* The pinned version, if it exists in the bucket. */
    for (size_t i = 0; pin && i < m->n; i++)
        if (m->v[i].v == pin) {
            char have[80];
            local_etag(s, m->name, pin, have);
            if (strcmp(have, m->v[i].etag) != 0 && !is_rejected(s, m->name, &m->v[i])) {
                int got = fetch_version(s, m->name, &m->v[i], err);
                if (got < 0)
                    return got;
                *changed |= got;
            }
        }
    /* Drop local versions that left the bucket or are no longer needed
     * (the served file stays mapped until its last request is done). */
    int64_t *lv;
    size_t ln;
    local_versions(s, m->name, &lv, &ln);
    for (size_t i = 0; i < ln; i++) {
        int in_bucket = 0;
        for (size_t j = 0; j < m->n; j++)
            in_bucket |= m->v[j].v == lv[i];
        /* above the target: refused versions, kept so that the registry
         * remembers them as refused instead of being offered them again */
        int keep = in_bucket && (!target || lv[i] >= target || lv[i] == pin || lv[i] == fallback);
        if (!keep) {
            char dir[PATH_MAX];
            snprintf(dir, sizeof dir, "%s/%s/%lld", s->cache, m->name, (long long)lv[i]);
            remove_tree2(dir);
            *changed = 1;
        }
    }
    free(lv);
    return 0;
}

int objsync_run(struct objsync *s, objsync_refused_fn refused, void *arg, char ***changed,
                size_t *n_changed, enc_err *err)
{
    if (changed) {
        *changed = NULL;
        *n_changed = 0;
    }
    struct s3_object *o = NULL;
    size_t n = 0;
    const char *p = s3_prefix(s->s3);
    char lp[1100];
    snprintf(lp, sizeof lp, "%s%s", p, *p ? "/" : "");
    int rc = s3_list(s->s3, lp, &o, &n, err);
    struct mmodel *m = NULL;
    size_t nm = 0;
    if (rc == 0) {
        rc = group(o, n, p, &m, &nm, err);
        s3_objects_free(o, n);
    }
    for (size_t i = 0; rc == 0 && i < nm; i++) {
        int ch = 0;
        enc_err e = {0};
        int mrc = sync_model(s, &m[i], refused, arg, &ch, &e);
        if (mrc) { /* one model's trouble does not stop the others */
            rc = enc_errf(err, mrc, "model %s: %s", m[i].name, e.msg);
        }
        if (ch && changed) {
            char **nc = realloc(*changed, (*n_changed + 1) * sizeof *nc);
            if (nc) {
                *changed = nc;
                if ((nc[*n_changed] = strdup(m[i].name)))
                    (*n_changed)++;
            }
        }
    }
    models_free(m, nm);
    pthread_mutex_lock(&s->mu);
    if (rc) {
        s->st.failures++;
        s->st.consecutive_failures++;
    } else {
        s->st.syncs++;
        s->st.consecutive_failures = 0;
        s->st.last_success = (int64_t)time(NULL);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}
