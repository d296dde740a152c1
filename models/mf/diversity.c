/*
 * diversity.c - the mf family's re-ranking of a candidate list (reco_ops.rerank,
 * core/model.h): marginal relevance re-ranking (Carbonell & Goldstein 1998)
 * over the cosine similarity of item factors, and a cap on items sharing a tag.
 *
 * It runs after the query, on the list the query returned (exact scoring or
 * an approximate index alike), so it costs k passes over a pool of a few
 * dozen candidates instead of anything over the catalogue. With k' = the
 * number of items returned, min(k, n), each next item is
 *
 *   rel_j   = s_j / s_max                  the score over the best candidate's
 *                                          (min-max over the pool if s_max <= 0)
 *   pick    = argmax_j (1 - d) rel_j - d 2/(k'-1) sum_{p chosen} cos(j, p)
 *
 * which is the greedy step of one list objective,
 *
 *   (1 - d) mean_{i in list} rel_i + d ILD(list),
 *   ILD = mean over the list's pairs of (1 - cos)   (what encore-train eval reports):
 *
 * adding j adds (1 - d) rel_j / k' + d sum_p (1 - cos(j, p)) / (k'(k'-1)/2),
 * which is the line above over k' plus a constant of the step. So d is the
 * weight of the list's intra-list diversity against its mean relevance.
 *
 * The SUM of the similarities to the chosen, each pair weighted as ILD
 * weighs it, not their mean (before): the mean weighs the second pick's one
 * pair 1/1 and the tenth pick's nine pairs 1/9 each, so it diversified most
 * at the top of the list, where NDCG@10 weighs most, and least at the
 * bottom, where a swap costs least. Measured (docs/experiments.md), the sum
 * buys the same ILD for less NDCG: at ILD +20%, NDCG -0.8% / -0.2% against
 * -1.9% / -0.7%, at +30% -3.0% / -1.1% against -4.6% / -3.7% (mean over
 * five ALS seeds, ml-100k / ml-latest-small; bench/diversity_frontier.sh).
 * Relevance stays s / s_max: a dot-product score has a meaningful zero, and
 * the scale does not depend on the pool's width (min-max over the pool ties
 * it to the 2k + 10th candidate, so d would mean another thing at each k).
 * Measured with the sum, min-max was within about a point of NDCG of
 * s / s_max at the same ILD (ahead at three of four points, behind at one),
 * which one split cannot resolve; mostly it makes each d buy less (ILD +5%
 * instead of +13-15% at 0.2). Scores standardised within the pool: the same.
 *
 * Ties go to the earlier candidate (the better-scored one), so the answer is
 * deterministic, and d = 0 without a tag cap returns the candidates as they
 * came. The cap blocks a candidate once one of its tags has max_per_tag
 * items among those chosen; when only blocked candidates remain and places
 * are left, the cap gives way (counted in *relaxed) so that exactly
 * min(k, n) items come back - a short list is the bug implicit #736 shows.
 */
#include "mf/mf_int.h"

#include <math.h>
#include <string.h>

enum { TAKEN = 1, BLOCKED = 2 };

/* Tags of candidate j: the caller's (o->tag_keys) or its row's in the model
 * (none for rows the model lacks). */
static size_t cand_tags(const struct mf_model *m, const struct reco_rerank *o,
                        const struct reco_hit *c, size_t j, const int32_t **tags)
{
    if (o->tag_keys) {
        *tags = o->tag_keys + o->tag_off[j];
        return (size_t)(o->tag_off[j + 1] - o->tag_off[j]);
    }
    int32_t row = c[j].item;
    if (row < 0 || (size_t)row >= m->n_items) {
        *tags = NULL;
        return 0;
    }
    *tags = m->tag_ids + m->tag_off[row];
    return (size_t)(m->tag_off[row + 1] - m->tag_off[row]);
}

static int has_tag(const int32_t *tags, size_t n, int32_t t)
{
    for (size_t i = 0; i < n; i++)
        if (tags[i] == t)
            return 1;
    return 0;
}

/* After choosing candidate `pick`: candidates sharing a tag that now has
 * `cap` chosen (TAKEN) items become blocked. */
static void block_full_tags(const struct mf_model *m, const struct reco_rerank *o,
                            const struct reco_hit *c, size_t n, size_t pick, size_t cap,
                            int32_t *state)
{
    const int32_t *pt;
    size_t npt = cand_tags(m, o, c, pick, &pt);
    for (size_t a = 0; a < npt; a++) {
        size_t count = 0;
        for (size_t j = 0; j < n; j++) {
            const int32_t *t;
            size_t nt = (state[j] & TAKEN) ? cand_tags(m, o, c, j, &t) : 0;
            count += nt && has_tag(t, nt, pt[a]);
        }
        if (count < cap)
            continue;
        for (size_t j = 0; j < n; j++) {
            const int32_t *t;
            size_t nt = cand_tags(m, o, c, j, &t);
            if (!(state[j] & TAKEN) && has_tag(t, nt, pt[a]))
                state[j] |= BLOCKED;
        }
    }
}

size_t mf_rerank(const struct mf_model *m, const struct reco_hit *cands, size_t n,
                 const struct reco_rerank *o, void *scratch, struct reco_hit *out, size_t *relaxed)
{
    size_t k = o->k < n ? o->k : n;
    double d = o->diversity > 0 ? (o->diversity < 1 ? o->diversity : 1) : 0;
    *relaxed = 0;
    if (d == 0 && o->max_per_tag == 0) {
        memmove(out, cands, k * sizeof *out);
        return k;
    }
    float *rel = scratch, *sumsim = rel + n;
    int32_t *state = (int32_t *)(sumsim + n);
    float lo = INFINITY, hi = -INFINITY;
    for (size_t j = 0; j < n; j++) {
        lo = cands[j].score < lo ? cands[j].score : lo;
        hi = cands[j].score > hi ? cands[j].score : hi;
    }
    /* Relevance on the best candidate's scale, whatever the family's score
     * units (ALS predicts a preference near 0..1, BPR an unbounded logit). */
    for (size_t j = 0; j < n; j++) {
        rel[j] = hi > 0 ? cands[j].score / hi : hi > lo ? (cands[j].score - lo) / (hi - lo) : 1.0f;
        if (rel[j] != rel[j]) /* a NaN score ranks last */
            rel[j] = -1e30f;
        sumsim[j] = 0;
        state[j] = 0;
    }
    size_t F = m->f;
    int fast = m->Vnq.fast | m->Vq.fast; /* AVX2+FMA dot (CPUID was read at load) */
    /* each pair's weight in the list's ILD: 2 / (k'(k'-1)), times k' */
    double w = k > 1 ? d * 2.0 / (double)(k - 1) : 0;
    for (size_t c = 0; c < k; c++) {
        /* the best unblocked candidate; if none, the best blocked one */
        size_t best = n, best_blocked = n;
        float bo = 0, bb = 0;
        for (size_t j = 0; j < n; j++) {
            if (state[j] & TAKEN)
                continue;
            float v = (float)((1 - d) * rel[j] - w * sumsim[j]);
            if (!(state[j] & BLOCKED)) {
                if (best == n || v > bo)
                    best = j, bo = v;
            } else if (best_blocked == n || v > bb) {
                best_blocked = j, bb = v;
            }
        }
        if (best == n) {
            best = best_blocked;
            (*relaxed)++;
        }
        state[best] |= TAKEN;
        out[c] = cands[best];
        int32_t row = cands[best].item;
        /* Each remaining candidate's similarity to the pick (not after the
         * last pick); an item the model lacks is similar to nothing. */
        if (d > 0 && c + 1 < k && row >= 0 && (size_t)row < m->n_items) {
            const float *pv = m->Vn + (size_t)row * F;
            for (size_t j = 0; j < n; j++) {
                int32_t r = cands[j].item;
                if ((state[j] & TAKEN) || r < 0 || (size_t)r >= m->n_items)
                    continue;
                sumsim[j] += quant_dot(pv, m->Vn + (size_t)r * F, F, fast);
            }
        }
        if (o->max_per_tag)
            block_full_tags(m, o, cands, n, best, o->max_per_tag, state);
    }
    return k;
}
