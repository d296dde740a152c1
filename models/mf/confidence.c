/*
 * confidence.c - weights -> confidences (see confidence.h for the schemes,
 * the automatic rule and the serving rules).
 */
#include "mf/confidence.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "mf/als.h"

const char *const conf_scheme_names[] = {"auto", "binary", "linear", "log", "bm25", "tfidf", NULL};

int conf_scheme_parse(const char *name, enum conf_scheme *out)
{
    for (int i = 0; conf_scheme_names[i]; i++)
        if (strcmp(name, conf_scheme_names[i]) == 0) {
            *out = (enum conf_scheme)i;
            return 0;
        }
    return -1;
}

const char *conf_scheme_name(enum conf_scheme s)
{
    return s >= CONF_AUTO && s <= CONF_TFIDF ? conf_scheme_names[s] : "?";
}

static int float_cmp(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* The q-quantile of sorted v[0..n) (nearest rank, n > 0). */
static double quantile(const float *v, size_t n, double q)
{
    size_t k = (size_t)ceil(q * (double)n);
    return v[k ? k - 1 : 0];
}

int conf_stats_compute(const float *w, size_t n, struct conf_stats *out)
{
    memset(out, 0, sizeof *out);
    out->n = n;
    if (n == 0)
        return 0;
    float *v = malloc(n * sizeof *v);
    if (!v)
        return ENC_ENOMEM;
    memcpy(v, w, n * sizeof *v);
    qsort(v, n, sizeof *v, float_cmp);
    double sum = 0;
    int integers = 1;
    for (size_t i = 0; i < n; i++) {
        sum += v[i];
        if (integers && v[i] != floorf(v[i]))
            integers = 0;
    }
    out->min = v[0];
    out->max = v[n - 1];
    out->median = n % 2 ? v[n / 2] : 0.5 * ((double)v[n / 2 - 1] + (double)v[n / 2]);
    out->p90 = quantile(v, n, 0.90);
    out->p99 = quantile(v, n, 0.99);
    out->mean = sum / (double)n;
    out->all_equal = v[0] == v[n - 1];
    out->integers = integers;
    free(v);
    return 0;
}

double conf_default_epsilon(const struct conf_stats *s)
{
    return s->n && s->median > 0 ? s->median / (M_E - 1.0) : 1.0;
}

enum conf_scheme conf_auto(const struct conf_stats *s, double *eps, char *why, size_t cap)
{
    *eps = conf_default_epsilon(s);
    if (s->n == 0 || s->all_equal) {
        snprintf(why, cap, "every weight is %g: binary (c = 1 + alpha)", s->n ? s->min : 1.0);
        return CONF_BINARY;
    }
    double ratio = s->median > 0 ? s->max / s->median : INFINITY;
    if (ratio <= 10) {
        snprintf(why, cap,
                 "max / median = %.3g <= 10, a bounded scale: log (c = 1 + alpha * "
                 "log(1 + w / %.4g); epsilon = median / (e - 1): the median pair "
                 "gets 1 + alpha)",
                 ratio, *eps);
        return CONF_LOG;
    }
    snprintf(why, cap,
             "max / median = %.3g > 10, heavy-tailed counts: binary (c = 1 + alpha; "
             "the counts decide only what is a pair: on such data they mostly "
             "measure activity and chance, see docs/training.md; --tune compares)",
             ratio);
    return CONF_BINARY;
}

int conf_transform(size_t rows, size_t cols, const int64_t *indptr, const int32_t *indices,
                   const float *weights, enum conf_scheme s, double eps, double k1, double b,
                   float *out)
{
    size_t nnz = (size_t)indptr[rows];
    if (s == CONF_BM25 || s == CONF_TFIDF) {
        struct als_csr R = {rows, cols, indptr, indices, weights};
        return als_weights(&R, s == CONF_BM25 ? ALS_WEIGHT_BM25 : ALS_WEIGHT_TFIDF, k1, b, out);
    }
    for (size_t k = 0; k < nnz; k++) {
        double w = weights[k];
        double f = s == CONF_BINARY ? 1.0 : s == CONF_LOG ? log1p(w / eps) : w;
        out[k] = f > 0 ? (float)f : 1e-6f; /* keep every observed cell a positive */
    }
    return 0;
}

double conf_serve_f(const struct conf_serving *cs, double w)
{
    if (!(w > 0))
        return 0;
    switch (cs->scheme) {
    case CONF_BINARY:
        return 1.0;
    case CONF_LOG:
        return log1p(w / (cs->epsilon > 0 ? cs->epsilon : 1.0));
    case CONF_BM25:
    case CONF_TFIDF:
        /* Depends on the whole matrix: the median pair keeps its median value. */
        return cs->typical_weight > 0 ? cs->typical_f * w / cs->typical_weight : w;
    default:
        return w;
    }
}

double conf_serve(const struct conf_serving *cs, double w)
{
    return 1.0 + cs->alpha * conf_serve_f(cs, fabs(w));
}
