/* test_strmap.c - core/strmap: ids in insertion order, lookups through
 * growth, binary keys, indexes over borrowed tables (duplicates found, nothing
 * copied), copies out, and the stable hash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/strmap.h"
#include "core/strv.h"
#include "testutil.h"

START_TEST(add_find_key)
{
    strmap m = {0};
    ck_assert_int_eq(strmap_find(&m, "x", 1), -1); /* empty map, no table yet */
    ck_assert_int_eq(strmap_add(&m, "alice", 5), 0);
    ck_assert_int_eq(strmap_add(&m, "bob", 3), 1);
    ck_assert_int_eq(strmap_add(&m, "alice", 5), 0); /* existing: same id */
    ck_assert_int_eq(strmap_add(&m, "", 0), 2);      /* the empty key is a key */
    ck_assert_int_eq(strmap_add(&m, "al", 2), 3);    /* a prefix is another key */
    ck_assert_uint_eq(strmap_size(&m), 4);
    ck_assert_int_eq(strmap_find(&m, "bob", 3), 1);
    ck_assert_int_eq(strmap_find(&m, "", 0), 2);
    ck_assert_int_eq(strmap_find(&m, "alicex", 5), 0); /* length decides, not a NUL */
    ck_assert_int_eq(strmap_find(&m, "carol", 5), -1);
    size_t len;
    const char *k = strmap_key(&m, 1, &len);
    ck_assert_uint_eq(len, 3);
    ck_assert_str_eq(k, "bob"); /* owned keys are NUL-terminated */
    k = strmap_key(&m, 2, &len);
    ck_assert_uint_eq(len, 0);
    ck_assert_str_eq(k, "");
    char **v = strmap_strv(&m);
    ck_assert_str_eq(v[0], "alice");
    ck_assert_str_eq(v[3], "al");
    strv_free(v, strmap_size(&m));
    ck_assert_uint_gt(strmap_mem(&m), 0);
    strmap_clear(&m);
    ck_assert_uint_eq(strmap_size(&m), 0);
    ck_assert_int_eq(strmap_add(&m, "again", 5), 0); /* reusable after clear */
    strmap_clear(&m);
    strmap_clear(&m); /* idempotent */
}
END_TEST

START_TEST(binary_keys)
{
    strmap m = {0};
    ck_assert_int_eq(strmap_add(&m, "a\0b", 3), 0);
    ck_assert_int_eq(strmap_add(&m, "a\0c", 3), 1);
    ck_assert_int_eq(strmap_add(&m, "a", 1), 2);
    ck_assert_int_eq(strmap_find(&m, "a\0b", 3), 0);
    ck_assert_int_eq(strmap_find(&m, "a\0c", 3), 1);
    ck_assert_int_eq(strmap_find(&m, "\xff\xfe", 2), -1);
    strmap_clear(&m);
}
END_TEST

START_TEST(growth_keeps_every_key)
{
    /* 200k keys: many rehashes and pool moves; every id stays findable and
     * ids are insertion order. */
    strmap m = {0};
    char buf[32];
    const size_t n = 200000;
    for (size_t i = 0; i < n; i++) {
        int len = snprintf(buf, sizeof buf, "user-%zu", i * 7919);
        ck_assert_int_eq(strmap_add(&m, buf, (size_t)len), (int64_t)i);
    }
    ck_assert_uint_eq(strmap_size(&m), n);
    ck_assert_uint_ge(m.mask + 1, 2 * n); /* at most half full */
    for (size_t i = 0; i < n; i += 7) {
        int len = snprintf(buf, sizeof buf, "user-%zu", i * 7919);
        ck_assert_int_eq(strmap_find(&m, buf, (size_t)len), (int64_t)i);
        size_t kl;
        ck_assert_str_eq(strmap_key(&m, i, &kl), buf);
    }
    ck_assert_int_eq(strmap_find(&m, "user-1", 6), -1);
    strmap_clear(&m);
}
END_TEST

START_TEST(index_borrows_and_finds_duplicates)
{
    /* A string table as a model file holds one: "10", "7", "", "abc". */
    const char bytes[] = "107abc";
    const int64_t off[] = {0, 2, 3, 3, 6};
    strmap m = {0};
    size_t dup = 99;
    ck_assert_int_eq(strmap_index(&m, bytes, off, 4, &dup), 0);
    ck_assert_uint_eq(dup, 99);
    ck_assert_uint_eq(strmap_size(&m), 4);
    ck_assert_int_eq(strmap_find(&m, "7", 1), 1);
    ck_assert_int_eq(strmap_find(&m, "", 0), 2);
    ck_assert_int_eq(strmap_find(&m, "abc", 3), 3);
    ck_assert_int_eq(strmap_find(&m, "1", 1), -1);
    size_t len;
    ck_assert_ptr_eq(strmap_key(&m, 3, &len), bytes + 3); /* nothing copied */
    ck_assert_uint_eq(len, 3);
    ck_assert_int_eq(strmap_add(&m, "new", 3), ENC_EINVAL); /* borrowed keys: no adds */
    strmap_clear(&m);

    /* "a", "b", "a": the third repeats the first */
    const char b2[] = "aba";
    const int64_t o2[] = {0, 1, 2, 3};
    ck_assert_int_eq(strmap_index(&m, b2, o2, 3, &dup), ENC_EFORMAT);
    ck_assert_uint_eq(dup, 2);
    ck_assert_int_eq(strmap_find(&m, "a", 1), 0);
    strmap_clear(&m);
    ck_assert_int_eq(strmap_index(&m, b2, o2, 0, NULL), 0); /* empty table */
    ck_assert_int_eq(strmap_find(&m, "a", 1), -1);
    strmap_clear(&m);
}
END_TEST

START_TEST(hash_is_stable)
{
    /* FNV-1a 64 with Encore's offset basis 1469598103934665603 (values from
     * an independent Python computation): NBSVM feature hashing depends on
     * these exact numbers. */
    ck_assert_uint_eq(strmap_hash("", 0), 0x14650fb0739d0383ull);
    ck_assert_uint_eq(strmap_hash("a", 1), 0x44bd8ad473cd9906ull);
    ck_assert_uint_eq(strmap_hash("foobar", 6), 0x88fad7c0a8ff07f2ull);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("strmap");
    TCase *tc = tcase_create("strmap");
    tcase_add_test(tc, add_find_key);
    tcase_add_test(tc, binary_keys);
    tcase_add_test(tc, growth_keeps_every_key);
    tcase_add_test(tc, index_borrows_and_finds_duplicates);
    tcase_add_test(tc, hash_is_stable);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
