/*
 * text.c - the "text" family: the model_ops row the server dispatches to,
 * the model file (text_write / text_read, layout in text.h) and the parts
 * every kind shares (class names, n-gram range, vocabulary). What differs
 * per kind - predict, the kind's tensors, memory, description - is one row
 * of struct text_kind_ops (text_int.h): NBSVM's in nbsvm.c, the LSTM's in
 * lstm.c. Corpus and folds reading live in data.c.
 */
#include "text/text_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strv.h"

/* One row per enum text_kind. */
static const struct text_kind_ops *const kinds[] = {
    [TEXT_NBSVM] = &text_nbsvm_kind,
    [TEXT_LSTM] = &text_lstm_kind,
};

const struct text_kind_ops *text_kind_ops_of(const struct text_model *m)
{
    return kinds[m->kind];
}

void text_model_free(struct text_model *m)
{
    if (!m)
        return;
    strv_free(m->class_names, m->n_classes);
    tok_vocab_free(m->vocab);
    free(m->weights);
    free(m->bias);
    free(m->emb);
    free(m->wx);
    free(m->wh);
    free(m->bg);
    free(m->wo);
    free(m->bo);
    free(m);
}

void text_model_finish(struct text_model *m)
{
    m->io.kind = MODEL_INPUT_TEXT;
    m->io.n_classes = m->n_classes;
    m->io.class_names = (const char *const *)m->class_names;
}

int text_model_predict(const struct text_model *m, const char *s, size_t len, float *prob,
                       enc_err *err)
{
    int rc = text_kind_ops_of(m)->predict(m, s, len, prob);
    if (rc)
        return enc_errf(err, rc, "text predict: %s", enc_strerror(rc));
    return 0;
}

/* ---- model_ops -------------------------------------------------------- */

static int read_model(const st_file *f, struct text_model *m, enc_err *err);

static int ops_load(const st_file *f, const struct model_load_opts *opts, void **state,
                    enc_err *err)
{
    *state = NULL;
    struct text_model *m = calloc(1, sizeof *m);
    if (!m)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    int rc = read_model(f, m, err);
    if (rc) {
        text_model_free(m);
        return rc;
    }
    text_model_finish(m);
    *state = m;
    return 0;
}

static void ops_free(void *state)
{
    text_model_free(state);
}

static size_t ops_mem(const void *state)
{
    const struct text_model *m = state;
    return sizeof *m + (m->vocab ? tok_vocab_mem(m->vocab) : 0) + text_kind_ops_of(m)->mem(m);
}

static int ops_describe(const void *state, json_t *o)
{
    const struct text_model *m = state;
    int bad = json_object_set_new(o, "model_kind", json_string(text_kind_ops_of(m)->name));
    bad |= json_object_set_new(o, "vocabulary_size",
                               json_integer(m->vocab ? (json_int_t)tok_vocab_size(m->vocab) : 0));
    bad |= json_object_set_new(o, "labels", strv_json(m->class_names, m->n_classes));
    json_t *ng = json_array();
    bad |= json_array_append_new(ng, json_integer(m->ngram_min));
    bad |= json_array_append_new(ng, json_integer(m->ngram_max));
    bad |= json_object_set_new(o, "ngram_range", ng);
    return bad ? ENC_ENOMEM : text_kind_ops_of(m)->describe(m, o);
}

static const struct model_io *ops_io(const void *state)
{
    return &((const struct text_model *)state)->io;
}

static int ops_predict(const void *state, const struct model_batch *batch, float *prob,
                       enc_err *err)
{
    const struct text_model *m = state;
    if (!batch->text || !batch->text_len)
        return enc_errf(err, ENC_EINVAL, "text model: the batch holds no text");
    for (size_t i = 0; i < batch->n; i++) {
        int rc =
            text_model_predict(m, batch->text[i], batch->text_len[i], prob + i * m->n_classes, err);
        if (rc)
            return rc;
    }
    return 0;
}

static int ops_write(const void *data, st_writer *w, const json_t *hyper, const char *fingerprint)
{
    return text_write(data, w, hyper, fingerprint);
}

const struct model_ops text_ops = {
    .family = "text",
    .task = MODEL_TASK_CLASSIFY,
    .load = ops_load,
    .free = ops_free,
    .mem_usage = ops_mem,
    .describe = ops_describe,
    .write = ops_write,
    .io = ops_io,
    .predict = ops_predict,
};

/* ---- writing ---------------------------------------------------------- */

int text_add_f32(st_writer *w, const char *name, const float *data, int ndim, int64_t d0,
                 int64_t d1)
{
    int64_t shape[2] = {d0, d1};
    return st_writer_add(w, name, ST_F32, ndim, shape, data);
}

static int add_vocab(st_writer *w, const tok_vocab *v)
{
    size_t n = tok_vocab_size(v);
    const char **strs = malloc((n ? n : 1) * sizeof *strs);
    size_t *lens = malloc((n ? n : 1) * sizeof *lens);
    int rc = ENC_ENOMEM;
    if (strs && lens) {
        for (size_t i = 0; i < n; i++)
            strs[i] = tok_vocab_str(v, i, &lens[i]);
        rc = st_writer_add_strings(w, "vocab", strs, lens, n);
    }
    free(strs);
    free(lens);
    return rc;
}

int text_write(const struct text_model *m, st_writer *w, const json_t *hyper,
               const char *fingerprint)
{
    char num[32];
    int rc = model_write_common_meta(w, "text", hyper, fingerprint);
    rc = rc ? rc : st_writer_meta(w, "text_model", text_kind_ops_of(m)->name);
    snprintf(num, sizeof num, "%d", m->ngram_min);
    rc = rc ? rc : st_writer_meta(w, "ngram_min", num);
    snprintf(num, sizeof num, "%d", m->ngram_max);
    rc = rc ? rc : st_writer_meta(w, "ngram_max", num);
    rc = rc ? rc
            : st_writer_add_strings(w, "labels", (const char *const *)m->class_names, NULL,
                                    m->n_classes);
    if (m->vocab)
        rc = rc ? rc : add_vocab(w, m->vocab);
    return rc ? rc : text_kind_ops_of(m)->write(m, w);
}

/* ---- reading ---------------------------------------------------------- */

int text_meta_int(const st_file *f, const char *key, long lo, long hi, long *out, enc_err *err)
{
    const char *s = st_meta(f, key);
    char *end;
    if (!s)
        return enc_errf(err, ENC_EFORMAT, "metadata '%s' is missing", key);
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi)
        return enc_errf(err, ENC_EFORMAT, "metadata '%s' = '%s' is not an integer in %ld..%ld", key,
                        s, lo, hi);
    *out = v;
    return 0;
}

int text_copy_f32(const st_file *f, const char *name, int ndim, int64_t d0, int64_t d1, float **out,
                  enc_err *err)
{
    int64_t shape[2] = {d0, d1};
    const st_tensor *t;
    int rc = st_expect(f, name, ST_F32, ndim, shape, &t, err);
    if (rc)
        return rc;
    *out = malloc(t->nbytes ? t->nbytes : 1);
    if (!*out)
        return enc_errf(err, ENC_ENOMEM, "out of memory for '%s'", name);
    memcpy(*out, t->data, t->nbytes);
    for (size_t i = 0; i < t->count; i++)
        if (!isfinite((*out)[i]))
            return enc_errf(err, ENC_EFORMAT, "tensor '%s' holds a non-finite value at %zu", name,
                            i);
    return 0;
}

int text_read_vocab(const st_file *f, struct text_model *m, enc_err *err)
{
    st_strings s;
    int rc = st_expect_strings(f, "vocab", -1, &s, err);
    if (rc)
        return rc;
    if (!(m->vocab = tok_vocab_new()))
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    for (size_t i = 0; i < s.n; i++) {
        size_t len;
        const char *p = st_str(&s, i, &len);
        int64_t id = tok_vocab_add(m->vocab, p, len, 0);
        if (id < 0)
            return enc_errf(err, (int)id, "vocab: %s", enc_strerror((int)id));
        if ((size_t)id != i)
            return enc_errf(err, ENC_EFORMAT, "vocab: entry %zu repeats entry %lld", i,
                            (long long)id);
    }
    return 0;
}

/* The common part (kind, n-gram range, class names), then the kind's row. */
static int read_model(const st_file *f, struct text_model *m, enc_err *err)
{
    const char *kind = st_meta(f, "text_model");
    if (!kind ||
        (strcmp(kind, text_nbsvm_kind.name) != 0 && strcmp(kind, text_lstm_kind.name) != 0))
        return enc_errf(err, ENC_EFORMAT, "metadata 'text_model' must be nbsvm or lstm");
    m->kind = strcmp(kind, text_nbsvm_kind.name) == 0 ? TEXT_NBSVM : TEXT_LSTM;
    long nmin, nmax;
    int rc = text_meta_int(f, "ngram_min", 1, 3, &nmin, err);
    rc = rc ? rc : text_meta_int(f, "ngram_max", nmin, 3, &nmax, err);
    if (rc)
        return rc;
    m->ngram_min = (int)nmin;
    m->ngram_max = (int)nmax;
    st_strings labels;
    if ((rc = st_expect_strings(f, "labels", -1, &labels, err)))
        return rc;
    if (labels.n < 2 || labels.n > 100000)
        return enc_errf(err, ENC_EFORMAT, "labels: %zu classes (need 2..100000)", labels.n);
    if (!(m->class_names = strv_from_table(labels.bytes, labels.offsets, labels.n)))
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    m->n_classes = labels.n;
    return text_kind_ops_of(m)->read(f, m, err);
}
