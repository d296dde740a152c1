/*
 * linear.c - the standardised "linear" model family: names and defaults,
 * training a model (standardise, fit with linear_fit.c's solvers, fold the
 * scaling into the weights), predicting, the hyperparameters, the model file
 * and the ops row. See linear.h for the objectives, the probability mapping
 * and the layout.
 */
#include "linear/linear.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/strv.h"

const char *linear_loss_name(enum linear_loss l)
{
    switch (l) {
    case LINEAR_HINGE:
        return "hinge";
    case LINEAR_SQUARED_HINGE:
        return "squared_hinge";
    case LINEAR_LOGISTIC:
        return "logistic";
    }
    return "?";
}

int linear_loss_parse(const char *s)
{
    if (!s)
        return -1;
    if (strcmp(s, "hinge") == 0)
        return LINEAR_HINGE;
    if (strcmp(s, "squared_hinge") == 0)
        return LINEAR_SQUARED_HINGE;
    if (strcmp(s, "logistic") == 0)
        return LINEAR_LOGISTIC;
    return -1;
}

void linear_solver_default(struct linear_solver *s, enum linear_loss loss)
{
    s->loss = loss;
    s->c = 1.0;
    s->tol = loss == LINEAR_LOGISTIC ? 1e-6 : 1e-4;
    s->max_iter = loss == LINEAR_LOGISTIC ? 100 : 1000;
    s->bias = 1.0;
    s->seed = 1;
    s->threads = 1;
    s->multinomial = 0;
}

void linear_scores_to_prob(enum linear_loss loss, int multinomial, const float *scores, size_t C,
                           float *prob)
{
    double sum = 0;
    if (loss == LINEAR_LOGISTIC && !multinomial) {
        for (size_t k = 0; k < C; k++) {
            double p = 1 / (1 + exp(-(double)scores[k]));
            prob[k] = (float)p;
            sum += p;
        }
    } else {
        float mx = -FLT_MAX;
        for (size_t k = 0; k < C; k++)
            mx = scores[k] > mx ? scores[k] : mx;
        for (size_t k = 0; k < C; k++) {
            double e = exp((double)scores[k] - mx);
            prob[k] = (float)e;
            sum += e;
        }
    }
    for (size_t k = 0; k < C; k++)
        prob[k] = sum > 0 ? (float)(prob[k] / sum) : 1.0f / (float)C;
}

/* ---- the model ------------------------------------------------------------ */

void linear_model_free(struct linear_model *m)
{
    if (!m)
        return;
    free(m->weights);
    free(m->intercept);
    free(m->mean);
    free(m->scale);
    free(m->w_eff);
    free(m->b_eff);
    strv_free(m->feature_names, m->n_features);
    strv_free(m->class_names, m->n_classes);
    free(m);
}

static struct linear_model *model_alloc(size_t D, size_t C)
{
    struct linear_model *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->n_features = D;
    m->n_classes = C;
    m->weights = calloc(C * D, sizeof *m->weights);
    m->intercept = calloc(C, sizeof *m->intercept);
    m->mean = calloc(D, sizeof *m->mean);
    m->scale = calloc(D, sizeof *m->scale);
    m->w_eff = calloc(C * D, sizeof *m->w_eff);
    m->b_eff = calloc(C, sizeof *m->b_eff);
    if (!m->weights || !m->intercept || !m->mean || !m->scale || !m->w_eff || !m->b_eff) {
        linear_model_free(m);
        return NULL;
    }
    return m;
}

/* Fold the scaler into the weights and fill io. */
static void model_finish(struct linear_model *m)
{
    size_t D = m->n_features, C = m->n_classes;
    for (size_t k = 0; k < C; k++) {
        double b = m->intercept[k];
        for (size_t j = 0; j < D; j++) {
            double w = (double)m->weights[k * D + j] / m->scale[j];
            m->w_eff[k * D + j] = (float)w;
            b -= w * m->mean[j];
        }
        m->b_eff[k] = (float)b;
    }
    m->io.kind = MODEL_INPUT_NUMERIC;
    m->io.n_features = D;
    m->io.ndim = 1;
    m->io.shape[0] = (int64_t)D;
    m->io.feature_names = (const char *const *)m->feature_names;
    m->io.min_value = -FLT_MAX;
    m->io.max_value = FLT_MAX;
    m->io.n_classes = C;
    m->io.class_names = (const char *const *)m->class_names;
}

int linear_train(const float *x, const int32_t *y, size_t n, size_t d, size_t n_classes,
                 const char *const *feature_names, const char *const *class_names,
                 const struct linear_solver *s, struct linear_model **out, enc_err *err)
{
    *out = NULL;
    if (!n || !d || n_classes < 2)
        return enc_errf(err, ENC_EINVAL,
                        "linear: need rows, features and >= 2 classes (n=%zu d=%zu "
                        "C=%zu)",
                        n, d, n_classes);
    struct linear_model *m = model_alloc(d, n_classes);
    float *z = m ? malloc(n * d * sizeof *z) : NULL;
    if (!m || !z || !(m->feature_names = strv_dup(feature_names, d, "f")) ||
        !(m->class_names = strv_dup(class_names, n_classes, ""))) {
        free(z);
        linear_model_free(m);
        return enc_errf(err, ENC_ENOMEM, "linear: out of memory");
    }
    m->loss = s->loss;
    m->multinomial = s->multinomial && s->loss == LINEAR_LOGISTIC && n_classes > 2;
    m->c = s->c;
    /* Standardise: population mean and standard deviation per feature. */
    for (size_t j = 0; j < d; j++) {
        double mu = 0, var = 0;
        for (size_t i = 0; i < n; i++)
            mu += x[i * d + j];
        mu /= (double)n;
        for (size_t i = 0; i < n; i++) {
            double t = x[i * d + j] - mu;
            var += t * t;
        }
        double sd = sqrt(var / (double)n);
        m->mean[j] = (float)mu;
        m->scale[j] = sd > 1e-12 * (fabs(mu) + 1) ? (float)sd : 1.0f;
        if (!(m->scale[j] > 0) || !isfinite(m->scale[j]))
            m->scale[j] = 1.0f;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            z[i * d + j] = (x[i * d + j] - m->mean[j]) / m->scale[j];
    struct linear_rows rows = {n, d, z, NULL, NULL, NULL};
    int rc = m->multinomial
                 ? linear_fit_multinomial(&rows, y, n_classes, s, m->weights, m->intercept,
                                          &m->info, err)
                 : linear_fit_ovr(&rows, y, n_classes, s, m->weights, m->intercept, &m->info, err);
    free(z);
    if (rc) {
        linear_model_free(m);
        return rc;
    }
    model_finish(m);
    *out = m;
    return 0;
}

int linear_predict(const struct linear_model *m, const float *x, size_t n, float *prob,
                   float *scores)
{
    size_t C = m->n_classes, D = m->n_features;
    float *s = scores ? scores : prob; /* decision values, then mapped in place */
    if (!n)
        return 0;
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * C, m->b_eff, C * sizeof *s);
    if (n == 1) {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)C, (int)D, 1.0f, m->w_eff, (int)D, x, 1, 1.0f,
                    s, 1);
    } else {
        /* S[n x C] += X[n x D] . W_eff^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)C, (int)D, 1.0f, x,
                    (int)D, m->w_eff, (int)D, 1.0f, s, (int)C);
    }
    for (size_t i = 0; i < n; i++)
        linear_scores_to_prob(m->loss, m->multinomial, s + i * C, C, prob + i * C);
    return 0;
}

/* ---- hyperparameters ----------------------------------------------------------- */

json_t *linear_solver_json(const struct linear_solver *s)
{
    return json_pack("{s:s, s:f, s:f, s:i, s:f, s:I, s:s}", "loss", linear_loss_name(s->loss), "c",
                     s->c, "tol", s->tol, "max_iter", s->max_iter, "bias", s->bias, "seed",
                     (json_int_t)s->seed, "multi_class", s->multinomial ? "multinomial" : "ovr");
}

int linear_solver_from_json(const json_t *j, struct linear_solver *s, enc_err *err)
{
    if (!json_is_object(j))
        return enc_errf(err, ENC_EINVAL, "linear hyperparameters: not a JSON object");
    json_t *v = json_object_get(j, "loss");
    int loss = v ? linear_loss_parse(json_string_value(v)) : (int)s->loss;
    if (loss < 0)
        return enc_errf(err, ENC_EINVAL, "linear hyperparameters: bad 'loss'");
    int threads = s->threads;
    linear_solver_default(s, (enum linear_loss)loss);
    s->threads = threads;
    if ((v = json_object_get(j, "multi_class"))) {
        const char *mc = json_string_value(v);
        if (!mc || (strcmp(mc, "ovr") != 0 && strcmp(mc, "multinomial") != 0))
            return enc_errf(err, ENC_EINVAL, "linear hyperparameters: bad 'multi_class'");
        s->multinomial = strcmp(mc, "multinomial") == 0;
    }
    const char *nums[] = {"c", "tol", "bias"};
    double *dst[] = {&s->c, &s->tol, &s->bias};
    for (size_t i = 0; i < 3; i++)
        if ((v = json_object_get(j, nums[i]))) {
            if (!json_is_number(v) || !isfinite(json_number_value(v)))
                return enc_errf(err, ENC_EINVAL, "linear hyperparameters: bad '%s'", nums[i]);
            *dst[i] = json_number_value(v);
        }
    if ((v = json_object_get(j, "max_iter"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1000000000)
            return enc_errf(err, ENC_EINVAL, "linear hyperparameters: bad 'max_iter'");
        s->max_iter = (int)json_integer_value(v);
    }
    if ((v = json_object_get(j, "seed"))) {
        if (!json_is_integer(v))
            return enc_errf(err, ENC_EINVAL, "linear hyperparameters: bad 'seed'");
        s->seed = (uint64_t)json_integer_value(v);
    }
    if (!(s->c > 0) || !(s->tol > 0))
        return enc_errf(err, ENC_EINVAL, "linear hyperparameters: c and tol must be > 0");
    return 0;
}

/* ---- file ------------------------------------------------------------------------ */

int linear_write(const struct linear_model *m, st_writer *w, const json_t *hyper,
                 const char *fingerprint)
{
    int64_t ws[2] = {(int64_t)m->n_classes, (int64_t)m->n_features},
            cs[1] = {(int64_t)m->n_classes}, ds[1] = {(int64_t)m->n_features};
    int rc = st_writer_add(w, "weights", ST_F32, 2, ws, m->weights);
    rc = rc ? rc : st_writer_add(w, "intercept", ST_F32, 1, cs, m->intercept);
    rc = rc ? rc : st_writer_add(w, "mean", ST_F32, 1, ds, m->mean);
    rc = rc ? rc : st_writer_add(w, "scale", ST_F32, 1, ds, m->scale);
    rc = rc ? rc
            : st_writer_add_strings(w, "feature_names", (const char *const *)m->feature_names, NULL,
                                    m->n_features);
    rc = rc ? rc
            : st_writer_add_strings(w, "class_names", (const char *const *)m->class_names, NULL,
                                    m->n_classes);
    rc = rc ? rc : model_write_common_meta(w, "linear", hyper, fingerprint);
    rc = rc ? rc : st_writer_meta(w, "loss", linear_loss_name(m->loss));
    rc = rc ? rc : st_writer_meta(w, "multi_class", m->multinomial ? "multinomial" : "ovr");
    return rc;
}

static int all_finite(const st_tensor *t, const char *name, enc_err *err)
{
    const float *v = t->data;
    for (size_t i = 0; i < t->count; i++)
        if (!isfinite(v[i]))
            return enc_errf(err, ENC_EFORMAT, "linear: %s[%zu] is not finite", name, i);
    return 0;
}

int linear_from_file(const st_file *file, struct linear_model **out, enc_err *err)
{
    *out = NULL;
    st_strings fn, cn;
    int rc = st_expect_strings(file, "feature_names", -1, &fn, err);
    rc = rc ? rc : st_expect_strings(file, "class_names", -1, &cn, err);
    if (rc)
        return rc;
    size_t D = fn.n, C = cn.n;
    if (D < 1 || C < 2)
        return enc_errf(err, ENC_EFORMAT,
                        "linear: needs >= 1 feature and >= 2 classes (D=%zu C=%zu)", D, C);
    int loss = linear_loss_parse(st_meta(file, "loss"));
    if (loss < 0)
        return enc_errf(err, ENC_EFORMAT, "linear: metadata 'loss' missing or unknown");
    const char *mc = st_meta(file, "multi_class");
    int multinomial = mc && strcmp(mc, "multinomial") == 0;
    if (mc && !multinomial && strcmp(mc, "ovr") != 0)
        return enc_errf(err, ENC_EFORMAT, "linear: metadata 'multi_class' is '%s'", mc);
    if (multinomial && (loss != LINEAR_LOGISTIC || C < 3))
        return enc_errf(err, ENC_EFORMAT,
                        "linear: multinomial needs logistic loss and > 2 classes");
    const st_tensor *tw, *tb, *tm, *ts;
    int64_t ws[2] = {(int64_t)C, (int64_t)D}, cs[1] = {(int64_t)C}, ds[1] = {(int64_t)D};
    rc = st_expect(file, "weights", ST_F32, 2, ws, &tw, err);
    rc = rc ? rc : st_expect(file, "intercept", ST_F32, 1, cs, &tb, err);
    rc = rc ? rc : st_expect(file, "mean", ST_F32, 1, ds, &tm, err);
    rc = rc ? rc : st_expect(file, "scale", ST_F32, 1, ds, &ts, err);
    rc = rc ? rc : all_finite(tw, "weights", err);
    rc = rc ? rc : all_finite(tb, "intercept", err);
    rc = rc ? rc : all_finite(tm, "mean", err);
    rc = rc ? rc : all_finite(ts, "scale", err);
    if (rc)
        return rc;
    const float *sc = ts->data;
    for (size_t j = 0; j < D; j++)
        if (!(sc[j] > 0))
            return enc_errf(err, ENC_EFORMAT, "linear: scale[%zu] is not > 0", j);
    struct linear_model *m = model_alloc(D, C);
    if (!m || !(m->feature_names = strv_from_table(fn.bytes, fn.offsets, fn.n)) ||
        !(m->class_names = strv_from_table(cn.bytes, cn.offsets, cn.n))) {
        linear_model_free(m);
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    m->loss = (enum linear_loss)loss;
    m->multinomial = multinomial;
    memcpy(m->weights, tw->data, C * D * sizeof(float));
    memcpy(m->intercept, tb->data, C * sizeof(float));
    memcpy(m->mean, tm->data, D * sizeof(float));
    memcpy(m->scale, sc, D * sizeof(float));
    model_finish(m);
    for (size_t i = 0; i < C * D; i++)
        if (!isfinite(m->w_eff[i]))
            return linear_model_free(m),
                   enc_errf(err, ENC_EFORMAT, "linear: weights / scale overflow");
    for (size_t k = 0; k < C; k++)
        if (!isfinite(m->b_eff[k]))
            return linear_model_free(m),
                   enc_errf(err, ENC_EFORMAT, "linear: intercept / mean overflow");
    *out = m;
    return 0;
}

/* ---- the family row ---------------------------------------------------------------- */

static int ops_load(const st_file *file, const struct model_load_opts *opts, void **state,
                    enc_err *err)
{
    struct linear_model *m;
    int rc = linear_from_file(file, &m, err);
    *state = rc ? NULL : m;
    return rc;
}

static void ops_free(void *state)
{
    linear_model_free(state);
}

static size_t ops_mem(const void *state)
{
    const struct linear_model *m = state;
    size_t s = sizeof *m + 2 * (m->n_classes * m->n_features + m->n_classes) * sizeof(float) +
               2 * m->n_features * sizeof(float);
    return s + strv_mem(m->feature_names, m->n_features) + strv_mem(m->class_names, m->n_classes);
}

static int ops_describe(const void *state, json_t *o)
{
    const struct linear_model *m = state;
    int bad = json_object_set_new(o, "loss", json_string(linear_loss_name(m->loss)));
    bad |=
        json_object_set_new(o, "multi_class", json_string(m->multinomial ? "multinomial" : "ovr"));
    bad |= json_object_set_new(o, "probabilities",
                               json_string(m->multinomial ? "softmax (multinomial logistic)"
                                           : m->loss == LINEAR_LOGISTIC
                                               ? "one-vs-rest sigmoid, normalised"
                                               : "softmax of decision values"));
    bad |= json_object_set_new(o, "features", strv_json(m->feature_names, m->n_features));
    bad |= json_object_set_new(o, "classes", strv_json(m->class_names, m->n_classes));
    return bad ? ENC_ENOMEM : 0;
}

static const struct model_io *ops_io(const void *state)
{
    return &((const struct linear_model *)state)->io;
}

static int ops_predict(const void *state, const struct model_batch *b, float *prob, enc_err *err)
{
    if (!b->x)
        return enc_errf(err, ENC_EINVAL, "linear: numeric input expected");
    int rc = linear_predict(state, b->x, b->n, prob, NULL);
    return rc ? enc_errf(err, rc, "linear: out of memory") : 0;
}

static int ops_write(const void *data, st_writer *w, const json_t *hyper, const char *fingerprint)
{
    return linear_write(data, w, hyper, fingerprint);
}

const struct model_ops linear_ops = {
    .family = "linear",
    .task = MODEL_TASK_CLASSIFY,
    .load = ops_load,
    .free = ops_free,
    .mem_usage = ops_mem,
    .describe = ops_describe,
    .write = ops_write,
    .io = ops_io,
    .predict = ops_predict,
};
