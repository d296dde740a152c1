/*
 * store_lmdb_log.c - the embedded store's write side: appends to the log
 * under group commit, the in-memory tail index of the log, and merges of
 * the log into the indexes (store_lmdb_int.h explains the layout and why).
 *
 * One writer thread takes every queued request and makes them durable
 * before answering any of them: group commit, so N concurrent requests cost
 * one flush instead of N. A group of plain events goes to the write-ahead
 * file (store_lmdb_wal.c: one fdatasync); a group with counts or
 * recommendation ids, or when the file cannot take it, commits through an
 * LMDB transaction (two flushes) that first takes the file's records along
 * (a checkpoint). If the group fails (a full map), each request is retried
 * alone, so one request's failure never fails another. A group writes only the log (its records in
 * sequence order, dense pages), the client ids' duplicate check reads the
 * ids index and the tail, and recommendation counts are bumped once per
 * (recommendation, type) of the group.
 *
 * A merge (on the writer thread when the tail reaches merge_events, and
 * before an erasure or a compaction) applies the whole log in key order:
 * each index's puts are sorted (ids by id, ev by user then seq, iu by item
 * then seq), so consecutive puts walk the same path and touch each leaf
 * once, and a user's count and cap are updated once; then it empties the
 * log, all in one transaction. The per-user cap is therefore applied at the
 * merge; reads never return more than the cap.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "events/store_lmdb_int.h"

/* ---- sorting a group ---------------------------------------------------- */

struct gev {
    struct ev_event *e;
    const unsigned char *rec;
    size_t rec_len;
    size_t order; /* arrival order */
};

static int cmp_bytes(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : al < bl ? -1 : al > bl;
}

static int by_id(const void *x, const void *y)
{
    const struct gev *a = *(struct gev *const *)x, *b = *(struct gev *const *)y;
    int c = cmp_bytes(a->e->id, a->e->id_len, b->e->id, b->e->id_len);
    return c ? c : a->order < b->order ? -1 : 1;
}

/* the indexes' key order: [u16B len][id][u64B seq] */
static int by_key(const char *a, size_t al, uint64_t as, const char *b, size_t bl, uint64_t bs)
{
    if (al != bl)
        return al < bl ? -1 : 1;
    int c = memcmp(a, b, al);
    return c ? c : as < bs ? -1 : as > bs;
}

/* a distinct id of a merge, for sorting them in the indexes' key order */
struct did {
    const char *s;
    size_t len;
    uint32_t id;
};

static int by_did(const void *x, const void *y)
{
    const struct did *a = x, *b = y;
    return by_key(a->s, a->len, 0, b->s, b->len, 0);
}

/* Put g[0..n) (in sequence order) into by[] in the order of an index's keys,
 * [u16B len][user or item][u64B seq]: the distinct ids are sorted once and
 * the events counting-sorted by their id's rank, which keeps sequence order
 * within an id. Why not qsort of the events: a merge sorts tens of thousands
 * of events twice, and comparing their strings was a fifth of its CPU.
 * 0 or ENOMEM. */
static int key_order(struct gev *g, size_t n, int by_user_id, struct gev **by)
{
    strmap m = {0};
    uint32_t *idx = malloc(n * sizeof *idx), *rank = NULL;
    struct did *ord = NULL;
    size_t *start = NULL;
    int rc = ENOMEM;
    if (!idx)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const struct ev_event *e = g[i].e;
        int64_t x = by_user_id ? strmap_add(&m, e->user, e->user_len)
                               : strmap_add(&m, e->item, e->item_len);
        if (x < 0)
            goto out;
        idx[i] = (uint32_t)x;
    }
    size_t d = strmap_size(&m);
    if (!(ord = malloc(d * sizeof *ord)) || !(rank = malloc(d * sizeof *rank)) ||
        !(start = calloc(d + 1, sizeof *start)))
        goto out;
    for (size_t j = 0; j < d; j++) {
        ord[j].s = strmap_key(&m, j, &ord[j].len);
        ord[j].id = (uint32_t)j;
    }
    qsort(ord, d, sizeof *ord, by_did);
    for (size_t j = 0; j < d; j++)
        rank[ord[j].id] = (uint32_t)j;
    for (size_t i = 0; i < n; i++)
        start[rank[idx[i]] + 1]++;
    for (size_t j = 0; j < d; j++)
        start[j + 1] += start[j];
    for (size_t i = 0; i < n; i++)
        by[start[rank[idx[i]]]++] = &g[i];
    rc = 0;
out:
    strmap_clear(&m);
    free(idx);
    free(ord);
    free(rank);
    free(start);
    return rc;
}

/* Put each of by[0..n) into dbi under its user's (or item's) key with one
 * cursor: keys in order land on the page the cursor is on, so LMDB skips
 * the search from the root for most of them. An LMDB code or 0. */
static int put_in_order(MDB_txn *txn, MDB_dbi dbi, struct gev **by, size_t n, int by_user_id)
{
    MDB_cursor *cur = NULL;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    unsigned char key[KEY_MAX];
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct ev_event *e = by[i]->e;
        MDB_val kv = {by_user_id ? seq_key(key, e->user, e->user_len, e->seq)
                                 : seq_key(key, e->item, e->item_len, e->seq),
                      key};
        MDB_val val = {by[i]->rec_len, (void *)by[i]->rec};
        rc = mdb_cursor_put(cur, &kv, &val, 0);
    }
    if (cur)
        mdb_cursor_close(cur);
    return rc;
}

static int by_rec(const void *x, const void *y)
{
    const struct gev *a = *(struct gev *const *)x, *b = *(struct gev *const *)y;
    int c = cmp_bytes(a->e->rec_id, a->e->rec_len, b->e->rec_id, b->e->rec_len);
    return c ? c : cmp_bytes(a->e->type, a->e->type_len, b->e->type, b->e->type_len);
}

/* ---- index updates ------------------------------------------------------- */

/* `add` more events for `user`: count them, and past the cap drop the
 * oldest (with their item index entries). */
static int count_and_cap(struct lm *l, MDB_txn *txn, const char *user, size_t len, uint32_t add,
                         int64_t cap)
{
    MDB_val k = {len, (void *)user}, v;
    uint32_t n = 0;
    int rc = mdb_get(txn, l->uc, &k, &v);
    if (rc == 0 && v.mv_size == 4)
        memcpy(&n, v.mv_data, 4);
    else if (rc && rc != MDB_NOTFOUND)
        return rc;
    n += add;
    if ((int64_t)n > cap) {
        MDB_cursor *cur;
        unsigned char pk[KEY_MAX];
        size_t plen = prefix_key(pk, user, len);
        MDB_val ck = {plen, pk}, cv;
        if ((rc = mdb_cursor_open(txn, l->ev, &cur)) != 0)
            return rc;
        rc = mdb_cursor_get(cur, &ck, &cv, MDB_SET_RANGE);
        while (rc == 0 && (int64_t)n > cap && key_has_prefix(&ck, pk, plen)) {
            if ((rc = lm_del_event(l, txn, cur, &ck, &cv)) != 0)
                break;
            n--;
            /* after a delete MDB_NEXT returns the entry that followed it */
            rc = mdb_cursor_get(cur, &ck, &cv, MDB_NEXT);
        }
        mdb_cursor_close(cur);
        if (rc && rc != MDB_NOTFOUND)
            return rc;
    }
    v.mv_size = 4;
    v.mv_data = &n;
    return mdb_put(txn, l->uc, &k, &v, 0);
}

/* Add `add` to the count of (rec_id, type). */
static int bump_rec(struct lm *l, MDB_txn *txn, const struct ev_event *e, uint64_t add, int64_t now)
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
    count += add;
    memcpy(val, &count, 8);
    memcpy(val + 8, &now, 8);
    v.mv_size = 16;
    v.mv_data = val;
    return mdb_put(txn, l->rec, &k, &v, 0);
}

/* ---- the tail ------------------------------------------------------------ */

int lm_grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 64;
    while (nc < need)
        nc *= 2;
    void *np = realloc(*p, nc * size);
    if (!np)
        return -1;
    *p = np;
    *cap = nc;
    return 0;
}

/* Index id in map m, with its chain head array `last` (-1: none yet). */
static int64_t chain_slot(strmap *m, int32_t **last, size_t *cap, const char *id, size_t len)
{
    int64_t x = strmap_add(m, id, len);
    if (x < 0)
        return x;
    if ((size_t)x >= *cap) {
        size_t old = *cap;
        if (lm_grow((void **)last, cap, (size_t)x + 1, sizeof **last))
            return ENC_ENOMEM;
        for (size_t i = old; i < *cap; i++)
            (*last)[i] = -1;
    }
    return x;
}

/* Add a committed event (caller holds the tail lock). 0 or ENC_ENOMEM. */
static int tail_add(struct lm_tail *t, uint64_t seq, const unsigned char *rec, size_t len)
{
    struct ev_event e;
    if (evrec_decode(rec, len, &e) != 0)
        return 0; /* not ours to read: never written by this code */
    if (lm_grow((void **)&t->ev, &t->cap, t->n + 1, sizeof *t->ev) ||
        lm_grow((void **)&t->bytes, &t->bytes_cap, t->used + len, 1))
        return ENC_ENOMEM;
    int64_t u = chain_slot(&t->users, &t->user_last, &t->user_cap, e.user, e.user_len);
    int64_t i = u < 0 ? u : chain_slot(&t->items, &t->item_last, &t->item_cap, e.item, e.item_len);
    if (i < 0 || (e.id_len && strmap_add(&t->ids, e.id, e.id_len) < 0))
        return ENC_ENOMEM;
    struct tail_ev *x = &t->ev[t->n];
    x->seq = seq;
    x->off = t->used;
    x->len = (uint32_t)len;
    x->prev_user = t->user_last[u];
    x->prev_item = t->item_last[i];
    memcpy(t->bytes + t->used, rec, len);
    t->used += len;
    t->user_last[u] = (int32_t)t->n;
    t->item_last[i] = (int32_t)t->n;
    t->n++;
    return 0;
}

static void tail_clear(struct lm_tail *t)
{
    t->n = 0;
    t->used = 0;
    strmap_clear(&t->users);
    strmap_clear(&t->items);
    strmap_clear(&t->ids);
    t->user_cap = t->item_cap = 0;
    free(t->user_last);
    free(t->item_last);
    t->user_last = t->item_last = NULL;
}

void lm_tail_free(struct lm_tail *t)
{
    tail_clear(t);
    free(t->ev);
    free(t->bytes);
    t->ev = NULL;
    t->bytes = NULL;
    t->cap = t->bytes_cap = 0;
}

int lm_tail_load(struct lm *l)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return rc;
    if ((rc = mdb_cursor_open(txn, l->log, &cur)) != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    MDB_val k, v;
    pthread_mutex_lock(&l->tail.lock);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        if (k.mv_size == 8 && tail_add(&l->tail, get_be64(k.mv_data), v.mv_data, v.mv_size)) {
            rc = ENOMEM;
            break;
        }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    /* and write-ahead records a checkpoint at open could not move (a full
     * map): the next LMDB write takes them along */
    struct tail_copy w;
    if (rc == MDB_NOTFOUND && (rc = lm_wal_copy(l, 0, &w)) == 0) {
        for (size_t i = 0; i < w.n && !rc; i++)
            if (tail_add(&l->tail, w.seq[i], w.bytes + w.off[i], w.len[i]))
                rc = ENOMEM;
        tail_copy_free(&w);
    }
    pthread_mutex_unlock(&l->tail.lock);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* ---- counters (evstore_count_async) ---------------------------------------- */

/* A counter's value: u64 count, i64 updated (what compaction reads). */
static int put_count(MDB_txn *txn, MDB_dbi dbi, MDB_val *k, uint64_t count, int64_t now)
{
    unsigned char val[16];
    memcpy(val, &count, 8);
    memcpy(val + 8, &now, 8);
    MDB_val v = {16, val};
    return mdb_put(txn, dbi, k, &v, 0);
}

/* 128 bits of a member's hash (two FNV-1a streams through splitmix64's mix):
 * members are only compared, and this keeps the key within LMDB's limit. */
static void member_hash(const char *m, size_t len, unsigned char out[16])
{
    uint64_t a = 0xcbf29ce484222325ull, b = 0x84222325cbf29ce4ull;
    for (size_t i = 0; i < len; i++) {
        a = (a ^ (unsigned char)m[i]) * 0x100000001b3ull;
        b = (b ^ (unsigned char)m[i]) * 0x100000001b3ull;
    }
    a = rng_hash(a ^ len);
    b = rng_hash(b + a);
    memcpy(out, &a, 8);
    memcpy(out + 8, &b, 8);
}

/* Counters live in the `rec` database beside the recommendation counts,
 * under keys that cannot be recommendation ids (those have no control
 * characters), with the same value layout, so compaction ages them alike:
 *
 *   \1 key \0 field              -> u64 count, i64 updated
 *   \2 key \0 field \0 hash128    -> 1, i64 updated (a member seen)
 *
 * They are small and few per request, so they go straight to the index
 * (not through the log). */
static int apply_counts(struct lm *l, MDB_txn *txn, struct evbatch *b)
{
    for (size_t i = 0; i < b->n_counts; i++) {
        const struct evstore_count *c = &b->counts[i];
        unsigned char key[3 + EVSTORE_COUNTER_KEY_MAX + EVSTORE_COUNTER_FIELD_MAX + 16];
        size_t kl = 0;
        key[kl++] = 1;
        memcpy(key + kl, c->key, c->key_len);
        kl += c->key_len;
        key[kl++] = 0;
        memcpy(key + kl, c->field, c->field_len);
        kl += c->field_len;
        MDB_val k, v;
        int rc;
        if (c->member_len) {
            key[0] = 2;
            key[kl] = 0;
            member_hash(c->member, c->member_len, key + kl + 1);
            k.mv_size = kl + 17;
            k.mv_data = key;
            rc = mdb_get(txn, l->rec, &k, &v);
            if (rc && rc != MDB_NOTFOUND)
                return rc;
            int seen = rc == 0;
            if ((rc = put_count(txn, l->rec, &k, 1, b->now)) != 0) /* refreshes its age */
                return rc;
            if (seen)
                continue;
            key[0] = 1;
        }
        k.mv_size = kl;
        k.mv_data = key;
        uint64_t count = 0;
        rc = mdb_get(txn, l->rec, &k, &v);
        if (rc == 0 && v.mv_size == 16)
            memcpy(&count, v.mv_data, 8);
        else if (rc && rc != MDB_NOTFOUND)
            return rc;
        if ((rc = put_count(txn, l->rec, &k, count + 1, b->now)) != 0)
            return rc;
    }
    return 0;
}

/* ---- appends: a group of requests into the log ----------------------------- */

/* Number the events of `list` into ev (and by, the ones with client ids)
 * and mark each a duplicate (seq 0) or not (seq 1): a repeat within the
 * group, an id in the tail, or one in the ids index (read in txn). ev and by
 * hold the group's event count. An LMDB error code or 0. */
static int mark_duplicates(struct lm *l, MDB_txn *txn, struct evbatch *list, struct gev *ev,
                           struct gev **by)
{
    size_t k = 0, nid = 0;
    int rc = 0;
    for (struct evbatch *b = list; b; b = b->next) {
        b->res.accepted = b->res.duplicates = 0;
        for (size_t i = 0; i < b->n; i++, k++) {
            ev[k] = (struct gev){&b->ev[i], b->rec[i], b->rec_len[i], k};
            b->ev[i].seq = 1;
            if (b->ev[i].id_len)
                by[nid++] = &ev[k];
        }
    }
    /* client ids, sorted: the first arrival of an id is the event; one
     * cursor looks them up in order (LMDB stays on its page when it can) */
    qsort(by, nid, sizeof *by, by_id);
    MDB_cursor *cur = NULL;
    if (nid && (rc = mdb_cursor_open(txn, l->ids, &cur)) != 0)
        return rc;
    for (size_t i = 0; i < nid; i++) {
        struct ev_event *e = by[i]->e;
        if (i > 0 && !cmp_bytes(by[i - 1]->e->id, by[i - 1]->e->id_len, e->id, e->id_len)) {
            e->seq = 0;
            continue;
        }
        MDB_val key = {e->id_len, (void *)e->id}, v;
        if (strmap_find(&l->tail.ids, e->id, e->id_len) >= 0 ||
            (rc = mdb_cursor_get(cur, &key, &v, MDB_SET)) == 0)
            e->seq = 0;
        else if (rc != MDB_NOTFOUND)
            break;
        rc = 0;
    }
    if (cur)
        mdb_cursor_close(cur);
    return rc;
}

static size_t group_events(const struct evbatch *list)
{
    size_t n = 0;
    for (const struct evbatch *b = list; b; b = b->next)
        n += b->n;
    return n;
}

/* Apply the requests `list` inside `txn` (counts into each b->res); every
 * event gets its seq (0: a duplicate). An LMDB error code or 0. */
static int apply_group(struct evstore *s, MDB_txn *txn, struct evbatch *list)
{
    struct lm *l = s->impl;
    size_t n = group_events(list);
    struct gev *ev = malloc((n ? n : 1) * sizeof *ev);
    struct gev **by = malloc((n ? n : 1) * sizeof *by);
    int rc = 0;
    if (!ev || !by) {
        rc = ENOMEM;
        goto out;
    }
    size_t k = 0, nrec = 0;
    for (struct evbatch *b = list; b; b = b->next)
        if (b->n_counts && (rc = apply_counts(l, txn, b)) != 0)
            goto out;
    if ((rc = mark_duplicates(l, txn, list, ev, by)) != 0)
        goto out;
    /* sequence numbers in arrival order; the log in that order */
    uint64_t seq;
    if ((rc = lm_get_u64(txn, l->meta, "seq", &seq)) != 0)
        goto out;
    k = 0;
    for (struct evbatch *b = list; b; b = b->next)
        for (size_t i = 0; i < b->n; i++, k++) {
            struct ev_event *e = &b->ev[i];
            if (!e->seq) {
                b->res.duplicates++;
                continue;
            }
            e->seq = ++seq;
            unsigned char key[8];
            put_be64(key, seq);
            MDB_val kv = {8, key}, v = {ev[k].rec_len, (void *)ev[k].rec};
            if ((rc = mdb_put(txn, l->log, &kv, &v, MDB_APPEND)) != 0)
                goto out;
            b->res.accepted++;
            if (e->rec_len)
                by[nrec++] = &ev[k];
        }
    /* recommendation counts, once per (recommendation, type) */
    qsort(by, nrec, sizeof *by, by_rec);
    for (size_t i = 0, j; i < nrec; i = j) {
        for (j = i + 1; j < nrec && !by_rec(&by[i], &by[j]); j++)
            ;
        if ((rc = bump_rec(l, txn, by[i]->e, j - i, list->now)) != 0)
            goto out;
    }
    MDB_val mk = {3, "seq"}, mv = {8, &seq};
    rc = mdb_put(txn, l->meta, &mk, &mv, 0);
out:
    free(ev);
    free(by);
    return rc;
}

/* Tell the watcher about each user and item of a committed request
 * (consecutive repeats once). */
static void announce(struct evstore *s, struct evbatch *b)
{
    const struct ev_event *pu = NULL, *pi = NULL;
    for (size_t i = 0; i < b->n; i++) {
        const struct ev_event *e = &b->ev[i];
        if (!e->seq)
            continue;
        if (!pu || pu->user_len != e->user_len || memcmp(pu->user, e->user, e->user_len))
            evstore__changed(s, EV_CHANGE_USER, e->user, e->user_len);
        if (!pi || pi->item_len != e->item_len || memcmp(pi->item, e->item, e->item_len))
            evstore__changed(s, EV_CHANGE_ITEM, e->item, e->item_len);
        pu = pi = e;
    }
}

/* ---- the write-ahead file's records into the log (a checkpoint) ---------- */

/* Put the listed write-ahead records into the log in txn, with the meta
 * seq, and retire the file's generation (wal_gen + 1: after this commit its
 * records are stale). Caller holds wlock; lm_wal_reset after the commit. */
static int put_wal(struct lm *l, MDB_txn *txn)
{
    if (l->read_only)
        return 0;
    struct tail_copy c;
    int rc = lm_wal_copy(l, 0, &c);
    if (rc)
        return rc;
    for (size_t i = 0; i < c.n && !rc; i++) {
        unsigned char key[8];
        put_be64(key, c.seq[i]);
        MDB_val kv = {8, key}, v = {c.len[i], c.bytes + c.off[i]};
        rc = mdb_put(txn, l->log, &kv, &v, MDB_APPEND);
    }
    if (!rc && c.n) {
        uint64_t seq = c.seq[c.n - 1];
        MDB_val mk = {3, "seq"}, mv = {8, &seq};
        rc = mdb_put(txn, l->meta, &mk, &mv, 0);
    }
    if (!rc) {
        uint64_t gen = l->wal.gen + 1;
        MDB_val gk = {7, "wal_gen"}, gv = {8, &gen};
        rc = mdb_put(txn, l->meta, &gk, &gv, 0);
    }
    tail_copy_free(&c);
    return rc;
}

/* Move the write-ahead records into LMDB in their own transaction (caller
 * holds wlock). 0 or an LMDB code. */
int lm_checkpoint(struct lm *l)
{
    if (l->read_only || (l->wal.n == 0 && l->wal.off == 0))
        return 0;
    MDB_txn *txn;
    int rc = mdb_txn_begin(l->env, NULL, 0, &txn);
    if (rc)
        return rc;
    if ((rc = put_wal(l, txn)) != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    if ((rc = mdb_txn_commit(txn)) == 0)
        lm_wal_reset(l, l->wal.gen + 1);
    return rc;
}

/* ---- appends: a group through the write-ahead file ----------------------- */

/* Whether the map has room for a checkpoint of the file with `bytes` more
 * (LMDB's dense log pages take ~1.2x, so 4x and 64 pages is ample): the
 * pages past the last one used; free pages inside are not counted. Without
 * it, the next group commits through LMDB, which reports a full map. */
static int lmdb_room(struct lm *l, size_t bytes)
{
    MDB_envinfo info;
    if (mdb_env_info(l->env, &info) != 0)
        return 0;
    size_t used = (info.me_last_pgno + 1) * l->psize;
    size_t need = 4 * (l->wal.off + bytes) + 64 * l->psize;
    return info.me_mapsize > used && info.me_mapsize - used >= need;
}

/* Whether a group may go through the write-ahead file: events only (counts
 * and recommendation counts are LMDB writes), room in the file (a
 * checkpoint makes it). */
static int wal_fits(struct lm *l, struct evbatch *list)
{
    if (l->wal.fd < 0 || l->wal_broken)
        return 0;
    size_t bytes = 0;
    for (struct evbatch *b = list; b; b = b->next) {
        if (b->n_counts)
            return 0;
        for (size_t i = 0; i < b->n; i++) {
            if (b->ev[i].rec_len)
                return 0;
            bytes += WAL_HEAD + b->rec_len[i];
        }
    }
    if (lm_wal_room(l, bytes) && lmdb_room(l, bytes))
        return 1;
    return lm_checkpoint(l) == 0 && lm_wal_room(l, bytes) && lmdb_room(l, bytes);
}

/* Append a group to the write-ahead file (caller holds wlock): duplicates
 * checked against the tail and the ids index, one write and one flush.
 * 0 or an error code (nothing acknowledged). */
static int wal_group(struct evstore *s, struct evbatch *list)
{
    struct lm *l = s->impl;
    size_t n = group_events(list), m = 0;
    struct gev *ev = malloc((n ? n : 1) * sizeof *ev);
    struct gev **by = malloc((n ? n : 1) * sizeof *by);
    uint64_t *seqs = malloc((n ? n : 1) * sizeof *seqs);
    unsigned char **recs = malloc((n ? n : 1) * sizeof *recs);
    size_t *lens = malloc((n ? n : 1) * sizeof *lens);
    MDB_txn *txn = NULL;
    int rc = 0;
    if (!ev || !by || !seqs || !recs || !lens) {
        rc = ENOMEM;
        goto out;
    }
    if ((rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn)) != 0)
        goto out;
    rc = mark_duplicates(l, txn, list, ev, by);
    mdb_txn_abort(txn);
    if (rc)
        goto out;
    uint64_t seq = l->last_seq;
    for (struct evbatch *b = list; b; b = b->next)
        for (size_t i = 0; i < b->n; i++) {
            struct ev_event *e = &b->ev[i];
            if (!e->seq) {
                b->res.duplicates++;
                continue;
            }
            e->seq = ++seq;
            seqs[m] = seq;
            recs[m] = b->rec[i];
            lens[m++] = b->rec_len[i];
            b->res.accepted++;
        }
    if (m && (rc = lm_wal_write(l, seqs, recs, lens, m)) != 0)
        goto out;
    l->last_seq = seq;
out:
    free(ev);
    free(by);
    free(seqs);
    free(recs);
    free(lens);
    return rc;
}

/* Commit a group (caller holds wlock): 0, or the LMDB code of a failure
 * (nothing of it written). The committed events join the tail. A group
 * goes through the write-ahead file when it can (one flush), else through
 * an LMDB transaction that first takes the file's records along. */
static int commit_list(struct evstore *s, struct evbatch *list)
{
    struct lm *l = s->impl;
    MDB_txn *txn = NULL;
    if ((int64_t)l->tail.n >= 8 * l->merge_events)
        return MDB_MAP_FULL; /* merges keep failing: the map is full */
    int rc = -1;
    if (wal_fits(l, list)) {
        rc = wal_group(s, list);
        if (rc && !l->wal_broken)
            return rc;
    }
    if (rc) { /* through LMDB (or again after the file failed) */
        int took_wal = 0;
        rc = mdb_txn_begin(l->env, NULL, 0, &txn);
        if (rc == 0 && l->wal.fd >= 0 && (rc = put_wal(l, txn)) == 0)
            took_wal = 1;
        if (rc == 0 && (rc = apply_group(s, txn, list)) == 0) {
            rc = mdb_txn_commit(txn);
            txn = NULL;
        }
        if (txn)
            mdb_txn_abort(txn);
        if (rc)
            return rc;
        if (took_wal)
            lm_wal_reset(l, l->wal.gen + 1);
        for (struct evbatch *b = list; b; b = b->next)
            for (size_t i = 0; i < b->n; i++)
                if (b->ev[i].seq > l->last_seq)
                    l->last_seq = b->ev[i].seq;
    }
    pthread_mutex_lock(&l->tail.lock);
    for (struct evbatch *b = list; b; b = b->next)
        for (size_t i = 0; i < b->n; i++)
            if (b->ev[i].seq && tail_add(&l->tail, b->ev[i].seq, b->rec[i], b->rec_len[i]))
                l->merge_failed_at = -1; /* out of memory: merge at once (it re-reads the log) */
    pthread_mutex_unlock(&l->tail.lock);
    return 0;
}

static void finish_list(struct evstore *s, struct evbatch *list, int rc)
{
    for (struct evbatch *b = list, *next; b; b = next) {
        next = b->next;
        if (rc) {
            b->res.code = lm_err(&b->res.err, rc, "append");
            b->res.accepted = b->res.duplicates = 0;
        } else {
            announce(s, b); /* before the answer: a client's next read sees it */
        }
        evbatch_finish(b);
    }
}

/* Commit a group of requests; on failure retry them one by one. */
static void commit_group(struct evstore *s, struct evbatch *list)
{
    struct lm *l = s->impl;
    pthread_mutex_lock(&l->wlock);
    int rc = commit_list(s, list);
    if (rc == 0 || !list->next) {
        pthread_mutex_unlock(&l->wlock);
        finish_list(s, list, rc);
        return;
    }
    pthread_mutex_unlock(&l->wlock);
    for (struct evbatch *b = list, *next; b; b = next) {
        next = b->next;
        b->next = NULL;
        pthread_mutex_lock(&l->wlock);
        rc = commit_list(s, b);
        pthread_mutex_unlock(&l->wlock);
        finish_list(s, b, rc);
    }
}

/* ---- merges --------------------------------------------------------------- */

int lm_merge(struct evstore *s)
{
    struct lm *l = s->impl;
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    int rc = mdb_txn_begin(l->env, NULL, 0, &txn);
    if (rc)
        return rc;
    /* copy the log out (values in a write transaction move when pages do) */
    size_t n = 0, cap_seq = 0, cap_off = 0, cap_len = 0, used = 0, bcap = 0;
    uint64_t *seqs = NULL;
    size_t *off = NULL, *lens = NULL;
    unsigned char *bytes = NULL;
    struct ev_event *ev = NULL;
    struct gev *g = NULL, **by = NULL;
    MDB_val k, v;
    int took_wal = 0;
    if (l->wal.fd >= 0 && (rc = put_wal(l, txn)) != 0)
        goto out;
    took_wal = l->wal.fd >= 0;
    if ((rc = mdb_cursor_open(txn, l->log, &cur)) != 0)
        goto out;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 8)
            continue;
        if (lm_grow((void **)&seqs, &cap_seq, n + 1, sizeof *seqs) ||
            lm_grow((void **)&off, &cap_off, n + 1, sizeof *off) ||
            lm_grow((void **)&lens, &cap_len, n + 1, sizeof *lens) ||
            lm_grow((void **)&bytes, &bcap, used + v.mv_size, 1)) {
            rc = ENOMEM;
            goto out;
        }
        memcpy(bytes + used, v.mv_data, v.mv_size);
        seqs[n] = get_be64(k.mv_data);
        off[n] = used;
        lens[n++] = v.mv_size;
        used += v.mv_size;
    }
    mdb_cursor_close(cur);
    cur = NULL;
    if (rc != MDB_NOTFOUND)
        goto out;
    rc = 0;
    if (n == 0)
        goto out;
    if (!(ev = malloc(n * sizeof *ev)) || !(g = malloc(n * sizeof *g)) ||
        !(by = malloc(n * sizeof *by))) {
        rc = ENOMEM;
        goto out;
    }
    size_t m = 0, nid = 0;
    for (size_t i = 0; i < n; i++) {
        if (evrec_decode(bytes + off[i], lens[i], &ev[m]) != 0)
            continue; /* not a record of ours: dropped with the log */
        ev[m].seq = seqs[i];
        g[m] = (struct gev){&ev[m], bytes + off[i], lens[i], m};
        if (ev[m].id_len)
            by[nid++] = &g[m];
        m++;
    }
    n = m;
    qsort(by, nid, sizeof *by, by_id);
    if ((rc = mdb_cursor_open(txn, l->ids, &cur)) != 0)
        goto out;
    for (size_t i = 0; i < nid; i++) {
        MDB_val key = {by[i]->e->id_len, (void *)by[i]->e->id}, val = {8, &by[i]->e->recv};
        if ((rc = mdb_cursor_put(cur, &key, &val, 0)) != 0)
            goto out;
    }
    mdb_cursor_close(cur);
    cur = NULL;
    if ((rc = key_order(g, n, 0, by)) != 0 || (rc = put_in_order(txn, l->iu, by, n, 0)) != 0 ||
        (rc = key_order(g, n, 1, by)) != 0 || (rc = put_in_order(txn, l->ev, by, n, 1)) != 0)
        goto out;
    for (size_t i = 0, j; i < n; i = j) {
        const struct ev_event *e = by[i]->e;
        for (j = i + 1; j < n && by[j]->e->user_len == e->user_len &&
                        !memcmp(by[j]->e->user, e->user, e->user_len);
             j++)
            ;
        if ((rc = count_and_cap(l, txn, e->user, e->user_len, (uint32_t)(j - i),
                                s->opt.user_cap)) != 0)
            goto out;
    }
    rc = mdb_drop(txn, l->log, 0); /* empty it (the handle stays) */
out:
    if (cur)
        mdb_cursor_close(cur);
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
    } else {
        mdb_txn_abort(txn);
    }
    if (rc == 0) {
        if (took_wal)
            lm_wal_reset(l, l->wal.gen + 1);
        pthread_mutex_lock(&l->tail.lock);
        tail_clear(&l->tail);
        pthread_mutex_unlock(&l->tail.lock);
        l->merge_failed_at = 0;
    } else {
        l->merge_failed_at = (int64_t)l->tail.n;
    }
    free(seqs);
    free(off);
    free(lens);
    free(bytes);
    free(ev);
    free(g);
    free(by);
    return rc;
}

/* Merge when the tail is due (writer thread): at merge_events, and after a
 * failed merge (a full map) only once merge_events more have come. */
static void maybe_merge(struct evstore *s)
{
    struct lm *l = s->impl;
    /* under wlock: an erasure or a compaction may be merging meanwhile */
    pthread_mutex_lock(&l->wlock);
    int64_t n = (int64_t)l->tail.n;
    int due = n >= l->merge_events || l->merge_failed_at < 0;
    if (l->merge_failed_at > 0 && n < l->merge_failed_at + l->merge_events)
        due = 0;
    if (due)
        lm_merge(s);
    pthread_mutex_unlock(&l->wlock);
}

void *lm_writer_main(void *arg)
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
        l->head = l->tail_q = NULL;
        pthread_mutex_unlock(&l->lock);
        commit_group(s, group);
        maybe_merge(s);
        pthread_mutex_lock(&l->lock);
    }
    pthread_mutex_unlock(&l->lock);
    /* a clean close leaves the write-ahead file empty (a failure: the next
     * open replays it) */
    pthread_mutex_lock(&l->wlock);
    lm_checkpoint(l);
    pthread_mutex_unlock(&l->wlock);
    return NULL;
}

void lm_append(struct evstore *s, struct evbatch *b)
{
    struct lm *l = s->impl;
    if (!l->have_writer) {
        b->res.code = enc_errf(&b->res.err, ENC_EUNSUPPORTED, "event store opened read-only");
        evbatch_finish(b);
        return;
    }
    b->next = NULL;
    pthread_mutex_lock(&l->lock);
    if (l->tail_q)
        l->tail_q->next = b;
    else
        l->head = b;
    l->tail_q = b;
    pthread_cond_signal(&l->cond);
    pthread_mutex_unlock(&l->lock);
}

/* ---- reads: the tail's part ----------------------------------------------- */

void tail_copy_free(struct tail_copy *c)
{
    free(c->seq);
    free(c->off);
    free(c->len);
    free(c->bytes);
    memset(c, 0, sizeof *c);
}

static int copy_add(struct tail_copy *c, size_t *cap, size_t *bcap, size_t *used, uint64_t seq,
                    const void *rec, size_t len)
{
    size_t c1 = *cap, c2 = *cap, c3 = *cap;
    if (lm_grow((void **)&c->seq, &c1, c->n + 1, sizeof *c->seq) ||
        lm_grow((void **)&c->off, &c2, c->n + 1, sizeof *c->off) ||
        lm_grow((void **)&c->len, &c3, c->n + 1, sizeof *c->len) ||
        lm_grow((void **)&c->bytes, bcap, *used + len, 1))
        return -1;
    *cap = c1;
    c->seq[c->n] = seq;
    c->off[c->n] = *used;
    c->len[c->n] = (uint32_t)len;
    memcpy(c->bytes + *used, rec, len);
    *used += len;
    c->n++;
    return 0;
}

int lm_read_begin(struct lm *l, int by_item, const char *id, size_t len, MDB_txn **txn,
                  struct tail_copy *c)
{
    memset(c, 0, sizeof *c);
    c->first_seq = UINT64_MAX;
    size_t cap = 0, bcap = 0, used = 0;
    int rc;
    if (l->read_only) { /* no tail index: the write-ahead records, then the log */
        if ((rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, txn)) != 0)
            return rc;
        struct tail_copy w;
        uint64_t merged = 0;
        if ((rc = lm_wal_copy(l, 0, &w)) != 0)
            return rc;
        lm_get_u64(*txn, l->meta, "seq", &merged);
        for (size_t i = w.n; i-- > 0 && w.seq[i] > merged;) { /* newest first */
            struct ev_event e;
            if (evrec_decode(w.bytes + w.off[i], w.len[i], &e) != 0)
                continue;
            const char *x = by_item ? e.item : e.user;
            size_t xl = by_item ? e.item_len : e.user_len;
            if (xl == len && !memcmp(x, id, len) &&
                copy_add(c, &cap, &bcap, &used, w.seq[i], w.bytes + w.off[i], w.len[i])) {
                tail_copy_free(&w);
                return ENOMEM;
            }
        }
        tail_copy_free(&w);
        MDB_cursor *cur;
        if (!l->has_log || mdb_cursor_open(*txn, l->log, &cur) != 0)
            return 0; /* a store from before the log has none */
        MDB_val k, v;
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_LAST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_PREV)) {
            struct ev_event e;
            if (k.mv_size != 8 || evrec_decode(v.mv_data, v.mv_size, &e) != 0)
                continue;
            const char *x = by_item ? e.item : e.user;
            size_t xl = by_item ? e.item_len : e.user_len;
            if (xl == len && !memcmp(x, id, len) &&
                copy_add(c, &cap, &bcap, &used, get_be64(k.mv_data), v.mv_data, v.mv_size)) {
                mdb_cursor_close(cur);
                return ENOMEM;
            }
        }
        mdb_cursor_close(cur);
        return 0;
    }
    struct lm_tail *t = &l->tail;
    pthread_mutex_lock(&t->lock);
    if ((rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, txn)) != 0) {
        pthread_mutex_unlock(&t->lock);
        return rc;
    }
    if (t->n)
        c->first_seq = t->ev[0].seq;
    int64_t x = strmap_find(by_item ? &t->items : &t->users, id, len);
    for (int32_t i = x < 0 ? -1 : (by_item ? t->item_last : t->user_last)[x]; i >= 0;
         i = by_item ? t->ev[i].prev_item : t->ev[i].prev_user)
        if (copy_add(c, &cap, &bcap, &used, t->ev[i].seq, t->bytes + t->ev[i].off, t->ev[i].len)) {
            rc = ENOMEM;
            break;
        }
    pthread_mutex_unlock(&t->lock);
    return rc;
}
