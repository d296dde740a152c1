/* model.c - the refcounted model snapshot, loading through a family table
 * and saving through ops->write (see model.h). Names no family: the table
 * is models/families.c's, passed in by the caller. */
#include "core/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/repo.h"
#include "core/version.h"

const struct model_ops *model_family_find(const struct model_ops *const *families,
                                          const char *family)
{
    for (size_t i = 0; families && families[i]; i++)
        if (strcmp(families[i]->family, family) == 0)
            return families[i];
    return NULL;
}

static const char *const precision_names[] = {
    [MODEL_PRECISION_AUTO] = "auto",
    [MODEL_PRECISION_I8] = "i8",
    [MODEL_PRECISION_F32] = "f32",
    [MODEL_PRECISION_F16] = "f16",
};

int model_precision_parse(const char *name, enum model_precision *out, enc_err *err)
{
    for (size_t i = 0; i < sizeof precision_names / sizeof *precision_names; i++)
        if (strcmp(name, precision_names[i]) == 0) {
            *out = (enum model_precision)i;
            return 0;
        }
    return enc_errf(err, ENC_EINVAL, "score precision must be auto, i8, f32 or f16, not '%s'",
                    name);
}

const char *model_precision_name(enum model_precision p)
{
    return (unsigned)p < sizeof precision_names / sizeof *precision_names ? precision_names[p]
                                                                          : "unknown";
}

int model_load_opts_check(const struct model_load_opts *opts, enc_err *err)
{
    if (!opts || !opts->families)
        return enc_errf(err, ENC_EINVAL, "no model family table");
    for (size_t i = 0; opts->families[i]; i++) {
        int rc = opts->families[i]->check_opts ? opts->families[i]->check_opts(opts, err) : 0;
        if (rc)
            return rc;
    }
    return 0;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ops->load, with a mapped file that shrinks meanwhile refused instead of
 * ending the process (st.h; the family's partial state is leaked then). */
static int load_guarded(const struct model_ops *ops, const st_file *f,
                        const struct model_load_opts *opts, void **state, enc_err *err)
{
    struct st_guard g;
    if (!ST_GUARD_ENTER(&g)) {
        st_guard_leave(&g);
        *state = NULL;
        return enc_errf(err, ENC_EIO, "the file shrank while being loaded");
    }
    int rc = ops->load(f, opts, state, err);
    st_guard_leave(&g);
    return rc;
}

int model_load(const char *name, int64_t version, const char *path,
               const struct model_load_opts *opts, struct model **out, enc_err *err)
{
    *out = NULL;
    if (!opts || !opts->families)
        return enc_errf(err, ENC_EINVAL, "%s: no model family table to load with", path);
    double t0 = now_seconds();
    st_file *f = NULL;
    int rc = st_open_with(path, opts->file ? opts->file : &st_default_opts, &f, err);
    if (rc)
        return rc;
    const char *fmt = st_meta(f, "format"), *fam = st_meta(f, "family"),
               *fv = st_meta(f, "format_version");
    if (!fmt || strcmp(fmt, "encore") != 0 || !fam || !fv) {
        st_close(f);
        return enc_errf(err, ENC_EFORMAT,
                        "%s: not an Encore model (metadata needs format=encore, family, "
                        "format_version)",
                        path);
    }
    if (strcmp(fv, MODEL_FORMAT_VERSION) != 0) {
        /* The message borrows from the file's metadata: write it before closing. */
        enc_errf(err, ENC_EUNSUPPORTED, "%s: format_version %s, this build reads %s", path, fv,
                 MODEL_FORMAT_VERSION);
        st_close(f);
        return ENC_EUNSUPPORTED;
    }
    if (!st_meta(f, "data_sha256")) {
        st_close(f);
        return enc_errf(err, ENC_EFORMAT, "%s: metadata has no data_sha256 checksum", path);
    }
    const struct model_ops *ops = model_family_find(opts->families, fam);
    if (!ops) {
        enc_errf(err, ENC_EUNSUPPORTED, "%s: unknown model family '%s'", path, fam);
        st_close(f);
        return ENC_EUNSUPPORTED;
    }
    struct model *m = calloc(1, sizeof *m);
    if (!m || !(m->name = strdup(name)) || !(m->path = strdup(path))) {
        if (m) {
            free(m->name);
            free(m);
        }
        st_close(f);
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    rc = load_guarded(ops, f, opts, &m->state, err);
    if (rc) {
        enc_err_prefix(err, "%s", path);
        free(m->name);
        free(m->path);
        free(m);
        st_close(f);
        return rc;
    }
    m->version = version;
    m->ops = ops;
    m->file = f;
    m->refs = 1;
    m->loaded_at = (int64_t)time(NULL);
    m->load_seconds = now_seconds() - t0;
    *out = m;
    return 0;
}

struct model *model_ref(struct model *m)
{
    if (m)
        __atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
    return m;
}

void model_unref(struct model *m)
{
    if (!m || __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    m->ops->free(m->state);
    st_close(m->file);
    free(m->name);
    free(m->path);
    free(m);
}

json_t *model_describe(const struct model *m)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    /* json_object_set_new returns -1 when the value is NULL (it could not
     * be made) or the key cannot be added: any failure makes `bad`. */
    int bad = json_object_set_new(o, "name", json_string(m->name));
    bad |= json_object_set_new(o, "version", json_integer(m->version));
    bad |= json_object_set_new(o, "family", json_string(m->ops->family));
    bad |= json_object_set_new(
        o, "task", json_string(m->ops->task == MODEL_TASK_RECOMMEND ? "recommend" : "classify"));
    bad |= json_object_set_new(o, "path", json_string(m->path));
    bad |= json_object_set_new(o, "file_bytes", json_integer((json_int_t)st_file_size(m->file)));
    bad |= json_object_set_new(o, "data_sha256", json_string(st_file_sha256(m->file)));
    bad |= json_object_set_new(o, "loaded_at", json_integer(m->loaded_at));
    bad |= json_object_set_new(o, "load_seconds", json_real(m->load_seconds));
    if (m->ops->mem_usage)
        bad |= json_object_set_new(o, "memory_bytes",
                                   json_integer((json_int_t)m->ops->mem_usage(m->state)));
    const char *keys[] = {"created", "data_fingerprint", "trainer"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        const char *v = st_meta(m->file, keys[i]);
        if (v)
            bad |= json_object_set_new(o, keys[i], json_string(v));
    }
    const char *hp = st_meta(m->file, "hyperparameters");
    if (hp) {
        json_error_t jerr;
        json_t *h = json_loads(hp, 0, &jerr);
        /* text that is not JSON is shown as it is; a parse that ran out of
         * memory is a failure, not "not JSON" */
        if (!h && json_error_code(&jerr) == json_error_out_of_memory)
            bad = -1;
        else
            bad |= json_object_set_new(o, "hyperparameters", h ? h : json_string(hp));
    }
    if (!bad && m->ops->describe && m->ops->describe(m->state, o))
        bad = -1;
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int model_write_common_meta(st_writer *w, const char *family, const json_t *hyper,
                            const char *data_fingerprint)
{
    char created[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
    int rc = st_writer_meta(w, "format", "encore");
    rc = rc ? rc : st_writer_meta(w, "format_version", MODEL_FORMAT_VERSION);
    rc = rc ? rc : st_writer_meta(w, "family", family);
    rc = rc ? rc : st_writer_meta(w, "created", created);
    rc = rc ? rc : st_writer_meta(w, "trainer", "encore-train " ENCORE_VERSION);
    if (data_fingerprint)
        rc = rc ? rc : st_writer_meta(w, "data_fingerprint", data_fingerprint);
    if (hyper) {
        char *s = json_dumps(hyper, JSON_COMPACT | JSON_SORT_KEYS);
        if (!s)
            return ENC_ENOMEM;
        rc = rc ? rc : st_writer_meta(w, "hyperparameters", s);
        free(s);
    }
    return rc;
}

int model_save(const struct model_ops *ops, const void *data, const json_t *hyper,
               const char *fingerprint, const char *out, int64_t version, int64_t *version_out,
               enc_err *err)
{
    if (!ops->write)
        return enc_errf(err, ENC_EUNSUPPORTED, "%s: this family cannot write models", ops->family);
    st_writer *w = st_writer_new();
    if (!w)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    int rc = ops->write(data, w, hyper, fingerprint);
    if (rc)
        enc_errf(err, rc, "%s: cannot serialize the model: %s", ops->family, enc_strerror(rc));
    else
        rc = repo_publish(w, out, version, version_out, err);
    st_writer_free(w);
    return rc;
}
