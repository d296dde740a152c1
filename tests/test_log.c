/* test_log.c - the access log: per-thread buffers, and whole lines on a pipe
 * even when two threads fill it faster than the reader drains it. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "testutil.h"

#define LINES_PER_THREAD 3000
#define LINE_BYTES 300

struct reader {
    int fd;
    char *data;
    size_t len, cap;
};

/* Read slowly so the pipe fills and writers block mid-buffer. */
static void *read_slowly(void *arg)
{
    struct reader *r = arg;
    for (;;) {
        if (r->len + 4096 > r->cap) {
            r->cap = r->cap ? 2 * r->cap : 1 << 20;
            r->data = realloc(r->data, r->cap);
        }
        ssize_t k = read(r->fd, r->data + r->len, 4096);
        if (k <= 0)
            break;
        r->len += (size_t)k;
        usleep(200);
    }
    return NULL;
}

static void *write_lines_thread(void *arg)
{
    int id = *(int *)arg;
    char line[LINE_BYTES];
    for (int i = 0; i < LINES_PER_THREAD; i++) {
        /* "{"t":ID,"i":N,"pad":"IIII..."}" with the pad made of the thread's digit */
        int n = snprintf(line, sizeof line, "{\"t\":%d,\"i\":%d,\"pad\":\"", id, i);
        memset(line + n, '0' + id, LINE_BYTES - n - 2);
        line[LINE_BYTES - 2] = '"';
        line[LINE_BYTES - 1] = '}';
        log_access(line, LINE_BYTES);
    }
    return NULL;
}

START_TEST(lines_stay_whole_on_a_pipe)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    int saved = dup(STDERR_FILENO);
    ck_assert_int_ge(saved, 0);
    ck_assert_int_ge(dup2(p[1], STDERR_FILENO), 0);
    close(p[1]);
    struct reader r = {p[0], NULL, 0, 0};
    pthread_t rt, wt[2];
    int ids[2] = {1, 2};
    ck_assert_int_eq(pthread_create(&rt, NULL, read_slowly, &r), 0);
    for (int t = 0; t < 2; t++)
        ck_assert_int_eq(pthread_create(&wt[t], NULL, write_lines_thread, &ids[t]), 0);
    for (int t = 0; t < 2; t++)
        pthread_join(wt[t], NULL);
    log_flush();
    dup2(saved, STDERR_FILENO); /* closes the pipe's last writer: EOF */
    close(saved);
    pthread_join(rt, NULL);
    close(p[0]);

    /* Every line is one writer's line, whole; each writer's lines in order. */
    int next[3] = {0, 0, 0};
    size_t lines = 0;
    char *s = r.data, *end = r.data + r.len;
    while (s < end) {
        char *nl = memchr(s, '\n', (size_t)(end - s));
        ck_assert_msg(nl != NULL, "unterminated last line");
        ck_assert_int_eq((int)(nl - s), LINE_BYTES);
        int t = -1, i = -1;
        ck_assert_int_eq(sscanf(s, "{\"t\":%d,\"i\":%d,", &t, &i), 2);
        ck_assert(t == 1 || t == 2);
        ck_assert_int_eq(i, next[t]);
        next[t]++;
        /* one assertion per line, not per byte: each passing ck_assert is a
         * message to Check's parent process (slow under the sanitizers) */
        const char *c = strstr(s, "\"pad\":\"") + 7;
        while (c < nl - 2 && *c == '0' + t)
            c++;
        ck_assert_msg(c == nl - 2, "line %zu: a byte of another line", lines);
        lines++;
        s = nl + 1;
    }
    ck_assert_uint_eq(lines, 2 * LINES_PER_THREAD);
    free(r.data);
}
END_TEST

static void write_key(const char *path, const char *line)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(line, f);
    fclose(f);
    chmod(path, 0600);
}

/* The user-id hash is keyed: the same key gives the same hash (replicas
 * sharing log_hash_key_file agree), another key another hash; a key file
 * that is not 32..128 hex digits is refused naming the file. */
START_TEST(user_hash_is_keyed)
{
    char *dir = tu_tmpdir();
    char k1[4200], k2[4200], bad[4200];
    snprintf(k1, sizeof k1, "%s/k1", dir);
    snprintf(k2, sizeof k2, "%s/k2", dir);
    snprintf(bad, sizeof bad, "%s/bad", dir);
    write_key(k1, "000102030405060708090a0b0c0d0e0f\n");
    write_key(k2, "000102030405060708090a0b0c0d0e0e\n"); /* one bit apart */
    enc_err err = {0};
    char a[LOG_USER_HASH_LEN + 1], b[LOG_USER_HASH_LEN + 1], c[LOG_USER_HASH_LEN + 1],
        d[LOG_USER_HASH_LEN + 1];
    ck_assert_int_eq(log_ids_init(k1, &err), 0);
    log_user_hash("987654321", 9, a);
    log_user_hash("987654322", 9, d);
    ck_assert_int_eq(log_ids_init(k2, &err), 0);
    log_user_hash("987654321", 9, b);
    ck_assert_int_eq(log_ids_init(k1, &err), 0);
    log_user_hash("987654321", 9, c);
    ck_assert_uint_eq(strlen(a), LOG_USER_HASH_LEN);
    ck_assert(a[0] == 'h' && a[1] == ':');
    ck_assert_str_eq(a, c); /* same key, same hash */
    ck_assert_str_ne(a, b); /* the key changes it */
    ck_assert_str_ne(a, d); /* and the id */
    /* HMAC-SHA-256's first 8 bytes: python3 -c "import hmac, hashlib;
     * print(hmac.new(bytes(range(16)), b'987654321', hashlib.sha256).hexdigest()[:16])" */
    ck_assert_str_eq(a, "h:8504c85255179e01");
    ck_assert_int_eq(log_ids_init(NULL, &err), 0); /* random key: another hash again */
    log_user_hash("987654321", 9, b);
    ck_assert_str_ne(a, b);
    const char *bads[] = {"0011\n", "zz0102030405060708090a0b0c0d0e0f\n",
                          "000102030405060708090a0b0c0d0e0f0\n", ""};
    for (size_t i = 0; i < sizeof bads / sizeof *bads; i++) {
        write_key(bad, bads[i]);
        ck_assert_int_eq(log_ids_init(bad, &err), ENC_EINVAL);
        ck_assert_msg(strstr(err.msg, bad) && strstr(err.msg, "hex"), "%s", err.msg);
    }
    ck_assert_int_eq(log_ids_init("/nonexistent/key", &err), ENC_EIO);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

/* Request ids: "<8 hex>-<6+ hex counter>", distinct; the prefix is random
 * per process and does not come from the hash key (a key file does not
 * fix it). */
START_TEST(request_ids)
{
    char *dir = tu_tmpdir();
    char k1[4200];
    snprintf(k1, sizeof k1, "%s/k1", dir);
    write_key(k1, "000102030405060708090a0b0c0d0e0f\n");
    enc_err err = {0};
    char x[32], y[32], p1[9] = {0};
    ck_assert_int_eq(log_ids_init(k1, &err), 0);
    log_request_id(x);
    log_request_id(y);
    ck_assert_str_ne(x, y);
    ck_assert_uint_eq(strlen(x), 15);
    ck_assert_int_eq(x[8], '-');
    ck_assert_int_eq(strncmp(x, y, 9), 0);
    memcpy(p1, x, 8);
    int differs = 0; /* same key file, new prefix (2^-32 to be the same) x 4 tries */
    for (int i = 0; i < 4 && !differs; i++) {
        ck_assert_int_eq(log_ids_init(k1, &err), 0);
        log_request_id(y);
        differs = strncmp(y, p1, 8) != 0;
    }
    ck_assert(differs);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("log");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, lines_stay_whole_on_a_pipe);
    tcase_add_test(tc, user_hash_is_keyed);
    tcase_add_test(tc, request_ids);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
