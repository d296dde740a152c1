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

#include <jansson.h>
#include <stdint.h>

#include "config.h"
#include "core/buf.h"
#include "core/err.h"
#include "events/event.h"
#include "events/store.h"

struct live_reco;
struct model;
struct reco_result;
struct reco_hit;
struct reco_basis;
struct uitem;

struct live {
    struct evstore *store;
    struct live_reco *reco; /* the recommend side (live_reco.c) */
    struct ev_types types;
    int64_t min_item_events; /* a new item's vector comes from its users from here on */
    /* counters (atomic) */
    int64_t accepted;       /* events stored */
    int64_t duplicates;     /* events counted once already (client retries) */
    int64_t refused;        /* requests refused as bad input (400/413) */
    int64_t store_failures; /* store calls that failed (Redis down, disk full) */
    int64_t model_only;     /* recommend answers from the model alone: store down */
    int64_t user_reads;     /* recommend requests that read a user's events */
    int64_t compactions;    /* compaction runs, and events they removed */
    int64_t compacted;
};

/* Open what `c` asks for. *out is NULL when events are off. A Redis store
 * opens even while Redis is down (calls fail with 503 until it is back);
 * an embedded store that cannot be opened is an error. */
int live_open(const struct config *c, struct live **out, enc_err *err);
void live_close(struct live *l); /* NULL ok */

/* Drop what is older than the retention (blocking: a worker thread). */
void live_compact(struct live *l);

/* Prometheus text: counters and the store's size (one short store call). */
void live_metrics(struct live *l, buf *out);

/* ---- the recommend side (live_reco.c) ---- */

/* What the events and the catalogue add to one recommend / similar query. */
struct live_query {
    float *vec;       /* the folded user vector (owned), or NULL: the model's */
    int32_t *exclude; /* rows to leave out: consumed (exclude_seen) and disliked */
    size_t n_exclude;
    const uint64_t *unavailable; /* rows the catalogue withdrew (the view's), or NULL */
    size_t n_events;             /* the user's events since the model's cutoff */
    const char *source;          /* "model", "events", "history" or "popular" */
    struct view *view;           /* held for unavailable */
    struct uitem *items;         /* the user's event items (rows, summed weights), owned */
    size_t n_items;
    uint8_t *news_ok;   /* per new item of the view: may be merged (live_narrow); NULL: all */
    uint64_t *narrowed; /* owned: `unavailable` once live_narrow applied a tag filter */
};

int live_reco_init(struct live *l, enc_err *err);
void live_reco_free(struct live *l);

/* Fill *lq for a query on model `m` (a recommender with the live ops) by
 * `user` (NULL for similar): *user_row is the model's row of the user or
 * -1, and is set to -1 when the user was erased after the model was
 * trained. `history` rows are added to the fold-in. `scratch` is the
 * model's scratch (reco_ops.scratch_bytes). A store that fails leaves the
 * model's answer (counted in model_only). Returns 0 or ENC_ENOMEM; release
 * with live_query_free. */
int live_prepare(struct live *l, const struct model *m, const char *user, size_t user_len,
                 int64_t *user_row, const int32_t *history, size_t n_history, int exclude_seen,
                 void *scratch, struct live_query *lq, enc_err *err);
void live_query_free(struct live_query *lq);

/* Narrow a query to the request's `candidates`, `exclude` and
 * `filter.tags` as sent (borrowed JSON arrays of ids / tag names; NULL:
 * absent), so that new items take part in them and the catalogue's tags
 * override the model's: lq->news_ok marks the new items that may be merged
 * (live_merge_new). When the catalogue sets tags on any item, the tag filter
 * is applied here instead of by the model: lq->unavailable becomes a bitset
 * of this request (the view's withdrawn rows plus every row whose tags, the
 * catalogue's where it sets them, miss the filter; one pass over the rows)
 * and *replaced is set: the caller drops the model's tag filter. Call after
 * live_prepare. 0 or ENC_ENOMEM. */
int live_narrow(struct live_query *lq, const struct model *m, const json_t *candidates,
                const json_t *exclude, const json_t *tags, int *replaced, enc_err *err);

/* The tags of n candidate rows for a tag cap (reco_rerank.tag_keys) when
 * the catalogue sets tags on some item: its tags where it sets them, the
 * model's elsewhere, a new item's (rows >= n_items) from the catalogue.
 * Keys are the model's tag ids, or negative for names the model lacks.
 * *keys = NULL (nothing to override) when the catalogue sets no tags; else
 * *keys and *off (n + 1 offsets) are malloc'ed, the caller frees both.
 * 0 or ENC_ENOMEM. */
int live_rerank_tags(const struct live_query *lq, const struct model *m,
                     const struct reco_hit *cands, size_t n, int32_t **keys, uint32_t **off,
                     enc_err *err);

/* Items the model does not have (recorded events or the catalogue brought
 * them; see docs/events.md): merge those with a vector into res (k at most)
 * by dot product with u (recommend) or cosine (similar, skipping new item
 * `skip`); a user's own items are left out. Their hits have rows n_items + i. */
void live_merge_new(const struct live_query *lq, const float *u, const char *user, size_t user_len,
                    int cosine, int32_t skip, size_t k, size_t n_items, struct reco_result *res);
/* The items the answer's user vector was folded from (training items of
 * `user_row`, lq's event items, the request's history) with the confidences
 * and preferences the fold-in gave them, for reco_ops.explain. Owned by
 * *b's arrays: release with live_basis_free. 0 or ENC_ENOMEM. */
int live_basis(const struct model *m, const struct live_query *lq, int64_t user_row,
               const int32_t *history, size_t n_history, struct reco_basis *b, enc_err *err);
void live_basis_free(struct reco_basis *b);

/* 1 if the query's view has items the model lacks (maybe not yet
 * recommendable). */
int live_has_new(const struct live_query *lq);

/* The id of a hit's row that is a new item (row >= n_items), or NULL. */
const char *live_new_item_id(const struct live_query *lq, int32_t row, size_t n_items, size_t *len);

/* The vector of a new item by id (and its index), or NULL. */
const float *live_new_item_vec(const struct live_query *lq, const char *id, size_t len,
                               int32_t *index);
/* The JSON fragment for a hit's row: a new item's, or a model item's with a
 * catalogue title; NULL: the model's own. */
const char *live_fragment(const struct live_query *lq, int32_t row, size_t n_items, size_t *len);

#define live_add(l, field, n) __atomic_add_fetch(&(l)->field, (int64_t)(n), __ATOMIC_RELAXED)

#endif
