/*
 * conn.h - client connections from accept to close (private to the HTTP
 * layer: http.c and conn.c).
 *
 * The listening socket belongs to the libuv loop. Every accepted socket is
 * admitted or refused here, then handed to libmicrohttpd with
 * MHD_add_connection. Admission is decided at accept, on the loop thread,
 * from a count that rises at accept (not when an MHD worker gets round to
 * the connection), so a burst can never carry MHD to its own connection
 * limit: libmicrohttpd 0.9.75 (Debian 12) returns from that limit's path
 * with a mutex held, and every HTTP thread then waits on it forever.
 *
 *   accepted  <  max_connections            served
 *   accepted  <  max_connections + reserve  served a 503 (Retry-After: 1,
 *                                           Connection: close) at its first
 *                                           request, cut after 2 s idle
 *   otherwise                               closed at accept
 *
 * MHD's own limit is set to threads x (max_connections + reserve + 64):
 * every worker could hold all our connections and still be under its share.
 *
 * Each connection is tracked (conn_track) so that the loop's sweep can
 * enforce what MHD's inactivity timeout cannot: a deadline for the first
 * request line, one for a whole request (slowloris), an idle deadline, and
 * the drain.
 */
#ifndef ENCORE_CONN_H
#define ENCORE_CONN_H

#include <microhttpd.h>
#include <uv.h>

#include "core/err.h"

struct server;
struct conn_track;

enum conn_state { CONN_IDLE = 0, CONN_READING = 1, CONN_BUSY = 2 };

/* Why a connection is answered 503 at its first request (0: it is not). */
enum conn_refusal { CONN_OK = 0, CONN_OVER_LIMIT = 1 };

/* Open the listening socket on cfg.host:cfg.port; *ipv6 tells the address
 * family. Returns 0 or ENC_EINVAL / ENC_EIO with a message. */
int conn_listen(struct server *s, int *ipv6, enc_err *err);

/* The connection limit to give MHD (MHD_OPTION_CONNECTION_LIMIT). */
unsigned conn_mhd_limit(const struct server *s);

/* Start accepting on `loop` (after MHD started); stop and close the
 * listener (loop thread; idempotent). conn_unlisten closes a listener that
 * was opened but never polled (MHD failed to start). */
void conn_accept_start(struct server *s, uv_loop_t *loop);
void conn_quiesce(void);
void conn_unlisten(void);

/* MHD callbacks: MHD_OPTION_NOTIFY_CONNECTION and
 * MHD_OPTION_URI_LOG_CALLBACK (the request line arrived). */
void conn_notify(void *cls, struct MHD_Connection *c, void **socket_ctx,
                 enum MHD_ConnectionNotificationCode code);
void *conn_request_line(void *cls, const char *uri, struct MHD_Connection *c);

/* The tracking record of c (NULL if untracked: out of memory at start). */
struct conn_track *conn_of(struct MHD_Connection *c);
void conn_set_state(struct conn_track *t, enum conn_state state); /* t may be NULL */
enum conn_refusal conn_refused(const struct conn_track *t);       /* t may be NULL */

/* Answered before its body was read: when MHD closes the connection, keep
 * the socket open and let linger.c drain it, so the client reads the
 * answer instead of a reset (t may be NULL). */
void conn_linger(struct conn_track *t);

/* Cut connections past their deadlines; see http_sweep (server.h). */
int conn_sweep(struct server *s);

#endif
