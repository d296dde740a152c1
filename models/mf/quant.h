/*
 * quant.h - int8 screening of items with a proven error bound.
 *
 * Why: scoring a user against every item streams the whole item-factor
 * matrix per request; under HTTP load other work evicts it from L2, so the
 * bytes dominate. Packed as int8 (one scale per item) it is a quarter of the
 * f32 bytes, and one AVX2 multiply-add covers 32 products. Unlike f16 this
 * is not an approximation of the answer: quant_score returns, per item, an
 * interval that surely holds u.v_i (quantisation of both sides and f32
 * rounding included). The caller (mf.c) keeps only items whose upper bound
 * reaches the k-th best lower bound (about 20 of 1,682 on MovieLens 100K)
 * and re-scores those exactly in f32, so the result is the f32 top k.
 *
 * The bound: with v_i = s_i q_i + e_i (|e_ij| <= s_i/2) and u = t p + d
 * (|d_j| <= t/2), |u.v_i - t s_i p.q_i| <= s_i |u|_1 / 2 + t |v_i|_1 / 2
 * + f t s_i / 4; quant_score inflates it by 1% for f32 rounding.
 *
 * Layout: blocks of 8 items; in a block, ceil(d / 4) groups of 4
 * factors, each 32 bytes (item-major: item r's 4 bytes at 4r); unused
 * factors and padding items are 0. Per item a scale and |v_i|_1.
 *
 * Rotated packs (quant_pack_rotated): the factor space is first turned by
 * an orthonormal R whose leading columns carry most of the queries' energy
 * (eigenvectors of Q^T Q for a sample of queries Q), and only the first
 * d < f rotated factors (the head) are packed, so the kernel reads d / f of
 * the bytes. u.v = (R^T u).(R^T v) up to rounding; the tail's part is bound
 * by Cauchy-Schwarz, |u'_t . v'_t| <= |u'_t| tau_i with tau_i = |v'_t|, and
 * a margin c |u| |v_i| covers R's rounding, the f32 rotation of u and the
 * f32 re-score (derivation in quant.c). The intervals are wider (head-only
 * lower bounds are weak); the caller picks its floor accordingly.
 */
#ifndef ENCORE_MF_QUANT_H
#define ENCORE_MF_QUANT_H

#include <stddef.h>
#include <stdint.h>

/* An item matrix packed for quant_score. Owned by its creator. */
struct quant_items {
    size_t n, f;      /* items, factors */
    size_t d;         /* factors packed: f, or the head's d < f when rotated */
    int8_t *q;        /* padded(n) * ceil(d / 4) * 4 bytes, 32-byte aligned */
    float *scale;     /* [quant_padded(n)]: s_i, 0 for an all-zero item */
    float *l1;        /* [quant_padded(n)]: |v_i|_1 (of the packed head when rotated) */
    int fast;         /* quant_fast() at pack time: CPUID is slow in a VM */
    /* rotated packs only (else NULL / 0): */
    float *R;         /* f x fr row-major (fr = f rounded up to 8, zero padded): R[j][c] */
    size_t fr;
    float *tail;      /* [quant_padded(n)]: >= |(R^T v_i)[d:]| */
    float *norm;      /* [quant_padded(n)]: >= |v_i| */
    float margin;     /* c of the margin c |u| |v_i| */
};

/* 1 if this CPU runs the AVX2 kernels (AVX2 and FMA); else quant_score uses portable C
 * (correct, but slower than cblas_sgemv, so callers prefer f32 there). */
int quant_fast(void);

/* Items rounded up to the block size: how many values quant_score writes. */
size_t quant_padded(size_t n);

/* Pack V (n x f, row-major, finite) into *out. Returns 0, or -1 when out of
 * memory or a value is not finite (out is then empty). Free with quant_free. */
int quant_pack(const float *V, size_t n, size_t f, struct quant_items *out);
void quant_free(struct quant_items *qi);   /* empty or zeroed: no-op */

/* As quant_pack, but rotated (see the top of this file): R from the
 * eigenvectors of Q^T Q (Q: nq x f queries, row-major, e.g. the user
 * factors), eigenvalues descending, and only the first d factors packed
 * (1 <= d < f). Returns 0, or -1 when out of memory, a value of V or Q is
 * not finite, d is out of range or the eigensolver fails (out is then
 * empty; the caller may fall back to quant_pack). */
int quant_pack_rotated(const float *V, size_t n, size_t f, const float *Q, size_t nq, size_t d,
                       struct quant_items *out);

/* Items per chunk of the chunk maxima below: two blocks. */
#define QUANT_CHUNK 16

/* Chunks of QUANT_CHUNK items covering n items: ceil(n / 16). */
size_t quant_chunks(size_t n);

/* For every item i (n padded): lower[i] <= u.v_i <= lower[i] + width[i],
 * for the exact product and for its f32 value (quant_dot of the original,
 * unrotated rows, also when the pack is rotated). Also, per chunk c <
 * quant_chunks(n), umax[c] = the largest lower[i] + width[i] (the f32 sum,
 * as quant_select computes it) over its items i < n (padding left out).
 * Setting some lower[i] to -inf afterwards (exclusions) only removes items,
 * so umax stays a valid bound for quant_select. Returns 0, or -1 if u is
 * not finite, or (rotated) |u|^2 overflows f32 (nothing written; the
 * caller scores in f32 instead). Thread-safe. */
int quant_score(const struct quant_items *qi, const float *u, float *lower, float *width,
                float *umax);

/* The largest k quant_floor takes. */
#define QUANT_FLOOR_MAX_K 32

/* Floats of work space quant_floor needs for n items. */
size_t quant_floor_floats(size_t n);

/* The floor for the screen: the k-th largest of lower[0..n) (-inf entries
 * are excluded items; ties counted), i.e. the k-th best lower bound, so no
 * item whose upper bound is below it can make the top k. -INFINITY when
 * fewer than k items are left, or k is 0 or over QUANT_FLOOR_MAX_K. Uses
 * work[quant_floor_floats(n)]; lower is modified while it runs and restored
 * before it returns. AVX2 when fast, else plain C. */
float quant_floor(float *lower, size_t n, size_t k, float *work, int fast);

/* The screen: writes over width[0..count), as int32, the items i < n
 * (ascending) with lower[i] != -inf and lower[i] + width[i] >= floor_s;
 * returns the count. A slot is written only after it was read; slots from
 * the count up to n may be overwritten too. umax (quant_score's, or NULL)
 * lets it skip every chunk c with umax[c] < floor_s unread. AVX2 when fast,
 * else plain C. */
size_t quant_select(const float *lower, float *width, size_t n, const float *umax,
                    float floor_s, int fast);

/* The items with the best estimates lower[i] + width[i] / 2 (a rotated
 * screen's guess at the best scores): writes est[0..quant_padded(n)) (the
 * estimates; -inf where lower is -inf), then up to QUANT_FLOOR_MAX_K
 * indices into out (ascending): the items whose estimate is at least the
 * m-th best (ties may make them more than m; any past the cap are left
 * out). Returns their count (0 when none is left or m is 0 or over
 * QUANT_FLOOR_MAX_K). Uses work[quant_floor_floats(n)]. */
size_t quant_best_estimates(const float *lower, const float *width, size_t n, size_t m,
                            float *est, float *work, int32_t *out, int fast);

/* x.y in f32 (the re-score of a screened item): AVX2+FMA when fast (a
 * quant_items' `fast`), else plain C. Cheaper than a BLAS call for one row. */
float quant_dot(const float *x, const float *y, size_t n, int fast);

#endif
