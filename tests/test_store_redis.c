/* test_store_redis.c - the Redis event store against a real redis-server
 * that this test starts on a free port in a temp dir (and stops): the common
 * cases of store_cases.h, plus replicas seeing each other's writes and a
 * Redis that goes away and comes back. Skips (77) without redis-server. */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "store_cases.h"

static char *base;
static int port;
static char url[64];

static redisContext *rconnect(void)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c && c->err) {
        redisFree(c);
        return NULL;
    }
    return c;
}

static int rcmd_ok(const char *cmd)
{
    redisContext *c = rconnect();
    if (!c)
        return 0;
    redisReply *r = redisCommand(c, cmd);
    int ok = r && r->type != REDIS_REPLY_ERROR;
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return ok;
}

/* 1 if the server on `port` is the one started here (its dir is base), not
 * another test's that holds the port. */
static int ours(void)
{
    redisContext *c = rconnect();
    if (!c)
        return 0;
    redisReply *r = redisCommand(c, "CONFIG GET dir");
    int ok = r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
             strcmp(r->element[1]->str, base) == 0;
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return ok;
}

/* Start redis-server on `port` (AOF with appendfsync always, as deploy/
 * sets it); 0 once it answers PING. Detached: it outlives Check's forks. */
static int start_redis(void)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        setsid();
        if (fork() != 0)
            _exit(0);
        char p[16], log[4200];
        snprintf(p, sizeof p, "%d", port);
        snprintf(log, sizeof log, "%s/redis.log", base);
        execlp("redis-server", "redis-server", "--port", p, "--bind", "127.0.0.1", "--dir", base,
               "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--logfile", log,
               (char *)NULL);
        _exit(127);
    }
    waitpid(pid, NULL, 0);
    for (int i = 0; i < 400; i++) { /* 20 s: the machine may be busy */
        if (rcmd_ok("PING"))
            return ours() ? 0 : -1;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

static void stop_redis(void)
{
    rcmd_ok("SHUTDOWN NOSAVE");
    for (int i = 0; i < 100 && rcmd_ok("PING"); i++) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static const char *sc_location(void)
{
    ck_assert_msg(rcmd_ok("FLUSHALL"), "redis-server on port %d does not answer", port);
    return url;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

START_TEST(bad_urls)
{
    static const char *bad[] = {"redis://",        "redis://:6379", "redis://h:0",
                                "redis://h:99999", "redis://h:12x", "redis://h:1/db"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct evstore_options o;
        evstore_options_default(&o);
        o.location = bad[i];
        struct evstore *s = NULL;
        enc_err err = {0};
        ck_assert_msg(evstore_open(&o, &s, &err) == ENC_EINVAL, "accepted %s", bad[i]);
        ck_assert_ptr_null(s);
    }
}
END_TEST

/* What one replica writes, another's watcher hears (Redis stream). */
struct seen {
    pthread_mutex_t lock;
    int user, item, resync, probe;
};

static void on_change(void *arg, enum ev_change kind, const char *id, size_t len)
{
    struct seen *s = arg;
    pthread_mutex_lock(&s->lock);
    if (kind == EV_CHANGE_USER && len == 4 && !memcmp(id, "repl", 4))
        s->user++;
    if (kind == EV_CHANGE_ITEM && len == 7 && !memcmp(id, "cat-itm", 7))
        s->item++;
    if (kind == EV_CHANGE_RESYNC)
        s->resync++;
    if (kind == EV_CHANGE_USER && len == 5 && !memcmp(id, "probe", 5))
        s->probe++;
    pthread_mutex_unlock(&s->lock);
}

static int wait_for(struct seen *s, int *field, double seconds)
{
    double end = now_s() + seconds;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        int v = *field;
        pthread_mutex_unlock(&s->lock);
        if (v > 0 || now_s() > end)
            return v;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* Until the watcher of the store watched into `seen` hears a change written
 * through `w`: it connects on its own thread, possibly before the callback
 * was set (its RESYNC then went unheard), and follows the stream from its
 * end, so a change written before it connected is never heard: write again. */
static int watcher_following(struct evstore *w, struct seen *seen)
{
    struct ev_event ev = sc_ev("probe", "x", "play", NULL, T0);
    enc_err err = {0};
    for (int i = 0; i < 300; i++) {
        ck_assert_int_eq(evstore_append(w, &ev, 1, T0, NULL, NULL, &err), 0);
        pthread_mutex_lock(&seen->lock);
        int heard = seen->probe;
        pthread_mutex_unlock(&seen->lock);
        if (heard)
            return 1;
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

START_TEST(replicas_hear_each_other)
{
    struct evstore *a = sc_open(1000), *b = sc_open(1000);
    struct seen seen = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0};
    evstore_watch(b, on_change, &seen);
    ck_assert(watcher_following(a, &seen));
    struct ev_event ev = sc_ev("repl", "x", "play", NULL, T0);
    enc_err err = {0};
    ck_assert_int_eq(evstore_append(a, &ev, 1, T0, NULL, NULL, &err), 0);
    ck_assert_int_gt(wait_for(&seen, &seen.user, 30), 0);
    ck_assert_int_eq(sc_user(b, "repl", 0).n, 1);
    ck_assert_int_eq(evstore_item_put(a, "cat-itm", 7, "{}", 2, &err), 0);
    ck_assert_int_gt(wait_for(&seen, &seen.item, 30), 0);
    evstore_watch(b, NULL, NULL);
    evstore_close(a);
    evstore_close(b);
}
END_TEST

/* A replica that falls behind by more than the stream keeps resyncs: its
 * watcher is held inside the callback for user "gate" while changes are
 * added and trimmed away behind it; when it goes on, it announces RESYNC
 * rather than silently missing them. */
struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int warm, held, open, resync;
};

/* Wait (up to `seconds`) until *field >= want. */
static int gate_wait_for(struct gate *g, int *field, int want, int seconds)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += seconds;
    pthread_mutex_lock(&g->lock);
    while (*field < want && pthread_cond_timedwait(&g->cond, &g->lock, &ts) == 0)
        ;
    int v = *field;
    pthread_mutex_unlock(&g->lock);
    return v;
}

static void on_gated(void *arg, enum ev_change kind, const char *id, size_t len)
{
    struct gate *g = arg;
    pthread_mutex_lock(&g->lock);
    if (kind == EV_CHANGE_USER && len == 4 && !memcmp(id, "warm", 4))
        g->warm++;
    if (kind == EV_CHANGE_USER && len == 4 && !memcmp(id, "gate", 4)) {
        g->held = 1;
        pthread_cond_broadcast(&g->cond);
        while (!g->open)
            pthread_cond_wait(&g->cond, &g->lock);
    }
    if (kind == EV_CHANGE_RESYNC)
        g->resync++;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

/* 30 s: a loaded machine */
static int gate_wait(struct gate *g, int *field, int want)
{
    return gate_wait_for(g, field, want, 30);
}

START_TEST(replica_too_far_behind_resyncs)
{
    struct evstore *a = sc_open(1000), *b = sc_open(1000);
    struct gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0};
    evstore_watch(b, on_gated, &g);
    enc_err err = {0};
    /* until b has read past a "warm" (it may connect after the first ones) */
    struct ev_event warm = sc_ev("warm", "x", "play", NULL, T0);
    for (int i = 0; i < 300 && !gate_wait_for(&g, &g.warm, 1, 0); i++) {
        ck_assert_int_eq(evstore_append(a, &warm, 1, T0, NULL, NULL, &err), 0);
        gate_wait_for(&g, &g.warm, 1, 1);
    }
    ck_assert_int_ge(gate_wait(&g, &g.warm, 1), 1);
    struct ev_event gate = sc_ev("gate", "x", "play", NULL, T0);
    ck_assert_int_eq(evstore_append(a, &gate, 1, T0, NULL, NULL, &err), 0);
    ck_assert_int_eq(gate_wait(&g, &g.held, 1), 1); /* b's watcher is held */
    pthread_mutex_lock(&g.lock);
    int resyncs = g.resync;
    pthread_mutex_unlock(&g.lock);
    for (int i = 0; i < 3; i++) {
        char user[8];
        snprintf(user, sizeof user, "miss%d", i);
        struct ev_event ev = sc_ev(user, "x", "play", NULL, T0);
        ck_assert_int_eq(evstore_append(a, &ev, 1, T0, NULL, NULL, &err), 0);
    }
    /* the stream keeps only its newest entry: "warm", "gate", miss0, miss1 gone */
    ck_assert(rcmd_ok("XTRIM encore:chg MAXLEN 1"));
    pthread_mutex_lock(&g.lock);
    g.open = 1;
    pthread_cond_broadcast(&g.cond);
    pthread_mutex_unlock(&g.lock);
    ck_assert_int_gt(gate_wait(&g, &g.resync, resyncs + 1), resyncs);
    evstore_watch(b, NULL, NULL);
    evstore_close(a);
    evstore_close(b);
}
END_TEST

/* Redis goes away: calls fail fast with ENC_EBUSY, nothing half-written;
 * it comes back: the same handle works again, and the watcher resyncs. */
/* calls of a command since CONFIG RESETSTAT (INFO commandstats), or -1 */
static long long calls(const char *cmd)
{
    redisContext *c = rconnect();
    if (!c)
        return -1;
    redisReply *r = redisCommand(c, "INFO commandstats");
    long long n = -1;
    char key[64];
    snprintf(key, sizeof key, "cmdstat_%s:calls=", cmd);
    if (r && r->type == REDIS_REPLY_STRING) {
        const char *p = strstr(r->str, key);
        n = p ? atoll(p + strlen(key)) : 0;
    }
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return n;
}

/* An append groups its events by user and by item: one LPUSH per list and
 * one SADD per set, not one per event (each write is also an AOF entry). */
START_TEST(one_write_per_key)
{
    struct evstore *s = sc_open(1000);
    struct ev_event ev[6] = {
        sc_ev("g1", "a", "play", NULL, T0), sc_ev("g1", "a", "like", NULL, T0),
        sc_ev("g2", "a", "play", NULL, T0), sc_ev("g1", "b", "play", NULL, T0),
        sc_ev("g1", "c", "play", NULL, T0), sc_ev("g2", "b", "play", NULL, T0)};
    enc_err err = {0};
    ck_assert(rcmd_ok("CONFIG RESETSTAT"));
    ck_assert_int_eq(evstore_append(s, ev, 6, T0, NULL, NULL, &err), 0);
    ck_assert_int_eq(calls("lpush"), 5); /* 2 users + 3 items */
    ck_assert_int_eq(calls("sadd"), 2);  /* users, items with events */
    ck_assert_int_eq(calls("expire"), 5);
    ck_assert_int_eq(calls("ltrim"), 0); /* no list past its cap */
    struct sc_list l = sc_user(s, "g1", 0);
    ck_assert_int_eq(l.n, 4);
    ck_assert_str_eq(l.item[0], "c"); /* newest first */
    ck_assert_str_eq(l.item[1], "b");
    ck_assert_str_eq(l.type[2], "like");
    ck_assert_str_eq(l.type[3], "play");
    l = sc_item(s, "a");
    ck_assert_int_eq(l.n, 3);
    ck_assert_str_eq(l.user[0], "g2");
    ck_assert(l.seq[0] > l.seq[1] && l.seq[1] > l.seq[2]);
    evstore_close(s);
}
END_TEST

/* LLEN of a key, or -1 */
static long long llen(const char *key)
{
    redisContext *c = rconnect();
    if (!c)
        return -1;
    redisReply *r = redisCommand(c, "LLEN %s", key);
    long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return n;
}

/* An item keeps its newest 1,000 events (ITEM_CAP), also when one request
 * brings more. */
START_TEST(item_list_capped)
{
    struct evstore *s = sc_open(1000);
    enum { N = 1003 };
    static char users[N][16];
    static struct ev_event ev[N];
    for (int i = 0; i < N; i++) {
        snprintf(users[i], sizeof users[i], "cap%d", i);
        ev[i] = sc_ev(users[i], "popular", "play", NULL, T0);
    }
    enc_err err = {0};
    ck_assert_int_eq(evstore_append(s, ev, 1000, T0, NULL, NULL, &err), 0);
    ck_assert_int_eq(llen("encore:i:popular"), 1000);
    ck_assert_int_eq(evstore_append(s, ev + 1000, 3, T0, NULL, NULL, &err), 0);
    ck_assert_int_eq(llen("encore:i:popular"), 1000);
    struct sc_list l = sc_item(s, "popular");
    ck_assert_str_eq(l.user[0], "cap1002"); /* newest first */
    evstore_close(s);
}
END_TEST

/* Appends are queued for the store's writer thread: the caller never waits
 * for Redis (here paused), and the requests queued meanwhile are applied in
 * their order, each whole (a later request's repeated id is a duplicate). */
struct pending {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
    struct evstore_result res[5];
};

static void on_appended(void *arg, const struct evstore_result *res)
{
    struct pending *p = arg;
    pthread_mutex_lock(&p->lock);
    p->res[p->done++] = *res;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

START_TEST(appends_queued_in_order)
{
    struct evstore *s = sc_open(1000);
    struct pending p = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, {{0}}};
    struct ev_event ev[5][2];
    static char ids[5][2][16];
    for (int r = 0; r < 5; r++)
        for (int i = 0; i < 2; i++) {
            snprintf(ids[r][i], sizeof ids[r][i], "q%d-%d", r == 3 ? 1 : r, i); /* 3 repeats 1 */
            ev[r][i] = sc_ev("queued", "x", "play", ids[r][i], T0 + r);
        }
    ck_assert(rcmd_ok("CLIENT PAUSE 400 ALL")); /* under the store's 1 s command timeout */
    for (int r = 0; r < 5; r++)
        evstore_append_async(s, ev[r], 2, T0, on_appended, &p);
    pthread_mutex_lock(&p.lock);
    ck_assert_int_eq(p.done, 0); /* Redis is paused: none can have been answered */
    while (p.done < 5)
        pthread_cond_wait(&p.cond, &p.lock);
    pthread_mutex_unlock(&p.lock);
    for (int r = 0; r < 5; r++) {
        ck_assert_msg(p.res[r].code == 0, "%s", p.res[r].err.msg);
        ck_assert_uint_eq(p.res[r].accepted, r == 3 ? 0 : 2);
        ck_assert_uint_eq(p.res[r].duplicates, r == 3 ? 2 : 0);
    }
    struct sc_list l = sc_user(s, "queued", 0);
    ck_assert_int_eq(l.n, 8);
    ck_assert_int_eq(l.time[0], T0 + 4); /* newest first */
    ck_assert(l.seq[0] > l.seq[7]);
    evstore_close(s);
}
END_TEST

START_TEST(redis_down_and_back)
{
    struct evstore *s = sc_open(1000);
    struct seen seen = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0};
    evstore_watch(s, on_change, &seen);
    ck_assert(watcher_following(s, &seen));
    struct ev_event ev = sc_ev("down", "x", "play", "d1", T0);
    enc_err err = {0};
    ck_assert_int_eq(evstore_append(s, &ev, 1, T0, NULL, NULL, &err), 0);
    stop_redis();
    ck_assert_int_eq(evstore_append(s, &ev, 1, T0, NULL, NULL, &err), ENC_EBUSY);
    ck_assert_msg(strstr(err.msg, "redis") != NULL, "%s", err.msg);
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq(evstore_ping(s, &err), ENC_EBUSY);
    struct sc_list l;
    memset(&l, 0, sizeof l);
    ck_assert_int_eq(evstore_user_events(s, "down", 4, 0, sc_collect, &l, &err), ENC_EBUSY);
    pthread_mutex_lock(&seen.lock);
    seen.resync = 0;
    pthread_mutex_unlock(&seen.lock);
    ck_assert_int_eq(start_redis(), 0); /* AOF: what was acknowledged is back */
    int ok = 0;
    for (int i = 0; i < 300 && !ok; i++) {
        ok = evstore_ping(s, &err) == 0;
        if (!ok) {
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    ck_assert_int_eq(ok, 1);
    size_t acc = 9, dup = 9;
    ck_assert_int_eq(evstore_append(s, &ev, 1, T0, &acc, &dup, &err), 0);
    ck_assert_uint_eq(dup, 1);
    ck_assert_int_eq(sc_user(s, "down", 0).n, 1);
    ck_assert_int_gt(wait_for(&seen, &seen.resync, 30), 0);
    evstore_watch(s, NULL, NULL);
    evstore_close(s);
}
END_TEST

int main(void)
{
    int need = tu_need("redis-server", "command -v redis-server");
    if (need)
        return need; /* 77: skipped; 1 under CI=true (scripts/deps.sh installs it) */
    if (!(base = tu_tmpdir()))
        return 1;
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    int started = 0;
    for (int i = 0; i < 5 && !started; i++) {
        port = 20000 + rand() % 40000;
        started = start_redis() == 0;
    }
    if (!started) {
        fprintf(stderr, "could not start redis-server (log in %s)\n", base);
        return 1;
    }
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    Suite *s = suite_create("store_redis");
    TCase *tc = tcase_create("store_redis");
    tcase_set_timeout(tc, 120);
    sc_add_common(tc);
    tcase_add_test(tc, bad_urls);
    tcase_add_test(tc, replicas_hear_each_other);
    tcase_add_test(tc, replica_too_far_behind_resyncs);
    tcase_add_test(tc, one_write_per_key);
    tcase_add_test(tc, item_list_capped);
    tcase_add_test(tc, appends_queued_in_order);
    tcase_add_test(tc, redis_down_and_back); /* last: it restarts the server */
    suite_add_tcase(s, tc);
    int rc = tu_run(s);
    stop_redis();
    tu_rmrf(base);
    free(base);
    return rc;
}
