/* test_tokenize.c - the text family's tokeniser, n-grams and vocabulary on
 * ASCII, UTF-8, latin-1 / cp1252 bytes, empty input and random bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "text/tokenize.h"

/* Tokens of s joined by '|', lower-cased. */
static const char *toks(const char *s, size_t n)
{
    static char out[4096];
    struct tok_span sp[128];
    size_t k = tok_split(s, n, sp, 128), len = 0;
    ck_assert_uint_le(k, 128);
    out[0] = 0;
    for (size_t i = 0; i < k; i++) {
        if (i)
            out[len++] = '|';
        len += tok_copy_lower(s, sp[i], out + len);
    }
    out[len] = 0;
    return out;
}

START_TEST(ascii)
{
    const char *s = "Hello, World!  it's GREAT...";
    ck_assert_str_eq(toks(s, strlen(s)), "hello|,|world|!|it|'|s|great|.|.|.");
    s = "the film 's 2 hours\tlong\r\n";
    ck_assert_str_eq(toks(s, strlen(s)), "the|film|'|s|2|hours|long");
}
END_TEST

START_TEST(utf8)
{
    /* "Café naïve—OK ¡sí!" in UTF-8: the em dash (E2 80 94) and ¡ (C2 A1)
     * are punctuation, letters stay whole; only ASCII is lower-cased. */
    const char *s = "Caf\xc3\xa9 na\xc3\xafve\xe2\x80\x94OK \xc2\xa1s\xc3\xad!";
    ck_assert_str_eq(toks(s, strlen(s)),
                     "caf\xc3\xa9|na\xc3\xafve|\xe2\x80\x94|ok|\xc2\xa1|s\xc3\xad|!");
    /* CJK and a no-break space (C2 A0) */
    s = "\xe6\x98\xa0\xe7\x94\xbb\xc2\xa0good";
    ck_assert_str_eq(toks(s, strlen(s)), "\xe6\x98\xa0\xe7\x94\xbb|good");
}
END_TEST

START_TEST(cp1252)
{
    /* rt-polarity style: 0x92 apostrophe, 0x93/0x94 quotes, 0x85 ellipsis,
     * 0x96 dash, latin-1 0xe9 letter. */
    const char *s = "it\x92s a \x93"
                    "film\x94\x85 caf\xe9 \x96 ok";
    ck_assert_str_eq(toks(s, strlen(s)), "it|\x92|s|a|\x93|film|\x94|\x85|caf\xe9|\x96|ok");
    /* A lone 0xA0 is a no-break space; a truncated UTF-8 lead byte is a letter. */
    s = "a\xa0"
        "b \xc3";
    ck_assert_str_eq(toks(s, strlen(s)), "a|b|\xc3");
}
END_TEST

START_TEST(empty)
{
    ck_assert_uint_eq(tok_split("", 0, NULL, 0), 0);
    ck_assert_uint_eq(tok_split(" \t\r\n ", 5, NULL, 0), 0);
    struct tok_grams g = {0};
    ck_assert_int_eq(tok_grams_build(&g, "", 0, 1, 2), 0);
    ck_assert_uint_eq(g.n, 0);
    ck_assert_int_eq(tok_grams_build(&g, "one", 3, 1, 2), 0);
    ck_assert_uint_eq(g.n, 1); /* one unigram, no bigram */
    tok_grams_clear(&g);
}
END_TEST

START_TEST(long_word)
{
    char s[150];
    memset(s, 'a', 100);
    memcpy(s + 100, " \xc3\xa9", 3);
    struct tok_span sp[8];
    size_t k = tok_split(s, 103, sp, 8);
    ck_assert_uint_eq(k, 3);
    ck_assert_uint_eq(sp[0].len, TOK_MAX_LEN);
    ck_assert_uint_eq(sp[1].len, 100 - TOK_MAX_LEN);
    ck_assert_uint_eq(sp[2].len, 2);
    /* a cut never splits a UTF-8 sequence: 63 ASCII bytes then é */
    memset(s, 'b', 63);
    memcpy(s + 63, "\xc3\xa9", 2);
    k = tok_split(s, 65, sp, 8);
    ck_assert_uint_eq(k, 2);
    ck_assert_uint_eq(sp[0].len, 63);
    ck_assert_uint_eq(sp[1].len, 2);
}
END_TEST

START_TEST(random_bytes)
{
    /* Any bytes: spans are in bounds, ordered, non-overlapping, non-empty. */
    unsigned char s[512];
    struct tok_span sp[512];
    uint64_t x = 12345;
    for (int round = 0; round < 2000; round++) {
        size_t n = (size_t)(round % 512);
        for (size_t i = 0; i < n; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            s[i] = (unsigned char)(x >> 56);
        }
        size_t k = tok_split((const char *)s, n, sp, 512);
        /* plain checks in the loop: a Check assertion per byte is slow */
        int ok = k <= n;
        size_t end = 0;
        for (size_t i = 0; i < k && ok; i++) {
            ok = sp[i].off >= end && sp[i].len > 0 && sp[i].len <= TOK_MAX_LEN &&
                 sp[i].off + sp[i].len <= n;
            end = sp[i].off + sp[i].len;
        }
        if (!ok)
            ck_abort_msg("bad spans in round %d (n=%zu, k=%zu)", round, n, k);
    }
}
END_TEST

START_TEST(ngrams)
{
    struct tok_grams g = {0};
    ck_assert_int_eq(tok_grams_build(&g, "Not GOOD, really", 16, 1, 2), 0);
    const char *want[] = {"not", "good", ",", "really", "not good", "good ,", ", really"};
    ck_assert_uint_eq(g.n, 7);
    for (size_t i = 0; i < g.n; i++) {
        size_t len;
        const char *p = tok_gram(&g, i, &len);
        ck_assert_uint_eq(len, strlen(want[i]));
        ck_assert(memcmp(p, want[i], len) == 0);
    }
    ck_assert_int_eq(tok_grams_build(&g, "a b", 3, 2, 2), 0);
    ck_assert_uint_eq(g.n, 1);
    tok_grams_clear(&g);
}
END_TEST

START_TEST(vocab)
{
    tok_vocab *v = tok_vocab_new();
    ck_assert_ptr_nonnull(v);
    const char *words[] = {"b", "a", "c", "a", "b", "a", "d"};
    for (int i = 0; i < 7; i++)
        ck_assert_int_ge(tok_vocab_add(v, words[i], 1, 1), 0);
    ck_assert_uint_eq(tok_vocab_size(v), 4);
    ck_assert_int_eq(tok_vocab_find(v, "a", 1), 1);
    ck_assert_int_eq(tok_vocab_find(v, "zz", 2), -1);
    ck_assert_int_eq(tok_vocab_count(v, 1), 3);
    /* many entries force rehashing */
    char buf[16];
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(buf, sizeof buf, "w%d", i);
        ck_assert_int_eq(tok_vocab_add(v, buf, (size_t)n, 1), 4 + i);
    }
    ck_assert_int_eq(tok_vocab_find(v, "w4321", 5), 4 + 4321);
    tok_vocab *p;
    ck_assert_int_eq(tok_vocab_prune(v, 2, 0, &p), 0);
    ck_assert_uint_eq(tok_vocab_size(p), 2); /* a (3), b (2) */
    size_t len;
    ck_assert(memcmp(tok_vocab_str(p, 0, &len), "a", 1) == 0 && len == 1);
    ck_assert(memcmp(tok_vocab_str(p, 1, &len), "b", 1) == 0);
    tok_vocab_free(p);
    ck_assert_int_eq(tok_vocab_prune(v, 1, 3, &p), 0); /* a, b, then c before d (bytes) */
    ck_assert_uint_eq(tok_vocab_size(p), 3);
    ck_assert(memcmp(tok_vocab_str(p, 2, &len), "c", 1) == 0);
    tok_vocab_free(p);
    tok_vocab_free(v);
    tok_vocab_free(NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tokenize");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, ascii);
    tcase_add_test(tc, utf8);
    tcase_add_test(tc, cp1252);
    tcase_add_test(tc, empty);
    tcase_add_test(tc, long_word);
    tcase_add_test(tc, random_bytes);
    tcase_add_test(tc, ngrams);
    tcase_add_test(tc, vocab);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
