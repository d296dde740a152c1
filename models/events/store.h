/*
 * store.h - the event store: what users did, the erased users, and the
 * catalogue overrides, in one place that encore-server writes and reads and
 * encore-train reads.
 *
 * Two backends behind one API, chosen by the location string:
 *
 *   /some/dir          embedded: LMDB in that directory (store_lmdb.c). One
 *                      writer thread commits every queued request in one
 *                      transaction (group commit) and fsyncs before anyone
 *                      is answered, so an acknowledged event survives kill -9
 *                      and power loss. Readers never block (LMDB MVCC).
 *   redis://HOST:PORT[/DB]  a Redis server shared by every replica
 *                      (store_redis.c): each append is one Lua script (atomic:
 *                      all or nothing); durability is Redis's appendfsync
 *                      (docs/events.md). Changes are announced on a Redis
 *                      stream that every replica follows (evstore_watch).
 *
 * What is kept:
 *   events        per user, in arrival order, each with a store-wide
 *                 ascending sequence number; at most `user_cap` per user (the
 *                 oldest go first) and for at most `retention_days` after
 *                 they were received (evstore_compact);
 *   event ids     a repeated client event id within the retention window is
 *                 a duplicate: counted, not stored again;
 *   tombstones    users erased (evstore_erase_user), kept for good so that
 *                 training leaves their old interactions out;
 *   catalogue     per item an opaque JSON record (catalog.h gives it meaning);
 *   recommendation counts  per recommendation id and event type, the number
 *                 of events received that named it (aggregates for A/B tests;
 *                 kept while updated within the retention window);
 *   counters      named sets of counters (an experiment's variant: its
 *                 recommendations, users, events, hits), each either a plain
 *                 count or a count of distinct members; kept while updated
 *                 within the retention window (evstore_count_async).
 *
 * Thread safety: every function may be called from any thread at once.
 * Errors: 0 or a negative ENC_E* code; an unreachable Redis is ENC_EBUSY
 * (HTTP 503), a full disk or map ENC_EIO.
 */
#ifndef ENCORE_EVENTS_STORE_H
#define ENCORE_EVENTS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "events/event.h"

struct evstore;

struct evstore_options {
    const char *location;   /* directory or redis://HOST:PORT[/DB] (borrowed) */
    int64_t retention_days; /* >= 1 */
    int64_t user_cap;       /* events kept per user, >= 1 */
    int read_only;          /* open for reading (the trainer's export) */
    int64_t map_bytes;      /* LMDB: largest size of the file (0: 8 GiB) */
    int timeout_ms;         /* Redis: connect and command timeout (0: 1000) */
    int64_t merge_events;   /* embedded: appended events merged into the indexes at
                               this many (0: 20,000; store_lmdb_int.h) */
};

/* Defaults: retention 90 days, 1,000 events per user. */
void evstore_options_default(struct evstore_options *o);

/* 1 if `location` names a Redis server, 0 for a directory. */
int evstore_is_redis(const char *location);

/* Open (creating an embedded store's directory and files if needed).
 * A Redis store opens even while the server is down (later calls answer
 * ENC_EBUSY until it is back). Caller closes with evstore_close. */
int evstore_open(const struct evstore_options *o, struct evstore **out, enc_err *err);
/* Finish the queued writes, stop the store's threads, close. NULL is a no-op. */
void evstore_close(struct evstore *s);

/* "lmdb" or "redis". */
const char *evstore_kind(const struct evstore *s);

/* ---- writing events -------------------------------------------------- */

struct evstore_result {
    int code; /* 0 or ENC_E* */
    size_t accepted, duplicates;
    enc_err err; /* message when code != 0 */
};
typedef void (*evstore_done_fn)(void *arg, const struct evstore_result *res);

/* Append n events, all or nothing, as received at `now`. The events'
 * fields must already be valid (ids checked with ev_id_problem, types from
 * the configured table); they are copied before the call returns. `done`
 * is called exactly once: on the store's writer thread after the fsync
 * (embedded), or on the calling thread before this returns (Redis, or an
 * immediate failure). A duplicate is an event whose id was seen within the
 * retention window or earlier in the same call. */
void evstore_append_async(struct evstore *s, const struct ev_event *ev, size_t n, int64_t now,
                          evstore_done_fn done, void *arg);
/* The same, waiting for the answer. */
int evstore_append(struct evstore *s, const struct ev_event *ev, size_t n, int64_t now,
                   size_t *accepted, size_t *duplicates, enc_err *err);

/* Wait until every write queued before this call (appends, counts) is
 * durable and visible to reads: the embedded store's writer is
 * asynchronous; Redis writes are done when their call returns. */
int evstore_flush(struct evstore *s, enc_err *err);

/* ---- reading events -------------------------------------------------- */

/* Called per event; strings are borrowed for the call. Return nonzero to stop. */
typedef int (*evstore_event_fn)(void *arg, const struct ev_event *e);

/* A user's events, newest (highest seq) first, at most `limit` (0: all). */
int evstore_user_events(struct evstore *s, const char *user, size_t len, size_t limit,
                        evstore_event_fn fn, void *arg, enc_err *err);
/* An item's events (each with its user), newest first, at most `limit`. */
int evstore_item_events(struct evstore *s, const char *item, size_t len, size_t limit,
                        evstore_event_fn fn, void *arg, enc_err *err);
/* Every item that has events (once each, no particular order). */
typedef int (*evstore_id_fn)(void *arg, const char *id, size_t len);
int evstore_event_items(struct evstore *s, evstore_id_fn fn, void *arg, enc_err *err);
/* Every user with recorded events (once each, no particular order; a user
 * whose events compaction removed may still be listed). The recommend side
 * reads a user's events only for users listed here or announced since. */
int evstore_users(struct evstore *s, evstore_id_fn fn, void *arg, enc_err *err);
/* Every event, in no particular order (export, training). */
int evstore_scan(struct evstore *s, evstore_event_fn fn, void *arg, enc_err *err);

/* ---- erasure --------------------------------------------------------- */

/* Remove every event of the user and record a tombstone at `now` (kept for
 * good). *removed (may be NULL) gets the number of events removed. */
int evstore_erase_user(struct evstore *s, const char *user, size_t len, int64_t now,
                       size_t *removed, enc_err *err);
/* When the user was erased: 1 and *when, 0 if never, or a negative code. */
int evstore_erased_at(struct evstore *s, const char *user, size_t len, int64_t *when, enc_err *err);
typedef int (*evstore_tomb_fn)(void *arg, const char *user, size_t len, int64_t when);
int evstore_tombstones(struct evstore *s, evstore_tomb_fn fn, void *arg, enc_err *err);

/* ---- catalogue ------------------------------------------------------- */

/* Store the item's record (replacing any), JSON text of at most 64 KiB. */
int evstore_item_put(struct evstore *s, const char *item, size_t len, const char *json,
                     size_t json_len, enc_err *err);
/* 1 with *json (malloc'd, NUL-terminated; caller frees) or 0 if none. */
int evstore_item_get(struct evstore *s, const char *item, size_t len, char **json, enc_err *err);
typedef int (*evstore_item_fn)(void *arg, const char *item, size_t len, const char *json,
                               size_t json_len);
int evstore_items_scan(struct evstore *s, evstore_item_fn fn, void *arg, enc_err *err);

/* ---- attribution (A/B experiments) ----------------------------------- */

/* For a recommendation id, fn(type, count) per event type recorded with it. */
typedef int (*evstore_count_fn)(void *arg, const char *type, size_t len, uint64_t count);
int evstore_recommendation_counts(struct evstore *s, const char *rec_id, size_t len,
                                  evstore_count_fn fn, void *arg, enc_err *err);

/* ---- counters (A/B experiments) -------------------------------------- */

#define EVSTORE_COUNTER_KEY_MAX 80   /* bytes of a counter set's name */
#define EVSTORE_COUNTER_FIELD_MAX 48 /* bytes of a counter's name */

/* Add 1 to counter `field` of the set `key`; with a member (member_len > 0,
 * at most EV_ID_MAX bytes) only the first time that member is added to that
 * counter, so the counter counts distinct members (users, recommendations)
 * and a repeated member (a retried event's id) is not counted twice. */
struct evstore_count {
    const char *key, *field, *member;
    size_t key_len, field_len, member_len;
};
/* Apply n counts, all or nothing, asynchronously as appends are (the same
 * writer, the same group commit; `done` may be NULL: nobody waits). The
 * strings are copied before the call returns. */
void evstore_count_async(struct evstore *s, const struct evstore_count *c, size_t n, int64_t now,
                         evstore_done_fn done, void *arg);
/* The counters of set `key`: fn(field, count) for each (type-free: the
 * count_fn of the recommendation counts). */
int evstore_counters(struct evstore *s, const char *key, size_t len, evstore_count_fn fn, void *arg,
                     enc_err *err);

/* ---- upkeep and state ------------------------------------------------ */

/* Drop events received before now - retention, expired event ids and
 * recommendation counts. *removed (may be NULL): events removed. */
int evstore_compact(struct evstore *s, int64_t now, size_t *removed, enc_err *err);

struct evstore_stats {
    int64_t events;    /* events kept */
    int64_t users;     /* users with events */
    int64_t event_ids; /* remembered client ids */
    int64_t items;     /* catalogue records */
    int64_t tombstones;
    int64_t bytes;     /* embedded: bytes of the file in use; Redis: used_memory */
    uint64_t last_seq; /* highest sequence number handed out */
};
int evstore_stats(struct evstore *s, struct evstore_stats *out, enc_err *err);

/* This store's identity: a random id made when it was created (32 hex
 * characters + NUL), so a model can tell whether its training cutoff's
 * sequence numbers belong to this store. */
int evstore_id(struct evstore *s, char id[33], enc_err *err);

/* 0 if the store answers (Redis: PING), else ENC_EBUSY / ENC_EIO. */
int evstore_ping(struct evstore *s, enc_err *err);

/* ---- change feed ----------------------------------------------------- */

enum ev_change {
    EV_CHANGE_USER = 1,   /* the user's events changed (append, erasure) */
    EV_CHANGE_ITEM = 2,   /* the item's events or catalogue record changed */
    EV_CHANGE_RESYNC = 3, /* changes may have been missed: forget everything */
};
typedef void (*evstore_change_fn)(void *arg, enum ev_change kind, const char *id, size_t len);

/* Call fn for every change made through any handle of this store (Redis:
 * by any replica; embedded: by this process), once it is durable. Calls come
 * from the store's threads (never concurrently with each other) and must be
 * quick. Set once, before the first write. A Redis store also calls RESYNC
 * after it reconnects. */
void evstore_watch(struct evstore *s, evstore_change_fn fn, void *arg);

#endif
