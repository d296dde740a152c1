/*
 * store.c - the event store's front: options, backend choice, the record
 * encoding and copied batches shared by both backends (store_int.h), and
 * the synchronous wrapper of an append.
 */
#include "events/store_int.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void evstore_options_default(struct evstore_options *o)
{
    memset(o, 0, sizeof *o);
    o->retention_days = 90;
    o->user_cap = 1000;
}

int evstore_is_redis(const char *location)
{
    return location && strncmp(location, "redis://", 8) == 0;
}

int evstore_open(const struct evstore_options *o, struct evstore **out, enc_err *err)
{
    *out = NULL;
    if (!o->location || !*o->location)
        return enc_errf(err, ENC_EINVAL, "events: no store location");
    if (o->retention_days < 1 || o->user_cap < 1)
        return enc_errf(err, ENC_EINVAL, "events: retention and per-user cap must be >= 1");
    struct evstore *s = calloc(1, sizeof *s);
    if (!s || !(s->location = strdup(o->location))) {
        free(s);
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    s->opt = *o;
    s->opt.location = s->location;
    if (s->opt.map_bytes <= 0)
        s->opt.map_bytes = (int64_t)8 << 30;
    if (s->opt.timeout_ms <= 0)
        s->opt.timeout_ms = 1000;
    pthread_mutex_init(&s->watch_lock, NULL);
    s->vt = evstore_is_redis(o->location) ? &evstore_redis_vt : &evstore_lmdb_vt;
    int rc = s->vt->open(s, err);
    if (rc) {
        pthread_mutex_destroy(&s->watch_lock);
        free(s->location);
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void evstore_close(struct evstore *s)
{
    if (!s)
        return;
    s->vt->close(s);
    pthread_mutex_destroy(&s->watch_lock);
    free(s->location);
    free(s);
}

const char *evstore_kind(const struct evstore *s)
{
    return s->vt->kind;
}

void evstore_watch(struct evstore *s, evstore_change_fn fn, void *arg)
{
    pthread_mutex_lock(&s->watch_lock);
    s->watch_fn = fn;
    s->watch_arg = arg;
    pthread_mutex_unlock(&s->watch_lock);
}

void evstore__changed(struct evstore *s, enum ev_change kind, const char *id, size_t len)
{
    pthread_mutex_lock(&s->watch_lock);
    if (s->watch_fn)
        s->watch_fn(s->watch_arg, kind, id, len);
    pthread_mutex_unlock(&s->watch_lock);
}

void evstore__random_id(char out[33])
{
    unsigned char b[16];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read(fd, b, sizeof b) : -1;
    if (fd >= 0)
        close(fd);
    if (got != (ssize_t)sizeof b) { /* no urandom: time and address are unique enough */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x =
            (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)out;
        for (int i = 0; i < 16; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            b[i] = (unsigned char)x;
        }
    }
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[32] = '\0';
}

/* ---- records --------------------------------------------------------- */

size_t evrec_size(const struct ev_event *e)
{
    return EVREC_HEAD + (size_t)e->type_len + e->item_len + e->id_len + e->rec_len + e->user_len;
}

void evrec_encode(const struct ev_event *e, unsigned char *out)
{
    unsigned char *p = out;
    uint8_t tl = (uint8_t)e->type_len;
    *p++ = EVREC_VERSION;
    memcpy(p, &e->time, 8), p += 8;
    memcpy(p, &e->recv, 8), p += 8;
    *p++ = tl;
    memcpy(p, &e->item_len, 2), p += 2;
    memcpy(p, &e->id_len, 2), p += 2;
    memcpy(p, &e->rec_len, 2), p += 2;
    memcpy(p, &e->user_len, 2), p += 2;
    memcpy(p, e->type, tl), p += tl;
    memcpy(p, e->item, e->item_len), p += e->item_len;
    if (e->id_len)
        memcpy(p, e->id, e->id_len), p += e->id_len;
    if (e->rec_len)
        memcpy(p, e->rec_id, e->rec_len), p += e->rec_len;
    memcpy(p, e->user, e->user_len);
}

int evrec_decode(const unsigned char *buf, size_t len, struct ev_event *e)
{
    if (len < EVREC_HEAD || buf[0] != EVREC_VERSION)
        return ENC_EFORMAT;
    const unsigned char *p = buf + 1;
    memcpy(&e->time, p, 8), p += 8;
    memcpy(&e->recv, p, 8), p += 8;
    e->type_len = *p++;
    memcpy(&e->item_len, p, 2), p += 2;
    memcpy(&e->id_len, p, 2), p += 2;
    memcpy(&e->rec_len, p, 2), p += 2;
    memcpy(&e->user_len, p, 2), p += 2;
    size_t need =
        EVREC_HEAD + (size_t)e->type_len + e->item_len + e->id_len + e->rec_len + e->user_len;
    if (need != len)
        return ENC_EFORMAT;
    e->type = (const char *)p, p += e->type_len;
    e->item = (const char *)p, p += e->item_len;
    e->id = (const char *)p, p += e->id_len;
    e->rec_id = (const char *)p, p += e->rec_len;
    e->user = (const char *)p;
    return 0;
}

/* ---- batches --------------------------------------------------------- */

struct evbatch *evbatch_new(const struct ev_event *ev, size_t n, int64_t now, evstore_done_fn done,
                            void *arg)
{
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += evrec_size(&ev[i]);
    size_t head = sizeof(struct evbatch);
    size_t arrays = n * (sizeof(struct ev_event) + sizeof(unsigned char *) + sizeof(size_t));
    struct evbatch *b = malloc(head + bytes + arrays + 16);
    if (!b)
        return NULL;
    memset(b, 0, head);
    b->n = n;
    b->now = now;
    b->done = done;
    b->arg = arg;
    unsigned char *p = b->bytes;
    /* arrays first (aligned: the header is), then the records */
    b->ev = (struct ev_event *)(void *)p;
    p += n * sizeof(struct ev_event);
    b->rec = (unsigned char **)(void *)p;
    p += n * sizeof(unsigned char *);
    b->rec_len = (size_t *)(void *)p;
    p += n * sizeof(size_t);
    for (size_t i = 0; i < n; i++) {
        struct ev_event e = ev[i];
        e.recv = now;
        size_t len = evrec_size(&e);
        evrec_encode(&e, p);
        b->rec[i] = p;
        b->rec_len[i] = len;
        evrec_decode(p, len, &b->ev[i]); /* the copy's strings point into the record */
        b->ev[i].seq = 0;
        p += len;
    }
    return b;
}

struct evbatch *evbatch_new_counts(const struct evstore_count *c, size_t n, int64_t now,
                                   evstore_done_fn done, void *arg)
{
    size_t bytes = n * sizeof(struct evstore_count);
    for (size_t i = 0; i < n; i++)
        bytes += c[i].key_len + c[i].field_len + c[i].member_len;
    struct evbatch *b = malloc(sizeof(struct evbatch) + bytes + 16);
    if (!b)
        return NULL;
    memset(b, 0, sizeof *b);
    b->now = now;
    b->done = done;
    b->arg = arg;
    b->n_counts = n;
    b->counts = (struct evstore_count *)(void *)b->bytes;
    char *p = (char *)(b->counts + n);
    for (size_t i = 0; i < n; i++) {
        struct evstore_count *o = &b->counts[i];
        *o = c[i];
        memcpy(p, c[i].key, c[i].key_len);
        o->key = p;
        p += c[i].key_len;
        memcpy(p, c[i].field, c[i].field_len);
        o->field = p;
        p += c[i].field_len;
        if (c[i].member_len)
            memcpy(p, c[i].member, c[i].member_len);
        o->member = p;
        p += c[i].member_len;
    }
    return b;
}

void evbatch_finish(struct evbatch *b)
{
    if (b->done)
        b->done(b->arg, &b->res);
    free(b);
}

/* ---- the API: dispatch ----------------------------------------------- */

void evstore_append_async(struct evstore *s, const struct ev_event *ev, size_t n, int64_t now,
                          evstore_done_fn done, void *arg)
{
    struct evbatch *b = evbatch_new(ev, n, now, done, arg);
    if (!b) {
        struct evstore_result res = {.code = ENC_ENOMEM};
        enc_errf(&res.err, ENC_ENOMEM, "out of memory");
        done(arg, &res);
        return;
    }
    if (n == 0) {
        evbatch_finish(b);
        return;
    }
    s->vt->append(s, b);
}

struct sync_wait {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int finished;
    struct evstore_result res;
};

static void sync_done(void *arg, const struct evstore_result *res)
{
    struct sync_wait *w = arg;
    pthread_mutex_lock(&w->lock);
    w->res = *res;
    w->finished = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

int evstore_append(struct evstore *s, const struct ev_event *ev, size_t n, int64_t now,
                   size_t *accepted, size_t *duplicates, enc_err *err)
{
    struct sync_wait w = {.finished = 0};
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.cond, NULL);
    evstore_append_async(s, ev, n, now, sync_done, &w);
    pthread_mutex_lock(&w.lock);
    while (!w.finished)
        pthread_cond_wait(&w.cond, &w.lock);
    pthread_mutex_unlock(&w.lock);
    pthread_mutex_destroy(&w.lock);
    pthread_cond_destroy(&w.cond);
    if (accepted)
        *accepted = w.res.accepted;
    if (duplicates)
        *duplicates = w.res.duplicates;
    if (w.res.code && err)
        *err = w.res.err;
    return w.res.code;
}

int evstore_flush(struct evstore *s, enc_err *err)
{
    struct sync_wait w = {.finished = 0};
    struct evbatch *b = evbatch_new(NULL, 0, 0, sync_done, &w);
    if (!b)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.cond, NULL);
    s->vt->append(s, b); /* an empty batch: behind everything queued before it */
    pthread_mutex_lock(&w.lock);
    while (!w.finished)
        pthread_cond_wait(&w.cond, &w.lock);
    pthread_mutex_unlock(&w.lock);
    pthread_mutex_destroy(&w.lock);
    pthread_cond_destroy(&w.cond);
    if (w.res.code && err)
        *err = w.res.err;
    return w.res.code;
}

int evstore_user_events(struct evstore *s, const char *user, size_t len, size_t limit,
                        evstore_event_fn fn, void *arg, enc_err *err)
{
    return s->vt->user_events(s, user, len, limit, fn, arg, err);
}

int evstore_item_events(struct evstore *s, const char *item, size_t len, size_t limit,
                        evstore_event_fn fn, void *arg, enc_err *err)
{
    return s->vt->item_events(s, item, len, limit, fn, arg, err);
}

int evstore_event_items(struct evstore *s, evstore_id_fn fn, void *arg, enc_err *err)
{
    return s->vt->event_items(s, fn, arg, err);
}

int evstore_users(struct evstore *s, evstore_id_fn fn, void *arg, enc_err *err)
{
    return s->vt->users(s, fn, arg, err);
}

int evstore_scan(struct evstore *s, evstore_event_fn fn, void *arg, enc_err *err)
{
    return s->vt->scan(s, fn, arg, err);
}

int evstore_erase_user(struct evstore *s, const char *user, size_t len, int64_t now,
                       size_t *removed, enc_err *err)
{
    size_t dummy;
    if (ev_id_problem(user, len))
        return enc_errf(err, ENC_EINVAL, "user id %s", ev_id_problem(user, len));
    return s->vt->erase_user(s, user, len, now, removed ? removed : &dummy, err);
}

int evstore_erased_at(struct evstore *s, const char *user, size_t len, int64_t *when, enc_err *err)
{
    return s->vt->erased_at(s, user, len, when, err);
}

int evstore_tombstones(struct evstore *s, evstore_tomb_fn fn, void *arg, enc_err *err)
{
    return s->vt->tombstones(s, fn, arg, err);
}

int evstore_item_put(struct evstore *s, const char *item, size_t len, const char *json,
                     size_t json_len, enc_err *err)
{
    if (ev_id_problem(item, len))
        return enc_errf(err, ENC_EINVAL, "item id %s", ev_id_problem(item, len));
    if (json_len > 65536)
        return enc_errf(err, ENC_ETOOLARGE, "item record larger than 64 KiB");
    return s->vt->item_put(s, item, len, json, json_len, err);
}

int evstore_item_get(struct evstore *s, const char *item, size_t len, char **json, enc_err *err)
{
    *json = NULL;
    return s->vt->item_get(s, item, len, json, err);
}

int evstore_items_scan(struct evstore *s, evstore_item_fn fn, void *arg, enc_err *err)
{
    return s->vt->items_scan(s, fn, arg, err);
}

int evstore_recommendation_counts(struct evstore *s, const char *rec_id, size_t len,
                                  evstore_count_fn fn, void *arg, enc_err *err)
{
    return s->vt->rec_counts(s, rec_id, len, fn, arg, err);
}

void evstore_count_async(struct evstore *s, const struct evstore_count *c, size_t n, int64_t now,
                         evstore_done_fn done, void *arg)
{
    struct evstore_result res = {0};
    for (size_t i = 0; i < n; i++)
        if (c[i].key_len == 0 || c[i].key_len > EVSTORE_COUNTER_KEY_MAX || c[i].field_len == 0 ||
            c[i].field_len > EVSTORE_COUNTER_FIELD_MAX || c[i].member_len > EV_ID_MAX ||
            memchr(c[i].key, 0, c[i].key_len) || memchr(c[i].field, 0, c[i].field_len)) {
            res.code = enc_errf(&res.err, ENC_EINVAL, "counter %zu: bad key, field or member", i);
            if (done)
                done(arg, &res);
            return;
        }
    struct evbatch *b = n ? evbatch_new_counts(c, n, now, done, arg) : NULL;
    if (!b) {
        if (n)
            res.code = enc_errf(&res.err, ENC_ENOMEM, "out of memory");
        if (done)
            done(arg, &res);
        return;
    }
    s->vt->append(s, b);
}

int evstore_counters(struct evstore *s, const char *key, size_t len, evstore_count_fn fn, void *arg,
                     enc_err *err)
{
    if (len == 0 || len > EVSTORE_COUNTER_KEY_MAX || memchr(key, 0, len))
        return 0;
    return s->vt->counters(s, key, len, fn, arg, err);
}

int evstore_compact(struct evstore *s, int64_t now, size_t *removed, enc_err *err)
{
    size_t dummy;
    return s->vt->compact(s, now, removed ? removed : &dummy, err);
}

int evstore_stats(struct evstore *s, struct evstore_stats *out, enc_err *err)
{
    memset(out, 0, sizeof *out);
    return s->vt->stats(s, out, err);
}

int evstore_id(struct evstore *s, char id[33], enc_err *err)
{
    return s->vt->id(s, id, err);
}

int evstore_ping(struct evstore *s, enc_err *err)
{
    return s->vt->ping(s, err);
}
