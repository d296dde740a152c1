/* registry.c - loaded models by name, with atomic version swaps (see registry.h). */
#include "registry.h"

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/repo.h"
#include "families.h"
#include "log.h"

#define MAX_KEPT 100
#define MAX_REFUSED 16

/* A refused version and its file's size and mtime when it was refused: while
 * they are unchanged the version is not tried (logged, counted) again. */
struct refusal {
    int64_t version, size, mtime_ns;
};

struct entry {
    char *name;
    struct model *versions[MAX_KEPT]; /* [0] = served, then others, most recent first */
    int n;
    int64_t failures;                    /* versions of this name refused */
    int64_t pin;                         /* this replica's pin (admin reload), 0 = none */
    int64_t repo_pin;                    /* REPO/NAME/pinned when last read, 0 = none */
    struct refusal refused[MAX_REFUSED]; /* a ring */
    int n_refused;
};

struct registry {
    char *repo;
    int kept;
    struct model_load_opts opts; /* every load's; the family table is static */
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
    if (e->n > 0 && m->version != e->versions[0]->version)
        r->stats.reloads++; /* another version replaces the one served */
    /* The new one is served ([0]); the rest keep their order (most recently
     * served first); a loaded copy of the same version is replaced. */
    for (int i = 0; i < e->n; i++)
        if (e->versions[i]->version == m->version) {
            dropped[nd++] = e->versions[i];
            memmove(&e->versions[i], &e->versions[i + 1], (size_t)(e->n - i - 1) * sizeof(void *));
            e->n--;
            break;
        }
    memmove(&e->versions[1], &e->versions[0], (size_t)e->n * sizeof(void *));
    e->versions[0] = m;
    e->n++;
    while (e->n > r->kept)
        dropped[nd++] = e->versions[--e->n];
    pthread_mutex_unlock(&r->mu);
    /* Outside the lock: frees only if no request still holds them. */
    for (int i = 0; i < nd; i++)
        model_unref(dropped[i]);
}

static int64_t mtime_ns(const struct stat *sb)
{
    return (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
}

static int load_version(struct registry *r, const char *name, int64_t version, struct model **out,
                        enc_err *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s/%lld/%s", r->repo, name, (long long)version, ST_FILE_NAME);
    struct model *m = NULL;
    int rc = repo_contains(r->repo, path, err);
    if (rc == 0)
        rc = model_load(name, version, path, &r->opts, &m, err);
    struct stat sb;
    int have_stat = rc && stat(path, &sb) == 0;
    pthread_mutex_lock(&r->mu);
    if (rc) {
        r->stats.load_failures++;
        struct entry *e = find_or_add(r, name);
        if (e) {
            e->failures++;
            struct refusal *f = &e->refused[e->n_refused++ % MAX_REFUSED];
            f->version = version;
            f->size = have_stat ? (int64_t)sb.st_size : -1;
            f->mtime_ns = have_stat ? mtime_ns(&sb) : -1;
        }
    } else {
        r->stats.loads++;
        r->stats.last_load_seconds = m->load_seconds;
    }
    pthread_mutex_unlock(&r->mu);
    if (rc) {
        slog("error",
             "model %s version %lld refused (the served version, if any, keeps serving): %s", name,
             (long long)version, err->msg);
        malloc_trim(0); /* what a refused file made the loader allocate goes back to the OS */
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
    pthread_mutex_lock(&r->mu);
    struct entry *e = find(r, name);
    int same = 0;
    for (int i = 0; e && i < e->n_refused && i < MAX_REFUSED && !same; i++)
        same = e->refused[i].version == want && e->refused[i].size == (int64_t)sb.st_size &&
               e->refused[i].mtime_ns == mtime_ns(&sb);
    pthread_mutex_unlock(&r->mu);
    return same;
}

int registry_refused(struct registry *r, const char *name, int64_t version)
{
    return known_refused(r, name, version);
}

/* The served version of name (0: none) and, with `version` > 0, a reference
 * to that exact version if it is loaded. */
static int64_t served(struct registry *r, const char *name, int64_t version, struct model **loaded)
{
    int64_t have = 0;
    if (loaded)
        *loaded = NULL;
    pthread_mutex_lock(&r->mu);
    struct entry *e = find(r, name);
    if (e && e->n)
        have = e->versions[0]->version;
    for (int i = 0; e && loaded && i < e->n; i++)
        if (e->versions[i]->version == version)
            *loaded = model_ref(e->versions[i]);
    pthread_mutex_unlock(&r->mu);
    return have;
}

static void set_pins(struct registry *r, const char *name, int64_t pin, int64_t repo_pin)
{
    pthread_mutex_lock(&r->mu);
    struct entry *e = find_or_add(r, name);
    if (e) {
        if (pin >= 0)
            e->pin = pin;
        if (repo_pin >= 0)
            e->repo_pin = repo_pin;
    }
    pthread_mutex_unlock(&r->mu);
}

void registry_pin(struct registry *r, const char *name, int64_t version)
{
    set_pins(r, name, version, -1);
    slog("info", "model %s pinned to version %lld on this replica", name, (long long)version);
}

/* Make exactly `want` the one to serve: already served (0), loaded but not
 * served (1, *out = a new reference), or load it (1 or a negative code). */
static int prepare_exact(struct registry *r, const char *name, int64_t want, int retry,
                         struct model **out, enc_err *err)
{
    struct model *loaded;
    if (served(r, name, want, &loaded) == want) {
        model_unref(loaded);
        return 0;
    }
    if (loaded) {
        *out = loaded;
        return 1;
    }
    char path[PATH_MAX];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s/%lld/%s", r->repo, name, (long long)want, ST_FILE_NAME);
    if (stat(path, &sb) != 0)
        return enc_errf(err, ENC_ENOTFOUND, "no version %lld of model %s (%s)", (long long)want,
                        name, strerror(errno));
    if (!retry && known_refused(r, name, want))
        return 0; /* refused before, unchanged: logged and counted once */
    int rc = load_version(r, name, want, out, err);
    return rc ? rc : 1;
}

int registry_prepare(struct registry *r, const char *name, int64_t version, int flags,
                     struct model **out, enc_err *err)
{
    *out = NULL;
    if (!repo_valid_name(name))
        return enc_errf(err, ENC_EINVAL, "invalid model name");
    int retry = flags & REG_RETRY;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/%s", r->repo, name);
    if (flags & REG_UNPIN)
        set_pins(r, name, 0, -1);
    if (version > 0) { /* an exact version: the admin route pins it */
        int rc = prepare_exact(r, name, version, 1, out, err);
        if (rc >= 0 && (flags & REG_PIN))
            registry_pin(r, name, version);
        return rc;
    }
    /* The pin in force: this replica's, else the repository's. */
    int64_t pin = 0, repo_pin = 0, repo_pin_before = 0;
    pthread_mutex_lock(&r->mu);
    struct entry *e = find(r, name);
    if (e) {
        pin = e->pin;
        repo_pin_before = e->repo_pin;
    }
    pthread_mutex_unlock(&r->mu);
    int rc = repo_read_pin(dir, &repo_pin, err);
    if (rc) { /* half-written or wrong: serve what is served, say why */
        slog("error", "model %s: %s; the served version (if any) stays", name, err->msg);
        return rc;
    }
    if (repo_pin != repo_pin_before) {
        set_pins(r, name, -1, repo_pin);
        if (repo_pin)
            slog("info", "model %s: repository pin: version %lld", name, (long long)repo_pin);
        else
            slog("info", "model %s: repository pin removed", name);
    }
    if (!pin)
        pin = repo_pin;
    if (pin)
        return prepare_exact(r, name, pin, retry, out, err);
    /* No pin: the highest version that loads. A refused one is logged and
     * counted, and the next lower one is tried, down to the one served. */
    int64_t *vs;
    size_t n;
    rc = repo_list_versions(dir, &vs, &n, err);
    if (rc == 0 && n == 0) {
        free(vs);
        rc = enc_errf(err, ENC_ENOTFOUND, "%s: no version directory with a %s", dir, ST_FILE_NAME);
    }
    if (rc) { /* a directory without versions yet is normal mid-rollout */
        slog(rc == ENC_ENOTFOUND ? "warn" : "error", "model %s: %s", name, err->msg);
        return rc;
    }
    int64_t have = served(r, name, 0, NULL);
    int result = 0, passed_over = 0;
    for (size_t i = n; i-- > 0;) {
        if (vs[i] == have)
            break; /* keeps serving; result says whether a newer one was refused */
        rc = prepare_exact(r, name, vs[i], retry, out, err);
        if (rc == 1) {
            if (passed_over)
                slog("warn", "model %s: version %lld is the highest that loads; serving it", name,
                     (long long)vs[i]);
            result = 1;
            break;
        }
        passed_over = 1; /* refused now (rc < 0) or before (rc 0) */
        if (rc < 0)
            result = rc;
    }
    free(vs);
    return result;
}

int registry_reload(struct registry *r, const char *name, int64_t version, enc_err *err)
{
    struct model *m;
    int rc = registry_prepare(r, name, version, REG_RETRY | REG_PIN, &m, err);
    if (rc == 1)
        registry_install(r, m);
    return rc;
}

int registry_ready(struct registry *r, int all, char *missing, size_t len)
{
    int served = 0, unserved = 0;
    size_t off = 0;
    if (missing && len)
        missing[0] = '\0';
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->n; i++) {
        if (r->e[i].n) {
            served++;
            continue;
        }
        unserved++;
        if (missing && off + 1 < len) {
            int w = snprintf(missing + off, len - off, "%s%s", off ? ", " : "", r->e[i].name);
            off = w > 0 && off + (size_t)w < len ? off + (size_t)w : len - 1;
        }
    }
    pthread_mutex_unlock(&r->mu);
    return served > 0 && (!all || unserved == 0);
}

int registry_known(struct registry *r, const char *name)
{
    pthread_mutex_lock(&r->mu);
    int known = find(r, name) != NULL;
    pthread_mutex_unlock(&r->mu);
    return known;
}

void registry_forget(struct registry *r, const char *name)
{
    pthread_mutex_lock(&r->mu);
    struct entry *e = find(r, name);
    if (e && e->n == 0) {
        free(e->name);
        *e = r->e[--r->n];
    }
    pthread_mutex_unlock(&r->mu);
}

int registry_retire_faulted(struct registry *r, char (*names)[REPO_NAME_MAX + 1], int max)
{
    struct model *dropped[MAX_KEPT];
    int nd = 0, nn = 0;
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->n; i++) {
        struct entry *e = &r->e[i];
        int named = 0;
        for (int v = 0; v < e->n && nd < MAX_KEPT;) {
            if (!st_file_faulted(e->versions[v]->file)) {
                v++;
                continue;
            }
            dropped[nd++] = e->versions[v];
            memmove(&e->versions[v], &e->versions[v + 1], (size_t)(e->n - v - 1) * sizeof(void *));
            e->n--;
            if (!named && nn < max) {
                snprintf(names[nn++], REPO_NAME_MAX + 1, "%s", e->name);
                named = 1;
            }
        }
    }
    pthread_mutex_unlock(&r->mu);
    for (int i = 0; i < nd; i++) {
        slog("error",
             "model %s version %lld: its file %s shrank while being served (truncated or "
             "rewritten in place); the version is retired",
             dropped[i]->name, (long long)dropped[i]->version, dropped[i]->path);
        model_unref(dropped[i]);
    }
    return nn;
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
    for (int i = 0; names && i < r->n; i++) {
        if (!r->e[i].n)
            continue;
        if (!(names[*n] = strdup(r->e[i].name))) { /* all or nothing */
            while (*n > 0)
                free(names[--*n]);
            free(names);
            names = NULL;
            break;
        }
        (*n)++;
    }
    pthread_mutex_unlock(&r->mu);
    return names;
}

/* model_describe with the file's path relative to the repository
 * ("NAME/VERSION/model.safetensors"): inference clients see these, and the
 * server's own directories are none of their business. */
static json_t *describe(struct registry *r, const struct model *m)
{
    json_t *o = model_describe(m);
    if (!o)
        return NULL;
    size_t n = strlen(r->repo);
    if (!strncmp(m->path, r->repo, n) && m->path[n] == '/') {
        if (json_object_set_new(o, "path", json_string(m->path + n + 1))) {
            json_decref(o); /* out of memory: never the absolute path instead */
            return NULL;
        }
    } else
        json_object_del(o, "path");
    return o;
}

json_t *registry_list(struct registry *r)
{
    json_t *arr = json_array();
    int n, bad = !arr;
    char **names = registry_names(r, &n);
    bad |= !names;
    for (int i = 0; names && i < n; i++) {
        struct model *m = registry_get(r, names[i], 0);
        if (m) { /* (forgotten between the two calls: not listed) */
            bad |= json_array_append_new(arr, describe(r, m));
            model_unref(m);
        }
        free(names[i]);
    }
    free(names);
    if (bad) { /* out of memory: no list rather than a short one */
        json_decref(arr);
        return NULL;
    }
    return arr;
}

json_t *registry_describe(struct registry *r, const char *name)
{
    struct model *ms[MAX_KEPT];
    int n = 0;
    int64_t failures = 0, pin = 0, repo_pin = 0;
    pthread_mutex_lock(&r->mu);
    struct entry *e = find(r, name);
    for (int i = 0; e && i < e->n; i++)
        ms[n++] = model_ref(e->versions[i]);
    if (e) {
        failures = e->failures;
        pin = e->pin;
        repo_pin = e->repo_pin;
    }
    pthread_mutex_unlock(&r->mu);
    if (n == 0)
        return NULL;
    json_t *o = describe(r, ms[0]);
    json_t *vs = json_array();
    int bad = !o; /* json_*_set_new / append_new return -1 on any failure */
    for (int i = 0; i < n; i++) {
        json_t *v = json_object();
        bad |= json_object_set_new(v, "version", json_integer(ms[i]->version));
        bad |= json_object_set_new(v, "data_sha256", json_string(st_file_sha256(ms[i]->file)));
        bad |= json_object_set_new(v, "loaded_at", json_integer(ms[i]->loaded_at));
        bad |= json_object_set_new(v, "load_seconds", json_real(ms[i]->load_seconds));
        bad |= json_object_set_new(v, "state", json_string(i == 0 ? "serving" : "loaded"));
        bad |= json_array_append_new(vs, v);
        model_unref(ms[i]);
    }
    bad |= json_object_set_new(o, "versions", vs);
    bad |= json_object_set_new(o, "load_failures", json_integer(failures));
    if (pin || repo_pin) {
        json_t *p = json_object();
        bad |= json_object_set_new(p, "version", json_integer(pin ? pin : repo_pin));
        bad |= json_object_set_new(p, "by", json_string(pin ? "replica" : "repository"));
        bad |= json_object_set_new(o, "pinned", p);
    } else
        bad |= json_object_set_new(o, "pinned", json_null());
    if (bad) { /* out of memory: nothing rather than a part */
        json_decref(o);
        return NULL;
    }
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
