/*
 * text.h - the text classification family ("text"): NBSVM (Wang & Manning
 * 2012) and an LSTM, trained by `encore-train text` and served by text_ops.
 *
 * One in-memory `struct text_model` serves both sides: the trainers return
 * one, text_write() stores it, and text_ops.load rebuilds the same struct
 * from the file (copying the tensors, a few MB at most), so a trained model
 * and its reloaded copy run the exact same predict code.
 *
 * File layout (safetensors, see core/st.h). K = classes, F = features,
 * V = vocabulary entries, E = embedding size, H = LSTM units, C = weight rows
 * (1 for two classes: the score of class 1; K for one-vs-rest):
 *   labels.bytes/.offsets  K class names, in output order
 *   vocab.bytes/.offsets   V n-grams (nbsvm, absent with hashing) or words (lstm)
 *   nbsvm:  weights F32 [C, F]   r-scaled, beta-interpolated SVM weights
 *           bias    F32 [C]
 *   lstm:   embedding F32 [V+2, E]   row 0 = padding, row 1 = unknown word,
 *                                    row 2+i = vocab entry i
 *           lstm.wx F32 [E, 4H]  lstm.wh F32 [H, 4H]  lstm.b F32 [4H]
 *                                gate order i, f, g, o (as PyTorch)
 *           out.w F32 [H, K]     out.b F32 [K]
 * Metadata (strings): "text_model" nbsvm|lstm, "ngram_min", "ngram_max",
 * "hash_bits" (nbsvm; 0 = vocabulary), "max_len", "pool" last|mean|max (lstm),
 * plus the common keys (model_write_common_meta).
 */
#ifndef ENCORE_TEXT_TEXT_H
#define ENCORE_TEXT_TEXT_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/err.h"
#include "core/model.h"
#include "core/st.h"
#include "text/tokenize.h"

extern const struct model_ops text_ops;

enum text_kind { TEXT_NBSVM = 1, TEXT_LSTM = 2 };
enum text_pool { TEXT_POOL_LAST = 0, TEXT_POOL_MEAN = 1, TEXT_POOL_MAX = 2 };

struct text_model {
    enum text_kind kind;
    size_t n_classes;
    char **class_names;
    struct model_io io;
    tok_vocab *vocab; /* NULL with feature hashing */
    int ngram_min, ngram_max;
    /* nbsvm */
    int hash_bits;             /* 0: vocabulary features */
    size_t n_features, n_rows; /* weights is n_rows x n_features */
    float *weights, *bias;
    /* lstm */
    size_t emb_dim, hidden;
    int max_len;
    enum text_pool pool;
    float *emb;          /* (V + 2) x E */
    float *wx, *wh, *bg; /* E x 4H, H x 4H, 4H */
    float *wo, *bo;      /* H x K, K */
};

/* Frees everything; NULL is a no-op. */
void text_model_free(struct text_model *m);

/* Class probabilities prob[n_classes] for one text of `len` bytes (any bytes).
 * Thread-safe (reads m only; scratch is allocated per call). 0 or ENC_ENOMEM. */
int text_model_predict(const struct text_model *m, const char *s, size_t len, float *prob,
                       enc_err *err);

/* Serialize m with common metadata; hyper is borrowed. 0 or a negative code. */
int text_write(const struct text_model *m, st_writer *w, const json_t *hyper,
               const char *fingerprint);

/* ---- data ------------------------------------------------------------- */

/* A labelled corpus: text[i] is len[i] bytes (NUL-terminated copy), label[i]
 * indexes label_names. src_file/src_line give where each example came from. */
struct text_data {
    size_t n;
    char **text;
    size_t *len;
    int32_t *label;
    size_t n_labels;
    char **label_names;
    int32_t *src_file;    /* 0 = first file (--pos or --data), 1 = --neg */
    int64_t *src_line;    /* 1-based */
    const char *files[2]; /* borrowed paths */
    int decoded[2];       /* 1: the file was not UTF-8 and was decoded as cp1252 */
    char how[2][256];     /* how each file was read (layout, encoding), to report */
};

/* Read two one-example-per-line files as labels "pos" (1) and "neg" (0),
 * class order ["neg", "pos"]. Lines are split on '\n' only; a trailing '\r'
 * is dropped; an empty (or whitespace-only) line is an error naming the file
 * and line. A file that is not UTF-8 is decoded as cp1252 to UTF-8 first
 * (d->decoded, d->how). Returns 0, ENC_EIO or ENC_EFORMAT. */
int text_data_read_pair(const char *pos, const char *neg, struct text_data *d, enc_err *err);

/* Read a table of labelled texts; classes are sorted by label name:
 *   label<TAB>text or text<TAB>label   the order named by a header line
 *                                      (label / class / sentiment ... and
 *                                      text / sentence / review ...), else
 *                                      the column with fewer distinct values
 *                                      holds the labels (a tie: label first);
 *                                      the text may hold TABs
 *   CSV (no TAB on line 1)             a header naming the label and text
 *                                      columns (other columns ignored;
 *                                      quoted fields may span lines), or two
 *                                      columns, ordered as above
 * d->how[0] says which it was and why. A file that is not UTF-8 is decoded
 * as cp1252 first (d->decoded). A line without a separator, with an empty
 * label or text, or a label over 256 bytes is an error naming file and line. */
int text_data_read_tsv(const char *path, struct text_data *d, enc_err *err);

void text_data_clear(struct text_data *d);

/* Read a folds file "<file><TAB><1-based line><TAB><fold>" and give every
 * example of d its fold (fold[d->n], caller frees). <file> is matched by
 * basename against d->files. Every example must get exactly one fold.
 * *n_folds = max fold + 1. Errors name the folds file and line. */
int text_folds_read(const char *path, const struct text_data *d, int32_t **fold, int *n_folds,
                    enc_err *err);

/* ---- training --------------------------------------------------------- */

struct text_nbsvm_params {
    int ngram_min, ngram_max; /* 1, 2 */
    int64_t min_count;        /* vocabulary: keep n-grams seen >= this (1) */
    size_t max_vocab;         /* 0 = unlimited */
    int hash_bits;            /* 0 = vocabulary, else 2^bits hashed features */
    double alpha;             /* NB smoothing (1) */
    double C;                 /* SVM cost (1) */
    double beta;              /* interpolation (0.25) */
    int max_iter;             /* dual coordinate descent passes (100) */
    double tol;               /* projected-gradient stopping tolerance (0.01) */
    int logistic;             /* 0: L2-loss SVM, 1: logistic regression */
    uint64_t seed;
};
void text_nbsvm_defaults(struct text_nbsvm_params *p);

/* Train NBSVM on the examples idx[0..n) of d (all when idx is NULL).
 * *out is caller-owned. Returns 0 or a negative code with err set. */
int text_nbsvm_train(const struct text_data *d, const size_t *idx, size_t n,
                     const struct text_nbsvm_params *p, struct text_model **out, enc_err *err);

/* The default initial forget-gate bias of the LSTM: NAN = PyTorch's random
 * init. A bias of 1 was 0.53 points worse on a validation split carved from
 * training folds (bench/results/text.md), so it is an option only. */
#define TEXT_FORGET_BIAS NAN

struct text_lstm_params {
    int64_t min_count;      /* vocabulary min count (1) */
    size_t max_vocab;       /* (30000) */
    size_t emb_dim, hidden; /* (100, 128) */
    int max_len;            /* pad/truncate (64 tokens) */
    int bptt;               /* truncated BPTT window in steps (0 = full) */
    enum text_pool pool;    /* (max) */
    int epochs;             /* (5) */
    size_t batch;           /* (32) */
    double lr;              /* Adam step (0.001) */
    double clip;            /* global gradient-norm clip (5) */
    double dropout;         /* on embeddings and the pooled vector (0.5) */
    double init_scale;      /* uniform init half-width (0.1) */
    double forget_bias;     /* initial forget-gate bias (all H entries of
                             * lstm.b's f block); NAN = PyTorch's random
                             * init like the other gates (TEXT_FORGET_BIAS) */
    uint64_t seed;
    int threads;         /* OpenBLAS threads (1) */
    const char *vectors; /* word2vec/GloVe text file to initialise embeddings, or NULL */
    int verbose;         /* per-epoch progress on stderr */
};
void text_lstm_defaults(struct text_lstm_params *p);

int text_lstm_train(const struct text_data *d, const size_t *idx, size_t n,
                    const struct text_lstm_params *p, struct text_model **out, enc_err *err);

/* (The kinds' shared internals and test hooks: text/text_int.h.) */

#endif
