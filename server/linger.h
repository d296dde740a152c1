/*
 * linger.h - lingering close, the way nginx does it.
 *
 * A request refused before its body was read (413 for a body over
 * max_body_bytes, 401, 404, ...) is answered at once, so the client need
 * not upload what will be thrown away. But closing a socket that still has
 * unread data makes the kernel send a reset, and a client that writes its
 * whole body before reading (Python's http.client, requests) then gets
 * ECONNRESET / EPIPE instead of the answer. So such a connection is not
 * closed: after the answer its write side is shut (the client reads the
 * answer, then EOF) and whatever the client still sends is read and
 * discarded on the libuv loop until the client closes, or is silent for
 * LINGER_TIMEOUT_MS, or LINGER_TIME_MS have passed (nginx's lingering_close
 * with its default lingering_timeout 5 s and lingering_time 30 s).
 *
 *   HTTP thread:  answer -> dup(fd) -> libmicrohttpd closes its fd
 *                 -> linger_add(dup)
 *   loop thread:  shutdown(SHUT_WR), read and discard -> close
 */
#ifndef ENCORE_LINGER_H
#define ENCORE_LINGER_H

struct uv_loop_s;

#define LINGER_TIMEOUT_MS 5000
#define LINGER_TIME_MS 30000
#define LINGER_MAX 256 /* connections lingering at once; past it, closed at once */

/* Loop thread: start accepting lingering sockets. Returns 0 or ENC_ENOMEM. */
int linger_start(struct uv_loop_s *loop);
/* Any thread: take ownership of `fd` (a socket whose answer has been
 * written) and drain it on the loop; closed at once if lingering is not
 * running or LINGER_MAX sockets already linger. */
void linger_add(int fd);
/* Sockets lingering now (for tests and metrics). */
int linger_count(void);
/* Loop thread: close every lingering socket and stop. */
void linger_stop(void);

#endif
