/*
 * test_cnn_bn.c - batch normalisation in the CNN family ("bn" in the arch):
 * finite-difference gradient checks (input, gamma, beta, and the layers
 * around it) for per-channel (after conv / pool) and per-feature (after
 * dense / flatten) placement; the batch statistics against a direct
 * computation; training vs inference mode; the running statistics' update
 * (PyTorch's momentum 0.1, unbiased variance) and its exact merge over
 * thread slices; training with bn; the model file round trip and its
 * validation; bad specs; and a golden model whose inference output, training
 * output and updated running statistics were computed by an independent
 * numpy implementation (tests/data/cnn_bn/make_golden.py).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/cnn.h"
#include "cnn_testutil.h"
#include "core/model.h"
#include "families.h"

static uint64_t rng_state = 4242;

static float frand(void) /* uniform in [-1, 1) */
{
    return cnnt_frand(&rng_state);
}

/* Analytic gradients of every parameter (gamma and beta included) and of
 * every input value against central differences, in training mode (batch
 * statistics, so the gradient flows through the mean and variance too);
 * parameters jittered by 0.2 (gamma != 1, beta != 0) and inputs shifted by
 * 0.5 (mean away from 0: the centring matters). Larger steps than
 * test_cnn.c's 3e-4: bn's sums over the batch add float round-off to the
 * loss (a zero-gradient conv bias before bn reads +-0.002 at 1e-4); at 1e-3
 * no ReLU / max-pool switch is crossed here. */
static void grad_check(const char *arch, int h, int wd, int c, size_t n)
{
    const struct cnnt_gc o = {n, 0.2f, 0.5f, 1e-3f};
    size_t bn_checked = cnnt_grad_check(arch, h, wd, c, &o, &rng_state);
    ck_assert_msg(bn_checked > 0, "%s: no bn parameter checked", arch);
}

START_TEST(gradcheck_bn_conv)
{
    /* per channel after a convolution, before the ReLU (the usual place) */
    grad_check("conv3k3same,bn,relu,pool2,dense3", 6, 6, 2, 3);
    /* as the first layer (gradient straight to the input), and after a pool
     * in a second conv block (bn between chunked runs) */
    grad_check("bn,conv3k3,relu,pool2,bn,conv2k2,dense3", 7, 7, 2, 3);
}
END_TEST

START_TEST(gradcheck_bn_dense)
{
    /* per feature after a dense layer, and after flatten */
    grad_check("conv2k3,relu,dense6,bn,relu,dense3", 5, 5, 1, 4);
    grad_check("conv2k3,relu,flatten,bn,dense3", 5, 5, 1, 4);
    /* two bn in a row, dropout between (masks seeded, so deterministic) */
    grad_check("dense5,bn,bn,dropout0.3,relu,dense3", 3, 3, 1, 4);
}
END_TEST

/* x: n images of h x w x C with channel c ~ (c + 1) * U(-1, 1) + 2c. */
static float *make_input(size_t n, int h, int w, int c)
{
    float *x = malloc(n * (size_t)h * w * c * sizeof *x);
    for (size_t r = 0; r < n * (size_t)h * w; r++)
        for (int k = 0; k < c; k++)
            x[r * c + k] = (float)(k + 1) * frand() + 2.0f * (float)k;
    return x;
}

START_TEST(batch_stats_train_vs_eval)
{
    struct cnn_net *net;
    enc_err err = {0};
    const int H = 5, W = 4, C = 3;
    const size_t n = 6, D = (size_t)H * W * C, rows = n * H * W;
    ck_assert_int_eq(cnn_new("bn,conv4k3,relu,dense3", H, W, C, &net, &err), 0);
    cnn_init(net, 3, CNN_INIT_HE);
    ck_assert_uint_eq(net->n_stats, 2 * (size_t)C);
    ck_assert_int_eq(net->layers[0].units, C);
    ck_assert(net->params[net->layers[0].w_off] == 1.0f && net->params[net->layers[0].b_off] == 0);
    float *x = make_input(n, H, W, C);
    /* the batch moments per channel, computed here directly */
    double mean[3] = {0}, var[3] = {0};
    for (size_t r = 0; r < rows; r++)
        for (int k = 0; k < C; k++)
            mean[k] += x[r * C + k] / (double)rows;
    for (size_t r = 0; r < rows; r++)
        for (int k = 0; k < C; k++)
            var[k] += (x[r * C + k] - mean[k]) * (x[r * C + k] - mean[k]) / (double)rows;

    struct cnn_work *w = cnn_work_new(net, n, 1);
    const float *bm, *bv;
    size_t count;
    ck_assert_int_eq(cnn_bn_batch_stats(net, w, 0, &bm, &bv, &count), -1); /* none yet */
    float zt[18], ze[18];
    memcpy(zt, cnn_forward(net, w, x, n, 1, 1, 0), sizeof zt);
    ck_assert_int_eq(cnn_bn_batch_stats(net, w, 0, &bm, &bv, &count), 0);
    ck_assert_int_eq(cnn_bn_batch_stats(net, w, 1, &bm, &bv, &count), -1); /* conv */
    ck_assert_int_eq(cnn_bn_batch_stats(net, w, 0, &bm, &bv, &count), 0);
    ck_assert_uint_eq(count, rows);
    for (int k = 0; k < C; k++) {
        ck_assert_msg(fabs(bm[k] - mean[k]) < 1e-5 * (1 + fabs(mean[k])), "mean %d", k);
        ck_assert_msg(fabs(bv[k] - var[k]) < 1e-5 * (1 + var[k]), "var %d", k);
    }
    /* inference with the initial running stats (0, 1) is not training mode */
    memcpy(ze, cnn_forward(net, w, x, n, 0, 1, 0), sizeof ze);
    double d = 0;
    for (int j = 0; j < 18; j++)
        d = fmax(d, fabs(zt[j] - ze[j]));
    ck_assert_msg(d > 1e-2, "train and eval outputs agree (%g): bn did nothing", d);

    /* the running statistics: PyTorch's update, unbiased variance */
    struct cnn_work *ws[1] = {w};
    cnn_bn_update(net, ws, 1, CNN_BN_MOMENTUM);
    const float *rm = net->stats + net->layers[0].s_off, *rv = rm + C;
    for (int k = 0; k < C; k++) {
        double um = 0.1 * mean[k], uv = 0.9 + 0.1 * var[k] * rows / (rows - 1.0);
        ck_assert_msg(fabs(rm[k] - um) < 1e-5 * (1 + fabs(um)), "running mean %d: %g vs %g", k,
                      rm[k], um);
        ck_assert_msg(fabs(rv[k] - uv) < 1e-5 * (1 + uv), "running var %d: %g vs %g", k, rv[k], uv);
    }
    /* with the running stats set to the batch's (biased) moments, inference
     * gives the training-mode output */
    float *srm = net->stats + net->layers[0].s_off, *srv = srm + C;
    for (int k = 0; k < C; k++) {
        srm[k] = (float)mean[k];
        srv[k] = (float)var[k];
    }
    memcpy(ze, cnn_forward(net, w, x, n, 0, 1, 0), sizeof ze);
    for (int j = 0; j < 18; j++)
        ck_assert_msg(fabsf(zt[j] - ze[j]) < 1e-4f * (1 + fabsf(zt[j])), "logit %d: %g vs %g", j,
                      zt[j], ze[j]);
    /* inference does not depend on the other images of the batch */
    struct cnn_work *w1 = cnn_work_new(net, 1, 0);
    for (size_t b = 0; b < n; b++) {
        const float *z1 = cnn_forward(net, w1, x + b * D, 1, 0, 0, 0);
        for (int k = 0; k < 3; k++)
            ck_assert(fabsf(z1[k] - ze[b * 3 + k]) < 1e-5f * (1 + fabsf(z1[k])));
    }
    cnn_work_free(w1);
    cnn_work_free(w);
    cnn_free(net);
    free(x);
}
END_TEST

/* Running statistics from two slices of a batch (split_batch threads) are
 * the ones of the whole batch. */
START_TEST(running_stats_merge_slices)
{
    struct cnn_net *a, *b;
    enc_err err = {0};
    const int H = 4, W = 4, C = 2;
    const size_t n = 7, D = (size_t)H * W * C;
    const char *arch = "conv3k3same,bn,relu,dense4,bn,dense2";
    ck_assert_int_eq(cnn_new(arch, H, W, C, &a, &err), 0);
    ck_assert_int_eq(cnn_new(arch, H, W, C, &b, &err), 0);
    cnn_init(a, 5, CNN_INIT_HE);
    cnn_init(b, 5, CNN_INIT_HE);
    float *x = make_input(n, H, W, C);
    struct cnn_work *whole = cnn_work_new(a, n, 1), *s1 = cnn_work_new(b, 3, 1),
                    *s2 = cnn_work_new(b, 4, 1), *empty = cnn_work_new(b, 1, 1);
    cnn_forward(a, whole, x, n, 1, 1, 0);
    cnn_forward(b, s1, x, 3, 1, 1, 0);
    cnn_forward(b, s2, x + 3 * D, 4, 1, 1, 3);
    cnn_forward(b, empty, x, 0, 1, 1, 0); /* a thread that got no images */
    struct cnn_work *wa[1] = {whole}, *wb[3] = {s1, empty, s2};
    cnn_bn_update(a, wa, 1, 0.5f);
    cnn_bn_update(b, wb, 3, 0.5f);
    ck_assert_uint_eq(a->n_stats, 2 * 3 + 2 * 4); /* 3 filters, 4 units */
    /* the first bn sees the same values either way (later ones do not: each
     * slice was normalised with its own statistics) */
    for (size_t j = 0; j < 2 * (size_t)a->layers[1].units; j++)
        ck_assert_msg(fabsf(a->stats[j] - b->stats[j]) < 2e-5f * (1 + fabsf(a->stats[j])),
                      "stat %zu: %g vs %g", j, a->stats[j], b->stats[j]);
    /* and they moved away from (0, 1) */
    ck_assert(fabsf(a->stats[0]) > 1e-3f);
    cnn_work_free(whole);
    cnn_work_free(s1);
    cnn_work_free(s2);
    cnn_work_free(empty);
    cnn_free(a);
    cnn_free(b);
    free(x);
}
END_TEST

static void make_set(struct idx_dataset *d, size_t n, size_t side, int classes)
{
    cnnt_make_set(d, n, side, classes, &rng_state);
}

START_TEST(train_save_load_predict)
{
    struct idx_dataset d;
    make_set(&d, 24, 8, 3);
    struct cnn_net *net, *back;
    enc_err err = {0};
    const char *arch = "conv4k3same,bn,relu,pool2,dense8,bn,relu,dense3";
    ck_assert_int_eq(cnn_new(arch, 8, 8, 1, &net, &err), 0);
    cnn_init(net, 2, CNN_INIT_UNIFORM);
    struct cnn_train_opts o = {.epochs = 60,
                               .batch = 6,
                               .lr = 0.01,
                               .adam = 1,
                               .seed = 1,
                               .threads = 2,
                               .split_batch = 1,
                               .standardize = 1};
    ck_assert_int_eq(cnn_train(net, &d, NULL, &o, NULL, &err), 0);
    int pred[24];
    ck_assert_int_eq(cnn_classify(net, &d, 1, pred, &err), 0);
    size_t hit = 0;
    for (int i = 0; i < 24; i++)
        hit += pred[i] == d.labels[i];
    ck_assert_msg(hit >= 22, "bn net learned %zu of 24 random images", hit);
    /* training moved gamma, beta and the running statistics */
    const struct cnn_layer *L = &net->layers[1];
    ck_assert(net->params[L->w_off] != 1.0f && net->params[L->b_off] != 0.0f);
    ck_assert(net->stats[L->s_off] != 0.0f && net->stats[L->s_off + L->units] != 1.0f);

    ck_assert_int_eq(cnnt_round_trip(net, NULL, NULL, &back, &err), 0);
    ck_assert_uint_eq(back->n_stats, net->n_stats);
    ck_assert(memcmp(back->params, net->params, net->n_params * sizeof(float)) == 0);
    ck_assert(memcmp(back->stats, net->stats, net->n_stats * sizeof(float)) == 0);
    float *x = malloc(24 * 64 * sizeof *x), *p1 = malloc(24 * 3 * sizeof *p1),
          *p2 = malloc(24 * 3 * sizeof *p2), p3[3];
    for (size_t j = 0; j < 24 * 64; j++)
        x[j] = d.pixels[j];
    ck_assert_int_eq(cnn_predict(net, x, 24, p1, &err), 0);
    ck_assert_int_eq(cnn_predict(back, x, 24, p2, &err), 0);
    ck_assert(memcmp(p1, p2, 24 * 3 * sizeof *p1) == 0);
    ck_assert_int_eq(cnn_predict(back, x + 5 * 64, 1, p3, &err), 0); /* alone */
    for (int k = 0; k < 3; k++)
        ck_assert(fabsf(p3[k] - p1[5 * 3 + k]) < 1e-5f);
    cnn_free(back);

    /* same seed and threads: the same parameters and running statistics */
    struct cnn_net *again;
    ck_assert_int_eq(cnn_new(arch, 8, 8, 1, &again, &err), 0);
    cnn_init(again, 2, CNN_INIT_UNIFORM);
    ck_assert_int_eq(cnn_train(again, &d, NULL, &o, NULL, &err), 0);
    ck_assert(memcmp(again->params, net->params, net->n_params * sizeof(float)) == 0);
    ck_assert(memcmp(again->stats, net->stats, net->n_stats * sizeof(float)) == 0);
    cnn_free(again);

    /* the file is validated: arch without / with other bn, bad running var */
    back = (struct cnn_net *)1;
    ck_assert_int_eq(
        cnnt_round_trip(net, "arch", "conv4k3same,relu,pool2,dense8,bn,relu,dense3", &back, &err),
        ENC_EFORMAT);
    ck_assert_ptr_null(back);
    ck_assert_int_eq(
        cnnt_round_trip(net, "arch", "conv4k3same,bn,relu,pool2,dense8,relu,dense3", &back, &err),
        ENC_EFORMAT);
    ck_assert_int_eq(cnnt_round_trip(net, "arch",
                                     "conv4k3same,bn,relu,pool2,flatten,bn,dense8,bn,"
                                     "relu,dense3",
                                     &back, &err),
                     ENC_EFORMAT);
    ck_assert_msg(strstr(err.msg, "layers."), "%s", err.msg);
    net->stats[L->s_off + L->units + 2] = -0.5f;
    ck_assert_int_eq(cnnt_round_trip(net, NULL, NULL, &back, &err), ENC_EFORMAT);
    ck_assert_msg(strstr(err.msg, "running_mean/var"), "%s", err.msg);
    net->stats[L->s_off + L->units + 2] = 1.0f;
    net->stats[L->s_off + 1] = INFINITY;
    ck_assert_int_eq(cnnt_round_trip(net, NULL, NULL, &back, &err), ENC_EFORMAT);
    net->stats[L->s_off + 1] = 0.0f;
    ck_assert_int_eq(cnnt_round_trip(net, NULL, NULL, &back, &err), 0);
    cnn_free(back);
    cnn_free(net);
    free(x);
    free(p1);
    free(p2);
    idx_dataset_clear(&d);
}
END_TEST

/* A hand-written file whose running_mean has the wrong shape is refused,
 * naming the tensor. */
START_TEST(file_bad_running_stats_shape)
{
    const char *names[] = {"a", "b"};
    static const float v[16] = {0.5f, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
    for (int wrong = 0; wrong < 3; wrong++) {
        st_writer *w = st_writer_new();
        ck_assert_int_eq(st_writer_meta(w, "arch", "dense4,bn,dense2"), 0);
        ck_assert_int_eq(st_writer_meta(w, "input_height", "2"), 0);
        ck_assert_int_eq(st_writer_meta(w, "input_width", "2"), 0);
        ck_assert_int_eq(st_writer_meta(w, "input_channels", "1"), 0);
        ck_assert_int_eq(st_writer_meta(w, "input_max", "255"), 0);
        ck_assert_int_eq(st_writer_meta(w, "input_scale", "1"), 0);
        ck_assert_int_eq(st_writer_meta(w, "input_offset", "0"), 0);
        int64_t s44[2] = {4, 4}, s4[1] = {4}, s5[1] = {5}, s24[2] = {2, 4}, s2[1] = {2};
        ck_assert_int_eq(st_writer_add(w, "layers.0.weight", ST_F32, 2, s44, v), 0);
        ck_assert_int_eq(st_writer_add(w, "layers.0.bias", ST_F32, 1, s4, v), 0);
        ck_assert_int_eq(st_writer_add(w, "layers.1.weight", ST_F32, 1, s4, v + 1), 0);
        ck_assert_int_eq(st_writer_add(w, "layers.1.bias", ST_F32, 1, s4, v), 0);
        if (wrong != 2)
            ck_assert_int_eq(
                st_writer_add(w, "layers.1.running_mean", ST_F32, 1, wrong == 1 ? s5 : s4, v), 0);
        ck_assert_int_eq(st_writer_add(w, "layers.1.running_var", ST_F32, 1, s4, v + 1), 0);
        ck_assert_int_eq(st_writer_add(w, "layers.2.weight", ST_F32, 2, s24, v), 0);
        ck_assert_int_eq(st_writer_add(w, "layers.2.bias", ST_F32, 1, s2, v), 0);
        ck_assert_int_eq(st_writer_add_strings(w, "class_names", names, NULL, 2), 0);
        enc_err err = {0};
        void *buf;
        size_t len;
        ck_assert_int_eq(st_writer_to_buffer(w, &buf, &len, &err), 0);
        st_writer_free(w);
        st_file *f;
        ck_assert_int_eq(st_open_buffer(buf, len, &f, &err), 0);
        free(buf);
        struct cnn_net *net = NULL;
        int rc = cnn_from_file(f, &net, &err);
        st_close(f);
        if (wrong == 0) { /* the well-formed file loads and predicts */
            ck_assert_msg(rc == 0, "%s", err.msg);
            float x[4] = {1, 2, 3, 4}, p[2];
            ck_assert_int_eq(cnn_predict(net, x, 1, p, &err), 0);
            ck_assert(fabsf(p[0] + p[1] - 1.0f) < 1e-6f);
            cnn_free(net);
        } else {
            ck_assert_int_eq(rc, ENC_EFORMAT);
            ck_assert_ptr_null(net);
            ck_assert_msg(strstr(err.msg, "layers.1.running_mean"), "%s", err.msg);
        }
    }
}
END_TEST

START_TEST(arch_bn_shapes_and_bad_specs)
{
    struct cnn_net *net;
    enc_err err = {0};
    ck_assert_int_eq(cnn_new("conv32k3same,bn,relu,pool2,conv64k3same,bn,relu,pool2,dense256,bn,"
                             "relu,dense10",
                             28, 28, 1, &net, &err),
                     0);
    ck_assert_int_eq(net->layers[1].kind, CNN_BN);
    ck_assert_int_eq(net->layers[1].units, 32);
    ck_assert_int_eq(net->layers[5].units, 64);
    ck_assert_int_eq(net->layers[9].units, 256);
    ck_assert_int_eq(net->layers[9].out_c, 256);
    /* conv 320 + 32, bn 64, conv 18496, bn 128, dense 3136*256 + 256, bn 512,
     * dense 2570 (PyTorch counts the same trainable parameters) */
    ck_assert_uint_eq(net->n_params, 320 + 64 + 18496 + 128 + 3136 * 256 + 256 + 512 + 2570);
    ck_assert_uint_eq(net->n_stats, 2 * (32 + 64 + 256));
    cnn_free(net);
    ck_assert_int_eq(cnn_new("conv2k3,flatten,bn,dense3", 5, 5, 1, &net, &err), 0);
    ck_assert_int_eq(net->layers[2].units, 3 * 3 * 2); /* per feature once flat */
    cnn_free(net);

    const char *bad[] = {"bn",          "dense10,bn",        "bn2,dense10",
                         "bnx,dense10", "batchnorm,dense10", "conv4k3,bn,,dense10",
                         "conv4k3,bn,", "BN,dense10"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        net = (struct cnn_net *)1;
        err.msg[0] = 0;
        ck_assert_msg(cnn_new(bad[i], 28, 28, 1, &net, &err) == ENC_EINVAL, "accepted '%s'",
                      bad[i]);
        ck_assert_ptr_null(net);
        ck_assert_msg(err.msg[0], "no message for '%s'", bad[i]);
    }
}
END_TEST

START_TEST(golden_bn)
{
    struct model *m;
    enc_err err = {0};
    ck_assert_msg(model_load("golden", 1, tu_src("tests/data/cnn_bn/model.safetensors"),
                             &model_default_opts, &m, &err) == 0,
                  "%s", err.msg);
    double in[108], want[12];
    ck_assert_uint_eq(cnnt_read_numbers(tu_src("tests/data/cnn_bn/input.txt"), in, 108), 108);
    float x[108], prob[9];
    for (int i = 0; i < 108; i++)
        x[i] = (float)in[i];
    /* inference: the running statistics */
    ck_assert_uint_eq(cnnt_read_numbers(tu_src("tests/data/cnn_bn/expected_eval.txt"), want, 9), 9);
    struct model_batch b = {.n = 3, .x = x};
    ck_assert_int_eq(m->ops->predict(m->state, &b, prob, &err), 0);
    for (int i = 0; i < 9; i++)
        ck_assert_msg(fabs(prob[i] - want[i]) < 2e-6, "prob[%d] = %.9g, golden %.9g", i, prob[i],
                      want[i]);
    /* training mode: the batch's statistics, then the running update */
    struct cnn_net *net = m->state;
    struct cnn_work *w = cnn_work_new(net, 3, 1);
    float xs[108];
    for (int i = 0; i < 108; i++)
        xs[i] = x[i] * net->input_scale + net->input_offset;
    const float *z = cnn_forward(net, w, xs, 3, 1, 0, 0);
    ck_assert_uint_eq(cnnt_read_numbers(tu_src("tests/data/cnn_bn/expected_train.txt"), want, 9),
                      9);
    for (int i = 0; i < 9; i++)
        ck_assert_msg(fabs(z[i] - want[i]) < 1e-5 * (1 + fabs(want[i])),
                      "logit[%d] = %.9g, "
                      "golden %.9g",
                      i, z[i], want[i]);
    /* the update writes into the loaded model's statistics: use a copy */
    struct cnn_net *copy;
    ck_assert_int_eq(cnn_new(net->arch, 6, 6, 1, &copy, &err), 0);
    memcpy(copy->params, net->params, net->n_params * sizeof(float));
    memcpy(copy->stats, net->stats, net->n_stats * sizeof(float));
    struct cnn_work *ws[1] = {w};
    cnn_bn_update(copy, ws, 1, CNN_BN_MOMENTUM);
    ck_assert_uint_eq(copy->n_stats, 12);
    ck_assert_uint_eq(cnnt_read_numbers(tu_src("tests/data/cnn_bn/expected_stats.txt"), want, 12),
                      12);
    for (int i = 0; i < 12; i++)
        ck_assert_msg(fabs(copy->stats[i] - want[i]) < 1e-5 * (1 + fabs(want[i])),
                      "stat %d = "
                      "%.9g, golden %.9g",
                      i, copy->stats[i], want[i]);
    cnn_free(copy);
    cnn_work_free(w);
    model_unref(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("cnn_bn");
    TCase *t = tcase_create("core");
    tcase_set_timeout(t, 90);
    tcase_add_test(t, arch_bn_shapes_and_bad_specs);
    tcase_add_test(t, gradcheck_bn_conv);
    tcase_add_test(t, gradcheck_bn_dense);
    tcase_add_test(t, batch_stats_train_vs_eval);
    tcase_add_test(t, running_stats_merge_slices);
    tcase_add_test(t, train_save_load_predict);
    tcase_add_test(t, file_bad_running_stats_shape);
    tcase_add_test(t, golden_bn);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
