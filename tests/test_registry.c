/*
 * test_registry.c - server/registry.c: the highest version is served,
 * versions_kept older ones stay loaded, a request's reference outlives the
 * swap, a refused version leaves the served one alone and is not retried
 * while its file is unchanged (unless asked), and the counters behind
 * /metrics.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/repo.h"
#include "mf/mf.h"
#include "registry.h"
#include "testutil.h"

static char *repo;

/* Write REPO/demo/VERSION with factors scaled by `scale` (so versions differ). */
static void publish(int64_t version, float scale)
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
    snprintf(out, sizeof out, "%s/demo", repo);
    enc_err err = {0};
    int64_t v;
    ck_assert_msg(model_save(&mf_ops, &d, NULL, "test", out, version, &v, &err) == 0, "%s",
                  err.msg);
    ck_assert_int_eq(v, version);
}

static void corrupt(int64_t version)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/demo/%lld", repo, (long long)version);
    snprintf(path, sizeof path, "%s/%s", dir, ST_FILE_NAME);
    ck_assert_int_eq(tu_mkdirs(dir), 0);
    ck_assert_int_eq(tu_write_file(path, "\x10\0\0\0\0\0\0\0{\"x\":1}", 15), 0);
}

static void setup(void)
{
    repo = tu_tmpdir();
}

static void teardown(void)
{
    tu_rmrf(repo);
    free(repo);
}

START_TEST(highest_version_served_and_kept_versions)
{
    publish(1, 1);
    publish(2, 2);
    struct registry *r;
    enc_err err = {0};
    ck_assert_int_eq(registry_new(repo, 2, NULL, &r, &err), 0);
    ck_assert_int_eq(registry_load_all(r, &err), 1);
    struct model *m = registry_get(r, "demo", 0);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(m->version, 2);
    model_unref(m);
    ck_assert_ptr_null(registry_get(r, "demo", 1)); /* never loaded */
    /* an exact older version: served and pinned on this replica (rollback) */
    ck_assert_int_eq(registry_reload(r, "demo", 1, &err), 1);
    m = registry_get(r, "demo", 0);
    ck_assert_int_eq(m->version, 1);
    model_unref(m);
    m = registry_get(r, "demo", 2); /* still loaded (versions_kept 2) */
    ck_assert_ptr_nonnull(m);
    model_unref(m);
    /* pinned: a new version is not taken ... */
    publish(3, 3);
    struct model *nm = NULL;
    ck_assert_int_eq(registry_prepare(r, "demo", 0, 0, &nm, &err), 0);
    ck_assert_ptr_null(nm);
    json_t *pd = registry_describe(r, "demo");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(pd, "pinned"), "by")),
                     "replica");
    json_decref(pd);
    /* ... until unpinned: then served; with versions_kept 2 the oldest goes */
    ck_assert_int_eq(registry_prepare(r, "demo", 0, REG_UNPIN, &nm, &err), 1);
    registry_install(r, nm);
    ck_assert_int_eq(registry_reload(r, "demo", 0, &err), 0); /* already current */
    json_t *d = registry_describe(r, "demo");
    json_t *vs = json_object_get(d, "versions");
    ck_assert_int_eq(json_array_size(vs), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(vs, 0), "version")), 3);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(vs, 0), "state")), "serving");
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(vs, 1), "version")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(vs, 1), "state")), "loaded");
    json_decref(d);
    ck_assert_ptr_null(registry_get(r, "demo", 2)); /* least recently served */
    struct registry_stats st;
    registry_stats(r, &st);
    ck_assert_int_eq(st.loads, 3);
    ck_assert_int_eq(st.reloads, 2); /* 1 over 2, 3 over 1 */
    ck_assert_int_eq(st.load_failures, 0);
    ck_assert_int_eq(registry_count(r), 1);
    registry_free(r);
}
END_TEST

START_TEST(reference_outlives_the_swap)
{
    publish(1, 1);
    struct registry *r;
    enc_err err = {0};
    ck_assert_int_eq(registry_new(repo, 1, NULL, &r, &err), 0);
    ck_assert_int_eq(registry_load_all(r, &err), 1);
    struct model *held = registry_get(r, "demo", 0); /* a request in flight */
    publish(2, 2);
    ck_assert_int_eq(registry_reload(r, "demo", 0, &err), 1);
    ck_assert_ptr_null(registry_get(r, "demo", 1)); /* dropped from the registry */
    /* ...but the request's reference still reads the old file */
    ck_assert_int_eq(held->version, 1);
    const st_tensor *t = st_find(held->file, "user_factors");
    ck_assert_ptr_nonnull(t);
    ck_assert_float_eq(((const float *)t->data)[0], 1.0f);
    model_unref(held); /* freed here (ASan/valgrind would flag a double free or leak) */
    struct model *cur = registry_get(r, "demo", 0);
    t = st_find(cur->file, "user_factors");
    ck_assert_float_eq(((const float *)t->data)[0], 2.0f);
    model_unref(cur);
    registry_free(r);
}
END_TEST

START_TEST(refused_version_keeps_the_old_one_and_is_not_retried)
{
    publish(1, 1);
    struct registry *r;
    enc_err err = {0};
    ck_assert_int_eq(registry_new(repo, 1, NULL, &r, &err), 0);
    ck_assert_int_eq(registry_load_all(r, &err), 1);
    corrupt(2);
    struct model *m = NULL;
    ck_assert_int_lt(registry_prepare(r, "demo", 0, 0, &m, &err), 0);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(err.msg, "demo/2") != NULL, "%s", err.msg);
    struct model *cur = registry_get(r, "demo", 0);
    ck_assert_int_eq(cur->version, 1);
    model_unref(cur);
    /* unchanged file: skipped quietly, not counted again */
    ck_assert_int_eq(registry_prepare(r, "demo", 0, 0, &m, &err), 0);
    struct registry_stats st;
    registry_stats(r, &st);
    ck_assert_int_eq(st.load_failures, 1);
    /* asked explicitly: tried (and refused) again */
    ck_assert_int_lt(registry_prepare(r, "demo", 0, 1, &m, &err), 0);
    registry_stats(r, &st);
    ck_assert_int_eq(st.load_failures, 2);
    json_t *d = registry_describe(r, "demo");
    ck_assert_int_eq(json_integer_value(json_object_get(d, "load_failures")), 2);
    json_decref(d);
    /* the file replaced by a good one: loaded on the next plain reload */
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/demo/2", repo);
    tu_rmrf(path);
    publish(2, 2);
    ck_assert_int_eq(registry_prepare(r, "demo", 0, 0, &m, &err), 1);
    ck_assert_int_eq(m->version, 2);
    registry_install(r, m);
    cur = registry_get(r, "demo", 0);
    ck_assert_int_eq(cur->version, 2);
    model_unref(cur);
    registry_free(r);
}
END_TEST

/* A bad newest version is passed over for the highest one that loads, at
 * startup and on reload; readiness "all" needs every model served. */
START_TEST(highest_valid_version_and_readiness)
{
    publish(1, 1);
    publish(2, 2);
    corrupt(3);
    struct registry *r;
    enc_err err = {0};
    ck_assert_int_eq(registry_new(repo, 1, NULL, &r, &err), 0);
    ck_assert_int_eq(registry_load_all(r, &err), 1);
    struct model *m = registry_get(r, "demo", 0);
    ck_assert_int_eq(m->version, 2);
    model_unref(m);
    struct registry_stats st;
    registry_stats(r, &st);
    ck_assert_int_eq(st.load_failures, 1);
    ck_assert(registry_refused(r, "demo", 3));
    /* a later check neither retries nor recounts 3, nor moves off 2 */
    ck_assert_int_eq(registry_prepare(r, "demo", 0, 0, &m, &err), 0);
    registry_stats(r, &st);
    ck_assert_int_eq(st.load_failures, 1);
    ck_assert(registry_ready(r, 1, NULL, 0));
    /* a model with no valid version: ready under "any", not under "all" */
    char dir[PATH_MAX], path[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/bad/1", repo);
    ck_assert_int_eq(tu_mkdirs(dir), 0);
    snprintf(path, sizeof path, "%s/%s", dir, ST_FILE_NAME);
    ck_assert_int_eq(tu_write_file(path, "garbage", 7), 0);
    ck_assert_int_lt(registry_reload(r, "bad", 0, &err), 0);
    char missing[64];
    ck_assert(!registry_ready(r, 1, missing, sizeof missing));
    ck_assert_str_eq(missing, "bad");
    ck_assert(registry_ready(r, 0, NULL, 0));
    /* known but unserved (the handlers answer 503), as against unknown (404) */
    ck_assert(registry_known(r, "bad"));
    ck_assert(registry_get(r, "bad", 0) == NULL);
    ck_assert(registry_known(r, "demo"));
    ck_assert(!registry_known(r, "nosuch"));
    registry_free(r);
}
END_TEST

/* REPO/NAME/pinned: every replica serves that version; a replica pin wins
 * over it; a malformed pin file changes nothing. */
START_TEST(repository_pin)
{
    publish(1, 1);
    publish(2, 2);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/demo", repo);
    enc_err err = {0};
    ck_assert_int_eq(repo_write_pin(dir, 1, &err), 0);
    ck_assert_int_eq(repo_write_pin(dir, 9, &err), ENC_ENOTFOUND); /* no such version */
    struct registry *r;
    ck_assert_int_eq(registry_new(repo, 1, NULL, &r, &err), 0);
    ck_assert_int_eq(registry_load_all(r, &err), 1);
    struct model *m = registry_get(r, "demo", 0);
    ck_assert_int_eq(m->version, 1);
    model_unref(m);
    json_t *d = registry_describe(r, "demo");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(d, "pinned"), "by")),
                     "repository");
    json_decref(d);
    /* a malformed pin: error, version 1 stays */
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/pinned", dir);
    ck_assert_int_eq(tu_write_file(path, "two\n", 4), 0);
    ck_assert_int_eq(registry_reload(r, "demo", 0, &err), ENC_EINVAL);
    ck_assert_msg(strstr(err.msg, "not a version number") != NULL, "%s", err.msg);
    m = registry_get(r, "demo", 0);
    ck_assert_int_eq(m->version, 1);
    model_unref(m);
    /* unpinned: the highest */
    ck_assert_int_eq(repo_write_pin(dir, 0, &err), 0);
    ck_assert_int_eq(registry_reload(r, "demo", 0, &err), 1);
    m = registry_get(r, "demo", 0);
    ck_assert_int_eq(m->version, 2);
    model_unref(m);
    /* pruning keeps the newest and the pinned */
    publish(3, 3);
    ck_assert_int_eq(repo_write_pin(dir, 1, &err), 0);
    int64_t removed = 0;
    ck_assert_int_eq(repo_prune(dir, 1, &removed, &err), 0);
    ck_assert_int_eq(removed, 1); /* 2 */
    int64_t *vs;
    size_t n;
    ck_assert_int_eq(repo_list_versions(dir, &vs, &n, &err), 0);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(vs[0], 1);
    ck_assert_int_eq(vs[1], 3);
    free(vs);
    registry_free(r);
}
END_TEST

START_TEST(bad_names_and_missing_models)
{
    publish(1, 1);
    struct registry *r;
    enc_err err = {0};
    struct model *m;
    ck_assert_int_eq(registry_new(repo, 1, NULL, &r, &err), 0);
    ck_assert_int_eq(registry_prepare(r, "../etc", 0, 1, &m, &err), ENC_EINVAL);
    ck_assert_int_eq(registry_prepare(r, ".hidden", 0, 1, &m, &err), ENC_EINVAL);
    ck_assert_int_eq(registry_prepare(r, "nosuch", 0, 1, &m, &err), ENC_ENOTFOUND);
    ck_assert_int_lt(registry_prepare(r, "demo", 7, 1, &m, &err), 0); /* no version 7 */
    ck_assert_ptr_null(registry_describe(r, "nosuch"));
    ck_assert_int_eq(registry_count(r), 0);
    registry_free(r);
    registry_free(NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("registry");
    TCase *tc = tcase_create("registry");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, highest_version_served_and_kept_versions);
    tcase_add_test(tc, reference_outlives_the_swap);
    tcase_add_test(tc, refused_version_keeps_the_old_one_and_is_not_retried);
    tcase_add_test(tc, highest_valid_version_and_readiness);
    tcase_add_test(tc, repository_pin);
    tcase_add_test(tc, bad_names_and_missing_models);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
