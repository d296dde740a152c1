/*
 * forest.h - the random forest classifier family ("forest").
 *
 * Training (Breiman 2001, as scikit-learn's RandomForestClassifier does it):
 * each tree is a CART tree grown on a bootstrap sample (n rows drawn with
 * replacement) choosing, at every node, the best Gini split over a random
 * subset of max_features features (the search goes on past max_features
 * while no valid split has been found, as scikit-learn's does). A node
 * becomes a leaf when it is pure, at max_depth, or when no split leaves
 * min_samples_leaf rows on each side. Leaves hold class frequencies of their
 * bootstrap rows; the forest's probabilities are their average over trees.
 *
 * Determinism: tree t draws every random number from its own generator,
 * seeded from (seed, t), and trees are written to slot t, so a forest is
 * bit-identical for a seed whatever the thread count.
 *
 * Tensors in the file (T trees, N nodes in all, D features, C classes):
 *   tree_offsets  I64 [T+1]  tree t owns nodes [tree_offsets[t], tree_offsets[t+1])
 *   feature       I32 [N]    split feature, or -1 for a leaf
 *   threshold     F32 [N]    go left when x[feature] <= threshold
 *   left, right   I32 [N]    children as indexes local to the tree (-1 for a
 *                            leaf); always greater than the node's own index,
 *                            so a walk always terminates (no cycles)
 *   value         F32 [N, C] leaf class probabilities (0 for internal nodes)
 *   feature_importances F32 [D]  mean decrease in impurity, summing to 1
 *   feature_names.bytes/.offsets, class_names.bytes/.offsets  string tables
 * Metadata: family "forest", "oob_accuracy", plus the common keys.
 */
#ifndef ENCORE_FOREST_H
#define ENCORE_FOREST_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/err.h"
#include "core/model.h"
#include "core/st.h"

extern const struct model_ops forest_ops;

struct forest_params {
    int n_trees;          /* >= 1 (default 100) */
    int max_depth;        /* 0 = unlimited */
    int min_samples_leaf; /* >= 1 (default 1) */
    int max_features;     /* 0 = floor(sqrt(D)), at least 1; capped at D */
    uint64_t seed;
    int threads;   /* >= 1 */
    int bootstrap; /* 1 (default): bootstrap samples; 0: every tree sees all rows */
};

/* Defaults: 100 trees, unlimited depth, leaf 1, sqrt, seed 42, 1 thread, bootstrap. */
void forest_params_default(struct forest_params *p);

/* A forest in memory: what training builds, what the loader builds from a
 * file. Owns every array. */
struct forest {
    size_t n_trees, n_nodes, n_features, n_classes;
    int64_t *tree_offsets; /* n_trees + 1 */
    int32_t *feature;      /* n_nodes */
    float *threshold;
    int32_t *left, *right;
    float *value;              /* n_nodes * n_classes */
    float *importances;        /* n_features */
    char **feature_names;      /* n_features */
    char **class_names;        /* n_classes */
    double oob_accuracy;       /* NAN when no row was ever out of bag */
    struct forest_node *nodes; /* packed copy for fast walks (built by forest_finish) */
    struct model_io io;
};

/* Train on x (n x d floats, finite, row-major) with labels y in 0..C-1.
 * feature_names / class_names are copied (NULL: "f0".. / "0"..). On success
 * *out is caller-owned (forest_free). Fails with ENC_EINVAL on bad params or
 * labels, ENC_ENOMEM. */
int forest_train(const float *x, const int32_t *y, size_t n, size_t d, size_t n_classes,
                 const char *const *feature_names, const char *const *class_names,
                 const struct forest_params *p, struct forest **out, enc_err *err);

void forest_free(struct forest *f); /* NULL is a no-op */

/* Class probabilities for n rows: prob[n * n_classes]. Thread-safe (reads
 * only). Rows must hold n_features finite floats. */
void forest_predict(const struct forest *f, const float *x, size_t n, float *prob);

/* Serialize into a writer: tensors, the common metadata with `hyper`
 * (borrowed JSON) and `fingerprint`. Returns 0 or a negative code. */
int forest_write(const struct forest *f, st_writer *w, const json_t *hyper,
                 const char *fingerprint);

/* (forest_ops.write: model_save(&forest_ops, f, ...) publishes to REPO/NAME/VERSION.) */

/* Build a forest from an opened file, validating every shape, index and
 * value (children in range and after their parent, features < D, finite
 * thresholds and leaf values). Returns 0, ENC_EFORMAT naming the field and
 * node, or ENC_ENOMEM. *out is caller-owned. */
int forest_from_file(const st_file *file, struct forest **out, enc_err *err);

/* The hyperparameters as JSON (new reference) and back (missing keys keep
 * the defaults; bad values fail with ENC_EINVAL). */
json_t *forest_params_json(const struct forest_params *p);
int forest_params_from_json(const json_t *j, struct forest_params *p, enc_err *err);

#endif
