/* test_forest.c - random forest: split finding, a tree on a problem with a
 * known structure, determinism for a seed across thread counts, OOB accuracy
 * and importances on iris, save/load round trips (buffer and repository) and
 * refusal of corrupted node arrays. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/model.h"
#include "core/repo.h"
#include "families.h"
#include "forest/forest.h"
#include "table/csvtable.h"
#include "testutil.h"

static struct forest_params one_tree(void)
{
    struct forest_params p;
    forest_params_default(&p);
    p.n_trees = 1;
    p.bootstrap = 0;
    p.max_features = 1000; /* capped at D: every feature, a plain CART tree */
    return p;
}

static void load_iris(const char *rel, struct csvt_table *t)
{
    struct csvt_options o = {.format = CSVT_PLAIN, .label = "species"};
    enc_err err = {0};
    ck_assert_msg(csvt_read(tu_src(rel), &o, t, &err) == 0, "%s", err.msg);
}

START_TEST(split_one_feature)
{
    /* x = 0..9, class 1 iff x >= 6: one split at the midpoint 5.5 */
    float x[10];
    int32_t y[10];
    for (int i = 0; i < 10; i++) {
        x[i] = (float)((i * 7) % 10); /* shuffled order */
        y[i] = x[i] >= 6;
    }
    struct forest_params p = one_tree();
    struct forest *f;
    enc_err err = {0};
    ck_assert_int_eq(forest_train(x, y, 10, 1, 2, NULL, NULL, &p, &f, &err), 0);
    ck_assert_uint_eq(f->n_nodes, 3);
    ck_assert_int_eq(f->feature[0], 0);
    ck_assert_float_eq_tol(f->threshold[0], 5.5f, 1e-6f);
    ck_assert_int_eq(f->feature[f->left[0]], -1);
    ck_assert_float_eq(f->value[f->left[0] * 2 + 0], 1.0f); /* left leaf: all class 0 */
    ck_assert_float_eq(f->value[f->right[0] * 2 + 1], 1.0f);
    ck_assert_str_eq(f->feature_names[0], "f0");
    ck_assert_str_eq(f->class_names[1], "1");
    forest_free(f);

    /* min_samples_leaf 5 forbids the 6/4 split: the best legal one is 5/5 at 4.5 */
    p.min_samples_leaf = 5;
    ck_assert_int_eq(forest_train(x, y, 10, 1, 2, NULL, NULL, &p, &f, &err), 0);
    ck_assert_float_eq_tol(f->threshold[0], 4.5f, 1e-6f);
    forest_free(f);

    /* max_depth 0 vs 1 on a 3-class line: depth 1 leaves an impure leaf */
    float x3[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
    int32_t y3[9] = {0, 0, 0, 1, 1, 1, 2, 2, 2};
    p.min_samples_leaf = 1;
    p.max_depth = 1;
    ck_assert_int_eq(forest_train(x3, y3, 9, 1, 3, NULL, NULL, &p, &f, &err), 0);
    ck_assert_uint_eq(f->n_nodes, 3);
    forest_free(f);
    p.max_depth = 0;
    ck_assert_int_eq(forest_train(x3, y3, 9, 1, 3, NULL, NULL, &p, &f, &err), 0);
    ck_assert_uint_eq(f->n_nodes, 5);
    float prob[3];
    forest_predict(f, &x3[4], 1, prob);
    ck_assert_float_eq(prob[1], 1.0f);
    forest_free(f);

    /* constant feature: no split, one leaf with the class frequencies */
    float xc[4] = {1, 1, 1, 1};
    int32_t yc[4] = {0, 1, 1, 1};
    ck_assert_int_eq(forest_train(xc, yc, 4, 1, 2, NULL, NULL, &p, &f, &err), 0);
    ck_assert_uint_eq(f->n_nodes, 1);
    ck_assert_float_eq_tol(f->value[1], 0.75f, 1e-6f);
    forest_free(f);
}
END_TEST

START_TEST(known_structure)
{
    /* 10 x 10 grid on [0,1]^2 plus a noise feature; class 1 iff x0 > 0.3 and
     * x1 > 0.6. CART must find exactly the two axis splits: 5 nodes. */
    float x[100 * 3];
    int32_t y[100];
    uint32_t s = 12345;
    for (int i = 0; i < 10; i++)
        for (int j = 0; j < 10; j++) {
            int r = i * 10 + j;
            x[r * 3 + 0] = 0.05f + 0.1f * (float)i;
            x[r * 3 + 1] = 0.05f + 0.1f * (float)j;
            s = s * 1103515245u + 12345u;
            x[r * 3 + 2] = (float)((s >> 8) & 0xffff) / 65536.0f;
            y[r] = x[r * 3] > 0.3f && x[r * 3 + 1] > 0.6f;
        }
    struct forest_params p = one_tree();
    struct forest *f;
    enc_err err = {0};
    ck_assert_int_eq(forest_train(x, y, 100, 3, 2, NULL, NULL, &p, &f, &err), 0);
    ck_assert_uint_eq(f->n_nodes, 5);
    int saw0 = 0, saw1 = 0;
    for (size_t i = 0; i < f->n_nodes; i++) {
        if (f->feature[i] == 0) {
            saw0 = 1;
            ck_assert_float_eq_tol(f->threshold[i], 0.3f, 1e-5f);
        } else if (f->feature[i] == 1) {
            saw1 = 1;
            ck_assert_float_eq_tol(f->threshold[i], 0.6f, 1e-5f);
        } else {
            ck_assert_int_eq(f->feature[i], -1);
        }
    }
    ck_assert(saw0 && saw1);
    ck_assert_float_eq(f->importances[2], 0.0f);
    ck_assert_float_eq_tol(f->importances[0] + f->importances[1], 1.0f, 1e-6f);
    float prob[200];
    forest_predict(f, x, 100, prob);
    for (int r = 0; r < 100; r++)
        ck_assert_float_eq(prob[r * 2 + y[r]], 1.0f);
    forest_free(f);
}
END_TEST

static int same_forest(const struct forest *a, const struct forest *b)
{
    return a->n_nodes == b->n_nodes && a->n_trees == b->n_trees &&
           !memcmp(a->tree_offsets, b->tree_offsets, (a->n_trees + 1) * sizeof(int64_t)) &&
           !memcmp(a->feature, b->feature, a->n_nodes * sizeof(int32_t)) &&
           !memcmp(a->threshold, b->threshold, a->n_nodes * sizeof(float)) &&
           !memcmp(a->left, b->left, a->n_nodes * sizeof(int32_t)) &&
           !memcmp(a->right, b->right, a->n_nodes * sizeof(int32_t)) &&
           !memcmp(a->value, b->value, a->n_nodes * a->n_classes * sizeof(float)) &&
           !memcmp(a->importances, b->importances, a->n_features * sizeof(float));
}

START_TEST(determinism_and_iris)
{
    struct csvt_table tr, te;
    load_iris("tests/data/iris/train.csv", &tr);
    load_iris("tests/data/iris/test.csv", &te);
    struct forest_params p;
    forest_params_default(&p);
    p.n_trees = 50;
    p.seed = 7;
    struct forest *a, *b, *c;
    enc_err err = {0};
    const char *const *fn = (const char *const *)tr.feature_names, *const *cn =
                                                                       (const char *const *)
                                                                           tr.class_names;
    ck_assert_int_eq(forest_train(tr.x, tr.y, tr.n_rows, 4, 3, fn, cn, &p, &a, &err), 0);
    p.threads = 3;
    ck_assert_int_eq(forest_train(tr.x, tr.y, tr.n_rows, 4, 3, fn, cn, &p, &b, &err), 0);
    ck_assert_msg(same_forest(a, b), "1 and 3 threads differ for one seed");
    ck_assert(a->oob_accuracy == b->oob_accuracy);
    p.seed = 8;
    ck_assert_int_eq(forest_train(tr.x, tr.y, tr.n_rows, 4, 3, fn, cn, &p, &c, &err), 0);
    ck_assert_msg(!same_forest(a, c), "seeds 7 and 8 gave the same forest");

    /* iris: OOB and held-out accuracy, petal features matter most */
    ck_assert_msg(a->oob_accuracy > 0.9 && a->oob_accuracy <= 1.0, "oob %f", a->oob_accuracy);
    float *prob = malloc(te.n_rows * 3 * sizeof *prob);
    forest_predict(a, te.x, te.n_rows, prob);
    size_t right = 0;
    for (size_t i = 0; i < te.n_rows; i++) {
        float s = prob[i * 3] + prob[i * 3 + 1] + prob[i * 3 + 2];
        ck_assert_float_eq_tol(s, 1.0f, 1e-5f);
        size_t k = prob[i * 3 + 1] > prob[i * 3] ? 1 : 0;
        k = prob[i * 3 + 2] > prob[i * 3 + k] ? 2 : k;
        right += (int32_t)k == te.y[i];
    }
    ck_assert_msg(right >= 27, "iris test accuracy %zu/30", right);
    float isum = 0;
    for (int j = 0; j < 4; j++)
        isum += a->importances[j];
    ck_assert_float_eq_tol(isum, 1.0f, 1e-5f);
    ck_assert(a->importances[2] + a->importances[3] > a->importances[0] + a->importances[1]);

    /* no bootstrap: no OOB estimate */
    p.bootstrap = 0;
    p.n_trees = 2;
    struct forest *d;
    ck_assert_int_eq(forest_train(tr.x, tr.y, tr.n_rows, 4, 3, fn, cn, &p, &d, &err), 0);
    ck_assert(isnan(d->oob_accuracy));
    forest_free(d);

    /* bad parameters and labels */
    p.n_trees = 0;
    ck_assert_int_eq(forest_train(tr.x, tr.y, tr.n_rows, 4, 3, fn, cn, &p, &d, &err), ENC_EINVAL);
    p.n_trees = 1;
    ck_assert_int_eq(forest_train(tr.x, tr.y, tr.n_rows, 4, 2, fn, cn, &p, &d, &err), ENC_EINVAL);
    free(prob);
    forest_free(a);
    forest_free(b);
    forest_free(c);
    csvt_clear(&tr);
    csvt_clear(&te);
}
END_TEST

/* Serialize f to memory and load it back (rc of forest_from_file). */
static int roundtrip(const struct forest *f, struct forest **out, enc_err *err)
{
    st_writer *w = st_writer_new();
    void *buf;
    size_t len;
    ck_assert_int_eq(forest_write(f, w, NULL, "fp"), 0);
    ck_assert_int_eq(st_writer_to_buffer(w, &buf, &len, err), 0);
    st_writer_free(w);
    st_file *sf;
    ck_assert_int_eq(st_open_buffer(buf, len, &sf, err), 0);
    free(buf);
    int rc = forest_from_file(sf, out, err);
    st_close(sf);
    return rc;
}

START_TEST(save_load_and_corruption)
{
    struct csvt_table t;
    load_iris("tests/data/iris/iris.csv", &t);
    struct forest_params p;
    forest_params_default(&p);
    p.n_trees = 10;
    struct forest *f, *g;
    enc_err err = {0};
    ck_assert_int_eq(forest_train(t.x, t.y, t.n_rows, 4, 3, (const char *const *)t.feature_names,
                                  (const char *const *)t.class_names, &p, &f, &err),
                     0);
    ck_assert_int_eq(roundtrip(f, &g, &err), 0);
    ck_assert(same_forest(f, g));
    ck_assert_str_eq(g->class_names[1], "versicolor");
    ck_assert_str_eq(g->io.feature_names[3], "petal_width");
    ck_assert_uint_eq(g->io.n_features, 4);
    ck_assert_int_eq(g->io.shape[0], 4);
    ck_assert_float_eq_tol((float)g->oob_accuracy, (float)f->oob_accuracy, 1e-5f);
    float pa[150 * 3], pb[150 * 3];
    forest_predict(f, t.x, 150, pa);
    forest_predict(g, t.x, 150, pb);
    ck_assert_mem_eq(pa, pb, sizeof pa);
    forest_free(g);

    /* Through the repository and the family table, as the server loads it. */
    char *dir = tu_tmpdir();
    char out[600];
    snprintf(out, sizeof out, "%s/repo/iris", dir);
    json_t *hyper = forest_params_json(&p);
    int64_t v;
    ck_assert_int_eq(model_save(&forest_ops, f, hyper, "fp", out, 0, &v, &err), 0);
    json_decref(hyper);
    ck_assert_int_eq(v, 1);
    char *path;
    ck_assert_int_eq(repo_resolve(out, &path, NULL, NULL, &err), 0);
    struct model *m;
    ck_assert_msg(model_load("iris", 1, path, &model_default_opts, &m, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(m->ops->family, "forest");
    const struct model_io *io = m->ops->io(m->state);
    ck_assert_int_eq(io->kind, MODEL_INPUT_NUMERIC);
    ck_assert_uint_eq(io->n_classes, 3);
    struct model_batch b = {150, t.x, NULL, NULL};
    ck_assert_int_eq(m->ops->predict(m->state, &b, pb, &err), 0);
    ck_assert_mem_eq(pa, pb, sizeof pa);
    json_t *d = model_describe(m);
    ck_assert_int_eq(json_integer_value(json_object_get(d, "trees")), 10);
    json_decref(d);
    model_unref(m);
    free(path);
    tu_rmrf(dir);
    free(dir);

    /* Corrupted node arrays: each refused with a message naming the problem. */
    size_t internal = 0;
    while (f->feature[internal] < 0)
        internal++;
    size_t leaf = (size_t)f->left[internal];
    while (f->feature[leaf] >= 0)
        leaf++;
    static const char *const want[] = {"children",   "children",    "children",
                                       "feature",    "threshold",   "leaf with children",
                                       "leaf value", "tree_offsets"};
    for (size_t c = 0; c < sizeof want / sizeof *want; c++) {
        int32_t sl = f->left[internal], sr = f->right[internal], sf = f->feature[internal];
        int32_t lf = f->left[leaf];
        float st = f->threshold[internal], sv = f->value[leaf * 3];
        int64_t so = f->tree_offsets[1];
        switch (c) {
        case 0:
            f->left[internal] = (int32_t)internal;
            break; /* self loop */
        case 1:
            f->right[internal] = 100000;
            break; /* out of range */
        case 2:
            f->left[internal] = -1;
            break; /* internal without child */
        case 3:
            f->feature[internal] = 4;
            break; /* feature >= D */
        case 4:
            f->threshold[internal] = NAN;
            break;
        case 5:
            f->left[leaf] = (int32_t)leaf + 1;
            break;
        case 6:
            f->value[leaf * 3] = INFINITY;
            break;
        case 7:
            f->tree_offsets[1] = f->tree_offsets[0];
            break; /* empty tree */
        }
        int rc = roundtrip(f, &g, &err);
        ck_assert_msg(rc == ENC_EFORMAT, "case %zu accepted (rc %d)", c, rc);
        ck_assert_msg(strstr(err.msg, want[c]), "case %zu: '%s' lacks '%s'", c, err.msg, want[c]);
        f->left[internal] = sl;
        f->right[internal] = sr;
        f->feature[internal] = sf;
        f->threshold[internal] = st;
        f->left[leaf] = lf;
        f->value[leaf * 3] = sv;
        f->tree_offsets[1] = so;
    }
    ck_assert_int_eq(roundtrip(f, &g, &err), 0); /* restored: accepted again */
    forest_free(g);
    forest_free(f);
    csvt_clear(&t);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("forest");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, split_one_feature);
    tcase_add_test(tc, known_structure);
    tcase_add_test(tc, determinism_and_iris);
    tcase_add_test(tc, save_load_and_corruption);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
