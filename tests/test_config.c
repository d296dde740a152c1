/*
 * test_config.c - server/config.c: the option table's sources in order
 * (defaults -> config file -> environment -> flags), validation messages
 * that name the option and its source, and the generated help (which
 * docs/configuration.md must match).
 */
#define _GNU_SOURCE /* CPU_COUNT, sched_getaffinity */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "testutil.h"

static int load(struct config *c, enc_err *err, int argc, char **argv)
{
    return config_load(c, argc, argv, err);
}

START_TEST(defaults)
{
    struct config c;
    enc_err err = {0};
    char *argv[] = {"encore-server"};
    unsetenv("ENCORE_PORT");
    unsetenv("ENCORE_CONFIG");
    ck_assert_int_eq(load(&c, &err, 1, argv), 0);
    ck_assert_int_eq(c.port, 8080);
    ck_assert_int_eq(c.read_timeout, 10);
    ck_assert_int_eq(c.connection_timeout, 30);
    ck_assert_int_eq(c.versions_kept, 1);
    ck_assert_int_eq(c.threads, config_auto_threads(access("/sys/fs/cgroup/cpu.max", R_OK) == 0
                                                        ? "/sys/fs/cgroup/cpu.max"
                                                        : "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"));
    ck_assert_int_ge(c.threads, 2); /* resolved: never the 0 that asks for it */
    ck_assert_int_eq(c.watch, 1);
    ck_assert_str_eq(c.tokens_file, "");
    config_free(&c);
}
END_TEST

START_TEST(file_then_env_then_flags)
{
    char *dir = tu_tmpdir(), path[512];
    snprintf(path, sizeof path, "%s/c.json", dir);
    const char *json = "{\"_comment\": \"x\", \"port\": 9001, \"threads\": 3, \"models\": \"/m\","
                       " \"watch\": false, \"read_timeout\": 4}";
    ck_assert_int_eq(tu_write_file(path, json, strlen(json)), 0);
    setenv("ENCORE_PORT", "9002", 1);
    setenv("ENCORE_MAX_K", "77", 1);
    char cfgflag[600];
    snprintf(cfgflag, sizeof cfgflag, "--config=%s", path);
    char *argv[] = {"encore-server", cfgflag, "--max-k", "55", "--watch", "--read_timeout=6"};
    struct config c;
    enc_err err = {0};
    ck_assert_msg(load(&c, &err, 6, argv) == 0, "%s", err.msg);
    ck_assert_int_eq(c.port, 9002); /* env over file */
    ck_assert_int_eq(c.threads, 3); /* file */
    ck_assert_str_eq(c.models, "/m");
    ck_assert_int_eq(c.max_k, 55); /* flag over env */
    ck_assert_int_eq(c.watch, 1);  /* bare boolean flag over the file's false */
    ck_assert_int_eq(c.read_timeout, 6);
    config_free(&c);
    unsetenv("ENCORE_PORT");
    unsetenv("ENCORE_MAX_K");
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(errors_name_option_and_source)
{
    struct config c;
    enc_err err = {0};
    char *a1[] = {"encore-server", "--port", "70000"};
    ck_assert_int_eq(load(&c, &err, 3, a1), ENC_ERANGE);
    ck_assert_msg(strstr(err.msg, "--port") && strstr(err.msg, "1..65535"), "%s", err.msg);
    char *a2[] = {"encore-server", "--read-timeout", "soon"};
    ck_assert_int_eq(load(&c, &err, 3, a2), ENC_EINVAL);
    ck_assert_msg(strstr(err.msg, "read_timeout") && strstr(err.msg, "not an integer"), "%s",
                  err.msg);
    char *a3[] = {"encore-server", "--no-such-thing", "1"};
    ck_assert_int_eq(load(&c, &err, 3, a3), ENC_EINVAL);
    ck_assert_msg(strstr(err.msg, "no-such-thing") != NULL, "%s", err.msg);
    setenv("ENCORE_ACCESS_LOG", "maybe", 1);
    char *a4[] = {"encore-server"};
    ck_assert_int_eq(load(&c, &err, 1, a4), ENC_EINVAL);
    ck_assert_msg(strstr(err.msg, "ENCORE_ACCESS_LOG") != NULL, "%s", err.msg);
    unsetenv("ENCORE_ACCESS_LOG");
    char *a5[] = {"encore-server", "--tls-cert", "/x.pem"};
    ck_assert_int_eq(load(&c, &err, 3, a5), ENC_EINVAL);
    ck_assert_msg(strstr(err.msg, "together") != NULL, "%s", err.msg);
}
END_TEST

START_TEST(markdown_lists_every_option)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    config_markdown(f);
    fclose(f);
    const char *must[] = {"`max_body_bytes`",  "`read_timeout`",  "`connection_timeout`",
                          "`max_connections`", "`tokens_file`",   "`ENCORE_ADMIN_TOKEN`",
                          "`tls_key`",         "`versions_kept`", "`drain_seconds`"};
    for (size_t i = 0; i < sizeof must / sizeof *must; i++)
        ck_assert_msg(strstr(buf, must[i]) != NULL, "missing %s", must[i]);
    free(buf);
}
END_TEST

/* threads 0: twice the cores, the fewer of the affinity mask and the
 * cgroup quota, within 2..64. */
START_TEST(auto_threads)
{
    cpu_set_t set;
    ck_assert_int_eq(sched_getaffinity(0, sizeof set, &set), 0);
    int64_t cores = CPU_COUNT(&set), all = 2 * cores < 64 ? 2 * cores : 64;
    ck_assert_int_eq(config_auto_threads(NULL), all < 2 ? 2 : all);
    ck_assert_int_eq(config_auto_threads("/nonexistent/cpu.max"), all < 2 ? 2 : all);
    char *dir = tu_tmpdir(), path[512];
    snprintf(path, sizeof path, "%s/cpu.max", dir);
    struct {
        const char *text;
        int64_t want;
    } cases[] = {
        {"max 100000\n", all}, /* no quota */
        {"50000 100000\n", 2}, /* half a core: the floor */
        {"100000 100000\n", 2},
        {"150000 100000\n", cores >= 2 ? 4 : all}, /* 1.5 cores round up to 2 */
        {"100000000 100000\n", all},               /* quota above the cores */
        {"garbage\n", all},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ck_assert_int_eq(tu_write_file(path, cases[i].text, strlen(cases[i].text)), 0);
        ck_assert_msg(config_auto_threads(path) == cases[i].want, "%s: got %lld, want %lld",
                      cases[i].text, (long long)config_auto_threads(path),
                      (long long)cases[i].want);
    }
    /* cgroup v1: cpu.cfs_quota_us with cpu.cfs_period_us beside it */
    char q1[600], p1[600];
    snprintf(q1, sizeof q1, "%s/cpu.cfs_quota_us", dir);
    snprintf(p1, sizeof p1, "%s/cpu.cfs_period_us", dir);
    ck_assert_int_eq(tu_write_file(p1, "100000\n", 7), 0);
    ck_assert_int_eq(tu_write_file(q1, "150000\n", 7), 0);
    ck_assert_int_eq(config_auto_threads(q1), cores >= 2 ? 4 : all);
    ck_assert_int_eq(tu_write_file(q1, "50000\n", 6), 0);
    ck_assert_int_eq(config_auto_threads(q1), 2);
    ck_assert_int_eq(tu_write_file(q1, "-1\n", 3), 0);
    ck_assert_int_eq(config_auto_threads(q1), all); /* no quota */
    /* The downward API's CPU limit (millicores) when threads is auto. */
    struct config cm;
    enc_err cerr = {0};
    char *am[] = {"encore-server", "--cpu-millicores", "1500"};
    ck_assert_int_eq(load(&cm, &cerr, 3, am), 0);
    ck_assert_int_eq(cm.threads, 4);
    char *am2[] = {"encore-server", "--cpu-millicores", "250"};
    ck_assert_int_eq(load(&cm, &cerr, 3, am2), 0);
    ck_assert_int_eq(cm.threads, 2);
    char *am3[] = {"encore-server", "--cpu-millicores", "2000", "--threads", "3"};
    ck_assert_int_eq(load(&cm, &cerr, 5, am3), 0);
    ck_assert_int_eq(cm.threads, 3); /* an explicit count wins */
    /* An explicit count is kept, and 0 from any source means auto. */
    struct config c;
    enc_err err = {0};
    char *a3[] = {"encore-server", "--threads", "3"};
    ck_assert_int_eq(load(&c, &err, 3, a3), 0);
    ck_assert_int_eq(c.threads, 3);
    config_free(&c);
    char *a0[] = {"encore-server", "--threads", "0"};
    ck_assert_int_eq(load(&c, &err, 3, a0), 0);
    ck_assert_int_eq(c.threads, config_auto_threads(access("/sys/fs/cgroup/cpu.max", R_OK) == 0
                                                        ? "/sys/fs/cgroup/cpu.max"
                                                        : "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"));
    config_free(&c);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

/* docs/configuration.md is generated; it must match the table it documents. */
START_TEST(configuration_doc_is_current)
{
    if (!getenv("ENCORE_SOURCE_DIR"))
        tu_skip("ENCORE_SOURCE_DIR not set (run through ctest)");
    size_t dlen;
    char *doc = tu_read_file(tu_src("docs/configuration.md"), &dlen);
    ck_assert_msg(doc != NULL, "cannot read docs/configuration.md");
    char *gen = NULL;
    size_t glen = 0;
    FILE *f = open_memstream(&gen, &glen);
    config_markdown(f);
    fclose(f);
    ck_assert_msg(
        dlen >= glen && memcmp(doc + dlen - glen, gen, glen) == 0,
        "docs/configuration.md is stale: regenerate it with encore-server --help-markdown");
    free(doc);
    free(gen);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, file_then_env_then_flags);
    tcase_add_test(tc, errors_name_option_and_source);
    tcase_add_test(tc, auto_threads);
    tcase_add_test(tc, markdown_lists_every_option);
    tcase_add_test(tc, configuration_doc_is_current);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
