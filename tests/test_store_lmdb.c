/* test_store_lmdb.c - the embedded (LMDB) event store: the common cases of
 * store_cases.h, plus what only it has (files, reopening, a full map, and
 * durability when the writing process is killed). */
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "store_cases.h"

/* Check forks a process per test: stores go under one base directory made
 * by main() before the forks and removed by it at the end. */
static char *base;

static const char *sc_location(void)
{
    static int n;
    static char path[4096];
    snprintf(path, sizeof path, "%s/events-%d-%d", base, (int)getpid(), n++);
    return path;
}

static struct evstore *open_at(const char *dir, int read_only, int64_t map_bytes, enc_err *err,
                               int *rc)
{
    struct evstore_options o;
    evstore_options_default(&o);
    o.location = dir;
    o.read_only = read_only;
    o.map_bytes = map_bytes;
    struct evstore *s = NULL;
    *rc = evstore_open(&o, &s, err);
    return s;
}

START_TEST(reopen_keeps_everything)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", sc_location());
    enc_err err = {0};
    int rc;
    struct evstore *s = open_at(dir, 0, 0, &err, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(evstore_kind(s), "lmdb");
    struct ev_event ev = sc_ev("u", "i", "play", "id-1", T0);
    ck_assert_int_eq(evstore_append(s, &ev, 1, T0, NULL, NULL, &err), 0);
    ck_assert_int_eq(evstore_item_put(s, "i", 1, "{}", 2, &err), 0);
    char id[33], id2[33];
    ck_assert_int_eq(evstore_id(s, id, &err), 0);
    evstore_close(s);
    /* read-only, as the trainer opens it */
    s = open_at(dir, 1, 0, &err, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(evstore_id(s, id2, &err), 0);
    ck_assert_str_eq(id, id2);
    ck_assert_int_eq(sc_user(s, "u", 0).n, 1);
    ck_assert_int_eq(evstore_append(s, &ev, 1, T0, NULL, NULL, &err), ENC_EUNSUPPORTED);
    evstore_close(s);
    s = open_at(dir, 0, 0, &err, &rc);
    size_t acc, dup;
    ck_assert_int_eq(evstore_append(s, &ev, 1, T0, &acc, &dup, &err), 0);
    ck_assert_uint_eq(dup, 1); /* the id is remembered across restarts */
    evstore_close(s);
}
END_TEST

START_TEST(missing_store_read_only)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", sc_location());
    enc_err err = {0};
    int rc;
    struct evstore *s = open_at(dir, 1, 0, &err, &rc);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(rc, ENC_ENOTFOUND);
    ck_assert_msg(strstr(err.msg, "no event store") != NULL, "%s", err.msg);
    /* a location that is a file, not a directory */
    char file[4200];
    snprintf(file, sizeof file, "%s.file", dir);
    ck_assert_int_eq(tu_write_file(file, "x", 1), 0);
    s = open_at(file, 0, 0, &err, &rc);
    ck_assert_ptr_null(s);
    ck_assert_int_ne(rc, 0);
}
END_TEST

/* A full map fails the request that does not fit, whole, and nothing else. */
START_TEST(full_map_is_all_or_nothing)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", sc_location());
    enc_err err = {0};
    int rc;
    struct evstore *s = open_at(dir, 0, 256 * 1024, &err, &rc);
    ck_assert_int_eq(rc, 0);
    struct ev_event ev[100];
    char items[100][200];
    for (int i = 0; i < 100; i++) {
        memset(items[i], 'a' + i % 26, 199);
        items[i][0] = (char)('A' + i % 26);
        snprintf(items[i] + 190, 10, "%d", i);
        ev[i] = sc_ev("small", "x", "play", NULL, T0);
    }
    ck_assert_int_eq(evstore_append(s, ev, 3, T0, NULL, NULL, &err), 0);
    /* big requests until the map is full */
    int failed = 0;
    for (int r = 0; r < 200 && !failed; r++) {
        char users[100][16];
        for (int i = 0; i < 100; i++) {
            snprintf(users[i], 16, "r%du%d", r, i);
            ev[i] = sc_ev(users[i], items[i], "play", NULL, T0);
        }
        rc = evstore_append(s, ev, 100, T0, NULL, NULL, &err);
        if (rc) {
            failed = 1;
            ck_assert_int_eq(rc, ENC_EIO);
            ck_assert_msg(strstr(err.msg, "full") != NULL, "%s", err.msg);
            /* nothing of the failed request is there */
            ck_assert_int_eq(sc_user(s, users[0], 0).n, 0);
            ck_assert_int_eq(sc_user(s, users[99], 0).n, 0);
        }
    }
    ck_assert_int_eq(failed, 1);
    ck_assert_int_eq(sc_user(s, "small", 0).n, 3);
    evstore_close(s);
}
END_TEST

/* kill -9 of the writing process right after acknowledgements: none lost. */
START_TEST(acknowledged_survives_kill)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", sc_location());
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        enc_err err = {0};
        int rc;
        struct evstore *s = open_at(dir, 0, 0, &err, &rc);
        if (rc)
            _exit(3);
        for (int i = 0;; i++) {
            char id[32];
            snprintf(id, sizeof id, "k%d", i);
            struct ev_event ev = sc_ev("killed", "i", "play", id, T0);
            if (evstore_append(s, &ev, 1, T0, NULL, NULL, &err) != 0)
                _exit(4);
            if (write(fds[1], &i, sizeof i) != sizeof i) /* acknowledged */
                _exit(5);
        }
    }
    close(fds[1]);
    int last = -1, v;
    while (last < 300 && read(fds[0], &v, sizeof v) == sizeof v)
        last = v;
    kill(pid, SIGKILL);
    /* drain acknowledgements written before the kill landed */
    while (read(fds[0], &v, sizeof v) == sizeof v)
        last = v;
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    ck_assert(WIFSIGNALED(status));
    enc_err err = {0};
    int rc;
    struct evstore *s = open_at(dir, 0, 0, &err, &rc);
    ck_assert_int_eq(rc, 0);
    struct evstore_stats st;
    ck_assert_int_eq(evstore_stats(s, &st, &err), 0);
    ck_assert_int_ge(st.events, last + 1);
    ck_assert_int_le(st.events, last + 2); /* at most one committed, not acknowledged */
    evstore_close(s);
}
END_TEST

/* A child appends `n` single events of user `user` (ids user-0, user-1,
 * ...) and ends without closing the store, as a crash would: what it
 * acknowledged is in the write-ahead file only. */
static void append_and_die(const char *dir, const char *user, int n)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        enc_err err = {0};
        int rc;
        struct evstore *s = open_at(dir, 0, 0, &err, &rc);
        if (rc)
            _exit(3);
        for (int i = 0; i < n; i++) {
            char id[64];
            snprintf(id, sizeof id, "%s-%d", user, i);
            struct ev_event ev = sc_ev(user, "i", "play", id, T0 + i);
            if (evstore_append(s, &ev, 1, T0, NULL, NULL, &err) != 0)
                _exit(4);
        }
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static int64_t stored_events(const char *dir, int read_only, uint64_t *last_seq)
{
    enc_err err = {0};
    int rc;
    struct evstore *s = open_at(dir, read_only, 0, &err, &rc);
    ck_assert_msg(rc == 0, "%s", err.msg);
    struct evstore_stats st;
    ck_assert_int_eq(evstore_stats(s, &st, &err), 0);
    if (last_seq)
        *last_seq = st.last_seq;
    evstore_close(s);
    return st.events;
}

/* The write-ahead file: what a crash left is read by a read-only handle and
 * moved into the store by the next writer; a torn or corrupt record ends
 * what is read; the records of a checkpointed generation are never read
 * again, although the file is reused from its start. */
START_TEST(write_ahead_file_after_crash)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", sc_location());
    append_and_die(dir, "a", 10);
    uint64_t last = 0;
    ck_assert_int_eq(stored_events(dir, 1, &last), 10); /* the trainer's view */
    ck_assert_uint_eq(last, 10);
    /* corrupt the 8th record's event bytes: records 8..10 are no longer read */
    char path[4200];
    snprintf(path, sizeof path, "%s/events.wal", dir);
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    long at = 0;
    for (int r = 0; r < 7; r++) {
        unsigned char len[4];
        ck_assert_int_eq(fseek(f, at, SEEK_SET), 0);
        ck_assert_int_eq(fread(len, 1, 4, f), 4);
        at += 24 + (long)(len[0] | len[1] << 8 | len[2] << 16 | (unsigned)len[3] << 24);
    }
    ck_assert_int_eq(fseek(f, at + 24 + 3, SEEK_SET), 0);
    int c = fgetc(f);
    ck_assert_int_eq(fseek(f, at + 24 + 3, SEEK_SET), 0);
    fputc(c ^ 0x55, f);
    fclose(f);
    ck_assert_int_eq(stored_events(dir, 1, NULL), 7);
    /* a writer takes the 7 into the store; two more go to the reused file */
    append_and_die(dir, "b", 2);
    ck_assert_int_eq(stored_events(dir, 1, &last), 9);
    ck_assert_uint_eq(last, 9);
    enc_err err = {0};
    int rc;
    struct evstore *s = open_at(dir, 0, 0, &err, &rc);
    ck_assert_int_eq(rc, 0);
    struct sc_list a = sc_user(s, "a", 0), b = sc_user(s, "b", 0);
    ck_assert_int_eq(a.n, 7);
    ck_assert_int_eq(b.n, 2);
    ck_assert_uint_eq(b.seq[0], 9); /* newest first, numbered after the 7 */
    ck_assert_uint_eq(a.seq[0], 7);
    /* the ids of all of them are known: repeats are duplicates */
    struct ev_event again[2] = {sc_ev("a", "i", "play", "a-6", T0),
                                sc_ev("b", "i", "play", "b-1", T0)};
    size_t acc, dup;
    ck_assert_int_eq(evstore_append(s, again, 2, T0, &acc, &dup, &err), 0);
    ck_assert_uint_eq(acc, 0);
    ck_assert_uint_eq(dup, 2);
    evstore_close(s);
    ck_assert_int_eq(stored_events(dir, 0, NULL), 9);
    ck_assert_int_eq(stored_events(dir, 1, NULL), 9);
}
END_TEST

/* No room for the write-ahead file (here a file size limit, as a full disk
 * would refuse it): the store still opens and commits through LMDB. */
START_TEST(no_room_for_the_write_ahead_file)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", sc_location());
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN); /* a write past the limit fails with EFBIG */
        struct rlimit lim = {256 * 1024, 256 * 1024};
        if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
            _exit(2);
        enc_err err = {0};
        int rc;
        struct evstore *s = open_at(dir, 0, 0, &err, &rc);
        if (rc)
            _exit(3);
        for (int i = 0; i < 5; i++) {
            struct ev_event ev = sc_ev("nowal", "i", "play", NULL, T0 + i);
            if (evstore_append(s, &ev, 1, T0, NULL, NULL, &err) != 0)
                _exit(4);
        }
        _exit(0); /* no close: what is stored was committed through LMDB */
    }
    int status;
    waitpid(pid, &status, 0);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    ck_assert_int_eq(stored_events(dir, 1, NULL), 5);
    ck_assert_int_eq(stored_events(dir, 0, NULL), 5); /* and now with a file */
}
END_TEST

/* A request that must go through an LMDB transaction (a recommendation id
 * is counted there) takes the write-ahead records along, in order. */
START_TEST(write_ahead_records_then_lmdb)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", sc_location());
    enc_err err = {0};
    int rc;
    struct evstore *s = open_at(dir, 0, 0, &err, &rc);
    ck_assert_int_eq(rc, 0);
    for (int i = 0; i < 3; i++) {
        struct ev_event ev = sc_ev("u", "i", "play", NULL, T0 + i);
        ck_assert_int_eq(evstore_append(s, &ev, 1, T0, NULL, NULL, &err), 0);
    }
    struct ev_event ev = sc_ev("u", "j", "click", NULL, T0 + 3);
    ev.rec_id = "rec-1", ev.rec_len = 5;
    ck_assert_int_eq(evstore_append(s, &ev, 1, T0, NULL, NULL, &err), 0);
    ev = sc_ev("u", "k", "play", NULL, T0 + 4);
    ck_assert_int_eq(evstore_append(s, &ev, 1, T0, NULL, NULL, &err), 0);
    struct sc_list l = sc_user(s, "u", 0);
    ck_assert_int_eq(l.n, 5);
    for (int i = 0; i < 5; i++)
        ck_assert_uint_eq(l.seq[i], (uint64_t)(5 - i));
    ck_assert_str_eq(l.rec[1], "rec-1");
    evstore_close(s);
    ck_assert_int_eq(stored_events(dir, 1, NULL), 5);
    s = open_at(dir, 0, 0, &err, &rc);
    ck_assert_int_eq(sc_user(s, "u", 0).n, 5);
    evstore_close(s);
}
END_TEST

static struct evstore *open_merging(const char *dir, int64_t merge_events, int64_t cap)
{
    struct evstore_options o;
    evstore_options_default(&o);
    o.location = dir;
    o.merge_events = merge_events;
    o.user_cap = cap;
    struct evstore *s = NULL;
    enc_err err = {0};
    ck_assert_msg(evstore_open(&o, &s, &err) == 0, "%s", err.msg);
    return s;
}

static int sc_count_event(void *arg, const struct ev_event *e)
{
    (*(int *)arg)++;
    return 0;
}

static int count_items(void *arg, const char *id, size_t len)
{
    (*(int *)arg)++;
    return 0;
}

/* Appends go to a log that is merged into the indexes later: reads, the
 * duplicate check, scans and stats see events on both sides, before and
 * after a merge, across a reopen with an unmerged log, and read-only. */
START_TEST(log_and_merge)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", sc_location());
    struct evstore *s = open_merging(dir, 1000000, 4); /* no merge by size */
    enc_err err = {0};
    struct ev_event ev[3] = {sc_ev("u", "a", "play", "k1", T0), sc_ev("u", "b", "play", "k2", T0),
                             sc_ev("v", "a", "like", NULL, T0)};
    size_t acc, dup;
    ck_assert_int_eq(evstore_append(s, ev, 3, T0, &acc, &dup, &err), 0);
    ck_assert_int_eq(evstore_compact(s, T0, NULL, &err), 0); /* merges: k1, k2 indexed */
    struct ev_event more[4] = {sc_ev("u", "c", "play", "k3", T0), sc_ev("u", "d", "play", "k1", T0),
                               sc_ev("w", "c", "play", NULL, T0),
                               sc_ev("u", "e", "play", NULL, T0)};
    ck_assert_int_eq(evstore_append(s, more, 4, T0, &acc, &dup, &err), 0);
    ck_assert_uint_eq(acc, 3); /* k1 is in the index */
    ck_assert_uint_eq(dup, 1);
    ck_assert_int_eq(evstore_append(s, more, 1, T0, &acc, &dup, &err), 0);
    ck_assert_uint_eq(dup, 1); /* k3 is in the log */
    /* u: e, c (log) then b, a (index); the cap (4) holds on reads */
    struct sc_list l = sc_user(s, "u", 0);
    ck_assert_int_eq(l.n, 4);
    ck_assert_str_eq(l.item[0], "e");
    ck_assert_str_eq(l.item[1], "c");
    ck_assert_str_eq(l.item[2], "b");
    ck_assert_str_eq(l.item[3], "a");
    ck_assert(l.seq[0] > l.seq[1] && l.seq[1] > l.seq[2]);
    ck_assert_int_eq(sc_user(s, "u", 3).n, 3);
    ck_assert_int_eq(sc_item(s, "c").n, 2);
    ck_assert_int_eq(sc_item(s, "a").n, 2);
    int items = 0;
    ck_assert_int_eq(evstore_event_items(s, count_items, &items, &err), 0);
    ck_assert_int_eq(items, 4); /* a, b (index), a, c, e (log): each once */
    struct evstore_stats st;
    ck_assert_int_eq(evstore_stats(s, &st, &err), 0);
    ck_assert_int_eq(st.events, 6);
    ck_assert_int_eq(st.users, 3);
    evstore_close(s);
    /* reopened: the log is the tail again */
    s = open_merging(dir, 1000000, 4);
    ck_assert_int_eq(evstore_append(s, more, 1, T0, &acc, &dup, &err), 0);
    ck_assert_uint_eq(dup, 1);
    ck_assert_int_eq(sc_user(s, "u", 0).n, 4);
    evstore_close(s);
    /* read-only, as the trainer: the log is scanned */
    int rc;
    s = open_at(dir, 1, 0, &err, &rc);
    ck_assert_int_eq(rc, 0);
    l = sc_user(s, "u", 0);
    ck_assert_int_eq(l.n, 4);
    ck_assert_str_eq(l.item[0], "e");
    ck_assert_int_eq(sc_item(s, "c").n, 2);
    int scanned = 0;
    ck_assert_int_eq(evstore_scan(s, sc_count_event, &scanned, &err), 0);
    ck_assert_int_eq(scanned, 6);
    evstore_close(s);
    /* erasure merges first; the cap applies at the merge */
    s = open_merging(dir, 2, 3);
    size_t removed = 0;
    ck_assert_int_eq(evstore_erase_user(s, "w", 1, T0, &removed, &err), 0);
    ck_assert_uint_eq(removed, 1);
    ck_assert_int_eq(sc_item(s, "a").n, 1); /* u's "a" was capped away at the merge */
    ck_assert_int_eq(evstore_stats(s, &st, &err), 0);
    ck_assert_int_eq(st.events, 4); /* u: b, c, e; v: a */
    /* merge_events 2: merged by the writer after this request */
    struct ev_event last[2] = {sc_ev("x", "f", "play", NULL, T0),
                               sc_ev("x", "g", "play", NULL, T0)};
    ck_assert_int_eq(evstore_append(s, last, 2, T0, NULL, NULL, &err), 0);
    ck_assert_int_eq(sc_user(s, "x", 0).n, 2);
    evstore_close(s);
    s = open_at(dir, 1, 0, &err, &rc);
    ck_assert_int_eq(sc_user(s, "x", 0).n, 2);
    ck_assert_int_eq(evstore_stats(s, &st, &err), 0);
    ck_assert_int_eq(st.events, 6);
    evstore_close(s);
}
END_TEST

int main(void)
{
    base = tu_tmpdir();
    if (!base)
        return 1;
    Suite *s = suite_create("store_lmdb");
    TCase *tc = tcase_create("store_lmdb");
    tcase_set_timeout(tc, 120);
    sc_add_common(tc);
    tcase_add_test(tc, reopen_keeps_everything);
    tcase_add_test(tc, missing_store_read_only);
    tcase_add_test(tc, full_map_is_all_or_nothing);
    tcase_add_test(tc, acknowledged_survives_kill);
    tcase_add_test(tc, write_ahead_file_after_crash);
    tcase_add_test(tc, write_ahead_records_then_lmdb);
    tcase_add_test(tc, no_room_for_the_write_ahead_file);
    tcase_add_test(tc, log_and_merge);
    suite_add_tcase(s, tc);
    int rc = tu_run(s);
    tu_rmrf(base);
    free(base);
    return rc;
}
