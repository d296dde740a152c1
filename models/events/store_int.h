/*
 * store_int.h - what the event store's backends share (private to
 * models/events): the backend table, the copied batch of an append, and the
 * record encoding both backends store.
 *
 * A record (one event, as stored; host byte order, fixed fields first):
 *
 *   +-----+--------+--------+------+------+------+------+------+
 *   | ver | time   | recv   | tlen | ilen | dlen | rlen | ulen |  28 bytes
 *   | u8  | i64    | i64    | u8   | u16  | u16  | u16  | u16  |  (packed)
 *   +-----+--------+--------+------+------+------+------+------+
 *   | type | item | id | rec_id | user |   the strings, back to back
 *   +------+------+----+--------+------+
 *
 * The sequence number is not in the record: the embedded store keeps it in
 * the key, Redis prefixes the record with "SEQ:" when it assigns one.
 */
#ifndef ENCORE_EVENTS_STORE_INT_H
#define ENCORE_EVENTS_STORE_INT_H

#include <pthread.h>

#include "events/store.h"

#define EVREC_VERSION 1
#define EVREC_HEAD 28 /* 1 + 8 + 8 + 1 + 5 * 2 */

/* Bytes of an event's record. */
size_t evrec_size(const struct ev_event *e);
/* Write e's record into out (evrec_size bytes). */
void evrec_encode(const struct ev_event *e, unsigned char *out);
/* Decode; strings point into buf. 0 or ENC_EFORMAT. seq is left alone. */
int evrec_decode(const unsigned char *buf, size_t len, struct ev_event *e);

/* An append, copied out of the caller's memory. */
struct evbatch {
    size_t n;
    int64_t now;
    struct ev_event *ev; /* n events, strings point into `bytes` */
    unsigned char **rec; /* n encoded records (into `bytes`) */
    size_t *rec_len;
    evstore_done_fn done;
    void *arg;
    struct evstore_result res;
    size_t n_counts;              /* a counter batch (n == 0): evstore_count_async */
    struct evstore_count *counts; /* strings point into `bytes` */
    struct evbatch *next;         /* writer queue link */
    unsigned char bytes[];
};
/* Copy n events (with recv = now) into one allocation; NULL on ENOMEM. */
struct evbatch *evbatch_new(const struct ev_event *ev, size_t n, int64_t now, evstore_done_fn done,
                            void *arg);
/* The same for n counts (a batch without events). */
struct evbatch *evbatch_new_counts(const struct evstore_count *c, size_t n, int64_t now,
                                   evstore_done_fn done, void *arg);

struct evstore_vt {
    const char *kind;
    int (*open)(struct evstore *s, enc_err *err);
    void (*close)(struct evstore *s);
    /* Takes b; must call evbatch_finish(b) exactly once. */
    void (*append)(struct evstore *s, struct evbatch *b);
    int (*user_events)(struct evstore *s, const char *user, size_t len, size_t limit,
                       evstore_event_fn fn, void *arg, enc_err *err);
    int (*item_events)(struct evstore *s, const char *item, size_t len, size_t limit,
                       evstore_event_fn fn, void *arg, enc_err *err);
    int (*scan)(struct evstore *s, evstore_event_fn fn, void *arg, enc_err *err);
    int (*event_items)(struct evstore *s, evstore_id_fn fn, void *arg, enc_err *err);
    int (*users)(struct evstore *s, evstore_id_fn fn, void *arg, enc_err *err);
    int (*erase_user)(struct evstore *s, const char *user, size_t len, int64_t now, size_t *removed,
                      enc_err *err);
    int (*erased_at)(struct evstore *s, const char *user, size_t len, int64_t *when, enc_err *err);
    int (*tombstones)(struct evstore *s, evstore_tomb_fn fn, void *arg, enc_err *err);
    int (*item_put)(struct evstore *s, const char *item, size_t len, const char *json,
                    size_t json_len, enc_err *err);
    int (*item_get)(struct evstore *s, const char *item, size_t len, char **json, enc_err *err);
    int (*items_scan)(struct evstore *s, evstore_item_fn fn, void *arg, enc_err *err);
    int (*rec_counts)(struct evstore *s, const char *rec, size_t len, evstore_count_fn fn,
                      void *arg, enc_err *err);
    int (*counters)(struct evstore *s, const char *key, size_t len, evstore_count_fn fn, void *arg,
                    enc_err *err);
    int (*compact)(struct evstore *s, int64_t now, size_t *removed, enc_err *err);
    int (*stats)(struct evstore *s, struct evstore_stats *out, enc_err *err);
    int (*id)(struct evstore *s, char id[33], enc_err *err);
    int (*ping)(struct evstore *s, enc_err *err);
};

struct evstore {
    const struct evstore_vt *vt;
    struct evstore_options opt;
    char *location; /* owned copy */
    evstore_change_fn watch_fn;
    void *watch_arg;
    pthread_mutex_t watch_lock; /* serialises watch_fn calls */
    void *impl;                 /* the backend's state */
};

extern const struct evstore_vt evstore_lmdb_vt;
extern const struct evstore_vt evstore_redis_vt;

/* Tell the watcher (if any) about a change. */
void evstore__changed(struct evstore *s, enum ev_change kind, const char *id, size_t len);
/* Call the batch's done callback with b->res and free the batch. */
void evbatch_finish(struct evbatch *b);

/* 32 random hex characters + NUL (a new store's id). */
void evstore__random_id(char out[33]);

#endif
