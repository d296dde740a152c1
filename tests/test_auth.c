/*
 * test_auth.c - server/auth.c: token files and environment variables, the
 * scope table (open / inference / admin), refusals that name the file and
 * line, and near-miss tokens (prefix, one byte more, another scope's).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "server.h"
#include "testutil.h"

static char *dir;
static struct config cfg;

static void setup(void)
{
    dir = tu_tmpdir();
    config_defaults(&cfg);
    unsetenv("ENCORE_TOKENS");
    unsetenv("ENCORE_ADMIN_TOKEN");
}

static void teardown(void)
{
    tu_rmrf(dir);
    free(dir);
    unsetenv("ENCORE_TOKENS");
    unsetenv("ENCORE_ADMIN_TOKEN");
}

static const char *file(const char *name, const char *text)
{
    static char path[4][512];
    static int k;
    char *p = path[k++ % 4];
    snprintf(p, 512, "%s/%s", dir, name);
    ck_assert_int_eq(tu_write_file(p, text, strlen(text)), 0);
    return p;
}

START_TEST(no_tokens_means_open_inference_and_no_admin)
{
    struct auth *a;
    enc_err err = {0};
    ck_assert_int_eq(auth_load(&cfg, &a, &err), 0);
    ck_assert_int_eq(auth_check(a, SCOPE_OPEN, NULL), AUTH_OK);
    ck_assert_int_eq(auth_check(a, SCOPE_INFER, NULL), AUTH_OK);
    ck_assert_int_eq(auth_check(a, SCOPE_INFER, "Bearer anything"), AUTH_OK);
    ck_assert_int_eq(auth_check(a, SCOPE_ADMIN, NULL), AUTH_DISABLED);
    ck_assert_int_eq(auth_check(a, SCOPE_ADMIN, "Bearer anything"), AUTH_DISABLED);
    ck_assert_int_eq(auth_infer_tokens(a), 0);
    ck_assert_int_eq(auth_admin_tokens(a), 0);
    auth_free(a);
    auth_free(NULL);
}
END_TEST

START_TEST(file_tokens_comments_blank_lines_and_spaces)
{
    cfg.tokens_file =
        file("tokens", "# a comment\n\nalpha-token-0123456789\n  beta_token.0123456789~+/==  \r\n");
    cfg.admin_token_file = file("admin", "admin-token-0123456789\n");
    struct auth *a;
    enc_err err = {0};
    ck_assert_msg(auth_load(&cfg, &a, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(auth_infer_tokens(a), 2);
    ck_assert_int_eq(auth_admin_tokens(a), 1);
    ck_assert_int_eq(auth_check(a, SCOPE_INFER, "Bearer alpha-token-0123456789"), AUTH_OK);
    ck_assert_int_eq(auth_check(a, SCOPE_INFER, "bearer beta_token.0123456789~+/=="), AUTH_OK);
    ck_assert_int_eq(auth_check(a, SCOPE_INFER, "Bearer admin-token-0123456789"), AUTH_OK);
    ck_assert_int_eq(auth_check(a, SCOPE_ADMIN, "Bearer admin-token-0123456789"), AUTH_OK);
    /* near misses */
    ck_assert_int_eq(auth_check(a, SCOPE_ADMIN, "Bearer alpha-token-0123456789"), AUTH_WRONG);
    ck_assert_int_eq(auth_check(a, SCOPE_INFER, "Bearer alpha-token-012345678"), AUTH_WRONG);
    ck_assert_int_eq(auth_check(a, SCOPE_INFER, "Bearer alpha-token-01234567890"), AUTH_WRONG);
    ck_assert_int_eq(auth_check(a, SCOPE_INFER, "Bearer # a comment"), AUTH_WRONG);
    ck_assert_int_eq(auth_check(a, SCOPE_INFER, "Bearer "), AUTH_MISSING);
    ck_assert_int_eq(auth_check(a, SCOPE_INFER, "Basic YWxwaGE6eA=="), AUTH_MISSING);
    ck_assert_int_eq(auth_check(a, SCOPE_INFER, "alpha-token-0123456789"), AUTH_MISSING);
    ck_assert_int_eq(auth_check(a, SCOPE_INFER, NULL), AUTH_MISSING);
    ck_assert_int_eq(auth_check(a, SCOPE_OPEN, NULL), AUTH_OK);
    auth_free(a);
}
END_TEST

START_TEST(environment_tokens)
{
    setenv("ENCORE_TOKENS", "one-token-0123456789, two-token-0123456789 three-token-0123456789", 1);
    setenv("ENCORE_ADMIN_TOKEN", "root-token-0123456789", 1);
    struct auth *a;
    enc_err err = {0};
    ck_assert_msg(auth_load(&cfg, &a, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(auth_infer_tokens(a), 3);
    ck_assert_int_eq(auth_check(a, SCOPE_INFER, "Bearer three-token-0123456789"), AUTH_OK);
    ck_assert_int_eq(auth_check(a, SCOPE_INFER, "Bearer one-token-0123456789,"), AUTH_WRONG);
    ck_assert_int_eq(auth_check(a, SCOPE_ADMIN, "Bearer root-token-0123456789"), AUTH_OK);
    auth_free(a);
    /* only one admin token */
    setenv("ENCORE_ADMIN_TOKEN", "a-token-0123456789 b-token-0123456789", 1);
    ck_assert_int_eq(auth_load(&cfg, &a, &err), ENC_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "ENCORE_ADMIN_TOKEN"));
}
END_TEST

START_TEST(refusals_name_the_file_and_line)
{
    struct auth *a = NULL;
    enc_err err = {0};
    cfg.tokens_file = file("bad", "good-token-0123456789\nhas a space\n");
    ck_assert_int_eq(auth_load(&cfg, &a, &err), ENC_EINVAL);
    ck_assert_msg(strstr(err.msg, "bad:2") != NULL, "%s", err.msg);
    cfg.tokens_file = file("empty", "# nothing here\n\n");
    ck_assert_int_eq(auth_load(&cfg, &a, &err), ENC_EINVAL);
    ck_assert_msg(strstr(err.msg, "no token") != NULL, "%s", err.msg);
    cfg.tokens_file = "/nonexistent/tokens";
    ck_assert_int_eq(auth_load(&cfg, &a, &err), ENC_EIO);
    ck_assert_msg(strstr(err.msg, "/nonexistent/tokens") != NULL, "%s", err.msg);
    cfg.tokens_file = "";
    setenv("ENCORE_TOKENS", "quote\"d-token-0123456789", 1);
    ck_assert_int_eq(auth_load(&cfg, &a, &err), ENC_EINVAL);
    ck_assert_ptr_null(a);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("auth");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, no_tokens_means_open_inference_and_no_admin);
    tcase_add_test(tc, file_tokens_comments_blank_lines_and_spaces);
    tcase_add_test(tc, environment_tokens);
    tcase_add_test(tc, refusals_name_the_file_and_line);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
