/*
 * test_http.c - how server/http.c assembles a request from the bytes on a
 * connection, in process: the real HTTP stack (libuv accept loop, MHD worker
 * threads, routes, auth, handlers) on a free loopback port, driven with raw
 * sockets so each test controls exactly what arrives and when:
 *   a body in several writes, a chunked body, the body limit (declared and
 *   streamed), keep-alive and pipelined requests, media types, a gzip body,
 *   HEAD, 404 / 405 with Allow, malformed JSON, X-Request-Id, a request
 *   without Host. Every answer is JSON {"error": ...} when it is an error.
 * (tests/e2e_*.sh drive the built binary; this drives the module.)
 */
#define _GNU_SOURCE /* memmem, strcasestr */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>
#include <zlib.h>

#include "auth.h"
#include "metrics.h"
#include "mf_testutil.h"
#include "registry.h"
#include "server.h"
#include "testutil.h"

#define MAX_BODY 4096

static struct server srv;
static uv_loop_t loop;
static uv_async_t stopper;
static pthread_t loop_thread;
static char *repo;

static void on_stop(uv_async_t *h)
{
    uv_stop(&loop);
}

static void *run_loop(void *arg)
{
    uv_run(&loop, UV_RUN_DEFAULT);
    return NULL;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void setup(void)
{
    repo = tu_tmpdir();
    ck_assert_ptr_nonnull(repo);
    uint32_t rng = 7;
    struct mf_data d;
    char path[4300];
    mfu_make_data(&d, 20, 30, 8, 1.0f, 2, 5, 0, &rng);
    mfu_save(&d, repo, "demo", path, sizeof path);
    memset(&srv, 0, sizeof srv);
    config_defaults(&srv.cfg);
    srv.cfg.models = repo;
    srv.cfg.host = "127.0.0.1";
    srv.cfg.threads = 2;
    srv.cfg.max_body_bytes = MAX_BODY;
    srv.cfg.access_log = 0;
    enc_err err = {0};
    unsetenv("ENCORE_TOKENS");
    unsetenv("ENCORE_ADMIN_TOKEN");
    ck_assert_msg(auth_load(&srv.cfg, &srv.auth, &err) == 0, "%s", err.msg);
    srv.metrics = metrics_new();
    ck_assert_ptr_nonnull(srv.metrics);
    ck_assert_int_eq(registry_new(repo, 1, NULL, &srv.reg, &err), 0);
    ck_assert_int_eq(registry_load_all(srv.reg, &err), 1);
    srv.ready = 1;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    ck_assert_int_eq(uv_async_init(&loop, &stopper, on_stop), 0);
    int rc = -1;
    for (int i = 0; i < 5 && rc; i++) { /* a free port can be taken before we bind it */
        srv.cfg.port = free_port();
        rc = http_start(&srv, &loop, &err);
    }
    ck_assert_msg(rc == 0, "%s", err.msg);
    ck_assert_int_eq(pthread_create(&loop_thread, NULL, run_loop, NULL), 0);
}

static void teardown(void)
{
    uv_async_send(&stopper);
    pthread_join(loop_thread, NULL);
    http_stop(&srv);
    uv_close((uv_handle_t *)&stopper, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    registry_free(srv.reg);
    tu_rmrf(repo);
    free(repo);
}

/* ---- a client ------------------------------------------------------------ */

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)srv.cfg.port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {10, 0}; /* a missing answer fails the test, not hangs it */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void put(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
        ck_assert_msg(k > 0, "send: %s", strerror(errno));
        c += k;
        n -= (size_t)k;
    }
}

static void puts_(int fd, const char *s)
{
    put(fd, s, strlen(s));
}

struct answer {
    int status;
    char headers[2048];
    char body[8192];
    size_t body_len;
};

/* Read one response (status line, headers, Content-Length body) from fd.
 * Bytes past it stay in `rest` for the next call. Returns 0 on EOF before
 * a status line. */
static char rest[16384];
static size_t rest_len;

static int fill(int fd)
{
    ssize_t k = recv(fd, rest + rest_len, sizeof rest - rest_len, 0);
    if (k > 0)
        rest_len += (size_t)k;
    return k > 0;
}

static int answer_of(int fd, struct answer *a, int head)
{
    memset(a, 0, sizeof *a);
    char *end;
    while (!(end = memmem(rest, rest_len, "\r\n\r\n", 4)))
        if (!fill(fd))
            return 0;
    size_t hlen = (size_t)(end - rest) + 4;
    ck_assert_uint_lt(hlen, sizeof a->headers);
    memcpy(a->headers, rest, hlen);
    ck_assert_int_eq(sscanf(a->headers, "HTTP/1.1 %d", &a->status), 1);
    size_t clen = 0;
    const char *cl = strcasestr(a->headers, "\r\nContent-Length:");
    if (cl && !head)
        clen = strtoul(cl + 17, NULL, 10);
    while (rest_len < hlen + clen)
        ck_assert_msg(fill(fd), "connection closed inside a body");
    ck_assert_uint_lt(clen, sizeof a->body);
    memcpy(a->body, rest + hlen, clen);
    a->body[clen] = '\0';
    a->body_len = clen;
    memmove(rest, rest + hlen + clen, rest_len - hlen - clen);
    rest_len -= hlen + clen;
    return 1;
}

/* One request on a fresh connection. */
static void exchange(const char *request, struct answer *a)
{
    rest_len = 0;
    int fd = dial();
    puts_(fd, request);
    ck_assert_msg(answer_of(fd, a, !strncmp(request, "HEAD", 4)), "no answer to: %.60s", request);
    close(fd);
}

/* Closed by the server: the next read sees EOF (or a reset). */
static int closed_by_server(int fd)
{
    char c;
    ssize_t k = recv(fd, &c, 1, 0);
    return k == 0 || (k < 0 && errno == ECONNRESET);
}

static void error_json(const struct answer *a, const char *needle)
{
    json_error_t e;
    json_t *j = json_loadb(a->body, a->body_len, 0, &e);
    ck_assert_msg(j, "not JSON (%s): %s", e.text, a->body);
    const char *msg = json_string_value(json_object_get(j, "error"));
    ck_assert_msg(msg && strstr(msg, needle), "error '%s' lacks '%s'", msg ? msg : "(none)",
                  needle);
    json_decref(j);
}

static int items_in(const struct answer *a)
{
    json_t *j = json_loadb(a->body, a->body_len, 0, NULL);
    ck_assert_msg(j, "not JSON: %s", a->body);
    int n = (int)json_array_size(json_object_get(j, "items"));
    json_decref(j);
    return n;
}

#define RECO_HEAD                                                                                  \
    "POST /v1/models/demo:recommend HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"

/* ---- tests ------------------------------------------------------------------ */

START_TEST(body_in_pieces)
{
    const char *body = "{\"user\": \"u3\", \"k\": 4}";
    char head[512];
    snprintf(head, sizeof head, RECO_HEAD "Content-Length: %zu\r\n\r\n", strlen(body));
    rest_len = 0;
    int fd = dial();
    /* the header in two writes, the body in three, with pauses between */
    size_t hl = strlen(head);
    put(fd, head, hl / 2);
    usleep(20000);
    put(fd, head + hl / 2, hl - hl / 2);
    for (int i = 0; i < 3; i++) {
        usleep(20000);
        size_t from = strlen(body) * (size_t)i / 3, to = strlen(body) * (size_t)(i + 1) / 3;
        put(fd, body + from, to - from);
    }
    struct answer a;
    ck_assert(answer_of(fd, &a, 0));
    ck_assert_int_eq(a.status, 200);
    ck_assert_int_eq(items_in(&a), 4);
    close(fd);
}
END_TEST

START_TEST(chunked_body)
{
    rest_len = 0;
    int fd = dial();
    puts_(fd, RECO_HEAD "Transfer-Encoding: chunked\r\n\r\n");
    const char *parts[] = {"{\"user\": ", "\"u1\",", " \"k\": 3}"};
    for (int i = 0; i < 3; i++) {
        char c[64];
        snprintf(c, sizeof c, "%zx\r\n%s\r\n", strlen(parts[i]), parts[i]);
        puts_(fd, c);
        usleep(10000);
    }
    puts_(fd, "0\r\n\r\n");
    struct answer a;
    ck_assert(answer_of(fd, &a, 0));
    ck_assert_int_eq(a.status, 200);
    ck_assert_int_eq(items_in(&a), 3);
    close(fd);
}
END_TEST

START_TEST(body_limit_declared_and_streamed)
{
    /* declared over the limit: refused before the body is read, then closed */
    char req[512];
    snprintf(req, sizeof req, RECO_HEAD "Content-Length: %d\r\n\r\n", MAX_BODY + 1);
    rest_len = 0;
    int fd = dial();
    puts_(fd, req);
    struct answer a;
    ck_assert(answer_of(fd, &a, 0));
    ck_assert_int_eq(a.status, 413);
    error_json(&a, "max_body_bytes");
    ck_assert_ptr_nonnull(strcasestr(a.headers, "Connection: close"));
    ck_assert(closed_by_server(fd));
    close(fd);
    /* chunked past the limit: refused once the body ends */
    rest_len = 0;
    fd = dial();
    puts_(fd, RECO_HEAD "Transfer-Encoding: chunked\r\n\r\n");
    char chunk[1100];
    memset(chunk, ' ', sizeof chunk);
    for (int i = 0; i < 5; i++) { /* 5 x 1024 bytes of spaces > 4096 */
        puts_(fd, "400\r\n");
        put(fd, chunk, 1024);
        puts_(fd, "\r\n");
    }
    puts_(fd, "0\r\n\r\n");
    ck_assert(answer_of(fd, &a, 0));
    ck_assert_int_eq(a.status, 413);
    error_json(&a, "max_body_bytes");
    close(fd);
    /* exactly at the limit is fine (it is then parsed: spaces and a body) */
    char body[MAX_BODY + 1];
    const char *json = "{\"user\": \"u2\", \"k\": 2}";
    memset(body, ' ', MAX_BODY);
    memcpy(body + MAX_BODY - strlen(json), json, strlen(json));
    body[MAX_BODY] = '\0';
    snprintf(req, sizeof req, RECO_HEAD "Content-Length: %d\r\n\r\n", MAX_BODY);
    rest_len = 0;
    fd = dial();
    puts_(fd, req);
    put(fd, body, MAX_BODY);
    ck_assert(answer_of(fd, &a, 0));
    ck_assert_int_eq(a.status, 200);
    ck_assert_int_eq(items_in(&a), 2);
    close(fd);
}
END_TEST

START_TEST(keep_alive_and_pipelining)
{
    const char *body = "{\"user\": \"u5\", \"k\": 2}";
    char one[512];
    snprintf(one, sizeof one, RECO_HEAD "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
    rest_len = 0;
    int fd = dial();
    struct answer a;
    for (int i = 0; i < 3; i++) { /* one after another on one connection */
        puts_(fd, one);
        ck_assert(answer_of(fd, &a, 0));
        ck_assert_int_eq(a.status, 200);
        ck_assert_ptr_null(strcasestr(a.headers, "Connection: close"));
    }
    /* three at once, then the answers in order: a recommend, a 404, healthz */
    char three[2048];
    snprintf(three, sizeof three,
             "%sGET /nope HTTP/1.1\r\nHost: t\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
             one);
    puts_(fd, three);
    ck_assert(answer_of(fd, &a, 0));
    ck_assert_int_eq(a.status, 200);
    ck_assert_int_eq(items_in(&a), 2);
    ck_assert(answer_of(fd, &a, 0));
    ck_assert_int_eq(a.status, 404);
    error_json(&a, "no route for GET /nope");
    ck_assert(answer_of(fd, &a, 0));
    ck_assert_int_eq(a.status, 200);
    close(fd);
}
END_TEST

START_TEST(media_types)
{
    const char *body = "{\"user\": \"u1\", \"k\": 1}";
    const char *types[] = {"application/json; charset=utf-8",
                           "application/vnd.encore+json",
                           "text/json",
                           "text/plain",
                           "application/x-www-form-urlencoded",
                           "application/octet-stream"};
    int want[] = {200, 200, 200, 415, 415, 415};
    for (int i = 0; i < 6; i++) {
        char req[512];
        snprintf(req, sizeof req,
                 "POST /v1/models/demo:recommend HTTP/1.1\r\nHost: t\r\nContent-Type: %s\r\n"
                 "Content-Length: %zu\r\n\r\n%s",
                 types[i], strlen(body), body);
        struct answer a;
        exchange(req, &a);
        ck_assert_msg(a.status == want[i], "%s: %d", types[i], a.status);
        if (want[i] == 415)
            error_json(&a, "Content-Type");
    }
    /* no Content-Type at all is read as JSON */
    char req[512];
    snprintf(req, sizeof req,
             "POST /v1/models/demo:recommend HTTP/1.1\r\nHost: t\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             strlen(body), body);
    struct answer a;
    exchange(req, &a);
    ck_assert_int_eq(a.status, 200);
}
END_TEST

START_TEST(gzip_body)
{
    const char *body = "{\"user\": \"u4\", \"k\": 5}";
    unsigned char z[256];
    z_stream s = {0};
    ck_assert_int_eq(deflateInit2(&s, 6, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    s.next_in = (unsigned char *)body;
    s.avail_in = (unsigned)strlen(body);
    s.next_out = z;
    s.avail_out = sizeof z;
    ck_assert_int_eq(deflate(&s, Z_FINISH), Z_STREAM_END);
    size_t zn = sizeof z - s.avail_out;
    deflateEnd(&s);
    char head[512];
    snprintf(head, sizeof head, RECO_HEAD "Content-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n",
             zn);
    rest_len = 0;
    int fd = dial();
    puts_(fd, head);
    put(fd, z, zn);
    struct answer a;
    ck_assert(answer_of(fd, &a, 0));
    ck_assert_int_eq(a.status, 200);
    ck_assert_int_eq(items_in(&a), 5);
    /* a body that says gzip and is not */
    snprintf(head, sizeof head, RECO_HEAD "Content-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n",
             strlen(body));
    puts_(fd, head);
    puts_(fd, body);
    ck_assert(answer_of(fd, &a, 0));
    ck_assert_int_eq(a.status, 400);
    close(fd);
}
END_TEST

START_TEST(routes_methods_and_errors)
{
    struct answer a;
    exchange("GET /v1/models/demo:recommend HTTP/1.1\r\nHost: t\r\n\r\n", &a);
    ck_assert_int_eq(a.status, 405);
    error_json(&a, "not allowed");
    ck_assert_ptr_nonnull(strcasestr(a.headers, "\r\nAllow: POST\r\n"));
    exchange("HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n", &a);
    ck_assert_int_eq(a.status, 200);
    ck_assert_uint_eq(a.body_len, 0);
    exchange("POST /v1/models/demo:recommend HTTP/1.1\r\nHost: t\r\nContent-Length: 8\r\n\r\n"
             "{\"user\":",
             &a);
    ck_assert_int_eq(a.status, 400);
    error_json(&a, "malformed JSON");
    exchange("POST /v1/models/nope:recommend HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}",
             &a);
    ck_assert_int_eq(a.status, 404);
    error_json(&a, "nope");
    /* HTTP/1.1 without Host is refused (RFC 9112) */
    exchange("GET /healthz HTTP/1.1\r\n\r\n", &a);
    ck_assert_int_eq(a.status, 400);
}
END_TEST

START_TEST(request_ids)
{
    struct answer a, b;
    exchange("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: abc-123\r\n\r\n", &a);
    ck_assert_ptr_nonnull(strcasestr(a.headers, "\r\nX-Request-Id: abc-123\r\n"));
    /* a client id with a quote is not echoed; the server makes its own, unique ones */
    exchange("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: a\"b\r\n\r\n", &a);
    exchange("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", &b);
    const char *ia = strcasestr(a.headers, "\r\nX-Request-Id: "),
               *ib = strcasestr(b.headers, "\r\nX-Request-Id: ");
    ck_assert(ia && ib);
    ck_assert_msg(strncmp(ia + 16, "a\"b", 3) != 0, "a quoted id was echoed");
    size_t la = strcspn(ia + 16, "\r"), lb = strcspn(ib + 16, "\r");
    ck_assert_uint_gt(la, 8);
    ck_assert(la != lb || strncmp(ia + 16, ib + 16, la) != 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("http");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, body_in_pieces);
    tcase_add_test(tc, chunked_body);
    tcase_add_test(tc, body_limit_declared_and_streamed);
    tcase_add_test(tc, keep_alive_and_pipelining);
    tcase_add_test(tc, media_types);
    tcase_add_test(tc, gzip_body);
    tcase_add_test(tc, routes_methods_and_errors);
    tcase_add_test(tc, request_ids);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
