/* test_linear.c - linear SVM (hinge, squared hinge) and logistic regression:
 * the known hard-margin solution on separable data, optimality (KKT /
 * gradient) on non-separable data, dense = sparse, one-vs-rest and
 * multinomial (gradient at the solution) on iris,
 * probabilities, save/load round trip and refusal of bad files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/model.h"
#include "core/repo.h"
#include "families.h"
#include "linear/linear.h"
#include "table/csvtable.h"
#include "testutil.h"

/* Primal objective of a binary solution (bias regularised for the SVMs as
 * the solver defines it, not for logistic). */
static double objective(enum linear_loss loss, double C, const float *x, const int8_t *y, size_t n,
                        size_t d, const double *w, double b)
{
    double f = 0;
    for (size_t j = 0; j < d; j++)
        f += 0.5 * w[j] * w[j];
    if (loss != LINEAR_LOGISTIC)
        f += 0.5 * b * b;
    for (size_t i = 0; i < n; i++) {
        double z = b;
        for (size_t j = 0; j < d; j++)
            z += w[j] * x[i * d + j];
        double m = y[i] * z;
        if (loss == LINEAR_LOGISTIC)
            f += C * (m >= 0 ? log1p(exp(-m)) : -m + log1p(exp(m)));
        else if (m < 1)
            f += C * (loss == LINEAR_HINGE ? 1 - m : (1 - m) * (1 - m));
    }
    return f;
}

START_TEST(separable_hard_margin)
{
    /* Symmetric, separable: the max-margin solution is w = (1, 0), b = 0
     * (support vectors (+-1, 0)); logistic separates it with all margins > 0. */
    float x[] = {1, 0, 2, 1, 2, -1, 3, 0, -1, 0, -2, 1, -2, -1, -3, 0};
    int8_t y[] = {1, 1, 1, 1, -1, -1, -1, -1};
    struct linear_rows rows = {8, 2, x, NULL, NULL, NULL};
    for (int loss = LINEAR_HINGE; loss <= LINEAR_LOGISTIC; loss++) {
        struct linear_solver s;
        linear_solver_default(&s, (enum linear_loss)loss);
        s.c = loss == LINEAR_LOGISTIC ? 1 : 1000;
        s.tol = 1e-6;
        s.max_iter = 100000;
        double w[2], b;
        struct linear_fit_info info;
        enc_err err = {0};
        ck_assert_int_eq(linear_fit_binary(&rows, y, &s, w, &b, &info, &err), 0);
        ck_assert_msg(info.converged, "loss %d did not converge", loss);
        for (int i = 0; i < 8; i++)
            ck_assert_msg(y[i] * (w[0] * x[2 * i] + w[1] * x[2 * i + 1] + b) > 0,
                          "loss %d misclassifies row %d", loss, i);
        if (loss != LINEAR_LOGISTIC) {
            ck_assert_msg(fabs(w[0] - 1) < 1e-3 && fabs(w[1]) < 1e-3 && fabs(b) < 1e-3,
                          "loss %d: w = (%g, %g), b = %g", loss, w[0], w[1], b);
        } else {
            ck_assert(w[0] > 0.5);
            ck_assert(fabs(w[1]) < 1e-6 && fabs(b) < 1e-6); /* symmetry */
        }
    }
}
END_TEST

/* Non-separable: two overlapping Gaussian-ish clouds from a fixed LCG. */
static void cloud(float *x, int8_t *y, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        double u = 0, v = 0;
        for (int k = 0; k < 6; k++) { /* sum of uniforms ~ normal */
            seed = seed * 1664525u + 1013904223u;
            u += (seed >> 8) / 16777216.0;
            seed = seed * 1664525u + 1013904223u;
            v += (seed >> 8) / 16777216.0;
        }
        y[i] = i % 2 ? 1 : -1;
        x[2 * i] = (float)(u - 3 + 0.8 * y[i]);
        x[2 * i + 1] = (float)(v - 3 - 0.3 * y[i]);
    }
}

START_TEST(non_separable_optimal)
{
    enum { N = 300 };
    float x[N * 2];
    int8_t y[N];
    cloud(x, y, N, 99);
    struct linear_rows rows = {N, 2, x, NULL, NULL, NULL};
    for (int loss = LINEAR_HINGE; loss <= LINEAR_LOGISTIC; loss++) {
        struct linear_solver s;
        linear_solver_default(&s, (enum linear_loss)loss);
        s.c = 0.5;
        s.tol = loss == LINEAR_LOGISTIC ? 1e-8 : 1e-6;
        s.max_iter = 200000;
        double w[2], b;
        struct linear_fit_info info;
        enc_err err = {0};
        ck_assert_int_eq(linear_fit_binary(&rows, y, &s, w, &b, &info, &err), 0);
        ck_assert_msg(info.converged, "loss %d did not converge", loss);
        double f0 = objective((enum linear_loss)loss, s.c, x, y, N, 2, w, b);
        ck_assert_msg(fabs(f0 - info.objective) < 1e-6 * (1 + f0), "reported objective %g vs %g",
                      info.objective, f0);
        /* No small move in any direction improves the (convex) objective. */
        const double dirs[6][3] = {{1, 0, 0}, {0, 1, 0},  {0, 0, 1},
                                   {1, 1, 0}, {1, -1, 1}, {-1, 0, 1}};
        for (int k = 0; k < 6; k++)
            for (int sign = -1; sign <= 1; sign += 2) {
                double h = 1e-3 * sign;
                double w2[2] = {w[0] + h * dirs[k][0], w[1] + h * dirs[k][1]};
                double f1 =
                    objective((enum linear_loss)loss, s.c, x, y, N, 2, w2, b + h * dirs[k][2]);
                ck_assert_msg(f1 >= f0 - 1e-6 * f0,
                              "loss %d: objective %g drops to %g along dir %d", loss, f0, f1, k);
            }
        if (loss == LINEAR_LOGISTIC) {
            /* gradient: w + C sum (sigma(m) - 1) y x, intercept unregularised */
            double g[3] = {w[0], w[1], 0};
            for (int i = 0; i < N; i++) {
                double m = y[i] * (w[0] * x[2 * i] + w[1] * x[2 * i + 1] + b);
                double c = s.c * (1 / (1 + exp(-m)) - 1) * y[i];
                g[0] += c * x[2 * i];
                g[1] += c * x[2 * i + 1];
                g[2] += c;
            }
            ck_assert_msg(sqrt(g[0] * g[0] + g[1] * g[1] + g[2] * g[2]) < 1e-5, "gradient %g %g %g",
                          g[0], g[1], g[2]);
        }
        /* The same rows as CSR give the same solution. */
        int64_t off[N + 1];
        int32_t idx[N * 2];
        float val[N * 2];
        size_t nnz = 0;
        for (int i = 0; i < N; i++) {
            off[i] = (int64_t)nnz;
            for (int j = 1; j >= 0; j--) /* reversed order within the row */
                if (x[2 * i + j] != 0) {
                    idx[nnz] = j;
                    val[nnz++] = x[2 * i + j];
                }
        }
        off[N] = (int64_t)nnz;
        struct linear_rows sp = {N, 2, NULL, off, idx, val};
        double ws[2], bs;
        ck_assert_int_eq(linear_fit_binary(&sp, y, &s, ws, &bs, NULL, &err), 0);
        ck_assert(fabs(ws[0] - w[0]) < 1e-6 && fabs(ws[1] - w[1]) < 1e-6 && fabs(bs - b) < 1e-6);
        /* a CSR index out of range is refused */
        idx[3] = 2;
        ck_assert_int_eq(linear_fit_binary(&sp, y, &s, ws, &bs, NULL, &err), ENC_EINVAL);
    }
    /* bad labels / parameters */
    struct linear_solver s;
    linear_solver_default(&s, LINEAR_HINGE);
    double w[2], b;
    int8_t bad[N];
    memcpy(bad, y, sizeof bad);
    bad[5] = 0;
    ck_assert_int_eq(linear_fit_binary(&rows, bad, &s, w, &b, NULL, NULL), ENC_EINVAL);
    s.c = 0;
    ck_assert_int_eq(linear_fit_binary(&rows, y, &s, w, &b, NULL, NULL), ENC_EINVAL);
}
END_TEST

static void load_iris(const char *rel, struct csvt_table *t)
{
    struct csvt_options o = {.format = CSVT_PLAIN, .label = "species"};
    enc_err err = {0};
    ck_assert_msg(csvt_read(tu_src(rel), &o, t, &err) == 0, "%s", err.msg);
}

START_TEST(iris_ovr_and_round_trip)
{
    struct csvt_table tr, te;
    load_iris("tests/data/iris/train.csv", &tr);
    load_iris("tests/data/iris/test.csv", &te);
    for (int loss = LINEAR_HINGE; loss <= LINEAR_LOGISTIC; loss++) {
        struct linear_solver s;
        linear_solver_default(&s, (enum linear_loss)loss);
        s.threads = loss == LINEAR_LOGISTIC ? 3 : 1;
        struct linear_model *m, *g;
        enc_err err = {0};
        ck_assert_int_eq(linear_train(tr.x, tr.y, tr.n_rows, 4, 3,
                                      (const char *const *)tr.feature_names,
                                      (const char *const *)tr.class_names, &s, &m, &err),
                         0);
        /* one-vs-rest on 1 and 3 threads: the same weights, bit for bit */
        struct linear_model *m1;
        struct linear_solver s1 = s;
        s1.threads = s.threads == 1 ? 3 : 1;
        ck_assert_int_eq(linear_train(tr.x, tr.y, tr.n_rows, 4, 3, NULL, NULL, &s1, &m1, &err), 0);
        ck_assert_mem_eq(m1->weights, m->weights, 12 * sizeof(float));
        ck_assert_mem_eq(m1->intercept, m->intercept, 3 * sizeof(float));
        linear_model_free(m1);
        /* the scaler: training features have mean ~0 and sd ~1 after scaling */
        double mu = 0;
        for (size_t i = 0; i < tr.n_rows; i++)
            mu += (tr.x[i * 4 + 2] - m->mean[2]) / m->scale[2];
        ck_assert(fabs(mu / (double)tr.n_rows) < 1e-4);
        float prob[30 * 3], prob2[30 * 3], scores[30 * 3];
        ck_assert_int_eq(linear_predict(m, te.x, te.n_rows, prob, scores), 0);
        size_t right = 0;
        for (size_t i = 0; i < te.n_rows; i++) {
            ck_assert_float_eq_tol(prob[i * 3] + prob[i * 3 + 1] + prob[i * 3 + 2], 1.0f, 1e-5f);
            size_t k = 0;
            for (size_t c = 1; c < 3; c++)
                if (scores[i * 3 + c] > scores[i * 3 + k])
                    k = c;
            /* probabilities rank classes as the decision values do */
            for (size_t c = 0; c < 3; c++)
                ck_assert(prob[i * 3 + c] <= prob[i * 3 + k]);
            right += (int32_t)k == te.y[i];
        }
        /* scikit-learn on this split: LinearSVC(hinge) 25/30, LinearSVC() 27/30,
         * LogisticRegression 28/30 (one-vs-rest hinge is weak on versicolor) */
        ck_assert_msg(right >= (loss == LINEAR_HINGE ? 24u : 26u),
                      "loss %d: iris test accuracy %zu/30", loss, right);
        /* one row at a time (the sgemv path) equals the batch (sgemm) */
        for (size_t i = 0; i < te.n_rows; i++)
            ck_assert_int_eq(linear_predict(m, te.x + i * 4, 1, prob2 + i * 3, NULL), 0);
        for (size_t i = 0; i < 90; i++)
            ck_assert_float_eq_tol(prob[i], prob2[i], 1e-5f);

        /* round trip through a buffer */
        st_writer *w = st_writer_new();
        ck_assert_int_eq(linear_write(m, w, NULL, "fp"), 0);
        void *buf;
        size_t len;
        ck_assert_int_eq(st_writer_to_buffer(w, &buf, &len, &err), 0);
        st_writer_free(w);
        st_file *f;
        ck_assert_int_eq(st_open_buffer(buf, len, &f, &err), 0);
        ck_assert_int_eq(linear_from_file(f, &g, &err), 0);
        st_close(f);
        ck_assert_int_eq(g->loss, loss);
        ck_assert_str_eq(g->class_names[2], "virginica");
        ck_assert_uint_eq(g->io.n_features, 4);
        ck_assert_int_eq(linear_predict(g, te.x, te.n_rows, prob2, NULL), 0);
        ck_assert_mem_eq(prob, prob2, sizeof prob);
        linear_model_free(g);
        free(buf);

        /* refusals: scale 0, non-finite weight, unknown loss */
        for (int c = 0; c < 3; c++) {
            float sv = m->scale[1], wv = m->weights[5];
            enum linear_loss lv = m->loss;
            if (c == 0)
                m->scale[1] = 0;
            else if (c == 1)
                m->weights[5] = NAN;
            w = st_writer_new();
            ck_assert_int_eq(linear_write(m, w, NULL, "fp"), 0);
            if (c == 2)
                st_writer_meta(w, "loss", "hinge2");
            ck_assert_int_eq(st_writer_to_buffer(w, &buf, &len, &err), 0);
            st_writer_free(w);
            ck_assert_int_eq(st_open_buffer(buf, len, &f, &err), 0);
            ck_assert_int_eq(linear_from_file(f, &g, &err), ENC_EFORMAT);
            ck_assert_ptr_nonnull(strstr(err.msg, c == 0 ? "scale" : c == 1 ? "weights" : "loss"));
            st_close(f);
            free(buf);
            m->scale[1] = sv;
            m->weights[5] = wv;
            m->loss = lv;
        }
        linear_model_free(m);
    }
    csvt_clear(&tr);
    csvt_clear(&te);
}
END_TEST

START_TEST(two_classes_and_repository)
{
    /* versicolor vs virginica only: one binary fit stored as +- rows */
    struct csvt_table t;
    load_iris("tests/data/iris/iris.csv", &t);
    size_t idx[100];
    for (size_t i = 0; i < 100; i++)
        idx[i] = 50 + i;
    struct csvt_table s2;
    ck_assert_int_eq(csvt_subset(&t, idx, 100, &s2), 0);
    for (size_t i = 0; i < 100; i++)
        s2.y[i] -= 1;
    const char *names[] = {"versicolor", "virginica"};
    struct linear_solver s;
    linear_solver_default(&s, LINEAR_LOGISTIC);
    struct linear_model *m;
    enc_err err = {0};
    ck_assert_int_eq(linear_train(s2.x, s2.y, 100, 4, 2, NULL, names, &s, &m, &err), 0);
    for (size_t j = 0; j < 4; j++)
        ck_assert_float_eq(m->weights[j], -m->weights[4 + j]);
    ck_assert_float_eq(m->intercept[0], -m->intercept[1]);
    ck_assert_str_eq(m->feature_names[0], "f0");
    float p[2], sc[2];
    ck_assert_int_eq(linear_predict(m, s2.x, 1, p, sc), 0);
    ck_assert_float_eq_tol(p[1], 1.0f / (1.0f + expf(-sc[1])), 1e-5f); /* exact binary logistic */

    char *dir = tu_tmpdir();
    char out[600];
    snprintf(out, sizeof out, "%s/repo/vv", dir);
    json_t *hyper = linear_solver_json(&s);
    int64_t v;
    ck_assert_int_eq(model_save(&linear_ops, m, hyper, "fp", out, 0, &v, &err), 0);
    json_decref(hyper);
    char *path;
    ck_assert_int_eq(repo_resolve(out, &path, NULL, NULL, &err), 0);
    struct model *mm;
    ck_assert_msg(model_load("vv", v, path, &model_default_opts, &mm, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(mm->ops->family, "linear");
    float q[2];
    struct model_batch b = {1, s2.x, NULL, NULL};
    ck_assert_int_eq(mm->ops->predict(mm->state, &b, q, &err), 0);
    ck_assert_float_eq_tol(q[0], p[0], 1e-6f);
    struct linear_solver s3;
    linear_solver_default(&s3, LINEAR_HINGE);
    json_t *h = json_loads(st_meta(mm->file, "hyperparameters"), 0, NULL);
    ck_assert_int_eq(linear_solver_from_json(h, &s3, &err), 0);
    ck_assert_int_eq(s3.loss, LINEAR_LOGISTIC);
    json_decref(h);
    model_unref(mm);
    free(path);
    tu_rmrf(dir);
    free(dir);
    linear_model_free(m);
    csvt_clear(&s2);
    csvt_clear(&t);
}
END_TEST

/* Gradient norm of the multinomial objective at a model's weights, on the
 * standardised rows (independent of the solver's code). */
static double multinomial_grad_norm(const struct linear_model *m, const struct csvt_table *t,
                                    double C)
{
    size_t D = t->n_features, K = t->n_classes;
    double g[3 * 5] = {0};
    for (size_t k = 0; k < K; k++)
        for (size_t j = 0; j < D; j++)
            g[k * 5 + j] = m->weights[k * D + j];
    for (size_t i = 0; i < t->n_rows; i++) {
        double z[4], s[3], mx = -1e300, sum = 0;
        for (size_t j = 0; j < D; j++)
            z[j] = (t->x[i * D + j] - m->mean[j]) / m->scale[j];
        for (size_t k = 0; k < K; k++) {
            s[k] = m->intercept[k];
            for (size_t j = 0; j < D; j++)
                s[k] += m->weights[k * D + j] * z[j];
            mx = s[k] > mx ? s[k] : mx;
        }
        for (size_t k = 0; k < K; k++)
            sum += (s[k] = exp(s[k] - mx));
        for (size_t k = 0; k < K; k++) {
            double r = C * (s[k] / sum - ((size_t)t->y[i] == k));
            for (size_t j = 0; j < D; j++)
                g[k * 5 + j] += r * z[j];
            g[k * 5 + 4] += r;
        }
    }
    double n2 = 0;
    for (size_t i = 0; i < 15; i++)
        n2 += g[i] * g[i];
    return sqrt(n2);
}

START_TEST(multinomial_logistic)
{
    struct csvt_table t;
    load_iris("tests/data/iris/iris.csv", &t);
    struct linear_solver s;
    linear_solver_default(&s, LINEAR_LOGISTIC);
    s.tol = 1e-8;
    s.multinomial = 1;
    struct linear_model *m, *ovr, *g;
    enc_err err = {0};
    const char *const *fn = (const char *const *)t.feature_names, *const *cn = (const char *const *)
                                                                                   t.class_names;
    ck_assert_int_eq(linear_train(t.x, t.y, 150, 4, 3, fn, cn, &s, &m, &err), 0);
    ck_assert(m->multinomial);
    ck_assert(m->info.converged);
    s.multinomial = 0;
    ck_assert_int_eq(linear_train(t.x, t.y, 150, 4, 3, fn, cn, &s, &ovr, &err), 0);
    ck_assert(!ovr->multinomial);
    double gm = multinomial_grad_norm(m, &t, 1.0), go = multinomial_grad_norm(ovr, &t, 1.0);
    ck_assert_msg(gm < 1e-3, "multinomial gradient %g at the solution", gm);
    ck_assert_msg(go > 0.1, "one-vs-rest weights are also multinomial-optimal? (%g)", go);
    /* intercepts are centred; probabilities are the softmax of the scores */
    ck_assert_float_eq_tol(m->intercept[0] + m->intercept[1] + m->intercept[2], 0.0f, 1e-5f);
    float p[3], sc[3];
    ck_assert_int_eq(linear_predict(m, t.x + 60 * 4, 1, p, sc), 0);
    double e0 = exp(sc[0]), e1 = exp(sc[1]), e2 = exp(sc[2]);
    ck_assert_float_eq_tol(p[1], (float)(e1 / (e0 + e1 + e2)), 1e-5f);
    /* training accuracy on iris (sklearn's LogisticRegression: 146/150 = 0.973) */
    float prob[150 * 3];
    ck_assert_int_eq(linear_predict(m, t.x, 150, prob, NULL), 0);
    size_t right = 0;
    for (size_t i = 0; i < 150; i++) {
        size_t k = prob[i * 3 + 1] > prob[i * 3] ? 1 : 0;
        k = prob[i * 3 + 2] > prob[i * 3 + k] ? 2 : k;
        right += (int32_t)k == t.y[i];
    }
    ck_assert_msg(right >= 144, "multinomial iris training accuracy %zu/150", right);
    /* round trip keeps multi_class; hinge + multinomial is refused */
    st_writer *w = st_writer_new();
    ck_assert_int_eq(linear_write(m, w, NULL, "fp"), 0);
    void *buf;
    size_t len;
    ck_assert_int_eq(st_writer_to_buffer(w, &buf, &len, &err), 0);
    st_writer_free(w);
    st_file *f;
    ck_assert_int_eq(st_open_buffer(buf, len, &f, &err), 0);
    ck_assert_int_eq(linear_from_file(f, &g, &err), 0);
    ck_assert(g->multinomial);
    float q[3];
    ck_assert_int_eq(linear_predict(g, t.x + 60 * 4, 1, q, NULL), 0);
    ck_assert_mem_eq(p, q, sizeof p);
    linear_model_free(g);
    st_close(f);
    free(buf);
    m->loss = LINEAR_HINGE;
    w = st_writer_new();
    ck_assert_int_eq(linear_write(m, w, NULL, "fp"), 0);
    ck_assert_int_eq(st_writer_to_buffer(w, &buf, &len, &err), 0);
    st_writer_free(w);
    ck_assert_int_eq(st_open_buffer(buf, len, &f, &err), 0);
    ck_assert_int_eq(linear_from_file(f, &g, &err), ENC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "multinomial"));
    st_close(f);
    free(buf);
    linear_model_free(m);
    linear_model_free(ovr);
    csvt_clear(&t);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("linear");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, separable_hard_margin);
    tcase_add_test(tc, non_separable_optimal);
    tcase_add_test(tc, iris_ovr_and_round_trip);
    tcase_add_test(tc, two_classes_and_repository);
    tcase_add_test(tc, multinomial_logistic);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
