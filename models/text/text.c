/*
 * text.c - the "text" family: the model_ops row the server dispatches to,
 * the model file (text_write / text_read, layout in text.h) and the shared
 * pieces (class names). NBSVM lives in nbsvm.c, the LSTM in lstm.c and
 * corpus / folds reading in data.c.
 */
#include "text/text.h"
#include "core/strv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int text_model_finish(struct text_model *m)
{
    m->io.kind = MODEL_INPUT_TEXT;
    m->io.n_classes = m->n_classes;
    m->io.class_names = (const char *const *)m->class_names;
    return 0;
}

int text_model_predict(const struct text_model *m, const char *s, size_t len, float *prob,
                       enc_err *err)
{
    int rc = m->kind == TEXT_NBSVM ? text_nbsvm_predict(m, s, len, prob)
                                   : text_lstm_predict(m, s, len, prob);
    if (rc)
        return enc_errf(err, rc, "text predict: %s", enc_strerror(rc));
    return 0;
}

/* ---- model_ops -------------------------------------------------------- */

static int ops_load(const st_file *f, const struct model_load_opts *opts, void **state,
                    enc_err *err)
{
    struct text_model *m = NULL;
    int rc = text_read(f, &m, err);
    *state = m;
    return rc;
}

static void ops_free(void *state)
{
    text_model_free(state);
}

static size_t ops_mem(const void *state)
{
    const struct text_model *m = state;
    size_t b = sizeof *m + (m->vocab ? tok_vocab_mem(m->vocab) : 0);
    b += (m->n_rows * m->n_features + m->n_rows) * sizeof(float);
    if (m->kind == TEXT_LSTM) {
        size_t V = m->vocab ? tok_vocab_size(m->vocab) + 2 : 2, E = m->emb_dim, H = m->hidden;
        b += (V * E + E * 4 * H + H * 4 * H + 4 * H + H * m->n_classes + m->n_classes) *
             sizeof(float);
    }
    return b;
}

static const char *pool_name(enum text_pool p)
{
    return p == TEXT_POOL_MEAN ? "mean" : p == TEXT_POOL_MAX ? "max" : "last";
}

static void ops_describe(const void *state, json_t *o)
{
    const struct text_model *m = state;
    json_object_set_new(o, "model_kind", json_string(m->kind == TEXT_NBSVM ? "nbsvm" : "lstm"));
    json_object_set_new(o, "vocabulary_size",
                        json_integer(m->vocab ? (json_int_t)tok_vocab_size(m->vocab) : 0));
    json_t *labels = json_array();
    for (size_t i = 0; i < m->n_classes; i++)
        json_array_append_new(labels, json_string(m->class_names[i]));
    json_object_set_new(o, "labels", labels);
    if (m->kind == TEXT_NBSVM) {
        json_t *ng = json_array();
        json_array_append_new(ng, json_integer(m->ngram_min));
        json_array_append_new(ng, json_integer(m->ngram_max));
        json_object_set_new(o, "ngram_range", ng);
        json_object_set_new(o, "hash_bits", json_integer(m->hash_bits));
        json_object_set_new(o, "features", json_integer((json_int_t)m->n_features));
        json_object_set_new(o, "max_length", json_null());
    } else {
        json_t *ng = json_array();
        json_array_append_new(ng, json_integer(1));
        json_array_append_new(ng, json_integer(1));
        json_object_set_new(o, "ngram_range", ng);
        json_object_set_new(o, "max_length", json_integer(m->max_len));
        json_object_set_new(o, "embedding_dim", json_integer((json_int_t)m->emb_dim));
        json_object_set_new(o, "hidden", json_integer((json_int_t)m->hidden));
        json_object_set_new(o, "pool", json_string(pool_name(m->pool)));
    }
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
        int rc = text_model_predict(m, batch->text[i], batch->text_len[i],
                                    prob + i * m->n_classes, err);
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

static int add_f32(st_writer *w, const char *name, const float *data, int ndim, int64_t d0,
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
    rc = rc ? rc : st_writer_meta(w, "text_model", m->kind == TEXT_NBSVM ? "nbsvm" : "lstm");
    snprintf(num, sizeof num, "%d", m->ngram_min);
    rc = rc ? rc : st_writer_meta(w, "ngram_min", num);
    snprintf(num, sizeof num, "%d", m->ngram_max);
    rc = rc ? rc : st_writer_meta(w, "ngram_max", num);
    rc = rc ? rc : st_writer_add_strings(w, "labels", (const char *const *)m->class_names, NULL,
                                         m->n_classes);
    if (m->vocab)
        rc = rc ? rc : add_vocab(w, m->vocab);
    if (rc)
        return rc;
    if (m->kind == TEXT_NBSVM) {
        snprintf(num, sizeof num, "%d", m->hash_bits);
        rc = st_writer_meta(w, "hash_bits", num);
        rc = rc ? rc : add_f32(w, "weights", m->weights, 2, (int64_t)m->n_rows,
                               (int64_t)m->n_features);
        rc = rc ? rc : add_f32(w, "bias", m->bias, 1, (int64_t)m->n_rows, 0);
        return rc;
    }
    int64_t V = (int64_t)tok_vocab_size(m->vocab) + 2, E = (int64_t)m->emb_dim,
            H = (int64_t)m->hidden, K = (int64_t)m->n_classes;
    snprintf(num, sizeof num, "%d", m->max_len);
    rc = st_writer_meta(w, "max_len", num);
    rc = rc ? rc : st_writer_meta(w, "pool", pool_name(m->pool));
    rc = rc ? rc : add_f32(w, "embedding", m->emb, 2, V, E);
    rc = rc ? rc : add_f32(w, "lstm.wx", m->wx, 2, E, 4 * H);
    rc = rc ? rc : add_f32(w, "lstm.wh", m->wh, 2, H, 4 * H);
    rc = rc ? rc : add_f32(w, "lstm.b", m->bg, 1, 4 * H, 0);
    rc = rc ? rc : add_f32(w, "out.w", m->wo, 2, H, K);
    rc = rc ? rc : add_f32(w, "out.b", m->bo, 1, K, 0);
    return rc;
}

/* ---- reading ---------------------------------------------------------- */

static int meta_int(const st_file *f, const char *key, long lo, long hi, long *out, enc_err *err)
{
    const char *s = st_meta(f, key);
    char *end;
    if (!s)
        return enc_errf(err, ENC_EFORMAT, "metadata '%s' is missing", key);
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi)
        return enc_errf(err, ENC_EFORMAT, "metadata '%s' = '%s' is not an integer in %ld..%ld",
                        key, s, lo, hi);
    *out = v;
    return 0;
}

/* Copy a validated F32 tensor of the given shape into a new array. */
static int copy_f32(const st_file *f, const char *name, int ndim, int64_t d0, int64_t d1,
                    float **out, enc_err *err)
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
            return enc_errf(err, ENC_EFORMAT, "tensor '%s' holds a non-finite value at %zu",
                            name, i);
    return 0;
}

static int read_vocab(const st_file *f, struct text_model *m, enc_err *err)
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

static int read_model(const st_file *f, struct text_model *m, enc_err *err)
{
    const char *kind = st_meta(f, "text_model");
    if (!kind || (strcmp(kind, "nbsvm") != 0 && strcmp(kind, "lstm") != 0))
        return enc_errf(err, ENC_EFORMAT, "metadata 'text_model' must be nbsvm or lstm");
    m->kind = strcmp(kind, "nbsvm") == 0 ? TEXT_NBSVM : TEXT_LSTM;
    long nmin, nmax, v;
    int rc = meta_int(f, "ngram_min", 1, 3, &nmin, err);
    rc = rc ? rc : meta_int(f, "ngram_max", nmin, 3, &nmax, err);
    if (rc)
        return rc;
    m->ngram_min = (int)nmin;
    m->ngram_max = (int)nmax;
    st_strings labels;
    if ((rc = st_expect_strings(f, "labels", -1, &labels, err)))
        return rc;
    if (labels.n < 2 || labels.n > 100000)
        return enc_errf(err, ENC_EFORMAT, "labels: %zu classes (need 2..100000)", labels.n);
    m->n_classes = labels.n;
    if (!(m->class_names = calloc(labels.n, sizeof *m->class_names)))
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    for (size_t i = 0; i < labels.n; i++) {
        size_t len;
        const char *p = st_str(&labels, i, &len);
        if (!(m->class_names[i] = strndup(p, len)))
            return enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    int64_t K = (int64_t)m->n_classes;
    if (m->kind == TEXT_NBSVM) {
        if ((rc = meta_int(f, "hash_bits", 0, 30, &v, err)))
            return rc;
        m->hash_bits = (int)v;
        if (!m->hash_bits && (rc = read_vocab(f, m, err)))
            return rc;
        m->n_features = m->hash_bits ? (size_t)1 << m->hash_bits : tok_vocab_size(m->vocab);
        m->n_rows = K == 2 ? 1 : (size_t)K;
        rc = copy_f32(f, "weights", 2, (int64_t)m->n_rows, (int64_t)m->n_features, &m->weights,
                      err);
        rc = rc ? rc : copy_f32(f, "bias", 1, (int64_t)m->n_rows, 0, &m->bias, err);
        return rc;
    }
    if (m->ngram_min != 1 || m->ngram_max != 1)
        return enc_errf(err, ENC_EFORMAT, "lstm: n-gram range must be 1..1");
    if ((rc = meta_int(f, "max_len", 1, 100000, &v, err)))
        return rc;
    m->max_len = (int)v;
    const char *pool = st_meta(f, "pool");
    if (!pool || (strcmp(pool, "last") && strcmp(pool, "mean") && strcmp(pool, "max")))
        return enc_errf(err, ENC_EFORMAT, "metadata 'pool' must be last, mean or max");
    m->pool = strcmp(pool, "mean") == 0 ? TEXT_POOL_MEAN
            : strcmp(pool, "max") == 0  ? TEXT_POOL_MAX : TEXT_POOL_LAST;
    if ((rc = read_vocab(f, m, err)))
        return rc;
    const st_tensor *t = st_find(f, "embedding");
    if (!t || t->ndim != 2 || t->shape[1] < 1 || t->shape[1] > 100000)
        return enc_errf(err, ENC_EFORMAT, "tensor 'embedding' is missing or not 2-D");
    t = st_find(f, "lstm.wh");
    if (!t || t->ndim != 2 || t->shape[0] < 1 || t->shape[0] > 100000)
        return enc_errf(err, ENC_EFORMAT, "tensor 'lstm.wh' is missing or not 2-D");
    int64_t V = (int64_t)tok_vocab_size(m->vocab) + 2, E = st_find(f, "embedding")->shape[1],
            H = t->shape[0];
    m->emb_dim = (size_t)E;
    m->hidden = (size_t)H;
    rc = copy_f32(f, "embedding", 2, V, E, &m->emb, err);
    rc = rc ? rc : copy_f32(f, "lstm.wx", 2, E, 4 * H, &m->wx, err);
    rc = rc ? rc : copy_f32(f, "lstm.wh", 2, H, 4 * H, &m->wh, err);
    rc = rc ? rc : copy_f32(f, "lstm.b", 1, 4 * H, 0, &m->bg, err);
    rc = rc ? rc : copy_f32(f, "out.w", 2, H, K, &m->wo, err);
    rc = rc ? rc : copy_f32(f, "out.b", 1, K, 0, &m->bo, err);
    return rc;
}

int text_read(const st_file *f, struct text_model **out, enc_err *err)
{
    *out = NULL;
    struct text_model *m = calloc(1, sizeof *m);
    if (!m)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    int rc = read_model(f, m, err);
    if (rc) {
        text_model_free(m);
        return rc;
    }
    text_model_finish(m);
    *out = m;
    return 0;
}
