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
 *   pick    = argmax_j (1 - d) rel_j / R - d / I 2/(k'-1) sum_{p chosen} cos(j, p)
 *
 * which is the greedy step of one list objective,
 *
 *   (1 - d) mean_{i in list} rel_i / R + d ILD(list) / I,
 *   ILD = mean over the list's pairs of (1 - cos)   (what encore-train eval reports):
 *
 * adding j adds (1 - d) rel_j / (R k') + d sum_p (1 - cos(j, p)) / (I k'(k'-1)/2),
 * which is the line above over k' plus a constant of the step.
 *
 * R and I are the model's units (mf_rerank_units, at load): the mean
 * relevance (negative ones counted as 0, so R >= 1/10 with signed scores)
 * and the mean ILD of its plain top-10 lists over a sample of its users. So d weighs the list's
 * diversity against its relevance each relative to what this model's lists usually have: d = 0.5
 * trades one percent of the usual relevance for one percent of the usual diversity, whatever the
 * scale of the model's scores or how alike its items are (ml-latest-small's plain lists have ILD
 * 0.33, ml-100k's 0.41). Before, the terms were absolute (R = I = 1), and the same d bought
 * different relative changes on different models. Units per user (R, I of each user's own plain
 * list) were measured and not taken: users whose lists are already alike were pushed hardest, which
 * lost more NDCG for the same ILD (BENCHMARKS.md, "sum-rel"). The units rescale d, so at the same
 * ILD the NDCG is the absolute form's (the same objectives, another label for each).
 *
 * The SUM of the similarities to the chosen, each pair weighted as ILD
 * weighs it, not their mean: the mean weighs the second pick's one
 * pair 1/1 and the tenth pick's nine pairs 1/9 each, so it diversified most
 * at the top of the list, where NDCG@10 weighs most, and least at the
 * bottom, where a swap costs least. Measured (docs/experiments.md), the sum
 * buys the same ILD for less NDCG: at ILD +20%, NDCG -0.8% / -0.2% against
 * -1.9% / -0.7%, at +30% -3.0% / -1.1% against -4.6% / -3.7% (mean over
 * five ALS seeds, ml-100k / ml-latest-small; bench/diversity_frontier.sh).
 * Relevance stays s / s_max: a dot-product score has a meaningful zero, and
 * the scale does not depend on the pool's width (min-max over the pool ties
 * it to the 2k + 10th candidate, so d would mean another thing at each k).
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
#include <stdlib.h>
#include <string.h>

enum { TAKEN = 1, BLOCKED = 2 };

/* Relevance on the best candidate's scale, whatever the family's score
 * units (ALS predicts a preference near 0..1, BPR an unbounded logit). */
static float rel_of(float s, float lo, float hi)
{
    float r = hi > 0 ? s / hi : hi > lo ? (s - lo) / (hi - lo) : 1.0f;
    return r != r ? -1e30f : r; /* a NaN score ranks last */
}

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
    for (size_t j = 0; j < n; j++) {
        rel[j] = rel_of(cands[j].score, lo, hi);
        sumsim[j] = 0;
        state[j] = 0;
    }
    size_t F = m->f;
    int fast = m->Vnq.fast | m->Vq.fast; /* AVX2+FMA dot (CPUID was read at load) */
    /* each pair's weight in the list's ILD: 2 / (k'(k'-1)), times k' */
    double wr = (1 - d) / m->unit_rel, w = k > 1 ? d / m->unit_ild * 2.0 / (double)(k - 1) : 0;
    for (size_t c = 0; c < k; c++) {
        /* the best unblocked candidate; if none, the best blocked one */
        size_t best = n, best_blocked = n;
        float bo = 0, bb = 0;
        for (size_t j = 0; j < n; j++) {
            if (state[j] & TAKEN)
                continue;
            float v = (float)(wr * rel[j] - w * sumsim[j]);
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

/* A sample, not every user: at 1M items a plain list costs ~3 ms of exact
 * scoring, so the sample keeps to ~16M item scores (16 users at 1M, 64 up to
 * 250,000 items) and adds well under a tenth of a second to the load. */
enum { UNIT_USERS = 64, UNIT_K = 10, UNIT_SCORES = 1 << 24 };

int mf_rerank_units(struct mf_model *m, enc_err *err)
{
    m->unit_rel = m->unit_ild = 1; /* nothing to measure: the weights as given */
    size_t S = UNIT_SCORES / (m->n_items ? m->n_items : 1);
    S = S < 16 ? 16 : S > UNIT_USERS ? UNIT_USERS : S;
    S = S < m->n_users ? S : m->n_users;
    if (S == 0 || m->n_items < 2)
        return 0;
    float *scratch = malloc(mf_scratch_floats(m) * sizeof *scratch);
    if (!scratch)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    size_t F = m->f, lists = 0;
    int fast = m->Vnq.fast | m->Vq.fast;
    double sum_rel = 0, sum_ild = 0;
    for (size_t s = 0; s < S; s++) {
        struct reco_hit h[UNIT_K];
        struct reco_query q = {
            .k = UNIT_K, .user = (int64_t)(s * m->n_users / S), .exclude_seen = 1};
        size_t n;
        enum reco_source source;
        int rc = mf_recommend(m, &q, scratch, h, &n, &source, err);
        if (rc) {
            free(scratch);
            return rc;
        }
        if (n < 2 || !(h[0].score > -INFINITY) || !(h[n - 1].score > -INFINITY))
            continue;
        double rel = 0, dist = 0;
        for (size_t i = 0; i < n; i++) {
            rel += fmax(rel_of(h[i].score, h[n - 1].score, h[0].score), 0);
            for (size_t j = i + 1; j < n; j++)
                dist += 1 - quant_dot(m->Vn + (size_t)h[i].item * F, m->Vn + (size_t)h[j].item * F,
                                      F, fast);
        }
        sum_rel += rel / (double)n;
        sum_ild += dist / (double)(n * (n - 1) / 2);
        lists++;
    }
    free(scratch);
    if (lists) { /* R >= 1/k already (the best item counts 1); I's floor is
                  * for a model whose lists are all one item's twins */
        m->unit_rel = sum_rel / (double)lists;
        m->unit_ild = fmax(sum_ild / (double)lists, 1e-3);
    }
    return 0;
}
