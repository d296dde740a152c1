/*
 * half.h - item scoring over half-precision (IEEE binary16) factors.
 *
 * Why: scoring a user against every item streams the whole item-factor
 * matrix per request (1,682 x 64 floats = 430 KB for MovieLens 100K, most of
 * a 512 KB L2). Stored as binary16 in blocks of 8 items it is half the bytes
 * and one FMA scores 8 items, about 2.5x faster than cblas_sgemv on the f32
 * matrix (bench/results/recommend-http.md). Debian's OpenBLAS has no
 * half-precision gemv (its sbgemv is bfloat16 and not built), so this small
 * kernel is hand-written; it needs x86-64 with AVX2, FMA and F16C, checked
 * at run time by half_supported(). Relative score error is about 1e-3 of a
 * factor's magnitude; rankings change only between near-ties.
 *
 * Layout: blocks of 8 items, each block F rows of 8 halves (item-minor), the
 * last block zero-padded; half_elems(n, f) halves in all.
 */
#ifndef ENCORE_MF_HALF_H
#define ENCORE_MF_HALF_H

#include <stddef.h>
#include <stdint.h>

/* 1 if this CPU runs the kernel (AVX2 + FMA + F16C), else 0. */
int half_supported(void);

/* Halves needed for n items of f factors (n rounded up to a multiple of 8). */
size_t half_elems(size_t n, size_t f);

/* Items rounded up to the block size: how many scores half_score writes. */
size_t half_padded(size_t n);

/* Pack V (n x f, row-major f32) into out[half_elems(n, f)]. Returns 0, or -1
 * (out untouched beyond what was written) if a value is not finite or is too
 * large for binary16 (|v| > 65504): the caller keeps the f32 path.
 * Requires half_supported(). */
int half_pack(const float *V, size_t n, size_t f, uint16_t *out);

/* scores[0..half_padded(n)) = V u for a packed V (padding items score 0).
 * Thread-safe; requires half_supported(). */
void half_score(const uint16_t *Vh, size_t n, size_t f, const float *u, float *scores);

/* ---- plain binary16 rows (the f16 user table, any CPU) -----------------
 *
 * A model may store user_factors as F16 [U, F], row-major (encore-train
 * --user-precision f16): half the bytes of the largest table of a model
 * with many users. These portable conversions (no F16C needed; IEEE
 * round-to-nearest-even, bit-identical to _cvtss_sh) write it at training
 * time and decode one user's row per request. */

/* out[i] = in[i] rounded to binary16. Returns 0, or -1 if a value is not
 * finite or |v| > 65504 (binary16 cannot hold it; out is then partial). */
int half_from_floats(const float *in, size_t n, uint16_t *out);

/* out[i] = in[i] widened to float (exact). */
void half_to_floats(const uint16_t *in, size_t n, float *out);

/* 1 if every in[i] is finite (no infinity or NaN), else 0. */
int half_all_finite(const uint16_t *in, size_t n);

#endif
