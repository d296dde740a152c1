/*
 * metrics.h - Prometheus counters and histograms for /metrics.
 *
 * Series are keyed by (route, model, status); the table is fixed-size and
 * guarded by one mutex (an uncontended lock costs less than the syscalls a
 * request already makes). Models unknown to the registry are reported as
 * model="" so that random names in bad requests cannot grow the table.
 */
#ifndef ENCORE_METRICS_H
#define ENCORE_METRICS_H

#include "core/buf.h"

struct server;
struct metrics;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* Count one finished request. `model` may be "" (none). */
void metrics_observe(struct metrics *m, const char *route, const char *model, int status,
                     double seconds);
/* Count a request refused before routing (e.g. connection limit). */
void metrics_count_reload_failure(struct metrics *m);

/* Append the Prometheus text exposition of everything to `out`. */
void metrics_render(struct metrics *m, struct server *s, buf *out);

#endif
