/*
 * http.c - libmicrohttpd glue.
 *
 * MHD runs its own epoll loops on a pool of cfg.threads threads
 * (MHD_USE_EPOLL_INTERNAL_THREAD + MHD_OPTION_THREAD_POOL_SIZE) while libuv
 * owns the main thread (signals, timers, file watching). Why not drive MHD's
 * epoll fd from the libuv loop: one loop is one core, and the HTTP layer is
 * most of a request's cost, so it would halve throughput on a 2-core machine
 * (see README "Design").
 *
 * A request's life: the first callback (headers) allocates its http_req and
 * checks Content-Length against max_body_bytes; body chunks append to
 * r->body; the last callback routes, runs the handler and queues the
 * response; MHD's completion callback writes the access-log line, counts the
 * metrics and frees the request: the one place request memory is released.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "server.h"

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- responses ------------------------------------------------------- */

void http_error(struct http_req *r, int status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->status = status;
    buf_free(&r->out);
    buf_puts(&r->out, "{\"error\":");
    buf_json_str(&r->out, msg, strlen(msg));
    buf_puts(&r->out, "}");
}

void http_fail(struct http_req *r, const enc_err *err)
{
    http_error(r, enc_http_status(err->code), "%s", err->msg[0] ? err->msg : enc_strerror(err->code));
}

void http_json(struct http_req *r, int status, json_t *obj)
{
    char *s = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (!s) {
        http_error(r, 500, "out of memory");
        return;
    }
    r->status = status;
    buf_free(&r->out);
    buf_puts(&r->out, s);
    free(s);
}

/* Depth of the deepest array/object nesting, scanning outside strings. */
static int json_depth_exceeds(const char *s, size_t n, int limit)
{
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"')
            in_str = 1;
        else if (c == '[' || c == '{') {
            if (++depth > limit)
                return 1;
        } else if (c == ']' || c == '}')
            depth--;
    }
    return 0;
}

json_t *http_parse_body(struct http_req *r)
{
    if (r->body.len == 0) {
        http_error(r, 400, "empty body: expected a JSON object");
        return NULL;
    }
    if (json_depth_exceeds(r->body.data, r->body.len, (int)r->srv->cfg.max_json_depth)) {
        http_error(r, 400, "JSON nested deeper than %lld levels", (long long)r->srv->cfg.max_json_depth);
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadb(r->body.data, r->body.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        http_error(r, 400, "malformed JSON at line %d column %d: %s", jerr.line, jerr.column,
                   jerr.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        http_error(r, 400, "the body must be a JSON object");
        return NULL;
    }
    return root;
}

void http_note_user(struct http_req *r, const char *user, size_t len)
{
    if (r->srv->cfg.log_user_ids) {
        size_t n = len < sizeof r->user_hash - 1 ? len : sizeof r->user_hash - 1;
        memcpy(r->user_hash, user, n);
        r->user_hash[n] = '\0';
        return;
    }
    /* Salted FNV-1a: stable within a process (correlate one user's requests),
     * not reversible from the log alone. */
    uint64_t h = 1469598103934665603ull ^ r->srv->log_salt;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)user[i];
        h *= 1099511628211ull;
    }
    snprintf(r->user_hash, sizeof r->user_hash, "h:%016llx", (unsigned long long)h);
}

/* ---- request lifecycle ----------------------------------------------- */

static int content_type_ok(struct MHD_Connection *c)
{
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!ct || !*ct)
        return 1;   /* be liberal: a missing type is read as JSON */
    size_t n = strcspn(ct, ";");
    while (n > 0 && ct[n - 1] == ' ')
        n--;
    if ((n == 16 && !strncasecmp(ct, "application/json", 16)) ||
        (n == 9 && !strncasecmp(ct, "text/json", 9)))
        return 1;
    return n > 5 && !strncasecmp(ct + n - 5, "+json", 5);
}

static uint64_t next_request_id(void)
{
    static uint64_t counter;
    return __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
}

static void set_request_id(struct http_req *r)
{
    const char *id = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Request-Id");
    if (id && *id) {
        /* Keep a client's id only if it is short and printable. */
        size_t n = strlen(id), ok = n < sizeof r->request_id;
        for (size_t i = 0; ok && i < n; i++)
            ok = id[i] > 0x20 && id[i] < 0x7f && id[i] != '"' && id[i] != '\\';
        if (ok) {
            memcpy(r->request_id, id, n + 1);
            return;
        }
    }
    snprintf(r->request_id, sizeof r->request_id, "%08llx-%06llx",
             (unsigned long long)(r->srv->log_salt & 0xffffffffu),
             (unsigned long long)next_request_id());
}

static void dispatch(struct http_req *r)
{
    char allow[64];
    int status = 404;
    const struct route *rt = routes_match(r->method, r->path, r, &status, allow, sizeof allow);
    r->route = rt;
    if (!rt) {
        if (status == 405)
            http_error(r, 405, "method %s not allowed on %s (allowed: %s)", r->method, r->path,
                       allow);
        else
            http_error(r, 404, "no route for %s %s", r->method, r->path);
        return;
    }
    if (r->body_too_large) {
        http_error(r, 413, "request body larger than %lld bytes", (long long)r->srv->cfg.max_body_bytes);
        return;
    }
    if (!strcmp(rt->method, "POST") && !content_type_ok(r->conn)) {
        http_error(r, 415, "Content-Type must be application/json");
        return;
    }
    rt->handler(r);
    if (!r->status)
        http_error(r, 500, "handler produced no response");
}

static enum MHD_Result queue(struct http_req *r)
{
    size_t len;
    if (r->out.oom) {
        buf_free(&r->out);
        r->status = 500;
        buf_puts(&r->out, "{\"error\":\"out of memory\"}");
    }
    buf_append(&r->out, "\n", 1);
    char *body = buf_steal(&r->out, &len);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, body ? body : (char *)"", body ? MHD_RESPMEM_MUST_FREE
                                                                             : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    if (r->route && !strcmp(r->route->name, "metrics"))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                "text/plain; version=0.0.4; charset=utf-8");
    else
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, "X-Request-Id", r->request_id);
    if (r->status == 405) {
        char allow[64];
        int st;
        struct http_req tmp;
        routes_match("", r->path, &tmp, &st, allow, sizeof allow);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    }
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size, void **ctx)
{
    struct server *s = cls;
    struct http_req *r = *ctx;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        r->srv = s;
        r->conn = conn;
        r->method = method;
        r->path = url;
        r->t0 = now_mono();
        buf_init(&r->body);
        buf_init(&r->out);
        __atomic_add_fetch(&s->inflight, 1, __ATOMIC_RELAXED);
        *ctx = r;
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > (unsigned long long)s->cfg.max_body_bytes)
            r->body_too_large = 1;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!r->body_too_large) {
            if (r->body.len + *upload_data_size > (size_t)s->cfg.max_body_bytes) {
                r->body_too_large = 1;
                buf_free(&r->body);
            } else
                buf_append(&r->body, upload_data, *upload_data_size);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    set_request_id(r);
    if (r->body.oom)
        http_error(r, 500, "out of memory reading the body");
    else
        dispatch(r);
    return queue(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **ctx,
                         enum MHD_RequestTerminationCode toe)
{
    struct server *s = cls;
    struct http_req *r = *ctx;
    if (!r)
        return;
    *ctx = NULL;
    double secs = now_mono() - r->t0;
    int status = r->status ? r->status : 499;   /* client went away before an answer */
    const char *route = r->route ? r->route->name : "unmatched";
    metrics_observe(s->metrics, route, r->model, status, secs);
    if (s->cfg.access_log) {
        char ts[32], line[1024];
        log_time(ts);
        buf b;
        buf_init(&b);
        buf_printf(&b, "{\"time\":\"%s\",\"type\":\"access\",\"request_id\":\"%s\",\"method\":", ts,
                   r->request_id);
        buf_json_str(&b, r->method, strlen(r->method));
        buf_puts(&b, ",\"path\":");
        buf_json_str(&b, r->path, strnlen(r->path, 256));
        buf_printf(&b, ",\"status\":%d,\"latency_us\":%lld", status, (long long)(secs * 1e6));
        if (r->model[0]) {
            buf_puts(&b, ",\"model\":");
            buf_json_str(&b, r->model, strlen(r->model));
            buf_printf(&b, ",\"version\":%lld", (long long)r->version);
        }
        if (r->user_hash[0]) {
            buf_puts(&b, ",\"user\":");
            buf_json_str(&b, r->user_hash, strlen(r->user_hash));
        }
        if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
            buf_printf(&b, ",\"terminated\":%d", (int)toe);
        buf_puts(&b, "}");
        (void)line;
        if (!b.oom)
            log_access(b.data, b.len);
        buf_free(&b);
    }
    buf_free(&r->body);
    buf_free(&r->out);
    free(r);
    __atomic_sub_fetch(&s->inflight, 1, __ATOMIC_RELAXED);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    slog("warn", "http: %s", msg);
}

int http_start(struct server *s, enc_err *err)
{
    const struct config *c = &s->cfg;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    /* ITC lets MHD_quiesce_daemon stop accepting while the pool keeps running. */
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, c->host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)c->port);
    } else if (inet_pton(AF_INET6, c->host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)c->port);
        flags |= MHD_USE_IPv6;
    } else
        return enc_errf(err, ENC_EINVAL, "host: '%s' is not an IPv4 or IPv6 address", c->host);

    struct MHD_OptionItem opts[16];
    int n = 0;
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &ss};
    if (c->threads > 1)
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)c->threads, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, (intptr_t)c->max_connections, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)c->connection_timeout, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)c->max_header_bytes, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, s};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_ARRAY, opts,
                              MHD_OPTION_END);
    if (!s->mhd)
        return enc_errf(err, ENC_EIO, "cannot listen on %s:%lld (%s)", c->host, (long long)c->port,
                        errno ? strerror(errno) : "in use or not permitted");
    return 0;
}

void http_quiesce(struct server *s)
{
    if (s->mhd) {
        MHD_socket fd = MHD_quiesce_daemon(s->mhd);
        if (fd != MHD_INVALID_SOCKET)
            close(fd);
    }
}

void http_stop(struct server *s)
{
    if (s->mhd) {
        MHD_stop_daemon(s->mhd);
        s->mhd = NULL;
    }
}
