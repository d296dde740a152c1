/* log.c - event log and buffered access log (see log.h). */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <nettle/hmac.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/random.h>
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

static pthread_mutex_t bufs_mu = PTHREAD_MUTEX_INITIALIZER; /* guards the list */
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
    size_t n = strlen(cached); /* 19 */
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
    stderr_is_pipe =
        fstat(STDERR_FILENO, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
}

static void write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(STDERR_FILENO, p, n);
        if (k <= 0)
            return; /* stderr gone: nothing sensible to do */
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
    log_flush(); /* keep the two logs in order */
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
            if (k == 0) { /* one very long line */
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
    if (!b || len + 1 > ACCESS_BUF_BYTES) { /* cannot buffer: one write, in order */
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

/* ---- user ids and request ids (see log.h) ------------------------------- */

/* Keyed once by log_ids_init, read-only after: each hash works on a copy. */
static struct hmac_sha256_ctx hash_keyed;
static int hash_ready;
static uint32_t request_prefix;
static uint64_t request_counter; /* atomic */

static const char hexdigits[] = "0123456789abcdef";

/* v as exactly `digits` lower-case hex digits; returns the end. */
static char *hex_fixed(char *out, uint64_t v, int digits)
{
    for (int i = digits - 1; i >= 0; i--) {
        out[i] = hexdigits[v & 15];
        v >>= 4;
    }
    return out + digits;
}

static int random_bytes(void *dst, size_t n)
{
    unsigned char *p = dst;
    while (n > 0) {
        ssize_t k = getrandom(p, n, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* The key file's first line: an even number of hex digits, at least
 * 2 * LOG_HASH_KEY_MIN of them. */
static int read_key_file(const char *path, uint8_t *key, size_t *len, enc_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return enc_errf(err, ENC_EIO, "log_hash_key_file %s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && (sb.st_mode & S_IROTH))
        slog("warn", "%s is readable by every user: chmod 600 it", path);
    char line[2 * LOG_HASH_KEY_MAX + 8];
    int got = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    size_t n = got ? strlen(line) : 0;
    while (n && isspace((unsigned char)line[n - 1]))
        n--;
    size_t i = 0;
    while (i < n && isxdigit((unsigned char)line[i]))
        i++;
    if (i != n || n % 2 || n < 2 * LOG_HASH_KEY_MIN || n > 2 * LOG_HASH_KEY_MAX)
        return enc_errf(err, ENC_EINVAL,
                        "log_hash_key_file %s: the first line must be %d to %d hex digits "
                        "(e.g. openssl rand -hex 32)",
                        path, 2 * LOG_HASH_KEY_MIN, 2 * LOG_HASH_KEY_MAX);
    for (i = 0; i < n / 2; i++) {
        char b[3] = {line[2 * i], line[2 * i + 1], 0};
        key[i] = (uint8_t)strtoul(b, NULL, 16);
    }
    *len = n / 2;
    return 0;
}

static pthread_once_t hash_once = PTHREAD_ONCE_INIT;

static void hash_default_key(void)
{
    enc_err e;
    if (!hash_ready && log_ids_init(NULL, &e))
        abort(); /* getrandom failed: no key, no hash */
}

int log_ids_init(const char *key_file, enc_err *err)
{
    uint8_t key[LOG_HASH_KEY_MAX];
    size_t len = LOG_HASH_KEY_MIN;
    if (key_file && *key_file) {
        int rc = read_key_file(key_file, key, &len, err);
        if (rc)
            return rc;
    } else if (random_bytes(key, len))
        return enc_errf(err, ENC_EIO, "getrandom: %s", strerror(errno));
    if (random_bytes(&request_prefix, sizeof request_prefix))
        return enc_errf(err, ENC_EIO, "getrandom: %s", strerror(errno));
    hmac_sha256_set_key(&hash_keyed, len, key);
    memset(key, 0, sizeof key);
    hash_ready = 1;
    return 0;
}

void log_user_hash(const char *user, size_t len, char *out)
{
    uint8_t digest[SHA256_DIGEST_SIZE];
    /* Never unkeyed (a hash without a secret key is reversible): without
     * log_ids_init, a random key once. */
    pthread_once(&hash_once, hash_default_key);
    struct hmac_sha256_ctx c = hash_keyed;
    hmac_sha256_update(&c, len, (const uint8_t *)user);
    hmac_sha256_digest(&c, 8, digest);
    out[0] = 'h';
    out[1] = ':';
    for (int i = 0; i < 8; i++) {
        out[2 + 2 * i] = hexdigits[digest[i] >> 4];
        out[3 + 2 * i] = hexdigits[digest[i] & 15];
    }
    out[LOG_USER_HASH_LEN] = '\0';
}

void log_request_id(char *out)
{
    uint64_t n = __atomic_add_fetch(&request_counter, 1, __ATOMIC_RELAXED);
    char *p = hex_fixed(out, request_prefix, 8);
    *p++ = '-';
    int digits = 6;
    while (digits < 16 && (n >> (4 * digits)) != 0)
        digits++;
    *hex_fixed(p, n, digits) = '\0';
}
