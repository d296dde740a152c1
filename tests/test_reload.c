/*
 * test_reload.c - server/reload.c's decisions, on a real libuv loop and a real
 * registry over a temporary repository (no HTTP):
 *   an admin request (it has a callback) loads, answers 0 when current, retries
 *   a refused version and pins an exact one, and -1 drops the pin; a watch
 *   request (no callback) does not retry a refused version and is merged with
 *   one already queued for the same name; the queue holds 64; a cancelled
 *   callback never runs; reload_stop answers every waiting request "shutting
 *   down"; with watching on, a version or a model dropped into the repository
 *   is loaded without being asked.
 *   A load that hangs (a file system that does not answer) is abandoned after
 *   load_timeout: its admin request is answered, the queue goes on, and when
 *   it ends its version is installed, unless a later reload of the same
 *   model has finished meanwhile (model_load is wrapped to hang on demand).
 * reload.c keeps one reloader per process: each test runs in its own forked
 * process (Check's default), so each starts a fresh one.
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/repo.h"
#include "mf/mf.h"
#include "registry.h"
#include "reload.h"
#include "server.h"
#include "testutil.h"

static char *repo;
static struct server srv;
static uv_loop_t loop;

/* wrap: model_load */
/* model_load, made to hang for one model and version until released (a
 * file system that stops answering); every other call passes through. */
int __real_model_load(const char *name, int64_t version, const char *path,
                      const struct model_load_opts *opts, struct model **out, enc_err *err);
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    const char *name;
    int64_t version;
    int released, ended;
} hang = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

int __wrap_model_load(const char *name, int64_t version, const char *path,
                      const struct model_load_opts *opts, struct model **out, enc_err *err);
int __wrap_model_load(const char *name, int64_t version, const char *path,
                      const struct model_load_opts *opts, struct model **out, enc_err *err)
{
    pthread_mutex_lock(&hang.mu);
    int stuck = hang.name && !strcmp(name, hang.name) && version == hang.version;
    while (stuck && !hang.released)
        pthread_cond_wait(&hang.cv, &hang.mu);
    pthread_mutex_unlock(&hang.mu);
    int rc = __real_model_load(name, version, path, opts, out, err);
    if (stuck) {
        pthread_mutex_lock(&hang.mu);
        hang.ended = 1;
        pthread_mutex_unlock(&hang.mu);
    }
    return rc;
}

static void hang_on(const char *name, int64_t version)
{
    pthread_mutex_lock(&hang.mu);
    hang.name = name;
    hang.version = version;
    hang.released = hang.ended = 0;
    pthread_mutex_unlock(&hang.mu);
}

static void hang_release(void)
{
    pthread_mutex_lock(&hang.mu);
    hang.released = 1;
    pthread_cond_broadcast(&hang.cv);
    pthread_mutex_unlock(&hang.mu);
}

static int hang_ended(void *arg)
{
    pthread_mutex_lock(&hang.mu);
    int e = hang.ended;
    pthread_mutex_unlock(&hang.mu);
    return e;
}

/* Write REPO/NAME/VERSION with factors scaled by `scale`. */
static void publish(const char *name, int64_t version, float scale)
{
    enum { U = 3, I = 4, F = 2 };
    float uf[U * F], itf[I * F], pop[I] = {4, 3, 2, 1};
    for (int i = 0; i < U * F; i++)
        uf[i] = scale * (float)(i + 1);
    for (int i = 0; i < I * F; i++)
        itf[i] = scale * (float)(I * F - i);
    char *uids[U] = {"u0", "u1", "u2"}, *iids[I] = {"i0", "i1", "i2", "i3"};
    int64_t off[U + 1] = {0, 1, 1, 2};
    int32_t seen[2] = {0, 3};
    struct mf_data d = {.n_users = U,
                        .n_items = I,
                        .factors = F,
                        .user_factors = uf,
                        .item_factors = itf,
                        .user_ids = uids,
                        .item_ids = iids,
                        .seen_offsets = off,
                        .seen_items = seen,
                        .item_popularity = pop,
                        .algorithm = "als",
                        .regularization = 0.1,
                        .alpha = 1};
    char out[PATH_MAX];
    snprintf(out, sizeof out, "%s/%s", repo, name);
    enc_err err = {0};
    int64_t v;
    ck_assert_msg(model_save(&mf_ops, &d, NULL, "test", out, version, &v, &err) == 0, "%s",
                  err.msg);
}

/* A version whose file is not a model (refused at load). Written the way a
 * trainer publishes (temp dir, rename) so that a watch sees one event. */
static void publish_corrupt(const char *name, int64_t version)
{
    char tmp[PATH_MAX], dir[PATH_MAX], path[PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s/%s/.tmp-corrupt", repo, name);
    snprintf(dir, sizeof dir, "%s/%s/%lld", repo, name, (long long)version);
    snprintf(path, sizeof path, "%s/%s", tmp, ST_FILE_NAME);
    ck_assert_int_eq(tu_mkdirs(tmp), 0);
    ck_assert_int_eq(tu_write_file(path, "\x10\0\0\0\0\0\0\0{\"x\":1}", 15), 0);
    ck_assert_int_eq(rename(tmp, dir), 0);
}

static int64_t served(const char *name)
{
    struct model *m = registry_get(srv.reg, name, 0);
    int64_t v = m ? m->version : 0;
    model_unref(m);
    return v;
}

/* ---- a request's answer ------------------------------------------------ */

struct answer {
    int called, rc;
    int64_t version;
    char msg[256];
};

static void done(void *arg, int rc, int64_t version, const char *msg)
{
    struct answer *a = arg;
    a->called++;
    a->rc = rc;
    a->version = version;
    snprintf(a->msg, sizeof a->msg, "%s", msg);
}

/* Run the loop until `cond(arg)` holds; fails after ~20 s (generous: a
 * loaded machine under a sanitizer). */
static void run_until(int (*cond)(void *), void *arg, const char *what)
{
    for (int i = 0; i < 2000 && !cond(arg); i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        if (!cond(arg))
            uv_sleep(10);
    }
    ck_assert_msg(cond(arg), "timed out waiting for %s", what);
}

static int answered(void *arg)
{
    return ((struct answer *)arg)->called > 0;
}

struct want {
    const char *name;
    int64_t version;
};

static int serving(void *arg)
{
    struct want *w = arg;
    return served(w->name) == w->version;
}

static int refused(void *arg)
{
    struct want *w = arg;
    return registry_refused(srv.reg, w->name, w->version) == 1;
}

/* Ask for NAME (version as reload_request takes it) and wait for the answer. */
static struct answer ask(const char *name, int64_t version)
{
    struct answer a = {0};
    ck_assert_uint_gt(reload_request(name, version, done, &a), 0);
    run_until(answered, &a, "the answer");
    ck_assert_int_eq(a.called, 1);
    return a;
}

static void start(int watch)
{
    repo = tu_tmpdir();
    ck_assert_ptr_nonnull(repo);
    publish("demo", 1, 1);
    memset(&srv, 0, sizeof srv);
    config_defaults(&srv.cfg);
    srv.cfg.models = repo;
    srv.cfg.watch = watch;
    enc_err err = {0};
    ck_assert_int_eq(registry_new(repo, 1, NULL, &srv.reg, &err), 0);
    ck_assert_int_eq(registry_load_all(srv.reg, &err), 1);
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    ck_assert_msg(reload_start(&srv, &loop, &err) == 0, "%s", err.msg);
}

static void stop(void)
{
    reload_stop();
    uv_run(&loop, UV_RUN_DEFAULT); /* the closed handles' callbacks; a running load ends */
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    registry_free(srv.reg);
    tu_rmrf(repo);
    free(repo);
}

/* ---- tests ----------------------------------------------------------------- */

START_TEST(admin_loads_then_answers_current)
{
    start(0);
    struct answer a = ask("demo", 0);
    ck_assert_int_eq(a.rc, 0); /* nothing new: current, with its version */
    ck_assert_int_eq(a.version, 1);
    publish("demo", 2, 2);
    a = ask("demo", 0);
    ck_assert_int_eq(a.rc, 1);
    ck_assert_int_eq(a.version, 2);
    ck_assert_int_eq(served("demo"), 2);
    /* an unknown model: refused with a message naming it */
    a = ask("nope", 0);
    ck_assert_int_lt(a.rc, 0);
    ck_assert_ptr_nonnull(strstr(a.msg, "nope"));
    ck_assert_int_eq(served("demo"), 2);
    stop();
}
END_TEST

START_TEST(refused_version_keeps_serving)
{
    start(0);
    publish_corrupt("demo", 2);
    struct answer a = ask("demo", 0);
    ck_assert_int_lt(a.rc, 0); /* an admin request reports the refusal */
    ck_assert_msg(a.msg[0] != '\0', "a refusal says why");
    ck_assert_int_eq(served("demo"), 1);
    ck_assert_int_eq(registry_refused(srv.reg, "demo", 2), 1);
    /* asked again, an admin request tries the refused version again */
    a = ask("demo", 0);
    ck_assert_int_lt(a.rc, 0);
    /* a fixed file under a new version number is loaded */
    publish("demo", 3, 3);
    a = ask("demo", 0);
    ck_assert_int_eq(a.rc, 1);
    ck_assert_int_eq(a.version, 3);
    stop();
}
END_TEST

START_TEST(exact_version_pins_and_latest_unpins)
{
    start(0);
    publish("demo", 2, 2);
    struct answer a = ask("demo", 0);
    ck_assert_int_eq(a.version, 2);
    a = ask("demo", 1); /* rollback: exactly version 1, pinned on this replica */
    ck_assert_int_eq(a.rc, 1);
    ck_assert_int_eq(a.version, 1);
    ck_assert_int_eq(served("demo"), 1);
    /* a watch-style request (no callback) leaves the pinned version alone */
    publish("demo", 3, 3);
    ck_assert_uint_gt(reload_request("demo", 0, NULL, NULL), 0);
    a = ask("demo", 0); /* queued behind it: answered after it ran */
    ck_assert_int_eq(served("demo"), 1);
    a = ask("demo", -1); /* "latest": drop the pin, follow the repository */
    ck_assert_int_eq(a.rc, 1);
    ck_assert_int_eq(a.version, 3);
    ck_assert_int_eq(served("demo"), 3);
    /* an exact version that does not exist is refused; what is served stays */
    a = ask("demo", 9);
    ck_assert_int_lt(a.rc, 0);
    ck_assert_int_eq(served("demo"), 3);
    stop();
}
END_TEST

START_TEST(queue_merges_limits_and_cancels)
{
    start(0);
    publish("demo", 2, 2);
    /* the loop does not run yet: requests only queue */
    uint64_t t1 = reload_request("demo", 0, NULL, NULL);
    uint64_t t2 = reload_request("demo", 0, NULL, NULL);
    ck_assert_uint_gt(t1, 0);
    ck_assert_uint_eq(t2, t1); /* a watch event for a queued name adds nothing */
    struct answer cancelled = {0}, kept[70];
    memset(kept, 0, sizeof kept);
    uint64_t tc = reload_request("demo", 0, done, &cancelled);
    ck_assert_uint_gt(tc, 0);
    ck_assert_uint_ne(tc, t1); /* an admin request is never merged */
    int queued = 2, refused = 0;
    for (int i = 0; i < 70; i++) {
        if (reload_request("demo", 0, done, &kept[i]))
            queued++;
        else
            refused++;
    }
    ck_assert_int_eq(queued, 64); /* MAX_QUEUED */
    ck_assert_int_eq(refused, 8);
    char longname[REPO_NAME_MAX + 2];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    ck_assert_uint_eq(reload_request(longname, 0, done, &kept[69]), 0);
    reload_cancel(tc);
    run_until(answered, &kept[61], "the last queued request");
    ck_assert_int_eq(cancelled.called, 0); /* cancelled: never called */
    ck_assert_int_eq(kept[0].rc, 0);       /* the merged watch job loaded version 2 first */
    ck_assert_int_eq(kept[0].version, 2);
    ck_assert_int_eq(kept[62].called, 0); /* refused ones were never queued */
    ck_assert_int_eq(served("demo"), 2);
    stop();
}
END_TEST

START_TEST(stop_answers_waiting_requests)
{
    start(0);
    struct answer a[3];
    memset(a, 0, sizeof a);
    for (int i = 0; i < 3; i++)
        ck_assert_uint_gt(reload_request("demo", 0, done, &a[i]), 0);
    reload_stop();
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(a[i].called, 1);
        ck_assert_int_eq(a[i].rc, ENC_EBUSY);
        ck_assert_str_eq(a[i].msg, "shutting down");
    }
    ck_assert_uint_eq(reload_request("demo", 0, done, &a[0]), 0); /* stopped: refused */
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(a[0].called, 1); /* ... and never answered twice */
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    registry_free(srv.reg);
    tu_rmrf(repo);
    free(repo);
}
END_TEST

START_TEST(reload_all_loads_new_models)
{
    start(0);
    publish("demo", 2, 2);
    publish("other", 1, 1);
    reload_all();
    struct want w1 = {"demo", 2}, w2 = {"other", 1};
    run_until(serving, &w1, "demo version 2");
    run_until(serving, &w2, "the new model");
    stop();
}
END_TEST

START_TEST(watch_loads_what_appears)
{
    start(1);
    publish("demo", 2, 2); /* a new version in a watched model directory */
    struct want w = {"demo", 2};
    run_until(serving, &w, "the watched version");
    publish("fresh", 1, 1); /* a new model directory in the watched repository */
    struct want f = {"fresh", 1};
    run_until(serving, &f, "the new model directory");
    publish_corrupt("demo", 3); /* tried, refused: version 2 keeps serving */
    struct want r3 = {"demo", 3};
    run_until(refused, &r3, "the refusal of a corrupt version");
    ck_assert_int_eq(served("demo"), 2);
    publish("demo", 4, 4);
    struct want w4 = {"demo", 4};
    run_until(serving, &w4, "the version after a refused one");
    stop();
}
END_TEST

/* A load that hangs used to hold the queue forever: every later reload,
 * admin or watch, waited behind it. */
START_TEST(stuck_load_is_abandoned)
{
    start(0);
    srv.cfg.load_timeout = 1;
    publish("stuck", 1, 1);
    hang_on("stuck", 1);
    struct answer a = {0};
    ck_assert_uint_gt(reload_request("stuck", 0, done, &a), 0);
    run_until(answered, &a, "the answer to the stuck load");
    ck_assert_int_eq(a.rc, ENC_EBUSY);
    ck_assert_msg(strstr(a.msg, "load_timeout") != NULL, "%s", a.msg);
    /* the queue went on */
    publish("demo", 2, 2);
    struct answer b = ask("demo", 0);
    ck_assert_int_eq(b.rc, 1);
    ck_assert_int_eq(b.version, 2);
    /* the abandoned load ends: nothing later decided about "stuck", so
     * its version is installed */
    hang_release();
    struct want w = {"stuck", 1};
    run_until(serving, &w, "the abandoned load's version");
    ck_assert_int_eq(a.called, 1); /* answered once */
    stop();
}
END_TEST

/* An abandoned load that ends after a later reload of its model installed
 * something else is dropped, and does not pin its version (either would
 * roll back the later choice). */
START_TEST(abandoned_load_superseded_is_dropped)
{
    start(0);
    srv.cfg.load_timeout = 1;
    publish("demo", 2, 2);
    publish("demo", 3, 3);
    hang_on("demo", 3);
    struct answer a = {0};
    ck_assert_uint_gt(reload_request("demo", 3, done, &a), 0); /* pin 3: hangs */
    struct answer b = ask("demo", 2); /* queued behind it: answered once it is abandoned */
    ck_assert_int_eq(a.rc, ENC_EBUSY);
    ck_assert_int_eq(b.rc, 1);
    ck_assert_int_eq(b.version, 2);
    hang_release();
    run_until(hang_ended, NULL, "the end of the abandoned load");
    /* handled before this answer: had it installed 3, or pinned 3, this
     * request would have loaded a version again (rc 1) */
    struct answer c = ask("demo", 0);
    ck_assert_int_eq(c.rc, 0);
    ck_assert_int_eq(c.version, 2);
    ck_assert_int_eq(served("demo"), 2);
    stop();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("reload");
    TCase *tc = tcase_create("reload");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, admin_loads_then_answers_current);
    tcase_add_test(tc, refused_version_keeps_serving);
    tcase_add_test(tc, exact_version_pins_and_latest_unpins);
    tcase_add_test(tc, queue_merges_limits_and_cancels);
    tcase_add_test(tc, stop_answers_waiting_requests);
    tcase_add_test(tc, reload_all_loads_new_models);
    tcase_add_test(tc, watch_loads_what_appears);
    tcase_add_test(tc, stuck_load_is_abandoned);
    tcase_add_test(tc, abandoned_load_superseded_is_dropped);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
