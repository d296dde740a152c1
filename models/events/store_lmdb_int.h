/*
 * store_lmdb_int.h - what the embedded store's two files share (private to
 * models/events): store_lmdb.c (open, reads, erasure, catalogue, upkeep)
 * and store_lmdb_log.c (appends: the log, the in-memory tail, the writer
 * thread, merges).
 *
 * Appends go to a log, not to the indexes:
 *
 *   log   u64B seq -> record     appended in seq order (MDB_APPEND): a
 *                                commit writes a few dense pages
 *
 * (groups of plain events reach it through the write-ahead file events.wal,
 * one flush per group instead of LMDB's two: store_lmdb_wal.c), and the
 * writer thread merges the log into the indexes (ev, iu, ids, uc)
 * in one transaction once it holds `merge_events` events, then empties it.
 * Why: an index keyed by user (or item, or client id) puts each event on a
 * random leaf page, and LMDB writes a whole 4 KiB page for every leaf a
 * commit touches; a group commit of a thousand events for a thousand users
 * wrote ~12 KB per 80-byte event (bench/events_store_bench.c), and the
 * kernel's page writes were three quarters of the CPU. The log writes ~150
 * bytes per event; a merge of tens of thousands of events touches each
 * leaf once for many events.
 *
 * The events in the log (the tail) are also indexed in memory (by user, by
 * item, by client id) in the writing process, so reads and duplicate checks
 * see them; at open the tail is rebuilt from the log. A read takes the tail
 * lock, begins its read transaction and copies the tail's events for its
 * user or item, then reads the index outside the lock: an event merged
 * after the copy may be in both, so index entries at or after the tail's
 * first sequence number are skipped. A read-only handle (another process,
 * such as encore-train) has no tail index and scans the log in its
 * transaction instead (at most a few merges' worth), and the write-ahead
 * records it read at open.
 *
 * Every write transaction of this process runs under `wlock` (appends,
 * merges, erasure, compaction), so the tail changes in step with commits.
 */
#ifndef ENCORE_EVENTS_STORE_LMDB_INT_H
#define ENCORE_EVENTS_STORE_LMDB_INT_H

#include <lmdb.h>
#include <string.h>

#include "core/strmap.h"
#include "events/store_int.h"

#define KEY_MAX (2 + EV_ID_MAX + 8)
#define MERGE_EVENTS_DEFAULT 20000

/* One event of the tail. */
struct tail_ev {
    uint64_t seq;
    size_t off; /* record at bytes + off */
    uint32_t len;
    int32_t prev_user; /* the user's previous tail event, or -1 */
    int32_t prev_item;
};

struct lm_tail {
    pthread_mutex_t lock; /* readers copy under it; writers change under it */
    struct tail_ev *ev;   /* seq ascending */
    size_t n, cap;
    unsigned char *bytes;
    size_t used, bytes_cap;
    strmap users, items; /* id -> dense index into user_last / item_last */
    int32_t *user_last, *item_last;
    size_t user_cap, item_cap;
    strmap ids; /* client ids in the tail (writer side only) */
};

/* The write-ahead file and its live records (store_lmdb_wal.c). */
struct lm_wal {
    int fd;           /* -1: none */
    uint64_t gen;     /* the live generation (the meta table's wal_gen) */
    size_t off, size; /* next write; the file's written size */
    /* live records: seq ascending, record i at bytes + roff[i] */
    pthread_mutex_t lock;
    size_t n, cap, used, bcap;
    uint64_t *seq;
    size_t *roff;
    uint32_t *len;
    unsigned char *bytes;
};

struct lm {
    MDB_env *env;
    MDB_dbi ev, iu, ids, uc, tomb, items, rec, meta, log;
    char id[33];
    int read_only;
    int has_log;             /* 0: a read-only handle on a store from before the log */
    int64_t merge_events;    /* merge the log at this many events */
    int64_t merge_failed_at; /* tail size when a merge last failed (full map), or 0 */
    pthread_mutex_t wlock;   /* every write transaction of this process */
    struct lm_tail tail;
    struct lm_wal wal;
    int wal_broken;    /* an I/O error: groups go through LMDB from then on */
    uint64_t last_seq; /* the newest sequence number given (writer, under wlock) */
    size_t psize;      /* LMDB's page size */
    /* the writer thread and its queue */
    pthread_t writer;
    int have_writer;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct evbatch *head, *tail_q;
    int stop;
};

int lm_err(enc_err *err, int rc, const char *what);

/* ---- keys: [u16B len][id][u64B seq] ---------------------------------- */

static inline size_t prefix_key(unsigned char *k, const char *s, size_t len)
{
    k[0] = (unsigned char)(len >> 8);
    k[1] = (unsigned char)len;
    memcpy(k + 2, s, len);
    return 2 + len;
}

static inline void put_be64(unsigned char *k, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        k[i] = (unsigned char)(v >> (56 - 8 * i));
}

static inline uint64_t get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static inline size_t seq_key(unsigned char *k, const char *s, size_t len, uint64_t seq)
{
    size_t n = prefix_key(k, s, len);
    put_be64(k + n, seq);
    return n + 8;
}

static inline uint64_t key_seq(const MDB_val *k)
{
    return get_be64((const unsigned char *)k->mv_data + k->mv_size - 8);
}

static inline int key_has_prefix(const MDB_val *k, const unsigned char *pre, size_t plen)
{
    return k->mv_size == plen + 8 && memcmp(k->mv_data, pre, plen) == 0;
}

int lm_get_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t *out);
/* Delete the event at ev-key `k` (record `rec`) and its item index entry. */
int lm_del_event(struct lm *l, MDB_txn *txn, MDB_cursor *cur, const MDB_val *k, const MDB_val *rec);

/* ---- store_lmdb_log.c ------------------------------------------------- */

void *lm_writer_main(void *arg);
void lm_append(struct evstore *s, struct evbatch *b);
/* Fill the tail from the log (open, writable). An LMDB code or 0. */
int lm_tail_load(struct lm *l);
void lm_tail_free(struct lm_tail *t);

/* Grow *p (an array of `size`-byte elements, *cap of them) by doubling to
 * hold `need`: 0, or -1 out of memory (*p unchanged). */
int lm_grow(void **p, size_t *cap, size_t need, size_t size);
/* Move the write-ahead file's records into the log (caller holds wlock).
 * An LMDB code or 0. */
int lm_checkpoint(struct lm *l);
/* Move the whole log (and the write-ahead records) into the indexes (caller
 * holds wlock). An LMDB code or 0. */
int lm_merge(struct evstore *s);

/* A read's copy of the tail events of one user or item, newest first. */
struct tail_copy {
    size_t n;
    uint64_t *seq;
    size_t *off;
    uint32_t *len;
    unsigned char *bytes;
    uint64_t first_seq; /* index entries at or past this are in the copy */
};
/* Begin a read transaction and copy the tail's events of `id` (by_item:
 * an item's) into *c, under the tail lock; without a tail index (read-only)
 * the log is scanned in the transaction. An LMDB code (or ENOMEM) or 0. */
int lm_read_begin(struct lm *l, int by_item, const char *id, size_t len, MDB_txn **txn,
                  struct tail_copy *c);
void tail_copy_free(struct tail_copy *c);

/* ---- store_lmdb_wal.c --------------------------------------------------- */

#define WAL_HEAD 24 /* a record's header in the file */

/* Open (writable: create and pre-write) dir/events.wal; a read-only handle
 * without one has none. 0 or an errno. */
int lm_wal_open(struct lm *l, const char *dir);
void lm_wal_free(struct lm_wal *w);
/* List the file's live records: generation gen, seqs after+1, after+2, ...
 * 0 or ENOMEM. */
int lm_wal_load(struct lm *l, uint64_t gen, uint64_t after);
/* 1 when `bytes` more fit in the file (growing it if it may), else 0. */
int lm_wal_room(struct lm *l, size_t bytes);
/* Write records and flush (one fdatasync); on 0 they are durable and listed.
 * An errno otherwise (then wal_broken is set). */
int lm_wal_write(struct lm *l, const uint64_t *seq, unsigned char *const *rec, const size_t *len,
                 size_t n);
/* After a checkpoint's commit: nothing listed, the file reused at 0 for gen. */
void lm_wal_reset(struct lm *l, uint64_t gen);
/* Copy the listed records past `after` (oldest first). 0 or ENOMEM. */
int lm_wal_copy(struct lm *l, uint64_t after, struct tail_copy *c);
uint64_t lm_wal_last_seq(struct lm *l);

#endif
