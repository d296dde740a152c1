/*
 * test_model.c - models/core/model.c with the real family table: what
 * model_load refuses before any family sees the file (not Encore's, a newer
 * format_version, no checksum, an unknown family) and how a family's own
 * refusal is named; the common metadata every trainer writes; model_save's
 * refusals; score precision names; and references taken and dropped from
 * many threads at once (the server's pattern: ASan / TSan check it).
 * (test_core_link covers core with a toy family and no real one.)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/model.h"
#include "core/st.h"
#include "core/version.h"
#include "families.h"
#include "mf_testutil.h"
#include "testutil.h"

static char *dir;

static void setup(void)
{
    dir = tu_tmpdir();
    ck_assert_ptr_nonnull(dir);
}

static void teardown(void)
{
    tu_rmrf(dir);
    free(dir);
}

/* A safetensors file with one F32 tensor "x" and the given metadata pairs
 * (NULL-terminated key, value list); data_sha256 is added unless
 * `no_checksum`. Returns its path (static buffer). */
static const char *file_with(int no_checksum, const char *const *meta)
{
    static char path[4200];
    static int n;
    snprintf(path, sizeof path, "%s/m%d.safetensors", dir, n++);
    float x = 1.5f;
    char sha[65];
    st_sha256_hex(&x, sizeof x, sha);
    json_t *m = json_object();
    for (size_t i = 0; meta[i]; i += 2)
        json_object_set_new(m, meta[i], json_string(meta[i + 1]));
    if (!no_checksum)
        json_object_set_new(m, "data_sha256", json_string(sha));
    json_t *h = json_pack("{s:o, s:{s:s, s:[i], s:[i,i]}}", "__metadata__", m, "x", "dtype", "F32",
                          "shape", 1, "data_offsets", 0, 4);
    char *js = json_dumps(h, JSON_COMPACT);
    json_decref(h);
    /* the data block starts 8-byte aligned: the header is padded with spaces */
    size_t hl = (strlen(js) + 7) / 8 * 8;
    char *hs = malloc(hl + 1);
    memset(hs, ' ', hl);
    memcpy(hs, js, strlen(js));
    hs[hl] = '\0';
    free(js);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    ck_assert(fwrite(len, 1, 8, f) == 8 && fwrite(hs, 1, hl, f) == hl && fwrite(&x, 1, 4, f) == 4);
    ck_assert_int_eq(fclose(f), 0);
    free(hs);
    return path;
}

static int refused(const char *path, const char *needle)
{
    struct model *m = (struct model *)1;
    enc_err err = {0};
    int rc = model_load("m", 1, path, &model_default_opts, &m, &err);
    ck_assert_msg(rc < 0, "%s loaded", path);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(err.msg, needle), "'%s' lacks '%s'", err.msg, needle);
    ck_assert_msg(strstr(err.msg, path), "'%s' does not name the file", err.msg);
    return rc;
}

START_TEST(refused_before_the_family)
{
    const char *no_format[] = {"family", "mf", "format_version", "1", NULL};
    ck_assert_int_eq(refused(file_with(0, no_format), "not an Encore model"), ENC_EFORMAT);
    const char *other[] = {"format", "gguf", "family", "mf", "format_version", "1", NULL};
    ck_assert_int_eq(refused(file_with(0, other), "not an Encore model"), ENC_EFORMAT);
    const char *no_family[] = {"format", "encore", "format_version", "1", NULL};
    ck_assert_int_eq(refused(file_with(0, no_family), "not an Encore model"), ENC_EFORMAT);
    const char *newer[] = {"format", "encore", "family", "mf", "format_version", "99", NULL};
    ck_assert_int_eq(
        refused(file_with(0, newer), "format_version 99, this build reads " MODEL_FORMAT_VERSION),
        ENC_EUNSUPPORTED);
    const char *ok_meta[] = {"format", "encore", "family", "mf", "format_version", "1", NULL};
    ck_assert_int_eq(refused(file_with(1, ok_meta), "no data_sha256"), ENC_EFORMAT);
    const char *unknown[] = {"format", "encore", "family", "xgboost", "format_version", "1", NULL};
    ck_assert_int_eq(refused(file_with(0, unknown), "unknown model family 'xgboost'"),
                     ENC_EUNSUPPORTED);
    /* past core: the family's own refusal, prefixed with the file */
    refused(file_with(0, ok_meta), "");
    /* no table, no file */
    struct model *m;
    enc_err err = {0};
    struct model_load_opts none = {0};
    ck_assert_int_eq(model_load("m", 1, file_with(0, ok_meta), &none, &m, &err), ENC_EINVAL);
    ck_assert_int_lt(
        model_load("m", 1, "/nonexistent/model.safetensors", &model_default_opts, &m, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/model.safetensors"));
}
END_TEST

START_TEST(common_metadata)
{
    st_writer *w = st_writer_new();
    json_t *hyper = json_pack("{s:i, s:s}", "zeta", 1, "alpha", "x");
    ck_assert_int_eq(model_write_common_meta(w, "forest", hyper, "abc123"), 0);
    json_decref(hyper);
    float x = 0;
    int64_t shape[1] = {1};
    ck_assert_int_eq(st_writer_add(w, "x", ST_F32, 1, shape, &x), 0);
    char path[4200];
    snprintf(path, sizeof path, "%s/meta.safetensors", dir);
    enc_err err = {0};
    ck_assert_int_eq(st_writer_write(w, path, &err), 0);
    st_writer_free(w);
    st_file *f;
    ck_assert_int_eq(st_open(path, &f, &err), 0);
    ck_assert_str_eq(st_meta(f, "format"), "encore");
    ck_assert_str_eq(st_meta(f, "format_version"), MODEL_FORMAT_VERSION);
    ck_assert_str_eq(st_meta(f, "family"), "forest");
    ck_assert_str_eq(st_meta(f, "trainer"), "encore-train " ENCORE_VERSION);
    ck_assert_str_eq(st_meta(f, "data_fingerprint"), "abc123");
    ck_assert_str_eq(st_meta(f, "hyperparameters"), "{\"alpha\":\"x\",\"zeta\":1}"); /* sorted */
    const char *c = st_meta(f, "created"); /* 2026-12-07T12:34:56Z */
    ck_assert_uint_eq(strlen(c), 20);
    ck_assert(c[4] == '-' && c[7] == '-' && c[10] == 'T' && c[13] == ':' && c[19] == 'Z');
    st_close(f);
}
END_TEST

static const struct model_ops no_writer = {.family = "nowrite", .task = MODEL_TASK_CLASSIFY};

START_TEST(save_refusals)
{
    enc_err err = {0};
    char out[4200];
    snprintf(out, sizeof out, "%s/repo/x", dir);
    ck_assert_int_eq(model_save(&no_writer, NULL, NULL, NULL, out, 0, NULL, &err),
                     ENC_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "nowrite"));
    uint32_t rng = 3;
    struct mf_data d;
    mfu_make_data(&d, 4, 6, 3, 1.0f, 1, 1, 0, &rng);
    snprintf(out, sizeof out, "%s/repo/bad name", dir); /* not a model name */
    ck_assert_int_eq(model_save(&mf_ops, &d, NULL, NULL, out, 0, NULL, &err), ENC_EINVAL);
    snprintf(out, sizeof out, "%s/repo/good", dir);
    int64_t v = 0;
    ck_assert_int_eq(model_save(&mf_ops, &d, NULL, NULL, out, 0, &v, &err), 0);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(model_save(&mf_ops, &d, NULL, NULL, out, 1, &v, &err), ENC_EINVAL);
    mf_data_clear(&d);
}
END_TEST

START_TEST(precision_names)
{
    const char *names[] = {"auto", "i8", "f32", "f16"};
    for (int i = 0; i < 4; i++) {
        enum model_precision p;
        enc_err err = {0};
        ck_assert_int_eq(model_precision_parse(names[i], &p, &err), 0);
        ck_assert_str_eq(model_precision_name(p), names[i]);
    }
    enum model_precision p = MODEL_PRECISION_F32;
    enc_err err = {0};
    ck_assert_int_eq(model_precision_parse("F32", &p, &err), ENC_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "auto, i8, f32 or f16, not 'F32'"));
    ck_assert_int_eq(p, MODEL_PRECISION_F32); /* untouched */
    ck_assert_str_eq(model_precision_name((enum model_precision)99), "unknown");
    ck_assert_int_eq(model_load_opts_check(&model_default_opts, &err), 0);
    ck_assert_int_eq(model_load_opts_check(NULL, &err), ENC_EINVAL);
}
END_TEST

static void *ref_unref(void *arg)
{
    struct model *m = arg;
    for (int i = 0; i < 20000; i++) {
        struct model *r = model_ref(m);
        const struct model_io *io = r->ops->io ? r->ops->io(r->state) : NULL;
        (void)io;
        model_unref(r);
    }
    model_unref(m); /* the reference this thread was given */
    return NULL;
}

START_TEST(references_across_threads)
{
    uint32_t rng = 5;
    struct mf_data d;
    char path[4300];
    mfu_make_data(&d, 10, 12, 4, 1.0f, 2, 3, 0, &rng);
    mfu_save(&d, dir, "m", path, sizeof path);
    struct model *m = mfu_load(path, "auto");
    ck_assert_int_eq(m->refs, 1);
    pthread_t th[4];
    for (int t = 0; t < 4; t++)
        ck_assert_int_eq(pthread_create(&th[t], NULL, ref_unref, model_ref(m)), 0);
    for (int t = 0; t < 4; t++)
        pthread_join(th[t], NULL);
    ck_assert_int_eq(__atomic_load_n(&m->refs, __ATOMIC_ACQUIRE), 1);
    model_unref(m); /* the last: freed (ASan's leak check would see otherwise) */
    model_unref(NULL);
    ck_assert_ptr_null(model_ref(NULL));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("model");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, refused_before_the_family);
    tcase_add_test(tc, common_metadata);
    tcase_add_test(tc, save_refusals);
    tcase_add_test(tc, precision_names);
    tcase_add_test(tc, references_across_threads);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
