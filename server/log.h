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

void slog(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append one complete line (without the newline) to the access log. */
void log_access(const char *line, size_t len);
/* Write out buffered access-log lines (called by a timer and at exit). */
void log_flush(void);

/* ISO-8601 UTC timestamp with milliseconds into out[32]. */
void log_time(char out[32]);

#endif
