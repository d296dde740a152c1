/* test_experiment.c - experiments (server/experiment.c): configuration
 * checks, assignment shares and stickiness, recommendation ids, and the
 * two-proportion statistics against a reference computation. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "experiment.h"
#include "testutil.h"

static struct exp_set *parse(const char *text, enc_err *err)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    ck_assert_msg(j != NULL, "%s", jerr.text);
    struct exp_set *s = NULL;
    int rc = exp_set_parse(j, &s, err);
    json_decref(j);
    return rc ? NULL : s;
}

#define HOME                                                                                       \
    "{\"home\": {\"salt\": \"2026-12\", \"variants\": ["                                           \
    "{\"name\": \"als\", \"model\": \"movielens\", \"weight\": 50},"                               \
    "{\"name\": \"bpr\", \"model\": \"movielens-bpr\", \"weight\": 50,"                            \
    " \"params\": {\"diversity\": 0.3}}]},"                                                        \
    " \"three\": {\"salt\": \"s\", \"control\": \"c\", \"variants\": ["                            \
    "{\"name\": \"a\", \"model\": \"m\", \"weight\": 20},"                                         \
    "{\"name\": \"b\", \"model\": \"m\", \"weight\": 30},"                                         \
    "{\"name\": \"c\", \"model\": \"m\", \"weight\": 50}]}}"

START_TEST(config_parses)
{
    enc_err err = {0};
    struct exp_set *s = parse(HOME, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    ck_assert_uint_eq(s->n, 2);
    const struct experiment *e = exp_find(s, "home", 4);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->n, 2);
    ck_assert_int_eq(e->control, 0);
    ck_assert_str_eq(e->v[1].model, "movielens-bpr");
    ck_assert(json_real_value(json_object_get(e->v[1].params, "diversity")) == 0.3);
    e = exp_find(s, "three", 5);
    ck_assert_int_eq(e->control, 2);
    ck_assert_ptr_null(exp_find(s, "hom", 3));
    exp_set_unref(s);
}
END_TEST

/* Each bad section is refused with a message naming the place. */
START_TEST(config_refuses)
{
    static const struct {
        const char *text, *says;
    } bad[] = {
        {"{\"x\": {\"variants\": [{\"name\": \"a\", \"model\": \"m\", \"weight\": 1}]}}", "salt"},
        {"{\"x\": {\"salt\": \"s\", \"variants\": []}}", "variants"},
        {"{\"X!\": {\"salt\": \"s\", \"variants\": []}}", "name"},
        {"{\"x\": {\"salt\": \"s\", \"variants\": [{\"name\": \"a\", \"model\": \"m\"}]}}",
         "weight"},
        {"{\"x\": {\"salt\": \"s\", \"variants\": [{\"name\": \"a\", \"model\": \"m\", "
         "\"weight\": 0}]}}",
         "weight"},
        {"{\"x\": {\"salt\": \"s\", \"variants\": [{\"name\": \"a\", \"model\": \"m\", "
         "\"weight\": 1}, {\"name\": \"a\", \"model\": \"m\", \"weight\": 1}]}}",
         "repeats"},
        {"{\"x\": {\"salt\": \"s\", \"control\": \"z\", \"variants\": [{\"name\": \"a\", "
         "\"model\": \"m\", \"weight\": 1}]}}",
         "control"},
        {"{\"x\": {\"salt\": \"s\", \"variants\": [{\"name\": \"a\", \"model\": \"m\", "
         "\"weight\": 1, \"params\": {\"user\": \"1\"}}]}}",
         "params"},
        {"{\"x\": {\"salt\": \"s\", \"variants\": [{\"name\": \"a\", \"model\": \"m\", "
         "\"weight\": 1, \"params\": {\"k\": 41}}]}}",
         "params.k"},
        {"{\"x\": {\"salt\": \"s\", \"typo\": 1, \"variants\": [{\"name\": \"a\", \"model\": "
         "\"m\", \"weight\": 1}]}}",
         "typo"},
        {"[]", "object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        enc_err err = {0};
        ck_assert_msg(parse(bad[i].text, &err) == NULL, "case %zu accepted", i);
        ck_assert_msg(strstr(err.msg, bad[i].says) != NULL, "case %zu: '%s' lacks '%s'", i, err.msg,
                      bad[i].says);
    }
}
END_TEST

/* Over 10,000 users each variant's share is within 2 points of its weight. */
START_TEST(assignment_shares)
{
    enc_err err = {0};
    struct exp_set *s = parse(HOME, &err);
    ck_assert_ptr_nonnull(s);
    const char *names[2] = {"home", "three"};
    const double want[2][3] = {{0.5, 0.5, 0}, {0.2, 0.3, 0.5}};
    for (int x = 0; x < 2; x++) {
        const struct experiment *e = exp_find(s, names[x], strlen(names[x]));
        int count[3] = {0, 0, 0};
        for (int u = 0; u < 10000; u++) {
            char id[16];
            int n = snprintf(id, sizeof id, "%d", u + 1);
            count[exp_assign(e, id, (size_t)n)]++;
        }
        for (int v = 0; v < e->n; v++)
            ck_assert_msg(fabs(count[v] / 10000.0 - want[x][v]) <= 0.02, "%s.%s: %d of 10000",
                          names[x], e->v[v].name, count[v]);
    }
    exp_set_unref(s);
}
END_TEST

/* Sticky: the same user gets the same variant from another parse of the same
 * configuration (another replica), and a new salt reshuffles about half. */
START_TEST(assignment_sticky)
{
    enc_err err = {0};
    struct exp_set *a = parse(HOME, &err), *b = parse(HOME, &err);
    char resalted[sizeof HOME];
    strcpy(resalted, HOME);
    memcpy(strstr(resalted, "2026-12"), "2027-01", 7);
    struct exp_set *c = parse(resalted, &err);
    ck_assert(a && b && c);
    const struct experiment *ea = exp_find(a, "home", 4), *eb = exp_find(b, "home", 4),
                            *ec = exp_find(c, "home", 4);
    int moved = 0;
    for (int u = 0; u < 2000; u++) {
        char id[16];
        int n = snprintf(id, sizeof id, "user-%d", u);
        int va = exp_assign(ea, id, (size_t)n);
        ck_assert_int_eq(va, exp_assign(ea, id, (size_t)n));
        ck_assert_int_eq(va, exp_assign(eb, id, (size_t)n));
        moved += va != exp_assign(ec, id, (size_t)n);
    }
    ck_assert_msg(moved > 800 && moved < 1200, "%d of 2000 moved", moved);
    /* the point is SHA-256(salt \0 experiment \0 user): a fixed value */
    double u = exp_point("2026-12", "home", "196", 3);
    ck_assert(u >= 0 && u < 1);
    ck_assert(u == exp_point("2026-12", "home", "196", 3));
    ck_assert(u != exp_point("2026-12", "homf", "196", 3));
    exp_set_unref(a);
    exp_set_unref(b);
    exp_set_unref(c);
}
END_TEST

START_TEST(recommendation_id_round_trip)
{
    struct exp_rec r;
    memset(&r, 0, sizeof r);
    strcpy(r.experiment, "home");
    strcpy(r.variant, "bpr");
    r.time = 1765000000;
    r.model_version = 7;
    r.nonce = 0x0123456789abcdefull;
    const char *items[3] = {"50", "181", "Star Wars"};
    r.n = 3;
    for (int i = 0; i < 3; i++)
        r.fp[i] = exp_fingerprint(items[i], strlen(items[i]));
    char id[EXP_ID_MAX + 1];
    int len = exp_rec_encode(&r, id);
    ck_assert_int_gt(len, 0);
    ck_assert_int_eq(len, (int)strlen(id));
    ck_assert_msg(strncmp(id, "home.bpr.", 9) == 0, "%s", id);
    struct exp_rec d;
    ck_assert_int_eq(exp_rec_decode(id, (size_t)len, &d), 0);
    ck_assert_str_eq(d.experiment, "home");
    ck_assert_str_eq(d.variant, "bpr");
    ck_assert_int_eq(d.time, 1765000000);
    ck_assert_uint_eq(d.model_version, 7);
    ck_assert(d.nonce == r.nonce);
    ck_assert_int_eq(d.n, 3);
    for (int i = 0; i < 3; i++)
        ck_assert(exp_rec_has(&d, items[i], strlen(items[i])));
    ck_assert(!exp_rec_has(&d, "51", 2));
    /* damaged or foreign ids are refused, never misread */
    ck_assert_int_ne(exp_rec_decode("home.bpr", 8, &d), 0);
    ck_assert_int_ne(exp_rec_decode("rec-1", 5, &d), 0);
    ck_assert_int_ne(exp_rec_decode(id, (size_t)len - 1, &d), 0);
    char bad[EXP_ID_MAX + 1];
    strcpy(bad, id);
    bad[len - 5] = '!';
    ck_assert_int_ne(exp_rec_decode(bad, strlen(bad), &d), 0);
    bad[0] = 'H';
    ck_assert_int_ne(exp_rec_decode(bad, strlen(bad), &d), 0);
    /* the largest: 40 items under the longest names fits in 256 bytes */
    memset(r.experiment, 'e', EXP_NAME_MAX);
    memset(r.variant, 'v', EXP_NAME_MAX);
    r.n = EXP_K_MAX;
    len = exp_rec_encode(&r, id);
    ck_assert_int_gt(len, 0);
    ck_assert_int_le(len, EXP_ID_MAX);
    ck_assert_int_eq(exp_rec_decode(id, (size_t)len, &d), 0);
    ck_assert_int_eq(d.n, EXP_K_MAX);
    r.n = EXP_K_MAX + 1;
    ck_assert_int_lt(exp_rec_encode(&r, id), 0);
}
END_TEST

START_TEST(nonces_differ)
{
    uint64_t a = exp_nonce(), b = exp_nonce(), c = exp_nonce();
    ck_assert(a != b && b != c && a != c);
}
END_TEST

/* Reference values from Python's statistics.NormalDist (an independent
 * normal CDF and quantile):
 *   d = p1 - p0; se = sqrt(p1 q1 / n1 + p0 q0 / n0); CI = d -+ z_.975 se;
 *   pooled p, z = d / sqrt(p q (1/n0 + 1/n1)), p-value = 2 (1 - Phi(|z|)). */
START_TEST(two_proportions_against_reference)
{
    static const struct {
        uint64_t x1, n1, x0, n0;
        double d, lo, hi, z, p;
    } ref[] = {
        {120, 1000, 100, 1000, 0.02, -0.00741148199802, 0.047411481998, 1.42930084982,
         0.152917781864},
        {30, 400, 45, 500, -0.015, -0.0509928321898, 0.0209928321898, -0.809039834956,
         0.418492233447},
        {0, 10, 0, 10, 0, 0, 0, 0, 1},
    };
    for (size_t i = 0; i < sizeof ref / sizeof *ref; i++) {
        struct exp_diff d;
        ck_assert_int_eq(exp_two_prop(ref[i].x1, ref[i].n1, ref[i].x0, ref[i].n0, &d), 0);
        ck_assert_msg(fabs(d.diff - ref[i].d) < 1e-12, "%zu diff %.12g", i, d.diff);
        ck_assert_msg(fabs(d.lo - ref[i].lo) < 1e-9, "%zu lo %.12g", i, d.lo);
        ck_assert_msg(fabs(d.hi - ref[i].hi) < 1e-9, "%zu hi %.12g", i, d.hi);
        ck_assert_msg(fabs(d.z - ref[i].z) < 1e-9, "%zu z %.12g", i, d.z);
        ck_assert_msg(fabs(d.p_value - ref[i].p) < 1e-9, "%zu p %.12g", i, d.p_value);
    }
    struct exp_diff d;
    ck_assert_int_ne(exp_two_prop(1, 0, 1, 10, &d), 0);
    ck_assert_int_ne(exp_two_prop(11, 10, 1, 10, &d), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("experiment");
    TCase *tc = tcase_create("experiment");
    tcase_add_test(tc, config_parses);
    tcase_add_test(tc, config_refuses);
    tcase_add_test(tc, assignment_shares);
    tcase_add_test(tc, assignment_sticky);
    tcase_add_test(tc, recommendation_id_round_trip);
    tcase_add_test(tc, nonces_differ);
    tcase_add_test(tc, two_proportions_against_reference);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
