/*
 * conn.c - client connections from accept to close (see conn.h).
 *
 * Three counts decide admission (all atomics):
 *   n_pending        accepted by the loop, not yet started by an MHD worker
 *                    (MHD queues an added socket and its worker picks it up
 *                    at its next loop iteration);
 *   s->conns_open    started (MHD_CONNECTION_NOTIFY_STARTED), not yet closed;
 *   their sum        what the loop checks at accept against
 *                    max_connections + reserve.
 * A socket MHD drops between add and start (it could not allocate the
 * connection's memory pool) never reports start or close; the sweep forgets
 * pending sockets after 2 s without an accept, so such a loss cannot leak
 * into a permanent refusal. A worker that starts a connection after that
 * finds n_pending at 0 and leaves it there.
 *
 * A connection's state, as the sweep sees it:
 *
 *   accept ---> IDLE --request line--> READING --body complete--> BUSY
 *                ^                    (read_timeout)              |
 *                +------------- response sent (completed) --------+
 *   IDLE before its first request line longer than first_request_timeout,
 *   IDLE longer than connection_timeout, or READING longer than read_timeout:
 *   the sweep shuts the socket down and MHD closes the connection.
 */
#define _GNU_SOURCE /* accept4 */
#include "conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "linger.h"
#include "log.h"
#include "server.h"

/* Connections MHD has not started this long after the last accept are
 * assumed dropped (see above). */
#define PENDING_FORGET_MS 2000
/* An over-limit connection that sends nothing is cut after this long. */
#define OVER_LIMIT_GRACE_MS 2000

struct ip_entry;

struct conn_track {
    struct conn_track *prev, *next;
    struct ip_entry *ip; /* its address's count (NULL: not counted) */
    int requests;        /* atomic: request lines seen */
    int fd;
    int state;                 /* enum conn_state; atomic (HTTP thread writes, sweep reads) */
    int64_t since_ms;          /* atomic: when the state began (monotonic ms) */
    enum conn_refusal refusal; /* set at start, read-only after */
    int cut;                   /* the sweep shut it down */
    int linger_fd;             /* > 0: a dup of fd to drain after the close (linger.h) */
};

static pthread_mutex_t conn_mu = PTHREAD_MUTEX_INITIALIZER;
static struct conn_track conn_list = {&conn_list, &conn_list, NULL, 0, -1, 0, 0, CONN_OK, 0, 0};

static int64_t n_pending;      /* atomic */
static int64_t last_accept_ms; /* loop thread only */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Connections admitted beyond max_connections to be told 503. */
static int64_t reserve_of(const struct config *c)
{
    return c->max_connections / 8 > 16 ? c->max_connections / 8 : 16;
}

unsigned conn_mhd_limit(const struct server *s)
{
    const struct config *c = &s->cfg;
    int64_t threads = c->threads > 1 ? c->threads : 1;
    int64_t limit = threads * (c->max_connections + reserve_of(c) + 64);
    return limit > 0x7fffffff ? 0x7fffffffu : (unsigned)limit;
}

/* n_pending - 1, never below 0 (see the top of the file). */
static void pending_done(void)
{
    int64_t v = __atomic_load_n(&n_pending, __ATOMIC_RELAXED);
    while (v > 0 && !__atomic_compare_exchange_n(&n_pending, &v, v - 1, 1, __ATOMIC_RELAXED,
                                                 __ATOMIC_RELAXED))
        ;
}

/* ---- per-address counts ------------------------------------------------
 *
 * max_connections_per_ip bounds what one client address holds, so that one
 * host opening connections it never uses (slowloris with zero bytes) cannot
 * take every slot. Checked at accept, where a refused socket is closed at
 * once (it never takes a slot). Like the totals, an address counts its
 * connections accepted but not yet started (pending) and started but not
 * yet closed (open); pending counts are forgotten with the global one. */

#define IP_BUCKETS 256

struct ip_entry {
    struct ip_entry *next;
    unsigned char addr[16]; /* IPv6, or IPv4 mapped into it */
    int32_t open, pending;
};

static pthread_mutex_t ip_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ip_entry *ip_table[IP_BUCKETS];
static uint64_t ip_seed; /* random: bucket choice not predictable by clients */

static int ip_key(const struct sockaddr *sa, unsigned char key[16])
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        memset(key, 0, 10);
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &a->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return 0;
    }
    return -1;
}

/* The entry for key, created when `create`; NULL if absent or out of
 * memory. ip_mu held. */
static struct ip_entry *ip_find(const unsigned char key[16], int create)
{
    uint64_t h = 1469598103934665603ull ^ ip_seed;
    for (int i = 0; i < 16; i++)
        h = (h ^ key[i]) * 1099511628211ull;
    struct ip_entry **b = &ip_table[h % IP_BUCKETS];
    for (struct ip_entry *e = *b; e; e = e->next)
        if (!memcmp(e->addr, key, 16))
            return e;
    if (!create)
        return NULL;
    struct ip_entry *e = calloc(1, sizeof *e);
    if (e) {
        memcpy(e->addr, key, 16);
        e->next = *b;
        *b = e;
    }
    return e;
}

/* Drop entries with nothing open or pending. ip_mu held. */
static void ip_prune(int forget_pending)
{
    for (int i = 0; i < IP_BUCKETS; i++)
        for (struct ip_entry **p = &ip_table[i]; *p;) {
            struct ip_entry *e = *p;
            if (forget_pending)
                e->pending = 0;
            if (e->open == 0 && e->pending == 0) {
                *p = e->next;
                free(e);
            } else
                p = &e->next;
        }
}

/* ---- tracking ---------------------------------------------------------- */

void conn_set_state(struct conn_track *t, enum conn_state state)
{
    if (!t)
        return;
    __atomic_store_n(&t->since_ms, now_ms(), __ATOMIC_RELAXED);
    __atomic_store_n(&t->state, (int)state, __ATOMIC_RELEASE);
}

struct conn_track *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

enum conn_refusal conn_refused(const struct conn_track *t)
{
    return t ? t->refusal : CONN_OK;
}

/* A started connection moves from its address's pending count to its open
 * one; returns the entry to remember (NULL: not counted). */
static struct ip_entry *ip_started(struct server *s, struct MHD_Connection *c, int track)
{
    unsigned char key[16];
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (s->cfg.max_connections_per_ip <= 0 || !ci || !ci->client_addr ||
        ip_key(ci->client_addr, key))
        return NULL;
    pthread_mutex_lock(&ip_mu);
    struct ip_entry *e = ip_find(key, track);
    if (e) {
        if (e->pending > 0)
            e->pending--;
        if (track)
            e->open++;
    }
    pthread_mutex_unlock(&ip_mu);
    return track ? e : NULL;
}

static void conn_started(struct server *s, struct MHD_Connection *c, void **socket_ctx)
{
    pending_done();
    int64_t open = __atomic_add_fetch(&s->conns_open, 1, __ATOMIC_RELAXED);
    struct conn_track *t = calloc(1, sizeof *t);
    struct ip_entry *ip = ip_started(s, c, t != NULL);
    if (!t)
        return; /* untracked: MHD's inactivity timeout still applies */
    t->ip = ip;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    t->fd = ci ? ci->connect_fd : -1;
    t->since_ms = now_ms();
    if (open > s->cfg.max_connections) {
        t->refusal = CONN_OVER_LIMIT;
        __atomic_add_fetch(&s->conns_rejected, 1, __ATOMIC_RELAXED);
    }
    pthread_mutex_lock(&conn_mu);
    t->next = &conn_list;
    t->prev = conn_list.prev;
    conn_list.prev->next = t;
    conn_list.prev = t;
    pthread_mutex_unlock(&conn_mu);
    *socket_ctx = t;
}

void conn_notify(void *cls, struct MHD_Connection *c, void **socket_ctx,
                 enum MHD_ConnectionNotificationCode code)
{
    struct server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        conn_started(s, c, socket_ctx);
        return;
    }
    /* MHD_CONNECTION_NOTIFY_CLOSED: MHD closes the socket after this
     * returns, so the sweep (which holds conn_mu) never shuts down a reused fd. */
    __atomic_sub_fetch(&s->conns_open, 1, __ATOMIC_RELAXED);
    struct conn_track *t = *socket_ctx;
    if (!t)
        return;
    *socket_ctx = NULL;
    pthread_mutex_lock(&conn_mu);
    t->prev->next = t->next;
    t->next->prev = t->prev;
    pthread_mutex_unlock(&conn_mu);
    if (t->ip) { /* freed by the sweep once nothing is open or pending */
        pthread_mutex_lock(&ip_mu);
        t->ip->open--;
        pthread_mutex_unlock(&ip_mu);
    }
    if (t->linger_fd > 0)
        linger_add(t->linger_fd);
    free(t);
}

void conn_linger(struct conn_track *t)
{
    if (t && t->fd >= 0 && t->linger_fd <= 0)
        t->linger_fd = fcntl(t->fd, F_DUPFD_CLOEXEC, 1);
}

/* MHD calls this when a request line has arrived: the request's read
 * deadline starts. Its return value is the initial per-request context. */
void *conn_request_line(void *cls, const char *uri, struct MHD_Connection *c)
{
    struct conn_track *t = conn_of(c);
    if (t)
        __atomic_add_fetch(&t->requests, 1, __ATOMIC_RELAXED);
    conn_set_state(t, CONN_READING);
    return NULL;
}

int conn_sweep(struct server *s)
{
    int64_t now = now_ms();
    int64_t idle = s->cfg.connection_timeout * 1000, read = s->cfg.read_timeout * 1000,
            first = s->cfg.first_request_timeout * 1000;
    int draining = __atomic_load_n(&s->draining, __ATOMIC_RELAXED) == 2;
    int busy = 0;
    int forget = now - last_accept_ms > PENDING_FORGET_MS;
    if (forget && __atomic_load_n(&n_pending, __ATOMIC_RELAXED) > 0)
        __atomic_store_n(&n_pending, 0, __ATOMIC_RELAXED);
    pthread_mutex_lock(&ip_mu);
    ip_prune(forget);
    pthread_mutex_unlock(&ip_mu);
    pthread_mutex_lock(&conn_mu);
    for (struct conn_track *t = conn_list.next; t != &conn_list; t = t->next) {
        int state = __atomic_load_n(&t->state, __ATOMIC_ACQUIRE);
        int64_t age = now - __atomic_load_n(&t->since_ms, __ATOMIC_RELAXED);
        if (state != CONN_IDLE)
            busy++;
        if (t->cut || t->fd < 0)
            continue;
        /* An over-limit connection gets one quick chance to send its request
         * (and be told 503); once the listener is closed, idle connections
         * have nothing left to wait for. */
        int first_line = __atomic_load_n(&t->requests, __ATOMIC_RELAXED) == 0;
        int64_t limit = state == CONN_READING ? read
                        : state == CONN_BUSY  ? -1
                        : draining            ? 0
                        : t->refusal          ? OVER_LIMIT_GRACE_MS
                        : first_line          ? first
                                              : idle;
        if (limit >= 0 && age > limit) {
            shutdown(t->fd, SHUT_RDWR);
            t->cut = 1;
            if (!draining || state != CONN_IDLE)
                __atomic_add_fetch(&s->conns_timed_out, 1, __ATOMIC_RELAXED);
        }
    }
    pthread_mutex_unlock(&conn_mu);
    return busy;
}

/* ---- the listener ------------------------------------------------------
 *
 * The listening socket is ours, polled by the libuv loop; every admitted
 * socket goes to MHD_add_connection, which hands it to a worker (fd mod
 * threads). Left to MHD, every worker polls one shared listener and the
 * first to wake accepts a burst of up to ten: 16 keep-alive clients landed
 * 9/8/2/0 on four threads, and the busiest thread capped throughput. */

static uv_poll_t listen_poll;
static uv_timer_t accept_retry;
static int listen_fd = -1;
static int polling;

static void on_listen_readable(uv_poll_t *p, int status, int events);

static void on_accept_retry(uv_timer_t *t)
{
    if (listen_fd >= 0)
        uv_poll_start(&listen_poll, UV_READABLE, on_listen_readable);
}

/* Admit or refuse one accepted socket (we own fd until MHD_add_connection). */
static void admit(struct server *s, int fd, const struct sockaddr_storage *ss, socklen_t len)
{
    int64_t held = __atomic_load_n(&n_pending, __ATOMIC_RELAXED) +
                   __atomic_load_n(&s->conns_open, __ATOMIC_RELAXED);
    if (held >= s->cfg.max_connections + reserve_of(&s->cfg)) {
        close(fd);
        __atomic_add_fetch(&s->conns_rejected, 1, __ATOMIC_RELAXED);
        return;
    }
    /* Entries are freed only by the sweep, on this thread: ip stays valid
     * here between the two locked regions. */
    unsigned char key[16];
    struct ip_entry *ip = NULL;
    if (s->cfg.max_connections_per_ip > 0 && !ip_key((const struct sockaddr *)ss, key)) {
        pthread_mutex_lock(&ip_mu);
        ip = ip_find(key, 1);
        int over = ip && ip->open + ip->pending >= s->cfg.max_connections_per_ip;
        if (ip && !over)
            ip->pending++;
        pthread_mutex_unlock(&ip_mu);
        if (over) {
            close(fd);
            __atomic_add_fetch(&s->conns_rejected_ip, 1, __ATOMIC_RELAXED);
            return;
        }
    }
    __atomic_add_fetch(&n_pending, 1, __ATOMIC_RELAXED);
    last_accept_ms = now_ms();
    /* MHD owns (and on failure has closed) the socket from here. */
    if (MHD_add_connection(s->mhd, fd, (const struct sockaddr *)ss, len) != MHD_YES) {
        pending_done();
        if (ip) {
            pthread_mutex_lock(&ip_mu);
            if (ip->pending > 0)
                ip->pending--;
            pthread_mutex_unlock(&ip_mu);
        }
        __atomic_add_fetch(&s->conns_rejected, 1, __ATOMIC_RELAXED);
    }
}

static void on_listen_readable(uv_poll_t *p, int status, int events)
{
    struct server *s = p->data;
    (void)events;
    for (int i = 0; status == 0 && i < 64; i++) { /* then let the loop breathe */
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = accept4(listen_fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            /* Out of descriptors or memory: the listener stays readable, so
             * polling it now would spin; retry in 100 ms. */
            slog("warn", "accept: %s; pausing accepts for 100 ms", strerror(errno));
            uv_poll_stop(&listen_poll);
            uv_timer_start(&accept_retry, on_accept_retry, 100, 0);
            return;
        }
        admit(s, fd, &ss, len);
    }
}

int conn_listen(struct server *s, int *ipv6, enc_err *err)
{
    if (getrandom(&ip_seed, sizeof ip_seed, 0) != (ssize_t)sizeof ip_seed)
        ip_seed = (uint64_t)now_ms(); /* the bucket spread only: no secret */
    const struct config *c = &s->cfg;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, c->host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)c->port);
        len = sizeof *a4;
        *ipv6 = 0;
    } else if (inet_pton(AF_INET6, c->host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)c->port);
        len = sizeof *a6;
        *ipv6 = 1;
    } else
        return enc_errf(err, ENC_EINVAL, "host: '%s' is not an IPv4 or IPv6 address", c->host);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return enc_errf(err, ENC_EIO, "cannot listen on %s:%lld (socket: %s)", c->host,
                        (long long)c->port, strerror(errno));
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
    if (bind(fd, (const struct sockaddr *)&ss, len) != 0 || listen(fd, 1024) != 0) {
        int e = errno;
        close(fd);
        return enc_errf(err, ENC_EIO, "cannot listen on %s:%lld (%s)", c->host, (long long)c->port,
                        strerror(e));
    }
    listen_fd = fd;
    return 0;
}

void conn_accept_start(struct server *s, uv_loop_t *loop)
{
    listen_poll.data = s;
    uv_poll_init(loop, &listen_poll, listen_fd);
    uv_timer_init(loop, &accept_retry);
    uv_poll_start(&listen_poll, UV_READABLE, on_listen_readable);
    polling = 1;
}

void conn_unlisten(void)
{
    if (listen_fd >= 0 && !polling) {
        close(listen_fd);
        listen_fd = -1;
    }
}

void conn_quiesce(void)
{
    if (listen_fd >= 0 && polling) { /* libuv must let go of the fd before it is closed */
        uv_close((uv_handle_t *)&listen_poll, NULL);
        uv_close((uv_handle_t *)&accept_retry, NULL);
        close(listen_fd);
        listen_fd = -1;
        polling = 0;
    }
}
