/* test_log.c - the access log: per-thread buffers, and whole lines on a pipe
 * even when two threads fill it faster than the reader drains it. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    dup2(saved, STDERR_FILENO);   /* closes the pipe's last writer: EOF */
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

int main(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("log");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, lines_stay_whole_on_a_pipe);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
