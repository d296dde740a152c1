/*
 * metrics.h - Prometheus counters and histograms for /metrics.
 *
 * Request series are keyed by (route, model, version, status); the table is
 * fixed-size and guarded by one mutex (an uncontended lock costs less than
 * the syscalls a request already makes). Handlers set r->model only for a
 * model the registry knows, so random names in bad requests cannot grow the
 * table. Every reload adds series for the new version; when the table is
 * full the series updated least recently (in practice those of versions no
 * longer served) is evicted and counted in encore_metrics_evicted_series_total.
 */
#ifndef ENCORE_METRICS_H
#define ENCORE_METRICS_H

#include <stdint.h>

#include "core/buf.h"

struct server;
struct metrics;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* Count one finished request. `model` may be "" (none; version is then 0).
 * `route` must be a static string (the route table's name). */
void metrics_observe(struct metrics *m, const char *route, const char *model, int64_t version,
                     int status, double seconds);

/* Append the Prometheus text exposition of everything to `out`. */
void metrics_render(struct metrics *m, struct server *s, buf *out);

#endif
