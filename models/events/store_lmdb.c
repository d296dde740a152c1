/*
 * store_lmdb.c - the embedded event store: LMDB in a directory.
 *
 * Why LMDB (measured against SQLite, docs/events.md and
 * bench/results/events-store.md): both are fsync-bound on a commit, but
 * LMDB's reads are copy-free lookups in a shared memory map with no lock and
 * no syscall, and the recommend path reads a user's recent events on every
 * cache miss; its B-tree puts cost about a microsecond, a few times less
 * than SQLite's prepared INSERTs with their indexes.
 *
 * Databases in the environment (keys sort byte-wise; B = big-endian):
 *   ev     [u16B ulen][user][u64B seq]  -> record    a user's events, oldest first
 *   iu     [u16B ilen][item][u64B seq]  -> record    an item's events
 *   ids    event id                     -> i64 recv  client ids (dedup)
 *   uc     user                         -> u32       events kept per user (the cap)
 *   tomb   user                         -> i64 when  erased users
 *   items  item                         -> JSON      catalogue records
 *   rec    rec_id \0 type               -> u64 count, i64 updated
 *   meta   "seq" -> u64 last sequence number; "id" -> the store's id
 *
 * Writes: appends go through one writer thread that takes every queued
 * request, applies them in one write transaction and commits it (LMDB
 * fsyncs the data, then the meta page) before answering any of them: group
 * commit, so N concurrent requests cost one fsync pair instead of N. If the
 * group transaction fails (a full map), each request is retried in its own
 * transaction, so one request's failure never fails another. Erasure,
 * catalogue writes and compaction are rare and run their own transactions on
 * the calling thread (LMDB serialises writers).
 */
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "events/store_int.h"

struct lm {
    MDB_env *env;
    MDB_dbi ev, iu, ids, uc, tomb, items, rec, meta;
    char id[33];
    int read_only;
    /* the writer thread and its queue */
    pthread_t writer;
    int have_writer;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct evbatch *head, *tail;
    int stop;
};

static int lm_err(enc_err *err, int rc, const char *what)
{
    int code = rc == MDB_MAP_FULL ? ENC_EIO : rc == ENOMEM ? ENC_ENOMEM : ENC_EIO;
    if (rc == MDB_MAP_FULL)
        return enc_errf(err, code, "event store full (%s): raise events_max_bytes or lower "
                        "events_retention_days", what);
    return enc_errf(err, code, "event store: %s: %s", what, mdb_strerror(rc));
}

/* ---- keys ------------------------------------------------------------ */

#define KEY_MAX (2 + EV_ID_MAX + 8)

static size_t prefix_key(unsigned char *k, const char *s, size_t len)
{
    k[0] = (unsigned char)(len >> 8);
    k[1] = (unsigned char)len;
    memcpy(k + 2, s, len);
    return 2 + len;
}

static size_t seq_key(unsigned char *k, const char *s, size_t len, uint64_t seq)
{
    size_t n = prefix_key(k, s, len);
    for (int i = 0; i < 8; i++)
        k[n + i] = (unsigned char)(seq >> (56 - 8 * i));
    return n + 8;
}

static uint64_t key_seq(const MDB_val *k)
{
    const unsigned char *p = (const unsigned char *)k->mv_data + k->mv_size - 8;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static int key_has_prefix(const MDB_val *k, const unsigned char *pre, size_t plen)
{
    return k->mv_size == plen + 8 && memcmp(k->mv_data, pre, plen) == 0;
}

/* ---- open / close ---------------------------------------------------- */

static void *writer_main(void *arg);

static int open_dbis(struct lm *l, MDB_txn *txn, unsigned flags)
{
    int rc;
    if ((rc = mdb_dbi_open(txn, "ev", flags, &l->ev)) || (rc = mdb_dbi_open(txn, "iu", flags, &l->iu)) ||
        (rc = mdb_dbi_open(txn, "ids", flags, &l->ids)) ||
        (rc = mdb_dbi_open(txn, "uc", flags, &l->uc)) ||
        (rc = mdb_dbi_open(txn, "tomb", flags, &l->tomb)) ||
        (rc = mdb_dbi_open(txn, "items", flags, &l->items)) ||
        (rc = mdb_dbi_open(txn, "rec", flags, &l->rec)) ||
        (rc = mdb_dbi_open(txn, "meta", flags, &l->meta)))
        return rc;
    return 0;
}

static int lm_open(struct evstore *s, enc_err *err)
{
    struct lm *l = calloc(1, sizeof *l);
    if (!l)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    const char *dir = s->location;
    l->read_only = s->opt.read_only;
    int rc;
    struct stat st;
    if (l->read_only) {
        char path[4096];
        snprintf(path, sizeof path, "%s/data.mdb", dir);
        if (stat(path, &st) != 0) {
            free(l);
            return enc_errf(err, ENC_ENOTFOUND, "no event store in %s", dir);
        }
    } else if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        free(l);
        return enc_errf(err, ENC_EIO, "event store %s: cannot create the directory: %s", dir,
                        strerror(errno));
    }
    if ((rc = mdb_env_create(&l->env)) != 0) {
        free(l);
        return lm_err(err, rc, "create");
    }
    mdb_env_set_maxdbs(l->env, 8);
    mdb_env_set_mapsize(l->env, (size_t)s->opt.map_bytes);
    /* 126 readers by default; HTTP threads plus the trainer stay well below
     * 256. NOTLS: a read transaction is not tied to its thread's slot. */
    mdb_env_set_maxreaders(l->env, 256);
    rc = mdb_env_open(l->env, dir, MDB_NOTLS | (l->read_only ? MDB_RDONLY : 0), 0644);
    if (rc) {
        mdb_env_close(l->env);
        free(l);
        return enc_errf(err, ENC_EIO, "event store %s: %s", dir, mdb_strerror(rc));
    }
    int dead = 0;
    mdb_reader_check(l->env, &dead);   /* slots left by a killed process */
    MDB_txn *txn;
    if ((rc = mdb_txn_begin(l->env, NULL, l->read_only ? MDB_RDONLY : 0, &txn)) != 0)
        goto fail;
    if ((rc = open_dbis(l, txn, l->read_only ? 0 : MDB_CREATE)) != 0) {
        mdb_txn_abort(txn);
        goto fail;
    }
    MDB_val k = {2, "id"}, v;
    rc = mdb_get(txn, l->meta, &k, &v);
    if (rc == 0 && v.mv_size == 32) {
        memcpy(l->id, v.mv_data, 32);
    } else if (rc == MDB_NOTFOUND && !l->read_only) {
        evstore__random_id(l->id);
        v.mv_size = 32;
        v.mv_data = l->id;
        if ((rc = mdb_put(txn, l->meta, &k, &v, 0)) != 0) {
            mdb_txn_abort(txn);
            goto fail;
        }
    } else {
        mdb_txn_abort(txn);
        mdb_env_close(l->env);
        free(l);
        return enc_errf(err, ENC_EFORMAT, "event store %s: no store id (not an Encore store?)",
                        dir);
    }
    /* commit even a read-only transaction: aborting it would close the handles */
    if ((rc = mdb_txn_commit(txn)) != 0)
        goto fail;
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->cond, NULL);
    s->impl = l;
    if (!l->read_only) {
        if (pthread_create(&l->writer, NULL, writer_main, s) != 0) {
            pthread_mutex_destroy(&l->lock);
            pthread_cond_destroy(&l->cond);
            mdb_env_close(l->env);
            free(l);
            s->impl = NULL;
            return enc_errf(err, ENC_ENOMEM, "event store: cannot start the writer thread");
        }
        l->have_writer = 1;
    }
    return 0;
fail:
    mdb_env_close(l->env);
    free(l);
    return enc_errf(err, rc == MDB_NOTFOUND ? ENC_ENOTFOUND : ENC_EIO, "event store %s: %s",
                    dir, rc == MDB_NOTFOUND ? "not an Encore event store" : mdb_strerror(rc));
}

static void lm_close(struct evstore *s)
{
    struct lm *l = s->impl;
    if (!l)
        return;
    if (l->have_writer) {
        pthread_mutex_lock(&l->lock);
        l->stop = 1;
        pthread_cond_signal(&l->cond);
        pthread_mutex_unlock(&l->lock);
        pthread_join(l->writer, NULL);   /* it drains the queue first */
    }
    pthread_mutex_destroy(&l->lock);
    pthread_cond_destroy(&l->cond);
    mdb_env_close(l->env);
    free(l);
}

/* ---- appends: the writer thread -------------------------------------- */

static int get_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t *out)
{
    MDB_val k = {strlen(key), (void *)key}, v;
    int rc = mdb_get(txn, dbi, &k, &v);
    if (rc == MDB_NOTFOUND) {
        *out = 0;
        return 0;
    }
    if (rc == 0 && v.mv_size == 8)
        memcpy(out, v.mv_data, 8);
    return rc;
}

static int put_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t val)
{
    MDB_val k = {strlen(key), (void *)key}, v = {8, &val};
    return mdb_put(txn, dbi, &k, &v, 0);
}

/* Delete the event at ev-key `k` (record `rec`) and its item index entry. */
static int del_event(struct lm *l, MDB_txn *txn, MDB_cursor *cur, const MDB_val *k,
                     const MDB_val *rec)
{
    struct ev_event e;
    unsigned char ik[KEY_MAX];
    int rc;
    if (evrec_decode(rec->mv_data, rec->mv_size, &e) == 0) {
        MDB_val key = {seq_key(ik, e.item, e.item_len, key_seq(k)), ik};
        rc = mdb_del(txn, l->iu, &key, NULL);
        if (rc && rc != MDB_NOTFOUND)
            return rc;
    }
    return mdb_cursor_del(cur, 0);
}

/* One more event for `user`: count it, and past the cap drop the oldest. */
static int count_and_cap(struct lm *l, MDB_txn *txn, const char *user, size_t len, int64_t cap)
{
    MDB_val k = {len, (void *)user}, v;
    uint32_t n = 0;
    int rc = mdb_get(txn, l->uc, &k, &v);
    if (rc == 0 && v.mv_size == 4)
        memcpy(&n, v.mv_data, 4);
    else if (rc && rc != MDB_NOTFOUND)
        return rc;
    n++;
    if ((int64_t)n > cap) {
        MDB_cursor *cur;
        unsigned char pk[KEY_MAX];
        size_t plen = prefix_key(pk, user, len);
        MDB_val ck = {plen, pk}, cv;
        if ((rc = mdb_cursor_open(txn, l->ev, &cur)) != 0)
            return rc;
        rc = mdb_cursor_get(cur, &ck, &cv, MDB_SET_RANGE);
        if (rc == 0 && key_has_prefix(&ck, pk, plen)) {
            rc = del_event(l, txn, cur, &ck, &cv);
            n--;
        }
        mdb_cursor_close(cur);
        if (rc && rc != MDB_NOTFOUND)
            return rc;
    }
    v.mv_size = 4;
    v.mv_data = &n;
    return mdb_put(txn, l->uc, &k, &v, 0);
}

static int bump_rec(struct lm *l, MDB_txn *txn, const struct ev_event *e, int64_t now)
{
    unsigned char key[EV_ID_MAX + 1 + EV_TYPE_MAX];
    memcpy(key, e->rec_id, e->rec_len);
    key[e->rec_len] = 0;
    memcpy(key + e->rec_len + 1, e->type, e->type_len);
    MDB_val k = {(size_t)e->rec_len + 1 + e->type_len, key}, v;
    unsigned char val[16] = {0};
    uint64_t count = 0;
    int rc = mdb_get(txn, l->rec, &k, &v);
    if (rc == 0 && v.mv_size == 16)
        memcpy(&count, v.mv_data, 8);
    else if (rc && rc != MDB_NOTFOUND)
        return rc;
    count++;
    memcpy(val, &count, 8);
    memcpy(val + 8, &now, 8);
    v.mv_size = 16;
    v.mv_data = val;
    return mdb_put(txn, l->rec, &k, &v, 0);
}

/* Apply one request inside `txn`; fills b->res counts. An LMDB error code
 * (the transaction must then be aborted) or 0. */
static int apply_batch(struct evstore *s, MDB_txn *txn, struct evbatch *b)
{
    struct lm *l = s->impl;
    uint64_t seq;
    int rc;
    if ((rc = get_u64(txn, l->meta, "seq", &seq)) != 0)
        return rc;
    b->res.accepted = b->res.duplicates = 0;
    for (size_t i = 0; i < b->n; i++) {
        struct ev_event *e = &b->ev[i];
        e->seq = 0;
        if (e->id_len) {
            MDB_val k = {e->id_len, (void *)e->id}, v = {8, &b->now};
            rc = mdb_put(txn, l->ids, &k, &v, MDB_NOOVERWRITE);
            if (rc == MDB_KEYEXIST) {
                b->res.duplicates++;
                continue;
            }
            if (rc)
                return rc;
        }
        e->seq = ++seq;
        unsigned char key[KEY_MAX];
        MDB_val k = {seq_key(key, e->user, e->user_len, seq), key};
        MDB_val v = {b->rec_len[i], b->rec[i]};
        if ((rc = mdb_put(txn, l->ev, &k, &v, 0)) != 0)
            return rc;
        k.mv_size = seq_key(key, e->item, e->item_len, seq);
        if ((rc = mdb_put(txn, l->iu, &k, &v, 0)) != 0)
            return rc;
        if ((rc = count_and_cap(l, txn, e->user, e->user_len, s->opt.user_cap)) != 0)
            return rc;
        if (e->rec_len && (rc = bump_rec(l, txn, e, b->now)) != 0)
            return rc;
        b->res.accepted++;
    }
    return put_u64(txn, l->meta, "seq", seq);
}

static void announce(struct evstore *s, struct evbatch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        const struct ev_event *e = &b->ev[i];
        if (!e->seq)
            continue;
        /* consecutive events of one user are announced once */
        if (i == 0 || b->ev[i - 1].user_len != e->user_len ||
            memcmp(b->ev[i - 1].user, e->user, e->user_len) != 0)
            evstore__changed(s, EV_CHANGE_USER, e->user, e->user_len);
        evstore__changed(s, EV_CHANGE_ITEM, e->item, e->item_len);
    }
}

/* Commit a group of requests; on failure retry them one by one. */
static void commit_group(struct evstore *s, struct evbatch *group)
{
    struct lm *l = s->impl;
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(l->env, NULL, 0, &txn);
    for (struct evbatch *b = group; rc == 0 && b; b = b->next)
        rc = apply_batch(s, txn, b);
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (txn)
        mdb_txn_abort(txn);
    if (rc == 0) {
        for (struct evbatch *b = group, *next; b; b = next) {
            next = b->next;
            announce(s, b);
            evbatch_finish(b);
        }
        return;
    }
    int alone = group->next == NULL;
    for (struct evbatch *b = group, *next; b; b = next) {
        next = b->next;
        if (alone) {
            b->res.code = lm_err(&b->res.err, rc, "append");
            b->res.accepted = b->res.duplicates = 0;
            evbatch_finish(b);
        } else {
            b->next = NULL;
            commit_group(s, b);
        }
    }
}

static void *writer_main(void *arg)
{
    struct evstore *s = arg;
    struct lm *l = s->impl;
    pthread_mutex_lock(&l->lock);
    for (;;) {
        while (!l->head && !l->stop)
            pthread_cond_wait(&l->cond, &l->lock);
        if (!l->head && l->stop)
            break;
        struct evbatch *group = l->head;
        l->head = l->tail = NULL;
        pthread_mutex_unlock(&l->lock);
        commit_group(s, group);
        pthread_mutex_lock(&l->lock);
    }
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

static void lm_append(struct evstore *s, struct evbatch *b)
{
    struct lm *l = s->impl;
    if (!l->have_writer) {
        b->res.code = enc_errf(&b->res.err, ENC_EUNSUPPORTED, "event store opened read-only");
        evbatch_finish(b);
        return;
    }
    b->next = NULL;
    pthread_mutex_lock(&l->lock);
    if (l->tail)
        l->tail->next = b;
    else
        l->head = b;
    l->tail = b;
    pthread_cond_signal(&l->cond);
    pthread_mutex_unlock(&l->lock);
}

/* ---- reads ----------------------------------------------------------- */

static int visit_prefix(struct lm *l, MDB_dbi dbi, const char *id, size_t len, size_t limit,
                        evstore_event_fn fn, void *arg, enc_err *err)
{
    if (len == 0 || len > EV_ID_MAX)
        return 0;
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return lm_err(err, rc, "read");
    if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0) {
        mdb_txn_abort(txn);
        return lm_err(err, rc, "read");
    }
    unsigned char pk[KEY_MAX];
    size_t plen = seq_key(pk, id, len, UINT64_MAX) - 8;
    MDB_val k = {plen + 8, pk}, v;
    /* the first key past this prefix, then step back: newest first */
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    rc = mdb_cursor_get(cur, &k, &v, rc == 0 ? MDB_PREV : MDB_LAST);
    size_t n = 0;
    while (rc == 0 && key_has_prefix(&k, pk, plen) && (limit == 0 || n < limit)) {
        struct ev_event e;
        if (evrec_decode(v.mv_data, v.mv_size, &e) == 0) {
            e.seq = key_seq(&k);
            n++;
            if (fn(arg, &e))
                break;
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return 0;
}

static int lm_user_events(struct evstore *s, const char *user, size_t len, size_t limit,
                          evstore_event_fn fn, void *arg, enc_err *err)
{
    struct lm *l = s->impl;
    return visit_prefix(l, l->ev, user, len, limit, fn, arg, err);
}

static int lm_item_events(struct evstore *s, const char *item, size_t len, size_t limit,
                          evstore_event_fn fn, void *arg, enc_err *err)
{
    struct lm *l = s->impl;
    return visit_prefix(l, l->iu, item, len, limit, fn, arg, err);
}

static int lm_scan(struct evstore *s, evstore_event_fn fn, void *arg, enc_err *err)
{
    struct lm *l = s->impl;
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return lm_err(err, rc, "scan");
    if ((rc = mdb_cursor_open(txn, l->ev, &cur)) != 0) {
        mdb_txn_abort(txn);
        return lm_err(err, rc, "scan");
    }
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        struct ev_event e;
        if (k.mv_size < 10 || evrec_decode(v.mv_data, v.mv_size, &e) != 0)
            continue;
        e.seq = key_seq(&k);
        if (fn(arg, &e))
            break;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return 0;
}

/* The item index's distinct prefixes: jump from one item to the next. */
static int lm_event_items(struct evstore *s, evstore_id_fn fn, void *arg, enc_err *err)
{
    struct lm *l = s->impl;
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return lm_err(err, rc, "read");
    if ((rc = mdb_cursor_open(txn, l->iu, &cur)) != 0) {
        mdb_txn_abort(txn);
        return lm_err(err, rc, "read");
    }
    MDB_val k, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0 && k.mv_size > 10) {
        const unsigned char *p = k.mv_data;
        size_t len = ((size_t)p[0] << 8) | p[1];
        if (len + 10 != k.mv_size || fn(arg, (const char *)p + 2, len))
            break;
        unsigned char next[KEY_MAX];
        MDB_val nk = {seq_key(next, (const char *)p + 2, len, UINT64_MAX), next};
        k = nk;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (rc == 0 && k.mv_size == nk.mv_size && !memcmp(k.mv_data, next, nk.mv_size))
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return 0;
}

/* ---- erasure ---------------------------------------------------------- */

static int lm_erase_user(struct evstore *s, const char *user, size_t len, int64_t now,
                         size_t *removed, enc_err *err)
{
    struct lm *l = s->impl;
    if (l->read_only)
        return enc_errf(err, ENC_EUNSUPPORTED, "event store opened read-only");
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    int rc = mdb_txn_begin(l->env, NULL, 0, &txn);
    if (rc)
        return lm_err(err, rc, "erase");
    /* the items touched, announced after the commit */
    size_t n_items = 0, cap_items = 0;
    char **items = NULL;
    uint16_t *item_lens = NULL;
    *removed = 0;
    if ((rc = mdb_cursor_open(txn, l->ev, &cur)) != 0)
        goto out;
    unsigned char pk[KEY_MAX];
    size_t plen = prefix_key(pk, user, len);
    MDB_val k = {plen, pk}, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && key_has_prefix(&k, pk, plen)) {
        struct ev_event e;
        if (evrec_decode(v.mv_data, v.mv_size, &e) == 0) {
            if (n_items == cap_items) {
                cap_items = cap_items ? 2 * cap_items : 16;
                char **ni = realloc(items, cap_items * sizeof *ni);
                uint16_t *nl = ni ? realloc(item_lens, cap_items * sizeof *nl) : NULL;
                if (ni)
                    items = ni;
                if (!nl) {
                    rc = ENOMEM;
                    goto out;
                }
                item_lens = nl;
            }
            if (!(items[n_items] = malloc(e.item_len ? e.item_len : 1))) {
                rc = ENOMEM;
                goto out;
            }
            memcpy(items[n_items], e.item, e.item_len);
            item_lens[n_items++] = e.item_len;
        }
        if ((rc = del_event(l, txn, cur, &k, &v)) != 0)
            goto out;
        (*removed)++;
        /* after a delete the cursor already sits on the next entry, and
         * LMDB's MDB_NEXT returns that entry rather than skipping it */
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (rc != MDB_NOTFOUND && rc != 0)
        goto out;
    mdb_cursor_close(cur);
    cur = NULL;
    MDB_val uk = {len, (void *)user};
    rc = mdb_del(txn, l->uc, &uk, NULL);
    if (rc && rc != MDB_NOTFOUND)
        goto out;
    MDB_val tv = {8, &now};
    if ((rc = mdb_put(txn, l->tomb, &uk, &tv, 0)) != 0)
        goto out;
    rc = mdb_txn_commit(txn);
    txn = NULL;
out:
    if (cur)
        mdb_cursor_close(cur);
    if (txn)
        mdb_txn_abort(txn);
    if (rc == 0) {
        evstore__changed(s, EV_CHANGE_USER, user, len);
        for (size_t i = 0; i < n_items; i++)
            evstore__changed(s, EV_CHANGE_ITEM, items[i], item_lens[i]);
    } else {
        *removed = 0;
    }
    for (size_t i = 0; i < n_items; i++)
        free(items[i]);
    free(items);
    free(item_lens);
    return rc ? lm_err(err, rc, "erase") : 0;
}

static int lm_erased_at(struct evstore *s, const char *user, size_t len, int64_t *when,
                        enc_err *err)
{
    struct lm *l = s->impl;
    if (len == 0 || len > EV_ID_MAX)
        return 0;
    MDB_txn *txn;
    int rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return lm_err(err, rc, "read");
    MDB_val k = {len, (void *)user}, v;
    rc = mdb_get(txn, l->tomb, &k, &v);
    int found = rc == 0 && v.mv_size == 8;
    if (found)
        memcpy(when, v.mv_data, 8);
    mdb_txn_abort(txn);
    return rc && rc != MDB_NOTFOUND ? lm_err(err, rc, "read") : found;
}

/* Visit every key/value of a database (read transaction). */
typedef int (*kv_fn)(void *arg, const MDB_val *k, const MDB_val *v);
static int visit_all(struct lm *l, MDB_dbi dbi, kv_fn fn, void *arg, enc_err *err)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return lm_err(err, rc, "read");
    if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0) {
        mdb_txn_abort(txn);
        return lm_err(err, rc, "read");
    }
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        if (fn(arg, &k, &v))
            break;
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return 0;
}

struct tomb_visit {
    evstore_tomb_fn fn;
    void *arg;
};

static int tomb_kv(void *arg, const MDB_val *k, const MDB_val *v)
{
    struct tomb_visit *t = arg;
    int64_t when = 0;
    if (v->mv_size == 8)
        memcpy(&when, v->mv_data, 8);
    return t->fn(t->arg, k->mv_data, k->mv_size, when);
}

static int lm_tombstones(struct evstore *s, evstore_tomb_fn fn, void *arg, enc_err *err)
{
    struct lm *l = s->impl;
    struct tomb_visit t = {fn, arg};
    return visit_all(l, l->tomb, tomb_kv, &t, err);
}

/* ---- catalogue -------------------------------------------------------- */

static int lm_item_put(struct evstore *s, const char *item, size_t len, const char *json,
                       size_t json_len, enc_err *err)
{
    struct lm *l = s->impl;
    if (l->read_only)
        return enc_errf(err, ENC_EUNSUPPORTED, "event store opened read-only");
    MDB_txn *txn;
    int rc = mdb_txn_begin(l->env, NULL, 0, &txn);
    if (rc)
        return lm_err(err, rc, "catalogue");
    MDB_val k = {len, (void *)item}, v = {json_len, (void *)json};
    if ((rc = mdb_put(txn, l->items, &k, &v, 0)) != 0) {
        mdb_txn_abort(txn);
        return lm_err(err, rc, "catalogue");
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        return lm_err(err, rc, "catalogue");
    evstore__changed(s, EV_CHANGE_ITEM, item, len);
    return 0;
}

static int lm_item_get(struct evstore *s, const char *item, size_t len, char **json,
                       enc_err *err)
{
    struct lm *l = s->impl;
    if (len == 0 || len > EV_ID_MAX)
        return 0;
    MDB_txn *txn;
    int rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return lm_err(err, rc, "read");
    MDB_val k = {len, (void *)item}, v;
    rc = mdb_get(txn, l->items, &k, &v);
    int found = 0;
    if (rc == 0) {
        if (!(*json = malloc(v.mv_size + 1))) {
            mdb_txn_abort(txn);
            return enc_errf(err, ENC_ENOMEM, "out of memory");
        }
        memcpy(*json, v.mv_data, v.mv_size);
        (*json)[v.mv_size] = '\0';
        found = 1;
    }
    mdb_txn_abort(txn);
    return rc && rc != MDB_NOTFOUND ? lm_err(err, rc, "read") : found;
}

struct item_visit {
    evstore_item_fn fn;
    void *arg;
};

static int item_kv(void *arg, const MDB_val *k, const MDB_val *v)
{
    struct item_visit *t = arg;
    return t->fn(t->arg, k->mv_data, k->mv_size, v->mv_data, v->mv_size);
}

static int lm_items_scan(struct evstore *s, evstore_item_fn fn, void *arg, enc_err *err)
{
    struct lm *l = s->impl;
    struct item_visit t = {fn, arg};
    return visit_all(l, l->items, item_kv, &t, err);
}

/* ---- attribution ------------------------------------------------------ */

static int lm_rec_counts(struct evstore *s, const char *rec, size_t len, evstore_count_fn fn,
                         void *arg, enc_err *err)
{
    struct lm *l = s->impl;
    if (len == 0 || len > EV_ID_MAX)
        return 0;
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return lm_err(err, rc, "read");
    if ((rc = mdb_cursor_open(txn, l->rec, &cur)) != 0) {
        mdb_txn_abort(txn);
        return lm_err(err, rc, "read");
    }
    unsigned char pk[EV_ID_MAX + 1];
    memcpy(pk, rec, len);
    pk[len] = 0;
    MDB_val k = {len + 1, pk}, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
         rc == 0 && k.mv_size > len + 1 && memcmp(k.mv_data, pk, len + 1) == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint64_t count = 0;
        if (v.mv_size == 16)
            memcpy(&count, v.mv_data, 8);
        if (fn(arg, (const char *)k.mv_data + len + 1, k.mv_size - len - 1, count))
            break;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return 0;
}

/* ---- compaction -------------------------------------------------------- */

/* Compaction works in transactions of at most this many deletions, so the
 * appends queued behind it wait one short commit at a time. */
#define COMPACT_CHUNK 5000

/* Drop expired entries of `dbi` (ev, ids or rec) in chunks. */
static int compact_dbi(struct lm *l, MDB_dbi dbi, int64_t cutoff, size_t *removed, enc_err *err)
{
    unsigned char resume[KEY_MAX + EV_TYPE_MAX + 2];
    size_t resume_len = 0;
    int done = 0;
    while (!done) {
        MDB_txn *txn;
        MDB_cursor *cur;
        int rc = mdb_txn_begin(l->env, NULL, 0, &txn);
        if (rc)
            return lm_err(err, rc, "compact");
        if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0) {
            mdb_txn_abort(txn);
            return lm_err(err, rc, "compact");
        }
        MDB_val k = {resume_len, resume}, v;
        rc = mdb_cursor_get(cur, &k, &v, resume_len ? MDB_SET_RANGE : MDB_FIRST);
        size_t dels = 0, seen = 0;
        while (rc == 0 && dels < COMPACT_CHUNK && seen < 20 * COMPACT_CHUNK) {
            int64_t t = INT64_MAX;
            struct ev_event e;
            if (dbi == l->ev && evrec_decode(v.mv_data, v.mv_size, &e) == 0)
                t = e.recv;
            else if (dbi == l->ids && v.mv_size == 8)
                memcpy(&t, v.mv_data, 8);
            else if (dbi == l->rec && v.mv_size == 16)
                memcpy(&t, (const char *)v.mv_data + 8, 8);
            seen++;
            if (t < cutoff) {
                if (dbi == l->ev) {
                    /* the user's count goes down with it */
                    MDB_val uk = {k.mv_size - 10, (char *)k.mv_data + 2}, uv;
                    uint32_t n = 0;
                    if (mdb_get(txn, l->uc, &uk, &uv) == 0 && uv.mv_size == 4)
                        memcpy(&n, uv.mv_data, 4);
                    if (n > 1) {
                        n--;
                        uv.mv_size = 4;
                        uv.mv_data = &n;
                        rc = mdb_put(txn, l->uc, &uk, &uv, 0);
                    } else {
                        rc = mdb_del(txn, l->uc, &uk, NULL);
                        if (rc == MDB_NOTFOUND)
                            rc = 0;
                    }
                    if (rc == 0)
                        rc = del_event(l, txn, cur, &k, &v);
                } else {
                    rc = mdb_cursor_del(cur, 0);
                }
                if (rc)
                    break;
                dels++;
            }
            /* (after a delete MDB_NEXT returns the entry that followed it) */
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
        if (rc == 0 && k.mv_size <= sizeof resume) {
            memcpy(resume, k.mv_data, k.mv_size);
            resume_len = k.mv_size;
        } else if (rc == MDB_NOTFOUND || rc == EINVAL) {
            done = 1;
            rc = 0;
        }
        mdb_cursor_close(cur);
        if (rc) {
            mdb_txn_abort(txn);
            return lm_err(err, rc, "compact");
        }
        if ((rc = mdb_txn_commit(txn)) != 0)
            return lm_err(err, rc, "compact");
        if (dbi == l->ev)
            *removed += dels;
    }
    return 0;
}

static int lm_compact(struct evstore *s, int64_t now, size_t *removed, enc_err *err)
{
    struct lm *l = s->impl;
    *removed = 0;
    if (l->read_only)
        return enc_errf(err, ENC_EUNSUPPORTED, "event store opened read-only");
    int64_t cutoff = now - s->opt.retention_days * 86400;
    int rc;
    if ((rc = compact_dbi(l, l->ev, cutoff, removed, err)) != 0 ||
        (rc = compact_dbi(l, l->ids, cutoff, removed, err)) != 0 ||
        (rc = compact_dbi(l, l->rec, cutoff, removed, err)) != 0)
        return rc;
    if (*removed)
        evstore__changed(s, EV_CHANGE_RESYNC, NULL, 0);
    return 0;
}

/* ---- state ------------------------------------------------------------- */

static int lm_stats(struct evstore *s, struct evstore_stats *out, enc_err *err)
{
    struct lm *l = s->impl;
    MDB_txn *txn;
    int rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return lm_err(err, rc, "stats");
    MDB_stat st;
    if (mdb_stat(txn, l->ev, &st) == 0)
        out->events = (int64_t)st.ms_entries;
    if (mdb_stat(txn, l->uc, &st) == 0)
        out->users = (int64_t)st.ms_entries;
    if (mdb_stat(txn, l->ids, &st) == 0)
        out->event_ids = (int64_t)st.ms_entries;
    if (mdb_stat(txn, l->items, &st) == 0)
        out->items = (int64_t)st.ms_entries;
    if (mdb_stat(txn, l->tomb, &st) == 0)
        out->tombstones = (int64_t)st.ms_entries;
    get_u64(txn, l->meta, "seq", &out->last_seq);
    mdb_txn_abort(txn);
    MDB_envinfo info;
    if (mdb_env_info(l->env, &info) == 0 && mdb_env_stat(l->env, &st) == 0)
        out->bytes = (int64_t)(info.me_last_pgno + 1) * st.ms_psize;
    return 0;
}

static int lm_id(struct evstore *s, char id[33], enc_err *err)
{
    struct lm *l = s->impl;
    memcpy(id, l->id, 33);
    return 0;
}

static int lm_ping(struct evstore *s, enc_err *err)
{
    return 0;
}

const struct evstore_vt evstore_lmdb_vt = {
    .kind = "lmdb",
    .open = lm_open,
    .close = lm_close,
    .append = lm_append,
    .user_events = lm_user_events,
    .item_events = lm_item_events,
    .scan = lm_scan,
    .event_items = lm_event_items,
    .erase_user = lm_erase_user,
    .erased_at = lm_erased_at,
    .tombstones = lm_tombstones,
    .item_put = lm_item_put,
    .item_get = lm_item_get,
    .items_scan = lm_items_scan,
    .rec_counts = lm_rec_counts,
    .compact = lm_compact,
    .stats = lm_stats,
    .id = lm_id,
    .ping = lm_ping,
};
