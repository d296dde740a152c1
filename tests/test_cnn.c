/*
 * test_cnn.c - the CNN family: arch parsing, a finite-difference gradient
 * check of every layer, overfitting a tiny set, determinism, the model file
 * round trip and its validation, and a golden forward pass computed by an
 * independent numpy implementation (tests/data/cnn/make_golden.py).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/cnn.h"
#include "cnn_testutil.h"
#include "core/model.h"
#include "families.h"

static uint64_t rng_state = 12345;

static float frand(void) /* uniform in [-1, 1) */
{
    return cnnt_frand(&rng_state);
}

START_TEST(arch_default_shapes)
{
    struct cnn_net *net;
    enc_err err = {0};
    ck_assert_int_eq(cnn_new(CNN_DEFAULT_ARCH, 28, 28, 1, &net, &err), 0);
    ck_assert_int_eq(net->n_layers, 4);
    ck_assert_int_eq(net->layers[0].out_h, 26);
    ck_assert_int_eq(net->layers[0].out_c, 32);
    ck_assert_int_eq(net->layers[3].in_c, 26 * 26 * 32);
    ck_assert_int_eq(net->n_classes, 10);
    /* Conv2D(32, 3x3): 288 + 32; Dense(10): 216320 + 10 (Keras reports 216,650) */
    ck_assert_uint_eq(net->n_params, 216650);
    ck_assert_uint_eq(net->io.n_features, 784);
    ck_assert_int_eq(net->io.ndim, 2);
    ck_assert_int_eq(net->io.shape[0], 28);
    ck_assert(net->io.max_value == 255);
    ck_assert_str_eq(net->io.class_names[9], "9");
    cnn_free(net);

    ck_assert_int_eq(cnn_new("conv32k3,relu,pool2,conv64k3,relu,pool2,dense128,relu,dense10", 28,
                             28, 1, &net, &err),
                     0);
    ck_assert_int_eq(net->layers[5].out_h, 5); /* 28-2=26 /2=13 -2=11 /2=5 */
    ck_assert_int_eq(net->layers[6].in_c, 5 * 5 * 64);
    cnn_free(net);
    ck_assert_int_eq(cnn_new("conv8k5same,pool2,dense10", 28, 28, 1, &net, &err), 0);
    ck_assert_int_eq(net->layers[0].out_h, 28);
    ck_assert_int_eq(net->layers[1].out_h, 14);
    cnn_free(net);
}
END_TEST

START_TEST(arch_rejects_bad_specs)
{
    const char *bad[] = {"",
                         "conv32k3",
                         "conv32k3,relu",
                         "dense10,conv3k3,dense2",
                         "conv32,dense10",
                         "conv32k4same,dense10",
                         "foo,dense10",
                         "dense10,",
                         "dropout1.5,dense10",
                         "conv4k29,dense10",
                         "pool2,pool2,pool2,pool2,pool2,dense10",
                         "dense1",
                         "conv0k3,dense10",
                         "dense10x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct cnn_net *net = (struct cnn_net *)1;
        enc_err err = {0};
        ck_assert_msg(cnn_new(bad[i], 28, 28, 1, &net, &err) == ENC_EINVAL, "accepted '%s'",
                      bad[i]);
        ck_assert_ptr_null(net);
        ck_assert_msg(err.msg[0], "no message for '%s'", bad[i]);
    }
}
END_TEST

/* Loss (sum over the n images) of the network at its current parameters. */
/* Every parameter and input value against central differences, batch 3.
 * Small steps: a central difference that straddles a ReLU kink or a
 * max-pool switch is not a derivative (2e-3 already trips on a few of the
 * ~500 values here), and float round-off stays well under the tolerance at
 * this size. */
static void grad_check(const char *arch, int h, int wd, int c)
{
    const struct cnnt_gc o = {3, 0.1f, 0.0f, 3e-4f};
    cnnt_grad_check(arch, h, wd, c, &o, &rng_state);
}

START_TEST(gradcheck_conv_valid)
{
    grad_check("conv3k3,dense4", 6, 5, 1);
}
END_TEST

START_TEST(gradcheck_conv_same_channels)
{
    grad_check("conv2k3same,conv3k3,dense3", 5, 5, 2);
}
END_TEST

START_TEST(gradcheck_relu)
{
    grad_check("relu,conv4k3,relu,flatten,dense5,relu,dense3", 6, 6, 1);
}
END_TEST

START_TEST(gradcheck_pool)
{
    grad_check("conv3k3same,pool2,conv2k2,pool2,dense3", 9, 8, 1);
}
END_TEST

START_TEST(gradcheck_dense_dropout)
{
    grad_check("dense6,relu,dropout0.5,dense5,dropout0.3,dense3", 3, 4, 1);
}
END_TEST

/* Convolution layers run a few images at a time (cnn.c's CHUNK_BYTES): with
 * big activations a batch of 5 spans several chunks. Its logits and
 * gradients must equal those of the images run one by one. */
START_TEST(chunked_batch_equals_single_images)
{
    struct cnn_net *net;
    enc_err err = {0};
    ck_assert_int_eq(
        cnn_new("conv80k3same,relu,pool2,dropout0.25,conv4k3,relu,dense3", 24, 24, 1, &net, &err),
        0);
    cnn_init(net, 9, CNN_INIT_HE);
    const size_t n = 5, D = 24 * 24, P = net->n_params;
    float *x = malloc(n * D * sizeof *x), *dx = malloc(n * D * sizeof *dx),
          *dx1 = malloc(D * sizeof *dx1);
    float *g = malloc(P * sizeof *g), *g1 = malloc(P * sizeof *g1), *sum = calloc(P, sizeof *sum);
    uint8_t y[5] = {0, 1, 2, 1, 0};
    for (size_t j = 0; j < n * D; j++)
        x[j] = frand();
    struct cnn_work *w = cnn_work_new(net, n, 1), *w1 = cnn_work_new(net, 1, 1);
    const float *z = cnn_forward(net, w, x, n, 1, 5, 100);
    float logits[15];
    memcpy(logits, z, sizeof logits);
    double loss, l1, lsum = 0;
    cnn_backward(net, w, x, y, n, 1.0f, g, dx, &loss, NULL);
    for (size_t b = 0; b < n; b++) {
        const float *z1 = cnn_forward(net, w1, x + b * D, 1, 1, 5, 100 + b);
        for (int c = 0; c < 3; c++)
            ck_assert_msg(fabsf(z1[c] - logits[b * 3 + c]) < 1e-4f, "image %zu logit %d", b, c);
        cnn_backward(net, w1, x + b * D, y + b, 1, 1.0f, g1, dx1, &l1, NULL);
        lsum += l1;
        for (size_t j = 0; j < P; j++)
            sum[j] += g1[j];
        for (size_t j = 0; j < D; j++)
            ck_assert_msg(fabsf(dx1[j] - dx[b * D + j]) < 1e-4f, "dx image %zu at %zu", b, j);
    }
    ck_assert(fabs(lsum - loss) < 1e-4 * fabs(loss));
    double worst = 0;
    for (size_t j = 0; j < P; j++)
        if (fabs(sum[j] - g[j]) > worst)
            worst = fabs(sum[j] - g[j]);
    ck_assert_msg(worst < 1e-3, "batch and per-image gradients differ by %g", worst);
    cnn_work_free(w);
    cnn_work_free(w1);
    cnn_free(net);
    free(x);
    free(dx);
    free(dx1);
    free(g);
    free(g1);
    free(sum);
}
END_TEST

static void make_set(struct idx_dataset *d, size_t n, size_t side, int classes)
{
    cnnt_make_set(d, n, side, classes, &rng_state);
}

START_TEST(overfits_tiny_set)
{
    struct idx_dataset d;
    make_set(&d, 12, 8, 4);
    struct cnn_net *net;
    enc_err err = {0};
    ck_assert_int_eq(cnn_new("conv4k3,relu,pool2,dense16,relu,dense4", 8, 8, 1, &net, &err), 0);
    cnn_init(net, 3, CNN_INIT_HE);
    int pred[12];
    ck_assert_int_eq(cnn_classify(net, &d, 1, pred, &err), 0);
    size_t before = 0;
    for (int i = 0; i < 12; i++)
        before += pred[i] == d.labels[i];
    struct cnn_train_opts o = {.epochs = 150,
                               .batch = 4,
                               .lr = 0.01,
                               .adam = 1,
                               .seed = 1,
                               .threads = 2,
                               .split_batch = 1};
    ck_assert_int_eq(cnn_train(net, &d, NULL, &o, NULL, &err), 0);
    ck_assert_int_eq(cnn_classify(net, &d, 2, pred, &err), 0);
    size_t after = 0;
    for (int i = 0; i < 12; i++)
        after += pred[i] == d.labels[i];
    ck_assert_msg(before < 12, "random init already perfect: the test proves nothing");
    ck_assert_uint_eq(after, 12);

    /* SGD with momentum gets there too */
    cnn_init(net, 4, CNN_INIT_HE);
    o.adam = 0;
    o.lr = 0.05;
    o.momentum = 0.9;
    o.epochs = 200;
    ck_assert_int_eq(cnn_train(net, &d, NULL, &o, NULL, &err), 0);
    ck_assert_int_eq(cnn_classify(net, &d, 1, pred, &err), 0);
    after = 0;
    for (int i = 0; i < 12; i++)
        after += pred[i] == d.labels[i];
    ck_assert_uint_eq(after, 12);
    cnn_free(net);
    idx_dataset_clear(&d);
}
END_TEST

START_TEST(deterministic_for_seed_and_threads)
{
    struct idx_dataset d;
    make_set(&d, 40, 6, 3);
    float *first = NULL;
    for (int rep = 0; rep < 3; rep++) {
        struct cnn_net *net;
        enc_err err = {0};
        ck_assert_int_eq(cnn_new("conv3k3,relu,dropout0.2,dense3", 6, 6, 1, &net, &err), 0);
        cnn_init(net, 11, CNN_INIT_HE);
        struct cnn_train_opts o = {.epochs = 3,
                                   .batch = 7,
                                   .lr = 0.01,
                                   .adam = 1,
                                   .seed = rep == 2 ? 12 : 11,
                                   .threads = 2,
                                   .split_batch = 1};
        ck_assert_int_eq(cnn_train(net, &d, NULL, &o, NULL, &err), 0);
        if (rep == 0) {
            first = malloc(net->n_params * sizeof *first);
            memcpy(first, net->params, net->n_params * sizeof *first);
        } else if (rep == 1) {
            ck_assert(memcmp(first, net->params, net->n_params * sizeof *first) == 0);
        } else { /* another seed: another shuffle and dropout masks */
            ck_assert(memcmp(first, net->params, net->n_params * sizeof *first) != 0);
        }
        cnn_free(net);
    }
    free(first);
    idx_dataset_clear(&d);
}
END_TEST

START_TEST(augment_image_flip_and_shift)
{
    /* 3 x 4, one channel:  1  2  3  4 / 5  6  7  8 / 9 10 11 12 */
    uint8_t src[12], dst[12];
    for (int i = 0; i < 12; i++)
        src[i] = (uint8_t)(i + 1);
    cnn_augment_image(src, 3, 4, 1, 0, 0, 0, dst);
    ck_assert(memcmp(src, dst, 12) == 0);
    cnn_augment_image(src, 3, 4, 1, 1, 0, 0, dst);
    const uint8_t flipped[12] = {4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9};
    ck_assert(memcmp(dst, flipped, 12) == 0);
    cnn_augment_image(src, 3, 4, 1, 0, 1, -2, dst); /* one row down, two columns left */
    const uint8_t moved[12] = {0, 0, 0, 0, 3, 4, 0, 0, 7, 8, 0, 0};
    ck_assert(memcmp(dst, moved, 12) == 0);
    cnn_augment_image(src, 3, 4, 1, 1, -1, 1, dst); /* mirrored, one up, one right */
    const uint8_t both[12] = {0, 8, 7, 6, 0, 12, 11, 10, 0, 0, 0, 0};
    ck_assert(memcmp(dst, both, 12) == 0);
    /* two channels move together: pixel (0, 0) = (1, 2), (0, 1) = (3, 4) */
    const uint8_t s2[4] = {1, 2, 3, 4};
    uint8_t d2[4];
    cnn_augment_image(s2, 1, 2, 2, 1, 0, 0, d2);
    const uint8_t f2[4] = {3, 4, 1, 2};
    ck_assert(memcmp(d2, f2, 4) == 0);
}
END_TEST

/* Train conv3k3,relu,dropout0.2,dense3 on d for 3 epochs with the given
 * augmentation; the caller frees the returned parameters. */
static float *train_aug(const struct idx_dataset *d, int flip, int shift, int threads,
                        size_t *n_params)
{
    struct cnn_net *net;
    enc_err err = {0};
    ck_assert_int_eq(cnn_new("conv3k3,relu,dropout0.2,dense3", 6, 6, 1, &net, &err), 0);
    cnn_init(net, 11, CNN_INIT_HE);
    struct cnn_train_opts o = {.epochs = 3,
                               .batch = 7,
                               .lr = 0.01,
                               .adam = 1,
                               .seed = 11,
                               .threads = threads,
                               .split_batch = 1,
                               .flip = flip,
                               .shift = shift};
    ck_assert_int_eq(cnn_train(net, d, NULL, &o, NULL, &err), 0);
    float *p = malloc(net->n_params * sizeof *p);
    memcpy(p, net->params, net->n_params * sizeof *p);
    *n_params = net->n_params;
    cnn_free(net);
    return p;
}

START_TEST(augment_deterministic_and_opt_in)
{
    struct idx_dataset d;
    make_set(&d, 40, 6, 3);
    size_t np;
    float *off = train_aug(&d, 0, 0, 2, &np);
    float *a1 = train_aug(&d, 1, 2, 2, &np);
    float *a2 = train_aug(&d, 1, 2, 2, &np);
    float *sh = train_aug(&d, 0, 1, 2, &np);
    ck_assert(memcmp(a1, a2, np * sizeof *a1) == 0);  /* same seed, same threads */
    ck_assert(memcmp(a1, off, np * sizeof *a1) != 0); /* augmentation does something */
    ck_assert(memcmp(sh, off, np * sizeof *a1) != 0);
    ck_assert(memcmp(sh, a1, np * sizeof *a1) != 0);
    /* On images that are their own mirror image, flip changes no pixel, so a
     * flipped run must equal the unaugmented one exactly: the augmentation
     * draws do not disturb the shuffle, the dropout masks or anything else. */
    for (size_t i = 0; i < d.n; i++)
        for (size_t r = 0; r < 6; r++)
            for (size_t c = 3; c < 6; c++)
                d.pixels[i * 36 + r * 6 + c] = d.pixels[i * 36 + r * 6 + 5 - c];
    float *sym_off = train_aug(&d, 0, 0, 2, &np);
    float *sym_flip = train_aug(&d, 1, 0, 2, &np);
    ck_assert(memcmp(sym_off, sym_flip, np * sizeof *a1) == 0);
    ck_assert(memcmp(sym_off, off, np * sizeof *a1) != 0); /* the data did change */
    /* a shift larger than the image is refused */
    struct cnn_net *net;
    enc_err err = {0};
    ck_assert_int_eq(cnn_new("conv3k3,relu,dense3", 6, 6, 1, &net, &err), 0);
    struct cnn_train_opts o = {
        .epochs = 1, .batch = 7, .lr = 0.01, .adam = 1, .threads = 1, .split_batch = 1, .shift = 6};
    ck_assert_int_eq(cnn_train(net, &d, NULL, &o, NULL, &err), ENC_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "shift"));
    cnn_free(net);
    free(off);
    free(a1);
    free(a2);
    free(sh);
    free(sym_off);
    free(sym_flip);
    idx_dataset_clear(&d);
}
END_TEST

START_TEST(file_round_trip_and_validation)
{
    struct cnn_net *net, *back;
    enc_err err = {0};
    const char *arch = "conv4k3same,relu,pool2,dense8,dropout0.5,dense3";
    ck_assert_int_eq(cnn_new(arch, 10, 10, 1, &net, &err), 0);
    cnn_init(net, 5, CNN_INIT_HE);
    net->input_scale = 0.0123f;
    net->input_offset = -0.75f;
    const char *names[] = {"cat", "dog", "bird"};
    ck_assert_int_eq(cnn_set_class_names(net, names), 0);
    ck_assert_int_eq(cnnt_round_trip(net, NULL, NULL, &back, &err), 0);
    ck_assert_str_eq(back->arch, arch);
    ck_assert_uint_eq(back->n_params, net->n_params);
    ck_assert(memcmp(back->params, net->params, net->n_params * sizeof(float)) == 0);
    ck_assert(back->input_scale == net->input_scale && back->input_offset == net->input_offset);
    ck_assert_str_eq(back->io.class_names[2], "bird");
    float x[2 * 100], p1[6], p2[6];
    for (int i = 0; i < 200; i++)
        x[i] = (float)((i * 37) % 256);
    ck_assert_int_eq(cnn_predict(net, x, 2, p1, &err), 0);
    ck_assert_int_eq(cnn_predict(back, x, 2, p2, &err), 0);
    ck_assert(memcmp(p1, p2, sizeof p1) == 0);
    ck_assert(fabsf(p1[0] + p1[1] + p1[2] - 1.0f) < 1e-5f);
    cnn_free(back);

    /* an arch that disagrees with the stored tensors is refused, naming one */
    back = (struct cnn_net *)1;
    ck_assert_int_eq(cnnt_round_trip(net, "arch", "conv5k3same,relu,pool2,dense8,dropout0.5,dense3",
                                     &back, &err),
                     ENC_EFORMAT);
    ck_assert_ptr_null(back);
    ck_assert_msg(strstr(err.msg, "layers.0.weight"), "%s", err.msg);
    ck_assert_int_eq(
        cnnt_round_trip(net, "arch", "conv4k3same,relu,pool2,dense8,dense3", &back, &err),
        ENC_EFORMAT);
    ck_assert_int_eq(cnnt_round_trip(net, "input_width", "12", &back, &err), ENC_EFORMAT);
    ck_assert_msg(strstr(err.msg, "layers.3.weight"), "%s", err.msg);
    ck_assert_int_eq(cnnt_round_trip(net, "input_height", "ten", &back, &err), ENC_EFORMAT);
    ck_assert_msg(strstr(err.msg, "input_height"), "%s", err.msg);
    ck_assert_int_eq(cnnt_round_trip(net, "arch", "conv4k3,bogus,dense3", &back, &err),
                     ENC_EFORMAT);
    ck_assert_int_eq(cnnt_round_trip(net, "input_scale", "nan", &back, &err), ENC_EFORMAT);

    /* a non-finite weight is refused */
    net->params[3] = NAN;
    ck_assert_int_eq(cnnt_round_trip(net, NULL, NULL, &back, &err), ENC_EFORMAT);
    ck_assert_msg(strstr(err.msg, "not finite"), "%s", err.msg);
    cnn_free(net);
}
END_TEST

START_TEST(golden_forward_pass)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", tu_src("tests/data/cnn/golden/model.safetensors"));
    struct model *m;
    enc_err err = {0};
    ck_assert_msg(model_load("golden", 1, path, &model_default_opts, &m, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(m->ops->family, "cnn");
    const struct model_io *io = m->ops->io(m->state);
    ck_assert_uint_eq(io->n_features, 64);
    ck_assert_uint_eq(io->n_classes, 3);
    ck_assert_str_eq(io->class_names[1], "one");
    double in[128], want[6];
    ck_assert_uint_eq(cnnt_read_numbers(tu_src("tests/data/cnn/golden/input.txt"), in, 128), 128);
    ck_assert_uint_eq(cnnt_read_numbers(tu_src("tests/data/cnn/golden/expected.txt"), want, 6), 6);
    float x[128], prob[6];
    for (int i = 0; i < 128; i++)
        x[i] = (float)in[i];
    struct model_batch b = {.n = 2, .x = x};
    ck_assert_int_eq(m->ops->predict(m->state, &b, prob, &err), 0);
    for (int i = 0; i < 6; i++)
        ck_assert_msg(fabs(prob[i] - want[i]) < 2e-6, "prob[%d] = %.9g, golden %.9g", i, prob[i],
                      want[i]);
    /* one image at a time gives the same answer as the batch */
    float p1[3];
    b.n = 1;
    b.x = x + 64;
    ck_assert_int_eq(m->ops->predict(m->state, &b, p1, &err), 0);
    for (int i = 0; i < 3; i++)
        ck_assert(fabsf(p1[i] - prob[3 + i]) < 1e-6f);
    json_t *d = model_describe(m);
    ck_assert_str_eq(json_string_value(json_object_get(d, "arch")),
                     "conv2k3same,relu,pool2,conv3k3,relu,flatten,dense4,relu,dropout0.5,dense3");
    json_decref(d);
    model_unref(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("cnn");
    TCase *t = tcase_create("core");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, arch_default_shapes);
    tcase_add_test(t, arch_rejects_bad_specs);
    tcase_add_test(t, gradcheck_conv_valid);
    tcase_add_test(t, gradcheck_conv_same_channels);
    tcase_add_test(t, gradcheck_relu);
    tcase_add_test(t, gradcheck_pool);
    tcase_add_test(t, gradcheck_dense_dropout);
    tcase_add_test(t, chunked_batch_equals_single_images);
    tcase_add_test(t, overfits_tiny_set);
    tcase_add_test(t, deterministic_for_seed_and_threads);
    tcase_add_test(t, augment_image_flip_and_shift);
    tcase_add_test(t, augment_deterministic_and_opt_in);
    tcase_add_test(t, file_round_trip_and_validation);
    tcase_add_test(t, golden_forward_pass);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
