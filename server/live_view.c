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

void live_view_unref(struct view *v)
{
    if (v && __atomic_sub_fetch(&v->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        free(v->unavailable);
        smap_clear(&v->titles, free);
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
    const struct model *m;
    struct newitem *ni;
    float *vecs; /* n x F */
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
        return 0; /* a user the model lacks: their vector is not at hand here */
    size_t F = ro->factors(c->m->state);
    if (c->n == c->cap) {
        size_t nc = c->cap ? 2 * c->cap : 16;
        float *v = realloc(c->vecs, nc * F * sizeof *v),
              *cf = v ? realloc(c->conf, nc * sizeof *cf) : NULL;
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
        if (!ni->vec || !ni->available || (int32_t)i == skip)
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

const char *live_new_item_id(const struct live_query *lq, int32_t row, size_t n_items, size_t *len)
{
    const struct view *v = lq ? lq->view : NULL;
    if (!v || row < 0 || (size_t)row < n_items || (size_t)row - n_items >= v->n_news)
        return NULL;
    *len = v->news[(size_t)row - n_items].len;
    return v->news[(size_t)row - n_items].id;
}
