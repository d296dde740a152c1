/*
 * log.h - the server's two logs, both JSON lines on stderr:
 *   - the event log (slog): startup phases, model loads and refusals, signals;
 *   - the access log: one line per request, appended to its HTTP thread's own
 *     buffer and written out when that fills (32 KiB) or by the loop's timer
 *     (log_flush), so a request costs a memcpy, not a write(2), and threads
 *     never wait for each other. Lines of different threads may appear out of
 *     time order by up to the timer's period; each carries its time.
 */
#ifndef ENCORE_LOG_H
#define ENCORE_LOG_H

#include <stddef.h>

#include "core/err.h"

void slog(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append one complete line (without the newline) to the access log. */
void log_access(const char *line, size_t len);
/* Write out buffered access-log lines (called by a timer and at exit). */
void log_flush(void);

/* ISO-8601 UTC timestamp with milliseconds into out[32]. */
void log_time(char out[32]);

/* ---- user ids and request ids ------------------------------------------
 *
 * A user id in the access log is "h:" + the first 64 bits (16 hex digits) of
 * HMAC-SHA-256(key, id) (nettle). The key is the first line of
 * log_hash_key_file, at least 32 hex digits (128 bits; `openssl rand -hex 32`),
 * so that replicas sharing the file agree on every hash and one user can be
 * followed across them; without a file, 16 bytes from getrandom() at startup
 * (stable for the process only). Nothing the server sends or logs is derived
 * from the key: request ids take their prefix from separate random bytes.
 * (The salted hash this replaces put the salt's low 32 bits in every request
 * id; one log line gave back a 9-digit user id in 12 s of guessing.) */
#define LOG_USER_HASH_LEN 18 /* "h:" + 16 hex digits */
#define LOG_HASH_KEY_MIN 16  /* bytes */
#define LOG_HASH_KEY_MAX 64

/* Set the key (key_file NULL or "": random) and the request-id prefix
 * (always random). Call once before serving. 0, or ENC_EIO / ENC_EINVAL
 * naming the file and the problem. */
int log_ids_init(const char *key_file, enc_err *err);

/* out[LOG_USER_HASH_LEN + 1] = "h:<16 hex>" for the id. Thread-safe. */
void log_user_hash(const char *user, size_t len, char *out);

/* A new request id into out[32]: 8 hex digits of the per-process random
 * prefix, '-', a process-wide counter in hex (6 digits or more). */
void log_request_id(char *out);

#endif
