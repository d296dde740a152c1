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
 *          \1 key \0 field / \2 ...       -> counters (store_lmdb_log.c, apply_counts)
 *   meta   "seq" -> u64 last sequence number; "id" -> the store's id
 *   log    u64B seq                     -> record    appended events not yet in
 *                                                    ev, iu, ids and uc
 *
 * Writes: appends go to the log through one writer thread with group commit
 * and are merged into the indexes in large sorted batches
 * (store_lmdb_log.c; store_lmdb_int.h says why). Erasure, catalogue writes
 * and compaction are rare and run their own transactions on the calling
 * thread (erasure and compaction merge the log first).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "events/store_lmdb_int.h"

int lm_err(enc_err *err, int rc, const char *what)
{
    int code = rc == MDB_MAP_FULL ? ENC_EIO : rc == ENOMEM ? ENC_ENOMEM : ENC_EIO;
    if (rc == MDB_MAP_FULL)
        return enc_errf(err, code,
                        "event store full (%s): raise events_max_bytes or lower "
                        "events_retention_days",
                        what);
    return enc_errf(err, code, "event store: %s: %s", what, mdb_strerror(rc));
}

/* ---- open / close ---------------------------------------------------- */

static int open_dbis(struct lm *l, MDB_txn *txn, unsigned flags)
{
    int rc;
    if ((rc = mdb_dbi_open(txn, "ev", flags, &l->ev)) ||
        (rc = mdb_dbi_open(txn, "iu", flags, &l->iu)) ||
        (rc = mdb_dbi_open(txn, "ids", flags, &l->ids)) ||
        (rc = mdb_dbi_open(txn, "uc", flags, &l->uc)) ||
        (rc = mdb_dbi_open(txn, "tomb", flags, &l->tomb)) ||
        (rc = mdb_dbi_open(txn, "items", flags, &l->items)) ||
        (rc = mdb_dbi_open(txn, "rec", flags, &l->rec)) ||
        (rc = mdb_dbi_open(txn, "meta", flags, &l->meta)))
        return rc;
    /* the log came later: a store written before it has none */
    rc = mdb_dbi_open(txn, "log", flags, &l->log);
    if (rc == MDB_NOTFOUND && !(flags & MDB_CREATE)) {
        l->has_log = 0;
        return 0;
    }
    l->has_log = rc == 0;
    return rc;
}

/* The write-ahead file at open: list its live records; a writer moves
 * them into the log at once (a crash left them) and starts the file's next
 * generation. 0, an errno or an LMDB code. */
static int wal_start(struct lm *l, const char *dir)
{
    MDB_stat st;
    l->psize = mdb_env_stat(l->env, &st) == 0 ? st.ms_psize : 4096;
    int rc = lm_wal_open(l, dir);
    if (rc)
        return rc;
    if (l->wal.fd < 0)
        return 0; /* read-only, none */
    MDB_txn *txn;
    uint64_t seq = 0, gen = 0;
    if ((rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn)) != 0)
        return rc;
    if ((rc = lm_get_u64(txn, l->meta, "seq", &seq)) == 0)
        rc = lm_get_u64(txn, l->meta, "wal_gen", &gen);
    mdb_txn_abort(txn);
    if (rc || (rc = lm_wal_load(l, gen, seq)) != 0)
        return rc;
    if (l->read_only) { /* what it listed is all it needs */
        close(l->wal.fd);
        l->wal.fd = -1;
        return 0;
    }
    l->last_seq = seq;
    if (l->wal.n) {
        l->last_seq = lm_wal_last_seq(l);
        /* (no other thread yet: no wlock needed); if it fails (a full map)
         * they stay listed, join the tail and go with the next LMDB write */
        lm_checkpoint(l);
    }
    return 0;
}

/* What an opened store holds once its writer has stopped (or never ran). */
static void lm_free(struct lm *l)
{
    lm_tail_free(&l->tail);
    lm_wal_free(&l->wal);
    pthread_mutex_destroy(&l->lock);
    pthread_cond_destroy(&l->cond);
    pthread_mutex_destroy(&l->wlock);
    pthread_mutex_destroy(&l->tail.lock);
    pthread_mutex_destroy(&l->wal.lock);
    mdb_env_close(l->env);
    free(l);
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
    mdb_env_set_maxdbs(l->env, 9);
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
    mdb_reader_check(l->env, &dead); /* slots left by a killed process */
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
    pthread_mutex_init(&l->wlock, NULL);
    pthread_mutex_init(&l->tail.lock, NULL);
    pthread_mutex_init(&l->wal.lock, NULL);
    l->wal.fd = -1;
    l->merge_events = s->opt.merge_events > 0 ? s->opt.merge_events : MERGE_EVENTS_DEFAULT;
    s->impl = l;
    const char *why = NULL;
    if ((rc = wal_start(l, dir)) != 0)
        why = rc == ENOMEM ? "out of memory" : "cannot read or write its events.wal";
    else if (!l->read_only && (rc = lm_tail_load(l)) != 0)
        why = "cannot read its log";
    else if (!l->read_only && pthread_create(&l->writer, NULL, lm_writer_main, s) != 0)
        why = "cannot start the writer thread";
    if (why) {
        lm_free(l);
        s->impl = NULL;
        return enc_errf(err, ENC_EIO, "event store %s: %s (%s)", dir, why,
                        rc > 0 ? strerror(rc) : mdb_strerror(rc));
    }
    l->have_writer = !l->read_only;
    return 0;
fail:
    mdb_env_close(l->env);
    free(l);
    return enc_errf(err, rc == MDB_NOTFOUND ? ENC_ENOTFOUND : ENC_EIO, "event store %s: %s", dir,
                    rc == MDB_NOTFOUND ? "not an Encore event store" : mdb_strerror(rc));
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
        pthread_join(l->writer, NULL); /* it drains the queue first */
    }
    lm_free(l);
}

/* ---- shared with store_lmdb_log.c ----------------------------------- */

int lm_get_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t *out)
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

/* Delete the event at ev-key `k` (record `rec`) and its item index entry. */
int lm_del_event(struct lm *l, MDB_txn *txn, MDB_cursor *cur, const MDB_val *k, const MDB_val *rec)
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

/* ---- reads ----------------------------------------------------------- */

/* A user's or an item's events, newest first: the tail's (or, read-only,
 * the log's), then the index's older ones. Users' reads stop at the cap
 * (the cap is applied to the index at merges). */
static int visit_prefix(struct evstore *s, int by_item, const char *id, size_t len, size_t limit,
                        evstore_event_fn fn, void *arg, enc_err *err)
{
    struct lm *l = s->impl;
    if (len == 0 || len > EV_ID_MAX)
        return 0;
    if (!by_item && (limit == 0 || (int64_t)limit > s->opt.user_cap))
        limit = (size_t)s->opt.user_cap;
    MDB_txn *txn = NULL;
    MDB_cursor *cur;
    struct tail_copy tc;
    int rc = lm_read_begin(l, by_item, id, len, &txn, &tc);
    if (rc) {
        if (txn)
            mdb_txn_abort(txn);
        tail_copy_free(&tc);
        return lm_err(err, rc, "read");
    }
    size_t n = 0;
    int stop = 0;
    for (size_t i = 0; i < tc.n && !stop && (limit == 0 || n < limit); i++) {
        struct ev_event e;
        if (evrec_decode(tc.bytes + tc.off[i], tc.len[i], &e) == 0) {
            e.seq = tc.seq[i];
            n++;
            stop = fn(arg, &e);
        }
    }
    if (stop || (limit && n >= limit) ||
        (rc = mdb_cursor_open(txn, by_item ? l->iu : l->ev, &cur))) {
        mdb_txn_abort(txn);
        tail_copy_free(&tc);
        return rc ? lm_err(err, rc, "read") : 0;
    }
    unsigned char pk[KEY_MAX];
    size_t plen = seq_key(pk, id, len, UINT64_MAX) - 8;
    MDB_val k = {plen + 8, pk}, v;
    /* the first key past this prefix, then step back: newest first */
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    rc = mdb_cursor_get(cur, &k, &v, rc == 0 ? MDB_PREV : MDB_LAST);
    while (rc == 0 && key_has_prefix(&k, pk, plen) && (limit == 0 || n < limit)) {
        struct ev_event e;
        uint64_t seq = key_seq(&k);
        /* merged since the tail was copied: the copy had it */
        if (seq < tc.first_seq && evrec_decode(v.mv_data, v.mv_size, &e) == 0) {
            e.seq = seq;
            n++;
            if (fn(arg, &e))
                break;
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    tail_copy_free(&tc);
    return 0;
}

static int lm_user_events(struct evstore *s, const char *user, size_t len, size_t limit,
                          evstore_event_fn fn, void *arg, enc_err *err)
{
    return visit_prefix(s, 0, user, len, limit, fn, arg, err);
}

static int lm_item_events(struct evstore *s, const char *item, size_t len, size_t limit,
                          evstore_event_fn fn, void *arg, enc_err *err)
{
    return visit_prefix(s, 1, item, len, limit, fn, arg, err);
}

/* The first write-ahead record of copy c that txn lacks: those past its
 * meta seq. The copy is taken before txn begins, so a checkpoint between
 * the two puts a record in txn (then skipped here), never in neither. */
static size_t wal_past(struct lm *l, MDB_txn *txn, const struct tail_copy *c)
{
    uint64_t seq = 0;
    lm_get_u64(txn, l->meta, "seq", &seq);
    size_t i = 0;
    while (i < c->n && c->seq[i] <= seq)
        i++;
    return i;
}

/* Every event: the index, the log and the write-ahead records, in one
 * transaction (where an event is in exactly one of them). */
static int lm_scan(struct evstore *s, evstore_event_fn fn, void *arg, enc_err *err)
{
    struct lm *l = s->impl;
    MDB_txn *txn;
    MDB_cursor *cur;
    struct tail_copy w;
    int rc = lm_wal_copy(l, 0, &w); /* before the transaction: see wal_past */
    if (rc)
        return lm_err(err, rc, "scan");
    if ((rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn)) != 0) {
        tail_copy_free(&w);
        return lm_err(err, rc, "scan");
    }
    size_t from = wal_past(l, txn, &w);
    int stop = 0;
    for (int pass = 0; pass < 2 && !stop; pass++) {
        if (pass == 1 && !l->has_log)
            break;
        if ((rc = mdb_cursor_open(txn, pass ? l->log : l->ev, &cur)) != 0) {
            mdb_txn_abort(txn);
            tail_copy_free(&w);
            return lm_err(err, rc, "scan");
        }
        MDB_val k, v;
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && !stop;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            struct ev_event e;
            if (k.mv_size < (pass ? 8u : 10u) || evrec_decode(v.mv_data, v.mv_size, &e) != 0)
                continue;
            e.seq = key_seq(&k);
            stop = fn(arg, &e);
        }
        mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
    for (size_t i = from; i < w.n && !stop; i++) {
        struct ev_event e;
        if (evrec_decode(w.bytes + w.off[i], w.len[i], &e) != 0)
            continue;
        e.seq = w.seq[i];
        stop = fn(arg, &e);
    }
    tail_copy_free(&w);
    return 0;
}

/* The item index's distinct prefixes: jump from one item to the next. */
/* An event item the index (icur) lacks and `seen` does not hold yet: call
 * fn. Nonzero: stop. */
static int new_item(MDB_cursor *icur, strmap *seen, const void *rec, size_t len, evstore_id_fn fn,
                    void *arg)
{
    struct ev_event e;
    if (evrec_decode(rec, len, &e) != 0 || strmap_find(seen, e.item, e.item_len) >= 0)
        return 0;
    size_t before = strmap_size(seen);
    if (strmap_add(seen, e.item, e.item_len) < 0 || strmap_size(seen) == before)
        return 1;
    unsigned char pk[KEY_MAX];
    size_t plen = prefix_key(pk, e.item, e.item_len);
    MDB_val ik = {seq_key(pk, e.item, e.item_len, 0), pk}, iv;
    int in_index =
        mdb_cursor_get(icur, &ik, &iv, MDB_SET_RANGE) == 0 && key_has_prefix(&ik, pk, plen);
    return !in_index && fn(arg, e.item, e.item_len);
}

static int lm_event_items(struct evstore *s, evstore_id_fn fn, void *arg, enc_err *err)
{
    struct lm *l = s->impl;
    MDB_txn *txn;
    MDB_cursor *cur;
    struct tail_copy w;
    int rc = lm_wal_copy(l, 0, &w);
    if (rc)
        return lm_err(err, rc, "read");
    if ((rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn)) != 0) {
        tail_copy_free(&w);
        return lm_err(err, rc, "read");
    }
    if ((rc = mdb_cursor_open(txn, l->iu, &cur)) != 0) {
        mdb_txn_abort(txn);
        tail_copy_free(&w);
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
    /* then the items of the log and the write-ahead records that the index
     * lacks, once each */
    strmap seen = {0};
    MDB_cursor *icur = NULL;
    int stop = 0;
    if (l->has_log && mdb_cursor_open(txn, l->iu, &icur) == 0 &&
        mdb_cursor_open(txn, l->log, &cur) == 0) {
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && !stop;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
            stop = new_item(icur, &seen, v.mv_data, v.mv_size, fn, arg);
        mdb_cursor_close(cur);
        for (size_t i = wal_past(l, txn, &w); i < w.n && !stop; i++)
            stop = new_item(icur, &seen, w.bytes + w.off[i], w.len[i], fn, arg);
    }
    tail_copy_free(&w);
    if (icur)
        mdb_cursor_close(icur);
    strmap_clear(&seen);
    mdb_txn_abort(txn);
    return 0;
}

/* The users' counts (uc) are the merged users; then the users of the tail
 * (read-only: of the log) that uc lacks, once each. */
static int lm_users(struct evstore *s, evstore_id_fn fn, void *arg, enc_err *err)
{
    struct lm *l = s->impl;
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return lm_err(err, rc, "read");
    if ((rc = mdb_cursor_open(txn, l->uc, &cur)) != 0) {
        mdb_txn_abort(txn);
        return lm_err(err, rc, "read");
    }
    MDB_val k, v;
    int stop = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && !stop;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        stop = fn(arg, k.mv_data, k.mv_size);
    mdb_cursor_close(cur);
    strmap extra = {0};
    int oom = 0;
    if (!stop && !l->read_only) {
        pthread_mutex_lock(&l->tail.lock);
        for (size_t i = 0; i < strmap_size(&l->tail.users) && !oom; i++) {
            size_t len;
            const char *u = strmap_key(&l->tail.users, i, &len);
            MDB_val uk = {len, (void *)u};
            if (mdb_get(txn, l->uc, &uk, &v) == MDB_NOTFOUND && strmap_add(&extra, u, len) < 0)
                oom = 1;
        }
        pthread_mutex_unlock(&l->tail.lock);
    } else if (!stop && l->has_log && mdb_cursor_open(txn, l->log, &cur) == 0) {
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && !oom;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            struct ev_event e;
            MDB_val uk, uv;
            if (evrec_decode(v.mv_data, v.mv_size, &e) != 0)
                continue;
            uk.mv_size = e.user_len;
            uk.mv_data = (void *)e.user;
            if (mdb_get(txn, l->uc, &uk, &uv) == MDB_NOTFOUND &&
                strmap_add(&extra, e.user, e.user_len) < 0)
                oom = 1;
        }
        mdb_cursor_close(cur);
        /* and those of the write-ahead records read at open */
        struct tail_copy w;
        if (lm_wal_copy(l, 0, &w) != 0)
            oom = 1;
        for (size_t i = wal_past(l, txn, &w); i < w.n && !oom; i++) {
            struct ev_event e;
            if (evrec_decode(w.bytes + w.off[i], w.len[i], &e) != 0)
                continue;
            MDB_val uk = {e.user_len, (void *)e.user}, uv;
            if (mdb_get(txn, l->uc, &uk, &uv) == MDB_NOTFOUND &&
                strmap_add(&extra, e.user, e.user_len) < 0)
                oom = 1;
        }
        tail_copy_free(&w);
    }
    mdb_txn_abort(txn);
    for (size_t i = 0; i < strmap_size(&extra) && !stop && !oom; i++) {
        size_t len;
        const char *u = strmap_key(&extra, i, &len);
        stop = fn(arg, u, len);
    }
    strmap_clear(&extra);
    return oom ? enc_errf(err, ENC_ENOMEM, "out of memory") : 0;
}

/* ---- erasure ---------------------------------------------------------- */

/* Erase from the indexes (the log merged into them first, under wlock). */
static int erase_merged(struct evstore *s, const char *user, size_t len, int64_t now,
                        size_t *removed, enc_err *err)
{
    struct lm *l = s->impl;
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
        if ((rc = lm_del_event(l, txn, cur, &k, &v)) != 0)
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

static int lm_erase_user(struct evstore *s, const char *user, size_t len, int64_t now,
                         size_t *removed, enc_err *err)
{
    struct lm *l = s->impl;
    if (l->read_only)
        return enc_errf(err, ENC_EUNSUPPORTED, "event store opened read-only");
    pthread_mutex_lock(&l->wlock);
    int rc = lm_merge(s);
    if (rc == 0)
        rc = erase_merged(s, user, len, now, removed, err);
    else
        rc = lm_err(err, rc, "erase");
    pthread_mutex_unlock(&l->wlock);
    return rc;
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

static int lm_item_get(struct evstore *s, const char *item, size_t len, char **json, enc_err *err)
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

static int lm_counters(struct evstore *s, const char *key, size_t len, evstore_count_fn fn,
                       void *arg, enc_err *err)
{
    struct lm *l = s->impl;
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return lm_err(err, rc, "read");
    if ((rc = mdb_cursor_open(txn, l->rec, &cur)) != 0) {
        mdb_txn_abort(txn);
        return lm_err(err, rc, "read");
    }
    unsigned char pk[EVSTORE_COUNTER_KEY_MAX + 2];
    pk[0] = 1;
    memcpy(pk + 1, key, len);
    pk[len + 1] = 0;
    size_t pl = len + 2;
    MDB_val k = {pl, pk}, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
         rc == 0 && k.mv_size > pl && memcmp(k.mv_data, pk, pl) == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint64_t count = 0;
        if (v.mv_size == 16)
            memcpy(&count, v.mv_data, 8);
        if (fn(arg, (const char *)k.mv_data + pl, k.mv_size - pl, count))
            break;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return 0;
}

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
                        rc = lm_del_event(l, txn, cur, &k, &v);
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
    pthread_mutex_lock(&l->wlock);
    int rc = lm_merge(s); /* the indexes are what compaction walks */
    pthread_mutex_unlock(&l->wlock);
    if (rc)
        return lm_err(err, rc, "compact");
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
    struct tail_copy w;
    int rc = lm_wal_copy(l, 0, &w);
    if (rc)
        return lm_err(err, rc, "stats");
    if ((rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn)) != 0) {
        tail_copy_free(&w);
        return lm_err(err, rc, "stats");
    }
    size_t wal_n = w.n - wal_past(l, txn, &w);
    uint64_t wal_last = w.n ? w.seq[w.n - 1] : 0;
    tail_copy_free(&w);
    MDB_stat st;
    if (mdb_stat(txn, l->ev, &st) == 0)
        out->events = (int64_t)st.ms_entries;
    if (l->has_log && mdb_stat(txn, l->log, &st) == 0)
        out->events += (int64_t)st.ms_entries;
    out->events += (int64_t)wal_n;
    if (mdb_stat(txn, l->uc, &st) == 0)
        out->users = (int64_t)st.ms_entries;
    if (mdb_stat(txn, l->ids, &st) == 0)
        out->event_ids = (int64_t)st.ms_entries;
    /* and the tail's users the indexes do not have yet */
    pthread_mutex_lock(&l->tail.lock);
    for (size_t i = 0; i < strmap_size(&l->tail.users); i++) {
        size_t len;
        const char *u = strmap_key(&l->tail.users, i, &len);
        MDB_val k = {len, (void *)u}, v;
        if (mdb_get(txn, l->uc, &k, &v) == MDB_NOTFOUND)
            out->users++;
    }
    out->event_ids += (int64_t)strmap_size(&l->tail.ids);
    pthread_mutex_unlock(&l->tail.lock);
    if (mdb_stat(txn, l->items, &st) == 0)
        out->items = (int64_t)st.ms_entries;
    if (mdb_stat(txn, l->tomb, &st) == 0)
        out->tombstones = (int64_t)st.ms_entries;
    lm_get_u64(txn, l->meta, "seq", &out->last_seq);
    if (wal_n && wal_last > out->last_seq)
        out->last_seq = wal_last;
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
    .users = lm_users,
    .erase_user = lm_erase_user,
    .erased_at = lm_erased_at,
    .tombstones = lm_tombstones,
    .item_put = lm_item_put,
    .item_get = lm_item_get,
    .items_scan = lm_items_scan,
    .rec_counts = lm_rec_counts,
    .counters = lm_counters,
    .compact = lm_compact,
    .stats = lm_stats,
    .id = lm_id,
    .ping = lm_ping,
};
