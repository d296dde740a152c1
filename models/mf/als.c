/*
 * als.c - implicit ALS with conjugate-gradient or Cholesky row solves (see
 * als.h for the model).
 *
 * One half-iteration ("solve the rows of X for fixed Y"):
 *
 *   G = Y^T Y + reg I                      once, F x F (ssyrk)
 *   for each row r (threads take chunks of rows from an atomic counter):
 *     Yr  = the rows of Y the row touches, gathered (n_r x F)
 *     cm  = c - 1 per touched entry
 *     CG:       solve (G + Yr^T diag(cm) Yr) x = Yr^T (1 + cm), starting from
 *               the previous x, with cg_steps steps of sgemv products;
 *     Cholesky: A = G + (sqrt(cm) Yr)^T (sqrt(cm) Yr) (ssyrk), sposv.
 *
 * Each row's arithmetic depends only on Y, G and its own data, never on
 * which thread ran it or in which order, so results are reproducible for a
 * seed whatever the thread count. OpenBLAS is put in single-thread mode: the
 * matrices here are tiny (F x F, n_r x F) and the parallelism is over rows.
 */
#include "mf/als.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rng.h"
#include "mf/interactions.h"
#include "mf/mf.h"

void als_params_default(struct als_params *p)
{
    memset(p, 0, sizeof *p);
    /* Chosen on validation splits carved from the ml-100k and ml-latest-small
     * train.tsv files (bench/als_tune.sh; docs/training.md): the best mean
     * validation NDCG@10 over both. */
    p->factors = 128;
    p->iterations = 10;
    p->regularization = 25;
    p->reg_exponent = 0.5;
    p->alpha = 4.0;
    p->solver = ALS_SOLVER_CG;
    p->cg_steps = 3;
    p->threads = 2;
    p->seed = 42;
    p->confidence = CONF_AUTO;
    p->epsilon = 0;
    p->bm25_k1 = 100;
    p->bm25_b = 0.8;
}

int als_params_check(const struct als_params *p, enc_err *err)
{
    if (p->factors < 1 || p->factors > 4096)
        return enc_errf(err, ENC_EINVAL, "factors must be in 1..4096 (got %zu)", p->factors);
    if (p->iterations < 0 || p->iterations > 100000)
        return enc_errf(err, ENC_EINVAL, "iterations must be in 0..100000");
    if (!(p->regularization > 0) || !isfinite(p->regularization))
        return enc_errf(err, ENC_EINVAL, "regularization must be > 0 (got %g)", p->regularization);
    if (!(p->alpha >= 0) || !isfinite(p->alpha))
        return enc_errf(err, ENC_EINVAL, "alpha must be >= 0 (got %g)", p->alpha);
    if (p->solver != ALS_SOLVER_CG && p->solver != ALS_SOLVER_CHOLESKY)
        return enc_errf(err, ENC_EINVAL, "unknown solver");
    if (p->solver == ALS_SOLVER_CG && (p->cg_steps < 1 || p->cg_steps > 1000))
        return enc_errf(err, ENC_EINVAL, "cg_steps must be in 1..1000");
    if (!(p->reg_exponent >= -2 && p->reg_exponent <= 2))
        return enc_errf(err, ENC_EINVAL, "reg_exponent must be in -2..2");
    if (p->threads < 1 || p->threads > 256)
        return enc_errf(err, ENC_EINVAL, "threads must be in 1..256");
    if (p->confidence < CONF_AUTO || p->confidence > CONF_TFIDF)
        return enc_errf(err, ENC_EINVAL, "unknown confidence scheme");
    if (!isfinite(p->epsilon))
        return enc_errf(err, ENC_EINVAL, "epsilon must be finite");
    if (p->confidence == CONF_BM25 &&
        (!(p->bm25_k1 >= 0) || !(p->bm25_b >= 0) || !(p->bm25_b <= 1)))
        return enc_errf(err, ENC_EINVAL, "BM25 needs K1 >= 0 and 0 <= B <= 1");
    return 0;
}

/* ---- helpers ------------------------------------------------------------ */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void random_fill(float *x, size_t n, uint64_t *state, float scale)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)rng_unit24(rng_next(state)) * scale;
}

/* G = Y^T Y (+ reg on the diagonal), full symmetric F x F. */
static void gram(const float *Y, size_t n, size_t F, double reg, float *G)
{
    memset(G, 0, F * F * sizeof *G);
    if (n)
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)F, (int)n, 1.0f, Y, (int)F, 0.0f, G,
                    (int)F);
    for (size_t i = 0; i < F; i++) {
        G[i * F + i] += (float)reg;
        for (size_t j = 0; j < i; j++)
            G[i * F + j] = G[j * F + i];
    }
}

/* ---- the row solver ------------------------------------------------------ */

struct solve_job {
    const struct als_csr *C;
    const float *Y, *G;
    size_t F;
    enum als_solver solver;
    int cg_steps;
    float *X;
    size_t max_row;
    double reg, reg_exponent, mean_row;
    atomic_size_t next;
    atomic_int failed;
};

#define ROW_CHUNK 32

/* Extra diagonal for a row of n entries when regularization scales with the
 * row's size: reg * (n / mean)^e - reg (G already holds reg). */
static float extra_reg(const struct solve_job *j, size_t n)
{
    if (j->reg_exponent == 0 || j->mean_row <= 0)
        return 0.0f;
    double ratio = (double)(n ? n : 1) / j->mean_row;
    return (float)(j->reg * pow(ratio, j->reg_exponent) - j->reg);
}

static int solve_chol(const struct solve_job *j, size_t n, float *Yr, const float *cm, float *x,
                      float *A)
{
    size_t F = j->F;
    int Fi = (int)F, ni = (int)n;
    memcpy(A, j->G, F * F * sizeof *A);
    float ex = extra_reg(j, n);
    for (size_t f = 0; f < F; f++)
        A[f * F + f] += ex;
    memset(x, 0, F * sizeof *x);
    for (size_t k = 0; k < n; k++)
        cblas_saxpy(Fi, 1.0f + cm[k], Yr + k * F, 1, x, 1);
    /* Scale rows by sqrt(cm) in place (Yr is our own copy). */
    for (size_t k = 0; k < n; k++)
        cblas_sscal(Fi, sqrtf(cm[k]), Yr + k * F, 1);
    if (n)
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, Fi, ni, 1.0f, Yr, Fi, 1.0f, A, Fi);
    /* Row-major upper == column-major lower; the _work variant does not
     * allocate or transpose. */
    lapack_int info = LAPACKE_sposv_work(LAPACK_COL_MAJOR, 'L', Fi, 1, A, Fi, x, Fi);
    return info == 0 ? 0 : -1;
}

/* CG for the rows r0..r1 of one chunk in lockstep, so that the dense part
 * of every product, G p, is one sgemm over the chunk (P G, m x F x F)
 * instead of m sgemv calls. Each row keeps its own step sizes and stops on
 * its own; the chunk boundaries are fixed row ranges, so the arithmetic per
 * row does not depend on threads. Per-row sparse parts use the gathered
 * rows Yc (chunk nnz x F) with offsets off[]. */
struct cg_scratch {
    float *Yc, *cm, *t; /* gathered rows, c - 1, per-entry temp */
    size_t cap;         /* entries Yc / cm / t can hold */
    float *R, *P, *AP;  /* ROW_CHUNK x F each */
    float rs[ROW_CHUNK];
    float ex[ROW_CHUNK];
    int64_t off[ROW_CHUNK + 1];
    unsigned char active[ROW_CHUNK];
};

static int cg_reserve(struct cg_scratch *s, size_t n, size_t F)
{
    if (n <= s->cap)
        return 0;
    size_t cap = s->cap ? s->cap : 256;
    while (cap < n)
        cap *= 2;
    float *Yc = realloc(s->Yc, cap * F * sizeof *Yc);
    if (!Yc)
        return -1;
    s->Yc = Yc;
    float *cm = realloc(s->cm, cap * sizeof *cm);
    if (!cm)
        return -1;
    s->cm = cm;
    float *t = realloc(s->t, cap * sizeof *t);
    if (!t)
        return -1;
    s->t = t;
    s->cap = cap;
    return 0;
}

static int solve_chunk_cg(const struct solve_job *j, struct cg_scratch *s, size_t r0, size_t r1)
{
    const struct als_csr *C = j->C;
    size_t F = j->F, m = r1 - r0;
    int Fi = (int)F, mi = (int)m;
    int64_t base = C->indptr[r0];
    size_t nnz = (size_t)(C->indptr[r1] - base);
    if (cg_reserve(s, nnz, F))
        return ENC_ENOMEM;
    for (size_t k = 0; k < nnz; k++) {
        memcpy(s->Yc + k * F, j->Y + (size_t)C->indices[base + (int64_t)k] * F, F * sizeof *s->Yc);
        s->cm[k] = C->weights[base + (int64_t)k];
    }
    for (size_t q = 0; q <= m; q++)
        s->off[q] = C->indptr[r0 + q] - base;
    float *X = j->X + r0 * F;
    /* R = -X G, then += Yr^T (c - cm * (Yr x)) - ex x per row */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, mi, Fi, Fi, -1.0f, X, Fi, j->G, Fi, 0.0f,
                s->R, Fi);
    for (size_t q = 0; q < m; q++) {
        size_t n = (size_t)(s->off[q + 1] - s->off[q]);
        const float *Yr = s->Yc + (size_t)s->off[q] * F, *cm = s->cm + s->off[q];
        float *t = s->t + s->off[q], *x = X + q * F, *r = s->R + q * F;
        s->ex[q] = extra_reg(j, n);
        if (n) {
            cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)n, Fi, 1.0f, Yr, Fi, x, 1, 0.0f, t, 1);
            for (size_t k = 0; k < n; k++)
                t[k] = 1.0f + cm[k] - cm[k] * t[k];
            cblas_sgemv(CblasRowMajor, CblasTrans, (int)n, Fi, 1.0f, Yr, Fi, t, 1, 1.0f, r, 1);
        }
        if (s->ex[q] != 0.0f)
            cblas_saxpy(Fi, -s->ex[q], x, 1, r, 1);
        memcpy(s->P + q * F, r, F * sizeof *r);
        s->rs[q] = cblas_sdot(Fi, r, 1, r, 1);
        s->active[q] = s->rs[q] >= 1e-20f;
    }
    for (int it = 0; it < j->cg_steps; it++) {
        int any = 0;
        for (size_t q = 0; q < m; q++)
            any |= s->active[q];
        if (!any)
            break;
        /* AP = P G for the whole chunk (inactive rows are computed and ignored) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, mi, Fi, Fi, 1.0f, s->P, Fi, j->G, Fi,
                    0.0f, s->AP, Fi);
        for (size_t q = 0; q < m; q++) {
            if (!s->active[q])
                continue;
            size_t n = (size_t)(s->off[q + 1] - s->off[q]);
            const float *Yr = s->Yc + (size_t)s->off[q] * F, *cm = s->cm + s->off[q];
            float *t = s->t + s->off[q], *x = X + q * F, *r = s->R + q * F, *p = s->P + q * F,
                  *Ap = s->AP + q * F;
            if (s->ex[q] != 0.0f)
                cblas_saxpy(Fi, s->ex[q], p, 1, Ap, 1);
            if (n) {
                cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)n, Fi, 1.0f, Yr, Fi, p, 1, 0.0f, t,
                            1);
                for (size_t k = 0; k < n; k++)
                    t[k] *= cm[k];
                cblas_sgemv(CblasRowMajor, CblasTrans, (int)n, Fi, 1.0f, Yr, Fi, t, 1, 1.0f, Ap, 1);
            }
            float pAp = cblas_sdot(Fi, p, 1, Ap, 1);
            if (!(pAp > 0)) {
                s->active[q] = 0;
                continue;
            }
            float a = s->rs[q] / pAp;
            cblas_saxpy(Fi, a, p, 1, x, 1);
            cblas_saxpy(Fi, -a, Ap, 1, r, 1);
            float rsnew = cblas_sdot(Fi, r, 1, r, 1);
            if (rsnew < 1e-20f) {
                s->active[q] = 0;
                continue;
            }
            float beta = rsnew / s->rs[q];
            for (size_t f = 0; f < F; f++)
                p[f] = r[f] + beta * p[f];
            s->rs[q] = rsnew;
        }
    }
    return 0;
}

static void *solve_worker(void *arg)
{
    struct solve_job *j = arg;
    size_t F = j->F, mr = j->max_row ? j->max_row : 1;
    const struct als_csr *C = j->C;
    struct cg_scratch cs;
    memset(&cs, 0, sizeof cs);
    float *Yr = NULL, *cm = NULL, *vec = NULL;
    if (j->solver == ALS_SOLVER_CG) {
        cs.R = malloc(3 * ROW_CHUNK * F * sizeof *cs.R);
        if (!cs.R) {
            atomic_store(&j->failed, ENC_ENOMEM);
            goto out;
        }
        cs.P = cs.R + ROW_CHUNK * F;
        cs.AP = cs.P + ROW_CHUNK * F;
    } else {
        Yr = malloc(mr * F * sizeof *Yr);
        cm = malloc(mr * sizeof *cm);
        vec = malloc((F + F * F) * sizeof *vec);
        if (!Yr || !cm || !vec) {
            atomic_store(&j->failed, ENC_ENOMEM);
            goto out;
        }
    }
    for (;;) {
        if (atomic_load(&j->failed))
            break;
        size_t r0 = atomic_fetch_add(&j->next, ROW_CHUNK);
        if (r0 >= C->rows)
            break;
        size_t r1 = r0 + ROW_CHUNK < C->rows ? r0 + ROW_CHUNK : C->rows;
        if (j->solver == ALS_SOLVER_CG) {
            if (solve_chunk_cg(j, &cs, r0, r1)) {
                atomic_store(&j->failed, ENC_ENOMEM);
                break;
            }
            continue;
        }
        for (size_t row = r0; row < r1; row++) {
            int64_t b = C->indptr[row], e = C->indptr[row + 1];
            size_t n = (size_t)(e - b);
            for (size_t k = 0; k < n; k++) {
                memcpy(Yr + k * F, j->Y + (size_t)C->indices[b + (int64_t)k] * F, F * sizeof *Yr);
                cm[k] = C->weights[b + (int64_t)k];
            }
            if (solve_chol(j, n, Yr, cm, j->X + row * F, vec + F)) {
                atomic_store(&j->failed, ENC_EINTERNAL);
                break;
            }
        }
    }
out:
    free(cs.Yc);
    free(cs.cm);
    free(cs.t);
    free(cs.R);
    free(Yr);
    free(cm);
    free(vec);
    return NULL;
}

int als_solve_rows(const struct als_csr *C, const float *Y, size_t factors, double reg,
                   double reg_exponent, enum als_solver solver, int cg_steps, int threads, float *X,
                   enc_err *err)
{
    size_t F = factors;
    float *G = malloc(F * F * sizeof *G);
    if (!G)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    gram(Y, C->cols, F, reg, G);
    struct solve_job j = {.C = C,
                          .Y = Y,
                          .G = G,
                          .F = F,
                          .solver = solver,
                          .cg_steps = cg_steps,
                          .X = X,
                          .reg = reg,
                          .reg_exponent = reg_exponent,
                          .mean_row = C->rows ? (double)C->indptr[C->rows] / (double)C->rows : 0};
    for (size_t r = 0; r < C->rows; r++) {
        size_t n = (size_t)(C->indptr[r + 1] - C->indptr[r]);
        if (n > j.max_row)
            j.max_row = n;
    }
    atomic_init(&j.next, 0);
    atomic_init(&j.failed, 0);
    if (threads < 1)
        threads = 1;
    pthread_t tid[256];
    int started = 0;
    for (int t = 1; t < threads && t < 256; t++) {
        if (pthread_create(&tid[started], NULL, solve_worker, &j) != 0)
            break; /* fewer threads is still correct */
        started++;
    }
    solve_worker(&j);
    for (int t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
    free(G);
    int f = atomic_load(&j.failed);
    if (f == ENC_ENOMEM)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    if (f)
        return enc_errf(err, ENC_EINTERNAL,
                        "ALS: a least-squares system is not positive definite (regularization "
                        "too small?)");
    return 0;
}

double als_loss(const struct als_csr *C, const float *X, const float *Y, size_t F, double reg)
{
    /* sum_u x^T (Y^T Y) x covers (x.y)^2 over every cell; stored cells add
     * c (1 - t)^2 - t^2 = cm t^2 - 2 c t + c with t = x.y, c = 1 + cm. */
    float *G = malloc(F * F * sizeof *G), *gx = malloc(F * sizeof *gx);
    if (!G || !gx) {
        free(G);
        free(gx);
        return NAN;
    }
    gram(Y, C->cols, F, 0.0, G);
    double loss = 0, nx = 0, ny = 0;
    int Fi = (int)F;
    for (size_t u = 0; u < C->rows; u++) {
        const float *x = X + u * F;
        cblas_sgemv(CblasRowMajor, CblasNoTrans, Fi, Fi, 1.0f, G, Fi, x, 1, 0.0f, gx, 1);
        loss += cblas_sdot(Fi, x, 1, gx, 1);
        for (int64_t k = C->indptr[u]; k < C->indptr[u + 1]; k++) {
            double t = cblas_sdot(Fi, x, 1, Y + (size_t)C->indices[k] * F, 1);
            double cm = C->weights[k];
            loss += cm * t * t - 2 * (1 + cm) * t + (1 + cm);
        }
        nx += cblas_sdot(Fi, x, 1, x, 1);
    }
    for (size_t i = 0; i < C->cols; i++)
        ny += cblas_sdot(Fi, Y + i * F, 1, Y + i * F, 1);
    free(G);
    free(gx);
    loss += reg * (nx + ny);
    double cells = (double)C->rows * (double)C->cols;
    return cells > 0 ? loss / cells : loss;
}

int als_weights(const struct als_csr *R, enum als_weighting w, double k1, double b, float *out)
{
    size_t nnz = (size_t)R->indptr[R->rows];
    if (w == ALS_WEIGHT_NONE) {
        memcpy(out, R->weights, nnz * sizeof *out);
        return 0;
    }
    /* As implicit's bm25_weight / tfidf_weight on the item x user matrix:
     * documents are items (length = an item's total weight), terms are
     * users: idf_u = log(N_items) - log1p(items of u). */
    double *item_len = calloc(R->cols ? R->cols : 1, sizeof *item_len);
    if (!item_len)
        return ENC_ENOMEM;
    double total = 0;
    for (size_t k = 0; k < nnz; k++) {
        item_len[R->indices[k]] += R->weights[k];
        total += R->weights[k];
    }
    double avg = R->cols ? total / (double)R->cols : 1;
    double logn = log((double)R->cols);
    for (size_t u = 0; u < R->rows; u++) {
        double idf = logn - log1p((double)(R->indptr[u + 1] - R->indptr[u]));
        for (int64_t k = R->indptr[u]; k < R->indptr[u + 1]; k++) {
            double x = R->weights[k];
            if (w == ALS_WEIGHT_TFIDF) {
                out[k] = (float)(sqrt(x) * idf);
            } else {
                double norm = (1.0 - b) + b * item_len[R->indices[k]] / avg;
                out[k] = (float)(x * (k1 + 1.0) / (k1 * norm + x) * idf);
            }
            if (!(out[k] > 0))
                out[k] = 1e-6f; /* keep every observed cell a positive */
        }
    }
    free(item_len);
    return 0;
}

int als_resolve_confidence(const float *weights, size_t nnz, const struct als_params *p,
                           enum conf_scheme *scheme, double *eps, char *why, size_t cap)
{
    if (cap)
        why[0] = '\0';
    *scheme = p->confidence;
    *eps = p->epsilon;
    if (p->confidence != CONF_AUTO && p->epsilon > 0)
        return 0;
    struct conf_stats st;
    if (conf_stats_compute(weights, nnz, &st))
        return ENC_ENOMEM;
    double auto_eps;
    enum conf_scheme a = conf_auto(&st, &auto_eps, why, cap);
    if (p->confidence == CONF_AUTO)
        *scheme = a;
    else if (cap)
        why[0] = '\0';
    if (!(p->epsilon > 0))
        *eps = auto_eps;
    return 0;
}

int als_fit(const struct als_csr *R, const struct als_params *p, float *X, float *Y, enc_err *err)
{
    int rc = als_params_check(p, err);
    if (rc)
        return rc;
    openblas_set_num_threads(1);
    size_t F = p->factors, nnz = (size_t)R->indptr[R->rows];
    float *cu = malloc((nnz ? nnz : 1) * sizeof *cu);
    int64_t *ti = NULL;
    int32_t *tj = NULL;
    float *tw = NULL;
    if (!cu)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    enum conf_scheme scheme;
    double eps;
    char why[8];
    rc = als_resolve_confidence(R->weights, nnz, p, &scheme, &eps, why, sizeof why);
    rc = rc ? rc
            : conf_transform(R->rows, R->cols, R->indptr, R->indices, R->weights, scheme, eps,
                             p->bm25_k1, p->bm25_b, cu);
    if (rc) {
        free(cu);
        return enc_errf(err, rc, "out of memory");
    }
    for (size_t k = 0; k < nnz; k++)
        cu[k] *= (float)p->alpha;
    if (ia_transpose(R->rows, R->cols, R->indptr, R->indices, cu, &ti, &tj, &tw)) {
        free(cu);
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    struct als_csr Cu = {R->rows, R->cols, R->indptr, R->indices, cu};
    struct als_csr Ci = {R->cols, R->rows, ti, tj, tw};
    /* Small uniform start, as implicit does (rand * 0.01). */
    uint64_t state = p->seed;
    random_fill(X, R->rows * F, &state, 0.01f);
    random_fill(Y, R->cols * F, &state, 0.01f);
    for (int it = 1; it <= p->iterations && !rc; it++) {
        double t0 = now();
        rc = als_solve_rows(&Cu, Y, F, p->regularization, p->reg_exponent, p->solver, p->cg_steps,
                            p->threads, X, err);
        if (!rc)
            rc = als_solve_rows(&Ci, X, F, p->regularization, p->reg_exponent, p->solver,
                                p->cg_steps, p->threads, Y, err);
        double dt = now() - t0;
        if (!rc && p->progress)
            p->progress(p->progress_ctx, it, dt, als_loss(&Cu, X, Y, F, p->regularization));
    }
    free(cu);
    free(ti);
    free(tj);
    free(tw);
    return rc;
}

int als_train(const struct ia_matrix *m, const struct ia_items *items, const struct als_params *p,
              struct mf_data *d, enc_err *err)
{
    memset(d, 0, sizeof *d);
    int rc = als_params_check(p, err);
    if (rc)
        return rc;
    d->factors = p->factors;
    d->algorithm = "als";
    d->regularization = p->regularization;
    d->alpha = p->alpha;
    d->user_factors = malloc(m->n_users * p->factors * sizeof(float));
    d->item_factors = malloc(m->n_items * p->factors * sizeof(float));
    if (!d->user_factors || !d->item_factors) {
        mf_data_clear(d);
        return enc_errf(err, ENC_ENOMEM, "out of memory for %zu x %zu factors",
                        m->n_users + m->n_items, p->factors);
    }
    struct als_csr R = {m->n_users, m->n_items, m->indptr, m->indices, m->weights};
    rc = als_fit(&R, p, d->user_factors, d->item_factors, err);
    if (!rc && ia_fill_mf_data(m, items, d))
        rc = enc_errf(err, ENC_ENOMEM, "out of memory");
    if (rc)
        mf_data_clear(d);
    return rc;
}
