/*
 * cnn_testutil.h - fixtures shared by the CNN family's tests (test_cnn.c,
 * test_cnn_bn.c): a fixed random stream, the finite-difference gradient
 * check, a random labelled image set, the model file round trip and a
 * reader for golden numbers. Header-only, `static inline`, because CMake
 * links every test with testutil.c alone.
 */
#ifndef ENCORE_TESTS_CNN_TESTUTIL_H
#define ENCORE_TESTS_CNN_TESTUTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/cnn.h"
#include "core/st.h"
#include "testutil.h"

/* Uniform in [-1, 1), from a 64-bit LCG: the same numbers everywhere. */
static inline float cnnt_frand(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((*s >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

static inline double cnnt_loss_at(struct cnn_net *net, struct cnn_work *w, const float *x,
                                  const uint8_t *y, size_t n, float *grad)
{
    double loss;
    cnn_forward(net, w, x, n, 1, 99, 0);
    cnn_backward(net, w, x, y, n, 1.0f, grad, NULL, &loss, NULL);
    return loss;
}

/* How a gradient check perturbs: batch n (<= 8), parameters jittered by
 * jitter * U(-1,1) after He init (non-zero biases, gamma != 1), inputs
 * U(-1,1) + x_shift, central-difference step eps. */
struct cnnt_gc {
    size_t n;
    float jitter, x_shift, eps;
};

/* Compare the analytic gradient of every parameter and of every input value
 * with central differences (training mode); fails the test on any
 * difference above 2e-3 + 1% of the numeric value. Returns how many
 * checked parameters belong to bn layers. */
static inline size_t cnnt_grad_check(const char *arch, int h, int wd, int c,
                                     const struct cnnt_gc *o, uint64_t *rng)
{
    struct cnn_net *net;
    enc_err err = {0};
    ck_assert_msg(cnn_new(arch, h, wd, c, &net, &err) == 0, "%s: %s", arch, err.msg);
    cnn_init(net, 7, CNN_INIT_HE);
    for (size_t j = 0; j < net->n_params; j++)
        net->params[j] += o->jitter * cnnt_frand(rng);
    const size_t n = o->n, D = (size_t)h * wd * c;
    float *x = malloc(n * D * sizeof *x), *dx = malloc(n * D * sizeof *dx);
    float *grad = malloc(net->n_params * sizeof *grad);
    float *scratch = malloc(net->n_params * sizeof *grad);
    uint8_t y[8];
    ck_assert(n <= 8);
    for (size_t j = 0; j < n * D; j++)
        x[j] = cnnt_frand(rng) + o->x_shift;
    for (size_t b = 0; b < n; b++)
        y[b] = (uint8_t)(b % net->n_classes);
    struct cnn_work *w = cnn_work_new(net, n, 1);
    ck_assert_ptr_nonnull(w);
    double loss;
    cnn_forward(net, w, x, n, 1, 99, 0);
    cnn_backward(net, w, x, y, n, 1.0f, grad, dx, &loss, NULL);
    ck_assert(isfinite(loss) && loss > 0);
    const float eps = o->eps;
    size_t bad = 0, checked = 0, bn_checked = 0;
    double worst = 0;
    for (size_t j = 0; j < net->n_params + n * D; j++) {
        int is_param = j < net->n_params;
        float *v = is_param ? &net->params[j] : &x[j - net->n_params];
        float keep = *v;
        *v = keep + eps;
        double lp = cnnt_loss_at(net, w, x, y, n, scratch);
        *v = keep - eps;
        double lm = cnnt_loss_at(net, w, x, y, n, scratch);
        *v = keep;
        double an = is_param ? grad[j] : dx[j - net->n_params];
        double num = (lp - lm) / (2.0 * eps), diff = fabs(num - an);
        if (diff > worst)
            worst = diff;
        int off = diff > 2e-3 + 1e-2 * fabs(num);
        bad += (size_t)off;
        if (getenv("GC_DEBUG") && off)
            fprintf(stderr, "%s %s %zu: analytic %g numeric %g\n", arch,
                    is_param ? "param" : "input", is_param ? j : j - net->n_params, an, num);
        checked++;
        for (int i = 0; is_param && i < net->n_layers; i++) {
            const struct cnn_layer *L = &net->layers[i];
            if (L->kind == CNN_BN && j >= L->w_off && j < L->b_off + L->n_b)
                bn_checked++;
        }
    }
    ck_assert_msg(bad == 0, "%s: %zu of %zu gradients differ from finite differences (worst %g)",
                  arch, bad, checked, worst);
    cnn_work_free(w);
    cnn_free(net);
    free(x);
    free(dx);
    free(grad);
    free(scratch);
    return bn_checked;
}

/* A small labelled set of n random side x side images, labels i % classes. */
static inline void cnnt_make_set(struct idx_dataset *d, size_t n, size_t side, int classes,
                                 uint64_t *rng)
{
    d->n = n;
    d->rows = d->cols = side;
    d->pixels = malloc(n * side * side);
    d->labels = malloc(n);
    for (size_t i = 0; i < n * side * side; i++)
        d->pixels[i] = (uint8_t)((cnnt_frand(rng) + 1.0f) * 127.0f);
    for (size_t i = 0; i < n; i++)
        d->labels[i] = (uint8_t)(i % (size_t)classes);
    d->n_classes = classes;
}

/* Serialize a network (optionally with one metadata value replaced) and
 * load it back; returns cnn_from_file's result. */
static inline int cnnt_round_trip(const struct cnn_net *net, const char *meta_key,
                                  const char *meta_val, struct cnn_net **out, enc_err *err)
{
    st_writer *w = st_writer_new();
    ck_assert_int_eq(cnn_write(net, w, NULL, NULL), 0);
    if (meta_key)
        ck_assert_int_eq(st_writer_meta(w, meta_key, meta_val), 0);
    void *buf;
    size_t len;
    ck_assert_int_eq(st_writer_to_buffer(w, &buf, &len, err), 0);
    st_writer_free(w);
    st_file *f;
    ck_assert_int_eq(st_open_buffer(buf, len, &f, err), 0);
    free(buf);
    int rc = cnn_from_file(f, out, err);
    st_close(f);
    return rc;
}

/* Whitespace-separated numbers from a file, at most max. */
static inline size_t cnnt_read_numbers(const char *path, double *v, size_t max)
{
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    size_t n = 0;
    while (n < max && fscanf(f, "%lf", &v[n]) == 1)
        n++;
    fclose(f);
    return n;
}

#endif
