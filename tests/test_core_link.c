/*
 * test_core_link.c - models/core on its own: this test links encore_core and
 * nothing else (CMakeLists.txt: test_core_*), so it fails to build if core
 * names any family. A toy family defined here goes through the whole
 * lifecycle that core owns: model_save over ops->write, model_load through a
 * caller's family table and load options, describe, predict, refcounting;
 * and the refusals (a family the table lacks, no table, an option a family
 * cannot honour).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/model.h"
#include "core/repo.h"
#include "core/st.h"
#include "testutil.h"

/* ---- the toy family: y = w . x, classes "no" / "yes" ---------------------- */

struct toy {
    float w[3];
    enum model_precision loaded_with;
    struct model_io io;
};

static const char *const toy_classes[2] = {"no", "yes"};

static int toy_write(const void *data, st_writer *w, const json_t *hyper, const char *fp)
{
    const struct toy *t = data;
    int64_t shape[1] = {3};
    int rc = model_write_common_meta(w, "toy", hyper, fp);
    return rc ? rc : st_writer_add(w, "w", ST_F32, 1, shape, t->w);
}

static int toy_load(const st_file *f, const struct model_load_opts *opts, void **state,
                    enc_err *err)
{
    const st_tensor *t;
    int64_t shape[1] = {3};
    int rc = st_expect(f, "w", ST_F32, 1, shape, &t, err);
    if (rc)
        return rc;
    struct toy *m = calloc(1, sizeof *m);
    if (!m)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    memcpy(m->w, t->data, sizeof m->w);
    m->loaded_with = opts->precision;
    m->io = (struct model_io){.kind = MODEL_INPUT_NUMERIC,
                              .n_features = 3,
                              .ndim = 1,
                              .shape = {3},
                              .n_classes = 2,
                              .class_names = toy_classes};
    *state = m;
    return 0;
}

static void toy_free(void *state)
{
    free(state);
}

static size_t toy_mem(const void *state)
{
    return sizeof(struct toy);
}

static int toy_describe(const void *state, json_t *o)
{
    const struct toy *m = state;
    return json_object_set_new(o, "precision", json_string(model_precision_name(m->loaded_with)))
               ? ENC_ENOMEM
               : 0;
}

static int toy_check(const struct model_load_opts *opts, enc_err *err)
{
    if (opts->precision == MODEL_PRECISION_F16)
        return enc_errf(err, ENC_EUNSUPPORTED, "toy: no f16 here");
    return 0;
}

static const struct model_io *toy_io(const void *state)
{
    return &((const struct toy *)state)->io;
}

static int toy_predict(const void *state, const struct model_batch *b, float *prob, enc_err *err)
{
    const struct toy *m = state;
    for (size_t i = 0; i < b->n; i++) {
        const float *x = b->x + 3 * i;
        float y = m->w[0] * x[0] + m->w[1] * x[1] + m->w[2] * x[2];
        prob[2 * i + 1] = 1.0f / (1.0f + expf(-y));
        prob[2 * i] = 1.0f - prob[2 * i + 1];
    }
    return 0;
}

static const struct model_ops toy_ops = {
    .family = "toy",
    .task = MODEL_TASK_CLASSIFY,
    .load = toy_load,
    .free = toy_free,
    .mem_usage = toy_mem,
    .describe = toy_describe,
    .write = toy_write,
    .check_opts = toy_check,
    .io = toy_io,
    .predict = toy_predict,
};

static const struct model_ops *const toy_table[] = {&toy_ops, NULL};
static const struct model_ops *const empty_table[] = {NULL};

/* ---- tests ------------------------------------------------------------------ */

START_TEST(save_load_predict_through_a_table)
{
    char *repo = tu_tmpdir(), out[4200], path[4300];
    snprintf(out, sizeof out, "%s/toy", repo);
    struct toy t = {.w = {1, -2, 0.5f}};
    json_t *hyper = json_pack("{s:i}", "steps", 3);
    enc_err err = {0};
    int64_t v = 0;
    ck_assert_msg(model_save(&toy_ops, &t, hyper, "fp", out, 0, &v, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(v, 1);
    json_decref(hyper);
    snprintf(path, sizeof path, "%s/toy/1/model.safetensors", repo);

    struct model_load_opts lo = {.families = toy_table};
    ck_assert_int_eq(model_precision_parse("i8", &lo.precision, &err), 0);
    struct model *m = NULL;
    ck_assert_msg(model_load("toy", 1, path, &lo, &m, &err) == 0, "%s", err.msg);
    ck_assert_ptr_eq(m->ops, &toy_ops);
    json_t *d = model_describe(m);
    ck_assert_str_eq(json_string_value(json_object_get(d, "family")), "toy");
    ck_assert_str_eq(json_string_value(json_object_get(d, "precision")), "i8");
    ck_assert_str_eq(json_string_value(json_object_get(d, "data_fingerprint")), "fp");
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_object_get(d, "hyperparameters"), "steps")), 3);
    json_decref(d);
    float x[3] = {2, 1, 0}, prob[2];
    struct model_batch b = {.n = 1, .x = x};
    ck_assert_int_eq(m->ops->predict(m->state, &b, prob, &err), 0);
    ck_assert_float_eq_tol(prob[1], 0.5f, 1e-6); /* 2 - 2 + 0 = 0 */
    ck_assert_ptr_eq(model_ref(m), m);
    model_unref(m);
    model_unref(m);

    /* a table without the family, and no table at all */
    lo.families = empty_table;
    ck_assert_int_eq(model_load("toy", 1, path, &lo, &m, &err), ENC_EUNSUPPORTED);
    ck_assert_ptr_null(m);
    ck_assert(strstr(err.msg, "unknown model family 'toy'"));
    lo.families = NULL;
    ck_assert_int_eq(model_load("toy", 1, path, &lo, &m, &err), ENC_EINVAL);
    /* the version is immutable once published */
    ck_assert_int_ne(model_save(&toy_ops, &t, NULL, NULL, out, 1, NULL, &err), 0);
    tu_rmrf(repo);
    free(repo);
}
END_TEST

START_TEST(load_options)
{
    enc_err err = {0};
    enum model_precision p = MODEL_PRECISION_F32;
    static const char *const names[] = {"auto", "i8", "f32", "f16"};
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(model_precision_parse(names[i], &p, &err), 0);
        ck_assert_str_eq(model_precision_name(p), names[i]);
    }
    ck_assert_int_eq(model_precision_parse("f8", &p, &err), ENC_EINVAL);
    ck_assert(strstr(err.msg, "auto, i8, f32 or f16"));
    struct model_load_opts lo = {.families = toy_table, .precision = MODEL_PRECISION_F16};
    ck_assert_int_eq(model_load_opts_check(&lo, &err), ENC_EUNSUPPORTED);
    ck_assert(strstr(err.msg, "toy: no f16"));
    lo.precision = MODEL_PRECISION_AUTO;
    ck_assert_int_eq(model_load_opts_check(&lo, &err), 0);
    lo.families = NULL;
    ck_assert_int_eq(model_load_opts_check(&lo, &err), ENC_EINVAL);
    ck_assert_ptr_eq(model_family_find(toy_table, "toy"), &toy_ops);
    ck_assert_ptr_null(model_family_find(toy_table, "mf"));
    ck_assert_ptr_null(model_family_find(NULL, "toy"));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("core_link");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, save_load_predict_through_a_table);
    tcase_add_test(tc, load_options);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
