/* log.c - event log and buffered access log (see log.h). */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"

#define ACCESS_FLUSH_BYTES (32 * 1024)

static pthread_mutex_t access_mu = PTHREAD_MUTEX_INITIALIZER;
static char access_buf[ACCESS_FLUSH_BYTES * 2];
static size_t access_len;

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

void log_access(const char *line, size_t len)
{
    pthread_mutex_lock(&access_mu);
    if (access_len + len + 1 > sizeof access_buf) {
        write_all(access_buf, access_len);
        access_len = 0;
    }
    if (len + 1 > sizeof access_buf) {
        write_all(line, len);
        write_all("\n", 1);
    } else {
        memcpy(access_buf + access_len, line, len);
        access_buf[access_len + len] = '\n';
        access_len += len + 1;
        if (access_len >= ACCESS_FLUSH_BYTES) {
            write_all(access_buf, access_len);
            access_len = 0;
        }
    }
    pthread_mutex_unlock(&access_mu);
}

void log_flush(void)
{
    pthread_mutex_lock(&access_mu);
    write_all(access_buf, access_len);
    access_len = 0;
    pthread_mutex_unlock(&access_mu);
}
