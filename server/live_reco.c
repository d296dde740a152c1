/*
 * live_reco.c - what recorded events and the catalogue do to a recommend or
 * similar answer (issue #15); h_reco.c calls live_prepare before it asks the
 * model and live_query_free after.
 *
 * Per user, the events since the model's training cutoff are read from the
 * store and folded into the user's vector with the model's least-squares
 * step (reco_ops.fold_in_weighted): training items at confidence 1 + alpha,
 * each event item at 1 + alpha * (summed type weights), preference 0 where
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
#include "events/catalog.h"
#include "live.h"
#include "log.h"

/* ---- a small string-keyed hash map (chained; the caller locks) --------- */

struct smap_entry {
    struct smap_entry *next;
    uint64_t hash;
    size_t len;
    void *val;
    char key[];
};

struct smap {
    struct smap_entry **b;
    size_t nb, n;
};

static uint64_t hash_str(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static struct smap_entry **smap_slot(struct smap *m, const char *k, size_t len, uint64_t h)
{
    struct smap_entry **p = &m->b[h & (m->nb - 1)];
    while (*p && !((*p)->hash == h && (*p)->len == len && !memcmp((*p)->key, k, len)))
        p = &(*p)->next;
    return p;
}

static void *smap_get(struct smap *m, const char *k, size_t len)
{
    if (!m->nb)
        return NULL;
    struct smap_entry **p = smap_slot(m, k, len, hash_str(k, len));
    return *p ? (*p)->val : NULL;
}

/* Set k -> val; returns the old value (for the caller to free) or NULL.
 * *oom set when the entry could not be added. */
static void *smap_put(struct smap *m, const char *k, size_t len, void *val, int *oom)
{
    *oom = 0;
    if (!m->nb) {
        if (!(m->b = calloc(1024, sizeof *m->b))) {
            *oom = 1;
            return NULL;
        }
        m->nb = 1024;
    }
    uint64_t h = hash_str(k, len);
    struct smap_entry **p = smap_slot(m, k, len, h);
    if (*p) {
        void *old = (*p)->val;
        (*p)->val = val;
        return old;
    }
    struct smap_entry *e = malloc(sizeof *e + len);
    if (!e) {
        *oom = 1;
        return NULL;
    }
    e->next = NULL;
    e->hash = h;
    e->len = len;
    e->val = val;
    memcpy(e->key, k, len);
    *p = e;
    if (++m->n > 2 * m->nb) {   /* grow: rehash into twice the buckets */
        size_t nb = m->nb * 2;
        struct smap_entry **b = calloc(nb, sizeof *b);
        if (b) {
            for (size_t i = 0; i < m->nb; i++)
                for (struct smap_entry *x = m->b[i], *nx; x; x = nx) {
                    nx = x->next;
                    x->next = b[x->hash & (nb - 1)];
                    b[x->hash & (nb - 1)] = x;
                }
            free(m->b);
            m->b = b;
            m->nb = nb;
        }
    }
    return NULL;
}

static void smap_clear(struct smap *m, void (*free_val)(void *))
{
    for (size_t i = 0; i < m->nb; i++)
        for (struct smap_entry *x = m->b[i], *nx; x; x = nx) {
            nx = x->next;
            if (free_val)
                free_val(x->val);
            free(x);
        }
    free(m->b);
    memset(m, 0, sizeof *m);
}

/* ---- per-user cache ---------------------------------------------------- */

/* One event item of a user, after summing its events' weights. */
struct uitem {
    int32_t row;
    float weight;
};

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

/* ---- per-model views ---------------------------------------------------- */

struct view {
    int refs;                   /* atomic */
    const void *model;
    int64_t version;
    uint64_t cat_gen;           /* catalogue generation it was built from */
    int64_t valid_until;        /* rebuild at this time (an availability window edge) */
    int same_store;             /* the model was trained on this store */
    uint64_t cutoff_seq;
    int64_t read_at;            /* when the trainer read the store */
    uint64_t *unavailable;      /* bitset over rows, or NULL when all are available */
};

static void view_unref(struct view *v)
{
    if (v && __atomic_sub_fetch(&v->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        free(v->unavailable);
        free(v);
    }
}

/* The live layer's recommend state, hung off struct live. */
struct live_reco {
    pthread_mutex_t lock;       /* cache, catalogue, views */
    struct smap cache;          /* user -> struct ucache */
    uint64_t epoch;             /* bumped by every change (atomic under lock) */
    struct smap catalog;        /* item -> struct cat_item */
    uint64_t cat_gen;           /* bumped by every catalogue change */
    int cat_loaded;
    struct smap pending;        /* items announced but not yet re-read */
    struct view *views[16];     /* by model; replaced when stale */
    int n_views;
    char store_id[33];
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
        smap_clear(&lr->cache, ucache_free);
        lr->cat_loaded = 0;   /* re-read the whole catalogue */
        lr->cat_gen++;
    } else if (kind == EV_CHANGE_USER) {
        struct ucache *c = smap_get(&lr->cache, id, len);
        if (c) {
            c->valid = 0;
            c->changed = e;
        } else if (lr->cache.n < CACHE_MAX && (c = calloc(1, sizeof *c)) != NULL) {
            c->changed = e;
            smap_put(&lr->cache, id, len, c, &oom);
            if (oom)
                free(c);
        }
    } else if (kind == EV_CHANGE_ITEM) {
        smap_put(&lr->pending, id, len, (void *)1, &oom);
        if (oom)
            lr->cat_loaded = 0;
        lr->cat_gen++;
    }
    pthread_mutex_unlock(&lr->lock);
}

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
            pthread_mutex_unlock(&lr->lock);
        }
    } else {
        for (size_t i = 0; i < pending.nb && rc == 0; i++)
            for (struct smap_entry *x = pending.b[i]; x && rc == 0; x = x->next) {
                char *json = NULL;
                int got = evstore_item_get(l->store, x->key, x->len, &json, err);
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
                if (it)
                    cat_free(smap_put(&lr->catalog, x->key, x->len, it, &oom));
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

/* A view of `m` that is current (a reference; view_unref), or NULL when out
 * of memory. Rebuilt when the catalogue changed or a window edge passed. */
static struct view *view_get(struct live *l, const struct model *m, int64_t now)
{
    struct live_reco *lr = l->reco;
    const struct reco_ops *ro = m->ops->reco;
    enc_err err = {0};
    if (!lr->store_id[0])
        evstore_id(l->store, lr->store_id, NULL);
    pthread_mutex_lock(&lr->lock);
    int need_refresh = !lr->cat_loaded || lr->pending.n > 0;
    pthread_mutex_unlock(&lr->lock);
    if (need_refresh && catalog_refresh(l, &err) != 0)
        live_add(l, store_failures, 1);   /* serve what is known */
    pthread_mutex_lock(&lr->lock);
    struct view *v = NULL;
    int slot = -1;
    for (int i = 0; i < lr->n_views; i++)
        if (lr->views[i]->model == m->state) {
            slot = i;
            if (lr->views[i]->cat_gen == lr->cat_gen && now < lr->views[i]->valid_until) {
                v = lr->views[i];
                __atomic_add_fetch(&v->refs, 1, __ATOMIC_RELAXED);
            }
            break;
        }
    if (v) {
        pthread_mutex_unlock(&lr->lock);
        return v;
    }
    /* build (under the lock: the catalogue is read; it is a pass over the
     * catalogue's records, not over the items) */
    v = calloc(1, sizeof *v);
    size_t n_items = ro->n_items(m->state);
    if (!v) {
        pthread_mutex_unlock(&lr->lock);
        return NULL;
    }
    v->refs = 2;   /* the table's and the caller's */
    v->model = m->state;
    v->version = m->version;
    v->cat_gen = lr->cat_gen;
    v->valid_until = INT64_MAX;
    read_cutoff(m, v, lr->store_id);
    for (size_t b = 0; b < lr->catalog.nb; b++)
        for (struct smap_entry *x = lr->catalog.b[b]; x; x = x->next) {
            const struct cat_item *it = x->val;
            if (it->available_from > now && it->available_from < v->valid_until)
                v->valid_until = it->available_from;
            if (it->available_until > now && it->available_until < v->valid_until)
                v->valid_until = it->available_until;
            if (cat_item_available(it, now))
                continue;
            int64_t row = ro->item_index(m->state, x->key, x->len);
            if (row < 0)
                continue;
            if (!v->unavailable &&
                !(v->unavailable = calloc((n_items + 63) / 64, sizeof *v->unavailable)))
                continue;
            v->unavailable[row / 64] |= 1ull << (row % 64);
        }
    if (slot < 0 && lr->n_views < (int)(sizeof lr->views / sizeof *lr->views))
        slot = lr->n_views++;
    else if (slot < 0)
        slot = 0;   /* a table of 16 models: the oldest entry goes */
    else
        view_unref(lr->views[slot]);
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

/* Fold the user's training items (known, not erased), event items and
 * request history into vec. 0, or an error. */
static int fold(struct live *l, const struct model *m, int64_t user, const struct uitem *ev,
                size_t n_ev, const int32_t *history, size_t n_history, void *scratch,
                float *vec, enc_err *err)
{
    const struct reco_ops *ro = m->ops->reco;
    const int32_t *seen = NULL;
    size_t n_seen = user >= 0 ? ro->seen(m->state, user, &seen) : 0;
    size_t cap = n_seen + n_ev + n_history;
    if (cap > 4096)
        cap = 4096;   /* the step's bound; the newest events come first */
    int32_t *rows = malloc((cap ? cap : 1) * sizeof *rows);
    float *w = malloc((cap ? cap : 1) * sizeof *w);
    float *conf = malloc((cap ? cap : 1) * sizeof *conf);
    float *pref = malloc((cap ? cap : 1) * sizeof *pref);
    float *conf0 = malloc((cap ? cap : 1) * sizeof *conf0);
    float *pref0 = malloc((cap ? cap : 1) * sizeof *pref0);
    int rc = 0;
    if (!rows || !w || !conf || !pref || !conf0 || !pref0) {
        rc = enc_errf(err, ENC_ENOMEM, "out of memory");
        goto out;
    }
    size_t n = 0;
    /* the summed weight per row: training items count 1 (as trained) */
    for (size_t i = 0; i < n_seen && n < cap; i++)
        rows[n] = seen[i], w[n++] = 1.0f;
    size_t base = n;
    for (size_t k = 0; k < n_ev + n_history; k++) {
        int32_t row = k < n_ev ? ev[k].row : history[k - n_ev];
        float add = k < n_ev ? ev[k].weight : 1.0f;
        size_t i = 0;
        /* training items are sorted: binary search them, scan the rest */
        size_t lo = 0, hi = base;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (rows[mid] < row)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < base && rows[lo] == row) {
            w[lo] += add;
            continue;
        }
        for (i = base; i < n && rows[i] != row; i++)
            ;
        if (i < n)
            w[i] += add;
        else if (n < cap)
            rows[n] = row, w[n++] = add;
    }
    double alpha = ro->alpha(m->state);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int trained = i < base;   /* a training item: what x0 was fitted with */
        conf0[k] = trained ? (float)(1.0 + alpha) : 1.0f;
        pref0[k] = trained ? 1.0f : 0.0f;
        if (w[i] == 0 && !trained)
            continue;
        rows[k] = rows[i];
        conf[k] = (float)(1.0 + alpha * fabsf(w[i]));
        pref[k] = w[i] > 0 ? 1.0f : 0.0f;
        k++;
    }
    const float *x0 = user >= 0 ? ro->user_factors(m->state, user) : NULL;
    rc = ro->fold_in_weighted(m->state, rows, conf, pref, conf0, pref0, k, x0, scratch, vec,
                              err);
out:
    free(rows);
    free(w);
    free(conf);
    free(pref);
    free(conf0);
    free(pref0);
    return rc;
}

/* ---- the recommend side's entry points ------------------------------------ */

void live_query_free(struct live_query *lq)
{
    if (!lq)
        return;
    free(lq->exclude);
    free(lq->vec);
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
    if (!(lq->view = view_get(l, m, now)))
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    lq->unavailable = lq->view->unavailable;
    lq->source = *user_row >= 0 ? "model" : n_history ? "history" : "popular";
    if (!user)
        return 0;
    size_t F = ro->factors(m->state);
    /* the user's cached state, or a fresh read */
    struct ucache *c = NULL, snap = {0};
    pthread_mutex_lock(&lr->lock);
    struct ucache *hit = smap_get(&lr->cache, user, user_len);
    uint64_t e0 = lr->epoch;
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
    if (!c) {
        struct collect col = {m, &l->types, lq->view, NULL, 0, 0, 0, 0};
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
                fold(l, m, row, col.items, col.n, NULL, 0, scratch, snap.vec, err) != 0) {
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
        if (keep && (!old || old->changed <= e0)) {
            if (lr->cache.n >= CACHE_MAX)
                smap_clear(&lr->cache, ucache_free);
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
    lq->exclude = malloc((c->n_items ? c->n_items : 1) * sizeof *lq->exclude);
    if (!lq->exclude) {
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
        if (c->vec && fold(l, m, *user_row, c->items, c->n_items, history, n_history, scratch,
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
    free(c->items);
    return 0;
}
