/*
 * experiment_id_bench.c - the two ways issue #16 allows for recommendation
 * ids, side by side on the real event store (docs/experiments.md says which
 * one Encore uses and why):
 *
 *   encoded  the id carries experiment, variant, time, model version and
 *            the items' 24-bit fingerprints (server/experiment.c); an answer
 *            costs exp_rec_encode, an attributed event exp_rec_decode +
 *            exp_rec_has. No store traffic for the id.
 *   stored   the id is "<experiment>.<variant>.<nonce>" and the answer is
 *            kept in the store under it: one counter set "rec:<id>" with a
 *            field per item id and fields for the variant, model version
 *            and time, written by the same asynchronous group-committing
 *            writer the experiment counts use (evstore_count_async, all
 *            in one call), and read back for each attributed event
 *            (evstore_counters: one LMDB read transaction, or one Redis
 *            round trip), the event's item looked up among the fields.
 *
 * Both also write the two counts every answer writes today (recs, users),
 * so the difference is the id alone. Per case: N answers of k = 10 items
 * (ml-100k-like ids "1".."1682"), a flush (the writes durable), then N
 * attributed events (one per answer, half of them on an item of the list);
 * the process's CPU time (user + system, all threads, the store's writer
 * included) per answer and per event, wall time, bytes written to storage
 * per answer (/proc/self/io), and the hits found (both ways must agree).
 * With REDIS_PID set, the redis-server's own CPU time per answer and per
 * event is added (its work is not in this process's figure).
 *
 *   [REDIS_PID=P] experiment_id_bench DIR [redis://HOST:PORT]   (N=20000 by default)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "events/store.h"
#include "experiment.h"

#define K 10

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
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
        if (!strncmp(line, "write_bytes:", 12))
            v = atof(line + 12);
    if (f)
        fclose(f);
    return v;
}

/* CPU seconds of process `pid` (utime + stime from /proc/PID/stat), 0 if unknown. */
static double proc_cpu_s(long pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = pid > 0 ? fopen(path, "r") : NULL;
    size_t len = f ? fread(line, 1, sizeof line - 1, f) : 0;
    if (f)
        fclose(f);
    line[len] = 0;
    char *p = strrchr(line, ')'); /* fields after the command name */
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / 100.0; /* USER_HZ */
}

static struct evstore *open_store(const char *loc)
{
    struct evstore_options o;
    evstore_options_default(&o);
    o.location = loc;
    struct evstore *s = NULL;
    enc_err err = {0};
    if (evstore_open(&o, &s, &err)) {
        fprintf(stderr, "%s: %s\n", loc, err.msg);
        exit(1);
    }
    return s;
}

/* The answer of request r: k distinct item ids, and the event's item (in
 * the list for even r). */
static void answer_of(long r, char items[K][8], char event_item[8])
{
    uint32_t x = (uint32_t)r * 2654435761u + 12345u;
    for (int i = 0; i < K; i++)
        snprintf(items[i], 8, "%u", 1 + (x + (uint32_t)i * 97u) % 1682u);
    if (r % 2 == 0)
        memcpy(event_item, items[(x >> 8) % K], 8);
    else
        snprintf(event_item, 8, "%u", 1 + (x + 50000u) % 1682u); /* rarely in the list */
}

struct hit_find {
    const char *item;
    size_t len;
    int found;
};

static int find_field(void *arg, const char *f, size_t len, uint64_t count)
{
    struct hit_find *h = arg;
    (void)count;
    if (len == h->len + 2 && f[0] == 'i' && f[1] == ':' && !memcmp(f + 2, h->item, h->len))
        h->found = 1;
    return 0;
}

static void run(const char *name, struct evstore *s, int stored, long n, long peer)
{
    char(*ids)[EXP_ID_MAX + 1] = malloc((size_t)n * sizeof *ids);
    if (!ids)
        exit(1);
    enc_err err = {0};
    int64_t t = (int64_t)time(NULL);
    double w0 = written(), c0 = cpu_s(), t0 = now_s(), p0 = proc_cpu_s(peer);
    for (long r = 0; r < n; r++) {
        char items[K][8], ev_item[8], user[16];
        answer_of(r, items, ev_item);
        snprintf(user, sizeof user, "u%ld", r % 943);
        const char *key = stored ? "idb-s.a" : "idb-e.a";
        struct evstore_count c[2 + 3 + K] = {
            {key, "recs", NULL, 7, 4, 0},
            {key, "users", user, 7, 5, strlen(user)},
        };
        size_t nc = 2;
        if (!stored) {
            struct exp_rec rec;
            memset(&rec, 0, sizeof rec);
            strcpy(rec.experiment, "idb-e");
            strcpy(rec.variant, "a");
            rec.time = t;
            rec.model_version = 1;
            rec.nonce = exp_nonce();
            rec.n = K;
            for (int i = 0; i < K; i++)
                rec.fp[i] = exp_fingerprint(items[i], strlen(items[i]));
            if (exp_rec_encode(&rec, ids[r]) < 0)
                exit(1);
            evstore_count_async(s, c, nc, t, NULL, NULL);
            continue;
        }
        snprintf(ids[r], sizeof ids[r], "idb-s.a.%016llx", (unsigned long long)exp_nonce());
        char rkey[EVSTORE_COUNTER_KEY_MAX + 1], fields[3 + K][EVSTORE_COUNTER_FIELD_MAX + 1];
        size_t kl = (size_t)snprintf(rkey, sizeof rkey, "rec:%s", ids[r]);
        snprintf(fields[0], sizeof fields[0], "variant:a");
        snprintf(fields[1], sizeof fields[1], "version:1");
        snprintf(fields[2], sizeof fields[2], "time:%lld", (long long)t);
        for (int i = 0; i < K; i++)
            snprintf(fields[3 + i], sizeof fields[3 + i], "i:%s", items[i]);
        for (int f = 0; f < 3 + K; f++)
            c[nc++] = (struct evstore_count){rkey, fields[f], NULL, kl, strlen(fields[f]), 0};
        evstore_count_async(s, c, nc, t, NULL, NULL);
    }
    if (evstore_flush(s, &err)) {
        fprintf(stderr, "%s: flush: %s\n", name, err.msg);
        exit(1);
    }
    double a_cpu = cpu_s() - c0, a_wall = now_s() - t0, a_w = written() - w0;
    double a_peer = proc_cpu_s(peer) - p0;
    long hits = 0;
    c0 = cpu_s(), t0 = now_s(), p0 = proc_cpu_s(peer);
    for (long r = 0; r < n; r++) {
        char items[K][8], ev_item[8];
        answer_of(r, items, ev_item);
        if (!stored) {
            struct exp_rec rec;
            if (exp_rec_decode(ids[r], strlen(ids[r]), &rec))
                exit(1);
            hits += exp_rec_has(&rec, ev_item, strlen(ev_item));
            continue;
        }
        char rkey[EVSTORE_COUNTER_KEY_MAX + 1];
        size_t kl = (size_t)snprintf(rkey, sizeof rkey, "rec:%s", ids[r]);
        struct hit_find h = {ev_item, strlen(ev_item), 0};
        if (evstore_counters(s, rkey, kl, find_field, &h, &err)) {
            fprintf(stderr, "%s: read: %s\n", name, err.msg);
            exit(1);
        }
        hits += h.found;
    }
    double e_cpu = cpu_s() - c0, e_wall = now_s() - t0, e_peer = proc_cpu_s(peer) - p0;
    printf("%-14s answers: %6.2f us CPU, %6.2f us wall, %5.0f bytes written each; "
           "events: %6.2f us CPU, %6.2f us wall each; %ld hits of %ld",
           name, a_cpu * 1e6 / (double)n, a_wall * 1e6 / (double)n, w0 >= 0 ? a_w / (double)n : -1,
           e_cpu * 1e6 / (double)n, e_wall * 1e6 / (double)n, hits, n);
    if (peer > 0)
        printf("; redis-server CPU %.2f us/answer, %.2f us/event", a_peer * 1e6 / (double)n,
               e_peer * 1e6 / (double)n);
    printf("\n");
    fflush(stdout);
    free(ids);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: experiment_id_bench DIR [redis://HOST:PORT]\n");
        return 2;
    }
    long n = getenv("N") ? atol(getenv("N")) : 20000;
    long redis_pid = getenv("REDIS_PID") ? atol(getenv("REDIS_PID")) : 0;
    char path[4096];
    for (int stored = 0; stored <= 1; stored++) {
        snprintf(path, sizeof path, "%s/lmdb-%s", argv[1], stored ? "stored" : "encoded");
        struct evstore *s = open_store(path);
        run(stored ? "lmdb stored" : "lmdb encoded", s, stored, n, 0);
        evstore_close(s);
        if (argc > 2) {
            s = open_store(argv[2]);
            run(stored ? "redis stored" : "redis encoded", s, stored, n, redis_pid);
            evstore_close(s);
        }
    }
    return 0;
}
