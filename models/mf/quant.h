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
 * The bound: with v_i = s_i q_i + e_i (s_i = max_j |v_ij| / QUANT_QI) and
 * u = t p + d (t = max_j |u_j| / QUANT_QU), exactly
 * u.v_i - t s_i p.q_i = u.e_i + d.(s_i q_i), so by Cauchy-Schwarz
 * |u.v_i - t s_i p.q_i| <= |u|_2 |e_i|_2 + |d|_2 |s_i q_i|_2, with the
 * actual errors' norms (per item at pack time, per query for the user), not
 * their worst cases. f32 rounding: the exact re-score (any summation order)
 * errs by at most ~f 2^-24 |u|_2 |v_i|_2, the kernel's own arithmetic by
 * a few 2^-24 |u|_2 |v_i|_2; quant_pack adds r |v_i|_2, r = (f + 8) 2^-23
 * (twice that), to |e_i|_2, and quant_score inflates the sum by 1% for the
 * relative rounding of the norms and of the bound itself.
 *
 * Layout: blocks of 8 items; in a block, ceil(f / 4) groups of 4
 * factors, each 32 bytes (item-major: item r's 4 bytes at 4r). A byte is
 * q + QUANT_QI (unsigned, so one AVX2 multiply-add takes it against the
 * signed user without a sign op; quant.c subtracts QUANT_QI sum(p) after);
 * unused factors and padding items hold QUANT_QI (q = 0). Per item a
 * scale and the two norms.
 */
#ifndef ENCORE_MF_QUANT_H
#define ENCORE_MF_QUANT_H

#include <stddef.h>
#include <stdint.h>

/* The int8 ranges: items q in [-QUANT_QI, QUANT_QI], stored as q + QUANT_QI
 * in [0, 2 QUANT_QI]; the user p in [-QUANT_QU, QUANT_QU]. A pair of
 * products in one 16-bit lane is at most 2 (2 QUANT_QI) QUANT_QU, which must
 * stay <= 32767 (_mm256_maddubs_epi16 saturates there). */
#define QUANT_QI 90
#define QUANT_QU 91

/* An item matrix packed for quant_score. Owned by its creator. */
struct quant_items {
    size_t n, f;  /* items, factors */
    uint8_t *q;   /* q + QUANT_QI per factor (layout above), 32-byte aligned */
    float *scale; /* [quant_padded(n)]: s_i, 0 for an all-zero item */
    float *enorm; /* [quant_padded(n)]: |e_i|_2 + r |v_i|_2, rounded up */
    float *qnorm; /* [quant_padded(n)]: |s_i q_i|_2, rounded up */
    int fast;     /* quant_fast() at pack time: CPUID is slow in a VM */
};

/* 1 if this CPU runs the AVX2 kernels (AVX2 and FMA); else quant_score uses portable C
 * (correct, but slower than cblas_sgemv, so callers prefer f32 there). */
int quant_fast(void);

/* Items rounded up to the block size: how many values quant_score writes. */
size_t quant_padded(size_t n);

/* Pack V (n x f, row-major, finite) into *out. Returns 0; ENC_EINVAL when
 * V cannot be packed (f is 0 or over 1024, or a value is not finite: the
 * caller stays on f32); ENC_ENOMEM when out of memory. On failure out is
 * empty. Free with quant_free. */
int quant_pack(const float *V, size_t n, size_t f, struct quant_items *out);
void quant_free(struct quant_items *qi); /* empty or zeroed: no-op */

/* Items per chunk of the chunk maxima below: two blocks. */
#define QUANT_CHUNK 16

/* Chunks of QUANT_CHUNK items covering n items: ceil(n / 16). */
size_t quant_chunks(size_t n);

/* For every item i (n padded): lower[i] <= u.v_i <= lower[i] + width[i],
 * for the exact product and for its f32 value. Also, per chunk c <
 * quant_chunks(n), umax[c] = the largest lower[i] + width[i] (the f32 sum,
 * as quant_select computes it) over its items i < n (padding left out).
 * Setting some lower[i] to -inf afterwards (exclusions) only removes items,
 * so umax stays a valid bound for quant_select. Returns 0, or -1 if u is
 * not finite or too small for a step (1 / step overflows: subnormal
 * factors), nothing written; the caller then scores in f32. Thread-safe. */
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
size_t quant_select(const float *lower, float *width, size_t n, const float *umax, float floor_s,
                    int fast);

/* x.y in f32 (the re-score of a screened item): AVX2+FMA when fast (a
 * quant_items' `fast`), else plain C. Cheaper than a BLAS call for one row. */
float quant_dot(const float *x, const float *y, size_t n, int fast);
/* out (n x f) = each row of V over its L2 norm, summed in double; an
 * all-zero row stays zero. The unit rows cosine similarity is scored on,
 * by the server (similar) and the trainer (its graph) alike. */
void quant_unit_rows(const float *V, size_t n, size_t f, float *out);

/* Row codes for a graph walk (index.c): x (f floats) as signed bytes
 * round(x_j / s) in [-127, 127] (to nearest; ties away from zero in C, to
 * even with AVX2 when fast), s = max_j |x_j| / 127 returned (0 for an
 * all-zero or non-finite row, whose codes are all 0), into out[cols]
 * (cols >= f; the padding is 0). */
float quant_code_row(const float *x, size_t f, int8_t *out, size_t cols, int fast);
/* a.b over n bytes of such codes, exact in int32 (n <= 1024). When fast, n
 * is a multiple of 32 and both are 32-byte aligned (AVX2). */
int32_t quant_dot_s8(const int8_t *a, const int8_t *b, size_t n, int fast);
/* out[i] = (codes row rows[i]) . p * scale[rows[i]] * t for i < n: one
 * expansion's neighbours at once (their loads overlap). Rows as above. */
void quant_dot_s8_rows(const int8_t *codes, size_t cols, const float *scale, const int32_t *rows,
                       size_t n, const int8_t *p, float t, float *out, int fast);
#endif
