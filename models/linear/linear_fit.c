/*
 * linear_fit.c - the linear family's solvers on dense or CSR rows (see
 * linear.h for the objectives):
 *   fit_svm         dual coordinate descent, LIBLINEAR's solve_l2r_l1l2_svc
 *                   (hinge and squared hinge, shrinking, a shuffled row order)
 *   newton_cg       Newton-CG with an Armijo line search, for the binary
 *                   logistic loss (fit_logistic) and the multinomial one
 *   linear_fit_ovr  one binary problem per class, classes spread over threads
 *
 * The solvers work in double precision on a weight vector of d entries plus
 * the intercept; only the final weights are rounded to float.
 */
#include "linear/linear.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

/* ---- row access --------------------------------------------------------- */

static inline double row_dot(const struct linear_rows *x, size_t i, const double *w)
{
    double s = 0;
    if (x->dense) {
        const float *r = x->dense + i * x->d;
        for (size_t j = 0; j < x->d; j++)
            s += r[j] * w[j];
    } else {
        for (int64_t k = x->offsets[i]; k < x->offsets[i + 1]; k++)
            s += x->value[k] * w[x->index[k]];
    }
    return s;
}

static inline void row_axpy(const struct linear_rows *x, size_t i, double a, double *w)
{
    if (x->dense) {
        const float *r = x->dense + i * x->d;
        for (size_t j = 0; j < x->d; j++)
            w[j] += a * r[j];
    } else {
        for (int64_t k = x->offsets[i]; k < x->offsets[i + 1]; k++)
            w[x->index[k]] += a * x->value[k];
    }
}

static double row_sqnorm(const struct linear_rows *x, size_t i)
{
    double s = 0;
    if (x->dense) {
        const float *r = x->dense + i * x->d;
        for (size_t j = 0; j < x->d; j++)
            s += (double)r[j] * r[j];
    } else {
        for (int64_t k = x->offsets[i]; k < x->offsets[i + 1]; k++)
            s += (double)x->value[k] * x->value[k];
    }
    return s;
}

static int check_rows(const struct linear_rows *x, enc_err *err)
{
    if (!x || !x->n || !x->d)
        return enc_errf(err, ENC_EINVAL, "linear: no rows or no features");
    if (x->dense)
        return 0;
    if (!x->offsets || !x->index || !x->value)
        return enc_errf(err, ENC_EINVAL, "linear: rows are neither dense nor CSR");
    if (x->offsets[0] != 0)
        return enc_errf(err, ENC_EINVAL, "linear: CSR offsets[0] != 0");
    for (size_t i = 0; i < x->n; i++) {
        if (x->offsets[i + 1] < x->offsets[i])
            return enc_errf(err, ENC_EINVAL, "linear: CSR offsets decrease at row %zu", i);
        for (int64_t k = x->offsets[i]; k < x->offsets[i + 1]; k++)
            if (x->index[k] < 0 || (size_t)x->index[k] >= x->d || !isfinite(x->value[k]))
                return enc_errf(err, ENC_EINVAL, "linear: CSR row %zu: bad index or value", i);
    }
    return 0;
}

/* ---- SVM: dual coordinate descent (LIBLINEAR's solve_l2r_l1l2_svc) -------- */

static int fit_svm(const struct linear_rows *x, const int8_t *y, const struct linear_solver *s,
                   double *w, double *b, struct linear_fit_info *info)
{
    size_t n = x->n, d = x->d;
    double B = s->bias;
    double U = s->loss == LINEAR_HINGE ? s->c : INFINITY;
    double Dii = s->loss == LINEAR_HINGE ? 0 : 0.5 / s->c;
    double *alpha = calloc(n, sizeof *alpha), *qd = malloc(n * sizeof *qd);
    size_t *perm = malloc(n * sizeof *perm);
    if (!alpha || !qd || !perm) {
        free(alpha);
        free(qd);
        free(perm);
        return ENC_ENOMEM;
    }
    memset(w, 0, d * sizeof *w);
    double wb = 0;
    for (size_t i = 0; i < n; i++) {
        qd[i] = Dii + row_sqnorm(x, i) + B * B;
        perm[i] = i;
    }
    /* LIBLINEAR's shrinking: a variable at a bound whose gradient points
     * outward by more than last epoch's violation range leaves the active
     * set; when the active set converges, everything is checked once more. */
    uint64_t rng = s->seed;
    size_t active = n;
    double pgmax_old = INFINITY, pgmin_old = -INFINITY;
    int it = 0, converged = 0;
    while (it < s->max_iter) {
        rng_shuffle(perm, active, &rng);
        double pgmax = -INFINITY, pgmin = INFINITY;
        for (size_t k = 0; k < active; k++) {
            size_t i = perm[k];
            if (qd[i] <= 0)
                continue;
            double yi = y[i];
            double G = yi * (row_dot(x, i, w) + wb * B) - 1 + Dii * alpha[i];
            double PG = 0;
            if (alpha[i] == 0) {
                if (G > pgmax_old) {
                    active--;
                    perm[k] = perm[active];
                    perm[active] = i;
                    k--;
                    continue;
                }
                if (G < 0)
                    PG = G;
            } else if (alpha[i] >= U) {
                if (G < pgmin_old) {
                    active--;
                    perm[k] = perm[active];
                    perm[active] = i;
                    k--;
                    continue;
                }
                if (G > 0)
                    PG = G;
            } else {
                PG = G;
            }
            pgmax = PG > pgmax ? PG : pgmax;
            pgmin = PG < pgmin ? PG : pgmin;
            if (fabs(PG) > 1e-12) {
                double old = alpha[i];
                double a = old - G / qd[i];
                alpha[i] = a < 0 ? 0 : a > U ? U : a;
                double delta = (alpha[i] - old) * yi;
                row_axpy(x, i, delta, w);
                wb += delta * B;
            }
        }
        it++;
        if (pgmax - pgmin <= s->tol || active == 0) {
            if (active == n) {
                converged = 1;
                break;
            }
            active = n; /* re-check every variable before stopping */
            pgmax_old = INFINITY;
            pgmin_old = -INFINITY;
            continue;
        }
        pgmax_old = pgmax > 0 ? pgmax : INFINITY;
        pgmin_old = pgmin < 0 ? pgmin : -INFINITY;
    }
    /* Primal objective for the report. */
    double obj = 0.5 * wb * wb;
    for (size_t j = 0; j < d; j++)
        obj += 0.5 * w[j] * w[j];
    for (size_t i = 0; i < n; i++) {
        double m = 1 - y[i] * (row_dot(x, i, w) + wb * B);
        if (m > 0)
            obj += s->c * (s->loss == LINEAR_HINGE ? m : m * m);
    }
    *b = wb * B;
    info->iterations = it;
    info->converged = converged;
    info->objective = obj;
    free(alpha);
    free(qd);
    free(perm);
    return 0;
}

/* ---- Newton-CG with an Armijo line search (logistic, multinomial) ---------- */

/* A smooth convex objective over m variables: fun computes f(w) (and caches
 * what grad / hv need), grad the gradient at the last fun point, hv the
 * Hessian-vector product there. */
struct newton_problem {
    size_t m;
    void *ctx;
    double (*fun)(void *ctx, const double *w);
    void (*grad)(void *ctx, const double *w, double *g);
    void (*hv)(void *ctx, const double *v, double *hv);
};

static double dotv(const double *a, const double *b, size_t m)
{
    double s = 0;
    for (size_t i = 0; i < m; i++)
        s += a[i] * b[i];
    return s;
}

/* Minimise from w = 0; w (m entries) gets the result. Returns 0 or ENC_ENOMEM. */
static int newton_cg(const struct newton_problem *pb, double tol, int max_iter, double *w_out,
                     struct linear_fit_info *info)
{
    size_t m = pb->m;
    double *buf = calloc(7 * m, sizeof *buf);
    if (!buf)
        return ENC_ENOMEM;
    double *w = buf, *g = w + m, *sdir = g + m, *r = sdir + m, *p = r + m, *hp = p + m,
           *wn = hp + m;
    double f = pb->fun(pb->ctx, w);
    pb->grad(pb->ctx, w, g);
    double g0 = sqrt(dotv(g, g, m)), gn = g0;
    int it, converged = g0 == 0;
    for (it = 0; it < max_iter && !converged; it++) {
        /* CG on H s = -g to a relative residual of 0.1 (truncated Newton). */
        memset(sdir, 0, m * sizeof *sdir);
        for (size_t j = 0; j < m; j++)
            r[j] = p[j] = -g[j];
        double rr = dotv(r, r, m), stop = 0.01 * rr;
        for (size_t k = 0; k < m + 10 && k < 500 && rr > stop; k++) {
            pb->hv(pb->ctx, p, hp);
            double php = dotv(p, hp, m);
            if (php <= 0)
                break;
            double a = rr / php;
            for (size_t j = 0; j < m; j++) {
                sdir[j] += a * p[j];
                r[j] -= a * hp[j];
            }
            double rr2 = dotv(r, r, m), beta = rr2 / rr;
            rr = rr2;
            for (size_t j = 0; j < m; j++)
                p[j] = r[j] + beta * p[j];
        }
        double gs = dotv(g, sdir, m);
        if (!(gs < 0)) { /* no descent direction from CG: steepest descent */
            for (size_t j = 0; j < m; j++)
                sdir[j] = -g[j];
            gs = -gn * gn;
        }
        double step = 1, fn = f;
        int accepted = 0;
        for (int ls = 0; ls < 60; ls++) {
            for (size_t j = 0; j < m; j++)
                wn[j] = w[j] + step * sdir[j];
            fn = pb->fun(pb->ctx, wn);
            if (fn <= f + 1e-4 * step * gs) {
                accepted = 1;
                break;
            }
            step *= 0.5;
        }
        if (!accepted) {
            pb->fun(pb->ctx, w); /* at the limit of float precision */
            break;
        }
        memcpy(w, wn, m * sizeof *w);
        f = fn;
        pb->grad(pb->ctx, w, g);
        gn = sqrt(dotv(g, g, m));
        if (gn <= tol * g0)
            converged = 1;
    }
    memcpy(w_out, w, m * sizeof *w);
    info->iterations = it;
    info->converged = converged;
    info->objective = f;
    free(buf);
    return 0;
}

/* Binary logistic: w[0..d) weights, w[d] the (unregularised) intercept. */
struct lr_ctx {
    const struct linear_rows *x;
    const int8_t *y;
    double c;
    int use_bias;
    size_t n, d;
    double *z;  /* n: margins w.x_i + b */
    double *dd; /* n: sigma(1 - sigma), the Hessian weights */
};

static double log1pexp_neg(double m) /* log(1 + exp(-m)), stable */
{
    return m >= 0 ? log1p(exp(-m)) : -m + log1p(exp(m));
}

static double lr_fun(void *ctx, const double *w)
{
    struct lr_ctx *c = ctx;
    double f = 0;
    for (size_t j = 0; j < c->d; j++)
        f += 0.5 * w[j] * w[j];
    for (size_t i = 0; i < c->n; i++) {
        c->z[i] = row_dot(c->x, i, w) + (c->use_bias ? w[c->d] : 0);
        f += c->c * log1pexp_neg(c->y[i] * c->z[i]);
    }
    return f;
}

static void lr_grad(void *ctx, const double *w, double *g)
{
    struct lr_ctx *c = ctx;
    memcpy(g, w, c->d * sizeof *g);
    if (c->use_bias)
        g[c->d] = 0;
    for (size_t i = 0; i < c->n; i++) {
        double sig = 1 / (1 + exp(-c->y[i] * c->z[i])); /* P(correct) */
        c->dd[i] = sig * (1 - sig);
        double coef = c->c * (sig - 1) * c->y[i];
        row_axpy(c->x, i, coef, g);
        if (c->use_bias)
            g[c->d] += coef;
    }
}

static void lr_hv(void *ctx, const double *v, double *hv)
{
    struct lr_ctx *c = ctx;
    memcpy(hv, v, c->d * sizeof *hv);
    if (c->use_bias)
        hv[c->d] = 1e-12 * v[c->d]; /* keeps CG defined if every dd vanishes */
    for (size_t i = 0; i < c->n; i++) {
        double xv = row_dot(c->x, i, v) + (c->use_bias ? v[c->d] : 0);
        double a = c->c * c->dd[i] * xv;
        row_axpy(c->x, i, a, hv);
        if (c->use_bias)
            hv[c->d] += a;
    }
}

static int fit_logistic(const struct linear_rows *x, const int8_t *y, const struct linear_solver *s,
                        double *w_out, double *b_out, struct linear_fit_info *info)
{
    struct lr_ctx c = {x, y, s->c, s->bias != 0, x->n, x->d, NULL, NULL};
    size_t m = c.d + (size_t)c.use_bias;
    double *buf = calloc(m + 2 * c.n, sizeof *buf);
    if (!buf)
        return ENC_ENOMEM;
    c.z = buf + m;
    c.dd = c.z + c.n;
    struct newton_problem pb = {m, &c, lr_fun, lr_grad, lr_hv};
    int rc = newton_cg(&pb, s->tol, s->max_iter, buf, info);
    if (rc == 0) {
        memcpy(w_out, buf, c.d * sizeof *w_out);
        *b_out = c.use_bias ? buf[c.d] : 0;
    }
    free(buf);
    return rc;
}

/* Multinomial logistic: class k owns w[k*(d+1) .. k*(d+1)+d), its intercept
 * at w[k*(d+1)+d] (unregularised; unused when there is no bias).
 *   f = 1/2 sum_k |w_k|^2 + C sum_i (logsumexp_k z_ik - z_i,y_i)           */
struct mn_ctx {
    const struct linear_rows *x;
    const int32_t *y;
    double c;
    int use_bias;
    size_t n, d, C;
    double *p; /* n * C: softmax probabilities at the last fun point */
    double *u; /* C scratch */
};

static double mn_fun(void *ctx, const double *w)
{
    struct mn_ctx *c = ctx;
    size_t d1 = c->d + 1, C = c->C;
    double f = 0;
    for (size_t k = 0; k < C; k++)
        for (size_t j = 0; j < c->d; j++)
            f += 0.5 * w[k * d1 + j] * w[k * d1 + j];
    for (size_t i = 0; i < c->n; i++) {
        double *p = c->p + i * C, mx = -INFINITY, sum = 0;
        for (size_t k = 0; k < C; k++) {
            p[k] = row_dot(c->x, i, w + k * d1) + (c->use_bias ? w[k * d1 + c->d] : 0);
            mx = p[k] > mx ? p[k] : mx;
        }
        double zy = p[c->y[i]];
        for (size_t k = 0; k < C; k++)
            sum += (p[k] = exp(p[k] - mx));
        for (size_t k = 0; k < C; k++)
            p[k] /= sum;
        f += c->c * (mx + log(sum) - zy);
    }
    return f;
}

static void mn_grad(void *ctx, const double *w, double *g)
{
    struct mn_ctx *c = ctx;
    size_t d1 = c->d + 1, C = c->C;
    memcpy(g, w, C * d1 * sizeof *g);
    for (size_t k = 0; k < C; k++)
        g[k * d1 + c->d] = 0;
    for (size_t i = 0; i < c->n; i++)
        for (size_t k = 0; k < C; k++) {
            double coef = c->c * (c->p[i * C + k] - ((size_t)c->y[i] == k));
            row_axpy(c->x, i, coef, g + k * d1);
            if (c->use_bias)
                g[k * d1 + c->d] += coef;
        }
}

static void mn_hv(void *ctx, const double *v, double *hv)
{
    struct mn_ctx *c = ctx;
    size_t d1 = c->d + 1, C = c->C;
    memcpy(hv, v, C * d1 * sizeof *hv);
    for (size_t k = 0; k < C; k++)
        hv[k * d1 + c->d] = 1e-12 * v[k * d1 + c->d];
    for (size_t i = 0; i < c->n; i++) {
        const double *p = c->p + i * C;
        double s = 0;
        for (size_t k = 0; k < C; k++) {
            c->u[k] = row_dot(c->x, i, v + k * d1) + (c->use_bias ? v[k * d1 + c->d] : 0);
            s += p[k] * c->u[k];
        }
        for (size_t k = 0; k < C; k++) {
            double r = c->c * p[k] * (c->u[k] - s);
            row_axpy(c->x, i, r, hv + k * d1);
            if (c->use_bias)
                hv[k * d1 + c->d] += r;
        }
    }
}

int linear_fit_multinomial(const struct linear_rows *x, const int32_t *y, size_t n_classes,
                           const struct linear_solver *s, float *W, float *b,
                           struct linear_fit_info *info, enc_err *err)
{
    struct linear_fit_info tmp;
    if (!info)
        info = &tmp;
    int rc = check_rows(x, err);
    if (rc)
        return rc;
    if (n_classes < 2)
        return enc_errf(err, ENC_EINVAL, "linear: need at least 2 classes, have %zu", n_classes);
    if (!(s->c > 0) || !isfinite(s->c) || !(s->tol > 0) || s->max_iter < 1)
        return enc_errf(err, ENC_EINVAL,
                        "linear: bad solver parameters (C %g, tol %g, max_iter %d)", s->c, s->tol,
                        s->max_iter);
    for (size_t i = 0; i < x->n; i++)
        if (y[i] < 0 || (size_t)y[i] >= n_classes)
            return enc_errf(err, ENC_EINVAL, "linear: label %d of row %zu outside 0..%zu", y[i], i,
                            n_classes - 1);
    size_t d = x->d, d1 = d + 1, C = n_classes;
    struct mn_ctx c = {x, y, s->c, s->bias != 0, x->n, d, C, NULL, NULL};
    double *w = calloc(C * d1, sizeof *w);
    c.p = malloc(x->n * C * sizeof *c.p);
    c.u = malloc(C * sizeof *c.u);
    if (!w || !c.p || !c.u) {
        free(w), free(c.p), free(c.u);
        return enc_errf(err, ENC_ENOMEM, "linear: out of memory");
    }
    struct newton_problem pb = {C * d1, &c, mn_fun, mn_grad, mn_hv};
    rc = newton_cg(&pb, s->tol, s->max_iter, w, info);
    if (rc == 0) {
        /* Intercepts are defined up to a common shift: centre them. */
        double mean_b = 0;
        for (size_t k = 0; k < C; k++)
            mean_b += w[k * d1 + d] / (double)C;
        for (size_t k = 0; k < C; k++) {
            for (size_t j = 0; j < d; j++)
                W[k * d + j] = (float)w[k * d1 + j];
            b[k] = c.use_bias ? (float)(w[k * d1 + d] - mean_b) : 0.0f;
        }
    }
    free(w), free(c.p), free(c.u);
    return rc ? enc_errf(err, rc, "linear: out of memory") : 0;
}

int linear_fit_binary(const struct linear_rows *x, const int8_t *y, const struct linear_solver *s,
                      double *w, double *b, struct linear_fit_info *info, enc_err *err)
{
    struct linear_fit_info tmp;
    if (!info)
        info = &tmp;
    int rc = check_rows(x, err);
    if (rc)
        return rc;
    if (!(s->c > 0) || !isfinite(s->c) || !(s->tol > 0) || s->max_iter < 1 || !isfinite(s->bias) ||
        (int)s->loss < 0 || s->loss > LINEAR_LOGISTIC)
        return enc_errf(err, ENC_EINVAL,
                        "linear: bad solver parameters (C %g, tol %g, max_iter %d)", s->c, s->tol,
                        s->max_iter);
    for (size_t i = 0; i < x->n; i++)
        if (y[i] != 1 && y[i] != -1)
            return enc_errf(err, ENC_EINVAL, "linear: label %d of row %zu is not +1/-1", y[i], i);
    rc = s->loss == LINEAR_LOGISTIC ? fit_logistic(x, y, s, w, b, info)
                                    : fit_svm(x, y, s, w, b, info);
    if (rc)
        return enc_errf(err, rc, "linear: out of memory");
    return 0;
}

/* ---- one-vs-rest --------------------------------------------------------- */

struct ovr_ctx {
    const struct linear_rows *x;
    const int32_t *y;
    size_t n_fits, C;
    const struct linear_solver *s;
    float *W, *b;
    struct linear_fit_info *infos;
    size_t next; /* atomic */
    int rc;      /* first failure */
};

static void *ovr_worker(void *arg)
{
    struct ovr_ctx *c = arg;
    size_t n = c->x->n, d = c->x->d;
    int8_t *yb = malloc(n);
    double *w = malloc(d * sizeof *w);
    if (!yb || !w) {
        __atomic_store_n(&c->rc, ENC_ENOMEM, __ATOMIC_RELAXED);
        free(yb);
        free(w);
        return NULL;
    }
    for (;;) {
        size_t k = __atomic_fetch_add(&c->next, 1, __ATOMIC_RELAXED);
        if (k >= c->n_fits || __atomic_load_n(&c->rc, __ATOMIC_RELAXED))
            break;
        size_t pos = c->C == 2 ? 1 : k; /* two classes: class 1 vs class 0 */
        for (size_t i = 0; i < n; i++)
            yb[i] = (size_t)c->y[i] == pos ? 1 : -1;
        double b;
        int rc = linear_fit_binary(c->x, yb, c->s, w, &b, &c->infos[k], NULL);
        if (rc) {
            __atomic_store_n(&c->rc, rc, __ATOMIC_RELAXED);
            break;
        }
        for (size_t j = 0; j < d; j++)
            c->W[pos * d + j] = (float)w[j];
        c->b[pos] = (float)b;
        if (c->C == 2) {
            for (size_t j = 0; j < d; j++)
                c->W[j] = -(float)w[j];
            c->b[0] = -(float)b;
        }
    }
    free(yb);
    free(w);
    return NULL;
}

int linear_fit_ovr(const struct linear_rows *x, const int32_t *y, size_t n_classes,
                   const struct linear_solver *s, float *W, float *b, struct linear_fit_info *info,
                   enc_err *err)
{
    int rc = check_rows(x, err);
    if (rc)
        return rc;
    if (n_classes < 2)
        return enc_errf(err, ENC_EINVAL, "linear: need at least 2 classes, have %zu", n_classes);
    for (size_t i = 0; i < x->n; i++)
        if (y[i] < 0 || (size_t)y[i] >= n_classes)
            return enc_errf(err, ENC_EINVAL, "linear: label %d of row %zu outside 0..%zu", y[i], i,
                            n_classes - 1);
    if (!(s->c > 0) || !isfinite(s->c) || !(s->tol > 0) || s->max_iter < 1 || s->threads < 1)
        return enc_errf(err, ENC_EINVAL,
                        "linear: bad solver parameters (C %g, tol %g, max_iter %d, "
                        "threads %d)",
                        s->c, s->tol, s->max_iter, s->threads);
    struct ovr_ctx c = {x, y, n_classes == 2 ? 1 : n_classes, n_classes, s, W, b, NULL, 0, 0};
    c.infos = calloc(c.n_fits, sizeof *c.infos);
    if (!c.infos)
        return enc_errf(err, ENC_ENOMEM, "linear: out of memory");
    int nth = (size_t)s->threads < c.n_fits ? s->threads : (int)c.n_fits;
    pthread_t *th = calloc((size_t)nth, sizeof *th);
    int started = 0;
    if (th)
        for (; started < nth - 1; started++)
            if (pthread_create(&th[started], NULL, ovr_worker, &c))
                break;
    ovr_worker(&c);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    free(th);
    if (c.rc) {
        free(c.infos);
        return enc_errf(err, c.rc, "linear: %s while fitting", enc_strerror(c.rc));
    }
    if (info) {
        info->iterations = 0;
        info->converged = 1;
        info->objective = 0;
        for (size_t k = 0; k < c.n_fits; k++) {
            info->iterations =
                c.infos[k].iterations > info->iterations ? c.infos[k].iterations : info->iterations;
            info->converged &= c.infos[k].converged;
            info->objective += c.infos[k].objective;
        }
    }
    free(c.infos);
    return 0;
}
