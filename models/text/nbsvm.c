/*
 * nbsvm.c - NBSVM (Wang & Manning 2012, "Baselines and Bigrams"): binarised
 * n-gram features x in {0,1}, scaled by the naive-Bayes log-count ratio
 *     r = log((p / |p|_1) / (q / |q|_1)),  p = alpha + sum_{y=1} x,  q = alpha + sum_{y=0} x,
 * then an L2-regularised L2-loss (squared hinge) linear SVM on r.*x, and the
 * interpolation w' = (1 - beta) * mean(|w|) + beta * w (bias: beta * b).
 * r.*w' is stored, so serving is a sum of one weight per distinct n-gram.
 * Two classes train one classifier (class 1 against class 0); more classes
 * train one-vs-rest, each with its own r.
 *
 * The SVM solver is the dual coordinate descent of Hsieh et al. (2008), the
 * one liblinear uses for -s 1, with the bias as a constant feature (liblinear's
 * -B 1). It is written here because models/linear/ did not exist yet when this
 * family was written; it is ~60 lines over the family's own sparse rows.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "core/strv.h"
#include "text/text_int.h"

void text_nbsvm_defaults(struct text_nbsvm_params *p)
{
    memset(p, 0, sizeof *p);
    p->ngram_min = 1;
    p->ngram_max = 2;
    p->min_count = 1;
    p->alpha = 1.0;
    p->C = 1.0;
    p->beta = 0.25;
    p->max_iter = 200;
    p->tol = 0.01;
    p->seed = 1;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Sort and drop duplicates; returns the new count. */
static size_t sort_unique(int32_t *v, size_t n)
{
    if (n < 2)
        return n;
    qsort(v, n, sizeof *v, cmp_i32);
    size_t k = 1;
    for (size_t i = 1; i < n; i++)
        if (v[i] != v[k - 1])
            v[k++] = v[i];
    return k;
}

/* Feature ids of the n-grams in g (-1 for out-of-vocabulary ones, dropped),
 * sorted and unique, into *ids (grown as needed). Returns the count or <0. */
static int64_t doc_features(const struct text_model *m, const struct tok_grams *g, int32_t **ids,
                            size_t *cap)
{
    if (g->n > *cap) {
        int32_t *n = realloc(*ids, g->n * sizeof *n);
        if (!n)
            return ENC_ENOMEM;
        *ids = n;
        *cap = g->n;
    }
    size_t k = 0;
    for (size_t i = 0; i < g->n; i++) {
        size_t len;
        const char *s = tok_gram(g, i, &len);
        int64_t id = m->hash_bits
                         ? (int64_t)(tok_hash(s, len) & (((uint64_t)1 << m->hash_bits) - 1))
                         : tok_vocab_find(m->vocab, s, len);
        if (id >= 0)
            (*ids)[k++] = (int32_t)id;
    }
    return (int64_t)sort_unique(*ids, k);
}

static int nbsvm_predict(const struct text_model *m, const char *s, size_t len, float *prob)
{
    struct tok_grams g = {0};
    int32_t *ids = NULL;
    size_t cap = 0;
    int rc = tok_grams_build(&g, s, len, m->ngram_min, m->ngram_max);
    int64_t n = rc ? rc : doc_features(m, &g, &ids, &cap);
    if (n < 0) {
        tok_grams_clear(&g);
        free(ids);
        return (int)n;
    }
    double sum = 0;
    for (size_t c = 0; c < m->n_rows; c++) {
        const float *w = m->weights + c * m->n_features;
        double score = m->bias[c];
        for (int64_t i = 0; i < n; i++)
            score += w[ids[i]];
        double p = 1.0 / (1.0 + exp(-score));
        if (m->n_rows == 1) {
            prob[0] = (float)(1.0 - p);
            prob[1] = (float)p;
        } else {
            prob[c] = (float)p;
            sum += p;
        }
    }
    if (m->n_rows > 1)
        for (size_t c = 0; c < m->n_rows; c++)
            prob[c] = (float)(prob[c] / sum);
    tok_grams_clear(&g);
    free(ids);
    return 0;
}

/* ---- the kind's row (text_int.h) ------------------------------------- */

static int nbsvm_write(const struct text_model *m, st_writer *w)
{
    char num[32];
    snprintf(num, sizeof num, "%d", m->hash_bits);
    int rc = st_writer_meta(w, "hash_bits", num);
    rc = rc ? rc
            : text_add_f32(w, "weights", m->weights, 2, (int64_t)m->n_rows, (int64_t)m->n_features);
    return rc ? rc : text_add_f32(w, "bias", m->bias, 1, (int64_t)m->n_rows, 0);
}

static int nbsvm_read(const st_file *f, struct text_model *m, enc_err *err)
{
    long v;
    int rc = text_meta_int(f, "hash_bits", 0, 30, &v, err);
    if (rc)
        return rc;
    m->hash_bits = (int)v;
    if (!m->hash_bits && (rc = text_read_vocab(f, m, err)))
        return rc;
    m->n_features = m->hash_bits ? (size_t)1 << m->hash_bits : tok_vocab_size(m->vocab);
    m->n_rows = m->n_classes == 2 ? 1 : m->n_classes;
    rc = text_copy_f32(f, "weights", 2, (int64_t)m->n_rows, (int64_t)m->n_features, &m->weights,
                       err);
    return rc ? rc : text_copy_f32(f, "bias", 1, (int64_t)m->n_rows, 0, &m->bias, err);
}

static size_t nbsvm_mem(const struct text_model *m)
{
    return (m->n_rows * m->n_features + m->n_rows) * sizeof(float);
}

static int nbsvm_describe(const struct text_model *m, json_t *o)
{
    int bad = json_object_set_new(o, "hash_bits", json_integer(m->hash_bits));
    bad |= json_object_set_new(o, "features", json_integer((json_int_t)m->n_features));
    bad |= json_object_set_new(o, "max_length", json_null());
    return bad ? ENC_ENOMEM : 0;
}

const struct text_kind_ops text_nbsvm_kind = {
    .name = "nbsvm",
    .predict = nbsvm_predict,
    .write = nbsvm_write,
    .read = nbsvm_read,
    .mem = nbsvm_mem,
    .describe = nbsvm_describe,
};

/* ---- training ---------------------------------------------------------- */

void text_nb_ratio(const int32_t *x, const size_t *x_off, const int8_t *y, size_t n,
                   size_t n_features, double alpha, float *r)
{
    double *p = malloc(2 * (n_features ? n_features : 1) * sizeof *p), *q;
    if (!p) {
        memset(r, 0, n_features * sizeof *r);
        return;
    }
    q = p + n_features;
    for (size_t j = 0; j < n_features; j++)
        p[j] = q[j] = alpha;
    for (size_t i = 0; i < n; i++)
        for (size_t k = x_off[i]; k < x_off[i + 1]; k++)
            (y[i] ? p : q)[x[k]] += 1.0;
    double sp = 0, sq = 0;
    for (size_t j = 0; j < n_features; j++) {
        sp += p[j];
        sq += q[j];
    }
    for (size_t j = 0; j < n_features; j++)
        r[j] = (float)log((p[j] / sp) / (q[j] / sq));
    free(p);
}

/* Dual coordinate descent for the L2-loss SVM on rows x_i (values val[x_k] =
 * r of that feature, plus a constant bias feature 1). y in {0,1} -> {-1,+1}.
 * Writes w[n_features] and *b. */
static int svm_train(const int32_t *x, const size_t *x_off, const int8_t *y, size_t n,
                     const float *val, size_t n_features, const struct text_nbsvm_params *p,
                     float *wout, double *bout)
{
    double *w = calloc(n_features + 1, sizeof *w), *alpha = calloc(n ? n : 1, sizeof *alpha),
           *qd = malloc((n ? n : 1) * sizeof *qd);
    size_t *perm = malloc((n ? n : 1) * sizeof *perm);
    if (!w || !alpha || !qd || !perm) {
        free(w);
        free(alpha);
        free(qd);
        free(perm);
        return ENC_ENOMEM;
    }
    const double diag = 0.5 / p->C;
    double b = 0; /* w[n_features] is the bias weight */
    for (size_t i = 0; i < n; i++) {
        double s = 1.0; /* the bias feature */
        for (size_t k = x_off[i]; k < x_off[i + 1]; k++)
            s += (double)val[x[k]] * val[x[k]];
        qd[i] = s + diag;
        perm[i] = i;
    }
    uint64_t rng = p->seed * RNG_GAMMA + 7;
    for (int it = 0; it < p->max_iter; it++) {
        rng_shuffle(perm, n, &rng);
        double pgmax = -INFINITY, pgmin = INFINITY;
        for (size_t s = 0; s < n; s++) {
            size_t i = perm[s];
            double yi = y[i] ? 1.0 : -1.0, dot = b;
            for (size_t k = x_off[i]; k < x_off[i + 1]; k++)
                dot += w[x[k]] * val[x[k]];
            double G = yi * dot - 1.0 + diag * alpha[i];
            double pg = alpha[i] > 0 ? G : (G < 0 ? G : 0);
            if (pg > pgmax)
                pgmax = pg;
            if (pg < pgmin)
                pgmin = pg;
            if (fabs(pg) < 1e-12)
                continue;
            double old = alpha[i];
            alpha[i] = fmax(old - G / qd[i], 0.0);
            double d = (alpha[i] - old) * yi;
            for (size_t k = x_off[i]; k < x_off[i + 1]; k++)
                w[x[k]] += d * val[x[k]];
            b += d;
        }
        if (pgmax - pgmin < p->tol)
            break;
    }
    for (size_t j = 0; j < n_features; j++)
        wout[j] = (float)w[j];
    *bout = b;
    free(w);
    free(alpha);
    free(qd);
    free(perm);
    return 0;
}

/* The sparse binarised training rows of an NBSVM: the examples' distinct
 * feature ids (row s = x[x_off[s] .. x_off[s + 1])). */
struct rows {
    int32_t *x;
    size_t *x_off, nnz;
    struct tok_grams g; /* scratch: one example's n-grams */
    int32_t *ids;       /* scratch: their ids */
    size_t ids_cap;
};

static void rows_free(struct rows *r)
{
    tok_grams_clear(&r->g);
    free(r->ids);
    free(r->x);
    free(r->x_off);
}

/* Grow r->ids to hold n ids. 0 or ENC_ENOMEM. */
static int ids_reserve(struct rows *r, size_t n)
{
    if (n <= r->ids_cap)
        return 0;
    int32_t *ni = realloc(r->ids, n * sizeof *ni);
    if (!ni)
        return ENC_ENOMEM;
    r->ids = ni;
    r->ids_cap = n;
    return 0;
}

/* 1. The feature space: a vocabulary of training n-grams (document frequency
 *    >= min_count, the max_vocab most frequent) into m->vocab, or hashing.
 *    Sets m->n_features. 0, ENC_ENOMEM or ENC_EINVAL (no n-gram left). */
static int feature_space(struct text_model *m, const struct text_data *d, const size_t *idx,
                         size_t n, const struct text_nbsvm_params *p, struct rows *r, enc_err *err)
{
    if (p->hash_bits) {
        m->n_features = (size_t)1 << p->hash_bits;
        return 0;
    }
    tok_vocab *counts = tok_vocab_new();
    if (!counts)
        return ENC_ENOMEM;
    for (size_t s = 0; s < n; s++) {
        size_t i = idx ? idx[s] : s;
        if (tok_grams_build(&r->g, d->text[i], d->len[i], p->ngram_min, p->ngram_max) ||
            ids_reserve(r, r->g.n))
            goto oom;
        /* Document frequency: count each distinct n-gram once per document. */
        for (size_t k = 0; k < r->g.n; k++) {
            size_t len;
            const char *gs = tok_gram(&r->g, k, &len);
            int64_t id = tok_vocab_add(counts, gs, len, 0);
            if (id < 0)
                goto oom;
            r->ids[k] = (int32_t)id;
        }
        size_t u = sort_unique(r->ids, r->g.n);
        for (size_t k = 0; k < u; k++)
            tok_vocab_bump(counts, (size_t)r->ids[k], 1);
    }
    if (tok_vocab_prune(counts, p->min_count, p->max_vocab, &m->vocab))
        goto oom;
    tok_vocab_free(counts);
    m->n_features = tok_vocab_size(m->vocab);
    if (m->n_features == 0)
        return enc_errf(err, ENC_EINVAL, "nbsvm: no n-gram reaches --min-count %lld",
                        (long long)p->min_count);
    return 0;
oom:
    tok_vocab_free(counts);
    return ENC_ENOMEM;
}

/* 2. Sparse binarised rows of the n training examples. 0 or ENC_ENOMEM. */
static int build_rows(const struct text_model *m, const struct text_data *d, const size_t *idx,
                      size_t n, const struct text_nbsvm_params *p, struct rows *r)
{
    size_t cap = 0;
    if (!(r->x_off = malloc((n + 1) * sizeof *r->x_off)))
        return ENC_ENOMEM;
    r->x_off[0] = 0;
    for (size_t s = 0; s < n; s++) {
        size_t i = idx ? idx[s] : s;
        if (tok_grams_build(&r->g, d->text[i], d->len[i], p->ngram_min, p->ngram_max))
            return ENC_ENOMEM;
        int64_t k = doc_features(m, &r->g, &r->ids, &r->ids_cap);
        if (k < 0)
            return ENC_ENOMEM;
        if (r->nnz + (size_t)k > cap) {
            size_t nc = cap ? cap * 2 : 1 << 16;
            while (nc < r->nnz + (size_t)k)
                nc *= 2;
            int32_t *nx = realloc(r->x, nc * sizeof *nx);
            if (!nx)
                return ENC_ENOMEM;
            r->x = nx;
            cap = nc;
        }
        memcpy(r->x + r->nnz, r->ids, (size_t)k * sizeof *r->ids);
        r->nnz += (size_t)k;
        r->x_off[s + 1] = r->nnz;
    }
    return 0;
}

/* 3. One classifier per weight row (one row for two classes, else one per
 *    class against the rest): NB ratios r, the SVM on rows scaled by r, and
 *    the interpolation with the mean |w| (beta). 0 or ENC_ENOMEM. */
static int fit_rows(struct text_model *m, const struct text_data *d, const size_t *idx, size_t n,
                    const struct text_nbsvm_params *p, const struct rows *rw)
{
    const int32_t *x = rw->x;
    const size_t *x_off = rw->x_off;
    int8_t *y = malloc(n);
    float *r = NULL, *w = NULL;
    uint8_t *active = NULL;
    int rc = ENC_ENOMEM;
    m->n_rows = m->n_classes == 2 ? 1 : m->n_classes;
    if (!y || !(m->weights = malloc(m->n_rows * m->n_features * sizeof *m->weights)) ||
        !(m->bias = malloc(m->n_rows * sizeof *m->bias)) ||
        !(r = malloc(m->n_features * sizeof *r)) || !(w = malloc(m->n_features * sizeof *w)) ||
        !(active = calloc(m->n_features, 1)))
        goto done;
    for (size_t k = 0; k < rw->nnz; k++)
        active[x[k]] = 1;
    size_t n_active = 0;
    for (size_t j = 0; j < m->n_features; j++)
        n_active += active[j];
    for (size_t c = 0; c < m->n_rows; c++) {
        int32_t positive = m->n_rows == 1 ? 1 : (int32_t)c;
        for (size_t s = 0; s < n; s++)
            y[s] = d->label[idx ? idx[s] : s] == positive;
        text_nb_ratio(x, x_off, y, n, m->n_features, p->alpha, r);
        double b;
        if (svm_train(x, x_off, y, n, r, m->n_features, p, w, &b))
            goto done;
        /* mean |w| over the features seen in training: with hashing most
         * buckets are empty, and neither they nor n-grams first seen at
         * predict time should get the interpolation's constant weight */
        double mean_abs = 0;
        for (size_t j = 0; j < m->n_features; j++)
            mean_abs += active[j] ? fabs(w[j]) : 0.0;
        mean_abs /= (double)(n_active ? n_active : 1);
        float *row = m->weights + c * m->n_features;
        for (size_t j = 0; j < m->n_features; j++)
            row[j] =
                active[j] ? (float)(((1.0 - p->beta) * mean_abs + p->beta * w[j]) * r[j]) : 0.0f;
        m->bias[c] = (float)(p->beta * b);
    }
    rc = 0;
done:
    free(y);
    free(r);
    free(w);
    free(active);
    return rc;
}

int text_nbsvm_train(const struct text_data *d, const size_t *idx, size_t n,
                     const struct text_nbsvm_params *p, struct text_model **out, enc_err *err)
{
    *out = NULL;
    if (!idx)
        n = d->n;
    if (n < 2)
        return enc_errf(err, ENC_EINVAL, "nbsvm: need at least 2 training examples");
    if (p->ngram_min < 1 || p->ngram_max < p->ngram_min || p->ngram_max > 3)
        return enc_errf(err, ENC_EINVAL, "nbsvm: n-gram range must be within 1..3");
    if (p->hash_bits < 0 || p->hash_bits > 28)
        return enc_errf(err, ENC_EINVAL, "nbsvm: hash bits must be 0 (vocabulary) or 1..28");
    struct text_model *m = calloc(1, sizeof *m);
    struct rows rows = {0};
    int rc = 0;
    if (!m) {
        rc = enc_errf(err, ENC_ENOMEM, "out of memory");
        goto fail;
    }
    m->kind = TEXT_NBSVM;
    m->ngram_min = p->ngram_min;
    m->ngram_max = p->ngram_max;
    m->hash_bits = p->hash_bits;
    m->n_classes = d->n_labels;
    if (!(m->class_names = strv_dup((const char *const *)d->label_names, d->n_labels, NULL)))
        goto oom;
    if ((rc = feature_space(m, d, idx, n, p, &rows, err)) == ENC_ENOMEM ||
        (!rc && (rc = build_rows(m, d, idx, n, p, &rows)) == ENC_ENOMEM) ||
        (!rc && (rc = fit_rows(m, d, idx, n, p, &rows)) == ENC_ENOMEM))
        goto oom;
    if (rc)
        goto fail;
    text_model_finish(m);
    rows_free(&rows);
    *out = m;
    return 0;
oom:
    rc = enc_errf(err, ENC_ENOMEM, "nbsvm: out of memory");
fail:
    text_model_free(m);
    rows_free(&rows);
    return rc;
}
