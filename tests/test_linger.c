/*
 * test_linger.c - server/linger.c on a real libuv loop and a socket pair:
 * after linger_add the peer reads EOF (the write side was shut), can still
 * write megabytes without a reset (they are read and discarded), and the
 * socket is closed once the peer closes; linger_stop closes what is left.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "linger.h"
#include "testutil.h"

/* Run the loop until cond() or ~5 s of iterations. */
static void spin(uv_loop_t *loop, int (*cond)(void *), void *arg)
{
    for (int i = 0; i < 5000 && !cond(arg); i++) {
        uv_run(loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
}

static void noop(uv_timer_t *t) {}

static int none_left(void *arg)
{
    return linger_count() == 0;
}

START_TEST(drains_then_closes)
{
    uv_loop_t loop;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    ck_assert_int_eq(linger_start(&loop), 0);
    /* linger's own handles do not keep a loop alive (the server's listener
     * does): a repeating timer stands in for it. */
    uv_timer_t alive;
    uv_timer_init(&loop, &alive);
    uv_timer_start(&alive, noop, 1000, 1000);
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    /* The "answer" was written before the hand-over. */
    ck_assert_int_eq(write(sv[0], "413", 3), 3);
    linger_add(sv[0]);
    ck_assert_int_eq(linger_count(), 1);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    /* The peer keeps sending 8 MiB: every byte is accepted. */
    static char chunk[65536];
    size_t sent = 0;
    for (int i = 0; i < 100000 && sent < (8u << 20); i++) {
        ssize_t n = write(sv[1], chunk, sizeof chunk);
        if (n > 0)
            sent += (size_t)n;
        else {
            ck_assert_msg(errno == EAGAIN, "write: %s", strerror(errno));
            uv_run(&loop, UV_RUN_NOWAIT);
        }
    }
    ck_assert_uint_ge(sent, 8u << 20);
    /* It reads the answer, then EOF. */
    char got[8];
    ssize_t n = 0;
    for (int i = 0; i < 1000 && n <= 0; i++) {
        n = read(sv[1], got, sizeof got);
        if (n < 0)
            usleep(1000);
    }
    ck_assert_int_eq(n, 3);
    ck_assert(!memcmp(got, "413", 3));
    ck_assert_int_eq(read(sv[1], got, sizeof got), 0);
    ck_assert_int_eq(linger_count(), 1);
    /* The peer closes: so does the lingering side. */
    close(sv[1]);
    spin(&loop, none_left, NULL);
    ck_assert_int_eq(linger_count(), 0);

    /* linger_stop closes whatever still lingers. */
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    linger_add(sv[0]);
    for (int i = 0; i < 10; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    ck_assert_int_eq(linger_count(), 1);
    linger_stop();
    uv_close((uv_handle_t *)&alive, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(linger_count(), 0);
    ck_assert_int_eq(read(sv[1], got, sizeof got), 0); /* closed: EOF */
    close(sv[1]);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    /* Stopped: a socket handed over now is closed at once. */
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    linger_add(sv[0]);
    ck_assert_int_eq(linger_count(), 0);
    ck_assert_int_eq(read(sv[1], got, sizeof got), 0);
    close(sv[1]);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("linger");
    TCase *tc = tcase_create("linger");
    tcase_add_test(tc, drains_then_closes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
