/*
 * events_store_bench.c - ingest into the event store, in process: why LMDB
 * (docs/events.md) and what the store sustains.
 *
 *   events_store_bench DIR [redis://HOST:PORT]
 *
 * Writers: 16 threads, each appending requests (100 events, or 1) with
 * unique event ids over 10,000 users and 2,000 items, for ~3 s per case.
 * Cases:
 *   lmdb      the embedded store (models/events): group commit, fsync
 *   sqlite    the same records in SQLite (WAL, synchronous=FULL, prepared
 *             statements, the same three writes per event: the user's
 *             event, the item index, the id), with the same group-commit
 *             writer thread, so the comparison is of the engines
 *   redis     the Redis store, when a URL is given (appendfsync as the
 *             server was started)
 * Prints events/s and requests/s per case, and the process's CPU time per
 * event (user + system, all threads: the writers' own work is small next to
 * the store's), which a loaded machine disturbs much less than the rates.
 * Also the bytes the process had written to storage per event
 * (/proc/self/io; the store's pages: LMDB copies every page a commit
 * touches). CASES="lmdb redis" (default "lmdb sqlite redis") picks the stores,
 * BATCH=100 or BATCH=1 one request size, MERGE=N the embedded store's
 * merge_events (default 20,000; a run of ~3 s holds few merges of a larger N,
 * so compare CPU per event over runs long enough to include them).
 */
#include <pthread.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "events/store.h"

#define WRITERS 16
#define SECONDS 3.0

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct strs {
    char user[100][16], item[100][16], id[100][32];
};

static void make_events(struct strs *s, struct ev_event *ev, int n, int w, long r)
{
    for (int i = 0; i < n; i++) {
        unsigned x = (unsigned)(w * 7919 + r * 104729 + i * 31);
        snprintf(s->user[i], 16, "u%u", x % 10000);
        snprintf(s->item[i], 16, "i%u", (x / 7) % 2000);
        snprintf(s->id[i], 32, "w%d-r%ld-e%d", w, r, i);
        memset(&ev[i], 0, sizeof ev[i]);
        ev[i].user = s->user[i], ev[i].user_len = (uint16_t)strlen(s->user[i]);
        ev[i].item = s->item[i], ev[i].item_len = (uint16_t)strlen(s->item[i]);
        ev[i].type = "play", ev[i].type_len = 4;
        ev[i].id = s->id[i], ev[i].id_len = (uint16_t)strlen(s->id[i]);
        ev[i].time = 1765000000;
    }
}

/* ---- SQLite with the same group commit ----------------------------------- */

struct sq_job {
    struct ev_event *ev;
    int n, done;
    struct sq_job *next;
};

static struct {
    sqlite3 *db;
    sqlite3_stmt *ins_ev, *ins_iu, *ins_id;
    pthread_mutex_t lock;
    pthread_cond_t cond, done;
    struct sq_job *head;
    int stop;
    long seq;
} sq = {.lock = PTHREAD_MUTEX_INITIALIZER,
        .cond = PTHREAD_COND_INITIALIZER,
        .done = PTHREAD_COND_INITIALIZER};

static void *sq_writer(void *arg)
{
    pthread_mutex_lock(&sq.lock);
    for (;;) {
        while (!sq.head && !sq.stop)
            pthread_cond_wait(&sq.cond, &sq.lock);
        if (!sq.head)
            break;
        struct sq_job *g = sq.head;
        sq.head = NULL;
        pthread_mutex_unlock(&sq.lock);
        sqlite3_exec(sq.db, "BEGIN", NULL, NULL, NULL);
        for (struct sq_job *j = g; j; j = j->next)
            for (int i = 0; i < j->n; i++) {
                struct ev_event *e = &j->ev[i];
                unsigned char rec[512];
                size_t len = 0;
                len = (size_t)snprintf((char *)rec, sizeof rec, "%.*s\t%.*s\t%lld", e->item_len,
                                       e->item, e->type_len, e->type, (long long)e->time);
                sqlite3_bind_text(sq.ins_id, 1, e->id, e->id_len, SQLITE_STATIC);
                if (sqlite3_step(sq.ins_id) != SQLITE_DONE) { /* a duplicate */
                    sqlite3_reset(sq.ins_id);
                    continue;
                }
                sqlite3_reset(sq.ins_id);
                long seq = ++sq.seq;
                sqlite3_bind_text(sq.ins_ev, 1, e->user, e->user_len, SQLITE_STATIC);
                sqlite3_bind_int64(sq.ins_ev, 2, seq);
                sqlite3_bind_blob(sq.ins_ev, 3, rec, (int)len, SQLITE_STATIC);
                sqlite3_step(sq.ins_ev);
                sqlite3_reset(sq.ins_ev);
                sqlite3_bind_text(sq.ins_iu, 1, e->item, e->item_len, SQLITE_STATIC);
                sqlite3_bind_int64(sq.ins_iu, 2, seq);
                sqlite3_bind_blob(sq.ins_iu, 3, rec, (int)len, SQLITE_STATIC);
                sqlite3_step(sq.ins_iu);
                sqlite3_reset(sq.ins_iu);
            }
        sqlite3_exec(sq.db, "COMMIT", NULL, NULL, NULL); /* fsync (synchronous=FULL) */
        pthread_mutex_lock(&sq.lock);
        for (struct sq_job *j = g; j; j = j->next)
            j->done = 1;
        pthread_cond_broadcast(&sq.done);
    }
    pthread_mutex_unlock(&sq.lock);
    return NULL;
}

static int sq_append(struct ev_event *ev, int n)
{
    struct sq_job j = {ev, n, 0, NULL};
    pthread_mutex_lock(&sq.lock);
    j.next = sq.head;
    sq.head = &j;
    pthread_cond_signal(&sq.cond);
    while (!j.done)
        pthread_cond_wait(&sq.done, &sq.lock);
    pthread_mutex_unlock(&sq.lock);
    return 0;
}

static int sq_open(const char *path)
{
    if (sqlite3_open(path, &sq.db) != SQLITE_OK)
        return -1;
    const char *ddl =
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
        "CREATE TABLE ev(user TEXT, seq INTEGER, rec BLOB, PRIMARY KEY(user, seq)) WITHOUT ROWID;"
        "CREATE TABLE iu(item TEXT, seq INTEGER, rec BLOB, PRIMARY KEY(item, seq)) WITHOUT ROWID;"
        "CREATE TABLE ids(id TEXT PRIMARY KEY) WITHOUT ROWID;";
    if (sqlite3_exec(sq.db, ddl, NULL, NULL, NULL) != SQLITE_OK)
        return -1;
    sqlite3_prepare_v2(sq.db, "INSERT INTO ev VALUES(?,?,?)", -1, &sq.ins_ev, NULL);
    sqlite3_prepare_v2(sq.db, "INSERT INTO iu VALUES(?,?,?)", -1, &sq.ins_iu, NULL);
    sqlite3_prepare_v2(sq.db, "INSERT INTO ids VALUES(?)", -1, &sq.ins_id, NULL);
    return 0;
}

/* ---- the load ----------------------------------------------------------- */

struct load {
    struct evstore *s; /* NULL: SQLite */
    int w, batch;
    double until;
    long requests, events, failures;
};

static void *writer_main(void *arg)
{
    struct load *l = arg;
    struct strs *st = malloc(sizeof *st);
    struct ev_event ev[100];
    for (long r = 0; now_s() < l->until; r++) {
        make_events(st, ev, l->batch, l->w, r);
        int rc = l->s ? evstore_append(l->s, ev, (size_t)l->batch, 1765000000, NULL, NULL, NULL)
                      : sq_append(ev, l->batch);
        if (rc)
            l->failures++;
        else
            l->requests++, l->events += l->batch;
    }
    free(st);
    return NULL;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* Bytes this process has had written to storage (/proc/self/io), -1 if unknown. */
static double written(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    char line[128];
    double v = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "write_bytes: %lf", &v) == 1)
            break;
    if (f)
        fclose(f);
    return v;
}

static void run(const char *name, struct evstore *s, int batch)
{
    pthread_t th[WRITERS];
    struct load l[WRITERS];
    double t0 = now_s(), c0 = cpu_s(), w0 = written();
    for (int i = 0; i < WRITERS; i++) {
        l[i] = (struct load){s, i, batch, t0 + SECONDS, 0, 0, 0};
        pthread_create(&th[i], NULL, writer_main, &l[i]);
    }
    long req = 0, evs = 0, fail = 0;
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(th[i], NULL);
        req += l[i].requests, evs += l[i].events, fail += l[i].failures;
    }
    double dt = now_s() - t0, cpu = cpu_s() - c0, w = written() - w0;
    printf("%-7s requests of %3d: %9.0f events/s %8.0f requests/s %7.2f us CPU/event "
           "%6.0f bytes written/event (%ld failed)\n",
           name, batch, evs / dt, req / dt, evs ? cpu * 1e6 / evs : 0.0, evs ? w / evs : 0.0, fail);
    fflush(stdout);
}

static struct evstore *open_store(const char *loc)
{
    struct evstore_options o;
    evstore_options_default(&o);
    o.location = loc;
    if (getenv("MERGE")) /* MERGE=N: the embedded store merges its log at N events */
        o.merge_events = atoll(getenv("MERGE"));
    struct evstore *s = NULL;
    enc_err err = {0};
    if (evstore_open(&o, &s, &err)) {
        fprintf(stderr, "%s: %s\n", loc, err.msg);
        exit(1);
    }
    return s;
}

/* The SQLite case: its own group-commit writer thread around the load. */
static int run_sqlite(const char *path, int batch)
{
    if (sq_open(path)) {
        fprintf(stderr, "sqlite: cannot open %s\n", path);
        return -1;
    }
    pthread_t w;
    sq.stop = 0;
    pthread_create(&w, NULL, sq_writer, NULL);
    run("sqlite", NULL, batch);
    pthread_mutex_lock(&sq.lock);
    sq.stop = 1;
    pthread_cond_signal(&sq.cond);
    pthread_mutex_unlock(&sq.lock);
    pthread_join(w, NULL);
    sqlite3_finalize(sq.ins_ev);
    sqlite3_finalize(sq.ins_iu);
    sqlite3_finalize(sq.ins_id);
    sqlite3_close(sq.db);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: events_store_bench DIR [redis://HOST:PORT]\n");
        return 2;
    }
    char path[4096];
    const char *cases = getenv("CASES") ? getenv("CASES") : "lmdb sqlite redis";
    const char *only = getenv("BATCH"); /* BATCH=100 or 1: one size only */
    for (int batch = 100; batch >= 1; batch -= 99) {
        if (only && atoi(only) != batch)
            continue;
        struct evstore *s;
        if (strstr(cases, "lmdb")) {
            snprintf(path, sizeof path, "%s/lmdb-%d", argv[1], batch);
            s = open_store(path);
            run("lmdb", s, batch);
            evstore_close(s);
        }
        snprintf(path, sizeof path, "%s/sqlite-%d.db", argv[1], batch);
        if (strstr(cases, "sqlite") && run_sqlite(path, batch) != 0)
            return 1;
        if (argc > 2 && strstr(cases, "redis")) {
            s = open_store(argv[2]);
            run("redis", s, batch);
            evstore_close(s);
        }
    }
    return 0;
}
