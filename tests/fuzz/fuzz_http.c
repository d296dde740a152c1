/*
 * fuzz_http.c - libFuzzer target for the connection level: the input is the
 * raw byte stream of one client connection, sent to the real HTTP stack in
 * process (libuv accept loop, libmicrohttpd worker threads, Encore's
 * framing checks, routes, auth, JSON scan and parse, handlers) serving a
 * small recommendation model on a loopback port. The client then shuts its
 * side (EOF) and reads until the server closes.
 *
 * Fails on a crash or sanitizer report anywhere in the server (the server
 * runs in this process), and on a connection the server neither answers nor
 * closes within 20 s of the client's EOF (a hang). Slow for a fuzzer (a
 * keep-alive answer costs 50 ms of waiting, an incomplete request the 1 s
 * deadline): run it for minutes.
 *
 * Seeds (tests/fuzz/corpus_http/): plain, pipelined, chunked and smuggling
 * requests (two Content-Length; Content-Length + Transfer-Encoding), V1 and
 * V2 inference bodies.
 *
 *   cmake --build build-fuzz --target fuzz_http && tests/fuzz/run.sh 60 build-fuzz
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "auth.h"
#include "core/model.h"
#include "metrics.h"
#include "mf/mf.h"
#include "registry.h"
#include "server.h"

static struct server srv;
static uv_loop_t loop;
static uv_async_t stopper;
static uv_timer_t sweeper;
static pthread_t loop_thread;
static char repo[64];
static int started;

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "fuzz_http: %s: %s\n", what, msg);
    abort();
}

static void on_stop(uv_async_t *h)
{
    uv_stop(&loop);
}

/* The deadlines (first request line, read, idle), as main.c sweeps them. */
static void on_sweep(uv_timer_t *t)
{
    http_sweep(&srv);
}

static void *run_loop(void *arg)
{
    uv_run(&loop, UV_RUN_DEFAULT);
    return NULL;
}

/* A 3-user, 4-item ALS model as REPO/demo/1. */
static void publish(void)
{
    enum { U = 3, I = 4, F = 2 };
    float uf[U * F] = {1, 2, 3, 4, 5, 6}, itf[I * F] = {8, 7, 6, 5, 4, 3, 2, 1};
    float pop[I] = {4, 3, 2, 1};
    char *uids[U] = {"1", "2", "3"}, *iids[I] = {"a", "b", "c", "d"};
    int64_t off[U + 1] = {0, 1, 1, 2};
    int32_t seen[2] = {0, 3};
    struct mf_data d = {.n_users = U,
                        .n_items = I,
                        .factors = F,
                        .user_factors = uf,
                        .item_factors = itf,
                        .user_ids = uids,
                        .item_ids = iids,
                        .seen_offsets = off,
                        .seen_items = seen,
                        .item_popularity = pop,
                        .algorithm = "als",
                        .regularization = 0.1,
                        .alpha = 1};
    char out[128];
    snprintf(out, sizeof out, "%s/demo", repo);
    enc_err err = {0};
    int64_t v;
    if (model_save(&mf_ops, &d, NULL, "fuzz", out, 1, &v, &err))
        die("model_save", err.msg);
}

static void stop_server(void)
{
    uv_async_send(&stopper);
    pthread_join(loop_thread, NULL);
    http_stop(&srv);
    uv_close((uv_handle_t *)&stopper, NULL);
    uv_close((uv_handle_t *)&sweeper, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    registry_free(srv.reg);
    metrics_free(srv.metrics);
    auth_free(srv.auth);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", repo); /* our own mkdtemp name */
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz_http: could not remove %s\n", repo);
}

static void start_server(void)
{
    snprintf(repo, sizeof repo, "/tmp/encore-fuzz-http.XXXXXX");
    if (!mkdtemp(repo))
        die("mkdtemp", repo);
    publish();
    config_defaults(&srv.cfg);
    srv.cfg.models = repo;
    srv.cfg.host = "127.0.0.1";
    srv.cfg.port = 0;
    srv.cfg.threads = 2;
    srv.cfg.max_body_bytes = 65536;
    srv.cfg.access_log = 0;
    srv.cfg.watch = 0;
    /* an incomplete request is cut after 1 s (a half-closed client's partial
     * request is not closed at its EOF: it waits for these deadlines) */
    srv.cfg.first_request_timeout = 1;
    srv.cfg.read_timeout = 1;
    enc_err err = {0};
    unsetenv("ENCORE_TOKENS");
    unsetenv("ENCORE_ADMIN_TOKEN");
    if (auth_load(&srv.cfg, &srv.auth, &err))
        die("auth_load", err.msg);
    if (!(srv.metrics = metrics_new()))
        die("metrics_new", "out of memory");
    if (registry_new(repo, 1, NULL, &srv.reg, &err) || registry_load_all(srv.reg, &err) != 1)
        die("registry", err.msg);
    srv.ready = 1;
    if (uv_loop_init(&loop) || uv_async_init(&loop, &stopper, on_stop) ||
        uv_timer_init(&loop, &sweeper) || uv_timer_start(&sweeper, on_sweep, 250, 250))
        die("uv", "init");
    int rc = -1;
    for (int i = 0; i < 20 && rc; i++) { /* a free port can be taken before we bind it */
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof a;
        if (bind(fd, (struct sockaddr *)&a, sizeof a) ||
            getsockname(fd, (struct sockaddr *)&a, &len))
            die("bind", "no free port");
        close(fd);
        srv.cfg.port = ntohs(a.sin_port);
        rc = http_start(&srv, &loop, &err);
    }
    if (rc)
        die("http_start", err.msg);
    if (pthread_create(&loop_thread, NULL, run_loop, NULL))
        die("pthread_create", "loop thread");
    atexit(stop_server);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!started) {
        started = 1;
        start_server();
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)srv.cfg.port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a))
        die("connect", "the server stopped accepting");
    /* The server may answer and close before it has read everything: a
     * failed send is not an error, the answer is read all the same. */
    for (size_t off = 0; off < size;) {
        ssize_t k = send(fd, data + off, size - off, MSG_NOSIGNAL);
        if (k <= 0)
            break;
        off += (size_t)k;
    }
    shutdown(fd, SHUT_WR);
    /* Read until the server closes. A keep-alive connection stays open after
     * its answers (a half-closed client is treated as idle, up to
     * connection_timeout), so once answer bytes have come, 50 ms of silence
     * also ends the input; no byte and no close in 20 s is a hang. */
    char answer[65536];
    int got = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n = poll(&p, 1, got ? 50 : 20000);
        if (n == 0 && got)
            break;
        if (n == 0)
            die("poll", "no answer and no close within 20 s of the client's EOF");
        if (n < 0 && errno == EINTR)
            continue;
        ssize_t k = n > 0 ? recv(fd, answer, sizeof answer, 0) : -1;
        if (k <= 0)
            break; /* closed (or reset) */
        got = 1;
    }
    close(fd);
    return 0;
}
