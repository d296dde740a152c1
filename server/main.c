/*
 * main.c - encore-server: the startup phases, each of which can fail with a
 * clear message before the next begins (as redis's main() does):
 *
 *   1. config    defaults -> config file -> ENCORE_* environment -> flags -> validate
 *   2. secrets   bearer tokens and the TLS certificate/key, checked
 *   3. models    load the highest version of every model in the repository
 *   4. loop      signals, timers and the reloader (file watch) on libuv
 *   5. bind      start libmicrohttpd's epoll thread pool on host:port
 *   6. run       the libuv loop owns the main thread: signals, timers, reloads
 *   7. shutdown  SIGTERM: /readyz 503 at once and every response says
 *                "Connection: close"; keep serving drain_seconds; close the
 *                listener; wait (at most shutdown_timeout) until no request
 *                is being read, processed or sent; stop the HTTP threads;
 *                exit 0
 *
 * Whatever the other threads do, the process ends: a watchdog thread, armed
 * at the first signal, calls _exit(1) when the shutdown overruns its budget
 * (drain_seconds + 2 x shutdown_timeout + 5 s, and shutdown_timeout + 5 s
 * once the loop has stopped), and a signal that arrives while the HTTP
 * threads are being stopped exits at once. Without it a stuck HTTP thread
 * (libmicrohttpd 0.9.75 can leave one waiting on a lock forever) kept the
 * main thread in MHD_stop_daemon and only SIGKILL ended the process.
 */
#include <arpa/inet.h>
#include <cblas.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "auth.h"
#include "core/version.h"
#include "experiment.h"
#include "families.h"
#include "live.h"
#include "log.h"
#include "metrics.h"
#include "reload.h"
#include "remote.h"
#include "server.h"

static struct server srv;
static uv_loop_t *loop;
static uv_signal_t sig_term, sig_int, sig_hup;
static uv_timer_t flush_timer, drain_timer, stop_timer, sweep_timer, rescan_timer;
static uv_timer_t compact_timer;
static uv_work_t compact_work;
static int compacting;
static double stop_deadline;
static int stopping;

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- the shutdown watchdog ------------------------------------------- */

static pthread_mutex_t wd_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_cv;
static double wd_deadline; /* monotonic seconds; guarded by wd_mu */
static int wd_started;

static void die_now(const char *why)
{
    char ts[32], line[256];
    log_time(ts);
    int n = snprintf(line, sizeof line,
                     "{\"time\":\"%s\",\"level\":\"error\",\"msg\":\"%s: exiting without "
                     "waiting for the HTTP threads\"}\n",
                     ts, why);
    if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0)
        n = 0;
    _exit(1);
}

static void *watchdog_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&wd_mu);
    for (;;) {
        double now = now_mono();
        if (now >= wd_deadline)
            break;
        struct timespec ts = {.tv_sec = (time_t)wd_deadline};
        ts.tv_nsec = (long)((wd_deadline - (double)ts.tv_sec) * 1e9);
        pthread_cond_timedwait(&wd_cv, &wd_mu, &ts);
    }
    pthread_mutex_unlock(&wd_mu);
    log_flush();
    die_now("shutdown watchdog: the shutdown took longer than its budget");
    return NULL;
}

/* End the process at most `seconds` from now (an earlier deadline stays). */
static void watchdog_arm(double seconds)
{
    pthread_mutex_lock(&wd_mu);
    double d = now_mono() + seconds;
    if (!wd_started) {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&wd_cv, &ca);
        pthread_condattr_destroy(&ca);
        wd_deadline = d;
        pthread_t t;
        if (pthread_create(&t, NULL, watchdog_main, NULL) == 0) {
            pthread_detach(t);
            wd_started = 1;
        } else
            slog("error", "cannot start the shutdown watchdog: %s", strerror(errno));
    } else if (d < wd_deadline) {
        wd_deadline = d;
        pthread_cond_signal(&wd_cv);
    }
    pthread_mutex_unlock(&wd_mu);
}

static void on_late_signal(int signum)
{
    /* Async-signal-safe: a constant line, write(2), _exit. */
    static const char msg[] = "{\"level\":\"error\",\"msg\":\"a signal while stopping: "
                              "exiting without waiting for the HTTP threads\"}\n";
    (void)signum;
    if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0)
        _exit(1);
    _exit(1);
}

/* Once the loop has stopped, libuv no longer delivers signals: a signal
 * during the rest of the shutdown exits at once. */
static void late_signals_exit(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_late_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

/* Descriptors: one per connection admitted (max_connections + its reserve)
 * plus model files, the loop and MHD's epoll and ITC. Raise the soft limit
 * towards the hard one as redis does; warn when even that is too low
 * (accept then fails with EMFILE and pauses; clients wait in the backlog). */
static void raise_fd_limit(const struct config *c)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)(c->max_connections + c->max_connections / 8 + 16 + 256);
    if (rl.rlim_cur >= want)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < want)
        slog("warn",
             "open files limit %llu is below the %llu that max_connections %lld needs; "
             "connections past it wait in the listen backlog",
             (unsigned long long)rl.rlim_cur, (unsigned long long)want,
             (long long)c->max_connections);
}

/* --check-health: a tiny HTTP client for container HEALTHCHECKs (no curl). */
static int check_health(const struct config *c)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 3};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (*c->tls_cert) { /* no TLS client here: check that the port accepts */
        int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        return ok ? 0 : 1;
    }
    char resp[64] = {0};
    const char req[] = "GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n";
    int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
             write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1) &&
             read(fd, resp, sizeof resp - 1) >= 12 && strncmp(resp + 9, "200", 3) == 0;
    close(fd);
    return ok ? 0 : 1;
}

/* A rescan finds versions written where no file event reaches us (another
 * node of an NFS or cloud volume); loads of versions already loaded or
 * already refused are skipped by the registry. */
static void on_rescan(uv_timer_t *t)
{
    if (!stopping)
        reload_all();
}

/* Hourly: the event store's retention, on libuv's worker pool (a
 * compaction reads and deletes; the loop thread never waits on the store). */
static void compact_run(uv_work_t *w)
{
    live_compact(srv.live);
}

static void compact_done(uv_work_t *w, int status)
{
    compacting = 0;
}

static void on_compact(uv_timer_t *t)
{
    if (stopping || compacting || !srv.live)
        return;
    compacting = 1;
    if (uv_queue_work(loop, &compact_work, compact_run, compact_done) != 0)
        compacting = 0;
}

static void on_flush(uv_timer_t *t)
{
    log_flush();
}

/* Readiness: a model served, and with readiness "all" no model whose every
 * version was refused (a pod that cannot serve one of its models must not
 * take traffic). */
static int is_ready(void)
{
    return registry_ready(srv.reg, strcmp(srv.cfg.readiness, "any") != 0, NULL, 0);
}

/* Every 250 ms: connection deadlines, and readiness (a model dropped into
 * an empty repository makes the server ready). */
static void on_sweep(uv_timer_t *t)
{
    http_sweep(&srv);
    if (!stopping)
        __atomic_store_n(&srv.ready, is_ready(), __ATOMIC_RELAXED);
}

/* After the listener closed: stop once nothing is being read, processed or
 * sent (http_sweep also cuts the idle keep-alive connections). */
static void on_stop_poll(uv_timer_t *t)
{
    int busy = http_sweep(&srv);
    int64_t inflight = __atomic_load_n(&srv.inflight, __ATOMIC_RELAXED);
    if ((inflight > 0 || busy > 0) && now_mono() < stop_deadline)
        return;
    if (inflight > 0 || busy > 0)
        slog("warn", "shutdown timeout: %lld requests in flight, %d connections busy",
             (long long)inflight, busy);
    uv_timer_stop(t);
    uv_stop(loop);
}

/* Drain period over: stop accepting, then wait for in-flight requests. */
static void on_drained(uv_timer_t *t)
{
    slog("info", "drain period over: closing the listener, finishing %lld in-flight requests",
         (long long)__atomic_load_n(&srv.inflight, __ATOMIC_RELAXED));
    __atomic_store_n(&srv.draining, 2, __ATOMIC_RELAXED);
    http_quiesce(&srv);
    stop_deadline = now_mono() + (double)srv.cfg.shutdown_timeout;
    uv_timer_start(&stop_timer, on_stop_poll, 0, 20);
}

static void begin_shutdown(int signum)
{
    if (stopping) { /* a second signal: stop now */
        slog("warn", "second signal: stopping at once");
        uv_stop(loop);
        return;
    }
    stopping = 1;
    watchdog_arm((double)(srv.cfg.drain_seconds + 2 * srv.cfg.shutdown_timeout + 5));
    __atomic_store_n(&srv.draining, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&srv.ready, 0, __ATOMIC_RELAXED);
    /* SIGINT is a person at a terminal: no drain period. */
    int64_t drain = signum == SIGTERM ? srv.cfg.drain_seconds : 0;
    slog("info", "%s: /readyz now 503; draining for %llds",
         signum == SIGTERM ? "SIGTERM" : "SIGINT", (long long)drain);
    uv_timer_start(&drain_timer, on_drained, (uint64_t)drain * 1000, 0);
}

static void on_signal(uv_signal_t *h, int signum)
{
    if (signum == SIGHUP) {
        slog("info", "SIGHUP: checking the repository for new versions");
        enc_err err = {0};
        if (experiments_reload(srv.cfg.config_file, &err))
            slog("error", "SIGHUP: experiments not reloaded, the running ones stay: %s", err.msg);
        else
            slog("info", "SIGHUP: %zu experiment(s) configured", experiments_count());
        remote_poke();
        reload_all();
        return;
    }
    begin_shutdown(signum);
}

static void close_walk(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int main(int argc, char **argv)
{
    enc_err err = {0};
    /* Phase 1: configuration. */
    int rc = config_load(&srv.cfg, argc, argv, &err);
    if (rc == 1)
        return 0;
    if (rc) {
        fprintf(stderr, "encore-server: configuration error: %s\n", err.msg);
        return 2;
    }
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--check-health"))
            return check_health(&srv.cfg);
    if (experiments_reload(srv.cfg.config_file, &err)) {
        fprintf(stderr, "encore-server: configuration error: %s\n", err.msg);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit(&srv.cfg);
    /* Each request scores on its own HTTP thread: BLAS threads would only
     * fight those threads for the same cores. */
    openblas_set_num_threads(1);
    srv.started_at = (int64_t)time(NULL);
    slog("info", "encore-server %s starting: models=%s host=%s port=%lld threads=%lld",
         ENCORE_VERSION, srv.cfg.models, srv.cfg.host, (long long)srv.cfg.port,
         (long long)srv.cfg.threads);

    /* Phase 2: secrets (and the scoring kernel, which must be known before
     * models load). */
    static struct st_open_opts file_opts; /* outlives the registry */
    file_opts.max_header_bytes = (size_t)srv.cfg.max_model_header_bytes;
    file_opts.read_max_bytes = (size_t)srv.cfg.model_read_max_bytes;
    struct model_load_opts load_opts = model_default_opts;
    load_opts.file = &file_opts;
    if (model_precision_parse(srv.cfg.score_precision, &load_opts.precision, &err) ||
        model_load_opts_check(&load_opts, &err) || auth_load(&srv.cfg, &srv.auth, &err) ||
        log_ids_init(srv.cfg.log_hash_key_file, &err) || http_tls_load(&srv, &err)) {
        slog("error", "%s", err.msg);
        fprintf(stderr, "encore-server: configuration error: %s\n", err.msg);
        return 2;
    }
    slog("info", "auth: %d inference token(s)%s, admin API %s; %s", auth_infer_tokens(srv.auth),
         auth_infer_tokens(srv.auth) ? "" : " (inference is open)",
         auth_admin_tokens(srv.auth) ? "enabled" : "disabled",
         *srv.cfg.tls_cert ? "HTTPS" : "HTTP");

    /* Phase 3: models (from object storage: mirrored into cache_dir first). */
    if (remote_init(&srv, &err)) {
        fprintf(stderr, "encore-server: configuration error: %s\n", err.msg);
        return 2;
    }
    srv.metrics = metrics_new();
    if (!srv.metrics ||
        registry_new(srv.cfg.models, (int)srv.cfg.versions_kept, &load_opts, &srv.reg, &err)) {
        fprintf(stderr, "encore-server: out of memory\n");
        return 1;
    }
    if (remote_enabled())
        remote_sync_now(&srv);
    rc = registry_load_all(srv.reg, &err);
    /* A mirrored version the registry refused: fetch the next lower one. */
    for (int i = 0; rc >= 0 && remote_enabled() && i < 3 && !registry_ready(srv.reg, 1, NULL, 0);
         i++)
        if (remote_sync_now(&srv) > 0)
            rc = registry_load_all(srv.reg, &err);
    if (rc < 0) {
        slog("error", "model repository %s: %s", srv.cfg.models, err.msg);
        fprintf(stderr, "encore-server: cannot read the model repository: %s\n", err.msg);
        return 1;
    }
    if (rc == 0)
        slog("warn", "no model could be loaded from %s; /readyz stays 503 until one is",
             srv.cfg.models);
    else
        slog("info", "%d model(s) loaded", rc);

    /* Phase 3b: the event store (live recommendations). */
    if (live_open(&srv.cfg, &srv.live, &err)) {
        /* The default ./events in a read-only working directory (a container
         * that did not configure events): serve without them, and say so. An
         * events location someone chose must work. */
        if (!config_is_default(&srv.cfg, "events")) {
            slog("error", "events: %s", err.msg);
            fprintf(stderr, "encore-server: events: %s\n", err.msg);
            return 2;
        }
        slog("warn",
             "events: the default store ./events cannot be opened (%s); events are off "
             "(set the events option: a writable directory, redis://HOST:PORT, or off)",
             err.msg);
    }
    if (srv.live)
        slog("info", "events: %s store at %s (retention %lld days, %lld events per user)",
             evstore_kind(srv.live->store), srv.cfg.events,
             (long long)srv.cfg.events_retention_days, (long long)srv.cfg.events_user_cap);
    else
        slog("info", "events: off");

    /* Phase 4: the loop, its signals and timers, the reloader. */
    loop = uv_default_loop();
    uv_signal_init(loop, &sig_term);
    uv_signal_init(loop, &sig_int);
    uv_signal_init(loop, &sig_hup);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    uv_signal_start(&sig_hup, on_signal, SIGHUP);
    uv_timer_init(loop, &flush_timer);
    uv_timer_init(loop, &drain_timer);
    uv_timer_init(loop, &stop_timer);
    uv_timer_init(loop, &sweep_timer);
    uv_timer_start(&flush_timer, on_flush, 200, 200);
    uv_timer_start(&sweep_timer, on_sweep, 250, 250);
    if (reload_start(&srv, loop, &err)) {
        fprintf(stderr, "encore-server: %s\n", err.msg);
        return 1;
    }
    uv_timer_init(loop, &compact_timer);
    uv_timer_start(&compact_timer, on_compact, 60 * 1000, 3600 * 1000);
    remote_start(&srv, loop);
    uv_timer_init(loop, &rescan_timer);
    if (srv.cfg.rescan_seconds > 0)
        uv_timer_start(&rescan_timer, on_rescan, (uint64_t)srv.cfg.rescan_seconds * 1000,
                       (uint64_t)srv.cfg.rescan_seconds * 1000);

    /* Phase 5: bind. */
    if (http_start(&srv, loop, &err)) {
        slog("error", "%s", err.msg);
        fprintf(stderr, "encore-server: %s\n", err.msg);
        return 1;
    }
    slog("info", "listening on %s:%lld", srv.cfg.host, (long long)srv.cfg.port);

    /* Phase 6: run. Ready once a model is served (see on_sweep). */
    __atomic_store_n(&srv.ready, is_ready(), __ATOMIC_RELAXED);
    uv_run(loop, UV_RUN_DEFAULT);

    /* Phase 7: shutdown. The reloader first: it answers admin requests
     * still waiting for a load, which http_stop needs resumed. */
    late_signals_exit();
    watchdog_arm((double)(srv.cfg.shutdown_timeout + 5));
    /* Test hook (tests/security/sec_burst.sh): stall here as a stuck HTTP
     * thread would stall MHD_stop_daemon, to show the watchdog ends it. */
    if (getenv("ENCORE_TEST_STALL_STOP"))
        for (;;)
            pause();
    reload_stop();
    remote_stop();
    http_stop(&srv);
    uv_walk(loop, close_walk, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    live_close(srv.live); /* after HTTP: finishes the queued appends */
    experiments_free();
    registry_free(srv.reg);
    remote_free();
    metrics_free(srv.metrics);
    auth_free(srv.auth);
    slog("info", "stopped cleanly");
    log_flush();
    config_free(&srv.cfg);
    return 0;
}
