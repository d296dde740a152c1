/*
 * http.c - libmicrohttpd glue.
 *
 * MHD runs its own epoll loops on a pool of cfg.threads threads
 * (MHD_USE_EPOLL_INTERNAL_THREAD + MHD_OPTION_THREAD_POOL_SIZE) while libuv
 * owns the main thread (signals, timers, file watching) and the listening
 * socket: it accepts and hands each connection to a worker with
 * MHD_add_connection, which spreads them evenly. Why not drive MHD's epoll
 * fd from the libuv loop: one loop is one core, and the HTTP layer is most
 * of a request's cost, so it would halve throughput on a 2-core machine
 * (see README "Design").
 *
 * A request's life: the first callback (headers) allocates its http_req and
 * checks Content-Length against max_body_bytes; body chunks append to
 * r->body; the last callback routes, runs the handler and queues the
 * response; MHD's completion callback writes the access-log line, counts the
 * metrics and frees the request: the one place request memory is released.
 *
 * Checks that need no body (route, auth, Content-Length, Content-Type, the
 * connection limit) run at the first callback. A refused request that has a
 * body is answered there, so the client never gets to upload it (MHD closes
 * the connection after the answer); one without a body is answered at the
 * final callback, which keeps a keep-alive connection usable.
 *
 * Connections (the listener, admission at accept, deadlines) are conn.c's.
 */
#include <errno.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stddef.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "auth.h"
#include "core/jscan.h"
#include "codec.h"
#include "linger.h"
#include "conn.h"
#include "log.h"
#include "metrics.h"
#include "reload.h"
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
    r->out_json_len = 0;
    buf_puts(&r->out, "{\"error\":");
    buf_json_str(&r->out, msg, strlen(msg));
    buf_puts(&r->out, "}");
}

void http_fail(struct http_req *r, const enc_err *err)
{
    http_error(r, enc_http_status(err->code), "%s",
               err->msg[0] ? err->msg : enc_strerror(err->code));
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

json_t *http_body_json(struct http_req *r)
{
    return http_body_json_n(r, r->body.len);
}

json_t *http_body_json_n(struct http_req *r, size_t len)
{
    if (r->json)
        return r->json;
    if (len > r->body.len)
        len = r->body.len;
    if (len == 0) {
        http_error(r, 400, "empty body: expected a JSON object");
        return NULL;
    }
    switch (jscan_limits(r->body.data, len, (int)r->srv->cfg.max_json_depth,
                         (size_t)r->srv->cfg.max_json_elements)) {
    case JSCAN_TOO_DEEP:
        http_error(r, 400, "JSON nested deeper than %lld levels",
                   (long long)r->srv->cfg.max_json_depth);
        return NULL;
    case JSCAN_TOO_MANY:
        http_error(r, 400, "JSON with more than %lld values (max_json_elements)",
                   (long long)r->srv->cfg.max_json_elements);
        return NULL;
    case JSCAN_OK:
        break;
    }
    json_error_t jerr;
    json_t *root = json_loadb(r->body.data, len, JSON_REJECT_DUPLICATES, &jerr);
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
    r->json = root; /* released with the request (http_req_release) */
    return root;
}

/* ---- request-lifetime memory ------------------------------------------ */

/* http_alloc's blocks, newest first. The first block's payload keeps the
 * whole malloc within glibc's per-thread cache (chunks up to 1,032 bytes),
 * so a usual request (a recommend's hits and id lists, a few deferred
 * calls) costs one cached malloc and one free. */
#define HTTP_BLOCK_BYTES 960

struct http_block {
    struct http_block *next;
    size_t used, cap;
    max_align_t data[];
};

struct http_deferred {
    struct http_deferred *next;
    void (*fn)(void *);
    void *arg;
};

void *http_alloc(struct http_req *r, size_t bytes)
{
    const size_t align = _Alignof(max_align_t);
    if (bytes > SIZE_MAX / 2)
        return NULL;
    size_t need = (bytes + align - 1) / align * align;
    struct http_block *b = r->mem;
    if (!b || b->cap - b->used < need) {
        size_t cap = need > HTTP_BLOCK_BYTES ? need : HTTP_BLOCK_BYTES;
        if (!(b = malloc(sizeof *b + cap)))
            return NULL;
        b->next = r->mem;
        b->used = 0;
        b->cap = cap;
        r->mem = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += need;
    return p;
}

int http_defer(struct http_req *r, void (*fn)(void *), void *arg)
{
    struct http_deferred *d = http_alloc(r, sizeof *d);
    if (!d)
        return ENC_ENOMEM;
    d->fn = fn;
    d->arg = arg;
    d->next = r->deferred;
    r->deferred = d;
    return 0;
}

void http_req_release(struct http_req *r)
{
    for (struct http_deferred *d = r->deferred; d; d = d->next) /* nodes live in the blocks */
        d->fn(d->arg);
    r->deferred = NULL;
    json_decref(r->json);
    r->json = NULL;
    for (struct http_block *b = r->mem, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    r->mem = NULL;
    buf_free(&r->body);
    buf_free(&r->out);
}

void http_note_user(struct http_req *r, const char *user, size_t len)
{
    if (!r->srv->cfg.access_log)
        return; /* only the access log shows it */
    if (r->srv->cfg.log_user_ids) {
        size_t n = len < sizeof r->user_hash - 1 ? len : sizeof r->user_hash - 1;
        memcpy(r->user_hash, user, n);
        r->user_hash[n] = '\0';
        return;
    }
    log_user_hash(user, len, r->user_hash); /* keyed: see log.h */
}

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_key_init(void)
{
    (void)pthread_key_create(&scratch_key, free); /* free: the thread's buffer at exit */
}

struct scratch {
    size_t cap;
    max_align_t data[];
};

void *http_scratch(size_t bytes)
{
    pthread_once(&scratch_once, scratch_key_init);
    struct scratch *s = pthread_getspecific(scratch_key);
    if (!s || s->cap < bytes) {
        size_t cap = bytes < 65536 ? 65536 : bytes;
        struct scratch *n = malloc(sizeof *n + cap);
        if (!n || pthread_setspecific(scratch_key, n)) {
            free(n);
            return NULL;
        }
        free(s);
        n->cap = cap;
        s = n;
    }
    return s->data;
}

/* ---- request lifecycle ----------------------------------------------- */

static int content_type_ok(struct MHD_Connection *c)
{
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!ct || !*ct)
        return 1; /* be liberal: a missing type is read as JSON */
    size_t n = strcspn(ct, ";");
    while (n > 0 && ct[n - 1] == ' ')
        n--;
    if ((n == 16 && !strncasecmp(ct, "application/json", 16)) ||
        (n == 9 && !strncasecmp(ct, "text/json", 9)))
        return 1;
    if (n == 24 && !strncasecmp(ct, "application/octet-stream", 24)) /* binproto.h */
        return MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Inference-Header-Content-Length") !=
               NULL;
    return n > 5 && !strncasecmp(ct + n - 5, "+json", 5);
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
    log_request_id(r->request_id); /* random prefix + counter, nothing of the hash key */
}

/* Answer what needs no body: route, auth, declared size, media type.
 * Returns 1 when r already holds the answer. */
static int check_headers(struct http_req *r)
{
    struct server *s = r->srv;
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
        return 1;
    }
    const char *authz =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    switch (auth_check(s->auth, (int)rt->scope, authz)) {
    case AUTH_OK:
        break;
    case AUTH_MISSING:
        http_error(r, 401, "this route needs an %s token: send 'Authorization: Bearer TOKEN'",
                   rt->scope == SCOPE_ADMIN ? "admin" : "inference");
        return 1;
    case AUTH_WRONG:
        http_error(r, 403, "the bearer token is not valid for this route");
        return 1;
    case AUTH_DISABLED:
        http_error(r, 403,
                   "the admin API is disabled: configure admin_token_file or "
                   "ENCORE_ADMIN_TOKEN to enable it");
        return 1;
    }
    if (rt->scope == SCOPE_INFER &&
        __atomic_load_n(&s->buffered_bytes, __ATOMIC_RELAXED) > s->cfg.max_buffered_bytes) {
        __atomic_add_fetch(&s->shed, 1, __ATOMIC_RELAXED);
        http_error(r, 503,
                   "busy: clients have not yet read %lld bytes of answers and uploads "
                   "(max_buffered_bytes %lld); retry shortly",
                   (long long)__atomic_load_n(&s->buffered_bytes, __ATOMIC_RELAXED),
                   (long long)s->cfg.max_buffered_bytes);
        return 1;
    }
    if (r->body_too_large) {
        http_error(r, 413, "request body larger than %lld bytes (max_body_bytes)",
                   (long long)s->cfg.max_body_bytes);
        return 1;
    }
    if (!strcmp(rt->method, "POST") && !content_type_ok(r->conn)) {
        http_error(r, 415, "Content-Type must be application/json");
        return 1;
    }
    return 0;
}

/* Content-Encoding gzip / deflate: decode the body under max_body_bytes
 * (codec.h). Returns 1 when r holds the answer (413, 415, 400). */
static void hold(struct http_req *r, size_t n);

static int decode_body(struct http_req *r)
{
    const char *ce =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_ENCODING);
    if (codec_is_identity(ce))
        return 0;
    buf plain;
    buf_init(&plain);
    enc_err err = {0};
    if (codec_decode(ce, r->body.data, r->body.len, (size_t)r->srv->cfg.max_body_bytes, &plain,
                     &err)) {
        buf_free(&plain);
        http_fail(r, &err);
        return 1;
    }
    if (plain.len > r->body.len)
        hold(r, plain.len - r->body.len); /* the decoded body counts (max_buffered_bytes) */
    buf_free(&r->body);
    r->body = plain;
    return 0;
}

/* The handler read a mapped model file that had shrunk: retire the
 * versions whose files did so, queue their models for a reload (an older
 * kept version or a repaired file), answer 503. What the handler had
 * allocated and referenced is leaked (st.h). */
static void model_file_shrank(struct http_req *r)
{
    char names[8][REPO_NAME_MAX + 1];
    int n = registry_retire_faulted(r->srv->reg, names, 8);
    for (int i = 0; i < n; i++)
        reload_request(names[i], 0, NULL, NULL);
    r->suspended = 0;
    http_error(r, 503,
               "model '%s': its file changed on disk while being served (truncated or "
               "rewritten in place; publish versions by renaming a directory); that version "
               "is retired, retry",
               r->model[0] ? r->model : "?");
}

static void dispatch(struct http_req *r)
{
    if (r->body_too_large) { /* a chunked body that grew past the limit */
        http_error(r, 413, "request body larger than %lld bytes (max_body_bytes)",
                   (long long)r->srv->cfg.max_body_bytes);
        return;
    }
    /* A model file bigger than model_read_max_bytes is mapped; if it shrinks
     * under a read (truncated in place), the handler is abandoned here
     * instead of the process ending (core/st.h's guard). */
    struct st_guard g;
    if (!ST_GUARD_ENTER(&g)) {
        st_guard_leave(&g);
        model_file_shrank(r);
        return;
    }
    r->route->handler(r);
    st_guard_leave(&g);
    /* A suspended request's answer belongs to another thread until resume:
     * do not even read r->status. */
    if (!r->suspended && !r->status)
        http_error(r, 500, "handler produced no response");
}

/* Requests suspended and not yet answered (see http_stop). */
static int64_t n_suspended;

void http_suspend(struct http_req *r)
{
    r->suspended = 1;
    __atomic_add_fetch(&n_suspended, 1, __ATOMIC_RELAXED);
    MHD_suspend_connection(r->conn);
}

void http_resume(struct http_req *r)
{
    MHD_resume_connection(r->conn);
}

/* Count n more bytes held for this request's client (see max_buffered_bytes). */
static void hold(struct http_req *r, size_t n)
{
    r->buffered += (int64_t)n;
    __atomic_add_fetch(&r->srv->buffered_bytes, (int64_t)n, __ATOMIC_RELAXED);
}

static enum MHD_Result queue(struct http_req *r)
{
    size_t len;
    if (r->out.oom) {
        buf_free(&r->out);
        r->status = 500;
        buf_puts(&r->out, "{\"error\":\"out of memory\"}");
    }
    if (r->out.len > (size_t)r->srv->cfg.max_response_bytes) {
        size_t big = r->out.len;
        http_error(r, 400,
                   "the answer would be %zu bytes, over max_response_bytes (%lld): ask for "
                   "fewer instances or a smaller k",
                   big, (long long)r->srv->cfg.max_response_bytes);
    }
    if (!r->out_json_len)
        buf_append(&r->out, "\n", 1);
    const char *ae =
        r->srv->cfg.gzip_min_bytes > 0 && r->out.len >= (size_t)r->srv->cfg.gzip_min_bytes
            ? MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING)
            : NULL;
    int gz = 0;
    if (codec_accepts_gzip(ae)) { /* level 1: most of the bytes saved for little CPU */
        buf z;
        buf_init(&z);
        if (codec_gzip(r->out.data, r->out.len, 1, &z) == 0 && z.len < r->out.len) {
            buf_free(&r->out);
            r->out = z;
            gz = 1;
        } else
            buf_free(&z);
    }
    char *body = buf_steal(&r->out, &len);
    hold(r, len); /* until the completion callback: sent, or the client is gone */
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, body ? body : (char *)"", body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    if (r->route && !strcmp(r->route->name, "metrics"))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                "text/plain; version=0.0.4; charset=utf-8");
    else if (r->out_json_len) { /* binary tensor data after the JSON (binproto.h) */
        char v[24];
        snprintf(v, sizeof v, "%zu", r->out_json_len);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
        MHD_add_response_header(resp, "Inference-Header-Content-Length", v);
    } else
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (ae)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, MHD_HTTP_HEADER_ACCEPT_ENCODING);
    if (gz)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    MHD_add_response_header(resp, "X-Request-Id", r->request_id);
    if (r->status == 405) {
        char allow[64];
        int st;
        struct http_req tmp;
        routes_match("", r->path, &tmp, &st, allow, sizeof allow);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    }
    if (r->status == 401)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"encore\"");
    if (r->status == 503)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    /* While draining, tell keep-alive clients to reconnect (elsewhere): the
     * listener closes when the drain period ends. */
    if (__atomic_load_n(&r->srv->draining, __ATOMIC_RELAXED) || r->close)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    r->queued = 1;
    return ret;
}

/* Request smuggling's building blocks (libmicrohttpd 0.9.75 takes the first
 * of two Content-Length headers and keeps a connection that sent
 * Content-Length with Transfer-Encoding): counted before MHD reads a body. */
struct framing {
    int content_length, transfer_encoding;
};

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    struct framing *f = cls;
    if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH))
        f->content_length++;
    else if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING))
        f->transfer_encoding++;
    return MHD_YES;
}

/* The first call, headers only: allocate r, refuse what needs no body
 * (connection limit, framing, route, auth, sizes, media type). */
static enum MHD_Result start_request(struct server *s, struct MHD_Connection *conn, const char *url,
                                     const char *method, void **ctx)
{
    struct http_req *r = calloc(1, sizeof *r);
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
    set_request_id(r);
    r->infer_header =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Inference-Header-Content-Length");
    if (conn_refused(conn_of(conn)) == CONN_OVER_LIMIT) {
        r->close = 1;
        http_error(r, 503, "too many connections (max_connections %lld): retry shortly",
                   (long long)s->cfg.max_connections);
        return queue(r);
    }
    struct framing f = {0, 0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_framing, &f);
    if (f.content_length > 1 || (f.content_length && f.transfer_encoding)) {
        r->close = 1; /* what follows cannot be told from a second request */
        http_error(r, 400,
                   f.content_length > 1 ? "more than one Content-Length header"
                                        : "both Content-Length and Transfer-Encoding");
        conn_linger(conn_of(conn));
        return queue(r);
    }
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > (unsigned long long)s->cfg.max_body_bytes)
        r->body_too_large = 1;
    if (check_headers(r)) {
        /* With a body, answer now and do not read it (MHD closes the
         * connection after the answer). Without one, answer at the
         * final call: an answer queued before MHD has seen the end of
         * the request would also cost the keep-alive connection. */
        r->close = (cl && strtoull(cl, NULL, 10) > 0) || f.transfer_encoding;
        if (r->close) {
            conn_linger(conn_of(conn)); /* so the client reads this answer (linger.h) */
            return queue(r);
        }
    }
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **ctx)
{
    struct server *s = cls;
    struct http_req *r = *ctx;
    if (!r)
        return start_request(s, conn, url, method, ctx);
    if (r->suspended) { /* resumed: the other thread filled the answer */
        r->suspended = 0;
        __atomic_sub_fetch(&n_suspended, 1, __ATOMIC_RELAXED);
        return queue(r);
    }
    if (r->status) { /* answered at the first call */
        if (*upload_data_size || r->queued) {
            *upload_data_size = 0; /* discard what the client still sends */
            return MHD_YES;
        }
        conn_set_state(conn_of(conn), CONN_BUSY);
        return queue(r); /* no body: the deferred answer */
    }
    if (*upload_data_size) {
        if (!r->body_too_large) {
            if (r->body.len + *upload_data_size > (size_t)s->cfg.max_body_bytes) {
                r->body_too_large = 1;
                buf_free(&r->body);
            } else {
                buf_append(&r->body, upload_data, *upload_data_size);
                hold(r, *upload_data_size);
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    conn_set_state(conn_of(conn), CONN_BUSY);
    if (r->body.oom)
        http_error(r, 500, "out of memory reading the body");
    else if (!decode_body(r))
        dispatch(r);
    if (r->suspended)
        return MHD_YES;
    return queue(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **ctx,
                         enum MHD_RequestTerminationCode toe)
{
    struct server *s = cls;
    struct http_req *r = *ctx;
    conn_set_state(conn_of(conn), CONN_IDLE);
    if (!r)
        return;
    *ctx = NULL;
    if (r->ticket)
        reload_cancel(r->ticket); /* the daemon stopped while a reload ran */
    double secs = now_mono() - r->t0;
    int status = r->status ? r->status : 499; /* client went away before an answer */
    const char *route = r->route ? r->route->name : "unmatched";
    metrics_observe(s->metrics, route, r->model, r->version, status, secs);
    if (s->cfg.access_log) {
        char ts[32];
        log_time(ts);
        buf b;
        buf_init(&b);
        buf_reserve(&b, 400); /* one malloc(512) for the usual line, not 256 then 512 */
        /* Appends only: formatting with printf here costs more than scoring. */
        buf_puts(&b, "{\"time\":\"");
        buf_puts(&b, ts);
        buf_puts(&b, "\",\"type\":\"access\",\"request_id\":\"");
        buf_puts(&b, r->request_id); /* printable ASCII only (set_request_id) */
        buf_puts(&b, "\",\"method\":");
        buf_json_str(&b, r->method, strlen(r->method));
        buf_puts(&b, ",\"path\":");
        buf_json_str(&b, r->path, strnlen(r->path, 256));
        buf_puts(&b, ",\"status\":");
        buf_int(&b, status);
        buf_puts(&b, ",\"latency_us\":");
        buf_int(&b, (long long)(secs * 1e6));
        if (r->model[0]) {
            buf_puts(&b, ",\"model\":");
            buf_json_str(&b, r->model, strlen(r->model));
            buf_puts(&b, ",\"version\":");
            buf_int(&b, (long long)r->version);
        }
        if (r->user_hash[0]) {
            buf_puts(&b, ",\"user\":");
            buf_json_str(&b, r->user_hash, strlen(r->user_hash));
        }
        if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
            buf_printf(&b, ",\"terminated\":\"%s\"",
                       toe == MHD_REQUEST_TERMINATED_WITH_ERROR        ? "error"
                       : toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? "timeout"
                       : toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN ? "shutdown"
                       : toe == MHD_REQUEST_TERMINATED_READ_ERROR      ? "read_error"
                       : toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT    ? "client_abort"
                                                                       : "other");
        buf_puts(&b, "}");
        if (!b.oom)
            log_access(b.data, b.len);
        buf_free(&b);
    }
    http_req_release(r);
    if (r->buffered)
        __atomic_sub_fetch(&s->buffered_bytes, r->buffered, __ATOMIC_RELAXED);
    free(r);
    __atomic_sub_fetch(&s->inflight, 1, __ATOMIC_RELAXED);
}

/* libmicrohttpd's messages, through the event log. */
__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    slog("warn", "http: %s", msg);
}

/* PEM files for HTTPS, read before binding; MHD keeps pointers to them. */
static char *tls_cert_pem, *tls_key_pem;

static int read_pem(const char *path, const char *what, char **out, enc_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return enc_errf(err, ENC_EIO, "%s %s: %s", what, path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size <= 0 ||
        sb.st_size > (1 << 20)) {
        fclose(f);
        return enc_errf(err, ENC_EINVAL, "%s %s: not a regular file of 1 byte to 1 MiB", what,
                        path);
    }
    char *p = malloc((size_t)sb.st_size + 1);
    if (!p || fread(p, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) {
        free(p);
        fclose(f);
        return enc_errf(err, ENC_EIO, "%s %s: read failed", what, path);
    }
    fclose(f);
    p[sb.st_size] = '\0';
    if (!strstr(p, "-----BEGIN ")) {
        free(p);
        return enc_errf(err, ENC_EINVAL, "%s %s: not a PEM file (no -----BEGIN line)", what, path);
    }
    *out = p;
    return 0;
}

int http_tls_load(struct server *s, enc_err *err)
{
    const struct config *c = &s->cfg;
    if (!*c->tls_cert)
        return 0;
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
        return enc_errf(err, ENC_EUNSUPPORTED, "tls_cert: this libmicrohttpd has no TLS support");
    int rc = read_pem(c->tls_cert, "tls_cert", &tls_cert_pem, err);
    if (!rc)
        rc = read_pem(c->tls_key, "tls_key", &tls_key_pem, err);
    if (rc)
        goto fail;
    /* Let GnuTLS parse the pair now: a bad or mismatched file is a clear
     * startup error instead of a handshake failure on every connection. */
    gnutls_certificate_credentials_t cred;
    if (gnutls_certificate_allocate_credentials(&cred) != GNUTLS_E_SUCCESS) {
        rc = enc_errf(err, ENC_ENOMEM, "tls: out of memory");
        goto fail;
    }
    gnutls_datum_t cd = {(unsigned char *)tls_cert_pem, (unsigned)strlen(tls_cert_pem)};
    gnutls_datum_t kd = {(unsigned char *)tls_key_pem, (unsigned)strlen(tls_key_pem)};
    int g = gnutls_certificate_set_x509_key_mem(cred, &cd, &kd, GNUTLS_X509_FMT_PEM);
    gnutls_certificate_free_credentials(cred);
    if (g >= 0) { /* a bad priority string: a startup error naming where */
        gnutls_priority_t prio;
        const char *where = NULL;
        int pg = gnutls_priority_init(&prio, c->tls_priorities, &where);
        if (pg < 0) {
            rc = enc_errf(err, ENC_EINVAL, "tls_priorities '%s': %s at '%.40s'", c->tls_priorities,
                          gnutls_strerror(pg), where ? where : "");
            goto fail;
        }
        gnutls_priority_deinit(prio);
    }
    if (g < 0) {
        rc = enc_errf(err, ENC_EINVAL, "tls_cert %s / tls_key %s: %s", c->tls_cert, c->tls_key,
                      g == GNUTLS_E_CERTIFICATE_KEY_MISMATCH
                          ? "the key does not belong to the certificate"
                          : gnutls_strerror(g));
        goto fail;
    }
    return 0;
fail:
    free(tls_cert_pem);
    free(tls_key_pem);
    tls_cert_pem = tls_key_pem = NULL;
    return rc;
}

int http_start(struct server *s, uv_loop_t *loop, enc_err *err)
{
    const struct config *c = &s->cfg;
    /* ITC lets connections be added (and MHD_quiesce_daemon be called)
     * while the pool runs; suspend/resume lets an admin reload wait
     * off-thread. */
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_NO_LISTEN_SOCKET;
    int ipv6 = 0;
    int rc = conn_listen(s, &ipv6, err);
    if (rc)
        return rc;
    if (ipv6)
        flags |= MHD_USE_IPv6;
    if (tls_cert_pem)
        flags |= MHD_USE_TLS;
    struct MHD_OptionItem opts[20];
    int n = 0;
    if (c->threads > 1)
        opts[n++] =
            (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)c->threads, NULL};
    /* Far above what conn.c admits: MHD must never reach its own limit. */
    opts[n++] =
        (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, (intptr_t)conn_mhd_limit(s), NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
                                        (intptr_t)c->connection_timeout, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                                        (intptr_t)c->max_header_bytes, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)conn_notify, s};
    opts[n++] =
        (struct MHD_OptionItem){MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)conn_request_line, s};
    /* RFC 7230: an HTTP/1.1 request without Host is answered 400. */
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_STRICT_FOR_CLIENT, 1, NULL};
    if (tls_cert_pem) {
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, tls_cert_pem};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, tls_key_pem};
        /* GnuTLS's NORMAL allows TLS 1.0/1.1 and static-RSA CBC suites:
         * tls_priorities defaults to TLS 1.2+ with forward-secret AEAD. */
        opts[n++] =
            (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)c->tls_priorities};
    }
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    errno = 0;
    /* The logger goes first so that MHD reports option errors through it. */
    s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
                              mhd_log, s, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (!s->mhd) {
        conn_unlisten();
        return enc_errf(err, ENC_EIO, "cannot start the HTTP daemon on %s:%lld (%s)", c->host,
                        (long long)c->port, errno ? strerror(errno) : "see the log");
    }
    conn_accept_start(s, loop);
    linger_start(loop); /* without it (out of memory) refused sockets just close */
    return 0;
}

void http_quiesce(struct server *s)
{
    (void)s;
    conn_quiesce();
}

int http_sweep(struct server *s)
{
    return conn_sweep(s);
}

void http_stop(struct server *s)
{
    /* MHD_stop_daemon aborts (MHD_PANIC) if a connection is still
     * suspended; resumed ones are picked up by their worker thread shortly,
     * so give them up to 2 s. Whoever suspended must have resumed by now
     * (reload_stop answers every waiting admin request). */
    for (int i = 0; i < 200 && __atomic_load_n(&n_suspended, __ATOMIC_RELAXED) > 0; i++)
        usleep(10000);
    if (__atomic_load_n(&n_suspended, __ATOMIC_RELAXED) > 0)
        slog("error", "%lld requests still suspended at shutdown",
             (long long)__atomic_load_n(&n_suspended, __ATOMIC_RELAXED));
    http_quiesce(s);
    if (s->mhd) {
        MHD_stop_daemon(s->mhd);
        s->mhd = NULL;
    }
    linger_stop();
    free(tls_cert_pem);
    free(tls_key_pem);
    tls_cert_pem = tls_key_pem = NULL;
}
