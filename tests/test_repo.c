/* test_repo.c - the model repository layout (models/core/repo.c): names,
 * which directories count as versions, publishing (next version, immutable
 * versions, nothing partial left behind), resolving a directory to its file,
 * pins and pruning. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/repo.h"
#include "core/st.h"
#include "testutil.h"

static char *root;

static void setup(void)
{
    root = tu_tmpdir();
    ck_assert_ptr_nonnull(root);
}

static void teardown(void)
{
    tu_rmrf(root);
    free(root);
}

static const char *at(const char *rel)
{
    static char buf[4][4096];
    static int slot;
    char *b = buf[slot++ % 4];
    snprintf(b, 4096, "%s/%s", root, rel);
    return b;
}

/* REPO/rel/model.safetensors holding `text` (not a valid model: the
 * repository layer never opens the files it lists). */
static void put_version(const char *rel, const char *text)
{
    char p[4200];
    ck_assert_int_eq(tu_mkdirs(at(rel)), 0);
    snprintf(p, sizeof p, "%s/%s", at(rel), ST_FILE_NAME);
    ck_assert_int_eq(tu_write_file(p, text, strlen(text)), 0);
}

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static st_writer *small_writer(void)
{
    st_writer *w = st_writer_new();
    ck_assert_ptr_nonnull(w);
    float x[2] = {1, 2};
    int64_t shape[1] = {2};
    ck_assert_int_eq(st_writer_add(w, "x", ST_F32, 1, shape, x), 0);
    ck_assert_int_eq(st_writer_meta(w, "family", "test"), 0);
    return w;
}

START_TEST(valid_names)
{
    ck_assert(repo_valid_name("a"));
    ck_assert(repo_valid_name("ml-100k_v2.x"));
    ck_assert(repo_valid_name("A.b-C_9"));
    ck_assert(!repo_valid_name(""));
    ck_assert(!repo_valid_name("."));
    ck_assert(!repo_valid_name(".."));
    ck_assert(!repo_valid_name(".hidden"));
    ck_assert(!repo_valid_name("../etc"));
    ck_assert(!repo_valid_name("a/b"));
    ck_assert(!repo_valid_name("a b"));
    ck_assert(!repo_valid_name("a:b"));
    ck_assert(!repo_valid_name("caf\xc3\xa9"));
    char name[REPO_NAME_MAX + 2];
    memset(name, 'x', sizeof name);
    name[REPO_NAME_MAX] = '\0';
    ck_assert(repo_valid_name(name));
    name[REPO_NAME_MAX] = 'x';
    name[REPO_NAME_MAX + 1] = '\0';
    ck_assert(!repo_valid_name(name));
    ck_assert(repo_is_url("s3://bucket/prefix/m"));
    ck_assert(repo_is_url("gs://bucket/m"));
    ck_assert(!repo_is_url("/models/m"));
    ck_assert(!repo_is_url("s3:/bucket"));
    ck_assert(!repo_is_url("http://x"));
}
END_TEST

START_TEST(versions_listed_and_ordered)
{
    put_version("m/1", "a");
    put_version("m/10", "b");
    put_version("m/2", "c");
    put_version("m/999999999999999999", "d"); /* 18 digits: the largest accepted */
    /* none of these is a version */
    put_version("m/0", "x");
    put_version("m/007", "x");
    put_version("m/-3", "x");
    put_version("m/3a", "x");
    put_version("m/1000000000000000000", "x"); /* 19 digits */
    put_version("m/.tmp-abc123", "x");
    ck_assert_int_eq(tu_mkdirs(at("m/4")), 0); /* a version directory without its file */
    ck_assert_int_eq(tu_write_file(at("m/5"), "plain file", 10), 0);
    int64_t *v;
    size_t n;
    enc_err err = {0};
    ck_assert_int_eq(repo_list_versions(at("m"), &v, &n, &err), 0);
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(v[0], 1);
    ck_assert_int_eq(v[1], 2);
    ck_assert_int_eq(v[2], 10);
    ck_assert_int_eq(v[3], 999999999999999999LL);
    free(v);
    int64_t latest;
    ck_assert_int_eq(repo_latest_version(at("m"), &latest, &err), 0);
    ck_assert_int_eq(latest, 999999999999999999LL);

    /* an empty model directory, and none at all */
    ck_assert_int_eq(tu_mkdirs(at("empty")), 0);
    ck_assert_int_eq(repo_list_versions(at("empty"), &v, &n, &err), 0);
    ck_assert_uint_eq(n, 0);
    free(v);
    ck_assert_int_eq(repo_latest_version(at("empty"), &latest, &err), ENC_ENOTFOUND);
    ck_assert_int_eq(latest, 0);
    ck_assert_ptr_nonnull(strstr(err.msg, ST_FILE_NAME));
    ck_assert_int_eq(repo_list_versions(at("missing"), &v, &n, &err), ENC_ENOTFOUND);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(repo_latest_version(at("missing"), &latest, &err), ENC_ENOTFOUND);
}
END_TEST

START_TEST(models_listed)
{
    put_version("zeta/1", "a");
    put_version("alpha/1", "a");
    ck_assert_int_eq(tu_mkdirs(at("no-versions-yet")), 0); /* listed: a model may come */
    ck_assert_int_eq(tu_mkdirs(at(".hidden")), 0);
    ck_assert_int_eq(tu_mkdirs(at("bad name")), 0);
    ck_assert_int_eq(tu_write_file(at("file"), "x", 1), 0);
    char **names;
    size_t n;
    enc_err err = {0};
    ck_assert_int_eq(repo_list_models(root, &names, &n, &err), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(names[0], "alpha");
    ck_assert_str_eq(names[1], "no-versions-yet");
    ck_assert_str_eq(names[2], "zeta");
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    ck_assert_int_eq(repo_list_models(at("missing"), &names, &n, &err), ENC_ENOTFOUND);
    ck_assert_ptr_null(names);
    ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(resolve)
{
    put_version("repo/m/1", "a");
    put_version("repo/m/3", "b");
    char *path, *name;
    int64_t v;
    enc_err err = {0};
    /* a model directory: its highest version */
    ck_assert_int_eq(repo_resolve(at("repo/m"), &path, &name, &v, &err), 0);
    ck_assert_str_eq(path, at("repo/m/3/" ST_FILE_NAME));
    ck_assert_str_eq(name, "m");
    ck_assert_int_eq(v, 3);
    free(path);
    free(name);
    /* with a trailing slash */
    ck_assert_int_eq(repo_resolve(at("repo/m/"), &path, &name, &v, &err), 0);
    ck_assert_str_eq(name, "m");
    ck_assert_int_eq(v, 3);
    free(path);
    free(name);
    /* a version directory: that version */
    ck_assert_int_eq(repo_resolve(at("repo/m/1"), &path, &name, &v, &err), 0);
    ck_assert_str_eq(path, at("repo/m/1/" ST_FILE_NAME));
    ck_assert_str_eq(name, "m");
    ck_assert_int_eq(v, 1);
    free(path);
    free(name);
    ck_assert_int_eq(repo_resolve(at("repo/m/1/"), &path, NULL, &v, &err), 0);
    ck_assert_int_eq(v, 1);
    free(path);
    /* the file itself */
    ck_assert_int_eq(repo_resolve(at("repo/m/1/" ST_FILE_NAME), &path, NULL, &v, &err), 0);
    ck_assert_str_eq(path, at("repo/m/1/" ST_FILE_NAME));
    free(path);
    /* refusals name the path */
    ck_assert_int_eq(repo_resolve(at("repo/m/2"), &path, NULL, NULL, &err), ENC_ENOTFOUND);
    ck_assert_ptr_null(path);
    ck_assert_ptr_nonnull(strstr(err.msg, "repo/m/2"));
    ck_assert_int_eq(tu_mkdirs(at("repo/m/7")), 0); /* a version directory without its file */
    ck_assert_int_eq(repo_resolve(at("repo/m/7"), &path, NULL, NULL, &err), ENC_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, ST_FILE_NAME));
    ck_assert_int_eq(tu_mkdirs(at("repo/empty")), 0);
    ck_assert_int_eq(repo_resolve(at("repo/empty"), &path, NULL, NULL, &err), ENC_ENOTFOUND);
}
END_TEST

/* No .tmp-* directory is left in a model directory. */
static void no_temp_left(const char *model_dir)
{
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -q '^\\.tmp-'", model_dir);
    ck_assert_msg(system(cmd) != 0, "a temporary directory was left in %s", model_dir);
}

START_TEST(publish)
{
    st_writer *w = small_writer();
    int64_t v = 0;
    enc_err err = {0};
    /* the model directory is created; the first version is 1, then the next free one */
    ck_assert_msg(repo_publish(w, at("repo/m"), 0, &v, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(repo_publish(w, at("repo/m"), 0, &v, &err), 0);
    ck_assert_int_eq(v, 2);
    ck_assert_int_eq(repo_publish(w, at("repo/m"), 7, &v, &err), 0); /* an explicit one */
    ck_assert_int_eq(v, 7);
    ck_assert_int_eq(repo_publish(w, at("repo/m"), 0, &v, &err), 0); /* after the highest */
    ck_assert_int_eq(v, 8);
    /* what was published opens as a safetensors file */
    st_file *f;
    ck_assert_msg(st_open(at("repo/m/8/" ST_FILE_NAME), &f, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(st_meta(f, "family"), "test");
    st_close(f);
    /* versions are immutable */
    ck_assert_int_eq(repo_publish(w, at("repo/m"), 2, &v, &err), ENC_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "immutable"));
    /* the name part must be a model name */
    ck_assert_int_eq(repo_publish(w, at("repo/bad name"), 0, &v, &err), ENC_EINVAL);
    ck_assert_int_eq(repo_publish(w, at("repo/.hidden"), 0, &v, &err), ENC_EINVAL);
    ck_assert(!exists(at("repo/bad name")));
    /* an object-storage URL without a publisher is refused, not written locally */
    repo_set_remote_publisher(NULL);
    ck_assert_int_eq(repo_publish(w, "s3://bucket/m", 0, &v, &err), ENC_EUNSUPPORTED);
    no_temp_left(at("repo/m"));
    /* a file copied in the same way */
    ck_assert_int_eq(repo_publish_file(at("repo/m/1/" ST_FILE_NAME), at("repo/copy"), 0, &v, &err),
                     0);
    ck_assert_int_eq(v, 1);
    size_t a_len, b_len;
    char *a = tu_read_file(at("repo/m/1/" ST_FILE_NAME), &a_len);
    char *b = tu_read_file(at("repo/copy/1/" ST_FILE_NAME), &b_len);
    ck_assert(a && b && a_len == b_len && memcmp(a, b, a_len) == 0);
    free(a);
    free(b);
    /* a missing source leaves nothing behind */
    ck_assert_int_eq(repo_publish_file(at("nope"), at("repo/copy"), 0, &v, &err), ENC_ENOTFOUND);
    ck_assert(!exists(at("repo/copy/2")));
    no_temp_left(at("repo/copy"));
    st_writer_free(w);
}
END_TEST

static int64_t remote_version;

static int fake_remote(const char *file, const char *out, int64_t version, int64_t *version_out,
                       enc_err *err)
{
    /* the complete local file exists while the publisher runs */
    struct stat sb;
    if (stat(file, &sb) != 0 || sb.st_size == 0)
        return enc_errf(err, ENC_EIO, "no file");
    ck_assert_str_eq(out, "s3://bucket/m");
    remote_version = version;
    *version_out = 5;
    return 0;
}

START_TEST(publish_remote_hands_a_complete_file)
{
    st_writer *w = small_writer();
    int64_t v = 0;
    enc_err err = {0};
    repo_set_remote_publisher(fake_remote);
    ck_assert_msg(repo_publish(w, "s3://bucket/m", 3, &v, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(v, 5);
    ck_assert_int_eq(remote_version, 3);
    repo_set_remote_publisher(NULL);
    st_writer_free(w);
}
END_TEST

START_TEST(pins)
{
    put_version("m/1", "a");
    put_version("m/2", "b");
    int64_t v = -1;
    enc_err err = {0};
    ck_assert_int_eq(repo_read_pin(at("m"), &v, &err), 0);
    ck_assert_int_eq(v, 0); /* no pin file */
    ck_assert_int_eq(repo_read_pin(at("missing"), &v, &err), 0);
    ck_assert_int_eq(v, 0);
    ck_assert_int_eq(repo_write_pin(at("m"), 1, &err), 0);
    ck_assert_int_eq(repo_read_pin(at("m"), &v, &err), 0);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(repo_write_pin(at("m"), 3, &err), ENC_ENOTFOUND); /* not in the repo */
    ck_assert_int_eq(repo_read_pin(at("m"), &v, &err), 0);
    ck_assert_int_eq(v, 1); /* unchanged */
    /* written by hand: surrounding whitespace is fine, anything else is refused */
    ck_assert_int_eq(tu_write_file(at("m/pinned"), " \t2\r\n", 5), 0);
    ck_assert_int_eq(repo_read_pin(at("m"), &v, &err), 0);
    ck_assert_int_eq(v, 2);
    const char *bad[] = {"", "latest", "0", "-1", "2 3", "02", "2x", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_int_eq(tu_write_file(at("m/pinned"), bad[i], strlen(bad[i])), 0);
        ck_assert_msg(repo_read_pin(at("m"), &v, &err) == ENC_EINVAL, "pin '%s' accepted", bad[i]);
        ck_assert_ptr_nonnull(strstr(err.msg, "pinned"));
        ck_assert_int_eq(v, 0);
    }
    ck_assert_int_eq(repo_write_pin(at("m"), 0, &err), 0); /* unpin */
    ck_assert(!exists(at("m/pinned")));
    ck_assert_int_eq(repo_write_pin(at("m"), 0, &err), 0); /* twice is fine */
}
END_TEST

START_TEST(prune_and_remove)
{
    for (int i = 1; i <= 5; i++) {
        char rel[32];
        snprintf(rel, sizeof rel, "m/%d", i);
        put_version(rel, "x");
    }
    ck_assert_int_eq(tu_write_file(at("m/3/notes.txt"), "extra", 5), 0);
    enc_err err = {0};
    int64_t removed = -1;
    ck_assert_int_eq(repo_prune(at("m"), 0, &removed, &err), ENC_EINVAL);
    ck_assert_int_eq(repo_write_pin(at("m"), 2, &err), 0);
    ck_assert_int_eq(repo_prune(at("m"), 2, &removed, &err), 0);
    ck_assert_int_eq(removed, 2); /* 1 and 3; 2 is pinned; 4 and 5 are kept */
    int64_t *v;
    size_t n;
    ck_assert_int_eq(repo_list_versions(at("m"), &v, &n, &err), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(v[0], 2);
    ck_assert_int_eq(v[1], 4);
    ck_assert_int_eq(v[2], 5);
    free(v);
    ck_assert(!exists(at("m/3"))); /* with its extra file */
    ck_assert_int_eq(repo_prune(at("m"), 10, &removed, &err), 0);
    ck_assert_int_eq(removed, 0);
    ck_assert_int_eq(repo_remove_version(at("m"), 4, &err), 0);
    ck_assert(!exists(at("m/4")));
    ck_assert_int_eq(repo_remove_version(at("m"), 4, &err), ENC_ENOTFOUND);
    /* a bad pin stops the prune rather than guess which version to keep */
    ck_assert_int_eq(tu_write_file(at("m/pinned"), "junk", 4), 0);
    ck_assert_int_eq(repo_prune(at("m"), 1, &removed, &err), ENC_EINVAL);
    ck_assert_int_eq(removed, 0);
    ck_assert(exists(at("m/2")) && exists(at("m/5")));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("repo");
    TCase *tc = tcase_create("repo");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, valid_names);
    tcase_add_test(tc, versions_listed_and_ordered);
    tcase_add_test(tc, models_listed);
    tcase_add_test(tc, resolve);
    tcase_add_test(tc, publish);
    tcase_add_test(tc, publish_remote_hands_a_complete_file);
    tcase_add_test(tc, pins);
    tcase_add_test(tc, prune_and_remove);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
