/*
 * cnn_train.c - mini-batch training for the CNN family: shuffling, the
 * thread split, Adam / SGD with momentum, per-epoch progress (see cnn.h).
 *
 * Threads. Two ways to use T cores were measured (bench/results/cnn.md):
 *   split_batch = 1: each batch is cut into T contiguous slices; T pthreads run
 *     forward + backward on their slice with single-threaded OpenBLAS into
 *     their own gradient buffer; the main thread adds the T buffers in a fixed
 *     order and takes the optimiser step. Everything (im2col, ReLU, pooling,
 *     the loss) runs in parallel, not only the GEMMs.
 *   split_batch = 0: one worker, OpenBLAS's own threads inside each GEMM.
 * Both are deterministic for a fixed seed and thread count: the slices, the
 * order of the sums, the dropout masks and the augmentation draws (hashes of
 * seed, epoch, image position) do not depend on scheduling.
 *
 * Augmentation (o->flip, o->shift) is applied to the raw pixels as a worker
 * gathers its slice, so it costs one extra pass over 784 bytes per image and
 * needs no copy of the data set.
 */
#include "cnn/cnn.h"
#include "core/rng.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CNN_MAX_THREADS 64
#define EVAL_CHUNK 256

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU seconds of the whole process (all threads): steadier than wall time
 * on a shared machine. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One worker: its scratch, its gradient and the current job. */
struct worker {
    const struct cnn_net *net;
    struct cnn_work *w;
    size_t cap;
    float *x;    /* cap scaled images */
    float *grad; /* n_params (training) */
    /* job */
    const struct idx_dataset *d;
    const size_t *order; /* image indexes (NULL: identity) */
    size_t start, n;     /* positions order[start .. start+n) */
    int train;
    uint64_t seed;
    int flip, shift; /* augmentation of training images (0: off) */
    uint64_t aug_seed;
    uint8_t *aug; /* one augmented raw image (when flip or shift) */
    float scale;
    int *pred; /* classify: pred[position] */
    double loss;
    size_t correct;
};

static void worker_clear(struct worker *k)
{
    cnn_work_free(k->w);
    free(k->x);
    free(k->grad);
    free(k->aug);
    memset(k, 0, sizeof *k);
}

static int worker_init(struct worker *k, const struct cnn_net *net, size_t cap, int train)
{
    memset(k, 0, sizeof *k);
    k->net = net;
    k->cap = cap;
    k->w = cnn_work_new(net, cap, train);
    k->x = malloc(cap * net->io.n_features * sizeof(float));
    k->grad = train ? malloc(net->n_params * sizeof(float)) : NULL;
    k->aug = train ? malloc(net->io.n_features) : NULL;
    if (!k->w || !k->x || (train && (!k->grad || !k->aug))) {
        worker_clear(k);
        return ENC_ENOMEM;
    }
    return 0;
}

void cnn_augment_image(const uint8_t *src, int h, int w, int c, int flip, int dy, int dx,
                       uint8_t *dst)
{
    for (int r = 0; r < h; r++) {
        int sr = r - dy;
        for (int q = 0; q < w; q++) {
            int sq = q - dx; /* column in the (possibly mirrored) image */
            uint8_t *o = dst + ((size_t)r * w + q) * c;
            if (sr < 0 || sr >= h || sq < 0 || sq >= w) {
                memset(o, 0, (size_t)c);
                continue;
            }
            int col = flip ? w - 1 - sq : sq;
            memcpy(o, src + ((size_t)sr * w + col) * c, (size_t)c);
        }
    }
}

/* Scale images order[pos .. pos+n) into k->x, augmented when the job says so:
 * the draw for the image at position p is a hash of (aug_seed, p). */
static void gather(struct worker *k, size_t pos, size_t n, uint8_t *labels)
{
    const size_t D = k->net->io.n_features;
    const float sc = k->net->input_scale, of = k->net->input_offset;
    const int aug = k->train && (k->flip || k->shift);
    for (size_t b = 0; b < n; b++) {
        size_t img = k->order ? k->order[pos + b] : pos + b;
        const uint8_t *p = k->d->pixels + img * D;
        if (aug) {
            uint64_t h = rng_hash(k->aug_seed + pos + b);
            int span = 2 * k->shift + 1;
            int flip = k->flip ? (int)(h & 1) : 0;
            int dy = k->shift ? (int)((h >> 8) % (uint64_t)span) - k->shift : 0;
            int dx = k->shift ? (int)((h >> 24) % (uint64_t)span) - k->shift : 0;
            cnn_augment_image(p, k->net->in_h, k->net->in_w, k->net->in_c, flip, dy, dx, k->aug);
            p = k->aug;
        }
        float *x = k->x + b * D;
        for (size_t j = 0; j < D; j++)
            x[j] = p[j] * sc + of;
        if (labels)
            labels[b] = k->d->labels[img];
    }
}

static void *worker_run(void *arg)
{
    struct worker *k = arg;
    k->loss = 0;
    k->correct = 0;
    if (k->train) {
        uint8_t labels[4096];
        gather(k, k->start, k->n, labels);
        cnn_forward(k->net, k->w, k->x, k->n, 1, k->seed, k->start);
        cnn_backward(k->net, k->w, k->x, labels, k->n, k->scale, k->grad, NULL, &k->loss,
                     &k->correct);
        return NULL;
    }
    const int C = k->net->n_classes;
    for (size_t s = 0; s < k->n; s += k->cap) {
        size_t m = k->n - s < k->cap ? k->n - s : k->cap;
        gather(k, k->start + s, m, NULL);
        const float *z = cnn_forward(k->net, k->w, k->x, m, 0, 0, 0);
        for (size_t b = 0; b < m; b++) {
            int best = 0;
            for (int j = 1; j < C; j++)
                if (z[b * C + j] > z[b * C + best])
                    best = j;
            k->pred[k->start + s + b] = best;
        }
    }
    return NULL;
}

/* Run workers 1..T-1 on pthreads and worker 0 here; join. Falls back to
 * running a worker inline when a thread cannot be created. */
static void run_all(struct worker *ks, int T)
{
    pthread_t th[CNN_MAX_THREADS];
    int started[CNN_MAX_THREADS] = {0};
    for (int t = 1; t < T; t++)
        started[t] = pthread_create(&th[t], NULL, worker_run, &ks[t]) == 0;
    worker_run(&ks[0]);
    for (int t = 1; t < T; t++) {
        if (started[t])
            pthread_join(th[t], NULL);
        else
            worker_run(&ks[t]);
    }
}

static int clamp_threads(int t)
{
    return t < 1 ? 1 : t > CNN_MAX_THREADS ? CNN_MAX_THREADS : t;
}

int cnn_classify(const struct cnn_net *net, const struct idx_dataset *d, int threads, int *pred,
                 enc_err *err)
{
    if ((size_t)d->rows * d->cols != net->io.n_features)
        return enc_errf(err, ENC_EINVAL, "images are %zu x %zu, the model takes %d x %d", d->rows,
                        d->cols, net->in_h, net->in_w);
    int T = clamp_threads(threads);
    if ((size_t)T > d->n)
        T = d->n ? (int)d->n : 1;
    struct worker ks[CNN_MAX_THREADS];
    int nk = 0, rc = 0;
    for (; nk < T; nk++)
        if ((rc = worker_init(&ks[nk], net, EVAL_CHUNK, 0)))
            break;
    if (!rc) {
        if (T > 1)
            openblas_set_num_threads(1);
        for (int t = 0; t < T; t++) {
            ks[t].d = d;
            ks[t].start = d->n * t / T;
            ks[t].n = d->n * (t + 1) / T - ks[t].start;
            ks[t].pred = pred;
        }
        run_all(ks, T);
    }
    for (int t = 0; t < nk; t++)
        worker_clear(&ks[t]);
    return rc ? enc_errf(err, rc, "out of memory") : 0;
}

static double accuracy(const struct cnn_net *net, const struct idx_dataset *d, int threads, int *rc,
                       enc_err *err)
{
    int *pred = malloc((d->n ? d->n : 1) * sizeof *pred);
    if (!pred) {
        *rc = enc_errf(err, ENC_ENOMEM, "out of memory");
        return 0;
    }
    *rc = cnn_classify(net, d, threads, pred, err);
    size_t hit = 0;
    for (size_t i = 0; i < d->n && !*rc; i++)
        hit += pred[i] == d->labels[i];
    free(pred);
    return d->n ? (double)hit / d->n : 0;
}

/* The data against the network and the options. 0 or ENC_EINVAL. */
static int check_data(const struct cnn_net *net, const struct idx_dataset *train,
                      const struct idx_dataset *test, const struct cnn_train_opts *o, enc_err *err)
{
    const size_t D = net->io.n_features;
    if ((size_t)train->rows * train->cols * net->in_c != D ||
        (test && (size_t)test->rows * test->cols * net->in_c != D))
        return enc_errf(err, ENC_EINVAL, "images do not match the network's %d x %d input",
                        net->in_h, net->in_w);
    if (train->n == 0)
        return enc_errf(err, ENC_EINVAL, "no training images");
    if (train->n_classes > net->n_classes || (test && test->n_classes > net->n_classes))
        return enc_errf(
            err, ENC_EINVAL, "labels go up to %d but the last layer has %d units",
            (test && test->n_classes > train->n_classes ? test->n_classes : train->n_classes) - 1,
            net->n_classes);
    if (o->batch < 1 || o->batch > 4096 || o->epochs < 0)
        return enc_errf(err, ENC_EINVAL, "batch must be 1..4096 and epochs >= 0");
    if (o->shift < 0 || o->shift >= net->in_h || o->shift >= net->in_w)
        return enc_errf(err, ENC_EINVAL, "augmentation shift %d: must be 0..%d", o->shift,
                        (net->in_h < net->in_w ? net->in_h : net->in_w) - 1);
    return 0;
}

/* The network's input scaling: standardise with the training pixels' mean
 * and std (--scaling standardize), or pixels / 255. */
static void set_input_scaling(struct cnn_net *net, const struct idx_dataset *train,
                              const struct cnn_train_opts *o)
{
    const size_t D = net->io.n_features;
    double sum = 0, sq = 0;
    const size_t total = train->n * D;
    for (size_t i = 0; i < total; i++) {
        double v = train->pixels[i] / 255.0;
        sum += v;
        sq += v * v;
    }
    double mean = sum / total, var = sq / total - mean * mean;
    double sd = var > 1e-12 ? sqrt(var) : 1.0;
    if (!o->standardize) {
        mean = 0;
        sd = 1;
    }
    net->input_scale = (float)(1.0 / (255.0 * sd));
    net->input_offset = (float)(-mean / sd);
}

/* One optimizer step on the summed gradient g (step counts from 1): Adam
 * or SGD with momentum, at the learning rate of the schedule. */
static void optimizer_step(struct cnn_net *net, const struct cnn_train_opts *o, const float *g,
                           float *m1, float *m2, long step, long total_steps)
{
    const size_t P = net->n_params;
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    float *w = net->params;
    double lr = o->lr;
    if (o->cosine)
        lr *= 0.5 * (1.0 + cos(M_PI * (double)(step - 1) / (double)total_steps));
    if (o->adam) {
        const double bc1 = 1 - pow(b1, (double)step), bc2 = 1 - pow(b2, (double)step);
        const float a = (float)(lr / bc1), rb2 = (float)(1.0 / sqrt(bc2));
        for (size_t j = 0; j < P; j++) {
            m1[j] = (float)b1 * m1[j] + (float)(1 - b1) * g[j];
            m2[j] = (float)b2 * m2[j] + (float)(1 - b2) * g[j] * g[j];
            w[j] -= a * m1[j] / (sqrtf(m2[j]) * rb2 + (float)eps);
        }
    } else {
        const float mom = (float)o->momentum, flr = (float)lr;
        for (size_t j = 0; j < P; j++) {
            m1[j] = mom * m1[j] + g[j];
            w[j] -= flr * m1[j];
        }
    }
}

int cnn_train(struct cnn_net *net, const struct idx_dataset *train, const struct idx_dataset *test,
              const struct cnn_train_opts *o, double *test_acc, enc_err *err)
{
    int rc = check_data(net, train, test, o, err);
    if (rc)
        return rc;
    set_input_scaling(net, train, o);
    const int T = o->split_batch ? clamp_threads(o->threads) : 1;
    const size_t B = (size_t)o->batch;
    const size_t P = net->n_params;
    struct worker ks[CNN_MAX_THREADS];
    int nk = 0;
    size_t *order = malloc(train->n * sizeof *order);
    float *g = malloc(P * sizeof *g), *m1 = calloc(P, sizeof *m1),
          *m2 = o->adam ? calloc(P, sizeof *m2) : NULL;
    if (!order || !g || !m1 || (o->adam && !m2)) {
        rc = enc_errf(err, ENC_ENOMEM, "out of memory");
        goto done;
    }
    for (; nk < T; nk++)
        if (worker_init(&ks[nk], net, (B + T - 1) / T, 1)) {
            rc = enc_errf(err, ENC_ENOMEM, "out of memory for batch %zu", B);
            goto done;
        }
    for (size_t i = 0; i < train->n; i++)
        order[i] = i;
    uint64_t rng = rng_hash(o->seed ^ 0xB47C4ull);
    long step = 0;
    const long total_steps = (long)o->epochs * (long)((train->n + B - 1) / B);
    for (int ep = 0; ep < o->epochs; ep++) {
        double t0 = now_s(), c0 = cpu_s();
        openblas_set_num_threads(o->split_batch ? 1 : clamp_threads(o->threads));
        for (size_t i = train->n - 1; i > 0; i--) { /* Fisher-Yates */
            rng = rng_hash(rng);
            size_t j = (size_t)(rng % (i + 1));
            size_t t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        double loss = 0;
        size_t correct = 0;
        for (size_t s = 0; s < train->n; s += B) {
            size_t n = train->n - s < B ? train->n - s : B;
            int used = 0;
            for (int t = 0; t < T; t++) {
                struct worker *k = &ks[t];
                k->d = train;
                k->order = order;
                k->start = s + n * t / T;
                k->n = s + n * (t + 1) / T - k->start;
                k->train = 1;
                k->seed = rng_hash(o->seed ^ ((uint64_t)ep << 32));
                k->flip = o->flip;
                k->shift = o->shift;
                k->aug_seed = rng_hash(k->seed ^ 0xA6A6ull);
                k->scale = (float)(1.0 / n);
                if (k->n)
                    used = t + 1;
            }
            run_all(ks, used);
            if (net->n_stats) { /* batch norm: running statistics of this batch */
                struct cnn_work *ws[CNN_MAX_THREADS];
                for (int t = 0; t < used; t++)
                    ws[t] = ks[t].w;
                cnn_bn_update(net, ws, used, CNN_BN_MOMENTUM);
            }
            memcpy(g, ks[0].grad, P * sizeof *g);
            for (int t = 1; t < used; t++)
                for (size_t j = 0; j < P; j++)
                    g[j] += ks[t].grad[j];
            for (int t = 0; t < used; t++) {
                loss += ks[t].loss;
                correct += ks[t].correct;
            }
            optimizer_step(net, o, g, m1, m2, ++step, total_steps);
        }
        double tr_s = now_s() - t0, tr_cpu = cpu_s() - c0;
        double acc = -1;
        if (test) {
            acc = accuracy(net, test, o->threads, &rc, err);
            if (rc)
                goto done;
            if (test_acc)
                *test_acc = acc;
        }
        if (o->progress) {
            fprintf(o->progress, "epoch %d/%d: loss %.4f  train_acc %.4f", ep + 1, o->epochs,
                    loss / train->n, (double)correct / train->n);
            if (test)
                fprintf(o->progress, "  test_acc %.4f", acc);
            fprintf(o->progress,
                    "  train_seconds %.2f  train_cpu_seconds %.2f  total_seconds %.2f\n", tr_s,
                    tr_cpu, now_s() - t0);
            fflush(o->progress);
        }
    }
done:
    for (int t = 0; t < nk; t++)
        worker_clear(&ks[t]);
    free(order);
    free(g);
    free(m1);
    free(m2);
    return rc;
}
