/* reload.c - file watch, SIGHUP and admin reloads through one job queue (see reload.h). */
#include "reload.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "remote.h"
#include "server.h"

#define MAX_QUEUED 64
#define DEBOUNCE_MS 100

struct job {
    struct job *next;
    char name[REPO_NAME_MAX + 1];
    int64_t version;     /* requested: 0 = highest */
    reload_done_fn done; /* NULL once cancelled */
    void *arg;
    int flags; /* REG_*: an admin request retries, pins or unpins */
    uint64_t ticket;
    /* filled by the worker */
    int rc;
    struct model *m;
    enc_err err;
    uv_work_t work;      /* its own: an abandoned job's work outlives its turn */
    uint64_t started_ms; /* loop time when it started */
    int abandoned;       /* ran past load_timeout: the queue went on without it */
    int superseded;      /* abandoned, and a later job of its name has finished */
};

/* A watch on one model directory REPO/NAME. */
struct watch {
    uv_fs_event_t h;
    struct watch *next;
    int dirty; /* an event arrived since the last debounce */
    char name[REPO_NAME_MAX + 1];
};

/* One reloader per process, driven by the loop thread; `mu` guards the queue,
 * the running job's callback and the ticket counter (HTTP threads enqueue and
 * cancel). */
static struct {
    struct server *srv;
    uv_loop_t *loop;
    uv_async_t async;
    uv_timer_t debounce, overdue;
    uv_fs_event_t repo_watch;
    int repo_watching, started, stopping, rescan;
    struct watch *watches;
    pthread_mutex_t mu;
    struct job *head, *tail, *running;
    struct job *abandoned; /* loads past load_timeout still running (loop thread only) */
    int n_queued;
    uint64_t next_ticket;
} R = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void start_next(void);

/* ---- the job queue ---------------------------------------------------- */

static void work_cb(uv_work_t *w)
{
    struct job *j = w->data;
    /* Watch events and SIGHUP skip a version already refused; an admin
     * request (it has a callback) always tries. REG_PIN is applied later,
     * on the loop thread (apply_pin). */
    j->rc = registry_prepare(R.srv->reg, j->name, j->version > 0 ? j->version : 0,
                             j->flags & ~REG_PIN, &j->m, &j->err);
}

/* A later decision about a model wins over a load abandoned before it: when
 * job `j` finishes, the abandoned loads of its name that started before it
 * are marked superseded, and their result is dropped when they end (else a
 * load stuck for minutes would, when it ends, replace the version that a
 * later reload or an admin's pin installed). Loop thread only. */
static void supersede_earlier(const struct job *j)
{
    for (struct job *a = R.abandoned; a; a = a->next)
        if (a != j && a->ticket < j->ticket && !strcmp(a->name, j->name))
            a->superseded = 1;
}

/* An admin request for an exact version pins it once it loads (or was
 * already served). Loop thread. */
static void apply_pin(const struct job *j)
{
    if (j->rc >= 0 && (j->flags & REG_PIN) && j->version > 0 && !R.stopping)
        registry_pin(R.srv->reg, j->name, j->version);
}

/* A job that ran past load_timeout (abandoned) finishes here, long after the
 * queue went on: a version that loaded is installed unless a later job of the
 * same model has finished since (superseded); a refusal was logged by
 * registry_prepare. */
static void after_abandoned(struct job *j)
{
    for (struct job **pp = &R.abandoned; *pp; pp = &(*pp)->next)
        if (*pp == j) {
            *pp = j->next;
            break;
        }
    int install = j->rc == 1 && !j->superseded && !R.stopping;
    slog("warn", "model %s: a load abandoned after load_timeout has ended (%s)", j->name,
         j->rc < 0    ? "refused"
         : j->rc == 0 ? "already current"
         : install    ? "installed"
                      : "superseded, dropped");
    if (!j->superseded) { /* its decision stands: later than the abandoned before it */
        supersede_earlier(j);
        apply_pin(j);
    }
    if (install)
        registry_install(R.srv->reg, j->m);
    else if (j->rc == 1)
        model_unref(j->m);
    free(j);
}

static void after_work_cb(uv_work_t *w, int status)
{
    struct job *j = w->data;
    if (j->abandoned) {
        after_abandoned(j);
        return;
    }
    supersede_earlier(j);
    apply_pin(j);
    int64_t version = 0;
    if (j->rc == 1 && !R.stopping) {
        version = j->m->version;
        registry_install(R.srv->reg, j->m); /* the atomic swap */
    } else if (j->rc == 1) {
        model_unref(j->m);
        j->rc = enc_errf(&j->err, ENC_EBUSY, "shutting down");
    } else if (j->rc == 0) {
        struct model *cur = registry_get(R.srv->reg, j->name, j->version);
        version = cur ? cur->version : 0;
        model_unref(cur);
    } else if (remote_enabled())
        remote_poke(); /* a mirrored version refused: the next lower may need fetching */
    /* (a refusal was logged and counted by registry_prepare) */
    /* Called with mu held so that reload_cancel() cannot return while the
     * callback runs. The callback only resumes an MHD connection; MHD calls
     * reload_cancel only from its completion callback, which never runs for
     * a suspended connection while the daemon is up. */
    pthread_mutex_lock(&R.mu);
    if (j->done)
        j->done(j->arg, j->rc, version, j->rc < 0 ? j->err.msg : "");
    R.running = NULL;
    pthread_mutex_unlock(&R.mu);
    free(j);
    start_next();
}

static void start_next(void)
{
    if (R.stopping)
        return;
    pthread_mutex_lock(&R.mu);
    struct job *j = NULL;
    if (!R.running && R.head) {
        j = R.head;
        R.head = j->next;
        if (!R.head)
            R.tail = NULL;
        R.n_queued--;
        R.running = j;
    }
    pthread_mutex_unlock(&R.mu);
    if (!j)
        return;
    j->work.data = j;
    j->started_ms = uv_now(R.loop);
    int rc = uv_queue_work(R.loop, &j->work, work_cb, after_work_cb);
    if (rc) { /* cannot happen with a live loop; answer rather than hang */
        j->rc = enc_errf(&j->err, ENC_EINTERNAL, "uv_queue_work: %s", uv_strerror(rc));
        after_work_cb(&j->work, rc);
    }
}

/* Every second: a load running past load_timeout (a file system that does
 * not answer) is abandoned, its admin request answered 503, and the queue
 * goes on; the work itself cannot be stopped and finishes in the
 * background (after_abandoned), holding one of libuv's pool threads until
 * then. Without this every later reload queued behind it forever. */
static void on_overdue(uv_timer_t *t)
{
    uint64_t limit = (uint64_t)R.srv->cfg.load_timeout * 1000;
    pthread_mutex_lock(&R.mu);
    struct job *j = R.running;
    if (!j || uv_now(R.loop) - j->started_ms < limit) {
        pthread_mutex_unlock(&R.mu);
        return;
    }
    char msg[200];
    snprintf(msg, sizeof msg,
             "the load of %s has run for over %llds (load_timeout): abandoned, "
             "later reloads no longer wait for it",
             j->name, (long long)R.srv->cfg.load_timeout);
    if (j->done) {
        j->done(j->arg, ENC_EBUSY, 0, msg);
        j->done = NULL;
    }
    j->abandoned = 1;
    j->next = R.abandoned;
    R.abandoned = j;
    R.running = NULL;
    pthread_mutex_unlock(&R.mu);
    slog("error", "model %s: %s", j->name, msg);
    start_next();
}

static void on_async(uv_async_t *h)
{
    start_next();
}

uint64_t reload_request(const char *name, int64_t version, reload_done_fn done, void *arg)
{
    if (strlen(name) > REPO_NAME_MAX)
        return 0;
    pthread_mutex_lock(&R.mu);
    uint64_t ticket = 0;
    if (!R.started || R.stopping || R.n_queued >= MAX_QUEUED)
        goto out;
    /* A watch event for a name already waiting in the queue adds nothing. */
    if (!done)
        for (struct job *q = R.head; q; q = q->next)
            if (!q->done && q->version == version && !strcmp(q->name, name)) {
                ticket = q->ticket;
                goto out;
            }
    struct job *j = calloc(1, sizeof *j);
    if (!j)
        goto out;
    snprintf(j->name, sizeof j->name, "%s", name);
    j->version = version;
    j->done = done;
    j->arg = arg;
    /* An admin request (it waits for the answer) retries refused versions
     * and pins an exact version; -1 ("latest") drops the pin. */
    j->flags = done ? REG_RETRY : 0;
    if (done && version > 0)
        j->flags |= REG_PIN;
    if (version < 0)
        j->flags |= REG_UNPIN;
    j->ticket = ticket = ++R.next_ticket;
    if (R.tail)
        R.tail->next = j;
    else
        R.head = j;
    R.tail = j;
    R.n_queued++;
out:
    pthread_mutex_unlock(&R.mu);
    if (ticket)
        uv_async_send(&R.async);
    return ticket;
}

void reload_cancel(uint64_t ticket)
{
    pthread_mutex_lock(&R.mu);
    if (R.running && R.running->ticket == ticket)
        R.running->done = NULL;
    for (struct job *q = R.head; q; q = q->next)
        if (q->ticket == ticket)
            q->done = NULL;
    pthread_mutex_unlock(&R.mu);
}

void reload_all(void)
{
    char **names;
    size_t n;
    enc_err err = {0};
    if (repo_list_models(R.srv->cfg.models, &names, &n, &err)) {
        slog("error", "reload: %s", err.msg);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (!reload_request(names[i], 0, NULL, NULL))
            slog("warn", "reload of %s not queued (queue full)", names[i]);
        free(names[i]);
    }
    free(names);
}

/* ---- watching the repository ------------------------------------------ */

static void free_watch(uv_handle_t *h)
{
    free(h->data);
}

static void on_debounce(uv_timer_t *t);

static void poke(void)
{
    uv_timer_start(&R.debounce, on_debounce, DEBOUNCE_MS, 0);
}

static void on_model_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
    struct watch *w = h->data;
    /* Version directories appear by rename ("3"); ".tmp-PID" is a writer
     * still at work. */
    if (filename && filename[0] == '.')
        return;
    w->dirty = 1;
    poke();
}

static void on_repo_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
    if (filename && filename[0] == '.')
        return;
    R.rescan = 1;
    poke();
}

static struct watch *find_watch(const char *name)
{
    for (struct watch *w = R.watches; w; w = w->next)
        if (!strcmp(w->name, name))
            return w;
    return NULL;
}

static void add_watch(const char *name)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/%s", R.srv->cfg.models, name);
    struct watch *w = calloc(1, sizeof *w);
    if (!w)
        return;
    snprintf(w->name, sizeof w->name, "%s", name);
    uv_fs_event_init(R.loop, &w->h);
    w->h.data = w;
    int rc = uv_fs_event_start(&w->h, on_model_event, dir, 0);
    if (rc) {
        slog("warn", "cannot watch %s (%s): new versions load on SIGHUP or :reload only", dir,
             uv_strerror(rc));
        uv_close((uv_handle_t *)&w->h, free_watch);
        return;
    }
    w->next = R.watches;
    R.watches = w;
}

/* Stop watching model directories that disappeared (their models keep serving). */
static void prune_watches(void)
{
    struct watch **pp = &R.watches;
    while (*pp) {
        struct watch *w = *pp;
        char dir[PATH_MAX];
        struct stat sb;
        snprintf(dir, sizeof dir, "%s/%s", R.srv->cfg.models, w->name);
        if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            slog("warn", "model directory %s is gone; model %s keeps its loaded versions", dir,
                 w->name);
            registry_forget(R.srv->reg, w->name); /* if it had none: no longer awaited */
            *pp = w->next;
            uv_close((uv_handle_t *)&w->h, free_watch);
            continue;
        }
        pp = &w->next;
    }
}

static void on_debounce(uv_timer_t *t)
{
    if (R.stopping)
        return;
    if (R.rescan) {
        R.rescan = 0;
        char **names;
        size_t n;
        enc_err err = {0};
        if (repo_list_models(R.srv->cfg.models, &names, &n, &err) == 0) {
            for (size_t i = 0; i < n; i++) {
                if (!find_watch(names[i])) {
                    add_watch(names[i]);
                    struct watch *w = find_watch(names[i]);
                    if (w)
                        w->dirty = 1;
                    else /* unwatchable: still load what is there */
                        reload_request(names[i], 0, NULL, NULL);
                }
                free(names[i]);
            }
            free(names);
        } else
            slog("error", "watch: %s", err.msg);
    }
    prune_watches();
    for (struct watch *w = R.watches; w; w = w->next)
        if (w->dirty) {
            w->dirty = 0;
            if (!reload_request(w->name, 0, NULL, NULL)) {
                w->dirty = 1; /* queue full: try again shortly */
                poke();
            }
        }
}

int reload_start(struct server *s, uv_loop_t *loop, enc_err *err)
{
    R.srv = s;
    R.loop = loop;
    int rc = uv_async_init(loop, &R.async, on_async);
    if (rc)
        return enc_errf(err, ENC_EINTERNAL, "uv_async_init: %s", uv_strerror(rc));
    uv_timer_init(loop, &R.debounce);
    uv_timer_init(loop, &R.overdue);
    uv_timer_start(&R.overdue, on_overdue, 1000, 1000);
    pthread_mutex_lock(&R.mu);
    R.started = 1;
    pthread_mutex_unlock(&R.mu);
    if (!s->cfg.watch)
        return 0;
    uv_fs_event_init(loop, &R.repo_watch);
    rc = uv_fs_event_start(&R.repo_watch, on_repo_event, s->cfg.models, 0);
    if (rc) {
        slog("warn", "cannot watch %s (%s): new models load on SIGHUP only", s->cfg.models,
             uv_strerror(rc));
        uv_close((uv_handle_t *)&R.repo_watch, NULL);
    } else
        R.repo_watching = 1;
    char **names;
    size_t n;
    if (repo_list_models(s->cfg.models, &names, &n, err) == 0) {
        for (size_t i = 0; i < n; i++) {
            add_watch(names[i]);
            free(names[i]);
        }
        free(names);
    }
    return 0;
}

void reload_stop(void)
{
    if (!R.started)
        return;
    pthread_mutex_lock(&R.mu);
    R.stopping = 1;
    /* A request waiting for the running load is answered now: libmicrohttpd
     * must not be stopped with a suspended connection. The load's result is
     * dropped by after_work_cb. */
    if (R.running && R.running->done) {
        R.running->done(R.running->arg, ENC_EBUSY, 0, "shutting down");
        R.running->done = NULL;
    }
    struct job *q = R.head;
    R.head = R.tail = NULL;
    R.n_queued = 0;
    while (q) {
        struct job *next = q->next;
        if (q->done)
            q->done(q->arg, ENC_EBUSY, 0, "shutting down");
        free(q);
        q = next;
    }
    pthread_mutex_unlock(&R.mu);
    uv_close((uv_handle_t *)&R.async, NULL);
    uv_close((uv_handle_t *)&R.debounce, NULL);
    uv_close((uv_handle_t *)&R.overdue, NULL);
    if (R.repo_watching)
        uv_close((uv_handle_t *)&R.repo_watch, NULL);
    R.repo_watching = 0;
    while (R.watches) {
        struct watch *w = R.watches;
        R.watches = w->next;
        uv_close((uv_handle_t *)&w->h, free_watch);
    }
}
