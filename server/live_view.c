/*
 * live_view.c - the per-model side of live recommendations (see
 * live_reco.c): the catalogue in memory, views and new items, and the
 * catalogue titles and new items in answers.
 *
 * Per model, a view holds the training cutoff (from the model's
 * hyperparameters: events read up to that sequence number of this store are
 * in the model already) and the catalogue as a bitset of unavailable rows,
 * rebuilt when the catalogue changes or an availability window opens or
 * closes. The bitset is a per-row predicate, so any index over the items
 * can apply it. Items the model lacks (events or the catalogue brought
 * them) get a vector from their users or their tags (new_item_vector).
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/model.h"
#include "core/st.h"
#include "events/catalog.h"
#include "live.h"
#include "live_int.h"
#include "live_reco_int.h"

/* ---- views' lifetime ------------------------------------------------------ */

static void tagset_free(void *p)
{
    struct tagset *t = p;
    for (size_t i = 0; t && i < t->n; i++)
        free(t->names[i]);
    free(t);
}

/* A copy of names[0..n), or NULL (none, or out of memory). */
static struct tagset *tagset_new(char *const *names, size_t n)
{
    struct tagset *t = n ? malloc(sizeof *t + n * sizeof *t->names) : NULL;
    if (!t)
        return NULL;
    t->n = 0;
    for (size_t i = 0; i < n; i++)
        if ((t->names[t->n] = strdup(names[i])) != NULL)
            t->n++;
    return t;
}

static void news_free(struct newitem *n, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        tagset_free(n[i].tags);
        free(n[i].id);
        free(n[i].json);
        free(n[i].vec);
        smap_clear(&n[i].users, NULL);
    }
    free(n);
}

void live_view_unref(struct view *v)
{
    if (v && __atomic_sub_fetch(&v->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        free(v->unavailable);
        smap_clear(&v->titles, free);
        smap_clear(&v->tags, tagset_free);
        free(v->tagged);
        smap_clear(&v->news_by_id, NULL);
        news_free(v->news, v->n_news);
        free(v);
    }
}

static void cat_free(void *p)
{
    cat_item_clear(p);
    free(p);
}

void live_views_clear(struct live_reco *lr)
{
    smap_clear(&lr->catalog, cat_free);
    smap_clear(&lr->pending, NULL);
    smap_clear(&lr->evitems, NULL);
    for (int i = 0; i < lr->n_views; i++)
        live_view_unref(lr->views[i]);
    lr->n_views = 0;
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
        return 0; /* an unreadable record counts as none */
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
            if (it) { /* a catalogue change: views rebuild */
                cat_free(smap_put(&lr->catalog, key, len, it, &oom));
                lr->cat_gen++;
            }
            pthread_mutex_unlock(&lr->lock);
        }
    }
    if (rc) { /* try again next time */
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
    char *title; /* or NULL */
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
    struct newitem *ni;
    struct smap who; /* user -> index + 1 into w */
    float *w;        /* summed positive weight per user */
    size_t cap, events;
    int oom;
};

static int item_user(void *arg, const struct ev_event *e)
{
    struct item_users *c = arg;
    int oom;
    smap_put(&c->ni->users, e->user, e->user_len, (void *)1, &oom);
    float w = ev_types_weight(&c->l->types, e->type, e->type_len, NULL);
    if (!(w > 0))
        return 0;
    c->events++;
    size_t i = (uintptr_t)smap_get(&c->who, e->user, e->user_len);
    if (i) {
        c->w[i - 1] += w;
        return 0;
    }
    size_t n = smap_size(&c->who);
    if (n == c->cap) {
        size_t nc = c->cap ? 2 * c->cap : 16;
        float *x = realloc(c->w, nc * sizeof *x);
        if (!x) {
            c->oom = 1;
            return 1;
        }
        c->w = x;
        c->cap = nc;
    }
    smap_put(&c->who, e->user, e->user_len, (void *)(uintptr_t)(n + 1), &oom);
    if (oom) {
        c->oom = 1;
        return 1;
    }
    c->w[n] = w;
    return 0;
}

/* Users' vectors for one view build (user -> F floats, or NONE), so a user
 * of several new items is folded once. */
#define NO_VEC ((void *)1)

static void memo_free(void *p)
{
    if (p != NO_VEC)
        free(p);
}

/* The vector of a new item: the item step over its users' vectors (the
 * model's, or folded from their events for users the model lacks:
 * live_user_vec) once it has min_item_events events, else the mean of the
 * model's items that share one of its tags. Store reads: call without the
 * lock. */
static void new_item_vector(struct live *l, const struct model *m, const struct view *v,
                            const struct cand *c, struct smap *memo, void *scratch,
                            struct newitem *ni)
{
    const struct reco_ops *ro = m->ops->reco;
    size_t F = ro->factors(m->state);
    struct item_users iu = {.l = l, .ni = ni};
    enc_err err = {0};
    if (evstore_item_events(l->store, c->id, c->len, 1000, item_user, &iu, &err) != 0)
        live_add(l, store_failures, 1);
    size_t nu = smap_size(&iu.who), n = 0;
    float *vecs = NULL, *conf = NULL;
    if (iu.events >= (size_t)l->min_item_events && nu > 0 && !iu.oom &&
        (vecs = malloc(nu * F * sizeof *vecs)) != NULL &&
        (conf = malloc(nu * sizeof *conf)) != NULL) {
        for (size_t i = 0; i < nu; i++) {
            size_t len;
            const char *user = smap_key(&iu.who, i, &len);
            float *u = smap_get(memo, user, len);
            if (!u) {
                int oom;
                u = malloc(F * sizeof *u);
                if (u && live_user_vec(l, m, v, user, len, scratch, u) != 1) {
                    free(u);
                    u = NO_VEC;
                }
                if (u)
                    smap_put(memo, user, len, u, &oom);
                if (!u || oom) {
                    memo_free(u);
                    continue;
                }
            }
            if (u == NO_VEC)
                continue; /* nothing to stand on (no events on the model's items) */
            memcpy(vecs + n * F, u, F * sizeof *u);
            conf[n++] = (float)live_confidence(ro, m->state, iu.w[i]);
        }
    }
    if (n > 0 && (ni->vec = malloc(F * sizeof *ni->vec)) != NULL) {
        if (ro->item_step(m->state, vecs, conf, n, scratch, ni->vec, &err) == 0)
            ni->from_users = 1;
        else {
            free(ni->vec);
            ni->vec = NULL;
        }
    }
    free(vecs);
    free(conf);
    free(iu.w);
    smap_clear(&iu.who, NULL);
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

/* Take a new item's vector from its users, and its users, from the previous
 * view `old` when it had one and the item has no events since (`changed`).
 * 1 if kept; 0: compute it (new_item_vector). */
static int keep_new_item(const struct view *old, const struct smap *changed, struct newitem *ni,
                         size_t F)
{
    size_t i = old && !smap_get(changed, ni->id, ni->len)
                   ? (uintptr_t)smap_get(&old->news_by_id, ni->id, ni->len)
                   : 0;
    const struct newitem *o = i ? &old->news[i - 1] : NULL;
    if (!o || !o->from_users || !o->vec || !(ni->vec = malloc(F * sizeof *ni->vec)))
        return 0;
    memcpy(ni->vec, o->vec, F * sizeof *ni->vec);
    ni->from_users = 1;
    for (size_t k = 0; k < smap_size(&o->users); k++) {
        size_t len;
        const char *u = smap_key(&o->users, k, &len);
        int oom;
        smap_put(&ni->users, u, len, (void *)1, &oom);
        if (oom) { /* a user left out would be shown what they played: compute it */
            smap_clear(&ni->users, NULL);
            free(ni->vec);
            ni->vec = NULL;
            ni->from_users = 0;
            return 0;
        }
    }
    return 1;
}

struct view *live_view_get(struct live *l, const struct model *m, int64_t now, void *scratch)
{
    struct live_reco *lr = l->reco;
    const struct reco_ops *ro = m->ops->reco;
    enc_err err = {0};
    pthread_mutex_lock(&lr->lock);
    int need_id = !lr->store_id[0];
    pthread_mutex_unlock(&lr->lock);
    char id[33];
    if (need_id && evstore_id(l->store, id, NULL) == 0) { /* Redis was down at start */
        pthread_mutex_lock(&lr->lock);
        memcpy(lr->store_id, id, sizeof id);
        pthread_mutex_unlock(&lr->lock);
    }
    pthread_mutex_lock(&lr->lock);
    int need_refresh = !lr->cat_loaded || smap_size(&lr->pending) > 0;
    int need_items = !lr->evitems_loaded;
    pthread_mutex_unlock(&lr->lock);
    if (need_refresh && catalog_refresh(l, &err) != 0)
        live_add(l, store_failures, 1); /* serve what is known */
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
    v->refs = 1; /* the caller's; the table takes one when it is installed */
    v->model = m->state;
    v->version = m->version;
    v->loaded_at = m->loaded_at;
    v->cat_gen = lr->cat_gen;
    v->item_gen = lr->item_gen;
    v->valid_until = INT64_MAX;
    v->factors = ro->factors(m->state);
    read_cutoff(m, v, lr->store_id);
    /* The previous view of this model: its new items' vectors from their
     * users are kept for the items without events since it was built (the
     * ring says which changed), so a build solves only the changed ones. */
    struct view *old = NULL;
    struct smap changed = {0};
    for (int i = 0; i < lr->n_views && !old; i++)
        if (lr->views[i]->model == m->state && lr->views[i]->version == m->version &&
            lr->views[i]->loaded_at == m->loaded_at)
            old = lr->views[i];
    if (old) {
        size_t ring = sizeof lr->ring / sizeof *lr->ring;
        int ok = lr->item_gen - old->item_gen < ring;
        for (uint64_t g = old->item_gen + 1; ok && g <= lr->item_gen; g++) {
            size_t slot = g % ring;
            int oom;
            ok = lr->ring[slot].gen == g;
            if (ok)
                smap_put(&changed, lr->ring[slot].id, lr->ring[slot].len, (void *)1, &oom);
            ok = ok && !oom;
        }
        if (ok)
            __atomic_add_fetch(&old->refs, 1, __ATOMIC_RELAXED);
        else
            old = NULL;
    }
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
        if (row < 0) { /* a new title */
            cand_add(&cands, &n_cands, &cap_cands, key, len, it, now);
            continue;
        }
        if (it->has_tags) { /* the catalogue's tags replace the model's in filters */
            int32_t r32 = (int32_t)row;
            int oom;
            v->has_cat_tags = 1;
            if (!v->tagged && !(v->tagged = calloc((n_items + 63) / 64, sizeof *v->tagged)))
                continue;
            struct tagset *t = tagset_new(it->tags, it->n_tags); /* NULL: no tags */
            tagset_free(smap_put(&v->tags, (const char *)&r32, sizeof r32, t, &oom));
            if (oom) {
                tagset_free(t);
                continue;
            }
            v->tagged[row / 64] |= 1ull << (row % 64);
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
    struct smap memo = {0}; /* users' vectors, folded once per build */
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
            ni->tags = tagset_new(cands[i].tags, cands[i].n_tags);
            if (cands[i].n_tags)
                v->has_cat_tags = 1;
            int oom;
            smap_put(&v->news_by_id, ni->id, ni->len, (void *)(uintptr_t)(v->n_news + 1), &oom);
            if (!keep_new_item(old, &changed, ni, v->factors))
                new_item_vector(l, m, v, &cands[i], &memo, scratch, ni);
            v->n_news++;
        }
    }
    smap_clear(&memo, memo_free);
    smap_clear(&changed, NULL);
    live_view_unref(old);
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
            slot = 0; /* a table of 16 models: the first entry goes */
        live_view_unref(lr->views[slot]);
    }
    __atomic_add_fetch(&v->refs, 1, __ATOMIC_RELAXED);
    lr->views[slot] = v;
    pthread_mutex_unlock(&lr->lock);
    return v;
}

/* ---- new items and catalogue titles in answers ----------------------------- */

const float *live_new_item_vec(const struct live_query *lq, const char *id, size_t len,
                               int32_t *index)
{
    const struct view *v = lq->view;
    size_t i = v ? (uintptr_t)smap_get(&v->news_by_id, id, len) : 0;
    if (!i--)
        return NULL;
    *index = (int32_t)i;
    return v->news[i].vec;
}

/* ---- candidates, exclusions and tag filters -------------------------------- */

/* An id as a request may send it (a string or an integer), or -1. */
static int json_id(const json_t *v, const char **s, size_t *len, char *tmp, size_t tmp_len)
{
    if (json_is_string(v)) {
        *s = json_string_value(v);
        *len = json_string_length(v);
        return 0;
    }
    if (json_is_integer(v)) {
        *len = (size_t)snprintf(tmp, tmp_len, "%lld", (long long)json_integer_value(v));
        *s = tmp;
        return 0;
    }
    return -1;
}

/* 1 if one of t's names is one of the JSON strings in `want`. */
static int tagset_matches(const struct tagset *t, const json_t *want)
{
    for (size_t i = 0; t && i < t->n; i++) {
        size_t len = strlen(t->names[i]);
        for (size_t j = 0; j < json_array_size(want); j++) {
            const json_t *w = json_array_get(want, j);
            if (json_is_string(w) && json_string_length(w) == len &&
                !memcmp(json_string_value(w), t->names[i], len))
                return 1;
        }
    }
    return 0;
}

int live_narrow(struct live_query *lq, const struct model *m, const json_t *candidates,
                const json_t *exclude, const json_t *tags, int *replaced, enc_err *err)
{
    const struct view *v = lq->view;
    const struct reco_ops *ro = m->ops->reco;
    *replaced = 0;
    if (!v || (!candidates && !exclude && !tags))
        return 0;
    /* new items: only candidates, not excluded, carrying a wanted tag */
    if (v->n_news) {
        if (!(lq->news_ok = malloc(v->n_news)))
            return enc_errf(err, ENC_ENOMEM, "out of memory");
        memset(lq->news_ok, candidates ? 0 : 1, v->n_news);
        for (int pass = 0; pass < 2; pass++) {
            const json_t *list = pass ? exclude : candidates;
            for (size_t j = 0; j < json_array_size(list); j++) {
                const char *id;
                size_t len;
                char tmp[32];
                if (json_id(json_array_get(list, j), &id, &len, tmp, sizeof tmp) != 0)
                    continue;
                size_t i = (uintptr_t)smap_get(&v->news_by_id, id, len);
                if (i)
                    lq->news_ok[i - 1] = pass ? 0 : 1;
            }
        }
        for (size_t i = 0; tags && i < v->n_news; i++)
            if (!tagset_matches(v->news[i].tags, tags))
                lq->news_ok[i] = 0;
    }
    if (!tags || !v->has_cat_tags)
        return 0; /* the model's tags are the only ones: its own filter */
    /* the model's rows: every row whose tags (the catalogue's where it sets
     * them) miss the filter joins the unavailable ones for this request */
    size_t n_items = ro->n_items(m->state), words = (n_items + 63) / 64, nt = 0;
    int32_t *ids = malloc((json_array_size(tags) + 1) * sizeof *ids);
    lq->narrowed = calloc(words ? words : 1, sizeof *lq->narrowed);
    if (!ids || !lq->narrowed) {
        free(ids);
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    for (size_t j = 0; j < json_array_size(tags); j++) {
        const json_t *t = json_array_get(tags, j);
        int64_t id = json_is_string(t)
                         ? ro->tag_index(m->state, json_string_value(t), json_string_length(t))
                         : -1;
        if (id >= 0)
            ids[nt++] = (int32_t)id;
    }
    if (v->unavailable)
        memcpy(lq->narrowed, v->unavailable, words * sizeof *lq->narrowed);
    for (size_t row = 0; row < n_items; row++) {
        int keep = 0;
        if (v->tagged && (v->tagged[row / 64] >> (row % 64) & 1)) {
            int32_t r32 = (int32_t)row;
            keep = tagset_matches(smap_get(&v->tags, (const char *)&r32, sizeof r32), tags);
        } else if (nt) {
            const int32_t *it;
            size_t k = ro->item_tags(m->state, (int64_t)row, &it);
            for (size_t a = 0; a < k && !keep; a++)
                for (size_t b = 0; b < nt && !keep; b++)
                    keep = it[a] == ids[b];
        }
        if (!keep)
            lq->narrowed[row / 64] |= 1ull << (row % 64);
    }
    free(ids);
    lq->unavailable = lq->narrowed;
    *replaced = 1;
    return 0;
}

/* The key of a catalogue tag name: the model's id, or a negative one
 * shared by equal names the model lacks (`other`, *n_other so far). */
static int32_t tag_key(const struct model *m, const char *name, const char **other, size_t *n_other)
{
    size_t len = strlen(name);
    int64_t id = m->ops->reco->tag_index(m->state, name, len);
    if (id >= 0)
        return (int32_t)id;
    size_t i = 0;
    while (i < *n_other && strcmp(other[i], name))
        i++;
    if (i == *n_other)
        other[(*n_other)++] = name;
    return -1 - (int32_t)i;
}

int live_rerank_tags(const struct live_query *lq, const struct model *m,
                     const struct reco_hit *cands, size_t n, int32_t **keys, uint32_t **off,
                     enc_err *err)
{
    const struct view *v = lq->view;
    const struct reco_ops *ro = m->ops->reco;
    *keys = NULL;
    *off = NULL;
    if (!v || !v->has_cat_tags)
        return 0;
    size_t n_items = ro->n_items(m->state), total = 0;
    /* two passes: count, then fill */
    for (int pass = 0; pass < 2; pass++) {
        const char **other = NULL;
        size_t n_other = 0;
        if (pass) {
            *keys = malloc((total ? total : 1) * sizeof **keys);
            *off = malloc((n + 1) * sizeof **off);
            other = malloc((total ? total : 1) * sizeof *other);
            if (!*keys || !*off || !other) {
                free(*keys), free(*off), free(other);
                *keys = NULL, *off = NULL;
                return enc_errf(err, ENC_ENOMEM, "out of memory");
            }
            (*off)[0] = 0;
        }
        size_t at = 0;
        for (size_t j = 0; j < n; j++) {
            int32_t row = cands[j].item;
            const struct tagset *t = NULL;
            const int32_t *mt = NULL;
            size_t nm = 0;
            if (row >= 0 && (size_t)row < n_items) {
                if (v->tagged && (v->tagged[row / 64] >> (row % 64) & 1))
                    t = smap_get(&v->tags, (const char *)&row, sizeof row);
                else
                    nm = ro->item_tags(m->state, row, &mt);
            } else if (row >= 0 && (size_t)row - n_items < v->n_news) {
                t = v->news[(size_t)row - n_items].tags;
            }
            size_t nt = t ? t->n : nm;
            if (pass) {
                for (size_t a = 0; a < nt; a++)
                    (*keys)[at + a] = t ? tag_key(m, t->names[a], other, &n_other) : mt[a];
                (*off)[j + 1] = (uint32_t)(at + nt);
            }
            at += nt;
        }
        total = at;
        free(other);
    }
    return 0;
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

void live_merge_new(const struct live_query *lq, const float *u, const char *user, size_t user_len,
                    int cosine, int32_t skip, size_t k, size_t n_items, struct reco_result *res)
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
        if (!ni->vec || !ni->available || (int32_t)i == skip || (lq->news_ok && !lq->news_ok[i]))
            continue;
        if (user && smap_get(&ni->users, user, user_len))
            continue; /* the user has had it */
        float dot = 0, yn = 0;
        for (size_t f = 0; f < F; f++) {
            dot += u[f] * ni->vec[f];
            yn += ni->vec[f] * ni->vec[f];
        }
        float score = cosine ? (yn > 0 ? dot / (un * sqrtf(yn)) : -INFINITY) : dot;
        insert_hit(res, k, (int32_t)(n_items + i), score);
    }
}

const char *live_fragment(const struct live_query *lq, int32_t row, size_t n_items, size_t *len)
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

int live_has_new(const struct live_query *lq)
{
    return lq && lq->view && lq->view->n_news > 0;
}

const char *live_new_item_id(const struct live_query *lq, int32_t row, size_t n_items, size_t *len)
{
    const struct view *v = lq ? lq->view : NULL;
    if (!v || row < 0 || (size_t)row < n_items || (size_t)row - n_items >= v->n_news)
        return NULL;
    *len = v->news[(size_t)row - n_items].len;
    return v->news[(size_t)row - n_items].id;
}
