/* test_rng.c - core/rng.h: splitmix64 against the reference outputs, the
 * stateless and stateful forms agreeing, the derived draws' ranges and the
 * shuffle. */
#include <math.h>
#include <stdint.h>

#include "core/rng.h"
#include "testutil.h"

/* Reference outputs of Vigna's splitmix64.c for the state 1234567 (also
 * Rosetta Code's "Pseudo-random numbers/Splitmix64" task). */
static const uint64_t ref_1234567[5] = {
    6457827717110365317ull, 3203168211198807973ull,  9817491932198370423ull,
    4593380528125082431ull, 16408922859458223821ull,
};

START_TEST(matches_reference)
{
    uint64_t s = 1234567;
    for (int i = 0; i < 5; i++)
        ck_assert_uint_eq(rng_next(&s), ref_1234567[i]);
    ck_assert_uint_eq(s, 1234567 + 5 * RNG_GAMMA);
    /* state 0: the first output of the reference generator */
    s = 0;
    ck_assert_uint_eq(rng_next(&s), 0xE220A8397B1DCDAFull);
}
END_TEST

START_TEST(hash_is_next)
{
    /* rng_next(&s) == rng_hash(s) before the step, for any state. */
    uint64_t s = 0xDEADBEEFull, x = s;
    for (int i = 0; i < 1000; i++) {
        uint64_t h = rng_hash(x);
        ck_assert_uint_eq(rng_next(&s), h);
        x += RNG_GAMMA;
        ck_assert_uint_eq(s, x);
    }
    /* A hash chain (s = rng_hash(s), as cnn.c draws) is another sequence. */
    uint64_t b = 1;
    rng_next(&b);
    ck_assert_uint_ne(rng_hash(rng_hash(1)), rng_next(&b));
}
END_TEST

START_TEST(units_and_ranges)
{
    ck_assert(rng_unit24(0) == 0.0);
    ck_assert(rng_unit24(UINT64_MAX) == 16777215.0 / 16777216.0);
    ck_assert(rng_unit53(0) == 0.0);
    ck_assert(rng_unit53(UINT64_MAX) < 1.0);
    ck_assert(rng_unit53(UINT64_MAX) == 9007199254740991.0 / 9007199254740992.0);
    /* the 24-bit unit is exact in float, so float and double callers agree */
    for (uint64_t r = 1; r < (1ull << 63); r = r * 3 + 7)
        ck_assert((double)(float)rng_unit24(r) == rng_unit24(r));
    uint64_t s = 42;
    size_t counts[7] = {0};
    double sum = 0;
    for (int i = 0; i < 70000; i++) {
        uint64_t k = rng_below(&s, 7);
        ck_assert_uint_lt(k, 7);
        counts[k]++;
        double u = rng_uniform(&s);
        ck_assert(u >= 0 && u < 1);
        sum += u;
    }
    for (int k = 0; k < 7; k++) /* 10000 expected, sd ~93: far outside 9 sd fails */
        ck_assert_msg(counts[k] > 9000 && counts[k] < 11000, "bucket %d: %zu", k, counts[k]);
    ck_assert_msg(fabs(sum / 70000 - 0.5) < 0.01, "mean %g", sum / 70000);
}
END_TEST

START_TEST(shuffle_is_fisher_yates)
{
    /* the same draws as the loop every trainer wrote by hand */
    size_t a[50], b[50];
    for (size_t i = 0; i < 50; i++)
        a[i] = b[i] = i;
    uint64_t s1 = 7, s2 = 7;
    rng_shuffle(a, 50, &s1);
    for (size_t i = 50; i > 1; i--) {
        size_t j = (size_t)(rng_next(&s2) % i), t = b[i - 1];
        b[i - 1] = b[j];
        b[j] = t;
    }
    ck_assert_uint_eq(s1, s2); /* 49 draws */
    int seen[50] = {0}, moved = 0;
    for (size_t i = 0; i < 50; i++) {
        ck_assert_uint_eq(a[i], b[i]);
        seen[a[i]]++;
        moved += a[i] != i;
    }
    for (size_t i = 0; i < 50; i++)
        ck_assert_int_eq(seen[i], 1); /* a permutation */
    ck_assert_int_gt(moved, 40);
    rng_shuffle(a, 1, &s1); /* 0 or 1 element: no draw */
    rng_shuffle(a, 0, &s1);
    ck_assert_uint_eq(s1, s2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rng");
    TCase *tc = tcase_create("rng");
    tcase_add_test(tc, matches_reference);
    tcase_add_test(tc, hash_is_next);
    tcase_add_test(tc, units_and_ranges);
    tcase_add_test(tc, shuffle_is_fisher_yates);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
