/*
 * text_int.h - what the text family's files share and nobody else uses
 * (text.h is the public side). As SQLite's btreeInt.h, it is for text.c,
 * nbsvm.c and lstm.c, and for the tests that check their internals.
 *
 * Each kind of text model (nbsvm, lstm) is one row of `struct text_kind_ops`:
 * text.c's model_ops, text_write and text_read do the common part (labels,
 * n-gram range, vocabulary, io) and hand the rest to the model's row.
 */
#ifndef ENCORE_TEXT_TEXT_INT_H
#define ENCORE_TEXT_TEXT_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/st.h"
#include "text/text.h"

struct text_kind_ops {
    const char *name; /* metadata "text_model" */
    /* Class probabilities prob[n_classes] of one text. 0 or ENC_ENOMEM. */
    int (*predict)(const struct text_model *m, const char *s, size_t len, float *prob);
    /* The kind's metadata and tensors (after the common ones). */
    int (*write)(const struct text_model *m, st_writer *w);
    /* The kind's part of the file, every dtype and shape checked; called
     * with kind, class names and n-gram range already read. */
    int (*read)(const st_file *f, struct text_model *m, enc_err *err);
    size_t (*mem)(const struct text_model *m);              /* bytes of the kind's parameters */
    int (*describe)(const struct text_model *m, json_t *o); /* 0 or ENC_ENOMEM */
};

extern const struct text_kind_ops text_nbsvm_kind; /* nbsvm.c */
extern const struct text_kind_ops text_lstm_kind;  /* lstm.c */

/* The row of m->kind. */
const struct text_kind_ops *text_kind_ops_of(const struct text_model *m);

/* Fill m->io from the class names. */
void text_model_finish(struct text_model *m);

/* ---- file helpers (text.c) ---------------------------------------------- */

/* An F32 tensor [d0] (ndim 1) or [d0, d1] (ndim 2). */
int text_add_f32(st_writer *w, const char *name, const float *data, int ndim, int64_t d0,
                 int64_t d1);
/* Copy a validated, finite F32 tensor of that shape into a new array. */
int text_copy_f32(const st_file *f, const char *name, int ndim, int64_t d0, int64_t d1, float **out,
                  enc_err *err);
/* An integer metadata value in lo..hi. */
int text_meta_int(const st_file *f, const char *key, long lo, long hi, long *out, enc_err *err);
/* The "vocab" string table into m->vocab (entries unique). */
int text_read_vocab(const st_file *f, struct text_model *m, enc_err *err);

/* ---- NBSVM internals, exposed for tests (nbsvm.c) ------------------------ */

/* The naive-Bayes log-count ratio of binarised features: x[i] is the sorted
 * unique feature list of example i (x_off CSR, n rows), y[i] in {0,1};
 * r[j] = log((p_j/|p|_1) / (q_j/|q|_1)) with p = alpha + sum over y=1 rows,
 * q = alpha + sum over y=0 rows. */
void text_nb_ratio(const int32_t *x, const size_t *x_off, const int8_t *y, size_t n,
                   size_t n_features, double alpha, float *r);

/* ---- LSTM internals, exposed for the gradient check (lstm.c) ------------- */

/* Mean cross-entropy of a batch of token-id sequences (ids[i*T + t], lens[i]
 * <= T) with labels y, without dropout; when grad is non-NULL it receives
 * the gradient of every parameter, laid out like text_lstm_blocks(). */
int text_lstm_loss(const struct text_model *m, const int32_t *ids, const int *lens, size_t B, int T,
                   const int32_t *y, double *loss, float *grad);

/* Pointers to the parameter blocks in a fixed order (emb, wx, wh, bg, wo, bo)
 * and their sizes; returns the block count (6). */
int text_lstm_blocks(const struct text_model *m, float **ptr, size_t *size);

/* Token ids of a text for the LSTM (truncated to max_len); ids needs max_len. */
int text_lstm_ids(const struct text_model *m, const char *s, size_t len, int32_t *ids);

/* A fresh LSTM model with random weights (for tests): vocabulary of V words
 * "w0".."w{V-1}", initialised like text_lstm_train (forget_bias as in
 * text_lstm_params: NAN keeps the random draw). *out is caller-owned;
 * 0 or ENC_ENOMEM. */
int text_lstm_new_random(size_t V, size_t E, size_t H, size_t K, enum text_pool pool, int max_len,
                         uint64_t seed, double forget_bias, struct text_model **out);

#endif
