/*
 * query.c - the mf family's serving queries: recommend, similar, fold-in and
 * top-k selection (the model's layout: mf_int.h).
 *
 * Scoring is an int8 screening pass (quant.c) that bounds every item's
 * score, then an exact f32 re-score of the few items whose bound can still
 * reach the top k, so the answer is the f32 answer; or, when asked for or
 * without AVX2, one cblas_sgemv over the f32 item factors; or the binary16
 * kernel of half.c (approximate). Exclusions and filters set scores to
 * -INFINITY; a size-k heap picks the best. Everything a query needs beyond
 * the model comes from the caller's scratch buffer, so queries allocate
 * nothing and run concurrently on any number of threads.
 */
#include "mf/mf_int.h"

#include <cblas.h>
#include <lapacke.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Where the int8 screen's chunk maxima (then quant_floor's work space) live
 * in the scratch buffer: after scores, bounds and the fold-in work area
 * (which holds u during a history query). */
float *mf_chunk_maxima(const struct mf_model *m, float *scratch)
{
    return scratch + 2 * half_padded(m->n_items) + m->f * m->f + 2 * m->f;
}

size_t mf_scratch_floats(const struct mf_model *m)
{
    /* scores and bounds [I each, padded to the kernels' blocks of 8] + fold-in
     * system and x [F*F + F] + the screen's per-chunk upper maxima and
     * quant_floor's work space */
    return 2 * half_padded(m->n_items) + m->f * m->f + 4 * m->f + quant_chunks(m->n_items) +
           quant_floor_floats(m->n_items);
}

/* "a is a better hit than b": higher score, then lower index. */
static inline int better(float sa, int32_t ia, float sb, int32_t ib)
{
    return sa > sb || (sa == sb && ia < ib);
}

/* Push (s, idx) into the heap hits[0..len) (room for one more). */
static void heap_push(struct reco_hit *hits, size_t len, float s, int32_t idx)
{
    size_t c = len;
    while (c > 0) {
        size_t p = (c - 1) / 2;
        if (!better(hits[p].score, hits[p].item, s, idx))
            break;
        hits[c] = hits[p];
        c = p;
    }
    hits[c].item = idx;
    hits[c].score = s;
}

/* Replace the root (the worst kept) with (s, idx) and sift it down. */
static void heap_replace_root(struct reco_hit *hits, size_t len, float s, int32_t idx)
{
    size_t c = 0;
    for (;;) {
        size_t l = 2 * c + 1, r = l + 1, w = c;
        float ws = s;
        int32_t wi = idx;
        if (l < len && better(ws, wi, hits[l].score, hits[l].item)) {
            w = l;
            ws = hits[l].score;
            wi = hits[l].item;
        }
        if (r < len && better(ws, wi, hits[r].score, hits[r].item))
            w = r;
        if (w == c)
            break;
        hits[c] = hits[w];
        c = w;
    }
    hits[c].item = idx;
    hits[c].score = s;
}

/* A lower bound on the k-th best score: the k-th largest of the maxima of
 * `chunk`-item chunks (k distinct items reach it; chunk a multiple of 8),
 * or -INFINITY when there are too few chunks. Most items fall below it, so
 * the heap sees a dozen candidates instead of the ~k ln(n/k) a plain scan
 * would push. Smaller chunks give a tighter floor for more work. */
#define TOPK_CHUNK 64
static float topk_floor(const float *scores, size_t n, size_t k, size_t chunk)
{
    size_t chunks = n / chunk;
    if (k > 32 || chunks < 2 * k)
        return -INFINITY;
    float best[32]; /* the k largest chunk maxima so far, descending */
    size_t nb = 0;
    for (size_t c = 0; c < chunks; c++) {
        const float *p = scores + c * chunk;
        float m;
#if defined(__SSE2__)
        __m128 a = _mm_loadu_ps(p), b = _mm_loadu_ps(p + 4);
        for (size_t j = 8; j < chunk; j += 8) { /* maxps drops a NaN operand */
            a = _mm_max_ps(_mm_loadu_ps(p + j), a);
            b = _mm_max_ps(_mm_loadu_ps(p + j + 4), b);
        }
        a = _mm_max_ps(a, b);
        a = _mm_max_ps(a, _mm_movehl_ps(a, a));
        m = _mm_cvtss_f32(_mm_max_ss(a, _mm_shuffle_ps(a, a, 1)));
#else
        m = p[0];
        for (size_t j = 1; j < chunk; j++)
            m = p[j] > m ? p[j] : m;
#endif
        if (m != m || (nb == k && !(m > best[k - 1]))) /* NaN: skip the chunk */
            continue;
        size_t at = nb < k ? nb++ : k - 1;
        while (at > 0 && best[at - 1] < m) {
            best[at] = best[at - 1];
            at--;
        }
        best[at] = m;
    }
    return nb == k ? best[k - 1] : -INFINITY;
}

size_t mf_topk(const float *scores, size_t n, size_t k, struct reco_hit *hits)
{
    if (k == 0)
        return 0;
    /* Items below `floor_s` cannot make the top k (k others score at least
     * that); items equal to it can. hits[0..len) is a min-heap on "better":
     * the root is the worst kept. Until it holds k, take any s >= floor_s
     * (not -inf); then only s > the root's score: every later index is
     * higher than any kept one, so a tie loses. */
    const float floor_s = topk_floor(scores, n, k, TOPK_CHUNK);
    size_t len = 0, i = 0;
    float thr = floor_s;
#define TOPK_CONSIDER(j)                                                                           \
    do {                                                                                           \
        float s_ = scores[j];                                                                      \
        if (len < k) {                                                                             \
            if (s_ != -INFINITY && s_ >= floor_s) {                                                \
                heap_push(hits, len++, s_, (int32_t)(j));                                          \
                if (len == k)                                                                      \
                    thr = hits[0].score;                                                           \
            }                                                                                      \
        } else if (s_ > thr) {                                                                     \
            heap_replace_root(hits, len, s_, (int32_t)(j));                                        \
            thr = hits[0].score;                                                                   \
        }                                                                                          \
    } while (0)
#if defined(__SSE2__)
    /* Eight at a time: one max and one compare skip a block of losers. */
    for (; i + 8 <= n; i += 8) {
        __m128 m = _mm_max_ps(_mm_loadu_ps(scores + i), _mm_loadu_ps(scores + i + 4));
        m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        float bm = _mm_cvtss_f32(_mm_max_ss(m, _mm_shuffle_ps(m, m, 1)));
        if (len < k ? !(bm >= floor_s && bm != -INFINITY) : !(bm > thr))
            continue;
        for (size_t j = i; j < i + 8; j++)
            TOPK_CONSIDER(j);
    }
#endif
    for (; i < n; i++)
        TOPK_CONSIDER(i);
#undef TOPK_CONSIDER
    /* Heap-sort in place: repeatedly move the worst to the end. */
    for (size_t end = len; end > 1; end--) {
        struct reco_hit worst = hits[0], last = hits[end - 1];
        size_t c = 0, m = end - 1;
        for (;;) {
            size_t l = 2 * c + 1, r = l + 1, w = c;
            struct reco_hit wv = last;
            if (l < m && better(wv.score, wv.item, hits[l].score, hits[l].item)) {
                w = l;
                wv = hits[l];
            }
            if (r < m && better(wv.score, wv.item, hits[r].score, hits[r].item))
                w = r;
            if (w == c)
                break;
            hits[c] = hits[w];
            c = w;
        }
        hits[c] = last;
        hits[end - 1] = worst;
    }
    return len;
}

int mf_fold_in(const struct mf_model *m, const int32_t *items, size_t n, float *out, enc_err *err)
{
    /* (Y^T Y + Y^T (C_u - I) Y + reg I) x = Y^T C_u p_u with c = 1 + alpha
     * for each history item: the exact ALS user step. `out` must hold
     * F*F + F floats (system matrix, then x). */
    size_t F = m->f;
    float *A = out, *x = out + F * F;
    memcpy(A, m->yty, F * F * sizeof *A);
    memset(x, 0, F * sizeof *x);
    /* a history item's weight is unknown: it counts as the median training pair */
    float c = (float)conf_serve(&m->conf, m->conf.typical_weight);
    double reg = m->reg;
    if (m->reg_exponent != 0 && m->mean_user > 0) /* as training regularised this row */
        reg *= pow((double)(n ? n : 1) / m->mean_user, m->reg_exponent);
    for (size_t j = 0; j < F; j++)
        A[j * F + j] += (float)reg;
    for (size_t h = 0; h < n; h++) {
        const float *y = m->V + (size_t)items[h] * F;
        cblas_ssyr(CblasRowMajor, CblasUpper, (int)F, c - 1.0f, y, 1, A, (int)F);
        cblas_saxpy((int)F, c, y, 1, x, 1);
    }
    lapack_int info =
        LAPACKE_sposv(LAPACK_ROW_MAJOR, 'U', (lapack_int)F, 1, A, (lapack_int)F, x, 1);
    if (info != 0)
        return enc_errf(err, ENC_EINTERNAL, "fold-in: system not positive definite (%d)",
                        (int)info);
    return 0;
}

static int carries_tag(const struct mf_model *m, size_t item, const int32_t *tags, size_t n)
{
    for (int64_t p = m->tag_off[item]; p < m->tag_off[item + 1]; p++)
        for (size_t t = 0; t < n; t++)
            if (m->tag_ids[p] == tags[t])
                return 1;
    return 0;
}

/* Apply exclude / unavailable / tags to scores (in place; candidates were
 * applied when scoring). */
void mf_apply_filters(const struct mf_model *m, const struct reco_query *q, float *scores)
{
    for (size_t i = 0; i < q->n_exclude; i++)
        scores[q->exclude[i]] = -INFINITY;
    if (q->unavailable)
        for (size_t w = 0; w < (m->n_items + 63) / 64; w++)
            for (uint64_t bits = q->unavailable[w]; bits; bits &= bits - 1) {
                size_t i = w * 64 + (size_t)__builtin_ctzll(bits);
                if (i < m->n_items)
                    scores[i] = -INFINITY;
            }
    if (q->n_tags)
        for (size_t i = 0; i < m->n_items; i++)
            if (scores[i] != -INFINITY && !carries_tag(m, i, q->tags, q->n_tags))
                scores[i] = -INFINITY;
}

/* Score only the candidates (others -inf) or the whole catalog, with u.
 * V is row-major I x F (for single items), Vt the same transposed (or NULL
 * for a packed model), Vh the same packed as binary16 or NULL, Vq the same
 * packed as int8 or empty.
 * Returns 1 when scores are int8 screening lower bounds with interval widths
 * in width and per-chunk upper maxima in cmax (finish with top_screened), 0 when
 * they are final. */
int mf_score_items(const struct mf_model *m, const struct reco_query *q, const float *u,
                   const float *V, const float *Vt, const uint16_t *Vh,
                   const struct quant_items *Vq, float *scores, float *width, float *cmax)
{
    size_t F = m->f;
    if (q->candidates) {
        for (size_t i = 0; i < m->n_items; i++)
            scores[i] = -INFINITY;
        for (size_t c = 0; c < q->n_candidates; c++) {
            int32_t it = q->candidates[c];
            scores[it] = cblas_sdot((int)F, V + (size_t)it * F, 1, u, 1);
        }
    } else if (Vq->q && quant_score(Vq, u, scores, width, cmax) == 0) {
        return 1;
    } else if (Vh) {
        half_score(Vh, m->n_items, F, u, scores);
    } else if (Vt) {
        cblas_sgemv(CblasRowMajor, CblasTrans, (int)F, (int)m->n_items, 1.0f, Vt, (int)m->n_items,
                    u, 1, 0.0f, scores, 1);
    } else { /* a packed model whose pack cannot take u (not finite): rows */
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)m->n_items, (int)F, 1.0f, V, (int)F, u, 1,
                    0.0f, scores, 1);
    }
    return 0;
}

/* The f32 top k from screened lower bounds (exclusions already -inf): an
 * item whose upper bound is below the k-th best lower bound cannot make the
 * top k (k items surely beat it); the others, ~20 of 1,682 on MovieLens,
 * are re-scored exactly. quant_floor finds that k-th best lower bound, and
 * the screen reads only the chunks whose upper maximum (from the kernel)
 * reaches it, so neither walks every item. Candidate rows are cold under
 * load, so the screen only lists them (in width: the list never overtakes
 * the scan) and prefetches them, and a second pass scores them. Ties still
 * go to the lower index. */
size_t mf_top_screened(const struct mf_model *m, const float *V, const float *u, int fast,
                       float *scores, float *width, float *cmax, size_t k, struct reco_hit *hits)
{
    size_t n = m->n_items, F = m->f, c, len;
    const float *umax = cmax;
    float floor_s;
    if (k == 0)
        return 0;
    if (k <= QUANT_FLOOR_MAX_K) {
        floor_s = quant_floor(scores, n, k, cmax + quant_chunks(n), fast);
    } else { /* a long list: the k-th best lower bound from a top-k pass */
        len = mf_topk(scores, n, k, hits);
        floor_s = len == k ? hits[k - 1].score : -INFINITY;
    }
    c = quant_select(scores, width, n, umax, floor_s, fast);
    for (size_t h = 0; h < c; h++) {
        int32_t idx;
        memcpy(&idx, width + h, sizeof idx);
        for (size_t b = 0; b < F * sizeof(float); b += 64)
            __builtin_prefetch((const char *)(V + (size_t)idx * F) + b);
    }
    if (k > QUANT_FLOOR_MAX_K) { /* a long list: score them all, then the heap */
        for (size_t h = 0; h < c; h++) {
            int32_t idx;
            memcpy(&idx, width + h, sizeof idx);
            scores[h] = quant_dot(V + (size_t)idx * F, u, F, fast);
        }
        len = mf_topk(scores, c, k, hits);
        for (size_t h = 0; h < len; h++)
            memcpy(&hits[h].item, width + hits[h].item, sizeof hits[h].item);
        return len;
    }
    /* A short one: insert each into a sorted list as it is scored. Candidates
     * come in ascending index order, so an equal score ranks after the ones
     * already kept, and once k are kept it must beat the last strictly. */
    len = 0;
    for (size_t h = 0; h < c; h++) {
        int32_t idx;
        memcpy(&idx, width + h, sizeof idx);
        float s = quant_dot(V + (size_t)idx * F, u, F, fast);
        if (len == k ? !(s > hits[k - 1].score) : !(s > -INFINITY)) /* also drops a NaN */
            continue;
        size_t at = len < k ? len++ : k - 1;
        while (at > 0 && hits[at - 1].score < s) {
            hits[at] = hits[at - 1];
            at--;
        }
        hits[at].item = idx;
        hits[at].score = s;
    }
    return len;
}

int mf_user_vector(const struct mf_model *m, const struct reco_query *q, float *work,
                   const float **out, enum reco_source *source, enc_err *err)
{
    const float *u = NULL;
    if (q->user >= 0 && (size_t)q->user >= m->n_users)
        return enc_errf(err, ENC_EINVAL, "user row out of range");
    if (q->user_vec) {
        u = q->user_vec;
        *source = RECO_FROM_VECTOR;
    } else if (q->user >= 0) {
        u = mf_user_row(m, (size_t)q->user, work + m->f * m->f);
        *source = RECO_FROM_USER;
    } else if (q->n_history) {
        int rc = mf_fold_in(m, q->history, q->n_history, work, err);
        if (rc)
            return rc;
        u = work + m->f * m->f;
        *source = RECO_FROM_HISTORY;
    } else {
        *source = RECO_FROM_POPULAR;
    }
    *out = u;
    return 0;
}

int mf_recommend(const struct mf_model *m, const struct reco_query *q, float *scratch,
                 struct reco_hit *hits, size_t *n_hits, enum reco_source *source, enc_err *err)
{
    *n_hits = 0;
    size_t P = half_padded(m->n_items);
    float *scores = scratch, *width = scratch + P;
    const float *u;
    int rc = mf_user_vector(m, q, scratch + 2 * P, &u, source, err);
    if (rc)
        return rc;
    int screened = 0;
    if (u) {
        screened = mf_score_items(m, q, u, m->V, m->Vt, m->Vh, &m->Vq, scores, width,
                                  mf_chunk_maxima(m, scratch));
    } else if (q->candidates) { /* popular: shares of the training users, in [0, 1] */
        for (size_t i = 0; i < m->n_items; i++)
            scores[i] = -INFINITY;
        for (size_t c = 0; c < q->n_candidates; c++)
            scores[q->candidates[c]] = m->pop[q->candidates[c]] * m->pop_scale;
    } else {
        for (size_t i = 0; i < m->n_items; i++)
            scores[i] = m->pop[i] * m->pop_scale;
    }
    if (q->exclude_seen) {
        if (q->user >= 0)
            for (int64_t p = m->seen_off[q->user]; p < m->seen_off[q->user + 1]; p++)
                scores[m->seen_items[p]] = -INFINITY;
        for (size_t h = 0; h < q->n_history; h++)
            scores[q->history[h]] = -INFINITY;
    }
    mf_apply_filters(m, q, scores);
    *n_hits = screened ? mf_top_screened(m, m->V, u, m->Vq.fast, scores, width,
                                         mf_chunk_maxima(m, scratch), q->k, hits)
                       : mf_topk(scores, m->n_items, q->k, hits);
    return 0;
}

int mf_similar(const struct mf_model *m, int32_t item, const struct reco_query *filters,
               float *scratch, struct reco_hit *hits, size_t *n_hits, enc_err *err)
{
    *n_hits = 0;
    if (item < 0 || (size_t)item >= m->n_items)
        return enc_errf(err, ENC_EINVAL, "item row out of range");
    float *scores = scratch, *width = scratch + half_padded(m->n_items);
    const float *u = m->Vn + (size_t)item * m->f;
    int screened = mf_score_items(m, filters, u, m->Vn, m->Vnt, m->Vnh, &m->Vnq, scores, width,
                                  mf_chunk_maxima(m, scratch));
    scores[item] = -INFINITY;
    mf_apply_filters(m, filters, scores);
    *n_hits = screened ? mf_top_screened(m, m->Vn, u, m->Vnq.fast, scores, width,
                                         mf_chunk_maxima(m, scratch), filters->k, hits)
                       : mf_topk(scores, m->n_items, filters->k, hits);
    return 0;
}
