/*
 * test_failalloc.c - every allocation of the model loaders and the JSON
 * writers made to fail in turn (tests/failalloc.h): each run must end in
 * success with the same result as without failures, or in a negative code
 * with a message; nothing may crash, and ASan's leak checker (the ASan+UBSan
 * suite) sees what an error path forgot to free.
 *
 *   loaders: model_load of one file per family (the fuzz corpus's seeds:
 *            mf, forest, linear, text, cnn, cnn with batch norm) + describe,
 *            and a classifier's predictions compared with the clean run's
 *   writers: KServe V1 and OIP V2 responses (protocol.c), V2 metadata,
 *            model_describe, registry_list / registry_describe, buf's text
 *            writers
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/model.h"
#include "core/repo.h"
#include "failalloc.h"
#include "families.h"
#include "protocol.h"
#include "registry.h"
#include "testutil.h"

/* ---- loaders --------------------------------------------------------------- */

struct load_case {
    const char *file; /* under tests/fuzz/corpus_model */
    const char *family;
    int have_base;
    size_t n_prob;
    float base[2 * 64];  /* the clean run's probabilities */
    char *base_describe; /* the clean run's describe, without timings */
};

/* describe without the fields that differ between two loads of one file */
static char *describe_text(const struct model *m)
{
    json_t *d = model_describe(m);
    if (!d)
        return NULL;
    json_object_del(d, "load_seconds");
    json_object_del(d, "loaded_at");
    char *s = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(d);
    return s;
}

static int load_op(void *ctx)
{
    struct load_case *c = ctx;
    char path[4096];
    snprintf(path, sizeof path, "%s", tu_src("tests/fuzz/corpus_model"));
    snprintf(path + strlen(path), sizeof path - strlen(path), "/%s", c->file);
    struct model *m = NULL;
    enc_err err = {0};
    int rc = model_load("m", 1, path, &model_default_opts, &m, &err);
    if (rc)
        return !err.msg[0] ? fa_wrong("%s: refused (%d) without a message", c->file, rc)
               : m         ? fa_wrong("%s: refused, yet a model was returned", c->file)
                           : rc;
    if (strcmp(m->ops->family, c->family)) {
        model_unref(m);
        return fa_wrong("%s: loaded as %s", c->file, m->ops->family);
    }
    char *d = describe_text(m);
    if (!d) {
        model_unref(m);
        return ENC_ENOMEM;
    }
    if (!c->base_describe)
        c->base_describe = d;
    else {
        int same = !strcmp(d, c->base_describe);
        free(d);
        if (!same) {
            model_unref(m);
            return fa_wrong("%s: describe differs from the clean run's (%s)", c->file,
                            c->base_describe);
        }
    }
    const struct model_io *io = m->ops->io ? m->ops->io(m->state) : NULL;
    if (io && m->ops->predict && io->n_classes <= 64) {
        float prob[2 * 64];
        float *x = NULL;
        const char *text[2] = {"a fine film", "dull"};
        size_t len[2] = {11, 4};
        struct model_batch b = {.n = 2};
        if (io->kind == MODEL_INPUT_TEXT) {
            b.text = text;
            b.text_len = len;
        } else {
            x = malloc(2 * io->n_features * sizeof *x);
            if (!x) {
                model_unref(m);
                return ENC_ENOMEM;
            }
            double lo = isfinite(io->min_value) ? io->min_value : -1,
                   hi = isfinite(io->max_value) ? io->max_value : 1;
            for (size_t k = 0; k < 2 * io->n_features; k++)
                x[k] = (float)(lo + (hi - lo) * (double)(k % 7) / 6.0);
            b.x = x;
        }
        rc = m->ops->predict(m->state, &b, prob, &err);
        free(x);
        if (rc) {
            model_unref(m);
            return err.msg[0] ? rc
                              : fa_wrong("%s: predict failed (%d) without a message", c->file, rc);
        }
        size_t np = 2 * io->n_classes;
        if (!c->have_base) {
            memcpy(c->base, prob, np * sizeof *prob);
            c->n_prob = np;
            c->have_base = 1;
        } else if (np != c->n_prob || memcmp(prob, c->base, np * sizeof *prob)) {
            model_unref(m);
            return fa_wrong("%s: other predictions than the clean run's", c->file);
        }
    }
    model_unref(m);
    return 0;
}

static const struct {
    const char *file, *family;
} load_cases[] = {
    {"mf.safetensors", "mf"},         {"forest.safetensors", "forest"},
    {"linear.safetensors", "linear"}, {"text.safetensors", "text"},
    {"cnn.safetensors", "cnn"},       {"cnn_bn.safetensors", "cnn"},
};

START_TEST(loaders)
{
    struct load_case c = {load_cases[_i].file, load_cases[_i].family, 0, 0, {0}, NULL};
    long n = fa_walk(c.file, load_op, &c);
    printf("%s: %ld allocations, each failed once\n", c.file, n);
    free(c.base_describe);
}
END_TEST

/* ---- writers ----------------------------------------------------------------- */

/* A writer into a buf: on an allocation failure the buf must say so (oom);
 * otherwise its text must be the clean run's. */
struct buf_case {
    const char *what;
    void (*write)(buf *o, void *arg);
    void *arg;
    char *base;
};

static int buf_op(void *ctx)
{
    struct buf_case *c = ctx;
    buf o;
    buf_init(&o);
    c->write(&o, c->arg);
    int rc = 0;
    if (o.oom)
        rc = ENC_ENOMEM;
    else if (!c->base)
        c->base = buf_steal(&o, NULL);
    else if (!o.data || strcmp(o.data, c->base))
        rc = fa_wrong("%s: another text than the clean run's: %.300s", c->what,
                      o.data ? o.data : "(null)");
    buf_free(&o);
    return rc;
}

static void walk_buf(const char *what, void (*write)(buf *, void *), void *arg)
{
    struct buf_case c = {what, write, arg, NULL};
    fa_walk(what, buf_op, &c);
    ck_assert_ptr_nonnull(c.base);
    free(c.base);
}

/* A writer that returns a new JSON value (NULL on allocation failure). */
struct json_case {
    const char *what;
    json_t *(*make)(void *arg);
    void *arg;
    char *base;
};

static int json_op(void *ctx)
{
    struct json_case *c = ctx;
    json_t *j = c->make(c->arg);
    if (!j)
        return ENC_ENOMEM;
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    if (!s)
        return ENC_ENOMEM;
    int rc = 0;
    if (!c->base)
        c->base = s;
    else {
        if (strcmp(s, c->base))
            rc = fa_wrong("%s: another value than the clean run's: %.300s", c->what, s);
        free(s);
    }
    return rc;
}

static void walk_json(const char *what, json_t *(*make)(void *), void *arg)
{
    struct json_case c = {what, make, arg, NULL};
    fa_walk(what, json_op, &c);
    ck_assert_ptr_nonnull(c.base);
    free(c.base);
}

static const char *const classes[3] = {"setosa", "versi\"color\"",
                                       "virgin\xc3\xad"
                                       "ca"};
static const char *const features[4] = {"a", "b", "c", "d"};
static const struct model_io io = {.kind = MODEL_INPUT_NUMERIC,
                                   .n_features = 4,
                                   .ndim = 1,
                                   .shape = {4},
                                   .feature_names = features,
                                   .min_value = -1e30,
                                   .max_value = 1e30,
                                   .n_classes = 3,
                                   .class_names = classes};
static const float prob[9] = {0.7f, 0.2f, 0.1f, 0.05f, 0.9f, 0.05f, 0.3f, 0.3f, 0.4f};

static void write_v1(buf *o, void *arg)
{
    proto_v1_write(o, "iris \"quoted\"", 12, &io, prob, 3);
}

static void write_v2(buf *o, void *arg)
{
    struct proto_v2_req req = {.id = "req-\"7\"", .id_len = 7, .outputs = 3};
    proto_v2_write(o, "iris", 3, &req, &io, prob, 3);
}

static void write_text(buf *o, void *arg)
{
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    buf_puts(o, "{\"s\":");
    buf_json_str(o, "tab\there \"q\" \x01 caf\xc3\xa9 \xff", 22);
    buf_printf(o, ",\"long\":\"%s\",\"n\":", big);
    buf_int(o, -1234567890123LL);
    buf_puts(o, ",\"f\":");
    buf_json_float(o, 3.25);
    buf_puts(o, ",\"nan\":");
    buf_json_float(o, NAN);
    buf_puts(o, "}");
}

static struct model *load_corpus(const char *file)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", tu_src("tests/fuzz/corpus_model"), file);
    struct model *m = NULL;
    enc_err err = {0};
    ck_assert_msg(model_load("m", 1, path, &model_default_opts, &m, &err) == 0, "%s", err.msg);
    return m;
}

static json_t *make_metadata(void *arg)
{
    json_t *versions = json_pack("[s,s]", "2", "1");
    if (!versions)
        return NULL;
    return proto_v2_metadata(arg, versions);
}

static json_t *make_describe(void *arg)
{
    json_t *d = model_describe(arg);
    return d;
}

START_TEST(protocol_writers)
{
    walk_buf("proto_v1_write", write_v1, NULL);
    walk_buf("proto_v2_write", write_v2, NULL);
    walk_buf("buf text writers", write_text, NULL);
}
END_TEST

START_TEST(model_json_writers)
{
    for (size_t i = 0; i < sizeof load_cases / sizeof *load_cases; i++) {
        struct model *m = load_corpus(load_cases[i].file);
        char what[128];
        snprintf(what, sizeof what, "proto_v2_metadata(%s)", load_cases[i].file);
        walk_json(what, make_metadata, m);
        snprintf(what, sizeof what, "model_describe(%s)", load_cases[i].file);
        walk_json(what, make_describe, m);
        model_unref(m);
    }
}
END_TEST

static json_t *make_registry_list(void *arg)
{
    return registry_list(arg);
}

static json_t *make_registry_describe(void *arg)
{
    return registry_describe(arg, "forest");
}

START_TEST(registry_writers)
{
    /* a repository with two models */
    char *repo = tu_tmpdir();
    enc_err err = {0};
    int64_t v;
    const char *files[2] = {"forest.safetensors", "mf.safetensors"}, *names[2] = {"forest", "mf"};
    for (int i = 0; i < 2; i++) {
        char src[4096], out[4200];
        snprintf(src, sizeof src, "%s/%s", tu_src("tests/fuzz/corpus_model"), files[i]);
        snprintf(out, sizeof out, "%s/%s", repo, names[i]);
        ck_assert_msg(repo_publish_file(src, out, 1, &v, &err) == 0, "%s", err.msg);
    }
    struct registry *r;
    ck_assert_int_eq(registry_new(repo, 1, NULL, &r, &err), 0);
    ck_assert_int_eq(registry_load_all(r, &err), 2);
    walk_json("registry_list", make_registry_list, r);
    walk_json("registry_describe", make_registry_describe, r);
    registry_free(r);
    tu_rmrf(repo);
    free(repo);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("failalloc");
    TCase *tc = tcase_create("failalloc");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, loaders, 0, (int)(sizeof load_cases / sizeof *load_cases));
    tcase_add_test(tc, protocol_writers);
    tcase_add_test(tc, model_json_writers);
    tcase_add_test(tc, registry_writers);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
