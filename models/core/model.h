/*
 * model.h - the model family table and the loaded, refcounted model.
 *
 * Every family (mf, forest, linear, cnn, text) is one module that fills one
 * `struct model_ops` row; model.c's table lists the rows. The trainer writes a
 * family's file with the same module the server reads it with.
 *
 * A `struct model` is an immutable snapshot of one version: the server hands a
 * reference to each request (model_ref) and a hot reload swaps the pointer;
 * the old version is freed when its last reference drops (model_unref).
 *
 * Tasks:
 *   MODEL_TASK_RECOMMEND  mf: users x items factors (see mf/mf.h); the server
 *                         calls the family's recommend functions directly.
 *   MODEL_TASK_CLASSIFY   numeric or text instances -> class probabilities
 *                         through ops->predict, described by model_io.
 */
#ifndef ENCORE_MODEL_H
#define ENCORE_MODEL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/st.h"

#define MODEL_FORMAT_VERSION "1"

enum model_task { MODEL_TASK_RECOMMEND = 1, MODEL_TASK_CLASSIFY = 2 };
enum model_input_kind { MODEL_INPUT_NUMERIC = 1, MODEL_INPUT_TEXT = 2 };

/* What a classifier takes and returns; filled by the family at load time and
 * borrowed from its state (valid until the model is freed). The server's
 * V1/V2 protocol layer validates requests against it. */
struct model_io {
    enum model_input_kind kind;
    /* numeric: values per instance and the per-instance shape ({4} for a
     * table, {28, 28} or {1, 28, 28} for an image). */
    size_t n_features;
    int ndim;
    int64_t shape[4];
    const char *const *feature_names;   /* n_features names, or NULL */
    double min_value, max_value;        /* accepted range (inclusive) */
    /* outputs */
    size_t n_classes;
    const char *const *class_names;
};

/* A batch for ops->predict. Numeric: x holds n * n_features floats, already
 * checked to be finite and within range. Text: text[i] has text_len[i] bytes
 * (not NUL-terminated, any byte values). */
struct model_batch {
    size_t n;
    const float *x;
    const char *const *text;
    const size_t *text_len;
};

struct model_ops {
    const char *family;          /* matches metadata "family" */
    enum model_task task;
    /* Build the family state from an opened file. `f` stays open (and its
     * tensors valid) until ops->free, so states may point into the mapping. */
    int (*load)(const st_file *f, void **state, enc_err *err);
    void (*free)(void *state);
    size_t (*mem_usage)(const void *state);
    /* Add family-specific fields (sizes, labels, ...) to a JSON object. */
    void (*describe)(const void *state, json_t *obj);
    /* Classifiers only: the io description, and prob[n * n_classes].
     * Must be safe to call from several threads at once. */
    const struct model_io *(*io)(const void *state);
    int (*predict)(const void *state, const struct model_batch *batch, float *prob,
                   enc_err *err);
};

/* The family table: NULL-terminated. */
extern const struct model_ops *const model_families[];
const struct model_ops *model_family_find(const char *family);

struct model {
    char *name;                  /* repository name, e.g. "movielens" */
    int64_t version;
    char *path;                  /* the model file */
    const struct model_ops *ops;
    void *state;
    st_file *file;
    double load_seconds;
    int64_t loaded_at;           /* unix seconds */
    int refs;                    /* atomic; see model_ref */
};

/* Open, validate (checksum, format, family) and load the file at `path`.
 * On success *out holds one reference (caller drops it with model_unref). */
int model_load(const char *name, int64_t version, const char *path, struct model **out,
               enc_err *err);

struct model *model_ref(struct model *m);   /* returns m; m may be NULL */
void model_unref(struct model *m);          /* frees on the last reference; NULL ok */

/* family, version, load time, checksum, sizes, hyperparameters -> new JSON object. */
json_t *model_describe(const struct model *m);

/* The common metadata every family's trainer writes (format, version,
 * family, created, hyperparameters JSON, data fingerprint). */
int model_write_common_meta(st_writer *w, const char *family, const json_t *hyper,
                            const char *data_fingerprint);

#endif
