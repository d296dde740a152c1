/* remote.c - object-storage repositories: the mirror's schedule (see remote.h). */
#include "remote.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/repo.h"
#include "log.h"
#include "objrepo.h"
#include "reload.h"
#include "server.h"

static struct {
    struct objsync *sync;
    char url[1024];
    char cache[PATH_MAX];
    struct server *srv;
    uv_loop_t *loop;
    uv_timer_t timer;
    uv_work_t work;
    int timer_on, running, again, stopping;
    /* the running poll's result */
    int rc;
    enc_err err;
    char **changed;
    size_t n_changed;
} M;

int remote_enabled(void)
{
    return M.sync != NULL;
}

static int refused(void *arg, const char *name, int64_t version)
{
    struct server *s = arg;
    return registry_refused(s->reg, name, version);
}

int remote_init(struct server *s, enc_err *err)
{
    if (!repo_is_url(s->cfg.models))
        return 0;
    snprintf(M.url, sizeof M.url, "%s", s->cfg.models);
    if (*s->cfg.cache_dir)
        snprintf(M.cache, sizeof M.cache, "%s", s->cfg.cache_dir);
    else {
        const char *t = getenv("TMPDIR");
        snprintf(M.cache, sizeof M.cache, "%s/encore-cache", t && *t ? t : "/tmp");
    }
    int rc = objsync_new(M.url, s->cfg.s3_endpoint, M.cache, &M.sync, err);
    if (rc)
        return enc_err_prefix(err, "models %s", M.url);
    s->cfg.models = M.cache;
    M.srv = s;
    slog("info", "model repository %s, mirrored into %s every %llds", M.url, M.cache,
         (long long)s->cfg.rescan_seconds);
    return 0;
}

/* Log a failed poll on the first failure and every 20th after; say when it
 * recovers. */
static void report(int rc, const enc_err *err)
{
    struct objsync_stats st;
    objsync_stats(M.sync, &st);
    if (rc == 0) {
        if (M.again == -1)
            slog("info", "object storage %s reachable again", M.url);
        M.again = 0;
        return;
    }
    if (st.consecutive_failures == 1 || st.consecutive_failures % 20 == 0)
        slog("error", "object storage %s: %s (%d failed polls in a row; serving what is loaded)",
             M.url, err->msg, st.consecutive_failures);
    M.again = -1;
}

int remote_sync_now(struct server *s)
{
    char **changed = NULL;
    size_t n = 0;
    enc_err err = {0};
    int rc = objsync_run(M.sync, refused, s, &changed, &n, &err);
    report(rc, &err);
    for (size_t i = 0; i < n; i++)
        free(changed[i]);
    free(changed);
    return rc < 0 && n == 0 ? rc : (int)n;
}

static void work_cb(uv_work_t *w)
{
    M.err.msg[0] = '\0';
    M.rc = objsync_run(M.sync, refused, M.srv, &M.changed, &M.n_changed, &M.err);
}

static void after_cb(uv_work_t *w, int status)
{
    M.running = 0;
    report(M.rc, &M.err);
    for (size_t i = 0; i < M.n_changed; i++) {
        if (!M.stopping && !reload_request(M.changed[i], 0, NULL, NULL))
            slog("warn", "reload of %s not queued (queue full)", M.changed[i]);
        free(M.changed[i]);
    }
    free(M.changed);
    M.changed = NULL;
    M.n_changed = 0;
}

static void on_timer(uv_timer_t *t)
{
    if (M.running || M.stopping)
        return;
    M.running = 1;
    if (uv_queue_work(M.loop, &M.work, work_cb, after_cb) != 0)
        M.running = 0;
}

void remote_start(struct server *s, uv_loop_t *loop)
{
    if (!M.sync)
        return;
    M.loop = loop;
    uv_timer_init(loop, &M.timer);
    M.timer_on = 1;
    uint64_t ms = (uint64_t)(s->cfg.rescan_seconds > 0 ? s->cfg.rescan_seconds : 30) * 1000;
    if (s->cfg.rescan_seconds <= 0)
        slog("warn",
             "rescan_seconds is 0: polling %s every 30 s anyway (the only way to see new "
             "versions in object storage)",
             M.url);
    uv_timer_start(&M.timer, on_timer, ms, ms);
}

void remote_poke(void)
{
    if (M.timer_on && !M.stopping && !M.running)
        uv_timer_start(&M.timer, on_timer, 200, uv_timer_get_repeat(&M.timer));
}

void remote_stop(void)
{
    M.stopping = 1;
    if (M.timer_on)
        uv_close((uv_handle_t *)&M.timer, NULL);
    M.timer_on = 0;
}

void remote_free(void)
{
    objsync_free(M.sync);
    M.sync = NULL;
}

void remote_metrics(buf *out)
{
    if (!M.sync)
        return;
    struct objsync_stats st;
    objsync_stats(M.sync, &st);
    buf_printf(
        out,
        "# HELP encore_objstore_syncs_total Polls of the object-storage repository that succeeded.\n"
        "# TYPE encore_objstore_syncs_total counter\n"
        "encore_objstore_syncs_total %lld\n"
        "# HELP encore_objstore_sync_failures_total Polls that failed (store unreachable, bucket missing, credentials refused).\n"
        "# TYPE encore_objstore_sync_failures_total counter\n"
        "encore_objstore_sync_failures_total %lld\n"
        "# HELP encore_objstore_consecutive_failures Failed polls since the last success.\n"
        "# TYPE encore_objstore_consecutive_failures gauge\n"
        "encore_objstore_consecutive_failures %d\n"
        "# HELP encore_objstore_downloads_total Model versions downloaded into the cache.\n"
        "# TYPE encore_objstore_downloads_total counter\n"
        "encore_objstore_downloads_total %lld\n"
        "# HELP encore_objstore_download_bytes_total Bytes of model files downloaded.\n"
        "# TYPE encore_objstore_download_bytes_total counter\n"
        "encore_objstore_download_bytes_total %lld\n"
        "# HELP encore_objstore_rejected_total Downloads refused (size or checksum mismatch).\n"
        "# TYPE encore_objstore_rejected_total counter\n"
        "encore_objstore_rejected_total %lld\n"
        "# HELP encore_objstore_last_success_seconds When the last poll succeeded (unix time, 0 = never).\n"
        "# TYPE encore_objstore_last_success_seconds gauge\n"
        "encore_objstore_last_success_seconds %lld\n",
        (long long)st.syncs, (long long)st.failures, st.consecutive_failures,
        (long long)st.downloads, (long long)st.download_bytes, (long long)st.rejected,
        (long long)st.last_success);
}
