/*
 * cnn.h - the convolutional image classifier family ("cnn").
 *
 * A network is a chain of layers given by a compact spec (the "arch"):
 *
 *   conv32k3        32 filters 3x3, stride 1, "valid" padding
 *   conv32k3same    the same with "same" padding (odd k only)
 *   relu            max(0, x)
 *   pool2           2x2 max-pool, stride 2 (odd edges dropped)
 *   flatten         marks the switch to dense layers (implicit otherwise)
 *   dense128        fully connected, 128 units
 *   dropout0.5      inverted dropout (training only; identity at inference)
 *   bn              batch normalisation: per channel after conv / pool / relu
 *                   layers (over batch x rows x columns), per feature after
 *                   flatten or dense (over the batch); see "Batch norm" below
 *
 * The last layer must be dense; its width is the number of classes and the
 * loss is softmax cross-entropy. The default "conv32k3,relu,flatten,dense10" is
 * Conv2D(32, 3x3) -> ReLU -> Flatten -> Dense(10) -> softmax.
 *
 * Activations are NHWC (batch, row, column, channel), so a convolution is
 * im2col (one row of k*k*C values per output pixel) and one cblas_sgemm with
 * the filters, with no transposes; flatten is free and dense layers see the
 * (row, column, channel) order.
 *
 * Batch norm (PyTorch's BatchNorm2d / BatchNorm1d): in training, each of the
 * layer's C channels is normalised with the batch's mean and biased variance,
 * x_hat = (x - mean) / sqrt(var + 1e-5), and y = gamma * x_hat + beta, gamma
 * (init 1) and beta (init 0) being trained like the other parameters. The
 * running statistics follow PyTorch: after each training step
 * running = 0.9 * running + 0.1 * batch, with the unbiased batch variance for
 * running_var (cnn_bn_update). Inference (train = 0, cnn_predict) uses the
 * running statistics, so a prediction does not depend on the other images.
 * With split_batch and T threads, each thread normalises its own slice of the
 * batch (like PyTorch's DataParallel without SyncBatchNorm) and the running
 * statistics get the whole batch's moments, merged exactly.
 *
 * The model file (safetensors, see core/st.h), for layer i of the arch:
 *   layers.i.weight  F32 conv [F, k, k, C] / dense [units, inputs] / bn [C] (gamma)
 *   layers.i.bias    F32 [F] / [units] / bn [C] (beta)
 *   layers.i.running_mean, layers.i.running_var   F32 [C] (bn only; var >= 0)
 *   class_names.bytes/.offsets   one name per class
 * Metadata: family "cnn", "arch", "input_height", "input_width",
 * "input_channels", "input_max" (255: the model takes raw pixels 0..255) and
 * the input scaling "input_scale", "input_offset": the network sees
 * x * input_scale + input_offset. The loader parses the arch and checks
 * every tensor's dtype and shape against it.
 */
#ifndef ENCORE_CNN_H
#define ENCORE_CNN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "cnn/idx.h"
#include "core/err.h"
#include "core/model.h"
#include "core/st.h"

extern const struct model_ops cnn_ops;

#define CNN_DEFAULT_ARCH "conv32k3,relu,flatten,dense10"
#define CNN_MAX_LAYERS 32
#define CNN_MAX_CLASSES 4096

enum cnn_kind { CNN_CONV, CNN_RELU, CNN_POOL, CNN_FLATTEN, CNN_DENSE, CNN_DROPOUT, CNN_BN };

#define CNN_BN_EPS 1e-5f     /* added to the variance (PyTorch's default) */
#define CNN_BN_MOMENTUM 0.1f /* weight of the new batch in the running statistics */

struct cnn_layer {
    enum cnn_kind kind;
    int filters, k, pad;  /* conv (pad = (k-1)/2 for "same", else 0) */
    int units;            /* dense; bn: channels (features) normalised */
    float rate;           /* dropout */
    int in_h, in_w, in_c; /* input shape (dense: 1 x 1 x inputs) */
    int out_h, out_w, out_c;
    size_t w_off, n_w; /* weights: offset into params, count */
    size_t b_off, n_b;
    size_t s_off; /* bn: running mean at stats + s_off, var after it */
};

/* A network: the arch, the parameters (owned) and the input description. */
struct cnn_net {
    char *arch;
    int n_layers;
    struct cnn_layer layers[CNN_MAX_LAYERS];
    int in_h, in_w, in_c;
    int n_classes;
    size_t n_params;
    float *params; /* all weights and biases, layer by layer */
    size_t n_stats;
    float *stats; /* bn running mean and variance (not trained by
                   * the optimiser), layer by layer */
    float input_scale, input_offset, input_max;
    char **class_names; /* n_classes strings, owned */
    size_t max_act;     /* largest activation per image, in floats */
    size_t max_cols;    /* largest im2col buffer per image, in floats */
    struct model_io io; /* for cnn_ops.io */
};

/* Parse `arch` for images of h x w x c and build a network with zeroed
 * parameters, scale 1/255, offset 0, class names "0".."n-1".
 * On success *out is caller-owned (cnn_free). Errors (ENC_EINVAL) name the
 * spec item and why (unknown layer, shape shrinks to 0, last layer not dense). */
int cnn_new(const char *arch, int h, int w, int c, struct cnn_net **out, enc_err *err);
/* cnn_new without the parameter memory: the layers laid out, n_params and
 * n_stats set, params / stats / class_names NULL (cnn_free it). For checking
 * a file against its arch before allocating for it (cnn_from_file). */
int cnn_plan(const char *arch, int h, int w, int c, struct cnn_net **out, enc_err *err);
void cnn_free(struct cnn_net *net); /* NULL is a no-op */

enum cnn_init {
    CNN_INIT_HE = 0,      /* He-uniform before a ReLU, Glorot-uniform elsewhere */
    CNN_INIT_GLOROT = 1,  /* Glorot-uniform everywhere (Keras's default) */
    CNN_INIT_UNIFORM = 2, /* U(+-1/sqrt(fan_in)) (PyTorch's default) */
};

/* Draw the weights (zero biases) with the given scheme; deterministic for a
 * seed. Batch norm layers get gamma 1, beta 0, running mean 0 and running
 * variance 1, and draw nothing (an arch without bn gets the same weights as
 * before bn existed). */
void cnn_init(struct cnn_net *net, uint64_t seed, enum cnn_init scheme);

/* Replace the class names (n_classes strings, copied). Returns 0 or ENC_ENOMEM. */
int cnn_set_class_names(struct cnn_net *net, const char *const *names);

/* ---- forward / backward (used by training, predict and the tests) ----- */

/* Scratch for running up to `cap` images through `net`; train = 0 leaves out
 * the gradient buffers (then only cnn_forward with train = 0 may use it).
 * Not shareable between threads; each thread makes its own. Returns NULL when
 * out of memory; caller frees with cnn_work_free. */
struct cnn_work;
struct cnn_work *cnn_work_new(const struct cnn_net *net, size_t cap, int train);
void cnn_work_free(struct cnn_work *w); /* NULL is a no-op */

/* Forward pass of n <= cap images `x` (already scaled, NHWC) into logits
 * (borrowed from w, n x n_classes, valid until the next call). train != 0
 * applies dropout with masks drawn from (seed, first + image index, unit). */
const float *cnn_forward(const struct cnn_net *net, struct cnn_work *w, const float *x, size_t n,
                         int train, uint64_t seed, size_t first);

/* After cnn_forward(train=1,...) on a training work: softmax cross-entropy against `labels`,
 * back-propagated. grad (n_params, overwritten) gets d(loss_sum * scale)/d
 * params, where loss_sum is the sum over the n images; dx (n x in_size, or
 * NULL to skip) gets the gradient with respect to the input. *loss_sum and
 * *correct (argmax hits) are optional. */
void cnn_backward(const struct cnn_net *net, struct cnn_work *w, const float *x,
                  const uint8_t *labels, size_t n, float scale, float *grad, float *dx,
                  double *loss_sum, size_t *correct);

/* Batch norm's running statistics: merge the batch moments recorded by the
 * last training forward pass (train = 1) of each of the n_works works (one
 * per slice of the batch; works that saw 0 images are skipped) into the
 * whole batch's mean and unbiased variance, and move each running value
 * towards them: running = (1 - momentum) * running + momentum * batch.
 * A no-op for a network without bn layers. */
void cnn_bn_update(struct cnn_net *net, struct cnn_work *const *works, int n_works, float momentum);

/* The batch mean and biased variance (C floats each, borrowed from w, valid
 * until its next forward pass) of bn layer `layer` recorded by the last
 * training forward pass on w, and the number of values per channel;
 * returns -1 when layer is not a bn layer or no training pass was recorded. */
int cnn_bn_batch_stats(const struct cnn_net *net, const struct cnn_work *w, int layer,
                       const float **mean, const float **var, size_t *count);

/* Class probabilities prob[n x n_classes] for n raw images (values
 * 0..input_max, the scaling is applied here). Thread-safe: allocates its own
 * scratch and only reads net. Returns 0 or ENC_ENOMEM. */
int cnn_predict(const struct cnn_net *net, const float *x, size_t n, float *prob, enc_err *err);

/* ---- training ---------------------------------------------------------- */

struct cnn_train_opts {
    int epochs;
    int batch;
    double lr;
    int cosine;      /* 1: lr * (1 + cos(pi * step / steps)) / 2 per step */
    int adam;        /* 1 = Adam (beta 0.9/0.999, eps 1e-8), 0 = SGD */
    double momentum; /* SGD momentum */
    uint64_t seed;
    int threads;
    int standardize; /* 1: input scaled to mean 0, std 1 over the training
                      * pixels; 0: pixels / 255 */
    int split_batch; /* 1: split each batch over `threads` pthreads with
                      * single-threaded BLAS; 0: one worker, BLAS threads */
    int flip;        /* augmentation: 1 mirrors each training image left-right
                      * with probability 1/2 (0: off) */
    int shift;       /* augmentation: > 0 translates each training image by
                      * (dy, dx), each uniform in -shift..shift, zero fill (0: off) */
    FILE *progress;  /* per-epoch lines, or NULL */
};

/* Augmentation of one raw image src (h x w x c, row-major NHWC) into dst
 * (same size, not overlapping src): mirrored left-right when flip != 0, then
 * moved dy rows down and dx columns right (negative: up / left); pixels that
 * come from outside the image are 0 (background). */
void cnn_augment_image(const uint8_t *src, int h, int w, int c, int flip, int dy, int dx,
                       uint8_t *dst);

/* Train `net` (already initialised) on `train`; `test` (or NULL) is scored
 * after each epoch. Sets the input scaling (o->standardize). Deterministic for a fixed seed and
 * thread count. Returns 0, ENC_EINVAL (labels >= n_classes, image size mismatch) or ENC_ENOMEM.
 * *test_acc (optional) gets the final held-out accuracy. With o->flip / o->shift, each training
 * image is augmented on the fly (cnn_augment_image) with a draw from a hash of (seed, epoch,
 * position in the epoch's order), so augmented runs are deterministic too; the held-out set is
 * never augmented. */
int cnn_train(struct cnn_net *net, const struct idx_dataset *train, const struct idx_dataset *test,
              const struct cnn_train_opts *o, double *test_acc, enc_err *err);

/* Predicted class of each of d's images into pred[d->n], using `threads`
 * workers. Returns 0 or ENC_ENOMEM. */
int cnn_classify(const struct cnn_net *net, const struct idx_dataset *d, int threads, int *pred,
                 enc_err *err);

/* ---- files -------------------------------------------------------------- */

/* Serialize into a writer: tensors, arch and scaling metadata and the common
 * metadata (hyper borrowed; fingerprint may be NULL). */
int cnn_write(const struct cnn_net *net, st_writer *w, const json_t *hyper,
              const char *fingerprint);

/* (cnn_ops.write: model_save(&cnn_ops, net, ...) publishes to REPO/NAME/VERSION.) */

/* Build a network from an opened file, validating the arch, every shape and
 * the metadata. The parameters are copied: *out does not borrow from f. */
int cnn_from_file(const st_file *f, struct cnn_net **out, enc_err *err);

#endif
