/* test_text_data.c - labelled text files (models/text/data.c): the column
 * order detected and said, CSV with a header, and cp1252 input decoded to
 * UTF-8 so that training sees the tokens the server sees. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/text.h"
#include "testutil.h"

static char *dir;

static void setup(void)
{
    dir = tu_tmpdir();
    ck_assert_ptr_nonnull(dir);
}

static void teardown(void)
{
    tu_rmrf(dir);
    free(dir);
}

static const char *write_tmp(const char *name, const char *contents)
{
    static char buf[4][4096];
    static int slot;
    char *b = buf[slot++ % 4];
    snprintf(b, 4096, "%s/%s", dir, name);
    ck_assert_int_eq(tu_write_file(b, contents, strlen(contents)), 0);
    return b;
}

/* The label name of example i. */
static const char *label_of(const struct text_data *d, size_t i)
{
    return d->label_names[d->label[i]];
}

START_TEST(label_first_and_last)
{
    struct text_data d;
    enc_err err = {0};
    /* label<TAB>text (the text keeps its own TABs) */
    const char *p = write_tmp("a.tsv", "pos\ta fine\tfilm\nneg\ta dull one\npos\tgreat fun\n");
    ck_assert_msg(text_data_read_tsv(p, &d, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(d.n, 3);
    ck_assert_str_eq(d.text[0], "a fine\tfilm");
    ck_assert_str_eq(label_of(&d, 1), "neg");
    ck_assert_ptr_nonnull(strstr(d.how[0], "label<TAB>text, detected"));
    text_data_clear(&d);
    /* sentence<TAB>label, the layout the user had */
    p = write_tmp("b.tsv", "a fine film\t1\na dull one\t0\ngreat fun\t1\nbad\tacting\t0\n");
    ck_assert_msg(text_data_read_tsv(p, &d, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(d.n, 4);
    ck_assert_uint_eq(d.n_labels, 2);
    ck_assert_str_eq(d.text[0], "a fine film");
    ck_assert_str_eq(d.text[3], "bad\tacting");
    ck_assert_str_eq(label_of(&d, 1), "0");
    ck_assert_str_eq(label_of(&d, 2), "1");
    ck_assert_ptr_nonnull(strstr(d.how[0], "text<TAB>label, detected"));
    ck_assert_ptr_nonnull(strstr(d.how[0], "4 distinct values in the first column, 2 in the last"));
    text_data_clear(&d);
    /* a header names the order, even where counting could not tell */
    p = write_tmp("c.tsv", "sentence\tlabel\nx\ty\nz\tw\n");
    ck_assert_msg(text_data_read_tsv(p, &d, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(d.n, 2);
    ck_assert_str_eq(d.text[0], "x");
    ck_assert_str_eq(label_of(&d, 0), "y");
    ck_assert_ptr_nonnull(strstr(d.how[0], "the header line says so"));
    text_data_clear(&d);
}
END_TEST

START_TEST(csv_with_a_header)
{
    struct text_data d;
    enc_err err = {0};
    const char *p = write_tmp("r.csv", "id,review,sentiment\n"
                                       "1,\"good, even great\",positive\n"
                                       "2,\"a \"\"dull\"\"\nfilm\",negative\n"
                                       "3,fun,positive\n");
    ck_assert_msg(text_data_read_tsv(p, &d, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(d.n, 3);
    ck_assert_str_eq(d.text[0], "good, even great");
    ck_assert_str_eq(d.text[1], "a \"dull\"\nfilm");
    ck_assert_str_eq(label_of(&d, 1), "negative");
    ck_assert_int_eq(d.src_line[2], 5); /* physical lines: the quoted field spans two */
    ck_assert_ptr_nonnull(strstr(d.how[0], "CSV with a header"));
    text_data_clear(&d);
    /* three unnamed columns: refused, saying what is needed */
    p = write_tmp("s.csv", "1,good,pos\n2,bad,neg\n");
    ck_assert_int_eq(text_data_read_tsv(p, &d, &err), ENC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "s.csv:1: a CSV needs a header"));
    /* a label over 256 bytes names its line and column */
    char big[400];
    memset(big, 'x', 300);
    snprintf(big + 300, sizeof big - 300, "\tone\nb\ttwo\nb\tthree\n");
    p = write_tmp("t.tsv", big);
    ck_assert_int_eq(text_data_read_tsv(p, &d, &err), ENC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "t.tsv:1: label must be 1..256 bytes"));
}
END_TEST

START_TEST(cp1252_becomes_the_servers_utf8)
{
    /* rt-polarity style: cp1252 bytes (0xE8 e-grave, 0x85 ellipsis, 0x93/0x94
     * curly quotes) in one file, plain UTF-8 in the other. */
    const char *pos = write_tmp("x.pos", "tr\xe8s bon\x85 \x93superbe\x94\ntr\xe8s dr\xf4le\n");
    const char *neg = write_tmp("x.neg", "pas dr\xc3\xb4le\nennuyeux\n");
    struct text_data d;
    enc_err err = {0};
    ck_assert_msg(text_data_read_pair(pos, neg, &d, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(d.decoded[0], 1);
    ck_assert_int_eq(d.decoded[1], 0);
    ck_assert_ptr_nonnull(strstr(d.how[0], "decoded as cp1252"));
    /* what a client sends as JSON: the same text in UTF-8 */
    const char *sent = "tr\xc3\xa8s bon\xe2\x80\xa6 \xe2\x80\x9csuperbe\xe2\x80\x9d";
    ck_assert_str_eq(d.text[0], sent);
    ck_assert_str_eq(d.text[1], "tr\xc3\xa8s dr\xc3\xb4le");
    /* the same tokens, byte for byte */
    struct tok_span a[16], b[16];
    size_t na = tok_split(d.text[0], d.len[0], a, 16), nb = tok_split(sent, strlen(sent), b, 16);
    ck_assert_uint_eq(na, nb);
    ck_assert_uint_eq(na, 6); /* tr\u00e8s bon \u2026 \u201c superbe \u201d */
    for (size_t i = 0; i < na; i++)
        ck_assert_int_eq(memcmp(d.text[0] + a[i].off, sent + b[i].off, a[i].len), 0);
    /* a model trained on the file answers the UTF-8 sentence from the same
     * features: the vocabulary holds the UTF-8 word, and it decides */
    struct text_nbsvm_params p;
    text_nbsvm_defaults(&p);
    struct text_model *m = NULL;
    ck_assert_msg(text_nbsvm_train(&d, NULL, d.n, &p, &m, &err) == 0, "%s", err.msg);
    ck_assert_int_ge(tok_vocab_find(m->vocab, "tr\xc3\xa8s", 5), 0);
    ck_assert_int_lt(tok_vocab_find(m->vocab, "tr\xe8s", 4), 0);
    float prob[2];
    ck_assert_int_eq(text_model_predict(m, "tr\xc3\xa8s", 5, prob, &err), 0);
    ck_assert_float_gt(prob[1], prob[0]); /* "pos" is class 1 */
    text_model_free(m);
    text_data_clear(&d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("text_data");
    TCase *tc = tcase_create("text_data");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, label_first_and_last);
    tcase_add_test(tc, csv_with_a_header);
    tcase_add_test(tc, cp1252_becomes_the_servers_utf8);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
