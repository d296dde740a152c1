/*
 * store_cases.h - the event store's behaviour, checked the same way on both
 * backends: test_store_lmdb.c and test_store_redis.c include this file and
 * define sc_location() (a fresh, empty store's location string) before it.
 */
#ifndef ENCORE_TEST_STORE_CASES_H
#define ENCORE_TEST_STORE_CASES_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "events/store.h"
#include "testutil.h"

/* A fresh, empty store's location (static storage). */
static const char *sc_location(void);

#define T0 1765000000LL

static struct evstore *sc_open(int64_t cap)
{
    struct evstore_options o;
    evstore_options_default(&o);
    o.location = sc_location();
    o.user_cap = cap;
    struct evstore *s = NULL;
    enc_err err = {0};
    ck_assert_msg(evstore_open(&o, &s, &err) == 0, "%s", err.msg);
    return s;
}

static struct ev_event sc_ev(const char *user, const char *item, const char *type, const char *id,
                             int64_t time)
{
    struct ev_event e;
    memset(&e, 0, sizeof e);
    e.user = user, e.user_len = (uint16_t)strlen(user);
    e.item = item, e.item_len = (uint16_t)strlen(item);
    e.type = type, e.type_len = (uint16_t)strlen(type);
    if (id)
        e.id = id, e.id_len = (uint16_t)strlen(id);
    e.time = time;
    return e;
}

/* Collected events (copied strings) for assertions. */
struct sc_list {
    int n;
    char user[64][32], item[64][32], type[64][16], id[64][32], rec[64][32];
    int64_t time[64], recv[64];
    uint64_t seq[64];
};

static int sc_collect(void *arg, const struct ev_event *e)
{
    struct sc_list *l = arg;
    if (l->n == 64)
        return 1;
    int i = l->n++;
    snprintf(l->user[i], 32, "%.*s", e->user_len, e->user);
    snprintf(l->item[i], 32, "%.*s", e->item_len, e->item);
    snprintf(l->type[i], 16, "%.*s", e->type_len, e->type);
    snprintf(l->id[i], 32, "%.*s", e->id_len, e->id);
    snprintf(l->rec[i], 32, "%.*s", e->rec_len, e->rec_id);
    l->time[i] = e->time;
    l->recv[i] = e->recv;
    l->seq[i] = e->seq;
    return 0;
}

static struct sc_list sc_user(struct evstore *s, const char *user, size_t limit)
{
    struct sc_list l;
    memset(&l, 0, sizeof l);
    enc_err err = {0};
    ck_assert_msg(evstore_user_events(s, user, strlen(user), limit, sc_collect, &l, &err) == 0,
                  "%s", err.msg);
    return l;
}

static struct sc_list sc_item(struct evstore *s, const char *item)
{
    struct sc_list l;
    memset(&l, 0, sizeof l);
    enc_err err = {0};
    ck_assert_msg(evstore_item_events(s, item, strlen(item), 0, sc_collect, &l, &err) == 0, "%s",
                  err.msg);
    return l;
}

START_TEST(append_and_read_newest_first)
{
    struct evstore *s = sc_open(1000);
    struct ev_event ev[3] = {sc_ev("196", "50", "play", "e1", T0),
                             sc_ev("196", "172", "like", NULL, T0 + 5),
                             sc_ev("22", "50", "skip", "e3", T0 + 9)};
    ev[1].rec_id = "rec-7", ev[1].rec_len = 5;
    size_t acc = 9, dup = 9;
    enc_err err = {0};
    ck_assert_int_eq(evstore_append(s, ev, 3, T0 + 10, &acc, &dup, &err), 0);
    ck_assert_uint_eq(acc, 3);
    ck_assert_uint_eq(dup, 0);
    struct sc_list l = sc_user(s, "196", 0);
    ck_assert_int_eq(l.n, 2);
    ck_assert_str_eq(l.item[0], "172"); /* newest first */
    ck_assert_str_eq(l.type[0], "like");
    ck_assert_str_eq(l.rec[0], "rec-7");
    ck_assert_str_eq(l.id[0], "");
    ck_assert_int_eq(l.time[0], T0 + 5);
    ck_assert_int_eq(l.recv[0], T0 + 10);
    ck_assert_str_eq(l.item[1], "50");
    ck_assert_str_eq(l.id[1], "e1");
    ck_assert(l.seq[0] > l.seq[1] && l.seq[1] > 0);
    l = sc_user(s, "196", 1);
    ck_assert_int_eq(l.n, 1);
    ck_assert_str_eq(l.item[0], "172");
    l = sc_user(s, "nobody", 0);
    ck_assert_int_eq(l.n, 0);
    /* a user id that is a prefix of another sees only its own */
    l = sc_user(s, "2", 0);
    ck_assert_int_eq(l.n, 0);
    l = sc_item(s, "50");
    ck_assert_int_eq(l.n, 2);
    ck_assert_str_eq(l.user[0], "22");
    ck_assert_str_eq(l.user[1], "196");
    struct evstore_stats st;
    ck_assert_int_eq(evstore_stats(s, &st, &err), 0);
    ck_assert_int_eq(st.events, 3);
    ck_assert_int_eq(st.users, 2);
    ck_assert_uint_eq(st.last_seq, l.seq[0]);
    evstore_close(s);
}
END_TEST

START_TEST(duplicates_counted_once)
{
    struct evstore *s = sc_open(1000);
    struct ev_event ev[3] = {sc_ev("u", "a", "play", "x1", T0), sc_ev("u", "b", "play", "x1", T0),
                             sc_ev("u", "c", "play", "x2", T0)};
    size_t acc, dup;
    enc_err err = {0};
    ck_assert_int_eq(evstore_append(s, ev, 3, T0, &acc, &dup, &err), 0);
    ck_assert_uint_eq(acc, 2);
    ck_assert_uint_eq(dup, 1); /* x1 twice in one request */
    ck_assert_int_eq(evstore_append(s, ev, 3, T0 + 1, &acc, &dup, &err), 0);
    ck_assert_uint_eq(acc, 0); /* a client retry */
    ck_assert_uint_eq(dup, 3);
    struct sc_list l = sc_user(s, "u", 0);
    ck_assert_int_eq(l.n, 2);
    ck_assert_str_eq(l.item[0], "c");
    ck_assert_str_eq(l.item[1], "a");
    evstore_close(s);
}
END_TEST

START_TEST(per_user_cap_keeps_newest)
{
    struct evstore *s = sc_open(5);
    char items[8][8];
    struct ev_event ev[8];
    for (int i = 0; i < 8; i++) {
        snprintf(items[i], sizeof items[i], "i%d", i);
        ev[i] = sc_ev("capped", items[i], "view", NULL, T0 + i);
    }
    enc_err err = {0};
    ck_assert_int_eq(evstore_append(s, ev, 6, T0, NULL, NULL, &err), 0);
    ck_assert_int_eq(evstore_append(s, ev + 6, 2, T0, NULL, NULL, &err), 0);
    struct sc_list l = sc_user(s, "capped", 0);
    ck_assert_int_eq(l.n, 5);
    ck_assert_str_eq(l.item[0], "i7");
    ck_assert_str_eq(l.item[4], "i3");
    /* the embedded store drops capped events when it merges its log into
     * the indexes, which compaction does first */
    ck_assert_int_eq(evstore_compact(s, T0, NULL, &err), 0);
    l = sc_user(s, "capped", 0);
    ck_assert_int_eq(l.n, 5);
    ck_assert_str_eq(l.item[0], "i7");
    /* the dropped events left the item index too */
    ck_assert_int_eq(sc_item(s, "i0").n, 0);
    ck_assert_int_eq(sc_item(s, "i3").n, 1);
    struct evstore_stats st;
    ck_assert_int_eq(evstore_stats(s, &st, &err), 0);
    ck_assert_int_eq(st.events, 5);
    evstore_close(s);
}
END_TEST

static int sc_tomb(void *arg, const char *user, size_t len, int64_t when)
{
    int *n = arg;
    if (len == 3 && memcmp(user, "bob", 3) == 0 && when == T0 + 100)
        (*n)++;
    return 0;
}

START_TEST(erase_user)
{
    struct evstore *s = sc_open(1000);
    struct ev_event ev[4] = {
        sc_ev("bob", "a", "play", NULL, T0), sc_ev("bob", "b", "play", NULL, T0),
        sc_ev("ann", "a", "play", NULL, T0), sc_ev("bobby", "b", "play", NULL, T0)};
    enc_err err = {0};
    ck_assert_int_eq(evstore_append(s, ev, 4, T0, NULL, NULL, &err), 0);
    int64_t when = 0;
    ck_assert_int_eq(evstore_erased_at(s, "bob", 3, &when, &err), 0);
    size_t removed = 0;
    ck_assert_int_eq(evstore_erase_user(s, "bob", 3, T0 + 100, &removed, &err), 0);
    ck_assert_uint_eq(removed, 2);
    ck_assert_int_eq(sc_user(s, "bob", 0).n, 0);
    ck_assert_int_eq(sc_user(s, "bobby", 0).n, 1);
    struct sc_list l = sc_item(s, "a");
    ck_assert_int_eq(l.n, 1);
    ck_assert_str_eq(l.user[0], "ann");
    ck_assert_int_eq(sc_item(s, "b").n, 1);
    ck_assert_int_eq(evstore_erased_at(s, "bob", 3, &when, &err), 1);
    ck_assert_int_eq(when, T0 + 100);
    int n = 0;
    ck_assert_int_eq(evstore_tombstones(s, sc_tomb, &n, &err), 0);
    ck_assert_int_eq(n, 1);
    struct evstore_stats st;
    ck_assert_int_eq(evstore_stats(s, &st, &err), 0);
    ck_assert_int_eq(st.events, 2);
    ck_assert_int_eq(st.users, 2);
    ck_assert_int_eq(st.tombstones, 1);
    /* a user who comes back after erasure starts afresh */
    ck_assert_int_eq(evstore_append(s, ev, 1, T0 + 200, NULL, NULL, &err), 0);
    ck_assert_int_eq(sc_user(s, "bob", 0).n, 1);
    evstore_close(s);
}
END_TEST

static int sc_item_visit(void *arg, const char *item, size_t len, const char *json, size_t json_len)
{
    int *n = arg;
    (*n)++;
    return 0;
}

START_TEST(catalogue)
{
    struct evstore *s = sc_open(1000);
    enc_err err = {0};
    char *json = (char *)1;
    ck_assert_int_eq(evstore_item_get(s, "new", 3, &json, &err), 0);
    ck_assert_ptr_null(json);
    const char *rec = "{\"title\":\"New\",\"available\":true}";
    ck_assert_int_eq(evstore_item_put(s, "new", 3, rec, strlen(rec), &err), 0);
    ck_assert_int_eq(evstore_item_get(s, "new", 3, &json, &err), 1);
    ck_assert_str_eq(json, rec);
    free(json);
    const char *rec2 = "{\"available\":false}";
    ck_assert_int_eq(evstore_item_put(s, "new", 3, rec2, strlen(rec2), &err), 0);
    ck_assert_int_eq(evstore_item_put(s, "old", 3, rec2, strlen(rec2), &err), 0);
    ck_assert_int_eq(evstore_item_get(s, "new", 3, &json, &err), 1);
    ck_assert_str_eq(json, rec2);
    free(json);
    int n = 0;
    ck_assert_int_eq(evstore_items_scan(s, sc_item_visit, &n, &err), 0);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(evstore_item_put(s, "", 0, rec2, strlen(rec2), &err), ENC_EINVAL);
    evstore_close(s);
}
END_TEST

struct sc_counts {
    uint64_t play, click;
};

static int sc_count(void *arg, const char *type, size_t len, uint64_t count)
{
    struct sc_counts *c = arg;
    if (len == 4 && !memcmp(type, "play", 4))
        c->play = count;
    if (len == 5 && !memcmp(type, "click", 5))
        c->click = count;
    return 0;
}

START_TEST(recommendation_counts)
{
    struct evstore *s = sc_open(1000);
    struct ev_event ev[4] = {sc_ev("u1", "a", "click", "r1", T0),
                             sc_ev("u1", "a", "play", NULL, T0),
                             sc_ev("u2", "b", "click", NULL, T0),
                             sc_ev("u3", "c", "click", "r1", T0)}; /* duplicate id */
    for (int i = 0; i < 4; i++)
        ev[i].rec_id = i == 2 ? "rec-B" : "rec-A", ev[i].rec_len = 5;
    enc_err err = {0};
    ck_assert_int_eq(evstore_append(s, ev, 4, T0, NULL, NULL, &err), 0);
    struct sc_counts c = {0, 0};
    ck_assert_int_eq(evstore_recommendation_counts(s, "rec-A", 5, sc_count, &c, &err), 0);
    ck_assert_uint_eq(c.click, 1);
    ck_assert_uint_eq(c.play, 1);
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(evstore_recommendation_counts(s, "rec-", 4, sc_count, &c, &err), 0);
    ck_assert_uint_eq(c.click, 0);
    ck_assert_int_eq(evstore_recommendation_counts(s, "rec-B", 5, sc_count, &c, &err), 0);
    ck_assert_uint_eq(c.click, 1);
    evstore_close(s);
}
END_TEST

struct sc_ctr {
    uint64_t recs, users, other;
};

static int sc_ctr_fn(void *arg, const char *f, size_t len, uint64_t count)
{
    struct sc_ctr *c = arg;
    if (len == 4 && !memcmp(f, "recs", 4))
        c->recs = count;
    else if (len == 5 && !memcmp(f, "users", 5))
        c->users = count;
    else
        c->other += count;
    return 0;
}

static void sc_done_flag(void *arg, const struct evstore_result *res)
{
    __atomic_store_n((int *)arg, res->code == 0 ? 1 : -1, __ATOMIC_RELEASE);
}

/* Counters: plain ones add, distinct ones count a member once; sets are
 * separate (a key that is a prefix of another shares nothing with it). */
START_TEST(counters_plain_and_distinct)
{
    struct evstore *s = sc_open(1000);
    const char *users[5] = {"u1", "u2", "u1", "u3", "u2"};
    int flags[6] = {0};
    for (int i = 0; i < 5; i++) {
        struct evstore_count c[2] = {{"home.als", "recs", NULL, 8, 4, 0},
                                     {"home.als", "users", users[i], 8, 5, 2}};
        evstore_count_async(s, c, 2, T0, sc_done_flag, &flags[i]);
    }
    struct evstore_count c1 = {"home.al", "recs", NULL, 7, 4, 0};
    evstore_count_async(s, &c1, 1, T0, sc_done_flag, &flags[5]);
    for (int i = 0; i < 6; i++) {
        while (__atomic_load_n(&flags[i], __ATOMIC_ACQUIRE) == 0)
            usleep(1000);
        ck_assert_int_eq(flags[i], 1);
    }
    struct sc_ctr c = {0, 0, 0};
    enc_err err = {0};
    ck_assert_int_eq(evstore_counters(s, "home.als", 8, sc_ctr_fn, &c, &err), 0);
    ck_assert_uint_eq(c.recs, 5);
    ck_assert_uint_eq(c.users, 3);
    ck_assert_uint_eq(c.other, 0);
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(evstore_counters(s, "home.al", 7, sc_ctr_fn, &c, &err), 0);
    ck_assert_uint_eq(c.recs, 1);
    ck_assert_uint_eq(c.users, 0);
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(evstore_counters(s, "nope", 4, sc_ctr_fn, &c, &err), 0);
    ck_assert_uint_eq(c.recs + c.users + c.other, 0);
    /* a bad counter is refused whole */
    int bad = 0;
    struct evstore_count b = {"home.als", "", NULL, 8, 0, 0};
    evstore_count_async(s, &b, 1, T0, sc_done_flag, &bad);
    ck_assert_int_eq(bad, -1);
    evstore_close(s);
}
END_TEST

START_TEST(compaction_by_receive_time)
{
    struct evstore *s = sc_open(1000);
    /* events of 1998 (a replayed log) received now are not expired */
    struct ev_event old[2] = {sc_ev("u", "a", "play", "k1", 893000000),
                              sc_ev("v", "a", "play", NULL, 893000000)};
    struct ev_event fresh[1] = {sc_ev("u", "b", "play", NULL, T0)};
    enc_err err = {0};
    ck_assert_int_eq(evstore_append(s, old, 2, T0, NULL, NULL, &err), 0);
    ck_assert_int_eq(evstore_append(s, fresh, 1, T0 + 80 * 86400, NULL, NULL, &err), 0);
    size_t removed = 9;
    ck_assert_int_eq(evstore_compact(s, T0 + 89 * 86400, &removed, &err), 0);
    ck_assert_uint_eq(removed, 0);
    ck_assert_int_eq(evstore_compact(s, T0 + 91 * 86400, &removed, &err), 0);
    ck_assert_uint_eq(removed, 2);
    struct sc_list l = sc_user(s, "u", 0);
    ck_assert_int_eq(l.n, 1);
    ck_assert_str_eq(l.item[0], "b");
    ck_assert_int_eq(sc_user(s, "v", 0).n, 0);
    ck_assert_int_eq(sc_item(s, "a").n, 0);
    struct evstore_stats st;
    ck_assert_int_eq(evstore_stats(s, &st, &err), 0);
    ck_assert_int_eq(st.events, 1);
    ck_assert_int_eq(st.users, 1);
    evstore_close(s);
}
END_TEST

/* Concurrent writers: every event stored once, sequence numbers unique. */
struct sc_writer {
    struct evstore *s;
    int w;
    int failures;
};

static void *sc_write_main(void *arg)
{
    struct sc_writer *w = arg;
    for (int r = 0; r < 20; r++) {
        char users[10][16], ids[10][32];
        struct ev_event ev[10];
        for (int i = 0; i < 10; i++) {
            snprintf(users[i], 16, "w%d", w->w);
            snprintf(ids[i], 32, "w%d-r%d-e%d", w->w, r, i);
            ev[i] = sc_ev(users[i], "it", "play", ids[i], T0 + r);
        }
        size_t acc;
        if (evstore_append(w->s, ev, 10, T0, &acc, NULL, NULL) != 0 || acc != 10)
            w->failures++;
    }
    return NULL;
}

static int sc_seq_collect(void *arg, const struct ev_event *e)
{
    uint64_t **p = arg;
    *(*p)++ = e->seq;
    return 0;
}

static int sc_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

START_TEST(concurrent_writers)
{
    struct evstore *s = sc_open(1000);
    pthread_t th[6];
    struct sc_writer w[6];
    for (int i = 0; i < 6; i++) {
        w[i] = (struct sc_writer){s, i, 0};
        pthread_create(&th[i], NULL, sc_write_main, &w[i]);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(w[i].failures, 0);
    }
    uint64_t *seqs = malloc(2000 * sizeof *seqs), *p = seqs;
    enc_err err = {0};
    ck_assert_int_eq(evstore_scan(s, sc_seq_collect, &p, &err), 0);
    size_t n = (size_t)(p - seqs);
    ck_assert_uint_eq(n, 6 * 20 * 10);
    qsort(seqs, n, sizeof *seqs, sc_cmp_u64);
    for (size_t i = 1; i < n; i++)
        ck_assert_uint_ne(seqs[i], seqs[i - 1]);
    free(seqs);
    evstore_close(s);
}
END_TEST

/* The change feed: a write announces its user and item. */
struct sc_changes {
    pthread_mutex_t lock;
    int users, items;
};

static void sc_on_change(void *arg, enum ev_change kind, const char *id, size_t len)
{
    struct sc_changes *c = arg;
    pthread_mutex_lock(&c->lock);
    if (kind == EV_CHANGE_USER && len == 5 && !memcmp(id, "watch", 5))
        c->users++;
    if (kind == EV_CHANGE_ITEM && len == 3 && !memcmp(id, "w-i", 3))
        c->items++;
    pthread_mutex_unlock(&c->lock);
}

START_TEST(change_feed)
{
    struct evstore *s = sc_open(1000);
    struct sc_changes c = {PTHREAD_MUTEX_INITIALIZER, 0, 0};
    evstore_watch(s, sc_on_change, &c);
    struct ev_event ev = sc_ev("watch", "w-i", "play", NULL, T0);
    enc_err err = {0};
    ck_assert_int_eq(evstore_append(s, &ev, 1, T0, NULL, NULL, &err), 0);
    pthread_mutex_lock(&c.lock);
    ck_assert_int_ge(c.users, 1); /* announced before the append returns */
    ck_assert_int_ge(c.items, 1);
    c.users = 0;
    pthread_mutex_unlock(&c.lock);
    ck_assert_int_eq(evstore_erase_user(s, "watch", 5, T0, NULL, &err), 0);
    pthread_mutex_lock(&c.lock);
    ck_assert_int_ge(c.users, 1);
    pthread_mutex_unlock(&c.lock);
    evstore_watch(s, NULL, NULL);
    evstore_close(s);
}
END_TEST

START_TEST(store_id_is_stable)
{
    struct evstore *s = sc_open(1000);
    char a[33], b[33];
    enc_err err = {0};
    ck_assert_int_eq(evstore_id(s, a, &err), 0);
    ck_assert_int_eq(evstore_id(s, b, &err), 0);
    ck_assert_int_eq((int)strlen(a), 32);
    ck_assert_str_eq(a, b);
    ck_assert_int_eq(evstore_ping(s, &err), 0);
    evstore_close(s);
}
END_TEST

static int sc_count_id(void *arg, const char *id, size_t len)
{
    int *n = arg;
    (*n)++;
    return 0;
}

START_TEST(items_with_events)
{
    struct evstore *s = sc_open(1000);
    struct ev_event ev[4] = {sc_ev("u", "a", "play", NULL, T0), sc_ev("v", "a", "play", NULL, T0),
                             sc_ev("u", "bb", "play", NULL, T0), sc_ev("w", "b", "play", NULL, T0)};
    enc_err err = {0};
    ck_assert_int_eq(evstore_append(s, ev, 4, T0, NULL, NULL, &err), 0);
    int n = 0;
    ck_assert_int_eq(evstore_event_items(s, sc_count_id, &n, &err), 0);
    ck_assert_int_eq(n, 3); /* a, b, bb: each once */
    evstore_close(s);
}
END_TEST

/* Users with events, each once: merged (the embedded store's indexes,
 * after compaction) and not yet merged (its log). */
static int sc_user_mark(void *arg, const char *id, size_t len)
{
    char *seen = arg; /* "u", "v", "w", "x": a count per letter */
    if (len == 1 && id[0] >= 'u' && id[0] <= 'x')
        seen[id[0] - 'u']++;
    else
        seen[4]++;
    return 0;
}

START_TEST(users_with_events)
{
    struct evstore *s = sc_open(1000);
    struct ev_event ev[4] = {sc_ev("u", "a", "play", NULL, T0), sc_ev("v", "a", "play", NULL, T0),
                             sc_ev("u", "b", "play", NULL, T0), sc_ev("w", "b", "play", NULL, T0)};
    enc_err err = {0};
    ck_assert_int_eq(evstore_append(s, ev, 4, T0, NULL, NULL, &err), 0);
    char seen[5] = {0};
    ck_assert_int_eq(evstore_users(s, sc_user_mark, seen, &err), 0);
    ck_assert_mem_eq(seen, "\1\1\1\0\0", 5);
    ck_assert_int_eq(evstore_compact(s, T0, NULL, &err), 0);
    struct ev_event more[2] = {sc_ev("x", "a", "play", NULL, T0),
                               sc_ev("u", "c", "play", NULL, T0)};
    ck_assert_int_eq(evstore_append(s, more, 2, T0, NULL, NULL, &err), 0);
    memset(seen, 0, sizeof seen);
    ck_assert_int_eq(evstore_users(s, sc_user_mark, seen, &err), 0);
    ck_assert_mem_eq(seen, "\1\1\1\1\0", 5);
    evstore_close(s);
}
END_TEST

static void sc_add_common(TCase *tc)
{
    tcase_add_test(tc, users_with_events);
    tcase_add_test(tc, items_with_events);
    tcase_add_test(tc, append_and_read_newest_first);
    tcase_add_test(tc, duplicates_counted_once);
    tcase_add_test(tc, per_user_cap_keeps_newest);
    tcase_add_test(tc, erase_user);
    tcase_add_test(tc, catalogue);
    tcase_add_test(tc, recommendation_counts);
    tcase_add_test(tc, counters_plain_and_distinct);
    tcase_add_test(tc, compaction_by_receive_time);
    tcase_add_test(tc, concurrent_writers);
    tcase_add_test(tc, change_feed);
    tcase_add_test(tc, store_id_is_stable);
}

#endif
