/*
 * cnn_layers.c - the CNN family's passes: work buffers, every layer's
 * forward and backward pass (im2col + OpenBLAS SGEMM for convolutions),
 * batch norm's running statistics, and prediction (see cnn.h).
 *
 * Layout of one batch in a work buffer, NHWC:
 *
 *   act[i] = output of layer i, n images x out_h x out_w x out_c floats
 *   cols[i] (conv layers) = n * out_h * out_w rows of k*k*in_c values:
 *            row (b, oy, ox) = the input patch under that output pixel,
 *            ordered (ky, kx, c); zeros where "same" padding reaches outside
 *
 * so a convolution is  act[i][n*P, F] = cols[n*P, K] x W[F, K]^T + bias
 * (P = out_h*out_w, K = k*k*in_c) and its backward pass is two more GEMMs:
 *   dW[F, K] = dY^T x cols      dcols[n*P, K] = dY x W   (then col2im)
 */
#include "cnn/cnn.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

/* ---- work buffers ------------------------------------------------------ */

struct cnn_work {
    size_t cap;
    float *act[CNN_MAX_LAYERS];      /* NULL where the layer aliases its input */
    float *cols[CNN_MAX_LAYERS];     /* conv layers */
    int32_t *pidx[CNN_MAX_LAYERS];   /* pool layers: argmax input offset */
    float *mask[CNN_MAX_LAYERS];     /* dropout layers (training) */
    float *xhat[CNN_MAX_LAYERS];     /* bn layers (training): normalised input */
    float *bn[CNN_MAX_LAYERS];       /* bn layers: 5 x C = batch mean, biased var,
                                      * 1/sqrt(var + eps) (training); inference
                                      * scale, shift (apart: an inference pass
                                      * does not spoil a training pass's values) */
    double *bnacc[CNN_MAX_LAYERS];   /* bn layers (training): 2 x C sums */
    size_t bn_count[CNN_MAX_LAYERS]; /* bn: values per channel of the last
                                      * training pass (0: none recorded) */
    float *dcols;
    float *g0, *g1; /* gradient ping-pong, cap * max_act */
    float *c0, *c1; /* chunk ping-pong, chunk_images(cap) * max_act */
    float *ones;    /* cap * max_act ones, for bias gradients */
};

void cnn_work_free(struct cnn_work *w)
{
    if (!w)
        return;
    for (int i = 0; i < CNN_MAX_LAYERS; i++) {
        free(w->act[i]);
        free(w->cols[i]);
        free(w->pidx[i]);
        free(w->mask[i]);
        free(w->xhat[i]);
        free(w->bn[i]);
        free(w->bnacc[i]);
    }
    free(w->dcols);
    free(w->g0);
    free(w->g1);
    free(w->ones);
    free(w->c0);
    free(w->c1);
    free(w);
}

static size_t out_size(const struct cnn_layer *L)
{
    return (size_t)L->out_h * L->out_w * L->out_c;
}

static size_t in_size(const struct cnn_layer *L)
{
    return (size_t)L->in_h * L->in_w * L->in_c;
}

static int conv_segment_end(const struct cnn_net *net);
static size_t chunk_images(const struct cnn_net *net, int seg_end, size_t n);

struct cnn_work *cnn_work_new(const struct cnn_net *net, size_t cap, int train)
{
    struct cnn_work *w = calloc(1, sizeof *w);
    if (!w || cap == 0)
        goto fail;
    w->cap = cap;
    for (int i = 0; i < net->n_layers; i++) {
        const struct cnn_layer *L = &net->layers[i];
        size_t o = out_size(L) * cap;
        switch (L->kind) {
        case CNN_CONV:
            w->cols[i] =
                malloc((size_t)L->out_h * L->out_w * L->k * L->k * L->in_c * cap * sizeof(float));
            if (!w->cols[i])
                goto fail;
            /* fall through */
        case CNN_DENSE:
            if (!(w->act[i] = malloc(o * sizeof(float))))
                goto fail;
            break;
        case CNN_RELU:
            /* In place over the previous layer's output (conv, dense, pool and
             * dropout do not read their own output when going backward); only
             * a leading ReLU must not write over the caller's input. */
            if (i == 0 && !(w->act[i] = malloc(o * sizeof(float))))
                goto fail;
            break;
        case CNN_POOL:
            w->act[i] = malloc(o * sizeof(float));
            w->pidx[i] = malloc(o * sizeof(int32_t));
            if (!w->act[i] || !w->pidx[i])
                goto fail;
            break;
        case CNN_DROPOUT:
            w->act[i] = malloc(o * sizeof(float));
            w->mask[i] = train ? malloc(o * sizeof(float)) : NULL;
            if (!w->act[i] || (train && !w->mask[i]))
                goto fail;
            break;
        case CNN_BN:
            w->act[i] = malloc(o * sizeof(float));
            w->bn[i] = malloc(5 * (size_t)L->units * sizeof(float));
            w->xhat[i] = train ? malloc(o * sizeof(float)) : NULL;
            w->bnacc[i] = train ? malloc(2 * (size_t)L->units * sizeof(double)) : NULL;
            if (!w->act[i] || !w->bn[i] || (train && (!w->xhat[i] || !w->bnacc[i])))
                goto fail;
            break;
        case CNN_FLATTEN:
            break;
        }
    }
    if (!train) /* inference needs no gradient buffers */
        return w;
    w->dcols = malloc((net->max_cols ? net->max_cols : 1) * cap * sizeof(float));
    w->g0 = malloc(net->max_act * cap * sizeof(float));
    w->g1 = malloc(net->max_act * cap * sizeof(float));
    w->ones = malloc(net->max_act * cap * sizeof(float));
    const size_t chunk = chunk_images(net, conv_segment_end(net), cap);
    w->c0 = malloc(net->max_act * chunk * sizeof(float));
    w->c1 = malloc(net->max_act * chunk * sizeof(float));
    if (!w->c0 || !w->c1)
        goto fail;
    if (!w->dcols || !w->g0 || !w->g1 || !w->ones)
        goto fail;
    for (size_t j = 0; j < net->max_act * cap; j++)
        w->ones[j] = 1.0f;
    return w;
fail:
    cnn_work_free(w);
    return NULL;
}

/* ---- layers ------------------------------------------------------------- */

static void im2col(const struct cnn_layer *L, const float *x, size_t n, float *cols)
{
    const int H = L->in_h, W = L->in_w, C = L->in_c, k = L->k, pad = L->pad;
    const size_t K = (size_t)k * k * C;
    for (size_t b = 0; b < n; b++) {
        const float *xb = x + b * (size_t)H * W * C;
        for (int oy = 0; oy < L->out_h; oy++)
            for (int ox = 0; ox < L->out_w; ox++) {
                float *row = cols + ((b * L->out_h + oy) * L->out_w + ox) * K;
                for (int ky = 0; ky < k; ky++) {
                    int iy = oy + ky - pad;
                    float *r = row + (size_t)ky * k * C;
                    if (iy < 0 || iy >= H) {
                        memset(r, 0, (size_t)k * C * sizeof(float));
                        continue;
                    }
                    int x0 = ox - pad;
                    if (x0 >= 0 && x0 + k <= W) { /* the whole kernel row is inside */
                        const float *restrict src = xb + ((size_t)iy * W + x0) * C;
                        const int kc = k * C; /* short: a loop beats a memcpy call */
                        for (int j = 0; j < kc; j++)
                            r[j] = src[j];
                        continue;
                    }
                    for (int kx = 0; kx < k; kx++) {
                        int ix = x0 + kx;
                        if (ix < 0 || ix >= W)
                            memset(r + (size_t)kx * C, 0, (size_t)C * sizeof(float));
                        else
                            memcpy(r + (size_t)kx * C, xb + ((size_t)iy * W + ix) * C,
                                   (size_t)C * sizeof(float));
                    }
                }
            }
    }
}

/* dx (zeroed here) += the patches in dcols, the adjoint of im2col. */
static void col2im(const struct cnn_layer *L, const float *dcols, size_t n, float *dx)
{
    const int H = L->in_h, W = L->in_w, C = L->in_c, k = L->k, pad = L->pad;
    const size_t K = (size_t)k * k * C;
    memset(dx, 0, n * (size_t)H * W * C * sizeof(float));
    for (size_t b = 0; b < n; b++) {
        float *xb = dx + b * (size_t)H * W * C;
        for (int oy = 0; oy < L->out_h; oy++)
            for (int ox = 0; ox < L->out_w; ox++) {
                const float *row = dcols + ((b * L->out_h + oy) * L->out_w + ox) * K;
                for (int ky = 0; ky < k; ky++) {
                    int iy = oy + ky - pad;
                    if (iy < 0 || iy >= H)
                        continue;
                    for (int kx = 0; kx < k; kx++) {
                        int ix = ox + kx - pad;
                        if (ix < 0 || ix >= W)
                            continue;
                        const float *r = row + ((size_t)ky * k + kx) * C;
                        float *d = xb + ((size_t)iy * W + ix) * C;
                        for (int c = 0; c < C; c++)
                            d[c] += r[c];
                    }
                }
            }
    }
}

/* y[rows, m] = bias broadcast, the start of "x W^T + b". */
static void fill_bias(float *y, size_t rows, const float *bias, size_t m)
{
    for (size_t r = 0; r < rows; r++)
        memcpy(y + r * m, bias, m * sizeof(float));
}

/* ReLU runs over every activation twice per step, so it is written with
 * GCC/Clang vector extensions: the -O2 build does not vectorize the plain
 * loop (measured: 40% of a training step as scalar compare-and-branch).
 * 16-byte vectors: SSE2 is the x86-64 baseline, and wider generic vectors
 * are split into scalar code when the build does not enable AVX. */
typedef float f4 __attribute__((vector_size(16)));
typedef int32_t i4 __attribute__((vector_size(16)));

static void relu_forward(const float *x, float *y, size_t m)
{
    const f4 zero = {0};
    size_t j = 0;
    for (; j + 4 <= m; j += 4) {
        f4 v;
        memcpy(&v, x + j, sizeof v);
        i4 keep = v > zero;
        v = (f4)((i4)v & keep);
        memcpy(y + j, &v, sizeof v);
    }
    for (; j < m; j++)
        y[j] = x[j] > 0 ? x[j] : 0;
}

/* g *= (y > 0), y being the ReLU's output. */
static void relu_backward(const float *y, float *g, size_t m)
{
    const f4 zero = {0};
    size_t j = 0;
    for (; j + 4 <= m; j += 4) {
        f4 a, v;
        memcpy(&a, y + j, sizeof a);
        memcpy(&v, g + j, sizeof v);
        i4 keep = a > zero;
        v = (f4)((i4)v & keep);
        memcpy(g + j, &v, sizeof v);
    }
    for (; j < m; j++)
        g[j] = y[j] > 0 ? g[j] : 0.0f;
}

static void conv_forward(const struct cnn_layer *L, const float *params, const float *x, size_t n,
                         float *cols, float *y)
{
    const int rows = (int)(n * L->out_h * L->out_w);
    const int K = L->k * L->k * L->in_c, F = L->filters;
    im2col(L, x, n, cols);
    fill_bias(y, (size_t)rows, params + L->b_off, (size_t)F);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, F, K, 1.0f, cols, K,
                params + L->w_off, K, 1.0f, y, F);
}

static void dense_forward(const struct cnn_layer *L, const float *params, const float *x, size_t n,
                          float *y)
{
    const int D = L->in_c, O = L->units;
    fill_bias(y, n, params + L->b_off, (size_t)O);
    if (n <= 4) {
        /* A few images (single-image predict): sgemm would pack all of W
         * (865 KB for the default arch) on every call; sgemv streams it once
         * per image. Measured: 0.14 -> 0.056 ms per image (eval --bench, median). */
        for (size_t b = 0; b < n; b++)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, O, D, 1.0f, params + L->w_off, D,
                        x + b * (size_t)D, 1, 1.0f, y + b * (size_t)O, 1);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, O, D, 1.0f, x, D,
                params + L->w_off, D, 1.0f, y, O);
}

/* 2x2 max-pool of n images; idx gets the argmax's offset into the input
 * buffer of the whole slice (x points `base` floats into it). */
static void pool_forward(const struct cnn_layer *L, const float *x, size_t n, float *y,
                         int32_t *idx, size_t base)
{
    const int H = L->in_h, W = L->in_w, C = L->in_c;
    size_t o = 0;
    for (size_t b = 0; b < n; b++) {
        size_t img = b * (size_t)H * W * C;
        for (int oy = 0; oy < L->out_h; oy++)
            for (int ox = 0; ox < L->out_w; ox++) {
                size_t p00 = img + ((size_t)(2 * oy) * W + 2 * ox) * C;
                const float *x0 = x + p00, *x1 = x0 + C, *x2 = x0 + (size_t)W * C, *x3 = x2 + C;
                for (int c = 0; c < C; c++, o++) {
                    float m = x0[c];
                    size_t best = p00 + c;
                    if (x1[c] > m) {
                        m = x1[c];
                        best = p00 + C + c;
                    }
                    if (x2[c] > m) {
                        m = x2[c];
                        best = p00 + (size_t)W * C + c;
                    }
                    if (x3[c] > m) {
                        m = x3[c];
                        best = p00 + (size_t)W * C + C + c;
                    }
                    y[o] = m;
                    idx[o] = (int32_t)(base + best);
                }
            }
    }
}

/* Batch norm in training over `rows` vectors of C channels (rows = images x
 * pixels; NHWC keeps a pixel's channels together): the batch mean and biased
 * variance per channel (two passes, double sums), x_hat (kept for the
 * backward pass) and y = gamma * x_hat + beta. st gets mean, var and
 * 1/sqrt(var + eps), C values each. */
static void bn_forward_train(const struct cnn_layer *L, const float *params, const float *x,
                             size_t rows, float *xhat, float *y, float *st, double *acc)
{
    const size_t C = (size_t)L->units;
    const float *gamma = params + L->w_off, *beta = params + L->b_off;
    float *mean = st, *var = st + C, *rstd = st + 2 * C;
    for (size_t c = 0; c < C; c++)
        acc[c] = 0;
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * C;
        for (size_t c = 0; c < C; c++)
            acc[c] += xr[c];
    }
    for (size_t c = 0; c < C; c++) {
        mean[c] = (float)(acc[c] / (double)rows);
        acc[c] = 0;
    }
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * C;
        for (size_t c = 0; c < C; c++) {
            double d = (double)xr[c] - mean[c];
            acc[c] += d * d;
        }
    }
    for (size_t c = 0; c < C; c++) {
        var[c] = (float)(acc[c] / (double)rows);
        rstd[c] = (float)(1.0 / sqrt((double)var[c] + CNN_BN_EPS));
    }
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * C;
        float *hr = xhat + r * C, *yr = y + r * C;
        for (size_t c = 0; c < C; c++) {
            hr[c] = (xr[c] - mean[c]) * rstd[c];
            yr[c] = gamma[c] * hr[c] + beta[c];
        }
    }
}

/* Batch norm at inference: y = x * s + t with s = gamma / sqrt(running_var +
 * eps), t = beta - running_mean * s (st + 3C, st + 4C: scratch of the work). */
static void bn_forward_eval(const struct cnn_net *net, const struct cnn_layer *L, const float *x,
                            size_t rows, float *y, float *st)
{
    const size_t C = (size_t)L->units;
    const float *gamma = net->params + L->w_off, *beta = net->params + L->b_off;
    const float *rm = net->stats + L->s_off, *rv = rm + C;
    float *sc = st + 3 * C, *sh = st + 4 * C;
    for (size_t c = 0; c < C; c++) {
        sc[c] = (float)(gamma[c] / sqrt((double)rv[c] + CNN_BN_EPS));
        sh[c] = beta[c] - rm[c] * sc[c];
    }
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * C;
        float *yr = y + r * C;
        for (size_t c = 0; c < C; c++)
            yr[c] = xr[c] * sc[c] + sh[c];
    }
}

/* Backward pass of batch norm in training, in place on g (dL/dy -> dL/dx):
 *   dgamma = sum(g * x_hat), dbeta = sum(g)   (over the rows, per channel)
 *   dx = gamma / sqrt(var + eps) / N * (N * g - dbeta - x_hat * dgamma)
 * the gradient through the batch mean and variance included. */
static void bn_backward(const struct cnn_layer *L, const float *params, const float *xhat,
                        const float *st, size_t rows, float *g, float *grad, int acc_grad,
                        int need_dx, double *acc)
{
    const size_t C = (size_t)L->units;
    const float *gamma = params + L->w_off, *rstd = st + 2 * C;
    double *sg = acc, *sgx = acc + C;
    for (size_t c = 0; c < C; c++)
        sg[c] = sgx[c] = 0;
    for (size_t r = 0; r < rows; r++) {
        const float *gr = g + r * C, *hr = xhat + r * C;
        for (size_t c = 0; c < C; c++) {
            sg[c] += gr[c];
            sgx[c] += (double)gr[c] * hr[c];
        }
    }
    float *dgamma = grad + L->w_off, *dbeta = grad + L->b_off;
    for (size_t c = 0; c < C; c++) {
        dgamma[c] = (float)(sgx[c] + (acc_grad ? dgamma[c] : 0));
        dbeta[c] = (float)(sg[c] + (acc_grad ? dbeta[c] : 0));
    }
    if (!need_dx || rows == 0)
        return;
    const double N = (double)rows;
    for (size_t c = 0; c < C; c++) { /* reuse the sums as per-channel constants */
        sg[c] /= N;
        sgx[c] /= N;
    }
    for (size_t r = 0; r < rows; r++) {
        float *gr = g + r * C;
        const float *hr = xhat + r * C;
        for (size_t c = 0; c < C; c++)
            gr[c] = gamma[c] * rstd[c] * (gr[c] - (float)sg[c] - hr[c] * (float)sgx[c]);
    }
}

/* The slice-wide input buffer of layer i: the output of the nearest earlier
 * layer that owns a buffer (flatten and in-place ReLU do not), or x. */
static const float *layer_input(const struct cnn_work *w, const float *x, int i)
{
    for (int j = i - 1; j >= 0; j--)
        if (w->act[j])
            return w->act[j];
    return x;
}

/* Convolution layers run over a few images at a time so that a layer's output
 * is still in cache when the next layer (ReLU, pooling) reads it; dense
 * layers run over the whole slice in one GEMM. */
#define CHUNK_BYTES (256u << 10)

static int conv_segment_end(const struct cnn_net *net)
{
    int i = 0;
    while (i < net->n_layers && net->layers[i].kind != CNN_DENSE)
        i++;
    return i;
}

static size_t chunk_images(const struct cnn_net *net, int seg_end, size_t n)
{
    size_t per = 1;
    for (int i = 0; i < seg_end; i++) {
        const struct cnn_layer *L = &net->layers[i];
        size_t s = out_size(L) * sizeof(float);
        if (s > per)
            per = s;
    }
    size_t c = CHUNK_BYTES / per;
    return c < 1 ? 1 : c > n ? n : c;
}

/* Forward pass of layer i over images [b0, b0 + nb) of the slice. */
static void layer_forward(const struct cnn_net *net, struct cnn_work *w, const float *x, int i,
                          size_t b0, size_t nb, int train, uint64_t seed, size_t first)
{
    const struct cnn_layer *L = &net->layers[i];
    const size_t isz = in_size(L), osz = out_size(L), m = osz * nb;
    const float *in = layer_input(w, x, i) + b0 * isz;
    float *y = w->act[i] ? w->act[i] + b0 * osz : (float *)in;
    switch (L->kind) {
    case CNN_CONV:
        conv_forward(L, net->params, in, nb,
                     w->cols[i] + b0 * (size_t)L->out_h * L->out_w * L->k * L->k * L->in_c, y);
        break;
    case CNN_DENSE:
        dense_forward(L, net->params, in, nb, y);
        break;
    case CNN_RELU: /* in place unless it is the first layer (see cnn_work_new) */
        relu_forward(in, y, m);
        break;
    case CNN_POOL:
        pool_forward(L, in, nb, y, w->pidx[i] + b0 * osz, b0 * isz);
        break;
    case CNN_DROPOUT: {
        if (!train || L->rate == 0) {
            memcpy(y, in, m * sizeof(float));
            if (w->mask[i])
                for (size_t j = 0; j < m; j++)
                    w->mask[i][b0 * osz + j] = 1.0f;
        } else {
            float *mask = w->mask[i] + b0 * osz;
            const float keep = 1.0f / (1.0f - L->rate);
            for (size_t b = 0; b < nb; b++) {
                uint64_t s = rng_hash(seed ^ ((uint64_t)(i + 1) << 56)) +
                             (uint64_t)(first + b0 + b) * 0x632BE59BD9B4E019ull;
                for (size_t j = 0; j < osz; j++) {
                    float mk = rng_unit24(rng_hash(s + j)) < L->rate ? 0.0f : keep;
                    mask[b * osz + j] = mk;
                    y[b * osz + j] = in[b * osz + j] * mk;
                }
            }
        }
        break;
    }
    case CNN_BN: {
        const size_t rows = m / (size_t)L->units;
        if (train) { /* the whole slice at once (cnn_forward sees to it) */
            w->bn_count[i] = rows;
            if (rows)
                bn_forward_train(L, net->params, in, rows, w->xhat[i], y, w->bn[i], w->bnacc[i]);
        } else {
            bn_forward_eval(net, L, in, rows, y, w->bn[i]);
        }
        break;
    }
    case CNN_FLATTEN:
        break;
    }
}

const float *cnn_forward(const struct cnn_net *net, struct cnn_work *w, const float *x, size_t n,
                         int train, uint64_t seed, size_t first)
{
    const int seg = conv_segment_end(net);
    const size_t chunk = chunk_images(net, seg, n);
    /* In training a bn layer needs the whole slice's statistics: the chunked
     * runs stop before it, it runs over the slice, and chunking resumes. */
    for (int a = 0; a < seg;) {
        int b = a;
        while (b < seg && !(train && net->layers[b].kind == CNN_BN))
            b++;
        for (size_t b0 = 0; b0 < n && a < b; b0 += chunk) {
            size_t nb = n - b0 < chunk ? n - b0 : chunk;
            for (int i = a; i < b; i++)
                layer_forward(net, w, x, i, b0, nb, train, seed, first);
        }
        if (b < seg)
            layer_forward(net, w, x, b++, 0, n, train, seed, first);
        a = b;
    }
    for (int i = seg; i < net->n_layers; i++)
        layer_forward(net, w, x, i, 0, n, train, seed, first);
    return layer_input(w, x, net->n_layers); /* the last dense layer's output */
}

/* Backward pass of layer i over images [b0, b0 + nb): go holds dL/d(output)
 * of those images. Returns 1 when dL/d(input) was written to gi, 0 when it
 * was computed in place in go (ReLU, dropout, flatten) or not needed.
 * Parameter gradients are written (acc = 0) or added (acc = 1). */
static int layer_backward(const struct cnn_net *net, struct cnn_work *w, const float *x, int i,
                          size_t b0, size_t nb, float *go, float *gi, float *grad, int acc,
                          int need_dx)
{
    const struct cnn_layer *L = &net->layers[i];
    const size_t isz = in_size(L), osz = out_size(L), m = osz * nb;
    const float *in = layer_input(w, x, i) + b0 * isz;
    const float beta = acc ? 1.0f : 0.0f;
    int swap = 0;
    switch (L->kind) {
    case CNN_DENSE: {
        const int D = L->in_c, O = L->units;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, O, D, (int)nb, 1.0f, go, O, in, D,
                    beta, grad + L->w_off, D);
        cblas_sgemv(CblasRowMajor, CblasTrans, (int)nb, O, 1.0f, go, O, w->ones, 1, beta,
                    grad + L->b_off, 1);
        if (need_dx) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nb, D, O, 1.0f, go, O,
                        net->params + L->w_off, D, 0.0f, gi, D);
            swap = 1;
        }
        break;
    }
    case CNN_CONV: {
        const int rows = (int)(nb * L->out_h * L->out_w);
        const int K = L->k * L->k * L->in_c, F = L->filters;
        const float *cols = w->cols[i] + b0 * (size_t)L->out_h * L->out_w * K;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, F, K, rows, 1.0f, go, F, cols, K, beta,
                    grad + L->w_off, K);
        cblas_sgemv(CblasRowMajor, CblasTrans, rows, F, 1.0f, go, F, w->ones, 1, beta,
                    grad + L->b_off, 1);
        if (need_dx) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, K, F, 1.0f, go, F,
                        net->params + L->w_off, K, 0.0f, w->dcols, K);
            col2im(L, w->dcols, nb, gi);
            swap = 1;
        }
        break;
    }
    case CNN_RELU:
        if (need_dx)
            relu_backward(w->act[i] ? w->act[i] + b0 * osz : in, go, m);
        break;
    case CNN_POOL:
        if (need_dx) {
            /* windows do not overlap: each input gets at most one gradient */
            memset(gi, 0, isz * nb * sizeof(float));
            const int32_t *idx = w->pidx[i] + b0 * osz;
            const size_t base = b0 * isz; /* idx counts from the slice's start */
            for (size_t j = 0; j < m; j++)
                gi[idx[j] - base] = go[j];
            swap = 1;
        }
        break;
    case CNN_DROPOUT:
        if (need_dx) {
            const float *mask = w->mask[i] + b0 * osz;
            for (size_t j = 0; j < m; j++)
                go[j] *= mask[j];
        }
        break;
    case CNN_BN: /* whole slice, in place (cnn_backward sees to it) */
        bn_backward(L, net->params, w->xhat[i], w->bn[i], m / (size_t)L->units, go, grad, acc,
                    need_dx, w->bnacc[i]);
        break;
    case CNN_FLATTEN:
        break;
    }
    return swap;
}

void cnn_backward(const struct cnn_net *net, struct cnn_work *w, const float *x,
                  const uint8_t *labels, size_t n, float scale, float *grad, float *dx,
                  double *loss_sum, size_t *correct)
{
    const int C = net->n_classes;
    const float *z = layer_input(w, x, net->n_layers);
    float *g = w->g0, *gn = w->g1;
    double loss = 0;
    size_t hits = 0;
    /* softmax cross-entropy: dL/dz = p - onehot(label) */
    for (size_t b = 0; b < n; b++) {
        const float *zb = z + b * C;
        float *gb = g + b * C;
        int arg = 0;
        float mx = zb[0];
        for (int j = 1; j < C; j++)
            if (zb[j] > mx) {
                mx = zb[j];
                arg = j;
            }
        double s = 0;
        for (int j = 0; j < C; j++) {
            gb[j] = expf(zb[j] - mx);
            s += gb[j];
        }
        loss += log(s) - (zb[labels[b]] - mx);
        hits += arg == labels[b];
        float inv = (float)(1.0 / s);
        for (int j = 0; j < C; j++)
            gb[j] = gb[j] * inv * scale;
        gb[labels[b]] -= scale;
    }
    if (loss_sum)
        *loss_sum = loss;
    if (correct)
        *correct = hits;
    /* dense part: the whole slice, ping-pong between g and gn */
    const int seg = conv_segment_end(net);
    for (int i = net->n_layers - 1; i >= seg; i--)
        if (layer_backward(net, w, x, i, 0, n, g, gn, grad, 0, i > 0 || dx)) {
            float *t = g;
            g = gn;
            gn = t;
        }
    /* convolution part: chunk by chunk, starting from the chunk's rows of g
     * and ping-ponging in two chunk-sized buffers (writing into gn could
     * overwrite rows of g that later chunks still need). A bn layer splits
     * it into runs: the run after it goes chunk by chunk into gn, then the
     * bn layer goes over the whole slice in place, and so on down. */
    const size_t chunk = chunk_images(net, seg, n);
    const size_t D = (size_t)net->in_h * net->in_w * net->in_c;
    int in_g = 1; /* dL/dx is (still) in g */
    for (int b = seg; b > 0;) {
        int a = b;
        while (a > 0 && net->layers[a - 1].kind != CNN_BN)
            a--;
        if (a < b) { /* layers a .. b-1, none of them bn */
            float *dst = a > 0 ? gn : dx;
            const size_t dsz = in_size(&net->layers[a]);
            for (size_t b0 = 0; b0 < n; b0 += chunk) {
                size_t nb = n - b0 < chunk ? n - b0 : chunk;
                float *cur = g + b0 * out_size(&net->layers[b - 1]);
                for (int i = b - 1; i >= a; i--) {
                    float *other = cur == w->c0 ? w->c1 : w->c0;
                    if (layer_backward(net, w, x, i, b0, nb, cur, other, grad, b0 > 0, i > 0 || dx))
                        cur = other;
                }
                if (dst)
                    memcpy(dst + b0 * dsz, cur, nb * dsz * sizeof(float));
            }
            if (a == 0) {
                in_g = 0;
                break;
            }
            float *t = g;
            g = gn;
            gn = t;
        }
        layer_backward(net, w, x, a - 1, 0, n, g, gn, grad, 0, a - 1 > 0 || dx);
        b = a - 1;
    }
    if (dx && in_g)
        memcpy(dx, g, n * D * sizeof(float));
}

/* ---- batch norm's running statistics ----------------------------------- */

int cnn_bn_batch_stats(const struct cnn_net *net, const struct cnn_work *w, int layer,
                       const float **mean, const float **var, size_t *count)
{
    if (layer < 0 || layer >= net->n_layers || net->layers[layer].kind != CNN_BN ||
        !w->bnacc[layer] || !w->bn_count[layer])
        return -1;
    const size_t C = (size_t)net->layers[layer].units;
    *mean = w->bn[layer];
    *var = w->bn[layer] + C;
    *count = w->bn_count[layer];
    return 0;
}

void cnn_bn_update(struct cnn_net *net, struct cnn_work *const *works, int n_works, float momentum)
{
    for (int i = 0; i < net->n_layers; i++) {
        const struct cnn_layer *L = &net->layers[i];
        if (L->kind != CNN_BN)
            continue;
        const size_t C = (size_t)L->units;
        float *rm = net->stats + L->s_off, *rv = rm + C;
        double N = 0;
        for (int t = 0; t < n_works; t++)
            N += (double)works[t]->bn_count[i];
        if (N == 0)
            continue;
        for (size_t c = 0; c < C; c++) {
            /* whole-batch moments from the slices': mean = sum n_t m_t / N,
             * biased var = sum n_t (v_t + (m_t - mean)^2) / N (fixed order) */
            double m = 0, v = 0;
            for (int t = 0; t < n_works; t++)
                if (works[t]->bn_count[i])
                    m += (double)works[t]->bn_count[i] * works[t]->bn[i][c];
            m /= N;
            for (int t = 0; t < n_works; t++) {
                const size_t nt = works[t]->bn_count[i];
                if (!nt)
                    continue;
                double d = (double)works[t]->bn[i][c] - m;
                v += (double)nt * ((double)works[t]->bn[i][C + c] + d * d);
            }
            v /= N;
            double unbiased = N > 1 ? v * N / (N - 1) : v;
            rm[c] = (float)((1.0 - momentum) * rm[c] + momentum * m);
            rv[c] = (float)((1.0 - momentum) * rv[c] + momentum * unbiased);
        }
    }
}

/* ---- prediction --------------------------------------------------------- */

#define PREDICT_CHUNK 256

int cnn_predict(const struct cnn_net *net, const float *x, size_t n, float *prob, enc_err *err)
{
    if (n == 0)
        return 0;
    const size_t chunk = n < PREDICT_CHUNK ? n : PREDICT_CHUNK;
    const size_t D = (size_t)net->in_h * net->in_w * net->in_c;
    const int C = net->n_classes;
    struct cnn_work *w = cnn_work_new(net, chunk, 0);
    float *xs = malloc(chunk * D * sizeof(float));
    if (!w || !xs) {
        cnn_work_free(w);
        free(xs);
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    for (size_t s = 0; s < n; s += chunk) {
        size_t k = n - s < chunk ? n - s : chunk;
        const float *xi = x + s * D;
        for (size_t j = 0; j < k * D; j++)
            xs[j] = xi[j] * net->input_scale + net->input_offset;
        const float *z = cnn_forward(net, w, xs, k, 0, 0, 0);
        for (size_t b = 0; b < k; b++) {
            const float *zb = z + b * C;
            float *pb = prob + (s + b) * C;
            float mx = zb[0];
            for (int j = 1; j < C; j++)
                mx = zb[j] > mx ? zb[j] : mx;
            double sum = 0;
            for (int j = 0; j < C; j++)
                sum += pb[j] = expf(zb[j] - mx);
            float inv = (float)(1.0 / sum);
            for (int j = 0; j < C; j++)
                pb[j] *= inv;
        }
    }
    cnn_work_free(w);
    free(xs);
    return 0;
}
