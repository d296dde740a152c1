/*
 * live_reco.c - what recorded events and the catalogue do to a recommend or
 * similar answer (issue #15); h_reco.c calls live_prepare before it asks the
 * model and live_query_free after.
 *
 * Per user, the events since the model's training cutoff are read from the
 * store and folded into the user's vector with the model's least-squares
 * step (reco_ops.fold_in_weighted): each item at the confidence training
 * would give its summed weight (reco_ops.confidence: 1 + alpha * f(w), f the
 * model's confidence scheme; a training or history item, whose weight the
 * model does not keep, counts as the median training weight, reco_ops.
 * typical_weight, plus its events' type weights), preference 0 where
 * the sum is negative (a skip or dislike pulls the vector away). A known
 * user's step is a few conjugate-gradient steps from the trained vector; an
 * unknown user's is exact. The result (vector, consumed and disliked rows)
 * is cached per user until the store announces a change for that user
 * (evstore_watch: this process's writes at once, other replicas' through
 * Redis within the stream's latency), so a user with no new events costs
 * a hash lookup.
 *
 * Per model, a view holds the training cutoff (from the model's
 * hyperparameters: events read up to that sequence number of this store are
 * in the model already) and the catalogue as a bitset of unavailable rows,
 * rebuilt when the catalogue changes or an availability window opens or
 * closes. The bitset is a per-row predicate, so any index over the items
 * can apply it.
 *
 * When the store fails, the answer comes from the model alone
 * ("source": "model") and encore_recommend_model_only_total counts it.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/model.h"
#include "core/st.h"
#include "core/strmap.h"
#include "events/catalog.h"
#include "live.h"
#include "live_int.h"
#include "log.h"

/* ---- a small string-keyed hash map (the caller locks) ------------------ */

/* Values by string key: core/strmap gives each key a dense id, vals[id] is
 * its value. Keys are never removed (a map is cleared as a whole); walk a
 * map in insertion order with smap_size / smap_key / vals[i]. */
struct smap {
    strmap keys;
    void **vals;
    size_t cap;
};

static size_t smap_size(const struct smap *m)
{
    return strmap_size(&m->keys);
}

/* Key i (< smap_size), borrowed until the next smap_put or smap_clear. */
static const char *smap_key(const struct smap *m, size_t i, size_t *len)
{
    return strmap_key(&m->keys, i, len);
}

static void *smap_get(const struct smap *m, const char *k, size_t len)
{
    int64_t id = strmap_find(&m->keys, k, len);
    return id < 0 ? NULL : m->vals[id];
}

/* Set k -> val; returns the old value (for the caller to free) or NULL.
 * *oom set when the entry could not be added. */
static void *smap_put(struct smap *m, const char *k, size_t len, void *val, int *oom)
{
    *oom = 0;
    size_t n = smap_size(m);
    if (n == m->cap) {   /* room for a new key first: strmap_add cannot be undone */
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
    if ((size_t)id < n) {   /* the key was there */
        void *old = m->vals[id];
        m->vals[id] = val;
        return old;
    }
    m->vals[id] = val;
    return NULL;
}

static void smap_clear(struct smap *m, void (*free_val)(void *))
{
    for (size_t i = 0; free_val && i < smap_size(m); i++)
        free_val(m->vals[i]);
    free(m->vals);
    strmap_clear(&m->keys);
    memset(m, 0, sizeof *m);
}

/* ---- per-user cache ---------------------------------------------------- */

struct ucache {
    const void *model;          /* identity of the model state it was made for */
    int64_t version;
    uint64_t epoch;             /* live->epoch when its events were read */
    int valid;                  /* 0: a placeholder recording a change */
    int erased;                 /* the user was erased: ignore the model's row */
    size_t n_events;            /* events since the cutoff */
    struct uitem *items;        /* model rows with a summed weight */
    size_t n_items;
    float *vec;                 /* folded vector (factors floats), or NULL */
    uint64_t changed;           /* epoch of the last change announced for the user */
};

static void ucache_free(void *p)
{
    struct ucache *c = p;
    if (!c)
        return;
    free(c->items);
    free(c->vec);
    free(c);
}

#define CACHE_MAX 200000   /* users; past it the cache starts afresh */

/* ---- users with events -------------------------------------------------- */

/* The users the store has events or a tombstone for, as 64-bit hashes in an
 * open-addressed table (0: empty): loaded from the store (evstore_users,
 * evstore_tombstones) and grown by every user the change feed announces.
 * A user not in it has nothing the store could add to an answer, so the
 * request reads neither the store nor the cache: it costs what a recommend
 * without events costs. A hash collision only costs a read. Users are never
 * taken out (a compacted user's entry costs one read per cache miss). */
struct uset {
    uint64_t *slot;
    size_t cap, n;              /* cap: a power of two (or 0) */
};

#define PRESENT_MAX (4u << 20)  /* users; past it the check is off (every user is read) */

static int uset_has(const struct uset *u, uint64_t h)
{
    if (!u->cap)
        return 0;
    h = h ? h : 1;
    for (size_t i = h & (u->cap - 1);; i = (i + 1) & (u->cap - 1)) {
        if (u->slot[i] == h)
            return 1;
        if (!u->slot[i])
            return 0;
    }
}

/* 0, or -1: out of memory or past PRESENT_MAX (the set is unchanged). */
static int uset_add(struct uset *u, uint64_t h)
{
    h = h ? h : 1;
    if (2 * (u->n + 1) > u->cap) {   /* at most half full */
        if (u->n + 1 > PRESENT_MAX)
            return -1;
        size_t nc = u->cap ? 2 * u->cap : 1024;
        uint64_t *ns = calloc(nc, sizeof *ns);
        if (!ns)
            return -1;
        for (size_t i = 0; i < u->cap; i++)
            if (u->slot[i]) {
                size_t j = u->slot[i] & (nc - 1);
                while (ns[j])
                    j = (j + 1) & (nc - 1);
                ns[j] = u->slot[i];
            }
        free(u->slot);
        u->slot = ns;
        u->cap = nc;
    }
    size_t i = h & (u->cap - 1);
    while (u->slot[i] && u->slot[i] != h)
        i = (i + 1) & (u->cap - 1);
    if (!u->slot[i]) {
        u->slot[i] = h;
        u->n++;
    }
    return 0;
}

/* ---- per-model views ---------------------------------------------------- */

struct view {
    int refs;                   /* atomic */
    const void *model;          /* identity of the model it was built for: state, */
    int64_t version;            /* version and load time (a freed state's address */
    int64_t loaded_at;          /* may come back) */
    uint64_t cat_gen;           /* catalogue generation it was built from */
    uint64_t item_gen;          /* item changes it has seen */
    int64_t valid_until;        /* rebuild at this time (an availability window edge) */
    int same_store;             /* the model was trained on this store */
    uint64_t cutoff_seq;
    int64_t read_at;            /* when the trainer read the store */
    uint64_t *unavailable;      /* bitset over rows, or NULL when all are available */
    struct smap titles;         /* row (4 bytes) -> catalogue title's JSON fragment */
    struct newitem *news;       /* items the model does not have */
    size_t n_news;
    size_t factors;
};

/* An item the model does not have (events or the catalogue brought it). */
struct newitem {
    char *id;
    size_t len;
    char *json;                 /* "item":"..","title":".." */
    size_t json_len;
    float *vec;                 /* factors floats, or NULL: not recommendable yet */
    int from_users;             /* vec from its users (item step), else from its tags */
    int available;
    struct smap users;          /* users with events on it (left out for them) */
};

static void news_free(struct newitem *n, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(n[i].id);
        free(n[i].json);
        free(n[i].vec);
        smap_clear(&n[i].users, NULL);
    }
    free(n);
}

static void view_unref(struct view *v)
{
    if (v && __atomic_sub_fetch(&v->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        free(v->unavailable);
        smap_clear(&v->titles, free);
        news_free(v->news, v->n_news);
        free(v);
    }
}

/* The live layer's recommend state, hung off struct live. */
struct live_reco {
    pthread_mutex_t lock;       /* cache, catalogue, views */
    struct smap cache;          /* user -> struct ucache */
    uint64_t epoch;             /* bumped by every change (atomic under lock) */
    uint64_t cleared_at;        /* epoch when the cache was last emptied */
    struct smap catalog;        /* item -> struct cat_item */
    uint64_t cat_gen;           /* bumped by every catalogue change */
    int cat_loaded;
    struct smap pending;        /* items announced but not yet re-read */
    struct smap evitems;        /* items that have events (candidates for new items) */
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
    struct uset present;        /* users with events or a tombstone (hashes) */
    int present_state;          /* PRESENT_* */
    uint64_t present_gen;       /* bumped by RESYNC: a load begun before it is stale */
    struct view *views[16];     /* by model; replaced when stale */
    int n_views;
    char store_id[33];
};

enum {
    PRESENT_OFF = -1,   /* too many users or out of memory: every user is read */
    PRESENT_UNLOADED,   /* not known yet (start, RESYNC, a failed load) */
    PRESENT_LOADING,
    PRESENT_LOADED,
};

static void cat_free(void *p)
{
    cat_item_clear(p);
    free(p);
}

/* The store's change feed (store threads): forget what changed. */
static void on_change(void *arg, enum ev_change kind, const char *id, size_t len)
{
    struct live *l = arg;
    struct live_reco *lr = l->reco;
    pthread_mutex_lock(&lr->lock);
    uint64_t e = ++lr->epoch;
    int oom;
    if (kind == EV_CHANGE_RESYNC) {
        /* users may have been missed: load them again before trusting the set */
        lr->present_gen++;
        if (lr->present_state == PRESENT_LOADED)
            lr->present_state = PRESENT_UNLOADED;
        smap_clear(&lr->cache, ucache_free);
        lr->cleared_at = e;
        lr->cat_loaded = 0;   /* re-read the whole catalogue */
        lr->evitems_loaded = 0;
        lr->cat_gen++;
    } else if (kind == EV_CHANGE_USER) {
        if (lr->present_state != PRESENT_OFF && uset_add(&lr->present, strmap_hash(id, len)) != 0)
            lr->present_state = PRESENT_OFF;
        struct ucache *c = smap_get(&lr->cache, id, len);
        if (c) {
            c->valid = 0;
            c->changed = e;
        } else {
            if (smap_size(&lr->cache) >= CACHE_MAX) {   /* full: start afresh (reads in flight see it) */
                smap_clear(&lr->cache, ucache_free);
                lr->cleared_at = e;
            }
            if (!(c = calloc(1, sizeof *c))) {
                lr->cleared_at = e;   /* the change is not recorded: no read may be kept */
                pthread_mutex_unlock(&lr->lock);
                return;
            }
            c->changed = e;
            smap_put(&lr->cache, id, len, c, &oom);
            if (oom) {
                free(c);
                lr->cleared_at = e;
            }
        }
    } else if (kind == EV_CHANGE_ITEM && len <= EV_ID_MAX) {
        smap_put(&lr->pending, id, len, (void *)1, &oom);
        if (oom)
            lr->cat_loaded = 0;
        smap_put(&lr->evitems, id, len, (void *)1, &oom);
        uint64_t g = ++lr->item_gen;
        size_t slot = g % (sizeof lr->ring / sizeof *lr->ring);
        lr->ring[slot].gen = g;
        lr->ring[slot].len = (uint16_t)len;
        memcpy(lr->ring[slot].id, id, len);
    }
    pthread_mutex_unlock(&lr->lock);
}

static void present_load(struct live *l);

int live_reco_init(struct live *l, enc_err *err)
{
    struct live_reco *lr = calloc(1, sizeof *lr);
    if (!lr)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    pthread_mutex_init(&lr->lock, NULL);
    l->reco = lr;
    if (evstore_id(l->store, lr->store_id, NULL) != 0)
        lr->store_id[0] = '\0';   /* Redis down at start: read again later */
    evstore_watch(l->store, on_change, l);
    present_load(l);   /* after the watch: users announced meanwhile are kept */
    return 0;
}

void live_reco_free(struct live *l)
{
    struct live_reco *lr = l->reco;
    if (!lr)
        return;
    evstore_watch(l->store, NULL, NULL);
    smap_clear(&lr->cache, ucache_free);
    smap_clear(&lr->catalog, cat_free);
    smap_clear(&lr->pending, NULL);
    smap_clear(&lr->evitems, NULL);
    free(lr->present.slot);
    for (int i = 0; i < lr->n_views; i++)
        view_unref(lr->views[i]);
    pthread_mutex_destroy(&lr->lock);
    free(lr);
    l->reco = NULL;
}

/* ---- the catalogue in memory -------------------------------------------- */

struct cat_load {
    struct smap *m;
    int oom;
};

static int cat_add(void *arg, const char *item, size_t len, const char *json, size_t json_len)
{
    struct cat_load *c = arg;
    struct cat_item *it = malloc(sizeof *it);
    if (!it || cat_item_from_json(json, json_len, it, NULL) != 0) {
        free(it);
        return 0;   /* an unreadable record counts as none */
    }
    int oom;
    cat_free(smap_put(c->m, item, len, it, &oom));
    if (oom) {
        cat_free(it);
        c->oom = 1;
    }
    return 0;
}

/* Bring the catalogue up to date (lock not held: store calls). 0 or the
 * store's error. */
static int catalog_refresh(struct live *l, enc_err *err)
{
    struct live_reco *lr = l->reco;
    pthread_mutex_lock(&lr->lock);
    int loaded = lr->cat_loaded;
    struct smap pending = lr->pending;
    memset(&lr->pending, 0, sizeof lr->pending);
    pthread_mutex_unlock(&lr->lock);
    int rc = 0;
    if (!loaded) {
        struct smap fresh = {0};
        struct cat_load c = {&fresh, 0};
        if ((rc = evstore_items_scan(l->store, cat_add, &c, err)) != 0) {
            smap_clear(&fresh, cat_free);
        } else {
            pthread_mutex_lock(&lr->lock);
            smap_clear(&lr->catalog, cat_free);
            lr->catalog = fresh;
            lr->cat_loaded = 1;
            lr->cat_gen++;
            pthread_mutex_unlock(&lr->lock);
        }
    } else {
        for (size_t i = 0; i < smap_size(&pending) && rc == 0; i++) {
            size_t len;
            const char *key = smap_key(&pending, i, &len);
            char *json = NULL;
            int got = evstore_item_get(l->store, key, len, &json, err);
            if (got < 0) {
                rc = got;
                break;
            }
            struct cat_item *it = NULL;
            if (got == 1 && (it = malloc(sizeof *it)) != NULL &&
                cat_item_from_json(json, strlen(json), it, NULL) != 0) {
                free(it);
                it = NULL;
            }
            free(json);
            int oom;
            pthread_mutex_lock(&lr->lock);
            if (it) {   /* a catalogue change: views rebuild */
                cat_free(smap_put(&lr->catalog, key, len, it, &oom));
                lr->cat_gen++;
            }
            pthread_mutex_unlock(&lr->lock);
        }
    }
    if (rc) {   /* try again next time */
        pthread_mutex_lock(&lr->lock);
        if (loaded)
            lr->cat_loaded = 0;
        pthread_mutex_unlock(&lr->lock);
    }
    smap_clear(&pending, NULL);
    return rc;
}

/* ---- views --------------------------------------------------------------- */

/* The training cutoff a model records (encore-train --events). */
static void read_cutoff(const struct model *m, struct view *v, const char *store_id)
{
    const char *hp = m->file ? st_meta(m->file, "hyperparameters") : NULL;
    json_t *h = hp ? json_loads(hp, 0, NULL) : NULL;
    json_t *ev = json_object_get(h, "events");
    json_t *id = json_object_get(ev, "store_id"), *seq = json_object_get(ev, "cutoff_seq"),
           *at = json_object_get(ev, "read_at");
    if (json_is_string(id) && json_is_integer(seq) && *store_id &&
        !strcmp(json_string_value(id), store_id)) {
        v->same_store = 1;
        v->cutoff_seq = (uint64_t)json_integer_value(seq);
        v->read_at = json_is_integer(at) ? json_integer_value(at) : 0;
    }
    json_decref(h);
}

static int evitem_add(void *arg, const char *id, size_t len)
{
    int oom;
    smap_put(arg, id, len, (void *)1, &oom);
    return oom;
}

/* One candidate new item, copied out of the catalogue under the lock. */
struct cand {
    char *id;
    size_t len;
    char *title;                /* or NULL */
    char **tags;
    size_t n_tags;
    int available;
};

static void cands_free(struct cand *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(c[i].id);
        free(c[i].title);
        for (size_t t = 0; t < c[i].n_tags; t++)
            free(c[i].tags[t]);
        free(c[i].tags);
    }
    free(c);
}

#define NEW_ITEMS_MAX 10000

static int cand_add(struct cand **c, size_t *n, size_t *cap, const char *id, size_t len,
                    const struct cat_item *it, int64_t now)
{
    if (*n >= NEW_ITEMS_MAX)
        return 0;
    if (*n == *cap) {
        size_t nc = *cap ? 2 * *cap : 16;
        struct cand *x = realloc(*c, nc * sizeof *x);
        if (!x)
            return -1;
        *c = x;
        *cap = nc;
    }
    struct cand *k = &(*c)[*n];
    memset(k, 0, sizeof *k);
    if (!(k->id = malloc(len ? len : 1)))
        return -1;
    memcpy(k->id, id, len);
    k->len = len;
    k->available = it ? cat_item_available(it, now) : 1;
    if (it && it->title)
        k->title = strdup(it->title);
    if (it && it->n_tags && (k->tags = calloc(it->n_tags, sizeof *k->tags)))
        for (size_t t = 0; t < it->n_tags; t++)
            if ((k->tags[k->n_tags] = strdup(it->tags[t])))
                k->n_tags++;
    (*n)++;
    return 0;
}

/* "item":"<id>"[,"title":"<title>"] as the model writes its fragments. */
static char *fragment(const char *id, size_t len, const char *title, size_t *out_len)
{
    buf b = {0};
    buf_puts(&b, "\"item\":");
    buf_json_str(&b, id, len);
    if (title && *title) {
        buf_puts(&b, ",\"title\":");
        buf_json_str(&b, title, strlen(title));
    }
    return buf_steal(&b, out_len);
}

struct item_users {
    struct live *l;
    const struct model *m;
    struct newitem *ni;
    float *vecs;                /* n x F */
    float *conf;
    size_t n, cap, events;
    int oom;
};

static int item_user(void *arg, const struct ev_event *e)
{
    struct item_users *c = arg;
    const struct reco_ops *ro = c->m->ops->reco;
    int oom;
    smap_put(&c->ni->users, e->user, e->user_len, (void *)1, &oom);
    float w = ev_types_weight(&c->l->types, e->type, e->type_len, NULL);
    if (!(w > 0))
        return 0;
    c->events++;
    int64_t row = ro->user_index(c->m->state, e->user, e->user_len);
    const float *u = row >= 0 ? ro->user_factors(c->m->state, row) : NULL;
    if (!u)
        return 0;   /* a user the model lacks: their vector is not at hand here */
    size_t F = ro->factors(c->m->state);
    if (c->n == c->cap) {
        size_t nc = c->cap ? 2 * c->cap : 16;
        float *v = realloc(c->vecs, nc * F * sizeof *v), *cf = v ? realloc(c->conf, nc * sizeof *cf) : NULL;
        if (v)
            c->vecs = v;
        if (!cf) {
            c->oom = 1;
            return 1;
        }
        c->conf = cf;
        c->cap = nc;
    }
    memcpy(c->vecs + c->n * F, u, F * sizeof *u);
    c->conf[c->n++] = (float)live_confidence(ro, c->m->state, w);
    return 0;
}

/* The vector of a new item: the item step over its users' vectors once it
 * has min_item_events events, else the mean of the model's items that share
 * one of its tags. Store reads: call without the lock. */
static void new_item_vector(struct live *l, const struct model *m, const struct cand *c,
                            void *scratch, struct newitem *ni)
{
    const struct reco_ops *ro = m->ops->reco;
    size_t F = ro->factors(m->state);
    struct item_users iu = {l, m, ni, NULL, NULL, 0, 0, 0, 0};
    enc_err err = {0};
    if (evstore_item_events(l->store, c->id, c->len, 1000, item_user, &iu, &err) != 0)
        live_add(l, store_failures, 1);
    if (iu.events >= (size_t)l->min_item_events && iu.n > 0 && !iu.oom &&
        (ni->vec = malloc(F * sizeof *ni->vec)) != NULL) {
        if (ro->item_step(m->state, iu.vecs, iu.conf, iu.n, scratch, ni->vec, &err) == 0)
            ni->from_users = 1;
        else {
            free(ni->vec);
            ni->vec = NULL;
        }
    }
    free(iu.vecs);
    free(iu.conf);
    if (ni->vec || !c->n_tags)
        return;
    int32_t tags[CAT_TAGS_MAX];
    size_t nt = 0;
    for (size_t t = 0; t < c->n_tags && nt < CAT_TAGS_MAX; t++) {
        int64_t id = ro->tag_index(m->state, c->tags[t], strlen(c->tags[t]));
        if (id >= 0)
            tags[nt++] = (int32_t)id;
    }
    if (!nt || !(ni->vec = calloc(F, sizeof *ni->vec)))
        return;
    size_t n_items = ro->n_items(m->state), count = 0;
    for (size_t i = 0; i < n_items; i++) {
        const int32_t *it;
        size_t k = ro->item_tags(m->state, (int64_t)i, &it), hit = 0;
        for (size_t a = 0; a < k && !hit; a++)
            for (size_t b = 0; b < nt; b++)
                if (it[a] == tags[b]) {
                    hit = 1;
                    break;
                }
        if (!hit)
            continue;
        const float *y = ro->item_factors(m->state, (int64_t)i);
        for (size_t f = 0; f < F; f++)
            ni->vec[f] += y[f];
        count++;
    }
    if (!count) {
        free(ni->vec);
        ni->vec = NULL;
        return;
    }
    for (size_t f = 0; f < F; f++)
        ni->vec[f] /= (float)count;
}

/* A view of `m` that is current (a reference; view_unref), or NULL when out
 * of memory. Rebuilt when the catalogue or an item's events changed, or an
 * availability window opened or closed. */
static struct view *view_get(struct live *l, const struct model *m, int64_t now, void *scratch)
{
    struct live_reco *lr = l->reco;
    const struct reco_ops *ro = m->ops->reco;
    enc_err err = {0};
    pthread_mutex_lock(&lr->lock);
    int need_id = !lr->store_id[0];
    pthread_mutex_unlock(&lr->lock);
    char id[33];
    if (need_id && evstore_id(l->store, id, NULL) == 0) {   /* Redis was down at start */
        pthread_mutex_lock(&lr->lock);
        memcpy(lr->store_id, id, sizeof id);
        pthread_mutex_unlock(&lr->lock);
    }
    pthread_mutex_lock(&lr->lock);
    int need_refresh = !lr->cat_loaded || smap_size(&lr->pending) > 0;
    int need_items = !lr->evitems_loaded;
    pthread_mutex_unlock(&lr->lock);
    if (need_refresh && catalog_refresh(l, &err) != 0)
        live_add(l, store_failures, 1);   /* serve what is known */
    if (need_items) {
        struct smap fresh = {0};
        if (evstore_event_items(l->store, evitem_add, &fresh, &err) == 0) {
            pthread_mutex_lock(&lr->lock);
            for (size_t i = 0; i < smap_size(&fresh); i++) {
                size_t len;
                const char *key = smap_key(&fresh, i, &len);
                int oom;
                smap_put(&lr->evitems, key, len, (void *)1, &oom);
            }
            lr->evitems_loaded = 1;
            lr->cat_gen++;
            pthread_mutex_unlock(&lr->lock);
        } else {
            live_add(l, store_failures, 1);
        }
        smap_clear(&fresh, NULL);
    }
    pthread_mutex_lock(&lr->lock);
    struct view *v = NULL;
    for (int i = 0; i < lr->n_views; i++) {
        struct view *c = lr->views[i];
        if (c->model != m->state || c->version != m->version || c->loaded_at != m->loaded_at ||
            c->cat_gen != lr->cat_gen || now >= c->valid_until)
            continue;
        /* item changes since it was built: only items the model has? */
        size_t ring = sizeof lr->ring / sizeof *lr->ring;
        int stale = lr->item_gen - c->item_gen >= ring;
        for (uint64_t g = c->item_gen + 1; !stale && g <= lr->item_gen; g++) {
            size_t slot = g % ring;
            stale = lr->ring[slot].gen != g ||
                    ro->item_index(m->state, lr->ring[slot].id, lr->ring[slot].len) < 0;
        }
        if (stale)
            break;
        c->item_gen = lr->item_gen;
        v = c;
        __atomic_add_fetch(&v->refs, 1, __ATOMIC_RELAXED);
        break;
    }
    if (v) {
        pthread_mutex_unlock(&lr->lock);
        return v;
    }
    /* build: the catalogue pass under the lock, new items' vectors outside */
    v = calloc(1, sizeof *v);
    size_t n_items = ro->n_items(m->state);
    if (!v) {
        pthread_mutex_unlock(&lr->lock);
        return NULL;
    }
    v->refs = 1;   /* the caller's; the table takes one when it is installed */
    v->model = m->state;
    v->version = m->version;
    v->loaded_at = m->loaded_at;
    v->cat_gen = lr->cat_gen;
    v->item_gen = lr->item_gen;
    v->valid_until = INT64_MAX;
    v->factors = ro->factors(m->state);
    read_cutoff(m, v, lr->store_id);
    struct cand *cands = NULL;
    size_t n_cands = 0, cap_cands = 0;
    for (size_t i = 0; i < smap_size(&lr->catalog); i++) {
        size_t len;
        const char *key = smap_key(&lr->catalog, i, &len);
        const struct cat_item *it = lr->catalog.vals[i];
        if (it->available_from > now && it->available_from < v->valid_until)
            v->valid_until = it->available_from;
        if (it->available_until > now && it->available_until < v->valid_until)
            v->valid_until = it->available_until;
        int64_t row = ro->item_index(m->state, key, len);
        if (row < 0) {   /* a new title */
            cand_add(&cands, &n_cands, &cap_cands, key, len, it, now);
            continue;
        }
        if (it->title) {
            int32_t r32 = (int32_t)row;
            size_t flen;
            char *frag = fragment(key, len, it->title, &flen);
            int oom;
            if (frag)
                free(smap_put(&v->titles, (const char *)&r32, sizeof r32, frag, &oom));
        }
        if (cat_item_available(it, now))
            continue;
        if (!v->unavailable &&
            !(v->unavailable = calloc((n_items + 63) / 64, sizeof *v->unavailable)))
            continue;
        v->unavailable[row / 64] |= 1ull << (row % 64);
    }
    for (size_t i = 0; i < smap_size(&lr->evitems); i++) {
        size_t len;
        const char *key = smap_key(&lr->evitems, i, &len);
        if (ro->item_index(m->state, key, len) < 0 && !smap_get(&lr->catalog, key, len))
            cand_add(&cands, &n_cands, &cap_cands, key, len, NULL, now);
    }
    pthread_mutex_unlock(&lr->lock);
    if (n_cands && (v->news = calloc(n_cands, sizeof *v->news)) != NULL) {
        for (size_t i = 0; i < n_cands; i++) {
            struct newitem *ni = &v->news[v->n_news];
            if (!(ni->id = malloc(cands[i].len)) ||
                !(ni->json = fragment(cands[i].id, cands[i].len, cands[i].title, &ni->json_len))) {
                free(ni->id);
                continue;
            }
            memcpy(ni->id, cands[i].id, cands[i].len);
            ni->len = cands[i].len;
            ni->available = cands[i].available;
            new_item_vector(l, m, &cands[i], scratch, ni);
            v->n_news++;
        }
    }
    cands_free(cands, n_cands);
    /* install (another request may have built one meanwhile: the newer wins) */
    pthread_mutex_lock(&lr->lock);
    int slot = -1;
    for (int i = 0; i < lr->n_views; i++)
        if (lr->views[i]->model == m->state && lr->views[i]->version == m->version)
            slot = i;
    if (slot < 0 && lr->n_views < (int)(sizeof lr->views / sizeof *lr->views)) {
        slot = lr->n_views++;
    } else {
        if (slot < 0)
            slot = 0;   /* a table of 16 models: the first entry goes */
        view_unref(lr->views[slot]);
    }
    __atomic_add_fetch(&v->refs, 1, __ATOMIC_RELAXED);
    lr->views[slot] = v;
    pthread_mutex_unlock(&lr->lock);
    return v;
}

/* ---- a user's events -------------------------------------------------------- */

struct collect {
    const struct model *m;
    const struct ev_types *types;
    const struct view *v;
    struct uitem *items;
    size_t n, cap;
    size_t n_events;
    int oom;
};

static int collect_event(void *arg, const struct ev_event *e)
{
    struct collect *c = arg;
    if (c->v->same_store && e->seq <= c->v->cutoff_seq)
        return 1;   /* newest first: the rest are in the model already */
    c->n_events++;
    int64_t row = c->m->ops->reco->item_index(c->m->state, e->item, e->item_len);
    if (row < 0)
        return 0;   /* an item the model does not have */
    float w = ev_types_weight(c->types, e->type, e->type_len, NULL);
    for (size_t i = 0; i < c->n; i++)
        if (c->items[i].row == (int32_t)row) {
            c->items[i].weight += w;
            return 0;
        }
    if (c->n == c->cap) {
        size_t nc = c->cap ? 2 * c->cap : 16;
        struct uitem *ni = realloc(c->items, nc * sizeof *ni);
        if (!ni) {
            c->oom = 1;
            return 1;
        }
        c->items = ni;
        c->cap = nc;
    }
    c->items[c->n++] = (struct uitem){(int32_t)row, w};
    return 0;
}

/* ---- loading the users with events ----------------------------------------- */

struct present_load {
    struct uset set;
    int full;
};

static int present_user(void *arg, const char *id, size_t len)
{
    struct present_load *p = arg;
    if (uset_add(&p->set, strmap_hash(id, len)) != 0)
        p->full = 1;
    return p->full;
}

static int present_tomb(void *arg, const char *user, size_t len, int64_t when)
{
    (void)when;
    return present_user(arg, user, len);
}

/* Load the set from the store, once at a time (others read meanwhile). The
 * change feed adds to the live set while this runs; a RESYNC meanwhile makes
 * the load stale (tried again by the next request). */
static void present_load(struct live *l)
{
    struct live_reco *lr = l->reco;
    pthread_mutex_lock(&lr->lock);
    if (lr->present_state != PRESENT_UNLOADED) {
        pthread_mutex_unlock(&lr->lock);
        return;
    }
    lr->present_state = PRESENT_LOADING;
    uint64_t gen = lr->present_gen;
    pthread_mutex_unlock(&lr->lock);
    struct present_load p = {{0}, 0};
    enc_err err = {0};
    int rc = evstore_users(l->store, present_user, &p, &err);
    if (rc == 0 && !p.full)
        rc = evstore_tombstones(l->store, present_tomb, &p, &err);
    pthread_mutex_lock(&lr->lock);
    int state = rc == 0 && lr->present_gen == gen ? PRESENT_LOADED : PRESENT_UNLOADED;
    for (size_t i = 0; i < p.set.cap && state == PRESENT_LOADED && !p.full; i++)
        if (p.set.slot[i] && uset_add(&lr->present, p.set.slot[i]) != 0)
            p.full = 1;
    if (p.full)
        state = PRESENT_OFF;
    if (lr->present_state == PRESENT_LOADING)   /* not turned off meanwhile */
        lr->present_state = state;
    pthread_mutex_unlock(&lr->lock);
    if (rc)
        live_add(l, store_failures, 1);
    free(p.set.slot);
}

/* 1: the store has nothing for `user` (no events, no tombstone), so the
 * answer is the model's; 0: read it. */
static int user_absent(struct live *l, const char *user, size_t len)
{
    struct live_reco *lr = l->reco;
    uint64_t h = strmap_hash(user, len);
    pthread_mutex_lock(&lr->lock);
    int state = lr->present_state;
    int absent = state == PRESENT_LOADED && !uset_has(&lr->present, h);
    pthread_mutex_unlock(&lr->lock);
    if (state != PRESENT_UNLOADED)
        return absent;
    present_load(l);
    pthread_mutex_lock(&lr->lock);
    absent = lr->present_state == PRESENT_LOADED && !uset_has(&lr->present, h);
    pthread_mutex_unlock(&lr->lock);
    return absent;
}

/* ---- the recommend side's entry points ------------------------------------ */

void live_query_free(struct live_query *lq)
{
    if (!lq)
        return;
    free(lq->exclude);
    free(lq->vec);
    free(lq->items);
    view_unref(lq->view);
    memset(lq, 0, sizeof *lq);
}

int live_prepare(struct live *l, const struct model *m, const char *user, size_t user_len,
                 int64_t *user_row, const int32_t *history, size_t n_history, int exclude_seen,
                 void *scratch, struct live_query *lq, enc_err *err)
{
    memset(lq, 0, sizeof *lq);
    const struct reco_ops *ro = m->ops->reco;
    if (!l || !ro->fold_in_weighted)
        return 0;
    struct live_reco *lr = l->reco;
    int64_t now = (int64_t)time(NULL);
    if (!(lq->view = view_get(l, m, now, scratch)))
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    lq->unavailable = lq->view->unavailable;
    lq->source = *user_row >= 0 ? "model" : n_history ? "history" : "popular";
    if (!user)
        return 0;
    size_t F = ro->factors(m->state);
    /* the user's cached state, or a fresh read */
    struct ucache *c = NULL, snap = {0};
    if (user_absent(l, user, user_len)) {
        /* nothing recorded: no store read, no cache entry (only the
         * request's history may be folded in below) */
        if (n_history == 0)
            return 0;
        c = &snap;
    }
    uint64_t e0 = 0;
    if (!c) {
    pthread_mutex_lock(&lr->lock);
    struct ucache *hit = smap_get(&lr->cache, user, user_len);
    e0 = lr->epoch;
    if (hit && hit->valid && hit->model == m->state && hit->version == m->version) {
        snap = *hit;   /* copy out what the request needs, under the lock */
        snap.items = snap.n_items ? malloc(snap.n_items * sizeof *snap.items) : NULL;
        snap.vec = hit->vec ? malloc(F * sizeof *snap.vec) : NULL;
        if ((snap.n_items && !snap.items) || (hit->vec && !snap.vec)) {
            free(snap.items);
            free(snap.vec);
            memset(&snap, 0, sizeof snap);
        } else {
            if (snap.n_items)
                memcpy(snap.items, hit->items, snap.n_items * sizeof *snap.items);
            if (hit->vec)
                memcpy(snap.vec, hit->vec, F * sizeof *snap.vec);
            c = &snap;
        }
    }
    pthread_mutex_unlock(&lr->lock);
    }
    if (!c) {
        struct collect col = {m, &l->types, lq->view, NULL, 0, 0, 0, 0};
        live_add(l, user_reads, 1);
        enc_err serr = {0};
        int64_t when = 0;
        int rc = evstore_user_events(l->store, user, user_len, (size_t)0, collect_event, &col,
                                     &serr);
        int erased = rc ? 0 : evstore_erased_at(l->store, user, user_len, &when, &serr);
        if (rc || erased < 0 || col.oom) {
            free(col.items);
            live_add(l, store_failures, 1);
            live_add(l, model_only, 1);
            lq->source = *user_row >= 0 ? "model" : n_history ? "history" : "popular";
            return 0;   /* the model alone */
        }
        snap.model = m->state;
        snap.version = m->version;
        snap.valid = 1;
        /* erased after the model read the store: the model's row is not theirs */
        snap.erased = erased == 1 && !(lq->view->same_store && lq->view->read_at > when);
        snap.n_events = col.n_events;
        snap.items = col.items;
        snap.n_items = col.n;
        int64_t row = snap.erased ? -1 : *user_row;
        if (col.n > 0 || (snap.erased && *user_row >= 0)) {
            if (!(snap.vec = malloc(F * sizeof *snap.vec))) {
                free(col.items);
                return enc_errf(err, ENC_ENOMEM, "out of memory");
            }
            if (col.n == 0 ||
                live_fold(m, row, col.items, col.n, NULL, 0, scratch, snap.vec, err) != 0) {
                free(snap.vec);
                snap.vec = NULL;   /* nothing to fold: no vector */
            }
        }
        c = &snap;
        /* keep it, unless a change was announced since the read began */
        struct ucache *keep = malloc(sizeof *keep);
        if (keep) {
            *keep = snap;
            keep->items = snap.n_items ? malloc(snap.n_items * sizeof *keep->items) : NULL;
            keep->vec = snap.vec ? malloc(F * sizeof *keep->vec) : NULL;
            if ((snap.n_items && !keep->items) || (snap.vec && !keep->vec)) {
                ucache_free(keep);
                keep = NULL;
            } else {
                if (snap.n_items)
                    memcpy(keep->items, snap.items, snap.n_items * sizeof *keep->items);
                if (snap.vec)
                    memcpy(keep->vec, snap.vec, F * sizeof *keep->vec);
            }
        }
        pthread_mutex_lock(&lr->lock);
        struct ucache *old = smap_get(&lr->cache, user, user_len);
        /* keep it unless a change came after the read began (recorded in the
         * user's entry, or lost with an emptied cache) */
        if (keep && (!old || old->changed <= e0) && lr->cleared_at <= e0) {
            if (smap_size(&lr->cache) >= CACHE_MAX) {
                smap_clear(&lr->cache, ucache_free);
                lr->cleared_at = lr->epoch;
                old = NULL;
            }
            keep->epoch = e0;
            keep->changed = old ? old->changed : 0;
            int oom;
            ucache_free(smap_put(&lr->cache, user, user_len, keep, &oom));
            if (oom)
                ucache_free(keep);
        } else {
            ucache_free(keep);
        }
        pthread_mutex_unlock(&lr->lock);
    }
    /* what this answer uses */
    if (c->erased)
        *user_row = -1;   /* the model's row belongs to an erased user */
    size_t n_ex = 0;
    lq->exclude = c->n_items ? malloc(c->n_items * sizeof *lq->exclude) : NULL;
    if (c->n_items && !lq->exclude) {
        free(c->items);
        free(c->vec);
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < c->n_items; i++)
        if (c->items[i].weight < 0 || exclude_seen)   /* disliked: always; consumed: if asked */
            lq->exclude[n_ex++] = c->items[i].row;
    lq->n_exclude = n_ex;
    lq->n_events = c->n_events;
    if (n_history > 0 && (c->n_items > 0 || *user_row >= 0)) {
        /* the request's history on top (not cached: it is the request's) */
        free(c->vec);
        c->vec = malloc(F * sizeof *c->vec);
        if (c->vec && live_fold(m, *user_row, c->items, c->n_items, history, n_history, scratch,
                           c->vec, err) != 0) {
            free(c->vec);
            c->vec = NULL;
        }
        lq->source = c->n_events ? "events" : "history";
    } else if (c->vec) {
        lq->source = "events";
    } else {
        lq->source = *user_row >= 0 ? "model" : n_history ? "history" : "popular";
    }
    lq->vec = c->vec;   /* owned by lq now */
    lq->items = c->items;   /* kept for an explanation (live_basis) */
    lq->n_items = c->n_items;
    return 0;
}

/* ---- new items and catalogue titles in answers ----------------------------- */

const float *live_new_item_vec(const struct live_query *lq, const char *id, size_t len,
                               int32_t *index)
{
    const struct view *v = lq->view;
    for (size_t i = 0; v && i < v->n_news; i++)
        if (v->news[i].len == len && !memcmp(v->news[i].id, id, len)) {
            *index = (int32_t)i;
            return v->news[i].vec;
        }
    return NULL;
}

/* Insert (row, score) into hits[0..*n) best first, keeping at most k. */
static void insert_hit(struct reco_result *res, size_t k, int32_t row, float score)
{
    size_t n = res->n;
    if (k == 0 || !(score > -INFINITY) || (n == k && !(score > res->hits[n - 1].score)))
        return;
    size_t at = n < k ? n++ : k - 1;
    while (at > 0 && res->hits[at - 1].score < score) {
        res->hits[at] = res->hits[at - 1];
        at--;
    }
    res->hits[at].item = row;
    res->hits[at].score = score;
    res->n = n;
}

void live_merge_new(const struct live_query *lq, const float *u, const char *user,
                    size_t user_len, int cosine, int32_t skip, size_t k, size_t n_items,
                    struct reco_result *res)
{
    const struct view *v = lq->view;
    if (!v || !u)
        return;
    size_t F = v->factors;
    float un = 1;
    if (cosine) {
        un = 0;
        for (size_t f = 0; f < F; f++)
            un += u[f] * u[f];
        un = sqrtf(un);
        if (!(un > 0))
            return;
    }
    for (size_t i = 0; i < v->n_news; i++) {
        const struct newitem *ni = &v->news[i];
        if (!ni->vec || !ni->available || (int32_t)i == skip)
            continue;
        if (user && smap_get(&ni->users, user, user_len))
            continue;   /* the user has had it */
        float dot = 0, yn = 0;
        for (size_t f = 0; f < F; f++) {
            dot += u[f] * ni->vec[f];
            yn += ni->vec[f] * ni->vec[f];
        }
        float score = cosine ? (yn > 0 ? dot / (un * sqrtf(yn)) : -INFINITY) : dot;
        insert_hit(res, k, (int32_t)(n_items + i), score);
    }
}

const char *live_fragment(const struct live_query *lq, int32_t row, size_t n_items,
                          size_t *len)
{
    const struct view *v = lq ? lq->view : NULL;
    if (!v)
        return NULL;
    if ((size_t)row >= n_items) {
        size_t i = (size_t)row - n_items;
        if (i >= v->n_news)
            return NULL;
        *len = v->news[i].json_len;
        return v->news[i].json;
    }
    if (!smap_size(&v->titles))
        return NULL;
    const char *frag = smap_get(&v->titles, (const char *)&row, sizeof row);
    if (frag)
        *len = strlen(frag);
    return frag;
}

const char *live_new_item_id(const struct live_query *lq, int32_t row, size_t n_items,
                             size_t *len)
{
    const struct view *v = lq ? lq->view : NULL;
    if (!v || row < 0 || (size_t)row < n_items || (size_t)row - n_items >= v->n_news)
        return NULL;
    *len = v->news[(size_t)row - n_items].len;
    return v->news[(size_t)row - n_items].id;
}
