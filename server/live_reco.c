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
 * Per model, a view (live_view.c) holds the training cutoff, the catalogue
 * as a bitset of unavailable rows and the items the model lacks; shared
 * state and types are in live_reco_int.h.
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
#include "core/strmap.h"
#include "live.h"
#include "live_int.h"
#include "live_reco_int.h"
#include "log.h"

/* ---- per-user cache ---------------------------------------------------- */

struct ucache {
    const void *model; /* identity of the model state it was made for */
    int64_t version;
    uint64_t epoch;      /* live->epoch when its events were read */
    int valid;           /* 0: a placeholder recording a change */
    int erased;          /* the user was erased: ignore the model's row */
    size_t n_events;     /* events since the cutoff */
    struct uitem *items; /* model rows with a summed weight */
    size_t n_items;
    float *vec;       /* folded vector (factors floats), or NULL */
    uint64_t changed; /* epoch of the last change announced for the user */
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

#define CACHE_MAX 200000 /* users; past it the cache starts afresh */

/* ---- users with events -------------------------------------------------- */

#define PRESENT_MAX (4u << 20) /* users; past it the check is off (every user is read) */

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
    if (2 * (u->n + 1) > u->cap) { /* at most half full */
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
        lr->cat_loaded = 0; /* re-read the whole catalogue */
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
            if (smap_size(&lr->cache) >=
                CACHE_MAX) { /* full: start afresh (reads in flight see it) */
                smap_clear(&lr->cache, ucache_free);
                lr->cleared_at = e;
            }
            if (!(c = calloc(1, sizeof *c))) {
                lr->cleared_at = e; /* the change is not recorded: no read may be kept */
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
        lr->store_id[0] = '\0'; /* Redis down at start: read again later */
    evstore_watch(l->store, on_change, l);
    present_load(l); /* after the watch: users announced meanwhile are kept */
    return 0;
}

void live_reco_free(struct live *l)
{
    struct live_reco *lr = l->reco;
    if (!lr)
        return;
    evstore_watch(l->store, NULL, NULL);
    smap_clear(&lr->cache, ucache_free);
    live_views_clear(lr);
    free(lr->present.slot);
    pthread_mutex_destroy(&lr->lock);
    free(lr);
    l->reco = NULL;
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
        return 1; /* newest first: the rest are in the model already */
    c->n_events++;
    int64_t row = c->m->ops->reco->item_index(c->m->state, e->item, e->item_len);
    if (row < 0)
        return 0; /* an item the model does not have */
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
    if (lr->present_state == PRESENT_LOADING) /* not turned off meanwhile */
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

/* ---- a user's vector for a new item's step --------------------------------- */

int live_user_vec(struct live *l, const struct model *m, const struct view *v, const char *user,
                  size_t len, void *scratch, float *out)
{
    struct live_reco *lr = l->reco;
    const struct reco_ops *ro = m->ops->reco;
    size_t F = ro->factors(m->state);
    int64_t row = ro->user_index(m->state, user, len);
    /* the folded vector of the user's last answer, while still current */
    pthread_mutex_lock(&lr->lock);
    const struct ucache *hit = smap_get(&lr->cache, user, len);
    int got = -1;
    if (hit && hit->valid && hit->model == m->state && hit->version == m->version) {
        if (hit->vec)
            memcpy(out, hit->vec, F * sizeof *out);
        got = hit->vec ? 1 : hit->erased ? 0 : -1;
    }
    pthread_mutex_unlock(&lr->lock);
    if (got >= 0)
        return got;
    if (row >= 0) { /* known, no change folded yet: the trained vector */
        const float *u = ro->user_factors(m->state, row);
        if (u)
            memcpy(out, u, F * sizeof *out);
        return u != NULL;
    }
    /* a user the model lacks: their events folded in (as their answer does) */
    struct collect col = {m, &l->types, v, NULL, 0, 0, 0, 0};
    enc_err err = {0};
    if (evstore_user_events(l->store, user, len, (size_t)0, collect_event, &col, &err) != 0) {
        live_add(l, store_failures, 1);
        col.n = 0;
    }
    int rc = !col.oom && col.n > 0 &&
             live_fold(m, -1, col.items, col.n, NULL, 0, scratch, out, &err) == 0;
    free(col.items);
    return rc;
}

/* ---- the recommend side's entry points ------------------------------------ */

void live_query_free(struct live_query *lq)
{
    if (!lq)
        return;
    free(lq->exclude);
    free(lq->vec);
    free(lq->items);
    free(lq->news_ok);
    free(lq->narrowed);
    live_view_unref(lq->view);
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
    if (!(lq->view = live_view_get(l, m, now, scratch)))
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
            snap = *hit; /* copy out what the request needs, under the lock */
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
        int rc =
            evstore_user_events(l->store, user, user_len, (size_t)0, collect_event, &col, &serr);
        int erased = rc ? 0 : evstore_erased_at(l->store, user, user_len, &when, &serr);
        if (rc || erased < 0 || col.oom) {
            free(col.items);
            live_add(l, store_failures, 1);
            live_add(l, model_only, 1);
            lq->source = *user_row >= 0 ? "model" : n_history ? "history" : "popular";
            return 0; /* the model alone */
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
                snap.vec = NULL; /* nothing to fold: no vector */
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
        *user_row = -1; /* the model's row belongs to an erased user */
    size_t n_ex = 0;
    lq->exclude = c->n_items ? malloc(c->n_items * sizeof *lq->exclude) : NULL;
    if (c->n_items && !lq->exclude) {
        free(c->items);
        free(c->vec);
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < c->n_items; i++)
        if (c->items[i].weight < 0 || exclude_seen) /* disliked: always; consumed: if asked */
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
    lq->vec = c->vec;     /* owned by lq now */
    lq->items = c->items; /* kept for an explanation (live_basis) */
    lq->n_items = c->n_items;
    return 0;
}
