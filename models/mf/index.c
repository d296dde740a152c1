/*
 * index.c - the HNSW item index: save, load (validated, pointing into the
 * mapped model file) and the filtered search. The build is in
 * index_build.cc (hnswlib, C++), which only the trainer links.
 *
 * The walk is hnswlib's: from the entry point, greedy steps to a better
 * neighbour on each upper layer, then on layer 0 a best-first search that
 * keeps the ef best nodes found (`res`, a min-heap) and expands the best
 * unexpanded one (`cand`, a max-heap) until the best unexpanded node is
 * worse than the worst kept and ef are kept. The filter only decides what
 * enters `res`: ineligible nodes are still walked through (as hnswlib
 * 0.7's filtered search does), so a filter removing half the items costs
 * little recall, and a filter removing almost all of them makes the walk
 * long; `max_visits` bounds it and the caller answers exactly instead.
 */
#include "mf/index.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "mf/quant.h"

#define INDEX_NPARAMS 6

struct index {
    size_t n, m, m0, ef_construction, f;
    int32_t entry, top_layer;
    const int32_t *level0;    /* n * (m0 + 1) */
    const int64_t *upper_off; /* n + 1 */
    const int32_t *upper;
    const float *V; /* the model's item factors, n x f */
    /* The walk's row codes (derived at load from V, owned): n rows of
     * `cols` signed bytes (f rounded up to 32; 64 bytes, one cache line, at
     * 64 factors) and one scale per row; NULL: the walk scores in f32. */
    int8_t *codes;
    float *cscale;
    size_t cols;
    size_t bytes;
    int fast;        /* quant_fast() at load */
    char prefix[24]; /* of the tensors, for messages: "index" or "index_cosine" */
};

void index_params_default(struct index_params *p)
{
    /* 32, not hnswlib's 16: on ALS-shaped factors at 1M items M 32 reaches
     * recall@10 0.95 at ef ~200 in 0.32 ms, M 16 needs ef 300 and ~0.5-0.7 ms
     * (BENCHMARKS.md); the cost is twice the links (~260 vs 138 MB at 1M) and
     * ~1.5x the build time. */
    p->m = 32;
    p->ef_construction = 200;
    p->threads = 2;
    p->seed = 100; /* hnswlib's default */
}

void index_data_clear(struct index_data *d)
{
    if (!d)
        return;
    free(d->level0);
    free(d->upper_off);
    free(d->upper);
    memset(d, 0, sizeof *d);
}

/* "<prefix>.<suffix>" into buf (names are short: the prefixes are ours). */
static const char *tname(char *buf, size_t cap, const char *prefix, const char *suffix)
{
    snprintf(buf, cap, "%s.%s", prefix, suffix);
    return buf;
}

static const char *const index_suffixes[] = {"params", "level0", "upper.offsets", "upper.links"};
#define TNAME_MAX 64

int index_save_named(const struct index_data *d, const char *prefix, st_writer *w)
{
    int64_t params[INDEX_NPARAMS] = {INDEX_FORMAT,   (int64_t)d->m,
                                     (int64_t)d->m0, (int64_t)d->ef_construction,
                                     d->entry,       d->top_layer};
    int64_t ps[1] = {INDEX_NPARAMS}, l0[2] = {(int64_t)d->n, (int64_t)d->m0 + 1},
            uo[1] = {(int64_t)d->n + 1}, ul[1] = {d->upper_off[d->n]};
    char b[TNAME_MAX];
    int rc = st_writer_add(w, tname(b, sizeof b, prefix, "params"), ST_I64, 1, ps, params);
    rc = rc ? rc : st_writer_add(w, tname(b, sizeof b, prefix, "level0"), ST_I32, 2, l0, d->level0);
    rc = rc ? rc
            : st_writer_add(w, tname(b, sizeof b, prefix, "upper.offsets"), ST_I64, 1, uo,
                            d->upper_off);
    rc = rc ? rc
            : st_writer_add(w, tname(b, sizeof b, prefix, "upper.links"), ST_I32, 1, ul, d->upper);
    return rc;
}

int index_save(const struct index_data *d, st_writer *w)
{
    return index_save_named(d, INDEX_PREFIX, w);
}

int index_present_named(const st_file *f, const char *prefix)
{
    char b[TNAME_MAX];
    for (size_t i = 0; i < sizeof index_suffixes / sizeof *index_suffixes; i++)
        if (st_find(f, tname(b, sizeof b, prefix, index_suffixes[i])))
            return 1;
    return 0;
}

int index_present(const st_file *f)
{
    return index_present_named(f, INDEX_PREFIX);
}

/* ====================================================================== */
/* loading                                                                */

static inline int layers_of(const struct index *ix, size_t item)
{
    return (int)((ix->upper_off[item + 1] - ix->upper_off[item]) / (int64_t)(ix->m + 1));
}

/* Item `item`'s list on layer `layer` >= 1: count, then the links. */
static inline const int32_t *upper_list(const struct index *ix, size_t item, int layer)
{
    return ix->upper + ix->upper_off[item] + (int64_t)(layer - 1) * (int64_t)(ix->m + 1);
}

/* One adjacency list: count <= cap, links in [0, n), and on layer >= 1
 * every link reaches a node that has that layer. */
static int check_list(const struct index *ix, const int32_t *list, size_t cap, int layer,
                      size_t item, const char *what, enc_err *err)
{
    if (list[0] < 0 || (size_t)list[0] > cap)
        return enc_errf(err, ENC_EFORMAT, "%s: item %zu layer %d has %d links (0..%zu allowed)",
                        what, item, layer, list[0], cap);
    for (int32_t j = 1; j <= list[0]; j++) {
        int32_t to = list[j];
        if (to < 0 || (size_t)to >= ix->n)
            return enc_errf(err, ENC_EFORMAT, "%s: item %zu layer %d links to %d, outside 0..%zu",
                            what, item, layer, to, ix->n - 1);
        if (layer > 0 && layers_of(ix, (size_t)to) < layer)
            return enc_errf(err, ENC_EFORMAT,
                            "%s: item %zu layer %d links to item %d, which has no layer %d", what,
                            item, layer, to, layer);
    }
    return 0;
}

static int validate(struct index *ix, size_t n_links, enc_err *err)
{
    const int64_t *off = ix->upper_off;
    int64_t block = (int64_t)ix->m + 1;
    if (off[0] != 0 || off[ix->n] != (int64_t)n_links)
        return enc_errf(err, ENC_EFORMAT, "%s.upper.offsets must run from 0 to %zu", ix->prefix,
                        n_links);
    for (size_t i = 0; i < ix->n; i++) {
        int64_t span = off[i + 1] - off[i];
        if (span < 0 || span % block != 0 || span / block > ix->top_layer)
            return enc_errf(err, ENC_EFORMAT,
                            "%s.upper.offsets[%zu]: item %zu spans %lld links, not a whole number"
                            " of layers (%lld each) up to layer %d",
                            ix->prefix, i + 1, i, (long long)span, (long long)block,
                            (int)ix->top_layer);
    }
    if (layers_of(ix, (size_t)ix->entry) != ix->top_layer)
        return enc_errf(err, ENC_EFORMAT, "%s.params: entry item %d has %d layers, not %d",
                        ix->prefix, (int)ix->entry, layers_of(ix, (size_t)ix->entry),
                        (int)ix->top_layer);
    char l0name[TNAME_MAX], ulname[TNAME_MAX];
    tname(l0name, sizeof l0name, ix->prefix, "level0");
    tname(ulname, sizeof ulname, ix->prefix, "upper.links");
    for (size_t i = 0; i < ix->n; i++) {
        int rc = check_list(ix, ix->level0 + i * (ix->m0 + 1), ix->m0, 0, i, l0name, err);
        for (int l = 1; !rc && l <= layers_of(ix, i); l++)
            rc = check_list(ix, upper_list(ix, i, l), ix->m, l, i, ulname, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* Memory for the walk's codes, in transparent huge pages where the kernel
 * allows (2 MB aligned, MADV_HUGEPAGE): the walk reads one random row per
 * visit, and with 4 KB pages each of those is a TLB miss too (a nested
 * page walk in a VM). Falls back to ordinary pages silently. */
static void *huge_alloc(size_t bytes)
{
    size_t huge = (size_t)2 << 20, len = (bytes + huge - 1) / huge * huge;
    void *p = NULL;
    if (posix_memalign(&p, huge, len ? len : huge))
        return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, len, MADV_HUGEPAGE);
#endif
    return p;
}

/* The walk's int8 row codes from V (see struct index). Only with the AVX2
 * kernel: in portable C an f32 row product is as cheap as the int8 one. */
static int build_codes(struct index *ix, enc_err *err)
{
    if (!ix->fast || ix->f == 0 || ix->f > 1024)
        return 0;
    ix->cols = (ix->f + 31) / 32 * 32;
    ix->codes = huge_alloc(ix->n * ix->cols);
    ix->cscale = huge_alloc(ix->n * sizeof *ix->cscale);
    if (!ix->codes || !ix->cscale) {
        free(ix->codes);
        free(ix->cscale);
        ix->codes = NULL;
        ix->cscale = NULL;
        return enc_errf(err, ENC_ENOMEM, "%s: out of memory for the walk's row codes", ix->prefix);
    }
    for (size_t i = 0; i < ix->n; i++)
        ix->cscale[i] =
            quant_code_row(ix->V + i * ix->f, ix->f, ix->codes + i * ix->cols, ix->cols, 1);
    return 0;
}

int index_load_named(const st_file *f, const char *prefix, const float *V, size_t n, size_t fdim,
                     struct index **out, enc_err *err)
{
    *out = NULL;
    if (!index_present_named(f, prefix))
        return 0;
    const st_tensor *tp, *t0, *to, *tl;
    int64_t np[1] = {INDEX_NPARAMS}, l0[2] = {(int64_t)n, -1}, uo[1] = {(int64_t)n + 1},
            any[1] = {-1};
    char b[TNAME_MAX];
    int rc = st_expect(f, tname(b, sizeof b, prefix, "params"), ST_I64, 1, np, &tp, err);
    rc = rc ? rc : st_expect(f, tname(b, sizeof b, prefix, "level0"), ST_I32, 2, l0, &t0, err);
    rc = rc ? rc
            : st_expect(f, tname(b, sizeof b, prefix, "upper.offsets"), ST_I64, 1, uo, &to, err);
    rc =
        rc ? rc : st_expect(f, tname(b, sizeof b, prefix, "upper.links"), ST_I32, 1, any, &tl, err);
    if (rc)
        return rc;
    const int64_t *p = tp->data;
    if (p[0] != INDEX_FORMAT)
        return enc_errf(err, ENC_EFORMAT, "%s.params: format %lld, this server reads %d", prefix,
                        (long long)p[0], INDEX_FORMAT);
    if (p[1] < 1 || p[1] > INDEX_MAX_M || p[2] < p[1] || p[2] > 2 * INDEX_MAX_M ||
        t0->shape[1] != p[2] + 1)
        return enc_errf(err, ENC_EFORMAT,
                        "%s.params: M %lld / M0 %lld do not fit 1..%d or %s.level0's %lld "
                        "columns",
                        prefix, (long long)p[1], (long long)p[2], INDEX_MAX_M, prefix,
                        (long long)t0->shape[1]);
    if (p[4] < 0 || p[4] >= (int64_t)n || p[5] < 0 || p[5] >= INDEX_MAX_LAYERS || p[3] < 0)
        return enc_errf(err, ENC_EFORMAT,
                        "%s.params: entry %lld / top layer %lld / ef_construction %lld out of "
                        "range",
                        prefix, (long long)p[4], (long long)p[5], (long long)p[3]);
    struct index *ix = calloc(1, sizeof *ix);
    if (!ix)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    ix->n = n;
    ix->m = (size_t)p[1];
    ix->m0 = (size_t)p[2];
    ix->ef_construction = (size_t)p[3];
    ix->entry = (int32_t)p[4];
    ix->top_layer = (int32_t)p[5];
    ix->level0 = t0->data;
    ix->upper_off = to->data;
    ix->upper = tl->data;
    ix->V = V;
    ix->f = fdim;
    ix->bytes = tp->nbytes + t0->nbytes + to->nbytes + tl->nbytes;
    ix->fast = quant_fast();
    snprintf(ix->prefix, sizeof ix->prefix, "%s", prefix);
    rc = validate(ix, tl->count, err);
    rc = rc ? rc : build_codes(ix, err);
    if (rc) {
        free(ix);
        return rc;
    }
    *out = ix;
    return 0;
}

int index_load(const st_file *f, const float *V, size_t n, size_t fdim, struct index **out,
               enc_err *err)
{
    return index_load_named(f, INDEX_PREFIX, V, n, fdim, out, err);
}

int index_view(const struct index_data *d, const float *V, size_t fdim, struct index **out,
               enc_err *err)
{
    *out = NULL;
    struct index *ix = calloc(1, sizeof *ix);
    if (!ix)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    *ix = (struct index){.n = d->n,
                         .m = d->m,
                         .m0 = d->m0,
                         .ef_construction = d->ef_construction,
                         .f = fdim,
                         .entry = (int32_t)d->entry,
                         .top_layer = (int32_t)d->top_layer,
                         .level0 = d->level0,
                         .upper_off = d->upper_off,
                         .upper = d->upper,
                         .V = V,
                         .fast = quant_fast()};
    snprintf(ix->prefix, sizeof ix->prefix, "built");
    int rc = d->n && d->m >= 1 && d->m0 >= d->m && d->entry >= 0 && (size_t)d->entry < d->n
                 ? validate(ix, (size_t)d->upper_off[d->n], err)
                 : enc_errf(err, ENC_EINVAL, "index_view: an empty or malformed graph");
    rc = rc ? rc : build_codes(ix, err);
    if (rc) {
        free(ix);
        return rc;
    }
    *out = ix;
    return 0;
}

/* The brute-force top 10 of q over V (n x f), `self` left out, ties to the
 * lower row; into out (10 slots), returns the count. */
static size_t brute10(const float *V, size_t n, size_t f, const float *q, int32_t self, int fast,
                      struct reco_hit *out)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if ((int32_t)i == self)
            continue;
        float s = quant_dot(V + i * f, q, f, fast);
        if (len == 10 && !(s > out[9].score))
            continue;
        size_t at = len < 10 ? len++ : 9;
        while (at > 0 && out[at - 1].score < s) {
            out[at] = out[at - 1];
            at--;
        }
        out[at] = (struct reco_hit){(int32_t)i, s};
    }
    return len;
}

static int skip_self(const void *ctx, int32_t item)
{
    return item != *(const int32_t *)ctx;
}

int index_choose_ef(const struct index *ix, const float *Q, size_t nrows, int queries_are_items,
                    double target, size_t *ef_out, double *recall_out, enc_err *err)
{
    static const size_t efs[] = {16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1000};
    size_t ne = sizeof efs / sizeof *efs, n = ix->n, f = ix->f;
    size_t nq = nrows < INDEX_EF_QUERIES ? nrows : INDEX_EF_QUERIES;
    *ef_out = efs[ne - 1];
    *recall_out = 0;
    if (nq == 0 || n <= 10)
        return 0;
    size_t wb = index_work_bytes(ix, efs[ne - 1], 0);
    struct reco_hit *truth = malloc(nq * 10 * sizeof *truth);
    size_t *nt = malloc(nq * sizeof *nt);
    void *work = malloc(wb);
    if (!truth || !nt || !work) {
        free(truth);
        free(nt);
        free(work);
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    /* Queries spread evenly over the rows given (users, or items). */
    size_t step = nrows / nq;
    for (size_t i = 0; i < nq; i++) {
        size_t r = i * step;
        nt[i] = brute10(ix->V, n, f, Q + r * f, queries_are_items ? (int32_t)r : -1, ix->fast,
                        truth + i * 10);
    }
    for (size_t e = 0; e < ne; e++) {
        double sum = 0;
        size_t counted = 0;
        for (size_t i = 0; i < nq; i++) {
            if (!nt[i])
                continue;
            size_t r = i * step;
            int32_t self = (int32_t)r;
            struct reco_hit hits[10];
            size_t nh = 0;
            struct index_query q = {.u = Q + r * f,
                                    .k = 10,
                                    .ef = efs[e],
                                    .filter = queries_are_items ? skip_self : NULL,
                                    .filter_ctx = &self};
            index_search(ix, &q, work, wb, hits, &nh);
            size_t hit = 0;
            for (size_t a = 0; a < nh; a++)
                for (size_t b = 0; b < nt[i]; b++)
                    hit += hits[a].item == truth[i * 10 + b].item;
            sum += (double)hit / (double)nt[i];
            counted++;
        }
        double recall = counted ? sum / (double)counted : 1.0;
        *ef_out = efs[e];
        *recall_out = recall;
        if (recall >= target)
            break;
    }
    free(truth);
    free(nt);
    free(work);
    return 0;
}

void index_free(struct index *ix)
{
    if (!ix)
        return;
    free(ix->codes);
    free(ix->cscale);
    free(ix);
}

size_t index_m(const struct index *ix)
{
    return ix->m;
}
size_t index_ef_construction(const struct index *ix)
{
    return ix->ef_construction;
}
size_t index_bytes(const struct index *ix)
{
    return ix->bytes;
}
size_t index_code_bytes(const struct index *ix)
{
    return ix->codes ? ix->n * (ix->cols + sizeof *ix->cscale) : 0;
}

/* ====================================================================== */
/* search                                                                 */

size_t index_default_visits(const struct index *ix, size_t ef)
{
    size_t walk = 4 * ef * ix->m0, scan = ix->n / 32;
    return walk > scan ? walk : scan;
}

static size_t visited_words(size_t n)
{
    return (n + 63) / 64;
}

/* Candidates the layer-0 heap can hold: each item enters it at most once. */
static size_t cand_cap(const struct index *ix, size_t max_visits)
{
    return (max_visits < ix->n ? max_visits : ix->n) + 1;
}

size_t index_work_bytes(const struct index *ix, size_t ef, size_t max_visits)
{
    if (!max_visits)
        max_visits = index_default_visits(ix, ef);
    return visited_words(ix->n) * sizeof(uint64_t) +
           (cand_cap(ix, max_visits) + ef + 1) * sizeof(struct reco_hit);
}

/* "a is a better hit than b": higher score, then lower row (as mf.c). */
static inline int better(float sa, int32_t ia, float sb, int32_t ib)
{
    return sa > sb || (sa == sb && ia < ib);
}

/* Binary heaps of hits: `best_top` keeps the best at [0] (candidates),
 * otherwise the worst at [0] (the kept results). */
static void heap_push(struct reco_hit *h, size_t len, struct reco_hit x, int best_top)
{
    size_t c = len;
    while (c > 0) {
        size_t p = (c - 1) / 2;
        int up = best_top ? better(x.score, x.item, h[p].score, h[p].item)
                          : better(h[p].score, h[p].item, x.score, x.item);
        if (!up)
            break;
        h[c] = h[p];
        c = p;
    }
    h[c] = x;
}

static struct reco_hit heap_pop(struct reco_hit *h, size_t len, int best_top)
{
    struct reco_hit top = h[0], x = h[len - 1];
    size_t c = 0, n = len - 1;
    for (;;) {
        size_t l = 2 * c + 1, r = l + 1, w = c;
        struct reco_hit wv = x;
        if (l < n && (best_top ? better(h[l].score, h[l].item, wv.score, wv.item)
                               : better(wv.score, wv.item, h[l].score, h[l].item))) {
            w = l;
            wv = h[l];
        }
        if (r < n && (best_top ? better(h[r].score, h[r].item, wv.score, wv.item)
                               : better(wv.score, wv.item, h[r].score, h[r].item)))
            w = r;
        if (w == c)
            break;
        h[c] = h[w];
        c = w;
    }
    if (n)
        h[c] = x;
    return top;
}

/* How the walk scores an item: from the int8 row codes (one cache line
 * at 64 factors, against four for the f32 row: the walk is a chain of
 * cache misses on random rows, so its cost is the lines it touches), or in
 * f32 when the index has no codes or the query asks for f32. */
struct walk {
    const struct index *ix;
    const float *u;
    const int8_t *p; /* the query's codes (ix->cols), or NULL: f32 */
    float t;         /* the query's code scale */
};

static inline float walk_score(const struct walk *w, int32_t item)
{
    const struct index *ix = w->ix;
    if (w->p)
        return (float)quant_dot_s8(ix->codes + (size_t)item * ix->cols, w->p, ix->cols, ix->fast) *
               (ix->cscale[item] * w->t);
    return quant_dot(ix->V + (size_t)item * ix->f, w->u, ix->f, ix->fast);
}

static inline void prefetch_row(const struct index *ix, int32_t item)
{
    const char *p = (const char *)(ix->V + (size_t)item * ix->f);
    for (size_t b = 0; b < ix->f * sizeof(float); b += 64)
        __builtin_prefetch(p + b);
}

static inline void walk_prefetch(const struct walk *w, int32_t item)
{
    const struct index *ix = w->ix;
    if (!w->p) {
        prefetch_row(ix, item);
        return;
    }
    const int8_t *c = ix->codes + (size_t)item * ix->cols;
    for (size_t b = 0; b < ix->cols; b += 64)
        __builtin_prefetch(c + b);
    __builtin_prefetch(ix->cscale + item);
}

/* The kept hits (a worst-top heap of nr, scored from codes) re-scored in
 * f32, the best `keep` by code score first: the answer's ranking is the
 * model's. tmp holds nr hits. Returns the new count. */
static size_t rerank(const struct index *ix, const float *u, struct reco_hit *res, size_t nr,
                     size_t keep, struct reco_hit *tmp)
{
    while (nr > keep)
        heap_pop(res, nr--, 0);
    enum { AHEAD = 8 }; /* rows in flight: more only queue behind the misses */
    for (size_t i = 0; i < nr && i < AHEAD; i++)
        prefetch_row(ix, res[i].item);
    size_t m = 0;
    for (size_t i = 0; i < nr; i++) {
        if (i + AHEAD < nr)
            prefetch_row(ix, res[i + AHEAD].item);
        int32_t it = res[i].item;
        heap_push(tmp, m++,
                  (struct reco_hit){it, quant_dot(ix->V + (size_t)it * ix->f, u, ix->f, ix->fast)},
                  0);
    }
    memcpy(res, tmp, m * sizeof *res);
    return m;
}

int index_search(const struct index *ix, const struct index_query *q, void *work, size_t work_bytes,
                 struct reco_hit *hits, size_t *n_hits)
{
    *n_hits = 0;
    size_t k = q->k, ef = q->ef > k ? q->ef : k;
    size_t max_visits = q->max_visits ? q->max_visits : index_default_visits(ix, ef);
    if (k == 0)
        return 0;
    if (work_bytes < index_work_bytes(ix, ef, max_visits))
        return INDEX_INCOMPLETE;
    uint64_t *visited = work;
    struct reco_hit *cand = (struct reco_hit *)(visited + visited_words(ix->n));
    struct reco_hit *res = cand + cand_cap(ix, max_visits);
    memset(visited, 0, visited_words(ix->n) * sizeof *visited);
    struct walk w = {.ix = ix, .u = q->u};
    _Alignas(64) int8_t pcodes[1024];
    if (ix->codes && !q->f32_walk) {
        w.t = quant_code_row(q->u, ix->f, pcodes, ix->cols, ix->fast);
        w.p = pcodes;
    }
    size_t visits = 1, expanded = 0;
#define SEEN(i) (visited[(size_t)(i) >> 6] & (1ull << ((size_t)(i)&63)))
#define MARK(i) (visited[(size_t)(i) >> 6] |= 1ull << ((size_t)(i)&63))

    /* Upper layers: move to a better neighbour while there is one. Scores
     * strictly rise, so this ends; max_visits bounds a lying graph. */
    int32_t cur = q->start > 0 && (size_t)q->start < ix->n ? q->start : ix->entry;
    float cur_s = walk_score(&w, cur);
    int status = 0;
    for (int l = cur == ix->entry ? ix->top_layer : 0; l >= 1 && !status; l--) {
        for (int changed = 1; changed && !status;) {
            changed = 0;
            const int32_t *list = upper_list(ix, (size_t)cur, l);
            for (int32_t j = 1; j <= list[0]; j++)
                walk_prefetch(&w, list[j]);
            for (int32_t j = 1; j <= list[0]; j++) {
                float s = walk_score(&w, list[j]);
                if (++visits > max_visits) {
                    status = INDEX_INCOMPLETE;
                    break;
                }
                if (better(s, list[j], cur_s, cur)) {
                    cur_s = s;
                    cur = list[j];
                    changed = 1;
                }
            }
        }
    }

    /* Layer 0: the beam. Up to `batch` of the best candidates are
     * expanded together (as DiskANN's beam width): their link lists and then
     * their neighbours' rows are fetched at once, so a walk waits for
     * memory about 1 / batch as often, for a few more visits. */
    size_t nc = 0, nr = 0;
    size_t batch = q->batch ? q->batch : INDEX_BATCH;
    batch = batch > INDEX_MAX_BATCH ? INDEX_MAX_BATCH : batch;
    int32_t fresh[INDEX_MAX_BATCH * 2 * INDEX_MAX_M], grab[INDEX_MAX_BATCH];
    float fscore[INDEX_MAX_BATCH * 2 * INDEX_MAX_M];
    if (!status) {
        MARK(cur);
        heap_push(cand, nc++, (struct reco_hit){cur, cur_s}, 1);
        if (!q->filter || q->filter(q->filter_ctx, cur))
            heap_push(res, nr++, (struct reco_hit){cur, cur_s}, 0);
    }
    const size_t lbytes = (ix->m0 + 1) * sizeof(int32_t);
    while (nc) {
        size_t ng = 0;
        while (ng < batch && nc) {
            struct reco_hit c = cand[0];
            if (nr == ef && better(res[0].score, res[0].item, c.score, c.item))
                break; /* nothing left to expand can enter the kept ef */
            heap_pop(cand, nc--, 1);
            grab[ng++] = c.item;
            const char *l = (const char *)(ix->level0 + (size_t)c.item * (ix->m0 + 1));
            for (size_t b = 0; b < lbytes; b += 64)
                __builtin_prefetch(l + b);
        }
        if (!ng)
            break;
        expanded += ng;
        size_t nf = 0;
        for (size_t g = 0; g < ng; g++) {
            const int32_t *list = ix->level0 + (size_t)grab[g] * (ix->m0 + 1);
            for (int32_t j = 1; j <= list[0]; j++) {
                int32_t to = list[j];
                if (!SEEN(to)) {
                    MARK(to);
                    fresh[nf++] = to;
                    walk_prefetch(&w, to);
                }
            }
        }
        if (visits + nf > max_visits) {
            status = INDEX_INCOMPLETE;
            break;
        }
        visits += nf;
        if (w.p)
            quant_dot_s8_rows(ix->codes, ix->cols, ix->cscale, fresh, nf, w.p, w.t, fscore,
                              ix->fast);
        else
            for (size_t j = 0; j < nf; j++)
                fscore[j] = walk_score(&w, fresh[j]);
        for (size_t j = 0; j < nf; j++) {
            int32_t to = fresh[j];
            float s = fscore[j];
            if (nr == ef && !better(s, to, res[0].score, res[0].item))
                continue;
            heap_push(cand, nc++, (struct reco_hit){to, s}, 1);
            if (q->filter && !q->filter(q->filter_ctx, to))
                continue;
            if (nr == ef)
                heap_pop(res, nr--, 0);
            heap_push(res, nr++, (struct reco_hit){to, s}, 0);
        }
    }
#undef SEEN
#undef MARK
    size_t reranked = 0;
    if (w.p && nr) {
        size_t keep = q->rerank ? q->rerank : INDEX_RERANK_MIN > 4 * k ? INDEX_RERANK_MIN : 4 * k;
        keep = keep < k ? k : keep;
        nr = rerank(ix, q->u, res, nr, keep, cand);
        reranked = nr;
    }
    if (q->stats)
        *q->stats = (struct index_stats){visits, expanded, reranked};
    /* The best k of the kept, best first: pop the worst off the end. */
    while (nr > k)
        heap_pop(res, nr--, 0);
    *n_hits = nr;
    for (size_t i = nr; i > 0; i--)
        hits[i - 1] = heap_pop(res, i, 0);
    if (nr < k)
        status = INDEX_INCOMPLETE;
    return status;
}
