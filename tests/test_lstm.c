/* test_lstm.c - the text family's LSTM: analytic gradients against central
 * finite differences (every parameter, each pooling), overfitting a few
 * sentences, determinism per seed, and the model file round trip with
 * golden outputs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/model.h"
#include "core/st.h"
#include "families.h"
#include "testutil.h"
#include "text/text_int.h"

static const char *TSV_FB = "pos\tgood film\nneg\tbad film\n";

static void grad_check(enum text_pool pool, double forget_bias)
{
    struct text_model *m;
    ck_assert_int_eq(text_lstm_new_random(6, 3, 4, 3, pool, 8, 42, forget_bias, &m), 0);
    /* scale weights down a little so no unit saturates (finite differences
     * in float need smooth, unsaturated functions) */
    float *blk[6];
    size_t size[6], total = 0;
    text_lstm_blocks(m, blk, size);
    for (int b = 0; b < 6; b++) {
        total += size[b];
        for (size_t i = 0; i < size[b]; i++)
            blk[b][i] *= b == 0 ? 0.5f : 1.0f;
    }
    /* 3 sequences of lengths 5, 2, 4 over ids 1..7 (T = 5, padded) */
    const int T = 5;
    int32_t ids[15] = {2, 3, 4, 5, 6, 7, 1, 0, 0, 0, 3, 3, 2, 7, 0};
    int lens[3] = {5, 2, 4};
    int32_t y[3] = {0, 2, 1};
    float *grad = malloc(total * sizeof *grad);
    double loss;
    ck_assert_int_eq(text_lstm_loss(m, ids, lens, 3, T, y, &loss, grad), 0);
    ck_assert(isfinite(loss) && loss > 0);
    double worst = 0;
    size_t off = 0, checked = 0;
    for (int b = 0; b < 6; b++)
        for (size_t i = 0; i < size[b]; i++, off++) {
            float keep = blk[b][i];
            const float h = 2e-3f;
            double lp, lm;
            blk[b][i] = keep + h;
            text_lstm_loss(m, ids, lens, 3, T, y, &lp, NULL);
            blk[b][i] = keep - h;
            text_lstm_loss(m, ids, lens, 3, T, y, &lm, NULL);
            blk[b][i] = keep;
            double num = (lp - lm) / (2.0 * h), ana = grad[off];
            double e = fabs(num - ana) / fmax(1e-2, fabs(num) + fabs(ana));
            if (e > worst)
                worst = e;
            if (e > 0.05)
                ck_abort_msg("pool %d block %d index %zu: analytic %g, numeric %g", pool, b, i, ana,
                             num);
            checked++;
        }
    ck_assert_uint_eq(checked, total);
    /* padding and unused rows get no gradient: row 0 (padding) */
    for (size_t e = 0; e < 3; e++)
        ck_assert_float_eq(grad[e], 0.0f);
    free(grad);
    text_model_free(m);
}

START_TEST(gradient_last)
{
    grad_check(TEXT_POOL_LAST, NAN);
}
END_TEST

START_TEST(gradient_mean)
{
    grad_check(TEXT_POOL_MEAN, NAN);
}
END_TEST

START_TEST(gradient_max)
{
    grad_check(TEXT_POOL_MAX, NAN);
}
END_TEST

START_TEST(gradient_forget_bias)
{
    /* the gradient check again from a forget-biased start (f gates near 0.73) */
    grad_check(TEXT_POOL_MAX, 1.0);
}
END_TEST

START_TEST(forget_bias_init)
{
    /* --forget-bias sets exactly the f block of the gate bias and leaves every
     * other parameter (and so the random stream) as without it */
    const size_t H = 5;
    struct text_model *a, *b, *c;
    ck_assert_int_eq(text_lstm_new_random(7, 3, H, 2, TEXT_POOL_MAX, 8, 11, NAN, &a), 0);
    ck_assert_int_eq(text_lstm_new_random(7, 3, H, 2, TEXT_POOL_MAX, 8, 11, 1.0, &b), 0);
    ck_assert_int_eq(text_lstm_new_random(7, 3, H, 2, TEXT_POOL_MAX, 8, 11, -0.5, &c), 0);
    float *pa[6], *pb[6], *pc[6];
    size_t size[6];
    text_lstm_blocks(a, pa, size);
    text_lstm_blocks(b, pb, size);
    text_lstm_blocks(c, pc, size);
    for (int k = 0; k < 6; k++)
        if (k != 3)
            ck_assert(memcmp(pa[k], pb[k], size[k] * sizeof(float)) == 0);
    ck_assert_uint_eq(size[3], 4 * H);
    int random_f_is_one = 1;
    for (size_t u = 0; u < H; u++) {
        for (int g = 0; g < 4; g++)
            if (g != 1)
                ck_assert_float_eq(pa[3][g * H + u], pb[3][g * H + u]);
        ck_assert_float_eq(pb[3][H + u], 1.0f);
        ck_assert_float_eq(pc[3][H + u], -0.5f);
        /* PyTorch's init: the sum of two U(-1/sqrt(H), 1/sqrt(H)) draws */
        ck_assert(fabsf(pa[3][H + u]) <= 2.0f / sqrtf((float)H));
        random_f_is_one &= pa[3][H + u] == 1.0f;
    }
    ck_assert(!random_f_is_one);
    text_model_free(a);
    text_model_free(b);
    text_model_free(c);

    /* and text_lstm_train honours text_lstm_params.forget_bias */
    char *dir = tu_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/s.tsv", dir);
    ck_assert_int_eq(tu_write_file(path, TSV_FB, strlen(TSV_FB)), 0);
    struct text_data d;
    enc_err err = {0};
    ck_assert_int_eq(text_data_read_tsv(path, &d, &err), 0);
    struct text_lstm_params p;
    text_lstm_defaults(&p);
    p.emb_dim = 4;
    p.hidden = H;
    p.epochs = 1;
    p.lr = 1e-9; /* training barely moves the bias, so it shows the init */
    p.forget_bias = 2.0;
    struct text_model *m = NULL;
    ck_assert_msg(text_lstm_train(&d, NULL, 0, &p, &m, &err) == 0, "%s", err.msg);
    for (size_t u = 0; u < H; u++) {
        ck_assert_float_eq_tol(m->bg[H + u], 2.0f, 1e-5);
        ck_assert(fabsf(m->bg[u]) < 1.5f); /* the other gates stay random */
    }
    text_model_free(m);
    text_data_clear(&d);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(padding_is_neutral)
{
    /* A sequence's output does not depend on how far it is padded. */
    struct text_model *m;
    ck_assert_int_eq(text_lstm_new_random(6, 3, 4, 2, TEXT_POOL_MEAN, 8, 7, NAN, &m), 0);
    int32_t a[3] = {2, 5, 3}, b[7] = {2, 5, 3, 0, 0, 0, 0};
    int la = 3;
    int32_t y = 1;
    double l1, l2;
    ck_assert_int_eq(text_lstm_loss(m, a, &la, 1, 3, &y, &l1, NULL), 0);
    ck_assert_int_eq(text_lstm_loss(m, b, &la, 1, 7, &y, &l2, NULL), 0);
    ck_assert_double_eq_tol(l1, l2, 1e-6);
    text_model_free(m);
}
END_TEST

static const char *TSV = "pos\tan utterly gripping film\n"
                         "neg\ta dull and lifeless mess\n"
                         "pos\twarm , funny and wise\n"
                         "neg\tnot funny , not warm , not wise\n"
                         "pos\tthe best film of the year\n"
                         "neg\tthe worst film of the year\n";

static struct text_model *train_small(const char *dir, struct text_data *d, uint64_t seed,
                                      int epochs)
{
    char path[512];
    snprintf(path, sizeof path, "%s/s.tsv", dir);
    ck_assert_int_eq(tu_write_file(path, TSV, strlen(TSV)), 0);
    enc_err err = {0};
    ck_assert_msg(text_data_read_tsv(path, d, &err) == 0, "%s", err.msg);
    struct text_lstm_params p;
    text_lstm_defaults(&p);
    p.emb_dim = 8;
    p.hidden = 8;
    p.epochs = epochs;
    p.batch = 2;
    p.lr = 0.02;
    p.dropout = 0.0;
    p.seed = seed;
    p.bptt = 3;
    struct text_model *m = NULL;
    ck_assert_msg(text_lstm_train(d, NULL, 0, &p, &m, &err) == 0, "%s", err.msg);
    return m;
}

START_TEST(overfit_few_sentences)
{
    char *dir = tu_tmpdir();
    struct text_data d;
    struct text_model *m = train_small(dir, &d, 3, 60);
    for (size_t i = 0; i < d.n; i++) {
        float prob[2];
        ck_assert_int_eq(text_model_predict(m, d.text[i], d.len[i], prob, NULL), 0);
        ck_assert_msg(prob[d.label[i]] > 0.9f, "example %zu: p(true) = %g", i, prob[d.label[i]]);
    }
    text_model_free(m);
    text_data_clear(&d);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(deterministic_and_round_trip)
{
    char *dir = tu_tmpdir();
    struct text_data d;
    struct text_model *a = train_small(dir, &d, 9, 5);
    text_data_clear(&d);
    struct text_model *b = train_small(dir, &d, 9, 5);
    float *pa[6], *pb[6];
    size_t size[6];
    text_lstm_blocks(a, pa, size);
    text_lstm_blocks(b, pb, size);
    for (int k = 0; k < 6; k++)
        ck_assert(memcmp(pa[k], pb[k], size[k] * sizeof(float)) == 0);
    text_model_free(b);
    text_data_clear(&d);
    b = train_small(dir, &d, 10, 5); /* another seed differs */
    text_lstm_blocks(b, pb, size);
    ck_assert(memcmp(pa[4], pb[4], size[4] * sizeof(float)) != 0);
    text_model_free(b);

    st_writer *w = st_writer_new();
    ck_assert_int_eq(text_write(a, w, NULL, NULL), 0);
    void *buf;
    size_t len;
    ck_assert_int_eq(st_writer_to_buffer(w, &buf, &len, NULL), 0);
    st_writer_free(w);
    st_file *f;
    enc_err err = {0};
    ck_assert_msg(st_open_buffer(buf, len, &f, &err) == 0, "%s", err.msg);
    const struct model_ops *ops = model_family_find(model_families, "text");
    void *state;
    ck_assert_msg(ops->load(f, &model_default_opts, &state, &err) == 0, "%s", err.msg);
    const char *texts[] = {"a gripping film", "not funny", "", "\x93zzz\x94 \xc3\xa9"};
    size_t lens[4];
    for (int i = 0; i < 4; i++)
        lens[i] = strlen(texts[i]);
    struct model_batch batch = {.n = 4, .text = texts, .text_len = lens};
    float prob[8];
    ck_assert_int_eq(ops->predict(state, &batch, prob, NULL), 0);
    for (int i = 0; i < 4; i++) {
        float direct[2];
        ck_assert_int_eq(text_model_predict(a, texts[i], lens[i], direct, NULL), 0);
        ck_assert_float_eq(prob[2 * i], direct[0]);
        ck_assert_float_eq(prob[2 * i + 1], direct[1]);
        ck_assert_float_eq_tol(prob[2 * i] + prob[2 * i + 1], 1.0f, 1e-5);
    }
    json_t *o = json_object();
    ops->describe(state, o);
    ck_assert_str_eq(json_string_value(json_object_get(o, "model_kind")), "lstm");
    ck_assert_int_eq(json_integer_value(json_object_get(o, "max_length")), 64);
    json_decref(o);
    ops->free(state);
    st_close(f);
    free(buf);
    text_model_free(a);
    text_data_clear(&d);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(word_vectors)
{
    char *dir = tu_tmpdir();
    char path[512], vec[512];
    snprintf(path, sizeof path, "%s/s.tsv", dir);
    snprintf(vec, sizeof vec, "%s/v.txt", dir);
    ck_assert_int_eq(tu_write_file(path, TSV, strlen(TSV)), 0);
    const char *v = "3 4\nfilm 0.5 -0.25 1 2\nnotaword 9 9 9 9\nwarm 1e-1 0 0 -3\n";
    ck_assert_int_eq(tu_write_file(vec, v, strlen(v)), 0);
    struct text_data d;
    enc_err err = {0};
    ck_assert_int_eq(text_data_read_tsv(path, &d, &err), 0);
    struct text_lstm_params p;
    text_lstm_defaults(&p);
    p.emb_dim = 4;
    p.hidden = 3;
    p.epochs = 1;
    p.lr = 1e-9; /* training barely moves the rows, so they show the file */
    p.vectors = vec;
    struct text_model *m = NULL;
    ck_assert_msg(text_lstm_train(&d, NULL, 0, &p, &m, &err) == 0, "%s", err.msg);
    int64_t film = tok_vocab_find(m->vocab, "film", 4), warm = tok_vocab_find(m->vocab, "warm", 4);
    ck_assert(film >= 0 && warm >= 0);
    const float *ef = m->emb + (size_t)(film + 2) * 4, *ew = m->emb + (size_t)(warm + 2) * 4;
    ck_assert_float_eq_tol(ef[0], 0.5f, 1e-5);
    ck_assert_float_eq_tol(ef[3], 2.0f, 1e-5);
    ck_assert_float_eq_tol(ew[0], 0.1f, 1e-5);
    ck_assert_float_eq_tol(ew[3], -3.0f, 1e-5);
    text_model_free(m);
    /* a row of the wrong width names the file and line */
    v = "film 0.5 -0.25 1\n";
    ck_assert_int_eq(tu_write_file(vec, v, strlen(v)), 0);
    ck_assert_int_eq(text_lstm_train(&d, NULL, 0, &p, &m, &err), ENC_EFORMAT);
    ck_assert_msg(strstr(err.msg, "v.txt:1:") != NULL, "%s", err.msg);
    ck_assert_ptr_null(m);
    text_data_clear(&d);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(golden_fixture)
{
    /* A tiny LSTM from a fixed seed, built without training: its outputs
     * depend only on initialisation, tokenisation and the forward pass. */
    struct text_model *m;
    ck_assert_int_eq(text_lstm_new_random(5, 4, 3, 2, TEXT_POOL_MAX, 16, 2024, NAN, &m), 0);
    const char *s = "w0 w3 W4 unknown w1";
    float prob[2];
    ck_assert_int_eq(text_model_predict(m, s, strlen(s), prob, NULL), 0);
    ck_assert_float_eq_tol(prob[1], 0.623988f, 1e-4);
    text_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lstm");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, gradient_last);
    tcase_add_test(tc, gradient_mean);
    tcase_add_test(tc, gradient_max);
    tcase_add_test(tc, gradient_forget_bias);
    tcase_add_test(tc, forget_bias_init);
    tcase_add_test(tc, padding_is_neutral);
    tcase_add_test(tc, overfit_few_sentences);
    tcase_add_test(tc, deterministic_and_round_trip);
    tcase_add_test(tc, word_vectors);
    tcase_add_test(tc, golden_fixture);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
