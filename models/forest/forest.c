/*
 * forest.c - random forest classifier: CART training with Gini impurity,
 * bootstrap samples and random feature subsets, out-of-bag accuracy,
 * impurity-based feature importances, the safetensors file and the
 * forest_ops family row (see forest.h for the file layout).
 *
 * Split search at a node sorts the node's rows by one candidate feature and
 * sweeps them once, keeping left/right weighted class counts and their sums
 * of squares, so each candidate threshold costs O(1):
 *   Gini gain  = sum_k L_k^2 / W_L + sum_k R_k^2 / W_R - sum_k N_k^2 / W
 * (the weighted decrease W*G(node) - W_L*G(left) - W_R*G(right)). Bootstrap
 * multiplicities are row weights, as in scikit-learn; min_samples_leaf counts
 * distinct rows, as scikit-learn's does.
 */
#include "forest/forest.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/repo.h"
#include "core/rng.h"
#include "core/strv.h"

struct forest_node {
    int32_t feature;
    float threshold;
    int32_t left, right;
};

#define FOREST_MAX_NODES ((size_t)INT32_MAX)

void forest_params_default(struct forest_params *p)
{
    p->n_trees = 100;
    p->max_depth = 0;
    p->min_samples_leaf = 1;
    p->max_features = 0;
    p->seed = 42;
    p->threads = 1;
    p->bootstrap = 1;
}

/* ---- random numbers: core/rng.h's splitmix64, one stream per tree ------ */

/* Uniform in [0, n) by Lemire's multiply-shift (not rng_below's modulo: the
 * forest's draws were defined this way, and changing it would change every
 * trained forest); the tiny bias for huge n does not matter here. */
static uint64_t pick_below(uint64_t *s, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rng_next(s) * n) >> 64);
}

static uint64_t tree_seed(uint64_t seed, size_t t)
{
    uint64_t s = seed ^ (0xd1b54a32d192ed03ULL * (uint64_t)(t + 1));
    rng_next(&s);
    return s;
}

/* Bootstrap multiplicities: the first draws of a tree's generator, so the
 * out-of-bag pass can replay them. */
static void draw_bootstrap(uint64_t *rng, size_t n, int bootstrap, uint32_t *w)
{
    if (!bootstrap) {
        for (size_t i = 0; i < n; i++)
            w[i] = 1;
        return;
    }
    memset(w, 0, n * sizeof *w);
    for (size_t i = 0; i < n; i++)
        w[pick_below(rng, n)]++;
}

/* ---- one tree ---------------------------------------------------------- */

struct tree {
    struct forest_node *nodes;
    float *value; /* n * C */
    size_t n, cap;
    double *importance; /* D, unnormalised */
};

struct pair {
    float v;
    int32_t row;
};

struct scratch {
    uint32_t *w;  /* bootstrap weights, n */
    int32_t *idx; /* rows with weight > 0 */
    struct pair *pairs;
    int32_t *feats;   /* D */
    double *cnt, *cl; /* C each */
};

static int cmp_pair(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    if (x->v != y->v)
        return x->v < y->v ? -1 : 1;
    return x->row - y->row; /* total order: deterministic qsort result */
}

static int tree_add_node(struct tree *t, size_t C)
{
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 64;
        if (nc > FOREST_MAX_NODES)
            return -1;
        struct forest_node *nn = realloc(t->nodes, nc * sizeof *nn);
        if (!nn)
            return -1;
        t->nodes = nn;
        float *nv = realloc(t->value, nc * C * sizeof *nv);
        if (!nv)
            return -1;
        t->value = nv;
        t->cap = nc;
    }
    struct forest_node *nd = &t->nodes[t->n];
    nd->feature = -1;
    nd->threshold = 0;
    nd->left = nd->right = -1;
    memset(t->value + t->n * C, 0, C * sizeof(float));
    return (int)(t->n++);
}

struct build_job {
    int32_t node;
    size_t s, e;
    int depth;
};

struct train_ctx {
    const float *x;
    const int32_t *y;
    size_t n, d, C;
    const struct forest_params *p;
    int max_features;
    struct tree *trees;
    size_t next_tree; /* atomic work counter */
    int failed;       /* atomic: an allocation failed */
};

/* The class counts of rows [s, e) into sc->cnt, their total weight *W and
 * sum of squares *sq, and the node's class shares into its value row.
 * Returns how many classes are present. */
static size_t node_counts(const struct train_ctx *c, struct scratch *sc, struct tree *tr,
                          const struct build_job *job, double *W, double *sq)
{
    const size_t C = c->C;
    double *cnt = sc->cnt;
    *W = 0;
    *sq = 0;
    memset(cnt, 0, C * sizeof *cnt);
    for (size_t i = job->s; i < job->e; i++) {
        int32_t r = sc->idx[i];
        cnt[c->y[r]] += sc->w[r];
    }
    size_t nonzero = 0;
    for (size_t k = 0; k < C; k++) {
        *W += cnt[k];
        *sq += cnt[k] * cnt[k];
        nonzero += cnt[k] > 0;
    }
    float *val = tr->value + (size_t)job->node * C;
    for (size_t k = 0; k < C; k++)
        val[k] = *W > 0 ? (float)(cnt[k] / *W) : 0.0f;
    return nonzero;
}

/* The best split of rows [s, e) (class counts in sc->cnt, weight W, sum of
 * squares sq) over a random subset of max_features features, by the
 * weighted Gini gain: *best_f (-1: none valid), *best_thr and its score. */
static void best_split(const struct train_ctx *c, struct scratch *sc, uint64_t *rng, size_t s,
                       size_t e, double W, double sq, int32_t *best_f, float *best_thr,
                       double *best)
{
    const size_t d = c->d, C = c->C, cnt_rows = e - s;
    const int msl = c->p->min_samples_leaf;
    const double *cnt = sc->cnt;
    for (size_t j = 0; j < d; j++)
        sc->feats[j] = (int32_t)j;
    *best = -1;
    *best_f = -1;
    *best_thr = 0;
    size_t visited = 0, evaluated = 0;
    for (size_t j = 0; j < d; j++) {
        if (visited >= (size_t)c->max_features && evaluated > 0 && *best_f >= 0)
            break;
        size_t pick = j + (size_t)pick_below(rng, d - j);
        int32_t f = sc->feats[pick];
        sc->feats[pick] = sc->feats[j];
        sc->feats[j] = f;
        visited++;
        struct pair *pr = sc->pairs;
        float lo = FLT_MAX, hi = -FLT_MAX;
        for (size_t i = s; i < e; i++) {
            int32_t r = sc->idx[i];
            float v = c->x[(size_t)r * d + f];
            pr[i - s] = (struct pair){v, r};
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        if (lo == hi)
            continue; /* constant here: cannot split */
        evaluated++;
        qsort(pr, cnt_rows, sizeof *pr, cmp_pair);
        double *cl = sc->cl, wl = 0, sql = 0, sqr = sq;
        memset(cl, 0, C * sizeof *cl);
        for (size_t i = 0; i + 1 < cnt_rows; i++) {
            int32_t r = pr[i].row;
            double w = sc->w[r];
            size_t k = (size_t)c->y[r];
            double crk = cnt[k] - cl[k];
            sql += (cl[k] + w) * (cl[k] + w) - cl[k] * cl[k];
            sqr += (crk - w) * (crk - w) - crk * crk;
            cl[k] += w;
            wl += w;
            if (pr[i].v == pr[i + 1].v)
                continue;
            size_t nl = i + 1;
            if (nl < (size_t)msl || cnt_rows - nl < (size_t)msl)
                continue;
            double wr = W - wl;
            double score = sql / wl + sqr / wr;
            if (score > *best + 1e-12 * W) {
                *best = score;
                *best_f = f;
                double mid = 0.5 * ((double)pr[i].v + (double)pr[i + 1].v);
                float thr = (float)mid;
                if (!(thr < pr[i + 1].v))
                    thr = pr[i].v;
                *best_thr = thr;
            }
        }
    }
}

/* Partition rows [s, e) by x[f] <= thr; returns where the right side starts. */
static size_t partition(const struct train_ctx *c, struct scratch *sc, size_t s, size_t e,
                        int32_t f, float thr)
{
    size_t a = s, b = e;
    while (a < b) {
        if (c->x[(size_t)sc->idx[a] * c->d + f] <= thr)
            a++;
        else {
            b--;
            int32_t tmp = sc->idx[a];
            sc->idx[a] = sc->idx[b];
            sc->idx[b] = tmp;
        }
    }
    return a;
}

/* Grow tree t depth-first from a stack of nodes to split. Returns 0 or -1
 * (out of memory). */
static int grow_tree(struct train_ctx *c, size_t t, struct scratch *sc)
{
    const size_t n = c->n, d = c->d, C = c->C;
    const int msl = c->p->min_samples_leaf, max_depth = c->p->max_depth;
    struct tree *tr = &c->trees[t];
    uint64_t rng = tree_seed(c->p->seed, t);
    draw_bootstrap(&rng, n, c->p->bootstrap, sc->w);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (sc->w[i])
            sc->idx[m++] = (int32_t)i;
    tr->importance = calloc(d, sizeof *tr->importance);
    if (!tr->importance)
        return -1;

    size_t stack_cap = 64, top = 0;
    struct build_job *stack = malloc(stack_cap * sizeof *stack);
    int root = tree_add_node(tr, C);
    if (!stack || root < 0) {
        free(stack);
        return -1;
    }
    stack[top++] = (struct build_job){root, 0, m, 0};
    int rc = 0;
    while (top && rc == 0) {
        struct build_job job = stack[--top];
        double W, sq;
        size_t nonzero = node_counts(c, sc, tr, &job, &W, &sq);
        if (nonzero <= 1 || (max_depth > 0 && job.depth >= max_depth) ||
            job.e - job.s < 2 * (size_t)msl)
            continue; /* leaf */
        int32_t best_f;
        float best_thr;
        double best, base = sq / W;
        best_split(c, sc, &rng, job.s, job.e, W, sq, &best_f, &best_thr, &best);
        if (best_f < 0)
            continue; /* no valid split: leaf */
        size_t a = partition(c, sc, job.s, job.e, best_f, best_thr);
        tr->importance[best_f] += best - base > 0 ? best - base : 0;
        int l = tree_add_node(tr, C), r = l < 0 ? -1 : tree_add_node(tr, C);
        if (l < 0 || r < 0) {
            rc = -1;
            break;
        }
        struct forest_node *nd = &tr->nodes[job.node];
        nd->feature = best_f;
        nd->threshold = best_thr;
        nd->left = l;
        nd->right = r;
        memset(tr->value + (size_t)job.node * C, 0, C * sizeof(float));
        if (top + 2 > stack_cap) {
            struct build_job *ns = realloc(stack, stack_cap * 2 * sizeof *ns);
            if (!ns) {
                rc = -1;
                break;
            }
            stack = ns;
            stack_cap *= 2;
        }
        /* Right pushed first so the left subtree is grown first (depth-first). */
        stack[top++] = (struct build_job){r, a, job.e, job.depth + 1};
        stack[top++] = (struct build_job){l, job.s, a, job.depth + 1};
    }
    free(stack);
    return rc;
}

static void scratch_free(struct scratch *sc)
{
    free(sc->w);
    free(sc->idx);
    free(sc->pairs);
    free(sc->feats);
    free(sc->cnt);
    free(sc->cl);
}

static int scratch_init(struct scratch *sc, size_t n, size_t d, size_t C)
{
    sc->w = malloc(n * sizeof *sc->w);
    sc->idx = malloc(n * sizeof *sc->idx);
    sc->pairs = malloc(n * sizeof *sc->pairs);
    sc->feats = malloc(d * sizeof *sc->feats);
    sc->cnt = malloc(C * sizeof *sc->cnt);
    sc->cl = malloc(C * sizeof *sc->cl);
    if (!sc->w || !sc->idx || !sc->pairs || !sc->feats || !sc->cnt || !sc->cl) {
        scratch_free(sc);
        return -1;
    }
    return 0;
}

static void *train_worker(void *arg)
{
    struct train_ctx *c = arg;
    struct scratch sc = {0};
    if (scratch_init(&sc, c->n, c->d, c->C)) {
        __atomic_store_n(&c->failed, 1, __ATOMIC_RELAXED);
        return NULL;
    }
    for (;;) {
        size_t t = __atomic_fetch_add(&c->next_tree, 1, __ATOMIC_RELAXED);
        if (t >= (size_t)c->p->n_trees || __atomic_load_n(&c->failed, __ATOMIC_RELAXED))
            break;
        if (grow_tree(c, t, &sc)) {
            __atomic_store_n(&c->failed, 1, __ATOMIC_RELAXED);
            break;
        }
    }
    scratch_free(&sc);
    return NULL;
}

/* ---- the assembled forest ---------------------------------------------- */

void forest_free(struct forest *f)
{
    if (!f)
        return;
    free(f->tree_offsets);
    free(f->feature);
    free(f->threshold);
    free(f->left);
    free(f->right);
    free(f->value);
    free(f->importances);
    free(f->nodes);
    strv_free(f->feature_names, f->n_features);
    strv_free(f->class_names, f->n_classes);
    free(f);
}

/* Allocate the flat arrays for N nodes and build the packed copy + io. */
static int forest_alloc(struct forest *f, size_t N)
{
    size_t nn = N ? N : 1;
    f->n_nodes = N;
    f->tree_offsets = calloc(f->n_trees + 1, sizeof *f->tree_offsets);
    f->feature = malloc(nn * sizeof *f->feature);
    f->threshold = malloc(nn * sizeof *f->threshold);
    f->left = malloc(nn * sizeof *f->left);
    f->right = malloc(nn * sizeof *f->right);
    f->value = malloc(nn * f->n_classes * sizeof *f->value);
    f->importances = calloc(f->n_features, sizeof *f->importances);
    f->nodes = malloc(nn * sizeof *f->nodes);
    return f->tree_offsets && f->feature && f->threshold && f->left && f->right && f->value &&
                   f->importances && f->nodes
               ? 0
               : -1;
}

static void forest_finish(struct forest *f)
{
    for (size_t i = 0; i < f->n_nodes; i++)
        f->nodes[i] = (struct forest_node){f->feature[i], f->threshold[i], f->left[i], f->right[i]};
    f->io.kind = MODEL_INPUT_NUMERIC;
    f->io.n_features = f->n_features;
    f->io.ndim = 1;
    f->io.shape[0] = (int64_t)f->n_features;
    f->io.feature_names = (const char *const *)f->feature_names;
    f->io.min_value = -FLT_MAX;
    f->io.max_value = FLT_MAX;
    f->io.n_classes = f->n_classes;
    f->io.class_names = (const char *const *)f->class_names;
}

static inline const float *walk(const struct forest_node *nodes, const float *value, size_t C,
                                const float *row)
{
    int32_t i = 0;
    while (nodes[i].feature >= 0)
        i = row[nodes[i].feature] <= nodes[i].threshold ? nodes[i].left : nodes[i].right;
    return value + (size_t)i * C;
}

void forest_predict(const struct forest *f, const float *x, size_t n, float *prob)
{
    const size_t C = f->n_classes, D = f->n_features, B = 64;
    memset(prob, 0, n * C * sizeof *prob);
    /* Tree-major within blocks of rows: a tree stays in cache for B rows. */
    for (size_t r0 = 0; r0 < n; r0 += B) {
        size_t r1 = r0 + B < n ? r0 + B : n;
        for (size_t t = 0; t < f->n_trees; t++) {
            const struct forest_node *nodes = f->nodes + f->tree_offsets[t];
            const float *value = f->value + (size_t)f->tree_offsets[t] * C;
            for (size_t r = r0; r < r1; r++) {
                const float *v = walk(nodes, value, C, x + r * D);
                float *p = prob + r * C;
                for (size_t k = 0; k < C; k++)
                    p[k] += v[k];
            }
        }
    }
    float inv = 1.0f / (float)f->n_trees;
    for (size_t i = 0; i < n * C; i++)
        prob[i] *= inv;
}

/* The grown trees into f's flat node arrays, one after another, and the
 * feature importances: each tree's normalised to sum 1, averaged, and
 * normalised again. 0 or -1 (out of memory). */
static int pack_trees(struct forest *f, const struct tree *trees)
{
    const size_t d = f->n_features, C = f->n_classes;
    double *imp = calloc(d, sizeof *imp);
    if (!imp)
        return -1;
    size_t off = 0;
    for (size_t t = 0; t < f->n_trees; t++) {
        const struct tree *tr = &trees[t];
        f->tree_offsets[t] = (int64_t)off;
        for (size_t i = 0; i < tr->n; i++) {
            f->feature[off + i] = tr->nodes[i].feature;
            f->threshold[off + i] = tr->nodes[i].threshold;
            f->left[off + i] = tr->nodes[i].left;
            f->right[off + i] = tr->nodes[i].right;
        }
        memcpy(f->value + off * C, tr->value, tr->n * C * sizeof(float));
        off += tr->n;
        double s = 0;
        for (size_t j = 0; j < d; j++)
            s += tr->importance[j];
        for (size_t j = 0; j < d && s > 0; j++)
            imp[j] += tr->importance[j] / s;
    }
    f->tree_offsets[f->n_trees] = (int64_t)off;
    double s = 0;
    for (size_t j = 0; j < d; j++)
        s += imp[j];
    for (size_t j = 0; j < d; j++)
        f->importances[j] = s > 0 ? (float)(imp[j] / s) : 0.0f;
    free(imp);
    return 0;
}

/* Out-of-bag accuracy of f on its n training rows: replay each tree's
 * bootstrap draw; trees are visited in order so the float sums do not depend
 * on threads. NAN when no row was left out of every tree (or out of memory). */
static double oob_accuracy(const struct forest *f, const float *x, const int32_t *y, size_t n,
                           uint64_t seed)
{
    const size_t d = f->n_features, n_classes = f->n_classes;
    double acc = NAN;
    float *oob = calloc(n * n_classes, sizeof *oob);
    uint32_t *w = malloc(n * sizeof *w);
    if (oob && w) {
        for (size_t t = 0; t < f->n_trees; t++) {
            uint64_t rng = tree_seed(seed, t);
            draw_bootstrap(&rng, n, 1, w);
            const struct forest_node *nodes = f->nodes + f->tree_offsets[t];
            const float *value = f->value + (size_t)f->tree_offsets[t] * n_classes;
            for (size_t i = 0; i < n; i++)
                if (!w[i]) {
                    const float *v = walk(nodes, value, n_classes, x + i * d);
                    for (size_t k = 0; k < n_classes; k++)
                        oob[i * n_classes + k] += v[k];
                }
        }
        size_t voted = 0, right = 0;
        for (size_t i = 0; i < n; i++) {
            const float *o = oob + i * n_classes;
            size_t bk = 0;
            float tot = 0;
            for (size_t k = 0; k < n_classes; k++) {
                tot += o[k];
                if (o[k] > o[bk])
                    bk = k;
            }
            if (tot > 0) {
                voted++;
                right += (int32_t)bk == y[i];
            }
        }
        if (voted)
            acc = (double)right / (double)voted;
    }
    free(oob);
    free(w);
    return acc;
}

int forest_train(const float *x, const int32_t *y, size_t n, size_t d, size_t n_classes,
                 const char *const *feature_names, const char *const *class_names,
                 const struct forest_params *p, struct forest **out, enc_err *err)
{
    *out = NULL;
    if (!n || !d || n_classes < 1 || n > (size_t)INT32_MAX)
        return enc_errf(err, ENC_EINVAL,
                        "forest: need rows, features and classes (n=%zu d=%zu C=%zu)", n, d,
                        n_classes);
    if (p->n_trees < 1 || p->min_samples_leaf < 1 || p->max_depth < 0 || p->max_features < 0 ||
        p->threads < 1)
        return enc_errf(err, ENC_EINVAL,
                        "forest: bad parameters (trees %d, min_samples_leaf %d, "
                        "max_depth %d, max_features %d, threads %d)",
                        p->n_trees, p->min_samples_leaf, p->max_depth, p->max_features, p->threads);
    for (size_t i = 0; i < n; i++)
        if (y[i] < 0 || (size_t)y[i] >= n_classes)
            return enc_errf(err, ENC_EINVAL, "forest: label %d of row %zu outside 0..%zu", y[i], i,
                            n_classes - 1);
    struct train_ctx c = {x, y, n, d, n_classes, p, 0, NULL, 0, 0};
    c.max_features = p->max_features ? p->max_features : (int)floor(sqrt((double)d));
    if (c.max_features < 1)
        c.max_features = 1;
    if ((size_t)c.max_features > d)
        c.max_features = (int)d;
    c.trees = calloc((size_t)p->n_trees, sizeof *c.trees);
    if (!c.trees)
        return enc_errf(err, ENC_ENOMEM, "forest: out of memory");
    int nth = p->threads < p->n_trees ? p->threads : p->n_trees;
    pthread_t *th = calloc((size_t)nth, sizeof *th);
    int started = 0;
    if (th)
        for (; started < nth - 1; started++)
            if (pthread_create(&th[started], NULL, train_worker, &c))
                break;
    train_worker(&c); /* the calling thread works too */
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    free(th);

    struct forest *f = NULL;
    int rc = 0;
    if (c.failed || __atomic_load_n(&c.next_tree, __ATOMIC_RELAXED) < (size_t)p->n_trees) {
        rc = enc_errf(err, ENC_ENOMEM, "forest: out of memory while growing trees");
        goto out;
    }
    size_t N = 0;
    for (int t = 0; t < p->n_trees; t++)
        N += c.trees[t].n;
    f = calloc(1, sizeof *f);
    if (!f) {
        rc = enc_errf(err, ENC_ENOMEM, "forest: out of memory");
        goto out;
    }
    f->n_trees = (size_t)p->n_trees;
    f->n_features = d;
    f->n_classes = n_classes;
    if (N > FOREST_MAX_NODES || forest_alloc(f, N) ||
        !(f->feature_names = strv_dup(feature_names, d, "f")) ||
        !(f->class_names = strv_dup(class_names, n_classes, "")) || pack_trees(f, c.trees)) {
        rc = enc_errf(err, ENC_ENOMEM, "forest: out of memory");
        goto out;
    }
    forest_finish(f);
    f->oob_accuracy = p->bootstrap ? oob_accuracy(f, x, y, n, p->seed) : NAN;
out:
    for (int t = 0; t < p->n_trees; t++) {
        free(c.trees[t].nodes);
        free(c.trees[t].value);
        free(c.trees[t].importance);
    }
    free(c.trees);
    if (rc) {
        forest_free(f);
        return rc;
    }
    *out = f;
    return 0;
}

/* ---- hyperparameters as JSON --------------------------------------------- */

json_t *forest_params_json(const struct forest_params *p)
{
    return json_pack("{s:i, s:i, s:i, s:i, s:I, s:b}", "trees", p->n_trees, "max_depth",
                     p->max_depth, "min_samples_leaf", p->min_samples_leaf, "max_features",
                     p->max_features, "seed", (json_int_t)p->seed, "bootstrap", p->bootstrap);
}

int forest_params_from_json(const json_t *j, struct forest_params *p, enc_err *err)
{
    static const struct {
        const char *key;
        size_t off;
        long long min, max;
    } keys[] = {
        {"trees", offsetof(struct forest_params, n_trees), 1, 100000},
        {"max_depth", offsetof(struct forest_params, max_depth), 0, 100000},
        {"min_samples_leaf", offsetof(struct forest_params, min_samples_leaf), 1, INT32_MAX},
        {"max_features", offsetof(struct forest_params, max_features), 0, INT32_MAX},
    };
    if (!json_is_object(j))
        return enc_errf(err, ENC_EINVAL, "forest hyperparameters: not a JSON object");
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        json_t *v = json_object_get(j, keys[i].key);
        if (!v)
            continue;
        if (!json_is_integer(v) || json_integer_value(v) < keys[i].min ||
            json_integer_value(v) > keys[i].max)
            return enc_errf(err, ENC_EINVAL, "forest hyperparameters: bad '%s'", keys[i].key);
        *(int *)((char *)p + keys[i].off) = (int)json_integer_value(v);
    }
    json_t *v = json_object_get(j, "seed");
    if (v) {
        if (!json_is_integer(v))
            return enc_errf(err, ENC_EINVAL, "forest hyperparameters: bad 'seed'");
        p->seed = (uint64_t)json_integer_value(v);
    }
    v = json_object_get(j, "bootstrap");
    if (v) {
        if (!json_is_boolean(v))
            return enc_errf(err, ENC_EINVAL, "forest hyperparameters: bad 'bootstrap'");
        p->bootstrap = json_is_true(v);
    }
    return 0;
}

/* ---- file ------------------------------------------------------------------ */

int forest_write(const struct forest *f, st_writer *w, const json_t *hyper, const char *fingerprint)
{
    int64_t N = (int64_t)f->n_nodes, T1 = (int64_t)f->n_trees + 1;
    int64_t vshape[2] = {N, (int64_t)f->n_classes}, dshape[1] = {(int64_t)f->n_features};
    int rc = st_writer_add(w, "tree_offsets", ST_I64, 1, &T1, f->tree_offsets);
    rc = rc ? rc : st_writer_add(w, "feature", ST_I32, 1, &N, f->feature);
    rc = rc ? rc : st_writer_add(w, "threshold", ST_F32, 1, &N, f->threshold);
    rc = rc ? rc : st_writer_add(w, "left", ST_I32, 1, &N, f->left);
    rc = rc ? rc : st_writer_add(w, "right", ST_I32, 1, &N, f->right);
    rc = rc ? rc : st_writer_add(w, "value", ST_F32, 2, vshape, f->value);
    rc = rc ? rc : st_writer_add(w, "feature_importances", ST_F32, 1, dshape, f->importances);
    rc = rc ? rc
            : st_writer_add_strings(w, "feature_names", (const char *const *)f->feature_names, NULL,
                                    f->n_features);
    rc = rc ? rc
            : st_writer_add_strings(w, "class_names", (const char *const *)f->class_names, NULL,
                                    f->n_classes);
    rc = rc ? rc : model_write_common_meta(w, "forest", hyper, fingerprint);
    char buf[64];
    snprintf(buf, sizeof buf, "%.6f", f->oob_accuracy);
    rc = rc ? rc : st_writer_meta(w, "oob_accuracy", isnan(f->oob_accuracy) ? "null" : buf);
    return rc;
}

int forest_from_file(const st_file *file, struct forest **out, enc_err *err)
{
    *out = NULL;
    st_strings fn, cn;
    const st_tensor *to, *fe, *th, *le, *ri, *va, *im;
    int64_t any1[1] = {-1};
    int rc = st_expect_strings(file, "feature_names", -1, &fn, err);
    rc = rc ? rc : st_expect_strings(file, "class_names", -1, &cn, err);
    rc = rc ? rc : st_expect(file, "tree_offsets", ST_I64, 1, any1, &to, err);
    if (rc)
        return rc;
    size_t D = fn.n, C = cn.n;
    if (D < 1 || C < 1 || to->shape[0] < 2)
        return enc_errf(err, ENC_EFORMAT,
                        "forest: needs >= 1 feature, class and tree (D=%zu C=%zu "
                        "tree_offsets=%lld)",
                        D, C, (long long)to->shape[0]);
    size_t T = (size_t)to->shape[0] - 1;
    const int64_t *off = to->data;
    int64_t N = off[T];
    if (N < 1 || (uint64_t)N > FOREST_MAX_NODES)
        return enc_errf(err, ENC_EFORMAT, "forest: tree_offsets ends at %lld nodes", (long long)N);
    int64_t nshape[1] = {N}, vshape[2] = {N, (int64_t)C}, dshape[1] = {(int64_t)D};
    rc = st_expect(file, "feature", ST_I32, 1, nshape, &fe, err);
    rc = rc ? rc : st_expect(file, "threshold", ST_F32, 1, nshape, &th, err);
    rc = rc ? rc : st_expect(file, "left", ST_I32, 1, nshape, &le, err);
    rc = rc ? rc : st_expect(file, "right", ST_I32, 1, nshape, &ri, err);
    rc = rc ? rc : st_expect(file, "value", ST_F32, 2, vshape, &va, err);
    rc = rc ? rc : st_expect(file, "feature_importances", ST_F32, 1, dshape, &im, err);
    if (rc)
        return rc;
    if (off[0] != 0)
        return enc_errf(err, ENC_EFORMAT, "forest: tree_offsets[0] is %lld, not 0",
                        (long long)off[0]);
    for (size_t t = 0; t < T; t++)
        if (off[t + 1] <= off[t])
            return enc_errf(err, ENC_EFORMAT, "forest: tree_offsets not increasing at tree %zu", t);
    const int32_t *F = fe->data, *L = le->data, *R = ri->data;
    const float *TH = th->data, *V = va->data, *IM = im->data;
    for (size_t t = 0; t < T; t++) {
        int64_t size = off[t + 1] - off[t];
        for (int64_t i = 0; i < size; i++) {
            size_t g = (size_t)(off[t] + i);
            if (F[g] == -1) {
                if (L[g] != -1 || R[g] != -1)
                    return enc_errf(err, ENC_EFORMAT,
                                    "forest: tree %zu node %lld: a leaf with children", t,
                                    (long long)i);
                for (size_t k = 0; k < C; k++)
                    if (!isfinite(V[g * C + k]) || V[g * C + k] < 0 || V[g * C + k] > 1)
                        return enc_errf(err, ENC_EFORMAT,
                                        "forest: tree %zu node %lld: leaf value outside 0..1", t,
                                        (long long)i);
                continue;
            }
            if (F[g] < 0 || (size_t)F[g] >= D)
                return enc_errf(err, ENC_EFORMAT,
                                "forest: tree %zu node %lld: feature %d outside 0..%zu", t,
                                (long long)i, F[g], D - 1);
            if (!isfinite(TH[g]))
                return enc_errf(err, ENC_EFORMAT,
                                "forest: tree %zu node %lld: threshold not finite", t,
                                (long long)i);
            if (L[g] <= i || L[g] >= size || R[g] <= i || R[g] >= size)
                return enc_errf(err, ENC_EFORMAT,
                                "forest: tree %zu node %lld: children %d/%d not in %lld..%lld", t,
                                (long long)i, L[g], R[g], (long long)i + 1, (long long)size - 1);
        }
    }
    for (size_t j = 0; j < D; j++)
        if (!isfinite(IM[j]))
            return enc_errf(err, ENC_EFORMAT, "forest: feature_importances[%zu] not finite", j);
    struct forest *f = calloc(1, sizeof *f);
    if (!f)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    f->n_trees = T;
    f->n_features = D;
    f->n_classes = C;
    if (forest_alloc(f, (size_t)N) ||
        !(f->feature_names = strv_from_table(fn.bytes, fn.offsets, fn.n)) ||
        !(f->class_names = strv_from_table(cn.bytes, cn.offsets, cn.n))) {
        forest_free(f);
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    memcpy(f->tree_offsets, off, (T + 1) * sizeof *off);
    memcpy(f->feature, F, (size_t)N * sizeof *F);
    memcpy(f->threshold, TH, (size_t)N * sizeof *TH);
    memcpy(f->left, L, (size_t)N * sizeof *L);
    memcpy(f->right, R, (size_t)N * sizeof *R);
    memcpy(f->value, V, (size_t)N * C * sizeof *V);
    memcpy(f->importances, IM, D * sizeof *IM);
    const char *oob = st_meta(file, "oob_accuracy");
    f->oob_accuracy = oob && strcmp(oob, "null") != 0 ? strtod(oob, NULL) : NAN;
    forest_finish(f);
    *out = f;
    return 0;
}

/* ---- the family row ------------------------------------------------------------ */

static int ops_load(const st_file *file, const struct model_load_opts *opts, void **state,
                    enc_err *err)
{
    struct forest *f;
    int rc = forest_from_file(file, &f, err);
    *state = rc ? NULL : f;
    return rc;
}

static void ops_free(void *state)
{
    forest_free(state);
}

static size_t ops_mem(const void *state)
{
    const struct forest *f = state;
    size_t s = sizeof *f + (f->n_trees + 1) * sizeof(int64_t) +
               f->n_nodes * (4 * sizeof(int32_t) + sizeof(float) + sizeof(struct forest_node)) +
               f->n_nodes * f->n_classes * sizeof(float) + f->n_features * sizeof(float);
    return s + strv_mem(f->feature_names, f->n_features) + strv_mem(f->class_names, f->n_classes);
}

static int ops_describe(const void *state, json_t *o)
{
    const struct forest *f = state;
    int bad = json_object_set_new(o, "trees", json_integer((json_int_t)f->n_trees));
    bad |= json_object_set_new(o, "nodes", json_integer((json_int_t)f->n_nodes));
    bad |= json_object_set_new(o, "oob_accuracy",
                               isnan(f->oob_accuracy) ? json_null() : json_real(f->oob_accuracy));
    json_t *imp = json_object();
    for (size_t i = 0; i < f->n_features; i++)
        bad |= json_object_set_new(imp, f->feature_names[i], json_real(f->importances[i]));
    bad |= json_object_set_new(o, "features", strv_json(f->feature_names, f->n_features));
    bad |= json_object_set_new(o, "classes", strv_json(f->class_names, f->n_classes));
    bad |= json_object_set_new(o, "feature_importances", imp);
    return bad ? ENC_ENOMEM : 0;
}

static const struct model_io *ops_io(const void *state)
{
    return &((const struct forest *)state)->io;
}

static int ops_predict(const void *state, const struct model_batch *b, float *prob, enc_err *err)
{
    if (!b->x)
        return enc_errf(err, ENC_EINVAL, "forest: numeric input expected");
    forest_predict(state, b->x, b->n, prob);
    return 0;
}

static int ops_write(const void *data, st_writer *w, const json_t *hyper, const char *fingerprint)
{
    return forest_write(data, w, hyper, fingerprint);
}

const struct model_ops forest_ops = {
    .family = "forest",
    .task = MODEL_TASK_CLASSIFY,
    .load = ops_load,
    .free = ops_free,
    .mem_usage = ops_mem,
    .describe = ops_describe,
    .write = ops_write,
    .io = ops_io,
    .predict = ops_predict,
};
