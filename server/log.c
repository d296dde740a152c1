/* log.c - event log and buffered access log (see log.h). */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "core/buf.h"

/* One access-log buffer per HTTP thread. With one shared buffer under one
 * mutex, an HTTP thread that filled it held the lock through write(2) and
 * the other threads queued behind it; now a thread takes only its own,
 * uncontended mutex (the flush timer is the only other taker). On a pipe or
 * socket (a container's log collector) every write is at most PIPE_BUF
 * bytes of whole lines, so lines of different threads never interleave. */
#define ACCESS_BUF_BYTES (32 * 1024)
#define ACCESS_MAX_THREADS 1024

struct access_buf {
    pthread_mutex_t mu;
    size_t len;
    char data[ACCESS_BUF_BYTES];
};

static pthread_mutex_t bufs_mu = PTHREAD_MUTEX_INITIALIZER;   /* guards the list */
static struct access_buf *bufs[ACCESS_MAX_THREADS];
static int n_bufs;
static __thread struct access_buf *my_buf;

void log_time(char out[32])
{
    /* The access log asks for this on every request: format the date and
     * time once per second per thread, then only the milliseconds. */
    static __thread time_t cached_sec = -1;
    static __thread char cached[24];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    if (tv.tv_sec != cached_sec) {
        struct tm tm;
        gmtime_r(&tv.tv_sec, &tm);
        strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &tm);
        cached_sec = tv.tv_sec;
    }
    size_t n = strlen(cached);   /* 19 */
    int ms = (int)(tv.tv_usec / 1000);
    memcpy(out, cached, n);
    out[n] = '.';
    out[n + 1] = (char)('0' + ms / 100);
    out[n + 2] = (char)('0' + ms / 10 % 10);
    out[n + 3] = (char)('0' + ms % 10);
    out[n + 4] = 'Z';
    out[n + 5] = '\0';
}

static pthread_once_t pipe_once = PTHREAD_ONCE_INIT;
static int stderr_is_pipe;

static void check_pipe(void)
{
    struct stat st;
    stderr_is_pipe = fstat(STDERR_FILENO, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
}

static void write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(STDERR_FILENO, p, n);
        if (k <= 0)
            return;   /* stderr gone: nothing sensible to do */
        p += k;
        n -= (size_t)k;
    }
}

void slog(const char *level, const char *fmt, ...)
{
    char msg[1024], ts[32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_time(ts);
    buf b;
    buf_init(&b);
    buf_printf(&b, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":", ts, level);
    buf_json_str(&b, msg, strlen(msg));
    buf_puts(&b, "}\n");
    log_flush();   /* keep the two logs in order */
    if (!b.oom)
        write_all(b.data, b.len);
    buf_free(&b);
}

/* This thread's buffer, registered on first use; NULL if out of memory or
 * slots (then lines are written directly). Buffers live until exit. */
static struct access_buf *thread_buf(void)
{
    if (my_buf)
        return my_buf;
    struct access_buf *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    pthread_mutex_init(&b->mu, NULL);
    pthread_mutex_lock(&bufs_mu);
    if (n_bufs < ACCESS_MAX_THREADS) {
        bufs[n_bufs++] = b;
        my_buf = b;
    }
    pthread_mutex_unlock(&bufs_mu);
    if (!my_buf) {
        pthread_mutex_destroy(&b->mu);
        free(b);
    }
    return my_buf;
}

/* Write whole lines p[0..n); on a pipe in pieces of at most PIPE_BUF that
 * end at a newline (a line longer than that goes alone). */
static void write_lines(const char *p, size_t n)
{
    pthread_once(&pipe_once, check_pipe);
    if (!stderr_is_pipe) {
        write_all(p, n);
        return;
    }
    while (n > 0) {
        size_t k = n;
        if (k > PIPE_BUF) {
            k = PIPE_BUF;
            while (k > 0 && p[k - 1] != '\n')
                k--;
            if (k == 0) {   /* one very long line */
                const char *nl = memchr(p, '\n', n);
                k = nl ? (size_t)(nl - p) + 1 : n;
            }
        }
        write_all(p, k);
        p += k;
        n -= k;
    }
}

void log_access(const char *line, size_t len)
{
    struct access_buf *b = thread_buf();
    if (!b || len + 1 > ACCESS_BUF_BYTES) {   /* cannot buffer: one write, in order */
        char *tmp = malloc(len + 1);
        if (tmp) {
            memcpy(tmp, line, len);
            tmp[len] = '\n';
            log_flush();
            write_all(tmp, len + 1);
            free(tmp);
        }
        return;
    }
    pthread_mutex_lock(&b->mu);
    if (b->len + len + 1 > ACCESS_BUF_BYTES) {
        write_lines(b->data, b->len);
        b->len = 0;
    }
    memcpy(b->data + b->len, line, len);
    b->data[b->len + len] = '\n';
    b->len += len + 1;
    pthread_mutex_unlock(&b->mu);
}

void log_flush(void)
{
    pthread_mutex_lock(&bufs_mu);
    for (int i = 0; i < n_bufs; i++) {
        struct access_buf *b = bufs[i];
        pthread_mutex_lock(&b->mu);
        write_lines(b->data, b->len);
        b->len = 0;
        pthread_mutex_unlock(&b->mu);
    }
    pthread_mutex_unlock(&bufs_mu);
}
