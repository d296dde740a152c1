/*
 * index.h - an approximate maximum-inner-product index over item factors
 * (HNSW), for catalogues where scoring every item per request costs too much.
 *
 * Lifecycle, mirroring the model file's:
 *   index_build   (trainer only, index_build.cc: hnswlib builds the graph)
 *   index_save    writes the graph as tensors of the model's safetensors file
 *   index_load    validates them and points into the mapped file (no copy,
 *                 nothing built at load)
 *   index_search  the k best items for a user vector, with a filter callback
 *   index_free
 *
 * Why hnswlib builds and Encore searches: bench/results/ann.md. In short,
 * hnswlib (Debian's libhnswlib-dev 0.6.2) builds graphs with good recall on
 * ALS-shaped factors in a fifth of FAISS's time, but its loader reads
 * only from a file path, trusts its input and copies every vector, and this
 * version has no filtered search. So the trainer lets hnswlib build, copies
 * the graph out (links only: the vectors are the model's own item_factors),
 * and the server walks it with hnswlib's search algorithm (greedy descent
 * through the upper layers, a best-first beam of width ef on layer 0) over
 * the mapped tensors, calling the filter as it goes.
 *
 * Inner product, not cosine: the graph is built in hnswlib's inner-product
 * space (distance 1 - u.v) and the walk compares u.v.
 *
 * The walk scores from int8 row codes, the answer is ranked in f32: a walk
 * at 1M items visits ~5,000 random rows (M 32, ef 200) and each visit is a
 * cache miss, so its cost is the lines it touches: a 64-factor f32 row is
 * four, its code one. index_load derives the codes from the factors (a
 * per-row scale, round(v / s) in [-127, 127]; 64 MB + 4 MB at 1M x 64, in
 * huge pages), so they need no tensor of their own and cannot disagree with
 * the factors. After the walk the best max(4k, 40) kept by code score are
 * re-scored in f32 and the top k of those returned, so the scores and the
 * order are the model's (BENCHMARKS.md: the int8 walk's recall equals the
 * f32 walk's at 1M). Without AVX2 the walk stays in f32. (Norm augmentation into an L2 space was
 * measured and dropped: it collapses when item norms are heavy-tailed; bench/results/ann.md.)
 *
 * Tensors (N items, M links per upper-layer node, M0 = 2M on layer 0):
 *   index.params        I64 [6]  format (1), M, M0, ef_construction,
 *                                entry point (an item row), top layer
 *   index.level0        I32 [N, M0 + 1]  per item: link count, then that
 *                                many item rows (unused slots -1)
 *   index.upper.offsets I64 [N + 1]  CSR into index.upper.links; item i's
 *                                span holds L_i blocks of M + 1 (layers
 *                                1..L_i: count, then the links)
 *   index.upper.links   I32 [..]
 * index_load checks every count, row and layer (a link on layer l must
 * reach a node that has layer l), so a corrupt graph is refused, never
 * walked.
 */
#ifndef ENCORE_MF_INDEX_H
#define ENCORE_MF_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/st.h"
#include "core/model.h"

#define INDEX_FORMAT 1
#define INDEX_MAX_M 256 /* links per node on the upper layers */
#define INDEX_MAX_LAYERS 64

/* ---- building (encore-train) ------------------------------------------ */

struct index_params {
    size_t m;               /* links per node (layer 0: 2m); default 32 */
    size_t ef_construction; /* build beam width; default 200 */
    int threads;            /* default 2; 1 gives the same graph every run */
    uint64_t seed;          /* hnswlib's level generator */
};

void index_params_default(struct index_params *p);

/* A built graph, owned (index_data_clear frees the members). */
struct index_data {
    size_t n, m, m0, ef_construction;
    int64_t entry, top_layer;
    int32_t *level0;    /* n * (m0 + 1) */
    int64_t *upper_off; /* n + 1 */
    int32_t *upper;     /* upper_off[n] */
    double build_seconds;
};

/* Build the graph over V (n x f, row-major, finite). Returns 0, ENC_EINVAL
 * (bad parameters), ENC_ENOMEM. Defined in index_build.cc: link the
 * encore_index_build library (the trainer and tests do; the server never
 * builds an index). */
int index_build(const float *V, size_t n, size_t f, const struct index_params *p,
                struct index_data *out, enc_err *err);
void index_data_clear(struct index_data *d); /* NULL or zeroed: no-op */

/* The tensors' name prefixes: the inner-product graph over item_factors
 * (recommend), and the optional cosine graph over the unit-length item
 * factors (`similar`), the same four tensors under another prefix. */
#define INDEX_PREFIX "index"
#define INDEX_COSINE_PREFIX "index_cosine"

/* Add the graph's tensors to a model file being written (index_save:
 * under INDEX_PREFIX). */
int index_save(const struct index_data *d, st_writer *w);
int index_save_named(const struct index_data *d, const char *prefix, st_writer *w);

/* 1 if the file holds an index (any index.* tensor; _named: prefix.*). */
int index_present(const st_file *f);
int index_present_named(const st_file *f, const char *prefix);

/* ---- serving ------------------------------------------------------------ */

struct index;

/* Validate the index tensors of `f` for a model of n items whose factors are
 * V (n x fdim, borrowed like the index: both live in the mapping, valid
 * until the file is closed). *out = NULL (and 0) when the file has none.
 * A malformed index fails with ENC_EFORMAT naming the tensor and entry. */
int index_load(const st_file *f, const float *V, size_t n, size_t fdim, struct index **out,
               enc_err *err);
/* The same for the graph under `prefix` (INDEX_COSINE_PREFIX: V is then the
 * unit-length item factors). */
int index_load_named(const st_file *f, const char *prefix, const float *V, size_t n, size_t fdim,
                     struct index **out, enc_err *err);
void index_free(struct index *ix); /* NULL: no-op */

size_t index_m(const struct index *ix);
size_t index_ef_construction(const struct index *ix);
size_t index_bytes(const struct index *ix); /* of the mapped graph */
/* Bytes of the walk's int8 row codes (built at load from the factors, so
 * owned memory, not mapped; 0 when the walk scores in f32: no AVX2). */
size_t index_code_bytes(const struct index *ix);

/* Which items may be returned: nonzero = eligible. Called from the search's
 * thread, for items the search wants to keep; must be thread-safe. */
typedef int (*index_filter_fn)(const void *ctx, int32_t item);

struct index_query {
    const float *u; /* the user vector, fdim floats */
    size_t k;
    size_t ef;              /* beam width; raised to k when smaller */
    index_filter_fn filter; /* NULL: every item is eligible */
    const void *filter_ctx;
    size_t max_visits;         /* give up after scoring this many items;
                                * 0: index_default_visits */
    int32_t start;             /* > 0: begin the layer-0 walk at this item (skip the
                                * upper layers); 0 or less: at the graph's entry */
    int f32_walk;              /* nonzero: score the walk in f32 even when the index
                                * has int8 row codes (the bench's comparison) */
    size_t rerank;             /* with codes: how many of the kept (best by code
                                * score) are re-scored in f32 (at least k); 0: the
                                * default, max(4k, INDEX_RERANK_MIN); SIZE_MAX: all */
    size_t batch;              /* layer-0 candidates expanded together (1 is
                                * hnswlib's walk); 0: INDEX_BATCH; at most
                                * INDEX_MAX_BATCH */
    struct index_stats *stats; /* NULL, or filled with the walk's counts */
};

/* The re-score's default floor: at 1M items (M 32, ef 200) re-scoring the
 * best 20 by code score already gives the recall of re-scoring all 200
 * (bench/results/ann.md, "Session 3"); 40 keeps a margin. */
#define INDEX_RERANK_MIN 40

/* Candidates a walk expands at once (index_query.batch): at 1M items 4
 * costs ~15% less CPU than 1 for the same recall (BENCHMARKS.md). */
#define INDEX_BATCH 4
#define INDEX_MAX_BATCH 4

/* What one walk did: items scored (every layer), layer-0 nodes expanded,
 * kept hits re-scored in f32. */
struct index_stats {
    size_t visits, expanded, reranked;
};

/* Past this many scored items a walk costs about as much as the exact scan
 * of the int8 table (~150 ns per random f32 row against ~5 ns per item
 * streamed): n / 32, and at least enough for an unfiltered walk. */
size_t index_default_visits(const struct index *ix, size_t ef);

/* Bytes of work space index_search needs for these ef and max_visits. */
size_t index_work_bytes(const struct index *ix, size_t ef, size_t max_visits);

/* The (up to) k best eligible items by u.v, best first (ties to the lower
 * row), from an HNSW walk over the graph; `work` must hold
 * index_work_bytes(ix, q->ef, q->max_visits) bytes (allocation-free,
 * thread-safe). Returns 0 when the walk finished with k eligible items
 * (or every reachable item seen), INDEX_INCOMPLETE when it found fewer
 * than k or hit max_visits: the caller then answers exactly (a very
 * selective filter). *n_hits is set in both cases. */
#define INDEX_INCOMPLETE 1
int index_search(const struct index *ix, const struct index_query *q, void *work, size_t work_bytes,
                 struct reco_hit *hits, size_t *n_hits);

/* ---- choosing ef (encore-train) --------------------------------------- */

/* A searchable view of a built graph (the trainer's, before it is saved)
 * over V (n x fdim, borrowed like d): validated as index_load does. Free
 * with index_free. */
int index_view(const struct index_data *d, const float *V, size_t fdim, struct index **out,
               enc_err *err);

#define INDEX_EF_QUERIES 200     /* queries index_choose_ef measures */
#define INDEX_TARGET_RECALL 0.95 /* recall@10 the default beam aims at */

/* The smallest beam (of 16, 24, 32, ... 1000) whose mean recall@10 against
 * the brute-force top 10 reaches `target`, over up to INDEX_EF_QUERIES
 * query rows spread evenly over Q (nrows x fdim: the user factors, or with
 * queries_are_items the index's own rows, each item then left out of its
 * own answer). *ef_out = 1000 and its recall when none reaches it. Costs
 * one brute-force scan per query. 0 or ENC_ENOMEM. */
int index_choose_ef(const struct index *ix, const float *Q, size_t nrows, int queries_are_items,
                    double target, size_t *ef_out, double *recall_out, enc_err *err);

#endif
