/*
 * bpr.c - BPR with stratified, race-free parallel SGD (see bpr.h).
 *
 * The positives are bucketed once into T x 2T blocks (user block, item
 * block); a round runs T threads on disjoint user blocks and item-block
 * pairs, so they share no row, and every round has its own generator seeded from (seed, epoch,
 * round, thread), so a run is a pure function of the seed and T.
 */
#include "mf/bpr.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rng.h"
#include "mf/als.h"
#include "mf/interactions.h"
#include "mf/mf.h"

void bpr_params_default(struct bpr_params *p)
{
    memset(p, 0, sizeof *p);
    /* Chosen on the ml-100k validation split carved from train.tsv
     * (docs/training.md). */
    p->factors = 64;
    p->epochs = 100;
    p->learning_rate = 0.02;
    p->regularization = 0.01;
    p->threads = 2;
    p->seed = 42;
    p->confidence = CONF_AUTO;
    p->alpha = 1.0;
    p->epsilon = 0;
}

int bpr_params_check(const struct bpr_params *p, enc_err *err)
{
    if (p->factors < 2 || p->factors > 4096)
        return enc_errf(err, ENC_EINVAL, "factors must be in 2..4096 (one is the item bias)");
    if (p->epochs < 0 || p->epochs > 1000000)
        return enc_errf(err, ENC_EINVAL, "epochs must be in 0..1000000");
    if (!(p->learning_rate > 0) || !isfinite(p->learning_rate))
        return enc_errf(err, ENC_EINVAL, "learning rate must be > 0");
    if (!(p->regularization >= 0) || !isfinite(p->regularization))
        return enc_errf(err, ENC_EINVAL, "regularization must be >= 0");
    if (p->threads < 1 || p->threads > 64)
        return enc_errf(err, ENC_EINVAL, "threads must be in 1..64");
    if (p->confidence < CONF_AUTO || p->confidence > CONF_TFIDF)
        return enc_errf(err, ENC_EINVAL, "unknown confidence scheme");
    if (!(p->alpha >= 0) || !isfinite(p->alpha) || !isfinite(p->epsilon))
        return enc_errf(err, ENC_EINVAL, "alpha must be >= 0 and epsilon finite");
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int row_has(const struct als_csr *R, size_t u, int32_t item)
{
    int64_t lo = R->indptr[u], hi = R->indptr[u + 1];
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (R->indices[mid] == item)
            return 1;
        if (R->indices[mid] < item)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

struct block {
    int32_t *pairs; /* (user, item) pairs */
    double *cum;    /* running sums of their confidences, or NULL (uniform) */
    size_t n;
};

/* The position of x in [0, cum[n-1]) among the running sums cum[0..n). */
static size_t cum_find(const double *cum, size_t n, double x)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cum[mid] > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

struct bpr_job {
    const struct als_csr *R;
    const struct bpr_params *p;
    float *X, *Y;
    struct block *blocks; /* T user blocks x 2T item blocks */
    size_t *item_lo;      /* 2T + 1 item block boundaries */
    int T, epoch, round;
    size_t correct[64], sampled[64];
};

struct bpr_arg {
    struct bpr_job *j;
    int t;
};

/* Round r of the circle-method round robin over 2T item blocks: thread t
 * gets the pair {*a, *b}; over 2T - 1 rounds every two blocks meet once. */
static void round_pair(int T, int r, int t, int *a, int *b)
{
    int m = 2 * T - 1;
    if (t == 0) {
        *a = m;
        *b = r;
    } else {
        *a = (r + t) % m;
        *b = ((r - t) % m + m) % m;
    }
}

/* The SGD update is elementwise over the factors; GCC's -O2 cost model does
 * not vectorize it (unknown trip count, possible aliasing), O3 does, with
 * bit-identical results (no reassociation: the dot product stays scalar). */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("O3")))
#endif
static void *
bpr_worker(void *arg)
{
    struct bpr_arg *a = arg;
    struct bpr_job *j = a->j;
    int T = j->T, t = a->t, ba, bb;
    round_pair(T, j->round, t, &ba, &bb);
    int ub = (t + j->round + j->epoch) % T;
    const struct block *b1 = &j->blocks[(size_t)ub * (size_t)(2 * T) + (size_t)ba];
    const struct block *b2 = &j->blocks[(size_t)ub * (size_t)(2 * T) + (size_t)bb];
    size_t F = j->p->factors, L = F - 1, cols = j->R->cols, B = (size_t)(2 * T);
    float lr = (float)j->p->learning_rate, reg = (float)j->p->regularization;
    uint64_t s = j->p->seed ^ (0xD1B54A32D192ED03ull * ((uint64_t)j->epoch * 4096 +
                                                        (uint64_t)j->round * 64 + (uint64_t)t + 1));
    size_t correct = 0, sampled = 0, npos = b1->n + b2->n;
    /* A user block meets a given pair of item blocks once every T epochs, so
     * T * npos draws per task give every (u, i, j) triple the rate it has in
     * plain BPR (about one visit per positive and epoch). The negative is
     * drawn from the whole catalog, as in plain BPR, and the draw is kept
     * only if it falls in this task's pair; a same-block pair (i, j) lies in
     * 2T - 1 pairs, so it is kept with probability 1 / (2T - 1). */
    size_t draws = npos * (size_t)T;
    double tot1 = b1->cum && b1->n ? b1->cum[b1->n - 1] : 0;
    double tot2 = b2->cum && b2->n ? b2->cum[b2->n - 1] : 0;
    for (size_t n = 0; n < draws; n++) {
        size_t k;
        if (!b1->cum) {
            k = (size_t)rng_below(&s, npos);
        } else { /* by confidence */
            double x = rng_uniform(&s) * (tot1 + tot2);
            k = b1->n && (x < tot1 || !b2->n) ? cum_find(b1->cum, b1->n, x)
                                              : b1->n + cum_find(b2->cum, b2->n, x - tot1);
        }
        const int32_t *pr = k < b1->n ? b1->pairs + 2 * k : b2->pairs + 2 * (k - b1->n);
        size_t u = (size_t)pr[0];
        int32_t i = pr[1], jj = -1;
        for (int tries = 0; tries < 32; tries++) {
            int32_t c = (int32_t)rng_below(&s, cols);
            if (!row_has(j->R, u, c)) {
                jj = c;
                break;
            }
        }
        if (jj < 0)
            continue;
        int bj = (int)((uint64_t)jj * B / cols), bi = (int)((uint64_t)i * B / cols);
        if (bj != ba && bj != bb)
            continue;
        if (bj == bi && T > 1 && (size_t)rng_below(&s, (size_t)(2 * T - 1)) != 0)
            continue;
        float *xu = j->X + u * F, *yi = j->Y + (size_t)i * F, *yj = j->Y + (size_t)jj * F;
        float x = yi[L] - yj[L];
        for (size_t f = 0; f < L; f++)
            x += xu[f] * (yi[f] - yj[f]);
        sampled++;
        correct += x > 0;
        float z = 1.0f / (1.0f + expf(x)); /* sigma(-x): d ln sigma(x) / dx */
        for (size_t f = 0; f < L; f++) {
            float uf = xu[f], fi = yi[f], fj = yj[f];
            xu[f] += lr * (z * (fi - fj) - reg * uf);
            yi[f] += lr * (z * uf - reg * fi);
            yj[f] += lr * (-z * uf - reg * fj);
        }
        yi[L] += lr * (z - reg * yi[L]);
        yj[L] += lr * (-z - reg * yj[L]);
    }
    j->correct[t] += correct;
    j->sampled[t] += sampled;
    return NULL;
}

/* The confidence of every positive (1 + alpha * f(w)) into *out, or *out =
 * NULL when they are all equal (the uniform draw). */
static int sampling_weights(const struct als_csr *R, const struct bpr_params *p, float **out,
                            enc_err *err)
{
    *out = NULL;
    size_t nnz = (size_t)R->indptr[R->rows];
    enum conf_scheme scheme;
    double eps;
    char why[8];
    struct als_params ap;
    als_params_default(&ap);
    ap.confidence = p->confidence;
    ap.epsilon = p->epsilon;
    if (als_resolve_confidence(R->weights, nnz, &ap, &scheme, &eps, why, sizeof why))
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    if (scheme == CONF_BINARY || p->alpha == 0 || nnz == 0)
        return 0;
    float *c = malloc(nnz * sizeof *c);
    if (!c || conf_transform(R->rows, R->cols, R->indptr, R->indices, R->weights, scheme, eps,
                             ap.bm25_k1, ap.bm25_b, c)) {
        free(c);
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    int equal = 1;
    for (size_t k = 0; k < nnz; k++) {
        c[k] = (float)(1.0 + p->alpha * c[k]);
        equal &= c[k] == c[0];
    }
    if (equal) {
        free(c);
        return 0;
    }
    *out = c;
    return 0;
}

int bpr_fit(const struct als_csr *R, const struct bpr_params *p, float *X, float *Y, enc_err *err)
{
    int rc = bpr_params_check(p, err);
    if (rc)
        return rc;
    int T = p->threads;
    if ((size_t)T > R->rows)
        T = R->rows ? (int)R->rows : 1;
    if ((size_t)(2 * T) > R->cols)
        T = R->cols >= 2 ? (int)(R->cols / 2) : 1;
    size_t B = (size_t)(2 * T);
    size_t F = p->factors, nb = (size_t)T * B, nnz = (size_t)R->indptr[R->rows];
    struct bpr_job j = {.R = R, .p = p, .X = X, .Y = Y, .T = T};
    j.blocks = calloc(nb, sizeof *j.blocks);
    j.item_lo = malloc((B + 1) * sizeof *j.item_lo);
    int32_t *pairs = malloc((2 * nnz + 2) * sizeof *pairs);
    size_t *fill = calloc(nb, sizeof *fill);
    float *conf = NULL;
    double *cum = NULL;
    if (!j.blocks || !j.item_lo || !pairs || !fill) {
        rc = enc_errf(err, ENC_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = sampling_weights(R, p, &conf, err)))
        goto out;
    if (conf && !(cum = malloc((nnz ? nnz : 1) * sizeof *cum))) {
        rc = enc_errf(err, ENC_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t b = 0; b <= B; b++)
        j.item_lo[b] = (size_t)(((uint64_t)b * R->cols + B - 1) / B);
    /* Bucket the positives: block of user u = u*T/rows, of item i = i*B/cols
     * (consistent with item_lo: i*B/cols >= b  <=>  i >= ceil(b*cols/B)). */
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            size_t off = 0;
            for (size_t b = 0; b < nb; b++) {
                j.blocks[b].pairs = pairs + 2 * off;
                j.blocks[b].cum = cum ? cum + off : NULL;
                off += j.blocks[b].n;
            }
        }
        for (size_t u = 0; u < R->rows; u++)
            for (int64_t k = R->indptr[u]; k < R->indptr[u + 1]; k++) {
                size_t tb = (size_t)((uint64_t)u * (uint64_t)T / R->rows);
                size_t ib = (size_t)((uint64_t)R->indices[k] * B / R->cols);
                size_t bi = tb * B + ib;
                if (pass == 0) {
                    j.blocks[bi].n++;
                } else {
                    size_t at = fill[bi]++;
                    j.blocks[bi].pairs[2 * at] = (int32_t)u;
                    j.blocks[bi].pairs[2 * at + 1] = R->indices[k];
                    if (cum)
                        j.blocks[bi].cum[at] = (at ? j.blocks[bi].cum[at - 1] : 0) + conf[k];
                }
            }
    }
    /* Start: small centred values, item bias 0, user bias column 1. */
    uint64_t s = p->seed;
    for (size_t r = 0; r < R->rows; r++) {
        for (size_t f = 0; f + 1 < F; f++)
            X[r * F + f] = (float)((rng_unit24(rng_next(&s)) - 0.5) / (double)F);
        X[r * F + F - 1] = 1.0f;
    }
    for (size_t i = 0; i < R->cols; i++) {
        for (size_t f = 0; f + 1 < F; f++)
            Y[i * F + f] = (float)((rng_unit24(rng_next(&s)) - 0.5) / (double)F);
        Y[i * F + F - 1] = 0.0f;
    }
    for (int e = 1; e <= p->epochs; e++) {
        double t0 = now();
        memset(j.correct, 0, sizeof j.correct);
        memset(j.sampled, 0, sizeof j.sampled);
        j.epoch = e;
        for (int r = 0; r < 2 * T - 1; r++) {
            j.round = r;
            pthread_t tid[64];
            struct bpr_arg args[64];
            uint64_t started = 0;
            for (int t = 0; t < T; t++)
                args[t] = (struct bpr_arg){&j, t};
            for (int t = 1; t < T; t++) {
                if (pthread_create(&tid[t], NULL, bpr_worker, &args[t]) != 0) {
                    /* Run it here instead: same result, just slower. */
                    bpr_worker(&args[t]);
                    continue;
                }
                started |= 1ull << t;
            }
            bpr_worker(&args[0]);
            for (int t = 1; t < T; t++)
                if (started & (1ull << t))
                    pthread_join(tid[t], NULL);
        }
        size_t c = 0, n = 0;
        for (int t = 0; t < T; t++) {
            c += j.correct[t];
            n += j.sampled[t];
        }
        if (p->progress)
            p->progress(p->progress_ctx, e, now() - t0, n ? (double)c / (double)n : 0);
    }
out:
    free(j.blocks);
    free(j.item_lo);
    free(pairs);
    free(fill);
    free(conf);
    free(cum);
    return rc;
}

int bpr_train(const struct ia_matrix *m, const struct ia_items *items, const struct bpr_params *p,
              struct mf_data *d, enc_err *err)
{
    memset(d, 0, sizeof *d);
    int rc = bpr_params_check(p, err);
    if (rc)
        return rc;
    d->factors = p->factors;
    d->algorithm = "bpr";
    d->regularization = p->regularization > 0 ? p->regularization : 0.01;
    d->alpha = 1.0;
    d->user_factors = malloc(m->n_users * p->factors * sizeof(float));
    d->item_factors = malloc(m->n_items * p->factors * sizeof(float));
    if (!d->user_factors || !d->item_factors) {
        mf_data_clear(d);
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    struct als_csr R = {m->n_users, m->n_items, m->indptr, m->indices, m->weights};
    rc = bpr_fit(&R, p, d->user_factors, d->item_factors, err);
    if (!rc && ia_fill_mf_data(m, items, d))
        rc = enc_errf(err, ENC_ENOMEM, "out of memory");
    if (rc)
        mf_data_clear(d);
    return rc;
}
