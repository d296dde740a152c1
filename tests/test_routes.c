/* test_routes.c - the route table (server/routes.c): every row is well formed
 * and reachable, {param} capture rules, 404 versus 405 with its Allow list,
 * HEAD on GET routes, and no two rows for the same method and pattern. */
#include <stdio.h>
#include <string.h>

#include "server.h"
#include "testutil.h"

static const struct route *match(const char *method, const char *path, struct http_req *r,
                                 int *status, char *allow)
{
    memset(r, 0, sizeof *r);
    *status = 0;
    return routes_match(method, path, r, status, allow, 128);
}

/* A concrete path for a pattern: each {param} becomes p0, p1, ... */
static void instantiate(const char *pat, char *out, size_t len)
{
    size_t o = 0;
    int k = 0;
    while (*pat && o + 4 < len) {
        if (*pat == '{') {
            o += (size_t)snprintf(out + o, len - o, "p%d", k++);
            pat = strchr(pat, '}') + 1;
        } else
            out[o++] = *pat++;
    }
    out[o] = '\0';
}

START_TEST(every_row_is_well_formed_and_reachable)
{
    int n = 0;
    for (const struct route *rt = http_routes; rt->method; rt++, n++) {
        ck_assert_msg(rt->pattern && rt->pattern[0] == '/', "row %d: pattern", n);
        ck_assert_msg(rt->handler != NULL, "%s %s: no handler", rt->method, rt->pattern);
        ck_assert_msg(rt->name && rt->name[0], "%s %s: no metrics name", rt->method, rt->pattern);
        ck_assert_msg(!strcmp(rt->method, "GET") || !strcmp(rt->method, "POST") ||
                          !strcmp(rt->method, "PUT") || !strcmp(rt->method, "DELETE"),
                      "%s %s: method", rt->method, rt->pattern);
        ck_assert_msg(rt->scope == SCOPE_OPEN || rt->scope == SCOPE_INFER ||
                          rt->scope == SCOPE_ADMIN,
                      "%s %s: scope", rt->method, rt->pattern);
        /* braces balanced, no empty {} */
        for (const char *p = rt->pattern; (p = strchr(p, '{')) != NULL; p++) {
            const char *c = strchr(p, '}');
            ck_assert_msg(c && c > p + 1 && !memchr(p + 1, '{', (size_t)(c - p - 1)), "%s: braces",
                          rt->pattern);
        }
        /* the row itself answers its own path (no earlier row shadows it) */
        char path[512];
        instantiate(rt->pattern, path, sizeof path);
        struct http_req r;
        int status;
        char allow[128];
        const struct route *got = match(rt->method, path, &r, &status, allow);
        ck_assert_msg(got != NULL, "%s %s: no match", rt->method, path);
        ck_assert_msg(got->handler == rt->handler && !strcmp(got->name, rt->name),
                      "%s %s: answered by %s %s", rt->method, path, got->method, got->pattern);
        int params = 0;
        for (const char *p = rt->pattern; (p = strchr(p, '{')) != NULL; p++)
            params++;
        ck_assert_int_eq(r.n_params, params);
        for (int k = 0; k < params; k++) {
            char want[8];
            snprintf(want, sizeof want, "p%d", k);
            ck_assert_str_eq(r.params[k], want);
        }
    }
    ck_assert_int_gt(n, 10);
}
END_TEST

START_TEST(no_duplicate_rows)
{
    for (const struct route *a = http_routes; a->method; a++)
        for (const struct route *b = a + 1; b->method; b++)
            ck_assert_msg(strcmp(a->method, b->method) || strcmp(a->pattern, b->pattern),
                          "%s %s twice", a->method, a->pattern);
}
END_TEST

START_TEST(params_are_captured)
{
    struct http_req r;
    int status;
    char allow[128];
    const struct route *rt = match("POST", "/v1/models/ml-100k_v2.x:recommend", &r, &status, allow);
    ck_assert_ptr_nonnull(rt);
    ck_assert_str_eq(rt->name, "recommend");
    ck_assert_int_eq(r.n_params, 1);
    ck_assert_str_eq(r.params[0], "ml-100k_v2.x");
    rt = match("POST", "/v2/models/iris/versions/12/infer", &r, &status, allow);
    ck_assert_ptr_nonnull(rt);
    ck_assert_str_eq(rt->name, "v2_infer");
    ck_assert_int_eq(r.n_params, 2);
    ck_assert_str_eq(r.params[0], "iris");
    ck_assert_str_eq(r.params[1], "12");
    /* the custom method after ':' is not part of the name */
    rt = match("POST", "/v1/models/iris:predict", &r, &status, allow);
    ck_assert_ptr_nonnull(rt);
    ck_assert_str_eq(rt->name, "predict");
    ck_assert_str_eq(r.params[0], "iris");
}
END_TEST

START_TEST(params_refused)
{
    struct http_req r;
    int status;
    char allow[128];
    /* empty, containing '/', or an unknown custom method: no route */
    ck_assert_ptr_null(match("POST", "/v1/models/:recommend", &r, &status, allow));
    ck_assert_int_eq(status, 404);
    ck_assert_ptr_null(match("POST", "/v1/models/a/b:recommend", &r, &status, allow));
    ck_assert_int_eq(status, 404);
    ck_assert_ptr_null(match("POST", "/v1/models/a:explode", &r, &status, allow));
    ck_assert_int_eq(status, 404);
    ck_assert_ptr_null(match("POST", "/v1/models/a:b:recommend", &r, &status, allow));
    ck_assert_int_eq(status, 404);
    /* a name of REPO_NAME_MAX characters fits, one more does not */
    char path[REPO_NAME_MAX + 64], name[REPO_NAME_MAX + 2];
    memset(name, 'n', REPO_NAME_MAX);
    name[REPO_NAME_MAX] = '\0';
    snprintf(path, sizeof path, "/v1/models/%s:recommend", name);
    ck_assert_ptr_nonnull(match("POST", path, &r, &status, allow));
    ck_assert_uint_eq(strlen(r.params[0]), REPO_NAME_MAX);
    name[REPO_NAME_MAX] = 'n';
    name[REPO_NAME_MAX + 1] = '\0';
    snprintf(path, sizeof path, "/v1/models/%s:recommend", name);
    ck_assert_ptr_null(match("POST", path, &r, &status, allow));
    ck_assert_int_eq(status, 404);
    /* trailing bytes and prefixes do not match */
    ck_assert_ptr_null(match("GET", "/healthz/", &r, &status, allow));
    ck_assert_ptr_null(match("GET", "/healthzz", &r, &status, allow));
    ck_assert_ptr_null(match("GET", "/health", &r, &status, allow));
    ck_assert_ptr_null(match("GET", "", &r, &status, allow));
    ck_assert_int_eq(status, 404);
}
END_TEST

START_TEST(method_not_allowed_lists_allow)
{
    struct http_req r;
    int status;
    char allow[128];
    ck_assert_ptr_null(match("GET", "/v1/models/iris:recommend", &r, &status, allow));
    ck_assert_int_eq(status, 405);
    ck_assert_str_eq(allow, "POST");
    ck_assert_ptr_null(match("POST", "/healthz", &r, &status, allow));
    ck_assert_int_eq(status, 405);
    ck_assert_str_eq(allow, "GET");
    /* one path, several methods: each named once */
    ck_assert_ptr_null(match("POST", "/v1/items/42", &r, &status, allow));
    ck_assert_int_eq(status, 405);
    ck_assert_ptr_nonnull(strstr(allow, "GET"));
    ck_assert_ptr_nonnull(strstr(allow, "PUT"));
    ck_assert_ptr_nonnull(strstr(allow, "DELETE"));
    ck_assert_ptr_null(strstr(allow, "POST"));
    /* an unknown path is 404 with nothing to allow */
    ck_assert_ptr_null(match("GET", "/nope", &r, &status, allow));
    ck_assert_int_eq(status, 404);
    ck_assert_str_eq(allow, "");
    /* a tiny Allow buffer is never overrun */
    memset(&r, 0, sizeof r);
    char small[4] = "xxx";
    ck_assert_ptr_null(routes_match("POST", "/v1/items/42", &r, &status, small, sizeof small));
    ck_assert_int_eq(status, 405);
    ck_assert_uint_lt(strlen(small), sizeof small);
}
END_TEST

START_TEST(head_answers_get_routes)
{
    struct http_req r;
    int status;
    char allow[128];
    const struct route *rt = match("HEAD", "/healthz", &r, &status, allow);
    ck_assert_ptr_nonnull(rt);
    ck_assert_str_eq(rt->method, "GET");
    ck_assert_ptr_null(match("HEAD", "/v1/models/iris:recommend", &r, &status, allow));
    ck_assert_int_eq(status, 405);
    /* methods are case-sensitive (RFC 9110) */
    ck_assert_ptr_null(match("get", "/healthz", &r, &status, allow));
    ck_assert_int_eq(status, 405);
}
END_TEST

START_TEST(scopes)
{
    struct http_req r;
    int status;
    char allow[128];
    ck_assert_int_eq(match("GET", "/healthz", &r, &status, allow)->scope, SCOPE_OPEN);
    ck_assert_int_eq(match("GET", "/metrics", &r, &status, allow)->scope, SCOPE_OPEN);
    ck_assert_int_eq(match("POST", "/v1/models/x:recommend", &r, &status, allow)->scope,
                     SCOPE_INFER);
    ck_assert_int_eq(match("POST", "/v1/models/x:reload", &r, &status, allow)->scope, SCOPE_ADMIN);
    /* every route that changes state (PUT, DELETE, :reload) needs the admin token */
    for (const struct route *rt = http_routes; rt->method; rt++)
        if (!strcmp(rt->method, "PUT") || !strcmp(rt->method, "DELETE") ||
            strstr(rt->pattern, ":reload"))
            ck_assert_msg(rt->scope == SCOPE_ADMIN, "%s %s is not admin-only", rt->method,
                          rt->pattern);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("routes");
    TCase *tc = tcase_create("routes");
    tcase_add_test(tc, every_row_is_well_formed_and_reachable);
    tcase_add_test(tc, no_duplicate_rows);
    tcase_add_test(tc, params_are_captured);
    tcase_add_test(tc, params_refused);
    tcase_add_test(tc, method_not_allowed_lists_allow);
    tcase_add_test(tc, head_answers_get_routes);
    tcase_add_test(tc, scopes);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
