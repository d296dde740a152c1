/* registry.c - loaded models by name, with atomic version swaps (see registry.h). */
#include "registry.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/repo.h"
#include "families.h"
#include "log.h"

#define MAX_KEPT 100

struct entry {
    char *name;
    struct model *versions[MAX_KEPT];   /* [0] = current (highest), then older */
    int n;
    int64_t failures;                   /* versions of this name refused */
    int64_t refused_version;            /* last refused, with its file's */
    int64_t refused_size, refused_mtime_ns;   /* size and mtime */
};

struct registry {
    char *repo;
    int kept;
    struct model_load_opts opts;   /* every load's; the family table is static */
    pthread_mutex_t mu;
    struct entry *e;
    int n, cap;
    struct registry_stats stats;
};

int registry_new(const char *repo, int versions_kept, const struct model_load_opts *opts,
                 struct registry **out, enc_err *err)
{
    struct registry *r = calloc(1, sizeof *r);
    if (!r || !(r->repo = strdup(repo))) {
        free(r);
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    r->kept = versions_kept < 1 ? 1 : versions_kept > MAX_KEPT ? MAX_KEPT : versions_kept;
    r->opts = opts ? *opts : model_default_opts;
    pthread_mutex_init(&r->mu, NULL);
    *out = r;
    return 0;
}

void registry_free(struct registry *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->n; i++) {
        for (int v = 0; v < r->e[i].n; v++)
            model_unref(r->e[i].versions[v]);
        free(r->e[i].name);
    }
    free(r->e);
    pthread_mutex_destroy(&r->mu);
    free(r->repo);
    free(r);
}

static struct entry *find(struct registry *r, const char *name)
{
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->e[i].name, name) == 0)
            return &r->e[i];
    return NULL;
}

/* The entry for `name`, created if needed; NULL when out of memory. Locked. */
static struct entry *find_or_add(struct registry *r, const char *name)
{
    struct entry *e = find(r, name);
    if (e)
        return e;
    if (r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 8;
        struct entry *ne = realloc(r->e, (size_t)cap * sizeof *ne);
        if (!ne)
            return NULL;
        r->e = ne;
        r->cap = cap;
    }
    e = &r->e[r->n];
    memset(e, 0, sizeof *e);
    if (!(e->name = strdup(name)))
        return NULL;
    r->n++;
    return e;
}

void registry_install(struct registry *r, struct model *m)
{
    struct model *dropped[MAX_KEPT];
    int nd = 0;
    pthread_mutex_lock(&r->mu);
    struct entry *e = find_or_add(r, m->name);
    if (!e) {
        pthread_mutex_unlock(&r->mu);
        slog("error", "model %s: out of memory installing version %lld", m->name,
             (long long)m->version);
        model_unref(m);
        return;
    }
    if (e->n > 0 && m->version > e->versions[0]->version)
        r->stats.reloads++;   /* a newer version replaces the one served */
    /* Keep versions sorted, newest first; drop same-version duplicates. */
    for (int i = 0; i < e->n; i++)
        if (e->versions[i]->version == m->version) {
            dropped[nd++] = e->versions[i];
            memmove(&e->versions[i], &e->versions[i + 1], (size_t)(e->n - i - 1) * sizeof(void *));
            e->n--;
            break;
        }
    int pos = 0;
    while (pos < e->n && e->versions[pos]->version > m->version)
        pos++;
    memmove(&e->versions[pos + 1], &e->versions[pos], (size_t)(e->n - pos) * sizeof(void *));
    e->versions[pos] = m;
    e->n++;
    while (e->n > r->kept)
        dropped[nd++] = e->versions[--e->n];
    pthread_mutex_unlock(&r->mu);
    /* Outside the lock: frees only if no request still holds them. */
    for (int i = 0; i < nd; i++)
        model_unref(dropped[i]);
}

static int load_version(struct registry *r, const char *name, int64_t version, struct model **out,
                        enc_err *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s/%lld/%s", r->repo, name, (long long)version, ST_FILE_NAME);
    struct model *m = NULL;
    int rc = model_load(name, version, path, &r->opts, &m, err);
    struct stat sb;
    int have_stat = rc && stat(path, &sb) == 0;
    pthread_mutex_lock(&r->mu);
    if (rc) {
        r->stats.load_failures++;
        struct entry *e = find_or_add(r, name);
        if (e) {
            e->failures++;
            e->refused_version = version;
            e->refused_size = have_stat ? (int64_t)sb.st_size : -1;
            e->refused_mtime_ns =
                have_stat ? (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec : -1;
        }
    } else {
        r->stats.loads++;
        r->stats.last_load_seconds = m->load_seconds;
    }
    pthread_mutex_unlock(&r->mu);
    if (rc) {
        slog("error", "model %s version %lld refused (the served version, if any, keeps serving): %s",
             name, (long long)version, err->msg);
        return rc;
    }
    slog("info", "model %s version %lld loaded (%s, %.1f ms)", name, (long long)version,
         m->ops->family, m->load_seconds * 1e3);
    *out = m;
    return 0;
}

int registry_load_all(struct registry *r, enc_err *err)
{
    char **names;
    size_t n;
    int rc = repo_list_models(r->repo, &names, &n, err);
    if (rc)
        return rc;
    int loaded = 0;
    for (size_t i = 0; i < n; i++) {
        enc_err e = {0};
        if (registry_reload(r, names[i], 0, &e) >= 0)
            loaded++;
        free(names[i]);
    }
    free(names);
    return loaded;
}

/* 1 if REPO/NAME/want was refused before and its file has not changed. */
static int known_refused(struct registry *r, const char *name, int64_t want)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s/%lld/%s", r->repo, name, (long long)want, ST_FILE_NAME);
    struct stat sb;
    if (stat(path, &sb) != 0)
        return 0;
    int64_t mt = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
    pthread_mutex_lock(&r->mu);
    struct entry *e = find(r, name);
    int same = e && e->refused_version == want && e->refused_size == (int64_t)sb.st_size &&
               e->refused_mtime_ns == mt;
    pthread_mutex_unlock(&r->mu);
    return same;
}

int registry_prepare(struct registry *r, const char *name, int64_t version, int retry,
                     struct model **out, enc_err *err)
{
    *out = NULL;
    if (!repo_valid_name(name))
        return enc_errf(err, ENC_EINVAL, "invalid model name");
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/%s", r->repo, name);
    int64_t want = version;
    if (want <= 0) {
        int rc = repo_latest_version(dir, &want, err);
        if (rc) {   /* a directory without versions yet is normal mid-rollout */
            slog(rc == ENC_ENOTFOUND ? "warn" : "error", "model %s: %s", name, err->msg);
            return rc;
        }
    }
    struct model *cur = registry_get(r, name, version > 0 ? version : 0);
    int64_t have = cur ? cur->version : 0;
    model_unref(cur);
    if (version > 0 ? have == want : have >= want)
        return 0;
    if (!retry && known_refused(r, name, want))
        return 0;   /* refused before, unchanged: logged and counted once */
    int rc = load_version(r, name, want, out, err);
    return rc ? rc : 1;
}

int registry_reload(struct registry *r, const char *name, int64_t version, enc_err *err)
{
    struct model *m;
    int rc = registry_prepare(r, name, version, 1, &m, err);
    if (rc == 1)
        registry_install(r, m);
    return rc;
}

struct model *registry_get(struct registry *r, const char *name, int64_t version)
{
    struct model *m = NULL;
    pthread_mutex_lock(&r->mu);
    struct entry *e = find(r, name);
    if (e && e->n) {
        if (version <= 0)
            m = e->versions[0];
        else
            for (int i = 0; i < e->n; i++)
                if (e->versions[i]->version == version)
                    m = e->versions[i];
        model_ref(m);
    }
    pthread_mutex_unlock(&r->mu);
    return m;
}

int registry_count(struct registry *r)
{
    pthread_mutex_lock(&r->mu);
    int n = 0;
    for (int i = 0; i < r->n; i++)
        n += r->e[i].n > 0;
    pthread_mutex_unlock(&r->mu);
    return n;
}

char **registry_names(struct registry *r, int *n)
{
    pthread_mutex_lock(&r->mu);
    char **names = calloc((size_t)r->n + 1, sizeof *names);
    *n = 0;
    for (int i = 0; names && i < r->n; i++)
        if (r->e[i].n && (names[*n] = strdup(r->e[i].name)))
            (*n)++;
    pthread_mutex_unlock(&r->mu);
    return names;
}

json_t *registry_list(struct registry *r)
{
    json_t *arr = json_array();
    int n;
    char **names = registry_names(r, &n);
    for (int i = 0; i < n; i++) {
        struct model *m = registry_get(r, names[i], 0);
        if (m) {
            json_array_append_new(arr, model_describe(m));
            model_unref(m);
        }
        free(names[i]);
    }
    free(names);
    return arr;
}

json_t *registry_describe(struct registry *r, const char *name)
{
    struct model *ms[MAX_KEPT];
    int n = 0;
    int64_t failures = 0;
    pthread_mutex_lock(&r->mu);
    struct entry *e = find(r, name);
    for (int i = 0; e && i < e->n; i++)
        ms[n++] = model_ref(e->versions[i]);
    if (e)
        failures = e->failures;
    pthread_mutex_unlock(&r->mu);
    if (n == 0)
        return NULL;
    json_t *o = model_describe(ms[0]);
    json_t *vs = json_array();
    for (int i = 0; i < n; i++) {
        json_t *v = json_object();
        json_object_set_new(v, "version", json_integer(ms[i]->version));
        json_object_set_new(v, "data_sha256", json_string(st_file_sha256(ms[i]->file)));
        json_object_set_new(v, "loaded_at", json_integer(ms[i]->loaded_at));
        json_object_set_new(v, "load_seconds", json_real(ms[i]->load_seconds));
        json_object_set_new(v, "state", json_string(i == 0 ? "serving" : "loaded"));
        json_array_append_new(vs, v);
        model_unref(ms[i]);
    }
    json_object_set_new(o, "versions", vs);
    json_object_set_new(o, "load_failures", json_integer(failures));
    return o;
}

void registry_stats(struct registry *r, struct registry_stats *out)
{
    pthread_mutex_lock(&r->mu);
    *out = r->stats;
    pthread_mutex_unlock(&r->mu);
}

void registry_foreach(struct registry *r,
                      void (*fn)(void *arg, const struct model *m, int current, int64_t failures),
                      void *arg)
{
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->n; i++) {
        for (int v = 0; v < r->e[i].n; v++)
            fn(arg, r->e[i].versions[v], v == 0, r->e[i].failures);
    }
    pthread_mutex_unlock(&r->mu);
}
