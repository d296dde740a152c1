/*
 * live_reco_int.h - what live_reco.c (the per-user side: the change feed,
 * the cache, the users with events, live_prepare) and live_view.c (the
 * per-model side: the catalogue in memory, views, new items and catalogue
 * titles in answers) share. Private to the server's live side.
 */
#ifndef ENCORE_LIVE_RECO_INT_H
#define ENCORE_LIVE_RECO_INT_H

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/model.h"
#include "core/strmap.h"
#include "events/event.h"

struct live;

/* ---- a small string-keyed hash map (the caller locks) ------------------ */

/* Values by string key: core/strmap gives each key a dense id, vals[id] is
 * its value. Keys are never removed (a map is cleared as a whole); walk a
 * map in insertion order with smap_size / smap_key / vals[i]. */
struct smap {
    strmap keys;
    void **vals;
    size_t cap;
};

static inline size_t smap_size(const struct smap *m)
{
    return strmap_size(&m->keys);
}

/* Key i (< smap_size), borrowed until the next smap_put or smap_clear. */
static inline const char *smap_key(const struct smap *m, size_t i, size_t *len)
{
    return strmap_key(&m->keys, i, len);
}

static inline void *smap_get(const struct smap *m, const char *k, size_t len)
{
    int64_t id = strmap_find(&m->keys, k, len);
    return id < 0 ? NULL : m->vals[id];
}

/* Set k -> val; returns the old value (for the caller to free) or NULL.
 * *oom set when the entry could not be added. */
static inline void *smap_put(struct smap *m, const char *k, size_t len, void *val, int *oom)
{
    *oom = 0;
    size_t n = smap_size(m);
    if (n == m->cap) { /* room for a new key first: strmap_add cannot be undone */
        size_t nc = m->cap ? 2 * m->cap : 64;
        void **v = realloc(m->vals, nc * sizeof *v);
        if (v) {
            m->vals = v;
            m->cap = nc;
        }
    }
    int64_t id = n < m->cap ? strmap_add(&m->keys, k, len) : strmap_find(&m->keys, k, len);
    if (id < 0) {
        *oom = 1;
        return NULL;
    }
    if ((size_t)id < n) { /* the key was there */
        void *old = m->vals[id];
        m->vals[id] = val;
        return old;
    }
    m->vals[id] = val;
    return NULL;
}

static inline void smap_clear(struct smap *m, void (*free_val)(void *))
{
    for (size_t i = 0; free_val && i < smap_size(m); i++)
        free_val(m->vals[i]);
    free(m->vals);
    strmap_clear(&m->keys);
    memset(m, 0, sizeof *m);
}

/* The users the store has events or a tombstone for, as 64-bit hashes in an
 * open-addressed table (0: empty): loaded from the store (evstore_users,
 * evstore_tombstones) and grown by every user the change feed announces.
 * A user not in it has nothing the store could add to an answer, so the
 * request reads neither the store nor the cache: it costs what a recommend
 * without events costs. A hash collision only costs a read. Users are never
 * taken out (a compacted user's entry costs one read per cache miss). */
struct uset {
    uint64_t *slot;
    size_t cap, n; /* cap: a power of two (or 0) */
};

/* ---- per-model views ---------------------------------------------------- */

struct view {
    int refs;            /* atomic */
    const void *model;   /* identity of the model it was built for: state, */
    int64_t version;     /* version and load time (a freed state's address */
    int64_t loaded_at;   /* may come back) */
    uint64_t cat_gen;    /* catalogue generation it was built from */
    uint64_t item_gen;   /* item changes it has seen */
    int64_t valid_until; /* rebuild at this time (an availability window edge) */
    int same_store;      /* the model was trained on this store */
    uint64_t cutoff_seq;
    int64_t read_at;       /* when the trainer read the store */
    uint64_t *unavailable; /* bitset over rows, or NULL when all are available */
    struct smap titles;    /* row (4 bytes) -> catalogue title's JSON fragment */
    /* Tags the catalogue sets (they override the model's in a request's
     * tag filter): per model row, and whether any item (a model row or a
     * new item) has them at all. */
    struct smap tags; /* row (4 bytes) -> struct tagset */
    uint64_t *tagged; /* bitset over rows: the row is in `tags`; or NULL */
    int has_cat_tags;
    struct newitem *news; /* items the model does not have */
    size_t n_news;
    struct smap news_by_id; /* id -> index + 1 into news */
    size_t factors;
};

/* Tag names (owned strings). */
struct tagset {
    size_t n;
    char *names[];
};

/* An item the model does not have (events or the catalogue brought it). */
struct newitem {
    char *id;
    size_t len;
    char *json; /* "item":"..","title":".." */
    size_t json_len;
    float *vec;     /* factors floats, or NULL: not recommendable yet */
    int from_users; /* vec from its users (item step), else from its tags */
    int available;
    struct tagset *tags; /* the catalogue's, or NULL */
    struct smap users;   /* users with events on it (left out for them) */
};

/* The live layer's recommend state, hung off struct live. */
struct live_reco {
    pthread_mutex_t lock; /* cache, catalogue, views */
    struct smap cache;    /* user -> struct ucache */
    uint64_t epoch;       /* bumped by every change (atomic under lock) */
    uint64_t cleared_at;  /* epoch when the cache was last emptied */
    struct smap catalog;  /* item -> struct cat_item */
    uint64_t cat_gen;     /* bumped by every catalogue change */
    int cat_loaded;
    struct smap pending; /* items announced but not yet re-read */
    struct smap evitems; /* items that have events (candidates for new items) */
    int evitems_loaded;
    /* Items whose events changed, newest last: a view stays valid across
     * changes to items its model has (most events), and is rebuilt when
     * one of its new items changed. */
    uint64_t item_gen;
    struct {
        uint64_t gen;
        uint16_t len;
        char id[EV_ID_MAX];
    } ring[1024];
    struct uset present;    /* users with events or a tombstone (hashes) */
    int present_state;      /* PRESENT_* */
    uint64_t present_gen;   /* bumped by RESYNC: a load begun before it is stale */
    struct view *views[16]; /* by model; replaced when stale */
    int n_views;
    char store_id[33];
};

enum {
    PRESENT_OFF = -1, /* too many users or out of memory: every user is read */
    PRESENT_UNLOADED, /* not known yet (start, RESYNC, a failed load) */
    PRESENT_LOADING,
    PRESENT_LOADED,
};

/* A view of `m` that is current (a reference; live_view_unref), or NULL
 * when out of memory. Rebuilt when the catalogue or an item's events
 * changed, or an availability window opened or closed. Takes lr->lock
 * itself; store reads happen outside it. */
struct view *live_view_get(struct live *l, const struct model *m, int64_t now, void *scratch);

/* The vector of `user` for a new item's step (F floats into out): the
 * folded one of their last answer while current, else the model's, else
 * (a user the model lacks) their events since v's cutoff folded in. 1, or
 * 0: none (no events on the model's items, an erased user, a store
 * failure). Reads the store: call without lr->lock. */
int live_user_vec(struct live *l, const struct model *m, const struct view *v, const char *user,
                  size_t len, void *scratch, float *out);

/* Drop a reference to v (NULL ok); the last one frees it. */
void live_view_unref(struct view *v);

/* Free the catalogue, the announced and event items and the views
 * (live_reco_free; nothing else runs). */
void live_views_clear(struct live_reco *lr);

#endif
