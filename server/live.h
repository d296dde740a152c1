/*
 * live.h - the server's side of live recommendations (issue #15): the event
 * store it writes to and reads from (models/events/store.h), the configured
 * event types, and the counters /metrics shows.
 *
 *   live_open    after the config phase: opens the store named by `events`
 *                (a directory, redis://HOST:PORT[/DB]; "off" gives NULL)
 *   live_compact on a libuv worker thread, hourly: retention
 *   live_close   after HTTP has stopped: finishes queued writes
 *
 * Handlers (h_events.c) use the store directly: appends are asynchronous
 * (the request is suspended until the group commit, store.h), reads and
 * admin writes are short store calls on the HTTP thread. Nothing here runs
 * on the libuv loop thread.
 */
#ifndef ENCORE_LIVE_H
#define ENCORE_LIVE_H

#include <stdint.h>

#include "config.h"
#include "core/buf.h"
#include "core/err.h"
#include "events/event.h"
#include "events/store.h"

struct live {
    struct evstore *store;
    struct ev_types types;
    /* counters (atomic) */
    int64_t accepted;           /* events stored */
    int64_t duplicates;         /* events counted once already (client retries) */
    int64_t refused;            /* requests refused as bad input (400/413) */
    int64_t store_failures;     /* store calls that failed (Redis down, disk full) */
    int64_t model_only;         /* recommend answers from the model alone: store down */
    int64_t compactions;        /* compaction runs, and events they removed */
    int64_t compacted;
};

/* Open what `c` asks for. *out is NULL when events are off. A Redis store
 * opens even while Redis is down (calls fail with 503 until it is back);
 * an embedded store that cannot be opened is an error. */
int live_open(const struct config *c, struct live **out, enc_err *err);
void live_close(struct live *l);   /* NULL ok */

/* Drop what is older than the retention (blocking: a worker thread). */
void live_compact(struct live *l);

/* Prometheus text: counters and the store's size (one short store call). */
void live_metrics(struct live *l, buf *out);

#define live_add(l, field, n) __atomic_add_fetch(&(l)->field, (int64_t)(n), __ATOMIC_RELAXED)

#endif
