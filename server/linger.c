/*
 * linger.c - lingering close on the libuv loop (see linger.h).
 *
 * HTTP threads hand sockets over through a small locked array and an
 * uv_async; the loop polls each socket, discards what arrives, and a
 * one-second timer enforces the deadlines. Every socket is closed in its
 * poll handle's close callback (libuv must let go of an fd before it is
 * closed).
 */
#include "linger.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "core/err.h"

struct lg {
    uv_poll_t poll;
    int fd;
    uint64_t t0, last; /* uv_now at the start / at the last byte */
    struct lg *prev, *next;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int pending[LINGER_MAX], n_pending;
static int running;  /* under mu */
static int n_active; /* atomic: lingering on the loop */
static uv_loop_t *lp;
static uv_async_t wake;
static uv_timer_t tick;
static struct lg active = {.prev = &active, .next = &active};

static void on_poll_closed(uv_handle_t *h)
{
    struct lg *g = h->data;
    close(g->fd);
    free(g);
    __atomic_sub_fetch(&n_active, 1, __ATOMIC_RELAXED);
}

static void finish(struct lg *g)
{
    if (uv_is_closing((uv_handle_t *)&g->poll))
        return;
    g->prev->next = g->next;
    g->next->prev = g->prev;
    g->prev = g->next = g;
    uv_close((uv_handle_t *)&g->poll, on_poll_closed);
}

static void on_readable(uv_poll_t *p, int status, int events)
{
    struct lg *g = p->data;
    static char sink[65536]; /* loop thread only */
    if (status < 0) {
        finish(g);
        return;
    }
    for (int i = 0; i < 64; i++) { /* at most 4 MiB per wakeup: let the loop breathe */
        ssize_t n = recv(g->fd, sink, sizeof sink, MSG_DONTWAIT);
        if (n > 0) {
            g->last = uv_now(lp);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        finish(g); /* EOF: the client closed; or an error */
        return;
    }
}

static void start_one(int fd)
{
    struct lg *g = calloc(1, sizeof *g);
    if (!g || uv_poll_init(lp, &g->poll, fd) != 0) {
        free(g);
        close(fd);
        return;
    }
    __atomic_add_fetch(&n_active, 1, __ATOMIC_RELAXED);
    g->fd = fd;
    g->poll.data = g;
    g->t0 = g->last = uv_now(lp);
    g->next = &active;
    g->prev = active.prev;
    active.prev->next = g;
    active.prev = g;
    /* No RST when we close later: a socket option set by whoever closed
     * the other descriptor (SO_LINGER 0) belongs to the socket. */
    struct linger off = {0, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &off, sizeof off);
    /* The answer is written: the client sees it, then EOF. */
    shutdown(fd, SHUT_WR);
    uv_poll_start(&g->poll, UV_READABLE | UV_DISCONNECT, on_readable);
}

static void on_wake(uv_async_t *a)
{
    int fds[LINGER_MAX], n;
    pthread_mutex_lock(&mu);
    n = n_pending;
    memcpy(fds, pending, sizeof(int) * (size_t)n);
    n_pending = 0;
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < n; i++)
        start_one(fds[i]);
}

static void on_tick(uv_timer_t *t)
{
    uint64_t now = uv_now(lp);
    for (struct lg *g = active.next, *next; g != &active; g = next) {
        next = g->next;
        if (now - g->last >= LINGER_TIMEOUT_MS || now - g->t0 >= LINGER_TIME_MS)
            finish(g);
    }
}

int linger_start(uv_loop_t *loop)
{
    lp = loop;
    if (uv_async_init(loop, &wake, on_wake) || uv_timer_init(loop, &tick))
        return ENC_ENOMEM;
    /* Neither keeps the loop alive on its own: the server stops it. */
    uv_unref((uv_handle_t *)&wake);
    uv_unref((uv_handle_t *)&tick);
    uv_timer_start(&tick, on_tick, 1000, 1000);
    pthread_mutex_lock(&mu);
    running = 1;
    pthread_mutex_unlock(&mu);
    return 0;
}

void linger_add(int fd)
{
    if (fd < 0)
        return;
    int queued = 0;
    pthread_mutex_lock(&mu);
    if (running && n_pending < LINGER_MAX &&
        __atomic_load_n(&n_active, __ATOMIC_RELAXED) + n_pending < LINGER_MAX) {
        pending[n_pending++] = fd;
        queued = 1;
    }
    pthread_mutex_unlock(&mu);
    if (queued)
        uv_async_send(&wake);
    else
        close(fd);
}

int linger_count(void)
{
    pthread_mutex_lock(&mu);
    int n = n_pending;
    pthread_mutex_unlock(&mu);
    return n + __atomic_load_n(&n_active, __ATOMIC_RELAXED);
}

void linger_stop(void)
{
    pthread_mutex_lock(&mu);
    int was = running;
    running = 0;
    for (int i = 0; i < n_pending; i++)
        close(pending[i]);
    n_pending = 0;
    pthread_mutex_unlock(&mu);
    if (!was)
        return;
    while (active.next != &active)
        finish(active.next);
    uv_close((uv_handle_t *)&wake, NULL);
    uv_close((uv_handle_t *)&tick, NULL);
}
