/*
 * store_lmdb_wal.c - the embedded store's write-ahead file (`events.wal`
 * beside data.mdb): where a group of appended events is made durable with
 * one flush of the device instead of LMDB's two.
 *
 * Why: an LMDB commit writes its pages, fdatasyncs them, then writes the
 * meta page through an O_DSYNC descriptor: two device flushes per group
 * commit, and a single-event request waits for a whole commit (and usually
 * for the one before it). Here a group is written at the end of a file whose
 * blocks were already written (zeros, once), so fdatasync has no metadata
 * to journal: one flush. The events reach LMDB's log table later, many
 * groups in one transaction (a checkpoint: before a merge, when the file is
 * full, before a group that must go through LMDB, at close, and at the next
 * open after a crash), which also bumps `wal_gen` in the meta table, so the
 * file's records become stale at once and the file is reused from offset 0.
 *
 *   record: [u32 len][u32 crc32][u64 gen][u64 seq][len bytes: evrec]
 *           crc32 over gen, seq and the record; little-endian
 *
 * The live records are the file's first records whose gen is the meta
 * table's wal_gen and whose seqs follow the meta table's seq one by one;
 * the first record that is short, fails its checksum, has another gen or
 * breaks the run ends them (a torn write, zeros, or an older generation's
 * leftovers). A group is written only after the previous one was flushed,
 * so a torn group is never followed by an acknowledged one.
 *
 * In memory (struct lm_wal's list) are the live records: in the writing
 * process those acknowledged and not yet checkpointed, in a read-only
 * handle those read at open. Reads add the ones past the meta seq of their
 * own transaction (a checkpoint moves them into LMDB and advances it).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "events/store_lmdb_int.h"

#define WAL_HEAD 24
#define WAL_FIRST_BYTES ((size_t)1 << 20)
#define WAL_MAX_BYTES ((size_t)64 << 20)
#define WAL_REC_MAX (EVREC_HEAD + 5 * 65535) /* five u16-long strings */

static void put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_le32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Append a record to the in-memory list (caller holds wal->lock). */
static int mem_add(struct lm_wal *w, uint64_t seq, const unsigned char *rec, size_t len)
{
    size_t c1 = w->cap, c2 = w->cap, c3 = w->cap;
    if (lm_grow((void **)&w->seq, &c1, w->n + 1, sizeof *w->seq) ||
        lm_grow((void **)&w->roff, &c2, w->n + 1, sizeof *w->roff) ||
        lm_grow((void **)&w->len, &c3, w->n + 1, sizeof *w->len) ||
        lm_grow((void **)&w->bytes, &w->bcap, w->used + len, 1))
        return -1;
    w->cap = c1;
    w->seq[w->n] = seq;
    w->roff[w->n] = w->used;
    w->len[w->n] = (uint32_t)len;
    memcpy(w->bytes + w->used, rec, len);
    w->used += len;
    w->n++;
    return 0;
}

/* Extend the file with written zeros to `size` bytes and flush it. */
static int extend(struct lm_wal *w, size_t size)
{
    static const unsigned char zero[65536];
    for (size_t at = w->size; at < size;) {
        size_t n = size - at < sizeof zero ? size - at : sizeof zero;
        ssize_t put = pwrite(w->fd, zero, n, (off_t)at);
        if (put <= 0)
            return errno ? errno : EIO;
        at += (size_t)put;
    }
    if (fsync(w->fd) != 0)
        return errno;
    w->size = size;
    return 0;
}

int lm_wal_open(struct lm *l, const char *dir)
{
    struct lm_wal *w = &l->wal;
    char path[4096];
    snprintf(path, sizeof path, "%s/events.wal", dir);
    w->fd = open(path, (l->read_only ? O_RDONLY : O_RDWR | O_CREAT) | O_CLOEXEC, 0644);
    if (w->fd < 0)
        return l->read_only && errno == ENOENT ? 0 : errno;
    struct stat st;
    if (fstat(w->fd, &st) != 0)
        return errno;
    w->size = (size_t)st.st_size;
    if (!l->read_only && w->size < WAL_FIRST_BYTES) {
        if (extend(w, WAL_FIRST_BYTES) != 0) {
            /* (a full disk): no file, every group commits through LMDB; a
             * file this short never held a record (it is written whole first) */
            close(w->fd);
            w->fd = -1;
            w->size = 0;
            return 0;
        }
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* the new name, durable */
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    return 0;
}

void lm_wal_free(struct lm_wal *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    free(w->seq);
    free(w->roff);
    free(w->len);
    free(w->bytes);
    w->seq = NULL;
    w->roff = NULL;
    w->len = NULL;
    w->bytes = NULL;
    w->n = w->cap = w->used = w->bcap = 0;
}

int lm_wal_load(struct lm *l, uint64_t gen, uint64_t after)
{
    struct lm_wal *w = &l->wal;
    w->gen = gen;
    w->off = 0;
    if (w->fd < 0)
        return 0;
    unsigned char *buf = NULL;
    size_t cap = 0;
    unsigned char head[WAL_HEAD];
    uint64_t want = after + 1;
    int rc = 0;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        if (pread(w->fd, head, WAL_HEAD, (off_t)w->off) != WAL_HEAD)
            break;
        uint32_t len = get_le32(head);
        if (len == 0 || len > WAL_REC_MAX || get_le64(head + 8) != gen ||
            get_le64(head + 16) != want || w->off + WAL_HEAD + len > w->size)
            break;
        if (lm_grow((void **)&buf, &cap, len, 1)) {
            rc = ENOMEM;
            break;
        }
        if (pread(w->fd, buf, len, (off_t)(w->off + WAL_HEAD)) != (ssize_t)len)
            break;
        uLong crc = crc32(crc32(0L, Z_NULL, 0), head + 8, 16);
        crc = crc32(crc, buf, len);
        if ((uint32_t)crc != get_le32(head + 4))
            break;
        if (mem_add(w, want, buf, len)) {
            rc = ENOMEM;
            break;
        }
        w->off += WAL_HEAD + len;
        want++;
    }
    pthread_mutex_unlock(&w->lock);
    free(buf);
    return rc;
}

int lm_wal_room(struct lm *l, size_t bytes)
{
    struct lm_wal *w = &l->wal;
    if (w->fd < 0 || l->wal_broken)
        return 0;
    if (w->off + bytes <= w->size)
        return 1;
    size_t want = w->size ? w->size : WAL_FIRST_BYTES;
    while (want < w->off + bytes && want < WAL_MAX_BYTES)
        want *= 2;
    if (w->off + bytes > want)
        return 0; /* a checkpoint empties it */
    if (extend(w, want) != 0) {
        l->wal_broken = 1;
        return 0;
    }
    return 1;
}

int lm_wal_write(struct lm *l, const uint64_t *seq, unsigned char *const *rec, const size_t *len,
                 size_t n)
{
    struct lm_wal *w = &l->wal;
    size_t total = 0, rec_bytes = 0;
    for (size_t i = 0; i < n; i++) {
        total += WAL_HEAD + len[i];
        rec_bytes += len[i];
    }
    /* room in the list first: once written, the records must be listed */
    pthread_mutex_lock(&w->lock);
    size_t c1 = w->cap, c2 = w->cap, c3 = w->cap;
    int oom = lm_grow((void **)&w->seq, &c1, w->n + n, sizeof *w->seq) ||
              lm_grow((void **)&w->roff, &c2, w->n + n, sizeof *w->roff) ||
              lm_grow((void **)&w->len, &c3, w->n + n, sizeof *w->len) ||
              lm_grow((void **)&w->bytes, &w->bcap, w->used + rec_bytes, 1);
    if (!oom)
        w->cap = c1;
    pthread_mutex_unlock(&w->lock);
    unsigned char *buf = oom ? NULL : malloc(total ? total : 1);
    if (!buf)
        return ENOMEM;
    unsigned char *p = buf;
    for (size_t i = 0; i < n; i++) {
        put_le32(p, (uint32_t)len[i]);
        put_le64(p + 8, w->gen);
        put_le64(p + 16, seq[i]);
        memcpy(p + WAL_HEAD, rec[i], len[i]);
        uLong crc = crc32(crc32(0L, Z_NULL, 0), p + 8, 16);
        crc = crc32(crc, p + WAL_HEAD, (uInt)len[i]);
        put_le32(p + 4, (uint32_t)crc);
        p += WAL_HEAD + len[i];
    }
    int rc = 0;
    for (size_t done = 0; done < total && !rc;) {
        ssize_t put = pwrite(w->fd, buf + done, total - done, (off_t)(w->off + done));
        if (put > 0)
            done += (size_t)put;
        else if (put < 0 && errno == EINTR)
            continue;
        else
            rc = put < 0 ? errno : EIO;
    }
    free(buf);
    if (!rc && fdatasync(w->fd) != 0)
        rc = errno;
    if (rc) {
        /* what reached the file is not acknowledged; the next LMDB commit
         * bumps wal_gen, so it is never read back */
        l->wal_broken = 1;
        return rc;
    }
    w->off += total;
    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < n; i++)
        mem_add(w, seq[i], rec[i], len[i]); /* cannot fail: room was made */
    pthread_mutex_unlock(&w->lock);
    return 0;
}

void lm_wal_reset(struct lm *l, uint64_t gen)
{
    struct lm_wal *w = &l->wal;
    pthread_mutex_lock(&w->lock);
    w->n = 0;
    w->used = 0;
    pthread_mutex_unlock(&w->lock);
    w->gen = gen;
    w->off = 0;
}

int lm_wal_copy(struct lm *l, uint64_t after, struct tail_copy *c)
{
    struct lm_wal *w = &l->wal;
    memset(c, 0, sizeof *c);
    c->first_seq = UINT64_MAX;
    pthread_mutex_lock(&w->lock);
    size_t from = 0;
    while (from < w->n && w->seq[from] <= after)
        from++;
    size_t n = w->n - from, bytes = 0;
    for (size_t i = from; i < w->n; i++)
        bytes += w->len[i];
    int rc = 0;
    if (n) {
        c->seq = malloc(n * sizeof *c->seq);
        c->off = malloc(n * sizeof *c->off);
        c->len = malloc(n * sizeof *c->len);
        c->bytes = malloc(bytes ? bytes : 1);
        if (!c->seq || !c->off || !c->len || !c->bytes) {
            rc = ENOMEM;
        } else {
            size_t used = 0;
            for (size_t i = from; i < w->n; i++) {
                c->seq[c->n] = w->seq[i];
                c->off[c->n] = used;
                c->len[c->n] = w->len[i];
                memcpy(c->bytes + used, w->bytes + w->roff[i], w->len[i]);
                used += w->len[i];
                c->n++;
            }
        }
    }
    pthread_mutex_unlock(&w->lock);
    if (rc)
        tail_copy_free(c);
    return rc;
}

uint64_t lm_wal_last_seq(struct lm *l)
{
    struct lm_wal *w = &l->wal;
    pthread_mutex_lock(&w->lock);
    uint64_t s = w->n ? w->seq[w->n - 1] : 0;
    pthread_mutex_unlock(&w->lock);
    return s;
}
